//! `firedrill policy FILE... | --drill DRILL`: the least-privilege IAM policy for exactly
//! these faults (see `crate::policy`), as JSON to paste into IAM.

use std::path::PathBuf;

use super::Global;
use crate::policy::{Scope, document, drill_actions, fault_actions, state_actions};
use crate::store::Location;
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
#[command(after_help = "The policy is for the identity firedrill acts as in the target account (a team's \
    role in a drill). Accounts and regions are narrowed to the guardrails' (firedrill.yaml); the state \
    store's statements are added when --state (or state:) names s3://BUCKET/PREFIX.")]
pub struct Args {
    /// Fault files, or directories of them.
    #[arg(required_unless_present = "drill", conflicts_with = "drill")]
    faults: Vec<PathBuf>,
    /// A drill: its faults, its probes and alarms, in every team's account.
    #[arg(long, value_name = "DRILL")]
    drill: Option<PathBuf>,
}

pub fn exec(args: Args, g: &Global) -> Result<()> {
    let guardrails = crate::guardrails::Guardrails::load(g.config.as_deref())?;
    let state = match g.state.state.as_deref().or(guardrails.state.as_deref()) {
        Some(text) => Some(Location::parse(text)?),
        None => None,
    };
    let regions = match &g.aws.region {
        Some(r) => vec![r.clone()],
        None => guardrails.regions.clone(),
    };
    let scope =
        Scope { accounts: guardrails.accounts.clone(), regions, state, state_kms_key: g.state.state_kms_key.clone() };
    let (mut actions, roles) = match &args.drill {
        Some(path) => {
            let drill = crate::drill::load(path).map_err(Error::Input)?;
            let roles: Vec<String> = drill.teams.iter().filter_map(|t| t.role_arn.clone()).collect();
            (drill_actions(&drill), roles)
        }
        None => (fault_actions(&super::load_faults(&args.faults)?), Vec::new()),
    };
    actions.extend(state_actions(&scope));
    let doc = document(&actions, &scope);
    crate::outln!("{}", serde_json::to_string_pretty(&doc).expect("a policy serializes"));
    if !roles.is_empty() {
        crate::errln!(
            "note: this policy is for each team's role; the credentials firedrill starts from also need \
             sts:AssumeRole on {}",
            roles.join(", ")
        );
    }
    Ok(())
}
