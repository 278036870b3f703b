//! Independent work of a step side by side: the one fan-out of the pipeline. `each` runs a few at a
//! time (each read of a registry — a cosign verification, a manifest request — is a process that
//! mostly waits, so a re-release that only confirms what is already in place is bound by their
//! count, not by the machine); `all` starts every job at once, for work another scheduler paces
//! (the engine's builds, the smoke tests' containers, cargo's dependency reads).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use xshell::Shell;

/// How many run at once: enough to hide a registry's round trips, few enough not to look like a
/// flood to a busy one.
pub const WIDTH: usize = 4;

/// `check(sh, job)` for every job, at most `WIDTH` at a time, each thread on its own copy of the
/// shell; the results in the jobs' order.
pub fn each<J: Sync, T: Send>(sh: &Shell, jobs: &[J], check: impl Fn(&Shell, &J) -> T + Sync) -> Vec<T> {
    side_by_side(sh, jobs, WIDTH, check)
}

/// `check(sh, job)` for every job, all at once, each thread on its own copy of the shell; the
/// results in the jobs' order.
pub fn all<J: Sync, T: Send>(sh: &Shell, jobs: &[J], check: impl Fn(&Shell, &J) -> T + Sync) -> Vec<T> {
    side_by_side(sh, jobs, jobs.len(), check)
}

fn side_by_side<J: Sync, T: Send>(
    sh: &Shell,
    jobs: &[J],
    width: usize,
    check: impl Fn(&Shell, &J) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..width.min(jobs.len()) {
            let (sh, next, results, check) = (sh.clone(), &next, &results, &check);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let result = check(&sh, job);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran: a check that panicked has already ended the scope"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_and_results_keep_their_order() {
        let sh = Shell::new().unwrap();
        let jobs: Vec<usize> = (0..23).collect();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let results = each(&sh, &jobs, |_, job| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            job * 2
        });
        assert_eq!(results, jobs.iter().map(|j| j * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= WIDTH, "at most {WIDTH} at once");
        assert!(most.load(Ordering::SeqCst) > 1, "side by side, not one after another");
        assert!(each(&sh, &Vec::<usize>::new(), |_, j| *j).is_empty());
    }

    #[test]
    fn all_starts_every_job_at_once() {
        let sh = Shell::new().unwrap();
        let jobs: Vec<usize> = (0..WIDTH * 2 + 1).collect();
        let started = AtomicUsize::new(0);
        let results = all(&sh, &jobs, |_, job| {
            started.fetch_add(1, Ordering::SeqCst);
            // Every job waits until all have started: with fewer threads than jobs this never ends.
            while started.load(Ordering::SeqCst) < jobs.len() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            job + 1
        });
        assert_eq!(results, jobs.iter().map(|j| j + 1).collect::<Vec<_>>());
    }
}
