//! Custom tracks: what a track is (its manifest and hash), where a copy
//! may already be (the maps folder, our download cache), and how a
//! downloaded one gets into the game's maps folder without ever exposing a
//! half-written track or writing outside that folder.
//!
//! Pure file system and hashing; the chunked transfer between host and
//! joiner lives in [`transfer`] and drives a [`PartialTrack`].

pub mod cli;
pub mod error;
pub mod generate;
pub mod install;
pub mod manifest;
pub mod store;
pub mod transfer;

pub use error::{IdKind, PathRule, TrackError};
pub use generate::generate_track;
pub use install::{
    sweep_stale_temps, ChunkOutcome, InstallOutcome, InstalledTrack, Installer, MissingRange,
    PartialTrack,
};
pub use manifest::{
    file_track_id, file_track_name, validate_id, validate_relative_path, verify_dir,
    verify_dir_against, verify_file, verify_installed, FileEntry, Layout, Limits, TrackHash,
    TrackManifest, FILE_TRACK_EXTENSION, FILE_TRACK_MAP_ID,
};
pub use store::{find_installed, find_installed_cached, find_installed_manifest, TrackStore};
