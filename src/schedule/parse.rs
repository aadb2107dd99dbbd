//! Loading a schedule file: every problem, located, at once. The drills and faults it
//! names are loaded too (paths relative to the schedule file), so their problems show.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::yaml::{Location, Spanned};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, SpanRelativeTo};

use super::raw::{RawBlackout, RawFile, RawSchedule, RawWindow};
use super::{Blackout, Schedule, ScheduleFile, Trigger, What, cron, window};
use crate::diagnostic::{Diagnostic, Diagnostics, Pos};
use crate::{drill, fault};

/// Load and validate a schedule file.
pub fn load(path: &Path) -> Result<ScheduleFile, Diagnostics> {
    let source = crate::yaml::read_input(path)?;
    parse(path, &source)
}

/// Parse and validate a schedules file; every problem at once, with its position.
pub fn parse(path: &Path, source: &str) -> Result<ScheduleFile, Diagnostics> {
    if source.trim().is_empty() {
        return Err(Diagnostic::file(path, "empty schedule file").into());
    }
    let doc: RawFile = crate::yaml::parse(path, source)?;
    let mut v = Validator { path, source, problems: Diagnostics::default() };

    let mut schedules = Vec::new();
    let mut names: BTreeMap<String, ()> = BTreeMap::new();
    for raw in &doc.schedules.value {
        let s = &raw.value;
        let name = &s.name.value;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            v.at(s.name.referenced, format!("schedule name `{name}` may only use letters, digits, `-`, `_` and `.`"));
        } else if names.insert(name.clone(), ()).is_some() {
            v.at(s.name.referenced, format!("two schedules are named `{name}`: each needs its own name"));
        }
        if let Some(schedule) = v.schedule(s, raw.referenced, doc.seed) {
            schedules.push(schedule);
        }
    }
    if doc.schedules.value.is_empty() {
        v.at(doc.schedules.referenced, "no schedules: list at least one".into());
    }
    let blackouts = doc.blackouts.iter().filter_map(|b| v.blackout(&b.value)).collect();
    let opt_in_tag = match &doc.opt_in_tag {
        Some(t) if t.value.is_empty() => {
            v.at(t.referenced, "`opt_in_tag` needs at least one tag".into());
            BTreeMap::new()
        }
        Some(t) => t.value.clone(),
        None => {
            v.problems.push(Diagnostic::file(
                path,
                "no `opt_in_tag`: scheduled faults run unattended, so they only touch resources that opted in \
                 (add e.g. `opt_in_tag: { firedrill: scheduled }` and tag those resources)",
            ));
            BTreeMap::new()
        }
    };
    if !v.problems.is_empty() {
        return Err(v.problems);
    }
    Ok(ScheduleFile { path: path.to_owned(), schedules, blackouts, opt_in_tag })
}

struct Validator<'a> {
    path: &'a Path,
    source: &'a str,
    problems: Diagnostics,
}

impl Validator<'_> {
    fn at(&mut self, loc: Location, msg: String) {
        self.problems.push(Diagnostic::at(self.path, self.source, loc.into(), msg));
    }

    /// The position of a scalar's first character (after an opening quote).
    fn inside(&self, loc: Location, offset: usize) -> Pos {
        let pos: Pos = loc.into();
        let line = self.source.lines().nth(pos.line.saturating_sub(1) as usize).unwrap_or("");
        let quoted = line.chars().nth(pos.column.saturating_sub(1) as usize).is_some_and(|c| c == '"' || c == '\'');
        Pos::new(pos.line, pos.column + offset as u64 + u64::from(quoted))
    }

    fn tz(&mut self, s: &Spanned<String>) -> Option<TimeZone> {
        match TimeZone::get(&s.value) {
            Ok(tz) => Some(tz),
            Err(_) => {
                self.at(s.referenced, format!("unknown time zone `{}` (use an IANA name like Europe/Paris)", s.value));
                None
            }
        }
    }

    fn interval(&mut self, s: &Spanned<String>) -> Option<SignedDuration> {
        match interval(&s.value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at(s.referenced, e);
                None
            }
        }
    }

    fn schedule(&mut self, s: &RawSchedule, at: Location, file_seed: Option<u64>) -> Option<Schedule> {
        let name = s.name.value.clone();
        let what = match (&s.drill, &s.fault) {
            (Some(d), None) => self.drill(d, s.duration.as_ref()),
            (None, Some(f)) => self.fault(f, s.duration.as_ref()),
            (Some(d), Some(_)) => {
                self.at(d.referenced, "give `drill` or `fault`, not both".into());
                None
            }
            (None, None) => {
                self.at(at, format!("schedule `{name}` needs a `drill` or a `fault` to fire"));
                None
            }
        };
        let schedule_tz = s.timezone.as_ref().map(|t| (self.tz(t), t.value.clone()));
        let (trigger, tz, tz_name) = match (&s.cron, &s.window) {
            (Some(c), None) => {
                if let Some(m) = &s.mean_time_between {
                    self.at(
                        m.referenced,
                        "`mean_time_between` needs a `window`: a cron fires at every one of its slots".into(),
                    );
                }
                let (tz, tz_name) = match schedule_tz {
                    Some((tz, n)) => (tz?, n),
                    None => (TimeZone::UTC, "UTC".into()),
                };
                let cron = match c.value.parse::<cron::Cron>() {
                    Ok(cron) => Some(cron),
                    Err(e) => {
                        let pos = self.inside(c.referenced, e.offset);
                        self.problems.push(Diagnostic::at(self.path, self.source, pos, e.message));
                        None
                    }
                };
                (Trigger::Cron(cron?), tz, tz_name)
            }
            (None, Some(w)) => {
                let (tz, tz_name) = match (&w.value.timezone, schedule_tz) {
                    (Some(t), _) => (self.tz(t)?, t.value.clone()),
                    (None, Some((tz, n))) => (tz?, n),
                    (None, None) => (TimeZone::UTC, "UTC".into()),
                };
                let mean = s.mean_time_between.as_ref().and_then(|m| self.interval(m));
                (Trigger::Window(self.window(&w.value, tz.clone(), mean)?), tz, tz_name)
            }
            (Some(c), Some(_)) => {
                self.at(c.referenced, "give `cron` or `window`, not both".into());
                return None;
            }
            (None, None) => {
                self.at(at, format!("schedule `{name}` needs a `cron` or a `window`"));
                return None;
            }
        };
        let min_between = s.min_time_between.as_ref().and_then(|m| self.interval(m));
        Some(Schedule { name, what: what?, trigger, tz, tz_name, min_between, seed: s.seed.or(file_seed) })
    }

    fn fault(&mut self, f: &Spanned<String>, duration: Option<&Spanned<String>>) -> Option<What> {
        let full = self.relative(f)?;
        let spec = match fault::load(&full) {
            Ok(spec) => spec,
            Err(d) => {
                self.problems.extend(d);
                return None;
            }
        };
        let secs = match duration {
            Some(d) => match crate::duration::parse_duration(&d.value) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.at(d.referenced, e);
                    return None;
                }
            },
            None => spec.duration_secs,
        };
        let Some(secs) = secs else {
            self.at(
                f.referenced,
                format!(
                    "fault `{}` has no `duration`: a scheduled fault must revert itself (give `duration:` here or in the fault file)",
                    spec.name
                ),
            );
            return None;
        };
        Some(What::Fault { spec: Box::new(spec), duration: Duration::from_secs(secs) })
    }

    fn drill(&mut self, d: &Spanned<String>, duration: Option<&Spanned<String>>) -> Option<What> {
        if let Some(x) = duration {
            self.at(x.referenced, "`duration` is for faults: a drill's steps have their own".into());
        }
        let full = self.relative(d)?;
        let drill = match drill::load(&full) {
            Ok(drill) => drill,
            Err(e) => {
                self.problems.extend(e);
                return None;
            }
        };
        if drill.end.is_none() {
            self.at(
                d.referenced,
                format!("drill `{}` has no `end`: a scheduled drill must end (and revert) by itself", drill.name),
            );
            return None;
        }
        Some(What::Drill(Box::new(drill)))
    }

    /// A path relative to the schedule file's directory, which must exist.
    fn relative(&mut self, p: &Spanned<String>) -> Option<std::path::PathBuf> {
        let full = self.path.parent().unwrap_or(Path::new("")).join(&p.value);
        if !full.is_file() {
            self.at(p.referenced, format!("`{}` not found (looked for {})", p.value, full.display()));
            return None;
        }
        Some(full)
    }

    fn window(&mut self, w: &RawWindow, tz: TimeZone, mean_between: Option<SignedDuration>) -> Option<window::Window> {
        const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        let mut days = 0u8;
        for d in &w.days.value {
            match DAYS.iter().position(|x| x.eq_ignore_ascii_case(&d.value)) {
                Some(i) => days |= 1 << i,
                None => self.at(d.referenced, format!("`{}` is not a day (use MON, TUE, ... SUN)", d.value)),
            }
        }
        if w.days.value.is_empty() {
            self.at(w.days.referenced, "a window needs at least one day".into());
        }
        let from = self.time(&w.from);
        let to = self.time(&w.to);
        if let (Some(f), Some(t)) = (from, to)
            && f == t
        {
            self.at(w.to.referenced, "the window is empty: `to` equals `from`".into());
        }
        Some(window::Window { days, from: from?, to: to?, tz, mean_between }).filter(|w| w.days != 0)
    }

    fn time(&mut self, s: &Spanned<String>) -> Option<Time> {
        match s.value.parse::<Time>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.at(s.referenced, format!("`{}` is not a time of day (use HH:MM, like \"09:00\")", s.value));
                None
            }
        }
    }

    fn blackout(&mut self, b: &RawBlackout) -> Option<Blackout> {
        let tz = match &b.timezone {
            Some(t) => Some(self.tz(t)?),
            None => None,
        };
        let from = self.when(&b.from, false);
        let until = self.when(&b.to, true);
        let (from, until) = (from?, until?);
        if until <= from {
            self.at(b.to.referenced, format!("the blackout ends (`{}`) before it starts", b.to.value));
            return None;
        }
        Some(Blackout {
            from,
            until,
            tz,
            reason: b.reason.clone().unwrap_or_default(),
            text: format!("{} to {}", b.from.value, b.to.value),
        })
    }

    /// A date (a whole day: `to` includes it) or a date and time.
    fn when(&mut self, s: &Spanned<String>, end: bool) -> Option<DateTime> {
        if let Ok(d) = s.value.parse::<Date>()
            && !s.value.contains(['T', ' '])
        {
            return if end { d.tomorrow().ok().map(|d| d.to_datetime(Time::midnight())) } else { Some(d.into()) };
        }
        match s.value.parse::<DateTime>() {
            Ok(dt) => Some(dt),
            Err(_) => {
                self.at(
                    s.referenced,
                    format!("`{}` is not a date (2026-12-20) or date and time (2026-12-20T18:00)", s.value),
                );
                None
            }
        }
    }
}

/// A positive interval that may run to days or weeks: `2d`, `1d12h`, `36h`, `1w`.
pub fn interval(text: &str) -> Result<SignedDuration, String> {
    let bad = || format!("invalid interval `{text}`: use a form like `2d`, `1d12h` or `36h`");
    let span: Span = text.parse().map_err(|_| bad())?;
    let d = span.to_duration(SpanRelativeTo::days_are_24_hours()).map_err(|_| bad())?;
    if !d.is_positive() {
        return Err(format!("interval `{text}` must be positive"));
    }
    Ok(d)
}
