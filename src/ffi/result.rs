//! The one result enum of the C ABI, the typed error every export returns
//! internally, and the per-thread "last error" text behind `pw_last_error`.

use std::borrow::Cow;
use std::cell::RefCell;

use super::arg::out_slice;

/// What a call did. Every fallible function returns one of these. The
/// numbers are grouped (0 success, 1-99 caller errors, 100-199 session
/// and identity outcomes, 200-299 network setup, 300-399 files on disk,
/// 900 internal) and are never reused: a new outcome gets a new number.
#[repr(u32)]
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PwResult {
    /// The call succeeded and wrote its outputs.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// The session handle was freed, or is not a session handle.
    InvalidHandle = 2,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 3,
    /// An argument is out of range or malformed (see `pw_last_error`).
    InvalidArgument = 4,
    /// The caller's buffer is too small; `*out_len` / `*out_count` holds
    /// the size needed and nothing else was written or consumed.
    BufferTooSmall = 5,
    /// Another thread is inside a call on the same handle; nothing was done.
    Busy = 6,
    /// Nothing to return: no event or log line queued, or the property is
    /// absent. Not a failure: it leaves `pw_last_error` unchanged.
    Empty = 100,
    /// The network thread is behind by a whole queue; the request was dropped.
    QueueFull = 101,
    /// The session is over; the request was dropped.
    Closed = 102,
    /// Only the room's host may do this.
    NotHost = 103,
    /// A game-event payload exceeds `PW_MAX_EVENT_PAYLOAD` bytes.
    EventTooLarge = 104,
    /// Identity was never started: call `pw_identity_start` first.
    NotStarted = 105,
    /// Identity is still starting (Steam may take up to 5 s); ask again
    /// later. Nothing was done.
    Pending = 106,
    /// The UDP socket could not be bound (the OS error is in `pw_last_error`).
    BindFailed = 200,
    /// An address is not of the form `ip:port`.
    AddressInvalid = 201,
    /// A thread the call needed could not be started (the OS error is in
    /// `pw_last_error`); nothing was done.
    ThreadFailed = 202,
    /// A folder or file the call needs does not exist (the path is in
    /// `pw_last_error`); nothing was created or changed.
    FileMissing = 300,
    /// A file is not in the expected format (the path and the parser's
    /// words are in `pw_last_error`); it was left untouched.
    FileInvalid = 301,
    /// Reading or writing a file failed (the path and the OS error are in
    /// `pw_last_error`); a file being replaced is unchanged.
    IoFailed = 302,
    /// A bug in propwash was caught at the boundary; the call had no effect
    /// that can be relied on. Details are in `pw_last_error`.
    Panic = 900,
}

/// Every code, in numeric order.
const ALL_RESULTS: [PwResult; 21] = [
    PwResult::Ok,
    PwResult::NullParameter,
    PwResult::InvalidHandle,
    PwResult::InvalidUtf8,
    PwResult::InvalidArgument,
    PwResult::BufferTooSmall,
    PwResult::Busy,
    PwResult::Empty,
    PwResult::QueueFull,
    PwResult::Closed,
    PwResult::NotHost,
    PwResult::EventTooLarge,
    PwResult::NotStarted,
    PwResult::Pending,
    PwResult::BindFailed,
    PwResult::AddressInvalid,
    PwResult::ThreadFailed,
    PwResult::FileMissing,
    PwResult::FileInvalid,
    PwResult::IoFailed,
    PwResult::Panic,
];

impl PwResult {
    /// The code for a number, if it is one.
    pub fn from_u32(code: u32) -> Option<PwResult> {
        ALL_RESULTS.iter().copied().find(|r| *r as u32 == code)
    }

    /// A short fixed description of the code.
    pub fn message(self) -> &'static str {
        match self {
            PwResult::Ok => "success",
            PwResult::NullParameter => "a required pointer argument was NULL",
            PwResult::InvalidHandle => "the session handle was freed or is not a session handle",
            PwResult::InvalidUtf8 => "a string argument is not valid UTF-8",
            PwResult::InvalidArgument => "an argument is out of range or malformed",
            PwResult::BufferTooSmall => "the buffer is too small; the needed size was written",
            PwResult::Busy => "another thread is using the session handle right now",
            PwResult::Empty => "nothing to return",
            PwResult::QueueFull => "the network thread is behind; the request was dropped",
            PwResult::Closed => "the session is closed",
            PwResult::NotHost => "only the room's host may do this",
            PwResult::EventTooLarge => "the game-event payload exceeds 16 KiB",
            PwResult::NotStarted => "identity is not started (call pw_identity_start first)",
            PwResult::Pending => "identity is still starting; ask again later",
            PwResult::BindFailed => "the UDP socket could not be bound",
            PwResult::AddressInvalid => "the address is not of the form ip:port",
            PwResult::ThreadFailed => "a thread could not be started",
            PwResult::FileMissing => "a folder or file does not exist",
            PwResult::FileInvalid => "a file is not in the expected format; it was left untouched",
            PwResult::IoFailed => "reading or writing a file failed",
            PwResult::Panic => "an internal error (a Rust panic) was caught at the C boundary",
        }
    }
}

/// A failed call: its result code and the detail for `pw_last_error`.
#[derive(Debug)]
pub(crate) struct Error {
    code: PwResult,
    detail: Cow<'static, str>,
}

impl Error {
    /// An error with a code and a detailed message.
    pub(crate) fn new(code: PwResult, detail: impl Into<Cow<'static, str>>) -> Error {
        Error {
            code,
            detail: detail.into(),
        }
    }

    /// A NULL pointer argument called `name`.
    pub(crate) fn null(name: &str) -> Error {
        Error::new(PwResult::NullParameter, format!("`{name}` is NULL"))
    }

    /// An out-of-range or malformed argument.
    pub(crate) fn invalid(detail: impl Into<Cow<'static, str>>) -> Error {
        Error::new(PwResult::InvalidArgument, detail)
    }

    /// Nothing to return (not recorded as the last error).
    pub(crate) fn empty() -> Error {
        Error::new(PwResult::Empty, "")
    }

    /// The code.
    pub(crate) fn code(&self) -> PwResult {
        self.code
    }

    /// Records the detail as this thread's last error (unless the code is
    /// `Empty`, which is an answer, not a failure) and returns the code.
    pub(crate) fn record(self) -> PwResult {
        if self.code != PwResult::Empty {
            set_last_error(self.code, &self.detail);
        }
        self.code
    }
}

impl From<crate::runtime::RuntimeError> for Error {
    fn from(e: crate::runtime::RuntimeError) -> Error {
        use crate::runtime::RuntimeError as R;
        let code = match e {
            R::QueueFull => PwResult::QueueFull,
            R::Closed => PwResult::Closed,
            R::EventTooLarge(_) => PwResult::EventTooLarge,
            R::Busy => PwResult::Busy,
            R::NotHost => PwResult::NotHost,
            R::Thread(_) => PwResult::ThreadFailed,
            R::BadListing(_) => PwResult::InvalidArgument,
        };
        Error::new(code, e.to_string())
    }
}

thread_local! {
    /// The detail of the last failing call on this thread. The buffer is
    /// reused, so recording a fixed message does not allocate once warm.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Stores `detail` (prefixed with the code's name) as this thread's last error.
pub(crate) fn set_last_error(code: PwResult, detail: &str) {
    // During thread teardown the slot may be gone: losing the text then is fine.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            s.clear();
            s.push_str(code_name(code));
            s.push_str(": ");
            s.push_str(if detail.is_empty() {
                code.message()
            } else {
                detail
            });
        }
    });
}

/// The C name of a code, as the header spells it.
fn code_name(code: PwResult) -> &'static str {
    match code {
        PwResult::Ok => "PW_RESULT_OK",
        PwResult::NullParameter => "PW_RESULT_NULL_PARAMETER",
        PwResult::InvalidHandle => "PW_RESULT_INVALID_HANDLE",
        PwResult::InvalidUtf8 => "PW_RESULT_INVALID_UTF8",
        PwResult::InvalidArgument => "PW_RESULT_INVALID_ARGUMENT",
        PwResult::BufferTooSmall => "PW_RESULT_BUFFER_TOO_SMALL",
        PwResult::Busy => "PW_RESULT_BUSY",
        PwResult::Empty => "PW_RESULT_EMPTY",
        PwResult::QueueFull => "PW_RESULT_QUEUE_FULL",
        PwResult::Closed => "PW_RESULT_CLOSED",
        PwResult::NotHost => "PW_RESULT_NOT_HOST",
        PwResult::EventTooLarge => "PW_RESULT_EVENT_TOO_LARGE",
        PwResult::NotStarted => "PW_RESULT_NOT_STARTED",
        PwResult::Pending => "PW_RESULT_PENDING",
        PwResult::BindFailed => "PW_RESULT_BIND_FAILED",
        PwResult::AddressInvalid => "PW_RESULT_ADDRESS_INVALID",
        PwResult::ThreadFailed => "PW_RESULT_THREAD_FAILED",
        PwResult::FileMissing => "PW_RESULT_FILE_MISSING",
        PwResult::FileInvalid => "PW_RESULT_FILE_INVALID",
        PwResult::IoFailed => "PW_RESULT_IO_FAILED",
        PwResult::Panic => "PW_RESULT_PANIC",
    }
}

/// Writes a fixed description of `code` (a `PwResult` number; unknown
/// numbers get a description too) as UTF-8, not NUL-terminated, into `buf`.
///
/// `out_len` must not be NULL; `buf` may be NULL only when `cap` is 0.
/// On `PW_RESULT_OK` `*out_len` is the number of bytes written; on
/// `PW_RESULT_BUFFER_TOO_SMALL` it is the number needed (every message fits
/// in 128 bytes). The caller owns `buf`. Any thread; never blocks. Does not
/// change `pw_last_error`.
///
/// # Safety
/// `buf` must be NULL or valid for `cap` bytes of writing; `out_len` must be
/// NULL or valid for writing one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn pw_result_message(
    code: u32,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!(quiet {
        let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
        let unknown;
        let text = match PwResult::from_u32(code) {
            Some(r) => r.message(),
            None => {
                unknown = format!("unknown result code {code}");
                &unknown
            }
        };
        // SAFETY: the caller guarantees `buf`/`out_len` per the contract above.
        unsafe { out.write(text.as_bytes()) }
    })
}

/// Writes the detailed message of the last call on this thread that failed
/// (any result but `PW_RESULT_OK` and `PW_RESULT_EMPTY`), as UTF-8, not
/// NUL-terminated, e.g. `PW_RESULT_INVALID_ARGUMENT: pilot_hz 5 is out of
/// range (allowed 10 to 240 Hz)`. The message stays until the next failure
/// on this thread; a successful call does not clear it.
///
/// Returns `PW_RESULT_EMPTY` if no call on this thread has failed yet.
/// `out_len` must not be NULL; `buf` may be NULL only when `cap` is 0; on
/// `PW_RESULT_BUFFER_TOO_SMALL` `*out_len` is the length needed and the
/// message is kept. The caller owns `buf`. Any thread (each has its own
/// message); never blocks. Its own failures do not replace the message.
///
/// # Safety
/// `buf` must be NULL or valid for `cap` bytes of writing; `out_len` must be
/// NULL or valid for writing one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn pw_last_error(buf: *mut u8, cap: usize, out_len: *mut usize) -> PwResult {
    ffi_boundary!(quiet {
        let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
        LAST_ERROR
            .try_with(|slot| {
                let s = slot
                    .try_borrow()
                    .map_err(|_| Error::new(PwResult::Busy, "the last error is being written"))?;
                if s.is_empty() {
                    return Err(Error::empty());
                }
                // SAFETY: the caller guarantees `buf`/`out_len` per the contract above.
                unsafe { out.write(s.as_bytes()) }
            })
            .unwrap_or_else(|_| Err(Error::empty()))
    })
}
