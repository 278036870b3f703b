//! Release notes from two releases' SBOMs and provenance, pure: per image and platform, the
//! packages added, removed and upgraded, the base and toolchain change, the image size and its
//! delta (flagged above `rules::size_budget::GROWTH_FLAG_PERCENT`), the advisories fixed and introduced (today's DB judging both), and the digests compared;
//! rendered as Markdown (the JSON is the same value serialised).

use serde::{Deserialize, Serialize};

use crate::rules::sbom::Diff;
use crate::rules::size_budget::{flagged_growth, GROWTH_FLAG_PERCENT};

/// One release's side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    pub version: String,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformNotes {
    pub platform: String,
    /// The platform manifests compared (`None`: the platform is new, or gone).
    pub from_digest: Option<String>,
    pub to_digest: Option<String>,
    pub packages: Diff,
    pub base_from: Vec<String>,
    pub base_to: Vec<String>,
    pub toolchain_from: Option<String>,
    pub toolchain_to: Option<String>,
    /// The image size in bytes as pushed: config and compressed layers (`rules::size_budget`).
    pub size_from: Option<u64>,
    pub size_to: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageNotes {
    pub image: String,
    pub repository: String,
    pub from: Side,
    pub to: Side,
    pub platforms: Vec<PlatformNotes>,
    /// Advisory IDs today's DB finds in `from` but not in `to`, and the reverse.
    pub advisories_fixed: Vec<String>,
    pub advisories_introduced: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes {
    pub schema_version: u32,
    pub from: String,
    pub to: String,
    pub images: Vec<ImageNotes>,
}

/// The advisories fixed (in `from`, not in `to`) and introduced (the reverse), each sorted once.
pub fn advisories(from: &[String], to: &[String]) -> (Vec<String>, Vec<String>) {
    let only = |a: &[String], b: &[String]| {
        let mut ids: Vec<String> = a.iter().filter(|id| !b.contains(id)).cloned().collect();
        ids.sort();
        ids.dedup();
        ids
    };
    (only(from, to), only(to, from))
}

/// A size delta for people: `1.8 MB → 1.9 MB (+45.1 kB)`.
pub fn size_change(from: Option<u64>, to: Option<u64>) -> String {
    let human = |bytes: u64| {
        if bytes >= 1_000_000 {
            format!("{:.1} MB", bytes as f64 / 1e6)
        } else {
            format!("{:.1} kB", bytes as f64 / 1e3)
        }
    };
    match (from, to) {
        (Some(a), Some(b)) => {
            let delta = b as i64 - a as i64;
            let sign = if delta < 0 { "-" } else { "+" };
            format!("{} → {} ({sign}{})", human(a), human(b), human(delta.unsigned_abs()))
        }
        (None, Some(b)) => format!("{} (new)", human(b)),
        (Some(a), None) => format!("{} (gone)", human(a)),
        (None, None) => "unknown".to_owned(),
    }
}

/// The size line's flag when the image grew by more than `GROWTH_FLAG_PERCENT`: ` — **grew 25.0 %**…`.
pub fn size_flag(from: Option<u64>, to: Option<u64>) -> String {
    match flagged_growth(from, to) {
        Some(percent) => format!(" — **grew {percent:.1} %**, more than {GROWTH_FLAG_PERCENT} %"),
        None => String::new(),
    }
}

/// The notes as Markdown.
pub fn markdown(notes: &Notes) -> String {
    let mut out = format!("## Changes from {} to {}\n", notes.from, notes.to);
    for image in &notes.images {
        out += &format!("\n### {} ({})\n\n", image.image, image.repository);
        out += &format!(
            "- compared: `{}` ({}) → `{}` ({})\n",
            image.from.digest, image.from.version, image.to.digest, image.to.version
        );
        let list = |ids: &[String]| if ids.is_empty() { "none".to_owned() } else { ids.join(", ") };
        out += &format!("- advisories fixed: {}\n", list(&image.advisories_fixed));
        out += &format!("- advisories introduced: {}\n", list(&image.advisories_introduced));
        for p in &image.platforms {
            out += &format!("\n#### {}\n\n", p.platform);
            out += &format!(
                "- image size: {}{}\n",
                size_change(p.size_from, p.size_to),
                size_flag(p.size_from, p.size_to)
            );
            if p.base_from != p.base_to {
                out += &format!("- base: {} → {}\n", p.base_from.join(", "), p.base_to.join(", "));
            } else {
                out += &format!("- base: unchanged ({})\n", p.base_to.join(", "));
            }
            match (&p.toolchain_from, &p.toolchain_to) {
                (a, b) if a == b => out += &format!("- toolchain: unchanged ({})\n", b.as_deref().unwrap_or("unknown")),
                (a, b) => {
                    out += &format!(
                        "- toolchain: {} → {}\n",
                        a.as_deref().unwrap_or("unknown"),
                        b.as_deref().unwrap_or("unknown")
                    )
                }
            }
            let d = &p.packages;
            if d.added.is_empty() && d.removed.is_empty() && d.upgraded.is_empty() {
                out += "- packages: unchanged\n";
            }
            for u in &d.upgraded {
                out += &format!("- upgraded: {} {} → {}\n", u.name, u.from, u.to);
            }
            for a in &d.added {
                out += &format!("- added: {} {}\n", a.name, a.version);
            }
            for r in &d.removed {
                out += &format!("- removed: {} {}\n", r.name, r.version);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::sbom::{Package, Upgrade};

    #[test]
    fn advisories_fixed_and_introduced_are_the_two_differences() {
        let (fixed, introduced) = advisories(&["A".into(), "B".into(), "B".into()], &["B".into(), "C".into()]);
        assert_eq!((fixed, introduced), (vec!["A".to_owned()], vec!["C".to_owned()]));
    }

    #[test]
    fn sizes_show_their_delta() {
        assert_eq!(size_change(Some(1_880_064), Some(1_925_120)), "1.9 MB → 1.9 MB (+45.1 kB)");
        assert_eq!(size_change(Some(2_000_000), Some(1_500_000)), "2.0 MB → 1.5 MB (-500.0 kB)");
        assert_eq!(size_change(None, Some(900)), "0.9 kB (new)");
        assert_eq!(size_flag(Some(1000), Some(1100)), "", "10 % is not flagged");
        assert_eq!(size_flag(Some(1000), Some(1101)), " — **grew 10.1 %**, more than 10 %");
        assert_eq!(size_flag(None, Some(1101)), "");
    }

    #[test]
    fn the_markdown_names_every_change() {
        let side = |v: &str| Side { version: v.into(), digest: format!("sha256:{v}") };
        let packages = Diff {
            added: vec![Package { ecosystem: "cargo".into(), name: "semver".into(), version: "1.0.26".into() }],
            removed: Vec::new(),
            upgraded: vec![Upgrade {
                ecosystem: "cargo".into(),
                name: "libc".into(),
                from: "0.2.1".into(),
                to: "0.2.2".into(),
            }],
        };
        let platform = PlatformNotes {
            platform: "linux/amd64".into(),
            from_digest: Some("sha256:a".into()),
            to_digest: Some("sha256:b".into()),
            packages,
            base_from: vec!["debian:trixie-slim@sha256:1".into()],
            base_to: vec!["debian:trixie-slim@sha256:2".into()],
            toolchain_from: Some("debian".into()),
            toolchain_to: Some("debian".into()),
            size_from: Some(1000),
            size_to: Some(2000),
        };
        let notes = Notes {
            schema_version: 1,
            from: "1.0.0".into(),
            to: "1.0.1".into(),
            images: vec![ImageNotes {
                image: "beacon".into(),
                repository: "r/beacon".into(),
                from: side("1.0.0"),
                to: side("1.0.1"),
                platforms: vec![platform],
                advisories_fixed: vec!["XTASK-1".into()],
                advisories_introduced: Vec::new(),
            }],
        };
        let text = markdown(&notes);
        for expected in [
            "## Changes from 1.0.0 to 1.0.1",
            "- upgraded: libc 0.2.1 → 0.2.2",
            "- added: semver 1.0.26",
            "- advisories fixed: XTASK-1",
            "- advisories introduced: none",
            "- base: debian:trixie-slim@sha256:1 → debian:trixie-slim@sha256:2",
            "- toolchain: unchanged (debian)",
            "- image size: 1.0 kB → 2.0 kB (+1.0 kB) — **grew 100.0 %**, more than 10 %\n",
        ] {
            assert!(text.contains(expected), "{expected:?} in:\n{text}");
        }
    }
}
