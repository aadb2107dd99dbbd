//! `firedrill validate PATH...`: check fault files offline.

use std::path::PathBuf;

use serde::Serialize;

use super::Global;
use crate::fault;
use crate::output::emit;
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fault files, or directories to search for *.yaml / *.yml.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

#[derive(Serialize)]
struct Report {
    valid: Vec<Valid>,
}

#[derive(Serialize)]
struct Valid {
    path: String,
    name: String,
    action: &'static str,
}

pub fn exec(args: Args, g: &Global) -> Result<()> {
    let (faults, problems) = fault::load_paths(&args.paths);
    if !problems.is_empty() {
        return Err(Error::Input(problems));
    }
    let report = Report {
        valid: faults
            .iter()
            .map(|f| Valid {
                path: f.source.display().to_string(),
                name: f.name.clone(),
                action: f.action.info().name,
            })
            .collect(),
    };
    emit(g.output, &report, |r| {
        let mut s: String = r
            .valid
            .iter()
            .map(|v| format!("ok  {}  ({}, {})\n", v.path, v.name, v.action))
            .collect();
        s += &format!("{} fault file(s) valid\n", r.valid.len());
        s
    });
    Ok(())
}
