//! `cargo bench --bench coordinator`: what the coordinator costs with
//! 10 000 rooms listed, each figure next to a baseline from the same run.
//!
//! - lobby queries in the core: the sorted per-version index vs a linear
//!   scan (filter everything, sort, cut the page);
//! - lobby queries over UDP (the real service on loopback) vs a plain UDP
//!   echo with the same request pacing;
//! - lobby queries over HTTP (keep-alive) vs `GET /healthz` on the same
//!   connection;
//! - heartbeats in the core (binary) vs the naive design that re-sends the
//!   whole listing as JSON, and heartbeats over UDP;
//! - memory per room: bytes allocated (a counting allocator) and RSS, vs
//!   the room's JSON record.
//!
//! Without `--bench` (as `cargo test --benches` runs it): a quick smoke run
//! with 500 rooms. Every loop is bounded; traffic stays on 127.0.0.1.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use propwash::lobby::service::{Service, ServiceConfig};
use propwash::lobby::wire::{Message, Packet, RegisterBody, UpdateBody};
use propwash::lobby::{
    Capacity, Coordinator, CoordinatorConfig, HostProfile, ListQuery, Listing, RoomInfo,
    RoomSettings, SessionId,
};
use propwash::util::SplitMix64;

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const GAME: &str = "drl-4.1.2";
const PROTOCOL: u16 = propwash::proto::PROTOCOL_VERSION;

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn listing(rng: &mut SplitMix64, i: usize) -> Listing {
    let versions = [GAME, GAME, GAME, GAME, "drl-4.0.9"];
    let modes = ["race", "race", "freestyle", "time-trial"];
    let pilots = 1 + (rng.next_u64() % 6) as u8;
    Listing {
        host: HostProfile {
            steam_id: format!("7656119800{:07}", i),
            player_name: format!("Pilot {i}"),
            avatar_url: format!(
                "https://avatars.steamstatic.com/{:016x}{:016x}_full.jpg",
                rng.next_u64(),
                rng.next_u64()
            ),
        },
        room: RoomInfo {
            name: format!(
                "Room {:05} {}",
                rng.next_u64() % 100_000,
                ["Night", "Day", "Cup"][i % 3]
            ),
            map_id: format!("MP-{}", ["Stadium", "Hangar", "Bridge", "Mall"][i % 4]),
            track_id: format!("CMP-{:06}", i),
            is_custom_track: i % 2 == 0,
            mode: modes[i % modes.len()].into(),
            props: Default::default(),
        },
        capacity: Capacity {
            pilots: 6,
            spectators: 15,
            current_pilots: pilots,
            current_spectators: (rng.next_u64() % 16) as u8,
        },
        settings: RoomSettings {
            laps: 3,
            physics: "drl".into(),
            allow_track_download: true,
            ..Default::default()
        },
        game_version: versions[i % versions.len()].into(),
        protocol_version: PROTOCOL,
        has_password: i % 7 == 0,
        host_key: String::new(),
    }
}

fn host_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)), 5056)
}

fn open_cfg() -> CoordinatorConfig {
    CoordinatorConfig {
        secret: [3; 32],
        max_sessions_per_ip: usize::MAX,
        requests_per_sec_per_ip: 1e12,
        request_burst_per_ip: 1e12,
        unproven_answers_per_sec: 1e12,
        // The bench sends no heartbeats to most rooms: keep them listed.
        session_timeout: Duration::from_secs(600),
        ..CoordinatorConfig::default()
    }
}

/// Registers `n` rooms (each from its own address, challenge answered);
/// returns (session id, token, address) per room.
fn fill(c: &mut Coordinator, now: Instant, n: usize) -> Vec<(SessionId, u64, SocketAddr)> {
    let mut rng = SplitMix64(42);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let from = host_addr(i);
        let msg = Message::Register(RegisterBody {
            listing: listing(&mut rng, i),
        });
        let mut p = Packet::new(1, msg);
        let _ = c.handle_datagram(now, from, &p.encode().unwrap());
        let challenge = c.poll_transmit().expect("challenge");
        p.cookie = Packet::decode(&challenge.bytes).unwrap().cookie;
        let _ = c.handle_datagram(now, from, &p.encode().unwrap());
        let t = c.poll_transmit().expect("answer");
        match Packet::decode(&t.bytes).unwrap().message {
            Message::Registered(r) => out.push((r.session_id, r.token.0, from)),
            other => panic!("room {i} not listed: {other:?}"),
        }
    }
    out
}

/// Operations per second of `f`, best of three rounds of `secs` each.
fn rate(secs: f64, mut f: impl FnMut() -> u64) -> f64 {
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let mut ops = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            ops += f();
        }
        best = best.max(ops as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn line(what: &str, ours: f64, base_name: &str, base: f64, unit: &str) {
    println!(
        "  {what:<44} {ours:>12.0} {unit}   {base_name}: {base:>10.0} {unit}   ratio {:>6.2}x",
        ours / base
    );
}

fn memory(n: usize) {
    println!("memory per room ({n} rooms)");
    let now = Instant::now();
    let rss0 = rss_bytes();
    let live0 = LIVE_BYTES.load(Ordering::Relaxed);
    let mut c = Coordinator::new(open_cfg(), now);
    let rooms = fill(&mut c, now, n);
    let live = LIVE_BYTES.load(Ordering::Relaxed) - live0;
    let rss = rss_bytes().zip(rss0).map(|(a, b)| a.saturating_sub(b));
    let json: usize = c.dump_json().iter().map(String::len).sum();
    let per = live as f64 / n as f64;
    let json_per = json as f64 / n as f64;
    println!(
        "  allocated {per:>8.0} B/room   its JSON record {json_per:>6.0} B/room   ratio {:.2}x",
        per / json_per
    );
    if let Some(rss) = rss {
        println!(
            "  RSS delta {:>8.0} B/room   (includes allocator slack and the {} ids kept by the bench)",
            rss as f64 / n as f64,
            rooms.len()
        );
    }
    black_box(&c);
}

fn core_queries(c: &Coordinator, secs: f64) {
    println!(
        "lobby queries in the core ({} rooms, page of 20)",
        c.session_count()
    );
    let compatible = ListQuery::compatible_with(GAME, PROTOCOL);
    let filtered = ListQuery {
        mode: Some("race".into()),
        min_free_pilots: 2,
        ..compatible.clone()
    };
    let deep = ListQuery {
        offset: 2000,
        ..compatible.clone()
    };
    for (name, q) in [
        ("compatible rooms, first page", &compatible),
        ("compatible, mode=race, 2 free seats", &filtered),
        ("compatible, page at offset 2000", &deep),
    ] {
        assert_eq!(
            c.query(q).total,
            c.query_linear_scan(q).0,
            "index and scan disagree"
        );
        let ours = rate(secs, || {
            black_box(c.query_json(black_box(q)));
            1
        });
        let base = rate(secs, || {
            black_box(c.query_linear_scan(black_box(q)));
            1
        });
        line(name, ours, "linear scan", base, "q/s");
    }
}

fn heartbeats_core(n: usize, secs: f64) {
    println!("heartbeats in the core ({n} rooms)");
    let now = Instant::now();
    let mut c = Coordinator::new(open_cfg(), now);
    let rooms = fill(&mut c, now, n);
    let beats: Vec<(SocketAddr, Vec<u8>)> = rooms
        .iter()
        .map(|&(session_id, token, from)| {
            let p = Packet::new(
                9,
                Message::Heartbeat {
                    session_id,
                    token,
                    current_pilots: 2,
                    current_spectators: 1,
                },
            );
            (from, p.encode().unwrap())
        })
        .collect();
    let mut rng = SplitMix64(42);
    let updates: Vec<(SocketAddr, Vec<u8>)> = rooms
        .iter()
        .enumerate()
        .map(|(i, &(session_id, token, from))| {
            let p = Packet::new(
                9,
                Message::Update(UpdateBody {
                    session_id,
                    token: SessionId(token),
                    listing: listing(&mut rng, i),
                }),
            );
            (from, p.encode().unwrap())
        })
        .collect();
    let mut i = 0;
    let mut t = now;
    let ours = rate(secs, || {
        for _ in 0..64 {
            let (from, b) = &beats[i % beats.len()];
            i += 1;
            t += Duration::from_micros(10);
            let _ = c.handle_datagram(t, *from, b);
            while c.poll_transmit().is_some() {}
        }
        c.handle_timeout(t);
        64
    });
    let base = rate(secs, || {
        for _ in 0..64 {
            let (from, b) = &updates[i % updates.len()];
            i += 1;
            t += Duration::from_micros(10);
            let _ = c.handle_datagram(t, *from, b);
            while c.poll_transmit().is_some() {}
        }
        c.handle_timeout(t);
        64
    });
    assert_eq!(c.session_count(), n, "rooms expired during the bench");
    line(
        "binary heartbeat (occupancy rides along)",
        ours,
        "full JSON update",
        base,
        "hb/s",
    );
}

/// Closed loop over UDP: keeps `window` requests in flight, counts
/// answers (`answer_done` says when one request is fully answered).
fn udp_rate(
    sock: &UdpSocket,
    to: SocketAddr,
    secs: f64,
    window: usize,
    mut request: impl FnMut(u32) -> Vec<u8>,
    mut answer_done: impl FnMut(&[u8]) -> bool,
) -> f64 {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut best = 0f64;
    let mut id = 1u32;
    for _ in 0..3 {
        // Drain stragglers from the last round.
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        while sock.recv_from(&mut buf).is_ok() {}
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let start = Instant::now();
        let mut done = 0u64;
        let mut inflight = 0;
        while start.elapsed().as_secs_f64() < secs {
            while inflight < window {
                sock.send_to(&request(id), to).unwrap();
                id = id.wrapping_add(1).max(1);
                inflight += 1;
            }
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if answer_done(&buf[..n]) {
                        done += 1;
                        inflight -= 1;
                    }
                }
                // A lost datagram: refill the window.
                Err(_) => inflight = 0,
            }
        }
        best = best.max(done as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn udp_side(svc: &Service, secs: f64) {
    println!("over UDP on loopback (the service's thread; window of 8 requests)");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = svc.udp_addr();
    // Prove our address once.
    let q = ListQuery::compatible_with(GAME, PROTOCOL);
    let probe = Packet::new(1, Message::List(q.clone())).encode().unwrap();
    sock.send_to(&probe, to).unwrap();
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (n, _) = sock.recv_from(&mut buf).expect("challenge");
    let cookie = Packet::decode(&buf[..n]).unwrap().cookie;
    let list = |q: &ListQuery| {
        let q = q.clone();
        move |id: u32| {
            Packet {
                request_id: id,
                cookie,
                message: Message::List(q.clone()),
            }
            .encode()
            .unwrap()
        }
    };
    // A page is done when its last part arrives (parts come in order on loopback).
    let page_done = |d: &[u8]| match Packet::decode(d).map(|p| p.message) {
        Ok(Message::ListPart(p)) => p.part + 1 == p.parts,
        _ => false,
    };
    let ours = udp_rate(&sock, to, secs, 8, list(&q), page_done);
    let small = ListQuery {
        limit: 1,
        ..q.clone()
    };
    let one = udp_rate(&sock, to, secs, 8, list(&small), page_done);

    // Baseline: a plain UDP echo thread, same pacing.
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    echo.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t = std::thread::spawn(move || {
        let mut b = [0u8; 2048];
        while !s.load(Ordering::Relaxed) {
            if let Ok((n, from)) = echo.recv_from(&mut b) {
                let _ = echo.send_to(&b[..n], from);
            }
        }
    });
    let base = udp_rate(&sock, echo_addr, secs, 8, list(&q), |_| true);
    stop.store(true, Ordering::Relaxed);
    let _ = t.join();
    line(
        "list query, page of 20 (~9 datagrams)",
        ours,
        "plain UDP echo",
        base,
        "q/s",
    );
    line("list query, page of 1", one, "plain UDP echo", base, "q/s");

    // Heartbeats: register one room from this socket, then beat.
    let mut rng = SplitMix64(1);
    let reg = Packet {
        request_id: 77,
        cookie,
        message: Message::Register(RegisterBody {
            listing: listing(&mut rng, 0),
        }),
    };
    sock.send_to(&reg.encode().unwrap(), to).unwrap();
    let (session_id, token) = loop {
        let (n, _) = sock.recv_from(&mut buf).expect("registered");
        if let Ok(Message::Registered(r)) = Packet::decode(&buf[..n]).map(|p| p.message) {
            break (r.session_id, r.token.0);
        }
    };
    let beat = move |id: u32| {
        Packet::new(
            id,
            Message::Heartbeat {
                session_id,
                token,
                current_pilots: 1,
                current_spectators: 0,
            },
        )
        .encode()
        .unwrap()
    };
    let acked = |d: &[u8]| {
        matches!(
            Packet::decode(d).map(|p| p.message),
            Ok(Message::HeartbeatAck { .. })
        )
    };
    let hb = udp_rate(&sock, to, secs, 32, beat, acked);
    line(
        "heartbeat + ack (window 32)",
        hb,
        "plain UDP echo",
        base,
        "hb/s",
    );
}

/// One keep-alive HTTP/1.1 connection.
struct Http {
    r: BufReader<TcpStream>,
}

impl Http {
    fn connect(addr: SocketAddr) -> Http {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Http {
            r: BufReader::new(s),
        }
    }

    /// GETs `path`; returns the body's length.
    fn get(&mut self, path: &str) -> usize {
        let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.r.get_mut().write_all(req.as_bytes()).unwrap();
        let mut len = 0usize;
        let mut line = String::new();
        let mut status = 0;
        loop {
            line.clear();
            self.r.read_line(&mut line).unwrap();
            if status == 0 {
                status = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            }
            let l = line.to_ascii_lowercase();
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        assert_eq!(status, 200, "GET {path}");
        let mut body = vec![0u8; len];
        self.r.read_exact(&mut body).unwrap();
        len
    }
}

fn http_side(svc: &Service, secs: f64) {
    println!("over HTTP on loopback (one keep-alive connection)");
    let mut h = Http::connect(svc.http_addr().unwrap());
    let q = format!("/api/sessions?game_version={GAME}&protocol_version={PROTOCOL}&limit=20");
    let bytes = h.get(&q);
    let ours = rate(secs, || {
        black_box(h.get(&q));
        1
    });
    let filtered = format!("{q}&mode=race&min_free_pilots=2");
    let f = rate(secs, || {
        black_box(h.get(&filtered));
        1
    });
    let base = rate(secs, || {
        black_box(h.get("/healthz"));
        1
    });
    line(
        &format!("GET /api/sessions, page of 20 ({bytes} B)"),
        ours,
        "GET /healthz",
        base,
        "q/s",
    );
    line(
        "GET /api/sessions, mode + free seats",
        f,
        "GET /healthz",
        base,
        "q/s",
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs us without
    // it and expects a quick smoke run only.
    let full = std::env::args().any(|a| a == "--bench");
    let (n, secs) = if full { (10_000, 0.7) } else { (500, 0.05) };
    println!(
        "propwash coordinator bench ({} mode): figures with a baseline from the same run",
        if full { "full" } else { "smoke" }
    );
    memory(n);
    let now = Instant::now();
    let mut c = Coordinator::new(open_cfg(), now);
    fill(&mut c, now, n);
    core_queries(&c, secs);
    heartbeats_core(n, secs);
    let svc = Service::start(ServiceConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        http: Some("127.0.0.1:0".parse().unwrap()),
        coordinator: open_cfg(),
    })
    .expect("start the service");
    svc.with_core(|core| {
        fill(core, Instant::now(), n);
    });
    udp_side(&svc, secs);
    http_side(&svc, secs);
    svc.shutdown();
}
