//! `cargo xtask release retract X.Y.Z --reason TEXT`: withdraws a bad release in one command.
//!
//! Versions are immutable, so the version's own tag stays; every floating tag (`X.Y`, `X`, `latest`)
//! that points at it moves to the highest live release it covers, or is deleted when none is left;
//! a signed retraction attestation goes on its index; the annotated git tag `retracted/vX.Y.Z`
//! (message: the reason) makes every later plan treat the version as never released. A dry run by
//! default; the same preflight and lock as a release; every error before the registry is touched
//! (a tag deletion the registry cannot carry out included: `rules::tag_deletion`);
//! re-running an interrupted retraction completes it.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use semver::Version;
use xshell::Shell;

use crate::commands::plan;
use crate::console;
use crate::rules::labels::rfc3339_utc;
use crate::rules::plan::Inputs;
use crate::rules::retract::{self, Predicate, RepositoryPlan};
use crate::rules::versioning::{Mode, Versioning};
use crate::steps::preflight;
use crate::steps::retract::{self as steps, RetractionRecord};
use crate::steps::verdicts::Store;
use crate::tools::{flock, git};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The released version to withdraw.
    #[arg(value_name = "X.Y.Z")]
    pub version: String,
    /// Why: the message of the git tag retracted/vX.Y.Z and the attestation's reason. Default: the
    /// message of that tag, when it exists.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Carry it out. Without it: print which floating tags would move where, and change nothing.
    #[arg(long)]
    pub execute: bool,
    /// Retract in HOST[:PORT]/NAMESPACE instead of each repository's registry and namespace, keeping
    /// the image name, as the release was pushed (e.g. localhost:5000/acme). Default: $XTASK_REGISTRY.
    #[arg(long, value_name = "HOST[:PORT]/NAMESPACE")]
    pub registry: Option<String>,
    /// The crate whose release to withdraw (independent versioning; default: the one crate the images
    /// release). Its tags are `retracted/<its release tag>`, e.g. retracted/tool-v1.2.3.
    #[arg(short = 'p', long = "package", value_name = "PACKAGE")]
    pub package: Option<String>,
    /// Only this image (repeatable; default: every configured image), as it was released.
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let Released { inputs, package, version } =
        released(sh, &args.version, args.registry.clone(), args.images.clone(), args.package.as_deref())?;
    let tag = inputs.versioning.retraction_tag(&package, &version);
    let existing = git::tag_info(sh, &tag)?;
    let tag_message = existing.as_ref().and_then(|info| info.message.as_deref());
    let reason = retract::reason_for(&tag, &version, args.reason.as_deref(), tag_message)?;
    let plan = retract::release_plan_of(&inputs, &package, &version)?;

    let _lock = flock::lock_images(&sh.current_dir(), plan.images.iter().map(|i| i.name.as_str()))?;
    let root = sh.current_dir();
    let out = root.join(&plan.out_dir);
    // A retraction checks nothing that a verdict records: its store is never read.
    let mut verdicts = Store::at(&out);
    let cleared =
        console::run("preflight", || preflight::run(sh, &plan, &preflight::Checks::default(), &mut verdicts))?;
    // A fresh clone (the retract workflow) has no output directory yet.
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let public_key = out.join("cosign.pub");
    if let Some(signer) = &cleared.signer {
        signer.write_public_key(&public_key)?;
    }
    let verifier = cleared.signer.as_ref().map(|signer| (signer, public_key.as_path()));
    let (released, retracted) = retract::versions_of(
        (&inputs.versioning, package.as_str()),
        &inputs.git.release_tags,
        &inputs.git.retracted_tags,
    );
    let surveyed =
        console::run("survey", || steps::survey(sh, &cleared.transports, &plan, (&released, &retracted), verifier))?;
    let listing = retract::render(&version, &reason, &surveyed);
    print!("{listing}");
    if existing.is_some() && surveyed.iter().all(RepositoryPlan::is_done) {
        bail!(
            "{version} is already retracted (tag {tag}: {reason:?}): no floating tag points at it and its \
             retraction attestation verifies. Nothing to do"
        );
    }
    let scratch = out.join("retract");
    console::run("deletable", || {
        steps::check_deletable(sh, &cleared.transports, (&version, &surveyed), &scratch, args.execute)
    })?;
    if !args.execute {
        print_dry_run(&args, &version, &tag, existing.is_some());
        return Ok(());
    }

    let started = Instant::now();
    let base = tag_retraction(sh, &tag, &version, reason, existing.is_some())?;
    let resume = || {
        format!(
            "retracting {version} stopped part-way: fix the cause below, then run \
             `cargo xtask release retract {version} --execute` again, which completes what is left"
        )
    };
    console::run("move-floating", || steps::move_floating(sh, &cleared.transports, &surveyed, &scratch))
        .with_context(resume)?;
    let attestations = match verifier {
        Some(verifier) => console::run("attest", || steps::attest(verifier, &plan, &surveyed, &base, &scratch))
            .with_context(resume)?,
        None => Default::default(),
    };
    let record = RetractionRecord::new(&base, &surveyed, attestations);
    let path = steps::write_record(&out, &record, &listing)?;
    eprintln!("{version} retracted in {:.1}s; retraction record: {}", started.elapsed().as_secs_f64(), path.display());
    Ok(())
}

/// What a dry run says last: the command that carries it out (`--reason` where the retraction's
/// git tag does not exist yet, which it then creates).
fn print_dry_run(args: &Args, version: &Version, tag: &str, tagged: bool) {
    let (reason_flag, tagging) = match tagged {
        true => ("", String::new()),
        false => (" --reason …", format!(" and creates tag {tag} on HEAD")),
    };
    let registry = args.registry.as_deref().map(|r| format!(" --registry {r}")).unwrap_or_default();
    eprintln!(
        "dry run: nothing was moved, deleted, attested or tagged. `cargo xtask release retract {version}\
         {reason_flag}{registry} --execute` carries it out{tagging}."
    );
}

/// The annotated git tag `tag` (message: `reason`) on HEAD, unless `tagged` already; the
/// retraction predicate it dates and names, without an image and digest yet.
fn tag_retraction(sh: &Shell, tag: &str, version: &Version, reason: String, tagged: bool) -> Result<Predicate> {
    if !tagged {
        git::annotated_tag(sh, tag, &reason)?;
        eprintln!("created the annotated tag {tag}: push it with `git push origin {tag}`, so later releases see it");
    }
    let info = git::tag_info(sh, tag)?.with_context(|| format!("tag {tag} is missing right after creating it"))?;
    Ok(Predicate {
        version: version.to_string(),
        reason,
        retracted_at: rfc3339_utc(info.time),
        git_ref: format!("refs/tags/{tag}"),
        git_sha: info.commit,
        image: String::new(),
        digest: String::new(),
    })
}

/// The crate whose release is withdrawn: none in lockstep (one version for all), else `-p` or the
/// one crate the images release.
/// A version the workspace (or, with independent versioning, `package`) released, as `release
/// retract` and `release bundle` name it: the plan's inputs for `registry` and `images`, the crate, and
/// the version, checked against the release tags.
pub struct Released {
    pub inputs: Inputs,
    pub package: String,
    pub version: Version,
}

pub fn released(
    sh: &Shell,
    version: &str,
    registry: Option<String>,
    images: Vec<String>,
    package: Option<&str>,
) -> Result<Released> {
    let version = retract::parse_version(version)?;
    let options = plan::Options { registry, images, ..Default::default() };
    let inputs = plan::inputs(sh, &options, &plan::ScanOverrides::default())?;
    let package = subject(&inputs.versioning, package)?;
    retract::check_released_of((&inputs.versioning, package.as_str()), &version, &inputs.git.release_tags)?;
    Ok(Released { inputs, package, version })
}

pub fn subject(versioning: &Versioning, package: Option<&str>) -> Result<String> {
    let released: Vec<&String> = versioning.packages.keys().collect();
    match (versioning.mode, package, released.as_slice()) {
        (Mode::Lockstep, None, _) => Ok(String::new()),
        (Mode::Lockstep, Some(package), _) => {
            bail!("-p {package}: versioning is lockstep, a retraction withdraws the workspace version: drop -p")
        }
        (Mode::Independent, Some(package), _) if versioning.packages.contains_key(package) => Ok(package.to_owned()),
        (Mode::Independent, Some(package), _) => {
            bail!("-p {package}: no image releases that crate (released: {released:?})")
        }
        (Mode::Independent, None, [only]) => Ok(only.to_string()),
        (Mode::Independent, None, _) => {
            bail!("versioning is independent and the images release {released:?}: say which crate with -p PACKAGE")
        }
    }
}
