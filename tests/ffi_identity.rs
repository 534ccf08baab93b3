//! Identity through the C ABI, driven as the game's plugin drives it:
//! `pw_identity_start` once per process (offline here: no Steam, no
//! network), `pw_identity_json` polled until ready, and
//! `pw_identity_sync_player_state` into copies of the fixture game folders.
//!
//! Identity is one per process, so everything that starts it is one ordered
//! test; the other tests only hand in arguments that are refused before
//! anything starts. Every wait is bounded (5 s); every folder is a fresh one
//! under the system temp folder.

use std::path::PathBuf;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use propwash::ffi::*;
use propwash::identity::{Identity, Source, DRL_APP_ID, ID_FILE};
use serde_json::Value;

mod common;
use common::ffi::{expect_err, last_error, path_str};
use common::identity::{assert_only_identity_changed, game_fixture, members};
use common::scratch::{names, Scratch};

const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- helpers

fn defaults() -> PwIdentityOptions {
    let mut o = std::mem::MaybeUninit::<PwIdentityOptions>::uninit();
    unsafe { pw_identity_options_default(o.as_mut_ptr()) };
    unsafe { o.assume_init() }
}

/// Offline options for `config_dir`, named "Tester", no avatar fetch.
fn offline(config_dir: &str) -> PwIdentityOptions {
    let mut o = defaults();
    o.config_dir = PwStr::new(config_dir);
    o.player_name = PwStr::new("Tester");
    o.offline = true;
    o.fetch_avatar = false;
    o
}

/// `pw_identity_json` into a roomy buffer.
fn identity_json() -> Result<String, PwResult> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0usize;
    match unsafe { pw_identity_json(buf.as_mut_ptr(), buf.len(), &mut len) } {
        PwResult::Ok => Ok(String::from_utf8(buf[..len].to_vec()).expect("UTF-8 JSON")),
        r => Err(r),
    }
}

/// `pw_identity_sync_player_state` into a buffer of `cap` bytes; the result,
/// `*out_len` and the text written.
fn sync(game_dir: &str, cap: usize) -> (PwResult, usize, String) {
    let mut buf = vec![0u8; cap];
    let mut len = usize::MAX;
    let ptr = if cap == 0 {
        null_mut()
    } else {
        buf.as_mut_ptr()
    };
    let r = unsafe { pw_identity_sync_player_state(PwStr::new(game_dir), ptr, cap, &mut len) };
    let text = if r == PwResult::Ok {
        String::from_utf8(buf[..len].to_vec()).expect("UTF-8 report")
    } else {
        String::new()
    };
    (r, len, text)
}

// ------------------------------------------------------ the ordered test

#[test]
fn identity_starts_once_reads_as_json_and_syncs_the_games_player_state() {
    // Before any start: typed errors, not a wait.
    let config = Scratch::new("config");
    let config_dir = path_str(config.path()).to_string();
    assert_eq!(identity_json(), Err(PwResult::NotStarted));
    assert!(last_error().contains("call pw_identity_start first"));
    let (game_guard, install, file) = game_fixture("game");
    let install_s = path_str(&install).to_string();
    let (r, _, _) = sync(&install_s, 4096);
    expect_err(r, PwResult::NotStarted, "PW_RESULT_NOT_STARTED");

    // Start offline; the call returns at once, the identity follows.
    let options = offline(&config_dir);
    let started = Instant::now();
    assert_eq!(unsafe { pw_identity_start(&options) }, PwResult::Ok);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "pw_identity_start took {:?}",
        started.elapsed()
    );
    let end = Instant::now() + WAIT;
    let json = loop {
        match identity_json() {
            Ok(j) => break j,
            Err(PwResult::Pending) => {
                assert!(last_error().contains("still starting"));
                assert!(Instant::now() < end, "identity not ready within {WAIT:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(r) => panic!("pw_identity_json: {r:?}: {}", last_error()),
        }
    };
    let id: Identity = serde_json::from_str(&json).expect("the JSON is an Identity");
    assert_eq!(id.name, "Tester");
    assert!(!id.verified);
    assert_eq!(id.source, Source::Offline);
    assert_eq!(id.steam_id, None);
    assert_eq!(id.avatar_url, None);
    assert!(
        id.note.as_deref().unwrap_or("").contains("offline"),
        "{json}"
    );
    assert!(
        id.player_id.len() == 32
            && id
                .player_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{json}"
    );
    assert!(json.contains(r#""source":"offline""#), "{json}");
    assert!(json.contains(r#""verified":false"#), "{json}");
    // The id is kept in the config folder, so the next run is the same player.
    let kept: Value =
        serde_json::from_slice(&std::fs::read(config.path().join(ID_FILE)).unwrap()).unwrap();
    assert_eq!(kept["player_id"], id.player_id.as_str());

    // Too small a buffer: the needed length, nothing written.
    let mut small = [0xAAu8; 8];
    let mut len = 0usize;
    let r = unsafe { pw_identity_json(small.as_mut_ptr(), small.len(), &mut len) };
    expect_err(r, PwResult::BufferTooSmall, "8 bytes");
    assert_eq!(len, json.len());
    assert_eq!(small, [0xAA; 8]);
    let r = unsafe { pw_identity_json(null_mut(), 0, &mut len) };
    assert_eq!((r, len), (PwResult::BufferTooSmall, json.len()));
    let mut exact = vec![0u8; len];
    let r = unsafe { pw_identity_json(exact.as_mut_ptr(), exact.len(), &mut len) };
    assert_eq!(r, PwResult::Ok);
    assert_eq!(String::from_utf8(exact).unwrap(), json);

    // Starting again: the same options are fine, other ones are refused
    // with every difference named; the identity stays.
    assert_eq!(unsafe { pw_identity_start(&options) }, PwResult::Ok);
    let other = Scratch::new("config-other");
    let mut changed = offline(path_str(other.path()));
    changed.player_name = PwStr::new("Someone Else");
    let r = unsafe { pw_identity_start(&changed) };
    expect_err(r, PwResult::InvalidArgument, "starts once per process");
    let e = last_error();
    assert!(
        e.contains(r#"player_name "Someone Else" (started with "Tester")"#),
        "{e}"
    );
    assert!(e.contains("config_dir"), "{e}");
    assert!(!e.contains("app_id"), "{e}");
    let mut steam = options;
    steam.offline = false;
    expect_err(
        unsafe { pw_identity_start(&steam) },
        PwResult::InvalidArgument,
        "offline false (started with true)",
    );
    assert_eq!(identity_json().unwrap(), json);
    assert!(
        names(other.path()).is_empty(),
        "nothing made in the refused folder"
    );

    // Sync: a buffer too small is refused before the file is touched.
    let before = std::fs::read_to_string(&file).unwrap();
    let (r, needed, _) = sync(&install_s, 0);
    expect_err(r, PwResult::BufferTooSmall, "are needed");
    assert!(needed > file.as_os_str().len(), "needed {needed}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    assert_eq!(names(file.parent().unwrap()), vec!["player-state.json"]);
    let (r, too_few, _) = sync(&install_s, needed - 1);
    assert_eq!((r, too_few), (PwResult::BufferTooSmall, needed));

    // With the size asked for: the three identity fields change, the rest
    // stays byte for byte in its order, the old file is the backup.
    let (r, len, text) = sync(&install_s, needed);
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    assert!(len <= needed && len == text.len());
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    let keys: Vec<String> = members(&text).into_iter().map(|m| m.0).collect();
    assert_eq!(keys, ["path", "changed", "written", "backup"], "{text}");
    assert_eq!(report["path"], path_str(&file), "{text}");
    assert_eq!(
        report["changed"],
        serde_json::json!(["steam-id", "profile-name", "profile-photo-url"]),
        "{text}"
    );
    assert_eq!(report["written"], true, "{text}");
    let backup = PathBuf::from(report["backup"].as_str().expect("a backup path"));
    assert_eq!(backup, file.with_file_name("player-state.json.bak"));
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), before);
    let after = std::fs::read_to_string(&file).unwrap();
    assert_only_identity_changed(&before, &after, |k, v| match k {
        "profile-name" => assert_eq!(v, "Tester"),
        _ => assert_eq!(v, "", "{k}"),
    });
    let expected = before
        .replace("\"76561198000000042\"", "\"\"")
        .replace("\"Old Name\"", "\"Tester\"")
        .replace(
            "\"https://avatars.steamstatic.com/0000000000000000000000000000000000000000_full.jpg\"",
            "\"\"",
        );
    assert_eq!(after, expected);

    // Again: up to date, nothing written. The data folder itself works too.
    let data = install.join("DRL Simulator_Data");
    let (r, _, text) = sync(path_str(&data), 4096);
    assert_eq!(r, PwResult::Ok, "{}", last_error());
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["changed"], serde_json::json!([]), "{text}");
    assert_eq!(report["written"], false, "{text}");
    assert_eq!(report["backup"], Value::Null, "{text}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);

    // A corrupt file: FILE_INVALID naming the file and the parser's words;
    // the file is byte for byte as it was and no backup appears.
    let (_corrupt_guard, corrupt, corrupt_file) = game_fixture("corrupt");
    let corrupt_before = std::fs::read(&corrupt_file).unwrap();
    let (r, _, _) = sync(path_str(&corrupt), 4096);
    expect_err(r, PwResult::FileInvalid, path_str(&corrupt_file));
    let e = last_error();
    assert!(
        e.starts_with("PW_RESULT_FILE_INVALID: ") && e.contains("EOF while parsing"),
        "{e}"
    );
    assert_eq!(std::fs::read(&corrupt_file).unwrap(), corrupt_before);
    assert_eq!(
        names(corrupt_file.parent().unwrap()),
        vec!["player-state.json"]
    );

    // Missing pieces: the first missing folder or the file is named, nothing
    // is created; a folder that is not the game's is a bad argument.
    let missing = game_guard.path().join("nope");
    let (r, _, _) = sync(path_str(&missing), 4096);
    expect_err(r, PwResult::FileMissing, path_str(&missing));
    assert!(!missing.exists());
    std::fs::remove_file(&file).unwrap();
    let (r, _, _) = sync(&install_s, 4096);
    expect_err(
        r,
        PwResult::FileMissing,
        "player-state.json: file does not exist",
    );
    assert!(!file.exists());
    let (r, _, _) = sync(&config_dir, 4096);
    expect_err(r, PwResult::InvalidArgument, "not a DRL Simulator folder");
}

// ------------------------------------------- arguments refused up front

#[test]
fn the_defaults_are_drl_with_steam_and_the_avatar() {
    let o = defaults();
    assert_eq!(o.app_id, DRL_APP_ID);
    assert!(!o.offline && o.fetch_avatar);
    for s in [o.config_dir, o.player_name, o.steam_plugin] {
        assert!(s.ptr.is_null() && s.len == 0);
    }
    unsafe { pw_identity_options_default(null_mut()) };
}

#[test]
fn bad_start_options_are_typed_errors_and_start_nothing() {
    expect_err(
        unsafe { pw_identity_start(null()) },
        PwResult::NullParameter,
        "`options` is NULL",
    );

    let mut o = defaults();
    expect_err(
        unsafe { pw_identity_start(&o) },
        PwResult::InvalidArgument,
        "`options.config_dir` is empty",
    );

    let bad = [b'/', 0xff, b'x'];
    o.config_dir = PwStr::from_bytes(&bad);
    expect_err(
        unsafe { pw_identity_start(&o) },
        PwResult::InvalidUtf8,
        "`options.config_dir` is not valid UTF-8 (bad byte at offset 1)",
    );

    let dir = Scratch::new("bad-start");
    let missing = dir.path().join("missing");
    o.config_dir = PwStr::new(path_str(&missing));
    expect_err(
        unsafe { pw_identity_start(&o) },
        PwResult::InvalidArgument,
        "cannot be opened",
    );
    assert!(!missing.exists());

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    o.config_dir = PwStr::new(path_str(&file));
    expect_err(
        unsafe { pw_identity_start(&o) },
        PwResult::InvalidArgument,
        "is a file, not a folder",
    );

    o.config_dir = PwStr::new(path_str(dir.path()));
    o.player_name = PwStr {
        ptr: null(),
        len: 3,
    };
    expect_err(
        unsafe { pw_identity_start(&o) },
        PwResult::NullParameter,
        "`options.player_name` is NULL",
    );
    o.player_name = PwStr::empty();
    o.steam_plugin = PwStr::from_bytes(&bad);
    expect_err(
        unsafe { pw_identity_start(&o) },
        PwResult::InvalidUtf8,
        "`options.steam_plugin`",
    );
    // Nothing was started with any of these: no id file was made.
    assert_eq!(names(dir.path()), vec!["a-file"]);
}

#[test]
fn bad_json_and_sync_buffers_and_paths_are_typed_errors() {
    let mut buf = [0u8; 16];
    expect_err(
        unsafe { pw_identity_json(buf.as_mut_ptr(), buf.len(), null_mut()) },
        PwResult::NullParameter,
        "`out_len` is NULL",
    );
    let mut len = 0usize;
    expect_err(
        unsafe { pw_identity_json(null_mut(), 4, &mut len) },
        PwResult::NullParameter,
        "`buf` is NULL",
    );

    let dir = Scratch::new("bad-sync");
    let game = path_str(dir.path());
    expect_err(
        unsafe {
            pw_identity_sync_player_state(PwStr::new(game), buf.as_mut_ptr(), 16, null_mut())
        },
        PwResult::NullParameter,
        "`out_len` is NULL",
    );
    expect_err(
        unsafe { pw_identity_sync_player_state(PwStr::new(game), null_mut(), 16, &mut len) },
        PwResult::NullParameter,
        "`buf` is NULL",
    );
    expect_err(
        unsafe { pw_identity_sync_player_state(PwStr::empty(), buf.as_mut_ptr(), 16, &mut len) },
        PwResult::InvalidArgument,
        "`game_dir` is empty",
    );
    expect_err(
        unsafe {
            pw_identity_sync_player_state(
                PwStr::from_bytes(&[0xc3, 0x28]),
                buf.as_mut_ptr(),
                16,
                &mut len,
            )
        },
        PwResult::InvalidUtf8,
        "`game_dir` is not valid UTF-8",
    );
    expect_err(
        unsafe {
            pw_identity_sync_player_state(
                PwStr {
                    ptr: null(),
                    len: 4,
                },
                buf.as_mut_ptr(),
                16,
                &mut len,
            )
        },
        PwResult::NullParameter,
        "`game_dir` is NULL",
    );
}

#[test]
fn every_new_code_has_a_name_and_a_message() {
    for (code, name) in [
        (105u32, "NotStarted"),
        (106, "Pending"),
        (300, "FileMissing"),
        (301, "FileInvalid"),
        (302, "IoFailed"),
    ] {
        let r = PwResult::from_u32(code).unwrap_or_else(|| panic!("{code} is a code"));
        assert_eq!(format!("{r:?}"), name);
        let mut buf = [0u8; 128];
        let mut len = 0usize;
        let got = unsafe { pw_result_message(code, buf.as_mut_ptr(), buf.len(), &mut len) };
        assert_eq!(got, PwResult::Ok);
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(len > 10 && !text.contains("unknown"), "{code}: {text}");
    }
}
