//! `firedrill sweep [--delete]`: what firedrill created that no open run owns. It looks
//! in every account and region this store's runs were made in (reached as each run
//! records), and where the credentials point (what a lost state directory left there).

use std::collections::BTreeSet;

use serde::Serialize;

use super::Global;
use crate::aws::Aws;
use crate::output::emit;
use crate::{Error, Result, sweep};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete them (those that are unmistakably firedrill's and not in use).
    #[arg(long)]
    pub delete: bool,
}

/// What `--output json` prints (its schema: `firedrill schema --command sweep`).
pub(super) type Output = Vec<Found>;

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct Found {
    account: String,
    region: String,
    #[serde(flatten)]
    leftover: sweep::Leftover,
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let mut places: Vec<(String, Aws)> = Vec::new();
    let mut seen = BTreeSet::new();
    for rec in store.runs()?.0 {
        if !seen.insert((rec.account.clone(), rec.region.clone())) {
            continue;
        }
        let reached = async {
            let aws = g.reach(&rec).await?;
            crate::aws::access::check_account(&aws, rec.place()).await?;
            Ok::<_, Error>(aws)
        };
        match reached.await {
            Ok(aws) => places.push((rec.account.clone(), aws)),
            Err(e) => crate::errln!("warning: not sweeping account {} ({}): {e}", rec.account, rec.region),
        }
    }
    match g.aws().await {
        Ok(aws) => {
            let account = aws.account().await?;
            if seen.insert((account.clone(), aws.region.clone())) {
                places.push((account, aws));
            }
        }
        Err(e) if places.is_empty() => return Err(e),
        Err(_) => {}
    }
    let mut found = Vec::new();
    for (account, aws) in &places {
        let mut here = sweep::find(aws, &store).await?;
        if args.delete {
            sweep::delete(aws, &mut here).await;
        }
        found.extend(here.into_iter().map(|leftover| Found {
            account: account.clone(),
            region: aws.region.clone(),
            leftover,
        }));
    }
    emit(g.output, &found, |found| {
        if found.is_empty() {
            return "no leftovers: everything firedrill created belongs to an open run, or is gone\n".into();
        }
        let mut s = String::new();
        for f in found.iter() {
            let l = &f.leftover;
            let state = match (&l.error, l.deleted, &l.kept) {
                (Some(e), _, _) => format!("\n    NOT deleted: {e}"),
                (None, true, _) => "  deleted".into(),
                (None, false, Some(kept)) => format!("\n    left alone: {kept}"),
                (None, false, None) => String::new(),
            };
            s += &format!(
                "{} {} ({}, account {} {}), run {}: {}{state}\n",
                l.kind, l.id, l.detail, f.account, f.region, l.run_id, l.why
            );
        }
        if !args.delete && found.iter().any(|f| f.leftover.kept.is_none()) {
            s += "run `firedrill sweep --delete` to remove those firedrill made\n";
        }
        s
    });
    if found.iter().any(|f| f.leftover.error.is_some()) {
        return Err(Error::RevertIncomplete("some leftovers could not be deleted; see above".into()));
    }
    Ok(())
}
