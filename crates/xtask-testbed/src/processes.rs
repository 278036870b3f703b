//! Watching the machine's processes: what ran (a build that must not start, a password that must
//! never be in an argv), read from every process's command line while a run lives.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::xtask_binary;

/// The running processes' ids.
fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// Command lines of running processes, but those in `before`, that contain every one of `needles`
/// (into `found`); whether one of them runs the xtask. An id in `before` that is gone leaves it: a
/// process that takes the id later is read.
fn cmdlines_containing(needles: &[&str], before: &mut HashSet<u32>, found: &mut Vec<String>) -> bool {
    let live: HashSet<u32> = pids().collect();
    before.retain(|pid| live.contains(pid));
    let mut xtask = false;
    for pid in live.difference(before) {
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            xtask |= text.starts_with(&*xtask_binary().to_string_lossy());
            if needles.iter().all(|needle| text.contains(needle)) {
                found.push(text);
            }
        }
    }
    xtask
}

/// Between two scans of the processes: 25 ms. What the xtask spawns (docker, cosign, skopeo, trivy)
/// lives far longer.
const SCAN_EVERY: Duration = Duration::from_millis(25);

/// A watched run shorter than this may start and end between two scans of a busy machine (a
/// release refused in its first milliseconds, before it starts anything, takes ~50 ms): the watch
/// need not have seen it. Every longer run it must have seen.
const SEEN_IF_LONGER: Duration = Duration::from_secs(1);

/// Watches every process's command line while it lives, collecting those containing all `needles`.
pub struct Watch {
    started: Instant,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// What was seen, and whether the xtask run itself was.
    thread: std::thread::JoinHandle<(Vec<String>, bool)>,
}

impl Watch {
    pub fn start(needles: &[&str]) -> Watch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
        let thread = {
            let stop = stop.clone();
            // What ran before the watch (the engine, the registries, the test itself) is not read
            // while it lives: its command line was there before the run. (Ids are reused, after
            // all others: an id must be gone for a scan before a new process can have it.)
            let mut before: HashSet<u32> = pids().collect();
            std::thread::spawn(move || {
                let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
                let (mut seen, mut xtask) = (Vec::new(), false);
                while !stop.load(Ordering::Relaxed) {
                    xtask |= cmdlines_containing(&needles, &mut before, &mut seen);
                    // A scan of the processes started since reads a few dozen command lines.
                    std::thread::sleep(SCAN_EVERY);
                }
                (seen, xtask)
            })
        };
        Watch { started: Instant::now(), stop, thread }
    }

    /// Stops watching and returns what was seen. The watch must have seen the xtask that ran
    /// while it watched (unless the run was too quick to see: [`SEEN_IF_LONGER`]): one that saw
    /// nothing watched nothing, and its "nothing seen" means nothing.
    pub fn finish(self) -> Vec<String> {
        let took = self.started.elapsed();
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (seen, xtask) = self.thread.join().unwrap();
        assert!(
            xtask || took < SEEN_IF_LONGER,
            "the process watch never saw the xtask run ({took:?}): it watched nothing"
        );
        seen
    }
}

/// Of the `buildx build` command lines `seen`, those that build: `--call check` (preflight's
/// Dockerfile checks) evaluates the Dockerfile and builds nothing.
pub fn builds(seen: Vec<String>) -> Vec<String> {
    seen.into_iter().filter(|cmdline| !cmdline.contains("--call check")).collect()
}
