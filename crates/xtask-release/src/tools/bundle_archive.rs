//! The bundle's archive (`release bundle`, `release import`): an OCI image layout directory packed
//! into one tar (`tar`, members in a fixed order and with fixed owners, so the same layout packs to
//! the same bytes), and unpacked again.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

/// Packs the layout `dir` (`oci-layout`, `index.json`, `blobs/`) into the tar `out`.
pub fn pack(sh: &Shell, dir: &Path, out: &Path) -> Result<()> {
    let fixed = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--mode=u=rwX,go=rX"];
    cmd!(sh, "tar {fixed...} -cf {out} -C {dir} oci-layout index.json blobs")
        .quiet()
        .run()
        .with_context(|| format!("cannot write {}", out.display()))
}

/// Unpacks the tar `archive` into `dir` (made empty first); only a layout's members are taken.
pub fn unpack(sh: &Shell, archive: &Path, dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    cmd!(sh, "tar --no-same-owner --no-same-permissions -xf {archive} -C {dir} oci-layout index.json blobs")
        .quiet()
        .run()
        .with_context(|| {
            format!(
                "cannot unpack {}: is it a bundle `cargo xtask release bundle` wrote (an OCI layout in a tar)?",
                archive.display()
            )
        })
}
