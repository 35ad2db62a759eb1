//! Test support shared by the tests, benches and fuzz targets of every crate (a
//! dev-dependency only, never shipped):
//!
//! - privilege and tool checks: [`require_root`], [`require_tool`] (skip with a message,
//!   but fail under `CI`, where a skipped test would hide a failure);
//! - guards that clean up on drop, also when the test panics: [`Netns`] (a network
//!   namespace with its veths), [`Lab`] (the three-namespace topology of
//!   `scripts/lab-topology.sh`), [`TempDir`], [`Proc`] (a child process);
//! - commands run inside a namespace ([`netns_exec`]) and the counters tests read there
//!   ([`ethtool_counter`]);
//! - [`frames`]: frame builders, written byte by byte without the `wire` crate so they are an
//!   independent reference for the code that parses them;
//!
//! The properties the fuzz targets check are in the crate beside this one, `testkit-fuzz`
//! (testkit/fuzz): they need most of the workspace, which a crate's own tests should not
//! build to get a root check.
//!
//! ```no_run
//! #[test]
//! fn xdp_attaches() {
//!     if !testkit::require_root("xdp_attaches") {
//!         return;
//!     }
//!     let netns = testkit::Netns::with_veth_pair("xa");
//!     netns.run(|| { /* veth0 and veth1 are this thread's interfaces */ });
//! } // the namespace, its veths and whatever was attached to them are gone here
//! ```
//!
//! No unsafe code: setns(2) goes through rustix, signals through kill(1).

pub mod frames;
mod lab;
mod netns;
mod process;
mod tempdir;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use lab::Lab;
pub use netns::{ethtool_counter, netns_exec, wait_ethtool_counter, Netns};
pub use process::{kill, run, text, Proc};
pub use tempdir::TempDir;

/// True when the test may touch the network (veth, namespaces, XDP, bpf(2)). Not root: the
/// test is skipped with a message, unless `CI` is set, where a skipped root test would hide
/// a failure.
pub fn require_root(test: &str) -> bool {
    if effective_uid_is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs root, and CI must run it: run the tests as root");
    }
    eprintln!("skipping {test}: needs root (veth, namespaces, XDP); run as root to include it");
    false
}

/// The effective uid from /proc, so no test needs unsafe `geteuid(2)`.
fn effective_uid_is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    // "Uid:" real, effective, saved, filesystem.
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1)) == Some("0")
}

/// Whether `program` is on PATH. Missing: the test is skipped with a message, unless `CI`
/// is set (scripts/ci-deps.sh installs every tool the tests use, so there it is a failure).
pub fn require_tool(test: &str, program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{test}: `{program}` is missing (scripts/ci-deps.sh installs it)");
        eprintln!("skipping {test}: `{program}` is not installed");
    }
    found
}

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
