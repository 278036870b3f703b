//! What a Dockerfile defines, pure: its stage names (`FROM … AS name`), so that a `target` it does
//! not define fails in preflight, naming the stages it does, instead of minutes into a build.

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
