//! `propwash track ...`: print a track folder's manifest and hash, check a
//! folder against a hash, and generate a synthetic track for the demo.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::generate::generate_track;
use super::manifest::{
    verify_dir, verify_file, Limits, TrackHash, TrackManifest, FILE_TRACK_MAP_ID,
};

/// Exit status: the command did what was asked.
pub const EXIT_OK: i32 = 0;
/// Exit status: the folder does not match, or could not be read.
pub const EXIT_FAILED: i32 = 1;
/// Exit status: the arguments are wrong.
pub const EXIT_USAGE: i32 = 2;

/// The help text.
pub const USAGE: &str = "Usage: propwash track <command> ...

Commands:
  manifest <dir> [--map ID] [--track ID] [--max-bytes N] [--max-files N]
      Print the manifest of a track folder as JSON, then a line
      'track_hash <hex>'. The ids default to the folder's place in
      maps/<map-id>/custom/<track-id>. <dir> may be a single-file track,
      the game's <guid>.cmp (its track id is the guid; --map defaults to
      MapCustom).
  verify <dir> <hash> [--max-bytes N] [--max-files N]
      Check that the folder (or .cmp file) holds exactly the track with
      this hash.
      Exit status 0 when it does, 1 (with the reason) when it does not.
  generate <dir> --bytes N --files N [--seed N] [--map ID] [--track ID]
      Write a synthetic track with deterministic content into <dir>
      and print its manifest and hash like 'manifest'.

Exit status: 0 ok, 1 mismatch or error, 2 bad arguments.
";

/// Runs `propwash track <args>`, printing to stdout and stderr. `args` are
/// the words after `track` (`["verify", "<dir>", "<hash>"]`). Returns the
/// exit status.
pub fn cli_main(args: &[String]) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run(args, &mut stdout.lock(), &mut stderr.lock())
}

/// [`cli_main`] writing into the given streams (for tests).
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let usage = |err: &mut dyn Write, msg: &str| {
        let _ = writeln!(err, "propwash track: {msg}\n\n{USAGE}");
        EXIT_USAGE
    };
    let opts = match Opts::parse(args.get(1..).unwrap_or_default()) {
        Ok(o) => o,
        Err(msg) => return usage(err, &msg),
    };
    let fail = |err: &mut dyn Write, msg: &dyn std::fmt::Display| {
        let _ = writeln!(err, "propwash track: {msg}");
        EXIT_FAILED
    };
    match (args.first().map(String::as_str), opts.positional.as_slice()) {
        (Some("help" | "-h" | "--help"), _) => {
            let _ = write!(out, "{USAGE}");
            EXIT_OK
        }
        (Some("manifest"), [dir]) => {
            let dir = Path::new(dir);
            if dir.is_file() {
                let map = opts.map.clone().unwrap_or_else(|| FILE_TRACK_MAP_ID.into());
                return match TrackManifest::from_file(dir, &map, &opts.limits) {
                    Ok(m) => print_manifest(out, &m),
                    Err(e) => fail(err, &e),
                };
            }
            let (map, track) = match opts.ids(dir) {
                Ok(ids) => ids,
                Err(msg) => return usage(err, &msg),
            };
            match TrackManifest::from_dir(dir, &map, &track, &opts.limits) {
                Ok(m) => print_manifest(out, &m),
                Err(e) => fail(err, &e),
            }
        }
        (Some("verify"), [dir, hash]) => {
            let hash: TrackHash = match hash.parse() {
                Ok(h) => h,
                Err(e) => return usage(err, &e.to_string()),
            };
            let path = Path::new(dir);
            let checked = if path.is_file() {
                verify_file(path, &hash, &opts.limits).map(|f| vec![f])
            } else {
                verify_dir(path, &hash, &opts.limits)
            };
            match checked {
                Ok(files) => {
                    let bytes: u64 = files.iter().map(|f| f.size).sum();
                    let _ = writeln!(out, "ok {hash} ({} files, {bytes} bytes)", files.len());
                    EXIT_OK
                }
                Err(e) => fail(err, &format_args!("mismatch: {e}")),
            }
        }
        (Some("generate"), [dir]) => {
            let (Some(bytes), Some(files)) = (opts.bytes, opts.files) else {
                return usage(err, "generate needs --bytes and --files");
            };
            let dir = Path::new(dir);
            let map = opts.map.clone().unwrap_or_else(|| "MP-demo".into());
            let track = opts.track.clone().unwrap_or_else(|| "CMP-demo".into());
            match generate_track(dir, &map, &track, bytes, files, opts.seed) {
                Ok(m) => print_manifest(out, &m),
                Err(e) => fail(err, &e),
            }
        }
        (Some("manifest" | "verify" | "generate"), _) => usage(err, "wrong number of arguments"),
        (Some(other), _) => usage(err, &format!("unknown command {other:?}")),
        (None, _) => usage(err, "missing command"),
    }
}

fn print_manifest(out: &mut dyn Write, m: &TrackManifest) -> i32 {
    let _ = writeln!(out, "{}", m.to_json_pretty());
    let _ = writeln!(out, "track_hash {}", m.track_hash());
    EXIT_OK
}

#[derive(Default)]
struct Opts {
    positional: Vec<String>,
    map: Option<String>,
    track: Option<String>,
    bytes: Option<u64>,
    files: Option<usize>,
    seed: u64,
    limits: Limits,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut o = Opts::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{a} needs a value"))
            };
            let number = |v: String| {
                v.parse::<u64>()
                    .map_err(|_| format!("{a} wants a whole number, not {v:?}"))
            };
            match a.as_str() {
                "--map" => o.map = Some(value()?),
                "--track" => o.track = Some(value()?),
                "--bytes" => o.bytes = Some(number(value()?)?),
                "--files" => o.files = Some(number(value()?)? as usize),
                "--seed" => o.seed = number(value()?)?,
                "--max-bytes" => o.limits.max_total_bytes = number(value()?)?,
                "--max-files" => o.limits.max_files = number(value()?)? as usize,
                s if s.starts_with("--") => return Err(format!("unknown option {s}")),
                _ => o.positional.push(a.clone()),
            }
        }
        Ok(o)
    }

    /// The ids from `--map`/`--track`, else from `maps/<map>/custom/<track>`
    /// (or `<track>~<hash>`).
    fn ids(&self, dir: &Path) -> Result<(String, String), String> {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir));
        let name = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .map(str::to_owned)
        };
        let parent = real.parent();
        let in_custom = name(parent).as_deref() == Some("custom");
        // A track installed beside another is `<track-id>~<hash>`.
        let track = self.track.clone().or_else(|| {
            in_custom
                .then(|| name(Some(&real)))
                .flatten()
                .map(|n| n.split('~').next().unwrap_or_default().to_owned())
        });
        let map = self.map.clone().or_else(|| {
            in_custom
                .then(|| name(parent.and_then(Path::parent)))
                .flatten()
        });
        match (map, track) {
            (Some(m), Some(t)) => Ok((m, t)),
            _ => Err(format!(
                "cannot tell the ids from {}; pass --map ID --track ID",
                dir.display()
            )),
        }
    }
}
