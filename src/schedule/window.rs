//! Random fire times inside windows, Chaos-Monkey style: on the chosen weekdays, between
//! `from` and `to` local time, at most once per window, with a probability per window
//! that makes the mean time between fires `mean_time_between`.
//!
//! The draw for a window is a pure function of the schedule's seed and the window's
//! start, so every scheduler on a store (and a restarted one) makes the same choice.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::target::SplitMix64;

/// A random window: a slot somewhere in it, drawn once per window.
#[derive(Clone, Debug)]
pub struct Window {
    /// Bit `i` set: weekday `i` (Sunday = 0) has a window.
    pub days: u8,
    pub from: Time,
    pub to: Time,
    pub tz: TimeZone,
    /// Mean time between fires; `None` fires in every window.
    pub mean_between: Option<SignedDuration>,
}

/// One window, and what the draw decided for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drawn {
    pub start: Timestamp,
    pub end: Timestamp,
    /// The random instant in [start, end); meaningful only when `fires`.
    pub at: Timestamp,
    pub fires: bool,
}

impl Window {
    /// Days with a window per week.
    fn per_week(&self) -> u32 {
        self.days.count_ones()
    }

    /// The chance that a window fires: the average spacing of windows over the mean
    /// time between fires, capped at 1.
    pub fn probability(&self) -> f64 {
        let Some(mean) = self.mean_between else {
            return 1.0;
        };
        let spacing = 7.0 * 86_400.0 / self.per_week().max(1) as f64;
        (spacing / mean.as_secs_f64()).min(1.0)
    }

    /// The window opening on local date `d`, if `d` is one of the days. A window whose
    /// `to` is not after `from` runs overnight into the next day.
    pub fn on(&self, d: Date) -> Option<(Timestamp, Timestamp)> {
        if self.days & (1 << d.weekday().to_sunday_zero_offset()) == 0 {
            return None;
        }
        let start = self.tz.to_ambiguous_timestamp(d.to_datetime(self.from)).compatible().ok()?;
        let end_day = if self.to > self.from { d } else { d.tomorrow().ok()? };
        let end = self.tz.to_ambiguous_timestamp(end_day.to_datetime(self.to)).compatible().ok()?;
        Some((start, end))
    }

    /// The draw for the window `(start, end)`.
    pub fn draw(&self, seed: u64, start: Timestamp, end: Timestamp) -> Drawn {
        let mut rng = SplitMix64(seed ^ (start.as_second() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let fires = rng.unit() < self.probability();
        let span = (end.as_second() - start.as_second()).max(1) as f64;
        let offset = (rng.unit() * span) as i64;
        let at = Timestamp::from_second(start.as_second() + offset).unwrap_or(start);
        Drawn { start, end, at, fires }
    }

    /// Every window from local date `day` on, in order (within about ten years).
    pub fn from_day(&self, day: Date) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        std::iter::successors(Some(day), |d| d.tomorrow().ok()).take(3700).filter_map(|d| self.on(d))
    }

    /// The windows that can hold an instant after `after`: from the day before (an
    /// overnight window) on.
    fn around(&self, after: Timestamp) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        let day = after.to_zoned(self.tz.clone()).date();
        self.from_day(day.yesterday().unwrap_or(day))
    }

    /// Every window whose drawn instant (or start, for windows that do not fire) falls in
    /// `(after, upto]`, in order.
    pub fn between(&self, seed: u64, after: Timestamp, upto: Timestamp) -> Vec<Drawn> {
        self.around(after)
            .take_while(|(start, _)| *start <= upto)
            .map(|(start, end)| self.draw(seed, start, end))
            .filter(|d| {
                let key = if d.fires { d.at } else { d.start };
                key > after && key <= upto
            })
            .collect()
    }

    /// The first window with a fire after `after` (within about ten years).
    pub fn next_fire(&self, seed: u64, after: Timestamp) -> Option<Drawn> {
        self.around(after).map(|(start, end)| self.draw(seed, start, end)).find(|d| d.fires && d.at > after)
    }
}
