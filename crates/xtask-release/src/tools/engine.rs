//! The docker engine as a whole. What it says about itself (`docker info`, asked once per run as one
//! JSON document: its architecture, image store, registry settings, name and id). Which engine a
//! variant ran on, for its record: the engine's name, id and version, and the buildx builder
//! (`--builder`, else the current one); a merge lists them, it does not trust them. And what the
//! bench does with engines: tell two apart by their ids, copy an image from this one to another,
//! empty the build cache.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::rules::json::nullable;
use crate::tools::process::Job;
use crate::tools::{said, toolset};

/// `docker info`, all of it in one answer: the doctor's checks, preflight's registry settings and a
/// variant's record each read their part of it (one process instead of one per field: each
/// `docker info` is ~0.1 s of the CLI and its plugins' metadata). Preflight asks it beside the
/// other tools' questions (`doctor::questions`).
pub const INFO: &[&str] = &["info", "--format", "{{json .}}"];

/// The fields of `docker info` this engine reads; one missing is empty.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Info {
    pub name: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// The machine's (`uname -m`'s: x86_64, aarch64).
    pub architecture: String,
    /// The storage driver's status pairs; the containerd image store says `io.containerd.snapshotter…`.
    #[serde(deserialize_with = "nullable")]
    pub driver_status: Vec<Vec<String>>,
    /// How dockerd treats registries, left as JSON for `tools::registry` to read.
    pub registry_config: serde_json::Value,
}

impl Info {
    /// Whether the engine stores images in containerd (multi-platform images load with their index).
    pub fn containerd_store(&self) -> bool {
        self.driver_status.iter().flatten().any(|value| value.contains("io.containerd.snapshotter"))
    }

    /// The engine's architecture as platforms name it (amd64, arm64).
    pub fn arch(&self) -> String {
        arch_name(self.architecture.trim())
    }
}

/// A machine architecture (`uname -m`'s) as platforms name it.
pub fn arch_name(arch: &str) -> String {
    match arch {
        "x86_64" => "amd64".to_owned(),
        "aarch64" => "arm64".to_owned(),
        other => other.to_owned(),
    }
}

/// What the engine says about itself (asked once per run); an error when it does not answer.
pub fn info(sh: &Shell) -> Result<Info> {
    let text = said::read(sh, "docker", INFO).context("the Docker engine does not answer `docker info`")?;
    serde_json::from_str(&text).context("`docker info --format '{{json .}}'` answered what this engine cannot read")
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineIdentity {
    /// `docker info`'s Name (the host) and ID.
    pub name: String,
    pub id: String,
    /// The engine's version (`docker version`'s Server.Version).
    pub version: String,
    /// Its os/arch, the platform it builds natively.
    pub platform: String,
    /// The buildx builder the build used, `None` for the current one.
    pub builder: Option<String>,
}

/// Best effort: a field the engine does not report stays empty.
pub fn identity(sh: &Shell, builder: Option<&str>) -> EngineIdentity {
    let info = info(sh).unwrap_or_default();
    // `docker version`'s Server.Version, the first word of the answer preflight's toolset probe has.
    let versions = said::read(sh, "docker", toolset::ENGINE_VERSION).unwrap_or_default();
    EngineIdentity {
        version: versions.split_whitespace().next().unwrap_or_default().to_owned(),
        platform: format!("{}/{}", info.os_type, info.arch()),
        name: info.name,
        id: info.id,
        builder: builder.map(str::to_owned),
    }
}

/// This engine's id (`docker info`'s ID), asked afresh; docker's complaint, if any, is shown.
pub fn id(sh: &Shell) -> Result<String> {
    let format = "{{.ID}}";
    Ok(cmd!(sh, "docker info --format {format}").quiet().read()?)
}

/// The id of the engine at `host` (DOCKER_HOST syntax), docker's complaint hidden.
pub fn id_at(sh: &Shell, host: &str) -> Result<String> {
    let format = "{{.ID}}";
    Ok(cmd!(sh, "docker --host {host} info --format {format}").quiet().ignore_stderr().read()?)
}

/// `docker save IMAGE | docker --host HOST load`: an image of this engine, by digest, on the engine
/// at `host`; `Err` holds what the load said when the copy failed.
pub fn copy_image(sh: &Shell, image: &str, host: &str) -> Result<std::result::Result<(), String>> {
    let save = Job::from(cmd!(sh, "docker save {image}"));
    let load = Job::from(cmd!(sh, "docker --host {host} load --quiet"));
    let loaded = save.pipe_into(&load)?;
    Ok(match loaded.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&loaded.stderr).into_owned()),
    })
}

/// Empties the current builder's build cache (`docker buildx prune --all --force`).
pub fn prune_build_cache(sh: &Shell) -> Result<()> {
    Ok(cmd!(sh, "docker buildx prune --all --force").quiet().ignore_stdout().run()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_info_is_read_in_one_answer() {
        // Docker 28.5's answer (trimmed), on the containerd image store.
        let text = r#"{"ID":"91047f32-4717","Name":"vm","OSType":"linux","Architecture":"aarch64","Driver":"overlayfs",
            "DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]],"Images":32,
            "RegistryConfig":{"IndexConfigs":{"docker.io":{"Name":"docker.io","Secure":true}},
            "InsecureRegistryCIDRs":["::1/128","127.0.0.0/8"],"Mirrors":null}}"#;
        let info: Info = serde_json::from_str(text).unwrap();
        assert_eq!((info.name.as_str(), info.id.as_str(), info.os_type.as_str()), ("vm", "91047f32-4717", "linux"));
        assert_eq!(info.arch(), "arm64");
        assert!(info.containerd_store());
        let config: crate::rules::transport::RegistryConfig = serde_json::from_value(info.registry_config).unwrap();
        assert_eq!(config.insecure_registry_cidrs, ["::1/128", "127.0.0.0/8"]);
        // The classic store (overlay2) reports its backing filesystem; an old engine, a null list.
        let classic =
            r#"{"Architecture":"x86_64","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"]]}"#;
        let classic: Info = serde_json::from_str(classic).unwrap();
        assert!(!classic.containerd_store());
        assert_eq!(classic.arch(), "amd64");
        let null: Info = serde_json::from_str(r#"{"DriverStatus":null}"#).unwrap();
        assert!(!null.containerd_store() && null.registry_config.is_null());
    }
}
