//! What a Dockerfile defines, pure: its stage names (`FROM … AS name`), so that a `target` it does
//! not define fails in preflight, naming the stages it does, instead of minutes into a build; and
//! the engine's own Dockerfile, with the build contract (named contexts, build args, targets) the
//! engine speaks to it, whose version an ejected copy carries.

/// The engine's Dockerfile: what an image is built with when its `dockerfile` is not set.
pub const ENGINE_DOCKERFILE: &str = include_str!("../../docker/Dockerfile");
/// Its `<Dockerfile>.dockerignore`, which BuildKit reads before the context's `.dockerignore`.
pub const ENGINE_DOCKERIGNORE: &str = include_str!("../../docker/Dockerfile.dockerignore");
/// The bench's naive single-stage Dockerfile (toolchain and sources left in the image; under QEMU
/// for a foreign platform), to measure what the engine's saves.
pub const NAIVE_DOCKERFILE: &str = include_str!("../../docker/naive.Dockerfile");
/// Where the bench writes it, relative to the workspace root.
pub const NAIVE_DOCKERFILE_PATH: &str = "target/xtask/engine/naive.Dockerfile";
/// Where the engine writes its Dockerfile for a build, relative to the workspace root.
pub const ENGINE_DOCKERFILE_PATH: &str = "target/xtask/engine/Dockerfile";
/// Where `init --eject-dockerfile` writes it, relative to the workspace root.
pub const EJECTED_DOCKERFILE_PATH: &str = "docker/Dockerfile";
/// The build contract this engine speaks: what it passes a Dockerfile (named contexts `vendor`, with
/// the source replacement at `.cargo/config.toml`, `recipe`, `source`; build args `PACKAGE`, `BIN`,
/// `VCS_REF`, `PORT`, `BUILDER_IMAGE`, `TOOLCHAIN`, `TZDATA`, `TOOLCHAIN_PLATFORM`,
/// `SYSTEM_PACKAGES`, `LINKAGE`; a stage `xtask-service` it may append after `service`) and what it
/// expects back (targets `runtime` and `service`, the binary at `/app`). A change to any of it is a
/// new contract: 2 added the system packages, the linkage and every dependency source.
pub const CONTRACT: u32 = 2;
/// The line that names a Dockerfile's contract: `# xtask-release build contract N`.
const CONTRACT_MARKER: &str = "# xtask-release build contract ";

/// The build contract a Dockerfile names, if it names one (an ejected engine Dockerfile does; one a
/// team wrote itself need not). `Err` for a marker without a number.
pub fn contract(text: &str) -> Option<Result<u32, String>> {
    let line = text.lines().find_map(|line| line.trim().strip_prefix(CONTRACT_MARKER))?;
    Some(line.trim().parse().map_err(|_| format!("names no contract version ({CONTRACT_MARKER}{line})")))
}

/// Why the engine cannot build with a Dockerfile (`path` in the workspace) of this `text`, if so:
/// it names a build contract other than [`CONTRACT`].
pub fn contract_problem(path: &str, text: &str) -> Option<String> {
    let fix = format!(
        "re-eject it (`cargo xtask init --eject-dockerfile --force` writes the engine's own to {EJECTED_DOCKERFILE_PATH}) \
         and re-apply your edits, or remove `dockerfile` from the image's table to build with the engine's"
    );
    match contract(text)? {
        Ok(version) if version == CONTRACT => None,
        Ok(version) => Some(format!(
            "{path} was written for build contract {version}, and this engine (xtask-release {}) speaks contract \
             {CONTRACT}: {fix}",
            env!("CARGO_PKG_VERSION")
        )),
        Err(problem) => Some(format!("{path} {problem}: {fix}")),
    }
}

/// The names of the Dockerfile's stages, in order (`FROM [--platform=…] IMAGE AS NAME`), lower-cased
/// as BuildKit compares them. Comments, blank lines and line continuations are handled.
pub fn stages(text: &str) -> Vec<String> {
    let mut stages = Vec::new();
    let mut instruction = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if instruction.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if line.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                instruction.push_str(part);
                instruction.push(' ');
            }
            None => {
                instruction.push_str(line);
                stages.extend(stage_name(&instruction));
                instruction.clear();
            }
        }
    }
    stages.extend(stage_name(&instruction));
    stages
}

fn stage_name(instruction: &str) -> Option<String> {
    let words: Vec<&str> = instruction.split_whitespace().collect();
    if !words.first()?.eq_ignore_ascii_case("FROM") {
        return None;
    }
    let rest: Vec<&str> = words[1..].iter().copied().filter(|w| !w.starts_with("--")).collect();
    match rest.as_slice() {
        [_, keyword, name] if keyword.eq_ignore_ascii_case("AS") => Some(name.to_ascii_lowercase()),
        _ => None,
    }
}

/// The problem with building `target` from a Dockerfile defining `stages`, if any.
pub fn missing_target(target: &str, stages: &[String]) -> Option<String> {
    if stages.iter().any(|s| s.eq_ignore_ascii_case(target)) {
        return None;
    }
    let defined =
        if stages.is_empty() { "no named stages".to_owned() } else { format!("stages {}", stages.join(", ")) };
    Some(format!("defines no stage {target:?} (it has {defined})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_dockerfile_names_the_contract_it_speaks_and_other_contracts_are_refused() {
        assert_eq!(contract(ENGINE_DOCKERFILE), Some(Ok(CONTRACT)));
        assert_eq!(contract_problem("docker/Dockerfile", ENGINE_DOCKERFILE), None);
        assert_eq!(contract_problem("docker/Dockerfile", "FROM scratch\n"), None, "a team's own Dockerfile");
        let old = ENGINE_DOCKERFILE.replace(&format!("{CONTRACT_MARKER}{CONTRACT}"), &format!("{CONTRACT_MARKER}0"));
        let problem = contract_problem("docker/Dockerfile", &old).unwrap();
        assert!(
            problem.contains("build contract 0") && problem.contains(&format!("speaks contract {CONTRACT}")),
            "{problem}"
        );
        assert!(problem.contains("--eject-dockerfile --force"), "{problem}");
        let garbled = contract_problem("d/Dockerfile", "# xtask-release build contract one\n").unwrap();
        assert!(garbled.starts_with("d/Dockerfile names no contract version"), "{garbled}");
        assert!(stages(ENGINE_DOCKERFILE).contains(&"service".to_owned()));
        assert!(stages(ENGINE_DOCKERFILE).contains(&"runtime".to_owned()));
    }

    #[test]
    fn stage_names_are_read_like_buildkit_does() {
        let text = "\
# syntax=docker/dockerfile:1
ARG BASE=debian:trixie-slim
FROM --platform=$BUILDPLATFORM ${BASE} AS Toolchain
RUN echo hi \\
    # a comment in a continuation
    && echo from AS fake
from toolchain as deps
FROM scratch
FROM deps \\
  AS runtime
";
        assert_eq!(stages(text), ["toolchain", "deps", "runtime"]);
        assert!(stages("").is_empty());
    }

    #[test]
    fn a_missing_target_names_the_stages_there_are() {
        let defined = stages("FROM a AS build\nFROM scratch AS runtime\n");
        assert_eq!(missing_target("runtime", &defined), None);
        assert_eq!(missing_target("Runtime", &defined), None);
        assert_eq!(
            missing_target("leaky", &defined).unwrap(),
            "defines no stage \"leaky\" (it has stages build, runtime)"
        );
        assert_eq!(missing_target("x", &[]).unwrap(), "defines no stage \"x\" (it has no named stages)");
    }
}
