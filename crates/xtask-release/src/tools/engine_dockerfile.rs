//! The engine's own Dockerfile on disk (`rules::dockerfile::ENGINE_DOCKERFILE`): written under
//! `target/xtask/engine/` for buildx, trivy and preflight to read where an image names no
//! `dockerfile`, and into the workspace when a team ejects it to edit it. A file already holding the
//! same text is left alone, so its time and the build's inputs stay as they were.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::rules::dockerfile::{
    EJECTED_DOCKERFILE_PATH, ENGINE_DOCKERFILE, ENGINE_DOCKERFILE_PATH, ENGINE_DOCKERIGNORE, NAIVE_DOCKERFILE,
    NAIVE_DOCKERFILE_PATH,
};

/// Writes the engine's Dockerfile and its `.dockerignore` to `target/xtask/engine/` under `root`.
pub fn write(root: &Path) -> Result<()> {
    write_pair(&root.join(ENGINE_DOCKERFILE_PATH))
}

/// Writes the bench's naive Dockerfile to `target/xtask/engine/` under `root`; its path there.
pub fn write_naive(root: &Path) -> Result<&'static str> {
    let path = root.join(NAIVE_DOCKERFILE_PATH);
    let dir = path.parent().context("a Dockerfile path has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&path, NAIVE_DOCKERFILE).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(NAIVE_DOCKERFILE_PATH)
}

/// Writes the engine's Dockerfile and its `.dockerignore` to `docker/` under `root` for a team to
/// edit; an existing, different Dockerfile there is kept unless `force`. Returns the Dockerfile's
/// path relative to `root`.
pub fn eject(root: &Path, force: bool) -> Result<&'static str> {
    let path = root.join(EJECTED_DOCKERFILE_PATH);
    if !force && path.exists() && std::fs::read_to_string(&path).ok().as_deref() != Some(ENGINE_DOCKERFILE) {
        bail!(
            "{EJECTED_DOCKERFILE_PATH} exists and differs from the engine's: keep it, or replace it with \
             `cargo xtask init --eject-dockerfile --force` (your edits are lost; git has them)"
        );
    }
    write_pair(&path)?;
    Ok(EJECTED_DOCKERFILE_PATH)
}

fn write_pair(dockerfile: &Path) -> Result<()> {
    let ignore = dockerfile.with_file_name("Dockerfile.dockerignore");
    for (path, text) in [(dockerfile, ENGINE_DOCKERFILE), (ignore.as_path(), ENGINE_DOCKERIGNORE)] {
        if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
            continue;
        }
        let dir = path.parent().context("a Dockerfile path has a directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
