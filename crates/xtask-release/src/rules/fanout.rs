//! One platform per runner, pure: the plan of one variant (`release --image I --platform P`, one job
//! of the plan's variant matrix: `rules::matrix`) and of a merge (`release merge`), the admission of
//! variant records to a merge (every configured platform, a passing verdict, one policy, one DB
//! source, one commit; every problem named at once), and the image index a one-engine build writes
//! around those variants, byte for byte (BuildKit's `json.MarshalIndent` of the OCI index: field
//! order, two-space indent, HTML-safe escapes, manifests in the configured platform order), so the
//! merged index has the digest a one-engine build of the same commit has.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::rules::config::ScanPolicy;
use crate::rules::matrix::slug;
use crate::rules::pipeline::{self, Run};
use crate::rules::plan::{ImagePlan, Plan};

/// The plan of one variant: the one selected image, built for `platform` only, into its own state
/// directory, pushed by digest (no tag) and recorded as a variant for `release merge`.
pub fn variant_plan(plan: &Plan, platform: &str) -> Result<Plan> {
    let [image] = plan.images.as_slice() else {
        bail!("--platform builds one variant of one image: add --image NAME (one of the plan's images)");
    };
    if !image.platforms.iter().any(|p| p == platform) {
        bail!(
            "--platform {platform}: image {} is not built for it (workspace.metadata.xtask.images.{}.platforms is {:?}): use one of those",
            image.name,
            image.name,
            image.platforms
        );
    }
    let mut variant = plan.clone();
    let slug = slug(platform);
    let image = &mut variant.images[0];
    image.platforms = vec![platform.to_owned()];
    // Its own cache (a variant's export would replace the image's other platforms in a shared one),
    // reading the image's shared cache (a one-engine build's) after it.
    let own = |import| image.cache_to.iter().map(|c| per_platform(c, &slug, import)).collect::<Vec<_>>();
    let (from, to) = (own(true), own(false));
    image.cache_from = from.into_iter().chain(image.cache_from.iter().cloned()).collect();
    image.cache_to = to;
    let image = &plan.images[0];
    variant.out_dir = format!("{}/variant-{}-{slug}", plan.out_dir, image.name);
    variant.steps = pipeline::steps(Run::Variant, plan.publishing());
    Ok(variant)
}

/// A buildx cache import/export of the image, made the platform's own: `ref=…:buildcache` →
/// `ref=…:buildcache-linux-arm64`, `scope=beacon` → `scope=beacon-linux-arm64`; for an `import`,
/// without the export's options (`mode=max`, …).
fn per_platform(cache: &str, slug: &str, import: bool) -> String {
    cache
        .split(',')
        .filter_map(|part| match part.split_once('=') {
            Some((key @ ("ref" | "scope"), value)) => Some(format!("{key}={value}-{slug}")),
            Some(("type", _)) => Some(part.to_owned()),
            _ if import => None,
            _ => Some(part.to_owned()),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The plan of a merge: what the release does after the scan, on the variants' records instead of
/// a build (`merge` replaces build, smoke and scan), in its own state directory.
pub fn merge_plan(plan: &Plan) -> Plan {
    let mut merge = plan.clone();
    merge.out_dir = format!("{}/merge", plan.out_dir);
    merge.steps = pipeline::steps(Run::Merge, plan.publishing());
    merge
}

/// What admission needs to know of one variant record.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Where it was read from (named in errors).
    pub source: String,
    pub image: String,
    pub platform: String,
    pub git_sha: String,
    pub version: String,
    pub passed: bool,
    pub policy: ScanPolicy,
    /// The vulnerability DB source it was judged by (`None` without the vuln scanner).
    pub db_repository: Option<String>,
}

/// The records of `image` to merge, one per configured platform in configured order; or every
/// reason not to merge, each naming the variant.
pub fn admit<'c>(image: &ImagePlan, plan: &Plan, candidates: &'c [Candidate]) -> Result<Vec<&'c Candidate>> {
    let mut problems = Vec::new();
    let mut admitted = Vec::new();
    let version = image.version.to_string();
    for platform in &image.platforms {
        let found: Vec<&Candidate> =
            candidates.iter().filter(|c| c.image == image.name && &c.platform == platform).collect();
        let variant = format!("{} {platform}", image.name);
        match found.as_slice() {
            [] => problems.push(format!(
                "{variant}: no variant record among the directories given (run `cargo xtask release --execute --image {} --platform {platform}` and pass its directory)",
                image.name
            )),
            [one] => {
                if !one.passed {
                    problems.push(format!("{variant}: its scan failed ({}): fix the findings and rebuild it", one.source));
                }
                if one.git_sha != plan.git.sha {
                    problems.push(format!(
                        "{variant}: built from commit {}, but this is {} ({}): every variant of a release is built from one commit",
                        one.git_sha, plan.git.sha, one.source
                    ));
                }
                if one.version != version {
                    problems.push(format!("{variant}: version {}, the plan releases {version} ({})", one.version, one.source));
                }
                if one.policy != plan.scan {
                    problems.push(format!(
                        "{variant}: scanned under another policy than this release's workspace.metadata.xtask.scan (with its overrides) ({}): run every variant with the same scan options",
                        one.source
                    ));
                }
                admitted.push(*one);
            }
            many => problems.push(format!(
                "{variant}: {} records ({}): pass each variant's directory once",
                many.len(),
                many.iter().map(|c| c.source.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
    let sources: Vec<&str> = admitted.iter().filter_map(|c| c.db_repository.as_deref()).collect();
    if sources.iter().any(|s| *s != sources[0]) {
        let by: Vec<String> = admitted
            .iter()
            .map(|c| format!("{} by {}", c.platform, c.db_repository.as_deref().unwrap_or("none")))
            .collect();
        problems.push(format!(
            "{}: the variants were judged by vulnerability DBs of different sources ({}): run them with the same db-repositories",
            image.name,
            by.join(", ")
        ));
    }
    if !problems.is_empty() {
        bail!("not merging {}: nothing was tagged.\n  {}", image.name, problems.join("\n  "));
    }
    Ok(admitted)
}

/// One platform manifest of the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub platform: IndexPlatform,
}

/// The OCI platform object, in Go's field order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl IndexPlatform {
    /// `linux/arm/v7` as the index spells it.
    pub fn parse(platform: &str) -> Result<IndexPlatform> {
        let mut parts = platform.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(os), Some(arch), variant, None) if !os.is_empty() && !arch.is_empty() => Ok(IndexPlatform {
                architecture: arch.to_owned(),
                os: os.to_owned(),
                variant: variant.map(str::to_owned),
            }),
            _ => bail!("{platform:?} is not a platform (os/arch[/variant])"),
        }
    }
}

#[derive(Serialize)]
struct Index<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: &'a [IndexEntry],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The index BuildKit exports around `entries` (in that order) with index annotations
/// `annotations`: the exact bytes, hence the exact digest.
pub fn index_bytes(entries: &[IndexEntry], annotations: &BTreeMap<String, String>) -> String {
    let index = Index { schema_version: 2, media_type: INDEX_MEDIA_TYPE, manifests: entries, annotations };
    let pretty = serde_json::to_string_pretty(&index).unwrap_or_default();
    go_html_escape(&pretty)
}

/// Go's encoding/json escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings (they occur nowhere
/// else in JSON text).
fn go_html_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The index annotations a one-engine build writes: the plan's `--annotation index,manifest:` keys
/// as the variants' manifests carry them (a buildx that parses the scope puts them on the index too;
/// one that takes `index,manifest:KEY` for the key puts them on neither index nor as `KEY`).
pub fn index_annotations(
    image: &ImagePlan,
    manifest_annotations: &[BTreeMap<String, String>],
) -> BTreeMap<String, String> {
    image
        .annotations
        .iter()
        .filter(|(key, value)| manifest_annotations.iter().all(|m| m.get(*key) == Some(*value)))
        .filter(|_| !manifest_annotations.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
mod tests;
