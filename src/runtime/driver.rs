//! The network thread: owns laminar's connection manager on our socket,
//! feeds the sans-IO core, and publishes what the game reads. It sleeps
//! until a datagram, a frame from the game, a command, or the core's next
//! deadline, whichever comes first.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use laminar::{ConnectionManager, Packet, SocketEvent, VirtualConnection};

use super::socket::{ChannelSocket, Inbound, KnownPeers, RECEIVE_BUDGET};
use super::triple;
use super::view::RoomView;
use super::{RoomSnapshot, SessionState, Shared};
use crate::proto::wire::is_handshake;
use crate::proto::{EventTarget, PilotFrame, Role};
use crate::session::{Client, ClientState, CloseReason, Event, Host, SessionError, Transmit};
use crate::track::transfer::TrackSource;

/// What the game asks of the network thread.
pub(crate) enum Command {
    Event {
        code: u8,
        target: EventTarget,
        payload: Vec<u8>,
    },
    RoomProps(BTreeMap<String, Option<String>>),
    PlayerProps(BTreeMap<String, Option<String>>),
    Follow(Option<u16>),
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
    Leave,
}

impl Command {
    /// The request's name, for the failure the game polls.
    fn what(&self) -> &'static str {
        match self {
            Command::Event { .. } => "send_event",
            Command::RoomProps(_) => "set_room_props",
            Command::PlayerProps(_) => "set_player_props",
            Command::Follow(_) => "follow",
            Command::ServeTrack { .. } | Command::TrackUnavailable { .. } => "serve_track",
            Command::Leave => "leave",
        }
    }
}

// By hand: a boxed track source has no Debug, and a payload is shown by size.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Event {
                code,
                target,
                payload,
            } => f
                .debug_struct("Event")
                .field("code", code)
                .field("target", target)
                .field("payload_len", &payload.len())
                .finish(),
            Command::RoomProps(c) => f.debug_tuple("RoomProps").field(c).finish(),
            Command::PlayerProps(c) => f.debug_tuple("PlayerProps").field(c).finish(),
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
            Command::Leave => f.write_str("Leave"),
        }
    }
}

pub(crate) enum Core {
    Host(Box<Host>),
    Client(Box<Client>),
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
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Core::Host(h) => h.handle_timeout(now),
            Core::Client(c) => c.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        match self {
            Core::Host(h) => h.poll_transmit(now, buf),
            Core::Client(c) => c.poll_transmit(now, buf),
        }
    }
    fn poll_event(&mut self) -> Option<Event> {
        match self {
            Core::Host(h) => h.poll_event(),
            Core::Client(c) => c.poll_event(),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Core::Host(h) => h.poll_timeout(),
            Core::Client(c) => c.poll_timeout(),
        }
    }
    fn push_local_frame(&mut self, now: Instant, f: PilotFrame) {
        match self {
            Core::Host(h) => h.push_local_frame(now, f),
            Core::Client(c) => c.push_local_frame(f),
        }
    }
    fn apply(&mut self, now: Instant, cmd: Command) -> Result<(), SessionError> {
        match (self, cmd) {
            (
                Core::Host(h),
                Command::Event {
                    code,
                    target,
                    payload,
                },
            ) => h.send_event(code, target, &payload),
            (
                Core::Client(c),
                Command::Event {
                    code,
                    target,
                    payload,
                },
            ) => c.send_event(code, target, &payload),
            (Core::Host(h), Command::RoomProps(ch)) => h.set_room_props(ch),
            (Core::Client(_), Command::RoomProps(_)) => Err(SessionError::NotHost),
            (Core::Host(h), Command::PlayerProps(ch)) => h.set_player_props(ch),
            (Core::Client(c), Command::PlayerProps(ch)) => c.set_player_props(ch),
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
            (_, Command::TrackUnavailable { .. }) => Ok(()),
            (Core::Host(h), Command::Leave) => {
                h.close(now);
                Ok(())
            }
            (Core::Client(c), Command::Leave) => {
                c.leave(now);
                Ok(())
            }
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
        }
    }
}

pub(crate) struct Driver {
    pub(crate) core: Core,
    pub(crate) manager: ConnectionManager<ChannelSocket, VirtualConnection>,
    pub(crate) priority_rx: Receiver<Inbound>,
    pub(crate) stranger_rx: Receiver<Inbound>,
    pub(crate) push_rx: Receiver<PilotFrame>,
    pub(crate) cmd_rx: Receiver<Command>,
    pub(crate) events_tx: Sender<Event>,
    /// Requests that failed here, in words, for `Session::poll_request_failure`.
    pub(crate) failures_tx: Sender<String>,
    pub(crate) serve_generation: Arc<AtomicU64>,
    /// Events of our own making, sent after the core's of the same round
    /// (a served track is reported after its announcement).
    pub(crate) late_events: Vec<Event>,
    pub(crate) view: triple::Writer<RoomView>,
    pub(crate) master: Box<RoomView>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) known: KnownPeers,
    pub(crate) stop: Arc<AtomicBool>,
}

const STATS_EVERY: Duration = Duration::from_millis(100);
const IDLE_WAKE: Duration = Duration::from_millis(100);

impl Driver {
    pub(crate) fn run(mut self) {
        let mut buf = [0u8; 1500];
        let mut membership_seen = u64::MAX;
        let mut next_stats = Instant::now();
        let mut closing_since: Option<Instant> = None;
        let mut snapshot_dirty = true;
        loop {
            let now = Instant::now();
            if self.stop.load(Ordering::Relaxed) && closing_since.is_none() {
                self.apply(now, Command::Leave);
            }
            while let Ok(f) = self.push_rx.try_recv() {
                self.core.push_local_frame(now, f);
            }
            while let Ok(cmd) = self.cmd_rx.try_recv() {
                self.apply(now, cmd);
            }
            if matches!(self.core.state(), SessionState::Closed(_)) || self.is_leaving() {
                closing_since.get_or_insert(now);
            }

            // Seated peers first, then strangers; a bounded number per round
            // so a flood cannot hold up the tick.
            for _ in 0..RECEIVE_BUDGET {
                let Ok(d) = self
                    .priority_rx
                    .try_recv()
                    .or_else(|_| self.stranger_rx.try_recv())
                else {
                    break;
                };
                self.intake(now, d);
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
            // Before anything goes out: a peer seated this round may answer
            // our welcome within microseconds, and the reader must already
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
                        self.master.push_frame(actor, frame, host_time_us);
                        view_dirty = true;
                    }
                    other => {
                        if let Event::PlayerLeft { actor, .. } = &other {
                            self.master.remove(*actor);
                            view_dirty = true;
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
            if self.core.finished(closing_since, now) {
                self.publish_snapshot();
                break;
            }

            let deadline = self
                .core
                .poll_timeout()
                .unwrap_or(now + IDLE_WAKE)
                .min(now + IDLE_WAKE);
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                continue;
            }
            select! {
                recv(self.priority_rx) -> m => if let Ok(d) = m { self.intake(Instant::now(), d) },
                recv(self.stranger_rx) -> m => if let Ok(d) = m { self.intake(Instant::now(), d) },
                recv(self.push_rx) -> m => if let Ok(f) = m { self.core.push_local_frame(Instant::now(), f) },
                recv(self.cmd_rx) -> m => match m {
                    Ok(cmd) => self.apply(Instant::now(), cmd),
                    // The game dropped its handle: close the session.
                    Err(_) => self.stop.store(true, Ordering::Relaxed),
                },
                default(wait) => {},
            }
        }
        tracing::debug!("network thread finished");
    }

    /// Carries out one request from the game; a failure is logged and
    /// queued for `Session::poll_request_failure`.
    fn apply(&mut self, now: Instant, mut cmd: Command) {
        let what = cmd.what();
        let mut served_from = None;
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
                // Full: the game is not polling failures; the log has it.
                let _ = self.failures_tx.try_send(format!("{what}: {e}"));
            }
        }
    }

    /// Tells the reader thread who is seated (a host's peers), when that
    /// changed since `seen`.
    fn sync_known(&self, seen: &mut u64) {
        if let Core::Host(h) = &self.core {
            if h.membership_version() != *seen {
                *seen = h.membership_version();
                let addrs: HashSet<SocketAddr> = h.peer_addrs().collect();
                *self.known.write() = addrs;
            }
        }
    }

    /// Handshakes go to the core directly; everything else through laminar.
    fn intake(&mut self, now: Instant, d: Inbound) {
        if is_handshake(&d.data) {
            if let Err(e) = self.core.handle_datagram(now, d.from, &d.data) {
                tracing::trace!(from = %d.from, "dropped handshake: {e}");
            }
        } else {
            self.manager.socket_mut().stash(d);
        }
    }

    fn is_leaving(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn refresh_stats(&mut self) {
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
            }
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
            },
            Core::Client(c) => RoomSnapshot {
                state: self.core.state(),
                actor: c.actor(),
                role: c.role(),
                players: c.players().values().cloned().collect(),
                room: c.room_props().clone(),
            },
        };
        *self.shared.snapshot.lock() = Arc::new(snap);
    }
}
