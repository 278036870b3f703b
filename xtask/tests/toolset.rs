//! `.ci/toolset.sh` fetches the current toolset's .debs by exact version and sha256: a .deb whose
//! hash is not its pin fails by name with both hashes and is removed (checked on a copy of this
//! machine's cache, one file tampered with), and the snapshot.debian.org URL each package falls back
//! to, once Debian's forky no longer lists the pinned version, is well formed and names the file the
//! cache holds. Neither needs an engine or the network: the script's `--verify-cache` and
//! `--snapshot-urls` modes, pointed at scratch directories (`XTASK_TOOLSET_PREFIX`,
//! `XTASK_TOOLSET_CACHE`), so the machine's toolset is never touched.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

/// The architectures the testbed builds on, each with a pin per package.
const ARCHES: [&str; 2] = ["amd64", "arm64"];

/// A tool's stdout; a missing tool or a failure fails the test.
fn tool_ok(program: &str, args: &[&str]) -> String {
    let out =
        Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} (the test needs it): {e}"));
    assert!(out.status.success(), "{program} {args:?} failed:\n{}", report(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// A scratch directory for one test, removed when dropped.
fn scratch_dir(name: &str) -> RemovedOnDrop {
    let dir = std::env::temp_dir().join(format!("xtask-toolset-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    RemovedOnDrop(dir)
}

/// `.ci/toolset.sh` with these arguments, its prefix and cache in `scratch` (never the machine's).
fn toolset(scratch: &Path, args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(workspace_root().join(".ci/toolset.sh"))
        .args(args)
        .env("XTASK_TOOLSET_PREFIX", scratch.join("prefix"))
        .env("XTASK_TOOLSET_CACHE", scratch.join("cache"))
        .output()
        .expect("bash");
    assert!(!scratch.join("prefix").exists() && !scratch.join("cache").exists(), "{args:?} installed something");
    out
}

/// The machine's cache of the current toolset's .debs (`.ci/testbed.sh` fills it).
fn machine_debs() -> PathBuf {
    let cache = std::env::var("XTASK_TOOLSET_CACHE").unwrap_or_else(|_| "/var/cache/xtask-toolset".into());
    let debs = Path::new(&cache).join("debs");
    assert!(debs.is_dir(), "no {} here: run .ci/testbed.sh first", debs.display());
    debs
}

fn sha256(path: &Path) -> String {
    let out = tool_ok("sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_string()
}

/// One line of `--snapshot-urls`: the URL and the pinned sha256 of one package on one architecture.
struct Pin {
    url: String,
    sha256: String,
    stamp: String,
    pool_path: String,
    file: String,
    arch: String,
}

fn pins(scratch: &Path) -> Vec<Pin> {
    let out = toolset(scratch, &["--snapshot-urls"]);
    assert!(out.status.success(), ".ci/toolset.sh --snapshot-urls failed:\n{}", report(&out));
    let prefix = "http://snapshot.debian.org/archive/debian/";
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (url, sha256) = line.split_once(' ').unwrap_or_else(|| panic!("not `URL SHA256`: {line}"));
            let rest = url.strip_prefix(prefix).unwrap_or_else(|| panic!("not under {prefix}: {url}"));
            let (stamp, pool_path) = rest.split_once('/').unwrap_or_else(|| panic!("no timestamp: {url}"));
            let file = pool_path.rsplit('/').next().unwrap().to_string();
            let arch = file
                .strip_suffix(".deb")
                .and_then(|f| f.rsplit('_').next())
                .unwrap_or_else(|| panic!("not a .deb: {url}"))
                .to_string();
            Pin {
                url: url.to_string(),
                sha256: sha256.to_string(),
                stamp: stamp.to_string(),
                pool_path: pool_path.to_string(),
                file,
                arch,
            }
        })
        .collect()
}

fn machine_arch() -> String {
    tool_ok("dpkg", &["--print-architecture"]).trim().to_string()
}

#[test]
fn a_deb_that_is_not_its_pin_fails_by_name_with_both_hashes_and_is_removed() {
    let scratch = scratch_dir("verify");
    let arch = machine_arch();
    let wanted: Vec<Pin> = pins(&scratch.0).into_iter().filter(|p| p.arch == arch).collect();
    assert!(!wanted.is_empty(), "no pins for this machine's architecture ({arch})");
    let cache = scratch.0.join("debs");
    std::fs::create_dir_all(&cache).unwrap();
    for pin in &wanted {
        let cached = machine_debs().join(&pin.file);
        assert!(cached.is_file(), "no {} here: run .ci/testbed.sh first", cached.display());
        std::fs::copy(&cached, cache.join(&pin.file)).unwrap();
    }
    let cache_arg = cache.to_str().unwrap();

    let out = toolset(&scratch.0, &["--verify-cache", cache_arg]);
    assert!(out.status.success(), "the untampered copy of the cache does not verify:\n{}", report(&out));

    // One byte appended to docker-cli's .deb (its pool directory is its source's, docker.io).
    let victim = wanted.iter().find(|p| p.file.starts_with("docker-cli_")).expect("docker-cli is pinned");
    let path = cache.join(&victim.file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, bytes).unwrap();
    let tampered = sha256(&path);
    assert_ne!(tampered, victim.sha256);

    let out = toolset(&scratch.0, &["--verify-cache", cache_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "a tampered .deb verified:\n{}", report(&out));
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&victim.file)).collect();
    assert_eq!(lines.len(), 1, "not one line about {}:\n{stderr}", victim.file);
    let line = lines[0];
    for (what, needle) in [("the package", "docker-cli"), ("its hash", tampered.as_str()), ("the pin", &victim.sha256)]
    {
        assert!(line.contains(needle), "the failure does not name {what} ({needle}):\n{line}");
    }
    assert!(line.contains("again"), "the failure does not say what to do:\n{line}");
    assert!(!path.exists(), "the tampered .deb was left in the cache");
    for pin in wanted.iter().filter(|p| p.file != victim.file) {
        assert!(cache.join(&pin.file).is_file(), "{} was removed too", pin.file);
        assert!(!stderr.contains(&pin.file), "{} failed too:\n{stderr}", pin.file);
    }

    // A later run finds it missing: still no pass.
    let out = toolset(&scratch.0, &["--verify-cache", cache_arg]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(&victim.file), "{}", report(&out));
}

#[test]
fn every_package_has_a_pin_and_a_well_formed_snapshot_url_per_architecture() {
    let scratch = scratch_dir("urls");
    let pins = pins(&scratch.0);
    assert!(!pins.is_empty(), "--snapshot-urls printed nothing");

    let stamps: BTreeSet<&str> = pins.iter().map(|p| p.stamp.as_str()).collect();
    assert_eq!(stamps.len(), 1, "more than one snapshot timestamp: {stamps:?}");
    let stamp = *stamps.first().unwrap();
    let well_formed = stamp.len() == 16
        && stamp.char_indices().all(|(i, c)| match i {
            8 => c == 'T',
            15 => c == 'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(well_formed, "not a snapshot.debian.org timestamp (YYYYMMDDTHHMMSSZ): {stamp}");
    let now = tool_ok("date", &["-u", "+%Y%m%dT%H%M%SZ"]);
    assert!(stamp < now.trim(), "the snapshot timestamp {stamp} is in the future");

    for pin in &pins {
        assert!(
            pin.sha256.len() == 64 && pin.sha256.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{}: no sha256 pinned (`{}`)",
            pin.file,
            pin.sha256
        );
        assert!(ARCHES.contains(&pin.arch.as_str()), "{}: not a testbed architecture", pin.url);
        // pool/main/<initial>/<source>/<package>_<version>_<arch>.deb, `lib*` sources under four letters.
        let parts: Vec<&str> = pin.pool_path.split('/').collect();
        assert!(parts.len() == 5 && parts[0] == "pool" && parts[1] == "main", "not a pool path: {}", pin.url);
        let (initial, source) = (parts[2], parts[3]);
        let expected = if source.starts_with("lib") { &source[..4] } else { &source[..1] };
        assert_eq!(initial, expected, "{}: the pool directory of source {source}", pin.url);
        let fields: Vec<&str> = pin.file.trim_end_matches(".deb").split('_').collect();
        assert_eq!(fields.len(), 3, "not <package>_<version>_<arch>.deb: {}", pin.file);
        assert!(!fields[1].contains(':'), "an epoch in a pool file name: {}", pin.file);
    }
    // Both architectures, the same packages and versions.
    let per_arch = |arch: &str| -> BTreeSet<String> {
        pins.iter().filter(|p| p.arch == arch).map(|p| p.pool_path.replace(&format!("_{arch}.deb"), "")).collect()
    };
    for arch in ARCHES {
        assert_eq!(per_arch(arch), per_arch(ARCHES[0]), "{arch} does not pin what {} pins", ARCHES[0]);
    }
    assert_eq!(pins.len(), ARCHES.len() * per_arch(ARCHES[0]).len(), "a package printed twice");

    // For this machine's architecture, the cached .debs themselves: the pool path from their control
    // fields (Source, else Package), and their sha256, are what the script uses.
    let arch = machine_arch();
    for pin in pins.iter().filter(|p| p.arch == arch) {
        let cached = machine_debs().join(&pin.file);
        assert!(cached.is_file(), "no {} here: run .ci/testbed.sh first", cached.display());
        let control =
            tool_ok("dpkg-deb", &["-f", cached.to_str().unwrap(), "Package", "Version", "Architecture", "Source"]);
        let field = |name: &str| {
            control
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(|v| v.split(' ').next().unwrap().to_string())
        };
        let package = field("Package").unwrap();
        let source = field("Source").unwrap_or_else(|| package.clone());
        let initial = if source.starts_with("lib") { &source[..4] } else { &source[..1] };
        let file = format!("{package}_{}_{}.deb", field("Version").unwrap(), field("Architecture").unwrap());
        assert_eq!(pin.file, file);
        assert_eq!(pin.pool_path, format!("pool/main/{initial}/{source}/{file}"), "{package}'s snapshot URL");
        assert_eq!(pin.sha256, sha256(&cached), "{package}'s pin is not the cached, verified file's hash");
    }
}
