//! Real-time scheduling for a thread whose wake-ups must be on time: the link emulator's.
//!
//! The emulator releases packets at their due times; when the scheduler runs another thread
//! instead, the release is late, and on a rate-limited link a late read is capacity lost (the
//! link model sees queued arrivals only when the thread reads them). On a 2-core machine that
//! also runs the client, the server and a test suite, a normal-priority emulator thread was
//! measured 17 ms late, which cost a TCP transfer 18% of a 20 Mbit/s link. A `SCHED_FIFO`
//! thread (sched(7)) preempts every normal thread when it wakes up. It must sleep between its
//! turns; the kernel's real-time throttling (`sched_rt_runtime_us`, 95% by default) keeps even a
//! runaway loop from taking a whole core.

use std::io;

/// The `SCHED_FIFO` priority asked for: the lowest, above every normal thread and below the
/// kernel's own real-time threads.
const FIFO_PRIORITY: libc::c_int = 1;

/// Moves the calling thread to `SCHED_FIFO`. Fails with `EPERM` without root or
/// `CAP_SYS_NICE`; the thread then keeps its policy.
pub fn make_current_thread_realtime() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: FIFO_PRIORITY };
    // SAFETY: pid 0 names the calling thread, and `param` is a valid sched_param that outlives
    // the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> libc::c_int {
        // SAFETY: no arguments but the calling thread's pid 0.
        unsafe { libc::sched_getscheduler(0) }
    }

    /// With the permission the thread becomes SCHED_FIFO; without it the call fails with EPERM
    /// and the policy stays. CI runs as root, so there it must work.
    #[test]
    fn fifo_when_permitted_and_unchanged_otherwise() {
        std::thread::spawn(|| {
            let before = policy();
            match make_current_thread_realtime() {
                Ok(()) => assert_eq!(policy(), libc::SCHED_FIFO),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
                    assert_eq!(policy(), before);
                    assert!(
                        !std::env::var("CI").is_ok_and(|v| v == "true"),
                        "CI runs as root, so SCHED_FIFO must be allowed: {e}"
                    );
                    eprintln!("no permission for SCHED_FIFO here: {e}");
                }
            }
        })
        .join()
        .unwrap();
    }
}
