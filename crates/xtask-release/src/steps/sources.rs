//! The named build contexts every image's build gets besides the Dockerfile: the crates vendored on
//! the host, and per image the dependency recipe and the source of the members its package needs
//! (decided by `rules::recipe`), written under the run's `out_dir`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::rules::plan::ImagePlan;
use crate::rules::recipe;
use crate::rules::vendoring;
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

/// What each image's build contexts will hold, read once for all images (one `cargo metadata`, one
/// `git ls-files`), before anything is written: the no-change check hashes it, `materialize` writes it.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// Cargo.lock's text: the vendored crates are the ones it pins.
    pub lock: String,
    pub images: BTreeMap<String, ImageSources>,
}

/// One image's dependency recipe and source context, in memory.
#[derive(Debug, Clone)]
pub struct ImageSources {
    /// The recipe: path → contents.
    pub recipe: BTreeMap<String, String>,
    /// The source: files of the worktree (relative to the root) linked in as they are…
    pub linked: Vec<String>,
    /// …and files written over them: path → contents.
    pub written: BTreeMap<String, String>,
}

/// Reads what every image's recipe and source are made of.
pub fn gather(sh: &Shell, images: &[ImagePlan]) -> Result<Gathered> {
    let workspace = cargo::load(sh)?.recipe_inputs()?;
    let mut parts = Vec::new();
    for image in images {
        let recipe = recipe::recipe(&workspace, &image.package)
            .with_context(|| format!("making the dependency recipe of image {}", image.name))?;
        let (dirs, written) = recipe::source(&workspace, &image.package)?;
        parts.push((image.name.clone(), recipe, dirs, written));
    }
    let mut all_dirs: Vec<String> = parts.iter().flat_map(|(_, _, dirs, _)| dirs.clone()).collect();
    all_dirs.sort();
    all_dirs.dedup();
    let tracked = if all_dirs.is_empty() { Vec::new() } else { git::worktree_files(sh, &all_dirs)? };
    let under = |file: &str, dir: &str| {
        dir.is_empty() || dir == "." || file == dir || file.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
    };
    let images = parts
        .into_iter()
        .map(|(name, recipe, dirs, written)| {
            let linked = tracked.iter().filter(|f| dirs.iter().any(|d| under(f, d))).cloned().collect();
            (name, ImageSources { recipe, linked, written })
        })
        .collect();
    Ok(Gathered { lock: workspace.lock, images })
}

/// Vendors the crates and writes the recipe and source of the images named in `names` under `out`.
pub fn materialize(sh: &Shell, (root, out): (&Path, &Path), gathered: &Gathered, names: &[&str]) -> Result<Sources> {
    let vendor = vendor(sh, out)?;
    let mut contexts = BTreeMap::new();
    for name in names {
        let image = gathered.images.get(*name).with_context(|| format!("no sources were gathered for {name}"))?;
        let recipe_dir = out.join("recipe").join(name);
        write_tree(&recipe_dir, (root, &[]), image.recipe.clone())?;
        let source_dir = out.join("source").join(name);
        write_tree(&source_dir, (root, &image.linked), image.written.clone())?;
        contexts.insert((*name).to_owned(), (recipe_dir, source_dir));
    }
    Ok(Sources { vendor, images: contexts })
}

/// Vendors every locked crate, whatever its source (crates.io, git, `[patch]`, other registries), into
/// `out/vendor`, with cargo on the host (private registries' tokens handed to it: `tools::secrets`),
/// and keeps the source replacement it prints, for the build's directory, beside the crates
/// (`rules::vendoring`).
fn vendor(sh: &Shell, out: &Path) -> Result<PathBuf> {
    let vendor = out.join("vendor");
    let printed = match cargo::vendor(sh, &vendor)? {
        Ok(printed) => printed,
        Err(said) => bail!(
            "`cargo vendor` failed: check that Cargo.lock is committed and up to date (`cargo update --workspace`), \
             and that every git and registry source of it is reachable from this machine with its credentials:\n{said}"
        ),
    };
    let config = vendoring::build_source_config(&printed).map_err(anyhow::Error::msg)?;
    // A workspace without dependencies vendors nothing, and cargo then makes no directory.
    let path = vendor.join(vendoring::SOURCE_CONFIG);
    std::fs::create_dir_all(path.parent().unwrap_or(&vendor))
        .and_then(|()| std::fs::write(&path, config))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(vendor)
}

/// Vendors the crates and writes each image's dependency recipe and source under `out`.
pub fn prepare_sources(sh: &Shell, (root, out): (&Path, &Path), images: &[ImagePlan]) -> Result<Sources> {
    let gathered = gather(sh, images)?;
    let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
    materialize(sh, (root, out), &gathered, &names)
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
