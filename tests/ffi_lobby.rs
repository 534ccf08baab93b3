//! The lobby and room passwords through the C ABI, driven from Rust as the
//! plugin drives them: a host lists its room (`coordinator_addr`,
//! `listing_json`), a `PwLobby` browser finds it, a joiner joins it by id
//! with the room's password, the host renames it; then every bad input the
//! lobby calls can get. A coordinator runs in-process on loopback; every
//! wait is bounded (5 s).

use std::ptr::null_mut;
use std::time::{Duration, Instant};

use propwash::ffi::*;
use propwash::lobby::service::{Service, ServiceConfig};
use propwash::lobby::CoordinatorConfig;

mod common;
use common::ffi::{expect_err, last_error};

const GAME: &str = "drl-ffi-lobby";
const WAIT: Duration = Duration::from_secs(5);
const LISTING: &str = r#"{"room":{"name":"ABI room","map_id":"MP-1","track_id":"T-1",
    "is_custom_track":false,"mode":"race"},"settings":{"laps":3,"physics":"drl",
    "allow_track_download":false}}"#;

fn coordinator() -> Service {
    Service::start(ServiceConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        http: None,
        coordinator: CoordinatorConfig::default(),
    })
    .unwrap()
}

fn host_options() -> PwHostOptions {
    let mut o = std::mem::MaybeUninit::<PwHostOptions>::uninit();
    unsafe { pw_host_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.bind_addr = PwStr::new("127.0.0.1:0");
    o.game_version = PwStr::new(GAME);
    o.player_name = PwStr::new("Host");
    o
}

fn join_options() -> PwJoinOptions {
    let mut o = std::mem::MaybeUninit::<PwJoinOptions>::uninit();
    unsafe { pw_join_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.bind_addr = PwStr::new("127.0.0.1:0");
    o.game_version = PwStr::new(GAME);
    o.player_name = PwStr::new("Pilot");
    o
}

/// Polls a JSON report with `poll` until `want` accepts one, for 5 s.
fn wait_json(
    mut poll: impl FnMut(&mut [u8], &mut usize) -> PwResult,
    mut want: impl FnMut(&serde_json::Value) -> bool,
) -> Option<serde_json::Value> {
    let end = Instant::now() + WAIT;
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < end {
        let mut len = 0;
        match poll(&mut buf, &mut len) {
            PwResult::Ok => {
                let v: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
                if want(&v) {
                    return Some(v);
                }
            }
            PwResult::Empty => std::thread::sleep(Duration::from_millis(5)),
            other => panic!("poll: {other:?} {}", last_error()),
        }
    }
    None
}

fn lobby_report(s: *mut PwSession, kind: &str) -> Option<serde_json::Value> {
    wait_json(
        |b, l| unsafe { pw_session_poll_lobby_event(s, b.as_mut_ptr(), b.len(), l) },
        |v| v["kind"] == kind,
    )
}

/// Lists through `lobby` until a page shows `want` (every 250 ms: the
/// coordinator limits requests per address).
fn list_until(lobby: *mut PwLobby, mut want: impl FnMut(&serde_json::Value) -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        let mut id = 0;
        let r = unsafe { pw_lobby_list(lobby, PwStr::new(r#"{"mode":"race"}"#), &mut id) };
        assert_eq!(r, PwResult::Ok, "{}", last_error());
        let page = wait_json(
            |b, l| unsafe { pw_lobby_poll(lobby, b.as_mut_ptr(), b.len(), l) },
            |v| v["request_id"] == id,
        )
        .expect("an answer");
        assert_eq!(page["kind"], "list_result", "{page}");
        if want(&page) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

fn state(s: *mut PwSession) -> PwSessionState {
    let mut i = std::mem::MaybeUninit::<PwSessionInfo>::uninit();
    assert_eq!(unsafe { pw_session_info(s, i.as_mut_ptr()) }, PwResult::Ok);
    unsafe { i.assume_init() }.state
}

/// The refusal reason of a joiner's REFUSED event, waiting up to 5 s.
fn refusal(s: *mut PwSession) -> Option<(u32, String)> {
    let end = Instant::now() + WAIT;
    let mut buf = vec![0u8; 4096];
    while Instant::now() < end {
        let mut ev = std::mem::MaybeUninit::<PwEvent>::uninit();
        let mut len = 0;
        let r = unsafe {
            pw_session_poll_event(s, ev.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut len)
        };
        match r {
            PwResult::Ok => {
                let ev = unsafe { ev.assume_init() };
                if ev.kind == PwEventKind::Refused {
                    return Some((ev.reason, String::from_utf8_lossy(&buf[..len]).into()));
                }
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    None
}

#[test]
fn a_listed_room_with_a_password_is_found_and_joined_through_the_abi() {
    let c = coordinator();
    let coord = c.udp_addr().to_string();
    let mut o = host_options();
    o.coordinator_addr = PwStr::new(&coord);
    o.listing_json = PwStr::new(LISTING);
    o.password = PwStr::new("hunter2");
    let mut host = null_mut();
    assert_eq!(
        unsafe { pw_session_host(&o, &mut host) },
        PwResult::Ok,
        "{}",
        last_error()
    );
    let reg = lobby_report(host, "registered").expect("the room is listed");
    let session_id = reg["session_id"].as_str().unwrap().to_string();
    assert_eq!(session_id.len(), 16);

    let mut lobby = null_mut();
    let r = unsafe { pw_lobby_open(PwStr::new(&coord), PwStr::new(GAME), &mut lobby) };
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    assert!(list_until(lobby, |p| {
        let s = &p["sessions"];
        s.as_array().is_some_and(|a| a.len() == 1)
            && s[0]["session_id"] == session_id.as_str()
            && s[0]["room"]["name"] == "ABI room"
            && s[0]["has_password"] == true
            && s[0]["host"]["player_name"] == "Host"
            && s[0]["capacity"]["pilots"] == 6
    }));

    // The wrong password: refused with the password reason, nothing seated.
    let mut jo = join_options();
    jo.coordinator_addr = PwStr::new(&coord);
    jo.session_id = PwStr::new(&session_id);
    jo.password = PwStr::new("letmein");
    let mut wrong = null_mut();
    assert_eq!(
        unsafe { pw_session_join(&jo, &mut wrong) },
        PwResult::Ok,
        "{}",
        last_error()
    );
    let (reason, msg) = refusal(wrong).expect("refused");
    assert_eq!(reason, PwRefuseReason::WrongPassword as u32, "{msg}");
    unsafe { pw_session_free(wrong) };

    // The right one: seated over the punched path.
    jo.password = PwStr::new("hunter2");
    let mut pilot = null_mut();
    assert_eq!(
        unsafe { pw_session_join(&jo, &mut pilot) },
        PwResult::Ok,
        "{}",
        last_error()
    );
    let connected = lobby_report(pilot, "connected").expect("a path to the host");
    assert_eq!(connected["path"], "direct");
    assert_eq!(connected["role"], "joiner");
    let end = Instant::now() + WAIT;
    while state(pilot) != PwSessionState::Connected && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(state(pilot), PwSessionState::Connected);

    // The host renames the room; occupancy stays the room's.
    let renamed = LISTING.replace("ABI room", "Renamed room");
    let r = unsafe { pw_session_update_listing(host, PwStr::new(&renamed)) };
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    assert!(list_until(lobby, |p| {
        p["sessions"][0]["room"]["name"] == "Renamed room"
            && p["sessions"][0]["capacity"]["current_pilots"] == 2
    }));
    // Only a host lists; a listing with a stranger field is refused.
    expect_err(
        unsafe { pw_session_update_listing(pilot, PwStr::new(LISTING)) },
        PwResult::NotHost,
        "host",
    );
    let with_password = LISTING.replace(r#""room":"#, r#""password":"x","room":"#);
    expect_err(
        unsafe { pw_session_update_listing(host, PwStr::new(&with_password)) },
        PwResult::InvalidArgument,
        "password",
    );

    unsafe { pw_session_free(pilot) };
    unsafe { pw_session_free(host) };
    assert!(list_until(lobby, |p| p["sessions"]
        .as_array()
        .is_some_and(|a| a.is_empty())));
    unsafe { pw_lobby_free(lobby) };
    let mut id = 0;
    expect_err(
        unsafe { pw_lobby_list(lobby, PwStr::empty(), &mut id) },
        PwResult::InvalidHandle,
        "freed",
    );
    unsafe { pw_lobby_free(lobby) };
    assert!(last_error().contains("freed"), "a second free is noticed");
    c.shutdown();
}

#[test]
fn lobby_reports_wait_for_a_big_enough_buffer() {
    let c = coordinator();
    let coord = c.udp_addr().to_string();
    let mut o = host_options();
    o.coordinator_addr = PwStr::new(&coord);
    o.listing_json = PwStr::new(LISTING);
    let mut host = null_mut();
    assert_eq!(unsafe { pw_session_host(&o, &mut host) }, PwResult::Ok);
    let end = Instant::now() + WAIT;
    let mut needed = 0;
    while Instant::now() < end {
        let r = unsafe { pw_session_poll_lobby_event(host, null_mut(), 0, &mut needed) };
        if r == PwResult::BufferTooSmall {
            break;
        }
        assert_eq!(r, PwResult::Empty);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(needed > 20, "the size needed is reported");
    let mut buf = vec![0u8; needed];
    let mut len = 0;
    let r = unsafe { pw_session_poll_lobby_event(host, buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(r, PwResult::Ok);
    let v: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
    assert_eq!(v["kind"], "registered", "the kept report, not a later one");
    unsafe { pw_session_free(host) };
    c.shutdown();
}

#[test]
fn bad_lobby_input_gets_typed_errors() {
    let mut s = null_mut();
    // A listing without a coordinator, and a coordinator without a listing.
    let mut o = host_options();
    o.listing_json = PwStr::new(LISTING);
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "coordinator_addr",
    );
    let mut o = host_options();
    o.coordinator_addr = PwStr::new("127.0.0.1:9");
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "listing_json",
    );
    o.listing_json = PwStr::new("{not json");
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "listing_json",
    );
    o.listing_json = PwStr::new(
        r#"{"room":{"name":"","map_id":"","track_id":"","is_custom_track":false,"mode":"race"}}"#,
    );
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "room.name",
    );
    o.coordinator_addr = PwStr::new("coordinator.example");
    o.listing_json = PwStr::new(LISTING);
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::AddressInvalid,
        "coordinator_addr",
    );
    // Without Steam a host cannot require verified joiners. A careless
    // marshaller's bool byte that is neither 0 nor 1 reads as true, never
    // as undefined behaviour.
    let mut o = host_options();
    unsafe {
        std::ptr::addr_of_mut!(o.require_verified)
            .cast::<u8>()
            .write(2)
    };
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "require_verified",
    );
    assert!(s.is_null(), "no handle on failure");

    // Joining: a session id needs a coordinator, is 16 hex digits, and
    // excludes an address.
    let mut j = join_options();
    j.session_id = PwStr::new("00000000000000ab");
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::InvalidArgument,
        "coordinator_addr",
    );
    j.coordinator_addr = PwStr::new("127.0.0.1:9");
    j.session_id = PwStr::new("xyz");
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::InvalidArgument,
        "16 hex digits",
    );
    j.session_id = PwStr::new("00000000000000ab");
    j.host_addr = PwStr::new("127.0.0.1:5056");
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::InvalidArgument,
        "either",
    );
    let mut j = join_options();
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::AddressInvalid,
        "session_id",
    );
    j.host_addr = PwStr::new("127.0.0.1:5056");
    j.password = PwStr::from_bytes(b"\xff\xfe");
    expect_err(
        unsafe { pw_session_join(&j, &mut s) },
        PwResult::InvalidUtf8,
        "password",
    );
    assert!(s.is_null());

    // The browser.
    let mut l = null_mut();
    expect_err(
        unsafe { pw_lobby_open(PwStr::new("nowhere"), PwStr::new(GAME), &mut l) },
        PwResult::AddressInvalid,
        "coordinator_addr",
    );
    expect_err(
        unsafe { pw_lobby_open(PwStr::new("127.0.0.1:9"), PwStr::empty(), &mut l) },
        PwResult::InvalidArgument,
        "game_version",
    );
    expect_err(
        unsafe { pw_lobby_open(PwStr::new("127.0.0.1:9"), PwStr::new(GAME), null_mut()) },
        PwResult::NullParameter,
        "out",
    );
    assert_eq!(
        unsafe { pw_lobby_open(PwStr::new("127.0.0.1:9"), PwStr::new(GAME), &mut l) },
        PwResult::Ok
    );
    let mut id = 0;
    expect_err(
        unsafe { pw_lobby_list(l, PwStr::new(r#"{"password":"x"}"#), &mut id) },
        PwResult::InvalidArgument,
        "query_json",
    );
    expect_err(
        unsafe { pw_lobby_list(l, PwStr::empty(), null_mut()) },
        PwResult::NullParameter,
        "out_request_id",
    );
    expect_err(
        unsafe { pw_lobby_list(null_mut(), PwStr::empty(), &mut id) },
        PwResult::NullParameter,
        "lobby",
    );
    let mut len = 0;
    expect_err(
        unsafe { pw_lobby_poll(l, null_mut(), 0, null_mut()) },
        PwResult::NullParameter,
        "out_len",
    );
    assert_eq!(
        unsafe { pw_lobby_poll(l, null_mut(), 0, &mut len) },
        PwResult::Empty
    );
    // A handle of another kind is not a lobby.
    let fake = [0u64; 8];
    expect_err(
        unsafe { pw_lobby_poll(fake.as_ptr() as *mut PwLobby, null_mut(), 0, &mut len) },
        PwResult::InvalidHandle,
        "not a lobby",
    );
    unsafe { pw_lobby_free(l) };
    expect_err(
        unsafe { pw_lobby_list(l, PwStr::empty(), &mut id) },
        PwResult::InvalidHandle,
        "freed",
    );
    unsafe { pw_lobby_free(null_mut()) };
}
