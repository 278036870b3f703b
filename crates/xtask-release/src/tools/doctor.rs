//! `cargo xtask doctor`: is this machine able to run the pipeline? Checks docker, the engine and its
//! image store, buildx, binfmt for each foreign platform (smoke tests run foreign variants under
//! QEMU; builds cross-compile), trivy at the pinned version, curl (the registry client's HTTP:
//! `tools::http`), cosign and git, and prints each problem with its fix. Preflight runs the same
//! checks before a release builds anything. A check that fails because its tool is not installed
//! says which (`Check::missing`): then the failure ends with the one line that installs what is
//! missing (`cargo xtask doctor --install`, `tools::install`).

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use crate::rules::config::Scanner;
use crate::rules::install::{pages, Missing};
use crate::rules::plan::Plan;
use crate::rules::tool_checks::{curl_check, ranged, CURL_MINIMUM};
pub use crate::rules::tool_checks::{missing, Check};
use crate::rules::toolset::{self as ranges, Cosign, Tool};
use crate::tools::{docker, engine, said, toolset, trivy};

const DOCKER_VERSION: &[&str] = &["--version"];
const CURL_VERSION: &[&str] = &["--version"];

/// Everything [`checks`] and the capability probe will ask the tools about themselves for `plan`
/// (`tools::said`, once per run): preflight asks them side by side first, so that the checks, one
/// after another, find every answer ready (some 0.1–0.3 s each, most of preflight's time).
pub fn questions(plan: &Plan) -> Vec<(&'static str, &'static [&'static str])> {
    let mut asked = vec![
        ("docker", DOCKER_VERSION),
        ("docker", toolset::ENGINE_VERSION),
        ("docker", engine::INFO),
        ("docker", toolset::BUILDX_VERSION),
        ("trivy", trivy::VERSION_ARGS),
    ];
    if plan.push || plan.scan.scanners.contains(&Scanner::Vuln) {
        asked.push(("curl", CURL_VERSION));
    }
    if plan.signing.enabled {
        asked.extend([("cosign", toolset::COSIGN_VERSION), ("cosign", toolset::COSIGN_SIGN_HELP)]);
    }
    asked
}

pub fn print(checks: &[Check]) {
    for check in checks {
        match &check.problem {
            None => eprintln!("    ok    {:<22} {}", check.name, check.detail),
            Some(p) => eprintln!("    FAIL  {:<22} {}\n          fix: {}", check.name, p.what, p.fix),
        }
    }
}

/// Fails naming the failed checks; when a tool is missing (on a machine the installer supports),
/// the error's last line is the command that installs it.
pub fn fail_on_problems(checks: &[Check]) -> Result<()> {
    let failed: Vec<&str> = checks.iter().filter(|c| c.problem.is_some()).map(|c| c.name.as_str()).collect();
    if !failed.is_empty() {
        let hint = crate::tools::install::hint(!missing(checks).is_empty());
        let hint = hint.map(|line| format!("\n{line}")).unwrap_or_default();
        bail!("this machine cannot run the pipeline: {} (fixes listed above){hint}", failed.join(", "));
    }
    Ok(())
}

/// Every check the plan needs, in the order a person would fix them.
pub fn checks(sh: &Shell, plan: &Plan) -> Vec<Check> {
    checks_with(sh, plan, false)
}

/// The checks `doctor --install` decides from: [`checks`], and buildx and binfmt even when the
/// engine does not answer (neither needs it; the host's architecture is then this process's), so
/// that one install brings every missing tool.
pub fn install_checks(sh: &Shell, plan: &Plan) -> Vec<Check> {
    checks_with(sh, plan, true)
}

fn checks_with(sh: &Shell, plan: &Plan, without_engine: bool) -> Vec<Check> {
    let mut checks = vec![git(sh)];
    let engine = engine(sh);
    let engine_up = engine.problem.is_none();
    checks.push(engine);
    if engine_up {
        checks.push(image_store(sh));
    }
    if engine_up || without_engine {
        checks.push(buildx(sh));
        let mut platforms: Vec<&str> = plan.images.iter().flat_map(|i| &i.platforms).map(String::as_str).collect();
        platforms.sort_unstable();
        platforms.dedup();
        let host = if engine_up { host_arch(sh) } else { Some(engine::arch_name(std::env::consts::ARCH)) };
        for platform in platforms {
            if let Some(check) = binfmt(platform, host.as_deref()) {
                checks.push(check);
            }
        }
    }
    checks.push(trivy_check(sh));
    // The registry client talks to registries through curl: to push (and read back, sign, move
    // tags) and, in preflight, to read the vulnerability DB's digest for the scan.
    if plan.push || plan.scan.scanners.contains(&Scanner::Vuln) {
        checks.push(curl(sh));
    }
    if plan.signing.enabled {
        checks.push(cosign(sh));
    }
    checks
}

pub fn git(sh: &Shell) -> Check {
    match cmd!(sh, "git --version").quiet().read() {
        Ok(v) => Check::ok("git", v),
        Err(_) => Check::failed("git", "git is not installed", format!("install git: {}", pages::GIT))
            .not_installed(Missing::Git),
    }
}

pub fn engine(sh: &Shell) -> Check {
    if said::read(sh, "docker", DOCKER_VERSION).is_err() {
        return Check::failed(
            "docker",
            "the docker CLI is not installed",
            format!("install Docker Engine: {}", pages::DOCKER),
        )
        .not_installed(Missing::Docker);
    }
    match toolset::engine(sh) {
        Some((engine, containerd)) => {
            let check = ranged(Tool::Engine, engine, pages::DOCKER);
            match (check.problem.is_none(), containerd) {
                (true, Some(containerd)) => {
                    let containerd = ranged(Tool::Containerd, containerd, pages::DOCKER);
                    match containerd.problem {
                        None => {
                            Check { detail: format!("{}; containerd {}", check.detail, containerd.detail), ..check }
                        }
                        Some(_) => Check { name: "docker engine".into(), ..containerd },
                    }
                }
                _ => check,
            }
        }
        None => Check::failed(
            "docker engine",
            "the Docker engine does not answer",
            format!(
                "start the Docker engine (`sudo systemctl start docker`) and let this user use it: {}",
                pages::DOCKER_NON_ROOT
            ),
        ),
    }
}

/// A tool's version against its supported range (`rules::toolset::RANGES`): below the minimum is a
/// problem whose fix is the upgrade; newer than the newest tested is allowed, and said.
fn image_store(sh: &Shell) -> Check {
    if engine::info(sh).is_ok_and(|info| info.containerd_store()) {
        Check::ok("containerd image store", "multi-platform images load and push with their index")
    } else {
        Check::failed(
            "containerd image store",
            "the engine uses the classic image store, which cannot load multi-platform images",
            format!(
                r#"put {{"features":{{"containerd-snapshotter":true}}}} in /etc/docker/daemon.json and restart dockerd: {}"#,
                pages::CONTAINERD_STORE
            ),
        )
    }
}

pub fn buildx(sh: &Shell) -> Check {
    match toolset::buildx(sh) {
        Ok(version) => ranged(Tool::Buildx, version, pages::BUILDX),
        Err(_) => Check::failed(
            "buildx",
            "docker buildx is not installed",
            format!("install the buildx plugin: {}", pages::BUILDX),
        )
        .not_installed(Missing::Buildx),
    }
}

fn host_arch(sh: &Shell) -> Option<String> {
    Some(engine::info(sh).ok()?.arch()).filter(|arch| !arch.is_empty())
}

/// Whether QEMU's user-mode emulator behind `handler` (`qemu-aarch64`) is installed: Debian
/// bookworm's and Ubuntu's qemu-user-static name it `qemu-aarch64-static`, trixie's qemu-user
/// (static since QEMU 9.1) `qemu-aarch64`.
fn emulator_installed(handler: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([std::path::PathBuf::from("/usr/bin")]).collect::<Vec<_>>();
    let names = [format!("{handler}-static"), handler.to_owned()];
    dirs.iter().any(|dir| names.iter().any(|name| dir.join(name).is_file()))
}

/// Foreign platforms need a QEMU binfmt handler to run their smoke test.
fn binfmt(platform: &str, host_arch: Option<&str>) -> Option<Check> {
    let arch = platform.split('/').nth(1)?;
    if Some(arch) == host_arch {
        return None;
    }
    let handler = match arch {
        "arm64" => "qemu-aarch64",
        "arm" => "qemu-arm",
        "ppc64le" => "qemu-ppc64le",
        "s390x" => "qemu-s390x",
        "riscv64" => "qemu-riscv64",
        "amd64" => "qemu-x86_64",
        _ => return None,
    };
    let name = format!("binfmt {platform}");
    let status = std::fs::read_to_string(format!("/proc/sys/fs/binfmt_misc/{handler}")).unwrap_or_default();
    Some(if status.starts_with("enabled") {
        Check::ok(&name, format!("{handler} registered (smoke tests run {platform} under QEMU)"))
    } else {
        let check = Check::failed(
            &name,
            format!("no enabled {handler} binfmt handler: the {platform} variant cannot be smoke-tested"),
            format!("register QEMU for {platform} (qemu-user-static with binfmt-support): {}", pages::BINFMT),
        );
        if emulator_installed(handler) {
            check
        } else {
            check.not_installed(Missing::Qemu)
        }
    })
}

fn trivy_check(sh: &Shell) -> Check {
    match trivy::installed_version(sh) {
        Ok(v) if v == trivy::TRIVY_VERSION => Check::ok("trivy", format!("version {v} (pinned)")),
        Ok(v) => Check::failed(
            "trivy",
            format!("trivy {v} is installed; the scan gate is pinned to {}", trivy::TRIVY_VERSION),
            format!("install trivy {}: {}", trivy::TRIVY_VERSION, pages::TRIVY),
        ),
        Err(_) => Check::failed(
            "trivy",
            "trivy is not installed",
            format!("install trivy {}: {}", trivy::TRIVY_VERSION, pages::TRIVY),
        )
        .not_installed(Missing::Trivy),
    }
}

/// The buildx builder `--builder` names: it exists, builds every platform the plan needs, and can
/// reach the registry build cache the plan imports (a loopback registry is out of reach of an
/// engine on another machine).
pub fn builder(sh: &Shell, name: &str, plan: &Plan) -> Check {
    let check = format!("buildx builder {name}");
    let Ok(builder) = docker::inspect_builder(sh, name) else {
        return Check::failed(
            &check,
            format!("--builder {name}: buildx has no builder of that name"),
            format!("pick one of `docker buildx ls`, create it (`docker buildx create --name {name} …`) or make a docker context of that name (`docker context create {name} --docker host=…`)"),
        );
    };
    let mut missing: Vec<&str> = plan
        .images
        .iter()
        .flat_map(|i| &i.platforms)
        .map(String::as_str)
        .filter(|p| !builder.platforms.iter().any(|b| b == p || b.strip_suffix("/v8") == Some(p)))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    // The toolchain stage runs on the builder's own platform and cross-compiles: the targets need
    // no emulation, only a build host the Dockerfile's cross table knows.
    let native = builder.platforms.first().map(String::as_str).unwrap_or("");
    if !matches!(native, "linux/amd64" | "linux/arm64") {
        return Check::failed(
            &check,
            format!(
                "its engine runs on {native:?}; the Dockerfile cross-compiles from linux/amd64 or linux/arm64 hosts"
            ),
            "use a builder on an amd64 or arm64 machine",
        );
    }
    let caches: Vec<&str> =
        plan.images.iter().flat_map(|i| &i.cache_from).filter_map(|c| c.strip_prefix("type=registry,ref=")).collect();
    let loopback_cache = caches.iter().find(|c| {
        let host = c.split('/').next().unwrap_or("");
        host.starts_with("localhost") || host.starts_with("127.") || host.starts_with("[::1]")
    });
    if let (true, Some(cache)) = (builder.is_remote(), loopback_cache) {
        return Check::failed(
            &check,
            format!(
                "its engine is on another machine ({}), so it cannot reach the cache {cache} on this one's loopback",
                builder.endpoint
            ),
            "put the build cache (cache.registry) on a registry both machines reach",
        );
    }
    let cache = match caches.as_slice() {
        [] => "no registry cache configured".to_owned(),
        caches => format!("registry cache {} within its reach", caches.join(", ")),
    };
    let detail = format!(
        "{} driver at {}; builds {} natively, the rest cross-compiled{}; {cache}",
        builder.driver,
        builder.endpoint,
        native,
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (not listed by the builder: {})", missing.join(", "))
        },
    );
    Check::ok(&check, detail)
}

fn curl(sh: &Shell) -> Check {
    match said::read(sh, "curl", CURL_VERSION) {
        Ok(text) => curl_check(&text),
        Err(_) => Check::failed(
            "curl",
            "curl is not installed (the xtask sends every registry request through it)",
            format!("install curl {CURL_MINIMUM} or newer: {}", pages::CURL),
        )
        .not_installed(Missing::Curl),
    }
}

fn cosign(sh: &Shell) -> Check {
    match toolset::cosign(sh) {
        Some(Cosign { version: Some(version), .. }) => ranged(Tool::Cosign, version, pages::COSIGN),
        Some(Cosign { major, version: None }) => {
            let range = ranges::range(Tool::Cosign);
            Check::ok(
                "cosign",
                format!(
                    "major version {major} (a build that does not say its version; supported {}..{})",
                    range.minimum, range.tested
                ),
            )
        }
        None => Check::failed(
            "cosign",
            "cosign is not installed, and signing is enabled",
            format!("install cosign ({}), or set enabled = false in [workspace.metadata.xtask.signing]", pages::COSIGN),
        )
        .not_installed(Missing::Cosign),
    }
}

/// Fails with the fix when the engine or buildx is missing (the first two of the checks above).
pub fn require_engine(sh: &Shell) -> Result<()> {
    let checks = [engine(sh), buildx(sh)];
    if checks.iter().any(|c| c.problem.is_some()) {
        print(&checks);
    }
    fail_on_problems(&checks)
}
