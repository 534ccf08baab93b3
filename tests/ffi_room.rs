//! The room's game-server side through the C ABI, on loopback: a room opened
//! with the game's properties and settings, joiners arriving with theirs,
//! the welcome's layout, cached events replayed to a late joiner, routing
//! by target actors and interest groups, the per-tick lane, check-and-set
//! with its refusal, the room closing to joiners; and every kind of bad
//! argument refused with a typed error before anything is queued.

use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use propwash::ffi::*;
use propwash::proto::room::{write_changes, PropChanges};
use propwash::proto::wire::Reader;

mod common;
use common::ffi::{changed_json, expect_err, last_error, player_json, props_json};

const GAME: &str = "ffi-room";
const WAIT: Duration = Duration::from_secs(5);

fn layout(pairs: &[(&str, Option<&str>)]) -> Vec<u8> {
    let changes: PropChanges = pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect();
    let mut out = Vec::new();
    write_changes(&mut out, &changes);
    out
}

fn host(room: &[u8], me: &[u8], max_players: u32) -> *mut PwSession {
    let mut o = std::mem::MaybeUninit::<PwHostOptions>::uninit();
    unsafe { pw_host_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.bind_addr = PwStr::new("127.0.0.1:0");
    o.game_version = PwStr::new(GAME);
    o.player_name = PwStr::new("Host");
    o.room_props = PwStr::from_bytes(room);
    o.player_props = PwStr::from_bytes(me);
    o.max_players = max_players;
    let mut h = null_mut();
    let r = unsafe { pw_session_host(&o, &mut h) };
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    h
}

fn port(s: *mut PwSession) -> u16 {
    let mut i = std::mem::MaybeUninit::<PwSessionInfo>::uninit();
    assert_eq!(unsafe { pw_session_info(s, i.as_mut_ptr()) }, PwResult::Ok);
    unsafe { i.assume_init() }.local_port
}

fn join(host: *mut PwSession, name: &str, me: &[u8]) -> *mut PwSession {
    let addr = format!("127.0.0.1:{}", port(host));
    let mut o = std::mem::MaybeUninit::<PwJoinOptions>::uninit();
    unsafe { pw_join_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.host_addr = PwStr::new(&addr);
    o.bind_addr = PwStr::new("127.0.0.1:0");
    o.game_version = PwStr::new(GAME);
    o.player_name = PwStr::new(name);
    o.player_props = PwStr::from_bytes(me);
    let mut s = null_mut();
    let r = unsafe { pw_session_join(&o, &mut s) };
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    s
}

fn poll(s: *mut PwSession) -> Option<(PwEvent, Vec<u8>)> {
    let mut buf = vec![0u8; 1 << 16];
    let mut ev = std::mem::MaybeUninit::<PwEvent>::uninit();
    let mut len = 0;
    let r =
        unsafe { pw_session_poll_event(s, ev.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut len) };
    match r {
        PwResult::Ok => Some((unsafe { ev.assume_init() }, buf[..len].to_vec())),
        PwResult::Empty => None,
        other => panic!("poll: {other:?} {}", last_error()),
    }
}

/// Every event `s` gets within `for_`, in order.
fn drain(s: *mut PwSession, for_: Duration) -> Vec<(PwEvent, Vec<u8>)> {
    let end = Instant::now() + for_;
    let mut all = Vec::new();
    while Instant::now() < end {
        while let Some(e) = poll(s) {
            all.push(e);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    all
}

/// Events until one matches (kept in `seen`), within 5 s.
fn until(
    s: *mut PwSession,
    seen: &mut Vec<(PwEvent, Vec<u8>)>,
    want: impl Fn(&PwEvent, &[u8]) -> bool,
) -> (PwEvent, Vec<u8>) {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        while let Some((e, d)) = poll(s) {
            seen.push((e, d.clone()));
            if want(&e, &d) {
                return (e, d);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!(
        "no such event within {WAIT:?}; saw {:?}",
        seen.iter().map(|e| e.0.kind).collect::<Vec<_>>()
    );
}

fn raise(
    s: *mut PwSession,
    o: PwRaiseOptions,
    targets: &[u32],
    keys: &[u8],
    payload: &[u8],
) -> PwResult {
    unsafe {
        pw_session_raise_event(
            s,
            &o,
            if targets.is_empty() {
                null()
            } else {
                targets.as_ptr()
            },
            targets.len(),
            PwStr::from_bytes(keys),
            payload.as_ptr(),
            payload.len(),
        )
    }
}

fn game_events(events: &[(PwEvent, Vec<u8>)]) -> Vec<(u32, u8, Vec<u8>)> {
    events
        .iter()
        .filter(|(e, _)| e.kind == PwEventKind::GameEvent)
        .map(|(e, d)| (e.actor, e.code, d.clone()))
        .collect()
}

/// WELCOMED's data: (us, master, [max, open, visible, cleanup], room props, players).
fn welcome(data: &[u8]) -> (u32, u32, [u8; 4], serde_json::Value, Vec<serde_json::Value>) {
    let mut r = Reader::new(data);
    let us = r.u32("us").unwrap();
    let master = r.u32("master").unwrap();
    let settings = *r.array::<4>("settings").unwrap();
    let rest = r.rest();
    // The room's props, then the players: find where the props end.
    let mut pr = Reader::new(rest);
    let props = propwash::proto::room::read_changes(&mut pr).unwrap();
    let used = rest.len() - pr.remaining();
    let room = props_json(&rest[..used]);
    let mut tail = &rest[used..];
    let n = u16::from_be_bytes([tail[0], tail[1]]);
    tail = &tail[2..];
    let mut players = Vec::new();
    for _ in 0..n {
        let (p, after) = player_json(tail);
        players.push(p);
        tail = after;
    }
    assert!(tail.is_empty());
    let _ = props;
    (us, master, settings, room, players)
}

#[test]
fn a_room_opens_with_the_games_state_and_serves_joiners_as_photons_server_would() {
    let h = host(
        &layout(&[("map", Some("MP-1"))]),
        &layout(&[("name", Some("Hank"))]),
        0,
    );
    let a = join(h, "A", &layout(&[("name", Some("Ann"))]));
    let mut at_a = Vec::new();
    let (w, data) = until(a, &mut at_a, |e, _| e.kind == PwEventKind::Welcomed);
    let (us, master, settings, room, players) = welcome(&data);
    assert_eq!((w.actor, w.master, us, master), (2, 1, 2, 1));
    assert_eq!(
        settings,
        [0, 1, 1, 1],
        "max players, open, visible, cleanup"
    );
    assert_eq!(room, serde_json::json!({"map": "MP-1"}));
    assert_eq!(players.len(), 2);
    assert_eq!(players[0]["props"], serde_json::json!({"name": "Hank"}));
    assert_eq!(
        players[1]["props"],
        serde_json::json!({"name": "Ann"}),
        "us, with ours"
    );
    // The host learns of A with A's properties.
    let mut at_h = Vec::new();
    let (_, joined) = until(h, &mut at_h, |e, _| {
        e.kind == PwEventKind::PlayerJoined && e.actor == 2
    });
    assert_eq!(
        player_json(&joined).0["props"],
        serde_json::json!({"name": "Ann"})
    );

    // Cached events, one removed by its filter key, then a late joiner.
    let cached = |code, caching| PwRaiseOptions {
        code,
        caching,
        reliable: true,
        ..Default::default()
    };
    let k = |v: u8| vec![1, 1, b'v', 1, v];
    assert_eq!(
        raise(h, cached(202, 4), &[], &k(1), b"host-view"),
        PwResult::Ok
    );
    assert_eq!(raise(a, cached(200, 4), &[], &k(2), b"rpc-1"), PwResult::Ok);
    assert_eq!(raise(a, cached(200, 4), &[], &k(3), b"rpc-2"), PwResult::Ok);
    assert_eq!(raise(a, cached(200, 6), &[], &k(2), b""), PwResult::Ok);
    // To one actor only (the host), and to all with the sender.
    assert_eq!(raise(a, cached(10, 0), &[1], &[], b"to-host"), PwResult::Ok);
    let all = PwRaiseOptions {
        receivers: 1,
        ..cached(11, 0)
    };
    assert_eq!(raise(a, all, &[], &[], b"to-all"), PwResult::Ok);
    // Interest group 9: only subscribers.
    assert_eq!(
        unsafe { pw_session_change_groups(h, PW_GROUPS_ADD, null(), 0, [9u8].as_ptr(), 1) },
        PwResult::Ok
    );
    std::thread::sleep(Duration::from_millis(100));
    let grouped = PwRaiseOptions {
        group: 9,
        ..cached(12, 0)
    };
    assert_eq!(raise(a, grouped, &[], &[], b"group-9"), PwResult::Ok);
    // The per-tick lane.
    let fast = PwRaiseOptions {
        code: 201,
        slot: 5,
        ..Default::default()
    };
    assert_eq!(raise(a, fast, &[], &[], b"view-state"), PwResult::Ok);
    let at_h_more = drain(h, Duration::from_millis(400));
    let got: Vec<(u32, u8, Vec<u8>)> = game_events(&at_h_more);
    for want in [
        (2, 200, b"rpc-1".to_vec()),
        (2, 10, b"to-host".to_vec()),
        (2, 11, b"to-all".to_vec()),
        (2, 12, b"group-9".to_vec()),
        (2, 201, b"view-state".to_vec()),
    ] {
        assert!(got.contains(&want), "the host got {want:?}: {got:?}");
    }
    let at_a_more = drain(a, Duration::from_millis(200));
    let mine = game_events(&at_a_more);
    assert!(
        mine.contains(&(2, 11, b"to-all".to_vec())),
        "All comes back to its sender: {mine:?}"
    );
    assert!(!mine.iter().any(|e| e.1 == 12 || e.1 == 10), "{mine:?}");

    let late = join(h, "Late", &[]);
    let mut at_late = Vec::new();
    until(late, &mut at_late, |e, _| e.kind == PwEventKind::Welcomed);
    at_late.extend(drain(late, Duration::from_millis(400)));
    let replay = game_events(&at_late);
    assert_eq!(
        replay,
        [(1, 202, b"host-view".to_vec()), (2, 200, b"rpc-2".to_vec())],
        "the cache, in order, without the removed RPC"
    );

    // Check-and-set: a stale expectation is refused with the request's id.
    let map = layout(&[("map", Some("MP-2"))]);
    let stale = layout(&[("map", Some("MP-0"))]);
    let r = unsafe {
        pw_session_set_properties(
            a,
            77,
            0,
            PwStr::from_bytes(&map),
            null(),
            PwStr::from_bytes(&stale),
            null(),
        )
    };
    assert_eq!(r, PwResult::Ok);
    let mut seen = Vec::new();
    let (refused, why) = until(a, &mut seen, |e, _| {
        e.kind == PwEventKind::PropertiesRefused
    });
    assert_eq!(refused.request, 77);
    assert!(
        String::from_utf8_lossy(&why).contains("check-and-set"),
        "{}",
        String::from_utf8_lossy(&why)
    );
    let fresh = layout(&[("map", Some("MP-1"))]);
    let r = unsafe {
        pw_session_set_properties(
            a,
            78,
            0,
            PwStr::from_bytes(&map),
            null(),
            PwStr::from_bytes(&fresh),
            null(),
        )
    };
    assert_eq!(r, PwResult::Ok);
    let (ch, data) = until(a, &mut seen, |e, _| {
        e.kind == PwEventKind::PropertiesChanged && e.cas
    });
    assert_eq!(
        (ch.actor, ch.target),
        (2, 0),
        "a check-and-set comes back to its setter"
    );
    assert_eq!(changed_json(&data), serde_json::json!({"map": "MP-2"}));
    // Our own player properties (PW_ACTOR_SELF), seen by the host.
    let ready = layout(&[("ready", Some("1"))]);
    let r = unsafe {
        pw_session_set_properties(
            late,
            1,
            PW_ACTOR_SELF,
            PwStr::from_bytes(&ready),
            null(),
            PwStr::empty(),
            null(),
        )
    };
    assert_eq!(r, PwResult::Ok);
    let (ch, data) = until(h, &mut at_h, |e, _| {
        e.kind == PwEventKind::PropertiesChanged && e.target == 3
    });
    assert_eq!((ch.actor, ch.cas), (3, false));
    assert_eq!(changed_json(&data), serde_json::json!({"ready": "1"}));

    // The host closes the room: the next joiner is refused with GAME_CLOSED.
    let closed = PwSettingsChange {
        mask: 2,
        open: false,
        ..Default::default()
    };
    let r = unsafe {
        pw_session_set_properties(h, 2, 0, PwStr::empty(), &closed, PwStr::empty(), null())
    };
    assert_eq!(r, PwResult::Ok);
    let (ch, data) = until(a, &mut seen, |e, _| {
        e.kind == PwEventKind::PropertiesChanged && e.actor == 1
    });
    assert_eq!(ch.target, 0);
    assert_eq!(
        &data[..4],
        [2, 0, 0, 0],
        "the settings change: open, now false"
    );
    let shut = join(h, "Shut", &[]);
    let mut at_shut = Vec::new();
    let (refusal, _) = until(shut, &mut at_shut, |e, _| e.kind == PwEventKind::Refused);
    assert_eq!(refusal.reason, PwRefuseReason::GameClosed as u32);
    for s in [shut, late, a, h] {
        unsafe { pw_session_free(s) };
    }
}

#[test]
fn bad_room_arguments_are_typed_errors_and_nothing_is_queued() {
    let h = host(&[], &[], 0);
    let ok = PwRaiseOptions {
        code: 1,
        reliable: true,
        ..Default::default()
    };
    let r = unsafe { pw_session_raise_event(h, null(), null(), 0, PwStr::empty(), null(), 0) };
    expect_err(r, PwResult::NullParameter, "options");
    for (o, needle) in [
        (PwRaiseOptions { caching: 3, ..ok }, "caching 3"),
        (PwRaiseOptions { receivers: 9, ..ok }, "receivers 9"),
    ] {
        expect_err(
            raise(h, o, &[], &[], b""),
            PwResult::InvalidArgument,
            needle,
        );
    }
    let many = vec![2u32; 65];
    expect_err(
        raise(h, ok, &many, &[], b""),
        PwResult::InvalidArgument,
        "65 target actors",
    );
    let r = unsafe { pw_session_raise_event(h, &ok, null(), 1, PwStr::empty(), null(), 0) };
    expect_err(r, PwResult::NullParameter, "targets");
    for keys in [&[1u8][..], &[1, 5, 1], &[17], &[1, 0, 0, 0]] {
        expect_err(
            raise(h, ok, &[], keys, b""),
            PwResult::InvalidArgument,
            "filter-keys",
        );
    }
    let big = vec![0u8; PW_MAX_EVENT_PAYLOAD + 1];
    expect_err(
        raise(h, ok, &[], &[], &big),
        PwResult::EventTooLarge,
        "exceeds",
    );

    let good = layout(&[("k", Some("v"))]);
    let mut trailing = good.clone();
    trailing.push(0);
    for (bytes, needle) in [
        (&good[..good.len() - 1], "props layout"),
        (&trailing[..], "after its last property"),
        (&[0u8, 1, 0, 0, 0, 0][..], "props layout"),
    ] {
        let r = unsafe {
            pw_session_set_properties(
                h,
                0,
                0,
                PwStr::from_bytes(bytes),
                null(),
                PwStr::empty(),
                null(),
            )
        };
        expect_err(r, PwResult::InvalidArgument, needle);
    }
    let odd = PwSettingsChange {
        mask: 0x10,
        ..Default::default()
    };
    let r =
        unsafe { pw_session_set_properties(h, 0, 0, PwStr::empty(), &odd, PwStr::empty(), null()) };
    expect_err(r, PwResult::InvalidArgument, "mask");
    let nobody = PwSettingsChange {
        mask: 8,
        master: 0,
        ..Default::default()
    };
    let r = unsafe {
        pw_session_set_properties(h, 0, 0, PwStr::empty(), &nobody, PwStr::empty(), null())
    };
    expect_err(r, PwResult::InvalidArgument, "master client");
    let open = PwSettingsChange {
        mask: 2,
        open: true,
        ..Default::default()
    };
    let r = unsafe {
        pw_session_set_properties(h, 0, 2, PwStr::empty(), &open, PwStr::empty(), null())
    };
    expect_err(r, PwResult::InvalidArgument, "belong to the room");
    let r = unsafe { pw_session_change_groups(h, 4, null(), 0, null(), 0) };
    expect_err(r, PwResult::InvalidArgument, "flags");
    let groups = [1u8; 256];
    let r = unsafe { pw_session_change_groups(h, PW_GROUPS_ADD, null(), 0, groups.as_ptr(), 256) };
    expect_err(r, PwResult::InvalidArgument, "255");
    let r = unsafe { pw_session_change_groups(h, PW_GROUPS_ADD, null(), 0, null(), 3) };
    expect_err(r, PwResult::NullParameter, "add");
    // Host options that are not a props layout, or remove what is not there.
    let mut o = std::mem::MaybeUninit::<PwHostOptions>::uninit();
    unsafe { pw_host_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.bind_addr = PwStr::new("127.0.0.1:0");
    let removal = layout(&[("k", None)]);
    o.room_props = PwStr::from_bytes(&removal);
    let mut s = null_mut();
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "removes a key",
    );
    o.room_props = PwStr::empty();
    o.max_players = 256;
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "max_players 256",
    );
    assert!(s.is_null(), "nothing was opened");
    // None of the refused calls reached the room.
    assert!(drain(h, Duration::from_millis(200))
        .iter()
        .all(|(e, _)| e.kind != PwEventKind::PropertiesChanged
            && e.kind != PwEventKind::GameEvent
            && e.kind != PwEventKind::RequestFailed));
    unsafe { pw_session_free(h) };
}
