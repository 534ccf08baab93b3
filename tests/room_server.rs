//! The room as Photon's game server, in memory under 5 % loss, 5 %
//! duplication and ±20 ms jitter (which reorders): the event cache replayed
//! to late joiners, routing by receivers, target actors and interest
//! groups, check-and-set, the master client, the per-tick lane, and the
//! properties players join with. Every scenario runs over several seeds.

use std::time::Duration;

use propwash::proto::room::{
    Caching, GroupChange, PropChanges, Props, Raise, Receivers, SetProps, SettingsChange,
};
use propwash::proto::{EventTarget, LeaveReason, Role};
use propwash::session::sim::{Conditions, SimRoom};
use propwash::session::{ClientConfig, Event, HostConfig, HOST_ACTOR};

const GAME: &str = "drl-4.2.1";
const SEEDS: [u64; 4] = [1, 7, 23, 99];

fn harsh() -> Conditions {
    Conditions {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(20),
        loss: 0.05,
        duplicate: 0.05,
    }
}

fn props(pairs: &[(&str, &str)]) -> Props {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn join_with(room: &mut SimRoom, name: &str, joined_with: Props) -> usize {
    let name = name.to_string();
    room.add_client(move |host| ClientConfig {
        player_props: joined_with,
        ..ClientConfig::new(host, GAME, &name, Role::Pilot)
    })
}

fn join(room: &mut SimRoom, name: &str) -> usize {
    join_with(room, name, Props::new())
}

/// A reliable event whose payload is `tag`, with one filter key.
fn event(code: u8, tag: u32, caching: Caching) -> Raise {
    Raise {
        code,
        caching,
        keys: vec![(b"view".to_vec(), (tag / 100).to_be_bytes().to_vec())],
        reliable: true,
        payload: tag.to_be_bytes().to_vec(),
        ..Raise::default()
    }
}

/// (sender, code, tag) of every game event in `events`, in order.
fn received(events: &[Event]) -> Vec<(u32, u8, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::GameEvent(g) if g.payload.len() == 4 => Some((
                g.from,
                g.code,
                u32::from_be_bytes([g.payload[0], g.payload[1], g.payload[2], g.payload[3]]),
            )),
            _ => None,
        })
        .collect()
}

fn welcomed_at(events: &[Event]) -> usize {
    events
        .iter()
        .position(|e| matches!(e, Event::Welcomed { .. }))
        .expect("welcomed")
}

#[test]
fn a_late_joiner_gets_the_cache_once_in_order_before_anything_live_and_leavers_are_cleaned_up() {
    for seed in SEEDS {
        let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), harsh(), seed);
        let a = join(&mut room, "A");
        let b = join(&mut room, "B");
        room.run_for(Duration::from_secs(2));
        let (actor_a, actor_b) = (room.clients[a].1.actor(), room.clients[b].1.actor());
        // The host, A and B each instantiate and buffer RPCs (views 1xx,
        // 2xx, 3xx); one room-owned event from B; an uncached one.
        room.host
            .raise(event(202, 100, Caching::AddToRoomCache))
            .unwrap();
        for (i, tag) in [(a, 200), (b, 300)] {
            let c = &mut room.clients[i].1;
            c.raise(event(202, tag, Caching::AddToRoomCache)).unwrap();
            c.raise(event(200, tag + 1, Caching::AddToRoomCache))
                .unwrap();
            c.raise(event(200, tag + 2, Caching::AddToRoomCache))
                .unwrap();
        }
        room.clients[b]
            .1
            .raise(event(204, 399, Caching::AddToRoomCacheGlobal))
            .unwrap();
        room.clients[a]
            .1
            .raise(event(7, 250, Caching::DoNotCache))
            .unwrap();
        room.run_for(Duration::from_secs(2));
        // A removes the RPCs of its view 2 (a filter key), then B leaves.
        room.clients[a]
            .1
            .raise(Raise {
                keys: vec![(b"view".to_vec(), 2u32.to_be_bytes().to_vec())],
                ..event(200, 0, Caching::RemoveFromRoomCache)
            })
            .unwrap();
        room.run_for(Duration::from_secs(1));
        let now = room.now;
        room.clients[b].1.leave(now);
        room.run_for(Duration::from_secs(2));

        let late = join(&mut room, "Late");
        let seated = room.host.players().len() + 1;
        for _ in 0..3000 {
            if room.host.players().len() == seated {
                break;
            }
            room.run_for(Duration::from_millis(1));
        }
        assert_eq!(room.host.players().len(), seated, "seed {seed}: seated");
        // Something live once the joiner is seated, while its welcome and
        // the cache may still be on their way.
        room.host
            .raise(EventTarget::All.raise(9, 900u32.to_be_bytes().to_vec()))
            .unwrap();
        room.run_for(Duration::from_secs(3));
        let events = &room.client_events[late];
        let got = received(&events[welcomed_at(events)..]);
        // The cache keeps the order the host took the events in (A's and
        // B's raced each other): the host's own first, then as they came.
        let kept = [(actor_a, 202, 200), (actor_b, 204, 399)];
        let mut want = vec![(HOST_ACTOR, 202, 100)];
        want.extend(
            received(&room.host_events)
                .into_iter()
                .filter(|e| kept.contains(e)),
        );
        want.push((HOST_ACTOR, 9, 900));
        assert_eq!(
            got, want,
            "seed {seed}: the cache without B's own events and A's removed RPCs, \
             B's room-owned event kept, then the live event"
        );
        assert!(
            received(&events[..welcomed_at(events)]).is_empty(),
            "seed {seed}: nothing before the welcome"
        );
        // The ones already there got every live event exactly once.
        let at_a = received(&room.client_events[a]);
        assert_eq!(
            at_a.iter().filter(|e| **e == (actor_b, 200, 302)).count(),
            1,
            "seed {seed}"
        );
        assert!(!at_a.iter().any(|e| e.0 == actor_a), "seed {seed}: Others");
    }
}

#[test]
fn routing_follows_receivers_targets_and_interest_groups() {
    for seed in SEEDS {
        let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), harsh(), seed);
        let clients: Vec<usize> = (0..3).map(|i| join(&mut room, &format!("P{i}"))).collect();
        room.run_for(Duration::from_secs(2));
        let actors: Vec<u32> = clients.iter().map(|&c| room.clients[c].1.actor()).collect();
        let (a, b, c) = (clients[0], clients[1], clients[2]);
        // b and c receive group 5; the host group 6.
        for i in [b, c] {
            room.clients[i]
                .1
                .change_groups(GroupChange {
                    remove: None,
                    add: Some(vec![5]),
                })
                .unwrap();
        }
        room.host.change_groups(&GroupChange {
            remove: None,
            add: Some(vec![6]),
        });
        room.run_for(Duration::from_secs(1));
        let send = |room: &mut SimRoom, ev: Raise| room.clients[a].1.raise(ev).unwrap();
        let base = |tag| event(50, tag, Caching::DoNotCache);
        send(&mut room, base(1));
        send(
            &mut room,
            Raise {
                receivers: Receivers::All,
                ..base(2)
            },
        );
        send(
            &mut room,
            Raise {
                receivers: Receivers::MasterClient,
                ..base(3)
            },
        );
        send(
            &mut room,
            Raise {
                targets: vec![actors[2], 999],
                ..base(4)
            },
        );
        send(
            &mut room,
            Raise {
                group: 5,
                ..base(5)
            },
        );
        send(
            &mut room,
            Raise {
                group: 6,
                ..base(6)
            },
        );
        room.run_for(Duration::from_secs(2));
        let tags = |events: &[Event]| -> Vec<u32> {
            received(events)
                .into_iter()
                .filter(|e| e.1 == 50)
                .map(|e| e.2)
                .collect()
        };
        assert_eq!(tags(&room.host_events), [1, 2, 3, 6], "seed {seed}: host");
        assert_eq!(tags(&room.client_events[a]), [2], "seed {seed}: sender");
        assert_eq!(tags(&room.client_events[b]), [1, 2, 5], "seed {seed}: b");
        assert_eq!(tags(&room.client_events[c]), [1, 2, 4, 5], "seed {seed}: c");
        // Leaving every group: group events stop.
        room.clients[c]
            .1
            .change_groups(GroupChange {
                remove: Some(vec![]),
                add: None,
            })
            .unwrap();
        room.run_for(Duration::from_secs(1));
        send(
            &mut room,
            Raise {
                group: 5,
                ..base(7)
            },
        );
        room.run_for(Duration::from_secs(1));
        assert_eq!(tags(&room.client_events[c]), [1, 2, 4, 5], "seed {seed}");
        assert_eq!(tags(&room.client_events[b]), [1, 2, 5, 7], "seed {seed}");
    }
}

fn set(target: u32, key: &str, value: &str) -> SetProps {
    SetProps {
        target,
        changes: PropChanges::from([(key.as_bytes().to_vec(), Some(value.as_bytes().to_vec()))]),
        ..SetProps::default()
    }
}

#[test]
fn check_and_set_lets_exactly_one_racer_win_and_everyone_agrees() {
    for seed in SEEDS {
        let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), harsh(), seed);
        let a = join(&mut room, "A");
        let b = join(&mut room, "B");
        room.run_for(Duration::from_secs(2));
        room.host.set_props(set(0, "slot", "free")).unwrap();
        room.run_for(Duration::from_secs(1));
        // Both race to take the slot from "free".
        for (i, who, request) in [(a, "A", 1), (b, "B", 2)] {
            let mut req = set(0, "slot", who);
            req.request = request;
            req.expected = PropChanges::from([(b"slot".to_vec(), Some(b"free".to_vec()))]);
            room.clients[i].1.set_props(req).unwrap();
        }
        room.run_for(Duration::from_secs(2));
        let winner = room.host.room_props().get(&b"slot"[..]).cloned().unwrap();
        assert!(winner == b"A" || winner == b"B", "seed {seed}");
        for i in [a, b] {
            assert_eq!(
                room.clients[i].1.room_props().get(&b"slot"[..]),
                Some(&winner),
                "seed {seed}: everyone agrees, the winner included"
            );
        }
        let loser = if winner == b"A" { b } else { a };
        let refused: Vec<u32> = room.client_events[loser]
            .iter()
            .filter_map(|e| match e {
                Event::PropsRefused { request, .. } => Some(*request),
                _ => None,
            })
            .collect();
        assert_eq!(refused.len(), 1, "seed {seed}: the loser is told once");
        // A plain change is not echoed to its setter but reaches the others.
        room.clients[a].1.set_props(set(0, "map", "MP-1")).unwrap();
        room.run_for(Duration::from_secs(2));
        let changes_of = |events: &[Event], by: u32| {
            events
                .iter()
                .filter(|e| matches!(e, Event::PropsChanged(ch) if ch.by == by && ch.changes.contains_key(&b"map"[..])))
                .count()
        };
        let actor_a = room.clients[a].1.actor();
        assert_eq!(
            changes_of(&room.client_events[a], actor_a),
            1,
            "seed {seed}: our own, once"
        );
        assert_eq!(
            changes_of(&room.client_events[b], actor_a),
            1,
            "seed {seed}"
        );
        assert_eq!(changes_of(&room.host_events, actor_a), 1, "seed {seed}");
    }
}

#[test]
fn the_master_moves_by_check_and_set_and_when_it_leaves() {
    for seed in SEEDS {
        let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), harsh(), seed);
        let a = join(&mut room, "A");
        let b = join(&mut room, "B");
        room.run_for(Duration::from_secs(2));
        let (actor_a, actor_b) = (room.clients[a].1.actor(), room.clients[b].1.actor());
        assert_eq!(room.clients[b].1.room().master(), HOST_ACTOR);
        // The host hands the master role to A, as PUN's SetMasterClient.
        room.host
            .set_props(SetProps {
                settings: SettingsChange {
                    master: Some(actor_a),
                    ..Default::default()
                },
                expected_settings: SettingsChange {
                    master: Some(HOST_ACTOR),
                    ..Default::default()
                },
                ..SetProps::default()
            })
            .unwrap();
        room.run_for(Duration::from_secs(2));
        for i in [a, b] {
            assert_eq!(room.clients[i].1.room().master(), actor_a, "seed {seed}");
        }
        // Events to the master client now go to A.
        room.clients[b]
            .1
            .raise(Raise {
                receivers: Receivers::MasterClient,
                ..event(60, 1, Caching::DoNotCache)
            })
            .unwrap();
        room.run_for(Duration::from_secs(2));
        assert_eq!(
            received(&room.client_events[a]),
            [(actor_b, 60, 1)],
            "seed {seed}"
        );
        // A leaves: the lowest number left, the host, is master again, and
        // everyone is told with the leave.
        let now = room.now;
        room.clients[a].1.leave(now);
        room.run_for(Duration::from_secs(2));
        let told = room.client_events[b].iter().any(|e| {
            matches!(e, Event::PlayerLeft { actor, reason: LeaveReason::Left, master: Some(m) }
                if *actor == actor_a && *m == HOST_ACTOR)
        });
        assert!(told, "seed {seed}");
        assert_eq!(room.clients[b].1.room().master(), HOST_ACTOR, "seed {seed}");
        assert_eq!(room.host.room().master(), HOST_ACTOR, "seed {seed}");
    }
}

#[test]
fn joiners_arrive_with_their_properties_and_numbers_are_never_reused() {
    for seed in SEEDS {
        let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), harsh(), seed);
        let a = join_with(&mut room, "A", props(&[("name", "Ann"), ("skin", "red")]));
        room.run_for(Duration::from_secs(2));
        let actor_a = room.clients[a].1.actor();
        // The host learns of A with A's properties, in the join itself.
        let joined = room.host_events.iter().find_map(|e| match e {
            Event::PlayerJoined(p) if p.actor == actor_a => Some(p.props.clone()),
            _ => None,
        });
        assert_eq!(
            joined,
            Some(props(&[("name", "Ann"), ("skin", "red")])),
            "seed {seed}"
        );
        let b = join(&mut room, "B");
        room.run_for(Duration::from_secs(2));
        let at_b = room.clients[b]
            .1
            .players()
            .into_iter()
            .find(|p| p.actor == actor_a)
            .map(|p| p.props);
        assert_eq!(
            at_b,
            Some(props(&[("name", "Ann"), ("skin", "red")])),
            "seed {seed}"
        );
        // The host's own properties are the room's like anyone's.
        room.host.set_props(set(HOST_ACTOR, "ready", "1")).unwrap();
        let host_seen = room.host.players()[0].props.get(&b"ready"[..]).cloned();
        assert_eq!(host_seen.as_deref(), Some(&b"1"[..]), "seed {seed}");
        room.run_for(Duration::from_secs(2));
        let at_b_host = room.clients[b]
            .1
            .players()
            .into_iter()
            .find(|p| p.actor == HOST_ACTOR)
            .and_then(|p| p.props.get(&b"ready"[..]).cloned());
        assert_eq!(at_b_host.as_deref(), Some(&b"1"[..]), "seed {seed}");
        // Leavers' numbers are not given again.
        let now = room.now;
        room.clients[a].1.leave(now);
        room.run_for(Duration::from_secs(2));
        let c = join(&mut room, "C");
        room.run_for(Duration::from_secs(2));
        let actor_c = room.clients[c].1.actor();
        assert!(
            actor_c > room.clients[b].1.actor(),
            "seed {seed}: {actor_c}"
        );
    }
}

#[test]
fn a_closed_or_full_room_refuses_with_its_own_reasons() {
    use propwash::proto::room::RoomSettings;
    use propwash::proto::RefuseReason;
    let cfg = HostConfig {
        settings: RoomSettings {
            max_players: 2,
            ..RoomSettings::default()
        },
        ..HostConfig::new(GAME, "Host")
    };
    let mut room = SimRoom::new(cfg, harsh(), 5);
    let a = join(&mut room, "A");
    let b = join(&mut room, "B");
    room.run_for(Duration::from_secs(3));
    let refusal = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
    };
    assert!(room.clients[a].1.actor() != 0);
    assert_eq!(
        refusal(&room.client_events[b]),
        Some(RefuseReason::GameFull)
    );
    room.host
        .set_props(SetProps {
            settings: SettingsChange {
                open: Some(false),
                max_players: Some(0),
                ..Default::default()
            },
            ..SetProps::default()
        })
        .unwrap();
    let c = join(&mut room, "C");
    room.run_for(Duration::from_secs(3));
    assert_eq!(
        refusal(&room.client_events[c]),
        Some(RefuseReason::GameClosed)
    );
    assert!(!room.clients[a].1.room().settings.open, "a mirror follows");
}

#[test]
fn per_tick_events_arrive_and_a_slot_keeps_its_newest() {
    for seed in SEEDS {
        let mut room = SimRoom::new(HostConfig::new(GAME, "Host"), harsh(), seed);
        let a = join(&mut room, "A");
        let b = join(&mut room, "B");
        room.run_for(Duration::from_secs(2));
        let actor_a = room.clients[a].1.actor();
        // A view's state at 60 Hz for two seconds, unreliable, one slot.
        for tick in 0..120u32 {
            room.clients[a]
                .1
                .raise(Raise {
                    code: 201,
                    slot: 77,
                    reliable: false,
                    payload: tick.to_be_bytes().to_vec(),
                    ..Raise::default()
                })
                .unwrap();
            room.run_for(Duration::from_micros(16_667));
        }
        room.run_for(Duration::from_secs(1));
        for events in [&room.client_events[b], &room.host_events] {
            let ticks: Vec<u32> = received(events)
                .into_iter()
                .filter(|e| e.0 == actor_a && e.1 == 201)
                .map(|e| e.2)
                .collect();
            // Unreliable: some are lost, none is invented; most arrive.
            assert!(ticks.len() >= 100, "seed {seed}: {} of 120", ticks.len());
            assert!(ticks.iter().all(|t| *t < 120));
            assert!(ticks.contains(&119) || ticks.contains(&118), "seed {seed}");
        }
        // Queued faster than it can go, a slot keeps only its newest.
        for tick in 1000..1010u32 {
            room.clients[a]
                .1
                .raise(Raise {
                    code: 201,
                    slot: 77,
                    reliable: false,
                    payload: tick.to_be_bytes().to_vec(),
                    ..Raise::default()
                })
                .unwrap();
        }
        room.run_for(Duration::from_secs(1));
        let late: Vec<u32> = received(&room.client_events[b])
            .into_iter()
            .filter(|e| e.1 == 201 && e.2 >= 1000)
            .map(|e| e.2)
            .collect();
        assert!(late.iter().all(|t| *t == 1009), "seed {seed}: {late:?}");
    }
}
