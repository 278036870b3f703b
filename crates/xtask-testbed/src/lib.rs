//! The integration tests' side of the testbed: the real engine, throwaway registry containers,
//! fixture workspaces, and running the xtask under test (the binary of the package whose tests run:
//! `xtask-release`, or a workspace's own `xtask`). Nothing here is mocked; without the testbed
//! (`.ci/testbed.sh`) the tests fail, they never skip.

pub mod adopter;
pub mod crate_sources;
pub mod engine;
pub mod flaky_front;
mod plain_registry;
mod processes;
pub mod releaser;
mod secure_registry;
pub mod shell;
pub mod workspace;

pub use secure_registry::SecureRegistry;

pub use adopter::{as_adopter, run_as_adopter, ADOPTER_GIT_ENV};
pub use crate_sources::{GitCrates, SparseRegistry};
pub use plain_registry::*;
pub use processes::*;
pub use releaser::signing_env;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The tests that drive the engine share its image store and `target/xtask`: one at a time.
static ENGINE: Mutex<()> = Mutex::new(());

pub fn engine_lock() -> MutexGuard<'static, ()> {
    let guard = ENGINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let version = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output();
    match version {
        Ok(out) if out.status.success() => guard,
        _ => panic!("the Docker engine does not answer: these tests need the testbed (`bash .ci/testbed.sh`)"),
    }
}

/// The environment a spawned xtask gets from the testbed: its vulnerability DB mirror.
pub fn testbed_env() -> Vec<(String, String)> {
    vec![("XTASK_TRIVY_DB_REPOSITORY".into(), testbed_db())]
}

/// The package whose tests are running: its directory (cargo sets `CARGO_MANIFEST_DIR` for the
/// test process).
pub fn package_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).expect("run the tests with `cargo test`")
}

/// The cargo target directory the tests were built in (`<target>/<profile>/deps/<test>` is this
/// process's executable).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own executable");
    exe.ancestors().nth(3).expect("a test executable in <target>/<profile>/deps/").to_path_buf()
}

/// The xtask under test: the binary named as the package whose tests run (`xtask-release`, or a
/// workspace's `xtask`), which cargo builds beside the test executables for its integration tests.
pub fn xtask_binary() -> PathBuf {
    let package = std::env::var("CARGO_PKG_NAME").expect("run the tests with `cargo test`");
    let exe = std::env::current_exe().expect("the test's own executable");
    exe.ancestors().nth(2).expect("a test executable in <target>/<profile>/deps/").join(package)
}

pub fn xtask(dir: &Path, args: &[&str]) -> Output {
    xtask_env(dir, args, &[])
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("run docker")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The engine's tags under `namespace` (a test registry's `HOST:PORT[/PATH]`).
pub fn local_tags(namespace: &str) -> Vec<String> {
    let out = docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    let prefix = format!("{namespace}/");
    String::from_utf8_lossy(&out.stdout).lines().filter(|t| t.starts_with(&prefix)).map(String::from).collect()
}

/// Removes the engine's tags under `namespace`: the images releases loaded to push there. For
/// `Drop`: never panics.
pub fn untag_local(namespace: &str) {
    let tags = local_tags(namespace);
    if !tags.is_empty() {
        let _ = Command::new("docker").args(["image", "rm"]).args(&tags).output();
    }
}

/// A `registry:2` container on a free loopback port, removed when dropped.
pub struct Registry {
    pub container: String,
    pub port: u16,
}

impl Registry {
    pub fn start() -> Registry {
        let container = docker_ok(&["run", "--detach", "--publish", "127.0.0.1::5000", "registry:2"]);
        let port_line = docker_ok(&["port", &container, "5000/tcp"]);
        let port = port_line.rsplit(':').next().unwrap().parse().unwrap();
        let registry = Registry { container, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_get(registry.port, "/v2/", &[]).map(|r| r.status) != Some(200) {
            assert!(Instant::now() < deadline, "registry did not answer on port {}", registry.port);
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", "--volumes", &self.container]);
        untag_local(&self.host());
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A plain-HTTP GET against a registry on loopback (the registry API is what we verify against).
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    Some(HttpResponse { status, headers, body: body.to_owned() })
}

pub const INDEX_MEDIA_TYPES: &str =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// The image manifest a one-platform image is pushed as (no index around it).
pub(crate) const IMAGE_MANIFEST_MEDIA_TYPES: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// A committed copy of a fixture workspace in a temporary directory (the engine's build cache keeps
/// copies of the same content warm).
pub struct Fixture {
    pub dir: PathBuf,
}

/// The date of every commit a test makes with [`Fixture::git`].
const FIXTURE_DATE: &str = "2026-01-01T00:00:00Z";

impl Fixture {
    /// A committed copy of the engine's test workspace (`tests/fixtures/ledger`: the `ledger`
    /// service, the `ledgerctl` tool on six platforms, a shared library), its image repositories
    /// moved under `acme-<name>` so that tests running at once never load the same local tags.
    pub fn ledger(name: &str) -> Fixture {
        let fixture = Fixture::copy_of(&package_dir().join("tests/fixtures/ledger"), name);
        fixture.edit_all("Cargo.toml", "ghcr.io/acme/", &format!("ghcr.io/acme-{name}/"));
        fixture.edit_all("Cargo.toml", "docker.io/acme/", &format!("docker.io/acme-{name}/"));
        fixture.commit("fixture");
        fixture
    }

    /// A copy of the workspace at `source` (without `.git` and `target/`) in a new git repository
    /// on `main`, nothing committed yet.
    pub fn copy_of(source: &Path, name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("xtask-fixture-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("cp").arg("-a").arg(format!("{}/.", source.display())).arg(&dir).status().unwrap();
        assert!(status.success(), "copy {}", source.display());
        let _ = std::fs::remove_dir_all(dir.join(".git"));
        let _ = std::fs::remove_dir_all(dir.join("target"));
        std::fs::write(dir.join(".gitignore"), "/target\n").unwrap();
        let fixture = Fixture { dir };
        fixture.git(&["init", "--quiet", "--initial-branch=main"]);
        fixture
    }

    /// Builds each image for linux/amd64 only (uncommitted). For the tests about tags, credentials,
    /// registries, faults, resuming and the secret gate, not platforms: each of their commits is a
    /// new revision that compiles again. Building every platform is the `images` test's job, and
    /// releasing them `try_it_locally`'s, `vuln_gate`'s and the rehearsal's, on every CI run.
    pub fn one_platform_per_image(&self) {
        let path = self.dir.join("Cargo.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for image in ["ledger", "ledgerctl"] {
            let table = text.find(&format!("[workspace.metadata.xtask.images.{image}]")).unwrap();
            let line = table + text[table..].find("\nplatforms = ").unwrap() + 1;
            let end = line + text[line..].find('\n').unwrap();
            text.replace_range(line..end, "platforms = [\"linux/amd64\"]");
        }
        std::fs::write(&path, text).unwrap();
    }

    /// Registry operations tried twice, not five times, committed: for a test that points the engine
    /// at a registry that is down to see where it goes next (the next DB source, a clear error),
    /// not how it retries (`flaky_registry` proves that). Five attempts wait ~15 s on a refused
    /// connection; two, ~1 s. (The recipe leaves `[workspace.metadata]` out: the dependencies'
    /// build cache still serves.)
    pub fn retry_once(&self) {
        let path = self.dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("[workspace.metadata.xtask.retry]"), "the fixture has its own retry settings");
        std::fs::write(&path, text + "\n[workspace.metadata.xtask.retry]\nattempts = 2\n").unwrap();
        self.commit("registry operations tried twice");
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_at(FIXTURE_DATE, args)
    }

    /// `git ARGS…` with `date` as the author and committer date (RFC 3339).
    pub fn git_at(&self, date: &str, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_AUTHOR_NAME", "Fixture")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
            .env("GIT_COMMITTER_NAME", "Fixture")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
            // One date for every fixture commit: copies with the same history get the same commit
            // id, hence the same revision compiled in, and share the engine's build cache.
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn commit(&self, message: &str) {
        self.commit_at(FIXTURE_DATE, message);
    }

    /// A commit of everything dated `date`: a later commit time is a new SOURCE_DATE_EPOCH.
    pub fn commit_at(&self, date: &str, message: &str) {
        self.git(&["add", "--all"]);
        self.git_at(date, &["commit", "--quiet", "--allow-empty", "--message", message]);
    }

    pub fn write(&self, path: &str, contents: &str) {
        std::fs::write(self.dir.join(path), contents).unwrap();
    }

    /// The engine's Dockerfile written into the workspace (`init --eject-dockerfile`: docker/Dockerfile,
    /// named by every image), committed, for a test that edits it as a team would.
    pub fn eject_dockerfile(&self) {
        let out = self.xtask(&["init", "--eject-dockerfile"]);
        assert!(out.status.success(), "init --eject-dockerfile: {}", stderr(&out));
        self.commit("the engine's Dockerfile, ejected");
    }

    /// Replaces every `from` in `path` (there must be one).
    pub fn edit_all(&self, path: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.dir.join(path)).unwrap();
        assert!(text.contains(from), "{path} does not contain {from:?}");
        self.write(path, &text.replace(from, to));
    }

    pub fn edit(&self, path: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.dir.join(path)).unwrap();
        assert!(text.contains(from), "{path} does not contain {from:?}");
        self.write(path, &text.replacen(from, to, 1));
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        xtask(&self.dir, args)
    }

    pub fn xtask_env(&self, args: &[&str], env: &[(String, String)]) -> Output {
        xtask_env(&self.dir, args, env)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether `location`, where a record says cosign stored a signature (`kind` "sig") or attestations
/// ("att"), has the shape of the `format` the record names: cosign 2's `sha256-<digest>.sig`/`.att`
/// tag, or cosign 3's Sigstore-bundle referrers, `repo@sha256:…` each.
pub fn stored_as(format: &str, location: &str, kind: &str) -> bool {
    match format {
        "legacy-tags" => location.ends_with(&format!(".{kind}")),
        "sigstore-bundle" => location.split(", ").all(|r| r.contains("@sha256:")),
        _ => false,
    }
}

/// Whether the registry's tags include where cosign stores signatures and attestations: cosign 2's
/// `.sig` and `.att` tags, or (cosign 3, a registry without the referrers API) the referrers tag
/// `sha256-<digest>`.
pub fn signature_tags_present(tags: &[String]) -> bool {
    let legacy = tags.iter().any(|t| t.ends_with(".sig")) && tags.iter().any(|t| t.ends_with(".att"));
    legacy || tags.iter().any(|t| t.starts_with("sha256-") && !t.contains('.'))
}

/// The testbed's vulnerability DB mirror (`.ci/testbed.sh`, advisories for crates this workspace
/// does not lock): the DB source of every spawned xtask unless a test names another (an empty
/// `XTASK_TRIVY_DB_REPOSITORY` leaves the configured `db-repositories` in force).
/// The testbed's vulnerability DB mirror, or the one `XTASK_TRIVY_DB_REPOSITORY` names (a second
/// engine's, beside the machine's).
pub fn testbed_db() -> String {
    std::env::var("XTASK_TRIVY_DB_REPOSITORY").unwrap_or_else(|_| "127.0.0.1:5959/trivy-db:2".to_owned())
}

/// Runs the built xtask in `dir` with extra environment variables and no CI context of its own
/// (the tests set GitHub's variables themselves where they mean to), echoing what it printed.
pub fn xtask_env(dir: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let out = xtask_command(dir, args, env).output().expect("run xtask");
    eprintln!(
        "--- cargo xtask {} → {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The command [`xtask_env`] runs, for a test that starts it in the background (to signal it).
pub fn xtask_command(dir: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(xtask_binary());
    command
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_REF")
        .env_remove("GITHUB_EVENT_NAME")
        .env_remove("XTASK_REGISTRY")
        .env("XTASK_TRIVY_DB_REPOSITORY", testbed_db());
    // The identity of the tags the xtask makes (retraction, version tags), as the workflows set it:
    // a fresh CI container has no git identity of its own.
    for (name, value) in [
        ("GIT_AUTHOR_NAME", "Fixture"),
        ("GIT_AUTHOR_EMAIL", "fixture@example.com"),
        ("GIT_COMMITTER_NAME", "Fixture"),
        ("GIT_COMMITTER_EMAIL", "fixture@example.com"),
    ] {
        command.env(name, value);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// A testbed tool (`check-jsonschema`, `zizmor`, …) run in `dir`; a missing one fails the test.
pub fn run_tool(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is not installed ({e}): the testbed (`.ci/testbed.sh`) installs it"))
}

/// A process's stdout and stderr, as one text.
pub fn report(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A scratch directory, removed when dropped, whatever happened.
pub struct RemovedOnDrop(pub PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
