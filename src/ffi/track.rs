//! Sharing the host's custom track with the room. Joiners opt in through
//! `PwJoinOptions::maps_dir`; the transfer's progress and outcome are the
//! `PW_EVENT_KIND_TRACK_*` events of `pw_session_poll_event`.

use std::path::Path;

use super::arg::{self, PwStr};
use super::result::{Error, PwResult};
use super::session::{shell, PwSession};
use crate::runtime::SessionState;
use crate::track::{validate_id, IdKind, Limits};

/// Host only: serves the custom track in folder `dir` (the host's own copy,
/// normally `<maps>/<map_id>/custom/<track_id>`) to the room, or with an
/// empty `dir` stops serving (`map_id` and `track_id` are then ignored).
///
/// Returns at once. Every file of the folder is hashed on a helper thread,
/// which takes as long as reading it all (about a second per few hundred
/// MiB; at most 256 MiB and 4096 files are served); then the room
/// announces the track's hash, ids and size in its properties
/// (`track_hash`, `map_id`, `track_id`, `track_size`,
/// `allow_track_download`), the host receives `PW_EVENT_KIND_TRACK_READY`
/// with `dir` as data, and joiners with a `maps_dir` that lack it download
/// it when `allow_download` is true. If the folder turns out unusable (a
/// link or special file inside, over the limits, unreadable), the host
/// receives `PW_EVENT_KIND_TRACK_FAILED` with the reason instead and the
/// room keeps what it served before. A later call supersedes one still
/// hashing.
///
/// Checked during the call: a client gets `PW_RESULT_NOT_HOST`; a `dir`
/// that does not exist or is not a folder, or ids that are empty, too long
/// or not plain names, give `PW_RESULT_INVALID_ARGUMENT`; a closed session
/// `PW_RESULT_CLOSED`; `PW_RESULT_THREAD_FAILED` if the helper thread could
/// not start. The strings are copied during the call. `session` must not be
/// NULL. Game thread (on a player's choice, not every frame: each call
/// hashes the whole folder again); never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `dir`, `map_id`
/// and `track_id` valid as `PwStr` describes.
#[no_mangle]
pub unsafe extern "C" fn pw_session_serve_track(
    session: *mut PwSession,
    dir: PwStr,
    map_id: PwStr,
    track_id: PwStr,
    allow_download: bool,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            // SAFETY: the strings are valid as `PwStr` describes (caller).
            let dir = unsafe { arg::string(dir, "dir") }?;
            if !live.session.is_host() {
                return Err(Error::new(
                    PwResult::NotHost,
                    "only the host may serve a track",
                ));
            }
            if matches!(live.session.snapshot().state, SessionState::Closed(_)) {
                return Err(Error::new(PwResult::Closed, "the session is closed"));
            }
            if dir.is_empty() {
                return live
                    .session
                    .serve_track(None, allow_download)
                    .map_err(Error::from);
            }
            // SAFETY: as above.
            let map_id = unsafe { arg::string(map_id, "map_id") }?;
            let track_id = unsafe { arg::string(track_id, "track_id") }?;
            validate_id(IdKind::Map, map_id).map_err(|e| Error::invalid(e.to_string()))?;
            validate_id(IdKind::Track, track_id).map_err(|e| Error::invalid(e.to_string()))?;
            // One metadata call: cheap, and the commonest mistake (a wrong
            // path) is answered here rather than by a later event.
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::invalid(format!(
                        "track folder {dir:?} is a file, not a folder"
                    )))
                }
                Err(e) => {
                    return Err(Error::invalid(format!(
                        "track folder {dir:?} cannot be opened: {e}"
                    )))
                }
            }
            live.session
                .serve_track_folder(
                    Path::new(dir),
                    map_id,
                    track_id,
                    allow_download,
                    Limits::default(),
                )
                .map_err(Error::from)
        })
    })
}
