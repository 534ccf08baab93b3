//! The lobby through the C ABI: browsing the list (`PwLobby`), what a
//! session's lobby side reports, and changing a listed room's text.
//!
//! Listing a room and joining a listed one are options of
//! `pw_session_host` / `pw_session_join` (`coordinator_addr`,
//! `listing_json`, `session_id`); everything the lobby says comes back as
//! one JSON object per poll, so new kinds of report never change a struct.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;

use super::arg::{self, out_slice, PwStr};
use super::options::parse_addr;
use super::result::{Error, PwResult};
use super::session::{shell, PwSession};
use crate::lobby::record::{ListPage, SessionRecord, MAX_PAGE};
use crate::lobby::wire::PeerRole;
use crate::lobby::{
    HostProfile, JoinFailure, ListQuery, Listing, LobbyConfig, LobbyEvent, Path, RoomInfo,
    RoomSettings,
};
use crate::runtime::LobbyBrowser;

/// A live lobby browser: "pwlobby!".
const LIVE: u64 = 0x7077_6c6f_6262_7921;
/// A freed one (a tombstone).
const DEAD: u64 = 0xdead_dead_6c6f_dead;

/// A lobby browser: its own socket and thread asking a coordinator for
/// pages of rooms. Opaque: created by `pw_lobby_open`, released with
/// `pw_lobby_free`. Like a session, a freed handle keeps a small shell so
/// later calls with it return `PW_RESULT_INVALID_HANDLE`.
pub struct PwLobby {
    magic: AtomicU64,
    inner: Mutex<Option<Box<LiveLobby>>>,
}

struct LiveLobby {
    browser: LobbyBrowser,
    /// An answer that did not fit the caller's buffer, kept for the next poll.
    pending: Option<Vec<u8>>,
}

/// The part of a listing the game chooses, as `listing_json` carries it:
/// `{"room": {...}, "settings": {...}, "host": {...}}` (`host` optional:
/// filled from the identity when missing). Seats, occupancy, versions and
/// whether there is a password come from the session's own options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListingText {
    room: RoomInfo,
    #[serde(default)]
    settings: RoomSettings,
    #[serde(default)]
    host: Option<HostProfile>,
}

/// Reads `listing_json` into a listing whose host profile defaults to
/// `fallback`. The error names the field.
pub(crate) fn parse_listing(text: &str, fallback: HostProfile) -> Result<Listing, Error> {
    let t: ListingText = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("`listing_json` is not a valid listing: {e}")))?;
    Ok(Listing {
        host: t.host.unwrap_or(fallback),
        room: t.room,
        settings: t.settings,
        ..Listing::default()
    })
}

/// The lobby query `query_json` describes (empty: the defaults). Its
/// version filters, if any, are replaced by the browser's own.
fn parse_query(text: &str) -> Result<ListQuery, Error> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("`query_json` is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::invalid(
            "`query_json` must be empty or a JSON object",
        ));
    }
    let q: ListQuery = serde_json::from_value(value)
        .map_err(|e| Error::invalid(format!("`query_json` is not a valid query: {e}")))?;
    if !(1..=MAX_PAGE).contains(&q.limit) {
        return Err(Error::invalid(format!(
            "`query_json`: `limit` is {}; it must be 1 to {MAX_PAGE}",
            q.limit
        )));
    }
    if usize::from(q.min_free_pilots) > crate::session::MAX_PILOTS {
        return Err(Error::invalid(format!(
            "`query_json`: `min_free_pilots` is {}; it must be 0 to {}",
            q.min_free_pilots,
            crate::session::MAX_PILOTS
        )));
    }
    Ok(q)
}

fn records(sessions: &[SessionRecord]) -> serde_json::Value {
    serde_json::to_value(sessions).unwrap_or_default()
}

fn page_json(request_id: u32, page: &ListPage) -> serde_json::Value {
    json!({
        "kind": "list_result",
        "request_id": request_id,
        "offset": page.offset,
        "total": page.total,
        "sessions": records(&page.sessions),
    })
}

fn path_name(p: Path) -> &'static str {
    match p {
        Path::Direct => "direct",
        Path::Relayed => "relayed",
    }
}

fn role_name(r: PeerRole) -> &'static str {
    match r {
        PeerRole::Host => "host",
        PeerRole::Joiner => "joiner",
    }
}

fn failure_code(f: &JoinFailure) -> &'static str {
    match f {
        JoinFailure::CoordinatorUnreachable => "coordinator_unreachable",
        JoinFailure::Refused { .. } => "refused",
        JoinFailure::PunchFailed { .. } => "punch_failed",
        JoinFailure::RelayUnreachable => "relay_unreachable",
        JoinFailure::Cancelled => "cancelled",
    }
}

/// One lobby report as the JSON object the C ABI hands out.
pub(crate) fn event_json(ev: &LobbyEvent) -> Vec<u8> {
    let v = match ev {
        LobbyEvent::Registered {
            session_id,
            public_addr,
        } => json!({
            "kind": "registered",
            "session_id": session_id.to_string(),
            "public_addr": public_addr.to_string(),
        }),
        LobbyEvent::HostingFailed { code, message } => json!({
            "kind": "hosting_failed", "code": format!("{code:?}"), "message": message,
        }),
        LobbyEvent::UpdateRefused { code, message } => json!({
            "kind": "update_refused", "code": format!("{code:?}"), "message": message,
        }),
        LobbyEvent::CoordinatorUnreachable => json!({
            "kind": "coordinator_unreachable",
            "message": "the coordinator stopped answering; still trying",
        }),
        LobbyEvent::ListResult { request_id, page } => page_json(*request_id, page),
        LobbyEvent::ListFailed { request_id, reason } => json!({
            "kind": "list_failed", "request_id": request_id, "message": reason,
        }),
        LobbyEvent::Introduced {
            session_id,
            peer,
            role,
        } => json!({
            "kind": "introduced",
            "session_id": session_id.to_string(),
            "peer": peer.to_string(),
            "role": role_name(*role),
        }),
        LobbyEvent::Connected {
            session_id,
            peer,
            path,
            role,
        } => json!({
            "kind": "connected",
            "session_id": session_id.to_string(),
            "peer": peer.to_string(),
            "path": path_name(*path),
            "role": role_name(*role),
        }),
        LobbyEvent::JoinFailed { session_id, reason } => json!({
            "kind": "join_failed",
            "session_id": session_id.to_string(),
            "code": failure_code(reason),
            "message": reason.to_string(),
        }),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Hands `next` (or the answer kept from a call whose buffer was too
/// small) to the caller; keeps it when it does not fit.
///
/// # Safety
/// `buf`, `cap` and `out_len` as the `(buf, cap, out_len)` convention says.
unsafe fn hand_out(
    pending: &mut Option<Vec<u8>>,
    next: impl FnOnce() -> Option<Vec<u8>>,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> Result<(), Error> {
    let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
    let json = match pending.take().or_else(next) {
        Some(j) => j,
        None => return Err(Error::empty()),
    };
    if json.len() > out.cap() {
        // SAFETY: forwarded to the caller.
        let e = unsafe { out.refuse(json.len()) };
        *pending = Some(json);
        return Err(e);
    }
    // SAFETY: forwarded to the caller.
    unsafe { out.write(&json) }
}

/// Opens a lobby browser for the coordinator at `coordinator_addr`
/// (`ip:port`) showing rooms of `game_version` only (and of this library's
/// protocol: incompatible rooms are never shown).
///
/// On `PW_RESULT_OK` `*out` receives a handle the caller owns and must
/// release with `pw_lobby_free`. Fails with `PW_RESULT_ADDRESS_INVALID`,
/// `PW_RESULT_INVALID_ARGUMENT` (empty `game_version`),
/// `PW_RESULT_BIND_FAILED`, or `PW_RESULT_THREAD_FAILED` (the browser's
/// thread could not be started). Any thread; does not block (binds a socket and
/// starts a thread).
///
/// # Safety
/// The strings must be valid as `PwStr` describes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_lobby_open(
    coordinator_addr: PwStr,
    game_version: PwStr,
    out: *mut *mut PwLobby,
) -> PwResult {
    ffi_boundary!({
        let out = arg::out(out, "out")?;
        // SAFETY (both): valid as `PwStr` describes (caller).
        let coordinator = unsafe { arg::string(coordinator_addr, "coordinator_addr") }?;
        let game = unsafe { arg::string(game_version, "game_version") }?;
        let coordinator = parse_addr("coordinator_addr", coordinator)?;
        if game.is_empty() {
            return Err(Error::invalid("`game_version` is empty"));
        }
        super::log::install();
        let bind = match coordinator {
            std::net::SocketAddr::V4(_) => std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            std::net::SocketAddr::V6(_) => std::net::SocketAddr::from(([0u16; 8], 0)),
        };
        let browser =
            LobbyBrowser::open(bind, LobbyConfig::new(coordinator, game)).map_err(|e| {
                if crate::runtime::is_thread_failure(&e) {
                    Error::new(PwResult::ThreadFailed, e.to_string())
                } else {
                    Error::new(
                        PwResult::BindFailed,
                        format!("could not open a UDP socket: {e}"),
                    )
                }
            })?;
        let handle = Box::into_raw(Box::new(PwLobby {
            magic: AtomicU64::new(LIVE),
            inner: Mutex::new(Some(Box::new(LiveLobby {
                browser,
                pending: None,
            }))),
        }));
        // SAFETY: `out` is writable (caller).
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Checks a lobby handle and runs `f` on it (`PW_RESULT_BUSY` when another
/// thread is inside a call on it; never waits).
///
/// # Safety
/// `ptr` must be NULL or a handle from `pw_lobby_open` (freed or not).
unsafe fn with_lobby<R>(
    ptr: *mut PwLobby,
    f: impl FnOnce(&mut LiveLobby) -> Result<R, Error>,
) -> Result<R, Error> {
    let shell = arg::input(ptr.cast_const(), "lobby")?;
    // SAFETY: shells are never deallocated (caller passes one of ours).
    let shell = unsafe { shell.as_ref() };
    match shell.magic.load(Ordering::Acquire) {
        LIVE => {}
        DEAD => {
            return Err(Error::new(
                PwResult::InvalidHandle,
                "the lobby handle was freed with pw_lobby_free",
            ))
        }
        _ => {
            return Err(Error::new(
                PwResult::InvalidHandle,
                "not a lobby handle (wrong magic number)",
            ))
        }
    }
    let mut guard = shell.inner.try_lock().ok_or_else(|| {
        Error::new(
            PwResult::Busy,
            "another thread is inside a call on this lobby handle",
        )
    })?;
    let live = guard.as_deref_mut().ok_or_else(|| {
        Error::new(
            PwResult::InvalidHandle,
            "the lobby handle was freed with pw_lobby_free",
        )
    })?;
    f(live)
}

/// Asks for a page of rooms. `query_json` is empty or an object with any of
/// `mode`, `map_id` (strings), `min_free_pilots` (0-6), `has_password`
/// (bool), `offset`, `limit` (1-50, default 20); unknown keys are refused,
/// and only rooms of the browser's game version and protocol are shown
/// whatever the query says.
/// `*out_request_id` receives the id the answer will carry. The answer
/// comes from `pw_lobby_poll`:
/// `{"kind":"list_result","request_id":1,"offset":0,"total":3,"sessions":[...]}`
/// with each session as `GET /api/sessions` shows it, or
/// `{"kind":"list_failed","request_id":1,"message":"..."}`.
///
/// Fails with `PW_RESULT_INVALID_ARGUMENT` (bad query) or
/// `PW_RESULT_QUEUE_FULL` (64 queries waiting). Any thread; never blocks.
///
/// # Safety
/// `lobby` NULL or a handle from `pw_lobby_open`; `query_json` valid as
/// `PwStr` describes; `out_request_id` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_lobby_list(
    lobby: *mut PwLobby,
    query_json: PwStr,
    out_request_id: *mut u32,
) -> PwResult {
    ffi_boundary!({
        let out = arg::out(out_request_id, "out_request_id")?;
        // SAFETY: valid as `PwStr` describes (caller).
        let text = unsafe { arg::string(query_json, "query_json") }?;
        let query = parse_query(text)?;
        // SAFETY: `lobby` is NULL or ours (caller).
        let id = unsafe { with_lobby(lobby, |l| l.browser.list(query).map_err(Error::from)) }?;
        // SAFETY: `out` is writable (caller).
        unsafe { out.write(id) };
        Ok(())
    })
}

/// Takes the next answer of the browser as JSON (see `pw_lobby_list`) into
/// `buf`, its length into `*out_len`; `PW_RESULT_EMPTY` when none waits.
/// On `PW_RESULT_BUFFER_TOO_SMALL` the answer is kept and `*out_len` is the
/// size needed. Game thread; never blocks.
///
/// # Safety
/// `lobby` NULL or a handle from `pw_lobby_open`; `buf` NULL or writable
/// for `cap` bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_lobby_poll(
    lobby: *mut PwLobby,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `lobby` is NULL or ours; the buffer as the caller promises.
        unsafe {
            with_lobby(lobby, |l| {
                let browser = &l.browser;
                hand_out(
                    &mut l.pending,
                    || browser.poll().map(|ev| event_json(&ev)),
                    buf,
                    cap,
                    out_len,
                )
            })
        }
    })
}

/// Closes the browser (its thread and socket end within about 5 ms, on
/// their own) and releases the handle. NULL is fine (nothing happens).
/// Freeing a handle twice is detected and ignored (the last error says
/// so); later calls with it return `PW_RESULT_INVALID_HANDLE`. Any thread;
/// if another thread is inside a call on the handle at that moment, it
/// waits for that call (which never blocks) to return, then frees.
///
/// # Safety
/// `lobby` must be NULL or a handle from `pw_lobby_open` (freed or not).
#[no_mangle]
pub unsafe extern "C" fn pw_lobby_free(lobby: *mut PwLobby) {
    let _ = ffi_boundary!({
        if lobby.is_null() {
            return Ok(());
        }
        let shell = arg::input(lobby.cast_const(), "lobby")?;
        // SAFETY: shells are never deallocated (caller passes one of ours).
        let shell = unsafe { shell.as_ref() };
        if let Err(e) =
            shell
                .magic
                .compare_exchange(LIVE, DEAD, Ordering::AcqRel, Ordering::Acquire)
        {
            return Err(Error::new(
                PwResult::InvalidHandle,
                if e == DEAD {
                    "pw_lobby_free: the handle was already freed"
                } else {
                    "pw_lobby_free: not a lobby handle (wrong magic number)"
                },
            ));
        }
        // Only a call already past its magic check can hold the lock, and
        // calls never block: this waits microseconds at most.
        drop(shell.inner.lock().take());
        Ok(())
    });
}

/// Takes the next report of a session's lobby side as JSON into `buf`
/// (`PW_RESULT_EMPTY` when none waits; always empty for a session without
/// a coordinator). The kinds: `registered` (`session_id`, `public_addr`),
/// `hosting_failed` / `update_refused` (`code`, `message`),
/// `coordinator_unreachable`, `introduced` and `connected` (`session_id`,
/// `peer`, `role`; `connected` also `path`: `direct` or `relayed`), and
/// `join_failed` (`session_id`, `code`: `coordinator_unreachable`,
/// `refused`, `punch_failed`, `relay_unreachable` or `cancelled`, and a
/// `message` for the player). On `PW_RESULT_BUFFER_TOO_SMALL` the report is
/// kept and `*out_len` is the size needed. Game thread; never blocks.
///
/// # Safety
/// `session` NULL or a handle from this library; `buf` NULL or writable
/// for `cap` bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_poll_lobby_event(
    session: *mut PwSession,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let session = &mut live.session;
            // SAFETY: the buffer as the caller promises.
            unsafe {
                hand_out(
                    &mut live.pending_lobby,
                    || session.poll_lobby_event().map(|ev| event_json(&ev)),
                    buf,
                    cap,
                    out_len,
                )
            }
        })
    })
}

/// Host of a listed room: replaces the game's part of its listing
/// (`listing_json` as in `PwHostOptions`). Seats, occupancy and versions
/// stay the room's. Fails with `PW_RESULT_NOT_HOST`,
/// `PW_RESULT_INVALID_ARGUMENT` (the message names the field); a room
/// that is not listed is reported later by `pw_session_poll_event` (an
/// event of kind `PW_EVENT_KIND_REQUEST_FAILED` with the reason), a
/// refusal by the coordinator as an `update_refused` lobby report (see
/// `pw_session_poll_lobby_event`). Game
/// thread (on a change, not every frame); never blocks.
///
/// # Safety
/// `session` NULL or a handle from this library; `listing_json` valid as
/// `PwStr` describes.
#[no_mangle]
pub unsafe extern "C" fn pw_session_update_listing(
    session: *mut PwSession,
    listing_json: PwStr,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            // SAFETY: valid as `PwStr` describes (caller).
            let text = unsafe { arg::string(listing_json, "listing_json") }?;
            if !live.session.is_host() {
                return Err(Error::new(PwResult::NotHost, "only the host lists a room"));
            }
            let listing = parse_listing(text, live.host_profile.clone())?;
            live.session.update_listing(listing).map_err(Error::from)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_text_takes_room_and_settings_and_refuses_strangers() {
        let l = parse_listing(
            r#"{"room":{"name":"R","map_id":"M","track_id":"","is_custom_track":false,"mode":"race"},
                "settings":{"laps":3,"physics":"drl","allow_track_download":true}}"#,
            HostProfile {
                player_name: "H".into(),
                ..HostProfile::default()
            },
        )
        .unwrap();
        assert_eq!((l.room.name.as_str(), l.settings.laps), ("R", 3));
        assert_eq!(l.host.player_name, "H");
        let e = parse_listing(r#"{"room":{"name":"R","map_id":"","track_id":"","is_custom_track":false,"mode":"race"},"password":"x"}"#, HostProfile::default()).unwrap_err();
        assert_eq!(e.code(), PwResult::InvalidArgument);
        assert!(parse_listing("not json", HostProfile::default()).is_err());
    }

    #[test]
    fn queries_default_when_empty_and_refuse_unknown_keys() {
        let q = parse_query("").unwrap();
        assert_eq!(q.limit, ListQuery::default().limit);
        let q = parse_query(r#"{"mode":"race","min_free_pilots":2,"limit":5}"#).unwrap();
        assert_eq!(
            (q.mode.as_deref(), q.min_free_pilots, q.limit),
            (Some("race"), 2, 5)
        );
        assert!(parse_query(r#"{"password":"x"}"#).is_err());
        for bad in [
            r#"{"limit":0}"#,
            r#"{"limit":51}"#,
            r#"{"limit":4000000000}"#,
            r#"{"min_free_pilots":7}"#,
            "[]",
        ] {
            let e = parse_query(bad).unwrap_err();
            assert_eq!(e.code(), PwResult::InvalidArgument, "{bad}");
        }
        assert_eq!(parse_query(r#"{"limit":50}"#).unwrap().limit, 50);
        assert!(parse_query(r#"{"limit":"many"}"#).is_err());
    }

    #[test]
    fn every_report_is_one_json_object_with_a_kind() {
        let ev = LobbyEvent::JoinFailed {
            session_id: crate::lobby::SessionId(0xab),
            reason: JoinFailure::RelayUnreachable,
        };
        let v: serde_json::Value = serde_json::from_slice(&event_json(&ev)).unwrap();
        assert_eq!(v["kind"], "join_failed");
        assert_eq!(v["session_id"], "00000000000000ab");
        assert_eq!(v["code"], "relay_unreachable");
        assert!(v["message"].as_str().unwrap().contains("relay"));
    }
}
