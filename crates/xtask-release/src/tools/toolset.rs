//! The capability probe: asks buildx and cosign (and the engine) what they are, once, at the start
//! of a run, and hands the steps a typed `Capabilities` (the decisions: `rules::toolset`).

use anyhow::{Context, Result};
use xshell::Shell;

use crate::rules::toolset::{self, Capabilities, Cosign, Version};
use crate::tools::said;

/// What the tools are asked about themselves, each once per run (`tools::said`); preflight asks
/// them side by side first (`doctor::questions`).
pub const BUILDX_VERSION: &[&str] = &["buildx", "version"];
pub const COSIGN_VERSION: &[&str] = &["version"];
pub const COSIGN_SIGN_HELP: &[&str] = &["sign", "--help"];
pub const ENGINE_VERSION: &[&str] = &[
    "version",
    "--format",
    "{{.Server.Version}} {{range .Server.Components}}{{if eq .Name \"containerd\"}}{{.Version}}{{end}}{{end}}",
];

/// `docker buildx version`, read.
pub fn buildx(sh: &Shell) -> Result<Version> {
    let text =
        said::read(sh, "docker", BUILDX_VERSION).context("docker buildx is not installed (`cargo xtask doctor`)")?;
    toolset::buildx_version(&text).with_context(|| format!("`docker buildx version` said {text:?}: no version in it"))
}

/// Which cosign is installed; `None` if none is.
pub fn cosign(sh: &Shell) -> Option<Cosign> {
    let text = said::read(sh, "cosign", COSIGN_VERSION).ok()?;
    toolset::cosign_version(&text, || said::read_any(sh, "cosign", COSIGN_SIGN_HELP))
}

/// The engine's and its containerd's versions (`docker version`), if the engine answers.
pub fn engine(sh: &Shell) -> Option<(Version, Option<Version>)> {
    let text = said::read(sh, "docker", ENGINE_VERSION).ok()?;
    let mut words = text.split_whitespace();
    let engine = Version::find(words.next()?)?;
    Some((engine, words.next().and_then(Version::find)))
}

/// What the installed tools can do (buildx must be installed; cosign may not be).
pub fn probe(sh: &Shell) -> Result<Capabilities> {
    Ok(Capabilities::new(buildx(sh)?, engine(sh).map(|(engine, _)| engine), cosign(sh)))
}

/// One line for the run's log: what the tools are and what that decides.
pub fn describe(c: &Capabilities) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let cosign = match c.cosign {
        Some(Cosign { version: Some(v), .. }) => format!("cosign {v}"),
        Some(Cosign { major, version: None }) => format!("cosign {major}.x"),
        None => "no cosign".to_owned(),
    };
    format!(
        "toolset: buildx {} on engine {} (provenance from the build record: {}, --call check: {}), {cosign} (signature format: {:?})",
        c.buildx,
        c.engine.map_or("unknown".to_owned(), |e| e.to_string()),
        yes(c.provenance_from_history),
        yes(c.call_check),
        c.signature_format()
    )
}
