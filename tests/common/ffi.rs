//! For tests that drive the C ABI from Rust: the thread's last error.

use std::path::Path;

use propwash::ffi::{pw_last_error, PwResult};

/// The calling thread's last error message (`pw_last_error`).
pub(crate) fn last_error() -> String {
    let mut buf = [0u8; 1024];
    let mut len = 0usize;
    let r = unsafe { pw_last_error(buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(r, PwResult::Ok, "pw_last_error");
    String::from_utf8(buf[..len].to_vec()).expect("last error is UTF-8")
}

/// Asserts a result and that the thread's last error contains `needle`.
#[track_caller]
pub(crate) fn expect_err(r: PwResult, code: PwResult, needle: &str) {
    assert_eq!(r, code, "{}", last_error());
    let e = last_error();
    assert!(
        e.contains(needle),
        "last error {e:?} should mention {needle:?}"
    );
}

/// A path as the `&str` a `PwStr` argument takes.
pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}
