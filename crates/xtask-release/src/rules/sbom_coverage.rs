//! Whether a platform's scan can see the crates its binary links, pure. trivy learns them from the
//! binary's cargo-auditable section; a binary built with plain `cargo build` has none, and trivy
//! then finds no crate, no advisory, and reports the image clean. So the scan checks its own SBOM:
//!
//! **Every crate the package links on the platform's target must be in the SBOM, at its locked
//! version; the package itself too.** "Links" is what cargo resolves for building that package
//! alone, for that target, with its default features (the Dockerfile contract's
//! `cargo auditable build -p PACKAGE --bin BIN`): `cargo tree -p PACKAGE --target TRIPLE
//! -e normal,no-proc-macro`, i.e. the package and its normal dependencies, transitively, without
//! build-dependencies and proc-macros (they run on the build host; cargo-auditable records them as
//! build-time and trivy leaves them out) and their own dependencies. Not `cargo metadata`'s resolve:
//! it unifies the features of every workspace member, so it names crates another member's features
//! bring in that this binary does not link (this repository's `beaconctl`: `signal-hook-registry`,
//! `errno`, `httpdate`, `tower-service`, which only `beacon` turns on). The SBOM may list more (its
//! cargo-auditable data comes from the build's own `cargo metadata`): more is never less seen.
//!
//! An SBOM with no cargo crate at all is the blind build; one that misses some, or has them at other
//! versions, describes another binary than the one this commit's lock makes. Both stop the release
//! before anything is pushed, naming the crates and the fix.

use std::collections::BTreeSet;

use crate::rules::sbom::Bom;

/// A crate: name and version, as cargo and the SBOM write them.
pub type Crate = (String, String);

/// The Rust target triple the Dockerfile contract builds for `platform` (its `cross` table).
pub fn rust_triple(platform: &str) -> Option<&'static str> {
    Some(match platform {
        "linux/amd64" => "x86_64-unknown-linux-gnu",
        "linux/arm64" | "linux/arm64/v8" => "aarch64-unknown-linux-gnu",
        "linux/arm/v7" => "armv7-unknown-linux-gnueabihf",
        "linux/ppc64le" => "powerpc64le-unknown-linux-gnu",
        "linux/s390x" => "s390x-unknown-linux-gnu",
        "linux/riscv64" => "riscv64gc-unknown-linux-gnu",
        _ => return None,
    })
}

/// The crates `cargo tree --prefix none --format {p}` printed: one per line, `name vX.Y.Z`, a path
/// or `(*)` after it for a member or a crate printed before.
pub fn parse_tree(text: &str) -> Result<BTreeSet<Crate>, String> {
    let mut crates = BTreeSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next().and_then(|v| v.strip_prefix('v'))) else {
            return Err(format!("`cargo tree` printed {line:?}, not `NAME vVERSION`"));
        };
        crates.insert((name.to_owned(), version.to_owned()));
    }
    Ok(crates)
}

/// The cargo crates a CycloneDX SBOM lists (components whose purl is `pkg:cargo/…`), by the
/// component's own name and version.
pub fn cargo_components(sbom: &Bom) -> BTreeSet<Crate> {
    sbom.components
        .iter()
        .filter(|c| c.purl.as_deref().is_some_and(|p| p.starts_with("pkg:cargo/")))
        .filter_map(|c| Some((c.name.clone(), c.version.clone()?)))
        .collect()
}

/// What was scanned: the image and platform, the package, the target triple and the Dockerfile.
pub struct Scanned<'a> {
    pub image: &'a str,
    pub platform: &'a str,
    pub package: &'a str,
    pub triple: &'a str,
    pub dockerfile: &'a str,
}

/// Checks that `listed` (the SBOM's cargo crates) holds every crate of `linked`; the refusal,
/// naming the cause and the fix, otherwise.
pub fn check(scanned: &Scanned<'_>, linked: &BTreeSet<Crate>, listed: &BTreeSet<Crate>) -> Result<(), String> {
    let Scanned { image, platform, package, triple, dockerfile } = scanned;
    let fix = format!(
        "Build the binary with `cargo auditable build` (cargo-auditable records the crates it links, which is \
         what trivy reads): the engine's Dockerfile does; an ejected or own Dockerfile must too ({dockerfile})"
    );
    if listed.is_empty() {
        return Err(format!(
            "{image} {platform}: the scan is blind to the binary's crates: its SBOM lists no Rust crate at all, \
             because the binary carries no cargo-auditable data (built with plain `cargo build`), so no advisory \
             for the {} crate(s) `{package}` links on {triple} ({}) could be found. {fix}",
            linked.len(),
            names(linked.iter().take(8)),
        ));
    }
    let missing: Vec<&Crate> = linked.iter().filter(|c| !listed.contains(*c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let others: Vec<&Crate> = listed.iter().filter(|(name, _)| missing.iter().any(|(m, _)| m == name)).collect();
    let instead = if others.is_empty() { String::new() } else { format!(" (it lists {} instead)", names(others)) };
    Err(format!(
        "{image} {platform}: the scan cannot see every crate the binary links: its SBOM does not list {} of the \
         {} crate(s) `{package}` links on {triple} at this commit's Cargo.lock: {}{instead}. The binary was not \
         built from this lock with cargo-auditable, or not for `{package}` alone with its default features. {fix}, \
         from this commit's Cargo.lock (`--locked`)",
        missing.len(),
        linked.len(),
        names(missing),
    ))
}

fn names<'a>(crates: impl IntoIterator<Item = &'a Crate>) -> String {
    crates.into_iter().map(|(name, version)| format!("{name} {version}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(list: &[(&str, &str)]) -> BTreeSet<Crate> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    const SCANNED: Scanned<'static> = Scanned {
        image: "ledger",
        platform: "linux/amd64",
        package: "ledger",
        triple: "x86_64-unknown-linux-gnu",
        dockerfile: "docker/Dockerfile",
    };

    /// What `cargo tree -p ledger --target x86_64-unknown-linux-gnu -e normal,no-proc-macro
    /// --prefix none --format {p}` prints for the ledger fixture; trivy's SBOM of its image lists
    /// exactly these four crates, on every platform.
    const LEDGER_TREE: &str =
        "ledger v0.1.0 (/w/crates/ledger)\nitoa v1.0.19\nledger-core v0.1.0 (/w/crates/ledger-core)\nlibc v0.2.191\n";

    #[test]
    fn the_linked_crates_come_from_cargo_tree_each_once() {
        let linked = parse_tree(LEDGER_TREE).unwrap();
        assert_eq!(
            linked,
            set(&[("itoa", "1.0.19"), ("ledger", "0.1.0"), ("ledger-core", "0.1.0"), ("libc", "0.2.191")])
        );
        assert_eq!(parse_tree("tokio v1.54.1\ntokio v1.54.1 (*)\n").unwrap().len(), 1, "a repeat is one crate");
        assert!(parse_tree("warning: something\n").unwrap_err().contains("not `NAME vVERSION`"));
        assert_eq!(rust_triple("linux/riscv64"), Some("riscv64gc-unknown-linux-gnu"));
        assert_eq!(rust_triple("linux/arm/v7"), Some("armv7-unknown-linux-gnueabihf"));
        assert_eq!(rust_triple("windows/amd64"), None);
    }

    #[test]
    fn the_sboms_cargo_crates_are_read_by_name_and_version() {
        let sbom = crate::rules::sbom::bom(json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
            {"type": "operating-system", "name": "debian", "version": "13.8"},
            {"type": "application", "name": "app"},
            {"type": "library", "name": "libc", "version": "0.2.191", "purl": "pkg:cargo/libc@0.2.191"},
            {"type": "library", "name": "wasi", "version": "0.11.0+wasi-snapshot-preview1", "purl": "pkg:cargo/wasi@0.11.0%2Bwasi-snapshot-preview1"},
            {"type": "library", "name": "ca-certificates", "version": "2025", "purl": "pkg:deb/debian/ca-certificates@2025"}
        ]}))
        .unwrap();
        assert_eq!(cargo_components(&sbom), set(&[("libc", "0.2.191"), ("wasi", "0.11.0+wasi-snapshot-preview1")]));
        assert!(cargo_components(&Bom::default()).is_empty());
    }

    #[test]
    fn every_linked_crate_must_be_listed_at_its_version() {
        let linked = parse_tree(LEDGER_TREE).unwrap();
        // What trivy lists for the cargo-auditable binary: exactly those, and more is fine.
        let mut listed = linked.clone();
        assert_eq!(check(&SCANNED, &linked, &listed), Ok(()));
        listed.insert(("extra".into(), "1.0.0".into()));
        assert_eq!(check(&SCANNED, &linked, &listed), Ok(()));

        // The blind build: no crate at all. The cause and the fix are named.
        let blind = check(&SCANNED, &linked, &BTreeSet::new()).unwrap_err();
        for needle in [
            "ledger linux/amd64: the scan is blind to the binary's crates",
            "built with plain `cargo build`",
            "the 4 crate(s) `ledger` links on x86_64-unknown-linux-gnu (itoa 1.0.19, ledger 0.1.0",
            "Build the binary with `cargo auditable build`",
            "an ejected or own Dockerfile must too (docker/Dockerfile)",
        ] {
            assert!(blind.contains(needle), "{needle:?} in: {blind}");
        }

        // Another binary's data: libc at another version, the package itself missing.
        let other = set(&[("itoa", "1.0.19"), ("ledger-core", "0.1.0"), ("libc", "0.2.180")]);
        let problem = check(&SCANNED, &linked, &other).unwrap_err();
        assert!(problem.contains("does not list 2 of the 4 crate(s)"), "{problem}");
        assert!(problem.contains(": ledger 0.1.0, libc 0.2.191 (it lists libc 0.2.180 instead)"), "{problem}");
    }
}
