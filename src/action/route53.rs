//! DNS faults (Route 53): point a record at a wrong value, delete it, break a health check.
//!
//! Restores use UPSERT (or CREATE for a deleted record), one change batch per record set,
//! which Route 53 applies atomically. Record sets with routing firedrill cannot rebuild
//! exactly (geolocation, geoproximity, CIDR, traffic policies) are refused by `plan`.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, ResourceRecordSetRegion, RrType,
};
use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, Human, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::retry::{poll, retry};
use crate::aws::route53::{find_record, parse_record_id};
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind, TargetSpec};
use crate::{Error, Result};

/// An alias record's target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub dns_name: String,
    pub hosted_zone_id: String,
    pub evaluate_target_health: bool,
}

/// A record set, as the snapshot records it and as it is written back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_answer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Alias>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
    /// Routing firedrill cannot write back exactly, if the record uses any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
}

impl RecordSet {
    fn from_sdk(r: &ResourceRecordSet) -> Self {
        let unsupported = if r.geo_location().is_some() {
            Some("geolocation routing")
        } else if r.geo_proximity_location().is_some() {
            Some("geoproximity routing")
        } else if r.cidr_routing_config().is_some() {
            Some("CIDR routing")
        } else if r.traffic_policy_instance_id().is_some() {
            Some("a traffic policy")
        } else {
            None
        };
        RecordSet {
            name: r.name().to_owned(),
            record_type: r.r#type().as_str().to_owned(),
            ttl: r.ttl(),
            values: r.resource_records().iter().map(|v| v.value().to_owned()).collect(),
            set_identifier: r.set_identifier().map(str::to_owned),
            weight: r.weight(),
            failover: r.failover().map(|f| f.as_str().to_owned()),
            region: r.region().map(|x| x.as_str().to_owned()),
            multi_value_answer: r.multi_value_answer(),
            alias: r.alias_target().map(|a| Alias {
                dns_name: a.dns_name().to_owned(),
                hosted_zone_id: a.hosted_zone_id().to_owned(),
                evaluate_target_health: a.evaluate_target_health(),
            }),
            health_check_id: r.health_check_id().map(str::to_owned),
            unsupported: unsupported.map(str::to_owned),
        }
    }

    fn to_sdk(&self) -> ResourceRecordSet {
        let alias = self.alias.as_ref().map(|a| {
            AliasTarget::builder()
                .dns_name(&a.dns_name)
                .hosted_zone_id(&a.hosted_zone_id)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .expect("alias fields are set")
        });
        let values = (!self.values.is_empty()).then(|| {
            self.values.iter().map(|v| ResourceRecord::builder().value(v).build().expect("value is set")).collect()
        });
        ResourceRecordSet::builder()
            .name(&self.name)
            .r#type(RrType::from(self.record_type.as_str()))
            // Alias records have no TTL (the emulator reports 0 for them).
            .set_ttl(if self.alias.is_some() { None } else { self.ttl })
            .set_resource_records(values)
            .set_set_identifier(self.set_identifier.clone())
            .set_weight(self.weight)
            .set_failover(self.failover.as_deref().map(ResourceRecordSetFailover::from))
            .set_region(self.region.as_deref().map(ResourceRecordSetRegion::from))
            .set_multi_value_answer(self.multi_value_answer)
            .set_alias_target(alias)
            .set_health_check_id(self.health_check_id.clone())
            .build()
            .expect("name and type are set")
    }

    fn label(&self) -> String {
        match &self.set_identifier {
            Some(s) => format!("{} {} ({s})", self.name, self.record_type),
            None => format!("{} {}", self.name, self.record_type),
        }
    }

    /// What resolvers are told: the values or alias, and the TTL.
    fn answer(&self) -> String {
        match &self.alias {
            Some(a) => format!("alias {}", a.dns_name),
            None => format!("{} ttl {}", self.values.join(" "), self.ttl.human()),
        }
    }

    /// How the record is chosen among others of its name: weight, failover, region,
    /// multivalue.
    fn routing(&self) -> String {
        let mut r = Vec::new();
        if let Some(w) = self.weight {
            r.push(format!("weight {w}"));
        }
        if let Some(f) = &self.failover {
            r.push(format!("failover {f}"));
        }
        if let Some(x) = &self.region {
            r.push(format!("region {x}"));
        }
        if self.multi_value_answer == Some(true) {
            r.push("multivalue".into());
        }
        if r.is_empty() { "simple".into() } else { r.join(", ") }
    }
}

/// `A api.example.com. 10.42.1.10 ttl 60`, with its routing and health check when set.
impl std::fmt::Display for RecordSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.record_type, self.name, self.answer())?;
        if let Some(s) = &self.set_identifier {
            write!(f, " ({s}, {})", self.routing())?;
        }
        if let Some(h) = &self.health_check_id {
            write!(f, ", health check {h}")?;
        }
        Ok(())
    }
}

/// A record set, or its absence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    pub id: String,
    pub record: Option<RecordSet>,
}

async fn describe_record(aws: &Aws, id: &str) -> Result<RecordState> {
    Ok(RecordState {
        id: id.to_owned(),
        record: find_record(&aws.route53, id).await?.as_ref().map(RecordSet::from_sdk),
    })
}

async fn change(aws: &Aws, id: &str, action: ChangeAction, set: &RecordSet) -> Result<()> {
    let (zone, ..) = parse_record_id(id);
    let verb = action.as_str().to_owned();
    let batch = ChangeBatch::builder()
        .comment("firedrill")
        .changes(
            Change::builder().action(action).resource_record_set(set.to_sdk()).build().expect("change fields are set"),
        )
        .build()
        .expect("changes are set");
    let answer = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(Error::aws(format!("{verb} record {} (route53:ChangeResourceRecordSets)", set.label())))?;
    match answer.change_info() {
        Some(info) => in_sync(aws, info.id(), info.status(), &set.label()).await,
        None => Ok(()),
    }
}

/// Wait until Route 53 says the change is `INSYNC`: until then resolvers may still
/// answer with the records before it, so a break does not count (and a drill's clock
/// does not start) and a restore is not done. Normally under a minute; at most
/// [`TargetKind::Record`]'s consistency window.
async fn in_sync(aws: &Aws, change: &str, status: &ChangeStatus, label: &str) -> Result<()> {
    if *status == ChangeStatus::Insync {
        return Ok(());
    }
    let doing = format!("wait for the change to {label} to be in sync (route53:GetChange)");
    let look = || async {
        let answer =
            retry(|| async { aws.route53.get_change().id(change).send().await.map_err(Error::aws(doing.clone())) })
                .await?;
        Ok(answer.change_info().filter(|i| *i.status() == ChangeStatus::Insync).map(drop))
    };
    match poll(TargetKind::Record.consistency(), look).await? {
        Some(()) => Ok(()),
        None => Err(Error::Failed(format!(
            "{label}: Route 53 has not applied change {change} everywhere yet (still PENDING)"
        ))),
    }
}

fn existing<'a>(target: &Target, state: &'a RecordState) -> Result<&'a RecordSet, String> {
    let r = state.record.as_ref().ok_or_else(|| format!("{}: no such record: nothing to break", target.label()))?;
    if let Some(u) = &r.unsupported {
        return Err(format!("{}: uses {u}, which firedrill cannot restore exactly; refusing", target.label()));
    }
    Ok(r)
}

/// A record set, or its absence: what the record actions change and are judged by.
pub struct Records;

impl Resource for Records {
    type State = RecordState;

    async fn describe(aws: &Aws, target: &Target) -> Result<RecordState> {
        describe_record(aws, &target.id).await
    }

    fn differences(before: &RecordState, now: &RecordState) -> Vec<String> {
        match (&before.record, &now.record) {
            (b, n) if b == n => Vec::new(),
            (Some(b), None) => vec![format!("{}: record missing", b.label())],
            (None, Some(n)) => vec![format!("{}: record not in snapshot", n.label())],
            (Some(b), Some(n)) => {
                // Field by field, as resolvers and Route 53 see them: a record that
                // answers the same but lost its health check is not restored.
                let mut out = Vec::new();
                let label = b.label();
                if b.answer() != n.answer() {
                    out.push(format!("{label}: answers {}, snapshot had {}", n.answer(), b.answer()));
                }
                if b.routing() != n.routing() {
                    out.push(format!("{label}: routing is {}, snapshot had {}", n.routing(), b.routing()));
                }
                if b.health_check_id != n.health_check_id {
                    let hc = |h: &Option<String>| {
                        h.as_deref().map_or("no health check".into(), |h| format!("health check {h}"))
                    };
                    out.push(format!("{label}: {}, snapshot had {}", hc(&n.health_check_id), hc(&b.health_check_id)));
                }
                if out.is_empty() {
                    out.push(format!("{label}: is {n}, snapshot had {b}"));
                }
                out
            }
            (None, None) => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// route53.change-record

/// `route53.change-record`: the wrong value (and TTL).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRecord {
    /// The wrong value: an unused IP address, a wrong host name.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl Params for ChangeRecord {
    fn check(&self) -> Result<(), String> {
        if self.value.trim().is_empty() {
            return Err("`value` is required: the wrong value to point the record at".into());
        }
        if let Some(ttl) = self.ttl {
            super::checks::ttl("ttl", ttl)?;
        }
        Ok(())
    }

    fn check_target(&self, target: &TargetSpec) -> Result<(), String> {
        super::checks::record_value("value", target.record_type.as_deref(), &self.value)
    }
}

/// The record set planned (change-record) or deleted (delete-record).
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordChange {
    pub id: String,
    pub record: RecordSet,
}

impl Fault for ChangeRecord {
    type On = Records;
    type Change = RecordChange;

    fn plan(&self, target: &Target, state: &RecordState) -> Result<RecordChange, String> {
        let r = existing(target, state)?;
        let mut new = r.clone();
        new.alias = None;
        new.values = vec![self.value.clone()];
        new.ttl = self.ttl.or(r.ttl.filter(|t| *t > 0)).or(Some(60));
        if new.values == r.values && r.alias.is_none() {
            return Err(format!("{}: already points at {}: nothing to break", target.label(), self.value));
        }
        Ok(RecordChange { id: state.id.clone(), record: new })
    }

    fn summarize(&self, change: &RecordChange) -> Vec<String> {
        vec![format!("point {} at {} (ttl {})", change.record.label(), self.value, change.record.ttl.human())]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RecordState>> {
        change(aws, &item.change.id, ChangeAction::Upsert, &item.change.record).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &RecordChange, now: &RecordState) -> Result<(), String> {
        match &now.record {
            Some(r) if r.values == change.record.values && r.alias.is_none() => Ok(()),
            Some(r) => Err(format!("record is {r} after the change")),
            None => Err("record is gone after the change".into()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<RecordState>> {
        if let Some(b) = &item.before.record
            && item.now.record.as_ref() != Some(b)
        {
            change(aws, &item.change.id, ChangeAction::Upsert, b).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `route53.change-record`.
pub const CHANGE_RECORD: ActionInfo = ActionInfo {
    name: "route53.change-record",
    target: TargetKind::Record,
    summary: "Point record sets at a wrong value (an unused IP, a wrong host name); an alias record becomes a plain one. Select records by `zone`, `names`, `type`, `set_identifier`.",
    revert: "Restores the exact record set: values, TTL, weight, failover, set identifier, alias target, health check.",
    one_shot: false,
    params: &[
        ParamInfo { name: "value", ty: "string", default: "(required)", doc: "The wrong value." },
        ParamInfo {
            name: "ttl",
            ty: "integer",
            default: "the record's TTL, or 60",
            doc: "TTL of the wrong record: short keeps the drill's DNS caching short.",
        },
    ],
    permissions: &["route53:ChangeResourceRecordSets", "route53:GetChange"],
};

// ---------------------------------------------------------------------------------------
// route53.delete-record

/// `route53.delete-record`: no params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRecord {}

impl Params for DeleteRecord {}

impl Fault for DeleteRecord {
    type On = Records;
    type Change = RecordChange;

    fn plan(&self, target: &Target, state: &RecordState) -> Result<RecordChange, String> {
        let r = existing(target, state)?;
        Ok(RecordChange { id: state.id.clone(), record: r.clone() })
    }

    fn summarize(&self, change: &RecordChange) -> Vec<String> {
        vec![format!("delete {}", change.record.label())]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<RecordState>> {
        let planned = &item.change.record;
        // Delete the set only as it was planned: a set changed since is left alone.
        match describe_record(aws, &item.target.id).await?.record {
            Some(now) if now == *planned => change(aws, &item.change.id, ChangeAction::Delete, planned).await?,
            Some(_) => {
                return Err(Error::Failed(format!(
                    "{} changed since it was planned; not deleting it",
                    planned.label()
                )));
            }
            None => {}
        }
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &RecordChange, now: &RecordState) -> Result<(), String> {
        if now.record.is_none() { Ok(()) } else { Err(format!("{} still exists", change.record.label())) }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<RecordState>> {
        let Some(b) = &item.before.record else { return Ok(None) };
        match &item.now.record {
            None => change(aws, &item.change.id, ChangeAction::Create, b).await?,
            Some(n) if n != b => change(aws, &item.change.id, ChangeAction::Upsert, b).await?,
            Some(_) => {}
        }
        Ok(None)
    }
}

/// The catalogue's entry for `route53.delete-record`.
pub const DELETE_RECORD: ActionInfo = ActionInfo {
    name: "route53.delete-record",
    target: TargetKind::Record,
    summary: "Delete record sets. Select them by `zone`, `names`, `type`, `set_identifier`.",
    revert: "Re-creates each record set exactly.",
    one_shot: false,
    params: &[],
    permissions: &["route53:ChangeResourceRecordSets", "route53:GetChange"],
};

// ---------------------------------------------------------------------------------------
// route53.break-health-check

/// `route53.break-health-check`: the path (or port) that makes it fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(rename = "Route53BreakHealthCheck")]
pub struct BreakHealthCheck {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl Default for BreakHealthCheck {
    fn default() -> Self {
        BreakHealthCheck { path: "/firedrill-broken".into(), port: None }
    }
}

impl Params for BreakHealthCheck {
    fn check(&self) -> Result<(), String> {
        if !self.path.starts_with('/') {
            return Err(format!("`path` must start with `/`, not `{}`", self.path));
        }
        Ok(())
    }
}

/// A Route 53 health check's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckState {
    pub id: String,
    #[serde(rename = "type")]
    pub check_type: String,
    pub resource_path: Option<String>,
    pub port: Option<i32>,
    pub fqdn: Option<String>,
    pub ip_address: Option<String>,
    pub search_string: Option<String>,
    pub failure_threshold: Option<i32>,
    pub inverted: Option<bool>,
    pub disabled: Option<bool>,
}

/// `HTTP www.example.com:80/health, 3 failures`, with what else it is set to.
impl Human for HealthCheckState {
    fn human(&self) -> String {
        let target = self.fqdn.as_deref().or(self.ip_address.as_deref()).unwrap_or("?");
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let path = self.resource_path.as_deref().unwrap_or("");
        let mut s = format!("{} {target}{port}{path}", self.check_type);
        if let Some(f) = self.failure_threshold {
            s += &format!(", {f} failures");
        }
        if let Some(x) = &self.search_string {
            s += &format!(", expecting \"{x}\"");
        }
        if self.inverted == Some(true) {
            s += ", inverted";
        }
        if self.disabled == Some(true) {
            s += ", disabled";
        }
        s
    }
}

async fn describe_health_check(aws: &Aws, id: &str) -> Result<HealthCheckState> {
    let out = aws
        .route53
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .map_err(Error::aws(format!("read health check {id} (route53:GetHealthCheck)")))?;
    let c = out
        .health_check()
        .and_then(|h| h.health_check_config())
        .ok_or_else(|| Error::Failed(format!("health check {id} has no configuration")))?;
    Ok(HealthCheckState {
        id: id.to_owned(),
        check_type: c.r#type().as_str().to_owned(),
        resource_path: c.resource_path().map(str::to_owned),
        port: c.port(),
        fqdn: c.fully_qualified_domain_name().map(str::to_owned),
        ip_address: c.ip_address().map(str::to_owned),
        search_string: c.search_string().map(str::to_owned),
        failure_threshold: c.failure_threshold(),
        inverted: c.inverted(),
        disabled: c.disabled(),
    })
}

async fn update_health_check(aws: &Aws, hc: &HealthCheckState) -> Result<()> {
    let call = aws
        .route53
        .update_health_check()
        .health_check_id(&hc.id)
        .set_resource_path(hc.resource_path.clone())
        .set_port(hc.port)
        .set_fully_qualified_domain_name(hc.fqdn.clone())
        .set_search_string(hc.search_string.clone())
        .set_failure_threshold(hc.failure_threshold)
        .set_inverted(hc.inverted)
        .set_disabled(hc.disabled);
    aws::call(call.send(), format!("update health check {} (route53:UpdateHealthCheck)", hc.id)).await
}

/// The configuration planned for a health check.
#[derive(Debug, Serialize, Deserialize)]
pub struct HealthCheckChange {
    pub health_check: HealthCheckState,
}

/// A Route 53 health check's configuration: what breaking it changes and is judged by.
pub struct HealthChecks;

impl Resource for HealthChecks {
    type State = HealthCheckState;

    async fn describe(aws: &Aws, target: &Target) -> Result<HealthCheckState> {
        describe_health_check(aws, &target.id).await
    }

    fn differences(before: &HealthCheckState, now: &HealthCheckState) -> Vec<String> {
        super::compare(&before.id, "health check", before, now)
    }
}

impl Fault for BreakHealthCheck {
    type On = HealthChecks;
    type Change = HealthCheckChange;

    fn plan(&self, target: &Target, state: &HealthCheckState) -> Result<HealthCheckChange, String> {
        let mut hc = state.clone();
        if state.check_type.starts_with("HTTP") {
            hc.resource_path = Some(self.path.clone());
        } else if self.port.is_none() {
            return Err(format!(
                "{}: a {} health check has no path; give `port` to break it",
                target.label(),
                state.check_type
            ));
        }
        if let Some(p) = self.port {
            hc.port = Some(i32::from(p));
        }
        if &hc == state {
            return Err(format!("{}: already so: nothing to break", target.label()));
        }
        Ok(HealthCheckChange { health_check: hc })
    }

    fn summarize(&self, change: &HealthCheckChange) -> Vec<String> {
        let hc = &change.health_check;
        vec![format!("check path {}, port {}", hc.resource_path.human(), hc.port.human())]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<HealthCheckState>> {
        update_health_check(aws, &item.change.health_check).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &HealthCheckChange, now: &HealthCheckState) -> Result<(), String> {
        if now == &change.health_check {
            Ok(())
        } else {
            Err(format!("health check is {} after the change", now.human()))
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<HealthCheckState>> {
        if item.now != item.before {
            update_health_check(aws, item.before).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `route53.break-health-check`.
pub const BREAK_HEALTH_CHECK: ActionInfo = ActionInfo {
    name: "route53.break-health-check",
    target: TargetKind::HealthCheck,
    summary: "Change Route 53 health checks' path (and optionally port) so they fail, and DNS fails over or drops the record.",
    revert: "Restores the health check's configuration: path, port, domain name, search string, threshold, inversion.",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "path",
            ty: "string",
            default: "/firedrill-broken",
            doc: "Path to request (HTTP/HTTPS checks).",
        },
        ParamInfo { name: "port", ty: "integer", default: "unchanged", doc: "Port to check." },
    ],
    permissions: &["route53:UpdateHealthCheck"],
};

/// The pure parts, on hand-written states.
#[cfg(test)]
mod tests {
    use super::*;

    fn a_record(values: &[&str]) -> RecordSet {
        RecordSet {
            name: "api.example.com.".into(),
            record_type: "A".into(),
            ttl: Some(300),
            values: values.iter().map(|v| v.to_string()).collect(),
            set_identifier: None,
            weight: None,
            failover: None,
            region: None,
            multi_value_answer: None,
            alias: None,
            health_check_id: Some("hc-1".into()),
            unsupported: None,
        }
    }

    fn state(record: Option<RecordSet>) -> RecordState {
        RecordState { id: "Z1/api.example.com./A".into(), record }
    }

    #[test]
    fn change_record_points_it_elsewhere_keeping_the_rest() {
        let run = RunCtx::for_tests();
        let before = state(Some(a_record(&["10.0.0.1"])));
        let f = ChangeRecord { value: "10.42.99.99".into(), ttl: None };
        let c = f.plan(&Target::for_tests("api"), &before).unwrap();
        assert_eq!((c.record.values.clone(), c.record.ttl), (vec!["10.42.99.99".to_owned()], Some(300)));
        assert_eq!(c.record.health_check_id.as_deref(), Some("hc-1"), "only the value changes");
        assert_eq!(f.observe(&run, &c, &state(Some(c.record.clone()))), Ok(()));
        assert!(f.observe(&run, &c, &before).is_err());
        assert!(f.plan(&Target::for_tests("api"), &state(Some(a_record(&["10.42.99.99"])))).is_err(), "already so");
        assert!(f.plan(&Target::for_tests("api"), &state(None)).unwrap_err().contains("no such record"));
        let geo = RecordSet { unsupported: Some("geolocation".into()), ..a_record(&["10.0.0.1"]) };
        assert!(f.plan(&Target::for_tests("api"), &state(Some(geo))).unwrap_err().contains("cannot restore exactly"));
    }

    #[test]
    fn delete_record_is_seen_gone_and_records_differ_by_presence_and_content() {
        let run = RunCtx::for_tests();
        let before = state(Some(a_record(&["10.0.0.1"])));
        let c = DeleteRecord {}.plan(&Target::for_tests("api"), &before).unwrap();
        assert_eq!(DeleteRecord {}.observe(&run, &c, &state(None)), Ok(()));
        assert!(DeleteRecord {}.observe(&run, &c, &before).is_err());
        assert_eq!(Records::differences(&before, &state(None)), ["api.example.com. A: record missing"]);
        assert!(Records::differences(&before, &before.clone()).is_empty());
        let unlinked = state(Some(RecordSet { health_check_id: None, ..a_record(&["10.0.0.1"]) }));
        assert_eq!(Records::differences(&before, &unlinked).len(), 1, "a lost health-check link is a difference");
    }

    #[test]
    fn break_health_check_needs_a_path_or_a_port() {
        let run = RunCtx::for_tests();
        let http = HealthCheckState {
            id: "hc-1".into(),
            check_type: "HTTP".into(),
            resource_path: Some("/health".into()),
            port: Some(80),
            fqdn: Some("www.example.com".into()),
            ip_address: None,
            search_string: None,
            failure_threshold: Some(3),
            inverted: None,
            disabled: None,
        };
        let f = BreakHealthCheck::default();
        let c = f.plan(&Target::for_tests("hc-1"), &http).unwrap();
        assert_eq!(c.health_check.resource_path.as_deref(), Some("/firedrill-broken"));
        assert_eq!(f.observe(&run, &c, &c.health_check.clone()), Ok(()));
        assert!(f.observe(&run, &c, &http).is_err());
        let tcp = HealthCheckState { check_type: "TCP".into(), resource_path: None, ..http.clone() };
        assert!(f.plan(&Target::for_tests("hc-1"), &tcp).unwrap_err().contains("give `port`"));
        assert_eq!(
            BreakHealthCheck { port: Some(81), ..f }.plan(&Target::for_tests("hc-1"), &tcp).unwrap().health_check.port,
            Some(81)
        );
        assert_eq!(HealthChecks::differences(&http, &c.health_check).len(), 1);
    }
}
