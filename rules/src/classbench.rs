//! ClassBench filter sets and traces (Taylor & Turner, "ClassBench: a packet classification
//! benchmark", INFOCOM 2005), the usual inputs of packet-classification studies.
//!
//! A filter line is `@SRC/LEN DST/LEN SPLO : SPHI DPLO : DPHI PROTO/MASK [more columns]`, e.g.
//! `@1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80 0x06/0xFF 0x0000/0x0200` (the columns after the
//! protocol, TCP/IP flags in some sets, are ignored). It reads as a native rule:
//!
//! - `protocol ip` (`ipv6` if the addresses are IPv6), action `drop`;
//! - a `/0` prefix is no key, any other is `src_ip`/`dst_ip`;
//! - a port range `0 : 65535` is no key, `N : N` an exact port, others a range;
//! - protocol mask `0x00` is no key, `0xFF` is `ip_proto`; other masks are refused;
//! - `prio` is the line's ordinal (1, 2, ...), so file order is matching order.
//!
//! Unlike native rules, ports do not need a protocol here (a ClassBench filter may give ports
//! with a wildcard protocol); [`Rule::action_col`] is 1 (there is no action word).
//!
//! A trace line (ClassBench's `trace_generator`) is `SRC DST SPORT DPORT PROTO [more]`, the
//! addresses as u32 decimals or dotted quads; the extra column (the filter that matched) is
//! ignored.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::key::{Family, PacketKey};
use crate::parse::{prefix, read_text, strip_comment, tokenize, ParseError, Token};
use crate::rule::{Action, Keys, PortMatch, Prefix, Protocol, Rule, RuleSet};

/// Reads a ClassBench filter set; `file` names it in the errors.
pub fn parse_classbench(file: &str, text: &str) -> Result<RuleSet, Vec<ParseError>> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let tokens = split_colons(tokenize(strip_comment(raw)));
        if tokens.is_empty() {
            continue;
        }
        match filter_line(&tokens, raw) {
            Ok((protocol, keys)) => rules.push(Rule {
                line,
                action_col: 1,
                prio: u32::try_from(rules.len() + 1).unwrap_or(u32::MAX),
                protocol,
                keys,
                action: Action::Drop,
            }),
            Err((col, message)) => errors.push(ParseError { file: file.to_string(), line, col, message }),
        }
    }
    if errors.is_empty() {
        Ok(RuleSet::new(rules))
    } else {
        Err(errors)
    }
}

/// Reads a ClassBench trace: one [`PacketKey`] per line.
pub fn parse_trace(file: &str, text: &str) -> Result<Vec<PacketKey>, Vec<ParseError>> {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let tokens = tokenize(strip_comment(raw));
        if tokens.is_empty() {
            continue;
        }
        match trace_line(&tokens, raw) {
            Ok(key) => keys.push(key),
            Err((col, message)) => errors.push(ParseError { file: file.to_string(), line: index + 1, col, message }),
        }
    }
    if errors.is_empty() {
        Ok(keys)
    } else {
        Err(errors)
    }
}

/// Reads a ClassBench trace file; a file that cannot be read is one error `file: message`.
pub fn parse_trace_file(path: &Path) -> Result<Vec<PacketKey>, Vec<ParseError>> {
    parse_trace(&path.display().to_string(), &read_text(path)?)
}

/// Splits words at ':' (kept as words of their own), so `0:65535` reads as `0 : 65535`.
fn split_colons(tokens: Vec<Token<'_>>) -> Vec<Token<'_>> {
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        let mut start = 0;
        let text = token.text;
        let col_at = |byte: usize| token.col + text[..byte].chars().count();
        for (at, _) in text.match_indices(':') {
            if at > start {
                out.push(Token { text: &text[start..at], col: col_at(start), offset: token.offset + start });
            }
            out.push(Token { text: &text[at..at + 1], col: col_at(at), offset: token.offset + at });
            start = at + 1;
        }
        if start < text.len() {
            out.push(Token { text: &text[start..], col: col_at(start), offset: token.offset + start });
        }
    }
    out
}

type LineError = (usize, String);

const FILTER_SHAPE: &str = "@SRC/LEN DST/LEN SPLO : SPHI DPLO : DPHI PROTO/MASK";

/// The word at `index`, or an error at the end of the line saying what was expected there.
fn word<'a>(tokens: &[Token<'a>], index: usize, raw: &str, expected: &str) -> Result<Token<'a>, LineError> {
    tokens.get(index).copied().ok_or_else(|| {
        (raw.trim_end().chars().count() + 1, format!("missing {expected} (a ClassBench filter is `{FILTER_SHAPE}`)"))
    })
}

fn filter_line(tokens: &[Token<'_>], raw: &str) -> Result<(Protocol, Keys), LineError> {
    let first = tokens[0];
    let Some(src_text) = first.text.strip_prefix('@') else {
        return Err((
            first.col,
            format!("a ClassBench filter starts with '@' (`{FILTER_SHAPE}`), found '{}'", first.text),
        ));
    };
    let src = classbench_prefix("source prefix", src_text, first.col + 1)?;
    let dst_token = word(tokens, 1, raw, "destination prefix")?;
    let dst = classbench_prefix("destination prefix", dst_token.text, dst_token.col)?;
    if src.family != dst.family {
        return Err((dst_token.col, "the source and destination prefixes are of different families".to_string()));
    }
    let src_port = port_range(tokens, 2, raw, "source port")?;
    let dst_port = port_range(tokens, 5, raw, "destination port")?;
    let proto_token = word(tokens, 8, raw, "protocol PROTO/MASK")?;
    let ip_proto = protocol(proto_token)?;
    let keys = Keys {
        src_ip: (src.len > 0).then_some(src),
        dst_ip: (dst.len > 0).then_some(dst),
        src_port,
        dst_port,
        ip_proto,
        ..Keys::default()
    };
    let protocol = if src.family == Family::V6 { Protocol::Ipv6 } else { Protocol::Ipv4 };
    Ok((protocol, keys))
}

fn classbench_prefix(what: &str, text: &str, col: usize) -> Result<Prefix, LineError> {
    if !text.contains('/') {
        return Err((col, format!("{what} needs its length: ADDR/LEN, found '{text}'")));
    }
    prefix(what, text).map_err(|message| (col, message))
}

/// `LO : HI` from `tokens[at..at + 3]`; the full range is no key.
fn port_range(tokens: &[Token<'_>], at: usize, raw: &str, what: &str) -> Result<Option<PortMatch>, LineError> {
    let lo_token = word(tokens, at, raw, &format!("{what} range LO : HI"))?;
    let colon = word(tokens, at + 1, raw, &format!("':' in the {what} range"))?;
    if colon.text != ":" {
        return Err((colon.col, format!("expected ':' in the {what} range LO : HI, found '{}'", colon.text)));
    }
    let hi_token = word(tokens, at + 2, raw, &format!("{what} range high end"))?;
    let lo = port(what, lo_token)?;
    let hi = port(what, hi_token)?;
    if lo > hi {
        return Err((lo_token.col, format!("{what} range {lo} : {hi} is empty (the low end is above the high end)")));
    }
    Ok(match (lo, hi) {
        (0, 0xffff) => None,
        (lo, hi) if lo == hi => Some(PortMatch::exact(lo)),
        (lo, hi) => Some(PortMatch::Range { lo, hi }),
    })
}

fn number(what: &str, token: Token<'_>, max: u64) -> Result<u64, LineError> {
    let text = token.text;
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => u64::from_str_radix(hex, 16).ok(),
        None if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) => text.parse().ok(),
        _ => return Err((token.col, format!("{what} expects a number (decimal or 0x hex), found '{text}'"))),
    };
    match parsed {
        Some(n) if n <= max => Ok(n),
        _ => Err((token.col, format!("{what} {text} is out of range 0..={max}"))),
    }
}

fn port(what: &str, token: Token<'_>) -> Result<u16, LineError> {
    Ok(number(what, token, 0xffff)? as u16)
}

/// `0xVV/0xMM`: mask 0 is no key, 0xFF an exact protocol.
fn protocol(token: Token<'_>) -> Result<Option<u8>, LineError> {
    let Some((value, mask)) = token.text.split_once('/') else {
        return Err((token.col, format!("protocol expects PROTO/MASK like 0x06/0xFF, found '{}'", token.text)));
    };
    let value_token = Token { text: value, ..token };
    let mask_token =
        Token { text: mask, col: token.col + value.chars().count() + 1, offset: token.offset + value.len() + 1 };
    let value = number("protocol", value_token, 0xff)? as u8;
    match number("protocol mask", mask_token, 0xff)? {
        0 => Ok(None),
        0xff => Ok(Some(value)),
        other => Err((mask_token.col, format!("protocol mask {other:#04x} is not supported (expected 0x00 or 0xFF)"))),
    }
}

fn trace_line(tokens: &[Token<'_>], raw: &str) -> Result<PacketKey, LineError> {
    if tokens.len() < 5 {
        return Err((
            raw.trim_end().chars().count() + 1,
            format!("a trace line has 5 columns `SRC DST SPORT DPORT PROTO`, found {}", tokens.len()),
        ));
    }
    let src = trace_address("source address", tokens[0])?;
    let dst = trace_address("destination address", tokens[1])?;
    let src_port = port("source port", tokens[2])?;
    let dst_port = port("destination port", tokens[3])?;
    let proto = number("protocol", tokens[4], 0xff)? as u8;
    Ok(PacketKey::ipv4_5tuple(src, dst, proto, src_port, dst_port))
}

/// A u32 decimal (as trace_generator writes) or a dotted quad.
fn trace_address(what: &str, token: Token<'_>) -> Result<[u8; 4], LineError> {
    if token.text.contains('.') {
        token
            .text
            .parse::<Ipv4Addr>()
            .map(|addr| addr.octets())
            .map_err(|_| (token.col, format!("{what} expects a dotted quad or a u32, found '{}'", token.text)))
    } else {
        Ok((number(what, token, u64::from(u32::MAX))? as u32).to_be_bytes())
    }
}
