//! The C ABI driven from Rust exactly as the game's plugin drives it: two
//! sessions on loopback through `pw_*` calls only, a custom track shared
//! from the host's folder into a joiner's maps folder, then every kind of
//! bad input a careless caller can hand in. Every wait is bounded (5 s).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::UdpSocket;
use std::path::Path;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use propwash::ffi::*;
use propwash::proto::{PilotFrame, PilotInput};
use propwash::runtime::PilotState;
use propwash::track::{generate_track, verify_dir, Limits};

mod common;
use common::ffi::{changed_json, expect_err, last_error, path_str, player_json};
use common::scratch::Scratch;

const GAME: &str = "drl-ffi-test";
const WAIT: Duration = Duration::from_secs(5);

/// Counts allocations per thread, to prove the per-tick calls allocate nothing.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    // During thread teardown the counter may be gone; those are not ours.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn frame(tick: u32, x: f32) -> PilotFrame {
    PilotFrame {
        tick,
        position: [x, 2.0, -3.0],
        rotation: [0.0, 0.0, 0.0, 1.0],
        velocity: [1.0, 0.0, 0.0],
        angular_velocity: [0.0, 0.5, 0.0],
        input: PilotInput {
            throttle: 0.5,
            yaw: 0.25,
            pitch: -0.25,
            roll: 0.0,
            buttons: 1,
        },
    }
}

fn host_options(bind: &str) -> PwHostOptions {
    let mut o = std::mem::MaybeUninit::<PwHostOptions>::uninit();
    unsafe { pw_host_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.bind_addr = PwStr::new(bind);
    o.game_version = PwStr::new(GAME);
    o.player_name = PwStr::new("Host");
    o
}

fn join_options(host_addr: &str) -> PwJoinOptions {
    let mut o = std::mem::MaybeUninit::<PwJoinOptions>::uninit();
    unsafe { pw_join_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.host_addr = PwStr::new(host_addr);
    o.bind_addr = PwStr::new("127.0.0.1:0");
    o.game_version = PwStr::new(GAME);
    o.player_name = PwStr::new("Pilot");
    o
}

fn info(s: *mut PwSession) -> PwSessionInfo {
    let mut i = std::mem::MaybeUninit::<PwSessionInfo>::uninit();
    assert_eq!(unsafe { pw_session_info(s, i.as_mut_ptr()) }, PwResult::Ok);
    unsafe { i.assume_init() }
}

fn host() -> *mut PwSession {
    let o = host_options("127.0.0.1:0");
    let mut h = null_mut();
    let r = unsafe { pw_session_host(&o, &mut h) };
    assert_eq!(r, PwResult::Ok, "host: {}", last_error());
    assert!(!h.is_null());
    // A host's clock is its own: synced from the first call, not from the
    // network thread's first publish.
    assert!(info(h).clock_synced, "a new host's clock is synced at once");
    h
}

/// Joins `host` as a pilot whose maps folder (and cache) take the room's track.
fn join_with_maps(
    host: *mut PwSession,
    maps: &str,
    cache: &str,
) -> Result<*mut PwSession, PwResult> {
    let addr = format!("127.0.0.1:{}", info(host).local_port);
    let mut o = join_options(&addr);
    o.maps_dir = PwStr::new(maps);
    o.track_cache_dir = PwStr::new(cache);
    let mut c = null_mut();
    match unsafe { pw_session_join(&o, &mut c) } {
        PwResult::Ok => Ok(c),
        r => Err(r),
    }
}

fn join(host: *mut PwSession) -> *mut PwSession {
    let addr = format!("127.0.0.1:{}", info(host).local_port);
    let o = join_options(&addr);
    let mut c = null_mut();
    let r = unsafe { pw_session_join(&o, &mut c) };
    assert_eq!(r, PwResult::Ok, "join: {}", last_error());
    c
}

/// Polls one event with a buffer big enough for anything.
fn poll(s: *mut PwSession) -> Option<(PwEvent, Vec<u8>)> {
    let mut ev = std::mem::MaybeUninit::<PwEvent>::uninit();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0usize;
    let r =
        unsafe { pw_session_poll_event(s, ev.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut len) };
    match r {
        PwResult::Ok => {
            let ev = unsafe { ev.assume_init() };
            assert_eq!(ev.data_len, len);
            buf.truncate(len);
            Some((ev, buf))
        }
        PwResult::Empty => None,
        other => panic!("poll_event: {other:?} {}", last_error()),
    }
}

/// Polls until an event matches (others are skipped), for at most 5 s.
fn wait_event(
    s: *mut PwSession,
    mut want: impl FnMut(&PwEvent, &[u8]) -> bool,
) -> Option<(PwEvent, Vec<u8>)> {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        while let Some((ev, data)) = poll(s) {
            if want(&ev, &data) {
                return Some((ev, data));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn read_pilots(s: *mut PwSession) -> Vec<PilotState> {
    let mut out = [PilotState::default(); PW_MAX_PILOTS];
    let mut n = usize::MAX;
    let r = unsafe { pw_session_read_pilots(s, out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, PwResult::Ok);
    out[..n].to_vec()
}

fn room_property(s: *mut PwSession, key: &str) -> Option<String> {
    let mut buf = [0u8; 256];
    let mut len = 0usize;
    match unsafe {
        pw_session_get_room_property(s, PwStr::new(key), buf.as_mut_ptr(), buf.len(), &mut len)
    } {
        PwResult::Ok => Some(String::from_utf8(buf[..len].to_vec()).unwrap()),
        PwResult::Empty => None,
        other => panic!("get_room_property: {other:?} {}", last_error()),
    }
}

/// A host and a welcomed pilot; both freed on drop.
struct Room {
    host: *mut PwSession,
    pilot: *mut PwSession,
}

impl Room {
    fn new() -> Room {
        let host = host();
        let pilot = join(host);
        let (welcome, _) = wait_event(pilot, |e, _| e.kind == PwEventKind::Welcomed)
            .expect("the pilot is welcomed within 5 s");
        assert_eq!((welcome.actor, welcome.role), (2, PwRole::Pilot));
        Room { host, pilot }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        unsafe {
            pw_session_free(self.pilot);
            pw_session_free(self.host);
        }
    }
}

#[test]
fn host_and_pilot_share_frames_events_properties_and_stats_through_the_abi() {
    let room = Room::new();
    let (h, p) = (room.host, room.pilot);

    let hi = info(h);
    assert!(hi.is_host);
    assert_eq!(
        (hi.state, hi.actor, hi.role),
        (PwSessionState::Connected, 1, PwRole::Pilot)
    );
    assert_ne!(hi.local_port, 0);
    let pi = info(p);
    assert!(!pi.is_host);
    assert_eq!((pi.state, pi.actor), (PwSessionState::Connected, 2));

    // The host learns of the pilot, with its record.
    let (joined, data) = wait_event(h, |e, _| {
        e.kind == PwEventKind::PlayerJoined && e.actor == 2
    })
    .expect("host sees the pilot join");
    assert_eq!(joined.role, PwRole::Pilot);
    let (player, rest) = player_json(&data);
    assert!(rest.is_empty());
    assert_eq!(player["name"], "Pilot");
    assert_eq!(player["actor"], 2);

    // Frames both ways.
    for tick in 1..=60u32 {
        assert_eq!(
            unsafe { pw_session_push_local(h, &frame(tick, tick as f32)) },
            PwResult::Ok
        );
        assert_eq!(
            unsafe { pw_session_push_local(p, &frame(tick, -(tick as f32))) },
            PwResult::Ok
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        wait_until(|| read_pilots(p)
            .iter()
            .any(|s| s.actor == 1 && s.frame.tick == 60)),
        "the pilot sees the host's last tick"
    );
    assert!(
        wait_until(|| read_pilots(h)
            .iter()
            .any(|s| s.actor == 2 && s.frame.tick == 60)),
        "the host sees the pilot's last tick"
    );
    let seen = read_pilots(p);
    assert_eq!(seen.len(), 1);
    assert!((seen[0].frame.position[0] - 60.0).abs() < 0.002);
    assert!((seen[0].frame.input.throttle - 0.5).abs() < 0.01);
    let on_host = read_pilots(h);
    assert!((on_host[0].frame.position[0] + 60.0).abs() < 0.002);

    // Interpolated reads: default delay and an explicit one.
    let mut out = [PilotState::default(); PW_MAX_PILOTS];
    let mut n = 0usize;
    for delay in [-1.0, 0.0, 50.0] {
        let r = unsafe {
            pw_session_read_pilots_interpolated(p, delay, out.as_mut_ptr(), out.len(), &mut n)
        };
        assert_eq!((r, n), (PwResult::Ok, 1), "delay {delay}");
        assert_eq!(out[0].actor, 1);
    }

    // A game event, pilot to host.
    let r =
        unsafe { pw_session_send_event(p, 42, PwEventTarget::Host as u32, 0, b"go".as_ptr(), 2) };
    assert_eq!(r, PwResult::Ok);
    let (ev, data) = wait_event(h, |e, _| e.kind == PwEventKind::GameEvent)
        .expect("host receives the game event");
    assert_eq!((ev.code, ev.actor, data.as_slice()), (42, 2, &b"go"[..]));
    // And host to one actor, with an empty payload (NULL is fine for len 0).
    let r = unsafe { pw_session_send_event(h, 7, PwEventTarget::Actor as u32, 2, null(), 0) };
    assert_eq!(r, PwResult::Ok);
    let (ev, data) = wait_event(p, |e, _| e.kind == PwEventKind::GameEvent)
        .expect("pilot receives the targeted event");
    assert_eq!((ev.code, ev.actor, data.len()), (7, 1, 0));

    // Room properties: everyone sees the change.
    let r = unsafe {
        pw_session_set_room_property(h, PwStr::new("track"), PwStr::new("CMP-123"), false)
    };
    assert_eq!(r, PwResult::Ok);
    let (_, changes) = wait_event(p, |e, _| e.kind == PwEventKind::PropertiesChanged)
        .expect("pilot is told of the room change");
    assert_eq!(
        changed_json(&changes),
        serde_json::json!({"track": "CMP-123"})
    );
    assert!(wait_until(
        || room_property(p, "track").as_deref() == Some("CMP-123")
    ));
    assert_eq!(room_property(p, "absent"), None, "absent is EMPTY");
    let r = unsafe { pw_session_set_room_property(h, PwStr::new("track"), PwStr::empty(), true) };
    assert_eq!(r, PwResult::Ok);
    let (_, removed) = wait_event(p, |e, _| e.kind == PwEventKind::PropertiesChanged)
        .expect("pilot is told of the removal");
    assert_eq!(changed_json(&removed), serde_json::json!({"track": null}));

    // Several at once: one change event with all of them, like Photon's
    // SetCustomProperties; all of the room as one JSON object.
    let r = unsafe {
        pw_session_set_room_properties_json(
            h,
            PwStr::new(r#"{"map":"MP-1","laps":"3","gone":null}"#),
        )
    };
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    let (_, changes) = wait_event(p, |e, _| e.kind == PwEventKind::PropertiesChanged)
        .expect("pilot is told of the changes");
    assert_eq!(
        changed_json(&changes),
        serde_json::json!({"map": "MP-1", "laps": "3", "gone": null}),
        "one event carries every key"
    );
    let room_json = |s: *mut PwSession| {
        let mut buf = vec![0u8; 4096];
        let mut len = 0;
        let r =
            unsafe { pw_session_room_properties_json(s, buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(r, PwResult::Ok);
        serde_json::from_slice::<serde_json::Value>(&buf[..len]).unwrap()
    };
    assert!(wait_until(
        || room_json(p) == serde_json::json!({"map": "MP-1", "laps": "3"})
    ));
    let mut needed = 0;
    let r = unsafe { pw_session_room_properties_json(p, null_mut(), 0, &mut needed) };
    assert_eq!((r, needed), (PwResult::BufferTooSmall, 25));
    for (json, needle) in [
        ("[1,2]", "object"),
        (r#"{"k":5}"#, "string or null"),
        (r#"{"":"v"}"#, "key must be"),
        ("not json", "changes_json"),
    ] {
        let r = unsafe { pw_session_set_room_properties_json(h, PwStr::new(json)) };
        expect_err(r, PwResult::InvalidArgument, needle);
    }
    let many: serde_json::Map<String, serde_json::Value> =
        (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
    let many = serde_json::Value::Object(many).to_string();
    let r = unsafe { pw_session_set_room_properties_json(h, PwStr::new(&many)) };
    expect_err(r, PwResult::InvalidArgument, "at most 64");
    let r = unsafe {
        pw_session_set_player_properties_json(p, PwStr::new(r#"{"car":"7","skin":"blue"}"#))
    };
    assert_eq!(r, PwResult::Ok);
    let (ev, changes) = wait_event(h, |e, _| {
        e.kind == PwEventKind::PropertiesChanged && e.target == 2
    })
    .expect("host is told of the player's changes");
    assert_eq!((ev.actor, ev.target, ev.cas), (2, 2, false));
    assert_eq!(
        changed_json(&changes),
        serde_json::json!({"car": "7", "skin": "blue"})
    );
    let r = unsafe {
        pw_session_set_room_properties_json(h, PwStr::new(r#"{"map":null,"laps":null}"#))
    };
    assert_eq!(r, PwResult::Ok);
    assert!(wait_until(|| room_json(p) == serde_json::json!({})));

    // Player properties: set our own, read anyone's.
    let r =
        unsafe { pw_session_set_player_property(p, PwStr::new("skin"), PwStr::new("red"), false) };
    assert_eq!(r, PwResult::Ok);
    let player_prop = |s: *mut PwSession, actor: u32| {
        let mut buf = [0u8; 64];
        let mut len = 0;
        let r = unsafe {
            pw_session_get_player_property(
                s,
                actor,
                PwStr::new("skin"),
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
            )
        };
        (r == PwResult::Ok).then(|| String::from_utf8(buf[..len].to_vec()).unwrap())
    };
    assert!(wait_until(|| player_prop(h, 2).as_deref() == Some("red")));
    assert!(
        wait_until(|| player_prop(p, 0).as_deref() == Some("red")),
        "actor 0 is us"
    );
    assert_eq!(player_prop(h, 9), None, "no such player is EMPTY");

    // The player list as JSON.
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    let r = unsafe { pw_session_players_json(h, buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(r, PwResult::Ok);
    let players: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
    let names: Vec<&str> = players
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Host", "Pilot"]);

    // Statistics and the shared clock.
    let mut stats = [PwPeerStats {
        actor: 0,
        role: PwRole::Unknown,
        rtt_ms: 0.0,
        loss: 0.0,
        last_tick: 0,
        packets_sent: 0,
        packets_received: 0,
        packets_lost: 0,
        bytes_sent: 0,
        bytes_received: 0,
        inputs_recovered: 0,
    }; PW_MAX_PEERS];
    let mut n = 0usize;
    assert!(wait_until(|| {
        let r = unsafe { pw_session_stats(h, stats.as_mut_ptr(), stats.len(), &mut n) };
        r == PwResult::Ok && n == 1 && stats[0].last_tick == 60
    }));
    assert_eq!((stats[0].actor, stats[0].role), (2, PwRole::Pilot));
    assert!(stats[0].packets_sent > 0 && stats[0].packets_received > 0);
    assert!(stats[0].bytes_received > 0);
    assert!(wait_until(|| {
        let r = unsafe { pw_session_stats(p, stats.as_mut_ptr(), stats.len(), &mut n) };
        r == PwResult::Ok && n == 1 && stats[0].packets_received > 0
    }));
    // Counters: datagrams came, none forged; what waits for the game is
    // counted and nothing was dropped.
    let counters = |s: *mut PwSession| {
        let mut c = PwSessionCounters::default();
        assert_eq!(unsafe { pw_session_counters(s, &mut c) }, PwResult::Ok);
        c
    };
    for s in [h, p] {
        let c = counters(s);
        assert!(c.received > 0, "{c:?}");
        assert_eq!((c.unsealed_dropped, c.events_dropped), (0, 0), "{c:?}");
        while poll(s).is_some() {}
        assert_eq!(counters(s).events_queued, 0);
    }
    assert_eq!(
        unsafe { pw_session_send_event(h, 9, 0, 0, null(), 0) },
        PwResult::Ok
    );
    assert!(wait_until(|| counters(p).events_queued == 1));

    let mut host_t = 0.0f64;
    assert_eq!(
        unsafe { pw_session_host_time(h, &mut host_t) },
        PwResult::Ok
    );
    assert!(host_t > 0.2, "host clock runs: {host_t}");
    assert!(
        wait_until(|| info(p).clock_synced),
        "the pilot's clock syncs"
    );
    let mut pilot_t = 0.0f64;
    assert_eq!(
        unsafe { pw_session_host_time(h, &mut host_t) },
        PwResult::Ok
    );
    assert_eq!(
        unsafe { pw_session_host_time(p, &mut pilot_t) },
        PwResult::Ok
    );
    assert!(
        (pilot_t - host_t).abs() < 0.1,
        "pilot's estimate {pilot_t} near host {host_t}"
    );
    // Following is a spectator's call; a host ignores it.
    assert_eq!(unsafe { pw_session_follow(h, 2) }, PwResult::Ok);

    // Leaving: the host sees the pilot go; the pilot's session closes.
    assert_eq!(unsafe { pw_session_leave(p) }, PwResult::Ok);
    let (left, _) =
        wait_event(h, |e, _| e.kind == PwEventKind::PlayerLeft).expect("host sees the pilot leave");
    assert_eq!((left.actor, left.reason), (2, PwCloseReason::Left as u32));
    let (closed, _) =
        wait_event(p, |e, _| e.kind == PwEventKind::Closed).expect("pilot's session closes");
    assert_eq!(closed.reason, PwCloseReason::Left as u32);
    assert!(wait_until(|| info(p).state == PwSessionState::Closed));
    assert_eq!(info(p).close_reason, PwCloseReason::Left);
    let r = unsafe { pw_session_set_player_property(p, PwStr::new("k"), PwStr::new("v"), false) };
    expect_err(r, PwResult::Closed, "closed");
}

#[test]
fn null_pointers_are_refused_and_outputs_stay_untouched() {
    let h = host();
    let o = host_options("127.0.0.1:0");
    let j = join_options("127.0.0.1:9");
    let sentinel = 0x5a5a as *mut PwSession;
    let mut out = sentinel;
    let n = PwResult::NullParameter;

    expect_err(unsafe { pw_session_host(null(), &mut out) }, n, "`options`");
    expect_err(unsafe { pw_session_host(&o, null_mut()) }, n, "`out`");
    expect_err(unsafe { pw_session_join(null(), &mut out) }, n, "`options`");
    expect_err(unsafe { pw_session_join(&j, null_mut()) }, n, "`out`");
    assert_eq!(out, sentinel, "no handle written on failure");

    let mut i = std::mem::MaybeUninit::<PwSessionInfo>::uninit();
    expect_err(
        unsafe { pw_session_info(null_mut(), i.as_mut_ptr()) },
        n,
        "`session`",
    );
    expect_err(unsafe { pw_session_info(h, null_mut()) }, n, "`out`");
    expect_err(
        unsafe { pw_session_push_local(null_mut(), &frame(1, 0.0)) },
        n,
        "`session`",
    );
    expect_err(unsafe { pw_session_push_local(h, null()) }, n, "`frame`");
    expect_err(unsafe { pw_session_leave(null_mut()) }, n, "`session`");
    expect_err(unsafe { pw_session_follow(null_mut(), 0) }, n, "`session`");

    let mut pilots = [PilotState::default(); 2];
    let mut count = 77usize;
    expect_err(
        unsafe { pw_session_read_pilots(h, null_mut(), 4, &mut count) },
        n,
        "`out`",
    );
    expect_err(
        unsafe { pw_session_read_pilots(h, pilots.as_mut_ptr(), 2, null_mut()) },
        n,
        "`out_count`",
    );
    expect_err(
        unsafe {
            pw_session_read_pilots_interpolated(
                null_mut(),
                -1.0,
                pilots.as_mut_ptr(),
                2,
                &mut count,
            )
        },
        n,
        "`session`",
    );
    assert_eq!(count, 77, "no count written on failure");
    // NULL with capacity 0 is allowed: a room with no remote pilot yet has 0.
    let r = unsafe { pw_session_read_pilots(h, null_mut(), 0, &mut count) };
    assert_eq!((r, count), (PwResult::Ok, 0));

    let mut ev = std::mem::MaybeUninit::<PwEvent>::uninit();
    let mut buf = [0u8; 16];
    let mut len = 99usize;
    expect_err(
        unsafe { pw_session_poll_event(h, null_mut(), buf.as_mut_ptr(), 16, &mut len) },
        n,
        "`out`",
    );
    expect_err(
        unsafe { pw_session_poll_event(h, ev.as_mut_ptr(), null_mut(), 16, &mut len) },
        n,
        "`buf`",
    );
    expect_err(
        unsafe { pw_session_poll_event(h, ev.as_mut_ptr(), buf.as_mut_ptr(), 16, null_mut()) },
        n,
        "`out_len`",
    );
    assert_eq!(len, 99);
    expect_err(
        unsafe { pw_session_send_event(h, 1, 0, 0, null(), 5) },
        n,
        "`payload`",
    );
    let null_key = PwStr {
        ptr: null(),
        len: 3,
    };
    expect_err(
        unsafe { pw_session_get_room_property(h, null_key, buf.as_mut_ptr(), 16, &mut len) },
        n,
        "`key`",
    );
    expect_err(
        unsafe { pw_session_set_room_property(h, PwStr::new("k"), null_key, false) },
        n,
        "`value`",
    );
    expect_err(
        unsafe {
            pw_session_get_player_property(h, 1, PwStr::new("k"), buf.as_mut_ptr(), 16, null_mut())
        },
        n,
        "`out_len`",
    );
    expect_err(
        unsafe { pw_session_players_json(h, null_mut(), 16, &mut len) },
        n,
        "`buf`",
    );
    expect_err(
        unsafe { pw_session_host_time(h, null_mut()) },
        n,
        "`out_seconds`",
    );
    expect_err(
        unsafe { pw_session_stats(h, null_mut(), 3, &mut count) },
        n,
        "`out`",
    );
    expect_err(unsafe { pw_session_counters(h, null_mut()) }, n, "`out`");
    let mut c = PwSessionCounters::default();
    expect_err(
        unsafe { pw_session_counters(null_mut(), &mut c) },
        n,
        "`session`",
    );
    assert_eq!(c, PwSessionCounters::default(), "output untouched");
    expect_err(unsafe { pw_log_read(null_mut(), 8, &mut len) }, n, "`buf`");

    // The functions that report errors refuse NULL without replacing the
    // last error they are there to report.
    let before = last_error();
    assert_eq!(
        unsafe { pw_result_message(0, buf.as_mut_ptr(), 16, null_mut()) },
        n
    );
    assert_eq!(unsafe { pw_last_error(null_mut(), 16, &mut len) }, n);
    assert_eq!(last_error(), before);

    // Void functions take NULL quietly.
    unsafe {
        pw_session_free(null_mut());
        pw_host_options_default(null_mut());
        pw_join_options_default(null_mut());
        pw_session_free(h);
    }
}

#[test]
fn a_freed_handle_is_reported_not_undefined() {
    let h = host();
    unsafe { pw_session_free(h) };
    let bad = PwResult::InvalidHandle;
    let mut i = std::mem::MaybeUninit::<PwSessionInfo>::uninit();
    expect_err(unsafe { pw_session_info(h, i.as_mut_ptr()) }, bad, "freed");
    expect_err(
        unsafe { pw_session_push_local(h, &frame(1, 0.0)) },
        bad,
        "freed",
    );
    expect_err(unsafe { pw_session_leave(h) }, bad, "freed");
    expect_err(
        unsafe { pw_session_send_event(h, 1, 0, 0, b"x".as_ptr(), 1) },
        bad,
        "freed",
    );
    let mut buf = [0u8; 16];
    let mut len = 0usize;
    let mut ev = std::mem::MaybeUninit::<PwEvent>::uninit();
    expect_err(
        unsafe { pw_session_poll_event(h, ev.as_mut_ptr(), buf.as_mut_ptr(), 16, &mut len) },
        bad,
        "freed",
    );
    expect_err(
        unsafe { pw_session_get_room_property(h, PwStr::new("k"), buf.as_mut_ptr(), 16, &mut len) },
        bad,
        "freed",
    );
    let mut t = 0.0;
    expect_err(unsafe { pw_session_host_time(h, &mut t) }, bad, "freed");
    // A second free is detected and does not crash.
    unsafe { pw_session_free(h) };
    assert!(last_error().contains("already freed"), "{}", last_error());
    // The port is released: the network threads end on their own.
    let port = {
        let o = host_options("127.0.0.1:0");
        let mut s = null_mut();
        assert_eq!(unsafe { pw_session_host(&o, &mut s) }, PwResult::Ok);
        let port = info(s).local_port;
        unsafe { pw_session_free(s) };
        port
    };
    assert!(
        wait_until(|| UdpSocket::bind(("127.0.0.1", port)).is_ok()),
        "a freed session's socket is closed within 5 s"
    );
}

#[test]
fn bad_strings_addresses_and_ranges_are_typed_errors() {
    let mut s = null_mut();
    let bad_utf8: &[u8] = &[b'd', 0xff, 0xfe];

    let mut o = host_options("127.0.0.1:0");
    o.game_version = PwStr::from_bytes(bad_utf8);
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidUtf8,
        "`options.game_version` is not valid UTF-8 (bad byte at offset 1)",
    );

    type Breaker = fn(&mut PwHostOptions);
    let cases: [(Breaker, &str); 6] = [
        (
            |o| o.pilot_hz = 5,
            "pilot_hz 5 is out of range (allowed 10 to 240 Hz)",
        ),
        (
            |o| o.pilot_hz = 241,
            "pilot_hz 241 is out of range (allowed 10 to 240 Hz)",
        ),
        (
            |o| o.spectator_hz = 0,
            "spectator_hz 0 is out of range (allowed 10 to 240 Hz)",
        ),
        (
            |o| o.max_pilots = 0,
            "max_pilots 0 is out of range (allowed 1 to 6)",
        ),
        (
            |o| o.max_pilots = 7,
            "max_pilots 7 is out of range (allowed 1 to 6)",
        ),
        (
            |o| o.max_spectators = 16,
            "max_spectators 16 is out of range (allowed 0 to 15)",
        ),
    ];
    for (break_it, message) in cases {
        let mut o = host_options("127.0.0.1:0");
        break_it(&mut o);
        expect_err(
            unsafe { pw_session_host(&o, &mut s) },
            PwResult::InvalidArgument,
            message,
        );
    }

    let mut j = join_options("127.0.0.1:5056");
    j.send_hz = 9;
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::InvalidArgument,
        "send_hz 9 is out of range (allowed 10 to 240 Hz)",
    );
    let mut j = join_options("127.0.0.1:5056");
    j.role = 7;
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::InvalidArgument,
        "role 7",
    );
    let mut j = join_options("127.0.0.1:5056");
    j.player_name = PwStr::from_bytes(bad_utf8);
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::InvalidUtf8,
        "`options.player_name`",
    );

    for (addr, needle) in [
        ("", "`options.host_addr` is empty"),
        ("localhost:5056", "\"localhost:5056\" is not an address"),
        ("127.0.0.1", "\"127.0.0.1\" is not an address"),
        ("10.0.0.1:99999", "\"10.0.0.1:99999\""),
    ] {
        let j = join_options(addr);
        expect_err(
            unsafe { pw_session_join(&j, &mut s) },
            PwResult::AddressInvalid,
            needle,
        );
    }
    let o = host_options("0.0.0.0");
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::AddressInvalid,
        "`options.bind_addr`",
    );

    // A port someone else holds: the OS error comes through.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = host_options(&addr);
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::BindFailed,
        &format!("could not open a UDP socket on {addr}: "),
    );
    assert!(last_error().contains("os error"), "{}", last_error());
    assert!(s.is_null(), "no handle on any failure");

    // Per-call arguments on a live session.
    let h = host();
    let big = vec![0u8; PW_MAX_EVENT_PAYLOAD + 1];
    expect_err(
        unsafe { pw_session_send_event(h, 1, 0, 0, big.as_ptr(), big.len()) },
        PwResult::EventTooLarge,
        "event payload of 16385 bytes exceeds the 16384 byte limit",
    );
    let exact = vec![0u8; PW_MAX_EVENT_PAYLOAD];
    assert_eq!(
        unsafe { pw_session_send_event(h, 1, 0, 0, exact.as_ptr(), exact.len()) },
        PwResult::Ok,
        "16 KiB exactly is allowed"
    );
    expect_err(
        unsafe { pw_session_send_event(h, 1, 9, 0, null(), 0) },
        PwResult::InvalidArgument,
        "target 9 is not a PwEventTarget",
    );
    expect_err(
        unsafe { pw_session_send_event(h, 1, PwEventTarget::Actor as u32, 0, null(), 0) },
        PwResult::InvalidArgument,
        "non-zero actor",
    );
    expect_err(
        unsafe {
            pw_session_set_room_property(h, PwStr::from_bytes(bad_utf8), PwStr::new("v"), false)
        },
        PwResult::InvalidUtf8,
        "`key` is not valid UTF-8",
    );
    expect_err(
        unsafe {
            pw_session_set_player_property(h, PwStr::new("k"), PwStr::from_bytes(bad_utf8), false)
        },
        PwResult::InvalidUtf8,
        "`value` is not valid UTF-8",
    );
    // With `remove`, the value is not read at all.
    assert_eq!(
        unsafe {
            pw_session_set_room_property(h, PwStr::new("k"), PwStr::from_bytes(bad_utf8), true)
        },
        PwResult::Ok
    );
    expect_err(
        unsafe { pw_session_set_room_property(h, PwStr::empty(), PwStr::new("v"), false) },
        PwResult::InvalidArgument,
        "key must be 1 to 1024 bytes",
    );
    let long = "v".repeat(PW_MAX_PROPERTY_BYTES + 1);
    expect_err(
        unsafe { pw_session_set_room_property(h, PwStr::new("k"), PwStr::new(&long), false) },
        PwResult::InvalidArgument,
        "at most 4096 are allowed",
    );
    let mut pilots = [PilotState::default(); 1];
    let mut n = 0;
    expect_err(
        unsafe { pw_session_read_pilots_interpolated(h, f64::NAN, pilots.as_mut_ptr(), 1, &mut n) },
        PwResult::InvalidArgument,
        "delay_ms NaN",
    );
    expect_err(
        pw_log_set_level(5),
        PwResult::InvalidArgument,
        "log level 5 is out of range",
    );
    unsafe { pw_session_free(h) };

    // Every code has a message, and so does a number that is no code.
    let mut buf = [0u8; 128];
    let mut len = 0;
    for code in [
        0u32, 1, 2, 3, 4, 5, 6, 100, 101, 102, 103, 104, 200, 201, 900,
    ] {
        let r = unsafe { pw_result_message(code, buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(r, PwResult::Ok);
        assert!(
            len > 5
                && !std::str::from_utf8(&buf[..len])
                    .unwrap()
                    .contains("unknown")
        );
    }
    let r = unsafe { pw_result_message(12345, buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(r, PwResult::Ok);
    assert_eq!(&buf[..len], b"unknown result code 12345");
}

#[test]
fn small_buffers_get_the_needed_size_and_nothing_is_lost() {
    let room = Room::new();
    let (h, p) = (room.host, room.pilot);
    // Let membership events settle, then drain them.
    assert!(wait_event(h, |e, _| e.kind == PwEventKind::PlayerJoined
        && e.actor == 2)
    .is_some());
    std::thread::sleep(Duration::from_millis(50));
    while poll(h).is_some() {}

    let payload: Vec<u8> = (0..100u8).collect();
    let r = unsafe { pw_session_send_event(p, 9, 0, 0, payload.as_ptr(), payload.len()) };
    assert_eq!(r, PwResult::Ok);

    let mut ev = std::mem::MaybeUninit::<PwEvent>::uninit();
    let untouched = PwEvent {
        kind: PwEventKind::Closed,
        reason: 777,
        role: PwRole::Unknown,
        actor: 777,
        target: 777,
        master: 777,
        request: 777,
        code: 77,
        downloaded: true,
        cas: true,
        data_len: 777,
        received: 777,
        total: 777,
    };
    ev.write(untouched);
    let mut small = [0u8; 8];
    let mut len = 0usize;
    let end = Instant::now() + WAIT;
    let r = loop {
        let r = unsafe {
            pw_session_poll_event(
                h,
                ev.as_mut_ptr(),
                small.as_mut_ptr(),
                small.len(),
                &mut len,
            )
        };
        if r != PwResult::Empty || Instant::now() > end {
            break r;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    expect_err(
        r,
        PwResult::BufferTooSmall,
        "`buf` holds 8 bytes but 100 are needed",
    );
    assert_eq!(len, 100);
    assert_eq!(unsafe { ev.assume_init() }, untouched, "header not written");
    // Asking again with no buffer at all still reports it, still keeps it.
    let r = unsafe { pw_session_poll_event(h, ev.as_mut_ptr(), null_mut(), 0, &mut len) };
    assert_eq!((r, len), (PwResult::BufferTooSmall, 100));

    let mut right = vec![0u8; len];
    let r = unsafe {
        pw_session_poll_event(
            h,
            ev.as_mut_ptr(),
            right.as_mut_ptr(),
            right.len(),
            &mut len,
        )
    };
    assert_eq!(r, PwResult::Ok);
    let ev = unsafe { ev.assume_init() };
    assert_eq!(
        (ev.kind, ev.code, ev.actor, ev.data_len),
        (PwEventKind::GameEvent, 9, 2, 100)
    );
    assert_eq!(right, payload);
    assert!(poll(h).is_none(), "the event was delivered exactly once");

    // A property value, the same way.
    let r = unsafe {
        pw_session_set_room_property(h, PwStr::new("mode"), PwStr::new("time-trial"), false)
    };
    assert_eq!(r, PwResult::Ok);
    assert!(wait_until(|| room_property(h, "mode").is_some()));
    let r = unsafe {
        pw_session_get_room_property(h, PwStr::new("mode"), small.as_mut_ptr(), 4, &mut len)
    };
    expect_err(
        r,
        PwResult::BufferTooSmall,
        "`buf` holds 4 bytes but 10 are needed",
    );
    assert_eq!(len, 10);
    assert_eq!(room_property(h, "mode").as_deref(), Some("time-trial"));

    // Pilot arrays: capacity 0 asks how many.
    assert_eq!(
        unsafe { pw_session_push_local(p, &frame(1, 1.0)) },
        PwResult::Ok
    );
    assert!(wait_until(|| !read_pilots(h).is_empty()));
    let mut count = 0usize;
    let r = unsafe { pw_session_read_pilots(h, null_mut(), 0, &mut count) };
    assert_eq!((r, count), (PwResult::BufferTooSmall, 1));

    // The last error itself, read through a small buffer, is kept whole.
    let full = last_error();
    let r = unsafe { pw_last_error(small.as_mut_ptr(), small.len(), &mut len) };
    assert_eq!((r, len), (PwResult::BufferTooSmall, full.len()));
    assert_eq!(
        last_error(),
        full,
        "reading the last error does not replace it"
    );

    // A result message through a small buffer.
    let r = unsafe { pw_result_message(5, small.as_mut_ptr(), small.len(), &mut len) };
    assert_eq!(r, PwResult::BufferTooSmall);
    let mut msg = vec![0u8; len];
    let r = unsafe { pw_result_message(5, msg.as_mut_ptr(), msg.len(), &mut len) };
    assert_eq!((r, len), (PwResult::Ok, msg.len()));
}

#[test]
fn log_lines_are_drained_by_polling() {
    assert_eq!(pw_log_set_level(PwLogLevel::Info as u32), PwResult::Ok);
    let h = host();
    let port = info(h).local_port;
    let mut buf = vec![0u8; 4096];
    let mut len = 0usize;
    let mut found = None;
    let end = Instant::now() + WAIT;
    while found.is_none() && Instant::now() < end {
        match unsafe { pw_log_read(buf.as_mut_ptr(), buf.len(), &mut len) } {
            PwResult::Ok => {
                let line = String::from_utf8(buf[..len].to_vec()).unwrap();
                if line.contains("session started") && line.contains(&format!(":{port}")) {
                    found = Some(line);
                }
            }
            PwResult::Empty => std::thread::sleep(Duration::from_millis(2)),
            other => panic!("pw_log_read: {other:?} {}", last_error()),
        }
    }
    let line = found.expect("the session's start is logged within 5 s");
    assert!(line.starts_with("INFO propwash::ffi"), "{line}");

    // A line too long for the buffer is kept for the next read.
    assert_eq!(pw_log_set_level(PwLogLevel::Debug as u32), PwResult::Ok);
    unsafe { pw_session_free(h) };
    let end = Instant::now() + WAIT;
    let mut needed = 0usize;
    while Instant::now() < end {
        let r = unsafe { pw_log_read(buf.as_mut_ptr(), 3, &mut needed) };
        if r == PwResult::BufferTooSmall {
            break;
        }
        assert_eq!(r, PwResult::Empty, "{}", last_error());
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(needed > 3, "a debug line arrives after the free");
    let r = unsafe { pw_log_read(buf.as_mut_ptr(), needed, &mut len) };
    assert_eq!((r, len), (PwResult::Ok, needed));
    assert_eq!(pw_log_set_level(PwLogLevel::Info as u32), PwResult::Ok);
}

#[test]
fn per_tick_calls_allocate_nothing_on_the_game_thread() {
    let room = Room::new();
    let (h, p) = (room.host, room.pilot);
    assert_eq!(
        unsafe { pw_session_push_local(p, &frame(1, 1.0)) },
        PwResult::Ok
    );
    assert!(wait_until(|| !read_pilots(h).is_empty()));
    while poll(h).is_some() {}

    let mut pilots = [PilotState::default(); PW_MAX_PILOTS];
    let mut stats = [PwPeerStats {
        actor: 0,
        role: PwRole::Unknown,
        rtt_ms: 0.0,
        loss: 0.0,
        last_tick: 0,
        packets_sent: 0,
        packets_received: 0,
        packets_lost: 0,
        bytes_sent: 0,
        bytes_received: 0,
        inputs_recovered: 0,
    }; PW_MAX_PEERS];
    let mut ev = std::mem::MaybeUninit::<PwEvent>::uninit();
    let mut buf = [0u8; 64];
    let mut info = std::mem::MaybeUninit::<PwSessionInfo>::uninit();
    let (mut n, mut len, mut t) = (0usize, 0usize, 0.0f64);
    let mut tick_calls = |tick: u32| unsafe {
        assert_eq!(pw_session_push_local(h, &frame(tick, 0.0)), PwResult::Ok);
        let r = pw_session_read_pilots(h, pilots.as_mut_ptr(), pilots.len(), &mut n);
        assert_eq!(r, PwResult::Ok);
        let r =
            pw_session_read_pilots_interpolated(h, -1.0, pilots.as_mut_ptr(), pilots.len(), &mut n);
        assert_eq!(r, PwResult::Ok);
        assert_eq!(pw_session_host_time(h, &mut t), PwResult::Ok);
        assert_eq!(pw_session_info(h, info.as_mut_ptr()), PwResult::Ok);
        let r = pw_session_stats(h, stats.as_mut_ptr(), stats.len(), &mut n);
        assert_eq!(r, PwResult::Ok);
        let r = pw_session_poll_event(h, ev.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut len);
        assert_eq!(r, PwResult::Empty);
    };
    for tick in 1..=10 {
        tick_calls(tick); // warm-up: lazily created state may allocate once
        std::thread::sleep(Duration::from_millis(1));
    }
    let before = allocations_on_this_thread();
    for tick in 11..=200 {
        tick_calls(tick);
        // At a game's pace, so the network thread keeps up with the pushes.
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        allocations_on_this_thread() - before,
        0,
        "push, read, interpolate, clock, info, stats and an empty poll must not allocate"
    );
}

const MAP: &str = "MP-Stadium";
const TRACK: &str = "CMP-ffi-test";

/// A TRACK_READY or TRACK_FAILED event with its text.
type TrackOutcome = Option<(PwEvent, String)>;

/// Collects a joiner's track events (progress as received, total) until
/// TRACK_READY or TRACK_FAILED (5 s).
fn track_outcome(s: *mut PwSession) -> (Vec<(u64, u64)>, TrackOutcome) {
    let mut progress = Vec::new();
    let outcome = wait_event(s, |e, _| {
        if e.kind == PwEventKind::TrackProgress {
            progress.push((e.received, e.total));
        }
        matches!(e.kind, PwEventKind::TrackReady | PwEventKind::TrackFailed)
    })
    .map(|(e, data)| (e, String::from_utf8(data).expect("UTF-8 data")));
    (progress, outcome)
}

#[test]
fn a_joiner_with_a_maps_folder_downloads_verifies_and_installs_the_hosts_track() {
    let s = Scratch::new("track");
    let src = s.dir("host/maps").join(MAP).join("custom").join(TRACK);
    let manifest = generate_track(&src, MAP, TRACK, 2 << 20, 9, 11).expect("track");
    let hash = manifest.track_hash();
    let h = host();
    let r = unsafe {
        pw_session_serve_track(
            h,
            PwStr::new(path_str(&src)),
            PwStr::new(MAP),
            PwStr::new(TRACK),
            true,
        )
    };
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    // The host hears that its folder was hashed and is announced.
    let (served, data) = wait_event(h, |e, _| {
        matches!(e.kind, PwEventKind::TrackReady | PwEventKind::TrackFailed)
    })
    .expect("the host hears how serving went");
    assert_eq!(
        served.kind,
        PwEventKind::TrackReady,
        "{}",
        String::from_utf8_lossy(&data)
    );
    assert!(!served.downloaded);
    assert_eq!(data, path_str(&src).as_bytes());
    assert_eq!(room_property(h, "track_hash"), Some(hash.to_string()));

    let maps = s.dir("joiner/maps");
    let cache = s.path().join("joiner/cache");
    let p = join_with_maps(h, path_str(&maps), path_str(&cache))
        .unwrap_or_else(|r| panic!("join: {r:?} {}", last_error()));
    let (progress, outcome) = track_outcome(p);
    let (ready, path) = outcome
        .unwrap_or_else(|| panic!("the joiner's track settles within 5 s (progress {progress:?})"));
    assert_eq!(ready.kind, PwEventKind::TrackReady, "{path}");
    assert!(ready.downloaded, "it came from the host");
    let want = std::fs::canonicalize(&maps)
        .unwrap()
        .join(MAP)
        .join("custom")
        .join(TRACK);
    assert_eq!(Path::new(&path), want);
    verify_dir(Path::new(&path), &hash, &Limits::default()).expect("the installed copy verifies");
    // Progress counted up to the whole track, in bytes of the track.
    assert!(
        !progress.is_empty(),
        "TRACK_PROGRESS came before TRACK_READY"
    );
    assert!(progress.iter().all(|&(_, t)| t == manifest.total_size()));
    assert!(
        progress.windows(2).all(|w| w[0].0 <= w[1].0),
        "{progress:?}"
    );
    assert_eq!(progress.last().map(|p| p.0), Some(manifest.total_size()));
    assert_eq!(room_property(p, "track_id").as_deref(), Some(TRACK));

    // A second joiner with an empty maps folder and the same cache needs no
    // download: the cached copy is installed, checked, and reported. The
    // first joiner fills the cache after it reported the track ready (so
    // the game hears at once), hence the wait for that copy here.
    let cached = cache.join(hash.to_string()).join("manifest.json");
    let until = Instant::now() + Duration::from_secs(10);
    while !cached.is_file() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        cached.is_file(),
        "the first joiner cached the track within 10 s"
    );
    let maps2 = s.dir("joiner2/maps");
    let p2 = join_with_maps(h, path_str(&maps2), path_str(&cache))
        .unwrap_or_else(|r| panic!("join: {r:?} {}", last_error()));
    let (progress2, outcome2) = track_outcome(p2);
    let (ready2, path2) = outcome2.expect("the cached track settles within 5 s");
    assert_eq!(ready2.kind, PwEventKind::TrackReady, "{path2}");
    assert!(!ready2.downloaded, "found in the cache");
    assert!(
        progress2.is_empty(),
        "nothing was downloaded: {progress2:?}"
    );
    verify_dir(Path::new(&path2), &hash, &Limits::default()).expect("the cached install verifies");
    assert!(Path::new(&path2).starts_with(std::fs::canonicalize(&maps2).unwrap()));

    // Stopping: an empty folder withdraws the announcement.
    let r =
        unsafe { pw_session_serve_track(h, PwStr::empty(), PwStr::empty(), PwStr::empty(), false) };
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    assert!(wait_until(|| room_property(p, "track_hash").is_none()));
    unsafe {
        pw_session_free(p2);
        pw_session_free(p);
        pw_session_free(h);
    }
}

#[test]
fn bad_track_folders_and_a_client_serving_are_refused_clearly() {
    let s = Scratch::new("badtrack");
    let room = Room::new();
    let (h, p) = (room.host, room.pilot);
    let serve = |session, dir: &str, map: &str, track: &str| unsafe {
        pw_session_serve_track(
            session,
            PwStr::new(dir),
            PwStr::new(map),
            PwStr::new(track),
            true,
        )
    };
    let missing = s.path().join("no-such-folder");
    expect_err(
        serve(h, path_str(&missing), MAP, TRACK),
        PwResult::InvalidArgument,
        &format!("track folder {:?} cannot be opened", path_str(&missing)),
    );
    let file = s.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    expect_err(
        serve(h, path_str(&file), MAP, TRACK),
        PwResult::InvalidArgument,
        "is a file, not a folder",
    );
    let folder = s.dir("empty");
    expect_err(
        serve(h, path_str(&folder), "", TRACK),
        PwResult::InvalidArgument,
        "map id",
    );
    expect_err(
        serve(h, path_str(&folder), MAP, "../escape"),
        PwResult::InvalidArgument,
        "track id",
    );
    expect_err(
        serve(p, path_str(&folder), MAP, TRACK),
        PwResult::NotHost,
        "only the host may serve a track",
    );
    expect_err(
        serve(null_mut(), path_str(&folder), MAP, TRACK),
        PwResult::NullParameter,
        "`session`",
    );
    let null_dir = PwStr {
        ptr: null(),
        len: 4,
    };
    expect_err(
        unsafe { pw_session_serve_track(h, null_dir, PwStr::new(MAP), PwStr::new(TRACK), true) },
        PwResult::NullParameter,
        "`dir`",
    );
    // A folder that exists but holds no track is only found out by hashing:
    // the host hears it as TRACK_FAILED and the room announces nothing.
    assert_eq!(serve(h, path_str(&folder), MAP, TRACK), PwResult::Ok);
    let (failed, why) = wait_event(h, |e, _| {
        matches!(e.kind, PwEventKind::TrackReady | PwEventKind::TrackFailed)
    })
    .expect("the host hears how serving went");
    let why = String::from_utf8(why).unwrap();
    assert_eq!(failed.kind, PwEventKind::TrackFailed, "{why}");
    assert!(why.contains(path_str(&folder)), "{why}");
    assert_eq!(room_property(h, "track_hash"), None);

    // Joining with folders that cannot take a track.
    let gone = s.path().join("no-maps");
    let r = join_with_maps(h, path_str(&gone), "").unwrap_err();
    expect_err(r, PwResult::InvalidArgument, "`options.maps_dir`");
    let r = join_with_maps(h, "", path_str(&s.path().join("cache"))).unwrap_err();
    expect_err(
        r,
        PwResult::InvalidArgument,
        "`options.track_cache_dir` is set but",
    );

    // A request the network thread refuses comes back as an event.
    assert_eq!(unsafe { pw_session_follow(p, 99) }, PwResult::Ok);
    let (_, why) = wait_event(p, |e, _| e.kind == PwEventKind::RequestFailed)
        .expect("the refused follow is reported");
    assert_eq!(
        String::from_utf8(why).unwrap(),
        "follow: no player with actor number 99"
    );
    // And one made before the welcome.
    let mut lonely = null_mut();
    let o = join_options("127.0.0.1:9");
    assert_eq!(unsafe { pw_session_join(&o, &mut lonely) }, PwResult::Ok);
    assert_eq!(
        unsafe { pw_session_send_event(lonely, 3, 0, 0, b"hi".as_ptr(), 2) },
        PwResult::Ok
    );
    let (ev, why) = wait_event(lonely, |e, _| e.kind == PwEventKind::RequestFailed)
        .expect("the early event is reported");
    assert_eq!((ev.actor, ev.code, ev.data_len), (0, 0, why.len()));
    assert_eq!(
        String::from_utf8(why).unwrap(),
        "raise_event: not connected to a room"
    );
    unsafe { pw_session_free(lonely) };
}

#[test]
fn the_version_is_the_crate_version() {
    let v = unsafe { std::ffi::CStr::from_ptr(pw_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn committed_header_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/propwash.h");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == GENERATED_HEADER,
        "include/propwash.h is stale (or missing): run `PROPWASH_WRITE_HEADER=1 cargo build` and commit it"
    );
}
