//! The seam under laminar: our own [`DatagramSocket`].
//!
//! A reader thread blocks on the UDP socket and sorts what arrives: datagrams
//! from addresses the session already talks to go to the priority queue;
//! from anyone else only hellos pass, at a bounded rate, into a small
//! separate queue; everything else is dropped. The driver thread wakes on
//! either queue and sorts again: handshakes (hello, challenge, refuse; plain
//! UDP with our magic) go straight to the core, everything else to laminar
//! through [`ChannelSocket`]'s stash. laminar therefore only ever sees seated
//! peers, which closes its "first packet creates a connection" hole: a flood
//! of spoofed sources costs the reader a few comparisons per datagram and
//! never delays a seated pilot's frames.
//!
//! Lobby traffic (coordinator messages, NAT punches, relay frames; see
//! [`crate::lobby::wire`]) shares the game socket, because the coordinator
//! must see the socket's public endpoint and punches must open the same
//! NAT mapping the game uses. From strangers it passes the same rate limit
//! as hellos; the driver hands it to the session's [`LobbyClient`], which
//! lives in [`ChannelSocket`] so that every datagram to a relayed peer,
//! laminar's included, is wrapped for the relay on its way out.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use laminar::DatagramSocket;
use parking_lot::RwLock;

use crate::lobby::{family, LobbyClient};
use crate::proto::wire::{packet_kind, PacketKind};

/// Datagrams the driver takes from the queues in one round.
pub(crate) const RECEIVE_BUDGET: usize = 256;
/// Hello-shaped datagrams from strangers admitted per second.
const STRANGER_RATE: f64 = 500.0;
const PRIORITY_QUEUE: usize = 4096;
const STRANGER_QUEUE: usize = 256;

/// One received datagram.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) data: Vec<u8>,
    pub(crate) from: SocketAddr,
}

/// What the reader thread counted.
#[derive(Debug, Default)]
pub(crate) struct ReaderCounters {
    pub(crate) received: AtomicU64,
    pub(crate) dropped_strangers: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
}

/// Who the reader lets through without the stranger filter.
pub(crate) type KnownPeers = Arc<RwLock<HashSet<SocketAddr>>>;

/// True for a propwash hello handshake.
fn looks_like_hello(d: &[u8]) -> bool {
    packet_kind(d) == Ok(PacketKind::Hello)
}

/// True for what a stranger may send: a hello (to a host) or lobby traffic
/// (a punch from a peer being introduced, to anyone).
fn stranger_may_send(d: &[u8], accept_hellos: bool) -> bool {
    (accept_hellos && looks_like_hello(d)) || family(d).is_some()
}

pub(crate) struct ReaderThread {
    pub(crate) handle: JoinHandle<()>,
}

/// Starts the reader. `accept_hellos` is true for a host.
pub(crate) fn spawn_reader(
    socket: UdpSocket,
    known: KnownPeers,
    accept_hellos: bool,
    priority: Sender<Inbound>,
    strangers: Sender<Inbound>,
    stop: Arc<AtomicBool>,
    counters: Arc<ReaderCounters>,
) -> io::Result<ReaderThread> {
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let handle = std::thread::Builder::new()
        .name("propwash-reader".into())
        .spawn(move || {
            let mut buf = [0u8; 2048];
            let mut tokens = STRANGER_RATE;
            let mut refill_at = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let (n, from) = match socket.recv_from(&mut buf) {
                    Ok(x) => x,
                    // Timeouts let us see `stop`; Windows reports ICMP
                    // unreachable as a reset on UDP, which is not fatal.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => continue,
                };
                counters.received.fetch_add(1, Ordering::Relaxed);
                let data = &buf[..n];
                let target = if known.read().contains(&from) {
                    &priority
                } else if stranger_may_send(data, accept_hellos) {
                    let now = Instant::now();
                    tokens = (tokens + now.duration_since(refill_at).as_secs_f64() * STRANGER_RATE)
                        .min(STRANGER_RATE);
                    refill_at = now;
                    if tokens < 1.0 {
                        counters.dropped_strangers.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    tokens -= 1.0;
                    &strangers
                } else {
                    counters.dropped_strangers.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                match target.try_send(Inbound {
                    data: data.to_vec(),
                    from,
                }) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        counters.dropped_full.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                }
            }
        })
        .map_err(super::thread_failed)?;
    Ok(ReaderThread { handle })
}

/// One queue between reader and driver.
pub(crate) type Queue = (Sender<Inbound>, Receiver<Inbound>);

/// Creates the priority and stranger queues between reader and driver.
pub(crate) fn queues() -> (Queue, Queue) {
    (
        crossbeam_channel::bounded(PRIORITY_QUEUE),
        crossbeam_channel::bounded(STRANGER_QUEUE),
    )
}

/// laminar's view of the socket: sends go straight out (or through the
/// coordinator's relay, for a relayed peer), receives come from what the
/// driver stashed after sorting the reader's queues.
#[derive(Debug)]
pub(crate) struct ChannelSocket {
    socket: UdpSocket,
    local: SocketAddr,
    stash: VecDeque<Inbound>,
    /// The session's lobby side, when a coordinator is configured.
    pub(crate) lobby: Option<LobbyClient>,
    /// The socket's usual IP TTL, restored after a low-TTL NAT opener.
    default_ttl: u32,
    wrap_buf: Vec<u8>,
}

impl ChannelSocket {
    pub(crate) fn new(socket: UdpSocket, lobby: Option<LobbyClient>) -> io::Result<Self> {
        let local = socket.local_addr()?;
        let default_ttl = socket.ttl().unwrap_or(64);
        Ok(ChannelSocket {
            socket,
            local,
            stash: VecDeque::new(),
            lobby,
            default_ttl,
            wrap_buf: vec![0; 2048],
        })
    }

    /// Sends `data` to `to`: through the relay when the lobby routes that
    /// peer there, straight otherwise.
    fn send_to_peer(&mut self, to: SocketAddr, data: &[u8]) -> io::Result<usize> {
        if let Some(lobby) = &self.lobby {
            if lobby.is_relayed(to) {
                let Some((via, n)) = lobby.wrap_relayed(to, data, &mut self.wrap_buf) else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "datagram too large for a relay frame",
                    ));
                };
                self.socket.send_to(&self.wrap_buf[..n], via)?;
                return Ok(data.len());
            }
        }
        self.socket.send_to(data, to)
    }

    /// Sends everything the lobby client has queued, honouring the low TTL
    /// of NAT openers.
    pub(crate) fn flush_lobby(&mut self) {
        let Some(lobby) = self.lobby.as_mut() else {
            return;
        };
        while let Some(t) = lobby.poll_transmit() {
            let sent = match t.ttl {
                Some(ttl) => {
                    let r = self
                        .socket
                        .set_ttl(ttl)
                        .and_then(|()| self.socket.send_to(&t.bytes, t.to));
                    if let Err(e) = self.socket.set_ttl(self.default_ttl) {
                        tracing::warn!("could not restore the socket's TTL: {e}");
                    }
                    r
                }
                None => self.socket.send_to(&t.bytes, t.to),
            };
            if let Err(e) = sent {
                tracing::debug!(to = %t.to, "lobby datagram not sent: {e}");
            }
        }
    }

    /// Hands back a datagram the driver took while waiting.
    pub(crate) fn stash(&mut self, d: Inbound) {
        self.stash.push_back(d);
    }

    /// Sends a datagram that is not laminar's (a handshake).
    pub(crate) fn send_raw(&mut self, to: SocketAddr, data: &[u8]) -> io::Result<usize> {
        self.send_to_peer(to, data)
    }
}

impl DatagramSocket for ChannelSocket {
    fn send_packet(&mut self, addr: &SocketAddr, payload: &[u8]) -> io::Result<usize> {
        self.send_to_peer(*addr, payload)
    }

    fn receive_packet<'a>(&mut self, buffer: &'a mut [u8]) -> io::Result<(&'a [u8], SocketAddr)> {
        let Some(d) = self.stash.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = d.data.len().min(buffer.len());
        buffer[..n].copy_from_slice(&d.data[..n]);
        Ok((&buffer[..n], d.from))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn is_blocking_mode(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_shape_is_recognised_and_everything_else_is_not() {
        let mut d = b"PWSH".to_vec();
        d.push(PacketKind::Hello as u8);
        d.extend_from_slice(&[0; 10]);
        assert!(looks_like_hello(&d));
        let mut challenge = d.clone();
        challenge[4] = PacketKind::Challenge as u8;
        assert!(!looks_like_hello(&challenge));
        assert!(!looks_like_hello(&[PacketKind::Data as u8, 0, 0]));
        assert!(!looks_like_hello(b"PWS"));
        assert!(stranger_may_send(&d, true));
        assert!(!stranger_may_send(&d, false));
        assert!(!stranger_may_send(&challenge, true));
        assert!(stranger_may_send(b"PWPU and the rest", false));
        assert!(stranger_may_send(b"PWCO and the rest", false));
    }
}
