//! Registry effects through docker and skopeo: a login session under a private, temporary
//! `DOCKER_CONFIG` (passwords on stdin, the directory removed afterwards, even on failure), reading
//! an index back (digest, platforms, version labels), pushing a loaded image, and pointing a tag at
//! a digest already in the registry. skopeo drops TLS only for registries whose transport is plain
//! HTTP (`Transports`); dockerd decides for `docker login`/`push` by its own insecure-registries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, PushEnv, Shell};

use crate::rules::credentials::{self, Credential};
use crate::rules::labels::VERSION_LABEL;
use crate::rules::publish::Remote;
use crate::rules::retry::{self as rules_retry, Failure};
use crate::rules::transport::{self, Transports};
use crate::tools::{oci, retry};

/// Logged-in state for a release. With credentials from the environment it owns a private
/// `DOCKER_CONFIG`; without, the developer's own docker login and credential helpers apply.
pub struct Session<'a> {
    _env: Option<PushEnv<'a>>,
    _auth_file: Option<PushEnv<'a>>,
    config_dir: Option<PathBuf>,
    pub logins: Vec<String>,
}

impl<'a> Session<'a> {
    pub fn open(sh: &'a Shell, registries: &[String]) -> Result<Session<'a>> {
        let mut credentials: Vec<Credential> = Vec::new();
        for registry in registries {
            if let Some(credential) = credentials::for_registry(registry, |name| sh.var(name).ok())? {
                credentials.push(credential);
            }
        }
        if credentials.is_empty() {
            return Ok(Session { _env: None, _auth_file: None, config_dir: None, logins: Vec::new() });
        }
        if let Some(missing) = registries.iter().find(|r| !credentials.iter().any(|c| &c.registry == *r)) {
            bail!(
                "credentials are set for {} but not for {missing}: set {}_USERNAME/_PASSWORD (or REGISTRY_USERNAME/REGISTRY_PASSWORD for all)",
                credentials.iter().map(|c| c.registry.as_str()).collect::<Vec<_>>().join(", "),
                credentials::per_registry_prefix(missing)
            );
        }
        let dir = private_dir()?;
        // The user's CLI plugins (buildx in ~/.docker/cli-plugins, or in $DOCKER_CONFIG's) stay
        // found: the private config only holds the logins.
        let user_config = sh
            .var("DOCKER_CONFIG")
            .ok()
            .map(PathBuf::from)
            .or_else(|| sh.var("HOME").ok().map(|home| PathBuf::from(home).join(".docker")));
        if let Some(user_config) = user_config {
            let plugins = serde_json::json!({ "cliPluginsExtraDirs": [user_config.join("cli-plugins")] });
            std::fs::write(dir.join("config.json"), plugins.to_string())
                .with_context(|| format!("cannot write {}", dir.join("config.json").display()))?;
        }
        let mut session = Session { _env: None, _auth_file: None, config_dir: Some(dir.clone()), logins: Vec::new() };
        // docker and cosign read DOCKER_CONFIG; skopeo reads REGISTRY_AUTH_FILE (same format).
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
        }
    }
}

/// A directory only this user can read, for the docker config that holds registry tokens.
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
    let dir = base.join(format!("xtask-docker-config-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
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
}

#[derive(Deserialize)]
struct RemoteDescriptor {
    digest: String,
    platform: Option<RemotePlatform>,
}

/// What `skopeo inspect` says of an image manifest.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoteImage {
    os: String,
    architecture: String,
    variant: Option<String>,
    /// `null` when the image has none.
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct RemotePlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// The digest of `reference` in its registry, `None` if the tag does not exist: one manifest
/// request (`skopeo inspect --raw`; skopeo has no HEAD), digested here over its exact bytes — not
/// `skopeo inspect`, which also fetches a platform's manifest and config.
pub fn digest_of(sh: &Shell, transports: &Transports, reference: &str) -> Result<Option<String>> {
    let image = format!("docker://{reference}");
    let raw = skopeo_bytes(sh, transports, &["inspect", "--raw", &image], reference)?;
    Ok(raw.map(|bytes| crate::rules::digest::sha256(&bytes)))
}

/// The digest of the manifest `reference` names, whatever its media type (skopeo's `{{.Digest}}`
/// only knows images; a trivy DB is an OCI artifact). `None` if the tag does not exist.
pub fn manifest_digest(sh: &Shell, transports: &Transports, reference: &str, scratch: &Path) -> Result<Option<String>> {
    let image = format!("docker://{reference}");
    let Some(raw) = skopeo_bytes(sh, transports, &["inspect", "--raw", &image], reference)? else { return Ok(None) };
    std::fs::write(scratch, raw).with_context(|| format!("cannot write {}", scratch.display()))?;
    let digest = cmd!(sh, "skopeo manifest-digest {scratch}").quiet().read();
    let _ = std::fs::remove_file(scratch);
    Ok(Some(digest.with_context(|| format!("skopeo could not digest the manifest of {reference}"))?.trim().to_owned()))
}

/// Reads `reference` back: its digest, platforms and each platform's version label.
pub fn read_back(sh: &Shell, transports: &Transports, reference: &str) -> Result<Option<Remote>> {
    let Some(digest) = digest_of(sh, transports, reference)? else { return Ok(None) };
    let repository = reference.rsplit_once(':').map(|(repo, _)| repo).unwrap_or(reference);
    let pinned = format!("docker://{repository}@{digest}");
    let raw = skopeo(sh, transports, &["inspect", "--raw", &pinned], reference)?.unwrap_or_default();
    let index: RemoteIndex =
        serde_json::from_str(&raw).with_context(|| format!("unexpected manifest of {reference}"))?;
    let mut platforms = BTreeMap::new();
    let mut version_labels = BTreeMap::new();
    if index.manifests.is_empty() {
        // A one-platform image is pushed as its image manifest, not as an index around it.
        let json = skopeo(sh, transports, &["inspect", &pinned], reference)?.unwrap_or_default();
        let image: RemoteImage =
            serde_json::from_str(&json).with_context(|| format!("unexpected `skopeo inspect` of {reference}"))?;
        let name = oci::platform_name(&image.os, &image.architecture, image.variant.as_deref());
        version_labels.insert(name.clone(), image.labels.and_then(|mut l| l.remove(VERSION_LABEL)).unwrap_or_default());
        platforms.insert(name, digest.clone());
        return Ok(Some(Remote { digest, platforms, version_labels }));
    }
    for manifest in index.manifests {
        let Some(p) = manifest.platform.filter(|p| p.os != "unknown") else { continue };
        let mut args = vec!["inspect", "--override-os", &p.os, "--override-arch", &p.architecture];
        if let Some(variant) = &p.variant {
            args.extend(["--override-variant", variant]);
        }
        let format = format!("{{{{index .Labels \"{VERSION_LABEL}\"}}}}");
        args.extend(["--format", &format, &pinned]);
        let label = skopeo(sh, transports, &args, reference)?.unwrap_or_default();
        let name = oci::platform_name(&p.os, &p.architecture, p.variant.as_deref());
        version_labels.insert(name.clone(), label.trim().to_owned());
        platforms.insert(name, manifest.digest);
    }
    Ok(Some(Remote { digest, platforms, version_labels }))
}

/// Runs skopeo; `Ok(None)` when the registry says the tag or repository does not exist.
fn skopeo(sh: &Shell, transports: &Transports, args: &[&str], reference: &str) -> Result<Option<String>> {
    let bytes = skopeo_bytes(sh, transports, args, reference)?;
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// [`skopeo`], with stdout as it came (a manifest's digest is over its exact bytes).
fn skopeo_bytes(sh: &Shell, transports: &Transports, args: &[&str], reference: &str) -> Result<Option<Vec<u8>>> {
    // `inspect`'s flags go after the subcommand.
    let (command, args) = args.split_first().context("skopeo without a subcommand")?;
    let tls = if transports.plain_http(reference) { &["--tls-verify=false"][..] } else { &[] };
    let operation = format!("skopeo {command} {reference}");
    let output = retry::idempotent(&operation, transport::registry_of(reference), || {
        cmd!(sh, "skopeo {command} {tls...} {args...}").quiet().ignore_status().output().context("cannot run skopeo")
    })?;
    if output.status.success() {
        return Ok(Some(output.stdout));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("manifest unknown") || stderr.contains("name unknown") || stderr.contains("not found") {
        return Ok(None);
    }
    let explained = transport::explain(transport::registry_of(reference), &stderr);
    let hint = if let Some(explained) = &explained {
        explained.as_str()
    } else if stderr.contains("unauthorized") || stderr.contains("denied") || stderr.contains("authentication required")
    {
        "the registry wants credentials: set REGISTRY_USERNAME/REGISTRY_PASSWORD (README: Credentials) or `docker login`"
    } else if stderr.contains("certificate") || stderr.contains("x509") {
        "the registry's TLS certificate is not trusted: put its CA in /etc/docker/certs.d/HOST[:PORT]/ca.crt (and SSL_CERT_FILE or the system store, for cosign)"
    } else {
        "is the registry up and reachable from here?"
    };
    bail!("cannot read {reference} from its registry: {hint}\n{}", stderr.trim())
}

/// Pushes an image the engine holds (loaded from the build archive) under `reference`.
pub fn push(sh: &Shell, reference: &str) -> Result<()> {
    // A push of content-addressed layers and a manifest: repeating it writes the same digests.
    let output = retry::idempotent(&format!("docker push {reference}"), transport::registry_of(reference), || {
        cmd!(sh, "docker push --quiet {reference}").quiet().ignore_status().output().context("cannot run docker push")
    })?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let explained =
            transport::explain(transport::registry_of(reference), &said).unwrap_or_else(
                || match rules_retry::classify(&said) {
                    Failure::Permanent(status) => {
                        format!("the registry refused it ({status}; not retried: retrying cannot fix it)")
                    }
                    _ => String::new(),
                },
            );
        bail!("pushing {reference} failed: {explained}\n{}", said.trim());
    }
    Ok(())
}

/// Points `tag` at `source` (a `repo@digest` in the same registry), keeping its digest. Before a
/// retry the tag is read again: a move the registry applied before the connection dropped is done.
pub fn tag_digest(sh: &Shell, transports: &Transports, source: &str, tag: &str) -> Result<()> {
    let (from, to) = (format!("docker://{source}"), format!("docker://{tag}"));
    let tls = if transports.plain_http(tag) { &["--src-tls-verify=false", "--dest-tls-verify=false"][..] } else { &[] };
    let digest = source.rsplit_once('@').map(|(_, digest)| digest);
    let output = retry::run(
        &format!("skopeo copy {source} to {tag}"),
        transport::registry_of(tag),
        || {
            cmd!(sh, "skopeo copy --quiet --all --preserve-digests {tls...} {from} {to}")
                .quiet()
                .ignore_status()
                .output()
                .context("cannot run skopeo")
        },
        || digest.is_some() && digest_of(sh, transports, tag).ok().flatten().as_deref() == digest,
    )?;
    if !output.status.success() {
        bail!("pointing {tag} at {source} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// How dockerd treats registries (`docker info`'s `RegistryConfig`: insecure names and CIDRs).
pub fn daemon_registry_config(sh: &Shell) -> Result<serde_json::Value> {
    let format = "{{json .RegistryConfig}}";
    let json = cmd!(sh, "docker info --format {format}").quiet().read().context("`docker info` failed")?;
    serde_json::from_str(&json).context("unexpected RegistryConfig from `docker info`")
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
