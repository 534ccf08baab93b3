//! The `PwSession` handle: a small shell around a [`Session`], with a magic
//! number so that a freed handle is detected instead of being undefined
//! behaviour, and a lock that is only ever tried, never waited on.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::arg::{self, out_slice};
use super::event::PendingEvent;
use super::lobby::parse_listing;
use super::options::{self, PwHostOptions, PwJoinOptions, PwRole};
use super::result::{Error, PwResult};
use crate::identity::{AuthTicket, Identity, TicketMinter};
use crate::lobby::HostProfile;
use crate::proto::PilotFrame;
use crate::runtime::{HostExtras, PilotState, Session, SessionCounters, SessionState};
use crate::session::{CloseReason, PeerStats, MAX_PILOTS, MAX_SPECTATORS};

/// Most remote pilots `pw_session_read_pilots` can return: an array of this
/// many never gets `PW_RESULT_BUFFER_TOO_SMALL`.
pub const PW_MAX_PILOTS: usize = 6;
/// Most entries `pw_session_stats` can return.
pub const PW_MAX_PEERS: usize = 21;
const _: () = assert!(PW_MAX_PILOTS == MAX_PILOTS && PW_MAX_PEERS == MAX_PILOTS + MAX_SPECTATORS);

/// The shell of a live session: "pwsessio".
const LIVE: u64 = 0x7077_7365_7373_696f;
/// The shell of a freed session (a tombstone).
const DEAD: u64 = 0xdead_dead_7077_dead;

/// A hosted or joined session. Opaque: created by `pw_session_host` or
/// `pw_session_join`, released with `pw_session_free`.
///
/// Freed handles are detected: `pw_session_free` ends the session but keeps
/// a small shell (at most 64 bytes) marked dead, so any later call with the
/// handle returns `PW_RESULT_INVALID_HANDLE` instead of touching freed
/// memory. One shell per session ever created is leaked on purpose.
pub struct PwSession {
    magic: AtomicU64,
    inner: Mutex<Option<Box<Live>>>,
}

/// What a live shell holds.
pub(crate) struct Live {
    /// The runtime session.
    pub(crate) session: Session,
    /// An event whose data did not fit the caller's buffer, kept for the next poll.
    pub(crate) pending: Option<PendingEvent>,
    /// A lobby report that did not fit the caller's buffer, kept likewise.
    pub(crate) pending_lobby: Option<Vec<u8>>,
    /// Who hosts, as a listed room shows it.
    pub(crate) host_profile: HostProfile,
    /// The Steam tickets our hellos carried, cancelled when the session ends.
    pub(crate) tickets: Tickets,
}

/// Steam tickets minted for a session's hellos (on its network thread, when
/// the host's challenge names the host's Steam id), and whether the session
/// is over (a ticket minted after that is cancelled at once).
type Tickets = Arc<Mutex<(bool, Vec<AuthTicket>)>>;

impl Drop for Live {
    fn drop(&mut self) {
        cancel_tickets(&self.tickets);
    }
}

/// Cancels the Steam tickets our hellos carried, once their session is over.
fn cancel_tickets(tickets: &Tickets) {
    let tickets = {
        let mut t = tickets.lock();
        t.0 = true;
        std::mem::take(&mut t.1)
    };
    if let Some(id) = super::identity::local() {
        for t in &tickets {
            id.cancel_ticket(t);
        }
    }
}

/// Checks a session handle: NULL, alignment and the magic number.
///
/// # Safety
/// `ptr` must be NULL or a pointer returned by `pw_session_host` /
/// `pw_session_join` (freed or not).
pub(crate) unsafe fn shell<'a>(ptr: *mut PwSession) -> Result<&'a PwSession, Error> {
    let shell = arg::input(ptr.cast_const(), "session").map_err(|e| match e.code() {
        PwResult::NullParameter => e,
        _ => Error::new(PwResult::InvalidHandle, "not a session handle (misaligned)"),
    })?;
    // SAFETY: shells are never deallocated, so any handle ever returned
    // stays readable (caller).
    let shell = unsafe { shell.as_ref() };
    check_magic(shell)?;
    Ok(shell)
}

impl PwSession {
    fn into_raw(live: Live) -> *mut PwSession {
        Box::into_raw(Box::new(PwSession {
            magic: AtomicU64::new(LIVE),
            inner: Mutex::new(Some(Box::new(live))),
        }))
    }

    /// Runs `f` on the live session: `InvalidHandle` if it was freed,
    /// `Busy` if another thread is inside a call on it (never waits).
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut Live) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut guard = self.inner.try_lock().ok_or_else(|| {
            Error::new(
                PwResult::Busy,
                "another thread is inside a call on this session handle",
            )
        })?;
        let live = guard.as_deref_mut().ok_or_else(freed)?;
        f(live)
    }
}

fn freed() -> Error {
    Error::new(
        PwResult::InvalidHandle,
        "the session handle was freed with pw_session_free",
    )
}

fn check_magic(shell: &PwSession) -> Result<(), Error> {
    match shell.magic.load(Ordering::Acquire) {
        LIVE => Ok(()),
        DEAD => Err(freed()),
        _ => Err(Error::new(
            PwResult::InvalidHandle,
            "not a session handle (wrong magic number)",
        )),
    }
}

/// Opens the session and hands the caller a new handle.
///
/// # Safety
/// `out` must be writable (it was checked for NULL and alignment).
unsafe fn start(
    out: arg::Out<*mut PwSession>,
    bind: std::net::SocketAddr,
    host_profile: HostProfile,
    tickets: Tickets,
    open: impl FnOnce() -> std::io::Result<Session>,
) -> Result<(), Error> {
    let session = open().map_err(|e| {
        cancel_tickets(&tickets);
        if crate::runtime::is_thread_failure(&e) {
            Error::new(PwResult::ThreadFailed, e.to_string())
        } else if e.kind() == std::io::ErrorKind::InvalidInput {
            Error::invalid(format!("the room's lobby listing is not valid: {e}"))
        } else if e.kind() == std::io::ErrorKind::AddrInUse {
            // Said in words: under Wine (Proton) the OS text is missing.
            Error::new(
                PwResult::BindFailed,
                format!(
                    "could not open a UDP socket on {bind}: the port is already in use \
                     (another room or program has it; {e})"
                ),
            )
        } else {
            Error::new(
                PwResult::BindFailed,
                format!("could not open a UDP socket on {bind}: {e}"),
            )
        }
    })?;
    tracing::info!(local = %session.local_addr(), host = session.is_host(), "session started");
    let live = Live {
        session,
        pending: None,
        pending_lobby: None,
        host_profile,
        tickets,
    };
    // SAFETY: forwarded to the caller.
    unsafe { out.write(PwSession::into_raw(live)) };
    Ok(())
}

/// Who hosts, as the lobby shows it: the started identity (its Steam id,
/// else its offline player id), named as the game named the host.
fn host_profile(name: &str, identity: Option<&Identity>) -> HostProfile {
    let steam_id = identity
        .map(|i| {
            i.steam_id
                .map_or_else(|| i.player_id.clone(), |s| s.to_string())
        })
        .unwrap_or_default();
    let player_name = match (name.is_empty(), identity) {
        (true, Some(i)) => i.name.clone(),
        _ => name.to_string(),
    };
    let avatar_url = identity
        .and_then(|i| i.avatar_url.clone())
        .filter(|u| u.starts_with("https://"))
        .unwrap_or_default();
    HostProfile {
        steam_id,
        player_name,
        avatar_url,
    }
}

/// Opens a room: this game becomes the listen server and pilot 1.
///
/// `options` must not be NULL (start from `pw_host_options_default`); its
/// strings are only read during the call. On `PW_RESULT_OK` `*out` receives
/// a new handle that the caller owns and must release with
/// `pw_session_free`; on failure `*out` is untouched. Fails with
/// `PW_RESULT_INVALID_ARGUMENT` (rates outside 10-240 Hz, pilots outside
/// 1-6, spectators outside 0-15), `PW_RESULT_ADDRESS_INVALID` or
/// `PW_RESULT_BIND_FAILED` (the OS error is in `pw_last_error`).
///
/// Any thread. Does not block: it binds a socket and starts the network
/// threads, then returns. The first call also installs the log capture
/// (see `pw_log_read`).
///
/// # Safety
/// `options` must be NULL or point to a readable `PwHostOptions` whose
/// strings are valid as `PwStr` describes; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_host(
    options: *const PwHostOptions,
    out: *mut *mut PwSession,
) -> PwResult {
    ffi_boundary!({
        let options = arg::input(options, "options")?;
        let out = arg::out(out, "out")?;
        super::log::install();
        // SAFETY: `options` is non-NULL and aligned; readable per the contract.
        let plan = unsafe { options::host_config(options) }?;
        let mut cfg = plan.cfg;
        let local = super::identity::local();
        let identity = local.map(|l| l.identity());
        if let Some(i) = identity.as_ref().filter(|i| i.verified) {
            cfg.steam_id = i.steam_id;
        }
        let verifier = local.map(|l| l.verifier());
        if cfg.require_verified && !matches!(verifier, Some(Ok(_))) {
            return Err(Error::invalid(
                "`options.require_verified` needs this host to check Steam tickets: start \
                 the identity with Steam first (pw_identity_start)",
            ));
        }
        let profile = host_profile(&cfg.name, identity.as_ref());
        let lobby = match plan.lobby {
            Some((lobby_cfg, text)) => Some((lobby_cfg, parse_listing(&text, profile.clone())?)),
            None => None,
        };
        let extras = HostExtras { verifier, lobby };
        let bind = plan.bind;
        // SAFETY: `out` is writable per the contract.
        unsafe {
            start(out, bind, profile, Tickets::default(), || {
                Session::host_with(bind, cfg, extras)
            })
        }
    })
}

/// Joins the room at `options->host_addr` as a pilot or spectator.
///
/// `options` must not be NULL (start from `pw_join_options_default`); its
/// strings are only read during the call. On `PW_RESULT_OK` `*out` receives
/// a new handle that the caller owns and must release with
/// `pw_session_free`; on failure `*out` is untouched. The session starts
/// CONNECTING: poll events for `PW_EVENT_KIND_WELCOMED` or
/// `PW_EVENT_KIND_REFUSED`. Fails with `PW_RESULT_INVALID_ARGUMENT`
/// (`send_hz` outside 10-240, unknown role, a `maps_dir` that is not an
/// existing folder, a `track_cache_dir` that cannot be created or is given
/// without `maps_dir`), `PW_RESULT_ADDRESS_INVALID` or
/// `PW_RESULT_BIND_FAILED`.
///
/// With `maps_dir`, the room's custom track is found or downloaded on the
/// network thread (see `PwJoinOptions.maps_dir`); progress and the outcome
/// arrive as `PW_EVENT_KIND_TRACK_*` events.
///
/// Any thread. Does not block: it checks the folders, binds a socket,
/// starts the network threads and returns; the handshake happens in the
/// background.
///
/// # Safety
/// `options` must be NULL or point to a readable `PwJoinOptions` whose
/// strings are valid as `PwStr` describes; `out` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_join(
    options: *const PwJoinOptions,
    out: *mut *mut PwSession,
) -> PwResult {
    ffi_boundary!({
        let options = arg::input(options, "options")?;
        let out = arg::out(out, "out")?;
        super::log::install();
        // SAFETY: `options` is non-NULL and aligned; readable per the contract.
        let plan = unsafe { options::join_config(options) }?;
        let mut cfg = plan.cfg;
        // With Steam, the hello carries our Steam id and a fresh ticket the
        // host checks with Steam before seating us, minted for the Steam id
        // the host's challenge names so no other host can use it.
        let tickets = Tickets::default();
        if let Some(local) = super::identity::local() {
            let i = local.identity();
            if let (true, Some(id)) = (i.verified, i.steam_id) {
                cfg.steam_id = Some(id);
                let minted = Arc::clone(&tickets);
                cfg.steam_ticket = Some(TicketMinter::new(move |host| {
                    let t = local.auth_ticket(host)?;
                    let mut minted = minted.lock();
                    if minted.0 {
                        // The session ended meanwhile: nobody will send it.
                        local.cancel_ticket(&t);
                        return None;
                    }
                    let bytes = t.bytes.clone();
                    minted.1.push(t);
                    Some(bytes)
                }));
            }
        }
        let (bind, target) = (plan.bind, plan.target);
        let open = move || match plan.listed {
            Some((lobby, id)) => Session::join_listed(bind, cfg, lobby, id, target),
            None => Session::join_with_target(bind, cfg, target),
        };
        // SAFETY: `out` is writable per the contract.
        unsafe { start(out, bind, HostProfile::default(), tickets, open) }
    })
}

/// Ends the session (a host closes the room, a client says goodbye) and
/// releases the handle. NULL is fine (nothing happens). Freeing a handle
/// twice is detected and ignored (the last error says so). After this, every
/// call with the handle returns `PW_RESULT_INVALID_HANDLE`; the handle's
/// small shell stays allocated on purpose so that this can be detected.
///
/// Never blocks on the network: it signals the network thread, which sends
/// its goodbye and ends on its own within about a second. Call it from the
/// thread that uses the session; if another thread is inside a call on the
/// handle at that moment, it waits for that call (which never blocks) to
/// return.
///
/// # Safety
/// `session` must be NULL or a handle returned by `pw_session_host` /
/// `pw_session_join` (freed or not).
#[no_mangle]
pub unsafe extern "C" fn pw_session_free(session: *mut PwSession) {
    let _ = ffi_boundary!({
        let Some(shell) = NonNull::new(session) else {
            return Ok(());
        };
        if !shell.as_ptr().is_aligned() {
            return Err(Error::new(
                PwResult::InvalidHandle,
                "pw_session_free: not a session handle",
            ));
        }
        // SAFETY: shells are never deallocated (caller passes a handle we made).
        let shell = unsafe { shell.as_ref() };
        if let Err(e) =
            shell
                .magic
                .compare_exchange(LIVE, DEAD, Ordering::AcqRel, Ordering::Acquire)
        {
            return Err(Error::new(
                PwResult::InvalidHandle,
                if e == DEAD {
                    "pw_session_free: the handle was already freed"
                } else {
                    "pw_session_free: not a session handle (wrong magic number)"
                },
            ));
        }
        // Only a call already past its magic check can hold the lock, and
        // calls never block: this waits microseconds at most.
        let live = shell.inner.lock().take();
        // Dropping the session signals its threads; it never joins them.
        drop(live);
        Ok(())
    });
}

/// Leaves the room (a host closes it for everyone). Returns at once; the
/// network thread says goodbye in the background, then a
/// `PW_EVENT_KIND_CLOSED` event arrives and `pw_session_info` reports
/// CLOSED. The handle stays valid until `pw_session_free`.
///
/// `session` must not be NULL. Game thread (one thread at a time per
/// handle; another thread's concurrent call gets `PW_RESULT_BUSY`). Never
/// blocks.
///
/// # Safety
/// `session` must be NULL or a handle returned by `pw_session_host` /
/// `pw_session_join` (freed or not).
#[no_mangle]
pub unsafe extern "C" fn pw_session_leave(session: *mut PwSession) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            live.session.leave();
            Ok(())
        })
    })
}

/// Where a session is in its life.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwSessionState {
    /// Joining, not yet seated.
    Connecting = 0,
    /// In the room (a host is from the start).
    Connected = 1,
    /// Over; see `close_reason`.
    Closed = 2,
}

/// Why a session ended, or why a player left.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwCloseReason {
    /// Not closed.
    None = 0,
    /// Left on purpose (for a host: closed the room).
    Left = 1,
    /// Nothing was heard for the timeout (or the host was never reached).
    TimedOut = 2,
    /// The host closed the room.
    RoomClosed = 3,
    /// The host refused the join (see the `PW_EVENT_KIND_REFUSED` event).
    Refused = 4,
}

impl From<CloseReason> for PwCloseReason {
    fn from(r: CloseReason) -> Self {
        match r {
            CloseReason::Left => PwCloseReason::Left,
            CloseReason::TimedOut => PwCloseReason::TimedOut,
            CloseReason::RoomClosed => PwCloseReason::RoomClosed,
            CloseReason::Refused => PwCloseReason::Refused,
        }
    }
}

/// A summary of a session, written by `pw_session_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PwSessionInfo {
    /// Connecting, connected or closed.
    pub state: PwSessionState,
    /// Why it closed (`PW_CLOSE_REASON_NONE` while not closed).
    pub close_reason: PwCloseReason,
    /// Our role (pilot until a joiner is seated).
    pub role: PwRole,
    /// Players seated, us included (0 while joining).
    pub player_count: u32,
    /// Our actor number (the host is 1; 0 while joining).
    pub actor: u32,
    /// The local UDP port the session is bound to.
    pub local_port: u16,
    /// True for the room's host.
    pub is_host: bool,
    /// True once `pw_session_host_time` is meaningful (always for a host).
    pub clock_synced: bool,
}

/// Writes a summary of the session into `*out`, as last published by the
/// network thread (membership changes show up within a few milliseconds).
///
/// `session` and `out` must not be NULL; the caller owns `*out`. Game
/// thread; never blocks, never allocates.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `out` must be NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_info(
    session: *mut PwSession,
    out: *mut PwSessionInfo,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let out = arg::out(out, "out")?;
            let s = &mut live.session;
            let snap = s.snapshot();
            let (state, close_reason) = match snap.state {
                SessionState::Connecting => (PwSessionState::Connecting, PwCloseReason::None),
                SessionState::Connected => (PwSessionState::Connected, PwCloseReason::None),
                SessionState::Closed(r) => (PwSessionState::Closed, r.into()),
            };
            // SAFETY: `out` is writable (caller).
            unsafe {
                out.write(PwSessionInfo {
                    state,
                    close_reason,
                    role: snap.role.into(),
                    player_count: u32::try_from(snap.players.len()).unwrap_or(u32::MAX),
                    actor: snap.actor,
                    local_port: s.local_addr().port(),
                    is_host: s.is_host(),
                    clock_synced: s.clock_synced(),
                });
            }
            Ok(())
        })
    })
}

/// Queues our pilot's frame for this physics tick (copied; the caller keeps
/// `*frame`). The network thread sends it at the session's send rate.
/// Ticks count up and may wrap past 2^32; a tick pushed twice keeps the
/// first frame; a tick lower than the last (a race restart) starts a new
/// run, which the room follows at once.
///
/// `session` and `frame` must not be NULL. Returns `PW_RESULT_QUEUE_FULL`
/// if the network thread is 256 frames behind (the frame is dropped) and
/// `PW_RESULT_CLOSED` once the session is over. Game thread (FixedUpdate);
/// never blocks, never allocates.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `frame` must be
/// NULL or readable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_push_local(
    session: *mut PwSession,
    frame: *const PilotFrame,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let frame = arg::input(frame, "frame")?;
            // SAFETY: non-NULL, aligned, readable (caller); every bit
            // pattern is a valid frame (floats and integers only).
            let frame = unsafe { frame.as_ptr().read() };
            live.session.push_local(&frame).map_err(Error::from)
        })
    })
}

/// Copies read pilots into the caller's array.
///
/// # Safety
/// `out`/`out_count` valid as `out_slice` checks.
unsafe fn read_into(
    session: *mut PwSession,
    out: *mut PilotState,
    cap: usize,
    out_count: *mut usize,
    read: impl FnOnce(&mut Session, &mut [PilotState]) -> usize,
) -> Result<(), Error> {
    // SAFETY: `session` is NULL or a handle from this library (caller).
    let shell = unsafe { shell(session) }?;
    shell.with(|live| {
        let out = out_slice(out, cap, out_count, "out", "out_count")?;
        // Read into our own array first: the caller's memory may be
        // uninitialised, and its array is written only on success.
        let mut local = [PilotState::default(); PW_MAX_PILOTS];
        let n = read(&mut live.session, &mut local);
        // SAFETY: `out` and `out_count` are writable (caller).
        unsafe { out.write(&local[..n]) }
    })
}

/// Writes every remote pilot's newest frame into `out[0..cap)` and the
/// number written into `*out_count`.
///
/// `session` and `out_count` must not be NULL; `out` may be NULL only when
/// `cap` is 0. If more pilots are known than `cap` holds, nothing is written
/// to `out`, `*out_count` receives the number needed and the result is
/// `PW_RESULT_BUFFER_TOO_SMALL` (so `cap` 0 asks "how many?"); an array of
/// `PW_MAX_PILOTS` always suffices. The caller owns `out`. Game thread
/// (FixedUpdate); never blocks, never allocates.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `out` must be NULL
/// or writable for `cap` elements; `out_count` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_read_pilots(
    session: *mut PwSession,
    out: *mut PilotState,
    cap: usize,
    out_count: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: forwarded to the caller.
        unsafe { read_into(session, out, cap, out_count, |s, buf| s.read_pilots(buf)) }
    })
}

/// Like `pw_session_read_pilots`, but each remote pilot as at `delay_ms`
/// milliseconds ago on the host clock: interpolated between received frames
/// (or extrapolated for at most 100 ms when frames are late). A negative
/// `delay_ms` uses the default of two snapshot intervals; NaN or infinity is
/// `PW_RESULT_INVALID_ARGUMENT`.
///
/// Same buffer rules as `pw_session_read_pilots`. Game thread (Update);
/// never blocks, never allocates.
///
/// # Safety
/// As for `pw_session_read_pilots`.
#[no_mangle]
pub unsafe extern "C" fn pw_session_read_pilots_interpolated(
    session: *mut PwSession,
    delay_ms: f64,
    out: *mut PilotState,
    cap: usize,
    out_count: *mut usize,
) -> PwResult {
    ffi_boundary!({
        if !delay_ms.is_finite() {
            return Err(Error::invalid(format!(
                "delay_ms {delay_ms} is not a finite number (negative means the default)"
            )));
        }
        let delay = if delay_ms < 0.0 {
            None
        } else {
            Some(
                Duration::try_from_secs_f64(delay_ms / 1000.0)
                    .map_err(|_| Error::invalid(format!("delay_ms {delay_ms} is too large")))?,
            )
        };
        // SAFETY: forwarded to the caller.
        unsafe {
            read_into(session, out, cap, out_count, |s, buf| {
                s.read_pilots_interpolated(delay, buf)
            })
        }
    })
}

/// Spectators: receive `actor`'s frames at the full pilot rate (0 = stop
/// following). On a host it does nothing. The request is queued; an actor
/// that is not a seated pilot is refused by the network thread and reported
/// as `PW_EVENT_KIND_REQUEST_FAILED`.
///
/// `session` must not be NULL. Game thread; never blocks.
///
/// # Safety
/// `session` must be NULL or a handle from this library.
#[no_mangle]
pub unsafe extern "C" fn pw_session_follow(session: *mut PwSession, actor: u32) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            live.session
                .follow((actor != 0).then_some(actor))
                .map_err(Error::from)
        })
    })
}

/// Writes the host clock in seconds (like `PhotonNetwork.Time`) into
/// `*out_seconds`. The host's own clock is exact; a client's is an estimate
/// that is meaningful once `PwSessionInfo.clock_synced` is true.
///
/// `session` and `out_seconds` must not be NULL. Game thread; never blocks,
/// never allocates.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `out_seconds` must
/// be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_host_time(
    session: *mut PwSession,
    out_seconds: *mut f64,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let out = arg::out(out_seconds, "out_seconds")?;
            let t = live.session.host_time();
            // SAFETY: `out_seconds` is writable (caller).
            unsafe { out.write(t) };
            Ok(())
        })
    })
}

/// Link statistics of one peer, written by `pw_session_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PwPeerStats {
    /// The peer's actor number (0 while not yet welcomed).
    pub actor: u32,
    /// Pilot or spectator (`PW_ROLE_UNKNOWN` while not seated).
    pub role: PwRole,
    /// Round trip from pings, milliseconds (0 before the first answer).
    pub rtt_ms: f32,
    /// Fraction of our packets the peer did not acknowledge, 0 to 1.
    pub loss: f32,
    /// The newest tick received from this pilot (host side) or about it.
    pub last_tick: u32,
    /// Data packets sent.
    pub packets_sent: u64,
    /// Data packets received (duplicates excluded).
    pub packets_received: u64,
    /// Sent packets that were never acknowledged.
    pub packets_lost: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Inputs filled in from redundancy after their own packet was lost.
    pub inputs_recovered: u64,
}

impl From<&PeerStats> for PwPeerStats {
    fn from(s: &PeerStats) -> Self {
        PwPeerStats {
            actor: s.actor,
            role: s.role.map_or(PwRole::Unknown, PwRole::from),
            rtt_ms: s.rtt_ms,
            loss: s.loss,
            last_tick: s.last_tick,
            packets_sent: s.counters.packets_sent,
            packets_received: s.counters.packets_received,
            packets_lost: s.counters.packets_lost,
            bytes_sent: s.counters.bytes_sent,
            bytes_received: s.counters.bytes_received,
            inputs_recovered: s.inputs_recovered,
        }
    }
}

/// Writes link statistics into `out[0..cap)` and their number into
/// `*out_count`: one entry per peer on a host, one for the link to the host
/// on a client. Refreshed by the network thread every 100 ms.
///
/// `session` and `out_count` must not be NULL; `out` may be NULL only when
/// `cap` is 0. If there are more entries than `cap`, nothing is written to
/// `out`, `*out_count` receives the number needed and the result is
/// `PW_RESULT_BUFFER_TOO_SMALL`; an array of `PW_MAX_PEERS` always
/// suffices. The caller owns `out`. Game thread; never blocks, never
/// allocates.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `out` must be NULL
/// or writable for `cap` elements; `out_count` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_stats(
    session: *mut PwSession,
    out: *mut PwPeerStats,
    cap: usize,
    out_count: *mut usize,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let out = out_slice(out, cap, out_count, "out", "out_count")?;
            let mut raw = [PeerStats::default(); PW_MAX_PEERS];
            let n = live.session.stats(&mut raw);
            let mut flat = [PwPeerStats::from(&PeerStats::default()); PW_MAX_PEERS];
            for (f, s) in flat.iter_mut().zip(&raw[..n]) {
                *f = s.into();
            }
            // SAFETY: `out` and `out_count` are writable (caller).
            unsafe { out.write(&flat[..n]) }
        })
    })
}

/// The session's counters, written by `pw_session_counters`. A game that
/// sees `events_dropped` grow left more than 65,536 events (or 32 MiB of
/// them) unread and missed those.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PwSessionCounters {
    /// Datagrams the socket received.
    pub received: u64,
    /// Datagrams from strangers dropped before anything read them.
    pub dropped_strangers: u64,
    /// Datagrams dropped because the network thread was behind.
    pub dropped_full: u64,
    /// Frames pushed while the push queue was full.
    pub pushes_dropped: u64,
    /// Events waiting for `pw_session_poll_event` now.
    pub events_queued: u64,
    /// Events dropped because too many were left unread.
    pub events_dropped: u64,
    /// Lobby reports dropped likewise.
    pub lobby_events_dropped: u64,
    /// Datagrams dropped as malformed, from strangers, from the wrong
    /// address or over budget.
    pub rejected_datagrams: u64,
    /// Of those, packets from a peer's address that did not open (forged,
    /// damaged or replayed), and replayed hellos.
    pub unsealed_dropped: u64,
    /// Client: what the host sent beyond what a room holds, ignored.
    pub refused_from_host: u64,
    /// Host: events and property changes refused over their sender's budget.
    pub flood_refused: u64,
    /// Host: peers dropped for flooding the room.
    pub flooders_dropped: u64,
}

impl From<SessionCounters> for PwSessionCounters {
    fn from(c: SessionCounters) -> Self {
        PwSessionCounters {
            received: c.received,
            dropped_strangers: c.dropped_strangers,
            dropped_full: c.dropped_full,
            pushes_dropped: c.pushes_dropped,
            events_queued: c.events_queued,
            events_dropped: c.events_dropped,
            lobby_events_dropped: c.lobby_events_dropped,
            rejected_datagrams: c.rejected_datagrams,
            unsealed_dropped: c.unsealed_dropped,
            refused_from_host: c.refused_from_host,
            flood_refused: c.flood_refused,
            flooders_dropped: c.flooders_dropped,
        }
    }
}

/// Writes the session's counters into `*out` (the core's are refreshed
/// every 100 ms, the queues' at once).
///
/// `session` and `out` must not be NULL. Any thread that may use the
/// session; never blocks, never allocates.
///
/// # Safety
/// `session` must be NULL or a handle from this library; `out` must be
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_session_counters(
    session: *mut PwSession,
    out: *mut PwSessionCounters,
) -> PwResult {
    ffi_boundary!({
        // SAFETY: `session` is NULL or a handle from this library (caller).
        let shell = unsafe { shell(session) }?;
        shell.with(|live| {
            let out = arg::out(out, "out")?;
            let c = PwSessionCounters::from(live.session.counters());
            // SAFETY: `out` is writable (caller).
            unsafe { out.write(c) };
            Ok(())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaked_tombstone_stays_small() {
        // The header promises at most 64 bytes leaked per session.
        assert!(std::mem::size_of::<PwSession>() <= 64);
    }

    #[test]
    fn a_dead_or_foreign_shell_is_an_invalid_handle() {
        let dead = PwSession {
            magic: AtomicU64::new(DEAD),
            inner: Mutex::new(None),
        };
        let foreign = PwSession {
            magic: AtomicU64::new(42),
            inner: Mutex::new(None),
        };
        for (shell, why) in [(&dead, "freed"), (&foreign, "magic")] {
            let e = check_magic(shell).unwrap_err();
            assert_eq!(e.code(), PwResult::InvalidHandle);
            assert!(format!("{e:?}").contains(why));
        }
        // A shell whose magic still says live but whose session is gone
        // (freed while a call was in flight) is refused too.
        let gone = PwSession {
            magic: AtomicU64::new(LIVE),
            inner: Mutex::new(None),
        };
        let e = gone.with(|_| Ok(())).unwrap_err();
        assert_eq!(e.code(), PwResult::InvalidHandle);
    }

    #[test]
    fn a_handle_in_use_elsewhere_is_busy_at_once() {
        let shell = PwSession {
            magic: AtomicU64::new(LIVE),
            inner: Mutex::new(None),
        };
        let _held = shell.inner.lock();
        let started = std::time::Instant::now();
        let e = shell.with(|_| Ok(())).unwrap_err();
        assert_eq!(e.code(), PwResult::Busy);
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "must not wait"
        );
    }
}
