//! Sharing the host's custom track with the room. Joiners opt in through
//! `PwJoinOptions::maps_dir`; the transfer's progress and outcome are the
//! `PW_EVENT_KIND_TRACK_*` events of `pw_session_poll_event`.

use std::path::Path;

use super::arg::{self, PwStr};
use super::result::{Error, PwResult};
use super::session::{shell, PwSession};
use crate::runtime::SessionState;
use crate::track::{file_track_id, validate_id, IdKind, Limits, FILE_TRACK_MAP_ID};

/// Host only: serves the custom track in folder `dir` (the host's own copy,
/// normally `<maps>/<map_id>/custom/<track_id>`) to the room, or with an
/// empty `dir` stops serving (`map_id` and `track_id` are then ignored).
///
/// `dir` may instead be a single-file track, the game's own
/// `storage/offline/maps/<guid>.cmp`: the room then announces it as one
/// (`track_layout` `file`), its track id is the guid (`track_id` empty, or
/// equal to it), `map_id` empty gives `MapCustom`, and joiners install it
/// as `<guid>.cmp` in their own `storage/offline/maps`.
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
            let mut map_id = unsafe { arg::string(map_id, "map_id") }?;
            let track_id = unsafe { arg::string(track_id, "track_id") }?;
            let invalid = |e: crate::track::TrackError| Error::invalid(e.to_string());
            // One metadata call: cheap, and the commonest mistake (a wrong
            // path) is answered here rather than by a later event.
            let is_file = match std::fs::metadata(dir) {
                Ok(m) => !m.is_dir(),
                Err(e) => {
                    return Err(Error::invalid(format!(
                        "track folder {dir:?} cannot be opened: {e}"
                    )))
                }
            };
            if is_file {
                // A single-file track: its name is its track id.
                let name = Path::new(dir).file_name().and_then(|n| n.to_str());
                let Some(guid) = name.and_then(file_track_id) else {
                    return Err(Error::invalid(format!(
                        "track folder {dir:?} is a file, not a folder nor a single-file \
                         track (<guid>.cmp)"
                    )));
                };
                validate_id(IdKind::Track, &guid).map_err(invalid)?;
                if !track_id.is_empty() && track_id != guid {
                    return Err(Error::invalid(format!(
                        "track_id {track_id:?} is not the file's own, {guid:?}"
                    )));
                }
                if map_id.is_empty() {
                    map_id = FILE_TRACK_MAP_ID;
                }
            } else {
                validate_id(IdKind::Track, track_id).map_err(invalid)?;
            }
            validate_id(IdKind::Map, map_id).map_err(invalid)?;
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
