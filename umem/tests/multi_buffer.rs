//! Multi-buffer (`XDP_USE_SG`) on the simulated rings: descriptors with `XDP_PKT_CONTD`
//! gathered into whole packets, chains freed whole, packets sent as several descriptors,
//! and no chunk ever lost.

use umem::{sim, Frame, PoolCache, Umem, UmemConfig, XdpDesc, MAX_PIECES, XDP_PKT_CONTD};

const FRAMES: u32 = 128;

struct Setup {
    umem: Umem,
    pool: PoolCache,
    rings: sim::SimRings,
    kernel: sim::SimKernel,
}

/// A UMEM whose every chunk holds a byte pattern of its index, the fill ring given `fill`
/// of them.
fn setup(fill: usize) -> Setup {
    let (umem, frames) = Umem::create(&UmemConfig { frame_count: FRAMES, ..Default::default() }).unwrap();
    let mut pool = PoolCache::owning(frames, umem.frame_size());
    pool.enable_chains(FRAMES);
    let (mut rings, kernel) = sim::socket(64, umem.ledger()).unwrap();
    let mut empty = Vec::new();
    pool.get_many(&mut empty, fill);
    for frame in &mut empty {
        let chunk = frame.addr() / 2048;
        let pattern: Vec<u8> = (0..2048).map(|i| (chunk as usize * 7 + i) as u8).collect();
        assert!(umem.write(frame, &pattern));
    }
    assert_eq!(rings.fill.fill_from(&mut empty, fill as u32), fill);
    Setup { umem, pool, rings, kernel }
}

/// The packet's bytes, chunk after chunk.
fn packet_bytes(umem: &Umem, pool: &PoolCache, head: &Frame) -> Vec<u8> {
    let mut bytes = umem.data(head).to_vec();
    let mut at = head;
    while let Some(next) = pool.next(at) {
        bytes.extend_from_slice(umem.data(next));
        at = next;
    }
    bytes
}

/// Every frame of the UMEM is in the pool, in the rings, or in `held` (heads with chains).
fn conserved(s: &Setup, held: &[Frame]) {
    let in_bursts: usize = held.iter().map(|f| s.pool.pieces(f)).sum();
    assert_eq!(s.pool.len() + s.kernel.frames_in_rings() as usize + in_bursts, FRAMES as usize);
}

#[test]
fn continuation_descriptors_are_gathered_into_whole_packets() {
    let mut s = setup(16);
    assert!(s.kernel.receive_packet(&[60]));
    assert!(s.kernel.receive_packet(&[2048, 2048, 904]));
    assert!(s.kernel.receive_packet(&[1000, 1]));
    let mut out = Vec::new();
    let got = s.rings.rx.receive_packets(&mut out, 64, &mut s.pool);
    assert_eq!((got.packets, got.descs), (3, 6));
    assert_eq!(out.iter().map(|f| s.pool.pieces(f)).collect::<Vec<_>>(), [1, 3, 2]);
    assert_eq!(out.iter().map(|f| s.pool.packet_len(f)).collect::<Vec<_>>(), [60, 5000, 1001]);
    assert!(!out[0].has_next() && out[1].has_next());
    // The bytes are each chunk's own, in descriptor order.
    let bytes = packet_bytes(&s.umem, &s.pool, &out[1]);
    let chunks: Vec<u64> = {
        let mut at = &out[1];
        let mut v = vec![at.addr() / 2048];
        while let Some(n) = s.pool.next(at) {
            v.push(n.addr() / 2048);
            at = n;
        }
        v
    };
    let expected: Vec<u8> = chunks
        .iter()
        .zip([2048usize, 2048, 904])
        .flat_map(|(&c, len)| (0..len).map(move |i| (c as usize * 7 + i) as u8))
        .collect();
    assert_eq!(bytes, expected);
    assert_eq!(s.rings.rx.mb().packets, 2);
    conserved(&s, &out);
    // Freeing the heads frees every chunk.
    s.pool.put_all(&mut out);
    conserved(&s, &[]);
}

#[test]
fn a_packet_cut_by_the_burst_limit_waits_whole_for_the_next_call() {
    let mut s = setup(16);
    assert!(s.kernel.receive_packet(&[100]));
    assert!(s.kernel.receive_packet(&[2048, 500]));
    let mut out = Vec::new();
    let first = s.rings.rx.receive_packets(&mut out, 1, &mut s.pool);
    assert_eq!((first.packets, first.descs), (1, 1));
    let second = s.rings.rx.receive_packets(&mut out, 1, &mut s.pool);
    assert_eq!((second.packets, second.descs), (1, 2));
    assert_eq!(s.pool.packet_len(&out[1]), 2548);
    conserved(&s, &out);
}

#[test]
fn a_packet_with_a_refused_chunk_is_dropped_whole_and_counted() {
    let mut s = setup(8);
    let addrs = s.kernel.take_fill(3);
    // The middle chunk names one user space holds already (never lent): refused.
    let mut stolen = s.pool.get().unwrap();
    stolen.set_len(0);
    let descs = [
        XdpDesc { addr: addrs[0], len: 2048, options: XDP_PKT_CONTD },
        XdpDesc { addr: stolen.addr(), len: 2048, options: XDP_PKT_CONTD },
        XdpDesc { addr: addrs[1], len: 10, options: 0 },
        XdpDesc { addr: addrs[2], len: 64, options: 0 },
    ];
    assert_eq!(s.kernel.inject_rx(&descs), 4);
    let mut out = Vec::new();
    let got = s.rings.rx.receive_packets(&mut out, 64, &mut s.pool);
    assert_eq!((got.packets, got.descs), (1, 4), "the packet after it arrives");
    assert_eq!(s.pool.packet_len(&out[0]), 64);
    assert_eq!(s.rings.rx.mb().incomplete, 1);
    assert_eq!(s.rings.rx.bad_descs().not_held, 1);
    s.pool.put(stolen);
    conserved(&s, &out);
}

#[test]
fn a_packet_of_too_many_chunks_is_dropped_whole_even_across_calls() {
    let mut s = setup(40);
    let pieces = MAX_PIECES + 3;
    let lens = vec![2048; pieces];
    // Delivered in two parts (a hostile or broken kernel): the drop continues into the second.
    let addrs = s.kernel.take_fill(pieces as u32 + 1);
    let desc = |i: usize| XdpDesc {
        addr: addrs[i],
        len: lens.get(i).copied().unwrap_or(60),
        options: if i + 1 < pieces { XDP_PKT_CONTD } else { 0 },
    };
    let first: Vec<XdpDesc> = (0..MAX_PIECES + 1).map(desc).collect();
    assert_eq!(s.kernel.inject_rx(&first), first.len() as u32);
    let mut out = Vec::new();
    let got = s.rings.rx.receive_packets(&mut out, 64, &mut s.pool);
    assert_eq!(got.packets, 0);
    assert_eq!(got.descs, first.len() as u32);
    let rest: Vec<XdpDesc> = (MAX_PIECES + 1..=pieces).map(desc).collect();
    assert_eq!(s.kernel.inject_rx(&rest), rest.len() as u32);
    let got = s.rings.rx.receive_packets(&mut out, 64, &mut s.pool);
    assert_eq!(got.packets, 1, "only the 60-byte frame after the long one");
    assert_eq!(s.pool.packet_len(&out[0]), 60);
    assert_eq!(s.rings.rx.mb().too_many, 1);
    conserved(&s, &out);
}

#[test]
fn chains_without_room_for_them_are_dropped_as_too_many() {
    let (umem, frames) = Umem::create(&UmemConfig { frame_count: 16, ..Default::default() }).unwrap();
    let mut pool = PoolCache::owning(frames, umem.frame_size()); // chains not enabled
    let (mut rings, mut kernel) = sim::socket(16, umem.ledger()).unwrap();
    let mut empty = Vec::new();
    pool.get_many(&mut empty, 4);
    rings.fill.fill_from(&mut empty, 4);
    assert!(kernel.receive_packet(&[2048, 100]));
    let mut out = Vec::new();
    assert_eq!(rings.rx.receive_packets(&mut out, 64, &mut pool).packets, 0);
    assert_eq!(rings.rx.mb().too_many, 1);
    assert_eq!(pool.len() + kernel.frames_in_rings() as usize, 16);
}

#[test]
fn a_chained_packet_leaves_as_descriptors_with_contd_and_every_chunk_completes() {
    let mut s = setup(16);
    assert!(s.kernel.receive_packet(&[2048, 2048, 904]));
    assert!(s.kernel.receive_packet(&[70]));
    let mut out = Vec::new();
    s.rings.rx.receive_packets(&mut out, 64, &mut s.pool);
    let addrs: Vec<u64> = {
        let mut at = &out[0];
        let mut v = vec![at.addr()];
        while let Some(n) = s.pool.next(at) {
            v.push(n.addr());
            at = n;
        }
        v.push(out[1].addr());
        v
    };
    let sent = s.rings.tx.send_packets_from(&mut out, &mut s.pool, usize::MAX);
    assert_eq!((sent.packets, sent.descs, sent.multi), (2, 4, 1));
    assert!(out.is_empty());
    assert_eq!(s.kernel.transmit(64), 4);
    assert_eq!(s.kernel.sent.iter().map(|d| d.0).collect::<Vec<_>>(), addrs);
    assert_eq!(s.kernel.sent.iter().map(|d| d.1).collect::<Vec<_>>(), [2048, 2048, 904, 70]);
    assert_eq!(s.kernel.sent_options, [XDP_PKT_CONTD, XDP_PKT_CONTD, 0, 0]);
    let mut done = Vec::new();
    assert_eq!(s.rings.comp.complete_into(&mut done, 64), 4, "every chunk comes back");
    s.pool.put_all(&mut done);
    conserved(&s, &[]);
}

#[test]
fn the_single_chunk_send_never_takes_a_chain_apart() {
    let mut s = setup(16);
    assert!(s.kernel.receive_packet(&[60]));
    assert!(s.kernel.receive_packet(&[2048, 100]));
    let mut out = Vec::new();
    s.rings.rx.receive_packets(&mut out, 64, &mut s.pool);
    // A socket without multi-buffer sends the single frame and stops at the chain.
    assert_eq!(s.rings.tx.send_from(&mut out), 1);
    assert_eq!(out.len(), 1);
    assert_eq!(s.pool.pieces(&out[0]), 2);
    assert_eq!(s.kernel.transmit(64), 1);
    let mut done = Vec::new();
    s.rings.comp.complete_into(&mut done, 64);
    s.pool.put_all(&mut done);
    s.pool.put_all(&mut out);
    conserved(&s, &[]);
}

#[test]
fn a_packet_that_does_not_fit_the_tx_ring_whole_waits() {
    let (umem, frames) = Umem::create(&UmemConfig { frame_count: 32, ..Default::default() }).unwrap();
    let mut pool = PoolCache::owning(frames, umem.frame_size());
    pool.enable_chains(32);
    let (mut rings, mut kernel) = sim::socket(4, umem.ledger()).unwrap();
    let mut packets = Vec::new();
    for pieces in [2, 3] {
        let mut head = pool.get().unwrap();
        head.set_len(100);
        for _ in 1..pieces {
            let mut piece = pool.get().unwrap();
            piece.set_len(50);
            pool.append(&mut head, piece).unwrap();
        }
        packets.push(head);
    }
    let sent = rings.tx.send_packets_from(&mut packets, &mut pool, usize::MAX);
    assert_eq!((sent.packets, sent.descs), (1, 2), "3 more chunks do not fit 2 slots");
    assert_eq!(packets.len(), 1);
    assert_eq!(pool.pieces(&packets[0]), 3, "the waiting packet keeps its chain");
    assert_eq!(kernel.transmit(4), 2);
    let mut done = Vec::new();
    rings.comp.complete_into(&mut done, 4);
    pool.put_all(&mut done);
    assert_eq!(rings.tx.send_packets_from(&mut packets, &mut pool, usize::MAX).descs, 3);
    assert_eq!(kernel.transmit(4), 3);
    rings.comp.complete_into(&mut done, 4);
    pool.put_all(&mut done);
    assert_eq!(pool.len(), 32);
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// One packet the simulated kernel delivers: how many chunks, and whether one of them
    /// (by index) is replaced by a descriptor user space must refuse.
    #[derive(Clone, Debug)]
    struct Packet {
        pieces: usize,
        bad_piece: Option<usize>,
    }

    fn packet() -> impl Strategy<Value = Packet> {
        (1usize..=MAX_PIECES + 3, prop::option::weighted(0.2, 0usize..20))
            .prop_map(|(pieces, bad)| Packet { pieces, bad_piece: bad.filter(|&b| b < pieces) })
    }

    proptest! {
        /// Whatever the kernel delivers (packets of 1 to 20 chunks, some with a refused
        /// chunk) and however the worker cuts its bursts, every good packet of at most
        /// MAX_PIECES chunks comes out whole, every other one is counted as dropped, and
        /// every chunk ends back in the pool.
        #[test]
        fn gathering_loses_no_chunk_and_hands_out_only_whole_packets(
            packets in prop::collection::vec(packet(), 1..12),
            bursts in prop::collection::vec(1u32..8, 1..8),
        ) {
            let (umem, frames) = Umem::create(&UmemConfig { frame_count: 512, ..Default::default() }).unwrap();
            let mut pool = PoolCache::owning(frames, umem.frame_size());
            pool.enable_chains(512);
            let (mut rings, mut kernel) = sim::socket(256, umem.ledger()).unwrap();
            let mut empty = Vec::new();
            pool.get_many(&mut empty, 256);
            rings.fill.fill_from(&mut empty, 256);
            // A chunk user space holds: what a refused descriptor names.
            let held = pool.get().unwrap();
            let total: usize = packets.iter().map(|p| p.pieces).sum();
            let addrs = kernel.take_fill(total as u32);
            let mut descs = Vec::new();
            let mut next = 0;
            for p in &packets {
                for i in 0..p.pieces {
                    let addr = if p.bad_piece == Some(i) { held.addr() } else { addrs[next] };
                    next += 1;
                    let options = if i + 1 < p.pieces { XDP_PKT_CONTD } else { 0 };
                    descs.push(XdpDesc { addr, len: 1000, options });
                }
            }
            prop_assert_eq!(kernel.inject_rx(&descs) as usize, descs.len());
            let mut out = Vec::new();
            let mut calls = 0;
            loop {
                let max = bursts[calls % bursts.len()];
                calls += 1;
                let got = rings.rx.receive_packets(&mut out, max, &mut pool);
                prop_assert!(got.packets <= max as usize);
                if got.descs == 0 {
                    break;
                }
            }
            let whole = packets.iter().filter(|p| p.bad_piece.is_none() && p.pieces <= MAX_PIECES);
            let expected: Vec<usize> = whole.map(|p| p.pieces).collect();
            prop_assert_eq!(out.iter().map(|f| pool.pieces(f)).collect::<Vec<_>>(), expected.clone());
            prop_assert!(out.iter().all(|f| pool.packet_len(f) == 1000 * pool.pieces(f)));
            let mb = rings.rx.mb();
            let incomplete = packets.iter().filter(|p| p.bad_piece.is_some() && p.pieces > 1).count() as u64;
            let too_many = packets.iter().filter(|p| p.bad_piece.is_none() && p.pieces > MAX_PIECES).count() as u64;
            // A refused chunk in a packet of too many makes it incomplete or too long,
            // whichever comes first; either way it is counted once.
            prop_assert!(mb.incomplete + mb.too_many >= incomplete + too_many);
            prop_assert_eq!(mb.packets, expected.iter().filter(|&&n| n > 1).count() as u64);
            // The refused chunks were never taken; the taken chunks of dropped packets are back.
            pool.put_all(&mut out);
            pool.put(held);
            let refused = packets.iter().filter(|p| p.bad_piece.is_some()).count();
            prop_assert_eq!(pool.len() + kernel.frames_in_rings() as usize + refused, 512);
        }
    }
}
