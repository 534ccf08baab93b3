//! One peer of the demo room on its own thread, standing in for that
//! player's game: a pilot ticks at the physics rate and pushes its scripted
//! frame every tick; every peer reads the room every millisecond (so it
//! notices each snapshot, whatever the send rate), raises and collects
//! events, and keeps its row of the live table current. With a track, the
//! host announces it at the start and every joiner notes when its copy
//! arrives. A joiner of a listed room notes the lobby's path to the host
//! and how long the join took.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use super::flight;
use super::measure::{event_payload, read_event_payload, LatencyHistogram, PushClock, EVENT_CODE};
use super::report::PeerKind;
use super::track::{JoinerTrack, TransferClock};
use crate::lobby::{LobbyEvent, Path};
use crate::proto::room::ActorNr;
use crate::proto::EventTarget;
use crate::runtime::{
    FrameArrivals, PilotState, RuntimeError, Session, SessionCounters, SessionState,
};
use crate::session::{Event, PeerStats, HOST_ACTOR, MAX_PILOTS, MAX_SPECTATORS};
use crate::track::transfer::{props, TrackSource};

/// A client that is not seated by then counts as an error.
pub(crate) const CONNECT_LIMIT: Duration = Duration::from_secs(5);
/// The same for a joiner of a listed room: punching gives up after about
/// 3.5 s before the relay is asked for.
pub(crate) const LISTED_CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// How often an observer reads the room. Snapshots come at most every
/// ~4 ms (240 Hz); reading only at the game's own tick would miss some.
const POLL: Duration = Duration::from_millis(1);
/// Frames still in flight when the pilots stop are counted this long.
pub(crate) const FRAME_DRAIN: Duration = Duration::from_millis(300);
/// Reliable events still in flight at the end get this long to land.
pub(crate) const EVENT_DRAIN: Duration = Duration::from_secs(3);
/// How often a peer refreshes its live row.
const LIVE_EVERY: Duration = Duration::from_millis(250);
/// A game thread that falls this many ticks behind skips ahead instead of
/// catching up tick by tick (as a game's fixed update would after a stall).
const MAX_CATCH_UP: u32 = 4;
/// Error lines kept per peer (all are counted).
const MAX_MESSAGES: usize = 8;
/// How long the host waits for the clients to leave before it closes.
const HOST_CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Peers a host reports statistics for.
const MAX_PEERS: usize = MAX_PILOTS + MAX_SPECTATORS;

/// Who a peer is.
#[derive(Clone, Debug)]
pub(crate) struct PeerSpec {
    pub(crate) name: String,
    pub(crate) kind: PeerKind,
    /// Index among the pilots (the host is pilot 0).
    pub(crate) pilot: Option<usize>,
}

/// A peer's row as its thread last published it.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerLive {
    pub(crate) connected: bool,
    pub(crate) actor: ActorNr,
    /// The session's own statistics: every peer on the host, the link to the
    /// host on a client.
    pub(crate) stats: Vec<PeerStats>,
    pub(crate) last_pushed: Option<u32>,
    /// A listed room's joiner: how the lobby reached the host.
    pub(crate) path: Option<Path>,
}

/// What all peer threads share for the whole run.
pub(crate) struct Room {
    pub(crate) epoch: Instant,
    pub(crate) push_clocks: Vec<PushClock>,
    pub(crate) live: Vec<Mutex<PeerLive>>,
    pub(crate) clients_closed: AtomicUsize,
    /// Whether a joiner is still fetching the track.
    pub(crate) transfer: TransferClock,
}

impl Room {
    /// Microseconds since the room's epoch (fits a u32 for ~71 minutes).
    fn micros(&self, at: Instant) -> u32 {
        at.saturating_duration_since(self.epoch).as_micros() as u32
    }
}

/// One event in the run's schedule.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScheduledEvent {
    pub(crate) at: Instant,
    /// The raising pilot's index.
    pub(crate) sender: usize,
    /// Its number in that sender's sequence.
    pub(crate) seq: u32,
    pub(crate) len: usize,
}

/// A rendezvous with a time limit: nobody leaves the room before everyone
/// has finished counting (a departure would show up as a missing frame or
/// event elsewhere), but a stuck peer cannot hold the others for ever.
pub(crate) struct Gate {
    arrived: Mutex<usize>,
    all_here: Condvar,
    expected: usize,
}

impl Gate {
    pub(crate) fn new(expected: usize) -> Self {
        Gate {
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            expected,
        }
    }

    /// Arrives and waits for the others, at most `limit`; true if all came.
    pub(crate) fn arrive_and_wait(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut n = self.arrived.lock();
        *n += 1;
        if *n >= self.expected {
            self.all_here.notify_all();
            return true;
        }
        while *n < self.expected {
            if self.all_here.wait_until(&mut n, deadline).timed_out() {
                return *n >= self.expected;
            }
        }
        true
    }
}

/// When the pilots stop: fixed at the start, moved later (never earlier)
/// by the room while a track transfer runs. Every peer reads it each round.
pub(crate) struct Deadline {
    start: Instant,
    after_us: AtomicU64,
}

impl Deadline {
    pub(crate) fn new(start: Instant, run_for: Duration) -> Self {
        Deadline {
            start,
            after_us: AtomicU64::new(run_for.as_micros() as u64),
        }
    }

    pub(crate) fn get(&self) -> Instant {
        self.start + Duration::from_micros(self.after_us.load(Ordering::Acquire))
    }

    /// Moves the end out to `to` if that is later.
    pub(crate) fn stretch(&self, to: Instant) {
        let us = to.saturating_duration_since(self.start).as_micros() as u64;
        self.after_us.fetch_max(us, Ordering::AcqRel);
    }
}

/// The run, as decided once everyone is seated.
pub(crate) struct Plan {
    pub(crate) start: Instant,
    pub(crate) end: Deadline,
    /// The clock-sync burst of pings after seating is over by now.
    pub(crate) settled_at: Instant,
    /// Events start here; the host measures its snapshot packets between
    /// `settled_at` and this.
    pub(crate) quiet_until: Instant,
    pub(crate) physics_hz: u32,
    /// When each pilot's first tick comes, after the start (by pilot index).
    pub(crate) tick_offsets: Vec<Duration>,
    /// Actor of each pilot (by pilot index), `None` if it was not seated.
    pub(crate) pilot_actors: Vec<Option<ActorNr>>,
    pub(crate) events: Vec<ScheduledEvent>,
    /// Seated peers, the host included.
    pub(crate) participants: usize,
    pub(crate) observed: Gate,
    /// Test hook: this pilot stops pushing this long after the start.
    pub(crate) silence: Option<(usize, Duration)>,
}

impl Plan {
    fn pilot_of(&self, actor: u32) -> Option<usize> {
        self.pilot_actors.iter().position(|a| *a == Some(actor))
    }
}

/// What one (receiver, pilot) pair saw.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seen {
    /// First read of this pilot, from the start of the run.
    pub(crate) first: Option<Duration>,
    pub(crate) newest_tick: u32,
    pub(crate) distinct: u64,
}

/// The host's link statistics at one refresh, and when we noticed it.
pub(crate) type StatsMark = (Instant, Vec<PeerStats>);

/// Host statistics at the points the report needs.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostMarks {
    /// First refresh at or after the start.
    pub(crate) start: Option<StatsMark>,
    /// First refresh at or after `settled_at`.
    pub(crate) settled: Option<StatsMark>,
    /// Last refresh before the first event.
    pub(crate) quiet: Option<StatsMark>,
    /// First refresh at or after the end.
    pub(crate) end: Option<StatsMark>,
}

/// Everything a peer thread hands back.
#[derive(Debug)]
pub(crate) struct PeerOutcome {
    pub(crate) actor: Option<ActorNr>,
    /// By pilot index: what the game read by polling.
    pub(crate) seen: Vec<Seen>,
    /// By pilot index: what reached the session's network thread.
    pub(crate) arrived: Vec<Seen>,
    pub(crate) latency: LatencyHistogram,
    /// The same, only the samples taken while a joiner was fetching the track.
    pub(crate) latency_during_transfer: LatencyHistogram,
    /// `latency` where this peer flies too (pilot to pilot).
    pub(crate) pilot_latency: LatencyHistogram,
    /// A joiner's view of the track transfer.
    pub(crate) track: JoinerTrack,
    /// Sequence numbers this pilot raised, in order.
    pub(crate) events_raised: Vec<u32>,
    /// By sending pilot's index: sequence numbers as polled.
    pub(crate) events_received: Vec<Vec<u32>>,
    pub(crate) marks: HostMarks,
    pub(crate) pushes_dropped: u64,
    /// Longest time between two reads of the room while the pilots flew:
    /// a stall here (the machine, not the network) costs frames.
    pub(crate) max_poll_gap: Duration,
    pub(crate) transport: SessionCounters,
    pub(crate) error_count: usize,
    pub(crate) errors: Vec<String>,
    /// A listed room's joiner: the lobby's path to the host.
    pub(crate) lobby_path: Option<Path>,
    /// A listed room's joiner: from `join_listed` to the welcome.
    pub(crate) welcomed_after: Option<Duration>,
}

impl PeerOutcome {
    fn new(pilots: usize) -> Self {
        PeerOutcome {
            actor: None,
            seen: vec![Seen::default(); pilots],
            arrived: vec![Seen::default(); pilots],
            latency: LatencyHistogram::new(),
            latency_during_transfer: LatencyHistogram::new(),
            pilot_latency: LatencyHistogram::new(),
            track: JoinerTrack::default(),
            events_raised: Vec::new(),
            events_received: vec![Vec::new(); pilots],
            marks: HostMarks::default(),
            pushes_dropped: 0,
            max_poll_gap: Duration::ZERO,
            transport: SessionCounters::default(),
            error_count: 0,
            errors: Vec::new(),
            lobby_path: None,
            welcomed_after: None,
        }
    }

    fn error(&mut self, msg: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_MESSAGES {
            self.errors.push(msg);
        }
    }
}

/// A peer thread's wiring.
pub(crate) struct PeerContext {
    pub(crate) index: usize,
    pub(crate) spec: PeerSpec,
    pub(crate) pilots: usize,
    pub(crate) room: Arc<Room>,
    pub(crate) joined: Sender<(usize, Option<ActorNr>)>,
    pub(crate) plan: Receiver<Arc<Plan>>,
    /// The host's track, served when the pilots start.
    pub(crate) serve: Option<Box<dyn TrackSource>>,
    /// A joiner of a listed room: when `join_listed` was called.
    pub(crate) listed_join: Option<Instant>,
}

/// The thread body: join, wait for the plan, fly and watch, then leave.
/// `Err` is a peer that never got a session (a joiner that did not find
/// the room in the lobby list): the message is its error line.
pub(crate) fn run(mut ctx: PeerContext, session: Result<Session, String>) -> PeerOutcome {
    let mut out = PeerOutcome::new(ctx.pilots);
    let mut session = match session {
        Ok(s) => s,
        Err(msg) => {
            out.error(msg);
            let _ = ctx.joined.send((ctx.index, None));
            return out;
        }
    };
    match connect(&mut session, &ctx.spec.name, ctx.listed_join, &mut out) {
        Ok(actor) => {
            out.actor = Some(actor);
            let mut live = ctx.room.live[ctx.index].lock();
            live.connected = true;
            live.actor = actor;
            live.path = out.lobby_path;
        }
        Err(msg) => out.error(msg),
    }
    // The room waits for every peer's answer; a lost one only costs time.
    let _ = ctx.joined.send((ctx.index, out.actor));
    let plan = match out.actor.map(|_| ctx.plan.recv()) {
        Some(Ok(plan)) => plan,
        // Not seated, or the room gave up before the start.
        _ => {
            session.close_and_wait();
            return out;
        }
    };
    let serve = ctx.serve.take();
    fly(&ctx, &plan, serve, &mut session, &mut out);
    out.transport = session.counters();
    // Everyone finishes counting before anyone leaves; a peer that is very
    // late shows up in the report as a thread that did not finish.
    plan.observed
        .arrive_and_wait(EVENT_DRAIN + FRAME_DRAIN + Duration::from_secs(2));
    if ctx.spec.kind == PeerKind::Host {
        let until = Instant::now() + HOST_CLOSE_WAIT;
        while ctx.room.clients_closed.load(Ordering::Acquire) + 1 < plan.participants
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        session.close_and_wait();
    } else {
        session.close_and_wait();
        ctx.room.clients_closed.fetch_add(1, Ordering::AcqRel);
    }
    ctx.room.live[ctx.index].lock().connected = false;
    out
}

/// Waits until the session is seated; the error names the peer and why.
/// A joiner of a listed room (`listed_join`: when it called
/// `join_listed`) also notes the lobby's path and when it was welcomed.
fn connect(
    session: &mut Session,
    name: &str,
    listed_join: Option<Instant>,
    out: &mut PeerOutcome,
) -> Result<ActorNr, String> {
    let limit = if listed_join.is_some() {
        LISTED_CONNECT_LIMIT
    } else {
        CONNECT_LIMIT
    };
    let deadline = Instant::now() + limit;
    // A listed join is timed, so it is watched closely.
    let nap = Duration::from_millis(if listed_join.is_some() { 1 } else { 5 });
    let welcomed = |out: &mut PeerOutcome| {
        if let Some(t0) = listed_join {
            out.welcomed_after.get_or_insert_with(|| t0.elapsed());
        }
    };
    loop {
        while let Some(ev) = session.poll_lobby_event() {
            match ev {
                LobbyEvent::Connected { path, .. } => out.lobby_path = Some(path),
                LobbyEvent::JoinFailed { reason, .. } => {
                    return Err(format!("{name} found no path to the listed room: {reason}"))
                }
                _ => {}
            }
        }
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Welcomed { .. } => welcomed(out),
                Event::Refused { message, .. } => {
                    return Err(format!("{name} was refused: {message}"))
                }
                Event::Closed { reason } => {
                    return Err(format!(
                        "{name}'s session closed while joining ({reason:?})"
                    ))
                }
                _ => {}
            }
        }
        let snap = session.snapshot();
        match snap.state {
            SessionState::Connected if session.is_host() => return Ok(HOST_ACTOR),
            SessionState::Connected if snap.actor != 0 => {
                welcomed(out);
                return Ok(snap.actor);
            }
            SessionState::Closed(reason) => {
                return Err(format!(
                    "{name}'s session closed while joining ({reason:?})"
                ))
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{name} did not reach the room within {} s",
                limit.as_secs()
            ));
        }
        std::thread::sleep(nap);
    }
}

/// Tracks the host's statistics refreshes (every 100 ms on the network
/// thread) and keeps the ones at the marks, so byte counts are compared
/// over exactly the time between two refreshes.
struct MarkTracker {
    signature: u64,
}

impl MarkTracker {
    fn update(&mut self, plan: &Plan, now: Instant, stats: &[PeerStats], marks: &mut HostMarks) {
        let signature = stats.iter().fold(0u64, |a, s| {
            a.wrapping_add(s.counters.bytes_sent)
                .wrapping_add(s.counters.bytes_received)
                .wrapping_add(s.counters.packets_received)
        });
        if signature == self.signature {
            return;
        }
        self.signature = signature;
        let mark = || Some((now, stats.to_vec()));
        if now < plan.quiet_until {
            marks.quiet = mark();
        }
        if now >= plan.start && marks.start.is_none() {
            marks.start = mark();
        }
        if now >= plan.settled_at && marks.settled.is_none() {
            marks.settled = mark();
        }
        if now >= plan.end.get() && marks.end.is_none() {
            marks.end = mark();
        }
    }
}

fn fly(
    ctx: &PeerContext,
    plan: &Plan,
    mut serve: Option<Box<dyn TrackSource>>,
    session: &mut Session,
    out: &mut PeerOutcome,
) {
    let room = &ctx.room;
    let name = &ctx.spec.name;
    let me = ctx.spec.pilot;
    let is_host = ctx.spec.kind == PeerKind::Host;
    let hz = plan.physics_hz.max(1);
    let first_tick_at = plan.start + me.map_or(Duration::ZERO, |p| plan.tick_offsets[p]);
    let tick_at = |tick: u32| {
        first_tick_at + Duration::from_nanos(u64::from(tick - 1) * 1_000_000_000 / u64::from(hz))
    };
    let silent_from = plan
        .silence
        .filter(|(p, _)| Some(*p) == me)
        .map(|(_, after)| plan.start + after);
    let mut my_events = plan
        .events
        .iter()
        .filter(|e| Some(e.sender) == me)
        .peekable();
    let mut events_in = 0usize;
    let mut tick = 0u32;
    let mut next_tick_at = first_tick_at;
    let mut states = [PilotState::default(); MAX_PILOTS];
    let mut arrivals = [FrameArrivals {
        actor: 0,
        frames: 0,
        first: Instant::now(),
    }; MAX_PILOTS];
    let mut stats = [PeerStats::default(); MAX_PEERS];
    let mut tracker = MarkTracker {
        signature: u64::MAX,
    };
    let mut next_live = plan.start;
    let mut push_failed = false;
    let mut closed_early = false;
    let mut mismatched = 0u64;
    let mut last_poll: Option<Instant> = None;

    if let Some(wait) = plan.start.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
    if let Some(source) = serve.take() {
        match session.serve_track(Some(source), true) {
            Ok(()) => room.transfer.announce(),
            Err(e) => out.error(format!("{name} could not serve the track: {e}")),
        }
    }
    loop {
        let now = Instant::now();
        let end = plan.end.get();
        let frames_until = end + FRAME_DRAIN;
        let events_until = end + EVENT_DRAIN;
        // The game thread: every physics tick that is due, in order.
        if let Some(pilot) = me {
            let flying = now < end && silent_from.is_none_or(|s| now < s);
            let mut pushed_now = 0;
            while flying && next_tick_at <= now {
                if pushed_now == MAX_CATCH_UP {
                    // Stalled: skip to the tick that is due now.
                    let behind = now.duration_since(next_tick_at).as_nanos() as u64 * u64::from(hz)
                        / 1_000_000_000;
                    tick += behind as u32;
                    next_tick_at = tick_at(tick + 1);
                    pushed_now = 0;
                    continue;
                }
                tick += 1;
                next_tick_at = tick_at(tick + 1);
                pushed_now += 1;
                let frame = flight::frame_at(pilot, tick, hz);
                room.push_clocks[pilot].record(tick, room.micros(Instant::now()));
                match session.push_local(&frame) {
                    Ok(()) => {}
                    Err(RuntimeError::QueueFull) => out.pushes_dropped += 1,
                    Err(e) if !push_failed => {
                        push_failed = true;
                        out.error(format!("{name}: push_local failed at tick {tick}: {e}"));
                    }
                    Err(_) => {}
                }
            }
        }

        // The observer: every remote pilot's newest tick.
        if let Some(last) = last_poll.filter(|_| now < end) {
            out.max_poll_gap = out.max_poll_gap.max(now.duration_since(last));
        }
        last_poll = Some(now);
        if now <= frames_until {
            let n = session.frame_arrivals(&mut arrivals);
            for a in &arrivals[..n] {
                let Some(p) = plan.pilot_of(a.actor).filter(|p| Some(*p) != me) else {
                    continue;
                };
                out.arrived[p] = Seen {
                    first: Some(a.first.saturating_duration_since(plan.start)),
                    newest_tick: 0,
                    distinct: a.frames,
                };
            }
            let n = session.read_pilots(&mut states);
            let seen_at = Instant::now();
            let seen_us = u64::from(room.micros(seen_at));
            let during_transfer = room.transfer.in_progress();
            for st in &states[..n] {
                let Some(p) = plan.pilot_of(st.actor).filter(|p| Some(*p) != me) else {
                    continue;
                };
                let tick = st.frame.tick;
                let seen = &mut out.seen[p];
                if tick <= seen.newest_tick {
                    continue;
                }
                seen.newest_tick = tick;
                seen.distinct += 1;
                seen.first
                    .get_or_insert(seen_at.saturating_duration_since(plan.start));
                if !flight::matches(p, &st.frame, hz) {
                    mismatched += 1;
                }
                if let Some(pushed_us) = room.push_clocks[p].pushed_at(tick) {
                    let us = seen_us.saturating_sub(u64::from(pushed_us));
                    out.latency.record(us);
                    if me.is_some() {
                        out.pilot_latency.record(us);
                    }
                    if during_transfer {
                        out.latency_during_transfer.record(us);
                    }
                }
            }
        }

        while let Some(ev) = session.poll_event() {
            match ev {
                Event::GameEvent(g) if g.code == EVENT_CODE => {
                    match read_event_payload(&g.payload) {
                        Some((sender, seq))
                            if plan.pilot_actors.get(sender) == Some(&Some(g.from)) =>
                        {
                            out.events_received[sender].push(seq);
                            events_in += 1;
                        }
                        _ => out.error(format!(
                            "{name} got a damaged or misattributed event from actor {} ({} bytes)",
                            g.from,
                            g.payload.len()
                        )),
                    }
                }
                Event::Closed { reason } if !closed_early => {
                    closed_early = true;
                    out.error(format!("{name}'s session closed early ({reason:?})"));
                }
                Event::PlayerLeft { actor, reason, .. } if is_host => {
                    out.error(format!(
                        "the host saw actor {actor} leave during the run ({reason:?})"
                    ));
                }
                // The client core asks for the track as it applies the
                // announcement, in the same step that queues this event.
                Event::PropsChanged(ch)
                    if ch.target == 0
                        && ch
                            .changes
                            .get(props::HASH.as_bytes())
                            .is_some_and(Option::is_some) =>
                {
                    out.track.asked_at.get_or_insert_with(Instant::now);
                }
                Event::TrackReady { path, downloaded } if out.track.ready.is_none() => {
                    out.track.ready = Some((path, downloaded, Instant::now()));
                    room.transfer.settle();
                }
                // Counted as an error with the run's track summary.
                Event::TrackFailed { reason } if out.track.failed.is_none() => {
                    out.track.failed = Some(reason);
                    room.transfer.settle();
                }
                _ => {}
            }
        }
        // A listed room's lobby reports each joiner's introduction to the
        // host; only a listing the coordinator gave up on matters here.
        while let Some(ev) = session.poll_lobby_event() {
            if let LobbyEvent::HostingFailed { message, .. } = ev {
                out.error(format!(
                    "{name}: the coordinator dropped the listing: {message}"
                ));
            }
        }

        while let Some(e) = my_events.peek().copied() {
            if e.at > now {
                break;
            }
            let payload = event_payload(e.sender, e.seq, e.len);
            match session.send_event(EVENT_CODE, EventTarget::All, &payload) {
                Ok(()) => out.events_raised.push(e.seq),
                // The network thread is behind: raise it again next time.
                Err(RuntimeError::QueueFull) => break,
                Err(err) => out.error(format!(
                    "{name}: send_event of {} bytes failed: {err}",
                    e.len
                )),
            }
            my_events.next();
        }

        if is_host {
            let n = session.stats(&mut stats);
            tracker.update(plan, now, &stats[..n], &mut out.marks);
        }
        if now >= next_live {
            next_live = now + LIVE_EVERY;
            let n = session.stats(&mut stats);
            let snap = session.snapshot();
            if let SessionState::Closed(reason) = snap.state {
                if !closed_early {
                    closed_early = true;
                    out.error(format!("{name}'s session closed early ({reason:?})"));
                }
            }
            let mut live = room.live[ctx.index].lock();
            live.connected = snap.state == SessionState::Connected;
            live.stats.clear();
            live.stats.extend_from_slice(&stats[..n]);
            live.last_pushed = (tick > 0).then_some(tick);
        }

        let all_events = events_in >= plan.events.len() && my_events.peek().is_none();
        if now >= frames_until && (all_events || now >= events_until) {
            break;
        }
        let mut wake = now + POLL;
        if me.is_some() && now < end {
            wake = wake.min(next_tick_at);
        }
        if let Some(nap) = wake.checked_duration_since(Instant::now()) {
            std::thread::sleep(nap);
        }
    }
    if mismatched > 0 {
        out.error(format!(
            "{name} read {mismatched} frames that are not what their pilot pushed"
        ));
    }
}
