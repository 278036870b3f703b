//! `[workspace.metadata.xtask.scan]`, typed: the scan policy's keys, their defaults and the checks
//! of its values that serde can't express (part of `rules::config`, which re-exports it).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::rules::reference::{validate_tag, Repository};

/// `[workspace.metadata.xtask.scan]`: what trivy looks for and what fails a release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScanPolicy {
    /// Trivy scanners, a subset of `vuln`, `secret`, `misconfig`. Default: all three.
    #[serde(default = "default_scanners")]
    pub scanners: Vec<Scanner>,
    /// Severities that fail the scan, a subset of `UNKNOWN`, `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`.
    /// Default `["HIGH", "CRITICAL"]`.
    #[serde(default = "default_severities")]
    pub severities: Vec<Severity>,
    /// Ignore vulnerabilities that have no fixed version yet. Default `true`.
    #[serde(default = "default_true")]
    pub ignore_unfixed: bool,
    /// Trivy's ignore file, relative to the workspace root. Default `".trivyignore"`.
    #[serde(default = "default_ignorefile")]
    pub ignorefile: String,
    /// Where the vulnerability DB comes from: OCI repositories (`REGISTRY/PATH:TAG`) tried in
    /// order, a mirror first, then the upstream. Default: trivy's own list.
    #[serde(default = "default_db_repositories")]
    pub db_repositories: Vec<String>,
    /// The oldest vulnerability DB (by its `UpdatedAt`) a scan accepts, e.g. `"48h"`. Default `"48h"`.
    #[serde(default = "default_max_db_age")]
    pub max_db_age: String,
}

/// A trivy scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scanner {
    Vuln,
    Secret,
    Misconfig,
}

/// A trivy severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        Self {
            scanners: default_scanners(),
            severities: default_severities(),
            ignore_unfixed: true,
            ignorefile: default_ignorefile(),
            db_repositories: default_db_repositories(),
            max_db_age: default_max_db_age(),
        }
    }
}

fn default_scanners() -> Vec<Scanner> {
    vec![Scanner::Vuln, Scanner::Secret, Scanner::Misconfig]
}
fn default_severities() -> Vec<Severity> {
    vec![Severity::High, Severity::Critical]
}
fn default_true() -> bool {
    true
}
fn default_ignorefile() -> String {
    ".trivyignore".into()
}
fn default_db_repositories() -> Vec<String> {
    DEFAULT_DB_REPOSITORIES.iter().map(|r| r.to_string()).collect()
}
fn default_max_db_age() -> String {
    "48h".into()
}

/// trivy's own default DB sources (`trivy image --help`, `--db-repository`).
pub const DEFAULT_DB_REPOSITORIES: [&str; 2] = ["mirror.gcr.io/aquasec/trivy-db:2", "ghcr.io/aquasecurity/trivy-db:2"];

/// Checks a vulnerability DB source: `REGISTRY/PATH:TAG`, like `mirror.gcr.io/aquasec/trivy-db:2`.
pub fn validate_db_repository(reference: &str) -> Result<()> {
    let Some((repository, tag)) = reference.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) else {
        bail!("{reference:?} has no tag: write REGISTRY/PATH:TAG, e.g. mirror.gcr.io/aquasec/trivy-db:2");
    };
    Repository::parse(repository)?;
    validate_tag(tag)
}

/// `max-db-age` as a duration.
pub fn max_db_age(scan: &ScanPolicy) -> Result<std::time::Duration> {
    humantime::parse_duration(&scan.max_db_age).map_err(|error| {
        anyhow::anyhow!("{:?} is not a duration ({error}): write it like \"48h\" or \"2days\"", scan.max_db_age)
    })
}
