//! The game's side of the lobby, sans-IO, on the game socket:
//!
//! - hosting: register the room (answering the coordinator's address
//!   challenge), heartbeat with the room's occupancy, update the listing,
//!   withdraw it; re-register when the coordinator has forgotten us;
//! - lobby queries, paged, always filtered to rooms this build can join;
//! - joining: ask for an introduction, then punch: a few low-TTL openers
//!   (they open our own NAT's mapping and die before the other NAT, so they
//!   create no clashing conntrack entry there), a pause, then full-TTL
//!   punches until one side hears the other; fall back to the coordinator's
//!   relay when punching fails, or report why no path was had;
//! - the host answers punches from every joiner introduced to it.
//!
//! One [`LobbyClient`] per game socket; it talks to one coordinator.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::record::{ListPage, ListQuery, Listing, SessionId, MAX_PAGE};
use super::wire::{
    decode_relay, encode_relay, family, key_from_hex, open_seal, seal, ErrorBody, ErrorCode,
    Family, JoinBody, JoinOutcome, Message, Packet, PageAssembly, PeerRole, Punch, PunchKind,
    RegisterBody, ReplayWindow, SealKey, UpdateBody, RELAY_HEADER,
};
use super::{LobbyError, Transmit};
use crate::proto::wire::PROTOCOL_VERSION;

/// How the lobby client behaves; the defaults follow the NAT lab.
#[derive(Clone, Debug)]
pub struct LobbyConfig {
    /// The coordinator's UDP address.
    pub coordinator: SocketAddr,
    /// This game build; lobby queries show only rooms of the same.
    pub game_version: String,
    /// propwash's session protocol version (rooms must match it too).
    pub protocol_version: u16,
    /// IP TTL of openers: enough to leave our own NAT, too little to reach
    /// the other side's (2 in the lab; the hop count on the internet is
    /// unknown, so this is a knob).
    pub opener_ttl: u32,
    /// Openers sent when an introduction arrives.
    pub opener_count: u32,
    /// Pause between the openers and the first full-TTL punch.
    pub opener_wait: Duration,
    /// Between two full-TTL punches.
    pub punch_interval: Duration,
    /// How long full-TTL punching goes on before the relay is asked for.
    pub punch_duration: Duration,
    /// Between two keep-alives on a punched path.
    pub keepalive_interval: Duration,
    /// Before a coordinator request is sent again.
    pub retry_interval: Duration,
    /// Sends of a request before it is given up (hosting keeps trying,
    /// slower, and says so once).
    pub attempts: u32,
}

impl LobbyConfig {
    /// The defaults, for this coordinator and game build.
    pub fn new(coordinator: SocketAddr, game_version: &str) -> Self {
        LobbyConfig {
            coordinator,
            game_version: game_version.to_string(),
            protocol_version: PROTOCOL_VERSION,
            opener_ttl: 2,
            opener_count: 3,
            opener_wait: Duration::from_millis(500),
            punch_interval: Duration::from_millis(100),
            punch_duration: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(1),
            attempts: 4,
        }
    }
}

/// How a peer is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Straight to the peer: a punch got through.
    Direct,
    /// Through the coordinator's relay: wrap every datagram to this peer
    /// with [`LobbyClient::wrap_relayed`].
    Relayed,
}

/// Why a join found no path to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinFailure {
    /// The coordinator did not answer the join request.
    CoordinatorUnreachable,
    /// The coordinator refused the join (no such room, another game
    /// version, host busy...).
    Refused {
        /// Why, for the program.
        code: ErrorCode,
        /// Why, for a person.
        message: String,
    },
    /// Punching failed and the coordinator would not relay.
    PunchFailed {
        /// Why no relay: [`ErrorCode::RelayDisabled`] or
        /// [`ErrorCode::RelayUnavailable`] (or another refusal).
        relay: ErrorCode,
        /// The coordinator's words.
        message: String,
    },
    /// Punching failed and the relay request went unanswered.
    RelayUnreachable,
    /// The game cancelled the join.
    Cancelled,
}

impl fmt::Display for JoinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinFailure::CoordinatorUnreachable => {
                write!(f, "the coordinator did not answer the join request")
            }
            JoinFailure::Refused { message, .. } => write!(f, "join refused: {message}"),
            JoinFailure::PunchFailed { message, .. } => write!(
                f,
                "could not reach the host through the NATs in between, and no relay: {message}"
            ),
            JoinFailure::RelayUnreachable => write!(
                f,
                "could not reach the host through the NATs in between, and the coordinator did not answer the relay request"
            ),
            JoinFailure::Cancelled => write!(f, "join cancelled"),
        }
    }
}

/// What the game (or its driver) should learn about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LobbyEvent {
    /// Hosting: the room is listed (again, with a new id, after the
    /// coordinator forgot it).
    Registered {
        /// The room's id.
        session_id: SessionId,
        /// Our game socket's public endpoint, as the coordinator sees it.
        public_addr: SocketAddr,
    },
    /// Hosting: the coordinator refused to list the room; no more tries.
    HostingFailed {
        /// Why, for the program.
        code: ErrorCode,
        /// Why, for a person.
        message: String,
    },
    /// Hosting: the coordinator refused a listing update (the room stays
    /// listed as before).
    UpdateRefused {
        /// Why, for the program.
        code: ErrorCode,
        /// Why, for a person.
        message: String,
    },
    /// Hosting: the coordinator stopped answering; we keep trying and say
    /// [`LobbyEvent::Registered`] or nothing more once it answers again.
    CoordinatorUnreachable,
    /// A lobby query's page.
    ListResult {
        /// The id [`LobbyClient::list`] returned.
        request_id: u32,
        /// The rooms.
        page: ListPage,
    },
    /// A lobby query failed.
    ListFailed {
        /// The id [`LobbyClient::list`] returned.
        request_id: u32,
        /// Why, for a person.
        reason: String,
    },
    /// The coordinator introduced us to a peer; punching starts.
    Introduced {
        /// The room.
        session_id: SessionId,
        /// The peer's public endpoint.
        peer: SocketAddr,
        /// Our side of the introduction.
        role: PeerRole,
    },
    /// A path to a peer works. A joiner now connects its game session to
    /// `peer`; a host expects that peer's hello.
    Connected {
        /// The room.
        session_id: SessionId,
        /// Where the peer's datagrams come from (direct), or the identity
        /// its relayed datagrams carry (relayed).
        peer: SocketAddr,
        /// Direct or relayed.
        path: Path,
        /// Our side.
        role: PeerRole,
    },
    /// Joining: no path to the host; the reason is for the player.
    JoinFailed {
        /// The room.
        session_id: SessionId,
        /// Why.
        reason: JoinFailure,
    },
}

/// What [`LobbyClient::handle_datagram`] made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// The lobby used it; nothing for the game session.
    Consumed,
    /// A relayed game datagram: hand `inner` to the game session as if it
    /// had come from `peer`.
    Relayed {
        /// The peer the relay stands for.
        peer: SocketAddr,
        /// The game datagram, exactly as the peer sent it.
        inner: &'a [u8],
    },
}

/// A coordinator request awaiting its answer.
#[derive(Clone, Debug)]
struct Request {
    id: u32,
    message: Message,
    sent: u32,
    next: Instant,
    challenges: u32,
}

/// Sends to the coordinator; split from the rest so requests held in
/// other fields can be sent without borrowing the whole client.
#[derive(Debug)]
struct Outbox {
    out: VecDeque<Transmit>,
    coordinator: SocketAddr,
    cookie: u64,
    retry: Duration,
    /// Our listed room's key: seals what we send about it, opens what
    /// the coordinator sends us about it.
    host_key: Option<SealKey>,
    sent: u64,
    replay: ReplayWindow,
    /// Fallback id source should the OS's random numbers fail.
    fallback_id: u64,
}

impl Outbox {
    /// A fresh request id, random so that nobody off the path can answer
    /// a request of ours (0 is kept for notices).
    fn id(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let id = if getrandom::getrandom(&mut b).is_ok() {
            u32::from_be_bytes(b)
        } else {
            self.fallback_id = self
                .fallback_id
                .wrapping_add(0x9e37_79b9_7f4a_7c15)
                .rotate_left(17);
            self.fallback_id as u32
        };
        id.max(1)
    }

    /// Starts sealing with a new room's key (`None`: no room).
    fn set_host_key(&mut self, key: Option<SealKey>) {
        self.host_key = key;
        self.sent = 0;
        self.replay = ReplayWindow::default();
    }

    /// Whether `d` is sealed with our room's key and fresh.
    fn opens(&mut self, d: &[u8]) -> bool {
        let Some(key) = self.host_key else {
            return false;
        };
        open_seal(d, &key).is_some_and(|c| self.replay.accept(c))
    }

    fn request(&mut self, now: Instant, message: Message) -> Request {
        let mut r = Request {
            id: self.id(),
            message,
            sent: 0,
            next: now,
            challenges: 0,
        };
        self.send_request(now, &mut r);
        r
    }

    /// Sends (again), backing off: 1, 2, 3, 4, 4... retry intervals.
    fn send_request(&mut self, now: Instant, r: &mut Request) {
        r.sent += 1;
        r.next = now + self.retry * r.sent.min(4);
        self.send(r.id, r.message.clone());
    }

    fn send(&mut self, id: u32, message: Message) {
        let p = Packet {
            request_id: id,
            cookie: self.cookie,
            message,
        };
        let host_message = matches!(
            p.message,
            Message::Heartbeat { .. } | Message::Update(_) | Message::Unregister { .. }
        );
        let Ok(mut bytes) = p.encode() else {
            return;
        };
        if host_message {
            let Some(key) = self.host_key else {
                return;
            };
            self.sent += 1;
            if seal(&mut bytes, &key, self.sent).is_err() {
                return;
            }
        }
        self.out.push_back(Transmit {
            to: self.coordinator,
            bytes,
            ttl: None,
        });
    }

    fn punch(&mut self, to: SocketAddr, p: Punch, ttl: Option<u32>) {
        self.out.push_back(Transmit {
            to,
            bytes: p.encode().to_vec(),
            ttl,
        });
    }
}

#[derive(Debug)]
enum HostStage {
    Registering(Request),
    Listed {
        session_id: SessionId,
        token: u64,
        interval: Duration,
        next_heartbeat: Instant,
        last_heartbeat: Option<Instant>,
        heartbeat_id: u32,
        unacked: u32,
        update: Option<Request>,
    },
    Failed,
}

#[derive(Debug)]
struct Hosting {
    listing: Listing,
    stage: HostStage,
    warned: bool,
}

#[derive(Debug)]
struct PendingList {
    req: Request,
    assembly: PageAssembly,
}

#[derive(Debug)]
enum JoinStage {
    Introducing(Request),
    Punching { nonce: u64 },
    Relaying { nonce: u64, req: Request },
}

#[derive(Debug)]
struct Joining {
    session_id: SessionId,
    stage: JoinStage,
}

/// One introduction being punched (either side).
#[derive(Debug)]
struct Punching {
    session_id: SessionId,
    nonce: u64,
    peer: SocketAddr,
    role: PeerRole,
    openers_sent: bool,
    gave_up: bool,
    next_punch: Instant,
    give_up: Instant,
    forget_at: Instant,
}

/// A peer reached directly, kept open with keep-alives.
#[derive(Debug)]
struct Peer {
    session_id: SessionId,
    nonce: u64,
    addr: SocketAddr,
    next_keepalive: Instant,
    /// The last punch or keep-alive heard from it.
    heard: Instant,
}

/// A peer reached through the relay.
#[derive(Debug)]
struct Route {
    nonce: u64,
    peer: SocketAddr,
    token: u64,
    /// The relay's cap, bytes per second each way.
    bytes_per_sec: u64,
    /// When the route was made or last carried a frame to us.
    heard: Instant,
}

/// Introductions punched at once at most (a host with many joiners).
const MAX_PUNCHING: usize = 32;
/// After giving up punching, late punches are still answered this long.
const PUNCH_LINGER: Duration = Duration::from_secs(30);
/// Heartbeats sent for occupancy changes are at least this far apart.
const OCCUPANCY_MIN_GAP: Duration = Duration::from_secs(1);
/// Peers and relay routes kept at most (the oldest goes first).
const MAX_PEERS: usize = 64;
const MAX_ROUTES: usize = 64;
/// A peer or route silent this long is forgotten (keep-alives come every
/// few seconds; the coordinator closes an idle relay after 30 s).
const PATH_SILENCE: Duration = Duration::from_secs(60);
/// Heartbeats unanswered before [`LobbyEvent::CoordinatorUnreachable`].
const HEARTBEATS_UNANSWERED: u32 = 3;

/// The lobby client core; see the module docs. All calls are cheap and
/// harmless to repeat; none blocks.
#[derive(Debug)]
pub struct LobbyClient {
    cfg: LobbyConfig,
    outbox: Outbox,
    hosting: Option<Hosting>,
    lists: Vec<PendingList>,
    joining: Option<Joining>,
    punching: Vec<Punching>,
    peers: Vec<Peer>,
    routes: Vec<Route>,
    events: VecDeque<LobbyEvent>,
    /// The key the host of the room we join published, as the
    /// coordinator's introduction named it.
    introduced_key: Option<[u8; 32]>,
}

impl LobbyClient {
    /// The public key the room we last asked to join published in its
    /// listing, once the coordinator introduced us (`None` before, or
    /// when the room published none). The joiner pins it.
    pub fn introduced_host_key(&self) -> Option<[u8; 32]> {
        self.introduced_key
    }

    /// A client with nothing to do yet.
    pub fn new(cfg: LobbyConfig) -> Self {
        LobbyClient {
            outbox: Outbox {
                out: VecDeque::new(),
                coordinator: cfg.coordinator,
                cookie: 0,
                retry: cfg.retry_interval,
                host_key: None,
                sent: 0,
                replay: ReplayWindow::default(),
                fallback_id: 0,
            },
            cfg,
            hosting: None,
            lists: Vec::new(),
            joining: None,
            punching: Vec::new(),
            peers: Vec::new(),
            routes: Vec::new(),
            events: VecDeque::new(),
            introduced_key: None,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &LobbyConfig {
        &self.cfg
    }

    // ---- hosting ----

    /// Lists our room (replacing any room we listed before). Its
    /// occupancy is then kept current with [`LobbyClient::set_occupancy`]
    /// and its text with [`LobbyClient::update_listing`]. Build the listing
    /// with [`Listing::with_password`]: only whether there is a password
    /// is ever sent.
    pub fn host(&mut self, now: Instant, listing: Listing) {
        let msg = Message::Register(RegisterBody {
            listing: listing.clone(),
        });
        let req = self.outbox.request(now, msg);
        self.hosting = Some(Hosting {
            listing,
            stage: HostStage::Registering(req),
            warned: false,
        });
    }

    /// Changes the listing (name, map, settings...); sent at once and
    /// retried until the coordinator confirms.
    pub fn update_listing(&mut self, now: Instant, listing: Listing) {
        let Some(h) = self.hosting.as_mut() else {
            return;
        };
        h.listing = listing.clone();
        match &mut h.stage {
            HostStage::Registering(req) => {
                // A new request id: an answer to the old listing is stale.
                *req = self
                    .outbox
                    .request(now, Message::Register(RegisterBody { listing }));
            }
            HostStage::Listed {
                session_id,
                token,
                update,
                ..
            } => {
                let msg = Message::Update(UpdateBody {
                    session_id: *session_id,
                    token: SessionId(*token),
                    listing,
                });
                *update = Some(self.outbox.request(now, msg));
            }
            HostStage::Failed => {}
        }
    }

    /// The room's seated pilots (host included) and spectators changed:
    /// a heartbeat carries them at once (at most one a second).
    pub fn set_occupancy(&mut self, now: Instant, pilots: u8, spectators: u8) {
        let Some(h) = self.hosting.as_mut() else {
            return;
        };
        let c = &mut h.listing.capacity;
        if (c.current_pilots, c.current_spectators) == (pilots, spectators) {
            return;
        }
        c.current_pilots = pilots;
        c.current_spectators = spectators;
        match &mut h.stage {
            HostStage::Registering(req) => {
                let msg = Message::Register(RegisterBody {
                    listing: h.listing.clone(),
                });
                *req = self.outbox.request(now, msg);
            }
            HostStage::Listed {
                next_heartbeat,
                last_heartbeat,
                ..
            } => {
                let soonest = last_heartbeat.map_or(now, |t| t + OCCUPANCY_MIN_GAP);
                *next_heartbeat = (*next_heartbeat).min(soonest.max(now));
            }
            HostStage::Failed => {}
        }
        self.drive(now);
    }

    /// Withdraws our room from the list.
    pub fn unhost(&mut self, _now: Instant) {
        if let Some(Hosting {
            stage: HostStage::Listed {
                session_id, token, ..
            },
            ..
        }) = self.hosting.take()
        {
            let id = self.outbox.id();
            self.outbox
                .send(id, Message::Unregister { session_id, token });
        }
        self.outbox.set_host_key(None);
    }

    /// Our room's id while it is listed.
    pub fn hosted_session(&self) -> Option<SessionId> {
        match self.hosting.as_ref()?.stage {
            HostStage::Listed { session_id, .. } => Some(session_id),
            _ => None,
        }
    }

    // ---- lobby queries ----

    /// Asks for a page of rooms. The game version and protocol filters are
    /// always this build's (incompatible rooms are never shown); the
    /// limit is clamped to 1..=50. The answer comes as
    /// [`LobbyEvent::ListResult`] or [`LobbyEvent::ListFailed`] with the
    /// returned id.
    pub fn list(&mut self, now: Instant, mut query: ListQuery) -> u32 {
        query.game_version = Some(self.cfg.game_version.clone());
        query.protocol_version = Some(self.cfg.protocol_version);
        query.limit = query.limit.clamp(1, MAX_PAGE);
        let req = self.outbox.request(now, Message::List(query));
        let id = req.id;
        self.lists.push(PendingList {
            req,
            assembly: PageAssembly::default(),
        });
        id
    }

    // ---- joining ----

    /// Joins a listed room: introduction, punching, relay fallback. Ends
    /// with [`LobbyEvent::Connected`] or [`LobbyEvent::JoinFailed`]. A
    /// join in progress is replaced.
    pub fn join(&mut self, now: Instant, session_id: SessionId) {
        self.cancel_join();
        self.introduced_key = None;
        let msg = Message::Join(JoinBody {
            session_id,
            game_version: self.cfg.game_version.clone(),
            protocol_version: self.cfg.protocol_version,
        });
        let req = self.outbox.request(now, msg);
        self.joining = Some(Joining {
            session_id,
            stage: JoinStage::Introducing(req),
        });
    }

    /// Abandons the join in progress, if any ([`JoinFailure::Cancelled`]).
    pub fn cancel_join(&mut self) {
        if let Some(j) = self.joining.take() {
            if let JoinStage::Punching { nonce } | JoinStage::Relaying { nonce, .. } = j.stage {
                self.punching.retain(|p| p.nonce != nonce);
            }
            self.events.push_back(LobbyEvent::JoinFailed {
                session_id: j.session_id,
                reason: JoinFailure::Cancelled,
            });
        }
    }

    // ---- relayed game traffic ----

    /// True when datagrams to `peer` must go through the relay.
    pub fn is_relayed(&self, peer: SocketAddr) -> bool {
        self.routes.iter().any(|r| r.peer == peer)
    }

    /// The cap of the relay to `peer`, bytes per second each way; `None`
    /// when `peer` is not relayed. The relay drops what exceeds it, frames
    /// included, so bulk traffic to that peer must stay well below.
    pub fn relay_cap(&self, peer: SocketAddr) -> Option<u64> {
        self.routes
            .iter()
            .find(|r| r.peer == peer)
            .map(|r| r.bytes_per_sec)
    }

    /// Wraps a game datagram for `peer` into a relay frame in `out`.
    /// Returns where to send it (the coordinator) and the frame's length;
    /// `None` when `peer` is not relayed (send directly) or `out` is short
    /// (it needs `inner.len() + 12` bytes).
    pub fn wrap_relayed(
        &self,
        peer: SocketAddr,
        inner: &[u8],
        out: &mut [u8],
    ) -> Option<(SocketAddr, usize)> {
        let route = self.routes.iter().find(|r| r.peer == peer)?;
        let n = encode_relay(route.token, inner, out)?;
        debug_assert_eq!(n, inner.len() + RELAY_HEADER);
        Some((self.cfg.coordinator, n))
    }

    /// Stops keeping a peer's path open (keep-alives, relay route), e.g.
    /// when its game session ended.
    pub fn forget_peer(&mut self, peer: SocketAddr) {
        self.peers.retain(|p| p.addr != peer);
        self.routes.retain(|r| r.peer != peer);
    }

    // ---- driver calls ----

    /// Call for every datagram whose [`family`] is `Some` (lobby traffic)
    /// arriving on the game socket. A relay frame's inner datagram comes
    /// back as [`Received::Relayed`] for the game session.
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &'a [u8],
    ) -> Result<Received<'a>, LobbyError> {
        match family(data) {
            None => Err(LobbyError::NotLobby),
            Some(Family::Punch) => {
                let p = Punch::decode(data)?;
                self.on_punch(now, from, p)?;
                Ok(Received::Consumed)
            }
            Some(Family::Relay) => {
                if from != self.cfg.coordinator {
                    return Err(LobbyError::Unexpected(
                        "relay frame not from the coordinator",
                    ));
                }
                let (token, inner) = decode_relay(data)?;
                let route = self
                    .routes
                    .iter_mut()
                    .find(|r| r.token == token)
                    .ok_or(LobbyError::Unexpected("relay frame with an unknown token"))?;
                route.heard = now;
                Ok(Received::Relayed {
                    peer: route.peer,
                    inner,
                })
            }
            Some(Family::Coordinator) => {
                if from != self.cfg.coordinator {
                    return Err(LobbyError::Unexpected(
                        "coordinator message from a stranger",
                    ));
                }
                let p = Packet::decode(data)?;
                let sealed = self.outbox.opens(data);
                self.on_coordinator(now, p, sealed)?;
                self.drive(now);
                Ok(Received::Consumed)
            }
        }
    }

    /// Call when the instant from [`LobbyClient::poll_timeout`] has come
    /// (earlier or more often is harmless): retries, heartbeats, openers
    /// and punches, relay fallback, keep-alives.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.drive(now);
    }

    /// The next datagram to send; call until `None` after every other
    /// call. Honour [`Transmit::ttl`].
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.out.pop_front()
    }

    /// The next event; call until `None` after every other call.
    pub fn poll_event(&mut self) -> Option<LobbyEvent> {
        self.events.pop_front()
    }

    /// The next instant [`LobbyClient::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |i: Instant| t = Some(t.map_or(i, |t| t.min(i)));
        if let Some(h) = &self.hosting {
            match &h.stage {
                HostStage::Registering(r) => at(r.next),
                HostStage::Listed {
                    next_heartbeat,
                    update,
                    ..
                } => {
                    at(*next_heartbeat);
                    if let Some(u) = update {
                        at(u.next);
                    }
                }
                HostStage::Failed => {}
            }
        }
        for l in &self.lists {
            at(l.req.next);
        }
        if let Some(j) = &self.joining {
            match &j.stage {
                JoinStage::Introducing(r) | JoinStage::Relaying { req: r, .. } => at(r.next),
                JoinStage::Punching { .. } => {}
            }
        }
        for p in &self.punching {
            if p.gave_up {
                at(p.forget_at);
            } else {
                at(p.next_punch.min(p.give_up));
            }
        }
        for p in &self.peers {
            at(p.next_keepalive);
        }
        for r in &self.routes {
            at(r.heard + PATH_SILENCE);
        }
        t
    }

    // ---- internals ----

    /// `sealed`: the datagram is sealed with our room's key (and fresh);
    /// notices about our room are believed only then.
    fn on_coordinator(&mut self, now: Instant, p: Packet, sealed: bool) -> Result<(), LobbyError> {
        let id = p.request_id;
        let about_our_room = matches!(
            &p.message,
            Message::HeartbeatAck { .. } | Message::UpdateAck { .. }
        ) || matches!(&p.message, Message::Introduce(b) if b.role == PeerRole::Host)
            || matches!(&p.message, Message::RelayReady(_) if id == 0);
        if about_our_room && !sealed {
            return Err(LobbyError::Unexpected(
                "notice about our room not sealed with its key",
            ));
        }
        match p.message {
            Message::Challenge => {
                self.outbox.cookie = p.cookie;
                self.on_challenge(now, id)
            }
            Message::Registered(b) => {
                let Some(h) = self.hosting.as_mut() else {
                    return Err(LobbyError::Unexpected("registered, but we do not host"));
                };
                match &h.stage {
                    HostStage::Registering(r) if r.id == id => {}
                    _ => return Err(LobbyError::Unexpected("stale registration answer")),
                }
                let Some(key) = key_from_hex(&b.key) else {
                    h.stage = HostStage::Failed;
                    self.events.push_back(LobbyEvent::HostingFailed {
                        code: ErrorCode::Malformed,
                        message: "the coordinator gave no sealing key (too old?)".into(),
                    });
                    return Err(LobbyError::Unexpected("registration without a sealing key"));
                };
                self.outbox.set_host_key(Some(key));
                h.stage = HostStage::Listed {
                    session_id: b.session_id,
                    token: b.token.0,
                    interval: Duration::from_secs(u64::from(b.heartbeat_secs.clamp(1, 300))),
                    next_heartbeat: now
                        + Duration::from_secs(u64::from(b.heartbeat_secs.clamp(1, 300))),
                    last_heartbeat: None,
                    heartbeat_id: 0,
                    unacked: 0,
                    update: None,
                };
                h.warned = false;
                self.events.push_back(LobbyEvent::Registered {
                    session_id: b.session_id,
                    public_addr: b.public_addr,
                });
                Ok(())
            }
            Message::HeartbeatAck { session_id } => match self.hosting.as_mut() {
                Some(Hosting {
                    stage:
                        HostStage::Listed {
                            session_id: s,
                            unacked,
                            ..
                        },
                    warned,
                    ..
                }) if *s == session_id => {
                    *unacked = 0;
                    *warned = false;
                    Ok(())
                }
                _ => Err(LobbyError::Unexpected("heartbeat answer for another room")),
            },
            Message::UpdateAck { .. } => match self.hosting.as_mut() {
                Some(Hosting {
                    stage: HostStage::Listed { update, .. },
                    ..
                }) if update.as_ref().is_some_and(|u| u.id == id) => {
                    *update = None;
                    Ok(())
                }
                _ => Err(LobbyError::Unexpected("stale update answer")),
            },
            Message::ListPart(part) => {
                let i = self
                    .lists
                    .iter()
                    .position(|l| l.req.id == id)
                    .ok_or(LobbyError::Unexpected("page for a query we did not make"))?;
                if let Some(page) = self.lists[i].assembly.add(part) {
                    self.lists.swap_remove(i);
                    self.events.push_back(LobbyEvent::ListResult {
                        request_id: id,
                        page,
                    });
                }
                Ok(())
            }
            Message::Introduce(b) => self.on_introduce(now, id, b),
            Message::RelayReady(b) => self.on_relay_ready(now, id, b),
            Message::Error(e) => self.on_error(now, id, e),
            _ => Err(LobbyError::Unexpected("a request sent to a game")),
        }
    }

    fn on_challenge(&mut self, now: Instant, id: u32) -> Result<(), LobbyError> {
        let mut reqs: Vec<&mut Request> = Vec::new();
        if let Some(h) = self.hosting.as_mut() {
            match &mut h.stage {
                HostStage::Registering(r) => reqs.push(r),
                HostStage::Listed {
                    update: Some(u), ..
                } => reqs.push(u),
                _ => {}
            }
        }
        reqs.extend(self.lists.iter_mut().map(|l| &mut l.req));
        if let Some(j) = self.joining.as_mut() {
            match &mut j.stage {
                JoinStage::Introducing(r) | JoinStage::Relaying { req: r, .. } => reqs.push(r),
                JoinStage::Punching { .. } => {}
            }
        }
        let r = reqs
            .into_iter()
            .find(|r| r.id == id)
            .ok_or(LobbyError::Unexpected("challenge for no request of ours"))?;
        // A cookie just issued must work; a third challenge means something
        // between us rewrites addresses: let the retry timer pace us.
        if r.challenges < 2 {
            r.challenges += 1;
            r.sent = r.sent.saturating_sub(1);
            self.outbox.send_request(now, r);
        }
        Ok(())
    }

    fn on_introduce(
        &mut self,
        now: Instant,
        id: u32,
        b: super::wire::IntroduceBody,
    ) -> Result<(), LobbyError> {
        match b.role {
            PeerRole::Joiner => {
                let Some(j) = self.joining.as_mut() else {
                    return Err(LobbyError::Unexpected("introduction, but we do not join"));
                };
                match &j.stage {
                    JoinStage::Introducing(r) if r.id == id && j.session_id == b.session_id => {}
                    _ => return Err(LobbyError::Unexpected("stale introduction")),
                }
                j.stage = JoinStage::Punching { nonce: b.nonce };
                self.introduced_key = crate::session::seal::key_from_hex(&b.host_key);
            }
            PeerRole::Host => {
                if self.hosted_session() != Some(b.session_id) {
                    return Err(LobbyError::Unexpected(
                        "introduction to a room we do not host",
                    ));
                }
                if self.punching.iter().any(|p| p.nonce == b.nonce)
                    || self.peers.iter().any(|p| p.nonce == b.nonce)
                {
                    // A repeated introduction: already on it.
                    return Ok(());
                }
                if self.punching.len() >= MAX_PUNCHING {
                    return Err(LobbyError::Unexpected("too many introductions at once"));
                }
            }
        }
        let start = now + self.cfg.opener_wait;
        let give_up = start + self.cfg.punch_duration;
        self.punching.push(Punching {
            session_id: b.session_id,
            nonce: b.nonce,
            peer: b.peer,
            role: b.role,
            openers_sent: false,
            gave_up: false,
            next_punch: if self.cfg.opener_count == 0 {
                now
            } else {
                start
            },
            give_up,
            forget_at: give_up + PUNCH_LINGER,
        });
        self.events.push_back(LobbyEvent::Introduced {
            session_id: b.session_id,
            peer: b.peer,
            role: b.role,
        });
        Ok(())
    }

    fn on_relay_ready(
        &mut self,
        now: Instant,
        id: u32,
        b: super::wire::RelayReadyBody,
    ) -> Result<(), LobbyError> {
        let role = match &self.joining {
            Some(Joining {
                session_id,
                stage: JoinStage::Relaying { nonce, req },
            }) if *session_id == b.session_id && *nonce == b.nonce && req.id == id => {
                PeerRole::Joiner
            }
            _ if id == 0 && self.hosted_session() == Some(b.session_id) => PeerRole::Host,
            _ => return Err(LobbyError::Unexpected("relay for a join we did not ask")),
        };
        self.punching.retain(|p| p.nonce != b.nonce);
        if self.routes.iter().any(|r| r.nonce == b.nonce) {
            return Ok(());
        }
        if self.routes.len() >= MAX_ROUTES {
            self.routes.remove(0);
        }
        self.routes.push(Route {
            nonce: b.nonce,
            peer: b.peer,
            token: b.token,
            bytes_per_sec: b.bytes_per_sec,
            heard: now,
        });
        if role == PeerRole::Joiner {
            self.joining = None;
            self.report(b.session_id, b.nonce, JoinOutcome::Relayed);
        }
        self.events.push_back(LobbyEvent::Connected {
            session_id: b.session_id,
            peer: b.peer,
            path: Path::Relayed,
            role,
        });
        Ok(())
    }

    fn on_error(&mut self, now: Instant, id: u32, e: ErrorBody) -> Result<(), LobbyError> {
        let code = e.code;
        if let Some(h) = self.hosting.as_mut() {
            match &mut h.stage {
                HostStage::Registering(r) if r.id == id => {
                    if matches!(code, ErrorCode::RateLimited | ErrorCode::Malformed) {
                        // Slow down; the retry timer tries again.
                        r.next = r.next.max(now + self.cfg.retry_interval * 4);
                    } else {
                        h.stage = HostStage::Failed;
                        self.events.push_back(LobbyEvent::HostingFailed {
                            code,
                            message: e.message,
                        });
                    }
                    return Err(LobbyError::Refused(code));
                }
                HostStage::Listed {
                    heartbeat_id,
                    update,
                    ..
                } => {
                    if *heartbeat_id == id
                        && matches!(
                            code,
                            ErrorCode::UnknownSession
                                | ErrorCode::AddressChanged
                                | ErrorCode::BadToken
                        )
                    {
                        // The coordinator forgot us, or sees us elsewhere
                        // now: list the room anew.
                        let msg = Message::Register(RegisterBody {
                            listing: h.listing.clone(),
                        });
                        self.outbox.set_host_key(None);
                        h.stage = HostStage::Registering(self.outbox.request(now, msg));
                        return Err(LobbyError::Refused(code));
                    }
                    if update.as_ref().is_some_and(|u| u.id == id) {
                        *update = None;
                        self.events.push_back(LobbyEvent::UpdateRefused {
                            code,
                            message: e.message,
                        });
                        return Err(LobbyError::Refused(code));
                    }
                }
                _ => {}
            }
        }
        if let Some(i) = self.lists.iter().position(|l| l.req.id == id) {
            self.lists.swap_remove(i);
            self.events.push_back(LobbyEvent::ListFailed {
                request_id: id,
                reason: e.message,
            });
            return Err(LobbyError::Refused(code));
        }
        if let Some(j) = &self.joining {
            let reason = match &j.stage {
                JoinStage::Introducing(r) if r.id == id => Some(JoinFailure::Refused {
                    code,
                    message: e.message,
                }),
                JoinStage::Relaying { req, nonce } if req.id == id => {
                    let report = Message::Report {
                        session_id: j.session_id,
                        nonce: *nonce,
                        outcome: JoinOutcome::Failed,
                    };
                    self.outbox.send(0, report);
                    Some(JoinFailure::PunchFailed {
                        relay: code,
                        message: e.message,
                    })
                }
                _ => None,
            };
            if let Some(reason) = reason {
                self.events.push_back(LobbyEvent::JoinFailed {
                    session_id: j.session_id,
                    reason,
                });
                self.joining = None;
                return Err(LobbyError::Refused(code));
            }
        }
        Err(LobbyError::Unexpected("error for no request of ours"))
    }

    fn on_punch(&mut self, now: Instant, from: SocketAddr, p: Punch) -> Result<(), LobbyError> {
        let known_peer = self
            .peers
            .iter()
            .any(|q| q.nonce == p.nonce && q.session_id == p.session_id);
        let i = self
            .punching
            .iter()
            .position(|q| q.nonce == p.nonce && q.session_id == p.session_id);
        if i.is_none() && !known_peer {
            return Err(LobbyError::Unexpected("punch for no introduction of ours"));
        }
        if p.kind == PunchKind::Punch {
            let ack = Punch {
                kind: PunchKind::Ack,
                ..p
            };
            self.outbox.punch(from, ack, None);
        }
        for q in self.peers.iter_mut().filter(|q| q.nonce == p.nonce) {
            q.heard = now;
        }
        if p.kind == PunchKind::Keepalive {
            return Ok(());
        }
        let Some(i) = i else {
            return Ok(());
        };
        let done = self.punching.swap_remove(i);
        if self.peers.len() >= MAX_PEERS {
            self.peers.remove(0);
        }
        self.peers.push(Peer {
            session_id: done.session_id,
            nonce: done.nonce,
            addr: from,
            next_keepalive: now + self.cfg.keepalive_interval,
            heard: now,
        });
        if done.role == PeerRole::Joiner {
            if let Some(j) = &self.joining {
                if let JoinStage::Punching { nonce } | JoinStage::Relaying { nonce, .. } = j.stage {
                    if nonce == done.nonce {
                        self.joining = None;
                    }
                }
            }
            self.report(done.session_id, done.nonce, JoinOutcome::Direct);
        }
        self.events.push_back(LobbyEvent::Connected {
            session_id: done.session_id,
            peer: from,
            path: Path::Direct,
            role: done.role,
        });
        Ok(())
    }

    fn report(&mut self, session_id: SessionId, nonce: u64, outcome: JoinOutcome) {
        self.outbox.send(
            0,
            Message::Report {
                session_id,
                nonce,
                outcome,
            },
        );
    }

    fn drive(&mut self, now: Instant) {
        self.drive_hosting(now);
        let attempts = self.cfg.attempts;
        let mut i = 0;
        while i < self.lists.len() {
            let l = &mut self.lists[i];
            if now >= l.req.next {
                if l.req.sent >= attempts {
                    let id = l.req.id;
                    self.lists.swap_remove(i);
                    self.events.push_back(LobbyEvent::ListFailed {
                        request_id: id,
                        reason: "the coordinator did not answer".into(),
                    });
                    continue;
                }
                self.outbox.send_request(now, &mut l.req);
            }
            i += 1;
        }
        self.drive_punching(now);
        self.drive_joining(now);
        self.peers
            .retain(|p| now.saturating_duration_since(p.heard) < PATH_SILENCE);
        self.routes
            .retain(|r| now.saturating_duration_since(r.heard) < PATH_SILENCE);
        for p in &mut self.peers {
            if now >= p.next_keepalive {
                p.next_keepalive = now + self.cfg.keepalive_interval;
                let k = Punch {
                    kind: PunchKind::Keepalive,
                    session_id: p.session_id,
                    nonce: p.nonce,
                };
                self.outbox.punch(p.addr, k, None);
            }
        }
    }

    fn drive_hosting(&mut self, now: Instant) {
        let Some(h) = self.hosting.as_mut() else {
            return;
        };
        match &mut h.stage {
            HostStage::Registering(r) => {
                if now >= r.next {
                    if r.sent >= self.cfg.attempts && !h.warned {
                        h.warned = true;
                        self.events.push_back(LobbyEvent::CoordinatorUnreachable);
                    }
                    self.outbox.send_request(now, r);
                }
            }
            HostStage::Listed {
                session_id,
                token,
                interval,
                next_heartbeat,
                last_heartbeat,
                heartbeat_id,
                unacked,
                update,
            } => {
                if now >= *next_heartbeat {
                    if *unacked >= HEARTBEATS_UNANSWERED && !h.warned {
                        h.warned = true;
                        self.events.push_back(LobbyEvent::CoordinatorUnreachable);
                    }
                    *unacked += 1;
                    *heartbeat_id = self.outbox.id();
                    *last_heartbeat = Some(now);
                    *next_heartbeat = now + *interval;
                    let c = h.listing.capacity;
                    self.outbox.send(
                        *heartbeat_id,
                        Message::Heartbeat {
                            session_id: *session_id,
                            token: *token,
                            current_pilots: c.current_pilots,
                            current_spectators: c.current_spectators,
                        },
                    );
                }
                if let Some(u) = update {
                    if now >= u.next {
                        if u.sent >= self.cfg.attempts {
                            *update = None;
                            if !h.warned {
                                h.warned = true;
                                self.events.push_back(LobbyEvent::CoordinatorUnreachable);
                            }
                        } else {
                            self.outbox.send_request(now, u);
                        }
                    }
                }
            }
            HostStage::Failed => {}
        }
    }

    fn drive_punching(&mut self, now: Instant) {
        let cfg = &self.cfg;
        for p in &mut self.punching {
            let punch = Punch {
                kind: PunchKind::Punch,
                session_id: p.session_id,
                nonce: p.nonce,
            };
            if !p.openers_sent {
                p.openers_sent = true;
                for _ in 0..cfg.opener_count {
                    self.outbox.punch(p.peer, punch, Some(cfg.opener_ttl));
                }
            }
            if now >= p.give_up {
                p.gave_up = true;
            } else if now >= p.next_punch {
                self.outbox.punch(p.peer, punch, None);
                p.next_punch += cfg.punch_interval;
                if p.next_punch <= now {
                    p.next_punch = now + cfg.punch_interval;
                }
            }
        }
        self.punching.retain(|p| now < p.forget_at);
    }

    fn drive_joining(&mut self, now: Instant) {
        let Some(j) = self.joining.as_mut() else {
            return;
        };
        let failure = match &mut j.stage {
            JoinStage::Introducing(r) => {
                if now < r.next {
                    return;
                }
                if r.sent >= self.cfg.attempts {
                    Some(JoinFailure::CoordinatorUnreachable)
                } else {
                    self.outbox.send_request(now, r);
                    None
                }
            }
            JoinStage::Punching { nonce } => {
                let nonce = *nonce;
                let expired = self
                    .punching
                    .iter()
                    .find(|p| p.nonce == nonce)
                    .is_none_or(|p| p.gave_up);
                if expired {
                    let msg = Message::RelayRequest {
                        session_id: j.session_id,
                        nonce,
                    };
                    let req = self.outbox.request(now, msg);
                    j.stage = JoinStage::Relaying { nonce, req };
                }
                None
            }
            JoinStage::Relaying { req, nonce } => {
                if now < req.next {
                    return;
                }
                if req.sent >= self.cfg.attempts {
                    let report = Message::Report {
                        session_id: j.session_id,
                        nonce: *nonce,
                        outcome: JoinOutcome::Failed,
                    };
                    self.outbox.send(0, report);
                    Some(JoinFailure::RelayUnreachable)
                } else {
                    self.outbox.send_request(now, req);
                    None
                }
            }
        };
        if let Some(reason) = failure {
            if let Some(j) = self.joining.take() {
                self.events.push_back(LobbyEvent::JoinFailed {
                    session_id: j.session_id,
                    reason,
                });
            }
        }
    }
}
