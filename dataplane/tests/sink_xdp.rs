//! The sink's XDP engine: its program on frames of every template (BPF_PROG_RUN, root, no
//! network), and the whole sink behind a real generator over a veth pair.

mod common;

use std::time::Duration;

use common::*;
use traffic::sink::{stamp_candidates, stamp_templates};
use traffic::sink_prog::SinkProgram;
use traffic::stamp::Stamp;

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
    let tcp = traffic::template::Template::new(traffic::template::TemplateKind::Tcp, false);
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

/// Not a test of behaviour: prints the kernel's per-run time (`BPF_PROG_RUN` repeat,
/// `duration_ns`) of the sink program against the plain counter on the same frames, e.g.
/// `cargo test --release -p dataplane --test sink_xdp sink_program_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn sink_program_cost() {
    if !require_root("sink_program_cost") {
        return;
    }
    pin_to_cpu0();
    use traffic::template::{Template, TemplateKind, Vlan};
    let counter = pmd::xdp_prog::XdpCounter::load().unwrap();
    let sink = SinkProgram::load(&stamp_candidates()).unwrap();
    let build = |t: &Template, stream: u16, seq: u64| {
        let size = t.headers_len() + traffic::stamp::STAMP_LEN;
        let mut frame = vec![0u8; t.frame_len(size)];
        let stamp = Stamp { sequenced: true, stream, seq, sent_ns: pmd::clock::monotonic_ns() };
        let len = t.build_into(&mut frame, size, None, Some(&stamp)).unwrap();
        frame.truncate(len);
        frame
    };
    let udp = Template::new(TemplateKind::Udp, false);
    let mut vxlan6 = Template::new(TemplateKind::Vxlan, true);
    vxlan6.set_outer_vlan(Some(Vlan { id: 7, pcp: 0 }));
    const REPEAT: u32 = 2_000_000;
    let time = |program: &bpf::Program, frame: &[u8]| program.test_run(frame, REPEAT).unwrap().duration_ns;
    println!("{} stamp candidates", sink.candidates().len());
    for round in 0..3u16 {
        let frame = build(&udp, 100 + round, 0);
        let plain = time(counter.program(), &frame);
        // The same frame over and over: every run after the first is a duplicate (no clock).
        let duplicate = time(sink.program(), &frame);
        // Highest 5000, then 0 over and over: late every time, which takes the whole
        // latency path (clock, maximum, histogram) but sets no bit.
        sink.program().test_run(&build(&udp, 200 + round, 5000), 1).unwrap();
        let late = time(sink.program(), &build(&udp, 200 + round, 0));
        // A stamp behind the most candidates, and a frame without one (every candidate).
        sink.program().test_run(&build(&vxlan6, 300 + round, 5000), 1).unwrap();
        let late_vxlan6 = time(sink.program(), &build(&vxlan6, 300 + round, 0));
        // The same with the latency of every 16th frame (this one's seq is not a multiple).
        let sampled = SinkProgram::load_sampled(&stamp_candidates(), 16).unwrap();
        sampled.program().test_run(&build(&udp, 200 + round, 5000), 1).unwrap();
        let late_unsampled = time(sampled.program(), &build(&udp, 200 + round, 1));
        let mut unstamped = build(&udp, 0, 0);
        unstamped[42] = 0;
        let unsequenced = time(sink.program(), &unstamped);
        println!(
            "round {round}: 60-byte udp: count_and_drop {plain} ns, sink_seq: duplicate {duplicate} ns, latency path \
             {late} ns (not sampled: {late_unsampled} ns), unsequenced {unsequenced} ns; {}-byte vxlan/ipv6/vlan \
             latency path {late_vxlan6} ns",
            build(&vxlan6, 0, 0).len()
        );
    }
}

/// Set in the child this test starts inside the generator's namespace: it sends live frames.
const SENDER_ENV: &str = "DATAPLANE_SINK_RATE_SENDER";

/// Not a test of behaviour: how fast the xdp sink counts, fed by a bare live-frames sender
/// (`BPF_PROG_RUN` with XDP_TX on gen0, its program kept attached to an idle ifb so calls run
/// back to back) on core 0, the sink on gen0's peer dut0 (its XDP runs in the sender's
/// softirq, on core 0 too), against the plain counter (`count_and_drop`) fed the same way.
/// Every frame takes the sink's full latency path (a stream whose highest is 5000, then
/// number 1 over and over: late, clock, histogram), or with `--latency-every 1024` skips
/// the clock. The latencies are meaningless (one frame, stamped once, sent for seconds).
/// Prints the sender's and the receivers' counts:
/// `cargo test --release -p dataplane --test sink_xdp sink_rate -- --ignored --nocapture`.
#[test]
#[ignore]
fn sink_rate_with_a_live_frames_sender() {
    if let Ok(spec) = std::env::var(SENDER_ENV) {
        return match spec.strip_prefix("counter,") {
            Some(spec) => plain_counter(spec),
            None => live_sender(&spec),
        };
    }
    if !require_root("sink_rate_with_a_live_frames_sender") {
        return;
    }
    let lab = Lab::up("zr");
    let ns = lab.ns("gen");
    let ifb = "zsifb";
    for args in [vec!["link", "add", ifb, "type", "ifb"], vec!["link", "set", ifb, "up"]] {
        let out = std::process::Command::new("ip").args(["-n", &ns]).args(&args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", text(&out.stderr));
    }
    let exe = std::env::current_exe().unwrap();
    let helper = |role: &str, spec: String| {
        let mut cmd = lab.command(role, exe.to_str().unwrap(), &["sink_rate_with_a_live_frames_sender", "--exact"]);
        cmd.args(["--ignored", "--nocapture"]).env(SENDER_ENV, spec);
        cmd
    };
    let send = || {
        let sender = helper("gen", format!("gen0,{ifb},2")).output().unwrap();
        let sender_text = text(&sender.stdout);
        assert!(sender.status.success(), "sender: {sender_text}\n{}", text(&sender.stderr));
        sender_text.lines().find(|l| l.starts_with("sender")).unwrap_or("sender: ?").to_string()
    };
    // The baseline: the plain per-CPU counter (count_and_drop) on dut0, same sender.
    let counter = Proc::spawn(helper("dut", "counter,dut0,3".into()), "counter");
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)), "the counter did not attach to dut0");
    let sent = send();
    let counted = text(&counter.finish(0, Duration::from_secs(10)).stdout);
    println!("count_and_drop: {sent}; {}", counted.lines().find(|l| l.starts_with("counter")).unwrap_or("?"));
    assert!(lab.wait_xdp("dut", "dut0", false, Duration::from_secs(5)), "the counter is still attached");
    for sink_args in [vec![], vec!["--latency-every", "1024"]] {
        let mut full = vec!["sink", "--iface", "dut0", "--json"];
        full.extend(&sink_args);
        let sink = Proc::spawn(lab.dataplane("dut", &full), "sink");
        assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)), "the sink did not attach to dut0");
        let sender_text = send();
        std::thread::sleep(Duration::from_millis(200));
        let out = sink.finish(libc::SIGINT, Duration::from_secs(10));
        assert!(out.status.success(), "sink: {}", text(&out.stderr));
        let report = last_json(&text(&out.stdout));
        println!(
            "sink {sink_args:?}: {sender_text}; sink counted {} frames at {:.2} Mpps, sequenced {}, late {}, \
             latency_ns {}",
            report["packets"],
            report["pps"].as_f64().unwrap_or(0.0) / 1e6,
            report["sequenced"],
            report["late"],
            report["latency_ns"]
        );
    }
}

/// The child's part: `IFACE,IFB,SECONDS`.
fn live_sender(spec: &str) {
    use bpf::{Insn, Link, ProgType, Program, Reg, TestRunOptions, XdpMode};
    let parts: Vec<&str> = spec.split(',').collect();
    let (iface, ifb, seconds) = (parts[0], parts[1], parts[2].parse::<f64>().unwrap());
    pin_to_cpu0();
    let program =
        Program::load(ProgType::Xdp, "rate_xdp_tx", &[Insn::mov64_imm(Reg::R0, bpf::xdp::TX), Insn::exit()]).unwrap();
    // Attached to an idle device, the program stays in the kernel's XDP dispatcher, so the
    // live-frames calls do not each wait for it to be added and removed.
    let _keep = Link::attach_xdp(&program, bpf::ifindex(ifb).unwrap(), XdpMode::Generic).unwrap();
    let ifindex = bpf::ifindex(iface).unwrap();
    let udp = traffic::template::Template::new(traffic::template::TemplateKind::Udp, false);
    let frame = |seq: u64| {
        let mut frame = vec![0u8; 60];
        let stamp = Stamp { sequenced: true, stream: 9, seq, sent_ns: pmd::clock::monotonic_ns() };
        let len = udp.build_into(&mut frame, 60, None, Some(&stamp)).unwrap();
        frame.truncate(len);
        frame
    };
    let context = bpf::xdp::XdpMd::for_frame(60, ifindex, 0).to_bytes();
    let send = |frame: &[u8], count: u32| {
        let options = TestRunOptions {
            repeat: count,
            flags: TestRunOptions::XDP_LIVE_FRAMES,
            ctx_in: Some(&context),
            ..Default::default()
        };
        program.test_run_with(frame, &options).unwrap();
    };
    send(&frame(5000), 1);
    std::thread::sleep(Duration::from_millis(50));
    // Not a multiple of any --latency-every but 1.
    let late = frame(1);
    let start = std::time::Instant::now();
    let mut sent = 1u64;
    while start.elapsed().as_secs_f64() < seconds {
        send(&late, 1 << 16);
        sent += 1 << 16;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("sender: {sent} frames in {elapsed:.2} s, {:.2} Mpps offered", (sent - 1) as f64 / elapsed / 1e6);
}

/// The other child: the plain counter on `IFACE` for `SECONDS`, then its count.
fn plain_counter(spec: &str) {
    let (iface, seconds) = spec.split_once(',').unwrap();
    let counter = pmd::xdp_prog::XdpCounter::load().unwrap();
    let _link = bpf::Link::attach_xdp(counter.program(), bpf::ifindex(iface).unwrap(), bpf::XdpMode::Driver).unwrap();
    std::thread::sleep(Duration::from_secs_f64(seconds.parse().unwrap()));
    println!("counter: {} frames", counter.read().unwrap().0);
}
