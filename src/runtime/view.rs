//! What the game thread reads each tick: for every remote pilot the last few
//! frames stamped with host time, the link statistics and the clock offset.
//! Fixed-size and `Copy` inside, so publishing it through the triple buffer
//! is a memcpy and reading it allocates nothing.

use std::time::Instant;

use crate::proto::room::ActorNr;
use crate::proto::{PilotFrame, PilotInput};
use crate::session::{PeerStats, MAX_PILOTS, MAX_SPECTATORS};

/// Frames kept per pilot for interpolation.
pub(crate) const TRACK_SAMPLES: usize = 16;
/// Most peers whose statistics are shown.
pub(crate) const MAX_PEERS: usize = MAX_PILOTS + MAX_SPECTATORS;
/// Extrapolation beyond the newest frame stops after this long.
pub(crate) const MAX_EXTRAPOLATION_US: u64 = 100_000;

/// One remote pilot as the game reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PilotState {
    /// The pilot's actor number.
    pub actor: u32,
    /// 1 when the frame was projected past the newest one received (loss or
    /// late packets), else 0.
    pub extrapolated: u32,
    /// Host time the frame belongs to, microseconds.
    pub host_time_us: u64,
    /// The frame (interpolated frames carry the earlier sample's tick and
    /// inputs).
    pub frame: PilotFrame,
}

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    frame: PilotFrame,
    host_us: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Track {
    actor: ActorNr,
    len: usize,
    head: usize,
    samples: [Sample; TRACK_SAMPLES],
    /// Frames the network thread took in for this pilot (each a newer tick
    /// than the one before), and when the first came.
    arrived: u64,
    first_arrival: Option<Instant>,
}

impl Default for Track {
    fn default() -> Self {
        Track {
            actor: 0,
            len: 0,
            head: 0,
            samples: [Sample::default(); TRACK_SAMPLES],
            arrived: 0,
            first_arrival: None,
        }
    }
}

/// How many of one pilot's frames reached this session's network thread,
/// counted where they arrive, whether or not the game read each of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameArrivals {
    /// The pilot's actor number.
    pub actor: ActorNr,
    /// Frames with a newer tick than the one before.
    pub frames: u64,
    /// When the first of them arrived.
    pub first: Instant,
}

impl Track {
    /// The i-th oldest sample.
    fn get(&self, i: usize) -> &Sample {
        &self.samples[(self.head + TRACK_SAMPLES - self.len + i) % TRACK_SAMPLES]
    }

    fn newest(&self) -> Option<&Sample> {
        (self.len > 0).then(|| self.get(self.len - 1))
    }

    fn push(&mut self, frame: PilotFrame, host_us: u64) {
        self.samples[self.head] = Sample { frame, host_us };
        self.head = (self.head + 1) % TRACK_SAMPLES;
        self.len = (self.len + 1).min(TRACK_SAMPLES);
    }

    /// The pilot at host time `t`: interpolated between the frames around
    /// it, extrapolated from the newest for at most 100 ms, else held.
    fn at(&self, t: u64) -> Option<PilotState> {
        let newest = self.newest()?;
        let state = |frame: PilotFrame, host_time_us: u64, extrapolated: bool| PilotState {
            actor: self.actor,
            extrapolated: u32::from(extrapolated),
            host_time_us,
            frame,
        };
        if t >= newest.host_us {
            let dt_us = (t - newest.host_us).min(MAX_EXTRAPOLATION_US);
            if dt_us == 0 {
                return Some(state(newest.frame, newest.host_us, false));
            }
            return Some(state(
                extrapolate(&newest.frame, dt_us as f32 / 1e6),
                newest.host_us + dt_us,
                true,
            ));
        }
        let oldest = self.get(0);
        if t <= oldest.host_us {
            return Some(state(oldest.frame, oldest.host_us, false));
        }
        for i in 1..self.len {
            let (a, b) = (self.get(i - 1), self.get(i));
            if a.host_us <= t && t < b.host_us {
                let span = (b.host_us - a.host_us).max(1) as f32;
                let f = (t - a.host_us) as f32 / span;
                return Some(state(blend(&a.frame, &b.frame, f), t, false));
            }
        }
        Some(state(newest.frame, newest.host_us, false))
    }
}

fn lerp3(a: [f32; 3], b: [f32; 3], f: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * f,
        a[1] + (b[1] - a[1]) * f,
        a[2] + (b[2] - a[2]) * f,
    ]
}

fn normalize(q: [f32; 4]) -> [f32; 4] {
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    if n < 1e-9 || !n.is_finite() {
        [0.0, 0.0, 0.0, 1.0]
    } else {
        [q[0] / n, q[1] / n, q[2] / n, q[3] / n]
    }
}

/// Normalized lerp along the shorter arc: close to slerp at the small angles
/// between two frames a few milliseconds apart, and far cheaper.
fn nlerp(a: [f32; 4], b: [f32; 4], f: f32) -> [f32; 4] {
    let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
    let s = if dot < 0.0 { -1.0 } else { 1.0 };
    normalize([
        a[0] + (s * b[0] - a[0]) * f,
        a[1] + (s * b[1] - a[1]) * f,
        a[2] + (s * b[2] - a[2]) * f,
        a[3] + (s * b[3] - a[3]) * f,
    ])
}

fn blend(a: &PilotFrame, b: &PilotFrame, f: f32) -> PilotFrame {
    PilotFrame {
        tick: a.tick,
        position: lerp3(a.position, b.position, f),
        rotation: nlerp(a.rotation, b.rotation, f),
        velocity: lerp3(a.velocity, b.velocity, f),
        angular_velocity: lerp3(a.angular_velocity, b.angular_velocity, f),
        input: PilotInput { ..a.input },
    }
}

/// Projects a frame `dt` seconds ahead along its velocities.
fn extrapolate(f: &PilotFrame, dt: f32) -> PilotFrame {
    let p = f.position;
    let v = f.velocity;
    let w = f.angular_velocity;
    let q = f.rotation;
    // dq/dt = ½ ω ⊗ q (ω in world axes, quaternion x, y, z, w).
    let dq = [
        0.5 * (w[0] * q[3] + w[1] * q[2] - w[2] * q[1]),
        0.5 * (w[1] * q[3] + w[2] * q[0] - w[0] * q[2]),
        0.5 * (w[2] * q[3] + w[0] * q[1] - w[1] * q[0]),
        0.5 * (-w[0] * q[0] - w[1] * q[1] - w[2] * q[2]),
    ];
    PilotFrame {
        position: [p[0] + v[0] * dt, p[1] + v[1] * dt, p[2] + v[2] * dt],
        rotation: normalize([
            q[0] + dq[0] * dt,
            q[1] + dq[1] * dt,
            q[2] + dq[2] * dt,
            q[3] + dq[3] * dt,
        ]),
        ..*f
    }
}

/// The whole table the network thread publishes.
#[derive(Clone, Debug)]
pub(crate) struct RoomView {
    tracks: [Track; MAX_PILOTS],
    pub(crate) stats: [PeerStats; MAX_PEERS],
    pub(crate) stats_len: usize,
    pub(crate) clock_offset_us: i64,
    pub(crate) clock_valid: bool,
    /// The interpolation delay that rides out one lost snapshot at the
    /// rate the host sends us (two snapshot intervals), once known.
    pub(crate) default_delay_us: Option<u64>,
}

impl Default for RoomView {
    fn default() -> Self {
        RoomView {
            tracks: [Track::default(); MAX_PILOTS],
            stats: [PeerStats::default(); MAX_PEERS],
            stats_len: 0,
            clock_offset_us: 0,
            clock_valid: false,
            default_delay_us: None,
        }
    }
}

impl RoomView {
    /// Records a pilot's frame, arrived at `now`; a new pilot takes a free
    /// track.
    pub(crate) fn push_frame(
        &mut self,
        actor: ActorNr,
        frame: PilotFrame,
        host_us: u64,
        now: Instant,
    ) {
        let i = match self
            .tracks
            .iter()
            .position(|t| t.actor == actor && t.len > 0)
        {
            Some(i) => i,
            None => match self.tracks.iter().position(|t| t.len == 0) {
                Some(i) => {
                    self.tracks[i] = Track {
                        actor,
                        ..Track::default()
                    };
                    i
                }
                None => return,
            },
        };
        let track = &mut self.tracks[i];
        track.push(frame, host_us);
        track.arrived += 1;
        track.first_arrival.get_or_insert(now);
    }

    /// Writes each pilot's arrival count into `out`; returns how many.
    pub(crate) fn arrivals(&self, out: &mut [FrameArrivals]) -> usize {
        let counted = self.tracks.iter().filter_map(|t| {
            t.first_arrival.map(|first| FrameArrivals {
                actor: t.actor,
                frames: t.arrived,
                first,
            })
        });
        let mut n = 0;
        for (slot, a) in out.iter_mut().zip(counted) {
            *slot = a;
            n += 1;
        }
        n
    }

    /// Forgets a pilot who left.
    pub(crate) fn remove(&mut self, actor: ActorNr) {
        for t in &mut self.tracks {
            if t.actor == actor {
                *t = Track::default();
            }
        }
    }

    /// Writes each pilot's newest frame into `out`; returns how many.
    pub(crate) fn latest(&self, out: &mut [PilotState]) -> usize {
        let mut n = 0;
        for t in self.tracks.iter().filter(|t| t.len > 0) {
            let (Some(slot), Some(s)) = (out.get_mut(n), t.newest()) else {
                break;
            };
            *slot = PilotState {
                actor: t.actor,
                extrapolated: 0,
                host_time_us: s.host_us,
                frame: s.frame,
            };
            n += 1;
        }
        n
    }

    /// Writes each pilot as at host time `t` into `out`; returns how many.
    pub(crate) fn at(&self, t: u64, out: &mut [PilotState]) -> usize {
        let mut n = 0;
        for track in self.tracks.iter().filter(|t| t.len > 0) {
            let (Some(slot), Some(s)) = (out.get_mut(n), track.at(t)) else {
                break;
            };
            *slot = s;
            n += 1;
        }
        n
    }

    /// Number of pilots with frames.
    #[cfg(test)]
    pub(crate) fn pilot_count(&self) -> usize {
        self.tracks.iter().filter(|t| t.len > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tick: u32, x: f32) -> PilotFrame {
        PilotFrame {
            tick,
            position: [x, 0.0, 0.0],
            rotation: [0.0, 0.0, 0.0, 1.0],
            velocity: [10.0, 0.0, 0.0],
            ..Default::default()
        }
    }

    #[test]
    fn interpolates_between_extrapolates_past_and_holds_after_the_limit() {
        let mut v = RoomView::default();
        v.push_frame(3, frame(1, 0.0), 1_000_000, Instant::now());
        v.push_frame(3, frame(2, 1.0), 1_100_000, Instant::now());
        let mut out = [PilotState::default(); 6];
        assert_eq!(v.at(1_050_000, &mut out), 1);
        assert!((out[0].frame.position[0] - 0.5).abs() < 1e-5);
        assert_eq!(out[0].extrapolated, 0);
        v.at(1_150_000, &mut out);
        assert!(
            (out[0].frame.position[0] - 1.5).abs() < 1e-4,
            "{:?}",
            out[0].frame.position
        );
        assert_eq!(out[0].extrapolated, 1);
        v.at(9_000_000, &mut out);
        assert!(
            (out[0].frame.position[0] - 2.0).abs() < 1e-4,
            "extrapolation must stop after 100 ms"
        );
        v.at(0, &mut out);
        assert_eq!(out[0].frame.position[0], 0.0);
        assert_eq!(v.latest(&mut out), 1);
        assert_eq!(out[0].frame.tick, 2);
    }

    #[test]
    fn pilots_take_free_tracks_and_leave_them() {
        let mut v = RoomView::default();
        let t0 = Instant::now();
        for a in 1..=7u32 {
            v.push_frame(a, frame(1, 0.0), 10, t0);
        }
        v.push_frame(
            3,
            frame(2, 0.0),
            20,
            t0 + std::time::Duration::from_millis(5),
        );
        let mut arrivals = [FrameArrivals {
            actor: 0,
            frames: 0,
            first: t0,
        }; 8];
        assert_eq!(v.arrivals(&mut arrivals), 6);
        let three = arrivals.iter().find(|a| a.actor == 3).expect("pilot 3");
        assert_eq!(
            (three.frames, three.first),
            (2, t0),
            "counted from the first"
        );
        assert_eq!(v.pilot_count(), 6, "a seventh pilot has no track");
        v.remove(2);
        assert_eq!(v.pilot_count(), 5);
        assert_eq!(
            v.arrivals(&mut arrivals),
            5,
            "a pilot who left is forgotten"
        );
        let mut out = [PilotState::default(); 2];
        assert_eq!(
            v.latest(&mut out),
            2,
            "output is capped at the caller's array"
        );
    }
}
