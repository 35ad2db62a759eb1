//! What a test needs before it can run: root, and the tools it calls.

use std::process::{Command, Stdio};

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
