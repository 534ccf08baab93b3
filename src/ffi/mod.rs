//! The C ABI the game's BepInEx plugin P/Invokes (`include/propwash.h`,
//! generated from this module by cbindgen). The only place with
//! `#[no_mangle]`.
//!
//! Conventions, as in rustls-ffi: names `pw_<object>_<verb>`; every export
//! runs inside `ffi_boundary!` (a panic becomes `PW_RESULT_PANIC`, never an
//! unwind into Mono); every pointer is checked for NULL; outputs are written
//! only on success (except the needed size on `PW_RESULT_BUFFER_TOO_SMALL`);
//! strings are UTF-8 pointer + length; details of a failure are in
//! `pw_last_error` on the calling thread. Game-thread calls never block:
//! a handle busy on another thread answers `PW_RESULT_BUSY`.
//!
//! Buffers the library fills are `(buf, cap, out_len)`: `out_len` must not
//! be NULL, `buf` may be NULL only when `cap` is 0, and when the data does
//! not fit the call returns `PW_RESULT_BUFFER_TOO_SMALL` with the needed
//! size in `*out_len` and consumes nothing (call again with a bigger
//! buffer). Arrays of structs follow the same rule with `out_count`.

#![warn(unsafe_op_in_unsafe_fn)]

#[macro_use]
mod boundary;
mod arg;
mod backend;
mod event;
mod identity;
mod lobby;
mod log;
mod options;
mod props;
mod result;
mod room;
mod session;
mod track;

pub use arg::PwStr;
pub use backend::{
    pw_backend_free, pw_backend_options_default, pw_backend_port, pw_backend_start, PwBackend,
    PwBackendOptions,
};
pub use event::{
    pw_session_poll_event, pw_session_send_event, PwEvent, PwEventKind, PwEventTarget,
    PwRefuseReason, PW_MAX_EVENT_PAYLOAD,
};
pub use identity::{
    pw_identity_json, pw_identity_options_default, pw_identity_start,
    pw_identity_sync_player_state, PwIdentityOptions,
};
pub use lobby::{
    pw_lobby_free, pw_lobby_list, pw_lobby_open, pw_lobby_poll, pw_session_poll_lobby_event,
    pw_session_update_listing, PwLobby,
};
pub use log::{pw_log_read, pw_log_set_level, PwLogLevel, PW_LOG_QUEUE_LINES};
pub use options::{
    pw_host_options_default, pw_join_options_default, PwHostOptions, PwJoinOptions, PwRole,
    PW_DEFAULT_PORT, PW_MAX_NAME_INPUT_BYTES, PW_NAME_BYTES,
};
pub use props::{
    pw_session_get_player_property, pw_session_get_room_property, pw_session_players_json,
    pw_session_room_properties_json, pw_session_set_player_properties_json,
    pw_session_set_player_property, pw_session_set_room_properties_json,
    pw_session_set_room_property, PW_MAX_KEY_BYTES, PW_MAX_PROPERTY_BYTES,
};
pub use result::{pw_last_error, pw_result_message, PwResult};
pub use room::{
    pw_session_change_groups, pw_session_raise_event, pw_session_set_properties, PwRaiseOptions,
    PwSettingsChange, PW_ACTOR_SELF, PW_GROUPS_ADD, PW_GROUPS_REMOVE, PW_MAX_TARGETS,
};
pub use session::{
    pw_session_counters, pw_session_follow, pw_session_free, pw_session_host, pw_session_host_time,
    pw_session_info, pw_session_join, pw_session_leave, pw_session_push_local,
    pw_session_read_pilots, pw_session_read_pilots_interpolated, pw_session_stats, PwCloseReason,
    PwPeerStats, PwSession, PwSessionCounters, PwSessionInfo, PwSessionState, PW_MAX_PEERS,
    PW_MAX_PILOTS,
};
pub use track::pw_session_serve_track;

/// The crate version, NUL-terminated, for `pw_version`.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's version as a static NUL-terminated string (e.g. `0.1.0`).
/// The library owns it: do not free it. Any thread; never blocks.
#[no_mangle]
pub extern "C" fn pw_version() -> *const std::ffi::c_char {
    ffi_boundary!(fallback = VERSION.as_ptr().cast(), {
        VERSION.as_ptr().cast()
    })
}

/// The header cbindgen generated for this build, to compare with the
/// committed `include/propwash.h`.
///
/// cbindgen:ignore
#[doc(hidden)]
pub const GENERATED_HEADER: &str = include_str!(concat!(env!("OUT_DIR"), "/propwash.h"));
