//! Per-worker counters: each worker writes only its own (plain relaxed stores, no locked
//! instructions, each block on its own cache lines); the control thread reads and sums.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;
use serde_json::{json, Map, Value};

/// Why a frame was dropped. Every frame a worker receives is sent or dropped for one of
/// these reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// `--action drop`.
    Action,
    /// The transmit ring had no room.
    TxFull,
    /// Shorter than an Ethernet header.
    Runt,
    /// Forwarding had to copy to another UMEM and that UMEM had no free frame.
    NoFrame,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [DropReason::Action, DropReason::TxFull, DropReason::Runt, DropReason::NoFrame];
    pub const COUNT: usize = Self::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Action => "action",
            DropReason::TxFull => "tx_full",
            DropReason::Runt => "runt",
            DropReason::NoFrame => "no_frame",
        }
    }
}

/// A counter with one writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker calls this, so a load and a store suffice: no
    /// read-modify-write instruction, no contention.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one (worker, port queue).
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
}

/// Everything one worker counts.
#[derive(Debug)]
pub struct WorkerStats {
    pub core: Option<usize>,
    /// Indexed like the worker's port queues.
    pub queues: Vec<CachePadded<QueueCounters>>,
    /// Global port number of each queue.
    pub queue_ports: Vec<usize>,
    pub drops: CachePadded<[Counter; DropReason::COUNT]>,
}

impl WorkerStats {
    pub fn new(core: Option<usize>, queue_ports: Vec<usize>) -> WorkerStats {
        WorkerStats {
            core,
            queues: queue_ports.iter().map(|_| CachePadded::new(QueueCounters::default())).collect(),
            queue_ports,
            drops: CachePadded::new(Default::default()),
        }
    }

    #[inline]
    pub fn count_drop(&self, reason: DropReason, n: u64) {
        self.drops[reason as usize].add(n);
    }
}

/// A summed reading of every worker, taken by the control thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub ports: Vec<PortTotals>,
    pub workers: Vec<WorkerTotals>,
    pub drops: [u64; DropReason::COUNT],
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortTotals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerTotals {
    pub core: Option<usize>,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub drops: [u64; DropReason::COUNT],
}

impl Snapshot {
    pub fn take(workers: &[std::sync::Arc<WorkerStats>], port_count: usize) -> Snapshot {
        let mut snap = Snapshot { ports: vec![PortTotals::default(); port_count], ..Default::default() };
        for worker in workers {
            let mut totals = WorkerTotals { core: worker.core, ..Default::default() };
            for (queue, &port) in worker.queues.iter().zip(&worker.queue_ports) {
                let p = &mut snap.ports[port];
                p.rx_packets += queue.rx_packets.get();
                p.rx_bytes += queue.rx_bytes.get();
                p.tx_packets += queue.tx_packets.get();
                p.tx_bytes += queue.tx_bytes.get();
                totals.rx_packets += queue.rx_packets.get();
                totals.tx_packets += queue.tx_packets.get();
            }
            for reason in DropReason::ALL {
                let n = worker.drops[reason as usize].get();
                totals.drops[reason as usize] = n;
                snap.drops[reason as usize] += n;
            }
            snap.workers.push(totals);
        }
        snap
    }

    pub fn rx(&self) -> u64 {
        self.ports.iter().map(|p| p.rx_packets).sum()
    }

    pub fn tx(&self) -> u64 {
        self.ports.iter().map(|p| p.tx_packets).sum()
    }

    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }
}

pub fn drops_json(drops: &[u64; DropReason::COUNT]) -> Value {
    let mut map = Map::new();
    for reason in DropReason::ALL {
        map.insert(reason.name().to_string(), json!(drops[reason as usize]));
    }
    Value::Object(map)
}

/// Formats a rate as `1.23 Mpps` / `456.7 kpps` / `12 pps`.
pub fn format_pps(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.1} kpps", pps / 1e3)
    } else {
        format!("{pps:.0} pps")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn snapshot_sums_workers_per_port() {
        let a = Arc::new(WorkerStats::new(Some(0), vec![0, 1]));
        let b = Arc::new(WorkerStats::new(Some(1), vec![0, 1]));
        a.queues[0].rx_packets.add(10);
        b.queues[0].rx_packets.add(5);
        a.queues[1].tx_packets.add(9);
        a.count_drop(DropReason::TxFull, 1);
        b.count_drop(DropReason::Action, 5);
        let snap = Snapshot::take(&[a, b], 2);
        assert_eq!(snap.ports[0].rx_packets, 15);
        assert_eq!(snap.ports[1].tx_packets, 9);
        assert_eq!((snap.rx(), snap.tx(), snap.dropped()), (15, 9, 6));
        assert_eq!(snap.workers[1].drops[DropReason::Action as usize], 5);
        assert_eq!(drops_json(&snap.drops)["tx_full"], 1);
    }

    #[test]
    fn rates_read_well() {
        assert_eq!(format_pps(1_234_000.0), "1.23 Mpps");
        assert_eq!(format_pps(45_600.0), "45.6 kpps");
        assert_eq!(format_pps(12.0), "12 pps");
    }
}
