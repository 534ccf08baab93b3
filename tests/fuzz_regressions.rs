//! Replays every input the fuzzers ever crashed on (`fuzz/regressions/
//! <target>/`) through the same entry points the fuzz targets call, plus a
//! few hand-made inputs, so a fixed crash stays fixed under `cargo test`.

use std::path::Path;

use propwash::fuzzing;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(&dir) {
        let mut files: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files.iter().filter(|f| f.is_file()) {
            if f.file_name().is_some_and(|n| n == ".keep") {
                continue;
            }
            let data = std::fs::read(f).expect("regression input");
            run(&data);
            n += 1;
        }
    }
    // Empty, short and framed inputs reach every core's first branches.
    for data in [
        &b""[..],
        b"\x00\x00\x00\x04PWCO",
        b"\x01\x05\x00\x12PWCO\x01\x05\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x00\x00\x00\x16PWCO\x01\x42\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00{}",
        b"\x02\x01\x00\x05PWPU\x01",
        b"\x02\x01\x00\x05PWCO\x01",
        b"\x03\x01\x00\x07PWCO\x01\x05\x00",
        b"\x03\x00\x00\x0cPWRL\x00\x00\x00\x00\x00\x00\x00\x01",
        b"\x00\x00\x00\x02{}\x00\x00\x00\x08\x00\x00\x00\x00abcd",
    ] {
        run(data);
    }
    n
}

#[test]
fn coordinator_inputs_replay() {
    replay("coordinator", fuzzing::coordinator);
}

#[test]
fn lobby_client_inputs_replay() {
    replay("lobby_client", fuzzing::lobby_client);
}

#[test]
fn manifest_installer_inputs_replay() {
    replay("manifest_installer", fuzzing::manifest_installer);
}

#[test]
fn host_inputs_replay() {
    replay("host", fuzzing::host);
}

#[test]
fn client_inputs_replay() {
    replay("client", fuzzing::client);
}
