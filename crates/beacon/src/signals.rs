//! SIGTERM/SIGINT handling without async-signal-safety hazards: the signals are blocked in the
//! main thread before any other thread exists (so every thread inherits the mask and none gets
//! them asynchronously), and one dedicated thread receives them synchronously with `sigwait`.
//! This matters as PID 1 in a container, where the kernel applies no default action to
//! SIGTERM/SIGINT: without this, `docker stop` would wait its full timeout and then SIGKILL.

use std::io;
use std::mem::MaybeUninit;
use std::thread::{self, JoinHandle};

/// SIGTERM and SIGINT, blocked in the calling thread (and the threads it spawns afterwards).
pub struct TerminationSignals {
    set: libc::sigset_t,
}

/// Blocks SIGTERM and SIGINT in the calling thread. Call it before spawning any thread: a
/// thread created earlier would keep them unblocked and could receive one with default action.
pub fn block_termination_signals() -> io::Result<TerminationSignals> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set, which sigaddset then only modifies; the pointers
    // are valid for the duration of each call.
    let set = unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGINT) != 0
        {
            return Err(io::Error::last_os_error());
        }
        set.assume_init()
    };
    // SAFETY: `set` is an initialised signal set; the old mask is not requested.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(TerminationSignals { set })
}

impl TerminationSignals {
    /// Spawns a thread that waits for the first of the signals and calls `on_signal` with it.
    /// Later signals stay blocked and pending, i.e. ignored.
    pub fn spawn_waiter<F>(self, on_signal: F) -> io::Result<JoinHandle<()>>
    where
        F: FnOnce(libc::c_int) + Send + 'static,
    {
        thread::Builder::new().name("beacon-signals".into()).stack_size(64 * 1024).spawn(move || match self.wait() {
            Ok(signal) => on_signal(signal),
            Err(e) => log!("waiting for signals failed: {e}; SIGTERM/SIGINT will be ignored"),
        })
    }

    fn wait(&self) -> io::Result<libc::c_int> {
        loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: both pointers are valid for the call; `set` is initialised.
            let rc = unsafe { libc::sigwait(&self.set, &mut signal) };
            match rc {
                0 => return Ok(signal),
                libc::EINTR => continue,
                _ => return Err(io::Error::from_raw_os_error(rc)),
            }
        }
    }
}

pub fn name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGINT), "SIGINT");
        assert_eq!(name(libc::SIGHUP), "signal");
    }
}
