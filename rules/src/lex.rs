//! What the native and ClassBench readers (and the trace reader) share below their grammars:
//! reading a file within its size limit, the words of a line with their columns, the limits
//! on lines and words, the numbers and address prefixes every format writes, and the errors
//! that point at a place (`file:line:col: message`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::rule::Prefix;
use crate::tc_words::{parse_in, Base, NumError};

/// One problem in a rule file, shown as `file:line:col: message` (`file: message` when it is
/// about the whole file, e.g. it cannot be read: then `line` and `col` are 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file as the caller named it (a path, or a name for text that is no file).
    pub file: String,
    /// 1-based; 0 for the whole file.
    pub line: usize,
    /// 1-based, in characters; 0 for the whole line or file.
    pub col: usize,
    /// What is wrong there, and what was expected.
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

/// A name (of a rules format, a generated set's style...) that is none of the known ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What the name should have named ("rules format").
    pub what: &'static str,
    /// The name given.
    pub found: String,
    /// The names known.
    pub known: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} '{}' (expected ", self.what, self.found)?;
        for (index, name) in self.known.iter().enumerate() {
            match index {
                0 => {}
                _ if index + 1 == self.known.len() => f.write_str(" or ")?,
                _ => f.write_str(", ")?,
            }
            f.write_str(name)?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownName {}

// ---------------------------------------------------------------------------------------------
// Files and limits

/// The largest rules file (native or ClassBench) read: 64 MiB.
pub const MAX_RULES_FILE_BYTES: u64 = 64 << 20;
/// The largest trace file read: 512 MiB (a line per packet, about 40 bytes each).
pub const MAX_TRACE_FILE_BYTES: u64 = 512 << 20;
/// The longest line of a rules file or trace, in bytes.
pub const MAX_LINE_BYTES: usize = 4096;
/// The longest word of a line, in bytes (an IPv6 prefix with a mask, or an `encap` spec, is
/// well under it).
pub const MAX_TOKEN_BYTES: usize = 512;

/// The text of a file of at most `limit` bytes, or the one error saying why not. The size is
/// checked before reading and again while reading (a pipe or a file that grows has no
/// trustworthy size), so no more than `limit + 1` bytes are ever held.
pub(crate) fn read_text(path: &Path, limit: u64) -> Result<String, Vec<ParseError>> {
    use std::io::Read;
    let error = |message: String| vec![ParseError { file: path.display().to_string(), line: 0, col: 0, message }];
    let too_big =
        |size: String| error(format!("{size} bytes is larger than the {} MiB this reader accepts", limit >> 20));
    let file = std::fs::File::open(path).map_err(|err| error(format!("cannot read: {err}")))?;
    if let Ok(meta) = file.metadata() {
        if meta.is_file() && meta.len() > limit {
            return Err(too_big(meta.len().to_string()));
        }
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|err| error(format!("cannot read: {err}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_big(format!("more than {limit}")));
    }
    String::from_utf8(bytes).map_err(|err| {
        let at = err.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&err.as_bytes()[..at]);
        let line = text.matches('\n').count() + 1;
        let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        vec![ParseError {
            file: path.display().to_string(),
            line,
            col,
            message: format!("not UTF-8 text (invalid byte at offset {at})"),
        }]
    })
}

/// `Err((col, message))` when `raw` is longer than [`MAX_LINE_BYTES`]: the column is that
/// of the first character past the limit. Cheap on any line (one length check, then at most
/// `MAX_LINE_BYTES` bytes counted).
pub(crate) fn check_line_length(raw: &str) -> Result<(), (usize, String)> {
    if raw.len() <= MAX_LINE_BYTES {
        return Ok(());
    }
    let mut end = MAX_LINE_BYTES;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    let col = raw[..end].chars().count() + 1;
    Err((col, format!("line of {} bytes: a line may hold at most {MAX_LINE_BYTES} bytes", raw.len())))
}

/// `Err((col, message))` for the first word longer than [`MAX_TOKEN_BYTES`].
pub(crate) fn check_token_lengths(tokens: &[Token<'_>]) -> Result<(), (usize, String)> {
    match tokens.iter().find(|t| t.text.len() > MAX_TOKEN_BYTES) {
        None => Ok(()),
        Some(t) => {
            Err((t.col, format!("word of {} bytes: a word may hold at most {MAX_TOKEN_BYTES} bytes", t.text.len())))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Words and positions

/// A whitespace-separated word of a line and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) text: &'a str,
    /// 1-based, in characters.
    pub(crate) col: usize,
    /// Byte offset in the line.
    pub(crate) offset: usize,
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
pub(crate) fn end_col(line: &str) -> usize {
    line.trim_end().chars().count() + 1
}

// ---------------------------------------------------------------------------------------------
// Values: numbers and prefixes

/// Why a value's word does not read as that value. `what` names the value as the message
/// does ("dst_port", "source prefix prefix length"); `word` is the text that was there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ValueError {
    /// Not a number in the base the value is read in.
    NotNumber { what: String, word: String, base: Base },
    /// A number above `max`. `tc_hex`: tc read the digits as hex, which gave this number.
    OutOfRange { what: String, word: String, max: u64, base: Base, tc_hex: Option<u64> },
    /// A range `LO-HI` (or `LO : HI`) whose low end is above its high end.
    EmptyRange { what: String, word: String },
    /// Not of the value's shape, which `expected` describes.
    Malformed { what: String, word: String, expected: &'static str },
    /// An IPv4 mask whose ones are not contiguous.
    NotNetmask { what: String, mask: String },
    /// `ip_flags` names one flag twice.
    FlagTwice { word: String, flag: &'static str },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::NotNumber { what, word, base } => {
                let expected = match base {
                    Base::Dec => "a decimal number (tc reads it in base 10)",
                    Base::Hex => "a hexadecimal number (tc reads it in base 16, 0x optional)",
                    Base::Auto => "a number (decimal, 0x hex or 0-prefixed octal, as tc reads it)",
                    Base::DecOrHex => "a number (decimal or 0x hex)",
                };
                write!(f, "{what} expects {expected}, found '{word}'")
            }
            ValueError::OutOfRange { what, word, max, base, tc_hex } => {
                let max = if *base == Base::Hex { format!("{max:#x}") } else { max.to_string() };
                match tc_hex {
                    Some(n) => write!(
                        f,
                        "{what} {word} (0x{word} = {n} to tc, which reads it in hex) is out of range 0..={max}"
                    ),
                    None => write!(f, "{what} {word} is out of range 0..={max}"),
                }
            }
            ValueError::EmptyRange { what, word } => {
                write!(f, "{what} range {word} is empty (the low end is above the high end)")
            }
            ValueError::Malformed { what, word, expected } => write!(f, "{what} expects {expected}, found '{word}'"),
            ValueError::NotNetmask { what, mask } => {
                write!(f, "{what} mask {mask} is not a contiguous netmask like 255.255.255.0")
            }
            ValueError::FlagTwice { word, flag } => write!(f, "ip_flags {word} says {flag} twice"),
        }
    }
}

impl std::error::Error for ValueError {}

/// A number of this language's own (decimal or `0x` hex) in `0..=max`; `what` names it in
/// the error.
pub(crate) fn number(what: impl fmt::Display, text: &str, max: u64) -> Result<u64, ValueError> {
    // No reading of tc's to warn about.
    number_in(what, text, max, Base::DecOrHex, &mut Vec::new())
}

/// A number as tc reads this value (`base`, see [`crate::tc_words`]) in `0..=max`; a
/// warning in `notes` where tc's reading differs from the decimal one.
pub(crate) fn number_in(
    what: impl fmt::Display,
    text: &str,
    max: u64,
    base: Base,
    notes: &mut Vec<String>,
) -> Result<u64, ValueError> {
    let out_of_range = |tc_hex| ValueError::OutOfRange { what: what.to_string(), word: text.into(), max, base, tc_hex };
    match parse_in(text, base) {
        Ok(n) if n <= max => {
            // Only where the decimal reading would differ (08 is 8 either way).
            let digits_only = text.chars().all(|c| c.is_ascii_digit()) && text.parse::<u64>().is_ok_and(|d| d != n);
            if digits_only && base == Base::Hex {
                notes.push(format!("{what} {text} is 0x{text} ({n}) to tc, which reads it in hex"));
            } else if digits_only && base == Base::Auto && text.starts_with('0') {
                notes.push(format!("{what} {text} is octal to tc ({n})"));
            }
            Ok(n)
        }
        Ok(n) if base == Base::Hex && !text.starts_with("0x") => Err(out_of_range(Some(n))),
        Ok(_) | Err(NumError::TooBig) => Err(out_of_range(None)),
        Err(NumError::NotNumber) => Err(ValueError::NotNumber { what: what.to_string(), word: text.into(), base }),
    }
}

/// `ADDR[/LEN]`, IPv4 or IPv6; IPv4 also takes a contiguous dotted mask. Host bits are
/// cleared, as tc does.
pub(crate) fn prefix(what: &str, text: &str) -> Result<Prefix, ValueError> {
    let (addr, len) = match text.split_once('/') {
        None => (text, None),
        Some((addr, len)) => (addr, Some(len)),
    };
    let malformed = || ValueError::Malformed {
        what: what.into(),
        word: text.into(),
        expected: "an IPv4 or IPv6 address, optionally /LEN",
    };
    if addr.contains(':') {
        let addr: Ipv6Addr = addr.parse().map_err(|_| malformed())?;
        let len = match len {
            None => 128,
            Some(len) => number(format_args!("{what} prefix length"), len, 128)? as u8,
        };
        Ok(Prefix::v6(addr.octets(), len))
    } else {
        let addr: Ipv4Addr = addr.parse().map_err(|_| malformed())?;
        let len = match len {
            None => 32,
            Some(mask) if mask.contains('.') => {
                let bits = mask
                    .parse::<Ipv4Addr>()
                    .ok()
                    .map(u32::from)
                    .filter(|bits| bits.leading_ones() + bits.trailing_zeros() == 32)
                    .ok_or_else(|| ValueError::NotNetmask { what: what.into(), mask: mask.into() })?;
                bits.leading_ones() as u8
            }
            Some(len) => number(format_args!("{what} prefix length"), len, 32)? as u8,
        };
        Ok(Prefix::v4(addr.octets(), len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let one = UnknownName { what: "x", found: "y".into(), known: &["a"] };
        assert_eq!(one.to_string(), "unknown x 'y' (expected a)");
        let three = UnknownName { what: "rule-set style", found: "acx".into(), known: &["acl", "fw", "ipc"] };
        assert_eq!(three.to_string(), "unknown rule-set style 'acx' (expected acl, fw or ipc)");
    }

    #[test]
    fn words_carry_their_columns_and_offsets() {
        let tokens = tokenize("  é ab\tc ");
        let found: Vec<(&str, usize, usize)> = tokens.iter().map(|t| (t.text, t.col, t.offset)).collect();
        assert_eq!(found, [("é", 3, 2), ("ab", 5, 5), ("c", 8, 8)]);
        assert_eq!(end_col("ab  "), 3);
        assert_eq!(strip_comment("a # b"), "a ");
    }

    #[test]
    fn number_messages() {
        let err = |text: &str, base| number_in("ip_proto", text, 0xff, base, &mut Vec::new()).unwrap_err().to_string();
        assert_eq!(
            err("x", Base::Hex),
            "ip_proto expects a hexadecimal number (tc reads it in base 16, 0x optional), found 'x'"
        );
        assert_eq!(
            err("100", Base::Hex),
            "ip_proto 100 (0x100 = 256 to tc, which reads it in hex) is out of range 0..=0xff"
        );
        assert_eq!(err("0x100", Base::Hex), "ip_proto 0x100 is out of range 0..=0xff");
        assert_eq!(err("256", Base::Dec), "ip_proto 256 is out of range 0..=255");
        assert_eq!(number("fwd port", "0x10", 0xffff), Ok(16));
    }
}
