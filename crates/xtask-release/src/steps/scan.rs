//! `cargo xtask scan`: trivy against exactly the per-platform digests in the build record, every
//! platform judged by the one vulnerability DB preflight fetched (`steps::vulndb`), and its
//! misconfiguration scanner against each image's Dockerfile. Writes, per image and platform under
//! `target/xtask/scan/`, the JSON report, SARIF (one code-scanning category per image and target)
//! and a CycloneDX SBOM; writes the summary (policy, DB, every finding once with its platforms, the
//! accepted ones with their expiry); prints it; fails on any finding the policy's severities name.
//! `.trivyignore` entries without a future expiry fail it before anything is scanned. A scan that
//! cannot see is no pass: an incomplete trivy report fails closed (`tools::trivy::read_report`), and
//! each platform's SBOM must list every crate its binary links (`rules::sbom_coverage`), or the scan
//! stops, naming the crates and the fix (build with `cargo auditable`).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::config::{ScanPolicy, Scanner};
use crate::rules::ignorefile::{self, Exception};
use crate::rules::labels;
use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::policy::{self, Finding};
use crate::rules::sbom_coverage;
use crate::rules::verdicts::{scan_key, Check, Verdicts};
use crate::steps::build_record::{BuildRecord, BuiltImage, BuiltPlatform};
use crate::steps::scan_report;
use crate::steps::verdicts::Store;
use crate::steps::vulndb::VulnDb;
use crate::tools::{metadata, oci, trivy};

pub const SCHEMA_VERSION: u32 = 2;
/// What the gate checks besides the policy's findings, part of every scan's verdict key: a pass of an
/// engine that checked less (before the SBOM coverage and the typed reports) is not reused.
const GATE: &str = "gate 2: typed trivy reports; the SBOM lists every linked crate";

pub use crate::steps::scan_report::{ScanSummary, ScannedImage, ScannedTarget, SUMMARY_FILE};

/// Scans every image of the record against `db` and fails if the gate does; an image whose scan
/// of the same inputs passed (in `verdicts`) is not scanned again.
pub fn scan(
    sh: &Shell,
    plan: &Plan,
    record: &BuildRecord,
    db: Option<&VulnDb>,
    verdicts: &mut Store,
) -> Result<ScanSummary> {
    let root = sh.current_dir();
    let policy = &plan.scan;
    trivy::require_pinned_version(sh)?;
    let exceptions = valid_exceptions(&root, policy)?;
    ensure!(
        db.is_some() || !policy.scanners.contains(&Scanner::Vuln),
        "the vuln scanner runs, but no vulnerability DB was fetched for it"
    );
    let ignorefile = root.join(&policy.ignorefile);
    let ignorefile = ignorefile.exists().then_some(ignorefile.as_path());

    let out = root.join(&plan.out_dir);
    let policy_text = format!(
        "{GATE}\n{}\n{}",
        serde_json::to_string(policy)?,
        ignorefile.map(|f| std::fs::read_to_string(f).unwrap_or_default()).unwrap_or_default()
    );
    let mut images = Vec::new();
    for built in &record.images {
        let image_plan = plan.images.iter().find(|i| i.name == built.name).with_context(|| {
            format!("image {} is in the build record but not in the plan: run `cargo xtask build` again", built.name)
        })?;
        let dockerfile = root.join(&image_plan.dockerfile);
        let dockerfile_text = std::fs::read_to_string(&dockerfile).unwrap_or_default();
        let db_digest = db.map(|db| db.digest.as_str());
        let key = scan_key(&built.index_digest, db_digest, &policy_text, &dockerfile_text, trivy::TRIVY_VERSION);
        if let Some(reused) = reusable(verdicts.read()?, &built.name, &key) {
            let since = reused.reused_from.clone().unwrap_or_default();
            console::progress!("    {}: scan passed at {since} with this DB and policy, reused", built.name);
            images.push(reused);
            continue;
        }
        let scanning = Scanning { policy, exceptions: &exceptions, ignorefile, db };
        let scanned = match scan_image(sh, &out, &scanning, built, image_plan) {
            Ok(scanned) => scanned,
            Err(error) => {
                // Its reports may be half rewritten: this failed verdict is now the subject's latest,
                // so no earlier pass is reused over them.
                verdicts.record(Check::Scan, &built.name, &key, false, serde_json::Value::Null)?;
                verdicts.save()?;
                return Err(error);
            }
        };
        let passed = scanned.findings.iter().all(|f| !f.blocking);
        verdicts.record(Check::Scan, &built.name, &key, passed, serde_json::to_value(&scanned)?)?;
        images.push(scanned);
    }
    verdicts.save()?;
    let passed = images.iter().flat_map(|i| &i.findings).all(|f| !f.blocking);
    let summary = ScanSummary {
        schema_version: SCHEMA_VERSION,
        version: record.version.clone(),
        git_sha: record.git_sha.clone(),
        policy: policy.clone(),
        overrides: plan.scan_overrides.clone(),
        db: db.cloned(),
        passed,
        images,
    };
    let path = root.join(&plan.out_dir).join(SUMMARY_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    scan_report::print(&summary);
    warn_expiring(policy, &exceptions)?;
    if !passed {
        bail!("{}", scan_report::gate_failure(&summary));
    }
    Ok(summary)
}

/// A warning for each exception of the ignore file that expires soon, saying when.
fn warn_expiring(policy: &ScanPolicy, exceptions: &[Exception]) -> Result<()> {
    for (exception, days) in ignorefile::expiring(exceptions, &today()?) {
        eprintln!(
            "    warning: {}:{}: {} is accepted only until {} ({}): fix it, or extend the date deliberately",
            policy.ignorefile,
            exception.line,
            exception.id,
            exception.expires,
            match days {
                0 => "today".to_owned(),
                1 => "tomorrow".to_owned(),
                n => format!("in {n} days"),
            }
        );
    }
    Ok(())
}

/// The recorded scan of `key`, if it passed, is the image's latest (its reports on disk are that
/// scan's, not another's since) and its reports are still in place; marked reused.
fn reusable(verdicts: &Verdicts, subject: &str, key: &str) -> Option<ScannedImage> {
    let pass = verdicts.pass(Check::Scan, key)?;
    if verdicts.latest(Check::Scan, subject)?.key != key {
        return None; // the reports there are of another scan since
    }
    let scanned: ScannedImage = serde_json::from_value(pass.outcome.clone()).ok()?;
    if scanned.findings.iter().any(|f| f.blocking) {
        return None; // never a pass, whatever the verdict says
    }
    let files = scanned.targets.iter().flat_map(|t| [Some(&t.report), t.sarif.as_ref(), t.sbom.as_ref()]).flatten();
    if !files.into_iter().all(|f| f.is_file()) {
        return None;
    }
    Some(ScannedImage { reused_from: Some(pass.at.clone()), ..scanned })
}

/// The ignore file as of today: its valid exceptions, and each bad line as `FILE:LINE: ID problem`
/// with the fix.
pub struct Exceptions {
    pub valid: Vec<Exception>,
    pub problems: Vec<String>,
}

/// Reads the policy's ignore file (none is fine: nothing accepted).
pub fn exceptions(root: &Path, policy: &ScanPolicy) -> Result<Exceptions> {
    let path = root.join(&policy.ignorefile);
    if !path.exists() {
        return Ok(Exceptions { valid: Vec::new(), problems: Vec::new() });
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (valid, problems) = ignorefile::parse(&text, &today()?);
    let problems = problems
        .iter()
        .map(|p| format!("{}:{}: {} {}: {}", policy.ignorefile, p.line, p.id, p.problem, p.fix))
        .collect();
    Ok(Exceptions { valid, problems })
}

/// The ignore file's valid exceptions; an error naming every line that does not hold, and the fix.
pub fn valid_exceptions(root: &Path, policy: &ScanPolicy) -> Result<Vec<Exception>> {
    let exceptions = exceptions(root, policy)?;
    if !exceptions.problems.is_empty() {
        bail!("{} does not hold:\n  {}", policy.ignorefile, exceptions.problems.join("\n  "));
    }
    Ok(exceptions.valid)
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> Result<String> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    Ok(labels::rfc3339_utc(now as i64)[..10].to_owned())
}

/// What every image is scanned with.
struct Scanning<'a> {
    policy: &'a ScanPolicy,
    exceptions: &'a [Exception],
    ignorefile: Option<&'a Path>,
    db: Option<&'a VulnDb>,
}

fn scan_image<'b>(
    sh: &Shell,
    out: &Path,
    scanning: &Scanning<'_>,
    built: &'b BuiltImage,
    image: &ImagePlan,
) -> Result<ScannedImage> {
    let policy = scanning.policy;
    let dir = out.join("scan").join(&built.name);
    let layout = dir.join("layout");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&layout).with_context(|| format!("cannot create {}", layout.display()))?;
    let archive = &built.archive;
    oci::unpack(sh, archive, &layout)?;

    let mut targets = Vec::new();
    let (mut found, mut suppressed): (Vec<PerTarget<'b>>, Vec<PerTarget<'b>>) = (Vec::new(), Vec::new());
    for platform in &built.platforms {
        let (target, findings, accepted) = scan_platform(sh, (&dir, &layout), scanning, image, platform)
            .with_context(|| format!("scanning {} {}", built.name, platform.platform))?;
        targets.push(target);
        found.push((Some(platform.platform.as_str()), findings));
        suppressed.push((Some(platform.platform.as_str()), accepted));
    }
    if policy.scanners.contains(&Scanner::Misconfig) {
        let report = dir.join("dockerfile.json");
        let dockerfile = sh.current_dir().join(&image.dockerfile);
        trivy::scan_dockerfile(sh, &dockerfile, scanning.ignorefile, &report)?;
        let json = trivy::read_report(sh, &report)?;
        let sarif = sarif(sh, &report, &format!("{}/Dockerfile", built.name))?;
        let findings = policy::findings(&json);
        targets.push(ScannedTarget {
            target: "Dockerfile".into(),
            digest: None,
            counts: policy::count_by_severity(&findings),
            report,
            sarif: Some(sarif),
            sbom: None,
        });
        found.push((None, findings));
        suppressed.push((None, policy::suppressed(&json)));
    }
    Ok(ScannedImage {
        name: built.name.clone(),
        index_digest: built.index_digest.clone(),
        targets,
        findings: policy::listed(policy, &slices(&found)),
        accepted: policy::accepted(scanning.exceptions, &slices(&suppressed)),
        reused_from: None,
    })
}

/// One platform of the image: its report, SARIF and SBOM, the SBOM checked to list every crate the
/// binary links (`rules::sbom_coverage`: a blind scan stops here); its findings and suppressed ones.
fn scan_platform(
    sh: &Shell,
    (dir, layout): (&Path, &Path),
    scanning: &Scanning<'_>,
    image: &ImagePlan,
    platform: &BuiltPlatform,
) -> Result<(ScannedTarget, Vec<Finding>, Vec<Finding>)> {
    let policy = scanning.policy;
    let out = dir.join(platform.platform.replace('/', "-"));
    let single = single_platform_layout(layout, &out, &platform.digest)?;
    let report = out.join("report.json");
    let image_scanners: Vec<Scanner> = policy.scanners.iter().copied().filter(|s| *s != Scanner::Misconfig).collect();
    let json = if image_scanners.is_empty() {
        std::fs::write(&report, "{}\n")?;
        None
    } else {
        let db_cache = scanning.db.map(|db| db.cache_dir.as_path());
        let ignorefile = scanning.ignorefile;
        trivy::scan_image(sh, &single, &image_scanners, policy.ignore_unfixed, ignorefile, db_cache, &report)?;
        Some(trivy::read_report(sh, &report)?)
    };
    let sarif = sarif(sh, &report, &format!("{}/{}", image.name, platform.platform))?;
    let sbom = out.join("sbom.cdx.json");
    trivy::sbom(sh, &single, &sbom)?;
    sees_the_crates(sh, image, &platform.platform, &sbom)?;
    let findings = json.as_ref().map(policy::findings).unwrap_or_default();
    let target = ScannedTarget {
        target: platform.platform.clone(),
        digest: Some(platform.digest.clone()),
        counts: policy::count_by_severity(&findings),
        report,
        sarif: Some(sarif),
        sbom: Some(sbom),
    };
    Ok((target, findings, json.as_ref().map(policy::suppressed).unwrap_or_default()))
}

/// The platform's SBOM lists every crate the image's package links on its target, at its locked
/// version (`rules::sbom_coverage`); otherwise the error naming the cause and the fix.
fn sees_the_crates(sh: &Shell, image: &ImagePlan, platform: &str, sbom: &Path) -> Result<()> {
    let triple = sbom_coverage::rust_triple(platform)
        .with_context(|| format!("{platform} is no platform the Dockerfile contract builds"))?;
    let listed = trivy::read_sbom(sh, sbom)?;
    let linked = metadata::linked_crates(sh, &image.package, triple)?;
    let scanned = sbom_coverage::Scanned {
        image: &image.name,
        platform,
        package: &image.package,
        triple,
        dockerfile: &image.dockerfile,
    };
    sbom_coverage::check(&scanned, &linked, &sbom_coverage::cargo_components(&listed)).map_err(anyhow::Error::msg)
}

/// Findings of one scanned target, under its platform (none for the Dockerfile).
type PerTarget<'b> = (Option<&'b str>, Vec<Finding>);

fn slices<'a, 'b>(all: &'a [PerTarget<'b>]) -> Vec<(Option<&'b str>, &'a [Finding])> {
    all.iter().map(|(platform, findings)| (*platform, findings.as_slice())).collect()
}

/// The report as SARIF beside it, its run categorised `xtask-scan/<image>/<target>` so that GitHub
/// code scanning keeps one analysis per image and platform (it refuses several runs in one category).
fn sarif(sh: &Shell, report: &Path, category: &str) -> Result<PathBuf> {
    let out = report.with_extension("sarif");
    trivy::to_sarif(sh, report, &out)?;
    let text = std::fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))?;
    // trivy's SARIF, passed on to code scanning untouched but for each run's category: a `Value`.
    let mut sarif: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not SARIF", out.display()))?;
    for run in sarif["runs"].as_array_mut().into_iter().flatten() {
        run["automationDetails"] = serde_json::json!({ "id": format!("xtask-scan/{category}/") });
    }
    std::fs::write(&out, serde_json::to_string(&sarif)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

/// An OCI layout whose index names only `digest`, sharing the blobs of the unpacked archive: trivy
/// then scans exactly that platform's manifest, not whichever one it would pick from the index.
fn single_platform_layout(full: &Path, out: &Path, digest: &str) -> Result<PathBuf> {
    let single = out.join("layout");
    std::fs::create_dir_all(&single).with_context(|| format!("cannot create {}", single.display()))?;
    let manifest_path = full.join("blobs").join(digest.replacen(':', "/", 1));
    let size = std::fs::metadata(&manifest_path).with_context(|| format!("{digest} is not in the archive"))?.len();
    let media_type = crate::rules::registry_api::media_type_of(&std::fs::read(&manifest_path)?)
        .map_err(|problem| anyhow::anyhow!("{digest} in the archive {}: {problem}", full.display()))?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": media_type, "digest": digest, "size": size}]
    });
    std::fs::write(single.join("index.json"), index.to_string())?;
    std::fs::write(single.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::os::unix::fs::symlink(full.join("blobs"), single.join("blobs")).context("cannot link the layout's blobs")?;
    Ok(single)
}
