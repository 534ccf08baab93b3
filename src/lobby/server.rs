//! The coordinator's sans-IO core: lists rooms as soft state (a room lives
//! while its host heartbeats), proves requesters' addresses with stateless
//! cookies, caps what one address may list or ask, introduces joiners to
//! hosts for NAT punching, and relays within a byte budget when punching
//! fails. Time is a parameter; the driver owns the socket.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::record::{check_occupancy, ListPage, ListQuery, SessionId, MAX_PAGE, MAX_RECORD_JSON};
use super::registry::{Entry, Registry};
use super::wire::{
    decode_relay, encode_list_page, family, is_sealed, key_to_hex, open_seal, seal, ErrorBody,
    ErrorCode, Family, IntroduceBody, JoinBody, JoinOutcome, Message, Packet, PeerRole,
    RegisteredBody, RelayReadyBody, ReplayWindow, SealKey, UpdateBody,
};
use super::{Listing, LobbyError, Transmit};

/// How the coordinator runs. Every limit is a knob; the defaults suit a
/// community server.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// Key for address cookies, ids, tokens and nonces. Must be random in
    /// production (the program draws it from the OS).
    pub secret: [u8; 32],
    /// How often hosts are told to heartbeat.
    pub heartbeat_interval: Duration,
    /// A room with no heartbeat for this long disappears.
    pub session_timeout: Duration,
    /// Rooms listed at most, in all.
    pub max_sessions: usize,
    /// Rooms one IPv4 address, or one IPv6 /48, may list at once.
    pub max_sessions_per_ip: usize,
    /// Requests one IP address may make per second (relay frames aside).
    pub requests_per_sec_per_ip: f64,
    /// Requests one IP address may make in a burst.
    pub request_burst_per_ip: f64,
    /// Answers per second, in all, to sources that have not proven their
    /// address (challenges, errors): bounds what a spoofed flood reflects.
    pub unproven_answers_per_sec: f64,
    /// Relay budget per relay and direction, bytes per second; 0 turns the
    /// relay off.
    pub relay_bytes_per_sec: u64,
    /// Relays open at most.
    pub max_relays: usize,
    /// Relays one joiner IP address may hold at once.
    pub max_relays_per_ip: usize,
    /// A relay with no traffic for this long is closed.
    pub relay_idle_timeout: Duration,
    /// Introductions to one room per [`INTRO_WINDOW`] at most.
    pub max_intros_per_session: u32,
    /// Of those, introductions of joiners from one IPv4 address or IPv6
    /// /64 at most, so one address cannot use up a room's joins.
    pub max_intros_per_source: u32,
    /// IP addresses tracked for rate limits at most (beyond that, new
    /// addresses share one allowance).
    pub max_tracked_ips: usize,
}

/// The period over which [`CoordinatorConfig::max_intros_per_session`] counts.
pub const INTRO_WINDOW: Duration = Duration::from_secs(10);
/// Address cookies are valid for this period and the one before.
const COOKIE_PERIOD: Duration = Duration::from_secs(10);
/// An introduction is remembered this long (for relay requests, reports).
const INTRO_LIFETIME: Duration = Duration::from_secs(60);
/// Housekeeping period: relays, introductions, rate-limit table.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Introductions remembered at most (each lives [`INTRO_LIFETIME`]).
const MAX_INTROS: usize = 65_536;
/// A listed room's own budget for its sealed messages: per second, burst.
const ROOM_RATE: f64 = 5.0;
const ROOM_BURST: f64 = 20.0;

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            secret: [0; 32],
            heartbeat_interval: Duration::from_secs(10),
            session_timeout: Duration::from_secs(30),
            max_sessions: 50_000,
            max_sessions_per_ip: 4,
            requests_per_sec_per_ip: 20.0,
            request_burst_per_ip: 40.0,
            unproven_answers_per_sec: 2_000.0,
            relay_bytes_per_sec: 32_000,
            max_relays: 256,
            max_relays_per_ip: 4,
            relay_idle_timeout: Duration::from_secs(30),
            max_intros_per_session: 32,
            max_intros_per_source: 8,
            max_tracked_ips: 100_000,
        }
    }
}

/// What the coordinator has counted since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Coordinator datagrams handled (relay frames aside).
    pub requests: u64,
    /// Rooms listed.
    pub registrations: u64,
    /// Heartbeats accepted.
    pub heartbeats: u64,
    /// Listing updates accepted.
    pub updates: u64,
    /// Rooms withdrawn by their hosts.
    pub unregistrations: u64,
    /// Rooms dropped for missing heartbeats.
    pub expirations: u64,
    /// Lobby queries answered over UDP.
    pub list_queries: u64,
    /// Introductions made (join requests).
    pub joins: u64,
    /// Joins whose punching got through (reported by joiners).
    pub punch_success: u64,
    /// Joins whose punching failed (relay asked for, or failure reported).
    pub punch_failure: u64,
    /// Relays opened.
    pub relays_opened: u64,
    /// Relay requests refused (relay off or full).
    pub relays_refused: u64,
    /// Bytes of game datagrams relayed.
    pub relayed_bytes: u64,
    /// Bytes of game datagrams dropped over a relay's budget.
    pub relay_dropped_bytes: u64,
    /// Address challenges sent.
    pub challenges: u64,
    /// Datagrams dropped by the per-address rate limit.
    pub rate_limited: u64,
    /// Datagrams that could not be read.
    pub malformed: u64,
    /// Answers not sent because the unproven-answer budget was spent.
    pub answers_suppressed: u64,
    /// Requests refused with an error.
    pub refused: u64,
}

enum Admit {
    Yes,
    No,
    NoButSay,
}

struct IpState {
    tokens: f64,
    refilled: Instant,
    warned: Option<Instant>,
}

struct Intro {
    session_id: SessionId,
    host: SocketAddr,
    joiner: SocketAddr,
    expires: Instant,
    relay: Option<u64>,
    outcome_counted: bool,
}

struct Relay {
    a: SocketAddr,
    b: SocketAddr,
    tokens: [f64; 2],
    refilled: Instant,
    last_active: Instant,
}

/// The coordinator. One per UDP socket; see the module docs for the calls.
pub struct Coordinator {
    cfg: CoordinatorConfig,
    epoch: Instant,
    registry: Registry,
    /// Deadlines in the order they were set (all are `now + timeout`, so
    /// the queue is sorted); stale entries are skipped when they come up.
    expiry: VecDeque<(Instant, SessionId)>,
    ips: HashMap<IpAddr, IpState>,
    overflow_ip: IpState,
    /// Rooms listed per IPv4 address or IPv6 /48 (only keys with rooms).
    listed_per_net: HashMap<IpAddr, usize>,
    intros: HashMap<u64, Intro>,
    relays: HashMap<u64, Relay>,
    out: VecDeque<Transmit>,
    counter: u64,
    answer_tokens: f64,
    answer_refilled: Instant,
    next_sweep: Instant,
    metrics: Metrics,
    /// The datagram being handled: its size, and whether its source is
    /// proven (a valid cookie, or sealed by its room). Answers to an
    /// unproven source never exceed what it sent (no amplification).
    request_len: usize,
    request_proven: bool,
}

impl Coordinator {
    /// A coordinator whose clock starts at `now`.
    pub fn new(cfg: CoordinatorConfig, now: Instant) -> Self {
        let answer_tokens = cfg.unproven_answers_per_sec;
        let burst = cfg.request_burst_per_ip;
        Coordinator {
            cfg,
            epoch: now,
            registry: Registry::default(),
            expiry: VecDeque::new(),
            ips: HashMap::new(),
            overflow_ip: IpState {
                tokens: burst,
                refilled: now,
                warned: None,
            },
            listed_per_net: HashMap::new(),
            intros: HashMap::new(),
            relays: HashMap::new(),
            out: VecDeque::new(),
            counter: 0,
            answer_tokens,
            answer_refilled: now,
            next_sweep: now + SWEEP_EVERY,
            metrics: Metrics::default(),
            request_len: 0,
            request_proven: false,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &CoordinatorConfig {
        &self.cfg
    }

    /// Call for every datagram received on the coordinator's socket. Errors
    /// say why a datagram was dropped or refused (answers, where due, are
    /// already queued); none is fatal.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), LobbyError> {
        self.request_len = data.len();
        self.request_proven = false;
        match family(data) {
            Some(Family::Coordinator) => {}
            Some(Family::Relay) => return self.on_relay(now, from, data),
            Some(Family::Punch) => {
                return Err(LobbyError::Unexpected("punch sent to the coordinator"))
            }
            None => return Err(LobbyError::NotLobby),
        }
        // A listed room's own messages, proven by its key, draw on the
        // room's budget, not on its address's: a shared NAT (or a flood
        // from it) must not cost the host its listing.
        let verified = if is_sealed(data) {
            self.open_host_message(now, from, data)
        } else {
            None
        };
        match verified {
            Some(Ok(_)) => {}
            Some(Err(())) => {
                self.metrics.rate_limited += 1;
                return Err(LobbyError::RateLimited);
            }
            None => self.admit_or_warn(now, from, data)?,
        }
        let verified = verified.and_then(Result::ok);
        self.metrics.requests += 1;
        let packet = match Packet::decode(data) {
            Ok(p) => p,
            Err(e) => {
                self.metrics.malformed += 1;
                self.answer_error(now, from, 0, ErrorCode::Malformed, e.to_string());
                return Err(e.into());
            }
        };
        self.dispatch(now, from, packet, verified)
    }

    /// The per-address budget for everything not sealed by a room.
    fn admit_or_warn(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), LobbyError> {
        match self.admit(now, from.ip()) {
            Admit::Yes => Ok(()),
            Admit::No => {
                self.metrics.rate_limited += 1;
                Err(LobbyError::RateLimited)
            }
            Admit::NoButSay => {
                // Once a second per address, say why we went quiet.
                self.metrics.rate_limited += 1;
                let id = Packet::decode(data).map_or(0, |p| p.request_id);
                let msg = format!(
                    "more than {} requests a second from this address; slow down",
                    self.cfg.requests_per_sec_per_ip
                );
                self.answer_error(now, from, id, ErrorCode::RateLimited, msg);
                Err(LobbyError::RateLimited)
            }
        }
    }

    /// A sealed host message: `Some(Ok(room))` when it is the room's,
    /// from the room's address, fresh, and within the room's budget;
    /// `Some(Err(()))` when it is all that but over budget; `None` when it
    /// is not proven (it is then treated as any stranger's datagram).
    fn open_host_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Option<Result<SessionId, ()>> {
        let session_id = match Packet::decode(data).ok()?.message {
            Message::Heartbeat { session_id, .. } | Message::Unregister { session_id, .. } => {
                session_id
            }
            Message::Update(b) => b.session_id,
            _ => return None,
        };
        let e = self.registry.get_mut(session_id)?;
        if e.addr != from {
            return None;
        }
        let counter = open_seal(data, &e.key)?;
        if !e.replay.accept(counter) {
            return None;
        }
        let elapsed = now.saturating_duration_since(e.refilled).as_secs_f64();
        e.refilled = now;
        e.tokens = (e.tokens + elapsed * ROOM_RATE).min(ROOM_BURST);
        if e.tokens < 1.0 {
            return Some(Err(()));
        }
        e.tokens -= 1.0;
        Some(Ok(session_id))
    }

    fn dispatch(
        &mut self,
        now: Instant,
        from: SocketAddr,
        packet: Packet,
        verified: Option<SessionId>,
    ) -> Result<(), LobbyError> {
        let id = packet.request_id;
        let proven = packet.cookie != 0 && self.cookie_valid(now, from, packet.cookie);
        self.request_proven = proven || verified.is_some();
        match packet.message {
            Message::Register(b) => {
                self.challenge_unless(now, from, id, proven)?;
                self.on_register(now, from, id, b.listing)
            }
            Message::Heartbeat {
                session_id,
                token,
                current_pilots,
                current_spectators,
            } => self.on_heartbeat(
                now,
                from,
                id,
                (session_id, verified),
                token,
                current_pilots,
                current_spectators,
            ),
            Message::Update(b) => self.on_update(now, from, id, b, verified),
            Message::Unregister { session_id, token } => {
                let addr = self.authorise(now, from, id, session_id, token, verified)?;
                self.remove_session(session_id, addr);
                self.metrics.unregistrations += 1;
                Ok(())
            }
            Message::List(q) => {
                self.challenge_unless(now, from, id, proven)?;
                self.on_list(from, id, q);
                Ok(())
            }
            Message::Join(b) => {
                self.challenge_unless(now, from, id, proven)?;
                self.on_join(now, from, id, b)
            }
            Message::RelayRequest { session_id, nonce } => {
                self.on_relay_request(now, from, id, session_id, nonce)
            }
            Message::Report {
                session_id,
                nonce,
                outcome,
            } => {
                let intro = self
                    .intros
                    .get_mut(&nonce)
                    .filter(|i| i.session_id == session_id && i.joiner == from)
                    .ok_or(LobbyError::Unexpected("report for an unknown introduction"))?;
                if !intro.outcome_counted {
                    intro.outcome_counted = true;
                    match outcome {
                        JoinOutcome::Direct => self.metrics.punch_success += 1,
                        JoinOutcome::Relayed | JoinOutcome::Failed => {
                            self.metrics.punch_failure += 1
                        }
                    }
                }
                Ok(())
            }
            _ => {
                self.metrics.malformed += 1;
                Err(LobbyError::Unexpected("an answer sent to the coordinator"))
            }
        }
    }

    /// Call when the instant from [`Coordinator::poll_timeout`] has come
    /// (earlier or more often is harmless): expires silent rooms, idle
    /// relays, old introductions and idle rate-limit entries.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.expiry.front() {
            if deadline > now {
                break;
            }
            self.expiry.pop_front();
            let due = self
                .registry
                .get(id)
                .filter(|e| e.deadline <= now)
                .map(|e| e.addr);
            if let Some(addr) = due {
                self.remove_session(id, addr);
                self.metrics.expirations += 1;
            }
        }
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_EVERY;
            self.intros.retain(|_, i| i.expires > now);
            let idle = self.cfg.relay_idle_timeout;
            self.relays
                .retain(|_, r| now.duration_since(r.last_active) < idle);
            let (rate, burst) = (
                self.cfg.requests_per_sec_per_ip,
                self.cfg.request_burst_per_ip,
            );
            self.ips.retain(|_, s| {
                s.tokens + now.duration_since(s.refilled).as_secs_f64() * rate < burst
            });
        }
    }

    /// The next instant [`Coordinator::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sweep = (!self.intros.is_empty() || !self.relays.is_empty() || !self.ips.is_empty())
            .then_some(self.next_sweep);
        match (self.expiry.front().map(|e| e.0), sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next datagram to send; call until `None` after every other call.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// Rooms listed now.
    pub fn session_count(&self) -> usize {
        self.registry.len()
    }

    /// Relays open now.
    pub fn relay_count(&self) -> usize {
        self.relays.len()
    }

    /// Counters since start.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A lobby query (the HTTP side's; the limit is clamped to 1..=100).
    pub fn query(&self, q: &ListQuery) -> ListPage {
        let mut q = q.clone();
        q.limit = q.limit.clamp(1, 100);
        let (total, page) = self.registry.query(&q);
        ListPage {
            offset: q.offset,
            total,
            sessions: page.into_iter().map(|e| e.record.clone()).collect(),
        }
    }

    /// A lobby query answered as JSON (a [`ListPage`]), built from each
    /// room's cached JSON without re-encoding.
    pub fn query_json(&self, q: &ListQuery) -> String {
        let mut q = q.clone();
        q.limit = q.limit.clamp(1, 100);
        let (total, page) = self.registry.query(&q);
        let mut s =
            String::with_capacity(64 + page.iter().map(|e| e.json.len() + 1).sum::<usize>());
        let _ = write!(
            s,
            "{{\"offset\":{},\"total\":{total},\"sessions\":[",
            q.offset
        );
        for (i, e) in page.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&e.json);
        }
        s.push_str("]}");
        s
    }

    /// The same query the naive way (filter all, sort, cut): the
    /// benchmark's baseline. Returns (total, rooms on the page).
    pub fn query_linear_scan(&self, q: &ListQuery) -> (u32, usize) {
        let (total, page) = self.registry.query_linear(q);
        (total, page.len())
    }

    /// Every listed room's JSON, unordered (for inspection and tests).
    pub fn dump_json(&self) -> Vec<String> {
        self.registry.iter().map(|e| e.json.to_string()).collect()
    }

    /// The counters in Prometheus' text format.
    pub fn prometheus(&self) -> String {
        let m = &self.metrics;
        let mut s = String::with_capacity(2048);
        let mut put = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP propwash_{name} {help}");
            let _ = writeln!(s, "# TYPE propwash_{name} {kind}");
            let _ = writeln!(s, "propwash_{name} {v}");
        };
        put(
            "sessions",
            "gauge",
            "Rooms listed now.",
            self.registry.len() as u64,
        );
        put(
            "relays_active",
            "gauge",
            "Relays open now.",
            self.relays.len() as u64,
        );
        put(
            "requests_total",
            "counter",
            "Coordinator datagrams handled.",
            m.requests,
        );
        put(
            "registrations_total",
            "counter",
            "Rooms listed.",
            m.registrations,
        );
        put(
            "heartbeats_total",
            "counter",
            "Heartbeats accepted.",
            m.heartbeats,
        );
        put(
            "updates_total",
            "counter",
            "Listing updates accepted.",
            m.updates,
        );
        put(
            "unregistrations_total",
            "counter",
            "Rooms withdrawn.",
            m.unregistrations,
        );
        put(
            "expirations_total",
            "counter",
            "Rooms dropped for missing heartbeats.",
            m.expirations,
        );
        put(
            "list_queries_total",
            "counter",
            "Lobby queries answered over UDP.",
            m.list_queries,
        );
        put("joins_total", "counter", "Introductions made.", m.joins);
        put(
            "punch_success_total",
            "counter",
            "Joins whose punching got through.",
            m.punch_success,
        );
        put(
            "punch_failure_total",
            "counter",
            "Joins whose punching failed.",
            m.punch_failure,
        );
        put(
            "relays_opened_total",
            "counter",
            "Relays opened.",
            m.relays_opened,
        );
        put(
            "relays_refused_total",
            "counter",
            "Relay requests refused.",
            m.relays_refused,
        );
        put(
            "relayed_bytes_total",
            "counter",
            "Game bytes relayed.",
            m.relayed_bytes,
        );
        put(
            "relay_dropped_bytes_total",
            "counter",
            "Game bytes dropped over a relay budget.",
            m.relay_dropped_bytes,
        );
        put(
            "challenges_total",
            "counter",
            "Address challenges sent.",
            m.challenges,
        );
        put(
            "rate_limited_total",
            "counter",
            "Datagrams dropped by the per-address rate limit.",
            m.rate_limited,
        );
        put(
            "malformed_total",
            "counter",
            "Datagrams that could not be read.",
            m.malformed,
        );
        put(
            "refused_total",
            "counter",
            "Requests refused with an error.",
            m.refused,
        );
        s
    }

    // ---- requests ----

    fn on_register(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: u32,
        listing: Listing,
    ) -> Result<(), LobbyError> {
        if let Err(msg) = listing.validate() {
            return self.refuse(now, from, id, ErrorCode::InvalidListing, msg);
        }
        if let Some(existing) = self.registry.at_addr(from) {
            // Same request, same listing: our answer was lost. (A restarted
            // game may reuse a request id, but not with the same listing and
            // occupancy, or it would not matter.)
            let repeat = self
                .registry
                .get(existing)
                .filter(|e| {
                    e.register_request == id
                        && e.record == listing.to_record(e.record.session_id, from)
                })
                .map(|e| (e.token, e.record.session_id, e.key));
            if let Some((token, session_id, key)) = repeat {
                self.send_registered(from, id, session_id, token, &key);
                return Ok(());
            }
            // The same game socket registers anew: its old room is gone.
            self.remove_session(existing, from);
        }
        let per_net = self
            .listed_per_net
            .get(&registration_key(from.ip()))
            .copied()
            .unwrap_or(0);
        if per_net >= self.cfg.max_sessions_per_ip {
            let msg = format!(
                "this address (IPv6: its /48) already lists {per_net} rooms (at most {} allowed)",
                self.cfg.max_sessions_per_ip
            );
            return self.refuse(now, from, id, ErrorCode::TooManySessions, msg);
        }
        if self.registry.len() >= self.cfg.max_sessions {
            let msg = "the coordinator lists as many rooms as it can".to_string();
            return self.refuse(now, from, id, ErrorCode::CoordinatorFull, msg);
        }
        let session_id = SessionId(self.random_u64(b"session"));
        let token = self.random_u64(b"token");
        let key = self.random_key();
        let record = listing.to_record(session_id, from);
        let json = match serde_json::to_string(&record) {
            Ok(j) if j.len() <= MAX_RECORD_JSON => j,
            Ok(j) => {
                let msg = format!(
                    "the listing encodes to {} bytes, at most {MAX_RECORD_JSON} allowed",
                    j.len()
                );
                return self.refuse(now, from, id, ErrorCode::InvalidListing, msg);
            }
            Err(e) => return self.refuse(now, from, id, ErrorCode::InvalidListing, e.to_string()),
        };
        let deadline = now + self.cfg.session_timeout;
        self.registry.insert(Entry {
            record,
            json: json.into(),
            token,
            addr: from,
            deadline,
            register_request: id,
            intro_window: now,
            intro_count: 0,
            intro_sources: HashMap::new(),
            key,
            replay: ReplayWindow::default(),
            sent: 0,
            tokens: ROOM_BURST,
            refilled: now,
        });
        self.expiry.push_back((deadline, session_id));
        *self
            .listed_per_net
            .entry(registration_key(from.ip()))
            .or_insert(0) += 1;
        self.metrics.registrations += 1;
        self.send_registered(from, id, session_id, token, &key);
        Ok(())
    }

    fn send_registered(
        &mut self,
        to: SocketAddr,
        id: u32,
        session_id: SessionId,
        token: u64,
        key: &SealKey,
    ) {
        let body = RegisteredBody {
            session_id,
            token: SessionId(token),
            heartbeat_secs: self.cfg.heartbeat_interval.as_secs().max(1) as u32,
            public_addr: to,
            key: key_to_hex(key),
        };
        self.send(to, Packet::new(id, Message::Registered(body)));
    }

    /// Sends a message about a room to its host, sealed with the room's key.
    fn send_to_host(&mut self, session_id: SessionId, p: Packet) {
        let Some(e) = self.registry.get_mut(session_id) else {
            return;
        };
        let Ok(mut bytes) = p.encode() else {
            return;
        };
        e.sent += 1;
        if seal(&mut bytes, &e.key, e.sent).is_ok() {
            self.out.push_back(Transmit {
                to: e.addr,
                bytes,
                ttl: None,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_heartbeat(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: u32,
        (session_id, verified): (SessionId, Option<SessionId>),
        token: u64,
        pilots: u8,
        spectators: u8,
    ) -> Result<(), LobbyError> {
        self.authorise(now, from, id, session_id, token, verified)?;
        let deadline = now + self.cfg.session_timeout;
        let mut changed = None;
        if let Some(e) = self.registry.get_mut(session_id) {
            e.deadline = deadline;
            let c = e.record.capacity;
            if (c.current_pilots, c.current_spectators) != (pilots, spectators)
                && check_occupancy(&c, pilots, spectators).is_ok()
            {
                let mut r = e.record.clone();
                r.capacity.current_pilots = pilots;
                r.capacity.current_spectators = spectators;
                changed = Some(r);
            }
        }
        self.expiry.push_back((deadline, session_id));
        if let Some(r) = changed {
            if let Ok(json) = serde_json::to_string(&r) {
                self.registry.replace(session_id, r, json.into());
            }
        }
        self.metrics.heartbeats += 1;
        self.send_to_host(
            session_id,
            Packet::new(id, Message::HeartbeatAck { session_id }),
        );
        Ok(())
    }

    fn on_update(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: u32,
        b: UpdateBody,
        verified: Option<SessionId>,
    ) -> Result<(), LobbyError> {
        self.authorise(now, from, id, b.session_id, b.token.0, verified)?;
        if let Err(msg) = b.listing.validate() {
            return self.refuse(now, from, id, ErrorCode::InvalidListing, msg);
        }
        let record = b.listing.to_record(b.session_id, from);
        let json = match serde_json::to_string(&record) {
            Ok(j) if j.len() <= MAX_RECORD_JSON => j,
            _ => {
                let msg = format!("the listing encodes to over {MAX_RECORD_JSON} bytes");
                return self.refuse(now, from, id, ErrorCode::InvalidListing, msg);
            }
        };
        self.registry.replace(b.session_id, record, json.into());
        let deadline = now + self.cfg.session_timeout;
        if let Some(e) = self.registry.get_mut(b.session_id) {
            e.deadline = deadline;
        }
        self.expiry.push_back((deadline, b.session_id));
        self.metrics.updates += 1;
        let ack = Message::UpdateAck {
            session_id: b.session_id,
        };
        self.send_to_host(b.session_id, Packet::new(id, ack));
        Ok(())
    }

    fn on_list(&mut self, from: SocketAddr, id: u32, mut q: ListQuery) {
        q.limit = q.limit.clamp(1, MAX_PAGE);
        let (total, page) = self.registry.query(&q);
        let json: Vec<&str> = page.iter().map(|e| &*e.json).collect();
        let datagrams = encode_list_page(id, q.offset, total, &json);
        self.metrics.list_queries += 1;
        for bytes in datagrams {
            self.out.push_back(Transmit {
                to: from,
                bytes,
                ttl: None,
            });
        }
    }

    fn on_join(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: u32,
        b: JoinBody,
    ) -> Result<(), LobbyError> {
        let Some(e) = self.registry.get(b.session_id) else {
            let msg = format!("room {} is not listed (any more)", b.session_id);
            return self.refuse(now, from, id, ErrorCode::UnknownSession, msg);
        };
        if e.record.game_version != b.game_version
            || e.record.protocol_version != b.protocol_version
        {
            let msg = format!(
                "the room runs game {} (protocol {}), you run game {} (protocol {})",
                e.record.game_version,
                e.record.protocol_version,
                b.game_version,
                b.protocol_version
            );
            return self.refuse(now, from, id, ErrorCode::IncompatibleVersion, msg);
        }
        let host = e.addr;
        let host_key = e.record.host_key.clone();
        let nonce = self.nonce_for(b.session_id, from, host);
        if !self.intros.contains_key(&nonce) && self.intros.len() >= MAX_INTROS {
            let msg = "the coordinator is introducing as many joiners as it can; retry shortly";
            return self.refuse(now, from, id, ErrorCode::Busy, msg.into());
        }
        if !self.intros.contains_key(&nonce) {
            let (max, per_source) = (
                self.cfg.max_intros_per_session,
                self.cfg.max_intros_per_source,
            );
            let source = limit_key(from.ip());
            let busy = match self.registry.get_mut(b.session_id) {
                Some(e) => {
                    if now.duration_since(e.intro_window) >= INTRO_WINDOW {
                        e.intro_window = now;
                        e.intro_count = 0;
                        e.intro_sources.clear();
                    }
                    let mine = e.intro_sources.get(&source).copied().unwrap_or(0);
                    if mine >= per_source {
                        Some(
                            "this address is being introduced to the room too often; retry shortly",
                        )
                    } else if e.intro_count >= max {
                        Some("the host is being introduced to too many joiners; retry shortly")
                    } else {
                        e.intro_count += 1;
                        e.intro_sources.insert(source, mine + 1);
                        None
                    }
                }
                None => Some("the room is not listed any more"),
            };
            if let Some(msg) = busy {
                return self.refuse(now, from, id, ErrorCode::Busy, msg.into());
            }
            self.intros.insert(
                nonce,
                Intro {
                    session_id: b.session_id,
                    host,
                    joiner: from,
                    expires: now + INTRO_LIFETIME,
                    relay: None,
                    outcome_counted: false,
                },
            );
            self.metrics.joins += 1;
        }
        // Both at once (a repeated join repeats both: either may have been lost).
        let to_joiner = IntroduceBody {
            session_id: b.session_id,
            nonce,
            peer: host,
            role: PeerRole::Joiner,
            host_key,
        };
        let to_host = IntroduceBody {
            session_id: b.session_id,
            nonce,
            peer: from,
            role: PeerRole::Host,
            host_key: String::new(),
        };
        self.send_to_host(b.session_id, Packet::new(0, Message::Introduce(to_host)));
        self.send(from, Packet::new(id, Message::Introduce(to_joiner)));
        Ok(())
    }

    fn on_relay_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: u32,
        session_id: SessionId,
        nonce: u64,
    ) -> Result<(), LobbyError> {
        let Some(intro) = self
            .intros
            .get_mut(&nonce)
            .filter(|i| i.session_id == session_id && i.joiner == from)
        else {
            let msg = "no introduction to relay (expired, or from another address)".to_string();
            return self.refuse(now, from, id, ErrorCode::UnknownSession, msg);
        };
        let newly_failed = !intro.outcome_counted;
        intro.outcome_counted = true;
        let (host, existing) = (intro.host, intro.relay);
        if newly_failed {
            self.metrics.punch_failure += 1;
        }
        let token = match existing {
            Some(t) if self.relays.contains_key(&t) => t,
            _ => {
                if self.cfg.relay_bytes_per_sec == 0 {
                    self.metrics.relays_refused += 1;
                    let msg = "this coordinator does not relay".to_string();
                    return self.refuse(now, from, id, ErrorCode::RelayDisabled, msg);
                }
                let key = limit_key(from.ip());
                let held = self
                    .relays
                    .values()
                    .filter(|r| limit_key(r.a.ip()) == key)
                    .count();
                if held >= self.cfg.max_relays_per_ip {
                    self.metrics.relays_refused += 1;
                    let msg = format!("this address already holds {held} relays");
                    return self.refuse(now, from, id, ErrorCode::RelayUnavailable, msg);
                }
                if self.relays.len() >= self.cfg.max_relays {
                    self.metrics.relays_refused += 1;
                    let msg = format!(
                        "all {} relays of this coordinator are in use",
                        self.cfg.max_relays
                    );
                    return self.refuse(now, from, id, ErrorCode::RelayUnavailable, msg);
                }
                let t = self.random_u64(b"relay");
                let burst = self.cfg.relay_bytes_per_sec as f64;
                self.relays.insert(
                    t,
                    Relay {
                        a: from,
                        b: host,
                        tokens: [burst, burst],
                        refilled: now,
                        last_active: now,
                    },
                );
                if let Some(i) = self.intros.get_mut(&nonce) {
                    i.relay = Some(t);
                }
                self.metrics.relays_opened += 1;
                t
            }
        };
        let body = |peer| RelayReadyBody {
            session_id,
            nonce,
            token,
            peer,
            bytes_per_sec: self.cfg.relay_bytes_per_sec,
        };
        let (to_host, to_joiner) = (body(from), body(host));
        self.send_to_host(session_id, Packet::new(0, Message::RelayReady(to_host)));
        self.send(from, Packet::new(id, Message::RelayReady(to_joiner)));
        Ok(())
    }

    fn on_relay(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Result<(), LobbyError> {
        let (token, inner) = decode_relay(data)?;
        let rate = self.cfg.relay_bytes_per_sec as f64;
        let Some(r) = self.relays.get_mut(&token) else {
            return Err(LobbyError::Unexpected("relay frame with an unknown token"));
        };
        let (dir, to) = if from == r.a {
            (0, r.b)
        } else if from == r.b {
            (1, r.a)
        } else {
            return Err(LobbyError::Unexpected("relay frame from outside the relay"));
        };
        let elapsed = now.saturating_duration_since(r.refilled).as_secs_f64();
        r.refilled = now;
        for t in &mut r.tokens {
            *t = (*t + elapsed * rate).min(rate);
        }
        let n = inner.len() as f64;
        if r.tokens[dir] < n {
            self.metrics.relay_dropped_bytes += inner.len() as u64;
            return Err(LobbyError::RateLimited);
        }
        r.tokens[dir] -= n;
        r.last_active = now;
        self.metrics.relayed_bytes += inner.len() as u64;
        self.out.push_back(Transmit {
            to,
            bytes: data.to_vec(),
            ttl: None,
        });
        Ok(())
    }

    // ---- helpers ----

    /// Checks a host's session id, token and address; answers errors.
    /// Returns the address the room was listed from.
    fn authorise(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: u32,
        session_id: SessionId,
        token: u64,
        verified: Option<SessionId>,
    ) -> Result<SocketAddr, LobbyError> {
        let (code, msg) = match self.registry.get(session_id) {
            None => (
                ErrorCode::UnknownSession,
                format!("room {session_id} is not listed (expired or withdrawn); register again"),
            ),
            Some(e) if e.token != token => (
                ErrorCode::BadToken,
                format!("wrong token for room {session_id}"),
            ),
            Some(e) if e.addr != from => (
                ErrorCode::AddressChanged,
                format!("room {session_id} was listed from another address; register again"),
            ),
            Some(_) if verified != Some(session_id) => (
                ErrorCode::BadToken,
                format!("message for room {session_id} not sealed with its key (or replayed)"),
            ),
            Some(e) => return Ok(e.addr),
        };
        self.refuse(now, from, id, code, msg)?;
        Err(LobbyError::Refused(code))
    }

    fn remove_session(&mut self, id: SessionId, addr: SocketAddr) {
        if self.registry.remove(id).is_some() {
            let key = registration_key(addr.ip());
            if let Some(n) = self.listed_per_net.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.listed_per_net.remove(&key);
                }
            }
        }
    }

    fn challenge_unless(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: u32,
        proven: bool,
    ) -> Result<(), LobbyError> {
        if proven {
            return Ok(());
        }
        let cookie = self.cookie(from, self.cookie_period(now));
        if self.unproven_budget(now) {
            self.metrics.challenges += 1;
            let mut p = Packet::new(id, Message::Challenge);
            p.cookie = cookie;
            self.send(from, p);
        }
        Err(LobbyError::Unexpected(
            "request without a valid address cookie",
        ))
    }

    /// Queues an error answer and returns it as this request's error.
    fn refuse(
        &mut self,
        now: Instant,
        to: SocketAddr,
        id: u32,
        code: ErrorCode,
        message: String,
    ) -> Result<(), LobbyError> {
        self.metrics.refused += 1;
        self.answer_error(now, to, id, code, message);
        Err(LobbyError::Refused(code))
    }

    /// Errors are small and rate limits came first; they still draw on
    /// the answer budget so no flood turns the coordinator into a reflector.
    fn answer_error(
        &mut self,
        now: Instant,
        to: SocketAddr,
        id: u32,
        code: ErrorCode,
        mut message: String,
    ) {
        if !self.unproven_budget(now) {
            return;
        }
        message.truncate(512);
        if !self.request_proven {
            // No bigger than the request: cut the words, or say nothing.
            let bare = Packet::new(
                id,
                Message::Error(ErrorBody {
                    code,
                    message: String::new(),
                }),
            );
            let room = self
                .request_len
                .saturating_sub(bare.encode().map_or(usize::MAX, |b| b.len()));
            if bare.encode().map_or(usize::MAX, |b| b.len()) > self.request_len {
                self.metrics.answers_suppressed += 1;
                return;
            }
            // JSON escapes can grow a character to six bytes.
            let mut cut = room / 6;
            while !message.is_char_boundary(cut.min(message.len())) {
                cut -= 1;
            }
            message.truncate(cut.min(message.len()));
        }
        self.send(
            to,
            Packet::new(id, Message::Error(ErrorBody { code, message })),
        );
    }

    fn unproven_budget(&mut self, now: Instant) -> bool {
        let rate = self.cfg.unproven_answers_per_sec;
        let elapsed = now
            .saturating_duration_since(self.answer_refilled)
            .as_secs_f64();
        self.answer_refilled = now;
        self.answer_tokens = (self.answer_tokens + elapsed * rate).min(rate.max(1.0));
        if self.answer_tokens < 1.0 {
            self.metrics.answers_suppressed += 1;
            return false;
        }
        self.answer_tokens -= 1.0;
        true
    }

    fn send(&mut self, to: SocketAddr, p: Packet) {
        // Every message we build fits (records are capped at registration).
        if let Ok(bytes) = p.encode() {
            self.out.push_back(Transmit {
                to,
                bytes,
                ttl: None,
            });
        }
    }

    /// Token bucket per source IP, for every coordinator request.
    fn admit(&mut self, now: Instant, ip: IpAddr) -> Admit {
        let (rate, burst) = (
            self.cfg.requests_per_sec_per_ip,
            self.cfg.request_burst_per_ip,
        );
        let Some(s) = self.ip_state_mut(now, ip) else {
            return Admit::No;
        };
        let elapsed = now.saturating_duration_since(s.refilled).as_secs_f64();
        s.refilled = now;
        s.tokens = (s.tokens + elapsed * rate).min(burst);
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            return Admit::Yes;
        }
        let say = s
            .warned
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
        if say {
            s.warned = Some(now);
            Admit::NoButSay
        } else {
            Admit::No
        }
    }

    fn ip_state_mut(&mut self, now: Instant, ip: IpAddr) -> Option<&mut IpState> {
        let ip = limit_key(ip);
        if !self.ips.contains_key(&ip) {
            if self.ips.len() >= self.cfg.max_tracked_ips {
                return Some(&mut self.overflow_ip);
            }
            self.ips.insert(
                ip,
                IpState {
                    tokens: self.cfg.request_burst_per_ip,
                    refilled: now,
                    warned: None,
                },
            );
        }
        self.ips.get_mut(&ip)
    }

    fn cookie_period(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs() / COOKIE_PERIOD.as_secs()
    }

    fn cookie(&self, from: SocketAddr, period: u64) -> u64 {
        let mut h = Sha256::new();
        h.update(self.cfg.secret);
        h.update(b"cookie");
        h.update(addr_bytes(from));
        h.update(period.to_be_bytes());
        first_u64(&h.finalize()).max(1)
    }

    fn cookie_valid(&self, now: Instant, from: SocketAddr, cookie: u64) -> bool {
        let p = self.cookie_period(now);
        cookie == self.cookie(from, p) || (p > 0 && cookie == self.cookie(from, p - 1))
    }

    fn nonce_for(&self, session: SessionId, joiner: SocketAddr, host: SocketAddr) -> u64 {
        let mut h = Sha256::new();
        h.update(self.cfg.secret);
        h.update(b"intro");
        h.update(session.0.to_be_bytes());
        h.update(addr_bytes(joiner));
        h.update(addr_bytes(host));
        first_u64(&h.finalize())
    }

    /// A room's sealing key: from the OS, or (should the OS fail us)
    /// derived from the coordinator's secret.
    fn random_key(&mut self) -> SealKey {
        let mut k = [0u8; 32];
        if getrandom::getrandom(&mut k).is_err() {
            for (i, c) in k.chunks_mut(8).enumerate() {
                let label = [b'k', b'e', b'y', i as u8];
                c.copy_from_slice(&self.random_u64(&label).to_be_bytes());
            }
        }
        k
    }

    fn random_u64(&mut self, label: &[u8]) -> u64 {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.cfg.secret);
        h.update(label);
        h.update(self.counter.to_be_bytes());
        first_u64(&h.finalize())
    }
}

/// What caps and rate limits count by: an IPv4 address, or an IPv6 /64
/// (one subscriber usually holds a whole /64).
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::from(o)
        }
    }
}

/// What the registration cap counts by: an IPv4 address, or an IPv6 /48
/// (a site's prefix: one subscriber may hold many /64s).
fn registration_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[6..].fill(0);
            IpAddr::from(o)
        }
    }
}

fn addr_bytes(a: SocketAddr) -> Vec<u8> {
    let mut v = match a.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    v.extend_from_slice(&a.port().to_be_bytes());
    v
}

fn first_u64(d: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&d[..8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lobby::record::sample_listing;
    use crate::lobby::wire::RegisterBody;

    fn answers(c: &mut Coordinator) -> Vec<Packet> {
        std::iter::from_fn(|| c.poll_transmit())
            .filter_map(|t| Packet::decode(&t.bytes).ok())
            .collect()
    }

    /// Registers with the challenge answered; returns the answer.
    fn register(
        c: &mut Coordinator,
        now: Instant,
        from: SocketAddr,
        id: u32,
        l: Listing,
    ) -> Message {
        let mut p = Packet::new(id, Message::Register(RegisterBody { listing: l }));
        let _ = c.handle_datagram(now, from, &p.encode().unwrap());
        p.cookie = answers(c)[0].cookie;
        let _ = c.handle_datagram(now, from, &p.encode().unwrap());
        answers(c).remove(0).message
    }

    #[test]
    fn a_repeated_register_gets_the_same_room_and_a_changed_one_replaces_it() {
        let now = Instant::now();
        let mut c = Coordinator::new(CoordinatorConfig::default(), now);
        let from: SocketAddr = "203.0.113.4:5056".parse().unwrap();
        let Message::Registered(a) = register(&mut c, now, from, 1, sample_listing()) else {
            panic!("not listed");
        };
        let Message::Registered(b) = register(&mut c, now, from, 1, sample_listing()) else {
            panic!("not listed");
        };
        assert_eq!((a.session_id, a.token), (b.session_id, b.token));
        let mut renamed = sample_listing();
        renamed.room.name = "Renamed".into();
        let Message::Registered(r) = register(&mut c, now, from, 1, renamed) else {
            panic!("not listed");
        };
        assert_ne!(r.session_id, a.session_id);
        assert_eq!(c.session_count(), 1);
        assert_eq!(
            c.query(&ListQuery::default()).sessions[0].room.name,
            "Renamed"
        );
    }

    #[test]
    fn ipv6_hosts_are_capped_per_slash_48() {
        let now = Instant::now();
        let mut c = Coordinator::new(CoordinatorConfig::default(), now);
        for i in 0..6u16 {
            // Each from its own /64 of one /48.
            let from = SocketAddr::new(format!("2001:db8:1:{:x}::1", i + 1).parse().unwrap(), 5056);
            let m = register(&mut c, now, from, 1, sample_listing());
            match (i, m) {
                (0..=3, Message::Registered(_)) => {}
                (4.., Message::Error(e)) => assert_eq!(e.code, ErrorCode::TooManySessions),
                (i, m) => panic!("registration {i}: {m:?}"),
            }
        }
        let other: SocketAddr = "[2001:db8:2::1]:5056".parse().unwrap();
        assert!(matches!(
            register(&mut c, now, other, 1, sample_listing()),
            Message::Registered(_)
        ));
        assert_eq!(c.session_count(), 5);
    }
}
