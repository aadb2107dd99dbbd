//! The catalogue: one row per action, from which come [`Action`] (the action with its
//! params, as fault files write it and the journal stores it), [`Action::info`],
//! [`Action::parse`], [`CATALOGUE`] and [`with_fault!`]. Adding an action is its own
//! module (or section) plus one row here.

use serde::{Deserialize, Serialize};

use super::{
    ActionInfo, ParamsSource, apigateway, autoscaling, dynamodb, ecs, elbv2, iam, instance, lambda, network_acl,
    route_table, route53, s3, security_group,
};
use crate::diagnostic::Diagnostic;

/// The catalogue, one row per action: its variant and params type, the name fault files
/// call it by, its [`ActionInfo`], the [`super::Fault`] that runs it (built from the
/// params `p`), and the extras it opts into: `shared` (a [`super::Shared`]) and `batch` (a
/// [`super::Batch`]). (A row's expressions are evaluated where `with_fault!` is used: a
/// path in them starts at `crate::`.)
macro_rules! catalogue {
    ($d:tt $(
        $variant:ident($params:ty) = $name:literal, $info:path, |$p:ident| $fault:expr
        $(, shared $shared:expr)? $(, batch $batch:expr)?;
    )*) => {
        /// A fault action with its params, as written in a fault file and stored in the
        /// journal (`{"action": "<name>", "params": {..}}`).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(tag = "action", content = "params")]
        pub enum Action {
            $( #[serde(rename = $name)] $variant($params), )*
        }

        impl Action {
            /// What the catalogue says of this action.
            pub fn info(&self) -> &'static ActionInfo {
                match self {
                    $( Action::$variant(_) => &$info, )*
                }
            }

            /// Every IAM action this action, with these params, calls or needs authorized:
            /// its target kind's and its own, less what the params never need.
            pub fn permissions(&self) -> std::collections::BTreeSet<&'static str> {
                use super::Params;
                let needless: &[&str] = match self {
                    $( Action::$variant(p) => p.needless(), )*
                };
                let mut all = self.info().all_permissions();
                all.retain(|p| !needless.contains(p));
                all
            }

            /// Whether its params make sense for `target` ([`super::Params::check_target`]).
            pub fn check_target(&self, target: &crate::target::TargetSpec) -> Result<(), String> {
                use super::Params;
                match self {
                    $( Action::$variant(p) => p.check_target(target), )*
                }
            }

            /// The action named `name` with its params from `source`; `None` for a name
            /// the catalogue does not have.
            pub fn parse(name: &str, source: &impl ParamsSource) -> Option<Result<Action, Diagnostic>> {
                match name {
                    $( $name => Some(source.params::<$params>().map(Action::$variant)), )*
                    _ => None,
                }
            }
        }

        /// Every action with the JSON Schema of its params (generated from the params
        /// type, so it cannot drift from what [`Action::parse`] accepts).
        pub fn params_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static ActionInfo, schemars::Schema)> {
            vec![ $( (&$info, generator.subschema_for::<$params>()), )* ]
        }

        /// Every action, in the order `firedrill actions` lists them.
        pub static CATALOGUE: &[ActionInfo] = &[ $( $info, )* ];

        /// Run `$body` with `$f` bound to the [`super::Fault`] for `$action` (and, in the
        /// second form, `$shared` and `$batch` to its extras). A macro rather than a
        /// trait object because `Fault` has associated types and async methods.
        macro_rules! with_fault {
            ($d action:expr, |$d f:ident| $d body:expr) => {{
                match $d action {
                    $( $crate::action::Action::$variant($p) => {
                        let $d f = $fault;
                        $d body
                    } )*
                }
            }};
            ($d action:expr, |$d f:ident, $d shared:ident, $d batch:ident| $d body:expr) => {{
                match $d action {
                    $( $crate::action::Action::$variant($p) => {
                        let $d f = $fault;
                        let $d shared = $crate::action::catalogue::given_or!($($shared)?; &$crate::action::NothingShared);
                        let $d batch = $crate::action::catalogue::given_or!($($batch)?; &$crate::action::OneAtATime($d f));
                        $d body
                    } )*
                }
            }};
        }
        pub(crate) use with_fault;
    };
}

/// A row's extra if it names one, else the default.
macro_rules! given_or {
    (; $default:expr) => {
        $default
    };
    ($given:expr; $default:expr) => {
        $given
    };
}
pub(crate) use given_or;

catalogue! { $
    SgRevokeIngress(security_group::RuleFilter) = "security-group.revoke-ingress", security_group::REVOKE_INGRESS,
        |p| &crate::action::security_group::RevokeRules::ingress(p);
    SgRevokeEgress(security_group::RuleFilter) = "security-group.revoke-egress", security_group::REVOKE_EGRESS,
        |p| &crate::action::security_group::RevokeRules::egress(p);
    SgOpenIngress(security_group::OpenIngress) = "security-group.open-ingress", security_group::OPEN_INGRESS, |p| p;
    SgIsolateInstance(security_group::IsolateInstance) = "security-group.isolate-instance", security_group::ISOLATE_INSTANCE,
        |p| p, shared &crate::action::quarantine::PerVpc;
    Ec2StopInstances(instance::StopInstances) = "ec2.stop-instances", instance::STOP_INSTANCES, |p| p, batch p;
    Ec2RebootInstances(instance::RebootInstances) = "ec2.reboot-instances", instance::REBOOT_INSTANCES, |p| p;
    Ec2TerminateInstances(instance::TerminateInstances) = "ec2.terminate-instances", instance::TERMINATE_INSTANCES, |p| p;
    AclDenyAll(network_acl::DenyAll) = "network-acl.deny-all", network_acl::DENY_ALL, |p| p, shared p;
    AclDenyTraffic(network_acl::DenyTraffic) = "network-acl.deny-traffic", network_acl::DENY_TRAFFIC, |p| p;
    RouteBlackhole(route_table::Blackhole) = "route-table.blackhole", route_table::BLACKHOLE, |p| p;
    ElbDeregisterTargets(elbv2::DeregisterTargets) = "elbv2.deregister-targets", elbv2::DEREGISTER_TARGETS, |p| p;
    ElbBreakHealthCheck(elbv2::BreakHealthCheck) = "elbv2.break-health-check", elbv2::BREAK_HEALTH_CHECK, |p| p;
    ElbListenerFixedResponse(elbv2::FixedResponse) = "elbv2.listener-fixed-response", elbv2::LISTENER_FIXED_RESPONSE, |p| p;
    ElbSwapSecurityGroups(elbv2::SwapSecurityGroups) = "elbv2.swap-security-groups", elbv2::SWAP_SECURITY_GROUPS,
        |p| p, shared &crate::action::quarantine::PerVpc;
    AsgSuspendProcesses(autoscaling::SuspendProcesses) = "autoscaling.suspend-processes", autoscaling::SUSPEND_PROCESSES, |p| p;
    AsgSetCapacity(autoscaling::SetCapacity) = "autoscaling.set-capacity", autoscaling::SET_CAPACITY, |p| p;
    IamDetachPolicies(iam::DetachPolicies) = "iam.detach-policies", iam::DETACH_POLICIES, |p| p;
    IamDenyActions(iam::DenyActions) = "iam.deny-actions", iam::DENY_ACTIONS, |p| p;
    IamDisassociateProfile(iam::DisassociateProfile) = "iam.disassociate-instance-profile", iam::DISASSOCIATE_PROFILE, |p| p;
    IamBreakTrust(iam::BreakTrust) = "iam.break-trust", iam::BREAK_TRUST, |p| p;
    DnsChangeRecord(route53::ChangeRecord) = "route53.change-record", route53::CHANGE_RECORD, |p| p;
    DnsDeleteRecord(route53::DeleteRecord) = "route53.delete-record", route53::DELETE_RECORD, |p| p;
    DnsBreakHealthCheck(route53::BreakHealthCheck) = "route53.break-health-check", route53::BREAK_HEALTH_CHECK, |p| p;
    S3DenyBucketPolicy(s3::DenyBucketPolicy) = "s3.deny-bucket-policy", s3::DENY_BUCKET_POLICY, |p| p;
    LambdaThrottle(lambda::Throttle) = "lambda.throttle", lambda::THROTTLE, |p| p;
    LambdaBreakConfig(lambda::BreakConfig) = "lambda.break-config", lambda::BREAK_CONFIG, |p| p;
    LambdaRemovePermission(lambda::RemovePermission) = "lambda.remove-permission", lambda::REMOVE_PERMISSION, |p| p;
    DynamoDbLowerThroughput(dynamodb::LowerThroughput) = "dynamodb.lower-throughput", dynamodb::LOWER_THROUGHPUT, |p| p;
    EcsScaleService(ecs::ScaleService) = "ecs.scale-service", ecs::SCALE_SERVICE, |p| p;
    EcsStopTasks(ecs::StopTasks) = "ecs.stop-tasks", ecs::STOP_TASKS, |p| p;
    EcsSwapSecurityGroups(ecs::EcsSwapSecurityGroups) = "ecs.swap-security-groups", ecs::SWAP_SECURITY_GROUPS,
        |p| p, shared &crate::action::quarantine::PerVpc;
    ApiThrottleStage(apigateway::ThrottleStage) = "apigateway.throttle-stage", apigateway::THROTTLE_STAGE, |p| p;
    ApiBreakIntegration(apigateway::BreakIntegration) = "apigateway.break-integration", apigateway::BREAK_INTEGRATION, |p| p;
}

/// The catalogue's entry for the action called `name`.
pub fn find(name: &str) -> Option<&'static ActionInfo> {
    CATALOGUE.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Params;

    #[test]
    fn catalogue_names_are_unique_and_match_the_serialized_action() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        // Every row's name parses to an action whose info (and serialized tag) is itself.
        struct Defaults;
        impl ParamsSource for Defaults {
            fn params<P: Params>(&self) -> Result<P, Diagnostic> {
                Ok(P::default())
            }
        }
        for info in CATALOGUE {
            let action = Action::parse(info.name, &Defaults).expect("a row").expect("default params");
            assert_eq!(action.info().name, info.name);
            let json = serde_json::to_value(&action).unwrap();
            assert_eq!(json["action"], info.name);
        }
        assert!(Action::parse("no-such.action", &Defaults).is_none());
    }
}
