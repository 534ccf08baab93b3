//! The plugin's backend redirect under mono, against this build's library:
//! `shim/build.sh` builds Propwash.Shim.dll against the reference stubs;
//! here it runs bound to the fakes of tests/plugin (UnityEngine, 0Harmony,
//! BepInEx, and UnityEngine.UnityWebRequestModule from UnityWebRequest.cs,
//! whose requests reach loopback only), driven by tests/plugin/BackendDriver.cs,
//! one game per mode in a copy of tests/fixtures/backend/game. The games
//! check themselves (see the driver's modes) and print a verdict last; this
//! test checks the verdicts and what the redirected write left in
//! player-state.json. Needs `mcs` and `mono` (a missing one is a failure).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::lib_dir;
use common::scratch::{copy_dir, Scratch};

/// The fake assemblies (file name, source in tests/plugin/, references), in build order.
const FAKES: [(&str, &str, &[&str]); 4] = [
    ("UnityEngine", "UnityEngine", &[]),
    ("0Harmony", "Harmony", &[]),
    ("BepInEx", "BepInEx", &["UnityEngine"]),
    (
        "UnityEngine.UnityWebRequestModule",
        "UnityWebRequest",
        &["0Harmony"],
    ),
];

/// Runs a command to its end within `limit`; returns stdout, or panics
/// with everything it printed.
fn run(cmd: &mut Command, what: &str, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("could not start {what} ({e}); mono-mcs and mono-runtime are needed")
        });
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (o.join().unwrap_or_default(), e.join().unwrap_or_default());
    let all = format!("{out}\nstderr:\n{err}");
    match status {
        None => panic!("{what} ran longer than {limit:?}:\n{all}"),
        Some(s) => (s.success(), all),
    }
}

fn mcs(out: &Path, target: &str) -> Command {
    let mut c = Command::new("mcs");
    c.args(["-langversion:7.2", "-warn:4", "-warnaserror", "-nologo"])
        .arg(format!("-target:{target}"))
        .arg(format!("-out:{}", out.display()));
    c
}

/// Builds the plugin, the fakes and the driver into one folder.
fn build(root: &Path) -> PathBuf {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin_backend");
    let (shim, bin) = (work.join("shim"), work.join("run"));
    std::fs::create_dir_all(&bin).unwrap();
    let limit = Duration::from_secs(180);
    let (ok, log) = run(
        Command::new("bash")
            .arg(root.join("shim/build.sh"))
            .arg("--out")
            .arg(&shim),
        "shim/build.sh",
        limit,
    );
    assert!(ok, "shim/build.sh failed:\n{log}");
    for dll in ["Propwash.Native.dll", "Propwash.Shim.dll"] {
        std::fs::copy(shim.join(dll), bin.join(dll)).unwrap_or_else(|e| panic!("no {dll}: {e}"));
    }
    let dll = |name: &str| bin.join(format!("{name}.dll"));
    for (name, file, refs) in FAKES {
        let mut c = mcs(&dll(name), "library");
        for r in refs {
            c.arg(format!("-r:{}", dll(r).display()));
        }
        c.arg(root.join(format!("tests/plugin/{file}.cs")));
        let (ok, log) = run(&mut c, &format!("mcs (fake {name}.dll)"), limit);
        assert!(ok, "mcs (fake {name}.dll) failed:\n{log}");
    }
    let mut c = mcs(&bin.join("BackendTest.exe"), "exe");
    for name in FAKES
        .iter()
        .map(|f| f.0)
        .chain(["Propwash.Shim", "Propwash.Native"])
    {
        c.arg(format!("-r:{}", dll(name).display()));
    }
    c.arg(root.join("tests/plugin/BackendDriver.cs"));
    let (ok, log) = run(&mut c, "mcs (the backend driver)", limit);
    assert!(ok, "mcs (the backend driver) failed:\n{log}");
    bin
}

#[test]
fn requests_for_the_backend_host_reach_the_stand_in_with_no_network() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = build(root);
    let libs = lib_dir();
    let fixture = root.join("tests/fixtures/backend/game");
    let scratch = Scratch::new("plugin-backend");
    for mode in ["redirect", "hosts", "plugin", "forced", "off"] {
        let game = scratch.path().join(mode);
        copy_dir(&fixture, &game);
        let state = game.join(
            "DRL Simulator_Data/StreamingAssets/game/storage/offline/state/player/player-state.json",
        );
        let before = std::fs::read_to_string(&state).unwrap();
        let (ok, out) = run(
            Command::new("mono")
                .arg(bin.join("BackendTest.exe"))
                .arg(mode)
                .current_dir(&bin)
                .env("LD_LIBRARY_PATH", &libs)
                .env("DYLD_LIBRARY_PATH", &libs)
                .env("PROPWASH_TEST_GAME", &game),
            mode,
            Duration::from_secs(60),
        );
        println!("---- {mode} ----\n{out}");
        let verdict = out
            .lines()
            .rev()
            .find(|l| l.starts_with("plugin backend "))
            .unwrap_or_else(|| panic!("{mode} printed no verdict:\n{out}"));
        let passed: u32 = verdict
            .strip_prefix(&format!("plugin backend {mode}: "))
            .and_then(|r| r.strip_suffix(" passed, 0 failed"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{mode} failed: {verdict}\n{out}"));
        assert!(ok, "{mode} exited with a failure:\n{out}");
        assert!(passed >= 4, "{mode} ran only {passed} checks:\n{out}");
        let after = std::fs::read_to_string(&state).unwrap();
        if mode == "redirect" {
            // The write through the redirect changed one value in place.
            assert_eq!(after, before.replace("\"88ffdf\"", "\"123456\""));
            let port: u16 = out
                .lines()
                .find_map(|l| l.strip_prefix("BACKEND-PORT "))
                .and_then(|p| p.trim().parse().ok())
                .expect("the game printed the stand-in's port");
            assert!(
                std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
                "the stand-in stopped with the game"
            );
        } else {
            assert_eq!(after, before, "{mode}: nothing wrote player-state.json");
        }
    }
}
