//! A global allocator that counts the bytes live on the Rust heap, for the
//! memory bench and the memory test (never in the library or a shipped
//! binary: it costs two atomic operations per allocation).
//!
//! Include it with `#[path = "…/common/counting.rs"] mod counting;` and
//! install it with `#[global_allocator] static A: counting::Counting =
//! counting::Counting;`.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes (as requested: the
/// allocator's own rounding and headers are not included).
pub struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; only
// a counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

/// Bytes live on the Rust heap now (all threads).
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Blocks live on the Rust heap now: each costs the system allocator a
/// header and rounding (about 16 bytes with glibc) beyond [`live`].
pub fn blocks() -> usize {
    BLOCKS.load(Ordering::Relaxed)
}
