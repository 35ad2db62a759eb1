//! Test helpers: the root-or-skip rule, scratch directories, and throwaway network
//! namespaces with a veth pair, entered per thread with setns(2).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// True when the test may go on. Without root it skips (returns false) with a message,
/// unless `CI` is set: CI runs as root, so missing root there is a failure, not a skip.
pub(crate) fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs root (CAP_BPF, CAP_NET_ADMIN) and CI is set, so it must run");
    }
    eprintln!("skipping {test}: needs root");
    false
}

/// A process-unique suffix so parallel tests never share a name.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A directory under the system temp dir, removed on drop.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new(tag: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(unique(&format!("bpftest-{tag}")));
        std::fs::create_dir_all(&path).unwrap();
        ScratchDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command, panicking with its stderr if it fails; returns stdout.
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A network namespace of our own holding a veth pair `veth0` <-> `veth1`, both up.
/// Deleting the namespace on drop deletes the veths and anything attached to them.
pub(crate) struct TestNetns {
    name: String,
}

impl TestNetns {
    pub(crate) fn with_veth_pair() -> TestNetns {
        let netns = TestNetns { name: unique("bpftest") };
        run("ip", &["netns", "add", &netns.name]);
        // Created inside the namespace, so nothing ever appears in the root namespace.
        netns.ip(&["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"]);
        netns.ip(&["link", "set", "veth0", "up"]);
        netns.ip(&["link", "set", "veth1", "up"]);
        netns
    }

    /// `ip -n NAME args...`
    pub(crate) fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// Runs `f` on a thread that has entered this namespace, so ifindexes and attach
    /// calls refer to its interfaces. Only that thread moves; panics propagate.
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let handle = File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: setns on an open netns fd changes only this thread's namespace.
                    let ret = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(ret, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Polls `ip -d link show DEV` until `check` accepts it (up to 2 s), returning the
    /// last output. Detaching is not always visible at once: a concurrent test's fork can
    /// briefly hold a copy of our link fd until its exec closes it.
    pub(crate) fn wait_for_link_details(&self, dev: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let details = self.ip(&["-d", "link", "show", "dev", dev]);
            if check(&details) || Instant::now() > deadline {
                return details;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
