//! Drills: a game day as a file. Faults on a timeline (`at: 10m`, or `after:` another
//! step), run against one or many teams at once, with probes watching each team's
//! service, stop conditions for real harm, hints, and a score per team and step.
//!
//! - [`load`] validates a drill file up front, every problem as `path:line:col`: fault
//!   files exist and parse (or inline faults, located in the drill file), templates
//!   resolve for every team, probe references exist, `after:` has no cycles.
//! - [`runner`] runs it: one run in the state store per team, so `status`, `diff`,
//!   `revert` and `abort` work on a drill as on a single fault. Its own journal
//!   ([`journal`]) records the timeline, probe history, hints and who fixed what.
//! - [`score`] turns that journal into times to recover; [`report`] writes it up.

pub mod control;
pub mod journal;
pub mod probe;
pub(crate) mod raw;
pub mod report;
pub mod runner;
pub mod score;
mod steps;
pub mod template;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::yaml::{Location, Spanned};
use serde::{Deserialize, Serialize};

use crate::aws::AssumeRole;
use crate::diagnostic::{Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::fault::{self, FaultSpec};
use probe::{Probe, ProbeKind};
use raw::{RawDetect, RawDrill, RawEnd, RawFaultRef, RawProbe, RawScoring, RawStep, RawStop};
use template::TeamVars;

/// A validated drill.
#[derive(Clone, Debug, Serialize)]
pub struct Drill {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub teams: Vec<Team>,
    pub probes: BTreeMap<String, Probe>,
    pub steady_state: Vec<String>,
    pub steps: Vec<Step>,
    pub stop_when: Vec<StopCondition>,
    #[serde(serialize_with = "secs_opt")]
    pub end: Option<Duration>,
    /// What the end leaves: the teams' fixes (the default), or every target exactly as
    /// its snapshot.
    pub reset: Reset,
    #[serde(serialize_with = "secs")]
    pub poll: Duration,
    pub scoring: Scoring,
    /// Where runbook links point when they are not files beside the drill.
    pub runbook_base_url: Option<String>,
}

/// What a drill's end leaves of the teams' fixes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Reset {
    /// Fixes stay as the teams made them (and are reported); what nobody fixed is reverted.
    #[default]
    Keep,
    /// Every target back exactly as its snapshot, the teams' changes undone too, after
    /// the report has recorded them.
    Exact,
}

/// How fixes score: see [`score::rule`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scoring {
    /// The share of the points a fix that is not exact (`changed`) keeps.
    pub changed: f64,
    /// The share a fix that opened something up (a security regression) keeps.
    pub regression: f64,
    /// Points a released hint costs.
    pub hint: u32,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring { changed: 0.7, regression: 0.4, hint: 10 }
    }
}

/// A team: who it is, how to reach its account, and what scopes its targets.
#[derive(Clone, Debug, Serialize)]
pub struct Team {
    pub name: String,
    pub profile: Option<String>,
    #[serde(skip)]
    pub role: Option<AssumeRole>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Tags added to every fault's target selector for this team.
    pub scope: BTreeMap<String, String>,
    pub vars: BTreeMap<String, String>,
}

impl Team {
    /// What `{{team.…}}` templates see for this team in `region`.
    pub fn template_vars(&self, region: &str) -> TeamVars {
        TeamVars {
            name: self.name.clone(),
            region: region.to_owned(),
            vars: self.vars.clone(),
            scope: self.scope.clone(),
        }
    }

    /// The step's fault as this team runs it: its target narrowed by the team's scope.
    pub fn scoped(&self, fault: &FaultSpec) -> FaultSpec {
        let mut f = fault.clone();
        f.target.tags.extend(self.scope.clone());
        f
    }
}

/// One step of a drill: a fault, when it starts, how long it lasts, its hints and probes.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: String,
    pub start: Start,
    pub fault: FaultSpec,
    /// Auto-revert this long after the break, if the team has not fixed it.
    #[serde(serialize_with = "secs_opt")]
    pub duration: Option<Duration>,
    pub hints: Vec<Hint>,
    /// Probes that must pass (besides the fault being fixed) to count as recovered.
    pub probes: Vec<String>,
    /// What should notice the break.
    pub detect: Vec<Detect>,
}

/// Something that should notice a step's break.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detect {
    /// A CloudWatch alarm in the team's account goes to ALARM.
    Alarm(String),
    /// A probe of the drill fails.
    Probe(String),
}

impl std::fmt::Display for Detect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detect::Alarm(a) => write!(f, "alarm {a}"),
            Detect::Probe(p) => write!(f, "probe {p}"),
        }
    }
}

/// When a step starts.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    #[serde(serialize_with = "secs")]
    At(Duration),
    After(String),
}

impl std::fmt::Display for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Start::At(d) => write!(f, "at {}", human(*d)),
            Start::After(s) => write!(f, "after {s}"),
        }
    }
}

/// A hint, released `after` the step started.
#[derive(Clone, Debug, Serialize)]
pub struct Hint {
    #[serde(serialize_with = "secs")]
    pub after: Duration,
    pub text: String,
}

/// When a drill stops early and reverts everything.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StopCondition {
    Probe {
        probe: String,
        #[serde(serialize_with = "secs")]
        failing_for: Duration,
    },
    /// A CloudWatch alarm in ALARM state, in any team's account.
    Alarm { alarm: String },
}

impl std::fmt::Display for StopCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopCondition::Probe { probe, failing_for } => {
                write!(f, "probe {probe} failing for {}", human(*failing_for))
            }
            StopCondition::Alarm { alarm } => write!(f, "alarm {alarm} in ALARM"),
        }
    }
}

/// `1m30s`, `45s`, `2h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if sec > 0 || out.is_empty() {
        out += &format!("{sec}s");
    }
    out
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn secs_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Default time between looks at every team's faults.
const DEFAULT_POLL: Duration = Duration::from_secs(5);
const DEFAULT_EVERY: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Whether `path` holds a drill rather than a fault: a top-level `steps:` or `teams:` key.
pub fn is_drill(path: &Path) -> bool {
    crate::yaml::has_top_level_key(path, &["steps:", "teams:"])
}

/// Load and validate a drill file: every problem, located.
pub fn load(path: &Path) -> Result<Drill, Diagnostics> {
    let source = crate::yaml::read_input(path)?;
    parse(path, &source)
}

/// A positive duration.
fn positive(text: &str) -> Result<Duration, String> {
    let d = crate::duration::parse_offset(text)?;
    if d.is_zero() {
        return Err(format!("duration `{text}` must be positive"));
    }
    Ok(d)
}

/// A step's runbook as a link that works wherever the report is read: under
/// `runbook_base_url` when the drill gives one; else the file it names, found beside the
/// fault file or in a folder above it (a runbook is written relative to the repository,
/// `runbooks/dns.md#...`), or beside the drill or above; else as written.
pub fn runbook_link(drill: &Drill, fault_source: &Path, runbook: &str) -> String {
    if let Some(base) = &drill.runbook_base_url {
        return format!("{base}/{}", runbook.trim_start_matches('/'));
    }
    if runbook.contains("://") {
        return runbook.to_owned();
    }
    let (file, anchor) = match runbook.split_once('#') {
        Some((f, a)) => (f, format!("#{a}")),
        None => (runbook, String::new()),
    };
    let starts = [fault_source.parent(), drill.path.parent()];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(file);
            if candidate.is_file() {
                let path = std::fs::canonicalize(&candidate).unwrap_or(candidate);
                return format!("{}{anchor}", path.display());
            }
        }
    }
    runbook.to_owned()
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// Parse and validate a drill file; every problem at once, with its position.
pub fn parse(path: &Path, source: &str) -> Result<Drill, Diagnostics> {
    if source.trim().is_empty() {
        return Err(Diagnostic::file(path, "empty drill file").into());
    }
    let doc: RawDrill = crate::yaml::parse(path, source)?;
    let mut v = Validator { path, source, problems: Diagnostics::default() };

    let teams = v.teams(&doc);
    let probes = v.probes(&doc.probes);
    let poll = doc.poll.as_ref().and_then(|p| v.duration(p, positive)).unwrap_or(DEFAULT_POLL);
    let (end, reset) = v.end(doc.end.as_ref());
    let scoring = v.scoring(doc.scoring.as_ref());
    let runbook_base_url = doc.runbook_base_url.as_ref().and_then(|u| v.base_url(u));
    let steps = v.steps(&doc, end, &probes);
    for s in &doc.steady_state {
        v.probe_ref(s, &probes);
    }
    let stop_when = v.stop_conditions(&doc.stop_when, &probes);
    v.templates(&doc, &teams, &probes);

    if !v.problems.is_empty() {
        return Err(v.problems);
    }
    Ok(Drill {
        name: doc.name.value,
        description: doc.description,
        path: path.to_owned(),
        teams,
        probes,
        steady_state: doc.steady_state.into_iter().map(|s| s.value).collect(),
        steps,
        stop_when,
        end,
        reset,
        poll,
        scoring,
        runbook_base_url,
    })
}

/// A cycle among `after:` links, as step names, if there is one.
fn find_cycle(steps: &[Step]) -> Option<Vec<String>> {
    let next = |name: &str| {
        steps.iter().find(|s| s.name == name).and_then(|s| match &s.start {
            Start::After(a) => Some(a.clone()),
            Start::At(_) => None,
        })
    };
    for s in steps {
        let mut path = vec![s.name.clone()];
        let mut cur = s.name.clone();
        while let Some(n) = next(&cur) {
            if n == s.name {
                path.push(n);
                return Some(path);
            }
            if path.contains(&n) {
                break;
            }
            path.push(n.clone());
            cur = n;
        }
    }
    None
}

struct Validator<'a> {
    path: &'a Path,
    source: &'a str,
    problems: Diagnostics,
}

impl Validator<'_> {
    /// The steps: each one's fault, name, start, duration, hints and probes; then what
    /// refers across steps (`after:`, `restored:`), once every name is known.
    fn steps(&mut self, doc: &RawDrill, end: Option<Duration>, probes: &BTreeMap<String, Probe>) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut names: BTreeMap<String, Location> = BTreeMap::new();
        for (i, raw) in doc.steps.value.iter().enumerate() {
            let (name, name_at, step) = self.step(raw, i, end, probes);
            if names.insert(name.clone(), name_at).is_some() {
                self.at(name_at, format!("two steps are named `{name}`: give each a unique `name`"));
            }
            steps.extend(step);
        }
        if doc.steps.value.is_empty() {
            self.at(doc.steps.referenced, "a drill needs at least one step".into());
        }
        // `after:` must name a step, and the steps must not wait on each other in a circle.
        for raw in &doc.steps.value {
            if let Some(after) = &raw.value.after
                && !names.contains_key(&after.value)
            {
                self.unknown(after, "step", names.keys().map(String::as_str));
            }
        }
        if let Some(cycle) = find_cycle(&steps) {
            let at = names.get(&cycle[0]).copied().unwrap_or(doc.steps.referenced);
            self.at(at, format!("steps wait on each other in a circle: {}", cycle.join(" -> ")));
        }
        for p in doc.probes.values() {
            if let Some(r) = &p.value.restored
                && !names.contains_key(&r.value.step.value)
            {
                self.unknown(&r.value.step, "step", names.keys().map(String::as_str));
            }
        }
        steps
    }

    /// Step `i`'s name, where it is written, and the step; `None` if its fault or its
    /// start is wrong (the problem is recorded).
    fn step(
        &mut self,
        raw: &Spanned<RawStep>,
        i: usize,
        end: Option<Duration>,
        probes: &BTreeMap<String, Probe>,
    ) -> (String, Location, Option<Step>) {
        let s = &raw.value;
        let fallback = || format!("step-{}", i + 1);
        let fault = match &s.fault.value {
            RawFaultRef::Path(file) => self.fault_file(file, s.fault.referenced),
            RawFaultRef::Inline => {
                let default = s.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(fallback);
                self.inline_fault(s.fault.referenced, &default)
            }
        };
        let name = match (&s.name, &fault) {
            (Some(n), _) => n.value.clone(),
            (None, Some(f)) => f.name.clone(),
            (None, None) => fallback(),
        };
        let name_at = s.name.as_ref().map(|n| n.referenced).unwrap_or(raw.referenced);
        let start = match (&s.at, &s.after) {
            (Some(at), None) => self.duration(at, crate::duration::parse_offset).map(Start::At),
            (None, Some(after)) => Some(Start::After(after.value.clone())),
            (Some(at), Some(_)) => {
                self.at(at.referenced, "give `at` or `after`, not both".into());
                None
            }
            (None, None) => {
                self.at(raw.referenced, "a step needs `at` (a time from the start) or `after` (another step)".into());
                None
            }
        };
        if let (Some(Start::At(at)), Some(end_d), Some(a)) = (&start, end, &s.at)
            && *at >= end_d
        {
            self.at(a.referenced, format!("step starts at {} but the drill ends at {}", human(*at), human(end_d)));
        }
        let duration = match &s.duration {
            Some(d) => self.duration(d, positive),
            None => fault.as_ref().and_then(|f| f.duration_secs).map(Duration::from_secs),
        };
        let hints = self.hints(s, fault.as_ref(), duration);
        for p in &s.probes {
            self.probe_ref(p, probes);
        }
        let detect = self.detect(&s.detect, probes);
        let step = fault.zip(start).map(|(fault, start)| {
            let probes = s.probes.iter().map(|p| p.value.clone()).collect();
            Step { name: name.clone(), start, fault, duration, hints, probes, detect }
        });
        (name, name_at, step)
    }

    /// A step's hints, in the order they are released: its own, or else the fault
    /// file's, spread over the step's duration.
    fn hints(&mut self, s: &RawStep, fault: Option<&FaultSpec>, duration: Option<Duration>) -> Vec<Hint> {
        let mut hints: Vec<Hint> = Vec::new();
        for h in &s.hints {
            if let Some(after) = self.duration(&h.value.after, crate::duration::parse_offset) {
                hints.push(Hint { after, text: h.value.text.clone() });
            }
        }
        if hints.is_empty()
            && let (Some(f), Some(d)) = (fault, duration)
        {
            let n = f.hints.len() as u32;
            hints = f
                .hints
                .iter()
                .enumerate()
                .map(|(i, text)| Hint { after: d * (i as u32 + 1) / (n + 1), text: text.clone() })
                .collect();
        }
        hints.sort_by_key(|h| h.after);
        hints
    }

    /// A step's `detect:`: each entry an alarm or a probe of the drill.
    fn detect(&mut self, raw: &[Spanned<RawDetect>], probes: &BTreeMap<String, Probe>) -> Vec<Detect> {
        let mut out = Vec::new();
        for d in raw {
            match (&d.value.alarm, &d.value.probe) {
                (Some(a), None) => out.push(Detect::Alarm(a.value.clone())),
                (None, Some(p)) => {
                    self.probe_ref(p, probes);
                    out.push(Detect::Probe(p.value.clone()));
                }
                _ => self.at(d.referenced, "each `detect` entry is `alarm: NAME` or `probe: NAME`".into()),
            }
        }
        out
    }

    /// `end:`: a duration, or `{ at, reset }` with `reset: keep | exact`.
    fn end(&mut self, raw: Option<&Spanned<RawEnd>>) -> (Option<Duration>, Reset) {
        let Some(raw) = raw else { return (None, Reset::Keep) };
        let at = raw.value.at.as_ref().and_then(|a| self.duration(a, positive));
        let reset = match raw.value.reset.as_ref().map(|r| (r, r.value.as_str())) {
            None | Some((_, "keep")) => Reset::Keep,
            Some((_, "exact")) => Reset::Exact,
            Some((r, other)) => {
                self.at(r.referenced, format!("`reset` is `keep` or `exact`, not `{other}`"));
                Reset::Keep
            }
        };
        (at, reset)
    }

    /// `scoring:`: shares between 0 and 1, a hint's cost in points.
    fn scoring(&mut self, raw: Option<&Spanned<RawScoring>>) -> Scoring {
        let mut s = Scoring::default();
        let Some(raw) = raw else { return s };
        for (field, value, name) in
            [(&mut s.changed, &raw.value.changed, "changed"), (&mut s.regression, &raw.value.regression, "regression")]
        {
            if let Some(v) = value {
                if (0.0..=1.0).contains(&v.value) {
                    *field = v.value;
                } else {
                    self.at(v.referenced, format!("`{name}` is the share of the points kept: between 0 and 1"));
                }
            }
        }
        if let Some(h) = &raw.value.hint {
            s.hint = h.value;
        }
        if s.regression > s.changed {
            self.at(raw.referenced, "a regression should not keep more than a fix that is only `changed`".into());
        }
        s
    }

    /// `runbook_base_url:` an http(s) URL.
    fn base_url(&mut self, raw: &Spanned<String>) -> Option<String> {
        if raw.value.starts_with("https://") || raw.value.starts_with("http://") {
            Some(raw.value.trim_end_matches('/').to_owned())
        } else {
            self.at(
                raw.referenced,
                "`runbook_base_url` is an http(s) URL, e.g. https://wiki.example.com/runbooks".into(),
            );
            None
        }
    }

    /// `stop_when:`: a probe failing for a while, or an alarm.
    fn stop_conditions(&mut self, raw: &[Spanned<RawStop>], probes: &BTreeMap<String, Probe>) -> Vec<StopCondition> {
        let mut stop_when = Vec::new();
        for s in raw {
            match (&s.value.probe, &s.value.failing_for, &s.value.alarm) {
                (Some(p), Some(f), None) => {
                    self.probe_ref(p, probes);
                    if let Some(failing_for) = self.duration(f, positive) {
                        stop_when.push(StopCondition::Probe { probe: p.value.clone(), failing_for });
                    }
                }
                (Some(p), None, None) => {
                    self.at(p.referenced, "a probe stop condition needs `failing_for` (e.g. 5m)".into())
                }
                (None, None, Some(a)) => stop_when.push(StopCondition::Alarm { alarm: a.value.clone() }),
                _ => self.at(s.referenced, "a stop condition is `probe` with `failing_for`, or `alarm`".into()),
            }
        }
        stop_when
    }

    /// Every probe's templates must resolve for every team.
    fn templates(&mut self, doc: &RawDrill, teams: &[Team], probes: &BTreeMap<String, Probe>) {
        for team in teams {
            let vars = team.template_vars(team.region.as_deref().unwrap_or("region"));
            for (name, p) in probes {
                let at = doc.probes.get(name).map(|r| r.referenced).unwrap_or(doc.name.referenced);
                match p.kind.render(&vars) {
                    Err(e) => self.at(at, format!("probe `{name}`: {e}")),
                    Ok(ProbeKind::Http { url, .. }) if !is_http(&url) => {
                        let at = doc
                            .probes
                            .get(name)
                            .and_then(|r| r.value.http.as_ref())
                            .map_or(at, |h| h.value.url.referenced);
                        self.at(at, format!("probe `{name}`: for team {}, `url` is `{url}`, which does not start with http:// or https://", team.name));
                    }
                    Ok(_) => {}
                }
            }
        }
    }

    fn at(&mut self, loc: Location, msg: String) {
        self.problems.push(Diagnostic::at(self.path, self.source, loc.into(), msg));
    }

    fn duration(&mut self, s: &Spanned<String>, parse: fn(&str) -> Result<Duration, String>) -> Option<Duration> {
        match parse(&s.value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at(s.referenced, e);
                None
            }
        }
    }

    fn unknown<'n>(&mut self, s: &Spanned<String>, what: &str, known: impl Iterator<Item = &'n str> + Clone) {
        let mut msg = format!("no {what} named `{}`", s.value);
        match did_you_mean(&s.value, known.clone()) {
            Some(best) => msg += &format!("; did you mean `{best}`?"),
            None => msg += &format!(" (known: {})", known.collect::<Vec<_>>().join(", ")),
        }
        self.at(s.referenced, msg);
    }

    fn probe_ref(&mut self, s: &Spanned<String>, probes: &BTreeMap<String, Probe>) {
        if !probes.contains_key(&s.value) {
            self.unknown(s, "probe", probes.keys().map(String::as_str));
        }
    }

    fn teams(&mut self, doc: &RawDrill) -> Vec<Team> {
        let mut teams = Vec::new();
        let mut seen = BTreeSet::new();
        if doc.teams.value.is_empty() {
            self.at(doc.teams.referenced, "a drill needs at least one team".into());
        }
        for t in &doc.teams.value {
            let t = &t.value;
            let name = t.name.value.trim().to_owned();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                self.at(t.name.referenced, "a team name is letters, digits, `-` and `_`".into());
            }
            if !seen.insert(name.clone()) {
                self.at(t.name.referenced, format!("two teams are named `{name}`"));
            }
            if let (Some(_), Some(arn)) = (&t.profile, &t.role_arn) {
                self.at(arn.referenced, "give `profile` or `role_arn`, not both".into());
            }
            if let Some(arn) = &t.role_arn
                && !(arn.value.starts_with("arn:aws") && arn.value.contains(":role/"))
            {
                self.at(arn.referenced, format!("`{}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", arn.value));
            }
            if let (Some(id), None) = (&t.external_id, &t.role_arn) {
                self.at(id.referenced, "`external_id` goes with `role_arn`".into());
            }
            teams.push(Team {
                name,
                profile: t.profile.clone(),
                role: t.role_arn.as_ref().map(|arn| AssumeRole {
                    role_arn: arn.value.clone(),
                    external_id: t.external_id.as_ref().map(|e| e.value.clone()),
                    session_name: t.session_name.clone(),
                }),
                role_arn: t.role_arn.as_ref().map(|a| a.value.clone()),
                region: t.region.clone(),
                endpoint_url: t.endpoint_url.clone(),
                scope: t.scope.clone(),
                vars: t.vars.clone(),
            });
        }
        teams
    }

    fn probes(&mut self, raw: &BTreeMap<String, Spanned<RawProbe>>) -> BTreeMap<String, Probe> {
        let mut out = BTreeMap::new();
        for (name, p) in raw {
            if let Some(kind) = self.probe_kind(name, &p.value, p.referenced) {
                let every = p.value.every.as_ref().and_then(|e| self.duration(e, positive)).unwrap_or(DEFAULT_EVERY);
                out.insert(name.clone(), Probe { name: name.clone(), kind, every_s: every.as_secs_f64() });
            }
        }
        out
    }

    fn probe_kind(&mut self, name: &str, p: &RawProbe, at: Location) -> Option<ProbeKind> {
        let count = [
            p.http.is_some(),
            p.tcp.is_some(),
            p.elbv2_healthy.is_some(),
            p.ecs_running.is_some(),
            p.lambda_invocable.is_some(),
            p.dns.is_some(),
            p.alarm.is_some(),
            p.restored.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if count != 1 {
            self.at(
                at,
                format!(
                    "probe `{name}` needs exactly one of `http`, `tcp`, `elbv2-healthy`, `ecs-running`, `lambda-invocable`, `dns`, `alarm`, `restored`"
                ),
            );
            return None;
        }
        let mut timeout = |t: &Option<Spanned<String>>| {
            t.as_ref()
                .and_then(|t| self.duration(t, positive))
                .map(|d| d.as_millis() as u64)
                .unwrap_or(DEFAULT_TIMEOUT_MS)
        };
        if let Some(h) = &p.http {
            let h = &h.value;
            let timeout_ms = timeout(&h.timeout);
            // A URL that starts with a template is checked once rendered, for each team
            // (`templates`).
            if !is_http(&h.url.value) && !h.url.value.trim_start().starts_with("{{") {
                self.at(h.url.referenced, "an http probe's `url` starts with http:// or https://".into());
            }
            if let Some(b) = &h.body
                && let Err(e) = regex_lite::Regex::new(&b.value)
            {
                self.at(b.referenced, format!("`body` is not a valid regular expression: {e}"));
            }
            return Some(ProbeKind::Http {
                url: h.url.value.clone(),
                status: h.status.unwrap_or(200),
                body: h.body.as_ref().map(|b| b.value.clone()),
                timeout_ms,
            });
        }
        if let Some(t) = &p.tcp {
            let timeout_ms = timeout(&t.value.timeout);
            return Some(ProbeKind::Tcp { host: t.value.host.value.clone(), port: t.value.port, timeout_ms });
        }
        if let Some(t) = &p.elbv2_healthy {
            return Some(ProbeKind::Elbv2Healthy {
                target_group: t.value.target_group.value.clone(),
                min: t.value.min.unwrap_or(1),
            });
        }
        if let Some(e) = &p.ecs_running {
            return Some(ProbeKind::EcsRunning {
                service: e.value.service.value.clone(),
                min: e.value.min.unwrap_or(1),
            });
        }
        if let Some(l) = &p.lambda_invocable {
            return Some(ProbeKind::LambdaInvocable { function: l.value.function.value.clone() });
        }
        if let Some(d) = &p.dns {
            let d = &d.value;
            if d.equals.is_none() && d.not_equals.is_none() {
                self.at(d.name.referenced, "a dns probe needs `equals` or `not_equals`".into());
            }
            return Some(ProbeKind::Dns {
                zone: d.zone.value.clone(),
                name: d.name.value.clone(),
                record_type: d.record_type.clone().unwrap_or_else(|| "A".into()).to_uppercase(),
                equals: d.equals.as_ref().map(|e| e.value.clone()),
                not_equals: d.not_equals.as_ref().map(|e| e.value.clone()),
            });
        }
        if let Some(a) = &p.alarm {
            let state = a.value.state.as_ref().map(|s| s.value.to_uppercase()).unwrap_or_else(|| "OK".into());
            if !matches!(state.as_str(), "OK" | "ALARM" | "INSUFFICIENT_DATA") {
                let at = a.value.state.as_ref().map(|s| s.referenced).unwrap_or(a.referenced);
                self.at(at, format!("alarm state `{state}` is not OK, ALARM or INSUFFICIENT_DATA"));
            }
            return Some(ProbeKind::Alarm { name: a.value.name.value.clone(), state });
        }
        let r = p.restored.as_ref().expect("one kind is set");
        Some(ProbeKind::Restored { step: r.value.step.value.clone() })
    }

    /// A fault file, relative to the drill file's directory.
    fn fault_file(&mut self, file: &str, at: Location) -> Option<FaultSpec> {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let full = dir.join(file);
        if !full.is_file() {
            self.at(at, format!("fault file `{file}` not found (looked for {})", full.display()));
            return None;
        }
        match fault::load(&full) {
            Ok(f) => Some(f),
            Err(d) => {
                self.problems.extend(d);
                None
            }
        }
    }

    /// A fault written in the drill file: parsed from its own text, positions kept.
    fn inline_fault(&mut self, at: Location, default_name: &str) -> Option<FaultSpec> {
        let text = inline_source(self.source, at.into());
        match fault::parse_as(self.path, &text, Some(default_name)) {
            Ok(mut f) => {
                f.source = self.path.to_owned();
                Some(f)
            }
            Err(d) => {
                // Show the drill file's own lines under the carets.
                for mut one in d.0 {
                    one.source_line =
                        self.source.lines().nth(one.pos.line.saturating_sub(1) as usize).map(str::to_owned);
                    self.problems.push(one);
                }
                None
            }
        }
    }
}

/// The drill file's text with everything blanked but the YAML node starting at `pos`:
/// a flow mapping (`{ ... }`) or an indented block. Lines and columns stay where they
/// were, so the fault parser's positions are the drill file's.
fn inline_source(source: &str, pos: Pos) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let first = pos.line.saturating_sub(1) as usize;
    let col = pos.column.saturating_sub(1) as usize;
    let mut out: Vec<String> = vec![String::new(); first];
    let Some(line) = lines.get(first) else {
        return String::new();
    };
    let head: String = line.chars().take(col).map(|_| ' ').collect();
    let rest: String = line.chars().skip(col).collect();
    if rest.starts_with('{') {
        // A flow mapping: up to its matching brace (quotes respected).
        let mut depth = 0i32;
        let mut quote: Option<char> = None;
        let mut text = head;
        let mut row = first;
        let mut chars: Vec<char> = rest.chars().collect();
        'outer: loop {
            for &c in &chars {
                text.push(c);
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '{' | '[') => depth += 1,
                    (None, '}' | ']') => {
                        depth -= 1;
                        if depth == 0 {
                            break 'outer;
                        }
                    }
                    _ => {}
                }
            }
            row += 1;
            match lines.get(row) {
                Some(l) => {
                    text.push('\n');
                    chars = l.chars().collect();
                }
                None => break,
            }
        }
        out.push(text);
    } else {
        // A block mapping: this line from the column on, and the lines indented at least
        // as far.
        out.push(format!("{head}{rest}"));
        for l in lines.iter().skip(first + 1) {
            let indent = l.chars().take_while(|c| *c == ' ').count();
            if !l.trim().is_empty() && indent < col {
                break;
            }
            out.push((*l).to_owned());
        }
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests;
