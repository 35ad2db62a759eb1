//! The rule language: reading rule files into a [`RuleSet`], and writing a [`Rule`] back as a
//! line ([`Rule`]'s `Display`).
//!
//! # The native format
//!
//! tc flower's keys and syntax, one rule per line:
//!
//! ```text
//! line     := [tc-prefix] item* "action" action [# comment]
//! item     := "prio" N | "protocol" PROTO | "chain" 0 | KEY VALUE | tc-word
//! PROTO    := ip | ipv6 | 802.1q | 802.1ad | all
//! action   := drop | pass | fwd PORT | reflect | encap SPEC | decap | ttl-dec
//! ```
//!
//! | key            | value                                                      |
//! |----------------|------------------------------------------------------------|
//! | `src_mac`, `dst_mac` | `aa:bb:cc:dd:ee:ff`, `MAC/MASK-MAC` or `MAC/LEN` (0..=48) |
//! | `vlan_id`      | 0..=4095                                                   |
//! | `vlan_prio`    | 0..=7                                                      |
//! | `ip_proto`     | `tcp`, `udp`, `sctp`, `icmp`, `icmpv6` or 0..=255          |
//! | `src_ip`, `dst_ip`, `enc_src_ip`, `enc_dst_ip` | IPv4 or IPv6 address, optional `/LEN` (IPv4 also `/255.255.255.0`) |
//! | `src_port`, `dst_port` | `80`, `0x50/0xfff0` (value/mask) or `1024-65535` (inclusive range) |
//! | `ip_tos`, `ip_ttl` | `N` or `N/MASK` (8 bits)                                |
//! | `tcp_flags`    | `N` or `N/MASK` (12 bits, FIN = 0x001)                     |
//! | `ip_flags`     | `frag`, `nofrag`, `firstfrag`, `nofirstfrag`, two joined by `/` (`frag/nofirstfrag`) |
//! | `enc_key_id`   | 0..=4294967295 (VXLAN/Geneve VNI, GRE key)                 |
//! | `enc_dst_port` | 0..=65535 (outer UDP destination port)                     |
//!
//! Numbers are decimal or `0x` hex. Each key at most once per rule. As in flower, `src_port`
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
//! Comments run from `#` to the end of the line; blank lines are skipped.
//!
//! ## Pasted tc lines
//!
//! A whole `tc filter add|replace|change ...` line is read as the same rule:
//! `tc filter add dev eth0 ingress prio 1 protocol ip flower ip_proto udp dst_port 4789 action drop`.
//! The tc words that do not change a rule's meaning are skipped: `tc filter add|replace|change`,
//! `dev X`, `ingress`, `egress`, `root`, `parent X`, `block N`, `handle X`, `classid X`,
//! `flowid X`, `flower`, `skip_sw`, `skip_hw`, `verbose`; `pref N` is `prio N`; `chain 0` is
//! accepted (other chains are not: there is no `goto`). `action gact drop|pass|ok`, `action ok`
//! (= `pass`) and `action shot` (= `drop`) are accepted; `action mirred ... dev X` is refused:
//! ports are numbers in this language (`action fwd N`).
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
//! # ClassBench
//!
//! [`Format::Classbench`] reads ClassBench filter sets, see [`crate::classbench`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use crate::key::{Family, IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
use crate::rule::{Action, Keys, Masked, PortMatch, Prefix, Protocol, Rule, RuleSet};

/// One problem in a rule file, shown as `file:line:col: message` (`file: message` when it is
/// about the whole file, e.g. it cannot be read: then `line` and `col` are 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    /// 1-based; 0 for the whole file.
    pub line: usize,
    /// 1-based, in characters; 0 for the whole line or file.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (line, 0) => write!(f, "{}:{}: {}", self.file, line, self.message),
            (line, col) => write!(f, "{}:{}:{}: {}", self.file, line, col, self.message),
        }
    }
}

impl std::error::Error for ParseError {}

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
    type Err = String;
    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "native" => Ok(Format::Native),
            "classbench" => Ok(Format::Classbench),
            other => Err(format!("unknown rules format '{other}' (expected native or classbench)")),
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
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut prio = 1;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        match parse_line(raw) {
            Ok(None) => {}
            Ok(Some(parsed)) => {
                prio = parsed.prio.unwrap_or(prio);
                rules.push(Rule {
                    line,
                    action_col: parsed.action_col,
                    prio,
                    protocol: parsed.protocol,
                    keys: parsed.keys,
                    action: parsed.action,
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
    if errors.is_empty() {
        Ok(RuleSet::new(rules))
    } else {
        Err(errors)
    }
}

/// Reads text in either format.
pub fn parse_as(file: &str, text: &str, format: Format) -> Result<RuleSet, Vec<ParseError>> {
    match format {
        Format::Native => parse(file, text),
        Format::Classbench => crate::classbench::parse_classbench(file, text),
    }
}

/// Reads a rules file; a file that cannot be read is one error `file: message`.
pub fn parse_file(path: &Path, format: Format) -> Result<RuleSet, Vec<ParseError>> {
    let file = path.display().to_string();
    let text = read_text(path)?;
    parse_as(&file, &text, format)
}

/// The text of a file, or the one error saying why not.
pub(crate) fn read_text(path: &Path) -> Result<String, Vec<ParseError>> {
    std::fs::read_to_string(path).map_err(|err| {
        vec![ParseError { file: path.display().to_string(), line: 0, col: 0, message: format!("cannot read: {err}") }]
    })
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// A whitespace-separated word of a line and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub text: &'a str,
    /// 1-based, in characters.
    pub col: usize,
    /// Byte offset in the line.
    pub offset: usize,
}

/// The line up to a `#` comment.
pub(crate) fn strip_comment(line: &str) -> &str {
    line.find('#').map_or(line, |at| &line[..at])
}

/// The words of a line, with their columns.
pub(crate) fn tokenize(line: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte offset, col)
    for (col0, (offset, ch)) in line.char_indices().enumerate() {
        if ch.is_whitespace() {
            if let Some((begin, col)) = start.take() {
                tokens.push(Token { text: &line[begin..offset], col, offset: begin });
            }
        } else if start.is_none() {
            start = Some((offset, col0 + 1));
        }
    }
    if let Some((begin, col)) = start {
        tokens.push(Token { text: &line[begin..], col, offset: begin });
    }
    tokens
}

/// The column just after the last character of `line` (where a missing word would go).
fn end_col(line: &str) -> usize {
    line.trim_end().chars().count() + 1
}

// ---------------------------------------------------------------------------------------------
// Values

/// The keys, in the order [`Rule`]'s `Display` writes them.
pub const KEYS: [&str; 17] = [
    "src_mac",
    "dst_mac",
    "vlan_id",
    "vlan_prio",
    "ip_proto",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "ip_tos",
    "ip_ttl",
    "tcp_flags",
    "ip_flags",
    "enc_key_id",
    "enc_src_ip",
    "enc_dst_ip",
    "enc_dst_port",
];

/// Words of a line other than keys (for "did you mean").
const WORDS: [&str; 20] = [
    "prio", "pref", "protocol", "chain", "action", "flower", "skip_sw", "skip_hw", "dev", "ingress", "egress",
    "parent", "handle", "classid", "flowid", "root", "block", "verbose", "tc", "filter",
];

/// flower keys this language does not have (a clearer message than "unknown key").
const FLOWER_UNSUPPORTED: [&str; 26] = [
    "indev",
    "eth_type",
    "vlan_ethtype",
    "cvlan_id",
    "cvlan_prio",
    "cvlan_ethtype",
    "mpls",
    "mpls_label",
    "mpls_tc",
    "mpls_bos",
    "mpls_ttl",
    "icmp_type",
    "icmp_code",
    "arp_tip",
    "arp_sip",
    "arp_op",
    "arp_tha",
    "arp_sha",
    "enc_src_port",
    "enc_tos",
    "enc_ttl",
    "enc_opts",
    "geneve_opts",
    "ct_state",
    "ct_zone",
    "ct_mark",
];

const ACTIONS: [&str; 7] = ["drop", "pass", "fwd", "reflect", "encap", "decap", "ttl-dec"];

const EXPECTED_ACTION: &str = "drop, pass, fwd PORT, reflect, encap SPEC, decap or ttl-dec";

/// Why a word is not a number in range.
enum NumError {
    NotNumber,
    TooBig,
}

/// Decimal or `0x` hex.
fn parse_u64(text: &str) -> Result<u64, NumError> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(NumError::NotNumber);
    }
    u64::from_str_radix(digits, radix).map_err(|_| NumError::TooBig)
}

/// A number in `0..=max`; `what` names it in the message.
fn number(what: &str, text: &str, max: u64) -> Result<u64, String> {
    match parse_u64(text) {
        Ok(n) if n <= max => Ok(n),
        Ok(_) | Err(NumError::TooBig) => Err(format!("{what} {text} is out of range 0..={max}")),
        Err(NumError::NotNumber) => Err(format!("{what} expects a number (decimal or 0x hex), found '{text}'")),
    }
}

fn masked_u8(what: &str, text: &str) -> Result<Masked<u8>, String> {
    let (value, mask) = split_mask(what, text, 0xff)?;
    Ok(Masked::<u8>::new(value as u8, mask as u8))
}

/// `value[/mask]` with both in `0..=max`; no mask means all of `max`'s bits.
fn split_mask(what: &str, text: &str, max: u64) -> Result<(u64, u64), String> {
    match text.split_once('/') {
        Some((value, mask)) => Ok((number(what, value, max)?, number(&format!("{what} mask"), mask, max)?)),
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

fn masked_mac(what: &str, text: &str) -> Result<Masked<u64>, String> {
    let bad = || format!("{what} expects a MAC address aa:bb:cc:dd:ee:ff, optionally /MASK or /LEN, found '{text}'");
    let (addr, mask) = match text.split_once('/') {
        None => (text, None),
        Some((addr, mask)) => (addr, Some(mask)),
    };
    let value = mac(addr).ok_or_else(bad)?;
    let mask = match mask {
        None => MAC_BITS,
        Some(mask) if mask.contains(':') => mac(mask).ok_or_else(bad)?,
        Some(len) => {
            let len = number(&format!("{what} prefix length"), len, 48)?;
            MAC_BITS & !(MAC_BITS >> len)
        }
    };
    Ok(Masked::<u64>::new(value, mask))
}

fn ip_proto(text: &str) -> Result<u8, String> {
    Ok(match text {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        "icmp" => 1,
        "icmpv6" => 58,
        _ => match parse_u64(text) {
            Err(NumError::NotNumber) => {
                return Err(format!(
                    "ip_proto expects tcp, udp, sctp, icmp, icmpv6 or a number 0..=255, found '{text}'"
                ))
            }
            _ => number("ip_proto", text, 255)? as u8,
        },
    })
}

fn ip_proto_name(proto: u8) -> Option<&'static str> {
    Some(match proto {
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        1 => "icmp",
        58 => "icmpv6",
        _ => return None,
    })
}

/// `ADDR[/LEN]`, IPv4 or IPv6; IPv4 also takes a contiguous dotted mask. Host bits are
/// cleared, as tc does.
pub(crate) fn prefix(what: &str, text: &str) -> Result<Prefix, String> {
    let (addr, len) = match text.split_once('/') {
        None => (text, None),
        Some((addr, len)) => (addr, Some(len)),
    };
    if addr.contains(':') {
        let addr: Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("{what} expects an IPv4 or IPv6 address, optionally /LEN, found '{text}'"))?;
        let len = match len {
            None => 128,
            Some(len) => number(&format!("{what} prefix length"), len, 128)? as u8,
        };
        Ok(Prefix::v6(addr.octets(), len))
    } else {
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{what} expects an IPv4 or IPv6 address, optionally /LEN, found '{text}'"))?;
        let len = match len {
            None => 32,
            Some(mask) if mask.contains('.') => {
                let bits = mask
                    .parse::<Ipv4Addr>()
                    .ok()
                    .map(u32::from)
                    .filter(|bits| bits.leading_ones() + bits.trailing_zeros() == 32)
                    .ok_or_else(|| format!("{what} mask {mask} is not a contiguous netmask like 255.255.255.0"))?;
                bits.leading_ones() as u8
            }
            Some(len) => number(&format!("{what} prefix length"), len, 32)? as u8,
        };
        Ok(Prefix::v4(addr.octets(), len))
    }
}

fn port_match(what: &str, text: &str) -> Result<PortMatch, String> {
    if let Some((lo, hi)) = text.split_once('-') {
        let lo = number(what, lo, 0xffff)? as u16;
        let hi = number(what, hi, 0xffff)? as u16;
        if lo > hi {
            return Err(format!("{what} range {text} is empty (the low end is above the high end)"));
        }
        Ok(PortMatch::Range { lo, hi })
    } else {
        let (value, mask) = split_mask(what, text, 0xffff)?;
        Ok(PortMatch::Masked(Masked::<u16>::new(value as u16, mask as u16)))
    }
}

fn ip_flags(text: &str) -> Result<Masked<u8>, String> {
    let mut value = 0u8;
    let mut mask = 0u8;
    for word in text.split('/') {
        let (bit, set) = match word {
            "frag" => (IP_FLAG_FRAG, true),
            "nofrag" => (IP_FLAG_FRAG, false),
            "firstfrag" => (IP_FLAG_FIRSTFRAG, true),
            "nofirstfrag" => (IP_FLAG_FIRSTFRAG, false),
            _ => {
                return Err(format!(
                    "ip_flags expects frag, nofrag, firstfrag or nofirstfrag (two joined by '/'), found '{word}'"
                ))
            }
        };
        if mask & bit != 0 {
            return Err(format!(
                "ip_flags {text} says {} twice",
                if bit == IP_FLAG_FRAG { "frag" } else { "firstfrag" }
            ));
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
        "ip_flags" => "frag, nofrag, firstfrag or nofirstfrag",
        "enc_key_id" => "a number 0..=4294967295",
        "enc_dst_port" => "a port 0..=65535",
        "prio" => "a number 0..=4294967295",
        "protocol" => "ip, ipv6, 802.1q, 802.1ad or all",
        "chain" => "0",
        _ => "a value",
    }
}

/// Sets `key` in `keys` from its value word.
fn set_key(keys: &mut Keys, key: &str, text: &str) -> Result<(), String> {
    match key {
        "src_mac" => keys.src_mac = Some(masked_mac(key, text)?),
        "dst_mac" => keys.dst_mac = Some(masked_mac(key, text)?),
        "vlan_id" => keys.vlan_id = Some(number(key, text, 4095)? as u16),
        "vlan_prio" => keys.vlan_prio = Some(number(key, text, 7)? as u8),
        "ip_proto" => keys.ip_proto = Some(ip_proto(text)?),
        "src_ip" => keys.src_ip = Some(prefix(key, text)?),
        "dst_ip" => keys.dst_ip = Some(prefix(key, text)?),
        "src_port" => keys.src_port = Some(port_match(key, text)?),
        "dst_port" => keys.dst_port = Some(port_match(key, text)?),
        "ip_tos" => keys.ip_tos = Some(masked_u8(key, text)?),
        "ip_ttl" => keys.ip_ttl = Some(masked_u8(key, text)?),
        "tcp_flags" => {
            let (value, mask) = split_mask(key, text, 0xfff)?;
            keys.tcp_flags = Some(Masked::<u16>::new(value as u16, mask as u16));
        }
        "ip_flags" => keys.ip_flags = Some(ip_flags(text)?),
        "enc_key_id" => keys.enc_key_id = Some(number(key, text, u64::from(u32::MAX))? as u32),
        "enc_src_ip" => keys.enc_src_ip = Some(prefix(key, text)?),
        "enc_dst_ip" => keys.enc_dst_ip = Some(prefix(key, text)?),
        "enc_dst_port" => keys.enc_dst_port = Some(number(key, text, 0xffff)? as u16),
        _ => unreachable!("set_key is called with names from KEYS"),
    }
    Ok(())
}

/// Optimal string alignment distance (edits, adjacent swaps counting as one).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// " (did you mean X?)" when a candidate is close enough, else "".
fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    let limit = if word.chars().count() >= 5 { 2 } else { 1 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map_or_else(String::new, |(_, c)| format!(" (did you mean {c}?)"))
}

// ---------------------------------------------------------------------------------------------
// One line

/// A rule line before its prio is settled.
struct ParsedLine {
    prio: Option<u32>,
    protocol: Protocol,
    keys: Keys,
    action: Action,
    action_col: usize,
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
    protocol: Protocol,
    keys: Keys,
    action: Option<Action>,
    action_col: usize,
}

/// `Ok(None)` for a blank or comment line; errors as (col, message).
fn parse_line(raw: &str) -> Result<Option<ParsedLine>, Vec<(usize, String)>> {
    let content = strip_comment(raw);
    let tokens = tokenize(content);
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = LineParser {
        content,
        tokens,
        pos: 0,
        errors: Vec::new(),
        seen: Vec::new(),
        at: Vec::new(),
        prio: None,
        protocol: Protocol::All,
        keys: Keys::default(),
        action: None,
        action_col: 0,
    };
    if p.tc_prefix() {
        p.items();
    }
    if p.errors.is_empty() {
        p.check_across_keys();
    }
    match p.action {
        Some(action) if p.errors.is_empty() => {
            Ok(Some(ParsedLine { prio: p.prio, protocol: p.protocol, keys: p.keys, action, action_col: p.action_col }))
        }
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
    /// follows it cannot be read reliably.
    fn items(&mut self) {
        while let Some(token) = self.next() {
            let word = token.text;
            if is_action_word(word) {
                self.action(token);
                return;
            }
            if let Some(&key) = KEYS.iter().find(|&&k| k == word) {
                let Some(value) = self.value(token, expected_value(key)) else { continue };
                if self.first_time(key, token) {
                    match set_key(&mut self.keys, key, value.text) {
                        Ok(()) => self.at.push(KeyAt { key, key_col: token.col, value_col: value.col }),
                        Err(message) => self.error(value.col, message),
                    }
                }
                continue;
            }
            match word {
                "prio" | "pref" | "preference" | "priority" => {
                    let Some(value) = self.value(token, expected_value("prio")) else { continue };
                    if self.first_time("prio", token) {
                        match number(word, value.text, u64::from(u32::MAX)) {
                            Ok(prio) => self.prio = Some(prio as u32),
                            Err(message) => self.error(value.col, message),
                        }
                    }
                }
                "protocol" => {
                    let Some(value) = self.value(token, expected_value("protocol")) else { continue };
                    if self.first_time("protocol", token) {
                        match value.text.to_ascii_lowercase().as_str() {
                            "ip" | "ipv4" => self.protocol = Protocol::Ipv4,
                            "ipv6" => self.protocol = Protocol::Ipv6,
                            "802.1q" | "802.1ad" => self.protocol = Protocol::Vlan,
                            "all" => self.protocol = Protocol::All,
                            _ => self.error(
                                value.col,
                                format!("protocol expects ip, ipv6, 802.1q, 802.1ad or all, found '{}'", value.text),
                            ),
                        }
                    }
                }
                "chain" => {
                    let Some(value) = self.value(token, expected_value("chain")) else { continue };
                    if self.first_time("chain", token) && !matches!(parse_u64(value.text), Ok(0)) {
                        self.error(
                            value.col,
                            format!("chain {} is not supported: rules live in chain 0 (there is no goto)", value.text),
                        );
                    }
                }
                // tc words that take a value and do not change the rule's meaning.
                "dev" | "parent" | "handle" | "classid" | "flowid" | "block" => {
                    self.value(token, "a value");
                }
                "flower" | "ingress" | "egress" | "root" | "skip_sw" | "skip_hw" | "verbose" => {}
                "u32" | "bpf" | "matchall" | "basic" | "fw" | "route" | "flow" | "cgroup" | "tcindex" | "rsvp" => {
                    self.error(token.col, format!("only flower filters can be read, this is a '{word}' filter"));
                    return;
                }
                _ if FLOWER_UNSUPPORTED.contains(&word) => {
                    self.error(
                        token.col,
                        format!("flower key '{word}' is not supported here (keys: {})", KEYS.join(", ")),
                    );
                    return;
                }
                _ => {
                    let hint = did_you_mean(word, KEYS.iter().chain(WORDS.iter()).copied());
                    self.error(token.col, format!("unknown key '{word}'{hint}"));
                    return;
                }
            }
        }
        self.error(end_col(self.content), format!("missing action (expected `action {EXPECTED_ACTION}`)"));
    }

    /// The action after the word `action`, then the end of the line.
    fn action(&mut self, action_word: Token<'a>) {
        self.action_col = action_word.col;
        let Some(mut word) = self.next() else {
            self.error(
                action_word.col,
                format!("missing action after '{}' (expected {EXPECTED_ACTION})", action_word.text),
            );
            return;
        };
        if word.text == "gact" {
            match self.next() {
                Some(t) if matches!(t.text, "drop" | "shot" | "pass" | "ok") => word = t,
                Some(t) => {
                    self.error(t.col, format!("gact {} is not supported (expected drop or pass/ok)", t.text));
                    return;
                }
                None => {
                    self.error(end_col(self.content), "gact needs a control action: drop or pass/ok");
                    return;
                }
            }
        }
        let action = match word.text {
            "drop" | "shot" => Action::Drop,
            "pass" | "ok" => Action::Pass,
            "reflect" => Action::Reflect,
            "decap" => Action::Decap,
            "ttl-dec" => Action::TtlDec,
            "fwd" => {
                let Some(port) = self.peek() else {
                    self.error(word.col, "missing port for fwd (expected the dataplane port number, 0-based)");
                    return;
                };
                self.pos += 1;
                match number("fwd port", port.text, 0xffff) {
                    Ok(port) => Action::Fwd(port as u16),
                    Err(message) => {
                        self.error(port.col, message);
                        return;
                    }
                }
            }
            "encap" => {
                let spec = self.content[word.offset + word.text.len()..].trim();
                self.pos = self.tokens.len();
                if spec.is_empty() {
                    self.error(word.col, "missing tunnel spec for encap (expected e.g. vxlan,src=IP,dst=IP,vni=N)");
                    return;
                }
                Action::Encap(spec.to_string())
            }
            "mirred" => {
                self.error(
                    word.col,
                    "mirred sends to a network device, but in this language ports are numbers: \
                     write `action fwd N`, N being the 0-based number of the dataplane's --port",
                );
                return;
            }
            other => {
                let hint = did_you_mean(other, ACTIONS);
                self.error(word.col, format!("unknown action '{other}'{hint} (expected {EXPECTED_ACTION})"));
                return;
            }
        };
        if let Some(extra) = self.peek() {
            self.error(
                extra.col,
                format!("unexpected '{}' after the action (one action per rule, keys go before it)", extra.text),
            );
            return;
        }
        self.action = Some(action);
    }

    fn find(&self, key: &str) -> Option<&KeyAt> {
        self.at.iter().find(|at| at.key == key)
    }

    /// The rules flower enforces across keys, and address families that could never match.
    fn check_across_keys(&mut self) {
        let keys = self.keys;
        for (key, needs) in [("src_port", "tcp, udp or sctp"), ("dst_port", "tcp, udp or sctp"), ("tcp_flags", "tcp")] {
            let Some(at) = self.find(key) else { continue };
            let col = at.key_col;
            let allowed: &[u8] = if key == "tcp_flags" { &[6] } else { &[6, 17, 132] };
            match keys.ip_proto {
                Some(proto) if allowed.contains(&proto) => {}
                Some(proto) => {
                    let name = ip_proto_name(proto).map_or_else(|| proto.to_string(), str::to_string);
                    self.error(col, format!("{key} needs ip_proto {needs} (as in flower), not {name}"));
                }
                None => self.error(col, format!("{key} needs ip_proto {needs} (as in flower)")),
            }
        }
        let protocol_family = match self.protocol {
            Protocol::Ipv4 => Some((Family::V4, "ip")),
            Protocol::Ipv6 => Some((Family::V6, "ipv6")),
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
            Action::Encap(spec) => write!(f, "encap {spec}"),
            Action::Decap => f.write_str("decap"),
            Action::TtlDec => f.write_str("ttl-dec"),
        }
    }
}

/// A native line (always with its `prio`) that [`parse`] reads back as the same rule, apart
/// from `line` and `action_col`. Not written: `ip_flags` bits other than frag/firstfrag, an
/// `ip_flags` with an empty mask (it matches everything).
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "prio {}", self.prio)?;
        match self.protocol {
            Protocol::All => {}
            Protocol::Ipv4 => f.write_str(" protocol ip")?,
            Protocol::Ipv6 => f.write_str(" protocol ipv6")?,
            Protocol::Vlan => f.write_str(" protocol 802.1q")?,
        }
        let k = &self.keys;
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
        if let Some(proto) = k.ip_proto {
            match ip_proto_name(proto) {
                Some(name) => write!(f, " ip_proto {name}")?,
                None => write!(f, " ip_proto {proto}")?,
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
            f.write_str(" tcp_flags ")?;
            write_masked(f, (m.value & 0xfff).into(), (m.mask & 0xfff).into(), 0xfff)?;
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
        write!(f, " action {}", self.action)
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
