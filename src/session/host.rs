//! The listen server. The hosting racer is pilot 1 (actor 1, pilot seat 0);
//! everyone else is a peer with a link, seated after proving their address
//! with a cookie, so a flood of spoofed hellos costs one hash each and
//! never a seat. A room may also ask a password, proven with that cookie so
//! it never travels, and check joiners' Steam tickets (through a
//! [`JoinGate`]) before seating them, never seating one Steam id twice.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::budget::{SenderBudget, Tokens, Verdict, RECEIVER_HIGH_WATER};
use super::client::CHALLENGE_ASKS_PASSWORD;
use super::clock::Pinger;
use super::link::{Lane, Link};
use super::room::{RoomError, RoomState};
use super::seal::{self, HostKey, Seal, KEY_BYTES};
use super::snapshot::{self, SentFrames};
use super::unreliable::{self, Outbox};
use super::FRAME_REFRESH;
use super::{
    interval_for, loss_fraction, packet, slot_after, CloseReason, Event, PeerStats, SessionError,
    Transmit, DEFAULT_PILOT_HZ, DEFAULT_SPECTATOR_HZ, DEFAULT_TIMEOUT, HOST_ACTOR, MAX_PILOTS,
    MAX_SPECTATORS,
};
use crate::identity::verify::{
    ticket_from_hex, JoinGate, RefuseKind, SeatDecision, TicketVerifier, MAX_TICKET_BYTES,
};
use crate::proto::control::{MAX_EVENT_PAYLOAD, MAX_NAME_BYTES};
use crate::proto::frame::{next_run, tick_newer};
use crate::proto::room::{
    ActorNr, GroupChange, Props, PropsChanged, Raise, RoomSettings, SetProps,
};
use crate::proto::wire::{
    PacketKind, Reader, SectionKind, WireError, Writer, HANDSHAKE_HEADER, MAGIC, MAX_PAYLOAD,
    PROTOCOL_VERSION,
};
use crate::proto::{
    Control, GameEvent, Hello, LeaveReason, Message, PilotFrame, PilotInput, PlayerInfo, Quantized,
    RefuseReason, Role, FRAME_BYTES, INPUT_BYTES,
};
use crate::track::transfer::{tag_of, Announcement, TrackMsg, TrackSource, Upload};
use crate::track::TrackManifest;

/// How the host runs its room.
#[derive(Clone)]
pub struct HostConfig {
    /// The game build; joiners must run the same.
    pub game_version: String,
    /// The hosting racer's display name.
    pub name: String,
    /// The hosting racer's player id.
    pub player_id: String,
    /// Snapshots per second to pilots (10 to 240).
    pub pilot_hz: u32,
    /// Snapshots per second to spectators (10 to 240).
    pub spectator_hz: u32,
    /// Pilot seats, the host's included (1 to 6).
    pub max_pilots: usize,
    /// Spectator seats (0 to 15).
    pub max_spectators: usize,
    /// Silence after which a peer is dropped.
    pub timeout: Duration,
    /// The room's settings (Photon's MaxPlayers, IsOpen, IsVisible,
    /// CleanupCacheOnLeave).
    pub settings: RoomSettings,
    /// Initial room properties.
    pub room: Props,
    /// The host's own player properties as it opens the room.
    pub host_props: Props,
    /// Key for address-proving cookies; random per room in production.
    pub cookie_secret: [u8; 32],
    /// Secret of the room's static X25519 key, whose public half the
    /// challenges and the lobby listing carry; random per room in
    /// production.
    pub key_secret: [u8; 32],
    /// Track upload pace per joiner, bytes per second.
    pub track_rate_per_joiner: u64,
    /// Track upload pace for the whole room, bytes per second.
    pub track_rate_room: u64,
    /// Admit only joiners whose Steam ticket the host verified.
    pub require_verified: bool,
    /// The room password (`None` or empty: none). The joiner's hello is
    /// sealed under a key derived from it; it never travels.
    pub password: Option<String>,
    /// The host's own Steam id, when the host runs under Steam: shown as
    /// verified in the host's player record, and no joiner may claim it.
    pub steam_id: Option<u64>,
}

impl std::fmt::Debug for HostConfig {
    // By hand so the password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("game_version", &self.game_version)
            .field("name", &self.name)
            .field("player_id", &self.player_id)
            .field("pilot_hz", &self.pilot_hz)
            .field("spectator_hz", &self.spectator_hz)
            .field("max_pilots", &self.max_pilots)
            .field("max_spectators", &self.max_spectators)
            .field("timeout", &self.timeout)
            .field("settings", &self.settings)
            .field("room", &self.room.len())
            .field("host_props", &self.host_props.len())
            .field("cookie_secret", &"<secret>")
            .field("key_secret", &"<secret>")
            .field("track_rate_per_joiner", &self.track_rate_per_joiner)
            .field("track_rate_room", &self.track_rate_room)
            .field("require_verified", &self.require_verified)
            .field("password", &self.room_password().map(|_| "<secret>"))
            .field("steam_id", &self.steam_id)
            .finish()
    }
}

impl HostConfig {
    /// A room with the default rates and full capacity.
    pub fn new(game_version: &str, name: &str) -> Self {
        HostConfig {
            game_version: game_version.to_string(),
            name: name.to_string(),
            player_id: String::new(),
            pilot_hz: DEFAULT_PILOT_HZ,
            spectator_hz: DEFAULT_SPECTATOR_HZ,
            max_pilots: MAX_PILOTS,
            max_spectators: MAX_SPECTATORS,
            timeout: DEFAULT_TIMEOUT,
            settings: RoomSettings::default(),
            room: Props::new(),
            host_props: Props::new(),
            cookie_secret: [0; 32],
            key_secret: [0; 32],
            track_rate_per_joiner: DEFAULT_TRACK_RATE_PER_JOINER,
            track_rate_room: DEFAULT_TRACK_RATE_ROOM,
            require_verified: false,
            password: None,
            steam_id: None,
        }
    }

    /// The password joiners must prove, if the room has one.
    fn room_password(&self) -> Option<&str> {
        self.password.as_deref().filter(|p| !p.is_empty())
    }
}

/// Default track upload pace per joiner: 8 MiB/s.
pub const DEFAULT_TRACK_RATE_PER_JOINER: u64 = 8 << 20;
/// Default track upload pace for the room: 24 MiB/s.
pub const DEFAULT_TRACK_RATE_ROOM: u64 = 24 << 20;
/// Bulk bytes a bucket may save up (a burst).
const BULK_BURST: f64 = 64.0 * 1024.0;
/// Addresses with a track pace of their own, at most (the oldest goes).
const MAX_BULK_LIMITS: usize = 64;
/// Bulk bytes queued in a link ahead of what is on the wire.
const BULK_QUEUE: usize = 128 * 1024;

/// A bucket pacing bulk bytes, saving up at most a quarter second of
/// `rate` (between two fragments and [`BULK_BURST`]): a slow path gets no
/// burst it cannot carry.
fn bulk_bucket(now: Instant, rate: u64) -> Tokens {
    let rate = rate.max(1) as f64;
    let burst = (rate / 4.0).clamp(2.0 * crate::session::link::FRAGMENT_DATA as f64, BULK_BURST);
    Tokens::new(now, rate, burst)
}

/// When a bulk bucket holds a whole fragment's worth (with a byte to spare).
fn fragment_ready_at(bucket: &Tokens) -> Instant {
    bucket.ready_at(crate::session::link::FRAGMENT_DATA as f64 + 1.0)
}

/// Silence after which a verified player's seat makes way for the same
/// Steam id rejoining from another address.
const REJOIN_SILENCE: Duration = Duration::from_secs(2);

/// Wrong passwords one IPv4 address or IPv6 /64 may try per
/// [`GUESS_WINDOW`] before it is refused without checking for
/// [`GUESS_LOCKOUT`].
const GUESS_LIMIT: u32 = 5;
const GUESS_WINDOW: Duration = Duration::from_secs(60);
const GUESS_LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses the guess limiter remembers at most (the stalest goes).
const GUESS_TABLE: usize = 256;

/// Counts wrong passwords per source: an IPv4 address, or an IPv6 /64
/// (one subscriber's share, which a guesser could otherwise cycle
/// through). A guess needs the host's per-address cookie, so a guesser
/// must really own its address; this bounds how fast one source may
/// guess. Offline guessing is not possible at all: see [`super::seal`].
#[derive(Debug, Default)]
struct GuessLimiter {
    /// (source, wrong passwords in the window, window start, locked until)
    entries: Vec<(std::net::IpAddr, u32, Instant, Option<Instant>)>,
}

/// The source a guess is counted against: the address, or its /64.
fn guess_source(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

impl GuessLimiter {
    /// How long `ip`'s source is still locked out, if it is.
    fn locked(&self, now: Instant, ip: std::net::IpAddr) -> Option<Duration> {
        let ip = guess_source(ip);
        self.entries
            .iter()
            .find(|e| e.0 == ip)
            .and_then(|e| e.3)
            .filter(|&until| now < until)
            .map(|until| until - now)
    }

    /// Notes one wrong password from `ip`'s source.
    fn wrong(&mut self, now: Instant, ip: std::net::IpAddr) {
        let ip = guess_source(ip);
        let i = match self.entries.iter().position(|e| e.0 == ip) {
            Some(i) => i,
            None => {
                if self.entries.len() >= GUESS_TABLE {
                    let stalest = (0..self.entries.len())
                        .min_by_key(|&i| self.entries[i].2)
                        .unwrap_or(0);
                    self.entries.swap_remove(stalest);
                }
                self.entries.push((ip, 0, now, None));
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        if now.saturating_duration_since(e.2) >= GUESS_WINDOW {
            (e.1, e.2, e.3) = (0, now, None);
        }
        e.1 += 1;
        if e.1 >= GUESS_LIMIT {
            e.3 = Some(now + GUESS_LOCKOUT);
            (e.1, e.2) = (0, now + GUESS_LOCKOUT);
        }
    }
}

/// Refusals and challenges the host sends per second at most...
const ANSWER_BUDGET_PER_SEC: f64 = 200.0;
/// ...and to one source (an IPv4 address or an IPv6 /64), per second and
/// at once: a joiner needs two or three, a household a few more.
const ANSWER_BUDGET_PER_SOURCE: f64 = 10.0;
const ANSWER_BURST_PER_SOURCE: f64 = 20.0;
/// Sources whose answer budgets the host keeps at most.
const ANSWER_SOURCES: usize = 1024;
/// How long a departed peer's link stays to acknowledge its goodbye.
const DEPART_LINGER: Duration = Duration::from_secs(1);
/// Ticks of input history kept per pilot.
const INPUT_HISTORY: usize = 256;
/// Cookies stay valid for two of these periods.
const COOKIE_PERIOD_SECS: u64 = 10;
/// Bytes of a challenge: magic, kind, cookie, the host's key, flags, the
/// host's Steam id (0: none). A hello without a valid cookie is answered
/// only when at least this long.
pub(crate) const CHALLENGE_LEN: usize = HANDSHAKE_HEADER + 8 + KEY_BYTES + 1 + 8;
/// Seating hellos remembered against replay (see `used_hello_keys`).
const MAX_USED_HELLO_KEYS: usize = 1024;
/// Joins waiting for Steam at once; more are refused rather than queued,
/// so address-proven joiners cannot make the host hold unbounded state.
const MAX_PENDING_JOINS: usize = 32;

/// A hello whose Steam ticket is being checked, kept to seat its sender
/// once Steam answers.
struct PendingHello {
    hello: Hello,
    steam_id: u64,
    seal: Seal,
    joiner_key: [u8; KEY_BYTES],
}

struct PilotSeat {
    actor: ActorNr,
    /// The run `frame` (and `previous`) belong to: bumped by the pilot when
    /// its ticks start over.
    run: u8,
    frame: Option<PilotFrame>,
    received_us: u64,
    serial: u64,
    /// The frame before `frame` (with its arrival time and serial): when a
    /// newer one replaced it before a peer's snapshot went out, that
    /// snapshot carries both, so a pilot sending at the snapshot rate never
    /// loses frames to the two timers drifting into step.
    previous: Option<(PilotFrame, u64, u64)>,
    inputs: Box<[(u32, PilotInput, bool); INPUT_HISTORY]>,
    inputs_recovered: u64,
    /// When this seat's frame last set the other pilots' forwards off: at
    /// most two a send interval, so a pilot sending faster than the rate
    /// cannot make the host fan out more than twice what it allows.
    forwarded_at: Option<Instant>,
}

impl PilotSeat {
    /// Whether a frame of `run` and `tick` is newer than the one held.
    fn is_newer(&self, run: u8, tick: u32) -> bool {
        self.frame
            .is_none_or(|f| tick_newer(run, tick, self.run, f.tick))
    }

    /// Takes `frame` of `run` when it is newer than the one held; a new run
    /// starts over (its ticks mean nothing against the old run's inputs).
    /// Returns whether it took it.
    fn offer(&mut self, run: u8, frame: PilotFrame, now_us: u64) -> bool {
        if !self.is_newer(run, frame.tick) {
            return false;
        }
        if run != self.run {
            self.run = run;
            self.frame = None;
            self.previous = None;
            for slot in self.inputs.iter_mut() {
                slot.2 = false;
            }
        }
        self.record_input(frame.tick, frame.input, false);
        self.set_frame(frame, now_us);
        true
    }

    fn set_frame(&mut self, frame: PilotFrame, now_us: u64) {
        if let Some(old) = self.frame {
            self.previous = Some((old, self.received_us, self.serial));
        }
        self.frame = Some(frame);
        self.received_us = now_us;
        self.serial += 1;
    }

    fn new(actor: ActorNr) -> Self {
        PilotSeat {
            actor,
            run: 0,
            previous: None,
            frame: None,
            received_us: 0,
            serial: 0,
            forwarded_at: None,
            inputs: Box::new([(0, PilotInput::default(), false); INPUT_HISTORY]),
            inputs_recovered: 0,
        }
    }

    fn record_input(&mut self, tick: u32, input: PilotInput, redundant: bool) {
        let slot = &mut self.inputs[tick as usize % INPUT_HISTORY];
        if slot.2 && slot.0 == tick {
            return;
        }
        // Only fill a slot with an older tick than the one it holds if that is
        // a genuine gap; never let an old input overwrite a newer one.
        if slot.2 && tick_newer(0, slot.0, 0, tick) {
            return;
        }
        *slot = (tick, input, true);
        if redundant {
            self.inputs_recovered += 1;
        }
    }
}

struct Peer {
    addr: SocketAddr,
    info: PlayerInfo,
    link: Link,
    pinger: Pinger,
    seal: Seal,
    seat: Option<usize>,
    /// A pilot's forward: when the newest frames that arrived since its
    /// last snapshot go out to it (on arrival, not on its snapshot timer).
    forward_at: Option<Instant>,
    next_full_at: Instant,
    next_follow_at: Instant,
    full_interval: Duration,
    follow: Option<ActorNr>,
    sent_serial: [u64; MAX_PILOTS],
    /// When each seat's frame last went to this peer.
    sent_at: [Option<Instant>; MAX_PILOTS],
    departing_until: Option<Instant>,
    upload: Option<Upload>,
    bulk: Tokens,
    /// The Steam id the host verified for this peer, whose Steam session
    /// ends when they leave.
    steam_id: Option<u64>,
    /// Everyone else was told this peer joined (after its join properties
    /// came, or [`ANNOUNCE_WAIT`] after it was seated).
    announced: bool,
    seated_at: Instant,
    /// Per-tick-lane events waiting for the next packet to this peer.
    unreliable: Outbox,
    /// What this peer may make the room carry.
    budget: SenderBudget,
    /// The frames our recent packets to this peer carried (delta bases).
    sent_frames: SentFrames,
}

impl Peer {
    fn seated(&self) -> bool {
        self.departing_until.is_none()
    }
}

/// How long a new peer's join properties are waited for before the others
/// are told it joined without them.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(1);
/// A pilot's frame waits this long at most on the host for others arriving
/// just after it, so they share one datagram to each pilot.
pub(crate) const FORWARD_COALESCE: Duration = Duration::from_micros(500);

/// The listen server's sans-IO core. See the module docs of
/// [`crate::session`] for when to call what.
pub struct Host {
    cfg: HostConfig,
    epoch: Instant,
    peers: Vec<Peer>,
    seats: [Option<PilotSeat>; MAX_PILOTS],
    seat_freed_at: [Option<Instant>; MAX_PILOTS],
    host_info: PlayerInfo,
    /// Actors, properties, groups, master and event cache.
    state: RoomState,
    events: VecDeque<Event>,
    answers: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Challenges and refusals for the whole room...
    answer_budget: Tokens,
    /// ...and per source (an IPv4 address or an IPv6 /64), so one source
    /// flooding hellos cannot use up the answers everyone else needs.
    answer_sources: HashMap<std::net::IpAddr, Tokens>,
    tx_start: usize,
    tx_scanned: usize,
    closed: bool,
    membership_version: u64,
    track: Option<Box<dyn TrackSource>>,
    track_download: bool,
    room_bulk: Tokens,
    /// Wrong password proofs per source IP: guessing is slowed to a few
    /// tries a minute per address.
    guesses: GuessLimiter,
    /// Track upload caps for particular addresses (peers behind a relay
    /// with a cap of its own), applied when they are seated.
    bulk_limits: Vec<(SocketAddr, u64)>,
    gate: JoinGate<Box<dyn TicketVerifier>>,
    /// Hellos waiting for Steam, by sender address.
    verifying: HashMap<SocketAddr, PendingHello>,
    /// The room's static key.
    key: HostKey,
    /// Joiner keys of hellos that seated someone, and when: a replayed
    /// hello (its cookie still valid) must not seat a second session under
    /// keys whose captured packets could then be replayed into it.
    used_hello_keys: HashMap<[u8; KEY_BYTES], Instant>,
    /// The latest time any call brought, for `poll_timeout`, which takes none.
    last_now: Instant,
    /// Datagrams dropped as malformed, from strangers, or over budget.
    pub rejected_datagrams: u64,
    /// Of those, the packets from a seated peer's address that did not
    /// open (forged, damaged or replayed), and hellos replayed.
    pub unsealed_dropped: u64,
    /// Events and property changes of peers refused over their budget.
    pub flood_refused: u64,
    /// Peers dropped for flooding the room.
    pub flooders_dropped: u64,
}

impl Host {
    /// Opens a room at `now`; the host occupies pilot seat 0 as actor 1.
    pub fn new(mut cfg: HostConfig, now: Instant) -> Self {
        cfg.max_pilots = cfg.max_pilots.clamp(1, MAX_PILOTS);
        cfg.max_spectators = cfg.max_spectators.min(MAX_SPECTATORS);
        cfg.name = clean_name(&cfg.name, HOST_ACTOR);
        let key_secret = cfg.key_secret;
        let host_info = PlayerInfo {
            actor: HOST_ACTOR,
            role: Role::Pilot,
            seat: Some(0),
            name: cfg.name.clone(),
            player_id: cfg.player_id.clone(),
            props: Props::new(),
            steam_id: cfg.steam_id.map(|id| id.to_string()),
            verified: cfg.steam_id.is_some(),
        };
        let gate = JoinGate::new(Err("no Steam on this host".into()), cfg.require_verified);
        let mut seats: [Option<PilotSeat>; MAX_PILOTS] = Default::default();
        seats[0] = Some(PilotSeat::new(HOST_ACTOR));
        let cfg_rate_room = cfg.track_rate_room;
        let state = RoomState::new(
            cfg.settings,
            std::mem::take(&mut cfg.room),
            std::mem::take(&mut cfg.host_props),
        );
        Host {
            state,
            cfg,
            epoch: now,
            peers: Vec::new(),
            seats,
            seat_freed_at: [None; MAX_PILOTS],
            host_info,
            events: VecDeque::new(),
            answers: VecDeque::new(),
            answer_budget: Tokens::new(now, ANSWER_BUDGET_PER_SEC, ANSWER_BUDGET_PER_SEC),
            answer_sources: HashMap::new(),
            tx_start: 0,
            tx_scanned: 0,
            closed: false,
            membership_version: 0,
            track: None,
            track_download: false,
            room_bulk: bulk_bucket(now, cfg_rate_room),
            bulk_limits: Vec::new(),
            guesses: GuessLimiter::default(),
            gate,
            verifying: HashMap::new(),
            key: HostKey::from_secret(key_secret),
            used_hello_keys: HashMap::new(),
            last_now: now,
            rejected_datagrams: 0,
            unsealed_dropped: 0,
            flood_refused: 0,
            flooders_dropped: 0,
        }
    }

    /// How this host checks joiners' Steam tickets: a verifier, or
    /// `Err(why)` when it cannot (no Steam here). Without a call, the host
    /// cannot check tickets. Meant for right after [`Host::new`]: replacing
    /// a verifier ends the checks and sessions the previous one had open
    /// (those players stay seated, their ids still reserved).
    pub fn set_verifier(&mut self, verifier: Result<Box<dyn TicketVerifier>, String>) {
        self.gate.close();
        // Joiners still waiting say hello again and are checked anew.
        self.verifying.clear();
        self.gate = JoinGate::new(verifier, self.cfg.require_verified);
    }

    /// Admits only joiners whose Steam ticket was verified (or everyone,
    /// with `false`), for joins decided from now on; players already
    /// seated stay.
    pub fn set_require_verified(&mut self, require_verified: bool) {
        self.cfg.require_verified = require_verified;
        self.gate.set_require_verified(require_verified);
    }

    /// Verified Steam ids of everyone seated, the host's own included: no
    /// joiner may take one of them.
    fn seated_steam_ids(&self) -> Vec<u64> {
        self.cfg
            .steam_id
            .into_iter()
            .chain(
                self.peers
                    .iter()
                    .filter(|p| p.seated())
                    .filter_map(|p| p.steam_id),
            )
            .collect()
    }

    fn saw(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
    }

    /// The host clock: microseconds since the room opened.
    pub fn host_time_us(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Everyone seated, the host first, with their properties.
    pub fn players(&self) -> Vec<PlayerInfo> {
        self.listed(false)
    }

    /// Everyone seated (`announced_only`: whom the others were told of),
    /// the host first.
    fn listed(&self, announced_only: bool) -> Vec<PlayerInfo> {
        let mut v = vec![self.with_props(&self.host_info)];
        v.extend(
            self.peers
                .iter()
                .filter(|p| p.seated() && (p.announced || !announced_only))
                .map(|p| self.with_props(&p.info)),
        );
        v
    }

    /// A player's record with the properties the room holds for them.
    fn with_props(&self, info: &PlayerInfo) -> PlayerInfo {
        let mut info = info.clone();
        if let Some(a) = self.state.actor(info.actor) {
            info.props.clone_from(&a.props);
        }
        info
    }

    /// The room's properties.
    pub fn room_props(&self) -> &Props {
        &self.state.props
    }

    /// The room's game-server state: actors, properties, settings, master,
    /// groups and the event cache.
    pub fn room(&self) -> &RoomState {
        &self.state
    }

    /// Addresses the host still exchanges data with (seated or departing).
    pub fn peer_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.peers.iter().map(|p| p.addr)
    }

    /// Changes whenever a peer is seated or forgotten.
    pub fn membership_version(&self) -> u64 {
        self.membership_version
    }

    /// The input a pilot gave at `tick`, if the host has it (from the
    /// pilot's frame or from the redundant copies in later packets).
    pub fn input(&self, actor: ActorNr, tick: u32) -> Option<PilotInput> {
        let seat = self.seats.iter().flatten().find(|s| s.actor == actor)?;
        let (t, input, valid) = seat.inputs[tick as usize % INPUT_HISTORY];
        (valid && t == tick).then_some(input)
    }

    /// Each seated peer's link statistics.
    pub fn stats(&self) -> Vec<PeerStats> {
        self.peers
            .iter()
            .filter(|p| p.seated())
            .map(|p| {
                let seat = p.seat.and_then(|s| self.seats[s].as_ref());
                PeerStats {
                    actor: p.info.actor,
                    role: Some(p.info.role),
                    rtt_ms: p.pinger.rtt().map_or(0.0, |d| d.as_secs_f32() * 1000.0),
                    loss: loss_fraction(&p.link.counters),
                    counters: p.link.counters,
                    last_tick: seat.and_then(|s| s.frame).map_or(0, |f| f.tick),
                    inputs_recovered: seat.map_or(0, |s| s.inputs_recovered),
                }
            })
            .collect()
    }

    /// The host's own frame for this tick (the host is pilot 1). A tick
    /// the game pushed already keeps the first; a tick that goes back (a
    /// race restart) starts a new run, which everyone follows at once.
    pub fn push_local_frame(&mut self, now: Instant, frame: PilotFrame) {
        let now_us = self.host_time_us(now);
        if let Some(seat) = self.seats[0].as_mut() {
            let mut run = seat.run;
            if let Some(last) = seat.frame {
                if last.tick == frame.tick {
                    return;
                }
                if !tick_newer(run, frame.tick, run, last.tick) {
                    run = next_run(run);
                }
            }
            if seat.offer(run, frame, now_us) {
                self.forward(now, 0);
            }
        }
    }

    /// The next slot at which the host takes its own game's newest frame
    /// (the pilot send rate, on the host's clock).
    pub fn push_slot(&self, now: Instant) -> Instant {
        slot_after(self.epoch, now, interval_for(self.cfg.pilot_hz))
    }

    /// Sends the new frame of seat `s` on to the other pilots now (with
    /// whatever else arrives within [`FORWARD_COALESCE`]), rather than at
    /// their next snapshot; at most twice a send interval per seat, the
    /// rest waits for the snapshot timer.
    fn forward(&mut self, now: Instant, s: usize) {
        let half = interval_for(self.cfg.pilot_hz) / 2;
        let Some(seat) = self.seats[s].as_mut() else {
            return;
        };
        if seat.forwarded_at.is_some_and(|t| now < t + half) {
            return;
        }
        seat.forwarded_at = Some(now);
        let at = now + FORWARD_COALESCE;
        for p in &mut self.peers {
            if p.info.role == Role::Pilot && p.seat != Some(s) && p.seated() {
                p.forward_at = Some(p.forward_at.map_or(at, |t| t.min(at)));
            }
        }
    }

    /// Raises a game event from the host: routed, cached and delivered as
    /// the room's server would (the host's own game gets it too when it is
    /// among the receivers).
    pub fn raise(&mut self, ev: Raise) -> Result<(), SessionError> {
        if ev.payload.len() > MAX_EVENT_PAYLOAD {
            return Err(SessionError::EventTooLarge(ev.payload.len()));
        }
        self.raise_from(HOST_ACTOR, ev)?;
        Ok(())
    }

    /// Changes properties (the room's, the host's own or another player's)
    /// for the host. Everyone else is told; the host's own game gets the
    /// change as an event too.
    pub fn set_props(&mut self, req: SetProps) -> Result<(), SessionError> {
        let changed = self.state.set_props(HOST_ACTOR, &req)?;
        self.tell_props(changed);
        Ok(())
    }

    /// Changes the interest groups the host's own game receives.
    pub fn change_groups(&mut self, change: &GroupChange) {
        self.state
            .change_groups(HOST_ACTOR, change.remove.as_deref(), change.add.as_deref());
    }

    /// Routes an event of `from` through the room and delivers it.
    fn raise_from(&mut self, from: ActorNr, ev: Raise) -> Result<(), RoomError> {
        let routed = self.state.raise(from, &ev)?;
        if !routed.receivers.is_empty() {
            self.deliver(from, &ev, &routed.receivers);
        }
        Ok(())
    }

    /// Hands an event to each receiver: the host's own game, or a peer's
    /// reliable lane or per-tick outbox.
    fn deliver(&mut self, from: ActorNr, ev: &Raise, receivers: &[ActorNr]) {
        let section = (!ev.reliable)
            .then(|| unreliable::host_section(from, ev.code, &ev.payload))
            .flatten();
        let reliable = section.is_none().then(|| {
            Message::Event(GameEvent {
                from,
                code: ev.code,
                payload: ev.payload.clone(),
            })
            .encode()
        });
        let key = unreliable::key(from, ev.slot);
        let mut broken = Vec::new();
        let mut swamped = 0;
        for (i, p) in self.peers.iter_mut().enumerate() {
            if !p.seated() || !receivers.contains(&p.info.actor) {
                continue;
            }
            match (&section, &reliable) {
                (Some(s), _) => p.unreliable.push(key, s.clone()),
                // A peer's events never push another peer's queue toward
                // the size that breaks its link: the sender pays instead.
                (None, Some(bytes))
                    if from != HOST_ACTOR
                        && p.link.queued_bytes(Lane::Control) + bytes.len()
                            > RECEIVER_HIGH_WATER =>
                {
                    swamped += 1;
                }
                (None, Some(bytes)) => {
                    if p.link.send_message(bytes).is_err() {
                        broken.push(i);
                    }
                }
                (None, None) => {}
            }
        }
        self.drop_backlogged(broken);
        if swamped > 0 {
            let now = self.last_now;
            if let Some(i) = self
                .peers
                .iter()
                .position(|p| p.seated() && p.info.actor == from)
            {
                self.flood_refused += 1;
                let verdict = self.peers[i].budget.swamped(now);
                self.judge(now, i, verdict);
            }
        }
        if receivers.contains(&HOST_ACTOR) {
            self.events.push_back(Event::GameEvent(GameEvent {
                from,
                code: ev.code,
                payload: ev.payload.clone(),
            }));
        }
    }

    /// Tells everyone of an applied property change: every peer but the
    /// setter (who applied it already), the setter too after a
    /// check-and-set; the host's own game always.
    fn tell_props(&mut self, changed: PropsChanged) {
        let except = (!changed.cas).then_some(changed.by);
        self.broadcast_except(&Message::PropsChanged(changed.clone()), except);
        self.events.push_back(Event::PropsChanged(changed));
    }

    /// Serves a custom track (or stops, with `None`): the room announces
    /// its hash, ids, size and whether joiners may download it, and joiners
    /// that lack it ask for it.
    pub fn serve_track(
        &mut self,
        source: Option<Box<dyn TrackSource>>,
        allow_download: bool,
    ) -> Result<(), SessionError> {
        let changes = match &source {
            Some(s) => Announcement::props_for(s.manifest(), allow_download),
            None => Announcement::props_for_none(),
        };
        let same = match (&source, &self.track) {
            (Some(new), Some(old)) => new.manifest().track_hash() == old.manifest().track_hash(),
            _ => false,
        };
        self.set_props(SetProps {
            changes,
            ..SetProps::default()
        })?;
        self.track = source;
        self.track_download = allow_download;
        // Serving the same track again keeps downloads going; a new track,
        // none, or downloads switched off ends them (joiners see the new
        // announcement or a refusal on their next request).
        if !(same && allow_download) {
            for p in &mut self.peers {
                if let Some(up) = p.upload.take() {
                    let reason = "the host stopped sharing that track".to_string();
                    let tag = up.tag();
                    let _ = p
                        .link
                        .send_on(Lane::Bulk, &TrackMsg::Refused { tag, reason }.encode());
                }
            }
        }
        Ok(())
    }

    /// The manifest of the track served, if any.
    pub fn track(&self) -> Option<&TrackManifest> {
        self.track.as_deref().map(|t| t.manifest())
    }

    /// Track bytes sent to each joiner so far (actor, bytes).
    pub fn upload_progress(&self) -> Vec<(ActorNr, u64)> {
        self.peers
            .iter()
            .filter_map(|p| p.upload.as_ref().map(|u| (p.info.actor, u.bytes_sent)))
            .collect()
    }

    /// Caps the track upload pace to the peer at `addr` (seated now or
    /// later) at `bytes_per_sec`, below the room's per-joiner pace: for a
    /// peer reached through a relay that drops what exceeds its own cap,
    /// where an unpaced download would crowd out that peer's frames.
    pub fn limit_track_rate(&mut self, now: Instant, addr: SocketAddr, bytes_per_sec: u64) {
        self.bulk_limits.retain(|(a, _)| *a != addr);
        if self.bulk_limits.len() >= MAX_BULK_LIMITS {
            self.bulk_limits.remove(0);
        }
        self.bulk_limits.push((addr, bytes_per_sec));
        let rate = self.bulk_rate_for(addr);
        if let Some(p) = self.peers.iter_mut().find(|p| p.addr == addr) {
            p.bulk = bulk_bucket(now, rate);
        }
    }

    /// The track pace for a peer at `addr`.
    fn bulk_rate_for(&self, addr: SocketAddr) -> u64 {
        let limit = self
            .bulk_limits
            .iter()
            .find(|(a, _)| *a == addr)
            .map_or(u64::MAX, |(_, r)| *r);
        self.cfg.track_rate_per_joiner.min(limit)
    }

    /// Closes the room: everyone is told, then the session ends.
    pub fn close(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.broadcast(&Message::Control(Control::Leave));
        for p in &mut self.peers {
            p.departing_until.get_or_insert(now + DEPART_LINGER);
        }
        let waiting: Vec<SocketAddr> = self.verifying.drain().map(|(from, _)| from).collect();
        for from in waiting {
            self.answer(
                now,
                from,
                refuse_packet(RefuseReason::RoomClosed, "the room is closing"),
            );
        }
        self.gate.close();
        self.closed = true;
        self.events.push_back(Event::Closed {
            reason: CloseReason::Left,
        });
    }

    /// Takes one datagram from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), WireError> {
        self.saw(now);
        let result = self.dispatch(now, from, data);
        if let Err(e) = &result {
            self.rejected_datagrams += 1;
            if matches!(e, WireError::Unsealed(_)) {
                self.unsealed_dropped += 1;
            }
        }
        result
    }

    fn dispatch(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Result<(), WireError> {
        if let Some(i) = self.peers.iter().position(|p| p.addr == from) {
            return self.on_data(now, i, data);
        }
        match crate::proto::wire::packet_kind(data)? {
            PacketKind::Hello if !self.closed => self.on_hello(now, from, data),
            PacketKind::Hello => {
                self.answer(
                    now,
                    from,
                    refuse_packet(RefuseReason::RoomClosed, "the room is closing"),
                );
                Ok(())
            }
            _ => Err(WireError::Invalid(
                "packet from an address that is not seated",
            )),
        }
    }

    fn cookie(&self, from: SocketAddr, period: u64) -> u64 {
        let mut h = Sha256::new();
        h.update(self.cfg.cookie_secret);
        h.update(from.to_string().as_bytes());
        h.update(period.to_be_bytes());
        let d = h.finalize();
        u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }

    fn cookie_period(&self, now: Instant) -> u64 {
        self.host_time_us(now) / 1_000_000 / COOKIE_PERIOD_SECS
    }

    /// Queues a challenge or refusal, within the per-source and the
    /// room's per-second budgets.
    fn answer(&mut self, now: Instant, to: SocketAddr, packet: Vec<u8>) {
        let source = guess_source(to.ip());
        if !self.answer_sources.contains_key(&source) && self.answer_sources.len() >= ANSWER_SOURCES
        {
            // Forget the source that has been quiet longest (its bucket is
            // the fullest): at worst a flooder gets one more burst.
            for t in self.answer_sources.values_mut() {
                t.refill(now);
            }
            let idlest = self
                .answer_sources
                .iter()
                .max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens))
                .map(|(ip, _)| *ip);
            if let Some(ip) = idlest {
                self.answer_sources.remove(&ip);
            }
        }
        let per_source = self
            .answer_sources
            .entry(source)
            .or_insert_with(|| Tokens::new(now, ANSWER_BUDGET_PER_SOURCE, ANSWER_BURST_PER_SOURCE));
        per_source.refill(now);
        self.answer_budget.refill(now);
        if per_source.tokens < 1.0 || self.answer_budget.tokens < 1.0 || self.answers.len() >= 256 {
            self.rejected_datagrams += 1;
            return;
        }
        per_source.tokens -= 1.0;
        self.answer_budget.tokens -= 1.0;
        self.answers.push_back((to, packet));
    }

    fn on_hello(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Result<(), WireError> {
        let mut r = Reader::new(&data[HANDSHAKE_HEADER..]);
        let protocol = r.u16("hello protocol version")?;
        if protocol != PROTOCOL_VERSION {
            let msg = format!(
                "protocol version mismatch: the host speaks propwash protocol {PROTOCOL_VERSION}, you speak {protocol}"
            );
            self.answer(
                now,
                from,
                refuse_packet(RefuseReason::VersionMismatch, &msg),
            );
            return Ok(());
        }
        let cookie = r.u64("hello cookie")?;
        let period = self.cookie_period(now);
        let valid = cookie == self.cookie(from, period)
            || (period > 0 && cookie == self.cookie(from, period - 1));
        if !valid {
            // The challenge is never larger than the hello that asked it.
            if data.len() < CHALLENGE_LEN {
                return Err(WireError::Invalid("hello shorter than a challenge"));
            }
            let mut p = MAGIC.to_vec();
            p.push(PacketKind::Challenge as u8);
            p.extend_from_slice(&self.cookie(from, period).to_be_bytes());
            p.extend_from_slice(&self.key.public());
            let asks = self.cfg.room_password().is_some();
            p.push(if asks { CHALLENGE_ASKS_PASSWORD } else { 0 });
            // Joiners mint their Steam tickets for this id, so a ticket
            // sent to us is worthless at any other host.
            p.extend_from_slice(&self.cfg.steam_id.unwrap_or(0).to_be_bytes());
            debug_assert_eq!(p.len(), CHALLENGE_LEN);
            self.answer(now, from, p);
            return Ok(());
        }
        let joiner_key: [u8; KEY_BYTES] = *r.array("hello key")?;
        if self.used_hello_keys.contains_key(&joiner_key) {
            return Err(WireError::Unsealed("a replayed hello"));
        }
        let password = self.cfg.room_password().unwrap_or("").to_string();
        if !password.is_empty() {
            if let Some(wait) = self.guesses.locked(now, from.ip()) {
                let msg = format!(
                    "too many wrong passwords from your address; try again in {} s",
                    wait.as_secs().max(1)
                );
                self.refuse(now, from, RefuseReason::WrongPassword, &msg);
                return Ok(());
            }
        }
        let Some((body, hello_seal)) = seal::open_hello(
            &self.key,
            PROTOCOL_VERSION,
            cookie,
            joiner_key,
            r.rest(),
            &password,
        ) else {
            // The key is derived from the password: a wrong one and a
            // damaged hello look the same.
            if password.is_empty() {
                let msg = "the host could not open your hello (this room has no password)";
                self.refuse(now, from, RefuseReason::Malformed, msg);
            } else {
                self.guesses.wrong(now, from.ip());
                self.refuse(now, from, RefuseReason::WrongPassword, "wrong password");
            }
            return Ok(());
        };
        let hello: Hello = match serde_json::from_slice(&body) {
            Ok(h) => h,
            Err(e) => {
                let msg = format!("the host could not read your hello: {e}");
                self.refuse(now, from, RefuseReason::Malformed, &msg);
                return Err(WireError::Json(e.to_string()));
            }
        };
        if hello.game_version != self.cfg.game_version {
            let msg = format!(
                "game version mismatch: the host runs {}, you run {}",
                self.cfg.game_version, hello.game_version
            );
            self.refuse(now, from, RefuseReason::VersionMismatch, &msg);
            return Ok(());
        }
        self.free_silent_seat(now, from, &hello);
        // Full rooms are refused before Steam is asked anything.
        let role = match self.pick_role(&hello) {
            Ok(role) => role,
            Err((reason, msg)) => {
                self.refuse(now, from, reason, &msg);
                return Ok(());
            }
        };
        let claimed = match hello.steam_id.as_deref().map(str::parse::<u64>) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                let msg = "the host could not read your hello: its Steam id is not a number";
                self.refuse(now, from, RefuseReason::Malformed, msg);
                return Err(WireError::Invalid("hello Steam id"));
            }
        };
        let ticket = match hello.steam_ticket.as_deref().map(ticket_from_hex) {
            None => None,
            Some(Some(t)) => Some(t),
            Some(None) => {
                let msg = format!(
                    "the host could not read your Steam ticket: it must be hex of at most \
                     {MAX_TICKET_BYTES} bytes"
                );
                self.refuse(now, from, RefuseReason::NotVerified, &msg);
                return Ok(());
            }
        };
        // A hello claiming another id than the one being checked for this
        // address replaces that check.
        if self
            .verifying
            .get(&from)
            .is_some_and(|p| Some(p.steam_id) != claimed)
        {
            self.verifying.remove(&from);
            self.gate.forget(from);
        }
        let would_wait = claimed.is_some()
            && ticket.as_ref().is_some_and(|t| !t.is_empty())
            && self.gate.verifier().is_some();
        if would_wait
            && !self.verifying.contains_key(&from)
            && self.verifying.len() >= MAX_PENDING_JOINS
        {
            let msg = "the host is checking too many Steam tickets at once; try again in a moment";
            self.refuse(now, from, RefuseReason::NotVerified, msg);
            return Ok(());
        }
        let seated = self.seated_steam_ids();
        match self
            .gate
            .hello(now, from, claimed, ticket.as_deref(), &seated)
        {
            SeatDecision::Seat { verified, steam_id } => {
                self.verifying.remove(&from);
                let steam_id = steam_id.filter(|_| verified);
                self.seat(now, from, hello, role, steam_id, hello_seal, joiner_key);
            }
            SeatDecision::Refuse { kind, message } => {
                self.refuse(now, from, refuse_reason_for(kind), &message);
            }
            SeatDecision::Wait => {
                // Nothing goes back: the joiner keeps saying hello until
                // Steam answers and `handle_timeout` seats or refuses them.
                // Its repeats carry the same key and open to the same
                // session; the newest is kept.
                if let Some(steam_id) = claimed {
                    let pending = PendingHello {
                        hello,
                        steam_id,
                        seal: hello_seal,
                        joiner_key,
                    };
                    self.verifying.insert(from, pending);
                }
            }
        }
        Ok(())
    }

    /// The role a hello gets given the free seats and the room's own
    /// limits, or why it gets none.
    fn pick_role(&self, hello: &Hello) -> Result<Role, (RefuseReason, String)> {
        if let Err(e) = self.state.admits(0) {
            let reason = match e {
                RoomError::Closed => RefuseReason::GameClosed,
                _ => RefuseReason::GameFull,
            };
            return Err((reason, e.to_string()));
        }
        let pilots = self
            .seats
            .iter()
            .take(self.cfg.max_pilots)
            .filter(|s| s.is_some())
            .count();
        let spectators = self
            .peers
            .iter()
            .filter(|p| p.seated() && p.info.role == Role::Spectator)
            .count();
        let pilot_free = pilots < self.cfg.max_pilots;
        let spectator_free = spectators < self.cfg.max_spectators;
        match hello.role {
            Role::Pilot if pilot_free => Ok(Role::Pilot),
            Role::Pilot if hello.spectate_if_full && spectator_free => Ok(Role::Spectator),
            Role::Pilot => Err((
                RefuseReason::PilotsFull,
                format!(
                    "pilots full: all {} pilot seats are taken",
                    self.cfg.max_pilots
                ),
            )),
            Role::Spectator if spectator_free => Ok(Role::Spectator),
            Role::Spectator => Err((
                RefuseReason::SpectatorsFull,
                format!(
                    "spectators full: all {} spectator seats are taken",
                    self.cfg.max_spectators
                ),
            )),
        }
    }

    /// Refuses the joiner at `from` (whose address the cookie proved) and
    /// drops any Steam check of theirs still running.
    fn refuse(&mut self, now: Instant, from: SocketAddr, reason: RefuseReason, message: &str) {
        self.verifying.remove(&from);
        self.gate.forget(from);
        tracing::debug!(%from, ?reason, message, "join refused");
        self.answer(now, from, refuse_packet(reason, message));
    }

    /// Seats or refuses the joins Steam answered for (or that ran out of
    /// time). Seats may have filled while Steam was thinking.
    fn settle_verifications(&mut self, now: Instant) {
        if self.verifying.is_empty() && self.gate.poll_timeout(now).is_none() {
            return;
        }
        let seated = self.seated_steam_ids();
        for (from, decision) in self.gate.poll(now, &seated) {
            let pending = self.verifying.remove(&from);
            match decision {
                SeatDecision::Seat { verified, steam_id } => {
                    let steam_id = steam_id.filter(|_| verified);
                    let Some(p) = pending else {
                        if let Some(id) = steam_id {
                            self.gate.left(id);
                        }
                        continue;
                    };
                    match self.pick_role(&p.hello) {
                        Ok(role) => {
                            self.seat(now, from, p.hello, role, steam_id, p.seal, p.joiner_key)
                        }
                        Err((reason, msg)) => {
                            if let Some(id) = steam_id {
                                self.gate.left(id);
                            }
                            self.refuse(now, from, reason, &msg);
                        }
                    }
                }
                SeatDecision::Refuse { kind, message } => {
                    self.refuse(now, from, refuse_reason_for(kind), &message);
                }
                SeatDecision::Wait => {}
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn seat(
        &mut self,
        now: Instant,
        from: SocketAddr,
        hello: Hello,
        role: Role,
        steam_id: Option<u64>,
        seal: Seal,
        joiner_key: [u8; KEY_BYTES],
    ) {
        let actor = match self.state.take_number() {
            Ok(a) => a,
            Err(e) => {
                self.refuse(now, from, RefuseReason::GameFull, &e.to_string());
                return;
            }
        };
        let seat = if role == Role::Pilot {
            // Reuse the seat freed longest ago, so late snapshots about a
            // departed pilot cannot be mistaken for the newcomer.
            let free = (0..self.cfg.max_pilots)
                .filter(|&i| self.seats[i].is_none())
                .min_by_key(|&i| self.seat_freed_at[i]);
            if let Some(i) = free {
                self.seats[i] = Some(PilotSeat::new(actor));
            }
            free
        } else {
            None
        };
        let info = PlayerInfo {
            actor,
            role,
            seat: seat.map(|s| s as u8),
            name: clean_name(&hello.name, actor),
            player_id: hello.player_id.chars().take(128).collect(),
            props: Props::new(),
            steam_id: steam_id.map(|id| id.to_string()),
            verified: steam_id.is_some(),
        };
        let hz = match role {
            Role::Pilot => self.cfg.pilot_hz,
            Role::Spectator => self.cfg.spectator_hz,
        };
        // Everyone already in the room, then the welcome, then the room's
        // cached events, before anything live: the link keeps the order.
        // A fresh link has room for all of it (the cache is bounded far
        // below the link's queue).
        let mut link = Link::new(now);
        for p in self.listed(true) {
            let _ = link.send_message(&Message::Control(Control::PlayerJoined(p)).encode());
        }
        let welcome = Message::Control(Control::Welcome {
            actor,
            role,
            settings: self.state.settings,
            master: self.state.master(),
            room: self.state.props.clone(),
            snapshot_hz: hz.clamp(*super::RATE_RANGE.start(), *super::RATE_RANGE.end()),
            steam_id: info.steam_id.clone(),
            verified: info.verified,
        });
        let _ = link.send_message(&welcome.encode());
        for ev in self.state.cached() {
            let replay = Message::Event(GameEvent {
                from: ev.sender,
                code: ev.code,
                payload: ev.payload.clone(),
            });
            let _ = link.send_message(&replay.encode());
        }
        // Empty until its join properties come; a fresh table entry cannot
        // exceed a limit.
        let _ = self.state.insert(actor, Props::new());
        self.remember_hello_key(now, joiner_key);
        self.membership_version += 1;
        self.peers.push(Peer {
            addr: from,
            info: info.clone(),
            link,
            pinger: Pinger::for_host(self.epoch, now),
            seal,
            seat,
            forward_at: None,
            // Every peer's timers run on one cadence from the host's epoch,
            // so all that are due go out in one wake.
            next_full_at: slot_after(self.epoch, now, interval_for(hz)),
            next_follow_at: slot_after(self.epoch, now, interval_for(self.cfg.pilot_hz)),
            full_interval: interval_for(hz),
            follow: None,
            sent_serial: [0; MAX_PILOTS],
            sent_at: [None; MAX_PILOTS],
            departing_until: None,
            upload: None,
            bulk: bulk_bucket(now, self.bulk_rate_for(from)),
            steam_id,
            announced: false,
            seated_at: now,
            unreliable: Outbox::default(),
            budget: SenderBudget::new(now),
            sent_frames: SentFrames::default(),
        });
        tracing::info!(actor, name = %info.name, ?role, %from, verified = info.verified, "player seated");
    }

    /// The room's public key, as challenges and the lobby listing carry it.
    pub fn public_key(&self) -> [u8; KEY_BYTES] {
        self.key.public()
    }

    /// Seals `plain` (a data packet, its kind byte first) as the host's
    /// next packet to the peer at `addr`; for the fuzz targets, which must
    /// reach what lies behind the seal.
    #[doc(hidden)]
    pub(crate) fn seal_plain_for(&mut self, addr: SocketAddr, plain: &[u8]) -> Option<Vec<u8>> {
        let p = self.peers.iter_mut().find(|p| p.addr == addr)?;
        seal::seal_copy(&mut p.seal, plain)
    }

    /// Notes the key of a hello that seated someone, for as long as its
    /// cookie could be valid; the table stays bounded (the oldest goes,
    /// whose cookie is the nearest to expiring).
    fn remember_hello_key(&mut self, now: Instant, key: [u8; KEY_BYTES]) {
        let keep = Duration::from_secs(3 * COOKIE_PERIOD_SECS);
        self.used_hello_keys
            .retain(|_, at| now.saturating_duration_since(*at) < keep);
        if self.used_hello_keys.len() >= MAX_USED_HELLO_KEYS {
            if let Some(oldest) = self
                .used_hello_keys
                .iter()
                .min_by_key(|e| *e.1)
                .map(|e| *e.0)
            {
                self.used_hello_keys.remove(&oldest);
            }
        }
        self.used_hello_keys.insert(key, now);
    }

    /// Tells everyone that peer `i` joined, with the properties it joined
    /// with (or none, when they did not come in time).
    fn announce(&mut self, i: usize, props: Props) {
        let Some(p) = self.peers.get_mut(i).filter(|p| p.seated() && !p.announced) else {
            return;
        };
        p.announced = true;
        let actor = p.info.actor;
        if let Err(e) = self.state.insert(actor, props) {
            tracing::debug!(actor, "join properties refused: {e}");
            let _ = self.state.insert(actor, Props::new());
        }
        let info = self.with_props(&self.peers[i].info);
        self.broadcast_except(
            &Message::Control(Control::PlayerJoined(info.clone())),
            Some(actor),
        );
        self.events.push_back(Event::PlayerJoined(info));
    }

    fn on_data(&mut self, now: Instant, i: usize, data: &[u8]) -> Result<(), WireError> {
        let now_us = self.host_time_us(now);
        let peer = &mut self.peers[i];
        let seat_index = peer.seat;
        let seated = peer.seated();
        let actor = peer.info.actor;
        let seats = &mut self.seats;
        let events = &mut self.events;
        let mut per_tick = Vec::new();
        let mut took_frame = false;
        let fresh = packet::read(
            &mut peer.link,
            &mut peer.pinger,
            &mut peer.seal,
            now,
            data,
            |kind, r| match kind {
                SectionKind::Pilot => {
                    let (frame, run) = PilotFrame::decode(r.array::<FRAME_BYTES>("pilot frame")?);
                    let n = r.u8("input count")? as usize;
                    let inputs = r.bytes(n * INPUT_BYTES, "redundant inputs")?;
                    let Some(seat) = seat_index
                        .and_then(|s| seats[s].as_mut())
                        .filter(|_| seated)
                    else {
                        return Ok(());
                    };
                    // A late packet of an earlier run: nothing in it applies.
                    if run != seat.run && !seat.is_newer(run, frame.tick) {
                        return Ok(());
                    }
                    if seat.offer(run, frame, now_us) {
                        took_frame = true;
                        events.push_back(Event::Frame {
                            actor,
                            frame,
                            host_time_us: now_us,
                        });
                    }
                    for (k, chunk) in inputs.chunks_exact(INPUT_BYTES).enumerate() {
                        let Some(tick) = frame.tick.checked_sub(k as u32 + 1) else {
                            break;
                        };
                        if let Ok(b) = <&[u8; INPUT_BYTES]>::try_from(chunk) {
                            seat.record_input(tick, PilotInput::decode(b), true);
                        }
                    }
                    Ok(())
                }
                SectionKind::Unreliable => {
                    per_tick.push(unreliable::read_client(r)?);
                    Ok(())
                }
                _ => Err(WireError::Invalid("section a client may not send")),
            },
        )?;
        if let (true, Some(s)) = (took_frame, seat_index) {
            self.forward(now, s);
        }
        if !fresh {
            return Ok(());
        }
        while let Some(bytes) = self
            .peers
            .get_mut(i)
            .and_then(|p| p.link.poll_message(Lane::Control))
        {
            match Message::decode(&bytes) {
                Ok(m) => self.on_message(now, i, m),
                Err(e) => {
                    tracing::debug!(actor, "unreadable message: {e}");
                    self.rejected_datagrams += 1;
                }
            }
        }
        while let Some(bytes) = self
            .peers
            .get_mut(i)
            .and_then(|p| p.link.poll_message(Lane::Bulk))
        {
            match TrackMsg::decode(&bytes) {
                Ok(m) => self.on_track_message(i, m),
                Err(e) => {
                    tracing::debug!(actor, "unreadable track message: {e}");
                    self.rejected_datagrams += 1;
                }
            }
        }
        // After the reliable messages of the same packet: a joiner's first
        // view updates may ride with its join properties.
        let speaking = self
            .peers
            .get(i)
            .is_some_and(|p| p.seated() && p.announced && p.info.actor == actor);
        for ev in per_tick.into_iter().filter(|_| speaking) {
            if let Err(e) = self.raise_from(actor, ev) {
                tracing::debug!(actor, "per-tick event refused: {e}");
            }
        }
        Ok(())
    }

    fn on_message(&mut self, now: Instant, i: usize, m: Message) {
        if !self.peers[i].seated() {
            return;
        }
        let actor = self.peers[i].info.actor;
        match m {
            Message::Control(Control::JoinProps { props }) => self.announce(i, props),
            // A peer that leaves before it was announced was never seen.
            Message::Control(Control::Leave) => self.remove(now, i, LeaveReason::Left),
            // Anything else first tells the others this peer joined: its
            // events must never reach someone who does not know it.
            other if !self.peers[i].announced => {
                self.announce(i, Props::new());
                self.on_message(now, i, other);
            }
            Message::Raise(ev) => {
                let verdict = self.peers[i].budget.event(now, ev.payload.len());
                if !self.judge(now, i, verdict) {
                    return;
                }
                if let Err(e) = self.raise_from(actor, ev) {
                    tracing::debug!(actor, "event refused: {e}");
                }
            }
            Message::SetProps(req) => {
                let bytes = req
                    .changes
                    .iter()
                    .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                    .sum();
                let verdict = self.peers[i].budget.props(now, bytes);
                if verdict == Verdict::Refuse {
                    let refusal = Message::PropsRefused {
                        request: req.request,
                        message: "too many property changes at once; try again shortly".into(),
                    };
                    let _ = self.peers[i].link.send_message(&refusal.encode());
                }
                if !self.judge(now, i, verdict) {
                    return;
                }
                match self.state.set_props(actor, &req) {
                    Ok(changed) => self.tell_props(changed),
                    Err(e) => {
                        tracing::debug!(actor, "properties refused: {e}");
                        let refusal = Message::PropsRefused {
                            request: req.request,
                            message: e.to_string(),
                        };
                        let _ = self.peers[i].link.send_message(&refusal.encode());
                    }
                }
            }
            Message::Groups(g) => {
                self.state
                    .change_groups(actor, g.remove.as_deref(), g.add.as_deref());
            }
            Message::Control(Control::Follow { actor: target }) => {
                self.peers[i].follow = target;
            }
            other => {
                tracing::debug!(actor, ?other, "ignored a message only the host may send");
            }
        }
    }

    fn on_track_message(&mut self, i: usize, m: TrackMsg) {
        let Some(p) = self.peers.get_mut(i).filter(|p| p.seated()) else {
            return;
        };
        match m {
            TrackMsg::Request {
                hash,
                manifest,
                spans,
            } => {
                let refusal = match self.track.as_deref() {
                    None => Some("this room has no custom track to share"),
                    Some(t) if t.manifest().track_hash() != hash => {
                        Some("the host no longer serves that track")
                    }
                    Some(_) if !self.track_download => {
                        Some("the host does not allow downloading its track")
                    }
                    Some(_) => None,
                };
                match (refusal, self.track.as_deref()) {
                    (None, Some(t)) => {
                        tracing::info!(
                            actor = p.info.actor,
                            ranges = spans.len(),
                            "serving the track"
                        );
                        p.upload = Some(Upload::new(t, manifest, &spans));
                    }
                    (reason, _) => {
                        p.upload = None;
                        let reason = reason.unwrap_or("no track").to_string();
                        let tag = tag_of(&hash);
                        let _ = p
                            .link
                            .send_on(Lane::Bulk, &TrackMsg::Refused { tag, reason }.encode());
                    }
                }
            }
            TrackMsg::Credit { written } => {
                if let Some(u) = p.upload.as_mut() {
                    u.on_credit(written);
                }
            }
            TrackMsg::Cancel => p.upload = None,
            other => tracing::debug!(
                actor = p.info.actor,
                ?other,
                "ignored a track message only a host sends"
            ),
        }
    }

    fn broadcast(&mut self, m: &Message) {
        self.broadcast_except(m, None);
    }

    fn broadcast_except(&mut self, m: &Message, except: Option<ActorNr>) {
        let bytes = m.encode();
        let mut broken = Vec::new();
        for (i, p) in self.peers.iter_mut().enumerate() {
            if p.seated() && Some(p.info.actor) != except && p.link.send_message(&bytes).is_err() {
                broken.push(i);
            }
        }
        self.drop_backlogged(broken);
    }

    /// Applies a budget's verdict on peer `i`'s message: true when the
    /// message may go on; a flooder is dropped, with the reason logged.
    fn judge(&mut self, now: Instant, i: usize, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Pass => true,
            Verdict::Refuse => {
                self.flood_refused += 1;
                false
            }
            Verdict::Drop(why) => {
                self.flood_refused += 1;
                self.flooders_dropped += 1;
                tracing::warn!(actor = self.peers[i].info.actor, "dropping a player: {why}");
                self.remove(now, i, LeaveReason::TimedOut);
                false
            }
        }
    }

    /// Peers that stopped acknowledging megabytes of messages are gone in all
    /// but name: drop them rather than buffer without end.
    fn drop_backlogged(&mut self, broken: Vec<usize>) {
        for &i in broken.iter().rev() {
            tracing::warn!(
                actor = self.peers[i].info.actor,
                "dropping a peer that stopped acknowledging"
            );
            let until = self.peers[i].link.last_heard;
            self.remove(until, i, LeaveReason::TimedOut);
        }
    }

    fn remove(&mut self, now: Instant, i: usize, reason: LeaveReason) {
        let Some(p) = self.peers.get_mut(i) else {
            return;
        };
        if !p.seated() {
            return;
        }
        p.departing_until = Some(now + DEPART_LINGER);
        p.unreliable.clear();
        let actor = p.info.actor;
        let announced = p.announced;
        let steam_id = p.steam_id.take();
        if let Some(s) = p.seat.take() {
            self.seats[s] = None;
            self.seat_freed_at[s] = Some(now);
        }
        if let Some(id) = steam_id {
            self.gate.left(id);
        }
        tracing::info!(actor, ?reason, "player left");
        let master = self.state.remove(actor);
        for other in &mut self.peers {
            if other.follow == Some(actor) {
                other.follow = None;
            }
        }
        if announced {
            self.broadcast(&Message::Control(Control::PlayerLeft {
                actor,
                reason,
                master,
            }));
            self.events.push_back(Event::PlayerLeft {
                actor,
                reason,
                master,
            });
        }
    }

    /// A verified player whose game crashed comes back at once from a new
    /// port, with a fresh ticket, while its old seat waits out the timeout:
    /// when that old seat has been silent for [`REJOIN_SILENCE`], it is
    /// freed now so the newcomer's claim can be checked (Steam still has to
    /// confirm it; a seat that is talking is never touched).
    fn free_silent_seat(&mut self, now: Instant, from: SocketAddr, hello: &Hello) {
        let has_ticket = hello.steam_ticket.as_deref().is_some_and(|t| !t.is_empty());
        let claimed = hello
            .steam_id
            .as_deref()
            .and_then(|s| s.parse::<u64>().ok());
        let (Some(id), true) = (claimed, has_ticket) else {
            return;
        };
        let silent = self.peers.iter().position(|p| {
            p.seated()
                && p.steam_id == Some(id)
                && p.addr != from
                && now.saturating_duration_since(p.link.last_heard) >= REJOIN_SILENCE
        });
        if let Some(i) = silent {
            tracing::info!(
                actor = self.peers[i].info.actor,
                "a player rejoins from a new address; its silent seat is freed"
            );
            self.remove(now, i, LeaveReason::TimedOut);
        }
    }

    /// Drops silent peers, seats or refuses joiners Steam answered for,
    /// and forgets departed ones.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.saw(now);
        let timeout = self.cfg.timeout;
        let silent: Vec<usize> = (0..self.peers.len())
            .filter(|&i| {
                let p = &self.peers[i];
                p.seated() && now.saturating_duration_since(p.link.last_heard) >= timeout
            })
            .collect();
        for i in silent {
            self.remove(now, i, LeaveReason::TimedOut);
        }
        let quiet: Vec<usize> = (0..self.peers.len())
            .filter(|&i| {
                let p = &self.peers[i];
                p.seated() && !p.announced && now >= p.seated_at + ANNOUNCE_WAIT
            })
            .collect();
        for i in quiet {
            self.announce(i, Props::new());
        }
        self.settle_verifications(now);
        let before = self.peers.len();
        self.peers
            .retain(|p| p.departing_until.is_none_or(|t| now < t));
        if self.peers.len() != before {
            self.membership_version += 1;
        }
    }

    /// The next instant `handle_timeout` or `poll_transmit` has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for p in &self.peers {
            if let Some(t) = p.departing_until {
                consider(t);
                if let Some(a) = p.link.ack_due_at() {
                    consider(a);
                }
                if let Some(r) = p.link.next_resend() {
                    consider(r);
                }
                continue;
            }
            consider(p.link.last_heard + self.cfg.timeout);
            // An owed pong goes at once; our own pings ride the peer's next
            // snapshot rather than waking us on a phase of their own.
            let ping = p.pinger.next_due();
            consider(if p.pinger.owes_pong() {
                ping
            } else {
                ping.max(p.next_full_at)
            });
            if !p.announced {
                consider(p.seated_at + ANNOUNCE_WAIT);
            }
            if !p.unreliable.is_empty() {
                consider(self.epoch);
            }
            if let Some(t) = p.link.next_resend() {
                consider(t);
            }
            if let Some(a) = p.link.ack_due_at() {
                consider(a);
            }
            let feed = p.upload.as_ref().is_some_and(|u| u.can_send())
                && p.link.queued_bytes(Lane::Bulk) < BULK_QUEUE;
            let due = if feed {
                Some(p.link.last_sent)
            } else {
                p.link.bulk_due_at(p.link.last_sent)
            };
            if let Some(t) = due {
                consider(
                    t.max(fragment_ready_at(&p.bulk))
                        .max(fragment_ready_at(&self.room_bulk)),
                );
            }
            if let Some(t) = p.forward_at {
                consider(t);
            }
            if self.has_new_frames(p, true) {
                consider(p.next_full_at);
            }
            if let Some(t) = self.next_refresh(p) {
                consider(t.max(p.next_full_at));
            }
            if self.has_new_frames(p, false) {
                consider(p.next_follow_at);
            }
        }
        if !self.answers.is_empty() {
            consider(self.epoch);
        }
        if let Some(t) = self.gate.poll_timeout(self.last_now) {
            consider(t);
        }
        next
    }

    fn has_new_frames(&self, p: &Peer, full: bool) -> bool {
        self.seats.iter().enumerate().any(|(s, seat)| {
            let Some(seat) = seat else { return false };
            Some(s) != p.seat
                && seat.serial > p.sent_serial[s]
                && (full || (p.info.role == Role::Spectator && p.follow == Some(seat.actor)))
        })
    }

    /// When this peer is next owed an unchanged frame again.
    fn next_refresh(&self, p: &Peer) -> Option<Instant> {
        self.seats
            .iter()
            .enumerate()
            .filter(|(s, seat)| {
                Some(*s) != p.seat && seat.as_ref().is_some_and(|x| x.frame.is_some())
            })
            .filter_map(|(s, _)| p.sent_at[s].map(|t| t + FRAME_REFRESH))
            .min()
    }

    /// The next datagram to send, written into `buf` (at least
    /// [`MAX_PAYLOAD`] bytes); call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.saw(now);
        if let Some((to, bytes)) = self.answers.pop_front() {
            let len = bytes.len().min(buf.len());
            buf[..len].copy_from_slice(&bytes[..len]);
            return Some(Transmit { to, len });
        }
        let n = self.peers.len();
        while self.tx_scanned < n {
            let i = (self.tx_start + self.tx_scanned) % n;
            if let Some(len) = self.build_for(now, i, buf) {
                return Some(Transmit {
                    to: self.peers[i].addr,
                    len,
                });
            }
            self.tx_scanned += 1;
        }
        self.tx_scanned = 0;
        self.tx_start = if n == 0 { 0 } else { (self.tx_start + 1) % n };
        None
    }

    fn build_for(&mut self, now: Instant, i: usize, buf: &mut [u8]) -> Option<usize> {
        let now_us = self.host_time_us(now);
        let pilot_interval = interval_for(self.cfg.pilot_hz);
        let epoch = self.epoch;
        let p = &mut self.peers[i];
        if !p.seated() {
            // A departing peer still gets its last control messages (the
            // goodbye when the room closes) and acks, but no frames or track.
            p.upload = None;
            let Peer {
                link, pinger, seal, ..
            } = p;
            return packet::build(link, pinger, seal, now, buf, false, &mut 0, |_| false);
        }
        // Top up the bulk lane from the upload, then let the buckets decide
        // how much of it may go out now.
        if let (Some(up), Some(src)) = (p.upload.as_mut(), self.track.as_deref_mut()) {
            while p.link.queued_bytes(Lane::Bulk) < BULK_QUEUE {
                match up.next(src) {
                    Some(Ok(msg)) => {
                        if p.link.send_on(Lane::Bulk, &msg.encode()).is_err() {
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!("track read failed: {e}");
                        let reason = format!("the host could not read its track: {e}");
                        let tag = up.tag();
                        let _ = p
                            .link
                            .send_on(Lane::Bulk, &TrackMsg::Refused { tag, reason }.encode());
                        p.upload = None;
                        break;
                    }
                    None => break,
                }
            }
        }
        p.bulk.refill(now);
        self.room_bulk.refill(now);
        let mut budget = p.bulk.tokens.min(self.room_bulk.tokens).max(0.0) as usize;
        let budget_before = budget;
        // A forward is one try: what does not fit goes with the timer's.
        let forward_due = p.forward_at.is_some_and(|t| now >= t);
        if forward_due {
            p.forward_at = None;
        }
        let timer_due = now >= p.next_full_at;
        let full_due = timer_due || forward_due;
        let is_pilot = p.info.role == Role::Pilot;
        let follow_due =
            p.info.role == Role::Spectator && p.follow.is_some() && now >= p.next_follow_at;
        let seats = &self.seats;
        let Peer {
            link,
            pinger,
            seal,
            seat: own_seat,
            follow,
            sent_serial,
            sent_at,
            next_full_at,
            next_follow_at,
            full_interval,
            bulk,
            unreliable,
            sent_frames,
            ..
        } = p;
        // What each seat's frames can be coded against: the newest this
        // peer acknowledged (the same for the frame it replaced, which is
        // newer than anything acknowledged when it goes too).
        let snapshot_due = full_due || follow_due;
        let bases: [Option<Quantized>; MAX_PILOTS] = std::array::from_fn(|s| {
            let seat = seats[s].as_ref().filter(|_| snapshot_due)?;
            let cur = Quantized::from_frame(&seat.frame?, seat.run);
            sent_frames.base(s, &cur, |seq| link.is_acked(seq))
        });
        let seq = link.next_seq();
        let mut carried = [None; MAX_PILOTS];
        let mut wrote_snapshot = false;
        let built = packet::build(link, pinger, seal, now, buf, false, &mut budget, |w| {
            let snapshot = 'snap: {
                if !full_due && !follow_due {
                    break 'snap false;
                }
                let mut picked = [false; MAX_PILOTS];
                let mut with_previous = [false; MAX_PILOTS];
                let mut count = 0;
                let mut followed_sent = false;
                for (s, seat) in seats.iter().enumerate() {
                    let Some(seat) = seat else { continue };
                    let stale = sent_at[s].is_none_or(|t| now >= t + FRAME_REFRESH);
                    if Some(s) == *own_seat
                        || seat.frame.is_none()
                        || (seat.serial <= sent_serial[s] && !(full_due && stale))
                    {
                        continue;
                    }
                    let is_followed = *follow == Some(seat.actor);
                    if full_due || (follow_due && is_followed) {
                        picked[s] = true;
                        // Only receivers meant to see every frame get the one
                        // that was overwritten: pilots, and a spectator's
                        // followed pilot (spectators otherwise get half rate).
                        let every_frame = is_pilot || is_followed;
                        with_previous[s] =
                            every_frame && seat.previous.is_some_and(|p| p.2 > sent_serial[s]);
                        count += 1 + usize::from(with_previous[s]);
                        followed_sent |= is_followed;
                    }
                }
                if count == 0 || w.space() < SNAPSHOT_HEADER + count * SNAPSHOT_ENTRY {
                    break 'snap false;
                }
                carried = write_snapshot(w, now_us, seats, &picked, &with_previous, &bases, count);
                wrote_snapshot = true;
                for (s, take) in picked.iter().enumerate() {
                    if *take {
                        if let Some(seat) = &seats[s] {
                            sent_serial[s] = seat.serial;
                            sent_at[s] = Some(now);
                        }
                    }
                }
                if timer_due {
                    *next_full_at = slot_after(epoch, now, *full_interval);
                }

                if followed_sent {
                    *next_follow_at = slot_after(epoch, now, pilot_interval);
                }
                true
            };
            // The per-tick lane's events ride with the snapshot, or alone.
            let events = unreliable.write(w);
            snapshot || events
        });
        if built.is_some() && wrote_snapshot {
            sent_frames.put(seq, carried);
        }
        let used = (budget_before - budget) as f64;
        bulk.tokens -= used;
        self.room_bulk.tokens -= used;
        built
    }

    /// The next event for the game.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True once [`Host::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True while goodbyes are still unacknowledged after closing.
    pub fn is_flushing(&self) -> bool {
        self.peers.iter().any(|p| p.link.has_unacked())
    }
}

/// Bytes before a snapshot's entries: tag, host time, count.
pub(crate) const SNAPSHOT_HEADER: usize = 1 + 8 + 1;
/// Most bytes of one snapshot entry: seat and age, form, then the frame
/// in full (a delta-coded entry takes fewer).
pub const SNAPSHOT_ENTRY: usize = snapshot::MAX_ENTRY;
/// Age resolution of a snapshot entry, microseconds (5 bits: up to 62 ms).
pub(crate) const AGE_STEP_US: u64 = 2000;

/// Writes the picked seats' frames, each preceded by the frame it replaced
/// when that one never reached this peer (oldest first, so the receiver
/// takes both in tick order), each coded against `bases` where it can be;
/// returns the frames written last per seat (what the packet carries).
fn write_snapshot(
    w: &mut Writer<'_>,
    now_us: u64,
    seats: &[Option<PilotSeat>; MAX_PILOTS],
    picked: &[bool; MAX_PILOTS],
    with_previous: &[bool; MAX_PILOTS],
    bases: &[Option<Quantized>; MAX_PILOTS],
    count: usize,
) -> [Option<Quantized>; MAX_PILOTS] {
    w.u8(SectionKind::Snapshot as u8);
    w.u64(now_us);
    w.u8(count as u8);
    let mut carried = [None; MAX_PILOTS];
    let age = |received_us: u64| (now_us.saturating_sub(received_us) / AGE_STEP_US).min(31) as u8;
    for (s, seat) in seats.iter().enumerate() {
        let (true, Some(seat)) = (picked[s], seat) else {
            continue;
        };
        let Some(frame) = seat.frame else { continue };
        if let (true, Some((prev, at, _))) = (with_previous[s], seat.previous) {
            let q = Quantized::from_frame(&prev, seat.run);
            snapshot::write_entry(w, s, age(at), &q, bases[s].as_ref());
        }
        let q = Quantized::from_frame(&frame, seat.run);
        snapshot::write_entry(w, s, age(seat.received_us), &q, bases[s].as_ref());
        carried[s] = Some(q);
    }
    carried
}

/// The wire refusal for a join the Steam check turned down.
fn refuse_reason_for(kind: RefuseKind) -> RefuseReason {
    match kind {
        RefuseKind::NotVerified | RefuseKind::TicketRejected | RefuseKind::VerificationTimedOut => {
            RefuseReason::NotVerified
        }
        RefuseKind::SteamIdInUse => RefuseReason::SteamIdInUse,
    }
}

fn refuse_packet(reason: RefuseReason, message: &str) -> Vec<u8> {
    let mut p = MAGIC.to_vec();
    p.push(PacketKind::Refuse as u8);
    p.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    p.push(reason as u8);
    let max = MAX_PAYLOAD - p.len();
    let mut end = message.len().min(max);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    p.extend_from_slice(&message.as_bytes()[..end]);
    p
}

/// Trims a display name to something printable and bounded.
fn clean_name(name: &str, actor: ActorNr) -> String {
    let mut out = String::new();
    for c in name.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        format!("Pilot {actor}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::identity::verify::{
        ticket_to_hex, FakeAnswer, FakeVerifier, VerifyError, VerifyState, VERIFY_TIMEOUT,
    };
    use crate::proto::wire::packet_kind;

    const GAME: &str = "drl-4.2.1";

    /// A fake Steam the test keeps a handle on after the host took it.
    #[derive(Clone)]
    struct Shared(Arc<Mutex<FakeVerifier>>);

    impl TicketVerifier for Shared {
        fn begin(&mut self, steam_id: u64, ticket: &[u8]) -> Result<(), VerifyError> {
            self.0.lock().unwrap().begin(steam_id, ticket)
        }
        fn poll(&mut self, steam_id: u64) -> VerifyState {
            self.0.lock().unwrap().poll(steam_id)
        }
        fn end(&mut self, steam_id: u64) {
            self.0.lock().unwrap().end(steam_id)
        }
    }

    fn addr(n: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 40000 + n))
    }

    fn hello(steam_id: Option<u64>) -> Hello {
        Hello {
            game_version: GAME.into(),
            name: "J".into(),
            player_id: String::new(),
            role: Role::Spectator,
            spectate_if_full: false,
            steam_id: steam_id.map(|id| id.to_string()),
            steam_ticket: steam_id.map(|id| ticket_to_hex(&FakeVerifier::ticket_for(id))),
        }
    }

    /// A sealed hello to `host` with a fresh joiner key, as a joiner
    /// knowing `password` ("" for none) makes it.
    fn hello_bytes(host: &Host, cookie: u64, h: &Hello, password: &str) -> Vec<u8> {
        let body = serde_json::to_vec(h).unwrap();
        seal::hello_datagram(cookie, host.key.public(), password, &body).unwrap()
    }

    /// The hello a joiner sends before it has a cookie.
    fn first_hello() -> Vec<u8> {
        let mut p = MAGIC.to_vec();
        p.push(PacketKind::Hello as u8);
        p.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        p.resize(64, 0);
        p
    }

    /// Everything the host sends to `to` now: (kind, body after the header).
    fn answers_to(host: &mut Host, now: Instant, to: SocketAddr) -> Vec<(PacketKind, Vec<u8>)> {
        let mut buf = [0u8; MAX_PAYLOAD];
        let mut out = Vec::new();
        while let Some(t) = host.poll_transmit(now, &mut buf) {
            let d = &buf[..t.len];
            if t.to == to {
                if let Ok(k) = packet_kind(d) {
                    let body = if k == PacketKind::Data {
                        d
                    } else {
                        &d[HANDSHAKE_HEADER..]
                    };
                    out.push((k, body.to_vec()));
                }
            }
        }
        out
    }

    fn refusal(answers: &[(PacketKind, Vec<u8>)]) -> Option<(RefuseReason, String)> {
        answers.iter().find_map(|(k, b)| {
            (*k == PacketKind::Refuse).then(|| {
                (
                    RefuseReason::from_u8(b[2]),
                    String::from_utf8_lossy(&b[3..]).into_owned(),
                )
            })
        })
    }

    fn cookie_for(host: &mut Host, now: Instant, from: SocketAddr) -> u64 {
        host.handle_datagram(now, from, &first_hello()).unwrap();
        let answers = answers_to(host, now, from);
        let (_, body) = answers
            .iter()
            .find(|(k, _)| *k == PacketKind::Challenge)
            .expect("a challenge");
        u64::from_be_bytes(body[..8].try_into().unwrap())
    }

    #[test]
    fn a_hello_holds_for_the_cookies_two_periods_and_no_longer() {
        let t0 = Instant::now();
        let cfg = HostConfig {
            password: Some("pw".into()),
            ..HostConfig::new(GAME, "Host")
        };
        let mut host = Host::new(cfg, t0);
        let from = addr(1);
        let cookie = cookie_for(&mut host, t0, from);
        // Two periods later the cookie, and with it the hello, is stale:
        // the host answers with a fresh challenge, not a seat.
        let late = t0 + Duration::from_secs(2 * COOKIE_PERIOD_SECS + 1);
        let stale = hello_bytes(&host, cookie, &hello(None), "pw");
        host.handle_datagram(late, from, &stale).unwrap();
        let answers = answers_to(&mut host, late, from);
        assert!(answers.iter().any(|(k, _)| *k == PacketKind::Challenge));
        assert_eq!(host.players().len(), 1);
        // Within the next period the same proof still seats.
        let next = t0 + Duration::from_secs(COOKIE_PERIOD_SECS + 1);
        let fresh = hello_bytes(&host, cookie, &hello(None), "pw");
        host.handle_datagram(next, from, &fresh).unwrap();
        assert_eq!(refusal(&answers_to(&mut host, next, from)), None);
        assert_eq!(host.players().len(), 2);
    }

    #[test]
    fn password_guessing_from_one_address_is_locked_out_and_others_are_not() {
        let t0 = Instant::now();
        let cfg = HostConfig {
            password: Some("pw".into()),
            ..HostConfig::new(GAME, "Host")
        };
        let mut host = Host::new(cfg, t0);
        // One machine guessing from ever new ports.
        let port = |n: u16| SocketAddr::from(([10, 0, 9, 9], 50000 + n));
        let try_from = |host: &mut Host, at: Instant, from: SocketAddr, pw: &str| {
            let cookie = cookie_for(host, at, from);
            let h = hello_bytes(host, cookie, &hello(None), pw);
            host.handle_datagram(at, from, &h).unwrap();
            refusal(&answers_to(host, at, from))
        };
        for n in 0..GUESS_LIMIT as u16 {
            let r = try_from(&mut host, t0, port(n), &format!("guess {n}"));
            assert!(
                matches!(r, Some((RefuseReason::WrongPassword, ref m)) if m == "wrong password")
            );
        }
        // Now even the right password is refused from that address...
        let r = try_from(&mut host, t0, port(100), "pw");
        assert!(
            matches!(r, Some((RefuseReason::WrongPassword, ref m)) if m.contains("too many")),
            "{r:?}"
        );
        assert_eq!(host.players().len(), 1);
        // ...but not from another one,
        assert_eq!(try_from(&mut host, t0, addr(7), "pw"), None);
        assert_eq!(host.players().len(), 2);
        // and not once the lockout is over.
        let later = t0 + GUESS_LOCKOUT + Duration::from_secs(1);
        assert_eq!(try_from(&mut host, later, port(101), "pw"), None);
        assert_eq!(host.players().len(), 3);
    }

    #[test]
    fn guesses_count_against_an_ipv6_slash_64_and_a_plain_ipv4_address() {
        let t0 = Instant::now();
        let mut g = GuessLimiter::default();
        let v6 = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        for n in 0..GUESS_LIMIT {
            g.wrong(t0, v6(&format!("2001:db8:1:2::{:x}", n + 1)));
        }
        assert!(g.locked(t0, v6("2001:db8:1:2:ffff::9")).is_some());
        assert!(g.locked(t0, v6("2001:db8:1:3::1")).is_none());
        // An IPv4 address seen as IPv6 (a dual-stack socket) is itself.
        for _ in 0..GUESS_LIMIT {
            g.wrong(t0, v6("::ffff:192.0.2.1"));
        }
        assert!(g.locked(t0, v6("192.0.2.1")).is_some());
        assert!(g.locked(t0, v6("192.0.2.2")).is_none());
    }

    #[test]
    fn a_replayed_hello_seats_nobody_and_is_counted() {
        let t0 = Instant::now();
        let mut host = Host::new(HostConfig::new(GAME, "Host"), t0);
        let from = addr(1);
        let cookie = cookie_for(&mut host, t0, from);
        let captured = hello_bytes(&host, cookie, &hello(None), "");
        host.handle_datagram(t0, from, &captured).unwrap();
        assert_eq!(host.players().len(), 2);
        // While seated the address speaks only in its session.
        assert!(host.handle_datagram(t0, from, &captured).is_err());
        // Once the joiner is gone (it fell silent), the same hello, its
        // cookie still valid, does not seat a second session under keys
        // whose captured packets could be replayed into it.
        let later = t0 + DEFAULT_TIMEOUT + Duration::from_secs(2);
        host.handle_timeout(later);
        host.handle_timeout(later + Duration::from_secs(2));
        assert_eq!(host.players().len(), 1);
        let dropped = host.unsealed_dropped;
        let again = later + Duration::from_secs(2);
        assert_eq!(
            host.handle_datagram(again, from, &captured),
            Err(WireError::Unsealed("a replayed hello"))
        );
        assert_eq!(host.players().len(), 1);
        assert_eq!(host.unsealed_dropped, dropped + 1);
        // A new hello from the same joiner (a new key) seats it again.
        let fresh = hello_bytes(&host, cookie, &hello(None), "");
        host.handle_datagram(again, from, &fresh).unwrap();
        assert_eq!(host.players().len(), 2);
    }

    #[test]
    fn a_hello_without_a_cookie_is_answered_only_when_no_shorter_than_the_challenge() {
        let t0 = Instant::now();
        let mut host = Host::new(HostConfig::new(GAME, "Host"), t0);
        let from = addr(1);
        let short = &first_hello()[..CHALLENGE_LEN - 1];
        assert!(host.handle_datagram(t0, from, short).is_err());
        assert!(answers_to(&mut host, t0, from).is_empty());
        host.handle_datagram(t0, from, &first_hello()[..CHALLENGE_LEN])
            .unwrap();
        let answers = answers_to(&mut host, t0, from);
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0, PacketKind::Challenge);
        assert_eq!(answers[0].1.len() + HANDSHAKE_HEADER, CHALLENGE_LEN);
        assert_eq!(answers[0].1[8..40], host.key.public());
    }

    #[test]
    fn one_source_flooding_hellos_leaves_the_answers_to_everyone_else() {
        let t0 = Instant::now();
        let mut host = Host::new(HostConfig::new(GAME, "Host"), t0);
        let flooder = SocketAddr::from(([10, 9, 9, 9], 4000));
        let mut answered = 0;
        for i in 0..10_000u32 {
            let at = t0 + Duration::from_micros(u64::from(i) * 100);
            host.handle_datagram(at, flooder, &first_hello()).unwrap();
            answered += answers_to(&mut host, at, flooder).len();
        }
        // One second of flooding: the source's burst and its refill.
        let most = (ANSWER_BURST_PER_SOURCE + ANSWER_BUDGET_PER_SOURCE) as usize;
        assert!(answered <= most, "{answered}");
        let at = t0 + Duration::from_secs(1);
        for n in 0..100 {
            let from = addr(n);
            host.handle_datagram(at, from, &first_hello()).unwrap();
            assert_eq!(answers_to(&mut host, at, from).len(), 1, "joiner {n}");
        }
        // The table of sources stays bounded.
        for n in 0..(ANSWER_SOURCES as u32 * 2) {
            let from = SocketAddr::from((n.to_be_bytes(), 5000));
            let at = t0 + Duration::from_secs(2) + Duration::from_millis(u64::from(n));
            host.handle_datagram(at, from, &first_hello()).unwrap();
        }
        assert!(host.answer_sources.len() <= ANSWER_SOURCES);
    }

    #[test]
    fn the_guess_table_stays_bounded() {
        let t0 = Instant::now();
        let mut g = GuessLimiter::default();
        for n in 0..(GUESS_TABLE as u32 * 2) {
            let ip = std::net::IpAddr::from(n.to_be_bytes());
            g.wrong(t0 + Duration::from_millis(u64::from(n)), ip);
        }
        assert_eq!(g.entries.len(), GUESS_TABLE);
    }

    #[test]
    fn waiting_joins_are_bounded_and_the_rest_refused() {
        let t0 = Instant::now();
        let fake = Shared(Arc::new(Mutex::new(FakeVerifier::new(
            FakeAnswer::NeverAnswer,
        ))));
        let mut host = Host::new(HostConfig::new(GAME, "Host"), t0);
        host.set_verifier(Ok(Box::new(fake.clone())));
        for n in 0..=MAX_PENDING_JOINS as u16 {
            let from = addr(n);
            let cookie = cookie_for(&mut host, t0, from);
            let id = 76_561_198_000_000_000 + u64::from(n);
            host.handle_datagram(t0, from, &hello_bytes(&host, cookie, &hello(Some(id)), ""))
                .unwrap();
            let answers = answers_to(&mut host, t0, from);
            if usize::from(n) < MAX_PENDING_JOINS {
                assert!(answers.is_empty(), "join {n} answered: {answers:?}");
            } else {
                let (reason, message) = refusal(&answers).expect("refused");
                assert_eq!(reason, RefuseReason::NotVerified);
                assert!(message.contains("too many"), "{message}");
            }
        }
        assert_eq!(host.verifying.len(), MAX_PENDING_JOINS);
        assert_eq!(
            fake.0.lock().unwrap().open_sessions().len(),
            MAX_PENDING_JOINS
        );
        // A repeat from one already waiting is no new join.
        let from = addr(0);
        let cookie = cookie_for(&mut host, t0, from);
        let id = 76_561_198_000_000_000;
        host.handle_datagram(t0, from, &hello_bytes(&host, cookie, &hello(Some(id)), ""))
            .unwrap();
        assert!(answers_to(&mut host, t0, from).is_empty());
        assert_eq!(fake.0.lock().unwrap().begun.len(), MAX_PENDING_JOINS);
        // Closing the room ends every check and tells the waiting joiners.
        host.close(t0);
        assert!(fake.0.lock().unwrap().open_sessions().is_empty());
        assert_eq!(
            refusal(&answers_to(&mut host, t0, from)).map(|r| r.0),
            Some(RefuseReason::RoomClosed)
        );
    }

    #[test]
    fn a_new_claim_from_a_waiting_address_replaces_its_check() {
        let t0 = Instant::now();
        let fake = Shared(Arc::new(Mutex::new(FakeVerifier::new(
            FakeAnswer::NeverAnswer,
        ))));
        let mut host = Host::new(HostConfig::new(GAME, "Host"), t0);
        host.set_verifier(Ok(Box::new(fake.clone())));
        let from = addr(1);
        let cookie = cookie_for(&mut host, t0, from);
        let (a, b) = (76_561_198_000_000_001, 76_561_198_000_000_002);
        host.handle_datagram(t0, from, &hello_bytes(&host, cookie, &hello(Some(a)), ""))
            .unwrap();
        host.handle_datagram(t0, from, &hello_bytes(&host, cookie, &hello(Some(b)), ""))
            .unwrap();
        assert_eq!(fake.0.lock().unwrap().open_sessions(), vec![b]);
        assert_eq!(host.verifying.len(), 1);
        // Steam says yes to the second claim: seated as that id.
        fake.0.lock().unwrap().set_answer(b, FakeAnswer::Accept);
        let later = t0 + Duration::from_millis(60);
        assert!(host.poll_timeout().is_some_and(|t| t <= later));
        host.handle_timeout(later);
        let players = host.players();
        assert_eq!(players.len(), 2);
        assert_eq!(players[1].steam_id, Some(b.to_string()));
        assert!(players[1].verified);
        assert!(host.verifying.is_empty());
        assert_eq!(host.gate.poll_timeout(later), None);
    }

    #[test]
    fn an_unanswered_check_is_refused_on_the_hosts_own_wakeups() {
        let t0 = Instant::now();
        let fake = Shared(Arc::new(Mutex::new(FakeVerifier::new(
            FakeAnswer::NeverAnswer,
        ))));
        let mut host = Host::new(HostConfig::new(GAME, "Host"), t0);
        host.set_verifier(Ok(Box::new(fake.clone())));
        let from = addr(1);
        let cookie = cookie_for(&mut host, t0, from);
        let id = 76_561_198_000_000_001;
        host.handle_datagram(t0, from, &hello_bytes(&host, cookie, &hello(Some(id)), ""))
            .unwrap();
        // No more hellos: only the host's own wakeups move the check on.
        let mut refused_at = None;
        let mut wakeups = 0;
        while let Some(t) = host.poll_timeout() {
            assert!(t >= t0, "{t:?}");
            wakeups += 1;
            assert!(wakeups < 1000, "the host keeps waking up");
            host.handle_timeout(t);
            if let Some((reason, _)) = refusal(&answers_to(&mut host, t, from)) {
                assert_eq!(reason, RefuseReason::NotVerified);
                refused_at = Some(t);
                break;
            }
        }
        let at = refused_at.expect("refused") - t0;
        assert!(at >= VERIFY_TIMEOUT, "{at:?}");
        assert!(at <= VERIFY_TIMEOUT + Duration::from_millis(1), "{at:?}");
        assert!(fake.0.lock().unwrap().open_sessions().is_empty());
        assert_eq!(host.poll_timeout(), None);
    }

    #[test]
    fn malformed_steam_fields_are_typed_refusals() {
        let t0 = Instant::now();
        let mut host = Host::new(HostConfig::new(GAME, "Host"), t0);
        host.set_verifier(Ok(Box::new(FakeVerifier::new(FakeAnswer::Accept))));
        let from = addr(1);
        let cookie = cookie_for(&mut host, t0, from);
        let bad_id = Hello {
            steam_id: Some("76561198x".into()),
            ..hello(None)
        };
        assert!(host
            .handle_datagram(t0, from, &hello_bytes(&host, cookie, &bad_id, ""))
            .is_err());
        assert_eq!(
            refusal(&answers_to(&mut host, t0, from)).map(|r| r.0),
            Some(RefuseReason::Malformed)
        );
        for ticket in ["zz", "abc", &"00".repeat(MAX_TICKET_BYTES + 1)] {
            let bad_ticket = Hello {
                steam_ticket: Some(ticket.to_string()),
                ..hello(Some(76_561_198_000_000_001))
            };
            host.handle_datagram(t0, from, &hello_bytes(&host, cookie, &bad_ticket, ""))
                .unwrap();
            let (reason, message) = refusal(&answers_to(&mut host, t0, from)).expect("refused");
            assert_eq!(reason, RefuseReason::NotVerified);
            assert!(message.contains("Steam ticket"), "{message}");
        }
        assert_eq!(host.players().len(), 1);
    }

    #[test]
    fn the_config_never_prints_its_secrets() {
        let cfg = HostConfig {
            password: Some("hunter2".into()),
            cookie_secret: [0xab; 32],
            ..HostConfig::new(GAME, "Host")
        };
        let text = format!("{cfg:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("171"), "{text}");
        assert!(text.contains("require_verified"), "{text}");
    }
}
