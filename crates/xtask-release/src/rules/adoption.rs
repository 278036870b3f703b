//! What `cargo xtask init` writes, pure: the root manifest with the xtask as a member and a
//! `[workspace.metadata.xtask]` of one image per binary, and `.cargo/config.toml` with the
//! `cargo xtask` alias. Text in, text out with toml_edit: every existing byte, comment and key of
//! the files stays as it was; what is already there is never written twice, and the user's crates
//! are never touched.

use anyhow::{bail, Context, Result};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

/// The xtask's directory and package name, as every adopter's.
pub const XTASK: &str = "xtask";
/// The alias that makes `cargo xtask …` run it.
pub const ALIAS: &str = "run --package xtask --";
/// The platforms a new image is built for.
pub const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

/// A binary target of a workspace member: what an image can ship.
#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub package: String,
    pub name: String,
    /// Whether it is its package's only binary (then the image needs no `binary` key).
    pub only: bool,
}

/// What the adoption decides the configuration from.
pub struct Facts<'a> {
    /// The binaries of the members (the xtask's own aside), in cargo's order.
    pub binaries: &'a [Binary],
    /// The binaries (or packages) the user picked; empty: every binary.
    pub picked: &'a [String],
    /// Where the images go: `ghcr.io/<owner>` for a GitHub remote.
    pub namespace: &'a str,
    /// The repository's default branch, for `release-branches` and `edge-branch`.
    pub default_branch: &'a str,
    /// Whether to add `xtask` to the workspace members (there is an `xtask/` crate, not a member yet).
    pub join_xtask: bool,
}

/// The root manifest with what adoption adds, and a line per change made.
pub fn root_manifest(text: &str, facts: &Facts) -> Result<(String, Vec<String>)> {
    let mut document: DocumentMut = text.parse().context("the root Cargo.toml is not valid TOML")?;
    let mut changes = Vec::new();
    if facts.join_xtask {
        add_member(&mut document)?;
        changes.push(format!("added \"{XTASK}\" to [workspace] members"));
    }
    let has_config = document.get("workspace").and_then(|w| w.get("metadata")).and_then(|m| m.get("xtask")).is_some();
    if !has_config {
        let images = images(facts)?;
        let names: Vec<&str> = images.iter().map(|(name, _)| name.as_str()).collect();
        changes.push(format!("wrote [workspace.metadata.xtask]: image(s) {}", names.join(", ")));
        let text = document.to_string();
        return Ok((text.trim_end().to_owned() + "\n" + &config_text(facts, &images), changes));
    }
    Ok((document.to_string(), changes))
}

fn add_member(document: &mut DocumentMut) -> Result<()> {
    let workspace = document.entry("workspace").or_insert(Item::Table(Table::new()));
    let workspace = workspace.as_table_mut().context("`workspace` in the root Cargo.toml is not a table")?;
    let members = workspace.entry("members").or_insert(Item::Value(Value::Array(Array::new())));
    let Some(members) = members.as_array_mut() else { bail!("[workspace] members is not an array") };
    members.push(XTASK);
    Ok(())
}

/// The images to configure: one per picked binary (all by default), named after it.
fn images(facts: &Facts) -> Result<Vec<(String, Binary)>> {
    let picked = |b: &Binary| facts.picked.is_empty() || facts.picked.iter().any(|p| *p == b.name || *p == b.package);
    let chosen: Vec<Binary> = facts.binaries.iter().filter(|b| picked(b)).cloned().collect();
    if let Some(unknown) =
        facts.picked.iter().find(|p| !facts.binaries.iter().any(|b| b.name == **p || b.package == **p))
    {
        let known: Vec<&str> = facts.binaries.iter().map(|b| b.name.as_str()).collect();
        bail!("--image {unknown}: no binary or package of that name (the workspace's binaries: {})", known.join(", "));
    }
    if chosen.is_empty() {
        bail!(
            "the workspace has no binary to put in an image: add a binary crate (`cargo new --bin NAME`), then run \
             `cargo xtask init` again"
        );
    }
    Ok(chosen.into_iter().map(|b| (b.name.to_ascii_lowercase(), b)).collect())
}

fn config_text(facts: &Facts, images: &[(String, Binary)]) -> String {
    let platforms = PLATFORMS.map(|p| format!("{p:?}")).join(", ");
    let branch = facts.default_branch;
    let mut text = format!(
        "\n# Release automation, read by `cargo xtask` (written by `cargo xtask init`; every key:\n\
         # the book's configuration reference). `cargo xtask plan` shows what a release would do.\n\
         [workspace.metadata.xtask]\nrelease-branches = [{branch:?}]\nedge-branch = {branch:?}\n"
    );
    for (name, binary) in images {
        text.push_str(&format!("\n[workspace.metadata.xtask.images.{name}]\npackage = {:?}\n", binary.package));
        if !binary.only {
            text.push_str(&format!("binary = {:?}\n", binary.name));
        }
        text.push_str(&format!(
            "# `runtime` ships the binary alone; `service` adds EXPOSE $PORT and HEALTHCHECK `/app healthcheck`.\n\
             target = \"runtime\"\nplatforms = [{platforms}]\nrepositories = [\"{}/{name}\"]\n",
            facts.namespace
        ));
    }
    text.push_str(
        "\n# The release workflow signs keyless (GitHub's OIDC identity): only the transparency log lets\n\
         # anyone verify those signatures later. Local and key-signed runs turn it off.\n\
         [workspace.metadata.xtask.signing]\nenabled = true\ntlog-upload = true\n",
    );
    text
}

/// The root manifest with `dockerfile = path` in every image table that names none, and those
/// images' names.
pub fn with_dockerfile(text: &str, path: &str) -> Result<(String, Vec<String>)> {
    let mut document: DocumentMut = text.parse().context("the root Cargo.toml is not valid TOML")?;
    let mut named = Vec::new();
    let images = document
        .get_mut("workspace")
        .and_then(|w| w.get_mut("metadata"))
        .and_then(|m| m.get_mut("xtask"))
        .and_then(|x| x.get_mut("images"))
        .and_then(Item::as_table_like_mut);
    for (name, image) in images.into_iter().flat_map(|images| images.iter_mut()) {
        let Some(image) = image.as_table_like_mut() else { continue };
        if image.get("dockerfile").is_none() {
            image.insert("dockerfile", Item::Value(Value::from(path)));
            named.push(name.to_string());
        }
    }
    Ok((document.to_string(), named))
}

/// The first image Dockerfile (read through `read`, by its path in the workspace) whose build
/// contract this engine does not speak, as a problem.
pub fn ejected_dockerfile_problem(manifest: &str, read: impl Fn(&str) -> Option<String>) -> Option<String> {
    let document: DocumentMut = manifest.parse().ok()?;
    let images = document.get("workspace")?.get("metadata")?.get("xtask")?.get("images")?.as_table_like()?;
    let problem = images.iter().find_map(|(_, image)| {
        let path = image.get("dockerfile")?.as_str()?;
        crate::rules::dockerfile::contract_problem(path, &read(path)?)
    });
    problem
}

/// `.cargo/config.toml` with the `cargo xtask` alias, or `None` when it has one already.
pub fn cargo_config(text: Option<&str>) -> Result<Option<String>> {
    let mut document: DocumentMut = text.unwrap_or("").parse().context(".cargo/config.toml is not valid TOML")?;
    let alias = document.entry("alias").or_insert(Item::Table(Table::new()));
    let alias = alias.as_table_like_mut().context("`alias` in .cargo/config.toml is not a table")?;
    if alias.get(XTASK).is_some() {
        return Ok(None);
    }
    alias.insert(XTASK, Item::Value(Value::from(ALIAS)));
    Ok(Some(document.to_string()))
}

/// The registry namespace of a git remote's repository: `ghcr.io/<owner>` for GitHub,
/// `registry.gitlab.com/<owner>/<name>` for GitLab; `None` for another host or no remote.
pub fn namespace(remote: &str) -> Option<String> {
    let remote = remote.trim().trim_end_matches('/').trim_end_matches(".git");
    let path = remote
        .strip_prefix("git@")
        .and_then(|r| r.split_once(':'))
        .or_else(|| remote.split_once("://").and_then(|(_, r)| r.split_once('/')))?;
    let (host, path) = (path.0.rsplit('@').next()?, path.1);
    let (owner, name) = path.split_once('/')?;
    let (owner, name) = (owner.to_ascii_lowercase(), name.to_ascii_lowercase());
    match host {
        "github.com" => Some(format!("ghcr.io/{owner}")),
        "gitlab.com" => Some(format!("registry.gitlab.com/{owner}/{name}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(package: &str, name: &str, only: bool) -> Binary {
        Binary { package: package.into(), name: name.into(), only }
    }

    fn facts<'a>(binaries: &'a [Binary], picked: &'a [String], member: bool) -> Facts<'a> {
        Facts { binaries, picked, namespace: "ghcr.io/acme", default_branch: "master", join_xtask: !member }
    }

    #[test]
    fn a_package_root_becomes_a_workspace_with_one_image_per_binary_and_keeps_every_byte() {
        let text = "# the app\n[package]\nname = \"hello\" # ours\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n";
        let binaries = [bin("hello", "hello", true), bin("tools", "migrate", false)];
        let (out, changes) = root_manifest(text, &facts(&binaries, &[], false)).unwrap();
        assert!(out.starts_with(text.trim_end()), "the user's text comes first, unchanged:\n{out}");
        assert!(out.contains("[workspace]\nmembers = [\"xtask\"]\n"), "{out}");
        assert!(out.contains("release-branches = [\"master\"]\nedge-branch = \"master\"\n"), "{out}");
        assert!(out.contains("[workspace.metadata.xtask.images.hello]\npackage = \"hello\"\n# `runtime`"), "{out}");
        assert!(out.contains("[workspace.metadata.xtask.images.migrate]\npackage = \"tools\"\nbinary = \"migrate\"\n"));
        assert!(out.contains("repositories = [\"ghcr.io/acme/migrate\"]\n"), "{out}");
        assert!(out.contains("platforms = [\"linux/amd64\", \"linux/arm64\"]\n"), "{out}");
        assert_eq!(changes.len(), 2, "{changes:?}");
        let config = out.parse::<DocumentMut>().unwrap();
        assert!(config["workspace"]["metadata"]["xtask"]["signing"]["tlog-upload"].as_bool().unwrap());
    }

    #[test]
    fn what_is_there_is_kept_a_member_list_grows_and_a_picked_binary_is_the_only_image() {
        let text = "[workspace]\nmembers = [\"crates/*\"] # all of them\nresolver = \"3\"\n";
        let binaries = [bin("api", "api", true), bin("cli", "cli", true)];
        let (out, _) = root_manifest(text, &facts(&binaries, &["cli".into()], false)).unwrap();
        assert!(out.contains("members = [\"crates/*\", \"xtask\"] # all of them\n"), "{out}");
        assert!(out.contains("images.cli]") && !out.contains("images.api]"), "{out}");
        // Run again: nothing changes.
        let (again, changes) = root_manifest(&out, &facts(&binaries, &[], true)).unwrap();
        assert_eq!((again.as_str(), changes.len()), (out.as_str(), 0));
        let unknown = root_manifest(text, &facts(&binaries, &["web".into()], false)).unwrap_err();
        assert!(
            unknown.to_string().contains("--image web: no binary or package")
                && unknown.to_string().contains("api, cli")
        );
        let none = root_manifest(text, &facts(&[], &[], false)).unwrap_err();
        assert!(none.to_string().contains("no binary to put in an image"));
    }

    #[test]
    fn an_ejected_dockerfile_is_named_by_the_images_without_one_and_its_contract_is_checked() {
        let text = "[workspace.metadata.xtask.images.a]\npackage = \"a\"\n\n[workspace.metadata.xtask.images.b]\n\
                    package = \"b\"\ndockerfile = \"b/Dockerfile\"\n";
        let (out, named) = with_dockerfile(text, "docker/Dockerfile").unwrap();
        assert_eq!(named, ["a"]);
        assert!(out.contains("package = \"a\"\ndockerfile = \"docker/Dockerfile\"\n"), "{out}");
        assert!(out.contains("dockerfile = \"b/Dockerfile\"\n"), "{out}");
        let engine = crate::rules::dockerfile::ENGINE_DOCKERFILE;
        assert_eq!(ejected_dockerfile_problem(&out, |_| Some(engine.to_owned())), None);
        let old = engine.replace("build contract 2", "build contract 0");
        let problem =
            ejected_dockerfile_problem(&out, |p| Some(if p == "b/Dockerfile" { old.clone() } else { engine.into() }));
        assert!(problem.unwrap().starts_with("b/Dockerfile was written for build contract 0"));
    }

    #[test]
    fn the_alias_is_added_where_missing_beside_what_the_config_holds() {
        assert_eq!(cargo_config(None).unwrap().unwrap(), "[alias]\nxtask = \"run --package xtask --\"\n");
        let text = "[build]\njobs = 2 # ours\n\n[alias]\nb = \"build\"\n";
        let out = cargo_config(Some(text)).unwrap().unwrap();
        assert!(out.starts_with("[build]\njobs = 2 # ours\n") && out.contains("b = \"build\"\nxtask = \"run"), "{out}");
        assert_eq!(cargo_config(Some(&out)).unwrap(), None);
        assert_eq!(cargo_config(Some("[alias]\nxtask = \"run -p tools --\"\n")).unwrap(), None, "theirs is kept");
    }

    #[test]
    fn the_registry_namespace_follows_the_remote() {
        for (remote, expected) in [
            ("https://github.com/Acme/Hello.git", Some("ghcr.io/acme")),
            ("git@github.com:acme/hello.git", Some("ghcr.io/acme")),
            ("ssh://git@github.com/acme/hello", Some("ghcr.io/acme")),
            ("https://gitlab.com/acme/hello.git", Some("registry.gitlab.com/acme/hello")),
            ("https://git.example.com/acme/hello.git", None),
            ("/srv/git/hello.git", None),
        ] {
            assert_eq!(namespace(remote).as_deref(), expected, "{remote}");
        }
    }
}
