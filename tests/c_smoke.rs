//! Compiles tests/c/smoke.c with the system C compiler against the
//! committed include/propwash.h and the freshly built libpropwash, runs it,
//! and checks that C sees the same struct sizes as Rust.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::lib_dir;

fn compile(src: &Path, out: &Path, lib_dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(root.join("include"))
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg("-L")
        .arg(lib_dir)
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lpropwash");
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "the C compiler `{cc}` was not found: install one (e.g. `apt-get install gcc`) \
             or point $CC at it; the C ABI smoke test needs it"
        ),
        Err(e) => panic!("could not run `{cc}`: {e}"),
    };
    assert!(
        output.status.success(),
        "compiling tests/c/smoke.c failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the program, killing it after `limit`.
fn run(exe: &Path, limit: Duration) -> (bool, String, String) {
    let mut child = Command::new(exe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the C smoke program");
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the C program") {
            break Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let Some(status) = status else {
        panic!("the C smoke program ran longer than {limit:?}\nstdout:\n{out}\nstderr:\n{err}");
    };
    (status.success(), out, err)
}

#[test]
fn c_program_hosts_joins_and_exchanges_frames_and_an_event() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_smoke");
    std::fs::create_dir_all(&work).expect("create the C build dir");
    let exe = work.join("smoke");
    let libs = lib_dir();
    compile(&root.join("tests/c/smoke.c"), &exe, &libs);

    let (ok, out, err) = run(&exe, Duration::from_secs(30));
    assert!(
        ok,
        "the C smoke program failed\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        out.contains("c smoke: ok frames=120 event=hello from C"),
        "unexpected output:\n{out}\nstderr:\n{err}"
    );
    assert!(out.contains(&format!("propwash {}", env!("CARGO_PKG_VERSION"))));

    // C and Rust agree on every struct's size.
    let sizes = out
        .lines()
        .find_map(|l| l.strip_prefix("sizes "))
        .expect("the program prints struct sizes");
    common::check_struct_sizes(sizes, "C's sizeof");
}
