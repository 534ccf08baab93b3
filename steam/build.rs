//! Lets the plugin find steam_api beside itself: propwash loads the plugin by
//! full path, and steam_api ships in the same folder.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    match os.as_str() {
        "linux" => println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN"),
        "macos" => println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,@loader_path"),
        // Windows: propwash loads the plugin with LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR.
        _ => {}
    }
}
