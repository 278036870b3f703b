//! The build record: what `cargo xtask build` produced, written to `target/xtask/build-record.json`
//! so that smoke, scan and publish act on exactly those digests and archives instead of rebuilding or
//! asking the engine again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;
/// The build record's file in the run's `out_dir`.
pub const FILE: &str = "build-record.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildRecord {
    pub schema_version: u32,
    pub version: String,
    pub git_sha: String,
    pub images: Vec<BuiltImage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuiltImage {
    pub name: String,
    /// The version the image is released as (its package's own in independent versioning); empty
    /// in records written before it was recorded, where the record's `version` applies.
    #[serde(default)]
    pub version: String,
    /// The reference the image was loaded into the engine under.
    pub local_ref: String,
    pub index_digest: String,
    pub platforms: Vec<BuiltPlatform>,
    /// The OCI archive (image layout) holding the index and every platform's manifest.
    pub archive: PathBuf,
    /// The input identity it was built from (`rules::build_inputs`): one digest per kind of input.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// When it was built (RFC 3339 UTC); empty in records written before it was recorded.
    #[serde(default)]
    pub built_at: String,
    /// Whether this run reused the recorded build (nothing it is built from changed) instead of
    /// building it again.
    #[serde(default)]
    pub reused: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuiltPlatform {
    pub platform: String,
    pub digest: String,
    pub labels: BTreeMap<String, String>,
    /// The image's HEALTHCHECK command, if any: a service is smoke-tested running, a tool by its
    /// `--version` only.
    #[serde(default)]
    pub healthcheck: Option<Vec<String>>,
    /// The image's USER.
    #[serde(default)]
    pub user: String,
    /// Its size as pushed, in bytes: config and compressed layers (`rules::size_budget`).
    #[serde(default)]
    pub size: u64,
    /// BuildKit's SLSA provenance predicate (mode=max) for this manifest, kept beside the image rather
    /// than inside its index, for the publish step to attach with cosign.
    pub provenance: PathBuf,
}

impl BuildRecord {
    pub fn write(&self, out: &Path) -> Result<PathBuf> {
        let path = out.join(FILE);
        crate::tools::files::write_json(&path, self)?;
        Ok(path)
    }

    /// Reads the record and checks that it belongs to the commit and version about to be used.
    pub fn read_for(out: &Path, version: &str, git_sha: &str) -> Result<BuildRecord> {
        let path = out.join(FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("no build record at {}: run `cargo xtask build` first", path.display()))?;
        let record: BuildRecord =
            serde_json::from_str(&text).with_context(|| format!("{} is not a build record", path.display()))?;
        if record.schema_version != SCHEMA_VERSION {
            bail!(
                "{} has schema_version {}, expected {SCHEMA_VERSION}: run `cargo xtask build` again",
                path.display(),
                record.schema_version
            );
        }
        if record.version != version || record.git_sha != git_sha {
            bail!(
                "the build record is for {} at {}, but the workspace is {version} at {git_sha}: run `cargo xtask build` again",
                record.version, record.git_sha
            );
        }
        Ok(record)
    }
}
