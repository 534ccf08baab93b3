//! `propwash package` as a user runs it: help, refusals that name what is
//! wrong, and nothing left on disk when it refuses. (The zip's contents,
//! unpacked into a game folder, are checked by tests/windows.rs; the
//! writer and its checks by the binary's unit tests.)

use std::process::{Command, Output};

mod common;
use common::scratch::{names, Scratch};

fn package(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_propwash"))
        .arg("package")
        .args(args)
        .output()
        .expect("run the propwash binary")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_and_bad_arguments() {
    let o = package(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: propwash package --native DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_propwash"))
        .args(["help", "package"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("--shim DIR"));

    let o = package(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--native is required"),
        "{}",
        stderr(&o)
    );
    let o = package(&["--native", "a", "--shim", "b", "--level", "9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown option '--level'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn wrong_inputs_are_named_and_nothing_is_written() {
    let dir = Scratch::new("package");
    let native = dir.dir("native");
    let shim = dir.dir("shim");
    let out = dir.path().join("out");
    let (n, s, o) = (
        native.to_str().unwrap(),
        shim.to_str().unwrap(),
        out.to_str().unwrap(),
    );

    let r = package(&["--native", n, "--shim", s, "--out", o]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        stderr(&r).contains(&format!("{}", native.join("propwash.dll").display()))
            && stderr(&r).contains("is missing"),
        "{}",
        stderr(&r)
    );

    // A Linux library under a DLL's name is refused.
    std::fs::write(
        native.join("propwash.dll"),
        b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0",
    )
    .unwrap();
    let r = package(&["--native", n, "--shim", s, "--out", o]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        stderr(&r).contains("is not a 64-bit Windows DLL"),
        "{}",
        stderr(&r)
    );
    assert!(!out.exists(), "nothing written: {:?}", names(dir.path()));
}
