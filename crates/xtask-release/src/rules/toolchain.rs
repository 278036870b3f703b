//! The Rust an image needs and the builder that has it, pure.
//!
//! An image compiles its package and the workspace members that package reaches by path. The Rust
//! it needs is the highest of: each of those crates' `rust-version` (its own or inherited from
//! `[workspace.package]`), 1.85 for a crate on edition 2024, the `rust-version` of every locked
//! dependency the build compiles, and the channel of `rust-toolchain.toml` (or `rust-toolchain`)
//! when that is a version. The builder is the oldest
//! Debian release whose rustc meets it (trixie 1.85, then forky 1.97: the toolchain stage's layer
//! stays the one every other image shares), or the builder image the configuration names, which
//! declares the Rust it has (it cannot be inspected before the build). A requirement no builder
//! meets, or a channel no builder can honour (`nightly`, `beta`), is a problem the plan carries
//! and preflight refuses before anything is built.

use std::collections::BTreeMap;
use std::fmt;

use semver::Version;
use serde::{Deserialize, Serialize};
use toml_edit::{DocumentMut, Item};

/// A builder the Dockerfile knows how to use without configuration.
pub struct DebianBuilder {
    pub name: &'static str,
    pub image: &'static str,
    /// The rustc its archive ships (`rustc` / `libstd-rust-dev`).
    pub rust: (u64, u64, u64),
}

/// The Debian builders, oldest first: the choice is the first one that meets the requirement.
pub const DEBIAN_BUILDERS: [DebianBuilder; 2] = [
    DebianBuilder { name: "Debian trixie", image: "debian:trixie-slim", rust: (1, 85, 1) },
    DebianBuilder { name: "Debian forky", image: "debian:forky-slim", rust: (1, 97, 1) },
];

/// How the toolchain stage gets Rust and the targets' standard libraries (build arg `TOOLCHAIN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolchainKind {
    /// Debian's rustc, cargo and cargo-auditable; `libstd-rust-dev:<arch>` per target.
    Debian,
    /// The image's own rustup toolchain; `rustup target add` per target.
    Rustup,
}

impl ToolchainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolchainKind::Debian => "debian",
            ToolchainKind::Rustup => "rustup",
        }
    }
}

/// `[workspace.metadata.xtask.builder]`: a builder image of your own (e.g. `rust:1.90-slim-trixie`).
/// Part of the configuration (`rules::config` re-exports it), kept here beside the choice it feeds so
/// that this module needs nothing from `rules::config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuilderConfig {
    /// The image (`rust:1.90-slim-trixie`); Debian-based (apt installs the cross gcc packages).
    pub image: String,
    /// The Rust version it provides (`"1.90"`): declared, as it cannot be inspected before the build.
    pub rust: String,
    /// How it provides Rust: `"rustup"` (an official `rust:` image: targets via `rustup target add`)
    /// or `"debian"` (Debian's rustc: targets from `libstd-rust-dev:<arch>`). Default `"rustup"`.
    #[serde(default = "default_toolchain_kind")]
    pub toolchain: ToolchainKind,
}

fn default_toolchain_kind() -> ToolchainKind {
    ToolchainKind::Rustup
}

/// What one workspace member says about the Rust it needs (from cargo metadata and its manifest).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrateRust {
    pub name: String,
    /// Its manifest, relative to the workspace root (`crates/app/Cargo.toml`).
    pub manifest: String,
    /// `rust-version`, as cargo resolved it (inherited or not).
    pub rust_version: Option<Version>,
    /// Whether `rust-version` comes from `[workspace.package]` (`rust-version.workspace = true`).
    pub rust_version_inherited: bool,
    pub edition: String,
    pub edition_inherited: bool,
    /// The directories (relative to the workspace root) of its path dependencies.
    pub path_dependencies: Vec<String>,
}

/// `rust-toolchain.toml` or `rust-toolchain`, as found at the workspace root.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolchainFile {
    /// `rust-toolchain.toml` or `rust-toolchain`.
    pub path: String,
    pub text: String,
}

/// Everything the choice is made from, besides the configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub crates: Vec<CrateRust>,
    pub toolchain_file: Option<ToolchainFile>,
}

/// The builder of one image, and why (the plan's `images[].builder`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuilderChoice {
    /// The image the toolchain stage starts from (build arg `BUILDER_IMAGE`).
    pub image: String,
    /// The Rust it has.
    pub rust: String,
    pub toolchain: ToolchainKind,
    /// The Rust the image needs, `null` when nothing asks for a particular one.
    pub required: Option<String>,
    /// Where the requirement comes from (`crates/app/Cargo.toml package.rust-version = "1.88"`).
    pub because: String,
    /// Why no builder can build the image; preflight refuses the release (and the build) with it.
    pub problem: Option<String>,
}

/// A requirement and where it comes from.
#[derive(Clone, Debug, PartialEq)]
struct Need {
    rust: Version,
    because: String,
    /// How to lower it: the workspace's own setting, or an older version of a locked dependency.
    lower: String,
}

/// How to lower a requirement the workspace itself states.
const LOWER_THE_REQUIREMENT: &str = "lower the requirement";

/// What a toolchain file's channel means.
#[derive(Clone, Debug, PartialEq)]
enum Channel {
    Version(Version),
    /// `stable`: the newest builder.
    Stable,
}

/// Parses `1.88` or `1.88.0` (a `rust-version`, or a channel that is a version).
pub fn parse_rust_version(text: &str) -> Option<Version> {
    let parts: Vec<&str> = text.trim().split('.').collect();
    let number =
        |part: &&str| (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse().ok());
    let numbers: Vec<u64> = parts.iter().map(number).collect::<Option<Option<Vec<_>>>>().flatten()?;
    match numbers.as_slice() {
        [major, minor] => Some(Version::new(*major, *minor, 0)),
        [major, minor, patch] => Some(Version::new(*major, *minor, *patch)),
        _ => None,
    }
}

/// Whether `key` of `[package]` is inherited (`key.workspace = true`) in a member manifest.
pub fn inherits(manifest_text: &str, key: &str) -> bool {
    let Ok(document) = manifest_text.parse::<DocumentMut>() else { return false };
    document
        .get("package")
        .and_then(|package| package.get(key))
        .and_then(|value| value.get("workspace"))
        .and_then(Item::as_bool)
        .unwrap_or(false)
}

/// The builder for `package`'s image (named `image` in error messages).
/// `rust_versions`: the `rust-version` of each dependency the image's build compiles, by `name
/// version` (`rules::dependency_graph::rust_versions`).
pub fn choose(
    facts: &Facts,
    configured: Option<&BuilderConfig>,
    (image, package): (&str, &str),
    rust_versions: &BTreeMap<String, Version>,
) -> BuilderChoice {
    let key = format!("workspace.metadata.xtask.images.{image}");
    let mut needs = crate_needs(facts, package);
    needs.extend(dependency_needs(rust_versions));
    let mut stable = None;
    let mut problem = None;
    if let Some(file) = &facts.toolchain_file {
        match channel(file) {
            Ok((Channel::Version(rust), because)) => {
                needs.push(Need { rust, because, lower: LOWER_THE_REQUIREMENT.into() })
            }
            Ok((Channel::Stable, because)) => stable = Some(because),
            Err(refusal) => problem = Some(format!("{key}: {refusal}")),
        }
    }
    let need = needs.into_iter().reduce(|a, b| if b.rust > a.rust { b } else { a });
    let required = need.as_ref().map(|n| short(&n.rust));
    let because = match (&need, &stable) {
        (_, Some(stable)) if configured.is_none() => stable.clone(),
        (Some(need), _) => need.because.clone(),
        (None, _) => "nothing in the workspace asks for a newer Rust".to_owned(),
    };
    if let Some(builder) = configured {
        let rust = parse_rust_version(&builder.rust).unwrap_or_else(|| Version::new(0, 0, 0));
        if problem.is_none() {
            if let Some(need) = need.as_ref().filter(|n| n.rust > rust) {
                problem = Some(format!(
                    "{key}: requires Rust {} ({}), but the configured builder {} has Rust {} \
                     (workspace.metadata.xtask.builder): name a builder image with Rust {} or later, or {}",
                    short(&need.rust),
                    need.because,
                    builder.image,
                    builder.rust,
                    short(&need.rust),
                    need.lower,
                ));
            }
        }
        return BuilderChoice {
            image: builder.image.clone(),
            rust: builder.rust.clone(),
            toolchain: builder.toolchain,
            required,
            because,
            problem,
        };
    }
    let newest = &DEBIAN_BUILDERS[DEBIAN_BUILDERS.len() - 1];
    let fits = |b: &&DebianBuilder| need.as_ref().is_none_or(|n| version(b) >= n.rust);
    let pick = if stable.is_some() { Some(newest).filter(fits) } else { DEBIAN_BUILDERS.iter().find(fits) };
    if problem.is_none() && pick.is_none() {
        let need = need.as_ref().expect("only a requirement can rule out every builder");
        let builders: Vec<String> =
            DEBIAN_BUILDERS.iter().map(|b| format!("{} has rustc {}", b.name, version(b))).collect();
        problem = Some(format!(
            "{key}: requires Rust {} ({}), but no builder has it: {}. {}, or name a builder \
             image with Rust {} or later in [workspace.metadata.xtask.builder] (image = \"rust:{}-slim-trixie\", rust = \"{}\")",
            short(&need.rust),
            need.because,
            builders.join(", "),
            capitalised(&need.lower),
            short(&need.rust),
            short(&need.rust),
            short(&need.rust),
        ));
    }
    let builder = pick.unwrap_or(newest);
    BuilderChoice {
        image: builder.image.to_owned(),
        rust: version(builder).to_string(),
        toolchain: ToolchainKind::Debian,
        required,
        because,
        problem,
    }
}

fn version(builder: &DebianBuilder) -> Version {
    Version::new(builder.rust.0, builder.rust.1, builder.rust.2)
}

/// `1.88` for 1.88.0, `1.88.1` otherwise: as people write `rust-version`.
fn short(version: &Version) -> String {
    if version.patch == 0 {
        format!("{}.{}", version.major, version.minor)
    } else {
        version.to_string()
    }
}

/// What the crates `package` compiles ask for: `rust-version`, and 1.85 for edition 2024.
fn crate_needs(facts: &Facts, package: &str) -> Vec<Need> {
    let mut needs = Vec::new();
    for krate in reached(&facts.crates, package) {
        if let Some(rust) = &krate.rust_version {
            let because = if krate.rust_version_inherited {
                format!(
                    "Cargo.toml workspace.package.rust-version = \"{}\", inherited by {}",
                    short(rust),
                    krate.manifest
                )
            } else {
                format!("{} package.rust-version = \"{}\"", krate.manifest, short(rust))
            };
            needs.push(Need { rust: rust.clone(), because, lower: LOWER_THE_REQUIREMENT.into() });
        }
        if krate.edition == "2024" {
            let because = if krate.edition_inherited {
                format!("Cargo.toml workspace.package.edition = \"2024\", inherited by {}", krate.manifest)
            } else {
                format!("{} package.edition = \"2024\"", krate.manifest)
            };
            needs.push(Need { rust: Version::new(1, 85, 0), because, lower: LOWER_THE_REQUIREMENT.into() });
        }
    }
    needs
}

/// What the dependencies the build compiles ask for: their `rust-version`, as locked. A lock made
/// by a cargo newer than the workspace says it needs holds versions for that cargo's Rust.
fn dependency_needs(rust_versions: &BTreeMap<String, Version>) -> Vec<Need> {
    rust_versions
        .iter()
        .map(|(krate, rust)| {
            let name = krate.split_once(' ').map_or(krate.as_str(), |(name, _)| name);
            Need {
                because: format!("{krate} in Cargo.lock: its package.rust-version = \"{}\"", short(rust)),
                lower: format!("lock an older {name} (`cargo update -p {name} --precise VERSION`)"),
                rust: rust.clone(),
            }
        })
        .collect()
}

/// `text` with its first letter upper-case (a sentence's start).
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// `package` and the members it reaches through path dependencies: the crates its build compiles
/// (a member it does not reach is not compiled, so its `rust-version` does not count).
fn reached<'a>(crates: &'a [CrateRust], package: &str) -> Vec<&'a CrateRust> {
    let dir =
        |c: &CrateRust| c.manifest.strip_suffix("Cargo.toml").unwrap_or(&c.manifest).trim_end_matches('/').to_owned();
    let mut found: Vec<&CrateRust> = crates.iter().filter(|c| c.name == package).collect();
    let mut next = 0;
    while next < found.len() {
        for path in &found[next].path_dependencies {
            if let Some(member) = crates.iter().find(|c| dir(c) == *path) {
                if !found.iter().any(|f| f.name == member.name) {
                    found.push(member);
                }
            }
        }
        next += 1;
    }
    found
}

/// The channel of a toolchain file, and where it was read.
fn channel(file: &ToolchainFile) -> Result<(Channel, String), String> {
    let (channel, key) = match file.text.parse::<DocumentMut>() {
        Ok(document) if document.contains_key("toolchain") => {
            let channel = document["toolchain"].get("channel").and_then(Item::as_str).map(str::to_owned);
            match channel {
                Some(channel) => (channel, "toolchain.channel"),
                None => {
                    return Ok((Channel::Stable, format!("{} has no toolchain.channel (rustup: stable)", file.path)))
                }
            }
        }
        // The legacy one-line form: `1.88.0`, `stable`, `nightly-2025-01-01`.
        _ if !file.path.ends_with(".toml") && file.text.trim().lines().count() == 1 => {
            (file.text.trim().to_owned(), "(the channel)")
        }
        _ => {
            return Err(format!(
            "{} is not a toolchain file rustup reads: write [toolchain] channel = \"1.88\" (a version), or remove it",
            file.path
        ))
        }
    };
    let because = format!("{} {key} = \"{channel}\"", file.path);
    if let Some(rust) = parse_rust_version(&channel) {
        return Ok((Channel::Version(rust), because));
    }
    if channel == "stable" {
        return Ok((Channel::Stable, format!("{because}: the newest builder")));
    }
    let what = if channel.starts_with("nightly") || channel.starts_with("beta") {
        "no builder ships a nightly or beta Rust (Debian's are stable releases)"
    } else {
        "it is not a Rust version"
    };
    Err(format!(
        "{because}: {what}. Pin the version the workspace needs (channel = \"1.88\"), or name a builder image \
         with it in [workspace.metadata.xtask.builder]"
    ))
}

impl fmt::Display for BuilderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let required = self.required.as_deref().map(|r| format!("requires Rust {r}: ")).unwrap_or_default();
        write!(f, "{} (Rust {}; {required}{})", self.image, self.rust, self.because)
    }
}

#[cfg(test)]
#[path = "toolchain_tests.rs"]
mod tests;
