//! Pinning objects in bpffs so they outlive the process (BPF_OBJ_PIN / BPF_OBJ_GET), and
//! mounting bpffs where it is missing.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::Error;
use crate::sys;

fn c_path(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidArgument { what: format!("path {} contains a NUL byte", path.display()) })
}

/// Whether `path` lies on a bpf filesystem (false if it cannot be inspected).
fn is_on_bpffs(path: &Path) -> bool {
    let Ok(c_path) = c_path(path) else {
        return false;
    };
    // SAFETY: an all-zero statfs is a valid value for the kernel to overwrite.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated and stat is a writable statfs.
    let ret = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    // f_type is a signed word of platform width; the magic is defined as 32 bits.
    ret == 0 && stat.f_type as u32 == sys::BPF_FS_MAGIC
}

/// The directory a pin would be created in (for "is this on bpffs" checks).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Pins the program, map or link `fd` at `path`, which must be below a bpffs mount (see
/// [`ensure_bpffs`]) and must not exist yet.
pub fn pin(fd: BorrowedFd<'_>, path: &Path) -> Result<(), Error> {
    let c_path = c_path(path)?;
    let mut attr = sys::ObjAttr { pathname: sys::addr(c_path.as_ptr()), bpf_fd: fd.as_raw_fd() as u32, file_flags: 0 };
    // SAFETY: pathname points to a NUL-terminated string that outlives the call.
    match unsafe { sys::bpf(sys::BPF_OBJ_PIN, &mut attr) } {
        Ok(_) => Ok(()),
        Err(err) => Err(pin_error(path, err)),
    }
}

fn pin_error(path: &Path, err: io::Error) -> Error {
    match err.raw_os_error() {
        Some(libc::EEXIST) => Error::PinExists { path: path.to_owned() },
        // The kernel answers EPERM for a directory that is not bpffs, which would
        // otherwise read as a privilege problem.
        Some(errno @ libc::EPERM) if !is_on_bpffs(parent_dir(path)) => {
            Error::NotOnBpffs { path: path.to_owned(), errno }
        }
        Some(libc::ENOENT) => Error::os(
            format!("pin at {} (its directory {} must exist)", path.display(), parent_dir(path).display()),
            err,
        ),
        _ => Error::os(format!("pin at {}", path.display()), err),
    }
}

/// Opens the object pinned at `path`. Wrap the fd with [`crate::Map::from_fd`] for maps.
pub fn get_pinned(path: &Path) -> Result<OwnedFd, Error> {
    let c_path = c_path(path)?;
    let mut attr = sys::ObjAttr { pathname: sys::addr(c_path.as_ptr()), bpf_fd: 0, file_flags: 0 };
    // SAFETY: pathname points to a NUL-terminated string that outlives the call.
    unsafe { sys::bpf_fd(sys::BPF_OBJ_GET, &mut attr) }.map_err(|err| match err.raw_os_error() {
        Some(libc::ENOENT) => Error::PinNotFound { path: path.to_owned() },
        // A file that is not a pinned object (not on bpffs) gives EACCES.
        Some(errno @ (libc::EACCES | libc::EPERM)) if !is_on_bpffs(path) => {
            Error::NotOnBpffs { path: path.to_owned(), errno }
        }
        _ => Error::os(format!("open pinned object {}", path.display()), err),
    })
}

/// Makes sure `dir` (usually `/sys/fs/bpf`) is on a bpf filesystem, mounting one there if
/// not. Fresh machines often lack it.
///
/// This checks with `statfs(2)` rather than by reading `/proc/mounts`: that also accepts a
/// directory inside an existing bpffs mount (no second mount stacked on it), and it
/// answers for the calling thread's mount namespace, which `/proc/self/mounts` (the main
/// thread's) may not.
pub fn ensure_bpffs(dir: &Path) -> Result<(), Error> {
    if is_on_bpffs(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|err| Error::os(format!("create directory {}", dir.display()), err))?;
    let target = c_path(dir)?;
    // bpffs ignores the source name; "bpf" is what `mount -t bpf bpf DIR` passes and what
    // /proc/mounts then shows. Mode 0700 as systemd mounts it: pins are root's business.
    let (source, fstype, options) = (c"bpf", c"bpf", c"mode=0700");
    // SAFETY: all four strings are NUL-terminated and live across the call.
    let ret = unsafe { libc::mount(source.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, options.as_ptr().cast()) };
    if ret != 0 {
        return Err(Error::os(format!("mount bpffs on {}", dir.display()), io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{Map, MapType};
    use testkit::{require_root, TempDir};

    /// Runs `test` on a thread with a mount namespace of its own, so the bpffs mounted by
    /// the test never appears on the host and vanishes when the thread ends.
    fn in_private_mount_namespace<R: Send>(test: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: unshare/mount with constant arguments affect only this thread's
                    // (now private) mount namespace.
                    unsafe {
                        assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare(CLONE_NEWNS)");
                        // Stop our mounts from propagating back to the host's namespace.
                        let ret = libc::mount(
                            std::ptr::null(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null(),
                        );
                        assert_eq!(ret, 0, "make mounts private");
                    }
                    test()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    #[test]
    fn pin_and_get_round_trip_on_a_fresh_bpffs() {
        if !require_root("pin_and_get_round_trip_on_a_fresh_bpffs") {
            return;
        }
        let scratch = TempDir::new("bpf", "pin");
        let dir = scratch.dir().to_owned();
        in_private_mount_namespace(move || {
            assert!(!is_on_bpffs(&dir));
            ensure_bpffs(&dir).unwrap();
            assert!(is_on_bpffs(&dir));
            // Already mounted: nothing to do.
            ensure_bpffs(&dir).unwrap();

            let map = Map::create(MapType::Array, "pinned", 4, 4, 1).unwrap();
            map.update(&0u32.to_ne_bytes(), &7u32.to_ne_bytes()).unwrap();
            let path = dir.join("counters");
            pin(map.fd(), &path).unwrap();

            let err = pin(map.fd(), &path).unwrap_err();
            assert!(matches!(err, Error::PinExists { .. }), "{err}");

            let reopened = Map::from_fd(get_pinned(&path).unwrap()).unwrap();
            assert_eq!(reopened.kind(), MapType::Array);
            assert_eq!(reopened.id().unwrap(), map.id().unwrap());
            let mut value = [0u8; 4];
            assert!(reopened.lookup(&0u32.to_ne_bytes(), &mut value).unwrap());
            assert_eq!(u32::from_ne_bytes(value), 7);

            let err = get_pinned(&dir.join("missing")).unwrap_err();
            assert!(matches!(err, Error::PinNotFound { .. }), "{err}");
            assert!(err.to_string().contains("nothing is pinned at"));
        });
    }

    #[test]
    fn pinning_outside_bpffs_explains_itself() {
        if !require_root("pinning_outside_bpffs_explains_itself") {
            return;
        }
        let scratch = TempDir::new("bpf", "nopin");
        let map = Map::create(MapType::Array, "unpinned", 4, 4, 1).unwrap();
        let err = pin(map.fd(), &scratch.dir().join("map")).unwrap_err();
        assert!(matches!(err, Error::NotOnBpffs { .. }), "{err:?}");
        assert!(err.to_string().contains("mount -t bpf bpf /sys/fs/bpf"));

        let plain_file = scratch.dir().join("plain");
        std::fs::write(&plain_file, b"not a bpf object").unwrap();
        let err = get_pinned(&plain_file).unwrap_err();
        assert!(matches!(err, Error::NotOnBpffs { .. }), "{err:?}");
    }

    #[test]
    fn paths_with_nul_are_invalid() {
        let err = get_pinned(Path::new("/sys/fs/bpf/a\0b")).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
    }
}
