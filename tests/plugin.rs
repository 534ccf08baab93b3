//! The BepInEx plugin's behaviour, under mono, against this build's
//! library. `shim/build.sh` builds Propwash.Shim.dll against the reference
//! stubs (as tests/csharp.rs does); here it then runs, bound at run time
//! to working fakes of the assemblies it names (tests/plugin/UnityEngine.cs,
//! BepInEx.cs, Harmony.cs compile to UnityEngine.dll, BepInEx.dll and
//! 0Harmony.dll) and driven by tests/plugin/Driver.cs, which fakes PUN 2
//! (tests/plugin/Photon.cs) and plays one game per process: it adds the
//! plugin to a GameObject (Awake: config file, identity, the hook table
//! patched into the fake PUN 2), calls PhotonNetwork's hooked methods, runs
//! Unity frames and records the PUN callbacks the plugin raises.
//!
//! Four games against one coordinator started here: `nolobby` (no
//! coordinator: JoinRandomRoom, JoinRoom and the room list fail or stay
//! empty; Disconnect), `host` (identity synced into a copy of the fixture
//! game folder, then CreateRoom, listed with a password; it serves until
//! its stdin closes), `join` (the room list, JoinRandomRoom by map, events,
//! properties (CurrentRoom from the library's RoomPropertiesJson, one
//! callback per SetCustomProperties call with all its keys) and drones both
//! ways, LeaveRoom, JoinRoom by the listed name; seated until the host
//! leaves) and `stranger` (the wrong password, a session id nobody lists,
//! then no password). Each game checks itself against PUN 2's behaviour and
//! prints `ok`/`FAIL` lines and a verdict last; this test checks the
//! verdicts, a few callback sequences again, the room's properties as the
//! library holds them (no property of the plugin's own), the coordinator's
//! listing (`Service::with_core`) and player-state.json.
//! Folders: the build in `CARGO_TARGET_TMPDIR/plugin`, the games in
//! scratch folders removed at the end.
//!
//! Needs `mcs` and `mono`: a missing toolchain is a failure, never a skip
//! (`.ci/run` installs mono-mcs and mono-runtime).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod common;
use common::identity::{assert_only_identity_changed, game_fixture};
use common::lib_dir;
use common::scratch::Scratch;
use propwash::lobby::service::{Service, ServiceConfig};
use propwash::lobby::{CoordinatorConfig, ListQuery, SessionRecord};

/// The game version every game runs (Application.version in the fake Unity).
const GAME_VERSION: &str = "plugin-test 1.0";
/// The fake assemblies (name, source in tests/plugin/), in build order:
/// the fake BepInEx derives its plugin class from the fake MonoBehaviour.
const FAKES: [(&str, &str); 3] = [
    ("UnityEngine", "UnityEngine"),
    ("0Harmony", "Harmony"),
    ("BepInEx", "BepInEx"),
];

/// Fails (never skips) when a mono tool is missing.
fn require(tool: &str, package: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{tool} --version` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "`{tool}` is needed by the plugin test and could not be run ({e}): install {package} \
             (apt-get install mono-mcs mono-runtime; .ci/run installs both)"
        ),
    }
}

/// Reads a pipe to its end on a thread, line by line, into a channel.
fn lines_of(pipe: impl Read + Send + 'static) -> (Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (rx, reader)
}

/// A child process whose output is read as it comes; killed if dropped
/// before it ended.
struct Running {
    what: String,
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    readers: Vec<JoinHandle<()>>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(cmd: &mut Command, what: &str) -> Running {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {what}: {e}"));
        let (out, r1) = lines_of(child.stdout.take().expect("stdout piped"));
        let (err, r2) = lines_of(child.stderr.take().expect("stderr piped"));
        Running {
            what: what.to_string(),
            child,
            out,
            err,
            readers: vec![r1, r2],
            seen: Vec::new(),
        }
    }

    /// Everything printed so far (stdout, then what stderr had).
    fn transcript(&mut self) -> String {
        let mut all = self.seen.join("\n");
        let err: Vec<String> = self.err.try_iter().collect();
        if !err.is_empty() {
            all.push_str("\nstderr:\n");
            all.push_str(&err.join("\n"));
        }
        all
    }

    /// Reads stdout until a line equal to `line`; fails after `limit`.
    fn wait_for(&mut self, line: &str, limit: Duration) {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(l) => {
                    let found = l == line;
                    self.seen.push(l);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let t = self.transcript();
                    panic!(
                        "{} did not print {line:?} within {limit:?}:\n{t}",
                        self.what
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let t = self.transcript();
                    panic!("{} ended before printing {line:?}:\n{t}", self.what)
                }
            }
        }
    }

    /// Closes stdin and waits for the end; kills the child after `limit`
    /// and returns None.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        drop(self.child.stdin.take());
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait for the child") {
                // The pipes close with the child: read them to their end.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                self.seen.extend(self.out.try_iter());
                return Some(s);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.seen.extend(self.out.try_iter());
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Closes stdin, waits for the end (killing it after `limit`), and
    /// checks the game's verdict; returns its stdout.
    fn finish(mut self, limit: Duration) -> String {
        let status = self.wait(limit);
        let transcript = self.transcript();
        println!("---- {} ----\n{transcript}", self.what);
        let Some(status) = status else {
            panic!("{} ran longer than {limit:?}:\n{transcript}", self.what);
        };
        let last = self.seen.last().cloned().unwrap_or_default();
        let verdict = format!("plugin {}: ", self.what);
        let passed: u32 = last
            .strip_prefix(&verdict)
            .and_then(|r| r.strip_suffix(" passed, 0 failed"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{} failed ({status}); last line {last:?}:\n{transcript}",
                    self.what
                )
            });
        assert!(status.success(), "{} exited with {status}", self.what);
        assert!(
            passed >= 15,
            "{} ran only {passed} checks:\n{transcript}",
            self.what
        );
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a build step to completion, with a time limit.
fn build_step(cmd: &mut Command, what: &str) {
    let limit = Duration::from_secs(120);
    let mut r = Running::spawn(cmd, what);
    let status = r.wait(limit);
    let t = r.transcript();
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("{what} failed ({s}):\n{t}"),
        None => panic!("{what} ran longer than {limit:?}:\n{t}"),
    }
}

fn mcs(out: &Path, target: &str) -> Command {
    let mut c = Command::new("mcs");
    c.args(["-langversion:7.2", "-warn:4", "-warnaserror", "-nologo"])
        .arg(format!("-target:{target}"))
        .arg(format!("-out:{}", out.display()));
    c
}

/// Builds the plugin (shim/build.sh, against the stubs), the fakes and the
/// driver into one folder, as a game's Managed folder would hold them;
/// returns that folder.
fn build(root: &Path) -> PathBuf {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin");
    let shim = work.join("shim");
    let run = work.join("run");
    std::fs::create_dir_all(&run).expect("create the plugin test's build dir");
    build_step(
        Command::new("bash")
            .arg(root.join("shim/build.sh"))
            .arg("--out")
            .arg(&shim),
        "shim/build.sh",
    );
    for dll in ["Propwash.Native.dll", "Propwash.Shim.dll"] {
        std::fs::copy(shim.join(dll), run.join(dll))
            .unwrap_or_else(|e| panic!("shim/build.sh made no {dll}: {e}"));
    }
    let fakes = root.join("tests/plugin");
    let source = |name: &str| fakes.join(format!("{name}.cs"));
    let dll = |name: &str| run.join(format!("{name}.dll"));
    for (name, file) in FAKES {
        let mut c = mcs(&dll(name), "library");
        if name == "BepInEx" {
            c.arg(format!("-r:{}", dll("UnityEngine").display()));
        }
        build_step(c.arg(source(file)), &format!("mcs (fake {name}.dll)"));
    }
    let mut c = mcs(&run.join("PluginTest.exe"), "exe");
    for name in FAKES
        .iter()
        .map(|f| f.0)
        .chain(["Propwash.Shim", "Propwash.Native"])
    {
        c.arg(format!("-r:{}", dll(name).display()));
    }
    build_step(
        c.arg(source("Photon")).arg(source("Driver")),
        "mcs (the game driver)",
    );
    run
}

/// A loopback UDP port nobody uses right now, for the host's GamePort
/// (BepInEx clamps the setting to 1-65535, so 0 cannot be asked for).
fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    s.local_addr().expect("probe address").port()
}

/// The rooms the coordinator lists now.
fn listed(coordinator: &Service) -> Vec<SessionRecord> {
    coordinator.with_core(|c| c.query(&ListQuery::default()).sessions)
}

/// The keys of the library's room as a game printed them on a
/// `ROOM-PROPERTIES <when> <json>` line (RoomPropertiesJson), sorted.
fn room_keys(out: &str, when: &str) -> Vec<String> {
    let prefix = format!("ROOM-PROPERTIES {when} ");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line:\n{out}"));
    let room: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{prefix:?} is not a JSON object ({e}): {line}"));
    assert!(
        room.values().all(serde_json::Value::is_string),
        "every room property is a string: {line}"
    );
    room.keys().cloned().collect()
}

/// Waits up to `limit` for the listing to satisfy `ok`; returns the last look.
fn listing_until(
    coordinator: &Service,
    limit: Duration,
    ok: impl Fn(&[SessionRecord]) -> bool,
) -> Vec<SessionRecord> {
    let end = Instant::now() + limit;
    loop {
        let rooms = listed(coordinator);
        if ok(&rooms) || Instant::now() > end {
            return rooms;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_plugin_hosts_lists_joins_and_syncs_identity_under_mono() {
    require("mcs", "mono-mcs");
    require("mono", "mono-runtime");
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = build(root);
    let built = started.elapsed();

    let coordinator = Service::start(ServiceConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        http: None,
        coordinator: CoordinatorConfig::default(),
    })
    .expect("start a coordinator");
    let coordinator_addr = coordinator.udp_addr().to_string();
    let libs = lib_dir();
    let games = Scratch::new("games");
    let (_host_dir, install, state) = game_fixture("game");
    let before = std::fs::read_to_string(&state).expect("the fixture's player-state.json");
    let game = |mode: &str, folder: &Path| {
        let mut c = Command::new("mono");
        c.arg(run.join("PluginTest.exe"))
            .arg(mode)
            .current_dir(&run)
            .env("LD_LIBRARY_PATH", &libs)
            .env("DYLD_LIBRARY_PATH", &libs)
            .env("PROPWASH_TEST_GAME", folder)
            .env("PROPWASH_TEST_GAME_VERSION", GAME_VERSION)
            .env("PROPWASH_TEST_COORDINATOR", &coordinator_addr);
        c
    };

    // No coordinator: the lobby paths fail with the plugin's own messages.
    let out = Running::spawn(
        game("nolobby", &games.dir("nolobby"))
            .env("PROPWASH_TEST_PORT", free_udp_port().to_string()),
        "nolobby",
    )
    .finish(Duration::from_secs(30));
    assert!(
        out.contains(
            "callback OnJoinRandomFailed(-1, \"propwash: there is no lobby to find a room in; \
             set Network.Coordinator, or Network.JoinAddress to a host's ip:port\")"
        ),
        "{out}"
    );
    assert!(
        out.contains("callback OnDisconnected(DisconnectByClientLogic)"),
        "Disconnect() is DisconnectByClientLogic: {out}"
    );

    // The host: identity first (it syncs player-state.json), then its room.
    let mut host = Running::spawn(
        game("host", &install).env("PROPWASH_TEST_PORT", free_udp_port().to_string()),
        "host",
    );
    host.wait_for("IDENTITY-SYNCED", Duration::from_secs(15));
    let after = std::fs::read_to_string(&state).expect("player-state.json after the sync");
    assert_only_identity_changed(&before, &after, |key, value| {
        let want = if key == "profile-name" {
            "Plugin Host"
        } else {
            ""
        };
        assert_eq!(value, want, "{key} in the synced player-state.json");
    });
    assert_eq!(
        std::fs::read_to_string(state.with_file_name("player-state.json.bak")).unwrap(),
        before,
        "player-state.json.bak holds the previous file"
    );
    assert!(
        install
            .join("BepInEx/config")
            .join(propwash::identity::ID_FILE)
            .is_file(),
        "the offline id lives in BepInEx/config"
    );

    host.wait_for("READY", Duration::from_secs(15));
    let rooms = listed(&coordinator);
    assert_eq!(rooms.len(), 1, "one room listed: {rooms:?}");
    let r = &rooms[0];
    assert_eq!(r.room.name, "Plugin Race");
    assert!(r.has_password, "the room asks a password: {r:?}");
    assert_eq!(r.game_version, GAME_VERSION);
    assert_eq!(r.host.player_name, "Plugin Host", "the synced profile name");
    assert_eq!(
        (r.room.map_id.as_str(), r.room.track_id.as_str()),
        ("MP-Plugin", "CMP-42")
    );
    assert!(r.room.is_custom_track);
    assert_eq!(r.room.mode, "race");
    assert_eq!(r.settings.laps, 3);
    assert!(
        !format!("{r:?}").contains("pw.keys"),
        "the listing knows no key list property: {r:?}"
    );
    assert_eq!(
        (
            r.capacity.pilots,
            r.capacity.spectators,
            r.capacity.current_pilots
        ),
        (6, 15, 1)
    );

    // A joiner with the password: room list, JoinRandomRoom, the room's
    // traffic, LeaveRoom; then JoinRoom by the listed name, seated until the
    // host leaves.
    let mut join = Running::spawn(&mut game("join", &games.dir("join")), "join");
    join.wait_for("SEATED-AGAIN", Duration::from_secs(40));
    let rooms = listing_until(&coordinator, Duration::from_secs(5), |rooms| {
        rooms.len() == 1 && rooms[0].settings.laps == 5 && rooms[0].capacity.current_pilots == 2
    });
    assert!(
        rooms.len() == 1 && rooms[0].settings.laps == 5,
        "the host's SetCustomProperties(laps = 5) updated the listing: {rooms:?}"
    );
    assert_eq!(
        rooms[0].capacity.current_pilots, 2,
        "the listing counts the joiner seated again"
    );

    // A joiner with the wrong password: refused, once, in the library's words.
    let out = Running::spawn(&mut game("stranger", &games.dir("stranger")), "stranger")
        .finish(Duration::from_secs(60));
    let refusals = out
        .lines()
        .filter(|l| *l == "callback OnJoinRandomFailed(-1, \"wrong password\")")
        .count();
    assert_eq!(refusals, 1, "{out}");

    // The host saw the joiner (and only it), then leaves: the joiner is
    // told, and the room is unlisted.
    let out = host.finish(Duration::from_secs(30));
    assert!(out.contains("HOST-ACK"), "{out}");
    // CreateRoom's properties raise nothing; each SetCustomProperties call
    // one callback with all its keys, two calls in one frame included.
    let room_updates = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("callback OnRoomPropertiesUpdate("))
            .map(str::to_string)
            .collect()
    };
    let calls = [
        "callback OnRoomPropertiesUpdate({laps=5 (Int32), seen=2 (Int32)})",
        "callback OnRoomPropertiesUpdate({round=1 (Int32)})",
        "callback OnRoomPropertiesUpdate({phase=go (String), round=2 (Int32)})",
    ];
    assert_eq!(room_updates(&out), calls, "{out}");
    // The room holds the game's properties and nothing of the plugin's own.
    assert_eq!(
        room_keys(&out, "created"),
        ["laps", "map", "track"],
        "{out}"
    );
    assert_eq!(
        room_keys(&out, "final"),
        ["laps", "map", "phase", "round", "seen", "track"],
        "{out}"
    );
    assert!(
        !out.contains("pw.keys"),
        "the host never mentions pw.keys: {out}"
    );
    assert!(
        out.contains("callback OnLeftRoom()\ncallback OnConnectedToMaster()"),
        "LeaveRoom: OnLeftRoom, then OnConnectedToMaster: {out}"
    );
    let out = join.finish(Duration::from_secs(30));
    assert_eq!(out.matches("callback OnJoinedRoom()").count(), 2, "{out}");
    assert_eq!(
        out.matches("callback OnLeftRoom()\ncallback OnConnectedToMaster()")
            .count(),
        1,
        "LeaveRoom: OnLeftRoom, then OnConnectedToMaster; the host closing the room: none: {out}"
    );
    assert!(
        out.contains("callback OnLeftRoom()\ncallback OnDisconnected(DisconnectByServerLogic)"),
        "the host closed the room: OnLeftRoom, then OnDisconnected(DisconnectByServerLogic): {out}"
    );
    assert_eq!(
        room_updates(&out),
        calls,
        "the joiner got the host's calls as they were made: one callback each, with all its \
         keys; the room's existing properties raised none: {out}"
    );
    assert_eq!(room_keys(&out, "joined"), ["laps", "map", "track"], "{out}");
    assert!(
        !out.contains("pw.keys"),
        "the joiner never mentions pw.keys: {out}"
    );
    let rooms = listing_until(&coordinator, Duration::from_secs(5), <[_]>::is_empty);
    assert!(
        rooms.is_empty(),
        "the room is unlisted once the host left: {rooms:?}"
    );
    coordinator.shutdown();
    println!(
        "plugin test: built in {:.1} s, played in {:.1} s",
        built.as_secs_f64(),
        (started.elapsed() - built).as_secs_f64()
    );
}
