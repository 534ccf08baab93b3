//! propwash: community multiplayer for DRL Simulator.
//!
//! A racer who hosts runs a listen server inside the game; pilots and
//! spectators join it directly over UDP. The game reaches all of this through
//! the C ABI in [`ffi`]; the layers below it are usable from Rust as well.

pub mod backend;
pub mod demo;
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod lab;
pub mod lobby;
pub mod proto;
pub mod runtime;
pub mod session;
pub mod track;
pub mod util;
