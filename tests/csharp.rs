//! The C ABI from C#: builds shim/ with `shim/build.sh` (stub assemblies,
//! Propwash.Native.dll, and the BepInEx plugin against the stubs, which
//! proves it type-checks), compiles tests/csharp/Harness.cs together with
//! shim/src/Native/*.cs (the JSON reader included), and runs it under mono
//! against the freshly built libpropwash. The harness checks round trips,
//! error paths and timings; this test checks its verdict and that C# and
//! Rust agree on struct sizes.
//!
//! Needs `mcs` and `mono`: a missing toolchain is a failure, never a skip
//! (`.ci/run` installs mono-mcs and mono-runtime).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::lib_dir;
use propwash::lobby::service::{Service, ServiceConfig};
use propwash::lobby::CoordinatorConfig;

/// Fails (never skips) when a mono tool is missing.
fn require(tool: &str, package: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{tool} --version` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "`{tool}` is needed by the C# test and could not be run ({e}): install {package} \
             (apt-get install mono-mcs mono-runtime; .ci/run installs both)"
        ),
    }
}

/// Runs a command to completion, killing it after `limit`; returns
/// (success, stdout, stderr).
fn run(cmd: &mut Command, what: &str, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {what}: {e}"));
    // Drain both pipes on their own threads so a chatty child cannot block.
    let mut out_pipe = child.stdout.take().expect("stdout piped");
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the child") {
            break Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let Some(status) = status else {
        panic!("{what} ran longer than {limit:?}\nstdout:\n{out}\nstderr:\n{err}");
    };
    (status.success(), out, err)
}

#[test]
fn csharp_harness_round_trips_through_the_abi_and_the_plugin_type_checks() {
    require("mcs", "mono-mcs");
    require("mono", "mono-runtime");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("csharp");
    std::fs::create_dir_all(&work).expect("create the C# build dir");

    // Stubs, Propwash.Native.dll and the plugin against the stubs.
    let shim_out = work.join("shim");
    let (ok, out, err) = run(
        Command::new("bash")
            .arg(root.join("shim/build.sh"))
            .arg("--out")
            .arg(&shim_out),
        "shim/build.sh",
        Duration::from_secs(120),
    );
    assert!(ok, "shim/build.sh failed\nstdout:\n{out}\nstderr:\n{err}");
    for dll in ["Propwash.Native.dll", "Propwash.Shim.dll"] {
        assert!(shim_out.join(dll).exists(), "shim/build.sh made no {dll}");
    }

    // The harness, in one assembly with the Native sources (it reads internals).
    let exe = work.join("Harness.exe");
    let mut mcs = Command::new("mcs");
    mcs.args(["-langversion:7.2", "-warn:4", "-warnaserror", "-nologo"])
        .arg(format!("-out:{}", exe.display()))
        .arg(root.join("tests/csharp/Harness.cs"));
    let mut native: Vec<PathBuf> = std::fs::read_dir(root.join("shim/src/Native"))
        .expect("shim/src/Native exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cs"))
        .collect();
    native.sort();
    assert!(!native.is_empty(), "no C# sources in shim/src/Native");
    mcs.args(&native);
    let (ok, out, err) = run(&mut mcs, "mcs (harness)", Duration::from_secs(120));
    assert!(
        ok,
        "compiling the C# harness failed\nstdout:\n{out}\nstderr:\n{err}"
    );

    let libs = lib_dir();
    // A coordinator on loopback for the harness's listed-room checks.
    let coordinator = Service::start(ServiceConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        http: None,
        coordinator: CoordinatorConfig::default(),
    })
    .expect("start a coordinator");
    let (ok, out, err) = run(
        Command::new("mono")
            .arg(&exe)
            .env("LD_LIBRARY_PATH", &libs)
            .env("DYLD_LIBRARY_PATH", &libs)
            .env(
                "PROPWASH_TEST_COORDINATOR",
                coordinator.udp_addr().to_string(),
            ),
        "the C# harness",
        Duration::from_secs(60),
    );
    // Shown with --nocapture: the checks, the known issues and the timings.
    println!("{out}");
    assert!(ok, "the C# harness failed\nstdout:\n{out}\nstderr:\n{err}");
    let last = out.lines().last().unwrap_or_default();
    let passed: u32 = last
        .strip_prefix("csharp harness: ")
        .and_then(|r| r.strip_suffix(" passed, 0 failed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected last line {last:?}\nstdout:\n{out}\nstderr:\n{err}"));
    assert!(passed >= 80, "only {passed} checks ran:\n{out}");
    assert!(
        out.contains(&format!("propwash {}", env!("CARGO_PKG_VERSION"))),
        "the harness did not load this build's library:\n{out}"
    );
    assert!(
        !out.contains("PROPWASH_TEST_COORDINATOR not set"),
        "the listed-room checks did not run:\n{out}"
    );
    coordinator.shutdown();
    assert!(
        out.contains("bench:   PushLocal"),
        "no timings printed:\n{out}"
    );

    // C#'s Marshal.SizeOf agrees with Rust's size_of for every struct.
    let sizes = out
        .lines()
        .find_map(|l| l.strip_prefix("sizes "))
        .expect("the harness prints struct sizes");
    common::check_struct_sizes(sizes, "C#'s Marshal.SizeOf");
}

/// The names of the functions `include/propwash.h` declares.
fn header_functions(header: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in header.lines().map(str::trim) {
        if line.starts_with("//") || line.starts_with('#') {
            continue;
        }
        let Some(open) = line.find('(') else { continue };
        let head = &line[..open];
        let Some(start) = head.rfind("pw_") else {
            continue;
        };
        let name = &head[start..];
        if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            names.push(name.to_string());
        }
    }
    names
}

/// `PW_LOG_LEVEL_TRACE` with prefix `PW_LOG_LEVEL_` -> `Trace`.
fn pascal(screaming: &str) -> String {
    screaming
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| {
                f.to_string() + &c.as_str().to_ascii_lowercase()
            })
        })
        .collect()
}

#[test]
fn csharp_bindings_cover_the_header() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("read {p}: {e}"));
    let header = read("include/propwash.h");
    let imports = read("shim/src/Native/NativeMethods.cs");
    let types = read("shim/src/Native/Types.cs");

    // Every export has a DllImport, and every DllImport an export.
    let functions = header_functions(&header);
    assert!(
        functions.len() >= 20,
        "parsed too few functions: {functions:?}"
    );
    for f in &functions {
        assert!(
            imports.contains(&format!("EntryPoint = \"{f}\"")),
            "{f} is in include/propwash.h but has no DllImport in shim/src/Native/NativeMethods.cs"
        );
    }
    for entry in imports.split("EntryPoint = \"").skip(1) {
        let name = entry.split('"').next().unwrap_or_default();
        assert!(
            functions.iter().any(|f| f == name),
            "NativeMethods.cs imports {name}, which include/propwash.h does not declare"
        );
    }

    // Every enum value matches the C# enum of the same meaning.
    let enums = [
        ("PW_RESULT_", "ResultCode"),
        ("PW_EVENT_KIND_", "EventKind"),
        ("PW_ROLE_", "Role"),
        ("PW_SESSION_STATE_", "SessionState"),
        ("PW_CLOSE_REASON_", "CloseReason"),
        ("PW_EVENT_TARGET_", "EventTarget"),
        ("PW_REFUSE_REASON_", "RefuseReason"),
        ("PW_LOG_LEVEL_", "LogLevel"),
    ];
    let mut checked = 0;
    for line in header.lines().map(str::trim) {
        let Some((name, value)) = line.trim_end_matches(',').split_once(" = ") else {
            continue;
        };
        let Some((prefix, cs)) = enums.iter().find(|(p, _)| name.starts_with(p)) else {
            continue;
        };
        let block = types
            .split(&format!("public enum {cs} : uint"))
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .unwrap_or_else(|| panic!("no `public enum {cs} : uint` in Types.cs"));
        let member = format!("{} = {value},", pascal(&name[prefix.len()..]));
        assert!(
            block.contains(&member),
            "{name} = {value} has no `{member}` in enum {cs} (shim/src/Native/Types.cs)"
        );
        checked += 1;
    }
    assert!(checked >= 40, "parsed only {checked} enum values");

    // The #defines are the C# Limits.
    for (define, cs) in [
        ("PW_MAX_EVENT_PAYLOAD", "MaxEventPayload"),
        ("PW_LOG_QUEUE_LINES", "LogQueueLines"),
        ("PW_DEFAULT_PORT", "DefaultPort"),
        ("PW_MAX_PROPERTY_BYTES", "MaxPropertyBytes"),
        ("PW_MAX_PILOTS", "MaxPilots"),
        ("PW_MAX_PEERS", "MaxPeers"),
    ] {
        let value = header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {define} ")))
            .unwrap_or_else(|| panic!("no #define {define} in the header"));
        assert!(
            types.contains(&format!("public const int {cs} = {};", value.trim())),
            "#define {define} {value} differs from Limits.{cs} in Types.cs"
        );
    }
}
