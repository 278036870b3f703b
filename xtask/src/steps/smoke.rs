//! Smoke test of every platform's variant of every built image, arm64 through binfmt QEMU: the
//! container starts, `--version` prints the workspace version, which is also the image's OCI version
//! label, the image's own HEALTHCHECK turns healthy, no process runs as root, and SIGTERM stops it
//! with exit code 0. A failure stops the pipeline and names the platform.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::console;
use crate::steps::build_record::{BuildRecord, BuiltImage, BuiltPlatform};
use crate::tools::docker;

const VERSION_LABEL: &str = "org.opencontainers.image.version";
/// Emulated platforms start slowly; the healthcheck gets this long to pass.
const HEALTHY_WITHIN: Duration = Duration::from_secs(60);

pub fn run_all(sh: &Shell, record: &BuildRecord) -> Result<()> {
    for image in &record.images {
        for platform in &image.platforms {
            check_platform(sh, &record.version, image, platform)
                .with_context(|| format!("smoke test of image {} failed on {}", image.name, platform.platform))?;
            console::progress!("    {} on {}: ok", image.name, platform.platform);
        }
    }
    Ok(())
}

fn check_platform(sh: &Shell, version: &str, image: &BuiltImage, platform: &BuiltPlatform) -> Result<()> {
    let reference = &image.local_ref;
    let label = platform.labels.get(VERSION_LABEL).map(String::as_str);
    if label != Some(version) {
        bail!("its {VERSION_LABEL} label is {label:?}, expected {version:?}");
    }
    let printed = docker::run_once(sh, &platform.platform, reference, &["--version"])?;
    if printed.split_whitespace().nth(1) != Some(version) {
        bail!("`--version` printed {:?}, expected the workspace version {version}", printed.trim());
    }

    let container = Container::start(sh, image, platform)?;
    container.wait_healthy()?;
    let uids = docker::process_uids(sh, &container.name)?;
    if uids.is_empty() || uids.contains(&0) {
        bail!("its processes run as uids {uids:?}: the image must set a non-root USER");
    }
    let exit_code = docker::stop(sh, &container.name, 10)?;
    if exit_code != 0 {
        bail!("it exited with code {exit_code} on SIGTERM (expected a clean exit 0); logs:\n{}", container.logs());
    }
    Ok(())
}

/// A smoke-test container, removed when dropped, whatever happened.
struct Container<'a> {
    sh: &'a Shell,
    name: String,
}

impl<'a> Container<'a> {
    fn start(sh: &'a Shell, image: &BuiltImage, platform: &BuiltPlatform) -> Result<Self> {
        let arch = platform.platform.replace('/', "-");
        let name = format!("xtask-smoke-{}-{}-{arch}", image.name, std::process::id());
        docker::remove(sh, &name);
        let container = Container { sh, name };
        // The image's own HEALTHCHECK command, probed every 100 ms while the container starts.
        let health = ["--health-start-period=20s", "--health-start-interval=100ms", "--health-interval=1s"];
        docker::run_detached(sh, &container.name, &platform.platform, &image.local_ref, &health)?;
        Ok(container)
    }

    fn wait_healthy(&self) -> Result<()> {
        let started = Instant::now();
        let format = "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.Running}}";
        let name = &self.name;
        loop {
            let state = cmd!(self.sh, "docker inspect --format {format} {name}").quiet().read()?;
            match state.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["healthy", "true"] => return Ok(()),
                ["none", _] => bail!("the image has no HEALTHCHECK"),
                [_, "false"] => bail!("the container exited; logs:\n{}", self.logs()),
                ["unhealthy", _] => bail!("its healthcheck failed; logs:\n{}", self.logs()),
                _ if started.elapsed() > HEALTHY_WITHIN => {
                    bail!("not healthy after {}s (state {state:?}); logs:\n{}", HEALTHY_WITHIN.as_secs(), self.logs())
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    fn logs(&self) -> String {
        docker::logs(self.sh, &self.name)
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        docker::remove(self.sh, &self.name);
    }
}
