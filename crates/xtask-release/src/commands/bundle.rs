//! `cargo xtask release bundle X.Y.Z`: one OCI image layout in a tar holding a released version for
//! an air-gapped network: each image's index from its first repository, by the version's tags,
//! every platform, and every signature and attestation (`steps::bundle`). The images and
//! repositories are the version's plan (as `release retract` finds them); the release record under
//! `target/xtask`, when it is of that version, must name the same digests.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::commands::retract as retract_command;
use crate::console;
use crate::rules::credentials;
use crate::rules::reference::Repository;
use crate::rules::retract;
use crate::rules::transport::Transports;
use crate::steps::bundle::{self, Source};
use crate::steps::record::{self, ReleaseRecord};
use crate::steps::stored;
use crate::tools::registry::Session;
use crate::tools::{secrets, transport};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The released version to bundle.
    #[arg(value_name = "X.Y.Z")]
    pub version: String,
    /// Where to write the bundle (a tar). Default: target/xtask/bundle-X.Y.Z.tar (in the output
    /// directory of the images chosen).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the release from HOST[:PORT]/NAMESPACE instead of each repository's registry and
    /// namespace, keeping the image name, as it was released (e.g. localhost:5000/acme). Default:
    /// $XTASK_REGISTRY.
    #[arg(long, value_name = "HOST[:PORT]/NAMESPACE")]
    pub registry: Option<String>,
    /// The crate whose release to bundle (independent versioning; default: the one crate the images
    /// release).
    #[arg(short = 'p', long = "package", value_name = "PACKAGE")]
    pub package: Option<String>,
    /// Only this image (repeatable; default: every image of the release).
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let retract_command::Released { inputs, package, version } = retract_command::released(
        sh,
        &args.version,
        args.registry.clone(),
        args.images.clone(),
        args.package.as_deref(),
    )?;
    let plan = retract::release_plan_of(&inputs, &package, &version)?;
    let out = sh.current_dir().join(&plan.out_dir);
    let recorded: Option<ReleaseRecord> = stored::read(&out.join(record::FILE), record::SCHEMA_VERSION)?;
    let recorded = recorded.filter(|r| r.version == version.to_string());
    let mut sources = Vec::new();
    for image in plan.images.iter().filter(|i| !i.versioned_tags.is_empty()) {
        let repository = image.repositories.first().context("an image without a repository")?;
        let tags: Vec<String> = image
            .versioned_tags
            .iter()
            .filter_map(|t| t.strip_prefix(&format!("{repository}:")).map(str::to_owned))
            .collect();
        let index = recorded.as_ref().and_then(|r| r.images.iter().find(|i| i.name == image.name));
        sources.push(Source {
            image: image.name.clone(),
            repository: repository.clone(),
            tags,
            recorded: index.map(|i| i.index_digest.clone()),
        });
    }
    if sources.is_empty() {
        anyhow::bail!("the release of {version} has no image with versioned tags: there is nothing to bundle");
    }
    let registries: Vec<String> = sources
        .iter()
        .map(|s| Ok(Repository::parse(&s.repository)?.registry.to_owned()))
        .collect::<Result<Vec<_>>>()?;
    let transports = reach(&registries, &plan.insecure_registries)?;
    let overridden = plan.registry_override.is_some();
    let mut with_credentials = Vec::new();
    for registry in &registries {
        let set = credentials::for_registry(registry, overridden, secrets::lookup(sh))?.is_some();
        if set && !with_credentials.contains(registry) {
            with_credentials.push(registry.clone());
        }
    }
    let _session = Session::open(sh, &with_credentials, overridden)
        .with_context(|| format!("cannot log in to {} to read the release", with_credentials.join(", ")))?;
    // A relative --output is where the command was run from, as a shell user reads it.
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let output = here.join(args.output.unwrap_or_else(|| out.join(format!("bundle-{version}.tar"))));
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let bundled = console::run("bundle", || bundle::write(sh, &transports, &sources, &output))?;
    println!(
        "{} ({} bytes, {} blobs), an OCI image layout in a tar, holds:",
        bundled.path.display(),
        bundled.bytes,
        bundled.blobs
    );
    for line in &bundled.images {
        println!("  {line}");
    }
    eprintln!(
        "import it with `cargo xtask release import {} --registry HOST[:PORT]/NAMESPACE` (docs: consumers-bundle)",
        bundled.path.display()
    );
    Ok(())
}

/// How each of `registries` is reached (the configured `insecure-registries` honoured).
pub fn reach(registries: &[String], insecure: &[String]) -> Result<Transports> {
    let mut transports = Transports::default();
    for registry in registries {
        let access =
            transport::access(registry, insecure).with_context(|| format!("cannot reach the registry {registry}"))?;
        transports.insert(registry, access.transport);
    }
    Ok(transports)
}
