//! The kernel's side of one AF_XDP socket, simulated on heap rings: for tests of the rings,
//! of pools and of drivers, without a kernel.

use std::io;
use std::sync::Arc;

use crate::ring::{RingEnd, RingRegion};
use crate::{CompRing, FillRing, FrameLedger, RxRing, TxRing, XdpDesc};

/// The user-space rings of a simulated socket.
pub struct SimRings {
    pub fill: FillRing,
    pub rx: RxRing,
    pub tx: TxRing,
    pub comp: CompRing,
}

/// Plays the kernel: takes frames from the fill ring to "receive" into, and moves frames from
/// the tx ring to the completion ring.
pub struct SimKernel {
    fill: RingEnd<u64>,
    rx: RingEnd<XdpDesc>,
    tx: RingEnd<XdpDesc>,
    comp: RingEnd<u64>,
    /// Frames that arrived with no fill entry or no rx slot (`rx_dropped` in XDP_STATISTICS).
    pub rx_dropped: u64,
    /// Frames sent, in order, as (address, length).
    pub sent: Vec<(u64, u32)>,
}

/// Four heap rings of `entries` each, the user ends and the simulated kernel.
pub fn socket(entries: u32, ledger: &FrameLedger) -> io::Result<(SimRings, SimKernel)> {
    let fill = Arc::new(RingRegion::heap(entries, 8)?);
    let rx = Arc::new(RingRegion::heap(entries, 16)?);
    let tx = Arc::new(RingRegion::heap(entries, 16)?);
    let comp = Arc::new(RingRegion::heap(entries, 8)?);
    let kernel = SimKernel {
        fill: RingEnd::new(fill.clone(), false),
        rx: RingEnd::new(rx.clone(), true),
        tx: RingEnd::new(tx.clone(), false),
        comp: RingEnd::new(comp.clone(), true),
        rx_dropped: 0,
        sent: Vec::new(),
    };
    let rings = SimRings {
        fill: FillRing::shared(fill, ledger.clone()),
        rx: RxRing::shared(rx, ledger.clone()),
        tx: TxRing::shared(tx, ledger.clone()),
        comp: CompRing::shared(comp, ledger.clone()),
    };
    Ok((rings, kernel))
}

impl SimKernel {
    /// `count` frames of `len` bytes arrive; each takes a fill entry and an rx slot, or is
    /// dropped. Returns how many were received.
    pub fn receive(&mut self, count: u32, len: u32) -> u32 {
        let n = self.fill.ready(count).min(self.rx.free_slots(count));
        for i in 0..n {
            let addr = self.fill.read(i);
            self.rx.write(i, XdpDesc { addr, len, options: 0 });
        }
        self.fill.release(n);
        self.rx.publish(n);
        self.rx_dropped += u64::from(count - n);
        n
    }

    /// Sends up to `count` frames from the tx ring and completes them. Returns how many.
    pub fn transmit(&mut self, count: u32) -> u32 {
        let n = self.tx.ready(count).min(self.comp.free_slots(count));
        for i in 0..n {
            let desc = self.tx.read(i);
            self.sent.push((desc.addr, desc.len));
            self.comp.write(i, desc.addr);
        }
        self.tx.release(n);
        self.comp.publish(n);
        n
    }

    /// The chunk of every frame sitting in one of the four rings now.
    pub fn chunks_in_rings(&self, frame_size: u32) -> Vec<u64> {
        let chunk = |addr: u64| addr & !(u64::from(frame_size) - 1);
        let mut chunks = Vec::new();
        chunks.extend(self.fill.unread().into_iter().map(chunk));
        chunks.extend(self.rx.unread().into_iter().map(|d| chunk(d.addr)));
        chunks.extend(self.tx.unread().into_iter().map(|d| chunk(d.addr)));
        chunks.extend(self.comp.unread().into_iter().map(chunk));
        chunks
    }

    /// Entries the kernel holds in its rings (fill and tx) plus what it produced and user
    /// space has not taken yet (rx and completion).
    pub fn frames_in_rings(&self) -> u32 {
        self.fill.in_flight() + self.rx.in_flight() + self.tx.in_flight() + self.comp.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Frame, PoolCache, Umem, UmemConfig};

    fn setup(frames: u32, entries: u32) -> (Umem, PoolCache, SimRings, SimKernel) {
        let (umem, all) = Umem::create(&UmemConfig { frame_count: frames, ..Default::default() }).unwrap();
        let (rings, kernel) = socket(entries, umem.ledger()).unwrap();
        let pool = PoolCache::owning(all, umem.frame_size());
        (umem, pool, rings, kernel)
    }

    #[test]
    fn a_frame_goes_round_fill_rx_tx_completion() {
        let (umem, mut pool, mut rings, mut kernel) = setup(8, 4);
        let mut free = Vec::new();
        pool.get_many(&mut free, 8);
        assert_eq!(rings.fill.fill_from(&mut free, 8), 4, "the fill ring holds 4");
        assert_eq!(free.len(), 4);
        assert_eq!(kernel.receive(6, 60), 4, "4 fill entries, so 2 of 6 are dropped");
        assert_eq!(kernel.rx_dropped, 2);

        let mut burst = Vec::with_capacity(64);
        assert_eq!(rings.rx.receive_into(&mut burst, 64), 4);
        assert!(burst.iter().all(|f| f.len() == 60));
        umem.data_mut(&mut burst[0])[0] = 0xaa;
        let first = burst[0].addr();
        assert_eq!(rings.tx.send_from(&mut burst), 4);
        assert!(burst.is_empty());
        assert_eq!(kernel.transmit(64), 4);
        assert_eq!(kernel.sent[0], (first, 60), "sent in order with their lengths");

        let mut done = Vec::new();
        assert_eq!(rings.comp.complete_into(&mut done, 64), 4);
        assert_eq!(kernel.frames_in_rings(), 0);
        pool.put_all(&mut done);
        pool.put_all(&mut free);
        assert_eq!(pool.len(), 8);
    }

    #[test]
    fn a_dropped_batch_publishes_nothing() {
        let (_umem, mut pool, mut rings, mut kernel) = setup(8, 8);
        let mut free = Vec::new();
        pool.get_many(&mut free, 8);
        {
            let batch = rings.fill.reserve(8);
            assert_eq!(batch.capacity(), 8);
        }
        assert_eq!(kernel.receive(1, 60), 0, "nothing was published");
        assert_eq!(rings.fill.fill_from(&mut free, 2), 2);
        assert_eq!(kernel.receive(2, 60), 2);
        {
            let batch = rings.rx.peek(64);
            assert_eq!(batch.len(), 2);
            assert_eq!(batch.desc(0).len, 60);
        }
        let mut burst = Vec::new();
        assert_eq!(rings.rx.receive_into(&mut burst, 64), 2, "peeked entries are still there");
        pool.put_all(&mut burst);
    }

    #[test]
    fn indices_wrap_around_u32() {
        // Run enough frames through a tiny ring that the indices pass 2^32 is impractical;
        // instead check many laps of a small ring keep counting right.
        let (_umem, mut pool, mut rings, mut kernel) = setup(4, 2);
        let mut free = Vec::new();
        let mut burst = Vec::new();
        for _ in 0..10_000 {
            pool.get_many(&mut free, 2);
            rings.fill.fill_from(&mut free, 2);
            kernel.receive(2, 64);
            rings.rx.receive_into(&mut burst, 2);
            rings.tx.send_from(&mut burst);
            kernel.transmit(2);
            rings.comp.complete_into(&mut free, 2);
            pool.put_all(&mut free);
        }
        assert_eq!(pool.len(), 4);
        assert_eq!(kernel.sent.len(), 20_000);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "one frame in two places")]
    fn the_ledger_catches_a_frame_returned_twice() {
        let (umem, mut pool, mut rings, mut kernel) = setup(2, 2);
        let mut free = Vec::new();
        pool.get_many(&mut free, 1);
        rings.fill.fill_from(&mut free, 1);
        kernel.receive(1, 60);
        let mut burst = Vec::new();
        rings.rx.receive_into(&mut burst, 1);
        // A buggy driver that forges a second token for the same frame and hands it over.
        let forged = Frame::from_raw(burst[0].addr(), 0);
        let _ = umem;
        rings.fill.fill_from(&mut vec![forged], 1);
        rings.fill.fill_from(&mut burst, 1);
    }
}
