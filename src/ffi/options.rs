//! The option structs for hosting and joining, their defaults, and their
//! checked conversion into the session configs.

use std::net::SocketAddr;

use super::arg::{self, PwStr};
use super::result::{Error, PwResult};
use crate::lobby::{LobbyConfig, SessionId};
use crate::proto::room::RoomSettings;
use crate::proto::Role;
use crate::session::{
    ClientConfig, HostConfig, DEFAULT_PILOT_HZ, DEFAULT_SPECTATOR_HZ, MAX_PILOTS, MAX_SPECTATORS,
    RATE_RANGE,
};
use crate::track::transfer::{MapsFolder, TrackTarget};
use crate::track::Limits;

/// The port a room listens on when `bind_addr` is empty (Photon's game port).
pub const PW_DEFAULT_PORT: u16 = 5056;

/// Longest text option other than a name (version, id, password), in bytes.
const MAX_TEXT_BYTES: usize = 1024;
/// A display name is cut to this many bytes (at a character boundary).
pub const PW_NAME_BYTES: usize = 64;
/// Longer display names than this are refused rather than cut (no game
/// sends one; it is a caller's bug).
pub const PW_MAX_NAME_INPUT_BYTES: usize = 65_536;

/// What a peer does in the room.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwRole {
    /// Flies a drone (up to 6 per room, the host included).
    Pilot = 0,
    /// Watches (up to 15 per room).
    Spectator = 1,
    /// Not known yet (a peer that is not seated). Only ever an output.
    Unknown = 255,
}

impl From<Role> for PwRole {
    fn from(r: Role) -> PwRole {
        match r {
            Role::Pilot => PwRole::Pilot,
            Role::Spectator => PwRole::Spectator,
        }
    }
}

/// How to open a room. Fill it with `pw_host_options_default` first, then
/// change what you need. The strings are borrowed only during
/// `pw_session_host`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PwHostOptions {
    /// Local address to listen on, `ip:port`; empty means `0.0.0.0:5056`.
    pub bind_addr: PwStr,
    /// The game build; joiners must send exactly the same string.
    pub game_version: PwStr,
    /// The hosting racer's display name, cut to `PW_NAME_BYTES` (64) bytes
    /// at a character boundary; over `PW_MAX_NAME_INPUT_BYTES` is refused
    /// with `PW_RESULT_INVALID_ARGUMENT`. The other text options
    /// (`game_version`, `player_id`, `password`) may be 1024 bytes at most.
    pub player_name: PwStr,
    /// The hosting racer's player id (`player-id` in player-state.json), may be empty.
    pub player_id: PwStr,
    /// Snapshots per second to pilots, 10 to 240 (default 60).
    pub pilot_hz: u32,
    /// Snapshots per second to spectators, 10 to 240 (default 30).
    pub spectator_hz: u32,
    /// Pilot seats, the host's included, 1 to 6 (default 6).
    pub max_pilots: u32,
    /// Spectator seats, 0 to 15 (default 15).
    pub max_spectators: u32,
    /// The room's password; empty: none. Joiners prove they know it
    /// without sending it; the coordinator only learns that there is one.
    pub password: PwStr,
    /// Admit only joiners whose Steam identity this host verified (needs
    /// `pw_identity_start` with Steam; C# marshal as I1).
    pub require_verified: bool,
    /// The coordinator to list the room at, `ip:port`; empty: not listed.
    pub coordinator_addr: PwStr,
    /// The game's part of the lobby listing, JSON:
    /// `{"room":{"name":"...","map_id":"...","track_id":"...",
    /// "is_custom_track":false,"mode":"race"},"settings":{"laps":3,
    /// "physics":"...","allow_track_download":true}}`, optionally with
    /// `"host":{"steam_id":"...","player_name":"...","avatar_url":"..."}`
    /// (default: the started identity, else `player_name`). Seats,
    /// occupancy, versions and the password flag are filled in. Required
    /// with `coordinator_addr`.
    pub listing_json: PwStr,
    /// Most players in the room, as the game sets it (Photon's
    /// MaxPlayers), 0 to 255; 0: as many as the seats hold (the default).
    pub max_players: u32,
    /// The room accepts joins (Photon's IsOpen; default true; C# marshal
    /// as I1).
    pub open: bool,
    /// The room is listed (Photon's IsVisible; default true; C# marshal as I1).
    pub visible: bool,
    /// A leaver's cached events leave with them (Photon's
    /// CleanupCacheOnLeave; default true; C# marshal as I1).
    pub cleanup_cache_on_leave: bool,
    /// The room's first properties, in the `props` layout (see
    /// `pw_session_set_properties`); empty: none.
    pub room_props: PwStr,
    /// The host's own first player properties, in the `props` layout.
    pub player_props: PwStr,
}

/// How to join a room. Fill it with `pw_join_options_default` first, then
/// set at least `host_addr`. The strings are borrowed only during
/// `pw_session_join`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PwJoinOptions {
    /// The host's address, `ip:port` (required).
    pub host_addr: PwStr,
    /// Local address to bind, `ip:port`; empty means any address, any port.
    pub bind_addr: PwStr,
    /// The game build; must equal the host's or the join is refused.
    pub game_version: PwStr,
    /// Display name, cut to `PW_NAME_BYTES` (64) bytes at a character
    /// boundary (by us and by the host); over `PW_MAX_NAME_INPUT_BYTES` is
    /// refused with `PW_RESULT_INVALID_ARGUMENT`. The other text options
    /// may be 1024 bytes at most.
    pub player_name: PwStr,
    /// The game's player id, may be empty.
    pub player_id: PwStr,
    /// The seat asked for: a `PwRole` value, `PW_ROLE_PILOT` or
    /// `PW_ROLE_SPECTATOR`.
    pub role: u32,
    /// Accept a spectator seat when the pilot seats are taken (C# marshal as I1).
    pub spectate_if_full: bool,
    /// Frames per second sent to the host, 10 to 240 (default 60).
    pub send_hz: u32,
    /// The game's maps folder (`.../StreamingAssets/game/content/maps`),
    /// which must exist. When set, the room's custom track is looked for
    /// there and, if missing and the host allows it, downloaded (checked
    /// chunk by chunk and file by file) and installed in one step as
    /// `<maps_dir>/<map-id>/custom/<track-id>`; see the TRACK_* event kinds.
    /// When `maps_dir` is the game's `<game>/content/maps` and
    /// `<game>/storage/offline/maps` exists, a room's single-file track
    /// (`track_layout` `file`) is installed there as `<track-id>.cmp`,
    /// never over another file of that name; otherwise such a track fails
    /// with a message saying why. Empty: no track handling (the room's `track_hash`, `map_id`,
    /// `track_id`, `track_size` and `allow_track_download` properties are
    /// still there to read).
    pub maps_dir: PwStr,
    /// A folder where downloaded tracks are also kept, so a later room with
    /// the same track needs no download (created if missing). Empty: none.
    /// Needs `maps_dir`.
    pub track_cache_dir: PwStr,
    /// The room's password, if it asks one (never sent: the hello carries
    /// a proof bound to this join).
    pub password: PwStr,
    /// The coordinator, `ip:port`, to join a listed room through (with
    /// `session_id`, instead of `host_addr`).
    pub coordinator_addr: PwStr,
    /// A listed room's id (16 hex digits, from `pw_lobby_poll`): the
    /// coordinator introduces us to its host and the join runs over the
    /// path found (punched through both NATs, or the coordinator's relay).
    /// Then `host_addr` must be empty and `coordinator_addr` set.
    pub session_id: PwStr,
    /// The player properties we join with, in the `props` layout (see
    /// `pw_session_set_properties`): everyone learns of us with them.
    pub player_props: PwStr,
}

/// Writes the default host options into `*out`: every string empty (bind
/// `0.0.0.0:5056`), 60 Hz to pilots, 30 Hz to spectators, 6 pilot and 15
/// spectator seats.
///
/// `out` may be NULL (then nothing is written). The caller owns `*out`. Any
/// thread; never blocks.
///
/// # Safety
/// `out` must be NULL or valid for writing one `PwHostOptions`.
#[no_mangle]
pub unsafe extern "C" fn pw_host_options_default(out: *mut PwHostOptions) {
    let _ = ffi_boundary!({
        let out = arg::out(out, "out")?;
        // SAFETY: the caller guarantees `out` per the contract above.
        unsafe { out.write(host_defaults()) };
        Ok(())
    });
}

/// Writes the default join options into `*out`: every string empty (the
/// caller must still set `host_addr`), role pilot, no spectating when full,
/// 60 Hz, no track handling.
///
/// `out` may be NULL (then nothing is written). The caller owns `*out`. Any
/// thread; never blocks.
///
/// # Safety
/// `out` must be NULL or valid for writing one `PwJoinOptions`.
#[no_mangle]
pub unsafe extern "C" fn pw_join_options_default(out: *mut PwJoinOptions) {
    let _ = ffi_boundary!({
        let out = arg::out(out, "out")?;
        // SAFETY: the caller guarantees `out` per the contract above.
        unsafe { out.write(join_defaults()) };
        Ok(())
    });
}

/// The defaults `pw_host_options_default` writes.
pub(crate) fn host_defaults() -> PwHostOptions {
    PwHostOptions {
        bind_addr: PwStr::empty(),
        game_version: PwStr::empty(),
        player_name: PwStr::empty(),
        player_id: PwStr::empty(),
        pilot_hz: DEFAULT_PILOT_HZ,
        spectator_hz: DEFAULT_SPECTATOR_HZ,
        max_pilots: MAX_PILOTS as u32,
        max_spectators: MAX_SPECTATORS as u32,
        password: PwStr::empty(),
        require_verified: false,
        coordinator_addr: PwStr::empty(),
        listing_json: PwStr::empty(),
        max_players: 0,
        open: true,
        visible: true,
        cleanup_cache_on_leave: true,
        room_props: PwStr::empty(),
        player_props: PwStr::empty(),
    }
}

/// The defaults `pw_join_options_default` writes.
pub(crate) fn join_defaults() -> PwJoinOptions {
    PwJoinOptions {
        host_addr: PwStr::empty(),
        bind_addr: PwStr::empty(),
        game_version: PwStr::empty(),
        player_name: PwStr::empty(),
        player_id: PwStr::empty(),
        role: PwRole::Pilot as u32,
        spectate_if_full: false,
        send_hz: DEFAULT_PILOT_HZ,
        maps_dir: PwStr::empty(),
        track_cache_dir: PwStr::empty(),
        password: PwStr::empty(),
        coordinator_addr: PwStr::empty(),
        session_id: PwStr::empty(),
        player_props: PwStr::empty(),
    }
}

fn check_range(name: &str, value: u32, min: u32, max: u32, unit: &str) -> Result<(), Error> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{name} {value} is out of range (allowed {min} to {max}{unit})"
        )))
    }
}

fn check_rate(name: &str, hz: u32) -> Result<(), Error> {
    check_range(name, hz, *RATE_RANGE.start(), *RATE_RANGE.end(), " Hz")
}

/// Parses an `ip:port` address.
pub(crate) fn parse_addr(name: &str, s: &str) -> Result<SocketAddr, Error> {
    if s.is_empty() {
        return Err(Error::new(
            PwResult::AddressInvalid,
            format!("`{name}` is empty; expected ip:port such as 192.168.1.20:5056"),
        ));
    }
    if s.trim() != s {
        return Err(Error::new(
            PwResult::AddressInvalid,
            format!(
                "`{name}` {s:?} has spaces around it; expected ip:port such as 192.168.1.20:5056"
            ),
        ));
    }
    s.parse().map_err(|_| {
        Error::new(
            PwResult::AddressInvalid,
            format!("`{name}` {s:?} is not an address of the form ip:port (e.g. 192.168.1.20:5056 or [::1]:5056)"),
        )
    })
}

/// Reads a short text field (names, versions) with a length cap.
///
/// # Safety
/// As for [`arg::string`].
unsafe fn text(s: PwStr, name: &str) -> Result<String, Error> {
    // SAFETY: forwarded to the caller.
    let t = unsafe { arg::string(s, name) }?;
    if t.len() > MAX_TEXT_BYTES {
        return Err(Error::invalid(format!(
            "`{name}` is {} bytes; at most {MAX_TEXT_BYTES} are allowed",
            t.len()
        )));
    }
    Ok(t.to_owned())
}

/// Reads a display name: cut to [`PW_NAME_BYTES`] at a character
/// boundary; absurd lengths refused.
///
/// # Safety
/// As for [`arg::string`].
unsafe fn name(s: PwStr, field: &str) -> Result<String, Error> {
    // SAFETY: forwarded to the caller.
    let t = unsafe { arg::string(s, field) }?;
    if t.len() > PW_MAX_NAME_INPUT_BYTES {
        return Err(Error::invalid(format!(
            "`{field}` is {} bytes; names are cut to {PW_NAME_BYTES} bytes, but more than \
             {PW_MAX_NAME_INPUT_BYTES} is refused as a mistake",
            t.len()
        )));
    }
    Ok(cut_at_char(t, PW_NAME_BYTES).to_owned())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What `pw_session_host` needs: where to bind, the room, and where to
/// list it (the coordinator's config and the game's listing JSON).
pub(crate) struct HostPlan {
    pub(crate) bind: SocketAddr,
    pub(crate) cfg: HostConfig,
    pub(crate) lobby: Option<(LobbyConfig, String)>,
}

/// What `pw_session_join` needs: where to bind, how to join, where the
/// room's track goes (if anywhere), and the listed room to be introduced
/// to (instead of `cfg.host`).
pub(crate) struct JoinPlan {
    pub(crate) bind: SocketAddr,
    pub(crate) cfg: ClientConfig,
    pub(crate) target: Option<Box<dyn TrackTarget>>,
    pub(crate) listed: Option<(LobbyConfig, SessionId)>,
}

/// Reads a password field: empty means none.
///
/// # Safety
/// As for [`arg::string`].
unsafe fn password(s: PwStr, name: &str) -> Result<Option<String>, Error> {
    // SAFETY: forwarded to the caller.
    let p = unsafe { text(s, name) }?;
    Ok((!p.is_empty()).then_some(p))
}

/// Checks host options and turns them into a bind address, config and
/// lobby listing.
///
/// Reads the fields through the raw pointer, so a `bool` byte that is
/// neither 0 nor 1 is read as a byte, not trusted as a Rust `bool`.
///
/// # Safety
/// `o` must be valid for reading one `PwHostOptions`, and its strings
/// readable as `PwStr` promises.
pub(crate) unsafe fn host_config(o: std::ptr::NonNull<PwHostOptions>) -> Result<HostPlan, Error> {
    let p = o.as_ptr();
    // SAFETY: `p` is valid for reads (caller); the bools are read as bytes.
    let flag = |f: *const bool| unsafe { f.cast::<u8>().read() } != 0;
    // SAFETY: as above.
    let (open, visible, cleanup) = unsafe {
        (
            flag(std::ptr::addr_of!((*p).open)),
            flag(std::ptr::addr_of!((*p).visible)),
            flag(std::ptr::addr_of!((*p).cleanup_cache_on_leave)),
        )
    };
    // SAFETY: `p` is valid for reads (caller); every field but the bools is
    // plain data (any bits are a valid value), and the bools are read as
    // bytes, never as `bool`s.
    let o = &unsafe {
        PwHostOptions {
            bind_addr: (*p).bind_addr,
            game_version: (*p).game_version,
            player_name: (*p).player_name,
            player_id: (*p).player_id,
            pilot_hz: (*p).pilot_hz,
            spectator_hz: (*p).spectator_hz,
            max_pilots: (*p).max_pilots,
            max_spectators: (*p).max_spectators,
            password: (*p).password,
            require_verified: std::ptr::addr_of!((*p).require_verified)
                .cast::<u8>()
                .read()
                != 0,
            coordinator_addr: (*p).coordinator_addr,
            listing_json: (*p).listing_json,
            max_players: (*p).max_players,
            open,
            visible,
            cleanup_cache_on_leave: cleanup,
            room_props: (*p).room_props,
            player_props: (*p).player_props,
        }
    };
    check_range("max_players", o.max_players, 0, 255, "")?;
    check_rate("pilot_hz", o.pilot_hz)?;
    check_rate("spectator_hz", o.spectator_hz)?;
    check_range("max_pilots", o.max_pilots, 1, MAX_PILOTS as u32, "")?;
    check_range(
        "max_spectators",
        o.max_spectators,
        0,
        MAX_SPECTATORS as u32,
        "",
    )?;
    // SAFETY (all four): forwarded to the caller.
    let bind = unsafe { arg::string(o.bind_addr, "options.bind_addr") }?;
    let game_version = unsafe { text(o.game_version, "options.game_version") }?;
    let name = unsafe { name(o.player_name, "options.player_name") }?;
    let player_id = unsafe { text(o.player_id, "options.player_id") }?;
    let bind = if bind.is_empty() {
        SocketAddr::from(([0, 0, 0, 0], PW_DEFAULT_PORT))
    } else {
        parse_addr("options.bind_addr", bind)?
    };
    let mut cfg = HostConfig::new(&game_version, &name);
    cfg.player_id = player_id;
    cfg.pilot_hz = o.pilot_hz;
    cfg.spectator_hz = o.spectator_hz;
    cfg.max_pilots = o.max_pilots as usize;
    cfg.max_spectators = o.max_spectators as usize;
    cfg.require_verified = o.require_verified;
    cfg.settings = RoomSettings {
        max_players: o.max_players as u8,
        open: o.open,
        visible: o.visible,
        cleanup_cache_on_leave: o.cleanup_cache_on_leave,
    };
    // SAFETY (both): forwarded to the caller.
    cfg.room = unsafe { super::room::initial_props_arg(o.room_props, "options.room_props") }?;
    cfg.host_props =
        unsafe { super::room::initial_props_arg(o.player_props, "options.player_props") }?;
    // SAFETY (all three): forwarded to the caller.
    cfg.password = unsafe { password(o.password, "options.password") }?;
    let coordinator = unsafe { arg::string(o.coordinator_addr, "options.coordinator_addr") }?;
    let listing = unsafe { arg::string(o.listing_json, "options.listing_json") }?;
    let lobby = match (coordinator.is_empty(), listing.is_empty()) {
        (true, true) => None,
        (true, false) => {
            return Err(Error::invalid(
                "`options.listing_json` is set but `options.coordinator_addr` is empty; \
                 a listing needs a coordinator to list it",
            ))
        }
        (false, true) => {
            return Err(Error::invalid(
                "`options.coordinator_addr` is set but `options.listing_json` is empty; \
                 the lobby needs the room's name, map and mode",
            ))
        }
        (false, false) => {
            let addr = parse_addr("options.coordinator_addr", coordinator)?;
            Some((LobbyConfig::new(addr, &game_version), listing.to_owned()))
        }
    };
    Ok(HostPlan { bind, cfg, lobby })
}

/// Checks join options and turns them into a bind address, a config and
/// the track target (checking that the maps folder exists).
///
/// Reads the fields one by one through the raw pointer, so a `bool` byte
/// that is neither 0 nor 1 (a careless marshaller) is read as a byte, not
/// trusted as a Rust `bool`.
///
/// # Safety
/// `o` must be valid for reading one `PwJoinOptions`, and its strings
/// readable as `PwStr` promises.
pub(crate) unsafe fn join_config(o: std::ptr::NonNull<PwJoinOptions>) -> Result<JoinPlan, Error> {
    let o = o.as_ptr();
    // SAFETY: `o` is valid for reads (caller); every field but the bool is
    // plain data, and the bool is read as a byte.
    let (host_addr, bind_addr, game_version, player_name, player_id, role, spectate, send_hz) = unsafe {
        (
            (*o).host_addr,
            (*o).bind_addr,
            (*o).game_version,
            (*o).player_name,
            (*o).player_id,
            (*o).role,
            std::ptr::addr_of!((*o).spectate_if_full)
                .cast::<u8>()
                .read()
                != 0,
            (*o).send_hz,
        )
    };
    // SAFETY: as above.
    let (maps_dir, cache_dir) = unsafe { ((*o).maps_dir, (*o).track_cache_dir) };
    // SAFETY: as above.
    let (pass, coordinator, session_id, player_props) = unsafe {
        (
            (*o).password,
            (*o).coordinator_addr,
            (*o).session_id,
            (*o).player_props,
        )
    };
    check_rate("send_hz", send_hz)?;
    let role = match role {
        0 => Role::Pilot,
        1 => Role::Spectator,
        r => {
            return Err(Error::invalid(format!(
                "role {r} is not PW_ROLE_PILOT (0) or PW_ROLE_SPECTATOR (1)"
            )))
        }
    };
    // SAFETY (all five): forwarded to the caller.
    let host_addr = unsafe { arg::string(host_addr, "options.host_addr") }?;
    let bind_addr = unsafe { arg::string(bind_addr, "options.bind_addr") }?;
    let game_version = unsafe { text(game_version, "options.game_version") }?;
    let name = unsafe { name(player_name, "options.player_name") }?;
    let player_id = unsafe { text(player_id, "options.player_id") }?;
    // SAFETY (both): forwarded to the caller.
    let coordinator = unsafe { arg::string(coordinator, "options.coordinator_addr") }?;
    let session_id = unsafe { arg::string(session_id, "options.session_id") }?;
    let (host, listed) = match (host_addr.is_empty(), session_id.is_empty()) {
        (false, true) => (parse_addr("options.host_addr", host_addr)?, None),
        (true, false) => {
            if coordinator.is_empty() {
                return Err(Error::invalid(
                    "`options.session_id` is set but `options.coordinator_addr` is empty; \
                     a listed room is joined through the coordinator that lists it",
                ));
            }
            let id: SessionId = session_id
                .parse()
                .map_err(|e| Error::invalid(format!("`options.session_id` {session_id:?}: {e}")))?;
            let addr = parse_addr("options.coordinator_addr", coordinator)?;
            (addr, Some((LobbyConfig::new(addr, &game_version), id)))
        }
        (false, false) => {
            return Err(Error::invalid(
                "both `options.host_addr` and `options.session_id` are set; join either \
                 an address or a listed room",
            ))
        }
        (true, true) => {
            return Err(Error::new(
                PwResult::AddressInvalid,
                "`options.host_addr` is empty; expected ip:port such as 192.168.1.20:5056 \
                 (or set `options.session_id` and `options.coordinator_addr` to join a \
                 listed room)",
            ))
        }
    };
    let bind = if bind_addr.is_empty() {
        // Any local address of the host's family, any port.
        match host {
            SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
            SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
        }
    } else {
        parse_addr("options.bind_addr", bind_addr)?
    };
    let mut cfg = ClientConfig::new(host, &game_version, &name, role);
    cfg.player_id = player_id;
    cfg.spectate_if_full = spectate;
    cfg.send_hz = send_hz;
    // SAFETY (both): forwarded to the caller.
    cfg.password = unsafe { password(pass, "options.password") }?;
    // SAFETY: forwarded to the caller.
    cfg.player_props =
        unsafe { super::room::initial_props_arg(player_props, "options.player_props") }?;
    let target = unsafe { track_target(maps_dir, cache_dir) }?;
    Ok(JoinPlan {
        bind,
        cfg,
        target,
        listed,
    })
}

/// The game's folder for single-file tracks beside its maps folder:
/// `<game>/content/maps` gives `<game>/storage/offline/maps`, when it exists.
fn file_tracks_beside(maps: &std::path::Path) -> Option<std::path::PathBuf> {
    let game = maps.parent()?.parent()?;
    let dir = game.join("storage").join("offline").join("maps");
    dir.is_dir().then_some(dir)
}

/// The maps folder (and cache) a joiner installs the room's track into.
///
/// # Safety
/// As for [`arg::string`].
unsafe fn track_target(
    maps_dir: PwStr,
    cache_dir: PwStr,
) -> Result<Option<Box<dyn TrackTarget>>, Error> {
    // SAFETY (both): forwarded to the caller.
    let maps = unsafe { arg::string(maps_dir, "options.maps_dir") }?;
    let cache = unsafe { arg::string(cache_dir, "options.track_cache_dir") }?;
    match (maps.is_empty(), cache.is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => {
            return Err(Error::invalid(
                "`options.track_cache_dir` is set but `options.maps_dir` is empty; \
                 the cache only serves a maps folder",
            ))
        }
        _ => {}
    }
    let cache_path = (!cache.is_empty()).then(|| std::path::Path::new(cache));
    // Both folders are named: the error may be about either.
    let maps_path = std::path::Path::new(maps);
    let folder = MapsFolder::new(maps_path, cache_path, Limits::default())
        .and_then(|f| match file_tracks_beside(maps_path) {
            Some(dir) => f.with_file_tracks(&dir),
            None => Ok(f),
        })
        .map_err(|e| {
            let also = if cache.is_empty() {
                String::new()
            } else {
                format!(" with `options.track_cache_dir` {cache:?}")
            };
            Error::invalid(format!(
                "`options.maps_dir` {maps:?}{also} cannot take tracks: {e}"
            ))
        })?;
    Ok(Some(Box::new(folder)))
}
