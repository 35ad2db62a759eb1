//! What classification costs a forwarding worker as rules grow: the 2016 study's question
//! ("1 rule vs 1000 rules, the last one matching") asked of `dataplane run --rules`.
//!
//! A worker forwards 64-byte UDP frames between two `mem` ports with a rule table of N rules
//! whose last one matches every frame (`action pass`, so nothing is dropped and the ports
//! never drain). Frames per second on one core for N = 1, 10, 100, 1000, 10000 with the
//! `fast` classifier and with `linear` (rule by rule, as tc walks its filters), against
//! `no_rules`: the same worker walking the frame with no rule stage, in the same run.
//!
//! `cargo bench -p benches --bench worker_rules -- --warm-up-time 1 --measurement-time 3`

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::engines::classified::Classified;
use engine::engines::Action;
use engine::pipeline::classify::ClassifierKind;
use engine::pipeline::{Disposition, Pipeline, RuleTable, SharedRules};
use engine::worker::Worker;
use pmd::BURST;

fn worker(rules: Option<(usize, ClassifierKind)>) -> Worker {
    let frame = testkit::frames::generator_udp(64);
    let mut worker = match rules {
        None => benches::mem_worker(&frame, Some(Pipeline::default())),
        Some((n, kind)) => {
            let set = rules::parse("bench.rules", &benches::acl_rules_text(n)).expect("the bench's rules parse");
            let table =
                RuleTable::build(set, "bench.rules", &["".to_string(), String::new()], 1, Disposition::Drop, kind)
                    .expect("resolvable");
            let shared = Arc::new(SharedRules::new(table));
            benches::mem_worker_with(&[frame], |queue_ports| {
                Box::new(Classified::new(Action::Fwd, Pipeline::default(), shared, 0, queue_ports))
            })
        }
    };
    benches::prime(&mut worker);
    worker
}

fn worker_rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("worker_rules");
    group.throughput(Throughput::Elements(2 * BURST as u64));
    let mut cases: Vec<(String, Option<(usize, ClassifierKind)>)> = vec![("no_rules".into(), None)];
    for n in [1, 10, 100, 1000, 10_000] {
        cases.push((format!("fast/{n}"), Some((n, ClassifierKind::Fast))));
        if n <= 1000 {
            cases.push((format!("linear/{n}"), Some((n, ClassifierKind::Linear))));
        }
    }
    for (name, rules) in cases {
        let mut worker = worker(rules);
        group.bench_function(name, |b| b.iter(|| worker.poll_once()));
    }
    group.finish();
}

criterion_group!(benches, worker_rules);
criterion_main!(benches);
