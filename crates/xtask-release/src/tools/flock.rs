//! Advisory file locks (`flock(2)`), thin: the workspace lock, one command at a time on an image
//! (its local names, its files under `target/xtask`, its release).
//!
//! `File::try_lock` would do, but it is stable only since Rust 1.89 and the xtask declares 1.85
//! (Debian trixie's cargo must build it). The one system call is declared here rather than
//! through the `libc` crate, which cost ~1.4 CPU seconds of the xtask's cold compile (bench P5).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{bail, Context, Result};

// `flock(2)` and its flags: the same values on Linux (every architecture), macOS and the BSDs.
const LOCK_EX: i32 = 2;
const LOCK_NB: i32 = 4;
extern "C" {
    fn flock(fd: i32, operation: i32) -> i32;
}

/// Takes an exclusive lock on `file` without waiting: `Ok(false)` when another process holds it.
/// The lock is released when `file` is closed (also when the process dies).
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the duration of the call.
    let result = unsafe { flock(file.as_raw_fd(), LOCK_EX | LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.kind() {
        io::ErrorKind::WouldBlock => Ok(false),
        _ => Err(error),
    }
}

/// One release of an image at a time per workspace (`root`): a second release (or retraction) of an
/// image refuses instead of racing the first, while releases of other images (`--image`, each with
/// its own `out_dir`) go ahead side by side. Held until the returned files are dropped.
pub fn lock_images<'a>(root: &Path, images: impl Iterator<Item = &'a str>) -> Result<Vec<File>> {
    lock_for(root, "release", images)
}

/// The workspace lock of every command that writes an image's local names or its files under
/// `target/xtask` (`build`, `scan`, `audit`, `release`, a retraction): one lock file per image
/// (`target/xtask/locks/<image>.lock`), so that commands on other images go ahead side by side. A
/// second command on an image refuses at once, naming the command that holds it (written into the
/// lock file) and the file. Held until the returned files are dropped.
pub fn lock_for<'a>(root: &Path, command: &str, images: impl Iterator<Item = &'a str>) -> Result<Vec<File>> {
    use std::io::{Read, Seek, Write};
    let dir = root.join("target/xtask/locks");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut names: Vec<&str> = images.collect();
    names.sort_unstable();
    names.dedup();
    let mut held = Vec::new();
    for name in names {
        let path = dir.join(format!("{name}.lock"));
        let mut file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let locked = try_lock_exclusive(&file).with_context(|| format!("cannot lock {}", path.display()))?;
        if !locked {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let mut words = holder.split_whitespace();
            let (other, pid) = (words.next().unwrap_or(command), words.next());
            let pid = pid.map(|pid| format!(", process {pid}")).unwrap_or_default();
            bail!(
                "another `cargo xtask {other}` of image {name} is running in this workspace (it holds {}{pid}): \
                 wait for it to finish, then run again",
                path.display()
            );
        }
        // Who holds it, for a second command's refusal.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{command} {}", std::process::id()));
        held.push(file);
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_until_the_first_is_closed() {
        let path = std::env::temp_dir().join(format!("xtask-flock-{}.lock", std::process::id()));
        let open = || File::options().create(true).truncate(false).write(true).open(&path).unwrap();
        let first = open();
        assert!(try_lock_exclusive(&first).unwrap());
        // flock locks belong to the open file description: a second open conflicts, as another process would.
        let second = open();
        assert!(!try_lock_exclusive(&second).unwrap());
        drop(first);
        assert!(try_lock_exclusive(&second).unwrap());
        drop(second);
        std::fs::remove_file(&path).unwrap();
    }
}
