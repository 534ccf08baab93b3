//! Helpers shared by the integration tests (each includes this with
//! `mod common;`): here, the ABI checks of the tests that load the built
//! library from outside Rust (the C smoke test, the C# harness); in the
//! submodules, scratch folders, the C ABI's last error and the identity
//! fixtures.

// Each test crate uses only some of these helpers.
#![allow(dead_code)]

pub(crate) mod ffi;
pub(crate) mod identity;
pub(crate) mod scratch;

use std::path::PathBuf;

use propwash::ffi::{
    PwBackendOptions, PwEvent, PwHostOptions, PwIdentityOptions, PwJoinOptions, PwPeerStats,
    PwSessionCounters, PwSessionInfo, PwStr,
};
use propwash::proto::{PilotFrame, PilotInput};
use propwash::runtime::PilotState;

/// Checks a `sizes Name=N …` line printed by a foreign program against
/// Rust's sizes of every ABI struct; `measure` names how it measured.
pub(crate) fn check_struct_sizes(sizes: &str, measure: &str) {
    let expected = [
        ("PwStr", std::mem::size_of::<PwStr>()),
        ("PwPilotInput", std::mem::size_of::<PilotInput>()),
        ("PwPilotFrame", std::mem::size_of::<PilotFrame>()),
        ("PwPilotState", std::mem::size_of::<PilotState>()),
        ("PwEvent", std::mem::size_of::<PwEvent>()),
        ("PwSessionInfo", std::mem::size_of::<PwSessionInfo>()),
        ("PwPeerStats", std::mem::size_of::<PwPeerStats>()),
        ("PwHostOptions", std::mem::size_of::<PwHostOptions>()),
        ("PwJoinOptions", std::mem::size_of::<PwJoinOptions>()),
        (
            "PwIdentityOptions",
            std::mem::size_of::<PwIdentityOptions>(),
        ),
        ("PwBackendOptions", std::mem::size_of::<PwBackendOptions>()),
        (
            "PwSessionCounters",
            std::mem::size_of::<PwSessionCounters>(),
        ),
    ];
    for (name, size) in expected {
        assert!(
            sizes.split(' ').any(|kv| kv == format!("{name}={size}")),
            "{measure}({name}) differs from Rust's {size}: {sizes}"
        );
    }
}

/// The shared library's file name on this platform.
fn lib_file() -> String {
    format!(
        "{}propwash{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// `target/<profile>/` holds the cdylib `cargo test` built for this run;
/// the test binary lives in its `deps/`.
pub(crate) fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir");
    let candidates = [deps.parent().unwrap_or(deps), deps];
    candidates
        .iter()
        .find(|d| d.join(lib_file()).exists())
        .map(|d| d.to_path_buf())
        .unwrap_or_else(|| {
            panic!(
                "{} not found next to {} (cargo test builds the cdylib; was the crate-type changed?)",
                lib_file(),
                exe.display()
            )
        })
}
