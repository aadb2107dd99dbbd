//! API Gateway (REST APIs): `apigateway.throttle-stage` — a stage's throttling (for every
//! method, `*/*`, or one) lowered to a few requests a second, so clients get 429 Too
//! Many Requests. The snapshot is the stage's method settings' throttling, key by key;
//! revert puts the changed key's rate and burst back, or removes the key when the stage
//! had none (the stage then falls back to the account's limits, as before).

use std::collections::BTreeMap;

use aws_sdk_apigateway::error::ProvideErrorMetadata;
use aws_sdk_apigateway::types::{Op, PatchOperation};
use serde::{Deserialize, Serialize};

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// One method setting's throttling: requests a second, and the burst.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    pub rate: f64,
    pub burst: i32,
}

/// A stage's throttling, by method-settings key (`*/*`, `~1orders/GET`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageThrottling {
    pub api: String,
    pub stage: String,
    #[serde(default)]
    pub settings: BTreeMap<String, Throttling>,
}

/// A stage's method settings: what `apigateway.throttle-stage` changes. The target's id
/// is `API-ID/STAGE` (`crate::aws::apigateway`).
pub struct Stages;

impl Resource for Stages {
    type State = StageThrottling;

    async fn describe(aws: &Aws, target: &Target) -> Result<StageThrottling> {
        let (api, stage) = crate::aws::apigateway::split(&target.id)?;
        let out = match aws.apigateway.get_stage().rest_api_id(api).stage_name(stage).send().await {
            Ok(out) => out,
            Err(e) if e.code() == Some("NotFoundException") => {
                return Err(Error::Gone(format!("REST API {api} has no stage {stage} any more")));
            }
            Err(e) => return Err(Error::aws(format!("read stage {stage} of REST API {api} (apigateway:GET)"))(e)),
        };
        Ok(StageThrottling {
            api: api.to_owned(),
            stage: stage.to_owned(),
            settings: out
                .method_settings()
                .into_iter()
                .flatten()
                .map(|(k, m)| {
                    (k.clone(), Throttling { rate: m.throttling_rate_limit(), burst: m.throttling_burst_limit() })
                })
                .collect(),
        })
    }

    fn differences(before: &StageThrottling, now: &StageThrottling) -> Vec<String> {
        let at = format!("{} stage {}", now.api, now.stage);
        let keys: std::collections::BTreeSet<&String> = before.settings.keys().chain(now.settings.keys()).collect();
        let mut out = Vec::new();
        for key in keys {
            match (before.settings.get(key), now.settings.get(key)) {
                (Some(b), Some(n)) if b != n => out.push(format!(
                    "{at}: {key} throttled at {} requests/s burst {} (the snapshot: {} burst {})",
                    n.rate, n.burst, b.rate, b.burst
                )),
                (Some(_), None) => out.push(format!("{at}: method settings {key} missing")),
                (None, Some(_)) => out.push(format!("{at}: method settings {key} added since the snapshot")),
                _ => {}
            }
        }
        out
    }

    /// Every key's throttling back as the snapshot had it; keys it lacked removed.
    async fn reset(aws: &Aws, _target: &Target, before: &StageThrottling, now: &StageThrottling) -> Result<()> {
        let mut ops = Vec::new();
        for (key, n) in &now.settings {
            match before.settings.get(key) {
                None => ops.push(remove(key)),
                Some(b) if b != n => ops.extend(replace(key, *b)),
                Some(_) => {}
            }
        }
        for (key, b) in &before.settings {
            if !now.settings.contains_key(key) {
                ops.extend(replace(key, *b));
            }
        }
        patch(aws, &before.api, &before.stage, ops).await
    }
}

/// Patch operations setting `key`'s throttling.
fn replace(key: &str, t: Throttling) -> [PatchOperation; 2] {
    let op = |field: &str, value: String| {
        PatchOperation::builder().op(Op::Replace).path(format!("/{key}/throttling/{field}")).value(value).build()
    };
    [op("rateLimit", t.rate.to_string()), op("burstLimit", t.burst.to_string())]
}

/// The patch operation removing `key`'s method settings.
fn remove(key: &str) -> PatchOperation {
    PatchOperation::builder().op(Op::Remove).path(format!("/{key}")).build()
}

async fn patch(aws: &Aws, api: &str, stage: &str, ops: Vec<PatchOperation>) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let call = aws.apigateway.update_stage().rest_api_id(api).stage_name(stage).set_patch_operations(Some(ops));
    aws::call(call.send(), format!("update stage {stage} of REST API {api} (apigateway:PATCH)")).await
}

/// `apigateway.throttle-stage`: which method, and the limits to set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleStage {
    /// The method settings key: `*/*` (every method, the default) or a resource path
    /// and method with `/` written `~1`, e.g. `~1orders/GET`.
    pub method: String,
    /// Steady-state requests a second to allow.
    pub rate: f64,
    /// Burst (concurrent requests) to allow.
    pub burst: i32,
}

impl Default for ThrottleStage {
    fn default() -> Self {
        ThrottleStage { method: "*/*".into(), rate: 1.0, burst: 1 }
    }
}

impl Params for ThrottleStage {
    fn check(&self) -> Result<(), String> {
        let parts: Vec<&str> = self.method.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!("`method` is `{}`: write */* or a path and method, e.g. ~1orders/GET", self.method));
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err(format!("`rate` is {}: requests a second, 0 or more", self.rate));
        }
        if self.burst < 0 {
            return Err(format!("`burst` is {}: 0 or more", self.burst));
        }
        Ok(())
    }
}

/// The throttling planned for one key, and whether the stage had that key.
#[derive(Debug, Serialize, Deserialize)]
pub struct StageChange {
    pub api: String,
    pub stage: String,
    pub key: String,
    pub to: Throttling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<Throttling>,
}

impl Fault for ThrottleStage {
    type On = Stages;
    type Change = StageChange;

    fn plan(&self, target: &Target, state: &StageThrottling) -> Result<StageChange, String> {
        let to = Throttling { rate: self.rate, burst: self.burst };
        let was = state.settings.get(&self.method).copied();
        if was == Some(to) {
            return Err(format!(
                "{}: {} is throttled at {} burst {} already: nothing to break",
                target.label(),
                self.method,
                to.rate,
                to.burst
            ));
        }
        Ok(StageChange { api: state.api.clone(), stage: state.stage.clone(), key: self.method.clone(), to, was })
    }

    fn summarize(&self, change: &StageChange) -> Vec<String> {
        let was = change.was.map_or("the account's limits".to_owned(), |w| format!("{} burst {}", w.rate, w.burst));
        vec![format!(
            "throttle stage {} {} to {} requests/s burst {} (from {was})",
            change.stage, change.key, change.to.rate, change.to.burst
        )]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<StageThrottling>> {
        let c = item.change;
        patch(aws, &c.api, &c.stage, replace(&c.key, c.to).to_vec()).await?;
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &StageChange, now: &StageThrottling) -> Result<(), String> {
        match now.settings.get(&change.key) == Some(&change.to) {
            true => Ok(()),
            false => Err(format!("{} is not throttled yet", change.key)),
        }
    }

    /// The key's snapshot throttling back, or the key removed when the stage had none.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<StageThrottling>> {
        let c = item.change;
        let now = item.now.settings.get(&c.key);
        let ops = match (c.was, now) {
            (Some(was), Some(n)) if was == *n => return Ok(None),
            (None, None) => return Ok(None),
            (Some(was), _) => replace(&c.key, was).to_vec(),
            (None, Some(_)) => vec![remove(&c.key)],
        };
        patch(aws, &c.api, &c.stage, ops).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `apigateway.throttle-stage`.
pub const THROTTLE_STAGE: ActionInfo = ActionInfo {
    name: "apigateway.throttle-stage",
    target: TargetKind::ApiStage,
    summary: "Lower a REST API stage's throttling (every method, or one) to a few requests a second: clients get 429 Too Many Requests.",
    revert: "Restores the exact previous rate and burst of the changed method settings, or removes them when the stage had none.",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "method",
            ty: "string",
            default: "*/*",
            doc: "Method settings key: */* for every method, or a path and method with / as ~1 (~1orders/GET).",
        },
        ParamInfo { name: "rate", ty: "number", default: "1", doc: "Requests a second to allow." },
        ParamInfo { name: "burst", ty: "integer", default: "1", doc: "Burst to allow." },
    ],
    permissions: &["apigateway:GET", "apigateway:PATCH"],
};
