//! The verdict store of a run: `<out_dir>/verdicts.json` (see `rules::verdicts`), one per run. The
//! run creates it where it starts (`commands::pipeline::publish`; a standalone command such as
//! `cargo xtask build` or `scan` at its own start) and hands it to each step that checks: the
//! Dockerfile build checks (preflight), smoke, scan and sign. The file is read at the first look,
//! once per run (a run that checks nothing never reads it); each step saves what it recorded before
//! it returns or fails, so a run that stops mid-way keeps what it learned. An unreadable or older
//! file counts as empty: the checks run; a newer engine's is refused (`steps::stored`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::rules::verdicts::{Check, Verdict, Verdicts, SCHEMA_VERSION};
use crate::steps::stored;
use crate::tools::files;

pub const FILE: &str = "verdicts.json";
/// How many verdicts the file keeps (the newest).
const KEEP: usize = 512;

/// The verdicts of the run writing to one `out_dir`, read from its file at the first look.
pub struct Store {
    out: PathBuf,
    verdicts: Option<Verdicts>,
}

impl Store {
    /// The store of the run whose `out_dir` is `out`; nothing is read yet.
    pub fn at(out: &Path) -> Self {
        Store { out: out.to_owned(), verdicts: None }
    }

    /// The recorded verdicts (`pass`, `latest`).
    pub fn read(&mut self) -> Result<&Verdicts> {
        Ok(self.loaded()?)
    }

    /// Records the outcome of `check` on `subject` under `key`, as of now; `outcome` is what a reuse
    /// needs of it (`Null` if nothing).
    pub fn record(
        &mut self,
        check: Check,
        subject: &str,
        key: &str,
        passed: bool,
        outcome: serde_json::Value,
    ) -> Result<()> {
        let (subject, key, at) = (subject.to_owned(), key.to_owned(), now());
        self.loaded()?.record(Verdict { check, subject, key, passed, at, outcome });
        Ok(())
    }

    /// Writes the newest verdicts to the file (atomically), creating `out_dir` if need be.
    pub fn save(&mut self) -> Result<()> {
        let out = self.out.clone();
        let verdicts = self.loaded()?;
        verdicts.trim(KEEP);
        verdicts.schema_version = SCHEMA_VERSION;
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
        files::write_json(&out.join(FILE), verdicts)
    }

    /// The verdicts, read from the file if this is the first look.
    fn loaded(&mut self) -> Result<&mut Verdicts> {
        let verdicts = match self.verdicts.take() {
            Some(verdicts) => verdicts,
            None => stored::read(&self.out.join(FILE), SCHEMA_VERSION)?
                .unwrap_or(Verdicts { schema_version: SCHEMA_VERSION, verdicts: Vec::new() }),
        };
        Ok(self.verdicts.insert(verdicts))
    }
}

/// Now, RFC 3339 UTC to the second.
fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-verdicts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn what_a_store_saves_a_later_run_s_store_reads() {
        let out = scratch("saved").join("out");
        let mut store = Store::at(&out);
        store.record(Check::Smoke, "beacon linux/amd64", "k1", true, serde_json::Value::Null).unwrap();
        store.record(Check::Scan, "beacon", "k2", false, serde_json::json!({"n": 1})).unwrap();
        store.save().unwrap();
        let mut later = Store::at(&out);
        let read = later.read().unwrap();
        assert_eq!(read.schema_version, SCHEMA_VERSION);
        assert_eq!(read.pass(Check::Smoke, "k1").map(|v| v.subject.as_str()), Some("beacon linux/amd64"));
        assert!(read.pass(Check::Scan, "k2").is_none(), "a failure is kept, never passed");
        assert_eq!(read.latest(Check::Scan, "beacon").map(|v| &v.outcome), Some(&serde_json::json!({"n": 1})));
        let _ = std::fs::remove_dir_all(out.parent().unwrap());
    }

    #[test]
    fn a_store_reads_its_file_at_the_first_look_only() {
        let out = scratch("newer");
        std::fs::create_dir_all(&out).unwrap();
        let newer = format!("{{\"schema_version\": {}, \"verdicts\": []}}", SCHEMA_VERSION + 1);
        std::fs::write(out.join(FILE), newer).unwrap();
        // Nothing is read until a check looks: a run that checks nothing is not refused.
        let mut store = Store::at(&out);
        assert!(store.read().is_err(), "a newer engine's file is refused at the first look");
        // Once read, the run keeps its own copy, whatever the file holds since.
        std::fs::remove_file(out.join(FILE)).unwrap();
        store.record(Check::Signing, "r@sha256:1 signature", "k", true, serde_json::Value::Null).unwrap();
        std::fs::write(out.join(FILE), "not JSON").unwrap();
        assert!(store.read().unwrap().pass(Check::Signing, "k").is_some());
        let _ = std::fs::remove_dir_all(&out);
    }
}
