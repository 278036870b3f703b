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
