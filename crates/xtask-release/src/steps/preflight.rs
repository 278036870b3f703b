//! Preflight: everything that can be checked before anything is built, so a release fails in
//! seconds, not after the build. Clean work tree, allowed branch (a tag release under GitHub
//! Actions: its commit on a release branch), the configuration's files (inside the workspace, with
//! symlinks resolved; `.trivyignore` entries, each Dockerfile and its target stage), a builder
//! with the Rust each image needs and no crate linking a system library the engine cannot
//! provide, tools (the doctor's checks), the `--builder`, a signing key that
//! opens, how each registry is reached (plain HTTP only where allowed, and only if dockerd agrees),
//! every registry reachable with its credentials accepted, which versioned tags already exist (an
//! existing one must be this very build), the Sigstore services signing with the transparency log
//! will reach (`rules::sigstore`), and the vulnerability DB the scan will judge every platform by
//! (`steps::vulndb`: current, or fail closed).

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::context::Kind;
use crate::rules::dockerfile;
use crate::rules::pipeline::Step;
use crate::rules::plan::Plan;
use crate::rules::reference::Repository;
use crate::rules::release_branch::{self, Ancestry};
use crate::rules::signing;
use crate::rules::sigstore;
use crate::rules::toolset::Capabilities;
use crate::rules::transport::{self as rules, Allowance, Transport, Transports};
use crate::rules::verdicts::Reused;
use crate::steps::build_checks;
use crate::steps::parallel;
use crate::steps::scan;
use crate::steps::verdicts::Store;
use crate::steps::vulndb::{self, VulnDb};
use crate::tools::cosign::{self, Signer};
use crate::tools::docker;
use crate::tools::doctor;
use crate::tools::git;
use crate::tools::registry::{self, Session};
use crate::tools::said;
use crate::tools::secrets;
use crate::tools::toolset;
use crate::tools::transport;

pub struct Cleared<'a> {
    /// Logged in for the rest of the release; logged out (private config removed) when dropped.
    pub _session: Session<'a>,
    pub signer: Option<Signer<'a>>,
    /// How each registry the release pushes to is reached.
    pub transports: Transports,
    /// The vulnerability DB for the scan; `None` when the policy has no vuln scanner.
    pub db: Option<VulnDb>,
    /// What the installed buildx and cosign can do, probed once for the whole run.
    pub capabilities: Capabilities,
    /// The Dockerfile checks' verdicts reused instead of checked again.
    pub reused: Vec<Reused>,
}

/// What a run needs checked besides what every publishing run does (a retraction, which builds
/// nothing, takes the defaults).
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks<'s> {
    /// Pushing only to a throwaway registry: uncommitted changes and any branch will do.
    pub rehearsal: bool,
    /// The run builds and scans (a release): the configuration's files, the builder and the
    /// vulnerability DB are checked too. A retraction builds nothing, and is not held up by them.
    pub building: bool,
    /// The buildx builder the build will use (`--builder`).
    pub builder: Option<&'s str>,
    /// This run's tools were asked just before (`release --local` checks them before it starts its
    /// registry): their answers are kept rather than asked again.
    pub tools_asked: bool,
}

/// Runs the checks; the Dockerfile build checks (a run that builds) reuse and record their verdicts
/// in the run's `verdicts`.
pub fn run<'a>(sh: &'a Shell, plan: &Plan, checks: &Checks<'_>, verdicts: &mut Store) -> Result<Cleared<'a>> {
    if !checks.tools_asked {
        said::forget();
    }
    let rehearsal = checks.rehearsal;
    if !rehearsal {
        check_work_tree(plan)?;
    }
    // A merge builds nothing but publishes: its commit is checked as the variants' were.
    if (checks.building || plan.steps.contains(&Step::Merge)) && !rehearsal {
        check_release_branch(sh, plan)?;
    }
    if checks.building {
        check_configuration(&sh.current_dir(), plan)?;
    }
    // The tools' answers about themselves, asked side by side: the checks below find them ready.
    let mut questions = doctor::questions(plan);
    if checks.building && checks.builder.is_none() {
        questions.push(("docker", docker::CURRENT_BUILDER));
    }
    parallel::all(sh, &questions, |sh, (program, args)| drop(said::read_any(sh, program, args)));
    check_tools(sh, plan, checks)?;
    let capabilities = toolset::probe(sh)?;
    let mut reused = Vec::new();
    console::progress!("    {}", toolset::describe(&capabilities));
    if checks.building {
        reused = build_checks::run(sh, plan, &capabilities, checks.builder, verdicts)?;
    }

    let mut signer = signer(sh, plan, &capabilities)?;
    let registries = registries(plan)?;
    let transports = transports(sh, plan, &registries)?;
    if let Some(signer) = &mut signer {
        signer.transports = transports.clone();
    }
    let session = Session::open(sh, &registries, plan.registry_override.is_some())?;
    for reference in plan.images.iter().flat_map(|i| &i.versioned_tags) {
        if let Some(digest) = registry::digest_of(sh, &transports, reference)? {
            console::progress!("    {reference} exists ({digest})");
        }
    }
    console::progress!(
        "    registries {}: reachable{}",
        if registries.is_empty() { "(none: nothing to push)".to_owned() } else { registries.join(", ") },
        if session.logins.is_empty() { String::new() } else { format!(", logged in to {}", session.logins.join(", ")) }
    );
    let db = if checks.building { vulndb::fetch(sh, plan)? } else { None };
    Ok(Cleared { _session: session, signer, transports, db, capabilities, reused })
}

/// Outside a rehearsal: a release is built from a commit, and (run locally) from an allowed branch.
fn check_work_tree(plan: &Plan) -> Result<()> {
    if plan.git.dirty {
        bail!("the work tree has uncommitted changes: commit or stash them first (`git status`); a release is built from a commit");
    }
    if plan.context.kind == Kind::Local {
        let branch = plan.context.git_ref.strip_prefix("refs/heads/");
        if !branch.is_some_and(|b| plan.release_branches.iter().any(|allowed| allowed == b)) {
            let tags: Vec<&str> = plan.images.iter().map(|i| i.release_tag.as_str()).collect();
            bail!(
                "releases run from {:?} (release-branches in [workspace.metadata.xtask]), but this is {}: switch branch, or tag the commit {}",
                plan.release_branches,
                plan.context.git_ref,
                tags.first().map_or_else(|| format!("`v{}`", plan.version), |tag| format!("`{tag}`"))
            );
        }
    }
    Ok(())
}

/// The tools the plan needs (the doctor's checks), and the `--builder` of a building run: every
/// problem printed, then failed on.
fn check_tools(sh: &Shell, plan: &Plan, checks: &Checks<'_>) -> Result<()> {
    let mut tools = doctor::checks(sh, plan);
    if let Some(name) = checks.builder.filter(|_| checks.building) {
        tools.push(doctor::builder(sh, name, plan));
    }
    if tools.iter().any(|c| c.problem.is_some()) {
        doctor::print(&tools);
    }
    doctor::fail_on_problems(&tools)
}

/// The signer of a run that pushes and signs, its key opened and the services it will reach
/// checked; `None` when nothing is pushed, signing is off (warned), or a variant defers it to its
/// merge.
fn signer<'a>(sh: &'a Shell, plan: &Plan, capabilities: &Capabilities) -> Result<Option<Signer<'a>>> {
    if !plan.push {
        return Ok(None);
    }
    if plan.signing.enabled && !plan.steps.contains(&Step::Sign) {
        // A variant (`release --platform`) pushes by digest only and signs nothing: its merge signs.
        return Ok(None);
    }
    if !plan.signing.enabled {
        eprintln!("    WARNING: signing is disabled ([workspace.metadata.xtask.signing] enabled = false): the images will not be signed or attested");
        return Ok(None);
    }
    let mode = cosign::mode(secrets::lookup(sh))?;
    signing::check_durable(&mode, plan.signing.tlog_upload)?;
    signing::check_signer(&mode)?;
    check_sigstore(sh, &mode, plan.signing.tlog_upload)?;
    let mut signer = Signer {
        sh,
        mode,
        tlog_upload: plan.signing.tlog_upload,
        transports: Transports::default(),
        format: capabilities.signature_format(),
        offline_config: None,
        public_key: Default::default(),
    };
    signer.prepare(&sh.current_dir().join(&plan.out_dir))?;
    Ok(Some(signer))
}

/// With the transparency log on, the Sigstore services signing will reach (Rekor, TUF:
/// `rules::sigstore`) must answer now, not at `sign`, after the versioned tags are pushed.
fn check_sigstore(sh: &Shell, mode: &cosign::Mode, tlog_upload: bool) -> Result<()> {
    if !tlog_upload {
        return Ok(());
    }
    let services = sigstore::services(|name| sh.var(name).ok());
    let problems: Vec<(sigstore::Service, String)> = services
        .into_iter()
        .filter_map(|service| cosign::answers(sh, &service.probe).err().map(|why| (service, why)))
        .collect();
    if !problems.is_empty() {
        bail!("{}", sigstore::unreachable(&problems, *mode == cosign::Mode::Key));
    }
    console::progress!("    transparency log and TUF: reachable");
    Ok(())
}

/// Under GitHub Actions, a tag release's commit (`GITHUB_SHA`) must be on a fetched release branch.
fn check_release_branch(sh: &Shell, plan: &Plan) -> Result<()> {
    if plan.context.kind != Kind::Tag || sh.var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
        return Ok(());
    }
    let commit = sh.var("GITHUB_SHA").context("GITHUB_SHA is not set under GitHub Actions: the tagged commit")?;
    let mut branches = Vec::new();
    for branch in &plan.release_branches {
        let ancestry = match git::is_ancestor(sh, &commit, &release_branch::remote_ref(branch))? {
            Some(true) => Ancestry::Contains,
            Some(false) => Ancestry::Lacks,
            None => Ancestry::Missing,
        };
        branches.push((branch.clone(), ancestry));
    }
    release_branch::check(&commit, &plan.context.git_ref, &branches)?;
    console::progress!("    {commit} is on a release branch");
    Ok(())
}

/// The configuration's files, all problems at once: each file inside the workspace, `.trivyignore`
/// entries, each image's Dockerfile (readable, of a build contract this engine speaks), build
/// context and target stage, a builder with the Rust it needs (`rules::toolchain`), and the system
/// libraries its dependency graph links (`rules::system_libraries`: no unknown crate probing
/// pkg-config). `cargo xtask build` runs it too.
pub fn check_configuration(root: &Path, plan: &Plan) -> Result<()> {
    let table = "workspace.metadata.xtask";
    let mut problems = outside_workspace(root, &format!("{table}.scan.ignorefile"), &plan.scan.ignorefile);
    if problems.is_empty() {
        problems.extend(scan::exceptions(root, &plan.scan)?.problems);
    }
    for image in &plan.images {
        let key = format!("{table}.images.{}", image.name);
        problems.extend(image.builder.problem.clone());
        problems.extend(image.system.problem.clone());
        let mut outside = outside_workspace(root, &format!("{key}.context"), &image.context);
        if image.dockerfile != dockerfile::ENGINE_DOCKERFILE_PATH {
            outside.extend(outside_workspace(root, &format!("{key}.dockerfile"), &image.dockerfile));
        }
        if !outside.is_empty() {
            problems.extend(outside);
            continue;
        }
        let dockerfile = root.join(&image.dockerfile);
        if !root.join(&image.context).is_dir() {
            problems.push(format!(
                "{key}.context: {} is not a directory: fix the path in the root Cargo.toml",
                image.context
            ));
        }
        let text = match std::fs::read_to_string(&dockerfile) {
            Ok(text) => text,
            Err(error) => {
                problems.push(format!(
                    "{key}.dockerfile: cannot read {} ({error}): fix the path in the root Cargo.toml",
                    image.dockerfile
                ));
                continue;
            }
        };
        if let Some(problem) = dockerfile::contract_problem(&image.dockerfile, &text) {
            problems.push(format!("{key}.dockerfile: {problem}"));
            continue;
        }
        let appended = image.service.as_ref().and_then(|service| service.generated_stage(&image.name));
        if appended.is_some() && dockerfile::contract(&text).is_none() {
            problems.push(format!(
                "{key}.healthcheck: the engine appends the image's HEALTHCHECK to the `service` stage of a \
                 Dockerfile speaking its build contract, and {} names none: write the HEALTHCHECK in that \
                 Dockerfile instead",
                image.dockerfile
            ));
        }
        if let Some(target) = &image.target {
            if let Some(problem) = dockerfile::missing_target(target, &dockerfile::stages(&text)) {
                problems.push(format!(
                    "{key}.target: {} {problem}: fix target in the root Cargo.toml, or add the stage",
                    image.dockerfile
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "the configuration has {} problem(s), found before building anything:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// `path` (of the configuration's `key`) when it resolves, symlinks followed, outside the workspace
/// `root`: the files an image is built and judged from are the workspace's own. (The configuration
/// refuses `..` and absolute paths; a path that does not exist is left to the checks that read it.)
fn outside_workspace(root: &Path, key: &str, path: &str) -> Vec<String> {
    let (Ok(root), Ok(real)) = (root.canonicalize(), root.join(path).canonicalize()) else { return Vec::new() };
    if real.starts_with(&root) {
        return Vec::new();
    }
    vec![format!(
        "{key}: {path} leads out of the workspace, to {} (through a symlink): the files an image is built \
         and judged from must be the workspace's own; replace the link with the file, in the workspace",
        real.display()
    )]
}

/// Decides how each registry is reached; for a plain-HTTP one, checks that dockerd will push to it.
fn transports(sh: &Shell, plan: &Plan, registries: &[String]) -> Result<Transports> {
    let mut transports = Transports::default();
    let mut daemon = None;
    for name in registries {
        let access = transport::access(name, &plan.insecure_registries)?;
        if access.transport == Transport::PlainHttp {
            if daemon.is_none() {
                daemon = Some(registry::daemon_registry_config(sh)?);
            }
            let config = daemon.as_ref().context("no daemon configuration")?;
            if !rules::daemon_treats_insecure(config, name, &access.addresses) {
                bail!("{name} speaks plain HTTP, but {}", rules::daemon_fix(name));
            }
            let why = match &access.allowance {
                Allowance::Listed(entry) => format!("listed in insecure-registries as {entry:?}"),
                _ => "loopback".to_owned(),
            };
            console::progress!("    {name}: plain HTTP ({why})");
        }
        transports.insert(name, access.transport);
    }
    Ok(transports)
}

/// The registry hosts the plan pushes to, each once.
fn registries(plan: &Plan) -> Result<Vec<String>> {
    let mut hosts = Vec::new();
    for image in &plan.images {
        if image.tags.is_empty() {
            continue;
        }
        for repository in &image.repositories {
            let host = Repository::parse(repository)?.registry.to_owned();
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
    }
    Ok(hosts)
}
