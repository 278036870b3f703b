//! `registry:2` in a container of the engine, on a free loopback port: the local registry that
//! `release --local` keeps between runs (plain HTTP), and the rehearsal's throwaway one (TLS, with
//! the certificate mounted); and what is read back from one (its state, the bytes it stores, its
//! access log). The callers decide names, ports and when to remove them.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::tools::docker;

/// Whether `container` exists and runs.
pub fn is_running(sh: &Shell, container: &str) -> bool {
    let format = "{{.State.Running}}";
    cmd!(sh, "docker inspect --format {format} {container}")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|s| s.trim() == "true")
}

/// Starts the registry named `name` in the background, deletion enabled, its port 5000 published on
/// a free port of 127.0.0.1.
pub fn start_local(sh: &Shell, name: &str) -> Result<()> {
    cmd!(
        sh,
        "docker run --detach --name {name} --publish 127.0.0.1::5000 --env REGISTRY_STORAGE_DELETE_ENABLED=true registry:2"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .context("could not start the local registry (`docker run registry:2`): is the engine running? (`cargo xtask doctor`)")
}

/// Starts a registry in the background serving TLS with `certs`/cert.pem and `certs`/key.pem (the
/// directory mounted read-only), its port 5000 published on a free port of 127.0.0.1. Its id.
pub fn start_tls(sh: &Shell, certs: &Path) -> Result<String> {
    let source = docker::csv_field(&format!("source={}", certs.display()));
    let mount = format!("type=bind,{source},target=/certs,readonly");
    let id = cmd!(
        sh,
        "docker run --detach --publish 127.0.0.1::5000 --mount {mount} --env REGISTRY_HTTP_TLS_CERTIFICATE=/certs/cert.pem --env REGISTRY_HTTP_TLS_KEY=/certs/key.pem registry:2"
    )
    .quiet()
    .read()
    .context("could not start the throwaway registry (`docker run registry:2`): is the engine running? (`cargo xtask doctor`)")?;
    Ok(id.trim().to_owned())
}

/// Removes the container `id` and its volumes (the registry's storage). Best effort: a cleanup.
pub fn remove(sh: &Shell, id: &str) {
    let _ = cmd!(sh, "docker rm --force --volumes {id}").quiet().ignore_stdout().ignore_stderr().run();
}

/// Whether a container with the id `id` still exists, running or not.
pub fn exists(sh: &Shell, id: &str) -> Result<bool> {
    let listed = cmd!(sh, "docker ps --all --quiet --no-trunc --filter id={id}")
        .quiet()
        .read()
        .context("cannot list the engine's containers (`docker ps`)")?;
    Ok(!listed.trim().is_empty())
}

/// Bytes the registry `id` holds in its storage (`du` of /var/lib/registry, inside it).
pub fn stored_bytes(sh: &Shell, id: &str) -> Result<u64> {
    let du = cmd!(sh, "docker exec {id} du -sb /var/lib/registry")
        .quiet()
        .read()
        .with_context(|| format!("cannot measure the registry's storage (`docker exec {id} du`)"))?;
    du.split_whitespace().next().unwrap_or("0").parse().context("unexpected `du` output from the registry")
}

/// What the registry `id` has logged so far (stderr, then stdout), its access log among it.
pub fn log(sh: &Shell, id: &str) -> Result<String> {
    let logs = cmd!(sh, "docker logs {id}")
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run `docker logs {id}`"))?;
    Ok(String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout))
}
