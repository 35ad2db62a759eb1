//! How large Recursive Flow Classification's tables (Gupta and McKeown, SIGCOMM 1999) get on
//! the generated ClassBench-style sets. RFC is the classic design whose lookup cost does not
//! grow with the rules at all (a fixed number of table reads, three in a row), so it is the
//! natural candidate for a flat classifier; this measures what that costs in memory.
//!
//! `cargo run --release -p rules --example rfc_size -- [N]` (default 10000 rules).
//!
//! Phase 0 reads seven chunks of the IPv4 5-tuple (source and destination address in 16-bit
//! halves, both ports, the protocol), each through a table that maps a chunk value to its
//! equivalence class (values matched by the same set of rules). Phase 1 combines the halves
//! of each address and the ports with the protocol; phase 2 combines source with
//! destination; phase 3 that with the ports, giving the rule. A combining table has one entry
//! per pair of classes, so its size is the product of the two class counts; a table whose
//! product passes [`BUILD_LIMIT`] is reported, not built.

use std::collections::HashMap;

use rules::gen::{self, Style};
use rules::rule::{PortMatch, Prefix};

/// A set of rules, one bit each.
type RuleBits = Vec<u64>;

/// Combining tables with more entries than this are only counted.
const BUILD_LIMIT: u64 = 30_000_000;

/// Equivalence classes of one chunk: the distinct rule sets over all values `0..space`,
/// given each rule's inclusive interval of the chunk.
fn chunk_classes(intervals: &[(u32, u32)], space: usize) -> Vec<RuleBits> {
    let words = intervals.len().div_ceil(64);
    let mut enter: Vec<Vec<usize>> = vec![Vec::new(); space + 1];
    let mut leave: Vec<Vec<usize>> = vec![Vec::new(); space + 1];
    for (rule, &(lo, hi)) in intervals.iter().enumerate() {
        enter[lo as usize].push(rule);
        leave[hi as usize + 1].push(rule);
    }
    let mut current: RuleBits = vec![0; words];
    let mut seen: HashMap<RuleBits, ()> = HashMap::new();
    for value in 0..space {
        for &rule in &leave[value] {
            current[rule / 64] &= !(1 << (rule % 64));
        }
        for &rule in &enter[value] {
            current[rule / 64] |= 1 << (rule % 64);
        }
        seen.entry(current.clone()).or_insert(());
    }
    seen.into_keys().collect()
}

/// The classes of a combining table: the distinct intersections of every pair.
fn combine(a: &[RuleBits], b: &[RuleBits]) -> Vec<RuleBits> {
    let mut seen: HashMap<RuleBits, ()> = HashMap::new();
    for x in a {
        for y in b {
            seen.entry(x.iter().zip(y).map(|(p, q)| p & q).collect()).or_insert(());
        }
    }
    seen.into_keys().collect()
}

/// A prefix as intervals of its high and low 16-bit halves (a prefix is exactly their
/// cross product).
fn halves(prefix: Option<Prefix>) -> [(u32, u32); 2] {
    let Some(prefix) = prefix else { return [(0, 0xffff), (0, 0xffff)] };
    let addr = prefix.addr as u32;
    let len = u32::from(prefix.len);
    if len >= 16 {
        let low = addr & 0xffff;
        [(addr >> 16, addr >> 16), (low, low | (0xffff >> (len - 16)))]
    } else {
        [(addr >> 16, (addr >> 16) | (0xffff >> len)), (0, 0xffff)]
    }
}

fn port(port: Option<PortMatch>) -> (u32, u32) {
    port.map_or((0, 0xffff), |p| {
        let (lo, hi) = p.bounds();
        (u32::from(lo), u32::from(hi))
    })
}

/// Reports a combining table of `a` x `b` classes and builds it when small enough.
fn table(name: &str, a: &[RuleBits], b: &[RuleBits]) -> Option<Vec<RuleBits>> {
    let entries = a.len() as u64 * b.len() as u64;
    if entries > BUILD_LIMIT {
        println!("  {name}: {} x {} = {entries} entries (not built)", a.len(), b.len());
        return None;
    }
    let classes = combine(a, b);
    println!("  {name}: {} x {} = {entries} entries, {} classes", a.len(), b.len(), classes.len());
    Some(classes)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    for style in Style::ALL {
        let set = gen::rule_set(style, n, 1);
        let mut chunks: [Vec<(u32, u32)>; 7] = Default::default();
        for rule in &set.rules {
            let keys = &rule.keys;
            let [src_hi, src_lo] = halves(keys.src_ip);
            let [dst_hi, dst_lo] = halves(keys.dst_ip);
            let proto = keys.ip_proto.map_or((0, 0xff), |p| (u32::from(p), u32::from(p)));
            let values = [src_hi, src_lo, dst_hi, dst_lo, port(keys.src_port), port(keys.dst_port), proto];
            for (chunk, value) in chunks.iter_mut().zip(values) {
                chunk.push(value);
            }
        }
        let phase0: Vec<Vec<RuleBits>> = chunks
            .iter()
            .enumerate()
            .map(|(index, chunk)| chunk_classes(chunk, if index == 6 { 256 } else { 1 << 16 }))
            .collect();
        let counts: Vec<usize> = phase0.iter().map(Vec::len).collect();
        println!(
            "{} {n}: phase 0 classes (src hi, src lo, dst hi, dst lo, sport, dport, proto) {counts:?}",
            style.name()
        );
        let src = table("phase 1 src", &phase0[0], &phase0[1]);
        let dst = table("phase 1 dst", &phase0[2], &phase0[3]);
        let ports = table("phase 1 sport x dport", &phase0[4], &phase0[5]);
        let ports = ports.and_then(|ports| table("phase 1 ports x proto", &ports, &phase0[6]));
        let addresses = match (&src, &dst) {
            (Some(src), Some(dst)) => table("phase 2 src x dst", src, dst),
            _ => None,
        };
        match (&addresses, &ports, &src, &dst) {
            (Some(addresses), Some(ports), _, _) => {
                table("phase 3 addresses x ports", addresses, ports);
            }
            // Every source class and every destination class is also an address class.
            (None, Some(ports), Some(src), Some(dst)) => println!(
                "  phase 3 addresses x ports: at least {} x {} = {} entries",
                src.len().max(dst.len()),
                ports.len(),
                src.len().max(dst.len()) as u64 * ports.len() as u64
            ),
            _ => {}
        }
    }
}
