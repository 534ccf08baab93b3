//! Wire format: the datagram envelope, the quantized per-tick pilot frame and
//! the rare control messages. Pure functions over byte slices.

pub mod control;
pub mod frame;
pub mod room;
pub mod wire;

pub use control::{
    Control, EventTarget, GameEvent, Hello, LeaveReason, Message, PlayerInfo, RefuseReason, Role,
};
pub use frame::{PilotFrame, PilotInput, FRAME_BYTES, INPUT_BYTES};
pub use wire::{WireError, MAX_PAYLOAD, PROTOCOL_VERSION};
