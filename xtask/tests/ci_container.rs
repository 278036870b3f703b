//! The `ci` job's container, on this machine: a privileged `debian:bookworm` container (seeded here
//! with debootstrap, as nothing can be pulled) started the way GitHub starts a job container —
//! the workspace bind-mounted, the host's docker socket mounted at /var/run/docker.sock, the
//! workflow's `options` and `volumes` — runs the workflow's first step (git and CA certificates),
//! then `.ci/testbed.sh` inside: packages, binfmt, its own dockerd with the containerd image store
//! (the host's socket unmounted), the seeded base and registry images, trivy by hash, the DB
//! mirror, the linters. Then a meaningful part of `.ci/run` on that nested engine: `cargo xtask
//! doctor` and the test targets `workflows` (zizmor, the schema, the properties), `release_guards`
//! and `retract_undeletable` (registries, skopeo, cosign, git).
//!
//! What differs from github.com, and why: Rust is the host's toolchain mounted read-only (rustup
//! cannot download here, so the testbed's rustup branch is not run), HTTPS goes through this
//! machine's CA bundle (mounted), and the whole test suite and the release rehearsal are not run
//! inside (over 30 minutes on this machine); CI runs them on the host, from the same `.ci/run`.
//! Slow tier: about 3 minutes on the 2-core CI machine (2026-12-06: the container 181 s, of which
//! the testbed 101 s — packages 35 s, the debootstrapped trixie and forky seeds 57 s side by side;
//! then the xtask's cold compile 25 s, the tests' 28 s, their runs 10 s).

mod support;

use std::process::Command;

use support::*;

const IMAGE: &str = "debian:bookworm";

/// Seeds `debian:bookworm` (a minbase debootstrap, like the official image: no git, no CA
/// certificates, no Rust) unless the engine has it.
fn seed_bookworm() {
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let rootfs = std::env::temp_dir().join(format!("bookworm-rootfs-{}", std::process::id()));
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&rootfs)
        .arg("http://deb.debian.org/debian")
        .output()
        .expect("debootstrap (installed by .ci/testbed.sh)");
    assert!(out.status.success(), "debootstrap: {}", String::from_utf8_lossy(&out.stderr));
    let script = format!(
        "rm -rf {0}/var/cache/apt/archives/*.deb {0}/var/lib/apt/lists/* && tar -C {0} -c . | docker import --change 'CMD [\"bash\"]' - {IMAGE}",
        rootfs.display()
    );
    let status = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).status().unwrap();
    let _ = std::fs::remove_dir_all(&rootfs);
    assert!(status.success(), "import {IMAGE}");
}

/// Removes the job container, whatever happened.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", "--volumes", &self.0]);
    }
}

/// The host's Rust toolchain directory (`rustc --print sysroot`).
fn host_toolchain() -> String {
    let out = Command::new("rustc").args(["--print", "sysroot"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The workflow's `container:` of the `ci` job, as `docker run` arguments.
fn workflow_container_args() -> Vec<String> {
    let ci = std::fs::read_to_string(workspace_root().join(".github/workflows/ci.yml")).unwrap();
    let options = ci.lines().find_map(|l| l.trim().strip_prefix("options: ")).expect("the ci job's options");
    let mut args: Vec<String> = options.split_whitespace().map(String::from).collect();
    for volume in ["/var/lib/docker-current", "/var/lib/containerd-current", "/var/lib/docker", "/var/lib/containerd"] {
        assert!(ci.contains(&format!("- {volume}\n")), "the ci job mounts a volume at {volume}");
        args.extend(["--volume".into(), volume.into()]);
    }
    args
}

#[test]
#[ignore = "slow tier: seeds debian:bookworm and runs .ci/testbed.sh in a privileged job container (~3 min)"]
fn the_ci_job_container_becomes_a_testbed_and_runs_the_xtask_there() {
    let _engine = engine_lock();
    seed_bookworm();
    let fixture = copy_of_repository("ci-container");
    // The repository as CI checks it out: its own Cargo.toml (not the fixture's offline signing
    // table, which the tests inside make for their own copies), the CI files, the testbed's images
    // (`docker/testbed`) and the docs (the workflow tests read the signing page).
    std::fs::copy(workspace_root().join("Cargo.toml"), fixture.dir.join("Cargo.toml")).unwrap();
    for entry in [".ci", ".github", "rustfmt.toml", "docker", "docs"] {
        let status = Command::new("cp").arg("-a").arg(workspace_root().join(entry)).arg(&fixture.dir).status().unwrap();
        assert!(status.success(), "copy {entry}");
    }
    fixture.commit("the CI files");

    let name = format!("xtask-ci-container-{}", std::process::id());
    let _container = Container(name.clone());
    let host_engine = docker_ok(&["info", "--format", "{{.ID}}"]);
    let toolchain = host_toolchain();
    let ca = "/etc/ssl/certs/ca-certificates.crt";
    let script = r#"
        set -euo pipefail
        # The workflow's first step.
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends git ca-certificates >/dev/null
        git config --global --add safe.directory "$PWD"
        bash .ci/testbed.sh
        echo "inner engine: $(docker info --format '{{.ID}}'), dockerd pid $(pgrep -x dockerd)"
        docker info --format '{{.DriverStatus}}' | grep -q io.containerd.snapshotter
        cargo xtask doctor
        cargo test -p xtask --locked --test workflows
        cargo test -p xtask-release --locked --test release_guards --test retract_undeletable
        echo "inside: done"
    "#;
    let mut run = Command::new("docker");
    run.args(["run", "--rm", "--name", &name]).args(workflow_container_args());
    run.args(["--volume", &format!("{}:/__w/beacon/beacon", fixture.dir.display())]);
    run.args(["--workdir", "/__w/beacon/beacon"]);
    // As the runner does: the host engine's socket inside the job container.
    run.args(["--volume", "/var/run/docker.sock:/var/run/docker.sock"]);
    run.args(["--volume", &format!("{toolchain}:/opt/rust:ro"), "--volume", &format!("{ca}:/etc/host-ca.pem:ro")]);
    run.args(["--env", "PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    for var in ["SSL_CERT_FILE", "PIP_CERT", "CARGO_HTTP_CAINFO", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO"] {
        run.args(["--env", &format!("{var}=/etc/host-ca.pem")]);
    }
    // What GitHub sets for a pull request's run.
    for var in ["GITHUB_ACTIONS=true", "CI=true", "GITHUB_EVENT_NAME=pull_request", "GITHUB_REF=refs/pull/1/merge"] {
        run.args(["--env", var]);
    }
    run.args([IMAGE, "bash", "-c", script]);
    let started = std::time::Instant::now();
    let out = run.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("--- the ci job container → {} in {:.0}s\n{stdout}{stderr}", out.status, started.elapsed().as_secs_f64());
    assert!(out.status.success(), "the job container failed");
    assert!(stdout.contains("inside: done"));
    let text = format!("{stdout}{stderr}");
    assert!(text.contains("unmounting it, this testbed starts its own dockerd"), "the host socket was not removed");
    let inner = text.lines().find_map(|l| l.strip_prefix("inner engine: ")).expect("the inner engine's id");
    assert!(!inner.starts_with(&host_engine), "the tests ran against the host's engine, not the container's own");
    assert!(docker(&["image", "inspect", IMAGE]).status.success());
}
