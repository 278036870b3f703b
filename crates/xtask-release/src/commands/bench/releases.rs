//! The registry rows of `cargo xtask bench`, on one throwaway registry: P6 re-releasing unchanged
//! content (bytes stored, wall time), then P9 `cargo xtask audit` of that release with a warm DB
//! cache: every live tag of every released image resolved, its attestations read back and their
//! signatures verified with the release's key, each variant's SBOM scanned.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use super::select::Selection;
use super::{builds, scan_args, secs, timed_runs, xtask, Args, Row};
use crate::commands::pipeline::{self, Pipeline};
use crate::commands::plan;
use crate::commands::rehearsal::Rehearsal;
use crate::rules::audit::{SbomSource, TagAudit};
use crate::tools::xtask::Invocation;
use crate::tools::{git, secrets};

const P9: &str = "`cargo xtask audit` of the released images, warm DB cache";

/// P6 and, when asked for, P9 (which audits what P6 released, before the registry goes).
pub fn rows(sh: &Shell, args: &Args, runs: usize, selection: &Selection) -> Result<Vec<Row>> {
    let rehearsal = Rehearsal::start(sh)?;
    let plan = builds::plan_for(sh, args.quick)?;
    let images = plan.images.iter().map(|i| i.name.clone()).collect();
    let options = plan::Options { registry: Some(rehearsal.namespace.clone()), images, ..Default::default() };
    let pipeline = Pipeline { execute: true, builder: None, rehearsal: true, ..Default::default() };
    // The scratch copy has uncommitted bench edits: commit them so both releases are of one commit.
    super::commit_all_changes(sh, "bench-release")?;
    let plan = plan::load_rehearsal(sh, &options, &args.scan)?;
    pipeline::publish(sh, &plan, &pipeline)?;
    let (bytes, uploads) = (rehearsal.stored_bytes()?, rehearsal.blob_uploads()?);
    let started = Instant::now();
    pipeline::publish(sh, &plan, &pipeline)?;
    let took = started.elapsed();
    let (added, more_uploads) = (rehearsal.stored_bytes()?.saturating_sub(bytes), rehearsal.blob_uploads()? - uploads);
    let mut rows = vec![Row::new(
        "P6",
        "re-release of unchanged content to a local registry: bytes stored, wall time",
        "0 B and ≤ 2 s",
        format!("{added} B in {more_uploads} blob uploads, {}", secs(took)),
        Some(added == 0 && took <= Duration::from_secs(2)),
    )
    .note("the whole pipeline runs again: the build, smoke and scan verdicts of the unchanged digests are reused, every versioned tag is found at its digest, every signature and attestation verifies in place")];
    if selection.shows("P9") {
        let tag = format!("v{}", plan.version);
        // The release, as its release tag names it: what `audit` reads as released (and live).
        git::lightweight_tag(sh, &tag).context("cannot tag the bench's release")?;
        let released: Vec<String> = plan.images.iter().flat_map(|i| ["--image".to_owned(), i.name.clone()]).collect();
        let audited = p9_audit(sh, args, &rehearsal.namespace, &released, runs);
        git::delete_tag(sh, &tag)?;
        rows.push(audited?);
    }
    rehearsal.remove()?;
    Ok(rows)
}

/// `cargo xtask audit --registry NAMESPACE --image …` of the released images, as a runner would type
/// it (this very xtask binary), verifying with the key the rehearsal signed with (its
/// COSIGN_PRIVATE_KEY): once to fill the DB cache, then timed.
fn p9_audit(sh: &Shell, args: &Args, namespace: &str, images: &[String], runs: usize) -> Result<Row> {
    let words = ["--quiet", "audit", "--registry", namespace].map(str::to_owned);
    let audit_args = words.into_iter().chain(images.iter().cloned()).chain(["--json".to_owned()]);
    // The rehearsal's key pair lives only in this run's secrets store: handed to this child alone.
    let key = ["COSIGN_PRIVATE_KEY", "COSIGN_PASSWORD"].map(|name| secrets::get(name).map(|v| (name.to_owned(), v)));
    let invocation = Invocation {
        exe: xtask()?,
        args: audit_args.chain(scan_args(&args.scan)).collect(),
        env: key.into_iter().flatten().collect(),
    };
    let audit = || -> Result<(Duration, AuditReport)> {
        let started = Instant::now();
        let out = invocation.output(sh)?;
        let took = started.elapsed();
        let report: AuditReport = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "`cargo xtask audit` printed no audit (exit {}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        if !report.errors.is_empty() {
            bail!("`cargo xtask audit` could not audit every live tag: {}", report.errors.join("; "));
        }
        Ok((took, report))
    };
    let (_, report) = audit().context("the untimed audit (fills the DB cache)")?;
    let took = timed_runs(runs, |_| Ok(audit()?.0))?;
    crate::console::progress!("    P9: the audit took {} (median of {runs})", secs(took));
    let tags = &report.tags;
    if tags.is_empty() {
        bail!("the audit lists no tags");
    }
    let mut images: Vec<&str> = tags.iter().map(|t| t.image.as_str()).collect();
    images.dedup();
    let names: Vec<String> = tags.iter().map(|t| format!("{}:{}", t.image, t.tag)).collect();
    // Each variant once, from its release's own tag: (platform, where its SBOM came from).
    let sboms: Vec<&(String, SbomSource)> =
        tags.iter().filter(|t| t.version.as_ref() == Some(&t.tag)).flat_map(|t| &t.sboms).collect();
    let attested = sboms.iter().filter(|(_, source)| *source == SbomSource::Attestation).count();
    let variants = sboms.len();
    let failing = tags.iter().filter(|t| !t.passed).count();
    let (db_repository, db_digest) = report.db.as_ref().map_or(("?", "?"), |db| (&db.repository, &db.digest));
    Ok(Row::new("P9", P9, "< 30 s", secs(took), Some(took < Duration::from_secs(30)))
        .note(format!(
            "{}: {variants} variants ({attested} SBOMs from attestations whose signatures verified with the release's key, signed offline: no transparency log), {} live tags ({}); {failing} tag(s) failing the policy; DB {}@{}",
            images.join(", "),
            tags.len(),
            names.join(", "),
            db_repository,
            db_digest.get(..19).unwrap_or("?")
        )))
}

/// What P9 reads of `cargo xtask audit --json` (`commands::audit`'s report).
#[derive(serde::Deserialize)]
struct AuditReport {
    tags: Vec<TagAudit>,
    errors: Vec<String>,
    db: Option<AuditDb>,
}

#[derive(serde::Deserialize)]
struct AuditDb {
    repository: String,
    digest: String,
}
