//! A poll-mode worker: one thread, pinned to one core, running its port queues to
//! completion in bursts. No allocation, no locks, no system calls but the AF_XDP wakeups
//! inside the ports. What it does with each burst is its forwarding engine's business
//! ([`crate::engines`]); the worker receives, counts, idles and accounts for its frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pmd::Umems;
use pmd::BURST;
use umem::Frame;

pub use crate::engines::Action;
use crate::engines::ForwardingEngine;
pub use crate::queues::PortQueue;
use crate::queues::{Queues, Received};
use crate::stats::{DropReason, FrameReport, WorkerStats};

/// The environment variable of the test-only fault injection: `DATAPLANE_TEST_PANIC_WORKER=N`
/// makes worker N panic right after its first burst of frames, so tests can check that a
/// dying worker stops `run` with an error and detaches everything. Not a flag, so it stays
/// out of `--help`; nothing but tests sets it.
pub const PANIC_WORKER_ENV: &str = "DATAPLANE_TEST_PANIC_WORKER";

/// What a worker does after a poll that found nothing (`run --idle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IdlePolicy {
    /// Poll again at once (DPDK's way): lowest latency, the core stays 100 % busy.
    #[default]
    Busy,
    /// Sleep this long, giving the core away: for a worker that shares its core with the
    /// kernel's receive work (a veth's threaded NAPI), which fills the rx ring meanwhile.
    Sleep(std::time::Duration),
}

/// One worker: its port queues, the UMEMs their frames live in, its engine and counters.
pub struct Worker {
    /// The queues it polls, in order.
    pub queues: Vec<PortQueue>,
    /// The UMEMs (and pools) of its queues' frames.
    pub umems: Umems,
    /// Its counters, read by the control thread.
    pub stats: Arc<WorkerStats>,
    engine: Box<dyn ForwardingEngine>,
    burst: Vec<Frame>,
    /// Scratch for forwarding across UMEMs.
    copies: Vec<Frame>,
    idle: IdlePolicy,
    /// Test-only fault injection (see [`crate::worker::PANIC_WORKER_ENV`]).
    panic_after_first_burst: bool,
}

impl Worker {
    /// A worker polling `queues` (their frames in `umems`), handing every burst to `engine`
    /// (built for these queues: `stats.queue_ports` are their ports) and counting in `stats`.
    pub fn new(
        queues: Vec<PortQueue>,
        umems: Umems,
        engine: Box<dyn ForwardingEngine>,
        stats: Arc<WorkerStats>,
    ) -> Worker {
        Worker {
            queues,
            umems,
            stats,
            engine,
            burst: Vec::with_capacity(BURST),
            copies: Vec::with_capacity(BURST),
            idle: IdlePolicy::Busy,
            panic_after_first_burst: false,
        }
    }

    /// Test-only: panic right after the first burst of frames (how tests make a worker die;
    /// `run` sets it from [`crate::worker::PANIC_WORKER_ENV`]).
    pub fn panic_after_first_burst(mut self) -> Worker {
        self.panic_after_first_burst = true;
        self
    }

    /// How the worker waits when a poll finds nothing.
    pub fn with_idle(mut self, idle: IdlePolicy) -> Worker {
        self.idle = idle;
        self
    }

    /// Polls until `stop` is set, or until every queue's input is exhausted (capture files)
    /// and everything sent has left; then hands every frame back.
    pub fn run(mut self, stop: &AtomicBool) {
        if let Some(core) = self.stats.core {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                eprintln!("worker: could not pin to core {core}; running unpinned");
            }
        }
        if let IdlePolicy::Sleep(_) = self.idle {
            // Sleeps of some microseconds: the default 50 µs timer slack would double them.
            pmd::sched::set_timer_slack_ns(1_000);
        }
        // Busy-poll accounting (VPP's vectors per call and clocks per packet): the time of
        // polls that found work, and how many there were.
        let stats = self.stats.clone();
        let busy = &stats.busy;
        let mut polls = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let start = std::time::Instant::now();
            let received = self.poll_once();
            polls += 1;
            if polls >= 1024 {
                busy.polls.add(polls);
                polls = 0;
                // Under steady traffic the idle path below never runs: collect here too.
                self.collect_bad_descs();
            }
            if received > 0 {
                if self.panic_after_first_burst {
                    panic!("injected by {} after a burst of {received} frame(s)", crate::worker::PANIC_WORKER_ENV);
                }
                busy.busy_ns.add(start.elapsed().as_nanos() as u64);
                busy.busy_polls.add(1);
                busy.busy_frames.add(received as u64);
                continue;
            }
            self.idle();
            if self.finished() {
                break;
            }
            match self.idle {
                IdlePolicy::Busy => std::hint::spin_loop(),
                IdlePolicy::Sleep(pause) => std::thread::sleep(pause),
            }
        }
        busy.polls.add(polls);
        self.finish();
    }

    /// One pass over every queue: receive a burst, count it, hand it to the engine. Returns
    /// the frames received.
    #[inline]
    pub fn poll_once(&mut self) -> usize {
        let mut received = 0;
        for index in 0..self.queues.len() {
            let pool = &mut self.umems.slots[self.queues[index].slot].pool;
            let n = self.queues[index].port.rx_burst(pool, &mut self.burst, BURST);
            if n == 0 {
                continue;
            }
            received += n;
            let counters = &self.stats.queues[index];
            counters.rx_packets.add(n as u64);
            let tally = crate::queues::tally_received(pool, &self.burst);
            counters.rx_bytes.add(tally.bytes);
            if tally.multi > 0 {
                counters.rx_mb.add(tally.multi);
            }
            let received = Received { frames: n, tally };
            let mut queues = Queues::new(&mut self.queues, &mut self.umems, &self.stats, &mut self.copies, received);
            self.engine.forward(&mut self.burst, index, &mut queues);
            debug_assert!(self.burst.is_empty(), "the engine accounts for every frame of the burst");
        }
        received
    }

    fn idle(&mut self) {
        // A reload is taken here too, not only at the next burst: a worker without traffic
        // would otherwise hold the old table (and its memory) for ever.
        self.engine.idle();
        for queue in &mut self.queues {
            queue.port.poll(&mut self.umems.slots[queue.slot].pool);
        }
        self.collect_bad_descs();
    }

    /// Counts the descriptors the ports refused since the last call (off the per-burst
    /// path: when idle, every 1024 polls, at exit). A refused rx descriptor is a frame the
    /// kernel says it received: it counts as received and dropped (`bad_desc`), so
    /// rx = tx + drops still holds.
    fn collect_bad_descs(&mut self) {
        for (index, queue) in self.queues.iter_mut().enumerate() {
            let bad = queue.port.take_bad_descs();
            if bad == pmd::BadDescCount::default() {
                continue;
            }
            let counters = &self.stats.queues[index];
            counters.rx_packets.add(bad.rx + bad.mb_incomplete + bad.mb_too_many);
            counters.bad_desc.add(bad.rx);
            counters.bad_completion.add(bad.completion);
            self.stats.count_drop(DropReason::BadDesc, bad.rx);
            // Multi-buffer packets dropped whole while their chunks were gathered: received
            // (never handed to the engine) and dropped.
            counters.rx_mb.add(bad.mb_incomplete + bad.mb_too_many);
            self.stats.count_drop(DropReason::MbIncomplete, bad.mb_incomplete);
            self.stats.count_drop(DropReason::MbTooMany, bad.mb_too_many);
        }
    }

    /// Every input is a finished capture and nothing is left to send.
    fn finished(&self) -> bool {
        self.queues.iter().all(|q| q.port.rx_exhausted() && q.port.tx_pending() == 0)
    }

    fn finish(&mut self) {
        for queue in &mut self.queues {
            if let Err(err) = queue.port.finish(&mut self.umems.slots[queue.slot].pool) {
                eprintln!("{}: {err}", queue.port.describe());
            }
        }
        self.collect_bad_descs();
        let report = self.frame_report();
        if report.lost() != 0 {
            let names: Vec<String> = self.queues.iter().map(|q| q.port.describe()).collect();
            eprintln!("worker ({}): {} frame(s) unaccounted for at exit: {report:?}", names.join(", "), report.lost());
        }
        let _ = self.stats.frames_at_exit.set(report);
    }

    /// Where every frame of this worker's UMEMs is now.
    pub fn frame_report(&self) -> FrameReport {
        let slots = &self.umems.slots;
        FrameReport {
            total: slots.iter().map(|s| u64::from(s.umem.frame_count())).sum(),
            free: slots.iter().map(|s| s.pool.len() as u64).sum(),
            rx_lent: self.queues.iter().map(|q| q.port.rx_lent() as u64).sum(),
            tx_pending: self.queues.iter().map(|q| q.port.tx_pending() as u64).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engines::io::Io;
    use pmd::mem::MemPort;
    use pmd::Port;
    use umem::UmemConfig;

    /// A worker over one mem port holding `frames` frames, dropping everything.
    fn dropping_worker(frames: usize, idle: IdlePolicy) -> Worker {
        let mut umems =
            Umems::new(UmemConfig { frame_size: 2048, frame_count: 1024, hugepages: false, numa_node: None }).unwrap();
        let slot = &mut umems.slots[0];
        let mut port = MemPort::new(slot.umem.clone(), 1024);
        let frame = testkit::frames::generator_udp(60);
        for _ in 0..frames {
            assert!(port.inject(&mut slot.pool, &frame));
        }
        let queues = vec![PortQueue { port: Box::new(port), slot: 0, fwd_to: 0 }];
        let stats = Arc::new(WorkerStats::new(None, vec![0]));
        Worker::new(queues, umems, Box::new(Io::new(Action::Drop)), stats).with_idle(idle)
    }

    #[test]
    fn busy_accounting_counts_the_polls_that_found_work() {
        for idle in [IdlePolicy::Busy, IdlePolicy::Sleep(std::time::Duration::from_micros(50))] {
            let worker = dropping_worker(300, idle);
            let stats = worker.stats.clone();
            let stop = Arc::new(AtomicBool::new(false));
            let handle = {
                let stop = stop.clone();
                std::thread::spawn(move || worker.run(&stop))
            };
            std::thread::sleep(std::time::Duration::from_millis(50));
            stop.store(true, Ordering::Relaxed);
            handle.join().unwrap();
            let snap = crate::stats::Snapshot::take(&[stats], 1);
            let w = &snap.workers[0];
            assert_eq!(w.rx_packets, 300, "{idle:?}");
            assert_eq!(w.busy_frames, 300, "every received frame is in a busy poll");
            // 300 frames in bursts of at most BURST: ceil(300 / BURST) polls found work.
            assert_eq!(w.busy_polls, 300u64.div_ceil(BURST as u64));
            assert!(w.polls > w.busy_polls, "the empty polls are counted too");
            assert!(w.busy_ns > 0);
            assert_eq!(
                w.frames_at_exit,
                Some(FrameReport { total: 1024, free: 1024, rx_lent: 0, tx_pending: 0 }),
                "every frame back in the pool"
            );
        }
    }

    /// A mem port whose "kernel" also refused some descriptors, reported once.
    struct RefusingPort {
        inner: MemPort,
        bad: Option<pmd::BadDescCount>,
    }

    impl Port for RefusingPort {
        fn describe(&self) -> String {
            "refusing".into()
        }
        fn umem(&self) -> &Arc<umem::Umem> {
            self.inner.umem()
        }
        fn rx_burst(&mut self, pool: &mut umem::PoolCache, out: &mut Vec<Frame>, max: usize) -> usize {
            self.inner.rx_burst(pool, out, max)
        }
        fn tx_burst(&mut self, pool: &mut umem::PoolCache, frames: &mut Vec<Frame>) -> usize {
            self.inner.tx_burst(pool, frames)
        }
        fn finish(&mut self, pool: &mut umem::PoolCache) -> std::io::Result<()> {
            self.inner.finish(pool)
        }
        fn take_bad_descs(&mut self) -> pmd::BadDescCount {
            self.bad.take().unwrap_or_default()
        }
    }

    #[test]
    fn refused_descriptors_count_as_received_and_dropped_and_nothing_is_unaccounted() {
        let mut umems =
            Umems::new(UmemConfig { frame_size: 2048, frame_count: 256, hugepages: false, numa_node: None }).unwrap();
        let slot = &mut umems.slots[0];
        let mut inner = MemPort::new(slot.umem.clone(), 256);
        let frame = testkit::frames::generator_udp(60);
        for _ in 0..100 {
            assert!(inner.inject(&mut slot.pool, &frame));
        }
        let port = RefusingPort { inner, bad: Some(pmd::BadDescCount { rx: 3, completion: 2, ..Default::default() }) };
        let queues = vec![PortQueue { port: Box::new(port), slot: 0, fwd_to: 0 }];
        let stats = Arc::new(WorkerStats::new(None, vec![0]));
        let worker = Worker::new(queues, umems, Box::new(Io::new(Action::Drop)), stats.clone());
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let run = scope.spawn(|| worker.run(&stop));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while stats.drops[DropReason::BadDesc.index()].get() == 0 && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            stop.store(true, Ordering::Relaxed);
            run.join().unwrap();
        });
        let snap = crate::stats::Snapshot::take(&[stats], 1);
        assert_eq!(snap.rx(), 103, "the refused rx descriptors count as received");
        assert_eq!(snap.drops[DropReason::BadDesc.index()], 3);
        assert_eq!(snap.drops[DropReason::Action.index()], 100);
        assert_eq!(snap.rx(), snap.tx() + snap.dropped(), "nothing unaccounted");
        assert_eq!((snap.ports[0].bad_desc, snap.ports[0].bad_completion), (3, 2));
        let frames = snap.workers[0].frames_at_exit.expect("set at exit");
        assert_eq!((frames.total, frames.free, frames.lost()), (256, 256, 0));
    }
}
