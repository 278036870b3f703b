//! The registry client's credentials and tokens: what the docker config holds for a registry (the
//! private one a release logs into, `tools::registry::Session`, or the developer's own), read as
//! docker reads it (`rules::docker_config`), a credential helper run when one is named; and the
//! authentication the registry asks for (`GET /v2/`'s `WWW-Authenticate`): none, Basic, or a bearer
//! token per repository and actions, fetched once and kept for the run.
//!
//! A credential helper the config names but that is not installed stops the step, naming it: the
//! registry would otherwise be asked anonymously and answer for an anonymous user.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::docker_config::{self, Stored};
use crate::rules::registry_api::{self, Challenge};

#[derive(Default)]
struct Known {
    /// Per registry: its challenge (`None`: it asks for none), once pinged.
    challenges: BTreeMap<String, Option<Challenge>>,
    /// Per registry and config file: the credentials found.
    credentials: BTreeMap<(String, String), Stored>,
    /// Per registry, repository and actions: the bearer token.
    tokens: BTreeMap<(String, String, String), String>,
}

static KNOWN: Mutex<Option<Known>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut Known) -> T) -> T {
    let mut guard = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(Known::default))
}

pub fn challenge(registry: &str) -> Option<Option<Challenge>> {
    with(|k| k.challenges.get(registry).cloned())
}

pub fn remember_challenge(registry: &str, challenge: Option<Challenge>) {
    with(|k| k.challenges.insert(registry.to_owned(), challenge));
}

pub fn token(registry: &str, repository: &str, actions: &str) -> Option<String> {
    with(|k| k.tokens.get(&(registry.to_owned(), repository.to_owned(), actions.to_owned())).cloned())
}

pub fn remember_token(registry: &str, repository: &str, actions: &str, token: Option<String>) {
    let key = (registry.to_owned(), repository.to_owned(), actions.to_owned());
    with(|k| match token {
        Some(token) => k.tokens.insert(key, token),
        None => k.tokens.remove(&key),
    });
}

/// The docker config file credentials are read from: the one skopeo and docker read
/// (`REGISTRY_AUTH_FILE`, which a release's session sets; else `$DOCKER_CONFIG/config.json`; else
/// `~/.docker/config.json`).
fn config_file(sh: &Shell) -> Option<PathBuf> {
    if let Ok(file) = sh.var("REGISTRY_AUTH_FILE") {
        return Some(PathBuf::from(file));
    }
    let dir = sh.var("DOCKER_CONFIG").ok().map(PathBuf::from);
    dir.or_else(|| sh.var("HOME").ok().map(|home| PathBuf::from(home).join(".docker"))).map(|d| d.join("config.json"))
}

/// The credentials for `registry`, looked up once per run and config file.
pub fn credentials(sh: &Shell, registry: &str) -> Result<Stored> {
    let Some(file) = config_file(sh) else { return Ok(Stored::None) };
    let key = (registry.to_owned(), file.display().to_string());
    if let Some(known) = with(|k| k.credentials.get(&key).cloned()) {
        return Ok(known);
    }
    let found = look_up(sh, registry, &file)?;
    with(|k| k.credentials.insert(key, found.clone()));
    Ok(found)
}

fn look_up(sh: &Shell, registry: &str, file: &std::path::Path) -> Result<Stored> {
    let Ok(text) = std::fs::read_to_string(file) else { return Ok(Stored::None) };
    let path = file.display().to_string();
    let lookup = docker_config::lookup(&text, &path, registry)?;
    let Some((helper, key)) = lookup.helper else { return Ok(lookup.stored) };
    let program = format!("docker-credential-{helper}");
    if !on_path(sh, &program) {
        bail!(
            "{path} names the credential helper {program} for {registry} (`{key}`), but it is not installed (not on \
             PATH): install it, or remove `{key}` from {path}; nothing was read from or written to {registry}"
        );
    }
    let server = match registry_api::api_host(registry) {
        "registry-1.docker.io" => "https://index.docker.io/v1/",
        _ => registry,
    };
    let output = cmd!(sh, "{program} get")
        .stdin(server)
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        return docker_config::helper_answer(&String::from_utf8_lossy(&output.stdout))
            .with_context(|| format!("{program} get, for {registry}"));
    }
    if said.to_ascii_lowercase().contains("credentials not found") {
        return Ok(lookup.stored);
    }
    bail!("the credential helper {program} (`{key}` in {path}) failed for {registry}: {}", said.trim())
}

fn on_path(sh: &Shell, program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = sh.var("PATH").unwrap_or_default();
    std::env::split_paths(&path).filter(|dir| !dir.as_os_str().is_empty()).any(|dir| {
        std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The `Authorization` value for a Basic challenge, or the credentials a token request sends: Basic
/// user and secret, or an identity token for an OAuth2 refresh.
pub fn basic(stored: &Stored) -> Option<String> {
    match stored {
        Stored::Basic { username, secret } => {
            Some(format!("Basic {}", registry_api::base64_encode(format!("{username}:{secret}").as_bytes())))
        }
        _ => None,
    }
}
