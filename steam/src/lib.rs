//! propwash's Steam plugin: the only code that links steam_api.
//!
//! steam_api is linked at load time, so a library that uses it fails to load
//! wherever steam_api is missing. The main `propwash` library therefore never
//! links it: it loads this small plugin at run time (libloading) and falls
//! back to an offline identity when the plugin, steam_api or Steam itself is
//! not there. This crate is that plugin: a handful of C functions over the
//! `steamworks` crate, each behind a panic boundary.
//!
//! # The ABI (version [`PWS_ABI_VERSION`])
//!
//! Every function returns at once except `pws_init`, which may take as long as
//! `SteamAPI_InitFlat` takes (the loader calls it off the game thread). All
//! state is process-wide, as Steam's is; every function may be called from any
//! thread (one lock serialises them). Text goes out as UTF-8 into a caller
//! buffer: `cap` bytes are writable at `buf`, the full length is stored in
//! `*len` even when it did not fit (then only `cap` bytes were written and the
//! result is [`PWS_ERR_BUFFER_TOO_SMALL`] where noted). NULL `buf` with `cap`
//! 0 is fine; NULL `len` is not.
//!
//! The plugin never calls `SteamAPI_RestartAppIfNecessary`: the game was
//! already started by Steam or it was not, and restarting it is not ours to do.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use steamworks::networking_types::NetworkingIdentity;
use steamworks::{AuthTicket, CallbackHandle, Client, SteamId, ValidateAuthTicketResponse};

/// Version of this ABI; the loader refuses a plugin that reports another.
pub const PWS_ABI_VERSION: u32 = 1;

/// Success (for `pws_poll_auth`: Steam accepted the ticket).
pub const PWS_OK: i32 = 0;
/// `pws_poll_auth`: Steam has not answered yet.
pub const PWS_PENDING: i32 = 1;
/// `pws_poll_auth`: Steam rejected the ticket; the reason is in the buffer.
pub const PWS_DENIED: i32 = 2;
/// `pws_init` was not called or failed.
pub const PWS_ERR_NOT_INITIALIZED: i32 = -1;
/// `SteamAPI_InitFlat` failed; the reason is in the buffer.
pub const PWS_ERR_INIT_FAILED: i32 = -2;
/// The output did not fit; `*len` holds the size needed.
pub const PWS_ERR_BUFFER_TOO_SMALL: i32 = -3;
/// A required pointer was NULL.
pub const PWS_ERR_NULL: i32 = -4;
/// A panic was caught at the boundary.
pub const PWS_ERR_PANIC: i32 = -5;
/// `BeginAuthSession` refused the ticket at once; the reason is in the buffer.
pub const PWS_ERR_BEGIN_REJECTED: i32 = -6;
/// No auth session or ticket with that id.
pub const PWS_ERR_UNKNOWN: i32 = -7;

/// Everything Steam-related the plugin holds.
struct State {
    client: Client,
    /// Answers of `ValidateAuthTicketResponse`, by Steam id, until ended.
    answers: Arc<Mutex<HashMap<u64, Result<(), String>>>>,
    /// Sessions begun and not yet ended.
    sessions: HashMap<u64, ()>,
    /// Tickets handed out, by the handle we gave the caller.
    tickets: HashMap<u32, AuthTicket>,
    next_ticket: u32,
    _validate: CallbackHandle,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn state() -> MutexGuard<'static, Option<State>> {
    // A panic inside a Steam call can poison the lock; the state itself stays
    // consistent (every update is a single insert or remove).
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and turns a panic into [`PWS_ERR_PANIC`]: a panic must never
/// unwind into the caller.
fn boundary(f: impl FnOnce() -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(PWS_ERR_PANIC)
}

/// Copies `text` into the caller's buffer; see the module doc.
///
/// # Safety
/// `buf` must be NULL or valid for `cap` bytes; `len` must be NULL or valid.
unsafe fn write_text(text: &str, buf: *mut u8, cap: usize, len: *mut usize) -> i32 {
    if len.is_null() {
        return PWS_ERR_NULL;
    }
    *len = text.len();
    let n = if buf.is_null() {
        0
    } else {
        text.len().min(cap)
    };
    if n > 0 {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf, n);
    }
    if n < text.len() {
        PWS_ERR_BUFFER_TOO_SMALL
    } else {
        PWS_OK
    }
}

/// The ABI version this plugin speaks ([`PWS_ABI_VERSION`]).
#[no_mangle]
pub extern "C" fn pws_abi_version() -> u32 {
    PWS_ABI_VERSION
}

/// Starts Steam for this process.
///
/// `app_id` 0 leaves the app id to Steam (the game was started by Steam, or
/// `steam_appid.txt` names it); otherwise it is set as `SteamAppId` unless
/// that is set already (DRL Simulator is 641780). Calling again after a success is a no-op returning
/// [`PWS_OK`]. On failure returns [`PWS_ERR_INIT_FAILED`] and writes Steam's
/// reason into `msg` (`msg` may be NULL with `msg_cap` 0; `msg_len` may be
/// NULL). May block for as long as Steam's own init does: not for the game
/// thread.
///
/// # Safety
/// `msg` must be NULL or valid for `msg_cap` bytes; `msg_len` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pws_init(
    app_id: u32,
    msg: *mut u8,
    msg_cap: usize,
    msg_len: *mut usize,
) -> i32 {
    boundary(|| {
        let mut guard = state();
        if guard.is_some() {
            return PWS_OK;
        }
        // A game started by Steam has SteamAppId set already; only set it
        // (process-wide, racy against other threads reading the
        // environment) when it is missing.
        let client = if app_id == 0 || std::env::var_os("SteamAppId").is_some() {
            Client::init()
        } else {
            Client::init_app(app_id)
        };
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                let why = match &e {
                    steamworks::SteamAPIInitError::FailedGeneric(m)
                    | steamworks::SteamAPIInitError::NoSteamClient(m)
                    | steamworks::SteamAPIInitError::VersionMismatch(m)
                        if !m.is_empty() =>
                    {
                        format!("{e}: {m}")
                    }
                    _ => e.to_string(),
                };
                if !msg_len.is_null() {
                    write_text(&why, msg, msg_cap, msg_len);
                }
                return PWS_ERR_INIT_FAILED;
            }
        };
        let answers: Arc<Mutex<HashMap<u64, Result<(), String>>>> = Arc::default();
        let sink = answers.clone();
        let validate = client.register_callback(move |v: ValidateAuthTicketResponse| {
            let answer = v.response.map_err(|e| e.to_string());
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(v.steam_id.raw(), answer);
        });
        *guard = Some(State {
            client,
            answers,
            sessions: HashMap::new(),
            tickets: HashMap::new(),
            next_ticket: 1,
            _validate: validate,
        });
        PWS_OK
    })
}

/// The local user's 64-bit Steam id, or 0 before a successful `pws_init`.
#[no_mangle]
pub extern "C" fn pws_steam_id() -> u64 {
    catch_unwind(|| {
        state()
            .as_ref()
            .map(|s| s.client.user().steam_id().raw())
            .unwrap_or(0)
    })
    .unwrap_or(0)
}

/// The local user's persona (display) name, UTF-8, into `buf`.
///
/// # Safety
/// `buf` must be NULL or valid for `cap` bytes; `len` must be valid.
#[no_mangle]
pub unsafe extern "C" fn pws_persona_name(buf: *mut u8, cap: usize, len: *mut usize) -> i32 {
    boundary(|| {
        let guard = state();
        let Some(s) = guard.as_ref() else {
            return PWS_ERR_NOT_INITIALIZED;
        };
        let name = s.client.friends().name();
        write_text(&name, buf, cap, len)
    })
}

/// Makes an auth session ticket for the host `for_steam_id` (0: for any
/// receiver; naming the host stops it from replaying the ticket elsewhere).
/// Writes the ticket into `buf` and our handle for it into `*handle`; the
/// caller cancels it with `pws_cancel_ticket` when it leaves the room.
/// On [`PWS_ERR_BUFFER_TOO_SMALL`] the ticket was cancelled already.
///
/// # Safety
/// `buf` valid for `cap` bytes, `len` and `handle` valid.
#[no_mangle]
pub unsafe extern "C" fn pws_auth_ticket(
    for_steam_id: u64,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
    handle: *mut u32,
) -> i32 {
    boundary(|| {
        if buf.is_null() || len.is_null() || handle.is_null() {
            return PWS_ERR_NULL;
        }
        let mut guard = state();
        let Some(s) = guard.as_mut() else {
            return PWS_ERR_NOT_INITIALIZED;
        };
        let identity = if for_steam_id == 0 {
            NetworkingIdentity::new()
        } else {
            NetworkingIdentity::new_steam_id(SteamId::from_raw(for_steam_id))
        };
        let user = s.client.user();
        let (ticket, bytes) = user.authentication_session_ticket(identity);
        *len = bytes.len();
        if bytes.len() > cap {
            user.cancel_authentication_ticket(ticket);
            return PWS_ERR_BUFFER_TOO_SMALL;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        let id = s.next_ticket;
        s.next_ticket = s.next_ticket.wrapping_add(1).max(1);
        s.tickets.insert(id, ticket);
        *handle = id;
        PWS_OK
    })
}

/// Cancels a ticket from `pws_auth_ticket` (we left the room).
#[no_mangle]
pub extern "C" fn pws_cancel_ticket(handle: u32) -> i32 {
    boundary(|| {
        let mut guard = state();
        let Some(s) = guard.as_mut() else {
            return PWS_ERR_NOT_INITIALIZED;
        };
        match s.tickets.remove(&handle) {
            Some(t) => {
                s.client.user().cancel_authentication_ticket(t);
                PWS_OK
            }
            None => PWS_ERR_UNKNOWN,
        }
    })
}

/// Host side: starts checking `ticket` (`len` bytes) against `steam_id`
/// (`BeginAuthSession`). Returns [`PWS_OK`] when Steam took it (the answer
/// comes through `pws_poll_auth`), or [`PWS_ERR_BEGIN_REJECTED`] with
/// Steam's reason in `msg` when the ticket is refused outright, including a
/// ticket that belongs to another Steam id than `steam_id`.
///
/// # Safety
/// `ticket` valid for `len` bytes; `msg` NULL or valid for `msg_cap`;
/// `msg_len` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pws_begin_auth(
    steam_id: u64,
    ticket: *const u8,
    len: usize,
    msg: *mut u8,
    msg_cap: usize,
    msg_len: *mut usize,
) -> i32 {
    boundary(|| {
        if ticket.is_null() {
            return PWS_ERR_NULL;
        }
        let mut guard = state();
        let Some(s) = guard.as_mut() else {
            return PWS_ERR_NOT_INITIALIZED;
        };
        let bytes = std::slice::from_raw_parts(ticket, len);
        s.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&steam_id);
        match s
            .client
            .user()
            .begin_authentication_session(SteamId::from_raw(steam_id), bytes)
        {
            Ok(()) => {
                s.sessions.insert(steam_id, ());
                PWS_OK
            }
            Err(e) => {
                if !msg_len.is_null() {
                    write_text(&e.to_string(), msg, msg_cap, msg_len);
                }
                PWS_ERR_BEGIN_REJECTED
            }
        }
    })
}

/// Host side: dispatches Steam's pending callbacks, then tells how the check
/// of `steam_id` stands: [`PWS_PENDING`], [`PWS_OK`], or [`PWS_DENIED`] with
/// the reason in `msg`; [`PWS_ERR_UNKNOWN`] when no session was begun.
///
/// Dispatching callbacks may stall if the Steam client dies under us (a known
/// steam_api behaviour): call it from the network thread, never the game's.
///
/// # Safety
/// `msg` NULL or valid for `msg_cap`; `msg_len` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn pws_poll_auth(
    steam_id: u64,
    msg: *mut u8,
    msg_cap: usize,
    msg_len: *mut usize,
) -> i32 {
    boundary(|| {
        let guard = state();
        let Some(s) = guard.as_ref() else {
            return PWS_ERR_NOT_INITIALIZED;
        };
        if !s.sessions.contains_key(&steam_id) {
            return PWS_ERR_UNKNOWN;
        }
        s.client.run_callbacks();
        let answers = s.answers.lock().unwrap_or_else(|e| e.into_inner());
        match answers.get(&steam_id) {
            None => PWS_PENDING,
            Some(Ok(())) => PWS_OK,
            Some(Err(why)) => {
                if !msg_len.is_null() {
                    write_text(why, msg, msg_cap, msg_len);
                }
                PWS_DENIED
            }
        }
    })
}

/// Host side: ends the auth session of `steam_id` (they left, or were
/// refused). Harmless for an id without a session.
#[no_mangle]
pub extern "C" fn pws_end_auth(steam_id: u64) -> i32 {
    boundary(|| {
        let mut guard = state();
        let Some(s) = guard.as_mut() else {
            return PWS_ERR_NOT_INITIALIZED;
        };
        s.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&steam_id);
        if s.sessions.remove(&steam_id).is_some() {
            s.client
                .user()
                .end_authentication_session(SteamId::from_raw(steam_id));
        }
        PWS_OK
    })
}

/// Whether the logged-in Steam account owns (is subscribed to) `app_id`
/// (`ISteamApps::BIsSubscribedApp`): writes 1 or 0 into `*owned`. A quick
/// local call into the Steam client.
///
/// Added after ABI version 1 without changing it: a loader that finds no
/// `pws_is_subscribed_app` in an older plugin treats ownership as unknown.
///
/// # Safety
/// `owned` must be NULL or valid for writing one byte.
#[no_mangle]
pub unsafe extern "C" fn pws_is_subscribed_app(app_id: u32, owned: *mut u8) -> i32 {
    boundary(|| {
        if owned.is_null() {
            return PWS_ERR_NULL;
        }
        let guard = state();
        let Some(s) = guard.as_ref() else {
            return PWS_ERR_NOT_INITIALIZED;
        };
        let yes = s.client.apps().is_subscribed_app(steamworks::AppId(app_id));
        *owned = u8::from(yes);
        PWS_OK
    })
}

/// Cancels every ticket, ends every session and releases Steam
/// (`SteamAPI_Shutdown`). Harmless when not initialised.
#[no_mangle]
pub extern "C" fn pws_shutdown() -> i32 {
    boundary(|| {
        let taken = state().take();
        if let Some(s) = taken {
            let user = s.client.user();
            for (_, t) in s.tickets {
                user.cancel_authentication_ticket(t);
            }
            for (id, ()) in s.sessions {
                user.end_authentication_session(SteamId::from_raw(id));
            }
            // Dropping the last client handle calls SteamAPI_Shutdown.
        }
        PWS_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_before_init_report_not_initialized() {
        let mut buf = [0u8; 16];
        let mut len = 0usize;
        let mut handle = 0u32;
        assert_eq!(pws_steam_id(), 0);
        unsafe {
            assert_eq!(
                pws_persona_name(buf.as_mut_ptr(), buf.len(), &mut len),
                PWS_ERR_NOT_INITIALIZED
            );
            assert_eq!(
                pws_auth_ticket(0, buf.as_mut_ptr(), buf.len(), &mut len, &mut handle),
                PWS_ERR_NOT_INITIALIZED
            );
        }
        assert_eq!(pws_end_auth(7), PWS_ERR_NOT_INITIALIZED);
        let mut owned = 7u8;
        assert_eq!(
            unsafe { pws_is_subscribed_app(641_780, &mut owned) },
            PWS_ERR_NOT_INITIALIZED
        );
        assert_eq!(owned, 7, "nothing written before init");
        assert_eq!(
            unsafe { pws_is_subscribed_app(641_780, std::ptr::null_mut()) },
            PWS_ERR_NULL
        );
        assert_eq!(pws_shutdown(), PWS_OK);
    }

    #[test]
    fn text_is_cut_at_the_buffer_and_the_full_length_reported() {
        let mut buf = [0u8; 4];
        let mut len = 0usize;
        let r = unsafe { write_text("propwash", buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(r, PWS_ERR_BUFFER_TOO_SMALL);
        assert_eq!(len, 8);
        assert_eq!(&buf, b"prop");
    }
}
