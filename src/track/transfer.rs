//! Chunked track transfer between host and joiner, sans-IO.
//!
//! Messages ride the link's bulk lane, which is reliable, ordered and
//! de-duplicated by us (laminar only carries datagrams) and is scheduled
//! after the control lane and the per-tick sections, within a byte budget
//! the host paces per joiner and for the room. On top of that:
//!
//! 1. The joiner asks for the manifest; the host sends it in parts; the
//!    joiner checks it against the track hash the room announced.
//! 2. The joiner opens (or resumes) a partial download and asks for what it
//!    lacks; the host streams 16 KiB chunks, each tagged with the track hash.
//! 3. The joiner writes each chunk through [`TrackSink`] (which checks it
//!    against the manifest and every file against its SHA-256), reports what
//!    it has written as credit, and installs when complete. The host never
//!    runs more than [`CREDIT_WINDOW`] ahead of the joiner's disk.
//!
//! A disconnect leaves the partial download on disk; joining again resumes
//! from what is missing. File and disk access sit behind [`TrackSource`]
//! and [`TrackTarget`], so the whole exchange runs in the in-memory room.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::{
    ChunkOutcome, InstalledTrack, Limits, MissingRange, TrackError, TrackHash, TrackManifest,
};
use crate::proto::wire::{Reader, WireError};

/// Bytes of file data in one chunk message.
pub const CHUNK_BYTES: usize = 16 * 1024;
/// Bytes the host may send beyond what the joiner reported written.
pub const CREDIT_WINDOW: u64 = 4 * 1024 * 1024;
/// The joiner reports progress after writing this many bytes.
pub const CREDIT_EVERY: u64 = 512 * 1024;
/// Most ranges a request may list; more are merged into whole files.
pub const MAX_REQUEST_RANGES: usize = 1024;
/// Times a file whose hash did not match is asked for again.
const HASH_RETRIES: u32 = 3;

/// Room properties a host sets to announce its track.
pub mod props {
    /// The track hash, hex.
    pub const HASH: &str = "track_hash";
    /// The map id.
    pub const MAP: &str = "map_id";
    /// The track id.
    pub const TRACK: &str = "track_id";
    /// Total bytes of the track's files.
    pub const SIZE: &str = "track_size";
    /// "true" when joiners may download it from the host.
    pub const DOWNLOAD: &str = "allow_track_download";
}

/// Where the host reads a track it serves.
pub trait TrackSource: Send {
    /// The manifest of the track served.
    fn manifest(&self) -> &TrackManifest;
    /// Reads up to `buf.len()` bytes of file `file` at `offset`.
    fn read(&mut self, file: usize, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// Where a joiner writes a track it downloads.
pub trait TrackSink: Send {
    /// Writes a chunk (checked against the manifest).
    fn write(&mut self, file: usize, offset: u64, data: &[u8]) -> Result<ChunkOutcome, TrackError>;
    /// What is still missing.
    fn missing(&self) -> Vec<MissingRange>;
    /// Verifies and moves the track into place.
    fn finish(&mut self) -> Result<InstalledTrack, TrackError>;
    /// Gives up: removes everything written (a download that failed must
    /// leave nothing behind; one cut by a disconnect is kept for resuming).
    fn abort(self: Box<Self>);
}

/// A joiner's view of its track folders.
pub trait TrackTarget: Send {
    /// A verified copy of this track, if one is already here.
    fn find(&mut self, manifest_hint: &Announcement) -> Option<PathBuf>;
    /// Opens a download for this (checked) manifest, resuming an earlier
    /// partial one when there is one.
    fn open(&mut self, manifest: &TrackManifest) -> Result<Box<dyn TrackSink>, TrackError>;
    /// Limits for manifests from a host.
    fn limits(&self) -> Limits;
    /// A download finished: keep a copy for next time (a cache).
    fn remember(&mut self, _manifest: &TrackManifest, _installed: &std::path::Path) {}
}

/// What a room says about its track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The track hash.
    pub hash: TrackHash,
    /// Map id.
    pub map_id: String,
    /// Track id.
    pub track_id: String,
    /// Total bytes.
    pub size: u64,
    /// Whether the host lets joiners download it.
    pub download: bool,
}

impl Announcement {
    /// Reads the announcement from room properties; `None` when the room
    /// has no custom track (or its properties are malformed).
    pub fn from_props(room: &std::collections::BTreeMap<String, String>) -> Option<Announcement> {
        Some(Announcement {
            hash: room.get(props::HASH)?.parse().ok()?,
            map_id: room.get(props::MAP)?.clone(),
            track_id: room.get(props::TRACK)?.clone(),
            size: room.get(props::SIZE)?.parse().ok()?,
            download: room.get(props::DOWNLOAD).is_some_and(|v| v == "true"),
        })
    }

    /// The room property changes that withdraw an announcement.
    pub fn props_for_none() -> std::collections::BTreeMap<String, Option<String>> {
        [
            props::HASH,
            props::MAP,
            props::TRACK,
            props::SIZE,
            props::DOWNLOAD,
        ]
        .into_iter()
        .map(|k| (k.to_string(), None))
        .collect()
    }

    /// The room properties announcing `manifest`.
    pub fn props_for(
        manifest: &TrackManifest,
        download: bool,
    ) -> std::collections::BTreeMap<String, Option<String>> {
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            props::HASH.to_string(),
            Some(manifest.track_hash().to_string()),
        );
        m.insert(props::MAP.to_string(), Some(manifest.map_id().to_string()));
        m.insert(
            props::TRACK.to_string(),
            Some(manifest.track_id().to_string()),
        );
        m.insert(
            props::SIZE.to_string(),
            Some(manifest.total_size().to_string()),
        );
        m.insert(props::DOWNLOAD.to_string(), Some(download.to_string()));
        m
    }
}

/// A byte range of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// File index in the manifest.
    pub file: u32,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// The bulk-lane messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackMsg {
    /// Joiner to host: send the manifest (when `manifest`), then `spans`.
    Request {
        /// The track asked for.
        hash: TrackHash,
        /// Send the manifest first.
        manifest: bool,
        /// Byte ranges wanted (ignored until the manifest is known).
        spans: Vec<Span>,
    },
    /// Host to joiner: part of the manifest JSON.
    ManifestPart {
        /// The track.
        hash: TrackHash,
        /// Length of the whole manifest JSON.
        total: u32,
        /// Where this part starts.
        offset: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Host to joiner: file bytes.
    Chunk {
        /// First 8 bytes of the track hash.
        tag: [u8; 8],
        /// File index.
        file: u32,
        /// Offset in the file.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Host to joiner: no (downloads off, unknown track, read error).
    Refused {
        /// Why, for the player.
        reason: String,
    },
    /// Joiner to host: bytes written since the last request.
    Credit {
        /// Cumulative.
        written: u64,
    },
    /// Joiner to host: stop.
    Cancel,
    /// Host to joiner: everything asked for was sent; ask again for what is
    /// still missing.
    Done,
}

impl TrackMsg {
    /// Serializes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            TrackMsg::Request {
                hash,
                manifest,
                spans,
            } => {
                out.push(1);
                out.extend_from_slice(hash.as_bytes());
                out.push(u8::from(*manifest));
                out.extend_from_slice(&(spans.len() as u32).to_be_bytes());
                for s in spans {
                    out.extend_from_slice(&s.file.to_be_bytes());
                    out.extend_from_slice(&s.start.to_be_bytes());
                    out.extend_from_slice(&s.end.to_be_bytes());
                }
            }
            TrackMsg::ManifestPart {
                hash,
                total,
                offset,
                data,
            } => {
                out.push(2);
                out.extend_from_slice(hash.as_bytes());
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(&offset.to_be_bytes());
                out.extend_from_slice(data);
            }
            TrackMsg::Chunk {
                tag,
                file,
                offset,
                data,
            } => {
                out.reserve(21 + data.len());
                out.push(3);
                out.extend_from_slice(tag);
                out.extend_from_slice(&file.to_be_bytes());
                out.extend_from_slice(&offset.to_be_bytes());
                out.extend_from_slice(data);
            }
            TrackMsg::Refused { reason } => {
                out.push(4);
                out.extend_from_slice(reason.as_bytes());
            }
            TrackMsg::Credit { written } => {
                out.push(5);
                out.extend_from_slice(&written.to_be_bytes());
            }
            TrackMsg::Cancel => out.push(6),
            TrackMsg::Done => out.push(7),
        }
        out
    }

    /// Parses a bulk-lane message.
    pub fn decode(data: &[u8]) -> Result<TrackMsg, WireError> {
        let mut r = Reader::new(data);
        let hash = |r: &mut Reader<'_>| -> Result<TrackHash, WireError> {
            Ok(TrackHash(*r.array::<32>("track hash")?))
        };
        Ok(match r.u8("track message kind")? {
            1 => {
                let h = hash(&mut r)?;
                let manifest = r.u8("manifest flag")? != 0;
                let n = r.u32("span count")? as usize;
                if n > MAX_REQUEST_RANGES {
                    return Err(WireError::Invalid("span count"));
                }
                let mut spans = Vec::with_capacity(n);
                for _ in 0..n {
                    let s = Span {
                        file: r.u32("span file")?,
                        start: r.u64("span start")?,
                        end: r.u64("span end")?,
                    };
                    if s.end < s.start {
                        return Err(WireError::Invalid("span"));
                    }
                    spans.push(s);
                }
                TrackMsg::Request {
                    hash: h,
                    manifest,
                    spans,
                }
            }
            2 => TrackMsg::ManifestPart {
                hash: hash(&mut r)?,
                total: r.u32("manifest length")?,
                offset: r.u32("manifest offset")?,
                data: r.rest().to_vec(),
            },
            3 => TrackMsg::Chunk {
                tag: *r.array::<8>("chunk tag")?,
                file: r.u32("chunk file")?,
                offset: r.u64("chunk offset")?,
                data: r.rest().to_vec(),
            },
            4 => TrackMsg::Refused {
                reason: String::from_utf8_lossy(r.rest())
                    .chars()
                    .take(512)
                    .collect(),
            },
            5 => TrackMsg::Credit {
                written: r.u64("credit")?,
            },
            6 => TrackMsg::Cancel,
            7 => TrackMsg::Done,
            _ => return Err(WireError::Invalid("track message kind")),
        })
    }
}

fn tag_of(hash: &TrackHash) -> [u8; 8] {
    let mut t = [0u8; 8];
    t.copy_from_slice(&hash.as_bytes()[..8]);
    t
}

/// The host's side of one joiner's download: what is left to send.
#[derive(Debug)]
pub struct Upload {
    manifest_json: Option<(Vec<u8>, usize)>,
    spans: VecDeque<Span>,
    sent: u64,
    credit: u64,
    done_sent: bool,
    /// File bytes sent so far (for statistics).
    pub bytes_sent: u64,
}

impl Upload {
    /// Starts serving a request for the track `source` serves.
    pub fn new(source: &dyn TrackSource, manifest: bool, spans: &[Span]) -> Upload {
        let m = source.manifest();
        let files = m.files();
        let mut queue = VecDeque::new();
        if spans.is_empty() && manifest {
            // A fresh download: everything.
            for (i, f) in files.iter().enumerate() {
                queue.push_back(Span {
                    file: i as u32,
                    start: 0,
                    end: f.size,
                });
            }
        } else {
            for s in spans {
                // Clamp to the real file; drop ranges for files that do not exist.
                if let Some(f) = files.get(s.file as usize) {
                    let end = s.end.min(f.size);
                    if s.start < end {
                        queue.push_back(Span { end, ..*s });
                    }
                }
            }
        }
        Upload {
            manifest_json: manifest.then(|| (m.to_json().into_bytes(), 0)),
            spans: queue,
            sent: 0,
            credit: 0,
            done_sent: false,
            bytes_sent: 0,
        }
    }

    /// The joiner reported `written` bytes on disk.
    pub fn on_credit(&mut self, written: u64) {
        self.credit = self.credit.max(written.min(self.sent));
    }

    /// True when everything asked for (and the closing `Done`) was queued.
    pub fn is_done(&self) -> bool {
        self.manifest_json.is_none() && self.spans.is_empty() && self.done_sent
    }

    /// True when the credit window allows another chunk now.
    pub fn can_send(&self) -> bool {
        !self.is_done() && self.sent - self.credit < CREDIT_WINDOW
    }

    /// The next message to queue, reading from `source`; `Err` is a read
    /// failure to report to the joiner.
    pub fn next(&mut self, source: &mut dyn TrackSource) -> Option<Result<TrackMsg, io::Error>> {
        if let Some((json, at)) = &mut self.manifest_json {
            let hash = source.manifest().track_hash();
            let end = (*at + CHUNK_BYTES).min(json.len());
            let msg = TrackMsg::ManifestPart {
                hash,
                total: json.len() as u32,
                offset: *at as u32,
                data: json[*at..end].to_vec(),
            };
            *at = end;
            if end >= json.len() {
                self.manifest_json = None;
            }
            return Some(Ok(msg));
        }
        if !self.can_send() {
            return None;
        }
        let Some(span) = self.spans.front_mut() else {
            self.done_sent = true;
            return Some(Ok(TrackMsg::Done));
        };
        let len = ((span.end - span.start) as usize).min(CHUNK_BYTES);
        let mut data = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match source.read(
                span.file as usize,
                span.start + got as u64,
                &mut data[got..],
            ) {
                Ok(0) => {
                    return Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the track file is shorter than its manifest says",
                    )))
                }
                Ok(n) => got += n,
                Err(e) => return Some(Err(e)),
            }
        }
        let msg = TrackMsg::Chunk {
            tag: tag_of(&source.manifest().track_hash()),
            file: span.file,
            offset: span.start,
            data,
        };
        span.start += len as u64;
        if span.start >= span.end {
            self.spans.pop_front();
        }
        self.sent += len as u64;
        self.bytes_sent += len as u64;
        Some(Ok(msg))
    }
}

/// What a joiner's download asks of its owner.
#[derive(Debug)]
pub enum DownloadOutput {
    /// Send this to the host on the bulk lane.
    Send(TrackMsg),
    /// Progress for the game.
    Progress {
        /// Bytes written.
        received: u64,
        /// Bytes in the track.
        total: u64,
    },
    /// The track is in place (downloaded now, or found already here).
    Ready {
        /// Its folder.
        path: PathBuf,
        /// True when it came over the network.
        downloaded: bool,
    },
    /// The download failed; nothing half-written is visible.
    Failed(DownloadError),
}

/// Why a download failed.
#[derive(Debug)]
pub enum DownloadError {
    /// The host does not allow downloads, or refused for a reason it gives.
    Refused(String),
    /// The manifest or a chunk broke the rules (see the inner error).
    Track(TrackError),
    /// The manifest's hash is not the one the room announced.
    WrongManifest,
    /// A file kept failing its hash check.
    Corrupt(String),
    /// A message that does not belong to this track or this step.
    Protocol(&'static str),
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadError::Refused(r) => write!(f, "the host refused the track download: {r}"),
            DownloadError::Track(e) => write!(f, "track refused: {e}"),
            DownloadError::WrongManifest => {
                write!(
                    f,
                    "the host sent a manifest whose hash is not the announced track hash"
                )
            }
            DownloadError::Corrupt(p) => {
                write!(f, "{p} failed its SHA-256 check {HASH_RETRIES} times")
            }
            DownloadError::Protocol(what) => {
                write!(f, "the host broke the transfer protocol: {what}")
            }
        }
    }
}

impl std::error::Error for DownloadError {}

enum Stage {
    Manifest {
        buf: Vec<u8>,
        total: Option<usize>,
    },
    Receiving {
        sink: Box<dyn TrackSink>,
        manifest: TrackManifest,
    },
    Over,
}

/// A joiner's side of one track download.
pub struct Download {
    announced: Announcement,
    stage: Stage,
    written: u64,
    /// `written` when the current request went out; credit counts from it.
    written_at_request: u64,
    credited: u64,
    retries: Vec<u32>,
    last_progress: u64,
    /// `written` when the host last said it was done; a round that adds
    /// nothing means the host cannot give us the rest.
    written_at_done: Option<u64>,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("hash", &self.announced.hash)
            .field("written", &self.written)
            .finish()
    }
}

impl Download {
    /// Starts: either the track is here already, the host does not share
    /// it, or we ask for its manifest.
    pub fn start(
        announced: Announcement,
        target: &mut dyn TrackTarget,
    ) -> (Option<Download>, Vec<DownloadOutput>) {
        if let Some(path) = target.find(&announced) {
            return (
                None,
                vec![DownloadOutput::Ready {
                    path,
                    downloaded: false,
                }],
            );
        }
        if !announced.download {
            let reason = format!(
                "this room's track {} ({}) is not installed here and the host does not allow downloading it",
                announced.track_id, announced.map_id
            );
            return (
                None,
                vec![DownloadOutput::Failed(DownloadError::Refused(reason))],
            );
        }
        let req = TrackMsg::Request {
            hash: announced.hash,
            manifest: true,
            spans: Vec::new(),
        };
        let d = Download {
            announced,
            stage: Stage::Manifest {
                buf: Vec::new(),
                total: None,
            },
            written: 0,
            written_at_request: 0,
            credited: 0,
            retries: Vec::new(),
            last_progress: 0,
            written_at_done: None,
        };
        (Some(d), vec![DownloadOutput::Send(req)])
    }

    /// The track being downloaded.
    pub fn hash(&self) -> TrackHash {
        self.announced.hash
    }

    /// True once it finished or failed.
    pub fn is_over(&self) -> bool {
        matches!(self.stage, Stage::Over)
    }

    fn fail(&mut self, e: DownloadError) -> Vec<DownloadOutput> {
        if let Stage::Receiving { sink, .. } = std::mem::replace(&mut self.stage, Stage::Over) {
            sink.abort();
        }
        vec![
            DownloadOutput::Send(TrackMsg::Cancel),
            DownloadOutput::Failed(e),
        ]
    }

    /// Takes a message from the host.
    pub fn on_message(
        &mut self,
        msg: TrackMsg,
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        match msg {
            TrackMsg::Refused { reason } => {
                if let Stage::Receiving { sink, .. } =
                    std::mem::replace(&mut self.stage, Stage::Over)
                {
                    sink.abort();
                }
                vec![DownloadOutput::Failed(DownloadError::Refused(reason))]
            }
            TrackMsg::ManifestPart {
                hash,
                total,
                offset,
                data,
            } => self.on_manifest_part(hash, total, offset, &data, target),
            TrackMsg::Chunk {
                tag,
                file,
                offset,
                data,
            } => self.on_chunk(tag, file, offset, &data, target),
            TrackMsg::Done => self.on_done(),
            TrackMsg::Request { .. } | TrackMsg::Credit { .. } | TrackMsg::Cancel => self.fail(
                DownloadError::Protocol("a joiner's message sent to a joiner"),
            ),
        }
    }

    fn on_manifest_part(
        &mut self,
        hash: TrackHash,
        total: u32,
        offset: u32,
        data: &[u8],
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        let limits = target.limits();
        let Stage::Manifest {
            buf,
            total: expected,
        } = &mut self.stage
        else {
            // A late duplicate after the manifest was complete: harmless.
            return Vec::new();
        };
        if hash != self.announced.hash {
            return self.fail(DownloadError::WrongManifest);
        }
        let total = total as usize;
        if total > limits.max_manifest_json_len()
            || expected.is_some_and(|t| t != total)
            || offset as usize != buf.len()
        {
            return self.fail(DownloadError::Protocol("manifest parts out of shape"));
        }
        *expected = Some(total);
        buf.extend_from_slice(data);
        if buf.len() > total {
            return self.fail(DownloadError::Protocol("manifest longer than announced"));
        }
        if buf.len() < total {
            return Vec::new();
        }
        let manifest = match TrackManifest::from_json(buf, &limits) {
            Ok(m) => m,
            Err(e) => return self.fail(DownloadError::Track(e)),
        };
        if manifest.track_hash() != self.announced.hash {
            return self.fail(DownloadError::WrongManifest);
        }
        let a = &self.announced;
        if let Err(e) = manifest.check_announced(&a.map_id, &a.track_id, &a.hash, a.size) {
            return self.fail(DownloadError::Track(e));
        }
        let sink = match target.open(&manifest) {
            Ok(s) => s,
            Err(e) => return self.fail(DownloadError::Track(e)),
        };
        self.retries = vec![0; manifest.files().len()];
        let missing = sink.missing();
        let total_bytes = manifest.total_size();
        self.written = total_bytes - missing.iter().map(|m| m.end - m.start).sum::<u64>();
        self.stage = Stage::Receiving { sink, manifest };
        if missing.is_empty() {
            return self.finish(target);
        }
        let mut out = vec![DownloadOutput::Progress {
            received: self.written,
            total: total_bytes,
        }];
        if self.written > 0 {
            // Resuming: the host is streaming everything since our first
            // request; ask for only what is missing instead.
            out.push(self.request_missing(&missing));
        }
        out
    }

    fn request_missing(&mut self, missing: &[MissingRange]) -> DownloadOutput {
        self.credited = 0;
        self.written_at_request = self.written;
        DownloadOutput::Send(TrackMsg::Request {
            hash: self.announced.hash,
            manifest: false,
            spans: spans_for(missing, &self.stage),
        })
    }

    /// The host sent all it was asked for: ask for what is still missing
    /// (a long list is asked for in rounds), or give up when a round
    /// brought nothing.
    fn on_done(&mut self) -> Vec<DownloadOutput> {
        let Stage::Receiving { sink, .. } = &self.stage else {
            return Vec::new();
        };
        let missing = sink.missing();
        if missing.is_empty() {
            return Vec::new();
        }
        if self.written_at_done == Some(self.written) {
            return self.fail(DownloadError::Protocol(
                "the host stopped sending before the track was complete",
            ));
        }
        self.written_at_done = Some(self.written);
        vec![self.request_missing(&missing)]
    }

    fn on_chunk(
        &mut self,
        tag: [u8; 8],
        file: u32,
        offset: u64,
        data: &[u8],
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        if tag != tag_of(&self.announced.hash) {
            return self.fail(DownloadError::Protocol("a chunk of another track"));
        }
        let Stage::Receiving { sink, manifest } = &mut self.stage else {
            if matches!(self.stage, Stage::Over) {
                return Vec::new();
            }
            return self.fail(DownloadError::Protocol("a chunk before the manifest"));
        };
        let total = manifest.total_size();
        match sink.write(file as usize, offset, data) {
            Ok(outcome) => {
                self.written += outcome.new_bytes;
                let mut out = Vec::new();
                let since = self.written - self.written_at_request;
                if since >= self.credited + CREDIT_EVERY {
                    self.credited = since;
                    out.push(DownloadOutput::Send(TrackMsg::Credit { written: since }));
                }
                if self.written - self.last_progress >= CREDIT_EVERY || self.written == total {
                    self.last_progress = self.written;
                    out.push(DownloadOutput::Progress {
                        received: self.written,
                        total,
                    });
                }
                if outcome.track_complete() {
                    out.extend(self.finish(target));
                }
                out
            }
            Err(TrackError::FileHashMismatch { path, .. }) => {
                let i = file as usize;
                let Some(tries) = self.retries.get_mut(i) else {
                    return self.fail(DownloadError::Protocol("file index"));
                };
                *tries += 1;
                if *tries >= HASH_RETRIES {
                    return self.fail(DownloadError::Corrupt(path));
                }
                // The sink emptied the file: ask for all of it again.
                let size = manifest.files().get(i).map_or(0, |f| f.size);
                self.written = self.written.saturating_sub(size);
                self.written_at_request = self.written;
                self.credited = 0;
                vec![DownloadOutput::Send(TrackMsg::Request {
                    hash: self.announced.hash,
                    manifest: false,
                    spans: vec![Span {
                        file,
                        start: 0,
                        end: size,
                    }],
                })]
            }
            Err(e) => self.fail(DownloadError::Track(e)),
        }
    }

    fn finish(&mut self, target: &mut dyn TrackTarget) -> Vec<DownloadOutput> {
        let Stage::Receiving { mut sink, manifest } =
            std::mem::replace(&mut self.stage, Stage::Over)
        else {
            return Vec::new();
        };
        match sink.finish() {
            Ok(installed) => {
                target.remember(&manifest, &installed.path);
                vec![DownloadOutput::Ready {
                    path: installed.path,
                    downloaded: true,
                }]
            }
            Err(e) => {
                sink.abort();
                vec![DownloadOutput::Failed(DownloadError::Track(e))]
            }
        }
    }
}

/// The request spans for what is missing: exact ranges, or whole files when
/// there are too many to list.
fn spans_for(missing: &[MissingRange], stage: &Stage) -> Vec<Span> {
    if missing.len() <= MAX_REQUEST_RANGES {
        return missing
            .iter()
            .map(|m| Span {
                file: m.file_index as u32,
                start: m.start,
                end: m.end,
            })
            .collect();
    }
    let Stage::Receiving { manifest, .. } = stage else {
        return Vec::new();
    };
    let mut files: Vec<usize> = missing.iter().map(|m| m.file_index).collect();
    files.dedup();
    files
        .into_iter()
        .take(MAX_REQUEST_RANGES)
        .map(|i| Span {
            file: i as u32,
            start: 0,
            end: manifest.files().get(i).map_or(0, |f| f.size),
        })
        .collect()
}

/// Serves a track from a folder on this machine (the host's own copy).
pub struct FolderSource {
    dir: PathBuf,
    manifest: TrackManifest,
    open: Option<(usize, std::fs::File)>,
}

impl FolderSource {
    /// Reads the folder's manifest (hashing every file once) and serves it.
    pub fn new(
        dir: &std::path::Path,
        map_id: &str,
        track_id: &str,
        limits: &Limits,
    ) -> Result<FolderSource, TrackError> {
        let manifest = TrackManifest::from_dir(dir, map_id, track_id, limits)?;
        Ok(FolderSource {
            dir: dir.to_path_buf(),
            manifest,
            open: None,
        })
    }
}

impl TrackSource for FolderSource {
    fn manifest(&self) -> &TrackManifest {
        &self.manifest
    }

    fn read(&mut self, file: usize, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::{Read, Seek, SeekFrom};
        if self.open.as_ref().is_none_or(|(i, _)| *i != file) {
            let entry = self.manifest.files().get(file).ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, "no such file in the track")
            })?;
            let path = self.dir.join(&entry.path);
            self.open = Some((file, std::fs::File::open(path)?));
        }
        let Some((_, f)) = self.open.as_mut() else {
            return Err(io::Error::other("track file not open"));
        };
        f.seek(SeekFrom::Start(offset))?;
        f.read(buf)
    }
}

impl TrackSink for super::PartialTrack {
    fn write(&mut self, file: usize, offset: u64, data: &[u8]) -> Result<ChunkOutcome, TrackError> {
        self.write_chunk(file, offset, data)
    }
    fn missing(&self) -> Vec<MissingRange> {
        self.missing_ranges()
    }
    fn finish(&mut self) -> Result<InstalledTrack, TrackError> {
        super::PartialTrack::finish(self)
    }
    fn abort(self: Box<Self>) {
        if let Err(e) = super::PartialTrack::abort(*self) {
            tracing::warn!("could not remove a failed download: {e}");
        }
    }
}

/// A joiner's maps folder (and optional download cache) as a [`TrackTarget`].
pub struct MapsFolder {
    installer: super::Installer,
    store: Option<super::TrackStore>,
}

impl MapsFolder {
    /// Installs into `maps_root` (the game's `.../content/maps`, which must
    /// exist), looking in `cache` for copies downloaded before.
    pub fn new(
        maps_root: &std::path::Path,
        cache: Option<&std::path::Path>,
        limits: Limits,
    ) -> Result<MapsFolder, TrackError> {
        let installer = super::Installer::new(maps_root, limits)?;
        let store = cache
            .map(|c| super::TrackStore::open(c, limits))
            .transpose()?;
        Ok(MapsFolder { installer, store })
    }
}

impl TrackTarget for MapsFolder {
    fn find(&mut self, a: &Announcement) -> Option<PathBuf> {
        let limits = *self.installer.limits();
        if let Some(p) = super::find_installed(
            self.installer.maps_root(),
            &a.map_id,
            &a.track_id,
            &a.hash,
            &limits,
        ) {
            return Some(p);
        }
        // A copy in the cache is installed through the same checked path.
        let store = self.store.as_ref()?;
        let dir = store.lookup(&a.hash)?;
        let manifest = store.manifest(&a.hash).ok()?;
        self.installer
            .install_from_dir(&dir, &manifest)
            .ok()
            .map(|t| t.path)
    }

    fn open(&mut self, manifest: &TrackManifest) -> Result<Box<dyn TrackSink>, TrackError> {
        Ok(Box::new(self.installer.begin_or_resume(manifest)?))
    }

    fn limits(&self) -> Limits {
        *self.installer.limits()
    }

    fn remember(&mut self, manifest: &TrackManifest, installed: &std::path::Path) {
        if let Some(store) = &self.store {
            if let Err(e) = store.insert(installed, manifest) {
                tracing::warn!("could not keep the track in the download cache: {e}");
            }
        }
    }
}
