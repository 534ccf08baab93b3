//! What every fuzz target shares: a counting allocator that aborts when
//! the live heap passes a cap (the memory oracle: a core that grows
//! without bound on hostile input is a finding, like a crash).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Live heap bytes allowed at once.
pub const HEAP_CAP: usize = 512 * 1024 * 1024;

/// Counts live bytes; aborts past [`HEAP_CAP`].
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        if live > HEAP_CAP {
            eprintln!("memory oracle: {live} live heap bytes, cap {HEAP_CAP}");
            std::process::abort();
        }
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;
