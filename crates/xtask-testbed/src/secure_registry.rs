//! A registry with TLS and htpasswd auth on loopback, as registries people push to are: its
//! certificate made for the test, its storage in a host directory so that it can be restarted (or
//! made read-only) in place.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{docker, docker_ok, free_port, untag_local, IMAGE_MANIFEST_MEDIA_TYPES, INDEX_MEDIA_TYPES};

/// A registry with TLS (a throwaway self-signed certificate) and htpasswd auth on a fixed loopback
/// port, its storage in a host directory so that it can be restarted (or made read-only) in place.
pub struct SecureRegistry {
    pub port: u16,
    pub dir: PathBuf,
    pub user: String,
    pub password: String,
    /// Whether `run` lets clients delete manifests (`storage.delete.enabled`).
    pub deletes: bool,
    container: Option<String>,
    certs_d: PathBuf,
}

impl SecureRegistry {
    pub fn start(user: &str, password: &str) -> SecureRegistry {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("xtask-registry-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl");
        let mut htpasswd = Command::new("htpasswd")
            .args(["-iBn", user])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        htpasswd.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
        let out = htpasswd.wait_with_output().unwrap();
        assert!(out.status.success(), "htpasswd");
        std::fs::write(dir.join("htpasswd"), out.stdout).unwrap();
        // Client-side tools (buildx imagetools, cosign) trust the system bundle plus this certificate.
        let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        let cert = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
        std::fs::write(dir.join("bundle.pem"), system + &cert).unwrap();
        // dockerd (login, push) trusts it through certs.d.
        let certs_d = PathBuf::from(format!("/etc/docker/certs.d/127.0.0.1:{port}"));
        std::fs::create_dir_all(&certs_d).unwrap();
        std::fs::write(certs_d.join("ca.crt"), &cert).unwrap();
        let mut registry = SecureRegistry {
            port,
            dir,
            user: user.into(),
            password: password.into(),
            deletes: true,
            container: None,
            certs_d,
        };
        registry.run(false);
        registry
    }

    /// (Re)starts the registry on the same port and storage, accepting writes or not.
    pub fn run(&mut self, read_only: bool) {
        self.stop();
        let deletes = self.deletes;
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n  delete:\n    enabled: {deletes}\n  maintenance:\n    readonly:\n      enabled: {read_only}\n\
             http:\n  addr: :5000\n  tls:\n    certificate: /etc/registry/cert.pem\n    key: /etc/registry/key.pem\n\
             auth:\n  htpasswd:\n    realm: test\n    path: /etc/registry/htpasswd\n"
        );
        std::fs::write(self.dir.join("config.yml"), config).unwrap();
        let mount = |from: &str, to: &str| format!("type=bind,source={},target={to}", self.dir.join(from).display());
        let container = docker_ok(&[
            "run",
            "--detach",
            "--publish",
            &format!("127.0.0.1:{}:5000", self.port),
            "--mount",
            &mount(".", "/etc/registry"),
            "--mount",
            &mount("data", "/var/lib/registry"),
            "registry:2",
            "/etc/registry/config.yml",
        ]);
        self.container = Some(container);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.curl(&["--output", "/dev/null", "--write-out", "%{http_code}", &self.url("/v2/")]).0 != "200" {
            assert!(Instant::now() < deadline, "registry on {} did not come up", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        if let Some(container) = self.container.take() {
            let _ = docker(&["rm", "--force", &container]);
        }
    }

    pub fn namespace(&self) -> String {
        format!("127.0.0.1:{}/acme", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// curl with the credentials on stdin (never in argv) and the registry's certificate trusted.
    fn curl(&self, args: &[&str]) -> (String, bool) {
        let mut child = Command::new("curl")
            .args(["--silent", "--cacert"])
            .arg(self.dir.join("cert.pem"))
            .args(["--config", "-"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let config = format!("user = \"{}:{}\"\n", self.user, self.password);
        child.stdin.take().unwrap().write_all(config.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.success())
    }

    pub fn catalog(&self) -> Vec<String> {
        let (body, _) = self.curl(&[&self.url("/v2/_catalog")]);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        json["repositories"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)).collect()
    }

    /// Tags of `acme/<image>`, signature and attestation tags left out.
    pub fn tags(&self, image: &str) -> Vec<String> {
        let (body, _) = self.curl(&[&self.url(&format!("/v2/acme/{image}/tags/list"))]);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let mut tags: Vec<String> = json["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .filter(|t| !t.starts_with("sha256-"))
            .collect();
        tags.sort();
        tags
    }

    /// The digest a tag points at, as the registry says.
    pub fn digest(&self, image: &str, tag: &str) -> Option<String> {
        let url = self.url(&format!("/v2/acme/{image}/manifests/{tag}"));
        let (headers, _) = self.curl(&[
            "--head",
            "--header",
            &format!("Accept: {INDEX_MEDIA_TYPES}, {IMAGE_MANIFEST_MEDIA_TYPES}"),
            &url,
        ]);
        headers
            .lines()
            .find_map(|l| l.strip_prefix("docker-content-digest:").or_else(|| l.strip_prefix("Docker-Content-Digest:")))
            .map(|d| d.trim().to_owned())
    }

    /// The manifest (an index, or an image manifest) `reference` (a tag or digest) of `acme/<image>`.
    pub fn manifest(&self, image: &str, reference: &str) -> serde_json::Value {
        let url = self.url(&format!("/v2/acme/{image}/manifests/{reference}"));
        let accept = format!("Accept: {INDEX_MEDIA_TYPES}, {IMAGE_MANIFEST_MEDIA_TYPES}");
        let (body, ok) = self.curl(&["--fail", "--header", &accept, &url]);
        assert!(ok, "GET {url}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
    }

    /// Writes `manifest` (of `media_type`) as `acme/<image>:<reference>`, as anyone with push
    /// access can: a referrers index put in another order, say.
    pub fn put_manifest(&self, image: &str, reference: &str, media_type: &str, manifest: &serde_json::Value) {
        let url = self.url(&format!("/v2/acme/{image}/manifests/{reference}"));
        let file = self.dir.join(format!("manifest-{reference}.json"));
        std::fs::write(&file, serde_json::to_vec(manifest).unwrap()).unwrap();
        let content_type = format!("Content-Type: {media_type}");
        let data = format!("@{}", file.display());
        let (body, ok) =
            self.curl(&["--fail", "--request", "PUT", "--header", &content_type, "--data-binary", &data, &url]);
        assert!(ok, "PUT {url}: {body}");
    }

    /// The JSON blob `digest` of `acme/<image>` (an image config).
    pub fn json_blob(&self, image: &str, digest: &str) -> serde_json::Value {
        let url = self.url(&format!("/v2/acme/{image}/blobs/{digest}"));
        let (body, ok) = self.curl(&["--fail", "--location", &url]);
        assert!(ok, "GET {url}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
    }

    /// The environment a release against this registry runs with (its own credentials, trusted
    /// CA). Per-registry variables: a release to it names it with `--registry`, and the generic
    /// `REGISTRY_USERNAME`/`_PASSWORD` pair is refused for an overridden registry.
    pub fn env(&self) -> Vec<(String, String)> {
        let prefix = self.credential_prefix();
        vec![
            (format!("{prefix}_USERNAME"), self.user.clone()),
            (format!("{prefix}_PASSWORD"), self.password.clone()),
            ("SSL_CERT_FILE".into(), self.dir.join("bundle.pem").display().to_string()),
        ]
    }

    /// `XTASK_REGISTRY_127_0_0_1_<PORT>`: its per-registry credential variables' prefix.
    pub fn credential_prefix(&self) -> String {
        format!("XTASK_REGISTRY_127_0_0_1_{}", self.port)
    }
}

impl Drop for SecureRegistry {
    fn drop(&mut self) {
        self.stop();
        untag_local(&format!("127.0.0.1:{}", self.port));
        let _ = std::fs::remove_dir_all(&self.certs_d);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
