//! Synthetic tracks for tests and the demo: a folder of files with
//! deterministic pseudo-random content, so two machines given the same
//! arguments build byte-identical tracks.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::error::{io_err, TrackError};
use super::install::create_new;
use super::manifest::{Limits, TrackManifest};
use crate::util::SplitMix64;

/// Files per sub-folder of a generated track.
const FILES_PER_DIR: usize = 500;

/// Writes a track of `files` files holding `total_bytes` bytes in all (split
/// as evenly as possible; files may be empty) into `dir`, created if
/// missing; the files must not exist yet. Paths are
/// `part-NN/piece-NNNNN.bin`; content comes from `seed`. Returns the
/// track's manifest, read back from disk with limits raised to fit (so a
/// generated track may be larger than the default caps, for tests of them).
pub fn generate_track(
    dir: &Path,
    map_id: &str,
    track_id: &str,
    total_bytes: u64,
    files: usize,
    seed: u64,
) -> Result<TrackManifest, TrackError> {
    if files == 0 {
        return Err(TrackError::EmptyTrack {
            path: dir.display().to_string(),
        });
    }
    let n = files as u64;
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..files {
        let sub = dir.join(format!("part-{:02}", i / FILES_PER_DIR));
        fs::create_dir_all(&sub).map_err(io_err("creating", &sub))?;
        let path = sub.join(format!("piece-{i:05}.bin"));
        let size = total_bytes / n + u64::from((i as u64) < total_bytes % n);
        let mut rng = SplitMix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut out = std::io::BufWriter::new(create_new(&path)?);
        let mut left = size;
        while left > 0 {
            let take = left.min(buf.len() as u64) as usize;
            for word in buf[..take].chunks_mut(8) {
                let r = rng.next_u64().to_le_bytes();
                word.copy_from_slice(&r[..word.len()]);
            }
            out.write_all(&buf[..take])
                .map_err(io_err("writing", &path))?;
            left -= take as u64;
        }
        out.flush().map_err(io_err("writing", &path))?;
    }
    let defaults = Limits::default();
    let limits = Limits {
        max_total_bytes: defaults.max_total_bytes.max(total_bytes),
        max_files: defaults.max_files.max(files),
        ..defaults
    };
    TrackManifest::from_dir(dir, map_id, track_id, &limits)
}
