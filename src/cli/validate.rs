//! `firedrill validate PATH...`: check fault, drill and schedule files and guardrails offline.

use std::path::PathBuf;

use serde::Serialize;

use super::Global;
use crate::fault;
use crate::guardrails::Guardrails;
use crate::output::emit;
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fault, drill or schedule files, or directories to search for *.yaml / *.yml.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// What `--output json` prints (its schema: `firedrill schema --command validate`).
pub(super) type Output = Report;

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct Report {
    valid: Vec<Valid>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub(super) struct Valid {
    path: String,
    name: String,
    action: &'static str,
}

pub fn exec(args: Args, g: &Global) -> Result<()> {
    // Drill and schedule files are checked as such (with the files they name); the rest as
    // faults. Kubernetes manifests (the example CronJob) are not firedrill's: skipped.
    let mut drills = Vec::new();
    let mut schedules = Vec::new();
    let mut others = Vec::new();
    for path in &args.paths {
        match fault::fault_files(path) {
            Ok(files) => {
                for f in files {
                    if crate::drill::is_drill(&f) {
                        drills.push(f)
                    } else if crate::yaml::has_top_level_key(&f, &["schedules:"]) {
                        schedules.push(f)
                    } else if crate::yaml::has_top_level_key(&f, &["apiVersion:"]) {
                        crate::errln!("skip  {} (a Kubernetes manifest, not a firedrill file)", f.display());
                    } else {
                        others.push(f)
                    }
                }
            }
            Err(_) => others.push(path.clone()),
        }
    }
    let (faults, mut problems) = if others.is_empty() {
        (Vec::new(), crate::diagnostic::Diagnostics::default())
    } else {
        fault::load_paths(&others)
    };
    let mut valid: Vec<Valid> = faults
        .iter()
        .map(|f| Valid { path: f.source.display().to_string(), name: f.name.clone(), action: f.action.info().name })
        .collect();
    for file in &drills {
        match crate::drill::load(file) {
            Ok(d) => valid.push(Valid { path: file.display().to_string(), name: d.name, action: "drill" }),
            Err(d) => problems.extend(d),
        }
    }
    for file in &schedules {
        match crate::schedule::load(file) {
            Ok(s) => valid.push(Valid {
                path: file.display().to_string(),
                name: format!("{} schedule(s)", s.schedules.len()),
                action: "schedule",
            }),
            Err(d) => problems.extend(d),
        }
    }
    // Guardrails files found among the paths are checked too.
    for path in &args.paths {
        for file in fault::fault_files(path).unwrap_or_default().into_iter().filter(|f| fault::is_config(f)) {
            match Guardrails::load(Some(&file)) {
                Ok(_) => valid.push(Valid { path: file.display().to_string(), name: "guardrails".into(), action: "-" }),
                Err(Error::Input(d)) => problems.extend(d),
                Err(e) => return Err(e),
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Input(problems));
    }
    let report = Report { valid };
    emit(g.output, &report, |r| {
        let mut s: String = r.valid.iter().map(|v| format!("ok  {}  ({}, {})\n", v.path, v.name, v.action)).collect();
        s += &format!("{} file(s) valid\n", r.valid.len());
        s
    });
    Ok(())
}
