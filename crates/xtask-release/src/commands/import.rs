//! `cargo xtask release import FILE --registry HOST[:PORT]/NAMESPACE`: a bundle that `release
//! bundle` wrote, pushed into another registry with every digest kept (`steps::bundle_import`). It
//! needs neither the registry the bundle was read from nor git: only the bundle, the workspace's
//! configuration (retries, `insecure-registries`) and the destination's credentials.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::commands::bundle::reach;
use crate::console;
use crate::rules::bundle::TagMove;
use crate::rules::reference::{self, Repository};
use crate::steps::bundle_import;
use crate::tools::registry::Session;
use crate::tools::{cargo, retry};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The bundle (the tar `cargo xtask release bundle` wrote).
    #[arg(value_name = "FILE")]
    pub bundle: PathBuf,
    /// Where to import it: HOST[:PORT]/NAMESPACE, each image keeping its name (e.g.
    /// registry.internal:5000/acme → registry.internal:5000/acme/<image>). Default: $XTASK_REGISTRY.
    #[arg(long, value_name = "HOST[:PORT]/NAMESPACE")]
    pub registry: Option<String>,
}

pub fn run(sh: &Shell, args: Args) -> Result<()> {
    let to = args.registry.clone().or_else(|| sh.var("XTASK_REGISTRY").ok().filter(|r| !r.is_empty()));
    let to = to.context("say where to import the bundle: --registry HOST[:PORT]/NAMESPACE (or set XTASK_REGISTRY)")?;
    // A sample repository proves the destination well-formed before the bundle is unpacked.
    let registry = Repository::parse(&reference::rewrite_registry("example.invalid/image", &to)?)?.registry.to_owned();
    let config = cargo::load(sh)?.config()?;
    retry::configure(config.retry.policy()?);
    let archive = std::fs::canonicalize(&args.bundle)
        .with_context(|| format!("{}: no such bundle (pass the tar `release bundle` wrote)", args.bundle.display()))?;
    let scratch = std::env::temp_dir().join(format!("xtask-import-{}", std::process::id()));
    let result = (|| {
        let unpacked = console::run("unpack", || bundle_import::unpack(sh, &archive, &scratch))?;
        let transports = reach(std::slice::from_ref(&registry), &config.insecure_registries)?;
        // Logged in where its credentials are set (the per-registry pair: the destination is named here).
        let _session = Session::open(sh, std::slice::from_ref(&registry), true)
            .with_context(|| format!("cannot log in to {registry} to import the bundle"))?;
        let planned = console::run("check-tags", || bundle_import::plan(sh, &transports, &unpacked, &to))?;
        let uploaded = console::run("import", || bundle_import::push(sh, &transports, &unpacked.dir, &planned))?;
        let written = planned.iter().filter(|p| p.moved == TagMove::Write).count();
        println!(
            "imported {} into {to}: {} tags ({written} written, {} already there), {uploaded} blobs uploaded",
            args.bundle.display(),
            planned.len(),
            planned.len() - written
        );
        for item in planned.iter().filter(|p| !p.tag.starts_with("sha256-")) {
            println!("  {}:{} {}", item.repository, item.tag, item.entry.digest);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
