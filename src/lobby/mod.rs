//! The lobby: the coordinator's protocol and both of its ends.
//!
//! - [`wire`]: the datagrams (`PWCO` coordinator messages, `PWPU` punches,
//!   `PWRL` relay frames) that share the game socket with laminar;
//! - [`record`]: what a room's listing holds and how lobby queries filter;
//! - [`server`]: the coordinator's sans-IO core (registry, address
//!   challenges, caps, NAT introductions, relay);
//! - [`client`]: the game's sans-IO side (hosting a listed room, lobby
//!   queries, joining through a NAT: openers, punches, relay fallback);
//! - [`service`]: the coordinator program's driver (a UDP thread, and an
//!   HTTP side for people and tools).
//!
//! Both cores take the time as a parameter and never touch a socket: the
//! driver feeds datagrams in with `handle_datagram`, calls `handle_timeout`
//! when `poll_timeout` has come, and sends what `poll_transmit` returns.

pub mod client;
pub mod record;
mod registry;
pub mod server;
pub mod service;
pub mod wire;

use std::fmt;
use std::net::SocketAddr;

pub use client::{JoinFailure, LobbyClient, LobbyConfig, LobbyEvent, Path, Received};
pub use record::{
    Capacity, HostInfo, HostProfile, ListPage, ListQuery, Listing, RoomInfo, RoomSettings,
    SessionId, SessionRecord,
};
pub use server::{Coordinator, CoordinatorConfig, Metrics};
pub use wire::{family, ErrorCode, Family, LobbyWireError};

/// A datagram a lobby core wants sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// The datagram.
    pub bytes: Vec<u8>,
    /// `Some(ttl)`: send with this IP TTL (NAT openers, which must leave our
    /// own NAT but die before the other side's). `None`: the socket's usual
    /// TTL; a driver that changed it for an opener must set it back.
    pub ttl: Option<u32>,
}

/// Why a lobby core did not accept a datagram. Nothing here is fatal; a
/// driver may count or log these and carry on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LobbyError {
    /// Not a lobby datagram (no lobby magic): it belongs to someone else.
    NotLobby,
    /// The datagram could not be read.
    Wire(LobbyWireError),
    /// Dropped: this source sends faster than its allowance.
    RateLimited,
    /// Understood, and refused with this code (an answer was sent if allowed).
    Refused(ErrorCode),
    /// A datagram nobody asked for (wrong sender, stale request, unknown
    /// introduction or relay).
    Unexpected(&'static str),
}

impl fmt::Display for LobbyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LobbyError::NotLobby => write!(f, "not a lobby datagram"),
            LobbyError::Wire(e) => write!(f, "{e}"),
            LobbyError::RateLimited => write!(f, "rate limited"),
            LobbyError::Refused(c) => write!(f, "refused: {c:?}"),
            LobbyError::Unexpected(what) => write!(f, "unexpected datagram: {what}"),
        }
    }
}

impl std::error::Error for LobbyError {}

impl From<LobbyWireError> for LobbyError {
    fn from(e: LobbyWireError) -> Self {
        LobbyError::Wire(e)
    }
}
