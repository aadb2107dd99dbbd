//! Lambda: `lambda.throttle` (reserved concurrency to 0 or N), `lambda.break-config` (an
//! environment variable, the timeout or the memory set wrong) and
//! `lambda.remove-permission` (the resource-policy statement that lets API Gateway, or
//! another principal, invoke the function, dropped).
//!
//! Each snapshots exactly what it changes: the reserved concurrency or that there was
//! none; the timeout, memory and every environment variable; the policy's statements.
//! Revert puts back only what the fault changed (the keys it set, the statements it
//! removed), so a team's other edits stay, and a configuration change counts as restored
//! only once Lambda reports it applied (`LastUpdateStatus: Successful`).

use std::collections::BTreeMap;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ActionInfo, Fault, ParamInfo, Params, Resource, RunCtx, ToInject, ToRevert};
use crate::aws::{self, Aws};
use crate::target::{Target, TargetKind};
use crate::{Error, Result};

/// A Lambda error that means the function is gone, as [`Error::Gone`].
fn gone_or<E>(function: &str, doing: String) -> impl FnOnce(aws_sdk_lambda::error::SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    aws_sdk_lambda::error::SdkError<E>: Into<crate::error::AwsError>,
{
    let function = function.to_owned();
    move |e| match e.code() {
        Some("ResourceNotFoundException") => Error::Gone(format!("function {function} no longer exists")),
        _ => Error::aws(doing)(e),
    }
}

// ---------------------------------------------------------------------------------------
// Reserved concurrency

/// A function's reserved concurrency, or none (it draws on the account's pool).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserved {
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<i32>,
}

/// Set the reserved concurrency to `to`, or remove it.
async fn put_reserved(aws: &Aws, function: &str, to: Option<i32>) -> Result<()> {
    match to {
        Some(n) => {
            let call = aws.lambda.put_function_concurrency().function_name(function).reserved_concurrent_executions(n);
            aws::call(call.send(), format!("reserve {n} for function {function} (lambda:PutFunctionConcurrency)")).await
        }
        None => {
            let call = aws.lambda.delete_function_concurrency().function_name(function);
            let doing =
                format!("remove the reserved concurrency of function {function} (lambda:DeleteFunctionConcurrency)");
            aws::call(call.send(), doing).await
        }
    }
}

/// A function's reserved concurrency: what `lambda.throttle` changes.
pub struct Concurrency;

impl Resource for Concurrency {
    type State = Reserved;

    async fn describe(aws: &Aws, target: &Target) -> Result<Reserved> {
        let f = &target.id;
        let doing = format!("read the reserved concurrency of function {f} (lambda:GetFunctionConcurrency)");
        let out = aws.lambda.get_function_concurrency().function_name(f).send().await.map_err(gone_or(f, doing))?;
        Ok(Reserved { function: f.clone(), reserved: out.reserved_concurrent_executions() })
    }

    fn differences(before: &Reserved, now: &Reserved) -> Vec<String> {
        if before.reserved == now.reserved {
            return Vec::new();
        }
        let show = |r: Option<i32>| r.map_or("none".to_owned(), |n| n.to_string());
        vec![format!(
            "{}: reserved concurrency {} (the snapshot: {})",
            now.function,
            show(now.reserved),
            show(before.reserved)
        )]
    }

    async fn reset(aws: &Aws, _target: &Target, before: &Reserved, _now: &Reserved) -> Result<()> {
        put_reserved(aws, &before.function, before.reserved).await
    }
}

/// `lambda.throttle`: the reserved concurrency to set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Throttle {
    /// Reserved concurrency to set: 0 (the default) stops every invocation with a
    /// throttle (HTTP 429 through API Gateway); N caps the function at N at once.
    pub reserved: u32,
}

impl Params for Throttle {
    fn check(&self) -> Result<(), String> {
        // Lambda's highest account concurrency limit is in the tens of thousands; a
        // reservation can never exceed the account's.
        if self.reserved > 100_000 {
            return Err(format!("`reserved` is {}: no account has that much concurrency to reserve", self.reserved));
        }
        Ok(())
    }
}

/// The reservation planned.
#[derive(Debug, Serialize, Deserialize)]
pub struct ThrottleChange {
    pub function: String,
    pub reserved: i32,
}

impl Fault for Throttle {
    type On = Concurrency;
    type Change = ThrottleChange;

    fn plan(&self, target: &Target, state: &Reserved) -> Result<ThrottleChange, String> {
        let reserved = self.reserved as i32;
        if state.reserved == Some(reserved) {
            return Err(format!(
                "{}: its reserved concurrency is {reserved} already: nothing to break",
                target.label()
            ));
        }
        Ok(ThrottleChange { function: state.function.clone(), reserved })
    }

    fn summarize(&self, change: &ThrottleChange) -> Vec<String> {
        vec![match change.reserved {
            0 => "reserve 0 concurrent executions (every invocation is throttled)".to_owned(),
            n => format!("reserve {n} concurrent executions (more at once are throttled)"),
        }]
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<Reserved>> {
        put_reserved(aws, &item.change.function, Some(item.change.reserved)).await?;
        Ok(Some(Reserved { function: item.change.function.clone(), reserved: Some(item.change.reserved) }))
    }

    fn observe(&self, _run: &RunCtx, change: &ThrottleChange, now: &Reserved) -> Result<(), String> {
        match now.reserved == Some(change.reserved) {
            true => Ok(()),
            false => Err(format!("the reserved concurrency is not {} yet", change.reserved)),
        }
    }

    /// The snapshot's reservation back, or none when it had none.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<Reserved>> {
        if item.now.reserved == item.before.reserved {
            return Ok(None);
        }
        put_reserved(aws, &item.before.function, item.before.reserved).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `lambda.throttle`.
pub const THROTTLE: ActionInfo = ActionInfo {
    name: "lambda.throttle",
    target: TargetKind::Function,
    summary: "Set the function's reserved concurrency to 0 (every invocation throttled, 429 through API Gateway) or to N (the concurrency limit reached).",
    revert: "Restores the exact previous reserved concurrency, or removes the reservation when there was none.",
    one_shot: false,
    params: &[ParamInfo {
        name: "reserved",
        ty: "integer",
        default: "0",
        doc: "Reserved concurrency to set: 0 throttles every invocation; N caps concurrent executions at N.",
    }],
    permissions: &[
        "lambda:GetFunctionConcurrency",
        "lambda:PutFunctionConcurrency",
        "lambda:DeleteFunctionConcurrency",
    ],
};

// ---------------------------------------------------------------------------------------
// Configuration

/// What `lambda.break-config` can change of a function, and whether Lambda has applied
/// the last change (`LastUpdateStatus`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub function: String,
    pub timeout: Option<i32>,
    pub memory: Option<i32>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `Successful`, `InProgress` or `Failed`; none from an endpoint that does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<String>,
}

impl FunctionConfig {
    /// Whether Lambda is still applying a change (it answers `InProgress` for a few
    /// seconds after an update; the values read meanwhile are not in effect yet).
    fn updating(&self) -> bool {
        self.update.as_deref() == Some("InProgress")
    }
}

/// A function's timeout, memory and environment: what `lambda.break-config` changes.
pub struct Configuration;

impl Resource for Configuration {
    type State = FunctionConfig;

    async fn describe(aws: &Aws, target: &Target) -> Result<FunctionConfig> {
        let f = &target.id;
        let doing = format!("read the configuration of function {f} (lambda:GetFunctionConfiguration)");
        let out = aws.lambda.get_function_configuration().function_name(f).send().await.map_err(gone_or(f, doing))?;
        Ok(FunctionConfig {
            function: f.clone(),
            timeout: out.timeout(),
            memory: out.memory_size(),
            environment: out
                .environment()
                .and_then(|e| e.variables())
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            update: out.last_update_status().map(|s| s.as_str().to_owned()),
        })
    }

    /// The values, key by key; and a change not applied yet is not "equal".
    fn differences(before: &FunctionConfig, now: &FunctionConfig) -> Vec<String> {
        let f = &now.function;
        let mut out = Vec::new();
        let show = |v: Option<i32>| v.map_or("unset".to_owned(), |n| n.to_string());
        if before.timeout != now.timeout {
            out.push(format!("{f}: timeout {} s (the snapshot: {})", show(now.timeout), show(before.timeout)));
        }
        if before.memory != now.memory {
            out.push(format!("{f}: memory {} MB (the snapshot: {})", show(now.memory), show(before.memory)));
        }
        let keys: std::collections::BTreeSet<&String> =
            before.environment.keys().chain(now.environment.keys()).collect();
        for key in keys {
            match (before.environment.get(key), now.environment.get(key)) {
                (a, b) if a == b => {}
                (None, Some(_)) => out.push(format!("{f}: environment variable {key} set; the snapshot had none")),
                (Some(_), None) => out.push(format!("{f}: environment variable {key} missing")),
                _ => out.push(format!("{f}: environment variable {key} differs from the snapshot")),
            }
        }
        if now.updating() && !before.updating() {
            out.push(format!("{f}: a configuration update is still in progress"));
        }
        out
    }

    /// The snapshot's timeout, memory and whole environment back.
    async fn reset(aws: &Aws, _target: &Target, before: &FunctionConfig, _now: &FunctionConfig) -> Result<()> {
        let update =
            Update { timeout: before.timeout, memory: before.memory, environment: Some(before.environment.clone()) };
        update.send(aws, &before.function).await
    }
}

/// One `UpdateFunctionConfiguration`: only the fields given are sent.
struct Update {
    timeout: Option<i32>,
    memory: Option<i32>,
    /// The whole environment: Lambda replaces it as one.
    environment: Option<BTreeMap<String, String>>,
}

impl Update {
    async fn send(self, aws: &Aws, function: &str) -> Result<()> {
        let environment = self.environment.map(|vars| {
            aws_sdk_lambda::types::Environment::builder().set_variables(Some(vars.into_iter().collect())).build()
        });
        let call = aws
            .lambda
            .update_function_configuration()
            .function_name(function)
            .set_timeout(self.timeout)
            .set_memory_size(self.memory)
            .set_environment(environment);
        aws::call(
            call.send(),
            format!("update the configuration of function {function} (lambda:UpdateFunctionConfiguration)"),
        )
        .await
    }
}

/// `lambda.break-config`: the values to set. At least one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BreakConfig {
    /// Environment variables to set (added or overwritten), e.g. a wrong `TABLE_NAME`.
    pub environment: BTreeMap<String, String>,
    /// Timeout in seconds (1–900): too small, and requests time out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Memory in MB (128–10240): too small, and the function runs out of it or slows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
}

impl Params for BreakConfig {
    fn check(&self) -> Result<(), String> {
        if self.environment.is_empty() && self.timeout.is_none() && self.memory.is_none() {
            return Err("`environment` is empty and no `timeout` or `memory` given: set at least one".into());
        }
        if let Some(t) = self.timeout.filter(|t| !(1..=900).contains(t)) {
            return Err(format!("`timeout` is {t}: Lambda takes 1 to 900 seconds"));
        }
        if let Some(m) = self.memory.filter(|m| !(128..=10_240).contains(m)) {
            return Err(format!("`memory` is {m}: Lambda takes 128 to 10240 MB"));
        }
        if let Some(k) = self.environment.keys().find(|k| !env_key(k)) {
            return Err(format!(
                "`environment` holds `{k}`: a key starts with a letter, then letters, digits and underscores"
            ));
        }
        Ok(())
    }
}

/// Whether `key` is a name Lambda takes for an environment variable.
fn env_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The values planned, only those that differ from the snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConfigChange {
    pub function: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
}

impl Fault for BreakConfig {
    type On = Configuration;
    type Change = ConfigChange;

    fn plan(&self, target: &Target, state: &FunctionConfig) -> Result<ConfigChange, String> {
        let differ = |want: Option<u32>, have: Option<i32>| want.map(|w| w as i32).filter(|w| Some(*w) != have);
        let change = ConfigChange {
            function: state.function.clone(),
            environment: self
                .environment
                .iter()
                .filter(|(k, v)| state.environment.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: differ(self.timeout, state.timeout),
            memory: differ(self.memory, state.memory),
        };
        if change.environment.is_empty() && change.timeout.is_none() && change.memory.is_none() {
            return Err(format!("{}: its configuration has these values already: nothing to break", target.label()));
        }
        Ok(change)
    }

    fn summarize(&self, change: &ConfigChange) -> Vec<String> {
        let mut out: Vec<String> = change.environment.iter().map(|(k, v)| format!("set environment {k}={v}")).collect();
        out.extend(change.timeout.map(|t| format!("set the timeout to {t} s")));
        out.extend(change.memory.map(|m| format!("set the memory to {m} MB")));
        out
    }

    /// The snapshot's environment with the changed keys set (Lambda replaces it whole).
    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<FunctionConfig>> {
        let change = item.change;
        let environment = (!change.environment.is_empty()).then(|| {
            let mut vars = item.before.environment.clone();
            vars.extend(change.environment.clone());
            vars
        });
        Update { timeout: change.timeout, memory: change.memory, environment }.send(aws, &change.function).await?;
        Ok(None)
    }

    /// The values set, and applied (`LastUpdateStatus` no longer `InProgress`).
    fn observe(&self, _run: &RunCtx, change: &ConfigChange, now: &FunctionConfig) -> Result<(), String> {
        let set = change.environment.iter().all(|(k, v)| now.environment.get(k) == Some(v))
            && change.timeout.is_none_or(|t| now.timeout == Some(t))
            && change.memory.is_none_or(|m| now.memory == Some(m));
        match (set, now.updating()) {
            (true, false) => Ok(()),
            (true, true) => Err("the configuration update is still in progress".into()),
            (false, _) => Err("the function's configuration does not hold the change yet".into()),
        }
    }

    /// Only what the fault changed goes back: each changed key to its snapshot value (or
    /// removed, if the snapshot had none), the timeout and memory if changed. Every
    /// other variable stays as it is now.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<FunctionConfig>> {
        let (change, before, now) = (item.change, item.before, item.now);
        let back =
            |changed: Option<i32>, was: Option<i32>, is: Option<i32>| changed.and(was).filter(|w| Some(*w) != is);
        let mut vars = now.environment.clone();
        for key in change.environment.keys() {
            match before.environment.get(key) {
                Some(v) => vars.insert(key.clone(), v.clone()),
                None => vars.remove(key),
            };
        }
        let update = Update {
            timeout: back(change.timeout, before.timeout, now.timeout),
            memory: back(change.memory, before.memory, now.memory),
            environment: (vars != now.environment).then_some(vars),
        };
        if update.timeout.is_none() && update.memory.is_none() && update.environment.is_none() {
            return Ok(None);
        }
        update.send(aws, &change.function).await?;
        Ok(None)
    }
}

/// The catalogue's entry for `lambda.break-config`.
pub const BREAK_CONFIG: ActionInfo = ActionInfo {
    name: "lambda.break-config",
    target: TargetKind::Function,
    summary: "Misconfigure the function: environment variables set to wrong values, a timeout or memory too small.",
    revert: "Restores exactly the changed keys (each variable's previous value, or removes it), timeout and memory; restored once Lambda reports the update Successful.",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "environment",
            ty: "map of string to string",
            default: "{}",
            doc: "Environment variables to set (added or overwritten), e.g. TABLE_NAME: no-such-table.",
        },
        ParamInfo { name: "timeout", ty: "integer (seconds)", default: "unchanged", doc: "Timeout to set, 1–900 s." },
        ParamInfo { name: "memory", ty: "integer (MB)", default: "unchanged", doc: "Memory to set, 128–10240 MB." },
    ],
    permissions: &["lambda:GetFunctionConfiguration", "lambda:UpdateFunctionConfiguration"],
};

// ---------------------------------------------------------------------------------------
// Resource policy

/// A function's resource-based policy: its statements, by `Sid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionPolicy {
    pub function: String,
    #[serde(default)]
    pub statements: BTreeMap<String, Value>,
}

/// The function's policy statements: what `lambda.remove-permission` changes.
pub struct Permissions;

impl Resource for Permissions {
    type State = FunctionPolicy;

    async fn describe(aws: &Aws, target: &Target) -> Result<FunctionPolicy> {
        let f = &target.id;
        let doing = || format!("read the policy of function {f} (lambda:GetPolicy)");
        let policy = match aws.lambda.get_policy().function_name(f).send().await {
            Ok(out) => out.policy().map(str::to_owned),
            // The same code for "no policy" and "no function": ask which.
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                let check = format!("read function {f} (lambda:GetFunctionConfiguration)");
                aws.lambda.get_function_configuration().function_name(f).send().await.map_err(gone_or(f, check))?;
                None
            }
            Err(e) => return Err(Error::aws(doing())(e)),
        };
        let doc: Value = match policy {
            Some(text) => serde_json::from_str(&text).map_err(|e| Error::Failed(format!("{}: {e}", doing())))?,
            None => Value::Null,
        };
        let statements = match &doc["Statement"] {
            Value::Array(list) => list.clone(),
            one @ Value::Object(_) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(FunctionPolicy {
            function: f.clone(),
            statements: statements.into_iter().map(|s| (s["Sid"].as_str().unwrap_or_default().to_owned(), s)).collect(),
        })
    }

    fn differences(before: &FunctionPolicy, now: &FunctionPolicy) -> Vec<String> {
        let f = &now.function;
        let mut out = Vec::new();
        for (sid, s) in &before.statements {
            match now.statements.get(sid) {
                None => out.push(format!("{f}: policy statement {sid} missing")),
                Some(n) if n != s => out.push(format!("{f}: policy statement {sid} differs from the snapshot")),
                Some(_) => {}
            }
        }
        for sid in now.statements.keys().filter(|s| !before.statements.contains_key(*s)) {
            out.push(format!("{f}: policy statement {sid} added since the snapshot"));
        }
        out
    }

    /// A statement the snapshot did not have that lets anyone invoke the function.
    fn regressions(before: &FunctionPolicy, now: &FunctionPolicy) -> Vec<String> {
        now.statements
            .iter()
            .filter(|(sid, s)| {
                !before.statements.contains_key(*sid) && (s["Principal"] == "*" || s["Principal"]["AWS"] == "*")
            })
            .map(|(sid, _)| format!("{}: policy statement {sid} lets anyone invoke the function", now.function))
            .collect()
    }

    /// Every statement the snapshot had back as it was; those it lacked removed.
    async fn reset(aws: &Aws, _target: &Target, before: &FunctionPolicy, now: &FunctionPolicy) -> Result<()> {
        let f = &before.function;
        for (sid, s) in &now.statements {
            if before.statements.get(sid) != Some(s) {
                remove_statement(aws, f, sid).await?;
            }
        }
        for (sid, s) in &before.statements {
            if now.statements.get(sid) != Some(s) {
                add_statement(aws, f, s).await?;
            }
        }
        Ok(())
    }
}

/// Remove statement `sid`; one already gone is not an error (a retried inject).
async fn remove_statement(aws: &Aws, function: &str, sid: &str) -> Result<()> {
    match aws.lambda.remove_permission().function_name(function).statement_id(sid).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => {
            Err(Error::aws(format!("remove statement {sid} from function {function} (lambda:RemovePermission)"))(e))
        }
    }
}

/// Add `statement` back with `AddPermission`, from the fields a policy statement shows:
/// its principal, action, source ARN and account, organization, event source token,
/// function URL auth type, and the qualifier its resource names.
async fn add_statement(aws: &Aws, function: &str, statement: &Value) -> Result<()> {
    let permission = Permission::of(statement).map_err(|why| {
        Error::Failed(format!("function {function}: cannot put policy statement back with AddPermission: {why}"))
    })?;
    let call = aws
        .lambda
        .add_permission()
        .function_name(function)
        .statement_id(&permission.sid)
        .action(&permission.action)
        .principal(&permission.principal)
        .set_source_arn(permission.source_arn)
        .set_source_account(permission.source_account)
        .set_principal_org_id(permission.principal_org_id)
        .set_event_source_token(permission.event_source_token)
        .set_function_url_auth_type(permission.function_url_auth_type.map(|t| t.as_str().into()))
        .set_qualifier(permission.qualifier);
    let doing = format!("add statement {} to function {function} (lambda:AddPermission)", permission.sid);
    match call.send().await {
        Ok(_) => Ok(()),
        // A retried revert: the statement is there already.
        Err(e)
            if e.code() == Some("ResourceConflictException")
                && e.message().is_some_and(|m| m.contains("already exists")) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::aws(doing)(e)),
    }
}

/// The `AddPermission` arguments that make a policy statement.
#[derive(Debug, PartialEq)]
struct Permission {
    sid: String,
    action: String,
    principal: String,
    source_arn: Option<String>,
    source_account: Option<String>,
    principal_org_id: Option<String>,
    event_source_token: Option<String>,
    function_url_auth_type: Option<String>,
    qualifier: Option<String>,
}

impl Permission {
    /// Read the arguments back from the statement Lambda made of them.
    fn of(s: &Value) -> Result<Permission, String> {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let sid = text(&s["Sid"]).ok_or("it has no Sid")?;
        let action = text(&s["Action"]).ok_or("its Action is not one string")?;
        let principal = match &s["Principal"] {
            Value::String(p) => p.clone(),
            p => text(&p["Service"])
                .or_else(|| text(&p["AWS"]))
                .ok_or("its Principal is neither a service nor an ARN")?,
        };
        let c = &s["Condition"];
        let condition = |op: &str, key: &str| text(&c[op][key]);
        // `arn:aws:lambda:R:A:function:NAME:QUALIFIER`: the eighth field, if any.
        let qualifier = text(&s["Resource"]).and_then(|r| r.split(':').nth(7).map(str::to_owned));
        Ok(Permission {
            sid,
            action,
            principal,
            source_arn: condition("ArnLike", "AWS:SourceArn"),
            source_account: condition("StringEquals", "AWS:SourceAccount"),
            principal_org_id: condition("StringEquals", "aws:PrincipalOrgID"),
            event_source_token: condition("StringEquals", "lambda:EventSourceToken"),
            function_url_auth_type: condition("StringEquals", "lambda:FunctionUrlAuthType"),
            qualifier,
        })
    }
}

/// `lambda.remove-permission`: which statements to remove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RemovePermission {
    /// Only the statements with these ids (`Sid`); empty: every statement for `principal`.
    pub statement_ids: Vec<String>,
    /// Only statements for this principal: a service (`apigateway.amazonaws.com`, the
    /// default), an account id or an ARN; `"*"`: any principal.
    pub principal: String,
}

impl Default for RemovePermission {
    fn default() -> Self {
        RemovePermission { statement_ids: Vec::new(), principal: "apigateway.amazonaws.com".into() }
    }
}

impl Params for RemovePermission {
    fn check(&self) -> Result<(), String> {
        if self.principal.is_empty() {
            return Err(
                "`principal` is empty: name a service (apigateway.amazonaws.com), an account or an ARN, or \"*\""
                    .into(),
            );
        }
        Ok(())
    }
}

/// The statements planned for removal, exactly as the snapshot holds them.
#[derive(Debug, Serialize, Deserialize)]
pub struct PermissionChange {
    pub function: String,
    pub removed: BTreeMap<String, Value>,
}

impl RemovePermission {
    fn selects(&self, sid: &str, s: &Value) -> bool {
        let p = &s["Principal"];
        let principal = self.principal == "*"
            || p == &Value::String(self.principal.clone())
            || p["Service"] == self.principal.as_str()
            || p["AWS"] == self.principal.as_str()
            || p["AWS"].as_str().is_some_and(|arn| arn == format!("arn:aws:iam::{}:root", self.principal));
        principal && (self.statement_ids.is_empty() || self.statement_ids.iter().any(|i| i == sid))
    }
}

impl Fault for RemovePermission {
    type On = Permissions;
    type Change = PermissionChange;

    fn plan(&self, target: &Target, state: &FunctionPolicy) -> Result<PermissionChange, String> {
        let removed: BTreeMap<String, Value> = state
            .statements
            .iter()
            .filter(|(sid, s)| self.selects(sid, s))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if removed.is_empty() {
            return Err(format!(
                "{}: no policy statement for {}{}: nothing to break",
                target.label(),
                self.principal,
                if self.statement_ids.is_empty() {
                    String::new()
                } else {
                    format!(" with id {}", self.statement_ids.join(", "))
                }
            ));
        }
        // Refuse now what revert could not put back.
        for s in removed.values() {
            Permission::of(s).map_err(|why| format!("{}: a statement could not be put back: {why}", target.label()))?;
        }
        Ok(PermissionChange { function: state.function.clone(), removed })
    }

    fn summarize(&self, change: &PermissionChange) -> Vec<String> {
        change
            .removed
            .iter()
            .map(|(sid, s)| {
                let who = Permission::of(s).map(|p| p.principal).unwrap_or_default();
                format!("remove policy statement {sid} ({who} may invoke)")
            })
            .collect()
    }

    async fn inject(&self, aws: &Aws, _run: &RunCtx, item: &ToInject<'_, Self>) -> Result<Option<FunctionPolicy>> {
        for sid in item.change.removed.keys() {
            remove_statement(aws, &item.change.function, sid).await?;
        }
        Ok(None)
    }

    fn observe(&self, _run: &RunCtx, change: &PermissionChange, now: &FunctionPolicy) -> Result<(), String> {
        match change.removed.keys().find(|sid| now.statements.contains_key(*sid)) {
            Some(sid) => Err(format!("policy statement {sid} is still there")),
            None => Ok(()),
        }
    }

    /// Each removed statement added back exactly, unless one with its id is there now.
    async fn revert(&self, aws: &Aws, _run: &RunCtx, item: &ToRevert<'_, Self>) -> Result<Option<FunctionPolicy>> {
        for (sid, s) in &item.change.removed {
            if !item.now.statements.contains_key(sid) {
                add_statement(aws, &item.change.function, s).await?;
            }
        }
        Ok(None)
    }
}

/// The catalogue's entry for `lambda.remove-permission`.
pub const REMOVE_PERMISSION: ActionInfo = ActionInfo {
    name: "lambda.remove-permission",
    target: TargetKind::Function,
    summary: "Remove the resource-policy statements that let API Gateway (or another principal) invoke the function: the API answers 500.",
    revert: "Adds each removed statement back exactly (same id, principal, action, source ARN and account, qualifier).",
    one_shot: false,
    params: &[
        ParamInfo {
            name: "statement_ids",
            ty: "list of statement ids",
            default: "[] (every statement for principal)",
            doc: "Only the statements with these ids (Sid).",
        },
        ParamInfo {
            name: "principal",
            ty: "string",
            default: "apigateway.amazonaws.com",
            doc: "Only statements for this principal: a service, an account id or an ARN; \"*\" for any.",
        },
    ],
    permissions: &[
        "lambda:GetPolicy",
        "lambda:GetFunctionConfiguration",
        "lambda:RemovePermission",
        "lambda:AddPermission",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn config(env: &[(&str, &str)], timeout: i32) -> FunctionConfig {
        FunctionConfig {
            function: "orders".into(),
            timeout: Some(timeout),
            memory: Some(128),
            environment: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            update: Some("Successful".into()),
        }
    }

    #[test]
    fn break_config_changes_only_what_differs_and_waits_for_the_update() {
        let f = BreakConfig {
            environment: [("TABLE_NAME".to_string(), "nowhere".to_string()), ("STAGE".to_string(), "prod".to_string())]
                .into(),
            timeout: Some(1),
            memory: None,
        };
        let before = config(&[("TABLE_NAME", "orders"), ("STAGE", "prod")], 10);
        let change = f.plan(&Target::for_tests("orders"), &before).unwrap();
        assert_eq!(change.environment.keys().collect::<Vec<_>>(), ["TABLE_NAME"], "STAGE is prod already");
        assert_eq!((change.timeout, change.memory), (Some(1), None));
        let run = RunCtx::for_tests();
        let mut now = config(&[("TABLE_NAME", "nowhere"), ("STAGE", "prod")], 1);
        now.update = Some("InProgress".into());
        assert!(f.observe(&run, &change, &now).unwrap_err().contains("in progress"));
        assert!(Configuration::differences(&now, &now).is_empty(), "in progress in both is no difference");
        now.update = Some("Successful".into());
        assert_eq!(f.observe(&run, &change, &now), Ok(()));
        assert_eq!(Configuration::differences(&before, &now).len(), 2);
        let same =
            BreakConfig { environment: [("STAGE".to_string(), "prod".to_string())].into(), ..Default::default() };
        assert!(same.plan(&Target::for_tests("orders"), &before).unwrap_err().contains("nothing to break"));
    }

    #[test]
    fn break_config_params_are_checked() {
        assert!(BreakConfig::default().check().is_err());
        assert!(BreakConfig { timeout: Some(901), ..Default::default() }.check().unwrap_err().starts_with("`timeout`"));
        assert!(BreakConfig { memory: Some(64), ..Default::default() }.check().unwrap_err().starts_with("`memory`"));
        let bad = BreakConfig { environment: [("1X".to_string(), String::new())].into(), ..Default::default() };
        assert!(bad.check().unwrap_err().starts_with("`environment`"));
    }

    #[test]
    fn a_statement_is_read_back_into_add_permission_arguments() {
        let s: Value = serde_json::json!({
            "Sid": "apigw", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:orders:live",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:eu-west-1:123456789012:abc/*"},
                          "StringEquals": {"AWS:SourceAccount": "123456789012"}}
        });
        let p = Permission::of(&s).unwrap();
        assert_eq!(p.principal, "apigateway.amazonaws.com");
        assert_eq!(p.source_arn.as_deref(), Some("arn:aws:execute-api:eu-west-1:123456789012:abc/*"));
        assert_eq!(p.source_account.as_deref(), Some("123456789012"));
        assert_eq!(p.qualifier.as_deref(), Some("live"));
        let f = RemovePermission::default();
        assert!(f.selects("apigw", &s));
        assert!(!RemovePermission { statement_ids: vec!["other".into()], ..Default::default() }.selects("apigw", &s));
        let policy = FunctionPolicy { function: "orders".into(), statements: [("apigw".to_string(), s)].into() };
        let change = f.plan(&Target::for_tests("orders"), &policy).unwrap();
        let none = FunctionPolicy { function: "orders".into(), statements: BTreeMap::new() };
        let run = RunCtx::for_tests();
        assert_eq!(f.observe(&run, &change, &none), Ok(()));
        assert!(f.observe(&run, &change, &policy).is_err());
        assert_eq!(Permissions::differences(&policy, &none), ["orders: policy statement apigw missing"]);
        assert!(f.plan(&Target::for_tests("orders"), &none).unwrap_err().contains("nothing to break"));
    }

    #[test]
    fn throttle_reverts_to_none_or_the_previous_reservation() {
        let f = Throttle::default();
        let none = Reserved { function: "orders".into(), reserved: None };
        let change = f.plan(&Target::for_tests("orders"), &none).unwrap();
        assert_eq!(change.reserved, 0);
        let zero = Reserved { reserved: Some(0), ..none.clone() };
        assert!(f.plan(&Target::for_tests("orders"), &zero).is_err());
        assert_eq!(Concurrency::differences(&none, &zero), ["orders: reserved concurrency 0 (the snapshot: none)"]);
    }
}
