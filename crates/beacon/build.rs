//! Bakes the git revision into the binary as `BEACON_BUILD_REVISION`.
//!
//! Source order: the `BEACON_GIT_REVISION` env var (the Dockerfile passes it, as the build context
//! has no `.git`), else `git rev-parse --short=7 HEAD`, else `unknown`. Only the inputs actually
//! used are declared with `rerun-if-*`, so an unchanged revision never reruns this script.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BEACON_GIT_REVISION");
    let revision = match env::var("BEACON_GIT_REVISION") {
        Ok(rev) if !rev.trim().is_empty() => rev.trim().to_owned(),
        _ => git_revision().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=BEACON_BUILD_REVISION={revision}");
}

/// Asks git for the short commit hash, and tells cargo which git files to watch for a new one.
fn git_revision() -> Option<String> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    if let Some(git_dir) = find_git_dir(&manifest_dir) {
        watch_head(&git_dir);
    }
    let out = Command::new("git").args(["rev-parse", "--short=7", "HEAD"]).current_dir(&manifest_dir).output().ok()?;
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    let valid = out.status.success() && !rev.is_empty() && rev.chars().all(|c| c.is_ascii_hexdigit());
    valid.then_some(rev)
}

/// The nearest `.git` directory above `start` (following a worktree's `gitdir:` file).
fn find_git_dir(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git);
        }
        let pointer = fs::read_to_string(&dot_git).ok()?;
        let target = pointer.strip_prefix("gitdir:")?.trim();
        Some(dir.join(target))
    })
}

/// Reruns on checkout (HEAD) and on commit (the branch HEAD points to, loose or packed). Only
/// existing files are declared: cargo treats a missing one as always changed.
fn watch_head(git_dir: &Path) {
    let head = git_dir.join("HEAD");
    if !head.is_file() {
        return;
    }
    println!("cargo:rerun-if-changed={}", head.display());
    let Some(reference) =
        fs::read_to_string(&head).ok().and_then(|h| h.strip_prefix("ref:").map(|r| r.trim().to_owned()))
    else {
        return; // detached HEAD: the file itself holds the commit
    };
    // A linked worktree keeps its refs in the main repository (named by `commondir`).
    let common_dir = fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.to_path_buf());
    let candidates = [git_dir.join(&reference), common_dir.join(&reference), common_dir.join("packed-refs")];
    if let Some(file) = candidates.iter().find(|p| p.is_file()) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}
