//! Identity: the fallback when Steam is absent (no plugin, no steam_api, no
//! Steam client), verified joins with a fake Steam, the avatar fetch against
//! a local HTTP server, and `player-state.json` through the library and the
//! `propwash identity` command line.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use propwash::identity::avatar::{self, AvatarCache};
use propwash::identity::cli::cli_run;
use propwash::identity::steam::{plugin_file_name, SteamPlugin, SteamUnavailable};
use propwash::identity::{
    current, sync_player_state, FakeAnswer, FakeVerifier, IdentityConfig, IdentityError, JoinGate,
    RefuseKind, SeatDecision, Source, DRL_APP_ID,
};
use serde_json::Value;

mod common;
use common::identity::{assert_only_identity_changed, fixtures, game_fixture, members};
use common::scratch::{names, Scratch};

const ALICE: u64 = 76_561_198_000_000_001;
const BOB: u64 = 76_561_198_000_000_002;
const MALLORY: u64 = 76_561_198_000_000_003;
const HOST: u64 = 76_561_198_000_000_099;

// ---------------------------------------------------------------- helpers

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn run_cli(a: &[&str]) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli_run(&args(a), &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn refused(d: &SeatDecision) -> (RefuseKind, String) {
    match d {
        SeatDecision::Refuse { kind, message } => (*kind, message.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn seat_verified(id: u64) -> SeatDecision {
    SeatDecision::Seat {
        verified: true,
        steam_id: Some(id),
    }
}

const SEAT_UNVERIFIED: SeatDecision = SeatDecision::Seat {
    verified: false,
    steam_id: None,
};

// ------------------------------------------------------- Steam fallback

#[test]
fn without_the_steam_plugin_the_identity_is_offline_and_says_why() {
    let dir = Scratch::new("fallback-noplugin");
    let mut config = IdentityConfig::new(dir.path());
    config.name = Some("Tester".into());
    config.steam_plugin = Some(dir.path().join("missing").join(plugin_file_name()));
    let started = Instant::now();
    let id = current(&config);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(id.source, Source::Offline);
    assert!(!id.verified);
    assert_eq!(id.steam_id, None);
    assert_eq!(id.name, "Tester");
    let note = id.note.expect("an offline identity says why");
    assert!(note.contains("Steam unavailable"), "{note}");
    assert!(note.contains(&plugin_file_name()), "{note}");
    // Stable across runs: the id was kept beside the config.
    assert_eq!(current(&config).player_id, id.player_id);
    assert!(dir.path().join(propwash::identity::ID_FILE).is_file());
}

/// The folder of the build, the plugin built from `steam/` and the
/// steam_api it links, or why not.
/// Builds it with the cargo that built this test (a no-op when fresh).
fn built_plugin() -> &'static Result<(PathBuf, PathBuf, PathBuf), String> {
    static BUILT: OnceLock<Result<(PathBuf, PathBuf, PathBuf), String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // <target>/<profile>/deps/identity-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .ok_or("test binary not in <target>/<profile>/deps")?;
        let target_dir = profile_dir.parent().ok_or("no target dir")?;
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("odd profile dir")?;
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "-p", "propwash-steam", "--target-dir"])
            .arg(target_dir);
        if profile != "debug" {
            cmd.args(["--profile", profile]);
        }
        let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo build -p propwash-steam failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let plugin = profile_dir.join(plugin_file_name());
        let api_name = libloading::library_filename(if cfg!(windows) {
            "steam_api64"
        } else {
            "steam_api"
        });
        let mut apis: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(profile_dir.join("build"))
                .map_err(|e| e.to_string())?
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("steamworks-sys-")
                })
                .map(|e| e.path().join("out").join(&api_name))
                .filter(|p| p.is_file())
                .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
                .collect();
        apis.sort();
        let api = apis
            .pop()
            .ok_or("steam_api not found in the steamworks-sys build output")?
            .1;
        Ok((profile_dir.to_path_buf(), plugin, api))
    })
}

/// One test, in this order, because the dynamic loader keeps the first
/// steam_api it loads for the whole process: the plugin without steam_api
/// beside it must be tried before any plugin with it.
#[test]
fn the_steam_plugin_without_steam_api_or_without_a_steam_client_falls_back_offline() {
    let (profile_dir, plugin, api) = built_plugin().as_ref().expect("the Steam plugin builds");

    // 0. propwash itself never needs steam_api: its cdylib loads in a
    // process where steam_api cannot be found.
    let steam_api_name = api.file_name().unwrap();
    // SAFETY: loading a library; none of its code is called.
    let found = unsafe { libloading::Library::new(steam_api_name) };
    assert!(
        found.is_err(),
        "steam_api is on the library path ({}); this check would prove nothing. \
         `cargo nextest run --workspace` puts steamworks-sys's build folder there: \
         run the root package's tests as .ci/run does",
        std::env::var("LD_LIBRARY_PATH").unwrap_or_default()
    );
    // Cargo leaves the cdylib built for the tests in deps/ (and copies it
    // up to the profile folder only for some commands).
    let name = libloading::library_filename("propwash");
    let own = [
        profile_dir.join(&name),
        profile_dir.join("deps").join(&name),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| {
        panic!(
            "{} is built with the tests",
            profile_dir.join(&name).display()
        )
    });
    // SAFETY: as above; kept loaded (never unload a Rust cdylib mid-process).
    let lib =
        unsafe { libloading::Library::new(&own) }.expect("libpropwash loads without steam_api");
    std::mem::forget(lib);

    // 1. steam_api missing: the plugin does not load; we go offline.
    let dir = Scratch::new("fallback-noapi");
    let lone = dir.path().join(plugin_file_name());
    std::fs::copy(plugin, &lone).unwrap();
    let err = SteamPlugin::load(&lone).unwrap_err();
    let SteamUnavailable::Load { error, .. } = &err else {
        panic!("expected a load failure, got {err}");
    };
    assert!(error.contains("steam_api"), "{error}");
    let mut config = IdentityConfig::new(dir.path());
    config.steam_plugin = Some(lone);
    let id = current(&config);
    assert_eq!(id.source, Source::Offline);
    assert!(!id.verified);
    let note = id.note.unwrap();
    assert!(
        note.contains("did not load") && note.contains("steam_api"),
        "{note}"
    );

    // 2. steam_api beside it but no Steam client: it loads, init fails
    // quickly and cleanly, we go offline.
    let dir = Scratch::new("fallback-noclient");
    let installed = dir.path().join(plugin_file_name());
    std::fs::copy(plugin, &installed).unwrap();
    std::fs::copy(api, dir.path().join(api.file_name().unwrap())).unwrap();
    let loaded = SteamPlugin::load(&installed).expect("loads with steam_api beside it");
    let started = Instant::now();
    let init = loaded.init(DRL_APP_ID, Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(10));
    match init {
        Err(SteamUnavailable::Init(why)) => {
            assert!(!why.is_empty());
            // Nothing Steam-side works, and nothing crashes.
            assert_eq!(loaded.steam_id(), None);
            assert_eq!(loaded.persona_name(), None);
            assert_eq!(loaded.auth_ticket(76_561_198_000_000_099), None);
            let mut config = IdentityConfig::new(dir.path());
            config.steam_plugin = Some(installed.clone());
            let id = current(&config);
            assert_eq!(id.source, Source::Offline);
            assert!(!id.verified);
            let note = id.note.unwrap();
            assert!(note.contains("Steam did not start"), "{note}");
        }
        Ok(()) => {
            // A Steam client is running on this machine after all.
            assert!(loaded.steam_id().is_some());
        }
        Err(other) => panic!("unexpected: {other}"),
    }
}

// ---------------------------------------------------------- verified joins

#[test]
fn a_ticket_steam_accepts_later_seats_the_player_verified() {
    let fake = FakeVerifier::new(FakeAnswer::NeverAnswer);
    let mut gate = JoinGate::new(Ok(fake), true);
    let t0 = Instant::now();
    let ticket = FakeVerifier::ticket_for(ALICE);
    let d = gate.hello(t0, addr(1), Some(ALICE), Some(&ticket), &[HOST]);
    assert_eq!(d, SeatDecision::Wait);
    assert!(gate.poll_timeout(t0).is_some_and(|t| t > t0));
    // The client repeats its hello: no second BeginAuthSession.
    assert_eq!(
        gate.hello(t0, addr(1), Some(ALICE), Some(&ticket), &[HOST]),
        SeatDecision::Wait
    );
    assert_eq!(gate.verifier().unwrap().begun, vec![ALICE]);
    gate.verifier_mut()
        .unwrap()
        .set_answer(ALICE, FakeAnswer::Accept);
    let decided = gate.poll(t0 + Duration::from_millis(100), &[HOST]);
    assert_eq!(decided, vec![(addr(1), seat_verified(ALICE))]);
    assert_eq!(gate.poll_timeout(t0), None);
    // Leaving ends the Steam session.
    assert!(gate.verifier().unwrap().ended.is_empty());
    gate.left(ALICE);
    assert_eq!(gate.verifier().unwrap().ended, vec![ALICE]);
}

#[test]
fn a_ticket_steam_rejects_refuses_the_player_with_steams_reason() {
    let fake = FakeVerifier::new(FakeAnswer::Accept).answer(
        BOB,
        FakeAnswer::Reject("the user is VAC banned from this game".into()),
    );
    let mut gate = JoinGate::new(Ok(fake), false);
    let d = gate.hello(
        Instant::now(),
        addr(2),
        Some(BOB),
        Some(&FakeVerifier::ticket_for(BOB)),
        &[HOST],
    );
    let (kind, msg) = refused(&d);
    assert_eq!(kind, RefuseKind::TicketRejected);
    assert!(msg.contains("VAC banned"), "{msg}");
    assert_eq!(gate.verifier().unwrap().ended, vec![BOB]);
    assert!(gate.verifier().unwrap().open_sessions().is_empty());
}

#[test]
fn a_check_steam_never_answers_times_out_as_a_refusal() {
    let fake = FakeVerifier::new(FakeAnswer::NeverAnswer);
    let mut gate = JoinGate::new(Ok(fake), false);
    let t0 = Instant::now();
    let d = gate.hello(
        t0,
        addr(3),
        Some(ALICE),
        Some(&FakeVerifier::ticket_for(ALICE)),
        &[],
    );
    assert_eq!(d, SeatDecision::Wait);
    let mut now = t0;
    let mut decided = Vec::new();
    // Drive it like a host would: poll when poll_timeout says, never blocking.
    for _ in 0..1000 {
        let Some(next) = gate.poll_timeout(now) else {
            break;
        };
        now = next;
        decided.extend(gate.poll(now, &[]));
    }
    assert_eq!(decided.len(), 1);
    let (kind, msg) = refused(&decided[0].1);
    assert_eq!(kind, RefuseKind::VerificationTimedOut);
    assert!(msg.contains("5 s"), "{msg}");
    assert!(now >= t0 + Duration::from_secs(5) && now < t0 + Duration::from_secs(6));
    assert_eq!(gate.verifier().unwrap().ended, vec![ALICE]);
}

#[test]
fn nobody_can_take_the_steam_id_of_a_player_in_the_room() {
    let fake = FakeVerifier::new(FakeAnswer::Accept).answer(BOB, FakeAnswer::NeverAnswer);
    let mut gate = JoinGate::new(Ok(fake), false);
    let now = Instant::now();
    let seated = [HOST, ALICE];
    // Claiming a seated id, even with a ticket Steam would accept, is refused
    // before Steam is asked.
    let d = gate.hello(
        now,
        addr(9),
        Some(ALICE),
        Some(&FakeVerifier::ticket_for(ALICE)),
        &seated,
    );
    let (kind, msg) = refused(&d);
    assert_eq!(kind, RefuseKind::SteamIdInUse);
    assert!(msg.contains(&ALICE.to_string()), "{msg}");
    let (kind, _) = refused(&gate.hello(now, addr(9), Some(HOST), None, &seated));
    assert_eq!(kind, RefuseKind::SteamIdInUse);
    assert!(gate.verifier().unwrap().begun.is_empty());

    // Mallory's own ticket does not prove she is Bob.
    let d = gate.hello(
        now,
        addr(9),
        Some(BOB),
        Some(&FakeVerifier::ticket_for(MALLORY)),
        &seated,
    );
    let (kind, msg) = refused(&d);
    assert_eq!(kind, RefuseKind::TicketRejected);
    assert!(msg.contains("another Steam id"), "{msg}");

    // While Bob's own check is pending, a second connection claiming Bob is
    // refused and Bob's check goes on.
    let bob_ticket = FakeVerifier::ticket_for(BOB);
    assert_eq!(
        gate.hello(now, addr(2), Some(BOB), Some(&bob_ticket), &seated),
        SeatDecision::Wait
    );
    let (kind, _) = refused(&gate.hello(now, addr(9), Some(BOB), Some(&bob_ticket), &seated));
    assert_eq!(kind, RefuseKind::SteamIdInUse);
    assert_eq!(gate.verifier().unwrap().open_sessions(), vec![BOB]);
    gate.verifier_mut()
        .unwrap()
        .set_answer(BOB, FakeAnswer::Accept);
    assert_eq!(gate.poll(now, &seated), vec![(addr(2), seat_verified(BOB))]);
}

#[test]
fn require_verified_refuses_unverified_joiners_with_a_clear_reason() {
    let mut gate = JoinGate::new(Ok(FakeVerifier::new(FakeAnswer::Accept)), true);
    let now = Instant::now();
    let (kind, msg) = refused(&gate.hello(now, addr(4), None, None, &[HOST]));
    assert_eq!(kind, RefuseKind::NotVerified);
    assert!(msg.contains("only players verified by Steam"), "{msg}");
    // A claim without a ticket is no better.
    let (kind, msg) = refused(&gate.hello(now, addr(4), Some(ALICE), None, &[HOST]));
    assert_eq!(kind, RefuseKind::NotVerified);
    assert!(msg.contains("no Steam ticket"), "{msg}");

    // In an open room the same joiners are seated, unverified, and an
    // unproven Steam id is not recorded.
    gate.set_require_verified(false);
    assert_eq!(
        gate.hello(now, addr(4), None, None, &[HOST]),
        SEAT_UNVERIFIED
    );
    assert_eq!(
        gate.hello(now, addr(5), Some(ALICE), None, &[HOST]),
        SEAT_UNVERIFIED
    );
    assert!(gate.verifier().unwrap().begun.is_empty());
}

#[test]
fn a_host_without_steam_seats_everyone_unverified_or_refuses_if_required() {
    let mut open: JoinGate<FakeVerifier> = JoinGate::new(Err("Steam is not running".into()), false);
    let now = Instant::now();
    let t = FakeVerifier::ticket_for(ALICE);
    assert_eq!(
        open.hello(now, addr(6), Some(ALICE), Some(&t), &[]),
        SEAT_UNVERIFIED
    );
    let mut strict: JoinGate<FakeVerifier> =
        JoinGate::new(Err("Steam is not running".into()), true);
    let (kind, msg) = refused(&strict.hello(now, addr(6), Some(ALICE), Some(&t), &[]));
    assert_eq!(kind, RefuseKind::NotVerified);
    assert!(
        msg.contains("host cannot check") && msg.contains("Steam is not running"),
        "{msg}"
    );
}

#[test]
fn a_joiner_who_gives_up_while_pending_has_the_check_ended() {
    let mut gate = JoinGate::new(Ok(FakeVerifier::new(FakeAnswer::NeverAnswer)), false);
    let now = Instant::now();
    let t = FakeVerifier::ticket_for(ALICE);
    assert_eq!(
        gate.hello(now, addr(7), Some(ALICE), Some(&t), &[]),
        SeatDecision::Wait
    );
    gate.forget(addr(7));
    assert_eq!(gate.verifier().unwrap().ended, vec![ALICE]);
    assert_eq!(gate.poll_timeout(now), None);
    assert!(gate.poll(now + Duration::from_secs(10), &[]).is_empty());
}

// ------------------------------------------------------------ avatar fetch

/// Profile routes: Steam id, HTTP status, body (`None`: never answer).
type Routes = Mutex<Vec<(u64, u16, Option<String>)>>;

/// A bounded HTTP server on 127.0.0.1 answering `/profiles/<id>?xml=1`
/// from `routes` (id → status and body; a `None` body never answers).
struct ProfileServer {
    base: String,
    routes: Arc<Routes>,
    hits: Arc<AtomicU32>,
}

impl ProfileServer {
    fn start() -> ProfileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Routes> = Arc::default();
        let hits = Arc::new(AtomicU32::new(0));
        let (r, h) = (routes.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(32) {
                let Ok(s) = stream else { continue };
                h.fetch_add(1, Ordering::Relaxed);
                let r = r.clone();
                std::thread::spawn(move || answer(s, &r));
            }
        });
        ProfileServer { base, routes, hits }
    }

    fn route(&self, id: u64, status: u16, body: Option<&str>) {
        let mut r = self.routes.lock().unwrap();
        r.retain(|x| x.0 != id);
        r.push((id, status, body.map(String::from)));
    }
}

fn answer(mut s: std::net::TcpStream, r: &Routes) {
    let mut line = String::new();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let _ = reader.read_line(&mut line);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) <= 2 {
            break;
        }
    }
    let id: u64 = line
        .split("/profiles/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let route = r.lock().unwrap().iter().find(|x| x.0 == id).cloned();
    match route {
        Some((_, status, Some(body))) => {
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: text/xml; charset=utf-8\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Some((_, _, None)) => {
            // Hold the connection open, say nothing, then go.
            std::thread::sleep(Duration::from_secs(2));
        }
        None => {
            let _ = write!(
                s,
                "HTTP/1.1 404 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    }
}

const FIXTURE_AVATAR: &str =
    "https://avatars.steamstatic.com/fef49e7fa7e1997310d705b2a6158ff8dc1cdfeb_full.jpg";

#[test]
fn the_avatar_url_comes_from_the_public_profile_data() {
    let server = ProfileServer::start();
    let profile = std::fs::read_to_string(fixtures().join("profile.xml")).unwrap();
    server.route(ALICE, 200, Some(&profile));
    let url = avatar::fetch_avatar_url(&server.base, ALICE, Duration::from_secs(3)).unwrap();
    assert_eq!(url, FIXTURE_AVATAR);

    let missing = std::fs::read_to_string(fixtures().join("profile-not-found.xml")).unwrap();
    server.route(BOB, 200, Some(&missing));
    let err = avatar::fetch_avatar_url(&server.base, BOB, Duration::from_secs(3)).unwrap_err();
    assert!(err.to_string().contains("could not be found"), "{err}");
    assert!(
        err.to_string().contains(&format!("/profiles/{BOB}?xml=1")),
        "{err}"
    );
}

#[test]
fn a_failed_avatar_fetch_keeps_the_previous_url_and_does_not_wait_long() {
    let server = ProfileServer::start();
    let profile = std::fs::read_to_string(fixtures().join("profile.xml")).unwrap();
    server.route(ALICE, 200, Some(&profile));
    let cache = AvatarCache::new(&server.base, Duration::from_millis(300));
    assert_eq!(cache.get(ALICE), None);
    assert_eq!(cache.refresh(ALICE).as_deref(), Some(FIXTURE_AVATAR));

    server.route(ALICE, 503, Some("busy"));
    assert_eq!(cache.refresh(ALICE).as_deref(), Some(FIXTURE_AVATAR));

    server.route(ALICE, 200, None);
    let started = Instant::now();
    assert_eq!(cache.refresh(ALICE).as_deref(), Some(FIXTURE_AVATAR));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // Never fetched and failing: nothing known.
    server.route(BOB, 500, Some(""));
    assert_eq!(cache.refresh(BOB), None);
    assert!(server.hits.load(Ordering::Relaxed) >= 4);
}

// ----------------------------------------------------- player-state.json

#[test]
fn sync_round_trip_keeps_unknown_keys_their_order_and_their_bytes() {
    let (_dir, install, file) = game_fixture("game");
    let before = std::fs::read_to_string(&file).unwrap();
    let identity = propwash::identity::Identity {
        steam_id: Some(ALICE),
        name: "Ace Pilot".into(),
        avatar_url: Some(FIXTURE_AVATAR.into()),
        player_id: "0123456789abcdef0123456789abcdef".into(),
        verified: true,
        source: Source::Steam,
        note: None,
    };
    let report = sync_player_state(&install, &identity).unwrap();
    assert!(report.written);
    assert_eq!(
        report.changed,
        vec!["steam-id", "profile-name", "profile-photo-url"]
    );
    let after = std::fs::read_to_string(&file).unwrap();
    assert_only_identity_changed(&before, &after, |k, v| match k {
        "steam-id" => assert_eq!(v, &Value::String(ALICE.to_string())),
        "profile-name" => assert_eq!(v, "Ace Pilot"),
        _ => assert_eq!(v, FIXTURE_AVATAR),
    });
    // Everything else is byte for byte what the game wrote, big numbers,
    // escapes and trailing zeros included.
    let expected = before
        .replace("\"76561198000000042\"", &format!("\"{ALICE}\""))
        .replace("\"Old Name\"", "\"Ace Pilot\"")
        .replace(
            "https://avatars.steamstatic.com/0000000000000000000000000000000000000000_full.jpg",
            FIXTURE_AVATAR,
        );
    assert_eq!(after, expected);
    assert!(after.contains("123456789012345678901234567890"));
    assert_eq!(
        std::fs::read_to_string(report.backup.unwrap()).unwrap(),
        before
    );

    // A second sync changes nothing and writes nothing.
    std::fs::remove_file(file.with_file_name("player-state.json.bak")).unwrap();
    let again = sync_player_state(&install, &identity).unwrap();
    assert!(!again.written && again.changed.is_empty());
    assert!(!file.with_file_name("player-state.json.bak").exists());
}

#[test]
fn a_corrupt_player_state_is_left_untouched_with_a_clear_error() {
    let (_dir, install, file) = game_fixture("corrupt");
    let before = std::fs::read(&file).unwrap();
    let identity = current(&{
        let mut c = IdentityConfig::new(install.join("BepInEx/config"));
        c.offline = true;
        c
    });
    let err = sync_player_state(&install, &identity).unwrap_err();
    assert!(matches!(err, IdentityError::Parse { .. }), "{err}");
    assert_eq!(err.path(), file);
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(
        msg.contains("EOF while parsing") && msg.contains("line"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(names(file.parent().unwrap()), vec!["player-state.json"]);
}

#[test]
fn cli_sync_offline_changes_exactly_the_three_fields_and_leaves_a_backup() {
    let (_dir, install, file) = game_fixture("game");
    let before = std::fs::read_to_string(&file).unwrap();
    let (code, out, err) = run_cli(&[
        "sync",
        "--game-dir",
        install.to_str().unwrap(),
        "--offline",
        "--name",
        "Tester",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("changed: steam-id, profile-name, profile-photo-url"),
        "{out}"
    );
    assert!(out.contains("Tester (offline)"), "{out}");
    let after = std::fs::read_to_string(&file).unwrap();
    let (old, new) = (members(&before), members(&after));
    assert_eq!(old.len(), new.len());
    let differing: Vec<&str> = old
        .iter()
        .zip(&new)
        .inspect(|((a, _), (b, _))| assert_eq!(a, b, "key order"))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((k, _), _)| k.as_str())
        .collect();
    assert_eq!(
        differing,
        vec!["steam-id", "profile-name", "profile-photo-url"]
    );
    let get = |k: &str| new.iter().find(|m| m.0 == k).unwrap().1.clone();
    assert_eq!(get("profile-name"), "Tester");
    assert_eq!(get("steam-id"), "");
    assert_eq!(get("profile-photo-url"), "");
    assert_eq!(get("_id"), "5f1e2d3c4b5a69788796a5b4");
    assert_eq!(get("player-id"), "drl-7d1c9f0a");
    let bak = file.with_file_name("player-state.json.bak");
    assert_eq!(std::fs::read_to_string(bak).unwrap(), before);
    assert!(!file.with_file_name("player-state.json.tmp").exists());
    // The offline id went beside the plugin's config, not into the game data.
    assert!(install
        .join("BepInEx/config")
        .join(propwash::identity::ID_FILE)
        .is_file());
}

#[test]
fn cli_sync_accepts_the_data_folder_itself() {
    let (_dir, install, file) = game_fixture("game");
    let data = install.join("DRL Simulator_Data");
    let (code, out, err) = run_cli(&[
        "sync",
        "--game-dir",
        data.to_str().unwrap(),
        "--offline",
        "--name",
        "Tester",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::read_to_string(file)
        .unwrap()
        .contains("\"Tester\""));
}

#[test]
fn cli_sync_on_a_corrupt_file_fails_and_leaves_it_byte_for_byte() {
    let (_dir, install, file) = game_fixture("corrupt");
    let before = std::fs::read(&file).unwrap();
    let (code, out, err) = run_cli(&[
        "sync",
        "--game-dir",
        install.to_str().unwrap(),
        "--offline",
        "--name",
        "Tester",
    ]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(code, 1);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("left untouched"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert!(!file.with_file_name("player-state.json.bak").exists());
    assert!(!file.with_file_name("player-state.json.tmp").exists());
}

#[test]
fn cli_sync_reports_a_folder_that_is_not_the_game() {
    let dir = Scratch::new("cli-notgame");
    let (code, _, err) = run_cli(&[
        "sync",
        "--game-dir",
        dir.path().to_str().unwrap(),
        "--offline",
        "--config-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("not a DRL Simulator folder"), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
}

#[test]
fn cli_show_prints_the_identity_as_json() {
    let dir = Scratch::new("cli-show");
    let cfg = dir.path().to_str().unwrap();
    let (code, out, err) = run_cli(&["show", "--offline", "--name", "Tester", "--config-dir", cfg]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "Tester");
    assert_eq!(v["source"], "offline");
    assert_eq!(v["verified"], false);
    assert_eq!(v["steam_id"], Value::Null);
    assert_eq!(v["player_id"].as_str().unwrap().len(), 32);
    assert!(v["note"].as_str().unwrap().contains("offline mode"));
    let (_, again, _) = run_cli(&["show", "--offline", "--config-dir", cfg]);
    let w: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(w["player_id"], v["player_id"]);

    // Without --offline and without a plugin: offline all the same, saying why.
    let missing = dir.path().join("nowhere").join(plugin_file_name());
    let (code, out, _) = run_cli(&[
        "show",
        "--config-dir",
        cfg,
        "--steam-plugin",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["source"], "offline");
    assert!(
        v["note"].as_str().unwrap().contains("no Steam plugin"),
        "{v}"
    );
}

#[test]
fn a_boxed_verifier_drives_the_gate_like_the_host_will() {
    let boxed: Box<dyn propwash::identity::TicketVerifier> =
        Box::new(FakeVerifier::new(FakeAnswer::Accept));
    let mut gate = JoinGate::new(Ok(boxed), true);
    let t = FakeVerifier::ticket_for(BOB);
    assert_eq!(
        gate.hello(Instant::now(), addr(8), Some(BOB), Some(&t), &[]),
        seat_verified(BOB)
    );
    gate.close();
}

#[test]
fn offline_start_gives_a_host_that_cannot_verify_and_says_why() {
    let dir = Scratch::new("start-offline");
    let mut config = IdentityConfig::new(dir.path());
    config.offline = true;
    let started = propwash::identity::start(&config);
    assert_eq!(started.provider.identity().source, Source::Offline);
    assert_eq!(started.provider.auth_ticket(HOST), None);
    let why = started.verifier.unwrap_err();
    assert!(why.contains("without Steam"), "{why}");
}
