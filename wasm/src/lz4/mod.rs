//! LZ4: the block format (`block`) and the frame format (`frame`) of
//! lz4/lz4 `doc/lz4_Block_format.md` and `doc/lz4_Frame_format.md`.
//!
//! The encoder writes what upstream wrote (FLG 0x60, BD 0x40, independent
//! 64 KB blocks); the decoder accepts every valid frame and checks it in the
//! order wasm/ABI.md § Decoding order, step 4 fixes.

pub mod block;
pub mod frame;

use crate::error::Error;

/// Where a frame decodes to: the caller's buffer, written in place.
///
/// `buf[..pos]` is the output so far. `buf[pos..]` is zeroed room already
/// paid for, so the block decoder can copy short literals and matches in
/// fixed-size 8- and 16-byte steps (the excess is overwritten or cut off by
/// `finish`).
/// `buf` never grows past `cap`, the caller's payload limit, so a hostile
/// frame cannot make the decoder allocate more than that.
pub struct Sink<'v> {
    buf: &'v mut Vec<u8>,
    pos: usize,
    cap: usize,
}

impl<'v> Sink<'v> {
    /// Output appended to `buf`, at most `max` bytes of it.
    pub fn new(buf: &'v mut Vec<u8>, max: usize) -> Sink<'v> {
        let pos = buf.len();
        Sink {
            buf,
            pos,
            cap: pos.saturating_add(max),
        }
    }

    /// The absolute position the next byte goes to.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The absolute position output may not pass.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The output from absolute position `from` on.
    pub fn since(&self, from: usize) -> &[u8] {
        self.buf.get(from..self.pos).unwrap_or_default()
    }

    /// Drops the unused room; the buffer then ends at the output.
    pub fn finish(self) {
        self.buf.truncate(self.pos);
    }

    /// The capacity to grow to for `need` bytes: at least double, so many
    /// small blocks cost amortised O(1) per byte, but never past `cap`.
    fn target(&self, need: usize) -> usize {
        need.max(self.buf.capacity().saturating_mul(2).min(self.cap))
    }

    /// Makes `buf[pos..pos + n]` writable. The caller has checked that
    /// `pos + n <= cap`.
    #[inline]
    fn room(&mut self, n: usize) -> Result<(), Error> {
        let need = self.pos.saturating_add(n);
        if need <= self.buf.len() {
            return Ok(());
        }
        let len = if need <= self.buf.capacity() {
            // Use what is already reserved (the size hint) before growing.
            self.buf.capacity().min(self.cap).max(need)
        } else {
            let t = self.target(need);
            self.buf.try_reserve_exact(t - self.buf.len())?;
            t
        };
        self.buf.resize(len, 0);
        Ok(())
    }

    /// Appends `data` (a stored block) with one copy and no zeroing. The
    /// caller has checked that `pos + data.len() <= cap`.
    fn append(&mut self, data: &[u8]) -> Result<(), Error> {
        self.buf.truncate(self.pos);
        let need = self.pos.saturating_add(data.len());
        if need > self.buf.capacity() {
            let t = self.target(need);
            self.buf.try_reserve_exact(t - self.buf.len())?;
        }
        self.buf.extend_from_slice(data);
        self.pos = self.buf.len();
        Ok(())
    }
}
