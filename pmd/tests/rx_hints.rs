//! RX hints on a veth pair, end to end: the device-bound redirect program reads veth's
//! metadata kfuncs (drivers/net/veth.c, `veth_xdp_metadata_ops`) and the AF_XDP queue finds
//! the struct in front of each frame in copy mode.
//!
//! What veth gives: its kfuncs read the `sk_buff` the frame came in (`veth_xdp_buff.skb`),
//! so they answer only for frames that reached veth as an skb: sent through the kernel
//! stack, AF_PACKET, or AF_XDP copy-mode TX on the peer. Frames redirected into the veth as
//! `xdp_frame`s (an XDP program's XDP_REDIRECT, a live-frames generator) have no skb: every
//! kfunc answers -ENODATA. The hash is `skb_get_hash()`, the flow dissector's hash (random
//! seed per boot), with type L4 when the dissector found ports; the VLAN tag is the skb's
//! offloaded tag (`__vlan_hwaccel_get_tag`), which a VLAN device over the peer leaves there
//! because veth offers tx-vlan-offload; the timestamp is `skb_hwtstamps(skb)->hwtstamp`,
//! which only a NIC driver fills: on veth it is 0 (the kfunc answers 0), so no frame carries
//! a timestamp hint.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use pmd::af_xdp::{AfXdpDevice, AfXdpQueue};
use pmd::rx_hints::RxHints;
use pmd::{Port, PortSpec, Umems, BURST};
use testkit::{require_root, Netns};
use umem::{Frame, UmemConfig};

const SENDER: &str = "10.77.0.2";
const RECEIVER: &str = "10.77.0.1";

fn spec(text: &str) -> pmd::AfXdpSpec {
    match text.parse::<PortSpec>().unwrap() {
        PortSpec::AfXdp(spec) => spec,
        other => panic!("{other:?}"),
    }
}

/// veth0 receives through AF_XDP (hints on); veth1, and a VLAN 100 device over it, send
/// through the kernel stack to a static neighbour (nothing answers ARP on veth0).
fn topology() -> Netns {
    let netns = Netns::with_veth_pair("hi");
    netns.disable_ipv6();
    let mac = netns.mac("veth0").map(|b| format!("{b:02x}")).join(":");
    netns.ip(&["addr", "add", &format!("{SENDER}/24"), "dev", "veth1"]);
    netns.ip(&["neigh", "add", RECEIVER, "lladdr", &mac, "dev", "veth1"]);
    netns
}

/// (source port, frame bytes, hints) of every frame received within `timeout` until `want`.
fn receive(
    port: &mut AfXdpQueue,
    umems: &mut Umems,
    slot: usize,
    want: usize,
    timeout: Duration,
) -> Vec<(Vec<u8>, Option<RxHints>)> {
    let mut got = Vec::new();
    let mut frames: Vec<Frame> = Vec::with_capacity(BURST);
    let deadline = Instant::now() + timeout;
    while got.len() < want && Instant::now() < deadline {
        let slot = &mut umems.slots[slot];
        let n = port.rx_burst(&mut slot.pool, &mut frames, BURST);
        assert_eq!(port.last_rx_hints().len(), n, "one entry a frame");
        for (frame, hints) in frames.iter().zip(port.last_rx_hints()) {
            got.push((slot.umem.data(frame).to_vec(), *hints));
        }
        slot.pool.put_all(&mut frames);
        if n == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    got
}

fn udp_ports(frame: &[u8]) -> (u16, u16) {
    assert_eq!(&frame[12..14], &[0x08, 0x00], "untagged IPv4 (a VLAN tag is taken off by veth)");
    let l4 = 14 + usize::from(frame[14] & 0x0f) * 4;
    (u16::from_be_bytes([frame[l4], frame[l4 + 1]]), u16::from_be_bytes([frame[l4 + 2], frame[l4 + 3]]))
}

#[test]
fn veth_hints_reach_user_space() {
    if !require_root("veth_hints_reach_user_space") {
        return;
    }
    let netns = topology();
    netns.run(|| {
        let spec = spec("af_xdp:iface=veth0,mode=copy,rx_hints=1,ring=256");
        let mut device = AfXdpDevice::open(&spec).expect("veth has the metadata kfuncs");
        let kfuncs = device.rx_hints().expect("rx_hints=1 opened with hints");
        assert!(kfuncs.timestamp.is_some() && kfuncs.hash.is_some() && kfuncs.vlan_tag.is_some());
        let mut umems = Umems::new(UmemConfig { frame_count: 1024, ..Default::default() }).unwrap();
        let (mut port, slot) = device.open_queue(0, &mut umems).unwrap();
        assert!(port.rx_hints_on());
        assert_eq!(device.attach().unwrap(), bpf::XdpMode::Driver, "device-bound: driver mode");

        // Four flows, five datagrams each, then four over VLAN 100.
        let socket = UdpSocket::bind(format!("{SENDER}:0")).unwrap();
        let sent_ns = pmd::clock::monotonic_ns();
        for round in 0..5 {
            for flow in 0..4u16 {
                socket.send_to(&[round; 32], format!("{RECEIVER}:{}", 5000 + flow)).unwrap();
            }
        }
        // Four more flows whose skb carries an offloaded VLAN tag, pushed by a tc program
        // on veth1's egress (bpf_skb_vlan_push stores it in the skb, not in the bytes).
        let vlan_push = vlan_push_on_egress("veth1", 6000);
        for flow in 0..4u16 {
            socket.send_to(&[9; 32], format!("{RECEIVER}:{}", 6000 + flow)).unwrap();
        }
        drop(vlan_push);
        let got = receive(&mut port, &mut umems, slot, 24, Duration::from_secs(5));
        let received_ns = pmd::clock::monotonic_ns();
        assert_eq!(got.len(), 24, "every datagram arrived");

        let mut hash_of_flow = std::collections::HashMap::new();
        let enodata = -(libc::ENODATA as i16);
        for (frame, hints) in &got {
            let hints = hints.unwrap_or_else(|| panic!("no hints in front of {frame:02x?}"));
            let (_, dst) = udp_ports(frame);
            // veth: timestamp kfunc answers 0 with a zero time (no NIC stamped the skb).
            assert_eq!(hints.returns[0], 0, "timestamp kfunc");
            assert_eq!(hints.timestamp, None, "veth has no hardware timestamp");
            // So the program stamped it itself: CLOCK_MONOTONIC, after the send, before now.
            let xdp_time = hints.xdp_time.expect("the program's own stamp");
            assert!(sent_ns < xdp_time && xdp_time <= received_ns, "{sent_ns} < {xdp_time} <= {received_ns}");
            let (hash, hash_type) = hints.hash.expect("an skb has a hash");
            assert_ne!(hash, 0);
            // XDP_RSS_TYPE_L4_ANY: the flow dissector found the ports (skb->l4_hash).
            assert_eq!(hash_type & 0x08, 0x08, "L4 hash type {hash_type:#x}");
            if dst >= 6000 {
                assert_eq!(hints.vlan, Some((0x8100, 100)), "the offloaded tag of veth1.100");
            } else {
                assert_eq!(hints.vlan, None);
                assert_eq!(hints.returns[2], enodata, "no tag: -ENODATA");
            }
            let first = *hash_of_flow.entry(dst).or_insert(hash);
            assert_eq!(first, hash, "one flow, one hash (port {dst})");
        }
        let mut hashes: Vec<u32> = hash_of_flow.values().copied().collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), 8, "eight flows, eight hashes: {hash_of_flow:?}");

        let counts = port.rx_hint_counts();
        assert_eq!(
            (counts.with_metadata, counts.hash, counts.vlan, counts.timestamp, counts.xdp_time),
            (24, 24, 4, 0, 24)
        );
        let kernel = port.counters().expect("AF_XDP has counters").read().unwrap();
        assert_eq!(kernel.rx_hints, Some(counts), "the control thread sees the same");
        device.detach();
    });
}

/// `bpf_skb_vlan_push(skb, vlan_proto (network order), vlan_tci)`.
const SKB_VLAN_PUSH: i32 = 18;

/// A tcx egress program on `dev` that gives UDP/IPv4 datagrams to ports from `min_port` on
/// an offloaded VLAN 100 tag (as a VLAN device over a NIC with tx-vlan-offload would; this
/// kernel has no 8021q module). Detached when dropped.
fn vlan_push_on_egress(dev: &str, min_port: u16) -> (bpf::Program, bpf::Link) {
    use bpf::{tc, Asm, Insn, Jmp, ProgType, Program, Reg, Size};
    let mut asm = Asm::new();
    asm.push(Insn::mov64_reg(Reg::R6, Reg::R1))
        .push(Insn::ldx(Size::W, Reg::R2, Reg::R1, tc::SKB_DATA))
        .push(Insn::ldx(Size::W, Reg::R3, Reg::R1, tc::SKB_DATA_END))
        .push(Insn::mov64_reg(Reg::R4, Reg::R2))
        .push(Insn::add64_imm(Reg::R4, 14 + 20 + 4))
        .jmp_reg(Jmp::Gt, Reg::R4, Reg::R3, "pass")
        .push(Insn::ldx(Size::B, Reg::R4, Reg::R2, 14 + 9))
        .jmp_imm(Jmp::Ne, Reg::R4, 17, "pass")
        .push(Insn::ldx(Size::H, Reg::R4, Reg::R2, 14 + 20 + 2))
        .push(Insn::be16(Reg::R4))
        .jmp_imm(Jmp::Lt, Reg::R4, min_port.into(), "pass")
        .push(Insn::mov64_reg(Reg::R1, Reg::R6))
        .push(Insn::mov64_imm(Reg::R2, i32::from(u16::from_ne_bytes(0x8100u16.to_be_bytes()))))
        .push(Insn::mov64_imm(Reg::R3, 100))
        .push(Insn::call(SKB_VLAN_PUSH))
        .label("pass")
        .push(Insn::mov64_imm(Reg::R0, tc::NEXT))
        .push(Insn::exit());
    let program = Program::load(ProgType::SchedCls, "vlan_push", &asm.finish().unwrap()).unwrap();
    let link = bpf::Link::attach_tcx(&program, bpf::ifindex(dev).unwrap(), bpf::TcxDirection::Egress).unwrap();
    (program, link)
}

#[test]
fn rx_hints_off_reads_nothing() {
    if !require_root("rx_hints_off_reads_nothing") {
        return;
    }
    let netns = topology();
    netns.run(|| {
        let mut device = AfXdpDevice::open(&spec("af_xdp:iface=veth0,mode=copy,rx_hints=0,ring=256")).unwrap();
        assert_eq!(device.rx_hints(), None);
        let mut umems = Umems::new(UmemConfig { frame_count: 1024, ..Default::default() }).unwrap();
        let (mut port, slot) = device.open_queue(0, &mut umems).unwrap();
        assert!(!port.rx_hints_on());
        device.attach().unwrap();
        let socket = UdpSocket::bind(format!("{SENDER}:0")).unwrap();
        for flow in 0..3u16 {
            socket.send_to(&[1; 32], format!("{RECEIVER}:{}", 5000 + flow)).unwrap();
        }
        let mut frames: Vec<Frame> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut received = 0;
        while received < 3 && Instant::now() < deadline {
            received += port.rx_burst(&mut umems.slots[slot].pool, &mut frames, BURST);
            assert!(port.last_rx_hints().is_empty(), "hints off: none read");
            // No metadata in front of the data either: the program wrote none.
            for frame in &mut frames {
                assert_eq!(
                    umems.slots[slot].umem.headroom_mut(frame, pmd::rx_hints::HINTS_LEN).and_then(pmd::rx_hints::take),
                    None
                );
            }
            umems.slots[slot].pool.put_all(&mut frames);
        }
        assert_eq!(received, 3);
        assert_eq!(port.counters().unwrap().read().unwrap().rx_hints, None, "null in the stats");
        device.detach();
    });
}

/// An ifb device has no XDP metadata ops (the netdev family says so): hints are left off
/// with a line at start, or under `rx_hints=1` the port does not open, saying why.
#[test]
fn a_device_without_metadata_ops_runs_without_hints() {
    if !require_root("a_device_without_metadata_ops_runs_without_hints") {
        return;
    }
    let netns = Netns::new("hi");
    netns.ip(&["link", "add", "ifbhi0", "type", "ifb"]);
    netns.ip(&["link", "set", "ifbhi0", "up"]);
    netns.run(|| {
        let device = AfXdpDevice::open(&spec("af_xdp:iface=ifbhi0,mode=copy")).unwrap();
        assert_eq!(device.rx_hints(), None, "auto: off where unavailable");
        let err =
            AfXdpDevice::open(&spec("af_xdp:iface=ifbhi0,mode=copy,rx_hints=1")).err().expect("rx_hints=1 refused");
        let text = err.to_string();
        assert!(matches!(err, pmd::Error::RxHintsUnavailable { .. }), "{err:?}");
        assert!(
            text.contains("rx_hints=1, but ifbhi0 cannot give RX hints")
                && text.contains("none of the XDP metadata kfuncs"),
            "{text}"
        );
    });
}

/// Frames that reach veth0 as `xdp_frame`s (here: bounced by an XDP_TX program on veth1,
/// which veth hands to its peer without an skb) have no skb for veth's kfuncs to read: each
/// answers -ENODATA, and the program's own clock still stamps them.
#[test]
fn frames_redirected_into_veth_have_no_skb_and_no_device_hints() {
    if !require_root("frames_redirected_into_veth_have_no_skb_and_no_device_hints") {
        return;
    }
    let netns = topology();
    let mac = netns.mac("veth1").map(|b| format!("{b:02x}")).join(":");
    // A subnet of veth0's own (on one with a local address, the stack would deliver locally).
    netns.ip(&["addr", "add", "10.79.0.1/24", "dev", "veth0"]);
    netns.ip(&["neigh", "add", "10.79.0.2", "lladdr", &mac, "dev", "veth0"]);
    netns.run(|| {
        let mut device = AfXdpDevice::open(&spec("af_xdp:iface=veth0,mode=copy,rx_hints=1,ring=256")).unwrap();
        let mut umems = Umems::new(UmemConfig { frame_count: 1024, ..Default::default() }).unwrap();
        let (mut port, slot) = device.open_queue(0, &mut umems).unwrap();
        device.attach().unwrap();
        // veth1 sends back (XDP_TX) whatever reaches it: out of veth1, into veth0.
        let bounce = {
            use bpf::{Insn, ProgType, Program, Reg};
            let insns = [Insn::mov64_imm(Reg::R0, bpf::xdp::TX), Insn::exit()];
            Program::load(ProgType::Xdp, "bounce", &insns).unwrap()
        };
        let _bounce_link =
            bpf::Link::attach_xdp(&bounce, bpf::ifindex("veth1").unwrap(), bpf::XdpMode::Driver).unwrap();
        // From veth0's own stack (its transmit path has no XDP) to veth1.
        let socket = UdpSocket::bind("10.79.0.1:0").unwrap();
        let sent_ns = pmd::clock::monotonic_ns();
        for flow in 0..3u16 {
            socket.send_to(&[2; 32], format!("10.79.0.2:{}", 7000 + flow)).unwrap();
        }
        let got = receive(&mut port, &mut umems, slot, 3, Duration::from_secs(5));
        let received_ns = pmd::clock::monotonic_ns();
        assert_eq!(got.len(), 3, "every datagram bounced back");
        let enodata = -(libc::ENODATA as i16);
        for (frame, hints) in &got {
            assert_eq!(udp_ports(frame).1 / 1000, 7, "one of ours");
            let hints = hints.expect("the program's metadata");
            assert_eq!(hints.returns, [enodata; 3], "no skb: every kfunc -ENODATA");
            assert_eq!((hints.timestamp, hints.hash, hints.vlan), (None, None, None));
            let xdp_time = hints.xdp_time.expect("the program's own clock");
            assert!(sent_ns < xdp_time && xdp_time <= received_ns);
        }
        device.detach();
    });
}
