//! The lab's topology and the processes it starts, each behind a guard that removes it on
//! drop, so an error, a failing target or Ctrl-C (turned into an error by the caller) leaves
//! nothing behind.
//!
//! ```text
//!   P-gen           P-dut                               P-sink
//!   gen0 <-------> dut0   [device under test]   dut1 <-------> sink0
//!                  dead0 <-> dead1 (down: the dead end of `drop` by redirect)
//! ```
//!
//! Every link is created inside its namespace, never in the root namespace, and nothing
//! has an address, so no generated frame can leave the machine. A "holder" process sits in
//! the device's namespace with a mount namespace of its own in which bpffs is mounted: the
//! BPF emitters pin their programs and counters there, and all of it disappears with the
//! holder (no stale pins in the host's bpffs, whatever happens).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// MAC addresses as `scripts/lab-topology.sh` gives them.
const LINKS: [(&str, &str, &str, &str, &str, &str); 3] = [
    ("gen", "gen0", "02:00:00:00:00:01", "dut", "dut0", "02:00:00:00:01:00"),
    ("dut", "dut1", "02:00:00:00:01:01", "sink", "sink0", "02:00:00:00:00:02"),
    ("dut", "dead0", "02:00:00:00:0d:00", "dut", "dead1", "02:00:00:00:0d:01"),
];

/// An error that also says "the user asked to stop" so the caller can tell them apart.
pub const INTERRUPTED: &str = "interrupted";

/// Returns `Err(INTERRUPTED)` once the stop flag is set.
pub fn check_stop(stop: &AtomicBool) -> Result<(), String> {
    if stop.load(Ordering::Relaxed) {
        Err(INTERRUPTED.to_string())
    } else {
        Ok(())
    }
}

/// Sleeps, waking early (with `Err`) when the stop flag is set.
pub fn nap(duration: Duration, stop: &AtomicBool) -> Result<(), String> {
    let end = Instant::now() + duration;
    loop {
        check_stop(stop)?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs a command to its end; an error carries its stderr.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<Output, String> {
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{what}: cannot start: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        let err = String::from_utf8_lossy(&output.stderr);
        let out = String::from_utf8_lossy(&output.stdout);
        let text = if err.trim().is_empty() { out } else { err };
        Err(format!("{what}: {} ({})", last_lines(&text, 3), output.status))
    }
}

/// The last `n` non-empty lines of a text, joined by " | ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A started process: its own process group (so the terminal's Ctrl-C reaches only the lab,
/// which stops everything in order), output in a log file, killed on drop if still running.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr to `log` (or stdout to `stdout_to` when given).
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc, String> {
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        Ok(Proc { name: name.to_string(), child: Some(child), log: log.to_path_buf() })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Still running (not exited, not a zombie we have not reaped).
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        last_lines(&self.log_text(), 3)
    }

    /// Waits for the process to exit by itself, at most `limit`; the stop flag ends the wait.
    pub fn wait_exit(&mut self, limit: Duration, stop: &AtomicBool) -> Result<ExitStatus, String> {
        let end = Instant::now() + limit;
        loop {
            let child = self.child.as_mut().ok_or("already reaped")?;
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                return Ok(status);
            }
            check_stop(stop)?;
            if Instant::now() >= end {
                return Err(format!("{} did not finish within {:.0} s", self.name, limit.as_secs_f64()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGINT (how every tool here stops cleanly and prints its totals), then SIGKILL after
    /// `grace`. Returns the exit status.
    pub fn interrupt(&mut self, grace: Duration) -> Result<ExitStatus, String> {
        let Some(child) = self.child.as_mut() else { return Err(format!("{} already reaped", self.name)) };
        if child.try_wait().map_err(|e| e.to_string())?.is_none() {
            signal(child.id(), "INT");
            let end = Instant::now() + grace;
            while Instant::now() < end {
                if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let status = match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => status,
            None => {
                let _ = child.kill();
                child.wait().map_err(|e| e.to_string())?
            }
        };
        self.child = None;
        Ok(status)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                // Its whole process group: helpers such as `sh -c` may have children.
                signal_group(child.id(), "KILL");
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Sends a signal with kill(1) (no unsafe in this crate's lab).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

fn signal_group(pgid: u32, sig: &str) {
    let _ =
        Command::new("kill").arg(format!("-{sig}")).arg("--").arg(format!("-{pgid}")).stderr(Stdio::null()).status();
}

/// The three namespaces and their links; removed on drop.
pub struct Topology {
    pub prefix: String,
    created: Vec<String>,
    holder: Option<Proc>,
}

impl Topology {
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// Builds the topology. `log_dir` gets the holder's log.
    pub fn up(prefix: &str, log_dir: &Path) -> Result<Topology, String> {
        if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || prefix.is_empty() || prefix.len() > 20 {
            return Err(format!("bad topology prefix {prefix:?}"));
        }
        let mut topo = Topology { prefix: prefix.to_string(), created: Vec::new(), holder: None };
        for role in ["gen", "dut", "sink"] {
            let ns = topo.ns(role);
            if Path::new("/run/netns").join(&ns).exists() {
                return Err(format!("namespace {ns} exists already (another lab with the same prefix?)"));
            }
            run_checked(Command::new("ip").args(["netns", "add", &ns]), &format!("ip netns add {ns}"))?;
            topo.created.push(ns.clone());
            // No IPv6: no router solicitations, DAD or MLD, so counters see test traffic only.
            for key in ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"] {
                run_checked(
                    Command::new("ip").args(["netns", "exec", &ns, "sysctl", "-q", "-w", key]),
                    &format!("sysctl {key} in {ns}"),
                )?;
            }
            topo.ip(role, &["link", "set", "lo", "up"])?;
        }
        for (ns_a, a, mac_a, ns_b, b, mac_b) in LINKS {
            let (ns_a, ns_b) = (topo.ns(ns_a), topo.ns(ns_b));
            run_checked(
                Command::new("ip").args([
                    "link", "add", a, "netns", &ns_a, "address", mac_a, "type", "veth", "peer", "name", b, "netns",
                    &ns_b, "address", mac_b,
                ]),
                &format!("ip link add {a} type veth peer {b}"),
            )?;
        }
        // dead1 stays down: whatever is redirected into dead0 is dropped (and counted in
        // dead0's tx_dropped), the 2016 study's "copy to a dummy device".
        for (role, dev) in [("gen", "gen0"), ("dut", "dut0"), ("dut", "dut1"), ("dut", "dead0"), ("sink", "sink0")] {
            topo.ip(role, &["link", "set", dev, "up"])?;
        }
        for (role, dev) in [("gen", "gen0"), ("dut", "dut0"), ("dut", "dut1"), ("sink", "sink0")] {
            topo.wait_oper_up(role, dev)?;
        }
        let holder_log = log_dir.join(format!("{prefix}-holder.log"));
        let dut = topo.ns("dut");
        let holder = Proc::spawn(
            "bpffs holder",
            Command::new("ip").args([
                "netns",
                "exec",
                &dut,
                "sh",
                "-c",
                "mount -t bpf bpf /sys/fs/bpf && echo ready && exec sleep 86400",
            ]),
            &holder_log,
        )?;
        topo.holder = Some(holder);
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let holder = topo.holder.as_mut().ok_or("no holder")?;
            if holder.log_text().contains("ready") {
                break;
            }
            if !holder.alive() || Instant::now() > end {
                return Err(format!("cannot mount bpffs in {dut}: {}", holder.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(topo)
    }

    /// `ip -n NS ARGS...`.
    pub fn ip(&self, role: &str, args: &[&str]) -> Result<Output, String> {
        let ns = self.ns(role);
        run_checked(Command::new("ip").arg("-n").arg(&ns).args(args), &format!("ip -n {ns} {}", args.join(" ")))
    }

    /// A command run inside the namespace `role` (`ip netns exec`: its own /sys).
    pub fn exec(&self, role: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(role), program]);
        cmd
    }

    /// A command run in the device's namespace and in the holder's mount namespace (where
    /// bpffs is mounted and the pins of the BPF emitters live).
    pub fn exec_dut_pinned(&self, program: &str) -> Result<Command, String> {
        let pid = self.holder.as_ref().and_then(Proc::pid).ok_or("the bpffs holder is not running")?;
        let mut cmd = Command::new("nsenter");
        cmd.args(["--target", &pid.to_string(), "--mount", "--net", "--", program]);
        Ok(cmd)
    }

    /// Reads a file under the namespace's /sys or /proc (e.g. interface counters).
    pub fn read_in(&self, role: &str, path: &str) -> Result<String, String> {
        let out = run_checked(self.exec(role, "cat").arg(path), &format!("cat {path} in {}", self.ns(role)))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn counter(&self, role: &str, dev: &str, stat: &str) -> Result<u64, String> {
        let text = self.read_in(role, &format!("/sys/class/net/{dev}/statistics/{stat}"))?;
        text.parse().map_err(|_| format!("{dev} {stat}: not a number: {text:?}"))
    }

    /// Writes a sysfs file inside the namespace (its own /sys).
    pub fn write_sys(&self, role: &str, path: &str, value: &str) -> Result<(), String> {
        run_checked(
            self.exec(role, "sh").args(["-c", &format!("echo {value} > {path}")]),
            &format!("echo {value} > {path} in {}", self.ns(role)),
        )
        .map(drop)
    }

    fn wait_oper_up(&self, role: &str, dev: &str) -> Result<(), String> {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let state = self.read_in(role, &format!("/sys/class/net/{dev}/operstate"))?;
            if state == "up" {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(format!("{dev} in {} not up after 5 s (operstate {state})", self.ns(role)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether an XDP program is attached to `dev`.
    pub fn xdp_attached(&self, role: &str, dev: &str) -> bool {
        self.ip(role, &["-j", "link", "show", "dev", dev])
            .map(|out| String::from_utf8_lossy(&out.stdout).contains("\"xdp\""))
            .unwrap_or(false)
    }

    /// Removes everything: processes left in the namespaces, the holder (and with its
    /// mount namespace the bpffs pins), the namespaces (and with them every veth, tc filter
    /// and XDP program on them).
    fn down(&mut self) {
        for ns in &self.created {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).stderr(Stdio::null()).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).stderr(Stdio::null()).status();
                }
            }
        }
        self.holder = None;
        for ns in self.created.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).stderr(Stdio::null()).status();
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.down();
    }
}

/// Kernel threads named `napi/DEV-N` (threaded NAPI), as (pid, comm).
pub fn napi_threads(dev: &str) -> Vec<u32> {
    let want = format!("napi/{dev}-");
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return pids };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
            if comm.trim_end().starts_with(&want) {
                pids.push(pid);
            }
        }
    }
    pids.sort_unstable();
    pids
}

/// Turns on threaded NAPI for `dev` in the namespace and pins its new thread(s) to `core`.
/// The threads are told apart from same-named ones of other namespaces by appearing only
/// after the switch. Returns their pids (empty: none found, the caller says so).
///
/// With `realtime`, the threads run SCHED_FIFO (as softirq work would preempt any task):
/// on a shared machine a normal-priority NAPI thread waits behind other tasks while the veth's
/// ring overflows. Not for a thread that shares its core with a busy-polling worker, which it
/// would starve.
pub fn threaded_napi(topo: &Topology, role: &str, dev: &str, core: usize, realtime: bool) -> Result<Vec<u32>, String> {
    let before = napi_threads(dev);
    // GRO on keeps the veth's NAPI instance alive with or without an XDP program, so the
    // thread survives devices under test that come and go; it is also what lets the
    // live-frames generator's frames in (design.md section 5).
    run_checked(
        topo.exec(role, "ethtool").args(["-K", dev, "gro", "on"]),
        &format!("ethtool -K {dev} gro on in {}", topo.ns(role)),
    )?;
    topo.write_sys(role, &format!("/sys/class/net/{dev}/threaded"), "1")?;
    let end = Instant::now() + Duration::from_secs(2);
    let mut new: Vec<u32>;
    loop {
        new = napi_threads(dev).into_iter().filter(|p| !before.contains(p)).collect();
        if !new.is_empty() || Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in &new {
        run_checked(
            Command::new("taskset").args(["-pc", &core.to_string(), &pid.to_string()]),
            &format!("taskset -pc {core} {pid}"),
        )?;
        if realtime {
            run_checked(
                Command::new("chrt").args(["-f", "-p", "50", &pid.to_string()]),
                &format!("chrt -f -p 50 {pid}"),
            )?;
        } else {
            run_checked(
                Command::new("renice").args(["-n", super::targets::NICENESS, "-p", &pid.to_string()]),
                &format!("renice {pid}"),
            )?;
        }
    }
    Ok(new)
}
