//! Thin wrappers over the `docker` CLI: each function runs one command with an argument list and turns
//! its failure into an error that says what to do. No decisions are made here; callers pass values
//! taken from the plan or the build record.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::tools::process::Job;
use crate::tools::secrets;

/// One `docker buildx build` of a multi-platform image into an OCI archive.
pub struct Buildx<'a> {
    pub builder: Option<&'a str>,
    pub dockerfile: &'a Path,
    pub context: &'a Path,
    pub target: Option<&'a str>,
    pub platforms: &'a [String],
    /// Named build contexts, `name=path`.
    pub build_contexts: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    pub no_cache: bool,
    /// Stages rebuilt without cache (`--no-cache-filter`).
    pub no_cache_filter: Vec<String>,
    /// Attach SLSA provenance (mode=max) to the index. Off for the image itself: attestations carry
    /// timestamps and would make its digest irreproducible.
    pub provenance: bool,
    /// References the archive's index is named with (what `docker load` tags).
    pub names: &'a [String],
    pub archive: &'a Path,
    /// Where the build's plain progress output goes (`--progress=plain`).
    pub log: &'a Path,
    pub source_date_epoch: i64,
    /// Where buildx writes the build's metadata (`--metadata-file`), its build ref among it.
    pub metadata_file: Option<&'a Path>,
}

/// A buildx builder as `docker buildx inspect NAME` describes it.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    pub driver: String,
    pub endpoint: String,
    pub platforms: Vec<String>,
}

impl Builder {
    /// A builder of the `docker` driver is an engine reached through a docker context of the same
    /// name: buildx runs against it as `docker --context NAME buildx build`, not `--builder NAME`.
    pub fn is_docker_context(&self) -> bool {
        self.driver == "docker"
    }

    /// Whether its engine runs on another machine (ssh:// or tcp://), where this machine's
    /// loopback registries are out of its reach.
    pub fn is_remote(&self) -> bool {
        self.endpoint.starts_with("ssh://") || self.endpoint.starts_with("tcp://")
    }
}

pub fn inspect_builder(sh: &Shell, name: &str) -> Result<Builder> {
    let text = cmd!(sh, "docker buildx inspect {name}")
        .quiet()
        .read()
        .with_context(|| format!("--builder {name}: buildx has no builder of that name (see `docker buildx ls`)"))?;
    let field =
        |key: &str| text.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned())).unwrap_or_default();
    let mut endpoint = field("Endpoint:");
    if !endpoint.contains("://") {
        // A docker context: its endpoint is the context's docker host.
        let format = "{{.Endpoints.docker.Host}}";
        endpoint = cmd!(sh, "docker context inspect --format {format} {endpoint}").quiet().read().unwrap_or(endpoint);
    }
    Ok(Builder {
        driver: field("Driver:"),
        endpoint,
        platforms: field("Platforms:").split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect(),
    })
}

/// `docker buildx SUBCOMMAND…` on `builder`: a docker context's engine (`--context`), another
/// builder (`--builder`), or the default one.
fn buildx_args(sh: &Shell, builder: Option<&str>, subcommand: &[&str]) -> Result<Vec<String>> {
    let mut args: Vec<String> = Vec::new();
    let docker_context = match builder {
        Some(builder) => inspect_builder(sh, builder)?.is_docker_context(),
        None => false,
    };
    if let (Some(builder), true) = (builder, docker_context) {
        args.extend(["--context".into(), builder.into()]);
    }
    args.push("buildx".into());
    args.extend(subcommand.iter().map(|s| s.to_string()));
    if let (Some(builder), false) = (builder, docker_context) {
        args.extend(["--builder".into(), builder.into()]);
    }
    Ok(args)
}

pub fn buildx_build(sh: &Shell, b: &Buildx<'_>) -> Result<()> {
    let mut args = buildx_args(sh, b.builder, &["build"])?;
    if let Some(metadata) = b.metadata_file {
        args.extend(["--metadata-file".into(), metadata.display().to_string()]);
    }
    args.extend(["--file".into(), b.dockerfile.display().to_string()]);
    if let Some(target) = b.target {
        args.extend(["--target".into(), target.into()]);
    }
    args.extend(["--platform".into(), b.platforms.join(",")]);
    for context in &b.build_contexts {
        args.extend(["--build-context".into(), context.clone()]);
    }
    for (key, value) in &b.build_args {
        args.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    for (key, value) in &b.labels {
        args.extend(["--label".into(), format!("{key}={value}")]);
    }
    // A single-platform build exports one manifest and no image index: BuildKit 0.2x refuses
    // index annotations there (older ones dropped them).
    let levels = if b.platforms.len() > 1 { "index,manifest" } else { "manifest" };
    for (key, value) in &b.annotations {
        args.extend(["--annotation".into(), format!("{levels}:{key}={value}")]);
    }
    for cache in &b.cache_from {
        args.extend(["--cache-from".into(), cache.clone()]);
    }
    for cache in &b.cache_to {
        args.extend(["--cache-to".into(), cache.clone()]);
    }
    if b.no_cache {
        args.push("--no-cache".into());
    }
    for stage in &b.no_cache_filter {
        args.extend(["--no-cache-filter".into(), stage.clone()]);
    }
    if b.provenance {
        args.extend(["--attest".into(), "type=provenance,mode=max".into()]);
    } else {
        args.push("--provenance=false".into());
    }
    args.push("--sbom=false".into());
    // buildx reads `--output` as one CSV record: a field with a comma or a quote is quoted, so
    // that a path (a workspace's) cannot add options of its own.
    let dest = csv_field(&format!("dest={}", b.archive.display()));
    let names = csv_field(&format!("name={}", b.names.join(",")));
    args.extend(["--output".into(), format!("type=oci,{dest},rewrite-timestamp=true,{names}")]);
    args.extend(["--progress".into(), "plain".into()]);
    args.push(b.context.display().to_string());
    // The GitHub Actions cache's token (withheld from every other child): buildx reads it from its
    // environment for a `type=gha` cache.
    let gha = b.cache_from.iter().chain(&b.cache_to).any(|cache| cache.starts_with("type=gha"));
    let cache_token = if gha { secrets::env_for(&["ACTIONS_RUNTIME_TOKEN"]) } else { Vec::new() };
    let build = cmd!(sh, "docker {args...}")
        .envs(cache_token)
        .env("SOURCE_DATE_EPOCH", b.source_date_epoch.to_string())
        .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1");
    let status = Job::from(build).run_to_log(b.log).context("cannot run `docker buildx build`")?;
    if !status.success() {
        let text = std::fs::read_to_string(b.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        bail!(
            "`docker buildx build` failed (`cargo xtask doctor` checks the engine, buildx and binfmt). \
             The last lines of {}:\n{}",
            b.log.display(),
            tail.join("\n")
        );
    }
    Ok(())
}

/// `field` as one field of a CSV record (buildx's `--output`, docker's `--mount`): quoted, its
/// quotes doubled, when it holds a comma, a quote or a line break; as it is otherwise.
pub fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// buildx's Dockerfile checks of one build (`--call check,format=json`): evaluates the Dockerfile
/// for `target` with `build_args`, builds nothing; its report, read typed (`rules::build_checks`):
/// output of another shape, or a Dockerfile buildx cannot evaluate, is an error.
pub fn build_check(
    sh: &Shell,
    builder: Option<&str>,
    (dockerfile, context, target): (&Path, &Path, Option<&str>),
    build_args: &[(String, String)],
) -> Result<crate::rules::build_checks::Report> {
    let mut args = buildx_args(sh, builder, &["build"])?;
    args.extend(["--call".into(), "check,format=json".into(), "--file".into(), dockerfile.display().to_string()]);
    if let Some(target) = target {
        args.extend(["--target".into(), target.into()]);
    }
    for (key, value) in build_args {
        args.extend(["--build-arg".into(), format!("{key}={value}")]);
    }
    args.push(context.display().to_string());
    // Exits non-zero when a check warns; the JSON says what.
    let out = cmd!(sh, "docker {args...}")
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run `docker buildx build --call check`")?;
    crate::rules::build_checks::report(&out.stdout, &dockerfile.display().to_string()).map_err(|problem| {
        anyhow::anyhow!(
            "`docker buildx build --call check` of {}: {problem} ({}); if buildx was changed, upgrade \
             xtask-release or report it",
            dockerfile.display(),
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
        )
    })
}

/// What buildx's `--metadata-file` holds that the engine reads: the build's ref in its history.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BuildMetadata {
    #[serde(rename = "buildx.build.ref")]
    pub build_ref: String,
}

/// One attachment of a build record (`docker buildx history inspect --format json`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Attachment {
    #[serde(rename = "Digest")]
    pub digest: String,
    #[serde(rename = "Platform", default)]
    pub platform: String,
    #[serde(rename = "Type")]
    pub kind: String,
}

/// The attachments (manifests, provenance) of the build `build_ref` (`builder/node/ref` from the
/// metadata file, or the bare ref).
pub fn history_attachments(sh: &Shell, builder: Option<&str>, build_ref: &str) -> Result<Vec<Attachment>> {
    #[derive(serde::Deserialize)]
    struct Record {
        #[serde(rename = "Attachments", default)]
        attachments: Vec<Attachment>,
    }
    let id = build_ref.rsplit('/').next().unwrap_or(build_ref);
    let args = buildx_args(sh, builder, &["history", "inspect", "--format", "json", id])?;
    let text = cmd!(sh, "docker {args...}")
        .quiet()
        .read()
        .with_context(|| format!("`docker buildx history inspect {id}` failed: the build's record is gone?"))?;
    let record: Record = serde_json::from_str(&text).context("unexpected `docker buildx history inspect` output")?;
    Ok(record.attachments)
}

/// One attachment's content (a provenance predicate, for one) of the build `build_ref`.
pub fn history_attachment(sh: &Shell, builder: Option<&str>, build_ref: &str, digest: &str) -> Result<String> {
    let id = build_ref.rsplit('/').next().unwrap_or(build_ref);
    let args = buildx_args(sh, builder, &["history", "inspect", "attachment", id, digest])?;
    cmd!(sh, "docker {args...}")
        .quiet()
        .read()
        .with_context(|| format!("`docker buildx history inspect attachment {id} {digest}` failed"))
}

/// Loads an OCI archive into the engine; with the containerd image store the whole index is kept.
pub fn load(sh: &Shell, archive: &Path) -> Result<()> {
    cmd!(sh, "docker load --quiet --input {archive}")
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("`docker load` of {} failed", archive.display()))
}

/// Starts a container in the background (`run_flags` go before the image) and returns its id.
/// Never pulls: `reference` (the image's digest, for a smoke test) is what the engine holds.
pub fn run_detached(sh: &Shell, name: &str, platform: &str, reference: &str, run_flags: &[&str]) -> Result<String> {
    let id =
        cmd!(sh, "docker run --detach --pull never --name {name} --platform {platform} {run_flags...} {reference}")
            .quiet()
            .read()
            .with_context(|| format!("could not start {reference} for {platform}"))?;
    Ok(id.trim().to_owned())
}

/// Runs a container to completion and returns its stdout. Never pulls, like [`run_detached`].
pub fn run_once(sh: &Shell, platform: &str, reference: &str, args: &[&str]) -> Result<String> {
    cmd!(sh, "docker run --rm --pull never --platform {platform} {reference} {args...}")
        .quiet()
        .read()
        .with_context(|| format!("`docker run {reference} {}` failed on {platform}", args.join(" ")))
}

/// The numeric uids of a running container's processes, as the host sees them.
pub fn process_uids(sh: &Shell, container: &str) -> Result<Vec<u32>> {
    // `docker top` needs the PID column in ps's output.
    let table = cmd!(sh, "docker top {container} -o pid,uid")
        .quiet()
        .read()
        .with_context(|| format!("`docker top {container}` failed"))?;
    table
        .lines()
        .skip(1)
        .map(|line| {
            let uid = line.split_whitespace().nth(1).unwrap_or_default();
            uid.parse().with_context(|| format!("unexpected `docker top` line {line:?}"))
        })
        .collect()
}

/// Stops a container with SIGTERM (then SIGKILL after `grace_secs`) and returns its exit code.
pub fn stop(sh: &Shell, container: &str, grace_secs: u32) -> Result<i64> {
    let grace = grace_secs.to_string();
    cmd!(sh, "docker stop --time {grace} {container}").quiet().ignore_stdout().run()?;
    let format = "{{.State.ExitCode}}";
    let code = cmd!(sh, "docker inspect --format {format} {container}").quiet().read()?;
    code.trim().parse().context("unexpected exit code from `docker inspect`")
}

/// The `127.0.0.1` port `container` publishes its `port`/tcp on (`docker port`).
pub fn published_port(sh: &Shell, container: &str, port: u16) -> Result<String> {
    let spec = format!("{port}/tcp");
    let published = cmd!(sh, "docker port {container} {spec}").quiet().read()?;
    let host_port = published.lines().next().and_then(|l| l.rsplit(':').next()).map(str::trim);
    host_port.map(str::to_owned).with_context(|| format!("container {container} publishes no port for {spec}"))
}

/// `docker inspect --format FORMAT container`: the container's state as the Go template prints it.
pub fn inspect(sh: &Shell, container: &str, format: &str) -> Result<String> {
    Ok(cmd!(sh, "docker inspect --format {format} {container}").quiet().read()?)
}

pub fn logs(sh: &Shell, container: &str) -> String {
    cmd!(sh, "docker logs {container}")
        .quiet()
        .ignore_status()
        .output()
        .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
        .unwrap_or_default()
}

pub fn remove(sh: &Shell, container: &str) {
    let _ = cmd!(sh, "docker rm --force {container}").quiet().ignore_stdout().ignore_stderr().run();
}

/// Removes the engine's tags under `namespace` (`HOST[:PORT]/PATH`, e.g. a throwaway registry's),
/// the images the pipeline loaded to push there; returns how many. Best effort: a cleanup.
pub fn untag_namespace(sh: &Shell, namespace: &str) -> usize {
    let prefix = format!("{namespace}/");
    let format = "{{.Repository}}:{{.Tag}}";
    let listed = cmd!(sh, "docker image ls --format {format}").quiet().ignore_stderr().read();
    let tags: Vec<&str> = listed.iter().flat_map(|l| l.lines()).filter(|t| t.starts_with(&prefix)).collect();
    let count = tags.len();
    if count > 0 {
        let _ = cmd!(sh, "docker image rm {tags...}").quiet().ignore_stdout().ignore_stderr().run();
    }
    count
}

/// `docker buildx inspect` of the current builder (`tools::said`'s question).
pub const CURRENT_BUILDER: &[&str] = &["buildx", "inspect"];

/// What identifies a buildx builder's output: its name, driver, endpoint and BuildKit version, as
/// `docker buildx inspect` prints them (the current builder when `name` is `None`).
pub fn builder_identity(sh: &Shell, name: Option<&str>) -> Result<String> {
    let args: Vec<&str> = CURRENT_BUILDER.iter().copied().chain(name).collect();
    let text = crate::tools::said::read(sh, "docker", &args)
        .context("`docker buildx inspect` failed: check the builder (`docker buildx ls`)")?;
    let wanted = ["name:", "driver:", "endpoint:", "buildkit"];
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| wanted.iter().any(|w| l.to_ascii_lowercase().starts_with(w))).collect();
    Ok(lines.join("\n"))
}

/// The engine's image ID for `reference`, `None` when the engine does not hold it.
pub fn image_id(sh: &Shell, reference: &str) -> Option<String> {
    let format = "{{.Id}}";
    let id = cmd!(sh, "docker image inspect --format {format} {reference}").quiet().ignore_stderr().read().ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_field_with_a_comma_or_a_quote_is_quoted_as_csv() {
        assert_eq!(super::csv_field("dest=/work/app/target/x.tar"), "dest=/work/app/target/x.tar");
        assert_eq!(super::csv_field("dest=/w,name=evil/x.tar"), "\"dest=/w,name=evil/x.tar\"");
        assert_eq!(super::csv_field("dest=/w\"q/x.tar"), "\"dest=/w\"\"q/x.tar\"");
    }
}
