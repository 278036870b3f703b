//! The checks of one image's table, `[workspace.metadata.xtask.images.<name>]`, that serde cannot
//! express (part of `rules::config`).

use anyhow::Result;

use super::{inside_workspace, invalid, non_empty_unique, ImageConfig};
use crate::rules::reference::{is_path_component, Repository};
use crate::rules::service;
use crate::rules::system_libraries;

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
