//! A registry that is not loopback and speaks plain HTTP: refused with an error naming the setting
//! until it is listed in `insecure-registries`, then released to over plain HTTP by every tool
//! (docker push, skopeo, cosign), with a warning naming it on every run. The registry is Debian's
//! `docker-registry`, run inside a network namespace this test creates, on an address of
//! 198.18.0.0/15 (reserved for testing; the testbed lists that range as insecure for dockerd): never
//! an address outside this machine. The release also runs with `--scanners secret,misconfig` and
//! records that policy, marked as an override.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use xtask_testbed::*;

/// `docker-registry` in a fresh network namespace, reached from here over a veth pair.
struct NamespacedRegistry {
    namespace: String,
    address: String,
    dir: PathBuf,
    server: Option<Child>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip (iproute2) is installed");
    assert!(out.status.success(), "ip {args:?}: {} (this test needs root)", String::from_utf8_lossy(&out.stderr));
}

impl NamespacedRegistry {
    fn start() -> NamespacedRegistry {
        let pid = std::process::id();
        // A /30 of 198.18.0.0/15 of its own per process: .1 here, .2 in the namespace.
        let (high, low) = ((pid >> 6) & 0xff, (pid & 0x3f) << 2);
        let (here, there) = (format!("198.18.{high}.{}", low + 1), format!("198.18.{high}.{}", low + 2));
        let namespace = format!("xtask-insecure-{pid}");
        let (host_end, ns_end) = (format!("xti{pid}h"), format!("xti{pid}n"));
        let dir = std::env::temp_dir().join(&namespace);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let mut registry =
            NamespacedRegistry { namespace: namespace.clone(), address: format!("{there}:5000"), dir, server: None };
        ip(&["netns", "add", &namespace]);
        ip(&["link", "add", &host_end, "type", "veth", "peer", "name", &ns_end]);
        ip(&["link", "set", &ns_end, "netns", &namespace]);
        ip(&["addr", "add", &format!("{here}/30"), "dev", &host_end]);
        ip(&["link", "set", &host_end, "up"]);
        ip(&["netns", "exec", &namespace, "ip", "addr", "add", &format!("{there}/30"), "dev", &ns_end]);
        ip(&["netns", "exec", &namespace, "ip", "link", "set", &ns_end, "up"]);
        let config = registry.dir.join("config.yml");
        let storage = registry.dir.join("data");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {}\n",
                storage.display(),
                registry.address
            ),
        )
        .unwrap();
        let log = std::fs::File::create(registry.dir.join("registry.log")).unwrap();
        registry.server = Some(
            Command::new("ip")
                .args(["netns", "exec", &namespace, "docker-registry", "serve"])
                .arg(&config)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("Debian's docker-registry is installed (`bash .ci/testbed.sh`)"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while registry.get("/v2/").is_none() {
            assert!(Instant::now() < deadline, "docker-registry in {namespace} did not answer on {}", registry.address);
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }

    /// A plain-HTTP GET to the namespaced registry, its body if it answered 200.
    fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect_timeout(&self.address.parse().ok()?, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.address).ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
    }

    fn tags(&self) -> Vec<String> {
        let body = self.get("/v2/acme/ledger/tags/list").unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        json["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(String::from)).collect()
    }
}

impl Drop for NamespacedRegistry {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        untag_local(&self.address);
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip").args(["netns", "delete", &self.namespace]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_listed_insecure_registry_is_released_to_over_plain_http_with_a_warning() {
    let _engine = engine_lock();
    let registry = NamespacedRegistry::start();
    let fixture = Fixture::ledger("insecure");
    let env = signing_env(&fixture.dir);
    let namespace = format!("{}/acme", registry.address);
    let release = || {
        xtask_env(
            &fixture.dir,
            &["release", "--execute", "--registry", &namespace, "--image", "ledger", "--scanners", "secret,misconfig"],
            &env,
        )
    };

    // Not loopback, not listed: HTTPS only, and a plain-HTTP answer is named for what it is.
    let out = release();
    let err = stderr(&out);
    assert!(!out.status.success(), "an unlisted plain-HTTP registry must be refused");
    assert!(err.contains(&format!("{} answers plain HTTP where HTTPS was expected", registry.address)), "{err}");
    assert!(err.contains("[workspace.metadata.xtask] insecure-registries"), "{err}");
    assert!(err.contains("<== preflight FAILED") && !err.contains("==> build"), "{err}");
    assert!(registry.tags().is_empty());

    // Listed: released over plain HTTP, signed and verified, with a warning naming it.
    fixture.edit(
        "Cargo.toml",
        "release-branches = [\"main\"]",
        &format!("release-branches = [\"main\"]\ninsecure-registries = [\"{}\"]", registry.address),
    );
    fixture.one_platform_per_image();
    fixture.commit("list the namespaced registry as insecure");
    let out = release();
    let err = stderr(&out);
    assert!(out.status.success(), "the listed registry:\n{err}");
    let warning = format!("warning: {} is listed in [workspace.metadata.xtask] insecure-registries", registry.address);
    assert!(err.contains(&warning), "{err}");
    assert!(err.contains(&format!("{}: plain HTTP (listed in insecure-registries", registry.address)), "{err}");
    assert!(err.contains("signature, SBOM and provenance verify"), "{err}");
    let mut tags = registry.tags();
    tags.sort();
    assert!(["0.1", "0.1.0", "latest"].iter().all(|t| tags.contains(&t.to_string())), "{tags:?}");
    assert!(signature_tags_present(&tags), "{tags:?}");

    // The policy it ran with, recorded: secret and misconfig only, marked as an override.
    let record = read_json(&fixture.dir.join("target/xtask/image-ledger/release-record.json"));
    assert_eq!(record["scan"]["policy"]["scanners"], serde_json::json!(["secret", "misconfig"]));
    assert_eq!(record["scan"]["overrides"][0]["setting"], "scanners");
    assert_eq!(record["scan"]["overrides"][0]["by"], "--scanners");
    assert_eq!(record["scan"]["db"], serde_json::Value::Null, "no vuln scanner, no DB");
    assert!(
        err.contains("scanners secret, misconfig (override: --scanners; configured vuln, secret, misconfig)"),
        "{err}"
    );
}
