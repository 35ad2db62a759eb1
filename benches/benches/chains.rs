//! What tc's richer rule sets cost a forwarding worker: the same 1000 rules (the last one
//! matching, as in `worker_rules`) as one flat chain, split over two chains (chain 0's last
//! rule jumps with `goto chain 1`, where the frame's rule is the last again), and with a
//! policer on every rule (`police ... conform-exceed drop/pipe` before the rule's action;
//! the rate is far above what one core forwards, so every frame conforms and takes the
//! bucket's compare-and-swap). `flat/1000` is the baseline, measured in the same run.
//!
//! `cargo bench -p benches --bench chains -- --warm-up-time 1 --measurement-time 3`

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::sync::Arc;

use benches::{acl_hit_line, acl_miss_line, acl_rules_text};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::engines::classified::Classified;
use engine::engines::Action;
use engine::pipeline::classify::ClassifierKind;
use engine::pipeline::{Disposition, Pipeline, RuleTable, SharedRules};
use engine::worker::Worker;
use pmd::BURST;

const RULES: usize = 1000;

/// The rules split over chains 0 and 1: 499 misses then `goto chain 1`, 499 misses then the hit.
fn two_chains() -> String {
    let half = RULES / 2;
    let mut text: String = (0..half - 1).map(|i| acl_miss_line(i, "action drop")).collect();
    text.push_str("ip_proto udp action goto chain 1\n");
    text.extend((half..RULES - 1).map(|i| format!("chain 1 {}", acl_miss_line(i, "action drop"))));
    text.push_str(&format!("chain 1 {}", acl_hit_line("action pass")));
    text
}

/// Every rule polices first: 100 Gbit/s with a 1 MiB burst, so every frame conforms.
fn policed() -> String {
    let police = "action police rate 100gbit burst 1m conform-exceed drop/pipe";
    let mut text: String = (0..RULES - 1).map(|i| acl_miss_line(i, &format!("{police} action drop"))).collect();
    text.push_str(&acl_hit_line(&format!("{police} action pass")));
    text
}

fn worker(text: &str) -> Worker {
    let frame = testkit::frames::generator_udp(64);
    let set = rules::parse("bench.rules", text).expect("the bench's rules parse");
    let names = ["".to_string(), String::new()];
    let table =
        RuleTable::build(set, "bench.rules", &names, 1, Disposition::Drop, ClassifierKind::Fast).expect("resolvable");
    let shared = Arc::new(SharedRules::new(table));
    let mut worker = benches::mem_worker_with(&[frame], |queue_ports| {
        Box::new(Classified::new(Action::Fwd, Pipeline::default(), shared, 0, queue_ports))
    });
    benches::prime(&mut worker);
    worker
}

fn chains(c: &mut Criterion) {
    let mut group = c.benchmark_group("chains");
    group.throughput(Throughput::Elements(2 * BURST as u64));
    for (name, text) in
        [("flat/1000", acl_rules_text(RULES)), ("two_chains/1000", two_chains()), ("police/1000", policed())]
    {
        let mut worker = worker(&text);
        group.bench_function(name, |b| b.iter(|| worker.poll_once()));
    }
    group.finish();
}

criterion_group!(benches, chains);
criterion_main!(benches);
