//! What an image's package links on its targets, read from `cargo tree`, pure: the crates with their
//! enabled features and the path that reaches each, and which of them build-depend on pkg-config
//! (they look for a system library when their build script runs). `rules::system_libraries` decides
//! from it which Debian packages the build installs, and `rules::toolchain` counts the
//! `rust-version` of every dependency the build compiles (from `cargo metadata`'s resolve).
//!
//! Two listings of the same package and targets, as `tools::metadata::dependency_graph` runs them:
//! `cargo tree -p PACKAGE --target T… -e normal,no-proc-macro --prefix depth --format {p}|{f}` (what
//! the binary links: exact for this package's own build, with the features cargo resolves for it
//! alone, as `cargo build -p PACKAGE` compiles it) and the same with `-e normal,build` and `--format
//! {p}` (build-dependencies too, for the pkg-config probes). Not `cargo metadata`'s resolve: it
//! unifies the features of every workspace member, so a `bundled` feature another member turns on
//! would hide a system library this image links.

use std::collections::{BTreeMap, BTreeSet};

use cargo_metadata::{DependencyKind, Metadata, Node, Package, PackageId};
use semver::Version;
use serde::{Deserialize, Serialize};

/// Build-dependencies through which a build script asks pkg-config for a system library.
pub const PKG_CONFIG_CRATES: [&str; 3] = ["pkg-config", "pkgconf", "system-deps"];

/// A crate the binary links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linked {
    pub name: String,
    pub version: String,
    /// Its enabled features, as cargo resolves them for this package alone.
    pub features: Vec<String>,
    /// The crates from the package down to it (`app → reqwest → native-tls → openssl-sys`).
    pub path: Vec<String>,
}

/// The dependency graph of one image's package on its targets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    /// Every crate the binary links, the package first, each once.
    pub linked: Vec<Linked>,
    /// `name version` of each crate with a pkg-config build-dependency (`PKG_CONFIG_CRATES`).
    pub probes_pkg_config: BTreeSet<String>,
    /// The `rust-version` of each dependency the package's build compiles that has one, by `name
    /// version`: what it links, its build-dependencies and proc-macros ([`rust_versions`]).
    pub rust_versions: BTreeMap<String, Version>,
}

impl Graph {
    /// Whether `crate_` (as linked) asks pkg-config at build time.
    pub fn probes(&self, linked: &Linked) -> bool {
        self.probes_pkg_config.contains(&format!("{} {}", linked.name, linked.version))
    }
}

/// The graph from the two listings (see the module docs).
pub fn parse(linked: &str, with_build: &str) -> Result<Graph, String> {
    Ok(Graph { linked: parse_linked(linked)?, probes_pkg_config: parse_probes(with_build)?, ..Graph::default() })
}

/// The `rust-version` of every dependency (not a workspace member) that `package`'s build compiles,
/// by `name version`, from `cargo metadata` of the image's targets (`--filter-platform`): the
/// crates its normal and build dependency edges reach, proc-macros included, dev-dependencies not.
/// Its resolve unifies the features of the whole workspace, so an optional dependency another member
/// turns on counts too: at worst a newer builder than needed, never an older one.
pub fn rust_versions(resolved: &Metadata, package: &str) -> BTreeMap<String, Version> {
    let members: BTreeSet<&PackageId> = resolved.workspace_members.iter().collect();
    let packages: BTreeMap<&PackageId, &Package> = resolved.packages.iter().map(|p| (&p.id, p)).collect();
    let nodes: BTreeMap<&PackageId, &Node> =
        resolved.resolve.iter().flat_map(|r| &r.nodes).map(|node| (&node.id, node)).collect();
    let root = resolved.packages.iter().find(|p| members.contains(&p.id) && p.name.as_str() == package);
    let mut queue: Vec<&PackageId> = root.map(|p| &p.id).into_iter().collect();
    let mut reached: BTreeSet<&PackageId> = queue.iter().copied().collect();
    while let Some(id) = queue.pop() {
        let deps = nodes.get(id).map(|node| node.deps.as_slice()).unwrap_or_default();
        for dep in deps {
            let compiled = dep.dep_kinds.iter().any(|k| k.kind != DependencyKind::Development);
            if compiled && reached.insert(&dep.pkg) {
                queue.push(&dep.pkg);
            }
        }
    }
    let dependencies = reached.into_iter().filter(|id| !members.contains(id)).filter_map(|id| packages.get(id));
    dependencies.filter_map(|p| Some((format!("{} {}", p.name, p.version), p.rust_version.clone()?))).collect()
}

/// One line of `--prefix depth`: its depth, name, version, and what follows `|` (the features).
fn line(text: &str) -> Result<(usize, String, String, &str), String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let depth = text[..digits].parse().map_err(|_| format!("`cargo tree` printed {text:?}, without its depth"))?;
    let rest = text[digits..].trim_end().trim_end_matches("(*)").trim_end();
    let (package, features) = rest.split_once('|').unwrap_or((rest, ""));
    let mut words = package.split_whitespace();
    match (words.next(), words.next().and_then(|v| v.strip_prefix('v'))) {
        (Some(name), Some(version)) => Ok((depth, name.to_owned(), version.to_owned(), features.trim())),
        _ => Err(format!("`cargo tree` printed {text:?}, not `DEPTH NAME vVERSION`")),
    }
}

/// The linked crates, each at its first path (cargo prints a crate's dependencies once, at the first
/// place it reaches it, and marks it `(*)` after).
fn parse_linked(text: &str) -> Result<Vec<Linked>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut linked: Vec<Linked> = Vec::new();
    for raw in text.lines().filter(|l| !l.trim().is_empty()) {
        let (depth, name, version, features) = line(raw)?;
        if depth > stack.len() {
            return Err(format!("`cargo tree` printed {raw:?} below no crate"));
        }
        stack.truncate(depth);
        stack.push(name.clone());
        if linked.iter().any(|l| l.name == name && l.version == version) {
            continue;
        }
        let features = features.split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect();
        linked.push(Linked { name, version, features, path: stack.clone() });
    }
    Ok(linked)
}

/// `name version` of every crate printed with a pkg-config crate right below it.
fn parse_probes(text: &str) -> Result<BTreeSet<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut probes = BTreeSet::new();
    for raw in text.lines().filter(|l| !l.trim().is_empty()) {
        let (depth, name, version, _) = line(raw)?;
        if depth > stack.len() {
            return Err(format!("`cargo tree` printed {raw:?} below no crate"));
        }
        stack.truncate(depth);
        if let (Some(parent), true) = (stack.last(), PKG_CONFIG_CRATES.contains(&name.as_str())) {
            probes.insert(parent.clone());
        }
        stack.push(format!("{name} {version}"));
    }
    Ok(probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `cargo tree` (cargo 1.95) of a package using reqwest's default features and
    /// rusqlite without `bundled`, for x86_64-unknown-linux-gnu.
    const LINKED: &str = "\
0tlsprobe v0.2.0 (/w/crates/tlsprobe)|
1reqwest v0.12.28|__tls,blocking,default,default-tls
2hyper-tls v0.6.0|
3native-tls v0.2.18|default
4openssl-sys v0.9.118|
3tokio v1.54.1|bytes,default (*)
2native-tls v0.2.18|default (*)
1rusqlite v0.32.1|
2libsqlite3-sys v0.30.1|default,min_sqlite_version_3_14_0,pkg-config,vcpkg
";
    const WITH_BUILD: &str = "\
0tlsprobe v0.2.0 (/w/crates/tlsprobe)
1reqwest v0.12.28
2native-tls v0.2.18
3openssl-sys v0.9.118
4cc v1.2.0
4pkg-config v0.3.34
4vcpkg v0.2.15
1rusqlite v0.32.1
2libsqlite3-sys v0.30.1
3pkg-config v0.3.34
3vcpkg v0.2.15
2hashlink v0.9.1
3pkg-config-like v1.0.0
";

    #[test]
    fn the_linked_crates_carry_their_features_and_first_path() {
        let graph = parse(LINKED, WITH_BUILD).unwrap();
        let names: Vec<&str> = graph.linked.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["tlsprobe", "reqwest", "hyper-tls", "native-tls", "openssl-sys", "tokio", "rusqlite", "libsqlite3-sys"]
        );
        let openssl = &graph.linked[4];
        assert_eq!(openssl.version, "0.9.118");
        assert_eq!(openssl.path, ["tlsprobe", "reqwest", "hyper-tls", "native-tls", "openssl-sys"]);
        assert!(openssl.features.is_empty());
        let sqlite = graph.linked.last().unwrap();
        assert!(sqlite.features.contains(&"pkg-config".to_owned()) && !sqlite.features.contains(&"bundled".into()));
        assert_eq!(sqlite.path, ["tlsprobe", "rusqlite", "libsqlite3-sys"]);
        assert_eq!(graph.linked[5].features, ["bytes", "default"], "(*) is not a feature");
        assert_eq!(
            graph.probes_pkg_config.iter().collect::<Vec<_>>(),
            ["libsqlite3-sys 0.30.1", "openssl-sys 0.9.118"]
        );
        assert!(graph.probes(openssl) && !graph.probes(&graph.linked[1]));
    }

    /// `cargo metadata`'s shape (trimmed) for package `name` with `rust-version` `rust`.
    fn package(name: &str, version: &str, rust: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "name": name, "version": version, "id": format!("{name}@{version}"), "license": null,
            "license_file": null, "description": null, "source": null, "dependencies": [], "targets": [],
            "features": {}, "manifest_path": format!("/w/{name}/Cargo.toml"), "metadata": null, "publish": null,
            "authors": [], "categories": [], "keywords": [], "readme": null, "repository": null, "homepage": null,
            "documentation": null, "edition": "2021", "links": null, "default_run": null, "rust_version": rust,
        })
    }

    /// A resolve edge to `name` of `kinds` (`null` normal, `"build"`, `"dev"`).
    fn edge(name: &str, version: &str, kinds: &[Option<&str>]) -> serde_json::Value {
        let kinds: Vec<_> = kinds.iter().map(|k| serde_json::json!({"kind": k, "target": null})).collect();
        serde_json::json!({"name": name, "pkg": format!("{name}@{version}"), "dep_kinds": kinds})
    }

    #[test]
    fn the_rust_versions_are_those_of_the_dependencies_the_build_compiles() {
        let node = |id: &str, deps: Vec<serde_json::Value>| serde_json::json!({"id": id, "deps": deps, "dependencies": [], "features": []});
        let json = serde_json::json!({
            "packages": [
                package("app", "0.1.0", Some("1.80")), package("core", "0.1.0", Some("1.95")),
                package("uuid", "1.29.3", Some("1.89.0")), package("cc", "1.2.0", Some("1.63")),
                package("serde_derive", "1.0.229", Some("1.61")), package("itoa", "1.0.19", None),
                package("criterion", "0.7.0", Some("1.97")), package("other", "1.0.0", Some("1.96")),
            ],
            "workspace_members": ["app@0.1.0", "core@0.1.0"], "workspace_default_members": ["app@0.1.0"],
            "resolve": {"root": null, "nodes": [
                node("app@0.1.0", vec![
                    edge("core", "0.1.0", &[None]), edge("uuid", "1.29.3", &[None]),
                    edge("cc", "1.2.0", &[Some("build")]), edge("criterion", "0.7.0", &[Some("dev")]),
                ]),
                node("core@0.1.0", vec![edge("serde_derive", "1.0.229", &[None]), edge("other", "1.0.0", &[Some("dev")])]),
                node("uuid@1.29.3", vec![edge("itoa", "1.0.19", &[None])]),
                node("cc@1.2.0", vec![]), node("serde_derive@1.0.229", vec![]), node("itoa@1.0.19", vec![]),
                node("criterion@0.7.0", vec![edge("other", "1.0.0", &[None])]), node("other@1.0.0", vec![]),
            ]},
            "target_directory": "/w/target", "version": 1, "workspace_root": "/w", "metadata": null,
        });
        let resolved: Metadata = serde_json::from_value(json).unwrap();
        let found = rust_versions(&resolved, "app");
        // Not the members (their own rust-version counts elsewhere), not the dev-dependencies
        // (criterion, nor `other` below it and below core's dev edge), not a crate without one.
        let expected = [("cc 1.2.0", "1.63.0"), ("serde_derive 1.0.229", "1.61.0"), ("uuid 1.29.3", "1.89.0")];
        let found: Vec<(&str, String)> = found.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect();
        assert_eq!(found, expected.map(|(k, v)| (k, v.to_owned())));
        assert!(rust_versions(&resolved, "nothing").is_empty());
    }

    #[test]
    fn what_is_not_a_depth_listing_is_refused() {
        assert!(parse("tlsprobe v0.2.0\n", "").unwrap_err().contains("without its depth"));
        assert!(parse("0tlsprobe\n", "").unwrap_err().contains("not `DEPTH NAME vVERSION`"));
        assert!(parse("0a v1.0.0|\n2b v1.0.0|\n", "").unwrap_err().contains("below no crate"));
        assert_eq!(parse("", "").unwrap(), Graph::default());
    }
}
