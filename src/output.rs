//! Output: every command prints text for people or, with `--output json`, one JSON
//! document on stdout for scripts. JSON field names are part of the interface: add
//! fields, never rename them. Errors always go to stderr as text.
//!
//! Everything is printed through [`out`] and [`err`] (and the [`outln!`](crate::outln)
//! and [`errln!`](crate::errln) macros), which ignore a failed write: a closed pipe
//! (`firedrill run drill.yaml | head`), a `tee` ended by the same Ctrl-C, or a terminal
//! that went away must never stop a command, least of all a revert. Nothing is lost by
//! it: the journal holds what the command did. `println!` would panic there instead.
//!
//! Both also escape control characters but newline and tab ([`printable`]): a name
//! from a file or from AWS (a `Name` tag) holding a carriage return or an ANSI escape
//! must not rewrite what the terminal shows — a line that reads `restored`, say.

use std::io::Write;

use serde::Serialize;

use crate::store::RunRecord;

/// How a command prints what it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Write `text` to stdout, [`printable`]; a failed write (a closed pipe, a dead
/// terminal) is ignored.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(printable(text).as_bytes()).and_then(|()| stdout.flush());
}

/// Write `text` to stderr, [`printable`]; a failed write is ignored.
pub fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(printable(text).as_bytes());
}

/// `text` with every control character but newline and tab escaped as Rust writes it
/// (`\r`, `\u{1b}`), so what reaches a terminal is only what firedrill means to show.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let control = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if control(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `println!` that never panics: see [`out`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that never panics: see [`err`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::err(&format!("{}\n", format_args!($($arg)*))) };
}

/// Print `value` as JSON, or as the text `text` renders.
pub fn emit<T: Serialize>(format: Format, value: &T, text: impl FnOnce(&T) -> String) {
    match format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(value).expect("output serializes")),
        Format::Text => {
            let s = text(value);
            if !s.is_empty() {
                crate::outln!("{}", s.trim_end());
            }
        }
    }
}

/// A run as `status`, `inject` and `revert` show it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunView {
    pub run_id: String,
    pub status: &'static str,
    pub needs_revert: bool,
    pub started_at: String,
    pub started_by: String,
    pub account: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub state_dir: String,
    pub faults: Vec<FaultView>,
    pub created: Vec<CreatedView>,
}

/// One fault of a run, as commands print it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FaultView {
    pub name: String,
    pub action: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    pub revertible: bool,
    pub targets: Vec<TargetView>,
}

/// One target of a run, as commands print it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TargetView {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The VPC it is in, for kinds that live in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
    pub status: &'static str,
    /// Seen live by `status`: broken, restored, changed or gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_restored_at: Option<String>,
    pub changes: Vec<String>,
    pub snapshot: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

/// A resource a run created, as commands print it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreatedView {
    pub fault: String,
    pub kind: String,
    pub id: String,
    pub deleted: bool,
}

impl RunView {
    /// The run as commands print it.
    pub fn new(rec: &RunRecord) -> RunView {
        let faults = rec
            .faults
            .iter()
            .enumerate()
            .map(|(fi, f)| FaultView {
                name: f.name.clone(),
                action: f.action.info().name.into(),
                source: f.source.display().to_string(),
                runbook: f.runbook.clone(),
                revertible: !f.action.info().one_shot,
                targets: rec
                    .targets
                    .iter()
                    .filter(|t| t.fault == fi)
                    .map(|t| TargetView {
                        id: t.target.id.clone(),
                        name: t.target.name.clone(),
                        vpc: t.target.vpc.clone(),
                        status: t.phase.as_str(),
                        live: None,
                        first_restored_at: t.first_restored_at.clone(),
                        changes: t.changes.clone(),
                        snapshot: rec.files.location_of(&t.snapshot).display().to_string(),
                        error: t.error.clone(),
                        differences: t.differences.clone(),
                    })
                    .collect(),
            })
            .collect();
        let created = rec
            .created
            .iter()
            .map(|c| CreatedView {
                fault: rec.faults.get(c.fault).map(|f| f.name.clone()).unwrap_or_default(),
                kind: c.kind.clone(),
                id: c.id.clone(),
                deleted: c.deleted,
            })
            .collect();
        RunView {
            run_id: rec.run_id.clone(),
            status: rec.status(),
            needs_revert: rec.needs_revert(),
            started_at: rec.started_at.clone(),
            started_by: rec.started_by.clone(),
            account: rec.account.clone(),
            region: rec.region.clone(),
            endpoint: rec.endpoint.clone(),
            state_dir: rec.files.location().display().to_string(),
            faults,
            created,
        }
    }

    /// The run in words.
    pub fn text(&self) -> String {
        let mut s = format!("run {}  {}\n", self.run_id, self.status);
        s += &format!("  account {}, region {}", self.account, self.region);
        if let Some(e) = &self.endpoint {
            s += &format!(", endpoint {e}");
        }
        s += &format!("\n  started {} by {}\n", self.started_at, self.started_by);
        for f in &self.faults {
            s += &format!("\nfault {}  ({}, {})\n", f.name, f.action, f.source);
            if let Some(r) = &f.runbook {
                s += &format!("  runbook: {r}\n");
            }
            for t in &f.targets {
                let mut label = match &t.name {
                    Some(n) => format!("{} ({n})", t.id),
                    None => t.id.clone(),
                };
                if let Some(vpc) = &t.vpc {
                    label += &format!(" in {vpc}");
                }
                let note = if t.status == "done" { "  (one-shot: nothing to revert)" } else { "" };
                let live = t.live.map(|l| format!(" ({l})")).unwrap_or_default();
                s += &format!("  {label}  {}{live}{note}\n", t.status);
                if let Some(at) = &t.first_restored_at {
                    s += &format!("      restored by someone else, first seen {at}\n");
                }
                for c in &t.changes {
                    s += &format!("      {c}\n");
                }
                if let Some(e) = &t.error {
                    let label = if t.status == "irreversible" { "note" } else { "error" };
                    s += &format!("      {label}: {e}\n");
                }
                for d in &t.differences {
                    s += &format!("      differs: {d}\n");
                }
            }
        }
        if !self.created.is_empty() {
            s += "\ncreated by this run:\n";
            for c in &self.created {
                let state = if c.deleted {
                    "deleted"
                } else if crate::action::KEPT_KINDS.contains(&c.kind.as_str()) {
                    "kept"
                } else {
                    "exists"
                };
                s += &format!("  {} {}  {state}  (fault {})\n", c.kind, c.id, c.fault);
            }
        }
        s += &format!("\nsnapshots: {}/snapshots\n", self.state_dir);
        s
    }
}

/// Progress of a long phase (a fleet's change calls, paced to the account's limits), on
/// stderr. Nothing for the first few seconds, so short commands print nothing extra;
/// then, on a terminal, one line redrawn every second (`inject: 120/1000 targets, about
/// 3m10s left`), otherwise a plain line every 30 s. The estimate is from the pace so far,
/// which the pacer holds to the account's limits. Dropped when the phase ends.
pub struct Progress {
    state: std::sync::Arc<ProgressState>,
    ticker: tokio::task::JoinHandle<()>,
}

struct ProgressState {
    label: String,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    drawn: std::sync::atomic::AtomicBool,
}

impl Progress {
    const QUIET: std::time::Duration = std::time::Duration::from_secs(3);

    /// Progress of a phase of `total` targets: shown after a few seconds.
    pub fn start(label: &str, total: usize) -> Progress {
        use std::io::IsTerminal;
        let state = std::sync::Arc::new(ProgressState {
            label: label.to_owned(),
            total,
            done: Default::default(),
            drawn: Default::default(),
        });
        let terminal = std::io::stderr().is_terminal();
        let every = std::time::Duration::from_secs(if terminal { 1 } else { 30 });
        let s = state.clone();
        let ticker = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            tokio::time::sleep(Progress::QUIET).await;
            loop {
                let line = s.line(started.elapsed());
                if terminal {
                    err(&format!("\r\x1b[K{line}"));
                    s.drawn.store(true, std::sync::atomic::Ordering::Relaxed);
                } else {
                    err(&format!("{line}\n"));
                }
                tokio::time::sleep(every).await;
            }
        });
        Progress { state, ticker }
    }

    /// `n` more targets done.
    pub fn add(&self, n: usize) {
        self.state.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ProgressState {
    fn line(&self, elapsed: std::time::Duration) -> String {
        let done = self.done.load(std::sync::atomic::Ordering::Relaxed).min(self.total);
        let (label, total) = (&self.label, self.total);
        if done == 0 {
            return format!("{label}: 0/{total} targets, waiting for AWS");
        }
        let left = elapsed.as_secs_f64() / done as f64 * (total - done) as f64;
        let left = std::time::Duration::from_secs(left.round() as u64);
        format!(
            "{label}: {done}/{total} targets, about {} left",
            jiff::SignedDuration::try_from(left).map(|d| format!("{d:#}")).unwrap_or_default()
        )
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.ticker.abort();
        if self.state.drawn.load(std::sync::atomic::Ordering::Relaxed) {
            err("\r\x1b[K");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_but_newlines_and_tabs() {
        assert_eq!(super::printable("web\r\u{1b}[2Krestored\u{9b}\n\tok"), "web\\r\\u{1b}[2Krestored\\u{9b}\n\tok");
        assert!(matches!(super::printable("plain\n"), std::borrow::Cow::Borrowed(_)));
    }

    use super::ProgressState;
    use std::time::Duration;

    #[test]
    fn progress_estimates_what_is_left_from_the_pace_so_far() {
        let s = ProgressState { label: "inject".into(), total: 1000, done: 250.into(), drawn: false.into() };
        assert_eq!(s.line(Duration::from_secs(10)), "inject: 250/1000 targets, about 30s left");
        s.done.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(s.line(Duration::from_secs(10)), "inject: 0/1000 targets, waiting for AWS");
        s.done.store(10, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(s.line(Duration::from_secs(19)), "inject: 10/1000 targets, about 31m 21s left");
    }
}
