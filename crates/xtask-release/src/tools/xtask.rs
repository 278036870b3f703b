//! The xtask itself run as a program, as a developer or a runner types it: `cargo xtask …` through
//! cargo (its freshness check included), a fresh compile of the xtask package, or a given xtask
//! binary with its arguments and variables. The bench measures and drives the engine this way.

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::tools::process::Job;

/// `cargo xtask ARGS` in the shell's directory, its output dropped: only whether it succeeded.
pub fn cargo_xtask(sh: &Shell, args: &[&str]) -> Result<()> {
    Ok(cmd!(sh, "cargo xtask {args...}").quiet().ignore_stdout().ignore_stderr().run()?)
}

/// `cargo build --quiet --offline --package xtask` into `target_dir` (`CARGO_TARGET_DIR`): a cold
/// compile when the directory is new, the crates already downloaded.
pub fn compile(sh: &Shell, target_dir: &Path) -> Result<()> {
    Ok(cmd!(sh, "cargo build --quiet --offline --package xtask").env("CARGO_TARGET_DIR", target_dir).run()?)
}

/// One run of an xtask binary: the program, its arguments and the variables set for it (over the
/// shell's environment). It runs in the shell's directory.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub exe: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Invocation {
    /// Runs it to its end, stdin empty: its stdout, stderr and status (a failure too).
    pub fn output(&self, sh: &Shell) -> Result<Output> {
        let (exe, args) = (&self.exe, &self.args);
        Ok(cmd!(sh, "{exe} {args...}").envs(self.env.iter().cloned()).quiet().ignore_status().output()?)
    }

    /// As a job to start (`tools::process`), with the shell's directory and environment now.
    pub fn job(&self, sh: &Shell) -> Job {
        let (exe, args) = (&self.exe, &self.args);
        Job::from(cmd!(sh, "{exe} {args...}").envs(self.env.iter().cloned()))
    }
}
