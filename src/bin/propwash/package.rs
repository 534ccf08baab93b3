//! `propwash package`: the zip a racer unzips into the DRL Simulator
//! folder, and its SHA-256 beside it.
//!
//! Inside, under `BepInEx/plugins/propwash/`: the native library and its
//! Steam plugin (built for Windows), the two C# assemblies from
//! `shim/build.sh`, a README for players and a default config. Every DLL is
//! checked before anything is written: a 64-bit Windows DLL, and
//! `propwash.dll` exports every function of this build's C header; the C#
//! ones are .NET assemblies. The zip and its `.sha256` are written under
//! temporary names and renamed into place, so a failure leaves neither.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::pe;
use super::zip::{self, DosTime, Entry};

pub(crate) const USAGE: &str = "\
Usage: propwash package --native DIR --shim DIR [--out DIR]

Makes the zip racers install: propwash-<version>-windows-x64.zip and
propwash-<version>-windows-x64.zip.sha256 (sha256sum's format) in --out.
Unzipped into the game folder (the one with 'DRL Simulator.exe') it gives
BepInEx/plugins/propwash/ with the DLLs, README.txt and propwash.default.cfg.

Options:
  --native DIR   propwash.dll and propwash_steam.dll, built for Windows x64
                 (.ci/windows leaves them stripped in target/windows/dist)
  --shim DIR     Propwash.Native.dll and Propwash.Shim.dll (shim/build.sh --out DIR)
  --out DIR      where the zip goes (default: the current folder; made if missing)
  -h, --help     show this help

Every DLL is checked first: 64-bit Windows DLLs, the C# ones .NET assemblies,
and propwash.dll must export every function of include/propwash.h.
Exit status: 0 when both files were written, 1 when an input or the disk
failed (nothing is left behind), 2 for bad arguments.
";

/// Where the files go inside the zip.
const PLUGIN_DIR: &str = "BepInEx/plugins/propwash/";
/// The native DLLs, from `--native`.
const NATIVE: [&str; 2] = ["propwash.dll", "propwash_steam.dll"];
/// The C# assemblies, from `--shim`.
const MANAGED: [&str; 2] = ["Propwash.Native.dll", "Propwash.Shim.dll"];
/// The players' README (`{version}` is replaced).
const README: &str = include_str!("../../../shim/package/README.txt");
/// The default config.
const DEFAULT_CONFIG: &str = include_str!("../../../shim/package/propwash.default.cfg");

/// Why `propwash package` did not write the zip.
#[derive(Debug)]
pub(crate) enum PackageError {
    /// The command line is wrong (the usage follows the message).
    Usage(String),
    /// An input file is not there, or is not a file.
    Missing { path: PathBuf },
    /// An input file could not be read.
    Read { path: PathBuf, error: io::Error },
    /// A native DLL is not a 64-bit Windows DLL.
    NotWindowsDll { path: PathBuf, why: String },
    /// A C# DLL is not a .NET assembly.
    NotAssembly { path: PathBuf, why: String },
    /// `propwash.dll` lacks functions that the C header declares.
    MissingExports { path: PathBuf, names: Vec<String> },
    /// The output folder or a file in it could not be written.
    Write { path: PathBuf, error: io::Error },
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageError::Usage(m) => f.write_str(m),
            PackageError::Missing { path } => write!(f, "{} is missing", path.display()),
            PackageError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            PackageError::NotWindowsDll { path, why } => {
                write!(f, "{} is not a 64-bit Windows DLL: {why}", path.display())
            }
            PackageError::NotAssembly { path, why } => {
                write!(f, "{} is not a .NET assembly: {why}", path.display())
            }
            PackageError::MissingExports { path, names } => write!(
                f,
                "{} does not export {} function(s) of include/propwash.h ({}); was it built from this source?",
                path.display(),
                names.len(),
                names.join(", ")
            ),
            PackageError::Write { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for PackageError {}

/// What `propwash package` was asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PackageArgs {
    pub(crate) native: PathBuf,
    pub(crate) shim: PathBuf,
    pub(crate) out: PathBuf,
}

/// What was written.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) zip: PathBuf,
    pub(crate) sha256_file: PathBuf,
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
}

/// Parses the options; `Ok(None)` asks for the help.
pub(crate) fn parse(args: &[String]) -> Result<Option<PackageArgs>, PackageError> {
    let (mut native, mut shim, mut out) = (None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let slot = match flag {
            "-h" | "--help" => return Ok(None),
            "--native" => &mut native,
            "--shim" => &mut shim,
            "--out" => &mut out,
            _ => {
                return Err(PackageError::Usage(format!(
                    "unknown option '{arg}' for package"
                )))
            }
        };
        let value = match inline.or_else(|| it.next().cloned()) {
            Some(v) if !v.is_empty() => v,
            _ => return Err(PackageError::Usage(format!("{flag} needs a folder"))),
        };
        if slot.replace(PathBuf::from(value)).is_some() {
            return Err(PackageError::Usage(format!("{flag} is given twice")));
        }
    }
    let need = |v: Option<PathBuf>, flag: &str, what: &str| {
        v.ok_or_else(|| PackageError::Usage(format!("{flag} is required: the folder with {what}")))
    };
    Ok(Some(PackageArgs {
        native: need(native, "--native", "propwash.dll and propwash_steam.dll")?,
        shim: need(shim, "--shim", "Propwash.Native.dll and Propwash.Shim.dll")?,
        out: out.unwrap_or_else(|| PathBuf::from(".")),
    }))
}

/// The functions `header` declares (names starting `pw_`, once each).
pub(crate) fn header_functions(header: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in header.lines() {
        let t = line.trim_start();
        if t.starts_with("//") || t.starts_with("/*") || t.starts_with('*') || t.starts_with('#') {
            continue;
        }
        let Some(open) = t.find('(') else { continue };
        let before = &t[..open];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[start..];
        if name.starts_with("pw_") && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

fn read_input(path: &Path) -> Result<Vec<u8>, PackageError> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(PackageError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(PackageError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(error) => {
            return Err(PackageError::Read {
                path: path.to_path_buf(),
                error,
            })
        }
    }
    fs::read(path).map_err(|error| PackageError::Read {
        path: path.to_path_buf(),
        error,
    })
}

/// A native DLL for 64-bit Windows.
fn check_native(path: &Path, bytes: &[u8]) -> Result<pe::PeInfo, PackageError> {
    let bad = |why: String| PackageError::NotWindowsDll {
        path: path.to_path_buf(),
        why,
    };
    let info = pe::read(bytes).map_err(bad)?;
    if info.machine != pe::MACHINE_X64 || !info.pe32_plus {
        return Err(bad(format!(
            "built for machine {:#06x}, not x86-64",
            info.machine
        )));
    }
    if !info.is_dll {
        return Err(bad("a program, not a DLL".into()));
    }
    if info.is_dotnet {
        return Err(bad("a .NET assembly, not a native DLL".into()));
    }
    Ok(info)
}

fn check_managed(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    let bad = |why: String| PackageError::NotAssembly {
        path: path.to_path_buf(),
        why,
    };
    let info = pe::read(bytes).map_err(bad)?;
    if !info.is_dotnet {
        return Err(bad("it has no CLI header (a native DLL?)".into()));
    }
    if !info.is_dll {
        return Err(bad("a program, not a library".into()));
    }
    Ok(())
}

/// The zip's file name for this version.
pub(crate) fn zip_name() -> String {
    format!("propwash-{}-windows-x64.zip", env!("CARGO_PKG_VERSION"))
}

/// Text for Windows: CRLF line ends.
fn windows_text(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

/// Removes a temporary file unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn write_temp(path: PathBuf, bytes: &[u8]) -> Result<TempFile, PackageError> {
    let temp = TempFile { path, keep: false };
    let written = fs::File::create(&temp.path).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    written.map_err(|error| PackageError::Write {
        path: temp.path.clone(),
        error,
    })?;
    Ok(temp)
}

/// Checks the inputs and writes the zip and its `.sha256` into `out`.
pub(crate) fn package(args: &PackageArgs, header: &str) -> Result<Written, PackageError> {
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    for name in NATIVE {
        let path = args.native.join(name);
        let bytes = read_input(&path)?;
        let info = check_native(&path, &bytes)?;
        if name == "propwash.dll" {
            let missing: Vec<String> = header_functions(header)
                .into_iter()
                .filter(|f| !info.exports.contains(f))
                .collect();
            if !missing.is_empty() {
                return Err(PackageError::MissingExports {
                    path,
                    names: missing,
                });
            }
        }
        files.push((name, bytes));
    }
    for name in MANAGED {
        let path = args.shim.join(name);
        let bytes = read_input(&path)?;
        check_managed(&path, &bytes)?;
        files.push((name, bytes));
    }
    let version = env!("CARGO_PKG_VERSION");
    files.push((
        "README.txt",
        windows_text(&README.replace("{version}", version)),
    ));
    files.push(("propwash.default.cfg", windows_text(DEFAULT_CONFIG)));

    let mut entries = vec![
        Entry {
            name: "BepInEx/".into(),
            data: None,
        },
        Entry {
            name: "BepInEx/plugins/".into(),
            data: None,
        },
        Entry {
            name: PLUGIN_DIR.into(),
            data: None,
        },
    ];
    entries.extend(files.into_iter().map(|(name, bytes)| Entry {
        name: format!("{PLUGIN_DIR}{name}"),
        data: Some(bytes),
    }));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut archive = Vec::new();
    zip::write(&mut archive, &entries, DosTime::from_unix(now)).map_err(|error| {
        PackageError::Write {
            path: args.out.join(zip_name()),
            error,
        }
    })?;
    let sha256: String = Sha256::digest(&archive)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    fs::create_dir_all(&args.out).map_err(|error| PackageError::Write {
        path: args.out.clone(),
        error,
    })?;
    let name = zip_name();
    let zip_path = args.out.join(&name);
    let sha_path = args.out.join(format!("{name}.sha256"));
    let pid = std::process::id();
    let mut zip_temp = write_temp(args.out.join(format!(".{name}.{pid}.tmp")), &archive)?;
    let mut sha_temp = write_temp(
        args.out.join(format!(".{name}.sha256.{pid}.tmp")),
        format!("{sha256}  {name}\n").as_bytes(),
    )?;
    // The zip first, then its hash; if the hash cannot follow, the zip
    // goes too, so no zip is ever left without its matching .sha256.
    fs::rename(&zip_temp.path, &zip_path).map_err(|error| PackageError::Write {
        path: zip_path.clone(),
        error,
    })?;
    zip_temp.keep = true;
    if let Err(error) = fs::rename(&sha_temp.path, &sha_path) {
        let _ = fs::remove_file(&zip_path);
        return Err(PackageError::Write {
            path: sha_path,
            error,
        });
    }
    sha_temp.keep = true;
    Ok(Written {
        zip: zip_path,
        sha256_file: sha_path,
        sha256,
        bytes: archive.len() as u64,
    })
}

/// `propwash package ARGS`: the exit status.
pub(crate) fn cli_main(args: &[String]) -> u8 {
    let parsed = match parse(args) {
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Ok(Some(p)) => p,
        Err(e) => {
            eprintln!("propwash package: {e}\n\n{USAGE}");
            return 2;
        }
    };
    match package(&parsed, propwash::ffi::GENERATED_HEADER) {
        Ok(w) => {
            println!(
                "propwash package: wrote {} ({} bytes, sha256 {})",
                w.zip.display(),
                w.bytes,
                w.sha256
            );
            println!("propwash package: wrote {}", w.sha256_file.display());
            0
        }
        Err(e) => {
            eprintln!("propwash package: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_are_parsed_and_bad_ones_named() {
        let p = parse(&args("--native a --shim=b")).unwrap().unwrap();
        assert_eq!(
            p,
            PackageArgs {
                native: "a".into(),
                shim: "b".into(),
                out: ".".into()
            }
        );
        assert!(parse(&args("--help")).unwrap().is_none());
        let e = |s: &str| parse(&args(s)).unwrap_err().to_string();
        assert!(e("--shim b").contains("--native is required"));
        assert!(e("--native a").contains("--shim is required"));
        assert!(e("--native a --shim b --out").contains("--out needs a folder"));
        assert!(e("--native a --native b --shim c").contains("given twice"));
        assert!(e("--native a --shim b --zip c").contains("unknown option '--zip'"));
    }

    #[test]
    fn header_functions_are_the_declared_ones() {
        let h = "// pw_not_this(void) in a comment\n\
                 /* pw_nor_this( */\n\
                 const char *pw_version(void);\n\
                 PwResult pw_session_join(const struct PwJoinOptions *options,\n\
                                          struct PwSession **out);\n\
                 void pw_session_free(struct PwSession *session);\n\
                 #define PW_MAX_PILOTS 6\n";
        assert_eq!(
            header_functions(h),
            ["pw_version", "pw_session_join", "pw_session_free"]
        );
        // This build's header declares dozens of them.
        assert!(header_functions(propwash::ffi::GENERATED_HEADER).len() > 30);
    }

    #[test]
    fn the_config_and_readme_are_windows_text() {
        let t = windows_text("a\nb\r\nc");
        assert_eq!(t, b"a\r\nb\r\nc");
        assert!(README.contains("{version}"));
        assert!(DEFAULT_CONFIG.contains("[Network]"));
    }

    /// A fresh folder under the temp folder, removed at the end of the test.
    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let p =
                std::env::temp_dir().join(format!("propwash-package-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Inputs in `dir`: DLLs that pass every check, propwash.dll exporting
    /// `exports`.
    fn inputs(dir: &Path, exports: &[&str]) -> PackageArgs {
        use super::pe::tests::tiny_pe;
        let (native, shim) = (dir.join("native"), dir.join("shim"));
        fs::create_dir_all(&native).unwrap();
        fs::create_dir_all(&shim).unwrap();
        fs::write(native.join("propwash.dll"), tiny_pe(exports, false)).unwrap();
        fs::write(
            native.join("propwash_steam.dll"),
            tiny_pe(&["pws_init"], false),
        )
        .unwrap();
        for m in MANAGED {
            fs::write(shim.join(m), tiny_pe(&[], true)).unwrap();
        }
        PackageArgs {
            native,
            shim,
            out: dir.join("out"),
        }
    }

    fn header_names() -> Vec<String> {
        header_functions(propwash::ffi::GENERATED_HEADER)
    }

    #[test]
    fn writes_the_zip_and_its_sha256_and_nothing_else() {
        let d = Dir::new("ok");
        let names = header_names();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let a = inputs(&d.0, &refs);
        let w = package(&a, propwash::ffi::GENERATED_HEADER).unwrap();
        let mut listed: Vec<String> = fs::read_dir(&a.out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        listed.sort();
        assert_eq!(listed, [zip_name(), format!("{}.sha256", zip_name())]);
        let bytes = fs::read(&w.zip).unwrap();
        assert_eq!(bytes.len() as u64, w.bytes);
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            fs::read_to_string(&w.sha256_file).unwrap(),
            format!("{hex}  {}\n", zip_name())
        );
        for f in NATIVE
            .iter()
            .chain(&MANAGED)
            .chain(&["README.txt", "propwash.default.cfg"])
        {
            let name = format!("{PLUGIN_DIR}{f}");
            assert!(
                bytes.windows(name.len()).any(|w| w == name.as_bytes()),
                "{name} is in the zip"
            );
        }
        // Again over the same files: replaced in place.
        package(&a, propwash::ffi::GENERATED_HEADER).unwrap();
        assert_eq!(fs::read_dir(&a.out).unwrap().count(), 2);
    }

    #[test]
    fn a_wrong_input_is_named_and_leaves_nothing_behind() {
        let d = Dir::new("bad");
        let names = header_names();
        let short: Vec<&str> = names.iter().skip(1).map(String::as_str).collect();
        let a = inputs(&d.0, &short);
        let header = propwash::ffi::GENERATED_HEADER;
        match package(&a, header) {
            Err(PackageError::MissingExports { names: n, .. }) => assert_eq!(n, [names[0].clone()]),
            other => panic!("{other:?}"),
        }
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let a = inputs(&d.0, &all);

        fs::write(
            a.native.join("propwash_steam.dll"),
            b"\x7fELF\x02\x01\x01\0",
        )
        .unwrap();
        let e = package(&a, header).unwrap_err();
        assert!(matches!(e, PackageError::NotWindowsDll { .. }), "{e}");
        assert!(e.to_string().contains("propwash_steam.dll"), "{e}");

        let a = inputs(&d.0, &all);
        fs::write(
            a.shim.join("Propwash.Shim.dll"),
            super::pe::tests::tiny_pe(&[], false),
        )
        .unwrap();
        let e = package(&a, header).unwrap_err();
        assert!(matches!(e, PackageError::NotAssembly { .. }), "{e}");

        let a = inputs(&d.0, &all);
        fs::remove_file(a.shim.join("Propwash.Native.dll")).unwrap();
        let e = package(&a, header).unwrap_err();
        assert!(
            e.to_string().ends_with("Propwash.Native.dll is missing"),
            "{e}"
        );
        assert!(
            !a.out.exists(),
            "nothing was made before the inputs were good"
        );

        // An output that cannot be written: no temporary file stays.
        let a = inputs(&d.0, &all);
        fs::create_dir_all(&a.out).unwrap();
        fs::create_dir_all(a.out.join(zip_name())).unwrap();
        fs::write(a.out.join(zip_name()).join("x"), b"in the way").unwrap();
        let e = package(&a, header).unwrap_err();
        assert!(matches!(e, PackageError::Write { .. }), "{e}");
        let left: Vec<_> = fs::read_dir(&a.out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from(zip_name())]);
    }
}
