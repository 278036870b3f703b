//! Verdicts kept between runs, pure: a check's outcome (smoke test of a variant, scan of an image,
//! build checks of a Dockerfile, verification of a signature) under a key made of everything the
//! outcome depends on, one key function per check, so that a later run checking the same thing the
//! same way can reuse a pass instead of repeating the check. Only a pass is ever reused: a failure
//! is recorded (it replaces any earlier pass of the same key) and the check runs again.

use serde::{Deserialize, Serialize};

use crate::rules::digest::sha256;

pub const SCHEMA_VERSION: u32 = 1;

/// What was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Smoke,
    Scan,
    /// buildx's Dockerfile checks of an image (`--call check`).
    Dockerfile,
    /// cosign's verification of a signature or an attestation in the registry.
    Signing,
    /// An image's build, reused from the build record (never a verdict of this file).
    Build,
}

impl Check {
    /// How a release record names a reused check of this kind.
    pub fn reused_name(self) -> &'static str {
        match self {
            Check::Smoke => "smoke",
            Check::Scan => "scan",
            Check::Dockerfile => "build check",
            Check::Signing => "signature and attestation verification",
            Check::Build => "build",
        }
    }
}

/// A reused check as the release record writes it: its `reused_name`.
mod reused_name {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use super::Check;

    const ALL: [Check; 5] = [Check::Smoke, Check::Scan, Check::Dockerfile, Check::Signing, Check::Build];

    pub fn serialize<S: Serializer>(check: &Check, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(check.reused_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Check, D::Error> {
        let name = String::deserialize(deserializer)?;
        ALL.into_iter().find(|c| c.reused_name() == name).ok_or_else(|| D::Error::custom(format!("no check {name:?}")))
    }
}

/// One recorded outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub check: Check,
    /// What was checked, for people: `beacon linux/arm64`, `beacon`.
    pub subject: String,
    /// The digest of everything the outcome depends on (`smoke_key`, `scan_key`, `dockerfile_key`,
    /// `signing_key`).
    pub key: String,
    pub passed: bool,
    /// When the check ran (RFC 3339 UTC).
    pub at: String,
    /// What the check produced that a reuse needs (the scan's summary of the image), if anything.
    #[serde(default)]
    pub outcome: serde_json::Value,
}

/// Every recorded verdict, the latest of each key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdicts {
    pub schema_version: u32,
    pub verdicts: Vec<Verdict>,
}

/// A verdict reused in a run, for its record: which check of what, and from when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reused {
    #[serde(with = "reused_name")]
    pub check: Check,
    pub subject: String,
    pub since: String,
}

impl Verdicts {
    /// The recorded pass of `key`, if its latest verdict is one. A failure is never returned.
    pub fn pass(&self, check: Check, key: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.check == check && v.key == key).filter(|v| v.passed)
    }

    /// The newest verdict of `check` on `subject`, whatever its key: what that subject's files on
    /// disk (a scan's reports) were last written by.
    pub fn latest(&self, check: Check, subject: &str) -> Option<&Verdict> {
        self.verdicts.iter().rev().find(|v| v.check == check && v.subject == subject)
    }

    /// Records `verdict`, replacing any earlier one of the same check and key.
    pub fn record(&mut self, verdict: Verdict) {
        self.verdicts.retain(|v| !(v.check == verdict.check && v.key == verdict.key));
        self.verdicts.push(verdict);
    }

    /// Keeps the newest `keep` verdicts (the file does not grow without end).
    pub fn trim(&mut self, keep: usize) {
        if self.verdicts.len() > keep {
            self.verdicts.drain(..self.verdicts.len() - keep);
        }
    }
}

/// A smoke test's key: the variant's manifest digest and platform, the reference it runs as, and
/// the smoke settings and version it is judged by.
pub fn smoke_key(digest: &str, platform: &str, reference: &str, settings: &str, version: &str) -> String {
    sha256(format!("smoke/1\n{digest}\n{platform}\n{reference}\n{settings}\n{version}\n").as_bytes())
}

/// A scan's key: the image's index digest (every platform's manifest), the vulnerability DB's
/// digest, the effective policy (scanners, severities, ignore-unfixed, the ignore file's content),
/// the Dockerfile the misconfiguration scanner reads, and the scanner's version.
pub fn scan_key(index_digest: &str, db_digest: Option<&str>, policy: &str, dockerfile: &str, scanner: &str) -> String {
    let db = db_digest.unwrap_or("no vulnerability DB");
    sha256(format!("scan/1\n{index_digest}\n{db}\n{policy}\n{dockerfile}\n{scanner}\n").as_bytes())
}

/// A Dockerfile's build checks' key: the Dockerfile's content, its target and build args
/// (`NAME=value`), and the judges (buildx, the engine whose BuildKit serves the checks, the builder).
pub fn dockerfile_key(dockerfile: &[u8], target: Option<&str>, args: &[String], judges: &str) -> String {
    let dockerfile = sha256(dockerfile);
    sha256(format!("build-check/1\n{dockerfile}\n{target:?}\n{}\n{judges}\n", args.join("\n")).as_bytes())
}

/// A signature's or an attestation's verification key: the subject (`repo@digest`), what is
/// verified (`signature`, or the predicate type), every referrer the registry lists for the subject
/// (content-addressed: a referrer added, replaced or removed is a new key), and how it is verified
/// (`Signer::verifier`: options, public key, cosign's format).
pub fn signing_key(subject: &str, what: &str, referrers: &[String], verifier: &str) -> String {
    let mut referrers = referrers.to_vec();
    referrers.sort();
    sha256(format!("signing/1\n{subject}\n{what}\n{}\n{verifier}\n", referrers.join("\n")).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(key: &str, passed: bool, at: &str) -> Verdict {
        Verdict {
            check: Check::Scan,
            subject: "beacon".into(),
            key: key.into(),
            passed,
            at: at.into(),
            outcome: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_signing_key_changes_with_each_thing_the_verification_depends_on() {
        let referrers = ["r@sha256:a".to_owned(), "r@sha256:b".to_owned()];
        let key = signing_key("r@sha256:1", "signature", &referrers, "--key k1");
        let reordered = [referrers[1].clone(), referrers[0].clone()];
        assert_eq!(
            key,
            signing_key("r@sha256:1", "signature", &reordered, "--key k1"),
            "the listing's order is not content"
        );
        for other in [
            signing_key("r@sha256:2", "signature", &referrers, "--key k1"),
            signing_key("r@sha256:1", "cyclonedx", &referrers, "--key k1"),
            signing_key("r@sha256:1", "signature", &referrers[..1], "--key k1"),
            signing_key("r@sha256:1", "signature", &[referrers[0].clone(), "r@sha256:c".into()], "--key k1"),
            signing_key("r@sha256:1", "signature", &referrers, "--key k2"),
        ] {
            assert_ne!(key, other);
        }
    }

    #[test]
    fn a_pass_is_reused_for_the_same_key_only() {
        let mut verdicts = Verdicts::default();
        verdicts.record(verdict("k1", true, "2026-12-01T10:00:00Z"));
        assert_eq!(verdicts.pass(Check::Scan, "k1").map(|v| v.at.as_str()), Some("2026-12-01T10:00:00Z"));
        assert!(verdicts.pass(Check::Scan, "k2").is_none());
        assert!(verdicts.pass(Check::Smoke, "k1").is_none(), "a scan's pass is not a smoke test's");
    }

    #[test]
    fn a_failed_verdict_is_never_reused_as_a_pass() {
        let mut verdicts = Verdicts::default();
        verdicts.record(verdict("k1", false, "2026-12-01T10:00:00Z"));
        assert!(verdicts.pass(Check::Scan, "k1").is_none());
        // A failure after a pass replaces it: the pass is not found any more.
        verdicts.record(verdict("k2", true, "2026-12-01T10:00:00Z"));
        verdicts.record(verdict("k2", false, "2026-12-01T11:00:00Z"));
        assert!(verdicts.pass(Check::Scan, "k2").is_none());
        assert_eq!(verdicts.verdicts.len(), 2);
        // Only a new pass, recorded after the check ran again, is reused.
        verdicts.record(verdict("k2", true, "2026-12-01T12:00:00Z"));
        assert_eq!(verdicts.pass(Check::Scan, "k2").map(|v| v.at.as_str()), Some("2026-12-01T12:00:00Z"));
    }

    #[test]
    fn a_reused_check_keeps_the_record_s_names() {
        let reused =
            Reused { check: Check::Dockerfile, subject: "beacon".into(), since: "2026-12-01T10:00:00Z".into() };
        let json = serde_json::to_value(&reused).unwrap();
        assert_eq!(json["check"], "build check");
        assert_eq!(serde_json::from_value::<Reused>(json).unwrap(), reused);
        for check in [Check::Smoke, Check::Scan, Check::Dockerfile, Check::Signing, Check::Build] {
            let json = serde_json::json!({"check": check.reused_name(), "subject": "s", "since": "t"});
            assert_eq!(serde_json::from_value::<Reused>(json).unwrap().check, check);
        }
        assert!(
            serde_json::from_value::<Reused>(serde_json::json!({"check": "x", "subject": "s", "since": "t"})).is_err()
        );
    }

    #[test]
    fn the_latest_verdict_of_a_subject_is_the_last_recorded_whatever_its_key() {
        let mut verdicts = Verdicts::default();
        assert!(verdicts.latest(Check::Scan, "beacon").is_none());
        verdicts.record(verdict("k1", true, "2026-12-01T10:00:00Z"));
        verdicts.record(verdict("k2", false, "2026-12-01T11:00:00Z"));
        assert_eq!(verdicts.latest(Check::Scan, "beacon").map(|v| v.key.as_str()), Some("k2"));
        // k1 passed, but k2 ran on the same subject since: k1's files are not k1's any more.
        assert!(verdicts.pass(Check::Scan, "k1").is_some());
        verdicts.record(verdict("k1", true, "2026-12-01T12:00:00Z"));
        assert_eq!(verdicts.latest(Check::Scan, "beacon").map(|v| v.key.as_str()), Some("k1"));
        assert!(verdicts.latest(Check::Smoke, "beacon").is_none());
    }

    #[test]
    fn a_new_db_or_a_changed_policy_is_another_scan_key() {
        let key = scan_key("sha256:i", Some("sha256:db1"), "HIGH,CRITICAL", "FROM scratch", "0.76.0");
        assert_eq!(key, scan_key("sha256:i", Some("sha256:db1"), "HIGH,CRITICAL", "FROM scratch", "0.76.0"));
        let others = [
            scan_key("sha256:j", Some("sha256:db1"), "HIGH,CRITICAL", "FROM scratch", "0.76.0"),
            scan_key("sha256:i", Some("sha256:db2"), "HIGH,CRITICAL", "FROM scratch", "0.76.0"),
            scan_key("sha256:i", None, "HIGH,CRITICAL", "FROM scratch", "0.76.0"),
            scan_key("sha256:i", Some("sha256:db1"), "MEDIUM,HIGH,CRITICAL", "FROM scratch", "0.76.0"),
            scan_key("sha256:i", Some("sha256:db1"), "HIGH,CRITICAL", "FROM scratch\nUSER 1", "0.76.0"),
            scan_key("sha256:i", Some("sha256:db1"), "HIGH,CRITICAL", "FROM scratch", "0.77.0"),
        ];
        assert!(others.iter().all(|other| *other != key));
    }

    #[test]
    fn a_smoke_key_changes_with_the_digest_platform_settings_and_version() {
        let key = smoke_key("sha256:m", "linux/amd64", "beacon:local", "--version", "1.2.3");
        for other in [
            smoke_key("sha256:n", "linux/amd64", "beacon:local", "--version", "1.2.3"),
            smoke_key("sha256:m", "linux/arm64", "beacon:local", "--version", "1.2.3"),
            smoke_key("sha256:m", "linux/amd64", "beacon:other", "--version", "1.2.3"),
            smoke_key("sha256:m", "linux/amd64", "beacon:local", "version", "1.2.3"),
            smoke_key("sha256:m", "linux/amd64", "beacon:local", "--version", "1.2.4"),
        ] {
            assert_ne!(other, key);
        }
    }

    #[test]
    fn a_dockerfile_key_changes_with_the_dockerfile_target_args_and_judges() {
        let args = ["PACKAGE=beacon".to_owned(), "BIN=beacon".to_owned()];
        let key = dockerfile_key(b"FROM scratch", Some("runtime"), &args, "0.17.1");
        // The key a Dockerfile was recorded under before: a pass stays reusable.
        let text =
            format!("build-check/1\n{}\nSome(\"runtime\")\n{}\n0.17.1\n", sha256(b"FROM scratch"), args.join("\n"));
        assert_eq!(key, sha256(text.as_bytes()));
        for other in [
            dockerfile_key(b"FROM scratch\nUSER 1", Some("runtime"), &args, "0.17.1"),
            dockerfile_key(b"FROM scratch", None, &args, "0.17.1"),
            dockerfile_key(b"FROM scratch", Some("service"), &args, "0.17.1"),
            dockerfile_key(b"FROM scratch", Some("runtime"), &args[..1], "0.17.1"),
            dockerfile_key(b"FROM scratch", Some("runtime"), &args, "0.18.0"),
        ] {
            assert_ne!(other, key);
        }
    }

    #[test]
    fn trimming_keeps_the_newest() {
        let mut verdicts = Verdicts::default();
        for n in 0..5 {
            verdicts.record(verdict(&format!("k{n}"), true, "t"));
        }
        verdicts.trim(2);
        let keys: Vec<&str> = verdicts.verdicts.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["k3", "k4"]);
    }
}
