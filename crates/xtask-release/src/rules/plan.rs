//! The release plan, pure: everything a release would build and push, decided before anything runs.
//!
//! `commands::plan` gathers the `Inputs` (cargo metadata, git, GitHub Actions variables, flags) and
//! hands them to `compute`; `build`, `scan` and `release` consume the same `Plan`, so what
//! `cargo xtask plan` prints is what they do.
//!
//! The JSON form (`--json`) is stable; `schema_version` changes with any incompatible change.
//! Schema (see also docs/src/plan-schema.md):
//!
//! ```text
//! schema_version     1
//! version            the version released: the workspace version (lockstep); in independent mode
//!                    the images' version when they share one, else the highest of them
//! versioning         { mode: "lockstep"|"independent", tag_pattern: "v{version}" | … }
//! context            { kind: "local"|"pull_request"|"branch"|"edge"|"tag", ref: "refs/…" | "HEAD" }
//! git                { sha, short_sha, tag_at_head: "v1.2.3" | null, dirty }
//! source_date_epoch  HEAD's commit time (seconds, i64): SOURCE_DATE_EPOCH for reproducible builds
//! created            the same instant as RFC 3339 UTC, "2024-02-29T12:00:00Z"
//! push               whether anything is pushed (false for pull requests and non-edge branches)
//! images[]           { name, package, version, release_tag, dockerfile, context, target | null, platforms, repositories,
//!                      tags (versioned then floating, full references), versioned_tags, floating_tags,
//!                      local_ref, labels, annotations, max_size: bytes | null, cache_from, cache_to,
//!                      builder: { image, rust, toolchain: "debian"|"rustup", required: "1.88" | null,
//!                                 because, problem: null | "why no builder can build it" },
//!                      smoke: { args, expect, version-check, reason }, tzdata,
//!                      system: { packages, linkage: "static"|"dynamic", detected[]: { crate, packages,
//!                                linkage, because }, configured, problem },
//!                      service: null | { port, port_configured, healthcheck, healthcheck_configured,
//!                                        no_healthcheck } }
//! scan               the effective scan policy: { scanners, severities, ignore-unfixed, ignorefile,
//!                    db-repositories, max-db-age }, this run's overrides applied
//! scan_overrides[]   { setting, by, configured }: each scan setting this run overrides
//! insecure_registries  registries allowed plain HTTP besides loopback (`insecure-registries`)
//! registry_override  `--registry`/`XTASK_REGISTRY` (`HOST[:PORT]/NAMESPACE`) or null: with one, the
//!                    generic REGISTRY_USERNAME/_PASSWORD pair is refused
//! signing            { enabled, tlog-upload }
//! steps              ordered subset of preflight, build, smoke, scan, push-versioned, verify, sign,
//!                    push-floating, record (steps with nothing to do are left out: `rules::pipeline`)
//! ```

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::rules::config::{Config, ScanPolicy, SigningConfig, SmokeConfig};
use crate::rules::context::{self, CiEnv, Kind, LocalHead};
use crate::rules::credentials;
use crate::rules::dependency_graph::Graph;
use crate::rules::labels::{self, PackageMeta};
use crate::rules::matrix::{self, VariantMatrix};
use crate::rules::overrides::{self, ScanChanges, ScanOverride};
use crate::rules::pipeline::{self, Publishing, Run, Step};
use crate::rules::service::Service;
use crate::rules::system_libraries::SystemLibraries;
use crate::rules::tags;
use crate::rules::toolchain::{self, BuilderChoice};
use crate::rules::versioning::{Mode, TagPattern, Versioning};

/// The plan JSON's schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The release plan. See the module docs for the JSON schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub schema_version: u32,
    pub version: Version,
    /// How the images' versions relate, and how their release tags are named.
    pub versioning: VersioningInfo,
    pub context: ContextInfo,
    pub git: GitInfo,
    pub source_date_epoch: i64,
    pub created: String,
    pub push: bool,
    pub images: Vec<ImagePlan>,
    /// The scan policy this run applies: the configured one with `scan_overrides` applied.
    pub scan: ScanPolicy,
    /// The settings of `scan` that this run overrides, and by what.
    pub scan_overrides: Vec<ScanOverride>,
    /// Registries that may be reached over plain HTTP although not loopback (`insecure-registries`).
    pub insecure_registries: Vec<String>,
    /// `--registry` or `XTASK_REGISTRY`, when given: every repository's registry is replaced, and the
    /// generic credential pair is refused (it is for the configured registries only).
    #[serde(default)]
    pub registry_override: Option<String>,
    pub signing: SigningConfig,
    /// Branches a local release may run from (`release-branches`); CI contexts are decided by `context`.
    pub release_branches: Vec<String>,
    /// Where the run keeps its state (build record, scan summary, release record, vendored crates,
    /// archives): `target/xtask`, or `target/xtask/image-A+B` when `--image` selects images, so that
    /// releases of different images can run side by side in one workspace.
    pub out_dir: String,
    /// A CI matrix of one job per image: `{"image": [names]}` (GitHub Actions'
    /// `strategy.matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}`), each job running
    /// `cargo xtask release --execute --image ${{ matrix.image }}`.
    pub matrix: BTreeMap<String, Vec<String>>,
    /// One job per image × platform (`rules::matrix`, `rules::fanout`), and how many variants each
    /// job builds.
    pub variant_matrix: VariantMatrix,
    pub variants_per_job: u32,
    /// The release's steps in order (`rules::pipeline`).
    pub steps: Vec<Step>,
}

impl Plan {
    /// What the release publishes, which decides which steps it runs (`rules::pipeline::steps`),
    /// and which a variant or a merge of it runs.
    pub fn publishing(&self) -> Publishing {
        Publishing {
            push: self.push,
            sign: self.signing.enabled,
            floating: self.images.iter().any(|image| !image.floating_tags.is_empty()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersioningInfo {
    pub mode: Mode,
    pub tag_pattern: TagPattern,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextInfo {
    pub kind: Kind,
    #[serde(rename = "ref")]
    pub git_ref: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    pub sha: String,
    pub short_sha: String,
    pub tag_at_head: Option<String>,
    pub dirty: bool,
}

/// One image: what to build, and every reference it is pushed as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImagePlan {
    pub name: String,
    pub package: String,
    /// The version the image is released as: the workspace version in lockstep, `package`'s own in
    /// independent versioning.
    pub version: Version,
    /// The git tag that marks this release of `package` (`v1.2.3`, `tool-v1.2.3`).
    pub release_tag: String,
    /// The binary target of `package` the image ships (build arg `BIN`).
    pub binary: String,
    pub dockerfile: String,
    pub context: String,
    pub target: Option<String>,
    /// OCI platform strings as buildx `--platform` takes them (`linux/arm64`).
    pub platforms: Vec<String>,
    /// The configured repositories, after `--registry`.
    pub repositories: Vec<String>,
    /// `versioned_tags` then `floating_tags`.
    pub tags: Vec<String>,
    /// Full references naming this build only (`ghcr.io/acme/beacon:1.2.3`), pushed first.
    pub versioned_tags: Vec<String>,
    /// Full references that move between releases (`…:1.2`, `…:1`, `…:latest`), pushed after signing.
    pub floating_tags: Vec<String>,
    /// The reference the image is built, loaded and tested as locally, also when nothing is pushed.
    pub local_ref: String,
    /// The image config's labels: computed (`rules::labels`), then the configured `annotations` applied.
    pub labels: BTreeMap<String, String>,
    /// The index's and each platform manifest's annotations: the same keys and values as `labels`.
    pub annotations: BTreeMap<String, String>,
    /// The most each platform's image may weigh as pushed, in bytes (`max-size`; `rules::size_budget`).
    #[serde(default)]
    pub max_size: Option<u64>,
    /// buildx `--cache-from` values.
    pub cache_from: Vec<String>,
    /// buildx `--cache-to` values.
    pub cache_to: Vec<String>,
    /// The builder image the toolchain stage starts from, and why (`rules::toolchain`).
    pub builder: BuilderChoice,
    /// What the smoke test runs and expects.
    pub smoke: SmokeConfig,
    /// Whether the runtime ships the time zone database.
    pub tzdata: bool,
    /// The system libraries its binary links, and the Debian packages that provide them
    /// (`rules::system_libraries`).
    pub system: SystemLibraries,
    /// Its port and HEALTHCHECK when it builds the service target (`rules::service`).
    pub service: Option<Service>,
}

/// What a plan needs to know about the repository (read by `tools::git`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitState {
    /// The full sha of HEAD.
    pub sha: String,
    /// The current branch, `None` when HEAD is detached (as in CI checkouts of tags and PRs).
    pub branch: Option<String>,
    /// Tags on HEAD (release tags are those the tag pattern reads).
    pub tags_at_head: Vec<String>,
    /// Every tag in the repository (release tags are those the tag pattern reads).
    pub release_tags: Vec<String>,
    /// Every tag named `retracted/*`: versions withdrawn by `cargo xtask release retract`.
    pub retracted_tags: Vec<String>,
    /// HEAD's committer time, seconds since the Unix epoch.
    pub commit_time: i64,
    /// Whether tracked files have uncommitted changes (staged or not).
    pub dirty: bool,
    /// Whether the clone is shallow, so that older release tags may be missing.
    pub shallow: bool,
}

/// Everything the plan is computed from.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The workspace version (lockstep); see `cargo::Workspace::version` for independent mode.
    pub version: Version,
    /// The versioning mode, tag pattern and each independently released package's version.
    pub versioning: Versioning,
    pub config: Config,
    /// Workspace members by crate name.
    pub packages: BTreeMap<String, PackageMeta>,
    pub git: GitState,
    pub ci: CiEnv,
    /// `--ref`.
    pub ref_override: Option<String>,
    /// `--registry` or `XTASK_REGISTRY`.
    pub registry: Option<String>,
    /// `--image`: only these images (all when empty).
    pub only_images: Vec<String>,
    /// `--scanners`, `--db-repository` / `XTASK_TRIVY_DB_REPOSITORY`.
    pub scan_changes: ScanChanges,
    /// What the workspace's crates and toolchain file say about the Rust they need.
    pub toolchain: toolchain::Facts,
    /// Each image's dependency graph on its platforms, by image name (`Err`: why it could not be
    /// read); an image without one detects no system library.
    pub dependency_graphs: BTreeMap<String, Result<Graph, String>>,
}

/// The plan for `inputs`: pure.
pub fn compute(inputs: &Inputs) -> Result<Plan> {
    let Inputs { config, git, versioning, .. } = inputs;
    let head = LocalHead { branch: git.branch.as_deref(), tags_at_head: &git.tags_at_head };
    let released: Vec<String> = config.images.values().map(|image| image.package.clone()).collect();
    let context = context::resolve_with(
        inputs.ref_override.as_deref(),
        &inputs.ci,
        head,
        &config.edge_branch,
        (versioning, &released),
    )?;
    check_selection(inputs)?;
    // A release tag that names a package releases that package's images only.
    let tagged = |package: &String| context.package.as_ref().is_none_or(|named| named == package);
    let selected = |name: &String, package: &String| {
        (inputs.only_images.is_empty() || inputs.only_images.contains(name)) && tagged(package)
    };
    let mut images = Vec::new();
    for (name, image) in config.images.iter().filter(|(name, image)| selected(name, &image.package)) {
        let release = release::package_release(inputs, &context, &image.package)?;
        images.push(image_plan::compute(inputs, name, image, &release)?);
    }
    if images.is_empty() {
        bail!(
            "{} names package `{}`, which no selected image ships: tag a package of {released:?}, or select its image",
            context.git_ref,
            context.package.as_deref().unwrap_or_default()
        );
    }
    let push = images.iter().any(|image| !image.versioned_tags.is_empty());
    let version = match versioning.mode {
        Mode::Lockstep => inputs.version.clone(),
        Mode::Independent => images.iter().map(|image| image.version.clone()).max().unwrap_or(inputs.version.clone()),
    };
    let (scan, scan_overrides) = overrides::effective(&config.scan, &inputs.scan_changes)?;
    let matrix = matrix::images(images.iter().map(|image| image.name.as_str()));
    let variant_matrix = matrix::variants(images.iter().map(|image| (image.name.as_str(), image.platforms.as_slice())));
    let mut plan = Plan {
        schema_version: SCHEMA_VERSION,
        version,
        versioning: VersioningInfo { mode: versioning.mode, tag_pattern: versioning.tag_pattern },
        context: ContextInfo { kind: context.kind(), git_ref: context.git_ref.clone() },
        git: GitInfo {
            sha: git.sha.clone(),
            short_sha: tags::short_sha(&git.sha)?.to_owned(),
            tag_at_head: git.tags_at_head.iter().find(|tag| versioning.parse_tag(&released, tag).is_some()).cloned(),
            dirty: git.dirty,
        },
        source_date_epoch: git.commit_time,
        created: labels::rfc3339_utc(git.commit_time),
        push,
        images,
        scan,
        scan_overrides,
        insecure_registries: config.insecure_registries.clone(),
        registry_override: inputs.registry.clone(),
        signing: config.signing.clone(),
        release_branches: config.release_branches.clone(),
        out_dir: out_dir(&inputs.only_images),
        matrix,
        variant_matrix,
        variants_per_job: matrix::VARIANTS_PER_JOB,
        steps: Vec::new(),
    };
    plan.steps = pipeline::steps(Run::Release, plan.publishing());
    Ok(plan)
}

/// Refuses a run without images, an `--image` that names none, and a `--registry` on the host of a
/// configured registry.
fn check_selection(inputs: &Inputs) -> Result<()> {
    let config = &inputs.config;
    if config.images.is_empty() {
        bail!("no images configured: add a [workspace.metadata.xtask.images.<name>] table to the root Cargo.toml");
    }
    if let Some(unknown) = inputs.only_images.iter().find(|name| !config.images.contains_key(*name)) {
        let configured: Vec<&String> = config.images.keys().collect();
        bail!("--image {unknown}: no such image is configured (images: {configured:?})");
    }
    if let Some(registry) = &inputs.registry {
        // A typo'd override must not read the credentials of the configured registry it resembles.
        let mut hosts = config.registries();
        hosts.push((registry.split('/').next().unwrap_or(registry).to_owned(), "--registry or XTASK_REGISTRY".into()));
        credentials::check_distinct(&hosts)?;
    }
    Ok(())
}

#[path = "plan_release.rs"]
mod release;

#[path = "plan_build.rs"]
mod build;
use build::out_dir;

#[path = "plan_image.rs"]
mod image_plan;

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "plan_versioning_tests.rs"]
mod versioning_tests;
