//! The verdicts file of a run's `out_dir` (`verdicts.json`, see `rules::verdicts`): read at the
//! start of a check, written after it. An unreadable or older file counts as empty: the checks run;
//! a newer engine's is refused (`steps::stored`).

use std::path::Path;

use anyhow::{Context, Result};

use crate::rules::verdicts::{Verdicts, SCHEMA_VERSION};
use crate::steps::stored;
use crate::tools::files;

pub const FILE: &str = "verdicts.json";
/// How many verdicts the file keeps (the newest).
const KEEP: usize = 512;

pub fn load(out: &Path) -> Result<Verdicts> {
    let stored = stored::read(&out.join(FILE), SCHEMA_VERSION)?;
    Ok(stored.unwrap_or(Verdicts { schema_version: SCHEMA_VERSION, verdicts: Vec::new() }))
}

pub fn save(out: &Path, verdicts: &mut Verdicts) -> Result<()> {
    verdicts.trim(KEEP);
    verdicts.schema_version = SCHEMA_VERSION;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    files::write_json(&out.join(FILE), verdicts)
}

/// Now, RFC 3339 UTC to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
