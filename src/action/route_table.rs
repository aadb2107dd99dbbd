//! Route faults: remove a route (default `0.0.0.0/0`) from the route tables of the
//! selected subnets, or redirect it to another target. Each route table once, however
//! many selected subnets use it.

use std::collections::BTreeSet;
use std::fmt;

use aws_sdk_ec2::types::RouteTable;
use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws, ec2};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// One route, as the snapshot records it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Route {
    /// An IPv4 or IPv6 CIDR, or a prefix list id.
    pub destination: String,
    /// What the route sends traffic to: `igw-…`, `nat-…`, `eni-…`, `pcx-…`, `tgw-…`,
    /// `i-…`, `vgw-…`, `eigw-…`, `local`, …
    pub target: String,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.destination, self.target)
    }
}

fn routes(rt: &RouteTable) -> Vec<Route> {
    let mut out: Vec<Route> = rt
        .routes()
        .iter()
        .filter_map(|r| {
            let destination = r
                .destination_cidr_block()
                .or(r.destination_ipv6_cidr_block())
                .or(r.destination_prefix_list_id())?
                .to_owned();
            let target = r
                .gateway_id()
                .or(r.nat_gateway_id())
                .or(r.network_interface_id())
                .or(r.vpc_peering_connection_id())
                .or(r.transit_gateway_id())
                .or(r.egress_only_internet_gateway_id())
                .or(r.carrier_gateway_id())
                .or(r.local_gateway_id())
                .or(r.instance_id())
                .or(r.core_network_arn())
                .unwrap_or("blackhole")
                .to_owned();
            Some(Route { destination, target })
        })
        .collect();
    out.sort();
    out
}

/// Set a route's destination and target on a CreateRoute or ReplaceRoute builder (two
/// types with the same setters).
macro_rules! route_call {
    ($builder:expr, $table:expr, $route:expr) => {{
        let r: &Route = $route;
        let mut b = $builder.route_table_id($table);
        b = if r.destination.starts_with("pl-") {
            b.destination_prefix_list_id(&r.destination)
        } else if r.destination.contains(':') {
            b.destination_ipv6_cidr_block(&r.destination)
        } else {
            b.destination_cidr_block(&r.destination)
        };
        let t = r.target.as_str();
        match t.split('-').next().unwrap_or_default() {
            "nat" => b.nat_gateway_id(t),
            "eni" => b.network_interface_id(t),
            "pcx" => b.vpc_peering_connection_id(t),
            "tgw" => b.transit_gateway_id(t),
            "eigw" => b.egress_only_internet_gateway_id(t),
            "cagw" => b.carrier_gateway_id(t),
            "lgw" => b.local_gateway_id(t),
            "i" => b.instance_id(t),
            _ => b.gateway_id(t),
        }
    }};
}

/// `route-table.blackhole`: the route to remove or redirect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Blackhole {
    pub destination: String,
    /// Send the traffic here instead of removing the route (a gateway, NAT, ENI, ... id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
}

impl Default for Blackhole {
    fn default() -> Self {
        Blackhole { destination: "0.0.0.0/0".into(), redirect_to: None }
    }
}

impl Params for Blackhole {
    fn check(&self) -> Result<(), String> {
        if !self.destination.starts_with("pl-") {
            super::checks::cidr("destination", &self.destination)?;
        }
        Ok(())
    }
}

/// A route table's routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTableState {
    pub route_table_id: String,
    pub routes: Vec<Route>,
}

/// The route a blackhole removes or redirects, as it was: what revert restores.
#[derive(Debug, Serialize, Deserialize)]
pub struct RouteChange {
    pub route_table_id: String,
    pub route: Route,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
}

fn find<'a>(state: &'a RouteTableState, destination: &str) -> Option<&'a Route> {
    state.routes.iter().find(|r| r.destination == destination)
}

/// Delete `route` from table `rt`.
async fn delete_route(aws: &Aws, rt: &str, route: &Route) -> Result<()> {
    let b = aws.ec2.delete_route().route_table_id(rt);
    let d = &route.destination;
    let b = if d.starts_with("pl-") {
        b.destination_prefix_list_id(d)
    } else if d.contains(':') {
        b.destination_ipv6_cidr_block(d)
    } else {
        b.destination_cidr_block(d)
    };
    aws::call(b.send(), format!("delete route {route} from {rt} (ec2:DeleteRoute)")).await
}

/// A route table's routes: what `blackhole` changes and is judged by.
pub struct Routes;

impl Resource for Routes {
    type State = RouteTableState;

    async fn describe(aws: &Aws, target: &Target) -> Result<RouteTableState> {
        let rt = ec2::describe_route_table(&aws.ec2, &target.id)
            .await?
            .ok_or_else(|| Error::Gone(format!("route table {} no longer exists", target.id)))?;
        Ok(RouteTableState { route_table_id: target.id.clone(), routes: routes(&rt) })
    }

    fn differences(before: &RouteTableState, now: &RouteTableState) -> Vec<String> {
        let (b, n): (BTreeSet<&Route>, BTreeSet<&Route>) =
            (before.routes.iter().collect(), now.routes.iter().collect());
        let id = &before.route_table_id;
        let mut out: Vec<String> = b.difference(&n).map(|r| format!("{id}: route missing: {r}")).collect();
        out.extend(n.difference(&b).map(|r| format!("{id}: route not in snapshot: {r}")));
        out
    }

    /// Point every destination where the snapshot did, create the routes it had that
    /// are missing, delete those it did not have (never the VPC's local route).
    async fn reset(aws: &Aws, _target: &Target, before: &RouteTableState, now: &RouteTableState) -> Result<()> {
        let rt = &before.route_table_id;
        for r in now.routes.iter().filter(|r| r.target != "local" && !before.routes.contains(r)) {
            if find(before, &r.destination).is_none() {
                delete_route(aws, rt, r).await?;
            }
        }
        for r in before.routes.iter().filter(|r| r.target != "local" && !now.routes.contains(r)) {
            if find(now, &r.destination).is_some() {
                let call = route_call!(aws.ec2.replace_route(), rt, r).send();
                aws::call(call, format!("restore route {r} in {rt} (ec2:ReplaceRoute)")).await?;
            } else {
                let call = route_call!(aws.ec2.create_route(), rt, r).send();
                aws::call(call, format!("restore route {r} in {rt} (ec2:CreateRoute)")).await?;
            }
        }
        Ok(())
    }
}

impl Fault for Blackhole {
    type On = Routes;
    type Change = RouteChange;

    fn plan(&self, target: &Target, state: &RouteTableState) -> Result<RouteChange, String> {
        let route = find(state, &self.destination)
            .ok_or_else(|| format!("{}: no route to {}: nothing to break", target.label(), self.destination))?;
        if route.target == "local" {
            return Err(format!(
                "{}: the route to {} is the VPC's local route, which cannot be changed",
                target.label(),
                self.destination
            ));
        }
        if self.redirect_to.as_deref() == Some(route.target.as_str()) {
            return Err(format!(
                "{}: the route to {} already goes to {}",
                target.label(),
                self.destination,
                route.target
            ));
        }
        Ok(RouteChange {
            route_table_id: state.route_table_id.clone(),
            route: route.clone(),
            redirect_to: self.redirect_to.clone(),
        })
    }

    fn summarize(&self, change: &RouteChange) -> Vec<String> {
        vec![match &change.redirect_to {
            Some(to) => format!("redirect route {} to {to}", change.route),
            None => format!("remove route {}", change.route),
        }]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RouteTableState>> {
        let (change, now) = (item.change, Routes::describe(aws, item.target).await?);
        let rt = &change.route_table_id;
        match (&change.redirect_to, find(&now, &change.route.destination)) {
            (None, None) => {}
            (None, Some(_)) => delete_route(aws, rt, &change.route).await?,
            (Some(to), _) => {
                let redirected = Route { destination: change.route.destination.clone(), target: to.clone() };
                let call = route_call!(aws.ec2.replace_route(), rt, &redirected).send();
                aws::call(call, format!("redirect {} in {rt} (ec2:ReplaceRoute)", change.route)).await?;
            }
        }
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &RouteChange, now: &RouteTableState) -> Result<(), String> {
        match (find(now, &change.route.destination), &change.redirect_to) {
            (None, None) => Ok(()),
            (Some(r), Some(to)) if &r.target == to => Ok(()),
            (Some(r), _) => Err(format!("route is {r} after the change")),
            (None, _) => Err(format!("no route to {} after the change", change.route.destination)),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<RouteTableState>> {
        let change = item.change;
        let rt = &change.route_table_id;
        match find(item.now, &change.route.destination) {
            Some(r) if r == &change.route => {}
            Some(_) => {
                let call = route_call!(aws.ec2.replace_route(), rt, &change.route).send();
                aws::call(call, format!("restore route {} in {rt} (ec2:ReplaceRoute)", change.route)).await?;
            }
            None => {
                let call = route_call!(aws.ec2.create_route(), rt, &change.route).send();
                aws::call(call, format!("restore route {} in {rt} (ec2:CreateRoute)", change.route)).await?;
            }
        }
        Ok(None)
    }
}

/// The catalogue's entry for `route-table.blackhole`.
pub const BLACKHOLE: ActionInfo = ActionInfo {
    name: "route-table.blackhole",
    target: TargetKind::RouteTable,
    summary: "Remove a route (default 0.0.0.0/0) from the route tables of the selected subnets, or redirect it elsewhere.",
    revert: "Re-creates the route with its original target (internet or VPN gateway, NAT gateway, instance, ENI, peering, transit gateway, ...).",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "destination",
            ty: "CIDR or prefix list id",
            default: "0.0.0.0/0",
            doc: "The route to break.",
        },
        ParamInfo {
            name: "redirect_to",
            ty: "gateway/NAT/ENI/... id",
            default: "(remove the route)",
            doc: "Send the traffic here instead.",
        },
    ],
    permissions: &["ec2:DeleteRoute", "ec2:CreateRoute", "ec2:ReplaceRoute"],
};

/// The pure parts, on hand-written states.
#[cfg(test)]
mod tests {
    use super::*;

    fn route(destination: &str, target: &str) -> Route {
        Route { destination: destination.into(), target: target.into() }
    }

    fn table(routes: &[Route]) -> RouteTableState {
        RouteTableState { route_table_id: "rtb-1".into(), routes: routes.to_vec() }
    }

    fn target() -> Target {
        Target { id: "rtb-1".into(), name: None, tags: Default::default(), vpc: None }
    }

    #[test]
    fn blackhole_plans_the_named_route_only_and_never_the_local_one() {
        let before = table(&[route("0.0.0.0/0", "igw-1"), route("10.0.0.0/16", "local")]);
        let remove = Blackhole::default();
        let c = remove.plan(&target(), &before).unwrap();
        assert_eq!((c.route.clone(), c.redirect_to.clone()), (route("0.0.0.0/0", "igw-1"), None));
        let local = Blackhole { destination: "10.0.0.0/16".into(), redirect_to: None };
        assert!(local.plan(&target(), &before).unwrap_err().contains("local route"));
        let none = Blackhole { destination: "192.168.0.0/16".into(), redirect_to: None };
        assert!(none.plan(&target(), &before).unwrap_err().contains("nothing to break"));
        let same = Blackhole { destination: "0.0.0.0/0".into(), redirect_to: Some("igw-1".into()) };
        assert!(same.plan(&target(), &before).unwrap_err().contains("already goes to igw-1"));
    }

    #[test]
    fn blackhole_sees_a_removal_or_a_redirect_and_names_every_route_that_differs() {
        let run = RunCtx::for_tests();
        let before = table(&[route("0.0.0.0/0", "igw-1"), route("10.0.0.0/16", "local")]);
        let removed = table(&[route("10.0.0.0/16", "local")]);
        let remove = Blackhole::default();
        let c = remove.plan(&target(), &before).unwrap();
        assert_eq!(remove.observe(&run, &c, &removed), Ok(()));
        assert!(remove.observe(&run, &c, &before).is_err(), "a stale read: not in effect yet");
        let redirect = Blackhole { destination: "0.0.0.0/0".into(), redirect_to: Some("nat-1".into()) };
        let r = redirect.plan(&target(), &before).unwrap();
        let redirected = table(&[route("0.0.0.0/0", "nat-1"), route("10.0.0.0/16", "local")]);
        assert_eq!(redirect.observe(&run, &r, &redirected), Ok(()));
        assert!(redirect.observe(&run, &r, &removed).is_err());
        assert!(Routes::differences(&before, &before).is_empty());
        assert_eq!(
            Routes::differences(&before, &redirected),
            ["rtb-1: route missing: 0.0.0.0/0 -> igw-1", "rtb-1: route not in snapshot: 0.0.0.0/0 -> nat-1"]
        );
        assert!(Blackhole { destination: "nope".into(), redirect_to: None }.check().is_err());
        assert!(Blackhole { destination: "pl-123".into(), redirect_to: None }.check().is_ok());
    }
}
