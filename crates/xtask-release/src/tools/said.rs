//! What the installed tools say about themselves (`docker buildx version`, `trivy --version`,
//! `docker info --format …`), asked once per run: a run asks several times (doctor's checks, the
//! capability probe, the DB's and the scan's trivy pin) and each ask is a process of 0.1–0.3 s. A
//! run starts afresh (`forget`, at preflight and at a build without one), so a tool changed between
//! two runs of one process (the bench) is asked again.

use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

type Answer = (bool, String);

static SAID: Mutex<Vec<(Vec<String>, Answer)>> = Mutex::new(Vec::new());

fn ask(sh: &Shell, program: &str, args: &[&str]) -> Result<Answer> {
    let key: Vec<String> = std::iter::once(program).chain(args.iter().copied()).map(str::to_owned).collect();
    if let Some((_, answer)) = SAID.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(k, _)| *k == key) {
        return Ok(answer.clone());
    }
    let output = cmd!(sh, "{program} {args...}")
        .quiet()
        .ignore_stderr()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    let answer = (output.status.success(), String::from_utf8_lossy(&output.stdout).trim().to_owned());
    SAID.lock().unwrap_or_else(|e| e.into_inner()).push((key, answer.clone()));
    Ok(answer)
}

/// What `program args…` printed, if it succeeded (asked once per run).
pub fn read(sh: &Shell, program: &str, args: &[&str]) -> Result<String> {
    match ask(sh, program, args)? {
        (true, text) => Ok(text),
        (false, _) => bail!("`{program} {}` failed", args.join(" ")),
    }
}

/// What `program args…` printed, whether or not it succeeded (`cosign sign --help`).
pub fn read_any(sh: &Shell, program: &str, args: &[&str]) -> String {
    ask(sh, program, args).map(|(_, text)| text).unwrap_or_default()
}

/// A new run: every tool is asked again.
pub fn forget() {
    SAID.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_is_asked_once_per_run() {
        let sh = Shell::new().unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-said-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let counter = dir.join("asked");
        // A program whose answer changes each time it runs: how many times it ran.
        let script = dir.join("count");
        std::fs::write(&script, format!("#!/bin/sh\necho x >> {0}\nwc -l < {0}\n", counter.display())).unwrap();
        let script = script.to_str().unwrap();
        let first = read(&sh, "sh", &[script]).unwrap();
        assert_eq!(read(&sh, "sh", &[script]).unwrap(), first, "asked again within a run");
        forget();
        assert_ne!(read(&sh, "sh", &[script]).unwrap(), first, "a new run asks again");
        assert!(read(&sh, "sh", &["-c", "exit 3"]).is_err(), "a failure is an error");
        assert_eq!(read_any(&sh, "sh", &["-c", "echo said; exit 3"]), "said");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
