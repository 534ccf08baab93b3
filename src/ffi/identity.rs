//! Who the local racer is, through the C ABI: identity starts once per
//! process on a helper thread (Steam may take up to 5 s to start), the game
//! reads it as JSON when it is ready, and may write it into its own
//! `player-state.json`. The session code reads the same process identity
//! through [`local`] when hosting and joining.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::arg::{self, out_slice, PwStr};
use super::result::{Error, PwResult};
use crate::identity::player_state::{self, ID_KEYS, PROFILE_NAME, PROFILE_PHOTO_URL, STEAM_ID};
use crate::identity::verify::TicketVerifier;
use crate::identity::{
    self, avatar, AuthTicket, Identity, IdentityConfig, IdentityError, IdentityProvider,
    SteamVerifier, SyncReport, DRL_APP_ID,
};

/// How to start identity. Fill it with `pw_identity_options_default` first,
/// then set at least `config_dir`. The strings are borrowed only during
/// `pw_identity_start`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PwIdentityOptions {
    /// The plugin's config folder (normally `BepInEx/config`), which must
    /// exist; the offline player id is kept there in
    /// `propwash-identity.json`. Required.
    pub config_dir: PwStr,
    /// The display name without Steam (cut to 64 bytes); empty gives
    /// `Pilot-xxxx`. Ignored when Steam vouches for the player.
    pub player_name: PwStr,
    /// Do not try Steam at all (C# marshal as U1).
    pub offline: bool,
    /// Steam app id (default 641780, DRL Simulator); 0 leaves it to Steam
    /// (`SteamAppId` / `steam_appid.txt`).
    pub app_id: u32,
    /// The `propwash-steam` plugin file; empty searches the usual places
    /// (beside this library first).
    pub steam_plugin: PwStr,
    /// Fetch the avatar URL from Steam Community once Steam is up (a few
    /// seconds at most, on the helper thread; C# marshal as U1).
    pub fetch_avatar: bool,
}

/// Writes the default identity options into `*out`: every string empty (the
/// caller must still set `config_dir`), Steam tried, app id 641780 (DRL
/// Simulator), avatar fetched.
///
/// `out` may be NULL (then nothing is written). The caller owns `*out`. Any
/// thread; never blocks.
///
/// # Safety
/// `out` must be NULL or valid for writing one `PwIdentityOptions`.
#[no_mangle]
pub unsafe extern "C" fn pw_identity_options_default(out: *mut PwIdentityOptions) {
    let _ = ffi_boundary!({
        let out = arg::out(out, "out")?;
        // SAFETY: the caller guarantees `out` per the contract above.
        unsafe { out.write(defaults()) };
        Ok(())
    });
}

/// The defaults `pw_identity_options_default` writes.
fn defaults() -> PwIdentityOptions {
    PwIdentityOptions {
        config_dir: PwStr::empty(),
        player_name: PwStr::empty(),
        offline: false,
        app_id: DRL_APP_ID,
        steam_plugin: PwStr::empty(),
        fetch_avatar: true,
    }
}

/// What a start asked for, owned, to compare a later start with.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Request {
    config_dir: PathBuf,
    name: Option<String>,
    offline: bool,
    app_id: u32,
    steam_plugin: Option<PathBuf>,
    fetch_avatar: bool,
}

impl Request {
    /// Checks and copies the options.
    ///
    /// Reads the fields one by one through the raw pointer, so a `bool`
    /// byte that is neither 0 nor 1 (a careless marshaller) is read as a
    /// byte, not trusted as a Rust `bool`.
    ///
    /// # Safety
    /// `o` must be valid for reading one `PwIdentityOptions`, and its
    /// strings readable as `PwStr` promises.
    unsafe fn read(o: std::ptr::NonNull<PwIdentityOptions>) -> Result<Request, Error> {
        let o = o.as_ptr();
        // SAFETY: `o` is valid for reads (caller); every field but the
        // bools is plain data, and the bools are read as bytes.
        let (config_dir, player_name, offline, app_id, steam_plugin, fetch_avatar) = unsafe {
            (
                (*o).config_dir,
                (*o).player_name,
                std::ptr::addr_of!((*o).offline).cast::<u8>().read() != 0,
                (*o).app_id,
                (*o).steam_plugin,
                std::ptr::addr_of!((*o).fetch_avatar).cast::<u8>().read() != 0,
            )
        };
        // SAFETY (all three): forwarded to the caller.
        let config_dir = unsafe { arg::string(config_dir, "options.config_dir") }?;
        let name = unsafe { arg::string(player_name, "options.player_name") }?;
        let steam_plugin = unsafe { arg::string(steam_plugin, "options.steam_plugin") }?;
        if config_dir.is_empty() {
            return Err(Error::invalid(
                "`options.config_dir` is empty; pass the plugin's config folder \
                 (BepInEx/config), where the offline player id is kept",
            ));
        }
        // One metadata call: cheap, and a wrong path is answered here
        // rather than by an identity that silently forgets its id.
        match std::fs::metadata(config_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "`options.config_dir` {config_dir:?} is a file, not a folder"
                )))
            }
            Err(e) => {
                return Err(Error::invalid(format!(
                    "`options.config_dir` {config_dir:?} cannot be opened: {e}"
                )))
            }
        }
        Ok(Request {
            config_dir: PathBuf::from(config_dir),
            name: Some(name.to_owned()).filter(|n| !n.is_empty()),
            offline,
            app_id,
            steam_plugin: Some(PathBuf::from(steam_plugin)).filter(|p| !p.as_os_str().is_empty()),
            fetch_avatar,
        })
    }

    /// The fields of `other` that differ from ours, for the error text.
    fn differences(&self, other: &Request) -> Vec<String> {
        let mut d = Vec::new();
        let mut field = |name: &str, ours: String, theirs: String| {
            if ours != theirs {
                d.push(format!("{name} {theirs} (started with {ours})"));
            }
        };
        field(
            "config_dir",
            format!("{:?}", self.config_dir),
            format!("{:?}", other.config_dir),
        );
        field(
            "player_name",
            format!("{:?}", self.name.as_deref().unwrap_or("")),
            format!("{:?}", other.name.as_deref().unwrap_or("")),
        );
        field(
            "offline",
            self.offline.to_string(),
            other.offline.to_string(),
        );
        field("app_id", self.app_id.to_string(), other.app_id.to_string());
        let plugin = |p: &Option<PathBuf>| format!("{:?}", p.as_deref().unwrap_or(Path::new("")));
        field(
            "steam_plugin",
            plugin(&self.steam_plugin),
            plugin(&other.steam_plugin),
        );
        field(
            "fetch_avatar",
            self.fetch_avatar.to_string(),
            other.fetch_avatar.to_string(),
        );
        d
    }

    fn config(&self) -> IdentityConfig {
        let mut c = IdentityConfig::new(&self.config_dir);
        c.name = self.name.clone();
        c.offline = self.offline;
        c.app_id = self.app_id;
        c.steam_plugin = self.steam_plugin.clone();
        c
    }
}

/// The process identity, once its start finished: the local player and the
/// means to check joiners when hosting. Shared by every session of the
/// process; lives until the process ends (Steam starts once per process).
pub(crate) struct LocalIdentity {
    provider: Box<dyn IdentityProvider>,
    verifier: Result<SteamVerifier, String>,
}

impl LocalIdentity {
    /// Wraps what [`identity::start`] gave.
    fn new(started: identity::Started) -> LocalIdentity {
        LocalIdentity {
            provider: started.provider,
            verifier: started.verifier,
        }
    }

    /// The identity to present now, the avatar URL included once fetched.
    /// Any thread; no disk, no network (with Steam, one quick local call
    /// for the persona name).
    pub(crate) fn identity(&self) -> Identity {
        self.provider.identity()
    }

    /// A fresh Steam auth ticket for joining the host whose Steam id is
    /// `for_host`; `None` without Steam. The caller owns the ticket and
    /// cancels it with [`cancel_ticket`](Self::cancel_ticket) on leaving.
    /// Any thread; a quick local Steam call.
    pub(crate) fn auth_ticket(&self, for_host: u64) -> Option<AuthTicket> {
        self.provider.auth_ticket(for_host)
    }

    /// Cancels a ticket from [`auth_ticket`](Self::auth_ticket) once we left
    /// the room it was for. Any thread; never blocks.
    pub(crate) fn cancel_ticket(&self, t: &AuthTicket) {
        self.provider.cancel_ticket(t);
    }

    /// Whether Steam says this account owns `app_id`, or why nobody can
    /// say (offline, an older Steam plugin). Any thread; a quick local
    /// Steam call.
    pub(crate) fn owns_app(&self, app_id: u32) -> Result<bool, String> {
        self.provider.owns_app(app_id)
    }

    /// A verifier for a new room, or why this host cannot check tickets
    /// (offline, or Steam unavailable). Each room gets its own; they share
    /// the one Steam of the process. Cheap; never blocks.
    pub(crate) fn verifier(&self) -> Result<Box<dyn TicketVerifier>, String> {
        self.verifier
            .clone()
            .map(|v| Box::new(v) as Box<dyn TicketVerifier>)
    }
}

/// What the first successful `pw_identity_start` asked for.
static REQUEST: Mutex<Option<Request>> = Mutex::new(None);
/// Set once the helper thread has been started.
static STARTED: AtomicBool = AtomicBool::new(false);
/// The identity, once the helper thread finished starting it.
static READY: OnceLock<LocalIdentity> = OnceLock::new();
/// Why the helper thread ended without an identity (a caught panic).
static FAILED: OnceLock<String> = OnceLock::new();

/// The process identity once started (`None` before `pw_identity_start`
/// and while it is starting). Any thread; never blocks.
pub(crate) fn local() -> Option<&'static LocalIdentity> {
    READY.get()
}

/// True from a successful `pw_identity_start` on (ready or still starting).
pub(crate) fn started() -> bool {
    STARTED.load(Ordering::Acquire)
}

/// The process identity, or the typed error saying why there is none yet.
fn ready() -> Result<&'static LocalIdentity, Error> {
    if let Some(l) = READY.get() {
        return Ok(l);
    }
    if let Some(why) = FAILED.get() {
        return Err(Error::new(
            PwResult::Panic,
            format!("identity failed to start: {why}"),
        ));
    }
    if STARTED.load(Ordering::Acquire) {
        return Err(Error::new(
            PwResult::Pending,
            "identity is still starting (Steam may take up to 5 s); ask again later",
        ));
    }
    Err(Error::new(
        PwResult::NotStarted,
        "identity is not started: call pw_identity_start first",
    ))
}

/// The helper thread: starts identity, publishes it, then fetches the
/// avatar URL (which the identity picks up from the process cache).
fn run(request: Request) {
    let config = request.config();
    match catch_unwind(AssertUnwindSafe(|| identity::start(&config))) {
        Ok(started) => {
            let local = READY.get_or_init(|| LocalIdentity::new(started));
            let id = local.identity();
            tracing::info!(
                source = ?id.source,
                name = %id.name,
                verified = id.verified,
                "identity ready"
            );
            if let (true, Some(steam_id)) = (request.fetch_avatar, id.steam_id) {
                // Blocks this helper thread up to avatar::AVATAR_TIMEOUT; a
                // failure is logged and leaves the URL unknown.
                if catch_unwind(|| avatar::refresh_avatar_url(steam_id)).is_err() {
                    tracing::error!("a panic was caught while fetching the avatar URL");
                }
            }
        }
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".into());
            tracing::error!("identity failed to start: {text}");
            let _ = FAILED.set(text);
        }
    }
}

/// Starts identity for this process: Steam when it starts (through the
/// `propwash-steam` plugin), otherwise the offline identity, whose note
/// says why. Returns at once; the work happens on a helper thread (up to
/// 5 s for Steam, then up to a few seconds fetching the avatar URL when
/// `fetch_avatar` is set and Steam is up). Read the outcome with
/// `pw_identity_json`, which answers `PW_RESULT_PENDING` until it is ready.
///
/// Identity starts once per process and is never restarted (Steam cannot
/// be). A second call with the same options returns `PW_RESULT_OK` and
/// does nothing, whether the first is still starting or done; a second
/// call with different options returns `PW_RESULT_INVALID_ARGUMENT`, and
/// `pw_last_error` names each field that differs and the value identity
/// started with.
///
/// Checked during the call: `options` NULL gives `PW_RESULT_NULL_PARAMETER`;
/// a string that is not UTF-8 `PW_RESULT_INVALID_UTF8`; an empty
/// `config_dir`, or one that is not an existing folder,
/// `PW_RESULT_INVALID_ARGUMENT`; `PW_RESULT_THREAD_FAILED` if the helper
/// thread could not start (nothing was started; the call may be repeated).
/// The strings are copied during the call. Any thread (normally the game's
/// main thread at plugin load); never blocks (one metadata call on
/// `config_dir`, one thread started).
///
/// # Safety
/// `options` must be NULL or point to a readable `PwIdentityOptions` whose
/// strings are valid as `PwStr` describes.
#[no_mangle]
pub unsafe extern "C" fn pw_identity_start(options: *const PwIdentityOptions) -> PwResult {
    ffi_boundary!({
        let options = arg::input(options, "options")?;
        // SAFETY: `options` is non-NULL and aligned; readable per the contract.
        let request = unsafe { Request::read(options) }?;
        // Held only to compare or to start the thread: a concurrent start
        // waits at most that long.
        let mut first = REQUEST.lock();
        if let Some(first) = first.as_ref() {
            let diff = first.differences(&request);
            if diff.is_empty() {
                return Ok(());
            }
            return Err(Error::invalid(format!(
                "identity already started with other options and starts once per process \
                 (Steam cannot be restarted): {}",
                diff.join("; ")
            )));
        }
        let mine = request.clone();
        std::thread::Builder::new()
            .name("propwash-identity".into())
            .spawn(move || run(mine))
            .map_err(|e| {
                Error::new(
                    PwResult::ThreadFailed,
                    format!("could not start the identity thread: {e}"),
                )
            })?;
        *first = Some(request);
        STARTED.store(true, Ordering::Release);
        Ok(())
    })
}

/// Writes the local identity as one line of JSON (UTF-8, not
/// NUL-terminated) into `buf` and its length into `*out_len`; the same
/// fields as `propwash identity show`:
/// `{"steam_id":"7656..."|null,"name":"...","avatar_url":"..."|null,
/// "player_id":"<32 hex>","verified":true|false,"source":"steam"|"offline",
/// "note":"why offline"|null}`. The Steam id is a decimal string (it does
/// not fit a double); `avatar_url` appears once fetched.
///
/// `PW_RESULT_NOT_STARTED` before `pw_identity_start`; `PW_RESULT_PENDING`
/// while it is starting (poll again later, e.g. once a second);
/// `PW_RESULT_PANIC` if starting failed on a bug. `out_len` must not be
/// NULL; `buf` may be NULL only when `cap` is 0; on
/// `PW_RESULT_BUFFER_TOO_SMALL` `*out_len` is the length needed (a few
/// hundred bytes; more when the offline note names a long path). The
/// caller owns `buf`. Any
/// thread; never blocks (allocates a little: call it when needed, not
/// every frame).
///
/// # Safety
/// `buf` must be NULL or valid for `cap` bytes of writing; `out_len` must be
/// NULL or valid for writing one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn pw_identity_json(
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
        let json = ready()?.identity().to_json();
        // SAFETY: the caller guarantees `buf`/`out_len` per the contract above.
        unsafe { out.write(json.as_bytes()) }
    })
}

/// A sync report as JSON, its members in the documented order.
fn report_json(r: &SyncReport) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        path: std::borrow::Cow<'a, str>,
        changed: &'a [String],
        written: bool,
        backup: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::to_vec(&Report {
        path: r.path.to_string_lossy(),
        changed: &r.changed,
        written: r.written,
        backup: r.backup.as_deref().map(Path::to_string_lossy),
    })
    .unwrap_or_default()
}

/// The longest report a sync of the file at `path` can give: every key it
/// may change, and a backup.
fn report_bound(path: &Path) -> usize {
    let mut backup = path.file_name().unwrap_or_default().to_os_string();
    backup.push(".bak");
    let mut changed: Vec<String> = [STEAM_ID, PROFILE_NAME, PROFILE_PHOTO_URL]
        .into_iter()
        .chain(ID_KEYS)
        .map(String::from)
        .collect();
    changed.sort();
    report_json(&SyncReport {
        path: path.to_path_buf(),
        changed,
        written: false,
        backup: Some(path.with_file_name(backup)),
    })
    .len()
}

/// The typed result for an identity file error; its text names the path.
fn file_error(e: IdentityError) -> Error {
    let code = match &e {
        IdentityError::NotAGameDir { .. } => PwResult::InvalidArgument,
        IdentityError::FolderMissing { .. } | IdentityError::FileMissing { .. } => {
            PwResult::FileMissing
        }
        IdentityError::Parse { .. } => PwResult::FileInvalid,
        IdentityError::Read { .. } | IdentityError::Write { .. } => PwResult::IoFailed,
    };
    Error::new(code, e.to_string())
}

/// Writes the local identity into the game's own `player-state.json`
/// (`<game_dir>/DRL Simulator_Data/StreamingAssets/game/storage/offline/
/// state/player/`; `game_dir` is the install folder or its
/// `DRL Simulator_Data`): sets `steam-id`, `profile-name` and
/// `profile-photo-url`, fills `_id` and `player-id` only when missing, and
/// keeps every other byte, key order included. When something changed the
/// file is replaced atomically and the old one kept as
/// `player-state.json.bak`; nothing is created if a folder or the file is
/// missing.
///
/// On `PW_RESULT_OK` `buf` receives what was done as JSON (UTF-8, not
/// NUL-terminated): `{"path":"...","changed":["steam-id",...],
/// "written":true|false,"backup":"....bak"|null}` (`changed` in file
/// order; `written` false and no backup when it was up to date).
///
/// Errors, each with the path in `pw_last_error`: an empty `game_dir` or
/// one that is not the game's folder `PW_RESULT_INVALID_ARGUMENT`; a
/// missing folder or file `PW_RESULT_FILE_MISSING`; a file that is not a
/// JSON object `PW_RESULT_FILE_INVALID` (with the parser's words; the file
/// is left byte for byte as it was); a failed read or write
/// `PW_RESULT_IO_FAILED` (the old file stays). `PW_RESULT_NOT_STARTED` /
/// `PW_RESULT_PENDING` as for `pw_identity_json`.
///
/// `out_len` must not be NULL; `buf` may be NULL only when `cap` is 0. The
/// buffer is checked before the file is touched: on
/// `PW_RESULT_BUFFER_TOO_SMALL` nothing was read or written and `*out_len`
/// is a length sure to fit (the report may be shorter); 4096 bytes suffice
/// unless the game's path is longer than 900 bytes. The caller owns `buf`;
/// `game_dir` is only read during the call.
///
/// Touches the disk (a few small file operations: read, write a temporary
/// file, keep the backup, rename): call it off the game's frame, e.g. from
/// the menu when identity became ready, not every frame. Any thread.
///
/// # Safety
/// `game_dir` valid as `PwStr` describes; `buf` NULL or writable for `cap`
/// bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_identity_sync_player_state(
    game_dir: PwStr,
    buf: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> PwResult {
    ffi_boundary!({
        let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
        // SAFETY: `game_dir` is valid as `PwStr` describes (caller).
        let game_dir = unsafe { arg::string(game_dir, "game_dir") }?;
        if game_dir.is_empty() {
            return Err(Error::invalid(
                "`game_dir` is empty; pass the game's install folder (holding \
                 \"DRL Simulator_Data\") or that data folder itself",
            ));
        }
        let local = ready()?;
        let game_dir = Path::new(game_dir);
        let path = player_state::player_state_path(game_dir).map_err(file_error)?;
        let bound = report_bound(&path);
        if bound > out.cap() {
            // SAFETY: the caller guarantees `buf`/`out_len` per the contract above.
            return Err(unsafe { out.refuse(bound) });
        }
        let report =
            player_state::sync_player_state(game_dir, &local.identity()).map_err(file_error)?;
        tracing::info!(
            path = %report.path.display(),
            changed = ?report.changed,
            written = report.written,
            "player-state.json synced with the identity"
        );
        // SAFETY: as above. Fits unless the file moved in between; then the
        // needed length is reported like any other too-small buffer.
        unsafe { out.write(&report_json(&report)) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_dir::TestDir;
    use crate::identity::Source;

    #[test]
    fn an_offline_local_identity_has_no_tickets_and_says_why_it_cannot_verify() {
        let dir = TestDir::new("ffi-local-offline");
        let mut config = IdentityConfig::new(dir.path());
        config.offline = true;
        config.name = Some("Tester".into());
        let local = LocalIdentity::new(identity::start(&config));
        let id = local.identity();
        assert_eq!((id.name.as_str(), id.source), ("Tester", Source::Offline));
        assert!(local.auth_ticket(76_561_198_000_000_001).is_none());
        let why = local.verifier().err().expect("offline cannot verify");
        assert!(why.contains("offline"), "{why}");
        local.cancel_ticket(&AuthTicket {
            bytes: vec![1, 2, 3],
            handle: 7,
        });
    }

    #[test]
    fn the_report_bound_covers_the_longest_report() {
        let path = Path::new("/games/DRL Simulator/x/player-state.json");
        let longest = SyncReport {
            path: path.to_path_buf(),
            changed: vec![
                "steam-id".into(),
                "profile-name".into(),
                "profile-photo-url".into(),
                "_id".into(),
                "player-id".into(),
            ],
            written: true,
            backup: Some(path.with_file_name("player-state.json.bak")),
        };
        assert!(report_json(&longest).len() <= report_bound(path));
        let text = String::from_utf8(report_json(&longest)).unwrap();
        assert!(
            text.starts_with(r#"{"path":"/games/"#)
                && text.contains(r#"],"written":true,"backup":"#),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json["backup"],
            "/games/DRL Simulator/x/player-state.json.bak"
        );
        assert_eq!(json["written"], true);
    }

    #[test]
    fn differing_options_are_named_with_both_values() {
        let a = Request {
            config_dir: "/a".into(),
            name: None,
            offline: true,
            app_id: DRL_APP_ID,
            steam_plugin: None,
            fetch_avatar: false,
        };
        assert!(a.differences(&a.clone()).is_empty());
        let mut b = a.clone();
        b.config_dir = "/b".into();
        b.offline = false;
        let d = a.differences(&b).join("; ");
        assert!(d.contains(r#"config_dir "/b" (started with "/a")"#), "{d}");
        assert!(d.contains("offline false (started with true)"), "{d}");
        assert!(!d.contains("app_id"), "{d}");
    }
}
