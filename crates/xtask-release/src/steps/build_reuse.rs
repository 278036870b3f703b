//! The build step's no-change path: each image's input identity (`rules::build_inputs`) computed
//! from the content it is built from, and compared with the one its last recorded build had. An
//! image whose inputs are all unchanged, whose recorded archive still holds the recorded index and
//! whose engine image still has the recorded digest under every name, is reused as recorded instead
//! of built again; anything else is built, and the reason is said.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use xshell::Shell;

use crate::rules::build_inputs::{self, Identity, Inputs};
use crate::rules::digest::sha256;
use crate::rules::plan::{ImagePlan, Plan};
use crate::steps::build_record::{BuildRecord, BuiltImage, FILE};
use crate::steps::buildx_run::{build_args, image_names, Settings};
use crate::steps::sources::Gathered;
use crate::steps::{parallel, stored};
use crate::tools::{docker, git, oci};

/// The stages the build replaces with named contexts (`steps::sources`).
const NAMED_CONTEXTS: &[&str] = &["recipe", "source", "vendor"];

/// What to do with one image.
#[derive(Debug)]
pub enum Decision {
    /// Its last build, as recorded: nothing it is built from changed.
    Reuse(Box<BuiltImage>),
    /// Build it, because of this.
    Build(String),
}

/// Every image's input identity, read from the workspace, the engine and the builder. Files shared
/// by several images are read and hashed once.
pub fn identities(
    sh: &Shell,
    plan: &Plan,
    settings: &Settings,
    gathered: &Gathered,
) -> Result<BTreeMap<String, Identity>> {
    let root = sh.current_dir();
    let builder = docker::builder_identity(sh, settings.builder.as_deref())?;
    let crates = build_inputs::locked_crates(&gathered.lock);
    let mut digests = FileDigests::default();
    let mut base_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for image in &plan.images {
        let Some(sources) = gathered.images.get(&image.name) else { continue };
        let dockerfile = read_text(&root.join(&image.dockerfile));
        let ignore = dockerignore(&root, image);
        let mut source = BTreeMap::new();
        for file in &sources.linked {
            source.insert(file.clone(), digests.of(&root, file));
        }
        for (file, text) in &sources.written {
            source.insert(file.clone(), sha256(text.as_bytes()));
        }
        let mut context = BTreeMap::new();
        if build_inputs::reads_main_context(&dockerfile, NAMED_CONTEXTS) {
            for file in git::worktree_files(sh, std::slice::from_ref(&image.context))? {
                context.insert(file.clone(), digests.of(&root, &file));
            }
        }
        let args = build_args(plan, image, &settings.build_args);
        let builder_image = args.iter().rev().find(|(k, _)| k == "BUILDER_IMAGE").map(|(_, v)| v.clone());
        let mut toolchain = vec![
            ("kind".to_owned(), image.builder.toolchain.as_str().to_owned()),
            ("rust".to_owned(), image.builder.rust.clone()),
        ];
        for base in builder_image.into_iter().chain(build_inputs::literal_bases(&dockerfile)) {
            let id = base_ids
                .entry(base.clone())
                .or_insert_with(|| docker::image_id(sh, &base).unwrap_or_else(|| "not in the engine".to_owned()));
            toolchain.push((base, id.clone()));
        }
        let inputs = Inputs {
            recipe: sources.recipe.clone(),
            source,
            crates: crates.clone(),
            dockerfile: (dockerfile, ignore),
            context,
            build_args: args,
            settings: settings_of(plan, image),
            builder: builder.clone(),
            toolchain,
            platforms: image.platforms.clone(),
        };
        out.insert(image.name.clone(), build_inputs::identity(&inputs));
    }
    Ok(out)
}

/// Reuse or build, for each image of `identities`, against the build record in `out`.
pub fn decide(
    sh: &Shell,
    (plan, out): (&Plan, &Path),
    identities: &BTreeMap<String, Identity>,
    rebuild: bool,
) -> Result<BTreeMap<String, Decision>> {
    let last: Option<BuildRecord> = stored::read(&out.join(FILE), crate::steps::build_record::SCHEMA_VERSION)?;
    let jobs: Vec<(&ImagePlan, &Identity)> =
        plan.images.iter().filter_map(|image| Some((image, identities.get(&image.name)?))).collect();
    let decided = parallel::all(sh, &jobs, |sh, (image, identity)| {
        let recorded = last.as_ref().and_then(|r| r.images.iter().find(|i| i.name == image.name));
        (image.name.clone(), decide_one(sh, (image, recorded), identity, rebuild))
    });
    Ok(decided.into_iter().collect())
}

fn decide_one(
    sh: &Shell,
    (image, recorded): (&ImagePlan, Option<&BuiltImage>),
    identity: &Identity,
    rebuild: bool,
) -> Decision {
    let Some(recorded) = recorded else { return Decision::Build("no earlier build recorded".into()) };
    if rebuild {
        return Decision::Build("--rebuild".into());
    }
    let changed = build_inputs::changed(&recorded.inputs, identity);
    if !changed.is_empty() {
        return Decision::Build(format!("changed: {}", changed.join(", ")));
    }
    match oci::index_digest(sh, &recorded.archive) {
        Ok(digest) if digest == recorded.index_digest => {}
        Ok(digest) => return Decision::Build(format!("its archive holds {digest}, not the recorded build")),
        Err(_) => return Decision::Build(format!("its archive {} is gone", recorded.archive.display())),
    }
    if let Some(missing) = recorded.platforms.iter().find(|p| !p.provenance.is_file()) {
        return Decision::Build(format!("its provenance {} is gone", missing.provenance.display()));
    }
    for name in image_names(image) {
        match docker::image_id(sh, &name) {
            Some(id) if id == recorded.index_digest => {}
            Some(id) => return Decision::Build(format!("the engine's {name} is {id}, not the recorded build")),
            None => return Decision::Build(format!("the engine no longer holds {name}")),
        }
    }
    Decision::Reuse(Box::new(recorded.clone()))
}

/// What reaches the image besides build args: target stage, labels, annotations, names, the
/// timestamps' SOURCE_DATE_EPOCH.
fn settings_of(plan: &Plan, image: &ImagePlan) -> Vec<(String, String)> {
    let mut settings = vec![
        ("target".to_owned(), image.target.clone().unwrap_or_default()),
        ("dockerfile path".to_owned(), image.dockerfile.clone()),
        ("context path".to_owned(), image.context.clone()),
        ("source-date-epoch".to_owned(), plan.source_date_epoch.to_string()),
        // Its HEALTHCHECK may be a stage appended to the Dockerfile (`rules::service`).
        ("service".to_owned(), serde_json::to_string(&image.service).unwrap_or_default()),
    ];
    settings.extend(image.labels.iter().map(|(k, v)| (format!("label {k}"), v.clone())));
    settings.extend(image.annotations.iter().map(|(k, v)| (format!("annotation {k}"), v.clone())));
    settings.extend(image_names(image).into_iter().map(|n| ("name".to_owned(), n)));
    settings
}

/// The Dockerfile's own ignore file (`docker/Dockerfile.dockerignore`), else the context's.
fn dockerignore(root: &Path, image: &ImagePlan) -> Option<String> {
    let own = root.join(format!("{}.dockerignore", image.dockerfile));
    let context = root.join(&image.context).join(".dockerignore");
    std::fs::read_to_string(own).or_else(|_| std::fs::read_to_string(context)).ok()
}

fn read_text(path: &Path) -> String {
    std::fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

/// Content digests of the worktree's files, each file read once per run.
#[derive(Default)]
struct FileDigests(BTreeMap<String, String>);

impl FileDigests {
    fn of(&mut self, root: &Path, file: &str) -> String {
        self.0
            .entry(file.to_owned())
            .or_insert_with(|| match std::fs::read(root.join(file)) {
                Ok(bytes) => sha256(&bytes),
                Err(error) => format!("unreadable: {error}"),
            })
            .clone()
    }
}
