//! Runs the real binary's non-serving entry points: `--version`, `--help` and usage errors.

mod common;

use common::beacon;

#[test]
fn version_prints_name_version_and_revision() {
    let out = beacon().arg("--version").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let prefix = format!("beacon {} (", env!("CARGO_PKG_VERSION"));
    assert!(stdout.starts_with(&prefix), "{stdout:?}");
    assert!(stdout.ends_with(")\n"), "{stdout:?}");
    let revision = &stdout[prefix.len()..stdout.len() - 2];
    assert!(!revision.is_empty() && !revision.contains(char::is_whitespace), "{stdout:?}");
}

#[test]
fn help_prints_usage_on_stdout() {
    let out = beacon().arg("--help").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Usage:") && stdout.contains("healthcheck"), "{stdout}");
}

#[test]
fn unknown_arguments_print_usage_on_stderr_and_exit_2() {
    for args in [&["--bogus"][..], &["serve", "--nope"], &["frobnicate"], &["serve", "--listen", "localhost:80"]] {
        let out = beacon().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn invalid_listen_environment_is_reported() {
    let out = beacon().env("BEACON_LISTEN", "nowhere:80").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BEACON_LISTEN"));
}
