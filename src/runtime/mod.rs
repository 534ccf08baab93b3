//! The network thread: owns the socket, drives the sans-IO core and bridges
//! to the game thread without ever making it wait.

pub mod triple;
