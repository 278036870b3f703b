//! The vulnerability DB's rules, pure: where a source's DB is cached, the digest-pinned reference it
//! is downloaded by, what its `metadata.json` says, and whether it is too old to judge a release by.
//!
//! trivy reuses whatever DB its cache directory holds until the DB's `NextUpdate`, whichever
//! repository it is told to use. So each source gets its own cache directory, the digest downloaded
//! is remembered next to the DB, and a source whose digest changed is downloaded again: a DB from
//! another source, or an older one, is never reused silently.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// A DB download: which repository, which manifest digest. Stored next to the DB it describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub repository: String,
    pub digest: String,
}

/// What trivy's `db/metadata.json` says about the DB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub updated_at: String,
    pub next_update: String,
}

/// The cache directory name of a source (`127.0.0.1:5959/trivy-db:2` → `127.0.0.1_5959_trivy-db_2`).
/// Two sources may share a name (`a/b` and `a_b`); the stored [`Source`] tells them apart.
pub fn cache_key(repository: &str) -> String {
    repository.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '_' }).collect()
}

/// `REGISTRY/PATH:TAG` and a digest → `REGISTRY/PATH@DIGEST`, the exact DB that was looked at.
pub fn pinned(repository: &str, digest: &str) -> String {
    let name = match repository.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => repository,
    };
    format!("{name}@{digest}")
}

/// Reads trivy's `metadata.json`: its `Version` (2, the schema trivy reads), `UpdatedAt` and
/// `NextUpdate`, each required.
pub fn metadata(text: &str) -> Result<Metadata> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Stored {
        version: u64,
        updated_at: String,
        next_update: String,
    }
    let stored: Stored = serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("the DB's metadata.json is not the one trivy writes: {e}"))?;
    if stored.version != 2 {
        bail!("metadata.json says DB schema version {}, but trivy reads version 2", stored.version);
    }
    Ok(Metadata { updated_at: stored.updated_at, next_update: stored.next_update })
}

/// How old the DB is at `now`; an error, failing closed, if older than `max_age`.
pub fn check_age(source: &Source, updated_at: &str, now: SystemTime, max_age: Duration) -> Result<Duration> {
    let updated = humantime::parse_rfc3339_weak(updated_at)
        .with_context(|| format!("the DB from {} has an unreadable UpdatedAt {updated_at:?}", source.repository))?;
    let age = now.duration_since(updated).unwrap_or_default();
    if age > max_age {
        bail!(
            "the vulnerability DB from {} ({}) was updated {} ago (UpdatedAt {updated_at}), more than max-db-age = {}: \
             a stale DB misses newer advisories and passes what it should stop, so the scan fails closed. \
             Fix: refresh that mirror, name a fresher source (db-repositories in [workspace.metadata.xtask.scan], \
             or --db-repository / XTASK_TRIVY_DB_REPOSITORY), or raise max-db-age deliberately",
            source.repository,
            source.digest,
            human(age),
            human(max_age)
        );
    }
    Ok(age)
}

/// A duration to the minute, `3days 2h 5m`.
pub fn human(duration: Duration) -> String {
    let minutes = Duration::from_secs(duration.as_secs() / 60 * 60);
    if minutes.is_zero() {
        return "less than a minute".to_owned();
    }
    humantime::format_duration(minutes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn each_source_has_its_own_cache_and_is_pinned_by_digest() {
        assert_eq!(cache_key("127.0.0.1:5959/trivy-db:2"), "127.0.0.1_5959_trivy-db_2");
        assert_eq!(cache_key("mirror.gcr.io/aquasec/trivy-db:2"), "mirror.gcr.io_aquasec_trivy-db_2");
        assert_ne!(cache_key("ghcr.io/aquasecurity/trivy-db:2"), cache_key("mirror.gcr.io/aquasec/trivy-db:2"));
        assert_eq!(pinned("127.0.0.1:5959/trivy-db:2", "sha256:ab"), "127.0.0.1:5959/trivy-db@sha256:ab");
        assert_eq!(pinned("localhost:5000/db", "sha256:ab"), "localhost:5000/db@sha256:ab");
    }

    #[test]
    fn metadata_is_read_and_checked() {
        let text = r#"{"Version":2,"NextUpdate":"2026-11-28T00:22:52Z","UpdatedAt":"2026-11-27T00:22:52Z","DownloadedAt":"2026-11-27T00:36:28.94Z"}"#;
        let m = metadata(text).unwrap();
        assert_eq!((m.updated_at.as_str(), m.next_update.as_str()), ("2026-11-27T00:22:52Z", "2026-11-28T00:22:52Z"));
        assert!(metadata(r#"{"Version":1,"UpdatedAt":"x","NextUpdate":"y"}"#)
            .unwrap_err()
            .to_string()
            .contains("version 1"));
        assert!(metadata(r#"{"Version":2}"#).unwrap_err().to_string().contains("UpdatedAt"));
    }

    #[test]
    fn a_db_older_than_max_db_age_fails_closed_naming_its_age() {
        let source = Source { repository: "127.0.0.1:5959/trivy-db:2".into(), digest: "sha256:ab".into() };
        let max = Duration::from_secs(48 * 3600);
        let now = at("2026-11-27T12:00:00Z");
        assert_eq!(check_age(&source, "2026-11-27T00:00:00Z", now, max).unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(check_age(&source, "2026-11-28T00:00:00Z", now, max).unwrap(), Duration::ZERO, "clock skew");
        assert_eq!(check_age(&source, "2026-11-27T00:00:00.123456789Z", now, max).unwrap().as_secs(), 12 * 3600 - 1);
        let error = check_age(&source, "2026-11-24T11:00:00Z", now, max).unwrap_err().to_string();
        assert!(
            error.contains("was updated 3days 1h ago (UpdatedAt 2026-11-24T11:00:00Z), more than max-db-age = 2days"),
            "{error}"
        );
        assert!(error.contains("127.0.0.1:5959/trivy-db:2 (sha256:ab)") && error.contains("fails closed"), "{error}");
        assert!(check_age(&source, "yesterday", now, max).is_err());
        assert_eq!(human(Duration::from_secs(59)), "less than a minute");
    }
}
