//! What can go wrong with a track, as one enum. Every message names the
//! file, folder or id at fault, so a player (or a host's log) can tell which
//! part of a track was refused and why.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::manifest::TrackHash;

/// The longest piece of untrusted text (a path, an id) quoted in a message.
const SHOWN_CHARS: usize = 120;

/// Quotes untrusted text for a message: control characters escaped, long
/// text cut, so a hostile manifest cannot forge or flood a log line.
pub(crate) fn shown(s: &str) -> String {
    let mut out = String::from("\"");
    for (n, c) in s.chars().enumerate() {
        if n == SHOWN_CHARS {
            out.push_str("...");
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Which path rule a track path (or id) breaks. See
/// [`validate_relative_path`](super::manifest::validate_relative_path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathRule {
    /// The path or name is empty.
    Empty,
    /// The whole path is longer than the limit, in bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// One component is longer than 255 bytes.
    ComponentTooLong,
    /// Starts with `/` or `\`.
    Absolute,
    /// Starts with a drive letter (`C:`).
    DriveLetter,
    /// Contains `\` (paths are `/`-separated and must mean the same on Windows).
    Backslash,
    /// An id contains `/`: it must be a single folder name.
    Slash,
    /// An empty component (`a//b`, or a leading or trailing `/`).
    EmptyComponent,
    /// A `.` or `..` component.
    DotComponent,
    /// A Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, CONIN$,
    /// CONOUT$), with or without an extension, in any case.
    ReservedName,
    /// A component ends in `.` or a space (Windows strips them).
    TrailingDotOrSpace,
    /// A control character.
    ControlChar,
    /// A character Windows does not allow in names: `< > : " | ? *`.
    ForbiddenChar(char),
    /// A file the OS writes on its own (`.DS_Store`, `Thumbs.db`,
    /// `desktop.ini`): skipped when hashing a folder, refused in a manifest.
    OsMetadata,
    /// An id starts with `.` (hidden, and the prefix of our temp folders).
    LeadingDot,
    /// An id contains `~` (reserved for tracks installed beside another).
    Tilde,
}

impl fmt::Display for PathRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathRule::Empty => f.write_str("is empty"),
            PathRule::TooLong { len, max } => {
                write!(f, "is {len} bytes long, more than the limit of {max}")
            }
            PathRule::ComponentTooLong => f.write_str("has a name longer than 255 bytes"),
            PathRule::Absolute => f.write_str("is absolute"),
            PathRule::DriveLetter => f.write_str("starts with a drive letter"),
            PathRule::Backslash => f.write_str("contains a backslash"),
            PathRule::Slash => f.write_str("contains '/'"),
            PathRule::EmptyComponent => f.write_str("has an empty component"),
            PathRule::DotComponent => f.write_str("has a '.' or '..' component"),
            PathRule::ReservedName => f.write_str("uses a Windows device name (CON, NUL, ...)"),
            PathRule::TrailingDotOrSpace => f.write_str("has a name ending in '.' or a space"),
            PathRule::ControlChar => f.write_str("contains a control character"),
            PathRule::ForbiddenChar(c) => {
                write!(f, "contains {c:?}, which Windows does not allow in names")
            }
            PathRule::OsMetadata => f.write_str("is an OS metadata file (.DS_Store, ...)"),
            PathRule::LeadingDot => f.write_str("starts with '.'"),
            PathRule::Tilde => f.write_str("contains '~'"),
        }
    }
}

/// Which id of a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// The map id (`maps/<map-id>/`).
    Map,
    /// The track id (`maps/<map-id>/custom/<track-id>/`).
    Track,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Map => "map id",
            IdKind::Track => "track id",
        })
    }
}

/// Everything that can go wrong reading, checking or installing a track.
/// Paths inside a track are `/`-separated and relative to the track folder;
/// paths on this machine are [`PathBuf`]s.
#[derive(Debug)]
#[non_exhaustive]
pub enum TrackError {
    /// A file system operation failed.
    Io {
        /// The file or folder it was about.
        path: PathBuf,
        /// What we were doing ("reading", "creating", ...).
        action: &'static str,
        /// What the OS said.
        source: io::Error,
    },
    /// A path inside a track breaks a path rule.
    BadPath {
        /// The offending path.
        path: String,
        /// The rule it breaks.
        rule: PathRule,
    },
    /// A map or track id is not a single safe folder name.
    BadId {
        /// Map or track.
        kind: IdKind,
        /// The offending id.
        id: String,
        /// The rule it breaks.
        rule: PathRule,
    },
    /// A file or folder name is not valid UTF-8 (shown lossily).
    NonUtf8Name {
        /// Where it is.
        path: PathBuf,
    },
    /// A symbolic link (or junction) where a plain file or folder must be.
    /// Tracks never contain links, and we never follow one.
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Something that is neither a plain file nor a folder (device, socket,
    /// pipe).
    SpecialFile {
        /// Where it is.
        path: PathBuf,
    },
    /// A folder was expected and something else is there.
    NotADirectory {
        /// Where it is.
        path: PathBuf,
    },
    /// Two paths that would be one file on a case-insensitive file system
    /// (Windows, macOS), or a path that is both a file and a folder.
    PathCollision {
        /// The later path.
        path: String,
        /// The path it collides with.
        other: String,
    },
    /// A manifest lists the same path twice.
    DuplicatePath {
        /// The path.
        path: String,
    },
    /// A manifest does not list its files in canonical (byte-wise sorted)
    /// order, so file indices would mean different files on each side.
    NotCanonicalOrder {
        /// The path out of order.
        path: String,
        /// The path before it.
        previous: String,
    },
    /// More files than the limit.
    TooManyFiles {
        /// The folder or manifest.
        path: String,
        /// How many (at least).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More bytes than the limit.
    TooLarge {
        /// The file that crossed the limit (or the track).
        path: String,
        /// How many bytes (at least).
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// A track without files.
    EmptyTrack {
        /// The folder or manifest.
        path: String,
    },
    /// A manifest is not the JSON we expect.
    ManifestParse {
        /// What the parser said.
        detail: String,
    },
    /// A manifest is longer than any manifest within the limits could be.
    ManifestTooLong {
        /// Its length in bytes.
        len: usize,
        /// The longest we accept.
        max: usize,
    },
    /// A manifest of a format version we do not know.
    UnsupportedVersion {
        /// The version it claims.
        version: u32,
    },
    /// A hash that is not 64 hex digits.
    BadHex {
        /// What the hash belongs to (a file path, "track hash").
        what: String,
        /// The text given.
        value: String,
    },
    /// A manifest does not match what the room announced.
    AnnouncementMismatch {
        /// Which field ("map id", "track id", "track hash", "total size").
        field: &'static str,
        /// What the room announced.
        announced: String,
        /// What the manifest says.
        manifest: String,
    },
    /// A folder's files do not hash to the expected track hash.
    TrackHashMismatch {
        /// The folder.
        path: PathBuf,
        /// The hash we wanted.
        expected: TrackHash,
        /// The hash the folder has.
        actual: TrackHash,
    },
    /// A file of the manifest is not in the folder.
    FileMissing {
        /// The file.
        path: String,
    },
    /// The folder holds a file the manifest does not list.
    FileUnexpected {
        /// The file.
        path: String,
    },
    /// A file has another size than the manifest says.
    FileSizeMismatch {
        /// The file.
        path: String,
        /// Its size in the manifest.
        expected: u64,
        /// Its size on disk.
        actual: u64,
    },
    /// A file's content does not hash to the manifest's SHA-256.
    FileHashMismatch {
        /// The file.
        path: String,
        /// The manifest's SHA-256.
        expected: [u8; 32],
        /// What the file hashes to.
        actual: [u8; 32],
    },
    /// A chunk names a file index the manifest does not have.
    UnknownFileIndex {
        /// The index given.
        index: usize,
        /// How many files the manifest has.
        files: usize,
    },
    /// A chunk reaches past the end of its file as announced.
    ChunkOutOfRange {
        /// The file.
        path: String,
        /// The chunk's offset.
        offset: u64,
        /// The chunk's length.
        len: u64,
        /// The file's announced size.
        size: u64,
    },
    /// A chunk overlaps bytes already received and disagrees with them.
    ChunkConflict {
        /// The file.
        path: String,
        /// The chunk's offset.
        offset: u64,
        /// The chunk's length.
        len: u64,
    },
    /// `finish` was called before every byte arrived.
    Incomplete {
        /// The first file still missing bytes.
        path: String,
        /// How many bytes of the whole track are missing.
        missing: u64,
    },
    /// A path would land outside the folder it must stay in.
    OutsideRoot {
        /// The path.
        path: PathBuf,
        /// The folder it must stay in.
        root: PathBuf,
    },
    /// The install state file left by an earlier run is unusable.
    StateCorrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The destination and every name beside it hold other tracks.
    Occupied {
        /// The destination we wanted.
        path: PathBuf,
    },
    /// A single-file track's file is not named `<track-id>.cmp`, or the
    /// track has more than that one file.
    NotAFileTrack {
        /// What the track is called.
        track_id: String,
        /// What was found instead.
        detail: String,
    },
    /// A single-file track's place holds another file of that name, which
    /// is never overwritten.
    FileTaken {
        /// The file in the way.
        path: PathBuf,
    },
    /// A single-file track came, and no folder for such tracks was given.
    NoFileTrackFolder {
        /// The track.
        track_id: String,
    },
    /// The partial track was already finished or aborted.
    Closed {
        /// Its temporary folder.
        path: PathBuf,
    },
}

impl fmt::Display for TrackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TrackError::*;
        match self {
            Io {
                path,
                action,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            BadPath { path, rule } => write!(f, "track path {} {rule}", shown(path)),
            BadId { kind, id, rule } => write!(f, "{kind} {} {rule}", shown(id)),
            NonUtf8Name { path } => write!(f, "{}: name is not valid UTF-8", path.display()),
            Symlink { path } => write!(
                f,
                "{}: is a symbolic link; tracks may not contain links",
                path.display()
            ),
            SpecialFile { path } => {
                write!(f, "{}: is neither a file nor a folder", path.display())
            }
            NotADirectory { path } => write!(f, "{}: is not a folder", path.display()),
            PathCollision { path, other } => write!(
                f,
                "track path {} collides with {} (names differing only in case, \
                 or a file that is also a folder)",
                shown(path),
                shown(other)
            ),
            DuplicatePath { path } => write!(f, "track path {} is listed twice", shown(path)),
            NotCanonicalOrder { path, previous } => write!(
                f,
                "manifest lists {} after {}: files must be sorted by path",
                shown(path),
                shown(previous)
            ),
            TooManyFiles { path, count, max } => {
                write!(f, "{path}: {count} files, more than the limit of {max}")
            }
            TooLarge { path, bytes, max } => write!(
                f,
                "{}: track reaches {bytes} bytes, more than the limit of {max}",
                shown(path)
            ),
            EmptyTrack { path } => write!(f, "{path}: track has no files"),
            ManifestParse { detail } => write!(f, "track manifest does not parse: {detail}"),
            ManifestTooLong { len, max } => write!(
                f,
                "track manifest is {len} bytes, more than the {max} the limits allow"
            ),
            UnsupportedVersion { version } => {
                write!(f, "track manifest has unknown format version {version}")
            }
            BadHex { what, value } => write!(
                f,
                "{}: SHA-256 {} is not 64 hex digits",
                shown(what),
                shown(value)
            ),
            AnnouncementMismatch {
                field,
                announced,
                manifest,
            } => write!(
                f,
                "track manifest {field} {} differs from the room's {}",
                shown(manifest),
                shown(announced)
            ),
            TrackHashMismatch {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{}: track hash is {actual}, expected {expected}",
                path.display()
            ),
            FileMissing { path } => write!(f, "track file {} is missing", shown(path)),
            FileUnexpected { path } => {
                write!(f, "track file {} is not in the manifest", shown(path))
            }
            FileSizeMismatch {
                path,
                expected,
                actual,
            } => write!(
                f,
                "track file {} is {actual} bytes, expected {expected}",
                shown(path)
            ),
            FileHashMismatch {
                path,
                expected,
                actual,
            } => write!(
                f,
                "track file {} has SHA-256 {}, expected {}",
                shown(path),
                TrackHash(*actual),
                TrackHash(*expected)
            ),
            UnknownFileIndex { index, files } => write!(
                f,
                "chunk for file index {index}, but the track has {files} files"
            ),
            ChunkOutOfRange {
                path,
                offset,
                len,
                size,
            } => write!(
                f,
                "chunk of {len} bytes at offset {offset} of track file {} reaches past its \
                 announced size {size}",
                shown(path)
            ),
            ChunkConflict { path, offset, len } => write!(
                f,
                "chunk of {len} bytes at offset {offset} of track file {} differs from \
                 bytes already received",
                shown(path)
            ),
            Incomplete { path, missing } => write!(
                f,
                "track incomplete: {missing} bytes missing, first in track file {}",
                shown(path)
            ),
            OutsideRoot { path, root } => write!(
                f,
                "{}: would be outside {}; refused",
                path.display(),
                root.display()
            ),
            StateCorrupt { path, detail } => {
                write!(f, "{}: install state unusable: {detail}", path.display())
            }
            Occupied { path } => write!(
                f,
                "{}: this name and the names beside it hold other tracks",
                path.display()
            ),
            NotAFileTrack { track_id, detail } => write!(
                f,
                "single-file track {}: it must be one file named {}.{}; {detail}",
                shown(track_id),
                shown(track_id),
                super::manifest::FILE_TRACK_EXTENSION
            ),
            FileTaken { path } => write!(
                f,
                "{}: another track of that name is already there and is left as it is \
                 (move it away to get the room's)",
                path.display()
            ),
            NoFileTrackFolder { track_id } => write!(
                f,
                "{} is a single-file track and this game has no folder for those \
                 (storage/offline/maps)",
                shown(track_id)
            ),
            Closed { path } => write!(
                f,
                "{}: partial track already finished or aborted",
                path.display()
            ),
        }
    }
}

/// Equal when the same variant holds the same values. An `io::Error` has
/// no equality of its own, so I/O errors are equal when their path, action
/// and [`io::ErrorKind`] are.
impl PartialEq for TrackError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                TrackError::Io {
                    path: p1,
                    action: a1,
                    source: s1,
                },
                TrackError::Io {
                    path: p2,
                    action: a2,
                    source: s2,
                },
            ) => p1 == p2 && a1 == a2 && s1.kind() == s2.kind(),
            (TrackError::Io { .. }, _) | (_, TrackError::Io { .. }) => false,
            // Every other variant holds plain data (strings, paths, numbers,
            // hashes) that its derived `Debug` shows in full.
            _ => format!("{self:?}") == format!("{other:?}"),
        }
    }
}

impl std::error::Error for TrackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrackError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Wraps an `io::Error` with the path and action, for `map_err`.
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> TrackError {
    let path = path.into();
    move |source| TrackError::Io {
        path,
        action,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_and_cuts_untrusted_text() {
        assert_eq!(shown("a\nb\"c"), r#""a\nb\"c""#);
        let long = "x".repeat(500);
        let s = shown(&long);
        assert!(s.len() < 130 && s.ends_with("...\""), "{s}");
    }

    #[test]
    fn every_message_names_its_file() {
        let e = TrackError::FileSizeMismatch {
            path: "gates/a.bin".into(),
            expected: 3,
            actual: 4,
        };
        assert_eq!(
            e.to_string(),
            "track file \"gates/a.bin\" is 4 bytes, expected 3"
        );
        let e = TrackError::BadPath {
            path: "../x".into(),
            rule: PathRule::DotComponent,
        };
        assert!(e.to_string().contains("\"../x\""), "{e}");
    }

    #[test]
    fn errors_compare_by_value() {
        let bad = |p: &str| TrackError::BadPath {
            path: p.into(),
            rule: PathRule::DotComponent,
        };
        assert_eq!(bad("../x"), bad("../x"));
        assert_ne!(bad("../x"), bad("../y"));
        let io = |kind| TrackError::Io {
            path: "a".into(),
            action: "reading",
            source: io::Error::new(kind, "boom"),
        };
        assert_eq!(io(io::ErrorKind::NotFound), io(io::ErrorKind::NotFound));
        assert_ne!(io(io::ErrorKind::NotFound), io(io::ErrorKind::Other));
        assert_ne!(io(io::ErrorKind::NotFound), bad("a"));
    }
}
