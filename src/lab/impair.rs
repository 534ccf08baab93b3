//! A userspace UDP impairment proxy (this kernel has no `tc netem`).
//!
//! [`ImpairProxy`] listens on `127.0.0.1:0` and forwards to an upstream
//! server. Each client source address gets its own upstream-facing socket,
//! so the upstream sees one distinct peer per client (a NAT-like mapping);
//! replies on that socket go back to the client from the listening socket.
//! Traffic in each direction is delayed, jittered, dropped, duplicated,
//! reordered and rate limited according to an [`Impairment`].
//!
//! Threads: one listener (client -> upstream), one reader per client mapping
//! (upstream -> client) and one worker that sends delayed datagrams from a
//! time-ordered queue. Mappings live until the proxy stops.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::util::SplitMix64;

/// Largest datagram the proxy forwards; longer ones are dropped.
pub const MAX_DATAGRAM: usize = 1500;
/// Most distinct client addresses mapped; traffic from further new clients
/// is dropped and counted in [`ImpairProxy::rejected_clients`].
pub const MAX_CLIENTS: usize = 256;
/// Socket read timeout and the longest the worker sleeps between checks.
const POLL: Duration = Duration::from_millis(2);
/// Extra hold-back for a reordered datagram, on top of `latency + jitter`.
const REORDER_EXTRA: Duration = Duration::from_millis(5);

/// How traffic through the proxy is damaged, per direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Impairment {
    /// Fixed one-way delay added to every datagram.
    pub latency: Duration,
    /// Uniform extra delay in `[-jitter, +jitter]` (total delay clamped at
    /// zero); jitter naturally reorders.
    pub jitter: Duration,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is delivered twice (the copy gets its own,
    /// independent delay).
    pub duplicate: f64,
    /// Probability a datagram is held back an extra `latency + jitter + 5ms`
    /// so it lands after later ones.
    pub reorder: f64,
    /// Token-bucket cap for this direction (burst: 100 ms worth, at least one
    /// full datagram). Datagrams over the cap are dropped, like a full router
    /// queue, and counted in [`ProxyStats::dropped_rate`].
    pub rate_limit_bytes_per_sec: Option<u64>,
}

impl Impairment {
    /// A clean link: no delay, no loss.
    pub fn none() -> Self {
        Self::default()
    }

    /// A lossy, delayed link without a rate limit.
    pub fn lossy(loss: f64, latency_ms: u64, jitter_ms: u64, duplicate: f64, reorder: f64) -> Self {
        Self {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            loss,
            duplicate,
            reorder,
            rate_limit_bytes_per_sec: None,
        }
    }

    /// One datagram's delay, and whether it was held back for reordering.
    fn delay(&self, rng: &mut SplitMix64) -> (Duration, bool) {
        let mut d = self.latency;
        if !self.jitter.is_zero() {
            let off = self.jitter.as_secs_f64() * (rng.unit() * 2.0 - 1.0);
            d = Duration::from_secs_f64((d.as_secs_f64() + off).max(0.0));
        }
        let reordered = rng.chance(self.reorder);
        if reordered {
            d += self.latency + self.jitter + REORDER_EXTRA;
        }
        (d, reordered)
    }
}

/// Counters, readable while running (sum of both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Datagrams sent on (duplicates included).
    pub forwarded: u64,
    /// Datagrams dropped by `loss`.
    pub dropped_loss: u64,
    /// Datagrams dropped by the rate limit.
    pub dropped_rate: u64,
    /// Extra copies scheduled by `duplicate`.
    pub duplicated: u64,
    /// Datagrams (or copies) held back by `reorder`.
    pub reordered: u64,
    /// Payload bytes sent on.
    pub bytes: u64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    dropped_loss: AtomicU64,
    dropped_rate: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    bytes: AtomicU64,
    rejected_clients: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One direction's impairment, randomness and token bucket.
struct Direction {
    imp: Impairment,
    rng: SplitMix64,
    tokens: f64,
    refilled: Instant,
}

impl Direction {
    fn new(imp: Impairment, seed: u64) -> Self {
        let mut d = Self {
            imp: Impairment::none(),
            rng: SplitMix64(seed),
            tokens: f64::INFINITY,
            refilled: Instant::now(),
        };
        d.set(imp);
        d
    }

    fn set(&mut self, imp: Impairment) {
        if let Some(rate) = imp.rate_limit_bytes_per_sec {
            self.tokens = self.tokens.min(burst(rate));
        } else {
            self.tokens = f64::INFINITY;
        }
        self.imp = imp;
    }

    /// Decides the fate of one datagram: up to two delays (original, copy).
    fn plan(&mut self, len: usize, now: Instant, c: &Counters) -> [Option<Duration>; 2] {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        if let Some(rate) = self.imp.rate_limit_bytes_per_sec {
            self.tokens = (self.tokens + elapsed * rate as f64).min(burst(rate));
            if self.tokens < len as f64 {
                bump(&c.dropped_rate, 1);
                return [None, None];
            }
            self.tokens -= len as f64;
        }
        if self.rng.chance(self.imp.loss) {
            bump(&c.dropped_loss, 1);
            return [None, None];
        }
        let (first, r1) = self.imp.delay(&mut self.rng);
        bump(&c.reordered, u64::from(r1));
        let copy = self.rng.chance(self.imp.duplicate).then(|| {
            bump(&c.duplicated, 1);
            let (d, r2) = self.imp.delay(&mut self.rng);
            bump(&c.reordered, u64::from(r2));
            d
        });
        [Some(first), copy]
    }
}

fn burst(rate: u64) -> f64 {
    (rate as f64 / 10.0).max(MAX_DATAGRAM as f64)
}

/// A datagram waiting for its due time. Ordered so the max-heap pops the
/// earliest `(due, seq)` first.
struct Pending {
    due: Instant,
    seq: u64,
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    data: Vec<u8>,
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.due.cmp(&self.due).then(other.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Pending {}

struct Shared {
    running: AtomicBool,
    upstream: SocketAddr,
    to_upstream: Mutex<Direction>,
    to_client: Mutex<Direction>,
    counters: Counters,
    client_threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

/// A running impairment proxy. Stops its threads on [`ImpairProxy::stop`] or drop.
pub struct ImpairProxy {
    shared: Arc<Shared>,
    local: SocketAddr,
    listener: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

impl ImpairProxy {
    /// Binds a listening UDP socket on 127.0.0.1:0 that forwards to `upstream`.
    /// `to_upstream` damages client->upstream traffic, `to_client`
    /// upstream->client traffic. `seed` makes it deterministic in what it drops.
    pub fn start(
        upstream: SocketAddr,
        to_upstream: Impairment,
        to_client: Impairment,
        seed: u64,
    ) -> io::Result<ImpairProxy> {
        let listen = UdpSocket::bind(("127.0.0.1", 0))?;
        listen.set_read_timeout(Some(POLL))?;
        let local = listen.local_addr()?;
        let listen = Arc::new(listen);
        let shared = Arc::new(Shared {
            running: AtomicBool::new(true),
            upstream,
            to_upstream: Mutex::new(Direction::new(to_upstream, seed)),
            to_client: Mutex::new(Direction::new(to_client, seed ^ 0x5eed_c11e_47d0_a7a1)),
            counters: Counters::default(),
            client_threads: Mutex::new(Vec::new()),
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut proxy = ImpairProxy {
            shared: shared.clone(),
            local,
            listener: None,
            worker: None,
        };
        let s = shared.clone();
        proxy.worker = Some(
            thread::Builder::new()
                .name("impair-worker".into())
                .spawn(move || run_worker(&s, rx))?,
        );
        // On failure here `proxy` drops and stops the worker.
        proxy.listener = Some(
            thread::Builder::new()
                .name("impair-listen".into())
                .spawn(move || run_listener(&shared, &listen, tx))?,
        );
        Ok(proxy)
    }

    /// The address clients send to instead of the upstream.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Replace the impairment while running (both directions).
    pub fn set_impairment(&self, to_upstream: Impairment, to_client: Impairment) {
        self.shared.to_upstream.lock().set(to_upstream);
        self.shared.to_client.lock().set(to_client);
    }

    /// Counters so far, summed over both directions.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            forwarded: get(&c.forwarded),
            dropped_loss: get(&c.dropped_loss),
            dropped_rate: get(&c.dropped_rate),
            duplicated: get(&c.duplicated),
            reordered: get(&c.reordered),
            bytes: get(&c.bytes),
        }
    }

    /// Datagrams dropped because they came from a new client beyond [`MAX_CLIENTS`].
    pub fn rejected_clients(&self) -> u64 {
        self.shared
            .counters
            .rejected_clients
            .load(Ordering::Relaxed)
    }

    /// Stops the threads and waits for them (also done on Drop).
    pub fn stop(self) {
        drop(self);
    }

    fn shutdown(&mut self) {
        self.shared.running.store(false, Ordering::Release);
        // Listener first: once it is gone no new client threads appear.
        let listener = self.listener.take();
        let clients = listener.into_iter().chain(std::iter::from_fn(|| {
            self.shared.client_threads.lock().pop()
        }));
        for h in clients.chain(self.worker.take()) {
            if h.join().is_err() {
                tracing::debug!("impair: a proxy thread panicked");
            }
        }
    }
}

impl Drop for ImpairProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Receives one datagram; `None` on timeout, error (logged, brief pause) or oversize.
fn recv(sock: &UdpSocket, buf: &mut [u8; MAX_DATAGRAM + 1]) -> Option<(usize, SocketAddr)> {
    match sock.recv_from(buf) {
        Ok((n, _)) if n > MAX_DATAGRAM => {
            tracing::debug!(len = n, "impair: oversized datagram dropped");
            None
        }
        Ok(x) => Some(x),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
            ) =>
        {
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "impair: recv failed");
            thread::sleep(Duration::from_millis(1));
            None
        }
    }
}

/// Impairs one datagram in `dir` and queues its copies for the worker.
fn dispatch(
    shared: &Shared,
    dir: &Mutex<Direction>,
    tx: &Sender<Pending>,
    sock: &Arc<UdpSocket>,
    to: SocketAddr,
    data: &[u8],
) {
    let now = Instant::now();
    let delays = dir.lock().plan(data.len(), now, &shared.counters);
    for d in delays.into_iter().flatten() {
        let p = Pending {
            due: now + d,
            seq: 0,
            sock: sock.clone(),
            to,
            data: data.to_vec(),
        };
        if tx.send(p).is_err() {
            tracing::debug!("impair: worker gone, datagram dropped");
        }
    }
}

fn run_listener(shared: &Arc<Shared>, listen: &Arc<UdpSocket>, tx: Sender<Pending>) {
    let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    while shared.running() {
        let Some((n, from)) = recv(listen, &mut buf) else {
            continue;
        };
        let sock = match clients.get(&from) {
            Some(s) => s.clone(),
            None if clients.len() >= MAX_CLIENTS => {
                bump(&shared.counters.rejected_clients, 1);
                continue;
            }
            None => match open_mapping(shared, listen, from, &tx) {
                Ok(s) => clients.entry(from).or_insert(s).clone(),
                Err(e) => {
                    tracing::debug!(error = %e, client = %from, "impair: cannot map client");
                    continue;
                }
            },
        };
        dispatch(
            shared,
            &shared.to_upstream,
            &tx,
            &sock,
            shared.upstream,
            &buf[..n],
        );
    }
}

/// Binds the upstream-facing socket for `client` and starts its reply reader.
fn open_mapping(
    shared: &Arc<Shared>,
    listen: &Arc<UdpSocket>,
    client: SocketAddr,
    tx: &Sender<Pending>,
) -> io::Result<Arc<UdpSocket>> {
    let sock = UdpSocket::bind(("127.0.0.1", 0))?;
    sock.set_read_timeout(Some(POLL))?;
    let sock = Arc::new(sock);
    let (s, up, down, tx) = (shared.clone(), sock.clone(), listen.clone(), tx.clone());
    let handle = thread::Builder::new()
        .name("impair-client".into())
        .spawn(move || {
            let mut buf = [0u8; MAX_DATAGRAM + 1];
            while s.running() {
                if let Some((n, _)) = recv(&up, &mut buf) {
                    dispatch(&s, &s.to_client, &tx, &down, client, &buf[..n]);
                }
            }
        })?;
    shared.client_threads.lock().push(handle);
    Ok(sock)
}

fn run_worker(shared: &Shared, rx: Receiver<Pending>) {
    let mut heap: BinaryHeap<Pending> = BinaryHeap::new();
    let mut seq = 0u64;
    while shared.running() {
        let now = Instant::now();
        while heap.peek().is_some_and(|p| p.due <= now) {
            let Some(p) = heap.pop() else { break };
            match p.sock.send_to(&p.data, p.to) {
                Ok(_) => {
                    bump(&shared.counters.forwarded, 1);
                    bump(&shared.counters.bytes, p.data.len() as u64);
                }
                Err(e) => tracing::debug!(error = %e, to = %p.to, "impair: send failed"),
            }
        }
        let wake = heap.peek().map_or(now + POLL, |p| p.due.min(now + POLL));
        match rx.recv_deadline(wake) {
            Ok(p) => {
                // Stamp arrival order so equal due times keep their order.
                for mut p in std::iter::once(p).chain(rx.try_iter()) {
                    p.seq = seq;
                    seq += 1;
                    heap.push(p);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Seen = Arc<Mutex<Vec<(SocketAddr, Vec<u8>)>>>;

    /// A test upstream on 127.0.0.1 that records what it receives and optionally echoes it.
    struct Peer {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        seen: Seen,
        handle: Option<JoinHandle<()>>,
    }

    impl Peer {
        fn spawn(echo: bool) -> Peer {
            let sock = UdpSocket::bind("127.0.0.1:0").expect("bind peer");
            sock.set_read_timeout(Some(POLL)).expect("timeout");
            let addr = sock.local_addr().expect("addr");
            let (stop, seen) = (Arc::new(AtomicBool::new(false)), Seen::default());
            let (st, sn) = (stop.clone(), seen.clone());
            let handle = thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !st.load(Ordering::Acquire) {
                    if let Ok((n, from)) = sock.recv_from(&mut buf) {
                        sn.lock().push((from, buf[..n].to_vec()));
                        if echo {
                            let _ = sock.send_to(&buf[..n], from);
                        }
                    }
                }
            });
            Peer {
                addr,
                stop,
                seen,
                handle: Some(handle),
            }
        }
        fn seen(&self) -> Vec<(SocketAddr, Vec<u8>)> {
            self.seen.lock().clone()
        }
        fn indices(&self) -> Vec<u32> {
            self.seen().iter().map(|(_, d)| index(d)).collect()
        }
    }

    impl Drop for Peer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Release);
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
    }

    fn client(timeout_ms: u64) -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        s.set_read_timeout(Some(Duration::from_millis(timeout_ms)))
            .expect("timeout");
        s
    }

    fn index(d: &[u8]) -> u32 {
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    }

    /// Sends `n` datagrams of `size` bytes numbered 0.., pausing briefly every 10 when `paced`.
    fn send_numbered(sock: &UdpSocket, to: SocketAddr, n: u32, size: usize, paced: bool) {
        let mut buf = vec![0u8; size.max(4)];
        for i in 0..n {
            buf[..4].copy_from_slice(&i.to_le_bytes());
            sock.send_to(&buf, to).expect("send");
            if paced && i % 10 == 9 {
                thread::sleep(Duration::from_micros(200));
            }
        }
    }

    fn wait_until(limit_ms: u64, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_millis(limit_ms);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            thread::sleep(Duration::from_millis(2));
        }
        f()
    }

    fn start(up: &Peer, to_up: Impairment, to_client: Impairment) -> ImpairProxy {
        ImpairProxy::start(up.addr, to_up, to_client, 42).expect("start proxy")
    }

    #[test]
    fn clean_link_echoes_everything() {
        let echo = Peer::spawn(true);
        let proxy = start(&echo, Impairment::none(), Impairment::none());
        let c = client(5);
        let reader = c.try_clone().expect("clone");
        let got = thread::spawn(move || {
            let (mut got, mut buf, deadline) = (
                Vec::new(),
                [0u8; 64],
                Instant::now() + Duration::from_secs(2),
            );
            while got.len() < 200 && Instant::now() < deadline {
                if let Ok((n, _)) = reader.recv_from(&mut buf) {
                    got.push(index(&buf[..n]));
                }
            }
            got
        });
        send_numbered(&c, proxy.local_addr(), 200, 16, true);
        let mut got = got.join().expect("reader");
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
        // The counter is bumped just after the send, so it may trail the reply.
        assert!(wait_until(500, || proxy.stats().forwarded == 400));
        proxy.stop();
    }

    #[test]
    fn loss_drops_about_a_fifth() {
        let up = Peer::spawn(false);
        let proxy = start(
            &up,
            Impairment::lossy(0.2, 0, 0, 0.0, 0.0),
            Impairment::none(),
        );
        send_numbered(&client(5), proxy.local_addr(), 2000, 16, true);
        let done = wait_until(2000, || {
            let s = proxy.stats();
            s.forwarded + s.dropped_loss == 2000 && up.seen.lock().len() as u64 == s.forwarded
        });
        let (received, st) = (up.seen().len() as u64, proxy.stats());
        assert!(done, "incomplete: received {received}, {st:?}");
        assert!((1400..=1800).contains(&received), "received {received}");
        assert_eq!(st.dropped_loss, 2000 - received);
    }

    #[test]
    fn duplicate_delivers_twice() {
        let up = Peer::spawn(false);
        let proxy = start(
            &up,
            Impairment::lossy(0.0, 0, 0, 1.0, 0.0),
            Impairment::none(),
        );
        send_numbered(&client(5), proxy.local_addr(), 50, 16, true);
        assert!(wait_until(1000, || up.seen.lock().len() >= 100));
        let mut idx = up.indices();
        idx.sort_unstable();
        assert_eq!(idx, (0..50).flat_map(|i| [i, i]).collect::<Vec<_>>());
        assert_eq!(proxy.stats().duplicated, 50);
    }

    #[test]
    fn latency_applies_both_ways() {
        let echo = Peer::spawn(true);
        let lat = Impairment::lossy(0.0, 30, 0, 0.0, 0.0);
        let proxy = start(&echo, lat.clone(), lat);
        let c = client(500);
        let mut buf = [0u8; 64];
        for i in 0..3u32 {
            let t0 = Instant::now();
            c.send_to(&i.to_le_bytes(), proxy.local_addr())
                .expect("send");
            let (n, _) = c.recv_from(&mut buf).expect("echo reply");
            let rtt = t0.elapsed();
            assert_eq!(index(&buf[..n]), i);
            assert!(
                rtt >= Duration::from_millis(60) && rtt < Duration::from_millis(200),
                "rtt {rtt:?}"
            );
        }
    }

    #[test]
    fn jitter_and_reorder_reorder_without_loss() {
        let up = Peer::spawn(false);
        let proxy = start(
            &up,
            Impairment::lossy(0.0, 10, 20, 0.0, 0.3),
            Impairment::none(),
        );
        send_numbered(&client(5), proxy.local_addr(), 100, 16, true);
        assert!(wait_until(1500, || up.seen.lock().len() >= 100));
        let idx = up.indices();
        assert!(
            idx.windows(2).any(|w| w[1] < w[0]),
            "no reordering: {idx:?}"
        );
        let mut sorted = idx.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert!(proxy.stats().reordered > 0);
    }

    #[test]
    fn clients_get_distinct_upstream_addresses() {
        let echo = Peer::spawn(true);
        let proxy = start(&echo, Impairment::none(), Impairment::none());
        let (a, b) = (client(500), client(500));
        a.send_to(b"a", proxy.local_addr()).expect("send a");
        b.send_to(b"b", proxy.local_addr()).expect("send b");
        let mut buf = [0u8; 8];
        for (c, want) in [(&a, b"a"), (&b, b"b")] {
            let (n, from) = c.recv_from(&mut buf).expect("reply");
            assert_eq!((&buf[..n], from), (&want[..], proxy.local_addr()));
        }
        let seen = echo.seen();
        let src = |p: &[u8]| {
            seen.iter()
                .find(|(_, d)| d == p)
                .map(|(s, _)| *s)
                .expect("seen")
        };
        let (sa, sb) = (src(b"a"), src(b"b"));
        assert_ne!(sa, sb);
        for s in [sa, sb] {
            assert!(
                s != a.local_addr().expect("a")
                    && s != b.local_addr().expect("b")
                    && s != proxy.local_addr()
            );
        }
    }

    #[test]
    fn rate_limit_drops_a_blast() {
        let up = Peer::spawn(false);
        let imp = Impairment {
            rate_limit_bytes_per_sec: Some(10_000),
            ..Impairment::none()
        };
        let proxy = start(&up, imp, Impairment::none());
        let t0 = Instant::now();
        send_numbered(&client(5), proxy.local_addr(), 100, 1000, false);
        assert!(t0.elapsed() < Duration::from_millis(50));
        thread::sleep(Duration::from_millis(100));
        let (got, st) = (up.seen().len() as u64, proxy.stats());
        assert!(got < 20, "delivered {got}");
        assert!(
            st.dropped_rate >= 50 && st.dropped_rate + got <= 100,
            "{st:?}"
        );
    }

    #[test]
    fn set_impairment_applies_and_stop_is_prompt() {
        let up = Peer::spawn(false);
        let proxy = start(&up, Impairment::none(), Impairment::none());
        proxy.set_impairment(Impairment::lossy(1.0, 0, 0, 0.0, 0.0), Impairment::none());
        send_numbered(&client(5), proxy.local_addr(), 20, 16, false);
        assert!(wait_until(500, || proxy.stats().dropped_loss == 20));
        assert!(up.seen().is_empty());
        let t0 = Instant::now();
        proxy.stop();
        assert!(t0.elapsed() < Duration::from_millis(100));
    }
}
