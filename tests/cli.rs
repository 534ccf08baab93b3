//! The `propwash` command line as a user runs it: a small demo room end to
//! end with its JSON summary, and the refusals for rooms that cannot exist.

use std::process::{Command, Output};

fn propwash(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_propwash"))
        .args(args)
        .output()
        .expect("run the propwash binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        text(&out.stderr)
    );
    let last = stdout.lines().last().expect("some output");
    let v: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
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
    assert!(v["bytes_per_pilot_frame"].as_u64().unwrap_or(99) <= 32);
    assert!(v["latency_ms"]["p50"].as_f64().is_some(), "{last}");
    assert!(
        v["host_upload_kbps"].as_f64().unwrap_or(0.0) > 0.0,
        "{last}"
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
    ] {
        let out = propwash(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: propwash"), "{args:?}");
    }
    let out = propwash(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("propwash {}", env!("CARGO_PKG_VERSION"))
    );
}
