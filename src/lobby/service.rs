//! The coordinator program's driver: one thread runs the sans-IO
//! [`Coordinator`] on a std UDP socket bound to one explicit address (a
//! multi-homed box bound to 0.0.0.0 answers from the wrong source and NATs
//! drop the answer: see the NAT lab in DESIGN.md); another runs the HTTP
//! side on a single-threaded tokio runtime that nothing else in the crate
//! uses. Both share the core behind a mutex held for microseconds.
//!
//! HTTP: `GET /api/sessions` (JSON, the lobby query's filters as query
//! parameters), `GET /healthz`, `GET /metrics` (Prometheus text), and
//! `GET /` (a small server browser). Malformed requests get a 4xx from
//! hyper or from the handlers; header reads time out; connections are
//! capped.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;

use super::record::ListQuery;
use super::server::{Coordinator, CoordinatorConfig, Metrics};
use super::LobbyError;

/// Where and how the coordinator program serves.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The UDP address (one explicit IP; 0.0.0.0 and :: are refused).
    pub udp: SocketAddr,
    /// The HTTP address, if any.
    pub http: Option<SocketAddr>,
    /// The core's knobs. A zero secret is replaced by a random one.
    pub coordinator: CoordinatorConfig,
}

/// Concurrent HTTP connections at most.
const MAX_HTTP_CONNECTIONS: usize = 256;
/// Time a client has to send its request headers.
const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one HTTP connection.
const HTTP_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Longest wait in one receive, so the thread sees `stop` and runs timers.
const UDP_WAIT: Duration = Duration::from_millis(50);

type Shared = Arc<Mutex<Coordinator>>;

/// A running coordinator. Dropping it stops it.
pub struct Service {
    udp_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    core: Shared,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Service {
    /// Binds both sockets and starts the threads. Fails at once when an
    /// address is unusable (unspecified UDP address, port taken...).
    pub fn start(mut cfg: ServiceConfig) -> io::Result<Service> {
        if cfg.udp.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to bind the coordinator's UDP socket to {}: bind one explicit address \
                     (a multi-homed host answers from the wrong source and NATs drop the answer)",
                    cfg.udp
                ),
            ));
        }
        if cfg.coordinator.secret == [0; 32] {
            cfg.coordinator.secret = random_secret();
        }
        let socket = UdpSocket::bind(cfg.udp)?;
        socket.set_read_timeout(Some(UDP_WAIT))?;
        let udp_addr = socket.local_addr()?;
        let core: Shared = Arc::new(Mutex::new(Coordinator::new(
            cfg.coordinator,
            Instant::now(),
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let (c, s) = (core.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("coordinator-udp".into())
                .spawn(move || udp_loop(socket, c, s))?,
        );
        let mut http_addr = None;
        if let Some(addr) = cfg.http {
            let listener = TcpListener::bind(addr)?;
            listener.set_nonblocking(true)?;
            http_addr = Some(listener.local_addr()?);
            let (c, s) = (core.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("coordinator-http".into())
                    .spawn(move || {
                        if let Err(e) = http_main(listener, c, s) {
                            tracing::error!("HTTP side stopped: {e}");
                        }
                    })?,
            );
        }
        Ok(Service {
            udp_addr,
            http_addr,
            core,
            stop,
            threads,
        })
    }

    /// The UDP address hosts and joiners talk to.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The HTTP address, if serving.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The core's counters now.
    pub fn metrics(&self) -> Metrics {
        self.core.lock().metrics().clone()
    }

    /// Rooms listed now.
    pub fn session_count(&self) -> usize {
        self.core.lock().session_count()
    }

    /// Runs `f` on the core (tests and the benchmark look inside).
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Coordinator) -> R) -> R {
        f(&mut self.core.lock())
    }

    /// True while every thread runs.
    pub fn is_running(&self) -> bool {
        self.threads.iter().all(|t| !t.is_finished())
    }

    /// Stops the threads and waits for them (within ~100 ms).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn udp_loop(socket: UdpSocket, core: Shared, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 2048];
    let mut out = Vec::new();
    // The read timeout (set once) bounds how late timers run: 50 ms is
    // nothing next to heartbeat periods and relay budgets.
    while !stop.load(Ordering::Relaxed) {
        let got = socket.recv_from(&mut buf);
        let now = Instant::now();
        {
            let mut c = core.lock();
            if let Ok((n, from)) = got {
                match c.handle_datagram(now, from, &buf[..n]) {
                    Ok(()) => {}
                    Err(LobbyError::NotLobby) => tracing::trace!(%from, "not a lobby datagram"),
                    Err(e) => tracing::debug!(%from, "datagram not accepted: {e}"),
                }
            }
            if c.poll_timeout().is_some_and(|t| t <= now) {
                let before = c.session_count();
                c.handle_timeout(now);
                let gone = before.saturating_sub(c.session_count());
                if gone > 0 {
                    tracing::info!(gone, listed = c.session_count(), "rooms expired");
                }
            }
            while let Some(t) = c.poll_transmit() {
                out.push(t);
            }
        }
        for t in out.drain(..) {
            if let Err(e) = socket.send_to(&t.bytes, t.to) {
                tracing::debug!(to = %t.to, "send failed: {e}");
            }
        }
    }
}

fn http_main(listener: TcpListener, core: Shared, stop: Arc<AtomicBool>) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let app = router(core);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HTTP_CONNECTIONS));
        while !stop.load(Ordering::Relaxed) {
            let accepted =
                tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
            let Ok(Ok((stream, _peer))) = accepted else {
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                // Full: close at once rather than queue.
                drop(stream);
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let mut b = hyper::server::conn::http1::Builder::new();
                b.timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HTTP_HEADER_TIMEOUT)
                    .max_buf_size(16 * 1024);
                let conn = b.serve_connection(io, service);
                let _ = tokio::time::timeout(HTTP_CONNECTION_LIFETIME, conn).await;
                drop(permit);
            });
        }
        Ok(())
    })
}

/// The HTTP routes over a shared core (public for tests that serve it
/// their own way).
fn router(core: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/sessions", get(sessions))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(core)
}

async fn index() -> Html<&'static str> {
    Html(include_str!("browser.html"))
}

async fn healthz(State(core): State<Shared>) -> Response {
    let n = core.lock().session_count();
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"status\":\"ok\",\"sessions\":{n}}}"),
    )
        .into_response()
}

async fn metrics(State(core): State<Shared>) -> Response {
    let text = core.lock().prometheus();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn sessions(
    State(core): State<Shared>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    match query {
        Ok(Query(q)) => {
            let body = core.lock().query_json(&q);
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e.body_text()),
    }
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such page")
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A key for cookies and ids from the OS's randomness (std's hasher seeds),
/// mixed through SHA-256 with the time and the process id.
fn random_secret() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    use std::hash::{BuildHasher, Hasher};
    let mut h = Sha256::new();
    for i in 0..4u64 {
        let mut s = std::collections::hash_map::RandomState::new().build_hasher();
        s.write_u64(i);
        h.update(s.finish().to_be_bytes());
    }
    h.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
    h.finalize().into()
}
