//! The coordinator and the lobby client, tested in memory (a simulated
//! clock, Linux-like NATs in between) and over real loopback sockets (the
//! UDP service and its HTTP side).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use propwash::lobby::service::{Service, ServiceConfig};
use propwash::lobby::wire::{
    ErrorCode, Message, Packet, PeerRole, RegisterBody, COORDINATOR_MAGIC,
};
use propwash::lobby::{
    family, Capacity, Coordinator, CoordinatorConfig, HostProfile, JoinFailure, ListQuery, Listing,
    LobbyClient, LobbyConfig, LobbyError, LobbyEvent, Path, Received, RoomInfo, RoomSettings,
    SessionId, Transmit,
};
use propwash::util::SplitMix64;

const GAME: &str = "drl-4.1.2";
const PASSWORD: &str = "hunter2-very-secret";

fn listing(name: &str, game: &str) -> Listing {
    Listing {
        host: HostProfile {
            steam_id: "76561198000000001".into(),
            player_name: format!("{name} host"),
            avatar_url: "https://avatars.example/a.jpg".into(),
        },
        room: RoomInfo {
            name: name.into(),
            map_id: "MP-Stadium".into(),
            track_id: "CMP-1".into(),
            is_custom_track: false,
            mode: "race".into(),
            props: Default::default(),
        },
        capacity: Capacity {
            pilots: 6,
            spectators: 15,
            current_pilots: 1,
            current_spectators: 0,
        },
        settings: RoomSettings {
            laps: 3,
            physics: "drl".into(),
            allow_track_download: true,
            ..Default::default()
        },
        game_version: game.into(),
        protocol_version: propwash::proto::PROTOCOL_VERSION,
        has_password: false,
        host_key: HOST_KEY.into(),
    }
}

/// The room key the test listings publish.
const HOST_KEY: &str = "abababababababababababababababababababababababababababababababab";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn coordinator_cfg() -> CoordinatorConfig {
    CoordinatorConfig {
        secret: [7; 32],
        ..CoordinatorConfig::default()
    }
}

// ---------------------------------------------------------------------------
// The in-memory world: a coordinator on the "internet", clients behind NATs.
// ---------------------------------------------------------------------------

/// A Linux conntrack-style NAT: per-flow mappings that keep the inside port
/// when nothing clashes (MASQUERADE), or pick a fresh port per flow
/// (`--random-fully`). An inbound packet that matches no flow leaves an
/// entry of its own behind (as conntrack does for traffic to the NAT box
/// itself), which later clashes with an outgoing flow to that remote.
struct Nat {
    public: IpAddr,
    random_fully: bool,
    flows: Vec<Flow>,
    next_port: u16,
    rng: SplitMix64,
}

struct Flow {
    inside: Option<SocketAddr>,
    remote: SocketAddr,
    port: u16,
}

impl Nat {
    fn new(public: &str, random_fully: bool, seed: u64) -> Nat {
        Nat {
            public: public.parse().unwrap(),
            random_fully,
            flows: Vec::new(),
            next_port: 40_000,
            rng: SplitMix64(seed),
        }
    }

    fn outbound(&mut self, inside: SocketAddr, remote: SocketAddr) -> SocketAddr {
        if let Some(f) = self
            .flows
            .iter()
            .find(|f| f.inside == Some(inside) && f.remote == remote)
        {
            return SocketAddr::new(self.public, f.port);
        }
        let taken =
            |flows: &[Flow], port: u16| flows.iter().any(|f| f.port == port && f.remote == remote);
        let mut port = if self.random_fully {
            1024 + (self.rng.next_u64() % 60_000) as u16
        } else {
            inside.port()
        };
        while taken(&self.flows, port) {
            port = if self.random_fully {
                1024 + (self.rng.next_u64() % 60_000) as u16
            } else {
                self.next_port += 1;
                self.next_port
            };
        }
        self.flows.push(Flow {
            inside: Some(inside),
            remote,
            port,
        });
        SocketAddr::new(self.public, port)
    }

    fn inbound(&mut self, remote: SocketAddr, port: u16) -> Option<SocketAddr> {
        if let Some(f) = self
            .flows
            .iter()
            .find(|f| f.port == port && f.remote == remote)
        {
            return f.inside;
        }
        self.flows.push(Flow {
            inside: None,
            remote,
            port,
        });
        None
    }
}

struct Peer {
    core: LobbyClient,
    inside: SocketAddr,
    nat: Option<usize>,
    /// One-way delay to the other peers' side of the internet.
    delay: Duration,
    /// One-way delay to and from the coordinator (may break the triangle
    /// inequality, as real routes do).
    coord_delay: Duration,
    events: Vec<LobbyEvent>,
    /// Game datagrams (non-lobby, or unwrapped from the relay): (from, bytes).
    game: Vec<(SocketAddr, Vec<u8>)>,
    alive: bool,
    sent: Vec<Transmit>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: SocketAddr,
    from: SocketAddr,
    bytes: Vec<u8>,
    ttl: u32,
}

struct World {
    now: Instant,
    coord: Coordinator,
    coord_addr: SocketAddr,
    nats: Vec<Nat>,
    peers: Vec<Peer>,
    flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    /// Every datagram put on the wire, as sent.
    wire: Vec<Vec<u8>>,
}

const DEFAULT_TTL: u32 = 64;

impl World {
    fn new(cfg: CoordinatorConfig) -> World {
        let now = Instant::now();
        World {
            now,
            coord: Coordinator::new(cfg, now),
            coord_addr: addr("192.0.2.1:7400"),
            nats: Vec::new(),
            peers: Vec::new(),
            flight: BinaryHeap::new(),
            seq: 0,
            wire: Vec::new(),
        }
    }

    fn add_nat(&mut self, nat: Nat) -> usize {
        self.nats.push(nat);
        self.nats.len() - 1
    }

    fn add_peer(
        &mut self,
        inside: &str,
        nat: Option<usize>,
        delay_ms: u64,
        cfg: LobbyConfig,
    ) -> usize {
        self.peers.push(Peer {
            core: LobbyClient::new(cfg),
            inside: addr(inside),
            nat,
            delay: Duration::from_millis(delay_ms),
            coord_delay: Duration::from_millis(delay_ms),
            events: Vec::new(),
            game: Vec::new(),
            alive: true,
            sent: Vec::new(),
        });
        self.peers.len() - 1
    }

    fn lobby_cfg(&self) -> LobbyConfig {
        LobbyConfig::new(self.coord_addr, GAME)
    }

    /// Routes one datagram from `src` (an inside address, or the
    /// coordinator's) and schedules its delivery.
    fn route(&mut self, src_peer: Option<usize>, to: SocketAddr, bytes: Vec<u8>, ttl: Option<u32>) {
        self.wire.push(bytes.clone());
        let mut ttl = ttl.unwrap_or(DEFAULT_TTL);
        let (mut from, mut delay) = (self.coord_addr, Duration::ZERO);
        if let Some(i) = src_peer {
            let p = &self.peers[i];
            from = p.inside;
            delay = if to == self.coord_addr {
                p.coord_delay
            } else {
                p.delay
            };
            if let Some(n) = p.nat {
                // Our NAT forwards (and maps) only what survives its hop.
                if ttl < 2 {
                    return;
                }
                ttl -= 1;
                from = self.nats[n].outbound(p.inside, to);
            }
        }
        if to != self.coord_addr {
            // The router between the NATs is one more hop.
            if ttl < 2 {
                return;
            }
            ttl -= 1;
        }
        let dst_delay = self
            .peers
            .iter()
            .find(|p| p.inside == to || p.nat.is_some_and(|n| self.nats[n].public == to.ip()))
            .map_or(Duration::ZERO, |p| {
                if src_peer.is_none() {
                    p.coord_delay
                } else {
                    p.delay
                }
            });
        self.seq += 1;
        self.flight.push(Reverse(InFlight {
            at: self.now + delay + dst_delay,
            seq: self.seq,
            to,
            from,
            bytes,
            ttl,
        }));
    }

    fn deliver(&mut self, f: InFlight) {
        if f.to == self.coord_addr {
            let _ = self.coord.handle_datagram(self.now, f.from, &f.bytes);
            return;
        }
        // Through the destination's NAT, if any.
        let mut target = None;
        for (i, p) in self.peers.iter().enumerate() {
            match p.nat {
                None if p.inside == f.to => target = Some((i, f.to)),
                Some(n) if self.nats[n].public == f.to.ip() => {
                    if f.ttl < 2 {
                        return;
                    }
                    let Some(inside) = self.nats[n].inbound(f.from, f.to.port()) else {
                        return;
                    };
                    if inside == p.inside {
                        target = Some((i, inside));
                    }
                }
                _ => {}
            }
        }
        let Some((i, _)) = target else {
            return;
        };
        let now = self.now;
        let p = &mut self.peers[i];
        if !p.alive {
            return;
        }
        if family(&f.bytes).is_none() {
            p.game.push((f.from, f.bytes));
            return;
        }
        if let Ok(Received::Relayed { peer, inner }) = p.core.handle_datagram(now, f.from, &f.bytes)
        {
            p.game.push((peer, inner.to_vec()));
        }
    }

    fn flush(&mut self) {
        loop {
            let mut any = false;
            while let Some(t) = self.coord.poll_transmit() {
                any = true;
                self.route(None, t.to, t.bytes, t.ttl);
            }
            for i in 0..self.peers.len() {
                while let Some(e) = self.peers[i].core.poll_event() {
                    self.peers[i].events.push(e);
                }
                if !self.peers[i].alive {
                    while self.peers[i].core.poll_transmit().is_some() {}
                    continue;
                }
                while let Some(t) = self.peers[i].core.poll_transmit() {
                    any = true;
                    self.peers[i].sent.push(t.clone());
                    self.route(Some(i), t.to, t.bytes, t.ttl);
                }
            }
            if !any {
                break;
            }
        }
    }

    /// Sends a game datagram from peer `i` to `to` the way a driver would:
    /// wrapped for the relay when the lobby says so, else directly.
    fn send_game(&mut self, i: usize, to: SocketAddr, bytes: &[u8]) {
        let mut buf = [0u8; 2048];
        match self.peers[i].core.wrap_relayed(to, bytes, &mut buf) {
            Some((via, n)) => self.route(Some(i), via, buf[..n].to_vec(), None),
            None => self.route(Some(i), to, bytes.to_vec(), None),
        }
    }

    /// Advances the clock to the next thing due (at most `limit` ahead).
    fn step(&mut self, limit: Instant) {
        self.flush();
        let mut next = limit;
        if let Some(Reverse(f)) = self.flight.peek() {
            next = next.min(f.at);
        }
        if let Some(t) = self.coord.poll_timeout() {
            next = next.min(t);
        }
        for p in &self.peers {
            if let (true, Some(t)) = (p.alive, p.core.poll_timeout()) {
                next = next.min(t);
            }
        }
        self.now = self.now.max(next);
        while self
            .flight
            .peek()
            .is_some_and(|Reverse(f)| f.at <= self.now)
        {
            let Some(Reverse(f)) = self.flight.pop() else {
                break;
            };
            self.deliver(f);
        }
        let now = self.now;
        if self.coord.poll_timeout().is_some_and(|t| t <= now) {
            self.coord.handle_timeout(now);
        }
        for p in &mut self.peers {
            if p.alive && p.core.poll_timeout().is_some_and(|t| t <= now) {
                p.core.handle_timeout(now);
            }
        }
        self.flush();
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&World) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step(end);
        }
        done(self)
    }

    fn registered(&self, i: usize) -> Option<SessionId> {
        self.peers[i].events.iter().rev().find_map(|e| match e {
            LobbyEvent::Registered { session_id, .. } => Some(*session_id),
            _ => None,
        })
    }

    fn list(&mut self, i: usize, q: ListQuery) -> propwash::lobby::ListPage {
        let id = self.peers[i].core.list(self.now, q);
        let found = self.run_until(Duration::from_secs(10), |w| {
            w.peers[i].events.iter().any(|e| {
                matches!(e, LobbyEvent::ListResult { request_id, .. }
                    | LobbyEvent::ListFailed { request_id, .. } if *request_id == id)
            })
        });
        assert!(found, "no answer to the lobby query");
        let pos = self.peers[i]
            .events
            .iter()
            .position(|e| {
                matches!(e, LobbyEvent::ListResult { request_id, .. }
                    | LobbyEvent::ListFailed { request_id, .. } if *request_id == id)
            })
            .unwrap();
        match self.peers[i].events.remove(pos) {
            LobbyEvent::ListResult { page, .. } => page,
            other => panic!("lobby query failed: {other:?}"),
        }
    }

    fn connected(&self, i: usize) -> Option<(SocketAddr, Path)> {
        self.peers[i].events.iter().find_map(|e| match e {
            LobbyEvent::Connected { peer, path, .. } => Some((*peer, *path)),
            _ => None,
        })
    }

    fn join_failure(&self, i: usize) -> Option<JoinFailure> {
        self.peers[i].events.iter().find_map(|e| match e {
            LobbyEvent::JoinFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }
}

/// Host behind NAT A, joiner behind NAT B, 40 ms apart; the host is far
/// from the coordinator (150 ms), the joiner near it (5 ms): the joiner's
/// first punch reaches the host's NAT before the host hears of the joiner.
fn nat_pair(
    random_fully: bool,
    relay_bytes_per_sec: u64,
    client: impl Fn(&mut LobbyConfig),
) -> World {
    let mut w = World::new(CoordinatorConfig {
        relay_bytes_per_sec,
        ..coordinator_cfg()
    });
    let a = w.add_nat(Nat::new("203.0.113.10", random_fully, 1));
    let b = w.add_nat(Nat::new("198.51.100.20", random_fully, 2));
    let mut cfg = w.lobby_cfg();
    client(&mut cfg);
    w.add_peer("10.0.1.2:5056", Some(a), 20, cfg.clone());
    w.add_peer("10.0.2.2:5056", Some(b), 20, cfg);
    w.peers[0].coord_delay = Duration::from_millis(150);
    w.peers[1].coord_delay = Duration::from_millis(5);
    w
}

fn host_and_join(w: &mut World) -> SessionId {
    let now = w.now;
    w.peers[0].core.host(now, listing("Evening race", GAME));
    assert!(w.run_until(Duration::from_secs(5), |w| w.registered(0).is_some()));
    let sid = w.registered(0).unwrap();
    let page = w.list(1, ListQuery::default());
    assert_eq!(page.sessions.len(), 1);
    assert_eq!(page.sessions[0].session_id, sid);
    // The coordinator saw the host's public (NATed) endpoint, and lists
    // the room's key.
    assert_eq!(page.sessions[0].host.ip, w.nats[0].public);
    assert_eq!(page.sessions[0].host_key, HOST_KEY);
    let now = w.now;
    w.peers[1].core.join(now, sid);
    sid
}

// ---------------------------------------------------------------------------
// Soft state, caps, filters, secrets.
// ---------------------------------------------------------------------------

#[test]
fn a_room_expires_after_missed_heartbeats_and_not_before() {
    let mut w = World::new(coordinator_cfg());
    let cfg = w.lobby_cfg();
    w.add_peer("192.0.2.50:5056", None, 10, cfg.clone());
    w.add_peer("192.0.2.60:5056", None, 10, cfg);
    let now = w.now;
    w.peers[0].core.host(now, listing("Soft state", GAME));
    assert!(w.run_until(Duration::from_secs(5), |w| w.registered(0).is_some()));
    // A minute of heartbeats (every 10 s) keeps the 30 s timeout at bay.
    w.run_for(Duration::from_secs(60));
    assert_eq!(w.list(1, ListQuery::default()).total, 1);
    assert!(w.coord.metrics().heartbeats >= 5);
    // The host's game dies: no more heartbeats, no goodbye.
    w.peers[0].alive = false;
    w.run_for(Duration::from_secs(19));
    assert_eq!(w.list(1, ListQuery::default()).total, 1, "gone too early");
    w.run_for(Duration::from_secs(12));
    assert_eq!(w.list(1, ListQuery::default()).total, 0, "still listed");
    assert_eq!(w.coord.metrics().expirations, 1);
    assert_eq!(w.coord.session_count(), 0);
}

#[test]
fn the_host_registers_again_when_the_coordinator_forgot_it() {
    let mut w = World::new(coordinator_cfg());
    let cfg = w.lobby_cfg();
    w.add_peer("192.0.2.50:5056", None, 10, cfg);
    let now = w.now;
    w.peers[0].core.host(now, listing("Phoenix", GAME));
    assert!(w.run_until(Duration::from_secs(5), |w| w.registered(0).is_some()));
    let first = w.registered(0).unwrap();
    // The coordinator restarts with an empty list (and a new key).
    w.coord = Coordinator::new(
        CoordinatorConfig {
            secret: [8; 32],
            ..coordinator_cfg()
        },
        w.now,
    );
    assert!(w.run_until(Duration::from_secs(30), |w| w.registered(0) != Some(first)));
    let second = w.registered(0).unwrap();
    assert_eq!(w.coord.session_count(), 1);
    assert_ne!(first, second);
    assert_eq!(w.peers[0].core.hosted_session(), Some(second));
}

#[test]
fn occupancy_changes_reach_the_list_at_once() {
    let mut w = World::new(coordinator_cfg());
    let cfg = w.lobby_cfg();
    w.add_peer("192.0.2.50:5056", None, 10, cfg.clone());
    w.add_peer("192.0.2.60:5056", None, 10, cfg);
    let now = w.now;
    w.peers[0].core.host(now, listing("Busy", GAME));
    assert!(w.run_until(Duration::from_secs(5), |w| w.registered(0).is_some()));
    let now = w.now;
    w.peers[0].core.set_occupancy(now, 4, 2);
    w.run_for(Duration::from_millis(200));
    let page = w.list(1, ListQuery::default());
    let c = page.sessions[0].capacity;
    assert_eq!((c.current_pilots, c.current_spectators), (4, 2));
    let now = w.now;
    let mut l = listing("Renamed", GAME);
    l.capacity.current_pilots = 4;
    l.capacity.current_spectators = 2;
    w.peers[0].core.update_listing(now, l);
    w.run_for(Duration::from_millis(200));
    assert_eq!(
        w.list(1, ListQuery::default()).sessions[0].room.name,
        "Renamed"
    );
}

/// Sends a request from `from` with `cookie`, returns what came back to `from`.
fn request(
    c: &mut Coordinator,
    now: Instant,
    from: SocketAddr,
    id: u32,
    cookie: u64,
    m: Message,
) -> Vec<(SocketAddr, Packet)> {
    let bytes = Packet {
        request_id: id,
        cookie,
        message: m,
    }
    .encode()
    .unwrap();
    let _ = c.handle_datagram(now, from, &bytes);
    let mut out = Vec::new();
    while let Some(t) = c.poll_transmit() {
        if let Ok(p) = Packet::decode(&t.bytes) {
            out.push((t.to, p));
        }
    }
    out
}

fn register_msg(name: &str) -> Message {
    Message::Register(RegisterBody {
        listing: listing(name, GAME),
    })
}

/// Registers from `from`, answering the challenge as a real host would.
fn register_proven(
    c: &mut Coordinator,
    now: Instant,
    from: SocketAddr,
    name: &str,
) -> Option<Packet> {
    let out = request(c, now, from, 1, 0, register_msg(name));
    let cookie = out
        .iter()
        .find(|(_, p)| p.message == Message::Challenge)?
        .1
        .cookie;
    request(c, now, from, 1, cookie, register_msg(name))
        .into_iter()
        .map(|(_, p)| p)
        .next()
}

#[test]
fn spoofed_registrations_are_never_listed() {
    let now = Instant::now();
    let mut c = Coordinator::new(coordinator_cfg(), now);
    let victim = addr("198.51.100.7:5056");
    let mut rng = SplitMix64(99);
    // The spoofer never sees the challenge (it goes to the victim's
    // address), so it can only guess cookies.
    for i in 0..2_000u32 {
        let t = now + Duration::from_millis(u64::from(i));
        let out = request(
            &mut c,
            t,
            victim,
            i,
            rng.next_u64(),
            register_msg("Spoofed"),
        );
        for (to, p) in out {
            assert_eq!(to, victim, "answers go only to the claimed source");
            let ok = match &p.message {
                Message::Challenge => true,
                Message::Error(e) => e.code == ErrorCode::RateLimited,
                _ => false,
            };
            assert!(ok, "a guess got through: {p:?}");
        }
    }
    assert_eq!(c.session_count(), 0);
    assert!(c.query(&ListQuery::default()).sessions.is_empty());
    // A cookie issued to one address does not work from another (the
    // victim's allowance has refilled by now).
    let t0 = now + Duration::from_secs(10);
    let real = addr("203.0.113.9:5056");
    let out = request(&mut c, t0, real, 1, 0, register_msg("Real"));
    let cookie = out[0].1.cookie;
    let out = request(&mut c, t0, victim, 1, cookie, register_msg("Stolen cookie"));
    assert!(matches!(out[0].1.message, Message::Challenge), "{out:?}");
    assert_eq!(c.session_count(), 0);
    // Cookies age out: fine 5 s later, refused 25 s later.
    let out = request(
        &mut c,
        t0 + Duration::from_secs(5),
        real,
        1,
        cookie,
        register_msg("Real"),
    );
    assert!(
        matches!(out[0].1.message, Message::Registered(_)),
        "{out:?}"
    );
    let later = t0 + Duration::from_secs(25);
    let out = request(&mut c, later, real, 2, cookie, register_msg("Stale"));
    assert!(matches!(out[0].1.message, Message::Challenge), "{out:?}");
    assert_eq!(c.session_count(), 1);
}

#[test]
fn a_flood_from_one_address_is_capped_while_other_hosts_still_register() {
    let now = Instant::now();
    let mut c = Coordinator::new(coordinator_cfg(), now);
    let mut others = 0;
    for i in 0..400u16 {
        // 40 registrations a second from one machine, many ports...
        let t = now + Duration::from_millis(u64::from(i) * 25);
        let flood = SocketAddr::new("198.51.100.66".parse().unwrap(), 10_000 + i);
        let _ = register_proven(&mut c, t, flood, &format!("Flood {i}"));
        // ...while ordinary hosts register now and then.
        if i % 20 == 0 {
            let host = SocketAddr::new(format!("203.0.113.{}", i / 20 + 1).parse().unwrap(), 5056);
            let answer = register_proven(&mut c, t, host, "Ordinary").expect("answered");
            assert!(
                matches!(answer.message, Message::Registered(_)),
                "{answer:?}"
            );
            others += 1;
        }
    }
    let flood_ip: IpAddr = "198.51.100.66".parse().unwrap();
    let listed = c.query(&ListQuery {
        limit: 100,
        ..ListQuery::default()
    });
    let from_flood = listed
        .sessions
        .iter()
        .filter(|s| s.host.ip == flood_ip)
        .count();
    assert_eq!(from_flood, 4, "per-address cap");
    assert_eq!(listed.total as usize, 4 + others);
    assert!(
        c.metrics().rate_limited > 0,
        "the flood was also rate limited"
    );
    // The cap's refusal says why.
    let t = now + Duration::from_secs(60);
    let answer = register_proven(&mut c, t, SocketAddr::new(flood_ip, 9), "One more").unwrap();
    match answer.message {
        Message::Error(e) => {
            assert_eq!(e.code, ErrorCode::TooManySessions);
            assert!(e.message.contains("4 rooms"), "{}", e.message);
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn only_compatible_rooms_are_listed_filtered_sorted_and_paged() {
    let now = Instant::now();
    let mut c = Coordinator::new(coordinator_cfg(), now);
    let mut n = 0u8;
    let mut reg = |c: &mut Coordinator, l: Listing| {
        n += 1;
        let from = SocketAddr::new(IpAddr::from([203, 0, 113, n]), 5056);
        let bytes = Message::Register(RegisterBody { listing: l });
        let out = request(c, now, from, 1, 0, bytes.clone());
        let cookie = out[0].1.cookie;
        let out = request(c, now, from, 1, cookie, bytes);
        assert!(
            matches!(out[0].1.message, Message::Registered(_)),
            "{out:?}"
        );
    };
    for (name, pilots, spectators, mode) in [
        ("bravo", 6, 0, "race"),
        ("alpha", 2, 1, "race"),
        ("charlie", 3, 1, "freestyle"),
        ("delta", 2, 5, "race"),
    ] {
        let mut l = listing(name, GAME);
        l.capacity.current_pilots = pilots;
        l.capacity.current_spectators = spectators;
        l.room.mode = mode.into();
        reg(&mut c, l);
    }
    reg(&mut c, listing("old build", "drl-4.0.0"));
    let mut future = listing("new protocol", GAME);
    future.protocol_version += 1;
    reg(&mut c, future);

    let mut cfg = LobbyConfig::new(addr("192.0.2.1:7400"), GAME);
    cfg.retry_interval = Duration::from_secs(1);
    let compatible = ListQuery::compatible_with(GAME, propwash::proto::PROTOCOL_VERSION);
    let page = c.query(&compatible);
    let names: Vec<&str> = page.sessions.iter().map(|s| s.room.name.as_str()).collect();
    // Free pilot seats first, then most players, then name; "bravo" is full.
    assert_eq!(names, ["delta", "charlie", "alpha", "bravo"]);
    assert_eq!(page.total, 4);
    // The linear scan agrees with the index.
    assert_eq!(c.query_linear_scan(&compatible), (4, 4));
    let page = c.query(&ListQuery {
        mode: Some("race".into()),
        min_free_pilots: 1,
        ..compatible.clone()
    });
    let names: Vec<&str> = page.sessions.iter().map(|s| s.room.name.as_str()).collect();
    assert_eq!(names, ["delta", "alpha"]);
    let page = c.query(&ListQuery {
        offset: 1,
        limit: 2,
        ..compatible.clone()
    });
    let names: Vec<&str> = page.sessions.iter().map(|s| s.room.name.as_str()).collect();
    assert_eq!(
        (names.as_slice(), page.total),
        (&["charlie", "alpha"][..], 4)
    );

    // The library always asks for its own build, whatever the game passes.
    let mut client = LobbyClient::new(cfg);
    let id = client.list(
        now,
        ListQuery {
            game_version: Some("drl-4.0.0".into()),
            ..ListQuery::default()
        },
    );
    let t = client.poll_transmit().unwrap();
    let Message::List(q) = Packet::decode(&t.bytes).unwrap().message else {
        panic!("not a list request");
    };
    assert_eq!(q.game_version.as_deref(), Some(GAME));
    assert!(id > 0);

    // Joining an incompatible room is refused with both versions named.
    let old = c
        .query(&ListQuery {
            game_version: Some("drl-4.0.0".into()),
            ..ListQuery::default()
        })
        .sessions[0]
        .session_id;
    let joiner = addr("198.51.100.3:5056");
    let join = Message::Join(propwash::lobby::wire::JoinBody {
        session_id: old,
        game_version: GAME.into(),
        protocol_version: propwash::proto::PROTOCOL_VERSION,
    });
    let out = request(&mut c, now, joiner, 5, 0, join.clone());
    let out = request(&mut c, now, joiner, 5, out[0].1.cookie, join);
    match &out[0].1.message {
        Message::Error(e) => {
            assert_eq!(e.code, ErrorCode::IncompatibleVersion);
            assert!(e.message.contains("drl-4.0.0") && e.message.contains(GAME));
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn the_password_never_leaves_the_host() {
    let mut w = World::new(coordinator_cfg());
    let cfg = w.lobby_cfg();
    w.add_peer("192.0.2.50:5056", None, 10, cfg.clone());
    w.add_peer("192.0.2.60:5056", None, 10, cfg);
    let now = w.now;
    // The host builds its listing from the room's password, as the driver will.
    let l = listing("Private", GAME).with_password(Some(PASSWORD));
    w.peers[0].core.host(now, l.clone());
    assert!(w.run_until(Duration::from_secs(5), |w| w.registered(0).is_some()));
    let now = w.now;
    w.peers[0].core.set_occupancy(now, 2, 0);
    w.peers[0].core.update_listing(now, l);
    w.run_for(Duration::from_secs(25));
    let page = w.list(1, ListQuery::default());
    assert!(page.sessions[0].has_password);
    let needle = PASSWORD.as_bytes();
    let leaks = w
        .wire
        .iter()
        .filter(|d| d.windows(needle.len()).any(|x| x == needle))
        .count();
    assert_eq!(leaks, 0, "the password went on the wire");
    assert!(w.wire.len() > 5);
    let http = w.coord.query_json(&ListQuery::default());
    assert!(http.contains("\"has_password\":true"));
    assert!(!http.contains(PASSWORD));
    assert!(w.coord.dump_json().iter().all(|j| !j.contains(PASSWORD)));
    // A client that tries to send one anyway is refused, and nothing is kept.
    let mut c = Coordinator::new(coordinator_cfg(), now);
    let from = addr("203.0.113.77:5056");
    let mut v = serde_json::to_value(RegisterBody {
        listing: listing("Leaky", GAME),
    })
    .unwrap();
    v["listing"]["password"] = PASSWORD.into();
    let mut bytes = Packet::new(1, Message::Challenge).encode().unwrap();
    bytes[5] = 0x01; // Register
    bytes.extend_from_slice(v.to_string().as_bytes());
    let out = request(&mut c, now, from, 1, 0, register_msg("warm-up"));
    let cookie = out[0].1.cookie;
    bytes[10..18].copy_from_slice(&cookie.to_be_bytes());
    let r = c.handle_datagram(now, from, &bytes);
    assert!(matches!(r, Err(LobbyError::Wire(_))), "{r:?}");
    assert_eq!(c.session_count(), 0);
    while let Some(t) = c.poll_transmit() {
        assert!(!t.bytes.windows(needle.len()).any(|x| x == needle));
    }
}

#[test]
fn malformed_datagrams_get_errors_not_crashes() {
    let now = Instant::now();
    let mut c = Coordinator::new(coordinator_cfg(), now);
    let from = addr("203.0.113.5:5056");
    // A short datagram that does not parse gets no answer bigger than
    // itself (its source is unproven): none at all.
    let short = b"PWCO\x01\x01\0\0\0\x01\0\0\0\0\0\0\0\0{oops";
    let r = c.handle_datagram(now, from, short);
    assert!(matches!(r, Err(LobbyError::Wire(_))));
    assert!(
        c.poll_transmit().is_none(),
        "an answer bigger than the request"
    );
    // A longer one gets a readable error, no bigger than the request.
    let mut long = short.to_vec();
    long.extend_from_slice(&[b' '; 200]);
    let r = c.handle_datagram(now, from, &long);
    assert!(matches!(r, Err(LobbyError::Wire(_))));
    let t = c.poll_transmit().expect("an error answer");
    assert!(t.bytes.len() <= long.len());
    match Packet::decode(&t.bytes).unwrap().message {
        Message::Error(e) => {
            assert_eq!(e.code, ErrorCode::Malformed);
            assert!(!e.message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // Not ours: no answer at all.
    assert_eq!(
        c.handle_datagram(now, from, b"\x12\x34laminar"),
        Err(LobbyError::NotLobby)
    );
    assert!(c.poll_transmit().is_none());
    // Random and mutated datagrams, from many sources, never panic.
    let mut rng = SplitMix64(7);
    let good = Packet::new(3, register_msg("Fuzz")).encode().unwrap();
    let mut client = LobbyClient::new(LobbyConfig::new(addr("192.0.2.1:7400"), GAME));
    client.host(now, listing("Fuzzed", GAME));
    for i in 0..20_000u64 {
        let mut d = match i % 3 {
            0 => good.clone(),
            1 => {
                let mut d = COORDINATOR_MAGIC.to_vec();
                d.extend((0..rng.next_u64() % 40).map(|_| rng.next_u64() as u8));
                d
            }
            _ => (0..rng.next_u64() % 60)
                .map(|_| rng.next_u64() as u8)
                .collect(),
        };
        if !d.is_empty() {
            let at = (rng.next_u64() as usize) % d.len();
            d[at] ^= rng.next_u64() as u8;
        }
        let src = SocketAddr::new(IpAddr::from([10, 9, (i >> 8) as u8, i as u8]), 5000);
        let t = now + Duration::from_millis(i);
        let _ = c.handle_datagram(t, src, &d);
        while c.poll_transmit().is_some() {}
        let _ = client.handle_datagram(t, addr("192.0.2.1:7400"), &d);
        let _ = client.handle_datagram(t, src, &d);
    }
    // Still serving.
    let later = now + Duration::from_secs(100);
    let ok = register_proven(&mut c, later, addr("203.0.113.200:5056"), "After the storm").unwrap();
    assert!(matches!(ok.message, Message::Registered(_)), "{ok:?}");
}

// ---------------------------------------------------------------------------
// NAT traversal in memory.
// ---------------------------------------------------------------------------

#[test]
fn punching_through_port_preserving_nats_connects_directly() {
    let mut w = nat_pair(false, 32_000, |_| {});
    host_and_join(&mut w);
    assert!(w.run_until(Duration::from_secs(6), |w| w.connected(1).is_some()));
    let (host_seen, path) = w.connected(1).unwrap();
    assert_eq!(path, Path::Direct);
    // The introduction named the listed key, for the joiner to pin.
    assert_eq!(w.peers[1].core.introduced_host_key(), Some([0xab; 32]));
    assert_eq!(host_seen, addr("203.0.113.10:5056"), "port preserved");
    assert!(w.run_until(Duration::from_secs(2), |w| w.connected(0).is_some()));
    let (joiner_seen, path) = w.connected(0).unwrap();
    assert_eq!(
        (joiner_seen, path),
        (addr("198.51.100.20:5056"), Path::Direct)
    );
    // Openers went first, with the configured TTL, from both sides.
    for i in 0..2 {
        let first_punch = w.peers[i]
            .sent
            .iter()
            .find(|t| family(&t.bytes) == Some(propwash::lobby::Family::Punch))
            .unwrap();
        assert_eq!(first_punch.ttl, Some(2));
    }
    // Game datagrams now flow straight through both NATs.
    w.send_game(1, host_seen, b"hello from the joiner");
    w.send_game(0, joiner_seen, b"welcome");
    w.run_for(Duration::from_millis(200));
    assert_eq!(
        w.peers[0].game,
        [(joiner_seen, b"hello from the joiner".to_vec())]
    );
    assert_eq!(w.peers[1].game, [(host_seen, b"welcome".to_vec())]);
    w.run_for(Duration::from_millis(500));
    assert_eq!(w.coord.metrics().punch_success, 1);
    assert_eq!(w.coord.metrics().relays_opened, 0);
    // Keep-alives keep going until the game forgets the peer.
    let before = w.peers[1].sent.len();
    w.run_for(Duration::from_secs(12));
    assert!(w.peers[1].sent.len() >= before + 2);
}

#[test]
fn naive_punching_fails_on_linux_nats_where_openers_succeed() {
    // No openers: the first punch to reach the host's NAT leaves a
    // conntrack entry that makes it remap the host's own punches.
    let mut w = nat_pair(false, 0, |c| {
        c.opener_count = 0;
        c.opener_wait = Duration::ZERO;
    });
    host_and_join(&mut w);
    assert!(w.run_until(Duration::from_secs(10), |w| w.join_failure(1).is_some()));
    assert!(w.connected(1).is_none());
    assert_eq!(w.coord.metrics().punch_failure, 1);
}

#[test]
fn symmetric_nats_fall_back_to_the_relay_within_its_cap() {
    let cap = 4_000u64;
    let mut w = nat_pair(true, cap, |_| {});
    let sid = host_and_join(&mut w);
    assert!(
        w.run_until(Duration::from_secs(10), |w| w.connected(1).is_some()
            && w.connected(0).is_some())
    );
    let (host_id, path) = w.connected(1).unwrap();
    assert_eq!(path, Path::Relayed);
    let (joiner_id, path) = w.connected(0).unwrap();
    assert_eq!(path, Path::Relayed);
    assert_eq!(w.coord.relay_count(), 1);
    assert!(w.peers[1].core.is_relayed(host_id));
    // Game traffic both ways through the relay, unchanged.
    w.send_game(1, host_id, b"pilot frame");
    w.send_game(0, joiner_id, b"snapshot");
    w.run_for(Duration::from_millis(300));
    assert_eq!(w.peers[0].game, [(joiner_id, b"pilot frame".to_vec())]);
    assert_eq!(w.peers[1].game, [(host_id, b"snapshot".to_vec())]);
    // Two seconds of 20 kB/s from the host: the relay passes about its cap.
    w.peers[1].game.clear();
    let start_bytes = w.coord.metrics().relayed_bytes;
    for _ in 0..200 {
        w.send_game(0, joiner_id, &[0xab; 200]);
        w.run_for(Duration::from_millis(10));
    }
    w.run_for(Duration::from_millis(300));
    let got: usize = w.peers[1].game.iter().map(|(_, d)| d.len()).sum();
    let relayed = w.coord.metrics().relayed_bytes - start_bytes;
    assert_eq!(got as u64, relayed);
    let allowed = cap * 2 + cap; // two seconds plus one second of burst
    assert!(
        got as u64 <= allowed,
        "relayed {got} B, cap allows {allowed}"
    );
    assert!(got as u64 >= cap, "relayed only {got} B");
    assert!(w.coord.metrics().relay_dropped_bytes > 0);
    assert_eq!(w.coord.metrics().punch_failure, 1);
    let _ = sid;
}

#[test]
fn without_a_relay_the_game_gets_a_clear_reason() {
    let mut w = nat_pair(true, 0, |_| {});
    host_and_join(&mut w);
    assert!(w.run_until(Duration::from_secs(10), |w| w.join_failure(1).is_some()));
    let f = w.join_failure(1).unwrap();
    match &f {
        JoinFailure::PunchFailed { relay, .. } => assert_eq!(*relay, ErrorCode::RelayDisabled),
        other => panic!("{other:?}"),
    }
    let text = f.to_string();
    assert!(text.contains("NAT") && text.contains("relay"), "{text}");
    assert_eq!(w.coord.metrics().relays_refused, 1);
}

#[test]
fn joining_an_unknown_room_or_a_silent_coordinator_fails_clearly() {
    let mut w = World::new(coordinator_cfg());
    let cfg = w.lobby_cfg();
    w.add_peer("192.0.2.60:5056", None, 10, cfg);
    let now = w.now;
    w.peers[0].core.join(now, SessionId(42));
    assert!(w.run_until(Duration::from_secs(5), |w| w.join_failure(0).is_some()));
    assert!(matches!(
        w.join_failure(0),
        Some(JoinFailure::Refused {
            code: ErrorCode::UnknownSession,
            ..
        })
    ));
    // A coordinator that never answers.
    let mut cfg = LobbyConfig::new(addr("192.0.2.99:7400"), GAME);
    cfg.attempts = 3;
    let mut client = LobbyClient::new(cfg);
    let mut now = Instant::now();
    client.join(now, SessionId(1));
    let mut failure = None;
    for _ in 0..100 {
        while client.poll_transmit().is_some() {}
        let Some(t) = client.poll_timeout() else {
            break;
        };
        now = now.max(t);
        client.handle_timeout(now);
        if let Some(LobbyEvent::JoinFailed { reason, .. }) = client.poll_event() {
            failure = Some(reason);
            break;
        }
    }
    assert_eq!(failure, Some(JoinFailure::CoordinatorUnreachable));
}

#[test]
fn introductions_carry_both_public_endpoints_at_once() {
    let mut w = nat_pair(false, 0, |_| {});
    host_and_join(&mut w);
    assert!(w.run_until(Duration::from_secs(2), |w| {
        w.peers.iter().all(|p| {
            p.events
                .iter()
                .any(|e| matches!(e, LobbyEvent::Introduced { .. }))
        })
    }));
    for (i, other, role) in [
        (0, "198.51.100.20:5056", PeerRole::Host),
        (1, "203.0.113.10:5056", PeerRole::Joiner),
    ] {
        let intro = w.peers[i].events.iter().find_map(|e| match e {
            LobbyEvent::Introduced { peer, role, .. } => Some((*peer, *role)),
            _ => None,
        });
        assert_eq!(intro, Some((addr(other), role)));
    }
}

// ---------------------------------------------------------------------------
// Real sockets: the service on loopback, UDP and HTTP.
// ---------------------------------------------------------------------------

fn start_service(relay: u64) -> Service {
    Service::start(ServiceConfig {
        udp: addr("127.0.0.1:0"),
        http: Some(addr("127.0.0.1:0")),
        coordinator: CoordinatorConfig {
            relay_bytes_per_sec: relay,
            ..CoordinatorConfig::default()
        },
    })
    .expect("start the coordinator")
}

/// Drives a lobby client over a real socket until `done` or `limit`.
fn drive(
    sock: &UdpSocket,
    client: &mut LobbyClient,
    limit: Duration,
    mut done: impl FnMut(&LobbyEvent) -> bool,
) -> bool {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    while Instant::now() < end {
        while let Some(t) = client.poll_transmit() {
            sock.send_to(&t.bytes, t.to).unwrap();
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = client.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        if client.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            client.handle_timeout(Instant::now());
        }
        while let Some(e) = client.poll_event() {
            if done(&e) {
                return true;
            }
        }
    }
    false
}

fn http(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[test]
fn the_service_lists_over_udp_and_http_and_survives_garbage() {
    let svc = start_service(0);
    let web = svc.http_addr().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut host = LobbyClient::new(LobbyConfig::new(svc.udp_addr(), GAME));
    host.host(
        Instant::now(),
        listing("Loopback <b>room</b>", GAME).with_password(Some(PASSWORD)),
    );
    assert!(drive(
        &sock,
        &mut host,
        Duration::from_secs(5),
        |e| matches!(e, LobbyEvent::Registered { .. })
    ));

    // Garbage on the UDP socket changes nothing.
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in [
        &b""[..],
        b"PWCO",
        b"PWCO\x01\x05\0\0\0\0\0\0\0\0\0\0\0\0{]",
        b"PWRL12345678x",
        b"\xff\xfe",
    ] {
        junk.send_to(d, svc.udp_addr()).unwrap();
    }

    let (code, body) = get(web, "/api/sessions");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Loopback <b>room</b>"));
    assert!(body.contains("\"has_password\":true"));
    assert!(!body.contains(PASSWORD));
    let (code, body) = get(
        web,
        &format!("/api/sessions?game_version={GAME}&mode=race&min_free_pilots=2&limit=5"),
    );
    assert_eq!(code, 200);
    assert!(body.contains("\"total\":1"), "{body}");
    let (code, body) = get(web, "/api/sessions?game_version=drl-0.0.1");
    assert_eq!((code, body.contains("\"total\":0")), (200, true), "{body}");
    let (code, body) = get(web, "/healthz");
    assert_eq!(code, 200);
    assert!(body.contains("\"sessions\":1"));
    let (code, body) = get(web, "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("propwash_sessions 1"), "{body}");
    assert!(body.contains("propwash_punch_success_total"));
    assert!(body.contains("propwash_relayed_bytes_total"));
    let (code, body) = get(web, "/");
    assert_eq!(code, 200);
    assert!(body.contains("<table") && body.contains("/api/sessions"));

    // Malformed and unwelcome requests: 4xx, never a crash.
    for (path, want) in [
        ("/api/sessions?limit=abc", 400),
        ("/api/sessions?min_free_pilots=-1", 400),
        ("/api/sessions?password=x", 400),
        ("/api/sessions?has_password=maybe", 400),
        ("/nope", 404),
    ] {
        let (code, body) = get(web, path);
        assert_eq!(code, want, "{path}: {body}");
    }
    let (code, _) = http(web, b"POST /api/sessions HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    assert_eq!(code, 405);
    let (code, _) = http(web, b"GARBAGE\x00\x01 / HTTP/9\r\n\r\n");
    assert!(
        (400..500).contains(&code),
        "garbage request line got {code}"
    );
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (code, _) = http(web, huge.as_bytes());
    assert!((400..500).contains(&code), "huge header got {code}");
    let (code, _) = http(
        web,
        b"GET /api/sessions?limit=%ZZ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!((400..500).contains(&code));
    // A connection that sends half a request and goes quiet does not stop others.
    let mut slow = TcpStream::connect(web).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let (code, _) = get(web, "/healthz");
    assert_eq!(code, 200);
    drop(slow);

    // Still listing over UDP, with the same room.
    let id = host.list(Instant::now(), ListQuery::default());
    let mut total = None;
    assert!(drive(
        &sock,
        &mut host,
        Duration::from_secs(5),
        |e| match e {
            LobbyEvent::ListResult { request_id, page } if *request_id == id => {
                total = Some(page.total);
                true
            }
            _ => false,
        }
    ));
    assert_eq!(total, Some(1));
    assert!(svc.metrics().malformed >= 2);
    assert!(svc.is_running());
    // Withdrawing takes the room off the list.
    host.unhost(Instant::now());
    while let Some(t) = host.poll_transmit() {
        sock.send_to(&t.bytes, t.to).unwrap();
    }
    let end = Instant::now() + Duration::from_secs(2);
    while svc.session_count() > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(svc.session_count(), 0);
    svc.shutdown();
}

#[test]
fn the_service_refuses_an_unspecified_bind_address() {
    let r = Service::start(ServiceConfig {
        udp: addr("0.0.0.0:0"),
        http: None,
        coordinator: CoordinatorConfig::default(),
    });
    let e = r.err().expect("refused");
    assert!(e.to_string().contains("explicit"), "{e}");
}

#[test]
fn the_punch_schedule_is_openers_then_a_pause_then_full_ttl_punches_then_the_relay() {
    let coord = addr("192.0.2.1:7400");
    let host = addr("203.0.113.10:5056");
    let mut client = LobbyClient::new(LobbyConfig::new(coord, GAME));
    let t0 = Instant::now();
    client.join(t0, SessionId(5));
    let join = client.poll_transmit().unwrap();
    let id = Packet::decode(&join.bytes).unwrap().request_id;
    let intro = Packet::new(
        id,
        Message::Introduce(propwash::lobby::wire::IntroduceBody {
            session_id: SessionId(5),
            nonce: 99,
            peer: host,
            role: PeerRole::Joiner,
            host_key: String::new(),
        }),
    );
    client
        .handle_datagram(t0, coord, &intro.encode().unwrap())
        .unwrap();
    // Drive to 4 s, logging (time, destination, ttl, family) of every send.
    let mut log = Vec::new();
    let mut now = t0;
    while now < t0 + Duration::from_secs(4) {
        while let Some(t) = client.poll_transmit() {
            log.push((now - t0, t.to, t.ttl, family(&t.bytes)));
        }
        now = client.poll_timeout().unwrap().max(now);
        client.handle_timeout(now);
    }
    let punches: Vec<_> = log
        .iter()
        .filter(|l| l.3 == Some(propwash::lobby::Family::Punch))
        .collect();
    assert!(punches.iter().all(|l| l.1 == host));
    let openers: Vec<_> = punches.iter().filter(|l| l.2 == Some(2)).collect();
    assert_eq!(openers.len(), 3);
    assert!(openers.iter().all(|l| l.0 == Duration::ZERO));
    let full: Vec<Duration> = punches
        .iter()
        .filter(|l| l.2.is_none())
        .map(|l| l.0)
        .collect();
    assert_eq!(full.first(), Some(&Duration::from_millis(500)));
    assert_eq!(full.len(), 30, "every 100 ms for 3 s: {full:?}");
    assert!(full
        .windows(2)
        .all(|w| w[1] - w[0] == Duration::from_millis(100)));
    // Then the relay is asked for, once punching has run its course.
    let relay_at = log
        .iter()
        .find(|l| l.1 == coord && l.0 > Duration::from_millis(500))
        .map(|l| l.0);
    assert_eq!(relay_at, Some(Duration::from_millis(3500)));
}

// ---------------------------------------------------------------------------
// Sealed host traffic, random request ids, per-room budgets.
// ---------------------------------------------------------------------------

/// A host listed from 192.0.2.50 in a fresh world; returns its room.
fn listed_host() -> (World, SessionId) {
    let mut w = World::new(coordinator_cfg());
    let cfg = w.lobby_cfg();
    w.add_peer("192.0.2.50:5056", None, 10, cfg);
    let now = w.now;
    w.peers[0].core.host(now, listing("Shared NAT", GAME));
    assert!(w.run_until(Duration::from_secs(5), |w| w.registered(0).is_some()));
    let sid = w.registered(0).unwrap();
    (w, sid)
}

#[test]
fn a_flood_from_the_hosts_own_address_leaves_its_room_listed_under_its_id() {
    let (mut w, sid) = listed_host();
    // Another machine behind the host's NAT: ten times the per-address rate.
    let flooder = addr("192.0.2.50:40000");
    let list = Packet::new(7, Message::List(ListQuery::default()))
        .encode()
        .unwrap();
    let checks = 126;
    let mut unlisted = 0;
    for _ in 0..checks {
        for _ in 0..20 {
            let t = w.now;
            for _ in 0..10 {
                let _ = w.coord.handle_datagram(t, flooder, &list);
            }
            w.run_for(Duration::from_millis(50));
        }
        let page = w.coord.query(&ListQuery::default());
        if !page.sessions.iter().any(|s| s.session_id == sid) {
            unlisted += 1;
        }
    }
    assert_eq!(unlisted, 0, "unlisted in {unlisted} of {checks} checks");
    assert_eq!(w.peers[0].core.hosted_session(), Some(sid));
    assert_eq!(w.coord.session_count(), 1);
    assert!(
        w.coord.metrics().rate_limited > 10_000,
        "the flood was limited"
    );
    assert!(w.coord.metrics().heartbeats >= 12, "heartbeats got through");
}

#[test]
fn host_messages_are_sealed_and_a_replayed_or_unsealed_heartbeat_is_refused() {
    let (mut w, sid) = listed_host();
    w.run_for(Duration::from_secs(11));
    let beats = w.coord.metrics().heartbeats;
    assert!(beats >= 1);
    // Every heartbeat on the wire is sealed (kind byte with 0x40 set).
    let sealed: Vec<Vec<u8>> = w
        .wire
        .iter()
        .filter(|d| family(d).is_some() && d.len() > 5 && d[5] == 0x42)
        .cloned()
        .collect();
    assert!(!sealed.is_empty());
    assert!(!w.wire.iter().any(|d| d.len() > 5 && d[5] == 0x02));
    let host = addr("192.0.2.50:5056");
    let t = w.now;
    let replayed = w.coord.handle_datagram(t, host, &sealed[0]);
    assert!(replayed.is_err(), "{replayed:?}");
    // The token alone (seen by anyone on the path) no longer speaks for the room.
    let mut forged = sealed[0].clone();
    forged[5] = 0x02;
    forged.truncate(forged.len() - 24);
    let _ = w.coord.handle_datagram(t, host, &forged);
    let mut tampered = sealed[0].clone();
    tampered[34] ^= 1; // current pilots
    let _ = w.coord.handle_datagram(t, host, &tampered);
    assert_eq!(w.coord.metrics().heartbeats, beats);
    assert_eq!(w.coord.session_count(), 1);
    let _ = sid;
}

#[test]
fn a_forged_relay_ready_does_not_reroute_and_guessed_request_ids_fail() {
    let (mut w, sid) = listed_host();
    let now = w.now;
    let victim = addr("198.51.100.20:5056");
    let relay_ready = |id: u32| {
        Packet::new(
            id,
            Message::RelayReady(propwash::lobby::wire::RelayReadyBody {
                session_id: sid,
                nonce: 1,
                token: 2,
                peer: victim,
                bytes_per_sec: 32_000,
            }),
        )
        .encode()
        .unwrap()
    };
    let core = &mut w.peers[0].core;
    // From a stranger, and spoofed from the coordinator's address (unsealed).
    let stranger = addr("203.0.113.66:7400");
    assert!(core
        .handle_datagram(now, stranger, &relay_ready(0))
        .is_err());
    let coord = addr("192.0.2.1:7400");
    assert!(core.handle_datagram(now, coord, &relay_ready(0)).is_err());
    // A forged "forgotten room" error with guessed request ids.
    let mut rng = SplitMix64(5);
    for _ in 0..1_000 {
        let e = Packet::new(
            rng.next_u64() as u32,
            Message::Error(propwash::lobby::wire::ErrorBody {
                code: ErrorCode::UnknownSession,
                message: "forged".into(),
            }),
        )
        .encode()
        .unwrap();
        let _ = core.handle_datagram(now, coord, &e);
        let _ = core.handle_datagram(now, coord, &relay_ready(rng.next_u64() as u32));
    }
    assert!(!core.is_relayed(victim));
    assert_eq!(core.hosted_session(), Some(sid));
    // Request ids are not sequential.
    let ids: Vec<u32> = (0..8)
        .map(|_| core.list(now, ListQuery::default()))
        .collect();
    assert!(
        ids.windows(2).any(|p| p[1] != p[0].wrapping_add(1)),
        "{ids:?}"
    );
    w.run_for(Duration::from_secs(31));
    assert_eq!(w.peers[0].core.hosted_session(), Some(sid));
    assert_eq!(w.coord.session_count(), 1);
}

#[test]
fn one_address_cannot_use_up_a_rooms_introductions() {
    let now = Instant::now();
    let mut c = Coordinator::new(coordinator_cfg(), now);
    let host = addr("192.0.2.60:5056");
    register_proven(&mut c, now, host, "Popular").expect("registered");
    let sid = c.query(&ListQuery::default()).sessions[0].session_id;
    let join = Message::Join(propwash::lobby::wire::JoinBody {
        session_id: sid,
        game_version: GAME.into(),
        protocol_version: propwash::proto::PROTOCOL_VERSION,
    });
    // A proven join from `from`: what came back to it.
    let joins = |c: &mut Coordinator, from: SocketAddr| {
        let out = request(c, now, from, 9, 0, join.clone());
        let cookie = out
            .iter()
            .find(|(_, p)| p.message == Message::Challenge)
            .expect("a challenge")
            .1
            .cookie;
        let out = request(c, now, from, 9, cookie, join.clone());
        out.into_iter()
            .find(|(to, _)| *to == from)
            .map(|(_, p)| p.message)
            .expect("an answer")
    };
    let introduced = |m: &Message| matches!(m, Message::Introduce(_));
    // One machine, twelve ports (and one IPv6 /64, twelve addresses),
    // within its request rate.
    let from_one: Vec<Message> = (0..12)
        .map(|p| joins(&mut c, addr(&format!("198.51.100.7:{}", 20_000 + p))))
        .collect();
    let from_64: Vec<Message> = (0..12)
        .map(|n| joins(&mut c, addr(&format!("[2001:db8:1:2::{:x}]:5056", n + 1))))
        .collect();
    for tries in [&from_one, &from_64] {
        assert_eq!(tries.iter().filter(|m| introduced(m)).count(), 8);
        let busy = tries.iter().find(|m| !introduced(m)).unwrap();
        match busy {
            Message::Error(e) => {
                assert_eq!(e.code, ErrorCode::Busy);
                assert!(e.message.contains("this address"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
    // Everyone else still gets in.
    let other = joins(&mut c, addr("203.0.113.9:5056"));
    assert!(introduced(&other), "{other:?}");
}
