//! The vulnerability DB a run is judged by, fetched once per run, in preflight (or first thing in
//! `cargo xtask scan`): from the first of the policy's `db-repositories` that serves a DB no older
//! than `max-db-age`, tried in order by the xtask (trivy's own list falls back only on temporary
//! errors). Each source has its own cache under `target/xtask/trivy-db/`, holding the digest it was
//! downloaded at; a source whose digest moved is downloaded again, pinned by that digest. Every
//! platform is then scanned against this one DB without updating it. No source → fail closed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::console;
use crate::rules::config::{self, Scanner};
use crate::rules::plan::Plan;
use crate::rules::transport::{registry_of, Transport, Transports};
use crate::rules::vulndb::{self, Source};
use crate::tools::{registry, transport, trivy};

/// The DB caches, by source, in the run's `out_dir`.
const CACHE: &str = "trivy-db";

/// The DB the scan used: what every finding (and every absence of one) rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnDb {
    /// The source it came from, as configured (`REGISTRY/PATH:TAG`).
    pub repository: String,
    /// The manifest digest it was downloaded at.
    pub digest: String,
    /// Its `UpdatedAt` and `NextUpdate` (RFC 3339).
    pub updated_at: String,
    pub next_update: String,
    /// The trivy cache directory holding it.
    pub cache_dir: PathBuf,
}

/// The DB for the plan's policy, `None` when the policy has no `vuln` scanner.
pub fn fetch(sh: &Shell, plan: &Plan) -> Result<Option<VulnDb>> {
    let policy = &plan.scan;
    if !policy.scanners.contains(&Scanner::Vuln) {
        return Ok(None);
    }
    trivy::require_pinned_version(sh)?;
    let max_age = config::max_db_age(policy)?;
    let cache = sh.current_dir().join(&plan.out_dir).join(CACHE);
    std::fs::create_dir_all(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let mut failures = Vec::new();
    for repository in &policy.db_repositories {
        let fetched = fetch_one(sh, &cache, repository, &plan.insecure_registries).and_then(|db| {
            let source = Source { repository: db.repository.clone(), digest: db.digest.clone() };
            let age = vulndb::check_age(&source, &db.updated_at, SystemTime::now(), max_age)?;
            Ok((db, age))
        });
        match fetched {
            Ok((db, age)) => {
                console::progress!(
                    "    vulnerability DB {}@{}: updated {} ({} ago), all platforms are scanned against it",
                    db.repository,
                    db.digest,
                    db.updated_at,
                    vulndb::human(age)
                );
                return Ok(Some(db));
            }
            Err(error) => {
                eprintln!("    warning: no usable vulnerability DB from {repository}: {error:#}");
                failures.push(format!("{repository}: {error:#}"));
            }
        }
    }
    bail!(
        "no usable vulnerability DB, so the scan fails closed (without its DB the vuln scanner passes everything):\n  {}\n\
         Fix: make one of these serve a current DB, or name another source: db-repositories in \
         [workspace.metadata.xtask.scan], or --db-repository / XTASK_TRIVY_DB_REPOSITORY for one run. \
         (A policy without vuln, `--scanners secret,misconfig`, scans without a DB, and says so.)",
        failures.join("\n  ")
    )
}

/// One source: its current digest, the cached DB if it is that digest, else a fresh download.
fn fetch_one(sh: &Shell, cache: &Path, repository: &str, insecure: &[String]) -> Result<VulnDb> {
    let registry = registry_of(repository);
    let access = transport::access(registry, insecure)?;
    let mut transports = Transports::default();
    transports.insert(registry, access.transport);
    let key = vulndb::cache_key(repository);
    let digest = registry::manifest_digest(sh, &transports, repository, &cache.join(format!("{key}.manifest")))?
        .with_context(|| format!("it holds no {repository} (no such tag)"))?;
    let source = Source { repository: repository.to_owned(), digest };
    let dir = cache.join(&key);
    let cached: Option<Source> =
        std::fs::read_to_string(dir.join("source.json")).ok().and_then(|text| serde_json::from_str(&text).ok());
    if cached.as_ref() != Some(&source) || !dir.join("db/metadata.json").is_file() {
        download(sh, &dir, &source, access.transport == Transport::PlainHttp)?;
    }
    let text = std::fs::read_to_string(dir.join("db/metadata.json"))
        .with_context(|| format!("the DB in {} has no metadata.json", dir.display()))?;
    let metadata = vulndb::metadata(&text)?;
    Ok(VulnDb {
        repository: source.repository,
        digest: source.digest,
        updated_at: metadata.updated_at,
        next_update: metadata.next_update,
        cache_dir: dir,
    })
}

/// Downloads the DB pinned by digest into a fresh directory beside `dir`, then puts it in place:
/// an interrupted download never leaves a DB that looks complete.
fn download(sh: &Shell, dir: &Path, source: &Source, plain_http: bool) -> Result<()> {
    let name = dir.file_name().context("a DB cache without a name")?.to_string_lossy();
    let partial = dir.with_file_name(format!("{name}.download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    trivy::download_db(sh, &vulndb::pinned(&source.repository, &source.digest), &partial, plain_http)?;
    std::fs::write(partial.join("source.json"), serde_json::to_string_pretty(source)? + "\n")?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&partial, dir).with_context(|| format!("cannot move the DB to {}", dir.display()))?;
    console::progress!("    downloaded {} ({})", source.repository, source.digest);
    Ok(())
}
