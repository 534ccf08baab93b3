//! A joining peer: says hello (echoing the host's cookie), sends its pilot's
//! frames with the last few inputs repeated, and turns snapshots, control
//! messages and game events from the host into [`Event`]s.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::clock::{ClockEstimate, Pinger};
use super::host::AGE_STEP_US;
use super::link::{Lane, Link};
use super::room::RoomState;
use super::seal::{self, Seal, KEY_BYTES};
use super::snapshot::{self, HeldFrames};
use super::unreliable::{self, Outbox};
use super::FRAME_REFRESH;
use super::{
    interval_for, loss_fraction, next_slot, packet, slot_after, CloseReason, Event, PeerStats,
    RoomWelcome, SessionError, Transmit, DEFAULT_PILOT_HZ, DEFAULT_TIMEOUT, HOST_ACTOR, MAX_PILOTS,
    MAX_SPECTATORS, REDUNDANT_INPUTS,
};
use crate::identity::verify::ticket_to_hex;
use crate::identity::TicketMinter;
use crate::proto::control::MAX_EVENT_PAYLOAD;
use crate::proto::frame::{next_run, tick_newer};
use crate::proto::room::{ActorNr, GroupChange, Props, Raise, SetProps};
use crate::proto::wire::{
    packet_kind, write_handshake, PacketKind, Reader, SectionKind, WireError, Writer,
    HANDSHAKE_HEADER, MAX_PAYLOAD, PROTOCOL_VERSION,
};
use crate::proto::{
    Control, Hello, LeaveReason, Message, PilotFrame, PilotInput, PlayerInfo, RefuseReason, Role,
    FRAME_BYTES, INPUT_BYTES,
};
use crate::track::transfer::{Announcement, Download, DownloadOutput, TrackMsg, TrackTarget};
use crate::track::TrackHash;

/// Players a room can hold: the pilots (the host among them) and the
/// spectators. A host announcing more is ignored beyond this.
const MAX_PLAYERS: usize = MAX_PILOTS + MAX_SPECTATORS;
const HELLO_RETRY: Duration = Duration::from_millis(250);
const LEAVE_LINGER: Duration = Duration::from_millis(500);
const INPUT_RING: usize = 16;
/// The first hello's length, padded to more than a challenge's.
const FIRST_HELLO_LEN: usize = 64;
/// Challenge flag: the room asks a password.
pub(crate) const CHALLENGE_ASKS_PASSWORD: u8 = 1;

/// Track downloads one session starts at most (a track found on disk
/// counts too: looking for it hashes folders).
const MAX_DOWNLOADS_PER_SESSION: u64 = 32;
/// Bytes of tracks one session's downloads write at most (four of the
/// largest tracks [`crate::track::Limits`] allows by default; the game's
/// own tracks are a few MiB).
const MAX_TRACK_BYTES_PER_SESSION: u64 = 1 << 30;

/// While the track target has jobs in hand, the client asks to be woken
/// this often to take their results: the target works on its own thread
/// and cannot wake the network thread itself, and a result left waiting
/// holds up the download's credit or the room's track.
const TRACK_POLL: Duration = Duration::from_millis(2);

/// How a client joins.
#[derive(Clone)]
pub struct ClientConfig {
    /// The host's address.
    pub host: SocketAddr,
    /// The game build; must equal the host's.
    pub game_version: String,
    /// Display name.
    pub name: String,
    /// The game's player id.
    pub player_id: String,
    /// Pilot or spectator.
    pub role: Role,
    /// Accept a spectator seat when the pilot seats are taken.
    pub spectate_if_full: bool,
    /// Frames per second sent to the host (10 to 240).
    pub send_hz: u32,
    /// Silence after which the host is considered gone.
    pub timeout: Duration,
    /// How long to keep trying to get seated.
    pub connect_timeout: Duration,
    /// Our Steam id, when the game runs under Steam.
    pub steam_id: Option<u64>,
    /// Mints our Steam auth ticket for `steam_id`, bound to the Steam id
    /// the host's challenge names, for the host to verify us with. Without
    /// it, with a host that names no Steam id, or when the ticket does not
    /// fit a hello, we join unverified.
    pub steam_ticket: Option<TicketMinter>,
    /// The room password, if the room asks one (`None` or empty: none).
    /// It never travels: the hello is sealed under a key derived from it.
    pub password: Option<String>,
    /// The host's public key as its lobby listing published it: a host
    /// answering with another key is not joined
    /// ([`RefuseReason::HostKeyMismatch`]). `None` (a direct join by
    /// address): the key the host's challenge names is trusted.
    pub host_key: Option<[u8; KEY_BYTES]>,
    /// The player properties we join with (sent as our first message once
    /// seated; the others learn of us with them).
    pub player_props: Props,
}

impl std::fmt::Debug for ClientConfig {
    // By hand so neither the password nor the ticket reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("host", &self.host)
            .field("game_version", &self.game_version)
            .field("name", &self.name)
            .field("player_id", &self.player_id)
            .field("role", &self.role)
            .field("spectate_if_full", &self.spectate_if_full)
            .field("send_hz", &self.send_hz)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("steam_id", &self.steam_id)
            .field("steam_ticket", &self.steam_ticket)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("host_key", &self.host_key.map(|k| seal::hex(&k)))
            .field("player_props", &self.player_props.len())
            .finish()
    }
}

impl ClientConfig {
    /// Joins `host` as a pilot with the defaults.
    pub fn new(host: SocketAddr, game_version: &str, name: &str, role: Role) -> Self {
        ClientConfig {
            host,
            game_version: game_version.to_string(),
            name: name.to_string(),
            player_id: String::new(),
            role,
            spectate_if_full: false,
            send_hz: DEFAULT_PILOT_HZ,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            steam_id: None,
            steam_ticket: None,
            password: None,
            host_key: None,
            player_props: Props::new(),
        }
    }
}

/// Where a client is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// Saying hello, not yet seated.
    Connecting,
    /// Seated in the room.
    Connected,
    /// Over; no more traffic.
    Closed(CloseReason),
}

/// The joining side's sans-IO core. See the module docs of
/// [`crate::session`] for when to call what.
pub struct Client {
    cfg: ClientConfig,
    epoch: Instant,
    state: ClientState,
    /// The ticket minted for the host's Steam id, kept for the hellos of
    /// later challenges: (host's Steam id, ticket).
    ticket: Option<(u64, Vec<u8>)>,
    /// The sealed hello for the host's latest challenge (its cookie and
    /// the datagram), repeated until we are seated.
    hello: Option<(u64, Vec<u8>)>,
    /// The session, keyed once the host's challenge came.
    seal: Option<Seal>,
    /// A packet of the host's opened in our session.
    host_spoke: bool,
    next_hello_at: Instant,
    connect_deadline: Instant,
    link: Link,
    pinger: Pinger,
    actor: ActorNr,
    role: Role,
    /// Who is in the room as propwash knows them (their properties live in
    /// `state`).
    players: BTreeMap<ActorNr, PlayerInfo>,
    /// Players the host named before its welcome: everyone already there.
    arriving: Vec<PlayerInfo>,
    /// The room's game-server state as the host tells it.
    room: RoomState,
    seat_actor: [Option<ActorNr>; MAX_PILOTS],
    /// The run and tick of the newest frame taken per seat.
    seat_tick: [Option<(u8, u32)>; MAX_PILOTS],
    /// The host's recent frames per seat, to decode its deltas against.
    held: HeldFrames,
    /// Per-tick-lane events waiting for the next packet to the host.
    unreliable: Outbox,
    local: Option<PilotFrame>,
    /// The run our frames are in: bumped when the game's tick goes back.
    local_run: u8,
    local_serial: u64,
    sent_serial: u64,
    inputs: VecDeque<(u32, PilotInput)>,
    next_send_at: Instant,
    last_frame_sent_at: Instant,
    send_interval: Duration,
    leaving_until: Option<Instant>,
    events: VecDeque<Event>,
    track_target: Option<Box<dyn TrackTarget>>,
    download: Option<Download>,
    /// Numbers downloads, so the target's late results for an earlier one
    /// are told apart.
    downloads_started: u64,
    /// Bytes of tracks the downloads of this session wrote.
    track_bytes: u64,
    /// When to collect the track target's results next, while it is busy.
    track_poll_at: Instant,
    /// The announced track we already dealt with (ready or failed).
    track_settled: Option<TrackHash>,
    /// Our Steam id as the host verified it (set from the welcome).
    verified_steam_id: Option<String>,
    /// The host's snapshot rate to us, once welcomed.
    snapshot_hz: Option<u32>,
    /// Datagrams dropped as malformed or from the wrong address.
    pub rejected_datagrams: u64,
    /// Of those, the packets from the host's address that did not open
    /// (forged, damaged or replayed).
    pub unsealed_dropped: u64,
    /// Things the host sent beyond what a room holds (players past the
    /// room's seats, property changes past the room's limits), ignored.
    pub refused_from_host: u64,
}

impl Client {
    /// Starts joining at `now`; the first hello goes out at once.
    pub fn new(cfg: ClientConfig, now: Instant) -> Self {
        Client {
            send_interval: interval_for(cfg.send_hz),
            connect_deadline: now + cfg.connect_timeout,
            role: cfg.role,
            cfg,
            epoch: now,
            state: ClientState::Connecting,
            ticket: None,
            hello: None,
            seal: None,
            host_spoke: false,
            next_hello_at: now,
            link: Link::new(now),
            pinger: Pinger::new(now, now),
            actor: 0,
            players: BTreeMap::new(),
            arriving: Vec::new(),
            room: RoomState::mirror(),
            seat_actor: [None; MAX_PILOTS],
            seat_tick: [None; MAX_PILOTS],
            held: HeldFrames::default(),
            unreliable: Outbox::default(),
            local: None,
            local_run: 0,
            local_serial: 0,
            sent_serial: 0,
            inputs: VecDeque::with_capacity(INPUT_RING),
            next_send_at: now,
            last_frame_sent_at: now,
            leaving_until: None,
            events: VecDeque::new(),
            track_target: None,
            download: None,
            downloads_started: 0,
            track_bytes: 0,
            track_poll_at: now,
            track_settled: None,
            verified_steam_id: None,
            snapshot_hz: None,
            rejected_datagrams: 0,
            unsealed_dropped: 0,
            refused_from_host: 0,
        }
    }

    /// Where this client finds and installs custom tracks. Without one, a
    /// room's track is ignored (the game may handle it itself). The target
    /// does the disk work; the client hands it jobs and collects the
    /// results in `handle_timeout` (asking to be woken every few
    /// milliseconds while it is busy), so it never waits for the disk.
    pub fn set_track_target(&mut self, target: Box<dyn TrackTarget>) {
        self.track_target = Some(target);
        self.check_track();
    }

    /// Starts dealing with the room's announced track when it is new to us.
    fn check_track(&mut self) {
        if self.state != ClientState::Connected {
            return;
        }
        if self.track_target.is_none() {
            return;
        }
        let Some(announced) = Announcement::from_props(&self.room.props) else {
            // The host withdrew its track: a download in progress ends here
            // (its partial files stay for a later resume).
            if let Some(d) = self.retire_download() {
                let _ = self.link.send_on(Lane::Bulk, &TrackMsg::Cancel.encode());
                self.events.push_back(Event::TrackFailed {
                    reason: format!("the host stopped sharing track {}", d.hash()),
                });
                if let Some(target) = self.track_target.as_deref_mut() {
                    d.close(target);
                }
            }
            return;
        };
        let hash = announced.hash;
        if self.track_settled == Some(hash)
            || self.download.as_ref().is_some_and(|d| d.hash() == hash)
        {
            return;
        }
        if let Some(old) = self.retire_download() {
            // The host switched tracks mid-download: the old one is dropped
            // (its partial files stay for a later resume).
            let _ = self.link.send_on(Lane::Bulk, &TrackMsg::Cancel.encode());
            if let Some(target) = self.track_target.as_deref_mut() {
                old.close(target);
            }
        }
        // A host cycling through tracks cannot fill our disk: a session
        // starts so many downloads and writes so many bytes at most.
        let over = if self.downloads_started >= MAX_DOWNLOADS_PER_SESSION {
            Some(format!(
                "the host changed its track {MAX_DOWNLOADS_PER_SESSION} times in this session"
            ))
        } else if self.track_bytes.saturating_add(announced.size) > MAX_TRACK_BYTES_PER_SESSION {
            Some(format!(
                "this session already wrote {} MiB of tracks and track {hash} has {} MiB more \
                 (at most {} MiB a session)",
                self.track_bytes >> 20,
                announced.size >> 20,
                MAX_TRACK_BYTES_PER_SESSION >> 20
            ))
        } else {
            None
        };
        if let Some(why) = over {
            tracing::warn!("not fetching the room's track: {why}");
            self.track_settled = Some(hash);
            self.events.push_back(Event::TrackFailed {
                reason: format!("not fetching the room's track: {why}; rejoin to fetch it"),
            });
            return;
        }
        let Some(target) = self.track_target.as_deref_mut() else {
            return;
        };
        self.downloads_started += 1;
        self.download = Some(Download::start(self.downloads_started, announced, target));
        self.poll_track();
    }

    /// Ends the download in hand, counting the bytes it wrote against the
    /// session's budget.
    fn retire_download(&mut self) -> Option<Download> {
        let d = self.download.take()?;
        self.track_bytes = self.track_bytes.saturating_add(d.written());
        Some(d)
    }

    /// Takes what the track target finished and moves the download on.
    /// Results for a download we dropped are discarded.
    fn poll_track(&mut self) {
        loop {
            let Some(target) = self.track_target.as_deref_mut() else {
                return;
            };
            let Some((id, done)) = target.poll() else {
                return;
            };
            let Some(download) = self.download.as_mut().filter(|d| d.id() == id) else {
                continue;
            };
            let hash = download.hash();
            let outputs = download.on_target(done, target);
            self.apply_download(hash, outputs);
        }
    }

    fn apply_download(&mut self, hash: TrackHash, outputs: Vec<DownloadOutput>) {
        for o in outputs {
            match o {
                DownloadOutput::Send(m) => {
                    let _ = self.link.send_on(Lane::Bulk, &m.encode());
                }
                DownloadOutput::Progress { received, total } => self
                    .events
                    .push_back(Event::TrackProgress { received, total }),
                DownloadOutput::Ready { path, downloaded } => {
                    tracing::info!(path = %path.display(), downloaded, "the room's track is ready");
                    self.track_settled = Some(hash);
                    self.retire_download();
                    self.events
                        .push_back(Event::TrackReady { path, downloaded });
                }
                DownloadOutput::Failed(e) => {
                    tracing::warn!("track download failed: {e}");
                    self.track_settled = Some(hash);
                    self.retire_download();
                    self.events.push_back(Event::TrackFailed {
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// Where the client is in its life.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// Our actor number (0 until welcomed).
    pub fn actor(&self) -> ActorNr {
        self.actor
    }

    /// Our role (as asked until welcomed, then as given).
    pub fn role(&self) -> Role {
        self.role
    }

    /// Snapshots per second the host said it sends us (from the welcome).
    pub fn snapshot_hz(&self) -> Option<u32> {
        self.snapshot_hz
    }

    /// Everyone in the room as far as we know, by actor number, with
    /// their properties.
    pub fn players(&self) -> Vec<PlayerInfo> {
        self.players.values().map(|p| self.with_props(p)).collect()
    }

    fn with_props(&self, info: &PlayerInfo) -> PlayerInfo {
        let mut info = info.clone();
        if let Some(a) = self.room.actor(info.actor) {
            info.props.clone_from(&a.props);
        }
        info
    }

    /// The room's properties.
    pub fn room_props(&self) -> &Props {
        &self.room.props
    }

    /// The room's game-server state as the host told it (actors,
    /// properties, settings, master).
    pub fn room(&self) -> &RoomState {
        &self.room
    }

    /// The host address.
    pub fn host_addr(&self) -> SocketAddr {
        self.cfg.host
    }

    /// Our estimate of the host clock.
    pub fn clock(&self) -> ClockEstimate {
        self.pinger.estimate()
    }

    /// The host clock now, microseconds, as best we know it (our own clock
    /// until the first pong).
    pub fn host_time_us(&self, now: Instant) -> u64 {
        let local = now.saturating_duration_since(self.epoch).as_micros() as i64;
        (local + self.pinger.estimate().offset_us).max(0) as u64
    }

    /// Statistics of our link to the host.
    pub fn stats(&self) -> PeerStats {
        PeerStats {
            actor: HOST_ACTOR,
            role: Some(Role::Pilot),
            rtt_ms: self.pinger.rtt().map_or(0.0, |d| d.as_secs_f32() * 1000.0),
            loss: loss_fraction(&self.link.counters),
            counters: self.link.counters,
            last_tick: self.local.map_or(0, |f| f.tick),
            inputs_recovered: 0,
        }
    }

    /// Our pilot's frame for this tick; sent at the next send slot together
    /// with the inputs of the ticks before it. Ignored for spectators.
    pub fn push_local_frame(&mut self, frame: PilotFrame) {
        if self.role != Role::Pilot || matches!(self.state, ClientState::Closed(_)) {
            return;
        }
        if let Some(last) = self.local {
            if last.tick == frame.tick {
                // A tick the game already pushed: keep the first.
                return;
            }
            if !tick_newer(self.local_run, frame.tick, self.local_run, last.tick) {
                // The tick went back (a race restart): a new run, which the
                // others follow at once; the old run's inputs mean nothing.
                self.local_run = next_run(self.local_run);
                self.inputs.clear();
            }
        }
        if self.inputs.len() == INPUT_RING {
            self.inputs.pop_front();
        }
        self.inputs.push_back((frame.tick, frame.input));
        self.local = Some(frame);
        self.local_serial += 1;
    }

    /// The next send slot a frame pushed now would go out at, for a pilot
    /// in the room.
    pub fn push_slot(&self, now: Instant) -> Option<Instant> {
        (self.role == Role::Pilot && self.state == ClientState::Connected)
            .then(|| slot_after(self.next_send_at, now, self.send_interval))
    }

    fn connected(&self) -> Result<(), SessionError> {
        if self.state == ClientState::Connected && self.leaving_until.is_none() {
            Ok(())
        } else {
            Err(SessionError::NotConnected)
        }
    }

    /// Raises a game event; the host stamps our actor number on it and
    /// routes it. An unreliable event that fits one packet goes on the
    /// per-tick lane, anything else on the reliable one.
    pub fn raise(&mut self, ev: Raise) -> Result<(), SessionError> {
        if ev.payload.len() > MAX_EVENT_PAYLOAD {
            return Err(SessionError::EventTooLarge(ev.payload.len()));
        }
        self.connected()?;
        if !ev.reliable {
            if let Some(section) = unreliable::client_section(&ev) {
                self.unreliable
                    .push(unreliable::key(self.actor, ev.slot), section);
                return Ok(());
            }
        }
        self.link.send_message(&Message::Raise(ev).encode())?;
        Ok(())
    }

    /// Changes properties (the room's, ours or another player's). The host
    /// decides; a plain change is applied here at once (the host tells
    /// only the others, as Photon does), a check-and-set when the host
    /// confirms it to everyone. A refusal comes as
    /// [`Event::PropsRefused`].
    pub fn set_props(&mut self, req: SetProps) -> Result<(), SessionError> {
        self.connected()?;
        let mut scratch = self.room.clone();
        let changed = scratch.set_props(
            self.actor,
            &SetProps {
                expected: Default::default(),
                expected_settings: Default::default(),
                ..req.clone()
            },
        )?;
        self.link
            .send_message(&Message::SetProps(req.clone()).encode())?;
        if !req.is_cas() {
            self.room = scratch;
            self.events.push_back(Event::PropsChanged(changed));
        }
        Ok(())
    }

    /// Changes the interest groups we receive.
    pub fn change_groups(&mut self, change: GroupChange) -> Result<(), SessionError> {
        self.connected()?;
        self.link.send_message(&Message::Groups(change).encode())?;
        Ok(())
    }

    /// Spectators: receive this pilot at the full pilot rate.
    pub fn follow(&mut self, actor: Option<ActorNr>) -> Result<(), SessionError> {
        self.connected()?;
        if let Some(a) = actor {
            if !self.players.get(&a).is_some_and(|p| p.role == Role::Pilot) {
                return Err(SessionError::NoSuchActor(a));
            }
        }
        self.link
            .send_message(&Message::Control(Control::Follow { actor }).encode())?;
        Ok(())
    }

    /// Leaves the room: the host is told, and the session closes once it
    /// acknowledged or after half a second.
    pub fn leave(&mut self, now: Instant) {
        match self.state {
            ClientState::Connected if self.leaving_until.is_none() => {
                let _ = self
                    .link
                    .send_message(&Message::Control(Control::Leave).encode());
                self.leaving_until = Some(now + LEAVE_LINGER);
            }
            ClientState::Connecting => self.close(CloseReason::Left),
            _ => {}
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if !matches!(self.state, ClientState::Closed(_)) {
            self.state = ClientState::Closed(reason);
            self.events.push_back(Event::Closed { reason });
        }
    }

    /// Takes one datagram from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), WireError> {
        let r = self.dispatch(now, from, data);
        if let Err(e) = &r {
            self.rejected_datagrams += 1;
            if matches!(e, WireError::Unsealed(_)) {
                self.unsealed_dropped += 1;
            }
        }
        r
    }

    fn dispatch(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Result<(), WireError> {
        if from != self.cfg.host {
            return Err(WireError::Invalid(
                "datagram from an address that is not the host",
            ));
        }
        if matches!(self.state, ClientState::Closed(_)) {
            return Ok(());
        }
        match packet_kind(data)? {
            PacketKind::Challenge => {
                let mut r = Reader::new(&data[HANDSHAKE_HEADER..]);
                let cookie = r.u64("challenge cookie")?;
                let key = *r.array::<KEY_BYTES>("challenge key")?;
                let flags = r.u8("challenge flags")?;
                let host_steam_id = r.u64("challenge Steam id")?;
                // Once the host spoke in our session, we are seated: a late
                // or forged challenge must not rekey it.
                if self.state != ClientState::Connecting || self.host_spoke {
                    return Ok(());
                }
                if self.hello.as_ref().is_some_and(|(c, _)| *c == cookie) {
                    return Ok(());
                }
                let asks_password = flags & CHALLENGE_ASKS_PASSWORD != 0;
                self.on_challenge(cookie, key, asks_password, host_steam_id);
                self.next_hello_at = now;
                Ok(())
            }
            PacketKind::Refuse => {
                let mut r = Reader::new(&data[HANDSHAKE_HEADER..]);
                let _host_protocol = r.u16("refuse protocol version")?;
                let reason = RefuseReason::from_u8(r.u8("refuse reason")?);
                let message = String::from_utf8_lossy(r.rest()).into_owned();
                if self.state == ClientState::Connecting {
                    tracing::warn!(%message, "the host refused the join");
                    self.events.push_back(Event::Refused { reason, message });
                    self.close(CloseReason::Refused);
                }
                Ok(())
            }
            PacketKind::Data => self.on_data(now, data),
            PacketKind::Hello => Err(WireError::Invalid("hello sent to a client")),
        }
    }

    fn on_data(&mut self, now: Instant, data: &[u8]) -> Result<(), WireError> {
        let Some(seal) = self.seal.as_mut() else {
            return Err(WireError::Unsealed("a packet before the handshake"));
        };
        let seat_actor = self.seat_actor;
        let seat_tick = &mut self.seat_tick;
        let held = &mut self.held;
        let events = &mut self.events;
        let connected = self.state == ClientState::Connected;
        let fresh = packet::read(
            &mut self.link,
            &mut self.pinger,
            seal,
            now,
            data,
            |kind, r| match kind {
                SectionKind::Snapshot => {
                    let host_us = r.u64("snapshot time")?;
                    let count = r.u8("snapshot count")? as usize;
                    for _ in 0..count {
                        let (seat, age, q) = snapshot::read_entry(r, held)?;
                        let Some((frame, run)) = q.map(|q| q.to_frame()) else {
                            continue;
                        };
                        let age_us = u64::from(age) * AGE_STEP_US;
                        let Some(actor) = seat_actor[seat] else {
                            continue;
                        };
                        if seat_tick[seat].is_some_and(|(r, t)| !tick_newer(run, frame.tick, r, t))
                        {
                            continue;
                        }
                        seat_tick[seat] = Some((run, frame.tick));
                        events.push_back(Event::Frame {
                            actor,
                            frame,
                            host_time_us: host_us.saturating_sub(age_us),
                        });
                    }
                    Ok(())
                }
                SectionKind::Unreliable => {
                    let ev = unreliable::read_host(r)?;
                    // Before the welcome nothing of the room is known yet.
                    if connected {
                        events.push_back(Event::GameEvent(ev));
                    }
                    Ok(())
                }
                _ => Err(WireError::Invalid("section a host may not send")),
            },
        )?;
        self.host_spoke = true;
        if !fresh {
            return Ok(());
        }
        while let Some(bytes) = self.link.poll_message(Lane::Control) {
            match Message::decode(&bytes) {
                Ok(m) => self.on_message(m),
                Err(e) => {
                    tracing::debug!("unreadable message from the host: {e}");
                    self.rejected_datagrams += 1;
                }
            }
        }
        while let Some(bytes) = self.link.poll_message(Lane::Bulk) {
            let msg = match TrackMsg::decode(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!("unreadable track message from the host: {e}");
                    self.rejected_datagrams += 1;
                    continue;
                }
            };
            let (Some(download), Some(target)) =
                (self.download.as_mut(), self.track_target.as_deref_mut())
            else {
                continue;
            };
            let hash = download.hash();
            let outputs = download.on_message(msg, target);
            self.apply_download(hash, outputs);
        }
        self.poll_track();
        Ok(())
    }

    fn on_message(&mut self, m: Message) {
        match m {
            Message::Control(Control::PlayerJoined(p)) if self.state == ClientState::Connecting => {
                if self.arriving.len() < MAX_PLAYERS {
                    self.arriving.push(p);
                } else {
                    self.refused_from_host += 1;
                }
            }
            Message::Control(Control::Welcome {
                actor,
                role,
                settings,
                master,
                room,
                snapshot_hz,
                steam_id,
                verified,
            }) if self.state == ClientState::Connecting => {
                self.snapshot_hz = Some(snapshot_hz);
                self.actor = actor;
                self.role = role;
                self.state = ClientState::Connected;
                self.room_state_from(settings, master, room);
                let me = PlayerInfo {
                    actor,
                    role,
                    seat: None,
                    name: self.cfg.name.clone(),
                    player_id: self.cfg.player_id.clone(),
                    props: self.cfg.player_props.clone(),
                    verified: verified && steam_id.is_some(),
                    steam_id: steam_id.filter(|_| verified),
                };
                self.verified_steam_id = me.steam_id.clone();
                let arriving = std::mem::take(&mut self.arriving);
                for p in arriving.iter().chain(std::iter::once(&me)) {
                    // The host checked what it sent; ours are our own.
                    let _ = self.room.insert(p.actor, p.props.clone());
                    let mut bare = p.clone();
                    bare.props.clear();
                    self.players.insert(p.actor, bare);
                    self.note_seat(p);
                }
                let welcome = RoomWelcome {
                    settings: self.room.settings,
                    master: self.room.master(),
                    props: self.room.props.clone(),
                    players: self.players(),
                };
                self.events.push_back(Event::Welcomed {
                    actor,
                    role,
                    room: Box::new(welcome),
                });
                for p in arriving {
                    self.events.push_back(Event::PlayerJoined(p));
                }
                // Our first message: the others learn of us with these.
                let join = Control::JoinProps {
                    props: self.cfg.player_props.clone(),
                };
                let _ = self.link.send_message(&Message::Control(join).encode());
                self.check_track();
            }
            Message::Control(Control::PlayerJoined(p)) => {
                if p.actor == self.actor {
                    // Our own seat (with the seat number the host gave us).
                    let mut bare = p.clone();
                    bare.props.clear();
                    self.players.insert(p.actor, bare);
                } else {
                    self.add_player(p);
                }
            }
            Message::Control(Control::PlayerLeft {
                actor,
                reason,
                master,
            }) => {
                if let Some(p) = self.players.remove(&actor) {
                    if let Some(s) = p.seat.map(usize::from).filter(|&s| s < MAX_PILOTS) {
                        self.seat_actor[s] = None;
                        self.seat_tick[s] = None;
                        self.held.clear(s);
                    }
                    self.room.remove(actor);
                    if let Some(m) = master {
                        self.room.set_master(m);
                    }
                    self.events.push_back(Event::PlayerLeft {
                        actor,
                        reason,
                        master,
                    });
                }
            }
            Message::PropsChanged(ch) => {
                if let Err(e) = self.room.apply_mirrored(&ch) {
                    self.refused_from_host += 1;
                    tracing::warn!("ignored a property change from the host: {e}");
                    return;
                }
                self.check_track();
                self.events.push_back(Event::PropsChanged(ch));
            }
            Message::PropsRefused { request, message } => {
                tracing::debug!(request, %message, "the host refused a property change");
                self.events
                    .push_back(Event::PropsRefused { request, message });
            }
            Message::Control(Control::Leave) => {
                self.events.push_back(Event::PlayerLeft {
                    actor: HOST_ACTOR,
                    reason: LeaveReason::RoomClosed,
                    master: None,
                });
                self.close(CloseReason::RoomClosed);
            }
            Message::Event(ev) if self.state == ClientState::Connected => {
                self.events.push_back(Event::GameEvent(ev));
            }
            other => {
                tracing::debug!(?other, "ignored a message out of place");
            }
        }
    }

    /// Starts the room's mirror from the welcome.
    fn room_state_from(
        &mut self,
        settings: crate::proto::room::RoomSettings,
        master: ActorNr,
        room: Props,
    ) {
        self.room = RoomState::mirror();
        self.room.settings = settings;
        self.room.props = room;
        self.room.set_master(master);
    }

    /// Remembers which seat a pilot flies in, for the snapshots.
    fn note_seat(&mut self, p: &PlayerInfo) {
        if let Some(s) = p.seat.map(usize::from).filter(|&s| s < MAX_PILOTS) {
            if p.role == Role::Pilot && p.actor != self.actor {
                self.seat_actor[s] = Some(p.actor);
                self.seat_tick[s] = None;
                self.held.clear(s);
            }
        }
    }

    fn add_player(&mut self, p: PlayerInfo) {
        if !self.players.contains_key(&p.actor) && self.players.len() >= MAX_PLAYERS {
            self.refused_from_host += 1;
            tracing::warn!(
                actor = p.actor,
                "ignored a player the host announced: the room already has {MAX_PLAYERS}"
            );
            return;
        }
        self.note_seat(&p);
        if let Err(e) = self.room.insert(p.actor, p.props.clone()) {
            tracing::debug!(actor = p.actor, "a player's properties were refused: {e}");
            let _ = self.room.insert(p.actor, Props::new());
        }
        let mut bare = p.clone();
        bare.props.clear();
        self.players.insert(p.actor, bare);
        self.events.push_back(Event::PlayerJoined(p));
    }

    /// Gives up on a silent host, a join that never got an answer, or a
    /// goodbye the host did not acknowledge in time.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            ClientState::Connecting if now >= self.connect_deadline => {
                tracing::warn!(host = %self.cfg.host, "no answer from the host");
                self.close(CloseReason::TimedOut);
            }
            ClientState::Connected => {
                self.poll_track();
                self.track_poll_at = now + TRACK_POLL;
                if let Some(t) = self.leaving_until {
                    if now >= t || !self.link.has_unacked() {
                        self.close(CloseReason::Left);
                    }
                } else if now.saturating_duration_since(self.link.last_heard) >= self.cfg.timeout {
                    tracing::warn!(host = %self.cfg.host, "the host went silent");
                    self.close(CloseReason::TimedOut);
                }
            }
            _ => {}
        }
    }

    /// The next instant `handle_timeout` or `poll_transmit` has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ClientState::Closed(_) => None,
            ClientState::Connecting => Some(self.next_hello_at.min(self.connect_deadline)),
            ClientState::Connected => {
                let mut t = self
                    .pinger
                    .next_due()
                    .min(self.link.last_heard + self.cfg.timeout);
                if let Some(r) = self.link.next_resend() {
                    t = t.min(r);
                }
                if let Some(a) = self.link.ack_due_at() {
                    t = t.min(a);
                }
                if let Some(b) = self.link.bulk_due_at(self.link.last_sent) {
                    t = t.min(b);
                }
                if self.local_serial > self.sent_serial {
                    t = t.min(self.next_send_at);
                }
                if !self.unreliable.is_empty() {
                    t = t.min(self.epoch);
                }
                if self.role == Role::Pilot && self.local.is_some() {
                    t = t.min(self.last_frame_sent_at + FRAME_REFRESH);
                }
                if self.track_target.as_deref().is_some_and(|x| x.busy()) {
                    t = t.min(self.track_poll_at);
                }
                if let Some(l) = self.leaving_until {
                    t = t.min(l);
                    if !self.link.has_unacked() {
                        t = t.min(self.epoch);
                    }
                }
                Some(t)
            }
        }
    }

    /// The next datagram to send, written into `buf`; call until `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let to = self.cfg.host;
        match self.state {
            ClientState::Closed(_) => None,
            ClientState::Connecting => {
                if now < self.next_hello_at {
                    return None;
                }
                self.next_hello_at = now + HELLO_RETRY;
                let len = self.write_hello(buf)?;
                Some(Transmit { to, len })
            }
            ClientState::Connected => {
                let fresh = self.local_serial > self.sent_serial && now >= self.next_send_at;
                let refresh = now >= self.last_frame_sent_at + FRAME_REFRESH;
                let frame_due =
                    self.role == Role::Pilot && (fresh || refresh) && self.leaving_until.is_none();
                let (local, run) = (self.local, self.local_run);
                let inputs = &self.inputs;
                let outbox = &mut self.unreliable;
                let mut sent = false;
                let seal = self.seal.as_mut()?;
                let len = packet::build(
                    &mut self.link,
                    &mut self.pinger,
                    seal,
                    now,
                    buf,
                    false,
                    // Our bulk messages are requests and credits: tiny, unpaced.
                    &mut usize::MAX.clone(),
                    |w| {
                        if let (true, Some(frame)) = (frame_due, local) {
                            write_pilot(w, run, &frame, inputs);
                            sent = w.fits();
                        }
                        // The per-tick lane's events ride with the frame, or alone.
                        let events = outbox.write(w);
                        sent || events
                    },
                )?;
                if sent {
                    self.sent_serial = self.local_serial;
                    self.next_send_at = next_slot(self.next_send_at, now, self.send_interval);
                    self.last_frame_sent_at = now;
                }
                Some(Transmit { to, len })
            }
        }
    }

    /// The next event for the game.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Our Steam id as the host verified it; `None` before the welcome,
    /// without Steam, or when the host could not verify us.
    pub fn verified_steam_id(&self) -> Option<&str> {
        self.verified_steam_id.as_deref()
    }

    /// Seals `plain` (a data packet, its kind byte first) as our next
    /// packet to the host; for the fuzz targets, which must reach what
    /// lies behind the seal. `None` before the handshake.
    #[doc(hidden)]
    pub(crate) fn seal_plain(&mut self, plain: &[u8]) -> Option<Vec<u8>> {
        seal::seal_copy(self.seal.as_mut()?, plain)
    }

    /// Ends a join we decided against ourselves, telling the game why.
    fn refuse_here(&mut self, reason: RefuseReason, message: &str) {
        tracing::warn!(message, "not joining");
        self.events.push_back(Event::Refused {
            reason,
            message: message.to_string(),
        });
        self.close(CloseReason::Refused);
    }

    /// Answers the host's challenge: makes our key for this cookie and
    /// seals the hello's body (name, Steam ticket) under it, with the
    /// password in the key when the room asks one. The ticket is minted
    /// for the Steam id the challenge names (none when it names none). A
    /// ticket that would not fit is dropped (we join unverified) rather
    /// than losing the join.
    fn on_challenge(
        &mut self,
        cookie: u64,
        key: [u8; KEY_BYTES],
        asks_password: bool,
        host_steam_id: u64,
    ) {
        if self.cfg.host_key.is_some_and(|pinned| pinned != key) {
            let message = "the host answered with another key than its lobby listing \
                           published: another machine is answering for the room, so we \
                           did not join";
            return self.refuse_here(RefuseReason::HostKeyMismatch, message);
        }
        let password = self.cfg.password.clone().unwrap_or_default();
        if asks_password && password.is_empty() {
            return self.refuse_here(RefuseReason::WrongPassword, "this room asks a password");
        }
        let password = if asks_password {
            password
        } else {
            String::new()
        };
        let mut hello = Hello {
            game_version: self.cfg.game_version.clone(),
            name: self.cfg.name.clone(),
            player_id: self.cfg.player_id.clone(),
            role: self.cfg.role,
            spectate_if_full: self.cfg.spectate_if_full,
            steam_id: self.cfg.steam_id.map(|id| id.to_string()),
            steam_ticket: self.ticket_for(host_steam_id).map(ticket_to_hex),
        };
        let room = MAX_PAYLOAD - seal::HELLO_HEAD - seal::TAG_BYTES;
        let body = loop {
            let body = serde_json::to_vec(&hello).unwrap_or_default();
            if body.len() <= room {
                break body;
            }
            if hello.steam_ticket.take().is_some() {
                tracing::warn!(
                    "the Steam ticket does not fit a hello; joining without Steam verification"
                );
                self.cfg.steam_ticket = None;
                self.ticket = None;
                continue;
            }
            tracing::error!("hello does not fit a datagram: name or player id too long");
            self.close(CloseReason::Refused);
            return;
        };
        let Some((packet, session)) = seal::hello_packet(cookie, key, &password, &body) else {
            let message = "the host's key is not a valid key; not joining";
            return self.refuse_here(RefuseReason::Malformed, message);
        };
        self.hello = Some((cookie, packet));
        self.seal = Some(session);
    }

    /// Our ticket for the host `host_steam_id` (0: a host without Steam,
    /// which cannot check one, so none is minted), minted once per host id.
    fn ticket_for(&mut self, host_steam_id: u64) -> Option<&[u8]> {
        let minter = self.cfg.steam_ticket.as_ref()?;
        if host_steam_id == 0 || self.cfg.steam_id.is_none() {
            return None;
        }
        if self
            .ticket
            .as_ref()
            .is_none_or(|(h, _)| *h != host_steam_id)
        {
            self.ticket = minter
                .mint(host_steam_id)
                .filter(|t| !t.is_empty())
                .map(|t| (host_steam_id, t));
            if self.ticket.is_none() {
                tracing::warn!("Steam gave no auth ticket; joining without Steam verification");
            }
        }
        self.ticket.as_ref().map(|(_, t)| t.as_slice())
    }

    /// Writes a hello into `buf`: the sealed one once the host challenged
    /// us, before that one that carries nothing but our protocol version,
    /// padded so the challenge it asks for is no larger.
    fn write_hello(&mut self, buf: &mut [u8]) -> Option<usize> {
        if let Some((_, packet)) = &self.hello {
            let out = buf.get_mut(..packet.len())?;
            out.copy_from_slice(packet);
            return Some(packet.len());
        }
        let out = buf.get_mut(..FIRST_HELLO_LEN)?;
        out.fill(0);
        let mut w = Writer::new(out);
        write_handshake(&mut w, PacketKind::Hello);
        w.u16(PROTOCOL_VERSION);
        w.u64(0);
        Some(FIRST_HELLO_LEN)
    }
}

/// Writes a pilot section: the frame, then the inputs of the ticks just
/// before it that we still have, newest first.
fn write_pilot(
    w: &mut Writer<'_>,
    run: u8,
    frame: &PilotFrame,
    inputs: &VecDeque<(u32, PilotInput)>,
) {
    w.u8(SectionKind::Pilot as u8);
    let mut b = [0u8; FRAME_BYTES];
    frame.encode(run, &mut b);
    w.bytes(&b);
    let mut earlier = [PilotInput::default(); REDUNDANT_INPUTS];
    let mut n = 0;
    for k in 1..=REDUNDANT_INPUTS as u32 {
        let Some(tick) = frame.tick.checked_sub(k) else {
            break;
        };
        match inputs.iter().rev().find(|(t, _)| *t == tick) {
            Some((_, input)) => {
                earlier[n] = *input;
                n += 1;
            }
            None => break,
        }
    }
    w.u8(n as u8);
    for input in &earlier[..n] {
        let mut b = [0u8; INPUT_BYTES];
        input.encode(&mut b);
        w.bytes(&b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::room::{
        PropsChanged, RoomSettings, SettingsChange, MAX_ROOM_PROP_BYTES, MAX_VALUE_BYTES,
    };

    fn player(actor: ActorNr) -> PlayerInfo {
        PlayerInfo {
            actor,
            role: Role::Spectator,
            seat: None,
            name: format!("p{actor}"),
            player_id: String::new(),
            props: Props::new(),
            steam_id: None,
            verified: false,
        }
    }

    fn welcomed() -> Client {
        let host = "127.0.0.1:5056".parse().unwrap();
        let mut c = Client::new(
            ClientConfig::new(host, "1.0", "Me", Role::Spectator),
            Instant::now(),
        );
        c.on_message(Message::Control(Control::Welcome {
            actor: 2,
            role: Role::Spectator,
            settings: RoomSettings::default(),
            master: HOST_ACTOR,
            room: Props::new(),
            snapshot_hz: 30,
            steam_id: None,
            verified: false,
        }));
        assert_eq!(c.state(), ClientState::Connected);
        c
    }

    #[test]
    fn a_hostile_host_cannot_grow_the_players_or_the_properties_without_end() {
        let mut c = welcomed();
        for actor in 3..10_000 {
            c.on_message(Message::Control(Control::PlayerJoined(player(actor))));
        }
        assert_eq!(c.players.len(), MAX_PLAYERS);
        assert_eq!(c.room.len(), MAX_PLAYERS);
        // Room properties of the largest value each, far past the room's
        // limit: the mirror holds at most what the host itself allows.
        for k in 0..1000u32 {
            let mut changes = crate::proto::room::PropChanges::new();
            changes.insert(k.to_be_bytes().to_vec(), Some(vec![7; MAX_VALUE_BYTES]));
            c.on_message(Message::PropsChanged(PropsChanged {
                target: 0,
                by: HOST_ACTOR,
                cas: false,
                settings: SettingsChange::default(),
                changes,
            }));
        }
        let held: usize = c.room.props.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(
            held <= MAX_ROOM_PROP_BYTES,
            "{held} bytes of room properties"
        );
        // 9 997 players announced, 20 seated beside us; 1000 changes, 3 fit.
        assert_eq!(c.refused_from_host, (9_997 - 20) + (1000 - 3));
        let changes = c
            .events
            .iter()
            .filter(|e| matches!(e, Event::PropsChanged(_)))
            .count();
        assert_eq!(changes, 3, "only the changes that fit reach the game");
    }
}
