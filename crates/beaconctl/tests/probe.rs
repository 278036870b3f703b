//! Runs the real `beaconctl` binary against a real `beacon` process on 127.0.0.1: healthy,
//! version expected and not, unreachable, a frozen beacon (timeout), `--wait` until a beacon
//! starts and until the deadline, and the command line.
//!
//! The beacon binary is built by `cargo build -p beacon` into this test's target directory
//! (a no-op when `cargo test` built it already), so `cargo test -p beaconctl` alone works too.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn beaconctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_beaconctl")).args(args).stdin(Stdio::null()).output().expect("run beaconctl")
}

/// The beacon binary of this workspace, built with the same profile and target as beaconctl.
fn beacon_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe_dir = Path::new(env!("CARGO_BIN_EXE_beaconctl")).parent().unwrap().to_path_buf();
        // target/<profile> or, when cross-building, target/<triple>/<profile>. The target
        // directory's root holds cargo's rustc cache, and CACHEDIR.TAG where cargo created it (not
        // where something else made the directory first).
        let profile_dir = exe_dir.file_name().unwrap().to_str().unwrap().to_owned();
        let parent = exe_dir.parent().unwrap();
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo.args(["build", "--quiet", "-p", "beacon", "--bin", "beacon"]);
        cargo.arg("--profile").arg(if profile_dir == "debug" { "dev" } else { &profile_dir });
        if parent.join("CACHEDIR.TAG").is_file() || parent.join(".rustc_info.json").is_file() {
            cargo.arg("--target-dir").arg(parent);
        } else {
            cargo.arg("--target-dir").arg(parent.parent().unwrap()).arg("--target").arg(parent.file_name().unwrap());
        }
        // Offline and locked like the build that is running this test.
        cargo.args(["--locked", "--offline"]).current_dir(env!("CARGO_MANIFEST_DIR"));
        let status = cargo.status().expect("run cargo");
        assert!(status.success(), "building beacon failed: {cargo:?}");
        let bin = exe_dir.join("beacon");
        assert!(bin.is_file(), "{} missing after {cargo:?}", bin.display());
        bin
    })
}

/// A running beacon; killed on drop.
struct Beacon {
    child: Child,
    addr: SocketAddr,
}

impl Beacon {
    /// Starts beacon on `listen` (`127.0.0.1:0` for any free port) and waits for it to listen.
    fn start(listen: &str) -> Beacon {
        let mut child = Command::new(beacon_bin())
            .args(["serve", "--listen", listen])
            .env_remove("BEACON_LISTEN")
            .env_remove("PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn beacon");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split(" addr=").nth(1).filter(|_| line.contains(" listening ")) {
                    let _ = tx.send(addr.split(' ').next().unwrap().parse::<SocketAddr>().unwrap());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => Beacon { child, addr },
            Err(_) => {
                let _ = child.kill();
                panic!("beacon did not start on {listen}");
            }
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: plain syscall on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, signal) }, 0);
    }
}

impl Drop for Beacon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// (exit code, stdout, stderr); asserts the one-line output contract.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = beaconctl(args);
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    let code = out.status.code();
    if matches!(code, Some(0 | 1)) {
        let (line, other) = if code == Some(0) { (&stdout, &stderr) } else { (&stderr, &stdout) };
        assert!(line.ends_with('\n') && line.lines().count() == 1 && other.is_empty(), "{stdout:?} {stderr:?}");
    }
    (code, stdout, stderr)
}

#[test]
fn healthy_beacon() {
    let beacon = Beacon::start("127.0.0.1:0");
    let url = beacon.url();
    let (code, stdout, _) = run(&["--url", &url]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.starts_with(&format!("healthy: beacon {VERSION} (")), "{stdout}");
    assert!(stdout.ends_with(&format!(") at {url}\n")), "{stdout}");

    for expected in [VERSION.to_owned(), format!("v{VERSION}")] {
        let (code, stdout, stderr) = run(&["--url", &format!("{url}/"), "--expect-version", &expected]);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
    }
}

#[test]
fn host_names_are_resolved() {
    // `localhost` through the C library's resolver (/etc/hosts); it may resolve to ::1 first,
    // where nothing listens: every address is tried.
    let beacon = Beacon::start("127.0.0.1:0");
    let url = format!("http://localhost:{}", beacon.addr.port());
    let (code, stdout, stderr) = run(&["--url", &url, "--timeout", "3s"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

#[test]
fn version_mismatch() {
    let beacon = Beacon::start("127.0.0.1:0");
    let (code, _, stderr) = run(&["--url", &beacon.url(), "--expect-version", "999.0.0"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(&format!("version mismatch: found beacon {VERSION} ("))
            && stderr.ends_with("expected version 999.0.0\n"),
        "{stderr}"
    );
}

#[test]
fn unreachable() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let (code, _, stderr) = run(&["--url", &url]);
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with(&format!("unreachable: {url}: ")) && stderr.contains("refused"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(2), "no retry without --wait");
}

#[test]
fn a_frozen_beacon_times_out() {
    // The kernel still accepts connections for a stopped process; nothing answers.
    let beacon = Beacon::start("127.0.0.1:0");
    beacon.signal(libc::SIGSTOP);
    let started = Instant::now();
    let (code, _, stderr) = run(&["--url", &beacon.url(), "--timeout", "500ms"]);
    beacon.signal(libc::SIGCONT);
    assert_eq!(code, Some(1));
    assert_eq!(stderr, format!("unhealthy: {}: no answer within 500ms\n", beacon.url()));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn wait_until_a_beacon_starts() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let waiting = thread::spawn(move || run(&["--url", &url, "--wait", "30s", "--expect-version", VERSION]));
    thread::sleep(Duration::from_millis(1500));
    let _beacon = Beacon::start(&format!("127.0.0.1:{port}"));
    let (code, stdout, stderr) = waiting.join().unwrap();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with(&format!("healthy: beacon {VERSION} (")), "{stdout}");
    assert!(stdout.contains(" attempts in "), "{stdout}");
}

#[test]
fn wait_gives_up_at_the_deadline() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let (code, _, stderr) = run(&["--url", &url, "--wait", "2s"]);
    let took = started.elapsed();
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with("unreachable: ") && stderr.contains(" attempts in 2"), "{stderr}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn wait_retries_a_version_mismatch_until_the_deadline() {
    let beacon = Beacon::start("127.0.0.1:0");
    let (code, _, stderr) = run(&["--url", &beacon.url(), "--wait", "1500ms", "--expect-version", "999.0.0"]);
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with("version mismatch: ") && stderr.contains(" attempts in 1."), "{stderr}");
}

#[test]
fn version_and_usage() {
    let out = beaconctl(&["--version"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let prefix = format!("beaconctl {VERSION} (");
    assert!(stdout.starts_with(&prefix) && stdout.ends_with(")\n"), "{stdout:?}");
    let revision = &stdout[prefix.len()..stdout.len() - 2];
    assert!(!revision.is_empty() && !revision.contains(char::is_whitespace), "{stdout:?}");

    let help = beaconctl(&["--help"]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--expect-version"));

    for args in [&["--bogus"][..], &["--url", "https://127.0.0.1"], &["--timeout", "0"], &["--wait"]] {
        let out = beaconctl(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty() && String::from_utf8_lossy(&out.stderr).contains("Usage:"), "{args:?}");
    }
}
