//! The fast classifier: a forest of multi-way cutting decision trees over the 5-tuple
//! (HiCuts with EffiCuts-style separation of wide rules and redundancy pruning), with the
//! exact rule test at the leaves, so every key of the model keeps its meaning.
//!
//! # How it works
//!
//! Each packet is seen as a point in five dimensions: source and destination address (the
//! top 64 bits: IPv4 shifted to the top, IPv6's first 64 bits), source and destination port
//! (with one extra value, 65536, for "no ports", so a rule with a port key never covers a
//! packet without ports), and IP protocol. Each rule is a box in that space.
//!
//! - Rules are first split by address family (no IP, IPv4, IPv6: a rule goes to every family
//!   it can match), then, inside a family, by which address dimensions they are *wide* in
//!   (prefix shorter than [`Params::wide_below`] bits): wide rules would be copied into every
//!   child of a cut on that dimension, so they get trees of their own (EffiCuts' insight).
//! - Each tree cuts its region into 2^k equal, aligned parts along the dimension and k that
//!   minimise the largest child, within a space budget ([`Params::space_factor`]) — HiCuts.
//!   A child whose rules all span it is shared with an identical neighbour. Under a rule that
//!   covers a node's whole region and is *exact* (its box is its whole meaning), the later
//!   rules can never win there and are dropped.
//! - A leaf holds at most [`Params::leaf_rules`] rules (more only where no cut separates
//!   them), in matching order, each with its box. Lookup walks one tree per category with
//!   a shift and a mask per level, then scans the leaf: box test, and for rules with keys
//!   beyond the 5-tuple (MACs, VLAN, TOS, TTL, flags, tunnel keys, IPv6 prefixes longer
//!   than 64 bits, non-contiguous port masks, `protocol 802.1q`) [`Rule::matches`] itself.
//! - Priority pruning: trees are visited by their best rule; once a match is found, trees
//!   (and leaf entries) that cannot beat it are skipped.
//!
//! The answer is always [`crate::Linear`]'s: the first rule in [`RuleSet::order`] that
//! matches (differential property tests in `tests/`).
//!
//! # Why this design (measured, see BENCHMARKS.md "Classifier")
//!
//! Candidates were measured on generated ClassBench-style sets ([`crate::gen`]):
//! tuple space search with priority pruning ([`crate::tss`]) and this forest. See the crate
//! documentation for the numbers and the choice.

use crate::key::{Family, PacketKey};
use crate::rule::{Keys, PortMatch, Prefix, Protocol, Rule, RuleSet};
use crate::Classifier;

const DIMS: usize = 5;
/// Bits of each dimension's space: addresses (top 64 bits), ports (16 bits + "no ports"),
/// protocol.
const WIDTH: [u8; DIMS] = [64, 64, 17, 17, 8];
/// The port value of a packet without ports (above every real port).
const NO_PORTS: u64 = 1 << 16;
/// The shared empty leaf.
const EMPTY: u32 = 0;
/// Deeper than this, a node becomes a leaf whatever its size (pathological sets).
const MAX_DEPTH: usize = 24;

/// Tuning of the build. [`Params::default`] is what [`build`] uses (chosen by measurement).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// A node with at most this many rules becomes a leaf.
    pub leaf_rules: usize,
    /// A cut may copy rules into children up to `space_factor` times the node's rules.
    pub space_factor: f64,
    /// Most cuts in one node, as a power of two.
    pub max_cut_bits: u8,
    /// A prefix shorter than this many bits (IPv4 length; IPv6 counts the same bits) is
    /// *wide*: such rules get trees of their own. `0` puts all rules of a family in one tree.
    pub wide_below: u8,
}

impl Default for Params {
    fn default() -> Params {
        Params { leaf_rules: 8, space_factor: 4.0, max_cut_bits: 8, wide_below: 12 }
    }
}

/// One tree node, 12 bytes. `bits == 0`: a leaf of `len` entries from `start`; otherwise
/// `2^bits` children at `children[start..]`, picked by `(value(dim) >> shift) & (2^bits - 1)`.
#[derive(Clone, Copy, Debug)]
struct Node {
    dim: u8,
    shift: u8,
    bits: u8,
    start: u32,
    len: u32,
}

/// A rule as a leaf holds it: its box, and whether the box is its whole meaning.
#[derive(Clone, Copy, Debug)]
struct Entry {
    lo: [u64; 2],
    hi: [u64; 2],
    /// Source port lo/hi, destination port lo/hi (17-bit values).
    ports: [u32; 4],
    proto: [u8; 2],
    exact: bool,
    /// The rule's position in matching order.
    pos: u32,
}

impl Entry {
    #[inline(always)]
    fn contains(&self, v: &[u64; DIMS]) -> bool {
        // Non-short-circuit `&`: one branch, no mispredictions on which field failed.
        (self.lo[0] <= v[0])
            & (v[0] <= self.hi[0])
            & (self.lo[1] <= v[1])
            & (v[1] <= self.hi[1])
            & (self.ports[0] as u64 <= v[2])
            & (v[2] <= self.ports[1] as u64)
            & (self.ports[2] as u64 <= v[3])
            & (v[3] <= self.ports[3] as u64)
            & (self.proto[0] as u64 <= v[4])
            & (v[4] <= self.proto[1] as u64)
    }
}

#[derive(Clone, Copy, Debug)]
struct Tree {
    root: u32,
    /// The best (lowest) matching-order position of any rule in the tree.
    best_pos: u32,
}

/// The fast classifier. Build with [`build`] (or [`Fast::with_params`]); lookups do not
/// allocate.
#[derive(Clone, Debug)]
pub struct Fast {
    /// Trees per family (none, IPv4, IPv6), sorted by `best_pos`.
    families: [Vec<Tree>; 3],
    nodes: Vec<Node>,
    children: Vec<u32>,
    entries: Vec<Entry>,
    /// Rules by matching-order position, for the keys beyond the 5-tuple.
    rules: Vec<Rule>,
    /// File index by matching-order position.
    file_index: Vec<u32>,
    params: Params,
}

/// Builds the fast classifier with the default [`Params`]. Deterministic: the same set gives
/// the same structure.
pub fn build(set: &RuleSet) -> Fast {
    Fast::with_params(set, Params::default())
}

fn family_slot(family: Family) -> usize {
    match family {
        Family::None => 0,
        Family::V4 => 1,
        Family::V6 => 2,
    }
}

const FAMILIES: [Family; 3] = [Family::None, Family::V4, Family::V6];

/// The packet as a point.
#[inline(always)]
fn point(key: &PacketKey) -> [u64; DIMS] {
    let ip = |addr: u128| match key.family {
        Family::V4 => (addr as u64) << 32,
        Family::V6 => (addr >> 64) as u64,
        Family::None => 0,
    };
    let port = |port: u16| if key.has_ports { u64::from(port) } else { NO_PORTS };
    [ip(key.src_ip), ip(key.dst_ip), port(key.src_port), port(key.dst_port), u64::from(key.ip_proto)]
}

/// Which families a rule can match at all.
fn families_of(rule: &Rule) -> [bool; 3] {
    let k = &rule.keys;
    let mut ok = match rule.protocol {
        Protocol::Ipv4 => [false, true, false],
        Protocol::Ipv6 => [false, false, true],
        Protocol::All | Protocol::Vlan => [true; 3],
    };
    for prefix in [k.src_ip, k.dst_ip].into_iter().flatten() {
        let slot = family_slot(prefix.family);
        for (index, flag) in ok.iter_mut().enumerate() {
            *flag &= index == slot;
        }
    }
    if k.ip_proto.is_some() || k.ip_tos.is_some() || k.ip_ttl.is_some() || k.ip_flags.is_some() {
        ok[0] = false;
    }
    ok
}

/// A rule's box in `family`'s space, and whether the box says everything the rule tests
/// (for packets of that family).
fn rule_box(rule: &Rule, family: Family) -> ([u64; DIMS], [u64; DIMS], bool) {
    let k = &rule.keys;
    let mut exact = Keys { src_ip: None, dst_ip: None, src_port: None, dst_port: None, ip_proto: None, ..k.clone() }
        == Keys::default()
        && match rule.protocol {
            Protocol::All => true,
            Protocol::Ipv4 => family == Family::V4,
            Protocol::Ipv6 => family == Family::V6,
            Protocol::Vlan => false,
        };
    let mut prefix_range = |p: Option<Prefix>| -> (u64, u64) {
        let Some(p) = p else { return (0, u64::MAX) };
        match (p.family, family) {
            (Family::V4, Family::V4) => {
                let lo = (p.addr as u64) << 32;
                (lo, lo | (u64::MAX >> p.len.min(32)))
            }
            (Family::V6, Family::V6) => {
                if p.len > 64 {
                    exact = false;
                }
                let host = u64::MAX.checked_shr(u32::from(p.len.min(64))).unwrap_or(0);
                let lo = (p.addr >> 64) as u64 & !host;
                (lo, lo | host)
            }
            _ => {
                // Never matches this family's packets (families_of keeps such rules out);
                // the whole range and Rule::matches keep it correct regardless.
                exact = false;
                (0, u64::MAX)
            }
        }
    };
    let (src_lo, src_hi) = prefix_range(k.src_ip);
    let (dst_lo, dst_hi) = prefix_range(k.dst_ip);
    let mut port_range = |p: Option<PortMatch>| -> (u64, u64) {
        match p {
            None => (0, NO_PORTS),
            Some(PortMatch::Range { lo, hi }) => (u64::from(lo), u64::from(hi)),
            Some(PortMatch::Masked(m)) => {
                let host = !m.mask;
                if host & host.wrapping_add(1) != 0 {
                    exact = false; // not a contiguous range: the bounds are a superset
                }
                let (lo, hi) = PortMatch::Masked(m).bounds();
                (u64::from(lo), u64::from(hi))
            }
        }
    };
    let (sport_lo, sport_hi) = port_range(k.src_port);
    let (dport_lo, dport_hi) = port_range(k.dst_port);
    let (proto_lo, proto_hi) = k.ip_proto.map_or((0, 255), |p| (u64::from(p), u64::from(p)));
    (
        [src_lo, dst_lo, sport_lo, dport_lo, proto_lo],
        [src_hi, dst_hi, sport_hi, dport_hi, proto_hi],
        exact,
    )
}

/// A rule while building: matching-order position and box.
#[derive(Clone, Copy, Debug)]
struct BuildRule {
    pos: u32,
    lo: [u64; DIMS],
    hi: [u64; DIMS],
    exact: bool,
}

/// An aligned region: per dimension `[base, base + 2^width - 1]`.
#[derive(Clone, Copy, Debug)]
struct Region {
    base: [u64; DIMS],
    width: [u8; DIMS],
}

impl Region {
    fn hi(&self, dim: usize) -> u64 {
        self.base[dim] | u64::MAX.checked_shr(64 - u32::from(self.width[dim])).unwrap_or(0)
    }

    fn covered_by(&self, rule: &BuildRule) -> bool {
        (0..DIMS).all(|d| rule.lo[d] <= self.base[d] && self.hi(d) <= rule.hi[d])
    }
}

struct Builder<'a> {
    rules: &'a [BuildRule],
    params: Params,
    nodes: Vec<Node>,
    children: Vec<u32>,
    entries: Vec<Entry>,
}

impl Builder<'_> {
    fn leaf(&mut self, list: &[u32]) -> u32 {
        let start = self.entries.len() as u32;
        for &index in list {
            let r = &self.rules[index as usize];
            self.entries.push(Entry {
                lo: [r.lo[0], r.lo[1]],
                hi: [r.hi[0], r.hi[1]],
                ports: [r.lo[2] as u32, r.hi[2] as u32, r.lo[3] as u32, r.hi[3] as u32],
                proto: [r.lo[4] as u8, r.hi[4] as u8],
                exact: r.exact,
                pos: r.pos,
            });
        }
        self.nodes.push(Node { dim: 0, shift: 0, bits: 0, start, len: list.len() as u32 });
        (self.nodes.len() - 1) as u32
    }

    /// The child index range `[a, b]` a rule spans when `dim` of `region` is cut in `2^bits`.
    fn span(rule: &BuildRule, region: &Region, dim: usize, shift: u32) -> (usize, usize) {
        let base = region.base[dim];
        let lo = rule.lo[dim].max(base) - base;
        let hi = rule.hi[dim].min(region.hi(dim)) - base;
        ((lo >> shift) as usize, (hi >> shift) as usize)
    }

    /// The best cut: (dim, bits), or None when no cut makes the largest child smaller.
    fn choose_cut(&self, list: &[u32], region: &Region) -> Option<(usize, u8)> {
        let n = list.len();
        let budget = self.params.space_factor * n as f64;
        // More children than about twice the rules buys nothing.
        let useful_bits = (usize::BITS - n.leading_zeros()) as u8 + 1;
        let mut best: Option<(usize, usize, usize, u8)> = None; // (max child, total, dim, bits)
        let mut counts: Vec<i64> = Vec::new();
        for dim in 0..DIMS {
            let width = region.width[dim];
            for bits in 1..=width.min(self.params.max_cut_bits).min(useful_bits) {
                let cuts = 1usize << bits;
                let shift = u32::from(width - bits);
                counts.clear();
                counts.resize(cuts + 1, 0);
                let mut total = 0usize;
                for &index in list {
                    let (a, b) = Self::span(&self.rules[index as usize], region, dim, shift);
                    total += b - a + 1;
                    counts[a] += 1;
                    counts[b + 1] -= 1;
                }
                if bits > 1 && (total + cuts) as f64 > budget {
                    break;
                }
                let mut running = 0i64;
                let mut max_child = 0i64;
                for &delta in &counts[..cuts] {
                    running += delta;
                    max_child = max_child.max(running);
                }
                let candidate = (max_child as usize, total, dim, bits);
                if best.is_none_or(|b| (candidate.0, candidate.1) < (b.0, b.1)) {
                    best = Some(candidate);
                }
            }
        }
        best.filter(|b| b.0 < n).map(|b| (b.2, b.3))
    }

    fn node(&mut self, list: &[u32], region: &Region, depth: usize) -> u32 {
        // Rules after an exact rule that covers the whole region can never win here.
        let keep = list
            .iter()
            .position(|&index| {
                let rule = &self.rules[index as usize];
                rule.exact && region.covered_by(rule)
            })
            .map_or(list.len(), |at| at + 1);
        let list = &list[..keep];
        if list.is_empty() {
            return EMPTY;
        }
        if list.len() <= self.params.leaf_rules || depth >= MAX_DEPTH {
            return self.leaf(list);
        }
        let Some((dim, bits)) = self.choose_cut(list, region) else {
            return self.leaf(list);
        };
        let cuts = 1usize << bits;
        let shift = u32::from(region.width[dim] - bits);
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); cuts];
        // Whether every rule of a child spans all of that child (then an identical
        // neighbour can share its subtree).
        let mut all_span = vec![true; cuts];
        for &index in list {
            let rule = &self.rules[index as usize];
            let (a, b) = Self::span(rule, region, dim, shift);
            for (child, child_list) in lists.iter_mut().enumerate().take(b + 1).skip(a) {
                child_list.push(index);
                let child_lo = region.base[dim] + ((child as u64) << shift);
                let child_hi = child_lo | u64::MAX.checked_shr(64 - shift).unwrap_or(0);
                if rule.lo[dim] > child_lo || rule.hi[dim] < child_hi {
                    all_span[child] = false;
                }
            }
        }
        let node_index = self.nodes.len() as u32;
        self.nodes.push(Node { dim: dim as u8, shift: shift as u8, bits, start: 0, len: 0 });
        let start = self.children.len();
        self.children.resize(start + cuts, EMPTY);
        self.nodes[node_index as usize].start = start as u32;
        let mut child_region = *region;
        child_region.width[dim] = region.width[dim] - bits;
        for child in 0..cuts {
            let shared = child > 0 && all_span[child] && all_span[child - 1] && lists[child] == lists[child - 1];
            let child_node = if shared {
                self.children[start + child - 1]
            } else {
                child_region.base[dim] = region.base[dim] + ((child as u64) << shift);
                self.node(&lists[child], &child_region, depth + 1)
            };
            self.children[start + child] = child_node;
        }
        node_index
    }
}

impl Fast {
    /// Builds with explicit tuning (benchmarks compare settings with this).
    pub fn with_params(set: &RuleSet, params: Params) -> Fast {
        let rules: Vec<Rule> = set.order.iter().map(|&i| set.rules[i].clone()).collect();
        let file_index: Vec<u32> = set.order.iter().map(|&i| i as u32).collect();
        let mut fast = Fast {
            families: [Vec::new(), Vec::new(), Vec::new()],
            nodes: vec![Node { dim: 0, shift: 0, bits: 0, start: 0, len: 0 }], // EMPTY
            children: Vec::new(),
            entries: Vec::new(),
            rules,
            file_index,
            params,
        };
        for family in FAMILIES {
            let slot = family_slot(family);
            let build_rules: Vec<BuildRule> = fast
                .rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| families_of(rule)[slot])
                .map(|(pos, rule)| {
                    let (lo, hi, exact) = rule_box(rule, family);
                    BuildRule { pos: pos as u32, lo, hi, exact }
                })
                .collect();
            // Categories by wideness in the two address dimensions.
            let wide_span = u64::MAX.checked_shr(u32::from(params.wide_below)).unwrap_or(0);
            let mut categories: [Vec<u32>; 4] = Default::default();
            for (index, rule) in build_rules.iter().enumerate() {
                let wide = |d: usize| params.wide_below > 0 && rule.hi[d] - rule.lo[d] > wide_span;
                categories[usize::from(wide(0)) | (usize::from(wide(1)) << 1)].push(index as u32);
            }
            let mut builder = Builder {
                rules: &build_rules,
                params,
                nodes: std::mem::take(&mut fast.nodes),
                children: std::mem::take(&mut fast.children),
                entries: std::mem::take(&mut fast.entries),
            };
            let region = Region { base: [0; DIMS], width: WIDTH };
            let mut trees = Vec::new();
            for list in categories.iter().filter(|list| !list.is_empty()) {
                let root = builder.node(list, &region, 0);
                let best_pos = build_rules[list[0] as usize].pos;
                trees.push(Tree { root, best_pos });
            }
            trees.sort_by_key(|tree| tree.best_pos);
            fast.nodes = builder.nodes;
            fast.children = builder.children;
            fast.entries = builder.entries;
            fast.families[slot] = trees;
        }
        fast
    }

    /// Bytes of the lookup structures (nodes, child tables, leaf entries, rule copies).
    pub fn memory_bytes(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Node>()
            + self.children.len() * 4
            + self.entries.len() * std::mem::size_of::<Entry>()
            + self.rules.len() * (std::mem::size_of::<Rule>() + 4)
            + self.families.iter().map(|f| f.len() * std::mem::size_of::<Tree>()).sum::<usize>()
    }

    /// Shape, for reports and tuning: (trees, nodes, leaf entries, deepest leaf).
    pub fn stats(&self) -> FastStats {
        let mut depth = 0;
        for tree in self.families.iter().flatten() {
            depth = depth.max(self.depth(tree.root));
        }
        FastStats {
            trees: self.families.iter().map(Vec::len).sum(),
            nodes: self.nodes.len(),
            entries: self.entries.len(),
            max_depth: depth,
        }
    }

    fn depth(&self, node: u32) -> usize {
        let n = self.nodes[node as usize];
        if n.bits == 0 {
            return 0;
        }
        let children = &self.children[n.start as usize..n.start as usize + (1 << n.bits)];
        let mut deepest = 0;
        let mut previous = u32::MAX;
        for &child in children {
            if child != previous {
                deepest = deepest.max(self.depth(child));
                previous = child;
            }
        }
        1 + deepest
    }

    pub fn params(&self) -> Params {
        self.params
    }
}

/// See [`Fast::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastStats {
    pub trees: usize,
    pub nodes: usize,
    pub entries: usize,
    pub max_depth: usize,
}

impl Classifier for Fast {
    #[inline]
    fn classify(&self, key: &PacketKey) -> Option<usize> {
        let v = point(key);
        let mut best = u32::MAX;
        for tree in &self.families[family_slot(key.family)] {
            if tree.best_pos >= best {
                break;
            }
            let mut node = self.nodes[tree.root as usize];
            while node.bits != 0 {
                let child = (v[node.dim as usize] >> node.shift) as usize & ((1 << node.bits) - 1);
                node = self.nodes[self.children[node.start as usize + child] as usize];
            }
            let leaf = &self.entries[node.start as usize..(node.start + node.len) as usize];
            for entry in leaf {
                if entry.pos >= best {
                    break;
                }
                if entry.contains(&v) && (entry.exact || self.rules[entry.pos as usize].matches(key)) {
                    best = entry.pos;
                    break;
                }
            }
        }
        self.file_index.get(best as usize).map(|&i| i as usize)
    }

    fn name(&self) -> &'static str {
        "fast"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{self, Style, TraceKind};
    use crate::Linear;

    fn same_as_linear(set: &RuleSet, params: Params) {
        let fast = Fast::with_params(set, params);
        let linear = Linear::new(set);
        for kind in [TraceKind::Hits, TraceKind::Random, TraceKind::LastRule] {
            for packet in gen::trace(set, kind, 2000, 9) {
                assert_eq!(fast.classify(&packet), linear.classify(&packet), "{packet:?}");
            }
        }
    }

    #[test]
    fn generated_sets_agree_with_linear() {
        for style in Style::ALL {
            for n in [0, 1, 10, 100, 2000] {
                let set = gen::rule_set(style, n, 11);
                same_as_linear(&set, Params::default());
                same_as_linear(&set, Params { wide_below: 0, ..Params::default() });
                same_as_linear(&set, Params { leaf_rules: 1, max_cut_bits: 2, ..Params::default() });
            }
        }
    }

    #[test]
    fn build_is_deterministic() {
        let set = gen::rule_set(Style::Fw, 1000, 3);
        let (a, b) = (build(&set), build(&set));
        assert_eq!(a.stats(), b.stats());
        assert_eq!(a.memory_bytes(), b.memory_bytes());
    }
}
