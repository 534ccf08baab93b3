//! `propwash demo`: a whole room on loopback UDP in one process — the host
//! (pilot 1), bot pilots flying scripted laps and spectators, each a real
//! [`Session`] with its own socket and threads — measured from the outside
//! with one clock.
//!
//! What the report means:
//! - `frames_delivered_ratio`: for every receiver (each other pilot, the
//!   host included, and each spectator) and every remote pilot, the distinct
//!   ticks that reached the receiver's network thread over the send
//!   intervals that passed while it could have received them, clamped to 1
//!   per pair, summed over the pairs: what the network delivered, counted
//!   where it arrives. The send interval of a pair is the slower of the
//!   pilot's send clock (the host's own frames: its physics tick) and the
//!   receiver's snapshot clock; the window runs from the receiver's first
//!   frame of that pilot (at the latest 0.5 s into the run) to the end. The
//!   exact rule and why it cannot read 1.0 when frames are lost is in
//!   `measure.rs`. The pilots' games start ticking spread over one send
//!   interval, not in lockstep (see `DemoConfig::tick_offsets` for why
//!   that matters).
//! - `frames_read_ratio`: the same over the distinct ticks each receiver's
//!   game read by polling `read_pilots` every millisecond. A loaded machine
//!   that deschedules a poller costs frames here that the network did
//!   deliver, so it is reported, not gated on.
//! - `latency_ms`: from the pilot's `push_local` to the first `read_pilots`
//!   on another peer that returns that tick (observers read every
//!   millisecond, so up to ~1 ms of it is polling), over every such read.
//!   It includes waiting for the pilot's next send slot and the receiver's
//!   next snapshot slot, which is most of it.
//! - `pilot_latency_ms`: `latency_ms` where the receiver is a pilot too
//!   (the host forwards a pilot's frame to the other pilots on arrival;
//!   spectators wait for their own, slower snapshot).
//! - `bytes_per_pilot_frame`: the most one pilot's entry in a snapshot
//!   takes, [`SNAPSHOT_ENTRY`] (a full frame; an entry coded against a
//!   frame the receiver acknowledged takes 4 bytes plus 8-14 of delta).
//!   `wire_bytes_per_snapshot_avg` is measured: link
//!   payload bytes over packets the host sent to pilots between 0.5 s into
//!   the run (after the clock-sync ping burst) and the first event, so
//!   snapshots plus the separate ping and pong packets; the same over the
//!   whole run, events included, is `wire_bytes_per_packet_to_pilots_avg`.
//! - `host_upload_kbps`: link payload bytes the host sent to every peer
//!   over the run (from its [`PeerStats`]), in kilobits per second.
//! - `events_delivered_exactly_once`: from 1.5 s in (a quarter in, for short
//!   runs) until 0.5 s before the end, one event every 250 ms from a random
//!   pilot to everyone, 7 B to 2 KiB, the middle one the full 16 KiB; every
//!   seated peer, the sender included, must poll each exactly once and in
//!   its sender's order.
//! - `errors`: a peer not seated within 5 s (10 s through the lobby) or
//!   refused, a session closing early, the host losing a peer, a push or
//!   event failing other than on a full queue, a damaged event or a frame
//!   that is not what its pilot pushed, a peer thread that does not finish;
//!   with a track, a joiner whose track failed, did not arrive, or does not
//!   verify.
//!
//! With a track (`DemoConfig::track`), the host serves that folder from the
//! moment the pilots start; every joiner (pilots and spectators) has its own
//! temporary maps folder, downloads, checks and installs the track while
//! the room flies, and the run is stretched (up to `max(seconds, 60)`) until
//! every joiner has it. Then:
//! - `track_hash`, `track_bytes`: what was served.
//! - `tracks_installed`: joiners whose installed copy verifies against the
//!   hash after the run (every byte hashed again); `track_installed_as`:
//!   the names those copies have (a single-file track: `<guid>.cmp`).
//! - `track_transfer_mb_s`: MiB installed by download over all joiners,
//!   over the time from the first joiner's request (when the announcement
//!   reached it) to the last joiner's ready.
//! - `latency_ms_during_transfer`: the `latency_ms` samples taken while any
//!   joiner was still fetching.
//! - `seconds_flown`: how long the pilots flew, stretch included.
//!
//! The host's track chunks share its packets and link counters, so with a
//! track `wire_bytes_per_*` and `host_upload_kbps*` include them.
//!
//! With a coordinator (`DemoConfig::coordinator`: an address, or one
//! started in this process for the run), the room goes through the lobby
//! as a game's would: the host opens it with [`Session::host_listed`]
//! (named `propwash demo <4 hex digits>`, so demos sharing a coordinator
//! tell their rooms apart) and the run starts once the coordinator has
//! listed it, within [`LISTING_LIMIT`]. Each joiner then asks for a page
//! of the list through one shared [`LobbyBrowser`], picks the room by its
//! name and joins it by id with [`Session::join_listed`]; the joiners
//! take turns [`LOBBY_PACE`] apart, since they all share one address and
//! the coordinator limits requests per address. A joiner that does not
//! find the room, or finds no path to the host, is an error line. The
//! report's `lobby` then says:
//! - `registered_ms`: from opening the room to the coordinator's answer.
//! - `found_by_list`: joiners that found the room by name in the page.
//! - `joined_direct`, `joined_relayed`: joiners whose lobby path to the
//!   host was punched straight through, or went through the relay.
//! - `list_query_ms_p50`: median time from a query to its page.
//! - `join_ms_p50`: median time from `join_listed` to the welcome into the
//!   room (introduction, punching and the join proper).
//!
//! On loopback every socket is bound to 127.0.0.1; with a coordinator
//! elsewhere they are bound to every interface, so that they can reach it
//! (the joiners then reach the host at the address the coordinator sees).

mod flight;
mod measure;
mod peer;
mod report;
mod track;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

#[cfg(test)]
pub(crate) use flight::frame_at;
pub use flight::scripted_flight_delta_sizes;
pub use report::{
    DemoReport, FramesByPath, LatencySummary, LiveRow, LiveView, LobbySummary, PeerKind,
};
pub use track::{DemoTrack, DEFAULT_MAP_ID, DEFAULT_TRACK_ID};

use crate::lobby::record::MAX_PAGE;
use crate::lobby::service::{Service, ServiceConfig};
use crate::lobby::{
    CoordinatorConfig, ListQuery, Listing, LobbyConfig, LobbyEvent, Path, SessionId,
};
use crate::proto::control::MAX_EVENT_PAYLOAD;
use crate::proto::room::ActorNr;
use crate::proto::Role;
use crate::runtime::{LobbyBrowser, Session};
use crate::session::{
    ClientConfig, HostConfig, PeerStats, MAX_PILOTS, MAX_SPECTATORS, RATE_RANGE, SNAPSHOT_ENTRY,
};
use crate::track::transfer::{TrackSource, TrackTarget};
use crate::track::TrackHash;
use crate::util::SplitMix64;
use measure::{PairCount, PushClock};
use peer::{Gate, PeerContext, PeerLive, PeerOutcome, PeerSpec, Plan, Room, ScheduledEvent, Seen};

/// Seconds the pilots fly unless told otherwise.
pub const DEFAULT_SECONDS: u64 = 10;
/// Longest run (the latency record's clock lasts about 71 minutes).
pub const MAX_SECONDS: u64 = 3600;
/// Send and snapshot rate to pilots unless told otherwise.
pub const DEFAULT_RATE_HZ: u32 = 60;
/// The bots' game tick rate.
pub const PHYSICS_HZ: u32 = 120;
/// The game build the demo's peers claim to run.
const GAME: &str = "propwash-demo";
/// Time between events.
const EVENT_EVERY: Duration = Duration::from_millis(250);
/// Largest ordinary event; one event is the full 16 KiB.
const EVENT_MAX_LEN: usize = 2048;
/// Lead time between the plan and the first tick, so every thread has it.
const START_LEAD: Duration = Duration::from_millis(100);
/// The first events come this long into the run (or a quarter in, for
/// short runs): the host measures its steady snapshot traffic before them.
const FIRST_EVENT: Duration = Duration::from_millis(1500);
/// A fresh link pings fast for its first ~0.4 s to sync the clock; the
/// steady-state packet size is measured after that.
const SETTLE: Duration = Duration::from_millis(500);
/// Budget for every thread to finish after the pilots stop.
const FINISH_LIMIT: Duration = Duration::from_secs(12);
/// With a track, the run is stretched until every joiner has it, but to
/// no more than this (or `seconds`, if longer).
pub const TRACK_RUN_LIMIT: Duration = Duration::from_secs(60);
/// While a transfer runs, the end is kept at least this far ahead.
const STRETCH: Duration = Duration::from_secs(1);
/// The coordinator must list the room within this, or the demo stops.
pub const LISTING_LIMIT: Duration = Duration::from_secs(5);
/// Between one joiner's lobby query and join and the next's: every demo
/// peer shares one address, and a coordinator answers each address at most
/// 20 requests a second (40 in a burst); a joiner takes about four (its
/// query, then its join request with the address check and the punch
/// report), the host's heartbeats a few more.
pub const LOBBY_PACE: Duration = Duration::from_millis(200);
/// A lobby query unanswered for this long counts as not finding the room.
const LIST_LIMIT: Duration = Duration::from_secs(3);

/// Where the demo's room is listed (`propwash demo --coordinator`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DemoCoordinator {
    /// A coordinator already running at this UDP address.
    At(SocketAddr),
    /// A coordinator started in this process on 127.0.0.1 for the run
    /// (UDP only, default limits), stopped at the end.
    Local,
}

impl FromStr for DemoCoordinator {
    type Err = String;

    /// `local`, or an `ip:port` (IPv6 as `[ip]:port`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("local") {
            return Ok(DemoCoordinator::Local);
        }
        s.parse()
            .map(DemoCoordinator::At)
            .map_err(|_| format!("'{s}' is not an ip:port address or 'local'"))
    }
}

impl fmt::Display for DemoCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoCoordinator::At(a) => write!(f, "{a}"),
            DemoCoordinator::Local => write!(f, "local"),
        }
    }
}

/// How the demo room is made up.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    /// Pilots, the host included (1 to 6).
    pub pilots: usize,
    /// Spectators (0 to 15).
    pub spectators: usize,
    /// How long the pilots fly (1 to [`MAX_SECONDS`]).
    pub seconds: u64,
    /// Send and snapshot rate to pilots (10 to 240); spectators get half,
    /// at least 10.
    pub rate_hz: u32,
    /// The bots' game tick rate.
    pub physics_hz: u32,
    /// Seed for the event schedule.
    pub seed: u64,
    /// A track folder the host serves to every joiner from the start.
    pub track: Option<DemoTrack>,
    /// The host's track pace per joiner, bytes per second (`None`: the
    /// session's default).
    pub track_rate_per_joiner: Option<u64>,
    /// The host's track pace for the whole room, bytes per second.
    pub track_rate_room: Option<u64>,
    /// List the room at this coordinator and have every joiner find it in
    /// the lobby list and join it by id (`None`: join the host directly).
    pub coordinator: Option<DemoCoordinator>,
    /// Test hook: this pilot stops pushing this long after the start.
    pub(crate) silence: Option<(usize, Duration)>,
    /// Test hook: the joiner with this index (the host is 0) looks for
    /// another room's name in the lobby list.
    pub(crate) lost_joiner: Option<usize>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            pilots: MAX_PILOTS,
            spectators: MAX_SPECTATORS,
            seconds: DEFAULT_SECONDS,
            rate_hz: DEFAULT_RATE_HZ,
            physics_hz: PHYSICS_HZ,
            seed: 0x7072_6f70_7761_7368,
            track: None,
            track_rate_per_joiner: None,
            track_rate_room: None,
            coordinator: None,
            silence: None,
            lost_joiner: None,
        }
    }
}

/// A demo room that cannot be built as asked. The messages name the flag
/// and the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// More pilots than a room seats.
    TooManyPilots(usize),
    /// No pilots: a room needs its host.
    NoPilots,
    /// More spectators than a room seats.
    TooManySpectators(usize),
    /// A rate outside [`RATE_RANGE`].
    RateOutOfRange(u32),
    /// A run of 0 seconds or longer than [`MAX_SECONDS`].
    SecondsOutOfRange(u64),
    /// A physics rate the bots cannot keep.
    PhysicsOutOfRange(u32),
    /// A track pace of zero bytes per second.
    TrackRateZero,
    /// A coordinator address nothing can be sent to (port 0, or an
    /// unspecified or multicast IP).
    CoordinatorAddress(SocketAddr),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TooManyPilots(n) => write!(
                f,
                "--pilots {n} is more than a room holds ({MAX_PILOTS} pilots, the host included)"
            ),
            ConfigError::NoPilots => write!(
                f,
                "--pilots 0 leaves the room without its host (1 to {MAX_PILOTS} pilots, the host included)"
            ),
            ConfigError::TooManySpectators(n) => write!(
                f,
                "--spectators {n} is more than a room holds ({MAX_SPECTATORS} spectators)"
            ),
            ConfigError::RateOutOfRange(hz) => write!(
                f,
                "--rate {hz} is outside the allowed {} to {} Hz",
                RATE_RANGE.start(),
                RATE_RANGE.end()
            ),
            ConfigError::SecondsOutOfRange(s) => {
                write!(f, "--seconds {s} is outside 1 to {MAX_SECONDS}")
            }
            ConfigError::PhysicsOutOfRange(hz) => {
                write!(f, "a physics rate of {hz} Hz is outside 10 to 1000 Hz")
            }
            ConfigError::TrackRateZero => {
                write!(f, "a track rate of 0 would never deliver the track")
            }
            ConfigError::CoordinatorAddress(a) => write!(
                f,
                "--coordinator {a} is not an address a coordinator can be reached at \
                 (give its IP:PORT, or 'local' to run one for the demo)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why the demo could not run at all (problems inside the room are counted
/// in [`DemoReport::errors`] instead).
#[derive(Debug)]
pub enum DemoError {
    /// The configuration is out of bounds.
    Config(ConfigError),
    /// A loopback socket could not be opened.
    Socket(io::Error),
    /// A thread could not be started.
    Thread(io::Error),
    /// The track folder cannot be served, or the joiners' maps folders
    /// cannot be made.
    Track(crate::track::TrackError),
    /// The in-process coordinator could not be started.
    CoordinatorStart(io::Error),
    /// The coordinator did not list the room (unreachable, or it refused).
    NotListed {
        /// The coordinator's address.
        coordinator: SocketAddr,
        /// What happened.
        why: String,
    },
    /// The lobby browser's socket or thread could not be opened.
    Browser(io::Error),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Config(e) => write!(f, "{e}"),
            DemoError::Socket(e) => write!(f, "cannot open a loopback UDP socket: {e}"),
            DemoError::Thread(e) => write!(f, "cannot start a thread: {e}"),
            DemoError::Track(e) => write!(f, "cannot share the track: {e}"),
            DemoError::CoordinatorStart(e) => {
                write!(f, "cannot start a coordinator on 127.0.0.1: {e}")
            }
            DemoError::NotListed { coordinator, why } => write!(
                f,
                "the coordinator at {coordinator} did not list the room: {why}; \
                 is a coordinator running there and reachable? \
                 (--coordinator local runs one inside the demo)"
            ),
            DemoError::Browser(e) => write!(f, "cannot open the lobby browser: {e}"),
        }
    }
}

impl std::error::Error for DemoError {}

impl DemoConfig {
    /// Snapshot rate to spectators: half the pilots', at least 10.
    pub fn spectator_rate_hz(&self) -> u32 {
        (self.rate_hz / 2).max(*RATE_RANGE.start())
    }

    /// Checks the room against what a room holds and the allowed rates.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pilots > MAX_PILOTS {
            return Err(ConfigError::TooManyPilots(self.pilots));
        }
        if self.pilots == 0 {
            return Err(ConfigError::NoPilots);
        }
        if self.spectators > MAX_SPECTATORS {
            return Err(ConfigError::TooManySpectators(self.spectators));
        }
        if !RATE_RANGE.contains(&self.rate_hz) {
            return Err(ConfigError::RateOutOfRange(self.rate_hz));
        }
        if self.seconds == 0 || self.seconds > MAX_SECONDS {
            return Err(ConfigError::SecondsOutOfRange(self.seconds));
        }
        if !(10..=1000).contains(&self.physics_hz) {
            return Err(ConfigError::PhysicsOutOfRange(self.physics_hz));
        }
        if self.track_rate_per_joiner == Some(0) || self.track_rate_room == Some(0) {
            return Err(ConfigError::TrackRateZero);
        }
        if let Some(DemoCoordinator::At(a)) = &self.coordinator {
            if a.port() == 0 || a.ip().is_unspecified() || a.ip().is_multicast() {
                return Err(ConfigError::CoordinatorAddress(*a));
            }
        }
        Ok(())
    }

    fn specs(&self) -> Vec<PeerSpec> {
        let mut specs = vec![PeerSpec {
            name: "host".into(),
            kind: PeerKind::Host,
            pilot: Some(0),
        }];
        specs.extend((1..self.pilots).map(|p| PeerSpec {
            name: format!("bot-{p}"),
            kind: PeerKind::Pilot,
            pilot: Some(p),
        }));
        specs.extend((1..=self.spectators).map(|s| PeerSpec {
            name: format!("spectator-{s}"),
            kind: PeerKind::Spectator,
            pilot: None,
        }));
        specs
    }

    /// When each pilot's game starts ticking, after the start of the run.
    /// Real games are not in step with each other, and a client's send
    /// clock starts with its first frame: started together, every bot would
    /// send in the same instant as the host's snapshots leave, the worst
    /// case for a relay that forwards the newest frame on its own clock.
    /// So the pilots' first ticks are spread evenly over one send interval.
    fn tick_offsets(&self) -> Vec<Duration> {
        let interval = 1.0 / f64::from(self.rate_hz.max(1));
        (0..self.pilots)
            .map(|p| Duration::from_secs_f64(interval * p as f64 / self.pilots as f64))
            .collect()
    }

    /// The most distinct frames per second `receiver` can read of pilot
    /// `pilot`: the slower of the pilot's send clock and the receiver's
    /// snapshot clock (see `measure.rs`).
    fn pair_hz(&self, pilot: usize, receiver: PeerKind) -> f64 {
        let send = if pilot == 0 {
            self.physics_hz
        } else {
            self.rate_hz.min(self.physics_hz)
        };
        let snapshots = match receiver {
            PeerKind::Host => u32::MAX,
            PeerKind::Pilot => self.rate_hz,
            PeerKind::Spectator => self.spectator_rate_hz(),
        };
        f64::from(send.min(snapshots))
    }
}

/// The events of a run: from `first` every [`EVENT_EVERY`] until `last`, each
/// from a random seated pilot, 8 B to 2 KiB, the middle one 16 KiB.
fn schedule(
    start: Instant,
    first: Duration,
    last: Duration,
    senders: &[usize],
    seed: u64,
) -> Vec<ScheduledEvent> {
    let mut rng = SplitMix64(seed);
    let mut seqs = [0u32; MAX_PILOTS];
    let mut out = Vec::new();
    let mut at = first;
    while at <= last && !senders.is_empty() {
        let sender = senders[(rng.next_u64() % senders.len() as u64) as usize];
        let len = measure::EVENT_HEADER
            + (rng.next_u64() % (EVENT_MAX_LEN - measure::EVENT_HEADER + 1) as u64) as usize;
        out.push(ScheduledEvent {
            at: start + at,
            sender,
            seq: seqs[sender],
            len,
        });
        seqs[sender] += 1;
        at += EVENT_EVERY;
    }
    let mid = out.len() / 2;
    if let Some(e) = out.get_mut(mid) {
        e.len = MAX_EVENT_PAYLOAD;
    }
    out
}

/// Runs the room for `cfg.seconds` (with a track, until every joiner has
/// it, within [`TRACK_RUN_LIMIT`]), calling `each_second` with the live
/// view once a second while the pilots fly, and returns the measurements.
/// Blocks for the run plus a few seconds of joining and leaving (and of
/// hashing the track before and every joiner's copy after).
pub fn run(
    cfg: &DemoConfig,
    mut each_second: impl FnMut(&LiveView),
) -> Result<DemoReport, DemoError> {
    cfg.validate().map_err(DemoError::Config)?;
    let specs = cfg.specs();
    let served = cfg
        .track
        .as_ref()
        .map(track::prepare)
        .transpose()
        .map_err(DemoError::Track)?;
    let room = Arc::new(Room {
        epoch: Instant::now(),
        push_clocks: (0..cfg.pilots).map(|_| PushClock::new()).collect(),
        live: specs
            .iter()
            .map(|_| Mutex::new(PeerLive::default()))
            .collect(),
        clients_closed: AtomicUsize::new(0),
        transfer: track::TransferClock::default(),
    });
    // A local coordinator runs until `run` returns, after every session
    // has closed (and the host has withdrawn its listing).
    let (service, coordinator) = match &cfg.coordinator {
        None => (None, None),
        Some(DemoCoordinator::At(a)) => (None, Some(*a)),
        Some(DemoCoordinator::Local) => {
            let service = Service::start(ServiceConfig {
                udp: (Ipv4Addr::LOCALHOST, 0).into(),
                http: None,
                coordinator: CoordinatorConfig::default(),
            })
            .map_err(DemoError::CoordinatorStart)?;
            let addr = service.udp_addr();
            (Some(service), Some(addr))
        }
    };
    let any = bind_address(coordinator);
    let mut host_cfg = HostConfig::new(GAME, "host");
    host_cfg.pilot_hz = cfg.rate_hz;
    host_cfg.spectator_hz = cfg.spectator_rate_hz();
    if let Some(r) = cfg.track_rate_per_joiner {
        host_cfg.track_rate_per_joiner = r;
    }
    if let Some(r) = cfg.track_rate_room {
        host_cfg.track_rate_room = r;
    }
    let (host, mut lobby) = match coordinator {
        None => (
            Session::host(any, host_cfg).map_err(DemoError::Socket)?,
            None,
        ),
        Some(c) => {
            let room_name = room_name();
            let listing = demo_listing(cfg, &room_name);
            let opened = Instant::now();
            let mut host = Session::host_listed(any, host_cfg, LobbyConfig::new(c, GAME), listing)
                .map_err(DemoError::Socket)?;
            if let Err(e) = wait_listed(&mut host, c) {
                host.close_and_wait();
                return Err(e);
            }
            let registered = opened.elapsed();
            let browser = match LobbyBrowser::open(any, LobbyConfig::new(c, GAME)) {
                Ok(b) => b,
                Err(e) => {
                    host.close_and_wait();
                    return Err(DemoError::Browser(e));
                }
            };
            let map_id = cfg.track.as_ref().map(|t| t.ids().0);
            let lobby = DemoLobby {
                tally: LobbyTally {
                    coordinator: c,
                    room_name,
                    registered,
                    found: 0,
                    queries: Vec::new(),
                },
                map_id,
                browser,
                next_turn: Instant::now(),
            };
            (host, Some(lobby))
        }
    };
    let host_addr = host.local_addr();
    // Removed (with whatever was installed) when `run` returns.
    let maps = match served {
        Some(_) => Some(track::MapsFolders::new().map_err(DemoError::Track)?),
        None => None,
    };
    let (track_hash, track_bytes) = served.as_ref().map(|s| (s.hash, s.bytes)).unzip();

    // One thread per peer, each holding its own session like a game would,
    // started as soon as its session is: a listed join is timed from there.
    let (joined_tx, joined_rx) = crossbeam_channel::unbounded();
    let mut peers = Spawner {
        pilots: cfg.pilots,
        room: room.clone(),
        joined: joined_tx,
        plan_txs: Vec::new(),
        threads: Vec::new(),
    };
    peers.spawn(0, &specs[0], Ok(host), served.map(|s| s.source), None)?;
    for (index, spec) in specs.iter().enumerate().skip(1) {
        let role = match spec.kind {
            PeerKind::Spectator => Role::Spectator,
            _ => Role::Pilot,
        };
        let target: Option<Box<dyn TrackTarget>> = match &maps {
            Some(m) => Some(Box::new(m.target(&spec.name).map_err(DemoError::Track)?)),
            None => None,
        };
        let (session, listed_join) = match lobby.as_mut() {
            None => {
                let mut c = ClientConfig::new(host_addr, GAME, &spec.name, role);
                c.send_hz = cfg.rate_hz;
                c.connect_timeout = peer::CONNECT_LIMIT;
                let s = Session::join_with_target(any, c, target).map_err(DemoError::Socket)?;
                (Ok(s), None)
            }
            Some(l) => match l.find(&spec.name, cfg.lost_joiner == Some(index)) {
                Ok(id) => {
                    let coordinator = l.tally.coordinator;
                    // `host` is the coordinator's to fill in.
                    let mut c = ClientConfig::new(coordinator, GAME, &spec.name, role);
                    c.send_hz = cfg.rate_hz;
                    c.connect_timeout = peer::CONNECT_LIMIT;
                    let t0 = Instant::now();
                    let s = Session::join_listed(
                        any,
                        c,
                        LobbyConfig::new(coordinator, GAME),
                        id,
                        target,
                    )
                    .map_err(DemoError::Socket)?;
                    (Ok(s), Some(t0))
                }
                Err(msg) => (Err(msg), None),
            },
        };
        peers.spawn(index, spec, session, None, listed_join)?;
    }
    // Dropping the spawner's sender lets the room notice a thread that is
    // gone without answering.
    let Spawner {
        plan_txs, threads, ..
    } = peers;
    let lobby = lobby.map(DemoLobby::finish);

    // Wait until every peer is seated or has given up.
    let mut actors: Vec<Option<ActorNr>> = vec![None; specs.len()];
    let mut room_errors = Vec::new();
    let connect_limit = if lobby.is_some() {
        peer::LISTED_CONNECT_LIMIT
    } else {
        peer::CONNECT_LIMIT
    };
    let deadline = Instant::now() + connect_limit + Duration::from_secs(2);
    let mut answered = 0;
    while answered < specs.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match joined_rx.recv_timeout(left) {
            Ok((i, actor)) => {
                actors[i] = actor;
                answered += 1;
            }
            Err(_) => {
                room_errors.push(format!(
                    "{} of {} peers never said whether they were seated",
                    specs.len() - answered,
                    specs.len()
                ));
                break;
            }
        }
    }

    let pilot_actors: Vec<Option<ActorNr>> = specs
        .iter()
        .zip(&actors)
        .filter(|(s, _)| s.pilot.is_some())
        .map(|(_, a)| *a)
        .collect();
    let senders: Vec<usize> = (0..cfg.pilots)
        .filter(|p| pilot_actors[*p].is_some())
        .collect();
    let run_for = Duration::from_secs(cfg.seconds);
    let first_event = FIRST_EVENT.min(run_for / 4);
    let last_event = run_for - Duration::from_millis(500).min(run_for / 4);
    let start = Instant::now() + START_LEAD;
    let participants = actors.iter().filter(|a| a.is_some()).count();
    if track_hash.is_some() {
        // Every seated joiner fetches the track.
        room.transfer.expect(participants.saturating_sub(1));
    }
    let run_limit = start + run_for.max(TRACK_RUN_LIMIT);
    let plan = Arc::new(Plan {
        start,
        end: peer::Deadline::new(start, run_for),
        settled_at: start + SETTLE,
        quiet_until: start + first_event,
        physics_hz: cfg.physics_hz,
        tick_offsets: cfg.tick_offsets(),
        pilot_actors: pilot_actors.clone(),
        events: schedule(start, first_event, last_event, &senders, cfg.seed),
        participants,
        observed: Gate::new(participants),
        silence: cfg.silence,
    });
    for (tx, actor) in plan_txs.iter().zip(&actors) {
        if actor.is_some() {
            // A thread that is gone already shows up when it is joined.
            let _ = tx.send(plan.clone());
        }
    }
    drop(plan_txs);

    // The live view, once a second while the pilots fly; with a track the
    // end moves out while a joiner is still fetching.
    let mut kbps = KbpsMeter::default();
    // A baseline, so the first second already shows rates.
    live_view(cfg, &specs, &room, &plan, lobby.as_ref(), &mut kbps);
    let mut next_view = plan.start + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if now >= next_view {
            let view = live_view(cfg, &specs, &room, &plan, lobby.as_ref(), &mut kbps);
            each_second(&view);
            next_view += Duration::from_secs(1);
        }
        if !room.transfer.done() {
            plan.end.stretch((now + STRETCH).min(run_limit));
        }
        if now >= plan.end.get() {
            break;
        }
        let wake = next_view
            .min(plan.end.get())
            .min(now + Duration::from_millis(100));
        if let Some(wait) = wake.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }

    // Collect the peers, never waiting for ever on one that is stuck.
    let finish_by = plan.end.get() + FINISH_LIMIT;
    let mut outcomes: Vec<Option<PeerOutcome>> = Vec::new();
    for (t, spec) in threads.into_iter().zip(&specs) {
        while !t.is_finished() && Instant::now() < finish_by {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !t.is_finished() {
            room_errors.push(format!("{} did not finish in time", spec.name));
            outcomes.push(None);
            continue;
        }
        match t.join() {
            Ok(o) => outcomes.push(Some(o)),
            Err(_) => {
                room_errors.push(format!("{}'s thread panicked", spec.name));
                outcomes.push(None);
            }
        }
    }
    let transfer = track_hash.map(|hash| {
        let joiners: Vec<(&str, &track::JoinerTrack)> = specs
            .iter()
            .zip(&outcomes)
            .zip(&actors)
            .filter(|((s, _), a)| s.kind != PeerKind::Host && a.is_some())
            .filter_map(|((s, o), _)| o.as_ref().map(|o| (s.name.as_str(), &o.track)))
            .collect();
        let bytes = track_bytes.unwrap_or(0);
        (hash, bytes, track::summarize(&hash, bytes, &joiners))
    });
    drop(maps);
    // Every session is closed: the host has withdrawn its listing.
    drop(service);
    Ok(build_report(
        cfg,
        &specs,
        &plan,
        outcomes,
        room_errors,
        transfer,
        lobby,
    ))
}

/// Where the demo's sockets are bound: 127.0.0.1 on loopback (a loopback
/// coordinator included), every interface when the coordinator is
/// elsewhere, so that it can be reached.
fn bind_address(coordinator: Option<SocketAddr>) -> SocketAddr {
    let ip: IpAddr = match coordinator {
        None => Ipv4Addr::LOCALHOST.into(),
        Some(c) if c.ip().is_loopback() => c.ip(),
        Some(SocketAddr::V4(_)) => Ipv4Addr::UNSPECIFIED.into(),
        Some(SocketAddr::V6(_)) => Ipv6Addr::UNSPECIFIED.into(),
    };
    (ip, 0).into()
}

/// `propwash demo <4 hex digits>`: demos sharing a coordinator each find
/// their own room.
fn room_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = SplitMix64(nanos ^ u64::from(std::process::id()).rotate_left(32));
    format!("propwash demo {:04x}", rng.next_u64() & 0xffff)
}

/// The room's listing: a race of 3 laps with DRL physics, on the demo
/// track's map and track when it has one.
fn demo_listing(cfg: &DemoConfig, room_name: &str) -> Listing {
    let mut l = Listing::default();
    l.host.player_name = "host".into();
    l.room.name = room_name.into();
    l.room.mode = "race".into();
    l.settings.laps = 3;
    l.settings.physics = "drl".into();
    if let Some(t) = &cfg.track {
        let (map_id, track_id) = t.ids();
        l.room.map_id = map_id;
        l.room.track_id = track_id;
        l.room.is_custom_track = true;
        // The host serves it to every joiner (see `peer::fly`).
        l.settings.allow_track_download = true;
    }
    l
}

/// Waits (within [`LISTING_LIMIT`]) for the coordinator to list the room.
fn wait_listed(host: &mut Session, coordinator: SocketAddr) -> Result<(), DemoError> {
    let not_listed = |why: String| DemoError::NotListed { coordinator, why };
    let deadline = Instant::now() + LISTING_LIMIT;
    loop {
        while let Some(ev) = host.poll_lobby_event() {
            match ev {
                LobbyEvent::Registered { .. } => return Ok(()),
                LobbyEvent::HostingFailed { message, .. } => {
                    return Err(not_listed(format!("it refused: {message}")))
                }
                LobbyEvent::CoordinatorUnreachable => {
                    return Err(not_listed("it did not answer".into()))
                }
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            return Err(not_listed(format!(
                "no answer within {} s",
                LISTING_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What the main thread measured of the lobby, for the report.
struct LobbyTally {
    coordinator: SocketAddr,
    room_name: String,
    /// From opening the room to the coordinator's answer.
    registered: Duration,
    /// Joiners that found the room in the list.
    found: usize,
    /// Each answered query, from asking to the page.
    queries: Vec<Duration>,
}

/// The lobby while the joiners are made: one browser for all of them,
/// used in turns.
struct DemoLobby {
    tally: LobbyTally,
    /// With a track, the query asks for rooms on its map only.
    map_id: Option<String>,
    browser: LobbyBrowser,
    /// The next joiner's query waits until then.
    next_turn: Instant,
}

impl DemoLobby {
    /// Waits for `joiner`'s turn, asks for a page of the list and finds the
    /// room in it by name (`lost`: a name no room has); the error is the
    /// joiner's error line.
    fn find(&mut self, joiner: &str, lost: bool) -> Result<SessionId, String> {
        if let Some(wait) = self.next_turn.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let asked = Instant::now();
        self.next_turn = asked + LOBBY_PACE;
        let query = ListQuery {
            map_id: self.map_id.clone(),
            limit: MAX_PAGE,
            ..ListQuery::default()
        };
        let want = self
            .browser
            .list(query)
            .map_err(|e| format!("{joiner} could not ask the lobby for its list: {e}"))?;
        let deadline = asked + LIST_LIMIT;
        let page = loop {
            match self.browser.poll() {
                Some(LobbyEvent::ListResult { request_id, page }) if request_id == want => {
                    break page
                }
                Some(LobbyEvent::ListFailed { request_id, reason }) if request_id == want => {
                    return Err(format!("{joiner}'s lobby query failed: {reason}"))
                }
                Some(_) => {}
                None if Instant::now() >= deadline => {
                    return Err(format!(
                        "{joiner}'s lobby query went unanswered for {} s",
                        LIST_LIMIT.as_secs()
                    ))
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        self.tally.queries.push(asked.elapsed());
        let room = if lost {
            format!("{} elsewhere", self.tally.room_name)
        } else {
            self.tally.room_name.clone()
        };
        match page.sessions.iter().find(|r| r.room.name == room) {
            Some(r) => {
                self.tally.found += 1;
                Ok(r.session_id)
            }
            None => Err(format!(
                "{joiner} did not find the room '{room}' in the lobby list ({} of {} rooms shown)",
                page.sessions.len(),
                page.total
            )),
        }
    }

    /// Closes the browser; what it measured stays.
    fn finish(self) -> LobbyTally {
        self.browser.close_and_wait();
        self.tally
    }
}

/// Starts the peers' threads as their sessions are made.
struct Spawner {
    pilots: usize,
    room: Arc<Room>,
    joined: crossbeam_channel::Sender<(usize, Option<ActorNr>)>,
    plan_txs: Vec<crossbeam_channel::Sender<Arc<Plan>>>,
    threads: Vec<JoinHandle<PeerOutcome>>,
}

impl Spawner {
    /// Starts peer `index`'s thread with its session (`Err`: the error line
    /// of a joiner that has none), the host's track, and for a listed join
    /// when it was asked for.
    fn spawn(
        &mut self,
        index: usize,
        spec: &PeerSpec,
        session: Result<Session, String>,
        serve: Option<Box<dyn TrackSource>>,
        listed_join: Option<Instant>,
    ) -> Result<(), DemoError> {
        let (plan_tx, plan_rx) = crossbeam_channel::bounded(1);
        self.plan_txs.push(plan_tx);
        let ctx = PeerContext {
            index,
            spec: spec.clone(),
            pilots: self.pilots,
            room: self.room.clone(),
            joined: self.joined.clone(),
            plan: plan_rx,
            serve,
            listed_join,
        };
        let t = std::thread::Builder::new()
            .name(format!("demo-{}", spec.name))
            .spawn(move || peer::run(ctx, session))
            .map_err(DemoError::Thread)?;
        self.threads.push(t);
        Ok(())
    }
}

/// Turns byte counters into rates between two calls.
#[derive(Default)]
struct KbpsMeter {
    last: Option<(Instant, Vec<PeerStats>)>,
}

impl KbpsMeter {
    /// (down, up) kbit/s for `actor` (`None`: all peers) since the last call.
    fn rate(&self, now: &[PeerStats], actor: Option<ActorNr>, secs: f64) -> (f64, f64) {
        let Some((_, before)) = &self.last else {
            return (0.0, 0.0);
        };
        let sum = |stats: &[PeerStats]| {
            stats
                .iter()
                .filter(|s| actor.is_none_or(|a| s.actor == a))
                .fold((0u64, 0u64), |(d, u), s| {
                    (d + s.counters.bytes_sent, u + s.counters.bytes_received)
                })
        };
        let (d1, u1) = sum(now);
        let (d0, u0) = sum(before);
        let k = 8.0 / 1000.0 / secs.max(1e-3);
        (
            d1.saturating_sub(d0) as f64 * k,
            u1.saturating_sub(u0) as f64 * k,
        )
    }
}

fn live_view(
    cfg: &DemoConfig,
    specs: &[PeerSpec],
    room: &Room,
    plan: &Plan,
    lobby: Option<&LobbyTally>,
    kbps: &mut KbpsMeter,
) -> LiveView {
    let now = Instant::now();
    let lives: Vec<PeerLive> = room.live.iter().map(|l| l.lock().clone()).collect();
    let host_stats = lives[0].stats.clone();
    let secs = kbps
        .last
        .as_ref()
        .map_or(1.0, |(t, _)| now.duration_since(*t).as_secs_f64());
    let rows = specs
        .iter()
        .zip(&lives)
        .map(|(spec, live)| {
            let seen_by_host = host_stats
                .iter()
                .find(|s| live.actor != 0 && s.actor == live.actor);
            let own = (spec.kind != PeerKind::Host)
                .then(|| live.stats.first())
                .flatten();
            let filter = (spec.kind != PeerKind::Host).then_some(live.actor);
            let (down, up) = if spec.kind == PeerKind::Host || seen_by_host.is_some() {
                kbps.rate(&host_stats, filter, secs)
            } else {
                (0.0, 0.0)
            };
            LiveRow {
                name: spec.name.clone(),
                kind: spec.kind,
                actor: live.actor,
                connected: live.connected,
                host_rtt_ms: seen_by_host.map(|s| s.rtt_ms),
                peer_rtt_ms: own.map(|s| s.rtt_ms),
                host_loss: seen_by_host.map(|s| s.loss),
                peer_loss: own.map(|s| s.loss),
                down_kbps: down,
                up_kbps: up,
                last_tick: match spec.kind {
                    PeerKind::Host => live.last_pushed,
                    PeerKind::Pilot => seen_by_host.map(|s| s.last_tick),
                    PeerKind::Spectator => None,
                },
            }
        })
        .collect();
    kbps.last = Some((now, host_stats));
    let lobby = lobby.map(|l| {
        let paths = |p: Path| lives.iter().filter(|l| l.path == Some(p)).count();
        format!(
            "lobby: '{}' listed at {} in {:.1} ms; {} of {} joiners found it in the list, {} joined direct, {} relayed",
            l.room_name,
            l.coordinator,
            l.registered.as_secs_f64() * 1000.0,
            l.found,
            specs.len().saturating_sub(1),
            paths(Path::Direct),
            paths(Path::Relayed)
        )
    });
    LiveView {
        elapsed_s: now.saturating_duration_since(plan.start).as_secs_f64(),
        // Stretched while a track transfer runs.
        seconds: cfg.seconds.max(
            plan.end
                .get()
                .saturating_duration_since(plan.start)
                .as_secs_f64()
                .ceil() as u64,
        ),
        rate_hz: cfg.rate_hz,
        rows,
        lobby,
    }
}

/// Sums of (bytes sent, packets sent) from the host to the peers `keep`
/// selects, between two statistics marks.
fn sent_between(a: &[PeerStats], b: &[PeerStats], keep: impl Fn(&PeerStats) -> bool) -> (u64, u64) {
    b.iter()
        .filter(|s| keep(s))
        .fold((0, 0), |(bytes, packets), s| {
            let before = a.iter().find(|x| x.actor == s.actor);
            let (b0, p0) =
                before.map_or((0, 0), |x| (x.counters.bytes_sent, x.counters.packets_sent));
            (
                bytes + s.counters.bytes_sent.saturating_sub(b0),
                packets + s.counters.packets_sent.saturating_sub(p0),
            )
        })
}

/// Every (receiver, pilot) pair's frame count, by path, and the worst pair.
#[derive(Default)]
struct FrameTally {
    pairs: Vec<PairCount>,
    by_path: [Vec<PairCount>; 4],
    worst: Option<(f64, String)>,
}

/// Laminar's header on an unreliable packet plus IPv4 and UDP.
const HEADERS_PER_DATAGRAM: u64 = 5 + 20 + 8;

fn build_report(
    cfg: &DemoConfig,
    specs: &[PeerSpec],
    plan: &Plan,
    outcomes: Vec<Option<PeerOutcome>>,
    mut errors: Vec<String>,
    transfer: Option<(TrackHash, u64, track::TransferSummary)>,
    lobby: Option<LobbyTally>,
) -> DemoReport {
    let run_for = plan.end.get().duration_since(plan.start);
    let seated: Vec<(&PeerSpec, &PeerOutcome)> = specs
        .iter()
        .zip(&outcomes)
        .filter_map(|(s, o)| o.as_ref().map(|o| (s, o)))
        .collect();
    let mut error_count = errors.len();
    for (_, o) in &seated {
        error_count += o.error_count;
        errors.extend(o.errors.iter().cloned());
    }

    // Frames: as they reached each receiver's network thread, and as its
    // game read them by polling.
    let tally = |count: fn(&PeerOutcome) -> &[Seen]| {
        let mut t = FrameTally::default();
        for (spec, o) in seated.iter().filter(|(_, o)| o.actor.is_some()) {
            for (p, actor) in plan.pilot_actors.iter().enumerate() {
                if actor.is_none() || spec.pilot == Some(p) {
                    continue;
                }
                let seen = &count(o)[p];
                let pair = PairCount {
                    got: seen.distinct,
                    expected: measure::expected_frames(
                        seen.first,
                        run_for,
                        cfg.pair_hz(p, spec.kind),
                    ),
                };
                if t.worst.as_ref().is_none_or(|(r, _)| pair.ratio() < *r) {
                    t.worst = Some((
                        pair.ratio(),
                        format!("{} -> {}", specs[pilot_spec(specs, p)].name, spec.name),
                    ));
                }
                let path = match (p, spec.kind) {
                    (_, PeerKind::Spectator) => 3,
                    (0, _) => 0,
                    (_, PeerKind::Host) => 1,
                    _ => 2,
                };
                t.by_path[path].push(pair);
                t.pairs.push(pair);
            }
        }
        t
    };
    let FrameTally {
        pairs,
        by_path,
        worst,
    } = tally(|o| &o.arrived);
    let read = tally(|o| &o.seen);

    // Latency.
    let mut latency = measure::LatencyHistogram::new();
    let mut during = measure::LatencyHistogram::new();
    let mut pilot_latency = measure::LatencyHistogram::new();
    for (_, o) in &seated {
        latency.merge(&o.latency);
        during.merge(&o.latency_during_transfer);
        pilot_latency.merge(&o.pilot_latency);
    }
    if let Some((_, _, t)) = &transfer {
        error_count += t.errors.len();
        errors.extend(t.errors.iter().cloned());
    }

    // Bytes, from the host's statistics.
    let marks = seated
        .iter()
        .find(|(s, _)| s.kind == PeerKind::Host)
        .map(|(_, o)| o.marks.clone())
        .unwrap_or_default();
    let to_pilots = |s: &PeerStats| s.role == Some(Role::Pilot);
    let per_packet = |(bytes, packets): (u64, u64)| {
        if packets == 0 {
            0.0
        } else {
            bytes as f64 / packets as f64
        }
    };
    let (mut upload, mut upload_headers, mut whole_avg, mut quiet_avg) = (0.0, 0.0, 0.0, 0.0);
    if let (Some((t0, s0)), Some((t1, s1))) = (&marks.start, &marks.end) {
        let secs = t1.duration_since(*t0).as_secs_f64().max(1e-3);
        let (bytes, packets) = sent_between(s0, s1, |_| true);
        upload = bytes as f64 * 8.0 / 1000.0 / secs;
        upload_headers = (bytes + packets * HEADERS_PER_DATAGRAM) as f64 * 8.0 / 1000.0 / secs;
        whole_avg = per_packet(sent_between(s0, s1, to_pilots));
        quiet_avg = whole_avg;
        if let (Some((ts, ss)), Some((tq, sq))) = (&marks.settled, &marks.quiet) {
            if tq > ts {
                let quiet = sent_between(ss, sq, to_pilots);
                if quiet.1 > 0 {
                    quiet_avg = per_packet(quiet);
                }
            }
        }
    } else {
        errors.push("the host's link statistics were not refreshed during the run".into());
        error_count += 1;
    }

    // Events.
    let mut sent = vec![Vec::new(); cfg.pilots];
    for (spec, o) in &seated {
        if let Some(p) = spec.pilot {
            sent[p] = o.events_raised.clone();
        }
    }
    let received: Vec<Vec<Vec<u32>>> = seated
        .iter()
        .filter(|(_, o)| o.actor.is_some())
        .map(|(_, o)| o.events_received.clone())
        .collect();
    let all_there = outcomes.iter().all(Option::is_some);
    let exactly_once = all_there && measure::exactly_once_in_order(&sent, &received);

    // The lobby: joiners seated on a path it found.
    let lobby = lobby.map(|t| {
        let joined = |p: Path| {
            seated
                .iter()
                .filter(|(_, o)| o.actor.is_some() && o.lobby_path == Some(p))
                .count()
        };
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        let joins: Vec<f64> = seated
            .iter()
            .filter_map(|(_, o)| o.welcomed_after.as_ref().map(ms))
            .collect();
        LobbySummary {
            coordinator: t.coordinator.to_string(),
            registered_ms: ms(&t.registered),
            found_by_list: t.found,
            joined_direct: joined(Path::Direct),
            joined_relayed: joined(Path::Relayed),
            list_query_ms_p50: median(t.queries.iter().map(ms).collect()),
            join_ms_p50: median(joins),
        }
    });

    let (worst_ratio, worst_pair) = worst.unwrap_or((0.0, "-".into()));
    DemoReport {
        pilots: cfg.pilots,
        spectators: cfg.spectators,
        peers_in_room: plan.participants,
        seconds: cfg.seconds,
        rate_hz: cfg.rate_hz,
        spectator_rate_hz: cfg.spectator_rate_hz(),
        physics_hz: cfg.physics_hz,
        frames_delivered_ratio: measure::delivered_ratio(&pairs),
        frames_read_ratio: measure::delivered_ratio(&read.pairs),
        frames_delivered_by_path: FramesByPath {
            host_to_pilots: measure::delivered_ratio(&by_path[0]),
            pilots_to_host: measure::delivered_ratio(&by_path[1]),
            pilot_to_pilot: measure::delivered_ratio(&by_path[2]),
            to_spectators: measure::delivered_ratio(&by_path[3]),
        },
        frames_got: pairs.iter().map(PairCount::clamped).sum(),
        frames_expected: pairs.iter().map(|p| p.expected).sum(),
        frames_worst_pair_ratio: worst_ratio,
        frames_worst_pair: worst_pair,
        latency_ms: LatencySummary::of(&latency),
        pilot_latency_ms: LatencySummary::of(&pilot_latency),
        seconds_flown: run_for.as_secs_f64(),
        track_hash: transfer.as_ref().map(|(h, _, _)| h.to_string()),
        track_bytes: transfer.as_ref().map(|(_, b, _)| *b),
        tracks_installed: transfer.as_ref().map(|(_, _, t)| t.installed),
        track_installed_as: transfer.as_ref().map(|(_, _, t)| t.names.clone()),
        track_transfer_mb_s: transfer.as_ref().and_then(|(_, _, t)| t.mib_per_s),
        latency_ms_during_transfer: transfer.as_ref().map(|_| LatencySummary::of(&during)),
        bytes_per_pilot_frame: SNAPSHOT_ENTRY,
        wire_bytes_per_snapshot_avg: quiet_avg,
        wire_bytes_per_packet_to_pilots_avg: whole_avg,
        host_upload_kbps: upload,
        host_upload_kbps_with_headers: upload_headers,
        events_sent: sent.iter().map(|s| s.len() as u64).sum(),
        events_delivered_exactly_once: exactly_once,
        pushes_dropped: seated.iter().map(|(_, o)| o.pushes_dropped).sum(),
        datagrams_dropped: seated.iter().map(|(_, o)| o.transport.dropped_full).sum(),
        max_poll_gap_ms: seated
            .iter()
            .map(|(_, o)| o.max_poll_gap.as_secs_f64() * 1000.0)
            .fold(0.0, f64::max),
        errors: error_count,
        error_messages: errors,
        lobby,
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn pilot_spec(specs: &[PeerSpec], pilot: usize) -> usize {
    specs
        .iter()
        .position(|s| s.pilot == Some(pilot))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_in_the_messages() {
        let mut c = DemoConfig {
            pilots: 7,
            ..DemoConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "--pilots 7 is more than a room holds (6 pilots, the host included)"
        );
        c.pilots = 0;
        assert!(c.validate().unwrap_err().to_string().contains("1 to 6"));
        c.pilots = 6;
        c.spectators = 16;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("15 spectators"));
        c.spectators = 15;
        c.rate_hz = 5;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("10 to 240 Hz"));
        c.rate_hz = 241;
        assert!(c.validate().is_err());
        c.rate_hz = 240;
        c.seconds = 0;
        assert!(c.validate().is_err());
        c.seconds = 1;
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.spectator_rate_hz(), 120);
        c.rate_hz = 10;
        assert_eq!(c.spectator_rate_hz(), 10, "never below the floor");
    }

    #[test]
    fn pair_rates_follow_the_slower_clock() {
        let c = DemoConfig::default();
        assert_eq!(c.pair_hz(0, PeerKind::Pilot), 60.0, "host pilot to a bot");
        assert_eq!(c.pair_hz(2, PeerKind::Host), 60.0, "a bot to the host");
        assert_eq!(c.pair_hz(2, PeerKind::Spectator), 30.0);
        let fast = DemoConfig {
            rate_hz: 240,
            ..DemoConfig::default()
        };
        assert_eq!(
            fast.pair_hz(0, PeerKind::Pilot),
            120.0,
            "no more than the physics rate"
        );
        assert_eq!(fast.pair_hz(0, PeerKind::Host), 120.0);
    }

    #[test]
    fn the_schedule_has_one_full_size_event_and_numbers_each_sender() {
        let t0 = Instant::now();
        let ev = schedule(
            t0,
            Duration::from_secs(1),
            Duration::from_millis(4500),
            &[0, 2, 3],
            7,
        );
        assert_eq!(ev.len(), 15);
        assert_eq!(ev.iter().filter(|e| e.len == MAX_EVENT_PAYLOAD).count(), 1);
        assert!(ev
            .iter()
            .all(|e| e.len <= MAX_EVENT_PAYLOAD && e.len >= measure::EVENT_HEADER));
        for s in [0, 2, 3] {
            let seqs: Vec<u32> = ev.iter().filter(|e| e.sender == s).map(|e| e.seq).collect();
            assert_eq!(seqs, (0..seqs.len() as u32).collect::<Vec<_>>());
        }
        assert!(ev.iter().all(|e| e.sender != 1));
    }

    #[test]
    fn coordinator_values_parse_and_unusable_addresses_are_named() {
        assert_eq!("local".parse(), Ok(DemoCoordinator::Local));
        assert_eq!("LOCAL".parse(), Ok(DemoCoordinator::Local));
        let at: DemoCoordinator = "127.0.0.1:7777".parse().unwrap();
        assert_eq!(at, DemoCoordinator::At(([127, 0, 0, 1], 7777).into()));
        assert_eq!(at.to_string(), "127.0.0.1:7777");
        assert!("[::1]:7777".parse::<DemoCoordinator>().is_ok());
        let e = "not-an-address".parse::<DemoCoordinator>().unwrap_err();
        assert!(e.contains("not-an-address"), "{e}");
        for bad in ["0.0.0.0:7777", "127.0.0.1:0", "224.0.0.1:7777"] {
            let cfg = DemoConfig {
                coordinator: Some(bad.parse().unwrap()),
                ..DemoConfig::default()
            };
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains("--coordinator") && e.contains(bad), "{e}");
        }
        assert_eq!(
            bind_address(Some(([127, 0, 0, 1], 7).into())),
            ([127, 0, 0, 1], 0).into()
        );
        assert!(bind_address(Some(([192, 0, 2, 1], 7).into()))
            .ip()
            .is_unspecified());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
        let name = room_name();
        assert!(
            name.starts_with("propwash demo ") && name.len() == 18,
            "{name}"
        );
    }

    /// A listed room through an in-process coordinator, where one joiner
    /// looks for the wrong room: it is one error line, and everyone else
    /// finds the room in the list, joins it by id and flies cleanly.
    #[test]
    fn a_joiner_that_does_not_find_the_room_is_an_error_line() {
        let cfg = DemoConfig {
            pilots: 2,
            spectators: 2,
            seconds: 2,
            coordinator: Some(DemoCoordinator::Local),
            lost_joiner: Some(3),
            ..DemoConfig::default()
        };
        let r = run(&cfg, |_| {}).expect("demo runs");
        assert_eq!(r.errors, 1, "{:?}", r.error_messages);
        assert!(
            r.error_messages[0].starts_with("spectator-2 did not find the room 'propwash demo "),
            "{:?}",
            r.error_messages
        );
        assert_eq!(r.peers_in_room, 3, "{:?}", r.error_messages);
        assert!(r.events_delivered_exactly_once, "{:?}", r.error_messages);
        let ratio = r.frames_delivered_ratio;
        let lobby = r.lobby.expect("a lobby summary");
        assert!(lobby.coordinator.starts_with("127.0.0.1:"), "{lobby:?}");
        assert_eq!(lobby.found_by_list, 2);
        assert_eq!(lobby.joined_direct, 2, "loopback needs no relay");
        assert_eq!(lobby.joined_relayed, 0);
        assert!(lobby.list_query_ms_p50.is_some() && lobby.join_ms_p50.is_some());
        assert!(ratio.expect("pairs were measured") > 0.9, "{ratio:?}");
    }

    /// A real room on loopback in which one bot stops pushing half way: the
    /// frames ratio must show it, and everything else must stay clean.
    #[test]
    fn a_pilot_that_goes_quiet_pulls_the_frames_ratio_down() {
        let cfg = DemoConfig {
            pilots: 3,
            spectators: 2,
            seconds: 2,
            silence: Some((2, Duration::from_secs(1))),
            ..DemoConfig::default()
        };
        let r = run(&cfg, |_| {}).expect("demo runs");
        assert_eq!(r.errors, 0, "{:?}", r.error_messages);
        assert!(r.events_delivered_exactly_once);
        // bot-2 feeds 4 of the 12 pairs and goes quiet half way: about 1/6
        // of the expected frames never come.
        let ratio = r.frames_delivered_ratio.expect("pairs were measured");
        assert!(
            ratio < 0.9,
            "ratio {ratio} should fall when a pilot goes quiet"
        );
        assert!(
            r.frames_worst_pair.starts_with("bot-2"),
            "{}",
            r.frames_worst_pair
        );
        assert!(r.frames_worst_pair_ratio < 0.6);
    }
}
