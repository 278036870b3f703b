//! The plain-HTTP `registry:2` on loopback, as the tests read it (its catalog and tags), and as a
//! vulnerability DB mirror serving trivy DBs built from advisories a test writes, with the tool the
//! testbed's own mirror is made with.

use std::path::PathBuf;
use std::process::Command;

use super::{http_get, Registry, IMAGE_MANIFEST_MEDIA_TYPES, INDEX_MEDIA_TYPES};

impl Registry {
    /// The repositories the registry holds (`/v2/_catalog`).
    pub fn catalog(&self) -> Vec<String> {
        let response = http_get(self.port, "/v2/_catalog", &[]).expect("the registry answers");
        let json: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
        json["repositories"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(String::from)).collect()
    }

    /// The tags of `repository`, sorted (signature and attestation tags included).
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let response = http_get(self.port, &format!("/v2/{repository}/tags/list"), &[]).expect("the registry answers");
        let json: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
        let mut tags: Vec<String> =
            json["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(String::from)).collect();
        tags.sort();
        tags
    }

    /// The digest `repository:tag` points at, as the registry itself says (`None`: no such tag, or
    /// no answer).
    pub fn digest(&self, repository: &str, tag: &str) -> Option<String> {
        let accept = format!("{INDEX_MEDIA_TYPES}, {IMAGE_MANIFEST_MEDIA_TYPES}");
        let response = http_get(self.port, &format!("/v2/{repository}/manifests/{tag}"), &[("Accept", &accept)])?;
        (response.status == 200).then(|| response.header("Docker-Content-Digest").unwrap_or_default().to_owned())
    }
}

/// A plain-HTTP registry on loopback serving trivy vulnerability DBs built from advisories a test
/// writes (`trivy-db/mirror.py`, the tool the testbed's own mirror is made with).
pub struct DbMirror {
    pub registry: Registry,
    dir: PathBuf,
}

impl DbMirror {
    pub fn start() -> DbMirror {
        let registry = Registry::start();
        let dir = std::env::temp_dir().join(format!("xtask-db-mirror-{}-{}", std::process::id(), registry.port));
        std::fs::create_dir_all(&dir).unwrap();
        DbMirror { registry, dir }
    }

    /// Builds a DB of `advisories` (advisories.toml's format), updated `updated_ago` (`0`, `72h`),
    /// pushes it as `<name>:2` and returns that reference.
    pub fn push(&self, name: &str, advisories: &str, updated_ago: &str) -> String {
        let file = self.dir.join(format!("{name}.toml"));
        std::fs::write(&file, advisories).unwrap();
        let reference = format!("{}/{name}:2", self.registry.host());
        let out = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/trivy-db/mirror.py"))
            .args(["push", &reference, "--advisories"])
            .arg(&file)
            .args(["--updated-ago", updated_ago, "--wait", "10s"])
            .output()
            .expect("run mirror.py");
        assert!(out.status.success(), "mirror.py push {reference}: {}", String::from_utf8_lossy(&out.stderr));
        reference
    }
}

impl Drop for DbMirror {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One advisory in advisories.toml's format (`fixed: None`: no fixed version).
pub fn advisory(id: &str, krate: &str, vulnerable: &str, fixed: Option<&str>, severity: &str) -> String {
    let fixed = fixed.map(|f| format!("fixed = \"{f}\"\n")).unwrap_or_default();
    format!(
        "[[advisory]]\nid = \"{id}\"\ncrate = \"{krate}\"\nvulnerable = \"{vulnerable}\"\n{fixed}\
         severity = \"{severity}\"\ntitle = \"{krate}: {severity} test advisory {id}\"\n\n"
    )
}
