//! Network ACL faults: move subnets to a deny-all clone of their ACL, or insert deny
//! entries into their ACL ahead of its allows.
//!
//! `deny-traffic` targets the ACLs of the selected subnets, each ACL once: subnets that
//! share an ACL share its entries, and changing it once is changing it for all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_sdk_ec2::types::{
    IcmpTypeCode, NetworkAcl, NetworkAclEntry, PortRange as AwsPortRange, ResourceType, RuleAction,
};
use serde::{Deserialize, Serialize};

use super::security_group::{PortRange, Protocol};
use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, Shared, ToInject, ToRevert, run_tags};
use crate::aws::retry::{retry, retry_fresh};
use crate::aws::{Aws, FAULT_TAG, RUN_TAG, ec2};
use crate::target::{Target, TargetKind};
use crate::{Error, Result, failpoint};

/// The rule number AWS gives the catch-all deny entry that every ACL has.
const DEFAULT_RULE: i32 = 32767;

/// One ACL entry, as the snapshot records it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclEntry {
    pub egress: bool,
    pub rule_number: i32,
    /// `-1` (all), `6` (tcp), `17` (udp), `1` (icmp), or another protocol number.
    pub protocol: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<(i32, i32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<(i32, i32)>,
}

impl AclEntry {
    fn from_sdk(e: &NetworkAclEntry) -> Self {
        AclEntry {
            egress: e.egress().unwrap_or(false),
            rule_number: e.rule_number().unwrap_or(0),
            protocol: e.protocol().unwrap_or("-1").to_owned(),
            action: e.rule_action().map(|a| a.as_str().to_owned()).unwrap_or_default(),
            cidr: e.cidr_block().map(str::to_owned),
            ipv6_cidr: e.ipv6_cidr_block().map(str::to_owned),
            ports: e.port_range().map(|p| (p.from().unwrap_or(0), p.to().unwrap_or(65535))),
            icmp: e.icmp_type_code().map(|i| (i.r#type().unwrap_or(-1), i.code().unwrap_or(-1))),
        }
    }

    fn deny_all(egress: bool, rule_number: i32) -> Self {
        AclEntry {
            egress,
            rule_number,
            protocol: "-1".into(),
            action: "deny".into(),
            cidr: Some("0.0.0.0/0".into()),
            ipv6_cidr: None,
            ports: None,
            icmp: None,
        }
    }

    async fn create(&self, aws: &Aws, acl: &str) -> Result<()> {
        let call = aws
            .ec2
            .create_network_acl_entry()
            .network_acl_id(acl)
            .egress(self.egress)
            .rule_number(self.rule_number)
            .protocol(&self.protocol)
            .rule_action(RuleAction::from(self.action.as_str()))
            .set_cidr_block(self.cidr.clone())
            .set_ipv6_cidr_block(self.ipv6_cidr.clone())
            .set_port_range(self.ports.map(|(f, t)| AwsPortRange::builder().from(f).to(t).build()))
            .set_icmp_type_code(self.icmp.map(|(t, c)| IcmpTypeCode::builder().r#type(t).code(c).build()));
        crate::aws::call(call.send(), format!("add entry {} to {acl} (ec2:CreateNetworkAclEntry)", self.rule_number))
            .await
    }

    async fn delete(&self, aws: &Aws, acl: &str) -> Result<()> {
        let call =
            aws.ec2.delete_network_acl_entry().network_acl_id(acl).egress(self.egress).rule_number(self.rule_number);
        crate::aws::call(
            call.send(),
            format!("delete entry {} from {acl} (ec2:DeleteNetworkAclEntry)", self.rule_number),
        )
        .await
    }
}

impl fmt::Display for AclEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.egress { "egress" } else { "ingress" };
        let proto = match self.protocol.as_str() {
            "-1" => "all",
            "6" => "tcp",
            "17" => "udp",
            "1" => "icmp",
            p => p,
        };
        let peer = self.cidr.as_deref().or(self.ipv6_cidr.as_deref()).unwrap_or("?");
        write!(f, "{dir} rule {} {} {proto}", self.rule_number, self.action)?;
        if let Some((a, b)) = self.ports {
            if a == b { write!(f, " port {a}")? } else { write!(f, " ports {a}-{b}")? }
        }
        write!(f, " {peer}")
    }
}

fn entries(acl: &NetworkAcl) -> Vec<AclEntry> {
    let mut v: Vec<AclEntry> = acl.entries().iter().map(AclEntry::from_sdk).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// network-acl.deny-all

/// `network-acl.deny-all`: no params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyAll {}

impl Params for DenyAll {}

/// The network ACL a subnet is associated with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetAcl {
    pub subnet_id: String,
    pub vpc_id: String,
    pub network_acl_id: String,
}

/// A move to the deny-all clone of the subnet's ACL.
#[derive(Debug, Serialize, Deserialize)]
pub struct DenyAllChange {
    pub subnet_id: String,
    pub vpc_id: String,
    pub from_acl: String,
}

const ACL_KIND: &str = "network-acl";

async fn subnet_acl(aws: &Aws, subnet: &str) -> Result<(SubnetAcl, String)> {
    let (acl, assoc) = ec2::subnet_acl(&aws.ec2, subnet)
        .await?
        .ok_or_else(|| Error::Failed(format!("subnet {subnet} has no network ACL association")))?;
    let state = SubnetAcl {
        subnet_id: subnet.to_owned(),
        vpc_id: acl.vpc_id().unwrap_or_default().to_owned(),
        network_acl_id: acl.network_acl_id().unwrap_or_default().to_owned(),
    };
    Ok((state, assoc))
}

/// Point `subnet` at `acl`, unless it is already. The association's id comes from a
/// describe, which lags changes on AWS: right after the subnet was moved (`sandbox up`, a
/// team's fix) it can name an association that is gone, and a clone made a moment ago
/// may not be known yet. Either "not found" reads the association again and tries once
/// more, within `retry_fresh`'s window.
async fn associate_subnet(aws: &Aws, subnet: &str, acl: &str) -> Result<()> {
    retry_fresh(|| async {
        let (now, assoc) = subnet_acl(aws, subnet).await?;
        if now.network_acl_id == acl {
            return Ok(());
        }
        associate(aws, &assoc, acl, subnet).await
    })
    .await
}

async fn associate(aws: &Aws, assoc: &str, acl: &str, subnet: &str) -> Result<()> {
    let call = aws.ec2.replace_network_acl_association().association_id(assoc).network_acl_id(acl);
    crate::aws::call(call.send(), format!("associate {subnet} with {acl} (ec2:ReplaceNetworkAclAssociation)")).await
}

/// The network ACL a subnet is associated with: what `deny-all` changes and is judged by.
pub struct Association;

impl Resource for Association {
    type State = SubnetAcl;

    async fn describe(aws: &Aws, target: &Target) -> Result<SubnetAcl> {
        Ok(subnet_acl(aws, &target.id).await?.0)
    }

    fn differences(before: &SubnetAcl, now: &SubnetAcl) -> Vec<String> {
        super::compare(&before.subnet_id, "network ACL", &before.network_acl_id, &now.network_acl_id)
    }
}

impl Fault for DenyAll {
    type On = Association;
    type Change = DenyAllChange;

    fn plan(&self, _target: &Target, state: &SubnetAcl) -> Result<DenyAllChange, String> {
        Ok(DenyAllChange {
            subnet_id: state.subnet_id.clone(),
            vpc_id: state.vpc_id.clone(),
            from_acl: state.network_acl_id.clone(),
        })
    }

    fn summarize(&self, change: &DenyAllChange) -> Vec<String> {
        vec![format!(
            "associate the subnet with a new deny-all clone of {} (deny everything at rule 1, both directions)",
            change.from_acl
        )]
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<SubnetAcl>> {
        let change = item.change;
        let clone = run
            .created_in(ACL_KIND, &change.from_acl)
            .ok_or_else(|| Error::Failed(format!("no deny-all ACL recorded for {}", change.from_acl)))?;
        associate_subnet(aws, &change.subnet_id, &clone).await?;
        Ok(None)
    }

    fn observe(&self, run: &RunCtx, change: &DenyAllChange, now: &SubnetAcl) -> Result<(), String> {
        let clone = run.created_in(ACL_KIND, &change.from_acl).unwrap_or_default();
        if now.network_acl_id == clone {
            Ok(())
        } else {
            Err(format!("{} is associated with {}, not {clone}", now.subnet_id, now.network_acl_id))
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<SubnetAcl>> {
        let before = item.before;
        if item.now.network_acl_id == before.network_acl_id {
            return Ok(None);
        }
        associate_subnet(aws, &before.subnet_id, &before.network_acl_id).await?;
        Ok(None)
    }
}

/// One deny-all clone per source ACL of the planned subnets.
impl Shared<DenyAll> for DenyAll {
    async fn setup(&self, aws: &Aws, run: &RunCtx, planned: &[ToInject<'_, Self>]) -> Result<()> {
        let sources: BTreeMap<&str, &str> =
            planned.iter().map(|i| (i.change.from_acl.as_str(), i.change.vpc_id.as_str())).collect();
        for (source, vpc) in sources {
            if run.created_in(ACL_KIND, source).is_some() {
                continue;
            }
            let name = format!("firedrill-deny-all-{}-{}", run.run_id, run.fault);
            let out = aws
                .ec2
                .create_network_acl()
                .vpc_id(vpc)
                .tag_specifications(run_tags(
                    run,
                    ResourceType::NetworkAcl,
                    crate::aws::kind::ACL_CLONE,
                    &[("Name", name)],
                ))
                .send()
                .await
                .map_err(Error::aws(format!("create a deny-all network ACL in {vpc} (ec2:CreateNetworkAcl)")))?;
            let id = out.network_acl().and_then(|a| a.network_acl_id()).unwrap_or_default().to_owned();
            failpoint::hit("after-create");
            run.record_created(ACL_KIND, &id, source)?;
            // Deny everything first, then the source ACL's own entries, so the team sees a
            // familiar ACL with something wrong at the top.
            for egress in [false, true] {
                AclEntry::deny_all(egress, 1).create(aws, &id).await?;
            }
            let src = ec2::describe_network_acl(&aws.ec2, source).await?;
            for e in src.as_ref().map(entries).unwrap_or_default() {
                if e.rule_number != 1 && e.rule_number != DEFAULT_RULE {
                    e.create(aws, &id).await?;
                }
            }
        }
        Ok(())
    }

    async fn teardown(&self, aws: &Aws, run: &RunCtx) -> Result<()> {
        let mut ids: BTreeSet<String> = run.created(ACL_KIND).into_iter().collect();
        let tagged = aws
            .ec2
            .describe_network_acls()
            .filters(ec2::filter(&format!("tag:{RUN_TAG}"), [run.run_id.as_str()]))
            .filters(ec2::filter(&format!("tag:{FAULT_TAG}"), [run.fault.to_string()]))
            .send()
            .await
            .map_err(Error::aws("find the run's network ACLs (ec2:DescribeNetworkAcls)"))?;
        ids.extend(tagged.network_acls().iter().filter_map(|a| a.network_acl_id().map(str::to_owned)));
        for id in ids {
            let deleted = retry(|| async {
                let doing = format!("delete network ACL {id} (ec2:DeleteNetworkAcl)");
                aws.ec2.delete_network_acl().network_acl_id(&id).send().await.map(drop).map_err(Error::aws(doing))
            });
            if let Err(err) = deleted.await
                && err.aws_code() != Some("InvalidNetworkAclID.NotFound")
            {
                return Err(err);
            }
            run.record_deleted(ACL_KIND, &id)?;
        }
        Ok(())
    }
}

/// The catalogue's entry for `network-acl.deny-all`.
pub const DENY_ALL: ActionInfo = ActionInfo {
    name: "network-acl.deny-all",
    target: TargetKind::Subnet,
    summary: "Associate the subnets with a deny-all network ACL that firedrill creates: a clone of their ACL with deny-everything entries first, tagged with the run id.",
    revert: "Restores each subnet's original ACL association, then deletes the created ACL.",
    one_shot: false,
    params: &[],
    permissions: &[
        "ec2:CreateNetworkAcl",
        "ec2:CreateNetworkAclEntry",
        "ec2:ReplaceNetworkAclAssociation",
        "ec2:DeleteNetworkAcl",
    ],
};

// ---------------------------------------------------------------------------------------
// network-acl.deny-traffic

/// Which side of an ACL `deny-traffic` denies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Directions {
    #[default]
    Ingress,
    Egress,
    Both,
}

impl Directions {
    fn egress_flags(self) -> &'static [bool] {
        match self {
            Directions::Ingress => &[false],
            Directions::Egress => &[true],
            Directions::Both => &[false, true],
        }
    }
}

/// `network-acl.deny-traffic`: the traffic to deny.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DenyTraffic {
    pub direction: Directions,
    pub protocol: Protocol,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortRange>,
    pub cidr: String,
}

impl Default for DenyTraffic {
    fn default() -> Self {
        DenyTraffic {
            direction: Directions::Ingress,
            protocol: Protocol::All,
            ports: Vec::new(),
            cidr: "0.0.0.0/0".into(),
        }
    }
}

impl Params for DenyTraffic {
    fn check(&self) -> Result<(), String> {
        if !self.ports.is_empty() && !matches!(self.protocol, Protocol::Tcp | Protocol::Udp) {
            return Err("`ports` applies only to `protocol: tcp` or `udp`".into());
        }
        super::checks::cidr("cidr", &self.cidr)
    }
}

/// A network ACL's entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclState {
    pub network_acl_id: String,
    pub entries: Vec<AclEntry>,
}

/// The deny entries planned for an ACL: exactly what revert deletes.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntriesChange {
    pub network_acl_id: String,
    pub entries: Vec<AclEntry>,
}

/// A network ACL's entries: what `deny-traffic` changes and is judged by.
pub struct Entries;

impl Resource for Entries {
    type State = AclState;

    async fn describe(aws: &Aws, target: &Target) -> Result<AclState> {
        let acl = ec2::describe_network_acl(&aws.ec2, &target.id)
            .await?
            .ok_or_else(|| Error::Gone(format!("network ACL {} no longer exists", target.id)))?;
        Ok(AclState { network_acl_id: target.id.clone(), entries: entries(&acl) })
    }

    fn differences(before: &AclState, now: &AclState) -> Vec<String> {
        let (b, n): (BTreeSet<&AclEntry>, BTreeSet<&AclEntry>) =
            (before.entries.iter().collect(), now.entries.iter().collect());
        let id = &before.network_acl_id;
        let mut out: Vec<String> = b.difference(&n).map(|e| format!("{id}: entry missing: {e}")).collect();
        out.extend(n.difference(&b).map(|e| format!("{id}: entry not in snapshot: {e}")));
        out
    }

    /// An allow entry the snapshot did not have for every protocol from the whole
    /// internet, ahead of the catch-all deny.
    fn regressions(before: &AclState, now: &AclState) -> Vec<String> {
        let world = |e: &AclEntry| e.cidr.as_deref() == Some("0.0.0.0/0") || e.ipv6_cidr.as_deref() == Some("::/0");
        now.entries
            .iter()
            .filter(|e| !before.entries.contains(e) && e.action == "allow" && e.protocol == "-1" && world(e))
            .map(|e| format!("{e} allows everything"))
            .collect()
    }

    /// Delete every entry the snapshot did not have (an entry changed in place counts as
    /// another entry), then create every entry it had that is missing.
    async fn reset(aws: &Aws, _target: &Target, before: &AclState, now: &AclState) -> Result<()> {
        for e in now.entries.iter().filter(|e| !before.entries.contains(e) && e.rule_number != DEFAULT_RULE) {
            e.delete(aws, &before.network_acl_id).await?;
        }
        for e in before.entries.iter().filter(|e| !now.entries.contains(e) && e.rule_number != DEFAULT_RULE) {
            e.create(aws, &before.network_acl_id).await?;
        }
        Ok(())
    }
}

impl Fault for DenyTraffic {
    type On = Entries;
    type Change = EntriesChange;

    fn plan(&self, target: &Target, state: &AclState) -> Result<EntriesChange, String> {
        let protocol = match self.protocol {
            Protocol::All => "-1",
            Protocol::Tcp => "6",
            Protocol::Udp => "17",
            Protocol::Icmp => "1",
        };
        let (v6, cidr) = if self.cidr.contains(':') { (true, None) } else { (false, Some(self.cidr.clone())) };
        let ranges: Vec<Option<(i32, i32)>> = if self.ports.is_empty() {
            vec![None]
        } else {
            self.ports.iter().map(|p| Some((i32::from(p.from), i32::from(p.to)))).collect()
        };
        let mut out = Vec::new();
        for &egress in self.direction.egress_flags() {
            let dir = if egress { "egress" } else { "ingress" };
            let used: BTreeSet<i32> =
                state.entries.iter().filter(|e| e.egress == egress).map(|e| e.rule_number).collect();
            let first_allow = state
                .entries
                .iter()
                .filter(|e| e.egress == egress && e.action == "allow")
                .map(|e| e.rule_number)
                .min()
                .ok_or_else(|| {
                    format!("{}: no {dir} allow entries: the ACL already denies all {dir} traffic", target.label())
                })?;
            let mut free = (1..first_allow).rev().filter(|n| !used.contains(n));
            for ports in &ranges {
                let rule_number = free.next().ok_or_else(|| {
                    format!("{}: no free {dir} rule number below the first allow (rule {first_allow})", target.label())
                })?;
                out.push(AclEntry {
                    egress,
                    rule_number,
                    protocol: protocol.into(),
                    action: "deny".into(),
                    cidr: cidr.clone(),
                    ipv6_cidr: v6.then(|| self.cidr.clone()),
                    ports: *ports,
                    icmp: (protocol == "1").then_some((-1, -1)),
                });
            }
        }
        Ok(EntriesChange { network_acl_id: state.network_acl_id.clone(), entries: out })
    }

    fn summarize(&self, change: &EntriesChange) -> Vec<String> {
        change.entries.iter().map(|e| format!("add {e}")).collect()
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<AclState>> {
        let (change, now) = (item.change, Entries::describe(aws, item.target).await?);
        for e in change.entries.iter().filter(|e| !now.entries.contains(e)) {
            e.create(aws, &change.network_acl_id).await?;
        }
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &EntriesChange, now: &AclState) -> Result<(), String> {
        match change.entries.iter().find(|e| !now.entries.contains(e)) {
            Some(e) => Err(format!("entry missing after adding it: {e}")),
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<AclState>> {
        let (before, change, now) = (item.before, item.change, item.now);
        // Delete exactly what we added, never an entry the snapshot had.
        for e in change.entries.iter().filter(|e| now.entries.contains(e) && !before.entries.contains(e)) {
            e.delete(aws, &change.network_acl_id).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `network-acl.deny-traffic`.
pub const DENY_TRAFFIC: ActionInfo = ActionInfo {
    name: "network-acl.deny-traffic",
    target: TargetKind::NetworkAcl,
    summary: "Insert deny entries into the network ACL of the selected subnets, at free rule numbers just below its first allow entry.",
    revert: "Deletes exactly the entries it inserted.",
    one_shot: false,
    params: &[
        ParamInfo { name: "direction", ty: "ingress | egress | both", default: "ingress", doc: "Which side to deny." },
        ParamInfo { name: "protocol", ty: "tcp | udp | icmp | all", default: "all", doc: "Protocol to deny." },
        ParamInfo {
            name: "ports",
            ty: "list of port or \"from-to\"",
            default: "every port",
            doc: "One entry per range (tcp/udp).",
        },
        ParamInfo {
            name: "cidr",
            ty: "IPv4 or IPv6 CIDR",
            default: "0.0.0.0/0",
            doc: "Traffic from (ingress) or to (egress) this network.",
        },
    ],
    permissions: &["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry"],
};

/// The pure parts, on hand-written states.
#[cfg(test)]
mod tests {
    use super::*;

    fn entry(egress: bool, rule_number: i32, action: &str) -> AclEntry {
        AclEntry {
            egress,
            rule_number,
            protocol: "-1".into(),
            action: action.into(),
            cidr: Some("0.0.0.0/0".into()),
            ipv6_cidr: None,
            ports: None,
            icmp: None,
        }
    }

    fn acl(entries: Vec<AclEntry>) -> AclState {
        AclState { network_acl_id: "acl-1".into(), entries }
    }

    #[test]
    fn deny_traffic_goes_just_below_the_first_allow_at_free_numbers() {
        let run = RunCtx::for_tests();
        let before = acl(vec![entry(false, 99, "deny"), entry(false, 100, "allow"), entry(true, 100, "allow")]);
        let https = DenyTraffic {
            protocol: Protocol::Tcp,
            ports: vec![PortRange { from: 443, to: 443 }, PortRange { from: 80, to: 80 }],
            ..Default::default()
        };
        let c = https.plan(&Target::for_tests("acl-1"), &before).unwrap();
        let numbers: Vec<(i32, Option<(i32, i32)>)> = c.entries.iter().map(|e| (e.rule_number, e.ports)).collect();
        assert_eq!(numbers, [(98, Some((443, 443))), (97, Some((80, 80)))], "99 is taken");
        assert_eq!(https.summarize(&c)[0], "add ingress rule 98 deny tcp port 443 0.0.0.0/0");
        let after = acl([before.entries.clone(), c.entries.clone()].concat());
        assert_eq!(https.observe(&run, &c, &after), Ok(()));
        assert!(https.observe(&run, &c, &before).is_err(), "a stale read");
        assert_eq!(Entries::differences(&before, &after).len(), 2);
        assert_eq!(
            Entries::differences(&before, &after)[0],
            "acl-1: entry not in snapshot: ingress rule 97 deny tcp port 80 0.0.0.0/0"
        );
        let both = DenyTraffic { direction: Directions::Both, ..Default::default() };
        assert_eq!(both.plan(&Target::for_tests("acl-1"), &before).unwrap().entries.len(), 2, "one each way");
        let closed = acl(vec![entry(false, 100, "deny")]);
        assert!(
            DenyTraffic::default().plan(&Target::for_tests("acl-1"), &closed).unwrap_err().contains("already denies")
        );
    }

    #[test]
    fn deny_all_moves_the_subnet_to_the_recorded_clone() {
        let run = RunCtx::for_tests();
        let before = SubnetAcl { subnet_id: "subnet-1".into(), vpc_id: "vpc-1".into(), network_acl_id: "acl-1".into() };
        let c = DenyAll {}.plan(&Target::for_tests("subnet-1"), &before).unwrap();
        assert_eq!(c.from_acl, "acl-1");
        run.record_created(ACL_KIND, "acl-clone", "acl-1").unwrap();
        let moved = SubnetAcl { network_acl_id: "acl-clone".into(), ..before.clone() };
        assert_eq!(DenyAll {}.observe(&run, &c, &moved), Ok(()));
        assert!(DenyAll {}.observe(&run, &c, &before).is_err());
        assert_eq!(Association::differences(&before, &moved).len(), 1);
        assert!(Association::differences(&before, &before.clone()).is_empty());
    }
}
