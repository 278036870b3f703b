//! The machine a benchmark ran on, as its table and JSON name it: the date (UTC), the memory, the
//! kernel, and the docker engine's and buildx's versions. Best effort: what a program does not say
//! is empty.

use xshell::{cmd, Cmd, Shell};

/// What `date`, `free`, `uname`, `docker` and `docker buildx` say about this machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// The total memory as `free -h` prints it (`7.8Gi`).
    pub memory: String,
    /// `uname -r`.
    pub kernel: String,
    /// The engine's version (`docker version`'s Server.Version).
    pub docker: String,
    /// buildx's version (`v0.19.3`).
    pub buildx: String,
}

/// Asks each program once; one that fails leaves its field empty.
pub fn describe(sh: &Shell) -> Machine {
    let read = |c: Cmd<'_>| c.quiet().ignore_stderr().read().unwrap_or_default();
    let format = "{{.Server.Version}}";
    let date = read(cmd!(sh, "date -u +%Y-%m-%d"));
    let free = read(cmd!(sh, "free -h"));
    let kernel = read(cmd!(sh, "uname -r"));
    let docker = read(cmd!(sh, "docker version --format {format}"));
    let buildx = read(cmd!(sh, "docker buildx version"));
    Machine {
        date,
        memory: free.lines().nth(1).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("").to_owned(),
        kernel,
        docker,
        buildx: buildx.split_whitespace().nth(1).unwrap_or("").to_owned(),
    }
}
