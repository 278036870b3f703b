//! Debian base images for other architectures, made locally with debootstrap under QEMU (once,
//! several minutes): the emulated comparison build of `cargo xtask bench` and the arm64 build host
//! of `cargo xtask ci --slow` need one, and where nothing can be pulled there is no other way.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

/// The local image of Debian trixie (minbase) for `arch` (a Debian architecture, e.g. `arm64`),
/// made if it does not exist yet; returns its name.
pub fn foreign_base(sh: &Shell, arch: &str) -> Result<String> {
    let image = format!("xtask/debian-{arch}:trixie");
    if cmd!(sh, "docker image inspect {image}").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        return Ok(image);
    }
    let rootfs = sh.current_dir().join(format!("target/xtask/debian-{arch}-rootfs"));
    let _ = std::fs::remove_dir_all(&rootfs);
    eprintln!("    making {image} with debootstrap --arch {arch} (once; several minutes under QEMU)");
    let arch_flag = format!("--arch={arch}");
    cmd!(sh, "debootstrap {arch_flag} --variant=minbase trixie {rootfs} http://deb.debian.org/debian")
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| {
            format!("debootstrap --arch {arch} failed: it needs root, debootstrap and qemu-user-static with binfmt")
        })?;
    let tarball = rootfs.with_extension("tar");
    let platform = format!("linux/{arch}");
    let imported = cmd!(sh, "tar -C {rootfs} -cf {tarball} .")
        .quiet()
        .run()
        .and_then(|()| cmd!(sh, "docker import --platform {platform} {tarball} {image}").quiet().ignore_stdout().run());
    let _ = std::fs::remove_dir_all(&rootfs);
    let _ = std::fs::remove_file(&tarball);
    imported.with_context(|| format!("cannot import the debootstrap of {arch} as {image}"))?;
    Ok(image)
}
