//! Lobby datagrams. Three families share the game socket with laminar, each
//! opening with its own 4-byte magic so the socket's reader can sort them
//! without parsing (laminar's packets open with its protocol CRC instead):
//!
//! - `PWCO` coordinator messages: magic, version byte, kind byte, request
//!   id (u32), address cookie (u64), then a body — JSON for the rare,
//!   rich messages, fixed binary for heartbeats and relay requests.
//! - `PWPU` punch packets between two peers: magic, kind, session id,
//!   introduction nonce (21 bytes).
//! - `PWRL` relay frames: magic, relay token (u64), then the inner datagram
//!   exactly as the game socket would have sent it directly.
//!
//! All integers are big-endian. Anything malformed is a [`LobbyWireError`].
//!
//! Once a room is listed, the messages between its host and the coordinator
//! are sealed: the kind byte carries [`SEALED_FLAG`] and the datagram ends
//! with a counter (u64) and the first 16 bytes of an HMAC-SHA256 over
//! everything before the tag, under the key the coordinator handed out in
//! [`RegisteredBody::key`]. A [`ReplayWindow`] refuses counters seen before.

use std::fmt;
use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::record::{ListPage, ListQuery, Listing, SessionId, SessionRecord};

/// Opens every coordinator message.
pub const COORDINATOR_MAGIC: [u8; 4] = *b"PWCO";
/// Opens every punch packet.
pub const PUNCH_MAGIC: [u8; 4] = *b"PWPU";
/// Opens every relay frame.
pub const RELAY_MAGIC: [u8; 4] = *b"PWRL";
/// The coordinator protocol's version byte.
pub const LOBBY_VERSION: u8 = 1;
/// Largest coordinator datagram.
pub const MAX_DATAGRAM: usize = 1200;
/// Bytes before a coordinator message's body.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 4 + 8;
/// Bytes of a punch packet.
pub const PUNCH_LEN: usize = 4 + 1 + 8 + 8;
/// Bytes a relay frame adds in front of the inner datagram.
pub const RELAY_HEADER: usize = 4 + 8;
/// Largest inner datagram a relay frame carries.
pub const MAX_RELAY_INNER: usize = 1452;

/// Set on the kind byte of a sealed coordinator message.
pub const SEALED_FLAG: u8 = 0x40;
/// Bytes a seal adds: counter (8) and truncated HMAC-SHA256 tag (16).
pub const SEAL_LEN: usize = 8 + 16;
const TAG_LEN: usize = 16;

/// A room's key for sealing host↔coordinator messages.
pub type SealKey = [u8; 32];

/// Seals an encoded coordinator datagram in place under `key` with
/// `counter` (which must grow with every message sent under the key).
pub fn seal(bytes: &mut Vec<u8>, key: &SealKey, counter: u64) -> Result<(), LobbyWireError> {
    if bytes.len() < HEADER_LEN || bytes[..4] != COORDINATOR_MAGIC {
        return Err(LobbyWireError::Truncated("header"));
    }
    bytes[5] |= SEALED_FLAG;
    bytes.extend_from_slice(&counter.to_be_bytes());
    let tag = mac(key, bytes);
    bytes.extend_from_slice(&tag);
    if bytes.len() > MAX_DATAGRAM {
        return Err(LobbyWireError::TooLarge(bytes.len()));
    }
    Ok(())
}

/// Whether a datagram claims to be a sealed coordinator message.
pub fn is_sealed(d: &[u8]) -> bool {
    d.len() >= HEADER_LEN + SEAL_LEN && d[..4] == COORDINATOR_MAGIC && d[5] & SEALED_FLAG != 0
}

/// Checks a sealed datagram's tag under `key`; returns its counter when
/// the tag is right (the caller checks the counter against its
/// [`ReplayWindow`]). `None` for unsealed datagrams and wrong tags.
pub fn open_seal(d: &[u8], key: &SealKey) -> Option<u64> {
    if !is_sealed(d) {
        return None;
    }
    let (signed, tag) = d.split_at(d.len() - TAG_LEN);
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).ok()?;
    m.update(signed);
    m.verify_truncated_left(tag).ok()?;
    let mut c = [0u8; 8];
    c.copy_from_slice(&signed[signed.len() - 8..]);
    Some(u64::from_be_bytes(c))
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &SealKey, data: &[u8]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    if let Ok(mut m) = <HmacSha256 as Mac>::new_from_slice(key) {
        m.update(data);
        out.copy_from_slice(&m.finalize().into_bytes()[..TAG_LEN]);
    }
    out
}

/// Which counters of one sender have been seen: anything at or below the
/// newest minus 64, or seen already, is a replay. Counter 0 is never valid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    newest: u64,
    seen: u64,
}

impl ReplayWindow {
    /// Records `counter`; `false` when it is a replay (or 0).
    pub fn accept(&mut self, counter: u64) -> bool {
        if counter == 0 {
            return false;
        }
        if counter > self.newest {
            let shift = counter - self.newest;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.newest = counter;
            return true;
        }
        let back = self.newest - counter;
        if back >= 64 || self.seen & (1 << back) != 0 {
            return false;
        }
        self.seen |= 1 << back;
        true
    }
}

/// A key as 64 hex digits (its form in [`RegisteredBody::key`]).
pub fn key_to_hex(key: &SealKey) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a key written by [`key_to_hex`].
pub fn key_from_hex(s: &str) -> Option<SealKey> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(k)
}

/// Which lobby family a datagram belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Coordinator message (`PWCO`).
    Coordinator,
    /// Punch packet between peers (`PWPU`).
    Punch,
    /// Relay frame (`PWRL`).
    Relay,
}

/// Sorts a datagram by its magic; `None` means it is not the lobby's
/// (laminar's, or garbage). Four byte compares, no parsing.
pub fn family(d: &[u8]) -> Option<Family> {
    match d.get(..4)? {
        m if m == COORDINATOR_MAGIC => Some(Family::Coordinator),
        m if m == PUNCH_MAGIC => Some(Family::Punch),
        m if m == RELAY_MAGIC => Some(Family::Relay),
        _ => None,
    }
}

/// Why a lobby datagram could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LobbyWireError {
    /// The datagram ended inside the named field.
    Truncated(&'static str),
    /// The datagram does not open with the expected magic.
    BadMagic,
    /// A coordinator version byte we do not speak.
    UnsupportedVersion(u8),
    /// A message or punch kind we do not know.
    UnknownKind(u8),
    /// A JSON body did not parse.
    Json(String),
    /// The encoded datagram would exceed the size budget.
    TooLarge(usize),
    /// Bytes left over after a fixed-size body.
    TrailingBytes,
}

impl fmt::Display for LobbyWireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LobbyWireError::Truncated(what) => write!(f, "lobby datagram truncated in {what}"),
            LobbyWireError::BadMagic => write!(f, "not a lobby datagram (bad magic)"),
            LobbyWireError::UnsupportedVersion(v) => write!(
                f,
                "coordinator protocol version {v} is not supported (this build speaks {LOBBY_VERSION})"
            ),
            LobbyWireError::UnknownKind(k) => write!(f, "unknown lobby message kind 0x{k:02x}"),
            LobbyWireError::Json(e) => write!(f, "malformed lobby message body: {e}"),
            LobbyWireError::TooLarge(n) => {
                write!(f, "lobby datagram of {n} bytes exceeds {MAX_DATAGRAM}")
            }
            LobbyWireError::TrailingBytes => write!(f, "unexpected bytes after the message"),
        }
    }
}

impl std::error::Error for LobbyWireError {}

/// Message kinds. Requests (client to coordinator) are below 0x80, answers
/// and notices (coordinator to client) above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Host lists a room (JSON [`Listing`]).
    Register = 0x01,
    /// Host is alive; carries occupancy (binary).
    Heartbeat = 0x02,
    /// Host changes its listing (JSON).
    Update = 0x03,
    /// Host withdraws its room (binary).
    Unregister = 0x04,
    /// Lobby query (JSON [`ListQuery`]).
    List = 0x05,
    /// Joiner asks to be introduced to a room's host (JSON).
    Join = 0x06,
    /// Joiner asks for a relay after punching failed (binary).
    RelayRequest = 0x07,
    /// Joiner reports how the join went (binary), for the metrics.
    Report = 0x08,
    /// Prove your address: repeat the request with this cookie.
    Challenge = 0x81,
    /// The room is listed (JSON).
    Registered = 0x82,
    /// Heartbeat seen (binary).
    HeartbeatAck = 0x83,
    /// Update applied (binary).
    UpdateAck = 0x84,
    /// One datagram of a lobby query's page (JSON).
    ListPart = 0x85,
    /// The other side's public endpoint: start punching (JSON).
    Introduce = 0x86,
    /// A relay is ready (JSON).
    RelayReady = 0x87,
    /// A request failed (JSON).
    Error = 0x8f,
}

impl Kind {
    fn from_u8(b: u8) -> Result<Kind, LobbyWireError> {
        Ok(match b {
            0x01 => Kind::Register,
            0x02 => Kind::Heartbeat,
            0x03 => Kind::Update,
            0x04 => Kind::Unregister,
            0x05 => Kind::List,
            0x06 => Kind::Join,
            0x07 => Kind::RelayRequest,
            0x08 => Kind::Report,
            0x81 => Kind::Challenge,
            0x82 => Kind::Registered,
            0x83 => Kind::HeartbeatAck,
            0x84 => Kind::UpdateAck,
            0x85 => Kind::ListPart,
            0x86 => Kind::Introduce,
            0x87 => Kind::RelayReady,
            0x8f => Kind::Error,
            _ => return Err(LobbyWireError::UnknownKind(b)),
        })
    }
}

/// Which side of an introduction a peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerRole {
    /// The room's host (listen server).
    Host,
    /// The peer joining the room.
    Joiner,
}

/// How a join ended, as the joiner reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum JoinOutcome {
    /// A punch got through: direct path.
    Direct = 1,
    /// Punching failed; a relay carries the traffic.
    Relayed = 2,
    /// Punching failed and no relay was had.
    Failed = 3,
}

/// Why the coordinator refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be read.
    Malformed,
    /// Too many requests from this address: slow down.
    RateLimited,
    /// This address already lists as many rooms as allowed.
    TooManySessions,
    /// The coordinator lists as many rooms as it can hold.
    CoordinatorFull,
    /// No such room (expired, withdrawn, or never listed).
    UnknownSession,
    /// The session token does not match.
    BadToken,
    /// The room must be updated from the address that listed it.
    AddressChanged,
    /// The listing is not acceptable; the message names the field.
    InvalidListing,
    /// The room runs another game build or protocol version.
    IncompatibleVersion,
    /// This coordinator does not relay.
    RelayDisabled,
    /// The coordinator relays, but has no relay capacity left.
    RelayUnavailable,
    /// The host accepts no more introductions right now.
    Busy,
}

/// The JSON body of [`Message::Register`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// The advertisement.
    pub listing: Listing,
}

/// The JSON body of [`Message::Update`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// The room.
    pub session_id: SessionId,
    /// Secret from [`RegisteredBody::token`], as 16 hex digits.
    pub token: SessionId,
    /// The new advertisement.
    pub listing: Listing,
}

/// The JSON body of [`Message::Join`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinBody {
    /// The room to join.
    pub session_id: SessionId,
    /// The joiner's game build.
    pub game_version: String,
    /// The joiner's propwash session protocol version.
    pub protocol_version: u16,
}

/// The JSON body of [`Message::Registered`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredBody {
    /// The room's id.
    pub session_id: SessionId,
    /// Secret the host shows on heartbeats, updates and withdrawal.
    pub token: SessionId,
    /// How often to heartbeat, in seconds.
    pub heartbeat_secs: u32,
    /// The host's public game endpoint, as the coordinator sees it.
    pub public_addr: SocketAddr,
    /// The room's sealing key, 64 hex digits (see the module docs): the
    /// host seals its heartbeats, updates and withdrawal with it, and
    /// accepts notices about the room only when sealed with it.
    #[serde(default)]
    pub key: String,
}

/// The JSON body of [`Message::Introduce`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntroduceBody {
    /// The room.
    pub session_id: SessionId,
    /// Identifies this introduction in punch packets.
    pub nonce: u64,
    /// The other side's public endpoint.
    pub peer: SocketAddr,
    /// Which side the receiver is.
    pub role: PeerRole,
    /// To a joiner: the host's key as its listing published it (empty
    /// when it published none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_key: String,
}

/// The JSON body of [`Message::RelayReady`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayReadyBody {
    /// The room.
    pub session_id: SessionId,
    /// The introduction this relay replaces.
    pub nonce: u64,
    /// Token to put in every relay frame.
    pub token: u64,
    /// The other side's public endpoint (its identity on the relayed path).
    pub peer: SocketAddr,
    /// The relay's cap, bytes per second each way.
    pub bytes_per_sec: u64,
}

/// The JSON body of [`Message::Error`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for the program.
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
}

/// The JSON body of [`Message::ListPart`]: one datagram of a page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPartBody {
    /// Matching rooms skipped before this page.
    pub offset: u32,
    /// Matching rooms in all.
    pub total: u32,
    /// This datagram's number within the page (from 0).
    pub part: u8,
    /// Datagrams making up the page.
    pub parts: u8,
    /// This datagram's rooms, in order.
    pub sessions: Vec<SessionRecord>,
}

/// A coordinator message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Host lists a room.
    Register(RegisterBody),
    /// Host is alive; its occupancy rides along.
    Heartbeat {
        /// The room.
        session_id: SessionId,
        /// The room's secret.
        token: u64,
        /// Pilots seated now.
        current_pilots: u8,
        /// Spectators seated now.
        current_spectators: u8,
    },
    /// Host changes its listing.
    Update(UpdateBody),
    /// Host withdraws its room.
    Unregister {
        /// The room.
        session_id: SessionId,
        /// The room's secret.
        token: u64,
    },
    /// Lobby query.
    List(ListQuery),
    /// Joiner asks to be introduced.
    Join(JoinBody),
    /// Joiner asks for a relay.
    RelayRequest {
        /// The room.
        session_id: SessionId,
        /// The introduction.
        nonce: u64,
    },
    /// Joiner reports the join's outcome.
    Report {
        /// The room.
        session_id: SessionId,
        /// The introduction.
        nonce: u64,
        /// How it went.
        outcome: JoinOutcome,
    },
    /// Repeat the request with the cookie in this header.
    Challenge,
    /// The room is listed.
    Registered(RegisteredBody),
    /// Heartbeat seen.
    HeartbeatAck {
        /// The room.
        session_id: SessionId,
    },
    /// Update applied.
    UpdateAck {
        /// The room.
        session_id: SessionId,
    },
    /// One datagram of a page.
    ListPart(ListPartBody),
    /// Start punching towards `peer`.
    Introduce(IntroduceBody),
    /// A relay is ready.
    RelayReady(RelayReadyBody),
    /// A request failed.
    Error(ErrorBody),
}

impl Message {
    /// The kind byte for this message.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Register(_) => Kind::Register,
            Message::Heartbeat { .. } => Kind::Heartbeat,
            Message::Update(_) => Kind::Update,
            Message::Unregister { .. } => Kind::Unregister,
            Message::List(_) => Kind::List,
            Message::Join(_) => Kind::Join,
            Message::RelayRequest { .. } => Kind::RelayRequest,
            Message::Report { .. } => Kind::Report,
            Message::Challenge => Kind::Challenge,
            Message::Registered(_) => Kind::Registered,
            Message::HeartbeatAck { .. } => Kind::HeartbeatAck,
            Message::UpdateAck { .. } => Kind::UpdateAck,
            Message::ListPart(_) => Kind::ListPart,
            Message::Introduce(_) => Kind::Introduce,
            Message::RelayReady(_) => Kind::RelayReady,
            Message::Error(_) => Kind::Error,
        }
    }
}

/// A coordinator datagram: header fields plus the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Chosen by the requester, echoed in the answer; 0 on notices.
    pub request_id: u32,
    /// Address cookie: echoed by requests, set by [`Message::Challenge`].
    pub cookie: u64,
    /// The message.
    pub message: Message,
}

impl Packet {
    /// A packet with no cookie.
    pub fn new(request_id: u32, message: Message) -> Self {
        Packet {
            request_id,
            cookie: 0,
            message,
        }
    }

    /// Encodes into a fresh buffer, refusing anything over [`MAX_DATAGRAM`].
    pub fn encode(&self) -> Result<Vec<u8>, LobbyWireError> {
        let mut out = Vec::with_capacity(128);
        write_header(&mut out, self.message.kind(), self.request_id, self.cookie);
        match &self.message {
            Message::Register(b) => json(&mut out, b)?,
            Message::Update(b) => json(&mut out, b)?,
            Message::List(b) => json(&mut out, b)?,
            Message::Join(b) => json(&mut out, b)?,
            Message::Registered(b) => json(&mut out, b)?,
            Message::ListPart(b) => json(&mut out, b)?,
            Message::Introduce(b) => json(&mut out, b)?,
            Message::RelayReady(b) => json(&mut out, b)?,
            Message::Error(b) => json(&mut out, b)?,
            Message::Heartbeat {
                session_id,
                token,
                current_pilots,
                current_spectators,
            } => {
                out.extend_from_slice(&session_id.0.to_be_bytes());
                out.extend_from_slice(&token.to_be_bytes());
                out.push(*current_pilots);
                out.push(*current_spectators);
            }
            Message::Unregister { session_id, token } => {
                out.extend_from_slice(&session_id.0.to_be_bytes());
                out.extend_from_slice(&token.to_be_bytes());
            }
            Message::RelayRequest { session_id, nonce } => {
                out.extend_from_slice(&session_id.0.to_be_bytes());
                out.extend_from_slice(&nonce.to_be_bytes());
            }
            Message::Report {
                session_id,
                nonce,
                outcome,
            } => {
                out.extend_from_slice(&session_id.0.to_be_bytes());
                out.extend_from_slice(&nonce.to_be_bytes());
                out.push(*outcome as u8);
            }
            Message::Challenge => {}
            Message::HeartbeatAck { session_id } | Message::UpdateAck { session_id } => {
                out.extend_from_slice(&session_id.0.to_be_bytes());
            }
        }
        if out.len() > MAX_DATAGRAM {
            return Err(LobbyWireError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// Decodes a coordinator datagram.
    pub fn decode(d: &[u8]) -> Result<Packet, LobbyWireError> {
        if d.len() < 4 {
            return Err(LobbyWireError::Truncated("magic"));
        }
        if d[..4] != COORDINATOR_MAGIC {
            return Err(LobbyWireError::BadMagic);
        }
        let mut r = Bytes { d, pos: 4 };
        let version = r.u8("version")?;
        if version != LOBBY_VERSION {
            return Err(LobbyWireError::UnsupportedVersion(version));
        }
        let raw_kind = r.u8("kind")?;
        let kind = Kind::from_u8(raw_kind & !SEALED_FLAG)
            .map_err(|_| LobbyWireError::UnknownKind(raw_kind))?;
        let request_id = r.u32("request id")?;
        let cookie = r.u64("cookie")?;
        // A seal's counter and tag are checked by whoever holds the key.
        let end = if raw_kind & SEALED_FLAG != 0 {
            d.len()
                .checked_sub(SEAL_LEN)
                .filter(|&e| e >= HEADER_LEN)
                .ok_or(LobbyWireError::Truncated("seal"))?
        } else {
            d.len()
        };
        let d = &d[..end];
        let mut r = Bytes { d, pos: r.pos };
        let body = &d[r.pos..];
        let message = match kind {
            Kind::Register => Message::Register(from_json(body)?),
            Kind::Update => Message::Update(from_json(body)?),
            Kind::List => Message::List(from_json(body)?),
            Kind::Join => Message::Join(from_json(body)?),
            Kind::Registered => Message::Registered(from_json(body)?),
            Kind::ListPart => Message::ListPart(from_json(body)?),
            Kind::Introduce => Message::Introduce(from_json(body)?),
            Kind::RelayReady => Message::RelayReady(from_json(body)?),
            Kind::Error => Message::Error(from_json(body)?),
            Kind::Heartbeat => {
                let m = Message::Heartbeat {
                    session_id: SessionId(r.u64("session id")?),
                    token: r.u64("token")?,
                    current_pilots: r.u8("current pilots")?,
                    current_spectators: r.u8("current spectators")?,
                };
                r.end()?;
                m
            }
            Kind::Unregister => {
                let m = Message::Unregister {
                    session_id: SessionId(r.u64("session id")?),
                    token: r.u64("token")?,
                };
                r.end()?;
                m
            }
            Kind::RelayRequest => {
                let m = Message::RelayRequest {
                    session_id: SessionId(r.u64("session id")?),
                    nonce: r.u64("nonce")?,
                };
                r.end()?;
                m
            }
            Kind::Report => {
                let session_id = SessionId(r.u64("session id")?);
                let nonce = r.u64("nonce")?;
                let outcome = match r.u8("outcome")? {
                    1 => JoinOutcome::Direct,
                    2 => JoinOutcome::Relayed,
                    3 => JoinOutcome::Failed,
                    b => return Err(LobbyWireError::UnknownKind(b)),
                };
                r.end()?;
                Message::Report {
                    session_id,
                    nonce,
                    outcome,
                }
            }
            Kind::Challenge => {
                r.end()?;
                Message::Challenge
            }
            Kind::HeartbeatAck | Kind::UpdateAck => {
                let session_id = SessionId(r.u64("session id")?);
                r.end()?;
                if kind == Kind::HeartbeatAck {
                    Message::HeartbeatAck { session_id }
                } else {
                    Message::UpdateAck { session_id }
                }
            }
        };
        Ok(Packet {
            request_id,
            cookie,
            message,
        })
    }
}

fn write_header(out: &mut Vec<u8>, kind: Kind, request_id: u32, cookie: u64) {
    out.extend_from_slice(&COORDINATOR_MAGIC);
    out.push(LOBBY_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&request_id.to_be_bytes());
    out.extend_from_slice(&cookie.to_be_bytes());
}

fn from_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, LobbyWireError> {
    serde_json::from_slice(body).map_err(|e| LobbyWireError::Json(e.to_string()))
}

fn json<T: Serialize>(out: &mut Vec<u8>, v: &T) -> Result<(), LobbyWireError> {
    serde_json::to_writer(out, v).map_err(|e| LobbyWireError::Json(e.to_string()))
}

struct Bytes<'a> {
    d: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], LobbyWireError> {
        let s = self
            .d
            .get(self.pos..self.pos + N)
            .ok_or(LobbyWireError::Truncated(what))?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, LobbyWireError> {
        Ok(self.take::<1>(what)?[0])
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, LobbyWireError> {
        Ok(u32::from_be_bytes(self.take(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, LobbyWireError> {
        Ok(u64::from_be_bytes(self.take(what)?))
    }
    fn end(&self) -> Result<(), LobbyWireError> {
        if self.pos == self.d.len() {
            Ok(())
        } else {
            Err(LobbyWireError::TrailingBytes)
        }
    }
}

/// Packs already-encoded session records (JSON objects) into as few
/// [`Kind::ListPart`] datagrams as fit under [`MAX_DATAGRAM`]. Records over
/// [`super::record::MAX_RECORD_JSON`] bytes never reach here (the
/// coordinator refuses such listings). At most 255 datagrams.
pub fn encode_list_page(
    request_id: u32,
    offset: u32,
    total: u32,
    records: &[&str],
) -> Vec<Vec<u8>> {
    // Group first, so every part can carry the count of parts.
    const ENVELOPE: usize = HEADER_LEN + 96;
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let (mut start, mut size) = (0usize, ENVELOPE);
    for (i, r) in records.iter().enumerate() {
        let add = r.len() + 1;
        if i > start && size + add > MAX_DATAGRAM {
            groups.push((start, i));
            start = i;
            size = ENVELOPE;
        }
        size += add;
    }
    if start < records.len() || groups.is_empty() {
        groups.push((start, records.len()));
    }
    groups.truncate(255);
    let parts = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(part, &(a, b))| {
            let mut out = Vec::with_capacity(MAX_DATAGRAM);
            write_header(&mut out, Kind::ListPart, request_id, 0);
            out.extend_from_slice(
                format!(
                    "{{\"offset\":{},\"total\":{total},\"part\":{part},\"parts\":{parts},\"sessions\":[",
                    offset as usize + a
                )
                .as_bytes(),
            );
            for (i, r) in records[a..b].iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(r.as_bytes());
            }
            out.extend_from_slice(b"]}");
            out
        })
        .collect()
}

/// Reassembles the datagrams of one page; `None` until all have come.
#[derive(Debug, Default)]
pub struct PageAssembly {
    parts: Vec<Option<ListPartBody>>,
}

impl PageAssembly {
    /// Adds one part; returns the page once every part is in.
    pub fn add(&mut self, part: ListPartBody) -> Option<ListPage> {
        let parts = usize::from(part.parts.max(1));
        if self.parts.len() != parts {
            self.parts = vec![None; parts];
        }
        let i = usize::from(part.part);
        if i >= parts {
            return None;
        }
        self.parts[i] = Some(part);
        if self.parts.iter().any(Option::is_none) {
            return None;
        }
        let mut parts = std::mem::take(&mut self.parts).into_iter().flatten();
        let first = parts.next()?;
        let mut page = ListPage {
            offset: first.offset,
            total: first.total,
            sessions: first.sessions,
        };
        for p in parts {
            page.sessions.extend(p.sessions);
        }
        Some(page)
    }
}

/// What a punch packet says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PunchKind {
    /// "Here I am" (openers are punches sent with a low TTL).
    Punch = 1,
    /// "I heard your punch": the path works both ways.
    Ack = 2,
    /// Keeps an open path's NAT mappings alive.
    Keepalive = 3,
}

/// A punch packet between two introduced peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Punch {
    /// What it says.
    pub kind: PunchKind,
    /// The room.
    pub session_id: SessionId,
    /// The introduction's nonce; packets with another are ignored.
    pub nonce: u64,
}

impl Punch {
    /// The 21 bytes on the wire.
    pub fn encode(&self) -> [u8; PUNCH_LEN] {
        let mut b = [0u8; PUNCH_LEN];
        b[..4].copy_from_slice(&PUNCH_MAGIC);
        b[4] = self.kind as u8;
        b[5..13].copy_from_slice(&self.session_id.0.to_be_bytes());
        b[13..21].copy_from_slice(&self.nonce.to_be_bytes());
        b
    }

    /// Reads a punch packet.
    pub fn decode(d: &[u8]) -> Result<Punch, LobbyWireError> {
        if d.len() < 4 {
            return Err(LobbyWireError::Truncated("magic"));
        }
        if d[..4] != PUNCH_MAGIC {
            return Err(LobbyWireError::BadMagic);
        }
        let mut r = Bytes { d, pos: 4 };
        let kind = match r.u8("punch kind")? {
            1 => PunchKind::Punch,
            2 => PunchKind::Ack,
            3 => PunchKind::Keepalive,
            b => return Err(LobbyWireError::UnknownKind(b)),
        };
        let session_id = SessionId(r.u64("session id")?);
        let nonce = r.u64("nonce")?;
        r.end()?;
        Ok(Punch {
            kind,
            session_id,
            nonce,
        })
    }
}

/// Writes a relay frame around `inner` into `out`; returns the frame's
/// length, or `None` when `out` is too small or `inner` too large.
pub fn encode_relay(token: u64, inner: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = RELAY_HEADER + inner.len();
    if inner.len() > MAX_RELAY_INNER || out.len() < n {
        return None;
    }
    out[..4].copy_from_slice(&RELAY_MAGIC);
    out[4..12].copy_from_slice(&token.to_be_bytes());
    out[12..n].copy_from_slice(inner);
    Some(n)
}

/// Reads a relay frame: the token and the inner datagram.
pub fn decode_relay(d: &[u8]) -> Result<(u64, &[u8]), LobbyWireError> {
    if d.len() < 4 {
        return Err(LobbyWireError::Truncated("magic"));
    }
    if d[..4] != RELAY_MAGIC {
        return Err(LobbyWireError::BadMagic);
    }
    let mut r = Bytes { d, pos: 4 };
    let token = r.u64("relay token")?;
    let inner = &d[RELAY_HEADER..];
    if inner.is_empty() {
        return Err(LobbyWireError::Truncated("relayed datagram"));
    }
    if inner.len() > MAX_RELAY_INNER {
        return Err(LobbyWireError::TooLarge(d.len()));
    }
    Ok((token, inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lobby::record::sample_listing as listing;
    use crate::util::SplitMix64;

    fn samples() -> Vec<Packet> {
        let sid = SessionId(0x0123_4567_89ab_cdef);
        let addr: SocketAddr = "203.0.113.5:5056".parse().unwrap();
        vec![
            Packet::new(1, Message::Register(RegisterBody { listing: listing() })),
            Packet::new(
                2,
                Message::Heartbeat {
                    session_id: sid,
                    token: 9,
                    current_pilots: 3,
                    current_spectators: 4,
                },
            ),
            Packet::new(
                3,
                Message::Update(UpdateBody {
                    session_id: sid,
                    token: SessionId(9),
                    listing: listing(),
                }),
            ),
            Packet::new(
                4,
                Message::Unregister {
                    session_id: sid,
                    token: 9,
                },
            ),
            Packet {
                request_id: 5,
                cookie: 77,
                message: Message::List(ListQuery::compatible_with("4.1.2", 1)),
            },
            Packet::new(
                6,
                Message::Join(JoinBody {
                    session_id: sid,
                    game_version: "4.1.2".into(),
                    protocol_version: 1,
                }),
            ),
            Packet::new(
                7,
                Message::RelayRequest {
                    session_id: sid,
                    nonce: 5,
                },
            ),
            Packet::new(
                8,
                Message::Report {
                    session_id: sid,
                    nonce: 5,
                    outcome: JoinOutcome::Relayed,
                },
            ),
            Packet {
                request_id: 9,
                cookie: 0xfeed,
                message: Message::Challenge,
            },
            Packet::new(
                10,
                Message::Registered(RegisteredBody {
                    session_id: sid,
                    token: SessionId(1),
                    heartbeat_secs: 10,
                    public_addr: addr,
                    key: key_to_hex(&[0xa5; 32]),
                }),
            ),
            Packet::new(11, Message::HeartbeatAck { session_id: sid }),
            Packet::new(12, Message::UpdateAck { session_id: sid }),
            Packet::new(
                13,
                Message::ListPart(ListPartBody {
                    offset: 0,
                    total: 1,
                    part: 0,
                    parts: 1,
                    sessions: vec![listing().to_record(sid, addr)],
                }),
            ),
            Packet::new(
                0,
                Message::Introduce(IntroduceBody {
                    session_id: sid,
                    nonce: u64::MAX,
                    peer: addr,
                    role: PeerRole::Host,
                    host_key: "ab".repeat(32),
                }),
            ),
            Packet::new(
                0,
                Message::RelayReady(RelayReadyBody {
                    session_id: sid,
                    nonce: 1,
                    token: 2,
                    peer: addr,
                    bytes_per_sec: 1000,
                }),
            ),
            Packet::new(
                14,
                Message::Error(ErrorBody {
                    code: ErrorCode::RelayDisabled,
                    message: "no relay here".into(),
                }),
            ),
        ]
    }

    #[test]
    fn every_message_round_trips_within_the_budget() {
        for p in samples() {
            let bytes = p.encode().unwrap();
            assert!(bytes.len() <= MAX_DATAGRAM);
            assert_eq!(&bytes[..4], b"PWCO");
            assert_eq!(bytes[4], LOBBY_VERSION);
            assert_eq!(bytes[5], p.message.kind() as u8);
            assert_eq!(family(&bytes), Some(Family::Coordinator));
            assert_eq!(Packet::decode(&bytes).unwrap(), p);
        }
    }

    #[test]
    fn sealed_messages_verify_only_under_their_key_and_once() {
        let key = [3u8; 32];
        let p = Packet::new(
            7,
            Message::Heartbeat {
                session_id: SessionId(1),
                token: 2,
                current_pilots: 1,
                current_spectators: 0,
            },
        );
        let mut b = p.encode().unwrap();
        seal(&mut b, &key, 5).unwrap();
        assert!(is_sealed(&b));
        assert_eq!(Packet::decode(&b).unwrap(), p);
        assert_eq!(open_seal(&b, &key), Some(5));
        assert_eq!(open_seal(&b, &[4u8; 32]), None);
        let mut forged = b.clone();
        forged[HEADER_LEN] ^= 1;
        assert_eq!(open_seal(&forged, &key), None);
        assert_eq!(open_seal(&p.encode().unwrap(), &key), None);
        let mut w = ReplayWindow::default();
        assert!(w.accept(5));
        assert!(!w.accept(5));
        assert!(w.accept(3));
        assert!(w.accept(100));
        assert!(!w.accept(3));
        assert!(!w.accept(0));
        assert_eq!(key_from_hex(&key_to_hex(&key)), Some(key));
        assert_eq!(key_from_hex("zz"), None);
    }

    #[test]
    fn heartbeat_is_binary_and_exact() {
        let p = Packet::new(
            0x0102_0304,
            Message::Heartbeat {
                session_id: SessionId(0x1112_1314_1516_1718),
                token: 0x2122_2324_2526_2728,
                current_pilots: 5,
                current_spectators: 6,
            },
        );
        let b = p.encode().unwrap();
        assert_eq!(
            b,
            [
                b'P', b'W', b'C', b'O', 1, 0x02, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x12,
                0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
                5, 6
            ]
        );
        let mut long = b.clone();
        long.push(0);
        assert_eq!(Packet::decode(&long), Err(LobbyWireError::TrailingBytes));
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(
            Packet::decode(b"PW"),
            Err(LobbyWireError::Truncated("magic"))
        );
        assert_eq!(Packet::decode(b"PWXX1234"), Err(LobbyWireError::BadMagic));
        assert_eq!(
            Packet::decode(b"PWCO\x09\x01"),
            Err(LobbyWireError::UnsupportedVersion(9))
        );
        assert_eq!(
            Packet::decode(b"PWCO\x01\x55"),
            Err(LobbyWireError::UnknownKind(0x55))
        );
        let mut b = Packet::new(1, Message::Challenge).encode().unwrap();
        b[5] = Kind::Register as u8;
        b.extend_from_slice(b"{not json");
        assert!(matches!(Packet::decode(&b), Err(LobbyWireError::Json(_))));
        assert_eq!(
            Punch::decode(b"PWPU\x07"),
            Err(LobbyWireError::UnknownKind(7))
        );
        assert_eq!(
            decode_relay(b"PWRL\0\0\0\0\0\0\0\x01"),
            Err(LobbyWireError::Truncated("relayed datagram"))
        );
    }

    #[test]
    fn oversized_bodies_are_refused_when_encoding() {
        let mut l = listing();
        l.room.name = "n".repeat(2000);
        let p = Packet::new(1, Message::Register(RegisterBody { listing: l }));
        assert!(matches!(p.encode(), Err(LobbyWireError::TooLarge(_))));
    }

    #[test]
    fn punch_and_relay_frames_round_trip() {
        let p = Punch {
            kind: PunchKind::Ack,
            session_id: SessionId(42),
            nonce: 7,
        };
        let b = p.encode();
        assert_eq!(b.len(), 21);
        assert_eq!(family(&b), Some(Family::Punch));
        assert_eq!(Punch::decode(&b).unwrap(), p);
        let mut out = [0u8; 64];
        let n = encode_relay(0xabcd, b"laminar bytes", &mut out).unwrap();
        assert_eq!(family(&out[..n]), Some(Family::Relay));
        assert_eq!(
            decode_relay(&out[..n]).unwrap(),
            (0xabcd, &b"laminar bytes"[..])
        );
        assert_eq!(encode_relay(1, &[0; 60], &mut out), None);
    }

    /// laminar's packets open with the CRC-16/X-25 of its protocol string;
    /// none of our magics may start that way.
    #[test]
    fn laminar_packets_are_never_mistaken_for_lobby_datagrams() {
        fn x25(data: &[u8]) -> u16 {
            let mut crc = 0xffffu16;
            for &b in data {
                crc ^= u16::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0x8408
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        assert_eq!(x25(b"123456789"), 0x906e);
        let laminar = x25(b"laminar-0.1.0").to_be_bytes();
        assert_ne!(laminar, [b'P', b'W']);
        let mut d = laminar.to_vec();
        d.extend_from_slice(b"CO\x01\x01");
        assert_eq!(family(&d), None);
        for first in 0x01..=0x04u8 {
            assert_eq!(family(&[first, b'W', b'C', b'O']), None);
        }
    }

    #[test]
    fn pages_split_into_datagrams_and_reassemble_in_any_order() {
        let addr: SocketAddr = "198.51.100.9:5056".parse().unwrap();
        let recs: Vec<SessionRecord> = (0..9)
            .map(|i| {
                let mut l = listing();
                l.room.name = format!("room {i} {}", "x".repeat(40));
                l.to_record(SessionId(i), addr)
            })
            .collect();
        let json: Vec<String> = recs
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        let refs: Vec<&str> = json.iter().map(String::as_str).collect();
        let parts = encode_list_page(3, 10, 40, &refs);
        assert!(parts.len() > 1);
        let mut asm = PageAssembly::default();
        let mut page = None;
        for d in parts.iter().rev() {
            assert!(d.len() <= MAX_DATAGRAM);
            let Message::ListPart(p) = Packet::decode(d).unwrap().message else {
                panic!("not a list part");
            };
            page = asm.add(p);
        }
        let page = page.unwrap();
        assert_eq!(page.offset, 10);
        assert_eq!(page.total, 40);
        assert_eq!(page.sessions, recs);
        let empty = encode_list_page(4, 0, 0, &[]);
        assert_eq!(empty.len(), 1);
        let Message::ListPart(p) = Packet::decode(&empty[0]).unwrap().message else {
            panic!("not a list part");
        };
        assert!(PageAssembly::default().add(p).unwrap().sessions.is_empty());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = SplitMix64(0x5eed);
        let valid: Vec<Vec<u8>> = samples().iter().map(|p| p.encode().unwrap()).collect();
        for i in 0..20_000 {
            let mut d: Vec<u8> = if i % 2 == 0 {
                let n = (rng.next_u64() % 64) as usize;
                let mut d: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                // Random bodies behind a valid prefix reach the deeper parsers.
                let prefix: &[u8] = match i % 6 {
                    0 => b"PWCO\x01",
                    2 => b"PWPU",
                    _ => b"PWRL",
                };
                d.splice(0..0, prefix.iter().copied());
                d
            } else {
                valid[(rng.next_u64() as usize) % valid.len()].clone()
            };
            // Flip, cut or extend a valid datagram.
            match rng.next_u64() % 3 {
                0 if !d.is_empty() => {
                    let at = (rng.next_u64() as usize) % d.len();
                    d[at] ^= 1 << (rng.next_u64() % 8);
                }
                1 => d.truncate((rng.next_u64() as usize) % (d.len() + 1)),
                _ => d.push(rng.next_u64() as u8),
            }
            let _ = family(&d);
            let _ = Packet::decode(&d);
            let _ = Punch::decode(&d);
            let _ = decode_relay(&d);
        }
    }
}
