//! Rules: the language (tc flower's keys and syntax) and the classifiers that look a packet
//! up in a rule set. The same rules for the kernel's own classifiers are the `emit` crate's.
//!
//! One rule file, one meaning, in every engine. The meaning is [`Rule::matches`] on a
//! [`PacketKey`]; [`linear::Linear`] applies it rule by rule and is the reference every other
//! classifier is tested against.
//!
//! Order: first match wins, by lowest `prio`, then file order ([`RuleSet::rules`] is kept
//! in that order).
//!
//! Tunnels: on a tunnelled frame, the plain keys (and `protocol`) match the inner headers and
//! the `enc_` keys the outer ones, as flower does on a tunnel device after decapsulation.
//!
//! # Classifiers
//!
//! - [`linear::Linear`]: the reference, every rule in order.
//! - [`fast::Fast`] ([`fast::build`], also [`default_classifier`]): the default. A few
//!   cutting decision trees over the 5-tuple (HiCuts-style equal, aligned cuts with path
//!   compression; EffiCuts-style separation of rules wide in an address), exact
//!   [`Rule::matches`] at the leaves for every other key. [`Classifier::classify_burst`]
//!   walks 8 packets in lockstep.
//! - [`tss::Tss`]: tuple space search with priority pruning, kept as the measured alternative.
//!
//! ## Why the cut trees (measured, 2 vCPU shared VM; BENCHMARKS.md "Classifier")
//!
//! On generated ClassBench-style sets ([`gen`]: acl, fw, ipc) of 10,000 rules, one core:
//!
//! - Tuple space search needs one hash probe per distinct (source length, destination
//!   length) pair: 205 to 465 tables at 10k rules here, and priority pruning rarely stops
//!   early because early rules sit in many tables. It ran at 0.4 to 4 Mpps, 1.2 to 3.4x
//!   linear.
//! - One HiCuts tree per family copies every wide rule into every child: 200 MB and
//!   2.5 s to build for acl 10k, 0.6 GB for ipc; out of the question.
//! - Range splits at rule endpoints (a 16-way HyperSplit) were tried too: fewer levels on
//!   acl (9 instead of 14) but up to 2.9 M leaf entries and 2 s builds on ipc.
//! - The cut forest (4 trees per family, wide rules apart, leaves of 8). First version
//!   (8-bit cuts, space factor 4, trees walked one after the other, 56-byte leaf entries):
//!   3.4 to 4.8 Mpps at 10k under load, 10 to 16 dependent loads in a row per lookup.
//!   Current version (below): 3.7 to 7.2 MiB, 12 to 48 ms to build, 5.2 to 9.4 Mpps one
//!   packet at a time at 10k (load 2.5 to 4), 1.8 to 36x linear and 1.5 to 12x tuple space
//!   search in the same run. Against DPDK's rte_acl (AVX2) on the same files, first
//!   version: 0.49 to 1.29x (`benches/acl-compare.sh`), the same answers.
//!
//! ## What made the forest faster (and what did not)
//!
//! Tuned on the work a lookup does ([`fast::Fast::lookup_cost`], a [`fast::LookupCost`]:
//! levels, the longest chain of dependent loads, leaf tests, cache lines), which is
//! deterministic, and on the minimum of repeated short timings, because single timings on
//! this machine varied by 30%: `cargo run --release -p rules --example candidates -- 10
//! 10000 default bits8 ...` prints both. Figures at 10k rules, acl / fw / ipc:
//!
//! - Walking the trees of a family in lockstep, without a branch per tree, and loading
//!   every leaf's first entry before scanning any: the dependent loads in a row drop from
//!   the sum of the trees' depths (12.8 / 10.1 / 15.5 levels, walked one tree after the
//!   other) to the deepest tree (5.0 / 5.0 / 5.9). It walks every tree (fw: 4 instead of
//!   3.2 walks; pruning now only skips leaf scans). Timing with the rest unchanged: about
//!   -10% (acl, ipc), fw unchanged; with leaf scans removed the walks alone took 60 to 70
//!   ns of the 140 to 230 ns, so the leaves (cache misses on 0.6 to 3 MB of entries) were
//!   the larger part.
//! - Compact leaf entries (32 bytes for IPv4 instead of 56; ports as u16 with a "needs
//!   ports" flag): hot memory (child tables + entries) 0.7 / 3.3 / 1.8 MB instead of 1.2 /
//!   5.6 / 2.9 MB; leaf scans read 1.1 lines per leaf. `Rule` structs (272 bytes each) are
//!   read only for entries that are not exact: none on these sets.
//! - With entries this small, wider cuts are affordable: 12-bit cuts and space factor 8
//!   (was 8 and 4) take the chain to 3.6 / 4.3 / 4.9 and cache lines per lookup from 17.0
//!   / 14.1 / 19.8 to 13.3 / 11.5 / 15.9, for 3.7 / 7.2 / 5.0 MiB in all, 1.1 / 4.7 / 2.5
//!   MB of it hot (the old default needed 3.8 / 8.1 / 5.5 MiB) and builds of 12 to 48 ms; timing -10 to -15%. 16-bit cuts
//!   gained nothing over 12; leaves of 4 or 16 were worse (more levels, or more tests).
//! - Tried and dropped: testing every entry of a leaf into a bit mask, then taking the
//!   first hit (no data-dependent exit): 4x the tests (pruning within a leaf is lost) and
//!   15 to 30% slower.
//!
//! What it does not reach: lookup cost is not flat. From 10 to 10,000 rules a lookup costs
//! 4.6x (fw) to 9.3x (ipc) more (criterion, BENCHMARKS.md "Flatness"), not the 2x the issue
//! asks for, and DPDK's rte_acl on the same files costs 2.9 to 3.3x (acl) and 5.5 to 8.8x
//! (ipc) more (it is flat on fw only). Most of it is work: with every lookup in cache and
//! every branch predicted, 10k still costs 4.6 to 6x (four trees walked, 9.6 to 12.3 levels,
//! four leaves scanned, against one cut and one leaf at 10 rules; 752 to 995 instructions
//! against 172 to 196). The rest is memory: the 10k structures' hot parts (1.1 to 4.7 MB) are
//! beyond L2, where a dependent load costs 14 to 17 ns here. Two trees instead of four
//! ([`fast::TreeSplit`]) copy wide rules into 10 MiB to 0.9 GiB; bursts walked 32 packets at
//! a time measured the same as 8; recursive flow classification, whose lookup cost is fixed,
//! would need tables of 1.3 G to 3.8 T entries on these sets (`examples/rfc_size.rs`).
//!
//! Small sets (one tree per family: up to [`fast::Params::one_tree_up_to`] rules) take a
//! plain walk and one leaf scan, without the four-tree lockstep: 1.3 to 2x faster at 10
//! rules, and so a larger 10k / 10 ratio than before (2.8x to 6.0x then).

pub mod classbench;
pub mod fast;
pub mod gen;
pub mod key;
pub mod linear;
pub mod parse;
pub mod rule;
pub mod tc_words;
pub mod tss;

pub use classbench::{parse_classbench, parse_trace, parse_trace_file};
pub use fast::Fast;
pub use key::{Family, PacketKey};
pub use linear::Linear;
pub use parse::{
    parse, parse_as, parse_checked, parse_file, parse_file_checked, parse_file_noted, parse_noted, ActionCheck, Format,
    ParseError, MAX_LINE_BYTES, MAX_RULES_FILE_BYTES, MAX_TOKEN_BYTES, MAX_TRACE_FILE_BYTES,
};
pub use rule::{Action, Keys, Masked, PortMatch, Prefix, Protocol, Rule, RuleSet};

/// What a classifier answers: the index (in [`RuleSet::rules`], which is also the rule's
/// ordinal in its file) of the first rule that matches.
pub trait Classifier: Send + Sync {
    /// `None` when no rule matches.
    fn classify(&self, key: &PacketKey) -> Option<usize>;
    /// Classifies a burst: `out[i]` answers `keys[i]` (pairs up to the shorter of the two).
    /// Classifiers that can overlap the memory accesses of several lookups override it.
    fn classify_burst(&self, keys: &[PacketKey], out: &mut [Option<usize>]) {
        for (key, answer) in keys.iter().zip(out.iter_mut()) {
            *answer = self.classify(key);
        }
    }
    /// A short name for reports ("linear", ...).
    fn name(&self) -> &'static str;
}

/// The classifier to use by default: [`fast::build`] (why: see the crate documentation);
/// `Err` for a set it cannot hold ([`fast::TooLarge`]).
pub fn default_classifier(set: &RuleSet) -> Result<Box<dyn Classifier>, fast::TooLarge> {
    Ok(Box::new(fast::build(set)?))
}
