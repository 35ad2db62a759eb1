//! Network interfaces by name and by index, in the calling thread's network namespace.

use std::ffi::{CStr, CString};

use crate::error::Error;

/// The index of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    let not_found = || Error::NoSuchInterface { name: name.to_owned() };
    let c_name = CString::new(name).map_err(|_| not_found())?;
    // SAFETY: c_name is NUL-terminated.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(not_found()),
        index => Ok(index),
    }
}

/// The name of interface `index` in the calling thread's network namespace.
pub fn ifname(index: u32) -> Result<String, Error> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname may write.
    let ret = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if ret.is_null() {
        return Err(Error::NoSuchIfindex { ifindex: index });
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_unknown_names_are_not() {
        let lo = ifindex("lo").unwrap();
        assert_eq!(ifname(lo).unwrap(), "lo");
        let err = ifindex("no-such-if0").unwrap_err();
        assert!(matches!(err, Error::NoSuchInterface { .. }));
        assert!(err.to_string().contains("no-such-if0"));
        assert!(ifindex("bad\0name").is_err());
    }
}
