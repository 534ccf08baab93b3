//! Room and player properties as text (for C callers who keep strings
//! there; the full byte-keyed calls are in `room.rs`) and the player list.
//! Sets are queued to the network thread; gets read the snapshot it last
//! published, so a set shows up in a get a few milliseconds later.

use std::collections::BTreeMap;

use super::arg::{self, out_slice, PwStr};
use super::result::{Error, PwResult};
use super::session::{shell, Live, PwSession};
use crate::proto::room::{Props, MAX_KEY_BYTES, MAX_PROPERTIES, MAX_VALUE_BYTES};
use crate::proto::PlayerInfo;
use crate::runtime::{RoomSnapshot, SessionState};

/// Longest property value, in bytes.
pub const PW_MAX_PROPERTY_BYTES: usize = 4096;
const _: () = assert!(PW_MAX_PROPERTY_BYTES == MAX_VALUE_BYTES);
/// Longest property key, in bytes.
pub const PW_MAX_KEY_BYTES: usize = 1024;
const _: () = assert!(PW_MAX_KEY_BYTES == MAX_KEY_BYTES);

type Changes = BTreeMap<String, Option<String>>;

/// Checks a set of property changes: keys of 1 to `PW_MAX_KEY_BYTES`
/// bytes, values of at most `PW_MAX_PROPERTY_BYTES`, at most 64 of them.
fn checked(changes: Changes) -> Result<Changes, Error> {
    if changes.len() > MAX_PROPERTIES {
        return Err(Error::invalid(format!(
            "{} changes in one call; at most {MAX_PROPERTIES} are allowed",
            changes.len(),
        )));
    }
    for (key, value) in &changes {
        if key.is_empty() || key.len() > PW_MAX_KEY_BYTES {
            return Err(Error::invalid(format!(
                "key must be 1 to {PW_MAX_KEY_BYTES} bytes, not {}",
                key.len()
            )));
        }
        if let Some(v) = value.as_ref().filter(|v| v.len() > PW_MAX_PROPERTY_BYTES) {
            return Err(Error::invalid(format!(
                "value of {key:?} is {} bytes; at most {PW_MAX_PROPERTY_BYTES} are allowed",
                v.len()
            )));
        }
    }
    Ok(changes)
}

/// Reads and checks one property change.
///
/// # Safety
/// `key` and `value` valid as `PwStr` describes.
unsafe fn change(key: PwStr, value: PwStr, remove: bool) -> Result<Changes, Error> {
    // SAFETY: forwarded to the caller.
    let key = unsafe { arg::string(key, "key") }?;
    let value = if remove {
        None
    } else {
        // SAFETY: forwarded to the caller.
        Some(unsafe { arg::string(value, "value") }?.to_owned())
    };
    checked(BTreeMap::from([(key.to_owned(), value)]))
}

/// Reads and checks changes given as a JSON object of key to string (set)
/// or `null` (remove).
///
/// # Safety
/// `json` valid as `PwStr` describes.
unsafe fn parse_changes(json: PwStr) -> Result<Changes, Error> {
    // SAFETY: forwarded to the caller.
    let text = unsafe { arg::string(json, "changes_json") }?;
    let changes: Changes = serde_json::from_str(text).map_err(|e| {
        Error::invalid(format!(
            "`changes_json` must be an object of key to string or null: {e}"
        ))
    })?;
    checked(changes)
}

/// Bytes for a person: the text when it is UTF-8 without control
/// characters, else `0x` and hex.
fn readable(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_owned(),
        _ => format!("0x{}", crate::proto::room::hex_props::encode(b)),
    }
}

fn readable_props(props: &Props) -> BTreeMap<String, String> {
    props
        .iter()
        .map(|(k, v)| (readable(k), readable(v)))
        .collect()
}

/// A player as `pw_session_players_json` shows them.
#[derive(serde::Serialize)]
struct PlayerJson {
    actor: u32,
    role: crate::proto::Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    seat: Option<u8>,
    name: String,
    player_id: String,
    props: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steam_id: Option<String>,
    verified: bool,
}

impl From<&PlayerInfo> for PlayerJson {
    fn from(p: &PlayerInfo) -> Self {
        PlayerJson {
            actor: p.actor,
            role: p.role,
            seat: p.seat,
            name: p.name.clone(),
            player_id: p.player_id.clone(),
            props: readable_props(&p.props),
            steam_id: p.steam_id.clone(),
            verified: p.verified,
        }
    }
}

/// Writes `part` of the room the network thread last published, as JSON,
/// into the caller's buffer; `what` names it in the error.
///
/// # Safety
/// `buf`, `cap` and `out_len` as the `(buf, cap, out_len)` convention says.
unsafe fn snapshot_json<T: serde::Serialize>(
    live: &mut Live,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
    what: &str,
    part: impl FnOnce(&RoomSnapshot) -> T,
) -> Result<(), Error> {
    let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
    let snap = live.session.snapshot();
    let json = serde_json::to_vec(&part(&snap))
        .map_err(|e| Error::new(PwResult::Panic, format!("could not encode {what}: {e}")))?;
    // SAFETY: forwarded to the caller.
    unsafe { out.write(&json) }
}

/// Queues `changes` to the room (any player may, as in Photon).
fn set_room(live: &mut Live, changes: Changes) -> Result<(), Error> {
    not_closed(live)?;
    live.session.set_room_props(changes).map_err(Error::from)
}

/// Queues `changes` to our own player properties.
fn set_player(live: &mut Live, changes: Changes) -> Result<(), Error> {
    not_closed(live)?;
    live.session.set_player_props(changes).map_err(Error::from)
}

fn not_closed(live: &mut Live) -> Result<(), Error> {
    if matches!(live.session.snapshot().state, SessionState::Closed(_)) {
        return Err(Error::new(PwResult::Closed, "the session is closed"));
    }
    Ok(())
}

/// Sets (or, with `remove`, deletes) a room property given as text (any
/// player may, as in Photon). Every player receives
/// `PW_EVENT_KIND_PROPERTIES_CHANGED`, the setter included.
///
/// `key` must be 1 to `PW_MAX_KEY_BYTES` bytes of UTF-8, `value` at most
/// `PW_MAX_PROPERTY_BYTES` (ignored when `remove` is true). Both are
/// copied during the call. A room holds at most 64 properties and 16 KiB;
/// a change beyond that is refused on the network thread and reported as
/// `PW_EVENT_KIND_PROPERTIES_REFUSED` (request 0). `session` must not be
/// NULL. Game thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `key` and `value`
/// valid as `PwStr` describes.
#[no_mangle]
pub unsafe extern "C" fn pw_session_set_room_property(
    session: *mut PwSession,
    key: PwStr,
    value: PwStr,
    remove: bool,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            // SAFETY: `key` and `value` are valid as `PwStr` describes (caller).
            let changes = unsafe { change(key, value, remove) }?;
            set_room(live, changes)
        })
    })
}

/// Changes several room properties at once: `changes_json` is a JSON
/// object of key to string (set) or `null` (remove), e.g.
/// `{"map":"MP-1","laps":"3","old":null}`. Everyone receives one
/// `PW_EVENT_KIND_PROPERTIES_CHANGED` with all of them, like Photon's
/// `SetCustomProperties` with several keys. The same limits per key and
/// value as `pw_session_set_room_property`, at most 64 changes. Game
/// thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `changes_json`
/// valid as `PwStr` describes.
#[no_mangle]
pub unsafe extern "C" fn pw_session_set_room_properties_json(
    session: *mut PwSession,
    changes_json: PwStr,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            // SAFETY: `changes_json` is valid as `PwStr` describes (caller).
            let changes = unsafe { parse_changes(changes_json) }?;
            set_room(live, changes)
        })
    })
}

/// Changes several of our own player properties at once; `changes_json`
/// as in `pw_session_set_room_properties_json`. Everyone receives one
/// `PW_EVENT_KIND_PROPERTIES_CHANGED` with all of them. Game thread;
/// never blocks.
///
/// # Safety
/// As for `pw_session_set_room_properties_json`.
#[no_mangle]
pub unsafe extern "C" fn pw_session_set_player_properties_json(
    session: *mut PwSession,
    changes_json: PwStr,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            // SAFETY: `changes_json` is valid as `PwStr` describes (caller).
            let changes = unsafe { parse_changes(changes_json) }?;
            set_player(live, changes)
        })
    })
}

/// Writes every room property as one JSON object (`{"key":"value",...}`,
/// not NUL-terminated) into `buf` and its length into `*out_len`, for
/// people and logs: keys and values that are not UTF-8 text show as `0x`
/// and hex (the exact bytes come with the events).
///
/// Same buffer rules as `pw_session_players_json`. Game thread; never
/// blocks (allocates a little: call it on a change, not every frame).
///
/// # Safety
/// `session` must be NULL or a handle from this library; `buf` NULL or
/// writable for `cap` bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_room_properties_json(
    session: *mut PwSession,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        // SAFETY: `buf` and `out_len` are as the caller promises.
        shell.with(|live| unsafe {
            snapshot_json(live, buf, cap, out_len, "the room properties", |s| {
                readable_props(&s.room)
            })
        })
    })
}

/// Sets (or, with `remove`, deletes) one of our own player properties
/// given as text. Every player receives `PW_EVENT_KIND_PROPERTIES_CHANGED`,
/// us included. A client's change before it is welcomed is refused and
/// reported as `PW_EVENT_KIND_PROPERTIES_REFUSED`.
///
/// Same rules for `key` and `value` as `pw_session_set_room_property`.
/// `session` must not be NULL. Game thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `key` and `value`
/// valid as `PwStr` describes.
#[no_mangle]
pub unsafe extern "C" fn pw_session_set_player_property(
    session: *mut PwSession,
    key: PwStr,
    value: PwStr,
    remove: bool,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            // SAFETY: `key` and `value` are valid as `PwStr` describes (caller).
            let changes = unsafe { change(key, value, remove) }?;
            set_player(live, changes)
        })
    })
}

/// Writes the value of room property `key` (its bytes as set, not
/// NUL-terminated) into `buf` and its length into `*out_len`.
/// `PW_RESULT_EMPTY` if the room has no such property.
///
/// `session` and `out_len` must not be NULL; `buf` may be NULL only when
/// `cap` is 0; on `PW_RESULT_BUFFER_TOO_SMALL` `*out_len` is the length
/// needed (at most `PW_MAX_PROPERTY_BYTES`). The caller owns `buf`. Game
/// thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `key` valid as
/// `PwStr` describes; `buf` NULL or writable for `cap` bytes; `out_len`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_get_room_property(
    session: *mut PwSession,
    key: PwStr,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
            // SAFETY: `key` is valid as `PwStr` describes (caller).
            let key = unsafe { arg::bytes(key.ptr, key.len, "key") }?;
            let snap = live.session.snapshot();
            let value = snap.room.get(key).ok_or_else(Error::empty)?;
            // SAFETY: `buf` and `out_len` are writable (caller).
            unsafe { out.write(value) }
        })
    })
}

/// Writes the value of player property `key` of player `actor` (0: us)
/// into `buf` and its length into `*out_len`. `PW_RESULT_EMPTY` if that
/// player is not seated or has no such property.
///
/// Same buffer rules as `pw_session_get_room_property`. Game thread; never
/// blocks.
///
/// # Safety
/// As for `pw_session_get_room_property`.
#[no_mangle]
pub unsafe extern "C" fn pw_session_get_player_property(
    session: *mut PwSession,
    actor: u32,
    key: PwStr,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
            // SAFETY: `key` is valid as `PwStr` describes (caller).
            let key = unsafe { arg::bytes(key.ptr, key.len, "key") }?;
            let snap = live.session.snapshot();
            let actor = if actor == 0 { snap.actor } else { actor };
            let value = snap
                .players
                .iter()
                .find(|p| p.actor == actor)
                .and_then(|p| p.props.get(key))
                .ok_or_else(Error::empty)?;
            // SAFETY: `buf` and `out_len` are writable (caller).
            unsafe { out.write(value) }
        })
    })
}

/// Writes everyone in the room (us included) as a JSON array into `buf`
/// and its length into `*out_len`, for people and logs:
/// `[{"actor":1,"role":"pilot","seat":0,"name":"...","player_id":"...",
/// "props":{"key":"value"},"verified":false}]` (`steam_id` too when the
/// host verified it; properties as in `pw_session_room_properties_json`).
/// Not NUL-terminated.
///
/// `session` and `out_len` must not be NULL; `buf` may be NULL only when
/// `cap` is 0; on `PW_RESULT_BUFFER_TOO_SMALL` `*out_len` is the length
/// needed (ask with `cap` 0, then call again; the list may have grown in
/// between). The caller owns `buf`. Game thread; never blocks (allocates a
/// little: call it when membership changes, not every frame).
///
/// # Safety
/// `session` must be NULL or a handle from this library; `buf` NULL or
/// writable for `cap` bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_players_json(
    session: *mut PwSession,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        // SAFETY: `buf` and `out_len` are as the caller promises.
        shell.with(|live| unsafe {
            snapshot_json(live, buf, cap, out_len, "the player list", |s| {
                s.players.iter().map(PlayerJson::from).collect::<Vec<_>>()
            })
        })
    })
}
