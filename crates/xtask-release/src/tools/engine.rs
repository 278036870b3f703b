//! The docker engine as a whole. Which engine a variant ran on, for its record: the engine's name,
//! id and version, and the buildx builder (`--builder`, else the current one); a merge lists them,
//! it does not trust them. And what the bench does with engines: tell two apart by their ids, copy
//! an image from this one to another, empty the build cache.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::tools::process::Job;
use crate::tools::said;

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
    let read = |format: &str| said::read(sh, "docker", &["info", "--format", format]).unwrap_or_default();
    let version_format = "{{.Server.Version}}";
    EngineIdentity {
        name: read("{{.Name}}"),
        id: read("{{.ID}}"),
        version: said::read(sh, "docker", &["version", "--format", version_format]).unwrap_or_default(),
        platform: format!(
            "{}/{}",
            read("{{.OSType}}"),
            read("{{.Architecture}}").replace("x86_64", "amd64").replace("aarch64", "arm64")
        ),
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
