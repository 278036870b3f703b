//! What an engine does with a file an engine wrote earlier (a build or release record, the verdicts
//! cache, a variant record), pure: each file carries its `schema_version`. This engine reads its own
//! schema; an older one is the caller's to migrate or drop (a cache is rebuilt); a newer one was
//! written by a newer engine and is refused, naming the file and the fix, never misread.

use anyhow::{bail, Result};

/// `Ok(true)`: `found` is this engine's schema (`known`); `Ok(false)`: an older one; `Err`: a newer
/// one, from a newer engine.
pub fn readable(path: &str, found: u32, known: u32) -> Result<bool> {
    if found > known {
        bail!(
            "{path} has schema_version {found}, written by a newer xtask-release than this one ({}, which reads up to \
             {known}): upgrade the engine (`cargo update -p xtask-release`), or remove the file to start over",
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(found == known)
}

/// The engine that wrote a record: `xtask-release X.Y.Z`.
pub fn engine() -> String {
    format!("xtask-release {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_schema_is_read_an_older_one_is_the_callers_and_a_newer_one_is_refused() {
        assert!(readable("r.json", 2, 2).unwrap());
        assert!(!readable("r.json", 1, 2).unwrap());
        let newer = readable("target/xtask/r.json", 3, 2).unwrap_err().to_string();
        assert!(
            newer.starts_with("target/xtask/r.json has schema_version 3, written by a newer xtask-release"),
            "{newer}"
        );
        assert!(newer.contains("cargo update -p xtask-release"), "{newer}");
        assert_eq!(engine(), format!("xtask-release {}", env!("CARGO_PKG_VERSION")));
    }
}
