//! The network thread: owns laminar's connection manager on our socket,
//! feeds the sans-IO core, and publishes what the game reads. It sleeps
//! until a datagram, a frame from the game, a command, or the core's next
//! deadline, whichever comes first.
//!
//! With a coordinator configured it also drives the session's
//! [`LobbyClient`] (kept in the [`ChannelSocket`]): a host's listing and
//! heartbeats, kept current as players come and go; a joiner's
//! introduction, punching and relay fallback, after which its client core
//! starts towards the path found.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use laminar::{ConnectionManager, Packet, SocketEvent, VirtualConnection};

use super::queue::QueueTx;
use super::socket::{Arrival, ChannelSocket, Intake, Waker, MAX_DATAGRAM, RECEIVE_BUDGET};
use super::view::RoomView;
use super::{spsc, triple};
use super::{CoreCounters, RoomSnapshot, SessionState, Shared};
use crate::lobby::wire::PeerRole;
use crate::lobby::{family, JoinFailure, Listing, LobbyClient, LobbyEvent, Received, SessionId};
use crate::proto::room::{ActorNr, GroupChange, Props, Raise, RoomSettings, SetProps};
use crate::proto::wire::is_handshake;
use crate::proto::{PilotFrame, Role};
use crate::session::{
    Client, ClientConfig, ClientState, CloseReason, Event, Host, SessionError, Transmit,
};
use crate::track::transfer::{TrackSource, TrackTarget};

/// What the game asks of the network thread.
pub(crate) enum Command {
    Raise(Raise),
    /// Change properties; with `mine`, our own (the target is filled in
    /// here, where our actor number is known).
    SetProps {
        req: SetProps,
        mine: bool,
    },
    Groups(GroupChange),
    Follow(Option<ActorNr>),
    /// Serve a track (or stop). Applied only if `generation` is still the
    /// newest serve request; `served_from` is the folder a helper hashed,
    /// reported back as `TrackReady` once the room announces it.
    ServeTrack {
        source: Option<Box<dyn TrackSource>>,
        allow_download: bool,
        generation: u64,
        served_from: Option<PathBuf>,
    },
    /// A folder the helper could not hash: reported as `TrackFailed`.
    TrackUnavailable {
        generation: u64,
        reason: String,
    },
    /// Change the room's lobby listing (host with a coordinator).
    UpdateListing(Box<Listing>),
    Leave,
}

impl Command {
    /// The request's name, for the failure the game polls.
    fn what(&self) -> &'static str {
        match self {
            Command::Raise(_) => "raise_event",
            Command::SetProps { .. } => "set_properties",
            Command::Groups(_) => "change_groups",
            Command::Follow(_) => "follow",
            Command::ServeTrack { .. } | Command::TrackUnavailable { .. } => "serve_track",
            Command::UpdateListing(_) => "update_listing",
            Command::Leave => "leave",
        }
    }
}

// By hand: a boxed track source has no Debug, and a payload is shown by size.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Raise(r) => f
                .debug_struct("Raise")
                .field("code", &r.code)
                .field("len", &r.payload.len())
                .finish(),
            Command::SetProps { req, mine } => f
                .debug_struct("SetProps")
                .field("request", &req.request)
                .field("target", &req.target)
                .field("mine", mine)
                .finish(),
            Command::Groups(g) => f.debug_tuple("Groups").field(g).finish(),
            Command::Follow(a) => f.debug_tuple("Follow").field(a).finish(),
            Command::ServeTrack {
                source,
                allow_download,
                generation,
                served_from,
            } => f
                .debug_struct("ServeTrack")
                .field(
                    "track_hash",
                    &source
                        .as_ref()
                        .map(|s| s.manifest().track_hash().to_string()),
                )
                .field("allow_download", allow_download)
                .field("generation", generation)
                .field("served_from", served_from)
                .finish(),
            Command::TrackUnavailable { generation, reason } => f
                .debug_struct("TrackUnavailable")
                .field("generation", generation)
                .field("reason", reason)
                .finish(),
            Command::UpdateListing(l) => f.debug_tuple("UpdateListing").field(l).finish(),
            Command::Leave => f.write_str("Leave"),
        }
    }
}

/// A joiner waiting for the coordinator to find a path to a listed room;
/// its client core starts once one is found.
pub(crate) struct Introduction {
    pub(crate) cfg: ClientConfig,
    pub(crate) target: Option<Box<dyn TrackTarget>>,
    pub(crate) session_id: SessionId,
    /// Set once the introduction failed or was abandoned.
    pub(crate) closed: Option<CloseReason>,
}

pub(crate) enum Core {
    Host(Box<Host>),
    Client(Box<Client>),
    Introducing(Box<Introduction>),
}

impl Core {
    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), crate::proto::WireError> {
        match self {
            Core::Host(h) => h.handle_datagram(now, from, data),
            Core::Client(c) => c.handle_datagram(now, from, data),
            Core::Introducing(_) => Err(crate::proto::WireError::Invalid(
                "datagram before the introduction to the host",
            )),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Core::Host(h) => h.handle_timeout(now),
            Core::Client(c) => c.handle_timeout(now),
            Core::Introducing(_) => {}
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        match self {
            Core::Host(h) => h.poll_transmit(now, buf),
            Core::Client(c) => c.poll_transmit(now, buf),
            Core::Introducing(_) => None,
        }
    }
    fn poll_event(&mut self) -> Option<Event> {
        match self {
            Core::Host(h) => h.poll_event(),
            Core::Client(c) => c.poll_event(),
            Core::Introducing(_) => None,
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Core::Host(h) => h.poll_timeout(),
            Core::Client(c) => c.poll_timeout(),
            Core::Introducing(_) => None,
        }
    }
    /// The next instant a frame pushed now would go out.
    fn push_slot(&self, now: Instant) -> Option<Instant> {
        match self {
            Core::Host(h) => Some(h.push_slot(now)),
            Core::Client(c) => c.push_slot(now),
            Core::Introducing(_) => None,
        }
    }
    fn push_local_frame(&mut self, now: Instant, f: PilotFrame) {
        match self {
            Core::Host(h) => h.push_local_frame(now, f),
            Core::Client(c) => c.push_local_frame(f),
            // Nothing to send it to yet; a newer frame will follow.
            Core::Introducing(_) => {}
        }
    }
    fn apply(&mut self, now: Instant, cmd: Command) -> Result<(), SessionError> {
        match (self, cmd) {
            (Core::Host(h), Command::Raise(ev)) => h.raise(ev),
            (Core::Client(c), Command::Raise(ev)) => c.raise(ev),
            (Core::Host(h), Command::SetProps { mut req, mine }) => {
                if mine {
                    req.target = crate::session::HOST_ACTOR;
                }
                h.set_props(req)
            }
            (Core::Client(c), Command::SetProps { mut req, mine }) => {
                if mine {
                    req.target = c.actor();
                }
                c.set_props(req)
            }
            (Core::Host(h), Command::Groups(g)) => {
                h.change_groups(&g);
                Ok(())
            }
            (Core::Client(c), Command::Groups(g)) => c.change_groups(g),
            (Core::Host(_), Command::Follow(_)) => Ok(()),
            (Core::Client(c), Command::Follow(a)) => c.follow(a),
            (
                Core::Host(h),
                Command::ServeTrack {
                    source,
                    allow_download,
                    ..
                },
            ) => h.serve_track(source, allow_download),
            (Core::Client(_), Command::ServeTrack { .. }) => Err(SessionError::NotHost),
            // Handled by the driver before it gets here.
            (_, Command::TrackUnavailable { .. } | Command::UpdateListing(_)) => Ok(()),
            (Core::Host(h), Command::Leave) => {
                h.close(now);
                Ok(())
            }
            (Core::Client(c), Command::Leave) => {
                c.leave(now);
                Ok(())
            }
            // The driver cancels the introduction; its end closes the core.
            (Core::Introducing(_), Command::Leave) => Ok(()),
            (Core::Introducing(_), Command::ServeTrack { .. }) => Err(SessionError::NotHost),
            (Core::Introducing(_), _) => Err(SessionError::NotConnected),
        }
    }
    fn state(&self) -> SessionState {
        match self {
            Core::Host(h) if h.is_closed() => SessionState::Closed(CloseReason::Left),
            Core::Host(_) => SessionState::Connected,
            Core::Client(c) => match c.state() {
                ClientState::Connecting => SessionState::Connecting,
                ClientState::Connected => SessionState::Connected,
                ClientState::Closed(r) => SessionState::Closed(r),
            },
            Core::Introducing(i) => match i.closed {
                Some(r) => SessionState::Closed(r),
                None => SessionState::Connecting,
            },
        }
    }
    /// True once nothing more needs to go out: the thread may end.
    fn finished(&self, closing_since: Option<Instant>, now: Instant) -> bool {
        match self {
            Core::Host(h) => {
                h.is_closed()
                    && (!h.is_flushing()
                        || closing_since.is_some_and(|t| now >= t + Duration::from_secs(1)))
            }
            Core::Client(c) => matches!(c.state(), ClientState::Closed(_)),
            Core::Introducing(i) => i.closed.is_some(),
        }
    }
}

pub(crate) struct Driver {
    pub(crate) core: Core,
    pub(crate) manager: ConnectionManager<ChannelSocket, VirtualConnection>,
    /// Our receiving side of the socket.
    pub(crate) intake: Intake,
    /// What other threads wake us with (we re-arm it before looking for
    /// their work).
    pub(crate) waker: Arc<Waker>,
    /// The game's pushes: drained at each send slot while it flies; asks
    /// to be woken only while it does not.
    pub(crate) push_rx: spsc::Consumer<PilotFrame>,
    pub(crate) cmd_rx: Receiver<Command>,
    pub(crate) events_tx: QueueTx<Event>,
    /// Requests that failed here, in words, for `Session::poll_request_failure`.
    pub(crate) failures_tx: Sender<String>,
    pub(crate) serve_generation: Arc<AtomicU64>,
    /// Events of our own making, sent after the core's of the same round
    /// (a served track is reported after its announcement).
    pub(crate) late_events: Vec<Event>,
    pub(crate) view: triple::Writer<RoomView>,
    pub(crate) master: Box<RoomView>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) stop: Arc<AtomicBool>,
    /// What the lobby client reports, for `Session::poll_lobby_event`.
    pub(crate) lobby_tx: QueueTx<LobbyEvent>,
    /// The core's counters, published with the link statistics.
    pub(crate) core_counters: Arc<CoreCounters>,
    /// Bumped when who may reach us changed outside the core's membership
    /// (a joiner's path to its host was found).
    pub(crate) known_epoch: u64,
    /// The host's peers as last let through, to notice departures.
    pub(crate) last_peers: HashSet<SocketAddr>,
}

/// Seated pilots (the host included) and spectators.
fn occupancy(h: &Host) -> (u8, u8) {
    let players = h.players();
    let pilots = players.iter().filter(|p| p.role == Role::Pilot).count();
    (pilots as u8, (players.len() - pilots) as u8)
}

/// A relayed joiner's track download gets 1/this of the relay's cap.
const RELAY_BULK_SHARE: u64 = 4;

const STATS_EVERY: Duration = Duration::from_millis(100);
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// The game counts as flying (we wake at every send slot to take its
/// newest push, and it never has to wake us) this long after its last
/// push; after that we sleep until the next push wakes us.
const FLYING_GRACE: Duration = Duration::from_millis(250);

impl Driver {
    pub(crate) fn run(mut self) {
        let mut buf = [0u8; 1500];
        let mut rx = [0u8; MAX_DATAGRAM];
        let mut membership_seen = u64::MAX;
        let mut next_stats = Instant::now();
        let mut closing_since: Option<Instant> = None;
        let mut snapshot_dirty = true;
        let mut last_push: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if self.stop.load(Ordering::Relaxed) && closing_since.is_none() {
                self.apply(now, Command::Leave);
            }
            // Before looking: what another thread asks after this wakes us.
            self.waker.rearm();
            while let Some(f) = self.push_rx.pop() {
                self.core.push_local_frame(now, f);
                last_push = Some(now);
            }
            loop {
                match self.cmd_rx.try_recv() {
                    Ok(cmd) => self.apply(now, cmd),
                    Err(TryRecvError::Empty) => break,
                    // The game dropped its handle: close the session.
                    Err(TryRecvError::Disconnected) => {
                        self.stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
            if matches!(self.core.state(), SessionState::Closed(_)) || self.is_leaving() {
                closing_since.get_or_insert(now);
            }

            // A bounded number per round, so a flood cannot hold up the tick.
            self.intake.start_draining();
            for _ in 0..RECEIVE_BUDGET {
                match self.intake.next(&mut rx) {
                    Arrival::Datagram { len, from } => self.intake(now, from, &rx[..len]),
                    Arrival::Skipped => {}
                    Arrival::Empty => break,
                }
            }
            self.manager.manual_poll(now);
            while let Ok(ev) = self.manager.event_receiver().try_recv() {
                match ev {
                    SocketEvent::Packet(p) => {
                        if let Err(e) = self.core.handle_datagram(now, p.addr(), p.payload()) {
                            tracing::trace!(from = %p.addr(), "dropped datagram: {e}");
                        }
                    }
                    SocketEvent::Connect(a) => tracing::trace!(%a, "transport connection"),
                    SocketEvent::Timeout(a) | SocketEvent::Disconnect(a) => {
                        tracing::trace!(%a, "transport connection idle")
                    }
                }
            }
            self.core.handle_timeout(now);
            self.drive_lobby(now);
            // Before anything goes out: a peer seated this round may answer
            // our welcome within microseconds, and the filter must already
            // let that answer through. (Dropped, it would be lost for good:
            // its reliable fragments are taken as acknowledged by the ack
            // header our link sends before it has heard anything.)
            self.sync_known(&mut membership_seen);
            while let Some(t) = self.core.poll_transmit(now, &mut buf) {
                let bytes = &buf[..t.len];
                if is_handshake(bytes) {
                    if let Err(e) = self.manager.socket_mut().send_raw(t.to, bytes) {
                        tracing::debug!(to = %t.to, "handshake not sent: {e}");
                    }
                } else {
                    let packet = Packet::unreliable(t.to, bytes.to_vec());
                    // The manager holds the receiving end for as long as it lives.
                    let _ = self.manager.event_sender().send(packet);
                }
            }
            self.manager.manual_poll(now);

            let mut view_dirty = false;
            while let Some(ev) = self.core.poll_event() {
                match ev {
                    Event::Frame {
                        actor,
                        frame,
                        host_time_us,
                    } => {
                        self.master.push_frame(actor, frame, host_time_us, now);
                        view_dirty = true;
                    }
                    other => {
                        if let Event::PlayerLeft { actor, .. } = &other {
                            self.master.remove(*actor);
                            view_dirty = true;
                        }
                        if matches!(other, Event::PlayerJoined(_) | Event::PlayerLeft { .. }) {
                            self.update_occupancy(now);
                        }
                        snapshot_dirty = true;
                        // The session handle holds the receiver; if the game
                        // dropped it we are shutting down anyway.
                        let _ = self.events_tx.send(other);
                    }
                }
            }
            for ev in self.late_events.drain(..) {
                snapshot_dirty = true;
                let _ = self.events_tx.send(ev);
            }
            if now >= next_stats {
                self.refresh_stats();
                next_stats = now + STATS_EVERY;
                view_dirty = true;
            }
            if view_dirty {
                self.view.publish_from(&self.master);
            }
            if snapshot_dirty {
                self.publish_snapshot();
                snapshot_dirty = false;
            }
            self.sync_known(&mut membership_seen);
            self.drive_lobby(now);
            if self.core.finished(closing_since, now) {
                self.publish_snapshot();
                break;
            }

            let lobby_due = self
                .manager
                .socket_mut()
                .lobby
                .as_ref()
                .and_then(LobbyClient::poll_timeout);
            let flying = last_push.is_some_and(|t| now < t + FLYING_GRACE);
            let push_due = if flying {
                self.core.push_slot(now)
            } else {
                None
            };
            let deadline = self
                .core
                .poll_timeout()
                .into_iter()
                .chain(lobby_due)
                .chain(push_due)
                .min()
                .unwrap_or(now + IDLE_WAKE)
                .min(now + IDLE_WAKE);
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() || (!flying && !self.push_rx.park()) {
                continue;
            }
            // A datagram, a wake-up from another thread, or the deadline.
            if let Arrival::Datagram { len, from } = self.intake.wait(&mut rx, wait) {
                self.intake(Instant::now(), from, &rx[..len]);
            }
            self.push_rx.unpark();
        }
        tracing::debug!("network thread finished");
    }

    /// Carries out one request from the game; a failure is logged and
    /// queued for `Session::poll_request_failure`.
    fn apply(&mut self, now: Instant, mut cmd: Command) {
        let what = cmd.what();
        let mut served_from = None;
        let request = match &cmd {
            Command::SetProps { req, .. } => Some(req.request),
            _ => None,
        };
        match cmd {
            Command::ServeTrack { generation, .. }
            | Command::TrackUnavailable { generation, .. }
                if generation != self.serve_generation.load(Ordering::Acquire) =>
            {
                tracing::debug!(generation, "a superseded serve request was dropped");
                return;
            }
            Command::TrackUnavailable { reason, .. } => {
                tracing::warn!("{reason}");
                self.late_events.push(Event::TrackFailed { reason });
                return;
            }
            Command::ServeTrack {
                served_from: ref mut from,
                ..
            } => served_from = from.take(),
            Command::UpdateListing(mut listing) => {
                // The session checked it, and that we host a listed room.
                if let (Core::Host(h), Some(lobby)) =
                    (&self.core, self.manager.socket_mut().lobby.as_mut())
                {
                    let (pilots, spectators) = occupancy(h);
                    listing.capacity.current_pilots = pilots;
                    listing.capacity.current_spectators = spectators;
                    lobby.update_listing(now, *listing);
                }
                return;
            }
            Command::Leave => {
                if let Some(lobby) = self.manager.socket_mut().lobby.as_mut() {
                    // A host's room leaves the list at once rather than
                    // after missed heartbeats; a joiner stops punching.
                    lobby.unhost(now);
                    lobby.cancel_join();
                }
            }
            _ => {}
        }
        match self.core.apply(now, cmd) {
            Ok(()) => {
                if let Some(path) = served_from {
                    self.late_events.push(Event::TrackReady {
                        path,
                        downloaded: false,
                    });
                }
            }
            Err(e) => {
                tracing::warn!("request from the game failed: {what}: {e}");
                match request {
                    // The game tells its property requests apart by id.
                    Some(request) => self.late_events.push(Event::PropsRefused {
                        request,
                        message: e.to_string(),
                    }),
                    // Full: the game is not polling failures; the log has it.
                    None => {
                        let _ = self.failures_tx.try_send(format!("{what}: {e}"));
                    }
                }
            }
        }
    }

    /// Tells the filter who may reach us without the stranger limit
    /// (a host's peers, a joiner's host, the coordinator), when that changed
    /// since `seen`. A host also stops keeping NAT paths open to peers that
    /// are gone.
    fn sync_known(&mut self, seen: &mut u64) {
        let version = match &self.core {
            Core::Host(h) => h.membership_version(),
            _ => 0,
        }
        .wrapping_add(self.known_epoch << 32);
        if version == *seen {
            return;
        }
        *seen = version;
        let mut addrs: HashSet<SocketAddr> = match &self.core {
            Core::Host(h) => h.peer_addrs().collect(),
            Core::Client(c) => std::iter::once(c.host_addr()).collect(),
            Core::Introducing(_) => HashSet::new(),
        };
        if let Some(lobby) = self.manager.socket_mut().lobby.as_mut() {
            for gone in self.last_peers.difference(&addrs) {
                lobby.forget_peer(*gone);
            }
        }
        self.last_peers.clone_from(&addrs);
        if let Some(lobby) = &self.manager.socket_mut().lobby {
            addrs.insert(lobby.config().coordinator);
        }
        self.intake.known = addrs;
    }

    /// A host's listing shows who is seated now (sent with the next
    /// heartbeat, at most one a second).
    fn update_occupancy(&mut self, now: Instant) {
        let (Core::Host(h), Some(lobby)) = (&self.core, self.manager.socket_mut().lobby.as_mut())
        else {
            return;
        };
        let (pilots, spectators) = occupancy(h);
        lobby.set_occupancy(now, pilots, spectators);
    }

    /// Runs the lobby client's timers, acts on what it reports, and sends
    /// what it queued.
    fn drive_lobby(&mut self, now: Instant) {
        let Some(lobby) = self.manager.socket_mut().lobby.as_mut() else {
            return;
        };
        if lobby.poll_timeout().is_some_and(|t| now >= t) {
            lobby.handle_timeout(now);
        }
        while let Some(ev) = self
            .manager
            .socket_mut()
            .lobby
            .as_mut()
            .and_then(LobbyClient::poll_event)
        {
            self.on_lobby_event(now, &ev);
            // The session handle holds the receiver; if the game dropped
            // it we are shutting down anyway.
            let _ = self.lobby_tx.send(ev);
        }
        self.manager.socket_mut().flush_lobby();
    }

    fn on_lobby_event(&mut self, now: Instant, ev: &LobbyEvent) {
        if let (Core::Host(h), LobbyEvent::Connected { peer, path, .. }) = (&mut self.core, ev) {
            tracing::info!(%peer, ?path, "lobby: path to a joiner");
            let cap = self
                .manager
                .socket_mut()
                .lobby
                .as_ref()
                .and_then(|l| l.relay_cap(*peer));
            if let Some(cap) = cap {
                // The relay drops whatever exceeds its cap, frames too:
                // the track may take a quarter of it.
                h.limit_track_rate(now, *peer, cap / RELAY_BULK_SHARE);
            }
        }
        let Core::Introducing(intro) = &mut self.core else {
            return;
        };
        match ev {
            LobbyEvent::Connected {
                session_id,
                peer,
                path,
                role: PeerRole::Joiner,
            } if *session_id == intro.session_id && intro.closed.is_none() => {
                tracing::info!(%peer, ?path, "lobby: path to the host found, joining");
                let mut cfg = intro.cfg.clone();
                cfg.host = *peer;
                // The listing's key, pinned: only that host is joined.
                let pinned = self.manager.socket_mut().lobby.as_ref();
                if let Some(key) = pinned.and_then(LobbyClient::introduced_host_key) {
                    cfg.host_key = Some(key);
                }
                let target = intro.target.take();
                let mut client = Client::new(cfg, now);
                if let Some(t) = target {
                    client.set_track_target(t);
                }
                self.core = Core::Client(Box::new(client));
                self.known_epoch += 1;
            }
            LobbyEvent::JoinFailed { session_id, reason } if *session_id == intro.session_id => {
                let close = match reason {
                    JoinFailure::Cancelled => CloseReason::Left,
                    JoinFailure::Refused { .. } => CloseReason::Refused,
                    _ => CloseReason::TimedOut,
                };
                tracing::warn!("lobby: could not join: {reason}");
                if intro.closed.is_none() {
                    intro.closed = Some(close);
                    let _ = self.events_tx.send(Event::Closed { reason: close });
                }
            }
            _ => {}
        }
    }

    /// Lobby traffic goes to the lobby client (a relayed game datagram
    /// comes back out of it as if from its peer); the rest is delivered.
    fn intake(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if family(data).is_none() {
            return self.deliver(now, from, data);
        }
        let Some(lobby) = self.manager.socket_mut().lobby.as_mut() else {
            tracing::trace!(%from, "lobby datagram without a coordinator configured");
            return;
        };
        match lobby.handle_datagram(now, from, data) {
            Ok(Received::Consumed) => {}
            Ok(Received::Relayed { peer, inner }) => self.deliver(now, peer, inner),
            Err(e) => tracing::trace!(%from, "dropped lobby datagram: {e}"),
        }
    }

    /// Handshakes go to the core directly; everything else through laminar.
    fn deliver(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if is_handshake(data) {
            if let Err(e) = self.core.handle_datagram(now, from, data) {
                tracing::trace!(%from, "dropped handshake: {e}");
            }
        } else {
            self.manager.socket_mut().stash(from, data);
        }
    }

    fn is_leaving(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn refresh_stats(&mut self) {
        self.intake.refresh_drops();
        let c = &self.core_counters;
        let set = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        match &self.core {
            Core::Host(h) => {
                set(&c.rejected_datagrams, h.rejected_datagrams);
                set(&c.unsealed_dropped, h.unsealed_dropped);
                set(&c.flood_refused, h.flood_refused);
                set(&c.flooders_dropped, h.flooders_dropped);
            }
            Core::Client(cl) => {
                set(&c.rejected_datagrams, cl.rejected_datagrams);
                set(&c.unsealed_dropped, cl.unsealed_dropped);
                set(&c.refused_from_host, cl.refused_from_host);
            }
            Core::Introducing(_) => {}
        }
        let m = &mut self.master;
        match &self.core {
            Core::Host(h) => {
                let stats = h.stats();
                m.stats_len = stats.len().min(m.stats.len());
                m.stats[..m.stats_len].copy_from_slice(&stats[..m.stats_len]);
                m.clock_offset_us = 0;
                m.clock_valid = true;
            }
            Core::Client(c) => {
                m.stats[0] = c.stats();
                m.stats_len = 1;
                let est = c.clock();
                m.clock_offset_us = est.offset_us;
                m.clock_valid = est.valid;
                m.default_delay_us = c
                    .snapshot_hz()
                    .map(|hz| 2 * crate::session::interval_for(hz).as_micros() as u64);
            }
            Core::Introducing(_) => m.stats_len = 0,
        }
    }

    fn publish_snapshot(&self) {
        let snap = match &self.core {
            Core::Host(h) => RoomSnapshot {
                state: self.core.state(),
                actor: crate::session::HOST_ACTOR,
                role: Role::Pilot,
                players: h.players(),
                room: h.room_props().clone(),
                settings: h.room().settings,
                master: h.room().master(),
            },
            Core::Client(c) => RoomSnapshot {
                state: self.core.state(),
                actor: c.actor(),
                role: c.role(),
                players: c.players(),
                room: c.room_props().clone(),
                settings: c.room().settings,
                master: c.room().master(),
            },
            Core::Introducing(i) => RoomSnapshot {
                state: self.core.state(),
                actor: 0,
                role: i.cfg.role,
                players: Vec::new(),
                room: Props::new(),
                settings: RoomSettings::default(),
                master: 0,
            },
        };
        *self.shared.snapshot.lock() = Arc::new(snap);
    }
}
