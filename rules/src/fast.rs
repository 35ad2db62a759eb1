//! The fast classifier: a few multi-way cutting decision trees over the 5-tuple (HiCuts'
//! equal-size cuts, EffiCuts' separation of wide rules, path compression and redundancy
//! pruning), with the exact rule test at the leaves, so every key of the model keeps its
//! meaning.
//!
//! # How it works
//!
//! Each packet is seen as a point in five dimensions: source and destination address (the
//! top 64 bits: IPv4 shifted to the top, IPv6's first 64 bits), source and destination port
//! (with one extra value, 65536, for "no ports", so a rule with a port key never covers a
//! packet without ports), and IP protocol. Each rule is a box in that space.
//!
//! - Rules are first split by address family (no IP, IPv4, IPv6: a rule goes to every family
//!   it can match), then by which addresses they are *wide* in (prefix shorter than
//!   [`Params::wide_below`] bits). A wide rule would be copied into every child of a cut on
//!   that address, so each of the four groups gets a tree of its own (EffiCuts' observation).
//! - A node cuts one dimension of its region into 2^k equal, aligned parts, taking the
//!   dimension and k whose largest child is smallest within a copy budget
//!   ([`Params::space_factor`]). Before cutting, the region shrinks to the bits its rules
//!   do not all share (path compression: clustered addresses cost no empty levels). Under a
//!   rule that covers the node's whole region and is *exact* (its box is its whole meaning),
//!   later rules can never win there and are dropped. Neighbouring children whose rules all
//!   span them share one subtree.
//! - A leaf holds at most [`Params::leaf_rules`] rules (more only where no cut separates
//!   them), in matching order, each as a compact entry of its box: 32 bytes for IPv4 (and
//!   packets without IP), two to a cache line, 48 for IPv6 (top 64 address bits), with a
//!   flag for "has a port key" and one for "exact". Only an entry whose box matches and that
//!   is not exact costs a [`Rule::matches`] call (rules with MACs, VLAN, TOS, TTL, flags,
//!   tunnel keys, IPv6 prefixes longer than 64 bits, non-contiguous port masks, `protocol
//!   802.1q`), so a scan reads one or two cache lines and no `Rule` on 5-tuple sets.
//! - Lookup walks *all* trees of the packet's family in lockstep, one level of each in
//!   turn, with one shift, mask and load per level and no branch per tree (a finished walk
//!   rereads word 0): the trees' loads are independent, so their cache misses overlap, and
//!   the latency is the deepest tree's, not the sum ([`LookupCost::chain`] against
//!   [`LookupCost::levels`]). Then every leaf's first entry is loaded before any leaf is
//!   scanned, for the same reason.
//! - Priority pruning: leaves are scanned by their tree's best rule; once a match is found,
//!   trees and leaf entries that cannot beat it are skipped; within a leaf the first hit
//!   is the answer.
//! - [`Fast::classify_burst`] walks 8 packets' trees in lockstep (up to 32 walks at once).
//! - A family of one tree (small sets) skips the lockstep: a plain walk, one leaf scan; its
//!   bursts go key by key.
//!
//! The answer is always [`crate::Linear`]'s: the first rule in [`RuleSet::order`] that
//! matches (unit tests here, differential property tests in `tests/`).
//!
//! Why this design and not another: measured, see BENCHMARKS.md, "Classifier".

use crate::classifier::Classifier;
use crate::key::{Family, PacketKey};
use crate::rule::{Keys, PortMatch, Prefix, Protocol, Rule, RuleSet, ETHERTYPE_PPPOE};

const DIMS: usize = 5;
/// The port value of a packet without ports (above every real port).
const NO_PORTS: u64 = 1 << 16;
/// Bits of each dimension's space: addresses (top 64 bits), ports (16 bits + "no ports"),
/// protocol.
const WIDTH: [u8; DIMS] = [64, 64, 17, 17, 8];
/// Deeper than this, a node becomes a leaf whatever its size (pathological sets).
const MAX_DEPTH: usize = 24;

/// Tuning of the build. [`Params::default`] is what [`build`] uses (chosen by measurement).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// A node with at most this many rules becomes a leaf.
    pub leaf_rules: usize,
    /// A cut may copy rules into children up to this many times the node's rules.
    pub space_factor: f64,
    /// Most cuts in one node, as a power of two (1..=16).
    pub max_cut_bits: u8,
    /// A prefix shorter than this many bits (IPv4 length; IPv6 counts the same bits) is
    /// *wide*. `0` puts all rules of a family in one tree.
    pub wide_below: u8,
    /// A family with at most this many rules gets one tree (copies are cheap there, and
    /// every extra tree is one more walk).
    pub one_tree_up_to: usize,
    /// Which wideness separates trees: four trees by source and destination, or two.
    pub split: TreeSplit,
}

/// How rules are grouped into trees by their wide addresses ([`Params::wide_below`]).
/// Fewer trees mean fewer walks per lookup but more copies of the wide rules: at 10k rules
/// two trees cost 10 MiB to 930 MiB and are slower than four (BENCHMARKS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TreeSplit {
    /// Four groups: narrow, wide source, wide destination, both wide (the default).
    #[default]
    SrcAndDst,
    /// Two groups: wide source or not.
    Src,
    /// Two groups: wide destination or not.
    Dst,
    /// Two groups: wide in either address or in neither.
    Either,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            leaf_rules: 8,
            space_factor: 8.0,
            max_cut_bits: 12,
            wide_below: 8,
            one_tree_up_to: 128,
            split: TreeSplit::SrcAndDst,
        }
    }
}

/// A node packed in a u64, so a parent's child table holds its children themselves (one
/// dependent load per level). Bit 0: 1 for a cut, 0 for a leaf. A cut: dimension in bits
/// 1..4, shift in bits 4..10, cut bits in bits 10..15, children at `words[start..]`. A leaf:
/// entry count in bits 4..24. Both: start in bits 32..64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node(u64);

impl Node {
    const MAX_LEAF: usize = (1 << 20) - 1;
    const EMPTY: Node = Node(0);

    fn leaf(start: usize, len: usize) -> Node {
        Node(((start as u64) << 32) | ((len.min(Self::MAX_LEAF) as u64) << 4))
    }
    fn cut(dim: usize, shift: u32, bits: u8, start: usize) -> Node {
        Node(((start as u64) << 32) | (u64::from(bits) << 10) | (u64::from(shift) << 4) | ((dim as u64) << 1) | 1)
    }
    #[inline(always)]
    fn is_cut(self) -> bool {
        self.0 & 1 != 0
    }
    /// The child a value falls in (cuts only).
    #[inline(always)]
    fn child(self, v: &[u64; DIMS]) -> usize {
        let dim = ((self.0 >> 1) & 0x7) as usize;
        let shift = (self.0 >> 4) & 0x3f;
        let bits = (self.0 >> 10) & 0x1f;
        self.start() + ((v[dim] >> shift) & ((1 << bits) - 1)) as usize
    }
    #[inline(always)]
    fn len(self) -> usize {
        ((self.0 >> 4) & 0xf_ffff) as usize
    }
    #[inline(always)]
    fn start(self) -> usize {
        (self.0 >> 32) as usize
    }
}

/// An address as a leaf entry holds it: IPv4 as its 32 bits (packets without IP too, as
/// 0), IPv6 as its top 64 bits (longer prefixes are checked by [`Rule::matches`]).
trait Addr: Copy + PartialOrd + std::fmt::Debug {
    /// From the top bits of the tree's 64-bit address dimension.
    fn from_top(v: u64) -> Self;
}

impl Addr for u32 {
    #[inline(always)]
    fn from_top(v: u64) -> u32 {
        (v >> 32) as u32
    }
}

impl Addr for u64 {
    #[inline(always)]
    fn from_top(v: u64) -> u64 {
        v
    }
}

/// [`Entry::flags`]: the box is the rule's whole meaning (no [`Rule::matches`] needed).
const EXACT: u8 = 1;
/// [`Entry::flags`]: the rule tests a port, so a packet without ports never matches.
const NEEDS_PORTS: u8 = 2;

/// A rule as a leaf holds it: its box, compact (32 bytes for IPv4, two to a cache line; 48
/// for IPv6), and whether the box is its whole meaning.
#[derive(Clone, Copy, Debug)]
struct Entry<A> {
    src: [A; 2],
    dst: [A; 2],
    /// Source port lo/hi, destination port lo/hi.
    ports: [u16; 4],
    proto: [u8; 2],
    flags: u8,
    /// The rule's position in matching order.
    pos: u32,
}

/// The packet as leaf entries test it.
#[derive(Clone, Copy, Debug)]
struct Probe<A> {
    src: A,
    dst: A,
    ports: [u16; 2],
    proto: u8,
    /// [`NEEDS_PORTS`] when the packet has no ports, else 0.
    no_ports: u8,
}

impl<A: Addr> Probe<A> {
    #[inline(always)]
    fn new(key: &PacketKey, v: &[u64; DIMS]) -> Probe<A> {
        Probe {
            src: A::from_top(v[0]),
            dst: A::from_top(v[1]),
            ports: [key.src_port, key.dst_port],
            proto: key.ip_proto,
            no_ports: if key.has_ports { 0 } else { NEEDS_PORTS },
        }
    }
}

impl<A: Addr> Entry<A> {
    fn new(rule: &BuildRule) -> Entry<A> {
        let port = |v: u64| v.min(u64::from(u16::MAX)) as u16;
        let needs_ports = rule.hi[2] < NO_PORTS || rule.hi[3] < NO_PORTS;
        Entry {
            src: [A::from_top(rule.lo[0]), A::from_top(rule.hi[0])],
            dst: [A::from_top(rule.lo[1]), A::from_top(rule.hi[1])],
            ports: [port(rule.lo[2]), port(rule.hi[2]), port(rule.lo[3]), port(rule.hi[3])],
            proto: [rule.lo[4] as u8, rule.hi[4] as u8],
            flags: if rule.exact { EXACT } else { 0 } | if needs_ports { NEEDS_PORTS } else { 0 },
            pos: rule.pos,
        }
    }

    #[inline(always)]
    fn contains(&self, p: &Probe<A>) -> bool {
        // Non-short-circuit `&`: one branch, no mispredictions on which field failed.
        (self.src[0] <= p.src)
            & (p.src <= self.src[1])
            & (self.dst[0] <= p.dst)
            & (p.dst <= self.dst[1])
            & (self.ports[0] <= p.ports[0])
            & (p.ports[0] <= self.ports[1])
            & (self.ports[2] <= p.ports[1])
            & (p.ports[1] <= self.ports[3])
            & (self.proto[0] <= p.proto)
            & (p.proto <= self.proto[1])
            & (self.flags & p.no_ports == 0)
    }
}

#[derive(Clone, Copy, Debug)]
struct Tree {
    root: Node,
    /// The best (lowest) matching-order position of any rule in the tree.
    best_pos: u32,
}

/// The fast classifier. Build with [`build`] (or [`Fast::with_params`]), which refuses a set
/// it cannot hold ([`TooLarge`]); lookups do not allocate.
#[derive(Clone, Debug)]
pub struct Fast {
    /// Trees per family (none, IPv4, IPv6), sorted by `best_pos`.
    families: [Vec<Tree>; 3],
    /// Child tables (children as `Node` words).
    words: Vec<u64>,
    leaves: Leaves,
    /// Rules by matching-order position, for the keys beyond the 5-tuple.
    rules: Vec<Rule>,
    /// File index by matching-order position.
    file_index: Vec<u32>,
    params: Params,
    stats: FastStats,
}

/// What one lookup did ([`Fast::lookup_cost`]): deterministic, unlike its time on a shared
/// machine, and close to it: each level and each cache line of leaf entries is a likely
/// cache miss on a large set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LookupCost {
    /// Trees of the packet's family (all are walked, in lockstep).
    pub trees: usize,
    /// Cut nodes walked over all trees.
    pub levels: usize,
    /// The longest walk: dependent loads in a row, the latency that overlapping cannot hide.
    pub chain: usize,
    /// Leaves scanned (trees whose best rule could still win).
    pub leaves: usize,
    /// Leaf entries tested.
    pub tests: usize,
    /// Entries whose box matched but whose rule has more keys: [`Rule::matches`] calls.
    pub rule_checks: usize,
    /// Cache lines read: one per level, plus the leaf entry lines scanned.
    pub lines: usize,
    entry_lines: usize,
}

/// See [`Fast::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FastStats {
    /// Trees over all families (a lookup walks at most those of its packet's family).
    pub trees: usize,
    /// Cut nodes.
    pub cuts: usize,
    /// Leaf entries (rules, counted once per leaf that holds them).
    pub entries: usize,
    /// Cuts above the deepest leaf.
    pub max_depth: usize,
}

/// Builds the fast classifier with the default [`Params`]. Deterministic: the same set gives
/// the same structure. `Err` for a set the structure cannot hold (see [`TooLarge`]): the
/// caller says so, and may choose another classifier (the linear one holds any set).
pub fn build(set: &RuleSet) -> Result<Fast, TooLarge> {
    Fast::with_params(set, Params::default())
}

/// The classifier to use by default: [`build`]'s, as a [`Classifier`] (why this one: the
/// measurements in BENCHMARKS.md, "Classifier"); `Err` for a set it cannot hold.
pub fn default_classifier(set: &RuleSet) -> Result<Box<dyn Classifier>, TooLarge> {
    Ok(Box::new(build(set)?))
}

/// A rule set the fast classifier cannot hold. A leaf keeps its entry count in 20 bits of its
/// node word, so at most [`MAX_LEAF_RULES`] rules may share one leaf: more rules than that
/// which no cut separates (the same addresses, ports and protocol, told apart only by keys
/// the trees do not cut on, such as VLAN or TTL) would leave the rest of the leaf untested.
/// The build refuses the set instead. Likewise for offsets past the 32 bits a node keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// Rules in the set.
    pub rules: usize,
    /// What does not fit.
    pub reason: TooLargeReason,
}

/// See [`TooLarge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooLargeReason {
    /// This many rules fall in one leaf that no cut separates (more than the limit).
    Leaf {
        /// Rules in that leaf.
        rules: usize,
        /// The most one leaf holds ([`MAX_LEAF_RULES`]).
        limit: usize,
    },
    /// The child tables or leaf entries grew past the 2^32 a node can address.
    Offsets,
    /// More rules than the 32-bit positions leaf entries keep.
    Positions,
}

/// The most rules one leaf of the fast classifier holds (see [`TooLarge`]).
pub const MAX_LEAF_RULES: usize = Node::MAX_LEAF;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the fast classifier cannot hold these {} rules: ", self.rules)?;
        match self.reason {
            TooLargeReason::Leaf { rules, limit } => write!(
                f,
                "{rules} of them fall in one leaf that no cut on addresses, ports or protocol separates, \
                 and a leaf holds at most {limit}; use the linear classifier"
            ),
            TooLargeReason::Offsets => {
                f.write_str("its tables would need offsets past 2^32; use the linear classifier")
            }
            TooLargeReason::Positions => f.write_str("more than 2^32 rules; split the set"),
        }
    }
}

impl std::error::Error for TooLarge {}

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
        // A PPPoE session carries IP (the walker goes on into it).
        Protocol::Ether(ETHERTYPE_PPPOE) => [true; 3],
        // ARP, MPLS, LLDP...: the walker finds no IP header under them.
        Protocol::Ether(_) => [true, false, false],
    };
    let beyond_ip = [k.arp_sip, k.arp_tip].iter().any(Option::is_some)
        || k.arp_op.is_some()
        || k.arp_sha.is_some()
        || k.arp_tha.is_some()
        || [k.mpls_label.is_some(), k.mpls_tc.is_some(), k.mpls_bos.is_some(), k.mpls_ttl.is_some()].contains(&true)
        || k.mpls_lses.is_some()
        || k.cfm_mdl.is_some()
        || k.cfm_op.is_some()
        || k.eth_type.is_some_and(|id| !matches!(id, 0x0800 | 0x86dd | ETHERTYPE_PPPOE));
    if beyond_ip {
        ok = [ok[0], false, false];
    }
    if k.icmp_type.is_some() || k.icmp_code.is_some() {
        ok[0] = false;
    }
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
    let mut exact = Keys { src_ip: None, dst_ip: None, src_port: None, dst_port: None, ip_proto: None, ..*k }
        == Keys::default()
        && match rule.protocol {
            Protocol::All => true,
            Protocol::Ipv4 => family == Family::V4,
            Protocol::Ipv6 => family == Family::V6,
            Protocol::Vlan | Protocol::Ether(_) => false,
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
    ([src_lo, dst_lo, sport_lo, dport_lo, proto_lo], [src_hi, dst_hi, sport_hi, dport_hi, proto_hi], exact)
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

/// The low `width` bits set.
fn low_bits(width: u32) -> u64 {
    u64::MAX.checked_shr(64 - width).unwrap_or(0)
}

impl Region {
    fn hi(&self, dim: usize) -> u64 {
        self.base[dim] | low_bits(u32::from(self.width[dim]))
    }

    fn covered_by(&self, rule: &BuildRule) -> bool {
        (0..DIMS).all(|d| rule.lo[d] <= self.base[d] && self.hi(d) <= rule.hi[d])
    }
}

/// Leaf entries: those of IPv4 and no-IP trees with 32-bit addresses, IPv6 with 64.
#[derive(Clone, Debug, Default)]
struct Leaves {
    narrow: Vec<Entry<u32>>,
    wide: Vec<Entry<u64>>,
}

struct Builder<'a> {
    rules: &'a [BuildRule],
    params: Params,
    family: Family,
    words: Vec<u64>,
    leaves: Leaves,
    stats: FastStats,
    /// The most entries a leaf may hold ([`Node::MAX_LEAF`]; lower in tests).
    leaf_limit: usize,
    /// What did not fit, if anything (the build goes on and is then refused).
    overflow: Option<TooLargeReason>,
}

impl Builder<'_> {
    fn leaf(&mut self, list: &[u32], depth: usize) -> Node {
        if list.is_empty() {
            return Node::EMPTY;
        }
        self.stats.max_depth = self.stats.max_depth.max(depth);
        let entries = list.iter().map(|&index| &self.rules[index as usize]);
        let start = if self.family == Family::V6 {
            let start = self.leaves.wide.len();
            self.leaves.wide.extend(entries.map(Entry::new));
            start
        } else {
            let start = self.leaves.narrow.len();
            self.leaves.narrow.extend(entries.map(Entry::new));
            start
        };
        self.stats.entries += list.len();
        if list.len() > self.leaf_limit {
            let worst = match self.overflow {
                Some(TooLargeReason::Leaf { rules, .. }) => rules.max(list.len()),
                _ => list.len(),
            };
            if !matches!(self.overflow, Some(TooLargeReason::Offsets)) {
                self.overflow = Some(TooLargeReason::Leaf { rules: worst, limit: self.leaf_limit });
            }
        }
        if u32::try_from(start).is_err() {
            self.overflow = Some(TooLargeReason::Offsets);
        }
        Node::leaf(start, list.len())
    }

    /// The smallest aligned region, per dimension, that still holds every rule's part of
    /// `region`: the bits all rules agree on need no cut (path compression). A packet
    /// outside it lands in some child all the same, but no rule of this node can match it,
    /// and every leaf entry is checked in full.
    fn shrink(&self, list: &[u32], region: &Region) -> Region {
        let mut shrunk = *region;
        for dim in 0..DIMS {
            let (base, top) = (region.base[dim], region.hi(dim));
            let (mut lo, mut hi) = (u64::MAX, 0);
            for &index in list {
                let rule = &self.rules[index as usize];
                lo = lo.min(rule.lo[dim].max(base));
                hi = hi.max(rule.hi[dim].min(top));
            }
            let width = 64 - (lo ^ hi).leading_zeros();
            shrunk.width[dim] = width as u8;
            shrunk.base[dim] = lo & !low_bits(width);
        }
        shrunk
    }

    /// The child index range `[a, b]` a rule spans when `dim` of `region` is cut at `shift`.
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
        let mut best: Option<(usize, usize, usize, u8)> = None; // (largest child, copies, dim, bits)
        let mut counts: Vec<i64> = Vec::new();
        for dim in 0..DIMS {
            let width = region.width[dim];
            for bits in 1..=width.min(self.params.max_cut_bits).min(useful_bits) {
                let cuts = 1usize << bits;
                let shift = u32::from(width - bits);
                counts.clear();
                counts.resize(cuts + 1, 0);
                let mut copies = 0usize;
                for &index in list {
                    let (a, b) = Self::span(&self.rules[index as usize], region, dim, shift);
                    copies += b - a + 1;
                    counts[a] += 1;
                    counts[b + 1] -= 1;
                }
                if bits > 1 && (copies + cuts) as f64 > budget {
                    break;
                }
                let mut running = 0i64;
                let mut largest = 0i64;
                for &delta in &counts[..cuts] {
                    running += delta;
                    largest = largest.max(running);
                }
                let candidate = (largest as usize, copies, dim, bits);
                if best.is_none_or(|b| (candidate.0, candidate.1) < (b.0, b.1)) {
                    best = Some(candidate);
                }
            }
        }
        best.filter(|b| b.0 < n).map(|b| (b.2, b.3))
    }

    fn node(&mut self, list: &[u32], region: &Region, depth: usize) -> Node {
        // Rules after an exact rule that covers the whole region can never win here.
        let keep = list
            .iter()
            .position(|&index| {
                let rule = &self.rules[index as usize];
                rule.exact && region.covered_by(rule)
            })
            .map_or(list.len(), |at| at + 1);
        let list = &list[..keep];
        if list.len() <= self.params.leaf_rules || depth >= MAX_DEPTH {
            return self.leaf(list, depth);
        }
        let region = &self.shrink(list, region);
        let Some((dim, bits)) = self.choose_cut(list, region) else {
            return self.leaf(list, depth);
        };
        let cuts = 1usize << bits;
        let shift = u32::from(region.width[dim] - bits);
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); cuts];
        // Whether every rule of a child spans all of it (then an identical neighbour can
        // share its subtree: the subtree cannot tell the two apart).
        let mut all_span = vec![true; cuts];
        for &index in list {
            let rule = &self.rules[index as usize];
            let (a, b) = Self::span(rule, region, dim, shift);
            for (child, child_list) in lists.iter_mut().enumerate().take(b + 1).skip(a) {
                child_list.push(index);
                let child_lo = region.base[dim] + ((child as u64) << shift);
                let child_hi = child_lo | low_bits(shift);
                if rule.lo[dim] > child_lo || rule.hi[dim] < child_hi {
                    all_span[child] = false;
                }
            }
        }
        self.stats.cuts += 1;
        let start = self.words.len();
        if u32::try_from(start + cuts).is_err() {
            self.overflow = Some(TooLargeReason::Offsets);
        }
        self.words.resize(start + cuts, Node::EMPTY.0);
        let mut child_region = *region;
        child_region.width[dim] = region.width[dim] - bits;
        for child in 0..cuts {
            let shared = child > 0 && all_span[child] && all_span[child - 1] && lists[child] == lists[child - 1];
            self.words[start + child] = if shared {
                self.words[start + child - 1]
            } else {
                child_region.base[dim] = region.base[dim] + ((child as u64) << shift);
                self.node(&lists[child], &child_region, depth + 1).0
            };
        }
        Node::cut(dim, shift, bits, start)
    }
}

impl Fast {
    /// Builds with explicit tuning (benchmarks compare settings with this); `Err` as
    /// [`build`] says.
    pub fn with_params(set: &RuleSet, params: Params) -> Result<Fast, TooLarge> {
        Fast::with_leaf_limit(set, params, Node::MAX_LEAF)
    }

    /// [`Fast::with_params`] with leaves of at most `leaf_limit` entries (at most
    /// [`Node::MAX_LEAF`]): tests reach the refusal without a million rules.
    pub(crate) fn with_leaf_limit(set: &RuleSet, params: Params, leaf_limit: usize) -> Result<Fast, TooLarge> {
        let too_large = |reason| TooLarge { rules: set.len(), reason };
        if u32::try_from(set.len()).is_err() {
            return Err(too_large(TooLargeReason::Positions));
        }
        let leaf_limit = leaf_limit.min(Node::MAX_LEAF);
        let mut overflow = None;
        let params = Params { max_cut_bits: params.max_cut_bits.clamp(1, 16), ..params };
        let rules: Vec<Rule> = set.order.iter().map(|&i| set.rules[i].clone()).collect();
        let file_index: Vec<u32> = set.order.iter().map(|&i| i as u32).collect();
        // Word 0 is never a child: finished walks read it (see `walk`).
        let (mut words, mut leaves, mut stats) = (vec![Node::EMPTY.0], Leaves::default(), FastStats::default());
        let mut families: [Vec<Tree>; 3] = Default::default();
        for family in FAMILIES {
            let slot = family_slot(family);
            let build_rules: Vec<BuildRule> = rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| families_of(rule)[slot])
                .map(|(pos, rule)| {
                    let (lo, hi, exact) = rule_box(rule, family);
                    BuildRule { pos: pos as u32, lo, hi, exact }
                })
                .collect();
            // Groups by wideness in the two address dimensions.
            let wide_span = u64::MAX.checked_shr(u32::from(params.wide_below)).unwrap_or(0);
            let mut groups: [Vec<u32>; 4] = Default::default();
            for (index, rule) in build_rules.iter().enumerate() {
                let separate = params.wide_below > 0 && build_rules.len() > params.one_tree_up_to;
                let wide = |d: usize| separate && rule.hi[d] - rule.lo[d] > wide_span;
                let group = match params.split {
                    TreeSplit::SrcAndDst => usize::from(wide(0)) | (usize::from(wide(1)) << 1),
                    TreeSplit::Src => usize::from(wide(0)),
                    TreeSplit::Dst => usize::from(wide(1)),
                    TreeSplit::Either => usize::from(wide(0) | wide(1)),
                };
                groups[group].push(index as u32);
            }
            let mut builder =
                Builder { rules: &build_rules, params, family, words, leaves, stats, leaf_limit, overflow: None };
            let region = Region { base: [0; DIMS], width: WIDTH };
            for list in groups.iter().filter(|list| !list.is_empty()) {
                let root = builder.node(list, &region, 0);
                families[slot].push(Tree { root, best_pos: build_rules[list[0] as usize].pos });
            }
            families[slot].sort_by_key(|tree| tree.best_pos);
            overflow = overflow.or(builder.overflow);
            (words, leaves, stats) = (builder.words, builder.leaves, builder.stats);
        }
        if let Some(reason) = overflow {
            return Err(too_large(reason));
        }
        stats.trees = families.iter().map(Vec::len).sum();
        Ok(Fast { families, words, leaves, rules, file_index, params, stats })
    }

    /// Bytes of the lookup structures (child tables, leaf entries, rule copies).
    pub fn memory_bytes(&self) -> usize {
        self.words.len() * 8
            + self.leaves.narrow.len() * std::mem::size_of::<Entry<u32>>()
            + self.leaves.wide.len() * std::mem::size_of::<Entry<u64>>()
            + self.rules.len() * (std::mem::size_of::<Rule>() + 4)
            + self.families.iter().map(|f| f.len() * std::mem::size_of::<Tree>()).sum::<usize>()
    }

    /// Shape, for reports and tuning.
    pub fn stats(&self) -> FastStats {
        self.stats
    }

    /// The parameters it was built with.
    pub fn params(&self) -> Params {
        self.params
    }

    /// Walks `roots` (the trees of one family) in lockstep to their leaves, one level of
    /// every tree in turn: the trees' loads do not depend on each other, so their cache
    /// misses overlap instead of queueing. Counts the levels walked and the longest walk.
    #[inline(always)]
    fn walk(&self, nodes: &mut [Node], v: &[u64; DIMS], cost: &mut LookupCost) {
        let mut walking = nodes.iter().any(|node| node.is_cut());
        while walking {
            walking = false;
            for node in nodes.iter_mut() {
                cost.levels += usize::from(self.step(node, v));
                walking |= node.is_cut();
            }
            cost.chain += 1;
        }
    }

    /// One level down, if `node` is a cut; whether it was. Without a branch (which trees
    /// are done differs per packet, so a branch would mispredict): a finished walk reloads
    /// word 0, in L1.
    #[inline(always)]
    fn step(&self, node: &mut Node, v: &[u64; DIMS]) -> bool {
        let cut = node.is_cut();
        let next = Node(self.words[if cut { node.child(v) } else { 0 }]);
        *node = if cut { next } else { *node };
        cut
    }

    /// Tests the entries of `leaf` that could beat `best`; returns the new best. Entries are
    /// in matching order, so the first hit is the leaf's answer.
    #[inline(always)]
    fn scan<A: Addr>(
        &self,
        entries: &[Entry<A>],
        leaf: Node,
        probe: &Probe<A>,
        key: &PacketKey,
        best: u32,
        cost: &mut LookupCost,
    ) -> u32 {
        let start = leaf.start();
        for (at, entry) in entries[start..start + leaf.len()].iter().enumerate() {
            if entry.pos >= best {
                break;
            }
            cost.tests += 1;
            cost.entry_lines = cost.entry_lines.max((at + 1) * std::mem::size_of::<Entry<A>>());
            if entry.contains(probe) {
                if entry.flags & EXACT != 0 {
                    return entry.pos;
                }
                cost.rule_checks += 1;
                if self.rules[entry.pos as usize].matches(key) {
                    return entry.pos;
                }
            }
        }
        best
    }

    /// The first match among the leaves a walk reached (trees in `best_pos` order, so a
    /// tree that cannot beat the match so far ends the search).
    #[inline(always)]
    fn scan_leaves(
        &self,
        slot: usize,
        nodes: &[Node; MAX_TREES],
        key: &PacketKey,
        v: &[u64; DIMS],
        cost: &mut LookupCost,
    ) -> u32 {
        if slot == 2 {
            self.scan_family(&self.leaves.wide, slot, nodes, &Probe::new(key, v), key, cost)
        } else {
            self.scan_family(&self.leaves.narrow, slot, nodes, &Probe::new(key, v), key, cost)
        }
    }

    #[inline(always)]
    fn scan_family<A: Addr>(
        &self,
        entries: &[Entry<A>],
        slot: usize,
        nodes: &[Node; MAX_TREES],
        probe: &Probe<A>,
        key: &PacketKey,
        cost: &mut LookupCost,
    ) -> u32 {
        // Every leaf's first entry is loaded before any leaf is scanned: independent loads,
        // so their misses overlap; a scan's branches cannot hold the next leaf's load back.
        let mut first = [u32::MAX; MAX_TREES];
        for (first, leaf) in first.iter_mut().zip(nodes).take(self.families[slot].len()) {
            *first = entries.get(leaf.start()).map_or(u32::MAX, |entry| entry.pos);
        }
        let mut best = u32::MAX;
        for ((tree, &leaf), first) in self.families[slot].iter().zip(nodes).zip(first) {
            if tree.best_pos >= best {
                break;
            }
            if first >= best {
                continue;
            }
            cost.entry_lines = 0;
            best = self.scan(entries, leaf, probe, key, best, cost);
            cost.leaves += 1;
            cost.lines += cost.entry_lines.div_ceil(64);
        }
        best
    }

    #[inline(always)]
    fn roots(&self, slot: usize) -> [Node; MAX_TREES] {
        let mut nodes = [Node::EMPTY; MAX_TREES];
        for (node, tree) in nodes.iter_mut().zip(&self.families[slot]) {
            *node = tree.root;
        }
        nodes
    }

    /// The lookup, counting its work.
    #[inline(always)]
    fn lookup(&self, key: &PacketKey) -> (u32, LookupCost) {
        if key.has_pppoe {
            return (self.linear(key), LookupCost::default());
        }
        let v = point(key);
        let slot = family_slot(key.family);
        let mut cost = LookupCost { trees: self.families[slot].len(), ..LookupCost::default() };
        if let [tree] = self.families[slot].as_slice() {
            // One tree (every set of up to `one_tree_up_to` rules): nothing to walk in
            // lockstep and nothing to prune, so a plain walk and one scan.
            let mut node = tree.root;
            while node.is_cut() {
                node = Node(self.words[node.child(&v)]);
                cost.levels += 1;
            }
            cost.chain = cost.levels;
            let best = if slot == 2 {
                self.scan(&self.leaves.wide, node, &Probe::new(key, &v), key, u32::MAX, &mut cost)
            } else {
                self.scan(&self.leaves.narrow, node, &Probe::new(key, &v), key, u32::MAX, &mut cost)
            };
            cost.leaves = 1;
            cost.lines = cost.levels + cost.entry_lines.div_ceil(64);
            return (best, cost);
        }
        self.lookup_forest(key, &v, slot, cost)
    }

    /// Every rule in order, for PPPoE frames: their IP is not what `protocol ip` names, so
    /// the boxes of exact IP rules (and the pruning behind them) do not hold for them.
    #[cold]
    fn linear(&self, key: &PacketKey) -> u32 {
        self.rules.iter().position(|rule| rule.matches(key)).map_or(u32::MAX, |pos| pos as u32)
    }

    /// [`Fast::lookup`] in a family of several trees.
    #[inline(always)]
    fn lookup_forest(&self, key: &PacketKey, v: &[u64; DIMS], slot: usize, mut cost: LookupCost) -> (u32, LookupCost) {
        let mut nodes = self.roots(slot);
        self.walk(&mut nodes[..cost.trees], v, &mut cost);
        cost.lines += cost.levels;
        let best = self.scan_leaves(slot, &nodes, key, v, &mut cost);
        (best, cost)
    }

    /// What one lookup of `key` costs in work rather than time (deterministic, for tuning on
    /// a noisy machine).
    pub fn lookup_cost(&self, key: &PacketKey) -> LookupCost {
        LookupCost { entry_lines: 0, ..self.lookup(key).1 }
    }

    fn answer(&self, best: u32) -> Option<usize> {
        self.file_index.get(best as usize).map(|&i| i as usize)
    }
}

/// Most trees per family (the four wideness groups).
const MAX_TREES: usize = 4;

/// Packets a burst lookup walks in lockstep.
const LANES: usize = 8;

impl Classifier for Fast {
    #[inline]
    fn classify(&self, key: &PacketKey) -> Option<usize> {
        self.answer(self.lookup(key).0)
    }

    /// Walks 8 packets at a time, one tree level of every tree for each in turn: the loads
    /// of different packets and trees do not depend on each other, so the CPU overlaps
    /// their misses.
    fn classify_burst(&self, keys: &[PacketKey], out: &mut [Option<usize>]) {
        if self.families.iter().all(|trees| trees.len() <= 1) {
            // Small sets: one tree per family, whose lookup is short and already cheaper
            // than the lockstep machinery.
            for (key, answer) in keys.iter().zip(out.iter_mut()) {
                *answer = self.classify(key);
            }
            return;
        }
        let mut cost = LookupCost::default();
        for (keys, out) in keys.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let lanes = keys.len().min(out.len());
            let mut v = [[0u64; DIMS]; LANES];
            let mut nodes = [[Node::EMPTY; MAX_TREES]; LANES];
            let mut family = [0; LANES];
            for lane in 0..lanes {
                family[lane] = family_slot(keys[lane].family);
                v[lane] = point(&keys[lane]);
                nodes[lane] = self.roots(family_slot(keys[lane].family));
            }
            let mut walking = true;
            while walking {
                walking = false;
                for lane in 0..lanes {
                    for node in nodes[lane].iter_mut().take(self.families[family[lane]].len()) {
                        self.step(node, &v[lane]);
                        walking |= node.is_cut();
                    }
                }
            }
            for lane in 0..lanes {
                let slot = family_slot(keys[lane].family);
                out[lane] = if keys[lane].has_pppoe {
                    self.answer(self.linear(&keys[lane]))
                } else {
                    self.answer(self.scan_leaves(slot, &nodes[lane], &keys[lane], &v[lane], &mut cost))
                };
            }
        }
    }

    fn name(&self) -> &'static str {
        "fast"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{self, Style, TraceKind};
    use crate::linear::Linear;

    fn same_as_linear(set: &RuleSet, params: Params) {
        let fast = Fast::with_params(set, params).expect("a small set fits");
        let linear = Linear::new(set);
        for kind in [TraceKind::Hits, TraceKind::Random, TraceKind::LastRule] {
            let packets = gen::trace(set, kind, 2000, 9);
            let mut burst = vec![None; packets.len()];
            fast.classify_burst(&packets, &mut burst);
            for (packet, from_burst) in packets.iter().zip(burst) {
                let want = linear.classify(packet);
                assert_eq!(fast.classify(packet), want, "{packet:?}");
                assert_eq!(from_burst, want, "burst: {packet:?}");
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
                for split in [TreeSplit::Src, TreeSplit::Dst, TreeSplit::Either] {
                    same_as_linear(&set, Params { split, one_tree_up_to: 16, ..Params::default() });
                }
            }
        }
    }

    #[test]
    fn compact_entries_keep_ports_and_long_ipv6_prefixes_exact() {
        // A port key that covers every port still needs ports; an IPv6 /96 is tested past
        // the 64 bits an entry holds; both with enough rules for several trees and cuts.
        let mut rules = Vec::new();
        let any_port = PortMatch::Masked(crate::Masked::<u16>::new(0, 0));
        for i in 0..300u32 {
            let mut rule = gen::five_tuple_rule(0, None, None, None, None, None);
            rule.prio = 1;
            match i % 3 {
                0 => rule.keys.dst_port = Some(any_port),
                1 => {
                    rule.protocol = Protocol::Ipv6;
                    let addr = (0x2001_0db8u128 << 96) | u128::from(i);
                    rule.keys.dst_ip = Some(Prefix::v6(addr.to_be_bytes(), 96 + (i % 33) as u8));
                }
                _ => rule.keys.src_ip = Some(Prefix::v4((0x0a00_0000 | i << 8).to_be_bytes(), 24)),
            }
            rules.push(rule);
        }
        let set = RuleSet::new(rules);
        let linear = Linear::new(&set);
        let mut packets = Vec::new();
        for i in 0..300u32 {
            let mut v4 = PacketKey::ipv4_5tuple((0x0a00_0000 | i << 8 | 7).to_be_bytes(), [1, 2, 3, 4], 1, 9, 9);
            packets.push(v4);
            v4.has_ports = false;
            packets.push(v4);
            let v6 = PacketKey {
                family: Family::V6,
                dst_ip: (0x2001_0db8u128 << 96) | u128::from(i) | (u128::from(i & 1) << 20),
                ..v4
            };
            packets.push(v6);
        }
        for params in
            [Params::default(), Params { leaf_rules: 1, max_cut_bits: 16, one_tree_up_to: 0, ..Params::default() }]
        {
            let fast = Fast::with_params(&set, params).expect("300 rules fit");
            let mut burst = vec![None; packets.len()];
            fast.classify_burst(&packets, &mut burst);
            for (packet, from_burst) in packets.iter().zip(burst) {
                assert_eq!(fast.classify(packet), linear.classify(packet), "{packet:?}");
                assert_eq!(from_burst, linear.classify(packet), "burst: {packet:?}");
            }
        }
    }

    #[test]
    fn build_is_deterministic() {
        let set = gen::rule_set(Style::Fw, 1000, 3);
        let (a, b) = (build(&set).unwrap(), build(&set).unwrap());
        assert_eq!(a.stats(), b.stats());
        assert_eq!(a.memory_bytes(), b.memory_bytes());
    }

    /// `n` rules no cut separates: one 5-tuple, told apart only by the VLAN (which no tree
    /// cuts on, and which makes them inexact, so none hides the ones after it).
    fn inseparable(n: u16) -> RuleSet {
        let rules = (0..n)
            .map(|vlan| {
                let mut rule = gen::five_tuple_rule(0, None, None, None, None, None);
                rule.keys.vlan_id = Some(vlan);
                rule
            })
            .collect();
        RuleSet::new(rules)
    }

    #[test]
    fn a_leaf_past_its_limit_is_refused_with_the_rule_count() {
        let set = inseparable(40);
        let err = Fast::with_leaf_limit(&set, Params::default(), 16).unwrap_err();
        assert_eq!(err, TooLarge { rules: 40, reason: TooLargeReason::Leaf { rules: 40, limit: 16 } });
        let shown = err.to_string();
        assert!(shown.contains("40 rules") && shown.contains("at most 16") && shown.contains("linear"), "{shown}");
        // At the limit it builds, and answers every rule as linear does.
        let fast = Fast::with_leaf_limit(&set, Params::default(), 40).unwrap();
        let linear = Linear::new(&set);
        for vlan in 0..41 {
            let key = PacketKey { has_vlan: true, vlan_id: vlan, family: Family::V4, ..PacketKey::default() };
            assert_eq!(fast.classify(&key), linear.classify(&key), "vlan {vlan}");
            assert_eq!(linear.classify(&key), (vlan < 40).then_some(usize::from(vlan)));
        }
    }

    /// The real limit: 2^20 rules in one leaf (about 1 GB while building).
    #[test]
    #[ignore = "builds 2^20 rules: about 1 GB of memory"]
    fn more_rules_than_a_leaf_holds_are_refused_not_skipped() {
        let rules = (0..=MAX_LEAF_RULES as u32)
            .map(|i| {
                let mut rule = gen::five_tuple_rule(0, None, None, None, None, None);
                rule.keys.vlan_id = Some((i % 4096) as u16);
                rule.keys.ip_ttl = Some(crate::Masked::<u8>::new((i / 4096) as u8, 0xff));
                rule
            })
            .collect();
        let set = RuleSet::new(rules);
        let err = build(&set).unwrap_err();
        assert_eq!(err.rules, MAX_LEAF_RULES + 1);
        assert!(matches!(err.reason, TooLargeReason::Leaf { limit: MAX_LEAF_RULES, .. }), "{err}");
    }
}
