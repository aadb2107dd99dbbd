//! The scheduling logic on a test clock: days of schedule in milliseconds. The firer here
//! records what it is handed; firing against AWS is tested end to end in
//! `tests/integration/schedules.rs`.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::clock::{Clock, TestClock};
use super::cron::Cron;
use super::scheduler::{FireResult, Firer, Scheduler};
use super::state::{Decision, ScheduleDir};
use super::*;
use crate::store::Store;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn paris() -> TimeZone {
    TimeZone::get("Europe/Paris").unwrap()
}

/// A temporary directory with a fault file (`fault.yaml`) and a drill file (`drill.yaml`).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("firedrill-schedule-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let fault = "name: web-http-blocked\naction: security-group.revoke-ingress\ntarget:\n  names: [firedrill-web]\nparams:\n  ports: [80]\nduration: 5m\n";
    std::fs::write(d.join("fault.yaml"), fault).unwrap();
    std::fs::write(d.join("no-duration.yaml"), fault.replace("duration: 5m\n", "")).unwrap();
    let drill = "name: web\nteams:\n  - name: blue\nsteps:\n  - fault: fault.yaml\n    at: 0s\nend: 10m\n";
    std::fs::write(d.join("drill.yaml"), drill).unwrap();
    std::fs::write(d.join("endless.yaml"), drill.replace("end: 10m\n", "")).unwrap();
    d
}

fn file_in(d: &Path, text: &str) -> ScheduleFile {
    let path = d.join("schedules.yaml");
    std::fs::write(&path, text).unwrap();
    load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn errors_in(d: &Path, text: &str) -> String {
    let path = d.join("schedules.yaml");
    std::fs::write(&path, text).unwrap();
    load(&path).map(|_| ()).unwrap_err().to_string()
}

/// A firer that records the slot time of each fire and the clock's time.
struct Recorder<'c> {
    clock: &'c TestClock,
    fired: RefCell<Vec<(String, Timestamp, Timestamp)>>,
}

impl<'c> Recorder<'c> {
    fn new(clock: &'c TestClock) -> Self {
        Recorder { clock, fired: RefCell::new(Vec::new()) }
    }
    fn times(&self) -> Vec<Timestamp> {
        self.fired.borrow().iter().map(|f| f.2).collect()
    }
}

impl Firer for Recorder<'_> {
    async fn fire(&self, _: &ScheduleFile, s: &Schedule, occ: &Occurrence) -> FireResult {
        self.fired.borrow_mut().push((s.name.clone(), occ.slot, self.clock.now()));
        FireResult::Started { id: format!("r{}", self.fired.borrow().len()), outcome: "recorded".into() }
    }
    async fn expire(&self, _: Timestamp) -> Option<Timestamp> {
        None
    }
    async fn shutdown(&self) {}
}

fn run_between(file: &ScheduleFile, store: &Store, from: &str, until: &str) -> Vec<Timestamp> {
    let clock = TestClock::new(ts(from));
    let s = Scheduler::new(file, store, Recorder::new(&clock));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(s.run(&clock, Some(ts(until)), std::future::pending(), |_| {})).unwrap();
    s.firer.times()
}

fn utc(times: &[Timestamp]) -> Vec<String> {
    times.iter().map(|t| t.to_string()).collect()
}

fn skipped(store: &Store, name: &str) -> Vec<String> {
    ScheduleDir::open(store, name)
        .unwrap()
        .decisions()
        .unwrap()
        .into_iter()
        .filter_map(|d| match d {
            Decision::Skipped { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

const TAG: &str = "opt_in_tag: { firedrill: scheduled }\n";

// ---- cron ----

#[test]
fn cron_fields_names_steps_and_located_errors() {
    let c: Cron = "*/20 9-17/4 * JAN,jul mon-fri".parse().unwrap();
    let after = ts("2027-01-04T00:00:00Z"); // a Monday
    let first: Vec<String> = {
        let mut t = after;
        (0..4)
            .map(|_| {
                t = c.next_after(t, &TimeZone::UTC).unwrap();
                t.to_string()
            })
            .collect()
    };
    assert_eq!(first, ["2027-01-04T09:00:00Z", "2027-01-04T09:20:00Z", "2027-01-04T09:40:00Z", "2027-01-04T13:00:00Z"]);
    // 7 is Sunday, like 0.
    let sun: Cron = "0 0 * * 7".parse().unwrap();
    assert_eq!(sun.next_after(after, &TimeZone::UTC).unwrap().to_string(), "2027-01-10T00:00:00Z");
    // Both day fields restricted: either matches (the 1st, or any Friday).
    let either: Cron = "0 0 1 * FRI".parse().unwrap();
    assert_eq!(either.next_after(after, &TimeZone::UTC).unwrap().to_string(), "2027-01-08T00:00:00Z");
    let e = "0 25 * * *".parse::<Cron>().unwrap_err();
    assert_eq!((e.offset, e.message.as_str()), (2, "hour: 25 is out of range 0-23"));
    let e = "0 10 * * TUES".parse::<Cron>().unwrap_err();
    assert_eq!(e.offset, 9);
    assert!(e.message.contains("or a name (SUN, MON"), "{}", e.message);
    assert!("0 10 * *".parse::<Cron>().unwrap_err().message.contains("5 fields"));
    assert!("0 0 30 2 *".parse::<Cron>().unwrap_err().message.contains("never fires"));
    assert!("*/0 * * * *".parse::<Cron>().is_err());
    assert!("0 0 * * 5-1".parse::<Cron>().unwrap_err().message.contains("backwards"));
    assert_eq!("@weekly".parse::<Cron>().unwrap(), "@weekly".parse::<Cron>().unwrap());
}

#[test]
fn cron_in_a_time_zone_across_both_dst_changes() {
    let tz = paris();
    let slots = |c: &str, from: &str, n: usize| {
        let c: Cron = c.parse().unwrap();
        let mut t = ts(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = c.next_after(t, &tz).unwrap();
            out.push(t.to_string());
        }
        out
    };
    // Tuesdays at 10:00 Paris: 08:00Z in summer time, 09:00Z after the clocks go back.
    assert_eq!(slots("0 10 * * TUE", "2026-10-19T00:00:00Z", 2), ["2026-10-20T08:00:00Z", "2026-10-27T09:00:00Z"]);
    // 02:30 does not exist on 2027-03-28 (02:00 -> 03:00): it fires at the shifted 03:30 CEST.
    assert_eq!(
        slots("30 2 * * *", "2027-03-26T12:00:00Z", 3),
        ["2027-03-27T01:30:00Z", "2027-03-28T01:30:00Z", "2027-03-29T00:30:00Z"]
    );
    // 02:30 happens twice on 2026-10-25: it fires once, the first time.
    assert_eq!(
        slots("30 2 * * *", "2026-10-24T12:00:00Z", 3),
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"]
    );
    // Hourly through the night the clocks go back (03:00 CEST -> 02:00 CET): the repeated
    // 02:00 fires once, the first time (00:00Z); no instant fires twice.
    let hourly = slots("0 * * * *", "2026-10-24T22:00:00Z", 5);
    assert_eq!(
        hourly,
        [
            "2026-10-24T23:00:00Z",
            "2026-10-25T00:00:00Z",
            "2026-10-25T02:00:00Z",
            "2026-10-25T03:00:00Z",
            "2026-10-25T04:00:00Z"
        ]
    );
}

// ---- the file ----

#[test]
fn the_issue_example_parses_and_errors_are_located() {
    let d = dir("parse");
    let f = file_in(
        &d,
        "schedules:
  - name: weekly-web-drill
    drill: drill.yaml
    cron: \"0 10 * * TUE\"
    timezone: Europe/Paris
  - name: random-instance-kill
    fault: fault.yaml
    window: { days: [MON, TUE, WED, THU, FRI], from: \"09:00\", to: \"15:00\", timezone: America/New_York }
    mean_time_between: 2d
    min_time_between: 1d
blackouts:
  - { from: 2026-12-20, to: 2027-01-04, reason: holiday freeze }
opt_in_tag: { firedrill: scheduled }
",
    );
    assert_eq!(f.schedules.len(), 2);
    assert!(matches!(f.schedules[0].what, What::Drill(_)));
    assert!(matches!(f.schedules[1].what, What::Fault { duration, .. } if duration.as_secs() == 300));
    assert!((f.schedules[1].probability() - 0.7).abs() < 1e-9, "5 windows a week, mean 2d: p = 1.4/2");
    assert_eq!(f.schedules[1].min_between, Some(SignedDuration::from_hours(24)));
    // The blackout's last day is included.
    let b = &f.blackouts[0];
    assert!(b.covers(ts("2027-01-04T22:59:00Z"), &paris()));
    assert!(!b.covers(ts("2027-01-04T23:00:00Z"), &paris()));

    let e = errors_in(
        &d,
        "schedules:
  - name: a
    fault: fault.yaml
    cron: \"0 25 * * *\"
    timezone: Europe/Pariss
  - name: b
    drill: endless.yaml
    cron: \"@daily\"
    mean_time_between: 2d
  - name: c
    fault: no-duration.yaml
    window: { days: [MON, FUNDAY], from: \"9am\", to: \"15:00\" }
  - name: a
    fault: missing.yaml
    cron: \"@hourly\"
",
    );
    for expected in [
        "schedules.yaml:5:15: error: unknown time zone `Europe/Pariss`",
        "schedules.yaml:9:24: error: `mean_time_between` needs a `window`",
        "schedules.yaml:7:12: error: drill `web` has no `end`",
        "schedules.yaml:11:12: error: fault `web-http-blocked` has no `duration`",
        "schedules.yaml:12:27: error: `FUNDAY` is not a day",
        "schedules.yaml:12:42: error: `9am` is not a time of day",
        "schedules.yaml:13:11: error: two schedules are named `a`",
        "schedules.yaml:14:12: error: `missing.yaml` not found",
        "schedules.yaml: error: no `opt_in_tag`",
    ] {
        assert!(e.contains(expected), "missing {expected:?} in:\n{e}");
    }
    // A bad cron field is pointed at inside the quotes.
    let e = errors_in(&d, &format!("schedules:\n  - name: a\n    fault: fault.yaml\n    cron: \"0 25 * * *\"\n{TAG}"));
    assert!(e.contains("schedules.yaml:4:14: error: hour: 25 is out of range 0-23"), "{e}");
}

// ---- firing on a test clock ----

#[test]
fn cron_fires_every_slot_across_dst_and_never_twice() {
    let d = dir("cron-dst");
    let f = file_in(
        &d,
        &format!(
            "schedules:\n  - name: nightly\n    fault: fault.yaml\n    cron: \"30 2 * * *\"\n    timezone: Europe/Paris\n{TAG}"
        ),
    );
    let store = Store::new(d.join("state"));
    let fired = run_between(&f, &store, "2027-03-26T12:00:00Z", "2027-03-30T00:00:00Z");
    assert_eq!(utc(&fired), ["2027-03-27T01:30:00Z", "2027-03-28T01:30:00Z", "2027-03-29T00:30:00Z"]);
    // Restarted over the same days (a stepped-back clock, a second process): nothing again.
    let again = run_between(&f, &store, "2027-03-26T12:00:00Z", "2027-03-30T00:00:00Z");
    assert!(again.is_empty(), "fired twice: {again:?}");
}

#[test]
fn blackouts_skip_with_their_reason() {
    let d = dir("blackout");
    let f = file_in(
        &d,
        &format!(
            "schedules:\n  - name: daily\n    fault: fault.yaml\n    cron: \"0 10 * * *\"\n    timezone: Europe/Paris\n\
             blackouts:\n  - {{ from: 2026-12-20, to: 2027-01-04, reason: holiday freeze }}\n{TAG}"
        ),
    );
    let store = Store::new(d.join("state"));
    let fired = run_between(&f, &store, "2026-12-15T00:00:00Z", "2027-01-10T12:00:00Z");
    let days: Vec<String> = fired.iter().map(|t| t.to_zoned(paris()).strftime("%m-%d %H:%M").to_string()).collect();
    let expected: Vec<String> =
        ["12-15", "12-16", "12-17", "12-18", "12-19", "01-05", "01-06", "01-07", "01-08", "01-09", "01-10"]
            .iter()
            .map(|d| format!("{d} 10:00"))
            .collect();
    assert_eq!(days, expected);
    let skips = skipped(&store, "daily");
    let blackout = skips.iter().filter(|r| *r == "blackout 2026-12-20 to 2027-01-04 (holiday freeze)").count();
    assert_eq!(blackout, 16, "{skips:?}");
}

#[test]
fn windows_fire_inside_the_window_on_the_days_at_most_once() {
    let d = dir("window");
    let f = file_in(
        &d,
        &format!(
            "schedules:\n  - name: kill\n    fault: fault.yaml\n    seed: 7\n    \
             window: {{ days: [MON, TUE, WED, THU, FRI], from: \"09:00\", to: \"15:00\", timezone: America/New_York }}\n{TAG}"
        ),
    );
    let store = Store::new(d.join("state"));
    // Eight weeks, across the end of US summer time (2026-11-01).
    let fired = run_between(&f, &store, "2026-10-05T00:00:00Z", "2026-11-30T00:00:00Z");
    assert_eq!(fired.len(), 40, "no mean: every weekday window fires once");
    let ny = TimeZone::get("America/New_York").unwrap();
    let mut days = std::collections::BTreeSet::new();
    for t in &fired {
        let local = t.to_zoned(ny.clone());
        assert!(local.hour() >= 9 && local.hour() < 15, "outside the window: {local}");
        assert!(local.weekday().to_monday_one_offset() <= 5, "on a weekend: {local}");
        assert!(days.insert(local.date()), "twice on {}", local.date());
    }
    // The same seed draws the same times; another seed, others.
    let again = run_between(&f, &Store::new(d.join("state2")), "2026-10-05T00:00:00Z", "2026-11-30T00:00:00Z");
    assert_eq!(fired, again);
    let f2 = file_in(&d, &std::fs::read_to_string(d.join("schedules.yaml")).unwrap().replace("seed: 7", "seed: 8"));
    let other = run_between(&f2, &Store::new(d.join("state3")), "2026-10-05T00:00:00Z", "2026-11-30T00:00:00Z");
    assert_ne!(fired, other);
}

#[test]
fn mean_time_between_over_two_simulated_years_and_min_interval() {
    let d = dir("mean");
    let text = |min: &str| {
        format!(
            "schedules:\n  - name: kill\n    fault: fault.yaml\n    seed: 42\n    \
             window: {{ days: [MON, TUE, WED, THU, FRI], from: \"09:00\", to: \"15:00\", timezone: America/New_York }}\n    \
             mean_time_between: 2d\n{min}{TAG}"
        )
    };
    let (from, until) = ("2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z");
    let span_days = 731.0;
    let f = file_in(&d, &text(""));
    let fired = run_between(&f, &Store::new(d.join("state")), from, until);
    let mean = span_days / fired.len() as f64;
    assert!((1.8..=2.2).contains(&mean), "{} fires in 2 years: mean {mean:.2} days between fires", fired.len());
    // With a minimum interval no two fires are closer than a day; fewer fire.
    let f = file_in(&d, &text("    min_time_between: 1d\n"));
    let store = Store::new(d.join("state-min"));
    let spaced = run_between(&f, &store, from, until);
    let closest = spaced.windows(2).map(|w| w[1].duration_since(w[0])).min().unwrap();
    assert!(closest >= SignedDuration::from_hours(24), "two fires {closest:?} apart");
    assert!(spaced.len() < fired.len());
    assert!(skipped(&store, "kill").iter().any(|r| r.starts_with("min_time_between 1d: last fired at")));
}

/// A tick at `now` with a fresh firer: the slots it fired.
fn tick_at(file: &ScheduleFile, store: &Store, now: &str, catch_up: Option<SignedDuration>) -> Vec<String> {
    let clock = TestClock::new(ts(now));
    let mut s = Scheduler::new(file, store, Recorder::new(&clock));
    if let Some(c) = catch_up {
        s.catch_up = c;
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(s.tick(ts(now))).unwrap();
    s.firer.fired.borrow().iter().map(|f| f.1.to_string()).collect()
}

#[test]
fn first_tick_fires_only_the_last_minute_and_later_ticks_fire_the_latest_slot() {
    let d = dir("tick");
    let f =
        file_in(&d, &format!("schedules:\n  - name: hourly\n    fault: fault.yaml\n    cron: \"0 * * * *\"\n{TAG}"));
    // First tick, five minutes after the slot: missed, logged, not fired.
    let store = Store::new(d.join("a"));
    assert!(tick_at(&f, &store, "2027-02-01T10:05:00Z", None).is_empty());
    assert!(
        skipped(&store, "hourly")[0].starts_with("missed: due at 2027-02-01T10:00:00Z"),
        "{:?}",
        skipped(&store, "hourly")
    );
    // ... unless --catch-up covers it.
    let store = Store::new(d.join("b"));
    assert_eq!(
        tick_at(&f, &store, "2027-02-01T10:05:00Z", Some(SignedDuration::from_mins(10))),
        ["2027-02-01T10:00:00Z"]
    );
    // Within the minute: fired. The next tick, a moment later, fires nothing.
    let store = Store::new(d.join("c"));
    assert_eq!(tick_at(&f, &store, "2027-02-01T10:00:30Z", None), ["2027-02-01T10:00:00Z"]);
    assert!(tick_at(&f, &store, "2027-02-01T10:00:45Z", None).is_empty());
    // Down for three hours: only the latest slot fires; the two before are superseded.
    assert_eq!(tick_at(&f, &store, "2027-02-01T13:00:10Z", None), ["2027-02-01T13:00:00Z"]);
    let skips = skipped(&store, "hourly");
    let superseded: Vec<&String> = skips.iter().filter(|r| r.starts_with("superseded")).collect();
    assert_eq!(
        superseded,
        [
            "superseded: 2 earlier slot(s) since the last tick (from 2027-02-01T11:00:00Z); only the latest (2027-02-01T13:00:00Z) fires"
        ]
    );
}

#[test]
fn a_held_lock_skips_with_a_line_and_fires_nothing() {
    let d = dir("lock");
    let f =
        file_in(&d, &format!("schedules:\n  - name: hourly\n    fault: fault.yaml\n    cron: \"0 * * * *\"\n{TAG}"));
    let store = Store::new(d.join("state"));
    let held = ScheduleDir::open(&store, "hourly").unwrap().try_lock().unwrap().expect("free");
    assert!(tick_at(&f, &store, "2027-02-01T10:00:10Z", None).is_empty());
    assert!(skipped(&store, "hourly")[0].starts_with("another scheduler holds this schedule's lock"));
    drop(held);
    assert_eq!(tick_at(&f, &store, "2027-02-01T10:00:20Z", None), ["2027-02-01T10:00:00Z"]);
}

#[test]
fn two_schedulers_on_one_store_fire_each_slot_once() {
    let d = dir("two");
    let path = d.join("schedules.yaml");
    std::fs::write(
        &path,
        format!("schedules:\n  - name: quarter\n    fault: fault.yaml\n    cron: \"*/15 * * * *\"\n{TAG}"),
    )
    .unwrap();
    let state = d.join("state");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let start = ts("2027-02-01T00:00:00Z");
    let steps = 2 * 24 * 60 / 5; // two days, a tick every 5 minutes
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (path, state, barrier) = (path.clone(), state.clone(), barrier.clone());
            std::thread::spawn(move || {
                let file = load(&path).unwrap();
                let store = Store::new(state);
                let clock = TestClock::new(start);
                let s = Scheduler::new(&file, &store, Recorder::new(&clock));
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                for i in 0..steps {
                    let now = start + SignedDuration::from_mins(5 * i + 1);
                    clock.set(now);
                    barrier.wait();
                    rt.block_on(s.tick(now)).unwrap();
                }
                s.firer.fired.borrow().iter().map(|f| f.1).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<Timestamp> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(n, all.len(), "a slot fired twice");
    assert_eq!(all.len(), 2 * 24 * 4, "every quarter hour of two days fired once");
}

#[test]
fn a_window_that_closed_before_the_tick_is_skipped() {
    let d = dir("closed");
    let f = file_in(
        &d,
        &format!(
            "schedules:\n  - name: w\n    fault: fault.yaml\n    seed: 1\n    \
             window: {{ days: [MON], from: \"09:00\", to: \"10:00\" }}\n{TAG}"
        ),
    );
    let store = Store::new(d.join("state"));
    // A tick inside the window, before its draw, records the tick; the next tick comes
    // after the window closed (a cron-driven tick that was down).
    assert!(tick_at(&f, &store, "2027-02-01T09:00:01Z", None).is_empty());
    assert!(tick_at(&f, &store, "2027-02-01T11:00:00Z", None).is_empty());
    assert!(skipped(&store, "w").iter().any(|r| r == "the window closed at 2027-02-01T10:00:00Z before this tick"));
}
