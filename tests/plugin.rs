//! The BepInEx plugin's behaviour, under mono, against this build's
//! library and a PUN Classic stand-in. `shim/build.sh` builds
//! Propwash.Shim.dll against the reference stubs (as tests/csharp.rs does);
//! here it then runs bound at run time to working fakes of the assemblies
//! it names, built from tests/plugin/ in this order: UnityEngine.dll,
//! 0Harmony.dll (HarmonyX 2.4's prefix rules), BepInEx.dll,
//! Photon3Unity3D.dll (Exit Games' client library 4.1.2.6 with a PhotonPeer
//! that reaches no server) and Assembly-CSharp-firstpass.dll (PunClassic.cs:
//! PUN Classic 1.93, sending on PhotonPeer what PUN sends and reacting to
//! what comes back as PUN does), and PluginTest.exe (Driver.cs), which plays
//! one game per process.
//!
//! Eight games against one coordinator started here, sequenced with lines on
//! their stdin and stdout: `declined` (no native library: the plugin
//! patches nothing and PUN runs on Photon's own peer), `nolobby` (no
//! coordinator: the lobby-less failures with Photon's codes, a CreateRoom
//! whose port is taken, JoinOrCreateRoom hosting, Disconnect, PUN on its
//! own peer after the plugin unloads), `victim` and `direct` (a room joined
//! through Network.JoinAddress and by its ip:port, PUN's queue paused past
//! the link's timeout, then the host killed:
//! OnConnectionFail(DisconnectByClientTimeout)), and four in one
//! room: `host` (name server, master and game server; the room "Plugin
//! Race" with MaxPlayers 3, a drone, a scene crate, buffered RPCs and cached
//! events), `join` (the room list, JoinRandomRoom by expected properties,
//! RPCs to every target, game events, interest groups, properties with
//! check-and-set, view updates both ways at PUN's serialization rate,
//! Destroy, the master client handed over, DestroyPlayerObjects, LeaveRoom),
//! `late` (JoinRoom by name: the room's cache replayed once and in order,
//! the master client moving and coming back, the host closing the room:
//! OnConnectionFail(DisconnectByServerLogic)) and `stranger` (GameFull,
//! GameDoesNotExist, NoRandomMatchFound, GameClosed, the lobby's updates
//! of a full, closed and hidden room, then a JoinOrCreateRoom of the hidden
//! room that joins and sees only what the room still holds,
//! CloseConnection). Each game checks itself against PUN
//! Classic's behaviour on Photon and prints `ok` / `FAIL` lines, `KNOWN-BUG`
//! lines for checks that wait for a fix on main, and a verdict last; this
//! test checks the verdicts and, from outside, the coordinator's listing and
//! player-state.json (only identity changed).
//! Folders: the build in `CARGO_TARGET_TMPDIR/plugin`, the games in scratch
//! folders removed at the end. Every wait is bounded; everything is on
//! loopback.
//!
//! Needs `mcs` and `mono`: a missing toolchain is a failure, never a skip
//! (`.ci/run` installs mono-mcs and mono-runtime).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
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
/// The game version of the victim's room and its direct joiner.
const VICTIM_VERSION: &str = "plugin-test victim";
/// The fake assemblies: (assembly, source in tests/plugin/, what it
/// references), in build order.
const FAKES: [(&str, &str, &[&str]); 5] = [
    ("UnityEngine", "UnityEngine", &[]),
    ("0Harmony", "Harmony", &[]),
    ("BepInEx", "BepInEx", &["UnityEngine"]),
    ("Photon3Unity3D", "Photon3Unity3D", &["0Harmony"]),
    (
        "Assembly-CSharp-firstpass",
        "PunClassic",
        &["UnityEngine", "Photon3Unity3D"],
    ),
];
/// How long one step of a game may take (a join through the coordinator,
/// a callback to arrive); generous, as the games share two cores.
const STEP: Duration = Duration::from_secs(60);

/// Seconds since the test began, for the timeline it prints.
fn since_start() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

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
    stdin: Option<ChildStdin>,
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
            stdin: child.stdin.take(),
            child,
            out,
            err,
            readers: vec![r1, r2],
            seen: Vec::new(),
        }
    }

    /// Everything printed so far (stdout, then what stderr had).
    fn transcript(&mut self) -> String {
        self.seen.extend(self.out.try_iter());
        let mut all = self.seen.join("\n");
        let err: Vec<String> = self.err.try_iter().collect();
        if !err.is_empty() {
            all.push_str("\nstderr:\n");
            all.push_str(&err.join("\n"));
        }
        all
    }

    /// Reads stdout until a line equal to `line`; fails after `limit`, or
    /// at a failed check (the game goes on, but the sequence cannot).
    fn wait_for(&mut self, line: &str, limit: Duration) {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(l) => {
                    let found = l == line;
                    let failed = l.starts_with("FAIL - ");
                    self.seen.push(l);
                    if found {
                        println!("{:6.2} s  {} printed {line}", since_start(), self.what);
                        return;
                    }
                    if failed {
                        std::thread::sleep(Duration::from_millis(200));
                        let t = self.transcript();
                        panic!(
                            "{} failed a check before printing {line:?}:\n{t}",
                            self.what
                        )
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

    /// Sends one command line to the game's stdin.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let sent = writeln!(stdin, "{line}").and_then(|_| stdin.flush());
        if let Err(e) = sent {
            let t = self.transcript();
            panic!("could not send {line:?} to {}: {e}\n{t}", self.what);
        }
    }

    /// Kills the child at once (a game whose process dies).
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes stdin and waits for the end; kills the child after `limit`
    /// and returns None.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        drop(self.stdin.take());
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
    /// checks the game's verdict: no failed check, at least `min_checks`
    /// passed. Returns its stdout.
    fn finish(mut self, limit: Duration, min_checks: u32) -> String {
        let status = self.wait(limit);
        let transcript = self.transcript();
        println!("---- {} ----\n{transcript}", self.what);
        let Some(status) = status else {
            panic!("{} ran longer than {limit:?}:\n{transcript}", self.what);
        };
        let last = self.seen.last().cloned().unwrap_or_default();
        let verdict = format!("plugin {}: ", self.what);
        let counts: Vec<u32> = last
            .strip_prefix(&verdict)
            .map(|r| {
                r.split(", ")
                    .filter_map(|part| part.split(' ').next()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let [passed, failed, known] = counts[..] else {
            panic!(
                "{} ended ({status}) without a verdict; last line {last:?}:\n{transcript}",
                self.what
            )
        };
        for line in self.seen.iter().filter(|l| l.starts_with("KNOWN-BUG ")) {
            println!("{}: {line}", self.what);
        }
        // The failed checks again at the end: a CI log keeps only the ends
        // of a long transcript.
        let failures: Vec<&str> = self
            .seen
            .iter()
            .filter(|l| l.starts_with("FAIL - "))
            .map(String::as_str)
            .collect();
        assert_eq!(
            failed,
            0,
            "{} failed {failed} checks ({status}):\n{transcript}\n---- the failed checks ----\n{}",
            self.what,
            failures.join("\n")
        );
        assert!(status.success(), "{} exited with {status}", self.what);
        assert!(
            passed >= min_checks,
            "{} ran only {passed} checks:\n{transcript}",
            self.what
        );
        println!("{}: {passed} checks passed, {known} known bugs", self.what);
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A failure elsewhere: what this game printed may tell why.
        if std::thread::panicking() {
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
            let t = self.transcript();
            println!("---- {} (when the test failed) ----\n{t}", self.what);
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

/// mcs with shim/build.sh's flags.
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
    for (name, file, refs) in FAKES {
        let mut c = mcs(&dll(name), "library");
        for r in refs {
            c.arg(format!("-r:{}", dll(r).display()));
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
    build_step(c.arg(source("Driver")), "mcs (the game driver)");
    run
}

/// A loopback UDP port nobody uses right now, for a host's GamePort
/// (BepInEx clamps the setting to 1-65535, so 0 cannot be asked for).
fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    s.local_addr().expect("probe address").port()
}

/// The rooms of the main game version the coordinator lists now.
fn listed(coordinator: &Service) -> Vec<SessionRecord> {
    let query = ListQuery {
        game_version: Some(GAME_VERSION.to_string()),
        ..ListQuery::default()
    };
    coordinator.with_core(|c| c.query(&query).sessions)
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

/// Sends `command` to `game` and waits for its `marker`.
fn step(game: &mut Running, command: &str, marker: &str) {
    game.send(command);
    game.wait_for(marker, STEP);
}

#[test]
fn pun_classic_games_play_through_the_plugin_under_mono() {
    since_start();
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
    let game = |role: &str, folder: &Path| {
        let mut c = Command::new("mono");
        c.arg(run.join("PluginTest.exe"))
            .arg(role)
            .current_dir(&run)
            .env("LD_LIBRARY_PATH", &libs)
            .env("DYLD_LIBRARY_PATH", &libs)
            .env("PROPWASH_TEST_GAME", folder)
            .env("PROPWASH_TEST_GAME_VERSION", GAME_VERSION)
            .env("PROPWASH_TEST_COORDINATOR", &coordinator_addr);
        c
    };

    // Two games of their own, alongside the room's: the plugin declining
    // (no native library on the search path), and no lobby at all.
    let declined = Running::spawn(
        game("declined", &games.dir("declined"))
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("DYLD_LIBRARY_PATH"),
        "declined",
    );
    let nolobby = Running::spawn(
        game("nolobby", &games.dir("nolobby"))
            .env("PROPWASH_TEST_PORT", free_udp_port().to_string()),
        "nolobby",
    );

    // A room without a lobby whose host goes silent, joined by its address.
    let victim_port = free_udp_port().to_string();
    // Their game version of their own keeps the victim's room out of the
    // other games' lobby.
    let mut victim = Running::spawn(
        game("victim", &games.dir("victim"))
            .env("PROPWASH_TEST_PORT", &victim_port)
            .env("PROPWASH_TEST_GAME_VERSION", VICTIM_VERSION),
        "victim",
    );

    victim.wait_for("VICTIM-HOSTING", STEP);
    let mut direct = Running::spawn(
        game("direct", &games.dir("direct"))
            .env("PROPWASH_TEST_PORT", &victim_port)
            .env("PROPWASH_TEST_GAME_VERSION", VICTIM_VERSION),
        "direct",
    );

    // The host: identity first (it syncs player-state.json), then its room.
    let mut host = Running::spawn(
        game("host", &install).env("PROPWASH_TEST_PORT", free_udp_port().to_string()),
        "host",
    );
    host.wait_for("IDENTITY-SYNCED", STEP);
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
    host.wait_for("HOST-READY", STEP);
    let rooms = listed(&coordinator);
    assert_eq!(rooms.len(), 1, "one room listed: {rooms:?}");
    let r = &rooms[0];
    assert_eq!(r.room.name, "Plugin Race");
    assert!(!r.has_password, "an open room: {r:?}");
    assert_eq!(r.game_version, GAME_VERSION);
    assert_eq!(r.host.player_name, "Plugin Host", "the synced profile name");
    assert_eq!(
        (r.room.map_id.as_str(), r.room.track_id.as_str()),
        ("MP-Plugin", "CMP-42"),
        "the [Lobby] keys of CreateRoom's properties"
    );
    assert!(r.room.is_custom_track);
    assert_eq!(r.settings.laps, 3);
    assert_eq!(
        (r.capacity.pilots, r.capacity.current_pilots),
        (6, 1),
        "propwash's pilot seats, the host seated"
    );

    // The joiner plays with the host; then the late joiner comes.
    let mut join = Running::spawn(&mut game("join", &games.dir("join")), "join");
    join.wait_for("JOIN-IN", STEP);
    host.wait_for("HOST-SAW-JOIN", STEP);
    let mut late = Running::spawn(&mut game("late", &games.dir("late")), "late");
    late.wait_for("LATE-IN", STEP);
    step(&mut host, "late-in", "HOST-SAW-LATE");
    step(&mut join, "late-in", "JOIN-SAW-LATE");
    let rooms = listing_until(&coordinator, Duration::from_secs(10), |rooms| {
        rooms.len() == 1 && rooms[0].capacity.current_pilots == 3 && rooms[0].settings.laps == 5
    });
    assert!(
        rooms.len() == 1 && rooms[0].capacity.current_pilots == 3,
        "the listing counts three pilots: {rooms:?}"
    );
    assert_eq!(
        rooms[0].settings.laps, 5,
        "the host's SetCustomProperties(laps = 5) updated the listing"
    );

    // The room is full for the stranger.
    let mut stranger = Running::spawn(&mut game("stranger", &games.dir("stranger")), "stranger");
    stranger.wait_for("STRANGER-REFUSED", STEP);

    // The master client moves to the joiner; it destroys the late joiner's
    // objects as the master, then leaves (the master comes back to the host).
    step(&mut host, "master", "HOST-MASTER-MOVED");
    step(&mut join, "master", "JOIN-MASTER");
    step(&mut late, "master", "LATE-MASTER");
    step(&mut join, "destroy-late", "JOIN-DESTROYED-LATE");
    step(&mut host, "late-objects-gone", "HOST-LATE-GONE");
    step(&mut late, "late-objects-gone", "LATE-GONE");
    step(&mut join, "leave", "JOIN-LEFT");
    let join_out = join.finish(STEP, 60);
    step(&mut host, "join-left", "HOST-JOIN-LEFT");
    step(&mut late, "join-left", "LATE-JOIN-LEFT");

    // The door, closed and open again for the stranger.
    step(&mut host, "close-door", "HOST-DOOR-CLOSED");
    step(&mut late, "door-closed", "LATE-DOOR-CLOSED");
    step(&mut stranger, "closed", "STRANGER-CLOSED");
    step(&mut host, "open-door", "HOST-DOOR-OPEN");
    step(&mut late, "door-open", "LATE-DOOR-OPEN");
    step(&mut stranger, "open", "STRANGER-IN");
    step(&mut host, "kick", "HOST-KICKED");
    step(&mut stranger, "kicked", "STRANGER-KICKED");

    // The direct joiner paused its queue past the link's timeout and is
    // still in; now its host is killed.
    victim.wait_for("VICTIM-SAW-DIRECT", STEP);
    direct.wait_for("DIRECT-PAUSED", STEP);
    let victim_out = victim.transcript();
    assert!(
        !victim_out.contains("FAIL - "),
        "the victim failed a check:\n{victim_out}"
    );
    victim.kill();
    direct.send("victim-killed");

    // The host closes the room: the late joiner is told, the room unlisted
    // (and gone from the stranger's room list).
    host.send("close");
    let host_out = host.finish(STEP, 60);
    late.finish(STEP, 30);
    let rooms = listing_until(&coordinator, Duration::from_secs(10), <[_]>::is_empty);
    assert!(
        rooms.is_empty(),
        "the room is unlisted once the host left: {rooms:?}"
    );
    step(&mut stranger, "host-gone", "STRANGER-DONE");
    stranger.finish(STEP, 20);
    direct.finish(STEP, 15);
    for out in [&host_out, &join_out] {
        assert!(
            !out.contains("EXCEPTION in "),
            "no exception in a Unity message"
        );
    }
    nolobby.finish(STEP, 30);
    declined.finish(STEP, 5);
    coordinator.shutdown();
    println!(
        "plugin test: built in {:.1} s, played in {:.1} s",
        built.as_secs_f64(),
        (started.elapsed() - built).as_secs_f64()
    );
}
