//! The kernel's side of one AF_XDP socket, simulated on heap rings: for tests of the rings,
//! of pools and of drivers, without a kernel.

use std::io;
use std::sync::Arc;

use crate::ring::{RingEnd, RingRegion};
use crate::{CompRing, FillRing, FrameLedger, RxRing, TxRing, XdpDesc};

/// The user-space rings of a simulated socket.
pub struct SimRings {
    /// Where the test gives empty frames to receive into.
    pub fill: FillRing,
    /// Where the simulated kernel puts the frames it received.
    pub rx: RxRing,
    /// Where the test puts frames to send.
    pub tx: TxRing,
    /// Where the simulated kernel hands sent frames back.
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
    /// Frames sent, in order, as (address, length): one entry per descriptor.
    pub sent: Vec<(u64, u32)>,
    /// The `options` of each entry of `sent` (`XDP_PKT_CONTD` on all but a packet's last).
    pub sent_options: Vec<u32>,
}

/// Four heap rings of `entries` each, the user ends and the simulated kernel.
pub fn socket(entries: u32, ledger: &FrameLedger) -> io::Result<(SimRings, SimKernel)> {
    socket_at(entries, ledger, 0)
}

/// As [`socket`], with every ring's producer and consumer index starting at `start`: a
/// start near `u32::MAX` makes the indices wrap within a few laps.
pub fn socket_at(entries: u32, ledger: &FrameLedger, start: u32) -> io::Result<(SimRings, SimKernel)> {
    let fill = Arc::new(RingRegion::<u64>::heap_at(entries, start)?);
    let rx = Arc::new(RingRegion::<XdpDesc>::heap_at(entries, start)?);
    let tx = Arc::new(RingRegion::<XdpDesc>::heap_at(entries, start)?);
    let comp = Arc::new(RingRegion::<u64>::heap_at(entries, start)?);
    let kernel = SimKernel {
        fill: RingEnd::new(fill.clone(), false),
        rx: RingEnd::new(rx.clone(), true),
        tx: RingEnd::new(tx.clone(), false),
        comp: RingEnd::new(comp.clone(), true),
        rx_dropped: 0,
        sent: Vec::new(),
        sent_options: Vec::new(),
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

    /// One multi-buffer packet arrives as `lens.len()` chunks of those lengths, as the
    /// kernel's `__xsk_rcv` lays it out with `XDP_USE_SG`: one fill entry and one rx slot per
    /// chunk, `XDP_PKT_CONTD` on all but the last, all published together; a packet that
    /// does not fit whole is dropped whole (`rx_dropped`). The chunks' bytes are whatever
    /// the test wrote there before giving them to the fill ring. Returns whether it arrived.
    pub fn receive_packet(&mut self, lens: &[u32]) -> bool {
        let n = lens.len() as u32;
        if n == 0 || self.fill.ready(n) < n || self.rx.free_slots(n) < n {
            self.rx_dropped += 1;
            return false;
        }
        for (i, &len) in lens.iter().enumerate() {
            let addr = self.fill.read(i as u32);
            let options = if i + 1 < lens.len() { crate::XDP_PKT_CONTD } else { 0 };
            self.rx.write(i as u32, XdpDesc { addr, len, options });
        }
        self.fill.release(n);
        self.rx.publish(n);
        true
    }

    /// Sends up to `count` frames from the tx ring and completes them. Returns how many.
    pub fn transmit(&mut self, count: u32) -> u32 {
        let n = self.tx.ready(count).min(self.comp.free_slots(count));
        for i in 0..n {
            let desc = self.tx.read(i);
            self.sent.push((desc.addr, desc.len));
            self.sent_options.push(desc.options);
            self.comp.write(i, desc.addr);
        }
        self.tx.release(n);
        self.comp.publish(n);
        n
    }

    /// A hostile kernel: puts `descs` on the rx ring as they are, whatever they say (no fill
    /// entry taken). Returns how many fit.
    pub fn inject_rx(&mut self, descs: &[XdpDesc]) -> u32 {
        let n = self.rx.free_slots(descs.len() as u32);
        for (i, desc) in descs.iter().take(n as usize).enumerate() {
            self.rx.write(i as u32, *desc);
        }
        self.rx.publish(n);
        n
    }

    /// A hostile kernel: puts `addrs` on the completion ring as they are. Returns how many fit.
    pub fn inject_completions(&mut self, addrs: &[u64]) -> u32 {
        let n = self.comp.free_slots(addrs.len() as u32);
        for (i, addr) in addrs.iter().take(n as usize).enumerate() {
            self.comp.write(i as u32, *addr);
        }
        self.comp.publish(n);
        n
    }

    /// Takes up to `count` entries off the fill ring (the kernel keeps them) and returns
    /// their addresses: what a hostile kernel then answers with is up to the test.
    pub fn take_fill(&mut self, count: u32) -> Vec<u64> {
        let n = self.fill.ready(count);
        let addrs = (0..n).map(|i| self.fill.read(i)).collect();
        self.fill.release(n);
        addrs
    }

    /// Takes up to `count` descriptors off the tx ring without completing them.
    pub fn take_tx(&mut self, count: u32) -> Vec<XdpDesc> {
        let n = self.tx.ready(count);
        let descs = (0..n).map(|i| self.tx.read(i)).collect();
        self.tx.release(n);
        descs
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
        // Every index starts 5 below 2^32: within the first laps each ring's producer and
        // consumer pass u32::MAX and wrap to 0, while the ring is partly full.
        for start in [u32::MAX - 5, u32::MAX, 0x8000_0000 - 3] {
            let (umem, all) = Umem::create(&UmemConfig { frame_count: 8, ..Default::default() }).unwrap();
            let (mut rings, mut kernel) = socket_at(4, umem.ledger(), start).unwrap();
            let mut pool = PoolCache::owning(all, umem.frame_size());
            let mut free = Vec::new();
            let mut burst = Vec::new();
            for round in 0..50u32 {
                pool.get_many(&mut free, 3);
                assert_eq!(rings.fill.fill_from(&mut free, 3), 3, "round {round}");
                assert_eq!(kernel.receive(3, 64), 3);
                assert_eq!(rings.rx.receive_into(&mut burst, 2), 2, "a partial take leaves one behind");
                assert_eq!(rings.rx.receive_into(&mut burst, 4), 1);
                for frame in &mut burst {
                    umem.data_mut(frame)[0] = round as u8;
                }
                assert_eq!(rings.tx.send_from(&mut burst), 3);
                assert_eq!(kernel.transmit(4), 3);
                assert_eq!(rings.comp.complete_into(&mut free, 4), 3);
                pool.put_all(&mut free);
                assert_eq!(kernel.frames_in_rings(), 0);
            }
            assert_eq!(pool.len(), 8);
            assert_eq!(kernel.sent.len(), 150);
            assert_eq!(rings.rx.bad_descs().total() + rings.comp.bad_descs().total(), 0);
        }
    }

    /// True when `bytes` lies inside the UMEM's area.
    fn inside(umem: &Umem, bytes: &[u8]) -> bool {
        let base = umem.as_ptr() as usize;
        let start = bytes.as_ptr() as usize;
        start >= base && start + bytes.len() <= base + umem.len()
    }

    #[test]
    fn hostile_rx_descriptors_are_dropped_and_counted_and_never_become_frames() {
        let (umem, mut pool, mut rings, mut kernel) = setup(8, 16);
        let area = umem.len() as u64;
        let mut free = Vec::new();
        pool.get_many(&mut free, 5);
        assert_eq!(rings.fill.fill_from(&mut free, 4), 4);
        let given = kernel.take_fill(4);
        let desc = |addr: u64, len: u32| XdpDesc { addr, len, options: 0 };
        let hostile = [
            desc(area, 60),                 // past the end
            desc(area - 10, 60),            // starts inside, ends past the end
            desc(u64::MAX - 10, 60),        // addr + len wraps to just after 0
            desc(given[0] + 2000, 100),     // runs into the next chunk
            desc(given[1] + 256, 0),        // empty
            desc(given[1] + 256, 5000),     // longer than a chunk
            desc(given[0] + 256, 60),       // good
            desc(given[0] + 256, 60),       // the same chunk again: a duplicate
            desc(given[0] + 300, 60),       // the same chunk at another offset
            desc(given[1] + 256, 1792),     // good, to the last byte of its chunk
            desc(given[1] + 256, 1793),     // the chunk again, and one byte past it
            desc(free[0].addr() + 256, 60), // a chunk user space holds (never given)
        ];
        assert_eq!(kernel.inject_rx(&hostile), hostile.len() as u32);
        let mut burst = Vec::new();
        assert_eq!(rings.rx.receive_into(&mut burst, 64), 2, "only the two good descriptors");
        let bad = rings.rx.bad_descs();
        assert_eq!(
            bad,
            crate::BadDescs { out_of_range: 2, wrapped: 1, crosses_chunk: 2, bad_length: 2, not_held: 3 },
            "every bad descriptor counted under its reason"
        );
        assert_eq!(bad.total() + 2, hostile.len() as u64);
        assert_eq!(rings.rx.in_flight(), 0, "bad descriptors are released too: the worker goes on");
        for frame in &mut burst {
            assert!(inside(&umem, umem.data(frame)));
            let buffer = umem.buffer_mut(frame);
            assert!(inside(&umem, buffer));
            buffer.fill(0xee);
        }
        assert_eq!(burst[1].len(), 1792);
        // The frames the kernel still holds: the two chunks it never answered for.
        assert_eq!(umem.ledger().with_kernel(), 2);
        pool.put_all(&mut burst);
        pool.put_all(&mut free);
        assert_eq!(pool.len() + umem.ledger().with_kernel(), 8, "every frame in one place");
    }

    #[test]
    fn hostile_completions_are_dropped_and_counted_and_never_become_frames() {
        let (umem, mut pool, mut rings, mut kernel) = setup(8, 16);
        let mut burst = Vec::new();
        pool.get_many(&mut burst, 3);
        for frame in &mut burst {
            assert!(umem.write(frame, &[1; 60]));
        }
        let held = burst.pop().unwrap();
        assert_eq!(rings.tx.send_from(&mut burst), 2);
        let sent = kernel.take_tx(2);
        let hostile = [
            umem.len() as u64,  // past the end
            u64::MAX,           // far past the end
            sent[0].addr,       // good
            sent[0].addr,       // the same again
            held.addr(),        // a frame user space holds
            sent[1].addr + 100, // good: inside the sent frame's chunk
            sent[1].addr,       // that chunk again
        ];
        assert_eq!(kernel.inject_completions(&hostile), hostile.len() as u32);
        let mut done = Vec::new();
        assert_eq!(rings.comp.complete_into(&mut done, 64), 2);
        let bad = rings.comp.bad_descs();
        assert_eq!((bad.out_of_range, bad.not_held, bad.total()), (2, 3, 5), "{bad:?}");
        assert_eq!(rings.comp.in_flight(), 0);
        assert_eq!(umem.ledger().with_kernel(), 0);
        pool.put_all(&mut done);
        pool.put(held);
        assert_eq!(pool.len(), 8);
    }

    #[test]
    fn rings_refuse_frames_of_another_umem() {
        let (umem, mut pool, mut rings, mut kernel) = setup(4, 8);
        let (other, mut foreign) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let mut frames = Vec::new();
        pool.get_many(&mut frames, 2);
        // Fill takes from the back: a foreign frame there stops it at once.
        frames.push(foreign.pop().unwrap());
        assert_eq!(rings.fill.fill_from(&mut frames, 8), 0);
        assert_eq!(frames.len(), 3);
        // Tx takes from the front, in order: it sends up to the foreign frame.
        frames.rotate_right(1);
        frames.swap(0, 1);
        assert_eq!(frames.iter().map(|f| f.umem_id() == umem.id()).collect::<Vec<_>>(), [true, false, true]);
        assert_eq!(rings.tx.send_from(&mut frames), 1);
        assert_eq!(frames[0].umem_id(), other.id(), "the foreign frame and those after it stay");
        assert_eq!(kernel.transmit(8), 1);
        assert_eq!(umem.ledger().with_kernel(), 1);
        assert_eq!(other.ledger().with_kernel(), 0, "the other UMEM's ledger never saw it");
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
        let forged = Frame::from_raw(umem.id(), burst[0].addr(), 0);
        let _ = umem;
        rings.fill.fill_from(&mut vec![forged], 1);
        rings.fill.fill_from(&mut burst, 1);
    }
}
