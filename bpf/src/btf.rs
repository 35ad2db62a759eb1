//! A small reader of BTF, the kernel's type format (Documentation/bpf/btf.rst), enough to
//! find a function's type id by name: what a kfunc call instruction needs
//! ([`crate::Insn::call_kfunc`]). The kernel's own BTF is `/sys/kernel/btf/vmlinux`.
//!
//! Layout (btf.rst, "BTF Type and String Encoding"): a header (`magic` 0xeB9F, `version` 1,
//! `flags`, `hdr_len`, then the offsets and lengths of the type and string sections, counted
//! from the end of the header), a type section of `struct btf_type` records (12 bytes:
//! `name_off`, `info` = kind in bits 24-28 and `vlen` in bits 0-15, `size`/`type`), each
//! followed by kind-specific data whose length depends on the kind and `vlen`, and a string
//! section of NUL-terminated names. Type ids count from 1 in the order of the records (0 is
//! `void`). Every read is bounds-checked: a short or garbled blob is an error, never a panic.

use std::fmt;
use std::path::{Path, PathBuf};

/// `BTF_MAGIC`.
const MAGIC: u16 = 0xeb9f;
/// The fixed part of `struct btf_header` (a newer kernel may write a longer header: its
/// `hdr_len` says how long).
const HEADER_LEN: usize = 24;
/// `struct btf_type`.
const TYPE_LEN: usize = 12;

/// `BTF_KIND_*` values (include/uapi/linux/btf.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BtfKind {
    /// `BTF_KIND_INT` (1): followed by one u32.
    Int,
    /// `BTF_KIND_PTR` (2).
    Ptr,
    /// `BTF_KIND_ARRAY` (3): followed by `struct btf_array` (12 bytes).
    Array,
    /// `BTF_KIND_STRUCT` (4): `vlen` members of 12 bytes.
    Struct,
    /// `BTF_KIND_UNION` (5): `vlen` members of 12 bytes.
    Union,
    /// `BTF_KIND_ENUM` (6): `vlen` values of 8 bytes.
    Enum,
    /// `BTF_KIND_FWD` (7).
    Fwd,
    /// `BTF_KIND_TYPEDEF` (8).
    Typedef,
    /// `BTF_KIND_VOLATILE` (9).
    Volatile,
    /// `BTF_KIND_CONST` (10).
    Const,
    /// `BTF_KIND_RESTRICT` (11).
    Restrict,
    /// `BTF_KIND_FUNC` (12): a function; `type` is its FUNC_PROTO.
    Func,
    /// `BTF_KIND_FUNC_PROTO` (13): `vlen` parameters of 8 bytes.
    FuncProto,
    /// `BTF_KIND_VAR` (14): followed by one u32 (linkage).
    Var,
    /// `BTF_KIND_DATASEC` (15): `vlen` entries of 12 bytes.
    Datasec,
    /// `BTF_KIND_FLOAT` (16).
    Float,
    /// `BTF_KIND_DECL_TAG` (17): followed by one u32 (component index).
    DeclTag,
    /// `BTF_KIND_TYPE_TAG` (18).
    TypeTag,
    /// `BTF_KIND_ENUM64` (19): `vlen` values of 12 bytes.
    Enum64,
}

impl BtfKind {
    fn from_raw(raw: u32) -> Option<BtfKind> {
        use BtfKind::*;
        Some(match raw {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// Bytes of kind-specific data after the 12-byte record.
    fn extra_len(self, vlen: usize) -> usize {
        use BtfKind::*;
        match self {
            Int | Var | DeclTag => 4,
            Array => 12,
            Struct | Union | Datasec | Enum64 => 12 * vlen,
            Enum | FuncProto => 8 * vlen,
            Ptr | Fwd | Typedef | Volatile | Const | Restrict | Func | Float | TypeTag => 0,
        }
    }
}

/// Why a blob is not BTF this reader can walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfError {
    /// The file could not be read (for the kernel's: no `CONFIG_DEBUG_INFO_BTF`).
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The system's error, in words.
        reason: String,
    },
    /// Shorter than a header, or a section past the end.
    Truncated {
        /// What did not fit.
        what: &'static str,
        /// Bytes needed up to its end.
        needed: usize,
        /// Bytes there are.
        len: usize,
    },
    /// The first two bytes are not 0xeB9F in either byte order.
    BadMagic {
        /// What was there.
        found: u16,
    },
    /// A version other than 1.
    UnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// A type record of a kind this reader does not know (a newer kernel): the records after
    /// it cannot be found, since its length is unknown.
    UnknownKind {
        /// The kind number.
        kind: u32,
        /// The type id of the record.
        id: u32,
    },
    /// A name offset outside the string section, or a name without its NUL.
    BadName {
        /// The type id of the record.
        id: u32,
        /// Its `name_off`.
        name_off: u32,
    },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::Unreadable { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
            BtfError::Truncated { what, needed, len } => {
                write!(f, "BTF is cut short: the {what} needs {needed} bytes, the blob has {len}")
            }
            BtfError::BadMagic { found } => write!(f, "not BTF: magic {found:#06x}, expected 0xeb9f"),
            BtfError::UnsupportedVersion { version } => write!(f, "BTF version {version} (this reader knows 1)"),
            BtfError::UnknownKind { kind, id } => {
                write!(f, "BTF type {id} has kind {kind}, unknown to this reader (a newer kernel?)")
            }
            BtfError::BadName { id, name_off } => {
                write!(f, "BTF type {id} names offset {name_off}, outside the string section")
            }
        }
    }
}

impl std::error::Error for BtfError {}

/// One type record's place in the blob.
#[derive(Clone, Copy, Debug)]
struct Record {
    kind: BtfKind,
    name_off: u32,
}

/// A parsed BTF blob: its type records indexed by id, and its strings.
#[derive(Debug)]
pub struct Btf {
    /// Index `id - 1`.
    records: Vec<Record>,
    strings: Vec<u8>,
}

/// The kernel's BTF, where `CONFIG_DEBUG_INFO_BTF` puts it.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

impl Btf {
    /// Reads and parses [`VMLINUX_BTF`]. A kernel without BTF has no such file: the error
    /// says so (kfuncs cannot be called there).
    pub fn vmlinux() -> Result<Btf, BtfError> {
        Btf::from_file(Path::new(VMLINUX_BTF))
    }

    /// Reads and parses a BTF file.
    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let bytes = std::fs::read(path)
            .map_err(|err| BtfError::Unreadable { path: path.to_path_buf(), reason: err.to_string() })?;
        Btf::parse(&bytes)
    }

    /// Parses a BTF blob (either byte order).
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        let len = bytes.len();
        if len < HEADER_LEN {
            return Err(BtfError::Truncated { what: "header", needed: HEADER_LEN, len });
        }
        let little = match u16::from_le_bytes([bytes[0], bytes[1]]) {
            MAGIC => true,
            other if other.swap_bytes() == MAGIC => false,
            found => return Err(BtfError::BadMagic { found }),
        };
        let u32_at = |at: usize| -> Option<u32> {
            let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            Some(if little { u32::from_le_bytes(word) } else { u32::from_be_bytes(word) })
        };
        if bytes[2] != 1 {
            return Err(BtfError::UnsupportedVersion { version: bytes[2] });
        }
        let field = |at| u32_at(at).expect("inside the checked header") as usize;
        let hdr_len = field(4);
        let (type_off, type_len, str_off, str_len) = (field(8), field(12), field(16), field(20));
        let section = |what, off: usize, section_len: usize| {
            let start = hdr_len.checked_add(off);
            let end = start.and_then(|s| s.checked_add(section_len));
            match (start, end) {
                (Some(start), Some(end)) if end <= len && hdr_len >= HEADER_LEN => Ok(start..end),
                _ => Err(BtfError::Truncated {
                    what,
                    needed: hdr_len.saturating_add(off).saturating_add(section_len),
                    len,
                }),
            }
        };
        let types = section("type section", type_off, type_len)?;
        let strings = section("string section", str_off, str_len)?;

        let mut records = Vec::new();
        let mut at = types.start;
        while at < types.end {
            let id = records.len() as u32 + 1;
            let truncated = |needed: usize| BtfError::Truncated { what: "type section", needed, len: types.end };
            if at + TYPE_LEN > types.end {
                return Err(truncated(at + TYPE_LEN));
            }
            let name_off = u32_at(at).expect("checked");
            let info = u32_at(at + 4).expect("checked");
            let raw_kind = (info >> 24) & 0x1f;
            let kind = BtfKind::from_raw(raw_kind).ok_or(BtfError::UnknownKind { kind: raw_kind, id })?;
            let vlen = (info & 0xffff) as usize;
            let next = at + TYPE_LEN + kind.extra_len(vlen);
            if next > types.end {
                return Err(truncated(next));
            }
            records.push(Record { kind, name_off });
            at = next;
        }
        let btf = Btf { records, strings: bytes[strings].to_vec() };
        // Check every name once, so lookups cannot meet a bad one.
        for (index, record) in btf.records.iter().enumerate() {
            if btf.name(record.name_off).is_none() {
                return Err(BtfError::BadName { id: index as u32 + 1, name_off: record.name_off });
            }
        }
        Ok(btf)
    }

    /// How many types the blob describes (ids 1 to this).
    pub fn type_count(&self) -> u32 {
        self.records.len() as u32
    }

    fn name(&self, name_off: u32) -> Option<&[u8]> {
        let rest = self.strings.get(name_off as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..end])
    }

    /// The kind and name of type `id`.
    pub fn type_by_id(&self, id: u32) -> Option<(BtfKind, &str)> {
        let record = self.records.get((id as usize).checked_sub(1)?)?;
        let name = std::str::from_utf8(self.name(record.name_off)?).ok()?;
        Some((record.kind, name))
    }

    /// The id of the first type of `kind` named `name`.
    pub fn find(&self, kind: BtfKind, name: &str) -> Option<u32> {
        let wanted = name.as_bytes();
        self.records
            .iter()
            .position(|r| r.kind == kind && self.name(r.name_off) == Some(wanted))
            .map(|index| index as u32 + 1)
    }

    /// The id of the function (`BTF_KIND_FUNC`) named `name`: for a kfunc, the `imm` of its
    /// call instruction.
    pub fn find_func(&self, name: &str) -> Option<u32> {
        self.find(BtfKind::Func, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob builder: records and strings, in either byte order.
    struct Blob {
        little: bool,
        types: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Blob {
        fn new(little: bool) -> Blob {
            Blob { little, types: Vec::new(), strings: vec![0] }
        }

        fn word(&self, value: u32) -> [u8; 4] {
            if self.little {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            }
        }

        fn string(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend(name.as_bytes());
            self.strings.push(0);
            off
        }

        fn record(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32, extra: usize) -> &mut Blob {
            let name_off = self.string(name);
            for value in [name_off, (kind << 24) | vlen, size_or_type] {
                let bytes = self.word(value);
                self.types.extend(bytes);
            }
            self.types.extend(std::iter::repeat_n(0xa5, extra));
            self
        }

        fn bytes(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend(if self.little { MAGIC.to_le_bytes() } else { MAGIC.to_be_bytes() });
            out.extend([1, 0]);
            let type_len = self.types.len() as u32;
            for value in [HEADER_LEN as u32, 0, type_len, type_len, self.strings.len() as u32] {
                out.extend(self.word(value));
            }
            out.extend(&self.types);
            out.extend(&self.strings);
            out
        }
    }

    /// int, a struct of 2 members, an enum of 3, a func proto of 2 params, two funcs, a var,
    /// a datasec of 1, a decl tag, an enum64 of 1.
    fn sample(little: bool) -> Vec<u8> {
        let mut blob = Blob::new(little);
        blob.record("int", 1, 0, 4, 4)
            .record("xdp_md", 4, 2, 24, 24)
            .record("xdp_rss_hash_type", 6, 3, 4, 24)
            .record("", 13, 2, 1, 16)
            .record("bpf_xdp_metadata_rx_hash", 12, 1, 4, 0)
            .record("bpf_xdp_metadata_rx_timestamp", 12, 1, 4, 0)
            .record("a_var", 14, 0, 1, 4)
            .record(".data", 15, 1, 0, 12)
            .record("tag", 17, 0, 5, 4)
            .record("big", 19, 1, 8, 12)
            .record("xdp_md", 7, 0, 0, 0);
        blob.bytes()
    }

    #[test]
    fn finds_functions_by_name_in_either_byte_order() {
        for little in [true, false] {
            let btf = Btf::parse(&sample(little)).unwrap();
            assert_eq!(btf.type_count(), 11);
            assert_eq!(btf.find_func("bpf_xdp_metadata_rx_hash"), Some(5));
            assert_eq!(btf.find_func("bpf_xdp_metadata_rx_timestamp"), Some(6));
            assert_eq!(btf.find_func("xdp_md"), None, "a struct is not a function");
            assert_eq!(btf.find(BtfKind::Struct, "xdp_md"), Some(2));
            assert_eq!(btf.find(BtfKind::Fwd, "xdp_md"), Some(11));
            assert_eq!(btf.find_func("bpf_xdp_metadata_rx"), None, "no prefix matches");
            assert_eq!(btf.type_by_id(10), Some((BtfKind::Enum64, "big")));
            assert_eq!(btf.type_by_id(4), Some((BtfKind::FuncProto, "")));
            assert_eq!(btf.type_by_id(0), None);
            assert_eq!(btf.type_by_id(12), None);
        }
    }

    #[test]
    fn bad_blobs_are_errors_not_panics() {
        let good = sample(true);
        for cut in 0..good.len() {
            // Every prefix: an error (or, past the type section, a string section error).
            assert!(Btf::parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut magic = good.clone();
        magic[0] = 0;
        assert!(matches!(Btf::parse(&magic), Err(BtfError::BadMagic { .. })));
        let mut version = good.clone();
        version[2] = 2;
        assert_eq!(Btf::parse(&version).unwrap_err(), BtfError::UnsupportedVersion { version: 2 });
        let mut kind = good.clone();
        kind[HEADER_LEN + 7] = 31; // first record's kind byte (little endian info, top byte)
        assert_eq!(Btf::parse(&kind).unwrap_err(), BtfError::UnknownKind { kind: 31, id: 1 });
        let mut name = good.clone();
        name[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&10_000u32.to_le_bytes());
        assert_eq!(Btf::parse(&name).unwrap_err(), BtfError::BadName { id: 1, name_off: 10_000 });
        // A struct claiming more members than the section holds.
        let mut blob = Blob::new(true);
        blob.record("s", 4, 1000, 8, 12);
        assert!(matches!(Btf::parse(&blob.bytes()), Err(BtfError::Truncated { what: "type section", .. })));
        // Garbage of every short length.
        for len in 0..64 {
            let _ = Btf::parse(&vec![0x9f; len]);
        }
        let missing = Btf::from_file(Path::new("/nonexistent/btf")).unwrap_err();
        assert!(matches!(missing, BtfError::Unreadable { .. }), "{missing:?}");
        assert!(missing.to_string().starts_with("cannot read /nonexistent/btf: "), "{missing}");
    }

    #[test]
    fn a_longer_header_is_skipped_by_its_length() {
        let good = sample(true);
        let mut longer = good[..HEADER_LEN].to_vec();
        longer[4..8].copy_from_slice(&(HEADER_LEN as u32 + 8).to_le_bytes());
        longer.extend([0; 8]);
        longer.extend(&good[HEADER_LEN..]);
        assert_eq!(Btf::parse(&longer).unwrap().find_func("bpf_xdp_metadata_rx_hash"), Some(5));
    }

    #[test]
    fn the_live_kernel_btf_has_the_xdp_metadata_kfuncs() {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            assert!(std::env::var_os("CI").is_none(), "CI machines run a kernel with BTF");
            eprintln!("skipped: {VMLINUX_BTF} does not exist (kernel without CONFIG_DEBUG_INFO_BTF)");
            return;
        }
        let btf = Btf::vmlinux().unwrap();
        assert!(btf.type_count() > 10_000, "{} types", btf.type_count());
        let mut ids = Vec::new();
        for name in ["bpf_xdp_metadata_rx_timestamp", "bpf_xdp_metadata_rx_hash", "bpf_xdp_metadata_rx_vlan_tag"] {
            let id = btf.find_func(name).unwrap_or_else(|| panic!("{name} not in {VMLINUX_BTF}"));
            assert_eq!(btf.type_by_id(id), Some((BtfKind::Func, name)));
            ids.push(id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 3, "three different ids");
        assert_eq!(btf.find(BtfKind::Struct, "xdp_md").map(|id| btf.type_by_id(id).unwrap().1), Some("xdp_md"));
        assert_eq!(btf.find_func("no_such_function_in_any_kernel"), None);
    }
}
