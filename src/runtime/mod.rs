//! The network thread and the game-thread handle to it.
//!
//! A [`Session`] is what the game holds. Every method returns at once: frames
//! and commands go into bounded lock-free queues, reads come from a
//! wait-free triple buffer the network thread publishes, events are drained
//! from a queue. Nothing here waits for the network thread, allocates per
//! tick on the push/read path, or calls back into the game.
//!
//! Custom tracks: a host serves one with [`Session::serve_track`] (a source
//! it built) or [`Session::serve_track_folder`] (hashed on a helper thread);
//! a joiner that should fetch the room's track joins with
//! [`Session::join_with_target`]. Their progress arrives as
//! [`Event::TrackProgress`], [`Event::TrackReady`] and [`Event::TrackFailed`].
//!
//! The lobby: a host lists its room at a coordinator with
//! [`Session::host_listed`] (registered from the game socket, heartbeats and
//! occupancy kept current while it hosts, withdrawn when it closes); a
//! joiner joins a listed room by its id with [`Session::join_listed`]
//! (introduction, NAT punching and relay fallback on the game socket, then
//! the usual join). What the lobby reports comes from
//! [`Session::poll_lobby_event`]. Browsing the list before joining is
//! [`LobbyBrowser`]'s job.

mod browser;
mod driver;
mod queue;
mod socket;
mod spsc;
pub mod triple;
mod view;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;

pub use browser::LobbyBrowser;
pub use view::{FrameArrivals, PilotState};

use crate::identity::verify::TicketVerifier;
use crate::lobby::{Listing, LobbyClient, LobbyConfig, LobbyEvent, SessionId};
use crate::proto::control::MAX_EVENT_PAYLOAD;
use crate::proto::room::{ActorNr, GroupChange, PropChanges, Props, Raise, RoomSettings, SetProps};
use crate::proto::{EventTarget, PilotFrame, PlayerInfo, Role};
use crate::session::{
    interval_for, Client, ClientConfig, CloseReason, Event, Host, HostConfig, PeerStats,
};
use crate::track::transfer::{FolderSource, TrackSource, TrackTarget};
use crate::track::Limits;
use driver::{Command, Core, Driver, Introduction};
use socket::{ChannelSocket, Intake, TransportCounters, Waker};

/// Frames the game may push ahead of the network thread.
const PUSH_QUEUE: usize = 256;
/// Commands the game may queue ahead of the network thread.
const COMMAND_QUEUE: usize = 1024;
/// Failed requests kept until the game polls them; more are only logged.
const FAILURE_QUEUE: usize = 256;

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Joining, not yet seated.
    Connecting,
    /// In the room (a host is from the start).
    Connected,
    /// Over.
    Closed(CloseReason),
}

/// Errors from game-thread calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    /// The network thread is behind by a whole queue; the call was dropped.
    QueueFull,
    /// The session is over.
    Closed,
    /// The payload exceeds 16 KiB.
    EventTooLarge(usize),
    /// Another thread is using the handle right now.
    Busy,
    /// Only the room's host may do this.
    NotHost,
    /// The listing is not valid (the message names the field).
    BadListing(String),
    /// A helper thread could not be started (the OS error).
    Thread(String),
}

/// Marks an [`io::Error`] from starting a session or browser as a thread
/// that could not be started (not a socket problem); see
/// [`is_thread_failure`].
#[derive(Debug)]
pub struct ThreadStartFailed(pub io::Error);

impl fmt::Display for ThreadStartFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not start a helper thread: {}", self.0)
    }
}

impl std::error::Error for ThreadStartFailed {}

pub(crate) fn thread_failed(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), ThreadStartFailed(e))
}

/// Whether an error from opening a session or browser means a thread
/// could not be started.
pub fn is_thread_failure(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|r| r.downcast_ref::<ThreadStartFailed>().is_some())
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::QueueFull => {
                write!(f, "the network thread is behind; the request was dropped")
            }
            RuntimeError::Closed => write!(f, "the session is closed"),
            RuntimeError::EventTooLarge(n) => {
                write!(
                    f,
                    "event payload of {n} bytes exceeds the {MAX_EVENT_PAYLOAD} byte limit"
                )
            }
            RuntimeError::Busy => write!(f, "the session handle is in use by another thread"),
            RuntimeError::NotHost => write!(f, "only the room's host may do this"),
            RuntimeError::BadListing(why) => write!(f, "the room's listing is not valid: {why}"),
            RuntimeError::Thread(e) => write!(f, "could not start a helper thread: {e}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// Membership and properties as last published by the network thread.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomSnapshot {
    /// Session state.
    pub state: SessionState,
    /// Our actor number (0 while joining).
    pub actor: ActorNr,
    /// Our role.
    pub role: Role,
    /// Everyone in the room, with their properties.
    pub players: Vec<PlayerInfo>,
    /// Room properties.
    pub room: Props,
    /// The room's settings.
    pub settings: RoomSettings,
    /// The master client (0 while joining).
    pub master: ActorNr,
}

pub(crate) struct Shared {
    snapshot: Mutex<Arc<RoomSnapshot>>,
}

/// A session's counters, for diagnostics, the benchmark and a game that
/// wants to know it fell behind. The core's are refreshed with the link
/// statistics (every 100 ms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Datagrams the session's socket received.
    pub received: u64,
    /// Datagrams from strangers dropped before laminar.
    pub dropped_strangers: u64,
    /// Datagrams the system dropped at the session's socket, its receive
    /// buffer full because the network thread was behind (counted on
    /// Linux; 0 where the system does not tell).
    pub dropped_full: u64,
    /// Frames the game pushed while the queue was full.
    pub pushes_dropped: u64,
    /// Events waiting for the game now.
    pub events_queued: u64,
    /// Events dropped because the game left too many unread
    /// (see `MAX_QUEUED_EVENTS`); the game missed them.
    pub events_dropped: u64,
    /// Lobby reports dropped likewise.
    pub lobby_events_dropped: u64,
    /// Datagrams the session dropped as malformed, from strangers, from
    /// the wrong address or over budget.
    pub rejected_datagrams: u64,
    /// Of those, packets from a peer's address that did not open (forged,
    /// damaged or replayed), and replayed hellos.
    pub unsealed_dropped: u64,
    /// Client: things the host sent beyond what a room holds, ignored.
    pub refused_from_host: u64,
    /// Host: events and property changes refused over their sender's budget.
    pub flood_refused: u64,
    /// Host: peers dropped for flooding the room.
    pub flooders_dropped: u64,
}

/// The core's counters, published by the network thread.
#[derive(Debug, Default)]
pub(crate) struct CoreCounters {
    pub(crate) rejected_datagrams: AtomicU64,
    pub(crate) unsealed_dropped: AtomicU64,
    pub(crate) refused_from_host: AtomicU64,
    pub(crate) flood_refused: AtomicU64,
    pub(crate) flooders_dropped: AtomicU64,
}

/// The game's handle to a running session. `Send`; use it from one thread
/// at a time (the FFI layer enforces that without ever blocking).
pub struct Session {
    epoch: Instant,
    local_addr: SocketAddr,
    is_host: bool,
    default_delay: Duration,
    pushes: spsc::Producer<PilotFrame>,
    cmd_tx: Sender<Command>,
    events_rx: queue::QueueRx<Event>,
    lobby_rx: queue::QueueRx<LobbyEvent>,
    failures_rx: Receiver<String>,
    /// Bumped by every serve request; the network thread applies only the
    /// newest, so a slow hash cannot replace a track chosen after it.
    serve_generation: Arc<AtomicU64>,
    view: triple::Reader<view::RoomView>,
    shared: Arc<Shared>,
    cached: Arc<RoomSnapshot>,
    stop: Arc<AtomicBool>,
    counters: Arc<TransportCounters>,
    /// Wakes the network thread for a request (and, from the push ring,
    /// for the first push after a pause).
    waker: Arc<Waker>,
    core_counters: Arc<CoreCounters>,
    pushes_dropped: AtomicU64,
    /// A listed room's listing as first registered: its seats, versions
    /// and password flag stay when the game changes the rest.
    listed: Option<Listing>,
    threads: Vec<JoinHandle<()>>,
}

impl Session {
    /// Opens a room on `bind` (the host is pilot 1).
    pub fn host(bind: SocketAddr, cfg: HostConfig) -> io::Result<Session> {
        Session::host_with(bind, cfg, HostExtras::default())
    }

    /// Opens a room like [`Session::host`], with Steam ticket checks and
    /// a lobby listing when `extras` has them. A listing's capacity, game
    /// and protocol versions are taken from `cfg`, and `has_password` from
    /// `cfg.password`; an invalid listing fails here (`InvalidInput`).
    pub fn host_with(
        bind: SocketAddr,
        mut cfg: HostConfig,
        extras: HostExtras,
    ) -> io::Result<Session> {
        if cfg.cookie_secret == [0; 32] {
            cfg.cookie_secret = random_secret();
        }
        if cfg.key_secret == [0; 32] {
            cfg.key_secret = random_secret();
        }
        let mut listed = None;
        let lobby = match extras.lobby {
            Some((lobby_cfg, mut listing)) => {
                fill_listing(&mut listing, &cfg)
                    .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
                let mut client = LobbyClient::new(lobby_cfg);
                client.host(Instant::now(), listing.clone());
                listed = Some(listing);
                Some(client)
            }
            None => None,
        };
        let verifier = extras.verifier;
        let delay = interval_for(cfg.pilot_hz) * 2;
        let mut session = Session::start(bind, delay, true, lobby, move |now| {
            let mut host = Host::new(cfg, now);
            if let Some(v) = verifier {
                host.set_verifier(v);
            }
            Core::Host(Box::new(host))
        })?;
        session.listed = listed;
        Ok(session)
    }

    /// Opens a room like [`Session::host`] and lists it at the coordinator
    /// of `lobby`: registered from the room's own socket (so the coordinator
    /// sees its public endpoint), heartbeats while it lives, occupancy sent
    /// as players come and go, withdrawn when it closes. The capacity, game
    /// and protocol versions of `listing` are taken from `cfg`; the rest
    /// (room, settings, host profile) is the caller's.
    /// [`LobbyEvent::Registered`] arrives once it is listed.
    pub fn host_listed(
        bind: SocketAddr,
        cfg: HostConfig,
        lobby: LobbyConfig,
        listing: Listing,
    ) -> io::Result<Session> {
        let extras = HostExtras {
            lobby: Some((lobby, listing)),
            ..HostExtras::default()
        };
        Session::host_with(bind, cfg, extras)
    }

    /// Joins the room at `cfg.host` from `bind` (port 0: any). The room's
    /// custom track, if it has one, is left to the game; see
    /// [`Session::join_with_target`].
    pub fn join(bind: SocketAddr, cfg: ClientConfig) -> io::Result<Session> {
        Session::join_with_target(bind, cfg, None)
    }

    /// Joins like [`Session::join`], and with a `target` (the game's maps
    /// folder, see [`crate::track::transfer::MapsFolder`]) finds or
    /// downloads the room's custom track: [`Event::TrackProgress`] while it
    /// downloads, then [`Event::TrackReady`] or [`Event::TrackFailed`].
    /// Finding, checking, writing and installing happen on the maps
    /// folder's own disk thread, so a large track never stalls frames.
    pub fn join_with_target(
        bind: SocketAddr,
        cfg: ClientConfig,
        target: Option<Box<dyn TrackTarget>>,
    ) -> io::Result<Session> {
        let delay = default_delay_for(cfg.role);
        Session::start(bind, delay, false, None, move |now| {
            let mut client = Client::new(cfg, now);
            // Before the first hello: the target is in place when the
            // welcome (and the room's announcement) arrives.
            if let Some(t) = target {
                client.set_track_target(t);
            }
            Core::Client(Box::new(client))
        })
    }

    /// Joins the listed room `session_id` through the coordinator of
    /// `lobby`: it introduces us to the host, both sides punch through
    /// their NATs from their game sockets, and the join proper starts on
    /// the first path that works (the coordinator's relay when punching
    /// fails and it relays). `cfg.host` is ignored. The session is
    /// [`SessionState::Connecting`] meanwhile; the lobby's progress comes
    /// from [`Session::poll_lobby_event`], and a join that finds no path
    /// ends with [`Event::Closed`] and a [`LobbyEvent::JoinFailed`] saying
    /// why. `target` is as in [`Session::join_with_target`].
    pub fn join_listed(
        bind: SocketAddr,
        cfg: ClientConfig,
        lobby: LobbyConfig,
        session_id: SessionId,
        target: Option<Box<dyn TrackTarget>>,
    ) -> io::Result<Session> {
        let mut client = LobbyClient::new(lobby);
        client.join(Instant::now(), session_id);
        let delay = default_delay_for(cfg.role);
        Session::start(bind, delay, false, Some(client), move |_| {
            Core::Introducing(Box::new(Introduction {
                cfg,
                target,
                session_id,
                closed: None,
            }))
        })
    }

    fn start(
        bind: SocketAddr,
        default_delay: Duration,
        is_host: bool,
        lobby: Option<LobbyClient>,
        make: impl FnOnce(Instant) -> Core + Send + 'static,
    ) -> io::Result<Session> {
        let socket = UdpSocket::bind(bind)?;
        let local_addr = socket.local_addr()?;
        let waker = Arc::new(Waker::new(local_addr)?);
        let counters = Arc::new(TransportCounters::default());
        let mut intake = Intake::new(
            socket.try_clone()?,
            is_host,
            waker.source()?,
            counters.clone(),
        );
        let push_waker = waker.clone();
        let (pushes, push_rx) = spsc::ring(PUSH_QUEUE, Box::new(move || push_waker.wake()));
        let (cmd_tx, cmd_rx) = crossbeam_channel::bounded(COMMAND_QUEUE);
        let (events_tx, events_rx) =
            queue::queue(queue::MAX_QUEUED_EVENTS, queue::MAX_QUEUED_EVENT_BYTES);
        let (lobby_tx, lobby_rx) = queue::queue(queue::MAX_QUEUED_LOBBY_EVENTS, usize::MAX);
        let core_counters = Arc::new(CoreCounters::default());
        let (failures_tx, failures_rx) = crossbeam_channel::bounded(FAILURE_QUEUE);
        // A host's clock is its own: valid from the first read, not from the
        // network thread's first publish.
        let mut initial_view = view::RoomView::default();
        initial_view.clock_valid = is_host;
        let (view_w, view_r) = triple::triple_buffer(initial_view.clone());
        let serve_generation = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        let core = make(epoch);
        if let Core::Client(c) = &core {
            intake.known.insert(c.host_addr());
        }
        if let Some(l) = &lobby {
            intake.known.insert(l.config().coordinator);
        }
        let initial = RoomSnapshot {
            state: if is_host {
                SessionState::Connected
            } else {
                SessionState::Connecting
            },
            actor: if is_host {
                crate::session::HOST_ACTOR
            } else {
                0
            },
            role: Role::Pilot,
            players: Vec::new(),
            room: Props::new(),
            settings: RoomSettings::default(),
            master: 0,
        };
        // A new host is in its room from the first read (it counts itself),
        // not from the network thread's first publish.
        let initial = match &core {
            Core::Host(h) => RoomSnapshot {
                players: h.players(),
                room: h.room_props().clone(),
                settings: h.room().settings,
                master: h.room().master(),
                ..initial
            },
            _ => initial,
        };
        let cached = Arc::new(initial);
        let shared = Arc::new(Shared {
            snapshot: Mutex::new(cached.clone()),
        });
        // Our core decides when a peer is gone; laminar must not drop it first.
        let config = laminar::Config {
            idle_connection_timeout: Duration::from_secs(30),
            heartbeat_interval: None,
            ..Default::default()
        };
        let channel_socket = ChannelSocket::new(socket, lobby)?;
        let driver = Driver {
            core,
            manager: laminar::ConnectionManager::new(channel_socket, config),
            intake,
            waker: waker.clone(),
            push_rx,
            cmd_rx,
            events_tx,
            failures_tx,
            serve_generation: serve_generation.clone(),
            late_events: Vec::new(),
            view: view_w,
            master: Box::new(initial_view),
            shared: shared.clone(),
            stop: stop.clone(),
            lobby_tx,
            core_counters: core_counters.clone(),
            known_epoch: 0,
            last_peers: Default::default(),
        };
        let net = std::thread::Builder::new()
            .name("propwash-net".into())
            .spawn(move || {
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| driver.run()));
                if outcome.is_err() {
                    tracing::error!("the network thread failed and the session is closed");
                }
            })
            .map_err(thread_failed)?;
        Ok(Session {
            epoch,
            local_addr,
            is_host,
            default_delay,
            pushes,
            cmd_tx,
            events_rx,
            lobby_rx,
            failures_rx,
            serve_generation,
            view: view_r,
            shared,
            cached,
            stop,
            counters,
            waker,
            core_counters,
            pushes_dropped: AtomicU64::new(0),
            listed: None,
            threads: vec![net],
        })
    }

    /// The address the session's socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// True for the room's host.
    pub fn is_host(&self) -> bool {
        self.is_host
    }

    /// Queues our pilot's frame for this tick. Wait-free: a few loads and
    /// stores into a ring the network thread drains at its next send slot
    /// (no system call, no lock, no allocation; the one exception is the
    /// first push after a pause, which wakes the sleeping network thread).
    pub fn push_local(&mut self, frame: &PilotFrame) -> Result<(), RuntimeError> {
        if self.pushes.push(*frame) {
            return Ok(());
        }
        if self.pushes.is_abandoned() {
            return Err(RuntimeError::Closed);
        }
        self.pushes_dropped.fetch_add(1, Ordering::Relaxed);
        Err(RuntimeError::QueueFull)
    }

    /// Every remote pilot's newest frame, into `out`; returns how many.
    pub fn read_pilots(&mut self, out: &mut [PilotState]) -> usize {
        self.view.latest().0.latest(out)
    }

    /// How many frames of each remote pilot reached the network thread
    /// (counted as they arrive, whether or not the game read each one),
    /// into `out`; returns how many pilots. For measuring the network apart
    /// from how often the game polls.
    pub fn frame_arrivals(&mut self, out: &mut [FrameArrivals]) -> usize {
        self.view.latest().0.arrivals(out)
    }

    /// Every remote pilot as at `now - delay` on the host clock,
    /// interpolated (or briefly extrapolated on loss); `None` uses two
    /// intervals of the snapshot rate the host told us in its welcome (the
    /// default rates' until then).
    pub fn read_pilots_interpolated(
        &mut self,
        delay: Option<Duration>,
        out: &mut [PilotState],
    ) -> usize {
        let (view, _) = self.view.latest();
        let delay = match delay {
            Some(d) => d.as_micros() as u64,
            None => view
                .default_delay_us
                .unwrap_or(self.default_delay.as_micros() as u64),
        };
        let now_us = host_time_us(self.epoch, view, Instant::now());
        view.at(now_us.saturating_sub(delay), out)
    }

    /// The host clock in seconds (like PhotonNetwork.Time). The host's own
    /// clock is exact; a client's is estimated (see [`crate::session::ClockEstimate`]).
    pub fn host_time(&mut self) -> f64 {
        let (view, _) = self.view.latest();
        host_time_us(self.epoch, view, Instant::now()) as f64 / 1e6
    }

    /// True once a client has a clock estimate (always true for a host).
    pub fn clock_synced(&mut self) -> bool {
        self.view.latest().0.clock_valid
    }

    /// Link statistics: per peer on a host, the link to the host on a client.
    pub fn stats(&mut self, out: &mut [PeerStats]) -> usize {
        let (view, _) = self.view.latest();
        let n = view.stats_len.min(out.len());
        out[..n].copy_from_slice(&view.stats[..n]);
        n
    }

    /// The session's counters. Never blocks.
    pub fn counters(&self) -> SessionCounters {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.core_counters;
        SessionCounters {
            received: r(&self.counters.received),
            dropped_strangers: r(&self.counters.dropped_strangers),
            dropped_full: r(&self.counters.dropped_full),
            pushes_dropped: r(&self.pushes_dropped),
            events_queued: self.events_rx.gauge().queued() as u64,
            events_dropped: self.events_rx.gauge().dropped(),
            lobby_events_dropped: self.lobby_rx.gauge().dropped(),
            rejected_datagrams: r(&c.rejected_datagrams),
            unsealed_dropped: r(&c.unsealed_dropped),
            refused_from_host: r(&c.refused_from_host),
            flood_refused: r(&c.flood_refused),
            flooders_dropped: r(&c.flooders_dropped),
        }
    }

    fn command(&self, cmd: Command) -> Result<(), RuntimeError> {
        match self.cmd_tx.try_send(cmd) {
            Ok(()) => {
                self.waker.wake();
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(RuntimeError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(RuntimeError::Closed),
        }
    }

    /// Raises a game event as the room's server routes it: receivers or
    /// target actors, interest group, caching, reliable or on the per-tick
    /// lane (see [`Raise`]).
    pub fn raise(&self, ev: Raise) -> Result<(), RuntimeError> {
        if ev.payload.len() > MAX_EVENT_PAYLOAD {
            return Err(RuntimeError::EventTooLarge(ev.payload.len()));
        }
        self.command(Command::Raise(ev))
    }

    /// Raises a game event (reliable, ordered, exactly once per receiver).
    pub fn send_event(
        &self,
        code: u8,
        target: EventTarget,
        payload: &[u8],
    ) -> Result<(), RuntimeError> {
        self.raise(target.raise(code, payload.to_vec()))
    }

    /// Changes properties: the room's (`req.target` 0) or a player's. A
    /// refusal (limits, a failed check-and-set, a player who left) arrives
    /// as [`Event::PropsRefused`] with `req.request`.
    pub fn set_props(&self, req: SetProps) -> Result<(), RuntimeError> {
        self.command(Command::SetProps { req, mine: false })
    }

    /// Changes our own player properties (`req.target` is ignored).
    pub fn set_my_props(&self, req: SetProps) -> Result<(), RuntimeError> {
        self.command(Command::SetProps { req, mine: true })
    }

    /// Changes room properties given as text.
    pub fn set_room_props(
        &self,
        changes: BTreeMap<String, Option<String>>,
    ) -> Result<(), RuntimeError> {
        self.set_props(SetProps {
            changes: text_changes(changes),
            ..SetProps::default()
        })
    }

    /// Changes our own player properties given as text.
    pub fn set_player_props(
        &self,
        changes: BTreeMap<String, Option<String>>,
    ) -> Result<(), RuntimeError> {
        self.set_my_props(SetProps {
            changes: text_changes(changes),
            ..SetProps::default()
        })
    }

    /// Changes the interest groups we receive.
    pub fn change_groups(&self, change: GroupChange) -> Result<(), RuntimeError> {
        self.command(Command::Groups(change))
    }

    /// Spectators: follow a pilot at the full pilot rate.
    pub fn follow(&self, actor: Option<ActorNr>) -> Result<(), RuntimeError> {
        self.command(Command::Follow(actor))
    }

    /// Host only: serves a custom track (`None` stops serving). The room
    /// announces its hash, ids, size and whether joiners may download it;
    /// joiners with a track target that lack it ask the host for it, and
    /// the host streams it paced by [`HostConfig::track_rate_per_joiner`]
    /// and [`HostConfig::track_rate_room`]. Replaces any track served or
    /// still being hashed by [`Session::serve_track_folder`]. A client gets
    /// [`RuntimeError::NotHost`].
    pub fn serve_track(
        &self,
        source: Option<Box<dyn TrackSource>>,
        allow_download: bool,
    ) -> Result<(), RuntimeError> {
        if !self.is_host {
            return Err(RuntimeError::NotHost);
        }
        // A request that cannot be queued must not supersede one hashing.
        if self.cmd_tx.is_full() {
            return Err(RuntimeError::QueueFull);
        }
        let generation = self.serve_generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.command(Command::ServeTrack {
            source,
            allow_download,
            generation,
            served_from: None,
        })
    }

    /// Host only: serves the track in folder `dir` with these ids (or, when
    /// `dir` is a file, the single-file track `<track-id>.cmp` it is, with
    /// `map_id`; `track_id` is then its name's). Returns
    /// at once: the folder is hashed on a helper thread (as long as reading
    /// every byte takes: about a second per few hundred MiB), then the room
    /// announces it and [`Event::TrackReady`] (with `dir`, `downloaded`
    /// false) arrives; a folder that cannot be served (missing, over
    /// `limits`, bad ids, unreadable) gives [`Event::TrackFailed`] instead
    /// and the room keeps what it served before. A later call, or
    /// [`Session::serve_track`], supersedes one still hashing.
    pub fn serve_track_folder(
        &self,
        dir: &Path,
        map_id: &str,
        track_id: &str,
        allow_download: bool,
        limits: Limits,
    ) -> Result<(), RuntimeError> {
        if !self.is_host {
            return Err(RuntimeError::NotHost);
        }
        if self.cmd_tx.is_full() {
            return Err(RuntimeError::QueueFull);
        }
        let generation = self.serve_generation.fetch_add(1, Ordering::AcqRel) + 1;
        let tx = self.cmd_tx.clone();
        let waker = self.waker.clone();
        let dir: PathBuf = dir.to_path_buf();
        let (map_id, track_id) = (map_id.to_string(), track_id.to_string());
        std::thread::Builder::new()
            .name("propwash-track-hash".into())
            .spawn(move || {
                // A single-file track (`<track-id>.cmp`) names itself.
                let source = if dir.is_file() {
                    FolderSource::from_file(&dir, &map_id, &limits)
                } else {
                    FolderSource::new(&dir, &map_id, &track_id, &limits)
                };
                let cmd = match source {
                    Ok(source) => Command::ServeTrack {
                        source: Some(Box::new(source)),
                        allow_download,
                        generation,
                        served_from: Some(dir),
                    },
                    Err(e) => Command::TrackUnavailable {
                        generation,
                        reason: format!("cannot serve {}: {e}", dir.display()),
                    },
                };
                // Blocking is fine here (not the game thread); an error means
                // the session is gone and nobody is waiting for the answer.
                if tx.send(cmd).is_ok() {
                    waker.wake();
                }
            })
            .map(drop)
            .map_err(|e| RuntimeError::Thread(e.to_string()))
    }

    /// Leaves the room (a host closes it). Returns at once; the network
    /// thread says goodbye and ends within about a second.
    pub fn leave(&self) {
        if self.command(Command::Leave).is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// The next event for the game (frames are read with `read_pilots`).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events_rx.try_recv()
    }

    /// The next thing the lobby reports: listed, an introduction, a path
    /// found (direct or relayed), a join that found no path and why.
    /// Sessions without a coordinator never have any. Never blocks.
    pub fn poll_lobby_event(&mut self) -> Option<LobbyEvent> {
        self.lobby_rx.try_recv()
    }

    /// Host of a listed room: changes its listing (name, map, settings...).
    /// The capacity, occupancy, versions and `has_password` stay what the
    /// room says.
    /// Checked here; a refusal by the coordinator arrives as
    /// [`LobbyEvent::UpdateRefused`]. A client gets
    /// [`RuntimeError::NotHost`], a room that is not listed
    /// [`RuntimeError::BadListing`].
    pub fn update_listing(&self, mut listing: Listing) -> Result<(), RuntimeError> {
        if !self.is_host {
            return Err(RuntimeError::NotHost);
        }
        let Some(base) = &self.listed else {
            return Err(RuntimeError::BadListing(
                "the room is not listed (it was opened without a coordinator)".into(),
            ));
        };
        listing.capacity = base.capacity;
        listing.game_version.clone_from(&base.game_version);
        listing.protocol_version = base.protocol_version;
        listing.has_password = base.has_password;
        listing.validate().map_err(RuntimeError::BadListing)?;
        self.command(Command::UpdateListing(Box::new(listing)))
    }

    /// The next request that the network thread could not carry out, in
    /// words naming the request and why (`send_event: not connected to a
    /// room`): the calls above only queue their request, so a failure that
    /// depends on the room (an event before we are welcomed, a property
    /// limit, following a player who is not a pilot) shows up here. Up to
    /// 256 wait to be polled; later ones are only logged. Never blocks.
    pub fn poll_request_failure(&mut self) -> Option<String> {
        self.failures_rx.try_recv().ok()
    }

    /// Membership and properties as last published. Never waits: if the
    /// network thread is swapping it this instant, the previous copy is
    /// returned.
    pub fn snapshot(&mut self) -> Arc<RoomSnapshot> {
        if let Some(s) = self.shared.snapshot.try_lock() {
            if !Arc::ptr_eq(&s, &self.cached) {
                self.cached = s.clone();
            }
        }
        self.cached.clone()
    }

    /// Leaves and waits for the threads to end (at most about 1.5 s); for
    /// tools and tests, not the game thread.
    pub fn close_and_wait(mut self) {
        self.leave();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Never join here: dropping must not stall the game. The network
        // thread sees the flag and ends on its own.
        self.stop.store(true, Ordering::Relaxed);
        self.waker.wake();
    }
}

/// Optional parts of hosting, for [`Session::host_with`].
#[derive(Default)]
pub struct HostExtras {
    /// Checks joiners' Steam tickets, or why this host cannot (`Err`);
    /// `None` is the same as `Err` with a generic reason.
    pub verifier: Option<Result<Box<dyn TicketVerifier>, String>>,
    /// Lists the room at this coordinator with this listing.
    pub lobby: Option<(LobbyConfig, Listing)>,
}

/// Completes a room's listing from its config: seats, the host seated,
/// versions, whether it asks a password; then checks it.
fn fill_listing(listing: &mut Listing, cfg: &HostConfig) -> Result<(), String> {
    listing.capacity.pilots = cfg.max_pilots.clamp(1, crate::session::MAX_PILOTS) as u8;
    listing.capacity.spectators = cfg.max_spectators.min(crate::session::MAX_SPECTATORS) as u8;
    listing.capacity.current_pilots = 1;
    listing.capacity.current_spectators = 0;
    listing.game_version.clone_from(&cfg.game_version);
    listing.protocol_version = crate::proto::wire::PROTOCOL_VERSION;
    listing.has_password = cfg.password.as_deref().is_some_and(|p| !p.is_empty());
    listing.host_key = crate::session::seal::hex(
        &crate::session::seal::HostKey::from_secret(cfg.key_secret).public(),
    );
    listing.validate()
}

/// Text properties as the room's bytes.
fn text_changes(changes: BTreeMap<String, Option<String>>) -> PropChanges {
    changes
        .into_iter()
        .map(|(k, v)| (k.into_bytes(), v.map(String::into_bytes)))
        .collect()
}

/// Snapshots come at the pilot rate to pilots and at about half to
/// spectators: two snapshot intervals of delay rides out one loss.
fn default_delay_for(role: Role) -> Duration {
    let hz = match role {
        Role::Pilot => crate::session::DEFAULT_PILOT_HZ,
        Role::Spectator => crate::session::DEFAULT_SPECTATOR_HZ,
    };
    interval_for(hz) * 2
}

fn host_time_us(epoch: Instant, view: &view::RoomView, now: Instant) -> u64 {
    let local = now.saturating_duration_since(epoch).as_micros() as i64;
    (local + view.clock_offset_us).max(0) as u64
}

/// A per-room cookie key from the OS's randomness via std's hasher seeds,
/// mixed through SHA-256 with the time and the process id.
fn random_secret() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    use std::hash::{BuildHasher, Hasher};
    let mut h = Sha256::new();
    for _ in 0..4 {
        let mut s = std::collections::hash_map::RandomState::new().build_hasher();
        s.write_u64(0x7077);
        h.update(s.finish().to_be_bytes());
    }
    h.update(format!("{:?}{}", Instant::now(), std::process::id()).as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod thread_failure_tests {
    use super::*;

    #[test]
    fn a_thread_that_cannot_start_is_told_apart_from_a_socket_error() {
        let e = thread_failed(io::Error::new(io::ErrorKind::WouldBlock, "no threads left"));
        assert!(is_thread_failure(&e));
        assert!(e.to_string().contains("thread"), "{e}");
        assert!(!is_thread_failure(&io::Error::new(
            io::ErrorKind::AddrInUse,
            "port taken"
        )));
    }
}
