//! A throwaway git workspace a test writes itself, for the tests of `version` and `plan` (no
//! engine, no registry): files written by the test, a lock file and one commit on `main`, git kept
//! apart from the machine's configuration, and the xtask run there with that same git environment.
//! Removed when dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The identity and isolation every git command of a workspace runs with (and the xtask in it).
pub const GIT_ENV: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Fixture"),
    ("GIT_AUTHOR_EMAIL", "fixture@example.com"),
    ("GIT_COMMITTER_NAME", "Fixture"),
    ("GIT_COMMITTER_EMAIL", "fixture@example.com"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
];

/// `text` written to `dir/relative`, its directories created.
pub fn write_file(dir: &Path, relative: &str, text: &str) {
    let path = dir.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

pub struct Workspace {
    pub dir: PathBuf,
}

impl Workspace {
    /// An empty directory `xtask-<kind>-<pid>-<name>` in the temp directory (a leftover of an
    /// earlier run removed), for the test to write its files in before [`Workspace::commit_initial`].
    pub fn empty(kind: &str, name: &str) -> Workspace {
        let dir = std::env::temp_dir().join(format!("xtask-{kind}-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Workspace { dir }
    }

    /// The files written so far, with a lock file (`cargo generate-lockfile --offline`), committed
    /// as the first commit of a new repository on `main`.
    pub fn commit_initial(&self) {
        let lock = Command::new("cargo")
            .args(["generate-lockfile", "--offline", "--quiet"])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(lock.status.success(), "{}", String::from_utf8_lossy(&lock.stderr));
        self.git(&["init", "--quiet", "--initial-branch=main"]);
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--message", "Initial commit"]);
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub fn write(&self, relative: &str, text: &str) {
        write_file(&self.dir, relative, text);
    }

    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap()
    }

    /// `git ARGS…` here, asserting it succeeded: its stdout, trimmed.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(&self.dir).envs(GIT_ENV).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The xtask under test run here (see [`crate::xtask_env`]), with [`GIT_ENV`].
    pub fn xtask(&self, args: &[&str]) -> Output {
        let env: Vec<(String, String)> = GIT_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        crate::xtask_env(&self.dir, args, &env)
    }

    /// [`Workspace::xtask`], asserting it succeeded: its stdout.
    pub fn xtask_ok(&self, args: &[&str]) -> String {
        let out = self.xtask(args);
        assert!(out.status.success(), "xtask {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `plan --json ARGS…`, parsed.
    pub fn plan(&self, args: &[&str]) -> serde_json::Value {
        let args: Vec<&str> = ["plan", "--json"].iter().chain(args).copied().collect();
        serde_json::from_str(&self.xtask_ok(&args)).unwrap()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
