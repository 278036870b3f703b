//! Reading and editing Cargo.toml text with toml_edit, pure (text in, values or text out).
//!
//! Edits keep every comment, blank line and key order: the root manifest is written by people,
//! and a version bump must show up as a one-line diff.

use anyhow::{Context, Result};
use semver::Version;
use toml_edit::{DocumentMut, Item, Value};

fn parse(text: &str) -> Result<DocumentMut> {
    text.parse().context("Cargo.toml is not valid TOML: fix the syntax error")
}

/// `[workspace.package] version` as written, if present.
pub fn declared_workspace_version(text: &str) -> Result<Option<String>> {
    let document = parse(text)?;
    let version = document
        .get("workspace")
        .and_then(|workspace| workspace.get("package"))
        .and_then(|package| package.get("version"))
        .and_then(Item::as_str)
        .map(str::to_owned);
    Ok(version)
}

/// Whether a member manifest inherits the workspace version (`version.workspace = true`, in
/// either its dotted or inline-table spelling).
pub fn inherits_workspace_version(text: &str) -> Result<bool> {
    let document = parse(text)?;
    let inherits = document
        .get("package")
        .and_then(|package| package.get("version"))
        .and_then(|version| version.get("workspace"))
        .and_then(Item::as_bool)
        .unwrap_or(false);
    Ok(inherits)
}

/// The root manifest `text` with `[workspace.package] version` set to `version`, every other
/// byte (comments, layout, the value's own trailing comment) unchanged.
pub fn with_workspace_version(text: &str, version: &Version) -> Result<String> {
    let mut document = parse(text)?;
    let item = document
        .get_mut("workspace")
        .and_then(|workspace| workspace.get_mut("package"))
        .and_then(|package| package.get_mut("version"))
        .filter(|item| item.is_str())
        .context("the root Cargo.toml has no [workspace.package] version string: add `version = \"0.1.0\"` there")?;
    let decor = item.as_value().map(|value| value.decor().clone()).unwrap_or_default();
    let mut value = Value::from(version.to_string());
    *value.decor_mut() = decor;
    *item = Item::Value(value);
    Ok(document.to_string())
}

/// A member manifest `text` with its own `[package] version` set to `version`, every other byte
/// unchanged (a trailing `#:version` marker or comment on the line stays). Refuses a package that
/// inherits the workspace version: its version is the workspace's to change.
pub fn with_package_version(text: &str, version: &Version) -> Result<String> {
    let mut document = parse(text)?;
    let item = document
        .get_mut("package")
        .and_then(|package| package.get_mut("version"))
        .context("the crate's [package] table has no version: add `version = \"0.1.0\"` there")?;
    if !item.is_str() {
        anyhow::bail!(
            "the crate's version is inherited from [workspace.package] (`version.workspace = true`): change \
             the workspace version instead (`cargo xtask version bump …` without -p)"
        );
    }
    let decor = item.as_value().map(|value| value.decor().clone()).unwrap_or_default();
    let mut value = Value::from(version.to_string());
    *value.decor_mut() = decor;
    *item = Item::Value(value);
    Ok(document.to_string())
}

/// Cargo.lock `text` with the workspace member `package` (the entry without a `source`) recorded at
/// `version`, every other entry byte for byte as it was: a precise edit, where `cargo update
/// --workspace` would rewrite every member's entry.
pub fn with_locked_member_version(text: &str, package: &str, version: &Version) -> Result<String> {
    let mut document = text.parse::<DocumentMut>().context("Cargo.lock is not valid TOML: regenerate it")?;
    let entries = document
        .get_mut("package")
        .and_then(Item::as_array_of_tables_mut)
        .context("Cargo.lock has no [[package]] entries: run `cargo generate-lockfile`")?;
    let mut found = 0;
    for entry in entries.iter_mut() {
        let is_member = entry.get("name").and_then(Item::as_str) == Some(package) && !entry.contains_key("source");
        if let (true, Some(item)) = (is_member, entry.get_mut("version")) {
            let decor = item.as_value().map(|value| value.decor().clone()).unwrap_or_default();
            let mut value = Value::from(version.to_string());
            *value.decor_mut() = decor;
            *item = Item::Value(value);
            found += 1;
        }
    }
    if found != 1 {
        anyhow::bail!(
            "Cargo.lock has {found} entries of workspace crate `{package}`, expected 1: run `cargo generate-lockfile` and commit it"
        );
    }
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"# The workspace.
[workspace]
members = ["crates/beacon"] # shipped

[workspace.package]
# The one version of the workspace.
version = "0.1.0"   # bumped by cargo xtask
edition = "2021"

# Release automation settings.
[workspace.metadata.xtask]
release-branches = ["main"]
"#;

    #[test]
    fn version_edit_keeps_comments_and_layout() {
        let edited = with_workspace_version(ROOT, &Version::parse("0.2.0-rc.1").unwrap()).unwrap();
        assert_eq!(edited, ROOT.replace("\"0.1.0\"", "\"0.2.0-rc.1\""));
        assert_eq!(declared_workspace_version(&edited).unwrap().as_deref(), Some("0.2.0-rc.1"));
    }

    #[test]
    fn missing_version_is_reported() {
        let error = with_workspace_version("[workspace]\n", &Version::new(1, 0, 0)).unwrap_err();
        assert!(error.to_string().contains("[workspace.package] version"), "{error}");
        assert_eq!(declared_workspace_version("[workspace]\n").unwrap(), None);
        assert!(declared_workspace_version("[workspace").is_err());
    }

    #[test]
    fn package_version_edit_keeps_the_marker_and_refuses_inheritance() {
        let root = "# The tool.\n[package]\nname = \"tool\"\nversion = \"2.4.1\" #:version\nedition = \"2024\"\n\n[workspace]\nmembers = [\"core\"]\n";
        let edited = with_package_version(root, &Version::new(2, 5, 0)).unwrap();
        assert_eq!(edited, root.replace("\"2.4.1\"", "\"2.5.0\""));
        let inherits = "[package]\nname = \"a\"\nversion.workspace = true\n";
        let error = with_package_version(inherits, &Version::new(1, 0, 0)).unwrap_err().to_string();
        assert!(error.contains("inherited") && error.contains("without -p"), "{error}");
        assert!(with_package_version("[package]\nname = \"a\"\n", &Version::new(1, 0, 0)).is_err());
    }

    #[test]
    fn lock_edit_changes_only_the_member_entry() {
        let lock = "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 4\n\n[[package]]\nname = \"cc\"\nversion = \"1.2.3\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"ab\"\n\n[[package]]\nname = \"core\"\nversion = \"0.4.2\"\n\n[[package]]\nname = \"tool\"\nversion = \"2.4.1\"\ndependencies = [\n \"cc\",\n \"core\",\n]\n";
        let edited = with_locked_member_version(lock, "tool", &Version::new(2, 5, 0)).unwrap();
        assert_eq!(
            edited,
            lock.replace("name = \"tool\"\nversion = \"2.4.1\"", "name = \"tool\"\nversion = \"2.5.0\"")
        );
        // a crates.io crate of that name is not the member
        assert!(with_locked_member_version(lock, "cc", &Version::new(9, 0, 0))
            .unwrap_err()
            .to_string()
            .contains("0 entries"));
    }

    #[test]
    fn inheritance_is_read_in_both_spellings() {
        let cases = [
            ("[package]\nname = \"a\"\nversion.workspace = true\n", true),
            ("[package]\nname = \"a\"\nversion = { workspace = true }\n", true),
            ("[package]\nname = \"a\"\nversion = \"1.0.0\"\n", false),
            ("[package]\nname = \"a\"\nversion.workspace = false\n", false),
            ("[package]\nname = \"a\"\n", false),
        ];
        for (text, expected) in cases {
            assert_eq!(inherits_workspace_version(text).unwrap(), expected, "{text}");
        }
    }
}
