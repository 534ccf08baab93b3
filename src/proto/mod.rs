//! Wire format: the datagram envelope, the quantized per-tick pilot frame
//! (whole, or as a delta against an earlier one) and the rare control
//! messages. Pure functions over byte slices.

pub mod control;
pub mod delta;
pub mod frame;
pub mod room;
pub mod wire;

pub use control::{
    Control, EventTarget, GameEvent, Hello, LeaveReason, Message, PlayerInfo, RefuseReason, Role,
};
pub use delta::{decode_delta, encode_delta, MAX_DELTA_TICKS};
pub use frame::{PilotFrame, PilotInput, Quantized, FRAME_BYTES, INPUT_BYTES};
pub use wire::{WireError, MAX_PAYLOAD, PROTOCOL_VERSION};
