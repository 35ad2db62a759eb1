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

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::key::{Family, PacketKey};
use crate::lex::{
    check_line_length, check_token_lengths, end_col, number, prefix, read_text, strip_comment, tokenize, ParseError,
    Token, ValueError, MAX_TRACE_FILE_BYTES,
};
use crate::rule::{Action, Keys, PortMatch, Prefix, Protocol, Rule, RuleSet};

/// Reads a ClassBench filter set; `file` names it in the errors.
pub fn parse_classbench(file: &str, text: &str) -> Result<RuleSet, Vec<ParseError>> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        // The ports' ':' may be written without spaces; the addresses (IPv6) keep theirs.
        let mut tokens = match check_line_length(raw) {
            Ok(()) => tokenize(strip_comment(raw)),
            Err((col, message)) => {
                errors.push(ParseError { file: file.to_string(), line, col, message });
                continue;
            }
        };
        if let Err((col, message)) = check_token_lengths(&tokens) {
            errors.push(ParseError { file: file.to_string(), line, col, message });
            continue;
        }
        let ports = split_colons(tokens.split_off(tokens.len().min(2)));
        tokens.extend(ports);
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
                chain: 0,
                hook: crate::rule::Hook::Ingress,
                actions: vec![Action::Drop],
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
        let tokens = match check_line_length(raw) {
            Ok(()) => tokenize(strip_comment(raw)),
            Err((col, message)) => {
                errors.push(ParseError { file: file.to_string(), line: index + 1, col, message });
                continue;
            }
        };
        if tokens.is_empty() {
            continue;
        }
        if let Err((col, message)) = check_token_lengths(&tokens) {
            errors.push(ParseError { file: file.to_string(), line: index + 1, col, message });
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

/// Reads a ClassBench trace file of at most [`MAX_TRACE_FILE_BYTES`]; a file that cannot be
/// read (or is larger) is one error `file: message`.
pub fn parse_trace_file(path: &Path) -> Result<Vec<PacketKey>, Vec<ParseError>> {
    parse_trace(&path.display().to_string(), &read_text(path, MAX_TRACE_FILE_BYTES)?)
}

/// Splits words at ':' (kept as words of their own), so `0:65535` reads as `0 : 65535`.
/// Linear in the words' length: the column is counted on from the previous piece, never
/// from the start of the word again.
fn split_colons(tokens: Vec<Token<'_>>) -> Vec<Token<'_>> {
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        let text = token.text;
        // (byte, col) of the last place the column was counted to.
        let mut counted = (0, token.col);
        let mut col_at = |byte: usize| {
            counted = (byte, counted.1 + text[counted.0..byte].chars().count());
            counted.1
        };
        let mut start = 0;
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
fn word<'a>(
    tokens: &[Token<'a>],
    index: usize,
    raw: &str,
    expected: fmt::Arguments<'_>,
) -> Result<Token<'a>, LineError> {
    tokens
        .get(index)
        .copied()
        .ok_or_else(|| (end_col(raw), format!("missing {expected} (a ClassBench filter is `{FILTER_SHAPE}`)")))
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
    let dst_token = word(tokens, 1, raw, format_args!("destination prefix"))?;
    let dst = classbench_prefix("destination prefix", dst_token.text, dst_token.col)?;
    if src.family != dst.family {
        return Err((dst_token.col, "the source and destination prefixes are of different families".to_string()));
    }
    let src_port = port_range(tokens, 2, raw, "source port")?;
    let dst_port = port_range(tokens, 5, raw, "destination port")?;
    let proto_token = word(tokens, 8, raw, format_args!("protocol PROTO/MASK"))?;
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
    prefix(what, text).map_err(|error| (col, error.to_string()))
}

/// `LO : HI` from `tokens[at..at + 3]`; the full range is no key.
fn port_range(tokens: &[Token<'_>], at: usize, raw: &str, what: &str) -> Result<Option<PortMatch>, LineError> {
    let lo_token = word(tokens, at, raw, format_args!("{what} range LO : HI"))?;
    let colon = word(tokens, at + 1, raw, format_args!("':' in the {what} range"))?;
    if colon.text != ":" {
        return Err((colon.col, format!("expected ':' in the {what} range LO : HI, found '{}'", colon.text)));
    }
    let hi_token = word(tokens, at + 2, raw, format_args!("{what} range high end"))?;
    let lo = port(what, lo_token)?;
    let hi = port(what, hi_token)?;
    if lo > hi {
        return Err((
            lo_token.col,
            ValueError::EmptyRange { what: what.into(), word: format!("{lo} : {hi}") }.to_string(),
        ));
    }
    Ok(match (lo, hi) {
        (0, 0xffff) => None,
        (lo, hi) if lo == hi => Some(PortMatch::exact(lo)),
        (lo, hi) => Some(PortMatch::Range { lo, hi }),
    })
}

/// A number (decimal or `0x` hex) in `0..=max`, as the native format's own numbers.
fn number_at(what: &str, token: Token<'_>, max: u64) -> Result<u64, LineError> {
    number(what, token.text, max).map_err(|error| (token.col, error.to_string()))
}

fn port(what: &str, token: Token<'_>) -> Result<u16, LineError> {
    Ok(number_at(what, token, 0xffff)? as u16)
}

/// `0xVV/0xMM`: mask 0 is no key, 0xFF an exact protocol.
fn protocol(token: Token<'_>) -> Result<Option<u8>, LineError> {
    let Some((value, mask)) = token.text.split_once('/') else {
        return Err((token.col, format!("protocol expects PROTO/MASK like 0x06/0xFF, found '{}'", token.text)));
    };
    let value_token = Token { text: value, ..token };
    let mask_token =
        Token { text: mask, col: token.col + value.chars().count() + 1, offset: token.offset + value.len() + 1 };
    let value = number_at("protocol", value_token, 0xff)? as u8;
    match number_at("protocol mask", mask_token, 0xff)? {
        0 => Ok(None),
        0xff => Ok(Some(value)),
        other => Err((mask_token.col, format!("protocol mask {other:#04x} is not supported (expected 0x00 or 0xFF)"))),
    }
}

fn trace_line(tokens: &[Token<'_>], raw: &str) -> Result<PacketKey, LineError> {
    if tokens.len() < 5 {
        return Err((
            end_col(raw),
            format!("a trace line has 5 columns `SRC DST SPORT DPORT PROTO`, found {}", tokens.len()),
        ));
    }
    let src = trace_address("source address", tokens[0])?;
    let dst = trace_address("destination address", tokens[1])?;
    let src_port = port("source port", tokens[2])?;
    let dst_port = port("destination port", tokens[3])?;
    let proto = number_at("protocol", tokens[4], 0xff)? as u8;
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
        Ok((number_at(what, token, u64::from(u32::MAX))? as u32).to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Classifier;
    use crate::lex::MAX_LINE_BYTES;
    use crate::linear::Linear;
    use crate::parse::{parse_file, Format};

    fn errors(text: &str) -> Vec<String> {
        parse_classbench("acl1", text).unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn filter_lines() {
        let text = "\
@1.2.3.0/24\t5.6.0.0/16\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0200
@0.0.0.0/0 10.0.0.1/32 1024 : 65535 0 : 65535 0x00/0x00
@192.168.0.0/16 0.0.0.0/0 53:53 1000:2000 0x11/0xff

@2001:db8::/32 ::/0 0 : 65535 0 : 65535 0x3a/0xFF
";
        let set = parse_classbench("acl1", text).unwrap();
        let r = &set.rules;
        assert_eq!(r.len(), 4);
        assert_eq!(set.order, [0, 1, 2, 3]);
        assert_eq!(
            (r[0].line, r[0].prio, r[0].protocol, r[0].actions[0].clone()),
            (1, 1, Protocol::Ipv4, Action::Drop)
        );
        assert_eq!(r[0].keys.src_ip, Some(Prefix::v4([1, 2, 3, 0], 24)));
        assert_eq!(r[0].keys.dst_ip, Some(Prefix::v4([5, 6, 0, 0], 16)));
        assert_eq!(r[0].keys.src_port, None);
        assert_eq!(r[0].keys.dst_port, Some(PortMatch::exact(80)));
        assert_eq!(r[0].keys.ip_proto, Some(6));
        assert_eq!(
            r[1].keys,
            Keys {
                dst_ip: Some(Prefix::v4([10, 0, 0, 1], 32)),
                src_port: Some(PortMatch::Range { lo: 1024, hi: 65535 }),
                ..Keys::default()
            }
        );
        assert_eq!(r[2].keys.src_port, Some(PortMatch::exact(53)));
        assert_eq!(r[2].keys.dst_port, Some(PortMatch::Range { lo: 1000, hi: 2000 }));
        assert_eq!((r[2].keys.ip_proto, r[2].keys.dst_ip, r[2].line, r[2].prio), (Some(17), None, 3, 3));
        assert_eq!((r[3].protocol, r[3].keys.ip_proto, r[3].keys.dst_ip), (Protocol::Ipv6, Some(58), None));

        let linear = Linear::new(&set);
        let key = PacketKey::ipv4_5tuple([1, 2, 3, 4], [5, 6, 7, 8], 6, 9, 80);
        assert_eq!(linear.classify(&key), Some(0));
        let key = PacketKey::ipv4_5tuple([1, 2, 3, 4], [10, 0, 0, 1], 6, 2000, 80);
        assert_eq!(linear.classify(&key), Some(1));
        let key = PacketKey::ipv4_5tuple([9, 9, 9, 9], [10, 0, 0, 1], 17, 2000, 1);
        assert_eq!(linear.classify(&key), Some(1));
        let key = PacketKey::ipv4_5tuple([192, 168, 1, 1], [10, 0, 0, 2], 17, 53, 1500);
        assert_eq!(linear.classify(&key), Some(2));
        let key = PacketKey::ipv4_5tuple([192, 168, 1, 1], [10, 0, 0, 2], 6, 53, 1500);
        assert_eq!(linear.classify(&key), None);
    }

    #[test]
    fn filter_errors_all_at_once() {
        let text = "\
1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80 0x06/0xFF
@1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80 0x06/0x0F
@1.2.3.0/33 5.6.0.0/16 0 : 65535 80 : 80 0x06/0xFF
@1.2.3.0/24 5.6.0.0/16 0 : 65536 80 : 80 0x06/0xFF
@1.2.3.0/24 5.6.0.0/16 9 : 8 80 : 80 0x06/0xFF
@1.2.3.0/24 5.6.0.0/16 0 - 65535 80 : 80 0x06/0xFF
@1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80
@1.2.3.0/24 5.6.0.0 0 : 65535 80 : 80 0x06/0xFF
@1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80 6
@1.2.3.0/24 ::/0 0 : 65535 80 : 80 0x06/0xFF
@1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80 0x106/0xFF
";
        assert_eq!(
            errors(text),
            [
                "acl1:1:1: a ClassBench filter starts with '@' (`@SRC/LEN DST/LEN SPLO : SPHI DPLO : DPHI PROTO/MASK`), found '1.2.3.0/24'",
                "acl1:2:47: protocol mask 0x0f is not supported (expected 0x00 or 0xFF)",
                "acl1:3:2: source prefix prefix length 33 is out of range 0..=32",
                "acl1:4:28: source port 65536 is out of range 0..=65535",
                "acl1:5:24: source port range 9 : 8 is empty (the low end is above the high end)",
                "acl1:6:26: expected ':' in the source port range LO : HI, found '-'",
                "acl1:7:41: missing protocol PROTO/MASK (a ClassBench filter is `@SRC/LEN DST/LEN SPLO : SPHI DPLO : DPHI PROTO/MASK`)",
                "acl1:8:13: destination prefix needs its length: ADDR/LEN, found '5.6.0.0'",
                "acl1:9:42: protocol expects PROTO/MASK like 0x06/0xFF, found '6'",
                "acl1:10:13: the source and destination prefixes are of different families",
                "acl1:11:42: protocol 0x106 is out of range 0..=255",
            ]
        );
    }

    #[test]
    fn traces() {
        let text = "\
16909060\t84281096\t1024\t80\t6\t3
1.2.3.4 5.6.7.8 53 53 17

0 4294967295 0 65535 0
";
        let keys = parse_trace("trace", text).unwrap();
        assert_eq!(
            keys,
            [
                PacketKey::ipv4_5tuple([1, 2, 3, 4], [5, 6, 7, 8], 6, 1024, 80),
                PacketKey::ipv4_5tuple([1, 2, 3, 4], [5, 6, 7, 8], 17, 53, 53),
                PacketKey::ipv4_5tuple([0, 0, 0, 0], [255, 255, 255, 255], 0, 0, 65535),
            ]
        );
        let errors: Vec<String> =
            parse_trace("trace", "1 2 3 4\n4294967296 1 2 3 4\n1.2.3 1 2 3 4\n1 2 3 70000 6\n1 2 3 4 256\n")
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            errors,
            [
                "trace:1:8: a trace line has 5 columns `SRC DST SPORT DPORT PROTO`, found 4",
                "trace:2:1: source address 4294967296 is out of range 0..=4294967295",
                "trace:3:1: source address expects a dotted quad or a u32, found '1.2.3'",
                "trace:4:7: destination port 70000 is out of range 0..=65535",
                "trace:5:9: protocol 256 is out of range 0..=255",
            ]
        );
    }

    /// A word of many colons splits into the right pieces at the right columns (the column of
    /// each piece was once counted from the word's start, quadratic in its length).
    #[test]
    fn split_colons_is_linear_and_exact_on_a_long_word() {
        let pieces = 20_000;
        let text = "é1:".repeat(pieces);
        let token = Token { text: &text, col: 5, offset: 9 };
        let out = split_colons(vec![token]);
        assert_eq!(out.len(), 2 * pieces);
        for (i, pair) in out.chunks(2).enumerate() {
            let col = 5 + 3 * i;
            assert_eq!((pair[0].text, pair[0].col, pair[0].offset), ("é1", col, 9 + 4 * i));
            assert_eq!((pair[1].text, pair[1].col, pair[1].offset), (":", col + 2, 9 + 4 * i + 3));
        }
    }

    #[test]
    fn long_lines_and_words_are_refused_in_filters_and_traces() {
        let long = format!("@1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80 0x06/0xFF {}", "1".repeat(MAX_LINE_BYTES));
        let found = errors(&format!("{long}\n@0.0.0.0/0 0.0.0.0/0 0 : 65535 0 : 65535 0x00/0x00\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with(&format!("acl1:1:{}: line of ", MAX_LINE_BYTES + 1)), "{}", found[0]);
        let word = format!("@1.2.3.0/24 5.6.0.0/16 0:65535:{} 80 : 80 0x06/0xFF", "7:".repeat(300));
        assert!(errors(&word)[0].starts_with("acl1:1:24: word of 608 bytes"), "{:?}", errors(&word));
        let trace = format!("1 2 3 4 6\n1 2 3 4 6 {}\n", "9".repeat(MAX_LINE_BYTES));
        let trace_errors = parse_trace("t", &trace).unwrap_err();
        assert_eq!((trace_errors.len(), trace_errors[0].line), (1, 2));
    }

    #[test]
    fn files() {
        let dir = std::env::temp_dir();
        let rules = dir.join(format!("rules-cb-test-{}.rules", std::process::id()));
        let trace = dir.join(format!("rules-cb-test-{}.trace", std::process::id()));
        std::fs::write(&rules, "@1.2.3.0/24 5.6.0.0/16 0 : 65535 80 : 80 0x06/0xFF\n").unwrap();
        std::fs::write(&trace, "16909060 84281096 1024 80 6\n").unwrap();
        let set = parse_file(&rules, Format::Classbench);
        let keys = parse_trace_file(&trace);
        let _ = std::fs::remove_file(&rules);
        let _ = std::fs::remove_file(&trace);
        let set = set.unwrap();
        let keys = keys.unwrap();
        assert_eq!(Linear::new(&set).classify(&keys[0]), Some(0));
        let missing = parse_trace_file(Path::new("/nonexistent/t")).unwrap_err();
        assert!(missing[0].to_string().starts_with("/nonexistent/t: cannot read: "), "{}", missing[0]);
    }
}
