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
//! 3. The joiner hands each chunk to its [`TrackTarget`] (which checks it
//!    against the manifest and every file against its SHA-256), reports what
//!    the target has written as credit, and installs when complete. The host
//!    never runs more than [`CREDIT_WINDOW`] ahead of the joiner's disk, so
//!    chunks waiting for the disk never hold more than that in memory.
//!
//! A disconnect leaves the partial download on disk; joining again resumes
//! from what is missing. File and disk access sit behind [`TrackSource`]
//! and [`TrackTarget`], so the whole exchange runs in the in-memory room.
//! The joiner's disk work (finding a track already here means hashing all
//! of it) is asked for and answered without waiting ([`TargetJob`],
//! [`TargetDone`]): [`MapsFolder`] does it on its own thread, never on the
//! thread that carries the pilots' frames.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::{
    ChunkOutcome, InstalledTrack, Layout, Limits, MissingRange, TrackError, TrackHash,
    TrackManifest,
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
    /// "file" for a single-file track (`<track-id>.cmp`); absent for a
    /// folder track.
    pub const LAYOUT: &str = "track_layout";
}

/// Where the host reads a track it serves.
pub trait TrackSource: Send {
    /// The manifest of the track served.
    fn manifest(&self) -> &TrackManifest;
    /// Reads up to `buf.len()` bytes of file `file` at `offset`.
    fn read(&mut self, file: usize, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

/// A joiner's track folders: the disk work of its downloads.
///
/// Finding a track already here means hashing it, taking one from a cache
/// means copying and hashing it, and every chunk is written and hashed.
/// With a 100 MiB track that is most of a second, too long for the thread
/// that also carries every pilot's frames. So a download never waits for
/// its target: it hands over [`TargetJob`]s with [`TrackTarget::submit`]
/// and takes the results, one per job and in order, from
/// [`TrackTarget::poll`] when they are ready. [`MapsFolder::new`] runs the
/// jobs on a thread of its own; [`MapsFolder::inline`] runs each inside
/// `submit` (for the in-memory room, which has no threads).
pub trait TrackTarget: Send {
    /// Limits for manifests from a host.
    fn limits(&self) -> Limits;
    /// Queues `job` for the download numbered `download`. Jobs run one at
    /// a time, in the order submitted.
    fn submit(&mut self, download: u64, job: TargetJob);
    /// The next finished job's result with its download's number, without
    /// waiting.
    fn poll(&mut self) -> Option<(u64, TargetDone)>;
    /// True while a submitted job's result has not been polled yet.
    fn busy(&self) -> bool;
}

/// Disk work a download asks of its [`TrackTarget`].
#[derive(Debug)]
pub enum TargetJob {
    /// Look for a verified copy of the announced track: installed already,
    /// or in the download cache (installed from there through the checked
    /// path). Answered by [`TargetDone::Found`].
    Find(Announcement),
    /// Open a partial track for this (checked) manifest, resuming an
    /// earlier one when there is one. Answered by [`TargetDone::Opened`].
    Open(TrackManifest),
    /// Write a chunk into the open partial track (checked against the
    /// manifest, each file against its SHA-256 once complete). Answered by
    /// [`TargetDone::Written`].
    Write {
        /// File index.
        file: u32,
        /// Offset in the file.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Say what is still missing. Answered by [`TargetDone::Missing`].
    Missing,
    /// Verify the complete track and move it into place (then keep a copy
    /// in the cache). Answered by [`TargetDone::Finished`].
    Finish,
    /// Remove the partial track: a download that failed leaves nothing
    /// behind. Answered by [`TargetDone::Aborted`].
    Abort,
    /// Put the partial track away for a later resume (the host went, or
    /// switched tracks). Answered by [`TargetDone::Closed`].
    Close,
}

/// The result of a [`TargetJob`].
#[derive(Debug)]
pub enum TargetDone {
    /// Where a verified copy is, if there is one.
    Found(Option<PathBuf>),
    /// What the opened partial track still lacks.
    Opened(Result<Vec<MissingRange>, TrackError>),
    /// What a chunk did.
    Written {
        /// The chunk's file index.
        file: u32,
        /// The chunk's length.
        len: u64,
        /// What writing it did.
        result: Result<ChunkOutcome, TrackError>,
    },
    /// What is still missing (nothing when no partial track is open).
    Missing(Vec<MissingRange>),
    /// Where the track was installed; on an error the partial track was
    /// removed.
    Finished(Result<InstalledTrack, TrackError>),
    /// The partial track is gone.
    Aborted,
    /// The partial track is saved for later.
    Closed,
}

impl TargetJob {
    /// The result this job gets when it cannot run (`e` says why).
    fn failed(&self, e: TrackError) -> TargetDone {
        match self {
            TargetJob::Find(_) => TargetDone::Found(None),
            TargetJob::Open(_) => TargetDone::Opened(Err(e)),
            TargetJob::Write { file, data, .. } => TargetDone::Written {
                file: *file,
                len: data.len() as u64,
                result: Err(e),
            },
            TargetJob::Missing => TargetDone::Missing(Vec::new()),
            TargetJob::Finish => TargetDone::Finished(Err(e)),
            TargetJob::Abort => TargetDone::Aborted,
            TargetJob::Close => TargetDone::Closed,
        }
    }
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
    /// A folder, or one `.cmp` file.
    pub layout: Layout,
}

impl Announcement {
    /// Reads the announcement from room properties; `None` when the room
    /// has no custom track (or its properties are malformed).
    pub fn from_props(room: &crate::proto::room::Props) -> Option<Announcement> {
        let text = |k: &str| std::str::from_utf8(room.get(k.as_bytes())?).ok();
        Some(Announcement {
            hash: text(props::HASH)?.parse().ok()?,
            map_id: text(props::MAP)?.to_string(),
            track_id: text(props::TRACK)?.to_string(),
            size: text(props::SIZE)?.parse().ok()?,
            download: text(props::DOWNLOAD) == Some("true"),
            layout: match room.get(props::LAYOUT.as_bytes()).map(Vec::as_slice) {
                None | Some(b"folder") => Layout::Folder,
                Some(b"file") => Layout::File,
                Some(_) => return None,
            },
        })
    }

    /// The room property changes that withdraw an announcement.
    pub fn props_for_none() -> crate::proto::room::PropChanges {
        [
            props::HASH,
            props::MAP,
            props::TRACK,
            props::SIZE,
            props::DOWNLOAD,
            props::LAYOUT,
        ]
        .into_iter()
        .map(|k| (k.as_bytes().to_vec(), None))
        .collect()
    }

    /// The room properties announcing `manifest`.
    pub fn props_for(manifest: &TrackManifest, download: bool) -> crate::proto::room::PropChanges {
        let mut m: crate::proto::room::PropChanges = [
            (props::HASH, manifest.track_hash().to_string()),
            (props::MAP, manifest.map_id().to_string()),
            (props::TRACK, manifest.track_id().to_string()),
            (props::SIZE, manifest.total_size().to_string()),
            (props::DOWNLOAD, download.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), Some(v.into_bytes())))
        .collect();
        // Folder tracks are announced as they always were; a file track
        // says so, and clears what a folder track before it left.
        m.insert(
            props::LAYOUT.as_bytes().to_vec(),
            (manifest.layout() == Layout::File).then(|| b"file".to_vec()),
        );
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
        /// First 8 bytes of the hash of the track refused (a refusal of an
        /// earlier track, still on its way, leaves a new download alone).
        tag: [u8; 8],
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
            TrackMsg::Refused { tag, reason } => {
                out.push(4);
                out.extend_from_slice(tag);
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
                tag: *r.array::<8>("refusal tag")?,
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

/// The 8 bytes of a track's hash that chunks and refusals carry.
pub fn tag_of(hash: &TrackHash) -> [u8; 8] {
    let mut t = [0u8; 8];
    t.copy_from_slice(&hash.as_bytes()[..8]);
    t
}

/// The host's side of one joiner's download: what is left to send.
#[derive(Debug)]
pub struct Upload {
    tag: [u8; 8],
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
            let mut asked: Vec<Span> = spans
                .iter()
                .filter_map(|s| {
                    // Clamp to the real file; drop ranges for files that do not exist.
                    let end = s.end.min(files.get(s.file as usize)?.size);
                    (s.start < end).then_some(Span { end, ..*s })
                })
                .collect();
            // Overlapping or repeated ranges are sent once: a request can
            // never make the host send more than the track's size.
            asked.sort_unstable_by_key(|s| (s.file, s.start));
            for s in asked {
                match queue.back_mut() {
                    Some(last) if last.file == s.file && s.start <= last.end => {
                        last.end = last.end.max(s.end);
                    }
                    _ => queue.push_back(s),
                }
            }
        }
        Upload {
            tag: tag_of(&m.track_hash()),
            manifest_json: manifest.then(|| (m.to_json().into_bytes(), 0)),
            spans: queue,
            sent: 0,
            credit: 0,
            done_sent: false,
            bytes_sent: 0,
        }
    }

    /// The tag of the track it serves.
    pub fn tag(&self) -> [u8; 8] {
        self.tag
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
    /// The target looks for a copy already here.
    Finding,
    /// The host sends the manifest.
    Manifest {
        buf: Vec<u8>,
        total: Option<usize>,
    },
    /// The partial track is open (or being opened: `opened` is false until
    /// the target says so) and chunks go to it.
    Receiving {
        manifest: TrackManifest,
        opened: bool,
    },
    /// Every byte is in; the target verifies and installs.
    Finishing,
    /// Failed; reported once the target removed the partial track.
    Aborting(DownloadError),
    Over,
}

/// A joiner's side of one track download. Sans-IO towards the host (it
/// returns the messages to send) and towards the disk (it hands jobs to its
/// [`TrackTarget`] and takes their results in [`Download::on_target`]), so
/// nothing it does waits for either.
pub struct Download {
    /// Tags this download's jobs, so results of an earlier one are told apart.
    id: u64,
    announced: Announcement,
    stage: Stage,
    /// Bytes of the track on disk (as the target last reported).
    written: u64,
    /// `written` when the current request went out; credit counts from it.
    written_at_request: u64,
    credited: u64,
    retries: Vec<u32>,
    last_progress: u64,
    /// `written` when the host last said it was done; a round that adds
    /// nothing means the host cannot give us the rest.
    written_at_done: Option<u64>,
    /// Bytes handed to the target and not yet written.
    queued: u64,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("id", &self.id)
            .field("hash", &self.announced.hash)
            .field("written", &self.written)
            .field("queued", &self.queued)
            .finish()
    }
}

impl Download {
    /// Starts download number `id` (unique for this target): the target
    /// looks for the track here first; [`Download::on_target`] goes on
    /// from its answer (the track is here, the host does not share it, or
    /// we ask the host for its manifest).
    pub fn start(id: u64, announced: Announcement, target: &mut dyn TrackTarget) -> Download {
        target.submit(id, TargetJob::Find(announced.clone()));
        Download {
            id,
            announced,
            stage: Stage::Finding,
            written: 0,
            written_at_request: 0,
            credited: 0,
            retries: Vec::new(),
            last_progress: 0,
            written_at_done: None,
            queued: 0,
        }
    }

    /// The number its target's jobs carry.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The track being downloaded.
    pub fn hash(&self) -> TrackHash {
        self.announced.hash
    }

    /// Bytes of the track on disk, as the target last reported them.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// True once it finished or failed.
    pub fn is_over(&self) -> bool {
        matches!(self.stage, Stage::Over)
    }

    /// Bytes of chunks handed to the target and not written yet. Credit is
    /// only given for written bytes, so this stays within the host's
    /// [`CREDIT_WINDOW`] (plus what a new request overlaps of an old one).
    pub fn queued_bytes(&self) -> u64 {
        self.queued
    }

    /// Stops without failing (the host withdrew or switched its track):
    /// an open partial track is kept for a later resume.
    pub fn close(self, target: &mut dyn TrackTarget) {
        if matches!(self.stage, Stage::Receiving { .. }) {
            target.submit(self.id, TargetJob::Close);
        }
    }

    /// Fails: a partial track is removed first (the failure is reported
    /// once it is gone), and the host is told to stop when `cancel`.
    fn fail(
        &mut self,
        e: DownloadError,
        cancel: bool,
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        let mut out = Vec::new();
        if cancel {
            out.push(DownloadOutput::Send(TrackMsg::Cancel));
        }
        if matches!(self.stage, Stage::Receiving { .. }) {
            target.submit(self.id, TargetJob::Abort);
            self.stage = Stage::Aborting(e);
        } else {
            self.stage = Stage::Over;
            out.push(DownloadOutput::Failed(e));
        }
        out
    }

    /// Takes a message from the host.
    pub fn on_message(
        &mut self,
        msg: TrackMsg,
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        match msg {
            // A refusal of the track before this one, still on its way.
            TrackMsg::Refused { tag, .. } if tag != tag_of(&self.announced.hash) => Vec::new(),
            TrackMsg::Refused { reason, .. } => match self.stage {
                // Everything is here already, or it failed anyway.
                Stage::Finishing | Stage::Aborting(_) | Stage::Over => Vec::new(),
                _ => self.fail(DownloadError::Refused(reason), false, target),
            },
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
            } => self.on_chunk(tag, file, offset, data, target),
            TrackMsg::Done => {
                if matches!(self.stage, Stage::Receiving { .. }) {
                    // Answered after every chunk before it is written.
                    target.submit(self.id, TargetJob::Missing);
                }
                Vec::new()
            }
            TrackMsg::Request { .. } | TrackMsg::Credit { .. } | TrackMsg::Cancel => self.fail(
                DownloadError::Protocol("a joiner's message sent to a joiner"),
                true,
                target,
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
            // The track before this one, sent before the host switched.
            return Vec::new();
        }
        let total = total as usize;
        if total > limits.max_manifest_json_len()
            || expected.is_some_and(|t| t != total)
            || offset as usize != buf.len()
        {
            return self.fail(
                DownloadError::Protocol("manifest parts out of shape"),
                true,
                target,
            );
        }
        *expected = Some(total);
        buf.extend_from_slice(data);
        if buf.len() > total {
            return self.fail(
                DownloadError::Protocol("manifest longer than announced"),
                true,
                target,
            );
        }
        if buf.len() < total {
            return Vec::new();
        }
        let manifest = match TrackManifest::from_json(buf, &limits) {
            Ok(m) => m,
            Err(e) => return self.fail(DownloadError::Track(e), true, target),
        };
        if manifest.track_hash() != self.announced.hash {
            return self.fail(DownloadError::WrongManifest, true, target);
        }
        let a = &self.announced;
        if let Err(e) = manifest
            .check_announced(&a.map_id, &a.track_id, &a.hash, a.size)
            .and_then(|()| manifest.check_layout(a.layout))
        {
            return self.fail(DownloadError::Track(e), true, target);
        }
        self.retries = vec![0; manifest.files().len()];
        target.submit(self.id, TargetJob::Open(manifest.clone()));
        // Chunks arriving meanwhile are queued behind the opening.
        self.stage = Stage::Receiving {
            manifest,
            opened: false,
        };
        Vec::new()
    }

    fn on_chunk(
        &mut self,
        tag: [u8; 8],
        file: u32,
        offset: u64,
        data: Vec<u8>,
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        if tag != tag_of(&self.announced.hash) {
            // The track before this one, sent before the host switched
            // (the bulk lane is in order, so nothing of ours came yet).
            return Vec::new();
        }
        match self.stage {
            Stage::Receiving { .. } => {
                self.queued += data.len() as u64;
                target.submit(self.id, TargetJob::Write { file, offset, data });
                Vec::new()
            }
            // Late duplicates once everything is in, or after a failure.
            Stage::Finishing | Stage::Aborting(_) | Stage::Over => Vec::new(),
            Stage::Finding | Stage::Manifest { .. } => self.fail(
                DownloadError::Protocol("a chunk before the manifest"),
                true,
                target,
            ),
        }
    }

    /// Takes the result of one of this download's jobs (see
    /// [`TrackTarget::poll`]; results of other downloads are not for it).
    pub fn on_target(
        &mut self,
        done: TargetDone,
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        match done {
            TargetDone::Found(found) => self.on_found(found),
            TargetDone::Opened(r) => self.on_opened(r, target),
            TargetDone::Written { file, len, result } => {
                self.queued = self.queued.saturating_sub(len);
                self.on_written(file, result, target)
            }
            TargetDone::Missing(missing) => self.on_missing(&missing, target),
            TargetDone::Finished(r) => {
                if !matches!(self.stage, Stage::Finishing) {
                    return Vec::new();
                }
                self.stage = Stage::Over;
                match r {
                    Ok(installed) => vec![DownloadOutput::Ready {
                        path: installed.path,
                        downloaded: true,
                    }],
                    Err(e) => vec![DownloadOutput::Failed(DownloadError::Track(e))],
                }
            }
            TargetDone::Aborted => match std::mem::replace(&mut self.stage, Stage::Over) {
                Stage::Aborting(e) => vec![DownloadOutput::Failed(e)],
                other => {
                    self.stage = other;
                    Vec::new()
                }
            },
            TargetDone::Closed => Vec::new(),
        }
    }

    /// The track is here already, or we ask the host for it.
    fn on_found(&mut self, found: Option<PathBuf>) -> Vec<DownloadOutput> {
        if !matches!(self.stage, Stage::Finding) {
            return Vec::new();
        }
        if let Some(path) = found {
            self.stage = Stage::Over;
            return vec![DownloadOutput::Ready {
                path,
                downloaded: false,
            }];
        }
        let a = &self.announced;
        if !a.download {
            let reason = format!(
                "this room's track {} ({}) is not installed here and the host does not allow downloading it",
                a.track_id, a.map_id
            );
            self.stage = Stage::Over;
            return vec![DownloadOutput::Failed(DownloadError::Refused(reason))];
        }
        self.stage = Stage::Manifest {
            buf: Vec::new(),
            total: None,
        };
        vec![DownloadOutput::Send(TrackMsg::Request {
            hash: a.hash,
            manifest: true,
            spans: Vec::new(),
        })]
    }

    fn on_opened(
        &mut self,
        r: Result<Vec<MissingRange>, TrackError>,
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        let Stage::Receiving { manifest, opened } = &mut self.stage else {
            return Vec::new();
        };
        let missing = match r {
            Ok(m) => m,
            Err(e) => {
                // Nothing was opened, so nothing to remove.
                self.stage = Stage::Over;
                return vec![
                    DownloadOutput::Send(TrackMsg::Cancel),
                    DownloadOutput::Failed(DownloadError::Track(e)),
                ];
            }
        };
        *opened = true;
        let total = manifest.total_size();
        self.written = total - missing.iter().map(|m| m.end - m.start).sum::<u64>();
        if missing.is_empty() {
            // An earlier run left it complete.
            target.submit(self.id, TargetJob::Finish);
            self.stage = Stage::Finishing;
            return Vec::new();
        }
        let mut out = vec![DownloadOutput::Progress {
            received: self.written,
            total,
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

    /// The host sent all it was asked for, and all of it is written: ask
    /// for what is still missing (a long list is asked for in rounds), or
    /// give up when a round brought nothing.
    fn on_missing(
        &mut self,
        missing: &[MissingRange],
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        if !matches!(self.stage, Stage::Receiving { opened: true, .. }) || missing.is_empty() {
            return Vec::new();
        }
        if self.written_at_done == Some(self.written) {
            return self.fail(
                DownloadError::Protocol("the host stopped sending before the track was complete"),
                true,
                target,
            );
        }
        self.written_at_done = Some(self.written);
        vec![self.request_missing(missing)]
    }

    fn on_written(
        &mut self,
        file: u32,
        result: Result<ChunkOutcome, TrackError>,
        target: &mut dyn TrackTarget,
    ) -> Vec<DownloadOutput> {
        let Stage::Receiving { manifest, .. } = &self.stage else {
            // Written after the track completed or failed: nothing to add.
            return Vec::new();
        };
        let total = manifest.total_size();
        match result {
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
                    target.submit(self.id, TargetJob::Finish);
                    self.stage = Stage::Finishing;
                }
                out
            }
            Err(TrackError::FileHashMismatch { path, .. }) => {
                let i = file as usize;
                let size = manifest.files().get(i).map_or(0, |f| f.size);
                let Some(tries) = self.retries.get_mut(i) else {
                    return self.fail(DownloadError::Protocol("file index"), true, target);
                };
                *tries += 1;
                if *tries >= HASH_RETRIES {
                    return self.fail(DownloadError::Corrupt(path), true, target);
                }
                // The target emptied the file: ask for all of it again.
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
            Err(e) => self.fail(DownloadError::Track(e), true, target),
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

    /// Serves the single-file track at `file` (`<track-id>.cmp`, hashed
    /// once), announced with `map_id`.
    pub fn from_file(
        file: &std::path::Path,
        map_id: &str,
        limits: &Limits,
    ) -> Result<FolderSource, TrackError> {
        let manifest = TrackManifest::from_file(file, map_id, limits)?;
        Ok(FolderSource {
            dir: file
                .parent()
                .unwrap_or_else(|| std::path::Path::new("."))
                .to_path_buf(),
            manifest,
            open: None,
        })
    }

    /// Serves the custom track `guid` of a game's `storage/offline/maps`
    /// folder (`<custom_maps>/<guid>.cmp`), announced with `map_id`.
    pub fn custom_track(
        custom_maps: &std::path::Path,
        guid: &str,
        map_id: &str,
        limits: &Limits,
    ) -> Result<FolderSource, TrackError> {
        super::validate_id(super::IdKind::Track, guid)?;
        FolderSource::from_file(
            &custom_maps.join(super::file_track_name(guid)),
            map_id,
            limits,
        )
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

/// A joiner's maps folder (and optional download cache) as a [`TrackTarget`].
///
/// Made with [`MapsFolder::new`], its jobs run on a thread of its own,
/// started with the first job, so the network thread never waits for the
/// disk; memory stays bounded because a download only gives the host credit
/// for chunks written, and the host never runs more than [`CREDIT_WINDOW`]
/// ahead of that. Dropping it lets the thread finish the jobs already
/// queued (an abort still removes its partial track; an open one is saved
/// for a resume) and end. [`MapsFolder::inline`] runs every job inside
/// [`TrackTarget::submit`] instead.
pub struct MapsFolder {
    limits: Limits,
    run: Run,
    /// Jobs submitted whose results were not polled yet.
    pending: usize,
    /// Results of jobs that could not reach the thread.
    lost: VecDeque<(u64, TargetDone)>,
}

enum Run {
    Inline {
        work: Box<FolderWork>,
        done: VecDeque<(u64, TargetDone)>,
    },
    /// The thread, once started; the work it will own until then.
    Thread {
        work: Option<Box<FolderWork>>,
        worker: Option<Worker>,
    },
}

struct Worker {
    jobs: crossbeam_channel::Sender<(u64, TargetJob)>,
    done: crossbeam_channel::Receiver<(u64, TargetDone)>,
}

impl MapsFolder {
    /// Installs into `maps_root` (the game's `.../content/maps`, which must
    /// exist), looking in `cache` for copies downloaded before; the disk
    /// work runs on a thread of its own.
    pub fn new(
        maps_root: &std::path::Path,
        cache: Option<&std::path::Path>,
        limits: Limits,
    ) -> Result<MapsFolder, TrackError> {
        let work = FolderWork::new(maps_root, cache, limits)?;
        Ok(MapsFolder {
            limits,
            run: Run::Thread {
                work: Some(Box::new(work)),
                worker: None,
            },
            pending: 0,
            lost: VecDeque::new(),
        })
    }

    /// Like [`MapsFolder::new`], but every job runs inside
    /// [`TrackTarget::submit`], on the caller's thread: for the in-memory
    /// room (deterministic, no threads) and tools that may block.
    pub fn inline(
        maps_root: &std::path::Path,
        cache: Option<&std::path::Path>,
        limits: Limits,
    ) -> Result<MapsFolder, TrackError> {
        let work = FolderWork::new(maps_root, cache, limits)?;
        Ok(MapsFolder {
            limits,
            run: Run::Inline {
                work: Box::new(work),
                done: VecDeque::new(),
            },
            pending: 0,
            lost: VecDeque::new(),
        })
    }

    /// Also takes single-file tracks (the game's `<guid>.cmp`), into `dir`
    /// (the game's `storage/offline/maps`, which must exist). Without it a
    /// room's single-file track fails with a message saying so.
    pub fn with_file_tracks(mut self, dir: &std::path::Path) -> Result<MapsFolder, TrackError> {
        let work = match &mut self.run {
            Run::Inline { work, .. } => Some(work),
            Run::Thread { work, .. } => work.as_mut(),
        };
        if let Some(w) = work {
            w.installer = w.installer.clone().with_file_tracks(dir)?;
        }
        Ok(self)
    }
}

impl TrackTarget for MapsFolder {
    fn limits(&self) -> Limits {
        self.limits
    }

    fn submit(&mut self, download: u64, job: TargetJob) {
        self.pending += 1;
        let worker = match &mut self.run {
            Run::Inline { work, done } => {
                let result = work.run(download, job);
                done.push_back((download, result));
                work.after_result();
                return;
            }
            Run::Thread { work, worker } => {
                if worker.is_none() {
                    *worker = work.take().and_then(|w| match spawn_worker(w) {
                        Ok(started) => Some(started),
                        Err(e) => {
                            tracing::error!("could not start the track disk thread: {e}");
                            None
                        }
                    });
                }
                worker.as_ref()
            }
        };
        let sent = match worker {
            Some(w) => w.jobs.send((download, job)).map_err(|e| e.into_inner().1),
            None => Err(job),
        };
        if let Err(job) = sent {
            let gone = TrackError::Io {
                path: PathBuf::new(),
                action: "handing a job to the track disk thread",
                source: io::Error::other("the thread is not running"),
            };
            self.lost.push_back((download, job.failed(gone)));
        }
    }

    fn poll(&mut self) -> Option<(u64, TargetDone)> {
        let next = match &mut self.run {
            Run::Inline { done, .. } => done.pop_front(),
            Run::Thread {
                worker: Some(w), ..
            } => w.done.try_recv().ok(),
            Run::Thread { worker: None, .. } => None,
        }
        .or_else(|| self.lost.pop_front());
        if next.is_some() {
            self.pending = self.pending.saturating_sub(1);
        }
        next
    }

    fn busy(&self) -> bool {
        self.pending > 0
    }
}

/// Starts the thread that runs `work`'s jobs, in order, until the
/// [`MapsFolder`] is dropped and the jobs queued before are done.
fn spawn_worker(mut work: Box<FolderWork>) -> io::Result<Worker> {
    let (jobs, job_rx) = crossbeam_channel::unbounded::<(u64, TargetJob)>();
    let (done_tx, done) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("propwash-track-disk".into())
        .spawn(move || {
            while let Ok((id, job)) = job_rx.recv() {
                let fallback = job.failed(TrackError::Io {
                    path: work.installer.maps_root().to_path_buf(),
                    action: "working on",
                    source: io::Error::other("the track disk job panicked"),
                });
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.run(id, job)));
                let result = result.unwrap_or_else(|_| {
                    tracing::error!("a track disk job panicked; its download fails");
                    work.drop_open();
                    fallback
                });
                // Gone: the session ended. Queued jobs still run, so an
                // abort still cleans up.
                let _ = done_tx.send((id, result));
                work.after_result();
            }
        })?;
    Ok(Worker { jobs, done })
}

/// The disk side of a [`MapsFolder`]: the installer, the cache, and the
/// one partial track open at a time.
struct FolderWork {
    installer: super::Installer,
    store: Option<super::TrackStore>,
    open: Option<(u64, super::PartialTrack)>,
    /// A track just installed, to copy into the cache once its result is
    /// out (the copy hashes it all again; the player need not wait).
    to_cache: Option<(TrackManifest, PathBuf)>,
}

impl FolderWork {
    fn new(
        maps_root: &std::path::Path,
        cache: Option<&std::path::Path>,
        limits: Limits,
    ) -> Result<FolderWork, TrackError> {
        let installer = super::Installer::new(maps_root, limits)?;
        let store = cache
            .map(|c| super::TrackStore::open(c, limits))
            .transpose()?;
        Ok(FolderWork {
            installer,
            store,
            open: None,
            to_cache: None,
        })
    }

    fn run(&mut self, id: u64, job: TargetJob) -> TargetDone {
        match job {
            TargetJob::Find(a) => TargetDone::Found(self.find(&a)),
            TargetJob::Open(manifest) => {
                // Another download's partial track is saved for later.
                self.open = None;
                match self.installer.begin_or_resume(&manifest) {
                    Ok(partial) => {
                        let missing = partial.missing_ranges();
                        self.open = Some((id, partial));
                        TargetDone::Opened(Ok(missing))
                    }
                    Err(e) => TargetDone::Opened(Err(e)),
                }
            }
            TargetJob::Write { file, offset, data } => TargetDone::Written {
                file,
                len: data.len() as u64,
                result: self
                    .partial(id)
                    .and_then(|p| p.write_chunk(file as usize, offset, &data)),
            },
            TargetJob::Missing => TargetDone::Missing(
                self.partial(id)
                    .map(|p| p.missing_ranges())
                    .unwrap_or_default(),
            ),
            TargetJob::Finish => TargetDone::Finished(self.finish(id)),
            TargetJob::Abort => {
                if let Some(partial) = self.take(id) {
                    if let Err(e) = partial.abort() {
                        tracing::warn!("could not remove a failed download: {e}");
                    }
                }
                TargetDone::Aborted
            }
            TargetJob::Close => {
                // Dropping a partial track saves its progress.
                drop(self.take(id));
                TargetDone::Closed
            }
        }
    }

    /// A verified copy: installed already (hashed unless this process
    /// hashed it before and nothing changed), or in the cache, installed
    /// from there through the same checked path as a download.
    fn find(&mut self, a: &Announcement) -> Option<PathBuf> {
        let limits = *self.installer.limits();
        if a.layout == Layout::File {
            // The one place the game looks: `<guid>.cmp`, hashed (a custom
            // track is one file of a few MiB).
            let root = self.installer.files_root()?;
            super::validate_id(super::IdKind::Track, &a.track_id).ok()?;
            let path = root.join(super::file_track_name(&a.track_id));
            if super::verify_file(&path, &a.hash, &limits).is_ok() {
                return Some(path);
            }
        } else if let Some(p) = super::find_installed_cached(
            self.installer.maps_root(),
            &a.map_id,
            &a.track_id,
            &a.hash,
            &limits,
        ) {
            return Some(p);
        }
        let store = self.store.as_ref()?;
        let dir = store.lookup(&a.hash)?;
        let manifest = store.manifest(&a.hash).ok()?;
        self.installer
            .install_from_dir(&dir, &manifest)
            .ok()
            .map(|t| t.path)
    }

    fn finish(&mut self, id: u64) -> Result<InstalledTrack, TrackError> {
        let Some(mut partial) = self.take(id) else {
            return Err(not_open(&self.installer));
        };
        match partial.finish() {
            Ok(installed) => {
                if self.store.is_some() {
                    self.to_cache = Some((partial.manifest().clone(), installed.path.clone()));
                }
                Ok(installed)
            }
            Err(e) => {
                if let Err(a) = partial.abort() {
                    tracing::warn!("could not remove a failed download: {a}");
                }
                Err(e)
            }
        }
    }

    /// Work that may wait until the last result is out.
    fn after_result(&mut self) {
        let (Some((manifest, installed)), Some(store)) = (self.to_cache.take(), &self.store) else {
            return;
        };
        if let Err(e) = store.insert(&installed, &manifest) {
            tracing::warn!("could not keep the track in the download cache: {e}");
        }
    }

    /// The partial track of download `id`.
    fn partial(&mut self, id: u64) -> Result<&mut super::PartialTrack, TrackError> {
        let FolderWork {
            open, installer, ..
        } = self;
        match open {
            Some((open_id, p)) if *open_id == id => Ok(p),
            _ => Err(not_open(installer)),
        }
    }

    fn take(&mut self, id: u64) -> Option<super::PartialTrack> {
        match self.open.take() {
            Some((open_id, p)) if open_id == id => Some(p),
            other => {
                self.open = other;
                None
            }
        }
    }

    /// After a panic the open partial track is in an unknown state: removed.
    fn drop_open(&mut self) {
        if let Some((_, p)) = self.open.take() {
            let _ = p.abort();
        }
    }
}

/// A job for a download whose partial track is not (or no longer) open.
fn not_open(installer: &super::Installer) -> TrackError {
    TrackError::Closed {
        path: installer.maps_root().to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_dir::TestDir;
    use crate::track::{generate_track, verify_dir};

    const MAP: &str = "MP-Stadium";
    const TRACK: &str = "CMP-window";

    /// A target whose disk is stuck until released: jobs wait in a queue.
    struct Held {
        inner: MapsFolder,
        held: VecDeque<(u64, TargetJob)>,
        hold: bool,
    }

    impl TrackTarget for Held {
        fn limits(&self) -> Limits {
            self.inner.limits()
        }
        fn submit(&mut self, download: u64, job: TargetJob) {
            self.held.push_back((download, job));
            if !self.hold {
                while let Some((d, j)) = self.held.pop_front() {
                    self.inner.submit(d, j);
                }
            }
        }
        fn poll(&mut self) -> Option<(u64, TargetDone)> {
            self.inner.poll()
        }
        fn busy(&self) -> bool {
            !self.held.is_empty() || self.inner.busy()
        }
    }

    impl Held {
        /// The disk works again: what waited runs.
        fn release(&mut self) {
            self.hold = false;
            while let Some((d, j)) = self.held.pop_front() {
                self.inner.submit(d, j);
            }
        }
    }

    /// Host and joiner exchanging messages directly, without a link.
    struct Pair {
        source: FolderSource,
        upload: Option<Upload>,
        download: Download,
        target: Held,
        to_host: VecDeque<TrackMsg>,
        ready: Option<PathBuf>,
    }

    impl Pair {
        fn outputs(&mut self, out: Vec<DownloadOutput>) {
            for o in out {
                match o {
                    DownloadOutput::Send(m) => self.to_host.push_back(m),
                    DownloadOutput::Progress { .. } => {}
                    DownloadOutput::Ready { path, .. } => self.ready = Some(path),
                    DownloadOutput::Failed(e) => panic!("the download failed: {e}"),
                }
            }
        }

        /// One round: the host reads what came and sends what the window
        /// allows, the joiner takes it all, then the target's results.
        fn round(&mut self) {
            while let Some(m) = self.to_host.pop_front() {
                match m {
                    TrackMsg::Request {
                        manifest, spans, ..
                    } => self.upload = Some(Upload::new(&self.source, manifest, &spans)),
                    TrackMsg::Credit { written } => {
                        if let Some(u) = self.upload.as_mut() {
                            u.on_credit(written);
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            let mut to_joiner = Vec::new();
            if let Some(u) = self.upload.as_mut() {
                while let Some(m) = u.next(&mut self.source) {
                    to_joiner.push(m.expect("read"));
                }
            }
            for m in to_joiner {
                let out = self.download.on_message(m, &mut self.target);
                self.outputs(out);
            }
            while let Some((id, done)) = self.target.poll() {
                assert_eq!(id, self.download.id());
                let out = self.download.on_target(done, &mut self.target);
                self.outputs(out);
            }
        }
    }

    #[test]
    fn a_single_file_track_travels_by_its_guid_and_is_found_afterwards() {
        let t = TestDir::new("transfer-cmp");
        let host = t.path().join("host");
        fs_create(&host);
        let file = host.join("CMP-77bd03.cmp");
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&file, &bytes).unwrap();
        let limits = Limits::default();
        let source = FolderSource::custom_track(&host, "CMP-77bd03", "MapCustom", &limits).unwrap();
        let m = source.manifest().clone();
        // The room announces it as a file track, and reads back the same.
        let props: crate::proto::room::Props = Announcement::props_for(&m, true)
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let layout = props::LAYOUT.as_bytes();
        assert_eq!(props.get(layout).map(Vec::as_slice), Some(&b"file"[..]));
        let announced = Announcement::from_props(&props).expect("an announcement");
        assert_eq!(announced.layout, Layout::File);
        assert_eq!(announced.track_id, "CMP-77bd03");
        let mut folder_props = props.clone();
        folder_props.remove(layout);
        assert_eq!(
            Announcement::from_props(&folder_props).unwrap().layout,
            Layout::Folder
        );
        folder_props.insert(layout.to_vec(), b"zip".to_vec());
        assert!(
            Announcement::from_props(&folder_props).is_none(),
            "an unknown layout is no announcement"
        );

        let maps = t.path().join("game/content/maps");
        let custom = t.path().join("game/storage/offline/maps");
        fs_create(&maps);
        fs_create(&custom);
        let target = Held {
            inner: MapsFolder::inline(&maps, None, limits)
                .unwrap()
                .with_file_tracks(&custom)
                .unwrap(),
            held: VecDeque::new(),
            hold: false,
        };
        let mut target = target;
        let download = Download::start(1, announced.clone(), &mut target);
        let mut pair = Pair {
            source,
            upload: None,
            download,
            target,
            to_host: VecDeque::new(),
            ready: None,
        };
        for _ in 0..100 {
            if pair.ready.is_some() {
                break;
            }
            pair.round();
        }
        let path = pair.ready.expect("installed");
        assert_eq!(
            path,
            std::fs::canonicalize(&custom)
                .unwrap()
                .join("CMP-77bd03.cmp")
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let left: Vec<_> = std::fs::read_dir(&custom).unwrap().collect();
        assert_eq!(left.len(), 1, "only the track, no temporary");
        assert_eq!(
            std::fs::read_dir(&maps).unwrap().count(),
            0,
            "nothing in content/maps"
        );
        // A later room with the same track finds it without a download.
        let mut again = MapsFolder::inline(&maps, None, limits)
            .unwrap()
            .with_file_tracks(&custom)
            .unwrap();
        again.submit(2, TargetJob::Find(announced));
        match again.poll() {
            Some((2, TargetDone::Found(Some(p)))) => assert_eq!(p, path),
            other => panic!("not found: {other:?}"),
        }
        // A joiner without a folder for file tracks fails, saying why.
        let mut bare = MapsFolder::inline(&maps, None, limits).unwrap();
        bare.submit(3, TargetJob::Open(m));
        match bare.poll() {
            Some((3, TargetDone::Opened(Err(e)))) => {
                assert!(e.to_string().contains("no folder for those"), "{e}")
            }
            other => panic!("opened: {other:?}"),
        }
    }

    #[test]
    fn chunks_waiting_for_a_stuck_disk_stay_within_the_credit_window() {
        let t = TestDir::new("transfer-window");
        let src = t.path().join("src");
        let m = generate_track(&src, MAP, TRACK, 16 << 20, 4, 3).expect("track");
        let maps = t.path().join("maps");
        fs_create(&maps);
        let limits = Limits::default();
        let mut target = Held {
            inner: MapsFolder::inline(&maps, None, limits).unwrap(),
            held: VecDeque::new(),
            hold: false,
        };
        let announced = Announcement {
            hash: m.track_hash(),
            map_id: MAP.into(),
            track_id: TRACK.into(),
            size: m.total_size(),
            download: true,
            layout: Layout::Folder,
        };
        let download = Download::start(1, announced, &mut target);
        let mut pair = Pair {
            source: FolderSource::new(&src, MAP, TRACK, &limits).unwrap(),
            upload: None,
            download,
            target,
            to_host: VecDeque::new(),
            ready: None,
        };
        // Let the manifest through and the partial track open, then the
        // disk stops.
        pair.round();
        pair.round();
        pair.round();
        assert!(pair.download.queued_bytes() <= CREDIT_WINDOW);
        pair.target.hold = true;
        let mut most = 0;
        for _ in 0..50 {
            pair.round();
            most = most.max(pair.download.queued_bytes());
        }
        // The host filled the window and stopped there.
        assert_eq!(most, CREDIT_WINDOW, "chunks queued for the disk");
        assert!(pair.upload.as_ref().is_some_and(|u| !u.can_send()));
        // The disk comes back: everything arrives.
        pair.target.release();
        for _ in 0..200 {
            if pair.ready.is_some() {
                break;
            }
            pair.round();
            assert!(pair.download.queued_bytes() <= CREDIT_WINDOW);
        }
        let path = pair.ready.expect("installed");
        verify_dir(&path, &m.track_hash(), &limits).expect("verifies");
        assert!(pair.download.is_over());
    }

    #[test]
    fn overlapping_and_repeated_spans_are_sent_once() {
        let t = TestDir::new("transfer-spans");
        let src = t.path().join("src");
        generate_track(&src, MAP, TRACK, 1 << 20, 3, 5).expect("track");
        let limits = Limits::default();
        let mut source = FolderSource::new(&src, MAP, TRACK, &limits).unwrap();
        let sizes: Vec<u64> = source.manifest().files().iter().map(|f| f.size).collect();
        let whole: u64 = sizes.iter().sum();
        // 1024 requests for everything, shifted and overlapping, plus ranges
        // past the end and for a file that does not exist.
        let mut spans = Vec::new();
        for k in 0..1024u64 {
            for (i, size) in sizes.iter().enumerate() {
                spans.push(Span {
                    file: i as u32,
                    start: (k * 37) % size,
                    end: size + k,
                });
                spans.push(Span {
                    file: i as u32,
                    start: 0,
                    end: (k * 91) % size + 1,
                });
            }
            spans.push(Span {
                file: 9,
                start: 0,
                end: 1 << 40,
            });
        }
        let mut up = Upload::new(&source, false, &spans);
        let mut sent = 0u64;
        for _ in 0..10_000 {
            match up.next(&mut source) {
                Some(Ok(TrackMsg::Chunk { data, .. })) => {
                    sent += data.len() as u64;
                    up.on_credit(u64::MAX);
                }
                Some(Ok(TrackMsg::Done)) | None => break,
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(sent, whole, "the host sends each byte once");
    }

    #[test]
    fn a_failure_is_reported_only_once_the_partial_track_is_gone() {
        let t = TestDir::new("transfer-abort");
        let src = t.path().join("src");
        let m = generate_track(&src, MAP, TRACK, 1 << 20, 2, 4).expect("track");
        let maps = t.path().join("maps");
        fs_create(&maps);
        let limits = Limits::default();
        let mut target = Held {
            inner: MapsFolder::inline(&maps, None, limits).unwrap(),
            held: VecDeque::new(),
            hold: false,
        };
        let announced = Announcement {
            hash: m.track_hash(),
            map_id: MAP.into(),
            track_id: TRACK.into(),
            size: m.total_size(),
            download: true,
            layout: Layout::Folder,
        };
        let mut d = Download::start(7, announced, &mut target);
        let drain = |d: &mut Download, target: &mut Held| {
            let mut out = Vec::new();
            while let Some((_, done)) = target.poll() {
                out.extend(d.on_target(done, target));
            }
            out
        };
        drain(&mut d, &mut target);
        let source = FolderSource::new(&src, MAP, TRACK, &limits).unwrap();
        let mut up = Upload::new(&source, true, &[]);
        let mut source = source;
        // The manifest, and one chunk.
        for _ in 0..8 {
            let Some(Ok(msg)) = up.next(&mut source) else {
                break;
            };
            let is_chunk = matches!(msg, TrackMsg::Chunk { .. });
            d.on_message(msg, &mut target);
            if is_chunk {
                break;
            }
        }
        drain(&mut d, &mut target);
        let temps = || std::fs::read_dir(&maps).unwrap().count();
        assert_eq!(temps(), 1, "the partial track is open");
        // What the host sent of the track before this one, still arriving
        // after it switched, leaves this download alone.
        let other = [0xee; 8];
        for stale in [
            TrackMsg::Chunk {
                tag: other,
                file: 0,
                offset: 0,
                data: vec![1; 64],
            },
            TrackMsg::ManifestPart {
                hash: TrackHash([0xee; 32]),
                total: 10,
                offset: 0,
                data: vec![b'{'],
            },
            TrackMsg::Refused {
                tag: other,
                reason: "the host stopped sharing that track".into(),
            },
        ] {
            assert!(d.on_message(stale, &mut target).is_empty());
            assert!(drain(&mut d, &mut target).is_empty());
            assert!(!d.is_over());
        }
        // The disk is slow; the host refuses meanwhile.
        target.hold = true;
        let out = d.on_message(
            TrackMsg::Refused {
                tag: tag_of(&m.track_hash()),
                reason: "no".into(),
            },
            &mut target,
        );
        assert!(out.is_empty(), "reported before the cleanup: {out:?}");
        assert!(!d.is_over());
        target.release();
        let out = drain(&mut d, &mut target);
        assert!(
            matches!(
                out.as_slice(),
                [DownloadOutput::Failed(DownloadError::Refused(_))]
            ),
            "{out:?}"
        );
        assert_eq!(temps(), 0, "nothing left in the maps folder");
        assert!(d.is_over());
    }

    /// Polls until a result comes (bounded).
    fn wait(target: &mut MapsFolder) -> (u64, TargetDone) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(r) = target.poll() {
                return r;
            }
            assert!(std::time::Instant::now() < end, "no result from the thread");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn the_folders_thread_answers_every_job_in_order_and_finishes_queued_ones_after_a_drop() {
        let t = TestDir::new("transfer-thread");
        let maps = t.path().join("maps");
        let installed = maps.join(MAP).join("custom").join(TRACK);
        let m = generate_track(&installed, MAP, TRACK, 2 << 20, 3, 8).expect("track");
        let limits = Limits::default();
        let mut target = MapsFolder::new(&maps, None, limits).unwrap();
        assert!(!target.busy());
        let mut a = Announcement {
            hash: m.track_hash(),
            map_id: MAP.into(),
            track_id: TRACK.into(),
            size: m.total_size(),
            download: true,
            layout: Layout::Folder,
        };
        target.submit(1, TargetJob::Find(a.clone()));
        a.hash = TrackHash([3; 32]);
        target.submit(2, TargetJob::Find(a));
        assert!(target.busy());
        match wait(&mut target) {
            (1, TargetDone::Found(Some(p))) => assert!(p.ends_with(TRACK)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(wait(&mut target), (2, TargetDone::Found(None))));
        assert!(!target.busy());

        // A partial track opened, written to, then given up; the folder is
        // dropped before the thread got to the abort.
        let other = t.path().join("other");
        let m2 = generate_track(&other, MAP, "CMP-other", 1 << 20, 2, 9).expect("track");
        target.submit(3, TargetJob::Open(m2.clone()));
        let mut first = vec![0u8; 1000];
        FolderSource::new(&other, MAP, "CMP-other", &limits)
            .unwrap()
            .read(0, 0, &mut first)
            .unwrap();
        target.submit(
            3,
            TargetJob::Write {
                file: 0,
                offset: 0,
                data: first,
            },
        );
        // Another download's write finds no partial track of its own.
        target.submit(
            4,
            TargetJob::Write {
                file: 0,
                offset: 0,
                data: vec![1],
            },
        );
        assert!(matches!(wait(&mut target), (3, TargetDone::Opened(Ok(_)))));
        match wait(&mut target) {
            (3, TargetDone::Written { result: Ok(o), .. }) => assert_eq!(o.new_bytes, 1000),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            wait(&mut target),
            (
                4,
                TargetDone::Written {
                    result: Err(TrackError::Closed { .. }),
                    ..
                }
            )
        ));
        let temp = || {
            std::fs::read_dir(&maps)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with(super::super::install::TEMP_PREFIX)
                })
                .count()
        };
        assert_eq!(temp(), 1);
        target.submit(3, TargetJob::Abort);
        drop(target);
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while temp() > 0 {
            assert!(std::time::Instant::now() < end, "the abort never ran");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn fs_create(p: &std::path::Path) {
        std::fs::create_dir_all(p).unwrap();
    }
}
