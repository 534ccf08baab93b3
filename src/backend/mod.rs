//! A stand-in for DRL Simulator's vanished backend (`api.drlgame.com`),
//! inside the game's own process: the plugin rewrites the game's requests
//! for that host to this responder on `127.0.0.1` (an ephemeral port, plain
//! HTTP: no certificate, no hosts file, no admin rights), and it answers
//! from the game's local files and the identity propwash already has.
//!
//! [`routes`] is the table of what is answered and why; [`content`] reads
//! the game's folder; the rest is a deliberately small HTTP/1.1 server: one
//! thread, one request per connection, every request bounded in size (16
//! KiB of head, 8 MiB of body) and time (5 s), every handler behind a
//! panic guard. It never blocks the game: the game's `UnityWebRequest`
//! waits for it asynchronously.

mod codec;
pub mod content;
mod http;
pub mod routes;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use content::GameFolder;
pub use http::Request;
pub use routes::{respond, Context, Facts, Response, Routes};

use crate::identity::IdentityError;

/// How long one request may take to arrive, in all.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// How long one read or write on a connection may stall.
const IO_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the stand-in could not start or answer.
#[derive(Debug)]
pub enum BackendError {
    /// The game folder is not one (see the identity's errors).
    Game(IdentityError),
    /// A file of the game could not be read or written.
    File {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
    /// The routes' overrides are not usable.
    Overrides(String),
    /// The listening socket could not be made.
    Bind(io::Error),
    /// The server thread could not be started.
    Thread(io::Error),
    /// A request asked for a track this game does not have.
    NoSuchTrack {
        /// The guid asked for.
        guid: String,
    },
    /// A request's body is not what its route reads.
    BadRequest(String),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Game(e) => write!(f, "{e}"),
            BackendError::File { path, error } => write!(f, "{}: {error}", path.display()),
            BackendError::Overrides(why) => write!(f, "the routes' overrides: {why}"),
            BackendError::Bind(e) => write!(f, "cannot listen on 127.0.0.1: {e}"),
            BackendError::Thread(e) => write!(f, "cannot start the backend thread: {e}"),
            BackendError::NoSuchTrack { guid } => {
                write!(f, "no track with guid {guid:?} in this game's maps")
            }
            BackendError::BadRequest(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for BackendError {}

/// How to run the stand-in.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// The game's install folder (holding `DRL Simulator_Data`) or its data
    /// folder.
    pub game_dir: PathBuf,
    /// The game's version, answered by the game-state route.
    pub game_version: String,
    /// The license answer when Steam cannot be asked (no Steam, offline
    /// identity). Default false: no bypass.
    pub offline_licensed: bool,
    /// Corrections to the routes table (see [`Routes::with_overrides`]);
    /// empty: none.
    pub overrides_json: String,
    /// Where to listen; default `127.0.0.1:0` (a free port).
    pub bind: SocketAddr,
}

impl BackendConfig {
    /// Defaults for the game at `game_dir`.
    pub fn new(game_dir: impl Into<PathBuf>, game_version: &str) -> BackendConfig {
        BackendConfig {
            game_dir: game_dir.into(),
            game_version: game_version.to_string(),
            offline_licensed: false,
            overrides_json: String::new(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

/// The running stand-in. Dropping it stops the server (within a moment)
/// and waits for its thread.
pub struct Backend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend").field("addr", &self.addr).finish()
    }
}

struct Shared {
    routes: Routes,
    game: GameFolder,
    facts: Arc<dyn Facts>,
    game_version: String,
    token: String,
    offline_licensed: bool,
}

impl Backend {
    /// Checks the game folder and the overrides, listens, and starts the
    /// server thread. Returns at once.
    pub fn start(config: &BackendConfig, facts: Arc<dyn Facts>) -> Result<Backend, BackendError> {
        let game = GameFolder::open(&config.game_dir)?;
        let routes =
            Routes::with_overrides(&config.overrides_json).map_err(BackendError::Overrides)?;
        let listener = TcpListener::bind(config.bind).map_err(BackendError::Bind)?;
        let addr = listener.local_addr().map_err(BackendError::Bind)?;
        let shared = Shared {
            routes,
            game,
            facts,
            game_version: config.game_version.clone(),
            token: token(),
            offline_licensed: config.offline_licensed,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let (stop2, served2) = (stop.clone(), served.clone());
        let thread = std::thread::Builder::new()
            .name("propwash-backend".into())
            .spawn(move || serve(listener, shared, &stop2, &served2))
            .map_err(BackendError::Thread)?;
        tracing::info!(
            "backend: answering the game's backend requests on http://{addr} from {}",
            config.game_dir.display()
        );
        Ok(Backend {
            addr,
            stop,
            served,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far (any route, or none).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops the server and waits for its thread (at most the few seconds
    /// a request in progress may take).
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept call; the thread sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.shut();
    }
}

/// The server thread: one connection at a time, each answered and closed.
fn serve(listener: TcpListener, shared: Shared, stop: &AtomicBool, served: &AtomicU64) {
    let ctx = Context {
        game: &shared.game,
        facts: shared.facts.as_ref(),
        game_version: &shared.game_version,
        token: &shared.token,
        offline_licensed: shared.offline_licensed,
    };
    let mut accept_errors = 0u32;
    while !stop.load(Ordering::Acquire) {
        let stream = match listener.accept() {
            Ok((s, _)) => {
                accept_errors = 0;
                s
            }
            Err(e) => {
                // Out of descriptors and the like: back off, never spin.
                accept_errors = accept_errors.saturating_add(1);
                if accept_errors == 1 {
                    tracing::warn!("backend: accept failed: {e}");
                }
                std::thread::sleep(Duration::from_millis(50 * u64::from(accept_errors.min(20))));
                continue;
            }
        };
        if stop.load(Ordering::Acquire) {
            break;
        }
        let result = catch_unwind(AssertUnwindSafe(|| handle(stream, &shared.routes, &ctx)));
        match result {
            Ok(true) => {
                served.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(_) => {
                tracing::error!("backend: a request handler panicked; the request got no answer")
            }
        }
    }
    tracing::info!("backend: stopped");
}

/// Reads one request, answers it; true when answered.
fn handle(mut stream: TcpStream, routes: &Routes, ctx: &Context<'_>) -> bool {
    // Only this machine may ask (the listener is on loopback; checked anyway).
    if !stream.peer_addr().is_ok_and(|a| a.ip().is_loopback()) {
        return false;
    }
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let req = match http::read_request(&mut stream, Instant::now() + REQUEST_DEADLINE) {
        Ok(r) => r,
        Err(http::HttpError::Closed) => return false, // a probe, or our own wake-up
        Err(e) => {
            tracing::warn!("backend: refused a request: {e}");
            let status = if matches!(e, http::HttpError::TooLarge { .. }) {
                413
            } else {
                400
            };
            let body = serde_json::json!({"success": false, "message": format!("propwash: {e}")});
            let _ = http::write_response(
                &mut stream,
                status,
                "application/json",
                body.to_string().as_bytes(),
            );
            return false;
        }
    };
    let answer = respond(routes, &req, ctx);
    match http::write_response(
        &mut stream,
        answer.status,
        "application/json; charset=utf-8",
        answer.body.as_bytes(),
    ) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("backend: could not answer {} {}: {e}", req.method, req.path);
            false
        }
    }
}

/// A random token for the login answer (nothing checks it; the game may
/// send it back).
fn token() -> String {
    let mut b = [0u8; 24];
    if getrandom::getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b[..16].copy_from_slice(&t.to_le_bytes());
    }
    codec::base64_encode(&b)
}

/// The game folder's data folder, for callers that want to say which one
/// was used.
pub fn data_dir(game_dir: &Path) -> Result<PathBuf, BackendError> {
    crate::identity::player_state::data_dir(game_dir).map_err(BackendError::Game)
}
