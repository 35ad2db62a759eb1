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
    bind_shared::<Police>(file, &mut rules, &mut errors);
    bind_shared::<Gate>(file, &mut rules, &mut errors);
    if errors.is_empty() {
        Ok((RuleSet::new(rules), notes))
    } else {
        Err(errors)
    }
}

/// A tc action shared by index (`police ... index N`, `gate ... index N`): the first rule
/// that defines N (a rate or mtu; a schedule) defines it, and the action naming N alone takes
/// that definition (the kernel binds a filter to the existing action); a second, different
/// definition is an error (the kernel would keep the first and ignore it), as is an index no
/// rule defines.
trait SharedByIndex: Clone + PartialEq + Sized {
    /// tc's word for the action.
    const WORD: &'static str;
    /// What a definition gives, for the error of an index no rule defines.
    const DEFINITION: &'static str;
    /// The action in `action`, if it is this kind.
    fn of(action: &Action) -> Option<&Self>;
    /// As [`of`](Self::of), to bind it.
    fn of_mut(action: &mut Action) -> Option<&mut Self>;
    /// `index N`, if given.
    fn index(&self) -> Option<u32>;
    /// Names an index and defines nothing.
    fn is_reference(&self) -> bool;
}

impl SharedByIndex for Police {
    const WORD: &'static str = "police";
    const DEFINITION: &'static str = "its rate and burst, or mtu,";
    fn of(action: &Action) -> Option<&Police> {
        if let Action::Police(police) = action {
            Some(police)
        } else {
            None
        }
    }
    fn of_mut(action: &mut Action) -> Option<&mut Police> {
        if let Action::Police(police) = action {
            Some(police)
        } else {
            None
        }
    }
    fn index(&self) -> Option<u32> {
        self.index
    }
    fn is_reference(&self) -> bool {
        self.rate.is_none() && self.mtu.is_none()
    }
}

impl SharedByIndex for Gate {
    const WORD: &'static str = "gate";
    const DEFINITION: &'static str = "its sched-entry list";
    fn of(action: &Action) -> Option<&Gate> {
        if let Action::Gate(gate) = action {
            Some(gate)
        } else {
            None
        }
    }
    fn of_mut(action: &mut Action) -> Option<&mut Gate> {
        if let Action::Gate(gate) = action {
            Some(gate)
        } else {
            None
        }
    }
    fn index(&self) -> Option<u32> {
        self.index
    }
    fn is_reference(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Binds every `T` of the file that names an index to the index's definition
/// ([`SharedByIndex`]), or reports why it cannot.
fn bind_shared<T: SharedByIndex>(file: &str, rules: &mut [Rule], errors: &mut Vec<ParseError>) {
    let word = T::WORD;
    let error = |line: usize, col: usize, message: String| ParseError { file: file.to_string(), line, col, message };
    let mut defined: Vec<(u32, T, usize)> = Vec::new();
    for rule in rules.iter() {
        for shared in rule.actions.iter().filter_map(T::of).filter(|t| !t.is_reference()) {
            let Some(index) = shared.index() else { continue };
            match defined.iter().find(|(i, _, _)| *i == index) {
                Some((_, first, line)) if first != shared => errors.push(error(rule.line, rule.action_col, format!(
                    "{word} index {index} is defined again, otherwise than at line {line} (tc would keep that one): write `{word} index {index}` alone to share it"
                ))),
                Some(_) => {}
                None => defined.push((index, shared.clone(), rule.line)),
            }
        }
    }
    for rule in rules.iter_mut() {
        let (line, col) = (rule.line, rule.action_col);
        for shared in rule.actions.iter_mut().filter_map(T::of_mut).filter(|t| t.is_reference()) {
            let Some(index) = shared.index() else { continue };
            match defined.iter().find(|(i, _, _)| *i == index) {
                Some((_, definition, _)) => *shared = definition.clone(),
                None => errors.push(error(
                    line,
                    col,
                    format!(
                        "{word} index {index}: no rule of this file defines it (give one rule {} with index {index})",
                        T::DEFINITION
                    ),
                )),
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
mod tests;
