//! The release configuration: `[workspace.metadata.xtask]` in the root Cargo.toml, typed.
//!
//! Declarative and strict: unknown keys and invalid values are errors that name the full key path
//! (`workspace.metadata.xtask.images.beacon.platforms[1]`) and the allowed values, so a typo can't
//! silently turn into a default. Pure: it reads the JSON that `cargo metadata` already produced.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub use crate::rules::config_scan::{max_db_age, validate_db_repository, ScanPolicy, Scanner, Severity};
use crate::rules::credentials;
use crate::rules::reference::Repository;
use crate::rules::retry::RetryConfig;
use crate::rules::toolchain::parse_rust_version;
pub use crate::rules::toolchain::BuilderConfig;
use crate::rules::transport;
use crate::rules::versioning::{Mode, TagPattern};

/// Where the configuration lives, prefixed to every key path in error messages.
const TABLE: &str = "workspace.metadata.xtask";

/// `[workspace.metadata.xtask]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Branches on which `cargo xtask version … --tag` may create a release tag. Default `["main"]`.
    #[serde(default = "default_release_branches")]
    pub release_branches: Vec<String>,
    /// The branch whose builds publish the `edge` and `sha-<7 hex>` tags. Default `"main"`.
    #[serde(default = "default_edge_branch")]
    pub edge_branch: String,
    /// Registries (`HOST[:PORT]`, or CIDRs) that may be reached over plain HTTP although they are
    /// not loopback. Every run warns about them. Default: none.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// How the images' versions relate: `"lockstep"` (every image at `[workspace.package] version`)
    /// or `"independent"` (each image at its own package's version). Default: detected, lockstep
    /// when the workspace declares a version that every released crate inherits, else independent.
    #[serde(default)]
    pub versioning: Option<Mode>,
    /// The shape of release tags: `"{version}"`, `"v{version}"`, `"{package}-v{version}"` or
    /// `"{package}-{version}"`. Default `"v{version}"`; `"{package}-v{version}"` in independent mode
    /// when several packages are released. Retraction tags are `retracted/<release tag>`.
    #[serde(default)]
    pub tag_pattern: Option<TagPattern>,
    /// `[workspace.metadata.xtask.images.<name>]`: one container image per table; `<name>` is the
    /// image's name (a lower-case Docker path component, e.g. `beacon`).
    #[serde(default)]
    pub images: BTreeMap<String, ImageConfig>,
    /// `[workspace.metadata.xtask.scan]`: the vulnerability scan policy.
    #[serde(default)]
    pub scan: ScanPolicy,
    /// `[workspace.metadata.xtask.cache]`: where buildx keeps its build cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[workspace.metadata.xtask.signing]`: cosign signing.
    #[serde(default)]
    pub signing: SigningConfig,
    /// `[workspace.metadata.xtask.builder]`: the image the toolchain stage starts from, for every
    /// image. Absent: Debian trixie or forky, whichever is the oldest to meet the Rust the image
    /// needs (docs/src/toolchain.md).
    #[serde(default)]
    pub builder: Option<BuilderConfig>,
    /// `[workspace.metadata.xtask.retry]`: how registry operations are retried.
    #[serde(default)]
    pub retry: RetryConfig,
    /// `[workspace.metadata.xtask.ci]`: how `cargo xtask ci` runs the workspace's tests.
    #[serde(default)]
    pub ci: CiConfig,
}

/// `[workspace.metadata.xtask.ci]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CiConfig {
    /// Test targets (`cargo test --test NAME`) to start first, longest first: the two test lanes
    /// take them before the others, so they end together. Only an order; every target runs.
    /// Default: none (cargo's order).
    #[serde(default)]
    pub longest_tests: Vec<String>,
}

/// `[workspace.metadata.xtask.images.<name>.smoke]`: what the smoke test runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SmokeConfig {
    /// The arguments the binary is run with. Default `["--version"]`.
    #[serde(default = "default_smoke_args")]
    pub args: Vec<String>,
    /// What its output must contain, `{version}` standing for the image's version, e.g.
    /// `"beacon {version}"`. Default: a line naming the version as `--version` prints it
    /// (`name 1.2.3`, `name v1.2.3`, `name 1.2.3 (rev …)`).
    #[serde(default)]
    pub expect: Option<String>,
    /// Check the version at all. Default `true`; `false` needs a `reason`.
    #[serde(default = "default_true")]
    pub version_check: bool,
    /// Why the version is not checked (required with `version-check = false`).
    #[serde(default)]
    pub reason: Option<String>,
}

impl Default for SmokeConfig {
    fn default() -> Self {
        Self { args: default_smoke_args(), expect: None, version_check: true, reason: None }
    }
}

/// A platform the images can be built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Platform {
    #[serde(rename = "linux/amd64")]
    LinuxAmd64,
    #[serde(rename = "linux/arm64")]
    LinuxArm64,
    #[serde(rename = "linux/arm/v7")]
    LinuxArmV7,
    #[serde(rename = "linux/ppc64le")]
    LinuxPpc64le,
    #[serde(rename = "linux/s390x")]
    LinuxS390x,
    #[serde(rename = "linux/riscv64")]
    LinuxRiscv64,
}

impl Platform {
    /// Every platform the build can produce, from an amd64 or an arm64 build host.
    pub const ALL: [Platform; 6] = [
        Platform::LinuxAmd64,
        Platform::LinuxArm64,
        Platform::LinuxArmV7,
        Platform::LinuxPpc64le,
        Platform::LinuxS390x,
        Platform::LinuxRiscv64,
    ];

    /// The OCI platform string (`linux/arm/v7`), as buildx `--platform` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "linux/amd64",
            Platform::LinuxArm64 => "linux/arm64",
            Platform::LinuxArmV7 => "linux/arm/v7",
            Platform::LinuxPpc64le => "linux/ppc64le",
            Platform::LinuxS390x => "linux/s390x",
            Platform::LinuxRiscv64 => "linux/riscv64",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[workspace.metadata.xtask.cache]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheConfig {
    /// A repository prefix (`ghcr.io/acme/cache`) under which buildx keeps a registry cache per
    /// image (`ghcr.io/acme/cache/beacon:buildcache`). Absent: the GitHub Actions cache in CI, a
    /// local directory elsewhere.
    #[serde(default)]
    pub registry: Option<String>,
}

/// `[workspace.metadata.xtask.signing]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SigningConfig {
    /// Sign pushed images with cosign. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Upload signatures and attestations to the Rekor transparency log. Default `false`. Keyless
    /// signing (GitHub Actions' OIDC identity, no `COSIGN_PRIVATE_KEY`) requires `true`: preflight
    /// refuses it otherwise, since its signatures could not be verified once the short-lived
    /// certificate expired. Key-based signing may sign offline with `false`.
    #[serde(default)]
    pub tlog_upload: bool,
}

fn default_release_branches() -> Vec<String> {
    vec!["main".into()]
}
fn default_edge_branch() -> String {
    "main".into()
}
fn default_smoke_args() -> Vec<String> {
    vec!["--version".into()]
}
fn default_context() -> String {
    ".".into()
}
fn default_true() -> bool {
    true
}
impl Default for Config {
    fn default() -> Self {
        Self {
            release_branches: default_release_branches(),
            edge_branch: default_edge_branch(),
            insecure_registries: Vec::new(),
            versioning: None,
            tag_pattern: None,
            images: BTreeMap::new(),
            scan: ScanPolicy::default(),
            cache: CacheConfig::default(),
            signing: SigningConfig::default(),
            builder: None,
            retry: RetryConfig::default(),
            ci: CiConfig::default(),
        }
    }
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self { enabled: true, tlog_upload: false }
    }
}

impl Config {
    /// Reads the configuration from `cargo metadata`'s `workspace_metadata` (the whole
    /// `[workspace.metadata]` table); without an `xtask` table, every default applies.
    pub fn from_metadata(workspace_metadata: &serde_json::Value) -> Result<Config> {
        let Some(table) = workspace_metadata.get("xtask") else {
            return Ok(Config::default());
        };
        let config: Config = serde_path_to_error::deserialize(table).map_err(|error| {
            let path = error.path().to_string();
            let key = if path == "." { TABLE.to_string() } else { format!("{TABLE}.{path}") };
            anyhow::anyhow!("{key}: {} (fix it in the root Cargo.toml)", error.inner())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The checks serde can't express: names, references, emptiness, duplicates.
    fn validate(&self) -> Result<()> {
        non_empty_unique("release-branches", &self.release_branches)?;
        if self.edge_branch.is_empty() {
            invalid("edge-branch", "must name a branch, e.g. \"main\"")?;
        }
        for (name, image) in &self.images {
            image::validate(name, image)?;
        }
        inside_workspace("scan.ignorefile", &self.scan.ignorefile)?;
        for (index, entry) in self.insecure_registries.iter().enumerate() {
            if let Err(error) = transport::validate_entry(entry) {
                invalid(&format!("insecure-registries[{index}]"), &error.to_string())?;
            }
        }
        non_empty_unique("scan.scanners", &self.scan.scanners)?;
        non_empty_unique("scan.severities", &self.scan.severities)?;
        non_empty_unique("scan.db-repositories", &self.scan.db_repositories)?;
        for (index, repository) in self.scan.db_repositories.iter().enumerate() {
            if let Err(error) = validate_db_repository(repository) {
                invalid(&format!("scan.db-repositories[{index}]"), &error.to_string())?;
            }
        }
        if let Err(error) = max_db_age(&self.scan) {
            invalid("scan.max-db-age", &error.to_string())?;
        }
        if let Some(builder) = &self.builder {
            if builder.image.trim().is_empty() {
                invalid("builder.image", "must name an image, e.g. \"rust:1.90-slim-trixie\"")?;
            }
            if parse_rust_version(&builder.rust).is_none() {
                invalid("builder.rust", "must be the Rust version the image has, e.g. \"1.90\"")?;
            }
        }
        let policy = self.retry.policy()?;
        if !(1..=20).contains(&policy.attempts) {
            invalid("retry.attempts", "must be 1 (never retry) to 20")?;
        }
        if policy.max_wait.is_zero() {
            invalid("retry.max-wait", "must be longer than 0s, e.g. \"30s\"")?;
        }
        if let Some(prefix) = &self.cache.registry {
            if let Err(error) = Repository::parse(prefix) {
                invalid("cache.registry", &error.to_string())?;
            }
        }
        if let Err(error) = credentials::check_distinct(&self.registries()) {
            bail!("{error} (fix it in the root Cargo.toml)");
        }
        Ok(())
    }

    /// The registry hosts the configuration names (every image's repositories, the registry cache),
    /// each with its key path.
    pub fn registries(&self) -> Vec<(String, String)> {
        let mut hosts = Vec::new();
        for (name, image) in &self.images {
            for (index, repository) in image.repositories.iter().enumerate() {
                if let Ok(parsed) = Repository::parse(repository) {
                    hosts.push((parsed.registry.to_owned(), format!("{TABLE}.images.{name}.repositories[{index}]")));
                }
            }
        }
        if let Some(parsed) = self.cache.registry.as_deref().and_then(|prefix| Repository::parse(prefix).ok()) {
            hosts.push((parsed.registry.to_owned(), format!("{TABLE}.cache.registry")));
        }
        hosts
    }
}

/// A path to the workspace's own files (a Dockerfile, a build context, the ignore file): relative
/// to the workspace root, and never up out of it. Preflight resolves symlinks on the disk.
fn inside_workspace(key: &str, path: &str) -> Result<()> {
    let parsed = Path::new(path);
    if path.is_empty() {
        return invalid(key, "must name a path relative to the workspace root, e.g. \".\"");
    }
    if parsed.is_absolute() {
        return invalid(
            key,
            &format!("{path:?} is an absolute path: name a path inside the workspace, relative to its root"),
        );
    }
    if parsed.components().any(|c| c == Component::ParentDir) {
        return invalid(key, &format!("{path:?} leads out of the workspace (`..`): name a path inside it"));
    }
    Ok(())
}

fn invalid(key: &str, problem: &str) -> Result<()> {
    bail!("{TABLE}.{key}: {problem} (fix it in the root Cargo.toml)")
}

fn non_empty_unique<T: Ord + Serialize>(key: &str, values: &[T]) -> Result<()> {
    if values.is_empty() {
        return invalid(key, "must not be empty");
    }
    let mut seen = BTreeSet::new();
    for (index, value) in values.iter().enumerate() {
        if !seen.insert(value) {
            let shown = serde_json::to_string(value).unwrap_or_default();
            invalid(&format!("{key}[{index}]"), &format!("duplicate {shown}"))?;
        }
    }
    Ok(())
}

#[path = "config_image.rs"]
mod image;
pub use image::ImageConfig;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
