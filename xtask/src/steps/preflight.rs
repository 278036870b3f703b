//! Preflight: everything that can be checked before anything is built, so a release fails in
//! seconds, not after the build. Clean work tree, allowed branch, tools (the doctor's checks),
//! a signing key that opens, every registry reachable with its credentials accepted, and which
//! versioned tags already exist (an existing one must be this very build).

use anyhow::{bail, Result};
use xshell::Shell;

use crate::console;
use crate::rules::context::Kind;
use crate::rules::plan::Plan;
use crate::rules::reference::Repository;
use crate::tools::cosign::{self, Signer};
use crate::tools::doctor;
use crate::tools::registry::{self, Session};

pub struct Cleared<'a> {
    /// Logged in for the rest of the release; logged out (private config removed) when dropped.
    pub _session: Session<'a>,
    pub signer: Option<Signer<'a>>,
}

/// `rehearsal`: pushing only to a throwaway registry, so uncommitted changes and any branch will do.
pub fn run<'a>(sh: &'a Shell, plan: &Plan, rehearsal: bool) -> Result<Cleared<'a>> {
    if plan.git.dirty && !rehearsal {
        bail!("the work tree has uncommitted changes: commit or stash them first (`git status`); a release is built from a commit");
    }
    if plan.context.kind == Kind::Local && !rehearsal {
        let branch = plan.context.git_ref.strip_prefix("refs/heads/");
        if !branch.is_some_and(|b| plan.release_branches.iter().any(|allowed| allowed == b)) {
            bail!(
                "releases run from {:?} (release-branches in [workspace.metadata.xtask]), but this is {}: switch branch, or tag the commit `v{}`",
                plan.release_branches,
                plan.context.git_ref,
                plan.version
            );
        }
    }
    let checks = doctor::checks(sh, plan);
    if checks.iter().any(|c| c.problem.is_some()) {
        doctor::print(&checks);
    }
    doctor::fail_on_problems(&checks)?;

    let signer = if !plan.push {
        None
    } else if plan.signing.enabled {
        let signer =
            Signer { sh, mode: cosign::mode(|name| sh.var(name).ok())?, tlog_upload: plan.signing.tlog_upload };
        signer.check_key()?;
        Some(signer)
    } else {
        eprintln!("    WARNING: signing is disabled ([workspace.metadata.xtask.signing] enabled = false): the images will not be signed or attested");
        None
    };

    let registries = registries(plan)?;
    let session = Session::open(sh, &registries)?;
    for reference in plan.images.iter().flat_map(|i| &i.versioned_tags) {
        if let Some(digest) = registry::digest_of(sh, reference)? {
            console::progress!("    {reference} exists ({digest})");
        }
    }
    console::progress!(
        "    registries {}: reachable{}",
        if registries.is_empty() { "(none: nothing to push)".to_owned() } else { registries.join(", ") },
        if session.logins.is_empty() { String::new() } else { format!(", logged in to {}", session.logins.join(", ")) }
    );
    Ok(Cleared { _session: session, signer })
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
