//! Runs a plan's steps: the list in `Plan::steps`, which `rules::pipeline` (the one place that
//! orders the steps and says which run) decided for a release (preflight → build → smoke → scan →
//! push-versioned → verify → sign → push-floating → record), a variant (`release --platform`: … →
//! scan → push-digest → record-variant) or a merge (`release merge`: preflight → merge →
//! push-versioned → … → record). `release`, `release --local`, the rehearsal of `ci`, `release
//! merge` and the bench all run it through `publish`; without `execute`, only preflight runs. Each
//! step is one function here, given what earlier steps returned (`Outputs`); none re-derives a
//! decision. A tag release's record carries the notes against the previous release of the line
//! (`steps::notes`). The run's verdict store (`steps::verdicts::Store`, read once) is created here
//! and carried with the outputs to each step that checks: preflight's build checks, smoke, scan and
//! sign.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::console;
use crate::rules::context::Kind;
use crate::rules::pipeline::Step;
use crate::rules::plan::Plan;
use crate::rules::plan_text;
use crate::rules::verdicts::{Check, Reused};
use crate::steps::build::{self, Settings};
use crate::steps::build_record::BuildRecord;
use crate::steps::preflight::{self, Checks, Cleared};
use crate::steps::publish::{self, Published};
use crate::steps::scan::{self, ScanSummary};
use crate::steps::sign::{self, Signed};
use crate::steps::verdicts::Store;
use crate::steps::{merge, notes, record, smoke, variant, verify_kit};
use crate::tools::flock;
use crate::tools::retry;

/// What the steps have produced so far.
struct Outputs<'a> {
    /// The run's verdicts: read at the first check, saved by each step that records one.
    verdicts: Store,
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

impl Outputs<'_> {
    /// Nothing produced yet; `verdicts` is the run's store.
    fn new(verdicts: Store) -> Self {
        Outputs {
            verdicts,
            cleared: None,
            record: None,
            scan: None,
            published: BTreeMap::new(),
            signed: Vec::new(),
            reused: Vec::new(),
            pushed_digests: Vec::new(),
            timings: Vec::new(),
        }
    }
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
    /// The tools were checked in this run already (`release --local`): preflight keeps the answers.
    pub tools_asked: bool,
}

/// Runs the plan's steps in order (only preflight when not executing) and returns their timings.
pub fn publish(sh: &Shell, plan: &Plan, pipeline: &Pipeline) -> Result<Vec<(String, f64)>> {
    let _lock = flock::lock_images(&sh.current_dir(), plan.images.iter().map(|i| i.name.as_str()))?;
    if !console::quiet() {
        eprint!("{}", plan_text::render(plan));
    }
    let steps: &[Step] = if pipeline.execute { &plan.steps } else { &[Step::Preflight] };
    let mut outputs = Outputs::new(Store::at(&sh.current_dir().join(&plan.out_dir)));
    for &next in steps {
        let started = Instant::now();
        console::run(next.name(), || run_step(sh, plan, pipeline, next, &mut outputs))?;
        outputs.timings.push((next.name().to_owned(), started.elapsed().as_secs_f64()));
    }
    Ok(outputs.timings)
}

/// Runs `step`: each step has one function below, in the order the steps run.
fn run_step<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, step: Step, out: &mut Outputs<'a>) -> Result<()> {
    let run: StepFn = match step {
        Step::Preflight => run_preflight,
        Step::Build => run_build,
        Step::Smoke => run_smoke,
        Step::Scan => run_scan,
        Step::PushDigest => run_push_digest,
        Step::RecordVariant => run_record_variant,
        Step::Merge => run_merge,
        Step::PushVersioned => run_push_versioned,
        Step::Verify => run_verify,
        Step::Sign => run_sign,
        Step::PushFloating => run_push_floating,
        Step::Record => run_record,
    };
    run(sh, plan, pipeline, out)
}

/// One step: the shell, the plan, how the pipeline runs, and what earlier steps returned (its own
/// output goes there too).
type StepFn = for<'a> fn(&'a Shell, &Plan, &Pipeline, &mut Outputs<'a>) -> Result<()>;

fn run_preflight<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    // A merge builds and scans nothing: no builder, DB or build configuration to check.
    let building = !plan.steps.contains(&Step::Merge);
    let checks = Checks {
        rehearsal: pipeline.rehearsal,
        building,
        builder: pipeline.builder.as_deref(),
        tools_asked: pipeline.tools_asked,
    };
    let cleared = preflight::run(sh, plan, &checks, &mut out.verdicts)?;
    out.reused.extend(cleared.reused.iter().cloned());
    out.cleared = Some(cleared);
    Ok(())
}

fn run_build<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let capabilities = Some(earlier(&out.cleared, "preflight")?.capabilities);
    let settings =
        Settings { builder: pipeline.builder.clone(), rebuild: pipeline.rebuild, capabilities, ..Default::default() };
    let record = build::build_all(sh, plan, &settings)?;
    out.reused.extend(record.images.iter().filter(|i| i.reused).map(|i| Reused {
        check: Check::Build,
        subject: i.name.clone(),
        since: i.built_at.clone(),
    }));
    out.record = Some(record);
    Ok(())
}

fn run_smoke<'a>(sh: &'a Shell, plan: &Plan, _: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let reused = smoke::run(sh, plan, earlier(&out.record, "build")?, &mut out.verdicts)?;
    out.reused.extend(reused);
    Ok(())
}

fn run_scan<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let db = earlier(&out.cleared, "preflight")?.db.as_ref();
    let scanned = scan::scan(sh, plan, earlier(&out.record, "build")?, db, &mut out.verdicts);
    if scanned.is_err() && plan.steps.contains(&Step::RecordVariant) {
        // The failed verdict is recorded too: the merge names this variant as failed.
        variant::write_failed_scan(sh, plan, earlier(&out.record, "build")?, pipeline.builder.as_deref())?;
    }
    let summary = scanned?;
    out.reused.extend(summary.images.iter().filter_map(|image| {
        let since = image.reused_from.clone()?;
        Some(Reused { check: Check::Scan, subject: image.name.clone(), since })
    }));
    out.scan = Some(summary);
    Ok(())
}

fn run_push_digest<'a>(sh: &'a Shell, plan: &Plan, _: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let transports = &earlier(&out.cleared, "preflight")?.transports;
    out.pushed_digests = variant::push_digest(sh, transports, plan, earlier(&out.record, "build")?)?;
    Ok(())
}

fn run_record_variant<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let (record, scan) = (earlier(&out.record, "build")?, earlier(&out.scan, "scan")?);
    variant::write(sh, plan, record, scan, &out.pushed_digests, pipeline.builder.as_deref())?;
    Ok(())
}

fn run_merge<'a>(sh: &'a Shell, plan: &Plan, pipeline: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let merged = merge::merge(sh, plan, &pipeline.variants)?;
    out.record = Some(merged.record);
    out.scan = Some(merged.scan);
    Ok(())
}

fn run_push_versioned<'a>(sh: &'a Shell, plan: &Plan, _: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let transports = &earlier(&out.cleared, "preflight")?.transports;
    out.published = publish::push_versioned(sh, transports, plan, earlier(&out.record, "build")?)?;
    Ok(())
}

fn run_verify<'a>(sh: &'a Shell, plan: &Plan, _: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let transports = &earlier(&out.cleared, "preflight")?.transports;
    publish::verify(sh, transports, plan, earlier(&out.record, "build")?, &out.published)
}

fn run_sign<'a>(sh: &'a Shell, plan: &Plan, _: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let signer = earlier(&out.cleared, "preflight")?.signer.as_ref();
    let signer = signer.context("signing is enabled but preflight found no signer")?;
    let (record, scan) = (earlier(&out.record, "build")?, earlier(&out.scan, "scan")?);
    let out_dir = sh.current_dir().join(&plan.out_dir);
    let (signed, reused) = sign::sign_all(signer, plan, record, scan, &out_dir, &mut out.verdicts)?;
    out.signed = signed;
    out.reused.extend(reused);
    Ok(())
}

fn run_push_floating<'a>(sh: &'a Shell, plan: &Plan, _: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
    let transports = &earlier(&out.cleared, "preflight")?.transports;
    publish::push_floating(sh, transports, plan, earlier(&out.record, "build")?, &mut out.published)
}

fn run_record<'a>(sh: &'a Shell, plan: &Plan, _: &Pipeline, out: &mut Outputs<'a>) -> Result<()> {
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
    let path = record::write(&sh.current_dir().join(&plan.out_dir), &release)?;
    eprint!("{}", record::summary_markdown(&release));
    eprintln!("release record: {}", path.display());
    let kit = match earlier(&out.cleared, "preflight")? {
        cleared @ Cleared { signer: Some(signer), .. } => {
            let shown = format!("{}/{}", plan.out_dir, verify_kit::DIR);
            let out_dir = sh.current_dir().join(&plan.out_dir);
            verify_kit::write(&release, signer, &cleared.transports, &out_dir, &shown)?
        }
        _ => None,
    };
    if let Some(kit) = &kit {
        eprint!("{kit}");
    }
    if console::github_actions() {
        record::github_outputs(&release, &path)?;
        if let (Some(kit), Some(summary)) = (&kit, std::env::var_os("GITHUB_STEP_SUMMARY")) {
            record::append(std::path::Path::new(&summary), kit)?;
        }
    }
    Ok(())
}

fn earlier<'o, T>(output: &'o Option<T>, step: &str) -> Result<&'o T> {
    output.as_ref().with_context(|| format!("the plan runs this step before `{step}`, which it depends on"))
}
