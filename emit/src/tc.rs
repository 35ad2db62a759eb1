//! The tc side shared by the u32 and flower emitters: the batch they produce ([`TcBatch`]),
//! what the running kernel can do ([`KernelCaps`]), applying a batch and reading its per-rule
//! counters back ([`Tc`]).
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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{EmitError, EmitOptions, Target};
use rules::{Action, Family, Keys, Masked, PortMatch, Protocol, Rule, RuleSet};

/// A `tc -b` batch for one device's clsact ingress, and how its filters map back to rules.
#[derive(Clone, Debug, PartialEq)]
pub struct TcBatch {
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

/// Writes `set` as a `tc -b` batch for `target` (`tc-u32` or `tc-flower`). Rules it cannot
/// express faithfully are all reported in [`EmitError::Refused`].
///
/// The batch is written whatever the running kernel is; whether it can be applied here is
/// [`KernelCaps::can_apply`].
pub fn compile_tc(set: &RuleSet, target: Target, opts: &EmitOptions) -> Result<TcBatch, EmitError> {
    match target {
        Target::TcU32 => super::u32::compile(set, opts),
        Target::TcFlower => super::flower::compile(set, opts),
        other => Err(EmitError::Unsupported(format!("{other} is a BPF program, not a tc batch"))),
    }
}

/// Highest tc filter prio (16 bits; 0 means "pick one").
pub(crate) const MAX_PRIO: u32 = 0xffff;

/// Collects the batch as the emitters write it.
pub(crate) struct BatchWriter {
    pub target: Target,
    pub dev: String,
    pub text: String,
    pub filters: usize,
    pub notes: Vec<String>,
    pub rules: Vec<RuleFilters>,
    pub refusals: Vec<super::Refusal>,
    next_prio: u32,
}

impl BatchWriter {
    pub fn new(target: Target, set: &RuleSet, opts: &EmitOptions) -> BatchWriter {
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

    /// A fresh prio for rule `index`; `None` once the 16 bits are used up.
    pub fn prio_for(&mut self, index: usize) -> Option<u32> {
        if self.next_prio > MAX_PRIO {
            return None;
        }
        let prio = self.next_prio;
        self.next_prio += 1;
        self.rules[index].prios.push(prio);
        Some(prio)
    }

    pub fn filter(&mut self, line: &str) {
        self.filters += 1;
        self.text.push_str(line);
        self.text.push('\n');
    }

    pub fn comment(&mut self, line: &str) {
        let _ = writeln!(self.text, "# {line}");
    }

    pub fn refuse(&mut self, index: usize, rule: &Rule, reason: impl Into<String>) {
        self.refusals.push(super::Refusal { rule_index: index, line: rule.line, reason: reason.into() });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub fn finish(self) -> Result<TcBatch, EmitError> {
        if !self.refusals.is_empty() {
            return Err(EmitError::Refused(self.refusals));
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
    V4,
    V6,
    /// No L3 key: any frame (`protocol all`).
    Any,
}

/// How a rule splits into filters: its L3 variants and its `ip_proto` variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub l3: Vec<L3>,
    /// `None`: no protocol test.
    pub protos: Vec<Option<u8>>,
    /// The rule tests ports or TCP flags (needs the L4 header, not in a later fragment).
    pub l4: bool,
}

pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;
pub(crate) const IPPROTO_SCTP: u8 = 132;
/// The protocols whose ports the rules' `src_port`/`dst_port` see ([`rules::PacketKey::has_ports`]).
pub(crate) const PORT_PROTOS: [u8; 3] = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP];

/// Splits a rule into the variants tc needs. `Err` says why the rule can never match (it is
/// then left out of the batch, not refused).
pub(crate) fn shape(rule: &Rule) -> Result<Shape, String> {
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
    };
    for prefix in [k.src_ip, k.dst_ip].into_iter().flatten() {
        let want = if prefix.family == Family::V6 { L3::V6 } else { L3::V4 };
        l3.retain(|&v| v == want);
    }
    if l3.is_empty() {
        return Err("its protocol and address families contradict each other".into());
    }
    let protos = match (k.ip_proto, k.tcp_flags.is_some(), k.src_port.is_some() || k.dst_port.is_some()) {
        (Some(p), true, _) if p != IPPROTO_TCP => return Err(format!("tcp_flags with ip_proto {p}")),
        (Some(p), false, true) if !PORT_PROTOS.contains(&p) => return Err(format!("ports with ip_proto {p}")),
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
    pub words: String,
    pub counted: bool,
}

/// Spells `action` for this kernel; `Err` says why it cannot be.
pub(crate) fn action_words(action: &Action, opts: &EmitOptions, target: Target) -> Result<ActionWords, String> {
    let caps = &opts.caps;
    let mirred = |dev: &str| -> Result<ActionWords, String> {
        if !caps.act_mirred {
            return Err("the kernel has no act_mirred".into());
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
                Err("drop: the kernel has no act_gact (nor act_police); give a drop device \
                     (a veth whose peer is down) to drop by mirred redirect"
                    .into())
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
            None => Err(format!("fwd {port}: only {} port(s) given (EmitOptions::ports)", opts.ports.len())),
        },
        Action::Redirect(dev) => mirred(dev),
        Action::Reflect => Err(format!("reflect swaps the MACs, which {target} cannot (it needs act_pedit)")),
        Action::Encap(_) => Err(format!("encap is a dataplane rewrite; {target} has no equivalent here")),
        Action::Decap => Err(format!("decap is a dataplane rewrite; {target} has no equivalent here")),
        Action::TtlDec => Err(format!("ttl-dec needs act_pedit and act_csum; {target} cannot do it here")),
    }
}

/// The notes every batch carries about how actions were spelled.
pub(crate) fn action_notes(w: &mut BatchWriter, set: &RuleSet, opts: &EmitOptions) {
    let has = |f: fn(&Action) -> bool| set.rules.iter().any(|r| f(&r.action));
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
    k.enc_key_id.is_some() || k.enc_src_ip.is_some() || k.enc_dst_ip.is_some() || k.enc_dst_port.is_some()
}

/// What the kernel that runs a batch can do. Probed by trying (see [`KernelCaps::running`]):
/// module autoloading and built-in code look the same that way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelCaps {
    pub clsact: bool,
    pub cls_u32: bool,
    pub cls_flower: bool,
    pub cls_bpf: bool,
    /// `action drop` / `pass` / `ok`.
    pub act_gact: bool,
    pub act_mirred: bool,
    pub act_police: bool,
    pub act_pedit: bool,
    /// CONFIG_CLS_U32_PERF: u32 keeps per-knode hit counters.
    pub u32_perf: bool,
}

impl KernelCaps {
    /// A kernel with everything (for writing batches meant for another machine, and tests).
    pub const fn everything() -> KernelCaps {
        KernelCaps {
            clsact: true,
            cls_u32: true,
            cls_flower: true,
            cls_bpf: true,
            act_gact: true,
            act_mirred: true,
            act_police: true,
            act_pedit: true,
            u32_perf: true,
        }
    }

    /// The running kernel, probed once per process: clsact, classifiers and actions are tried
    /// on `lo` of a network namespace that exists only for the probe (`unshare --net`), so no
    /// device of this machine is touched. Needs root (CAP_SYS_ADMIN) and `unshare`, `tc`.
    pub fn running() -> Result<KernelCaps, String> {
        static CAPS: OnceLock<Result<KernelCaps, String>> = OnceLock::new();
        CAPS.get_or_init(probe).clone()
    }

    /// Whether a batch (or program) for `target` can be applied on this kernel; the error is
    /// a sentence for the user (the CLI prints it, the lab skips the target with it).
    pub fn can_apply(&self, target: Target) -> Result<(), String> {
        let (ok, what) = match target {
            Target::TcU32 => (self.clsact && self.cls_u32, "tc u32 (cls_u32) on clsact"),
            Target::TcFlower => (self.clsact && self.cls_flower, "tc flower (cls_flower)"),
            Target::TcBpf | Target::TcBpfPerRule => (self.clsact && self.cls_bpf, "tc bpf (cls_bpf) on clsact"),
            Target::Xdp => (true, "XDP"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("this kernel has no {what}: the {target} batch cannot be applied here"))
        }
    }

    /// What is missing, for reports ("no cls_flower, no act_gact, ...").
    pub fn missing(&self) -> Vec<&'static str> {
        let all = [
            (self.clsact, "sch_clsact"),
            (self.cls_u32, "cls_u32"),
            (self.cls_flower, "cls_flower"),
            (self.cls_bpf, "cls_bpf"),
            (self.act_gact, "act_gact"),
            (self.act_mirred, "act_mirred"),
            (self.act_police, "act_police"),
            (self.act_pedit, "act_pedit"),
            (self.u32_perf, "u32 hit counters (CONFIG_CLS_U32_PERF)"),
        ];
        all.into_iter().filter(|(has, _)| !has).map(|(_, name)| name).collect()
    }
}

/// Each probe prints `name=STATUS`; 0 is success. `lo` is down: nothing is ever classified.
const PROBE_SCRIPT: &str = r#"
t() { name=$1; shift; tc "$@" >/dev/null 2>&1; echo "$name=$?"; }
t clsact qdisc add dev lo clsact
t cls_u32 filter add dev lo ingress prio 1 protocol ip u32 match u32 0 0 classid 1:1
t act_mirred filter add dev lo ingress prio 2 protocol ip u32 match u32 0 0 action mirred egress redirect dev lo
t act_gact filter add dev lo ingress prio 3 protocol ip u32 match u32 0 0 action drop
t act_police filter add dev lo ingress prio 4 protocol ip u32 match u32 0 0 action police rate 1mbit burst 10k conform-exceed drop/drop
t act_pedit filter add dev lo ingress prio 5 protocol ip u32 match u32 0 0 action pedit ex munge ip ttl add 255
t cls_flower filter add dev lo ingress prio 6 protocol ip flower ip_proto udp classid 1:1
t cls_bpf filter add dev lo ingress prio 7 protocol all bpf bytecode "1,6 0 0 4294967295," classid 1:1
tc -s filter show dev lo ingress prio 1 2>/dev/null | grep -q "rule hit"; echo "u32_perf=$?"
"#;

fn probe() -> Result<KernelCaps, String> {
    let output = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", PROBE_SCRIPT])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot probe the kernel's tc support: running `unshare`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cannot probe the kernel's tc support (needs root): unshare --net: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    parse_probe(&String::from_utf8_lossy(&output.stdout))
}

fn parse_probe(out: &str) -> Result<KernelCaps, String> {
    let results: BTreeMap<&str, bool> = out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(name, status)| (name.trim(), status.trim() == "0"))
        .collect();
    let get = |name: &str| results.get(name).copied().ok_or_else(|| format!("kernel probe: no answer for {name}"));
    Ok(KernelCaps {
        clsact: get("clsact")?,
        cls_u32: get("cls_u32")?,
        cls_flower: get("cls_flower")?,
        cls_bpf: get("cls_bpf")?,
        act_gact: get("act_gact")?,
        act_mirred: get("act_mirred")?,
        act_police: get("act_police")?,
        act_pedit: get("act_pedit")?,
        u32_perf: get("u32_perf")?,
    })
}

/// Runs `tc` here or in a named network namespace (`ip netns exec`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tc {
    netns: Option<String>,
}

impl Tc {
    /// The current network namespace.
    pub fn here() -> Tc {
        Tc { netns: None }
    }

    /// A namespace made with `ip netns add NAME`.
    pub fn in_netns(name: &str) -> Tc {
        Tc { netns: Some(name.to_string()) }
    }

    fn command(&self) -> Command {
        match &self.netns {
            None => Command::new("tc"),
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, "tc"]);
                cmd
            }
        }
    }

    /// Applies a batch with `tc -b -`; stops at the first failing line, and the error quotes
    /// tc's message (which names the line as `-:N`).
    pub fn apply(&self, text: &str) -> Result<(), String> {
        let mut child = self
            .command()
            .args(["-b", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run tc: {e}"))?;
        let written = child.stdin.take().map(|mut stdin| stdin.write_all(text.as_bytes()));
        let output = child.wait_with_output().map_err(|e| format!("tc -b: {e}"))?;
        if let Some(Err(e)) = written {
            return Err(format!("tc -b: writing the batch: {e}"));
        }
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("tc -b failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
        }
    }

    /// Packets counted by the first action of each ingress filter on `dev`, summed per prio.
    ///
    /// Reads `tc -s filter show` as text: iproute2 6.1 prints invalid JSON (`-j`) for a u32
    /// knode with a `link ... offset`, and the text form is the same for u32 and flower.
    pub fn filter_packets(&self, dev: &str) -> Result<BTreeMap<u32, u64>, String> {
        let output = self
            .command()
            .args(["-s", "filter", "show", "dev", dev, "ingress"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run tc: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "tc -s filter show dev {dev} ingress: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(parse_filter_stats(&String::from_utf8_lossy(&output.stdout)))
    }

    /// Hits per rule (file order) of a batch applied on its device: `None` for a rule whose
    /// filters carry no counting action (see [`RuleFilters::counted`]); `Some(0)` for a rule
    /// that can never match and was left out.
    pub fn rule_hits(&self, batch: &TcBatch) -> Result<Vec<Option<u64>>, String> {
        let per_prio = self.filter_packets(&batch.dev)?;
        Ok(batch
            .rules
            .iter()
            .map(|r| r.counted.then(|| r.prios.iter().map(|p| per_prio.get(p).copied().unwrap_or(0)).sum()))
            .collect())
    }
}

/// [`Tc::apply`] in the current network namespace.
pub fn apply_batch(text: &str) -> Result<(), String> {
    Tc::here().apply(text)
}

/// [`Tc::rule_hits`] in the current network namespace.
pub fn read_counters(batch: &TcBatch) -> Result<Vec<Option<u64>>, String> {
    Tc::here().rule_hits(batch)
}

/// `filter protocol ip pref 2 u32 ...` sets the prio; the `Sent B bytes P pkt` line after
/// `action order 1:` is that filter's count.
fn parse_filter_stats(text: &str) -> BTreeMap<u32, u64> {
    let mut per_prio = BTreeMap::new();
    let mut prio = None;
    let mut in_first_action = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("filter ") {
            let mut words = line.split_whitespace();
            prio = words.by_ref().find(|w| *w == "pref").and_then(|_| words.next()).and_then(|p| p.parse::<u32>().ok());
            in_first_action = false;
        } else if line.starts_with("action order ") {
            in_first_action = line.starts_with("action order 1:");
        } else if in_first_action && line.starts_with("Sent ") {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let (Some(p), Some(packets)) = (prio, words.get(3).and_then(|n| n.parse::<u64>().ok())) {
                *per_prio.entry(p).or_insert(0) += packets;
            }
            in_first_action = false;
        }
    }
    per_prio
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

    #[test]
    fn stats_text_is_summed_per_prio() {
        let text = "filter protocol ip pref 2 u32 chain 0 \n\
filter protocol ip pref 2 u32 chain 0 fh 1::800 order 2048 key ht 1 bkt 0 terminal flowid not_in_hw \n\
  match 00000050/0000ffff at 0\n\
\taction order 1: mirred (Egress Redirect to device dd0) stolen\n\
\tindex 1 ref 1 bind 1 installed 0 sec used 0 sec\n\
\tAction statistics:\n\
\tSent 84 bytes 2 pkt (dropped 0, overlimits 2 requeues 0) \n\
\tbacklog 0b 0p requeues 0\n\
filter protocol ip pref 2 u32 chain 0 fh 1::801 order 2049 key ht 1 bkt 0 terminal flowid not_in_hw \n\
\taction order 1: mirred (Egress Redirect to device dd0) stolen\n\
\tSent 42 bytes 1 pkt (dropped 0, overlimits 2 requeues 0) \n\
\taction order 2: mirred (Egress Redirect to device dd0) stolen\n\
\tSent 42 bytes 7 pkt (dropped 0, overlimits 2 requeues 0) \n\
filter protocol all pref 3 u32 chain 0 fh 802::800 order 2048 key ht 802 bkt 0 *flowid 1:1 not_in_hw\n";
        let stats = parse_filter_stats(text);
        assert_eq!(stats.get(&2), Some(&3));
        assert_eq!(stats.get(&3), None);
    }

    #[test]
    fn probe_output_is_parsed() {
        let out = "clsact=0\ncls_u32=0\nact_mirred=0\nact_gact=2\nact_police=2\nact_pedit=2\ncls_flower=2\ncls_bpf=0\nu32_perf=1\n";
        let caps = parse_probe(out).unwrap();
        assert!(
            caps.cls_u32 && caps.act_mirred && caps.cls_bpf && !caps.act_gact && !caps.cls_flower && !caps.u32_perf
        );
        assert!(caps.can_apply(Target::TcU32).is_ok());
        let err = caps.can_apply(Target::TcFlower).unwrap_err();
        assert!(err.contains("no tc flower (cls_flower)"), "{err}");
        assert!(parse_probe("clsact=0\n").is_err());
    }
}
