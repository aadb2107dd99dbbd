//! Fault files: loading, validation, and the typed [`FaultSpec`] the executor runs.
//!
//! Two phases, as ripgrep does with its flags: [`raw`] parses YAML into types that keep
//! every value's position; [`load`] validates and resolves them, collecting every
//! problem in the file so the user sees them all at once as `path:line:col`. Parsing
//! happens twice: once with `params` ignored, to learn the action, and once with the
//! action's own params type, so a wrong param is reported with its position.

pub mod raw;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::action::{self, Action};
use crate::diagnostic::{Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::target::{Pick, TargetKind, TargetSpec};
use crate::yaml;
use raw::{RawFault, RawTarget};

/// A validated fault, ready to plan. Serialized into the run's journal, so `revert`
/// never needs the YAML again.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FaultSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub action: Action,
    pub target: TargetSpec,
    /// Seconds; used by drills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// The file it came from, for messages and the investigator.
    pub source: PathBuf,
}

/// Load every fault file under `paths` (files, or directories searched for `*.yaml` /
/// `*.yml`). Returns the faults that are valid and every problem found.
pub fn load_paths(paths: &[PathBuf]) -> (Vec<FaultSpec>, Diagnostics) {
    let mut faults = Vec::new();
    let mut problems = Diagnostics::default();
    for path in paths {
        let files = match fault_files(path) {
            Ok(files) => files,
            Err(d) => {
                problems.push(d);
                continue;
            }
        };
        for file in files.into_iter().filter(|f| !is_config(f)) {
            if crate::drill::is_drill(&file) {
                problems.push(Diagnostic::file(
                    &file,
                    "this is a drill file: run it with `firedrill run`, check it with `firedrill validate`",
                ));
                continue;
            }
            match load(&file) {
                Ok(f) => faults.push(f),
                Err(d) => problems.extend(d),
            }
        }
    }
    (faults, problems)
}

/// Whether `path` is a guardrails file rather than a fault file: named `firedrill.yaml`,
/// or, whatever its name, with the keys of one at the top level (`guardrails:`,
/// `state:`) and no `action:`.
pub fn is_config(path: &Path) -> bool {
    if path.file_name().is_some_and(|n| n == crate::guardrails::DEFAULT_CONFIG) {
        return true;
    }
    let Ok(text) = crate::yaml::read_input(path) else { return false };
    let has = |key: &str| text.lines().any(|l| l.starts_with(key));
    (has("guardrails:") || has("state:")) && !has("action:")
}

/// The YAML files `path` names: itself, or those in it (recursively, sorted).
pub fn fault_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| Diagnostic::file(path, format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| Diagnostic::file(&dir, format!("cannot read directory: {e}")))?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Diagnostic::file(path, "no fault files (*.yaml, *.yml) in this directory"));
    }
    Ok(out)
}

/// Load and validate one fault file.
pub fn load(path: &Path) -> Result<FaultSpec, Diagnostics> {
    let source = crate::yaml::read_input(path)?;
    parse(path, &source)
}

/// Validate the text of a fault file.
pub fn parse(path: &Path, source: &str) -> Result<FaultSpec, Diagnostics> {
    parse_as(path, source, None)
}

/// Validate a fault. `default_name` is given for a fault written inline in a drill
/// step: `source` is then the drill file's text with all but the fault blanked out, so
/// that every position is the drill file's.
pub fn parse_as(path: &Path, source: &str, default_name: Option<&str>) -> Result<FaultSpec, Diagnostics> {
    if source.trim().is_empty() {
        return Err(Diagnostic::file(path, "empty fault file").into());
    }
    // Pass one: structure, unknown keys and the action name.
    let doc: RawFault<serde::de::IgnoredAny> = yaml::parse(path, source)?;
    let at = |pos: Pos, msg: String| Diagnostic::at(path, source, pos, msg);
    let mut problems = Diagnostics::default();

    let action_name = doc.action.value.as_str();
    let Some(info) = action::find(action_name) else {
        let mut msg = format!("unknown action `{action_name}`");
        match did_you_mean(action_name, action::CATALOGUE.iter().map(|a| a.name)) {
            Some(best) => msg.push_str(&format!("; did you mean `{best}`?")),
            None => msg.push_str(" (run `firedrill actions` for the catalogue)"),
        }
        problems.push(at(doc.action.referenced.into(), msg));
        // Still check the rest of the file so every problem shows at once.
        let _ = target_spec(&doc.target.value, None, &at, doc.target.referenced.into(), &mut problems);
        return Err(problems);
    };

    // Pass two: the params, typed for this action.
    let action = Action::parse(info.name, &FileParams { path, source })
        .expect("a catalogue entry parses")
        .map_err(Diagnostics::from)?;

    let name = match (&doc.name, default_name) {
        (Some(n), _) if n.value.trim().is_empty() => {
            problems.push(at(n.referenced.into(), "`name` must not be empty".into()));
            String::new()
        }
        (Some(n), _) => n.value.clone(),
        (None, Some(default)) => default.to_owned(),
        (None, None) => {
            problems.push(at(
                doc.action.referenced.into(),
                "missing field `name` (every fault file names its fault)".into(),
            ));
            String::new()
        }
    };
    let target = target_spec(&doc.target.value, Some(info.target), &at, doc.target.referenced.into(), &mut problems);
    if let Some(t) = &target
        && let Err(msg) = action.check_target(t)
    {
        let pos = param_pos(path, source, &msg).unwrap_or(doc.action.referenced.into());
        problems.push(at(pos, msg));
    }
    let duration_secs = doc.duration.as_ref().and_then(|d| match crate::duration::parse_duration(&d.value) {
        Ok(secs) => Some(secs),
        Err(msg) => {
            problems.push(at(d.referenced.into(), msg));
            None
        }
    });
    if let Some(runbook) = &doc.runbook
        && let Err(msg) = check_runbook(path, &runbook.value)
    {
        problems.push(at(runbook.referenced.into(), msg));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(FaultSpec {
        name,
        description: doc.description,
        action,
        target: target.expect("no problems means a target"),
        duration_secs,
        runbook: doc.runbook.map(|r| r.value),
        hints: doc.hints,
        source: path.to_owned(),
    })
}

/// Validate the `target:` block; `kind` is the action's target kind, when known.
fn target_spec(
    raw: &RawTarget,
    kind: Option<TargetKind>,
    at: &impl Fn(Pos, String) -> Diagnostic,
    pos: Pos,
    problems: &mut Diagnostics,
) -> Option<TargetSpec> {
    let before = problems.len();
    if raw.ids.is_empty() && raw.names.is_empty() && raw.tags.is_empty() {
        problems.push(at(pos, "`target` needs at least one of `ids`, `names` or `tags`: firedrill never targets every resource by default".into()));
    }
    // Fields that only some target kinds take.
    if let Some(kind) = kind {
        let only = |field: &str, pos: Option<Pos>, for_kind: TargetKind, problems: &mut Diagnostics| {
            if let Some(pos) = pos
                && kind != for_kind
            {
                problems.push(at(
                    pos,
                    format!("`{field}` applies only to {for_kind} targets; this action targets {kind}s"),
                ));
            }
        };
        only("zone", raw.zone.as_ref().map(|z| z.referenced.into()), TargetKind::Record, problems);
        only("type", raw.record_type.as_ref().map(|z| z.referenced.into()), TargetKind::Record, problems);
        only("set_identifier", raw.set_identifier.as_ref().map(|z| z.referenced.into()), TargetKind::Record, problems);
        only("via", raw.via.as_ref().map(|z| z.referenced.into()), TargetKind::Role, problems);
        only("port", raw.port.as_ref().map(|z| z.referenced.into()), TargetKind::Listener, problems);
        if let Some(v) = &raw.vpc
            && !kind.in_vpc()
        {
            problems
                .push(at(v.referenced.into(), format!("`vpc` applies to targets that live in a VPC; {kind}s do not")));
        }
        if kind == TargetKind::Record && raw.zone.is_none() {
            problems.push(at(pos, "record targets need `zone` (the hosted zone's name or id)".into()));
        }
    }
    if let Some(v) = &raw.vpc
        && !(v.value.starts_with("vpc-")
            && v.value.len() > 4
            && v.value[4..].bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        problems.push(at(v.referenced.into(), format!("`{}` is not a VPC id (vpc-0123456789abcdef0)", v.value)));
    }
    let pick = match (&raw.count, &raw.percent) {
        (Some(c), Some(_)) => {
            problems.push(at(c.referenced.into(), "give `count` or `percent`, not both".into()));
            Pick::All
        }
        (Some(c), None) if c.value == 0 => {
            problems.push(at(c.referenced.into(), "`count` must be at least 1".into()));
            Pick::All
        }
        (Some(c), None) => Pick::Count(c.value),
        (None, Some(p)) if !(1..=100).contains(&p.value) => {
            problems.push(at(p.referenced.into(), "`percent` must be between 1 and 100".into()));
            Pick::All
        }
        (None, Some(p)) => Pick::Percent(p.value),
        (None, None) => Pick::All,
    };
    (problems.len() == before).then(|| TargetSpec {
        ids: raw.ids.clone(),
        names: raw.names.clone(),
        tags: raw.tags.clone(),
        pick,
        seed: raw.seed,
        zone: raw.zone.as_ref().map(|z| z.value.clone()),
        record_type: raw.record_type.as_ref().map(|t| t.value.to_uppercase()),
        set_identifier: raw.set_identifier.as_ref().map(|s| s.value.clone()),
        via: raw.via.as_ref().map(|v| v.value),
        port: raw.port.as_ref().map(|p| p.value),
        vpc: raw.vpc.as_ref().map(|v| v.value.clone()),
    })
}

/// A runbook is a URL, or a path that must exist: relative to the fault file's
/// directory or one of its ancestors (so `runbooks/x.md` works from `faults/`). A
/// `#section` of a Markdown file must name one of its headings.
fn check_runbook(fault_path: &Path, runbook: &str) -> Result<(), String> {
    if runbook.starts_with("https://") || runbook.starts_with("http://") {
        return Ok(());
    }
    let (file, section) = match runbook.split_once('#') {
        Some((f, s)) => (f, Some(s)),
        None => (runbook, None),
    };
    // A bare file name's parent is "", which `absolute` refuses: that is the current directory.
    let dir = fault_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let found = if Path::new(file).is_absolute() {
        Some(PathBuf::from(file)).filter(|p| p.is_file())
    } else {
        abs.ancestors().map(|a| a.join(file)).find(|p| p.is_file())
    };
    let Some(found) = found else {
        return Err(format!("runbook `{file}` not found (looked in {} and its parent directories)", dir.display()));
    };
    if let Some(section) = section.filter(|_| file.ends_with(".md")) {
        let text =
            std::fs::read_to_string(&found).map_err(|e| format!("cannot read runbook {}: {e}", found.display()))?;
        if !markdown_anchors(&text).any(|a| a == section) {
            return Err(format!("runbook `{file}` has no section `#{section}`"));
        }
    }
    Ok(())
}

/// The anchors a Markdown renderer (GitHub's rules) makes for the headings of `text`.
fn markdown_anchors(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().filter(|l| l.starts_with('#')).map(|l| {
        l.trim_start_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect()
    })
}

/// The params of a fault file, for [`Action::parse`].
struct FileParams<'a> {
    path: &'a Path,
    source: &'a str,
}

impl action::ParamsSource for FileParams<'_> {
    fn params<P: action::Params>(&self) -> Result<P, Diagnostic> {
        parse_params(self.path, self.source)
    }
}

/// Pass two for one action: parse the file again with `P` as the params type, and run
/// the params' own checks, located at the param a message names first (`` `cidr` …``),
/// else at the `params:` block.
pub fn parse_params<P: action::Params>(path: &Path, source: &str) -> Result<P, Diagnostic> {
    let doc: RawFault<P> = yaml::parse(path, source)?;
    match doc.params {
        Some(p) => {
            let at = |msg: String| {
                Diagnostic::at(path, source, param_pos(path, source, &msg).unwrap_or(p.referenced.into()), msg)
            };
            p.value.check().map_err(at)?;
            Ok(p.value)
        }
        None => {
            let p = P::default();
            p.check().map_err(|msg| Diagnostic::at(path, source, doc.action.referenced.into(), msg))?;
            Ok(p)
        }
    }
}

/// Where the param a message is about (its first word, in backticks) is written in the
/// `params:` block of `source`, if it is.
pub fn param_pos(path: &Path, source: &str, message: &str) -> Option<Pos> {
    let name = message.strip_prefix('`')?.split('`').next()?;
    type Keys = std::collections::BTreeMap<String, yaml::Spanned<serde::de::IgnoredAny>>;
    let doc: RawFault<Keys> = yaml::parse(path, source).ok()?;
    doc.params?.value.get(name).map(|v| v.referenced.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github_rules() {
        let md = "# Security groups\n## 2. Inbound rules removed (revoke-ingress)\ntext\n";
        let anchors: Vec<String> = markdown_anchors(md).collect();
        assert_eq!(anchors, ["security-groups", "2-inbound-rules-removed-revoke-ingress"]);
    }

    #[test]
    fn every_problem_in_a_file_is_reported() {
        let src = "name: x\naction: security-group.revoke-ingress\ntarget:\n  count: 1\n  percent: 5\nduration: soon\n";
        let err = parse(Path::new("f.yaml"), src).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("f.yaml:4:3: error: `target` needs at least one of"), "{text}");
        assert!(text.contains("f.yaml:4:10: error: give `count` or `percent`"), "{text}");
        assert!(text.contains("f.yaml:6:11: error: invalid duration"), "{text}");
    }
}
