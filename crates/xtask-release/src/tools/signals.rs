//! Private directories that hold secrets (a login session's docker config: registry tokens) do not
//! outlive the run. Removed when the run ends (their owner's `Drop`), when it is interrupted
//! (SIGINT, SIGTERM: removed, then the xtask exits 130 or 143, as a shell reports those signals),
//! and, when it was killed outright (SIGKILL, a crash), by the next run: [`private_dir`] names each
//! `<PREFIX>-<pid>-<n>`, and [`remove_stale`] removes those of this user whose process is gone.
//!
//! The signal handler only writes the signal's number to a pipe (`write(2)` is async-signal-safe);
//! a thread waiting on the pipe removes the directories and exits. Handlers are reset in children
//! by `exec`, so they die of these signals as before. The four system calls are declared here,
//! as `tools::flock` does, rather than through the `libc` crate.

use std::io::Read;
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once};

use anyhow::{Context, Result};

// The same numbers on Linux (every architecture), macOS and the BSDs.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const ESRCH: i32 = 3;
extern "C" {
    fn signal(signum: i32, handler: usize) -> usize;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn kill(pid: i32, sig: i32) -> i32;
    fn geteuid() -> u32;
}

/// The directories removed on SIGINT and SIGTERM.
static REGISTERED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The pipe the handler writes to (-1 until installed).
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// A new directory only this user can read, `<base>/<prefix>-<pid>-<n>`, removed on SIGINT and
/// SIGTERM until [`forget`] (its owner removes it itself). Directories of the same prefix left by a
/// process that is gone are removed first.
pub fn private_dir(base: &Path, prefix: &str) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    remove_stale(base, prefix);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
    let dir = base.join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    remove_on_signal(&dir);
    Ok(dir)
}

/// Removes `dir` on SIGINT and SIGTERM (the handler is installed on the first call).
pub fn remove_on_signal(dir: &Path) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(install);
    lock().push(dir.to_owned());
}

/// `dir` is removed by its owner: no longer on a signal.
pub fn forget(dir: &Path) {
    lock().retain(|registered| registered != dir);
}

/// Removes the directories `<base>/<prefix>-<pid>-…` of this user whose process `pid` is gone (a
/// run killed before it could remove its own). Best effort: what cannot be read is left.
pub fn remove_stale(base: &Path, prefix: &str) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid cannot fail and touches no memory.
    let me = unsafe { geteuid() };
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|n| n.strip_prefix('-')) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|pid| pid.parse::<i32>().ok()) else { continue };
        let path = entry.path();
        // Never a symlink (`symlink_metadata`), only this user's own directories.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() && meta.uid() == me && pid != std::process::id() as i32 && gone(pid) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether no process has id `pid` (signal 0 checks without sending; another user's process exists).
fn gone(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; kill only reads its arguments.
    pid > 0 && unsafe { kill(pid, 0) } == -1 && std::io::Error::last_os_error().raw_os_error() == Some(ESRCH)
}

extern "C" fn on_signal(signum: i32) {
    let byte = signum as u8;
    // SAFETY: write(2) is async-signal-safe; the byte outlives the call.
    unsafe { write(PIPE.load(Ordering::Relaxed), &byte, 1) };
}

fn install() {
    let Ok((mut reader, writer)) = UnixStream::pair() else { return };
    PIPE.store(writer.into_raw_fd(), Ordering::Relaxed);
    std::thread::spawn(move || {
        let mut signum = [0u8];
        if reader.read_exact(&mut signum).is_err() {
            return;
        }
        for dir in lock().drain(..) {
            let _ = std::fs::remove_dir_all(&dir);
        }
        eprintln!("interrupted (signal {}): the run's private directories are removed", signum[0]);
        std::process::exit(128 + i32::from(signum[0]));
    });
    // SAFETY: `on_signal` only calls write(2) on a descriptor that stays open.
    unsafe {
        signal(SIGINT, on_signal as extern "C" fn(i32) as usize);
        signal(SIGTERM, on_signal as extern "C" fn(i32) as usize);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    REGISTERED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gone_process_s_directories_of_this_prefix_are_removed() {
        let base = std::env::temp_dir().join(format!("xtask-signals-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        // A child that has ended and been waited for: its id is free.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = base.join(format!("xtask-test-{dead}-1"));
        let live = base.join(format!("xtask-test-{}-2", std::process::id()));
        let other = base.join(format!("other-{dead}-3"));
        for dir in [&stale, &live, &other] {
            std::fs::create_dir_all(dir.join("inside")).unwrap();
        }
        let made = private_dir(&base, "xtask-test").unwrap();
        assert!(!stale.exists() && live.exists() && other.exists() && made.is_dir());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
        forget(&made);
        assert!(lock().iter().all(|dir| dir != &made));
        let _ = std::fs::remove_dir_all(&base);
    }
}
