//! The backend stand-in, driven over loopback HTTP with the game's request
//! sequence against a copy of a fixture game folder
//! (tests/fixtures/backend/game): time, license, login, game state, player
//! state read and write, progression, circuits, maps updated, a maps page
//! and single maps by guid, an unknown route, and requests no game should
//! send. Every answer's shape and encoding is checked as the routes table
//! documents it, and what lands in player-state.json. Then the same through
//! the C ABI (`pw_backend_*`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::ffi::{expect_err, last_error, path_str};
use common::identity::members;
use common::scratch::{copy_dir, Scratch};
use propwash::backend::{Backend, BackendConfig, Facts};
use propwash::ffi::{
    pw_backend_free, pw_backend_options_default, pw_backend_port, pw_backend_start, PwBackend,
    PwBackendOptions, PwResult, PwStr,
};
use propwash::identity::{Identity, Source};
use serde_json::{json, Value};

const STATE: &str = "StreamingAssets/game/storage/offline/state/player/player-state.json";
const CUSTOM: &str = "StreamingAssets/game/storage/offline/maps";

/// A copy of the fixture game; (guard, install folder).
fn game() -> (Scratch, PathBuf) {
    let dir = Scratch::new("backend");
    let install = dir.path().join("DRL Simulator");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backend/game"),
        &install,
    );
    (dir, install)
}

fn data(install: &Path) -> PathBuf {
    install.join("DRL Simulator_Data")
}

/// Identity and license as a test wants them.
struct FakeFacts {
    identity: Option<Identity>,
    owns: Result<bool, String>,
}

impl Facts for FakeFacts {
    fn identity(&self) -> Option<Identity> {
        self.identity.clone()
    }
    fn owns_app(&self, app_id: u32) -> Result<bool, String> {
        assert_eq!(app_id, 641_780, "the license is DRL Simulator's");
        self.owns.clone()
    }
}

fn steam_pilot() -> Identity {
    Identity {
        steam_id: Some(76_561_198_000_000_777),
        name: "Steam Ace".into(),
        avatar_url: Some("https://avatars.example/ace.jpg".into()),
        player_id: "0123456789abcdef0123456789abcdef".into(),
        verified: true,
        source: Source::Steam,
        note: None,
    }
}

fn start(install: &Path, facts: FakeFacts, offline_licensed: bool) -> Backend {
    let mut cfg = BackendConfig::new(install, "4.2.test");
    cfg.offline_licensed = offline_licensed;
    Backend::start(&cfg, Arc::new(facts)).expect("the stand-in starts")
}

/// Sends raw bytes, reads the whole answer (the server closes); returns
/// status and body.
fn exchange(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("the answer arrives");
    let text = String::from_utf8(out).expect("answers are UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    assert!(head.contains("Connection: close"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .expect("a Content-Length");
    assert_eq!(len, body.len(), "the length is the body's");
    (status, body.to_string())
}

fn call(addr: SocketAddr, method: &str, target: &str, body: &str) -> Value {
    let raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: api.drlgame.com\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = exchange(addr, raw.as_bytes());
    assert_eq!(status, 200, "{method} {target}: {text}");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {target}: not JSON ({e}): {text}"))
}

/// The envelope's `data`, checked to be Base64 of JSON (`"encoded": true`).
fn base64_data(v: &Value) -> Value {
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["message"], Value::Null, "{v}");
    assert_eq!(v["encoded"], true, "{v}");
    let text = v["data"]
        .as_str()
        .unwrap_or_else(|| panic!("data is a string: {v}"));
    let bytes = decode_base64(text);
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("Base64 of JSON ({e}): {v}"))
}

/// The envelope's raw `data` (`"encoded": false`).
fn raw_data(v: &Value) -> Value {
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["message"], Value::Null, "{v}");
    assert_eq!(v["encoded"], false, "{v}");
    assert!(!v["data"].is_string(), "raw data is JSON, not text: {v}");
    v["data"].clone()
}

/// An independent Base64 decoder (the standard alphabet, padded), so the
/// library's own encoder is checked against something else.
fn decode_base64(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 4, 0, "padded Base64: {text}");
    let val = |c: u8| -> u32 {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        alphabet
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("{:?} is not Base64", c as char)) as u32
    };
    let mut out = Vec::new();
    for q in text.as_bytes().chunks(4) {
        let pad = q.iter().filter(|&&c| c == b'=').count();
        let n = q[..4 - pad].iter().fold(0u32, |n, &c| (n << 6) | val(c)) << (6 * pad);
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

#[test]
fn the_games_request_sequence_gets_answers_of_the_documented_shapes() {
    let (_g, install) = game();
    let state_file = data(&install).join(STATE);
    let before = std::fs::read_to_string(&state_file).unwrap();
    let b = start(
        &install,
        FakeFacts {
            identity: Some(steam_pilot()),
            owns: Ok(true),
        },
        false,
    );
    let a = b.addr();
    assert!(a.ip().is_loopback() && a.port() != 0, "{a}");

    // Time: raw, now.
    let t = raw_data(&call(a, "GET", "/drl.service.time", ""));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ms = t["serverTimeMs"].as_i64().expect("serverTimeMs");
    assert!((now_ms - ms).abs() < 10_000, "{t}");
    assert_eq!(t["timestamp"].as_i64(), Some(ms / 1000), "{t}");
    let iso = t["serverTime"].as_str().unwrap();
    assert!(
        iso.ends_with('Z') && iso.len() == 24 && &iso[10..11] == "T",
        "{iso}"
    );

    // License: Base64, licensed because Steam says so.
    let lic = base64_data(&call(a, "GET", "/v1/player/license", ""));
    for k in ["license", "hasLicense", "licensed", "valid", "active"] {
        assert_eq!(lic[k], true, "{k}: {lic}");
    }
    assert_eq!(lic["app-id"], 641_780);

    // Login: Base64 profile from player-state.json with Steam's identity
    // over it, and a token beside it.
    let login = call(a, "POST", "/drl.service.login.v2", r#"{"ticket":"abcd"}"#);
    let token = login["token"].as_str().expect("a token").to_string();
    assert!(token.len() >= 16, "{login}");
    let p = base64_data(&login);
    assert_eq!(p["steam-id"], "76561198000000777", "{p}");
    assert_eq!(p["profile-name"], "Steam Ace");
    assert_eq!(p["profile-photo-url"], "https://avatars.example/ace.jpg");
    assert_eq!(p["_id"], "5f1e2d3c4b5a69788796a5b4", "the file's ids stay");
    assert_eq!(p["profile-country-iso"], "DE");
    assert_eq!(p["zz-unknown"], json!({"kept": [1, 2.5, "three"]}));

    // Game state: raw.
    let gs = raw_data(&call(a, "GET", "/state/game", ""));
    assert_eq!(
        gs,
        json!({"version": "4.2.test", "maintenanceMode": false, "serverStatus": "online"})
    );

    // Player state: Base64 of the file.
    let st = base64_data(&call(a, "GET", "/state/player", ""));
    let file: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(st, file);
    // An empty POST reads too.
    assert_eq!(base64_data(&call(a, "POST", "/state", "")), file);

    // Player state write: lands in the file, unknown keys and layout kept.
    let sent =
        json!({"profile-color": "ff0000", "maps-favorite": "[\"MP-0c6-race\"]", "new-key": 5});
    let write = json!({"data": decode_free_base64(&sent)}).to_string();
    let after = base64_data(&call(a, "POST", "/state/player", &write));
    assert_eq!(after["profile-color"], "ff0000");
    assert_eq!(after["new-key"], 5);
    let on_disk = std::fs::read_to_string(&state_file).unwrap();
    let (old, new) = (members(&before), members(&on_disk));
    assert_eq!(new.len(), old.len() + 1, "one key added:\n{on_disk}");
    for ((k, v), (k2, v2)) in old.iter().zip(&new) {
        assert_eq!(k, k2, "key order kept");
        match k.as_str() {
            "profile-color" => assert_eq!(v2, "ff0000"),
            "maps-favorite" => assert_eq!(v2, "[\"MP-0c6-race\"]"),
            _ => assert_eq!(v, v2, "{k} kept"),
        }
    }
    assert!(
        on_disk.contains("\"zz-unknown\": {\"kept\": [1, 2.50, \"three\"]}"),
        "bytes kept:\n{on_disk}"
    );
    assert_eq!(new.last().unwrap(), &("new-key".to_string(), json!(5)));
    let bak = std::fs::read_to_string(state_file.with_file_name("player-state.json.bak")).unwrap();
    assert_eq!(bak, before, "the old file is kept as .bak");
    assert!(!state_file.with_file_name("player-state.json.tmp").exists());

    // Progression: every track (official, then custom), metadata only, a
    // plain raw array.
    let tracks = raw_data(&call(a, "GET", "/drl.service.progression.tracks", ""));
    let guids: Vec<&str> = tracks
        .as_array()
        .expect("a plain array")
        .iter()
        .map(|t| t["guid"].as_str().unwrap())
        .collect();
    assert_eq!(
        guids,
        [
            "MP-1a2-race",
            "MP-0c6-race",
            "MP-0c6-free",
            "CMP-5f2a91",
            "CMP-77bd03"
        ]
    );
    assert!(
        tracks
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("root").is_none()),
        "no scenes in lists"
    );
    let pp = raw_data(&call(a, "GET", "/progression/player", ""));
    assert_eq!(
        pp["profile-color"], "ff0000",
        "the player state as it is now"
    );

    // Circuits: the player's circuits-data, parsed.
    let c = raw_data(&call(a, "GET", "/circuits", ""));
    assert_eq!(
        c,
        json!([{"circuit-id": "C-1", "tracks": ["MP-0c6-race", "CMP-5f2a91"]}])
    );

    // Tournaments and maps updated: empty raw arrays.
    assert_eq!(raw_data(&call(a, "GET", "/tournaments", "")), json!([]));
    assert_eq!(
        raw_data(&call(a, "GET", "/maps/updated?full=true", "")),
        json!([])
    );

    // A maps page: filtered, sorted, both paging spellings.
    let page = raw_data(&call(
        a,
        "GET",
        "/maps?page=1&limit=2&sort=score&order=desc&is-race-allowed=true",
        "",
    ));
    for key in ["pagging", "paging"] {
        assert_eq!(
            page[key],
            json!({"page": 1, "limit": 2, "total": 4, "pages": 2}),
            "{page}"
        );
    }
    let first: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["guid"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        ["CMP-5f2a91", "MP-0c6-race"],
        "by score, highest first, no freestyle"
    );
    let page2 = raw_data(&call(
        a,
        "GET",
        "/maps?page=2&limit=2&sort=score&order=desc&is-race-allowed=true",
        "",
    ));
    let second: Vec<&str> = page2["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["guid"].as_str().unwrap())
        .collect();
    assert_eq!(
        second,
        ["MP-1a2-race", "CMP-77bd03"],
        "a custom track without a score comes last"
    );
    let by_rating = raw_data(&call(
        a,
        "GET",
        "/maps?limit=1&sort=rating-count&order=asc",
        "",
    ));
    assert_eq!(by_rating["data"][0]["guid"], "CMP-77bd03");

    // One map by guid: an official one whole (scene included), a custom
    // one from its .cmp, an unknown one refused.
    let official = raw_data(&call(a, "GET", "/maps?guid=MP-0c6-race", ""));
    assert_eq!(official["root"]["scene"], "stadium");
    let custom = raw_data(&call(a, "GET", "/maps?guid=CMP-5f2a91", ""));
    assert_eq!(custom["map-title"], "Night Stadium");
    assert_eq!(custom["map-laps"], 4);
    let opaque = raw_data(&call(a, "GET", "/maps/CMP-77bd03", ""));
    assert_eq!(opaque["guid"], "CMP-77bd03");
    assert_eq!(opaque["map-category"], "MapCustom");
    let missing = call(a, "GET", "/maps?guid=CMP-nothere", "");
    assert_eq!(missing["success"], false);
    assert!(
        missing["message"].as_str().unwrap().contains("CMP-nothere"),
        "{missing}"
    );

    // A custom track that arrives is listed at once.
    std::fs::write(data(&install).join(CUSTOM).join("CMP-arrived.cmp"), b"new").unwrap();
    let all = raw_data(&call(a, "GET", "/maps", ""));
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|t| t["guid"] == "CMP-arrived"),
        "{all}"
    );

    // The content manifest: Base64, the map folders.
    let man = base64_data(&call(a, "GET", "/content/manifest", ""));
    assert_eq!(man["version"], "4.2.test");
    assert_eq!(
        man["maps"],
        json!([{"id": "map-field", "name": "map-field", "enabled": true},
               {"id": "map-stadium", "name": "map-stadium", "enabled": true}])
    );

    // The profile: a one-element array, Base64.
    let prof = base64_data(&call(a, "GET", "/player/profile", ""));
    assert_eq!(prof.as_array().map(Vec::len), Some(1), "{prof}");
    assert_eq!(prof[0]["profile-name"], "Steam Ace");

    // Analytics: acknowledged; an unknown route: the empty success.
    assert_eq!(
        call(a, "POST", "/analytics", "{}"),
        json!({"success": true, "message": null})
    );
    let unknown = call(a, "GET", "/v9/something/new?x=1", "");
    assert_eq!(base64_data(&unknown), json!({}));

    // Requests no game sends: refused with a JSON reason, and the server
    // goes on answering.
    let (status, text) = exchange(a, b"NONSENSE\r\n\r\n");
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["success"],
        false
    );
    let (status, _) = exchange(
        a,
        format!(
            "POST /state HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            9 << 20
        )
        .as_bytes(),
    );
    assert_eq!(status, 413);
    let bad_write = call(a, "POST", "/state/player", "[1, 2]");
    assert_eq!(bad_write["success"], false, "{bad_write}");
    assert_eq!(
        std::fs::read_to_string(&state_file).unwrap(),
        on_disk,
        "a bad write changes nothing"
    );
    // A connection that says nothing does not hold the server for long.
    let idle = TcpStream::connect(a).unwrap();
    let started = std::time::Instant::now();
    raw_data(&call(a, "GET", "/time", ""));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    drop(idle);

    assert!(b.served() >= 25, "{}", b.served());
    b.stop();
    assert!(
        TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_err(),
        "stopped: nobody listens"
    );
}

/// Base64 of a JSON value, by the test's own hand (std only): the inverse
/// of `decode_base64`.
fn decode_free_base64(v: &Value) -> String {
    let bytes = v.to_string().into_bytes();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= c.len() {
                alphabet[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[test]
fn without_steam_the_license_follows_the_setting_and_says_so() {
    let (_g, install) = game();
    for (setting, want) in [(false, false), (true, true)] {
        let b = start(
            &install,
            FakeFacts {
                identity: None,
                owns: Err("no Steam to ask (offline identity)".into()),
            },
            setting,
        );
        let lic = base64_data(&call(b.addr(), "GET", "/player/license", ""));
        assert_eq!(lic["licensed"], want, "setting {setting}: {lic}");
    }
    // Steam saying no is no, whatever the setting.
    let b = start(
        &install,
        FakeFacts {
            identity: Some(steam_pilot()),
            owns: Ok(false),
        },
        true,
    );
    let lic = base64_data(&call(b.addr(), "GET", "/player/license", ""));
    assert_eq!(lic["licensed"], false, "{lic}");
    // Without an identity the profile is the file's own.
    let b = start(
        &install,
        FakeFacts {
            identity: None,
            owns: Ok(true),
        },
        false,
    );
    let p = base64_data(&call(b.addr(), "POST", "/login", ""));
    assert_eq!(p["profile-name"], "Fixture Pilot");
    assert_eq!(p["steam-id"], "76561198000000042");
}

#[test]
fn overrides_move_a_route_and_bad_ones_or_folders_refuse_to_start() {
    let (_g, install) = game();
    let mut cfg = BackendConfig::new(&install, "v");
    cfg.overrides_json =
        r#"{"game-state": {"paths": ["/v3/status"], "encoding": "base64"}}"#.into();
    let facts = || {
        Arc::new(FakeFacts {
            identity: None,
            owns: Ok(true),
        })
    };
    let b = Backend::start(&cfg, facts()).unwrap();
    let gs = base64_data(&call(b.addr(), "GET", "/v3/status", ""));
    assert_eq!(gs["serverStatus"], "online");
    drop(b);
    cfg.overrides_json = r#"{"no-such-route": {}}"#.into();
    let e = Backend::start(&cfg, facts()).unwrap_err().to_string();
    assert!(e.contains("no-such-route"), "{e}");
    let empty = Scratch::new("backend-notgame");
    let e = Backend::start(&BackendConfig::new(empty.path(), "v"), facts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a DRL Simulator folder"), "{e}");
}

#[test]
fn the_c_abi_starts_answers_and_frees_the_stand_in() {
    let (_g, install) = game();
    let mut o: PwBackendOptions = unsafe { std::mem::zeroed() };
    unsafe { pw_backend_options_default(&mut o) };
    assert!(!o.offline_licensed && o.game_dir.len == 0);
    let mut h: *mut PwBackend = std::ptr::null_mut();
    // Checked arguments.
    expect_err(
        unsafe { pw_backend_start(std::ptr::null(), &mut h) },
        PwResult::NullParameter,
        "options",
    );
    expect_err(
        unsafe { pw_backend_start(&o, &mut h) },
        PwResult::InvalidArgument,
        "game_dir",
    );
    let empty = Scratch::new("backend-ffi-notgame");
    o.game_dir = PwStr::new(path_str(empty.path()));
    expect_err(
        unsafe { pw_backend_start(&o, &mut h) },
        PwResult::FileMissing,
        "not a DRL Simulator folder",
    );
    o.game_dir = PwStr::new(path_str(&install));
    o.routes_json = PwStr::new("{\"time\": 1}");
    expect_err(
        unsafe { pw_backend_start(&o, &mut h) },
        PwResult::InvalidArgument,
        "route \"time\"",
    );
    o.routes_json = PwStr::from_bytes(b"\xff");
    expect_err(
        unsafe { pw_backend_start(&o, &mut h) },
        PwResult::InvalidUtf8,
        "routes_json",
    );
    assert!(h.is_null(), "no handle on failure");

    o.routes_json = PwStr::empty();
    o.game_version = PwStr::new("4.2.ffi");
    assert_eq!(
        unsafe { pw_backend_start(&o, &mut h) },
        PwResult::Ok,
        "{}",
        last_error()
    );
    let mut port = 0u16;
    assert_eq!(unsafe { pw_backend_port(h, &mut port) }, PwResult::Ok);
    assert_ne!(port, 0);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let gs = raw_data(&call(addr, "GET", "/state/game", ""));
    assert_eq!(gs["version"], "4.2.ffi");
    // No identity was started in this process: not licensed, said so.
    let lic = base64_data(&call(addr, "GET", "/player/license", ""));
    assert_eq!(lic["licensed"], false);
    expect_err(
        unsafe { pw_backend_port(h, std::ptr::null_mut()) },
        PwResult::NullParameter,
        "out_port",
    );

    unsafe { pw_backend_free(h) };
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
    expect_err(
        unsafe { pw_backend_port(h, &mut port) },
        PwResult::InvalidHandle,
        "freed",
    );
    unsafe { pw_backend_free(h) }; // detected, harmless
    unsafe { pw_backend_free(std::ptr::null_mut()) };
}
