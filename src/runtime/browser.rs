//! The lobby list before joining: a small socket and thread of its own
//! that asks the coordinator for pages of rooms. Joining a room it found is
//! [`super::Session::join_listed`]'s job, on the game socket, because the
//! NAT path must be punched from the socket that will carry the game.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::RuntimeError;
use crate::lobby::{family, ListQuery, LobbyClient, LobbyConfig, LobbyEvent};

/// Longest the browser thread sleeps between looks at the game's requests
/// (a query waits at most this long to go out; 200 wakeups a second cost
/// little while a menu is open).
const BROWSER_WAKE: Duration = Duration::from_millis(5);
/// Queries the game may queue ahead of the browser thread.
const QUERY_QUEUE: usize = 64;

/// Browses a coordinator's lobby list. Every method returns at once;
/// answers are polled. Dropping it stops its thread.
pub struct LobbyBrowser {
    queries: Sender<(u32, ListQuery)>,
    answers: Receiver<LobbyEvent>,
    next_id: AtomicU32,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LobbyBrowser {
    /// Opens a socket on `bind` (port 0: any) for talking to the
    /// coordinator of `cfg`; queries show only rooms of `cfg.game_version`
    /// and this protocol.
    pub fn open(bind: SocketAddr, cfg: LobbyConfig) -> io::Result<LobbyBrowser> {
        let socket = UdpSocket::bind(bind)?;
        socket.set_read_timeout(Some(BROWSER_WAKE))?;
        let (queries, queries_rx) = crossbeam_channel::bounded(QUERY_QUEUE);
        let (answers_tx, answers) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("propwash-lobby".into())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    browse(socket, cfg, queries_rx, answers_tx, thread_stop)
                }));
                if outcome.is_err() {
                    tracing::error!("the lobby browser thread failed");
                }
            })
            .map_err(super::thread_failed)?;
        Ok(LobbyBrowser {
            queries,
            answers,
            next_id: AtomicU32::new(0),
            stop,
            thread: Some(thread),
        })
    }

    /// Asks for a page of rooms. Returns the request's id; the answer comes
    /// from [`LobbyBrowser::poll`] as [`LobbyEvent::ListResult`] or
    /// [`LobbyEvent::ListFailed`] with that id (the coordinator's own
    /// request numbers never show).
    pub fn list(&self, query: ListQuery) -> Result<u32, RuntimeError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        match self.queries.try_send((id, query)) {
            Ok(()) => Ok(id),
            Err(TrySendError::Full(_)) => Err(RuntimeError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(RuntimeError::Closed),
        }
    }

    /// The next answer, if one arrived. Never blocks.
    pub fn poll(&self) -> Option<LobbyEvent> {
        self.answers.try_recv().ok()
    }

    /// Stops the thread and waits for it (at most about 5 ms); for tools
    /// and tests.
    pub fn close_and_wait(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LobbyBrowser {
    fn drop(&mut self) {
        // Never join here: the game thread may be the one dropping.
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn browse(
    socket: UdpSocket,
    cfg: LobbyConfig,
    queries: Receiver<(u32, ListQuery)>,
    answers: Sender<LobbyEvent>,
    stop: Arc<AtomicBool>,
) {
    let mut lobby = LobbyClient::new(cfg);
    // (coordinator's request id, the game's request id)
    let mut ids: Vec<(u32, u32)> = Vec::new();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while let Ok((ours, query)) = queries.try_recv() {
            ids.push((lobby.list(now, query), ours));
        }
        if lobby.poll_timeout().is_some_and(|t| now >= t) {
            lobby.handle_timeout(now);
        }
        while let Some(t) = lobby.poll_transmit() {
            if let Err(e) = socket.send_to(&t.bytes, t.to) {
                tracing::debug!(to = %t.to, "lobby query not sent: {e}");
            }
        }
        while let Some(mut ev) = lobby.poll_event() {
            let (LobbyEvent::ListResult { request_id, .. }
            | LobbyEvent::ListFailed { request_id, .. }) = &mut ev
            else {
                continue;
            };
            let Some(i) = ids.iter().position(|(theirs, _)| theirs == request_id) else {
                continue;
            };
            *request_id = ids.swap_remove(i).1;
            if answers.send(ev).is_err() {
                return;
            }
        }
        // The read timeout paces the loop: BROWSER_WAKE at most.
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if family(&buf[..n]).is_some() => {
                if let Err(e) = lobby.handle_datagram(Instant::now(), from, &buf[..n]) {
                    tracing::trace!(%from, "dropped lobby datagram: {e}");
                }
            }
            Ok(_) | Err(_) => {}
        }
    }
}
