//! Durations as firedrill's files and options write them (`90s`, `15m`, `1h30m`, ISO 8601
//! `PT15M`): a fault's `duration`, a drill's step offsets and hints, a schedule's window,
//! `--deadline`, `--wait`. A leaf module: every layer parses them, none through another.

/// `15m`, `1h30m`, `90s`, or ISO 8601 (`PT15M`): a positive duration of at most a day,
/// in whole seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let d = parse_offset(text)?;
    if d.as_secs() == 0 {
        return Err(format!("duration `{text}` must be positive"));
    }
    Ok(d.as_secs())
}

/// A duration of at most a day that may be zero (a drill step `at: 0m`), to the millisecond.
pub fn parse_offset(text: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration =
        text.parse().map_err(|_| format!("invalid duration `{text}`: use a form like `90s`, `15m` or `1h30m`"))?;
    if d.is_negative() {
        return Err(format!("duration `{text}` must not be negative"));
    }
    if d.as_secs() > 24 * 3600 {
        return Err(format!("duration `{text}` is over a day; a drill should not be"));
    }
    Ok(std::time::Duration::from_millis(d.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("PT2M"), Ok(120));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fifteen").is_err());
        assert!(parse_duration("3d").is_err());
    }
}
