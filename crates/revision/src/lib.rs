//! The git revision a binary is built from, for its build script: `revision::emit()` sets the
//! compile-time env var `BUILD_REVISION` (read with `env!("BUILD_REVISION")`).
//!
//! Source order: `$VCS_REF` (the Dockerfile's build arg, a full commit sha, as the build context
//! has no `.git`): its first 7 hex digits; else `git rev-parse --short=7 HEAD`; else `unknown`.
//! A `VCS_REF` that is not at least 7 hex digits (empty, or the Dockerfile's default `unknown`)
//! counts as unset. Only the inputs actually read are declared with `rerun-if-*`, so an unchanged
//! revision never reruns this script.
//!
//! One place for it: every shipped crate's build.rs calls [`emit`].

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHORT: usize = 7;

/// Prints the `cargo:` lines that set `BUILD_REVISION` for the crate whose build script calls it.
pub fn emit() {
    println!("cargo:rerun-if-env-changed=VCS_REF");
    let revision = match env::var("VCS_REF") {
        Ok(vcs_ref) if is_sha(vcs_ref.trim()) => vcs_ref.trim()[..SHORT].to_ascii_lowercase(),
        Ok(vcs_ref) => {
            let vcs_ref = vcs_ref.trim();
            if !vcs_ref.is_empty() && vcs_ref != "unknown" {
                println!("cargo:warning=VCS_REF={vcs_ref:?} is not a commit sha; ignoring it");
            }
            git_revision().unwrap_or_else(|| "unknown".to_owned())
        }
        Err(_) => git_revision().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=BUILD_REVISION={revision}");
}

/// At least [`SHORT`] hex digits and nothing else.
fn is_sha(value: &str) -> bool {
    value.len() >= SHORT && value.chars().all(|c| c.is_ascii_hexdigit())
}

/// Asks git for the short commit hash, and tells cargo which git files to watch for a new one.
fn git_revision() -> Option<String> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    if let Some(git_dir) = find_git_dir(&manifest_dir) {
        watch_head(&git_dir);
    }
    let out = Command::new("git")
        .args(["rev-parse", &format!("--short={SHORT}"), "HEAD"])
        .current_dir(&manifest_dir)
        .output()
        .ok()?;
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && is_sha(&rev)).then_some(rev)
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
