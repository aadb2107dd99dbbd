//! Which resources a fault breaks: the selector from the fault file, the resolved
//! [`Target`]s, and the random pick (`count` / `percent`, optionally `seed`ed).
//!
//! Listing candidates is the service adapter's job ([`crate::aws`]); picking among them
//! and the guardrails are the executor's. The pick uses its own small PRNG (SplitMix64)
//! over candidates sorted by id, so a `seed` picks the same targets on every firedrill
//! version and platform — a general-purpose RNG crate does not promise that.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What kind of AWS resource an action's targets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    SecurityGroup,
    Instance,
    Subnet,
    /// The network ACLs of the selected subnets (each ACL once).
    NetworkAcl,
    /// The route tables of the selected subnets (each table once).
    RouteTable,
    /// IAM roles, by name/tag, or `via: instances` (their instance profiles' roles).
    Role,
    /// Route 53 record sets, in `zone`, by name, `type`, `set_identifier`.
    Record,
    HealthCheck,
    TargetGroup,
    /// Listeners, by ARN or tag, or of load balancers selected by `names` (and `port`).
    Listener,
    LoadBalancer,
    AutoScalingGroup,
    /// S3 buckets of the command's region, by name or tag.
    Bucket,
    /// Lambda functions, by name or tag.
    Function,
    /// DynamoDB tables, by name or tag.
    Table,
    /// ECS services (any cluster), by ARN, name or tag.
    EcsService,
    /// API Gateway REST API stages: id `API-ID/STAGE`, name `API-NAME/STAGE`, the API's
    /// tags with the stage's over them.
    ApiStage,
}

impl TargetKind {
    /// The IAM actions that find, describe and hold a target of this kind, whatever the
    /// action does to it: its listing and description, and its hold tags written and
    /// removed (`executor::holds`). An action's own calls are its [`crate::action::ActionInfo::permissions`].
    pub fn permissions(self) -> &'static [&'static str] {
        const EC2_TAGS: [&str; 2] = ["ec2:CreateTags", "ec2:DeleteTags"];
        const ELB_TAGS: [&str; 3] =
            ["elasticloadbalancing:DescribeTags", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"];
        match self {
            TargetKind::SecurityGroup => &["ec2:DescribeSecurityGroups", EC2_TAGS[0], EC2_TAGS[1]],
            TargetKind::Instance => &["ec2:DescribeInstances", EC2_TAGS[0], EC2_TAGS[1]],
            TargetKind::Subnet => &["ec2:DescribeSubnets", "ec2:DescribeNetworkAcls", EC2_TAGS[0], EC2_TAGS[1]],
            TargetKind::NetworkAcl => &["ec2:DescribeSubnets", "ec2:DescribeNetworkAcls", EC2_TAGS[0], EC2_TAGS[1]],
            TargetKind::RouteTable => &["ec2:DescribeSubnets", "ec2:DescribeRouteTables", EC2_TAGS[0], EC2_TAGS[1]],
            TargetKind::Role => &[
                "iam:ListRoles",
                "iam:ListRoleTags",
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:TagRole",
                "iam:UntagRole",
            ],
            TargetKind::Record => &["route53:ListHostedZones", "route53:ListResourceRecordSets"],
            TargetKind::HealthCheck => &[
                "route53:ListHealthChecks",
                "route53:GetHealthCheck",
                "route53:ListTagsForResource",
                "route53:ListTagsForResources",
                "route53:ChangeTagsForResource",
            ],
            TargetKind::TargetGroup => &[
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                ELB_TAGS[0],
                ELB_TAGS[1],
                ELB_TAGS[2],
            ],
            TargetKind::Listener => &[
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeListeners",
                ELB_TAGS[0],
                ELB_TAGS[1],
                ELB_TAGS[2],
            ],
            TargetKind::LoadBalancer => {
                &["elasticloadbalancing:DescribeLoadBalancers", ELB_TAGS[0], ELB_TAGS[1], ELB_TAGS[2]]
            }
            TargetKind::AutoScalingGroup => {
                &["autoscaling:DescribeAutoScalingGroups", "autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"]
            }
            // Held in the store only: a bucket's tags are one set, replaced whole, so a
            // hold tag could not be added without racing another writer.
            TargetKind::Bucket => &["s3:ListAllMyBuckets", "s3:GetBucketTagging"],
            // Held in the store only, as buckets (a hold tag on these would be one more
            // call and permission per target for nothing the store's lock lacks).
            TargetKind::Function => &["lambda:ListFunctions", "lambda:ListTags"],
            TargetKind::Table => &["dynamodb:ListTables", "dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"],
            TargetKind::EcsService => &["ecs:ListClusters", "ecs:ListServices", "ecs:DescribeServices"],
            TargetKind::ApiStage => &["apigateway:GET"],
        }
    }

    /// The names a target's id is unique among: kinds that are views of the same
    /// resources share one (a subnet's ACL and route table are EC2's ids), so two runs
    /// on one resource are seen to collide; a function and a table of the same name do
    /// not.
    pub fn namespace(self) -> &'static str {
        use TargetKind as K;
        match self {
            K::SecurityGroup | K::Instance | K::Subnet | K::NetworkAcl | K::RouteTable => "ec2",
            K::Role => "iam",
            K::Record | K::HealthCheck => "route53",
            K::TargetGroup | K::Listener | K::LoadBalancer => "elasticloadbalancing",
            K::AutoScalingGroup => "autoscaling",
            K::Bucket => "s3",
            K::Function => "lambda",
            K::Table => "dynamodb",
            K::EcsService => "ecs",
            K::ApiStage => "apigateway",
        }
    }

    /// Whether the service is global (IAM, Route 53): a resource of this kind is the same
    /// in every region of its account.
    pub fn is_global(self) -> bool {
        matches!(self, TargetKind::Role | TargetKind::Record | TargetKind::HealthCheck)
    }

    /// Whether resources of this kind live in a VPC that their listing names, so that a
    /// selector can pin one (`vpc:`) and guardrails can allow some.
    pub fn in_vpc(self) -> bool {
        use TargetKind as K;
        matches!(
            self,
            K::SecurityGroup
                | K::Instance
                | K::Subnet
                | K::NetworkAcl
                | K::RouteTable
                | K::TargetGroup
                | K::Listener
                | K::LoadBalancer
        )
    }

    /// How long after a change AWS's reads of this kind may still show the state before
    /// it, at most: what firedrill waits, describing again, to see a change take effect
    /// or a restore land. EC2, ELB and Auto Scaling a minute; IAM two (its changes
    /// propagate); Route 53 two, the time a change takes to be `INSYNC`.
    ///
    /// `FIREDRILL_CONSISTENCY` (a duration such as `2s`) sets one window for every
    /// service instead: for an endpoint whose lag is known (the test harness's AWS-like
    /// proxy lags 0.3 s).
    pub fn consistency(self) -> Duration {
        static OVERRIDE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
        let set = OVERRIDE.get_or_init(|| {
            let text = std::env::var("FIREDRILL_CONSISTENCY").ok()?;
            crate::duration::parse_offset(&text).map_err(|e| tracing::warn!("FIREDRILL_CONSISTENCY ignored: {e}")).ok()
        });
        if let Some(window) = set {
            return *window;
        }
        match self {
            TargetKind::Role | TargetKind::Record | TargetKind::HealthCheck => Duration::from_secs(120),
            _ => Duration::from_secs(60),
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::SecurityGroup => "security group",
            TargetKind::Instance => "instance",
            TargetKind::Subnet => "subnet",
            TargetKind::NetworkAcl => "network ACL (of the selected subnets)",
            TargetKind::RouteTable => "route table (of the selected subnets)",
            TargetKind::Role => "IAM role",
            TargetKind::Record => "Route 53 record set",
            TargetKind::HealthCheck => "Route 53 health check",
            TargetKind::TargetGroup => "target group",
            TargetKind::Listener => "listener",
            TargetKind::LoadBalancer => "load balancer",
            TargetKind::AutoScalingGroup => "auto scaling group",
            TargetKind::Bucket => "S3 bucket",
            TargetKind::Function => "Lambda function",
            TargetKind::Table => "DynamoDB table",
            TargetKind::EcsService => "ECS service",
            TargetKind::ApiStage => "REST API stage",
        })
    }
}

/// For role targets: select these resources, then take their roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    Instances,
}

impl Via {
    /// The IAM actions that following `via` calls: the instances, their profiles.
    pub fn permissions(self) -> &'static [&'static str] {
        match self {
            Via::Instances => &["ec2:DescribeInstances", "iam:GetInstanceProfile"],
        }
    }
}

/// How many of the matching resources to break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Pick {
    All,
    Count(u32),
    Percent(u32),
}

/// The `target:` block of a fault file, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub pick: Pick,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Route 53: the hosted zone, by name (`example.com`) or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Route 53: the record type (`A`, `CNAME`, ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// Route 53: the set identifier of a weighted, failover or latency record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    /// IAM roles: select instances instead, and take their instance profiles' roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// Listeners: only those on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Only resources in this VPC (kinds that live in one: see [`TargetKind::in_vpc`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
}

impl TargetSpec {
    /// A selector for `ids`, with every other criterion empty.
    pub fn ids(ids: Vec<String>) -> TargetSpec {
        TargetSpec {
            ids,
            names: Vec::new(),
            tags: BTreeMap::new(),
            pick: Pick::All,
            seed: None,
            zone: None,
            record_type: None,
            set_identifier: None,
            via: None,
            port: None,
            vpc: None,
        }
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.ids.is_empty() {
            parts.push(format!("ids {}", self.ids.join(", ")));
        }
        if !self.names.is_empty() {
            parts.push(format!("names {}", self.names.join(", ")));
        }
        if !self.tags.is_empty() {
            let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("tags {}", tags.join(", ")));
        }
        if let Some(z) = &self.zone {
            parts.push(format!("zone {z}"));
        }
        if let Some(t) = &self.record_type {
            parts.push(format!("type {t}"));
        }
        if let Some(s) = &self.set_identifier {
            parts.push(format!("set identifier {s}"));
        }
        if let Some(p) = &self.port {
            parts.push(format!("port {p}"));
        }
        if let Some(v) = &self.vpc {
            parts.push(format!("in {v}"));
        }
        let via = if self.via.is_some() { " (via instances)" } else { "" };
        write!(f, "{}{via}", parts.join(" and "))
    }
}

/// One resolved resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Target {
    pub id: String,
    /// The group name for security groups, the `Name` tag for instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The VPC it is in, for kinds that live in one: `plan` shows it, a selector and the
    /// guardrails can pin it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
}

impl Target {
    /// Whether the resource matches every criterion of the selector.
    pub fn matches(&self, spec: &TargetSpec) -> bool {
        (spec.ids.is_empty() || spec.ids.contains(&self.id))
            && (spec.names.is_empty() || self.name.as_ref().is_some_and(|n| spec.names.contains(n)))
            && spec.tags.iter().all(|(k, v)| self.tags.get(k) == Some(v))
            && spec.vpc.as_ref().is_none_or(|v| self.vpc.as_ref() == Some(v))
    }

    /// Its label, and where it is: `sg-1 (web) in vpc-1`.
    pub fn label_where(&self) -> String {
        match &self.vpc {
            Some(vpc) => format!("{} in {vpc}", self.label()),
            None => self.label(),
        }
    }

    /// The target's id, with its name if it has one.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name})", self.id),
            None => self.id.clone(),
        }
    }

    /// A target with only an id, for unit tests of the faults' pure parts.
    #[cfg(test)]
    pub fn for_tests(id: &str) -> Target {
        Target { id: id.into(), name: None, tags: Default::default(), vpc: None }
    }
}

/// How many of `n` candidates a pick takes.
pub fn pick_size(pick: Pick, n: usize) -> usize {
    match pick {
        Pick::All => n,
        Pick::Count(c) => (c as usize).min(n),
        // Round up: "50% of 3" breaks 2, and any percent of a non-empty set breaks one.
        Pick::Percent(p) => (n * p as usize).div_ceil(100).min(n),
    }
}

/// Pick targets from `candidates`, repeatably for a given `seed`. Returns them sorted by id.
pub fn pick(mut candidates: Vec<Target>, pick: Pick, seed: u64) -> Vec<Target> {
    candidates.sort_by(|a, b| a.id.cmp(&b.id));
    candidates.dedup_by(|a, b| a.id == b.id);
    let k = pick_size(pick, candidates.len());
    if k < candidates.len() {
        // Partial Fisher-Yates: the first k slots become a uniform random k-subset.
        let mut rng = SplitMix64(seed);
        for i in 0..k {
            let j = i + (rng.next_u64() % (candidates.len() - i) as u64) as usize;
            candidates.swap(i, j);
        }
        candidates.truncate(k);
        candidates.sort_by(|a, b| a.id.cmp(&b.id));
    }
    candidates
}

/// A seed for runs whose fault file gives none; recorded in the journal so the pick can
/// be reproduced.
pub fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

/// SplitMix64: small, fast, and the same sequence everywhere (picks, schedule draws).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// A float in [0, 1), from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next number of the seeded generator.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: usize) -> Vec<Target> {
        (0..n).map(|i| Target { id: format!("sg-{i:03}"), ..Target::default() }).collect()
    }

    #[test]
    fn sizes_round_up_and_clamp() {
        assert_eq!(pick_size(Pick::All, 7), 7);
        assert_eq!(pick_size(Pick::Count(3), 7), 3);
        assert_eq!(pick_size(Pick::Count(30), 7), 7);
        assert_eq!(pick_size(Pick::Percent(50), 3), 2);
        assert_eq!(pick_size(Pick::Percent(1), 3), 1);
        assert_eq!(pick_size(Pick::Percent(100), 3), 3);
        assert_eq!(pick_size(Pick::Percent(50), 0), 0);
    }

    #[test]
    fn same_seed_same_pick_regardless_of_input_order() {
        let a = pick(targets(20), Pick::Count(5), 7);
        let mut shuffled = targets(20);
        shuffled.reverse();
        let b = pick(shuffled, Pick::Count(5), 7);
        assert_eq!(a, b);
        assert_eq!(a.len(), 5);
        // Pinned: a seed must keep picking the same targets across firedrill versions.
        let ids: Vec<&str> = a.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, PINNED_SEED_7);
    }

    const PINNED_SEED_7: [&str; 5] = ["sg-002", "sg-003", "sg-007", "sg-014", "sg-015"];

    #[test]
    fn different_seeds_spread_over_candidates() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            for t in pick(targets(10), Pick::Count(1), seed) {
                seen.insert(t.id);
            }
        }
        assert_eq!(seen.len(), 10, "every candidate should be picked by some seed");
    }

    #[test]
    fn matching_requires_every_criterion() {
        let t = Target {
            id: "sg-1".into(),
            name: Some("web".into()),
            tags: [("Tier".to_string(), "web".to_string())].into(),
            vpc: Some("vpc-1".into()),
        };
        let mut spec = TargetSpec::ids(vec![]);
        spec.tags.insert("Tier".into(), "web".into());
        assert!(t.matches(&spec));
        spec.vpc = Some("vpc-1".into());
        assert!(t.matches(&spec));
        spec.vpc = Some("vpc-2".into());
        assert!(!t.matches(&spec), "a group of the same name and tags in another VPC");
        spec.vpc = None;
        spec.names.push("db".into());
        assert!(!t.matches(&spec));
    }
}
