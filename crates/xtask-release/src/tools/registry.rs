//! Registry effects: a login session under a private, temporary `DOCKER_CONFIG` (passwords on
//! stdin to `docker login`, the directory removed afterwards, even on failure or SIGINT/SIGTERM,
//! and a killed run's by the next: `tools::signals`); and, through the one registry client
//! (`tools::registry_client`, which reads that config's logins), reading a tag's digest (absent only
//! when the registry says so), reading an index back (digest, platforms, version labels, annotations,
//! sizes), and
//! pointing a tag at a digest already in the registry. Plain HTTP only for registries whose
//! transport is (`Transports`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, PushEnv, Shell};

use crate::rules::credentials::{self, Credential};
use crate::rules::labels::VERSION_LABEL;
use crate::rules::publish::Remote;
use crate::rules::size_budget;
use crate::rules::transport::{self, Transports};
use crate::tools::files::{self, Access};
use crate::tools::registry_client::Client;
use crate::tools::{oci, retry, secrets, signals};

/// The login session's private directories: `<PREFIX>-<pid>-<n>` under `$XDG_RUNTIME_DIR` or the
/// temporary directory.
const CONFIG_PREFIX: &str = "xtask-docker-config";

/// Logged-in state for a release. With credentials from the environment it owns a private
/// `DOCKER_CONFIG`; without, the developer's own docker login and credential helpers apply.
pub struct Session<'a> {
    _env: Option<PushEnv<'a>>,
    _auth_file: Option<PushEnv<'a>>,
    config_dir: Option<PathBuf>,
    pub logins: Vec<String>,
}

impl<'a> Session<'a> {
    /// Logs in to each of `registries` whose credentials are set (the run's secrets: exactly that
    /// host's; the generic pair only when the registry is not `overridden`).
    pub fn open(sh: &'a Shell, registries: &[String], overridden: bool) -> Result<Session<'a>> {
        let mut credentials: Vec<Credential> = Vec::new();
        for registry in registries {
            if let Some(credential) = credentials::for_registry(registry, overridden, secrets::lookup(sh))? {
                credentials.push(credential);
            }
        }
        if credentials.is_empty() {
            return Ok(Session { _env: None, _auth_file: None, config_dir: None, logins: Vec::new() });
        }
        if let Some(missing) = registries.iter().find(|r| !credentials.iter().any(|c| &c.registry == *r)) {
            bail!(
                "credentials are set for {} but not for {missing}: set {}_USERNAME/_PASSWORD{}",
                credentials.iter().map(|c| c.registry.as_str()).collect::<Vec<_>>().join(", "),
                credentials::per_registry_prefix(missing),
                if overridden { "" } else { " (or REGISTRY_USERNAME/REGISTRY_PASSWORD for all)" }
            );
        }
        let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = signals::private_dir(&base, CONFIG_PREFIX)?;
        let mut session = Session { _env: None, _auth_file: None, config_dir: Some(dir.clone()), logins: Vec::new() };
        // The user's CLI plugins (buildx in ~/.docker/cli-plugins, or in $DOCKER_CONFIG's) stay
        // found: the private config only holds the logins.
        let user_config = sh
            .var("DOCKER_CONFIG")
            .ok()
            .map(PathBuf::from)
            .or_else(|| sh.var("HOME").ok().map(|home| PathBuf::from(home).join(".docker")));
        if let Some(user_config) = user_config {
            let plugins = serde_json::json!({ "cliPluginsExtraDirs": [user_config.join("cli-plugins")] });
            files::write(&dir.join("config.json"), plugins.to_string().as_bytes(), Access::Secret)?;
        }
        // docker and cosign read DOCKER_CONFIG; the registry client (`tools::registry_auth`) reads
        // REGISTRY_AUTH_FILE first, as skopeo does (same format): both name the session's logins.
        session._env = Some(sh.push_env("DOCKER_CONFIG", &dir));
        session._auth_file = Some(sh.push_env("REGISTRY_AUTH_FILE", dir.join("config.json")));
        for credential in &credentials {
            login(sh, credential)?;
            session.logins.push(credential.registry.clone());
        }
        Ok(session)
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self._env = None;
        self._auth_file = None;
        if let Some(dir) = &self.config_dir {
            let _ = std::fs::remove_dir_all(dir);
            signals::forget(dir);
        }
    }
}

fn login(sh: &Shell, credential: &Credential) -> Result<()> {
    let (registry, username) = (&credential.registry, &credential.username);
    let output = retry::idempotent(&format!("docker login {registry}"), registry, || {
        cmd!(sh, "docker login --username {username} --password-stdin {registry}")
            .stdin(credential.password.expose())
            .quiet()
            .ignore_status()
            .output()
            .context("cannot run `docker login`")
    })?;
    if !output.status.success() {
        let said = redact(&String::from_utf8_lossy(&output.stderr), credential);
        if let Some(explained) = transport::explain(registry, &said) {
            bail!("{explained}\ndocker login said: {}", said.trim());
        }
        bail!(
            "{registry} did not accept the credentials from {}: check them (nothing was built or pushed). docker said: {}",
            credential.source,
            said.trim()
        );
    }
    Ok(())
}

fn redact(text: &str, credential: &Credential) -> String {
    text.replace(credential.password.expose(), "***")
}

#[derive(Deserialize)]
struct RemoteIndex {
    #[serde(default)]
    manifests: Vec<RemoteDescriptor>,
    /// An image manifest's config (a one-platform image is pushed without an index around it).
    config: Option<RemoteDescriptor>,
    /// An image manifest's layers.
    #[serde(default)]
    layers: Vec<RemoteDescriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl RemoteIndex {
    /// An image manifest's size as pushed (`rules::size_budget::image_size`).
    fn image_size(&self) -> u64 {
        let config = self.config.as_ref().map_or(0, |c| c.size);
        size_budget::image_size(config, self.layers.iter().map(|layer| layer.size))
    }
}

#[derive(Deserialize)]
struct RemoteDescriptor {
    digest: String,
    #[serde(default)]
    size: u64,
    platform: Option<RemotePlatform>,
}

/// An image config: its platform and labels.
#[derive(Deserialize)]
struct RemoteConfig {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    variant: Option<String>,
    config: Option<RemoteContainerConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoteContainerConfig {
    /// `null` when the image has none.
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct RemotePlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// The digest of `reference` in its registry, `None` only if the registry says the tag does not
/// exist (404 with `MANIFEST_UNKNOWN` or `NAME_UNKNOWN`; any other answer is an error naming it):
/// one manifest request, digested here over its exact bytes.
pub fn digest_of(sh: &Shell, transports: &Transports, reference: &str) -> Result<Option<String>> {
    let (client, parts) = Client::of(sh, transports, reference)?;
    Ok(client.manifest(parts.repository, parts.reference)?.map(|m| m.digest))
}

/// The digest of the manifest `reference` names, whatever its media type (a trivy DB is an OCI
/// artifact). `None` if the tag does not exist.
pub fn manifest_digest(
    sh: &Shell,
    transports: &Transports,
    reference: &str,
    _scratch: &Path,
) -> Result<Option<String>> {
    digest_of(sh, transports, reference)
}

/// Reads `reference` back: its digest, platforms, the index's annotations and each platform's
/// version label, annotations and size.
pub fn read_back(sh: &Shell, transports: &Transports, reference: &str) -> Result<Option<Remote>> {
    let (client, parts) = Client::of(sh, transports, reference)?;
    let repository = parts.repository;
    let Some(manifest) = client.manifest(repository, parts.reference)? else { return Ok(None) };
    let digest = manifest.digest.clone();
    let index: RemoteIndex =
        serde_json::from_slice(&manifest.bytes).with_context(|| format!("unexpected manifest of {reference}"))?;
    let mut remote = Remote { digest: digest.clone(), ..Remote::default() };
    let config_of = |config: &RemoteDescriptor| -> Result<RemoteConfig> {
        let bytes = client.blob(repository, &config.digest)?;
        serde_json::from_slice(&bytes).with_context(|| format!("unexpected image config of {reference}"))
    };
    let label = |config: RemoteConfig| config.config.and_then(|c| c.labels).and_then(|mut l| l.remove(VERSION_LABEL));
    if let Some(config) = &index.config {
        // A one-platform image is pushed as its image manifest, not as an index around it.
        let config = config_of(config)?;
        let name = oci::platform_name(&config.os, &config.architecture, config.variant.as_deref());
        remote.version_labels.insert(name.clone(), label(config).unwrap_or_default());
        remote.sizes.insert(name.clone(), index.image_size());
        remote.manifest_annotations.insert(name.clone(), index.annotations);
        remote.platforms.insert(name, digest);
        return Ok(Some(remote));
    }
    remote.index_annotations = index.annotations;
    for descriptor in index.manifests {
        let Some(p) = descriptor.platform.filter(|p| p.os != "unknown") else { continue };
        let child = client
            .manifest(repository, &descriptor.digest)?
            .with_context(|| format!("{reference} lists {} but the registry does not serve it", descriptor.digest))?;
        let image: RemoteIndex =
            serde_json::from_slice(&child.bytes).with_context(|| format!("unexpected manifest of {reference}"))?;
        let config =
            image.config.as_ref().with_context(|| format!("{} of {reference} is not an image", descriptor.digest))?;
        let name = oci::platform_name(&p.os, &p.architecture, p.variant.as_deref());
        remote.version_labels.insert(name.clone(), label(config_of(config)?).unwrap_or_default().trim().to_owned());
        remote.sizes.insert(name.clone(), image.image_size());
        remote.manifest_annotations.insert(name.clone(), image.annotations);
        remote.platforms.insert(name, descriptor.digest);
    }
    Ok(Some(remote))
}

/// Points `tag` at `source` (a `repo@digest` in the same repository): the manifest is read by its
/// digest and written under the tag, byte for byte. Repeating it writes the same, so each request
/// is simply retried.
pub fn tag_digest(sh: &Shell, transports: &Transports, source: &str, tag: &str) -> Result<()> {
    let (client, from) = Client::of(sh, transports, source)?;
    let (_, to) = Client::of(sh, transports, tag)?;
    let manifest = client
        .manifest(from.repository, from.reference)?
        .with_context(|| format!("pointing {tag} at {source}: the registry does not have {source}"))?;
    client.put_manifest(to.repository, to.reference, &manifest).with_context(|| format!("pointing {tag} at {source}"))
}

/// How dockerd treats registries (`docker info`'s `RegistryConfig`: insecure names and CIDRs); an
/// answer of another shape is an error naming the engine's version.
pub fn daemon_registry_config(sh: &Shell) -> Result<crate::rules::transport::RegistryConfig> {
    let info = crate::tools::engine::info(sh)?;
    serde_json::from_value(info.registry_config).with_context(|| {
        let engine = crate::tools::toolset::engine(sh).map_or("(version unknown)".to_owned(), |(e, _)| e.to_string());
        format!(
            "docker engine {engine} answered `docker info` with a RegistryConfig this engine cannot read: \
             upgrade xtask-release or report it"
        )
    })
}

/// Waits (up to 20 s) for the registry serving `namespace` (`HOST:PORT/PATH`) to answer a read.
pub fn wait_until_up(sh: &Shell, transports: &Transports, namespace: &str) -> Result<()> {
    let probe = format!("{namespace}/probe:none");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match digest_of(sh, transports, &probe) {
            Ok(_) => return Ok(()),
            Err(error) if std::time::Instant::now() > deadline => {
                return Err(error.context(format!("the registry of {namespace} never answered")))
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}
