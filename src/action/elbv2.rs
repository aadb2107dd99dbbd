//! Load balancer faults (Elastic Load Balancing v2): deregister targets, break a target
//! group's health check, answer every request on a listener with a fixed 503, put a
//! load balancer behind an empty security group.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::{
    Action as LbAction, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig, Matcher, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum, TargetDescription, TargetGroupStickinessConfig,
    TargetGroupTuple,
};
use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, Human, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert, quarantine};
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

// ---------------------------------------------------------------------------------------
// Target groups

/// A registered target: an instance id, IP address or Lambda ARN, with port and zone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Registered {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// A target group's health check, every setting a revert writes back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: Option<bool>,
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub interval_seconds: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub healthy_threshold: Option<i32>,
    pub unhealthy_threshold: Option<i32>,
    pub matcher_http: Option<String>,
    pub matcher_grpc: Option<String>,
}

/// A target group's registered targets and health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupState {
    pub arn: String,
    /// Registered targets, sorted; targets draining after deregistration are not counted.
    pub targets: Vec<Registered>,
    pub health_check: HealthCheck,
}

async fn describe_target_group(aws: &Aws, arn: &str) -> Result<TargetGroupState> {
    let out = aws
        .elbv2
        .describe_target_groups()
        .target_group_arns(arn)
        .send()
        .await
        .map_err(Error::aws(format!("describe target group {arn} (elasticloadbalancing:DescribeTargetGroups)")))?;
    let tg = out.target_groups().first().ok_or_else(|| Error::Gone(format!("target group {arn} no longer exists")))?;
    let health_check = HealthCheck {
        enabled: tg.health_check_enabled(),
        protocol: tg.health_check_protocol().map(|p| p.as_str().to_owned()),
        port: tg.health_check_port().map(str::to_owned),
        path: tg.health_check_path().map(str::to_owned),
        interval_seconds: tg.health_check_interval_seconds(),
        timeout_seconds: tg.health_check_timeout_seconds(),
        healthy_threshold: tg.healthy_threshold_count(),
        unhealthy_threshold: tg.unhealthy_threshold_count(),
        matcher_http: tg.matcher().and_then(|m| m.http_code()).map(str::to_owned),
        matcher_grpc: tg.matcher().and_then(|m| m.grpc_code()).map(str::to_owned),
    };
    let health =
        aws.elbv2.describe_target_health().target_group_arn(arn).send().await.map_err(Error::aws(format!(
            "describe the targets of {arn} (elasticloadbalancing:DescribeTargetHealth)"
        )))?;
    let mut targets: Vec<Registered> = health
        .target_health_descriptions()
        .iter()
        .filter(|d| d.target_health().and_then(|h| h.state()).map(|s| s.as_str()) != Some("draining"))
        .filter_map(|d| d.target())
        .map(|t| Registered {
            id: t.id().unwrap_or_default().to_owned(),
            port: t.port(),
            availability_zone: t.availability_zone().map(str::to_owned),
        })
        .collect();
    targets.sort();
    Ok(TargetGroupState { arn: arn.to_owned(), targets, health_check })
}

fn descriptions(targets: &[Registered]) -> Vec<TargetDescription> {
    targets
        .iter()
        .map(|t| {
            TargetDescription::builder()
                .id(&t.id)
                .set_port(t.port)
                .set_availability_zone(t.availability_zone.clone())
                .build()
        })
        .collect()
}

/// A target group's registered targets and its health check: what deregistering and
/// breaking the health check change and are judged by.
pub struct TargetGroups;

impl Resource for TargetGroups {
    type State = TargetGroupState;

    async fn describe(aws: &Aws, target: &Target) -> Result<TargetGroupState> {
        describe_target_group(aws, &target.id).await
    }

    fn differences(before: &TargetGroupState, now: &TargetGroupState) -> Vec<String> {
        target_differences(before, now)
    }

    /// Deregister the targets the snapshot did not have, register those it had, and
    /// set its health check back.
    async fn reset(aws: &Aws, _target: &Target, before: &TargetGroupState, now: &TargetGroupState) -> Result<()> {
        let arn = &before.arn;
        let extra: Vec<Registered> = now.targets.iter().filter(|t| !before.targets.contains(t)).cloned().collect();
        if !extra.is_empty() {
            let call = aws.elbv2.deregister_targets().target_group_arn(arn).set_targets(Some(descriptions(&extra)));
            let doing = format!("deregister targets from {arn} (elasticloadbalancing:DeregisterTargets)");
            aws::call(call.send(), doing).await?;
        }
        let missing: Vec<Registered> = before.targets.iter().filter(|t| !now.targets.contains(t)).cloned().collect();
        if !missing.is_empty() {
            let call = aws.elbv2.register_targets().target_group_arn(arn).set_targets(Some(descriptions(&missing)));
            aws::call(call.send(), format!("register targets with {arn} (elasticloadbalancing:RegisterTargets)"))
                .await?;
        }
        if now.health_check != before.health_check {
            modify_health_check(aws, arn, &before.health_check).await?;
        }
        Ok(())
    }
}

/// `HTTP /health on traffic-port, healthy 200, every 30 s`, with its thresholds.
impl Human for HealthCheck {
    fn human(&self) -> String {
        let mut s = format!(
            "{} {} on {}, healthy {}",
            self.protocol.human(),
            self.path.as_deref().unwrap_or(""),
            self.port.human(),
            self.matcher_http.as_deref().or(self.matcher_grpc.as_deref()).unwrap_or("-")
        );
        if let Some(i) = self.interval_seconds {
            s += &format!(", every {i} s");
        }
        if let Some(t) = self.timeout_seconds {
            s += &format!(", timeout {t} s");
        }
        if let (Some(h), Some(u)) = (self.healthy_threshold, self.unhealthy_threshold) {
            s += &format!(", thresholds {h}/{u}");
        }
        if self.enabled == Some(false) {
            s += ", disabled";
        }
        s
    }
}

/// `forward to tg-1`, `fixed-response 503 "Service unavailable"`, `redirect to https:443`.
impl Human for ListenerAction {
    fn human(&self) -> String {
        match (self.kind.as_str(), &self.fixed, &self.redirect) {
            ("fixed-response", Some((code, _, body)), _) => format!("fixed-response {code} \"{}\"", body.human()),
            ("redirect", _, Some((proto, port, host, path, _, code))) => format!(
                "redirect {code} to {}:{}{}{}",
                proto.human(),
                port.human(),
                host.as_deref().map(|h| format!(" {h}")).unwrap_or_default(),
                path.as_deref().unwrap_or("")
            ),
            _ if !self.forward.is_empty() => {
                let to: Vec<String> = self.forward.iter().map(|(tg, w)| format!("{tg} weight {}", w.human())).collect();
                format!("forward to {}", to.join(", "))
            }
            _ => format!("{} to {}", self.kind, self.target_group_arn.human()),
        }
    }
}

fn target_differences(before: &TargetGroupState, now: &TargetGroupState) -> Vec<String> {
    let (b, n): (BTreeSet<&Registered>, BTreeSet<&Registered>) =
        (before.targets.iter().collect(), now.targets.iter().collect());
    let mut out: Vec<String> =
        b.difference(&n).map(|t| format!("{}: target {} not registered", before.arn, t.id)).collect();
    out.extend(n.difference(&b).map(|t| format!("{}: target {} registered, not in snapshot", before.arn, t.id)));
    if before.health_check != now.health_check {
        out.push(format!(
            "{}: health check {}, snapshot had {}",
            before.arn,
            now.health_check.human(),
            before.health_check.human()
        ));
    }
    out
}

/// `elbv2.deregister-targets`: how many targets to take out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeregisterTargets {
    /// Deregister this many targets (the first by id); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

impl Params for DeregisterTargets {
    fn check(&self) -> Result<(), String> {
        if self.count == Some(0) {
            return Err("`count` must be at least 1".into());
        }
        Ok(())
    }
}

/// The targets a deregister took out: exactly what revert registers again.
#[derive(Debug, Serialize, Deserialize)]
pub struct TargetsChange {
    pub arn: String,
    pub targets: Vec<Registered>,
}

impl Fault for DeregisterTargets {
    type On = TargetGroups;
    type Change = TargetsChange;

    fn plan(&self, target: &Target, state: &TargetGroupState) -> Result<TargetsChange, String> {
        if state.targets.is_empty() {
            return Err(format!("{}: no registered targets: nothing to break", target.label()));
        }
        let n = self.count.map_or(state.targets.len(), |c| (c as usize).min(state.targets.len()));
        Ok(TargetsChange { arn: state.arn.clone(), targets: state.targets[..n].to_vec() })
    }

    fn summarize(&self, change: &TargetsChange) -> Vec<String> {
        change.targets.iter().map(|t| format!("deregister {} (port {})", t.id, t.port.human())).collect()
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<TargetGroupState>> {
        let (change, now) = (item.change, describe_target_group(aws, &item.target.id).await?);
        let present: Vec<Registered> = change.targets.iter().filter(|t| now.targets.contains(t)).cloned().collect();
        if !present.is_empty() {
            let call =
                aws.elbv2.deregister_targets().target_group_arn(&change.arn).set_targets(Some(descriptions(&present)));
            let doing = format!("deregister targets from {} (elasticloadbalancing:DeregisterTargets)", change.arn);
            aws::call(call.send(), doing).await?;
        }
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &TargetsChange, now: &TargetGroupState) -> Result<(), String> {
        match change.targets.iter().find(|t| now.targets.contains(t)) {
            Some(t) => Err(format!("{} is still registered", t.id)),
            None => Ok(()),
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<TargetGroupState>> {
        let change = item.change;
        let missing: Vec<Registered> =
            change.targets.iter().filter(|t| !item.now.targets.contains(t)).cloned().collect();
        if !missing.is_empty() {
            let call =
                aws.elbv2.register_targets().target_group_arn(&change.arn).set_targets(Some(descriptions(&missing)));
            let doing = format!("register targets with {} (elasticloadbalancing:RegisterTargets)", change.arn);
            aws::call(call.send(), doing).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `elbv2.deregister-targets`.
pub const DEREGISTER_TARGETS: ActionInfo = ActionInfo {
    name: "elbv2.deregister-targets",
    target: TargetKind::TargetGroup,
    summary: "Deregister all (or `count`) targets from the target groups.",
    revert: "Registers each deregistered target again, with its port and availability zone.",
    one_shot: false,
    params: &[ParamInfo {
        name: "count",
        ty: "integer",
        default: "all targets",
        doc: "How many targets to deregister (the first by id).",
    }],
    permissions: &["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"],
};

/// `elbv2.break-health-check`: the path (and port, codes) that make it fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(rename = "Elbv2BreakHealthCheck")]
pub struct BreakHealthCheck {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP codes that count as healthy, e.g. "418".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
}

impl Default for BreakHealthCheck {
    fn default() -> Self {
        BreakHealthCheck { path: "/firedrill-broken".into(), port: None, matcher: None }
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

/// The health check planned for a target group.
#[derive(Debug, Serialize, Deserialize)]
pub struct HealthCheckChange {
    pub arn: String,
    pub health_check: HealthCheck,
}

async fn modify_health_check(aws: &Aws, arn: &str, hc: &HealthCheck) -> Result<()> {
    let matcher = (hc.matcher_http.is_some() || hc.matcher_grpc.is_some()).then(|| {
        Matcher::builder().set_http_code(hc.matcher_http.clone()).set_grpc_code(hc.matcher_grpc.clone()).build()
    });
    let call = aws
        .elbv2
        .modify_target_group()
        .target_group_arn(arn)
        .set_health_check_enabled(hc.enabled)
        .set_health_check_protocol(hc.protocol.as_deref().map(ProtocolEnum::from))
        .set_health_check_port(hc.port.clone())
        .set_health_check_path(hc.path.clone())
        .set_health_check_interval_seconds(hc.interval_seconds)
        .set_health_check_timeout_seconds(hc.timeout_seconds)
        .set_healthy_threshold_count(hc.healthy_threshold)
        .set_unhealthy_threshold_count(hc.unhealthy_threshold)
        .set_matcher(matcher);
    crate::aws::call(call.send(), format!("modify the health check of {arn} (elasticloadbalancing:ModifyTargetGroup)"))
        .await
}

impl Fault for BreakHealthCheck {
    type On = TargetGroups;
    type Change = HealthCheckChange;

    fn plan(&self, target: &Target, state: &TargetGroupState) -> Result<HealthCheckChange, String> {
        let mut hc = state.health_check.clone();
        if !matches!(hc.protocol.as_deref(), Some("HTTP" | "HTTPS") | None) {
            return Err(format!(
                "{}: its health check uses {}, which has no path",
                target.label(),
                hc.protocol.human()
            ));
        }
        hc.path = Some(self.path.clone());
        if let Some(p) = self.port {
            hc.port = Some(p.to_string());
        }
        if let Some(m) = &self.matcher {
            hc.matcher_http = Some(m.clone());
        }
        if hc == state.health_check {
            return Err(format!("{}: its health check is already so: nothing to break", target.label()));
        }
        Ok(HealthCheckChange { arn: state.arn.clone(), health_check: hc })
    }

    fn summarize(&self, change: &HealthCheckChange) -> Vec<String> {
        let hc = &change.health_check;
        vec![format!(
            "health check path {}, port {}, healthy codes {}",
            hc.path.as_deref().unwrap_or("-"),
            hc.port.as_deref().unwrap_or("-"),
            hc.matcher_http.as_deref().unwrap_or("-")
        )]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<TargetGroupState>> {
        modify_health_check(aws, &item.change.arn, &item.change.health_check).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &HealthCheckChange, now: &TargetGroupState) -> Result<(), String> {
        if now.health_check == change.health_check {
            Ok(())
        } else {
            Err(format!("health check is {} after the change", now.health_check.human()))
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<TargetGroupState>> {
        let before = item.before;
        if item.now.health_check != before.health_check {
            modify_health_check(aws, &before.arn, &before.health_check).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `elbv2.break-health-check`.
pub const BREAK_HEALTH_CHECK: ActionInfo = ActionInfo {
    name: "elbv2.break-health-check",
    target: TargetKind::TargetGroup,
    summary: "Change the target groups' health-check path (and optionally port and healthy codes) so healthy targets fail it.",
    revert: "Restores every health-check setting from the snapshot.",
    one_shot: false,
    params: &[
        ParamInfo { name: "path", ty: "string", default: "/firedrill-broken", doc: "Health-check path." },
        ParamInfo { name: "port", ty: "integer", default: "unchanged", doc: "Health-check port." },
        ParamInfo {
            name: "matcher",
            ty: "string",
            default: "unchanged",
            doc: "HTTP codes that count as healthy, e.g. \"418\".",
        },
    ],
    permissions: &["elasticloadbalancing:ModifyTargetGroup"],
};

// ---------------------------------------------------------------------------------------
// Listeners

/// A listener action, in a form that can be written back exactly. Action types firedrill
/// cannot rebuild exactly (authenticate-*) make `plan` refuse the listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerAction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// forward: (target group ARN, weight) pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward: Vec<(String, Option<i32>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<(bool, Option<i32>)>,
    /// fixed-response: (status code, content type, body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<(String, Option<String>, Option<String>)>,
    /// redirect: (protocol, port, host, path, query, status code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(clippy::type_complexity)]
    pub redirect: Option<(Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, String)>,
}

impl ListenerAction {
    fn from_sdk(a: &LbAction) -> Self {
        let forward = a.forward_config();
        ListenerAction {
            kind: a.r#type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
            order: a.order(),
            target_group_arn: a.target_group_arn().map(str::to_owned),
            forward: forward
                .map(|f| {
                    f.target_groups()
                        .iter()
                        .map(|t| (t.target_group_arn().unwrap_or_default().to_owned(), t.weight()))
                        .collect()
                })
                .unwrap_or_default(),
            stickiness: forward
                .and_then(|f| f.target_group_stickiness_config())
                .map(|s| (s.enabled().unwrap_or(false), s.duration_seconds())),
            fixed: a.fixed_response_config().map(|f| {
                (
                    f.status_code().unwrap_or_default().to_owned(),
                    f.content_type().map(str::to_owned),
                    f.message_body().map(str::to_owned),
                )
            }),
            redirect: a.redirect_config().map(|r| {
                (
                    r.protocol().map(str::to_owned),
                    r.port().map(str::to_owned),
                    r.host().map(str::to_owned),
                    r.path().map(str::to_owned),
                    r.query().map(str::to_owned),
                    r.status_code().map(|c| c.as_str().to_owned()).unwrap_or_default(),
                )
            }),
        }
    }

    fn to_sdk(&self) -> LbAction {
        let mut b = LbAction::builder()
            .r#type(ActionTypeEnum::from(self.kind.as_str()))
            .set_order(self.order)
            .set_target_group_arn(self.target_group_arn.clone());
        if !self.forward.is_empty() {
            let tgs = self
                .forward
                .iter()
                .map(|(arn, w)| TargetGroupTuple::builder().target_group_arn(arn).set_weight(*w).build());
            let stick = self
                .stickiness
                .map(|(e, d)| TargetGroupStickinessConfig::builder().enabled(e).set_duration_seconds(d).build());
            b = b.forward_config(
                ForwardActionConfig::builder()
                    .set_target_groups(Some(tgs.collect()))
                    .set_target_group_stickiness_config(stick)
                    .build(),
            );
        }
        if let Some((code, ct, body)) = &self.fixed {
            let f = FixedResponseActionConfig::builder()
                .status_code(code)
                .set_content_type(ct.clone())
                .set_message_body(body.clone());
            b = b.fixed_response_config(f.build());
        }
        if let Some((proto, port, host, path, query, code)) = &self.redirect {
            let r = RedirectActionConfig::builder()
                .set_protocol(proto.clone())
                .set_port(port.clone())
                .set_host(host.clone())
                .set_path(path.clone())
                .set_query(query.clone())
                .status_code(RedirectActionStatusCodeEnum::from(code.as_str()));
            b = b.redirect_config(r.build());
        }
        b.build()
    }
}

/// A listener's default actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerState {
    pub arn: String,
    pub default_actions: Vec<ListenerAction>,
}

/// `elbv2.listener-fixed-response`: the response every request gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FixedResponse {
    pub status_code: u16,
    pub message: String,
}

impl Default for FixedResponse {
    fn default() -> Self {
        FixedResponse { status_code: 503, message: "Service unavailable".into() }
    }
}

impl Params for FixedResponse {
    fn check(&self) -> Result<(), String> {
        if !(200..=599).contains(&self.status_code) {
            return Err(format!("`status_code` must be 2XX, 4XX or 5XX, not {}", self.status_code));
        }
        Ok(())
    }
}

/// The default actions planned for a listener.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListenerChange {
    pub arn: String,
    pub default_actions: Vec<ListenerAction>,
}

async fn modify_listener(aws: &Aws, arn: &str, actions: &[ListenerAction]) -> Result<()> {
    let call = aws
        .elbv2
        .modify_listener()
        .listener_arn(arn)
        .set_default_actions(Some(actions.iter().map(ListenerAction::to_sdk).collect()));
    crate::aws::call(call.send(), format!("set the default actions of {arn} (elasticloadbalancing:ModifyListener)"))
        .await
}

/// A listener's default actions: what the fixed response changes and is judged by.
pub struct Listeners;

impl Resource for Listeners {
    type State = ListenerState;

    async fn describe(aws: &Aws, target: &Target) -> Result<ListenerState> {
        let out =
            aws.elbv2.describe_listeners().listener_arns(&target.id).send().await.map_err(Error::aws(format!(
                "describe listener {} (elasticloadbalancing:DescribeListeners)",
                target.id
            )))?;
        let l =
            out.listeners().first().ok_or_else(|| Error::Gone(format!("listener {} no longer exists", target.id)))?;
        Ok(ListenerState {
            arn: target.id.clone(),
            default_actions: l.default_actions().iter().map(ListenerAction::from_sdk).collect(),
        })
    }

    fn differences(before: &ListenerState, now: &ListenerState) -> Vec<String> {
        super::compare(&before.arn, "default actions", &before.default_actions, &now.default_actions)
    }
}

impl Fault for FixedResponse {
    type On = Listeners;
    type Change = ListenerChange;

    fn plan(&self, target: &Target, state: &ListenerState) -> Result<ListenerChange, String> {
        if let Some(a) =
            state.default_actions.iter().find(|a| !matches!(a.kind.as_str(), "forward" | "fixed-response" | "redirect"))
        {
            return Err(format!(
                "{}: its default action `{}` cannot be restored exactly by firedrill; refusing",
                target.label(),
                a.kind
            ));
        }
        let fixed = ListenerAction {
            kind: "fixed-response".into(),
            order: None,
            target_group_arn: None,
            forward: Vec::new(),
            stickiness: None,
            fixed: Some((self.status_code.to_string(), Some("text/plain".into()), Some(self.message.clone()))),
            redirect: None,
        };
        Ok(ListenerChange { arn: state.arn.clone(), default_actions: vec![fixed] })
    }

    fn summarize(&self, _change: &ListenerChange) -> Vec<String> {
        vec![format!("answer every request with {} \"{}\"", self.status_code, self.message)]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<ListenerState>> {
        modify_listener(aws, &item.change.arn, &item.change.default_actions).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &ListenerChange, now: &ListenerState) -> Result<(), String> {
        let fixed: Vec<_> = now.default_actions.iter().map(|a| &a.fixed).collect();
        if fixed == change.default_actions.iter().map(|a| &a.fixed).collect::<Vec<_>>() {
            Ok(())
        } else {
            Err(format!("default actions are {} after the change", now.default_actions.human()))
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<ListenerState>> {
        let before = item.before;
        if item.now.default_actions != before.default_actions {
            modify_listener(aws, &before.arn, &before.default_actions).await?;
        }
        Ok(None)
    }
}

/// The catalogue's entry for `elbv2.listener-fixed-response`.
pub const LISTENER_FIXED_RESPONSE: ActionInfo = ActionInfo {
    name: "elbv2.listener-fixed-response",
    target: TargetKind::Listener,
    summary: "Replace the listeners' default actions with a fixed response (default 503). Select listeners by ARN or tag, or by load balancer `names` and `port`.",
    revert: "Restores the exact default actions (forward with weights and stickiness, redirect, fixed response).",
    one_shot: false,
    params: &[
        ParamInfo { name: "status_code", ty: "integer", default: "503", doc: "Status of the fixed response." },
        ParamInfo { name: "message", ty: "string", default: "Service unavailable", doc: "Body of the fixed response." },
    ],
    permissions: &["elasticloadbalancing:ModifyListener"],
};

// ---------------------------------------------------------------------------------------
// Load balancers

/// `elbv2.swap-security-groups`: no params.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwapSecurityGroups {}

impl Params for SwapSecurityGroups {}

/// A load balancer's security groups, and its VPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerGroups {
    pub arn: String,
    pub vpc_id: String,
    pub security_groups: Vec<String>,
}

/// A swap: the load balancer, and the VPC whose quarantine group it goes on.
#[derive(Debug, Serialize, Deserialize)]
pub struct SwapChange {
    pub arn: String,
    pub vpc_id: String,
}

async fn set_lb_groups(aws: &Aws, arn: &str, groups: Vec<String>) -> Result<()> {
    let call = aws.elbv2.set_security_groups().load_balancer_arn(arn).set_security_groups(Some(groups));
    aws::call(call.send(), format!("set the security groups of {arn} (elasticloadbalancing:SetSecurityGroups)")).await
}

/// A load balancer's security groups: what the swap changes and is judged by.
pub struct LoadBalancers;

impl Resource for LoadBalancers {
    type State = LoadBalancerGroups;

    async fn describe(aws: &Aws, target: &Target) -> Result<LoadBalancerGroups> {
        let out = aws
            .elbv2
            .describe_load_balancers()
            .load_balancer_arns(&target.id)
            .send()
            .await
            .map_err(Error::aws(format!("describe {} (elasticloadbalancing:DescribeLoadBalancers)", target.id)))?;
        let lb = out
            .load_balancers()
            .first()
            .ok_or_else(|| Error::Gone(format!("load balancer {} no longer exists", target.id)))?;
        let mut security_groups = lb.security_groups().to_vec();
        security_groups.sort();
        Ok(LoadBalancerGroups {
            arn: target.id.clone(),
            vpc_id: lb.vpc_id().unwrap_or_default().to_owned(),
            security_groups,
        })
    }

    fn differences(before: &LoadBalancerGroups, now: &LoadBalancerGroups) -> Vec<String> {
        super::compare(&before.arn, "security groups", &before.security_groups, &now.security_groups)
    }
}

impl Fault for SwapSecurityGroups {
    type On = LoadBalancers;
    type Change = SwapChange;

    fn plan(&self, target: &Target, state: &LoadBalancerGroups) -> Result<SwapChange, String> {
        if state.security_groups.is_empty() {
            return Err(format!(
                "{}: has no security groups (a network load balancer without them?): nothing to swap",
                target.label()
            ));
        }
        Ok(SwapChange { arn: state.arn.clone(), vpc_id: state.vpc_id.clone() })
    }

    fn summarize(&self, change: &SwapChange) -> Vec<String> {
        vec![format!("replace its security groups with a new empty quarantine group in {}", change.vpc_id)]
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<LoadBalancerGroups>> {
        let q = quarantine::ensure(aws, run, &item.change.vpc_id).await?;
        set_lb_groups(aws, &item.change.arn, vec![q]).await?;
        Ok(None)
    }

    fn observe(&self, run: &RunCtx, change: &SwapChange, now: &LoadBalancerGroups) -> Result<(), String> {
        let q = run.created_in(quarantine::KIND, &change.vpc_id).unwrap_or_default();
        if now.security_groups == [q.clone()] {
            Ok(())
        } else {
            Err(format!("groups are [{}], not only the quarantine group {q}", now.security_groups.join(", ")))
        }
    }

    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<LoadBalancerGroups>> {
        let before = item.before;
        if item.now.security_groups != before.security_groups {
            set_lb_groups(aws, &before.arn, before.security_groups.clone()).await?;
        }
        Ok(None)
    }
}

impl quarantine::InVpc for SwapChange {
    fn vpc(&self) -> &str {
        &self.vpc_id
    }
}

/// The catalogue's entry for `elbv2.swap-security-groups`.
pub const SWAP_SECURITY_GROUPS: ActionInfo = ActionInfo {
    name: "elbv2.swap-security-groups",
    target: TargetKind::LoadBalancer,
    summary: "Replace the load balancers' security groups with one empty quarantine group per VPC, created and tagged by firedrill.",
    revert: "Restores the original list of groups, then deletes the quarantine group.",
    one_shot: false,
    params: &[],
    permissions: &[
        "elasticloadbalancing:SetSecurityGroups",
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
        "ec2:DescribeNetworkInterfaces",
    ],
};

/// The pure parts, on hand-written states.
#[cfg(test)]
mod tests {
    use super::*;

    fn registered(id: &str) -> Registered {
        Registered { id: id.into(), port: Some(80), availability_zone: None }
    }

    fn health_check(path: &str) -> HealthCheck {
        HealthCheck {
            enabled: Some(true),
            protocol: Some("HTTP".into()),
            port: Some("traffic-port".into()),
            path: Some(path.into()),
            interval_seconds: Some(30),
            timeout_seconds: Some(5),
            healthy_threshold: Some(5),
            unhealthy_threshold: Some(2),
            matcher_http: Some("200".into()),
            matcher_grpc: None,
        }
    }

    fn group(targets: &[&str], path: &str) -> TargetGroupState {
        TargetGroupState {
            arn: "tg-1".into(),
            targets: targets.iter().map(|t| registered(t)).collect(),
            health_check: health_check(path),
        }
    }

    #[test]
    fn deregister_takes_count_targets_and_sees_them_gone() {
        let run = RunCtx::for_tests();
        let before = group(&["i-1", "i-2"], "/health");
        let one = DeregisterTargets { count: Some(1) };
        let c = one.plan(&Target::for_tests("tg-1"), &before).unwrap();
        assert_eq!(c.targets, [registered("i-1")]);
        assert_eq!(one.observe(&run, &c, &group(&["i-2"], "/health")), Ok(()));
        assert!(one.observe(&run, &c, &before).is_err());
        assert_eq!(DeregisterTargets::default().plan(&Target::for_tests("tg-1"), &before).unwrap().targets.len(), 2);
        assert!(one.plan(&Target::for_tests("tg-1"), &group(&[], "/health")).unwrap_err().contains("nothing to break"));
        assert_eq!(
            TargetGroups::differences(&before, &group(&["i-2"], "/health")),
            ["tg-1: target i-1 not registered"]
        );
    }

    #[test]
    fn break_health_check_changes_the_path_and_is_judged_on_the_whole_check() {
        let run = RunCtx::for_tests();
        let before = group(&["i-1"], "/health");
        let f = BreakHealthCheck::default();
        let c = f.plan(&Target::for_tests("tg-1"), &before).unwrap();
        assert_eq!(c.health_check.path.as_deref(), Some("/firedrill-broken"));
        assert_eq!(f.observe(&run, &c, &group(&["i-1"], "/firedrill-broken")), Ok(()));
        assert!(f.observe(&run, &c, &before).is_err());
        assert!(f.plan(&Target::for_tests("tg-1"), &group(&["i-1"], "/firedrill-broken")).is_err(), "already so");
        assert_eq!(TargetGroups::differences(&before, &group(&["i-1"], "/other")).len(), 1);
    }

    #[test]
    fn fixed_response_refuses_actions_it_cannot_restore() {
        let run = RunCtx::for_tests();
        let forward = ListenerAction {
            kind: "forward".into(),
            order: None,
            target_group_arn: Some("tg-1".into()),
            forward: Vec::new(),
            stickiness: None,
            fixed: None,
            redirect: None,
        };
        let before = ListenerState { arn: "l-1".into(), default_actions: vec![forward.clone()] };
        let f = FixedResponse::default();
        let c = f.plan(&Target::for_tests("l-1"), &before).unwrap();
        assert_eq!(
            f.observe(&run, &c, &ListenerState { arn: "l-1".into(), default_actions: c.default_actions.clone() }),
            Ok(())
        );
        assert!(f.observe(&run, &c, &before).is_err());
        let cognito = ListenerState {
            default_actions: vec![ListenerAction { kind: "authenticate-cognito".into(), ..forward }],
            ..before.clone()
        };
        assert!(f.plan(&Target::for_tests("l-1"), &cognito).unwrap_err().contains("cannot be restored exactly"));
        assert_eq!(Listeners::differences(&before, &cognito).len(), 1);
    }

    #[test]
    fn swap_puts_the_load_balancer_on_the_quarantine_group_only() {
        let run = RunCtx::for_tests();
        let before =
            LoadBalancerGroups { arn: "lb-1".into(), vpc_id: "vpc-1".into(), security_groups: vec!["sg-lb".into()] };
        let f = SwapSecurityGroups {};
        let c = f.plan(&Target::for_tests("lb-1"), &before).unwrap();
        run.record_created(quarantine::KIND, "sg-q", "vpc-1").unwrap();
        let swapped = LoadBalancerGroups { security_groups: vec!["sg-q".into()], ..before.clone() };
        assert_eq!(f.observe(&run, &c, &swapped), Ok(()));
        assert!(f.observe(&run, &c, &before).is_err());
        let none = LoadBalancerGroups { security_groups: vec![], ..before.clone() };
        assert!(f.plan(&Target::for_tests("lb-1"), &none).unwrap_err().contains("nothing to swap"));
        assert_eq!(LoadBalancers::differences(&before, &swapped).len(), 1);
    }
}
