//! Tuple space search with priority pruning (Srinivasan et al., SIGCOMM '99; Open vSwitch's
//! megaflow classifier): one hash table per (family, source prefix length, destination
//! prefix length), probed in the order of the best rule each holds, stopping once a match
//! beats every table left. Ports, protocol and every other key are checked with
//! [`Rule::matches`] on the rules of the probed bucket.
//!
//! Kept as the measured alternative to [`crate::fast`] (see BENCHMARKS.md, "Classifier", for why
//! the tree forest is the default): its lookup cost grows with the number of distinct
//! prefix-length pairs, which ClassBench-like sets have many of.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::classifier::Classifier;
use crate::key::{Family, PacketKey};
use crate::rule::{Rule, RuleSet};

/// A multiply-rotate hasher (FxHash's scheme): SipHash would cost more than the rest of
/// a probe.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u128(&mut self, word: u128) {
        self.write_u64(word as u64);
        self.write_u64((word >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Buckets = HashMap<(u128, u128), Vec<u32>, BuildHasherDefault<FxHasher>>;

#[derive(Clone, Debug)]
struct Table {
    src_mask: u128,
    dst_mask: u128,
    best_pos: u32,
    /// Rules (matching-order positions, ascending) by their masked (source, destination).
    buckets: Buckets,
}

/// Tuple space search. Build with [`Tss::new`].
#[derive(Clone, Debug)]
pub struct Tss {
    /// Tables per family (none, IPv4, IPv6), sorted by best rule.
    families: [Vec<Table>; 3],
    rules: Vec<Rule>,
    file_index: Vec<u32>,
}

fn slot(family: Family) -> usize {
    match family {
        Family::None => 0,
        Family::V4 => 1,
        Family::V6 => 2,
    }
}

fn mask(family: Family, len: u8) -> u128 {
    let width = if family == Family::V6 { 128 } else { 32 };
    let len = u32::from(len).min(width);
    if len == 0 {
        0
    } else {
        let ones = u128::MAX >> (128 - width);
        ones & !ones.checked_shr(len).unwrap_or(0)
    }
}

impl Tss {
    /// Builds the tables of `set` (any set: nothing here has a size limit).
    pub fn new(set: &RuleSet) -> Tss {
        let rules: Vec<Rule> = set.order.iter().map(|&i| set.rules[i].clone()).collect();
        let file_index = set.order.iter().map(|&i| i as u32).collect();
        let mut families: [Vec<Table>; 3] = Default::default();
        for (pos, rule) in rules.iter().enumerate() {
            let k = &rule.keys;
            for family in [Family::None, Family::V4, Family::V6] {
                // A prefix of another family can never match; Rule::matches decides the rest.
                if [k.src_ip, k.dst_ip].iter().flatten().any(|p| p.family != family) {
                    continue;
                }
                let src_mask = k.src_ip.map_or(0, |p| mask(family, p.len));
                let dst_mask = k.dst_ip.map_or(0, |p| mask(family, p.len));
                let key = (k.src_ip.map_or(0, |p| p.addr), k.dst_ip.map_or(0, |p| p.addr));
                let tables = &mut families[slot(family)];
                let table = match tables.iter().position(|t| t.src_mask == src_mask && t.dst_mask == dst_mask) {
                    Some(at) => &mut tables[at],
                    None => {
                        tables.push(Table { src_mask, dst_mask, best_pos: pos as u32, buckets: Buckets::default() });
                        tables.last_mut().expect("just pushed")
                    }
                };
                table.buckets.entry(key).or_default().push(pos as u32);
            }
        }
        for tables in &mut families {
            tables.sort_by_key(|t| t.best_pos);
        }
        Tss { families, rules, file_index }
    }

    /// Hash tables probed by a lookup that finds nothing (the worst case), per family.
    pub fn tables(&self) -> [usize; 3] {
        [self.families[0].len(), self.families[1].len(), self.families[2].len()]
    }
}

impl Classifier for Tss {
    fn classify(&self, key: &PacketKey) -> Option<usize> {
        let mut best = u32::MAX;
        for table in &self.families[slot(key.family)] {
            if table.best_pos >= best {
                break;
            }
            let probe = (key.src_ip & table.src_mask, key.dst_ip & table.dst_mask);
            if let Some(bucket) = table.buckets.get(&probe) {
                for &pos in bucket {
                    if pos >= best {
                        break;
                    }
                    if self.rules[pos as usize].matches(key) {
                        best = pos;
                        break;
                    }
                }
            }
        }
        self.file_index.get(best as usize).map(|&i| i as usize)
    }

    fn name(&self) -> &'static str {
        "tss"
    }
}
