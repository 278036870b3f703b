//! `cargo metadata`, read into the `cargo_metadata` crate's types (cargo's maintained model of its
//! JSON: nothing cargo adds is dropped): the workspace's members, their targets and dependencies,
//! `[workspace.metadata]`; from `cargo tree`, the crates a package's binary links for its targets,
//! with their features; and, resolved for those targets, every locked crate's manifest facts.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};
use cargo_metadata::camino::Utf8Path;
use xshell::{cmd, Shell};

use crate::tools::secrets;

pub use cargo_metadata::{Metadata, Package, TargetKind};

/// The metadata [`workspace_root`] read, kept for the next [`read`] of that root: a command starts
/// by finding its workspace and then reads it, and cargo is asked once (each process of it is some
/// 50 ms of a warm `cargo xtask plan`). Taken by that one read: any later one asks cargo again, so
/// a command that edits a manifest reads it afresh.
static FIRST: Mutex<Option<Metadata>> = Mutex::new(None);

/// `cargo metadata --no-deps` of the workspace at the shell's directory.
pub fn read(sh: &Shell) -> Result<Metadata> {
    let kept = FIRST.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(metadata) = kept.filter(|m| m.workspace_root.as_std_path() == sh.current_dir()) {
        return Ok(metadata);
    }
    ask(sh)
}

/// The root of the workspace the shell's directory is in (cargo's `workspace_root`).
pub fn workspace_root(sh: &Shell) -> Result<PathBuf> {
    let metadata = ask(sh)?;
    let root = metadata.workspace_root.clone().into_std_path_buf();
    *FIRST.lock().unwrap_or_else(|e| e.into_inner()) = Some(metadata);
    Ok(root)
}

fn ask(sh: &Shell) -> Result<Metadata> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps").quiet().read().context(
        "`cargo metadata` failed: run `cargo xtask` inside the workspace, and fix the manifest error cargo printed",
    )?;
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

/// The crates a binary of workspace member `package` links when built for `triple` by itself, with
/// its default features, as cargo resolves them (`cargo tree -e normal,no-proc-macro`: no build
/// dependency, no proc-macro), the package included; the rule that the scan's SBOM must list them is
/// `rules::sbom_coverage`. Unlike `crates_for_target`, features are those of this package's build
/// alone, not the workspace's unified ones.
pub fn linked_crates(sh: &Shell, package: &str, triple: &str) -> Result<BTreeSet<(String, String)>> {
    let text = tree(sh, package, &[triple], ("normal,no-proc-macro", "none", "{p}")).map_err(anyhow::Error::msg)?;
    crate::rules::sbom_coverage::parse_tree(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the crates `{package}` links on {triple}"))
}

/// The two listings `rules::dependency_graph::parse` reads, of workspace member `package` built by
/// itself for `triples` (all at once: the Dockerfile installs one set of system packages for every
/// platform): what its binary links, with the features cargo resolves for it (`-e normal`), and the
/// same with build-dependencies (`-e normal,build`), for the pkg-config probes. `Err` is cargo's
/// message.
pub fn dependency_listings(sh: &Shell, package: &str, triples: &[&str]) -> Result<(String, String), String> {
    let linked = tree(sh, package, triples, ("normal,no-proc-macro", "depth", "{p}|{f}"))?;
    Ok((linked, tree(sh, package, triples, ("normal,build,no-proc-macro", "depth", "{p}"))?))
}

/// `cargo metadata --locked` with the dependencies, resolved for `triples` (`--filter-platform`):
/// every locked crate those targets build and its manifest's facts (`rust-version`). `Err` is
/// cargo's message. Like `cargo tree`, it may fetch crates and runs no build script.
pub fn resolved(sh: &Shell, triples: &[&str]) -> Result<Metadata, String> {
    let platforms = triples.iter().flat_map(|triple| ["--filter-platform", triple]);
    let json =
        fetching(cmd!(sh, "cargo metadata --format-version 1 --locked {platforms...}"), "`cargo metadata --locked`")?;
    parse(&json).map_err(|error| format!("{error:#}"))
}

/// `cargo tree --locked -p PACKAGE --target T… -e EDGES --prefix PREFIX --format FORMAT`: its
/// listing, or what cargo said.
fn tree(
    sh: &Shell,
    package: &str,
    triples: &[&str],
    (edges, prefix, format): (&str, &str, &str),
) -> Result<String, String> {
    let targets = triples.iter().flat_map(|triple| ["--target", triple]);
    let command =
        cmd!(sh, "cargo tree --locked -p {package} {targets...} -e {edges} --prefix {prefix} --format {format}");
    fetching(command, &format!("`cargo tree -p {package} --target {}`", triples.join(" --target ")))
}

/// Runs a cargo `command` that may fetch crates and runs no build script, with the private
/// registries' tokens (`tools::secrets`): its stdout, or `WHAT failed: ` and what cargo said (its
/// progress lines left out).
fn fetching(command: xshell::Cmd<'_>, what: &str) -> Result<String, String> {
    let out = command
        .envs(secrets::cargo_tokens())
        .quiet()
        .ignore_status()
        .output()
        .map_err(|error| format!("could not run {what}: {error}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let progress = ["Downloading", "Downloaded", "Updating", "Blocking", "Locking"];
    let said: Vec<&str> =
        stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !progress.iter().any(|p| l.starts_with(p))).collect();
    Err(format!("{what} failed: {}", said.join(" ")))
}

#[cfg(test)]
mod tests {
    use semver::Version;

    use super::{parse, path_closure, TargetKind};

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
}
