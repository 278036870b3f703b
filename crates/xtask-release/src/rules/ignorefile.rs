//! `.trivyignore`, pure: each line accepts one finding, `ID exp:YYYY-MM-DD`, until that date. An
//! exception without an end date, with a malformed one or a past one fails the release in preflight,
//! before anything is built: a finding accepted forever is a finding nobody looks at again. One that
//! ends within two weeks is warned about.
//!
//! Optional fields after the date say what the release's OpenVEX statement on it claims
//! (`rules::openvex`): `vex:not_affected justification:JUSTIFICATION [impact:"text"]`,
//! `vex:affected action:"text"`, or nothing, which is `under_investigation` (accepted for now, no
//! claim about exploitability). Trivy reads the same file: it takes the first field as the ID and
//! the `exp:` field as the date, and ignores every other field, so no derived file is needed; a
//! quoted word starting with `exp:` is refused, as trivy would take it for the date.

use serde::{Deserialize, Serialize};

/// A valid exception: `id` accepted until `expires` (inclusive), on line `line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub line: usize,
    pub id: String,
    pub expires: String,
    /// What the release's VEX statement on it says.
    pub vex: Vex,
}

/// The VEX status an exception claims (OpenVEX: `not_affected` needs a justification, `affected`
/// an action statement, `under_investigation` nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Vex {
    #[default]
    UnderInvestigation,
    NotAffected {
        justification: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        impact: Option<String>,
    },
    Affected {
        action: String,
    },
}

/// What may follow the ID, for the error naming a field that may not.
const ONLY: &str = "where only exp:YYYY-MM-DD, then optionally vex:STATUS with justification:, impact:\"…\" or \
                    action:\"…\", may follow the ID (each once)";

/// OpenVEX's justifications for `not_affected`.
pub const JUSTIFICATIONS: [&str; 5] = [
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
];

/// A line that does not justify itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub id: String,
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// How many days before its expiry an exception is warned about.
pub const WARN_DAYS: i64 = 14;

/// Reads the file as of `today` (`YYYY-MM-DD`): its valid exceptions, and its problems.
pub fn parse(text: &str, today: &str) -> (Vec<Exception>, Vec<Problem>) {
    let (mut exceptions, mut problems) = (Vec::new(), Vec::new());
    for (index, raw) in text.lines().enumerate() {
        let (line, tokens) = (index + 1, tokens(raw));
        let Some((id, fields)) = tokens.split_first() else { continue };
        let id = id.clone();
        match entry(fields, today) {
            Ok((expires, vex)) => exceptions.push(Exception { line, id, expires, vex }),
            Err(problem) => {
                let fix = match problem.starts_with("has no exp:")
                    || problem.starts_with("expired")
                    || problem.starts_with("has exp:")
                {
                    true => format!("accept it until a date with `{id} exp:YYYY-MM-DD`, or remove the line"),
                    false => format!(
                        "write the line as `{id} exp:YYYY-MM-DD`, then optionally `vex:not_affected justification:…`, \
                         `vex:affected action:\"…\"` or `vex:under_investigation`"
                    ),
                };
                problems.push(Problem { line, id, problem, fix })
            }
        }
    }
    (exceptions, problems)
}

/// The fields after the ID: its date and VEX claim, or what is wrong with them.
fn entry(fields: &[String], today: &str) -> Result<(String, Vex), String> {
    let mut values: Vec<(&str, &str)> = Vec::new();
    for field in fields {
        let (key, value) = field.split_once(':').unwrap_or((field.as_str(), ""));
        let known = ["exp", "vex", "justification", "impact", "action"].contains(&key);
        if !known || value.is_empty() || values.iter().any(|(k, _)| *k == key) {
            return Err(format!("has {field:?} {ONLY}"));
        }
        if key != "exp" && value.split_whitespace().any(|w| w.starts_with("exp:")) {
            return Err(format!(
                "has {key}:{value:?} with a word starting with exp:, which trivy would take for the date"
            ));
        }
        values.push((key, value));
    }
    let get = |key: &str| values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let date = get("exp").ok_or("has no exp:YYYY-MM-DD date")?;
    if days(date).is_none() {
        return Err(format!("has exp:{date}, which is not a YYYY-MM-DD date"));
    }
    if date < today {
        return Err(format!("expired on {date}"));
    }
    let vex = vex(get("vex"), get("justification"), get("impact"), get("action"))?;
    Ok((date.to_owned(), vex))
}

/// The VEX claim of the optional fields: each status with exactly the fields OpenVEX gives it.
fn vex(
    status: Option<&str>,
    justification: Option<&str>,
    impact: Option<&str>,
    action: Option<&str>,
) -> Result<Vex, String> {
    let owned = |s: Option<&str>| s.map(str::to_owned);
    match (status, justification, impact, action) {
        (None | Some("under_investigation"), None, None, None) => Ok(Vex::UnderInvestigation),
        (Some("not_affected"), Some(j), _, None) if JUSTIFICATIONS.contains(&j) => {
            Ok(Vex::NotAffected { justification: j.to_owned(), impact: owned(impact) })
        }
        (Some("not_affected"), Some(j), _, None) => {
            Err(format!("has justification:{j}, which is none of OpenVEX's: {}", JUSTIFICATIONS.join(", ")))
        }
        (Some("not_affected"), None, _, None) => {
            Err(format!("has vex:not_affected without justification: (one of {})", JUSTIFICATIONS.join(", ")))
        }
        (Some("affected"), None, None, Some(a)) => Ok(Vex::Affected { action: a.to_owned() }),
        (Some("affected"), None, None, None) => {
            Err("has vex:affected without action:\"…\" (what a user should do about it)".to_owned())
        }
        (Some(s @ ("not_affected" | "affected" | "under_investigation")), ..) => Err(format!(
            "has fields vex:{s} does not take: not_affected takes justification: and impact:, affected takes \
             action:, under_investigation none"
        )),
        (Some(s), ..) => Err(format!("has vex:{s}; the status is not_affected, affected or under_investigation")),
        (None, ..) => Err("has VEX fields without vex:STATUS".to_owned()),
    }
}

/// The line's fields: split at whitespace, a `"…"` value kept whole (quotes dropped), up to a `#`
/// outside quotes (a comment).
fn tokens(line: &str) -> Vec<String> {
    let (mut tokens, mut current, mut quoted, mut started) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => (quoted, started) = (!quoted, true),
            '#' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                if started {
                    tokens.push(std::mem::take(&mut current));
                }
                started = false;
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        tokens.push(current);
    }
    tokens
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
        let got: Vec<_> = problems.iter().map(|p| (p.line, p.id.as_str(), p.problem.clone())).collect();
        let expected = [
            (3, "CVE-2024-0002", "has no exp:YYYY-MM-DD date".to_owned()),
            (4, "CVE-2024-0003", "expired on 2026-11-25".to_owned()),
            (7, "CVE-2024-0005", "has exp:26-11-2026, which is not a YYYY-MM-DD date".to_owned()),
            (8, "CVE-2024-0006", "has exp:2026-13-01, which is not a YYYY-MM-DD date".to_owned()),
            (9, "CVE-2024-0007", "has exp:2027-02-30, which is not a YYYY-MM-DD date".to_owned()),
            (10, "CVE-2024-0008", format!("has \"exp\" {ONLY}")),
            (11, "CVE-2024-0009", format!("has \"until-fixed\" {ONLY}")),
        ];
        assert_eq!(got, expected);
        assert_eq!(problems[0].fix, "accept it until a date with `CVE-2024-0002 exp:YYYY-MM-DD`, or remove the line");
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

    #[test]
    fn optional_fields_say_what_the_vex_statement_claims() {
        let file = r#"
A exp:2099-01-01
B exp:2099-01-01 vex:not_affected justification:vulnerable_code_not_in_execute_path
C exp:2099-01-01 vex:not_affected justification:component_not_present impact:"no TLS # in the image"  # why
D exp:2099-01-01 vex:affected action:"upgrade to 0.3 when it lands"
E vex:under_investigation exp:2099-01-01
F exp:2099-01-01 vex:not_affected
G exp:2099-01-01 vex:not_affected justification:because
H exp:2099-01-01 vex:affected
I exp:2099-01-01 vex:affected action:"x" justification:component_not_present
J exp:2099-01-01 vex:fixed
K exp:2099-01-01 justification:component_not_present
L exp:2099-01-01 vex:affected action:"see exp:2100-01-01"
M exp:2099-01-01 exp:2100-01-01
N exp:2099-01-01 action:
"#;
        let (exceptions, problems) = parse(file, "2026-11-26");
        let vex: Vec<_> = exceptions.iter().map(|e| (e.id.as_str(), e.vex.clone())).collect();
        let not_affected =
            |j: &str, i: Option<&str>| Vex::NotAffected { justification: j.into(), impact: i.map(Into::into) };
        assert_eq!(
            vex,
            [
                ("A", Vex::UnderInvestigation),
                ("B", not_affected("vulnerable_code_not_in_execute_path", None)),
                ("C", not_affected("component_not_present", Some("no TLS # in the image"))),
                ("D", Vex::Affected { action: "upgrade to 0.3 when it lands".into() }),
                ("E", Vex::UnderInvestigation),
            ]
        );
        let got: Vec<_> = problems.iter().map(|p| (p.id.as_str(), p.problem.as_str())).collect();
        let starts = [
            ("F", "has vex:not_affected without justification:"),
            ("G", "has justification:because, which is none of OpenVEX's"),
            ("H", "has vex:affected without action:"),
            ("I", "has fields vex:affected does not take"),
            ("J", "has vex:fixed; the status is"),
            ("K", "has VEX fields without vex:STATUS"),
            ("L", "has action:\"see exp:2100-01-01\" with a word starting with exp:"),
            ("M", "has \"exp:2100-01-01\" where only"),
            ("N", "has \"action:\" where only"),
        ];
        assert_eq!(got.len(), starts.len(), "{got:?}");
        assert!(
            problems.iter().all(|p| p.fix.contains("vex:affected action:")),
            "a VEX problem's fix shows the fields"
        );
        for ((id, problem), (want_id, start)) in got.iter().zip(starts) {
            assert!(*id == want_id && problem.starts_with(start), "{id}: {problem} (wanted {start})");
        }
    }
}
