//! Thin wrappers over the `trivy` CLI. The version is pinned here, in one place, and checked before
//! any scan. A scan that needs the vulnerability DB and cannot get it fails closed, naming the fixes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::config::Scanner;

/// The trivy release the scan gate is written and tested against.
pub const TRIVY_VERSION: &str = "0.76.0";

/// Where trivy gets its vulnerability DB, when the defaults are out of reach.
#[derive(Debug, Clone, Default)]
pub struct DbSource {
    /// `--db-repository`: an OCI mirror of the trivy DB.
    pub repository: Option<String>,
    /// `--cache-dir`: a directory that already holds a downloaded DB.
    pub cache_dir: Option<PathBuf>,
}

pub fn installed_version(sh: &Shell) -> Result<String> {
    let text = cmd!(sh, "trivy --version").quiet().read().with_context(|| {
        format!("trivy is not installed: install trivy {TRIVY_VERSION} (here: `bash .ci/testbed.sh`; elsewhere: https://trivy.dev)")
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .map(|v| v.trim().to_owned())
        .context("`trivy --version` printed no version")
}

pub fn require_pinned_version(sh: &Shell) -> Result<()> {
    let version = installed_version(sh)?;
    if version != TRIVY_VERSION {
        bail!("trivy {version} is installed, but the scan gate is pinned to trivy {TRIVY_VERSION}: install that version (here: `bash .ci/testbed.sh`)");
    }
    Ok(())
}

/// Scans one single-platform OCI layout for vulnerabilities and/or secrets into a JSON report.
pub fn scan_image(
    sh: &Shell,
    layout: &Path,
    scanners: &[Scanner],
    ignore_unfixed: bool,
    ignorefile: Option<&Path>,
    db: &DbSource,
    report: &Path,
) -> Result<()> {
    let scanners = scanners.iter().map(|s| scanner_name(*s)).collect::<Vec<_>>().join(",");
    let mut flags: Vec<String> = Vec::new();
    if ignore_unfixed {
        flags.push("--ignore-unfixed".into());
    }
    if let Some(file) = ignorefile {
        flags.extend(["--ignorefile".into(), file.display().to_string()]);
    }
    if let Some(repository) = &db.repository {
        flags.extend(["--db-repository".into(), repository.clone()]);
    }
    if let Some(dir) = &db.cache_dir {
        flags.extend(["--cache-dir".into(), dir.display().to_string()]);
    }
    let output = cmd!(
        sh,
        "trivy image --quiet --input {layout} --scanners {scanners} --format json --output {report} --exit-code 0 {flags...}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run trivy")?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("vulnerability DB") || stderr.contains("DB error") {
        bail!(
            "the vulnerability scan cannot run: trivy could not get its vulnerability DB (no route to its registries?), so the gate fails closed.\n\
             Fix one of:\n  \
             - a DB mirror you can reach: `cargo xtask scan --db-repository REGISTRY/REPO/trivy-db:2`\n  \
             - a DB downloaded elsewhere: `cargo xtask scan --cache-dir DIR` (DIR holds db/trivy.db)\n  \
             - a policy without `vuln`, explicitly: `cargo xtask scan --scanners secret,misconfig` or `scanners` in [workspace.metadata.xtask.scan]\n\
             trivy said: {}",
            stderr.lines().filter(|l| l.contains("FATAL")).collect::<Vec<_>>().join(" ")
        );
    }
    bail!("trivy failed on {}:\n{stderr}", layout.display())
}

/// Lints a Dockerfile (trivy's misconfiguration scanner) into a JSON report.
pub fn scan_dockerfile(sh: &Shell, dockerfile: &Path, report: &Path) -> Result<()> {
    cmd!(sh, "trivy config --quiet --format json --output {report} --exit-code 0 {dockerfile}")
        .quiet()
        .run()
        .with_context(|| format!("trivy could not lint {}", dockerfile.display()))
}

/// Writes a CycloneDX SBOM of one single-platform OCI layout (works offline).
pub fn sbom(sh: &Shell, layout: &Path, out: &Path) -> Result<()> {
    cmd!(sh, "trivy image --quiet --input {layout} --format cyclonedx --output {out}")
        .quiet()
        .run()
        .with_context(|| format!("trivy could not write the SBOM of {}", layout.display()))
}

/// Converts a trivy JSON report to SARIF (for code-scanning uploads).
pub fn to_sarif(sh: &Shell, report: &Path, out: &Path) -> Result<()> {
    cmd!(sh, "trivy convert --quiet --format sarif --output {out} {report}")
        .quiet()
        .run()
        .with_context(|| format!("trivy could not convert {} to SARIF", report.display()))
}

pub fn scanner_name(scanner: Scanner) -> &'static str {
    match scanner {
        Scanner::Vuln => "vuln",
        Scanner::Secret => "secret",
        Scanner::Misconfig => "misconfig",
    }
}
