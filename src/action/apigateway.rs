//! API Gateway (REST APIs): `apigateway.throttle-stage` — a stage's throttling (for every
//! method, `*/*`, or one) lowered to a few requests a second, so clients get 429 Too
//! Many Requests. The snapshot is the stage's method settings' throttling, key by key;
//! revert puts the changed key's rate and burst back, or removes the key when the stage
//! had none (the stage then falls back to the account's limits, as before).
//!
//! `apigateway.break-integration` — integrations pointed at a Lambda function or host
//! that does not exist, and deployed to the stage (a REST API's changes reach a stage only
//! by a deployment). The snapshot is the stage's deployment id and the API's
//! integrations; revert puts the URIs back, rolls the stage back to its own deployment
//! (the same id, as the console's rollback does) and deletes firedrill's deployment.

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

/// A stage target's API id, stage name and stage; `Gone` when the stage is.
async fn get_stage<'t>(
    aws: &Aws,
    target: &'t Target,
) -> Result<(&'t str, &'t str, aws_sdk_apigateway::operation::get_stage::GetStageOutput)> {
    let (api, stage) = crate::aws::apigateway::split(&target.id)?;
    match aws.apigateway.get_stage().rest_api_id(api).stage_name(stage).send().await {
        Ok(out) => Ok((api, stage, out)),
        Err(e) if e.code() == Some("NotFoundException") => {
            Err(Error::Gone(format!("REST API {api} has no stage {stage} any more")))
        }
        Err(e) => Err(Error::aws(format!("read stage {stage} of REST API {api} (apigateway:GET)"))(e)),
    }
}

/// A stage's method settings: what `apigateway.throttle-stage` changes. The target's id
/// is `API-ID/STAGE` (`crate::aws::apigateway`).
pub struct Stages;

impl Resource for Stages {
    type State = StageThrottling;

    async fn describe(aws: &Aws, target: &Target) -> Result<StageThrottling> {
        let (api, stage, out) = get_stage(aws, target).await?;
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

// ---------------------------------------------------------------------------------------
// apigateway.break-integration

/// One method's integration: its type and URI (a Lambda function's invocation ARN, an
/// HTTP endpoint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub resource_id: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// A stage's deployment and its API's integrations, by `METHOD /path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageIntegrations {
    pub api: String,
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default)]
    pub integrations: BTreeMap<String, Integration>,
}

/// A stage's deployment and its API's integrations: what
/// `apigateway.break-integration` changes.
pub struct Integrations;

impl Resource for Integrations {
    type State = StageIntegrations;

    async fn describe(aws: &Aws, target: &Target) -> Result<StageIntegrations> {
        let (api, stage, out) = get_stage(aws, target).await?;
        let deployment_id = out.deployment_id().map(str::to_owned);
        let resources: Vec<_> = aws
            .apigateway
            .get_resources()
            .rest_api_id(api)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(Error::aws(format!("list the resources of REST API {api} (apigateway:GET)")))?;
        let mut integrations = BTreeMap::new();
        for r in &resources {
            let (Some(rid), Some(path)) = (r.id(), r.path()) else { continue };
            for method in r.resource_methods().into_iter().flat_map(|m| m.keys()) {
                let got =
                    aws.apigateway.get_integration().rest_api_id(api).resource_id(rid).http_method(method).send().await;
                let i = match got {
                    Ok(i) => i,
                    // A method without an integration yet.
                    Err(e) if e.code() == Some("NotFoundException") => continue,
                    Err(e) => {
                        let doing =
                            format!("read the integration of {method} {path} of REST API {api} (apigateway:GET)");
                        return Err(Error::aws(doing)(e));
                    }
                };
                integrations.insert(
                    format!("{method} {path}"),
                    Integration {
                        resource_id: rid.to_owned(),
                        method: method.clone(),
                        kind: i.r#type().map(|t| t.as_str().to_owned()),
                        uri: i.uri().map(str::to_owned),
                    },
                );
            }
        }
        Ok(StageIntegrations { api: api.to_owned(), stage: stage.to_owned(), deployment_id, integrations })
    }

    fn differences(before: &StageIntegrations, now: &StageIntegrations) -> Vec<String> {
        let at = format!("{} stage {}", now.api, now.stage);
        let mut out = Vec::new();
        if before.deployment_id != now.deployment_id {
            out.push(format!(
                "{at}: deployment {} (the snapshot: {})",
                now.deployment_id.as_deref().unwrap_or("none"),
                before.deployment_id.as_deref().unwrap_or("none")
            ));
        }
        for (key, b) in &before.integrations {
            match now.integrations.get(key) {
                Some(n) if n.uri != b.uri => out.push(format!(
                    "{at}: {key} integrates {} (the snapshot: {})",
                    n.uri.as_deref().unwrap_or("nothing"),
                    b.uri.as_deref().unwrap_or("nothing")
                )),
                Some(_) => {}
                None => out.push(format!("{at}: {key} has no integration any more")),
            }
        }
        out
    }

    /// Every integration's URI back, then the stage's deployment.
    async fn reset(aws: &Aws, _target: &Target, before: &StageIntegrations, now: &StageIntegrations) -> Result<()> {
        for (key, b) in &before.integrations {
            if let (Some(n), Some(uri)) = (now.integrations.get(key), &b.uri)
                && n.uri.as_ref() != Some(uri)
            {
                set_uri(aws, &before.api, b, uri).await?;
            }
        }
        match &before.deployment_id {
            Some(d) if now.deployment_id.as_ref() != Some(d) => {
                set_deployment(aws, &before.api, &before.stage, d).await
            }
            _ => Ok(()),
        }
    }
}

/// One `UpdateIntegration`: the integration's URI set to `uri`.
async fn set_uri(aws: &Aws, api: &str, i: &Integration, uri: &str) -> Result<()> {
    let op = PatchOperation::builder().op(Op::Replace).path("/uri").value(uri).build();
    let call = aws
        .apigateway
        .update_integration()
        .rest_api_id(api)
        .resource_id(&i.resource_id)
        .http_method(&i.method)
        .patch_operations(op);
    let doing = format!(
        "point the integration of {} {} of REST API {api} at {uri} (apigateway:PATCH)",
        i.method, i.resource_id
    );
    aws::call(call.send(), doing).await
}

/// Point `stage` at deployment `id` (how a stage is rolled back to an earlier deployment).
async fn set_deployment(aws: &Aws, api: &str, stage: &str, id: &str) -> Result<()> {
    let op = PatchOperation::builder().op(Op::Replace).path("/deploymentId").value(id).build();
    patch(aws, api, stage, vec![op]).await
}

/// The kind a deployment firedrill made is journaled as. Deployments take no tags: the
/// description names the run and fault, which revert also looks for (a crash can come
/// between the deployment and its journal line).
const DEPLOYMENT: &str = "apigateway-deployment";

fn deployment_description(run: &RunCtx) -> String {
    format!("firedrill run {} fault {}: apigateway.break-integration", run.run_id, run.fault)
}

/// `apigateway.break-integration`: which integrations, and where to point them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BreakIntegration {
    /// Only the integrations of this resource path (`/orders`); every one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only this HTTP method's (`GET`, `ANY`); every one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The URI to point them at. Default: a Lambda integration's function renamed to one
    /// that does not exist (`NAME-firedrill-missing`), an HTTP integration's host to
    /// `firedrill-missing.invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

impl Params for BreakIntegration {
    fn check(&self) -> Result<(), String> {
        if let Some(p) = self.path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(format!("`path` is `{p}`: a resource path starts with /, e.g. /orders"));
        }
        Ok(())
    }
}

/// The URI an integration is pointed at when the fault gives none: the same kind of
/// target, one that does not exist.
fn nowhere(uri: &str) -> String {
    // arn:aws:apigateway:R:lambda:path/2015-03-31/functions/arn:aws:lambda:R:A:function:NAME/invocations
    if let Some((head, rest)) = uri.split_once(":function:") {
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let name = name.split(':').next().unwrap_or(name);
        let tail = if tail.is_empty() { String::new() } else { format!("/{tail}") };
        return format!("{head}:function:{name}-firedrill-missing{tail}");
    }
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            format!("{scheme}://firedrill-missing.invalid{path}")
        }
        None => "https://firedrill-missing.invalid/".to_owned(),
    }
}

/// One integration to repoint: from, to.
#[derive(Debug, Serialize, Deserialize)]
pub struct Repoint {
    pub key: String,
    pub integration: Integration,
    pub to: String,
}

/// The integrations planned, and the stage's deployment before.
#[derive(Debug, Serialize, Deserialize)]
pub struct IntegrationChange {
    pub api: String,
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    pub repoint: Vec<Repoint>,
}

impl Fault for BreakIntegration {
    type On = Integrations;
    type Change = IntegrationChange;

    fn plan(&self, target: &Target, state: &StageIntegrations) -> Result<IntegrationChange, String> {
        let mut repoint = Vec::new();
        for (key, i) in &state.integrations {
            let (method, path) = key.split_once(' ').unwrap_or((key, ""));
            if self.path.as_deref().is_some_and(|p| p != path) || self.method.as_deref().is_some_and(|m| m != method) {
                continue;
            }
            // A MOCK integration has no URI to point elsewhere.
            let Some(uri) = &i.uri else { continue };
            let to = self.uri.clone().unwrap_or_else(|| nowhere(uri));
            if &to != uri {
                repoint.push(Repoint { key: key.clone(), integration: i.clone(), to });
            }
        }
        if repoint.is_empty() {
            return Err(format!(
                "{}: no integration with a URI matches (path {}, method {}): nothing to break",
                target.label(),
                self.path.as_deref().unwrap_or("any"),
                self.method.as_deref().unwrap_or("any")
            ));
        }
        if state.deployment_id.is_none() {
            return Err(format!("{}: the stage has no deployment to go back to", target.label()));
        }
        Ok(IntegrationChange {
            api: state.api.clone(),
            stage: state.stage.clone(),
            deployment_id: state.deployment_id.clone(),
            repoint,
        })
    }

    fn summarize(&self, change: &IntegrationChange) -> Vec<String> {
        let mut out: Vec<String> = change.repoint.iter().map(|r| format!("point {} at {}", r.key, r.to)).collect();
        out.push(format!(
            "deploy the API to stage {} (a new deployment; the stage was on {})",
            change.stage,
            change.deployment_id.as_deref().unwrap_or("none")
        ));
        out
    }

    async fn inject(&self, aws: &Aws, run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<StageIntegrations>> {
        let c = item.change;
        for r in &c.repoint {
            set_uri(aws, &c.api, &r.integration, &r.to).await?;
        }
        // A REST API's changes reach a stage only by a deployment.
        let scope = format!("{}/{}", c.api, c.stage);
        let id = match run.created_in(DEPLOYMENT, &scope) {
            Some(id) => id,
            None => {
                let call =
                    aws.apigateway.create_deployment().rest_api_id(&c.api).description(deployment_description(run));
                let out =
                    call.send().await.map_err(Error::aws(format!("deploy REST API {} (apigateway:POST)", c.api)))?;
                let id = out.id().unwrap_or_default().to_owned();
                crate::failpoint::hit("after-create");
                run.record_created(DEPLOYMENT, &id, &scope)?;
                id
            }
        };
        set_deployment(aws, &c.api, &c.stage, &id).await?;
        Ok(None)
    }

    fn observe(&self, run: &RunCtx, change: &IntegrationChange, now: &StageIntegrations) -> Result<(), String> {
        for r in &change.repoint {
            let uri = now.integrations.get(&r.key).and_then(|i| i.uri.as_deref());
            if uri != Some(r.to.as_str()) {
                return Err(format!("{} does not point at {} yet", r.key, r.to));
            }
        }
        let ours = run.created_in(DEPLOYMENT, &format!("{}/{}", change.api, change.stage));
        if ours.is_none() || now.deployment_id != ours {
            return Err(format!("stage {} is not on firedrill's deployment yet", change.stage));
        }
        Ok(())
    }

    /// The integrations' URIs back, the stage back on its own deployment (the same id),
    /// then firedrill's deployment deleted.
    async fn revert(&self, aws: &Aws, run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<StageIntegrations>> {
        let (c, now) = (item.change, item.now);
        for r in &c.repoint {
            let uri = now.integrations.get(&r.key).and_then(|i| i.uri.as_ref());
            if let Some(was) = &r.integration.uri
                && uri != Some(was)
            {
                set_uri(aws, &c.api, &r.integration, was).await?;
            }
        }
        if let Some(d) = &c.deployment_id
            && now.deployment_id.as_ref() != Some(d)
        {
            set_deployment(aws, &c.api, &c.stage, d).await?;
        }
        delete_deployments(aws, run, &c.api).await?;
        Ok(None)
    }
}

/// Delete the deployments this run's fault made: journaled, or described as its (a crash
/// before the journal line). Idempotent.
async fn delete_deployments(aws: &Aws, run: &RunCtx, api: &str) -> Result<()> {
    let description = deployment_description(run);
    let listed: Vec<_> = aws
        .apigateway
        .get_deployments()
        .rest_api_id(api)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(Error::aws(format!("list the deployments of REST API {api} (apigateway:GET)")))?;
    let mut ids: std::collections::BTreeSet<String> = run.created(DEPLOYMENT).into_iter().collect();
    ids.extend(
        listed
            .iter()
            .filter(|d| d.description() == Some(description.as_str()))
            .filter_map(|d| d.id().map(str::to_owned)),
    );
    for id in ids {
        match aws.apigateway.delete_deployment().rest_api_id(api).deployment_id(&id).send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("NotFoundException") => {}
            Err(e) => {
                return Err(Error::aws(format!("delete deployment {id} of REST API {api} (apigateway:DELETE)"))(e));
            }
        }
        run.record_deleted(DEPLOYMENT, &id)?;
    }
    Ok(())
}

/// The catalogue's entry for `apigateway.break-integration`.
pub const BREAK_INTEGRATION: ActionInfo = ActionInfo {
    name: "apigateway.break-integration",
    target: TargetKind::ApiStage,
    summary: "Point a REST API's integrations (every one, or a path and method's) at a Lambda function or host that does not exist, and deploy that to the stage: clients get 500 Internal Server Error (Lambda) or 502/504 (HTTP).",
    revert: "Restores each integration's exact URI, puts the stage back on its previous deployment (the same deployment id), and deletes firedrill's deployment.",
    one_shot: false,
    params: &[
        ParamInfo { name: "path", ty: "string", default: "every path", doc: "Resource path (/orders)." },
        ParamInfo { name: "method", ty: "string", default: "every method", doc: "HTTP method (GET, ANY)." },
        ParamInfo {
            name: "uri",
            ty: "string",
            default: "NAME-firedrill-missing",
            doc: "The URI to point them at; default: a function or host that does not exist.",
        },
    ],
    permissions: &["apigateway:GET", "apigateway:PATCH", "apigateway:POST", "apigateway:DELETE"],
};

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA: &str = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:orders/invocations";

    #[test]
    fn nowhere_keeps_the_kind_of_target_and_names_one_that_does_not_exist() {
        assert_eq!(
            nowhere(LAMBDA),
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:orders-firedrill-missing/invocations"
        );
        assert_eq!(nowhere("https://api.example.com/v1/orders"), "https://firedrill-missing.invalid/v1/orders");
    }

    #[test]
    fn break_integration_plans_matching_integrations_and_is_judged_on_the_deployment_too() {
        let lambda = Integration {
            resource_id: "r1".into(),
            method: "ANY".into(),
            kind: Some("AWS_PROXY".into()),
            uri: Some(LAMBDA.into()),
        };
        let mock = Integration { resource_id: "r0".into(), method: "GET".into(), kind: Some("MOCK".into()), uri: None };
        let before = StageIntegrations {
            api: "a1".into(),
            stage: "prod".into(),
            deployment_id: Some("d1".into()),
            integrations: [("ANY /orders".to_owned(), lambda.clone()), ("GET /".to_owned(), mock)].into(),
        };
        let t = Target::for_tests("a1/prod");
        let f = BreakIntegration::default();
        let c = f.plan(&t, &before).unwrap();
        assert_eq!(c.repoint.len(), 1, "the mock has no URI");
        let other = BreakIntegration { path: Some("/users".into()), ..Default::default() };
        assert!(other.plan(&t, &before).unwrap_err().contains("nothing to break"));
        let run = RunCtx::for_tests();
        run.record_created(DEPLOYMENT, "d2", "a1/prod").unwrap();
        let mut broken = before.clone();
        broken.integrations.get_mut("ANY /orders").unwrap().uri = Some(c.repoint[0].to.clone());
        assert!(f.observe(&run, &c, &broken).is_err(), "not deployed yet");
        broken.deployment_id = Some("d2".into());
        assert_eq!(f.observe(&run, &c, &broken), Ok(()));
        assert_eq!(Integrations::differences(&before, &broken).len(), 2);
        assert!(Integrations::differences(&before, &before).is_empty());
    }
}
