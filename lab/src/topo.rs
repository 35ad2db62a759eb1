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
//! has an address, so no generated frame can leave the machine.
//!
//! Nothing of a topology outlives the lab, even one killed with `kill -9`. Each namespace is
//! held by a "holder" process (`unshare --net --mount`, then `sleep`) and by nothing else: it
//! is never named in /run/netns, so it goes with the last process inside it. The holder has a
//! mount namespace of its own with the namespace's sysfs at /sys (what `ip netns exec` gives a
//! command), and the device's holder a bpffs at /sys/fs/bpf: the BPF emitters pin their
//! programs and counters there, and the pins go with the holder. Every process the lab
//! starts is killed when the lab dies ([`command`]: PR_SET_PDEATHSIG) and has a time limit of
//! its own; what must still be cleaned by another run is in [`super::registry`].

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::model::NICENESS;
use crate::private;
use crate::registry::{self, Registry};

/// The environment variable every process of a topology carries, set to the topology's
/// prefix, so a test (or a person) can find whatever of a lab is still running.
pub const MARK: &str = "DATAPLANE_LAB";

/// A command for a process the lab starts: `setpriv --pdeathsig KILL -- PROGRAM`. The parent
/// death signal (PR_SET_PDEATHSIG, prctl(2)) kills it the moment the lab dies, however it
/// dies; it survives execve, and every wrapper the lab puts in front of a program (nsenter
/// without --fork or a PID namespace, unshare without --fork, nice, chrt, taskset, prlimit,
/// stdbuf, `sh -c '... exec sleep'`) execs rather than forks, so the program itself keeps
/// it. setpriv(1) sets it without unsafe code in this crate (a `pre_exec` would need some).
/// It is tied to the thread that spawned the child: the lab spawns from its main thread
/// only. A lab killed in the instant between the fork and setpriv's prctl leaves an orphan;
/// each long-running child has its own time limit for that case, and `lab --clean` kills
/// holders left so.
pub fn command(mark: &str, program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--pdeathsig", "KILL", "--", program]).env(MARK, mark);
    cmd
}

/// MAC addresses as `scripts/lab-topology.sh` gives them.
const LINKS: [(&str, &str, &str, &str, &str, &str); 3] = [
    ("gen", "gen0", "02:00:00:00:00:01", "dut", "dut0", "02:00:00:00:01:00"),
    ("dut", "dut1", "02:00:00:00:01:01", "sink", "sink0", "02:00:00:00:00:02"),
    ("dut", "dead0", "02:00:00:00:0d:00", "dut", "dead1", "02:00:00:00:0d:01"),
];

/// Returns [`Error::Interrupted`] once the stop flag is set.
pub fn check_stop(stop: &AtomicBool) -> Result<(), Error> {
    if stop.load(Ordering::Relaxed) {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// Sleeps, waking early (with `Err`) when the stop flag is set.
pub fn nap(duration: Duration, stop: &AtomicBool) -> Result<(), Error> {
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
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<Output, Error> {
    let output = cmd.stdin(Stdio::null()).output().map_err(|source| Error::Spawn { what: what.to_string(), source })?;
    if output.status.success() {
        Ok(output)
    } else {
        let err = String::from_utf8_lossy(&output.stderr);
        let out = String::from_utf8_lossy(&output.stdout);
        let text = if err.trim().is_empty() { out } else { err };
        Err(Error::Command { what: what.to_string(), status: output.status, output: last_lines(&text, 3) })
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
    /// For messages.
    pub name: String,
    child: Option<Child>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr to `log` (or stdout to `stdout_to` when given).
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Proc, Error> {
        let file = |source| Error::File { path: log.to_path_buf(), source };
        let out = private::create_file(log).map_err(file)?;
        let err = out.try_clone().map_err(file)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn { what: name.to_string(), source })?;
        Ok(Proc { name: name.to_string(), child: Some(child), log: log.to_path_buf() })
    }

    /// Its pid, until it is reaped.
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

    /// All it has printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        last_lines(&self.log_text(), 3)
    }

    /// Waits for the process to exit by itself, at most `limit`; the stop flag ends the wait.
    pub fn wait_exit(&mut self, limit: Duration, stop: &AtomicBool) -> Result<ExitStatus, Error> {
        let end = Instant::now() + limit;
        loop {
            let child = self.child.as_mut().ok_or_else(|| Error::Reaped { name: self.name.clone() })?;
            if let Some(status) = child.try_wait().map_err(|source| self.wait_error(source))? {
                self.child = None;
                return Ok(status);
            }
            check_stop(stop)?;
            if Instant::now() >= end {
                return Err(Error::Timeout { name: self.name.clone(), seconds: limit.as_secs_f64() });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGINT (how every tool here stops cleanly and prints its totals), then SIGKILL after
    /// `grace`. Returns the exit status.
    pub fn interrupt(&mut self, grace: Duration) -> Result<ExitStatus, Error> {
        let name = self.name.clone();
        let wait_error = |source| Error::System { what: format!("waiting for {name}"), source };
        let Some(child) = self.child.as_mut() else { return Err(Error::Reaped { name: self.name.clone() }) };
        if child.try_wait().map_err(wait_error)?.is_none() {
            signal(child.id(), "INT");
            let end = Instant::now() + grace;
            while Instant::now() < end {
                if child.try_wait().map_err(wait_error)?.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let status = match child.try_wait().map_err(wait_error)? {
            Some(status) => status,
            None => {
                let _ = child.kill();
                child.wait().map_err(wait_error)?
            }
        };
        self.child = None;
        Ok(status)
    }

    fn wait_error(&self, source: std::io::Error) -> Error {
        Error::System { what: format!("waiting for {}", self.name), source }
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

/// The three namespaces, their holders and links; removed on drop.
pub struct Topology {
    /// Every namespace's name starts with it.
    pub prefix: String,
    /// (role, holder), in the order they were made.
    holders: Vec<(&'static str, Proc)>,
    registry: Arc<Registry>,
}

/// The namespaces' roles; the device's holder also mounts the bpffs.
const ROLES: [&str; 3] = ["gen", "dut", "sink"];

impl Topology {
    /// The namespace's name, for messages (namespaces are not named in /run/netns).
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// A command for a process of this topology (see [`command`]).
    pub fn command(&self, program: &str) -> Command {
        command(&self.prefix, program)
    }

    fn holder_pid(&self, role: &str) -> Option<u32> {
        self.holders.iter().find(|(r, _)| *r == role).and_then(|(_, p)| p.pid())
    }

    /// Builds the topology: holders that live at most `lifetime` (the point's longest
    /// possible run: an orphan ends by itself), recorded in `registry`. `log_dir` gets their
    /// logs.
    pub fn up(prefix: &str, log_dir: &Path, lifetime: Duration, registry: Arc<Registry>) -> Result<Topology, Error> {
        if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || prefix.is_empty() || prefix.len() > 20 {
            return Err(Error::BadTopologyPrefix { prefix: prefix.to_string() });
        }
        let mut topo = Topology { prefix: prefix.to_string(), holders: Vec::new(), registry };
        let seconds = lifetime.as_secs().max(1);
        for role in ROLES {
            let ns = topo.ns(role);
            // ip netns exec's /sys: the sysfs of the new network namespace (the old one
            // detached, as it does).
            let bpffs = if role == "dut" { " && mount -t bpf bpf /sys/fs/bpf" } else { "" };
            let script = format!(
                "umount -l /sys 2>/dev/null; mount -t sysfs sysfs /sys{bpffs} && echo ready && exec sleep {seconds}"
            );
            let mut cmd = topo.command("unshare");
            cmd.args(["--net", "--mount", "--propagation", "private", "--", "sh", "-c", &script]);
            let mut holder = Proc::spawn(&format!("{ns} holder"), &mut cmd, &log_dir.join(format!("{ns}-holder.log")))?;
            let pid = holder.pid().ok_or(Error::Internal { what: "a namespace holder without a pid" })?;
            topo.registry.add_holder(pid, &ns)?;
            let end = Instant::now() + Duration::from_secs(10);
            while !holder.log_text().contains("ready") {
                if !holder.alive() || Instant::now() > end {
                    return Err(Error::Namespace { ns, log_tail: holder.log_tail() });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            topo.holders.push((role, holder));
            // No IPv6: no router solicitations, DAD or MLD, so counters see test traffic only.
            for key in ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"] {
                run_checked(topo.exec(role, "sysctl").args(["-q", "-w", key]), &format!("sysctl {key} in {ns}"))?;
            }
            topo.ip(role, &["link", "set", "lo", "up"])?;
        }
        for (ns_a, a, mac_a, ns_b, b, mac_b) in LINKS {
            // `netns PID`: created straight in the holders' namespaces.
            let no_holder = || Error::Internal { what: "a link between namespaces without a holder" };
            let pid_a = topo.holder_pid(ns_a).ok_or_else(no_holder)?.to_string();
            let pid_b = topo.holder_pid(ns_b).ok_or_else(no_holder)?.to_string();
            run_checked(
                topo.command("ip").args([
                    "link", "add", a, "netns", &pid_a, "address", mac_a, "type", "veth", "peer", "name", b, "netns",
                    &pid_b, "address", mac_b,
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
        Ok(topo)
    }

    /// `ip ARGS...` in the namespace `role`.
    pub fn ip(&self, role: &str, args: &[&str]) -> Result<Output, Error> {
        run_checked(self.exec(role, "ip").args(args), &format!("ip {} in {}", args.join(" "), self.ns(role)))
    }

    /// A command run inside the namespace `role` and its holder's mount namespace (its own
    /// /sys; in the device's, the bpffs where the BPF emitters' pins live).
    pub fn exec(&self, role: &str, program: &str) -> Command {
        // No holder (a bug): pid 0, which nsenter refuses with a message.
        let pid = self.holder_pid(role).unwrap_or(0);
        let mut cmd = self.command("nsenter");
        cmd.args(["--target", &pid.to_string(), "--net", "--mount", "--", program]);
        cmd
    }

    /// Reads a file under the namespace's /sys or /proc (e.g. interface counters), as a `T`.
    pub fn read_in<T: FromStr>(&self, role: &str, path: &str) -> Result<T, Error> {
        let out = run_checked(self.exec(role, "cat").arg(path), &format!("cat {path} in {}", self.ns(role)))?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        text.parse().map_err(|_| Error::NotANumber { what: format!("{path} in {}", self.ns(role)), text })
    }

    /// An interface counter of `/sys/class/net/DEV/statistics/`.
    pub fn counter(&self, role: &str, dev: &str, stat: &str) -> Result<u64, Error> {
        self.read_in(role, &format!("/sys/class/net/{dev}/statistics/{stat}"))
    }

    /// Writes a sysfs file inside the namespace (its own /sys).
    pub fn write_sys(&self, role: &str, path: &str, value: &str) -> Result<(), Error> {
        run_checked(
            self.exec(role, "sh").args(["-c", &format!("echo {value} > {path}")]),
            &format!("echo {value} > {path} in {}", self.ns(role)),
        )
        .map(drop)
    }

    fn wait_oper_up(&self, role: &str, dev: &str) -> Result<(), Error> {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let state: String = self.read_in(role, &format!("/sys/class/net/{dev}/operstate"))?;
            if state == "up" {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(Error::LinkDown { dev: dev.to_string(), ns: self.ns(role), operstate: state });
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

    /// Removes everything: processes left in the namespaces, then the holders, and with
    /// them the namespaces (every veth, tc filter and XDP program on them) and the bpffs
    /// with the pins.
    fn down(&mut self) {
        for (_, holder) in &self.holders {
            let Some(pid) = holder.pid() else { continue };
            if let Some(ns) = registry::net_ns(pid) {
                for other in registry::pids_in_net_ns(&ns).into_iter().filter(|&p| p != pid) {
                    signal(other, "KILL");
                }
            }
        }
        let pids: Vec<u32> = self.holders.iter().filter_map(|(_, h)| h.pid()).collect();
        self.holders.clear();
        self.registry.remove_holders(&pids);
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
pub fn threaded_napi(topo: &Topology, role: &str, dev: &str, core: usize, realtime: bool) -> Result<Vec<u32>, Error> {
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
        // What it was, so that `lab --clean` can give it back if its veth outlives the lab.
        topo.registry.add_napi(*pid)?;
        run_checked(
            topo.command("taskset").args(["-pc", &core.to_string(), &pid.to_string()]),
            &format!("taskset -pc {core} {pid}"),
        )?;
        if realtime {
            run_checked(
                topo.command("chrt").args(["-f", "-p", "50", &pid.to_string()]),
                &format!("chrt -f -p 50 {pid}"),
            )?;
        } else {
            run_checked(
                topo.command("renice").args(["-n", NICENESS, "-p", &pid.to_string()]),
                &format!("renice {pid}"),
            )?;
        }
    }
    Ok(new)
}
