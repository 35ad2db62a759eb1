//! Scratch directories that remove themselves.

use std::path::{Path, PathBuf};

/// A directory under the system temp dir, `testkit-SUITE-NAME-<unique>`, removed with all it
/// holds when dropped (also when the test panics).
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory; `suite` and `name` say whose it is when one is left behind.
    pub fn new(suite: &str, name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(crate::wait::unique_name(&format!("testkit-{suite}-{name}-")));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// The path of `name` inside the directory (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
