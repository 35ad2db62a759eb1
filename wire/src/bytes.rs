//! Big-endian field access for the header views, bounds checked by the callers once (at
//! `new_checked`), and slices clamped so a rewritten length field cannot make them panic.

/// A big-endian u16 at `at`; callers have checked the length.
#[inline]
pub(crate) fn read_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([data[at], data[at + 1]])
}

/// A big-endian u32 at `at`; callers have checked the length.
#[inline]
pub(crate) fn read_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Writes `value` big-endian at `at`; callers have checked the length.
#[inline]
pub(crate) fn write_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Writes `value` big-endian at `at`; callers have checked the length.
#[inline]
pub(crate) fn write_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// `data[start..end]` clamped to the buffer, so a length field rewritten by a setter can
/// shorten what an accessor returns but never make it panic.
#[inline]
pub(crate) fn clamped(data: &[u8], start: usize, end: usize) -> &[u8] {
    data.get(start..end.min(data.len())).unwrap_or(&[])
}

/// The mutable twin of [`clamped`].
#[inline]
pub(crate) fn clamped_mut(data: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let end = end.min(data.len());
    data.get_mut(start..end).unwrap_or(&mut [])
}
