//! `dataplane lab` end to end (root): a tiny matrix over every target, an injected
//! failure that must leave no namespace, process or pinned object behind, and a lab killed
//! with `kill -9` that must leave nothing within 5 s.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{require_root, DATAPLANE};

const CONTRACT: &str = "target,rules,match,action,size,traffic,offered_pps,processed_pps,delivered_pps,delivered_gbps,loss_pct,dut_cpu_ns_per_pkt";
const TARGETS: [&str; 7] = ["dataplane", "tc-u32", "tc-flower", "tc-bpf", "tc-bpf-per-rule", "xdp", "dpdk-testpmd"];

/// One lab at a time: each pins its device to core 1 and runs testpmd, tc and XDP targets;
/// two at once on this 2-core machine slow each other down, and the kill test's 5 s are
/// about what the lab leaves, not about a machine busy with another lab.
fn one_lab_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LABS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LABS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn out_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lab-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Where the lab keeps its state files, and the variable that marks its processes (both
/// as lab/src says).
const REGISTRY: &str = "/run/dataplane-lab";
const MARK: &str = "DATAPLANE_LAB";

fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect()
}

/// Processes that belong to the lab with this prefix: marked as one of its topologies'
/// (`DATAPLANE_LAB=<prefix>p<N>` in their environment) or naming them on their command line.
fn lab_processes(prefix: &str) -> Vec<String> {
    let mark = format!("{MARK}={prefix}p");
    let mut found = Vec::new();
    for pid in pids() {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let marked = environ.split(|&b| b == 0).any(|var| var.starts_with(mark.as_bytes()));
        let args = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
            .replace('\0', " ");
        if marked || args.contains(&format!("{prefix}p")) {
            found.push(format!("process {pid}: {}", args.trim()));
        }
    }
    found
}

/// The namespaces, processes, files and bpffs pins a lab with this prefix could have left.
fn leftovers(prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    // The lab names no namespace any more; one named after it would be a regression.
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(prefix) {
                found.push(format!("namespace {name}"));
            }
        }
    }
    found.extend(lab_processes(prefix));
    let stem = format!("dataplane-lab-{prefix}-");
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&stem) {
                found.push(format!("work directory {}", entry.path().display()));
            }
        }
    }
    if Path::new(&format!("/var/run/dpdk/{prefix}-tp")).exists() {
        found.push(format!("/var/run/dpdk/{prefix}-tp"));
    }
    if let Ok(entries) = std::fs::read_dir(REGISTRY) {
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if text.lines().any(|l| l == format!("prefix {prefix}")) {
                found.push(format!("state file {}", entry.path().display()));
            }
        }
    }
    found
}

fn lab(prefix: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(DATAPLANE)
        .args(["lab", "--profile", "smoke", "--seconds", "0.3", "--prefix", prefix, "--out"])
        .arg(out)
        .args(extra)
        .env_remove("DATAPLANE_LAB_INJECT")
        .output()
        .expect("running dataplane lab")
}

fn csv_rows(out: &Path) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(out.join("results.csv")).expect("results.csv");
    let mut lines = text.lines();
    let header = lines.next().expect("a header").to_string();
    // No field the lab writes has a quote inside a number; split quoted reasons correctly.
    let rows = lines
        .map(|l| {
            let mut fields = Vec::new();
            let (mut cur, mut quoted) = (String::new(), false);
            for c in l.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                    _ => cur.push(c),
                }
            }
            fields.push(cur);
            fields
        })
        .collect();
    (header, rows)
}

#[test]
fn smoke_matrix_has_a_row_for_every_target_and_leaves_nothing() {
    if !require_root("smoke_matrix_has_a_row_for_every_target_and_leaves_nothing") {
        return;
    }
    let _one_lab = one_lab_at_a_time();
    let prefix = format!("lt{}", std::process::id() % 100_000);
    let out = out_dir("smoke");
    let result = lab(&prefix, &out, &[]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "dataplane lab failed: {stderr}");
    let (header, rows) = csv_rows(&out);
    assert!(header.starts_with(CONTRACT), "columns: {header}");
    let columns: Vec<&str> = header.split(',').collect();
    let status_at = columns.iter().position(|c| *c == "status").expect("a status column");
    let reason_at = columns.iter().position(|c| *c == "reason").expect("a reason column");
    for target in TARGETS {
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == target).collect();
        assert!(!mine.is_empty(), "no row for {target}");
        for row in mine {
            assert_eq!(row.len(), columns.len(), "{row:?}");
            let field = |name: &str| &row[columns.iter().position(|c| *c == name).expect(name)];
            match row[status_at].as_str() {
                "ok" => {
                    let offered: f64 = row[6].parse().expect("offered_pps");
                    assert!(offered > 0.0, "{target}: nothing offered: {row:?}");
                    assert_eq!(field("placement"), "dedicated", "the smoke profile is dedicated: {row:?}");
                    let work: f64 = field("dut_ns_per_pkt").parse().expect("dut_ns_per_pkt");
                    assert!(work > 0.0, "{target}: no device work measured: {row:?}");
                    let share: f64 = field("dut_core0_share").parse().expect("dut_core0_share");
                    assert!((0.0..=1.0).contains(&share), "{row:?}");
                    assert!(!field("limit").is_empty() && !field("offered_src").is_empty(), "{row:?}");
                }
                // Skipped only for what this machine lacks (tc flower) or what a target
                // cannot do (testpmd does not classify); never failed.
                "skipped" => assert!(!row[reason_at].is_empty(), "{target}: no reason: {row:?}"),
                other => panic!("{target}: status {other}: {row:?}"),
            }
        }
    }
    // The dataplane itself must have measured, in both comparisons.
    for action in ["drop", "fwd"] {
        let row = rows.iter().find(|r| r[0] == "dataplane" && r[3] == action).expect("a dataplane row");
        assert_eq!(row[status_at], "ok", "dataplane {action}: {row:?}");
    }
    for file in ["report.md", "results.json"] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).expect("results.json parses");
    assert!(json["rows"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_injected_failure_leaves_nothing_behind() {
    if !require_root("an_injected_failure_leaves_nothing_behind") {
        return;
    }
    let _one_lab = one_lab_at_a_time();
    // One target failing: the lab goes on, records the failure, cleans up.
    let prefix = format!("lf{}", std::process::id() % 100_000);
    let out = out_dir("fail");
    let result =
        lab(&prefix, &out, &["--targets", "tc-u32,dataplane", "--actions", "drop", "--inject-failure", "tc-u32"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let (_, rows) = csv_rows(&out);
    let row = rows.iter().find(|r| r[0] == "tc-u32").expect("a tc-u32 row");
    assert!(row.iter().any(|f| f == "failed"), "{row:?}");
    assert!(row.iter().any(|f| f.contains("injected failure")), "{row:?}");
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);

    // The whole lab failing in the middle of a target: everything goes anyway.
    let prefix = format!("la{}", std::process::id() % 100_000);
    let out = out_dir("abort");
    let result =
        lab(&prefix, &out, &["--targets", "dataplane", "--actions", "fwd", "--inject-failure", "dataplane:abort"]);
    assert!(!result.status.success(), "an abort must fail the lab");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("injected abort"), "{stderr}");
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);
}

/// A task seen while the lab ran: pid and start time (/proc/PID/stat field 22), so a pid
/// reused afterwards is not mistaken for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Task {
    pid: u32,
    start: u64,
    name: String,
}

/// (state, start time, policy) of a task, from /proc/PID/stat (proc(5): fields 3, 22, 41,
/// counted after the parenthesised name).
fn stat(pid: u32) -> Option<(char, u64, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some((fields[0].chars().next()?, fields[22 - 3].parse().ok()?, fields[41 - 3].parse().ok()?))
}

impl Task {
    fn of(pid: u32, name: &str) -> Option<Task> {
        Some(Task { pid, start: stat(pid)?.1, name: name.to_string() })
    }

    /// Still there and not a zombie (a zombie holds no namespace, file or priority).
    fn alive(&self) -> bool {
        stat(self.pid).is_some_and(|(state, start, _)| start == self.start && state != 'Z' && state != 'X')
    }

    fn policy(&self) -> Option<u32> {
        stat(self.pid).filter(|s| s.1 == self.start && s.0 != 'Z').map(|s| s.2)
    }
}

const SCHED_FIFO: u32 = 1;
const SCHED_RR: u32 = 2;

/// The holders (namespace-holding processes) and NAPI threads of the lab's state file.
fn registry_entries(lab_pid: u32) -> (Vec<Task>, Vec<Task>) {
    let text = std::fs::read_to_string(format!("{REGISTRY}/{lab_pid}")).unwrap_or_default();
    let (mut holders, mut napi) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        let task = |w: &[&str]| Task {
            pid: w[1].parse().unwrap(),
            start: w[2].parse().unwrap(),
            name: w.last().unwrap().to_string(),
        };
        match words[0] {
            "holder" => holders.push(task(&words)),
            "napi" => napi.push(task(&words)),
            _ => {}
        }
    }
    (holders, napi)
}

/// Every file under `dir` (bpffs pins), recursively, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap_or(&path).display().to_string());
            }
        }
    }
    found
}

/// Kills the lab if the test fails before it does, and runs `lab --clean` after it, so a
/// failing test leaves nothing either.
struct LabGuard(Child);

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = Command::new(DATAPLANE).args(["lab", "--clean"]).stderr(Stdio::null()).status();
    }
}

/// What a running lab had, looked at just before it was killed.
struct Seen {
    /// Its holders and every other process of it.
    processes: BTreeSet<Task>,
    /// The holders' network and mount namespaces (`net:[N]`, `mnt:[N]`).
    namespaces: BTreeSet<String>,
    /// NAPI threads it re-prioritised (of its veths, so they go with them).
    napi: Vec<Task>,
}

/// Whatever of `seen` (and of the prefix) still exists.
fn still_there(prefix: &str, seen: &Seen) -> Vec<String> {
    let mut left = Vec::new();
    for task in seen.processes.iter().filter(|t| t.alive()) {
        left.push(format!("process {} ({})", task.pid, task.name));
    }
    left.extend(lab_processes(prefix));
    // A namespace lives while a process is in it or holds a descriptor of it; it is never
    // bound in /run/netns (leftovers() checks that by name).
    for pid in pids() {
        for kind in ["net", "mnt"] {
            if let Ok(link) = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")) {
                if seen.namespaces.contains(&*link.to_string_lossy()) {
                    // What it is, so a failure says who outlived the lab.
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .ok()
                        .and_then(|s| {
                            s.rsplit_once(") ").map(|(_, rest)| rest.split(' ').take(2).collect::<Vec<_>>().join(" "))
                        })
                        .unwrap_or_default();
                    left.push(format!(
                        "{} still has process {pid} in it ({}; state, parent: {state})",
                        link.display(),
                        cmdline.trim()
                    ));
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for fd in fds.flatten() {
                if let Ok(link) = std::fs::read_link(fd.path()) {
                    if seen.namespaces.contains(&*link.to_string_lossy()) {
                        left.push(format!("{} held open by process {pid}", link.display()));
                    }
                }
            }
        }
    }
    // A NAPI thread exists as long as its veth: gone means the links are gone too.
    for napi in seen.napi.iter().filter(|t| t.alive()) {
        let policy = napi.policy();
        let realtime = matches!(policy, Some(SCHED_FIFO | SCHED_RR));
        left.push(format!(
            "{} ({}) still there, policy {policy:?}{}",
            napi.name,
            napi.pid,
            if realtime { " (real-time)" } else { "" }
        ));
    }
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                left.push(format!("namespace {}", entry.file_name().to_string_lossy()));
            }
        }
    }
    for pin in files_under(Path::new("/sys/fs/bpf")).into_iter().filter(|p| p.contains(prefix)) {
        left.push(format!("pin /sys/fs/bpf/{pin}"));
    }
    left
}

/// Starts a lab (`args` pick the target), waits until its namespaces exist and a trial is
/// running (a process of it whose command line has `running`), kills it with SIGKILL and
/// checks that within 5 s nothing of it is left, then that `lab --clean` removes the files
/// it could not (its private work directory and its state file).
fn kill_mid_trial(tag: &str, args: &[&str], running: &str, expect_pins: bool) {
    let prefix = format!("{tag}{}", std::process::id() % 100_000);
    let out = out_dir(tag);
    let log = std::env::temp_dir().join(format!("lab-test-{tag}-{}.stderr", std::process::id()));
    let child = Command::new(DATAPLANE)
        // Trials far longer than the test waits: the kill falls in the middle of one.
        .args(["lab", "--profile", "smoke", "--seconds", "30", "--prefix", &prefix, "--out"])
        .arg(&out)
        .args(args)
        .env_remove("DATAPLANE_LAB_INJECT")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting dataplane lab");
    let mut lab = LabGuard(child);
    let lab_pid = lab.0.id();
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();

    // Up: three holders of a point's topology recorded, and the trial's process running.
    // The trial's processes and their parents, read in one scan: a short-lived run of the
    // generator (its calibration) may end between two scans.
    let trial_processes = || -> Vec<(String, Option<u32>)> {
        let mut found = Vec::new();
        for pid in pids() {
            let args = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
                .replace('\0', " ");
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let ppid = text.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse().ok());
            if args.contains(running) && args.contains(&format!("{prefix}p")) {
                found.push((args, ppid));
            }
        }
        found
    };
    let end = Instant::now() + Duration::from_secs(90);
    let (holders, napi, trial) = loop {
        if let Some(status) = lab.0.try_wait().unwrap() {
            panic!("the lab ended ({status}) before it could be killed: {}", stderr());
        }
        let (holders, napi) = registry_entries(lab_pid);
        let point: Vec<Task> = holders.into_iter().filter(|h| h.name.starts_with(&format!("{prefix}p1-"))).collect();
        let trial = trial_processes();
        if point.len() == 3 && !trial.is_empty() {
            break (point, napi, trial);
        }
        assert!(Instant::now() < end, "no running trial of {prefix} after 90 s: {}", stderr());
        std::thread::sleep(Duration::from_millis(20));
    };
    // The death signal is set by setpriv and has to reach the program through nsenter,
    // nice, chrt and taskset: it does only if each of them execs, so the program is still
    // the lab's own child.
    for (args, ppid) in &trial {
        assert_eq!(*ppid, Some(lab_pid), "{args}: not the lab's child (a wrapper forked)");
    }
    let mut processes: BTreeSet<Task> = holders.iter().cloned().collect();
    for pid in pids() {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if environ.split(|&b| b == 0).any(|v| v.starts_with(format!("{MARK}={prefix}p").as_bytes())) {
            processes.extend(Task::of(pid, "marked"));
        }
    }
    let namespaces: BTreeSet<String> = holders
        .iter()
        .flat_map(|h| ["net", "mnt"].map(|k| std::fs::read_link(format!("/proc/{}/ns/{k}", h.pid))))
        .filter_map(|l| l.ok().map(|l| l.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(namespaces.len(), 6, "three network and three mount namespaces: {namespaces:?}");
    let dut = holders.iter().find(|h| h.name.ends_with("-dut")).expect("the device's holder");
    let pins = files_under(&PathBuf::from(format!("/proc/{}/root/sys/fs/bpf", dut.pid)));
    if expect_pins {
        assert!(!pins.is_empty(), "the BPF target pinned nothing in the device's bpffs");
    }
    let realtime: Vec<&Task> = napi.iter().filter(|t| t.policy() == Some(SCHED_FIFO)).collect();
    assert!(!realtime.is_empty(), "no SCHED_FIFO NAPI thread to see restored: {napi:?}");
    let seen = Seen { processes, namespaces, napi };

    lab.0.kill().expect("kill -9 the lab");
    let killed = Instant::now();
    let _ = lab.0.wait();
    let mut left = still_there(&prefix, &seen);
    while !left.is_empty() && killed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        left = still_there(&prefix, &seen);
    }
    assert_eq!(
        left,
        Vec::<String>::new(),
        "5 s after kill -9 of the lab, with {} pins, {} processes and NAPI threads {:?} seen",
        pins.len(),
        seen.processes.len(),
        seen.napi
    );
    eprintln!(
        "{tag}: {} processes, 6 namespaces, {} pins and {} NAPI threads gone {} ms after kill -9",
        seen.processes.len(),
        pins.len(),
        seen.napi.len(),
        killed.elapsed().as_millis()
    );

    // What only another run can remove: the work directory and the state file.
    let clean = Command::new(DATAPLANE).args(["lab", "--clean"]).output().expect("dataplane lab --clean");
    let said = String::from_utf8_lossy(&clean.stderr);
    assert!(clean.status.success(), "{said}");
    assert!(said.contains(&format!("({prefix})")), "--clean did not name the killed run: {said}");
    assert_eq!(leftovers(&prefix), Vec::<String>::new(), "after lab --clean: {said}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&log);
}

#[test]
fn a_lab_killed_with_sigkill_leaves_nothing_within_5_s() {
    if !require_root("a_lab_killed_with_sigkill_leaves_nothing_within_5_s") {
        return;
    }
    let _one_lab = one_lab_at_a_time();
    // A kernel target: the XDP program pinned in the device's bpffs, dut0's NAPI thread and
    // sink0's SCHED_FIFO, the generator running.
    kill_mid_trial("kx", &["--targets", "xdp", "--actions", "drop"], " gen --iface gen0", true);
    // A process target: the dataplane (SCHED_FIFO worker), the sink and the generator.
    kill_mid_trial("kd", &["--targets", "dataplane", "--actions", "fwd"], " gen --iface gen0", false);
}
