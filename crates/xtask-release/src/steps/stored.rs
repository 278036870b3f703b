//! Reading back what an earlier run left under `target/xtask` (the last build record, the verdicts
//! cache): by its `schema_version` first (`rules::schema`), so a file of an older engine counts as
//! absent and is made again, and one of a newer engine is refused, never misread.

use std::path::Path;

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::rules::schema;

/// The file at `path` as `T` when it has schema `known`; `None` when it is missing, unreadable or
/// of an older schema; an error when a newer engine wrote it.
pub fn read<T: DeserializeOwned>(path: &Path, known: u32) -> Result<Option<T>> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        schema_version: u32,
    }
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
    let Ok(head) = serde_json::from_str::<Head>(&text) else { return Ok(None) };
    if !schema::readable(&path.display().to_string(), head.schema_version, known)? {
        return Ok(None);
    }
    Ok(serde_json::from_str(&text).ok())
}
