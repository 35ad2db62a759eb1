//! Property: whatever user space and the kernel do, in whatever order, every frame is in
//! exactly one place (the pool, a burst in hand, or one of the four rings).

use proptest::prelude::*;
use umem::{sim, Frame, PoolCache, Umem, UmemConfig};

const FRAMES: u32 = 32;
const RING: u32 = 8;

#[derive(Clone, Debug)]
enum Op {
    Fill(u32),
    KernelReceive(u32),
    Receive(u32),
    Send(u32),
    KernelTransmit(u32),
    Complete(u32),
    DropReceived(u32),
    ReserveAndAbandon(u32),
    PeekAndAbandon(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..(2 * RING);
    prop_oneof![
        n.clone().prop_map(Op::Fill),
        n.clone().prop_map(Op::KernelReceive),
        n.clone().prop_map(Op::Receive),
        n.clone().prop_map(Op::Send),
        n.clone().prop_map(Op::KernelTransmit),
        n.clone().prop_map(Op::Complete),
        n.clone().prop_map(Op::DropReceived),
        n.clone().prop_map(Op::ReserveAndAbandon),
        n.prop_map(Op::PeekAndAbandon),
    ]
}

fn chunk(frame: &Frame) -> u64 {
    frame.addr() & !2047
}

proptest! {
    #[test]
    fn every_frame_is_in_exactly_one_place(
        ops in proptest::collection::vec(op(), 1..200),
        // Half the runs start the ring indices just below 2^32, so they wrap mid-run.
        start in prop_oneof![Just(0u32), (u32::MAX - 64)..=u32::MAX],
    ) {
        let (umem, all) = Umem::create(&UmemConfig { frame_size: 2048, frame_count: FRAMES, hugepages: false, numa_node: None }).unwrap();
        let (mut rings, mut kernel) = sim::socket_at(RING, umem.ledger(), start).unwrap();
        let mut pool = PoolCache::owning(all, 2048);
        let mut received: Vec<Frame> = Vec::new();
        let mut scratch: Vec<Frame> = Vec::new();

        for op in ops {
            match op {
                Op::Fill(n) => {
                    pool.get_many(&mut scratch, n as usize);
                    rings.fill.fill_from(&mut scratch, n);
                    pool.put_all(&mut scratch);
                }
                Op::KernelReceive(n) => { kernel.receive(n, 64); }
                Op::Receive(n) => { rings.rx.receive_into(&mut received, n); }
                Op::Send(n) => {
                    let n = (n as usize).min(received.len());
                    scratch.extend(received.drain(..n));
                    rings.tx.send_from(&mut scratch);
                    // Frames the ring had no room for stay with the user.
                    received.append(&mut scratch);
                }
                Op::KernelTransmit(n) => { kernel.transmit(n); }
                Op::Complete(n) => {
                    rings.comp.complete_into(&mut scratch, n);
                    pool.put_all(&mut scratch);
                }
                Op::DropReceived(n) => {
                    for _ in 0..n.min(received.len() as u32) {
                        pool.put(received.pop().unwrap());
                    }
                }
                Op::ReserveAndAbandon(n) => { let _ = rings.tx.reserve(n); let _ = rings.fill.reserve(n); }
                Op::PeekAndAbandon(n) => { let _ = rings.rx.peek(n); let _ = rings.comp.peek(n); }
            }

            // Every chunk exactly once across the pool, the user's hands and the rings.
            let mut in_pool = Vec::new();
            pool.get_many(&mut in_pool, FRAMES as usize);
            let mut chunks: Vec<u64> = in_pool.iter().map(chunk).collect();
            pool.put_all(&mut in_pool);
            chunks.extend(received.iter().map(chunk));
            chunks.extend(kernel.chunks_in_rings(2048));
            chunks.sort_unstable();
            let expected: Vec<u64> = (0..u64::from(FRAMES)).map(|i| i * 2048).collect();
            prop_assert_eq!(chunks, expected);
        }
    }
}
