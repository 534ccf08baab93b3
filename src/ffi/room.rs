//! The room's game-server side through the ABI, as a Photon client library
//! would use it (the plugin's `PhotonPeer` translator): raise events with
//! Photon's routing and caching options, change properties with
//! check-and-set, change interest groups; and the binary layouts in which
//! the room, its players and property changes come back in
//! `pw_session_poll_event`.
//!
//! Binary layouts, all integers big-endian:
//! - `props`: `u16 count`, then per entry `u16 key_len`, key, `u16
//!   value_len`, value; a `value_len` of 0xFFFF means the key was removed
//!   (no value bytes follow). Keys and values are the game's bytes.
//! - `settings`: `u8 max_players, u8 open, u8 visible, u8
//!   cleanup_cache_on_leave`.
//! - `settings_change`: `u8 mask` (1 max_players, 2 open, 4 visible, 8
//!   master), `u8 max_players, u8 open, u8 visible, u32 master`; a field
//!   whose bit is clear did not change.
//! - `str8`: `u8 len`, UTF-8.
//! - `player`: `u32 actor, u8 role` (a `PwRole`), `u8 seat` (0xFF: none),
//!   `u8 verified`, `str8 name, str8 player_id, str8 steam_id` (empty: not
//!   verified), `props`.
//! - `filter keys` (given to `pw_session_raise_event`): `u8 count`, then per
//!   entry `u8 key_len`, key, `u8 value_len`, value.

use super::arg::{self, PwStr};
use super::options::PwRole;
use super::result::{Error, PwResult};
use super::session::shell;
use super::session::PwSession;
use crate::proto::room::{
    read_changes, write_changes, write_props, ActorNr, Caching, FilterKey, GroupChange,
    PropChanges, Props, PropsChanged, Raise, Receivers, RoomSettings, SetProps, SettingsChange,
    MAX_FILTER_KEYS, MAX_TARGETS,
};
use crate::proto::wire::Reader;
use crate::proto::PlayerInfo;
use crate::session::RoomWelcome;

/// `pw_session_set_properties`' `target` meaning "our own player".
pub const PW_ACTOR_SELF: u32 = u32::MAX;
/// Most target actors one event may name.
pub const PW_MAX_TARGETS: usize = 64;
const _: () = assert!(PW_MAX_TARGETS == MAX_TARGETS);
/// `pw_session_change_groups` flag: `remove` is given (empty: every group).
pub const PW_GROUPS_REMOVE: u32 = 1;
/// `pw_session_change_groups` flag: `add` is given (empty: every group).
pub const PW_GROUPS_ADD: u32 = 2;

/// How an event is routed and cached (Photon's RaiseEventOptions and
/// SendOptions).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PwRaiseOptions {
    /// The game's event code.
    pub code: u8,
    /// Who receives it when no target actors are given: 0 others, 1 all
    /// (the sender too), 2 the master client (Photon's ReceiverGroup).
    pub receivers: u8,
    /// Photon's EventCaching: 0 do not cache, 4 add to the room's cache as
    /// the sender's, 5 add as the room's own, 6 remove matching cached
    /// events (code, 0 any; the target actors as senders; the filter keys)
    /// and deliver nothing, 7 remove the cached events of players who left.
    pub caching: u8,
    /// Interest group: 0 everyone, else only players who receive it.
    pub group: u8,
    /// Reliable and ordered; else on the per-tick lane (an event too big
    /// for one datagram goes reliable anyway). C# marshal as U1.
    pub reliable: bool,
    /// Unreliable events of one sender with the same non-zero slot replace
    /// each other while waiting to go out.
    pub slot: u32,
}

/// A change of the room's settings or master client (or, as an
/// expectation, what must still hold). Fields whose `mask` bit is clear
/// are ignored.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PwSettingsChange {
    /// 1 max_players, 2 open, 4 visible, 8 master.
    pub mask: u8,
    /// Most players (0: the room's seats).
    pub max_players: u8,
    /// Open for joins. C# marshal as U1.
    pub open: bool,
    /// Listed in the lobby. C# marshal as U1.
    pub visible: bool,
    /// The master client's actor number.
    pub master: u32,
}

impl PwSettingsChange {
    fn read(&self) -> Result<SettingsChange, Error> {
        if self.mask & !0x0f != 0 {
            return Err(Error::invalid(format!(
                "settings mask {:#x} has bits other than 0x0f",
                self.mask
            )));
        }
        if self.mask & 8 != 0 && self.master == 0 {
            return Err(Error::invalid("a master client must be a player (not 0)"));
        }
        Ok(SettingsChange {
            max_players: (self.mask & 1 != 0).then_some(self.max_players),
            open: (self.mask & 2 != 0).then_some(self.open),
            visible: (self.mask & 4 != 0).then_some(self.visible),
            master: (self.mask & 8 != 0).then_some(self.master),
        })
    }
}

/// Reads an optional settings change (NULL: none).
fn settings_arg(p: *const PwSettingsChange, name: &str) -> Result<SettingsChange, Error> {
    if p.is_null() {
        return Ok(SettingsChange::default());
    }
    let p = arg::input(p, name)?;
    // SAFETY: checked non-NULL and aligned; the caller promises it is a
    // readable PwSettingsChange. Read field by field so a bool byte that
    // is neither 0 nor 1 is never read as a bool.
    let raw = p.as_ptr();
    let change = unsafe {
        PwSettingsChange {
            mask: std::ptr::addr_of!((*raw).mask).read(),
            max_players: std::ptr::addr_of!((*raw).max_players).read(),
            open: std::ptr::addr_of!((*raw).open).cast::<u8>().read() != 0,
            visible: std::ptr::addr_of!((*raw).visible).cast::<u8>().read() != 0,
            master: std::ptr::addr_of!((*raw).master).read(),
        }
    };
    change.read()
}

/// Reads a `props` layout given by the caller.
///
/// # Safety
/// `s` valid as `PwStr` describes.
pub(crate) unsafe fn props_arg(s: PwStr, name: &str) -> Result<PropChanges, Error> {
    // SAFETY: forwarded to the caller.
    let b = unsafe { arg::bytes(s.ptr, s.len, name) }?;
    if b.is_empty() {
        return Ok(PropChanges::new());
    }
    let mut r = Reader::new(b);
    let changes = read_changes(&mut r)
        .map_err(|e| Error::invalid(format!("`{name}` is not a valid props layout: {e}")))?;
    if r.remaining() > 0 {
        return Err(Error::invalid(format!(
            "`{name}` has {} bytes after its last property",
            r.remaining()
        )));
    }
    Ok(changes)
}

/// The same, where removals make no sense (properties to start with).
///
/// # Safety
/// `s` valid as `PwStr` describes.
pub(crate) unsafe fn initial_props_arg(s: PwStr, name: &str) -> Result<Props, Error> {
    // SAFETY: forwarded to the caller.
    let changes = unsafe { props_arg(s, name) }?;
    changes
        .into_iter()
        .map(|(k, v)| {
            v.map(|v| (k, v))
                .ok_or_else(|| Error::invalid(format!("`{name}` removes a key it never had")))
        })
        .collect()
}

fn filter_keys(b: &[u8]) -> Result<Vec<FilterKey>, Error> {
    if b.is_empty() {
        return Ok(Vec::new());
    }
    let bad =
        |why: &str| Error::invalid(format!("`keys` is not a valid filter-keys layout: {why}"));
    let mut r = Reader::new(b);
    let n = usize::from(r.u8("key count").map_err(|e| bad(&e.to_string()))?);
    if n > MAX_FILTER_KEYS {
        return Err(bad(&format!("{n} keys; at most {MAX_FILTER_KEYS}")));
    }
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        let mut field = |what: &'static str| -> Result<Vec<u8>, Error> {
            let len = usize::from(r.u8(what).map_err(|e| bad(&e.to_string()))?);
            Ok(r.bytes(len, what)
                .map_err(|e| bad(&e.to_string()))?
                .to_vec())
        };
        let k = field("key")?;
        let v = field("value")?;
        keys.push((k, v));
    }
    if r.remaining() > 0 {
        return Err(bad("bytes after the last key"));
    }
    Ok(keys)
}

/// Raises a game event with Photon's routing and caching (as the room's
/// game server would deliver it): to `targets` when any are given, else
/// to the interest group `group` when it is not 0, else to
/// `options->receivers`. Receivers get `PW_EVENT_KIND_GAME_EVENT` with us
/// as `actor`; when we are among them (`receivers` all, or our own number
/// in `targets`) we get it too. Cached events are replayed, in order, to
/// every player who joins later, before anything live.
///
/// `targets` (`target_count` actor numbers, at most `PW_MAX_TARGETS`) may
/// be NULL when the count is 0; `keys` (the filter-keys layout of the
/// module docs: the content's top-level entries, so a later removal can
/// match them) may be empty; `payload` (the content as the game
/// serialized it, at most `PW_MAX_EVENT_PAYLOAD` bytes) is copied. A
/// caching option other than 0, 4, 5, 6 or 7 is `PW_RESULT_INVALID_ARGUMENT`.
/// Failures on the network thread (a full cache, not yet in a room) come
/// as `PW_EVENT_KIND_REQUEST_FAILED`. Game thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `options` must be
/// NULL or a readable `PwRaiseOptions`; `targets` must be NULL or readable
/// for `target_count` values; `keys` and `payload` as `PwStr` and
/// (pointer, length) describe.
#[no_mangle]
pub unsafe extern "C" fn pw_session_raise_event(
    session: *mut PwSession,
    options: *const PwRaiseOptions,
    targets: *const u32,
    target_count: usize,
    keys: PwStr,
    payload: *const u8,
    len: usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        let options = arg::input(options, "options")?;
        // SAFETY: checked; read field by field (the bool as a byte).
        let raw = options.as_ptr();
        let (code, receivers, caching, group, reliable, slot) = unsafe {
            (
                std::ptr::addr_of!((*raw).code).read(),
                std::ptr::addr_of!((*raw).receivers).read(),
                std::ptr::addr_of!((*raw).caching).read(),
                std::ptr::addr_of!((*raw).group).read(),
                std::ptr::addr_of!((*raw).reliable).cast::<u8>().read() != 0,
                std::ptr::addr_of!((*raw).slot).read(),
            )
        };
        let receivers = Receivers::from_u8(receivers).map_err(|_| {
            Error::invalid(format!(
                "receivers {receivers} is not 0 (others), 1 (all) or 2 (master client)"
            ))
        })?;
        let caching = Caching::from_u8(caching).map_err(|_| {
            Error::invalid(format!(
                "caching {caching} is not one this room offers (0, 4, 5, 6 or 7)"
            ))
        })?;
        if target_count > PW_MAX_TARGETS {
            return Err(Error::invalid(format!(
                "{target_count} target actors; at most {PW_MAX_TARGETS}"
            )));
        }
        let targets: Vec<ActorNr> = if target_count == 0 {
            Vec::new()
        } else {
            let t = arg::input(targets, "targets")?;
            // SAFETY: non-NULL, aligned, readable for the count (caller).
            unsafe { std::slice::from_raw_parts(t.as_ptr(), target_count) }.to_vec()
        };
        // SAFETY: `keys` valid as PwStr describes (caller).
        let keys = filter_keys(unsafe { arg::bytes(keys.ptr, keys.len, "keys") }?)?;
        if len > super::event::PW_MAX_EVENT_PAYLOAD {
            return Err(Error::new(
                PwResult::EventTooLarge,
                format!(
                    "event payload of {len} bytes exceeds the {} byte limit",
                    super::event::PW_MAX_EVENT_PAYLOAD
                ),
            ));
        }
        // SAFETY: `payload` is NULL or readable for `len` bytes (caller).
        let payload = unsafe { arg::bytes(payload, len, "payload") }?.to_vec();
        let ev = Raise {
            code,
            receivers,
            targets,
            group,
            caching,
            keys,
            reliable,
            slot,
            payload,
        };
        shell.with(|live| live.session.raise(ev).map_err(Error::from))
    })
}

/// Changes properties (Photon's SetProperties): the room's (`target` 0),
/// our own (`PW_ACTOR_SELF`) or another player's. `changes` is a `props`
/// layout (a removed value deletes the key); `settings` (room only; NULL:
/// none) changes the room's max players, open, visible or master client.
/// With `expected` (a `props` layout: keys that must still have these
/// values, a removed value meaning absent) or `expected_settings`, it is a
/// check-and-set: the host applies it only if every expectation holds,
/// and then tells everyone, us included. A plain change is applied here
/// at once and the others are told (we get our own change as an event
/// too, with us as `actor`). A refusal (limits, a failed expectation, a
/// player who left) comes as `PW_EVENT_KIND_PROPERTIES_REFUSED` with
/// `request`.
///
/// Game thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; the `PwStr`s as
/// they describe; `settings` and `expected_settings` must be NULL or
/// readable `PwSettingsChange`s.
#[no_mangle]
pub unsafe extern "C" fn pw_session_set_properties(
    session: *mut PwSession,
    request: u32,
    target: u32,
    changes: PwStr,
    settings: *const PwSettingsChange,
    expected: PwStr,
    expected_settings: *const PwSettingsChange,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        // SAFETY: forwarded to the caller.
        let changes = unsafe { props_arg(changes, "changes") }?;
        // SAFETY: forwarded to the caller.
        let expected = unsafe { props_arg(expected, "expected") }?;
        let settings = settings_arg(settings, "settings")?;
        let expected_settings = settings_arg(expected_settings, "expected_settings")?;
        if target != 0 && !(settings.is_empty() && expected_settings.is_empty()) {
            return Err(Error::invalid(
                "room settings belong to the room (target 0), not a player",
            ));
        }
        let req = SetProps {
            request,
            target: if target == PW_ACTOR_SELF { 0 } else { target },
            settings,
            changes,
            expected_settings,
            expected,
        };
        shell.with(|live| {
            if target == PW_ACTOR_SELF {
                live.session.set_my_props(req)
            } else {
                live.session.set_props(req)
            }
            .map_err(Error::from)
        })
    })
}

/// Changes the interest groups we receive (Photon's ChangeGroups): with
/// `PW_GROUPS_REMOVE` in `flags`, leaves the `n_remove` groups at `remove`
/// (none given: every group); with `PW_GROUPS_ADD`, joins the `n_add` at
/// `add` (none given: every group 1 to 255). Group 0 always reaches
/// everyone. Game thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `remove` and
/// `add` must be NULL or readable for their counts.
#[no_mangle]
pub unsafe extern "C" fn pw_session_change_groups(
    session: *mut PwSession,
    flags: u32,
    remove: *const u8,
    n_remove: usize,
    add: *const u8,
    n_add: usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        if flags & !(PW_GROUPS_REMOVE | PW_GROUPS_ADD) != 0 {
            return Err(Error::invalid(format!(
                "flags {flags:#x} are not PW_GROUPS_*"
            )));
        }
        if n_remove > 255 || n_add > 255 {
            return Err(Error::invalid("at most 255 groups per list"));
        }
        // SAFETY: NULL or readable for the counts (caller).
        let remove = unsafe { arg::bytes(remove, n_remove, "remove") }?;
        // SAFETY: as above.
        let add = unsafe { arg::bytes(add, n_add, "add") }?;
        let change = GroupChange {
            remove: (flags & PW_GROUPS_REMOVE != 0).then(|| remove.to_vec()),
            add: (flags & PW_GROUPS_ADD != 0).then(|| add.to_vec()),
        };
        shell.with(|live| live.session.change_groups(change).map_err(Error::from))
    })
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push(end as u8);
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// The `player` layout.
pub(crate) fn player_data(out: &mut Vec<u8>, p: &PlayerInfo) {
    out.extend_from_slice(&p.actor.to_be_bytes());
    out.push(PwRole::from(p.role) as u8);
    out.push(p.seat.unwrap_or(0xff));
    out.push(u8::from(p.verified));
    put_str8(out, &p.name);
    put_str8(out, &p.player_id);
    put_str8(out, p.steam_id.as_deref().unwrap_or(""));
    write_props(out, &p.props);
}

fn settings_data(out: &mut Vec<u8>, s: &RoomSettings) {
    out.push(s.max_players);
    out.push(u8::from(s.open));
    out.push(u8::from(s.visible));
    out.push(u8::from(s.cleanup_cache_on_leave));
}

/// WELCOMED's data: `u32 actor, u32 master, settings, props` (the room's),
/// `u16 count`, then each `player`.
pub(crate) fn welcome_data(actor: ActorNr, w: &RoomWelcome) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&actor.to_be_bytes());
    out.extend_from_slice(&w.master.to_be_bytes());
    settings_data(&mut out, &w.settings);
    write_props(&mut out, &w.props);
    out.extend_from_slice(&(w.players.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    for p in &w.players {
        player_data(&mut out, p);
    }
    out
}

/// PROPERTIES_CHANGED's data: `settings_change, props`.
pub(crate) fn changed_data(ch: &PropsChanged) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let s = &ch.settings;
    let mask = u8::from(s.max_players.is_some())
        | u8::from(s.open.is_some()) << 1
        | u8::from(s.visible.is_some()) << 2
        | u8::from(s.master.is_some()) << 3;
    out.push(mask);
    out.push(s.max_players.unwrap_or(0));
    out.push(u8::from(s.open.unwrap_or(false)));
    out.push(u8::from(s.visible.unwrap_or(false)));
    out.extend_from_slice(&s.master.unwrap_or(0).to_be_bytes());
    write_changes(&mut out, &ch.changes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_keys_parse_and_bad_layouts_are_refused() {
        assert_eq!(
            filter_keys(&[1, 2, 0x62, 7, 1, 9]).unwrap(),
            vec![(vec![0x62, 7], vec![9])]
        );
        assert!(filter_keys(&[]).unwrap().is_empty());
        for bad in [&[1u8][..], &[1, 5, 1], &[1, 0, 0, 0], &[17]] {
            assert!(filter_keys(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_changes_are_checked() {
        let ok = PwSettingsChange {
            mask: 2 | 8,
            open: false,
            master: 3,
            ..Default::default()
        };
        let s = ok.read().unwrap();
        assert_eq!((s.open, s.master, s.visible), (Some(false), Some(3), None));
        assert!(PwSettingsChange {
            mask: 0x10,
            ..Default::default()
        }
        .read()
        .is_err());
        assert!(PwSettingsChange {
            mask: 8,
            ..Default::default()
        }
        .read()
        .is_err());
    }
}
