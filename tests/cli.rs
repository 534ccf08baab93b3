//! The `propwash` command line as a user runs it: a small demo room end to
//! end with its JSON summary (also listed at a coordinator and found in
//! its lobby), and the refusals for rooms that cannot exist.

use std::process::{Command, Output};

mod common;
use common::scratch::Scratch;

fn propwash(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_propwash"))
        .args(args)
        .output()
        .expect("run the propwash binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A demo that exited 0: the JSON summary on its last line, and that line.
#[track_caller]
fn summary(out: &Output) -> (serde_json::Value, String) {
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        text(&out.stderr)
    );
    let last = stdout.lines().last().expect("some output");
    let v = serde_json::from_str(last).expect("the last line is JSON");
    (v, last.to_string())
}

#[test]
fn a_small_demo_room_reports_clean_json_on_its_last_line() {
    let out = propwash(&[
        "demo",
        "--seconds",
        "3",
        "--pilots",
        "3",
        "--spectators",
        "4",
        "--json",
    ]);
    let (v, last) = summary(&out);
    assert_eq!(v["pilots"], 3);
    assert_eq!(v["spectators"], 4);
    assert_eq!(v["seconds"], 3);
    assert_eq!(v["peers_in_room"], 7);
    assert_eq!(v["errors"], 0, "{}", v["error_messages"]);
    assert_eq!(v["events_delivered_exactly_once"], true);
    assert!(
        v["events_sent"].as_u64().unwrap_or(0) > 0,
        "events were raised"
    );
    let ratio = v["frames_delivered_ratio"].as_f64().expect("a ratio");
    assert!(ratio >= 0.95, "frames_delivered_ratio {ratio}: {last}");
    assert!(v["bytes_per_pilot_frame"].as_u64().unwrap_or(99) <= 33);
    assert!(v["latency_ms"]["p50"].as_f64().is_some(), "{last}");
    assert!(v["pilot_latency_ms"]["p50"].as_f64().is_some(), "{last}");
    assert!(
        v["host_upload_kbps"].as_f64().unwrap_or(0.0) > 0.0,
        "{last}"
    );
    assert!(v.get("lobby").is_none(), "no lobby without --coordinator");
}

#[test]
fn a_demo_through_a_local_coordinator_finds_and_joins_the_room_by_the_list() {
    let out = propwash(&[
        "demo",
        "--coordinator",
        "local",
        "--seconds",
        "2",
        "--pilots",
        "2",
        "--spectators",
        "2",
        "--json",
    ]);
    let (v, last) = summary(&out);
    assert_eq!(v["errors"], 0, "{}", v["error_messages"]);
    assert_eq!(v["peers_in_room"], 4);
    let lobby = &v["lobby"];
    assert_eq!(lobby["found_by_list"], 3, "{last}");
    assert_eq!(lobby["joined_direct"], 3, "{last}");
    assert_eq!(lobby["joined_relayed"], 0, "{last}");
    assert!(
        lobby["coordinator"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")),
        "{last}"
    );
    for key in ["registered_ms", "list_query_ms_p50", "join_ms_p50"] {
        assert!(lobby[key].as_f64().is_some(), "{key}: {last}");
    }
    let ratio = v["frames_delivered_ratio"].as_f64().expect("a ratio");
    assert!(ratio > 0.9, "frames_delivered_ratio {ratio}: {last}");
}

#[test]
fn a_coordinator_that_is_not_an_address_is_refused_naming_the_flag() {
    for args in [
        &["demo", "--coordinator", "not-an-address"][..],
        &["demo", "--coordinator=not-an-address"],
    ] {
        let out = propwash(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("--coordinator") && err.contains("not-an-address"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert!(out.stdout.is_empty(), "nothing ran");
    }
    let out = propwash(&["demo", "--coordinator", "0.0.0.0:7000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--coordinator 0.0.0.0:7000"));
    let out = propwash(&["demo", "--coordinator"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--coordinator needs a value"));
}

#[test]
fn an_unreachable_coordinator_stops_the_demo_naming_its_address() {
    let started = std::time::Instant::now();
    let out = propwash(&[
        "demo",
        "--coordinator",
        "127.0.0.1:9",
        "--seconds",
        "1",
        "--pilots",
        "2",
        "--spectators",
        "0",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("127.0.0.1:9") && err.contains("--coordinator local"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_seventh_pilot_is_refused_naming_the_limit() {
    let out = propwash(&["demo", "--pilots", "7"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--pilots 7") && err.contains('6'), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(out.stdout.is_empty(), "nothing ran");
}

#[test]
fn a_rate_below_ten_hz_is_refused() {
    let out = propwash(&["demo", "--rate", "5"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--rate 5") && err.contains("10 to 240"),
        "{err}"
    );
}

#[test]
fn bad_arguments_are_refused_with_usage() {
    let out = propwash(&["demo", "--warp-speed"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--warp-speed") && err.contains("Usage:"),
        "{err}"
    );

    let out = propwash(&["demo", "--seconds", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--seconds expects a whole number"));

    let out = propwash(&["demo", "--spectators"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--spectators needs a value"));

    let out = propwash(&["demo", "--map", "MP-x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--map and --track-id name the ids"));

    let missing = std::env::temp_dir().join("propwash-cli-no-such-track");
    let out = propwash(&[
        "demo",
        "--seconds",
        "1",
        "--track",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot share the track") && err.contains("propwash-cli-no-such-track"),
        "{err}"
    );

    let out = propwash(&["fly"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown command 'fly'"));

    let out = propwash(&[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_and_version_answer_on_stdout() {
    for args in [
        &["--help"][..],
        &["help"],
        &["demo", "--help"],
        &["help", "demo"],
        &["help", "track"],
        &["track", "--help"],
    ] {
        let out = propwash(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: propwash"), "{args:?}");
    }
    let demo_help = text(&propwash(&["demo", "--help"]).stdout);
    assert!(
        demo_help.contains("--coordinator IP:PORT|local"),
        "{demo_help}"
    );
    let help = text(&propwash(&["help"]).stdout);
    for command in ["demo", "track", "identity"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "help lists {command}: {help}"
        );
    }
    let out = propwash(&["help", "identity"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("propwash identity sync"));
    let out = propwash(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("propwash {}", env!("CARGO_PKG_VERSION"))
    );
}

fn generated(s: &Scratch, bytes: u64, files: usize) -> (String, String) {
    let dir = s.path().join("maps/MP-cli/custom/CMP-cli");
    let m = propwash::track::generate_track(&dir, "MP-cli", "CMP-cli", bytes, files, 3)
        .expect("generate a track");
    (
        dir.to_str().expect("UTF-8 temp path").to_string(),
        m.track_hash().to_string(),
    )
}

#[test]
fn track_manifest_prints_the_hash_and_verify_refuses_a_wrong_one() {
    let s = Scratch::new("track");
    let (dir, hash) = generated(&s, 300_000, 4);
    let out = propwash(&["track", "manifest", &dir]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = stdout
        .lines()
        .find(|l| l.starts_with("track_hash "))
        .unwrap_or_else(|| panic!("no track_hash line in {stdout}"));
    let printed = &line["track_hash ".len()..];
    assert!(
        printed.len() == 64 && printed.bytes().all(|b| b.is_ascii_hexdigit()),
        "{line}"
    );
    assert_eq!(printed, hash, "the ids came from the folder's place");

    let out = propwash(&["track", "verify", &dir, &hash]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let wrong = format!(
        "{}{}",
        if hash.starts_with('0') { "1" } else { "0" },
        &hash[1..]
    );
    let out = propwash(&["track", "verify", &dir, &wrong]);
    assert_eq!(out.status.code(), Some(1), "a wrong hash is a mismatch");
    assert!(
        text(&out.stderr).contains("mismatch"),
        "{}",
        text(&out.stderr)
    );

    let out = propwash(&["track", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = propwash(&["identity", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("propwash identity show"));
}

#[test]
fn a_demo_with_a_track_installs_it_on_every_joiner() {
    let s = Scratch::new("demo-track");
    let (dir, hash) = generated(&s, 2 << 20, 8);
    let started = std::time::Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_propwash"))
        .args([
            "demo",
            "--seconds",
            "3",
            "--pilots",
            "2",
            "--spectators",
            "2",
            "--track",
            &dir,
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the propwash binary");
    let pid = child.id();
    let out = child.wait_with_output().expect("the demo finishes");
    let (v, last) = summary(&out);
    assert_eq!(v["errors"], 0, "{}", v["error_messages"]);
    assert_eq!(v["tracks_installed"], 3, "{last}");
    assert_eq!(v["track_hash"], hash.as_str());
    assert_eq!(v["track_bytes"], 2 << 20);
    assert!(
        v["track_transfer_mb_s"].as_f64().unwrap_or(0.0) > 0.0,
        "{last}"
    );
    assert!(
        v["latency_ms_during_transfer"]["samples"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "frames were measured during the transfer: {last}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // The joiners' temporary maps folders are gone with the run.
    let ours = format!("propwash-demo-{pid}-");
    let left: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .expect("list the temp folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&ours))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_demo_with_a_cmp_track_installs_it_as_its_guid_on_every_joiner() {
    let s = Scratch::new("demo-cmp");
    let file = s.dir("host").join("CMP-5f2a91.cmp");
    let bytes: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();
    let out = propwash(&[
        "demo",
        "--seconds",
        "1",
        "--pilots",
        "2",
        "--spectators",
        "1",
        "--track",
        path,
        "--json",
    ]);
    let (v, last) = summary(&out);
    assert_eq!(v["errors"], 0, "{}", v["error_messages"]);
    assert_eq!(v["tracks_installed"], 2, "{last}");
    assert_eq!(
        v["track_installed_as"],
        serde_json::json!(["CMP-5f2a91.cmp"]),
        "{last}"
    );
    assert_eq!(v["track_bytes"], 1 << 20);
    // Its hash is the single-file track's, as `track manifest` prints it.
    let m = propwash(&["track", "manifest", path]);
    assert_eq!(m.status.code(), Some(0), "{}", text(&m.stderr));
    assert!(
        text(&m.stdout).contains(v["track_hash"].as_str().unwrap()),
        "{}",
        text(&m.stdout)
    );

    // Hostile names and sizes are refused as for folder tracks, naming why.
    for name in ["NUL.cmp", "CMP-1~x.cmp", "notes.txt"] {
        let bad = s.dir("bad").join(name);
        std::fs::write(&bad, b"x").unwrap();
        let out = propwash(&["demo", "--seconds", "1", "--track", bad.to_str().unwrap()]);
        assert_ne!(out.status.code(), Some(0), "{name} was served");
        assert!(
            text(&out.stderr).contains("cannot share the track"),
            "{name}: {}",
            text(&out.stderr)
        );
    }
    let big = s.dir("big").join("CMP-big.cmp");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    let out = propwash(&["demo", "--seconds", "1", "--track", big.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("more than the limit of 268435456"),
        "{}",
        text(&out.stderr)
    );
}
