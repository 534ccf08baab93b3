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
