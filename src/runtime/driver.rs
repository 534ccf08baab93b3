//! The network thread: owns laminar's connection manager on our socket,
//! feeds the sans-IO core, and publishes what the game reads. It sleeps
//! until a datagram, a frame from the game, a command, or the core's next
//! deadline, whichever comes first.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// What the game asks of the network thread.
#[derive(Debug)]
pub(crate) enum Command {
    Event {
        code: u8,
        target: EventTarget,
        payload: Vec<u8>,
    },
    RoomProps(BTreeMap<String, Option<String>>),
    PlayerProps(BTreeMap<String, Option<String>>),
    Follow(Option<u16>),
    Leave,
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
                let _ = self.core.apply(now, Command::Leave);
            }
            while let Ok(f) = self.push_rx.try_recv() {
                self.core.push_local_frame(now, f);
            }
            while let Ok(cmd) = self.cmd_rx.try_recv() {
                if let Err(e) = self.core.apply(now, cmd) {
                    tracing::warn!("request from the game failed: {e}");
                }
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
            if let Core::Host(h) = &self.core {
                if h.membership_version() != membership_seen {
                    membership_seen = h.membership_version();
                    let addrs: HashSet<SocketAddr> = h.peer_addrs().collect();
                    *self.known.write() = addrs;
                }
            }
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
                    Ok(cmd) => if let Err(e) = self.core.apply(Instant::now(), cmd) {
                        tracing::warn!("request from the game failed: {e}");
                    },
                    // The game dropped its handle: close the session.
                    Err(_) => self.stop.store(true, Ordering::Relaxed),
                },
                default(wait) => {},
            }
        }
        tracing::debug!("network thread finished");
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
