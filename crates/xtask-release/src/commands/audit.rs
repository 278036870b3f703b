//! `cargo xtask audit`: every live tag of every configured image re-audited against today's
//! advisories. For each released, non-retracted version and each floating tag it resolves the
//! digest in the registry, verifies its signature, takes each platform's SBOMs from the release's
//! own signed CycloneDX attestations (every one that verifies; others ignored and named), scans
//! them with a fresh DB under the configured policy, and reports per tag the findings (new since
//! the release's scan, fixed upstream in which version, shipped fixed in which newer release): a
//! table, `--json`, `--sarif` and a Markdown summary. Fails when any live tag fails the policy, or
//! could not be audited: an unsigned digest, a floating tag on a digest no live release has, an
//! attestation there that does not verify. Read-only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use semver::Version;
use serde::Serialize;
use xshell::Shell;

use crate::commands::audit_setup::{Common, Setup, Subject};
use crate::console;
use crate::rules::audit::{self, TagAudit};
use crate::rules::audit_report;
use crate::rules::config::ScanPolicy;
use crate::rules::openvex;
use crate::rules::policy::{self, Finding};
use crate::steps::audit::{self as steps, Reader, TagRead};
use crate::steps::record::{self, ReleaseRecord};
use crate::steps::scan;
use crate::steps::vulndb::VulnDb;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Print the audit (JSON) on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write the findings as SARIF 2.1.0 to FILE (for GitHub code scanning).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write the Markdown summary to FILE. Under GitHub Actions it is also appended to
    /// $GITHUB_STEP_SUMMARY.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// The audit as `--json` prints it and `target/xtask/…/audit/audit.json` keeps it.
#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    policy: &'a ScanPolicy,
    db: Option<&'a VulnDb>,
    passed: bool,
    tags: &'a [TagAudit],
    /// Tags that could not be audited: the result is partial when any is listed.
    errors: &'a [String],
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let setup = console::run("gather", || Setup::open(sh, &args.common))?;
    let images = setup.subjects.iter().flat_map(|s| s.plan.images.iter().map(|i| i.name.as_str()));
    let _lock = crate::tools::flock::lock_for(&sh.current_dir(), "audit", images)?;
    let policy = setup.subjects[0].plan.scan.clone();
    let root = sh.current_dir();
    scan::valid_exceptions(&root, &policy)?;
    let ignorefile = Some(root.join(&policy.ignorefile)).filter(|f| f.exists());
    let db = setup.db(sh)?;
    if db.is_none() {
        bail!(
            "the scan policy runs no vuln scanner (scanners in [workspace.metadata.xtask.scan], or --scanners), so \
             there is nothing to audit: add vuln"
        );
    }
    let at_release = recorded_findings(&setup.out);
    let reader =
        Reader { sh, transports: &setup.transports, verifier: setup.verifier(), scratch: setup.out.join("audit") };
    let _ = std::fs::remove_dir_all(&reader.scratch);
    let Audited { tags, errors } = console::run("audit", || {
        let mut all = Audited::default();
        for subject in &setup.subjects {
            let context =
                Audit { reader: &reader, policy: &policy, ignorefile: ignorefile.as_deref(), db: db.as_ref() };
            all.extend(audit_subject(&context, subject, &at_release)?);
        }
        Ok(all)
    })?;

    let passed = audit::passed(&tags) && errors.is_empty();
    let report = Report { schema_version: 1, policy: &policy, db: db.as_ref(), passed, tags: &tags, errors: &errors };
    record::write_json(&reader.scratch.join("audit.json"), &report)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", audit_report::table(&tags));
    }
    if let Some(db) = &db {
        eprintln!("judged by {}@{} (UpdatedAt {})", db.repository, db.digest, db.updated_at);
    }
    if let Some(path) = &args.sarif {
        let sarif = audit_report::sarif(&tags, env!("CARGO_PKG_VERSION"));
        record::write_json(path, &sarif)?;
    }
    let db_name = db.as_ref().map(|db| format!("{}@{} (UpdatedAt {})", db.repository, db.digest, db.updated_at));
    let mut markdown = audit_report::markdown(&tags, db_name.as_deref());
    for error in &errors {
        markdown += &format!("\n**Not audited:** {error}\n");
    }
    if let Some(path) = &args.summary {
        std::fs::write(path, &markdown).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if console::github_actions() {
        if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") {
            record::append(std::path::Path::new(&path), &markdown)?;
        }
    }
    if !errors.is_empty() {
        bail!("partial result: {} of the live digests could not be audited:\n  {}", errors.len(), errors.join("\n  "));
    }
    let affected: Vec<String> =
        tags.iter().filter(|t| !t.passed).map(|t| format!("{}:{}", t.repository, t.tag)).collect();
    if !affected.is_empty() {
        bail!(
            "{} live tag(s) fail the scan policy: {}. Release a fixed version (the table says which advisories and \
             fixed versions), or accept a finding until a date in {}",
            affected.len(),
            affected.join(", "),
            policy.ignorefile
        );
    }
    eprintln!("every live tag passes the policy ({} audited)", tags.len());
    Ok(())
}

struct Audit<'a> {
    reader: &'a Reader<'a>,
    policy: &'a ScanPolicy,
    ignorefile: Option<&'a std::path::Path>,
    db: Option<&'a VulnDb>,
}

/// version → advisory IDs its release's scan reported, from the release record at hand (the last
/// release made from this checkout); a fresh runner has none.
fn recorded_findings(out: &std::path::Path) -> BTreeMap<(String, String), Vec<String>> {
    let Ok(text) = std::fs::read_to_string(out.join(record::FILE)) else { return BTreeMap::new() };
    let Ok(release) = serde_json::from_str::<ReleaseRecord>(&text) else { return BTreeMap::new() };
    release
        .images
        .iter()
        .map(|image| {
            let version = if image.version.is_empty() { release.version.clone() } else { image.version.clone() };
            let ids = image.scan.findings.iter().map(|f| f.finding.id.clone());
            let ids = ids.chain(image.scan.accepted.iter().map(|a| a.finding.id.clone())).collect();
            ((image.name.clone(), version), ids)
        })
        .collect()
}

/// What auditing found, in the order the tags were read: the live tags audited, and why each tag
/// or digest that could not be audited could not.
#[derive(Default)]
struct Audited {
    tags: Vec<TagAudit>,
    errors: Vec<String>,
}

impl Audited {
    fn extend(&mut self, other: Audited) {
        self.tags.extend(other.tags);
        self.errors.extend(other.errors);
    }
}

/// Every live tag of every repository of one subject's images, audited.
fn audit_subject(
    a: &Audit<'_>,
    subject: &Subject,
    at_release: &BTreeMap<(String, String), Vec<String>>,
) -> Result<Audited> {
    let mut audited = Audited::default();
    for image in &subject.plan.images {
        for repository in &image.repositories {
            let read = read_live_tags(a, &subject.live, repository)?;
            audited.tags.extend(judge_tags(a, (&image.name, repository), at_release, &read)?);
            audited.errors.extend(read.errors);
        }
    }
    Ok(audited)
}

/// The live tags of one repository, read: each digest read and scanned once, whichever tags point
/// at it.
struct LiveRead {
    /// digest → what was read there, and today's findings per platform.
    scanned: BTreeMap<String, Scanned>,
    /// The live versions' digests, in the order read.
    versioned: Vec<(Version, String)>,
    /// The tags to judge, each with its digest.
    pointed: Vec<(String, String)>,
    /// Why each tag or digest that could not be audited could not.
    errors: Vec<String>,
}

/// Reads and scans each live tag of `repository` (`live`: the live versions): a tag the registry
/// does not have is skipped (a floating one) or named (a version's); a digest that cannot be
/// audited is named once, with every tag on it.
fn read_live_tags(a: &Audit<'_>, live: &[Version], repository: &str) -> Result<LiveRead> {
    let mut read =
        LiveRead { scanned: BTreeMap::new(), versioned: Vec::new(), pointed: Vec::new(), errors: Vec::new() };
    // digest → the tags on it, and why it could not be audited (read once, reported once).
    let mut failed: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
    for tag in audit::live_tags(live) {
        let is_version = Version::parse(&tag).is_ok();
        let reference = format!("{repository}:{tag}");
        let digest = match crate::tools::registry::digest_of(a.reader.sh, a.reader.transports, &reference) {
            Ok(Some(digest)) => digest,
            Ok(None) if !is_version => continue,
            Ok(None) => {
                read.errors.push(format!(
                    "{repository}:{tag}: released (git tag) but not in the registry: re-publish it, or retract it"
                ));
                continue;
            }
            Err(error) => bail!("{repository}:{tag}: {error:#}"),
        };
        if let Some((tags, _)) = failed.get_mut(&digest) {
            tags.push(tag);
            continue;
        }
        if let Some(problem) = audit::unknown_digest(&reference, &digest, &read.versioned) {
            failed.insert(digest, (vec![tag], problem));
            continue;
        }
        if !read.scanned.contains_key(&digest) {
            match read_and_scan(a, repository, &tag) {
                Ok(Some(scanned)) => {
                    read.scanned.insert(digest.clone(), scanned);
                }
                Ok(None) => continue,
                Err(error) => {
                    failed.insert(digest, (vec![tag], format!("{error:#}")));
                    continue;
                }
            }
        }
        if let Ok(version) = Version::parse(&tag) {
            read.versioned.push((version, digest.clone()));
        }
        read.pointed.push((tag, digest));
    }
    for (tags, error) in failed.into_values() {
        let others = tags.iter().skip(1).map(|t| format!("{repository}:{t}")).collect::<Vec<_>>();
        read.errors.push(match others.is_empty() {
            true => error,
            false => format!("{error}\n    the same digest is live as {} too", others.join(", ")),
        });
    }
    Ok(read)
}

/// Each read tag judged by the policy: today's findings, each new since the release's own scan
/// (`at_release`: the advisories it reported, by image and version) or not, and shipped fixed in
/// which newer live release.
fn judge_tags(
    a: &Audit<'_>,
    (image, repository): (&str, &str),
    at_release: &BTreeMap<(String, String), Vec<String>>,
    read: &LiveRead,
) -> Result<Vec<TagAudit>> {
    let LiveRead { scanned, versioned, pointed, .. } = read;
    // Every digest a tag was kept for was scanned first: a missing one is this function's error.
    let scanned_at = |digest: &str| {
        scanned.get(digest).with_context(|| format!("{repository}: digest {digest} was read but not scanned"))
    };
    // What today's scan finds on each live version, for "a newer release ships the fix".
    let per_version = versioned
        .iter()
        .map(|(v, d)| {
            let keys = scanned_at(d)?.1.values().flatten().map(|f| (f.id.clone(), f.package.clone())).collect();
            Ok((v.clone(), keys))
        })
        .collect::<Result<Vec<audit::Found>>>()?;
    let mut tags = Vec::new();
    for (tag, digest) in pointed {
        let (read, found) = scanned_at(digest)?;
        let version = audit::version_at(digest, versioned).cloned();
        let targets: Vec<(Option<&str>, &[Finding])> =
            found.iter().map(|(p, f)| (Some(p.as_str()), f.as_slice())).collect();
        let listed = policy::listed(a.policy, &targets);
        let known = version.as_ref().and_then(|v| at_release.get(&(image.to_owned(), v.to_string())));
        let findings = audit::classify(listed, known.map(Vec::as_slice), version.as_ref(), &per_version);
        let passed = findings.iter().all(|f| !f.listed.blocking);
        tags.push(TagAudit {
            image: image.to_owned(),
            repository: repository.to_owned(),
            tag: tag.clone(),
            version: version.map(|v| v.to_string()),
            digest: digest.clone(),
            sboms: read.platforms.iter().map(|p| (p.platform.clone(), p.source)).collect(),
            ignored: read.platforms.iter().flat_map(|p| p.ignored.clone()).collect(),
            findings,
            passed,
        });
    }
    Ok(tags)
}

type Scanned = (TagRead, BTreeMap<String, Vec<Finding>>);

fn read_and_scan(a: &Audit<'_>, repository: &str, tag: &str) -> Result<Option<Scanned>> {
    let Some(read) = a.reader.read(repository, tag, false)? else { return Ok(None) };
    let mut found = match a.db {
        Some(db) => steps::scan(a.reader.sh, a.policy, a.ignorefile, db, &read.platforms)?,
        None => BTreeMap::new(),
    };
    // The release's own VEX: what it said the image is not affected by, until each statement's date.
    let today = scan::today()?;
    for platform in &read.platforms {
        let image = format!("{repository}@{}", platform.digest);
        let documents = a.reader.vex(&image, &format!("{repository}:{tag}"))?;
        let documents = documents
            .into_iter()
            .map(|d| openvex::read(d).map_err(|e| anyhow::anyhow!("the openvex attestation on {image}: {e}")))
            .collect::<Result<Vec<_>>>()?;
        let honoured = openvex::suppressing(&documents, &today);
        if let Some(findings) = found.get_mut(&platform.platform) {
            findings.retain(|f| !honoured.iter().any(|(id, _)| *id == f.id));
        }
        for (id, until) in honoured {
            eprintln!(
                "    {repository}:{tag} {}: {id} not affected, says the release's VEX until {until}",
                platform.platform
            );
        }
    }
    Ok(Some((read, found)))
}
