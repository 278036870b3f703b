//! The named build contexts every image's build gets besides the Dockerfile: the crates vendored on
//! the host, and per image the dependency recipe and the source of the members its package needs
//! (decided by `rules::recipe`), written under the run's `out_dir`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::rules::plan::ImagePlan;
use crate::rules::recipe;
use crate::tools::{cargo, git};

/// What every image's build is given as named contexts: the crates, vendored on the host (which
/// has the registry credentials and CA) so the compile runs with `--network=none`; and per image,
/// the dependency recipe and the source of the members its package needs (`rules::recipe`), so the
/// dependency layer survives code changes and a change elsewhere in the workspace rebuilds nothing.
#[derive(Debug, Clone)]
pub struct Sources {
    pub vendor: PathBuf,
    /// `target/xtask/recipe/<image>` and `target/xtask/source/<image>`, by image name.
    pub images: BTreeMap<String, (PathBuf, PathBuf)>,
}

impl Sources {
    pub fn contexts(&self, image: &ImagePlan) -> Result<Vec<String>> {
        let (recipe, source) =
            self.images.get(&image.name).with_context(|| format!("no recipe was made for {}", image.name))?;
        Ok(vec![
            format!("vendor={}", self.vendor.display()),
            format!("recipe={}", recipe.display()),
            format!("source={}", source.display()),
        ])
    }
}

/// Vendors the crates and writes each image's dependency recipe under `target/xtask/recipe/`.
pub fn prepare_sources(sh: &Shell, (root, out): (&Path, &Path), images: &[ImagePlan]) -> Result<Sources> {
    let vendor = out.join("vendor");
    cmd!(sh, "cargo vendor --locked --versioned-dirs --quiet {vendor}").quiet().ignore_stdout().run().context(
        "`cargo vendor` failed: check that Cargo.lock is committed and up to date (`cargo update --workspace`)",
    )?;
    let workspace = cargo::load(sh)?.recipe_inputs()?;
    let mut contexts = BTreeMap::new();
    for image in images {
        let recipe_dir = out.join("recipe").join(&image.name);
        let files = recipe::recipe(&workspace, &image.package)
            .with_context(|| format!("making the dependency recipe of image {}", image.name))?;
        write_tree(&recipe_dir, (root, &[]), files)?;
        let source_dir = out.join("source").join(&image.name);
        let (dirs, files) = recipe::source(&workspace, &image.package)?;
        let tracked = git::worktree_files(sh, &dirs)?;
        write_tree(&source_dir, (root, &tracked), files)?;
        contexts.insert(image.name.clone(), (recipe_dir, source_dir));
    }
    Ok(Sources { vendor, images: contexts })
}

/// A fresh directory `dir` holding `linked` (files under `root`, hard-linked where possible) and then
/// `files` (written, replacing any linked file of the same path).
fn write_tree(dir: &Path, (root, linked): (&Path, &[String]), files: BTreeMap<String, String>) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let create_parent = |path: &Path| std::fs::create_dir_all(path.parent().unwrap_or(dir));
    for file in linked {
        let (from, to) = (root.join(file), dir.join(file));
        create_parent(&to)
            .and_then(|()| std::fs::hard_link(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(drop)))
            .with_context(|| format!("cannot copy {} into {}", from.display(), dir.display()))?;
    }
    for (path, contents) in files {
        let path = dir.join(path);
        let _ = std::fs::remove_file(&path);
        create_parent(&path)
            .and_then(|()| std::fs::write(&path, contents))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
