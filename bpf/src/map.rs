//! Maps: creating them and reading or writing elements from user space.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::cpu::possible_cpus;
use crate::error::Error;
use crate::sys;

/// Map types this crate creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH`: keys hashed to values, up to `max_entries`.
    Hash,
    /// `BPF_MAP_TYPE_ARRAY`: `u32` indexes to values, every entry present (zeroed).
    Array,
    /// Programs for `bpf_tail_call`; values are program fds.
    ProgArray,
    /// A [`MapType::Hash`] with one value per possible CPU.
    PercpuHash,
    /// One value per possible CPU per entry: lock-free counters.
    PercpuArray,
    /// A [`MapType::Hash`] that evicts the least recently used entry when full.
    LruHash,
    /// A [`MapType::LruHash`] with one value per possible CPU.
    LruPercpuHash,
    /// Longest-prefix match; keys are `u32 prefix_len` + address bytes.
    LpmTrie,
    /// `bpf_redirect_map` targets by index; values are ifindexes (4 bytes) or
    /// ifindex + program fd (8 bytes).
    DevMap,
    /// Redirect to another CPU's backlog.
    CpuMap,
    /// `bpf_redirect_map` targets that are AF_XDP sockets; key = queue, value = socket fd.
    XskMap,
    /// Like DevMap, keyed by an arbitrary u32 (typically the ifindex).
    DevMapHash,
}

impl MapType {
    const fn uapi(self) -> u32 {
        match self {
            MapType::Hash => 1,
            MapType::Array => 2,
            MapType::ProgArray => 3,
            MapType::PercpuHash => 5,
            MapType::PercpuArray => 6,
            MapType::LruHash => 9,
            MapType::LruPercpuHash => 10,
            MapType::LpmTrie => 11,
            MapType::DevMap => 14,
            MapType::CpuMap => 16,
            MapType::XskMap => 17,
            MapType::DevMapHash => 25,
        }
    }

    fn from_uapi(value: u32) -> Option<MapType> {
        const ALL: [MapType; 12] = [
            MapType::Hash,
            MapType::Array,
            MapType::ProgArray,
            MapType::PercpuHash,
            MapType::PercpuArray,
            MapType::LruHash,
            MapType::LruPercpuHash,
            MapType::LpmTrie,
            MapType::DevMap,
            MapType::CpuMap,
            MapType::XskMap,
            MapType::DevMapHash,
        ];
        ALL.into_iter().find(|kind| kind.uapi() == value)
    }

    /// True when user space sees one value per possible CPU.
    pub const fn is_per_cpu(self) -> bool {
        matches!(self, MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash)
    }
}

/// `BPF_F_NO_PREALLOC`: the kernel insists on it for LPM tries.
const BPF_F_NO_PREALLOC: u32 = 1 << 0;

/// A map. Dropping it closes the fd; the kernel frees the map once no program or pin
/// uses it any more.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    kind: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    /// Bytes a lookup writes: `value_size`, or for per-CPU maps `value_size` rounded up to
    /// 8 times the number of possible CPUs (the kernel's layout for those).
    value_buf_len: usize,
}

impl Map {
    /// Creates a map. `name` is cut to 15 characters of `[A-Za-z0-9_.]` (others become
    /// `_`). LPM tries get the `BPF_F_NO_PREALLOC` flag they require.
    pub fn create(kind: MapType, name: &str, key_size: u32, value_size: u32, max_entries: u32) -> Result<Map, Error> {
        let flags = if kind == MapType::LpmTrie { BPF_F_NO_PREALLOC } else { 0 };
        Map::create_with_flags(kind, name, key_size, value_size, max_entries, flags)
    }

    /// [`Map::create`] with explicit `map_flags` (`BPF_F_*` from the UAPI).
    pub fn create_with_flags(
        kind: MapType,
        name: &str,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
    ) -> Result<Map, Error> {
        let mut attr = sys::MapCreateAttr {
            map_type: kind.uapi(),
            key_size,
            value_size,
            max_entries,
            map_flags,
            map_name: sys::object_name(name),
            ..Default::default()
        };
        // SAFETY: the attr holds no addresses.
        let fd = unsafe { sys::bpf_fd(sys::BPF_MAP_CREATE, &mut attr) }
            .map_err(|err| Error::os(format!("create {kind:?} map `{name}`"), err))?;
        Map::with_layout(fd, kind, key_size, value_size, max_entries)
    }

    /// Wraps a map fd obtained elsewhere (for example [`crate::get_pinned`]), asking the
    /// kernel for its type and sizes.
    pub fn from_fd(fd: OwnedFd) -> Result<Map, Error> {
        let mut info = sys::MapInfo::default();
        object_info(fd.as_fd(), &mut info, "read BPF map info")?;
        let kind = MapType::from_uapi(info.map_type).ok_or_else(|| Error::InvalidArgument {
            what: format!("map type {} is not one this crate knows (see bpf::MapType)", info.map_type),
        })?;
        Map::with_layout(fd, kind, info.key_size, info.value_size, info.max_entries)
    }

    fn with_layout(fd: OwnedFd, kind: MapType, key_size: u32, value_size: u32, max_entries: u32) -> Result<Map, Error> {
        let value_buf_len = if kind.is_per_cpu() {
            let cpus = possible_cpus().map_err(|err| Error::os("read /sys/devices/system/cpu/possible", err))?;
            (value_size as usize).next_multiple_of(8) * cpus
        } else {
            value_size as usize
        };
        Ok(Map { fd, kind, key_size, value_size, max_entries, value_buf_len })
    }

    /// The map's file descriptor (for pinning).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The map's file descriptor as a number, as [`crate::Insn::ld_map_fd`] takes it.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The type the map was created with.
    pub fn kind(&self) -> MapType {
        self.kind
    }

    /// The size of one key in bytes.
    pub fn key_size(&self) -> u32 {
        self.key_size
    }

    /// The size of one value as programs see it.
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    /// How many entries the map holds at most.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// The length of the buffers [`Map::lookup`] and [`Map::update`] take: `value_size`,
    /// or for per-CPU maps one 8-byte-aligned slot per possible CPU.
    pub fn value_buf_len(&self) -> usize {
        self.value_buf_len
    }

    /// The kernel's id for this map (as `bpftool map` shows it).
    pub fn id(&self) -> Result<u32, Error> {
        let mut info = sys::MapInfo::default();
        object_info(self.fd(), &mut info, "read BPF map info")?;
        Ok(info.id)
    }

    fn check_key(&self, key: &[u8]) -> Result<(), Error> {
        check_len("map key", self.key_size as usize, key.len())
    }

    fn check_value(&self, value: &[u8]) -> Result<(), Error> {
        check_len("map value buffer", self.value_buf_len, value.len())
    }

    /// Creates or replaces the element at `key` (`BPF_ANY`).
    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.check_key(key)?;
        self.check_value(value)?;
        let mut attr = sys::MapElemAttr {
            map_fd: self.raw_fd() as u32,
            key: sys::addr(key.as_ptr()),
            value: sys::addr(value.as_ptr()),
            flags: sys::BPF_ANY,
            ..Default::default()
        };
        // SAFETY: key and value are live slices whose lengths were checked against the
        // sizes the kernel will read.
        unsafe { sys::bpf(sys::BPF_MAP_UPDATE_ELEM, &mut attr) }
            .map_err(|err| Error::os(format!("update {:?} map element", self.kind), err))?;
        Ok(())
    }

    /// Copies the element at `key` into `value`; `Ok(false)` if there is none.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool, Error> {
        self.check_key(key)?;
        self.check_value(value)?;
        let mut attr = sys::MapElemAttr {
            map_fd: self.raw_fd() as u32,
            key: sys::addr(key.as_ptr()),
            value: sys::addr(value.as_mut_ptr()),
            ..Default::default()
        };
        // SAFETY: key is readable for key_size bytes, value writable for value_buf_len
        // bytes (the most the kernel writes), both checked above.
        match unsafe { sys::bpf(sys::BPF_MAP_LOOKUP_ELEM, &mut attr) } {
            Ok(_) => Ok(true),
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(err) => Err(Error::os(format!("look up {:?} map element", self.kind), err)),
        }
    }

    /// Removes the element at `key`. Removing an absent key is not an error. Array maps
    /// cannot delete (EINVAL): overwrite instead.
    pub fn delete(&self, key: &[u8]) -> Result<(), Error> {
        self.check_key(key)?;
        let mut attr =
            sys::MapElemAttr { map_fd: self.raw_fd() as u32, key: sys::addr(key.as_ptr()), ..Default::default() };
        // SAFETY: key is readable for key_size bytes.
        match unsafe { sys::bpf(sys::BPF_MAP_DELETE_ELEM, &mut attr) } {
            Ok(_) => Ok(()),
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(err) => Err(Error::os(format!("delete {:?} map element", self.kind), err)),
        }
    }

    /// Writes the key after `key` (or the first key, for `None`) into `next`;
    /// `Ok(false)` when there are no more. Iterates hash maps.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool, Error> {
        if let Some(key) = key {
            self.check_key(key)?;
        }
        check_len("next-key buffer", self.key_size as usize, next.len())?;
        let mut attr = sys::MapElemAttr {
            map_fd: self.raw_fd() as u32,
            key: key.map_or(0, |key| sys::addr(key.as_ptr())),
            value: sys::addr(next.as_mut_ptr()),
            ..Default::default()
        };
        // SAFETY: key (if any) is readable and next writable for key_size bytes.
        match unsafe { sys::bpf(sys::BPF_MAP_GET_NEXT_KEY, &mut attr) } {
            Ok(_) => Ok(true),
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(err) => Err(Error::os(format!("iterate {:?} map", self.kind), err)),
        }
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Map {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::WrongLength { what, expected, actual })
    }
}

/// Marker for the `bpf_*_info` structs [`object_info`] may fill.
///
/// # Safety
/// Implementors must be `#[repr(C)]` plain integer structs, valid for any bit pattern.
pub(crate) unsafe trait ObjectInfo: Default {}
// SAFETY: repr(C), integers and byte arrays only.
unsafe impl ObjectInfo for sys::ProgInfo {}
// SAFETY: repr(C), integers and byte arrays only.
unsafe impl ObjectInfo for sys::MapInfo {}
// SAFETY: repr(C), integers only.
unsafe impl ObjectInfo for sys::LinkInfo {}

/// `BPF_OBJ_GET_INFO_BY_FD` into the head of an info struct. The kernel fills at most
/// `info_len` bytes, so asking for just the fields we need works on every version.
pub(crate) fn object_info<T: ObjectInfo>(fd: BorrowedFd<'_>, info: &mut T, operation: &str) -> Result<(), Error> {
    let mut attr = sys::InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<T>() as u32,
        info: sys::addr(info as *const T),
    };
    // SAFETY: info points to a writable T of info_len bytes that any bytes make valid.
    unsafe { sys::bpf(sys::BPF_OBJ_GET_INFO_BY_FD, &mut attr) }.map_err(|err| Error::os(operation, err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::require_root;

    #[test]
    fn array_update_lookup_round_trip() {
        if !require_root("array_update_lookup_round_trip") {
            return;
        }
        let map = Map::create(MapType::Array, "roundtrip", 4, 8, 4).unwrap();
        let key = 2u32.to_ne_bytes();
        let mut value = [0u8; 8];
        // Array elements always exist and start zeroed.
        assert!(map.lookup(&key, &mut value).unwrap());
        assert_eq!(value, [0; 8]);
        map.update(&key, &0xdead_beef_u64.to_ne_bytes()).unwrap();
        assert!(map.lookup(&key, &mut value).unwrap());
        assert_eq!(u64::from_ne_bytes(value), 0xdead_beef);
        // Out of range index: no element.
        assert!(!map.lookup(&9u32.to_ne_bytes(), &mut value).unwrap());
        assert!(map.id().unwrap() > 0);
    }

    #[test]
    fn wrong_lengths_are_refused_before_the_kernel() {
        if !require_root("wrong_lengths_are_refused_before_the_kernel") {
            return;
        }
        let map = Map::create(MapType::Array, "lengths", 4, 8, 1).unwrap();
        let err = map.update(&[0u8; 2], &[0u8; 8]).unwrap_err();
        assert_eq!(err.to_string(), "map key must be 4 bytes long, got 2");
        let mut short = [0u8; 4];
        assert!(matches!(map.lookup(&[0u8; 4], &mut short), Err(Error::WrongLength { expected: 8, .. })));
    }

    #[test]
    fn hash_map_delete_and_iterate() {
        if !require_root("hash_map_delete_and_iterate") {
            return;
        }
        let map = Map::create(MapType::Hash, "hash", 4, 4, 16).unwrap();
        for k in [1u32, 2, 3] {
            map.update(&k.to_ne_bytes(), &(k * 10).to_ne_bytes()).unwrap();
        }
        map.delete(&2u32.to_ne_bytes()).unwrap();
        map.delete(&2u32.to_ne_bytes()).unwrap();
        let mut keys = Vec::new();
        let mut cursor: Option<[u8; 4]> = None;
        let mut next = [0u8; 4];
        while map.next_key(cursor.as_ref().map(|k| &k[..]), &mut next).unwrap() {
            keys.push(u32::from_ne_bytes(next));
            cursor = Some(next);
        }
        keys.sort_unstable();
        assert_eq!(keys, [1, 3]);
        let mut value = [0u8; 4];
        assert!(!map.lookup(&2u32.to_ne_bytes(), &mut value).unwrap());
    }

    #[test]
    fn per_cpu_values_have_one_slot_per_possible_cpu() {
        if !require_root("per_cpu_values_have_one_slot_per_possible_cpu") {
            return;
        }
        let cpus = possible_cpus().unwrap();
        let map = Map::create(MapType::PercpuArray, "percpu", 4, 12, 1).unwrap();
        // 12 rounds up to 16 per CPU.
        assert_eq!(map.value_buf_len(), 16 * cpus);
        let mut values = vec![0u8; map.value_buf_len()];
        for (cpu, slot) in values.chunks_mut(16).enumerate() {
            slot[0] = cpu as u8 + 1;
        }
        map.update(&0u32.to_ne_bytes(), &values).unwrap();
        let mut read = vec![0u8; map.value_buf_len()];
        assert!(map.lookup(&0u32.to_ne_bytes(), &mut read).unwrap());
        assert_eq!(read, values);
    }

    #[test]
    fn special_map_types_can_be_created() {
        if !require_root("special_map_types_can_be_created") {
            return;
        }
        Map::create(MapType::XskMap, "xsks", 4, 4, 4).unwrap();
        Map::create(MapType::DevMap, "ports", 4, 4, 4).unwrap();
        Map::create(MapType::LpmTrie, "prefixes", 8, 4, 16).unwrap();
        let copy =
            Map::from_fd(Map::create(MapType::PercpuHash, "info", 4, 8, 2).unwrap().fd.try_clone().unwrap()).unwrap();
        assert_eq!(
            (copy.kind(), copy.key_size(), copy.value_size(), copy.max_entries()),
            (MapType::PercpuHash, 4, 8, 2)
        );
    }
}
