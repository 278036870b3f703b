//! Children whose output does not come back to the caller as `cmd!`'s does: redirected to a log
//! file, piped into another child, or left running in the background. duct starts them; a command
//! that runs to its end with its output read or shown stays with xshell's `cmd!`.
//!
//! A [`Job`] is made from a `cmd!` (or a program and its arguments): the program, its arguments and,
//! taken when the job is made, the shell's directory and environment (a registry session's
//! `DOCKER_CONFIG`, say). Unlike a `Cmd`, it can be handed to another thread. Like every child, a
//! job inherits no secret: `tools::secrets` took them out of this process's environment at start.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::Path;
use std::process::{ExitStatus, Output};

use anyhow::{Context, Result};
use xshell::Cmd;

/// A child to start: a program with its arguments, directory and environment.
#[derive(Clone, Debug)]
pub struct Job {
    expression: duct::Expression,
    /// The program, for errors.
    program: String,
}

impl Job {
    /// `program` with `args`, in this process's own directory and environment (not a shell's).
    pub fn new(program: impl AsRef<OsStr>, args: impl IntoIterator<Item = impl Into<OsString>>) -> Job {
        let program = program.as_ref();
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        Job { expression: duct::cmd(program, args), program: program.to_string_lossy().into_owned() }
    }

    /// Runs to its end with nothing on its stdin, and its stdout and stderr, in the order written,
    /// in `log` (created or emptied first; `tail -f` shows it live). Its exit status, a failure too.
    pub fn run_to_log(&self, log: &Path) -> Result<ExitStatus> {
        let output = self.to_log(log)?.run().with_context(|| format!("cannot run {}", self.program))?;
        Ok(output.status)
    }

    /// Starts in the background, its input and output as `run_to_log`'s. Dropped before it ends,
    /// the child goes on (it is not killed).
    pub fn start_to_log(&self, log: &Path) -> Result<Running> {
        let handle = self.to_log(log)?.start().with_context(|| format!("cannot start {}", self.program))?;
        Ok(Running { handle, program: self.program.clone() })
    }

    /// `self | next`: this job's stdout into `next`'s stdin, both to their ends. `next`'s stdout and
    /// stderr are returned; this job's stderr is this process's. The status is the first failure's,
    /// `next`'s before this job's (as `set -o pipefail`), else a success.
    pub fn pipe_into(&self, next: &Job) -> Result<Output> {
        let next_captured = next.expression.stdout_capture().stderr_capture();
        let pipe = self.expression.pipe(next_captured).unchecked();
        pipe.run().with_context(|| format!("cannot run {} | {}", self.program, next.program))
    }

    fn to_log(&self, log: &Path) -> Result<duct::Expression> {
        let file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        // duct applies the outer redirection first: stdout goes to the file, then stderr joins it.
        Ok(self.expression.stderr_to_stdout().stdout_file(file).stdin_null().unchecked())
    }
}

impl From<Cmd<'_>> for Job {
    /// The command as `cmd!` built it: program, arguments, and the shell's directory and environment
    /// with the command's own variables over them, read through the `std::process::Command` xshell
    /// makes of it (its only way to give them; that value is read here, never started). Not carried
    /// over: `Cmd`'s own output settings (`quiet`, `ignore_stdout`, …) and an `env_clear`, which no
    /// caller uses.
    fn from(cmd: Cmd<'_>) -> Job {
        let command = std::process::Command::from(cmd);
        let mut job = Job::new(command.get_program(), command.get_args());
        if let Some(dir) = command.get_current_dir() {
            job.expression = job.expression.dir(dir);
        }
        for (name, value) in command.get_envs() {
            job.expression = match value {
                Some(value) => job.expression.env(name, value),
                None => job.expression.env_remove(name),
            };
        }
        job
    }
}

/// A job running in the background.
pub struct Running {
    handle: duct::Handle,
    program: String,
}

impl Running {
    /// Waits for it to end: its exit status, a failure too.
    pub fn wait(&self) -> Result<ExitStatus> {
        let output = self.handle.wait().with_context(|| format!("cannot wait for {}", self.program))?;
        Ok(output.status)
    }

    /// Its exit status once it has ended (a failure too), `None` while it runs. Never blocks.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        let output = self.handle.try_wait().with_context(|| format!("cannot wait for {}", self.program))?;
        Ok(output.map(|output| output.status))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use xshell::{cmd, Shell};

    use super::Job;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-process-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The shell's directory and variables reach the child; stdout and stderr land in order in the
    /// log, stdin is empty; a failure is a status, not an error.
    #[test]
    fn a_job_from_cmd_runs_in_the_shell_s_directory_and_environment_into_its_log() {
        let dir = scratch("log");
        let sh = Shell::new().unwrap();
        sh.change_dir(&dir);
        let _var = sh.push_env("XTASK_PROCESS_TEST", "from the shell");
        let script = "pwd; echo \"$XTASK_PROCESS_TEST\" >&2; echo \"[$XTASK_OWN]\"; cat; exit 3";
        let job = Job::from(cmd!(sh, "sh -c {script}").env("XTASK_OWN", "own"));
        let log = dir.join("out.log");
        std::fs::write(&log, "old content\n").unwrap();
        let status = job.run_to_log(&log).unwrap();
        assert_eq!(status.code(), Some(3));
        let expected = format!("{}\nfrom the shell\n[own]\n", dir.canonicalize().unwrap().display());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), expected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_background_job_is_polled_until_it_ends() {
        let dir = scratch("background");
        let log = dir.join("out.log");
        let running = Job::new("sh", ["-c", "sleep 0.2; echo done; exit 1"]).start_to_log(&log).unwrap();
        let started = Instant::now();
        assert!(running.try_wait().unwrap().is_none(), "ended at once");
        let status = loop {
            if let Some(status) = running.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "still running");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(1));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "done\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pipe_carries_bytes_and_fails_when_either_side_fails() {
        let words = Job::new("printf", ["a\\nb\\nc\\n"]);
        let output = words.pipe_into(&Job::new("sh", ["-c", "wc -l; echo note >&2"])).unwrap();
        assert!(output.status.success());
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "3");
        assert_eq!(output.stderr, b"note\n");
        let left_fails = Job::new("sh", ["-c", "echo x; exit 4"]).pipe_into(&Job::new("cat", [""; 0])).unwrap();
        assert_eq!(left_fails.status.code(), Some(4));
        let right_fails = words.pipe_into(&Job::new("sh", ["-c", "cat >/dev/null; exit 5"])).unwrap();
        assert_eq!(right_fails.status.code(), Some(5));
    }
}
