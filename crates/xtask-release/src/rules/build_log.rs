//! buildx's plain progress output (`--progress=plain`, the log beside every build's archive) read
//! into the seconds each Dockerfile stage took, pure: what the bench's P11 breaks a build step down
//! by, so the gap between a release's build and the raw compile shows where it is.
//!
//! A step is announced as `#12 [linux/arm64 deps 2/2] RUN …` (`#12 [deps 2/2] …` for one platform)
//! and ends as `#12 DONE 45.3s`; the export as `#30 exporting to oci image format`. Steps of several
//! platforms run side by side, so a stage's figure is the sum of its steps' times (busy seconds),
//! not wall time.

use std::collections::BTreeMap;

/// What the export steps are filed under.
pub const EXPORT: &str = "export";
/// Steps outside any stage: loading the Dockerfile, the contexts, base image metadata.
pub const OTHER: &str = "other";

/// Seconds per stage (and [`EXPORT`], [`OTHER`]), largest first; cached steps count nothing.
pub fn stage_seconds(log: &str) -> Vec<(String, f64)> {
    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    let mut seconds: BTreeMap<String, f64> = BTreeMap::new();
    for line in log.lines() {
        let Some((id, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else { continue };
        if let Some(took) = rest.strip_prefix("DONE ").and_then(|t| t.trim().strip_suffix('s')) {
            let (Some(name), Ok(took)) = (names.get(id), took.parse::<f64>()) else { continue };
            *seconds.entry(name.clone()).or_default() += took;
        } else if !names.contains_key(id) {
            names.insert(id, stage_of(rest).to_owned());
        }
    }
    let mut sorted: Vec<(String, f64)> = seconds.into_iter().filter(|(_, s)| *s > 0.0).collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
}

/// The stage a step's announcement names.
fn stage_of(announcement: &str) -> &str {
    if announcement.starts_with("exporting") || announcement.starts_with("sending tarball") {
        return EXPORT;
    }
    let Some(inside) = announcement.strip_prefix('[').and_then(|a| a.split_once(']')).map(|(i, _)| i) else {
        return OTHER;
    };
    let words: Vec<&str> = inside.split_whitespace().collect();
    // `[linux/arm64 deps 2/2]`, `[deps 2/2]`, `[internal] …`, `[context source] …`
    match words.as_slice() {
        [.., stage, step] if step.contains('/') && !stage.contains('/') && *stage != "internal" => stage,
        _ => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s
#10 [linux/amd64 toolchain-debian 1/2] FROM docker.io/library/debian:trixie-slim@sha256:a6
#10 CACHED
#11 [linux/amd64 deps 2/2] RUN --network=none cargo auditable build --release
#12 [linux/arm64 deps 2/2] RUN --network=none cargo auditable build --release
#11 0.311    Compiling libc v0.2.170
#11 DONE 40.5s
#12 DONE 42.0s
#13 [linux/amd64 build 2/2] RUN find /src -type f -exec touch {} +
#13 DONE 9.25s
#14 [deps 1/2] COPY --from=recipe / /src/
#14 DONE 0.5s
#20 exporting to oci image format
#20 exporting layers 0.3s done
#20 DONE 1.2s
#21 sending tarball
#21 DONE 0.4s
";

    #[test]
    fn stages_sum_their_steps_across_platforms() {
        let seconds = stage_seconds(LOG);
        let get = |name: &str| seconds.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
        assert!((get("deps").unwrap() - 83.0).abs() < 1e-9, "{seconds:?}");
        assert_eq!(get("build"), Some(9.25));
        assert!((get(EXPORT).unwrap() - 1.6).abs() < 1e-9);
        assert_eq!(get(OTHER), Some(0.1));
        assert_eq!(get("toolchain-debian"), None, "a cached step costs nothing");
        assert_eq!(seconds[0].0, "deps", "largest first");
    }

    #[test]
    fn announcements_name_their_stage() {
        assert_eq!(stage_of("[linux/arm/v7 runtime-files 2/2] RUN set -eu"), "runtime-files");
        assert_eq!(stage_of("[build 2/2] RUN cargo"), "build");
        assert_eq!(stage_of("[context source] load from client"), OTHER);
        assert_eq!(stage_of("[internal] load metadata for docker.io/library/debian"), OTHER);
        assert_eq!(stage_of("[linux/amd64 internal] load metadata"), OTHER);
        assert_eq!(stage_of("exporting to oci image format"), EXPORT);
        assert_eq!(stage_of("resolve image config"), OTHER);
    }
}
