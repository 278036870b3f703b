//! The effective scan policy, pure: the configured `[workspace.metadata.xtask.scan]` with this run's
//! overrides (`--scanners`, `--db-repository` / `XTASK_TRIVY_DB_REPOSITORY`) applied, each change
//! marked with what made it. The plan carries the result, so `plan`, `scan` and `release` print and
//! record the policy a run actually applies.

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};

use crate::rules::config::{validate_db_repository, ScanPolicy, Scanner};

/// This run's changes to the configured scan policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanChanges {
    /// `--scanners`.
    pub scanners: Option<Vec<Scanner>>,
    /// The DB sources, and what named them (`--db-repository` or `XTASK_TRIVY_DB_REPOSITORY`).
    pub db_repositories: Option<(Vec<String>, String)>,
}

/// One setting of the scan policy that this run changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanOverride {
    /// The setting as `[workspace.metadata.xtask.scan]` spells it: `scanners` or `db-repositories`.
    pub setting: String,
    /// What changed it: `--scanners`, `--db-repository` or `XTASK_TRIVY_DB_REPOSITORY`.
    pub by: String,
    /// The configured value it replaces.
    pub configured: Vec<String>,
}

/// The policy this run applies, and the settings in it that differ from the configuration.
pub fn effective(configured: &ScanPolicy, changes: &ScanChanges) -> Result<(ScanPolicy, Vec<ScanOverride>)> {
    let mut policy = configured.clone();
    let mut overrides = Vec::new();
    if let Some(scanners) = &changes.scanners {
        let mut unique: Vec<Scanner> = Vec::new();
        for scanner in scanners {
            if !unique.contains(scanner) {
                unique.push(*scanner);
            }
        }
        if unique.is_empty() {
            return Err(anyhow!("--scanners is empty: name at least one of vuln, secret, misconfig"));
        }
        if unique != configured.scanners {
            overrides.push(ScanOverride {
                setting: "scanners".into(),
                by: "--scanners".into(),
                configured: names(&configured.scanners),
            });
            policy.scanners = unique;
        }
    }
    if let Some((repositories, by)) = &changes.db_repositories {
        if repositories.is_empty() {
            return Err(anyhow!("{by} is empty: name a DB repository, e.g. mirror.gcr.io/aquasec/trivy-db:2"));
        }
        for repository in repositories {
            validate_db_repository(repository).map_err(|error| anyhow!("{by}: {error}"))?;
        }
        if *repositories != configured.db_repositories {
            overrides.push(ScanOverride {
                setting: "db-repositories".into(),
                by: by.clone(),
                configured: configured.db_repositories.clone(),
            });
            policy.db_repositories = repositories.clone();
        }
    }
    Ok((policy, overrides))
}

/// Enum values as the configuration and the JSON spell them (their serde names).
pub fn names<T: Serialize>(values: &[T]) -> Vec<String> {
    values.iter().filter_map(|value| serde_json::to_value(value).ok()?.as_str().map(str::to_owned)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_the_configured_values_and_are_marked() {
        let configured = ScanPolicy::default();
        let (policy, overrides) = effective(&configured, &ScanChanges::default()).unwrap();
        assert_eq!((policy, overrides), (configured.clone(), Vec::new()));

        let changes = ScanChanges {
            scanners: Some(vec![Scanner::Secret, Scanner::Misconfig]),
            db_repositories: Some((vec!["127.0.0.1:5959/trivy-db:2".into()], "XTASK_TRIVY_DB_REPOSITORY".into())),
        };
        let (policy, overrides) = effective(&configured, &changes).unwrap();
        assert_eq!(policy.scanners, [Scanner::Secret, Scanner::Misconfig]);
        assert_eq!(policy.db_repositories, ["127.0.0.1:5959/trivy-db:2"]);
        assert_eq!(policy.severities, configured.severities, "what is not overridden stays configured");
        assert_eq!(
            overrides,
            [
                ScanOverride {
                    setting: "scanners".into(),
                    by: "--scanners".into(),
                    configured: vec!["vuln".into(), "secret".into(), "misconfig".into()],
                },
                ScanOverride {
                    setting: "db-repositories".into(),
                    by: "XTASK_TRIVY_DB_REPOSITORY".into(),
                    configured: configured.db_repositories.clone(),
                },
            ]
        );
    }

    #[test]
    fn an_override_equal_to_the_configuration_is_no_override() {
        let configured = ScanPolicy::default();
        let changes = ScanChanges {
            scanners: Some(configured.scanners.clone()),
            db_repositories: Some((configured.db_repositories.clone(), "--db-repository".into())),
        };
        assert!(effective(&configured, &changes).unwrap().1.is_empty());
    }

    #[test]
    fn bad_overrides_name_their_flag() {
        let configured = ScanPolicy::default();
        let bad = ScanChanges {
            db_repositories: Some((vec!["127.0.0.1:5959/trivy-db".into()], "--db-repository".into())),
            ..ScanChanges::default()
        };
        let error = effective(&configured, &bad).unwrap_err().to_string();
        assert!(error.starts_with("--db-repository: \"127.0.0.1:5959/trivy-db\" has no tag"), "{error}");
        let empty = ScanChanges { scanners: Some(Vec::new()), ..ScanChanges::default() };
        assert!(effective(&configured, &empty).unwrap_err().to_string().contains("--scanners is empty"));
    }
}
