//! buildx's Dockerfile checks (`--call check`) of every image, before anything is built: listed
//! like the scan's misconfiguration findings, and failing the release at the scan policy's
//! severities. Their outcome depends only on the Dockerfile, its target and build args, and the
//! buildx and BuildKit that judge it: an unchanged one reuses its recorded verdict (its warnings
//! printed again), a changed one is checked, all images side by side.

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::build_checks;
use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::toolset::Capabilities;
use crate::rules::verdicts::{dockerfile_key, Check, Reused};
use crate::steps::parallel;
use crate::steps::verdicts::Store;
use crate::tools::{docker, toolset};

/// Checks every image's Dockerfile, reusing and recording verdicts in `verdicts`; returns the
/// verdicts reused.
pub fn run(
    sh: &Shell,
    plan: &Plan,
    capabilities: &Capabilities,
    builder: Option<&str>,
    verdicts: &mut Store,
) -> Result<Vec<Reused>> {
    if !capabilities.call_check {
        console::progress!(
            "    Dockerfile build checks: not run (buildx {} has no `--call check`; 0.15 and newer do)",
            capabilities.buildx
        );
        return Ok(Vec::new());
    }
    let root = sh.current_dir();
    let keys = keys(sh, plan, capabilities, builder)?;
    let mut reused = Vec::new();
    let mut fresh = Vec::new();
    for (image, key) in plan.images.iter().zip(&keys) {
        match verdicts.read()?.pass(Check::Dockerfile, key) {
            Some(pass) => {
                reused.push(Reused { check: Check::Dockerfile, subject: image.name.clone(), since: pass.at.clone() })
            }
            None => fresh.push((image, key)),
        }
    }
    let checked = parallel::each(sh, &fresh, |sh, (image, _)| {
        let files = (&*root.join(&image.dockerfile), &*root.join(&image.context), image.target.as_deref());
        docker::build_check(sh, builder, files, &build_args(image))
            .with_context(|| format!("checking the Dockerfile of image {}", image.name))
    });
    let mut blocking = Vec::new();
    let mut checked = fresh.iter().zip(checked);
    for (image, key) in plan.images.iter().zip(&keys) {
        let (report, since) = match verdicts.read()?.pass(Check::Dockerfile, key) {
            Some(pass) => (
                serde_json::from_value(pass.outcome.clone())
                    .context("a Dockerfile check's verdict whose outcome is not buildx's report")?,
                Some(pass.at.clone()),
            ),
            None => (checked.next().context("a Dockerfile was not checked")?.1?, None),
        };
        let (found, blocks) = print_findings(plan, image, &report);
        match &since {
            Some(at) => console::progress!("    {}: the Dockerfile's build checks passed at {at}, reused", image.name),
            None if found == 0 => console::progress!("    {}: the Dockerfile's build checks pass", image.name),
            None => {}
        }
        if since.is_none() {
            verdicts.record(Check::Dockerfile, &image.name, key, blocks.is_empty(), serde_json::to_value(&report)?)?;
        }
        blocking.extend(blocks);
    }
    verdicts.save()?;
    if !blocking.is_empty() {
        bail!(
            "buildx's Dockerfile checks found {} problem(s) at the severities workspace.metadata.xtask.scan.severities fails on:\n  {}\nfix the Dockerfile (https://docs.docker.com/reference/build-checks/), or skip a check with a `# check=skip=RULE` line at its top",
            blocking.len(),
            blocking.join("\n  ")
        );
    }
    Ok(reused)
}

/// Each image's verdict key (`rules::verdicts::dockerfile_key`): its Dockerfile, target and build
/// args, and the judges: buildx, the engine whose BuildKit serves the checks, and the builder.
fn keys(sh: &Shell, plan: &Plan, capabilities: &Capabilities, builder: Option<&str>) -> Result<Vec<String>> {
    let judges = format!(
        "{}\n{:?}\n{}",
        capabilities.buildx,
        toolset::engine(sh),
        docker::builder_identity(sh, builder).context("the builder the Dockerfiles are checked with")?
    );
    let root = sh.current_dir();
    let mut keys = Vec::new();
    for image in &plan.images {
        let dockerfile = root.join(&image.dockerfile);
        let text = std::fs::read(&dockerfile).with_context(|| format!("cannot read {}", dockerfile.display()))?;
        let args: Vec<String> = build_args(image).iter().map(|(k, v)| format!("{k}={v}")).collect();
        keys.push(dockerfile_key(&text, image.target.as_deref(), &args, &judges));
    }
    Ok(keys)
}

/// Prints each finding of one image's checks (`report`, their outcome) as a failure or a warning,
/// as the scan policy's severities say; returns how many there are, and the failures' lines.
fn print_findings(plan: &Plan, image: &ImagePlan, report: &build_checks::Report) -> (usize, Vec<String>) {
    let findings = build_checks::findings(report, &image.dockerfile);
    let mut blocking = Vec::new();
    for finding in &findings {
        let blocks = build_checks::blocking(&plan.scan, finding);
        let line = format!("{}: {}", image.name, build_checks::describe(finding));
        console::progress!("    build check {}: {line}", if blocks { "FAIL" } else { "warning" });
        if blocks {
            blocking.push(line);
        }
    }
    (findings.len(), blocking)
}

/// The build args the image is built with (the Dockerfile's interface, docker/README.md).
fn build_args(image: &ImagePlan) -> [(String, String); 4] {
    [
        ("PACKAGE", image.package.clone()),
        ("BIN", image.binary.clone()),
        ("BUILDER_IMAGE", image.builder.image.clone()),
        ("TOOLCHAIN", image.builder.toolchain.as_str().to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
}
