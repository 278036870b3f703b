//! Each image's dependency graph on its platforms (`rules::dependency_graph`), from which the plan
//! decides the system libraries it links and the Rust its dependencies ask for: read with `cargo
//! tree` and `cargo metadata` (`tools::metadata`), which may
//! fetch the locked crates the first time, and kept in `target/xtask/dependency-graphs/<image>.json`
//! with the digest of everything that decides it (Cargo.lock, every manifest of the workspace,
//! `.cargo/config.toml`, the package, its targets and the engine), so that planning an unchanged
//! workspace runs no cargo. A graph that cannot be read is the plan's problem to show, not an error
//! here: `plan` still prints, and preflight refuses to build.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use xshell::Shell;

use crate::rules::config::Config;
use crate::rules::dependency_graph::{self, Graph};
use crate::rules::digest::sha256;
use crate::rules::sbom_coverage::rust_triple;
use crate::rules::schema;
use crate::steps::{parallel, stored};
use crate::tools::files;
use crate::tools::metadata::{self, Metadata};

/// Where the graphs are kept, relative to the workspace root.
pub const DIR: &str = "target/xtask/dependency-graphs";
/// The schema of a kept graph (2: with its dependencies' `rust-version`).
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    schema_version: u32,
    /// The digest of what decides the graph.
    key: String,
    graph: Graph,
}

/// What one image's graph is read for.
struct Wanted {
    image: String,
    package: String,
    triples: Vec<&'static str>,
    key: String,
}

/// The graph of every image of `config` (only those of `only`, when not empty), by image name.
pub fn for_images(
    sh: &Shell,
    metadata: &Metadata,
    config: &Config,
    only: &[String],
) -> BTreeMap<String, Result<Graph, String>> {
    let root = metadata.workspace_root.as_std_path();
    let workspace = workspace_digest(root, metadata);
    let wanted: Vec<Wanted> = config
        .images
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .map(|(name, image)| {
            let triples: Vec<&'static str> = image.platforms.iter().filter_map(|p| rust_triple(p.as_str())).collect();
            let key = sha256(format!("{}\n{workspace}\n{}\n{triples:?}", schema::engine(), image.package).as_bytes());
            Wanted { image: name.clone(), package: image.package.clone(), triples, key }
        })
        .collect();
    let mut graphs = BTreeMap::new();
    let mut missing: Vec<&Wanted> = Vec::new();
    for wanted in &wanted {
        match kept(root, wanted) {
            Some(graph) => {
                graphs.insert(wanted.image.clone(), Ok(graph));
            }
            None => missing.push(wanted),
        }
    }
    // Images of one package on the same platforms (a package's binaries) have one graph: read once.
    let mut distinct: Vec<&Wanted> = missing.clone();
    distinct.sort_by_key(|wanted| &wanted.key);
    distinct.dedup_by_key(|wanted| &wanted.key);
    let read = parallel::all(sh, &distinct, |sh, wanted| {
        let (linked, with_build) = metadata::dependency_listings(sh, &wanted.package, &wanted.triples)?;
        let resolved = metadata::resolved(sh, &wanted.triples)?;
        let graph = dependency_graph::parse(&linked, &with_build)?;
        Ok(Graph { rust_versions: dependency_graph::rust_versions(&resolved, &wanted.package), ..graph })
    });
    let read: BTreeMap<&str, Result<Graph, String>> =
        distinct.iter().map(|wanted| wanted.key.as_str()).zip(read).collect();
    for wanted in missing {
        let graph = read[wanted.key.as_str()].clone();
        if let Ok(graph) = &graph {
            keep(root, wanted, graph);
        }
        graphs.insert(wanted.image.clone(), graph);
    }
    graphs
}

/// The digest of what decides every graph of the workspace: Cargo.lock, the root manifest, every
/// member's manifest and `.cargo/config.toml` (a file missing counts as empty).
fn workspace_digest(root: &Path, metadata: &Metadata) -> String {
    let mut files = vec![root.join("Cargo.lock"), root.join("Cargo.toml"), root.join(".cargo/config.toml")];
    files.extend(metadata.workspace_packages().iter().map(|p| p.manifest_path.as_std_path().to_path_buf()));
    let mut text = String::new();
    for file in files {
        let content = std::fs::read(&file).unwrap_or_default();
        text.push_str(&format!("{} {}\n", file.display(), sha256(&content)));
    }
    sha256(text.as_bytes())
}

fn kept(root: &Path, wanted: &Wanted) -> Option<Graph> {
    let kept: Kept = stored::read(&path(root, &wanted.image), SCHEMA_VERSION).ok()??;
    (kept.key == wanted.key).then_some(kept.graph)
}

/// Keeps a graph for the next plan, in a `target/xtask` an engine run of this user made: never a
/// file of another owner in the workspace (`doctor --install` plans as root in the user's). A
/// failure to write it only costs the next plan a `cargo tree`.
fn keep(root: &Path, wanted: &Wanted, graph: &Graph) {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(root.join("target/xtask")).map(|m| m.uid());
    // /proc/self belongs to the process's effective user (where there is a /proc).
    let me = std::fs::metadata("/proc/self").map(|m| m.uid());
    match (owner, me) {
        (Err(_), _) => return,
        (Ok(owner), Ok(me)) if owner != me => return,
        _ => {}
    }
    let file = path(root, &wanted.image);
    let kept = Kept { schema_version: SCHEMA_VERSION, key: wanted.key.clone(), graph: graph.clone() };
    let _ = std::fs::create_dir_all(root.join(DIR))
        .map_err(anyhow::Error::from)
        .and_then(|()| files::write_json(&file, &kept));
}

fn path(root: &Path, image: &str) -> std::path::PathBuf {
    root.join(DIR).join(format!("{image}.json"))
}
