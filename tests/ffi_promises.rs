//! What the header promises and the library must keep: freeing a lobby
//! browser while another thread is inside a call frees it (no thread or
//! socket left behind), names are cut rather than refused, lobby queries
//! and addresses outside the documented ranges are refused with a
//! message, and a new host counts itself from the first read. Loopback
//! only; every wait bounded.

use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use propwash::ffi::*;

mod common;
use common::ffi::{expect_err, last_error};

const GAME: &str = "drl-ffi-promises";

fn host_options() -> PwHostOptions {
    let mut o = std::mem::MaybeUninit::<PwHostOptions>::uninit();
    unsafe { pw_host_options_default(o.as_mut_ptr()) };
    let mut o = unsafe { o.assume_init() };
    o.bind_addr = PwStr::new("127.0.0.1:0");
    o.game_version = PwStr::new(GAME);
    o.player_name = PwStr::new("Host");
    o
}

fn info(s: *mut PwSession) -> PwSessionInfo {
    let mut i = std::mem::MaybeUninit::<PwSessionInfo>::uninit();
    assert_eq!(unsafe { pw_session_info(s, i.as_mut_ptr()) }, PwResult::Ok);
    unsafe { i.assume_init() }
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|n| n.trim_end().starts_with(prefix))
        .count()
}

/// Waits up to 2 s for no thread named `prefix` to be left.
fn threads_end(prefix: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if threads_named(prefix) == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[derive(Clone, Copy)]
struct Handle(*mut PwLobby);
// SAFETY: the ABI lets any thread call the lobby functions on a handle.
unsafe impl Send for Handle {}

#[test]
fn freeing_a_lobby_while_another_thread_is_inside_a_call_frees_it() {
    for round in 0..20 {
        let mut l = null_mut();
        assert_eq!(
            unsafe { pw_lobby_open(PwStr::new("127.0.0.1:9"), PwStr::new(GAME), &mut l) },
            PwResult::Ok
        );
        let h = Handle(l);
        let started = Arc::new(AtomicBool::new(false));
        let s2 = started.clone();
        let busy = std::thread::spawn(move || {
            let h = h;
            let mut len = 0usize;
            let mut buf = [0u8; 256];
            let mut id = 0u32;
            // Hammer the handle until it is freed under us.
            for i in 0..200_000u32 {
                s2.store(true, Ordering::Relaxed);
                let r = if i % 2 == 0 {
                    unsafe { pw_lobby_poll(h.0, buf.as_mut_ptr(), buf.len(), &mut len) }
                } else {
                    unsafe { pw_lobby_list(h.0, PwStr::empty(), &mut id) }
                };
                if r == PwResult::InvalidHandle {
                    return true;
                }
            }
            false
        });
        while !started.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        unsafe { pw_lobby_free(l) };
        let mut buf = [0u8; 1024];
        let mut len = 0usize;
        if unsafe { pw_last_error(buf.as_mut_ptr(), buf.len(), &mut len) } == PwResult::Ok {
            let e = String::from_utf8_lossy(&buf[..len]);
            assert!(!e.contains("another thread"), "round {round}: {e}");
        }
        assert!(
            busy.join().unwrap(),
            "round {round}: the handle stayed live"
        );
        let mut id = 0;
        expect_err(
            unsafe { pw_lobby_list(l, PwStr::empty(), &mut id) },
            PwResult::InvalidHandle,
            "freed",
        );
    }
    assert!(threads_end("propwash-lobby"), "a browser thread was left");
}

#[test]
fn lobby_queries_outside_the_documented_ranges_are_refused() {
    let mut l = null_mut();
    assert_eq!(
        unsafe { pw_lobby_open(PwStr::new("127.0.0.1:9"), PwStr::new(GAME), &mut l) },
        PwResult::Ok
    );
    let mut id = 0;
    for (q, needle) in [
        (r#"{"limit":0}"#, "limit"),
        (r#"{"limit":51}"#, "limit"),
        (r#"{"limit":4000000000}"#, "limit"),
        (r#"{"min_free_pilots":7}"#, "min_free_pilots"),
        ("[]", "object"),
    ] {
        expect_err(
            unsafe { pw_lobby_list(l, PwStr::new(q), &mut id) },
            PwResult::InvalidArgument,
            needle,
        );
    }
    for q in ["", r#"{"limit":1}"#, r#"{"limit":50,"min_free_pilots":6}"#] {
        assert_eq!(
            unsafe { pw_lobby_list(l, PwStr::new(q), &mut id) },
            PwResult::Ok,
            "{q}: {}",
            last_error()
        );
    }
    unsafe { pw_lobby_free(l) };
}

#[test]
fn addresses_with_spaces_are_refused() {
    let mut s = null_mut();
    let mut o = host_options();
    o.bind_addr = PwStr::new(" 127.0.0.1:0");
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::AddressInvalid,
        "spaces",
    );
    o.bind_addr = PwStr::new("127.0.0.1:0 ");
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::AddressInvalid,
        "spaces",
    );
    assert!(s.is_null());
}

#[test]
fn long_names_are_cut_at_a_character_boundary_and_absurd_ones_refused() {
    assert_eq!(PW_NAME_BYTES, 64);
    // 2000 bytes of two-byte characters, with a one-byte one first so the
    // 64th byte falls inside a character.
    let long = format!("x{}", "é".repeat(1000));
    let mut o = host_options();
    o.player_name = PwStr::new(&long);
    let mut s = null_mut();
    assert_eq!(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::Ok,
        "{}",
        last_error()
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0;
    let end = Instant::now() + Duration::from_secs(5);
    let name = loop {
        assert!(Instant::now() < end, "no players");
        let r = unsafe { pw_session_players_json(s, buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(r, PwResult::Ok, "{}", last_error());
        let v: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        if let Some(n) = v
            .as_array()
            .and_then(|a| a.first())
            .and_then(|p| p["name"].as_str())
        {
            break n.to_string();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(name.len(), 63, "{name}");
    assert!(long.starts_with(&name));
    unsafe { pw_session_free(s) };

    let absurd = "n".repeat(PW_MAX_NAME_INPUT_BYTES + 1);
    o.player_name = PwStr::new(&absurd);
    let mut s = null_mut();
    expect_err(
        unsafe { pw_session_host(&o, &mut s) },
        PwResult::InvalidArgument,
        "player_name",
    );
    assert!(s.is_null());
}

#[test]
fn a_new_host_counts_itself_from_the_first_read() {
    for _ in 0..20 {
        let o = host_options();
        let mut s = null_mut();
        assert_eq!(
            unsafe { pw_session_host(&o, &mut s) },
            PwResult::Ok,
            "{}",
            last_error()
        );
        let i = info(s);
        assert_eq!(i.state, PwSessionState::Connected);
        assert_eq!(i.player_count, 1, "{i:?}");
        unsafe { pw_session_free(s) };
    }
}
