//! `cargo metadata`, read into the `cargo_metadata` crate's types (cargo's maintained model of its
//! JSON: nothing cargo adds is dropped): the workspace's members, their targets and dependencies,
//! `[workspace.metadata]`, and, with the resolve graph, the crates a package depends on for a target
//! (and, from `cargo tree`, the ones its binary links, with their features).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use cargo_metadata::camino::Utf8Path;
use cargo_metadata::{DependencyKind, PackageId};
use semver::Version;
use xshell::{cmd, Shell};

use crate::tools::secrets;

pub use cargo_metadata::{Metadata, Package, TargetKind};

/// `cargo metadata --no-deps` of the workspace at the shell's directory.
pub fn read(sh: &Shell) -> Result<Metadata> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
        .quiet()
        .read()
        .context("`cargo metadata` failed: fix the manifest error it printed")?;
    parse(&json)
}

pub fn parse(json: &str) -> Result<Metadata> {
    cargo_metadata::MetadataCommand::parse(json).context("could not parse `cargo metadata` output")
}

/// The members `roots` reach through path dependencies of any kind, `roots` included (cargo loads
/// them all to build any of them).
pub fn path_closure<'a>(metadata: &Metadata, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    let members = metadata.workspace_packages();
    let by_dir = |dir: &Utf8Path| members.iter().find(|p| p.manifest_path.parent() == Some(dir));
    let mut reached: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = roots.into_iter().map(str::to_owned).collect();
    while let Some(name) = queue.pop() {
        let Some(package) = members.iter().find(|p| p.name == name) else { continue };
        if reached.insert(name) {
            queue
                .extend(package.dependencies.iter().filter_map(|d| by_dir(d.path.as_deref()?)).map(|p| p.name.clone()));
        }
    }
    reached
}

/// The crates workspace member `package` depends on when built for `triple` (`x86_64-unknown-linux-gnu`),
/// as (name, version): its normal and build dependencies and theirs, through the whole graph. From
/// `cargo metadata --filter-platform`, which drops the dependencies of other targets (a build
/// dependency's too, though its build script runs on the host). Its features are the workspace's,
/// unified (every member's and their dev-dependencies' too): a crate only a feature another member
/// turns on brings in is counted.
#[expect(dead_code, reason = "the blind-scan gate and the system-library checks will ask it (issue 39)")]
pub fn crates_for_target(sh: &Shell, package: &str, triple: &str) -> Result<BTreeSet<(String, Version)>> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --filter-platform {triple}")
        .quiet()
        .read()
        .with_context(|| format!("`cargo metadata --filter-platform {triple}` failed: see what it printed"))?;
    dependencies(&parse(&json)?, package).with_context(|| format!("the dependencies of `{package}` on {triple}"))
}

/// The crates a binary of workspace member `package` links when built for `triple` by itself, with
/// its default features, as cargo resolves them (`cargo tree -e normal,no-proc-macro`: no build
/// dependency, no proc-macro), the package included; the rule that the scan's SBOM must list them is
/// `rules::sbom_coverage`. Unlike `crates_for_target`, features are those of this package's build
/// alone, not the workspace's unified ones.
pub fn linked_crates(sh: &Shell, package: &str, triple: &str) -> Result<BTreeSet<(String, String)>> {
    let format = "{p}";
    let text = cmd!(
        sh,
        "cargo tree --locked -p {package} --target {triple} -e normal,no-proc-macro --prefix none --format {format}"
    )
    .envs(secrets::cargo_tokens())
    .quiet()
    .read()
    .with_context(|| format!("`cargo tree -p {package} --target {triple}` failed: see what it printed"))?;
    crate::rules::sbom_coverage::parse_tree(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the crates `{package}` links on {triple}"))
}

/// The two listings `rules::dependency_graph::parse` reads, of workspace member `package` built by
/// itself for `triples` (all at once: the Dockerfile installs one set of system packages for every
/// platform): what its binary links, with the features cargo resolves for it (`-e normal`), and the
/// same with build-dependencies (`-e normal,build`), for the pkg-config probes. `Err` is cargo's
/// message. Private registries' tokens are handed to cargo (`tools::secrets`): it may fetch crates.
pub fn dependency_listings(sh: &Shell, package: &str, triples: &[&str]) -> Result<(String, String), String> {
    let listing = |edges: &str, format: &str| -> Result<String, String> {
        let targets = triples.iter().flat_map(|triple| ["--target", triple]);
        let out = cmd!(sh, "cargo tree --locked -p {package} {targets...} -e {edges} --prefix depth --format {format}")
            .envs(secrets::cargo_tokens())
            .quiet()
            .ignore_status()
            .output()
            .map_err(|error| format!("could not run `cargo tree`: {error}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let progress = ["Downloading", "Downloaded", "Updating", "Blocking", "Locking"];
        let said: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !progress.iter().any(|p| line.starts_with(p)))
            .collect();
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            false => Err(format!("`cargo tree -p {package}` failed: {}", said.join(" "))),
        }
    };
    Ok((listing("normal,no-proc-macro", "{p}|{f}")?, listing("normal,build,no-proc-macro", "{p}")?))
}

/// What `crates_for_target` answers, from metadata read with its resolve graph (without `--no-deps`):
/// every package reached from member `package` through normal and build dependencies (cargo
/// allows no cycle there, so never the member itself).
pub fn dependencies(metadata: &Metadata, package: &str) -> Result<BTreeSet<(String, Version)>> {
    let resolve = metadata.resolve.as_ref().context("`cargo metadata` printed no resolve graph (--no-deps?)")?;
    let root = metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.name == package)
        .with_context(|| format!("no workspace member named `{package}`"))?;
    let nodes: BTreeMap<&PackageId, _> = resolve.nodes.iter().map(|node| (&node.id, node)).collect();
    let packages: BTreeMap<&PackageId, &Package> = metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let linked = |kind: &DependencyKind| matches!(kind, DependencyKind::Normal | DependencyKind::Build);
    let mut reached: BTreeSet<&PackageId> = BTreeSet::new();
    let mut queue = vec![&root.id];
    while let Some(id) = queue.pop() {
        let node = nodes.get(id).with_context(|| format!("{id} is not in the resolve graph"))?;
        for dep in node.deps.iter().filter(|dep| dep.dep_kinds.iter().any(|k| linked(&k.kind))) {
            if reached.insert(&dep.pkg) {
                queue.push(&dep.pkg);
            }
        }
    }
    reached
        .into_iter()
        .map(|id| {
            let found = packages.get(id).with_context(|| format!("{id} is in the resolve graph but not a package"))?;
            Ok((found.name.clone(), found.version.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use semver::Version;

    use super::{dependencies, parse, path_closure, TargetKind};

    /// The shape cargo prints (trimmed): a root package, a member with a path dependency and a
    /// build script, and no `[workspace.metadata]`.
    #[test]
    fn reads_what_cargo_prints() {
        let json = r#"{"packages":[
            {"name":"app","version":"1.2.3","id":"path+file:///w#app@1.2.3","license":null,"license_file":null,
             "description":"An app","source":null,"dependencies":[
                {"name":"core","source":null,"req":"^0.4","kind":null,"rename":null,"optional":false,
                 "uses_default_features":true,"features":[],"target":null,"registry":null,"path":"/w/crates/core"},
                {"name":"serde","source":"registry+https://github.com/rust-lang/crates.io-index","req":"^1",
                 "kind":null,"rename":null,"optional":false,"uses_default_features":true,"features":[],
                 "target":null,"registry":null}],
             "targets":[{"kind":["bin"],"crate_types":["bin"],"name":"app","src_path":"/w/src/bin/app/main.rs",
                         "edition":"2024","doc":true,"doctest":false,"test":true},
                        {"kind":["custom-build"],"crate_types":["bin"],"name":"build-script-build",
                         "src_path":"/w/build.rs","edition":"2024","doc":false,"doctest":false,"test":false}],
             "features":{},"manifest_path":"/w/Cargo.toml","metadata":null,"publish":null,"authors":[],
             "categories":[],"keywords":[],"readme":null,"repository":"https://example.com/app","homepage":null,
             "documentation":null,"edition":"2024","links":null,"default_run":null,"rust_version":"1.88"},
            {"name":"core","version":"0.4.1","id":"path+file:///w/crates/core#0.4.1","license":"MIT",
             "license_file":null,"description":null,"source":null,"dependencies":[],
             "targets":[{"kind":["lib"],"crate_types":["lib"],"name":"core","src_path":"/w/crates/core/src/lib.rs",
                         "edition":"2021","doc":true,"doctest":true,"test":true}],
             "features":{},"manifest_path":"/w/crates/core/Cargo.toml","metadata":null,"publish":null,"authors":[],
             "categories":[],"keywords":[],"readme":null,"repository":null,"homepage":null,"documentation":null,
             "edition":"2021","links":null,"default_run":null,"rust_version":null}],
            "workspace_members":["path+file:///w#app@1.2.3","path+file:///w/crates/core#0.4.1"],
            "workspace_default_members":["path+file:///w#app@1.2.3"],"resolve":null,
            "target_directory":"/w/target","version":1,"workspace_root":"/w","metadata":null}"#;
        let metadata = parse(json).unwrap();
        let packages = metadata.workspace_packages();
        assert_eq!(packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["app", "core"]);
        let app = packages[0];
        assert_eq!(app.version.to_string(), "1.2.3");
        assert_eq!(app.rust_version, Some(Version::new(1, 88, 0)));
        assert_eq!(app.edition.as_str(), "2024");
        assert!(app.targets[0].is_kind(TargetKind::Bin) && !app.targets[1].is_kind(TargetKind::Bin));
        let paths: Vec<_> = app.dependencies.iter().filter_map(|d| Some(d.path.as_ref()?.as_str())).collect();
        assert_eq!(paths, ["/w/crates/core"]);
        assert!(metadata.workspace_metadata.is_null());
        assert_eq!(packages[1].license.as_deref(), Some("MIT"));
        assert_eq!(path_closure(&metadata, ["app"]), ["app".to_owned(), "core".to_owned()].into());
        assert_eq!(path_closure(&metadata, ["core"]), ["core".to_owned()].into());
    }

    /// Captured: `cargo metadata --format-version 1 --filter-platform x86_64-unknown-linux-gnu` (cargo
    /// 1.95) of a workspace of three members (paths rewritten to /w and /home/dev): `app` depends on
    /// the member `app-core` (renamed `core`) and on `os_pipe` (which needs `libc` on unix), on
    /// `windows-sys` for Windows only, builds with `shlex`, and tests with `humantime`; `app-core`
    /// depends on `memchr` and tests with `itoa`; the member `tool` depends on `humantime`.
    const RESOLVED: &str = include_str!("metadata_resolve.json");

    fn crates(list: &[(&str, &str)]) -> std::collections::BTreeSet<(String, Version)> {
        list.iter().map(|(name, version)| (name.to_string(), Version::parse(version).unwrap())).collect()
    }

    #[test]
    fn the_dependencies_for_a_target_are_the_normal_and_build_ones_through_the_graph() {
        let mut metadata = parse(RESOLVED).unwrap();
        // Not humantime nor itoa (dev), nor windows-sys (another target), nor app itself.
        let app =
            [("app-core", "0.4.1"), ("libc", "0.2.191"), ("memchr", "2.8.3"), ("os_pipe", "1.2.3"), ("shlex", "2.0.1")];
        assert_eq!(dependencies(&metadata, "app").unwrap(), crates(&app));
        assert_eq!(dependencies(&metadata, "app-core").unwrap(), crates(&[("memchr", "2.8.3")]));
        assert_eq!(dependencies(&metadata, "tool").unwrap(), crates(&[("humantime", "2.4.0")]));
        let unknown = dependencies(&metadata, "os_pipe").unwrap_err();
        assert!(format!("{unknown:#}").contains("no workspace member named `os_pipe`"), "{unknown:#}");
        metadata.resolve = None;
        assert!(format!("{:#}", dependencies(&metadata, "app").unwrap_err()).contains("no resolve graph"));
    }
}
