//! What the u32 and flower emitters share: their options ([`EmitOptions`]), the batch they
//! produce ([`TcBatch`]) and the writer that collects it, how a rule splits into filters
//! (per protocol and address family), port ranges as value/mask blocks, and actions in tc's
//! words for the running kernel.
//!
//! Ordering traps this module and the emitters avoid:
//! - every filter gets an explicit prio: without one, tc picks a prio *below* the lowest in
//!   use, so a later `filter add` would be matched first;
//! - one prio holds one protocol (the kernel refuses `protocol ip` and `protocol ipv6` at the
//!   same prio), so a rule that matches both families is one `protocol all` u32 filter testing
//!   the ethertype, or two flower prios;
//! - a u32 match with neither an action nor a classid is not terminal: it matches and then
//!   lets classification go on, so `pass` is spelled with a classid when there is no gact;
//! - u32 knodes within one hash table run in handle order; handles are left to the kernel,
//!   which numbers them in the order they are added.

use std::fmt;
use std::fmt::Write as _;

use crate::caps::KernelCaps;
use crate::error::{Error, Refusal};
use crate::target::Target;
use rules::{Action, Family, Keys, Masked, PortMatch, Protocol, Rule, RuleSet};

/// Where the emitted filters go and how actions are spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitOptions {
    /// The device whose ingress gets the filters.
    pub dev: String,
    /// `fwd N` sends out of `ports[N]` (a netdev name, in the device's namespace).
    pub ports: Vec<String>,
    /// Drop by redirecting here (a veth whose peer is down: the lab's dead end). Used when
    /// given, whatever the kernel has; otherwise `drop` needs act_gact (or act_police).
    pub drop_dev: Option<String>,
    /// Start the batch with `qdisc replace dev DEV clsact` and `filter del dev DEV ingress`,
    /// so applying it replaces whatever ingress filters were there. Without it, the caller
    /// adds the clsact qdisc and flushes old filters (a leftover filter at a lower prio would
    /// see packets first).
    pub setup_qdisc: bool,
    /// What the kernel that will run the batch has; it decides how `drop` and `pass` are
    /// spelled. [`KernelCaps::running`] probes this machine.
    pub caps: KernelCaps,
}

impl EmitOptions {
    /// Options for `dev` on a kernel with `caps`, no ports, no drop device, with qdisc setup.
    pub fn new(dev: &str, caps: KernelCaps) -> EmitOptions {
        EmitOptions { dev: dev.to_string(), ports: Vec::new(), drop_dev: None, setup_qdisc: true, caps }
    }
}

/// A `tc -b` batch for one device's clsact ingress, and how its filters map back to rules.
#[derive(Clone, Debug, PartialEq)]
pub struct TcBatch {
    /// What it was written for: tc-u32 or tc-flower.
    pub target: Target,
    /// The device the filters are attached to.
    pub dev: String,
    /// Input for `tc -b -`: one command per line (no leading `tc`), `#` comments.
    pub text: String,
    /// `filter add` commands in the batch (u32 hash tables and links included).
    pub filters: usize,
    /// Key combinations over all rules: what a flat filter list needs once port ranges are
    /// cut into prefixes and a rule is split per protocol and address family.
    pub matches: usize,
    /// `matches` / rules emitted (1.0 when nothing had to be expanded).
    pub expansion_factor: f64,
    /// Limits of the emitted batch, and how actions were spelled on this kernel.
    pub notes: Vec<String>,
    /// Per rule, in file order (as [`RuleSet::rules`]).
    pub rules: Vec<RuleFilters>,
}

/// Where one rule ended up in a [`TcBatch`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleFilters {
    /// The prios its filters use (empty: the rule can never match and was left out).
    pub prios: Vec<u32>,
    /// Key combinations emitted for it.
    pub matches: usize,
    /// Its filters carry an action whose statistics count its hits. `pass` without act_gact
    /// has no action, and u32/flower have no per-filter hit counter of their own here.
    pub counted: bool,
}

impl TcBatch {
    /// The rule (index in [`RuleSet::rules`]) whose filters use `prio`.
    pub fn rule_at_prio(&self, prio: u32) -> Option<usize> {
        self.rules.iter().position(|r| r.prios.contains(&prio))
    }
}

/// Highest tc filter prio (16 bits; 0 means "pick one").
pub(crate) const MAX_PRIO: u32 = 0xffff;

/// Collects the batch as the emitters write it.
pub(crate) struct BatchWriter {
    target: Target,
    dev: String,
    text: String,
    filters: usize,
    notes: Vec<String>,
    /// Per rule, in file order: the emitters fill in `matches` and `counted`.
    pub(crate) rules: Vec<RuleFilters>,
    refusals: Vec<Refusal>,
    next_prio: u32,
}

impl BatchWriter {
    /// An empty batch for `set` (with the qdisc setup when `opts` asks for it).
    pub(crate) fn new(target: Target, set: &RuleSet, opts: &EmitOptions) -> BatchWriter {
        let mut text =
            format!("# {target} for {} rules on {} ingress, first match wins by prio\n", set.len(), opts.dev);
        if opts.setup_qdisc {
            // `replace` is idempotent on an existing clsact; the flush removes old filters
            // that would otherwise share (or precede) our prios.
            let _ = writeln!(text, "qdisc replace dev {} clsact", opts.dev);
            let _ = writeln!(text, "filter del dev {} ingress", opts.dev);
        }
        BatchWriter {
            target,
            dev: opts.dev.clone(),
            text,
            filters: 0,
            notes: Vec::new(),
            rules: vec![RuleFilters::default(); set.len()],
            refusals: Vec::new(),
            next_prio: 1,
        }
    }

    /// A fresh prio for rule `index`; an error once the 16 bits are used up.
    pub(crate) fn prio_for(&mut self, index: usize) -> Result<u32, Error> {
        if self.next_prio > MAX_PRIO {
            return Err(Error::OutOfPrios { target: self.target, rules: self.rules.len(), first_prio: 1 });
        }
        let prio = self.next_prio;
        self.next_prio += 1;
        self.rules[index].prios.push(prio);
        Ok(prio)
    }

    /// One `filter add` line.
    pub(crate) fn filter(&mut self, line: &str) {
        self.filters += 1;
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// A `#` comment line.
    pub(crate) fn comment(&mut self, line: &str) {
        let _ = writeln!(self.text, "# {line}");
    }

    /// Rule `index` cannot be expressed: the batch will be refused, with every such rule.
    pub(crate) fn refuse(&mut self, index: usize, rule: &Rule, reason: impl fmt::Display) {
        self.refusals.push(Refusal { rule_index: index, line: rule.line, reason: reason.to_string() });
    }

    /// A limit of the batch, or how it spells something, said once.
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The batch, or every refusal.
    pub(crate) fn finish(self) -> Result<TcBatch, Error> {
        if !self.refusals.is_empty() {
            return Err(Error::Refused { target: self.target, refusals: self.refusals });
        }
        let matches: usize = self.rules.iter().map(|r| r.matches).sum();
        let emitted = self.rules.iter().filter(|r| !r.prios.is_empty()).count();
        let expansion_factor = if emitted == 0 { 1.0 } else { matches as f64 / emitted as f64 };
        Ok(TcBatch {
            target: self.target,
            dev: self.dev,
            text: self.text,
            filters: self.filters,
            matches,
            expansion_factor,
            notes: self.notes,
            rules: self.rules,
        })
    }
}

/// The L3 variants one rule needs: tc filters are per protocol, the rule may not be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L3 {
    /// `protocol ip`.
    V4,
    /// `protocol ipv6`.
    V6,
    /// No L3 key: any frame (`protocol all`).
    Any,
}

/// How a rule splits into filters: its L3 variants and its `ip_proto` variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// One filter (or prio) per variant.
    pub(crate) l3: Vec<L3>,
    /// `None`: no protocol test.
    pub(crate) protos: Vec<Option<u8>>,
    /// The rule tests ports or TCP flags (needs the L4 header, not in a later fragment).
    pub(crate) l4: bool,
}

/// Why a rule can never match (it is then left out of the batch, with a comment saying so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NeverMatches {
    /// `protocol ip` with an IPv6 prefix, or the like.
    FamiliesContradict,
    /// `tcp_flags` under another protocol.
    TcpFlagsWithProto(u8),
    /// Ports under a protocol without ports.
    PortsWithProto(u8),
}

impl fmt::Display for NeverMatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NeverMatches::FamiliesContradict => f.write_str("its protocol and address families contradict each other"),
            NeverMatches::TcpFlagsWithProto(p) => write!(f, "tcp_flags with ip_proto {p}"),
            NeverMatches::PortsWithProto(p) => write!(f, "ports with ip_proto {p}"),
        }
    }
}

/// PPPoE session (RFC 2516 §5).
const ETHERTYPE_PPPOE: u16 = 0x8864;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;
/// The protocols whose ports the rules' `src_port`/`dst_port` see ([`rules::PacketKey::has_ports`]).
const PORT_PROTOS: [u8; 3] = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP];

/// Splits a rule into the variants tc needs. `Err` says why the rule can never match (it is
/// then left out of the batch, not refused).
pub(crate) fn shape(rule: &Rule) -> Result<Shape, NeverMatches> {
    let k = &rule.keys;
    let l4 = k.src_port.is_some() || k.dst_port.is_some() || k.tcp_flags.is_some();
    let needs_l3 = l4
        || k.ip_proto.is_some()
        || k.src_ip.is_some()
        || k.dst_ip.is_some()
        || k.ip_tos.is_some()
        || k.ip_ttl.is_some()
        || k.ip_flags.is_some();
    let mut l3 = match (rule.protocol, needs_l3) {
        (Protocol::Ipv4, _) => vec![L3::V4],
        (Protocol::Ipv6, _) => vec![L3::V6],
        (Protocol::All | Protocol::Vlan, true) => vec![L3::V4, L3::V6],
        (Protocol::All | Protocol::Vlan, false) => vec![L3::Any],
        // A PPPoE session's IP, by `ppp_proto` (the parser asks for it with IP keys).
        (Protocol::Ether(ETHERTYPE_PPPOE), true) => match k.ppp_proto {
            Some(0x0021) => vec![L3::V4],
            Some(0x0057) => vec![L3::V6],
            _ => vec![L3::V4, L3::V6],
        },
        // ARP, MPLS...: no IP header (the parser refuses IP keys under them).
        (Protocol::Ether(_), _) => vec![L3::Any],
    };
    for prefix in [k.src_ip, k.dst_ip].into_iter().flatten() {
        let want = if prefix.family == Family::V6 { L3::V6 } else { L3::V4 };
        l3.retain(|&v| v == want);
    }
    if l3.is_empty() {
        return Err(NeverMatches::FamiliesContradict);
    }
    let protos = match (k.ip_proto, k.tcp_flags.is_some(), k.src_port.is_some() || k.dst_port.is_some()) {
        (Some(p), true, _) if p != IPPROTO_TCP => return Err(NeverMatches::TcpFlagsWithProto(p)),
        (Some(p), false, true) if !PORT_PROTOS.contains(&p) => return Err(NeverMatches::PortsWithProto(p)),
        (Some(p), _, _) => vec![Some(p)],
        (None, true, _) => vec![Some(IPPROTO_TCP)],
        (None, false, true) => PORT_PROTOS.iter().map(|&p| Some(p)).collect(),
        (None, false, false) => vec![None],
    };
    Ok(Shape { l3, protos, l4 })
}

/// A port test as value/mask pairs: a range becomes the fewest aligned blocks covering it.
pub(crate) fn port_prefixes(port: PortMatch) -> Vec<Masked<u16>> {
    match port {
        PortMatch::Masked(m) => vec![m],
        PortMatch::Range { lo, hi } => range_prefixes(lo, hi),
    }
}

/// The fewest value/mask blocks covering `lo..=hi` (empty when `lo > hi`).
pub(crate) fn range_prefixes(lo: u16, hi: u16) -> Vec<Masked<u16>> {
    let mut blocks = Vec::new();
    let (mut start, end) = (u32::from(lo), u32::from(hi));
    while start <= end {
        // The largest power-of-two block aligned at `start` that does not pass `end`.
        let mut size: u32 = if start == 0 { 1 << 16 } else { 1 << start.trailing_zeros() };
        while start + size - 1 > end {
            size >>= 1;
        }
        let mask = !((size - 1) as u16);
        blocks.push(Masked::<u16>::new(start as u16, mask));
        start += size;
    }
    blocks
}

/// An action as tc words, and whether its statistics count the rule's hits.
pub(crate) struct ActionWords {
    /// `action drop`, `action mirred egress redirect dev X`, `classid 1:1`...
    pub(crate) words: String,
    /// The action's statistics count the rule's hits.
    pub(crate) counted: bool,
}

/// Why an action cannot be spelled for a tc target on this kernel (the rule is refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unspellable {
    /// A redirect (`fwd`, `mirred`, a drop device) without act_mirred.
    NoMirred,
    /// `drop` without act_gact, act_police or a drop device.
    NoDrop,
    /// `fwd N` past the ports given.
    NoSuchPort { port: u16, given: usize },
    /// `reflect` (a MAC swap).
    Reflect(Target),
    /// `encap` or `decap`, the dataplane's rewrites.
    Rewrite { action: &'static str, target: Target },
    /// `ttl-dec`.
    TtlDec(Target),
    /// tc's `vlan` action.
    Vlan(rules::VlanAction),
    /// tc's `mpls` action.
    Mpls(rules::MplsAction),
    /// tc's `tunnel_key` action.
    TunnelKey(rules::TunnelKey),
    /// tc's `pedit` or `csum` action (the word).
    Pedit(&'static str),
    /// tc's `gate` action.
    Gate,
    /// A chain other than 0, an action list, `mirror`, `continue`, `goto` or `police`: what
    /// only the dataplane's chain interpreter carries out (the reason says which).
    DataplaneOnly(String),
}

impl fmt::Display for Unspellable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unspellable::NoMirred => f.write_str("the kernel has no act_mirred"),
            Unspellable::NoDrop => f.write_str(
                "drop: the kernel has no act_gact (nor act_police); give a drop device \
                 (a veth whose peer is down) to drop by mirred redirect",
            ),
            Unspellable::NoSuchPort { port, given } => {
                write!(f, "fwd {port}: only {given} port(s) given (EmitOptions::ports)")
            }
            Unspellable::Reflect(target) => {
                write!(f, "reflect swaps the MACs, which {target} cannot (it needs act_pedit)")
            }
            Unspellable::Rewrite { action, target } => {
                write!(f, "{action} is a dataplane rewrite; {target} has no equivalent here")
            }
            Unspellable::TtlDec(target) => {
                write!(f, "ttl-dec needs act_pedit and act_csum; {target} cannot do it here")
            }
            Unspellable::Vlan(vlan) => write!(
                f,
                "`{vlan}` needs tc's act_vlan, which these emitters do not write yet; the dataplane carries it out"
            ),
            Unspellable::Mpls(mpls) => write!(
                f,
                "`{mpls}` needs tc's act_mpls, which this kernel does not have \
                 (CONFIG_NET_ACT_MPLS is not set); the dataplane carries it out"
            ),
            // This kernel is built without CONFIG_NET_ACT_TUNNEL_KEY (and the frame would need
            // a vxlan/geneve device to redirect to as well).
            Unspellable::TunnelKey(tunnel) => write!(
                f,
                "`{tunnel}` needs tc's act_tunnel_key, which this kernel does not have \
                 (CONFIG_NET_ACT_TUNNEL_KEY is not set); the dataplane carries it out"

            ),
            Unspellable::Gate => f.write_str(
                "`gate` needs tc's act_gate, which this kernel lacks (no CONFIG_NET_ACT_GATE); the dataplane carries it out",
            ),
            Unspellable::Pedit(word) => write!(
                f,
                "`{word}` needs tc's act_{word}, which this kernel lacks (no CONFIG_NET_ACT_{}); the dataplane carries it out",
                word.to_ascii_uppercase()
            ),
            Unspellable::DataplaneOnly(why) => f.write_str(why),
        }
    }
}

/// Spells `rule`'s action for this kernel; `Err` says why it cannot be.
pub(crate) fn action_words(rule: &Rule, opts: &EmitOptions, target: Target) -> Result<ActionWords, Unspellable> {
    let action = rule.single_action().ok_or_else(|| Unspellable::DataplaneOnly(rule.not_single_reason()))?;
    let caps = &opts.caps;
    let mirred = |dev: &str| {
        if !caps.act_mirred {
            return Err(Unspellable::NoMirred);
        }
        Ok(ActionWords { words: format!("action mirred egress redirect dev {dev}"), counted: true })
    };
    match action {
        Action::Drop => {
            if let Some(dev) = &opts.drop_dev {
                mirred(dev)
            } else if caps.act_gact {
                Ok(ActionWords { words: "action drop".into(), counted: true })
            } else if caps.act_police {
                // Both verdicts drop: a policer used as a counting drop.
                Ok(ActionWords {
                    words: "action police rate 1mbit burst 10k conform-exceed drop/drop".into(),
                    counted: true,
                })
            } else {
                Err(Unspellable::NoDrop)
            }
        }
        Action::Pass => {
            if caps.act_gact {
                Ok(ActionWords { words: "action pass".into(), counted: true })
            } else {
                // A classid makes the match terminal; with no action the verdict is TC_ACT_OK.
                Ok(ActionWords { words: "classid 1:1".into(), counted: false })
            }
        }
        Action::Fwd(port) => match opts.ports.get(usize::from(*port)) {
            Some(dev) => mirred(dev),
            None => Err(Unspellable::NoSuchPort { port: *port, given: opts.ports.len() }),
        },
        Action::Redirect(dev) => mirred(dev),
        Action::Reflect => Err(Unspellable::Reflect(target)),
        Action::Encap(_) => Err(Unspellable::Rewrite { action: "encap", target }),
        Action::Decap => Err(Unspellable::Rewrite { action: "decap", target }),
        Action::TtlDec => Err(Unspellable::TtlDec(target)),
        Action::Vlan(vlan) => Err(Unspellable::Vlan(*vlan)),
        Action::Mpls(mpls) => Err(Unspellable::Mpls(*mpls)),
        Action::TunnelKey(tunnel) => Err(Unspellable::TunnelKey(*tunnel)),
        Action::Pedit(_) => Err(Unspellable::Pedit("pedit")),
        Action::Csum(_) => Err(Unspellable::Pedit("csum")),
        Action::Gate(_) => Err(Unspellable::Gate),
        Action::Mirror(_)
        | Action::Blockcast { .. }
        | Action::Continue
        | Action::Goto(_)
        | Action::Jump(_)
        | Action::Police(_) => Err(Unspellable::DataplaneOnly(rule.not_single_reason())),
    }
}

/// Refuses the rules outside ingress chain 0, which matching in [`RuleSet::order`] never
/// reaches (the other chains and the egress rules).
pub(crate) fn refuse_other_chains(w: &mut BatchWriter, set: &RuleSet) {
    for (index, rule) in set.rules.iter().enumerate().filter(|(_, rule)| rule.chain != 0 || rule.is_egress()) {
        w.refuse(index, rule, rule.not_single_reason());
    }
}

/// The notes every batch carries about how actions were spelled.
pub(crate) fn action_notes(w: &mut BatchWriter, set: &RuleSet, opts: &EmitOptions) {
    let has = |f: fn(&Action) -> bool| set.rules.iter().any(|r| r.single_action().is_some_and(f));
    if has(|a| matches!(a, Action::Drop)) {
        if let Some(dev) = &opts.drop_dev {
            w.note(format!("drop is a mirred redirect to {dev} (a dead end)"));
        } else if !opts.caps.act_gact && opts.caps.act_police {
            w.note("drop is a policer dropping both verdicts (the kernel has no act_gact)");
        }
    }
    if has(|a| matches!(a, Action::Pass)) && !opts.caps.act_gact {
        w.note(
            "pass is a terminal match with a classid and no action (the kernel has no act_gact): \
             those rules have no hit counter",
        );
    }
}

/// Whether a rule tests any key in `enc_*`.
pub(crate) fn has_enc_keys(k: &Keys) -> bool {
    k.enc_key_id.is_some()
        || k.enc_src_ip.is_some()
        || k.enc_dst_ip.is_some()
        || k.enc_dst_port.is_some()
        || k.enc_tos.is_some()
        || k.enc_ttl.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_prefixes_cover_exactly() {
        for (lo, hi) in [(0, 65535), (80, 80), (1024, 65535), (1, 65534), (1000, 1999), (0, 0), (65535, 65535)] {
            let blocks = range_prefixes(lo, hi);
            for port in 0..=u16::MAX {
                let inside = lo <= port && port <= hi;
                let hits = blocks.iter().filter(|b| b.matches(port)).count();
                assert_eq!(hits, usize::from(inside), "port {port} in {lo}-{hi}: {blocks:?}");
            }
        }
        assert_eq!(range_prefixes(0, 65535), vec![Masked::<u16>::new(0, 0)]);
        assert_eq!(range_prefixes(1024, 65535).len(), 6);
        // The worst case for 16 bits: 2 * 16 - 2 blocks.
        assert_eq!(range_prefixes(1, 65534).len(), 30);
        assert!(range_prefixes(5, 4).is_empty());
    }
}
