//! One image's table, `[workspace.metadata.xtask.images.<name>]`: its type, and the checks that
//! serde cannot express (part of `rules::config`).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{default_context, inside_workspace, invalid, non_empty_unique, Platform, SmokeConfig};
use crate::rules::labels;
use crate::rules::reference::{is_path_component, Repository};
use crate::rules::service;
use crate::rules::size_budget;
use crate::rules::system_libraries;

/// `[workspace.metadata.xtask.images.<name>]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageConfig {
    /// The workspace crate whose binary the image carries.
    pub package: String,
    /// The binary target of `package` to ship; default: the package's only binary.
    #[serde(default)]
    pub binary: Option<String>,
    /// The Dockerfile, relative to the workspace root and inside it (no `..`, no absolute path, no
    /// symlink out of it); default: the engine's own
    /// (`rules::dockerfile::ENGINE_DOCKERFILE`, written to `target/xtask/engine/Dockerfile`).
    #[serde(default)]
    pub dockerfile: Option<String>,
    /// The build context, relative to the workspace root and inside it (as `dockerfile`). Default `"."`.
    #[serde(default = "default_context")]
    pub context: String,
    /// The Dockerfile stage to build (`--target`); the last stage when absent.
    #[serde(default)]
    pub target: Option<String>,
    /// The platforms of the multi-arch image: non-empty, no duplicates.
    pub platforms: Vec<Platform>,
    /// Fully qualified repositories to push to (`ghcr.io/acme/beacon`): non-empty, lower case.
    pub repositories: Vec<String>,
    /// `[…images.<name>.smoke]`: the smoke test's command and expected output.
    #[serde(default)]
    pub smoke: SmokeConfig,
    /// Ship the time zone database (`/usr/share/zoneinfo`, Debian's tzdata). Default `false`.
    #[serde(default)]
    pub tzdata: bool,
    /// Debian development packages the build installs for each platform besides those the engine
    /// detects (`rules::system_libraries`), e.g. `["libfoo-dev"]`; set (even empty), it also says that
    /// the linked crates probing pkg-config the engine does not know are taken care of. Default: none.
    #[serde(default)]
    pub system_packages: Option<Vec<String>>,
    /// The port a service listens on: `PORT` and `EXPOSE`, and the smoke test's probe. Default: the
    /// Dockerfile's (8080 in the engine's). Service images only.
    #[serde(default)]
    pub port: Option<u16>,
    /// The service's HEALTHCHECK command, e.g. `["/app", "health"]` (exec form: the image has no
    /// shell). Default: the Dockerfile's (`/app healthcheck` in the engine's). Service images only.
    #[serde(default)]
    pub healthcheck: Option<Vec<String>>,
    /// Why the service has no HEALTHCHECK (then the smoke test probes its port instead). Service
    /// images only; not with `healthcheck`.
    #[serde(default)]
    pub no_healthcheck: Option<String>,
    /// Annotations and labels to set instead of the computed ones (`rules::labels`): a value
    /// replaces or adds its key, `""` removes it; `org.opencontainers.image.{version,revision,created}`
    /// follow the release and are refused. Default: none.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The most a platform's image may weigh as pushed (its compressed layers and config), e.g.
    /// `"20MiB"`: a build over it fails before anything is pushed. Default: no budget.
    #[serde(default)]
    pub max_size: Option<String>,
}

/// One image's table, `images.<name>`.
pub(super) fn validate(name: &str, image: &ImageConfig) -> Result<()> {
    let key = format!("images.{name}");
    if !is_path_component(name) {
        invalid(
            &key,
            "the image name must be a lower-case Docker path component \
             (letters, digits, single `.`/`_`/`__`/dashes between them), e.g. `beacon`",
        )?;
    }
    if image.package.is_empty() {
        invalid(&format!("{key}.package"), "must name a workspace crate")?;
    }
    non_empty_unique(&format!("{key}.platforms"), &image.platforms)?;
    let smoke = &image.smoke;
    if !smoke.version_check && smoke.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        invalid(
            &format!("{key}.smoke.version-check"),
            "is false without a reason: say why the version is not checked with `reason = \"…\"`",
        )?;
    }
    if !smoke.version_check && smoke.expect.is_some() {
        invalid(&format!("{key}.smoke.expect"), "is set with version-check = false: keep one of them")?;
    }
    if let Some(dockerfile) = &image.dockerfile {
        inside_workspace(&format!("{key}.dockerfile"), dockerfile)?;
    }
    inside_workspace(&format!("{key}.context"), &image.context)?;
    non_empty_unique(&format!("{key}.repositories"), &image.repositories)?;
    for (index, repository) in image.repositories.iter().enumerate() {
        if let Err(error) = Repository::parse(repository) {
            invalid(&format!("{key}.repositories[{index}]"), &error.to_string())?;
        }
    }
    validate_system_packages(&key, image.system_packages.as_deref())?;
    for annotation in image.annotations.keys() {
        if let Some(problem) = labels::refuse_key(annotation) {
            invalid(&format!("{key}.annotations"), &problem)?;
        }
    }
    if let Some(Err(problem)) = image.max_size.as_deref().map(size_budget::parse_size) {
        invalid(&format!("{key}.max-size"), &problem)?;
    }
    validate_service(&key, image)
}

/// `system-packages`: Debian package names, each once, without an architecture (the build adds
/// each platform's).
fn validate_system_packages(key: &str, packages: Option<&[String]>) -> Result<()> {
    let Some(packages) = packages else { return Ok(()) };
    for (index, package) in packages.iter().enumerate() {
        if !system_libraries::is_package_name(package) {
            invalid(
                &format!("{key}.system-packages[{index}]"),
                &format!(
                    "{package:?} is not a Debian package name (lower case, e.g. \"libfoo-dev\"; no `:arch`: \
                     the build installs it for each platform's architecture)"
                ),
            )?;
        }
    }
    if !packages.is_empty() {
        non_empty_unique(&format!("{key}.system-packages"), packages)?;
    }
    Ok(())
}

/// `port`, `healthcheck`, `no-healthcheck`: for a service image only, one of the last two.
fn validate_service(key: &str, image: &ImageConfig) -> Result<()> {
    let set = [("port", image.port.is_some()), ("healthcheck", image.healthcheck.is_some())];
    let set = set.into_iter().chain([("no-healthcheck", image.no_healthcheck.is_some())]);
    if let Some(target) = image.target.as_deref().filter(|t| *t != service::SERVICE_TARGET) {
        if let Some((name, _)) = set.clone().find(|(_, is_set)| *is_set) {
            invalid(
                &format!("{key}.{name}"),
                &format!(
                    "applies to the service target, and this image builds target {target:?} (no EXPOSE, no \
                     HEALTHCHECK): remove it, or build target \"service\""
                ),
            )?;
        }
    }
    if image.port == Some(0) {
        invalid(&format!("{key}.port"), "must be a port from 1 to 65535, e.g. 8080")?;
    }
    if let Some(command) = &image.healthcheck {
        if command.first().is_none_or(|program| program.trim().is_empty()) {
            invalid(
                &format!("{key}.healthcheck"),
                "must name the command, e.g. [\"/app\", \"health\"] (or use no-healthcheck = \"why\")",
            )?;
        }
        if image.no_healthcheck.is_some() {
            invalid(&format!("{key}.no-healthcheck"), "is set with healthcheck: keep one of them")?;
        }
    }
    if image.no_healthcheck.as_deref().is_some_and(|reason| reason.trim().is_empty()) {
        invalid(&format!("{key}.no-healthcheck"), "must say why the service has no HEALTHCHECK")?;
    }
    Ok(())
}
