//! Security-group faults: revoke rules, open a rule to the world, isolate instances.
//!
//! Rules are handled flat: one [`Rule`] per (protocol, ports, peer), as
//! `DescribeSecurityGroupRules` shows them, rather than AWS's grouped `IpPermission`s.
//! That makes "exactly the rules we removed" a set, comparable and restorable with its
//! descriptions. Rule ids are assigned by AWS and are not part of the state.
//!
//! Each action's revert behaviour, cancel behaviour and minimum permissions are in
//! `runbooks/security-groups.md` and in `firedrill actions`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, SecurityGroup, SecurityGroupRule, TagSpecification,
    UserIdGroupPair,
};
use serde::{Deserialize, Deserializer, Serialize};

use super::{ActionInfo, Fault, ParamInfo, Params, ToInject, ToRevert};
use super::{Listed, Resource, RunCtx, quarantine};
use crate::aws::{Aws, ec2};
use crate::target::{Target, TargetKind, TargetSpec};
use crate::{Error, Result};

// ---------------------------------------------------------------------------------------
// Rules and group state

/// Inbound or outbound rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

/// Who a rule lets traffic from (ingress) or to (egress).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Cidr(String),
    CidrV6(String),
    PrefixList(String),
    Group {
        group_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vpc_peering_connection_id: Option<String>,
    },
}

/// One security-group rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp`, `-1` (all), or a protocol number.
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(flatten)]
    pub peer: Peer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Rule {
    /// Same traffic and peer; descriptions aside. AWS treats such rules as one.
    fn same_rule(&self, other: &Rule) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.peer == other.peer
    }

    fn is_all_traffic(&self) -> bool {
        self.protocol == "-1"
    }

    /// Whether the rule's peer is the whole internet (IPv4 or IPv6).
    fn open_to_world(&self) -> bool {
        matches!(&self.peer, Peer::Cidr(c) if c == "0.0.0.0/0") || matches!(&self.peer, Peer::CidrV6(c) if c == "::/0")
    }

    /// Whether this rule lets through everything `other` does and more: all traffic
    /// where `other` named a protocol, or a port range strictly around `other`'s.
    fn wider_than(&self, other: &Rule) -> bool {
        if self.is_all_traffic() {
            return !other.is_all_traffic();
        }
        let range = |r: &Rule| (r.from_port.unwrap_or(0), r.to_port.unwrap_or(65535));
        let ((a, b), (c, d)) = (range(self), range(other));
        self.protocol == other.protocol && a <= c && b >= d && (a, b) != (c, d)
    }

    fn to_permission(&self) -> IpPermission {
        let b =
            IpPermission::builder().ip_protocol(&self.protocol).set_from_port(self.from_port).set_to_port(self.to_port);
        let d = self.description.clone();
        match &self.peer {
            Peer::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).set_description(d).build()),
            Peer::CidrV6(c) => b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(d).build()),
            Peer::PrefixList(p) => {
                b.prefix_list_ids(PrefixListId::builder().prefix_list_id(p).set_description(d).build())
            }
            Peer::Group { group_id, user_id, vpc_peering_connection_id } => b.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(group_id)
                    .set_user_id(user_id.clone())
                    .set_vpc_peering_connection_id(vpc_peering_connection_id.clone())
                    .set_description(d)
                    .build(),
            ),
        }
        .build()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports = match (self.from_port, self.to_port) {
            _ if self.is_all_traffic() => "all traffic".to_owned(),
            (Some(a), Some(b)) if a == b => format!("{} {a}", self.protocol),
            (Some(-1), Some(-1)) | (None, None) => format!("{} all", self.protocol),
            (Some(a), Some(b)) => format!("{} {a}-{b}", self.protocol),
            _ => self.protocol.clone(),
        };
        let peer = match &self.peer {
            Peer::Cidr(c) | Peer::CidrV6(c) => c.clone(),
            Peer::PrefixList(p) => format!("prefix list {p}"),
            Peer::Group { group_id, .. } => format!("group {group_id}"),
        };
        write!(f, "{ports} {peer}")?;
        if let Some(d) = &self.description {
            write!(f, " \"{d}\"")?;
        }
        Ok(())
    }
}

/// Flatten AWS's grouped permissions into rules.
fn rules(permissions: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in permissions {
        let protocol = p.ip_protocol().unwrap_or("-1").to_owned();
        let (from_port, to_port) = if protocol == "-1" { (None, None) } else { (p.from_port(), p.to_port()) };
        let rule = |peer, description: Option<&str>| Rule {
            protocol: protocol.clone(),
            from_port,
            to_port,
            peer,
            description: description.filter(|d| !d.is_empty()).map(str::to_owned),
        };
        for r in p.ip_ranges() {
            out.push(rule(Peer::Cidr(r.cidr_ip().unwrap_or_default().into()), r.description()));
        }
        for r in p.ipv6_ranges() {
            out.push(rule(Peer::CidrV6(r.cidr_ipv6().unwrap_or_default().into()), r.description()));
        }
        for r in p.prefix_list_ids() {
            out.push(rule(Peer::PrefixList(r.prefix_list_id().unwrap_or_default().into()), r.description()));
        }
        for g in p.user_id_group_pairs() {
            let peer = Peer::Group {
                group_id: g.group_id().unwrap_or_default().into(),
                user_id: g.user_id().map(str::to_owned),
                vpc_peering_connection_id: g.vpc_peering_connection_id().map(str::to_owned),
            };
            out.push(rule(peer, g.description()));
        }
    }
    out.sort();
    out
}

/// A security group as the snapshot records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub group_id: String,
    pub group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    pub description: String,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl GroupState {
    fn from_sdk(g: &SecurityGroup) -> Self {
        GroupState {
            group_id: g.group_id().unwrap_or_default().into(),
            group_name: g.group_name().unwrap_or_default().into(),
            vpc_id: g.vpc_id().map(str::to_owned),
            description: g.description().unwrap_or_default().into(),
            ingress: rules(g.ip_permissions()),
            egress: rules(g.ip_permissions_egress()),
            tags: crate::aws::holds::without_holds(ec2::tags_map(g.tags())),
        }
    }

    fn rules(&self, direction: Direction) -> &[Rule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    fn rules_mut(&mut self, direction: Direction) -> &mut Vec<Rule> {
        match direction {
            Direction::Ingress => &mut self.ingress,
            Direction::Egress => &mut self.egress,
        }
    }

    fn has(&self, direction: Direction, rule: &Rule) -> bool {
        self.rules(direction).iter().any(|r| r.same_rule(rule))
    }

    /// Human-readable differences from `before`, rule by rule.
    fn differences(before: &GroupState, now: &GroupState) -> Vec<String> {
        let mut out = Vec::new();
        for (dir, b, n) in [("ingress", &before.ingress, &now.ingress), ("egress", &before.egress, &now.egress)] {
            let b: BTreeSet<&Rule> = b.iter().collect();
            let n: BTreeSet<&Rule> = n.iter().collect();
            out.extend(b.difference(&n).map(|r| format!("{}: {dir} rule missing: {r}", before.group_id)));
            out.extend(n.difference(&b).map(|r| format!("{}: {dir} rule not in snapshot: {r}", before.group_id)));
        }
        if before.tags != now.tags {
            out.push(format!("{}: tags differ from snapshot", before.group_id));
        }
        out
    }
}

pub(super) async fn describe_group(aws: &Aws, id: &str) -> Result<GroupState> {
    let g = ec2::describe_security_group(&aws.ec2, id).await?.ok_or_else(|| gone(id))?;
    Ok(GroupState::from_sdk(&g))
}

/// Security groups, with their rules both ways and their tags: what the rule actions
/// change and are judged by. Listing them describes them, 200 to a call.
pub struct Groups;

impl Resource for Groups {
    type State = GroupState;

    const BATCH: usize = ec2::DESCRIBE_BATCH;

    async fn describe(aws: &Aws, target: &Target) -> Result<GroupState> {
        describe_group(aws, &target.id).await
    }

    async fn describe_many(aws: &Aws, targets: &[&Target]) -> Result<Vec<Result<GroupState>>> {
        let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        let found: BTreeMap<String, GroupState> = ec2::describe_security_groups(&aws.ec2, &ids)
            .await?
            .iter()
            .map(|g| (g.group_id().unwrap_or_default().to_owned(), GroupState::from_sdk(g)))
            .collect();
        Ok(ids.iter().map(|id| found.get(*id).cloned().ok_or_else(|| gone(id))).collect())
    }

    async fn list(aws: &Aws, spec: &TargetSpec) -> Option<Result<Listed<GroupState>>> {
        Some(ec2::list_security_groups_with(&aws.ec2, spec, GroupState::from_sdk).await)
    }

    fn differences(before: &GroupState, now: &GroupState) -> Vec<String> {
        GroupState::differences(before, now)
    }

    /// A rule the snapshot did not have that lets in (or out) the whole internet, or
    /// covers more ports or protocols than the snapshot's rule for the same peer did.
    fn regressions(before: &GroupState, now: &GroupState) -> Vec<String> {
        let mut out = Vec::new();
        for (dir, b, n) in [("ingress", &before.ingress, &now.ingress), ("egress", &before.egress, &now.egress)] {
            for r in n.iter().filter(|r| !b.iter().any(|x| x.same_rule(r))) {
                if r.open_to_world() {
                    out.push(format!("{dir} rule {r} is open to the world"));
                } else if let Some(x) = b.iter().find(|x| x.peer == r.peer && r.wider_than(x)) {
                    out.push(format!("{dir} rule {r} is wider than the snapshot's {x}"));
                }
            }
        }
        out
    }

    /// Revoke every rule the snapshot did not have (a rule with another description
    /// counts as another rule), then add every rule it had that is missing.
    async fn reset(aws: &Aws, _target: &Target, before: &GroupState, now: &GroupState) -> Result<()> {
        for dir in [Direction::Ingress, Direction::Egress] {
            let extra: Vec<Rule> = now.rules(dir).iter().filter(|r| !before.rules(dir).contains(r)).cloned().collect();
            revoke(aws, &before.group_id, dir, &extra).await?;
            let missing: Vec<Rule> =
                before.rules(dir).iter().filter(|r| !now.rules(dir).contains(r)).cloned().collect();
            authorize(aws, &before.group_id, dir, &missing, None).await?;
        }
        Ok(())
    }
}

fn gone(id: &str) -> Error {
    Error::Gone(format!("security group {id} no longer exists"))
}

/// Send one of the four rule calls (authorize/revoke × ingress/egress), whose builders
/// are distinct types with the same methods; `$answer` reads the call's output.
macro_rules! send_rules {
    ($builder:expr, $group:expr, $rules:expr, $doing:expr, $answer:expr) => {
        $builder
            .group_id($group)
            .set_ip_permissions(Some($rules.iter().map(Rule::to_permission).collect()))
            .send()
            .await
            .map($answer)
            .map_err(Error::aws($doing))
    };
}

/// Add `rules`; returns the rules EC2's answer says it created (none if it lists none).
async fn authorize(
    aws: &Aws,
    group_id: &str,
    direction: Direction,
    rules: &[Rule],
    tags: Option<TagSpecification>,
) -> Result<Vec<Rule>> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let tags = tags.map(|t| vec![t]);
    match direction {
        Direction::Ingress => send_rules!(
            aws.ec2.authorize_security_group_ingress().set_tag_specifications(tags),
            group_id,
            rules,
            format!("add ingress rules to {group_id} (ec2:AuthorizeSecurityGroupIngress)"),
            |out| created(out.security_group_rules())
        ),
        Direction::Egress => send_rules!(
            aws.ec2.authorize_security_group_egress().set_tag_specifications(tags),
            group_id,
            rules,
            format!("add egress rules to {group_id} (ec2:AuthorizeSecurityGroupEgress)"),
            |out| created(out.security_group_rules())
        ),
    }
}

/// The rules an authorize's answer lists, flat, as [`rules`] reads a description.
fn created(answer: &[SecurityGroupRule]) -> Vec<Rule> {
    let mut out: Vec<Rule> = answer
        .iter()
        .filter_map(|r| {
            let protocol = r.ip_protocol()?.to_owned();
            let (from_port, to_port) = if protocol == "-1" { (None, None) } else { (r.from_port(), r.to_port()) };
            let peer = if let Some(c) = r.cidr_ipv4() {
                Peer::Cidr(c.into())
            } else if let Some(c) = r.cidr_ipv6() {
                Peer::CidrV6(c.into())
            } else if let Some(p) = r.prefix_list_id() {
                Peer::PrefixList(p.into())
            } else {
                let g = r.referenced_group_info()?;
                Peer::Group {
                    group_id: g.group_id()?.into(),
                    user_id: g.user_id().map(str::to_owned),
                    vpc_peering_connection_id: g.vpc_peering_connection_id().map(str::to_owned),
                }
            };
            let description = r.description().filter(|d| !d.is_empty()).map(str::to_owned);
            Some(Rule { protocol, from_port, to_port, peer, description })
        })
        .collect();
    out.sort();
    out
}

/// Remove `rules`; returns whether EC2's answer proves them all gone: it succeeded and
/// names none it did not know.
pub(super) async fn revoke(aws: &Aws, group_id: &str, direction: Direction, rules: &[Rule]) -> Result<bool> {
    if rules.is_empty() {
        return Ok(true);
    }
    match direction {
        Direction::Ingress => send_rules!(
            aws.ec2.revoke_security_group_ingress(),
            group_id,
            rules,
            format!("remove ingress rules from {group_id} (ec2:RevokeSecurityGroupIngress)"),
            |out| out.r#return() == Some(true) && out.unknown_ip_permissions().is_empty()
        ),
        Direction::Egress => send_rules!(
            aws.ec2.revoke_security_group_egress(),
            group_id,
            rules,
            format!("remove egress rules from {group_id} (ec2:RevokeSecurityGroupEgress)"),
            |out| out.r#return() == Some(true) && out.unknown_ip_permissions().is_empty()
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Params

/// A protocol as fault files name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    #[default]
    All,
}

impl Protocol {
    fn aws(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::All => "-1",
        }
    }

    /// Whether a rule with AWS protocol `p` lets this protocol's traffic through.
    fn covered_by(self, p: &str) -> bool {
        let p = match p {
            "6" => "tcp",
            "17" => "udp",
            "1" => "icmp",
            other => other,
        };
        p == "-1" || self == Protocol::All || p == self.aws()
    }
}

/// A port or an inclusive range: `80` or `"8000-8080"`, written back the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl Serialize for PortRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.from == self.to { s.serialize_u16(self.from) } else { s.serialize_str(&self.to_string()) }
    }
}

impl schemars::JsonSchema for PortRange {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortRange".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A port (80) or an inclusive range (\"8000-8080\").",
            "anyOf": [
                { "type": "integer", "minimum": 0, "maximum": 65535 },
                { "type": "string", "pattern": "^[0-9]{1,5}(-[0-9]{1,5})?$" },
                {
                    "type": "object",
                    "properties": {
                        "from": { "type": "integer", "minimum": 0, "maximum": 65535 },
                        "to": { "type": "integer", "minimum": 0, "maximum": 65535 }
                    },
                    "required": ["from", "to"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Port(u16),
            Text(String),
            Range { from: u16, to: u16 },
        }
        let bad = |s: &str| {
            serde::de::Error::custom(format!("invalid port `{s}`: use a number (80) or a range (\"8000-8080\")"))
        };
        match Raw::deserialize(d)? {
            Raw::Port(p) => Ok(PortRange { from: p, to: p }),
            Raw::Range { from, to } if from <= to => Ok(PortRange { from, to }),
            Raw::Range { from, to } => Err(bad(&format!("{from}-{to}"))),
            Raw::Text(s) => {
                let (a, b) = s.split_once('-').unwrap_or((&s, &s));
                match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                    (Ok(from), Ok(to)) if from <= to => Ok(PortRange { from, to }),
                    _ => Err(bad(&s)),
                }
            }
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to { write!(f, "{}", self.from) } else { write!(f, "{}-{}", self.from, self.to) }
    }
}

/// Which rules `revoke-ingress` / `revoke-egress` remove. Empty: every rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleFilter {
    /// Rules that let this protocol through (an all-traffic rule does, for any).
    #[serde(default)]
    pub protocol: Protocol,
    /// Rules whose port range covers any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortRange>,
}

impl Params for RuleFilter {
    fn check(&self) -> Result<(), String> {
        if self.protocol == Protocol::Icmp && !self.ports.is_empty() {
            return Err("`ports` does not apply to icmp: leave it out to match every icmp rule".into());
        }
        Ok(())
    }
}

impl RuleFilter {
    fn matches(&self, rule: &Rule) -> bool {
        if !self.protocol.covered_by(&rule.protocol) {
            return false;
        }
        if self.ports.is_empty() || rule.is_all_traffic() {
            return true;
        }
        // Port filters select tcp/udp rules; an icmp rule's "ports" are type and code.
        if !matches!(rule.protocol.as_str(), "tcp" | "udp" | "6" | "17") {
            return false;
        }
        let (lo, hi) = (rule.from_port.unwrap_or(0), rule.to_port.unwrap_or(65535));
        self.ports.iter().any(|p| i32::from(p.from) <= hi && i32::from(p.to) >= lo)
    }

    fn describe(&self) -> String {
        let proto = if self.protocol == Protocol::All { "any protocol".to_owned() } else { self.aws_name() };
        if self.ports.is_empty() {
            proto
        } else {
            let ports: Vec<String> = self.ports.iter().map(ToString::to_string).collect();
            format!("{proto} port {}", ports.join(", "))
        }
    }

    fn aws_name(&self) -> String {
        self.protocol.aws().to_owned()
    }
}

// ---------------------------------------------------------------------------------------
// security-group.revoke-ingress / revoke-egress

/// `security-group.revoke-ingress` and `revoke-egress`: the direction and which rules.
pub struct RevokeRules {
    pub direction: Direction,
    pub filter: RuleFilter,
}

impl RevokeRules {
    /// Revoke the rules `filter` matches, in `direction`.
    pub fn new(direction: Direction, filter: RuleFilter) -> Self {
        RevokeRules { direction, filter }
    }

    /// `security-group.revoke-ingress` with these params.
    pub fn ingress(filter: &RuleFilter) -> Self {
        Self::new(Direction::Ingress, filter.clone())
    }

    /// `security-group.revoke-egress` with these params.
    pub fn egress(filter: &RuleFilter) -> Self {
        Self::new(Direction::Egress, filter.clone())
    }

    /// Revoke the planned rules; whether EC2's answer proves them gone. The rules were
    /// described moments ago, at plan time: revoke them in one call. If one has gone
    /// since (EC2 then revokes none), remove only those still present, unproved.
    async fn revoke_planned(aws: &Aws, change: &RulesChange) -> Result<bool> {
        match revoke(aws, &change.group_id, change.direction, &change.rules).await {
            Err(e) if e.aws_code() == Some("InvalidPermission.NotFound") => {
                let now = describe_group(aws, &change.group_id).await?;
                let present: Vec<Rule> =
                    change.rules.iter().filter(|r| now.has(change.direction, r)).cloned().collect();
                revoke(aws, &change.group_id, change.direction, &present).await.map(|_| false)
            }
            other => other,
        }
    }
}

/// The rules a revoke removed: exactly what revert puts back.
#[derive(Debug, Serialize, Deserialize)]
pub struct RulesChange {
    pub group_id: String,
    pub direction: Direction,
    pub rules: Vec<Rule>,
}

impl Fault for RevokeRules {
    type On = Groups;
    type Change = RulesChange;

    fn plan(&self, target: &Target, state: &GroupState) -> Result<RulesChange, String> {
        let rules: Vec<Rule> = state.rules(self.direction).iter().filter(|r| self.filter.matches(r)).cloned().collect();
        if rules.is_empty() {
            let dir = if self.direction == Direction::Ingress { "ingress" } else { "egress" };
            return Err(format!(
                "{}: no {dir} rule matches {}: nothing to break",
                target.label(),
                self.filter.describe()
            ));
        }
        Ok(RulesChange { group_id: state.group_id.clone(), direction: self.direction, rules })
    }

    fn summarize(&self, change: &RulesChange) -> Vec<String> {
        let dir = if change.direction == Direction::Ingress { "ingress" } else { "egress" };
        change.rules.iter().map(|r| format!("remove {dir} rule: {r}")).collect()
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<GroupState>> {
        // EC2 revokes all of a call's rules or none, and says which it did not know.
        let change = item.change;
        let proved = Self::revoke_planned(aws, change).await?;
        Ok(proved.then(|| {
            let mut after = item.before.clone();
            after.rules_mut(change.direction).retain(|r| !change.rules.iter().any(|c| c.same_rule(r)));
            after
        }))
    }

    fn observe(&self, _run: &RunCtx, change: &RulesChange, now: &GroupState) -> Result<(), String> {
        match change.rules.iter().find(|r| now.has(change.direction, r)) {
            Some(r) => Err(format!("rule still present after revoking it: {r}")),
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<GroupState>> {
        let (change, now) = (item.change, item.now);
        let mut missing: Vec<Rule> = change.rules.iter().filter(|r| !now.has(change.direction, r)).cloned().collect();
        missing.sort();
        let added = authorize(aws, &change.group_id, change.direction, &missing, None).await?;
        // The state is proved when EC2 lists exactly the rules asked for, descriptions
        // and all; otherwise the executor describes the group to compare.
        Ok((added == missing).then(|| {
            let mut after = now.clone();
            after.rules_mut(change.direction).extend(missing);
            after.rules_mut(change.direction).sort();
            after
        }))
    }
}

/// The catalogue's entry for `security-group.revoke-ingress`.
pub const REVOKE_INGRESS: ActionInfo = ActionInfo {
    name: "security-group.revoke-ingress",
    target: TargetKind::SecurityGroup,
    summary: "Remove the security group's inbound rules that match (all of them when no filter is given).",
    revert: "Re-creates exactly the removed rules: CIDR v4/v6, prefix lists, referenced groups, descriptions.",
    one_shot: false,
    params: RULE_FILTER_PARAMS,
    permissions: &["ec2:RevokeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupIngress"],
};

/// The catalogue's entry for `security-group.revoke-egress`.
pub const REVOKE_EGRESS: ActionInfo = ActionInfo {
    name: "security-group.revoke-egress",
    target: TargetKind::SecurityGroup,
    summary: "Remove the security group's outbound rules that match (all of them when no filter is given).",
    revert: "Re-creates exactly the removed rules: CIDR v4/v6, prefix lists, referenced groups, descriptions.",
    one_shot: false,
    params: RULE_FILTER_PARAMS,
    permissions: &["ec2:RevokeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupEgress"],
};

const RULE_FILTER_PARAMS: &[ParamInfo] = &[
    ParamInfo {
        name: "protocol",
        ty: "tcp | udp | icmp | all",
        default: "all",
        doc: "Remove rules that let this protocol through (all-traffic rules included).",
    },
    ParamInfo {
        name: "ports",
        ty: "list of port or \"from-to\"",
        default: "every port",
        doc: "Remove tcp/udp rules whose port range covers any of these.",
    },
];

// ---------------------------------------------------------------------------------------
// security-group.open-ingress

/// Add a world-open inbound rule: a security-misconfiguration drill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OpenIngress {
    pub protocol: Protocol,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortRange>,
    pub cidr: String,
    pub description: String,
}

impl OpenIngress {
    fn rules(&self) -> Vec<Rule> {
        let peer =
            if self.cidr.contains(':') { Peer::CidrV6(self.cidr.clone()) } else { Peer::Cidr(self.cidr.clone()) };
        let rule = |from_port, to_port| Rule {
            protocol: self.protocol.aws().into(),
            from_port,
            to_port,
            peer: peer.clone(),
            description: Some(self.description.clone()),
        };
        match self.protocol {
            Protocol::All => vec![rule(None, None)],
            Protocol::Icmp => vec![rule(Some(-1), Some(-1))],
            Protocol::Tcp | Protocol::Udp => {
                self.ports.iter().map(|p| rule(Some(p.from.into()), Some(p.to.into()))).collect()
            }
        }
    }
}

impl Default for OpenIngress {
    fn default() -> Self {
        OpenIngress {
            protocol: Protocol::Tcp,
            ports: Vec::new(),
            cidr: "0.0.0.0/0".into(),
            description: "added by firedrill".into(),
        }
    }
}

impl Params for OpenIngress {
    fn check(&self) -> Result<(), String> {
        match self.protocol {
            Protocol::Tcp | Protocol::Udp if self.ports.is_empty() => {
                return Err("`ports` is required for tcp and udp, e.g. `ports: [22]`".into());
            }
            Protocol::All | Protocol::Icmp if !self.ports.is_empty() => {
                return Err("`ports` applies only to tcp and udp".into());
            }
            _ => {}
        }
        super::checks::cidr("cidr", &self.cidr)?;
        super::checks::rule_description("description", &self.description)
    }
}

impl Fault for OpenIngress {
    type On = Groups;
    type Change = RulesChange;

    fn plan(&self, target: &Target, state: &GroupState) -> Result<RulesChange, String> {
        let rules: Vec<Rule> = self.rules().into_iter().filter(|r| !state.has(Direction::Ingress, r)).collect();
        if rules.is_empty() {
            return Err(format!("{}: already open to {} on these ports: nothing to break", target.label(), self.cidr));
        }
        Ok(RulesChange { group_id: state.group_id.clone(), direction: Direction::Ingress, rules })
    }

    fn summarize(&self, change: &RulesChange) -> Vec<String> {
        change.rules.iter().map(|r| format!("add ingress rule: {r}")).collect()
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<GroupState>> {
        let change = item.change;
        let now = describe_group(aws, &change.group_id).await?;
        let missing: Vec<Rule> = change.rules.iter().filter(|r| !now.has(Direction::Ingress, r)).cloned().collect();
        let tags = super::run_tags(run, ResourceType::SecurityGroupRule, crate::aws::kind::RULE, &[]);
        authorize(aws, &change.group_id, Direction::Ingress, &missing, Some(tags)).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &RulesChange, now: &GroupState) -> Result<(), String> {
        match change.rules.iter().find(|r| !now.has(Direction::Ingress, r)) {
            Some(r) => Err(format!("rule missing after adding it: {r}")),
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<GroupState>> {
        let (before, change, now) = (item.before, item.change, item.now);
        // Remove exactly what we added: never a rule that was there before the fault.
        let added: Vec<Rule> = change
            .rules
            .iter()
            .filter(|r| now.has(Direction::Ingress, r) && !before.has(Direction::Ingress, r))
            .cloned()
            .collect();
        revoke(aws, &change.group_id, Direction::Ingress, &added).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `security-group.open-ingress`.
pub const OPEN_INGRESS: ActionInfo = ActionInfo {
    name: "security-group.open-ingress",
    target: TargetKind::SecurityGroup,
    summary: "Add a world-open inbound rule (a security-misconfiguration drill). Rules are tagged with the run id.",
    revert: "Removes exactly the rules the fault added; a rule that existed before is never touched.",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "protocol",
            ty: "tcp | udp | icmp | all",
            default: "tcp",
            doc: "Protocol of the added rule.",
        },
        ParamInfo {
            name: "ports",
            ty: "list of port or \"from-to\"",
            default: "(required for tcp/udp)",
            doc: "One rule per entry.",
        },
        ParamInfo {
            name: "cidr",
            ty: "IPv4 or IPv6 CIDR",
            default: "0.0.0.0/0",
            doc: "Where the rule lets traffic from.",
        },
        ParamInfo { name: "description", ty: "string", default: "added by firedrill", doc: "The rule's description." },
    ],
    permissions: &["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
};

// ---------------------------------------------------------------------------------------
// security-group.isolate-instance

/// Swap each instance's security groups for one empty quarantine group per VPC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IsolateInstance {}

impl Params for IsolateInstance {}

/// An instance's network interfaces and their groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceGroups {
    pub instance_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    pub interfaces: Vec<Interface>,
}

/// One network interface of an instance, with its groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub eni_id: String,
    pub device_index: i32,
    /// Group ids, sorted.
    pub groups: Vec<String>,
}

/// An isolate: the instance's interfaces as they were, and its VPC's quarantine group.
#[derive(Debug, Serialize, Deserialize)]
pub struct IsolateChange {
    pub instance_id: String,
    pub vpc_id: String,
    pub interfaces: Vec<Interface>,
}

async fn set_groups(
    aws: &Aws,
    instance_id: &str,
    interfaces: &[Interface],
    groups_for: impl Fn(&Interface) -> Vec<String>,
) -> Result<()> {
    for eni in interfaces {
        aws.ec2
            .modify_network_interface_attribute()
            .network_interface_id(&eni.eni_id)
            .set_groups(Some(groups_for(eni)))
            .send()
            .await
            .map_err(Error::aws(format!(
                "set the security groups of {} (ec2:ModifyNetworkInterfaceAttribute)",
                eni.eni_id
            )))?;
    }
    // On AWS an instance's groups are its primary interface's, so for a single-interface
    // instance this call repeats the one above and changes nothing more. The emulator
    // (moto) keeps the two apart and reports an interface's groups as its own plus the
    // instance's, so both must be set for its described state to be right.
    if let [only] = interfaces {
        aws.ec2
            .modify_instance_attribute()
            .instance_id(instance_id)
            .set_groups(Some(groups_for(only)))
            .send()
            .await
            .map_err(Error::aws(format!("set the security groups of {instance_id} (ec2:ModifyInstanceAttribute)")))?;
    }
    Ok(())
}

/// An instance's network interfaces and the groups of each: what isolating changes and
/// is judged by.
pub struct Interfaces;

impl Resource for Interfaces {
    type State = InstanceGroups;

    async fn describe(aws: &Aws, target: &Target) -> Result<InstanceGroups> {
        let i = ec2::describe_instance(&aws.ec2, &target.id)
            .await?
            .ok_or_else(|| Error::Gone(format!("instance {} no longer exists", target.id)))?;
        let mut interfaces: Vec<Interface> = i
            .network_interfaces()
            .iter()
            .map(|n| {
                let mut groups: Vec<String> =
                    n.groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect();
                groups.sort();
                Interface {
                    eni_id: n.network_interface_id().unwrap_or_default().into(),
                    device_index: n.attachment().and_then(|a| a.device_index()).unwrap_or(0),
                    groups,
                }
            })
            .collect();
        interfaces.sort_by_key(|n| n.device_index);
        Ok(InstanceGroups { instance_id: target.id.clone(), vpc_id: i.vpc_id().map(str::to_owned), interfaces })
    }

    fn differences(before: &InstanceGroups, now: &InstanceGroups) -> Vec<String> {
        let mut out = Vec::new();
        for b in &before.interfaces {
            match now.interfaces.iter().find(|n| n.eni_id == b.eni_id) {
                None => out.push(format!("{}: interface {} is gone", before.instance_id, b.eni_id)),
                Some(n) if n.groups != b.groups => out.push(format!(
                    "{}: {} has groups [{}], snapshot had [{}]",
                    before.instance_id,
                    b.eni_id,
                    n.groups.join(", "),
                    b.groups.join(", ")
                )),
                Some(_) => {}
            }
        }
        out
    }
}

impl Fault for IsolateInstance {
    type On = Interfaces;
    type Change = IsolateChange;

    fn plan(&self, target: &Target, state: &InstanceGroups) -> Result<IsolateChange, String> {
        let vpc_id = state.vpc_id.clone().ok_or_else(|| format!("{}: not in a VPC", target.label()))?;
        if state.interfaces.is_empty() {
            return Err(format!("{}: has no network interfaces", target.label()));
        }
        Ok(IsolateChange { instance_id: state.instance_id.clone(), vpc_id, interfaces: state.interfaces.clone() })
    }

    fn summarize(&self, change: &IsolateChange) -> Vec<String> {
        change
            .interfaces
            .iter()
            .map(|n| {
                format!(
                    "replace groups [{}] on {} with a new empty quarantine group in {}",
                    n.groups.join(", "),
                    n.eni_id,
                    change.vpc_id
                )
            })
            .collect()
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<InstanceGroups>> {
        let change = item.change;
        let q = run
            .created_in(quarantine::KIND, &change.vpc_id)
            .ok_or_else(|| Error::Failed(format!("no quarantine group recorded for {}", change.vpc_id)))?;
        set_groups(aws, &change.instance_id, &change.interfaces, |_| vec![q.clone()]).await?;
        Ok(None)
    }

    fn observe(&self, run: &RunCtx, change: &IsolateChange, now: &InstanceGroups) -> Result<(), String> {
        let q = run.created_in(quarantine::KIND, &change.vpc_id).unwrap_or_default();
        match now.interfaces.iter().find(|n| n.groups != [q.clone()]) {
            Some(n) => {
                Err(format!("{} has groups [{}], not only the quarantine group {q}", n.eni_id, n.groups.join(", ")))
            }
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<InstanceGroups>> {
        let before = item.before;
        if item.now.interfaces == before.interfaces {
            return Ok(None);
        }
        set_groups(aws, &before.instance_id, &before.interfaces, |n| n.groups.clone()).await?;
        Ok(None)
    }
}

impl quarantine::InVpc for IsolateChange {
    fn vpc(&self) -> &str {
        &self.vpc_id
    }
}

/// The catalogue's entry for `security-group.isolate-instance`.
pub const ISOLATE_INSTANCE: ActionInfo = ActionInfo {
    name: "security-group.isolate-instance",
    target: TargetKind::Instance,
    summary: "Swap each instance's security groups (every network interface) for one empty quarantine group per VPC, created and tagged by firedrill.",
    revert: "Restores each interface's original groups, then deletes the quarantine group.",
    one_shot: false,
    params: &[],
    permissions: &[
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:ModifyInstanceAttribute",
        "ec2:DeleteSecurityGroup",
        "ec2:DescribeNetworkInterfaces",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: &str, from: i32, to: i32, cidr: &str) -> Rule {
        Rule {
            protocol: protocol.into(),
            from_port: Some(from),
            to_port: Some(to),
            peer: Peer::Cidr(cidr.into()),
            description: None,
        }
    }

    #[test]
    fn filter_matches_ports_protocols_and_all_traffic() {
        let http = RuleFilter { protocol: Protocol::Tcp, ports: vec![PortRange { from: 80, to: 80 }] };
        assert!(http.matches(&rule("tcp", 80, 80, "0.0.0.0/0")));
        assert!(http.matches(&rule("tcp", 0, 65535, "0.0.0.0/0")));
        assert!(!http.matches(&rule("tcp", 443, 443, "0.0.0.0/0")));
        assert!(!http.matches(&rule("udp", 80, 80, "0.0.0.0/0")));
        let all = Rule { protocol: "-1".into(), from_port: None, to_port: None, ..rule("tcp", 0, 0, "10.0.0.0/8") };
        assert!(http.matches(&all), "an all-traffic rule lets HTTP through, so it must go");
        let any = RuleFilter { protocol: Protocol::All, ports: vec![PortRange { from: 53, to: 53 }] };
        assert!(any.matches(&rule("udp", 53, 53, "0.0.0.0/0")));
        assert!(!any.matches(&rule("icmp", -1, -1, "0.0.0.0/0")));
        assert!(RuleFilter::default().matches(&rule("icmp", -1, -1, "0.0.0.0/0")));
    }

    #[test]
    fn open_ingress_params_are_checked() {
        assert!(OpenIngress::default().check().is_err(), "tcp needs ports");
        let ok = OpenIngress { ports: vec![PortRange { from: 22, to: 22 }], ..Default::default() };
        assert!(ok.check().is_ok());
        assert!(OpenIngress { cidr: "0.0.0.0/33".into(), ..ok.clone() }.check().is_err());
        assert!(OpenIngress { cidr: "::/0".into(), ..ok }.check().is_ok());
    }

    #[test]
    fn port_ranges_read_and_write_as_written() {
        let ports: Vec<PortRange> = serde_json::from_str(r#"[80, "8000-8080", "22"]"#).unwrap();
        assert_eq!(
            ports,
            [PortRange { from: 80, to: 80 }, PortRange { from: 8000, to: 8080 }, PortRange { from: 22, to: 22 }]
        );
        assert_eq!(serde_json::to_string(&ports).unwrap(), r#"[80,"8000-8080",22]"#);
        assert!(serde_json::from_str::<PortRange>(r#""90-80""#).is_err());
    }

    fn group(ingress: Vec<Rule>) -> GroupState {
        GroupState {
            group_id: "sg-1".into(),
            group_name: "web".into(),
            vpc_id: Some("vpc-1".into()),
            description: "web".into(),
            ingress,
            egress: vec![Rule {
                protocol: "-1".into(),
                from_port: None,
                to_port: None,
                ..rule("tcp", 0, 0, "0.0.0.0/0")
            }],
            tags: Default::default(),
        }
    }

    fn from_lb(port: i32) -> Rule {
        let peer = Peer::Group { group_id: "sg-lb".into(), user_id: None, vpc_peering_connection_id: None };
        Rule { peer, description: Some("from the load balancer".into()), ..rule("tcp", port, port, "") }
    }

    #[test]
    fn revoke_plans_the_matching_rules_and_sees_them_gone() {
        let run = RunCtx::for_tests();
        let before = group(vec![from_lb(80), from_lb(443), rule("tcp", 22, 22, "10.0.0.0/16")]);
        let http = RuleFilter { protocol: Protocol::Tcp, ports: vec![PortRange { from: 80, to: 80 }] };
        let f = RevokeRules::ingress(&http);
        let c = f.plan(&Target::for_tests("sg-1"), &before).unwrap();
        assert_eq!(c.rules, [from_lb(80)]);
        assert_eq!(f.summarize(&c), ["remove ingress rule: tcp 80 group sg-lb \"from the load balancer\""]);
        let after = group(vec![from_lb(443), rule("tcp", 22, 22, "10.0.0.0/16")]);
        assert_eq!(f.observe(&run, &c, &after), Ok(()));
        assert!(f.observe(&run, &c, &before).unwrap_err().contains("still present"), "a stale read");
        let smtp = RuleFilter { protocol: Protocol::Tcp, ports: vec![PortRange { from: 25, to: 25 }] };
        let none = RevokeRules::ingress(&smtp).plan(&Target::for_tests("sg-1"), &before).unwrap_err();
        assert_eq!(none, "sg-1: no ingress rule matches tcp port 25: nothing to break");
        assert_eq!(
            RevokeRules::egress(&RuleFilter::default()).plan(&Target::for_tests("sg-1"), &before).unwrap().rules.len(),
            1
        );
    }

    #[test]
    fn groups_differ_rule_by_rule_and_a_description_counts() {
        let before = group(vec![from_lb(80), from_lb(443)]);
        assert!(Groups::differences(&before, &before.clone()).is_empty());
        let mut fixed_otherwise = group(vec![from_lb(443), rule("tcp", 80, 80, "0.0.0.0/0")]);
        assert_eq!(
            Groups::differences(&before, &fixed_otherwise),
            [
                "sg-1: ingress rule missing: tcp 80 group sg-lb \"from the load balancer\"",
                "sg-1: ingress rule not in snapshot: tcp 80 0.0.0.0/0",
            ]
        );
        fixed_otherwise.ingress = vec![Rule { description: Some("quick fix".into()), ..from_lb(80) }, from_lb(443)];
        assert_eq!(Groups::differences(&before, &fixed_otherwise).len(), 2, "same traffic, another description");
        let mut tagged = before.clone();
        tagged.tags.insert("Owner".into(), "team".into());
        assert_eq!(Groups::differences(&before, &tagged), ["sg-1: tags differ from snapshot"]);
    }

    #[test]
    fn open_ingress_adds_only_what_is_missing_and_sees_it_there() {
        let run = RunCtx::for_tests();
        let ssh = OpenIngress { ports: vec![PortRange { from: 22, to: 22 }], ..Default::default() };
        let before = group(vec![from_lb(80)]);
        let c = ssh.plan(&Target::for_tests("sg-1"), &before).unwrap();
        let open = Rule { description: Some("added by firedrill".into()), ..rule("tcp", 22, 22, "0.0.0.0/0") };
        assert_eq!(c.rules, std::slice::from_ref(&open));
        assert_eq!(ssh.observe(&run, &c, &group(vec![from_lb(80), open.clone()])), Ok(()));
        assert!(ssh.observe(&run, &c, &before).is_err());
        let err = ssh.plan(&Target::for_tests("sg-1"), &group(vec![open])).unwrap_err();
        assert_eq!(err, "sg-1: already open to 0.0.0.0/0 on these ports: nothing to break");
    }

    #[test]
    fn isolate_puts_every_interface_on_the_quarantine_group_only() {
        let run = RunCtx::for_tests();
        let eni = |id: &str, index, groups: &[&str]| Interface {
            eni_id: id.into(),
            device_index: index,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let before = InstanceGroups {
            instance_id: "i-1".into(),
            vpc_id: Some("vpc-1".into()),
            interfaces: vec![eni("eni-1", 0, &["sg-web"]), eni("eni-2", 1, &["sg-admin", "sg-web"])],
        };
        let f = IsolateInstance {};
        let c = f.plan(&Target::for_tests("i-1"), &before).unwrap();
        assert_eq!((c.vpc_id.as_str(), c.interfaces.len()), ("vpc-1", 2));
        assert!(f.plan(&Target::for_tests("i-1"), &InstanceGroups { vpc_id: None, ..before.clone() }).is_err());
        run.record_created(quarantine::KIND, "sg-q", "vpc-1").unwrap();
        let isolated = InstanceGroups {
            interfaces: vec![eni("eni-1", 0, &["sg-q"]), eni("eni-2", 1, &["sg-q"])],
            ..before.clone()
        };
        assert_eq!(f.observe(&run, &c, &isolated), Ok(()));
        let half = InstanceGroups {
            interfaces: vec![eni("eni-1", 0, &["sg-q"]), before.interfaces[1].clone()],
            ..before.clone()
        };
        assert!(f.observe(&run, &c, &half).unwrap_err().starts_with("eni-2 has groups [sg-admin, sg-web]"));
        assert_eq!(Interfaces::differences(&before, &half), ["i-1: eni-1 has groups [sg-q], snapshot had [sg-web]"]);
    }

    #[test]
    fn rules_round_trip_through_permissions() {
        let r = Rule { description: Some("web".into()), ..rule("tcp", 80, 80, "10.0.0.0/16") };
        assert_eq!(rules(&[r.to_permission()]), vec![r]);
    }
}
