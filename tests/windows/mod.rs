//! What tests/windows.rs needs: the racers' zip unpacked into a fake game
//! folder, Wine with its own prefix, mingw-w64 to build small Windows
//! programs against the packaged `propwash.dll` (and the same C source for
//! Linux against this build's libpropwash), and processes whose output
//! lines can be waited for.
//!
//! Where things come from: the zip is `$PROPWASH_WINDOWS_PACKAGE`, else the
//! one `.ci/windows build` leaves in `target/windows/package/`. Without the
//! zip, Wine or mingw-w64 a test prints why and returns (counted as
//! skipped, never as passed); with `PROPWASH_WINE_REQUIRED=1` (`.ci/windows`
//! sets it) it fails instead.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::common::scratch::Scratch;

/// mingw-w64's C compiler (the POSIX-threads flavour Debian ships).
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc-posix";
/// Its objdump, for reading PE headers independently of `propwash package`.
pub(crate) const MINGW_OBJDUMP: &str = "x86_64-w64-mingw32-objdump";
/// Warnings are errors in every C program the tests build.
const C_FLAGS: [&str; 5] = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
/// Where the plugin sits inside the game folder.
pub(crate) const PLUGIN_DIR: &str = "BepInEx/plugins/propwash";

pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The zip to test, if there is one.
fn package_zip() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("PROPWASH_WINDOWS_PACKAGE") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "PROPWASH_WINDOWS_PACKAGE names {}, which is not a file",
                p.display()
            ))
        };
    }
    let default = root().join("target/windows/package").join(format!(
        "propwash-{}-windows-x64.zip",
        env!("CARGO_PKG_VERSION")
    ));
    if default.is_file() {
        Ok(default)
    } else {
        Err(format!(
            "no package: run `bash .ci/windows build` (it makes {})",
            default.display()
        ))
    }
}

fn wine_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("wine64"))
            .find(|p| p.is_file())
    });
    // Debian's wine64 package keeps it out of PATH unless `wine` is installed.
    on_path.or_else(|| Some(PathBuf::from("/usr/lib/wine/wine64")).filter(|p| p.is_file()))
}

fn runs(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Everything a Wine test needs, or why it cannot run.
pub(crate) struct Env {
    pub(crate) zip: PathBuf,
    wine: PathBuf,
    prefix: PathBuf,
}

/// The environment, or `None` after printing why the test is skipped (a
/// failure instead when `PROPWASH_WINE_REQUIRED=1`).
pub(crate) fn env(test: &str) -> Option<Env> {
    let found = (|| {
        let zip = package_zip()?;
        let wine = wine_binary().ok_or("wine64 is not installed (apt-get install wine64)")?;
        for tool in [MINGW_GCC, MINGW_OBJDUMP] {
            if !runs(tool) {
                return Err(format!(
                    "{tool} is not installed (apt-get install gcc-mingw-w64-x86-64-posix)"
                ));
            }
        }
        let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wine-prefix");
        Ok(Env { zip, wine, prefix })
    })();
    match found {
        Ok(e) => {
            e.boot();
            Some(e)
        }
        Err(why) if std::env::var("PROPWASH_WINE_REQUIRED").as_deref() == Ok("1") => {
            panic!("{test}: {why} (PROPWASH_WINE_REQUIRED=1: a skip is a failure)")
        }
        Err(why) => {
            eprintln!("SKIPPED windows ({test}): {why}");
            None
        }
    }
}

impl Env {
    /// Makes the Wine prefix once (about 10 s the first time). A lock file
    /// keeps test processes running side by side from doing it together.
    fn boot(&self) {
        std::fs::create_dir_all(self.prefix.parent().unwrap()).unwrap();
        let lock = self.prefix.with_extension("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .expect("the Wine prefix's lock file");
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor we own; released when `file` closes.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        if !self.prefix.join("system.reg").exists() {
            let out = self
                .wine_command("wineboot")
                .arg("--init")
                .output()
                .expect("run wineboot");
            assert!(
                out.status.success() && self.prefix.join("system.reg").exists(),
                "wineboot --init failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// `wine64 <program>` in the tests' prefix, quiet, with no display.
    fn wine_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(&self.wine);
        c.arg(program)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No Mono or Gecko installers while the prefix is made.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        c
    }

    /// The prefix's `C:` drive on this side.
    pub(crate) fn drive_c(&self) -> PathBuf {
        self.prefix.join("drive_c")
    }

    /// `path` (absolute, on this side) as a Windows program sees it:
    /// `C:\...` inside the prefix's drive, `Z:\...` anywhere else.
    pub(crate) fn windows_path(&self, path: &Path) -> String {
        let drive_c = self.drive_c();
        let (drive, rest) = match path.strip_prefix(&drive_c) {
            Ok(rest) => ("C:", rest),
            Err(_) => ("Z:", path.strip_prefix("/").expect("an absolute path")),
        };
        let rest = rest.to_str().expect("test paths are UTF-8");
        format!("{drive}\\{}", rest.replace('/', "\\"))
    }

    /// Unpacks the zip with Python's zipfile (a reader that is not ours)
    /// into `<parent>/DRL Simulator`, next to a stand-in for the game.
    pub(crate) fn unpack_into_game(&self, parent: &Path) -> PathBuf {
        let game = parent.join("DRL Simulator");
        std::fs::create_dir_all(game.join("DRL Simulator_Data/StreamingAssets")).unwrap();
        std::fs::create_dir_all(game.join("BepInEx/core")).unwrap();
        std::fs::write(game.join("DRL Simulator.exe"), b"not the game").unwrap();
        let script = "import sys, zipfile\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      bad = z.testzip()\n\
                      if bad: sys.exit('damaged entry: ' + bad)\n\
                      z.extractall(sys.argv[2])\n";
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(&self.zip)
            .arg(&game)
            .output()
            .expect("python3 unpacks the zip");
        assert!(
            out.status.success(),
            "unpacking {}: {}",
            self.zip.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        game
    }

    /// Builds the Windows programs of one test in `dir`: `peer.exe` and
    /// `smoke.exe` linked straight against the packaged `propwash.dll`, and
    /// the `bcryptprimitives.dll` stand-in beside them.
    pub(crate) fn build_windows_programs(&self, dir: &Path, plugin: &Path) -> WindowsPrograms {
        std::fs::create_dir_all(dir).unwrap();
        let dll = plugin.join("propwash.dll");
        let include = root().join("include");
        for (src, exe) in [
            ("tests/windows/peer.c", "peer.exe"),
            ("tests/c/smoke.c", "smoke.exe"),
        ] {
            let mut c = Command::new(MINGW_GCC);
            c.args(C_FLAGS)
                .arg("-O1")
                .arg("-I")
                .arg(&include)
                .arg(root().join(src))
                .arg("-o")
                .arg(dir.join(exe))
                .arg(&dll)
                .args(["-static", "-lpthread"]);
            compile(c, src);
        }
        let mut c = Command::new(MINGW_GCC);
        c.args(C_FLAGS)
            .args(["-O1", "-shared", "-o"])
            .arg(dir.join("bcryptprimitives.dll"))
            .arg(root().join("tests/windows/bcryptprimitives.c"))
            .arg("-lbcrypt");
        compile(c, "tests/windows/bcryptprimitives.c");
        WindowsPrograms {
            dir: dir.to_path_buf(),
            dll_path: self.windows_path(plugin),
        }
    }

    /// A Windows program of `programs` under Wine; it finds `propwash.dll`
    /// in the plugin folder through PATH, as the game's process does not
    /// need to (it loads it by full path).
    pub(crate) fn windows(&self, programs: &WindowsPrograms, exe: &str) -> Command {
        let mut c = self.wine_command(programs.dir.join(exe));
        c.env("WINEPATH", &programs.dll_path)
            .current_dir(&programs.dir);
        c
    }
}

fn compile(mut c: Command, what: &str) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("could not run the compiler for {what}: {e}"));
    assert!(
        out.status.success(),
        "compiling {what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) struct WindowsPrograms {
    dir: PathBuf,
    dll_path: String,
}

/// tests/windows/peer.c built for Linux against this build's libpropwash.
pub(crate) fn linux_peer(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let libs = super::common::lib_dir();
    let exe = dir.join("peer");
    let mut c = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    c.args(C_FLAGS)
        .arg("-O1")
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("tests/windows/peer.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-L")
        .arg(&libs)
        .arg(format!("-Wl,-rpath,{}", libs.display()))
        .arg("-lpropwash");
    compile(c, "tests/windows/peer.c for Linux");
    exe
}

/// Milliseconds since 1970: the clock both systems' peers share.
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A running program whose stdout lines can be waited for; killed if still
/// running when dropped.
pub(crate) struct Proc {
    name: String,
    child: Child,
    lines: Receiver<String>,
    seen: Arc<Mutex<Vec<String>>>,
    pending: VecDeque<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    pub(crate) fn start(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        let (tx, rx) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let all = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let line = line.trim_end_matches('\r').to_string();
                all.lock().unwrap().push(line.clone());
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().unwrap();
        let err_all = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines() {
                let Ok(line) = line else { break };
                let mut e = err_all.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        Proc {
            name: name.to_string(),
            child,
            lines: rx,
            seen,
            pending: VecDeque::new(),
            stderr,
        }
    }

    /// Everything it printed so far, and its stderr.
    pub(crate) fn transcript(&self) -> String {
        format!(
            "--- {} stdout:\n{}\n--- {} stderr:\n{}",
            self.name,
            self.seen.lock().unwrap().join("\n"),
            self.name,
            self.stderr.lock().unwrap()
        )
    }

    /// The first line starting with `prefix` (the rest of it), within `limit`.
    pub(crate) fn wait_line(&mut self, prefix: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            while let Some(l) = self.pending.pop_front() {
                if let Some(rest) = l.strip_prefix(prefix) {
                    return rest.trim_start().to_string();
                }
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.pending.push_back(l),
                Err(_) => panic!(
                    "{} printed no line starting {prefix:?} within {limit:?}\n{}",
                    self.name,
                    self.transcript()
                ),
            }
        }
    }

    /// Waits for it to exit (killing it after `limit`); its exit status.
    pub(crate) fn finish(&mut self, limit: Duration) -> ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Let the reader threads catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                while let Ok(l) = self.lines.try_recv() {
                    self.pending.push_back(l);
                }
                return s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} ran longer than {limit:?}\n{}",
                    self.name,
                    self.transcript()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `result {...}` line after it finished, as JSON.
    pub(crate) fn result(&mut self, limit: Duration) -> serde_json::Value {
        let status = self.finish(limit);
        let line = self
            .seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("result ").map(str::to_string));
        let Some(line) = line else {
            panic!("{} printed no result\n{}", self.name, self.transcript());
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect("the result is JSON");
        assert!(
            status.success() && v["errors"] == 0,
            "{} failed ({status}): {line}\n{}",
            self.name,
            self.transcript()
        );
        v
    }

    /// The lines it printed that start with `prefix`.
    pub(crate) fn lines_starting(&self, prefix: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix(prefix).map(str::to_string))
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A scratch folder for one test, with helpers for its parts.
pub(crate) fn scratch(tag: &str) -> Scratch {
    Scratch::new(tag)
}

/// One UDP datagram seen on the loopback interface.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    pub(crate) src_port: u16,
    pub(crate) ttl: u8,
}

/// Watches UDP over IPv4 on `lo` with a packet socket (root only), to read
/// the IP TTL a Windows program under Wine put on its datagrams. Bounded:
/// at most 200 000 datagrams, until [`Sniffer::stop`].
pub(crate) struct Sniffer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<Seen>>,
}

impl Sniffer {
    /// `Err` says why there is none (not root, no packet sockets).
    pub(crate) fn start() -> Result<Sniffer, String> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let proto = (libc::ETH_P_IP as u16).to_be() as libc::c_int;
        // SAFETY: plain socket calls on a descriptor this function owns.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, proto) };
        if fd < 0 {
            return Err(format!(
                "no packet socket ({}; root is needed)",
                std::io::Error::last_os_error()
            ));
        }
        let close = |why: String| {
            // SAFETY: fd is ours and open.
            unsafe { libc::close(fd) };
            Err(why)
        };
        // SAFETY: a NUL-terminated name.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        if lo == 0 {
            return close("no loopback interface".into());
        }
        // SAFETY: sockaddr_ll is plain data; zero is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = proto as u16;
        addr.sll_ifindex = lo as i32;
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: valid pointers and lengths for these option and address types.
        let ok = unsafe {
            libc::bind(
                fd,
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            ) == 0
                && libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    &tv as *const libc::timeval as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                ) == 0
        };
        if !ok {
            return close(format!(
                "cannot watch lo: {}",
                std::io::Error::last_os_error()
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 2048];
            while !stopping.load(Ordering::Relaxed) && seen.len() < 200_000 {
                // SAFETY: buf is writable for its length.
                let n =
                    unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
                if n < 28 {
                    continue;
                }
                let ip = &buf[..n as usize];
                let header = usize::from(ip[0] & 0x0f) * 4;
                if ip[0] >> 4 != 4 || ip[9] != 17 || ip.len() < header + 8 {
                    continue;
                }
                seen.push(Seen {
                    ttl: ip[8],
                    src_port: u16::from_be_bytes([ip[header], ip[header + 1]]),
                });
            }
            // SAFETY: fd is ours; nothing uses it after this.
            unsafe { libc::close(fd) };
            seen
        });
        Ok(Sniffer { stop, handle })
    }

    /// Stops watching; what was seen, in order.
    pub(crate) fn stop(self) -> Vec<Seen> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().expect("the sniffer thread")
    }
}
