//! The whole publish path as the plan's fixed, ordered list of steps — preflight → build → smoke →
//! scan → push-versioned → verify → sign → push-floating → record (with, for a tag release, the notes
//! against the previous release of the line: `steps::notes`) — run by `release`, `release
//! --local`, the rehearsal of `ci` and the bench. Each step takes what earlier steps returned; none
//! re-derives a decision. Without `execute`, only preflight runs. One platform per runner runs the
//! same list cut in two (`rules::fanout`): a variant (`release --platform`) is preflight → build →
//! smoke → scan → push-digest → record-variant; `release merge` is preflight → merge (the
//! variants' records in place of build, smoke and scan) → push-versioned → … → record.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::context::Kind;
use crate::rules::plan::{Plan, Step};
use crate::rules::plan_text;
use crate::rules::verdicts::Reused;
use crate::steps::build::{self, Settings};
use crate::steps::build_record::BuildRecord;
use crate::steps::preflight::{self, Checks, Cleared};
use crate::steps::publish::{self, Published};
use crate::steps::scan::{self, ScanSummary};
use crate::steps::sign::{self, Signed};
use crate::steps::{merge, notes, record, smoke, variant};
use crate::tools::flock;
use crate::tools::retry;

/// What the steps have produced so far.
#[derive(Default)]
struct Outputs<'a> {
    cleared: Option<Cleared<'a>>,
    record: Option<BuildRecord>,
    scan: Option<ScanSummary>,
    published: BTreeMap<String, Published>,
    signed: Vec<Signed>,
    /// Verdicts reused instead of checked again, for the record.
    reused: Vec<Reused>,
    /// A variant's manifest, pushed by digest (`repository@digest`).
    pushed_digests: Vec<String>,
    timings: Vec<(String, f64)>,
}

/// How the pipeline runs, beyond what the plan decides.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub execute: bool,
    pub builder: Option<String>,
    /// A rehearsal against a throwaway registry (`cargo xtask ci`): uncommitted changes and any
    /// branch are allowed, since nothing reaches a real registry.
    pub rehearsal: bool,
    /// Build every image even where nothing it is built from changed (`--rebuild`).
    pub rebuild: bool,
    /// `release merge`: the directories holding the variants' records.
    pub variants: Vec<std::path::PathBuf>,
}

/// Runs the plan's steps in order (only preflight when not executing) and returns their timings.
pub fn publish(sh: &Shell, plan: &Plan, pipeline: &Pipeline) -> Result<Vec<(String, f64)>> {
    let _lock = flock::lock_images(&sh.current_dir(), plan.images.iter().map(|i| i.name.as_str()))?;
    if !console::quiet() {
        eprint!("{}", plan_text::render(plan));
    }
    let steps: &[Step] = if pipeline.execute { &plan.steps } else { &[Step::Preflight] };
    let mut outputs = Outputs::default();
    for &next in steps {
        let started = Instant::now();
        console::run(next.name(), || run_step(sh, plan, pipeline, next, &mut outputs))?;
        outputs.timings.push((next.name().to_owned(), started.elapsed().as_secs_f64()));
    }
    Ok(outputs.timings)
}

fn run_step<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, next: Step, out: &mut Outputs<'a>) -> Result<()> {
    let root = sh.current_dir();
    let builder = pipeline.builder.as_deref();
    match next {
        Step::Preflight => {
            // A merge builds and scans nothing: no builder, DB or build configuration to check.
            let building = !plan.steps.contains(&Step::Merge);
            let checks = Checks { rehearsal: pipeline.rehearsal, building, builder };
            let cleared = preflight::run(sh, plan, &checks)?;
            out.reused.extend(cleared.reused.iter().cloned());
            out.cleared = Some(cleared)
        }
        Step::Build => {
            let capabilities = Some(earlier(&out.cleared, "preflight")?.capabilities);
            let settings = Settings {
                builder: pipeline.builder.clone(),
                rebuild: pipeline.rebuild,
                capabilities,
                ..Default::default()
            };
            let record = build::build_all(sh, plan, &settings)?;
            out.reused.extend(record.images.iter().filter(|i| i.reused).map(|i| Reused {
                check: "build".into(),
                subject: i.name.clone(),
                since: i.built_at.clone(),
            }));
            out.record = Some(record);
        }
        Step::Smoke => {
            let reused = smoke::run_all(sh, plan, earlier(&out.record, "build")?)?;
            out.reused.extend(reused);
        }
        Step::Scan => {
            let db = earlier(&out.cleared, "preflight")?.db.as_ref();
            let scanned = scan::scan(sh, plan, earlier(&out.record, "build")?, db);
            if scanned.is_err() && plan.steps.contains(&Step::RecordVariant) {
                // The failed verdict is recorded too: the merge names this variant as failed.
                variant::write_failed_scan(sh, plan, earlier(&out.record, "build")?, builder)?;
            }
            let summary = scanned?;
            out.reused.extend(summary.images.iter().filter_map(|image| {
                let since = image.reused_from.clone()?;
                Some(Reused { check: "scan".into(), subject: image.name.clone(), since })
            }));
            out.scan = Some(summary);
        }
        Step::PushDigest => {
            let transports = &earlier(&out.cleared, "preflight")?.transports;
            out.pushed_digests = variant::push_digest(sh, transports, plan, earlier(&out.record, "build")?)?;
        }
        Step::RecordVariant => {
            let (record, scan) = (earlier(&out.record, "build")?, earlier(&out.scan, "scan")?);
            variant::write(sh, plan, record, scan, &out.pushed_digests, builder)?;
        }
        Step::Merge => {
            let merged = merge::merge(sh, plan, &pipeline.variants)?;
            out.record = Some(merged.record);
            out.scan = Some(merged.scan);
        }
        Step::PushVersioned => {
            let transports = &earlier(&out.cleared, "preflight")?.transports;
            out.published = publish::push_versioned(sh, transports, plan, earlier(&out.record, "build")?)?;
        }
        Step::Verify => {
            let transports = &earlier(&out.cleared, "preflight")?.transports;
            publish::verify(sh, transports, plan, earlier(&out.record, "build")?, &out.published)?;
        }
        Step::Sign => {
            let signer = earlier(&out.cleared, "preflight")?.signer.as_ref();
            let signer = signer.context("signing is enabled but preflight found no signer")?;
            let (record, scan) = (earlier(&out.record, "build")?, earlier(&out.scan, "scan")?);
            let (signed, reused) = sign::sign_all(signer, plan, record, scan, &root.join(&plan.out_dir))?;
            out.signed = signed;
            out.reused.extend(reused);
        }
        Step::PushFloating => {
            let transports = &earlier(&out.cleared, "preflight")?.transports;
            publish::push_floating(sh, transports, plan, earlier(&out.record, "build")?, &mut out.published)?;
        }
        Step::Record => {
            let (record, scan) = (earlier(&out.record, "build")?, earlier(&out.scan, "scan")?);
            let mut release = record::assemble(plan, record, scan, &out.published, &out.signed, out.timings.clone());
            release.retries = retry::counts();
            release.reused = out.reused.clone();
            if plan.context.kind == Kind::Tag {
                let cleared = earlier(&out.cleared, "preflight")?;
                let (signer, db) = (cleared.signer.as_ref(), cleared.db.as_ref());
                let mut notes = notes::for_release(sh, plan, &cleared.transports, signer, db);
                release.images.iter_mut().for_each(|image| image.notes = notes.remove(&image.name));
            }
            let path = record::write(&root.join(&plan.out_dir), &release)?;
            eprint!("{}", record::summary_markdown(&release));
            eprintln!("release record: {}", path.display());
            if console::github_actions() {
                record::github_outputs(&release, &path)?;
            }
        }
    }
    Ok(())
}

fn earlier<'o, T>(output: &'o Option<T>, step: &str) -> Result<&'o T> {
    output.as_ref().with_context(|| format!("the plan runs this step before `{step}`, which it depends on"))
}
