//! Standard five-field cron (`minute hour day-of-month month day-of-week`), evaluated as
//! wall-clock time in a time zone.
//!
//! Each field is `*`, a number, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, or a comma
//! list of those; months and weekdays also take names (`JAN`, `TUE`), and weekday 0 and
//! 7 are both Sunday. As in Vixie cron, when both day fields are restricted, a day that
//! matches either one fires. `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` and
//! `@annually` are shorthands.
//!
//! Daylight saving: a local time the clocks skip fires at the shifted instant (02:30 on
//! a spring-forward night fires at 03:30), and a local time that happens twice fires
//! once, at its first occurrence. Every slot is an instant, so nothing fires twice.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// A parsed cron expression.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Day-of-month and day-of-week both restricted: either matches (Vixie cron).
    either_day: bool,
}

/// A problem with a cron expression: `offset` is the byte offset of the bad field.
#[derive(Debug, PartialEq, Eq)]
pub struct CronError {
    pub offset: usize,
    pub message: String,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day of month", min: 1, max: 31, names: &[] },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    },
    // 7 is Sunday too; folded into 0 after parsing.
    Field { name: "day of week", min: 0, max: 7, names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Cron, CronError> {
        let expanded = match text.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            t if t.starts_with('@') => {
                return Err(CronError {
                    offset: 0,
                    message: format!(
                        "unknown cron shorthand `{t}` (known: @hourly, @daily, @weekly, @monthly, @yearly)"
                    ),
                });
            }
            _ => text,
        };
        let shorthand = expanded != text;
        // Fields with their byte offsets in `text`, for located errors.
        let mut fields = Vec::new();
        let mut start = None;
        for (i, c) in expanded.char_indices().chain([(expanded.len(), ' ')]) {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    fields.push((if shorthand { 0 } else { s }, &expanded[s..i]));
                    start = None;
                }
                _ => {}
            }
        }
        if fields.len() != 5 {
            return Err(CronError {
                offset: 0,
                message: format!(
                    "cron needs 5 fields (minute hour day-of-month month day-of-week), not {}: `{}`",
                    fields.len(),
                    text.trim()
                ),
            });
        }
        let mut bits = [0u64; 5];
        for (i, (offset, f)) in fields.iter().enumerate() {
            bits[i] = parse_field(f, &FIELDS[i]).map_err(|message| CronError { offset: *offset, message })?;
        }
        // Sunday is 0 or 7.
        let mut weekdays = bits[4];
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        let restricted = |f: &str| f != "*" && !f.starts_with("*/");
        let cron = Cron {
            text: text.trim().to_owned(),
            minutes: bits[0],
            hours: bits[1] as u32,
            days: bits[2] as u32,
            months: bits[3] as u16,
            weekdays: weekdays as u8,
            either_day: restricted(fields[2].1) && restricted(fields[4].1),
        };
        if !cron.can_fire() {
            return Err(CronError { offset: 0, message: format!("cron `{}` never fires (no such date)", cron.text) });
        }
        Ok(cron)
    }
}

fn parse_field(text: &str, f: &Field) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("{}: step `{s}` is not a number", f.name))?;
                if step == 0 {
                    return Err(format!("{}: a step must be at least 1", f.name));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, f)?, value(b, f)?)
        } else {
            let v = value(range, f)?;
            // `a/n` means from a to the end, every n.
            (v, if item.contains('/') { f.max } else { v })
        };
        if lo > hi {
            return Err(format!("{}: range `{range}` runs backwards", f.name));
        }
        for v in (lo..=hi).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

fn value(text: &str, f: &Field) -> Result<u32, String> {
    if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u32 + f.min);
    }
    let v: u32 = text.parse().map_err(|_| {
        let names = if f.names.is_empty() { String::new() } else { format!(" or a name ({})", f.names.join(", ")) };
        format!("{}: `{text}` is not a number{names}", f.name)
    })?;
    if v < f.min || v > f.max {
        return Err(format!("{}: {v} is out of range {}-{}", f.name, f.min, f.max));
    }
    Ok(v)
}

impl Cron {
    fn day_matches(&self, d: Date) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.either_day { dom || dow } else { dom && dow }
    }

    /// Some day in a 400-year cycle matches (`0 0 30 2 *` never does).
    fn can_fire(&self) -> bool {
        let start = Date::constant(2000, 1, 1);
        (0..366 * 8).any(|i| start.checked_add(jiff::Span::new().days(i)).is_ok_and(|d| self.day_matches(d)))
    }

    /// The first slot strictly after `after`, in `tz`'s wall-clock time.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = after.to_zoned(tz.clone()).datetime();
        // A slot's instant can sit up to a DST shift away from its wall-clock time, so
        // begin a little before `after`'s local time; the instant comparison decides.
        let from = local.checked_sub(SignedDuration::from_hours(3)).unwrap_or(local);
        let mut day = from.date();
        for _ in 0..366 * 8 {
            if self.day_matches(day) {
                for h in (0..24).filter(|h| self.hours & (1 << h) != 0) {
                    for m in (0..60).filter(|m| self.minutes & (1 << m) != 0) {
                        let civil = day.at(h as i8, m as i8, 0, 0);
                        if civil < from {
                            continue;
                        }
                        if let Ok(t) = tz.to_ambiguous_timestamp(civil).compatible()
                            && t > after
                        {
                            return Some(t);
                        }
                    }
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

impl Cron {
    /// Every slot after `after`, in order.
    pub fn after<'a>(&'a self, after: Timestamp, tz: &'a TimeZone) -> impl Iterator<Item = Timestamp> + 'a {
        std::iter::successors(self.next_after(after, tz), move |t| self.next_after(*t, tz))
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.text)
    }
}
