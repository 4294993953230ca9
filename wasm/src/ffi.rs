//! The C ABI of wasm/ABI.md, version 1: the module's only `unsafe` code.
//!
//! Every export takes and returns plain wasm integers. Pointers are offsets
//! into the exported `memory`. Results are returned as one i64,
//! `(ptr << 32) | len`, with `ptr == 0` meaning failure and `len` then
//! holding the error code.
//!
//! Ownership, in short: the caller owns every input buffer (it allocated it
//! with `wc_alloc` and frees it); the module only reads inputs during the
//! call and keeps no pointer to them. The caller owns every result buffer
//! from the moment the call returns and releases it with
//! `wc_free(ptr, len)`. The module keeps no state between calls but its
//! allocator.
//!
//! A pointer and length that do not lie inside linear memory are a host
//! bug, not a packet defect; the module traps on them rather than read out
//! of bounds or invent an error code.

use crate::error::Error;
use crate::packet::{self, Packet};
use std::alloc::{GlobalAlloc, Layout, System};
use std::boxed::Box;

/// Every allocation is 8-aligned, as `wc_alloc` promises.
const ALIGN: usize = 8;
/// `mid_len` / `uid_len` of −1: the id is absent.
const ABSENT: u32 = u32::MAX;
/// The ABI version `wc_abi_version` reports.
const ABI_VERSION: i32 = 1;

/// The global allocator: the system allocator (dlmalloc on wasm32) with
/// every layout's alignment raised to 8.
///
/// Why: `wc_free(ptr, size)` cannot know whether `ptr` came from `wc_alloc`
/// (8-aligned) or is a result buffer (a `Box<[u8]>`, 1-aligned). With every
/// request widened to align 8, `Layout(size, 1)` and `Layout(size, 8)` name
/// the same block, so one `dealloc` fits both.
struct Align8;

fn widen(layout: Layout) -> Layout {
    // align_to only fails if the size overflows isize once padded, which a
    // successful allocation rules out.
    layout.align_to(ALIGN).unwrap_or(layout)
}

// SAFETY: every method forwards to `System` with the same widening, so a
// block is always freed or resized with the layout it was allocated with.
unsafe impl GlobalAlloc for Align8 {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(widen(layout))
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(widen(layout))
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, widen(layout))
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        System.realloc(ptr, widen(layout), new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Align8 = Align8;

/// Returns the caller's buffer `[ptr, ptr + len)` as a slice, trapping if
/// it is null with a non-zero length or reaches past linear memory.
///
/// # Safety
/// The caller (the host) must own that range for the duration of the call
/// and not touch it until the call returns, as wasm/ABI.md requires.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    let mem = core::arch::wasm32::memory_size(0) as u64 * 65_536;
    if ptr.is_null() || ptr as u64 + len as u64 > mem {
        core::arch::wasm32::unreachable();
    }
    core::slice::from_raw_parts(ptr, len)
}

/// Packs a result per wasm/ABI.md § Results and hands the buffer to the
/// caller, who frees it with `wc_free(ptr, len)`.
fn finish(result: Result<Vec<u8>, Error>) -> u64 {
    match result {
        Ok(v) => {
            // Shrinks to exactly `len` (in place with dlmalloc), so the
            // caller's `wc_free(ptr, len)` names the whole block.
            let b: Box<[u8]> = v.into_boxed_slice();
            let len = b.len() as u64;
            let ptr = Box::into_raw(b) as *mut u8 as usize as u64;
            (ptr << 32) | len
        }
        Err(e) => e.code() as u64,
    }
}

/// Returns the ABI version, 1. The host refuses any other value and also
/// uses this call to measure the cost of an empty call. Allocates nothing.
#[no_mangle]
pub extern "C" fn wc_abi_version() -> i32 {
    ABI_VERSION
}

/// Allocates `size` bytes aligned to 8 for the caller, who owns them and
/// must release them with `wc_free(ptr, size)`. Returns 0 when memory is
/// exhausted. `size` 0 returns a non-zero pointer that owns nothing;
/// freeing it with size 0 is a no-op.
#[no_mangle]
pub extern "C" fn wc_alloc(size: usize) -> *mut u8 {
    if size == 0 {
        return ALIGN as *mut u8;
    }
    match Layout::from_size_align(size, ALIGN) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { std::alloc::alloc(layout) },
        Err(_) => core::ptr::null_mut(),
    }
}

/// Frees a buffer the caller owns: one from `wc_alloc(size)`, or a result
/// buffer of `wc_encode` / `wc_decode` with its returned `len` as `size`.
/// `size` 0 and a null pointer are no-ops. Freeing anything else, or twice,
/// corrupts the module's heap (the host then discards the instance).
#[no_mangle]
pub extern "C" fn wc_free(ptr: *mut u8, size: usize) {
    if ptr.is_null() || size == 0 {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(size, ALIGN) {
        // SAFETY: per the ABI, `ptr` was allocated with this size (results
        // as a Box<[u8]>, which `Align8` widens to the same layout) and is
        // freed once.
        unsafe { std::alloc::dealloc(ptr, layout) }
    }
}

/// Encodes one packet. The id and payload buffers belong to the caller and
/// are only read. `mid_len` / `uid_len` of −1 mean the id is absent (its
/// pointer is then ignored); `reaction` −1 means absent.
///
/// On success the result buffer holds the packet bytes and belongs to the
/// caller, who frees it with `wc_free(ptr, len)`. Fails, allocating
/// nothing, with `invalid_enum` (kind outside 0–5, reaction outside −1–4),
/// `invalid_utf8` (an id), or `out_of_memory`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn wc_encode(
    kind: u32,
    mid_ptr: *const u8,
    mid_len: u32,
    uid_ptr: *const u8,
    uid_len: u32,
    reaction: i32,
    payload_ptr: *const u8,
    payload_len: u32,
) -> u64 {
    // SAFETY: the ABI makes these caller-owned, readable buffers for the
    // duration of the call; `input` traps on ranges outside memory.
    let id = |ptr: *const u8, len: u32| {
        if len == ABSENT {
            None
        } else {
            Some(unsafe { input(ptr, len as usize) })
        }
    };
    let p = Packet {
        kind,
        message_id: id(mid_ptr, mid_len),
        user_id: id(uid_ptr, uid_len),
        // −1 is absent; any other negative value becomes a large u32 that
        // `encode` rejects as invalid_enum.
        reaction: if reaction == -1 {
            None
        } else {
            Some(reaction as u32)
        },
        payload: unsafe { input(payload_ptr, payload_len as usize) },
    };
    finish(packet::encode(&p))
}

/// Decodes one packet, accepting a decompressed payload of at most
/// `max_payload` bytes (unsigned). The packet buffer belongs to the caller
/// and is only read.
///
/// On success the result buffer holds the decode record of wasm/ABI.md
/// § Decode result and belongs to the caller, who frees it with
/// `wc_free(ptr, len)`. On failure nothing is allocated and the low 32 bits
/// hold the first error met in the ABI's decoding order.
#[no_mangle]
pub extern "C" fn wc_decode(pkt_ptr: *const u8, pkt_len: u32, max_payload: u32) -> u64 {
    // SAFETY: as in wc_encode.
    let pkt = unsafe { input(pkt_ptr, pkt_len as usize) };
    finish(packet::decode_record(pkt, max_payload))
}
