//! Smoke test of every platform's variant of every built image, foreign ones through binfmt QEMU,
//! all variants at once, each run by the image's digest and never pulled (`--pull never`), so that
//! another image under the same name is never tested instead: `--version` (or the image's own smoke
//! command) names the image's version as `rules::smoke` expects, which is also the image's OCI
//! version label, and the image's USER is not root. A service (an image with a HEALTHCHECK) is also
//! run: its own HEALTHCHECK must turn healthy, no process may run as root, and SIGTERM must stop it
//! with exit code 0; a service without one (`no-healthcheck`) must accept a connection on its port
//! instead. A failure stops the pipeline and names the image and the platform.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use xshell::Shell;

use crate::console;
use crate::rules::config::SmokeConfig;
use crate::rules::labels::VERSION_LABEL;
use crate::rules::plan::Plan;
use crate::rules::service::Service;
use crate::rules::smoke;
use crate::rules::verdicts::{smoke_key, Check, Reused};
use crate::steps::build_record::{BuildRecord, BuiltImage, BuiltPlatform};
use crate::steps::parallel;
use crate::steps::verdicts::Store;
use crate::tools::docker;

/// Emulated platforms start slowly; the healthcheck gets this long to pass.
const HEALTHY_WITHIN: Duration = Duration::from_secs(60);

/// Checks every variant of every image of `record`; `plan` says what each image's smoke test runs.
/// A variant whose last smoke test of the same digest, reference, settings and version passed (in
/// `verdicts`) is not run again; returns those reused verdicts.
pub fn run(sh: &Shell, plan: &Plan, record: &BuildRecord, verdicts: &mut Store) -> Result<Vec<Reused>> {
    let mut reused = Vec::new();
    let mut variants: Vec<(&BuiltImage, &BuiltPlatform, Settings, String)> = Vec::new();
    for image in &record.images {
        let planned = plan.images.iter().find(|i| i.name == image.name);
        let smoke = planned.map(|i| i.smoke.clone()).unwrap_or_default();
        let service = planned.and_then(|i| i.service.clone());
        let version = if image.version.is_empty() { &record.version } else { &image.version };
        for platform in &image.platforms {
            let settings = match &service {
                None => serde_json::to_string(&smoke)?,
                Some(service) => serde_json::to_string(&(&smoke, service))?,
            };
            let key = smoke_key(&platform.digest, &platform.platform, &image.local_ref, &settings, version);
            if let Some(pass) = verdicts.read()?.pass(Check::Smoke, &key) {
                console::progress!("    {} on {}: ok (passed at {}, reused)", image.name, platform.platform, pass.at);
                reused.push(Reused { check: Check::Smoke, subject: pass.subject.clone(), since: pass.at.clone() });
                continue;
            }
            variants.push((image, platform, (smoke.clone(), service.clone()), key));
        }
    }
    let checked = parallel::all(sh, &variants, |sh, (image, platform, settings, _)| {
        let started = Instant::now();
        let version = if image.version.is_empty() { &record.version } else { &image.version };
        let kind = check_platform(sh, (version, settings), image, platform)?;
        let took = started.elapsed().as_secs_f64();
        console::progress!("    {} on {}: ok ({kind}, {took:.1}s)", image.name, platform.platform);
        Ok(())
    });
    let mut results: Vec<(String, Result<()>)> = Vec::new();
    for (result, (image, platform, _, key)) in checked.into_iter().zip(&variants) {
        let subject = format!("{} {}", image.name, platform.platform);
        verdicts.record(Check::Smoke, &subject, key, result.is_ok(), serde_json::Value::Null)?;
        results.push((subject, result));
    }
    verdicts.save()?;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(subject, result)| {
            let error = result.err()?;
            let (image, platform) = subject.split_once(' ').unwrap_or((&subject, ""));
            Some(format!("smoke test of image {image} failed on {platform}: {error:#}"))
        })
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(reused)
}

/// What the smoke test of an image runs: its smoke settings and, for a service, its contract.
type Settings = (SmokeConfig, Option<Service>);

/// Checks one variant; says which kind of check it got.
fn check_platform(
    sh: &Shell,
    (version, (smoke, service)): (&str, &Settings),
    image: &BuiltImage,
    platform: &BuiltPlatform,
) -> Result<&'static str> {
    let reference = &by_digest(sh, image)?;
    let label = platform.labels.get(VERSION_LABEL).map(String::as_str);
    if label != Some(version) {
        bail!("its {VERSION_LABEL} label is {label:?}, expected {version:?}");
    }
    let args: Vec<&str> = smoke.args.iter().map(String::as_str).collect();
    let printed = docker::run_once(sh, &platform.platform, reference, &args)?;
    smoke::check(smoke, &printed, version).map_err(|problem| anyhow::anyhow!(problem))?;
    let uid = platform.user.split(':').next().unwrap_or_default();
    if uid.is_empty() || uid == "0" || uid == "root" {
        bail!("its USER is {:?}: the image must set a non-root USER", platform.user);
    }
    // A service without a HEALTHCHECK (`no-healthcheck`) is probed on its port instead.
    let port = service.as_ref().filter(|s| s.no_healthcheck.is_some()).map(|s| s.port);
    if platform.healthcheck.is_none() && port.is_none() {
        return Ok(if smoke.version_check { "tool: version, non-root USER" } else { "tool: runs, non-root USER" });
    }

    let container = Container::start(sh, image, platform)?;
    match port {
        Some(port) => container.wait_listening(port)?,
        None => container.wait_healthy()?,
    }
    let uids = docker::process_uids(sh, &container.name)?;
    if uids.is_empty() || uids.contains(&0) {
        bail!("its processes run as uids {uids:?}: the image must set a non-root USER");
    }
    let exit_code = docker::stop(sh, &container.name, 10)?;
    if exit_code != 0 {
        bail!("it exited with code {exit_code} on SIGTERM (expected a clean exit 0); logs:\n{}", container.logs());
    }
    Ok(match port {
        Some(_) => "service: version, listening, non-root, clean SIGTERM",
        None => "service: version, healthy, non-root, clean SIGTERM",
    })
}

/// The image as the engine holds it by its digest (with the containerd image store, its ID is the
/// index digest): what was built and is scanned and pushed, whatever its name points at now.
fn by_digest(sh: &Shell, image: &BuiltImage) -> Result<String> {
    let digest = &image.index_digest;
    if docker::image_id(sh, digest).as_deref() != Some(digest.as_str()) {
        bail!(
            "the engine no longer holds {digest}, built as {}: run `cargo xtask build` again (it loads the archive)",
            image.local_ref
        );
    }
    Ok(digest.clone())
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
        let flags: &[&str] = if platform.healthcheck.is_some() { &health } else { &[] };
        docker::run_detached(sh, &container.name, &platform.platform, &by_digest(sh, image)?, flags)?;
        Ok(container)
    }

    /// Waits until the container accepts a TCP connection on `port` at its address.
    fn wait_listening(&self, port: u16) -> Result<()> {
        let started = Instant::now();
        let name = &self.name;
        let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}{{.State.Running}}";
        loop {
            let state = docker::inspect(self.sh, name, format)?;
            let words: Vec<&str> = state.split_whitespace().collect();
            if words.last() == Some(&"false") {
                bail!("the container exited; logs:\n{}", self.logs());
            }
            let address = words.first().and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
            let timeout = Duration::from_millis(500);
            if address.is_some_and(|ip| std::net::TcpStream::connect_timeout(&(ip, port).into(), timeout).is_ok()) {
                return Ok(());
            }
            if started.elapsed() > HEALTHY_WITHIN {
                bail!(
                    "nothing accepted a connection on its port {port} (PORT) within {}s; logs:\n{}",
                    HEALTHY_WITHIN.as_secs(),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn wait_healthy(&self) -> Result<()> {
        let started = Instant::now();
        let format = "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.Running}}";
        let name = &self.name;
        loop {
            let state = docker::inspect(self.sh, name, format)?;
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
