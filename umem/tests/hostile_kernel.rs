//! Property: whatever descriptors a (simulated) kernel writes into the rx and completion
//! rings, user space gets only tokens for chunks the kernel held, each chunk at most once,
//! with bytes inside the UMEM; every other descriptor is counted, and the rings go on.

use std::collections::HashSet;

use proptest::prelude::*;
use umem::{sim, Frame, PoolCache, Umem, UmemConfig, XdpDesc};

const FRAMES: u32 = 16;
const FRAME: u64 = 2048;
const AREA: u64 = FRAMES as u64 * FRAME;

/// Addresses near every edge that matters: chunk starts and ends, the end of the area, and
/// the top of the 64-bit range (where `addr + len` wraps).
fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0..u64::from(FRAMES)).prop_flat_map(|chunk| (0..FRAME).prop_map(move |off| chunk * FRAME + off)),
        (AREA - 64)..(AREA + 64),
        (u64::MAX - 4096)..=u64::MAX,
        any::<u64>(),
    ]
}

fn len() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 1..=2048u32, 2040..2060u32, any::<u32>()]
}

fn inside(umem: &Umem, bytes: &[u8]) -> bool {
    let base = umem.as_ptr() as usize;
    let start = bytes.as_ptr() as usize;
    start >= base && start + bytes.len() <= base + umem.len()
}

proptest! {
    #[test]
    fn hostile_descriptors_never_make_two_tokens_or_reach_outside_the_umem(
        rx in proptest::collection::vec((addr(), len()), 0..40),
        completions in proptest::collection::vec(addr(), 0..40),
        start in prop_oneof![Just(0u32), (u32::MAX - 40)..=u32::MAX],
    ) {
        let (umem, all) = Umem::create(&UmemConfig { frame_size: 2048, frame_count: FRAMES, hugepages: false, numa_node: None }).unwrap();
        let (mut rings, mut kernel) = sim::socket_at(64, umem.ledger(), start).unwrap();
        let mut pool = PoolCache::owning(all, 2048);
        // The kernel holds half the frames: 4 in the fill ring (taken), 4 sent on tx.
        let mut frames = Vec::new();
        pool.get_many(&mut frames, 8);
        prop_assert_eq!(rings.fill.fill_from(&mut frames, 4), 4);
        prop_assert_eq!(rings.tx.send_from(&mut frames), 4);
        let with_kernel: HashSet<u64> =
            kernel.take_fill(4).into_iter().chain(kernel.take_tx(4).into_iter().map(|d| d.addr)).map(|a| a / FRAME).collect();

        let descs: Vec<XdpDesc> = rx.iter().map(|&(addr, len)| XdpDesc { addr, len, options: 0 }).collect();
        prop_assert_eq!(kernel.inject_rx(&descs), descs.len() as u32);
        prop_assert_eq!(kernel.inject_completions(&completions), completions.len() as u32);
        let mut got: Vec<Frame> = Vec::new();
        let received = rings.rx.receive_into(&mut got, 64);
        let completed = rings.comp.complete_into(&mut got, 64);
        prop_assert_eq!(received as u64 + rings.rx.bad_descs().total(), descs.len() as u64);
        prop_assert_eq!(completed as u64 + rings.comp.bad_descs().total(), completions.len() as u64);
        prop_assert_eq!(rings.rx.in_flight() + rings.comp.in_flight(), 0);

        let mut chunks = HashSet::new();
        for frame in &mut got {
            let chunk = frame.addr() / FRAME;
            prop_assert!(with_kernel.contains(&chunk), "a token for chunk {} the kernel did not hold", chunk);
            prop_assert!(chunks.insert(chunk), "two tokens for chunk {}", chunk);
            prop_assert!(inside(&umem, umem.data(frame)));
            prop_assert!(inside(&umem, umem.buffer_mut(frame)));
        }
        pool.put_all(&mut got);
        pool.put_all(&mut frames);
        prop_assert_eq!(pool.len() + umem.ledger().with_kernel(), FRAMES as usize);
    }
}
