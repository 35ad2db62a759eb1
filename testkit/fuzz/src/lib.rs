//! The properties the fuzz targets check, shared word for word by the regression test.
//!
//! Two users: each fuzz target (fuzz/fuzz_targets/*.rs) and the corpus replay test
//! (dataplane/tests/fuzz_corpus.rs) call these functions, so what the fuzzers check and what
//! `cargo test` replays can never drift apart. Beside testkit rather than in it: these checks
//! use `dataplane` (inspect), `wire`, `engine`, `rules`, `pmd` and `umem`, which a crate's own
//! tests should not have to build (see Cargo.toml).
//!
//! Every input of `walk`, `inspect` and `csum_fix` is one raw Ethernet frame, so a frame from a
//! capture is a seed for any of them and any of their corpus files can be wrapped in a pcap for
//! `dataplane inspect`. The inputs of `rules_text` and `classbench` are text files.
//! Each check runs the frame under several fixed configurations (walker configs, `--csum`
//! modes, zero-checksum policies) rather than spending input bytes on choosing one.
//!
//! A violated property panics with a message saying which one; the replay test adds the file.

use dataplane::inspect::{frame_start, inspect_config, inspect_frame, inspect_frame_from, report_json, report_line};
use rules::Classifier;
use serde_json::Value;
use wire::checks::{
    complete, compute, compute_offload, first_failure, verdicts, CsumLayer, OuterMode, Status, ZeroPolicy,
};
use wire::{
    walk, walk_into, walk_into_general, ErrorKind, Headers, L3Kind, L4Kind, Layer, Offsets, PortSet, TunnelKind,
    WalkConfig, MAX_LAYERS,
};

/// Every layer name `inspect --json` may print (design.md section 4).
pub(crate) const LAYER_NAMES: [&str; 17] = [
    "eth", "vlan", "pppoe", "arp", "mpls", "cfm", "ipv4", "ipv6", "udp", "tcp", "icmp", "icmpv6", "vxlan", "gre",
    "geneve", "sll", "sll2",
];

/// The five `csum` keys of `inspect --json` (design.md section 4).
pub(crate) const CSUM_KEYS: [&str; 5] = ["outer_l3", "outer_l4", "tunnel", "inner_l3", "inner_l4"];
/// The values a `csum` key may have (design.md section 4).
pub(crate) const CSUM_VALUES: [&str; 5] = ["good", "bad", "zero", "absent", "unverifiable"];

/// The walker configurations every frame is walked with: the default, one that decodes
/// more ports (and puts 4789 in both sets: VXLAN must win), and one that decodes no tunnel.
pub(crate) fn walk_configs() -> [WalkConfig; 3] {
    let default = WalkConfig::default();
    let wide = WalkConfig {
        vxlan_ports: PortSet::from_ports(&[4789, 8472, 0]).expect("3 ports fit"),
        geneve_ports: PortSet::from_ports(&[6081, 4789, 65535]).expect("3 ports fit"),
        gre: true,
        ip_in_ip: true,
        // inspect's reading of an IPv4 total length of 0 (the frame's length).
        ipv4_zero_len_is_frame: true,
    };
    let flat = WalkConfig {
        vxlan_ports: PortSet::empty(),
        geneve_ports: PortSet::empty(),
        gre: false,
        ip_in_ip: false,
        ipv4_zero_len_is_frame: false,
    };
    [default, wide, flat]
}

/// Target `walk`: [`walk`] and [`walk_into`] never panic, agree with each other, and return
/// offsets that are inside the frame, ordered, and match the layer list.
pub fn check_walk(frame: &[u8]) {
    // Scratch that already holds another walk's result: walk_into must reset it.
    let mut dirty = Offsets::default();
    for config in walk_configs() {
        let result = walk(frame, &config);
        let mut out = dirty;
        let result_into = walk_into(frame, &config, &mut out);
        let mut fresh = Offsets::default();
        let result_fresh = walk_into(frame, &config, &mut fresh);
        assert_eq!(result.map(|_| ()), result_into, "walk and walk_into disagree ({config:?})");
        assert_eq!(result_into, result_fresh, "walk_into depends on what its output held ({config:?})");
        assert!(same(&out, &fresh), "walk_into left stale offsets behind ({config:?}):\n{out:?}\n{fresh:?}");
        // The shortcut for common frames gives exactly what the general walk gives, error
        // and partial offsets included.
        let mut general = Offsets::default();
        let result_general = walk_into_general(frame, &config, &mut general);
        assert_eq!(result_into, result_general, "walk_into and the general walk disagree ({config:?})");
        assert!(same(&out, &general), "walk_into and the general walk differ ({config:?}):\n{out:?}\n{general:?}");
        match result {
            Ok(offsets) => {
                assert!(same(&offsets, &out), "walk and walk_into differ ({config:?}):\n{offsets:?}\n{out:?}");
                check_offsets(frame, &offsets, &config, true);
                check_packet_key(frame, &offsets);
            }
            Err(err) => {
                // What was parsed before the error is what inspect reports: it must be as sound.
                check_offsets(frame, &out, &config, false);
                assert!(err.offset <= frame.len(), "error offset {} beyond the frame ({})", err.offset, frame.len());
                assert!(ErrorKind::ALL.contains(&err.kind));
                assert!(LAYER_NAMES.contains(&err.layer.name()));
            }
        }
        dirty = out;
    }
}

/// The classifier's key from a complete walk's offsets (`pipeline::key::packet_key`): it
/// reads only where the walker looked, says what the walk found (tunnel, family, ports),
/// and does not depend on what the key held before.
pub(crate) fn check_packet_key(frame: &[u8], offsets: &Offsets) {
    let mut key = rules::PacketKey::default();
    engine::pipeline::key::packet_key(frame, offsets, &mut key);
    let mut dirty = rules::PacketKey { tunnel: true, has_ports: true, src_port: 7, ..key };
    engine::pipeline::key::packet_key(frame, offsets, &mut dirty);
    assert_eq!(key, dirty, "packet_key depends on what the key held before");
    assert_eq!(key.tunnel, offsets.tunnel.is_some(), "key.tunnel disagrees with the walk");
    let inner = offsets.innermost();
    let family = match inner.l3.as_ref().map(|l3| l3.kind) {
        None => rules::Family::None,
        Some(L3Kind::Ipv4) => rules::Family::V4,
        Some(L3Kind::Ipv6) => rules::Family::V6,
    };
    assert_eq!(key.family, family, "key family disagrees with the innermost L3 header");
    if key.has_ports {
        assert!(inner.l4.is_some(), "a key with ports from a walk without L4");
    }
    assert_eq!(key.has_l2, inner.l2.is_some(), "key.has_l2 disagrees with the walk");
}

/// The same walk result, field by field (`LayerList` compares only the listed layers, not
/// the unused slots an earlier walk into the same `Offsets` left behind).
pub(crate) fn same(a: &Offsets, b: &Offsets) -> bool {
    a.layers.as_slice() == b.layers.as_slice()
        && a.outer == b.outer
        && a.tunnel == b.tunnel
        && a.inner == b.inner
        && a.ipv4_len_from_frame == b.ipv4_len_from_frame
}

/// Bounds, order and consistency of one walk's offsets. `complete`: the walk succeeded (else
/// `offsets` is what it filled before the error, and may stop anywhere).
pub(crate) fn check_offsets(frame: &[u8], offsets: &Offsets, config: &WalkConfig, complete: bool) {
    let len = frame.len();
    let layers = offsets.layers.as_slice();
    assert!(layers.len() <= MAX_LAYERS);
    let outer_end = check_headers(frame, &offsets.outer, 0, len, "outer");
    if complete {
        assert!(offsets.outer.l2.is_some(), "a walked frame has an Ethernet header");
        assert_eq!(layers, expected_layers(offsets).as_slice(), "layer list does not match the offsets");
    } else {
        // Partial: the list is a prefix of what the offsets filled so far would list, or
        // exactly it (a header that fails is not listed; its offsets are not filled either).
        let expected = expected_layers(offsets);
        assert!(
            expected.starts_with(layers) || layers.starts_with(&expected),
            "layer list {layers:?} does not match the partial offsets ({expected:?})"
        );
    }
    // Mark where the outer headers end, in order: l2 <= l3 <= l4 <= tunnel <= inner.
    let mut at = outer_end;
    if let Some(tunnel) = &offsets.tunnel {
        let l3 = offsets.outer.l3.expect("a tunnel has an outer IP header");
        assert!(!l3.fragment.is_fragment(), "a tunnel was decoded inside a fragment");
        assert!(tunnel.offset >= at, "tunnel at {} before the outer headers end ({at})", tunnel.offset);
        assert!(tunnel.payload_offset() <= tunnel.end, "tunnel header past its end: {tunnel:?}");
        assert!(tunnel.end <= l3.end && l3.end <= len, "tunnel end {} beyond outer IP end {}", tunnel.end, l3.end);
        match tunnel.kind {
            TunnelKind::Vxlan | TunnelKind::Geneve => {
                let l4 = offsets.outer.l4.expect("a UDP tunnel has an outer UDP header");
                assert_eq!(l4.kind, L4Kind::Udp);
                assert_eq!(tunnel.offset, l4.offset + 8, "UDP tunnel not right after the UDP header");
                assert!(tunnel.end <= l4.end());
                let port = u16::from_be_bytes([frame[l4.offset + 2], frame[l4.offset + 3]]);
                if tunnel.kind == TunnelKind::Vxlan {
                    assert!(config.vxlan_ports.contains(port), "VXLAN on port {port}");
                    assert_eq!(tunnel.header_len, 8);
                } else {
                    assert!(config.geneve_ports.contains(port) && !config.vxlan_ports.contains(port), "Geneve {port}");
                }
            }
            TunnelKind::Gre | TunnelKind::IpInIp => {
                assert!(offsets.outer.l4.is_none(), "GRE / IP-in-IP replace the outer L4 header");
                assert_eq!(tunnel.offset, l3.payload_offset(), "GRE / IP-in-IP not right after the IP header");
                assert_eq!(tunnel.end, l3.end);
                if tunnel.kind == TunnelKind::Gre {
                    assert!(config.gre);
                } else {
                    assert!(config.ip_in_ip);
                    assert_eq!(tunnel.header_len, 0);
                }
            }
        }
        if let Some(field) = tunnel.gre_checksum_offset {
            assert_eq!(tunnel.kind, TunnelKind::Gre);
            assert_eq!(field, tunnel.offset + 4, "GRE checksum field");
            assert!(field + 2 <= tunnel.payload_offset());
        }
        at = tunnel.payload_offset();
        if let Some(inner) = &offsets.inner {
            check_headers(frame, inner, at, tunnel.end, "inner");
        }
    } else {
        assert!(offsets.inner.is_none(), "inner headers without a tunnel");
    }
}

/// One set of headers within `[start, end)`: each inside the frame, each starting where the
/// one before ends. Returns where the last one ends (its start for an L4 header: the payload
/// behind it is not walked).
fn check_headers(frame: &[u8], headers: &Headers, start: usize, end: usize, which: &str) -> usize {
    assert!(end <= frame.len(), "{which}: region end {end} beyond the frame ({})", frame.len());
    let mut at = start;
    if let Some(l2) = &headers.l2 {
        assert_eq!(l2.offset, start, "{which} l2 offset");
        assert_eq!(l2.len, 14 + 4 * l2.vlan_count(), "{which} l2 length");
        assert!(l2.vlans.iter().skip_while(|v| v.is_some()).all(Option::is_none), "{which} VLAN gap");
        at = l2.offset + l2.len;
        assert!(at <= end, "{which} l2 ends at {at}, past {end}");
    }
    let mut end = end;
    // A PPPoE session (RFC 2516 §5) as the flow dissector accepts it: what it carries is
    // inside its length.
    if let Some(pppoe) = &headers.pppoe {
        assert_eq!(pppoe.offset, at, "{which} PPPoE not right after l2");
        assert_eq!(frame[at..at + 2], [0x11, 0], "{which} PPPoE version, type and code");
        let length = usize::from(u16::from_be_bytes([frame[at + 4], frame[at + 5]]));
        assert_eq!(pppoe.end, at + 6 + length, "{which} PPPoE end");
        assert!(pppoe.end <= end && matches!(pppoe.header_len, 7 | 8), "{which} {pppoe:?} past {end}");
        assert_eq!(pppoe.protocol & 0x0101, 0x0001, "{which} PPP protocol {:#x}", pppoe.protocol);
        assert!(headers.arp.is_none() && headers.cfm.is_none(), "{which} PPPoE with ARP or CFM: {headers:?}");
        (at, end) = (pppoe.payload_offset(), pppoe.end);
    }
    if let Some(cfm) = &headers.cfm {
        assert_eq!(cfm.offset, at, "{which} CFM not right after l2");
        assert!(cfm.offset + wire::CfmInfo::LEN <= end, "{which} CFM header past {end}");
        assert!(headers.mpls.is_none() && headers.l3.is_none(), "{which} CFM with more headers: {headers:?}");
    }
    // ARP and MPLS end the walk: nothing is read under them.
    if let Some(arp) = &headers.arp {
        assert_eq!(arp.offset, at, "{which} ARP not right after l2");
        assert!(arp.offset + wire::ArpInfo::LEN <= end, "{which} ARP header past {end}");
        assert!(headers.mpls.is_none() && headers.l3.is_none(), "{which} ARP with more headers: {headers:?}");
    }
    if let Some(mpls) = &headers.mpls {
        assert_eq!(mpls.offset, at, "{which} MPLS not right after l2");
        let entries = usize::from(mpls.entries);
        assert!((1..=wire::MAX_MPLS_ENTRIES).contains(&entries), "{which} {entries} MPLS entries");
        assert!(
            mpls.bottom || entries == wire::MAX_MPLS_ENTRIES || mpls.offset + 4 * entries + 4 > end,
            "{which} MPLS stack stops before its bottom: {mpls:?}"
        );
        assert!(mpls.offset + 4 * entries <= end, "{which} MPLS stack past {end}");
        assert!(headers.l3.is_none(), "{which} MPLS with an L3 under it");
    }
    if let Some(l3) = &headers.l3 {
        assert_eq!(l3.offset, at, "{which} l3 not right after l2");
        let min = match l3.kind {
            L3Kind::Ipv4 => 20,
            L3Kind::Ipv6 => 40,
        };
        assert!(l3.header_len >= min, "{which} l3 header {} bytes", l3.header_len);
        assert!(l3.payload_offset() <= l3.end, "{which} l3 header past its end: {l3:?}");
        assert!(l3.end <= end, "{which} l3 end {} past {end}", l3.end);
        assert!(l3.src_offset() + l3.addr_len() <= l3.payload_offset(), "{which} source address");
        assert!(l3.dst_offset >= l3.offset, "{which} destination address");
        assert!(l3.dst_offset + l3.addr_len() <= l3.payload_offset(), "{which} destination address past header");
        at = l3.payload_offset();
        if let Some(l4) = &headers.l4 {
            assert!(l3.fragment != wire::Fragment::Later, "{which} l4 in a later fragment");
            assert_eq!(l4.offset, at, "{which} l4 not right after l3");
            assert_eq!(l4.end(), l3.end, "{which} l4 does not reach the l3 end");
            assert_eq!(l4.complete, !l3.fragment.is_fragment(), "{which} l4 completeness");
            let min = match l4.kind {
                L4Kind::Udp | L4Kind::Icmp => 8,
                // Type, code, checksum (RFC 4443 §2.1); the message body is not walked.
                L4Kind::Icmpv6 => 4,
                L4Kind::Tcp => 20,
                L4Kind::Other(_) => 0,
            };
            assert!(l4.len >= min, "{which} {:?} header in {} bytes", l4.kind, l4.len);
            if l4.kind == L4Kind::Udp && l4.complete {
                let udp_len = usize::from(u16::from_be_bytes([frame[l4.offset + 4], frame[l4.offset + 5]]));
                assert!((8..=l4.len).contains(&udp_len), "{which} UDP length {udp_len} not in 8..={}", l4.len);
            }
            if l4.kind == L4Kind::Tcp {
                let data_offset = usize::from(frame[l4.offset + 12] >> 4) * 4;
                assert!((20..=l4.len).contains(&data_offset), "{which} TCP data offset {data_offset}");
            }
        }
    } else {
        assert!(headers.l4.is_none(), "{which} l4 without l3");
    }
    at
}

/// The layer list the offsets imply.
fn expected_layers(offsets: &Offsets) -> Vec<Layer> {
    let mut layers = Vec::new();
    push_headers(&mut layers, &offsets.outer);
    if let Some(tunnel) = &offsets.tunnel {
        match tunnel.kind {
            TunnelKind::Vxlan => layers.push(Layer::Vxlan),
            TunnelKind::Geneve => layers.push(Layer::Geneve),
            TunnelKind::Gre => layers.push(Layer::Gre),
            TunnelKind::IpInIp => {}
        }
    }
    if let Some(inner) = &offsets.inner {
        push_headers(&mut layers, inner);
    }
    layers
}

fn push_headers(layers: &mut Vec<Layer>, headers: &Headers) {
    if let Some(l2) = &headers.l2 {
        layers.push(Layer::Eth);
        layers.extend(std::iter::repeat_n(Layer::Vlan, l2.vlan_count()));
    }
    if headers.pppoe.is_some() {
        layers.push(Layer::Pppoe);
    }
    if headers.arp.is_some() {
        layers.push(Layer::Arp);
    }
    if headers.mpls.is_some() {
        layers.push(Layer::Mpls);
    }
    if headers.cfm.is_some() {
        layers.push(Layer::Cfm);
    }

    if let Some(l3) = &headers.l3 {
        layers.push(match l3.kind {
            L3Kind::Ipv4 => Layer::Ipv4,
            L3Kind::Ipv6 => Layer::Ipv6,
        });
    }
    match headers.l4.map(|l4| l4.kind) {
        Some(L4Kind::Udp) => layers.push(Layer::Udp),
        Some(L4Kind::Tcp) => layers.push(Layer::Tcp),
        Some(L4Kind::Icmp) => layers.push(Layer::Icmp),
        Some(L4Kind::Icmpv6) => layers.push(Layer::Icmpv6),
        Some(L4Kind::Other(_)) | None => {}
    }
}

/// Target `inspect`: [`inspect_frame`], [`report_json`] and [`report_line`] never panic, the
/// report agrees with [`walk`], and the JSON follows design.md section 4.
pub fn check_inspect(frame: &[u8]) {
    let config = WalkConfig::default();
    let report = inspect_frame(frame, &config);
    match walk(frame, &config) {
        Ok(offsets) => {
            assert!(report.error.is_none(), "inspect reports {:?}, walk succeeds", report.error);
            assert!(same(&report.offsets, &offsets), "inspect and walk differ:\n{:?}\n{offsets:?}", report.offsets);
        }
        Err(err) => assert_eq!(report.error, Some(err), "inspect and walk report different errors"),
    }
    let index = frame.len() * 7 + 3;
    let json = report_json(index, &report);
    let text = json.to_string();
    let reparsed: Value = serde_json::from_str(&text).expect("report_json prints valid JSON");
    assert_eq!(reparsed, json, "JSON does not survive a round trip");
    let object = json.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["csum", "error", "index", "layers"], "top-level keys");
    assert_eq!(object["index"].as_u64(), Some(index as u64), "index");

    let layers: Vec<&str> = object["layers"]
        .as_array()
        .expect("layers is an array")
        .iter()
        .map(|l| l.as_str().expect("a layer is a string"))
        .collect();
    for layer in &layers {
        assert!(LAYER_NAMES.contains(layer), "unknown layer {layer:?}");
    }
    let walked: Vec<&str> = report.offsets.layers.names().collect();
    assert_eq!(layers, walked, "JSON layers differ from the walk's");

    let csum = object["csum"].as_object().expect("csum is an object");
    let mut csum_keys: Vec<&str> = csum.keys().map(String::as_str).collect();
    csum_keys.sort_unstable();
    let mut want = CSUM_KEYS;
    want.sort_unstable();
    assert_eq!(csum_keys, want, "csum keys");
    for layer in CsumLayer::ALL {
        let value = csum[layer.name()].as_str().expect("a csum status is a string");
        assert!(CSUM_VALUES.contains(&value), "{}: unknown status {value:?}", layer.name());
        assert_eq!(value, report.verdicts.get(layer).name(), "{}", layer.name());
    }
    check_statuses(&report.offsets, &report.verdicts);

    match (&report.error, &object["error"]) {
        (None, Value::Null) => {}
        (Some(err), Value::Object(error)) => {
            let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["kind", "layer", "offset"], "error keys");
            let kind = error["kind"].as_str().expect("error.kind is a string");
            assert!(ErrorKind::ALL.iter().any(|k| k.name() == kind), "unknown error kind {kind:?}");
            assert_eq!(kind, err.kind.name());
            let layer = error["layer"].as_str().expect("error.layer is a string");
            assert!(LAYER_NAMES.contains(&layer), "unknown error layer {layer:?}");
            let offset = error["offset"].as_u64().expect("error.offset is a number");
            assert!(offset <= frame.len() as u64, "error offset {offset} beyond the frame");
        }
        (error, json) => panic!("error {error:?} printed as {json}"),
    }
    let line = report_line(index, frame.len(), &report);
    assert!(line.starts_with(&format!("#{index}")), "report line {line:?}");
}

/// Which statuses a layer can have at all, whatever its bytes: `absent` exactly where there is
/// no checksum to check, `zero` only for UDP, `unverifiable` only for an L4 header of a fragment.
pub(crate) fn check_statuses(offsets: &Offsets, verdicts: &wire::checks::Verdicts) {
    let l3_has = |h: Option<&Headers>| h.and_then(|h| h.l3).is_some_and(|l3| l3.kind == L3Kind::Ipv4);
    let l4_status_ok = |h: Option<&Headers>, status: Status| {
        let Some(l3) = h.and_then(|h| h.l3) else { return status == Status::Absent };
        let l4 = h.and_then(|h| h.l4);
        match status {
            Status::Unverifiable => l3.fragment.is_fragment(),
            Status::Zero => !l3.fragment.is_fragment() && l4.is_some_and(|l4| l4.kind == L4Kind::Udp),
            Status::Good | Status::Bad => {
                !l3.fragment.is_fragment() && l4.is_some_and(|l4| !matches!(l4.kind, L4Kind::Other(_)))
            }
            Status::Absent => !l4.is_some_and(|l4| !matches!(l4.kind, L4Kind::Other(_))) || l3.fragment.is_fragment(),
        }
    };
    let outer = Some(&offsets.outer);
    let inner = offsets.inner.as_ref();
    let gre_csum = offsets.tunnel.is_some_and(|t| t.gre_checksum_offset.is_some());
    for layer in CsumLayer::ALL {
        let status = verdicts.get(layer);
        let ok = match layer {
            CsumLayer::OuterL3 => (status == Status::Absent) != l3_has(outer),
            CsumLayer::InnerL3 => (status == Status::Absent) != l3_has(inner),
            CsumLayer::Tunnel => (status == Status::Absent) != gre_csum,
            CsumLayer::OuterL4 => l4_status_ok(outer, status),
            CsumLayer::InnerL4 => l4_status_ok(inner, status),
        };
        let ok = ok && (matches!(layer, CsumLayer::OuterL4 | CsumLayer::InnerL4) || status != Status::Zero);
        assert!(ok, "{} is {} for {offsets:?}", layer.name(), status.name());
    }
}

/// The zero-checksum policies `compute` is run with: the default (zero only on IPv4) and one
/// that allows zero on IPv6 for every UDP destination port this frame uses.
fn zero_policies(frame: &[u8], offsets: &Offsets) -> [ZeroPolicy; 2] {
    let mut ports = PortSet::empty();
    for headers in [Some(&offsets.outer), offsets.inner.as_ref()].into_iter().flatten() {
        if let Some(l4) = headers.l4.filter(|l4| l4.kind == L4Kind::Udp) {
            ports.insert(u16::from_be_bytes([frame[l4.offset + 2], frame[l4.offset + 3]]));
        }
    }
    [ZeroPolicy::default(), ZeroPolicy { ipv6_zero_ports: ports }]
}

/// Target `csum_fix`: on a frame that walks, `compute` (`--csum fix` and `lco`) does not
/// panic, keeps the length, writes only checksum fields, leaves the frame walking to the same
/// offsets, and leaves nothing `bad`: every checksum present is `good`, except a UDP zero the
/// policy keeps (`zero`) and a fragment's L4 checksum (`unverifiable`). The fixed frame passes
/// `--csum verify` under the same policy, and fixing it again changes nothing. `--csum
/// offload`, its request completed as a device would, gives `lco`'s bytes.
pub fn check_csum_fix(frame: &[u8]) {
    let config = WalkConfig::default();
    let Ok(offsets) = walk(frame, &config) else { return };
    let fields = checksum_fields(&offsets);
    for policy in zero_policies(frame, &offsets) {
        for mode in [OuterMode::Fix, OuterMode::Lco] {
            let mut fixed = frame.to_vec();
            compute(&mut fixed, &offsets, mode, &policy);
            assert_eq!(fixed.len(), frame.len(), "{mode:?}: length changed");
            for (i, (a, b)) in frame.iter().zip(&fixed).enumerate() {
                assert!(a == b || fields.iter().any(|f| (*f..f + 2).contains(&i)), "{mode:?}: byte {i} changed");
            }
            let again = walk(&fixed, &config).unwrap_or_else(|e| panic!("{mode:?}: fixed frame no longer walks: {e}"));
            assert!(same(&again, &offsets), "{mode:?}: fixed frame walks differently:\n{again:?}\n{offsets:?}");
            let statuses = verdicts(&fixed, &offsets);
            check_statuses(&offsets, &statuses);
            for layer in CsumLayer::ALL {
                let want = expected_after_fix(frame, &offsets, layer, mode, &policy);
                let got = statuses.get(layer);
                assert_eq!(got, want, "{mode:?} {policy:?}: {} is {} after the fix", layer.name(), got.name());
            }
            assert_eq!(first_failure(&fixed, &offsets, &statuses, &policy), None, "{mode:?}: fails verify");
            let mut twice = fixed.clone();
            compute(&mut twice, &offsets, mode, &policy);
            assert_eq!(twice, fixed, "{mode:?}: fixing a fixed frame changed it");
        }
        // `--csum offload`: once the device has done its part (here in software), lco's bytes;
        // what the device is asked to do lies inside the frame (the kernel refuses more).
        let mut lco = frame.to_vec();
        compute(&mut lco, &offsets, OuterMode::Lco, &policy);
        let mut offload = frame.to_vec();
        if let Some(request) = compute_offload(&mut offload, &offsets, &policy) {
            assert!(request.start + request.offset + 2 <= frame.len(), "offload: {request:?} past the frame");
            complete(&mut offload, request);
        }
        assert_eq!(offload, lco, "offload then completion is not lco under {policy:?}");
    }
}

/// Frame offsets of every checksum field `compute` may write.
fn checksum_fields(offsets: &Offsets) -> Vec<usize> {
    let mut fields = Vec::new();
    for headers in [Some(&offsets.outer), offsets.inner.as_ref()].into_iter().flatten() {
        if let Some(l3) = headers.l3.filter(|l3| l3.kind == L3Kind::Ipv4) {
            fields.push(l3.offset + 10);
        }
        match headers.l4.map(|l4| (l4.kind, l4.offset)) {
            Some((L4Kind::Udp, at)) => fields.push(at + 6),
            Some((L4Kind::Tcp, at)) => fields.push(at + 16),
            Some((L4Kind::Icmp | L4Kind::Icmpv6, at)) => fields.push(at + 2),
            _ => {}
        }
    }
    fields.extend(offsets.tunnel.and_then(|t| t.gre_checksum_offset));
    fields
}

/// The status `layer` must have after `compute(frame, offsets, mode, policy)`.
fn expected_after_fix(
    frame: &[u8],
    offsets: &Offsets,
    layer: CsumLayer,
    mode: OuterMode,
    policy: &ZeroPolicy,
) -> Status {
    let l3_status = |h: Option<&Headers>| match h.and_then(|h| h.l3) {
        Some(l3) if l3.kind == L3Kind::Ipv4 => Status::Good,
        _ => Status::Absent,
    };
    // Whether `compute` keeps a UDP checksum of 0 here: allowed on IPv4 and on IPv6 for the
    // policy's ports; for the outer UDP header of a UDP tunnel, only in `fix` mode.
    let l4_status = |h: Option<&Headers>, outer_of_udp_tunnel: bool| {
        let Some(h) = h else { return Status::Absent };
        let Some(l3) = h.l3 else { return Status::Absent };
        if l3.fragment.is_fragment() {
            let checksummed = matches!(l3.protocol, 1 | 6 | 17 | 58);
            return match h.l4.map(|l4| l4.kind) {
                Some(L4Kind::Other(_)) => Status::Absent,
                _ if checksummed => Status::Unverifiable,
                _ => Status::Absent,
            };
        }
        match h.l4.map(|l4| (l4.kind, l4.offset)) {
            Some((L4Kind::Udp, at)) => {
                let was_zero = frame[at + 6..at + 8] == [0, 0];
                let allowed = match l3.kind {
                    L3Kind::Ipv4 => true,
                    L3Kind::Ipv6 => policy.ipv6_zero_ports.contains(u16::from_be_bytes([frame[at + 2], frame[at + 3]])),
                };
                let keep = was_zero && allowed && !(outer_of_udp_tunnel && mode == OuterMode::Lco);
                if keep {
                    Status::Zero
                } else {
                    Status::Good
                }
            }
            Some((L4Kind::Tcp | L4Kind::Icmp | L4Kind::Icmpv6, _)) => Status::Good,
            _ => Status::Absent,
        }
    };
    let udp_tunnel = offsets.tunnel.is_some_and(|t| matches!(t.kind, TunnelKind::Vxlan | TunnelKind::Geneve));
    match layer {
        CsumLayer::OuterL3 => l3_status(Some(&offsets.outer)),
        CsumLayer::OuterL4 => l4_status(Some(&offsets.outer), udp_tunnel),
        CsumLayer::Tunnel => {
            if offsets.tunnel.is_some_and(|t| t.gre_checksum_offset.is_some()) {
                Status::Good
            } else {
                Status::Absent
            }
        }
        CsumLayer::InnerL3 => l3_status(offsets.inner.as_ref()),
        CsumLayer::InnerL4 => l4_status(offsets.inner.as_ref(), false),
    }
}

/// The file name the rule targets parse under: every error must name it.
pub(crate) const RULES_FILE: &str = "fuzz.rules";

/// At most this many rules are turned into probe packets (a fuzz input of a few KiB has
/// fewer anyway; the cap keeps one input's checks short).
const PROBED_RULES: usize = 64;

/// Target `rules_text`: the rule file parser (tc flower syntax, pasted `tc filter` lines).
/// Never panics; a bad file gets errors that name the file and a line and column inside the
/// text; a good file prints back (`Display`) as a file that parses to the same rules; and
/// every classifier answers as the linear reference on packets built around each rule.
pub fn check_rules_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match rules::parse(RULES_FILE, &text) {
        Err(errors) => check_rule_errors(&text, &errors),
        Ok(set) => {
            let printed = set.to_string();
            let back = match rules::parse(RULES_FILE, &printed) {
                Ok(back) => back,
                Err(errors) => panic!("the printed rules do not parse: {errors:?}\n{printed}"),
            };
            assert_eq!(without_positions(&back), without_positions(&set), "printed and parsed back differ:\n{printed}");
            assert_eq!(back.order, set.order, "printed rules are matched in another order:\n{printed}");
            check_classifiers_agree(&set, data);
        }
    }
}

/// Target `classbench`: the ClassBench filter and trace parsers. Never panic; errors are
/// located; a filter set written back (`gen::write_classbench`) parses to rules that match
/// exactly the same packets and write back to the same text; classifiers agree with linear
/// on packets built around each rule and on the input read as a trace.
pub fn check_classbench(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let trace = match rules::parse_trace(RULES_FILE, &text) {
        Ok(keys) => keys,
        Err(errors) => {
            check_rule_errors(&text, &errors);
            Vec::new()
        }
    };
    let set = match rules::parse_classbench(RULES_FILE, &text) {
        Ok(set) => set,
        Err(errors) => return check_rule_errors(&text, &errors),
    };
    assert!(set.rules.iter().all(|rule| rule.actions == [rules::Action::Drop]), "ClassBench rules are drop rules");
    let ours = rules::Linear::new(&set);
    // ClassBench orders by line, so the writer wants one prio; IPv6 lines have no ClassBench
    // form to write back.
    let ipv4_only = set.rules.iter().all(|rule| {
        matches!(rule.protocol, rules::Protocol::Ipv4 | rules::Protocol::All)
            && [rule.keys.src_ip, rule.keys.dst_ip].into_iter().flatten().all(|p| p.family == rules::Family::V4)
    });
    if ipv4_only {
        let one_prio =
            rules::RuleSet::new(set.rules.iter().map(|rule| rules::Rule { prio: 1, ..rule.clone() }).collect());
        let written = match rules::gen::write_classbench(&one_prio) {
            Ok(written) => written,
            Err(err) => panic!("an IPv4 ClassBench set cannot be written back: {err}"),
        };
        let back = match rules::parse_classbench(RULES_FILE, &written) {
            Ok(back) => back,
            Err(errors) => panic!("the written filter set does not parse: {errors:?}\n{written}"),
        };
        let back_one_prio =
            rules::RuleSet::new(back.rules.iter().map(|rule| rules::Rule { prio: 1, ..rule.clone() }).collect());
        let rewritten = rules::gen::write_classbench(&back_one_prio).ok();
        assert_eq!(rewritten.as_deref(), Some(written.as_str()), "writing is not a fixed point");
        let theirs = rules::Linear::new(&back);
        for key in probe_keys(&set, data).iter().chain(&trace) {
            assert_eq!(
                ours.classify(key),
                theirs.classify(key),
                "written set answers otherwise for {key:?}\n{written}"
            );
        }
    }
    check_classifiers_agree(&set, data);
    let fast = rules::fast::build(&set).expect("the fast classifier holds the set");
    for key in &trace {
        assert_eq!(fast.classify(key), ours.classify(key), "fast and linear disagree on trace key {key:?}");
    }
}

/// Errors of a rule or trace parse: at least one, each naming [`RULES_FILE`], a line of the
/// text (1-based) and a column within it or 0 (the whole line), shown as `file:line:col: message`.
fn check_rule_errors(text: &str, errors: &[rules::ParseError]) {
    assert!(!errors.is_empty(), "a failed parse must say why");
    let lines: Vec<&str> = text.lines().collect();
    for error in errors {
        assert_eq!(error.file, RULES_FILE);
        assert!(
            error.line >= 1 && error.line <= lines.len(),
            "error outside the text: {error} ({} lines)",
            lines.len()
        );
        let chars = lines[error.line - 1].chars().count();
        assert!(error.col <= chars + 1, "error column beyond its line ({chars} characters): {error}");
        assert!(!error.message.is_empty(), "an error without a message: {error:?}");
        let shown = error.to_string();
        let position = if error.col == 0 {
            format!("{RULES_FILE}:{}: ", error.line)
        } else {
            format!("{RULES_FILE}:{}:{}: ", error.line, error.col)
        };
        assert!(shown.starts_with(&position), "not shown as file:line:col: message: {shown}");
    }
}

/// The rules without where they stood in their file (a printed set has one rule per line).
fn without_positions(set: &rules::RuleSet) -> Vec<rules::Rule> {
    set.rules.iter().map(|rule| rules::Rule { line: 0, action_col: 0, ..rule.clone() }).collect()
}

/// Packets around each of the first rules: one built to fall in it, its neighbours at the
/// edges of its port ranges and prefixes, and the same without ports; seeded by the input.
fn probe_keys(set: &rules::RuleSet, data: &[u8]) -> Vec<rules::PacketKey> {
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let mut rng = rules::gen::Rng::new(seed);
    let mut keys = Vec::new();
    for rule in set.rules.iter().take(PROBED_RULES) {
        let key = rules::gen::packet_for_rule(rule, &mut rng);
        keys.push(key);
        let k = &rule.keys;
        for port in [k.src_port, k.dst_port].into_iter().flatten() {
            let (lo, hi) = port.bounds();
            for value in [lo.wrapping_sub(1), lo, hi, hi.wrapping_add(1)] {
                keys.push(rules::PacketKey { src_port: value, ..key });
                keys.push(rules::PacketKey { dst_port: value, ..key });
            }
        }
        for prefix in [k.src_ip, k.dst_ip].into_iter().flatten() {
            let width = if prefix.family == rules::Family::V4 { 32 } else { 128 };
            let host = u128::MAX.checked_shr(u32::from(prefix.len) + 128 - width).unwrap_or(0);
            let family_bits = u128::MAX.checked_shr(128 - width).unwrap_or(0);
            let (first, last) = (prefix.addr, prefix.addr | host);
            for addr in [first, last, first.wrapping_sub(1) & family_bits, last.wrapping_add(1) & family_bits] {
                keys.push(rules::PacketKey { src_ip: addr, ..key });
                keys.push(rules::PacketKey { dst_ip: addr, ..key });
            }
        }
        keys.push(rules::PacketKey { has_ports: false, ..key });
    }
    keys
}

/// `fast` (default and tiny-leaf tunings), its burst lookup and tuple space search give the
/// linear reference's answer on [`probe_keys`].
fn check_classifiers_agree(set: &rules::RuleSet, data: &[u8]) {
    use rules::fast::{Fast, Params};
    let keys = probe_keys(set, data);
    let linear = rules::Linear::new(set);
    let want: Vec<Option<usize>> = keys.iter().map(|key| linear.classify(key)).collect();
    let tiny = Params { leaf_rules: 1, max_cut_bits: 2, one_tree_up_to: 0, ..Params::default() };
    let classifiers: [Box<dyn Classifier>; 3] = [
        Box::new(rules::fast::build(set).expect("a fuzz input is far below the fast classifier's limits")),
        Box::new(Fast::with_params(set, tiny).expect("a fuzz input is far below the fast classifier's limits")),
        Box::new(rules::tss::Tss::new(set)),
    ];
    for classifier in &classifiers {
        let mut burst = vec![None; keys.len()];
        classifier.classify_burst(&keys, &mut burst);
        for ((key, &want), got) in keys.iter().zip(&want).zip(burst) {
            assert_eq!(classifier.classify(key), want, "{} and linear disagree on {key:?}", classifier.name());
            assert_eq!(got, want, "{} (burst) and linear disagree on {key:?}", classifier.name());
        }
    }
}

/// The rewrites target `rewrite` applies to every frame: each tunnel kind over IPv4 and IPv6,
/// with and without an outer checksum, and the two rewrites that do not push headers.
pub(crate) const REWRITES: [&str; 8] = [
    "ttl-dec",
    "decap",
    "encap:vxlan,src=198.18.0.1,dst=198.18.0.2,vni=42",
    "encap:vxlan,src=198.18.0.1,dst=198.18.0.2,csum=zero",
    "encap:geneve,src=2001:db8::1,dst=2001:db8::2,vni=9",
    "encap:gre,src=198.18.0.1,dst=198.18.0.2,key=5",
    "encap:gre,src=2001:db8::1,dst=2001:db8::2,csum=zero",
    "encap:vxlan,src=2001:db8::1,dst=2001:db8::2,port=8472,ttl=1",
];

/// Target `rewrite`: `ttl-dec`, `decap` and `encap` ([`engine::pipeline::Rewrite`]) on one
/// frame in a UMEM frame, under two MTUs. Only frames that walk are rewritten (the pipeline
/// drops the others first). No panic; every outcome is one the rewrite may have:
/// - `ttl-dec`: same length, only the TTL / hop limit byte and the IPv4 header checksum
///   change, a good IPv4 header checksum stays good (RFC 1624); `ttl_expired` only for a TTL
///   of 0 or 1;
/// - `decap`: never longer; `not_applicable` only without a tunnel;
/// - `encap`: the frame up to its IP end (padding left behind) behind exactly the tunnel's
///   headers, the outer IP packet within the MTU; `mtu_exceeded` exactly when it would not
///   be, leaving the frame as it was; `no_room` only when the UMEM frame cannot hold it; and
///   `decap` of what `encap` made gives the carried frame back, byte for byte;
/// - `vlan pop|push|modify`: see [`check_vlan_rewrites`];
/// - `mpls pop|push|modify|dec_ttl`: see [`check_mpls_rewrites`];
/// - `tunnel_key set|unset`: see [`check_tunnel_key_rewrites`].
/// - `pedit`: see [`check_pedit_rewrites`].
pub fn check_rewrite(frame: &[u8]) {
    use engine::pipeline::Rewrite;
    use engine::stats::DropReason;

    // The wide config: VXLAN on 8472 too, as a `--vxlan-port 8472` run that encapsulates to
    // port 8472 would have it (else its own tunnels would not walk as tunnels).
    let config = walk_configs()[1];
    let Ok(offsets) = walk(frame, &config) else { return };
    let (umem, mut frames) =
        umem::Umem::create(&umem::UmemConfig { frame_count: 2, ..Default::default() }).expect("a 2-frame UMEM");
    let mut token = frames.pop().expect("2 frames");
    // Frames longer than a UMEM frame never arrive from a port.
    if !umem.write(&mut token, frame) {
        return;
    }
    let policy = ZeroPolicy::default();
    let carried = offsets.outer.l3.map_or(frame.len(), |l3| l3.end.min(frame.len()));
    for spec in REWRITES {
        let rewrite: Rewrite = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
        for mtu in [1500, 9000] {
            // Back to the chunk start, then the original bytes.
            let head = umem.headroom(&token);
            assert!(umem.adjust_head(&mut token, head as isize));
            assert!(umem.write(&mut token, frame), "the frame fit before");
            let mut scratch = offsets;
            let result = rewrite.apply(&umem, &mut token, &mut scratch, &config, &policy, mtu);
            let out = umem.data(&token).to_vec();
            match (&rewrite, result) {
                (Rewrite::TtlDec, Ok(changed)) => {
                    assert!(!changed, "ttl-dec changed the layout");
                    assert_eq!(out.len(), frame.len(), "ttl-dec changed the length");
                    let allowed: &[usize] = match offsets.outer.l3 {
                        Some(l3) if l3.kind == L3Kind::Ipv4 => &[l3.offset + 8, l3.offset + 10, l3.offset + 11],
                        Some(l3) => &[l3.offset + 7],
                        None => &[],
                    };
                    for (at, (a, b)) in frame.iter().zip(&out).enumerate() {
                        assert!(a == b || allowed.contains(&at), "ttl-dec changed byte {at}");
                    }
                    let before = verdicts(frame, &offsets).get(CsumLayer::OuterL3);
                    if before == Status::Good {
                        let after_offsets = walk(&out, &config).expect("ttl-dec leaves a frame that walks");
                        assert_eq!(verdicts(&out, &after_offsets).get(CsumLayer::OuterL3), Status::Good);
                    }
                }
                (Rewrite::TtlDec, Err(reason)) => {
                    assert_eq!(reason, DropReason::TtlExpired, "{spec}");
                    let l3 = offsets.outer.l3.expect("ttl_expired without IP");
                    let ttl = frame[if l3.kind == L3Kind::Ipv4 { l3.offset + 8 } else { l3.offset + 7 }];
                    assert!(ttl <= 1, "ttl_expired with a TTL of {ttl}");
                }
                (Rewrite::Decap, Ok(_)) => {
                    assert!(offsets.tunnel.is_some(), "decap of a frame without a tunnel");
                    assert!(out.len() <= frame.len(), "decap made the frame longer");
                }
                (Rewrite::Decap, Err(reason)) => {
                    assert_eq!(reason, DropReason::NotApplicable, "{spec}");
                }
                (Rewrite::Encap(_), Ok(_)) => {
                    let overhead = rewrite.overhead();
                    assert_eq!(out.len(), carried + overhead, "{spec}: length");
                    assert!(out.len() - 14 <= mtu, "{spec}: {} bytes past the MTU {mtu}", out.len() - 14);
                    assert_eq!(&out[overhead..], &frame[..carried], "{spec}: the inner frame changed");
                    // And back: decap of the encapsulated frame is the carried frame.
                    let mut outer = walk(&out, &config).unwrap_or_else(|e| panic!("{spec}: encap made {e:?}"));
                    assert!(outer.tunnel.is_some(), "{spec}: no tunnel after encap");
                    let back = Rewrite::Decap.apply(&umem, &mut token, &mut outer, &config, &policy, mtu);
                    assert_eq!(back, Ok(true), "{spec}: decap of encap");
                    assert_eq!(umem.data(&token), &frame[..carried], "{spec}: decap of encap differs");
                }
                (Rewrite::Encap(_), Err(DropReason::MtuExceeded)) => {
                    assert!(carried + rewrite.overhead() - 14 > mtu, "{spec}: mtu_exceeded within the MTU {mtu}");
                    assert_eq!(out, frame, "{spec}: a frame dropped for its MTU was changed");
                }
                (Rewrite::Encap(_), Err(DropReason::NoRoom)) => {
                    assert!(carried + rewrite.overhead() > umem::UmemConfig::default().frame_size as usize);
                }
                // The encapsulated frame failed to walk: possible only where the inner frame
                // makes it so (the headers encap wrote are sound).
                (Rewrite::Encap(_), Err(DropReason::Malformed(kind))) => {
                    let err = walk(&out, &config).expect_err("encap said malformed, the frame walks");
                    assert_eq!(err.kind, kind);
                    assert!(err.offset >= rewrite.overhead(), "{spec}: encap's own headers are malformed: {err:?}");
                }
                (Rewrite::Vlan(_) | Rewrite::Mpls(_) | Rewrite::Pedit(_), _) => {
                    unreachable!("no --rewrite spells a vlan, mpls or pedit action")
                }
                (_, Err(reason)) => panic!("{spec}: unexpected drop {reason:?}"),
            }
        }
    }
    check_vlan_rewrites(frame, &offsets, &umem, &mut token);
    check_mpls_rewrites(frame, &offsets, &umem, &mut token);
    check_pedit_rewrites(frame, &offsets, &umem, &mut token);
    check_tunnel_key_rewrites(frame, &offsets, &umem, &mut token);
}

/// tc's `tunnel_key set` on `frame` (walked as `offsets`), in `umem`'s frame `token`, read
/// off the wire rather than through the `encap:` spec it becomes: the outer family, TOS,
/// TTL (64 for 0 or none), UDP port (4789 for 0 or none; 6081 is Geneve, RFC 8926 §3.3),
/// VNI (RFC 7348 §5), a zero UDP checksum exactly for `nocsum`; and `unset` of the result
/// gives the carried frame back.
fn check_tunnel_key_rewrites(frame: &[u8], offsets: &Offsets, umem: &umem::Umem, token: &mut umem::Frame) {
    use engine::pipeline::Rewrite;
    use engine::stats::DropReason;
    use rules::{TunnelKey, TunnelSet};

    let config = walk_configs()[1];
    let policy = ZeroPolicy::default();
    let carried = offsets.outer.l3.map_or(frame.len(), |l3| l3.end.min(frame.len()));
    let v4 = TunnelSet {
        src_ip: [198, 18, 0, 1].into(),
        dst_ip: [198, 18, 0, 2].into(),
        id: Some(0xab_cdef),
        dst_port: Some(0),
        tos: Some(0x2e),
        ttl: Some(0),
        csum: false,
    };
    let v6 = TunnelSet {
        src_ip: "2001:db8::1".parse().expect("an address"),
        dst_ip: "2001:db8::2".parse().expect("an address"),
        id: None,
        dst_port: Some(6081),
        tos: None,
        ttl: Some(3),
        csum: true,
    };
    for set in [v4, v6] {
        let rewrite = Rewrite::tunnel_key(&set).unwrap_or_else(|e| panic!("{}: {e}", TunnelKey::Set(set)));
        let head = umem.headroom(token);
        assert!(umem.adjust_head(token, head as isize));
        assert!(umem.write(token, frame), "the frame fit before");
        let mut scratch = *offsets;
        let result = rewrite.apply(umem, token, &mut scratch, &config, &policy, 1500);
        let out = umem.data(token).to_vec();
        match result {
            Ok(_) => {}
            // What encap refuses: covered by check_rewrite's encap properties.
            Err(DropReason::MtuExceeded | DropReason::NoRoom | DropReason::Malformed(_)) => continue,
            Err(reason) => panic!("{}: unexpected drop {reason:?}", TunnelKey::Set(set)),
        }
        let (ethertype, tos, ttl, udp) = if set.src_ip.is_ipv4() {
            (0x0800, out[15], out[22], 34)
        } else {
            (0x86dd, (out[14] << 4) | (out[15] >> 4), out[21], 54)
        };
        let word = |at: usize| u16::from_be_bytes([out[at], out[at + 1]]);
        assert_eq!(word(12), ethertype, "{set:?}: outer family");
        assert_eq!(tos, set.tos.unwrap_or(0), "{set:?}: tos");
        assert_eq!(ttl, set.ttl.filter(|&t| t != 0).unwrap_or(64), "{set:?}: ttl");
        let port = match set.dst_port {
            Some(0) | None => 4789,
            Some(port) => port,
        };
        assert_eq!(word(udp + 2), port, "{set:?}: UDP port");
        assert_eq!(word(udp + 6) == 0, !set.csum, "{set:?}: zero UDP checksum exactly for nocsum");
        let tunnel = &out[udp + 8..udp + 16];
        let vni = set.id.unwrap_or(0).to_be_bytes();
        if port == 6081 {
            // Geneve version 0, no options, carrying Ethernet (RFC 8926 §3.4).
            assert_eq!(tunnel[..4], [0, 0, 0x65, 0x58], "{set:?}: Geneve header");
        } else {
            assert_eq!(tunnel[..4], [0x08, 0, 0, 0], "{set:?}: VXLAN I flag");
        }
        assert_eq!(tunnel[4..], [vni[1], vni[2], vni[3], 0], "{set:?}: VNI");
        assert_eq!(&out[udp + 16..], &frame[..carried], "{set:?}: the inner frame");
        // `tunnel_key unset` is decap: the carried frame back.
        let mut outer = walk(&out, &config).unwrap_or_else(|e| panic!("{set:?}: made {e:?}"));
        let back = Rewrite::Decap.apply(umem, token, &mut outer, &config, &policy, 1500);
        assert_eq!((back, umem.data(token)), (Ok(true), &frame[..carried]), "{set:?}: unset of set");
    }
}

/// The `vlan` actions on `frame` (walked as `offsets`), in `umem`'s frame `token`: pop takes
/// exactly the outermost tag's 4 bytes out (nothing on an untagged frame), push puts exactly
/// the new tag after the MACs and pop gives the frame back, modify changes only the tag's
/// TPID, VID and the PCP it was given (never the DEI bit).
fn check_vlan_rewrites(frame: &[u8], offsets: &Offsets, umem: &umem::Umem, token: &mut umem::Frame) {
    use engine::pipeline::Rewrite;
    use engine::stats::DropReason;
    use rules::VlanAction;

    let config = walk_configs()[1];
    let policy = ZeroPolicy::default();
    let tagged = offsets.outer.l2.is_some_and(|l2| l2.vlan_count() > 0);
    let actions = [
        VlanAction::Pop,
        VlanAction::Push { tpid: 0x88a8, vid: 4094, prio: 5 },
        VlanAction::Modify { tpid: 0x8100, vid: 7, prio: None },
        VlanAction::Modify { tpid: 0x88a8, vid: 0, prio: Some(2) },
    ];
    for vlan in actions {
        let head = umem.headroom(token);
        assert!(umem.adjust_head(token, head as isize));
        assert!(umem.write(token, frame), "the frame fit before");
        let mut scratch = *offsets;
        let result = Rewrite::Vlan(vlan).apply(umem, token, &mut scratch, &config, &policy, 1500);
        let out = umem.data(token).to_vec();
        match (vlan, result) {
            (VlanAction::Pop | VlanAction::Modify { .. }, Ok(false)) if !tagged => assert_eq!(out, frame),
            (VlanAction::Pop, Ok(true)) => {
                assert_eq!(out.len() + 4, frame.len(), "{vlan}: length");
                assert_eq!((&out[..12], &out[12..]), (&frame[..12], &frame[16..]), "{vlan}");
            }
            (VlanAction::Push { tpid, vid, prio }, Ok(true)) => {
                let tci = u16::from(prio) << 13 | vid;
                assert_eq!(&out[..12], &frame[..12], "{vlan}: the MACs");
                assert_eq!(&out[12..16], [tpid.to_be_bytes(), tci.to_be_bytes()].concat(), "{vlan}: the tag");
                assert_eq!(&out[16..], &frame[12..], "{vlan}: the rest");
                let mut pushed = *offsets;
                pushed.outer.l2 = walk(&out, &config).ok().and_then(|o| o.outer.l2);
                if pushed.outer.l2.is_some_and(|l2| l2.vlan_count() > 0) {
                    let back = Rewrite::Vlan(VlanAction::Pop).apply(umem, token, &mut pushed, &config, &policy, 1500);
                    assert_eq!((back, umem.data(token)), (Ok(true), frame), "{vlan}: pop of push");
                }
            }
            (VlanAction::Push { .. }, Err(DropReason::NoRoom)) => {
                assert!(frame.len() + 4 > umem::UmemConfig::default().frame_size as usize, "{vlan}: room");
            }
            (VlanAction::Modify { tpid, vid, prio }, Ok(false)) => {
                assert_eq!(out.len(), frame.len(), "{vlan}: length");
                assert_eq!((&out[..12], &out[16..]), (&frame[..12], &frame[16..]), "{vlan}: outside the tag");
                let (old, new) = (u16::from_be_bytes([frame[14], frame[15]]), u16::from_be_bytes([out[14], out[15]]));
                assert_eq!(u16::from_be_bytes([out[12], out[13]]), tpid, "{vlan}: TPID");
                assert_eq!(new & 0x0fff, vid, "{vlan}: VID");
                assert_eq!(new & 0x1000, old & 0x1000, "{vlan}: DEI kept");
                assert_eq!(new >> 13, prio.map_or(old >> 13, u16::from), "{vlan}: PCP");
            }
            (vlan, result) => panic!("{vlan} (tagged: {tagged}): {result:?}"),
        }
    }
}

/// The `mpls` actions on `frame` (walked as `offsets`), in `umem`'s frame `token`, at the end
/// of the Ethernet header and its tags (`at`): push puts exactly the new entry there (RFC 3032
/// §2.1; S set where the frame was not MPLS, unless given) and the ethertype before it, and a
/// pop with the old ethertype gives the frame back; pop takes exactly the top entry out and
/// writes its protocol, leaving a frame that is not MPLS as it was; modify changes only the
/// fields given; dec_ttl only the TTL byte, dropping (`mpls_ttl_expired`) exactly a TTL of 0
/// or 1; modify and dec_ttl drop a frame that is not MPLS (`not_applicable`), untouched.
fn check_mpls_rewrites(frame: &[u8], offsets: &Offsets, umem: &umem::Umem, token: &mut umem::Frame) {
    use engine::pipeline::Rewrite;
    use engine::stats::DropReason;
    use rules::MplsAction;

    let config = walk_configs()[1];
    let policy = ZeroPolicy::default();
    let Some(l2) = offsets.outer.l2 else { return };
    let at = l2.offset + l2.len;
    let ethertype = u16::from_be_bytes([frame[at - 2], frame[at - 1]]);
    let is_mpls = matches!(ethertype, 0x8847 | 0x8848);
    let top = frame.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let actions = [
        MplsAction::Pop { proto: 0x0800 },
        MplsAction::Pop { proto: 0x8847 },
        MplsAction::Push { proto: 0x8848, label: 0xf_ffff, tc: 7, ttl: 1, bos: None },
        MplsAction::Push { proto: 0x8847, label: 16, tc: 0, ttl: 255, bos: Some(0) },
        MplsAction::Modify { label: Some(5), tc: None, ttl: Some(200), bos: Some(1) },
        MplsAction::Modify { label: None, tc: Some(3), ttl: None, bos: None },
        MplsAction::DecTtl,
    ];
    for mpls in actions {
        let head = umem.headroom(token);
        assert!(umem.adjust_head(token, head as isize));
        assert!(umem.write(token, frame), "the frame fit before");
        let mut scratch = *offsets;
        let result = Rewrite::Mpls(mpls).apply(umem, token, &mut scratch, &config, &policy, 1500);
        let out = umem.data(token).to_vec();
        let word = |b: &[u8]| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        match (mpls, result) {
            (MplsAction::Pop { .. }, Ok(false)) if !is_mpls => assert_eq!(out, frame, "{mpls}"),
            (_, Err(DropReason::NotApplicable)) if !is_mpls || top.is_none() => {
                assert!(!matches!(mpls, MplsAction::Push { .. }), "{mpls}: push always applies");
                assert_eq!(out, frame, "{mpls}: dropped untouched");
            }
            (MplsAction::Pop { proto }, Ok(true)) => {
                assert_eq!(out.len() + 4, frame.len(), "{mpls}: length");
                assert_eq!(&out[..at - 2], &frame[..at - 2], "{mpls}: the MACs and tags");
                assert_eq!(out[at - 2..at], proto.to_be_bytes(), "{mpls}: the ethertype");
                assert_eq!(&out[at..], &frame[at + 4..], "{mpls}: under the top entry");
            }
            (MplsAction::Push { proto, label, tc, ttl, bos }, Ok(true)) => {
                let s = bos.unwrap_or(u8::from(!is_mpls));
                let entry = label << 12 | u32::from(tc) << 9 | u32::from(s) << 8 | u32::from(ttl);
                assert_eq!(&out[..at - 2], &frame[..at - 2], "{mpls}: the MACs and tags");
                assert_eq!(out[at - 2..at], proto.to_be_bytes(), "{mpls}: the ethertype");
                assert_eq!(word(&out), entry, "{mpls}: the entry");
                assert_eq!(&out[at + 4..], &frame[at..], "{mpls}: the rest");
                let mut pushed = walk(&out, &config).expect("a pushed frame walks (nothing under MPLS is read)");
                let pop = MplsAction::Pop { proto: ethertype };
                let back = Rewrite::Mpls(pop).apply(umem, token, &mut pushed, &config, &policy, 1500);
                assert_eq!((back, umem.data(token)), (Ok(true), frame), "{mpls}: pop of push");
            }
            (MplsAction::Push { .. }, Err(DropReason::NoRoom)) => {
                assert!(frame.len() + 4 > umem::UmemConfig::default().frame_size as usize, "{mpls}: room");
            }
            (MplsAction::Modify { label, tc, ttl, bos }, Ok(changed)) => {
                let (old, new) = (top.expect("modified an entry"), word(&out));
                assert_eq!((&out[..at], &out[at + 4..]), (&frame[..at], &frame[at + 4..]), "{mpls}: outside");
                assert_eq!(new >> 12, label.unwrap_or(old >> 12), "{mpls}: label");
                assert_eq!(new >> 9 & 7, tc.map_or(old >> 9 & 7, u32::from), "{mpls}: TC");
                assert_eq!(new >> 8 & 1, bos.map_or(old >> 8 & 1, u32::from), "{mpls}: S");
                assert_eq!(new & 0xff, ttl.map_or(old & 0xff, u32::from), "{mpls}: TTL");
                assert_eq!(changed, (new ^ old) & 0x100 != 0, "{mpls}: layout changed exactly with S");
            }
            (MplsAction::DecTtl, Ok(false)) => {
                assert!(frame[at + 3] >= 2, "{mpls}: a TTL of {} went on", frame[at + 3]);
                assert_eq!((&out[..at + 3], &out[at + 4..]), (&frame[..at + 3], &frame[at + 4..]), "{mpls}");
                assert_eq!(out[at + 3], frame[at + 3] - 1, "{mpls}: TTL");
            }
            (MplsAction::DecTtl, Err(DropReason::MplsTtlExpired)) => {
                assert!(frame[at + 3] <= 1 && out == frame, "{mpls}: expired at TTL {}", frame[at + 3]);
            }
            (mpls, result) => panic!("{mpls} (ethertype {ethertype:#06x}): {result:?}"),
        }
    }
}

/// The pedits [`check_pedit_rewrites`] carries out: every field, every command.
const PEDITS: [&str; 6] = [
    "pedit ex munge eth dst set 11:22:33:44:55:66 munge eth src set 02:00:00:00:00:09",
    "pedit ex munge ip src set 10.1.2.3 munge ip dst set 203.0.113.9 munge ip ttl add 0xff munge ip tos set 0xb8 retain 0xfc",
    "pedit munge ip tos invert munge ip dport set 4789 munge ip sport set 0",
    "pedit ex munge ip6 src set 2001:db8::99 munge ip6 dst set fe80::1 munge ip6 hoplimit decrement",
    "pedit ex munge tcp sport set 1 munge tcp dport add 1000 munge tcp flags invert",
    "pedit ex munge udp sport set 0xffff munge udp dport add 0xffff",
];

/// The `pedit`s of [`PEDITS`] on `frame` (walked as `offsets`): `not_applicable`, the frame
/// untouched, exactly when a header a munge names is not the outermost one; else the same
/// length, only the fields and checksum fields changed, and every checksum's verdict as it
/// was: a right one is still right (the incremental update equals a full recompute; RFC
/// 1624), a wrong one still wrong, a UDP zero still zero.
fn check_pedit_rewrites(frame: &[u8], offsets: &Offsets, umem: &umem::Umem, token: &mut umem::Frame) {
    use engine::pipeline::Rewrite;
    use engine::stats::DropReason;
    use rules::{Action, PeditHeader};

    let config = walk_configs()[1];
    let policy = ZeroPolicy::default();
    let before = verdicts(frame, offsets);
    let outer = &offsets.outer;
    // Where a field of `header` starts, if the frame has it (in a PPPoE session only `eth`:
    // act_pedit's network header is the PPPoE header).
    let base = |header| match (header, outer.l3.map(|l3| (l3.kind, l3.offset)), outer.l4) {
        (PeditHeader::Eth, ..) => outer.l2.map(|l2| l2.offset),
        _ if outer.pppoe.is_some() => None,
        (PeditHeader::Ip4, Some((L3Kind::Ipv4, at)), _) => Some(at),
        (PeditHeader::Ip6, Some((L3Kind::Ipv6, at)), _) => Some(at),
        (PeditHeader::Tcp, _, Some(l4)) if l4.kind == L4Kind::Tcp => Some(l4.offset),
        (PeditHeader::Udp, _, Some(l4)) if l4.kind == L4Kind::Udp => Some(l4.offset),
        (PeditHeader::Ip4Ports, Some((L3Kind::Ipv4, at)), Some(l4))
            if l4.offset == at + 20 && matches!(l4.kind, L4Kind::Tcp | L4Kind::Udp) =>
        {
            Some(l4.offset)
        }
        _ => None,
    };
    for text in PEDITS {
        let set =
            rules::parse(RULES_FILE, &format!("action {text} pipe\n")).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let Action::Pedit(pedit) = &set.rules[0].actions[0] else { unreachable!("{text} is a pedit") };
        let places: Option<Vec<(usize, usize)>> = pedit
            .munges
            .iter()
            .map(|m| m.field.place())
            .map(|(header, offset, width)| base(header).map(|at| (at + offset, width)))
            .collect();
        let head = umem.headroom(token);
        assert!(umem.adjust_head(token, head as isize));
        assert!(umem.write(token, frame), "the frame fit before");
        let mut scratch = *offsets;
        let result = Rewrite::Pedit(pedit.into()).apply(umem, token, &mut scratch, &config, &policy, 1500);
        let out = umem.data(token);
        let Some(places) = places else {
            assert_eq!((result, out), (Err(DropReason::NotApplicable), frame), "{text}: a header is missing");
            continue;
        };
        assert_eq!(result, Ok(false), "{text}");
        assert_eq!(out.len(), frame.len(), "{text}: length");
        let sums = checksum_fields(offsets);
        for (i, (a, b)) in frame.iter().zip(out).enumerate() {
            let field = places.iter().any(|&(at, width)| (at..at + width).contains(&i));
            assert!(a == b || field || sums.iter().any(|f| (*f..f + 2).contains(&i)), "{text}: byte {i} changed");
        }
        let after = verdicts(out, offsets);
        for layer in CsumLayer::ALL {
            assert_eq!(after.get(layer), before.get(layer), "{text}: {}", layer.name());
        }
    }
}

/// Target `args`: the command-line value parsers on every line of the input and on the whole
/// of it: port devargs (`pmd::PortSpec`), `steer=` expressions, `--rewrite` actions, core
/// and queue lists. No panic; an error is `Err` with a message; what parses is within the
/// documented bounds, and a steer expression prints back as one that parses to the same.
pub fn check_args(data: &[u8]) {
    use engine::pipeline::rewrite::{EncapKind, Rewrite};
    use pmd::xdp_prog::Steer;
    use pmd::{MemSpec, PortSpec};

    let text = String::from_utf8_lossy(data);
    for line in text.lines().chain(std::iter::once(text.as_ref())) {
        match line.parse::<PortSpec>() {
            Ok(PortSpec::Mem(mem)) => {
                assert!((1..=MemSpec::MAX_DEPTH).contains(&mem.depth), "mem depth {}", mem.depth);
                assert!(mem.preload <= mem.depth && (14..=1514).contains(&mem.size), "{mem:?}");
            }
            Ok(PortSpec::AfXdp(spec)) => {
                assert!(!spec.iface.is_empty());
                assert!(spec.ring_size.is_power_of_two() && (64..=16384).contains(&spec.ring_size));
                assert!(spec.frame_size == 2048 || spec.frame_size == 4096);
                assert!(!spec.queues.is_empty() && spec.queues.len() <= 1024, "{} queues", spec.queues.len());
                let again: Steer = spec.steer.to_string().parse().expect("a parsed steer prints as one");
                assert_eq!(again, spec.steer);
            }
            Ok(PortSpec::Pcap(_)) => {}
            Err(err) => assert!(!err.to_string().is_empty()),
        }
        match line.parse::<Steer>() {
            Ok(steer) => {
                let printed = steer.to_string();
                assert_eq!(
                    printed.parse::<Steer>().ok().as_ref(),
                    Some(&steer),
                    "steer {line:?} printed as {printed:?}"
                );
            }
            Err(err) => assert!(!err.to_string().is_empty()),
        }
        match line.parse::<Rewrite>() {
            Ok(Rewrite::Encap(encap)) => {
                assert_eq!(encap.src_ip.is_ipv4(), encap.dst_ip.is_ipv4(), "{line:?}");
                if encap.kind != EncapKind::Gre {
                    assert!(encap.vni.is_some_and(|vni| vni <= 0xff_ffff), "{line:?}: vni {:?}", encap.vni);
                }
            }
            Ok(_) => {}
            Err(error) => assert!(!error.to_string().is_empty()),
        }
        if let Ok(cores) = engine::cores::parse_core_list(line) {
            let online = engine::cores::available_cores();
            assert!(!cores.is_empty() && cores.iter().all(|c| online.contains(c)), "{line:?}: {cores:?}");
        }
        if let Ok(queues) = pmd::spec::parse_queue_list(line) {
            assert!(!queues.is_empty() && queues.len() <= 1024 && queues.windows(2).all(|w| w[0] + 1 == w[1]));
        }
    }
}

/// Records the `capture` target reads at most from one input (a few KB of input hold far
/// fewer; the bound keeps a pathological input from running long).
const MAX_CAPTURE_RECORDS: usize = 10_000;

/// Target `capture`: the pcap / pcapng reader (`pmd::capture`) on arbitrary bytes never
/// panics, ends, numbers records 0, 1, 2... (errors included), hands out no record over
/// libpcap's maximum and nothing it did not read, and goes on after a recoverable error
/// only; every record it yields walks through `inspect` without panicking.
pub fn check_capture(data: &[u8]) {
    use pmd::capture::{CaptureReader, MAX_RECORD_LEN};
    let Ok(mut reader) = CaptureReader::new(data, "fuzz") else { return };
    let config = inspect_config();
    let mut expected = 0;
    let mut records = 0;
    while let Some(record) = reader.next_record() {
        records += 1;
        match record {
            Ok(record) => {
                assert_eq!(record.index, expected, "records are numbered in order");
                assert!(record.data.len() <= MAX_RECORD_LEN, "a record over libpcap's maximum");
                assert!(record.data.len() <= data.len(), "a record longer than the input");
                let report = inspect_frame_from(record.data, frame_start(record.link), &config);
                let _ = report_json(record.index, &report);
            }
            Err(err) => {
                assert_eq!(err.index, expected, "an error names the record it is about");
                assert!(!err.to_string().is_empty());
                if !err.is_recoverable() {
                    assert!(reader.next_record().is_none(), "the reader went on after {err}");
                    break;
                }
            }
        }
        expected += 1;
        if records >= MAX_CAPTURE_RECORDS {
            break;
        }
    }
}
