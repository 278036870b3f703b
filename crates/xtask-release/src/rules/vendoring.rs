//! Every dependency source cargo supports, offline in the build, pure. The host vendors the locked
//! crates — crates.io's, git dependencies' and `[patch]` entries', alternative registries' — with
//! `cargo vendor`, which prints the source replacement that makes cargo take each of those sources
//! from the vendored directory. The build uses that replacement as it is, its directory moved to
//! where the build mounts the crates (`/vendor`), so the compile needs no network and no credential:
//! private registries' tokens and git credentials stay on the host, with cargo, for the vendoring.
//! What the build gets of the workspace's own `.cargo/config.toml` has its registry tokens removed.

use toml_edit::{DocumentMut, Item, Value};

/// Where the build mounts the vendored crates (the Dockerfile contract's `vendor` context).
pub const BUILD_VENDOR_DIR: &str = "/vendor";
/// Where, in the vendored directory, the source replacement is kept for the build.
pub const SOURCE_CONFIG: &str = ".cargo/config.toml";

/// The source replacement `cargo vendor` printed, with the vendored directory at
/// [`BUILD_VENDOR_DIR`]; empty when it printed none (nothing to vendor).
pub fn build_source_config(printed: &str) -> Result<String, String> {
    let mut document: DocumentMut =
        printed.parse().map_err(|error| format!("`cargo vendor` printed no TOML source replacement: {error}"))?;
    let Some(sources) = document.get_mut("source").and_then(Item::as_table_like_mut) else {
        return Ok(String::new());
    };
    let mut directories = 0;
    for (_, source) in sources.iter_mut() {
        if let Some(directory) = source.as_table_like_mut().and_then(|source| source.get_mut("directory")) {
            *directory = Item::Value(Value::from(BUILD_VENDOR_DIR));
            directories += 1;
        }
    }
    if directories != 1 {
        return Err(format!("`cargo vendor` printed {directories} vendored directories, expected one: {printed}"));
    }
    Ok(document.to_string())
}

/// A `.cargo/config.toml` without registry tokens (`registry.token`, `registries.<name>.token`):
/// the build fetches nothing, and a token must not reach a build context. Text that is not TOML is
/// returned as it is (cargo will refuse it in the build, naming it).
pub fn without_credentials(config: &str) -> String {
    let Ok(mut document) = config.parse::<DocumentMut>() else { return config.to_owned() };
    let mut removed = false;
    if let Some(registry) = document.get_mut("registry").and_then(Item::as_table_like_mut) {
        removed |= registry.remove("token").is_some();
    }
    if let Some(registries) = document.get_mut("registries").and_then(Item::as_table_like_mut) {
        for (_, registry) in registries.iter_mut() {
            if let Some(registry) = registry.as_table_like_mut() {
                removed |= registry.remove("token").is_some();
            }
        }
    }
    if removed {
        document.to_string()
    } else {
        config.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cargo vendor` (cargo 1.95) printed for a workspace with a crates.io dependency, a git
    /// dependency, a git `[patch.crates-io]` entry and a crate of an alternative registry.
    const PRINTED: &str = r#"
[source.crates-io]
replace-with = "vendored-sources"

[source."git+file:///tmp/deps.git"]
git = "file:///tmp/deps.git"
replace-with = "vendored-sources"

[source."sparse+http://127.0.0.1:4321/index/"]
registry = "sparse+http://127.0.0.1:4321/index/"
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "/home/dev/app/target/xtask/vendor"
"#;

    #[test]
    fn the_printed_replacement_is_kept_with_the_build_directory() {
        let config = build_source_config(PRINTED).unwrap();
        assert!(config.contains("[source.vendored-sources]\ndirectory = \"/vendor\"\n"), "{config}");
        assert!(!config.contains("/home/dev"), "{config}");
        for kept in ["[source.\"git+file:///tmp/deps.git\"]", "registry = \"sparse+http://127.0.0.1:4321/index/\""] {
            assert!(config.contains(kept), "{config}");
        }
        assert_eq!(build_source_config("").unwrap(), "");
        assert!(build_source_config("[source.a]\ndirectory = \"x\"\n[source.b]\ndirectory = \"y\"\n").is_err());
        assert!(build_source_config("not toml [").is_err());
    }

    #[test]
    fn registry_tokens_never_reach_the_build() {
        let config = "[registries.acme]\nindex = \"sparse+https://crates.acme.dev/\"\ntoken = \"secret-1\"\n\n\
                      [registry]\ntoken = \"secret-2\"\n\n[alias]\nxtask = \"run -p xtask --\"\n";
        let cleaned = without_credentials(config);
        assert!(!cleaned.contains("secret"), "{cleaned}");
        assert!(cleaned.contains("index = \"sparse+https://crates.acme.dev/\"") && cleaned.contains("[alias]"));
        let plain = "[alias]\nxtask = \"run -p xtask --\"\n";
        assert_eq!(without_credentials(plain), plain);
        assert_eq!(without_credentials("not toml ["), "not toml [");
        let inline = "registries = { acme = { index = \"x\", token = \"secret-3\" } }\n";
        assert!(!without_credentials(inline).contains("secret"));
    }
}
