//! Test support: root checks, a veth lab topology that removes itself, child processes that
//! never outlive a test.

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub(crate) const DATAPLANE: &str = env!("CARGO_BIN_EXE_dataplane");

fn topology_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lab-topology.sh")
}

/// True when the test may touch the network. Not root: skip with a message, unless this is
/// CI, where a skipped network test would hide a failure.
pub(crate) fn require_root(test: &str) -> bool {
    // SAFETY-free: geteuid through libc is not needed; /proc tells the effective uid.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("1");
    if euid == "0" {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs root, and CI must run it: run the tests as root");
    }
    eprintln!("skipping {test}: needs root (veth, namespaces, XDP); run as root to include it");
    false
}

/// generator ns (gen0) <-> device under test ns (dut0, dut1) <-> sink ns (sink0), made by
/// scripts/lab-topology.sh and removed when dropped, also when the test panics.
pub(crate) struct Lab {
    pub prefix: String,
}

impl Lab {
    pub(crate) fn up(tag: &str) -> Lab {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("d{}{}{}", std::process::id() % 100_000, tag, NEXT.fetch_add(1, Ordering::Relaxed));
        let out = Command::new("bash")
            .arg(topology_script())
            .args(["up", &prefix])
            .output()
            .expect("running lab-topology.sh");
        assert!(out.status.success(), "lab-topology.sh up {prefix}: {}", String::from_utf8_lossy(&out.stderr));
        Lab { prefix }
    }

    pub(crate) fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// `ip netns exec NS program args...`
    pub(crate) fn command(&self, role: &str, program: &str, args: &[&str]) -> Command {
        netns_exec(&self.ns(role), program, args)
    }

    pub(crate) fn dataplane(&self, role: &str, args: &[&str]) -> Command {
        self.command(role, DATAPLANE, args)
    }

    /// Whether `iface` in namespace `role` has an XDP program attached.
    pub(crate) fn has_xdp(&self, role: &str, iface: &str) -> bool {
        let out = Command::new("ip").args(["-n", &self.ns(role), "link", "show", "dev", iface]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.contains(" xdp") || text.contains("prog/xdp")
    }

    /// Waits until `iface` has (or has not) an XDP program.
    pub(crate) fn wait_xdp(&self, role: &str, iface: &str, attached: bool, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.has_xdp(role, iface) == attached {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(topology_script()).args(["down", &self.prefix]).output();
    }
}

/// A child process killed when dropped (a failing test leaves nothing running).
pub(crate) struct Proc {
    child: Option<Child>,
    what: String,
}

impl Proc {
    pub(crate) fn spawn(mut cmd: Command, what: &str) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
        Proc { child: Some(child), what: what.to_string() }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub(crate) fn signal(&self, signal: i32) {
        // `ip netns exec` execs the program, so the pid is the dataplane's own.
        kill(self.pid(), signal);
    }

    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().unwrap().try_wait().unwrap()
    }

    /// Sends `signal` (unless 0), waits up to `timeout`, returns what the process printed.
    pub(crate) fn finish(mut self, signal: i32, timeout: Duration) -> Output {
        if signal != 0 {
            self.signal(signal);
        }
        let start = Instant::now();
        while self.exited().is_none() {
            if start.elapsed() > timeout {
                self.signal(libc::SIGKILL);
                let out = self.collect();
                panic!(
                    "{} did not exit within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.collect()
    }

    fn collect(&mut self) -> Output {
        let mut child = self.child.take().unwrap();
        let status = child.wait().unwrap();
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
        child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
        Output { status, stdout, stderr }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The last line of `output` that parses as a JSON object.
pub(crate) fn last_json(output: &str) -> serde_json::Value {
    output
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok().filter(|v| v.is_object()))
        .unwrap_or_else(|| panic!("no JSON line in:\n{output}"))
}

/// The core for the device under test: the last one (core 0 is the generator's).
pub(crate) fn dut_core() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores - 1).to_string()
}

/// Sends `signal` to `pid` with kill(1), so the tests need no unsafe code (unsafe lives in
/// umem, bpf, pmd and the checksum).
pub(crate) fn kill(pid: u32, signal: i32) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
}

/// `ip netns exec NS program args...`
pub(crate) fn netns_exec(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]).args(args);
    cmd
}

/// One `ethtool -S` counter of `dev` in namespace `ns` (veth counts XDP verdicts per
/// receive queue).
pub(crate) fn ethtool_counter(ns: &str, dev: &str, name: &str) -> u64 {
    let out = netns_exec(ns, "ethtool", &["-S", dev]).output().unwrap();
    let stats = text(&out.stdout);
    stats
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in ethtool -S {dev}:\n{stats}"))
        .parse()
        .unwrap()
}

/// [`ethtool_counter`] polled until it reaches `at_least` or `timeout` passes; the last value.
pub(crate) fn wait_ethtool_counter(ns: &str, dev: &str, name: &str, at_least: u64, timeout: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let value = ethtool_counter(ns, dev, name);
        if value >= at_least || start.elapsed() > timeout {
            return value;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scratch directory removed on drop: `dataplane-SUITE-PID-NAME` under the temp dir.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(suite: &str, name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("dataplane-{suite}-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `contents` to `name` in the directory.
    pub(crate) fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
