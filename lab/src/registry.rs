//! What a lab run leaves on the machine, written down so that another run can take it away
//! when this one is killed (`kill -9`, a crash, a second Ctrl-C).
//!
//! Most of a run goes with its processes by itself: every child dies with the lab
//! (PR_SET_PDEATHSIG, [`super::topo::command`]), the namespaces exist only as long as the
//! holder processes inside them (they are never named in /run/netns), the bpffs with the pins
//! is mounted in a holder's private mount namespace, and the NAPI threads the lab re-prioritised
//! belong to veths that vanish with their namespace. What cannot go by itself is on disk: the
//! work directory and DPDK's run directory. A state file, `/run/dataplane-lab/<pid>`, lists
//! those, the holders (pid and start time, so a reused pid is never taken for one) and the
//! NAPI threads' scheduling before the lab changed it. `dataplane lab --clean`, and every lab
//! at start, clean up after each file whose lab is gone ([`clean`]).

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::private::{self, WORK_STEM};

/// Where the state files are (root's, mode 0700).
pub const DIR: &str = "/run/dataplane-lab";

/// A process or thread, told apart from a later one with the same pid by its start time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Its pid.
    pub pid: u32,
    /// /proc/PID/stat field 22 (clock ticks after boot).
    pub start: u64,
    /// For messages (a namespace's or thread's name).
    pub name: String,
}

impl Task {
    /// Whether this very task still exists (and has not exited).
    pub fn alive(&self) -> bool {
        read_stat(self.pid).is_some_and(|s| s.start == self.start && s.state != 'Z' && s.state != 'X')
    }
}

/// A NAPI thread's scheduling before the lab changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Napi {
    /// The thread.
    pub task: Task,
    /// SCHED_OTHER 0, SCHED_FIFO 1, SCHED_RR 2, SCHED_BATCH 3, SCHED_IDLE 5.
    pub policy: u32,
    /// Its real-time priority (0 for SCHED_OTHER).
    pub priority: u32,
    /// Its nice value.
    pub nice: i32,
    /// CPU list as /proc/PID/status's Cpus_allowed_list gives it, e.g. `0-1`.
    pub cpus: String,
}

/// What /proc/PID/stat says that the registry needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Its state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Its start time (field 22, clock ticks after boot).
    pub start: u64,
    /// Its nice value (field 19).
    pub nice: i32,
    /// Its real-time priority (field 40).
    pub priority: u32,
    /// Its scheduling policy (field 41).
    pub policy: u32,
}

/// Parses /proc/PID/stat (proc(5)): fields after the command name, which is in parentheses
/// and may itself hold spaces and parentheses (so split after the last ')').
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest starts at field 3 (state): field N is rest's (N - 3)th.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    Some(Stat {
        state: field(3)?.chars().next()?,
        nice: field(19)?.parse().ok()?,
        start: field(22)?.parse().ok()?,
        priority: field(40)?.parse().ok()?,
        policy: field(41)?.parse().ok()?,
    })
}

/// /proc/PID/stat of `pid` (`None`: no such task).
pub fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The task `pid` as it is now (`None`: no such task).
pub fn task(pid: u32, name: &str) -> Option<Task> {
    Some(Task { pid, start: read_stat(pid)?.start, name: name.to_string() })
}

/// The network namespace of a process, as its /proc/PID/ns/net link reads (`net:[INODE]`).
pub fn net_ns(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).ok().map(|p| p.to_string_lossy().into_owned())
}

/// The processes in a network namespace (given as [`net_ns`] reads it).
pub fn pids_in_net_ns(ns: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return pids };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if net_ns(pid).as_deref() == Some(ns) {
            pids.push(pid);
        }
    }
    pids
}

/// The state file of one lab run. Removed when the run ends normally (on drop).
pub struct Registry {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct State {
    lab: Option<Task>,
    prefix: String,
    work: Option<PathBuf>,
    dpdk: Option<PathBuf>,
    holders: Vec<Task>,
    napi: Vec<Napi>,
}

impl State {
    fn render(&self) -> String {
        let mut text = String::from(
            "# dataplane lab: what this run made; `dataplane lab --clean` (or the next lab) removes it once the run is gone\n",
        );
        if let Some(lab) = &self.lab {
            text.push_str(&format!("lab {} {}\n", lab.pid, lab.start));
        }
        text.push_str(&format!("prefix {}\n", self.prefix));
        if let Some(work) = &self.work {
            text.push_str(&format!("work {}\n", work.display()));
        }
        if let Some(dpdk) = &self.dpdk {
            text.push_str(&format!("dpdk {}\n", dpdk.display()));
        }
        for h in &self.holders {
            text.push_str(&format!("holder {} {} {}\n", h.pid, h.start, h.name));
        }
        for n in &self.napi {
            text.push_str(&format!(
                "napi {} {} {} {} {} {} {}\n",
                n.task.pid, n.task.start, n.policy, n.priority, n.nice, n.cpus, n.task.name
            ));
        }
        text
    }

    /// Reads what [`State::render`] wrote; lines it does not know are an error (a file from
    /// something else is left alone).
    fn parse(text: &str) -> Result<State, Error> {
        let mut state = State::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || Error::StateLine { line: i + 1, text: line.to_string() };
            let (key, rest) = line.split_once(' ').ok_or_else(bad)?;
            let mut words = rest.splitn(7, ' ');
            let mut num = || words.next().and_then(|w| w.parse::<u64>().ok()).ok_or_else(bad);
            match key {
                "lab" => {
                    let (pid, start) = (num()? as u32, num()?);
                    state.lab = Some(Task { pid, start, name: "lab".into() });
                }
                "prefix" => state.prefix = rest.to_string(),
                "work" => state.work = Some(PathBuf::from(rest)),
                "dpdk" => state.dpdk = Some(PathBuf::from(rest)),
                "holder" => {
                    let mut parts = rest.splitn(3, ' ');
                    let mut num = || parts.next().and_then(|w| w.parse::<u64>().ok()).ok_or_else(bad);
                    let (pid, start) = (num()? as u32, num()?);
                    let name = parts.next().unwrap_or("").to_string();
                    state.holders.push(Task { pid, start, name });
                }
                "napi" => {
                    let parts: Vec<&str> = rest.splitn(7, ' ').collect();
                    if parts.len() != 7 {
                        return Err(bad());
                    }
                    let n = |k: usize| parts[k].parse::<u64>().map_err(|_| bad());
                    state.napi.push(Napi {
                        task: Task { pid: n(0)? as u32, start: n(1)?, name: parts[6].to_string() },
                        policy: n(2)? as u32,
                        priority: n(3)? as u32,
                        nice: parts[4].parse().map_err(|_| bad())?,
                        cpus: parts[5].to_string(),
                    });
                }
                _ => return Err(bad()),
            }
        }
        Ok(state)
    }
}

/// Makes `dir` (mode 0700) or checks that the one there is a real directory of root's.
fn ensure_dir(dir: &Path) -> Result<(), Error> {
    let file = |source| Error::File { path: dir.to_path_buf(), source };
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(dir).map_err(file)?;
            if !meta.is_dir() || meta.uid() != 0 && meta.uid() != current_uid() {
                return Err(Error::NotOurDirectory { path: dir.to_path_buf() });
            }
            Ok(())
        }
        Err(e) => Err(file(e)),
    }
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}

impl Registry {
    /// Starts this run's state file in `dir` ([`DIR`] outside tests).
    pub fn create(dir: &Path, prefix: &str, work: &Path, dpdk: &Path) -> Result<Registry, Error> {
        ensure_dir(dir)?;
        let pid = std::process::id();
        let lab = task(pid, "lab").ok_or(Error::SelfUnreadable)?;
        let state = State {
            lab: Some(lab),
            prefix: prefix.to_string(),
            work: Some(work.to_path_buf()),
            dpdk: Some(dpdk.to_path_buf()),
            ..State::default()
        };
        let path = dir.join(pid.to_string());
        save(&path, &state)?;
        Ok(Registry { path, state: Mutex::new(state) })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn update(&self, change: impl FnOnce(&mut State)) -> Result<(), Error> {
        let mut state = self.state.lock().map_err(|_| Error::Internal { what: "the registry's lock is poisoned" })?;
        change(&mut state);
        save(&self.path, &state)
    }

    /// A namespace holder started (`name`: the namespace's name in messages).
    pub fn add_holder(&self, pid: u32, name: &str) -> Result<(), Error> {
        let task = task(pid, name).ok_or_else(|| Error::HolderGone { ns: name.to_string(), pid })?;
        self.update(|s| s.holders.push(task))
    }

    /// Namespace holders that are gone (their topology went down).
    pub fn remove_holders(&self, pids: &[u32]) {
        let _ = self.update(|s| s.holders.retain(|h| !pids.contains(&h.pid)));
    }

    /// Notes a NAPI thread's scheduling before the lab changes it.
    pub fn add_napi(&self, pid: u32) -> Result<(), Error> {
        let napi = read_napi(pid).ok_or(Error::NapiUnreadable { pid })?;
        self.update(|s| s.napi.push(napi))
    }
}

/// Writes the whole file anew: a fresh file renamed over the old one, so a reader (or a lab
/// killed half-way through a write) never sees half of it.
fn save(path: &Path, state: &State) -> Result<(), Error> {
    let fresh = path.with_extension("new");
    let _ = std::fs::remove_file(&fresh);
    private::write_file(&fresh, state.render().as_bytes())?;
    std::fs::rename(&fresh, path).map_err(|source| Error::File { path: path.to_path_buf(), source })
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn read_napi(pid: u32) -> Option<Napi> {
    let stat = read_stat(pid)?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?.trim_end().to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let cpus = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?.trim().to_string();
    Some(Napi {
        task: Task { pid, start: stat.start, name },
        policy: stat.policy,
        priority: stat.priority,
        nice: stat.nice,
        cpus,
    })
}

/// Kills a process unless it is gone (SIGKILL, with kill(1): no unsafe in the lab).
fn kill(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
}

/// Cleans up after every state file in `dir` whose lab is gone; returns one line per thing
/// removed or restored (and per problem). Files of running labs are left alone.
pub fn clean(dir: &Path) -> Vec<String> {
    let mut said = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return said };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else { continue };
        if name.ends_with(".new") {
            // A write the lab did not finish; the file it was to replace holds the state.
            let owner = name.trim_end_matches(".new").parse::<u32>().ok();
            if owner.is_none_or(|pid| read_stat(pid).is_none()) {
                let _ = std::fs::remove_file(&file);
            }
            continue;
        }
        if name.parse::<u32>().is_err() {
            continue;
        }
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                said.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        let state = match State::parse(&text) {
            Ok(state) => state,
            // At the line, as a compiler says it.
            Err(Error::StateLine { line, text }) => {
                said.push(format!("{}:{line}:1: cannot read {text:?} (left alone)", file.display()));
                continue;
            }
            Err(e) => {
                said.push(format!("{}: {e} (left alone)", file.display()));
                continue;
            }
        };
        if state.lab.as_ref().is_some_and(Task::alive) {
            continue;
        }
        said.extend(clean_run(&state));
        match std::fs::remove_file(&file) {
            Ok(()) => said.push(format!("removed {}", file.display())),
            Err(e) => said.push(format!("{}: {e}", file.display())),
        }
    }
    said
}

/// Removes what one dead run left.
fn clean_run(state: &State) -> Vec<String> {
    let run = match &state.lab {
        Some(lab) => format!("lab {} ({})", lab.pid, state.prefix),
        None => format!("lab {}", state.prefix),
    };
    let mut said = Vec::new();
    // The holders outlive the lab only if it died before their death signal was set (or
    // something kept them): everything in their namespaces goes, then they do, and with the
    // last of them the namespaces, their veths and the bpffs with the pins.
    let mut waiting = Vec::new();
    for holder in state.holders.iter().filter(|h| h.alive()) {
        if let Some(ns) = net_ns(holder.pid) {
            for pid in pids_in_net_ns(&ns).into_iter().filter(|&p| p != holder.pid) {
                kill(pid);
                said.push(format!("{run}: killed process {pid} left in {}", holder.name));
            }
        }
        kill(holder.pid);
        said.push(format!("{run}: killed the holder of {} ({})", holder.name, holder.pid));
        waiting.push(holder.clone());
    }
    let end = Instant::now() + Duration::from_secs(3);
    while waiting.iter().any(Task::alive) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A NAPI thread still there (its veth outlived the lab) gets its scheduling back.
    for napi in state.napi.iter().filter(|n| n.task.alive()) {
        let Some(now) = read_stat(napi.task.pid) else { continue };
        if (now.policy, now.priority, now.nice) == (napi.policy, napi.priority, napi.nice) {
            continue;
        }
        let pid = napi.task.pid.to_string();
        let policy = match napi.policy {
            1 => "-f",
            2 => "-r",
            3 => "-b",
            5 => "-i",
            _ => "-o",
        };
        let prio = napi.priority.to_string();
        let ok = [
            Command::new("chrt").args([policy, "-p", &prio, &pid]).status(),
            Command::new("renice").args(["-n", &napi.nice.to_string(), "-p", &pid]).stdout(Stdio::null()).status(),
            Command::new("taskset").args(["-pc", &napi.cpus, &pid]).stdout(Stdio::null()).status(),
        ]
        .iter()
        .all(|s| s.as_ref().is_ok_and(|s| s.success()));
        said.push(format!(
            "{run}: {} ({pid}) {} to policy {} priority {} nice {} cpus {}",
            napi.task.name,
            if ok { "restored" } else { "could not be fully restored" },
            napi.policy,
            napi.priority,
            napi.nice,
            napi.cpus
        ));
    }
    if let Some(work) = &state.work {
        said.extend(remove_tree(&run, work, |name| name.starts_with(WORK_STEM)));
    }
    if let Some(dpdk) = &state.dpdk {
        said.extend(remove_tree(&run, dpdk, |name| name.ends_with("-tp")));
    }
    said
}

/// Removes a directory the run made, if it is one (a symlink in its place is not followed,
/// and a name the lab would not have made is left alone).
fn remove_tree(run: &str, path: &Path, named_ok: impl Fn(&str) -> bool) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !meta.is_dir() || !named_ok(name) {
        return Some(format!("{run}: {} is not a directory the lab made: left alone", path.display()));
    }
    // remove_dir_all does not follow symlinks inside the tree either.
    Some(match std::fs::remove_dir_all(path) {
        Ok(()) => format!("{run}: removed {}", path.display()),
        Err(e) => format!("{run}: {}: {e}", path.display()),
    })
}

/// Namespaces named in /run/netns by labs before this registry existed
/// (`dl<PID>p<N>-gen|dut|sink`, the default prefix) whose lab is gone: their processes are
/// killed and the namespaces deleted.
pub fn clean_named_netns() -> Vec<String> {
    let mut said = Vec::new();
    let Ok(entries) = std::fs::read_dir("/run/netns") else { return said };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = old_lab_pid(&name) else { continue };
        if read_stat(pid).is_some() {
            continue;
        }
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &name]).stderr(Stdio::null()).output() {
            for p in String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()) {
                kill(p);
            }
        }
        let ok = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        said.push(if ok.is_ok_and(|s| s.success()) {
            format!("deleted namespace {name} (an older lab, pid {pid}, is gone)")
        } else {
            format!("namespace {name}: ip netns del failed")
        });
    }
    said
}

/// `dl<PID>p<N>-<role>` -> PID.
fn old_lab_pid(name: &str) -> Option<u32> {
    let (head, role) = name.rsplit_once('-')?;
    if !["gen", "dut", "sink"].contains(&role) {
        return None;
    }
    let (pid, point) = head.strip_prefix("dl")?.split_once('p')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(point)).then(|| pid.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::TempDir;

    /// A pid that no longer runs: a child that exited and was reaped.
    fn dead_task() -> Task {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = read_stat(pid).map(|s| s.start).unwrap_or(0);
        child.wait().unwrap();
        // Its start time, or 0 if it was gone before it could be read: either way no
        // task with this pid and start time exists any more.
        Task { pid, start, name: "gone".into() }
    }

    #[test]
    fn proc_stat_fields_are_read_after_the_command_name() {
        // A command name with a space and a parenthesis, as a process may choose.
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[0] = "S".into();
        fields[19 - 3] = "-15".into();
        let text = format!("1234 (a b) c) {}\n", fields.join(" "));
        let stat = parse_stat(&text).unwrap();
        assert_eq!(stat, Stat { state: 'S', start: 22, nice: -15, priority: 40, policy: 41 });
        let me = read_stat(std::process::id()).unwrap();
        assert!(me.start > 0 && me.state != 'Z');
    }

    #[test]
    fn state_files_read_back_what_they_say() {
        let state = State {
            lab: Some(Task { pid: 12, start: 34, name: "lab".into() }),
            prefix: "dl12".into(),
            work: Some(PathBuf::from("/tmp/dataplane-lab-dl12-abcdefghij")),
            dpdk: Some(PathBuf::from("/var/run/dpdk/dl12-tp")),
            holders: vec![Task { pid: 56, start: 78, name: "dl12p1-dut".into() }],
            napi: vec![Napi {
                task: Task { pid: 90, start: 91, name: "napi/dut0-8193".into() },
                policy: 0,
                priority: 0,
                nice: 0,
                cpus: "0-1".into(),
            }],
        };
        assert_eq!(State::parse(&state.render()).unwrap(), state);
        assert!(State::parse("holder x 1 a\n").is_err());
        assert!(State::parse("something else\n").is_err());
    }

    #[test]
    fn clean_removes_what_a_dead_run_left_and_keeps_a_live_runs_file() {
        let scratch = TempDir::new("lab", "clean");
        let states = scratch.path("state");
        std::fs::create_dir(&states).unwrap();
        // A dead run: its work directory (with a file in it) and a directory a symlink
        // points at, which must not be followed.
        let work = private::create_dir(scratch.dir(), "dl1").unwrap();
        std::fs::write(work.join("log"), "x").unwrap();
        let elsewhere = scratch.path("elsewhere-tp");
        std::fs::create_dir(&elsewhere).unwrap();
        let dpdk_link = scratch.path("dl1-tp");
        std::os::unix::fs::symlink(&elsewhere, &dpdk_link).unwrap();
        let dead = State {
            lab: Some(dead_task()),
            prefix: "dl1".into(),
            work: Some(work.clone()),
            dpdk: Some(dpdk_link.clone()),
            holders: vec![dead_task()],
            ..State::default()
        };
        std::fs::write(states.join("1"), dead.render()).unwrap();
        // A live run: this process.
        let live_work = private::create_dir(scratch.dir(), "dl2").unwrap();
        let live = Registry::create(&states, "dl2", &live_work, &scratch.path("dl2-tp")).unwrap();
        live.add_holder(std::process::id(), "not-a-holder").unwrap();

        let said = clean(&states);
        assert!(!work.exists(), "the dead run's work directory stayed: {said:?}");
        assert!(!states.join("1").exists(), "{said:?}");
        assert!(elsewhere.exists(), "a symlink was followed: {said:?}");
        assert!(said.iter().any(|l| l.contains("left alone")), "{said:?}");
        assert!(live.path().exists() && live_work.exists(), "a live run was cleaned: {said:?}");
        assert!(!said.iter().any(|l| l.contains("killed")), "{said:?}");
        drop(live);
        assert!(!states.join(std::process::id().to_string()).exists(), "the registry outlived its run");
    }

    #[test]
    fn old_named_namespaces_are_recognised_by_the_default_prefix_only() {
        assert_eq!(old_lab_pid("dl1234p3-dut"), Some(1234));
        assert_eq!(old_lab_pid("dl1234p0-sink"), Some(1234));
        assert_eq!(old_lab_pid("lt1234p3-dut"), None);
        assert_eq!(old_lab_pid("dl1234p3-other"), None);
        assert_eq!(old_lab_pid("dlxp3-gen"), None);
    }
}
