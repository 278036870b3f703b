//! `cargo xtask release --execute --local`: the whole release on this machine, in one command, with
//! nothing to set up. It starts a `registry:2` on 127.0.0.1 (plain HTTP, as docker allows for
//! loopback) and makes a throwaway cosign key under `target/xtask/local/`, releases every image to
//! that registry — built, smoke-tested, scanned, pushed, read back, signed and attested, floating
//! tags moved — and leaves the registry running, printing the `docker run` line that pulls the
//! result, the `cosign verify` line that checks its signature, and how to remove the registry.
//!
//! A second run reuses the registry and the key (already-pushed versions are skipped, as in any
//! release). It sends no credentials: it refuses to run if one would be sent to the registry. Like
//! the rehearsal, it runs from uncommitted changes and any branch, since nothing leaves the machine.
//! The key's password file is written as a secret (mode 0600, created exclusively, renamed into
//! place, never through a symlink: `tools::files`), and the key reaches only cosign.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::commands::pipeline::{self, Pipeline};
use crate::commands::plan::{self, ScanOverrides};
use crate::commands::rehearsal::random_hex;
use crate::console;
use crate::rules::credentials;
use crate::rules::plan::Plan;
use crate::rules::transport::{Transport, Transports};
use crate::tools::files::{self, Access};
use crate::tools::{cosign, docker, doctor, registry, registry_container, secrets};

/// Where the key, its password and the registry's container name are kept, under the workspace.
pub const DIR: &str = "target/xtask/local";
/// The namespace the images are pushed under: `127.0.0.1:PORT/local/IMAGE`.
const NAMESPACE: &str = "local";

/// Releases the plan's images to the local registry and prints how to pull and verify them.
pub fn run(
    sh: &Shell,
    images: &[String],
    (builder, rebuild): (Option<String>, bool),
    scan: &ScanOverrides,
    json: bool,
) -> Result<()> {
    tools_present(sh, images)?;
    let dir = sh.current_dir().join(DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (container, host) = registry_running(sh, &dir)?;
    if let Some(credential) = credentials::for_registry(&host, false, secrets::lookup(sh))? {
        bail!(
            "--local never sends registry credentials, but {} is set and would be sent to {host}: \
             unset it for this run (the local registry needs none)",
            credential.source
        );
    }
    let _key = signing_key(sh, &dir)?;
    let options =
        plan::Options { registry: Some(format!("{host}/{NAMESPACE}")), images: images.to_vec(), ..Default::default() };
    let plan = plan::load_rehearsal(sh, &options, scan)?;
    if plan.git.dirty {
        eprintln!(
            "warning: uncommitted changes: the local images contain them, but their labels name commit {}",
            plan.git.short_sha
        );
    }
    pipeline::publish(
        sh,
        &plan,
        &Pipeline { execute: true, builder, rehearsal: true, rebuild, tools_asked: true, ..Default::default() },
    )?;
    if json {
        let path = sh.current_dir().join(&plan.out_dir).join(crate::steps::record::FILE);
        print!("{}", std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    eprint!("{}", next_steps(&plan, &container, &host));
    Ok(())
}

/// The machine's tools, checked before the local registry is started with them: a machine without
/// them is told what is missing, ending with the one command that installs it.
fn tools_present(sh: &Shell, images: &[String]) -> Result<()> {
    let plan = plan::load(sh, &plan::Options { images: images.to_vec(), ..Default::default() })?;
    let checks = doctor::checks(sh, &Plan { push: true, ..plan });
    if checks.iter().any(|check| check.problem.is_some()) {
        doctor::print(&checks);
    }
    doctor::fail_on_problems(&checks)
}

/// What to run next: pull each image back, verify its signature, remove the registry.
fn next_steps(plan: &Plan, container: &str, host: &str) -> String {
    let mut text = format!("\nreleased to the local registry {host} (container {container}, left running). Try:\n\n");
    for image in &plan.images {
        if let Some(reference) = image.versioned_tags.first() {
            text.push_str(&format!("  docker run --pull always --rm {reference} --version\n"));
        }
    }
    for image in &plan.images {
        if let Some(reference) = image.versioned_tags.first() {
            text.push_str(&format!("  cosign verify --key {DIR}/cosign.pub --insecure-ignore-tlog {reference}\n"));
        }
    }
    text.push_str(&format!("  curl --silent http://{host}/v2/_catalog\n"));
    text.push_str(&format!("\nremove the registry with: docker rm --force --volumes {container}\n"));
    text
}

/// The registry this workspace's earlier `--local` run started, if it still runs; otherwise a new
/// one on a free loopback port. Returns its container name and `127.0.0.1:PORT`.
fn registry_running(sh: &Shell, dir: &Path) -> Result<(String, String)> {
    let record = dir.join("registry");
    let earlier = std::fs::read_to_string(&record).unwrap_or_default().trim().to_owned();
    let running = !earlier.is_empty() && registry_container::is_running(sh, &earlier);
    let container = if running {
        earlier
    } else {
        let name = format!("xtask-local-{}", &random_hex()?[..8]);
        registry_container::start_local(sh, &name)?;
        files::write(&record, name.as_bytes(), Access::Public)?;
        name
    };
    let port = docker::published_port(sh, &container, 5000)?;
    let host = format!("127.0.0.1:{port}");
    let mut plain = Transports::default();
    plain.insert(&host, Transport::PlainHttp);
    registry::wait_until_up(sh, &plain, &format!("{host}/{NAMESPACE}"))?;
    console::progress!("    local registry {host} (container {container})");
    Ok((container, host))
}

/// The throwaway key pair in `dir` (made on the first run, with a random password kept beside it),
/// set as this process's signing key: any `COSIGN_PRIVATE_KEY` of the caller's is not used.
fn signing_key(sh: &Shell, dir: &Path) -> Result<secrets::Replaced> {
    let (key, password_file) = (dir.join("cosign.key"), dir.join("cosign.password"));
    if !key.exists() || !password_file.exists() || !dir.join("cosign.pub").exists() {
        let password = random_hex()?;
        for old in ["cosign.key", "cosign.pub"] {
            let _ = std::fs::remove_file(dir.join(old));
        }
        cosign::generate_key_pair(sh, dir, &password)?;
        files::write(&password_file, password.as_bytes(), Access::Secret)?;
    }
    let read =
        |path: &PathBuf| std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()));
    Ok(secrets::replace(vec![
        ("COSIGN_PRIVATE_KEY".to_owned(), Some(read(&key)?)),
        ("COSIGN_PASSWORD".to_owned(), Some(read(&password_file)?.trim().to_owned())),
    ]))
}
