//! The rule language: reading rule files into a [`RuleSet`], and writing a [`Rule`] back as a
//! line ([`Rule`]'s `Display`).
//!
//! # The native format
//!
//! tc flower's keys and syntax, one rule per line:
//!
//! ```text
//! line     := [tc-prefix] item* "action" actions [# comment]
//! item     := "prio" N | "chain" N | "protocol" PROTO | "egress" | "dev" NAME | KEY VALUE | tc-word
//! PROTO    := ip | ipv6 | 802.1q | 802.1ad | all | arp | rarp | mpls_uc | mpls_mc | ... | 0xNNNN
//! actions  := action [CONTROL] ( ["action"] action [CONTROL] )*
//! action   := drop | pass | continue | goto chain N | fwd PORT | reflect | encap SPEC | decap
//!           | ttl-dec | mirred egress redirect|mirror dev NAME | police POLICE | gact CONTROL
//!           | vlan pop | vlan push|modify [protocol 802.1q|802.1ad] [priority 0..=7] id 0..=4094
//!           | mpls pop protocol PROTO | mpls dec_ttl
//!           | mpls push [protocol mpls_uc|mpls_mc] label 0..=1048575 [tc 0..=7] [ttl 1..=255] [bos 0|1]
//!           | mpls modify [label 0..=1048575] [tc 0..=7] [ttl 1..=255] [bos 0|1]
//!           | tunnel_key unset | tunnel_key set src_ip IP dst_ip IP [id 0..=16777215]
//!             [dst_port 0..=65535] [tos 0..=255] [ttl 0..=255] [csum|nocsum] [nofrag]
//!           | pedit [ex] MUNGE+ | csum [iph|ip4h|ipv4h|icmp|igmp|tcp|udp|sctp|and|or|+]*
//!           | gate [index N] [clockid CLOCK_TAI|CLOCK_REALTIME|CLOCK_BOOTTIME|CLOCK_MONOTONIC]
//!             [base-time T] [cycle-time T] [cycle-time-ext T] [priority N] [flags N] ENTRY+
//! ENTRY    := sched-entry open|close INTERVAL [IPV [MAXOCTETS]]
//! MUNGE    := munge HEADER FIELD (set|add VALUE | decrement | clear | invert | preserve) [retain MASK]
//!   HEADER FIELD := eth src|dst | ip src|dst|tos|dsfield|precedence|ttl | ip sport|dport (without ex)
//!                 | ip6 src|dst|hoplimit | tcp sport|dport|flags | udp sport|dport    (eth, ip6, tcp, udp: ex)
//! CONTROL  := pipe | continue | pass | ok | drop | shot | goto chain N | jump N
//! ```
//!
//! After each action, tc's action attributes (`cookie HEX`, `hw_stats immediate|delayed|
//! disabled`, `no_percpu`, the action's own `skip_hw`) are read as m_action.c reads them and
//! not kept: none changes what the action does to a frame (an action's `skip_sw`, hardware
//! only, is refused as a rule's is).
//!
//! | key            | value                                                      |
//! |----------------|------------------------------------------------------------|
//! | `src_mac`, `dst_mac` | `aa:bb:cc:dd:ee:ff`, `MAC/MASK-MAC` or `MAC/LEN` (0..=48) |
//! | `vlan_id`      | 0..=4095, decimal                                          |
//! | `vlan_prio`    | 0..=7, decimal                                             |
//! | `ip_proto`     | `tcp`, `udp`, `sctp`, `icmp`, `icmpv6`, `l2tp`, `esp`, `ah` or 0..=0xff in **hex** (`17` is 0x17) |
//! | `src_ip`, `dst_ip`, `enc_src_ip`, `enc_dst_ip` | IPv4 or IPv6 address, optional `/LEN` (IPv4 also `/255.255.255.0`) |
//! | `src_port`, `dst_port` | `80` or `1024-65535` (decimal, inclusive range); `0x50/0xfff0` (value/mask, this language's own) |
//! | `ip_tos`, `ip_ttl` | `N` or `N/MASK` (8 bits; N decimal, else hex; MASK **hex**) |
//! | `tcp_flags`    | `N` or `N/MASK` (12 bits, both **hex**: `10` is ACK, FIN = 1) |
//! | `ip_flags`     | `frag`, `nofrag`, `firstfrag`, `nofirstfrag`, two joined by `/` (`frag/nofirstfrag`) |
//! | `enc_key_id`   | 0..=4294967295, decimal (VXLAN/Geneve VNI, GRE key)        |
//! | `enc_dst_port` | 0..=65535, decimal (outer UDP destination port)            |
//! | `enc_tos`, `enc_ttl` | as `ip_tos`, `ip_ttl`, of the outer IP header         |
//! | `indev`        | an interface name: the frame arrived on the port that is it (resolved when the dataplane loads the rules) |
//! | `num_of_vlans` | 0..=255, decimal: how many VLAN tags the Ethernet header has |
//! | `vlan_ethtype` | an ethertype (as `protocol`): 802.1q/802.1ad announce a second tag, any other is the ethertype after the tags; needs `protocol 802.1q|802.1ad` or `num_of_vlans` |
//! | `cvlan_id`, `cvlan_prio`, `cvlan_ethtype` | the second (customer) tag, as `vlan_*`; need `vlan_ethtype 802.1q|802.1ad` or `num_of_vlans 2` |
//! | `mpls_label`, `mpls_tc`, `mpls_bos`, `mpls_ttl` | the top label stack entry (RFC 3032 §2.1), decimal; need `protocol mpls_uc|mpls_mc` |
//! | `mpls lse depth N [label L] [tc T] [bos B] [ttl T] [lse ...]` | entries by depth (1 is the top, up to 7), decimal: the stack has an entry at depth N with the fields given; needs `protocol mpls_uc|mpls_mc`, not with the `mpls_*` keys |
//! | `cfm [mdl N] [op N]` | CFM (IEEE 802.1Q §21.4.1): the MD level 0..=7 (top 3 bits of the first byte) and opcode 0..=255, decimal; needs `protocol cfm` |
//! | `arp_sip`, `arp_tip` | IPv4 prefix; `arp_op`: `request`, `reply` or 0..=2, optional `/MASK` (decimal); `arp_sha`, `arp_tha`: as `src_mac`; need `protocol arp|rarp` |
//! | `pppoe_sid`, `ppp_proto` | a PPPoE session (RFC 2516 §5): its id 0..=65535, decimal, and the PPP protocol it carries (RFC 1661 §2: `ip`, `ipv6`, `mpls_uc`, `mpls_mc`, `lcp`, ... as lib/ppp_proto.c names them, or a number); need `protocol ppp_ses` or `vlan_ethtype ppp_ses`. After `ppp_proto ip`/`ipv6`, the IP keys match the session's IP packet (and `mpls_*` after `mpls_uc`/`mpls_mc`); a rule that does not name the session (`protocol ip`, or IP keys without a protocol) does not see into it, as tc's `protocol ip` does not |
//! | `l2tpv3_sid` | 0..=4294967295, decimal: the session id of L2TPv3 over IP (RFC 3931 §4.1.1.2, the 32 bits after the IP header); needs `ip_proto l2tp` |
//! | `type`, `code` | ICMP / ICMPv6 type and code, decimal, optional `/MASK` (decimal); need `protocol ip ip_proto icmp` or `protocol ipv6 ip_proto icmpv6` |
//!
//! Words and numbers are read as tc reads them ([`crate::tc_words`]): every word may be
//! abbreviated where tc's `matches()` allows (`proto` is `protocol`, `pref` is `prio`), each
//! number in the base iproute2 reads it in (above; `prio`, `chain`, `protocol` numbers and
//! masks of this language's own take `0x` hex, and `prio`/`chain` a leading `0` as octal).
//! `rules check --explain` prints each rule as read and warns where a number's reading
//! differs from the decimal one. Each key at most once per rule. As in flower, `src_port`
//! and `dst_port` need `ip_proto tcp|udp|sctp`, and `tcp_flags` needs `ip_proto tcp` (here
//! anywhere in the line, not necessarily before). IP addresses must agree with `protocol`
//! (`protocol ip` with an IPv6 address is an error), and `src_ip`/`dst_ip` with each other
//! (likewise `enc_src_ip`/`enc_dst_ip`): such a rule could never match.
//!
//! Actions: `drop`; `pass` (tc's `ok`: go on as `dataplane run --action` says); `fwd PORT`,
//! PORT the 0-based number of a `--port` of the dataplane; `reflect` (back out of the port it
//! came in on); `encap SPEC` where SPEC, the rest of the line, is the dataplane's rewrite
//! syntax (`encap vxlan,src=10.0.0.1,dst=10.0.0.2,vni=42`; kept as text here, checked by the
//! dataplane when it loads the rules); `decap`; `ttl-dec`.
//!
//! A rule may carry several actions, run in tc's order (tc/m_action.c): after one action the
//! next word starts another, with or without the word `action`. Between them, tc's control
//! words say what happens next: `pipe` (the default: the next action), `continue` (on to the
//! next rule of the same chain), `pass`/`ok` (stop; the frame goes on as `dataplane run
//! --action` says), `drop`/`shot`, `goto chain N` (on to chain N's rules), `jump N` (the
//! list again from tc's action N, the first N skipped, as act_api.c's `tcf_action_exec`;
//! 0, past the end or a 32nd jump pass the frame; in `conform-exceed` as `jump 1 / pipe`).
//! A verdict (`drop`, `fwd`, a redirect, ...) ends the list; the actions after it run only
//! where a jump leads (else `--explain` notes they never run).
//! `mirred egress mirror dev NAME` sends a copy and goes on; `police rate R burst B
//! [mtu M] [conform-exceed EXCEED[/CONFORM]]` (or `pkts_rate R pkts_burst B`) is a token
//! bucket per rule, shared by every worker, with tc's units (`rate 1mbit`, `burst 64k`) and
//! control words for the frames over and under the rate (tc's default for frames over it is
//! `reclassify`, which is refused here: write `conform-exceed drop` or `drop`). `vlan pop`
//! removes the outermost tag, `vlan push` puts a new one in front (802.1Q unless told,
//! priority 0 unless given), `vlan modify` sets the outermost tag's VID, its priority where
//! given and its TPID (802.1Q unless told), as the kernel's act_vlan does; pop and modify
//! leave an untagged frame as it is, and the rules after a vlan action match the frame as
//! it now is. `tunnel_key set` pushes the outer headers itself (in the kernel the vxlan or
//! geneve device the frame is redirected to does): VXLAN (RFC 7348), or Geneve (RFC 8926)
//! when `dst_port` is 6081; `id` (decimal) is the VNI, 0 unless given; `dst_port` (decimal)
//! 4789 unless given (or 0); `tos`/`ttl` (decimal, else hex) the outer IP header's, 0 and 64
//! unless given; the outer UDP checksum computed (tc's `csum`) unless `nocsum` (IPv4 only);
//! outer MACs as `encap` leaves them (02:00:00:00:00:10 to 02:00:00:00:00:20); `nofrag` is
//! what happens anyway (DF, never fragmented); the same frame as `encap vxlan,...`.
//! `tunnel_key unset` strips the outer headers as `decap` does (flower's `enc_` keys match
//! frames still encapsulated); a frame with no tunnel is dropped as `decap` drops it.
//! `geneve_opts`, `vxlan_opts` and `erspan_opts` are refused with the reason.
//! `pedit [ex] munge ...` rewrites fields of the outermost headers, as tc's
//! act_pedit finds them, with p_*.c's words and offsets: values as tc reads them (`set`/`add`
//! numbers `0x` hex, leading-0 octal, else decimal; MAC and IP addresses), `add` wrapping in
//! the field (`ttl add 0xff` is minus one), `retain MASK` limiting the bits changed; without
//! `ex` only `ip` fields and `set`, as tc. Unlike tc, which leaves checksums stale for a
//! later `csum` action, the IPv4 header checksum and the TCP, UDP or ICMPv6 checksum over
//! the changed bytes (and over the pseudo-header's addresses) are updated incrementally
//! (RFC 1624 eqn. 3); a UDP checksum of 0 stays 0 (RFC 768), a computed 0 is sent as 0xffff.
//! A frame without the header a munge names (`ip` on IPv6, `tcp` on UDP) is dropped as
//! `not_applicable`, untouched (tc would write at the offset anyway). Raw `munge offset` is
//! refused. `csum ...` is accepted as a no-op, with a warning: checksums are already right
//! after every rewrite here (it does not repair a frame that arrived with a bad one; `--csum
//! fix` does); `csum udplite` is refused. As in tc, `pedit` and `csum` without a control
//! word end the list with `pass`: write `pipe` to go on to the next action. `mpls` acts as
//! the kernel's act_mpls on the top label stack entry (RFC 3032 §2.1), after the Ethernet
//! header and its VLAN tags: `push` puts a new entry there (ethertype `mpls_uc` unless told;
//! TC 0 and TTL 255 unless given, act_mpls's default, not the IP TTL; the S bit set where
//! the frame was not MPLS before, unless `bos` says); `pop` removes the top entry and writes
//! its `protocol` as the ethertype (as act_mpls does, bottom of the stack or not: an inner
//! pop says `protocol mpls_uc`), leaving a frame that is not MPLS as it is; `modify` sets
//! the fields given; `dec_ttl` takes one off the TTL. `modify` and `dec_ttl` drop a frame
//! that is not MPLS (`not_applicable`) and `dec_ttl` one whose TTL reaches 0
//! (`mpls_ttl_expired`), as act_mpls drops them; label 3 (implicit null) and TTL 0 are
//! refused, as tc and act_mpls refuse them. No checksum covers the stack. The words and
//! numbers are m_mpls.c's (`p` is pop, `t` tc, numbers decimal, 0x hex or 0-octal), and the
//! control word is `pipe` unless given. `gate` is an IEEE 802.1Qci stream gate, as the
//! kernel's act_gate has it: from `base-time` (ns on `clockid`, CLOCK_TAI unless given; 0
//! unless given) the entries repeat every `cycle-time` (the sum of the intervals unless
//! given; a shorter one cuts the list, a longer one holds the last entry, as 802.1Q's list
//! execution does), and a frame passes to the control word (`pipe` unless given) where the
//! entry in force is `open`, and is dropped (`gate_closed`) where it is `close`. Until the
//! schedule starts the gate lets every frame through, as act_gate's pending state does: it
//! starts at `base-time`, or where that is past when the rules are loaded, at the next cycle
//! boundary (a reload starts it again, as tc's replace does). MAXOCTETS (bytes; `-1`, any
//! negative or `0b` is no limit) is what the frames met while the entry is in force may
//! add up to, counting each frame's bytes after the Ethernet header and an outer VLAN tag
//! at ingress, its whole length at egress (act_gate's `qdisc_pkt_len`); a frame that takes
//! the sum over it is dropped (`gate_overlimit`) and still counted, so the gate stays shut
//! to the end of the entry, as act_gate's running count keeps it. IPV, `priority` and
//! `flags` are kept but do nothing: only a NIC that offloads the gate reads them (act_gate's
//! own path ignores them as well), so no frame's priority or queue is set by IPV.
//! `cycle-time-ext` is kept and does nothing (there is no schedule change to extend).
//! Times are tc's (`200ms`, `1.5s`, `100us`, `ns`; a bare number is ns; an interval is read
//! as a number first, so `010` is 8 ns), sizes tc's (`8000000b`, `64k`). The actions this
//! dataplane does not carry out (`ct`, `skbedit`, `mpls mac_push`, `vlan pop_eth`, ...) are
//! refused with the word and the reason. `police ... index N` makes one policer of every `police` with index N (tc's
//! shared action): the first rule that gives it a rate (or an mtu) defines it, `police index
//! N` alone names it; a second, different definition and an index no rule defines are errors.
//! `gate ... index N` likewise: the first rule that gives it entries defines it, `gate index
//! N` alone names it (without options or a control word of its own: the kernel would
//! ignore them).
//!
//! Comments run from `#` to the end of the line; blank lines are skipped.
//!
//! ## Pasted tc lines
//!
//! A whole `tc filter add|replace|change ...` line is read as the same rule:
//! `tc filter add dev eth0 ingress prio 1 protocol ip flower ip_proto udp dst_port 4789 action drop`.
//! The tc words that do not change a rule's meaning are skipped: `tc filter add|replace|change`,
//! `dev X` (but see egress rules below), `ingress`, `root`, `parent X`, `block N` (rules here apply to every port, as a
//! shared block's to its devices), `handle X`, `classid X`, `flowid X`, `flower`, `skip_hw`,
//! `verbose`; `skip_sw` (in the NIC only: tc itself refuses it on a device that cannot offload
//! the rule, and this dataplane programs no NIC) and flower keys this dataplane does not match
//! are refused with the reason; `pref N` is `prio N`; `chain N` puts the rule
//! in chain N (chain 0 is where every frame starts; the others are reached by `goto chain
//! N`). `action gact drop|pass|ok`, `action ok` (= `pass`) and `action shot` (= `drop`) are
//! accepted; `action mirred egress redirect dev NAME` forwards out of the port whose
//! interface is NAME and `mirred egress mirror dev NAME` sends a copy there (the dataplane
//! resolves NAME when it loads the rules: a name that is none of its ports is an error then);
//! `mirred egress mirror|redirect blockid N` sends to every port of the run but the one the
//! frame arrived on (act_mirred's blockcast; rules here apply to every port, as a shared
//! block's filters to its devices, so the block is every port): a mirror copies and goes
//! on, a redirect copies to all but the last port, which gets the frame (no other port: it
//! is dropped as `no_route`); `mirred ingress` is refused with the reason.
//!
//! ## Egress rules
//!
//! `egress` makes a rule one of tc's egress filters: it classifies the frames leaving by
//! the port whose interface is `dev NAME` (written anywhere on the line, as tc's `dev`; without
//! `dev`, every port, as a shared block's filters apply to each of its devices), after the
//! ingress rules decided where they go. Egress rules have chains of their own (a `goto` of
//! an egress rule leads to egress rules), what none matches goes on (tc passes it), and
//! `dataplane run` refuses a `dev` that is none of its ports when it loads the rules. The
//! frame an egress rule sees is the frame as ingress left it (tags pushed, tunnel headers
//! added), with the port it arrived on for `indev`. A frame redirected by an egress rule
//! leaves without passing the egress rules of its new port, and mirror copies pass none
//! (the kernel runs a device's egress filters on both, up to its nesting limit). Without
//! `egress` (tc's `ingress`), `dev` changes nothing: ingress rules apply to every port.
//!
//! # Order: `prio`
//!
//! The first matching rule wins, by lowest `prio`, then file order. A rule without `prio`
//! takes the prio of the rule before it (1 for the first), so a file without any `prio` is
//! matched in file order, and `prio` on one line sets it for the lines that follow.
//!
//! # Tunnels
//!
//! On a tunnelled frame (VXLAN, Geneve, GRE, IP-in-IP) the plain keys and `protocol` match the
//! inner headers, and the `enc_` keys the outer ones, as flower does on a tunnel device after
//! decapsulation. A rule with an `enc_` key matches only tunnelled frames.
//!
//! # Errors
//!
//! Every error of the file is reported at once as `file:line:col: message` (column 1-based,
//! at the offending token); if there is any, no rule is returned, so a reload never applies
//! half a file.
//!
//! # Limits
//!
//! A rules file is read whole, so its size is limited: [`MAX_RULES_FILE_BYTES`] (64 MiB; a
//! ClassBench set of 10,000 rules is under 1 MB), [`MAX_TRACE_FILE_BYTES`] for traces
//! (512 MiB). A bigger file is one error before anything is read. A line may hold at most
//! [`MAX_LINE_BYTES`] and a word [`MAX_TOKEN_BYTES`]; a longer one is an error at that line
//! (the column where the limit is passed, or where the word starts) and the line is not
//! read further, so no step costs more than the limits allow (a 10 MB word is refused after
//! one length check, not compared with every key).
//!
//! [`MAX_TRACE_FILE_BYTES`]: crate::MAX_TRACE_FILE_BYTES
//! [`MAX_LINE_BYTES`]: crate::MAX_LINE_BYTES
//! [`MAX_TOKEN_BYTES`]: crate::MAX_TOKEN_BYTES
//!
//! # ClassBench
//!
//! [`Format::Classbench`] reads ClassBench filter sets, see [`crate::classbench`].

use std::convert::Infallible;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use crate::classbench::parse_classbench;
use crate::key::{Family, IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG, MPLS_LSE_DEPTH_MAX, PPP_ETHERTYPES};
use crate::lex::{
    check_line_length, check_token_lengths, end_col, number, number_in, prefix, read_text, strip_comment, tokenize,
    ParseError, Token, UnknownName, ValueError, MAX_RULES_FILE_BYTES,
};
use crate::rule::{
    Action, Control, Gate, GateClock, Hook, Indev, Keys, Masked, MplsAction, MplsLse, Munge, Pedit, PeditCmd, Police,
    PoliceRate, PortMatch, Prefix, Protocol, Rule, RuleSet, TunnelKey, VlanAction, CSUM_WORDS, ETHERTYPE_ARP,
    ETHERTYPE_CFM, ETHERTYPE_MPLS, ETHERTYPE_PPPOE, VLAN_TPIDS,
};
use crate::tc_words::{self, parse_in, Base, NumError};

mod actions;

/// The syntax of a rules file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// tc flower syntax (this module).
    #[default]
    Native,
    /// ClassBench filter sets (`@SRC/LEN DST/LEN ...`), see [`crate::classbench`].
    Classbench,
}

impl FromStr for Format {
    type Err = UnknownName;
    fn from_str(text: &str) -> Result<Format, UnknownName> {
        match text {
            "native" => Ok(Format::Native),
            "classbench" => Ok(Format::Classbench),
            other => Err(UnknownName { what: "rules format", found: other.into(), known: &["native", "classbench"] }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Native => "native",
            Format::Classbench => "classbench",
        })
    }
}

/// Reads a native rules file's text; `file` names it in the errors.
pub fn parse(file: &str, text: &str) -> Result<RuleSet, Vec<ParseError>> {
    parse_checked(file, text, &no_check)
}

/// A check of an action's arguments that only the user of the rules can make (the dataplane
/// knows its `encap` syntax); its error (the caller's type, shown with `Display`) is
/// reported at the action like any other.
pub type ActionCheck<'a, E> = &'a dyn Fn(&Action) -> Result<(), E>;

/// The check of callers that have none.
fn no_check(_: &Action) -> Result<(), Infallible> {
    Ok(())
}

/// [`parse`], with `check` run on every action, so a bad action argument is reported
/// together with every other error of the file.
pub fn parse_checked<E: fmt::Display>(
    file: &str,
    text: &str,
    check: ActionCheck<'_, E>,
) -> Result<RuleSet, Vec<ParseError>> {
    parse_noted(file, text, check).map(|(set, _)| set)
}

/// [`parse_checked`], and the warnings of a file that parsed (`message` starts with
/// `warning: `): where tc reads a number otherwise than as decimal (`ip_proto 17` is 0x17
/// to tc), for `rules check --explain`.
pub fn parse_noted<E: fmt::Display>(
    file: &str,
    text: &str,
    check: ActionCheck<'_, E>,
) -> Result<(RuleSet, Vec<ParseError>), Vec<ParseError>> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut prio = 1;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if let Err((col, message)) = check_line_length(raw) {
            errors.push(ParseError { file: file.to_string(), line, col, message });
            continue;
        }
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some(parsed)) => {
                if let Some(refused) = parsed.actions.iter().find_map(|action| check(action).err()) {
                    let message = refused.to_string();
                    errors.push(ParseError { file: file.to_string(), line, col: parsed.action_col, message });
                    continue;
                }
                prio = parsed.prio.unwrap_or(prio);
                notes.extend(parsed.notes.into_iter().map(|(col, note)| ParseError {
                    file: file.to_string(),
                    line,
                    col,
                    message: format!("warning: {note}"),
                }));
                rules.push(Rule {
                    line,
                    action_col: parsed.action_col,
                    prio,
                    chain: parsed.chain,
                    hook: parsed.hook,
                    protocol: parsed.protocol,
                    keys: parsed.keys,
                    actions: parsed.actions,
                });
            }
            Err(line_errors) => errors.extend(line_errors.into_iter().map(|(col, message)| ParseError {
                file: file.to_string(),
                line,
                col,
                message,
            })),
        }
    }
    bind_shared_policers(file, &mut rules, &mut errors);
    bind_shared_gates(file, &mut rules, &mut errors);
    if errors.is_empty() {
        Ok((RuleSet::new(rules), notes))
    } else {
        Err(errors)
    }
}

/// tc's `police ... index N`: one policer per index. The first rule that gives N a rate (or
/// an mtu) defines it; `police index N` alone takes that definition (the kernel binds a
/// filter to the existing action); a second, different definition is an error (the kernel
/// would keep the first and ignore it), as is an index no rule defines.
fn bind_shared_policers(file: &str, rules: &mut [Rule], errors: &mut Vec<ParseError>) {
    let mut defined: Vec<(u32, Police, usize)> = Vec::new();
    let is_reference = |p: &Police| p.rate.is_none() && p.mtu.is_none();
    for rule in rules.iter() {
        for action in &rule.actions {
            let Action::Police(police @ Police { index: Some(index), .. }) = action else { continue };
            if is_reference(police) {
                continue;
            }
            match defined.iter().find(|(i, _, _)| i == index) {
                Some((_, first, line)) if first != police => errors.push(ParseError {
                    file: file.to_string(),
                    line: rule.line,
                    col: rule.action_col,
                    message: format!(
                        "police index {index} is defined again, otherwise than at line {line} (tc would keep that one): write `police index {index}` alone to share it"
                    ),
                }),
                Some(_) => {}
                None => defined.push((*index, *police, rule.line)),
            }
        }
    }
    for rule in rules.iter_mut() {
        let (line, col) = (rule.line, rule.action_col);
        for action in &mut rule.actions {
            let Action::Police(police @ Police { index: Some(_), .. }) = action else { continue };
            if !is_reference(police) {
                continue;
            }
            let index = police.index.unwrap_or_default();
            match defined.iter().find(|(i, _, _)| *i == index) {
                Some((_, definition, _)) => *police = *definition,
                None => errors.push(ParseError {
                    file: file.to_string(),
                    line,
                    col,
                    message: format!(
                        "police index {index}: no rule of this file defines it (give one rule its rate and burst, or mtu, with index {index})"
                    ),
                }),
            }
        }
    }
}

/// tc's `gate ... index N`, as [`bind_shared_policers`]: one gate per index, defined by the
/// first rule that gives it entries; `gate index N` alone takes that definition (the kernel
/// binds to the existing action); a second, different definition and an index no rule
/// defines are errors.
fn bind_shared_gates(file: &str, rules: &mut [Rule], errors: &mut Vec<ParseError>) {
    let mut defined: Vec<(u32, Gate, usize)> = Vec::new();
    let error = |rule: &Rule, message: String| ParseError {
        file: file.to_string(),
        line: rule.line,
        col: rule.action_col,
        message,
    };
    for rule in rules.iter() {
        for action in &rule.actions {
            let Action::Gate(gate @ Gate { index: Some(index), .. }) = action else { continue };
            if gate.entries.is_empty() {
                continue;
            }
            match defined.iter().find(|(i, _, _)| i == index) {
                Some((_, first, line)) if first != gate => errors.push(error(rule, format!(
                    "gate index {index} is defined again, otherwise than at line {line} (tc would keep that one): write `gate index {index}` alone to share it"
                ))),
                Some(_) => {}
                None => defined.push((*index, gate.clone(), rule.line)),
            }
        }
    }
    for rule in rules.iter_mut() {
        let (line, col) = (rule.line, rule.action_col);
        for action in &mut rule.actions {
            let Action::Gate(gate @ Gate { index: Some(_), .. }) = action else { continue };
            if !gate.entries.is_empty() {
                continue;
            }
            let index = gate.index.unwrap_or_default();
            match defined.iter().find(|(i, _, _)| *i == index) {
                Some((_, definition, _)) => *gate = definition.clone(),
                None => errors.push(ParseError { file: file.to_string(), line, col, message: format!(
                    "gate index {index}: no rule of this file defines it (give one rule its sched-entry list with index {index})"
                ) }),
            }
        }
    }
}

/// [`parse_noted`] on a native rules file.
pub fn parse_file_noted<E: fmt::Display>(
    path: &Path,
    check: ActionCheck<'_, E>,
) -> Result<(RuleSet, Vec<ParseError>), Vec<ParseError>> {
    let text = read_text(path, MAX_RULES_FILE_BYTES)?;
    parse_noted(&path.display().to_string(), &text, check)
}

/// Reads text in either format.
pub fn parse_as(file: &str, text: &str, format: Format) -> Result<RuleSet, Vec<ParseError>> {
    match format {
        Format::Native => parse(file, text),
        Format::Classbench => parse_classbench(file, text),
    }
}

/// Reads a rules file; a file that cannot be read is one error `file: message`.
pub fn parse_file(path: &Path, format: Format) -> Result<RuleSet, Vec<ParseError>> {
    parse_file_checked(path, format, &no_check)
}

/// [`parse_file`] with an action check (see [`parse_checked`]; ClassBench rules are all
/// `drop`, so the check has nothing to see there).
pub fn parse_file_checked<E: fmt::Display>(
    path: &Path,
    format: Format,
    check: ActionCheck<'_, E>,
) -> Result<RuleSet, Vec<ParseError>> {
    let file = path.display().to_string();
    let text = read_text(path, MAX_RULES_FILE_BYTES)?;
    match format {
        Format::Native => parse_checked(&file, &text, check),
        Format::Classbench => parse_classbench(&file, &text),
    }
}

// ---------------------------------------------------------------------------------------------
// Values

/// The keys, in the order [`Rule`]'s `Display` writes them.
pub const KEYS: [&str; 39] = [
    "indev",
    "num_of_vlans",
    "src_mac",
    "dst_mac",
    "vlan_id",
    "vlan_prio",
    "vlan_ethtype",
    "cvlan_id",
    "cvlan_prio",
    "cvlan_ethtype",
    "mpls_label",
    "mpls_tc",
    "mpls_bos",
    "mpls_ttl",
    "arp_sip",
    "arp_tip",
    "arp_op",
    "arp_sha",
    "arp_tha",
    "ip_proto",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "ip_tos",
    "ip_ttl",
    "tcp_flags",
    "l2tpv3_sid",
    "pppoe_sid",
    "ppp_proto",
    "type",
    "code",
    "ip_flags",
    "enc_key_id",
    "enc_src_ip",
    "enc_dst_ip",
    "enc_dst_port",
    "enc_tos",
    "enc_ttl",
];

const ACTIONS: [&str; 14] = [
    "drop",
    "pass",
    "fwd",
    "reflect",
    "encap",
    "decap",
    "ttl-dec",
    "mirred",
    "vlan",
    "mpls",
    "tunnel_key",
    "pedit",
    "csum",
    "gate",
];

const EXPECTED_ACTION: &str = "drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, \
     police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec";

/// `ip_tos` / `ip_ttl` (f_flower.c `flower_parse_ip_tos_ttl`): the value decimal, else hex;
/// the mask hex.
fn tos_ttl(what: &str, text: &str, notes: &mut Vec<String>) -> Result<Masked<u8>, ValueError> {
    let (value, mask) = match text.split_once('/') {
        Some((value, mask)) => (value, Some(mask)),
        None => (text, None),
    };
    let value = dec_else_hex(what, value, notes)?;
    let mask = match mask {
        Some(mask) => number_in(format_args!("{what} mask"), mask, 0xff, Base::Hex, notes)?,
        None => 0xff,
    };
    Ok(Masked::<u8>::new(value, mask as u8))
}

/// An 8-bit value read decimal, else hex (`get_u8(.., 10)`, then `get_u8(.., 16)`, as
/// f_flower.c and m_tunnel_key.c read TOS and TTL).
fn dec_else_hex(what: &str, value: &str, notes: &mut Vec<String>) -> Result<u8, ValueError> {
    Ok(match parse_in(value, Base::Dec) {
        Ok(_) => number_in(what, value, 0xff, Base::Dec, notes)?,
        Err(_) => {
            let n = number_in(what, value, 0xff, Base::Hex, notes)?;
            if !value.starts_with("0x") {
                notes.push(format!("{what} {value} is not decimal, so tc reads it in hex: 0x{value} ({n})"));
            }
            n
        }
    } as u8)
}

/// `value[/mask]` with both in `0..=max`; no mask means all of `max`'s bits.
fn split_mask(what: &str, text: &str, max: u64) -> Result<(u64, u64), ValueError> {
    match text.split_once('/') {
        Some((value, mask)) => Ok((number(what, value, max)?, number(format_args!("{what} mask"), mask, max)?)),
        None => Ok((number(what, text, max)?, max)),
    }
}

const MAC_BITS: u64 = (1 << 48) - 1;

fn mac(text: &str) -> Option<u64> {
    let mut value = 0u64;
    let mut count = 0;
    for part in text.split(':') {
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        value = value << 8 | u64::from_str_radix(part, 16).ok()?;
        count += 1;
    }
    (count == 6).then_some(value)
}

fn masked_mac(what: &str, text: &str) -> Result<Masked<u64>, ValueError> {
    let bad = || ValueError::Malformed {
        what: what.into(),
        word: text.into(),
        expected: "a MAC address aa:bb:cc:dd:ee:ff, optionally /MASK or /LEN",
    };
    let (addr, mask) = match text.split_once('/') {
        None => (text, None),
        Some((addr, mask)) => (addr, Some(mask)),
    };
    let value = mac(addr).ok_or_else(bad)?;
    let mask = match mask {
        None => MAC_BITS,
        Some(mask) if mask.contains(':') => mac(mask).ok_or_else(bad)?,
        Some(len) => {
            let len = number(format_args!("{what} prefix length"), len, 48)?;
            MAC_BITS & !(MAC_BITS >> len)
        }
    };
    Ok(Masked::<u64>::new(value, mask))
}

/// `ip_proto` (f_flower.c `flower_parse_ip_proto`): tcp, udp, sctp, icmp, icmpv6 or their
/// abbreviations, l2tp, esp, ah, else a hex number (`17` is 0x17 = 23, not UDP).
fn ip_proto(text: &str, notes: &mut Vec<String>) -> Result<u8, ValueError> {
    if let Some(proto) = tc_words::ip_proto_word(text) {
        return Ok(proto);
    }
    let mut own = Vec::new();
    let proto = match parse_in(text, Base::Hex) {
        Err(NumError::NotNumber) => {
            return Err(ValueError::Malformed {
                what: "ip_proto".into(),
                word: text.into(),
                expected: "tcp, udp, sctp, icmp, icmpv6, l2tp, esp, ah or a hex number (tc reads 17 as 0x17)",
            })
        }
        _ => number_in("ip_proto", text, 255, Base::Hex, &mut own)? as u8,
    };
    for mut note in own {
        let decimal = text.parse::<u8>().ok();
        if let Some(name) = decimal.and_then(ip_proto_name) {
            note.push_str(&format!("; for {} write {name}", name.to_uppercase()));
        } else if let Some(d) = decimal {
            note.push_str(&format!("; for protocol {d} write 0x{d:x}"));
        }
        notes.push(note);
    }
    Ok(proto)
}

/// `flower_parse_u8` (f_flower.c): the value by name (`names`) or decimal, an optional
/// `/MASK` decimal too; `type`, `code` and `arp_op` are read so.
fn masked_u8_dec(
    what: &str,
    text: &str,
    names: &[(&str, u8)],
    notes: &mut Vec<String>,
) -> Result<Masked<u8>, ValueError> {
    let (value, mask) = match text.split_once('/') {
        Some((value, mask)) => (value, Some(mask)),
        None => (text, None),
    };
    let value = match names.iter().find(|(name, _)| *name == value) {
        Some(&(_, n)) => n,
        None => number_in(what, value, 0xff, Base::Dec, notes)? as u8,
    };
    let mask = match mask {
        Some(mask) => number_in(format_args!("{what} mask"), mask, 0xff, Base::Dec, notes)? as u8,
        None => 0xff,
    };
    Ok(Masked::<u8>::new(value, mask))
}

/// An ethertype as lib/ll_proto.c reads it (`ll_proto_a2n`: a name, case-insensitive, else
/// `get_be16(.., 0)`).
fn ethertype_value(what: &str, text: &str) -> Result<u16, ValueError> {
    tc_words::ethertype(text).map(|(id, _)| id).ok_or_else(|| ValueError::Malformed {
        what: what.into(),
        word: text.into(),
        expected: "an ethertype: a name of tc's (ip, ipv6, arp, 802.1q, mpls_uc, ...) or a number (0x hex)",
    })
}

/// An IPv4 prefix (`arp_sip`, `arp_tip`: f_flower.c reads them as AF_INET only).
fn prefix_v4(what: &str, text: &str) -> Result<Prefix, ValueError> {
    let p = prefix(what, text)?;
    if p.family != Family::V4 {
        return Err(ValueError::Malformed {
            what: what.into(),
            word: text.into(),
            expected: "an IPv4 address, optionally /LEN",
        });
    }
    Ok(p)
}

/// ARP's opcodes by name (f_flower.c `flower_arp_op_from_name`).
const ARP_OPS: [(&str, u8); 2] = [("request", 1), ("reply", 2)];

/// lib/ppp_proto.c's `ppp_proto_names`, in its order (the first name of a number is printed).
const PPP_PROTO_NAMES: [(&str, u16); 23] = [
    ("ip", 0x0021),
    ("at", 0x0029),
    ("ipx", 0x002b),
    ("vjc_comp", 0x002d),
    ("vjc_uncomp", 0x002f),
    ("mp", 0x003d),
    ("ipv6", 0x0057),
    ("compfrag", 0x00fb),
    ("comp", 0x00fd),
    ("mpls_uc", 0x0281),
    ("mpls_mc", 0x0283),
    ("ipcp", 0x8021),
    ("atcp", 0x8029),
    ("ipxcp", 0x802b),
    ("ipv6cp", 0x8057),
    ("ccpfrag", 0x80fb),
    ("ccp", 0x80fd),
    ("mplscp", 0x80fd),
    ("lcp", 0xc021),
    ("pap", 0xc023),
    ("lqr", 0xc025),
    ("chap", 0xc223),
    ("cbcp", 0xc029),
];

/// `ppp_proto` (lib/utils.c `proto_a2n` over lib/ppp_proto.c's names): a name, compared
/// case-insensitively, else a number with C's prefixes.
fn ppp_proto(text: &str, notes: &mut Vec<String>) -> Result<u16, ValueError> {
    if let Some(&(_, id)) = PPP_PROTO_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) {
        return Ok(id);
    }
    match parse_in(text, Base::Auto) {
        Err(NumError::NotNumber) => Err(ValueError::Malformed {
            what: "ppp_proto".into(),
            word: text.into(),
            // f_flower.c's usage text offers `ipv4`, which its table does not have.
            expected: if text.eq_ignore_ascii_case("ipv4") {
                "ip (tc's usage text says ipv4, but lib/ppp_proto.c names IPv4 `ip` and tc refuses ipv4)"
            } else {
                "ip, ipv6, mpls_uc, mpls_mc, lcp, ... (lib/ppp_proto.c's names) or a number"
            },
        }),
        _ => Ok(number_in("ppp_proto", text, 0xffff, Base::Auto, notes)? as u16),
    }
}

/// tc's name of a PPP protocol, if it has one.
fn ppp_proto_name(id: u16) -> Option<&'static str> {
    PPP_PROTO_NAMES.iter().find(|&&(_, n)| n == id).map(|&(name, _)| name)
}

fn ip_proto_name(proto: u8) -> Option<&'static str> {
    Some(match proto {
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        1 => "icmp",
        58 => "icmpv6",
        115 => "l2tp",
        50 => "esp",
        51 => "ah",
        _ => return None,
    })
}

/// A port as tc reads it (decimal, or a decimal range `LO-HI`); `PORT/MASK` (this
/// language's own, which tc does not read) takes decimal or `0x` hex.
fn port_match(what: &str, text: &str, notes: &mut Vec<String>) -> Result<PortMatch, ValueError> {
    if let Some((lo, hi)) = text.split_once('-') {
        let lo = number_in(what, lo, 0xffff, Base::Dec, notes)? as u16;
        let hi = number_in(what, hi, 0xffff, Base::Dec, notes)? as u16;
        if lo > hi {
            return Err(ValueError::EmptyRange { what: what.into(), word: text.into() });
        }
        Ok(PortMatch::Range { lo, hi })
    } else if text.contains('/') {
        let (value, mask) = split_mask(what, text, 0xffff)?;
        Ok(PortMatch::Masked(Masked::<u16>::new(value as u16, mask as u16)))
    } else {
        Ok(PortMatch::Masked(Masked::<u16>::exact(number_in(what, text, 0xffff, Base::Dec, notes)? as u16)))
    }
}

fn ip_flags(text: &str) -> Result<Masked<u8>, ValueError> {
    let mut value = 0u8;
    let mut mask = 0u8;
    for word in text.split('/') {
        let (bit, set) = match word {
            "frag" => (IP_FLAG_FRAG, true),
            "nofrag" => (IP_FLAG_FRAG, false),
            "firstfrag" => (IP_FLAG_FIRSTFRAG, true),
            "nofirstfrag" => (IP_FLAG_FIRSTFRAG, false),
            _ => {
                return Err(ValueError::Malformed {
                    what: "ip_flags".into(),
                    word: word.into(),
                    expected: "frag, nofrag, firstfrag or nofirstfrag (two joined by '/')",
                })
            }
        };
        if mask & bit != 0 {
            let flag = if bit == IP_FLAG_FRAG { "frag" } else { "firstfrag" };
            return Err(ValueError::FlagTwice { word: text.into(), flag });
        }
        mask |= bit;
        if set {
            value |= bit;
        }
    }
    Ok(Masked::<u8>::new(value, mask))
}

/// What a key's value looks like, for "missing value" messages.
fn expected_value(key: &str) -> &'static str {
    match key {
        "src_mac" | "dst_mac" => "a MAC address, optionally /MASK or /LEN",
        "vlan_id" => "a VLAN id 0..=4095",
        "vlan_prio" => "a VLAN priority 0..=7",
        "ip_proto" => "tcp, udp, sctp, icmp, icmpv6 or a number",
        "src_ip" | "dst_ip" | "enc_src_ip" | "enc_dst_ip" => "an IPv4 or IPv6 address, optionally /LEN",
        "src_port" | "dst_port" => "a port, PORT/MASK or LO-HI",
        "ip_tos" | "ip_ttl" => "a number 0..=255, optionally /MASK",
        "tcp_flags" => "a number 0..=0xfff, optionally /MASK",
        "l2tpv3_sid" => "a session id 0..=4294967295",
        "pppoe_sid" => "a session id 0..=65535",
        "ppp_proto" => "ip, ipv6, mpls_uc, mpls_mc, another PPP protocol name or a number",
        "ip_flags" => "frag, nofrag, firstfrag or nofirstfrag",
        "enc_key_id" => "a number 0..=4294967295",
        "enc_dst_port" => "a port 0..=65535",
        "enc_tos" | "enc_ttl" => "a number 0..=255, optionally /MASK",
        "indev" => "an interface name",
        "num_of_vlans" => "a number of VLAN tags",
        "cvlan_id" => "a VLAN id 0..=4095",
        "cvlan_prio" => "a VLAN priority 0..=7",
        "vlan_ethtype" | "cvlan_ethtype" => "an ethertype: ip, ipv6, 802.1q, 802.1ad, arp, ... or a number",
        "mpls_label" => "an MPLS label 0..=1048575",
        "mpls_tc" => "an MPLS traffic class 0..=7",
        "mpls_bos" => "0 or 1",
        "mpls_ttl" => "a TTL 0..=255",
        "arp_sip" | "arp_tip" => "an IPv4 address, optionally /LEN",
        "arp_op" => "request, reply or 0..=2, optionally /MASK",
        "arp_sha" | "arp_tha" => "a MAC address, optionally /MASK or /LEN",
        "type" | "code" => "a number 0..=255, optionally /MASK",
        "prio" => "a number 0..=4294967295",
        "protocol" => "ip, ipv6, 802.1q, 802.1ad, all, another ethertype name or a number",
        "chain" => "0",
        _ => "a value",
    }
}

/// Sets `key` in `keys` from its value word, read as tc reads it; `notes` gets a warning
/// where tc's reading differs from the decimal one.
fn set_key(keys: &mut Keys, key: &str, text: &str, notes: &mut Vec<String>) -> Result<(), ValueError> {
    match key {
        "src_mac" => keys.src_mac = Some(masked_mac(key, text)?),
        "dst_mac" => keys.dst_mac = Some(masked_mac(key, text)?),
        "vlan_id" => keys.vlan_id = Some(number_in(key, text, 4095, Base::Dec, notes)? as u16),
        "vlan_prio" => keys.vlan_prio = Some(number_in(key, text, 7, Base::Dec, notes)? as u8),
        "ip_proto" => keys.ip_proto = Some(ip_proto(text, notes)?),
        "src_ip" => keys.src_ip = Some(prefix(key, text)?),
        "dst_ip" => keys.dst_ip = Some(prefix(key, text)?),
        "src_port" => keys.src_port = Some(port_match(key, text, notes)?),
        "dst_port" => keys.dst_port = Some(port_match(key, text, notes)?),
        "ip_tos" => keys.ip_tos = Some(tos_ttl(key, text, notes)?),
        "ip_ttl" => keys.ip_ttl = Some(tos_ttl(key, text, notes)?),
        "tcp_flags" => {
            // f_flower.c `flower_parse_tcp_flags`: value and mask hex (`10` is 0x10, ACK).
            let (value, mask) = match text.split_once('/') {
                Some((value, mask)) => (value, Some(mask)),
                None => (text, None),
            };
            let value = number_in(key, value, 0xfff, Base::Hex, notes)?;
            let mask = match mask {
                Some(mask) => number_in("tcp_flags mask", mask, 0xfff, Base::Hex, notes)?,
                None => 0xfff,
            };
            keys.tcp_flags = Some(Masked::<u16>::new(value as u16, mask as u16));
        }
        "ip_flags" => keys.ip_flags = Some(ip_flags(text)?),
        "enc_key_id" => keys.enc_key_id = Some(number_in(key, text, u64::from(u32::MAX), Base::Dec, notes)? as u32),
        "enc_src_ip" => keys.enc_src_ip = Some(prefix(key, text)?),
        "enc_dst_ip" => keys.enc_dst_ip = Some(prefix(key, text)?),
        "enc_dst_port" => keys.enc_dst_port = Some(number_in(key, text, 0xffff, Base::Dec, notes)? as u16),
        "enc_tos" => keys.enc_tos = Some(tos_ttl(key, text, notes)?),
        "enc_ttl" => keys.enc_ttl = Some(tos_ttl(key, text, notes)?),
        "indev" => {
            keys.indev = Some(Indev::new(text).ok_or_else(|| ValueError::Malformed {
                what: key.into(),
                word: text.into(),
                expected: "an interface name (1 to 15 bytes, no '/' or white space, as tc's check_ifname)",
            })?)
        }
        // f_flower.c: `get_u8(.., 10)` for the count, `get_u16`/`get_u8` base 10 for the tag.
        "num_of_vlans" => keys.num_of_vlans = Some(number_in(key, text, 0xff, Base::Dec, notes)? as u8),
        "cvlan_id" => keys.cvlan_id = Some(number_in(key, text, 4095, Base::Dec, notes)? as u16),
        "cvlan_prio" => keys.cvlan_prio = Some(number_in(key, text, 7, Base::Dec, notes)? as u8),
        // A TPID inside the outer tag announces the customer tag (cls_flower.c fl_set_key:
        // then `cvlan_*` describe it); any other ethertype is the one after the tags.
        "vlan_ethtype" => match ethertype_value(key, text)? {
            0x8100 | 0x88a8 => keys.cvlan = true,
            id => keys.eth_type = Some(id),
        },
        "cvlan_ethtype" => keys.eth_type = Some(ethertype_value(key, text)?),
        // f_flower.c: label `get_u32(.., 10)` in 20 bits, tc in 3, bos in 1, ttl `get_u8`.
        "mpls_label" => keys.mpls_label = Some(number_in(key, text, 0xf_ffff, Base::Dec, notes)? as u32),
        "mpls_tc" => keys.mpls_tc = Some(number_in(key, text, 7, Base::Dec, notes)? as u8),
        "mpls_bos" => keys.mpls_bos = Some(number_in(key, text, 1, Base::Dec, notes)? as u8),
        "mpls_ttl" => keys.mpls_ttl = Some(number_in(key, text, 0xff, Base::Dec, notes)? as u8),
        "arp_sip" => keys.arp_sip = Some(prefix_v4(key, text)?),
        "arp_tip" => keys.arp_tip = Some(prefix_v4(key, text)?),
        "arp_op" => {
            let op = masked_u8_dec(key, text, &ARP_OPS, notes)?;
            // f_flower.c `flow_arp_op_validate` (on the value before the mask): 0, request or reply.
            let raw = text.split('/').next().unwrap_or(text);
            let value = ARP_OPS.iter().find(|(name, _)| *name == raw).map(|&(_, op)| op).or(raw.parse::<u8>().ok());
            if !matches!(value, Some(0..=2)) {
                return Err(ValueError::Malformed {
                    what: key.into(),
                    word: text.into(),
                    expected: "request, reply or 0..=2",
                });
            }
            keys.arp_op = Some(op);
        }
        "arp_sha" => keys.arp_sha = Some(masked_mac(key, text)?),
        "arp_tha" => keys.arp_tha = Some(masked_mac(key, text)?),
        // f_flower.c: `get_be16(.., 10)`; lib/ppp_proto.c's names (case-insensitive), else
        // `get_be16(.., 0)`.
        "pppoe_sid" => keys.pppoe_sid = Some(number_in(key, text, 0xffff, Base::Dec, notes)? as u16),
        "ppp_proto" => keys.ppp_proto = Some(ppp_proto(text, notes)?),
        // f_flower.c `flower_parse_l2tpv3`: `get_be32(.., 10)`.
        "l2tpv3_sid" => keys.l2tpv3_sid = Some(number_in(key, text, u64::from(u32::MAX), Base::Dec, notes)? as u32),
        "type" => keys.icmp_type = Some(masked_u8_dec(key, text, &[], notes)?),
        "code" => keys.icmp_code = Some(masked_u8_dec(key, text, &[], notes)?),
        _ => unreachable!("set_key is called with names from KEYS"),
    }
    Ok(())
}

/// Optimal string alignment distance (edits, adjacent swaps counting as one), or `None` when
/// it is more than `bound`. Bounded in time and memory by the shorter word: words whose
/// lengths differ by more than `bound` are not compared at all (the distance is at least the
/// difference), and three rows of `b.len() + 1` cells are all it keeps (the swap looks two
/// rows back).
fn edit_distance_within(a: &str, b: &str, bound: usize) -> Option<usize> {
    let (a_len, b_len) = (a.chars().count(), b.chars().count());
    if a_len.abs_diff(b_len) > bound {
        return None;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let (mut before, mut previous, mut current) = (vec![0usize; width], (0..width).collect::<Vec<_>>(), vec![0; width]);
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        // before <- previous <- current; the old `before` row is overwritten next round.
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    Some(previous[b.len()]).filter(|&d| d <= bound)
}

/// The longest word a suggestion is computed for: longer than any key or action plus the
/// distance bound, so a longer word can be no candidate's near miss.
const SUGGEST_MAX_CHARS: usize = 32;

/// " (did you mean X?)" when a candidate is close enough, else "".
fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    // Bytes bound chars from above: a word of more bytes than this may still be short in
    // chars, so count those (at most 4 * SUGGEST_MAX_CHARS bytes).
    if word.len() > 4 * SUGGEST_MAX_CHARS || word.chars().count() > SUGGEST_MAX_CHARS {
        return String::new();
    }
    let limit = if word.chars().count() >= 5 { 2 } else { 1 };
    candidates
        .into_iter()
        .filter_map(|c| edit_distance_within(word, c, limit).map(|distance| (distance, c)))
        .min_by_key(|&(distance, _)| distance)
        .map_or_else(String::new, |(_, c)| format!(" (did you mean {c}?)"))
}

// ---------------------------------------------------------------------------------------------
// One line

/// A rule line before its prio is settled.
struct ParsedLine {
    prio: Option<u32>,
    chain: u32,
    hook: Hook,
    protocol: Protocol,
    keys: Keys,
    actions: Vec<Action>,
    action_col: usize,
    /// Warnings (col, message) for `rules check --explain`.
    notes: Vec<(usize, String)>,
}

/// Where a key and its value were written, for the checks across keys.
struct KeyAt {
    key: &'static str,
    key_col: usize,
    value_col: usize,
}

struct LineParser<'a> {
    content: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    errors: Vec<(usize, String)>,
    seen: Vec<&'static str>,
    at: Vec<KeyAt>,
    prio: Option<u32>,
    chain: u32,
    protocol: Protocol,
    keys: Keys,
    /// The action list, once read to its end without error.
    actions: Option<Vec<Action>>,
    action_col: usize,
    /// The word `flower` has been read (tc's abbreviations then prefer flower's keys).
    flower_seen: bool,
    /// Warnings (col, message): where tc reads a number otherwise than as decimal.
    notes: Vec<(usize, String)>,
    /// `dev NAME`: what an egress rule applies to.
    dev: Option<String>,
    /// The word `egress` was read.
    egress: bool,
}

/// `Ok(None)` for a blank or comment line; errors as (col, message).
fn parse_line(raw: &str) -> Result<Option<ParsedLine>, Vec<(usize, String)>> {
    let content = strip_comment(raw);
    let tokens = tokenize(content);
    if tokens.is_empty() {
        return Ok(None);
    }
    check_token_lengths(&tokens).map_err(|error| vec![error])?;
    let mut p = LineParser {
        content,
        tokens,
        pos: 0,
        errors: Vec::new(),
        seen: Vec::new(),
        at: Vec::new(),
        prio: None,
        chain: 0,
        protocol: Protocol::All,
        keys: Keys::default(),
        actions: None,
        action_col: 0,
        flower_seen: false,
        notes: Vec::new(),
        dev: None,
        egress: false,
    };
    if p.tc_prefix() {
        p.items();
    }
    if p.errors.is_empty() {
        p.check_across_keys();
    }
    match p.actions {
        Some(actions) if p.errors.is_empty() => Ok(Some(ParsedLine {
            prio: p.prio,
            chain: p.chain,
            hook: if p.egress { Hook::Egress { dev: p.dev } } else { Hook::Ingress },
            protocol: p.protocol,
            keys: p.keys,
            actions,
            action_col: p.action_col,
            notes: p.notes,
        })),
        _ => Err(p.errors),
    }
}

fn is_action_word(text: &str) -> bool {
    text == "action" || text == "actions"
}

/// A word that starts an item, so it cannot be the value of the key before it.
fn is_keyword(text: &str) -> bool {
    KEYS.contains(&text) || is_action_word(text) || matches!(text, "prio" | "pref" | "protocol" | "chain")
}

impl<'a> LineParser<'a> {
    fn error(&mut self, col: usize, message: impl Into<String>) {
        self.errors.push((col, message.into()));
    }

    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.peek()?;
        self.pos += 1;
        Some(token)
    }

    /// Skips `tc filter add|replace|change`; false (after an error) for other tc commands.
    fn tc_prefix(&mut self) -> bool {
        if self.peek().is_some_and(|t| t.text == "tc") {
            self.pos += 1;
            match self.peek() {
                Some(t) if t.text == "filter" => {}
                other => {
                    let col = other.map_or(end_col(self.content), |t| t.col);
                    self.error(
                        col,
                        "expected 'filter' after 'tc' (only `tc filter add|replace|change` lines are rules)",
                    );
                    return false;
                }
            }
        }
        if self.peek().is_some_and(|t| t.text == "filter") {
            self.pos += 1;
            match self.next() {
                Some(t) if matches!(t.text, "add" | "replace" | "change") => {}
                Some(t) => {
                    self.error(
                        t.col,
                        format!("only `tc filter add|replace|change` lines are rules, found '{}'", t.text),
                    );
                    return false;
                }
                None => {
                    self.error(end_col(self.content), "expected add, replace or change after 'filter'");
                    return false;
                }
            }
        }
        true
    }

    /// The value word of `key`, or an error at the key when there is none.
    fn value(&mut self, key: Token<'a>, expected: &str) -> Option<Token<'a>> {
        match self.peek() {
            Some(t) if !is_keyword(t.text) => {
                self.pos += 1;
                Some(t)
            }
            _ => {
                self.error(key.col, format!("missing value for {} (expected {expected})", key.text));
                None
            }
        }
    }

    /// Records `name` as given; false (after an error) if it already was.
    fn first_time(&mut self, name: &'static str, at: Token<'a>) -> bool {
        if self.seen.contains(&name) {
            self.error(at.col, format!("duplicate key {name}"));
            false
        } else {
            self.seen.push(name);
            true
        }
    }

    /// The items up to and including the action. Stops at a word it cannot place, since what
    /// follows it cannot be read reliably. Words are read as tc reads them: whole, or as
    /// tc's abbreviations ([`tc_words::resolve`]: `proto` is `protocol`).
    fn items(&mut self) {
        while let Some(token) = self.next() {
            let word = token.text;
            if word == "flower" {
                self.flower_seen = true;
                continue;
            }
            let option = tc_words::resolve(word, self.flower_seen);
            if word == "actions" || option == Some("action") {
                self.actions(token);
                return;
            }
            // What a value's error adds when the word was an abbreviation.
            let abbreviated = match option {
                // `prio` and `pref` are this language's own words too.
                Some(option) if option != word && !matches!(word, "prio" | "pref") => {
                    format!(" ('{word}' is tc's abbreviation of {option})")
                }
                _ => String::new(),
            };
            let name = option.unwrap_or(word);
            if let Some(&key) = KEYS.iter().find(|&&k| k == name) {
                let Some(value) = self.value(token, expected_value(key)) else { continue };
                if self.first_time(key, token) {
                    let mut notes = Vec::new();
                    match set_key(&mut self.keys, key, value.text, &mut notes) {
                        Ok(()) => self.at.push(KeyAt { key, key_col: token.col, value_col: value.col }),
                        Err(message) => self.error(value.col, format!("{message}{abbreviated}")),
                    }
                    self.notes.extend(notes.into_iter().map(|note| (value.col, note)));
                }
                continue;
            }
            match name {
                // tc_filter.c: `get_u32(.., 0)`; tc itself stops at 0xffff, this language at
                // 2^32-1 (large ClassBench sets keep one prio per rule).
                "prio" | "pref" | "preference" | "priority" => {
                    let Some(value) = self.value(token, expected_value("prio")) else { continue };
                    if self.first_time("prio", token) {
                        let mut notes = Vec::new();
                        match number_in(word, value.text, u64::from(u32::MAX), Base::Auto, &mut notes) {
                            Ok(prio) => self.prio = Some(prio as u32),
                            Err(message) => self.error(value.col, format!("{message}{abbreviated}")),
                        }
                        self.notes.extend(notes.into_iter().map(|note| (value.col, note)));
                    }
                }
                "protocol" => {
                    let Some(value) = self.value(token, expected_value("protocol")) else { continue };
                    if self.first_time("protocol", token) {
                        self.protocol(value, &abbreviated);
                    }
                }
                "chain" => {
                    let Some(value) = self.value(token, expected_value("chain")) else { continue };
                    if self.first_time("chain", token) {
                        // tc_filter.c: `get_u32(&chain_index, *argv, 0)`.
                        let mut notes = Vec::new();
                        match number_in(word, value.text, u64::from(u32::MAX), Base::Auto, &mut notes) {
                            Ok(chain) => self.chain = chain as u32,
                            Err(message) => self.error(value.col, format!("{message}{abbreviated}")),
                        }
                        self.notes.extend(notes.into_iter().map(|note| (value.col, note)));
                    }
                }
                // `dev NAME`: on an ingress rule it changes nothing (rules apply to every
                // port); an egress rule applies to the frames leaving by NAME.
                "dev" => {
                    let Some(value) = self.value(token, "an interface name") else { continue };
                    if self.first_time("dev", token) {
                        if Indev::new(value.text).is_none() {
                            let why = "1 to 15 bytes, no '/' or white space, not '.' or '..'";
                            self.error(value.col, format!("dev {} is not an interface name ({why})", value.text));
                        }
                        self.dev = Some(value.text.to_string());
                    }
                }
                // tc words that take a value and do not change the rule's meaning here:
                // `block N` shares a filter among devices, and rules here apply to every port.
                "parent" | "handle" | "classid" | "flowid" | "block" => {
                    self.value(token, "a value");
                }
                "egress" => self.egress = true,
                "ingress" | "root" | "skip_hw" | "verbose" => {}
                "u32" | "bpf" | "matchall" | "basic" | "fw" | "route" | "flow" | "cgroup" | "tcindex" | "rsvp" => {
                    self.error(token.col, format!("only flower filters can be read, this is a '{word}' filter"));
                    return;
                }
                "mpls" => {
                    if !self.first_time("mpls", token) || !self.mpls_lses(token) {
                        return;
                    }
                }
                "cfm" => {
                    if !self.first_time("cfm", token) || !self.cfm(token) {
                        return;
                    }
                }
                _ if tc_words::unsupported_reason(name).is_some() => {
                    let reason = tc_words::unsupported_reason(name).unwrap_or_default();
                    let what =
                        if tc_words::FLOWER_WORDS.iter().any(|&(o, _)| o == name) { "flower key" } else { "tc word" };
                    self.error(token.col, format!("{what} '{word}'{abbreviated} is not supported here: {reason}"));
                    return;
                }
                _ => {
                    let vocabulary =
                        tc_words::FILTER_WORDS.iter().chain(tc_words::FLOWER_WORDS.iter()).map(|&(o, _)| o);
                    let hint = if matches!(word, "icmp_type" | "icmp_code") {
                        " (flower spells ICMP's type and code `type` and `code`)".to_string()
                    } else {
                        did_you_mean(word, vocabulary.chain(["prio", "pref", "flower"]))
                    };
                    self.error(token.col, format!("unknown key '{word}'{hint}"));
                    return;
                }
            }
        }
        self.error(end_col(self.content), format!("missing action (expected `action {EXPECTED_ACTION}`)"));
    }

    /// flower's `mpls lse depth N [label L] [tc T] [bos B] [ttl T] [lse ...]` (f_flower.c
    /// `flower_parse_mpls`: words by `matches()` in its order, numbers decimal; depth 1 to 7,
    /// act_flower's FLOW_DIS_MPLS_MAX; a depth named once). False after an error.
    fn mpls_lses(&mut self, word: Token<'a>) -> bool {
        const FIELDS: [(&str, u64); 5] = [("depth", 7), ("label", 0xf_ffff), ("tc", 7), ("bos", 1), ("ttl", 0xff)];
        let mut lses = [MplsLse::default(); MPLS_LSE_DEPTH_MAX];
        let mut named = false;
        while let Some(lse_word) = self.peek().filter(|t| tc_words::matches(t.text, "lse")) {
            self.pos += 1;
            let (mut depth, mut lse) = (None, MplsLse { used: true, ..MplsLse::default() });
            while let Some(t) = self.peek() {
                let Some(&(field, max)) = FIELDS.iter().find(|(field, _)| tc_words::matches(t.text, field)) else {
                    break;
                };
                self.pos += 1;
                let Some(value) = self.next() else {
                    self.error(end_col(self.content), format!("mpls lse {field} needs a value"));
                    return false;
                };
                let mut notes = Vec::new();
                let n = match number_in(format_args!("mpls lse {field}"), value.text, max, Base::Dec, &mut notes) {
                    Ok(n) => n,
                    Err(message) => {
                        self.error(value.col, message.to_string());
                        return false;
                    }
                };
                match field {
                    "depth" if n == 0 => {
                        self.error(value.col, "mpls lse depth counts from 1 (the top entry) to 7");
                        return false;
                    }
                    "depth" => depth = Some((n as usize, value.col)),
                    "label" => lse.label = Some(n as u32),
                    "tc" => lse.tc = Some(n as u8),
                    "bos" => lse.bos = Some(n as u8),
                    _ => lse.ttl = Some(n as u8),
                }
            }
            let Some((depth, col)) = depth else {
                self.error(lse_word.col, "mpls lse needs its depth (depth 1..=7, as f_flower.c requires)");
                return false;
            };
            if lses[depth - 1].used {
                self.error(col, format!("mpls lse depth {depth} is named twice"));
                return false;
            }
            lses[depth - 1] = lse;
            named = true;
        }
        if !named {
            self.error(word.col, "mpls needs `lse depth N [label L] [tc T] [bos B] [ttl T]` (as f_flower.c reads it)");
            return false;
        }
        self.keys.mpls_lses = Some(lses);
        self.at.push(KeyAt { key: "mpls", key_col: word.col, value_col: word.col });
        true
    }

    /// flower's `cfm [mdl N] [op N]` (f_flower.c `flower_parse_cfm`: the words compared
    /// exactly, numbers `get_u8(.., 10)`; the kernel's policy caps the MD level at 7,
    /// FLOW_DIS_CFM_MDL_MAX). Bare `cfm` is accepted as tc accepts it, and adds nothing to
    /// `protocol cfm`. False after an error.
    fn cfm(&mut self, word: Token<'a>) -> bool {
        let (mut mdl, mut op) = (None, None);
        while let Some(field) = self.peek().filter(|t| matches!(t.text, "mdl" | "op")) {
            self.pos += 1;
            let Some(value) = self.next() else {
                self.error(end_col(self.content), format!("cfm {} needs a value", field.text));
                return false;
            };
            let (slot, max) = if field.text == "mdl" { (&mut mdl, 7) } else { (&mut op, 0xff) };
            if slot.is_some() {
                self.error(field.col, format!("cfm {} is named twice", field.text));
                return false;
            }
            let mut notes = Vec::new();
            match number_in(format_args!("cfm {}", field.text), value.text, max, Base::Dec, &mut notes) {
                Ok(n) => *slot = Some(n as u8),
                Err(message) => {
                    self.error(value.col, message.to_string());
                    return false;
                }
            }
        }
        self.keys.cfm_mdl = mdl;
        self.keys.cfm_op = op;
        self.at.push(KeyAt { key: "cfm", key_col: word.col, value_col: word.col });
        true
    }

    /// `protocol`: an ethertype by tc's name or number (lib/ll_proto.c, `get_be16(.., 0)`).
    fn protocol(&mut self, value: Token<'a>, abbreviated: &str) {
        let text = value.text;
        let Some((id, _)) = tc_words::ethertype(text) else {
            let known =
                "ip, ipv6, 802.1q, 802.1ad, all, another ethertype name of tc's (arp, mpls_uc, ...) or a number";
            self.error(value.col, format!("protocol expects {known}, found '{text}'{abbreviated}"));
            return;
        };
        self.protocol = match id {
            0x0800 => Protocol::Ipv4,
            0x86dd => Protocol::Ipv6,
            0x8100 | 0x88a8 => Protocol::Vlan,
            0x0003 => Protocol::All,
            other => Protocol::Ether(other),
        };
    }

    fn find(&self, key: &str) -> Option<&KeyAt> {
        self.at.iter().find(|at| at.key == key)
    }

    /// What f_flower.c requires of the ethertype a key is read under (its `eth_type`: the
    /// protocol's, then `vlan_ethtype`'s or `cvlan_ethtype`'s): the VLAN keys need tags, ARP
    /// and MPLS keys their protocol, `type`/`code` an ICMP protocol, IP keys an IP one.
    fn check_ethertype_keys(&mut self) {
        let keys = self.keys;
        let vlans = keys.num_of_vlans.unwrap_or(0);
        let mut errors = Vec::new();
        if let Some(at) = self.find("vlan_ethtype") {
            if self.protocol != Protocol::Vlan && vlans == 0 {
                errors.push((
                    at.key_col,
                    "vlan_ethtype needs `protocol 802.1q` or `802.1ad`, or num_of_vlans 1 or more (as in flower)"
                        .to_string(),
                ));
            }
        }
        for key in ["cvlan_id", "cvlan_prio", "cvlan_ethtype"] {
            let Some(at) = self.find(key) else { continue };
            if !keys.cvlan && vlans < 2 {
                errors.push((
                    at.key_col,
                    format!("{key} needs `vlan_ethtype 802.1q` or `802.1ad`, or num_of_vlans 2 or more (as in flower)"),
                ));
            } else if key == "cvlan_ethtype" && !keys.cvlan && self.find("vlan_ethtype").is_some() {
                errors.push((
                    at.key_col,
                    "cvlan_ethtype after vlan_ethtype names the ethertype twice: vlan_ethtype is not a VLAN TPID"
                        .to_string(),
                ));
            }
        }
        let eth_type = keys.eth_type.or(match self.protocol {
            Protocol::Ipv4 => Some(0x0800),
            Protocol::Ipv6 => Some(0x86dd),
            Protocol::Ether(id) => Some(id),
            Protocol::All | Protocol::Vlan => None,
        });
        let named = |id: u16| tc_words::ethertype_name(id).map_or_else(|| format!("{id:#06x}"), str::to_string);
        // f_flower.c: `ppp_proto` makes the keys after it read under the ethertype of what
        // the session carries (IP, MPLS).
        let session = eth_type == Some(ETHERTYPE_PPPOE);
        let carried = keys.ppp_proto.and_then(|p| PPP_ETHERTYPES.iter().find(|&&(ppp, _)| ppp == p)).map(|&(_, e)| e);
        let eth_type = if session { carried.or(eth_type) } else { eth_type };
        for at in &self.at {
            let key = at.key;
            let needs = if matches!(key, "pppoe_sid" | "ppp_proto") {
                // "Can't set "pppoe_sid" if ethertype isn't PPPoE session".
                (!session).then_some("`protocol ppp_ses` (or `vlan_ethtype ppp_ses`)")
            } else if key.starts_with("arp_") {
                (!eth_type.is_some_and(|id| ETHERTYPE_ARP.contains(&id))).then_some("`protocol arp` or `rarp`")
            } else if key.starts_with("mpls") {
                (!eth_type.is_some_and(|id| ETHERTYPE_MPLS.contains(&id))).then_some("`protocol mpls_uc` or `mpls_mc`")
            } else if key == "cfm" {
                // f_flower.c: "Can't set attribute if ethertype isn't CFM".
                (eth_type != Some(ETHERTYPE_CFM)).then_some("`protocol cfm`")
            } else if key == "type" || key == "code" {
                let icmp = matches!((eth_type, keys.ip_proto), (Some(0x0800), Some(1)) | (Some(0x86dd), Some(58)));
                (!icmp).then_some("`protocol ip` with `ip_proto icmp`, or `protocol ipv6` with `ip_proto icmpv6`")
            } else if matches!(key, "ip_proto" | "src_ip" | "dst_ip") {
                // f_flower.c reads these only under an IP ethertype (or none given here).
                eth_type.filter(|id| !matches!(id, 0x0800 | 0x86dd)).map(|_| "an IP protocol (ip or ipv6)")
            } else {
                None
            };
            if let Some(needs) = needs {
                let given = eth_type
                    .map_or_else(|| " (the rule has no protocol)".to_string(), |id| format!(", not {}", named(id)));
                errors.push((at.key_col, format!("{key} needs {needs} (as in flower){given}")));
            }
        }
        for (col, message) in errors {
            self.error(col, message);
        }
    }

    /// The rules flower enforces across keys, and address families that could never match.
    fn check_across_keys(&mut self) {
        let keys = self.keys;
        // act_flower's fl_set_key_mpls: the top entry's keys and `mpls lse` exclude each other.
        if keys.mpls_lses.is_some() {
            if let Some(at) = ["mpls_label", "mpls_tc", "mpls_bos", "mpls_ttl"].into_iter().find_map(|k| self.find(k)) {
                let message = format!(
                    "{} and `mpls lse` cannot be combined (the kernel refuses both): write the top entry as `lse depth 1`",
                    at.key
                );
                self.error(at.key_col, message);
                return;
            }
        }
        let port_keys = [("src_port", "tcp, udp or sctp"), ("dst_port", "tcp, udp or sctp"), ("tcp_flags", "tcp")];
        for (key, needs) in port_keys.into_iter().chain([("l2tpv3_sid", "l2tp")]) {
            let Some(at) = self.find(key) else { continue };
            let col = at.key_col;
            let allowed: &[u8] = match key {
                "tcp_flags" => &[6],
                "l2tpv3_sid" => &[115],
                _ => &[6, 17, 132],
            };
            match keys.ip_proto {
                Some(proto) if allowed.contains(&proto) => {}
                Some(proto) => {
                    let name = ip_proto_name(proto).map_or_else(|| proto.to_string(), str::to_string);
                    // A pasted decimal number is the usual cause: say how tc read it.
                    let read = self.notes.iter().find(|(_, note)| note.starts_with("ip_proto "));
                    let read = read.map_or_else(String::new, |(_, note)| format!(" ({note})"));
                    self.error(col, format!("{key} needs ip_proto {needs} (as in flower), not {name}{read}"));
                }
                None => self.error(col, format!("{key} needs ip_proto {needs} (as in flower)")),
            }
        }
        self.check_ethertype_keys();
        let protocol_family = match (keys.eth_type, self.protocol, keys.ppp_proto) {
            (Some(0x0800), _, _) | (None, Protocol::Ipv4, _) => Some((Family::V4, "ip")),
            (Some(0x86dd), _, _) | (None, Protocol::Ipv6, _) => Some((Family::V6, "ipv6")),
            (_, _, Some(0x0021)) => Some((Family::V4, "ppp_ses ... ppp_proto ip")),
            (_, _, Some(0x0057)) => Some((Family::V6, "ppp_ses ... ppp_proto ipv6")),
            _ => None,
        };
        let family_name = |family| if family == Family::V6 { "IPv6" } else { "IPv4" };
        for (src_key, dst_key, src, dst, outer) in [
            ("src_ip", "dst_ip", keys.src_ip, keys.dst_ip, false),
            ("enc_src_ip", "enc_dst_ip", keys.enc_src_ip, keys.enc_dst_ip, true),
        ] {
            if !outer {
                if let Some((family, word)) = protocol_family {
                    for (key, prefix) in [(src_key, src), (dst_key, dst)] {
                        if let (Some(prefix), Some(at)) = (prefix, self.find(key)) {
                            if prefix.family != family {
                                let col = at.value_col;
                                self.error(
                                    col,
                                    format!(
                                        "{key} is an {} address but the rule says `protocol {word}`",
                                        family_name(prefix.family)
                                    ),
                                );
                            }
                        }
                    }
                    continue;
                }
            }
            if let (Some(src), Some(dst), Some(at)) = (src, dst, self.find(dst_key)) {
                if src.family != dst.family {
                    let col = at.value_col;
                    self.error(
                        col,
                        format!(
                            "{dst_key} is an {} address but {src_key} is {}: no packet has both",
                            family_name(dst.family),
                            family_name(src.family)
                        ),
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

fn write_mac(f: &mut fmt::Formatter<'_>, mac: u64) -> fmt::Result {
    let b = mac.to_be_bytes();
    write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

fn write_masked_mac(f: &mut fmt::Formatter<'_>, m: Masked<u64>) -> fmt::Result {
    write_mac(f, m.value)?;
    if m.mask & MAC_BITS != MAC_BITS {
        f.write_str("/")?;
        write_mac(f, m.mask)?;
    }
    Ok(())
}

fn write_prefix(f: &mut fmt::Formatter<'_>, p: Prefix) -> fmt::Result {
    if p.family == Family::V6 {
        write!(f, "{}", Ipv6Addr::from(p.addr))?;
        if p.len != 128 {
            write!(f, "/{}", p.len)?;
        }
    } else {
        write!(f, "{}", Ipv4Addr::from(p.addr as u32))?;
        if p.len != 32 {
            write!(f, "/{}", p.len)?;
        }
    }
    Ok(())
}

/// `value` when `mask` is all of `full`, else `0xV/0xM`.
fn write_masked(f: &mut fmt::Formatter<'_>, value: u64, mask: u64, full: u64) -> fmt::Result {
    if mask == full {
        write!(f, "{value}")
    } else {
        write!(f, "{value:#x}/{mask:#x}")
    }
}

/// `value` or `value/mask`, both decimal (f_flower.c `flower_parse_u8`).
fn write_masked_dec(f: &mut fmt::Formatter<'_>, m: Masked<u8>) -> fmt::Result {
    if m.mask == u8::MAX {
        write!(f, "{}", m.value)
    } else {
        write!(f, "{}/{}", m.value, m.mask)
    }
}

/// An ethertype by tc's name where it has one (`ip`, `arp`, `mpls_uc`), else `0x` hex.
struct EthertypeText(u16);

impl fmt::Display for EthertypeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match tc_words::ethertype_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

fn write_port(f: &mut fmt::Formatter<'_>, p: PortMatch) -> fmt::Result {
    match p {
        PortMatch::Masked(m) => write_masked(f, m.value.into(), m.mask.into(), 0xffff),
        PortMatch::Range { lo, hi } => write!(f, "{lo}-{hi}"),
    }
}

fn write_ip_flags(f: &mut fmt::Formatter<'_>, m: Masked<u8>) -> fmt::Result {
    let mut words = Vec::new();
    for (bit, yes, no) in [(IP_FLAG_FRAG, "frag", "nofrag"), (IP_FLAG_FIRSTFRAG, "firstfrag", "nofirstfrag")] {
        if m.mask & bit != 0 {
            words.push(if m.value & bit != 0 { yes } else { no });
        }
    }
    f.write_str(&words.join("/"))
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Drop => f.write_str("drop"),
            Action::Pass => f.write_str("pass"),
            Action::Fwd(port) => write!(f, "fwd {port}"),
            Action::Reflect => f.write_str("reflect"),
            Action::Jump(to) => write!(f, "jump {to}"),
            Action::Redirect(dev) => write!(f, "mirred egress redirect dev {dev}"),
            Action::Encap(spec) => write!(f, "encap {spec}"),
            Action::Decap => f.write_str("decap"),
            Action::TtlDec => f.write_str("ttl-dec"),
            Action::Vlan(vlan) => write!(f, "{vlan}"),
            Action::Mpls(mpls) => write!(f, "{mpls}"),
            Action::TunnelKey(tunnel) => write!(f, "{tunnel}"),
            // `pipe` said: without a control word tc's pedit and csum pass (end the list).
            Action::Pedit(pedit) => write!(f, "{pedit} pipe"),
            Action::Csum(flags) => {
                f.write_str("csum")?;
                for bit in (0..8).map(|i| 1u8 << i).filter(|bit| flags & bit != 0) {
                    match CSUM_WORDS.iter().find(|(_, b)| *b == bit) {
                        Some((word, _)) => write!(f, " {word}")?,
                        None => write!(f, " {bit:#x}")?,
                    }
                }
                f.write_str(" pipe")
            }
            Action::Mirror(dev) => write!(f, "mirred egress mirror dev {dev}"),
            Action::Blockcast { block, redirect } => {
                write!(f, "mirred egress {} blockid {block}", if *redirect { "redirect" } else { "mirror" })
            }
            Action::Continue => f.write_str("continue"),
            Action::Goto(chain) => write!(f, "goto chain {chain}"),
            Action::Gate(gate) => write!(f, "{gate}"),
            Action::Police(police) => {
                f.write_str("police")?;
                match police.rate {
                    // Bits, as tc reads a bare rate; bytes, as it reads a bare size.
                    Some(PoliceRate::Bytes { per_second, burst }) => {
                        write!(f, " rate {}bit burst {burst}", u128::from(per_second) * 8)?
                    }
                    Some(PoliceRate::Packets { per_second, burst }) => {
                        write!(f, " pkts_rate {per_second} pkts_burst {burst}")?
                    }
                    None => {}
                }
                if let Some(mtu) = police.mtu {
                    write!(f, " mtu {mtu}")?;
                }
                // A control with a number (`goto chain N`, `jump N`) needs tc's spaced form.
                if matches!(police.exceed, Control::Goto(_) | Control::Jump(_))
                    || matches!(police.conform, Control::Goto(_) | Control::Jump(_))
                {
                    write!(f, " conform-exceed {} / {}", police.exceed, police.conform)?;
                } else {
                    write!(f, " conform-exceed {}/{}", police.exceed, police.conform)?;
                }
                if let Some(index) = police.index {
                    write!(f, " index {index}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Gate {
    /// As tc reads it back: what differs from tc's defaults, times in ns (a bare number),
    /// IPV and MAXOCTETS where either is not the wildcard, the control word unless `pipe`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("gate")?;
        if let Some(index) = self.index {
            write!(f, " index {index}")?;
        }
        if self.clock != GateClock::Tai {
            write!(f, " clockid CLOCK_{}", self.clock.name())?;
        }
        for (word, ns) in [
            ("base-time", self.base_time as i128),
            ("cycle-time", self.cycle_time as i128),
            ("cycle-time-ext", self.cycle_time_ext as i128),
        ] {
            if ns != 0 {
                write!(f, " {word} {ns}")?;
            }
        }
        if self.priority != -1 {
            write!(f, " priority {}", self.priority)?;
        }
        if self.flags != 0 {
            write!(f, " flags {:#x}", self.flags)?;
        }
        for e in &self.entries {
            write!(f, " sched-entry {} {}", if e.open { "open" } else { "close" }, e.interval)?;
            if e.ipv != -1 || e.max_octets.is_some() {
                write!(f, " {} {}", e.ipv, e.max_octets.map_or(-1, i64::from))?;
            }
        }
        if self.control != Control::Pipe {
            write!(f, " {}", self.control)?;
        }
        Ok(())
    }
}

impl fmt::Display for Pedit {
    /// As tc reads it back (without the control word): values in the form p_*.c reads them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.extended { "pedit ex" } else { "pedit" })?;
        for munge in &self.munges {
            write!(f, " {munge}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Munge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (header, field) = self.field.words();
        write!(f, "munge {header} {field} ")?;
        let bytes = self.value.to_be_bytes();
        match self.cmd {
            PeditCmd::Invert => f.write_str("invert")?,
            cmd => {
                f.write_str(if cmd == PeditCmd::Set { "set " } else { "add " })?;
                match self.field.width() {
                    6 => {
                        let m = &bytes[10..];
                        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])?
                    }
                    16 => write!(f, "{}", std::net::Ipv6Addr::from(self.value))?,
                    4 => write!(f, "{}", std::net::Ipv4Addr::from(self.value as u32))?,
                    _ => write!(f, "{}", self.value)?,
                }
            }
        }
        if self.retain != self.field.full_retain() {
            write!(f, " retain {:#x}", self.retain)?;
        }
        Ok(())
    }
}

impl fmt::Display for VlanAction {
    /// As the rule language (and tc) reads it back: protocol only when not 802.1Q,
    /// priority only where it was given or is not 0.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mode, tpid, vid, prio) = match *self {
            VlanAction::Pop => return f.write_str("vlan pop"),
            VlanAction::Push { tpid, vid, prio } => ("push", tpid, vid, (prio != 0).then_some(prio)),
            VlanAction::Modify { tpid, vid, prio } => ("modify", tpid, vid, prio),
        };
        write!(f, "vlan {mode} id {vid}")?;
        if tpid != VLAN_TPIDS[0] {
            write!(f, " protocol {}", tc_words::ethertype_name(tpid).unwrap_or("802.1ad"))?;
        }
        if let Some(prio) = prio {
            write!(f, " priority {prio}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MplsAction {
    /// As the rule language (and tc) reads it back: push's protocol only when not
    /// `mpls_uc`, its TC and TTL only when not the defaults; numbers in decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (label, tc, ttl, bos) = match *self {
            MplsAction::DecTtl => return f.write_str("mpls dec_ttl"),
            MplsAction::Pop { proto } => {
                return match tc_words::ethertype_name(proto) {
                    Some(name) => write!(f, "mpls pop protocol {name}"),
                    None => write!(f, "mpls pop protocol {proto:#06x}"),
                };
            }
            MplsAction::Push { proto, label, tc, ttl, bos } => {
                f.write_str("mpls push")?;
                if proto != ETHERTYPE_MPLS[0] {
                    f.write_str(" protocol mpls_mc")?;
                }
                (Some(label), (tc != 0).then_some(tc), (ttl != 255).then_some(ttl), bos)
            }
            MplsAction::Modify { label, tc, ttl, bos } => {
                f.write_str("mpls modify")?;
                (label, tc, ttl, bos)
            }
        };
        let fields =
            [("label", label), ("tc", tc.map(u32::from)), ("ttl", ttl.map(u32::from)), ("bos", bos.map(u32::from))];
        for (word, value) in fields {
            if let Some(value) = value {
                write!(f, " {word} {value}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TunnelKey {
    /// As the rule language (and tc) reads it back: what was given, numbers in decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TunnelKey::Set(set) = self else { return f.write_str("tunnel_key unset") };
        write!(f, "tunnel_key set src_ip {} dst_ip {}", set.src_ip, set.dst_ip)?;
        let numbers = [("id", set.id), ("dst_port", set.dst_port.map(u32::from))];
        let bytes = [("tos", set.tos), ("ttl", set.ttl)];
        for (word, value) in numbers.into_iter().chain(bytes.map(|(w, v)| (w, v.map(u32::from)))) {
            if let Some(value) = value {
                write!(f, " {word} {value}")?;
            }
        }
        if !set.csum {
            f.write_str(" nocsum")?;
        }
        Ok(())
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Control::Pipe => f.write_str("pipe"),
            Control::Drop => f.write_str("drop"),
            Control::Pass => f.write_str("pass"),
            Control::Continue => f.write_str("continue"),
            Control::Goto(chain) => write!(f, "goto chain {chain}"),
            Control::Jump(to) => write!(f, "jump {to}"),
        }
    }
}

/// A native line (always with its `prio`) that [`parse`] reads back as the same rule, apart
/// from `line` and `action_col`. Not written: `ip_flags` bits other than frag/firstfrag, an
/// `ip_flags` with an empty mask (it matches everything).
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Hook::Egress { dev } = &self.hook {
            if let Some(dev) = dev {
                write!(f, "dev {dev} ")?;
            }
            f.write_str("egress ")?;
        }
        write!(f, "prio {}", self.prio)?;
        if self.chain != 0 {
            write!(f, " chain {}", self.chain)?;
        }
        match self.protocol {
            Protocol::All => {}
            Protocol::Ipv4 => f.write_str(" protocol ip")?,
            Protocol::Ipv6 => f.write_str(" protocol ipv6")?,
            Protocol::Vlan => f.write_str(" protocol 802.1q")?,
            Protocol::Ether(id) => write!(f, " protocol {}", EthertypeText(id))?,
        }
        let k = &self.keys;
        if let Some(dev) = k.indev {
            write!(f, " indev {}", dev.name())?;
        }
        if let Some(n) = k.num_of_vlans {
            write!(f, " num_of_vlans {n}")?;
        }
        if let Some(m) = k.src_mac {
            f.write_str(" src_mac ")?;
            write_masked_mac(f, m)?;
        }
        if let Some(m) = k.dst_mac {
            f.write_str(" dst_mac ")?;
            write_masked_mac(f, m)?;
        }
        if let Some(id) = k.vlan_id {
            write!(f, " vlan_id {id}")?;
        }
        if let Some(prio) = k.vlan_prio {
            write!(f, " vlan_prio {prio}")?;
        }
        if k.cvlan {
            f.write_str(" vlan_ethtype 802.1q")?;
        }
        if let Some(id) = k.cvlan_id {
            write!(f, " cvlan_id {id}")?;
        }
        if let Some(prio) = k.cvlan_prio {
            write!(f, " cvlan_prio {prio}")?;
        }
        if let Some(id) = k.eth_type {
            // After a TPID, the ethertype after the tags is the customer tag's.
            let word = if k.cvlan { "cvlan_ethtype" } else { "vlan_ethtype" };
            write!(f, " {word} {}", EthertypeText(id))?;
        }
        for (word, value) in [("mpls_label", k.mpls_label), ("mpls_tc", k.mpls_tc.map(u32::from))] {
            if let Some(v) = value {
                write!(f, " {word} {v}")?;
            }
        }
        for (word, value) in [("mpls_bos", k.mpls_bos), ("mpls_ttl", k.mpls_ttl)] {
            if let Some(v) = value {
                write!(f, " {word} {v}")?;
            }
        }
        if let Some(lses) = &k.mpls_lses {
            f.write_str(" mpls")?;
            for (i, lse) in lses.iter().enumerate().filter(|(_, lse)| lse.used) {
                write!(f, " lse depth {}", i + 1)?;
                let fields = [("label", lse.label), ("tc", lse.tc.map(u32::from))];
                let more = [("bos", lse.bos.map(u32::from)), ("ttl", lse.ttl.map(u32::from))];
                for (word, value) in fields.into_iter().chain(more) {
                    if let Some(v) = value {
                        write!(f, " {word} {v}")?;
                    }
                }
            }
        }
        if let Some(sid) = k.pppoe_sid {
            write!(f, " pppoe_sid {sid}")?;
        }
        if let Some(proto) = k.ppp_proto {
            match ppp_proto_name(proto) {
                Some(name) => write!(f, " ppp_proto {name}")?,
                None => write!(f, " ppp_proto {proto:#06x}")?,
            }
        }
        if k.cfm_mdl.is_some() || k.cfm_op.is_some() {
            f.write_str(" cfm")?;
            for (word, value) in [("mdl", k.cfm_mdl), ("op", k.cfm_op)] {
                if let Some(v) = value {
                    write!(f, " {word} {v}")?;
                }
            }
        }
        for (word, prefix) in [("arp_sip", k.arp_sip), ("arp_tip", k.arp_tip)] {
            if let Some(p) = prefix {
                write!(f, " {word} ")?;
                write_prefix(f, p)?;
            }
        }
        if let Some(m) = k.arp_op {
            f.write_str(" arp_op ")?;
            write_masked_dec(f, m)?;
        }
        for (word, mac) in [("arp_sha", k.arp_sha), ("arp_tha", k.arp_tha)] {
            if let Some(m) = mac {
                write!(f, " {word} ")?;
                write_masked_mac(f, m)?;
            }
        }
        if let Some(proto) = k.ip_proto {
            // tc reads an ip_proto number in hex.
            match ip_proto_name(proto) {
                Some(name) => write!(f, " ip_proto {name}")?,
                None => write!(f, " ip_proto {proto:#x}")?,
            }
        }
        if let Some(p) = k.src_ip {
            f.write_str(" src_ip ")?;
            write_prefix(f, p)?;
        }
        if let Some(p) = k.dst_ip {
            f.write_str(" dst_ip ")?;
            write_prefix(f, p)?;
        }
        if let Some(p) = k.src_port {
            f.write_str(" src_port ")?;
            write_port(f, p)?;
        }
        if let Some(p) = k.dst_port {
            f.write_str(" dst_port ")?;
            write_port(f, p)?;
        }
        if let Some(m) = k.ip_tos {
            f.write_str(" ip_tos ")?;
            write_masked(f, m.value.into(), m.mask.into(), 0xff)?;
        }
        if let Some(m) = k.ip_ttl {
            f.write_str(" ip_ttl ")?;
            write_masked(f, m.value.into(), m.mask.into(), 0xff)?;
        }
        if let Some(m) = k.tcp_flags {
            // The field has 12 bits: a mask over 16 (Masked::exact) means the same as 0xfff.
            // tc reads tcp_flags (value and mask) in hex.
            let (value, mask) = (m.value & 0xfff, m.mask & 0xfff);
            if mask == 0xfff {
                write!(f, " tcp_flags {value:#x}")?;
            } else {
                write!(f, " tcp_flags {value:#x}/{mask:#x}")?;
            }
        }
        if let Some(sid) = k.l2tpv3_sid {
            write!(f, " l2tpv3_sid {sid}")?;
        }
        for (word, masked) in [("type", k.icmp_type), ("code", k.icmp_code)] {
            if let Some(m) = masked {
                write!(f, " {word} ")?;
                write_masked_dec(f, m)?;
            }
        }
        if let Some(m) = k.ip_flags {
            if m.mask & (IP_FLAG_FRAG | IP_FLAG_FIRSTFRAG) != 0 {
                f.write_str(" ip_flags ")?;
                write_ip_flags(f, m)?;
            }
        }
        if let Some(id) = k.enc_key_id {
            write!(f, " enc_key_id {id}")?;
        }
        if let Some(p) = k.enc_src_ip {
            f.write_str(" enc_src_ip ")?;
            write_prefix(f, p)?;
        }
        if let Some(p) = k.enc_dst_ip {
            f.write_str(" enc_dst_ip ")?;
            write_prefix(f, p)?;
        }
        if let Some(port) = k.enc_dst_port {
            write!(f, " enc_dst_port {port}")?;
        }
        for (word, masked) in [("enc_tos", k.enc_tos), ("enc_ttl", k.enc_ttl)] {
            if let Some(m) = masked {
                write!(f, " {word} ")?;
                write_masked(f, m.value.into(), m.mask.into(), 0xff)?;
            }
        }
        for action in &self.actions {
            write!(f, " action {action}")?;
        }
        Ok(())
    }
}

/// One line per rule, in file order (a native rules file).
impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for rule in &self.rules {
            writeln!(f, "{rule}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classbench::parse_trace;
    use crate::classifier::Classifier;
    use crate::key::PacketKey;
    use crate::lex::{MAX_LINE_BYTES, MAX_TOKEN_BYTES};
    use crate::linear::Linear;
    use crate::rule::GateEntry;
    use crate::rule::PeditField;
    use crate::rule::TunnelSet;
    use crate::rule::MPLS_LABEL_IMPLICIT_NULL;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn rules(text: &str) -> Vec<Rule> {
        match parse("r.rules", text) {
            Ok(set) => set.rules,
            Err(errors) => panic!("unexpected errors: {errors:?}"),
        }
    }

    fn keys(line: &str) -> Keys {
        rules(line).remove(0).keys
    }

    fn errors(text: &str) -> Vec<String> {
        match parse("r.rules", text) {
            Ok(set) => panic!("expected errors, got {set:?}"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    /// The single error of a one-line file.
    fn error(line: &str) -> String {
        let all = errors(line);
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].clone()
    }

    #[test]
    fn every_key_good() {
        let k = keys("src_mac 02:00:00:00:00:01 action drop");
        assert_eq!(k.src_mac, Some(Masked::<u64>::new(0x0200_0000_0001, MAC_BITS)));
        let k = keys("dst_mac 02:00:00:00:ab:CD/ff:ff:ff:00:00:00 action drop");
        assert_eq!(k.dst_mac, Some(Masked::<u64>::new(0x0200_0000_abcd, 0xffff_ff00_0000)));
        let k = keys("dst_mac 02:00:00:00:ab:cd/24 action drop");
        assert_eq!(k.dst_mac, Some(Masked::<u64>::new(0x0200_0000_0000, 0xffff_ff00_0000)));
        assert_eq!(keys("vlan_id 4095 action drop").vlan_id, Some(4095));
        // tc reads VLAN ids in decimal only (f_flower.c `get_u16(.., 10)`).
        assert_eq!(keys("vlan_id 010 action drop").vlan_id, Some(10));
        assert_eq!(keys("vlan_prio 7 action drop").vlan_prio, Some(7));
        for (name, proto) in
            // Numbers in hex, as tc reads them: 47 is 0x47; abbreviations as tc's `matches`.
            [
                ("tcp", 6),
                ("udp", 17),
                ("sctp", 132),
                ("icmp", 1),
                ("icmpv6", 58),
                ("47", 0x47),
                ("0xff", 255),
                ("2f", 47),
                ("u", 17),
                ("esp", 50),
            ]
        {
            assert_eq!(keys(&format!("ip_proto {name} action drop")).ip_proto, Some(proto), "{name}");
        }
        assert_eq!(keys("src_ip 10.1.2.3/8 action drop").src_ip, Some(Prefix::v4([10, 0, 0, 0], 8)));
        assert_eq!(keys("src_ip 10.1.2.3 action drop").src_ip, Some(Prefix::v4([10, 1, 2, 3], 32)));
        assert_eq!(keys("dst_ip 10.1.2.3/255.255.0.0 action drop").dst_ip, Some(Prefix::v4([10, 1, 0, 0], 16)));
        let v6: Ipv6Addr = "2001:db8::".parse().unwrap();
        assert_eq!(keys("dst_ip 2001:db8::1/32 action drop").dst_ip, Some(Prefix::v6(v6.octets(), 32)));
        assert_eq!(keys("dst_ip 2001:db8:: action drop").dst_ip, Some(Prefix::v6(v6.octets(), 128)));
        let k = keys("ip_proto tcp src_port 80 dst_port 0x50/0xfff0 action drop");
        assert_eq!(k.src_port, Some(PortMatch::exact(80)));
        assert_eq!(k.dst_port, Some(PortMatch::Masked(Masked::<u16>::new(0x50, 0xfff0))));
        let k = keys("ip_proto udp dst_port 1024-65535 action drop");
        assert_eq!(k.dst_port, Some(PortMatch::Range { lo: 1024, hi: 65535 }));
        let k = keys("ip_proto sctp dst_port 9 action drop");
        assert_eq!(k.dst_port, Some(PortMatch::exact(9)));
        assert_eq!(keys("ip_tos 0x10 action drop").ip_tos, Some(Masked::<u8>::exact(0x10)));
        assert_eq!(keys("ip_tos 0x10/0xfc action drop").ip_tos, Some(Masked::<u8>::new(0x10, 0xfc)));
        assert_eq!(keys("ip_ttl 1 action drop").ip_ttl, Some(Masked::<u8>::exact(1)));
        // The value decimal (else hex), the mask hex: f_flower.c `flower_parse_ip_tos_ttl`.
        assert_eq!(keys("ip_ttl 40/ff action drop").ip_ttl, Some(Masked::<u8>::new(40, 0xff)));
        assert_eq!(keys("ip_tos 9/08 action drop").ip_tos, Some(Masked::<u8>::new(8, 8)));
        assert_eq!(keys("ip_tos 1f action drop").ip_tos, Some(Masked::<u8>::exact(0x1f)));
        // tcp_flags in hex, value and mask: 10 is 0x10 (ACK).
        assert_eq!(keys("ip_proto tcp tcp_flags 10/12 action drop").tcp_flags, Some(Masked::<u16>::new(0x10, 0x12)));
        assert_eq!(keys("ip_proto tcp tcp_flags 0x02/0x12 action drop").tcp_flags, Some(Masked::<u16>::new(2, 0x12)));
        assert_eq!(keys("ip_proto tcp tcp_flags 0x02 action drop").tcp_flags, Some(Masked::<u16>::new(2, 0xfff)));
        let frag = IP_FLAG_FRAG;
        let first = IP_FLAG_FIRSTFRAG;
        assert_eq!(keys("ip_flags frag action drop").ip_flags, Some(Masked::<u8>::new(frag, frag)));
        assert_eq!(keys("ip_flags nofrag action drop").ip_flags, Some(Masked::<u8>::new(0, frag)));
        assert_eq!(
            keys("ip_flags frag/firstfrag action drop").ip_flags,
            Some(Masked::<u8>::new(frag | first, frag | first))
        );
        assert_eq!(keys("ip_flags frag/nofirstfrag action drop").ip_flags, Some(Masked::<u8>::new(frag, frag | first)));
        assert_eq!(keys("ip_flags nofirstfrag action drop").ip_flags, Some(Masked::<u8>::new(0, first)));
        assert_eq!(keys("enc_key_id 4294967295 action drop").enc_key_id, Some(u32::MAX));
        assert_eq!(keys("enc_src_ip 192.0.2.1 action drop").enc_src_ip, Some(Prefix::v4([192, 0, 2, 1], 32)));
        assert_eq!(keys("enc_dst_ip 2001:db8::/32 action drop").enc_dst_ip, Some(Prefix::v6(v6.octets(), 32)));
        assert_eq!(keys("enc_dst_port 4789 action drop").enc_dst_port, Some(4789));
    }

    #[test]
    fn keys_beyond_the_five_tuple_as_tc_reads_them() {
        let rule = |line: &str| rules(line).remove(0);
        // protocol: any ethertype, by lib/ll_proto.c's name or as `get_be16(.., 0)` reads it.
        for (text, protocol) in [
            ("arp", Protocol::Ether(0x0806)),
            ("RARP", Protocol::Ether(0x8035)),
            ("0x8847", Protocol::Ether(0x8847)),
            ("mpls_mc", Protocol::Ether(0x8848)),
            ("lldp", Protocol::Ether(0x88cc)),
            ("0x88F7", Protocol::Ether(0x88f7)),
            ("ipv4", Protocol::Ipv4),
            ("2048", Protocol::Ipv4),
        ] {
            assert_eq!(rule(&format!("protocol {text} action drop")).protocol, protocol, "{text}");
        }
        let k = keys("protocol arp arp_sip 10.0.0.0/8 arp_tip 10.0.0.1 arp_op request arp_sha 02:00:00:00:00:01/24 arp_tha 02:00:00:00:00:02 action drop");
        assert_eq!((k.arp_sip, k.arp_tip), (Some(Prefix::v4([10, 0, 0, 0], 8)), Some(Prefix::v4([10, 0, 0, 1], 32))));
        assert_eq!(k.arp_op, Some(Masked::<u8>::exact(1)));
        assert_eq!(k.arp_sha, Some(Masked::<u64>::new(0x0200_0000_0001, 0xffff_ff00_0000)));
        assert_eq!(k.arp_tha, Some(Masked::<u64>::new(0x0200_0000_0002, MAC_BITS)));
        // flower_parse_u8: the value by name or decimal, the mask decimal too.
        assert_eq!(keys("protocol rarp arp_op reply/255 action drop").arp_op, Some(Masked::<u8>::exact(2)));
        assert_eq!(keys("protocol arp arp_op 2/10 action drop").arp_op, Some(Masked::<u8>::new(2, 10)));
        let k = keys("protocol mpls_uc mpls_label 1048575 mpls_tc 7 mpls_bos 1 mpls_ttl 255 action drop");
        assert_eq!((k.mpls_label, k.mpls_tc, k.mpls_bos, k.mpls_ttl), (Some(0xf_ffff), Some(7), Some(1), Some(255)));
        // CFM: `cfm` then `mdl`/`op` (exact words), decimal; under a tag by vlan_ethtype.
        let k = keys("protocol cfm cfm mdl 7 op 255 action drop");
        assert_eq!((k.cfm_mdl, k.cfm_op), (Some(7), Some(255)));
        let k = keys("tc filter add dev eth0 ingress protocol cfm pref 1 flower cfm op 1 mdl 5 action ok");
        assert_eq!((k.cfm_mdl, k.cfm_op), (Some(5), Some(1)));
        let k = keys("protocol 802.1q vlan_ethtype cfm cfm op 3 action drop");
        assert_eq!((k.eth_type, k.cfm_mdl, k.cfm_op), (Some(0x8902), None, Some(3)));
        let r = rule("protocol cfm cfm action drop");
        assert_eq!((r.protocol, r.keys.cfm_mdl, r.keys.cfm_op), (Protocol::Ether(0x8902), None, None));
        // L2TPv3: the session id decimal, under ip_proto l2tp (IPv4 or IPv6).
        let k = keys("protocol ip ip_proto l2tp l2tpv3_sid 4294967295 action drop");
        assert_eq!((k.ip_proto, k.l2tpv3_sid), (Some(115), Some(u32::MAX)));
        assert_eq!(keys("l2tpv3_sid 0 protocol ipv6 ip_proto 73 action drop").l2tpv3_sid, Some(0));
        // PPPoE: the session id decimal; ppp_proto by lib/ppp_proto.c's names (any case) or
        // a number with C's prefixes; after `ppp_proto ip` the IP keys are the session's.
        let r = rule("protocol ppp_ses pppoe_sid 65535 ppp_proto IP dst_ip 127.0.0.1 action drop");
        assert_eq!(
            (r.protocol, r.keys.pppoe_sid, r.keys.ppp_proto),
            (Protocol::Ether(0x8864), Some(0xffff), Some(0x21))
        );
        assert_eq!(r.keys.dst_ip, Some(Prefix::v4([127, 0, 0, 1], 32)));
        let k = keys("protocol 802.1q vlan_id 2 vlan_ethtype ppp_ses ppp_proto 0x57 src_ip 2001:db8::1 action drop");
        assert_eq!((k.eth_type, k.ppp_proto, k.src_ip.map(|p| p.family)), (Some(0x8864), Some(0x57), Some(Family::V6)));
        assert_eq!(keys("protocol ppp_ses ppp_proto lcp action drop").ppp_proto, Some(0xc021));
        assert_eq!(keys("protocol ppp_ses ppp_proto 33 action drop").ppp_proto, Some(0x21));
        let k = keys("protocol ppp_ses ppp_proto mpls_uc mpls_label 5 action drop");
        assert_eq!((k.ppp_proto, k.mpls_label), (Some(0x281), Some(5)));
        // QinQ: a TPID inside the outer tag announces the customer tag.
        let r = rule("protocol 802.1ad vlan_id 1000 vlan_ethtype 802.1q cvlan_id 100 cvlan_prio 3 cvlan_ethtype ipv4 action drop");
        assert_eq!(r.protocol, Protocol::Vlan);
        assert_eq!(
            (r.keys.cvlan, r.keys.cvlan_id, r.keys.cvlan_prio, r.keys.eth_type),
            (true, Some(100), Some(3), Some(0x0800))
        );
        let k = keys("protocol 802.1q vlan_ethtype 0x800 vlan_id 100 src_ip 10.0.0.1 action drop");
        assert_eq!((k.cvlan, k.eth_type, k.vlan_id), (false, Some(0x0800), Some(100)));
        let k = keys("num_of_vlans 2 cvlan_ethtype 0x800 action drop");
        assert_eq!((k.num_of_vlans, k.eth_type), (Some(2), Some(0x0800)));
        // ICMP type and code: decimal, an optional decimal mask (`128/240`).
        let k = keys("protocol ipv6 ip_proto icmpv6 type 128/240 code 0 action drop");
        assert_eq!((k.icmp_type, k.icmp_code), (Some(Masked::<u8>::new(128, 240)), Some(Masked::<u8>::exact(0))));
        // enc_tos / enc_ttl as ip_tos / ip_ttl: the value decimal (else hex), the mask hex.
        let k = keys("enc_tos 0x30 enc_ttl 63/f0 action drop");
        assert_eq!((k.enc_tos, k.enc_ttl), (Some(Masked::<u8>::exact(0x30)), Some(Masked::<u8>::new(63, 0xf0))));
        let k = keys("indev eth0 action drop");
        assert_eq!(k.indev.map(|d| (d.name().to_string(), d.port)), Some(("eth0".to_string(), Indev::UNRESOLVED)));
        // Each prints as a line that reads back as the same rule.
        for line in [
            "protocol arp arp_sip 10.0.0.0/8 arp_op 2/10 arp_tha 02:00:00:00:00:02/ff:00:00:00:00:00 action drop",
            "protocol 0x88cc action drop",
            "protocol 802.1ad vlan_id 1000 vlan_ethtype 802.1q cvlan_id 100 cvlan_ethtype ipv6 action drop",
            "protocol 802.1q vlan_ethtype 0x1234 action drop",
            "num_of_vlans 2 cvlan_ethtype 0x800 action drop",
            "protocol mpls_mc mpls_label 5 mpls_bos 0 action drop",
            "protocol cfm cfm mdl 3 action drop",
            "protocol ipv6 ip_proto l2tp l2tpv3_sid 1234 action drop",
            "protocol ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1 src_ip 127.0.0.2 action drop",
            "protocol 802.1q vlan_ethtype ppp_ses ppp_proto 0x1234 action drop",
            "protocol ppp_ses pppoe_sid 0 action drop",
            "protocol cfm cfm op 47 mdl 0 action drop",
            "protocol ip ip_proto icmp type 8 code 0/3 indev dut0 enc_tos 4/fc action drop",
        ] {
            let first = rule(line);
            let again = rule(&first.to_string());
            assert_eq!(Rule { line: 1, action_col: 0, ..again }, Rule { action_col: 0, ..first }, "{line}");
        }
    }

    #[test]
    fn every_key_bad() {
        let cases = [
            ("src_mac 02:00:00:00:00 action drop", "r.rules:1:9: src_mac expects a MAC address aa:bb:cc:dd:ee:ff, optionally /MASK or /LEN, found '02:00:00:00:00'"),
            ("dst_mac 02:00:00:00:00:0g action drop", "r.rules:1:9: dst_mac expects a MAC address aa:bb:cc:dd:ee:ff, optionally /MASK or /LEN, found '02:00:00:00:00:0g'"),
            ("dst_mac 02:00:00:00:00:01/49 action drop", "r.rules:1:9: dst_mac prefix length 49 is out of range 0..=48"),
            ("vlan_id 5000 action drop", "r.rules:1:9: vlan_id 5000 is out of range 0..=4095"),
            ("vlan_id ten action drop", "r.rules:1:9: vlan_id expects a decimal number (tc reads it in base 10), found 'ten'"),
            ("vlan_prio 8 action drop", "r.rules:1:11: vlan_prio 8 is out of range 0..=7"),
            ("ip_proto tcpp action drop", "r.rules:1:10: ip_proto expects tcp, udp, sctp, icmp, icmpv6, l2tp, esp, ah or a hex number (tc reads 17 as 0x17), found 'tcpp'"),
            ("ip_proto 100 action drop", "r.rules:1:10: ip_proto 100 (0x100 = 256 to tc, which reads it in hex) is out of range 0..=0xff"),
            ("ip_proto 0x100 action drop", "r.rules:1:10: ip_proto 0x100 is out of range 0..=0xff"),
            ("ip_proto udplite action drop", "r.rules:1:10: ip_proto expects tcp, udp, sctp, icmp, icmpv6, l2tp, esp, ah or a hex number (tc reads 17 as 0x17), found 'udplite'"),
            ("vlan_id 0x10 action drop", "r.rules:1:9: vlan_id expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("src_ip 10.0.0.256 action drop", "r.rules:1:8: src_ip expects an IPv4 or IPv6 address, optionally /LEN, found '10.0.0.256'"),
            ("dst_ip 10.0.0.0/33 action drop", "r.rules:1:8: dst_ip prefix length 33 is out of range 0..=32"),
            ("dst_ip 2001:db8::/129 action drop", "r.rules:1:8: dst_ip prefix length 129 is out of range 0..=128"),
            ("dst_ip 10.0.0.0/255.0.255.0 action drop", "r.rules:1:8: dst_ip mask 255.0.255.0 is not a contiguous netmask like 255.255.255.0"),
            ("ip_proto tcp src_port 65536 action drop", "r.rules:1:23: src_port 65536 is out of range 0..=65535"),
            ("ip_proto tcp dst_port 90-80 action drop", "r.rules:1:23: dst_port range 90-80 is empty (the low end is above the high end)"),
            ("ip_proto tcp dst_port 80/0x1ffff action drop", "r.rules:1:23: dst_port mask 0x1ffff is out of range 0..=65535"),
            ("ip_tos 0x100 action drop", "r.rules:1:8: ip_tos 0x100 is out of range 0..=0xff"),
            ("ip_ttl 1/x action drop", "r.rules:1:8: ip_ttl mask expects a hexadecimal number (tc reads it in base 16, 0x optional), found 'x'"),
            ("ip_proto tcp tcp_flags 0x1000 action drop", "r.rules:1:24: tcp_flags 0x1000 is out of range 0..=0xfff"),
            ("ip_flags frag/frag action drop", "r.rules:1:10: ip_flags frag/frag says frag twice"),
            ("ip_flags fragment action drop", "r.rules:1:10: ip_flags expects frag, nofrag, firstfrag or nofirstfrag (two joined by '/'), found 'fragment'"),
            ("enc_key_id 4294967296 action drop", "r.rules:1:12: enc_key_id 4294967296 is out of range 0..=4294967295"),
            ("enc_src_ip foo action drop", "r.rules:1:12: enc_src_ip expects an IPv4 or IPv6 address, optionally /LEN, found 'foo'"),
            ("enc_dst_ip 1.2.3.4/40 action drop", "r.rules:1:12: enc_dst_ip prefix length 40 is out of range 0..=32"),
            ("enc_dst_port -1 action drop", "r.rules:1:14: enc_dst_port expects a decimal number (tc reads it in base 10), found '-1'"),
            ("prio x action drop", "r.rules:1:6: prio expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
            ("protocol arpp action drop", "r.rules:1:10: protocol expects ip, ipv6, 802.1q, 802.1ad, all, another ethertype name of tc's (arp, mpls_uc, ...) or a number, found 'arpp'"),
            ("proto 0x10000 action drop", "r.rules:1:7: protocol expects ip, ipv6, 802.1q, 802.1ad, all, another ethertype name of tc's (arp, mpls_uc, ...) or a number, found '0x10000' ('proto' is tc's abbreviation of protocol)"),
            ("protocol arp arp_op 3 action drop", "r.rules:1:21: arp_op expects request, reply or 0..=2, found '3'"),
            ("protocol arp arp_sip 2001:db8::1 action drop", "r.rules:1:22: arp_sip expects an IPv4 address, optionally /LEN, found '2001:db8::1'"),
            ("protocol mpls_uc mpls_label 1048576 action drop", "r.rules:1:29: mpls_label 1048576 is out of range 0..=1048575"),
            ("protocol mpls_uc mpls_bos 2 action drop", "r.rules:1:27: mpls_bos 2 is out of range 0..=1"),
            ("protocol mpls_uc mpls_tc 0x1 action drop", "r.rules:1:26: mpls_tc expects a decimal number (tc reads it in base 10), found '0x1'"),
            ("protocol 802.1q vlan_ethtype nonsense action drop", "r.rules:1:30: vlan_ethtype expects an ethertype: a name of tc's (ip, ipv6, arp, 802.1q, mpls_uc, ...) or a number (0x hex), found 'nonsense'"),
            ("indev a/b action drop", "r.rules:1:7: indev expects an interface name (1 to 15 bytes, no '/' or white space, as tc's check_ifname), found 'a/b'"),
            ("indev abcdefghijklmnop action drop", "r.rules:1:7: indev expects an interface name (1 to 15 bytes, no '/' or white space, as tc's check_ifname), found 'abcdefghijklmnop'"),
            ("ip 1 action drop", "r.rules:1:4: ip_flags expects frag, nofrag, firstfrag or nofirstfrag (two joined by '/'), found '1' ('ip' is tc's abbreviation of ip_flags)"),
        ];
        for (line, want) in cases {
            assert_eq!(error(line), want, "{line}");
        }
    }

    #[test]
    fn every_error_kind_with_its_position() {
        let cases = [
            ("ip_proto tcp dst_prot 80 action drop", "r.rules:1:14: unknown key 'dst_prot' (did you mean dst_port?)"),
            ("frobnicate 1 action drop", "r.rules:1:1: unknown key 'frobnicate'"),
            ("ip_proto udp", "r.rules:1:13: missing action (expected `action drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec`)"),
            ("src_ip 1.2.3.4   # no action", "r.rules:1:15: missing action (expected `action drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec`)"),
            ("src_ip 1.2.3.4 src_ip 1.2.3.5 action drop", "r.rules:1:16: duplicate key src_ip"),
            ("prio 1 pref 2 action drop", "r.rules:1:8: duplicate key prio"),
            ("src_ip action drop", "r.rules:1:1: missing value for src_ip (expected an IPv4 or IPv6 address, optionally /LEN)"),
            ("src_ip dst_ip 1.2.3.4 action drop", "r.rules:1:1: missing value for src_ip (expected an IPv4 or IPv6 address, optionally /LEN)"),
            ("action", "r.rules:1:1: missing action after 'action' (expected drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec)"),
            ("action dorp", "r.rules:1:8: unknown action 'dorp' (did you mean drop?) (expected drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec)"),
            ("action fwd", "r.rules:1:8: missing port for fwd (expected the dataplane port number, 0-based)"),
            ("action fwd eth1", "r.rules:1:12: fwd port expects a number (decimal or 0x hex), found 'eth1'"),
            ("action fwd 70000", "r.rules:1:12: fwd port 70000 is out of range 0..=65535"),
            ("action encap   ", "r.rules:1:8: missing tunnel spec for encap (expected e.g. vxlan,src=IP,dst=IP,vni=N)"),
            ("action drop src_ip 1.2.3.4", "r.rules:1:13: unexpected 'src_ip' after the action (keys go before the actions)"),
            ("action drop action", "r.rules:1:13: missing action after 'action' (expected drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec)"),
            ("action goto 1", "r.rules:1:13: goto needs `chain N`"),
            ("action police rate 1mbit conform-exceed drop", "r.rules:1:8: police: 'rate' requires 'burst' (the bucket's depth) (as tc/m_police.c requires)"),
            ("action police rate 1mbit burst 1k", "r.rules:1:8: police: without conform-exceed, tc's exceed action is reclassify, which is not supported: write conform-exceed drop[/pipe]"),
            ("action police rate fast burst 1k conform-exceed drop", "r.rules:1:20: police rate expects a rate as tc reads it (e.g. 50mbit, 1gbit, 100kbps; a bare number is bit/s), found 'fast'"),
            ("action skbedit mark 1", "r.rules:1:8: action 'skbedit' is not supported here: skbedit sets socket-buffer fields (priority, mark, queue) that frames here do not have"),
            ("dst_port 80 action drop", "r.rules:1:1: dst_port needs ip_proto tcp, udp or sctp (as in flower)"),
            ("ip_proto icmp src_port 80 action drop", "r.rules:1:15: src_port needs ip_proto tcp, udp or sctp (as in flower), not icmp"),
            ("ip_proto udp tcp_flags 2 action drop", "r.rules:1:14: tcp_flags needs ip_proto tcp (as in flower), not udp"),
            ("protocol ip dst_ip 2001:db8::1 action drop", "r.rules:1:20: dst_ip is an IPv6 address but the rule says `protocol ip`"),
            ("protocol ipv6 src_ip 10.0.0.1 action drop", "r.rules:1:22: src_ip is an IPv4 address but the rule says `protocol ipv6`"),
            ("src_ip 10.0.0.1 dst_ip ::1 action drop", "r.rules:1:24: dst_ip is an IPv6 address but src_ip is IPv4: no packet has both"),
            ("enc_src_ip ::1 enc_dst_ip 10.0.0.1 action drop", "r.rules:1:27: enc_dst_ip is an IPv4 address but enc_src_ip is IPv6: no packet has both"),
            ("chain x action drop", "r.rules:1:7: chain expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
            ("icmp_type 8 action drop", "r.rules:1:1: unknown key 'icmp_type' (flower spells ICMP's type and code `type` and `code`)"),
            ("type 8 action drop", "r.rules:1:1: type needs `protocol ip` with `ip_proto icmp`, or `protocol ipv6` with `ip_proto icmpv6` (as in flower) (the rule has no protocol)"),
            ("protocol ipv6 ip_proto icmp code 0 action drop", "r.rules:1:29: code needs `protocol ip` with `ip_proto icmp`, or `protocol ipv6` with `ip_proto icmpv6` (as in flower), not ipv6"),
            ("arp_op request action drop", "r.rules:1:1: arp_op needs `protocol arp` or `rarp` (as in flower) (the rule has no protocol)"),
            ("protocol ip mpls_ttl 1 action drop", "r.rules:1:13: mpls_ttl needs `protocol mpls_uc` or `mpls_mc` (as in flower), not ip"),
            ("protocol arp ip_proto tcp action drop", "r.rules:1:14: ip_proto needs an IP protocol (ip or ipv6) (as in flower), not arp"),
            ("protocol ip vlan_ethtype ip action drop", "r.rules:1:13: vlan_ethtype needs `protocol 802.1q` or `802.1ad`, or num_of_vlans 1 or more (as in flower)"),
            ("protocol 802.1q vlan_ethtype ip cvlan_id 3 action drop", "r.rules:1:33: cvlan_id needs `vlan_ethtype 802.1q` or `802.1ad`, or num_of_vlans 2 or more (as in flower)"),
            ("protocol 802.1q vlan_ethtype ip dst_ip 2001:db8::1 action drop", "r.rules:1:40: dst_ip is an IPv6 address but the rule says `protocol ip`"),
            ("protocol ip mpls lse depth 1 label 0 action drop", "r.rules:1:13: mpls needs `protocol mpls_uc` or `mpls_mc` (as in flower), not ip"),
            ("protocol mpls_uc mpls action drop", "r.rules:1:18: mpls needs `lse depth N [label L] [tc T] [bos B] [ttl T]` (as f_flower.c reads it)"),
            ("protocol mpls_uc mpls lse label 1 action drop", "r.rules:1:23: mpls lse needs its depth (depth 1..=7, as f_flower.c requires)"),
            ("protocol mpls_uc mpls lse depth 0 action drop", "r.rules:1:33: mpls lse depth counts from 1 (the top entry) to 7"),
            ("protocol mpls_uc mpls lse depth 8 action drop", "r.rules:1:33: mpls lse depth 8 is out of range 0..=7"),
            ("protocol mpls_uc mpls lse depth 2 lse depth 2 action drop", "r.rules:1:45: mpls lse depth 2 is named twice"),
            ("protocol mpls_uc mpls lse depth 1 label 1048576 action drop", "r.rules:1:41: mpls lse label 1048576 is out of range 0..=1048575"),
            ("protocol mpls_uc mpls lse depth 1 tc 0x1 action drop", "r.rules:1:38: mpls lse tc expects a decimal number (tc reads it in base 10), found '0x1'"),
            ("protocol ip ip_proto udp l2tpv3_sid 1 action drop", "r.rules:1:26: l2tpv3_sid needs ip_proto l2tp (as in flower), not udp"),
            ("protocol ip l2tpv3_sid 1 action drop", "r.rules:1:13: l2tpv3_sid needs ip_proto l2tp (as in flower)"),
            ("ip_proto l2tp l2tpv3_sid 4294967296 action drop", "r.rules:1:26: l2tpv3_sid 4294967296 is out of range 0..=4294967295"),
            ("ip_proto l2tp l2tpv3_sid 0x10 action drop", "r.rules:1:26: l2tpv3_sid expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("ip_proto l2tp l2tpv3_sid 1 l2tpv3_sid 2 action drop", "r.rules:1:28: duplicate key l2tpv3_sid"),
            ("protocol arp ip_proto l2tp l2tpv3_sid 1 action drop", "r.rules:1:14: ip_proto needs an IP protocol (ip or ipv6) (as in flower), not arp"),
            ("protocol ip pppoe_sid 1 action drop", "r.rules:1:13: pppoe_sid needs `protocol ppp_ses` (or `vlan_ethtype ppp_ses`) (as in flower), not ip"),
            ("protocol 802.1q ppp_proto ip action drop", "r.rules:1:17: ppp_proto needs `protocol ppp_ses` (or `vlan_ethtype ppp_ses`) (as in flower) (the rule has no protocol)"),
            ("protocol ppp_ses pppoe_sid 65536 action drop", "r.rules:1:28: pppoe_sid 65536 is out of range 0..=65535"),
            ("protocol ppp_ses pppoe_sid 0x10 action drop", "r.rules:1:28: pppoe_sid expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("protocol ppp_ses ppp_proto ipv4 action drop", "r.rules:1:28: ppp_proto expects ip (tc's usage text says ipv4, but lib/ppp_proto.c names IPv4 `ip` and tc refuses ipv4), found 'ipv4'"),
            ("protocol ppp_ses ppp_proto ipx6 action drop", "r.rules:1:28: ppp_proto expects ip, ipv6, mpls_uc, mpls_mc, lcp, ... (lib/ppp_proto.c's names) or a number, found 'ipx6'"),
            ("protocol ppp_ses ppp_proto 0x10000 action drop", "r.rules:1:28: ppp_proto 0x10000 is out of range 0..=65535"),
            ("protocol ppp_ses dst_ip 10.0.0.1 action drop", "r.rules:1:18: dst_ip needs an IP protocol (ip or ipv6) (as in flower), not ppp_ses"),
            ("protocol ppp_ses ppp_proto lcp dst_ip 10.0.0.1 action drop", "r.rules:1:32: dst_ip needs an IP protocol (ip or ipv6) (as in flower), not ppp_ses"),
            ("protocol ppp_ses ppp_proto ipv6 dst_ip 10.0.0.1 action drop", "r.rules:1:40: dst_ip is an IPv4 address but the rule says `protocol ppp_ses ... ppp_proto ipv6`"),
            ("protocol ppp_ses ppp_proto ip mpls_label 1 action drop", "r.rules:1:31: mpls_label needs `protocol mpls_uc` or `mpls_mc` (as in flower), not ip"),
            ("protocol ip cfm mdl 1 action drop", "r.rules:1:13: cfm needs `protocol cfm` (as in flower), not ip"),
            ("cfm op 1 action drop", "r.rules:1:1: cfm needs `protocol cfm` (as in flower) (the rule has no protocol)"),
            ("protocol cfm cfm mdl 8 action drop", "r.rules:1:22: cfm mdl 8 is out of range 0..=7"),
            ("protocol cfm cfm op 256 action drop", "r.rules:1:21: cfm op 256 is out of range 0..=255"),
            ("protocol cfm cfm op 0x1 action drop", "r.rules:1:21: cfm op expects a decimal number (tc reads it in base 10), found '0x1'"),
            ("protocol cfm cfm mdl 1 mdl 2 action drop", "r.rules:1:24: cfm mdl is named twice"),
            ("protocol cfm cfm mdl 1 cfm op 2 action drop", "r.rules:1:24: duplicate key cfm"),
            ("protocol cfm cfm mdl", "r.rules:1:21: cfm mdl needs a value"),
            ("protocol mpls_uc mpls_ttl 3 mpls lse depth 2 ttl 4 action drop", "r.rules:1:18: mpls_ttl and `mpls lse` cannot be combined (the kernel refuses both): write the top entry as `lse depth 1`"),
        ];
        for (line, want) in cases {
            assert_eq!(error(line), want, "{line}");
        }
    }

    #[test]
    fn all_errors_of_a_file_at_once_and_nothing_applied() {
        let text = "\
# a file with good and bad lines
prio 1 ip_proto tcp dst_port 80 action drop
vlan_id 5000 action drop
ip_proto udp dst_port 53 action pass

src_ip 1.2.3.4 src_ip 5.6.7.8 action drop
ip_proto tcp
vlan_id 4096 vlan_prio 9 action fwd x
";
        assert_eq!(
            errors(text),
            [
                "r.rules:3:9: vlan_id 5000 is out of range 0..=4095",
                "r.rules:6:16: duplicate key src_ip",
                "r.rules:7:13: missing action (expected `action drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec`)",
                "r.rules:8:9: vlan_id 4096 is out of range 0..=4095",
                "r.rules:8:24: vlan_prio 9 is out of range 0..=7",
                "r.rules:8:37: fwd port expects a number (decimal or 0x hex), found 'x'",
            ]
        );
    }

    #[test]
    fn actions() {
        let actions: Vec<Action> = rules(
            "action drop\naction pass\naction ok\naction fwd 3\naction reflect\naction decap\naction ttl-dec\n\
             action gact drop\naction gact ok\naction shot\n\
             action encap vxlan,src=10.0.0.1,dst=10.0.0.2,vni=42   # comment\n",
        )
        .into_iter()
        .map(|r| r.actions[0].clone())
        .collect();
        assert_eq!(
            actions,
            [
                Action::Drop,
                Action::Pass,
                Action::Pass,
                Action::Fwd(3),
                Action::Reflect,
                Action::Decap,
                Action::TtlDec,
                Action::Drop,
                Action::Pass,
                Action::Drop,
                Action::Encap("vxlan,src=10.0.0.1,dst=10.0.0.2,vni=42".to_string()),
            ]
        );
    }

    #[test]
    fn mpls_actions_as_tc_reads_them() {
        let lists: Vec<Vec<Action>> = rules(
            "action mpls push protocol mpls_uc label 123 action mirred egress redirect dev eth1\n\
             action mpls pop protocol ipv4\n\
             action mpls pu pr mpls_mc l 0x10 t 5 tt 010 b 1 pipe action mpls p pr mpls_uc action mpls m tt 9 drop\n\
             action mpls dec_ttl action mpls d continue\n\
             action mpls modify label 1048575 bos 0 action fwd 1\n",
        )
        .into_iter()
        .map(|r| r.actions)
        .collect();
        let push = |proto, label, tc, ttl, bos| Action::Mpls(MplsAction::Push { proto, label, tc, ttl, bos });
        let modify = |label, tc, ttl, bos| Action::Mpls(MplsAction::Modify { label, tc, ttl, bos });
        assert_eq!(
            lists,
            [
                vec![push(0x8847, 123, 0, 255, None), Action::Redirect("eth1".into())],
                vec![Action::Mpls(MplsAction::Pop { proto: 0x0800 })],
                vec![
                    push(0x8848, 16, 5, 8, Some(1)),
                    Action::Mpls(MplsAction::Pop { proto: 0x8847 }),
                    modify(None, None, Some(9), None),
                    Action::Drop,
                ],
                vec![Action::Mpls(MplsAction::DecTtl), Action::Mpls(MplsAction::DecTtl), Action::Continue],
                vec![modify(Some(0xf_ffff), None, None, Some(0)), Action::Fwd(1)],
            ]
        );
        // Printed back as it reads.
        for line in [
            "mpls push label 123",
            "mpls push protocol mpls_mc label 0 tc 7 ttl 1 bos 0",
            "mpls pop protocol ip",
            "mpls pop protocol teb",
            "mpls pop protocol 0x1234",
            "mpls modify label 5 ttl 64",
            "mpls modify",
            "mpls dec_ttl",
        ] {
            assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
        }
        for (line, message) in [
            ("action mpls", "r.rules:1:8: mpls needs pop, push, modify or dec_ttl (tc/m_mpls.c)"),
            ("action mpls push", "r.rules:1:13: mpls push: label needs to be set (as tc/m_mpls.c requires)"),
            ("action mpls pop", "r.rules:1:13: mpls pop: protocol needs to be set (as tc/m_mpls.c requires): the ethertype of what follows the entry"),
            ("action mpls pop push", "r.rules:1:17: mpls: unexpected 'push': the action is already `pop`"),
            ("action mpls label 5 push", "r.rules:1:13: mpls label is only valid for push and modify (after the word)"),
            ("action mpls pop label 5", "r.rules:1:17: mpls label is only valid for push and modify (after the word)"),
            ("action mpls dec_ttl ttl 5", "r.rules:1:21: mpls ttl is only valid for push and modify (after the word)"),
            ("action mpls modify protocol ip", "r.rules:1:20: mpls protocol is only valid for push and pop (after the word)"),
            ("action mpls push label", "r.rules:1:18: mpls label needs a value"),
            ("action mpls push label 1048576", "r.rules:1:24: mpls label 1048576 is out of range 0..=1048575"),
            ("action mpls push label 3", "r.rules:1:24: mpls label 3: 3 is the implicit null label, never sent (RFC 3032 §2.1); act_mpls refuses it"),
            ("action mpls push label x", "r.rules:1:24: mpls label expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
            ("action mpls push label 1 tc 8", "r.rules:1:29: mpls tc 8 is out of range 0..=7"),
            ("action mpls push label 1 ttl 0", "r.rules:1:30: mpls ttl must be >0 and <=255 (as tc/m_mpls.c requires), found '0'"),
            ("action mpls push label 1 ttl 256", "r.rules:1:30: mpls ttl 256 is out of range 0..=255"),
            ("action mpls modify bos 2", "r.rules:1:24: mpls bos 2 is out of range 0..=1"),
            ("action mpls push protocol ip label 1", "r.rules:1:27: mpls push protocol expects mpls_uc or mpls_mc (as tc/m_mpls.c requires), found 'ip'"),
            ("action mpls pop protocol 0x0004", "r.rules:1:26: mpls pop protocol 0x0004 is not an ethertype (act_mpls wants 0x0600 or more)"),
            ("action mpls pop protocol nosuch", "r.rules:1:26: mpls protocol expects an ethertype name or number (as tc reads it), found 'nosuch'"),
            ("action mpls mac_push label 1", "r.rules:1:13: mpls mac_push: a label stack in front of the Ethernet header is not supported (it needs vlan pop_eth first, and frames here always have one)"),
            ("action mpls index 5", "r.rules:1:13: mpls index: an action shared by index is not supported (write the action out)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
    }

    #[test]
    fn vlan_actions_as_tc_reads_them() {
        let lists: Vec<Vec<Action>> = rules(
            "action vlan pop\n\
             action vlan push id 100 priority 5\n\
             action vlan push id 0x64 protocol 0x88a8\n\
             action vlan p action vlan pu pr 802.1AD i 10 pipe action vlan m id 300 action fwd 1\n\
             action vlan modify priority 7 id 11 drop\n",
        )
        .into_iter()
        .map(|r| r.actions)
        .collect();
        let push = |tpid, vid, prio| Action::Vlan(VlanAction::Push { tpid, vid, prio });
        assert_eq!(
            lists,
            [
                vec![Action::Vlan(VlanAction::Pop)],
                vec![push(0x8100, 100, 5)],
                vec![push(0x88a8, 100, 0)],
                vec![
                    Action::Vlan(VlanAction::Pop),
                    push(0x88a8, 10, 0),
                    Action::Vlan(VlanAction::Modify { tpid: 0x8100, vid: 300, prio: None }),
                    Action::Fwd(1),
                ],
                vec![Action::Vlan(VlanAction::Modify { tpid: 0x8100, vid: 11, prio: Some(7) }), Action::Drop],
            ]
        );
        // Printed back as it reads.
        for line in [
            "vlan pop",
            "vlan push id 100 priority 5",
            "vlan push id 100 protocol 802.1ad",
            "vlan modify id 0 priority 0",
        ] {
            assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
        }
        for (line, message) in [
            ("action vlan push", "r.rules:1:13: vlan push: id needs to be set (as tc/m_vlan.c requires)"),
            ("action vlan push id 4095", "r.rules:1:21: vlan id 4095 is out of range 0..=4094"),
            ("action vlan modify id 1 priority 8", "r.rules:1:34: vlan priority 8 is out of range 0..=7"),
            ("action vlan push id 1 protocol ip", "r.rules:1:32: vlan protocol expects 802.1q or 802.1ad (as act_vlan accepts), found 'ip'"),
            ("action vlan id 1", "r.rules:1:13: vlan id is only valid for push or modify (after the word)"),
            ("action vlan pop push", "r.rules:1:17: vlan: unexpected 'push': the action is already `pop`"),
            ("action vlan pop_eth", "r.rules:1:13: vlan pop_eth: removing or adding the Ethernet header itself is not supported (frames here always have one)"),
            ("action vlan", "r.rules:1:8: vlan needs pop, push or modify (tc/m_vlan.c)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
    }

    #[test]
    fn pedit_and_csum_as_tc_reads_them() {
        let munge = |field, cmd, value, retain: Option<u32>| {
            let retain = retain.unwrap_or(PeditField::full_retain(field));
            Munge { field, cmd, value, retain }
        };
        let pedit = |extended, munges: Vec<Munge>| Action::Pedit(Pedit { extended, munges });
        use PeditCmd::{Add, Invert, Set};
        use PeditField::*;
        let lists: Vec<Vec<Action>> = rules(
            "action pedit ex munge ip ttl add 0xff pipe action mirred egress redirect dev veth0\n\
             action pedit ex munge eth dst set 11:22:33:44:55:66 munge ip6 src set 2001:db8::1 munge udp dport set 888\n\
             action pedit munge ip tos set 4 retain 0xfc pipe action csum ip tcp\n\
             action pedit e mu ip dst s 10.0.0.1 mu tcp sport se 010 mu ip6 hoplimit d mu tcp flags invert drop\n\
             action pedit munge ip sport set 0x50 munge ip dsf clear munge ip ttl preserve continue\n\
             action csum iph and udp or + sctp pass\n",
        )
        .into_iter()
        .map(|r| r.actions)
        .collect();
        let ip6 = u128::from("2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(
            lists,
            [
                vec![pedit(true, vec![munge(IpTtl, Add, 0xff, None)]), Action::Redirect("veth0".into())],
                vec![
                    pedit(
                        true,
                        vec![
                            munge(EthDst, Set, 0x1122_3344_5566, None),
                            munge(Ip6Src, Set, ip6, None),
                            munge(UdpDport, Set, 888, None)
                        ]
                    ),
                    Action::Pass
                ],
                vec![pedit(false, vec![munge(IpTos, Set, 4, Some(0xfc))]), Action::Csum(1 | 8), Action::Pass],
                vec![
                    pedit(
                        true,
                        vec![
                            munge(IpDst, Set, 0x0a00_0001, None),
                            munge(TcpSport, Set, 8, None),
                            munge(Ip6HopLimit, Add, 0xff, None),
                            munge(TcpFlags, Invert, 0, None)
                        ]
                    ),
                    Action::Drop
                ],
                vec![
                    pedit(
                        false,
                        vec![
                            munge(IpSport, Set, 0x50, None),
                            munge(IpTos, Set, 0, None),
                            munge(IpTtl, Set, 0, Some(0))
                        ]
                    ),
                    Action::Continue
                ],
                vec![Action::Csum(1 | 16 | 64), Action::Pass],
            ]
        );
        // Printed back so that it reads the same (pedit and csum with `pipe`: tc's default is pass).
        for line in [
            "pedit ex munge ip ttl add 255 munge eth src set aa:bb:cc:dd:ee:0f pipe",
            "pedit munge ip tos set 2 retain 0xfc munge ip dst set 1.1.1.1 pipe",
            "pedit ex munge ip6 dst set 2001:db8::2 munge ip6 hoplimit add 255 munge tcp flags invert pipe",
            "csum iph tcp udp pipe",
        ] {
            assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
        }
        for (line, message) in [
            ("action pedit", "r.rules:1:8: pedit needs `munge HEADER FIELD set|add|... VALUE` (tc/m_pedit.c)"),
            ("action pedit ex munge", "r.rules:1:17: pedit munge needs a header (eth, ip, ip6, tcp or udp) and field"),
            ("action pedit ex munge offset 10 u8 clear", "r.rules:1:23: pedit munge offset (raw bytes from the IP header) is not supported: a raw write can change lengths, protocols or checksums this dataplane keeps right; name the field (munge ip ttl ...)"),
            ("action pedit ex munge arp op set 1", "r.rules:1:23: pedit munge arp is not a header tc's pedit knows (expected eth, ip, ip6, tcp, udp or offset)"),
            ("action pedit munge eth src set 11:22:33:44:55:66", "r.rules:1:20: pedit munge eth needs `pedit ex` (tc/p_eth.c)"),
            ("action pedit ex munge ip", "r.rules:1:23: pedit munge ip needs a field"),
            ("action pedit ex munge ip ttl", "r.rules:1:26: pedit munge ip ttl needs set, add, decrement, clear, invert or preserve"),
            ("action pedit ex munge ip ttl sub 1", "r.rules:1:30: pedit munge ip ttl: expected set, add, decrement, clear, invert or preserve, found 'sub'"),
            ("action pedit ex munge ip hlim set 1", "r.rules:1:26: pedit munge ip: unknown field 'hlim' (expected src, dst, tos, dsfield, ttl)"),
            ("action pedit ex munge ip protocol set 6", "r.rules:1:26: pedit munge ip protocol is not supported: it changes how the packet is read"),
            ("action pedit ex munge ip6 flow_lbl set 1", "r.rules:1:27: pedit munge ip6 flow_lbl is not supported: not carried out here"),
            ("action pedit ex munge eth type set 0x800", "r.rules:1:27: pedit munge eth type is not supported: it changes how the frame is read"),
            ("action pedit ex munge ip dport set 80", "r.rules:1:26: pedit ex munge ip dport: a field outside the IP header is named by its own header in pedit ex (munge tcp|udp dport) (tc/p_ip.c)"),
            ("action pedit munge ip ttl add 1", "r.rules:1:27: pedit munge ip ttl add needs `pedit ex` (without it tc only sets)"),
            ("action pedit ex munge ip tos decrement", "r.rules:1:30: pedit munge ip tos: decrement is for ttl and hoplimit only (tc/p_ip.c, p_ip6.c)"),
            ("action pedit ex munge eth dst add 1", "r.rules:1:31: pedit munge eth dst add: a 48-bit add is not supported (tc adds to each 32-bit word apart)"),
            ("action pedit ex munge ip ttl set", "r.rules:1:30: pedit munge ip ttl set needs a value"),
            ("action pedit ex munge ip ttl set 256", "r.rules:1:34: pedit munge ip ttl set 256 is out of range 0..=255"),
            ("action pedit ex munge udp dport set 65536", "r.rules:1:37: pedit munge udp dport set 65536 is out of range 0..=65535"),
            ("action pedit ex munge ip src set 1.2.3", "r.rules:1:34: pedit munge ip src set expects an IPv4 address, found '1.2.3'"),
            ("action pedit ex munge ip6 dst set 1.2.3.4", "r.rules:1:35: pedit munge ip6 dst set expects an IPv6 address, found '1.2.3.4'"),
            ("action pedit ex munge eth src set 11:22", "r.rules:1:35: pedit munge eth src set expects a MAC address aa:bb:cc:dd:ee:ff, found '11:22'"),
            ("action pedit ex munge ip tos set 1 retain", "r.rules:1:36: pedit munge ip tos: retain needs a mask"),
            ("action pedit ex munge ip tos set 1 retain 0x1ff", "r.rules:1:43: pedit munge ip tos retain 0x1ff is out of range 0..=255"),
            ("action pedit ex munge ip6 src set ::1 retain 0xff", "r.rules:1:39: pedit munge ip6 src: retain is not supported for fields longer than 32 bits (as tc says)"),
            ("action csum udplite", "r.rules:1:13: csum udplite: UDP-Lite checksums are not kept by this dataplane's rewrites"),
            ("action csum", "r.rules:1:8: csum needs what to update (e.g. csum iph tcp udp) (tc/m_csum.c)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
    }

    #[test]
    fn tunnel_key_as_tc_reads_it() {
        let lists: Vec<Vec<Action>> = rules(
            "action tunnel_key set src_ip 11.11.0.1 dst_ip 11.11.0.2 id 11 action mirred egress redirect dev vxlan0\n\
             action tunnel_key unset pipe action fwd 1\n\
             action tunnel_key s sr 2001:db8::1 ds 2001:db8::2 dst_p 6081 i 16777215 t 0x30 tt ff c no_percpu action drop\n\
             action tunnel_key n src_ip 10.0.0.1 set dst_ip 10.0.0.2 ttl 9 tos 30 nofrag drop\n\
             action tunnel_key u\n",
        )
        .into_iter()
        .map(|r| r.actions)
        .collect();
        let set = |src: &str, dst: &str| TunnelSet {
            src_ip: src.parse().unwrap(),
            dst_ip: dst.parse().unwrap(),
            id: None,
            dst_port: None,
            tos: None,
            ttl: None,
            csum: true,
        };
        let geneve = TunnelSet {
            id: Some(0xff_ffff),
            dst_port: Some(6081),
            tos: Some(0x30),
            ttl: Some(0xff),
            ..set("2001:db8::1", "2001:db8::2")
        };
        let plain = TunnelSet { tos: Some(30), ttl: Some(9), csum: false, ..set("10.0.0.1", "10.0.0.2") };
        assert_eq!(
            lists,
            [
                vec![
                    Action::TunnelKey(TunnelKey::Set(TunnelSet { id: Some(11), ..set("11.11.0.1", "11.11.0.2") })),
                    Action::Redirect("vxlan0".into())
                ],
                vec![Action::TunnelKey(TunnelKey::Unset), Action::Fwd(1)],
                vec![Action::TunnelKey(TunnelKey::Set(geneve)), Action::Drop],
                vec![Action::TunnelKey(TunnelKey::Set(plain)), Action::Drop],
                vec![Action::TunnelKey(TunnelKey::Unset)],
            ]
        );
        assert!(geneve.is_geneve() && !plain.is_geneve());
        assert_eq!((geneve.udp_port(), plain.udp_port()), (6081, 4789));
        // Printed back as it reads.
        for line in [
            "tunnel_key unset",
            "tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2",
            "tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 id 100 dst_port 4789 tos 48 ttl 0 nocsum",
            "tunnel_key set src_ip 2001:db8::1 dst_ip 2001:db8::2 dst_port 6081",
        ] {
            assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
        }
        for (line, message) in [
            ("action tunnel_key", "r.rules:1:8: tunnel_key needs set or unset (tc/m_tunnel_key.c)"),
            ("action tunnel_key set", "r.rules:1:19: tunnel_key set needs src_ip and dst_ip (as tc/m_tunnel_key.c requires)"),
            ("action tunnel_key set src_ip 1.1.1.1 id 1", "r.rules:1:19: tunnel_key set needs src_ip and dst_ip (as tc/m_tunnel_key.c requires)"),
            ("action tunnel_key set unset", "r.rules:1:23: tunnel_key: unexpected 'unset': the action is already `set`"),
            ("action tunnel_key unset id 1", "r.rules:1:25: tunnel_key unset takes no id (only set does)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 2001:db8::1", "r.rules:1:45: tunnel_key: src_ip and dst_ip must both be IPv4 or both IPv6 (as act_tunnel_key requires)"),
            ("action tunnel_key set src_ip 1.1.1 dst_ip 1.1.1.2", "r.rules:1:30: tunnel_key src_ip expects an IPv4 or IPv6 address, found '1.1.1'"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 id 16777216", "r.rules:1:56: tunnel_key id 16777216 is out of range 0..=16777215 (a VNI is 24 bits: RFC 7348 §5)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 id 0x10", "r.rules:1:56: tunnel_key id expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 dst_port 65536", "r.rules:1:62: tunnel_key dst_port 65536 is out of range 0..=65535"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 tos 0x100", "r.rules:1:57: tunnel_key tos 0x100 is out of range 0..=0xff"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 ttl", "r.rules:1:53: tunnel_key ttl needs a value"),
            ("action tunnel_key set src_ip 2001:db8::1 nocsum dst_ip 2001:db8::2", "r.rules:1:42: tunnel_key nocsum over IPv6: a zero UDP checksum is not sent over IPv6 here (RFC 8200 §8.1)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 geneve_opts 0102:80:00800022", "r.rules:1:53: tunnel_key geneve_opts: Geneve options (RFC 8926 §3.5) are not built here; Geneve goes without options (dst_port 6081)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 vxlan_opts 65793", "r.rules:1:53: tunnel_key vxlan_opts: the VXLAN Group Policy extension is not built here; VXLAN goes as RFC 7348 has it"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 erspan_opts 1:2:0:0", "r.rules:1:53: tunnel_key erspan_opts: ERSPAN (over GRE) tunnels are not built by tunnel_key here; tunnel_key builds VXLAN or Geneve"),
            ("action tunnel_key h", "r.rules:1:19: tunnel_key help prints tc's usage; it is no action"),
            ("action tunnel_key unset nofra", "r.rules:1:25: unexpected 'nofra' after the action (keys go before the actions)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
    }

    #[test]
    fn warnings_where_tc_reads_a_number_otherwise() {
        let text = "ip_proto 17 action drop\nip_proto udp dst_port 53 action drop\nprio 010 ip_proto tcp tcp_flags 12 action pass\n";
        let (set, notes) = parse_noted("r.rules", text, &no_check).unwrap();
        assert_eq!(set.rules[0].keys.ip_proto, Some(0x17));
        let notes: Vec<String> = notes.iter().map(ToString::to_string).collect();
        assert_eq!(
            notes,
            [
                "r.rules:1:10: warning: ip_proto 17 is 0x17 (23) to tc, which reads it in hex; for UDP write udp",
                "r.rules:3:6: warning: prio 010 is octal to tc (8)",
                "r.rules:3:33: warning: tcp_flags 12 is 0x12 (18) to tc, which reads it in hex",
            ]
        );
    }

    #[test]
    fn jump_counts_actions_as_tc_does() {
        let r = rules("action vlan pop continue action jump 2 action fwd 1\naction police mtu 100 conform-exceed jump 2 / goto chain 4 action drop action pass\n");
        // tc's actions: vlan pop + continue (0), jump 2 (1), fwd 1 (2): jump 2 skips two, to
        // the fwd, list position 3.
        assert_eq!(r[0].actions, [Action::Vlan(VlanAction::Pop), Action::Continue, Action::Jump(3), Action::Fwd(1)]);
        let Action::Police(police) = &r[1].actions[0] else { panic!() };
        assert_eq!((police.exceed, police.conform), (Control::Jump(2), Control::Goto(4)));
        assert_eq!(
            r[1].to_string(),
            "prio 1 action police mtu 100 conform-exceed jump 2 / goto chain 4 action drop action pass"
        );
        let cases = [
            ("action jump x", "r.rules:1:13: jump expects a decimal number (tc reads it in base 10), found 'x'"),
            ("action jump", "r.rules:1:12: jump needs the count of actions to skip"),
            (
                "action police mtu 100 conform-exceed jump 1 / nope action drop",
                "r.rules:1:47: conform-exceed expects control words (drop, pass/ok, pipe, continue, goto chain N, jump N), found 'nope'",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(error(line), want, "{line}");
        }
    }

    #[test]
    fn mirred_blockid_is_a_blockcast() {
        let r = rules(
            "tc filter add block 22 protocol ip pref 25 flower dst_ip 10.10.10.10/32 action mirred egress redirect blockid 22\n\
             action mirred egress mirror blockid 0x10 pipe action drop\n",
        );
        assert_eq!(r[0].actions, [Action::Blockcast { block: 22, redirect: true }]);
        assert_eq!(r[1].actions, [Action::Blockcast { block: 16, redirect: false }, Action::Drop]);
        assert_eq!(
            r[1].to_string(),
            "prio 25 action mirred egress mirror blockid 16 action drop",
            "prio as the line before"
        );
        assert!(r[0].single_action().is_none(), "the kernel emitters leave it to the dataplane");
        let cases = [
            ("action mirred egress mirror blockid 0", "r.rules:1:37: mirred blockid 0 is no block (blocks are numbered from 1)"),
            ("action mirred egress mirror blockid", "r.rules:1:29: mirred blockid needs the block's number (1..=4294967295)"),
            ("action mirred egress mirror blockid x", "r.rules:1:37: mirred blockid expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
        ];
        for (line, want) in cases {
            assert_eq!(error(line), want, "{line}");
        }
    }

    #[test]
    fn police_index_shares_one_definition() {
        let r = rules(
            "ip_proto udp action police rate 1mbit burst 10k conform-exceed drop/pipe i 7 action pass\n\
             ip_proto tcp action police index 7 action fwd 1\n",
        );
        let (Action::Police(first), Action::Police(second)) = (&r[0].actions[0], &r[1].actions[0]) else { panic!() };
        assert_eq!((first, first.index), (second, Some(7)), "the reference takes the definition");
        let printed = "prio 1 ip_proto tcp action police rate 1000000bit burst 10240 conform-exceed drop/pipe index 7 action fwd 1";
        assert_eq!(r[1].to_string(), printed);
        let cases = [
            ("action police index 3 action pass", "r.rules:1:1: police index 3: no rule of this file defines it (give one rule its rate and burst, or mtu, with index 3)"),
            ("action police index 3 conform-exceed drop action pass", "r.rules:1:8: police index 3 alone shares a policer: its verdicts are those of the rule that defines it, give them there"),
            ("action police index x", "r.rules:1:21: police index expects a decimal number (tc reads it in base 10), found 'x'"),
        ];
        for (line, want) in cases {
            assert_eq!(error(line), want, "{line}");
        }
        let twice = "action police mtu 1500 conform-exceed drop index 3 action pass\n\
                     action police mtu 1400 conform-exceed drop index 3 action pass\n";
        assert_eq!(errors(twice), ["r.rules:2:1: police index 3 is defined again, otherwise than at line 1 (tc would keep that one): write `police index 3` alone to share it"]);
    }

    #[test]
    fn gate_reads_as_tc_m_gate_c() {
        let entry = |open, interval, ipv, max_octets| GateEntry { open, interval, ipv, max_octets };
        let gate = |r: &Rule| match &r.actions[0] {
            Action::Gate(gate) => gate.clone(),
            other => panic!("{other:?}"),
        };
        // The man page's line: times with units, -1 the wildcard IPV, 8000000b a size.
        let r = rules("action gate index 2 clockid CLOCK_TAI base-time 200000000000ns sched-entry open 200000000ns -1 8000000b sched-entry close 100000000ns\n");
        assert_eq!(
            gate(&r[0]),
            Gate {
                index: Some(2),
                clock: GateClock::Tai,
                base_time: 200_000_000_000,
                cycle_time: 0,
                cycle_time_ext: 0,
                priority: -1,
                flags: 0,
                entries: vec![entry(true, 200_000_000, -1, Some(8_000_000)), entry(false, 100_000_000, -1, None)],
                control: Control::Pipe,
            }
        );
        assert_eq!((gate(&r[0]).cycle(), r[0].actions.len()), (300_000_000, 1));
        // Abbreviations in m_gate.c's order (`c` is cycle-time, `cl` clockid), CLOSE in any
        // case, the prefix CLOCK_ optional, an interval read as a number first (010 is
        // octal), IPV and MAXOCTETS wildcards on a close entry, 0b no limit, `0` a limit.
        let r = rules("action gate i 5 cl realtime b 1.5s c 2ms cycle-time-e 10us sched-entry CLOSE 010 3 100 sched-entry OPEN 1ms 7 0b sched-entry open 1ms -1 0 drop\n");
        let g = gate(&r[0]);
        assert_eq!(
            (g.index, g.clock, g.base_time, g.cycle_time, g.cycle_time_ext),
            (Some(5), GateClock::Realtime, 1_500_000_000, 2_000_000, 10_000)
        );
        assert_eq!(
            g.entries,
            [entry(false, 8, -1, None), entry(true, 1_000_000, 7, None), entry(true, 1_000_000, -1, Some(0))]
        );
        assert_eq!(g.control, Control::Drop);
        // A lone `gate index N` takes the definition; printed back as it reads.
        let r = rules("action gate index 12 sched-entry close 200000000ns clockid CLOCK_BOOTTIME priority 3 flags 0x1 pass\naction gate index 12 action fwd 1\n");
        assert_eq!(gate(&r[0]), gate(&r[1]));
        let printed = "prio 1 action gate index 12 clockid CLOCK_BOOTTIME priority 3 flags 0x1 sched-entry close 200000000 pass action fwd 1";
        assert_eq!(r[1].to_string(), printed);
        assert_eq!(rules(&format!("{printed}\n"))[0].actions, r[1].actions);
        for (line, message) in [
            ("action gate", "r.rules:1:8: gate: must add at least one sched-entry (as tc/m_gate.c requires)"),
            ("action gate base-time 5", "r.rules:1:8: gate: must add at least one sched-entry (as tc/m_gate.c requires)"),
            ("action gate sched-entry", "r.rules:1:13: gate sched-entry needs open or close, and an interval"),
            ("action gate sched-entry opened 5", "r.rules:1:25: gate sched-entry expects open or close, found 'opened'"),
            ("action gate sched-entry open", "r.rules:1:25: gate sched-entry needs an interval after open or close"),
            ("action gate sched-entry open 0", "r.rules:1:30: gate sched-entry interval 0: act_gate refuses an empty interval"),
            ("action gate sched-entry open 5s", "r.rules:1:30: gate sched-entry interval 5s is too large (at most 4294967295 ns)"),
            ("action gate sched-entry open 5m", "r.rules:1:30: gate sched-entry interval expects a time as tc reads it (e.g. 200ms, 100us; a bare number is ns), found '5m'"),
            ("action gate sched-entry open 5 1 3g", "r.rules:1:34: gate sched-entry maxoctets 3g is too large (at most 2147483647)"),
            ("action gate sched-entry open 5 clockid CLOCK_FOO", "r.rules:1:40: gate clockid expects CLOCK_TAI, CLOCK_REALTIME, CLOCK_BOOTTIME or CLOCK_MONOTONIC, found 'CLOCK_FOO'"),
            ("action gate index x sched-entry open 5", "r.rules:1:19: gate index expects a decimal number 0..=4294967295 (tc reads it in base 10), found 'x'"),
            ("action gate cycle-time -5 sched-entry open 5", "r.rules:1:24: gate cycle-time -5 is negative (act_gate reads it as unsigned ns)"),
            ("action gate base-time soon sched-entry open 5", "r.rules:1:23: gate base-time expects a time as tc reads it (e.g. 200ms, 1.5s, 100us; a bare number is ns), found 'soon'"),
            ("action gate priority high sched-entry open 5", "r.rules:1:22: gate priority expects a 32-bit signed number (decimal, 0x hex or 0-octal), found 'high'"),
            ("action gate sched-entry open 5 help", "r.rules:1:32: gate help: tc prints its usage here and adds nothing"),
            ("action gate sched-entry open 5 8000000b", "r.rules:1:32: unexpected '8000000b' after the action (keys go before the actions)"),
            ("action gate index 3 action pass", "r.rules:1:1: gate index 3: no rule of this file defines it (give one rule its sched-entry list with index 3)"),
            ("action gate index 3 base-time 1 action pass", "r.rules:1:8: gate index 3 alone shares a gate: its schedule and control word are those of the rule that defines it (the kernel binds to it and ignores these), give them there"),
            ("action gate index 3 drop", "r.rules:1:8: gate index 3 alone shares a gate: its schedule and control word are those of the rule that defines it (the kernel binds to it and ignores these), give them there"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
        let twice =
            "action gate index 3 sched-entry open 5 action pass\naction gate index 3 sched-entry open 6 action pass\n";
        assert_eq!(errors(twice), ["r.rules:2:1: gate index 3 is defined again, otherwise than at line 1 (tc would keep that one): write `gate index 3` alone to share it"]);
    }

    #[test]
    fn mpls_lse_matches_entries_by_depth() {
        let r = rules(
            "protocol mpls_uc mpls lse depth 1 label 21 ttl 64 lse depth 2 label 22 bos 1 action drop\n\
             protocol mpls_mc mpls l dep 3 action drop\n",
        );
        let lses = r[0].keys.mpls_lses.expect("lses");
        assert_eq!(lses[0], MplsLse { used: true, label: Some(21), ttl: Some(64), ..MplsLse::default() });
        assert_eq!(lses[1], MplsLse { used: true, label: Some(22), bos: Some(1), ..MplsLse::default() });
        assert!(lses[2..].iter().all(|lse| !lse.used));
        assert_eq!(
            r[0].to_string(),
            "prio 1 protocol mpls_uc mpls lse depth 1 label 21 ttl 64 lse depth 2 label 22 bos 1 action drop"
        );
        assert_eq!(r[1].to_string(), "prio 1 protocol mpls_mc mpls lse depth 3 action drop");
        // RFC 3032 §2.1: label (20 bits), TC (3), S (1), TTL (8).
        let entry = |label: u32, bos: u32, ttl: u32| label << 12 | bos << 8 | ttl;
        let stack = |entries: &[u32]| {
            let mut key = PacketKey { ethertype: 0x8847, has_mpls: true, mpls_lse: entries[0], ..PacketKey::default() };
            key.mpls_entries = entries.len() as u8;
            key.mpls_deeper[..entries.len() - 1].copy_from_slice(&entries[1..]);
            key
        };
        assert!(r[0].matches(&stack(&[entry(21, 0, 64), entry(22, 1, 9)])));
        assert!(!r[0].matches(&stack(&[entry(21, 0, 64), entry(22, 0, 9)])), "bos differs");
        assert!(!r[0].matches(&stack(&[entry(21, 1, 64)])), "no second entry");
        let three = PacketKey { ethertype: 0x8848, ..stack(&[entry(1, 0, 1), entry(2, 0, 1), entry(3, 1, 1)]) };
        assert!(r[1].matches(&three) && !r[1].matches(&PacketKey { ethertype: 0x8848, ..stack(&[entry(1, 1, 1)]) }));
    }

    #[test]
    fn l2tpv3_sid_matches_the_session() {
        let r = rules("protocol ip ip_proto l2tp l2tpv3_sid 1234 action drop\n");
        let l2tp = |has, sid| PacketKey {
            has_l2tpv3: has,
            l2tpv3_sid: sid,
            ..PacketKey::ipv4_5tuple([1; 4], [2; 4], 115, 0, 0)
        };
        assert!(r[0].matches(&l2tp(true, 1234)) && !r[0].matches(&l2tp(true, 1235)));
        assert!(!r[0].matches(&l2tp(false, 1234)), "no header, no session");
        assert_eq!(r[0].to_string(), "prio 1 protocol ip ip_proto l2tp l2tpv3_sid 1234 action drop");
    }

    #[test]
    fn pppoe_keys_match_the_session_as_cls_flower_does() {
        let r = rules(
            "protocol ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1 action drop\n\
             protocol ppp_ses pppoe_sid 7 action drop\n\
             protocol ppp_ses action drop\n\
             protocol ip dst_ip 127.0.0.1 action drop\n\
             protocol 802.1q vlan_ethtype ip action drop\n\
             ip_proto udp dst_port 53 action drop\n",
        );
        let ip = PacketKey { has_l2: true, ..PacketKey::ipv4_5tuple([127, 0, 0, 2], [127, 0, 0, 1], 17, 1, 53) };
        let session = |sid, ppp_proto, ip: PacketKey| PacketKey {
            ethertype: 0x8864,
            has_pppoe: true,
            pppoe_sid: sid,
            ppp_proto,
            ..ip
        };
        let v4 = session(1234, 0x21, ip);
        assert!(r[0].matches(&v4) && !r[0].matches(&session(1235, 0x21, ip)));
        assert!(!r[0].matches(&PacketKey { dst_ip: 9, ..v4 }), "the session's IP");
        assert!(r[1].matches(&session(7, 0x21, ip)) && r[1].matches(&session(7, 0xc021, PacketKey::default())));
        // Without PPPoE keys, `protocol ppp_ses` is the flow dissector's n_proto: a session
        // carrying IP ends on IP, so only the others match (cls_flower.c, fl_set_key_pppoe).
        assert!(!r[2].matches(&v4) && r[2].matches(&session(1, 0xc021, PacketKey::default())));
        // A PPPoE frame's protocol is PPPoE, not ip; a tagged one's n_proto is its IP's.
        assert!(!r[3].matches(&v4) && r[3].matches(&ip));
        let tagged = PacketKey { has_vlan: true, num_vlans: 1, ..v4 };
        assert!(r[4].matches(&tagged));
        // IP keys see a session's IP only where the rule names the session.
        assert!(!r[5].matches(&v4) && r[5].matches(&ip));
        assert_eq!(
            r[0].to_string(),
            "prio 1 protocol ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1 action drop"
        );
    }

    #[test]
    fn cfm_matches_level_and_opcode() {
        let r = rules("protocol cfm cfm mdl 5 op 41 action drop\nprotocol cfm cfm op 1 action drop\n");
        let pdu =
            |mdl, op| PacketKey { ethertype: 0x8902, has_cfm: true, cfm_mdl: mdl, cfm_op: op, ..PacketKey::default() };
        assert!(r[0].matches(&pdu(5, 41)) && !r[0].matches(&pdu(4, 41)) && !r[0].matches(&pdu(5, 1)));
        assert!(r[1].matches(&pdu(0, 1)) && r[1].matches(&pdu(7, 1)) && !r[1].matches(&pdu(7, 3)));
        // A CFM ethertype without the header (too short) matches no `cfm` key.
        assert!(!r[1].matches(&PacketKey { has_cfm: false, ..pdu(0, 1) }));
    }

    #[test]
    fn egress_rules_keep_their_device_and_chains_of_their_own() {
        let set = parse(
            "r.rules",
            "tc filter add dev swp2 egress protocol ip pref 1 handle 101 flower dst_ip 192.0.2.2 action drop\n\
             egress prio 2 chain 3 action pass\n\
             tc filter add dev swp1 ingress prio 1 action goto chain 3\n\
             dev swp1 prio 4 action drop\n",
        )
        .unwrap();
        let hooks: Vec<&Hook> = set.rules.iter().map(|r| &r.hook).collect();
        let swp2 = Hook::Egress { dev: Some("swp2".into()) };
        assert_eq!(hooks, [&swp2, &Hook::Egress { dev: None }, &Hook::Ingress, &Hook::Ingress]);
        // Ingress matching sees only the ingress rules; its chain 3 is empty.
        assert_eq!((set.order.as_slice(), set.chain(3)), (&[2, 3][..], &[][..]));
        let (swp2_set, index) = set.egress_of("swp2").unwrap();
        assert_eq!((index.as_slice(), swp2_set.order.as_slice(), swp2_set.chain(3)), (&[0, 1][..], &[0][..], &[1][..]));
        assert_eq!(set.egress_of("swp1").unwrap().1, [1], "the rule of every port");
        assert_eq!(set.rules[0].to_string(), "dev swp2 egress prio 1 protocol ip dst_ip 192.0.2.2 action drop");
        assert!(set.rules[0].single_action().is_none(), "the kernel emitters leave egress rules to the dataplane");
        let cases = [
            (
                "dev a/b egress action drop",
                "r.rules:1:5: dev a/b is not an interface name (1 to 15 bytes, no '/' or white space, not '.' or '..')",
            ),
            ("dev a dev b egress action drop", "r.rules:1:7: duplicate key dev"),
        ];
        for (line, want) in cases {
            assert_eq!(error(line), want, "{line}");
        }
    }

    #[test]
    fn action_attributes_are_read_as_m_action_reads_them() {
        let r = rules(
            "action drop cookie 0123456789abcdef0123456789abcdef\n\
             action drop hw_stats disabled\n\
             action vlan pop pipe cookie 00ff hw_st imm no_percpu skip_hw action fwd 1\n",
        );
        assert_eq!(r[0].actions, [Action::Drop]);
        assert_eq!(r[1].actions, [Action::Drop]);
        assert_eq!(r[2].actions, [Action::Vlan(VlanAction::Pop), Action::Fwd(1)]);
        let cases = [
            ("action drop cookie 123", "r.rules:1:20: cookie 123 is not a hex string of an even number of digits, as tc requires"),
            ("action drop cookie 0123456789abcdef0123456789abcdef00", "r.rules:1:20: cookie 0123456789abcdef0123456789abcdef00 is not at most 16 bytes (32 digits), as tc requires"),
            ("action drop cookie", "r.rules:1:19: cookie needs a value (hex, an even number of digits, at most 32)"),
            ("action drop hw_stats any", "r.rules:1:22: hw_stats expects immediate, delayed or disabled"),
            ("action drop skip_sw", "r.rules:1:13: skip_sw puts the action in hardware only, and this dataplane programs no NIC (skip_hw is accepted)"),
            ("ip_proto tcp skip_sw action drop", "r.rules:1:14: flower key 'skip_sw' is not supported here: skip_sw puts the rule in hardware only (tc refuses it on a device that cannot offload it), and this dataplane programs no NIC (skip_hw is accepted)"),
        ];
        for (line, want) in cases {
            assert_eq!(error(line), want, "{line}");
        }
    }

    #[test]
    fn line_and_action_col() {
        let r = rules("\n# c\n  ip_proto tcp   action drop\n");
        assert_eq!((r[0].line, r[0].action_col), (3, 18));
    }

    #[test]
    fn pasted_tc_lines() {
        let r = rules(
            "tc filter add dev eth0 ingress prio 1 protocol ip flower ip_proto udp dst_port 4789 action drop\n\
             tc filter replace dev eth0 parent ffff: pref 7 chain 0 handle 0x1 protocol ipv6 flower skip_hw \
             dst_ip 2001:db8::/32 action gact drop\n\
             tc filter add dev eth0 ingress proto 802.1Q flower skip_hw vlan_id 10 classid 1:1 action ok\n\
             filter change block 3 root flowid 1:2 protocol all flower verbose action pass\n",
        );
        assert_eq!(r[0].prio, 1);
        assert_eq!(r[0].protocol, Protocol::Ipv4);
        assert_eq!(r[0].keys.ip_proto, Some(17));
        assert_eq!(r[0].keys.dst_port, Some(PortMatch::exact(4789)));
        assert_eq!(r[0].actions[0], Action::Drop);
        assert_eq!(r[1].prio, 7);
        assert_eq!(r[1].protocol, Protocol::Ipv6);
        assert_eq!(r[1].actions[0], Action::Drop);
        assert_eq!(
            (r[2].prio, r[2].protocol, r[2].keys.vlan_id, r[2].actions[0].clone()),
            (7, Protocol::Vlan, Some(10), Action::Pass)
        );
        assert_eq!(r[3].protocol, Protocol::All);

        // mirred by device name (tc/m_mirred.c), its words abbreviated as tc allows.
        let r = rules(
            "tc filter add dev eth0 ingress flower action mirred egress redirect dev eth1 pipe\n\
                       ip_proto tcp action mirred egr red dev dut0\n",
        );
        assert_eq!(
            (r[0].actions[0].clone(), r[1].actions[0].clone()),
            (Action::Redirect("eth1".into()), Action::Redirect("dut0".into()))
        );
        assert_eq!(r[0].to_string(), "prio 1 action mirred egress redirect dev eth1");
        let r = rules("action mirred egress mirror dev eth1 action mirred egress redirect dev eth2\n");
        assert_eq!(r[0].actions, [Action::Mirror("eth1".into()), Action::Redirect("eth2".into())]);
        assert_eq!(
            error("action mirred ingress redirect dev eth1"),
            "r.rules:1:15: mirred ingress (back into a device's receive path) has no counterpart here: frames leave by egress"
        );
        assert_eq!(
            error("action mirred egress redirect eth1"),
            "r.rules:1:31: mirred expects dev NAME, found 'eth1' (expected `mirred egress redirect|mirror dev NAME`)"
        );
        assert_eq!(
            error("tc filter del dev eth0 ingress prio 1"),
            "r.rules:1:11: only `tc filter add|replace|change` lines are rules, found 'del'"
        );
        assert_eq!(
            error("tc qdisc add dev eth0 clsact"),
            "r.rules:1:4: expected 'filter' after 'tc' (only `tc filter add|replace|change` lines are rules)"
        );
        assert_eq!(
            error("tc filter add dev eth0 ingress u32 match ip dst 1.2.3.4/32 action drop"),
            "r.rules:1:32: only flower filters can be read, this is a 'u32' filter"
        );
        assert_eq!(
            error("tc filter add dev eth0 ingress flower action gact reclassify"),
            "r.rules:1:51: reclassify (matching again from the start) is not supported: write goto chain N"
        );
    }

    #[test]
    fn prio_inherits_from_the_rule_before() {
        let prios: Vec<u32> =
            rules("action drop\nprio 5 action drop\naction drop\n# c\nprio 2 action drop\naction drop\n")
                .iter()
                .map(|r| r.prio)
                .collect();
        assert_eq!(prios, [1, 5, 5, 2, 2]);
    }

    #[test]
    fn comments_blank_lines_whitespace_crlf() {
        let r = rules("# only a comment\n\n   \t\nip_proto tcp action drop   \t# trailing\r\n\taction pass\r\n");
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].line, r[1].line), (4, 5));
        assert_eq!(r[1].action_col, 2);
        assert!(parse("empty", "").unwrap().is_empty());
    }

    #[test]
    fn a_line_past_the_limit_is_one_error_at_the_column_past_it() {
        let long = format!("ip_proto tcp action drop # {}", "x".repeat(MAX_LINE_BYTES));
        let text = format!("action drop\n{long}\nbogus_key 1 action drop\n");
        let all = errors(&text);
        assert_eq!(
            all,
            [
                format!(
                    "r.rules:2:{}: line of {} bytes: a line may hold at most {MAX_LINE_BYTES} bytes",
                    MAX_LINE_BYTES + 1,
                    long.len()
                ),
                "r.rules:3:1: unknown key 'bogus_key'".to_string(),
            ]
        );
        // Exactly at the limit is a line like any other.
        let at_limit = format!("action drop #{}", "x".repeat(MAX_LINE_BYTES - 13));
        assert_eq!(at_limit.len(), MAX_LINE_BYTES);
        assert_eq!(rules(&at_limit).len(), 1);
        // The column counts characters: multi-byte ones before the limit.
        let wide = format!("action drop # {}", "é".repeat(MAX_LINE_BYTES));
        let (col, _) = check_line_length(&wide).unwrap_err();
        assert_eq!(col, 14 + (MAX_LINE_BYTES - 14) / 2 + 1);
    }

    #[test]
    fn a_word_past_the_limit_is_an_error_at_the_word() {
        let word = "y".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            error(&format!("ip_proto tcp {word} action drop")),
            format!("r.rules:1:14: word of {} bytes: a word may hold at most {MAX_TOKEN_BYTES} bytes", word.len())
        );
        // A word at the limit is read (and here is an unknown key, without a suggestion).
        let word = "y".repeat(MAX_TOKEN_BYTES);
        assert_eq!(error(&format!("{word} action drop")), format!("r.rules:1:1: unknown key '{word}'"));
    }

    #[test]
    fn bounded_edit_distance_agrees_with_the_full_one_within_its_bound() {
        // The plain matrix distance (optimal string alignment), as a reference.
        fn full(a: &str, b: &str) -> usize {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
            for i in 0..=a.len() {
                for j in 0..=b.len() {
                    d[i][j] = if i == 0 || j == 0 {
                        i + j
                    } else {
                        let cost = usize::from(a[i - 1] != b[j - 1]);
                        let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
                        if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                            best = best.min(d[i - 2][j - 2] + 1);
                        }
                        best
                    };
                }
            }
            d[a.len()][b.len()]
        }
        let words = ["", "a", "ab", "ba", "dst_port", "dst_prot", "dts_port", "src_ip", "sport", "ip_proto", "éa"];
        for a in words {
            for b in words.iter().chain(KEYS.iter()) {
                for bound in 0..4 {
                    let want = Some(full(a, b)).filter(|&d| d <= bound);
                    assert_eq!(edit_distance_within(a, b, bound), want, "{a:?} {b:?} within {bound}");
                }
            }
        }
    }

    #[test]
    fn suggestions_for_huge_words_cost_nothing() {
        let huge = "k".repeat(10 << 20);
        assert_eq!(did_you_mean(&huge, KEYS), "");
        assert_eq!(did_you_mean("dst_prot", KEYS), " (did you mean dst_port?)");
        assert_eq!(did_you_mean("drpo", ACTIONS), " (did you mean drop?)");
    }

    /// A 10 MB word in a rules file: one error, short, found after a length check (the file
    /// is read, 10 MB; nothing is compared with it). The generous timeout only catches a
    /// return of the quadratic suggestion (gigabytes, minutes), it does not time anything.
    #[test]
    fn a_ten_megabyte_word_in_a_file_is_refused_fast() {
        let path = std::env::temp_dir().join(format!("rules-parse-huge-{}.rules", std::process::id()));
        let text = format!("action drop\n{} action drop\nip_proto udp action pass\n", "z".repeat(10 << 20));
        std::fs::write(&path, text).unwrap();
        let (send, receive) = std::sync::mpsc::channel();
        let reading = path.clone();
        std::thread::spawn(move || send.send(parse_file(&reading, Format::Native)));
        let result = receive.recv_timeout(std::time::Duration::from_secs(60));
        let _ = std::fs::remove_file(&path);
        let errors = result.expect("parsing a 10 MB word took over a minute").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].col), (2, MAX_LINE_BYTES + 1));
        assert!(errors[0].to_string().len() < 200, "the error echoes the word: {} bytes", errors[0].to_string().len());
    }

    #[test]
    fn files_past_the_size_limit_or_not_utf8_are_one_error() {
        let dir = std::env::temp_dir();
        let big = dir.join(format!("rules-parse-big-{}.rules", std::process::id()));
        // Sparse: its size says it is too big, and nothing is read.
        std::fs::File::create(&big).unwrap().set_len(MAX_RULES_FILE_BYTES + 1).unwrap();
        let errors = parse_file(&big, Format::Native).unwrap_err();
        let _ = std::fs::remove_file(&big);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            format!("{} bytes is larger than the 64 MiB this reader accepts", MAX_RULES_FILE_BYTES + 1)
        );
        let bad = dir.join(format!("rules-parse-latin1-{}.rules", std::process::id()));
        std::fs::write(&bad, b"action drop\nip_proto tcp \xe9 action drop\n").unwrap();
        let errors = parse_file(&bad, Format::Native).unwrap_err();
        let _ = std::fs::remove_file(&bad);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [format!("{}:2:14: not UTF-8 text (invalid byte at offset 25)", bad.display())]
        );
    }

    #[test]
    fn file_errors() {
        let missing = Path::new("/nonexistent/dir/rules.txt");
        let errors = parse_file(missing, Format::Native).unwrap_err();
        assert_eq!(errors.len(), 1);
        let shown = errors[0].to_string();
        assert!(shown.starts_with("/nonexistent/dir/rules.txt: cannot read: "), "{shown}");

        let path = std::env::temp_dir().join(format!("rules-parse-test-{}.rules", std::process::id()));
        std::fs::write(&path, "ip_proto tcp dst_port 22 action drop\n").unwrap();
        let set = parse_file(&path, Format::Native);
        let _ = std::fs::remove_file(&path);
        assert_eq!(set.unwrap().len(), 1);
        assert_eq!("classbench".parse::<Format>(), Ok(Format::Classbench));
        assert!("xml".parse::<Format>().is_err());
    }

    /// The reference classifier gives the expected answers on a hand-written file: prio order
    /// over file order, and "no prio" inheriting the previous rule's.
    #[test]
    fn linear_on_a_small_file() {
        let text = "\
# 0: ssh to the admin net, first among prio 10
prio 10 protocol ip ip_proto tcp dst_ip 10.0.0.0/8 dst_port 22 action pass
# 1: inherits prio 10, after rule 0
ip_proto tcp dst_port 1-1023 action drop
# 2: prio 5: before both
prio 5 protocol ip src_ip 192.0.2.0/24 action fwd 1
# 3: inherits prio 5, after rule 2
ip_proto udp dst_port 53 action pass
# 4: catch-all last
prio 100 action drop
";
        let set = parse("small.rules", text).unwrap();
        assert_eq!(set.order, [2, 3, 0, 1, 4]);
        let linear = Linear::new(&set);
        let tcp = |src: [u8; 4], dst: [u8; 4], port| PacketKey::ipv4_5tuple(src, dst, 6, 40000, port);
        let udp = |src: [u8; 4], dst: [u8; 4], port| PacketKey::ipv4_5tuple(src, dst, 17, 40000, port);
        assert_eq!(linear.classify(&tcp([1, 1, 1, 1], [10, 1, 2, 3], 22)), Some(0));
        assert_eq!(linear.classify(&tcp([1, 1, 1, 1], [11, 1, 2, 3], 22)), Some(1));
        assert_eq!(linear.classify(&tcp([192, 0, 2, 9], [10, 1, 2, 3], 22)), Some(2));
        assert_eq!(linear.classify(&udp([192, 0, 2, 9], [10, 1, 2, 3], 53)), Some(2));
        assert_eq!(linear.classify(&udp([1, 1, 1, 1], [10, 1, 2, 3], 53)), Some(3));
        assert_eq!(linear.classify(&tcp([1, 1, 1, 1], [10, 1, 2, 3], 8080)), Some(4));
        let none = PacketKey::default();
        assert_eq!(linear.classify(&none), Some(4));
        let only_specific =
            parse("s.rules", "prio 3 ip_proto udp action drop\nprio 1 ip_proto tcp action pass\n").unwrap();
        assert_eq!(Linear::new(&only_specific).classify(&none), None);
        assert_eq!(Linear::new(&only_specific).classify(&udp([1; 4], [2; 4], 9)), Some(0));
    }

    #[test]
    fn display_examples() {
        let line = "prio 3 protocol ip src_mac 02:00:00:00:00:00/ff:ff:ff:00:00:00 ip_proto tcp src_ip 10.0.0.0/8 \
                    dst_port 1024-2047 tcp_flags 0x2/0x12 ip_flags frag/nofirstfrag enc_key_id 42 action encap vxlan,vni=1";
        let rule = rules(line).remove(0);
        assert_eq!(rule.to_string(), line);
        assert_eq!(rules("action fwd 2").remove(0).to_string(), "prio 1 action fwd 2");
    }

    // ---- round trip

    fn masked_u8_strategy() -> impl Strategy<Value = Masked<u8>> {
        (any::<u8>(), prop_oneof![Just(0xffu8), any::<u8>()]).prop_map(|(v, m)| Masked::<u8>::new(v, m))
    }

    fn prefix_strategy(v6: bool) -> BoxedStrategy<Prefix> {
        if v6 {
            (any::<[u8; 16]>(), 0u8..=128).prop_map(|(a, l)| Prefix::v6(a, l)).boxed()
        } else {
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, l)| Prefix::v4(a, l)).boxed()
        }
    }

    fn port_strategy() -> impl Strategy<Value = PortMatch> {
        prop_oneof![
            any::<u16>().prop_map(PortMatch::exact),
            (any::<u16>(), any::<u16>()).prop_map(|(v, m)| PortMatch::Masked(Masked::<u16>::new(v, m))),
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortMatch::Range { lo: a.min(b), hi: a.max(b) }),
        ]
    }

    fn mac_strategy() -> impl Strategy<Value = Masked<u64>> {
        (0..=MAC_BITS, prop_oneof![Just(MAC_BITS), 0..=MAC_BITS]).prop_map(|(v, m)| Masked::<u64>::new(v, m))
    }

    /// What `tunnel_key set` accepts: one family, `nocsum` over IPv4 only.
    fn tunnel_set() -> impl Strategy<Value = TunnelSet> {
        let addresses = prop_oneof![
            (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
            (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
        ];
        let numbers = (
            proptest::option::of(0..=0xff_ffffu32),
            proptest::option::of(prop_oneof![Just(4789u16), Just(6081), any::<u16>()]),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u8>()),
        );
        (addresses, numbers, any::<bool>()).prop_map(|((src_ip, dst_ip), (id, dst_port, tos, ttl), csum)| TunnelSet {
            src_ip,
            dst_ip,
            id,
            dst_port,
            tos,
            ttl,
            csum: csum || src_ip.is_ipv6(),
        })
    }

    fn action_strategy() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Drop),
            Just(Action::Pass),
            any::<u16>().prop_map(Action::Fwd),
            "[a-z][a-z0-9]{0,7}".prop_map(Action::Redirect),
            Just(Action::Reflect),
            "[a-z0-9=,.:]{1,30}( [a-z0-9=,.]{1,10})?".prop_map(Action::Encap),
            Just(Action::Decap),
            Just(Action::TtlDec),
            Just(Action::Vlan(VlanAction::Pop)),
            Just(Action::TunnelKey(TunnelKey::Unset)),
            tunnel_set().prop_map(|set| Action::TunnelKey(TunnelKey::Set(set))),
            (prop_oneof![Just(0x8100u16), Just(0x88a8)], 0..=4094u16, 0..=7u8)
                .prop_map(|(tpid, vid, prio)| Action::Vlan(VlanAction::Push { tpid, vid, prio })),
            (prop_oneof![Just(0x8100u16), Just(0x88a8)], 0..=4094u16, proptest::option::of(0..=7u8))
                .prop_map(|(tpid, vid, prio)| Action::Vlan(VlanAction::Modify { tpid, vid, prio })),
            pedit_strategy().prop_map(Action::Pedit),
            (any::<u8>()).prop_map(|flags| Action::Csum(flags & 0x5f)),
            mpls_strategy().prop_map(Action::Mpls),
            (1..=u32::MAX, any::<bool>()).prop_map(|(block, redirect)| Action::Blockcast { block, redirect }),
            gate_strategy().prop_map(Action::Gate),
        ]
    }

    /// Gates tc and act_gate accept (no index: random rules would define one twice), their
    /// close entries with the wildcards m_gate.c gives them, the cycle within an i64.
    fn gate_strategy() -> impl Strategy<Value = Gate> {
        let entry = (any::<bool>(), 1..=u32::MAX, any::<i32>(), proptest::option::of(0..=i32::MAX as u32)).prop_map(
            |(open, interval, ipv, max_octets)| GateEntry {
                open,
                interval,
                ipv: if open { ipv } else { -1 },
                max_octets: max_octets.filter(|_| open),
            },
        );
        let ns = prop_oneof![Just(0u64), 0..=i64::MAX as u64];
        (0..4usize, any::<i64>(), ns.clone(), ns, any::<i32>(), any::<u32>(), proptest::collection::vec(entry, 1..4))
            .prop_map(|(clock, base_time, cycle_time, cycle_time_ext, priority, flags, entries)| Gate {
                index: None,
                clock: GateClock::ALL[clock].0,
                base_time,
                cycle_time,
                cycle_time_ext,
                priority,
                flags,
                entries,
                control: Control::Pipe,
            })
    }

    /// Mpls actions tc and act_mpls accept: label 20 bits but not 3, TTL not 0, pop's
    /// protocol an ethertype.
    fn mpls_strategy() -> impl Strategy<Value = MplsAction> {
        let label = (0..=0xf_ffffu32).prop_map(|l| if l == MPLS_LABEL_IMPLICIT_NULL { 16 } else { l });
        let field = |max: u8| proptest::option::of(0..=max);
        let ttl = proptest::option::of(1..=255u8);
        prop_oneof![
            Just(MplsAction::DecTtl),
            prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8847), Just(0x6558), 0x0600..=0xffffu16]
                .prop_map(|proto| MplsAction::Pop { proto }),
            (prop_oneof![Just(0x8847u16), Just(0x8848)], label.clone(), 0..=7u8, 1..=255u8, field(1))
                .prop_map(|(proto, label, tc, ttl, bos)| MplsAction::Push { proto, label, tc, ttl, bos }),
            (proptest::option::of(label), field(7), ttl, field(1))
                .prop_map(|(label, tc, ttl, bos)| MplsAction::Modify { label, tc, ttl, bos }),
        ]
    }

    /// Pedits tc accepts: without `ex` only `ip` fields (its own `sport`/`dport` among them)
    /// and no add; add only up to 32 bits; retain only up to 32 bits.
    fn pedit_strategy() -> impl Strategy<Value = Pedit> {
        let munge = (0..PeditField::ALL.len(), 0..3u8, any::<u128>(), proptest::option::of(any::<u32>()));
        (any::<bool>(), proptest::collection::vec(munge, 1..4)).prop_map(|(extended, munges)| {
            let munges = munges
                .into_iter()
                .map(|(i, cmd, value, retain)| {
                    let mut field = PeditField::ALL[i];
                    let legacy = matches!(field, PeditField::IpSport | PeditField::IpDport);
                    if !extended && field.words().0 != "ip" {
                        field = PeditField::ALL[2 + i % 6];
                    } else if extended && legacy {
                        field = PeditField::TcpSport;
                    }
                    let width = field.width();
                    let cmd = match cmd {
                        1 if extended && width <= 4 => PeditCmd::Add,
                        2 => PeditCmd::Invert,
                        _ => PeditCmd::Set,
                    };
                    let value = if cmd == PeditCmd::Invert { 0 } else { value & (u128::MAX >> (128 - 8 * width)) };
                    let full = field.full_retain();
                    let retain = retain.filter(|_| width <= 4).map_or(full, |r| r & full);
                    Munge { field, cmd, value, retain }
                })
                .collect();
            Pedit { extended, munges }
        })
    }

    /// Rules that the parser accepts: flower's constraints and one family per address pair.
    fn rule_strategy() -> impl Strategy<Value = Rule> {
        let protocol =
            prop_oneof![Just(Protocol::All), Just(Protocol::Ipv4), Just(Protocol::Ipv6), Just(Protocol::Vlan)];
        (protocol, any::<bool>(), any::<bool>())
            .prop_flat_map(|(protocol, v6_any, enc_v6)| {
                let v6 = match protocol {
                    Protocol::Ipv4 => false,
                    Protocol::Ipv6 => true,
                    _ => v6_any,
                };
                let l2 = (
                    proptest::option::of(mac_strategy()),
                    proptest::option::of(mac_strategy()),
                    proptest::option::of(0u16..=4095),
                    proptest::option::of(0u8..=7),
                );
                let proto = proptest::option::of(prop_oneof![Just(6u8), Just(17), Just(132), Just(115), any::<u8>()]);
                let l3 = (
                    proto,
                    proptest::option::of(prefix_strategy(v6)),
                    proptest::option::of(prefix_strategy(v6)),
                    proptest::option::of(port_strategy()),
                    proptest::option::of(port_strategy()),
                    proptest::option::of(masked_u8_strategy()),
                    proptest::option::of(masked_u8_strategy()),
                    proptest::option::of(
                        (0u16..=0xfff, prop_oneof![Just(0xfffu16), 0u16..=0xfff])
                            .prop_map(|(v, m)| Masked::<u16>::new(v, m)),
                    ),
                    proptest::option::of((0u8..=3, 1u8..=3).prop_map(|(v, m)| Masked::<u8>::new(v, m))),
                );
                let enc = (
                    proptest::option::of(any::<u32>()),
                    proptest::option::of(prefix_strategy(enc_v6)),
                    proptest::option::of(prefix_strategy(enc_v6)),
                    proptest::option::of(any::<u16>()),
                );
                (Just(protocol), any::<u32>(), l2, l3, enc, action_strategy())
            })
            .prop_map(|(protocol, prio, l2, l3, enc, action)| {
                let (src_mac, dst_mac, vlan_id, vlan_prio) = l2;
                let (ip_proto, src_ip, dst_ip, src_port, dst_port, ip_tos, ip_ttl, tcp_flags, ip_flags) = l3;
                let (enc_key_id, enc_src_ip, enc_dst_ip, enc_dst_port) = enc;
                let mut keys = Keys {
                    src_mac,
                    dst_mac,
                    vlan_id,
                    vlan_prio,
                    ip_proto,
                    src_ip,
                    dst_ip,
                    src_port,
                    dst_port,
                    ip_tos,
                    ip_ttl,
                    tcp_flags,
                    ip_flags,
                    enc_key_id,
                    enc_src_ip,
                    enc_dst_ip,
                    enc_dst_port,
                    ..Keys::default()
                };
                if !matches!(keys.ip_proto, Some(6 | 17 | 132)) {
                    keys.src_port = None;
                    keys.dst_port = None;
                }
                if keys.ip_proto != Some(6) {
                    keys.tcp_flags = None;
                }
                // An L2TPv3 session on some of the rules that may have one.
                if keys.ip_proto == Some(115) && prio % 2 == 1 {
                    keys.l2tpv3_sid = Some(prio.rotate_left(7));
                }
                Rule {
                    line: 1,
                    action_col: 0,
                    prio,
                    protocol,
                    keys,
                    chain: 0,
                    hook: Hook::Ingress,
                    actions: vec![action],
                }
            })
    }

    /// Rules with the keys beyond the classic set, each family under the protocol flower
    /// requires: ARP, MPLS, QinQ, ICMP; outer TOS/TTL and indev on any of them.
    fn beyond_classic_strategy() -> impl Strategy<Value = Rule> {
        let masked_dec = || (any::<u8>(), prop_oneof![Just(0xffu8), any::<u8>()]);
        let arp = (
            prop_oneof![Just(0x0806u16), Just(0x8035)],
            proptest::option::of(prefix_strategy(false)),
            proptest::option::of(prefix_strategy(false)),
            proptest::option::of((0u8..=2, prop_oneof![Just(0xffu8), any::<u8>()])),
            proptest::option::of(mac_strategy()),
            proptest::option::of(mac_strategy()),
        )
            .prop_map(|(id, arp_sip, arp_tip, op, arp_sha, arp_tha)| {
                let arp_op = op.map(|(v, m)| Masked::<u8>::new(v, m));
                (Protocol::Ether(id), Keys { arp_sip, arp_tip, arp_op, arp_sha, arp_tha, ..Keys::default() })
            });
        let mpls = (
            prop_oneof![Just(0x8847u16), Just(0x8848)],
            proptest::option::of(0u32..=0xf_ffff),
            proptest::option::of(0u8..=7),
            proptest::option::of(0u8..=1),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(id, mpls_label, mpls_tc, mpls_bos, mpls_ttl)| {
                (Protocol::Ether(id), Keys { mpls_label, mpls_tc, mpls_bos, mpls_ttl, ..Keys::default() })
            });
        // `mpls lse`: entries at some of the 7 depths, any of their fields.
        let lse = (
            any::<bool>(),
            proptest::option::of(0u32..=0xf_ffff),
            proptest::option::of(0u8..=7),
            proptest::option::of(0u8..=1),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(used, label, tc, bos, ttl)| MplsLse { used, label, tc, bos, ttl });
        let lses = (prop_oneof![Just(0x8847u16), Just(0x8848)], proptest::array::uniform7(lse), 0usize..7).prop_map(
            |(id, mut lses, always)| {
                lses[always].used = true;
                for lse in lses.iter_mut().filter(|lse| !lse.used) {
                    *lse = MplsLse::default();
                }
                (Protocol::Ether(id), Keys { mpls_lses: Some(lses), ..Keys::default() })
            },
        );
        // PPPoE: a session id, a PPP protocol (IPv4 with an address some of the time).
        let pppoe = (
            prop_oneof![Just(Protocol::Ether(0x8864)), Just(Protocol::Vlan)],
            proptest::option::of(any::<u16>()),
            proptest::option::of(prop_oneof![Just(0x21u16), Just(0x57), Just(0xc021), any::<u16>()]),
            proptest::option::of(prefix_strategy(false)),
        )
            .prop_map(|(protocol, pppoe_sid, ppp_proto, dst_ip)| {
                let eth_type = (protocol == Protocol::Vlan).then_some(0x8864);
                let ppp_proto = ppp_proto.or(pppoe_sid.is_none().then_some(0x21));
                let dst_ip = dst_ip.filter(|_| ppp_proto == Some(0x21));
                (protocol, Keys { pppoe_sid, ppp_proto, dst_ip, eth_type, ..Keys::default() })
            });
        // CFM: either field or both.
        let cfm = (proptest::option::of(0u8..=7), proptest::option::of(any::<u8>())).prop_map(|(cfm_mdl, cfm_op)| {
            (
                Protocol::Ether(0x8902),
                Keys { cfm_mdl, cfm_op: cfm_op.or(Some(1).filter(|_| cfm_mdl.is_none())), ..Keys::default() },
            )
        });
        let qinq = (
            any::<bool>(),
            proptest::option::of(0u16..=4095),
            proptest::option::of(0u8..=7),
            proptest::option::of(prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), any::<u16>()]),
            proptest::option::of(0u8..=4),
        )
            .prop_map(|(cvlan, cvlan_id, cvlan_prio, eth_type, vlans)| {
                let eth_type = eth_type.filter(|id| !matches!(id, 0x8100 | 0x88a8));
                // The customer tag's keys need the TPID (or two tags counted).
                let cvlan = cvlan || cvlan_id.is_some() || cvlan_prio.is_some();
                let keys = Keys { cvlan, cvlan_id, cvlan_prio, eth_type, num_of_vlans: vlans, ..Keys::default() };
                (Protocol::Vlan, keys)
            });
        let icmp = (any::<bool>(), proptest::option::of(masked_dec()), proptest::option::of(masked_dec())).prop_map(
            |(v6, icmp_type, icmp_code)| {
                let masked = |m: Option<(u8, u8)>| m.map(|(v, m)| Masked::<u8>::new(v, m));
                let (protocol, proto) = if v6 { (Protocol::Ipv6, 58) } else { (Protocol::Ipv4, 1) };
                let keys = Keys {
                    ip_proto: Some(proto),
                    icmp_type: masked(icmp_type),
                    icmp_code: masked(icmp_code),
                    ..Keys::default()
                };
                (protocol, keys)
            },
        );
        let extra = (
            proptest::option::of(masked_u8_strategy()),
            proptest::option::of(masked_u8_strategy()),
            proptest::option::of("[a-z][a-z0-9_.-]{0,14}"),
        );
        // Ingress, or egress of every port or of one device.
        let hook = prop_oneof![
            Just(Hook::Ingress),
            proptest::option::of("[a-z][a-z0-9_.-]{0,14}")
                .prop_map(|dev| Hook::Egress { dev: dev.filter(|name| !is_keyword(name)) }),
        ];
        (prop_oneof![arp, mpls, lses, cfm, pppoe, qinq, icmp], extra, hook, any::<u32>(), action_strategy()).prop_map(
            |((protocol, mut keys), (enc_tos, enc_ttl, dev), hook, prio, action)| {
                keys.enc_tos = enc_tos;
                keys.enc_ttl = enc_ttl;
                keys.indev = dev.filter(|name| !is_keyword(name)).and_then(|name| Indev::new(&name));
                Rule { line: 1, action_col: 0, prio, protocol, keys, chain: 0, hook, actions: vec![action] }
            },
        )
    }

    proptest! {
        #[test]
        fn beyond_classic_keys_display_parses_back_to_the_same_rule(rule in beyond_classic_strategy()) {
            let line = rule.to_string();
            let parsed = parse("rt", &line);
            prop_assert!(parsed.is_ok(), "{line}: {parsed:?}");
            let mut back = parsed.unwrap().rules.remove(0);
            back.action_col = rule.action_col;
            prop_assert_eq!(back, rule, "{}", line);
        }

        #[test]
        fn display_parses_back_to_the_same_rule(rule in rule_strategy()) {
            let line = rule.to_string();
            let parsed = parse("rt", &line);
            prop_assert!(parsed.is_ok(), "{line}: {parsed:?}");
            let mut back = parsed.unwrap().rules.remove(0);
            prop_assert_eq!(back.action_col, line.find(" action ").unwrap() + 2);
            back.action_col = rule.action_col;
            prop_assert_eq!(back, rule, "{}", line);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}(\n\\PC{0,80}){0,3}") {
            let _ = parse("fuzz", &text);
            let _ = parse_classbench("fuzz", &text);
            let _ = parse_trace("fuzz", &text);
        }

        #[test]
        fn mangled_rule_lines_never_panic(rule in rule_strategy(), cut in 0usize..200, insert in "[ :/.x0-9a-z#-]{0,4}") {
            let mut line = rule.to_string();
            let mut at = cut.min(line.len());
            while !line.is_char_boundary(at) { at -= 1; }
            line.insert_str(at, &insert);
            if let Err(errors) = parse("m", &line) {
                for e in errors {
                    prop_assert!(e.line == 1 && e.col >= 1 && e.col <= line.chars().count() + 1, "{e}");
                }
            }
        }
    }
}
