//! Sealed sessions, in memory: nobody can speak for a seated player. The
//! forger here is the strongest one a room has: a seated player of its
//! own, whose packets are real (frames with the highest tick, events,
//! property changes, acks, its Leave), sent again with the victim's
//! address; and anyone replaying the victim's own packets. None of it may
//! have any effect, and the counters must show every one dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use propwash::proto::room::SetProps;
use propwash::proto::RefuseReason;
use propwash::proto::{EventTarget, PilotFrame, Role};
use propwash::session::sim::{Conditions, SimRoom};
use propwash::session::{ClientConfig, ClientState, CloseReason, Event, HostConfig};

const GAME: &str = "drl-test";

fn frame(tick: u32) -> PilotFrame {
    PilotFrame {
        tick,
        position: [tick as f32 * 0.01, 1.0, 2.0],
        rotation: [0.0, 0.0, 0.0, 1.0],
        ..Default::default()
    }
}

/// Datagrams `from` sent to `to` in the log.
fn sent(
    log: &[(SocketAddr, SocketAddr, Vec<u8>)],
    from: SocketAddr,
    to: SocketAddr,
) -> Vec<Vec<u8>> {
    log.iter()
        .filter(|(f, t, _)| *f == from && *t == to)
        .map(|(_, _, d)| d.clone())
        .collect()
}

/// The newest tick of `actor` among `events`' frames.
fn newest_tick(events: &[Event], actor: u32) -> Option<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Frame {
                actor: a, frame, ..
            } if *a == actor => Some(frame.tick),
            _ => None,
        })
        .max()
}

#[test]
fn a_players_packets_sent_from_another_players_address_and_replays_have_no_effect() {
    let conditions = Conditions {
        latency: Duration::from_millis(5),
        ..Conditions::default()
    };
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), conditions, 7);
    let victim = room.add_client(|h| ClientConfig::new(h, GAME, "Victim", Role::Pilot));
    let mallory = room.add_client(|h| ClientConfig::new(h, GAME, "Mallory", Role::Pilot));
    let watcher = room.add_client(|h| ClientConfig::new(h, GAME, "Watcher", Role::Spectator));
    room.run_for(Duration::from_secs(1));
    assert_eq!(room.host.players().len(), 4);
    let victim_actor = room.clients[victim].1.actor();
    let (victim_addr, mallory_addr, host_addr) = (
        room.client_addr(victim),
        room.client_addr(mallory),
        room.host_addr,
    );

    // Both fly; Mallory's frames carry the highest ticks there are (one
    // such frame used to freeze a pilot for good), it raises events, sets
    // properties, and leaves.
    room.transmitted = Some(Vec::new());
    for t in 1..=60 {
        room.clients[victim].1.push_local_frame(frame(t));
        room.clients[mallory]
            .1
            .push_local_frame(frame(u32::MAX - 60 + t));
        room.run_for(Duration::from_millis(16));
    }
    let c = &mut room.clients[mallory].1;
    for i in 0..5u8 {
        c.raise(EventTarget::All.raise(42, vec![i; 8])).unwrap();
    }
    c.set_props(SetProps {
        target: 0,
        changes: BTreeMap::from([(b"map".to_vec(), Some(b"forged".to_vec()))]),
        ..SetProps::default()
    })
    .unwrap();
    room.run_for(Duration::from_millis(300));
    let now = room.now;
    room.clients[mallory].1.leave(now);
    room.run_for(Duration::from_secs(2));
    let log = room.transmitted.take().unwrap();
    let forgeries = sent(&log, mallory_addr, host_addr);
    let replays = sent(&log, victim_addr, host_addr);
    let to_mallory = sent(&log, host_addr, mallory_addr);
    let to_victim = sent(&log, host_addr, victim_addr);
    assert!(
        forgeries.len() > 60,
        "only {} packets from Mallory",
        forgeries.len()
    );
    assert!(
        replays.len() > 60,
        "only {} packets from the victim",
        replays.len()
    );

    // Everything again, from the victim's address, while the victim flies
    // on; and the host's packets to Mallory and the victim's own, replayed
    // to the victim.
    for e in room.client_events.iter_mut() {
        e.clear();
    }
    let host_dropped = room.host.unsealed_dropped;
    let victim_dropped = room.clients[victim].1.unsealed_dropped;
    for d in forgeries.iter().chain(&replays) {
        room.inject(victim_addr, host_addr, d.clone());
    }
    for d in to_mallory.iter().chain(&to_victim) {
        room.inject(host_addr, victim_addr, d.clone());
    }
    for t in 61..=120 {
        room.clients[victim].1.push_local_frame(frame(t));
        room.run_for(Duration::from_millis(16));
    }
    room.run_for(Duration::from_millis(500));

    assert_eq!(
        room.host.unsealed_dropped - host_dropped,
        (forgeries.len() + replays.len()) as u64,
        "every forged and replayed packet to the host is dropped and counted"
    );
    assert_eq!(
        room.clients[victim].1.unsealed_dropped - victim_dropped,
        (to_mallory.len() + to_victim.len()) as u64,
        "every forged and replayed packet to the victim is dropped and counted"
    );
    // The victim is still seated, its frames still follow its own ticks,
    // and nothing was said in its name.
    assert!(room.host.players().iter().any(|p| p.actor == victim_actor));
    let seen = &room.client_events[watcher];
    assert_eq!(newest_tick(seen, victim_actor), Some(120));
    for e in seen {
        match e {
            Event::GameEvent(g) => assert_ne!(g.from, victim_actor, "{g:?}"),
            Event::PlayerLeft { actor, .. } => assert_ne!(*actor, victim_actor),
            Event::PropsChanged(p) => panic!("a forged property change arrived: {p:?}"),
            _ => {}
        }
    }
    assert_eq!(
        room.clients[victim].1.state(),
        propwash::session::ClientState::Connected
    );
}

#[test]
fn a_joiner_pinned_to_the_listed_key_joins_only_the_host_that_has_it() {
    let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), Conditions::default(), 9);
    let key = room.host.public_key();
    let mut wrong = key;
    wrong[0] ^= 1;
    let right = room.add_client(|h| ClientConfig {
        host_key: Some(key),
        ..ClientConfig::new(h, GAME, "Pinned", Role::Pilot)
    });
    let fooled = room.add_client(|h| ClientConfig {
        host_key: Some(wrong),
        ..ClientConfig::new(h, GAME, "Elsewhere", Role::Pilot)
    });
    room.run_for(Duration::from_secs(1));
    assert_eq!(room.clients[right].1.state(), ClientState::Connected);
    assert_eq!(
        room.clients[fooled].1.state(),
        ClientState::Closed(CloseReason::Refused)
    );
    assert!(room.client_events[fooled].iter().any(|e| matches!(
        e,
        Event::Refused {
            reason: RefuseReason::HostKeyMismatch,
            ..
        }
    )));
    // It never sent the host its sealed hello: only the first, empty one.
    assert_eq!(room.host.players().len(), 2);
}
