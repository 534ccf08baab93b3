//! Steam, through the `propwash-steam` plugin loaded at run time.
//!
//! steam_api is linked at load time by anything that uses it, and a library
//! whose dependency is missing does not load at all. propwash must load
//! everywhere, so it never links steam_api: this module opens the plugin
//! with `libloading` and treats every way that can fail (no plugin, no
//! steam_api beside it, an old plugin, Steam not running, Steam slow to
//! start) as "Steam unavailable", which the caller turns into the offline
//! identity.
//!
//! A loaded plugin is never unloaded: steam_api may keep threads of its own,
//! and unloading code a thread still runs is a crash.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use libloading::Library;

use super::verify::{TicketVerifier, VerifyError, VerifyState};
use super::{avatar, AuthTicket, Identity, IdentityConfig, IdentityProvider, Source};

/// The plugin ABI this library speaks (`pws_abi_version`).
pub const PLUGIN_ABI_VERSION: u32 = 1;
/// Environment variable naming the plugin file, checked before the
/// default places.
pub const PLUGIN_ENV: &str = "PROPWASH_STEAM_PLUGIN";

const PWS_OK: i32 = 0;
const PWS_PENDING: i32 = 1;
const PWS_DENIED: i32 = 2;
const PWS_ERR_BUFFER_TOO_SMALL: i32 = -3;
const PWS_ERR_BEGIN_REJECTED: i32 = -6;

/// The plugin's file name on this platform (`libpropwash_steam.so`,
/// `propwash_steam.dll`, `libpropwash_steam.dylib`).
pub fn plugin_file_name() -> String {
    libloading::library_filename("propwash_steam")
        .to_string_lossy()
        .into_owned()
}

/// Why Steam cannot be used; each says what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SteamUnavailable {
    /// No plugin file in any of the places searched.
    NoPlugin {
        /// Where we looked.
        searched: Vec<PathBuf>,
    },
    /// The plugin is there but would not load; most often steam_api is
    /// missing beside it.
    Load {
        /// The plugin.
        path: PathBuf,
        /// The loader's words.
        error: String,
    },
    /// The plugin speaks another ABI version.
    Abi {
        /// The plugin.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// Steam refused to start (client not running, not logged in, ...).
    Init(String),
    /// Steam took longer than this to start.
    InitTimedOut(Duration),
    /// Steam started but reports no logged-in user.
    NoUser,
}

impl fmt::Display for SteamUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SteamUnavailable::NoPlugin { searched } => {
                write!(
                    f,
                    "no Steam plugin ({}) found; looked at",
                    plugin_file_name()
                )?;
                if searched.is_empty() {
                    write!(f, " nothing")?;
                }
                for (i, p) in searched.iter().enumerate() {
                    write!(f, "{} {}", if i == 0 { "" } else { "," }, p.display())?;
                }
                Ok(())
            }
            SteamUnavailable::Load { path, error } => write!(
                f,
                "the Steam plugin {} did not load (is steam_api beside it?): {error}",
                path.display()
            ),
            SteamUnavailable::Abi { path, found } => write!(
                f,
                "the Steam plugin {} speaks ABI {found}, this propwash speaks \
                 {PLUGIN_ABI_VERSION}: install matching versions",
                path.display()
            ),
            SteamUnavailable::Init(why) => {
                write!(
                    f,
                    "Steam did not start (is the Steam client running?): {why}"
                )
            }
            SteamUnavailable::InitTimedOut(d) => {
                write!(f, "Steam did not start within {} ms", d.as_millis())
            }
            SteamUnavailable::NoUser => write!(f, "Steam reports no logged-in user"),
        }
    }
}

impl std::error::Error for SteamUnavailable {}

/// Where to look for the plugin, in order: the configured path only, when
/// there is one (a folder means the plugin file inside it); otherwise
/// `$PROPWASH_STEAM_PLUGIN`, the folder of propwash's own library, and the
/// folder of the running program.
pub fn plugin_candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    let name = plugin_file_name();
    let in_dir = |p: &Path| {
        if p.is_dir() {
            p.join(&name)
        } else {
            p.to_path_buf()
        }
    };
    if let Some(p) = configured {
        return vec![in_dir(p)];
    }
    let mut out: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os(PLUGIN_ENV).filter(|p| !p.is_empty()) {
        out.push(in_dir(Path::new(&p)));
    }
    let dirs = [own_library_path(), std::env::current_exe().ok()];
    for file in dirs.into_iter().flatten() {
        if let Some(dir) = file.parent() {
            let p = dir.join(&name);
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// The file propwash's own code was loaded from (the cdylib in the game,
/// the program when linked statically).
#[cfg(unix)]
fn own_library_path() -> Option<PathBuf> {
    use std::ffi::{CStr, OsStr};
    use std::os::unix::ffi::OsStrExt;
    let addr = own_library_path as fn() -> Option<PathBuf> as *const libc::c_void;
    // SAFETY: dladdr only reads the address; Dl_info is plain data.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
}

/// The file propwash's own code was loaded from.
#[cfg(windows)]
fn own_library_path() -> Option<PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    type Hmodule = *mut core::ffi::c_void;
    const FROM_ADDRESS: u32 = 0x4;
    const UNCHANGED_REFCOUNT: u32 = 0x2;
    #[link(name = "kernel32")]
    extern "system" {
        fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut Hmodule) -> i32;
        fn GetModuleFileNameW(module: Hmodule, name: *mut u16, size: u32) -> u32;
    }
    let addr = own_library_path as fn() -> Option<PathBuf> as *const u16;
    let mut module: Hmodule = std::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the name argument is an address inside a
    // module; the handle is not counted, so nothing needs releasing.
    if unsafe { GetModuleHandleExW(FROM_ADDRESS | UNCHANGED_REFCOUNT, addr, &mut module) } == 0 {
        return None;
    }
    let mut buf = vec![0u16; 32_768];
    // SAFETY: buf is valid for its length.
    let n = unsafe { GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) } as usize;
    if n == 0 || n >= buf.len() {
        return None;
    }
    Some(PathBuf::from(std::ffi::OsString::from_wide(&buf[..n])))
}

#[cfg(not(any(unix, windows)))]
fn own_library_path() -> Option<PathBuf> {
    None
}

/// Opens a library so that its own dependencies (steam_api) are found
/// beside it.
fn open(path: &Path) -> Result<Library, libloading::Error> {
    #[cfg(windows)]
    {
        use libloading::os::windows::{
            Library as WinLibrary, LOAD_LIBRARY_SEARCH_DEFAULT_DIRS,
            LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR,
        };
        // SAFETY: the plugin's initialisers are ours and do nothing unsafe.
        unsafe {
            WinLibrary::load_with_flags(
                path,
                LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS,
            )
        }
        .map(Library::from)
    }
    #[cfg(not(windows))]
    {
        // SAFETY: as above; the plugin finds steam_api through its
        // $ORIGIN / @loader_path run path.
        unsafe { Library::new(path) }
    }
}

type InitFn = unsafe extern "C" fn(u32, *mut u8, usize, *mut usize) -> i32;
type TextFn = unsafe extern "C" fn(*mut u8, usize, *mut usize) -> i32;
type TicketFn = unsafe extern "C" fn(u64, *mut u8, usize, *mut usize, *mut u32) -> i32;
type BeginFn = unsafe extern "C" fn(u64, *const u8, usize, *mut u8, usize, *mut usize) -> i32;
type PollFn = unsafe extern "C" fn(u64, *mut u8, usize, *mut usize) -> i32;
type OwnsFn = unsafe extern "C" fn(u32, *mut u8) -> i32;

/// The plugin's functions; plain pointers into a library never unloaded.
#[derive(Clone, Copy)]
struct Fns {
    init: InitFn,
    steam_id: unsafe extern "C" fn() -> u64,
    persona_name: TextFn,
    auth_ticket: TicketFn,
    cancel_ticket: unsafe extern "C" fn(u32) -> i32,
    begin_auth: BeginFn,
    poll_auth: PollFn,
    end_auth: unsafe extern "C" fn(u64) -> i32,
    shutdown: unsafe extern "C" fn() -> i32,
    /// Added to ABI 1 later: absent in older plugins.
    is_subscribed_app: Option<OwnsFn>,
}

/// A loaded Steam plugin. Cheap to copy; every call returns at once except
/// [`init`](Self::init), which waits at most its timeout.
#[derive(Clone)]
pub struct SteamPlugin {
    path: PathBuf,
    f: Fns,
}

impl fmt::Debug for SteamPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SteamPlugin")
            .field("path", &self.path)
            .finish()
    }
}

impl SteamPlugin {
    /// Loads the plugin at `path` (it stays loaded for the life of the
    /// process) and checks its ABI version. Does not start Steam.
    pub fn load(path: &Path) -> Result<SteamPlugin, SteamUnavailable> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if !path.is_file() {
            return Err(SteamUnavailable::NoPlugin {
                searched: vec![path],
            });
        }
        let load_err = |e: libloading::Error| SteamUnavailable::Load {
            path: path.clone(),
            error: e.to_string(),
        };
        let lib: &'static Library = Box::leak(Box::new(open(&path).map_err(load_err)?));
        // SAFETY: each symbol is looked up with the signature the plugin
        // exports it with (steam/src/lib.rs, ABI version 1); the version is
        // checked before any other is called.
        unsafe {
            let version = *lib
                .get::<unsafe extern "C" fn() -> u32>(b"pws_abi_version\0")
                .map_err(load_err)?;
            let found = version();
            if found != PLUGIN_ABI_VERSION {
                return Err(SteamUnavailable::Abi { path, found });
            }
            let f = Fns {
                init: *lib.get(b"pws_init\0").map_err(load_err)?,
                steam_id: *lib.get(b"pws_steam_id\0").map_err(load_err)?,
                persona_name: *lib.get(b"pws_persona_name\0").map_err(load_err)?,
                auth_ticket: *lib.get(b"pws_auth_ticket\0").map_err(load_err)?,
                cancel_ticket: *lib.get(b"pws_cancel_ticket\0").map_err(load_err)?,
                begin_auth: *lib.get(b"pws_begin_auth\0").map_err(load_err)?,
                poll_auth: *lib.get(b"pws_poll_auth\0").map_err(load_err)?,
                end_auth: *lib.get(b"pws_end_auth\0").map_err(load_err)?,
                shutdown: *lib.get(b"pws_shutdown\0").map_err(load_err)?,
                is_subscribed_app: lib
                    .get::<OwnsFn>(b"pws_is_subscribed_app\0")
                    .ok()
                    .map(|f| *f),
            };
            Ok(SteamPlugin { path, f })
        }
    }

    /// Loads the first plugin found among [`plugin_candidates`].
    pub fn find(configured: Option<&Path>) -> Result<SteamPlugin, SteamUnavailable> {
        let candidates = plugin_candidates(configured);
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => SteamPlugin::load(p),
            None => Err(SteamUnavailable::NoPlugin {
                searched: candidates,
            }),
        }
    }

    /// Where it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts Steam (`app_id` 0: Steam decides; DRL is [`super::DRL_APP_ID`]).
    /// Runs on a helper thread and gives up after `timeout`; a late start is
    /// then simply not used.
    pub fn init(&self, app_id: u32, timeout: Duration) -> Result<(), SteamUnavailable> {
        let init = self.f.init;
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("propwash-steam-init".into())
            .spawn(move || {
                let mut msg = vec![0u8; 1024];
                let mut len = 0usize;
                // SAFETY: msg is valid for its length, len is valid.
                let r = unsafe { init(app_id, msg.as_mut_ptr(), msg.len(), &mut len) };
                msg.truncate(len.min(msg.len()));
                let _ = tx.send((r, String::from_utf8_lossy(&msg).into_owned()));
            });
        if let Err(e) = spawned {
            return Err(SteamUnavailable::Init(format!(
                "no thread to start it: {e}"
            )));
        }
        match rx.recv_timeout(timeout) {
            Ok((PWS_OK, _)) => Ok(()),
            Ok((code, msg)) if msg.is_empty() => {
                Err(SteamUnavailable::Init(format!("plugin error {code}")))
            }
            Ok((_, msg)) => Err(SteamUnavailable::Init(msg)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(SteamUnavailable::InitTimedOut(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(SteamUnavailable::Init(
                "the start thread ended without an answer".into(),
            )),
        }
    }

    /// The logged-in user's Steam id; `None` before a successful init.
    pub fn steam_id(&self) -> Option<u64> {
        // SAFETY: no arguments.
        Some(unsafe { (self.f.steam_id)() }).filter(|&id| id != 0)
    }

    /// The user's persona name.
    pub fn persona_name(&self) -> Option<String> {
        let f = self.f.persona_name;
        // SAFETY: read_text passes a buffer valid for its length.
        read_text(|buf, cap, len| unsafe { f(buf, cap, len) }).ok()
    }

    /// A fresh auth session ticket for the host whose Steam id is
    /// `for_host`; Steam refuses it at any other host.
    pub fn auth_ticket(&self, for_host: u64) -> Option<AuthTicket> {
        let mut buf = vec![0u8; super::verify::MAX_TICKET_BYTES];
        let mut len = 0usize;
        let mut handle = 0u32;
        // SAFETY: buf valid for its length; len and handle valid.
        let r = unsafe {
            (self.f.auth_ticket)(for_host, buf.as_mut_ptr(), buf.len(), &mut len, &mut handle)
        };
        if r != PWS_OK || len == 0 {
            tracing::warn!(code = r, "Steam gave no auth ticket");
            return None;
        }
        buf.truncate(len);
        Some(AuthTicket { bytes: buf, handle })
    }

    /// Cancels a ticket from [`auth_ticket`](Self::auth_ticket).
    pub fn cancel_ticket(&self, handle: u32) {
        // SAFETY: plain value.
        unsafe { (self.f.cancel_ticket)(handle) };
    }

    /// Host side: `BeginAuthSession` for `steam_id`.
    pub fn begin_auth(&self, steam_id: u64, ticket: &[u8]) -> Result<(), VerifyError> {
        let f = self.f.begin_auth;
        let mut msg = vec![0u8; 512];
        let mut len = 0usize;
        // SAFETY: ticket and msg valid for their lengths; len valid.
        let r = unsafe {
            f(
                steam_id,
                ticket.as_ptr(),
                ticket.len(),
                msg.as_mut_ptr(),
                msg.len(),
                &mut len,
            )
        };
        msg.truncate(len.min(msg.len()));
        let msg = String::from_utf8_lossy(&msg).into_owned();
        match r {
            PWS_OK => Ok(()),
            PWS_ERR_BEGIN_REJECTED => Err(VerifyError::Rejected(msg)),
            code => Err(VerifyError::Unavailable(format!(
                "Steam plugin error {code}"
            ))),
        }
    }

    /// Host side: how the check of `steam_id` stands (dispatches Steam's
    /// callbacks first; call from the network thread, not the game's).
    pub fn poll_auth(&self, steam_id: u64) -> VerifyState {
        let f = self.f.poll_auth;
        let mut msg = vec![0u8; 512];
        let mut len = 0usize;
        // SAFETY: msg valid for its length; len valid.
        let r = unsafe { f(steam_id, msg.as_mut_ptr(), msg.len(), &mut len) };
        msg.truncate(len.min(msg.len()));
        match r {
            PWS_PENDING => VerifyState::Pending,
            PWS_OK => VerifyState::Accepted,
            PWS_DENIED => VerifyState::Rejected(String::from_utf8_lossy(&msg).into_owned()),
            code => VerifyState::Rejected(format!("Steam plugin error {code}")),
        }
    }

    /// Host side: `EndAuthSession` for `steam_id`.
    pub fn end_auth(&self, steam_id: u64) {
        // SAFETY: plain value.
        unsafe { (self.f.end_auth)(steam_id) };
    }

    /// Whether the logged-in account owns `app_id` (Steam's
    /// `BIsSubscribedApp`), or why that cannot be asked: Steam not started,
    /// or a plugin older than this call.
    pub fn owns_app(&self, app_id: u32) -> Result<bool, String> {
        let Some(f) = self.f.is_subscribed_app else {
            return Err(format!(
                "the Steam plugin {} is older than this propwash and cannot tell \
                 whether the account owns the game; install matching versions",
                self.path.display()
            ));
        };
        let mut owned = 0u8;
        // SAFETY: `owned` is valid for one byte.
        match unsafe { f(app_id, &mut owned) } {
            PWS_OK => Ok(owned != 0),
            code => Err(format!("Steam could not say (plugin error {code})")),
        }
    }

    /// Cancels all tickets, ends all sessions and releases Steam.
    pub fn shutdown(&self) {
        // SAFETY: no arguments.
        unsafe { (self.f.shutdown)() };
    }
}

/// Calls a text-returning plugin function, growing the buffer once if needed.
fn read_text(mut f: impl FnMut(*mut u8, usize, *mut usize) -> i32) -> Result<String, i32> {
    let mut buf = vec![0u8; 256];
    for _ in 0..2 {
        let mut len = 0usize;
        match f(buf.as_mut_ptr(), buf.len(), &mut len) {
            PWS_OK => {
                buf.truncate(len.min(buf.len()));
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            PWS_ERR_BUFFER_TOO_SMALL => buf.resize(len, 0),
            code => return Err(code),
        }
    }
    Err(PWS_ERR_BUFFER_TOO_SMALL)
}

/// The identity from a running Steam client.
#[derive(Debug)]
pub struct SteamProvider {
    plugin: SteamPlugin,
    steam_id: u64,
    player_id: String,
}

impl SteamProvider {
    /// Finds and loads the plugin, starts Steam and reads the user, or says
    /// why not. `player_id` is propwash's stable id for this install.
    pub fn start(
        config: &IdentityConfig,
        player_id: String,
    ) -> Result<SteamProvider, SteamUnavailable> {
        let plugin = SteamPlugin::find(config.steam_plugin.as_deref())?;
        plugin.init(config.app_id, config.init_timeout)?;
        let steam_id = plugin.steam_id().ok_or(SteamUnavailable::NoUser)?;
        Ok(SteamProvider {
            plugin,
            steam_id,
            player_id,
        })
    }

    /// The user's Steam id.
    pub fn steam_id(&self) -> u64 {
        self.steam_id
    }

    /// A ticket verifier for hosting, on the same Steam.
    pub fn verifier(&self) -> SteamVerifier {
        SteamVerifier {
            plugin: self.plugin.clone(),
        }
    }
}

impl IdentityProvider for SteamProvider {
    fn identity(&self) -> Identity {
        Identity {
            steam_id: Some(self.steam_id),
            name: self
                .plugin
                .persona_name()
                .map(|n| super::offline::clean_name(&n))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("Pilot-{}", self.steam_id % 10_000)),
            avatar_url: avatar::cached_avatar_url(self.steam_id),
            player_id: self.player_id.clone(),
            verified: true,
            source: Source::Steam,
            note: None,
        }
    }

    fn auth_ticket(&self, for_host: u64) -> Option<AuthTicket> {
        self.plugin.auth_ticket(for_host)
    }

    fn cancel_ticket(&self, ticket: &AuthTicket) {
        self.plugin.cancel_ticket(ticket.handle);
    }

    fn owns_app(&self, app_id: u32) -> Result<bool, String> {
        self.plugin.owns_app(app_id)
    }
}

/// Checks joiners' tickets with Steam (`BeginAuthSession` and its
/// `ValidateAuthTicketResponse`).
#[derive(Clone, Debug)]
pub struct SteamVerifier {
    plugin: SteamPlugin,
}

impl TicketVerifier for SteamVerifier {
    fn begin(&mut self, steam_id: u64, ticket: &[u8]) -> Result<(), VerifyError> {
        self.plugin.begin_auth(steam_id, ticket)
    }

    fn poll(&mut self, steam_id: u64) -> VerifyState {
        self.plugin.poll_auth(steam_id)
    }

    fn end(&mut self, steam_id: u64) {
        self.plugin.end_auth(steam_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_path_is_the_only_candidate() {
        let p = Path::new("/nonexistent/propwash/libx.so");
        assert_eq!(plugin_candidates(Some(p)), vec![p.to_path_buf()]);
        let err = SteamPlugin::find(Some(p)).unwrap_err();
        assert!(matches!(err, SteamUnavailable::NoPlugin { .. }), "{err}");
        assert!(
            err.to_string().contains("/nonexistent/propwash/libx.so"),
            "{err}"
        );
    }

    #[test]
    fn the_default_places_include_our_own_folder() {
        let own = own_library_path().expect("dladdr finds our own file");
        let dir = own.parent().unwrap().join(plugin_file_name());
        assert!(plugin_candidates(None).contains(&dir));
    }

    #[test]
    fn a_file_that_is_not_a_library_fails_to_load_cleanly() {
        let dir = crate::identity::test_dir::TestDir::new("steam-notlib");
        let p = dir.path().join(plugin_file_name());
        std::fs::write(&p, b"not a shared library").unwrap();
        let err = SteamPlugin::load(&p).unwrap_err();
        assert!(matches!(err, SteamUnavailable::Load { .. }), "{err}");
    }
}
