//! The tools' supported versions and what each version can do, decided in one place (pure: the
//! tools' version texts come in). `RANGES` is the one table of supported ranges: the minimum is the
//! oldest toolset the suite is proven on (Debian trixie's), the tested one the newest (Debian
//! forky's); doctor refuses below the minimum. `Capabilities` is what the steps branch on, computed
//! once at start from the versions, so no step compares version strings.

use std::fmt;

/// A `major.minor.patch` version, read leniently from a tool's output (`v0.29.1+ds1`, `28.5.2+dfsg4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    /// The first `[v]X.Y[.Z]` in `text` (a build suffix such as `+ds1` or `-rc1` is ignored).
    pub fn find(text: &str) -> Option<Version> {
        text.split_whitespace().find_map(|word| {
            let word = word.trim_start_matches('v');
            let core = word.split(['+', '-', '~', ',']).next()?;
            let mut parts = core.split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
            parts.next().is_none().then_some(Version(major, minor, patch))
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Engine,
    Containerd,
    Buildx,
    Cosign,
}

/// One tool's supported range: `minimum` is required, `tested` the newest the suite ran on.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub tool: Tool,
    pub name: &'static str,
    pub minimum: Version,
    pub tested: Version,
    /// What the minimum brings that the pipeline needs.
    pub why: &'static str,
}

/// The supported ranges (README and docs/src/installation.md show the same; `.ci/toolset.sh` installs
/// both ends).
pub const RANGES: [Range; 4] = [
    Range {
        tool: Tool::Engine,
        name: "docker engine",
        minimum: Version(26, 1, 0),
        tested: Version(28, 5, 2),
        why: "multi-platform load and push with the containerd image store",
    },
    Range {
        tool: Tool::Containerd,
        name: "containerd",
        minimum: Version(1, 7, 0),
        tested: Version(2, 1, 9),
        why: "the image store the engine keeps multi-platform images in",
    },
    Range {
        tool: Tool::Buildx,
        name: "buildx",
        minimum: Version(0, 13, 0),
        tested: Version(0, 29, 1),
        why: "rewrite-timestamp (reproducible layers)",
    },
    Range {
        tool: Tool::Cosign,
        name: "cosign",
        minimum: Version(2, 5, 0),
        tested: Version(3, 1, 1),
        why: "the oldest cosign the release is proven on (Debian trixie's)",
    },
];

pub fn range(tool: Tool) -> &'static Range {
    RANGES.iter().find(|r| r.tool == tool).expect("every tool has a range")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    TooOld,
    Supported,
    /// Newer than the newest tested: allowed, said so.
    Newer,
}

pub fn standing(range: &Range, version: Version) -> Standing {
    if version < range.minimum {
        Standing::TooOld
    } else if (version.0, version.1) > (range.tested.0, range.tested.1) {
        Standing::Newer
    } else {
        Standing::Supported
    }
}

/// `docker buildx version`: `github.com/docker/buildx v0.13.1 788433953af…` or
/// `github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4` (Debian's).
pub fn buildx_version(text: &str) -> Option<Version> {
    Version::find(text.split_whitespace().nth(1)?)
}

/// Which cosign, from `cosign version` and, when that says no version (a distribution's `devel`
/// build), from `cosign sign --help`: cosign 3 signs with a signing config by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cosign {
    pub major: u64,
    /// `None` for a build that does not know its version.
    pub version: Option<Version>,
}

pub fn cosign_version(version_text: &str, sign_help: impl FnOnce() -> String) -> Option<Cosign> {
    let line = version_text.lines().find(|l| l.trim_start().starts_with("GitVersion:"))?;
    let value = line.split_once(':')?.1.trim();
    if let Some(version) = Version::find(value) {
        return Some(Cosign { major: version.0, version: Some(version) });
    }
    let major = if sign_help().contains("--use-signing-config=true") { 3 } else { 2 };
    Some(Cosign { major, version: None })
}

/// How cosign stores what it signs, the one choice cosign's major version makes for the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureFormat {
    /// cosign 2: a simple-signing payload under the tags `sha256-<digest>.sig` / `.att`.
    LegacyTags,
    /// cosign 3: a Sigstore bundle (v0.3) as an OCI referrer of the image, stored under the
    /// referrers tag schema (`sha256-<digest>`) where the registry has no referrers API.
    SigstoreBundle,
}

/// What the installed tools can do, probed once at start and passed to the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub buildx: Version,
    /// Each platform's SLSA provenance taken from the build's own record (the build ref from
    /// `--metadata-file`, the predicates from `docker buildx history inspect attachment`, matched
    /// by manifest digest): one build per image instead of a second one with attestations (buildx
    /// 0.23). `BUILDX_METADATA_PROVENANCE` alone puts a multi-platform build's provenance nowhere.
    pub provenance_from_history: bool,
    /// `docker buildx build --call check`: the Dockerfile's build checks (buildx 0.15).
    pub call_check: bool,
    /// The engine's version (`docker version`), when it answered: its built-in BuildKit must serve
    /// the build checks and the build history too (Docker 27 embeds BuildKit 0.14).
    pub engine: Option<Version>,
    /// `None` when cosign is not installed (signing disabled).
    pub cosign: Option<Cosign>,
}

impl Capabilities {
    /// What `buildx`, the engine and `cosign` can do together. An engine older than Docker 27 (or
    /// one that does not say) keeps the old ways whatever the client: its BuildKit answers neither
    /// the build checks nor the history a newer buildx asks for. (Debian's builds report BuildKit
    /// itself as `v0.0.0+unknown`, so the engine's version is what can be read.)
    pub fn new(buildx: Version, engine: Option<Version>, cosign: Option<Cosign>) -> Capabilities {
        let engine_serves = engine.is_some_and(|e| e >= Version(27, 0, 0));
        Capabilities {
            buildx,
            provenance_from_history: buildx >= Version(0, 23, 0) && engine_serves,
            call_check: buildx >= Version(0, 15, 0) && engine_serves,
            engine,
            cosign,
        }
    }

    pub fn signature_format(&self) -> SignatureFormat {
        match self.cosign {
            Some(Cosign { major, .. }) if major >= 3 => SignatureFormat::SigstoreBundle,
            _ => SignatureFormat::LegacyTags,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_what_the_tools_print() {
        let v13 = "github.com/docker/buildx v0.13.1 788433953af10f2a698f5c07611dddce2e08c7a0";
        let v29 = "github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4";
        assert_eq!(buildx_version(v13), Some(Version(0, 13, 1)));
        assert_eq!(buildx_version(v29), Some(Version(0, 29, 1)));
        assert_eq!(buildx_version("github.com/docker/buildx dev"), None);
        assert_eq!(Version::find("28.5.2+dfsg4"), Some(Version(28, 5, 2)));
        assert_eq!(Version::find("Docker version 26.1.5+dfsg1, build a72d7cd"), Some(Version(26, 1, 5)));
        assert_eq!(Version::find("1.7.24~ds1"), Some(Version(1, 7, 24)));
        assert_eq!(Version::find("v2.1"), Some(Version(2, 1, 0)));
        assert_eq!(Version::find("1.2.3.4"), None);
    }

    #[test]
    fn cosign_is_known_by_its_version_or_else_by_its_defaults() {
        let upstream = "GitVersion:    v3.0.2\nGitCommit:     abc\n";
        assert_eq!(
            cosign_version(upstream, || unreachable!()),
            Some(Cosign { major: 3, version: Some(Version(3, 0, 2)) })
        );
        let devel = "  ______\ncosign: A tool\n\nGitVersion:    devel\nGitCommit:     unknown\n";
        let v3_help = "    --upload=true:\n    --use-signing-config=true:\n";
        let v2_help = "    --registry-referrers-mode=:\n    --tlog-upload=true:\n";
        assert_eq!(cosign_version(devel, || v3_help.into()), Some(Cosign { major: 3, version: None }));
        assert_eq!(cosign_version(devel, || v2_help.into()), Some(Cosign { major: 2, version: None }));
        assert_eq!(cosign_version("not cosign", || v2_help.into()), None);
    }

    #[test]
    fn capabilities_follow_the_versions() {
        let (old, new) = (Some(Version(26, 1, 5)), Some(Version(28, 5, 2)));
        let minimum = Capabilities::new(Version(0, 13, 1), old, Some(Cosign { major: 2, version: None }));
        assert!(!minimum.provenance_from_history && !minimum.call_check);
        assert_eq!(minimum.signature_format(), SignatureFormat::LegacyTags);
        let current = Capabilities::new(Version(0, 29, 1), new, Some(Cosign { major: 3, version: None }));
        assert!(current.provenance_from_history && current.call_check);
        assert_eq!(current.signature_format(), SignatureFormat::SigstoreBundle);
        assert!(!Capabilities::new(Version(0, 22, 0), new, None).provenance_from_history);
        assert!(Capabilities::new(Version(0, 22, 0), new, None).call_check);
        assert!(!Capabilities::new(Version(0, 14, 1), new, None).call_check);
        // A new buildx against an old engine (its BuildKit serves neither), or one that did not say.
        for engine in [old, None] {
            let mixed = Capabilities::new(Version(0, 29, 1), engine, None);
            assert!(!mixed.call_check && !mixed.provenance_from_history, "{mixed:?}");
        }
    }

    #[test]
    fn ranges_refuse_below_the_minimum_and_name_newer_than_tested() {
        let buildx = range(Tool::Buildx);
        assert_eq!(standing(buildx, Version(0, 12, 9)), Standing::TooOld);
        assert_eq!(standing(buildx, Version(0, 13, 1)), Standing::Supported);
        assert_eq!(standing(buildx, Version(0, 29, 7)), Standing::Supported);
        assert_eq!(standing(buildx, Version(0, 30, 0)), Standing::Newer);
        for r in RANGES {
            assert!(r.minimum < r.tested, "{}: minimum below tested", r.name);
        }
    }
}
