//! The toolchain follows the workspace, and the image gives a real program what it needs. The
//! fixture `tests/fixtures/gauge` is a workspace on edition 2024 with `rust-version = "1.90"` in
//! `[workspace.package]` (beyond Debian trixie's rustc 1.85), a binary that links C compiled by the
//! `cc` crate, and a library member. The plan picks Debian forky (rustc 1.97) and says why; `cargo
//! xtask build` builds it (cross-compiling Rust and C, static), and its smoke test accepts the
//! binary's `probe v0.3.1 (rev …)`; then the binary itself proves, inside the image on every
//! platform, that it finds the CA roots, resolves its user name and home from /etc/passwd, writes
//! to /tmp and to its home, and that its C code is the target's own. The SBOM lists the Debian
//! packages the runtime files come from, and the runtime minus the binary stays under 1 MiB; a
//! second image of the same binary asks for tzdata and gets it.
//!
//! Default tier: linux/amd64 and linux/arm64 (cold, the forky toolchain stage costs a few minutes of
//! apt; warm, seconds). Slow tier: all six platforms.

use std::path::Path;
use std::process::Command;

use xtask_testbed::workspace::Workspace;
use xtask_testbed::*;

const REPOSITORY: &str = "ghcr.io/acme/gauge-probe";

/// A committed copy of the gauge fixture with image tables (the engine's Dockerfile builds them).
fn gauge(name: &str, platforms: &[&str]) -> Fixture {
    let fixture = Fixture::copy_of(&package_dir().join("tests/fixtures/gauge"), &format!("gauge-{name}"));
    let platforms: Vec<String> = platforms.iter().map(|p| format!("{p:?}")).collect();
    // A second image of the same binary asks for tzdata: only its runtime files differ (the
    // compile is the same, and cached).
    let table = format!(
        "\n[workspace.metadata.xtask.images.probe]\npackage = \"probe\"\n\
         target = \"runtime\"\nplatforms = [{}]\nrepositories = [\"{REPOSITORY}\"]\n\
         \n[workspace.metadata.xtask.images.probe-tz]\npackage = \"probe\"\n\
         target = \"runtime\"\nplatforms = [\"linux/amd64\"]\nrepositories = [\"{REPOSITORY}-tz\"]\ntzdata = true\n",
        platforms.join(", ")
    );
    let manifest = std::fs::read_to_string(fixture.dir.join("Cargo.toml")).unwrap();
    fixture.write("Cargo.toml", &(manifest + &table));
    fixture.commit("gauge");
    fixture
}

/// djb2 over "probe" in the target's `unsigned long` (32 bits on arm/v7): what the C code returns.
fn checksum(platform: &str) -> u64 {
    let mut sum: u64 = 5381;
    for byte in b"probe" {
        sum = sum.wrapping_mul(33).wrapping_add(u64::from(*byte));
    }
    if platform == "linux/arm/v7" {
        sum & 0xffff_ffff
    } else {
        sum
    }
}

fn builds_and_serves(name: &str, platforms: &[&str]) {
    let _engine = engine_lock();
    let fixture = gauge(name, platforms);

    let out = fixture.xtask(&["plan", "--json"]);
    assert!(out.status.success(), "plan: {}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let builder = &plan["images"][0]["builder"];
    assert_eq!(builder["image"], "debian:forky-slim", "{builder}");
    assert_eq!(builder["rust"], "1.97.1");
    assert_eq!(builder["required"], "1.90");
    assert_eq!(
        builder["because"],
        "Cargo.toml workspace.package.rust-version = \"1.90\", inherited by crates/probe/Cargo.toml"
    );
    let local_ref = plan["images"][0]["local_ref"].as_str().unwrap().to_owned();
    let tz_ref = plan["images"][1]["local_ref"].as_str().unwrap().to_owned();
    assert_eq!(plan["images"][1]["tzdata"], true);

    let started = std::time::Instant::now();
    let out = fixture.xtask(&["build"]);
    let took = started.elapsed();
    let _cleanup = (Untag(local_ref.clone()), Untag(tz_ref.clone()));
    let err = stderr(&out);
    assert!(out.status.success(), "build: {err}");
    eprintln!("build of {platforms:?} took {:.1}s", took.as_secs_f64());
    for platform in platforms {
        assert!(err.contains(&format!("probe on {platform}: ok (tool: version")), "smoke on {platform}: {err}");
    }
    // cargo refuses a package whose rust-version its rustc does not meet: this was forky's 1.97.

    for platform in platforms {
        let run = docker(&["run", "--rm", "--platform", platform, &local_ref, "selftest"]);
        let said = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(run.status.success(), "selftest on {platform}: {said}{}", String::from_utf8_lossy(&run.stderr));
        assert!(said.contains("user nonroot 65532 /home/nonroot\n"), "{platform}: {said}");
        assert!(said.contains("writable /tmp\n") && said.contains("writable /home/nonroot\n"), "{platform}: {said}");
        assert!(said.contains(&format!("checksum {}\n", checksum(platform))), "{platform}: {said}");
        let roots: usize = said.lines().find_map(|l| l.strip_prefix("roots ")).unwrap().parse().unwrap();
        assert!(roots > 50, "{platform}: {roots} roots");
    }

    runtime_files_are_small_and_listed(&fixture.dir, &local_ref, platforms[0]);
    let listing = files_of(&tz_ref, "linux/amd64");
    for file in ["usr/share/zoneinfo/Europe/Paris", "var/lib/dpkg/status.d/tzdata", "etc/ssl/certs/ca-certificates.crt"]
    {
        assert!(listing.contains(file), "tzdata = true ships {file}:\n{listing}");
    }
}

/// `tar -tv` of a container of `reference` on `platform`.
fn files_of(reference: &str, platform: &str) -> String {
    let container = docker_ok(&["create", "--platform", platform, reference]);
    let export = Command::new("docker").args(["export", &container]).output().unwrap();
    let _ = docker(&["rm", &container]);
    assert!(export.status.success());
    let listing = Command::new("tar")
        .args(["-tvf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut tar| {
            use std::io::Write;
            tar.stdin.take().unwrap().write_all(&export.stdout)?;
            tar.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&listing.stdout).into_owned()
}

/// P4 (the image minus /app) <= 1 MiB, and trivy lists the Debian packages the files come from.
fn runtime_files_are_small_and_listed(dir: &Path, local_ref: &str, platform: &str) {
    let listing = files_of(local_ref, platform);
    let mut others = 0u64;
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (size, path) = (fields[2].parse::<u64>().unwrap_or(0), fields[fields.len() - 1]);
        if path != "app" {
            others += size;
        }
    }
    assert!(listing.contains("etc/ssl/certs/ca-certificates.crt") && listing.contains("drwxrwxrwt"), "{listing}");
    assert!(!listing.contains("usr/share/zoneinfo"), "no tzdata unless the image asks: {listing}");
    assert!(others <= 1024 * 1024, "the runtime minus the binary is {others} bytes:\n{listing}");

    // trivy reads one platform's manifest from an OCI layout (as the scan step gives it).
    let record = read_json(&dir.join("target/xtask/build-record.json"));
    let platforms = record["images"][0]["platforms"].as_array().unwrap();
    let digest = platforms.iter().find(|p| p["platform"] == platform).unwrap()["digest"].as_str().unwrap();
    let layout = dir.join("target/sbom-layout");
    std::fs::create_dir_all(&layout).unwrap();
    let archive = dir.join("target/xtask/build/probe/image.oci.tar");
    assert!(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&layout).status().unwrap().success());
    let manifest = layout.join("blobs").join(digest.replacen(':', "/", 1));
    let size = std::fs::metadata(&manifest).unwrap().len();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size}]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let out = Command::new("trivy")
        .args(["image", "--quiet", "--input"])
        .arg(&layout)
        .args(["--format", "cyclonedx", "--cache-dir"])
        .arg(dir.join("target/trivy-cache"))
        .output()
        .unwrap();
    let sbom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "trivy: {}", String::from_utf8_lossy(&out.stderr));
    assert!(sbom.contains("pkg:deb/debian/ca-certificates@"), "the SBOM lists ca-certificates:\n{sbom}");
    let scan = Command::new("trivy")
        .args(["image", "--quiet", "--input"])
        .arg(&layout)
        .args(["--scanners", "vuln", "--format", "json", "--db-repository", &testbed_db(), "--cache-dir"])
        .arg(dir.join("target/trivy-cache"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&scan.stdout);
    assert!(scan.status.success(), "trivy scan: {}", String::from_utf8_lossy(&scan.stderr));
    assert!(report.contains("\"Type\": \"debian\""), "the scan sees the Debian packages:\n{report}");
}

/// Removes a local image tag when dropped.
struct Untag(String);

impl Drop for Untag {
    fn drop(&mut self) {
        let _ = docker(&["image", "rm", &self.0]);
    }
}

/// The lock of the `clock` workspace below: time-core 0.1.9 asks for Rust 1.88.
const CLOCK_LOCK: &str = r#"version = 4

[[package]]
name = "clock"
version = "0.1.0"
dependencies = [
 "time-core",
]

[[package]]
name = "time-core"
version = "0.1.9"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "9e1c906769ad99c88eaa54e728060edef082f8e358ff32030cb7c7d315e81109"
"#;

/// A dependency's `rust-version` counts, not only the workspace's: nothing in this workspace asks
/// for more than trixie's rustc 1.85, but its lock (as a newer cargo than the workspace says it needs
/// makes one) holds time-core 0.1.9, which asks for 1.88. The plan picks forky and names the crate
/// (plan only: cargo reads the crate's manifest from crates.io, nothing is built).
#[test]
fn a_locked_dependency_asking_for_a_newer_rust_picks_the_builder() {
    let ws = Workspace::empty("toolchain", "locked-dependency");
    ws.write(
        "Cargo.toml",
        "[package]\nname = \"clock\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\
         time-core = \"=0.1.9\"\n\n[workspace.metadata.xtask.images.clock]\npackage = \"clock\"\n\
         platforms = [\"linux/amd64\", \"linux/arm64\"]\nrepositories = [\"ghcr.io/acme/clock\"]\n",
    );
    ws.write("src/main.rs", "fn main() {}\n");
    ws.write("Cargo.lock", CLOCK_LOCK);
    ws.git(&["init", "--quiet", "--initial-branch=main"]);
    ws.git(&["add", "--all"]);
    ws.git(&["commit", "--quiet", "--message", "clock"]);
    let plan = ws.plan(&[]);
    let builder = &plan["images"][0]["builder"];
    assert_eq!(builder["image"], "debian:forky-slim", "{builder}");
    assert_eq!(builder["required"], "1.88");
    assert_eq!(builder["because"], "time-core 0.1.9 in Cargo.lock: its package.rust-version = \"1.88\"");
    assert!(builder["problem"].is_null(), "{builder}");
    // The plan says it in its text too.
    let text = ws.xtask_ok(&["plan"]);
    assert!(
        text.contains("builder    debian:forky-slim (Rust 1.97.1; requires Rust 1.88: time-core 0.1.9 in Cargo.lock"),
        "{text}"
    );
}

#[test]
fn forky_builds_a_rust_1_90_workspace_with_c_code_and_its_runtime_serves_a_real_program() {
    builds_and_serves("two", &["linux/amd64", "linux/arm64"]);
}

#[test]
#[ignore = "slow tier: C and Rust cross-compiled for all six platforms (the forky cross packages of four more)"]
fn every_platform_builds_c_code_and_runs_the_selftest() {
    builds_and_serves(
        "six",
        &["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/riscv64"],
    );
}

/// Debian forky (minbase) for linux/arm64: the toolchain of an emulated arm64 build host (nothing can
/// be pulled here). Its root file system is made once with debootstrap under QEMU (minutes) and kept
/// in /var/cache/xtask-test, so an engine with another image store imports it in seconds.
fn arm64_forky_base() -> String {
    let image = "xtask-test/debian-arm64:forky";
    if docker(&["image", "inspect", image]).status.success() {
        return image.to_owned();
    }
    let cache = Path::new("/var/cache/xtask-test");
    let tarball = cache.join("debian-arm64-forky.tar");
    if !tarball.exists() {
        let rootfs = std::env::temp_dir().join(format!("xtask-arm64-forky-{}", std::process::id()));
        let _cleanup = RemovedOnDrop(rootfs.clone());
        // bookworm's debootstrap has no script named forky: testing's (sid's) bootstraps it.
        let out = Command::new("debootstrap")
            .args(["--arch=arm64", "--variant=minbase", "forky"])
            .arg(&rootfs)
            .args(["http://deb.debian.org/debian", "/usr/share/debootstrap/scripts/sid"])
            .output()
            .unwrap();
        assert!(out.status.success(), "debootstrap --arch arm64 forky: {}", String::from_utf8_lossy(&out.stdout));
        // The mirror is a snapshot: a testing suite's Release file is past its Valid-Until there.
        let snapshot = rootfs.join("etc/apt/apt.conf.d/99testbed-snapshot-mirror");
        std::fs::write(snapshot, "Acquire::Check-Valid-Until \"false\";\n").unwrap();
        std::fs::create_dir_all(cache).unwrap();
        let part = tarball.with_extension("part");
        assert!(Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&part).arg(".").status().unwrap().success());
        std::fs::rename(&part, &tarball).unwrap();
    }
    let imported = docker(&["import", "--platform", "linux/arm64", tarball.to_str().unwrap(), image]);
    assert!(imported.status.success(), "docker import: {}", String::from_utf8_lossy(&imported.stderr));
    image.to_owned()
}

/// The other build host: Debian's toolchain running as linux/arm64 (under QEMU here, as on an arm64
/// runner natively) cross-compiles the fixture's Rust and C for linux/amd64 and linux/riscv64 with
/// the engine's Dockerfile's own cross table, and each variant's C code is the target's own.
#[test]
#[ignore = "slow tier: an emulated arm64 build host (QEMU) installs forky's toolchain and compiles Rust and C"]
fn an_arm64_build_host_cross_compiles_c_code_too() {
    let _engine = engine_lock();
    let fixture = gauge("arm64-host", &["linux/amd64"]);
    let base = arm64_forky_base();
    let vendor = fixture.dir.join("target/vendor");
    let out = Command::new("cargo")
        .args(["vendor", "--offline", "--locked", "--versioned-dirs", "--quiet"])
        .arg(&vendor)
        .current_dir(&fixture.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo vendor: {}", stderr(&out));
    let image = "xtask-test/gauge-arm64-host:probe";
    let _untag = Untag(image.to_owned());
    let platforms = ["linux/amd64", "linux/riscv64"];
    let out = Command::new("docker")
        .args(["buildx", "build", "--progress", "plain", "--load", "--target", "runtime", "--tag", image])
        .args(["--platform", &platforms.join(",")])
        .arg("--file")
        .arg(package_dir().join("docker/Dockerfile"))
        .arg("--build-context")
        .arg(format!("vendor={}", vendor.display()))
        .args([
            "--build-arg",
            "PACKAGE=probe",
            "--build-arg",
            "BIN=probe",
            "--build-arg",
            "TOOLCHAIN_PLATFORM=linux/arm64",
        ])
        .args(["--build-arg", &format!("BUILDER_IMAGE={base}"), "."])
        .current_dir(&fixture.dir)
        .output()
        .unwrap();
    let log = stderr(&out);
    assert!(out.status.success(), "the arm64 build host's build failed:\n{log}");
    for platform in platforms {
        // The toolchain stage says so when it runs; when BuildKit's cache holds it, the compile
        // steps' labels still name the build and target platforms (`[linux/arm64->riscv64 build 2/2]`).
        let arch = platform.trim_start_matches("linux/");
        assert!(
            log.contains(&format!("build=linux/arm64 target={platform}"))
                || log.contains(&format!("[linux/arm64->{arch} build ")),
            "not cross-compiled on arm64:\n{log}"
        );
        let run = docker(&["run", "--rm", "--platform", platform, image, "selftest"]);
        let said = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(run.status.success(), "selftest on {platform}: {said}{}", String::from_utf8_lossy(&run.stderr));
        assert!(said.contains(&format!("checksum {}\n", checksum(platform))), "{platform}: {said}");
    }
}
