//! Test support shared by the tests, benches and fuzz targets of every crate (a
//! dev-dependency only): root checks, and more as the crates' own copies move here.

/// True when the test may touch the network (veth, namespaces, XDP). Not root: the test is
/// skipped with a message, unless `CI` is set, where a skipped root test would hide a failure.
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
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1)) == Some("0")
}
