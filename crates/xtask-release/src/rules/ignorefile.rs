//! `.trivyignore`, pure: each line accepts one finding, `ID exp:YYYY-MM-DD`, until that date. An
//! exception without an end date, with a malformed one or a past one fails the release in preflight,
//! before anything is built: a finding accepted forever is a finding nobody looks at again. One that
//! ends within two weeks is warned about.

/// A valid exception: `id` accepted until `expires` (inclusive), on line `line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub line: usize,
    pub id: String,
    pub expires: String,
}

/// A line that does not justify itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub id: String,
    pub problem: String,
}

/// How many days before its expiry an exception is warned about.
pub const WARN_DAYS: i64 = 14;

/// Reads the file as of `today` (`YYYY-MM-DD`): its valid exceptions, and its problems.
pub fn parse(text: &str, today: &str) -> (Vec<Exception>, Vec<Problem>) {
    let (mut exceptions, mut problems) = (Vec::new(), Vec::new());
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let mut tokens = line.split_whitespace();
        let Some(id) = tokens.next() else { continue };
        let (mut expiry, mut unexpected) = (None, None);
        for token in tokens {
            match token.strip_prefix("exp:") {
                Some(date) if expiry.is_none() => expiry = Some(date),
                _ => unexpected = unexpected.or(Some(token)),
            }
        }
        let problem = match (expiry, unexpected) {
            (_, Some(token)) => Some(format!("has {token:?} where only exp:YYYY-MM-DD may follow the ID")),
            (None, None) => Some("has no exp:YYYY-MM-DD date".to_owned()),
            (Some(date), None) if days(date).is_none() => {
                Some(format!("has exp:{date}, which is not a YYYY-MM-DD date"))
            }
            (Some(date), None) if date < today => Some(format!("expired on {date}")),
            (Some(_), None) => None,
        };
        let (line, id) = (index + 1, id.to_owned());
        match (problem, expiry) {
            (Some(problem), _) => problems.push(Problem { line, id, problem }),
            (None, Some(date)) => exceptions.push(Exception { line, id, expires: date.to_owned() }),
            (None, None) => unreachable!("an entry without a date is a problem"),
        }
    }
    (exceptions, problems)
}

/// Days from `today` to `date` (both `YYYY-MM-DD`), `None` if either is not a calendar date.
pub fn days_between(today: &str, date: &str) -> Option<i64> {
    Some(days(date)? - days(today)?)
}

/// Exceptions that end within [`WARN_DAYS`] of `today`, with the days left.
pub fn expiring<'a>(exceptions: &'a [Exception], today: &str) -> Vec<(&'a Exception, i64)> {
    exceptions
        .iter()
        .filter_map(|e| Some((e, days_between(today, &e.expires)?)))
        .filter(|(_, left)| *left <= WARN_DAYS)
        .collect()
}

/// Days since the Unix epoch of a `YYYY-MM-DD` calendar date (2026-02-30 is none).
fn days(date: &str) -> Option<i64> {
    let well_formed = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    let instant = humantime::parse_rfc3339(&format!("{date}T00:00:00Z")).ok().filter(|_| well_formed)?;
    let seconds = instant.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some((seconds / 86_400) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_needs_a_future_calendar_date() {
        let file = "\
# accepted until the upstream fix lands
CVE-2024-0001 exp:2026-12-31
CVE-2024-0002
CVE-2024-0003 exp:2026-11-25 # yesterday
   
CVE-2024-0004 exp:2026-11-26
CVE-2024-0005 exp:26-11-2026
CVE-2024-0006 exp:2026-13-01
CVE-2024-0007 exp:2027-02-30
CVE-2024-0008 exp 2027-01-01
CVE-2024-0009 exp:2027-01-01 until-fixed
";
        let (exceptions, problems) = parse(file, "2026-11-26");
        let got: Vec<_> = problems.iter().map(|p| (p.line, p.id.as_str(), p.problem.as_str())).collect();
        assert_eq!(
            got,
            [
                (3, "CVE-2024-0002", "has no exp:YYYY-MM-DD date"),
                (4, "CVE-2024-0003", "expired on 2026-11-25"),
                (7, "CVE-2024-0005", "has exp:26-11-2026, which is not a YYYY-MM-DD date"),
                (8, "CVE-2024-0006", "has exp:2026-13-01, which is not a YYYY-MM-DD date"),
                (9, "CVE-2024-0007", "has exp:2027-02-30, which is not a YYYY-MM-DD date"),
                (10, "CVE-2024-0008", "has \"exp\" where only exp:YYYY-MM-DD may follow the ID"),
                (11, "CVE-2024-0009", "has \"until-fixed\" where only exp:YYYY-MM-DD may follow the ID"),
            ]
        );
        let valid: Vec<_> = exceptions.iter().map(|e| (e.line, e.id.as_str(), e.expires.as_str())).collect();
        assert_eq!(valid, [(2, "CVE-2024-0001", "2026-12-31"), (6, "CVE-2024-0004", "2026-11-26")]);
        assert_eq!(parse("", "2026-11-26"), (Vec::new(), Vec::new()));
    }

    #[test]
    fn exceptions_ending_within_two_weeks_are_flagged() {
        let (exceptions, _) = parse("A exp:2026-12-10\nB exp:2026-12-11\nC exp:2026-11-26\n", "2026-11-26");
        let soon: Vec<_> = expiring(&exceptions, "2026-11-26").into_iter().map(|(e, d)| (e.id.as_str(), d)).collect();
        assert_eq!(soon, [("A", 14), ("C", 0)]);
        assert_eq!(days_between("2026-12-31", "2027-01-01"), Some(1));
        assert_eq!(days_between("2028-02-28", "2028-03-01"), Some(2), "a leap year");
    }
}
