//! `cargo xtask release summary RECORD…`: the release records of a release run as one job per
//! image (each image on its own CI runner, `cargo xtask release --execute --image NAME`), merged
//! into one release summary: printed, written to `target/xtask/release-summary.json`, and under
//! GitHub Actions put in the step summary and outputs. An image of the plan without a record did
//! not publish: the command fails naming it, and the images that did publish stay as they are.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::commands::plan;
use crate::console;
use crate::steps::record::{self, ReleaseRecord};
use crate::steps::stored;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Release records (release-record.json), or directories searched for them, e.g. the artifacts
    /// the per-image release jobs uploaded.
    #[arg(required = true, value_name = "PATH")]
    pub records: Vec<PathBuf>,
    /// Print the merged record (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where the merged record goes.
const SUMMARY: &str = "target/xtask/release-summary.json";

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let plan = plan::load(sh, &plan::Options::default())?;
    let planned: Vec<String> =
        plan.images.iter().filter(|i| !i.versioned_tags.is_empty()).map(|i| i.name.clone()).collect();
    let mut files = Vec::new();
    for path in &args.records {
        find_records(path, &mut files)?;
    }
    let mut records = Vec::new();
    for file in files {
        let parsed: ReleaseRecord = stored::read(&file, record::SCHEMA_VERSION)?.with_context(|| {
            format!(
                "{} is no release record this engine reads (missing, or an older schema): release again",
                file.display()
            )
        })?;
        records.push((file, parsed));
    }
    let (merged, missing) = record::merge(records, &planned)?;
    let path = sh.current_dir().join(SUMMARY);
    std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
    record::write_json(&path, &merged)?;
    let markdown = record::summary_markdown(&merged);
    eprint!("{markdown}");
    console::progress!("release summary: {}", path.display());
    if console::github_actions() {
        let missing_note = if missing.is_empty() {
            String::new()
        } else {
            format!("\n**Not published** (their release jobs failed): {}\n", missing.join(", "))
        };
        record::github_outputs(&merged, &path)?;
        record::to_github(&missing_note, "")?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&merged)?);
    }
    if !missing.is_empty() {
        bail!(
            "image(s) {} of release {} have no release record: their release jobs failed (see them); the images above \
             are published and stay as they are. Re-run the failed jobs: a release resumes where it stopped",
            missing.join(", "),
            merged.version
        );
    }
    Ok(())
}

/// `path` itself, or every `release-record.json` below it.
fn find_records(path: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_file() {
        found.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path)
        .with_context(|| format!("{} is neither a release record nor a directory of them", path.display()))?;
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            find_records(&entry, found)?;
        } else if entry.file_name().is_some_and(|n| n == record::FILE) {
            found.push(entry);
        }
    }
    Ok(())
}
