//! A throwaway registry for rehearsing the publish path: `registry:2` on a free loopback port with
//! a fresh self-signed TLS certificate, and a throwaway cosign key. Child processes trust the
//! certificate through SSL_CERT_FILE (system roots plus this one); real registry credentials are
//! hidden from the run (`tools::secrets`) so they are never sent to it, and the throwaway key reaches
//! only cosign. Removed when dropped, whatever happened.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{PushEnv, Shell};

use crate::console;
use crate::rules::transport::Transports;
use crate::tools::{cosign, docker, openssl, registry, registry_container, secrets};

const SYSTEM_BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

pub struct Rehearsal<'a> {
    sh: &'a Shell,
    container: Option<String>,
    dir: PathBuf,
    pub namespace: String,
    _env: Vec<PushEnv<'a>>,
    _secrets: Vec<secrets::Replaced>,
}

impl<'a> Rehearsal<'a> {
    pub fn start(sh: &'a Shell) -> Result<Rehearsal<'a>> {
        let dir = sh.current_dir().join("target/xtask/rehearsal");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let hidden = vec![secrets::hide_registry_credentials()];
        let mut rehearsal =
            Rehearsal { sh, container: None, dir, namespace: String::new(), _env: Vec::new(), _secrets: hidden };
        let bundle = rehearsal.certificate()?;
        rehearsal._env.push(sh.push_env("SSL_CERT_FILE", &bundle));
        rehearsal.signing_key()?;
        rehearsal.run_registry()?;
        Ok(rehearsal)
    }

    /// A certificate for 127.0.0.1, and a CA bundle of the system's roots plus it.
    fn certificate(&self) -> Result<PathBuf> {
        let (key, cert) = (self.dir.join("key.pem"), self.dir.join("cert.pem"));
        openssl::loopback_certificate(self.sh, &key, &cert)
            .context("openssl could not make the rehearsal registry's certificate: install openssl")?;
        let system = SYSTEM_BUNDLES.iter().find_map(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        let bundle = self.dir.join("ca-bundle.pem");
        std::fs::write(&bundle, system + &std::fs::read_to_string(&cert)?)?;
        Ok(bundle)
    }

    /// A cosign key pair that lives only in this process's environment.
    fn signing_key(&mut self) -> Result<()> {
        let password = random_hex()?;
        let dir = &self.dir;
        cosign::generate_key_pair(self.sh, dir, &password)?;
        let key = std::fs::read_to_string(dir.join("cosign.key"))?;
        std::fs::remove_file(dir.join("cosign.key"))?;
        std::fs::remove_file(dir.join("cosign.pub"))?;
        self._secrets.push(secrets::replace(vec![
            ("COSIGN_PRIVATE_KEY".to_owned(), Some(key)),
            ("COSIGN_PASSWORD".to_owned(), Some(password)),
        ]));
        Ok(())
    }

    fn run_registry(&mut self) -> Result<()> {
        let id = registry_container::start_tls(self.sh, &self.dir)?;
        self.container = Some(id.clone());
        let port = docker::published_port(self.sh, &id, 5000)?;
        self.namespace = format!("127.0.0.1:{port}/rehearsal");
        registry::wait_until_up(self.sh, &Transports::default(), &self.namespace)
            .context("the throwaway registry never answered")?;
        console::progress!("    throwaway registry {} (container {})", self.namespace, &id[..12.min(id.len())]);
        Ok(())
    }

    /// Removes the registry and checks that it is gone.
    pub fn remove(mut self) -> Result<()> {
        // Taken, so that `Drop` (which runs next) finds nothing left to remove.
        let (container, namespace) = (self.container.take(), std::mem::take(&mut self.namespace));
        let untagged = cleanup(self.sh, container.as_deref(), &namespace, &self.dir);
        if let Some(id) = container {
            if registry_container::exists(self.sh, &id)? {
                bail!("the throwaway registry {id} is still there after removing it");
            }
            console::progress!("    throwaway registry removed, and the engine's {untagged} tag(s) under it");
        }
        Ok(())
    }
}

impl Drop for Rehearsal<'_> {
    fn drop(&mut self) {
        cleanup(self.sh, self.container.take().as_deref(), &self.namespace, &self.dir);
    }
}

/// Removes the registry container, the images loaded to push to it, and the key and certificate.
fn cleanup(sh: &Shell, container: Option<&str>, namespace: &str, dir: &Path) -> usize {
    if let Some(id) = container {
        registry_container::remove(sh, id);
    }
    let _ = std::fs::remove_dir_all(dir);
    if namespace.is_empty() {
        0
    } else {
        docker::untag_namespace(sh, namespace)
    }
}

/// 32 random hex digits (passwords, names).
pub fn random_hex() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Rehearsal<'_> {
    /// Bytes the registry holds in its blob store (what uploads add to).
    pub fn stored_bytes(&self) -> Result<u64> {
        let id = self.container.as_deref().context("the rehearsal registry is not running")?;
        registry_container::stored_bytes(self.sh, id)
    }

    /// Blob uploads the registry has completed, from its access log.
    pub fn blob_uploads(&self) -> Result<usize> {
        let id = self.container.as_deref().context("the rehearsal registry is not running")?;
        let text = registry_container::log(self.sh, id)?;
        Ok(text.lines().filter(|l| l.contains("http.request.method=PUT") && l.contains("/blobs/uploads/")).count())
    }
}
