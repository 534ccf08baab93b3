//! The sans-IO room: a [`Host`] (listen server, also pilot 1) and a
//! [`Client`] (pilot or spectator). Neither touches a socket, a thread or the
//! system clock: the driver feeds datagrams and the current time in, and
//! takes datagrams and events out.
//!
//! Every core offers the same five calls, each cheap and harmless to call
//! more often than needed:
//! - `handle_datagram(now, from, bytes)` whenever a datagram arrives;
//! - `handle_timeout(now)` when the time from `poll_timeout` has come;
//! - `poll_transmit(now, buf)` until it returns `None`, after any of the above;
//! - `poll_event()` until it returns `None`;
//! - `poll_timeout()` for the next instant something is due.

mod budget;
mod client;
mod clock;
mod host;
mod link;
mod packet;
pub mod room;
pub mod seal;
pub mod sim;
mod snapshot;
mod unreliable;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use client::{Client, ClientConfig, ClientState};
pub use clock::ClockEstimate;
pub use host::{Host, HostConfig};
pub use host::{DEFAULT_TRACK_RATE_PER_JOINER, DEFAULT_TRACK_RATE_ROOM, SNAPSHOT_ENTRY};
pub use link::{LinkCounters, LinkError};

use crate::proto::room::{ActorNr, Props, PropsChanged, RoomSettings};
use crate::proto::{GameEvent, LeaveReason, PilotFrame, PlayerInfo, RefuseReason, Role};
pub use room::{RoomError, RoomState};

/// Most pilots in a room, the host included.
pub const MAX_PILOTS: usize = 6;
/// Most spectators in a room.
pub const MAX_SPECTATORS: usize = 15;
/// The host's actor number.
pub const HOST_ACTOR: ActorNr = 1;
/// Default snapshot rate to pilots, per second.
pub const DEFAULT_PILOT_HZ: u32 = 60;
/// Default snapshot rate to spectators, per second.
pub const DEFAULT_SPECTATOR_HZ: u32 = 30;
/// Allowed send rates, per second.
pub const RATE_RANGE: std::ops::RangeInclusive<u32> = 10..=240;
/// Silence after which a peer is considered gone.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// An unchanged latest frame is sent again after this long, so a pilot who
/// stopped pushing (paused, finished, crashed) still converges everywhere
/// even when its last frame was lost.
pub const FRAME_REFRESH: Duration = Duration::from_millis(250);
/// Inputs of earlier ticks repeated in every pilot packet, against loss.
pub const REDUNDANT_INPUTS: usize = 6;

/// A datagram the core wants sent: `len` bytes at the start of the buffer
/// given to `poll_transmit`, to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Bytes written into the caller's buffer.
    pub len: usize,
}

/// Something the game should learn about.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Client only: the host seated us. What the room holds comes with it;
    /// each player already there is also announced as a
    /// [`Event::PlayerJoined`] right after.
    Welcomed {
        /// Our actor number.
        actor: ActorNr,
        /// The role we got (spectator when pilots were full and we allowed it).
        role: Role,
        /// The room as we joined it.
        room: Box<RoomWelcome>,
    },
    /// Client only: the host refused us; the session is over.
    Refused {
        /// Why, as a number the game can branch on.
        reason: RefuseReason,
        /// Why, in words that name both sides' versions, the seat counts,
        /// the Steam id in use or Steam's own reason.
        message: String,
    },
    /// A player is in the room (on a client, also once for each player
    /// already there when we were welcomed).
    PlayerJoined(PlayerInfo),
    /// A player left.
    PlayerLeft {
        /// Who.
        actor: ActorNr,
        /// Why.
        reason: LeaveReason,
        /// The new master client, when the leaver was the master.
        master: Option<ActorNr>,
    },
    /// A game event arrived.
    GameEvent(GameEvent),
    /// Room or player properties (and the room's settings or master)
    /// changed, ours included.
    PropsChanged(PropsChanged),
    /// A property change we asked for was refused (by the host, or here).
    PropsRefused {
        /// The request's id.
        request: u32,
        /// Why, in words.
        message: String,
    },
    /// A pilot's newer frame arrived.
    Frame {
        /// The pilot's actor number.
        actor: ActorNr,
        /// The frame.
        frame: PilotFrame,
        /// When the host received it, host clock, microseconds.
        host_time_us: u64,
    },
    /// Client: the room's custom track is downloading.
    TrackProgress {
        /// Bytes written.
        received: u64,
        /// Bytes in the track.
        total: u64,
    },
    /// Client: the room's custom track is installed (or was already here).
    TrackReady {
        /// Its folder.
        path: std::path::PathBuf,
        /// True when it was downloaded from the host just now.
        downloaded: bool,
    },
    /// Client: the room's custom track could not be had.
    TrackFailed {
        /// Why, for the player.
        reason: String,
    },
    /// The session ended (client: left, timed out, room closed; host: closed).
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// The room as a joiner finds it.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomWelcome {
    /// Settings.
    pub settings: RoomSettings,
    /// The master client.
    pub master: ActorNr,
    /// The room's properties.
    pub props: Props,
    /// Everyone in the room, us included, by actor number.
    pub players: Vec<PlayerInfo>,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// We left or closed it.
    Left,
    /// The host could not be reached or went silent.
    TimedOut,
    /// The host closed the room.
    RoomClosed,
    /// The host refused the join.
    Refused,
}

/// Errors from calls the game makes into a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The game-event payload exceeds 16 KiB.
    EventTooLarge(usize),
    /// The room refused it (a full cache, properties over the limits, a
    /// failed check-and-set...).
    Room(RoomError),
    /// Not possible before the host welcomed us or after the session closed.
    NotConnected,
    /// Only the host may do this.
    NotHost,
    /// The named actor is not in the room.
    NoSuchActor(ActorNr),
    /// A link could not take the message.
    Link(LinkError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::EventTooLarge(n) => write!(
                f,
                "event payload of {n} bytes exceeds the {} byte limit",
                crate::proto::control::MAX_EVENT_PAYLOAD
            ),
            SessionError::Room(e) => write!(f, "{e}"),
            SessionError::NotConnected => write!(f, "not connected to a room"),
            SessionError::NotHost => write!(f, "only the host may do this"),
            SessionError::NoSuchActor(a) => write!(f, "no player with actor number {a}"),
            SessionError::Link(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<RoomError> for SessionError {
    fn from(e: RoomError) -> Self {
        SessionError::Room(e)
    }
}

impl From<LinkError> for SessionError {
    fn from(e: LinkError) -> Self {
        SessionError::Link(e)
    }
}

/// Statistics of one peer's link, as seen from this side.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PeerStats {
    /// The peer's actor number (0 while not yet welcomed).
    pub actor: ActorNr,
    /// Pilot or spectator.
    pub role: Option<Role>,
    /// Round trip from pings, milliseconds (0 before the first answer).
    pub rtt_ms: f32,
    /// Fraction of our packets the peer did not acknowledge.
    pub loss: f32,
    /// Raw link counters.
    pub counters: LinkCounters,
    /// The newest tick received from this pilot (host side) or from the
    /// host's snapshot about it.
    pub last_tick: u32,
    /// Inputs filled in from redundancy after their own packet was lost.
    pub inputs_recovered: u64,
}

fn loss_fraction(c: &LinkCounters) -> f32 {
    let judged = c.packets_acked + c.packets_lost;
    if judged == 0 {
        0.0
    } else {
        c.packets_lost as f32 / judged as f32
    }
}

/// The send slot after one that was due at `due` and taken at `now`: the
/// cadence holds through small delays (one late slot does not push every
/// later one back, which would send fewer frames than the rate), and
/// restarts from `now` after a gap of two intervals or more rather than
/// bursting to catch up.
pub(crate) fn next_slot(due: Instant, now: Instant, interval: Duration) -> Instant {
    let next = due + interval;
    if next + interval <= now {
        now + interval
    } else {
        next
    }
}

/// The first instant after `now` on the cadence of `interval` through
/// `origin` (`origin` itself when it is still ahead).
pub(crate) fn slot_after(origin: Instant, now: Instant, interval: Duration) -> Instant {
    if origin > now {
        return origin;
    }
    let step = interval.as_nanos().max(1);
    let behind = (now - origin).as_nanos();
    let steps = behind / step + 1;
    // Whole steps of at most 4.2 s over an `Instant`'s lifetime fit u64.
    origin + Duration::from_nanos((steps * step).min(u128::from(u64::MAX)) as u64)
}

/// Clamps a configured rate into [`RATE_RANGE`].
pub(crate) fn interval_for(hz: u32) -> Duration {
    let hz = hz.clamp(*RATE_RANGE.start(), *RATE_RANGE.end());
    Duration::from_micros(1_000_000 / u64::from(hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_slots_keep_their_cadence_through_delays_and_restart_after_a_gap() {
        let t0 = Instant::now();
        let i = Duration::from_millis(10);
        // Taken 3 ms late: the next slot is still one interval after the
        // one that was due, not after the late send.
        assert_eq!(next_slot(t0, t0 + Duration::from_millis(3), i), t0 + i);
        // Taken 15 ms late: the next slot is due already (one catch-up)...
        let next = next_slot(t0, t0 + Duration::from_millis(15), i);
        assert_eq!(next, t0 + i);
        // ...and after it the cadence goes on.
        assert_eq!(
            next_slot(next, t0 + Duration::from_millis(15), i),
            t0 + 2 * i
        );
        // Two whole intervals late: no burst, a fresh start.
        let late = t0 + Duration::from_millis(25);
        assert_eq!(next_slot(t0, late, i), late + i);
    }
}
