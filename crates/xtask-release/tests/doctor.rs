//! `cargo xtask doctor` on the real machine: all green with the testbed, and a missing tool, or
//! one older than its minimum, is named with its fix and a non-zero exit.

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
    for check in ["docker engine", "containerd image store", "buildx", "binfmt linux/arm64", "trivy", "cosign", "curl"]
    {
        assert!(stderr(&out).contains(&format!("ok    {check}")), "{check} not reported ok:\n{}", stderr(&out));
    }
    // Each version against its supported range (minimum..newest tested).
    for range in [
        "(supported 26.1.0..28.5.2)",
        "containerd version",
        "(supported 0.13.0..0.29.1)",
        "supported 2.5.0..3.1.1",
        "(minimum 7.58.0; sends the registry requests)",
    ] {
        assert!(stderr(&out).contains(range), "{range} not reported:\n{}", stderr(&out));
    }

    // The same machine with trivy missing from PATH, and a curl too old for the registry client.
    let bin = std::env::temp_dir().join(format!("xtask-doctor-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["docker", "git", "cosign", "cargo", "rustc"] {
        std::os::unix::fs::symlink(which(tool), bin.join(tool)).unwrap();
    }
    let old_curl = "#!/bin/sh\necho 'curl 7.52.1 (x86_64-pc-linux-gnu) libcurl/7.52.1 OpenSSL/1.0.2u'\n\
                    echo 'Protocols: dict file ftp ftps gopher http https imap imaps'\n";
    std::fs::write(bin.join("curl"), old_curl).unwrap();
    std::fs::set_permissions(bin.join("curl"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(xtask_binary()).arg("doctor").current_dir(&fixture.dir).env("PATH", &bin).output().unwrap();
    let _ = std::fs::remove_dir_all(&bin);
    let err = stderr(&out);
    assert!(!out.status.success(), "a missing trivy must fail the doctor:\n{err}");
    assert!(err.contains("FAIL  trivy") && err.contains("fix: install trivy 0.76.0: https://trivy.dev/"), "{err}");
    assert!(
        err.contains("FAIL  curl") && err.contains("curl 7.52.1 is older than the minimum 7.58.0"),
        "an old curl must fail the doctor, naming the minimum:\n{err}"
    );
    assert!(err.contains("fix: upgrade curl to 7.58.0 or newer: https://curl.se/"), "{err}");
}
