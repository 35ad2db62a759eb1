//! tc's own reading of words and numbers, so that a pasted `tc filter ... flower` line means
//! here what it means to tc: iproute2's tc/tc_filter.c (the filter's options), tc/f_flower.c
//! (flower's keys), lib/utils.c (`matches`, `get_u8`/`get_u16`/`get_u32`) and
//! lib/ll_proto.c (ethertype names).
//!
//! Two habits of iproute2 matter:
//! - **Abbreviations**: most options are compared with `matches(word, option)`, true when
//!   `word` is a non-empty prefix of `option`, tried in the order of the source; the first
//!   hit wins. So `proto` is `protocol`, `pref` is `preference`, and `ip` is flower's
//!   `ip_flags` (the first key starting with `ip`). Some options are compared exactly
//!   (`strcmp`): `dev`, `ingress`, `num_of_vlans`...
//! - **Number bases**: each value is read with `strtoul` in a base of its own. `ip_proto`,
//!   `tcp_flags` and the masks of `ip_tos`/`ip_ttl` are hexadecimal even without `0x`
//!   (`ip_proto 17` is protocol 0x17 = 23); VLAN ids, ports, `enc_key_id` and `ip_tos`
//!   values are decimal; `prio`, `chain` and numeric ethertypes take C's prefixes (`0x`
//!   hex, a leading `0` octal).

/// How iproute2 reads a number (`strtoul`'s base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// Base 10: digits only (`0x10` is not a number).
    Dec,
    /// Base 16: hex digits, `0x` optional.
    Hex,
    /// Base 0: `0x` hex, a leading `0` octal, else decimal.
    Auto,
    /// This language's own numbers (fwd ports, prefix lengths, port masks): `0x` hex, else
    /// decimal (a leading 0 is not octal).
    DecOrHex,
}

/// Why a word is not a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumError {
    /// Not digits of the base (or nothing at all).
    NotNumber,
    /// Digits of the base, but more than 64 bits hold.
    TooBig,
}

fn strip_hex(text: &str) -> Option<&str> {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
}

/// `text` read as `strtoul(text, &end, base)` with `*end == 0` required (as `get_u32` does).
pub fn parse_in(text: &str, base: Base) -> Result<u64, NumError> {
    let (digits, radix) = match base {
        Base::Dec => (text, 10),
        Base::Hex => (strip_hex(text).unwrap_or(text), 16),
        Base::Auto => match strip_hex(text) {
            Some(hex) => (hex, 16),
            None if text.len() > 1 && text.starts_with('0') => (&text[1..], 8),
            None => (text, 10),
        },
        Base::DecOrHex => strip_hex(text).map_or((text, 10), |hex| (hex, 16)),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(NumError::NotNumber);
    }
    u64::from_str_radix(digits, radix).map_err(|_| NumError::TooBig)
}

/// How tc compares a word with an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `matches()`: any non-empty prefix of the option.
    Prefix,
    /// `strcmp()`: the option itself.
    Exact,
}

use Cmp::{Exact, Prefix};

/// An option tc knows, and how it compares a word with it.
type TcOption = (&'static str, Cmp);

/// tc_filter.c's options before the filter kind, in the order it tries them.
pub const FILTER_WORDS: [TcOption; 12] = [
    ("dev", Exact),
    ("block", Prefix),
    ("root", Exact),
    ("ingress", Exact),
    ("egress", Exact),
    ("parent", Exact),
    ("handle", Exact),
    ("preference", Prefix),
    ("priority", Prefix),
    ("protocol", Prefix),
    ("chain", Prefix),
    ("estimator", Prefix),
];

/// f_flower.c's options, in the order `flower_parse_opt` tries them.
pub const FLOWER_WORDS: [TcOption; 60] = [
    ("classid", Prefix),
    ("flowid", Prefix),
    ("hw_tc", Prefix),
    ("ip_flags", Prefix),
    ("l2_miss", Exact),
    ("verbose", Prefix),
    ("skip_hw", Prefix),
    ("skip_sw", Prefix),
    ("ct_state", Prefix),
    ("ct_zone", Prefix),
    ("ct_mark", Prefix),
    ("ct_label", Prefix),
    ("indev", Prefix),
    ("num_of_vlans", Exact),
    ("vlan_id", Prefix),
    ("vlan_prio", Prefix),
    ("vlan_ethtype", Prefix),
    ("cvlan_id", Prefix),
    ("cvlan_prio", Prefix),
    ("cvlan_ethtype", Prefix),
    ("mpls", Prefix),
    ("mpls_label", Prefix),
    ("mpls_tc", Prefix),
    ("mpls_bos", Prefix),
    ("mpls_ttl", Prefix),
    ("dst_mac", Prefix),
    ("src_mac", Prefix),
    ("ip_proto", Prefix),
    ("ip_tos", Prefix),
    ("ip_ttl", Prefix),
    ("dst_ip", Prefix),
    ("src_ip", Prefix),
    ("dst_port", Prefix),
    ("src_port", Prefix),
    ("tcp_flags", Prefix),
    ("type", Prefix),
    ("code", Prefix),
    ("l2tpv3_sid", Exact),
    ("spi", Exact),
    ("arp_tip", Prefix),
    ("arp_sip", Prefix),
    ("arp_op", Prefix),
    ("arp_tha", Prefix),
    ("arp_sha", Prefix),
    ("pppoe_sid", Exact),
    ("ppp_proto", Exact),
    ("enc_dst_ip", Prefix),
    ("enc_src_ip", Prefix),
    ("enc_key_id", Prefix),
    ("enc_dst_port", Prefix),
    ("enc_tos", Prefix),
    ("enc_ttl", Prefix),
    ("geneve_opts", Prefix),
    ("vxlan_opts", Prefix),
    ("erspan_opts", Prefix),
    ("gtp_opts", Exact),
    ("pfcp_opts", Exact),
    ("enc_flags", Exact),
    ("action", Prefix),
    ("cfm", Exact),
];

/// `matches(word, option) == 0` (lib/utils.c): `word` is a non-empty prefix of `option`.
pub fn matches(word: &str, option: &str) -> bool {
    !word.is_empty() && option.starts_with(word)
}

fn first_in(word: &str, table: &[TcOption]) -> Option<&'static str> {
    table
        .iter()
        .find(|&&(option, cmp)| if cmp == Exact { word == option } else { matches(word, option) })
        .map(|&(o, _)| o)
}

/// The option tc reads `word` as: the whole word first, then tc's abbreviations, in the
/// tables of the part of the line being read (`flower_seen`: after the word `flower`), then
/// in the other's (the native format mixes both).
pub fn resolve(word: &str, flower_seen: bool) -> Option<&'static str> {
    let exact = FILTER_WORDS.iter().chain(FLOWER_WORDS.iter()).find(|&&(option, _)| option == word);
    if let Some(&(option, _)) = exact {
        return Some(option);
    }
    let (first, second): (&[TcOption], &[TcOption]) =
        if flower_seen { (&FLOWER_WORDS, &FILTER_WORDS) } else { (&FILTER_WORDS, &FLOWER_WORDS) };
    first_in(word, first).or_else(|| first_in(word, second))
}

/// Why flower keys this dataplane does not match are refused (one reason per family).
pub fn unsupported_reason(option: &str) -> Option<&'static str> {
    Some(match option {
        "ct_state" | "ct_zone" | "ct_mark" | "ct_label" => {
            "it needs connection tracking, which this dataplane does not do"
        }
        "skip_sw" => {
            "skip_sw puts the rule in hardware only (tc refuses it on a device that cannot offload it), \
             and this dataplane programs no NIC (skip_hw is accepted)"
        }
        "hw_tc" => "it names a hardware traffic class, and there is no hardware here",
        "l2_miss" => "it needs the bridge's FDB lookup result, which frames here do not carry",
        "spi" => "this protocol is not parsed by this dataplane",
        "geneve_opts" => "Geneve option TLVs are not matched (the walker steps over them): enc_key_id matches the VNI",
        "vxlan_opts" => "VXLAN group policy (VXLAN-GBP) is not matched: the walker reads RFC 7348 headers only",
        "erspan_opts" | "gtp_opts" | "pfcp_opts" => "ERSPAN, GTP and PFCP tunnels are not parsed by this dataplane",
        "enc_flags" => "the tunnel flags (tuncsum, tundf, tunoam, tuncrit) are not kept by the walker",
        "estimator" => "rate estimators are not kept here",
        _ => return None,
    })
}

/// lib/ll_proto.c's names (`llproto_names`, compared case-insensitively), in its order: the
/// first name of a number is the one printed.
const ETHERTYPE_NAMES: [(u16, &str); 54] = [
    (0x0060, "loop"),
    (0x0200, "pup"),
    (0x0201, "pupat"),
    (0x0800, "ip"),
    (0x0805, "x25"),
    (0x0806, "arp"),
    (0x08ff, "bpq"),
    (0x0a00, "ieeepup"),
    (0x0a01, "ieeepupat"),
    (0x6000, "dec"),
    (0x6001, "dna_dl"),
    (0x6002, "dna_rc"),
    (0x6003, "dna_rt"),
    (0x6004, "lat"),
    (0x6005, "diag"),
    (0x6006, "cust"),
    (0x6007, "sca"),
    (0x8035, "rarp"),
    (0x809b, "atalk"),
    (0x80f3, "aarp"),
    (0x8137, "ipx"),
    (0x86dd, "ipv6"),
    (0x8863, "ppp_disc"),
    (0x8864, "ppp_ses"),
    (0x884c, "atmmpoa"),
    (0x8884, "atmfate"),
    (0x0001, "802_3"),
    (0x0002, "ax25"),
    (0x0003, "all"),
    (0x0004, "802_2"),
    (0x0005, "snap"),
    (0x0006, "ddcmp"),
    (0x0007, "wan_ppp"),
    (0x0008, "ppp_mp"),
    (0x0009, "localtalk"),
    (0x000c, "can"),
    (0x0010, "ppptalk"),
    (0x0011, "tr_802_2"),
    (0x0015, "mobitex"),
    (0x0016, "control"),
    (0x0017, "irda"),
    (0x0018, "econet"),
    (0x88ca, "tipc"),
    (0x8892, "profinet"),
    (0x88a2, "aoe"),
    (0x88a4, "ethercat"),
    (0x8100, "802.1q"),
    (0x88a8, "802.1ad"),
    (0x8847, "mpls_uc"),
    (0x8848, "mpls_mc"),
    (0x6558, "teb"),
    (0x8902, "cfm"),
    (0x88cc, "lldp"),
    (0x0800, "ipv4"),
];

/// An ethertype (`protocol`, `vlan_ethtype`: lib/ll_proto.c `ll_proto_a2n`, a name compared
/// case-insensitively, else `get_be16(.., 0)`): the number, and its tc name ("" if none).
pub fn ethertype(text: &str) -> Option<(u16, &'static str)> {
    if let Some(&(id, name)) = ETHERTYPE_NAMES.iter().find(|(_, name)| name.eq_ignore_ascii_case(text)) {
        return Some((id, name));
    }
    let id = u16::try_from(parse_in(text, Base::Auto).ok()?).ok()?;
    Some((id, ethertype_name(id).unwrap_or("")))
}

/// tc's name of an ethertype (the first of lib/ll_proto.c's), if it has one.
pub fn ethertype_name(id: u16) -> Option<&'static str> {
    ETHERTYPE_NAMES.iter().find(|&&(n, _)| n == id).map(|&(_, name)| name)
}

/// `ip_proto`'s words (f_flower.c `flower_parse_ip_proto`): abbreviations of tcp, udp, sctp,
/// icmp, icmpv6 in that order, then l2tp, esp, ah exactly, else a hex number.
pub fn ip_proto_word(text: &str) -> Option<u8> {
    for (name, proto) in [("tcp", 6), ("udp", 17), ("sctp", 132), ("icmp", 1), ("icmpv6", 58)] {
        if matches(text, name) {
            return Some(proto);
        }
    }
    match text {
        "l2tp" => Some(115),
        "esp" => Some(50),
        "ah" => Some(51),
        _ => None,
    }
}

/// The leading decimal number of `text` (as `strtod` reads one without an exponent) and
/// the rest.
fn leading_number(text: &str) -> Option<(f64, &str)> {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let value: f64 = text[..end].parse().ok()?;
    Some((value, &text[end..]))
}

/// A rate as tc reads it (`get_rate64` in iproute2's lib/utils_math.c), in bytes per
/// second: a number and a unit, case-insensitive, bits (`bit`, `kbit`, `mbit`, `gbit`,
/// `tbit`, `kibit`...) or bytes (`bps`, `kbps`, `mbps`...); a bare number is bits per second.
pub fn rate_bytes(text: &str) -> Option<u64> {
    const UNITS: [(&str, f64); 18] = [
        ("bit", 1.),
        ("kibit", 1024.),
        ("kbit", 1e3),
        ("mibit", 1048576.),
        ("mbit", 1e6),
        ("gibit", 1073741824.),
        ("gbit", 1e9),
        ("tibit", 1099511627776.),
        ("tbit", 1e12),
        ("bps", 8.),
        ("kibps", 8. * 1024.),
        ("kbps", 8e3),
        ("mibps", 8. * 1048576.),
        ("mbps", 8e6),
        ("gibps", 8. * 1073741824.),
        ("gbps", 8e9),
        ("tibps", 8. * 1099511627776.),
        ("tbps", 8e12),
    ];
    let (value, unit) = leading_number(text)?;
    let scale = if unit.is_empty() { 1. } else { UNITS.iter().find(|(u, _)| u.eq_ignore_ascii_case(unit))?.1 };
    let bytes = value * scale / 8.;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A size as tc reads it (`get_size64` in lib/utils_math.c), in bytes: a bare number or
/// `b` is bytes, `k`/`kb`, `m`/`mb`, `g`/`gb` are binary multiples, `kbit`, `mbit`,
/// `gbit` the same in bits.
pub fn size_bytes(text: &str) -> Option<u64> {
    let (value, unit) = leading_number(text)?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.,
        "k" | "kb" => 1024.,
        "m" | "mb" => 1048576.,
        "g" | "gb" => 1073741824.,
        "kbit" => 128.,
        "mbit" => 131072.,
        "gbit" => 134217728.,
        _ => return None,
    };
    let bytes = value * scale;
    (bytes.is_finite() && bytes < u64::MAX as f64 && bytes.fract() == 0.).then_some(bytes as u64)
}

/// A signed number as `strtol(text, &end, base)` reads it with `*end == 0` required
/// (`get_s32`/`get_s64`): an optional sign, then digits of the base. `None` if it is not one
/// or does not fit in an i64.
pub fn signed_in(text: &str, base: Base) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = i128::from(parse_in(digits, base).ok()?);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// A time as tc reads a 64-bit one (`get_time64` in lib/utils.c), in ns: a non-negative
/// number and a unit, case-insensitive, `s`/`sec`/`secs`, `ms`/`msec`/`msecs`,
/// `us`/`usec`/`usecs`, `ns`/`nsec`/`nsecs`; a bare number is ns. Truncated to whole ns
/// as C's conversion truncates.
pub fn time_ns(text: &str) -> Option<i64> {
    let (value, unit) = leading_number(text)?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "ns" | "nsec" | "nsecs" => 1.,
        "us" | "usec" | "usecs" => 1e3,
        "ms" | "msec" | "msecs" => 1e6,
        "s" | "sec" | "secs" => 1e9,
        _ => return None,
    };
    let ns = value * scale;
    (ns.is_finite() && ns < i64::MAX as f64).then_some(ns as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_tc_bases() {
        assert_eq!(parse_in("17", Base::Hex), Ok(0x17));
        assert_eq!(parse_in("0x17", Base::Hex), Ok(0x17));
        assert_eq!(parse_in("0x17", Base::Dec), Err(NumError::NotNumber));
        assert_eq!(parse_in("010", Base::Auto), Ok(8));
        assert_eq!(parse_in("0", Base::Auto), Ok(0));
        assert_eq!(parse_in("0x806", Base::Auto), Ok(0x806));
        assert_eq!(parse_in("", Base::Dec), Err(NumError::NotNumber));
        assert_eq!(parse_in("08", Base::Auto), Err(NumError::NotNumber));
        assert_eq!(signed_in("-1", Base::Auto), Some(-1));
        assert_eq!(signed_in("-0x10", Base::Auto), Some(-16));
        assert_eq!(signed_in("+7", Base::Dec), Some(7));
        assert_eq!(signed_in("-", Base::Dec), None);
        assert_eq!(time_ns("200000000ns"), Some(200_000_000));
        assert_eq!(time_ns("1.5MS"), Some(1_500_000));
        assert_eq!(time_ns("2s"), Some(2_000_000_000));
        assert_eq!(time_ns("1.5"), Some(1));
        assert_eq!(time_ns("7m"), None);
    }

    #[test]
    fn abbreviations_resolve_in_tc_order() {
        assert_eq!(resolve("proto", false), Some("protocol"));
        assert_eq!(resolve("prot", false), Some("protocol"));
        assert_eq!(resolve("pr", false), Some("preference"));
        assert_eq!(resolve("pref", false), Some("preference"));
        assert_eq!(resolve("prio", false), Some("priority"));
        // The first flower key starting with "ip" is ip_flags; "dst" is dst_mac.
        assert_eq!(resolve("ip", true), Some("ip_flags"));
        assert_eq!(resolve("dst", true), Some("dst_mac"));
        assert_eq!(resolve("mpls_l", true), Some("mpls_label"));
        assert_eq!(resolve("ip_proto", true), Some("ip_proto"));
        // Exact-only options need the whole word.
        assert_eq!(resolve("num_of", true), None);
        assert_eq!(resolve("ingres", false), None);
        // Before `flower`, "c" is chain; after it, classid.
        assert_eq!(resolve("c", false), Some("chain"));
        assert_eq!(resolve("c", true), Some("classid"));
    }

    #[test]
    fn ethertypes_by_name_or_number() {
        assert_eq!(ethertype("IP"), Some((0x800, "ip")));
        assert_eq!(ethertype("0x806"), Some((0x806, "arp")));
        assert_eq!(ethertype("0x8100"), Some((0x8100, "802.1q")));
        assert_eq!(ethertype("2048"), Some((0x800, "ip")));
        assert_eq!(ethertype("0x1234"), Some((0x1234, "")));
        // Newer iproute2 names IPv4 "ipv4" too; "ip" is the name it prints.
        assert_eq!(ethertype("ipv4"), Some((0x800, "ipv4")));
        assert_eq!(
            (ethertype_name(0x800), ethertype_name(0x8847), ethertype_name(0x1234)),
            (Some("ip"), Some("mpls_uc"), None)
        );
        assert_eq!(ethertype("MPLS_MC"), Some((0x8848, "mpls_mc")));
        assert_eq!(ethertype("ipv5"), None);
    }

    #[test]
    fn ip_proto_words() {
        assert_eq!(ip_proto_word("t"), Some(6));
        assert_eq!(ip_proto_word("icmp"), Some(1));
        assert_eq!(ip_proto_word("icmpv"), Some(58));
        assert_eq!(ip_proto_word("esp"), Some(50));
        assert_eq!(ip_proto_word("17"), None);
    }
}
