//! The sink's XDP engine: its program on frames of every template (BPF_PROG_RUN, root, no
//! network), and the whole sink behind a real generator over a veth pair.

mod common;

use std::time::Duration;

use common::*;
use dataplane::sink::{stamp_candidates, stamp_templates};
use dataplane::stamp::Stamp;
use pmd::sink_prog::SinkProgram;

/// The program keeps its state per CPU: one CPU for the whole test makes the counts exact.
fn pin_to_cpu0() {
    assert!(core_affinity::set_for_current(core_affinity::CoreId { id: 0 }), "cannot pin to CPU 0");
}

#[test]
fn every_template_variant_finds_its_stamp_in_the_program() {
    if !require_root("every_template_variant_finds_its_stamp_in_the_program") {
        return;
    }
    pin_to_cpu0();
    let sink = SinkProgram::load(&stamp_candidates()).unwrap();
    let templates = stamp_templates();
    let mut frames = 0u64;
    for (i, t) in templates.iter().enumerate() {
        // A stream per variant; sizes from the smallest with a stamp to IMIX's largest;
        // several flows (their ports and addresses move, the stamp does not).
        let stream = i as u16 + 1;
        for (seq, (extra, flow)) in [(0usize, 0u32), (1, 7), (37, 54_665), (400, 100_000)].into_iter().enumerate() {
            let t = t.for_flow(flow);
            let size = t.size + extra;
            let mut frame = vec![0u8; t.frame_len(size)];
            let stamp = Stamp { sequenced: true, stream, seq: seq as u64, sent_ns: pmd::clock::monotonic_ns() };
            let len = t.build_into(&mut frame, size, None, Some(&stamp)).unwrap();
            let run = sink.program().test_run(&frame[..len], 1).unwrap();
            assert_eq!(run.retval as i32, bpf::xdp::DROP);
            frames += 1;
        }
    }
    let counts = sink.read().unwrap();
    assert_eq!((counts.packets, counts.sequenced, counts.unsequenced), (frames, frames, 0));
    assert_eq!(counts.streams.len(), templates.len());
    for (i, t) in templates.iter().enumerate() {
        let s = counts.streams.iter().find(|s| usize::from(s.stream) == i + 1).unwrap();
        assert_eq!((s.next, s.received, s.lost(), s.reordered, s.duplicates), (4, 4, 0, 0, 0), "{}", t.describe());
    }
    assert_eq!(counts.latency_count, frames);
    assert_eq!(counts.latency_invalid, 0);

    // No stamp (a 60-byte TCP frame has no room), and a static stamp: unsequenced.
    let tcp = dataplane::template::Template::new(dataplane::template::TemplateKind::Tcp, false);
    let mut frame = vec![0u8; 60];
    let stamp = Stamp { sequenced: true, stream: 1, seq: 9, sent_ns: 0 };
    let len = tcp.build_into(&mut frame, 60, None, Some(&stamp)).unwrap();
    sink.program().test_run(&frame[..len], 1).unwrap();
    let udp = templates[0];
    let mut frame = vec![0u8; udp.frame_len(udp.size)];
    let len = udp.build_into(&mut frame, udp.size, None, Some(&Stamp { sequenced: false, ..stamp })).unwrap();
    sink.program().test_run(&frame[..len], 1).unwrap();
    let after = sink.read().unwrap();
    assert_eq!((after.packets, after.sequenced, after.unsequenced), (frames + 2, frames, 2));
}

/// Runs the sink on `iface` in namespace `role` until `finish` returns, then stops it.
fn with_sink(lab: &Lab, role: &str, iface: &str, finish: impl FnOnce()) -> serde_json::Value {
    let sink = Proc::spawn(lab.dataplane(role, &["sink", "--iface", iface, "--json"]), "sink");
    assert!(lab.wait_xdp(role, iface, true, Duration::from_secs(5)), "the sink did not attach to {iface}");
    finish();
    std::thread::sleep(Duration::from_millis(300));
    let out = sink.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(out.status.success(), "sink: {}", text(&out.stderr));
    last_json(&text(&out.stdout))
}

fn gen(lab: &Lab, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["gen", "--iface", "gen0", "--engine", "af-xdp", "--core", "0", "--json"];
    full.extend(args);
    let out = lab.dataplane("gen", &full).output().unwrap();
    assert!(out.status.success(), "gen failed: {}", text(&out.stderr));
    last_json(&text(&out.stdout))
}

#[test]
fn xdp_sink_counts_the_generators_stamps_over_veth() {
    if !require_root("xdp_sink_counts_the_generators_stamps_over_veth") {
        return;
    }
    let lab = Lab::up("zs");
    let mut sent = Vec::new();
    // The sink right on dut0, the generator's peer: two generator runs, two streams, one
    // of them VXLAN over IPv6 with a VLAN tag (its stamp 136 bytes in).
    let sink = with_sink(&lab, "dut", "dut0", || {
        sent.push(gen(&lab, &["--count", "20000", "--rate", "100000"]));
        sent.push(gen(
            &lab,
            &["--count", "5000", "--rate", "100000", "--template", "vxlan", "--ipv6", "--vlan", "7", "--size", "200"],
        ));
    });
    let offered: u64 = sent.iter().map(|g| g["sent"].as_u64().unwrap()).sum();
    assert_eq!(offered, 25_000, "generator: {sent:?}");
    assert_eq!(sink["packets"], 25_000, "{sink}");
    assert_eq!(sink["delivered"], 25_000, "{sink}");
    assert_eq!(sink["sequenced"], 25_000, "{sink}");
    assert_eq!(sink["unsequenced"], 0, "{sink}");
    assert_eq!(sink["streams"], 2, "{sink}");
    assert_eq!(sink["lost"], 0, "{sink}");
    assert_eq!(sink["duplicates"], 0, "{sink}");
    assert_eq!(sink["late"], 0, "{sink}");
    assert_eq!(sink["latency_invalid"], 0, "{sink}");
    let latency = &sink["latency_ns"];
    let (p50, p99, max) = (latency["p50"].as_u64(), latency["p99"].as_u64(), latency["max"].as_u64());
    assert!(p50.is_some() && p99 >= p50 && max >= p99 && max > Some(0), "{sink}");
    // Below a second: same clock on both ends.
    assert!(max < Some(1_000_000_000), "{sink}");
}
