//! Scripted flight for the demo's pilots: each pilot laps its own figure-8
//! (a lemniscate of Gerono) at its own height and pace. A frame is a pure
//! function of (pilot, tick), so every receiver can recompute what it should
//! have read and check the frame that actually arrived.

use std::f64::consts::{PI, TAU};

use crate::proto::{encode_delta, PilotFrame, PilotInput, Quantized, FRAME_BYTES};
use crate::session::MAX_PILOTS;

/// Half the length of the figure-8, metres.
const REACH_M: f64 = 60.0;
/// Lap time of pilot 0; each further pilot is a little slower.
const LAP_S: f64 = 14.0;
const LAP_STEP_S: f64 = 0.7;
const GRAVITY: f64 = 9.81;
/// Armed flag in the buttons.
const ARMED: u32 = 1;

/// Largest per-axis position error the frame codec allows (1 mm), with room
/// for f32 rounding.
pub(crate) const POSITION_TOLERANCE_M: f32 = 0.0015;

/// The frame pilot `pilot` (0 is the host) pushes at physics tick `tick`
/// of a game ticking `physics_hz` times a second.
pub(crate) fn frame_at(pilot: usize, tick: u32, physics_hz: u32) -> PilotFrame {
    let p = pilot as f64;
    let t = f64::from(tick) / f64::from(physics_hz.max(1));
    let w = TAU / (LAP_S + LAP_STEP_S * p);
    let th = w * t + p * TAU / 6.0;
    let (s1, c1) = th.sin_cos();
    let (s2, c2) = (2.0 * th).sin_cos();
    let a = REACH_M;
    // Path, velocity and acceleration of the ground track (x, z).
    let (x, z) = (a * s1, 0.5 * a * s2);
    let (vx, vz) = (a * w * c1, a * w * c2);
    let (ax, az) = (-a * w * w * s1, -2.0 * a * w * w * s2);
    // Height: each pilot has its own band, with a gentle swell.
    let hp = 2.0 * th + p;
    let y = 4.0 + 1.5 * p + hp.sin();
    let vy = 2.0 * w * hp.cos();
    let ground = (vx * vx + vz * vz).max(1e-9);
    let speed = ground.sqrt();
    // Nose along the ground track (Unity: yaw about +y, forward +z), banked
    // into the turn as a coordinated turn would, pitched forward with speed.
    let yaw = vx.atan2(vz);
    let yaw_rate = (vz * ax - vx * az) / ground;
    let bank = -(speed * yaw_rate / GRAVITY).atan();
    let pitch = 0.35 * speed / 40.0;
    let rotation = mul(
        mul(axis_angle(1, yaw), axis_angle(0, pitch)),
        axis_angle(2, bank),
    );
    PilotFrame {
        tick,
        position: [x as f32, y as f32, z as f32],
        rotation: rotation.map(|c| c as f32),
        velocity: [vx as f32, vy as f32, vz as f32],
        angular_velocity: [0.0, yaw_rate as f32, 0.0],
        input: PilotInput {
            throttle: (0.45 + 0.1 * vy) as f32,
            yaw: (yaw_rate / 3.0).clamp(-1.0, 1.0) as f32,
            pitch: (pitch / 0.5).clamp(-1.0, 1.0) as f32,
            roll: (bank / (PI / 4.0)).clamp(-1.0, 1.0) as f32,
            buttons: ARMED,
        },
    }
}

/// Physics rate of the delta measurement.
const DELTA_PHYSICS_HZ: u32 = 60;
/// Ticks per pilot in the delta measurement: 20 s, a full lap of the
/// slowest pilot.
const DELTA_TICKS: u32 = 20 * DELTA_PHYSICS_HZ;

/// Bytes of every frame of every pilot the demo flies (a full room, 20 s at
/// 60 Hz physics) sent as a delta against its frame `base_age` ticks
/// earlier, or whole ([`FRAME_BYTES`]) where no delta is shorter.
#[doc(hidden)]
pub fn scripted_flight_delta_sizes(base_age: u32) -> Vec<usize> {
    let quantized =
        |pilot, tick| Quantized::from_frame(&frame_at(pilot, tick, DELTA_PHYSICS_HZ), 0);
    let mut sizes = Vec::with_capacity(MAX_PILOTS * DELTA_TICKS as usize);
    let mut out = [0u8; FRAME_BYTES];
    for pilot in 0..MAX_PILOTS {
        for tick in 1..=DELTA_TICKS {
            let base = quantized(pilot, tick);
            let cur = quantized(pilot, tick + base_age);
            sizes.push(encode_delta(&base, &cur, &mut out).unwrap_or(FRAME_BYTES));
        }
    }
    sizes
}

/// True when `got` is the frame pilot `pilot` pushed at `got.tick`, up to
/// the codec's quantization.
pub(crate) fn matches(pilot: usize, got: &PilotFrame, physics_hz: u32) -> bool {
    let want = frame_at(pilot, got.tick, physics_hz);
    got.position
        .iter()
        .zip(want.position)
        .all(|(g, w)| (g - w).abs() <= POSITION_TOLERANCE_M)
}

/// A rotation of `angle` radians about axis 0 (x), 1 (y) or 2 (z), as x, y, z, w.
fn axis_angle(axis: usize, angle: f64) -> [f64; 4] {
    let (s, c) = (angle / 2.0).sin_cos();
    let mut q = [0.0, 0.0, 0.0, c];
    q[axis] = s;
    q
}

/// Hamilton product `a ⊗ b` (apply `b`, then `a`).
fn mul(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    let [ax, ay, az, aw] = a;
    let [bx, by, bz, bw] = b;
    [
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_is_the_slope_of_the_path_and_stays_in_the_codec_range() {
        let hz = 120;
        for pilot in 0..6 {
            for tick in (1..20_000).step_by(97) {
                let a = frame_at(pilot, tick, hz);
                let b = frame_at(pilot, tick + 1, hz);
                for k in 0..3 {
                    let slope = (b.position[k] - a.position[k]) * hz as f32;
                    assert!(
                        (slope - a.velocity[k]).abs() < 0.5,
                        "pilot {pilot} tick {tick} axis {k}: slope {slope} vs {}",
                        a.velocity[k]
                    );
                    assert!(a.velocity[k].abs() < 64.0, "beyond the codec's ±64 m/s");
                }
                let n: f32 = a.rotation.iter().map(|c| c * c).sum();
                assert!((n - 1.0).abs() < 1e-5, "unit quaternion");
                assert!(a.position[1] > 2.0, "stays above the ground");
            }
        }
    }

    #[test]
    fn a_received_frame_is_checked_against_the_script() {
        let f = frame_at(2, 500, 120);
        let mut enc = [0u8; crate::proto::FRAME_BYTES];
        f.encode(0, &mut enc);
        let (back, _) = PilotFrame::decode(&enc);
        assert!(matches(2, &back, 120), "survives quantization");
        assert!(!matches(3, &back, 120), "another pilot's path");
        let mut off = back;
        off.position[0] += 0.01;
        assert!(!matches(2, &off, 120), "a centimetre off is caught");
    }
}
