//! Game events out (`pw_session_send_event`) and everything the game should
//! learn about in (`pw_session_poll_event`): a fixed header plus the
//! event's data in the caller's buffer. An event whose data does not fit is
//! kept for the next poll, never lost. Requests the network thread could
//! not carry out come through the same poll, so the game watches one stream.

use super::arg::{self, out_slice};
use super::options::PwRole;
use super::result::{Error, PwResult};
use super::room;
use super::session::{shell, PwCloseReason, PwSession};
use crate::proto::control::MAX_EVENT_PAYLOAD;
use crate::proto::{EventTarget, LeaveReason, RefuseReason};
use crate::session::Event;

/// Largest game-event payload, in bytes (16 KiB).
pub const PW_MAX_EVENT_PAYLOAD: usize = 16384;
const _: () = assert!(PW_MAX_EVENT_PAYLOAD == MAX_EVENT_PAYLOAD);

/// Who receives a game event (the `target` argument of
/// `pw_session_send_event`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwEventTarget {
    /// Everyone but the sender.
    Others = 0,
    /// Everyone, the sender too.
    All = 1,
    /// Only the host.
    Host = 2,
    /// Only the player whose actor number is the `actor` argument.
    Actor = 3,
}

/// What kind of event `pw_session_poll_event` returned.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwEventKind {
    /// Client only: the host seated us. `actor` is our actor number, `role`
    /// the seat we got (a spectator seat if pilots were full and we allowed
    /// it), `master` the master client. The data is the room as we joined
    /// it (layouts in `pw_session_raise_event`'s module, repeated in the
    /// README): `u32 actor, u32 master, settings, props` (the room's), `u16
    /// count`, then each `player` (us included). Each player already there
    /// also comes as `PW_EVENT_KIND_PLAYER_JOINED` right after.
    Welcomed = 1,
    /// Client only: the host refused us and the session is over. `reason` is
    /// a `PwRefuseReason`; the data is a UTF-8 explanation naming both
    /// sides' versions or the seat counts.
    Refused = 2,
    /// A player is in the room (on a client also once for each player
    /// already there when we were welcomed). `actor`, `role`; the data is
    /// the `player` layout: actor, role, seat, verified, name, player id,
    /// Steam id (only when the host verified it with Steam), properties.
    PlayerJoined = 3,
    /// A player left. `actor`; `reason` is a `PwCloseReason` (LEFT,
    /// TIMED_OUT or ROOM_CLOSED); `master` is the new master client when
    /// the leaver was the master, else 0. No data.
    PlayerLeft = 4,
    /// A game event arrived. `actor` is the sender, `code` the game's event
    /// code; the data is the payload.
    GameEvent = 5,
    /// Properties changed: the room's (`target` 0) or player `target`'s,
    /// by player `actor` (ours included); `cas` when it was a
    /// check-and-set. The data is `settings_change` (the room's settings
    /// and master, when they changed) then `props` (the changed keys; a
    /// removed key has no value). Number 7 is retired.
    PropertiesChanged = 6,
    /// The session ended. `reason` is a `PwCloseReason`. No data. No more
    /// events follow.
    Closed = 8,
    /// Joiner with a `maps_dir`: the room's custom track is downloading.
    /// `received` bytes of `total` are written and checked. No data. Comes
    /// about every 512 KiB, and once more when the last byte is in.
    TrackProgress = 9,
    /// The room's custom track is ready to load. The data is its folder as
    /// UTF-8. On a joiner: `downloaded` is true when it was just downloaded
    /// and installed, false when a verified copy was already in the maps
    /// folder (or the cache). On the host: the folder given to
    /// `pw_session_serve_track` was hashed and the room now announces it
    /// (`downloaded` false).
    TrackReady = 10,
    /// The room's custom track cannot be had. The data is why, in UTF-8
    /// words for the player (the host does not allow downloads, the host's
    /// copy is unreadable, a file failed its hash three times, the disk is
    /// full...); a failed download leaves nothing behind. On the host: the
    /// folder given to `pw_session_serve_track` cannot be served, and the
    /// room keeps announcing what it served before.
    TrackFailed = 11,
    /// A request that `PW_RESULT_OK` had queued failed on the network
    /// thread: a game event or property change before we were welcomed, a
    /// room over its 64 properties, following a player who is not a pilot.
    /// The data is the request's name and why, in UTF-8
    /// (`send_event: not connected to a room`).
    RequestFailed = 12,
    /// A property change was refused (over the limits, a check-and-set
    /// whose expectation no longer held, a player who left); `request` is
    /// the id it was made with. The data is why, in UTF-8.
    PropertiesRefused = 13,
}

/// Why the host refused a join (`reason` of `PW_EVENT_KIND_REFUSED`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwRefuseReason {
    /// The game or protocol version differs from the host's.
    VersionMismatch = 1,
    /// All pilot seats are taken.
    PilotsFull = 2,
    /// All spectator seats are taken.
    SpectatorsFull = 3,
    /// The host could not read our hello.
    Malformed = 4,
    /// The host is closing the room.
    RoomClosed = 5,
    /// The room admits only players verified by Steam and Steam did not
    /// confirm us (no ticket, a rejected ticket, or no answer in time).
    NotVerified = 6,
    /// A player with our Steam id is already in the room or joining it.
    SteamIdInUse = 7,
    /// The room asks a password and ours was missing or wrong.
    WrongPassword = 8,
    /// The room holds its most players (the game's own limit).
    GameFull = 9,
    /// The room is closed for joins.
    GameClosed = 10,
    /// The host's key is not the one its lobby listing published: another
    /// machine answered for the room, and we did not join it.
    HostKeyMismatch = 11,
}

/// The fixed part of an event; its data goes to the caller's buffer.
/// Fields that do not apply to a kind are 0 (`role`: `PW_ROLE_UNKNOWN`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PwEvent {
    /// What happened.
    pub kind: PwEventKind,
    /// REFUSED: a `PwRefuseReason`; PLAYER_LEFT and CLOSED: a `PwCloseReason`.
    pub reason: u32,
    /// WELCOMED and PLAYER_JOINED: the role.
    pub role: PwRole,
    /// The player concerned (WELCOMED: us; GAME_EVENT: the sender;
    /// PROPERTIES_CHANGED: who changed them).
    pub actor: u32,
    /// PROPERTIES_CHANGED: 0 for the room, else the player whose
    /// properties changed.
    pub target: u32,
    /// WELCOMED: the master client; PLAYER_LEFT: the new master client
    /// when the leaver was the master, else 0.
    pub master: u32,
    /// PROPERTIES_REFUSED: the request's id.
    pub request: u32,
    /// GAME_EVENT: the game's event code.
    pub code: u8,
    /// TRACK_READY: true when the track was downloaded just now (C# marshal
    /// as U1).
    pub downloaded: bool,
    /// PROPERTIES_CHANGED: it was a check-and-set (C# marshal as U1).
    pub cas: bool,
    /// Bytes of data written to the caller's buffer.
    pub data_len: usize,
    /// TRACK_PROGRESS: bytes of the track written so far.
    pub received: u64,
    /// TRACK_PROGRESS: bytes in the whole track.
    pub total: u64,
}

/// An event converted for the ABI, waiting to be handed out.
pub(crate) struct PendingEvent {
    header: PwEvent,
    data: Vec<u8>,
}

fn header(kind: PwEventKind) -> PwEvent {
    PwEvent {
        kind,
        reason: 0,
        role: PwRole::Unknown,
        actor: 0,
        target: 0,
        master: 0,
        request: 0,
        code: 0,
        downloaded: false,
        cas: false,
        data_len: 0,
        received: 0,
        total: 0,
    }
}

/// A failed request as an event.
fn request_failed(why: String) -> PendingEvent {
    PendingEvent {
        header: header(PwEventKind::RequestFailed),
        data: why.into_bytes(),
    }
}

fn leave_reason(r: LeaveReason) -> PwCloseReason {
    match r {
        LeaveReason::Left => PwCloseReason::Left,
        LeaveReason::TimedOut => PwCloseReason::TimedOut,
        LeaveReason::RoomClosed => PwCloseReason::RoomClosed,
    }
}

fn refuse_reason(r: RefuseReason) -> PwRefuseReason {
    match r {
        RefuseReason::VersionMismatch => PwRefuseReason::VersionMismatch,
        RefuseReason::PilotsFull => PwRefuseReason::PilotsFull,
        RefuseReason::SpectatorsFull => PwRefuseReason::SpectatorsFull,
        RefuseReason::Malformed => PwRefuseReason::Malformed,
        RefuseReason::RoomClosed => PwRefuseReason::RoomClosed,
        RefuseReason::NotVerified => PwRefuseReason::NotVerified,
        RefuseReason::SteamIdInUse => PwRefuseReason::SteamIdInUse,
        RefuseReason::WrongPassword => PwRefuseReason::WrongPassword,
        RefuseReason::GameFull => PwRefuseReason::GameFull,
        RefuseReason::GameClosed => PwRefuseReason::GameClosed,
        RefuseReason::HostKeyMismatch => PwRefuseReason::HostKeyMismatch,
    }
}

/// Converts a session event; frames never come this way (they go to the
/// pilot table), so they are skipped.
fn convert(ev: Event) -> Option<PendingEvent> {
    let (header, data) = match ev {
        Event::Welcomed { actor, role, room } => (
            PwEvent {
                actor,
                role: role.into(),
                master: room.master,
                ..header(PwEventKind::Welcomed)
            },
            room::welcome_data(actor, &room),
        ),
        Event::Refused { reason, message } => (
            PwEvent {
                reason: refuse_reason(reason) as u32,
                ..header(PwEventKind::Refused)
            },
            message.into_bytes(),
        ),
        Event::PlayerJoined(p) => (
            PwEvent {
                actor: p.actor,
                role: p.role.into(),
                ..header(PwEventKind::PlayerJoined)
            },
            {
                let mut data = Vec::with_capacity(64);
                room::player_data(&mut data, &p);
                data
            },
        ),
        Event::PlayerLeft {
            actor,
            reason,
            master,
        } => (
            PwEvent {
                actor,
                reason: leave_reason(reason) as u32,
                master: master.unwrap_or(0),
                ..header(PwEventKind::PlayerLeft)
            },
            Vec::new(),
        ),
        Event::GameEvent(g) => (
            PwEvent {
                actor: g.from,
                code: g.code,
                ..header(PwEventKind::GameEvent)
            },
            g.payload,
        ),
        Event::PropsChanged(ch) => (
            PwEvent {
                actor: ch.by,
                target: ch.target,
                cas: ch.cas,
                ..header(PwEventKind::PropertiesChanged)
            },
            room::changed_data(&ch),
        ),
        Event::PropsRefused { request, message } => (
            PwEvent {
                request,
                ..header(PwEventKind::PropertiesRefused)
            },
            message.into_bytes(),
        ),
        Event::Closed { reason } => (
            PwEvent {
                reason: PwCloseReason::from(reason) as u32,
                ..header(PwEventKind::Closed)
            },
            Vec::new(),
        ),
        Event::TrackProgress { received, total } => (
            PwEvent {
                received,
                total,
                ..header(PwEventKind::TrackProgress)
            },
            Vec::new(),
        ),
        Event::TrackReady { path, downloaded } => (
            PwEvent {
                downloaded,
                ..header(PwEventKind::TrackReady)
            },
            // The game opens the folder by this text; a path that is not
            // valid Unicode (rare, Windows) is shown with U+FFFD.
            path.to_string_lossy().into_owned().into_bytes(),
        ),
        Event::TrackFailed { reason } => (header(PwEventKind::TrackFailed), reason.into_bytes()),
        Event::Frame { .. } => return None,
    };
    Some(PendingEvent { header, data })
}

/// Raises a game event (like Photon's RaiseEvent): reliable, ordered,
/// delivered once to each receiver as `PW_EVENT_KIND_GAME_EVENT`.
///
/// `target` is a `PwEventTarget`; `actor` is used only with
/// `PW_EVENT_TARGET_ACTOR` (and must then be non-zero). `payload` is copied
/// during the call (the caller keeps it); it may be NULL when `len` is 0.
/// A payload over `PW_MAX_EVENT_PAYLOAD` bytes is `PW_RESULT_EVENT_TOO_LARGE`.
/// A client's event before it is welcomed is dropped by the network thread
/// and reported as `PW_EVENT_KIND_REQUEST_FAILED`. `session` must not be
/// NULL. Game thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `payload` must be
/// NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pw_session_send_event(
    session: *mut PwSession,
    code: u8,
    target: u32,
    actor: u32,
    payload: *const u8,
    len: usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            if len > PW_MAX_EVENT_PAYLOAD {
                return Err(Error::new(
                    PwResult::EventTooLarge,
                    format!(
                        "event payload of {len} bytes exceeds the {PW_MAX_EVENT_PAYLOAD} byte limit"
                    ),
                ));
            }
            // SAFETY: `payload` is NULL or readable for `len` bytes (caller).
            let payload = unsafe { arg::bytes(payload, len, "payload") }?;
            let target = match target {
                0 => EventTarget::Others,
                1 => EventTarget::All,
                2 => EventTarget::Host,
                3 if actor != 0 => EventTarget::Actor(actor),
                3 => {
                    return Err(Error::invalid(
                        "PW_EVENT_TARGET_ACTOR needs a non-zero actor",
                    ))
                }
                t => {
                    return Err(Error::invalid(format!(
                        "target {t} is not a PwEventTarget (0 to 3)"
                    )))
                }
            };
            live.session
                .send_event(code, target, payload)
                .map_err(Error::from)
        })
    })
}

/// Takes the next event: its header into `*out`, its data (see
/// `PwEventKind` for what the data is per kind) into `buf`, and the data's
/// length into `*out_len` (also `out->data_len`).
///
/// Returns `PW_RESULT_EMPTY` when no event is queued (nothing written). If
/// the data does not fit in `cap` bytes: `PW_RESULT_BUFFER_TOO_SMALL`,
/// `*out_len` receives the size needed, `*out` is untouched and the event
/// stays first in line for the next call. Game events are at most
/// `PW_MAX_EVENT_PAYLOAD` bytes; a welcome carries the whole room (up to a
/// few hundred KiB when every player holds the most properties allowed).
///
/// `session`, `out` and `out_len` must not be NULL; `buf` may be NULL only
/// when `cap` is 0. The caller owns `*out` and `buf`. Game thread (poll
/// until EMPTY every frame); never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `out` and
/// `out_len` must be NULL or writable; `buf` must be NULL or writable for
/// `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn pw_session_poll_event(
    session: *mut PwSession,
    out: *mut PwEvent,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let out = arg::out(out, "out")?;
            let buf = out_slice(buf, cap, out_len, "buf", "out_len")?;
            let next = match live.pending.take() {
                Some(p) => p,
                None => loop {
                    match live.session.poll_event() {
                        Some(ev) => {
                            if let Some(p) = convert(ev) {
                                break p;
                            }
                        }
                        None => match live.session.poll_request_failure() {
                            Some(why) => break request_failed(why),
                            None => return Err(Error::empty()),
                        },
                    }
                },
            };
            if next.data.len() > buf.cap() {
                // SAFETY: `out_len` is writable (caller); only it is written.
                let e = unsafe { buf.refuse(next.data.len()) };
                live.pending = Some(next);
                return Err(e);
            }
            // SAFETY: `buf`, `out_len` and `out` are writable (caller).
            unsafe {
                buf.write(&next.data)?;
                out.write(PwEvent {
                    data_len: next.data.len(),
                    ..next.header
                });
            }
            Ok(())
        })
    })
}
