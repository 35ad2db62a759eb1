//! The classified engine over whole bursts against the frame-by-frame path it replaced, in
//! the same run (these machines are shared and noisy: keep the ratio, not the numbers).
//!
//! A worker forwards (`--action fwd`) between two `mem` ports, `--csum verify` (outer and
//! inner checksums), with 1000 ClassBench-style rules (`rules::gen`, acl style, every action
//! `pass`, so nothing is dropped and the ports never drain). The frames are VXLAN of
//! `--size 64`, which the VXLAN template raises to its smallest frame (92 bytes with UDP
//! inside, 104 with TCP); their inner 5-tuples come from a `TraceKind::Mixed` trace of the
//! set (three quarters built to hit a rule, one quarter random), 512 different frames per
//! port. Frames per second on one core (criterion's elements: two bursts per poll):
//!
//! - `classified`: [`Classified`], walk, verify, keys, one `classify_burst`, route;
//! - `frame_by_frame`: [`FrameByFrame`], each frame through all of that before the next;
//! - `checked`: the same walk and verify with no rule stage ([`Checked`]), for scale.
//!
//! `cargo bench -p benches --bench engines -- --warm-up-time 1 --measurement-time 3`

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::net::Ipv4Addr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::engines::checked::Checked;
use engine::engines::classified::Classified;
use engine::engines::frame_by_frame::FrameByFrame;
use engine::engines::{Action, ForwardingEngine};
use engine::pipeline::classify::ClassifierKind;
use engine::pipeline::{CsumMode, Disposition, Pipeline, RuleTable, SharedRules};
use engine::worker::Worker;
use pmd::BURST;
use rules::gen::{self, Style, TraceKind};
use rules::{PacketKey, RuleSet};
use testkit::frames::GeneratorFrame;

const RULES: usize = 1000;

/// The set, every action `pass`.
fn rule_set() -> RuleSet {
    let generated = gen::rule_set(Style::Acl, RULES, 1);
    RuleSet::new(
        generated.rules.into_iter().map(|rule| rules::Rule { actions: vec![rules::Action::Pass], ..rule }).collect(),
    )
}

/// A VXLAN frame of `--size 64` whose inner IPv4 5-tuple is `key`'s.
fn vxlan_for(key: &PacketKey) -> Vec<u8> {
    GeneratorFrame {
        src_ip: Ipv4Addr::from(key.src_ip as u32),
        dst_ip: Ipv4Addr::from(key.dst_ip as u32),
        tcp: key.ip_proto == 6,
        src_port: key.src_port,
        dst_port: key.dst_port,
        size: 64,
        ..GeneratorFrame::vxlan()
    }
    .build()
}

fn engines(c: &mut Criterion) {
    let set = rule_set();
    // ClassBench traces also hold ICMP, which the frame templates do not build.
    let frames: Vec<Vec<u8>> = gen::trace(&set, TraceKind::Mixed, 4 * benches::PRELOAD, 2)
        .iter()
        .filter(|key| matches!(key.ip_proto, 6 | 17))
        .take(benches::PRELOAD)
        .map(vxlan_for)
        .collect();
    let verify = Pipeline { csum: CsumMode::Verify, ..Pipeline::default() };
    let names = [String::new(), String::new()];
    let shared = || {
        let table = RuleTable::build(set.clone(), "bench.rules", &names, 1, Disposition::Pass, ClassifierKind::Fast)
            .expect("the fast classifier holds the set");
        Arc::new(SharedRules::new(table))
    };
    type Build<'a> = Box<dyn Fn(&[usize]) -> Box<dyn ForwardingEngine> + 'a>;
    let cases: [(&str, Build); 3] = [
        ("classified", Box::new(|ports| Box::new(Classified::new(Action::Fwd, verify.clone(), shared(), 0, ports)))),
        (
            "frame_by_frame",
            Box::new(|ports| Box::new(FrameByFrame::new(Action::Fwd, verify.clone(), shared(), 0, ports))),
        ),
        ("checked", Box::new(|_| Box::new(Checked::new(Action::Fwd, verify.clone())))),
    ];
    let mut group = c.benchmark_group(format!("engines/vxlan64_verify_{RULES}_rules"));
    group.throughput(Throughput::Elements(2 * BURST as u64));
    for (name, build) in cases {
        let mut worker: Worker = benches::mem_worker_with(&frames, build);
        benches::prime(&mut worker);
        group.bench_function(name, |b| b.iter(|| worker.poll_once()));
    }
    group.finish();
}

criterion_group!(benches, engines);
criterion_main!(benches);
