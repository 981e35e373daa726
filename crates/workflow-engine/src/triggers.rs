//! Schedule helpers for `trigger_schedule`: 5-field cron parsing and next fire times (UTC).

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};

fn parse(expr: &str) -> Result<Cron, String> {
    if expr.trim().is_empty() {
        return Err("empty cron expression".into());
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

/// Checks a 5-field cron expression (`minute hour day-of-month month day-of-week`, with
/// ranges, steps, names, `L`, `#`, `W` and `@daily`-style aliases).
pub fn validate_cron(expr: &str) -> Result<(), String> {
    parse(expr).map(|_| ())
}

/// The first fire time strictly after `after`, or `None` if the expression never fires
/// again (e.g. `0 0 30 2 *`).
pub fn next_fire(expr: &str, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let cron = parse(expr)?;
    match cron.find_next_occurrence(&after, false) {
        Ok(t) => Ok(Some(t)),
        Err(CronError::TimeSearchLimitExceeded) => Ok(None),
        Err(e) => Err(format!("cannot compute the next time of `{expr}`: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    #[test]
    fn next_fire_times() {
        assert_eq!(next_fire("*/15 * * * *", at(2025, 1, 1, 10, 7)), Ok(Some(at(2025, 1, 1, 10, 15))));
        assert_eq!(next_fire("0 9 * * 1-5", at(2025, 1, 3, 9, 0)), Ok(Some(at(2025, 1, 6, 9, 0))));
        assert_eq!(next_fire("@daily", at(2025, 1, 1, 0, 0)), Ok(Some(at(2025, 1, 2, 0, 0))));
        assert_eq!(next_fire("0 0 30 2 *", at(2025, 1, 1, 0, 0)), Ok(None));
    }

    #[test]
    fn rejects_bad_expressions() {
        assert!(validate_cron("0 9 * *").is_err());
        assert!(validate_cron("0 0 9 * * *").is_err());
        assert!(validate_cron("61 * * * *").is_err());
        assert!(validate_cron("").is_err());
        assert!(validate_cron("0 9 * * MON-FRI").is_ok());
    }
}
