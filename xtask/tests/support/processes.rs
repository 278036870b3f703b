//! Watching the machine's processes: what ran (a build that must not start, a password that must
//! never be in an argv), read from every process's command line while a run lives.

use std::time::Duration;

/// Command lines of running processes that contain every one of `needles`.
pub fn cmdlines_containing(needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if needles.iter().all(|needle| text.contains(needle)) {
                found.push(text);
            }
        }
    }
    found
}

/// Watches every process's command line while it lives, collecting those containing all `needles`.
pub struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Watch {
    pub fn start(needles: &[&str]) -> Watch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.extend(cmdlines_containing(&needles));
                    // One scan of /proc reads ~150 command lines (~3 ms): every 25 ms costs a
                    // tenth of a core, where every 10 ms took a quarter from the builds beside it.
                    // What the xtask spawns (docker, cosign, skopeo, trivy) lives far longer.
                    std::thread::sleep(Duration::from_millis(25));
                }
                seen
            })
        };
        Watch { stop, thread }
    }

    /// Stops watching and returns what was seen.
    pub fn finish(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Of the `buildx build` command lines `seen`, those that build: `--call check` (preflight's
/// Dockerfile checks) evaluates the Dockerfile and builds nothing.
pub fn builds(seen: Vec<String>) -> Vec<String> {
    seen.into_iter().filter(|cmdline| !cmdline.contains("--call check")).collect()
}
