//! The system libraries an image's binary links, pure: the one table of the `*-sys` crates the
//! engine knows (like the Dockerfile's cross table for platforms), what each needs from Debian for
//! the target architecture, and whether it links statically.
//!
//! From the image's dependency graph (`rules::dependency_graph`): each linked crate of the table,
//! unless a feature of it builds its library from bundled sources, adds its Debian development
//! packages, which the toolchain stage installs for each target (multiarch, `libssl-dev:arm64`),
//! with pkg-config set up for that target; `images.<name>.system-packages` adds packages the table
//! does not know. The binary stays static (`+crt-static`, `FROM scratch`) unless a library has no
//! static archive in Debian (or needs one that has none): then it is linked against glibc
//! dynamically, and the build copies into the runtime exactly the shared libraries it needs, each
//! listed as the Debian package it comes from. A linked crate that probes pkg-config and is not in
//! the table is a problem the plan carries and preflight refuses, naming the key that fixes it.

use serde::{Deserialize, Serialize};

use crate::rules::dependency_graph::{Graph, Linked};

/// How the binary links its system libraries (build arg `LINKAGE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Linkage {
    /// One static binary (`+crt-static`): the runtime is `FROM scratch` plus the runtime files.
    #[default]
    Static,
    /// Linked against glibc and the libraries' shared objects, which the runtime then holds.
    Dynamic,
}

impl Linkage {
    pub fn as_str(self) -> &'static str {
        match self {
            Linkage::Static => "static",
            Linkage::Dynamic => "dynamic",
        }
    }
}

/// When a crate of the table links its system library.
#[derive(Clone, Copy, Debug)]
pub enum Uses {
    /// Unless one of these features builds the library from bundled sources.
    SystemUnless(&'static [&'static str]),
    /// Only with one of these features (it bundles the library by default).
    SystemWith(&'static [&'static str]),
    /// Never without what this says (it bundles the library unless told otherwise).
    Bundled(&'static str),
}

/// One crate of the table.
#[derive(Clone, Copy, Debug)]
pub struct Library {
    /// The crate (`openssl-sys`).
    pub crate_name: &'static str,
    /// The library it links (`OpenSSL`).
    pub library: &'static str,
    /// The Debian development packages it needs for the target (`:<arch>` is added per platform):
    /// the library's, and those of what its static archive links (`pkg-config --static`).
    pub packages: &'static [&'static str],
    /// Static where Debian ships the archive and those it needs; dynamic otherwise.
    pub linkage: Linkage,
    pub uses: Uses,
}

const fn library(
    crate_name: &'static str,
    library: &'static str,
    packages: &'static [&'static str],
    linkage: Linkage,
    uses: Uses,
) -> Library {
    Library { crate_name, library, packages, linkage, uses }
}

use Linkage::{Dynamic, Static};
use Uses::{Bundled, SystemUnless, SystemWith};

/// The table: every `*-sys` crate the engine provides a system library for.
pub const LIBRARIES: [Library; 10] = [
    // Debian's static libcrypto links zlib and zstd (`pkg-config --static libcrypto`).
    library(
        "openssl-sys",
        "OpenSSL",
        &["libssl-dev", "zlib1g-dev", "libzstd-dev"],
        Static,
        SystemUnless(&["vendored"]),
    ),
    library(
        "libsqlite3-sys",
        "SQLite",
        &["libsqlite3-dev", "zlib1g-dev"],
        Static,
        SystemUnless(&["bundled", "bundled-sqlcipher", "bundled-sqlcipher-vendored-openssl"]),
    ),
    library("libz-sys", "zlib", &["zlib1g-dev"], Static, SystemUnless(&["static", "zlib-ng"])),
    library("zstd-sys", "zstd", &["libzstd-dev"], Static, SystemWith(&["pkg-config"])),
    library("bzip2-sys", "bzip2", &["libbz2-dev"], Static, SystemUnless(&["static"])),
    library("lzma-sys", "liblzma (xz)", &["liblzma-dev"], Static, SystemUnless(&["static"])),
    library("libssh2-sys", "libssh2", &[], Static, Bundled("unless LIBSSH2_SYS_USE_PKG_CONFIG is set")),
    // libpq needs GSSAPI and LDAP, which Debian ships without static archives.
    library(
        "pq-sys",
        "PostgreSQL's libpq",
        &["libpq-dev"],
        Dynamic,
        SystemUnless(&["bundled", "bundled_without_openssl"]),
    ),
    // libcurl likewise (GSSAPI, LDAP, RTMP).
    library("curl-sys", "libcurl", &["libcurl4-openssl-dev"], Dynamic, SystemUnless(&["static-curl"])),
    library("libgit2-sys", "libgit2", &["libgit2-dev"], Dynamic, SystemUnless(&["vendored"])),
];

/// One crate of the graph the table knows (or that asks pkg-config), and what it brings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detected {
    /// `openssl-sys 0.9.118`.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// The Debian packages it adds (none when it bundles its library).
    pub packages: Vec<String>,
    pub linkage: Linkage,
    /// Why: the path that reaches it and what decided (`app → reqwest → native-tls → openssl-sys;
    /// OpenSSL, without feature vendored`).
    pub because: String,
}

/// What an image needs besides crates (the plan's `images[].system`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemLibraries {
    /// Debian development packages installed for every platform (build arg `SYSTEM_PACKAGES`),
    /// sorted, each once: the table's for the crates detected, then `system-packages`.
    pub packages: Vec<String>,
    /// Static unless a detected library needs dynamic linking (build arg `LINKAGE`).
    pub linkage: Linkage,
    pub detected: Vec<Detected>,
    /// `images.<name>.system-packages`, as configured.
    pub configured: Option<Vec<String>>,
    /// Why the image cannot be built as configured (an unknown crate probing pkg-config, or a
    /// dependency graph that could not be read); preflight refuses the build with it.
    pub problem: Option<String>,
}

/// The table's row of `crate_name`.
pub fn known(crate_name: &str) -> Option<&'static Library> {
    LIBRARIES.iter().find(|l| l.crate_name == crate_name)
}

/// What image `image` needs, from its graph (`Err`: why it could not be read) and its
/// `system-packages`.
pub fn decide(image: &str, graph: &Result<Graph, String>, configured: Option<&[String]>) -> SystemLibraries {
    let key = format!("workspace.metadata.xtask.images.{image}");
    let mut out = SystemLibraries { configured: configured.map(<[String]>::to_vec), ..Default::default() };
    let graph = match graph {
        Ok(graph) => graph,
        Err(error) => {
            out.problem = Some(format!(
                "{key}: the dependency graph of its package could not be read ({error}): check that Cargo.lock \
                 is committed and up to date (`cargo update --workspace`), and that every dependency's source \
                 is reachable from this machine"
            ));
            return with_packages(out);
        }
    };
    let mut unknown = Vec::new();
    for linked in graph.linked.iter().skip(1) {
        match known(&linked.name) {
            Some(library) => out.detected.push(detect(library, linked)),
            None if graph.probes(linked) => unknown.push(linked),
            None => {}
        }
    }
    if !unknown.is_empty() && configured.is_none() {
        out.problem = Some(unknown_problem(&key, image, &unknown));
    }
    out.linkage = match out.detected.iter().any(|d| !d.packages.is_empty() && d.linkage == Dynamic) {
        true => Dynamic,
        false => Static,
    };
    with_packages(out)
}

fn with_packages(mut out: SystemLibraries) -> SystemLibraries {
    let mut packages: Vec<String> = out.detected.iter().flat_map(|d| d.packages.clone()).collect();
    packages.extend(out.configured.iter().flatten().cloned());
    packages.sort();
    packages.dedup();
    out.packages = packages;
    out
}

fn detect(library: &Library, linked: &Linked) -> Detected {
    let on = |features: &[&'static str]| features.iter().copied().find(|f| linked.features.iter().any(|l| l == f));
    let (system, why) = match library.uses {
        SystemUnless(bundling) => match on(bundling) {
            Some(feature) => (false, format!("feature {feature} builds it from bundled sources")),
            None => (true, format!("without feature {}", bundling.join(" or "))),
        },
        SystemWith(features) => match on(features) {
            Some(feature) => (true, format!("feature {feature}")),
            None => (false, format!("without feature {}, it builds it from bundled sources", features.join(" or "))),
        },
        Bundled(condition) => (false, format!("it builds it from bundled sources {condition}")),
    };
    let mut because = format!("{}; {}, {why}", linked.path.join(" → "), library.library);
    if system && library.linkage == Dynamic {
        because.push_str("; Debian has no static archive of it (or of what it links): linked dynamically");
    }
    Detected {
        crate_name: format!("{} {}", linked.name, linked.version),
        packages: if system { library.packages.iter().map(|p| (*p).to_owned()).collect() } else { Vec::new() },
        linkage: library.linkage,
        because,
    }
}

fn unknown_problem(key: &str, image: &str, unknown: &[&Linked]) -> String {
    let crates: Vec<String> =
        unknown.iter().map(|l| format!("{} {} ({})", l.name, l.version, l.path.join(" → "))).collect();
    format!(
        "{key}: {} probe{} pkg-config for a system library the engine does not know: {}. Name the Debian \
         development package{} it needs in `images.{image}.system-packages = [\"libfoo-dev\"]` (installed for \
         each platform's architecture), or set `system-packages = []` if it builds its library itself",
        if unknown.len() == 1 { "a linked crate" } else { "linked crates" },
        if unknown.len() == 1 { "s" } else { "" },
        crates.join(", "),
        if unknown.len() == 1 { "" } else { "s" },
    )
}

/// Whether `name` is a Debian package name (`[a-z0-9][a-z0-9+.-]+`), without an architecture.
pub fn is_package_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first = bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    first && name.len() >= 2 && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
}

#[cfg(test)]
#[path = "system_libraries_tests.rs"]
mod tests;
