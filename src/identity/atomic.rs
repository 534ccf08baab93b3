//! Replacing a file so that a crash at any moment leaves either the old or
//! the new content: write a temporary file beside it, flush it to disk, keep
//! one backup of the old file, then rename the temporary over the original.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Points inside [`replace_with_hook`] where a test may interrupt the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Half of the new content is in the temporary file.
    TempHalfWritten,
    /// The temporary file is complete and flushed; the original is untouched.
    TempComplete,
}

/// `path` with `suffix` appended to its file name (`a.json` → `a.json.tmp`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Replaces `path` with `bytes`; when `backup` is set and `path` exists, its
/// old content is kept as `<path>.bak` (one backup, replaced each time).
///
/// A leftover `<path>.tmp` from an earlier crash is overwritten. On error the
/// temporary file is removed and `path` is as it was.
pub(crate) fn replace(path: &Path, bytes: &[u8], backup: bool) -> io::Result<()> {
    replace_with_hook(path, bytes, backup, &mut |_| Ok(()))
}

/// [`replace`], calling `hook` at each [`Stage`]; an error from the hook
/// aborts the write like an I/O error would.
pub(crate) fn replace_with_hook(
    path: &Path,
    bytes: &[u8],
    backup: bool,
    hook: &mut dyn FnMut(Stage) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = sibling(path, ".tmp");
    let result = write_temp(&tmp, bytes, hook).and_then(|()| {
        if backup && path.exists() {
            copy_backup(path)?;
        }
        fs::rename(&tmp, path)?;
        sync_parent(path);
        Ok(())
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_temp(
    tmp: &Path,
    bytes: &[u8],
    hook: &mut dyn FnMut(Stage) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = File::create(tmp)?;
    let half = bytes.len() / 2;
    f.write_all(&bytes[..half])?;
    f.flush()?;
    hook(Stage::TempHalfWritten)?;
    f.write_all(&bytes[half..])?;
    f.sync_all()?;
    drop(f);
    hook(Stage::TempComplete)
}

/// Copies `path` to `<path>.bak` through its own temporary, so a crash while
/// copying never leaves a half backup in place of a whole one.
fn copy_backup(path: &Path) -> io::Result<()> {
    let bak = sibling(path, ".bak");
    let bak_tmp = sibling(path, ".bak.tmp");
    // Opened for writing: Windows refuses to flush a read-only handle
    // (FlushFileBuffers answers "access denied"), which failed every sync.
    let copied = fs::copy(path, &bak_tmp)
        .and_then(|_| OpenOptions::new().write(true).open(&bak_tmp)?.sync_all())
        .and_then(|()| fs::rename(&bak_tmp, &bak));
    if copied.is_err() {
        let _ = fs::remove_file(&bak_tmp);
    }
    copied
}

/// Makes the rename itself durable where the platform allows it.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_dir::TestDir;

    #[test]
    fn replaces_and_keeps_one_backup() {
        let dir = TestDir::new("atomic-backup");
        let p = dir.path().join("state.json");
        fs::write(&p, b"one").unwrap();
        replace(&p, b"two", true).unwrap();
        replace(&p, b"three", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        assert_eq!(fs::read(sibling(&p, ".bak")).unwrap(), b"two");
        assert!(!sibling(&p, ".tmp").exists());
        assert!(!sibling(&p, ".bak.tmp").exists());
    }

    #[test]
    fn a_failure_mid_write_leaves_the_original_and_no_temporary() {
        let dir = TestDir::new("atomic-fail");
        let p = dir.path().join("state.json");
        fs::write(&p, b"original").unwrap();
        let err = replace_with_hook(&p, b"a much longer new content", true, &mut |s| {
            if s == Stage::TempHalfWritten {
                Err(io::Error::other("disk pulled out"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk pulled out");
        assert_eq!(fs::read(&p).unwrap(), b"original");
        assert!(!sibling(&p, ".tmp").exists());
        assert!(!sibling(&p, ".bak").exists());
    }

    #[test]
    fn a_leftover_temporary_from_a_crash_is_overwritten() {
        let dir = TestDir::new("atomic-leftover");
        let p = dir.path().join("state.json");
        fs::write(&p, b"old").unwrap();
        fs::write(
            sibling(&p, ".tmp"),
            b"half a file from a crash, longer than new",
        )
        .unwrap();
        replace(&p, b"new", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert!(!sibling(&p, ".tmp").exists());
    }
}
