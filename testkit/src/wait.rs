//! Names unique to one test, and waits for events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `{tag}{pid}n{count}`: unique to this process and call, so parallel tests (threads of one
/// test binary, or several binaries) never share a namespace or directory name.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}{}n{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Polls `done` every 20 ms until it holds (true) or `timeout` passes (false): a wait for an
/// event, not a timed assertion.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last core of the machine, as a `--cores` argument: the device under test's, so a
/// generator on core 0 does not share it (on one core they share).
pub fn last_core() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores - 1).to_string()
}
