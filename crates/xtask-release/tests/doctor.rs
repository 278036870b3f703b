//! `cargo xtask doctor` on the real machine: all green with the testbed, and a missing tool is
//! named with its fix and a non-zero exit.

use std::process::Command;

use xtask_testbed::*;

fn which(tool: &str) -> std::path::PathBuf {
    let out = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
    assert!(out.status.success(), "{tool} is not installed: the testbed (`.ci/testbed.sh`) installs it");
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn doctor_passes_on_the_testbed_and_names_a_missing_tool_with_its_fix() {
    let _engine = engine_lock();
    let fixture = Fixture::ledger("doctor");
    let out = fixture.xtask(&["doctor"]);
    assert!(out.status.success(), "doctor on the testbed:\n{}", stderr(&out));
    for check in
        ["docker engine", "containerd image store", "buildx", "binfmt linux/arm64", "trivy", "cosign", "skopeo"]
    {
        assert!(stderr(&out).contains(&format!("ok    {check}")), "{check} not reported ok:\n{}", stderr(&out));
    }
    // Each version against its supported range (minimum..newest tested).
    for range in
        ["(supported 26.1.0..28.5.2)", "containerd version", "(supported 0.13.0..0.29.1)", "supported 2.5.0..3.1.1"]
    {
        assert!(stderr(&out).contains(range), "{range} not reported:\n{}", stderr(&out));
    }

    // The same machine with trivy missing from PATH.
    let bin = std::env::temp_dir().join(format!("xtask-doctor-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["docker", "git", "cosign", "skopeo", "cargo", "rustc"] {
        std::os::unix::fs::symlink(which(tool), bin.join(tool)).unwrap();
    }
    let out = Command::new(xtask_binary()).arg("doctor").current_dir(&fixture.dir).env("PATH", &bin).output().unwrap();
    let _ = std::fs::remove_dir_all(&bin);
    let err = stderr(&out);
    assert!(!out.status.success(), "a missing trivy must fail the doctor:\n{err}");
    assert!(err.contains("FAIL  trivy") && err.contains("fix: install trivy 0.76.0: https://trivy.dev/"), "{err}");
}
