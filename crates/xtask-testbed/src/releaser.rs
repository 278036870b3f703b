//! A release environment for the integration tests: a committed copy of the workspace, a registry
//! with TLS and htpasswd auth, a throwaway cosign key in the environment, and runs of the xtask
//! watched for the registry password in every process's argv, in the output and in files.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

pub const USER: &str = "releaser";
// Built at run time: a literal here would be findable in this file, not only in a leak.
pub fn password() -> String {
    format!("pw-{}-{}", std::process::id(), "Zq8vLm2Rt")
}

pub struct Releaser {
    pub fixture: Fixture,
    pub registry: SecureRegistry,
    /// Registry credentials, its CA and a cosign key, as CI would pass them.
    pub env: Vec<(String, String)>,
}

impl Releaser {
    pub fn new(name: &str) -> Releaser {
        let fixture = Fixture::ledger(name);
        fixture.edit("Cargo.toml", "release-branches = [\"main\"]", "release-branches = [\"main\", \"release-1.0\"]");
        fixture.one_platform_per_image();
        fixture.commit("one platform per image, and the 1.0 maintenance branch");
        let registry = SecureRegistry::start(USER, &password());
        let mut env = registry.env();
        // A cosign key pair made for this test, given to the release the way CI would: in the environment.
        env.extend(signing_env(&fixture.dir));
        Releaser { fixture, registry, env }
    }

    pub fn release(&self) -> std::process::Output {
        self.release_with(&self.env)
    }

    pub fn release_with(&self, env: &[(String, String)]) -> std::process::Output {
        let namespace = self.registry.namespace();
        self.run_watched(&["release", "--execute", "--registry", &namespace, "--image", "ledger"], env)
    }

    /// `cargo xtask release retract ARGS… --registry <the test registry>`.
    pub fn retract(&self, args: &[&str]) -> std::process::Output {
        let namespace = self.registry.namespace();
        let args: Vec<&str> = ["release", "retract"]
            .iter()
            .chain(args)
            .chain(&["--registry", &namespace, "--image", "ledger"])
            .copied()
            .collect();
        self.run_watched(&args, &self.env)
    }

    /// Runs the xtask while watching every process's command line for the password, then checks
    /// that neither its output nor any file under target/ holds it.
    pub fn run_watched(&self, args: &[&str], env: &[(String, String)]) -> std::process::Output {
        let secret = password();
        let watch = Watch::start(&[&secret]);
        let out = xtask_env(&self.fixture.dir, args, env);
        let leaks = watch.finish();
        assert!(leaks.is_empty(), "the password appeared in a process's argv: {leaks:?}");
        let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!output.contains(&secret), "the password appeared in the output");
        assert_no_file_contains(&self.fixture.dir.join("target"), &secret);
        out
    }

    pub fn set_version(&self, version: &str) {
        let out = self.fixture.xtask(&["version", "set", version, "--commit", "--tag"]);
        assert!(out.status.success(), "version set {version}: {}", stderr(&out));
    }

    /// Sets, commits and tags `version`, releases it, and returns the released index digest.
    pub fn release_version(&self, version: &str) -> String {
        self.set_version(version);
        succeeded(&self.release(), &format!("release {version}"));
        self.record()["images"][0]["index_digest"].as_str().unwrap().to_owned()
    }

    /// Every tag of the image (signatures and attestations left out) and the digest it points at.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.registry
            .tags("ledger")
            .into_iter()
            .map(|t| {
                let digest = self.registry.digest("ledger", &t).unwrap_or_default();
                (t, digest)
            })
            .collect()
    }

    pub fn record(&self) -> serde_json::Value {
        read_json(&self.fixture.dir.join("target/xtask/image-ledger/release-record.json"))
    }
}

pub fn assert_no_file_contains(dir: &Path, secret: &str) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            assert_no_file_contains(&path, secret);
        } else if kind.is_file() && entry.metadata().unwrap().len() < 64 << 20 {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                memchr::memmem::find(&bytes, secret.as_bytes()).is_none(),
                "the password was written to {}",
                path.display()
            );
        }
    }
}

pub fn succeeded(out: &std::process::Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}", stderr(out));
}

/// The run failed, and its error output says each of `needles`.
pub fn refused(out: &std::process::Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "must be refused:\n{err}");
    for needle in needles {
        assert!(err.contains(needle), "the refusal should say {needle:?}:\n{err}");
    }
}

impl SecureRegistry {
    /// A docker config logged in to this registry (for cosign run by the test), under its directory.
    pub fn docker_config(&self) -> PathBuf {
        let config = self.dir.join("docker-config");
        let mut login = Command::new("docker")
            .args(["login", "--username", &self.user, "--password-stdin", &format!("127.0.0.1:{}", self.port)])
            .env("DOCKER_CONFIG", &config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        login.stdin.take().unwrap().write_all(self.password.as_bytes()).unwrap();
        assert!(login.wait().unwrap().success(), "docker login to the test registry");
        config
    }
}

/// A throwaway cosign key pair made in the workspace copy `dir` (and removed), as the environment a
/// release reads it from.
pub fn signing_env(dir: &Path) -> Vec<(String, String)> {
    let keys = dir.join("target/keys");
    std::fs::create_dir_all(&keys).unwrap();
    let status = Command::new("cosign")
        .args(["generate-key-pair"])
        .current_dir(&keys)
        .env("COSIGN_PASSWORD", "key-pass")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "cosign generate-key-pair");
    let key = std::fs::read_to_string(keys.join("cosign.key")).unwrap();
    std::fs::remove_dir_all(&keys).unwrap();
    vec![("COSIGN_PRIVATE_KEY".into(), key), ("COSIGN_PASSWORD".into(), "key-pass".into())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_any_file_under_the_directory_is_found() {
        let dir = std::env::temp_dir().join(format!("xtask-testbed-leak-{}", std::process::id()));
        let _removed = RemovedOnDrop(dir.clone());
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/clean"), vec![b'p'; 1 << 20]).unwrap();
        assert_no_file_contains(&dir, "pw-secret");
        let mut leaked = vec![b'x'; 1 << 20];
        leaked.extend_from_slice(b"pw-secret");
        std::fs::write(dir.join("a/b/image.oci.tar"), leaked).unwrap();
        let found = std::panic::catch_unwind(|| assert_no_file_contains(&dir, "pw-secret"));
        assert!(found.is_err(), "the password at the end of a nested file must be found");
    }
}
