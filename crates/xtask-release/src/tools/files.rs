//! Files written whole or not at all, and never through a symlink: the records under
//! `target/xtask` (release, retraction, build, variant, verdicts), the public key beside them, and
//! secrets (`--local`'s key password, a login's docker config). Each is written to a temporary file
//! in the same directory, created exclusively (`O_CREAT|O_EXCL`: it fails on anything already at
//! that name, a planted symlink too) with its final mode, flushed to disk, then renamed over the
//! target: a reader sees the old file or the new one, never half of one, and a rename replaces a
//! symlink rather than following it. A target that is a symlink is refused outright: something
//! planted it, and whatever it points at is not the engine's to write.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

/// Who may read the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (mode 0644, less the umask): records, the public key.
    Public,
    /// The owner only (mode 0600): passwords, tokens, keys.
    Secret,
}

/// Writes `bytes` to `path` atomically, never through a symlink (see the module docs).
pub fn write(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    refuse_symlink(path)?;
    let (temporary, mut file) = create_temporary(path, access)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let renamed = written.and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = renamed {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Writes `value` as pretty JSON (and a newline), as [`write`] does.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    write(path, (serde_json::to_string_pretty(value)? + "\n").as_bytes(), Access::Public)
}

/// Refuses to write at `path` when it is a symlink (or anything but a regular file).
fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => bail!(
            "{} is a symbolic link (to {}): refusing to write through it; the engine never made it. \
             Remove it (and find out who planted it), then run again",
            path.display(),
            std::fs::read_link(path).map(|to| to.display().to_string()).unwrap_or_else(|_| "?".to_owned())
        ),
        Ok(meta) if !meta.is_file() => {
            bail!("{} is not a regular file: refusing to replace it; remove it, then run again", path.display())
        }
        _ => Ok(()),
    }
}

/// The `N` of the next temporary file's name.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A new file beside `path` (`.NAME.PID.N.tmp`), created exclusively with the mode of `access`.
fn create_temporary(path: &Path, access: Access) -> Result<(PathBuf, std::fs::File)> {
    let name = path.file_name().with_context(|| format!("{} names no file", path.display()))?;
    let mode = match access {
        Access::Public => 0o644,
        Access::Secret => 0o600,
    };
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temporary = path.with_file_name(format!(".{}.{}.{n}.tmp", name.to_string_lossy(), std::process::id()));
        match std::fs::File::options().write(true).create_new(true).mode(mode).open(&temporary) {
            Ok(file) => return Ok((temporary, file)),
            // Left by an earlier process of the same id, or planted: another name.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error).with_context(|| format!("cannot create {}", temporary.display())),
        }
    }
    bail!("cannot create a temporary file beside {}: every name is taken", path.display())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_file_is_replaced_whole_with_its_mode_and_nothing_left_beside_it() {
        let dir = scratch("replace");
        let path = dir.join("record.json");
        std::fs::write(&path, "old").unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        write(&path, b"new", Access::Secret).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_ne!(meta.ino(), inode, "a new file renamed over the old one, not the old one rewritten");
        write(&path, b"public", Access::Public).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o077, 0o044 & !umask_bits());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["record.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_planted_symlink_is_refused_and_what_it_points_at_untouched() {
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.join("release-record.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let error = write(&path, b"{}", Access::Public).unwrap_err().to_string();
        assert!(error.contains("is a symbolic link") && error.contains("victim"), "{error}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A symlink planted at a temporary file's name is skipped, never followed.
        std::fs::remove_file(&path).unwrap();
        let next = NEXT.load(Ordering::Relaxed);
        for n in next..next + 64 {
            let name = format!(".release-record.json.{}.{n}.tmp", std::process::id());
            let _ = std::os::unix::fs::symlink(&victim, dir.join(name));
        }
        assert!(write(&path, b"{}", Access::Public).is_err(), "every temporary name is taken");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn umask_bits() -> u32 {
        let probe = scratch("umask").join("probe");
        std::fs::File::options().write(true).create_new(true).mode(0o777).open(&probe).unwrap();
        let bits = !std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
        let _ = std::fs::remove_dir_all(probe.parent().unwrap());
        bits
    }
}
