//! The backend stand-in through the C ABI: the plugin starts it once the
//! game is up, rewrites the game's requests for `api.drlgame.com` to
//! `http://127.0.0.1:<pw_backend_port>/...`, and frees it when the game
//! quits. Identity (`pw_identity_start`) supplies the player and Steam's
//! word on the license.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::arg::{self, PwStr};
use super::result::{Error, PwResult};
use crate::backend::{Backend, BackendConfig, BackendError, Facts};
use crate::identity::Identity;

/// A live backend: "pwbkend!".
const LIVE: u64 = 0x7077_626b_656e_6421;
/// A freed one (a tombstone).
const DEAD: u64 = 0xdead_dead_626b_dead;
/// How long the license answer waits for a starting identity (Steam may
/// take 5 s to start).
const IDENTITY_WAIT: Duration = Duration::from_secs(8);

/// How to start the stand-in. Fill it with `pw_backend_options_default`
/// first, then set at least `game_dir`. The strings are borrowed only
/// during `pw_backend_start`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PwBackendOptions {
    /// The game's install folder (holding `DRL Simulator_Data`) or its
    /// data folder; required.
    pub game_dir: PwStr,
    /// The game's version, answered to the game-state request (the
    /// plugin passes `Application.version`); may be empty.
    pub game_version: PwStr,
    /// The license answer when Steam cannot be asked (offline identity, no
    /// Steam plugin); default false (C# marshal as U1).
    pub offline_licensed: bool,
    /// Corrections to the routes table as JSON, keyed by route id:
    /// `{"license": {"paths": [...], "methods": [...], "encoding":
    /// "base64"|"raw"|"bare"|"none"}}`; empty: none.
    pub routes_json: PwStr,
}

/// The running stand-in. Opaque: made by `pw_backend_start`, released with
/// `pw_backend_free`; a freed handle keeps a small shell so later calls
/// with it return `PW_RESULT_INVALID_HANDLE`.
pub struct PwBackend {
    magic: AtomicU64,
    port: u16,
    inner: Mutex<Option<Backend>>,
}

/// Writes the default options into `*out`: empty strings (the caller must
/// still set `game_dir`), not licensed without Steam.
///
/// `out` may be NULL (then nothing is written). The caller owns `*out`.
/// Any thread; never blocks.
///
/// # Safety
/// `out` must be NULL or valid for writing one `PwBackendOptions`.
#[no_mangle]
pub unsafe extern "C" fn pw_backend_options_default(out: *mut PwBackendOptions) {
    let _ = ffi_boundary!({
        let out = arg::out(out, "out")?;
        // SAFETY: the caller guarantees `out` per the contract above.
        unsafe {
            out.write(PwBackendOptions {
                game_dir: PwStr::empty(),
                game_version: PwStr::empty(),
                offline_licensed: false,
                routes_json: PwStr::empty(),
            })
        };
        Ok(())
    });
}

/// The process identity as the stand-in's facts.
struct ProcessIdentity;

impl Facts for ProcessIdentity {
    fn identity(&self) -> Option<Identity> {
        super::identity::local().map(|l| l.identity())
    }

    fn owns_app(&self, app_id: u32) -> Result<bool, String> {
        if !super::identity::started() {
            return Err("identity was not started (pw_identity_start), so Steam was not".into());
        }
        // Called on the stand-in's thread: waiting here delays only this
        // answer, never the game.
        let end = Instant::now() + IDENTITY_WAIT;
        loop {
            if let Some(l) = super::identity::local() {
                return l.owns_app(app_id);
            }
            if Instant::now() >= end {
                return Err(format!(
                    "identity was still starting after {} s",
                    IDENTITY_WAIT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts the backend stand-in: checks the game folder and `routes_json`,
/// listens on `127.0.0.1` at a free port (read it with
/// `pw_backend_port`), and answers the game's backend requests from its
/// local files on a thread of its own (one request at a time, each
/// bounded in size and time). Every request is logged (`pw_log_read`):
/// its method, path and query, and the route that answered, or that none
/// did.
///
/// On `PW_RESULT_OK` `*out` receives a handle the caller owns and must
/// release with `pw_backend_free`. Fails with `PW_RESULT_NULL_PARAMETER`
/// (`options` or `out` NULL), `PW_RESULT_INVALID_UTF8`,
/// `PW_RESULT_INVALID_ARGUMENT` (empty `game_dir`, a `routes_json` that
/// names an unknown route or field), `PW_RESULT_FILE_MISSING` (`game_dir`
/// is not a DRL Simulator folder), `PW_RESULT_BIND_FAILED` or
/// `PW_RESULT_THREAD_FAILED`; the reason is in `pw_last_error`. Any
/// thread; does not block (a few metadata calls, one socket, one thread).
///
/// # Safety
/// `options` must be NULL or point to a readable `PwBackendOptions` whose
/// strings are valid as `PwStr` describes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_backend_start(
    options: *const PwBackendOptions,
    out: *mut *mut PwBackend,
) -> PwResult {
    ffi_boundary!({
        let o = arg::input(options, "options")?.as_ptr();
        let out = arg::out(out, "out")?;
        // SAFETY: `o` is valid for reads (caller); the bool is read as a byte.
        let (game_dir, game_version, licensed, routes) = unsafe {
            (
                (*o).game_dir,
                (*o).game_version,
                std::ptr::addr_of!((*o).offline_licensed)
                    .cast::<u8>()
                    .read()
                    != 0,
                (*o).routes_json,
            )
        };
        // SAFETY (all three): valid as `PwStr` describes (caller).
        let game_dir = unsafe { arg::string(game_dir, "options.game_dir") }?;
        let version = unsafe { arg::string(game_version, "options.game_version") }?;
        let routes = unsafe { arg::string(routes, "options.routes_json") }?;
        if game_dir.is_empty() {
            return Err(Error::invalid(
                "`options.game_dir` is empty; pass the game's install folder",
            ));
        }
        super::log::install();
        let mut config = BackendConfig::new(PathBuf::from(game_dir), version);
        config.offline_licensed = licensed;
        config.overrides_json = routes.to_string();
        let backend = Backend::start(&config, Arc::new(ProcessIdentity)).map_err(|e| {
            let code = match &e {
                BackendError::Game(_) | BackendError::File { .. } => PwResult::FileMissing,
                BackendError::Overrides(_) => PwResult::InvalidArgument,
                BackendError::Bind(_) => PwResult::BindFailed,
                BackendError::Thread(_) => PwResult::ThreadFailed,
                BackendError::NoSuchTrack { .. } | BackendError::BadRequest(_) => {
                    PwResult::InvalidArgument
                }
            };
            Error::new(code, e.to_string())
        })?;
        let handle = Box::into_raw(Box::new(PwBackend {
            magic: AtomicU64::new(LIVE),
            port: backend.addr().port(),
            inner: Mutex::new(Some(backend)),
        }));
        // SAFETY: `out` is writable (caller).
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Checks a backend handle.
///
/// # Safety
/// `ptr` must be NULL or a handle from `pw_backend_start` (freed or not).
unsafe fn live(ptr: *mut PwBackend) -> Result<&'static PwBackend, Error> {
    let shell = arg::input(ptr.cast_const(), "backend")?;
    // SAFETY: shells are never deallocated (caller passes one of ours).
    let shell = unsafe { shell.as_ref() };
    match shell.magic.load(Ordering::Acquire) {
        LIVE => Ok(shell),
        DEAD => Err(Error::new(
            PwResult::InvalidHandle,
            "the backend handle was freed with pw_backend_free",
        )),
        _ => Err(Error::new(
            PwResult::InvalidHandle,
            "not a backend handle (wrong magic number)",
        )),
    }
}

/// Writes the port the stand-in listens on (on `127.0.0.1`) into
/// `*out_port`. `PW_RESULT_INVALID_HANDLE` for a freed handle. Any thread;
/// never blocks.
///
/// # Safety
/// `backend` must be NULL or a handle from `pw_backend_start`; `out_port`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_backend_port(backend: *mut PwBackend, out_port: *mut u16) -> PwResult {
    ffi_boundary!({
        // SAFETY: forwarded to the caller.
        let shell = unsafe { live(backend) }?;
        let out = arg::out(out_port, "out_port")?;
        // SAFETY: `out_port` is writable (caller).
        unsafe { out.write(shell.port) };
        Ok(())
    })
}

/// Stops the stand-in and releases the handle. NULL is fine (nothing
/// happens); a second free is detected and ignored (the last error says
/// so). Waits for a request being answered, a few seconds at most (up to
/// 8 s while the license answer waits for Steam to start): call it when
/// the game quits, not every frame. Any thread.
///
/// # Safety
/// `backend` must be NULL or a handle from `pw_backend_start` (freed or not).
#[no_mangle]
pub unsafe extern "C" fn pw_backend_free(backend: *mut PwBackend) {
    let _ = ffi_boundary!({
        if backend.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded to the caller.
        let shell = unsafe { live(backend) }?;
        if shell
            .magic
            .compare_exchange(LIVE, DEAD, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::new(
                PwResult::InvalidHandle,
                "pw_backend_free: the handle was already freed",
            ));
        }
        drop(shell.inner.lock().take());
        Ok(())
    });
}
