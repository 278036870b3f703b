//! An image's input identity, pure: everything that decides what its build produces, reduced to one
//! content digest per kind of input, so that `cargo xtask build` can reuse the last build of an
//! image whose inputs are all unchanged instead of calling buildx again, and say which kind changed
//! when they are not. Every value is a digest of content (never a file's mtime): the caller reads
//! the files, this module decides what counts and how.

use std::collections::BTreeMap;

use crate::rules::digest::sha256;

/// Bumped when the xtask changes how it builds (flags, provenance, exports), so that records of an
/// older xtask's builds are not reused.
pub const SCHEME: &str = "xtask-build-inputs/2";

/// What an image's build reads, as the build step gathers it.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The dependency recipe (`rules::recipe::recipe`): path → contents.
    pub recipe: BTreeMap<String, String>,
    /// The source context: path → digest of the file's contents (generated files included).
    pub source: BTreeMap<String, String>,
    /// The locked third-party crates, vendored on the host: `name version source checksum` each.
    pub crates: Vec<String>,
    /// The Dockerfile's text, and its ignore file's if it has one.
    pub dockerfile: (String, Option<String>),
    /// The main build context's files, path → content digest, when the Dockerfile reads it (see
    /// `reads_main_context`); empty when it does not.
    pub context: BTreeMap<String, String>,
    /// Every build arg in the order given (later ones win), and the other settings of the build
    /// that reach the image: target stage, labels, annotations, names, SOURCE_DATE_EPOCH.
    pub build_args: Vec<(String, String)>,
    pub settings: Vec<(String, String)>,
    /// The buildx builder: its name, driver, endpoint and BuildKit version.
    pub builder: String,
    /// The toolchain: kind, Rust version, and the digest of every base image the engine resolves.
    pub toolchain: Vec<(String, String)>,
    pub platforms: Vec<String>,
}

/// One digest per kind of input (`recipe`, `source`, `vendored crates`, …), and the scheme.
pub type Identity = BTreeMap<String, String>;

/// The identity of `inputs`.
pub fn identity(inputs: &Inputs) -> Identity {
    let pairs =
        |items: &[(String, String)]| -> String { items.iter().map(|(k, v)| format!("{k:?}={v:?}\n")).collect() };
    let map =
        |items: &BTreeMap<String, String>| -> String { items.iter().map(|(k, v)| format!("{k:?}={v:?}\n")).collect() };
    let lines = |items: &[String]| -> String { items.iter().map(|i| format!("{i:?}\n")).collect() };
    let (dockerfile, ignore) = &inputs.dockerfile;
    let kinds = [
        ("scheme", SCHEME.to_owned()),
        ("recipe", map(&inputs.recipe)),
        ("source", map(&inputs.source)),
        ("vendored crates", lines(&inputs.crates)),
        ("dockerfile", format!("{dockerfile:?}\n{ignore:?}")),
        ("context", map(&inputs.context)),
        ("build args", pairs(&inputs.build_args)),
        ("settings", pairs(&inputs.settings)),
        ("builder", inputs.builder.clone()),
        ("toolchain", pairs(&inputs.toolchain)),
        ("platforms", lines(&inputs.platforms)),
    ];
    kinds.into_iter().map(|(kind, text)| (kind.to_owned(), sha256(text.as_bytes()))).collect()
}

/// The kinds of input that differ between a recorded identity and the current one (a kind missing
/// on either side differs). Empty: the build would produce what was recorded.
pub fn changed(recorded: &Identity, now: &Identity) -> Vec<String> {
    let kinds: std::collections::BTreeSet<&String> =
        recorded.keys().chain(now.keys()).filter(|k| recorded.get(*k) != now.get(*k)).collect();
    kinds.into_iter().cloned().collect()
}

/// The third-party crates Cargo.lock pins (those with a `source`: registry or git), one line each,
/// `name version source checksum`, in the lock file's order. Workspace members are source, not here.
pub fn locked_crates(lock: &str) -> Vec<String> {
    let Ok(document) = lock.parse::<toml_edit::DocumentMut>() else {
        // Not TOML: the whole text then stands for the crates, so any change still counts.
        return vec![lock.to_owned()];
    };
    let Some(packages) = document.get("package").and_then(|p| p.as_array_of_tables()) else { return Vec::new() };
    packages
        .iter()
        .filter_map(|package| {
            let field = |key: &str| package.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let source = field("source");
            (!source.is_empty())
                .then(|| format!("{} {} {source} {}", field("name"), field("version"), field("checksum")))
        })
        .collect()
}

/// Whether a Dockerfile reads its main build context, apart from the stages the build replaces
/// with named contexts (`replaced`, e.g. `recipe`, `source`, `vendor`): a `COPY`/`ADD` without
/// `--from` that is not a here-document, or a `RUN --mount=type=bind` without `from=`.
pub fn reads_main_context(dockerfile: &str, replaced: &[&str]) -> bool {
    let mut in_replaced = false;
    for instruction in instructions(dockerfile) {
        let mut words = instruction.split_whitespace();
        let keyword = words.next().unwrap_or("").to_ascii_uppercase();
        let rest: Vec<&str> = words.collect();
        match keyword.as_str() {
            "FROM" => {
                let name = rest.iter().position(|w| w.eq_ignore_ascii_case("as")).and_then(|i| rest.get(i + 1));
                in_replaced = name.is_some_and(|n| replaced.iter().any(|r| r.eq_ignore_ascii_case(n)));
            }
            _ if in_replaced => {}
            "COPY" | "ADD" => {
                let flags: Vec<&&str> = rest.iter().take_while(|w| w.starts_with("--")).collect();
                let heredoc = rest.iter().any(|w| w.starts_with("<<"));
                if !heredoc && !flags.iter().any(|f| f.starts_with("--from=")) {
                    return true;
                }
            }
            "RUN" => {
                for mount in rest.iter().take_while(|w| w.starts_with("--")).filter_map(|w| w.strip_prefix("--mount="))
                {
                    let options: Vec<&str> = mount.split(',').collect();
                    let bind = options.contains(&"type=bind") || !options.iter().any(|o| o.starts_with("type="));
                    if bind && !options.iter().any(|o| o.starts_with("from=")) {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// The base images a Dockerfile names literally (`FROM image`, not a stage, `scratch` or an `$ARG`).
pub fn literal_bases(dockerfile: &str) -> Vec<String> {
    let mut stages: Vec<String> = Vec::new();
    let mut bases = Vec::new();
    for instruction in instructions(dockerfile) {
        let words: Vec<&str> = instruction.split_whitespace().collect();
        if !words.first().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let args: Vec<&str> = words[1..].iter().copied().filter(|w| !w.starts_with("--")).collect();
        if let Some(image) = args.first() {
            let known = stages.iter().any(|s| s.eq_ignore_ascii_case(image));
            if !known && !image.contains('$') && *image != "scratch" && !bases.iter().any(|b| b == image) {
                bases.push((*image).to_owned());
            }
        }
        if let [_, "AS" | "as" | "As", name] = args.as_slice() {
            stages.push((*name).to_owned());
        }
    }
    bases
}

/// The Dockerfile's instructions, continuation lines joined, comments and here-document bodies left
/// out.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut heredoc: Option<String> = None;
    for raw in dockerfile.lines() {
        if let Some(end) = &heredoc {
            if raw.trim() == end {
                heredoc = None;
            }
            continue;
        }
        let line = raw.trim();
        if line.starts_with('#') || (current.is_empty() && line.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                heredoc = current
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("<<"))
                    .map(|w| w.trim_start_matches('-').trim_matches(|c| c == '\'' || c == '"').to_owned());
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
#[path = "build_inputs_tests.rs"]
mod tests;
