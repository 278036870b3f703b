//! Git, thin: reads the state a plan depends on, and makes the release commit and tag.
//!
//! Only tracked files count as dirty: untracked files are neither committed by `version --commit`
//! nor part of the release's revision.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::plan::GitState;

/// Reads the state of the repository around the shell's directory.
pub fn state(sh: &Shell) -> Result<GitState> {
    let sha = cmd!(sh, "git rev-parse --verify HEAD")
        .quiet()
        .read()
        .context("could not read HEAD: run inside a git clone that has at least one commit")?;
    // Every tag: which are release tags is the tag pattern's call (`v1.2.3`, `tool-v1.2.3`, `1.2.3`).
    let tags_at_head =
        cmd!(sh, "git tag --points-at HEAD").quiet().read().context("could not list the tags on HEAD")?;
    let release_tags = cmd!(sh, "git tag --list").quiet().read().context("could not list the release tags")?;
    let retracted_tags =
        cmd!(sh, "git tag --list retracted/*").quiet().read().context("could not list the retraction tags")?;
    let commit_time = cmd!(sh, "git show --no-patch --format=%ct HEAD")
        .quiet()
        .read()
        .context("could not read HEAD's commit time")?;
    let shallow = cmd!(sh, "git rev-parse --is-shallow-repository")
        .quiet()
        .read()
        .context("could not tell whether the clone is shallow")?;
    Ok(GitState {
        sha,
        branch: current_branch(sh)?,
        tags_at_head: tags_at_head.lines().map(str::to_owned).collect(),
        release_tags: release_tags.lines().map(str::to_owned).collect(),
        retracted_tags: retracted_tags.lines().map(str::to_owned).collect(),
        commit_time: commit_time
            .trim()
            .parse()
            .with_context(|| format!("git printed an invalid commit time {commit_time:?}"))?,
        dirty: is_dirty(sh)?,
        shallow: shallow.trim() == "true",
    })
}

/// The checked-out branch, `None` when HEAD is detached.
pub fn current_branch(sh: &Shell) -> Result<Option<String>> {
    let branch = cmd!(sh, "git symbolic-ref --quiet --short HEAD")
        .quiet()
        .ignore_status()
        .read()
        .context("could not read the current branch")?;
    Ok(Some(branch).filter(|branch| !branch.is_empty()))
}

/// The repository's default branch: the remote `origin`'s (its `HEAD`), else the checked-out
/// branch, else `main`.
pub fn default_branch(sh: &Shell) -> Result<String> {
    let remote =
        cmd!(sh, "git symbolic-ref --quiet --short refs/remotes/origin/HEAD").quiet().ignore_status().read()?;
    if let Some(branch) = remote.strip_prefix("origin/").filter(|b| !b.is_empty()) {
        return Ok(branch.to_owned());
    }
    Ok(current_branch(sh)?.unwrap_or_else(|| "main".to_owned()))
}

/// The URL of the remote `origin`, if there is one.
pub fn origin_url(sh: &Shell) -> Result<Option<String>> {
    let url = cmd!(sh, "git remote get-url origin").quiet().ignore_status().ignore_stderr().read()?;
    Ok(Some(url).filter(|url| !url.is_empty()))
}

/// Whether tracked files have uncommitted changes.
pub fn is_dirty(sh: &Shell) -> Result<bool> {
    let status = cmd!(sh, "git status --porcelain --untracked-files=no")
        .quiet()
        .read()
        .context("could not read `git status`: run inside a git clone")?;
    Ok(!status.is_empty())
}

/// The files of the working tree under `dirs` (relative to the repository's top) that git tracks or
/// would track: untracked files count, ignored ones (`target/`) do not, deleted ones are left out.
pub fn worktree_files(sh: &Shell, dirs: &[String]) -> Result<Vec<String>> {
    // The root package's directory is the top itself: git takes `.` for it, not an empty pathspec.
    let dirs: Vec<&str> = dirs.iter().map(|dir| if dir.is_empty() { "." } else { dir.as_str() }).collect();
    let listing = cmd!(sh, "git ls-files -z --cached --others --exclude-standard -- {dirs...}")
        .quiet()
        .read()
        .context("could not list the working tree's files (`git ls-files`)")?;
    let root = sh.current_dir();
    Ok(listing.split('\0').filter(|f| !f.is_empty() && root.join(f).is_file()).map(str::to_owned).collect())
}

/// Whether `tag` exists.
pub fn tag_exists(sh: &Shell, tag: &str) -> Result<bool> {
    let reference = format!("refs/tags/{tag}");
    let found = cmd!(sh, "git rev-parse --quiet --verify {reference}")
        .quiet()
        .ignore_status()
        .read()
        .context("could not look up tags")?;
    Ok(!found.is_empty())
}

/// Commits exactly `paths` (which may be untracked so far) with `message`.
pub fn commit_paths(sh: &Shell, paths: &[&str], message: &str) -> Result<()> {
    let mut to_commit = Vec::new();
    for path in paths {
        let ignored = cmd!(sh, "git check-ignore --quiet {path}")
            .quiet()
            .ignore_status()
            .output()
            .context("could not run `git check-ignore`")?;
        if !ignored.status.success() {
            to_commit.push(*path);
        }
    }
    if to_commit.is_empty() {
        bail!("{paths:?} are all ignored by git: nothing to commit");
    }
    let files = to_commit.as_slice();
    cmd!(sh, "git add -- {files...}").quiet().run().context("`git add` failed")?;
    cmd!(sh, "git commit --quiet --message {message} -- {files...}")
        .run()
        .context("`git commit` failed: set your git identity (user.name, user.email) and retry the commit by hand")?;
    Ok(())
}

/// Creates the annotated tag `tag` on HEAD.
pub fn annotated_tag(sh: &Shell, tag: &str, message: &str) -> Result<()> {
    cmd!(sh, "git tag --annotate {tag} --message {message}")
        .run()
        .with_context(|| format!("`git tag {tag}` failed: create it by hand with `git tag -a {tag}`"))
}

/// Creates the lightweight tag `tag` on HEAD.
pub fn lightweight_tag(sh: &Shell, tag: &str) -> Result<()> {
    Ok(cmd!(sh, "git tag {tag}").quiet().run()?)
}

/// Deletes the tag `tag`.
pub fn delete_tag(sh: &Shell, tag: &str) -> Result<()> {
    cmd!(sh, "git tag --delete {tag}")
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("`git tag --delete {tag}` failed"))
}

/// A new repository (`git init`, branch `main`) in the shell's directory.
pub fn init(sh: &Shell) -> Result<()> {
    cmd!(sh, "git init --quiet --initial-branch=main").quiet().run().context("`git init` failed")
}

/// Stages every file of the working tree, untracked ones too (`git add --all`).
pub fn add_all(sh: &Shell) -> Result<()> {
    cmd!(sh, "git add --all").quiet().run().context("`git add --all` failed")
}

/// Commits what is staged with `message`.
pub fn commit(sh: &Shell, message: &str) -> Result<()> {
    cmd!(sh, "git commit --quiet --message {message}").quiet().run().context("`git commit` failed")
}

/// Commits every change to tracked files with `message`, a commit even when nothing changed.
pub fn commit_all_changes(sh: &Shell, message: &str) -> Result<()> {
    Ok(cmd!(sh, "git commit --quiet --all --allow-empty --message {message}").quiet().run()?)
}

/// Clones the repository at `from` into `to`.
pub fn clone(sh: &Shell, from: &Path, to: &Path) -> Result<()> {
    Ok(cmd!(sh, "git clone --quiet {from} {to}").quiet().run()?)
}

/// Brings the clone at `dir` up to its origin's branch, by fast-forward only.
pub fn pull_fast_forward(sh: &Shell, dir: &Path) -> Result<()> {
    Ok(cmd!(sh, "git -C {dir} pull --quiet --ff-only").quiet().run()?)
}

/// A tag as a retraction reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagInfo {
    /// The message of an annotated tag; `None` for a lightweight one.
    pub message: Option<String>,
    /// When the tag (or, for a lightweight tag, its commit) was made, seconds since the Unix epoch.
    pub time: i64,
    /// The commit it points at.
    pub commit: String,
}

/// Reads `tag`, `None` if it does not exist.
pub fn tag_info(sh: &Shell, tag: &str) -> Result<Option<TagInfo>> {
    if !tag_exists(sh, tag)? {
        return Ok(None);
    }
    let (reference, peeled) = (format!("refs/tags/{tag}"), format!("refs/tags/{tag}^{{commit}}"));
    let format = "%(objecttype) %(creatordate:unix)%0a%(contents)";
    let text = cmd!(sh, "git for-each-ref --format {format} {reference}")
        .quiet()
        .read()
        .with_context(|| format!("could not read tag {tag}"))?;
    let (head, contents) = text.split_once('\n').unwrap_or((&text, ""));
    let (kind, time) = head.split_once(' ').with_context(|| format!("git printed {head:?} for tag {tag}"))?;
    let commit = cmd!(sh, "git rev-parse --verify {peeled}")
        .quiet()
        .read()
        .with_context(|| format!("tag {tag} names no commit"))?;
    Ok(Some(TagInfo {
        message: (kind == "tag").then(|| contents.trim().to_owned()),
        time: time.parse().with_context(|| format!("git printed an invalid time {time:?} for tag {tag}"))?,
        commit,
    }))
}

/// Whether `commit` is an ancestor of (or is) `rev`; `None` when `rev` does not exist here.
pub fn is_ancestor(sh: &Shell, commit: &str, rev: &str) -> Result<Option<bool>> {
    let peeled = format!("{rev}^{{commit}}");
    let exists = cmd!(sh, "git rev-parse --verify --quiet {peeled}")
        .quiet()
        .ignore_stdout()
        .ignore_status()
        .output()
        .context("could not run git rev-parse")?;
    if !exists.status.success() {
        return Ok(None);
    }
    let output = cmd!(sh, "git merge-base --is-ancestor {commit} {rev}")
        .quiet()
        .ignore_status()
        .output()
        .context("could not run git merge-base")?;
    match output.status.code() {
        Some(0) => Ok(Some(true)),
        Some(1) => Ok(Some(false)),
        _ => bail!("git merge-base --is-ancestor {commit} {rev}: {}", String::from_utf8_lossy(&output.stderr).trim()),
    }
}
