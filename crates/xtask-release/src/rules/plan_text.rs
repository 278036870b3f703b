//! The human-readable listing of a plan (`cargo xtask plan` without `--json`), pure.

use std::fmt::Write;

use crate::rules::config::{ScanPolicy, Scanner};
use crate::rules::context::Kind;
use crate::rules::dockerfile;
use crate::rules::overrides::{names, ScanOverride};
use crate::rules::plan::{ImagePlan, Plan};
use crate::rules::size_budget;

/// The plan as a readable listing, one fact per line.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let kind = match plan.context.kind {
        Kind::Local => "local release",
        Kind::PullRequest => "pull request (nothing is pushed)",
        Kind::Branch => "branch build (nothing is pushed)",
        Kind::Edge => "edge build",
        Kind::Tag => "tag release",
    };
    let git = &plan.git;
    let _ = writeln!(out, "version   {}", plan.version);
    let versioning = &plan.versioning;
    let _ = writeln!(out, "versions  {}, release tags {}", versioning.mode.as_str(), versioning.tag_pattern.as_str());
    let _ = writeln!(out, "context   {kind}, {}", plan.context.git_ref);
    let _ = writeln!(
        out,
        "commit    {}{}{}",
        git.sha,
        git.tag_at_head.as_deref().map(|tag| format!(" ({tag})")).unwrap_or_default(),
        if git.dirty { ", uncommitted changes" } else { "" }
    );
    let _ = writeln!(out, "created   {} (SOURCE_DATE_EPOCH={})", plan.created, plan.source_date_epoch);
    let _ = writeln!(out, "push      {}", if plan.push { "yes" } else { "no" });
    for image in &plan.images {
        render_image(&mut out, image);
    }
    let mut policy = policy_lines(&plan.scan, &plan.scan_overrides).into_iter();
    let _ = writeln!(out, "\nscan      {}", policy.next().unwrap_or_default());
    for line in policy {
        let _ = writeln!(out, "          {line}");
    }
    for (index, registry) in plan.insecure_registries.iter().enumerate() {
        let title = if index == 0 { "insecure" } else { "" };
        let _ = writeln!(out, "{title:<9} {registry} (plain HTTP allowed: insecure-registries)");
    }
    let signing = if !plan.signing.enabled {
        "off".to_owned()
    } else {
        let tlog = if plan.signing.tlog_upload { "with" } else { "without" };
        format!("cosign, {tlog} transparency-log upload")
    };
    let _ = writeln!(out, "signing   {signing}");
    let _ = writeln!(out, "steps     {}", names(&plan.steps).join(" -> "));
    out
}

fn render_image(out: &mut String, image: &ImagePlan) {
    let _ = writeln!(out, "\nimage {} (crate {}, binary {})", image.name, image.package, image.binary);
    let _ = writeln!(out, "  release    {} {}, git tag {}", image.package, image.version, image.release_tag);
    let target = image.target.as_deref().map(|t| format!(", target {t}")).unwrap_or_default();
    let dockerfile = match image.dockerfile.as_str() {
        dockerfile::ENGINE_DOCKERFILE_PATH => format!("the engine's Dockerfile (contract {})", dockerfile::CONTRACT),
        own => own.to_owned(),
    };
    let _ = writeln!(out, "  build      {dockerfile} in {}{target}", image.context);
    let _ = writeln!(out, "  platforms  {}", image.platforms.join(", "));
    if let Some(budget) = image.max_size {
        let _ =
            writeln!(out, "  max-size   {} on each platform, as pushed ({budget} bytes)", size_budget::human(budget));
    }
    let _ = writeln!(out, "  builder    {}", image.builder);
    if let Some(problem) = &image.builder.problem {
        let _ = writeln!(out, "             PROBLEM: {problem}");
    }
    render_system(out, image);
    if let Some(service) = &image.service {
        let _ = writeln!(out, "  service    {}", service.describe());
    }
    let _ = writeln!(out, "  local      {}", image.local_ref);
    list(out, "versioned", &image.versioned_tags);
    list(out, "floating", &image.floating_tags);
    let _ = writeln!(out, "  labels and annotations");
    for (key, value) in &image.labels {
        let _ = writeln!(out, "    {key}={value}");
    }
    list(out, "cache from", &image.cache_from);
    list(out, "cache to", &image.cache_to);
}

/// The system libraries: the packages and how they link, then each crate that decided it and why.
fn render_system(out: &mut String, image: &ImagePlan) {
    let system = &image.system;
    let packages = match system.packages.is_empty() {
        true => "none (no system library)".to_owned(),
        false => format!("{} for each platform, {} linked", system.packages.join(", "), system.linkage.as_str()),
    };
    let _ = writeln!(out, "  system     {packages}");
    for detected in &system.detected {
        let brings = if detected.packages.is_empty() { "nothing".to_owned() } else { detected.packages.join(", ") };
        let _ = writeln!(out, "             {}: {brings} ({})", detected.crate_name, detected.because);
    }
    if let Some(configured) = &system.configured {
        let _ = writeln!(out, "             images.{}.system-packages: [{}]", image.name, configured.join(", "));
    }
    if let Some(problem) = &system.problem {
        let _ = writeln!(out, "             PROBLEM: {problem}");
    }
}

fn list(out: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        let _ = writeln!(out, "  {title:<10} (none)");
    }
    for (index, item) in items.iter().enumerate() {
        let title = if index == 0 { title } else { "" };
        let _ = writeln!(out, "  {title:<10} {item}");
    }
}

/// The effective scan policy in a few lines, each override marked with what made it and the
/// configured value it replaces (the plan listing, and the scan step's header).
pub fn policy_lines(scan: &ScanPolicy, overrides: &[ScanOverride]) -> Vec<String> {
    let marked = |setting: &str, value: String| match overrides.iter().find(|o| o.setting == setting) {
        Some(o) => format!("{value} (override: {}; configured {})", o.by, o.configured.join(", ")),
        None => value,
    };
    let db = if scan.scanners.contains(&Scanner::Vuln) {
        let sources = marked("db-repositories", scan.db_repositories.join(", then "));
        format!("vulnerability DB from {sources}; at most {} old", scan.max_db_age)
    } else {
        "no vulnerability DB (no vuln scanner)".to_owned()
    };
    vec![
        format!("scanners {}", marked("scanners", names(&scan.scanners).join(", "))),
        format!(
            "fail on {}; {}; ignore file {}",
            names(&scan.severities).join(", "),
            if scan.ignore_unfixed { "unfixed ignored" } else { "unfixed reported" },
            scan.ignorefile
        ),
        db,
    ]
}
