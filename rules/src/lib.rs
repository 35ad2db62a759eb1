//! Rules: the rule language (tc flower's keys and syntax, pasted `tc filter` lines,
//! ClassBench filter sets) and the classifiers that look a packet up in a rule set. The
//! same rules for the kernel's own classifiers (tc u32, flower, eBPF) are the `emit` crate's.
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
//! # Use
//!
//! Read a file ([`parse_file`], or [`parse()`] on text; every error of the file at once, each
//! `file:line:col: message`), build a classifier once ([`default_classifier`]), then ask it
//! for each packet's key, one at a time or a burst at a time ([`Classifier::classify_burst`]):
//!
//! ```
//! use rules::{default_classifier, parse, Classifier, PacketKey};
//!
//! let set = parse("acl.rules", "ip_proto tcp dst_port 22 action drop\naction pass\n").expect("two rules");
//! let classifier = default_classifier(&set).expect("a small set fits");
//! let ssh = PacketKey::ipv4_5tuple([192, 0, 2, 1], [10, 0, 0, 1], 6, 40000, 22);
//! let dns = PacketKey::ipv4_5tuple([192, 0, 2, 1], [10, 0, 0, 1], 17, 40000, 53);
//! assert_eq!((classifier.classify(&ssh), classifier.classify(&dns)), (Some(0), Some(1)));
//!
//! let errors = parse("bad.rules", "ip_proto tcp dst_port 70000 action drop\n").unwrap_err();
//! assert_eq!(errors[0].to_string(), "bad.rules:1:23: dst_port 70000 is out of range 0..=65535");
//! ```
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
//! Why the cut trees, what made them faster and what they do not reach: measured, in
//! BENCHMARKS.md, "Classifier" (moved there from these docs).

mod classifier;
mod error;
mod lex;

pub mod chain;
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
pub use classifier::Classifier;
pub use error::Error;
pub use fast::{default_classifier, Fast};
pub use key::{Family, PacketKey, MPLS_LSE_DEPTH_MAX};
pub use lex::{ParseError, UnknownName, MAX_LINE_BYTES, MAX_RULES_FILE_BYTES, MAX_TOKEN_BYTES, MAX_TRACE_FILE_BYTES};
pub use linear::Linear;
pub use parse::{
    parse, parse_as, parse_checked, parse_file, parse_file_checked, parse_file_noted, parse_noted, ActionCheck, Format,
};
pub use rule::{
    Action, Control, Gate, GateClock, GateEntry, Hook, Indev, Keys, Masked, MplsAction, MplsLse, Munge, Pedit,
    PeditCmd, PeditField, PeditHeader, Police, PoliceRate, PortMatch, Prefix, Protocol, Rule, RuleSet, TunnelKey,
    TunnelSet, VlanAction, CSUM_WORDS, GENEVE_PORT, MPLS_LABEL_IMPLICIT_NULL, VLAN_TPIDS, VXLAN_PORT,
};
