//! A whole room in memory: one [`Host`], any number of [`Client`]s, a
//! simulated clock stepped to the earliest pending wakeup, and a network with
//! latency, jitter, loss and duplication (jitter reorders). Deterministic for
//! a given seed; no sockets, no threads, no sleeping. The host's clock may
//! run fast or slow against the clients' ([`SimRoom::with_host_drift_ppm`]).
//!
//! Verified and password-protected rooms are built like any other: the
//! [`HostConfig`] and [`ClientConfig`] carry the rule, the password and the
//! Steam ids and tickets, and [`SimRoom::with_verifier`] gives the host a
//! (fake) Steam.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::{Client, ClientConfig, Event, Host, HostConfig};
use crate::identity::verify::TicketVerifier;
use crate::proto::wire::MAX_PAYLOAD;
use crate::proto::Role;
use crate::util::SplitMix64;

/// How the simulated network treats every datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Conditions {
    /// Mean one-way delay.
    pub latency: Duration,
    /// Uniform extra delay in ±jitter.
    pub jitter: Duration,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram arrives twice.
    pub duplicate: f64,
}

/// Where a datagram comes from or goes to in the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    /// The host.
    Host,
    /// Client by index.
    Client(usize),
    /// Anyone else (an attacker, a stray sender).
    Stranger,
}

type Flight = Reverse<(Instant, u64, SocketAddr, SocketAddr, Vec<u8>)>;

/// The room and its network.
pub struct SimRoom {
    /// Simulated now.
    pub now: Instant,
    /// The host core.
    pub host: Host,
    /// The host's address.
    pub host_addr: SocketAddr,
    /// Client cores with their addresses.
    pub clients: Vec<(SocketAddr, Client)>,
    /// Events the host produced, in order.
    pub host_events: Vec<Event>,
    /// Events each client produced, in order.
    pub client_events: Vec<Vec<Event>>,
    /// Datagrams delivered so far.
    pub delivered: u64,
    /// Network conditions for new datagrams.
    pub conditions: Conditions,
    /// When `Some`, every datagram sent into the network (by a core or
    /// injected) is kept here as `(from, to, bytes)`, before the network
    /// loses or delays it.
    pub transmitted: Option<Vec<(SocketAddr, SocketAddr, Vec<u8>)>>,
    flights: BinaryHeap<Flight>,
    /// Clients cut off the network (their machine vanished).
    cut: Vec<bool>,
    seq: u64,
    rng: SplitMix64,
    steps: u64,
    /// When the room was made: both clocks agree there.
    start: Instant,
    /// Host clock seconds per simulated second.
    host_rate: f64,
}

const STEP_LIMIT: u64 = 5_000_000;

impl SimRoom {
    /// A room whose host starts at a fixed instant.
    pub fn new(cfg: HostConfig, conditions: Conditions, seed: u64) -> Self {
        let now = Instant::now();
        let host_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5056);
        SimRoom {
            now,
            host: Host::new(cfg, now),
            host_addr,
            clients: Vec::new(),
            host_events: Vec::new(),
            client_events: Vec::new(),
            delivered: 0,
            conditions,
            transmitted: None,
            flights: BinaryHeap::new(),
            cut: Vec::new(),
            seq: 0,
            rng: SplitMix64(seed),
            steps: 0,
            start: now,
            host_rate: 1.0,
        }
    }

    /// Makes the host's clock run `ppm` parts per million fast (negative:
    /// slow) against the simulated time the clients and the network keep.
    /// Call it right after [`SimRoom::new`]; the host then sees its own
    /// time, [`SimRoom::host_now`], in every call.
    pub fn with_host_drift_ppm(mut self, ppm: f64) -> Self {
        self.host_rate = 1.0 + ppm * 1e-6;
        self
    }

    /// The host's clock now (equal to [`SimRoom::now`] without drift).
    pub fn host_now(&self) -> Instant {
        self.to_host(self.now)
    }

    fn to_host(&self, t: Instant) -> Instant {
        if self.host_rate == 1.0 {
            return t;
        }
        let ns = t.saturating_duration_since(self.start).as_nanos() as f64;
        self.start + Duration::from_nanos((ns * self.host_rate) as u64)
    }

    /// The earliest simulated instant at which the host's clock reads `t`
    /// or later.
    fn sim_time_of(&self, t: Instant) -> Instant {
        if self.host_rate == 1.0 {
            return t;
        }
        let ns = t.saturating_duration_since(self.start).as_nanos() as f64;
        let mut at = self.start + Duration::from_nanos((ns / self.host_rate).ceil() as u64);
        while self.to_host(at) < t {
            at += Duration::from_nanos(1);
        }
        at
    }

    /// Gives the host a ticket verifier (a fake Steam in tests).
    pub fn with_verifier(mut self, verifier: Box<dyn TicketVerifier>) -> Self {
        self.host.set_verifier(Ok(verifier));
        self
    }

    /// Adds a client; `make` gets the host address and returns its config.
    pub fn add_client(&mut self, make: impl FnOnce(SocketAddr) -> ClientConfig) -> usize {
        let i = self.clients.len();
        let addr = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 1, (i + 2) as u8)),
            40000 + i as u16,
        );
        let c = Client::new(make(self.host_addr), self.now);
        self.clients.push((addr, c));
        self.client_events.push(Vec::new());
        self.cut.push(false);
        i
    }

    /// Cuts client `i` off for good, as if its machine vanished: it sends
    /// and hears nothing more. Indexes of the others stay as they are.
    pub fn disconnect(&mut self, i: usize) {
        if let Some(c) = self.cut.get_mut(i) {
            *c = true;
        }
    }

    /// Sends a raw datagram into the network, as if from `from`.
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        self.schedule(from, to, data);
    }

    fn schedule(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        let c = self.conditions;
        if let Some(log) = self.transmitted.as_mut() {
            log.push((from, to, data.clone()));
        }
        if self.rng.chance(c.loss) {
            return;
        }
        let copies = if self.rng.chance(c.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let jitter_us = c.jitter.as_micros() as f64 * (self.rng.unit() * 2.0 - 1.0);
            let delay_us = (c.latency.as_micros() as f64 + jitter_us).max(0.0);
            let at = self.now + Duration::from_micros(delay_us as u64);
            self.seq += 1;
            self.flights
                .push(Reverse((at, self.seq, from, to, data.clone())));
        }
    }

    fn flush(&mut self) {
        let mut buf = [0u8; MAX_PAYLOAD];
        let now = self.now;
        let host_now = self.host_now();
        while let Some(t) = self.host.poll_transmit(host_now, &mut buf) {
            let data = buf[..t.len].to_vec();
            self.schedule(self.host_addr, t.to, data);
        }
        for i in 0..self.clients.len() {
            if self.cut[i] {
                continue;
            }
            loop {
                let (addr, c) = &mut self.clients[i];
                let addr = *addr;
                let Some(t) = c.poll_transmit(now, &mut buf) else {
                    break;
                };
                let data = buf[..t.len].to_vec();
                self.schedule(addr, t.to, data);
            }
        }
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.host.poll_event() {
            self.host_events.push(e);
        }
        for (i, (_, c)) in self.clients.iter_mut().enumerate() {
            if self.cut[i] {
                continue;
            }
            while let Some(e) = c.poll_event() {
                self.client_events[i].push(e);
            }
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let mut next = self.flights.peek().map(|Reverse(f)| f.0);
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        consider(self.host.poll_timeout().map(|t| self.sim_time_of(t)));
        for (i, (_, c)) in self.clients.iter().enumerate() {
            if !self.cut[i] {
                consider(c.poll_timeout());
            }
        }
        next
    }

    /// Runs the room for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.flush();
            self.collect_events();
            let next = self.next_wakeup();
            let Some(next) = next.filter(|&t| t <= end) else {
                self.now = end;
                self.tick();
                self.flush();
                self.collect_events();
                return;
            };
            self.now = self.now.max(next);
            self.steps += 1;
            if self.steps >= STEP_LIMIT {
                let host = self.host.poll_timeout();
                let clients: Vec<_> = self
                    .clients
                    .iter()
                    .map(|(_, c)| c.poll_timeout().map(|t| t <= self.now))
                    .collect();
                panic!(
                    "the room never went idle: a core keeps asking to wake up (host due: {:?}, clients due: {clients:?})",
                    host.map(|t| t <= self.host_now())
                );
            }
            self.tick();
        }
    }

    fn tick(&mut self) {
        let now = self.now;
        let host_now = self.host_now();
        while self.flights.peek().is_some_and(|Reverse(f)| f.0 <= now) {
            let Some(Reverse((_, _, from, to, data))) = self.flights.pop() else {
                break;
            };
            self.delivered += 1;
            if to == self.host_addr {
                let _ = self.host.handle_datagram(host_now, from, &data);
            } else if let Some(i) = self.clients.iter().position(|(a, _)| *a == to) {
                if !self.cut[i] {
                    let _ = self.clients[i].1.handle_datagram(now, from, &data);
                }
            }
        }
        self.host.handle_timeout(host_now);
        for (i, (_, c)) in self.clients.iter_mut().enumerate() {
            if !self.cut[i] {
                c.handle_timeout(now);
            }
        }
    }

    /// The address of client `i`.
    pub fn client_addr(&self, i: usize) -> SocketAddr {
        self.clients[i].0
    }
}

/// Clients in each room [`clock_error_ms`] measures.
const CLOCK_CLIENTS: usize = 4;
/// The clients join this long after the host opened the room, so their
/// clocks and the host's differ.
const CLOCK_JOIN_AFTER: Duration = Duration::from_millis(250);
/// [`clock_error_ms`] looks at the clocks from this long after the
/// clients joined...
const CLOCK_FROM: Duration = Duration::from_secs(5);
/// ... to this long after...
const CLOCK_UNTIL: Duration = Duration::from_secs(10);
/// ... this often.
const CLOCK_EVERY: Duration = Duration::from_millis(100);

/// How far off the clients' view of the host clock is under the network
/// the room's acceptance test flies in (40 ± 20 ms each way, 5 % loss, 5 %
/// duplication, reordering), with the host's clock `drift_ppm` fast: the
/// worst error of any of a few clients, milliseconds, looked at every
/// 100 ms from 5 s to 10 s after they joined (infinite if one has no
/// estimate by then). Deterministic per seed.
pub fn clock_error_ms(seed: u64, drift_ppm: f64) -> f64 {
    clock_error_between_ms(seed, drift_ppm, CLOCK_FROM, CLOCK_UNTIL)
}

/// The worst of [`clock_error_ms`] over `seeds`.
pub fn clock_error_worst_ms(seeds: &[u64], drift_ppm: f64) -> f64 {
    seeds
        .iter()
        .map(|&s| clock_error_ms(s, drift_ppm))
        .fold(0.0, f64::max)
}

fn clock_error_between_ms(seed: u64, drift_ppm: f64, from: Duration, until: Duration) -> f64 {
    const GAME: &str = "clock";
    let harsh = Conditions {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(20),
        loss: 0.05,
        duplicate: 0.05,
    };
    let mut room =
        SimRoom::new(HostConfig::new(GAME, "Host"), harsh, seed).with_host_drift_ppm(drift_ppm);
    room.run_for(CLOCK_JOIN_AFTER);
    for i in 0..CLOCK_CLIENTS {
        let role = if i % 2 == 0 {
            Role::Pilot
        } else {
            Role::Spectator
        };
        room.add_client(|host| ClientConfig::new(host, GAME, &format!("Client {i}"), role));
    }
    room.run_for(from);
    let mut worst = 0.0f64;
    let mut at = from;
    while at <= until {
        let host_us = room.host.host_time_us(room.host_now()) as i64;
        for (_, c) in &room.clients {
            if !c.clock().valid {
                return f64::INFINITY;
            }
            let err_us = (c.host_time_us(room.now) as i64 - host_us).unsigned_abs();
            worst = worst.max(err_us as f64 / 1000.0);
        }
        room.run_for(CLOCK_EVERY);
        at += CLOCK_EVERY;
    }
    worst
}
