//! The seam under laminar: our own [`DatagramSocket`], and the network
//! thread's receiving side of the same UDP socket.
//!
//! The network thread reads the socket itself ([`Intake`]): there is no
//! reader thread and no queue between two threads, so a datagram costs one
//! wake-up of one thread, not two. What arrives is sorted before anything
//! else looks at it: datagrams from addresses the session already talks to
//! pass; from anyone else only hellos and lobby traffic pass, at a bounded
//! rate; everything else is dropped after a few comparisons. The driver
//! then sends handshakes (hello, challenge, refuse; plain UDP with our
//! magic) straight to the core and everything else to laminar through
//! [`ChannelSocket`]'s stash. laminar therefore only ever sees seated
//! peers, which closes its "first packet creates a connection" hole, and a
//! flood of spoofed sources is dropped in bounded rounds that never hold
//! up a seated pilot's frames for long.
//!
//! Other threads (the game's, a track hasher) wake the network thread with
//! a [`Waker`]: one byte to the game socket from a socket of the session's
//! own, recognised by its source address. Only the first push after a pause
//! and the game's rare requests do that; a flying pilot's pushes are taken
//! at the thread's send slots without any wake-up.
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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use laminar::DatagramSocket;

use crate::lobby::{family, LobbyClient};
use crate::proto::wire::{packet_kind, PacketKind};

/// Datagrams the driver takes from the socket in one round.
pub(crate) const RECEIVE_BUDGET: usize = 256;
/// Hello-shaped datagrams from strangers admitted per second.
const STRANGER_RATE: f64 = 500.0;
/// The socket's receive buffer we ask for: room for a few rounds of a
/// full room's traffic, and for a track download's bursts, while the
/// network thread is busy (the system may grant less).
const RECEIVE_BUFFER: usize = 1 << 20;
/// The largest datagram we read; longer ones are cut (and then fail to
/// open or parse, and are counted there).
pub(crate) const MAX_DATAGRAM: usize = 2048;
/// What a [`Waker`] sends.
const WAKE: [u8; 1] = [0];

/// What the network thread counted at the socket.
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    pub(crate) received: AtomicU64,
    pub(crate) dropped_strangers: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
}

/// True for a propwash hello handshake.
fn looks_like_hello(d: &[u8]) -> bool {
    packet_kind(d) == Ok(PacketKind::Hello)
}

/// True for what a stranger may send: a hello (to a host) or lobby traffic
/// (a punch from a peer being introduced, to anyone).
fn stranger_may_send(d: &[u8], accept_hellos: bool) -> bool {
    (accept_hellos && looks_like_hello(d)) || family(d).is_some()
}

/// Wakes the network thread from any other thread. At most one wake-up is
/// in flight: a call while one is pending costs one atomic swap.
#[derive(Debug)]
pub(crate) struct Waker {
    socket: UdpSocket,
    to: SocketAddr,
    pending: AtomicBool,
}

impl Waker {
    /// A waker for the game socket bound at `target`.
    pub(crate) fn new(target: SocketAddr) -> io::Result<Waker> {
        // A socket bound to every address is reached over loopback; one
        // bound to a single address, at that address.
        let ip = match target.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let to = SocketAddr::new(ip, target.port());
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
        Ok(Waker {
            socket,
            to,
            pending: AtomicBool::new(false),
        })
    }

    /// The address wake-ups come from.
    pub(crate) fn source(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Wakes the network thread (if no wake-up is pending already).
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.socket.send_to(&WAKE, self.to) {
                // Then the thread finds the work at its next deadline
                // (within its idle wake).
                self.pending.store(false, Ordering::Release);
                tracing::debug!("could not wake the network thread: {e}");
            }
        }
    }

    /// Called by the network thread before it looks for work: a request
    /// made after this wakes it again.
    pub(crate) fn rearm(&self) {
        self.pending.store(false, Ordering::SeqCst);
    }
}

/// What [`Intake::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A datagram that passed the filter, in the caller's buffer.
    Datagram { len: usize, from: SocketAddr },
    /// A datagram the filter dropped, a wake-up, or a receive error
    /// (Windows reports ICMP unreachable as one): look again.
    Skipped,
    /// Nothing there (or nothing within the wait).
    Empty,
}

/// The network thread's receiving side of the game socket, with the filter
/// in front of everything else.
#[derive(Debug)]
pub(crate) struct Intake {
    socket: UdpSocket,
    /// Who passes without the stranger filter (a host's peers, a joiner's
    /// host, the coordinator).
    pub(crate) known: HashSet<SocketAddr>,
    accept_hellos: bool,
    tokens: f64,
    refill_at: Instant,
    wake_from: SocketAddr,
    counters: Arc<TransportCounters>,
    /// The read timeout set on the socket, to set it only when it changes.
    timeout: Option<Duration>,
    nonblocking: bool,
}

impl Intake {
    /// `socket` is a handle to the game socket; `accept_hellos` is true for
    /// a host; wake-ups come from `wake_from`.
    pub(crate) fn new(
        socket: UdpSocket,
        accept_hellos: bool,
        wake_from: SocketAddr,
        counters: Arc<TransportCounters>,
    ) -> Intake {
        let sock = socket2::SockRef::from(&socket);
        if let Err(e) = sock.set_recv_buffer_size(RECEIVE_BUFFER) {
            tracing::debug!("could not enlarge the socket's receive buffer: {e}");
        }
        Intake {
            socket,
            known: HashSet::new(),
            accept_hellos,
            tokens: STRANGER_RATE,
            refill_at: Instant::now(),
            wake_from,
            counters,
            timeout: None,
            nonblocking: false,
        }
    }

    /// Takes what is there without waiting, until `Empty`.
    pub(crate) fn start_draining(&mut self) {
        self.set_nonblocking(true);
    }

    /// Waits up to `wait` (at least a microsecond) for the next arrival.
    pub(crate) fn wait(&mut self, buf: &mut [u8], wait: Duration) -> Arrival {
        self.set_nonblocking(false);
        let wait = wait.max(Duration::from_micros(1));
        if self.timeout != Some(wait) {
            match self.socket.set_read_timeout(Some(wait)) {
                Ok(()) => self.timeout = Some(wait),
                Err(e) => {
                    tracing::debug!("could not set the socket's read timeout: {e}");
                    return Arrival::Empty;
                }
            }
        }
        self.next(buf)
    }

    fn set_nonblocking(&mut self, on: bool) {
        if self.nonblocking != on {
            match self.socket.set_nonblocking(on) {
                Ok(()) => self.nonblocking = on,
                Err(e) => tracing::debug!("could not switch the socket's blocking mode: {e}"),
            }
        }
    }

    /// The next arrival: at once when draining, within the wait otherwise.
    pub(crate) fn next(&mut self, buf: &mut [u8]) -> Arrival {
        let (len, from) = match self.socket.recv_from(buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Arrival::Empty
            }
            Err(_) => return Arrival::Skipped,
        };
        if from == self.wake_from {
            return Arrival::Skipped;
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        let data = &buf[..len];
        if self.known.contains(&from) {
            return Arrival::Datagram { len, from };
        }
        if !stranger_may_send(data, self.accept_hellos) {
            self.counters
                .dropped_strangers
                .fetch_add(1, Ordering::Relaxed);
            return Arrival::Skipped;
        }
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.refill_at).as_secs_f64() * STRANGER_RATE)
            .min(STRANGER_RATE);
        self.refill_at = now;
        if self.tokens < 1.0 {
            self.counters
                .dropped_strangers
                .fetch_add(1, Ordering::Relaxed);
            return Arrival::Skipped;
        }
        self.tokens -= 1.0;
        Arrival::Datagram { len, from }
    }

    /// Publishes how many datagrams the system dropped at the socket
    /// because its receive buffer was full (the network thread behind);
    /// counted where the system tells (Linux), 0 elsewhere.
    pub(crate) fn refresh_drops(&self) {
        if let Some(n) = socket_drops(&self.socket) {
            self.counters.dropped_full.store(n, Ordering::Relaxed);
        }
    }
}

/// The kernel's drop count for the socket (`SO_MEMINFO`).
#[cfg(target_os = "linux")]
fn socket_drops(socket: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    /// `SK_MEMINFO_DROPS` and `SK_MEMINFO_VARS` from linux/sock_diag.h.
    const DROPS: usize = 8;
    const VARS: usize = 9;
    let mut info = [0u32; VARS];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes and outlives the call;
    // the kernel writes at most `len` bytes and updates `len`.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (r == 0 && len as usize > DROPS * 4).then(|| u64::from(info[DROPS]))
}

#[cfg(not(target_os = "linux"))]
fn socket_drops(_: &UdpSocket) -> Option<u64> {
    None
}

/// laminar's view of the socket: sends go straight out (or through the
/// coordinator's relay, for a relayed peer), receives come from what the
/// driver stashed after sorting what arrived.
#[derive(Debug)]
pub(crate) struct ChannelSocket {
    socket: UdpSocket,
    local: SocketAddr,
    stash: VecDeque<(Vec<u8>, SocketAddr)>,
    /// Buffers of taken datagrams, reused for the next ones.
    spare: Vec<Vec<u8>>,
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
            spare: Vec::new(),
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

    /// Keeps a datagram for laminar's next receive (copied into a reused
    /// buffer: no allocation once the first rounds have run).
    pub(crate) fn stash(&mut self, from: SocketAddr, data: &[u8]) {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(data);
        self.stash.push_back((b, from));
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
        let Some((data, from)) = self.stash.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = data.len().min(buffer.len());
        buffer[..n].copy_from_slice(&data[..n]);
        self.spare.push(data);
        Ok((&buffer[..n], from))
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
