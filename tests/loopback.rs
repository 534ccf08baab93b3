//! Real sockets on loopback: the runtime (network thread, laminar, our
//! socket seam) carries a room, and laminar's known holes stay covered.

use std::time::{Duration, Instant};

use propwash::proto::{EventTarget, PilotFrame, Role};
use propwash::runtime::{PilotState, Session, SessionState};
use propwash::session::{ClientConfig, Event, HostConfig};

const GAME: &str = "drl-test";

fn frame(tick: u32, x: f32) -> PilotFrame {
    PilotFrame {
        tick,
        position: [x, 1.0, 2.0],
        rotation: [0.0, 0.0, 0.0, 1.0],
        ..Default::default()
    }
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn host() -> Session {
    Session::host(
        "127.0.0.1:0".parse().unwrap(),
        HostConfig::new(GAME, "Host"),
    )
    .expect("bind host")
}

fn join(host: &Session, name: &str, role: Role) -> Session {
    let cfg = ClientConfig::new(host.local_addr(), GAME, name, role);
    Session::join("127.0.0.1:0".parse().unwrap(), cfg).expect("bind client")
}

#[test]
fn pilots_and_spectator_see_each_other_over_real_sockets() {
    let mut h = host();
    let mut a = join(&h, "A", Role::Pilot);
    let mut w = join(&h, "W", Role::Spectator);
    assert!(wait_until(Duration::from_secs(5), || {
        a.snapshot().state == SessionState::Connected
            && w.snapshot().state == SessionState::Connected
    }));
    let mut out = [PilotState::default(); 6];
    for tick in 1..=120u32 {
        h.push_local(&frame(tick, tick as f32)).unwrap();
        a.push_local(&frame(tick, -(tick as f32))).unwrap();
        std::thread::sleep(Duration::from_millis(8));
    }
    assert!(
        wait_until(Duration::from_secs(2), || {
            let n = w.read_pilots(&mut out);
            n == 2 && out[..n].iter().all(|p| p.frame.tick == 120)
        }),
        "spectator sees both pilots' last tick"
    );
    let n = a.read_pilots(&mut out);
    assert_eq!(n, 1);
    assert_eq!(out[0].actor, 1);
    assert_eq!(out[0].frame.tick, 120);
    assert!((out[0].frame.position[0] - 120.0).abs() < 0.002);
    let n = h.read_pilots(&mut out);
    assert_eq!((n, out[0].frame.tick), (1, 120));
    // Events flow both ways.
    a.send_event(5, EventTarget::All, b"go").unwrap();
    assert!(wait_until(Duration::from_secs(2), || {
        std::iter::from_fn(|| w.poll_event())
            .any(|e| matches!(e, Event::GameEvent(g) if g.payload == b"go"))
    }));
    assert!(h.host_time() > 0.5);
    assert!(wait_until(Duration::from_secs(2), || w.clock_synced()));
    let err = (w.host_time() - h.host_time()).abs();
    assert!(err < 0.005, "clock error {err} s on loopback");
    a.close_and_wait();
    assert!(wait_until(Duration::from_secs(2), || h
        .snapshot()
        .players
        .len()
        == 2));
    w.close_and_wait();
    h.close_and_wait();
}

fn game_events(s: &mut Session, code: u8, into: &mut Vec<Vec<u8>>) {
    while let Some(e) = s.poll_event() {
        if let Event::GameEvent(g) = e {
            if g.code == code {
                into.push(g.payload);
            }
        }
    }
}

fn big_payload(n: u32) -> Vec<u8> {
    // Sizes from tiny to the 16 KiB maximum; content tied to the sequence number.
    let len = match n % 4 {
        0 => 16 * 1024,
        1 => 4,
        2 => 5000,
        _ => 1100,
    };
    let mut v: Vec<u8> = (0..len).map(|i| (i as u32 ^ n) as u8).collect();
    v[..4].copy_from_slice(&n.to_be_bytes());
    v
}

/// laminar duplicates and, for fragmented reliable messages, misorders:
/// through a proxy that duplicates 30%, reorders 30%, jitters and loses 5%,
/// every event (up to 16 KiB) still arrives exactly once, intact, in order.
#[test]
fn events_survive_duplication_reordering_and_loss_on_real_sockets() {
    use propwash::lab::impair::{ImpairProxy, Impairment};
    let h = host();
    let bad = Impairment::lossy(0.05, 5, 5, 0.3, 0.3);
    let proxy = ImpairProxy::start(h.local_addr(), bad.clone(), bad, 7).expect("proxy");
    let cfg = ClientConfig::new(proxy.local_addr(), GAME, "W", Role::Spectator);
    let mut w = Session::join("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
    assert!(wait_until(Duration::from_secs(5), || w.snapshot().state
        == SessionState::Connected));
    let sent: Vec<Vec<u8>> = (0..120).map(big_payload).collect();
    for p in &sent {
        // Keep the command queue from overflowing: pace a little.
        while h.send_event(3, EventTarget::Others, p).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // What this proves is delivery (every event once, in order), not speed:
    // on a loaded machine the proxy's thread may crawl, so the wait lasts
    // as long as events keep coming (none for 15 s fails), within 120 s.
    let mut got = Vec::new();
    let started = Instant::now();
    let mut last_progress = (Instant::now(), 0);
    let all = wait_until(Duration::from_secs(120), || {
        game_events(&mut w, 3, &mut got);
        if got.len() > last_progress.1 {
            last_progress = (Instant::now(), got.len());
        }
        got.len() >= sent.len() || last_progress.0.elapsed() > Duration::from_secs(15)
    });
    let mut h = h;
    let link_stats = |s: &mut Session| {
        let mut out = [propwash::session::PeerStats::default(); 4];
        let n = s.stats(&mut out);
        format!("{:?}", &out[..n])
    };
    assert!(
        all && got.len() >= sent.len(),
        "only {} of {} events arrived in {:?} (the last one {:?} ago); host {}; joiner {}; proxy {:?}",
        got.len(),
        sent.len(),
        started.elapsed(),
        last_progress.0.elapsed(),
        link_stats(&mut h),
        link_stats(&mut w),
        proxy.stats()
    );
    std::thread::sleep(Duration::from_millis(300));
    game_events(&mut w, 3, &mut got);
    assert_eq!(got.len(), sent.len(), "an event arrived twice");
    assert!(got == sent, "events arrived altered or out of order");
    let stats = proxy.stats();
    assert!(
        stats.duplicated > 0 && stats.reordered > 0 && stats.dropped_loss > 0,
        "{stats:?}"
    );
    w.close_and_wait();
    h.close_and_wait();
    proxy.stop();
}

/// laminar acks only on reliable packets and drops a connection with 512
/// reliable packets in flight: a spectator sends nothing reliable, yet
/// receives thousands of events and stays seated.
#[test]
fn spectator_stays_connected_through_thousands_of_events() {
    let mut h = host();
    let mut w = join(&h, "W", Role::Spectator);
    assert!(wait_until(Duration::from_secs(5), || w.snapshot().state
        == SessionState::Connected));
    let mut got = Vec::new();
    for n in 0..3000u32 {
        while h
            .send_event(4, EventTarget::Others, &n.to_be_bytes())
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        if n % 100 == 0 {
            game_events(&mut w, 4, &mut got);
        }
    }
    assert!(wait_until(Duration::from_secs(10), || {
        game_events(&mut w, 4, &mut got);
        got.len() >= 3000
    }));
    let want: Vec<Vec<u8>> = (0..3000u32).map(|n| n.to_be_bytes().to_vec()).collect();
    assert!(got == want);
    assert_eq!(w.snapshot().state, SessionState::Connected);
    assert_eq!(h.snapshot().players.len(), 2);
    w.close_and_wait();
    h.close_and_wait();
}

/// laminar creates a connection for the first packet from any address. A
/// flood from hundreds of source addresses (hello-shaped and garbage) must
/// not seat anyone nor starve a real pilot's frames.
#[test]
fn spoofed_source_flood_does_not_starve_real_pilots() {
    use std::net::UdpSocket;
    let mut h = host();
    let mut a = join(&h, "A", Role::Pilot);
    assert!(wait_until(Duration::from_secs(5), || a.snapshot().state
        == SessionState::Connected));
    let target = h.local_addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood_stop = stop.clone();
    // Sources across 127.0.0.0/8 (all local on Linux): each is a stranger.
    let flooder = std::thread::spawn(move || {
        let mut socks = Vec::new();
        for i in 0..200u32 {
            let ip = std::net::Ipv4Addr::new(127, 1 + (i / 250) as u8, (i % 250) as u8 + 1, 9);
            if let Ok(s) = UdpSocket::bind((ip, 0)) {
                socks.push(s);
            }
        }
        let mut hello = b"PWSH\x01".to_vec();
        hello.extend_from_slice(&1u16.to_be_bytes());
        hello.extend_from_slice(&[0; 8]);
        hello.extend_from_slice(
            br#"{"game_version":"drl-test","name":"spoof","player_id":"","role":"pilot"}"#,
        );
        let junk = [0xffu8; 64];
        let mut sent = 0u64;
        let end = Instant::now() + Duration::from_secs(3);
        'outer: while Instant::now() < end && !flood_stop.load(std::sync::atomic::Ordering::Relaxed)
        {
            for (k, s) in socks.iter().enumerate() {
                let d: &[u8] = if k % 2 == 0 { &hello } else { &junk };
                let _ = s.send_to(d, target);
                sent += 1;
                if sent >= 400_000 {
                    break 'outer;
                }
            }
        }
        (sent, socks.len())
    });
    // Two seconds of flying at 60 Hz while the flood runs; watch the host's
    // view of the pilot for gaps.
    let mut out = [PilotState::default(); 6];
    let start = Instant::now();
    let mut tick = 0u32;
    let (mut seen, mut seen_at, mut worst_gap) = (0u32, Instant::now(), Duration::ZERO);
    while start.elapsed() < Duration::from_secs(2) {
        tick += 1;
        a.push_local(&frame(tick, tick as f32)).unwrap();
        let deadline = Instant::now() + Duration::from_micros(16_667);
        while Instant::now() < deadline {
            if h.read_pilots(&mut out) == 1 && out[0].frame.tick > seen {
                seen = out[0].frame.tick;
                worst_gap = worst_gap.max(seen_at.elapsed());
                seen_at = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (flood_sent, sources) = flooder.join().unwrap();
    assert!(sources >= 100, "could bind only {sources} source addresses");
    assert!(
        wait_until(Duration::from_secs(2), || {
            h.read_pilots(&mut out) == 1 && out[0].frame.tick == tick
        }),
        "host lost track of the real pilot during the flood"
    );
    let mut stats = [propwash::session::PeerStats::default(); 21];
    let n = h.stats(&mut stats);
    assert_eq!(n, 1, "a spoofed source was seated");
    assert_eq!(h.snapshot().players.len(), 2);
    let c = h.counters();
    assert!(
        c.dropped_strangers > 0,
        "flood of {flood_sent} never reached the filter: {c:?}"
    );
    // A flood that fills the socket's kernel buffer costs everyone some
    // datagrams; what must hold is that the host kept hearing the pilot.
    eprintln!(
        "flood: {flood_sent} datagrams from {sources} sources; filter dropped {}, \
         host heard {} of {tick} pilot packets, worst gap {worst_gap:?}",
        c.dropped_strangers, stats[0].counters.packets_received
    );
    assert!(
        worst_gap < Duration::from_millis(400),
        "the host went {worst_gap:?} without hearing the pilot"
    );
    assert!(
        stats[0].counters.packets_received as f64 >= 0.75 * f64::from(tick),
        "{tick} pushed: {:?}",
        stats[0].counters
    );
    a.close_and_wait();
    h.close_and_wait();
}

#[test]
fn the_default_interpolation_delay_follows_the_hosts_snapshot_rate() {
    // A host sending 20 snapshots a second: two intervals are 100 ms, not
    // the 33 ms of the default 60 Hz.
    let mut cfg = HostConfig::new(GAME, "Host");
    cfg.pilot_hz = 20;
    let mut h = Session::host("127.0.0.1:0".parse().unwrap(), cfg).expect("bind host");
    let mut c = join(&h, "P", Role::Pilot);
    assert!(wait_until(Duration::from_secs(5), || c.snapshot().state
        == SessionState::Connected));
    let mut out = [PilotState::default(); 6];
    let mut at = |c: &mut Session, delay: Option<Duration>| {
        let n = c.read_pilots_interpolated(delay, &mut out);
        (n == 1).then(|| out[0].host_time_us as i64)
    };
    let mut checked = false;
    for tick in 1..=150u32 {
        h.push_local(&frame(tick, tick as f32)).unwrap();
        std::thread::sleep(Duration::from_millis(8));
        if tick < 100 {
            continue;
        }
        let (Some(default), Some(hundred), Some(short)) = (
            at(&mut c, None),
            at(&mut c, Some(Duration::from_millis(100))),
            at(&mut c, Some(Duration::from_millis(33))),
        ) else {
            continue;
        };
        assert!(
            (default - hundred).abs() < 10_000,
            "default {default} vs 100 ms {hundred}"
        );
        assert!(
            short - default > 40_000,
            "33 ms {short} vs default {default}"
        );
        checked = true;
    }
    assert!(checked, "the client read the host's pilot");
    drop(h);
}
