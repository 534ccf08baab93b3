//! A pilot frame coded against an earlier frame of the same pilot and run
//! that the receiver already holds (its base): lossless over the quantized
//! integers of [`Quantized`], so a frame read from a delta is exactly the
//! one read from its full 31-byte form.
//!
//! A delta is a bit string, most significant bit first, padded with zeros
//! to whole bytes:
//!
//! | part             | bits                                                     |
//! |------------------|----------------------------------------------------------|
//! | tick             | 3: ticks after the base (1 to 7); 0: 10 more, 8 to 1031  |
//! | rate             | 3: the physics rate the predictions assume: none, 30, 50, 60, 100, 120, 250 or 500 Hz |
//! | angular velocity | group against the base's                                 |
//! | velocity         | group against the base's, turned by the angular velocity |
//! | position         | group against the base's moved by the mean velocity      |
//! | orientation      | 1: same dropped component as the base; else 0 and its 2-bit index; then a group against the base's turned by the angular velocity |
//! | sticks, buttons  | 1: any changed; then a group of the four sticks and 1 (+ 8 bits) for the buttons |
//!
//! A group is the width `w` of its largest residual (4 bits, 5 for
//! position), then each residual zigzag-coded in `w` bits. A residual is
//! the difference from the prediction, wrapped to its field, so a poor
//! prediction costs bits and never precision. Every prediction is integer
//! arithmetic over values both sides hold, so both compute the same.

use super::frame::{BitReader, BitWriter, Quantized, ANG_BITS, POS_BITS, ROT_BITS, VEL_BITS};
use super::wire::WireError;
use super::FRAME_BYTES;

/// Most ticks a delta may lie after its base.
pub const MAX_DELTA_TICKS: u32 = 7 + (1 << TICK_LONG_BITS);

const TICK_SHORT_BITS: u32 = 3;
const TICK_LONG_BITS: u32 = 10;
const RATE_BITS: u32 = 3;
/// Physics rates (Hz) the predictions may assume; 0 predicts no motion.
const RATES: [u32; 8] = [0, 30, 50, 60, 100, 120, 250, 500];
const STICK_BITS: u32 = 8;
/// The square of one (a unit quaternion's norm) in orientation steps:
/// a step is (1/√2) / 2047.
const ROT_UNIT_SQ: i64 = 2 * 2047 * 2047;
/// Room for the longest delta (253 bits).
const SCRATCH: usize = 32;

/// `x` wrapped into a signed field of `bits`.
fn wrap(x: i64, bits: u32) -> i32 {
    ((x << (64 - bits)) >> (64 - bits)) as i32
}

fn clamp_field(x: i64, bits: u32) -> i64 {
    let half = 1i64 << (bits - 1);
    x.clamp(-half, half - 1)
}

fn zigzag(r: i32) -> u32 {
    ((r << 1) ^ (r >> 31)) as u32
}

fn unzigzag(z: u32) -> i32 {
    ((z >> 1) as i32) ^ -((z & 1) as i32)
}

fn width(z: u32) -> u32 {
    32 - z.leading_zeros()
}

/// Bits of a group's width prefix for fields of `bits`.
const fn prefix_bits(bits: u32) -> u32 {
    32 - bits.leading_zeros()
}

/// `n / d` rounded to nearest (`d > 0`).
fn div_round(n: i64, d: i64) -> i64 {
    (2 * n + d).div_euclid(2 * d)
}

/// The zigzag residuals of `cur` against `pred`, wrapped to fields of `bits`.
fn residuals<const N: usize>(cur: &[i32; N], pred: &[i64; N], bits: u32) -> [u32; N] {
    let mut z = [0u32; N];
    for i in 0..N {
        let p = clamp_field(pred[i], bits);
        z[i] = zigzag(wrap(i64::from(cur[i]) - p, bits));
    }
    z
}

fn undo_residuals<const N: usize>(z: &[u32; N], pred: &[i64; N], bits: u32) -> [i32; N] {
    let mut cur = [0i32; N];
    for i in 0..N {
        let p = clamp_field(pred[i], bits);
        cur[i] = wrap(p + i64::from(unzigzag(z[i])), bits);
    }
    cur
}

fn group_width(z: &[u32]) -> u32 {
    z.iter().fold(0, |w, &z| w.max(width(z)))
}

fn put_group(w: &mut BitWriter<'_>, z: &[u32], bits: u32) {
    let gw = group_width(z);
    w.put(gw, prefix_bits(bits));
    if gw > 0 {
        for &z in z {
            w.put(z, gw);
        }
    }
}

fn widen(v: [i32; 3]) -> [i64; 3] {
    v.map(i64::from)
}

fn cross(a: [i64; 3], b: [i64; 3]) -> [i64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The base's velocity turned with the drone: a drone in a turn carries
/// its velocity round with it (ω × v), ω the mean of both frames'.
fn predict_velocity(base: &Quantized, ang: [i32; 3], ticks: u32, hz: u32) -> [i64; 3] {
    let v = widen(base.velocity);
    if hz == 0 {
        return v;
    }
    // ω (1/16 rad/s) summed over two frames, v (1/16 m/s): Δv in 1/16 m/s.
    let a = [0, 1, 2].map(|i| i64::from(base.angular_velocity[i]) + i64::from(ang[i]));
    let turn = cross(a, v);
    let d = 32 * i64::from(hz);
    [0, 1, 2].map(|i| v[i] + div_round(turn[i] * i64::from(ticks), d))
}

/// The base's position moved by the mean of both frames' velocities.
fn predict_position(base: &Quantized, vel: [i32; 3], ticks: u32, hz: u32) -> [i64; 3] {
    let p = widen(base.position);
    if hz == 0 {
        return p;
    }
    // (v0 + v1) / 2 in 1/16 m/s, over ticks / hz s, in steps of 2 mm.
    let d = 8 * i64::from(hz);
    [0, 1, 2].map(|i| {
        let sum = i64::from(base.velocity[i]) + i64::from(vel[i]);
        p[i] + div_round(sum * 125 * i64::from(ticks), d)
    })
}

/// The base's orientation (all four components, in orientation steps)
/// turned by the mean of both frames' angular velocities, taken as world
/// axes: dq/dt = ω ⊗ q / 2.
fn predict_rotation(base: &Quantized, ang: [i32; 3], ticks: u32, hz: u32) -> [i64; 4] {
    let largest = usize::from(base.largest & 3);
    let mut q = [0i64; 4];
    let mut sum = 0i64;
    let others = (0..4).filter(|&i| i != largest);
    for (&s, i) in base.rotation.iter().zip(others) {
        q[i] = i64::from(s);
        sum += q[i] * q[i];
    }
    q[largest] = ((ROT_UNIT_SQ - sum).max(0) as u64).isqrt() as i64;
    if hz == 0 {
        return q;
    }
    let a = [0, 1, 2].map(|i| i64::from(base.angular_velocity[i]) + i64::from(ang[i]));
    let v = [q[0], q[1], q[2]];
    let c = cross(a, v);
    let dot = a[0] * v[0] + a[1] * v[1] + a[2] * v[2];
    // ω summed over two frames in 1/16 rad/s: ω ⊗ q / 2 · dt = (a ⊗ q) · ticks / (64 hz).
    let d = 64 * i64::from(hz);
    let t = i64::from(ticks);
    let mut out = q;
    for i in 0..3 {
        out[i] += div_round((a[i] * q[3] + c[i]) * t, d);
    }
    out[3] -= div_round(dot * t, d);
    out
}

/// The three components other than `largest` of a predicted orientation,
/// signed so that the dropped one is positive (as the frame sends it).
fn rotation_in(pred: &[i64; 4], largest: u8) -> [i64; 3] {
    let largest = usize::from(largest & 3);
    let sign = if pred[largest] < 0 { -1 } else { 1 };
    let mut small = [0i64; 3];
    let others = (0..4).filter(|&i| i != largest);
    for (s, i) in small.iter_mut().zip(others) {
        *s = sign * pred[i];
    }
    small
}

/// The residuals of `cur` against `base` assuming `hz`.
struct Residuals {
    velocity: [u32; 3],
    position: [u32; 3],
    rotation: [u32; 3],
}

impl Residuals {
    fn new(base: &Quantized, cur: &Quantized, ticks: u32, hz: u32) -> Residuals {
        let v = predict_velocity(base, cur.angular_velocity, ticks, hz);
        let p = predict_position(base, cur.velocity, ticks, hz);
        let q = predict_rotation(base, cur.angular_velocity, ticks, hz);
        Residuals {
            velocity: residuals(&cur.velocity, &v, VEL_BITS),
            position: residuals(&cur.position, &p, POS_BITS),
            rotation: residuals(&cur.rotation, &rotation_in(&q, cur.largest), ROT_BITS),
        }
    }

    /// Bits of the three groups beyond their fixed prefixes.
    fn cost(&self) -> u32 {
        3 * (group_width(&self.velocity)
            + group_width(&self.position)
            + group_width(&self.rotation))
    }
}

/// The indices in [`RATES`] worth trying: the two around the rate at which
/// the mean velocity covers the distance moved along the axis moved most,
/// or all of them when the drone has barely moved.
fn rates_near(base: &Quantized, cur: &Quantized, ticks: u32) -> (usize, usize) {
    let mut axis = 0;
    let mut moved = [0i64; 3];
    for k in 0..3 {
        moved[k] = i64::from(wrap(
            i64::from(cur.position[k]) - i64::from(base.position[k]),
            POS_BITS,
        ));
        if moved[k].abs() > moved[axis].abs() {
            axis = k;
        }
    }
    let sum = i64::from(base.velocity[axis]) + i64::from(cur.velocity[axis]);
    // Within about 3 cm, quantization hides the rate.
    if moved[axis].abs() < 16 || sum.signum() != moved[axis].signum() {
        return (1, RATES.len() - 1);
    }
    // moved = sum · 125 · ticks / (8 hz), in steps of 2 mm.
    let hz = sum * 125 * i64::from(ticks) / (8 * moved[axis]);
    let above = RATES[1..].partition_point(|&r| i64::from(r) < hz) + 1;
    (above.saturating_sub(1).max(1), above.min(RATES.len() - 1))
}

/// Writes `cur` as a delta against `base` into `out` and returns its length,
/// or `None` when the caller should send the full frame instead: another
/// run, a tick not 1 to [`MAX_DELTA_TICKS`] after the base's, a delta no
/// shorter than the full frame, or `out` too small for it.
pub fn encode_delta(base: &Quantized, cur: &Quantized, out: &mut [u8]) -> Option<usize> {
    if base.run != cur.run {
        return None;
    }
    let ticks = cur.tick.wrapping_sub(base.tick);
    if ticks == 0 || ticks > MAX_DELTA_TICKS {
        return None;
    }
    let (mut rate, mut res) = (0, Residuals::new(base, cur, ticks, RATES[0]));
    let mut cost = res.cost();
    let (lo, hi) = rates_near(base, cur, ticks);
    for (i, &hz) in RATES.iter().enumerate().take(hi + 1).skip(lo) {
        let r = Residuals::new(base, cur, ticks, hz);
        let c = r.cost();
        if c < cost {
            (rate, res, cost) = (i, r, c);
        }
    }

    let mut buf = [0u8; SCRATCH];
    let mut w = BitWriter::new(&mut buf);
    if ticks < 1 << TICK_SHORT_BITS {
        w.put(ticks, TICK_SHORT_BITS);
    } else {
        w.put(0, TICK_SHORT_BITS);
        w.put(ticks - (1 << TICK_SHORT_BITS), TICK_LONG_BITS);
    }
    w.put(rate as u32, RATE_BITS);
    let ang = residuals(
        &cur.angular_velocity,
        &widen(base.angular_velocity),
        ANG_BITS,
    );
    put_group(&mut w, &ang, ANG_BITS);
    put_group(&mut w, &res.velocity, VEL_BITS);
    put_group(&mut w, &res.position, POS_BITS);
    if cur.largest == base.largest {
        w.put(1, 1);
    } else {
        w.put(0, 1);
        w.put(u32::from(cur.largest), 2);
    }
    put_group(&mut w, &res.rotation, ROT_BITS);
    if cur.input == base.input {
        w.put(0, 1);
    } else {
        w.put(1, 1);
        let sticks = [0, 1, 2, 3].map(|i| {
            zigzag(wrap(
                i64::from(cur.input[i]) - i64::from(base.input[i]),
                STICK_BITS,
            ))
        });
        put_group(&mut w, &sticks, STICK_BITS);
        if cur.input[4] == base.input[4] {
            w.put(0, 1);
        } else {
            w.put(1, 1);
            w.put(u32::from(cur.input[4]), 8);
        }
    }
    let n = w.finish();
    if n >= FRAME_BYTES || n > out.len() {
        return None;
    }
    out[..n].copy_from_slice(&buf[..n]);
    Some(n)
}

/// A group written by `put_group`: its width, then its residuals.
fn get_group<const N: usize>(r: &mut BitReader<'_>, bits: u32) -> Result<[u32; N], WireError> {
    let gw = r.try_get(prefix_bits(bits), DELTA)?;
    if gw > bits {
        return Err(WireError::Invalid("pilot delta width"));
    }
    let mut z = [0u32; N];
    for z in &mut z {
        *z = r.try_get(gw, DELTA)?;
    }
    Ok(z)
}

/// What a truncated delta is reported as.
const DELTA: &str = "pilot delta";

/// Reads a delta written by [`encode_delta`] against the same `base`, and
/// returns the frame and the bytes it took. Any bytes at all give either a
/// frame within every field's range or an error.
pub fn decode_delta(base: &Quantized, data: &[u8]) -> Result<(Quantized, usize), WireError> {
    let mut r = BitReader::new(data);
    let mut ticks = r.try_get(TICK_SHORT_BITS, DELTA)?;
    if ticks == 0 {
        ticks = r.try_get(TICK_LONG_BITS, DELTA)? + (1 << TICK_SHORT_BITS);
    }
    let hz = RATES[r.try_get(RATE_BITS, DELTA)? as usize];
    let angular_velocity = undo_residuals(
        &get_group::<3>(&mut r, ANG_BITS)?,
        &widen(base.angular_velocity),
        ANG_BITS,
    );
    let v = predict_velocity(base, angular_velocity, ticks, hz);
    let velocity = undo_residuals(&get_group::<3>(&mut r, VEL_BITS)?, &v, VEL_BITS);
    let p = predict_position(base, velocity, ticks, hz);
    let position = undo_residuals(&get_group::<3>(&mut r, POS_BITS)?, &p, POS_BITS);
    let largest = if r.try_get(1, DELTA)? == 1 {
        base.largest
    } else {
        r.try_get(2, DELTA)? as u8
    };
    let q = predict_rotation(base, angular_velocity, ticks, hz);
    let rotation = undo_residuals(
        &get_group::<3>(&mut r, ROT_BITS)?,
        &rotation_in(&q, largest),
        ROT_BITS,
    );
    let mut input = base.input;
    if r.try_get(1, DELTA)? == 1 {
        let sticks = get_group::<4>(&mut r, STICK_BITS)?;
        for i in 0..4 {
            input[i] = wrap(
                i64::from(base.input[i]) + i64::from(unzigzag(sticks[i])),
                STICK_BITS,
            ) as u8;
        }
        if r.try_get(1, DELTA)? == 1 {
            input[4] = r.try_get(8, DELTA)? as u8;
        }
    }
    let n = r.finish("pilot delta padding")?;
    let frame = Quantized {
        tick: base.tick.wrapping_add(ticks),
        run: base.run,
        position,
        largest,
        rotation,
        velocity,
        angular_velocity,
        input,
    };
    Ok((frame, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::tick_newer;
    use crate::proto::{PilotFrame, PilotInput};
    use crate::util::SplitMix64;

    fn full(q: &Quantized) -> [u8; FRAME_BYTES] {
        let mut b = [0u8; FRAME_BYTES];
        q.encode(&mut b);
        b
    }

    /// Every field within its range: the 31-byte form carries it unchanged.
    fn in_range(q: &Quantized) -> bool {
        Quantized::decode(&full(q)) == *q && q.run < 8 && q.largest < 4
    }

    fn any_quantized(g: &mut SplitMix64) -> Quantized {
        let mut b = [0u8; FRAME_BYTES];
        for b in &mut b {
            *b = g.next_u64() as u8;
        }
        Quantized::decode(&b)
    }

    /// Asserts the delta of `cur` against `base` reads back exactly, and
    /// returns its length.
    #[track_caller]
    fn round_trip(base: &Quantized, cur: &Quantized) -> usize {
        let mut out = [0u8; FRAME_BYTES];
        let n = encode_delta(base, cur, &mut out).expect("a delta");
        assert!(n < FRAME_BYTES);
        assert_eq!(decode_delta(base, &out[..n]), Ok((*cur, n)));
        // Self-delimiting: what follows is not read.
        out[n..].fill(0xa5);
        assert_eq!(decode_delta(base, &out), Ok((*cur, n)));
        // Cut short, it is an error, never a frame.
        for cut in 0..n {
            assert!(
                decode_delta(base, &out[..cut]).is_err(),
                "cut at {cut} of {n}"
            );
        }
        n
    }

    fn hover(tick: u32) -> PilotFrame {
        PilotFrame {
            tick,
            position: [10.0, 3.0, -20.0],
            rotation: [0.0, 0.0, 0.0, 1.0],
            velocity: [0.0; 3],
            angular_velocity: [0.0; 3],
            input: PilotInput {
                throttle: 0.5,
                buttons: 1,
                ..PilotInput::default()
            },
        }
    }

    #[test]
    fn the_quantized_form_is_the_full_frame_and_reads_as_decode_does() {
        let mut g = SplitMix64(11);
        for _ in 0..10_000 {
            let q = any_quantized(&mut g);
            let b = full(&q);
            assert_eq!(Quantized::decode(&b), q);
            let (f, run) = q.to_frame();
            let (want, want_run) = PilotFrame::decode(&b);
            assert_eq!(run, want_run);
            assert_eq!(f.tick, want.tick);
            let bits = |f: &PilotFrame| {
                let mut v: Vec<u32> = f.position.iter().map(|x| x.to_bits()).collect();
                v.extend(f.rotation.iter().chain(&f.velocity).map(|x| x.to_bits()));
                v.extend(f.angular_velocity.iter().map(|x| x.to_bits()));
                v.extend(
                    [f.input.throttle, f.input.yaw, f.input.pitch, f.input.roll].map(f32::to_bits),
                );
                v.push(f.input.buttons);
                v
            };
            assert_eq!(bits(&f), bits(&want));
            // Quantizing what was read gives the same integers back.
            assert_eq!(
                Quantized::from_frame(&f, run),
                Quantized::from_frame(&want, run)
            );
        }
        let f = hover(5);
        let mut b = [0u8; FRAME_BYTES];
        f.encode(9, &mut b);
        assert_eq!(Quantized::from_frame(&f, 9), Quantized::decode(&b));
        assert_eq!(
            (Quantized::decode(&b).tick(), Quantized::decode(&b).run()),
            (5, 1)
        );
    }

    #[test]
    fn scripted_flight_deltas_read_back_exactly() {
        for age in 1..=6 {
            for pilot in 0..6 {
                for tick in (1..2000).step_by(7) {
                    let f = |t| Quantized::from_frame(&crate::demo::frame_at(pilot, t, 60), 3);
                    round_trip(&f(tick), &f(tick + age));
                }
            }
        }
    }

    #[test]
    fn median_delta_of_the_scripted_flight_is_at_most_16_bytes() {
        for age in 1..=4 {
            let mut sizes = crate::demo::scripted_flight_delta_sizes(age);
            sizes.sort_unstable();
            let median = sizes[sizes.len() / 2];
            assert!(median <= 16, "base {age} ticks old: median {median} B");
        }
    }

    #[test]
    fn random_frames_read_back_exactly_against_any_base() {
        let mut g = SplitMix64(5);
        let mut unrelated_whole = 0;
        for i in 0..20_000u32 {
            let base = any_quantized(&mut g);
            let mut cur = any_quantized(&mut g);
            cur.run = base.run;
            cur.tick = base.tick.wrapping_add(1 + i % MAX_DELTA_TICKS);
            let mut out = [0u8; FRAME_BYTES];
            // Unrelated frames rarely fit in fewer bytes than the full one.
            match encode_delta(&base, &cur, &mut out) {
                Some(n) => assert_eq!(decode_delta(&base, &out[..n]), Ok((cur, n))),
                None => unrelated_whole += 1,
            }
            // A frame close to its base always does.
            let mut near = base;
            near.tick = base.tick.wrapping_add(1 + i % 8);
            for k in 0..3 {
                near.position[k] = wrap(
                    i64::from(base.position[k]) + (g.next_u64() % 2001) as i64 - 1000,
                    POS_BITS,
                );
                near.velocity[k] = wrap(
                    i64::from(base.velocity[k]) + (g.next_u64() % 41) as i64 - 20,
                    VEL_BITS,
                );
                near.rotation[k] = wrap(
                    i64::from(base.rotation[k]) + (g.next_u64() % 101) as i64 - 50,
                    ROT_BITS,
                );
            }
            near.input[(i % 5) as usize] = g.next_u64() as u8;
            round_trip(&base, &near);
        }
        assert!(unrelated_whole > 10_000, "{unrelated_whole} sent whole");
    }

    #[test]
    fn edges_nan_sign_flips_and_wraps_read_back_exactly() {
        let q = |f: &PilotFrame| Quantized::from_frame(f, 2);
        let base = q(&hover(100));

        // Clamped edges, both ways, and across the whole range at once.
        let mut edge = hover(101);
        edge.position = [1.0e7, -1.0e7, 4194.0];
        edge.velocity = [500.0, -500.0, 63.9];
        edge.angular_velocity = [1000.0, -1000.0, 0.0];
        edge.input.throttle = 7.0;
        edge.input.yaw = -3.0;
        let edge_q = q(&edge);
        round_trip(&base, &edge_q);
        let mut back = edge;
        back.tick = 102;
        back.position = [-1.0e7, 1.0e7, -4194.0];
        round_trip(&edge_q, &q(&back));
        let mut turn = back;
        turn.tick = 103;
        turn.velocity = [-500.0, 500.0, -63.9];
        turn.angular_velocity = [-1000.0, 1000.0, 0.0];
        round_trip(&q(&back), &q(&turn));
        // Residuals wrap: one edge is next to the other.
        turn.tick = 104;
        turn.position = edge.position;
        assert!(round_trip(&q(&back), &q(&turn)) < 12);

        // NaN everywhere reads as zeros and identity.
        let nan = PilotFrame {
            tick: 103,
            position: [f32::NAN; 3],
            rotation: [f32::NAN; 4],
            velocity: [f32::NAN; 3],
            angular_velocity: [f32::INFINITY; 3],
            input: PilotInput {
                throttle: f32::NAN,
                yaw: f32::NAN,
                pitch: f32::NAN,
                roll: f32::NAN,
                buttons: 0,
            },
        };
        round_trip(&edge_q, &q(&nan));
        edge.tick = 104;
        round_trip(&q(&nan), &q(&edge));

        // q and -q are one orientation; the dropped component changes index
        // (and sign) as the drone turns through 90° about y.
        let mut a = hover(200);
        let (s, c) = (0.3f32.sin(), 0.3f32.cos());
        a.rotation = [0.0, s, 0.0, c];
        let mut neg = a;
        neg.rotation = a.rotation.map(|c| -c);
        assert_eq!(q(&a), q(&neg));
        let mut turned = a;
        turned.tick = 201;
        let mut index_changes = 0;
        for k in 0..200 {
            let th = 0.01 * k as f32;
            let mut f = turned;
            f.tick = 201 + k;
            f.rotation = [0.1 * th.cos(), th.sin(), 0.0, -th.cos()];
            let prev = {
                let mut p = f;
                p.tick -= 1;
                let th = th - 0.01;
                p.rotation = [0.1 * th.cos(), th.sin(), 0.0, -th.cos()];
                p
            };
            round_trip(&q(&prev), &q(&f));
            index_changes += usize::from(q(&prev).largest != q(&f).largest);
        }
        assert_eq!(index_changes, 1);
        let mut flipped = a;
        flipped.tick = 201;
        flipped.rotation = [0.0, c, 0.0, -s];
        assert_ne!(q(&a).largest, q(&flipped).largest);
        round_trip(&q(&a), &q(&flipped));

        // Ticks wrap past 2^32 within a run.
        let mut late = hover(u32::MAX - 2);
        let early = {
            let mut f = hover(3);
            f.position[0] += 0.5;
            f
        };
        assert!(tick_newer(2, 3, 2, u32::MAX - 2));
        assert_eq!(
            decode_delta(&q(&late), &delta(&q(&late), &q(&early)))
                .unwrap()
                .0
                .tick(),
            3
        );
        round_trip(&q(&late), &q(&early));
        late.tick = u32::MAX;
        round_trip(&q(&late), &q(&hover(0)));
        round_trip(&q(&hover(0)), &q(&hover(MAX_DELTA_TICKS)));

        // Buttons, sticks, both, and the longest tick distance.
        let mut press = hover(110);
        press.input.buttons = 0x81;
        round_trip(&base, &q(&press));
        press.input.roll = -1.0;
        press.input.yaw = 1.0;
        round_trip(&base, &q(&press));
        let mut stick = hover(100 + MAX_DELTA_TICKS);
        stick.input.pitch = 0.25;
        round_trip(&base, &q(&stick));
        round_trip(&base, &q(&hover(101)));
    }

    fn delta(base: &Quantized, cur: &Quantized) -> Vec<u8> {
        let mut out = [0u8; FRAME_BYTES];
        let n = encode_delta(base, cur, &mut out).expect("a delta");
        out[..n].to_vec()
    }

    #[test]
    fn a_full_frame_is_sent_when_no_delta_fits() {
        let q = |f: &PilotFrame, run| Quantized::from_frame(f, run);
        let base = q(&hover(100), 0);
        let mut out = [0u8; FRAME_BYTES];
        assert_eq!(
            encode_delta(&base, &q(&hover(101), 1), &mut out),
            None,
            "new run"
        );
        assert_eq!(encode_delta(&base, &base, &mut out), None, "same tick");
        assert_eq!(
            encode_delta(&base, &q(&hover(99), 0), &mut out),
            None,
            "older"
        );
        let far = q(&hover(101 + MAX_DELTA_TICKS), 0);
        assert_eq!(encode_delta(&base, &far, &mut out), None, "too far ahead");
        let cur = q(&hover(101), 0);
        let n = encode_delta(&base, &cur, &mut out).unwrap();
        assert_eq!(
            encode_delta(&base, &cur, &mut out[..n - 1]),
            None,
            "no room"
        );
        assert_eq!(encode_delta(&base, &cur, &mut out[..n]), Some(n));
        // A hovering drone: ticks, rate and five empty groups.
        assert!(n <= 4, "{n} B");
    }

    #[test]
    fn random_bytes_give_an_error_or_a_frame_in_range() {
        let mut g = SplitMix64(99);
        let mut data = [0u8; 40];
        let (mut ok, mut err) = (0, 0);
        for _ in 0..200_000 {
            let base = any_quantized(&mut g);
            let len = (g.next_u64() % 41) as usize;
            for b in &mut data[..len] {
                *b = g.next_u64() as u8;
            }
            match decode_delta(&base, &data[..len]) {
                Ok((q, n)) => {
                    ok += 1;
                    assert!(n <= len);
                    assert!(in_range(&q), "{q:?}");
                    assert_eq!(
                        (
                            q.run(),
                            q.tick().wrapping_sub(base.tick()) - 1 < MAX_DELTA_TICKS
                        ),
                        (base.run(), true)
                    );
                    assert_eq!(decode_delta(&base, &data[..n]), Ok((q, n)));
                }
                Err(WireError::Truncated(_) | WireError::Invalid(_)) => err += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert!(ok > 1000 && err > 1000, "{ok} read, {err} refused");
    }
}
