//! One pilot's state for one physics tick, and its quantized wire form.
//!
//! The layout is fixed-size (31 bytes) so a snapshot can be sliced without
//! parsing. Precision, chosen for what a racer can see at 60 Hz:
//!
//! | field            | bits      | step            | range              | worst error      |
//! |------------------|-----------|-----------------|--------------------|------------------|
//! | tick             | 32        | 1               | full `u32`         | exact            |
//! | position x/y/z   | 3 × 22    | 2 mm            | ±4194 m            | 1 mm             |
//! | orientation      | 2 + 3×12  | smallest-three  | any unit quaternion| < 0.1°           |
//! | velocity         | 3 × 11    | 1/16 m/s        | ±64 m/s            | 0.031 m/s        |
//! | angular velocity | 3 × 12    | 1/16 rad/s      | ±128 rad/s         | 0.031 rad/s      |
//! | throttle         | 8         | 1/255           | 0..1               | 0.002            |
//! | yaw/pitch/roll   | 3 × 8     | 1/127           | -1..1              | 0.004            |
//! | buttons          | 8         | -               | 8 flags            | exact            |
//! | run              | 3         | 1               | 0..7, wrapping     | exact            |
//!
//! Values outside a range are clamped to its edge (a drone faster than 64 m/s
//! is shown at 64 m/s); NaN encodes as zero. The tick is sent whole because
//! every pilot counts its own physics ticks and a snapshot mixes pilots.
//!
//! The same integers also travel as a delta against an earlier frame of the
//! same pilot and run that the receiver holds ([`Quantized`],
//! [`crate::proto::delta`]): lossless, so the table holds for it too; the
//! demo's flight takes 8 to 12 bytes a frame that way (median) against a
//! base 1 to 6 ticks old.
//!
//! Ticks compare as wrapping sequence numbers within a run; a pilot starts
//! a new run when its tick goes back (a race restart, 5000 → 1), and the
//! others follow the new run at once ([`tick_newer`]).

use super::wire::WireError;

/// Bytes of one encoded pilot frame.
pub const FRAME_BYTES: usize = 31;
/// Bytes of one encoded input (sticks and buttons), used for redundancy.
pub const INPUT_BYTES: usize = 5;
/// Runs count modulo this on the wire (three bits of the frame).
pub(crate) const RUNS: u8 = 8;

/// Whether the frame of `tick` in `run` comes after the one of `than_tick`
/// in `than_run`: in the same run, a later tick as wrapping sequence
/// numbers (so ticks may wrap past 2^32); across runs, a run up to three
/// restarts ahead (runs count modulo 8) is newer and one behind is a late
/// packet of an earlier run.
pub fn tick_newer(run: u8, tick: u32, than_run: u8, than_tick: u32) -> bool {
    if run % RUNS == than_run % RUNS {
        tick != than_tick && tick.wrapping_sub(than_tick) < 1 << 31
    } else {
        run.wrapping_sub(than_run) % RUNS <= 3
    }
}

/// The run after `run`.
pub fn next_run(run: u8) -> u8 {
    run.wrapping_add(1) % RUNS
}

pub(crate) const POS_BITS: u32 = 22;
const POS_STEP: f32 = 0.002;
pub(crate) const ROT_BITS: u32 = 12;
pub(crate) const VEL_BITS: u32 = 11;
const VEL_STEP: f32 = 1.0 / 16.0;
pub(crate) const ANG_BITS: u32 = 12;
const ANG_STEP: f32 = 1.0 / 16.0;

/// The sticks and buttons of one tick.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PilotInput {
    /// Throttle, 0 (idle) to 1 (full).
    pub throttle: f32,
    /// Yaw stick, -1 to 1.
    pub yaw: f32,
    /// Pitch stick, -1 to 1.
    pub pitch: f32,
    /// Roll stick, -1 to 1.
    pub roll: f32,
    /// Eight button or state flags (arm, flip-over, ...), game-defined.
    pub buttons: u32,
}

/// One pilot's drone at one physics tick, in the game's units (metres,
/// metres per second, radians per second) and Unity's axes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PilotFrame {
    /// The pilot's own physics tick number.
    pub tick: u32,
    /// Position, metres.
    pub position: [f32; 3],
    /// Orientation as a unit quaternion x, y, z, w.
    pub rotation: [f32; 4],
    /// Linear velocity, metres per second.
    pub velocity: [f32; 3],
    /// Angular velocity, radians per second.
    pub angular_velocity: [f32; 3],
    /// Sticks and buttons of this tick.
    pub input: PilotInput,
}

/// Writes bits most-significant first into a fixed buffer, through a 64-bit
/// accumulator (at most 7 + 32 bits are ever pending).
pub(crate) struct BitWriter<'a> {
    out: &'a mut [u8],
    acc: u64,
    pending: u32,
    pos: usize,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> Self {
        BitWriter {
            out,
            acc: 0,
            pending: 0,
            pos: 0,
        }
    }

    pub(crate) fn put(&mut self, value: u32, bits: u32) {
        let mask = if bits == 32 {
            u64::from(u32::MAX)
        } else {
            (1u64 << bits) - 1
        };
        self.acc = (self.acc << bits) | (u64::from(value) & mask);
        self.pending += bits;
        while self.pending >= 8 {
            self.pending -= 8;
            self.out[self.pos] = (self.acc >> self.pending) as u8;
            self.pos += 1;
        }
    }

    /// Pads the last partial byte with zeros so equal values encode equally;
    /// returns the bytes written.
    pub(crate) fn finish(&mut self) -> usize {
        if self.pending > 0 {
            let pad = 8 - self.pending;
            self.put(0, pad);
        }
        self.pos
    }
}

/// Reads bits most-significant first; past the end of the data, an error.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    acc: u64,
    available: u32,
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            acc: 0,
            available: 0,
            pos: 0,
        }
    }

    /// The next `bits` (at most 32), or an error naming `what` when the
    /// data ends first.
    pub(crate) fn try_get(&mut self, bits: u32, what: &'static str) -> Result<u32, WireError> {
        while self.available < bits {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(WireError::Truncated(what));
            };
            self.acc = (self.acc << 8) | u64::from(b);
            self.pos += 1;
            self.available += 8;
        }
        self.available -= bits;
        Ok(((self.acc >> self.available) & ((1u64 << bits) - 1)) as u32)
    }

    /// [`BitReader::try_get`] on a fixed-size form whose length covers
    /// every field it reads (a full frame, an input): it never runs out.
    fn get(&mut self, bits: u32) -> u32 {
        self.try_get(bits, "fixed-size frame").unwrap_or(0)
    }

    /// Bytes read, once the last byte's padding is checked to be zeros.
    pub(crate) fn finish(&self, what: &'static str) -> Result<usize, WireError> {
        if self.acc & ((1u64 << self.available) - 1) != 0 {
            return Err(WireError::Invalid(what));
        }
        Ok(self.pos)
    }
}

/// Quantizes `v` with `step` into a signed field of `bits` (clamped to it).
fn q_signed(v: f32, step: f32, bits: u32) -> i32 {
    let max = (1i64 << (bits - 1)) - 1;
    let min = -(1i64 << (bits - 1));
    let v = if v.is_finite() { v } else { 0.0 };
    ((v / step).round() as i64).clamp(min, max) as i32
}

/// A signed field of `bits` as stored: offset-binary.
fn to_raw(q: i32, bits: u32) -> u32 {
    (i64::from(q) + (1i64 << (bits - 1))) as u32
}

fn from_raw(raw: u32, bits: u32) -> i32 {
    (i64::from(raw) - (1i64 << (bits - 1))) as i32
}

fn q_unit(v: f32, levels: u32) -> u32 {
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (v * levels as f32).round() as u32
}

fn q_stick(v: f32) -> u8 {
    let v = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    ((v * 127.0).round() as i32 + 127) as u8
}

fn dq_stick(raw: u8) -> f32 {
    ((raw as i32 - 127) as f32 / 127.0).clamp(-1.0, 1.0)
}

/// Normalizes a quaternion; a zero or non-finite one becomes identity.
fn normalized(q: [f32; 4]) -> [f32; 4] {
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    if !n.is_finite() || n < 1e-6 {
        return [0.0, 0.0, 0.0, 1.0];
    }
    [q[0] / n, q[1] / n, q[2] / n, q[3] / n]
}

const ROT_RANGE: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// The three small components lie within ±1/√2; zero is exactly representable.
fn rot_step() -> f32 {
    ROT_RANGE / ((1u32 << (ROT_BITS - 1)) - 1) as f32
}

/// The smallest-three form of an orientation: the index of the dropped
/// (largest, made positive) component and the other three, in order.
fn q_rotation(q: [f32; 4]) -> (u8, [i32; 3]) {
    let q = normalized(q);
    let mut largest = 0;
    for i in 1..4 {
        if q[i].abs() > q[largest].abs() {
            largest = i;
        }
    }
    // q and -q are the same rotation: send the one whose dropped part is positive.
    let sign = if q[largest] < 0.0 { -1.0 } else { 1.0 };
    let mut small = [0i32; 3];
    let others = (0..4).filter(|&i| i != largest);
    for (s, i) in small.iter_mut().zip(others) {
        *s = q_signed(q[i] * sign, rot_step(), ROT_BITS);
    }
    (largest as u8, small)
}

fn dq_rotation(largest: u8, small: [i32; 3]) -> [f32; 4] {
    let largest = usize::from(largest & 3);
    let mut q = [0.0f32; 4];
    let mut sum = 0.0;
    let others = (0..4).filter(|&i| i != largest);
    for (&s, i) in small.iter().zip(others) {
        let c = (s as f32 * rot_step()).clamp(-ROT_RANGE, ROT_RANGE);
        q[i] = c;
        sum += c * c;
    }
    q[largest] = (1.0 - sum).max(0.0).sqrt();
    normalized(q)
}

fn q_input(input: &PilotInput) -> [u8; INPUT_BYTES] {
    [
        q_unit(input.throttle, 255) as u8,
        q_stick(input.yaw),
        q_stick(input.pitch),
        q_stick(input.roll),
        (input.buttons & 0xff) as u8,
    ]
}

fn dq_input(raw: [u8; INPUT_BYTES]) -> PilotInput {
    PilotInput {
        throttle: f32::from(raw[0]) / 255.0,
        yaw: dq_stick(raw[1]),
        pitch: dq_stick(raw[2]),
        roll: dq_stick(raw[3]),
        buttons: u32::from(raw[4]),
    }
}

/// One frame as its quantized integers, and its run: exactly what the
/// 31-byte form carries, so it converts to and from that form without loss,
/// and two frames that encode alike compare equal. The delta form
/// ([`crate::proto::delta`]) codes one against an earlier one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quantized {
    pub(crate) tick: u32,
    /// 0 to 7.
    pub(crate) run: u8,
    /// Steps of 2 mm, within 22 signed bits.
    pub(crate) position: [i32; 3],
    /// Index (0 to 3) of the orientation component left out.
    pub(crate) largest: u8,
    /// The other three components, in order, within 12 signed bits.
    pub(crate) rotation: [i32; 3],
    /// Steps of 1/16 m/s, within 11 signed bits.
    pub(crate) velocity: [i32; 3],
    /// Steps of 1/16 rad/s, within 12 signed bits.
    pub(crate) angular_velocity: [i32; 3],
    /// Throttle, yaw, pitch and roll as sent, and the buttons.
    pub(crate) input: [u8; INPUT_BYTES],
}

impl Quantized {
    /// Quantizes `frame` of `run` (taken modulo 8) as [`PilotFrame::encode`]
    /// does: clamped to each range, NaN as zero.
    pub fn from_frame(frame: &PilotFrame, run: u8) -> Quantized {
        let (largest, rotation) = q_rotation(frame.rotation);
        Quantized {
            tick: frame.tick,
            run: run % RUNS,
            position: frame.position.map(|v| q_signed(v, POS_STEP, POS_BITS)),
            largest,
            rotation,
            velocity: frame.velocity.map(|v| q_signed(v, VEL_STEP, VEL_BITS)),
            angular_velocity: frame
                .angular_velocity
                .map(|v| q_signed(v, ANG_STEP, ANG_BITS)),
            input: q_input(&frame.input),
        }
    }

    /// The frame a receiver reads, and its run.
    pub fn to_frame(&self) -> (PilotFrame, u8) {
        let frame = PilotFrame {
            tick: self.tick,
            position: self.position.map(|q| q as f32 * POS_STEP),
            rotation: dq_rotation(self.largest, self.rotation),
            velocity: self.velocity.map(|q| q as f32 * VEL_STEP),
            angular_velocity: self.angular_velocity.map(|q| q as f32 * ANG_STEP),
            input: dq_input(self.input),
        };
        (frame, self.run)
    }

    /// The pilot's physics tick.
    pub fn tick(&self) -> u32 {
        self.tick
    }

    /// The run (0 to 7).
    pub fn run(&self) -> u8 {
        self.run
    }

    /// Writes the full 31-byte form ([`PilotFrame::encode`]'s).
    pub fn encode(&self, out: &mut [u8; FRAME_BYTES]) {
        let mut w = BitWriter::new(out);
        w.put(self.tick, 32);
        for q in self.position {
            w.put(to_raw(q, POS_BITS), POS_BITS);
        }
        w.put(u32::from(self.largest), 2);
        for q in self.rotation {
            w.put(to_raw(q, ROT_BITS), ROT_BITS);
        }
        for q in self.velocity {
            w.put(to_raw(q, VEL_BITS), VEL_BITS);
        }
        for q in self.angular_velocity {
            w.put(to_raw(q, ANG_BITS), ANG_BITS);
        }
        for b in self.input {
            w.put(u32::from(b), 8);
        }
        w.put(u32::from(self.run), 3);
        w.finish();
    }

    /// Reads the full 31-byte form; every 31 bytes are some frame.
    pub fn decode(data: &[u8; FRAME_BYTES]) -> Quantized {
        let mut r = BitReader::new(data);
        let tick = r.get(32);
        let position = [(); 3].map(|_| from_raw(r.get(POS_BITS), POS_BITS));
        let largest = r.get(2) as u8;
        let rotation = [(); 3].map(|_| from_raw(r.get(ROT_BITS), ROT_BITS));
        let velocity = [(); 3].map(|_| from_raw(r.get(VEL_BITS), VEL_BITS));
        let angular_velocity = [(); 3].map(|_| from_raw(r.get(ANG_BITS), ANG_BITS));
        let input = [(); INPUT_BYTES].map(|_| r.get(8) as u8);
        let run = r.get(3) as u8;
        Quantized {
            tick,
            run,
            position,
            largest,
            rotation,
            velocity,
            angular_velocity,
            input,
        }
    }
}

impl PilotFrame {
    /// Writes the quantized frame of `run` into `out` (exactly
    /// [`FRAME_BYTES`]).
    pub fn encode(&self, run: u8, out: &mut [u8; FRAME_BYTES]) {
        Quantized::from_frame(self, run).encode(out);
    }

    /// Reads a frame written by [`PilotFrame::encode`], and its run.
    pub fn decode(data: &[u8; FRAME_BYTES]) -> (PilotFrame, u8) {
        Quantized::decode(data).to_frame()
    }
}

impl PilotInput {
    /// Writes the quantized input into `out` (exactly [`INPUT_BYTES`]).
    pub fn encode(&self, out: &mut [u8; INPUT_BYTES]) {
        *out = q_input(self);
    }

    /// Reads an input written by [`PilotInput::encode`].
    pub fn decode(data: &[u8; INPUT_BYTES]) -> PilotInput {
        dq_input(*data)
    }
}

/// The angle in degrees between two orientations (0 when equal).
pub fn rotation_error_degrees(a: [f32; 4], b: [f32; 4]) -> f32 {
    let a = normalized(a);
    let b = normalized(b);
    let dot = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3])
        .abs()
        .min(1.0);
    (2.0 * (dot as f64).acos()).to_degrees() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator so the tests need no extra crate.
    struct Lcg(u64);
    impl Lcg {
        fn unit(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32) / ((1u64 << 24) as f32)
        }
        fn range(&mut self, lo: f32, hi: f32) -> f32 {
            lo + (hi - lo) * self.unit()
        }
    }

    fn random_frame(g: &mut Lcg) -> PilotFrame {
        let q = normalized([
            g.range(-1.0, 1.0),
            g.range(-1.0, 1.0),
            g.range(-1.0, 1.0),
            g.range(-1.0, 1.0),
        ]);
        PilotFrame {
            tick: (g.unit() * u32::MAX as f32) as u32,
            position: [
                g.range(-4000.0, 4000.0),
                g.range(-50.0, 500.0),
                g.range(-4000.0, 4000.0),
            ],
            rotation: q,
            velocity: [
                g.range(-60.0, 60.0),
                g.range(-60.0, 60.0),
                g.range(-60.0, 60.0),
            ],
            angular_velocity: [
                g.range(-120.0, 120.0),
                g.range(-120.0, 120.0),
                g.range(-120.0, 120.0),
            ],
            input: PilotInput {
                throttle: g.unit(),
                yaw: g.range(-1.0, 1.0),
                pitch: g.range(-1.0, 1.0),
                roll: g.range(-1.0, 1.0),
                buttons: (g.unit() * 255.0) as u32,
            },
        }
    }

    #[test]
    fn quantization_error_stays_within_documented_bounds() {
        let mut g = Lcg(7);
        let mut worst_pos = 0.0f32;
        let mut worst_rot = 0.0f32;
        for _ in 0..100_000 {
            let f = random_frame(&mut g);
            let mut buf = [0u8; FRAME_BYTES];
            let run = (g.unit() * 8.0) as u8 % RUNS;
            f.encode(run, &mut buf);
            let (d, back) = PilotFrame::decode(&buf);
            assert_eq!((d.tick, back), (f.tick, run));
            assert_eq!(d.input.buttons, f.input.buttons);
            for i in 0..3 {
                worst_pos = worst_pos.max((d.position[i] - f.position[i]).abs());
                assert!((d.velocity[i] - f.velocity[i]).abs() <= VEL_STEP / 2.0 + 1e-4);
                assert!(
                    (d.angular_velocity[i] - f.angular_velocity[i]).abs() <= ANG_STEP / 2.0 + 1e-4
                );
            }
            worst_rot = worst_rot.max(rotation_error_degrees(d.rotation, f.rotation));
            assert!((d.input.throttle - f.input.throttle).abs() <= 0.5 / 255.0 + 1e-6);
            assert!((d.input.roll - f.input.roll).abs() <= 0.5 / 127.0 + 1e-6);
        }
        // f32 positions near 4 km carry ~0.25 mm of their own rounding.
        assert!(worst_pos <= 0.001 + 0.0003, "position error {worst_pos} m");
        assert!(worst_rot <= 0.1, "orientation error {worst_rot} degrees");
    }

    #[test]
    fn out_of_range_and_nan_values_clamp_instead_of_wrapping() {
        let f = PilotFrame {
            tick: 9,
            position: [1.0e7, f32::NAN, -1.0e7],
            rotation: [0.0, 0.0, 0.0, 0.0],
            velocity: [500.0, -500.0, f32::INFINITY],
            angular_velocity: [1000.0, 0.0, 0.0],
            input: PilotInput {
                throttle: 3.0,
                yaw: -9.0,
                pitch: f32::NAN,
                roll: 0.5,
                buttons: 0x1ff,
            },
        };
        let mut buf = [0u8; FRAME_BYTES];
        f.encode(9, &mut buf);
        let (d, run) = PilotFrame::decode(&buf);
        assert_eq!(run, 1, "runs wrap at eight");
        assert!(d.position[0] > 4000.0 && d.position[2] < -4000.0);
        assert_eq!(d.position[1], 0.0);
        assert_eq!(d.rotation, [0.0, 0.0, 0.0, 1.0]);
        assert!(d.velocity[0] > 63.0 && d.velocity[1] < -63.0 && d.velocity[2] == 0.0);
        assert!(d.angular_velocity[0] > 127.0);
        assert_eq!(d.input.throttle, 1.0);
        assert_eq!(d.input.yaw, -1.0);
        assert_eq!(d.input.pitch, 0.0);
        assert_eq!(d.input.buttons, 0xff);
    }

    #[test]
    fn equal_frames_encode_to_equal_bytes_and_input_round_trips() {
        let mut g = Lcg(3);
        let f = random_frame(&mut g);
        let (mut a, mut b) = ([0u8; FRAME_BYTES], [0xffu8; FRAME_BYTES]);
        f.encode(5, &mut a);
        f.encode(5, &mut b);
        assert_eq!(a, b);
        let mut i = [0u8; INPUT_BYTES];
        f.input.encode(&mut i);
        let back = PilotInput::decode(&i);
        assert!((back.yaw - f.input.yaw).abs() < 0.005);
    }

    #[test]
    fn ticks_compare_as_wrapping_sequences_within_a_run_and_a_new_run_wins() {
        assert!(tick_newer(0, 2, 0, 1));
        assert!(!tick_newer(0, 1, 0, 2));
        assert!(!tick_newer(0, 7, 0, 7));
        // Past 2^32: 3 comes after u32::MAX - 2.
        assert!(tick_newer(0, 3, 0, u32::MAX - 2));
        assert!(!tick_newer(0, u32::MAX - 2, 0, 3));
        // A race restart: run 1's tick 1 beats run 0's tick 5000, and a late
        // packet of run 0 loses to run 1.
        assert!(tick_newer(1, 1, 0, 5000));
        assert!(!tick_newer(0, 5001, 1, 1));
        // Runs wrap too.
        assert_eq!(next_run(7), 0);
        assert!(tick_newer(0, 1, 7, 900));
        assert!(tick_newer(2, 1, 7, 900));
        assert!(!tick_newer(7, 900, 2, 1));
    }
}
