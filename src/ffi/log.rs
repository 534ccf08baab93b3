//! Log lines for the game, drained by polling: no native thread ever calls
//! into managed code. A global tracing subscriber formats each event into a
//! bounded queue (laminar's `log` records are bridged into it); the game
//! pops lines with `pw_log_read` from its main thread.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use once_cell::sync::{Lazy, OnceCell};
use parking_lot::Mutex;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use super::arg::out_slice;
use super::result::{Error, PwResult};

/// Lines kept until the game reads them; more are dropped and counted.
pub const PW_LOG_QUEUE_LINES: usize = 1024;

/// How much is logged (`pw_log_set_level`); each level includes the ones
/// before it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PwLogLevel {
    /// Failures only.
    Error = 0,
    /// Also things that went wrong but were handled.
    Warn = 1,
    /// Also sessions starting and ending (the default).
    Info = 2,
    /// Also protocol detail.
    Debug = 3,
    /// Everything, including per-packet transport detail.
    Trace = 4,
}

/// The current level, as a `PwLogLevel` number.
static LEVEL: AtomicU8 = AtomicU8::new(PwLogLevel::Info as u8);
/// True when our subscriber owns the `log` bridge, so its max level is ours to set.
static OWNS_LOG_BRIDGE: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceCell<()> = OnceCell::new();

struct LogQueue {
    tx: Sender<String>,
    rx: Receiver<String>,
    dropped: AtomicU64,
    /// A line the reader's buffer was too small for, kept for the next read.
    held: Mutex<Option<String>>,
}

static QUEUE: Lazy<LogQueue> = Lazy::new(|| {
    let (tx, rx) = crossbeam_channel::bounded(PW_LOG_QUEUE_LINES);
    LogQueue {
        tx,
        rx,
        dropped: AtomicU64::new(0),
        held: Mutex::new(None),
    }
});

fn push_line(line: String) {
    if let Err(TrySendError::Full(_)) = QUEUE.tx.try_send(line) {
        QUEUE.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

fn level_filter() -> LevelFilter {
    match LEVEL.load(Ordering::Relaxed) {
        0 => LevelFilter::ERROR,
        1 => LevelFilter::WARN,
        2 => LevelFilter::INFO,
        3 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

fn log_level_filter(level: LevelFilter) -> log::LevelFilter {
    match level {
        LevelFilter::OFF => log::LevelFilter::Off,
        LevelFilter::ERROR => log::LevelFilter::Error,
        LevelFilter::WARN => log::LevelFilter::Warn,
        LevelFilter::INFO => log::LevelFilter::Info,
        LevelFilter::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// The runtime-adjustable level. Its hint lets tracing skip disabled
/// callsites cheaply; changing the level rebuilds the callsite cache.
struct LevelGate;

impl<S> Filter<S> for LevelGate {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        level_filter() >= *meta.level()
    }

    fn callsite_enabled(&self, _meta: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(level_filter())
    }
}

/// Hands the fmt layer a buffer per event; the finished line goes to the queue.
struct QueueWriter;

struct LineBuf(Vec<u8>);

impl Write for LineBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuf {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let line = text.trim();
        if !line.is_empty() {
            push_line(line.to_owned());
        }
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = LineBuf;
    fn make_writer(&'a self) -> LineBuf {
        LineBuf(Vec::with_capacity(128))
    }
}

/// Installs the log capture once per process. If the host process already
/// has a global tracing subscriber, ours is skipped and a note says so.
pub(crate) fn install() {
    INSTALLED.get_or_init(|| {
        if tracing::dispatcher::has_been_set() {
            push_line(
                "propwash: another tracing subscriber is already installed; \
                 propwash logs there, not to pw_log_read"
                    .into(),
            );
            return;
        }
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(QueueWriter)
            .with_ansi(false)
            .without_time()
            .with_target(true)
            .with_filter(LevelGate);
        match tracing_subscriber::registry().with(layer).try_init() {
            Ok(()) => OWNS_LOG_BRIDGE.store(true, Ordering::Relaxed),
            Err(e) if tracing::dispatcher::has_been_set() => {
                // Ours is in place but a `log` logger already existed, so
                // laminar's records go to that one.
                tracing::info!("propwash: laminar's log records are not captured: {e}");
            }
            Err(e) => push_line(format!("propwash: log capture not installed: {e}")),
        }
    });
}

/// Pops the next log line (UTF-8, not NUL-terminated, e.g.
/// `INFO propwash::ffi::session: session started local=0.0.0.0:5056 host=true`)
/// into `buf` and its length into `*out_len`. `PW_RESULT_EMPTY` when no line
/// is queued. Up to `PW_LOG_QUEUE_LINES` lines are kept; when more arrive
/// before they are read, the newest are dropped and the next read returns a
/// line saying how many.
///
/// `out_len` must not be NULL; `buf` may be NULL only when `cap` is 0; on
/// `PW_RESULT_BUFFER_TOO_SMALL` `*out_len` is the length needed and the line
/// is kept for the next call (1024 bytes fit nearly every line). The caller
/// owns `buf`. Any thread, typically the game's main thread once per frame
/// until EMPTY; two threads reading at once get `PW_RESULT_BUSY`. Never
/// blocks. The first call installs the log capture.
///
/// # Safety
/// `buf` must be NULL or writable for `cap` bytes; `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pw_log_read(buf: *mut u8, cap: usize, out_len: *mut usize) -> PwResult {
    ffi_boundary!({
        let out = out_slice(buf, cap, out_len, "buf", "out_len")?;
        install();
        let mut held = QUEUE
            .held
            .try_lock()
            .ok_or_else(|| Error::new(PwResult::Busy, "another thread is reading the log"))?;
        if held.is_none() {
            let dropped = QUEUE.dropped.swap(0, Ordering::Relaxed);
            *held = if dropped > 0 {
                Some(format!(
                    "WARN propwash: {dropped} log lines were dropped because the queue was full; read the log more often"
                ))
            } else {
                QUEUE.rx.try_recv().ok()
            };
        }
        let line = held.as_ref().ok_or_else(Error::empty)?;
        if line.len() > out.cap() {
            // SAFETY: the caller guarantees `buf`/`out_len` per the contract above.
            return Err(unsafe { out.refuse(line.len()) });
        }
        // SAFETY: as above.
        unsafe { out.write(line.as_bytes()) }?;
        *held = None;
        Ok(())
    })
}

/// Sets how much is logged from now on: a `PwLogLevel` number, 0 (errors)
/// to 4 (trace); the default is 2 (info). Other numbers are
/// `PW_RESULT_INVALID_ARGUMENT`. Installs the log capture if needed.
///
/// Any thread; never blocks on the network (it briefly takes tracing's
/// callsite registry lock: call it on a settings change, not per frame).
#[no_mangle]
pub extern "C" fn pw_log_set_level(level: u32) -> PwResult {
    ffi_boundary!({
        if level > PwLogLevel::Trace as u32 {
            return Err(Error::invalid(format!(
                "log level {level} is out of range (allowed 0 error to 4 trace)"
            )));
        }
        install();
        LEVEL.store(level as u8, Ordering::Relaxed);
        if OWNS_LOG_BRIDGE.load(Ordering::Relaxed) {
            log::set_max_level(log_level_filter(level_filter()));
        }
        tracing::callsite::rebuild_interest_cache();
        Ok(())
    })
}
