//! What the lab reads: per-CPU time from /proc/stat, the CPU time and last CPU of threads
//! (/proc/PID/stat), exact per-thread CPU time (/proc/PID/task/TID/schedstat), and the
//! counters the tools print.
//!
//! Why schedstat: /proc/stat's busy fields and /proc/PID/stat's utime/stime are sampled at
//! the tick here (HZ 250, no IRQ time accounting), so bursty work aliases with the tick (a
//! NAPI thread that ran 13 % of a core by its own clock read 0 % in /proc/stat). schedstat's
//! first field is the task's time on a CPU in ns, kept by the scheduler at every switch.
//! Idle time comes from the tickless idle accounting, so a core's busy time is taken as the
//! wall window minus its idle time.

use serde_json::Value;

/// Clock ticks per second of /proc/stat and /proc/PID/stat (USER_HZ, 100 on Linux for
/// every architecture the kernel ships: it is part of the ABI).
pub const USER_HZ: f64 = 100.0;

/// One CPU's line of /proc/stat, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq + steal.
    pub busy: u64,
    /// Time in softirq (included in `busy`).
    pub softirq: u64,
    /// busy + idle + iowait.
    pub total: u64,
}

impl CpuTimes {
    /// The time from `earlier` to this reading.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            busy: self.busy.saturating_sub(earlier.busy),
            softirq: self.softirq.saturating_sub(earlier.softirq),
            total: self.total.saturating_sub(earlier.total),
        }
    }

    /// Busy time in ns (ticks at USER_HZ).
    pub fn busy_ns(&self) -> f64 {
        self.busy as f64 * 1e9 / USER_HZ
    }

    /// Busy time as a share of the total (0 when there is none).
    pub fn busy_fraction(&self) -> f64 {
        if self.total > 0 {
            self.busy as f64 / self.total as f64
        } else {
            0.0
        }
    }
}

/// Parses /proc/stat's `cpuN` lines, indexed by N.
pub fn parse_proc_stat(text: &str) -> Vec<CpuTimes> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next() else { continue };
        let Some(index) = name.strip_prefix("cpu").and_then(|n| n.parse::<usize>().ok()) else { continue };
        let v: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
        if cpus.len() <= index {
            cpus.resize(index + 1, CpuTimes::default());
        }
        cpus[index] = CpuTimes { busy, softirq: at(6), total: busy + at(3) + at(4) };
    }
    cpus
}

/// Every core's times now (empty when /proc/stat cannot be read).
pub fn read_proc_stat() -> Vec<CpuTimes> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
}

/// A thread's or process's CPU time (user + system, ticks) and the CPU it last ran on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskTimes {
    /// User plus system time, in clock ticks.
    pub ticks: u64,
    /// The CPU it last ran on.
    pub last_cpu: Option<usize>,
}

/// Parses /proc/PID/stat (fields after the command name, which may contain spaces).
pub fn parse_task_stat(text: &str) -> Option<TaskTimes> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is index 0: utime is field 14, stime 15, processor 39.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let last_cpu = fields.get(36).and_then(|f| f.parse().ok());
    Some(TaskTimes { ticks: utime + stime, last_cpu })
}

/// The task's times now (`None`: no such task).
pub fn read_task(pid: u32) -> Option<TaskTimes> {
    parse_task_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Time on CPU of a task (thread), in ns: the first field of /proc/PID/task/TID/schedstat
/// (or /proc/PID/schedstat for a thread given by its TID).
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Time on CPU of one thread (a NAPI kthread, ksoftirqd), in ns.
pub fn thread_ns(tid: u32) -> Option<u64> {
    parse_schedstat(&std::fs::read_to_string(format!("/proc/{tid}/schedstat")).ok()?)
}

/// Time on CPU of every thread of a process, in ns (threads that exited are not counted:
/// read before and after while the process lives).
pub fn process_ns(pid: u32) -> Option<u64> {
    process_ns_by_core(pid, usize::MAX).map(|(_, rest)| rest)
}

/// Like [`process_ns`], split in two: the threads allowed on `core` only (e.g. the
/// dataplane's control thread, which moves itself off the workers' cores), and the rest.
pub fn process_ns_by_core(pid: u32, core: usize) -> Option<(u64, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut on_core, mut rest) = (0, 0);
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        let ns = parse_schedstat(&text).unwrap_or(0);
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let allowed = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(str::trim);
        if allowed == Some(core.to_string().as_str()) {
            on_core += ns;
        } else {
            rest += ns;
        }
    }
    Some((on_core, rest))
}

/// The pid of the kernel thread named `name` exactly (e.g. `ksoftirqd/1`).
pub fn kthread(name: &str) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name) {
            return Some(pid);
        }
    }
    None
}

/// Idle time of each CPU in ns (/proc/stat idle + iowait, USER_HZ ticks: the kernel fills
/// them from its tickless idle accounting, not by sampling).
pub fn idle_ns() -> Vec<f64> {
    read_proc_stat().iter().map(|c| (c.total - c.busy) as f64 * 1e9 / USER_HZ).collect()
}

/// The value at a dotted path of the last JSON line in `text` that has it; with
/// `final_only`, only from lines with `"final": true`.
pub fn json_last(text: &str, path: &str, final_only: bool) -> Option<Value> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let Ok(obj) = serde_json::from_str::<Value>(line) else { continue };
        if final_only && obj.get("final") != Some(&Value::Bool(true)) {
            continue;
        }
        let mut cur = &obj;
        let mut ok = true;
        for part in path.split('.') {
            match cur.get(part) {
                Some(v) => cur = v,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            found = Some(cur.clone());
        }
    }
    found
}

/// testpmd's totals after SIGINT: "Accumulated forward statistics for all ports" then
/// `RX-packets: N  RX-dropped: N  RX-total: N` and `TX-packets: ...`.
pub fn testpmd_total(text: &str, which: &str) -> Option<u64> {
    let want = format!("{which}-packets:");
    let mut in_totals = false;
    for line in text.lines() {
        if line.contains("Accumulated forward statistics") {
            in_totals = true;
            continue;
        }
        if in_totals {
            let mut fields = line.split_whitespace();
            if fields.next() == Some(want.as_str()) {
                return fields.next()?.parse().ok();
            }
        }
    }
    None
}

/// A named counter of `ethtool -S` (e.g. veth's `rx_queue_0_xdp_packets`), summed over
/// every line whose name ends with `suffix` (one per queue).
pub fn ethtool_sum(text: &str, suffix: &str) -> Option<u64> {
    let mut sum = None;
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        if name.starts_with("rx_queue_") && name.ends_with(suffix) {
            if let Ok(v) = value.trim().parse::<u64>() {
                *sum.get_or_insert(0) += v;
            }
        }
    }
    sum
}

/// Packets through the clsact qdisc (`tc -s -j qdisc show dev DEV`): every frame that
/// entered tc ingress, i.e. was classified.
pub fn clsact_packets(json: &str) -> Option<u64> {
    let qdiscs: Value = serde_json::from_str(json).ok()?;
    qdiscs
        .as_array()?
        .iter()
        .find(|q| q.get("kind").and_then(Value::as_str) == Some("clsact"))?
        .get("packets")?
        .as_u64()
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_and_own_threads() {
        assert_eq!(parse_schedstat("123456789 42 7\n"), Some(123_456_789));
        assert_eq!(parse_schedstat(""), None);
        // This thread's clock grows while it spins. A running task's clock is brought up
        // to date at a tick or a switch: spin past a few ticks, then sleep so the thread is
        // switched out. (Not the whole process: other tests' threads come and go.)
        let own = || parse_schedstat(&std::fs::read_to_string("/proc/thread-self/schedstat").unwrap()).unwrap();
        let pid = std::process::id();
        assert!(process_ns(pid).unwrap() > 0);
        let a = own();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        // Other tests share the two cores: at least a sixth of the 30 ms is this thread's.
        assert!(own() >= a + 5_000_000, "30 ms of spinning shows");
        assert!(thread_ns(pid).unwrap() > 0);
        assert_eq!(idle_ns().len(), read_proc_stat().len());
    }

    #[test]
    fn proc_stat_lines() {
        let text = "cpu  10 0 5 100 1 0 2 0 0 0\ncpu0 4 0 2 50 1 0 1 0 0 0\ncpu1 6 1 3 50 0 1 1 1 0 0\nintr 1 2\n";
        let cpus = parse_proc_stat(text);
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0], CpuTimes { busy: 7, softirq: 1, total: 58 });
        assert_eq!(cpus[1], CpuTimes { busy: 13, softirq: 1, total: 63 });
        assert_eq!(cpus[1].since(&cpus[0]).busy, 6);
    }

    #[test]
    fn task_stat_with_spaces_in_name() {
        let mut text = String::from("42 (napi/dut 0-9) S 2 0 0 0 -1 2129984 0 0 0 0 7 13");
        for i in 0..30 {
            text.push_str(&format!(" {}", if i == 23 { 1 } else { 0 }));
        }
        let t = parse_task_stat(&text).unwrap();
        assert_eq!(t.ticks, 20);
        assert_eq!(t.last_cpu, Some(1));
    }

    #[test]
    fn testpmd_totals() {
        let log = "  RX-packets: 5 RX-dropped: 0\n  +++++ Accumulated forward statistics for all ports+++++\n  RX-packets: 3593067        RX-dropped: 42389         RX-total: 3635456\n  TX-packets: 12              TX-dropped: 0\n";
        assert_eq!(testpmd_total(log, "RX"), Some(3593067));
        assert_eq!(testpmd_total(log, "TX"), Some(12));
        assert_eq!(testpmd_total("nothing", "RX"), None);
    }

    #[test]
    fn json_lines() {
        let text = "noise\n{\"totals\":{\"rx\":5}}\n{\"final\":true,\"totals\":{\"rx\":9}}\n{\"totals\":{\"rx\":11}}\n";
        assert_eq!(json_last(text, "totals.rx", false), Some(Value::from(11)));
        assert_eq!(json_last(text, "totals.rx", true), Some(Value::from(9)));
        assert_eq!(json_last(text, "totals.tx", false), None);
    }

    #[test]
    fn ethtool_and_tc() {
        let text = "NIC statistics:\n     peer_ifindex: 2\n     rx_queue_0_xdp_packets: 17\n     rx_queue_1_xdp_packets: 3\n     rx_queue_0_xdp_drops: 4\n";
        assert_eq!(ethtool_sum(text, "_xdp_packets"), Some(20));
        assert_eq!(ethtool_sum(text, "_xdp_drops"), Some(4));
        let json = r#"[{"kind":"noqueue","packets":0},{"kind":"clsact","handle":"ffff:","packets":123,"drops":0}]"#;
        assert_eq!(clsact_packets(json), Some(123));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
