//! The panic boundary every export runs inside: a Rust panic must never
//! unwind into the game's Mono runtime. A caught panic becomes
//! `PW_RESULT_PANIC` (or a harmless fallback value) and its message the
//! thread's last error.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::result::{set_last_error, Error, PwResult};

/// Runs an export's body inside `catch_unwind`.
///
/// - `ffi_boundary!({ ... })`: the body is a block evaluating to
///   `Result<(), Error>`; the export returns the `PwResult`, and a failure
///   (other than `Empty`) becomes this thread's last error.
/// - `ffi_boundary!(quiet { ... })`: the same, but a failure does not touch
///   the last error (for the functions that report it).
/// - `ffi_boundary!(fallback = value, { ... })`: the body evaluates to the
///   export's return value; a panic returns `value` instead.
macro_rules! ffi_boundary {
    (quiet $body:block) => {
        $crate::ffi::boundary::run_result(false, || $body)
    };
    (fallback = $fallback:expr, $body:block) => {
        $crate::ffi::boundary::run_value($fallback, || $body)
    };
    ($body:block) => {
        $crate::ffi::boundary::run_result(true, || $body)
    };
}

/// The body of `ffi_boundary!` for exports returning `PwResult`.
pub(crate) fn run_result(record: bool, body: impl FnOnce() -> Result<(), Error>) -> PwResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => PwResult::Ok,
        Ok(Err(e)) if record => e.record(),
        Ok(Err(e)) => e.code(),
        Err(payload) => panicked(payload),
    }
}

/// The body of `ffi_boundary!` for exports returning a plain value.
pub(crate) fn run_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            let _ = panicked(payload);
            fallback
        }
    }
}

/// Records a caught panic; its payload is dropped inside a second boundary
/// because a payload's own destructor may panic too.
fn panicked(payload: Box<dyn Any + Send>) -> PwResult {
    let _ = catch_unwind(AssertUnwindSafe(move || {
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic with a non-text payload");
        set_last_error(
            PwResult::Panic,
            &format!("a Rust panic was caught at the C boundary: {text}"),
        );
        tracing::error!("a Rust panic was caught at the C boundary: {text}");
        drop(payload);
    }));
    PwResult::Panic
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::result::pw_last_error;

    fn last_error() -> String {
        let mut buf = [0u8; 512];
        let mut len = 0usize;
        // SAFETY: a valid buffer and length.
        let r = unsafe { pw_last_error(buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(r, PwResult::Ok);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn a_panic_becomes_a_result_code_and_the_last_error() {
        let r: PwResult = ffi_boundary!({
            panic!("boom in the body");
        });
        assert_eq!(r, PwResult::Panic);
        let e = last_error();
        assert!(e.starts_with("PW_RESULT_PANIC: "), "{e}");
        assert!(e.contains("boom in the body"), "{e}");

        let v: u32 = ffi_boundary!(fallback = 7, {
            panic!("{}", String::from("owned payload"));
        });
        assert_eq!(v, 7);
        assert!(last_error().contains("owned payload"));
    }

    #[test]
    fn quiet_failures_and_empty_leave_the_last_error_alone() {
        set_last_error(PwResult::Busy, "kept");
        let r: PwResult = ffi_boundary!(quiet {
            Err(Error::invalid("not recorded"))
        });
        assert_eq!(r, PwResult::InvalidArgument);
        let r: PwResult = ffi_boundary!({ Err(Error::empty()) });
        assert_eq!(r, PwResult::Empty);
        assert_eq!(last_error(), "PW_RESULT_BUSY: kept");
        let r: PwResult = ffi_boundary!({ Err(Error::invalid("recorded")) });
        assert_eq!(r, PwResult::InvalidArgument);
        assert_eq!(last_error(), "PW_RESULT_INVALID_ARGUMENT: recorded");
    }
}
