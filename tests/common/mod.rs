//! Helpers shared by the tests that load the built library from outside
//! Rust (the C smoke test, the C# harness).

use std::path::PathBuf;

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
