//! The host's side of verified joins: check a joiner's Steam auth ticket
//! before seating them, never seat two players with one Steam id, end the
//! check when they leave.
//!
//! The pieces, from pure to stateful:
//! - [`decide_seat`]: given what the joiner claims, the room's rule, who is
//!   seated and how the ticket check stands, say seat, refuse or wait.
//! - [`TicketVerifier`]: the Steam calls (`BeginAuthSession`, its answer,
//!   `EndAuthSession`) behind a trait; [`FakeVerifier`] for tests.
//! - [`JoinGate`]: drives a verifier for a sans-IO host: started on hello,
//!   polled with the time as a parameter, a check still unanswered after
//!   [`VERIFY_TIMEOUT`] counts as rejected. It never blocks.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::TicketMinter;

/// How long Steam may take to answer a ticket check before the joiner is
/// refused.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a pending check is polled.
pub const VERIFY_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Largest ticket accepted in a hello (Steam's are a few hundred bytes).
pub const MAX_TICKET_BYTES: usize = 1024;

/// How a ticket check stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyState {
    /// Steam has not answered yet.
    Pending,
    /// Steam confirmed the ticket belongs to that Steam id.
    Accepted,
    /// Steam said no, with its reason.
    Rejected(String),
}

/// Why a ticket check could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// Steam refused the ticket at once (malformed, expired, for another
    /// game, or belonging to another Steam id than the one claimed).
    Rejected(String),
    /// The host cannot check tickets (no Steam on the host).
    Unavailable(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Rejected(why) => write!(f, "Steam refused the ticket: {why}"),
            VerifyError::Unavailable(why) => write!(f, "cannot check Steam tickets: {why}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The Steam calls a host needs to check tickets. Implementations must
/// return at once: answers are collected by polling.
pub trait TicketVerifier: Send {
    /// Starts checking that `ticket` was made by `steam_id`
    /// (`BeginAuthSession`, which checks it against that id).
    fn begin(&mut self, steam_id: u64, ticket: &[u8]) -> Result<(), VerifyError>;
    /// How the check of `steam_id` stands now.
    fn poll(&mut self, steam_id: u64) -> VerifyState;
    /// Ends the check or session of `steam_id` (`EndAuthSession`); harmless
    /// for an id without one.
    fn end(&mut self, steam_id: u64);
}

impl<T: TicketVerifier + ?Sized> TicketVerifier for Box<T> {
    fn begin(&mut self, steam_id: u64, ticket: &[u8]) -> Result<(), VerifyError> {
        (**self).begin(steam_id, ticket)
    }
    fn poll(&mut self, steam_id: u64) -> VerifyState {
        (**self).poll(steam_id)
    }
    fn end(&mut self, steam_id: u64) {
        (**self).end(steam_id)
    }
}

/// How a [`FakeVerifier`] answers for one Steam id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeAnswer {
    /// Accept a ticket that belongs to the id.
    Accept,
    /// Reject it with this reason after `begin` succeeded.
    Reject(String),
    /// Stay pending forever.
    NeverAnswer,
}

/// A verifier for tests: tickets are `fake-ticket:<steam id>` (made for
/// any receiver) or `fake-ticket:<steam id>@<host's steam id>` (made for one
/// host), checked like Steam does: against the claimed id, and a ticket
/// made for a host against the Steam id of the host checking it. Answered
/// as configured per id.
#[derive(Clone, Debug)]
pub struct FakeVerifier {
    answers: HashMap<u64, FakeAnswer>,
    default: FakeAnswer,
    host: Option<u64>,
    open: HashMap<u64, ()>,
    /// Every id `begin` was called for, in order.
    pub begun: Vec<u64>,
    /// Every id `end` was called for, in order.
    pub ended: Vec<u64>,
}

impl FakeVerifier {
    /// A fake answering `default` for ids without their own answer.
    pub fn new(default: FakeAnswer) -> FakeVerifier {
        FakeVerifier {
            answers: HashMap::new(),
            default,
            host: None,
            open: HashMap::new(),
            begun: Vec::new(),
            ended: Vec::new(),
        }
    }

    /// Sets the answer for one id.
    pub fn answer(mut self, steam_id: u64, answer: FakeAnswer) -> FakeVerifier {
        self.answers.insert(steam_id, answer);
        self
    }

    /// Changes the answer for one id, also for a check already begun.
    pub fn set_answer(&mut self, steam_id: u64, answer: FakeAnswer) {
        self.answers.insert(steam_id, answer);
    }

    /// The fake runs on the host whose Steam id is `host`: tickets made for
    /// another host are refused. Without it every ticket made for a host is.
    pub fn hosted_by(mut self, host: u64) -> FakeVerifier {
        self.host = Some(host);
        self
    }

    /// A ticket of the player `steam_id` made for any receiver.
    pub fn ticket_for(steam_id: u64) -> Vec<u8> {
        format!("fake-ticket:{steam_id}").into_bytes()
    }

    /// A ticket of the player `steam_id` made for the host `host`.
    pub fn ticket_for_host(steam_id: u64, host: u64) -> Vec<u8> {
        format!("fake-ticket:{steam_id}@{host}").into_bytes()
    }

    /// What the player `steam_id`'s Steam would mint when a host's
    /// challenge names that host: [`ticket_for_host`](Self::ticket_for_host).
    pub fn minter(steam_id: u64) -> TicketMinter {
        TicketMinter::new(move |host| Some(Self::ticket_for_host(steam_id, host)))
    }

    /// Ids whose check or session is open (begun and not ended).
    pub fn open_sessions(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.open.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

impl TicketVerifier for FakeVerifier {
    fn begin(&mut self, steam_id: u64, ticket: &[u8]) -> Result<(), VerifyError> {
        self.begun.push(steam_id);
        let parsed = std::str::from_utf8(ticket)
            .ok()
            .and_then(|t| t.strip_prefix("fake-ticket:"))
            .and_then(|t| match t.split_once('@') {
                None => Some((t.parse::<u64>().ok()?, None)),
                Some((owner, host)) => Some((owner.parse().ok()?, Some(host.parse().ok()?))),
            });
        match parsed {
            None => return Err(VerifyError::Rejected("invalid ticket".into())),
            Some((owner, _)) if owner != steam_id => {
                return Err(VerifyError::Rejected(
                    "invalid ticket (it belongs to another Steam id)".into(),
                ))
            }
            Some((_, Some(host))) if Some(host) != self.host => {
                return Err(VerifyError::Rejected(
                    "invalid ticket (it was made for another host)".into(),
                ))
            }
            Some(_) => {}
        }
        if self.open.insert(steam_id, ()).is_some() {
            return Err(VerifyError::Rejected("duplicate ticket request".into()));
        }
        Ok(())
    }

    fn poll(&mut self, steam_id: u64) -> VerifyState {
        if !self.open.contains_key(&steam_id) {
            return VerifyState::Rejected("no check was begun for this Steam id".into());
        }
        match self.answers.get(&steam_id).unwrap_or(&self.default) {
            FakeAnswer::Accept => VerifyState::Accepted,
            FakeAnswer::Reject(why) => VerifyState::Rejected(why.clone()),
            FakeAnswer::NeverAnswer => VerifyState::Pending,
        }
    }

    fn end(&mut self, steam_id: u64) {
        self.ended.push(steam_id);
        self.open.remove(&steam_id);
    }
}

/// Where the check of a joiner's ticket is, as [`decide_seat`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// No check: the joiner sent no ticket.
    NoTicket,
    /// The host cannot check tickets, with the reason.
    Unavailable(String),
    /// Waiting for Steam.
    Pending,
    /// Steam confirmed it.
    Accepted,
    /// Steam said no, with its reason.
    Rejected(String),
    /// Steam did not answer within the deadline.
    TimedOut,
}

/// What the host should ask [`decide_seat`].
#[derive(Clone, Copy, Debug)]
pub struct SeatQuery<'a> {
    /// The Steam id in the hello, if any.
    pub claimed_steam_id: Option<u64>,
    /// The room admits only verified Steam players.
    pub require_verified: bool,
    /// Verified Steam ids of everyone seated, the host included.
    pub seated_steam_ids: &'a [u64],
    /// How the ticket check stands.
    pub verification: &'a Verification,
}

/// Why a joiner is refused; the host maps it to its wire refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseKind {
    /// The room requires a verified Steam identity and the joiner has none.
    NotVerified,
    /// Steam rejected the joiner's ticket.
    TicketRejected,
    /// Steam did not answer in time.
    VerificationTimedOut,
    /// Another player in the room (or joining) has that Steam id.
    SteamIdInUse,
}

/// What to do with a joiner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeatDecision {
    /// Seat them.
    Seat {
        /// Steam confirmed who they are.
        verified: bool,
        /// Their Steam id; only ever set when verified, so an unproven
        /// claim can neither show as that player nor block them later.
        steam_id: Option<u64>,
    },
    /// Refuse them.
    Refuse {
        /// Why, for the game to branch on.
        kind: RefuseKind,
        /// Why, in words for the joiner.
        message: String,
    },
    /// Not decided yet: ask again on a later poll.
    Wait,
}

/// Decides what to do with a joiner. Pure: no Steam, no clock.
pub fn decide_seat(q: &SeatQuery<'_>) -> SeatDecision {
    let refuse = |kind, message: String| SeatDecision::Refuse { kind, message };
    let unverified = SeatDecision::Seat {
        verified: false,
        steam_id: None,
    };
    let Some(id) = q.claimed_steam_id else {
        return if q.require_verified {
            refuse(
                RefuseKind::NotVerified,
                "this room admits only players verified by Steam; start the game through \
                 Steam to join"
                    .into(),
            )
        } else {
            unverified
        };
    };
    if q.seated_steam_ids.contains(&id) {
        return refuse(
            RefuseKind::SteamIdInUse,
            format!("the Steam id {id} is already in this room"),
        );
    }
    match q.verification {
        Verification::Pending => SeatDecision::Wait,
        Verification::Accepted => SeatDecision::Seat {
            verified: true,
            steam_id: Some(id),
        },
        Verification::Rejected(why) => refuse(
            RefuseKind::TicketRejected,
            format!("Steam did not confirm that you are {id}: {why}"),
        ),
        Verification::TimedOut => refuse(
            RefuseKind::VerificationTimedOut,
            format!(
                "Steam did not confirm your identity within {} s; try again",
                VERIFY_TIMEOUT.as_secs()
            ),
        ),
        Verification::NoTicket if q.require_verified => refuse(
            RefuseKind::NotVerified,
            "this room admits only players verified by Steam, and your hello carried no \
             Steam ticket"
                .into(),
        ),
        Verification::Unavailable(why) if q.require_verified => refuse(
            RefuseKind::NotVerified,
            format!(
                "this room admits only players verified by Steam, but the host cannot check \
                 Steam tickets ({why})"
            ),
        ),
        Verification::NoTicket | Verification::Unavailable(_) => unverified,
    }
}

#[derive(Debug)]
struct PendingJoin {
    from: SocketAddr,
    steam_id: u64,
    deadline: Instant,
}

/// Drives ticket checks for a sans-IO host.
///
/// Call [`hello`](Self::hello) for every hello (repeats are harmless),
/// [`poll`](Self::poll) when [`poll_timeout`](Self::poll_timeout) comes,
/// [`left`](Self::left) when a seated player leaves and
/// [`forget`](Self::forget) when a joiner gives up. Every call returns at
/// once.
pub struct JoinGate<V> {
    verifier: Result<V, String>,
    require_verified: bool,
    timeout: Duration,
    pending: Vec<PendingJoin>,
    /// Steam ids with an open session that must be ended when they leave.
    sessions: Vec<u64>,
}

impl<V: TicketVerifier> JoinGate<V> {
    /// A gate checking tickets with `verifier`, or, when it is `Err(why)`,
    /// a gate whose host cannot check tickets.
    pub fn new(verifier: Result<V, String>, require_verified: bool) -> JoinGate<V> {
        JoinGate {
            verifier,
            require_verified,
            timeout: VERIFY_TIMEOUT,
            pending: Vec::new(),
            sessions: Vec::new(),
        }
    }

    /// Changes how long Steam may take to answer.
    pub fn with_timeout(mut self, timeout: Duration) -> JoinGate<V> {
        self.timeout = timeout;
        self
    }

    /// Changes the room's rule (applies to joins decided from now on).
    pub fn set_require_verified(&mut self, require_verified: bool) {
        self.require_verified = require_verified;
    }

    /// The verifier, when the host has one.
    pub fn verifier(&self) -> Option<&V> {
        self.verifier.as_ref().ok()
    }

    /// The verifier, to change it (tests change a fake's answers).
    pub fn verifier_mut(&mut self) -> Option<&mut V> {
        self.verifier.as_mut().ok()
    }

    /// A hello from `from` claiming `steam_id` with `ticket`; `seated` are
    /// the verified Steam ids in the room, the host's included.
    pub fn hello(
        &mut self,
        now: Instant,
        from: SocketAddr,
        steam_id: Option<u64>,
        ticket: Option<&[u8]>,
        seated: &[u64],
    ) -> SeatDecision {
        let Some(id) = steam_id else {
            return self.decide(None, &Verification::NoTicket, seated);
        };
        if let Some(i) = self.pending.iter().position(|p| p.steam_id == id) {
            if self.pending[i].from != from {
                return SeatDecision::Refuse {
                    kind: RefuseKind::SteamIdInUse,
                    message: format!("the Steam id {id} is already joining this room"),
                };
            }
            return self.settle(now, i, seated);
        }
        // Refuse a claim on a seated id before touching Steam: beginning a
        // second session for a seated player would disturb theirs.
        if seated.contains(&id) {
            return self.decide(Some(id), &Verification::NoTicket, seated);
        }
        let ticket = ticket.filter(|t| !t.is_empty());
        let verification = match (&mut self.verifier, ticket) {
            (_, None) => Verification::NoTicket,
            (Err(why), Some(_)) => Verification::Unavailable(why.clone()),
            (Ok(_), Some(t)) if t.len() > MAX_TICKET_BYTES => {
                Verification::Rejected(format!("ticket of {} bytes is too long", t.len()))
            }
            (Ok(v), Some(t)) => match v.begin(id, t) {
                Ok(()) => {
                    self.sessions.push(id);
                    self.pending.push(PendingJoin {
                        from,
                        steam_id: id,
                        deadline: now + self.timeout,
                    });
                    let i = self.pending.len() - 1;
                    return self.settle(now, i, seated);
                }
                Err(VerifyError::Rejected(why)) => Verification::Rejected(why),
                Err(VerifyError::Unavailable(why)) => Verification::Unavailable(why),
            },
        };
        self.decide(Some(id), &verification, seated)
    }

    /// Polls every pending check; returns the joins decided now, by the
    /// address their hello came from. Seat them (or refuse them) in order.
    pub fn poll(&mut self, now: Instant, seated: &[u64]) -> Vec<(SocketAddr, SeatDecision)> {
        let mut out = Vec::new();
        let mut seated: Vec<u64> = seated.to_vec();
        let mut i = 0;
        while i < self.pending.len() {
            let from = self.pending[i].from;
            let before = self.pending.len();
            let d = self.settle(now, i, &seated);
            if self.pending.len() < before {
                if let SeatDecision::Seat {
                    steam_id: Some(id), ..
                } = d
                {
                    seated.push(id);
                }
                out.push((from, d));
            } else {
                i += 1;
            }
        }
        out
    }

    /// When to call [`poll`](Self::poll) next; `None` when nothing waits.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.pending
            .iter()
            .map(|p| p.deadline)
            .min()
            .map(|d| d.min(now + VERIFY_POLL_INTERVAL))
    }

    /// A seated player with a verified `steam_id` left: ends their session.
    pub fn left(&mut self, steam_id: u64) {
        self.end(steam_id);
    }

    /// The joiner at `from` went away before being decided.
    pub fn forget(&mut self, from: SocketAddr) {
        if let Some(i) = self.pending.iter().position(|p| p.from == from) {
            let p = self.pending.remove(i);
            self.end(p.steam_id);
        }
    }

    /// Ends every session (the room closes).
    pub fn close(&mut self) {
        self.pending.clear();
        for id in std::mem::take(&mut self.sessions) {
            if let Ok(v) = &mut self.verifier {
                v.end(id);
            }
        }
    }

    fn end(&mut self, steam_id: u64) {
        if let Some(i) = self.sessions.iter().position(|&s| s == steam_id) {
            self.sessions.remove(i);
            if let Ok(v) = &mut self.verifier {
                v.end(steam_id);
            }
        }
    }

    /// Polls pending join `i` and, once decided, removes it (ending the
    /// session unless the player is seated verified).
    fn settle(&mut self, now: Instant, i: usize, seated: &[u64]) -> SeatDecision {
        let id = self.pending[i].steam_id;
        let state = match &mut self.verifier {
            Ok(v) => v.poll(id),
            Err(why) => VerifyState::Rejected(why.clone()),
        };
        let verification = match state {
            VerifyState::Accepted => Verification::Accepted,
            VerifyState::Rejected(why) => Verification::Rejected(why),
            VerifyState::Pending if now >= self.pending[i].deadline => Verification::TimedOut,
            VerifyState::Pending => Verification::Pending,
        };
        let d = self.decide(Some(id), &verification, seated);
        match &d {
            SeatDecision::Wait => {}
            SeatDecision::Seat { verified: true, .. } => {
                self.pending.remove(i);
            }
            _ => {
                self.pending.remove(i);
                self.end(id);
            }
        }
        d
    }

    fn decide(&self, id: Option<u64>, v: &Verification, seated: &[u64]) -> SeatDecision {
        decide_seat(&SeatQuery {
            claimed_steam_id: id,
            require_verified: self.require_verified,
            seated_steam_ids: seated,
            verification: v,
        })
    }
}

/// A ticket as lowercase hex, for the JSON hello.
pub fn ticket_to_hex(ticket: &[u8]) -> String {
    ticket.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a hex ticket from a hello; `None` when it is not even-length hex
/// or longer than [`MAX_TICKET_BYTES`].
pub fn ticket_from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.len() > 2 * MAX_TICKET_BYTES {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: u64 = 76_561_198_000_000_001;
    const HOST: u64 = 76_561_198_000_000_099;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn q<'a>(
        claimed: Option<u64>,
        require: bool,
        seated: &'a [u64],
        v: &'a Verification,
    ) -> SeatDecision {
        decide_seat(&SeatQuery {
            claimed_steam_id: claimed,
            require_verified: require,
            seated_steam_ids: seated,
            verification: v,
        })
    }

    fn refused(d: &SeatDecision) -> Option<RefuseKind> {
        match d {
            SeatDecision::Refuse { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    #[test]
    fn decision_table() {
        let seat_v = SeatDecision::Seat {
            verified: true,
            steam_id: Some(ALICE),
        };
        let seat_u = SeatDecision::Seat {
            verified: false,
            steam_id: None,
        };
        let rej = Verification::Rejected("VAC banned".into());
        let unavailable = Verification::Unavailable("no Steam on the host".into());
        assert_eq!(q(Some(ALICE), false, &[], &Verification::Accepted), seat_v);
        assert_eq!(
            q(Some(ALICE), true, &[HOST], &Verification::Accepted),
            seat_v
        );
        assert_eq!(
            q(Some(ALICE), true, &[], &Verification::Pending),
            SeatDecision::Wait
        );
        assert_eq!(q(None, false, &[], &Verification::NoTicket), seat_u);
        assert_eq!(q(Some(ALICE), false, &[], &Verification::NoTicket), seat_u);
        assert_eq!(q(Some(ALICE), false, &[], &unavailable), seat_u);
        assert_eq!(
            refused(&q(None, true, &[], &Verification::NoTicket)),
            Some(RefuseKind::NotVerified)
        );
        assert_eq!(
            refused(&q(Some(ALICE), true, &[], &Verification::NoTicket)),
            Some(RefuseKind::NotVerified)
        );
        assert_eq!(
            refused(&q(Some(ALICE), true, &[], &unavailable)),
            Some(RefuseKind::NotVerified)
        );
        assert_eq!(
            refused(&q(Some(ALICE), false, &[], &rej)),
            Some(RefuseKind::TicketRejected)
        );
        assert_eq!(
            refused(&q(Some(ALICE), false, &[], &Verification::TimedOut)),
            Some(RefuseKind::VerificationTimedOut)
        );
    }

    #[test]
    fn claiming_a_seated_steam_id_is_refused_whatever_the_ticket_says() {
        for v in [
            Verification::Accepted,
            Verification::Pending,
            Verification::NoTicket,
            Verification::Unavailable("x".into()),
        ] {
            for require in [false, true] {
                let d = q(Some(HOST), require, &[ALICE, HOST], &v);
                assert_eq!(refused(&d), Some(RefuseKind::SteamIdInUse), "{v:?}");
                if let SeatDecision::Refuse { message, .. } = d {
                    assert!(message.contains(&HOST.to_string()), "{message}");
                }
            }
        }
    }

    #[test]
    fn refusal_messages_say_why() {
        let d = q(None, true, &[], &Verification::NoTicket);
        let SeatDecision::Refuse { message, .. } = d else {
            panic!("{d:?}")
        };
        assert!(
            message.contains("only players verified by Steam"),
            "{message}"
        );
        let d = q(
            Some(ALICE),
            false,
            &[],
            &Verification::Rejected("VAC banned".into()),
        );
        let SeatDecision::Refuse { message, .. } = d else {
            panic!("{d:?}")
        };
        assert!(message.contains("VAC banned"), "{message}");
    }

    #[test]
    fn hex_tickets_round_trip_and_bad_text_is_refused() {
        let t = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(ticket_to_hex(&t), "0001abff");
        assert_eq!(ticket_from_hex("0001abff"), Some(t));
        assert_eq!(ticket_from_hex("0001ab"), Some(vec![0, 1, 0xab]));
        assert_eq!(ticket_from_hex("abc"), None);
        assert_eq!(ticket_from_hex("zz"), None);
        assert_eq!(ticket_from_hex("é1"), None);
        assert_eq!(ticket_from_hex(&"00".repeat(MAX_TICKET_BYTES + 1)), None);
    }

    #[test]
    fn gate_accepts_at_once_and_ends_the_session_when_they_leave() {
        let mut g = JoinGate::new(Ok(FakeVerifier::new(FakeAnswer::Accept)), true);
        let now = Instant::now();
        let t = FakeVerifier::ticket_for(ALICE);
        let d = g.hello(now, addr(1), Some(ALICE), Some(&t), &[HOST]);
        assert_eq!(
            d,
            SeatDecision::Seat {
                verified: true,
                steam_id: Some(ALICE)
            }
        );
        assert_eq!(g.poll_timeout(now), None);
        assert_eq!(g.verifier().unwrap().open_sessions(), vec![ALICE]);
        g.left(ALICE);
        assert_eq!(g.verifier().unwrap().ended, vec![ALICE]);
        assert!(g.verifier().unwrap().open_sessions().is_empty());
    }

    #[test]
    fn the_fake_refuses_a_ticket_made_for_another_host_like_steam() {
        let mut here = FakeVerifier::new(FakeAnswer::Accept).hosted_by(HOST);
        let mine = FakeVerifier::minter(ALICE).mint(HOST).unwrap();
        assert_eq!(here.begin(ALICE, &mine), Ok(()));
        let elsewhere = FakeVerifier::ticket_for_host(ALICE, HOST + 1);
        let err = here.begin(ALICE, &elsewhere).unwrap_err();
        assert!(err.to_string().contains("another host"), "{err}");
        // A host with no Steam id of its own accepts no ticket made for a host.
        let mut nameless = FakeVerifier::new(FakeAnswer::Accept);
        assert!(nameless.begin(ALICE, &mine).is_err());
        // Tickets for any receiver are accepted anywhere, as Steam does.
        assert_eq!(
            nameless.begin(ALICE, &FakeVerifier::ticket_for(ALICE)),
            Ok(())
        );
        assert!(here.begin(ALICE, b"fake-ticket:1@x").is_err());
    }
}
