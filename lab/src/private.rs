//! The lab's private files. It runs as root and writes logs and rule files that root
//! processes then read: in a shared /tmp, a predictable name lets another user plant a
//! symlink there (and have root overwrite any file) or a file of their own (and have root
//! load their rules). So the work directory gets an unpredictable name and mode 0700, made
//! the way mkdtemp(3) makes one (mkdir(2) on a random name: it fails on anything already
//! there, a symlink included, and never follows one), and every file the lab writes in it is
//! created new (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), never opened over an existing one.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Where the lab's work directories are made: `PARENT/dataplane-lab-<prefix>-<random>`.
pub const WORK_STEM: &str = "dataplane-lab-";

/// Makes `parent/dataplane-lab-<prefix>-<random>`, mode 0700, and returns its path.
pub fn create_dir(parent: &Path, prefix: &str) -> io::Result<PathBuf> {
    for _ in 0..16 {
        let suffix: String = random_suffix()?.iter().collect();
        let path = parent.join(format!("{WORK_STEM}{prefix}-{suffix}"));
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            // Someone else's name (or a planted symlink): draw another.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "16 random names in a row were taken"))
}

/// Creates a new file (never an existing one, never through a symlink), mode 0600.
pub fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Creates `path` (as [`create_file`]) with `contents`; the error names the file.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    create_file(path)
        .and_then(|mut f| f.write_all(contents))
        .map_err(|source| Error::File { path: path.to_path_buf(), source })
}

/// Ten characters of [a-z2-7] (50 bits) from the kernel's random source.
fn random_suffix() -> io::Result<[char; 10]> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let mut bits = u64::from_le_bytes(bytes);
    Ok(std::array::from_fn(|_| {
        let c = ALPHABET[(bits & 31) as usize] as char;
        bits >>= 5;
        c
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use testkit::TempDir;

    #[test]
    fn work_directories_are_private_and_unpredictable() {
        let scratch = TempDir::new("lab", "dir");
        let a = create_dir(scratch.dir(), "dl1").unwrap();
        let b = create_dir(scratch.dir(), "dl1").unwrap();
        assert_ne!(a, b, "two runs with one prefix get two directories");
        for dir in [&a, &b] {
            let name = dir.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("dataplane-lab-dl1-") && name.len() == "dataplane-lab-dl1-".len() + 10, "{name}");
            let meta = std::fs::symlink_metadata(dir).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{}", dir.display());
        }
    }

    #[test]
    fn files_are_never_written_through_a_symlink_or_over_an_existing_file() {
        let scratch = TempDir::new("lab", "file");
        let victim = scratch.path("victim");
        std::fs::write(&victim, "precious").unwrap();
        let planted = scratch.path("rules");
        symlink(&victim, &planted).unwrap();
        assert!(write_file(&planted, b"overwritten").is_err(), "a symlink was followed");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(write_file(&victim, b"overwritten").is_err(), "an existing file was opened");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

        let fresh = scratch.path("fresh");
        write_file(&fresh, b"mine").unwrap();
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "mine");
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
