//! The LZ4 block format (lz4_Block_format.md): a greedy hash-table
//! compressor and a bounds-checked decompressor.
//!
//! A block is a run of sequences: a token (literal length in the high
//! nibble, match length − 4 in the low one), optional length bytes, the
//! literals, a 2-byte little-endian offset and optional match length bytes.
//! The last sequence holds only literals.

use super::Sink;
use crate::error::Error;

/// Shortest match the format can express.
const MIN_MATCH: usize = 4;
/// The last 5 bytes of a block are always literals (§ End of block conditions).
const LAST_LITERALS: usize = 5;
/// The last match starts at least 12 bytes before the end of the block
/// (§ End of block conditions), so no block of 12 bytes or less shrinks.
pub const MF_LIMIT: usize = 12;
/// Largest offset a 2-byte field holds.
pub const MAX_OFFSET: usize = 65_535;
/// After 2^SKIP_TRIGGER misses in a row the search starts skipping faster,
/// which keeps incompressible input cheap.
const SKIP_TRIGGER: u32 = 6;
/// Hash table sizes: 2^8 entries for tiny inputs up to 2^13 (32 KB) for a
/// full 64 KB block.
const MIN_HASH_LOG: u32 = 10;
const MAX_HASH_LOG: u32 = 13;

/// Reads 4 little-endian bytes at `i`; None past the end.
#[inline(always)]
fn read_u32(s: &[u8], i: usize) -> Option<u32> {
    let b: [u8; 4] = s.get(i..)?.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// Reads 8 little-endian bytes at `i`; None past the end.
#[inline(always)]
fn read_u64(s: &[u8], i: usize) -> Option<u64> {
    let b: [u8; 8] = s.get(i..)?.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Bytes an extended length of `n` (after the nibble's 15) takes.
#[inline(always)]
const fn ext_bytes(n: usize) -> usize {
    n / 255 + 1
}

/// Writes the length bytes for `n` (the part above the nibble's 15) at
/// `dst[at..]` and returns the position after them.
#[inline(always)]
fn put_ext(dst: &mut [u8], at: usize, n: usize) -> Option<usize> {
    let full = n / 255;
    let bytes = dst.get_mut(at..)?.get_mut(..=full)?;
    let (last, run) = bytes.split_last_mut()?;
    if full > 0 {
        run.fill(255);
    }
    *last = (n - full * 255) as u8;
    Some(at + full + 1)
}

/// Writes one sequence at `dst[at..]`: the token, the literals
/// `src[anchor..anchor + lits]` and, unless `m` is None (the last
/// sequence), the match's offset and length (`ml + 4` bytes). Returns the
/// position after it. Up to 16 literals go as one fixed 16-byte copy when
/// both sides have the room; later writes and the final truncation take
/// care of the excess.
#[inline(always)]
fn put_sequence(
    dst: &mut [u8],
    at: usize,
    src: &[u8],
    anchor: usize,
    lits: usize,
    m: Option<(u16, usize)>,
) -> Option<usize> {
    if let Some((offset, ml)) = m {
        if lits < 15 && ml < 15 && at + 3 + WILD <= dst.len() && anchor + WILD <= src.len() {
            // The common short sequence: the token and the offset as fixed
            // stores, the literals (if any) as one 16-byte copy.
            let d = dst.get_mut(at..)?.get_mut(..3 + WILD)?;
            *d.get_mut(0)? = ((lits as u8) << 4) | ml as u8;
            if lits > 0 {
                copy16(d, 1, src.get(anchor..)?)?;
            }
            let [lo, hi] = offset.to_le_bytes();
            *d.get_mut(1 + lits)? = lo;
            *d.get_mut(2 + lits)? = hi;
            return Some(at + 3 + lits);
        }
    }
    let ml_nibble = m.map_or(0, |(_, ml)| ml.min(15) as u8);
    *dst.get_mut(at)? = ((lits.min(15) as u8) << 4) | ml_nibble;
    let mut op = at + 1;
    if lits >= 15 {
        op = put_ext(dst, op, lits - 15)?;
    }
    copy_literals(dst, op, src, anchor, lits)?;
    op += lits;
    if let Some((offset, ml)) = m {
        dst.get_mut(op..)?
            .get_mut(..2)?
            .copy_from_slice(&offset.to_le_bytes());
        op += 2;
        if ml >= 15 {
            op = put_ext(dst, op, ml - 15)?;
        }
    }
    Some(op)
}

/// Makes `out[base..]` at least `n` bytes of zeroed room for a block of
/// `n` bytes, plus up to 16 more for the fixed literal copies if the
/// capacity already has them. Done on the first sequence, so incompressible
/// blocks, which write none, zero nothing.
#[inline(never)]
fn make_room(out: &mut Vec<u8>, base: usize, n: usize) {
    let room = (n + WILD).min(out.capacity().saturating_sub(base)).max(n);
    out.resize(base + room, 0);
}

/// The encoded size of a sequence with `lits` literals and a match of
/// `ml + 4` bytes (`ml` None for the last, literals-only sequence).
#[inline(always)]
fn sequence_len(lits: usize, ml: Option<usize>) -> usize {
    let lit_ext = if lits >= 15 { ext_bytes(lits - 15) } else { 0 };
    let match_part = match ml {
        None => 0,
        Some(ml) if ml >= 15 => 2 + ext_bytes(ml - 15),
        Some(_) => 2,
    };
    1 + lit_ext + lits + match_part
}

/// A greedy LZ4 compressor. Its hash table maps the hash of 4 input bytes to
/// the last absolute position they were seen at, and is kept across the
/// blocks of one payload: `compress` ignores entries outside its window, so
/// independent blocks need no reset.
pub struct Compressor {
    table: Vec<u32>,
    shift: u32,
}

impl Compressor {
    /// A compressor for blocks of up to `block_len` bytes, with a table
    /// sized to match (no point clearing 32 KB for a 100-byte message).
    pub fn new(block_len: usize) -> Result<Compressor, Error> {
        let mut log = MIN_HASH_LOG;
        while log < MAX_HASH_LOG && (1usize << log) < block_len {
            log += 1;
        }
        let mut table = Vec::new();
        table.try_reserve_exact(1 << log)?;
        table.resize(1 << log, 0);
        Ok(Compressor {
            table,
            shift: 32 - log,
        })
    }

    /// Compresses `src[start..end]` as one block, appending it to `out`.
    /// Matches may reach back to `window` (`start` for an independent block,
    /// an earlier position for a linked one).
    ///
    /// Returns false, leaving `out` as it was, when the block would not
    /// shrink: the caller then stores it. `out` never grows by more than
    /// `end - start - 1` bytes, so reserving the block's length up front
    /// is enough: the block is written into zeroed room of that length
    /// (plus up to 16 bytes of slack the capacity already has), which is
    /// then cut to what was written. Positions must fit in u32.
    pub fn compress(
        &mut self,
        src: &[u8],
        window: usize,
        start: usize,
        end: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        let base = out.len();
        match self.sequences(src, window, start, end, out) {
            Some(()) => true,
            None => {
                out.truncate(base);
                false
            }
        }
    }

    /// The body of `compress`. None means "store the block instead": the
    /// output would not shrink, or (never, by construction) an index fell
    /// outside `src`, which costs compression and not correctness.
    fn sequences(
        &mut self,
        src: &[u8],
        window: usize,
        start: usize,
        end: usize,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let n = end.checked_sub(start)?;
        // Only src[..end] is read, so fixed-size literal copies stay inside
        // the block.
        let src = src.get(..end)?;
        // The block is written at out[base..], op bytes so far; it must stay
        // under n bytes.
        let base = out.len();
        let mut op = 0;
        let mut anchor = start;
        if n > MF_LIMIT {
            let ip_limit = end - MF_LIMIT;
            let match_limit = end - LAST_LITERALS;
            let mut ip = start;
            'sequences: loop {
                // Find a 4-byte match, skipping faster the longer we miss.
                let mut misses = 1u32 << SKIP_TRIGGER;
                let mut cand;
                loop {
                    if ip > ip_limit {
                        break 'sequences;
                    }
                    let seq = read_u32(src, ip)?;
                    let slot = self
                        .table
                        .get_mut((seq.wrapping_mul(2_654_435_761) >> self.shift) as usize)?;
                    cand = *slot as usize;
                    *slot = ip as u32;
                    if cand >= window
                        && cand < ip
                        && ip - cand <= MAX_OFFSET
                        && read_u32(src, cand) == Some(seq)
                    {
                        break;
                    }
                    ip += (misses >> SKIP_TRIGGER) as usize;
                    misses += 1;
                }
                // Extend forward, eight bytes at a time, then backward over
                // the pending literals.
                let mut len =
                    MIN_MATCH + extend(src, cand + MIN_MATCH, ip + MIN_MATCH, match_limit)?;
                while ip > anchor && cand > window && src.get(ip - 1)? == src.get(cand - 1)? {
                    ip -= 1;
                    cand -= 1;
                    len += 1;
                }
                let ml = len - MIN_MATCH;
                let lits = ip - anchor;
                if op + sequence_len(lits, Some(ml)) >= n {
                    return None;
                }
                if out.len() == base {
                    make_room(out, base, n);
                }
                let dst = out.get_mut(base..)?;
                op = put_sequence(dst, op, src, anchor, lits, Some(((ip - cand) as u16, ml)))?;
                ip += len;
                anchor = ip;
                if ip > ip_limit {
                    break;
                }
                // Remember a position inside the match so the next one can
                // start right here.
                let p = ip - 2;
                let h = (read_u32(src, p)?.wrapping_mul(2_654_435_761) >> self.shift) as usize;
                *self.table.get_mut(h)? = p as u32;
            }
        }
        // The last sequence: literals only.
        let lits = end.checked_sub(anchor)?;
        if op + sequence_len(lits, None) >= n {
            return None;
        }
        if out.len() == base {
            make_room(out, base, n);
        }
        let dst = out.get_mut(base..)?;
        op = put_sequence(dst, op, src, anchor, lits, None)?;
        out.truncate(base + op);
        Some(())
    }
}

/// How many bytes at `src[b..]` equal those at `src[a..]` (`a < b`),
/// stopping at `limit`: eight at a time, then one at a time. The first word
/// is compared outside the loop, since most matches end inside it.
#[inline(always)]
fn extend(src: &[u8], mut a: usize, mut b: usize, limit: usize) -> Option<usize> {
    let start = b;
    if b + 8 <= limit {
        let x = read_u64(src, a)? ^ read_u64(src, b)?;
        if x != 0 {
            return Some((x.trailing_zeros() / 8) as usize);
        }
        a += 8;
        b += 8;
        while b + 8 <= limit {
            let x = read_u64(src, a)? ^ read_u64(src, b)?;
            if x != 0 {
                return Some(b - start + (x.trailing_zeros() / 8) as usize);
            }
            a += 8;
            b += 8;
        }
    }
    while b < limit && src.get(a)? == src.get(b)? {
        a += 1;
        b += 1;
    }
    Some(b - start)
}

/// Where a block's output may go, as absolute positions in the output.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The lowest position a match may copy from: the block's start for an
    /// independent block, the payload's start for a linked one.
    pub window: usize,
    /// Output may not pass this within the block (its start plus the frame's
    /// block maximum); passing it is `Compression`.
    pub block_end: usize,
    /// Output may not pass this at all (the payload's start plus the caller's
    /// limit); passing it is `TooLarge`.
    pub payload_end: usize,
}

impl Limits {
    /// Checks that output may grow to `new_len`: the block maximum first,
    /// then the payload limit (ABI.md § Decoding order, 4.4).
    #[inline(always)]
    fn check(&self, new_len: usize) -> Result<(), Error> {
        if new_len > self.block_end {
            return Err(Error::Compression);
        }
        if new_len > self.payload_end {
            return Err(Error::TooLarge);
        }
        Ok(())
    }
}

/// Reads the length bytes that follow a nibble of 15.
#[inline(always)]
fn ext_len(src: &[u8], ip: &mut usize, mut len: usize) -> Result<usize, Error> {
    loop {
        let b = *src.get(*ip).ok_or(Error::Compression)?;
        *ip += 1;
        len = len.checked_add(b as usize).ok_or(Error::Compression)?;
        if b != 255 {
            return Ok(len);
        }
    }
}

/// Width of the fixed-size literal copies.
const WILD: usize = 16;

/// The short-sequence path reads the token, up to 14 literals (as a fixed
/// 16-byte copy) and the offset from one 17-byte window of the block...
const SHORT_IN: usize = 17;
/// ...and writes the literals as 16 bytes and the match (at most 18 bytes)
/// as three 8-byte words after them: 14 + 24 bytes of room at most.
const SHORT_OUT: usize = 38;
/// Matches at least this far back can be copied in 8-byte words front to
/// back: each word reads only bytes already final.
const WORD: usize = 8;
/// Matches up to this long go as words; longer ones as one `memory.copy`
/// (or a few, when they overlap).
const WORD_MATCH: usize = 64;

/// `s[at..at + n]`, or None.
#[inline(always)]
fn window(s: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    s.get(at..)?.get(..n)
}

/// The 8 bytes at `s[at..]` as a word; None past the end.
#[inline(always)]
fn load8(s: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = window(s, at, 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Writes `v` to `d[at..at + 8]`; None past the end.
#[inline(always)]
fn store8(d: &mut [u8], at: usize, v: u64) -> Option<()> {
    d.get_mut(at..)?
        .get_mut(..8)?
        .copy_from_slice(&v.to_le_bytes());
    Some(())
}

/// Copies the first 16 bytes of `src` to `dst[at..]` as two 8-byte words,
/// which compiles to four plain loads and stores instead of a `memory.copy`
/// (a call out of the compiled code in wazero, costly for short runs).
#[inline(always)]
fn copy16(dst: &mut [u8], at: usize, src: &[u8]) -> Option<()> {
    let (hi, lo) = (load8(src, 8)?, load8(src, 0)?);
    let d = dst.get_mut(at..)?.get_mut(..WILD)?;
    store8(d, 8, hi)?;
    store8(d, 0, lo)
}

/// Writes the `n` literals at `src[at..]` to `dst[to..]`. Up to 16 go as one
/// fixed 16-byte copy when both sides have the room; the bytes past `n`
/// it writes are overwritten by later output or cut off by `Sink::finish`.
#[inline(always)]
fn copy_literals(dst: &mut [u8], to: usize, src: &[u8], at: usize, n: usize) -> Option<()> {
    if n <= WILD && at + WILD <= src.len() && to + WILD <= dst.len() {
        copy16(dst, to, src.get(at..)?)
    } else {
        copy_exact(dst, to, window(src, at, n)?)
    }
}

/// Copies `src` to `dst[to..]`, as one `memory.copy`. (Written as a zip:
/// with `copy_from_slice` LLVM 14 leaves its length-mismatch panic in,
/// behind a compare of a value with itself.)
#[inline(always)]
fn copy_exact(dst: &mut [u8], to: usize, src: &[u8]) -> Option<()> {
    let d = dst.get_mut(to..)?.get_mut(..src.len())?;
    d.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
    Some(())
}

/// Appends a match: `len` bytes copied from `dist` bytes back, the way the
/// format defines it, byte by byte, so that a match may overlap its own
/// output. `dst[..to]` is the output so far. Like `copy_literals`, it may
/// write up to 7 bytes past the match when `dst` has the room.
#[inline(always)]
fn copy_match(dst: &mut [u8], to: usize, dist: usize, len: usize) -> Option<()> {
    let from = to.checked_sub(dist)?;
    if dist >= WORD && len <= WORD_MATCH && to + len + WORD <= dst.len() {
        // Front to back in words: word k reads [from + k, from + k + 8),
        // which ends at or before to + k, so it reads only final bytes.
        let mut k = 0;
        while k < len {
            let w = load8(dst, from + k)?;
            store8(dst, to + k, w)?;
            k += WORD;
        }
        return Some(());
    }
    if to > dst.len() {
        return None;
    }
    let (done, room) = dst.split_at_mut(to);
    if dist >= len {
        let from = window(done, from, len)?;
        room.get_mut(..from.len())?.copy_from_slice(from);
    } else if dist == 1 {
        room.get_mut(..len)?.fill(*done.get(from)?);
    } else {
        // The match repeats the last `dist` bytes. Write one period, then
        // keep doubling what is written; every copy starts at a multiple of
        // `dist`, so it stays in phase.
        let out = room.get_mut(..len)?;
        let period = window(done, from, dist)?;
        out.get_mut(..period.len())?.copy_from_slice(period);
        let mut written = dist;
        while written < len {
            let run = written.min(len - written);
            let (src, dst) = out.split_at_mut(written);
            let from = src.get(..run)?;
            dst.get_mut(..from.len())?.copy_from_slice(from);
            written += run;
        }
    }
    Some(())
}

/// The common sequence, decoded without the general path's checks when it
/// is safe to: under 15 literals and a match of 4–18 bytes (no length
/// bytes), at least 8 bytes back, with room for fixed-size copies on both
/// sides and within both limits. Returns the new block and output
/// positions, or None to leave the sequence, valid or not, to the general
/// path; the output (`dst[..op]`) is then unchanged.
#[inline(always)]
fn short_sequence(
    src: &[u8],
    ip: usize,
    dst: &mut [u8],
    op: usize,
    window: usize,
    end: usize,
) -> Option<(usize, usize)> {
    let s: &[u8; SHORT_IN] = src.get(ip..)?.get(..SHORT_IN)?.try_into().ok()?;
    let token = s[0];
    let lits = (token >> 4) as usize;
    let ml = (token & 0x0F) as usize;
    if lits == 15 || ml == 15 {
        return None;
    }
    // lits <= 14, so the offset lies inside the window, and the block goes
    // on after it: this is not the last sequence.
    let dist = u16::from_le_bytes([*s.get(1 + lits)?, *s.get(2 + lits)?]) as usize;
    let after_lits = op + lits;
    let after = after_lits + ml + MIN_MATCH;
    if dist < WORD || dist > after_lits.saturating_sub(window) || after > end {
        return None;
    }
    // Both windows are taken before anything is written. The literal one
    // also covers the match's words (op + 14 + 24 <= op + SHORT_OUT).
    let lit = dst.get_mut(op..)?.get_mut(..SHORT_OUT)?;
    let (hi, lo) = (load8(s, 9)?, load8(s, 1)?);
    store8(lit, 8, hi)?;
    store8(lit, 0, lo)?;
    // The match as three words front to back: word k reads m[k..k + 8] and
    // writes m[dist + k..], and k + 8 <= dist + k, so it reads only final
    // bytes (the literals just written included).
    let m = dst.get_mut(after_lits - dist..)?.get_mut(..dist + 24)?;
    for k in [0, 8, 16] {
        let w = load8(m, k)?;
        store8(m, dist + k, w)?;
    }
    Some((ip + 3 + lits, after))
}

/// Decodes sequences from `src[*ip..]` into `dst`, whose first `*op` bytes
/// are the output so far and the rest zeroed room. Stops with Ok(None)
/// after the last sequence, or with Ok(Some(n)) at a sequence that has
/// passed every check but needs `n` bytes of room past `*op` that `dst`
/// lacks; `*ip` and `*op` then point at that sequence, not yet written.
fn sequences(
    src: &[u8],
    ip: &mut usize,
    dst: &mut [u8],
    op: &mut usize,
    lim: &Limits,
) -> Result<Option<usize>, Error> {
    // Bounds that the checks below already guarantee; failing one would be
    // a bug in this decoder, reported as a bad frame rather than a panic.
    const BUG: Error = Error::Compression;
    // Output up to here passes both limits; one compare per sequence.
    let end = lim.block_end.min(lim.payload_end);
    let (mut i, mut o) = (*ip, *op);
    let result = loop {
        if let Some((ni, no)) = short_sequence(src, i, dst, o, lim.window, end) {
            // Two per loop iteration: fewer trips round the loop, whose
            // every turn costs wazero moves between registers and stack.
            i = ni;
            o = no;
            if let Some((ni, no)) = short_sequence(src, i, dst, o, lim.window, end) {
                i = ni;
                o = no;
            }
            continue;
        }
        let at = i;
        let token = *src.get(i).ok_or(Error::Compression)?;
        i += 1;
        let mut lits = (token >> 4) as usize;
        if lits == 15 {
            lits = ext_len(src, &mut i, lits)?;
        }
        let lit_at = i;
        i = i.checked_add(lits).ok_or(Error::Compression)?;
        if i > src.len() {
            return Err(Error::Compression);
        }
        let after_lits = o.checked_add(lits).ok_or(Error::Compression)?;
        if i == src.len() {
            // The last sequence: a match nibble here would need an offset.
            if token & 0x0F != 0 {
                return Err(Error::Compression);
            }
            lim.check(after_lits)?;
            if after_lits > dst.len() {
                i = at;
                break Some(lits);
            }
            copy_literals(dst, o, src, lit_at, lits).ok_or(BUG)?;
            o = after_lits;
            break None;
        }
        let dist = match src.get(i..) {
            Some(&[lo, hi, ..]) => u16::from_le_bytes([lo, hi]) as usize,
            _ => return Err(Error::Compression),
        };
        i += 2;
        if dist == 0 || dist > after_lits.saturating_sub(lim.window) {
            return Err(Error::Compression);
        }
        let mut len = (token & 0x0F) as usize;
        if len == 15 {
            len = ext_len(src, &mut i, len)?;
        }
        len += MIN_MATCH;
        let after_match = after_lits.checked_add(len).ok_or(Error::Compression)?;
        if after_match > end {
            // Some limit is passed: find which, in the ABI's order.
            lim.check(after_lits)?;
            lim.check(after_match)?;
        }
        if after_match > dst.len() {
            i = at;
            break Some(lits + len);
        }
        if lits > 0 {
            copy_literals(dst, o, src, lit_at, lits).ok_or(BUG)?;
        }
        copy_match(dst, after_lits, dist, len).ok_or(BUG)?;
        o = after_match;
    };
    *ip = i;
    *op = o;
    Ok(result)
}

/// Decompresses the block `src` into `out`.
///
/// Every defect is checked sequence by sequence in the order of wasm/ABI.md
/// § Decoding order 4.4: literal and length bytes inside the block, the
/// offset present and inside the window, then the output against the
/// block maximum (`Compression`) and the payload limit (`TooLarge`),
/// literals before the match, all before the sequence writes anything.
/// The block must end right after a literals-only sequence.
///
/// The sequences are decoded into the room `out` has; when a sequence
/// needs more, `out` grows (never past its cap, which the limit checks
/// have already ruled out) and decoding resumes at that sequence.
pub fn decompress(src: &[u8], out: &mut Sink<'_>, lim: &Limits) -> Result<(), Error> {
    let mut ip = 0usize;
    loop {
        let mut op = out.pos;
        let r = sequences(src, &mut ip, out.buf.as_mut_slice(), &mut op, lim);
        out.pos = op;
        match r? {
            None => return Ok(()),
            Some(n) => out.room(n)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited(window: usize) -> Limits {
        Limits {
            window,
            block_end: usize::MAX,
            payload_end: usize::MAX,
        }
    }

    /// Decodes `src` onto the end of `out`, as the frame decoder does.
    fn run(src: &[u8], out: &mut Vec<u8>, lim: &Limits) -> Result<(), Error> {
        let max = lim.payload_end.saturating_sub(out.len());
        let mut sink = Sink::new(out, max);
        let r = decompress(src, &mut sink, lim);
        if r.is_ok() {
            sink.finish();
        }
        r
    }

    fn roundtrip(data: &[u8]) -> Option<usize> {
        let mut c = Compressor::new(data.len()).unwrap();
        let mut packed = Vec::new();
        if !c.compress(data, 0, 0, data.len(), &mut packed) {
            assert!(packed.is_empty());
            return None;
        }
        assert!(packed.len() < data.len());
        check_end_rules(&packed, data.len());
        let mut out = Vec::new();
        run(&packed, &mut out, &unlimited(0)).unwrap();
        assert_eq!(out, data);
        Some(packed.len())
    }

    /// Walks a block and asserts the end-of-block rules every LZ4 decoder
    /// relies on: the last 5 bytes are literals and the last match starts at
    /// least 12 bytes before the end.
    fn check_end_rules(block: &[u8], n: usize) {
        let (mut ip, mut op) = (0usize, 0usize);
        let mut last_match_start = None;
        loop {
            let token = block[ip];
            ip += 1;
            let mut lits = (token >> 4) as usize;
            if lits == 15 {
                lits = ext_len(block, &mut ip, lits).unwrap();
            }
            ip += lits;
            op += lits;
            if ip == block.len() {
                break;
            }
            ip += 2;
            let mut len = (token & 15) as usize;
            if len == 15 {
                len = ext_len(block, &mut ip, len).unwrap();
            }
            last_match_start = Some(op);
            op += len + MIN_MATCH;
            assert!(
                op <= n - LAST_LITERALS,
                "match ends inside the last 5 bytes"
            );
        }
        assert_eq!(op, n);
        if let Some(s) = last_match_start {
            assert!(s + MF_LIMIT <= n, "last match starts at {} of {}", s, n);
        }
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    fn text(n: usize) -> Vec<u8> {
        let words = [
            "the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ", "chat ",
            "room ", "message ", "hello ", "world ",
        ];
        let mut x = 12345u64;
        let mut s = Vec::new();
        while s.len() < n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.extend_from_slice(words[(x >> 59) as usize % words.len()].as_bytes());
        }
        s.truncate(n);
        s
    }

    #[test]
    fn compresses_and_round_trips() {
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            ("empty", vec![], false),
            // The smallest block with room for a match (§ End of block
            // conditions: 13 bytes).
            ("12 zeros", vec![0; 12], false),
            ("13 zeros", vec![0; 13], true),
            ("64 KB zeros", vec![0; 65_536], true),
            ("text 1000", text(1000), true),
            ("text 65536", text(65_536), true),
            ("pattern 3", b"abc".repeat(5000), true),
            ("noise 4096", noise(4096, 3), false),
            ("half noise", [noise(2000, 5), vec![7; 2000]].concat(), true),
            (
                "long literal run",
                [noise(600, 9), vec![1; 600]].concat(),
                true,
            ),
        ];
        for (name, data, shrinks) in cases {
            let got = roundtrip(&data);
            assert_eq!(got.is_some(), shrinks, "{}: {:?}", name, got);
        }
        // 64 KB of zeros packs into a few hundred bytes.
        assert!(roundtrip(&[0; 65_536]).unwrap() < 300);
    }

    #[test]
    fn round_trips_every_short_length() {
        for n in 0..200 {
            for data in [vec![b'a'; n], text(n), noise(n, n as u64)] {
                let packed = roundtrip(&data);
                // frame::encode relies on this to skip the compressor.
                if n <= MF_LIMIT {
                    assert_eq!(packed, None, "{} bytes shrank", n);
                }
            }
        }
    }

    #[test]
    fn linked_matches_reach_into_the_previous_block() {
        let data = text(20_000);
        let mut c = Compressor::new(10_000).unwrap();
        let mut first = Vec::new();
        assert!(c.compress(&data, 0, 0, 10_000, &mut first));
        let mut second = Vec::new();
        assert!(c.compress(&data, 0, 10_000, 20_000, &mut second));
        let mut out = Vec::new();
        run(&first, &mut out, &unlimited(0)).unwrap();
        // Independent decoding of the second block must fail: it refers back.
        let mut alone = out.clone();
        let lim = Limits {
            window: alone.len(),
            block_end: usize::MAX,
            payload_end: usize::MAX,
        };
        assert_eq!(run(&second, &mut alone, &lim), Err(Error::Compression));
        run(&second, &mut out, &unlimited(0)).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn length_bytes_read_back_at_any_length() {
        for n in (0..3000).chain([65_535, 1 << 20]) {
            for lead in 0..3 {
                let bytes = ext_bytes(n);
                let mut src = vec![9; lead + bytes];
                assert_eq!(put_ext(&mut src, lead, n), Some(lead + bytes));
                assert_eq!(put_ext(&mut src[..lead + bytes - 1], lead, n), None);
                src.extend_from_slice(&[255; 9]);
                let mut ip = lead;
                assert_eq!(ext_len(&src, &mut ip, 15), Ok(15 + n), "n {}", n);
                assert_eq!(ip, lead + bytes, "n {}", n);
                // Cut anywhere inside the length bytes: Compression.
                let mut ip = lead;
                let cut = &src[..lead + bytes - 1];
                assert_eq!(ext_len(cut, &mut ip, 15), Err(Error::Compression));
            }
        }
        // A sum past usize::MAX is Compression.
        for run in [1, 8, 20] {
            let mut src = vec![255; run];
            src.push(0);
            let mut ip = 0;
            assert_eq!(
                ext_len(&src, &mut ip, usize::MAX - 255 * run + 1),
                Err(Error::Compression)
            );
            let mut ip = 0;
            assert_eq!(
                ext_len(&src, &mut ip, usize::MAX - 255 * run),
                Ok(usize::MAX)
            );
        }
    }

    #[test]
    fn match_copies_equal_the_byte_by_byte_definition() {
        for dist in 1..40 {
            for len in [4, 5, 7, 8, 9, 15, 16, 17, 19, 20, 33, 63, 64, 65, 100, 1000] {
                // With and without spare room, so both the word copies and
                // the exact ones run.
                for spare in [0, 7, 8, 64] {
                    let mut out: Vec<u8> = (0..dist as u8).map(|b| b + 1).collect();
                    let mut want = out.clone();
                    for _ in 0..len {
                        want.push(want[want.len() - dist]);
                    }
                    out.resize(dist + len + spare, 0xEE);
                    copy_match(&mut out, dist, dist, len).unwrap();
                    out.truncate(dist + len);
                    assert_eq!(out, want, "dist {} len {} spare {}", dist, len, spare);
                }
            }
        }
        // Out of the output, or before its start: None, nothing written.
        let mut out = vec![1, 2, 3];
        assert_eq!(copy_match(&mut out, 3, 1, 1), None);
        assert_eq!(copy_match(&mut out, 2, 3, 1), None);
        assert_eq!(copy_match(&mut out, 4, 1, 0), None);
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn literal_copies_keep_only_their_bytes() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..30 {
            for spare in [0, 64] {
                let mut out = vec![0xEE; 1 + n + spare];
                copy_literals(&mut out, 1, &src, 3, n).unwrap();
                assert_eq!(out[0], 0xEE);
                assert_eq!(out[1..1 + n], src[3..3 + n], "n {} spare {}", n, spare);
            }
        }
        let mut out = vec![0; 4];
        assert_eq!(copy_literals(&mut out, 1, &src, 3, 4), None);
        assert_eq!(copy_literals(&mut out, 0, &src, 38, 3), None);
    }

    #[test]
    fn rejects_malformed_blocks() {
        let lim = |block_end, payload_end| Limits {
            window: 0,
            block_end,
            payload_end,
        };
        let big = lim(usize::MAX, usize::MAX);
        type Case = (&'static str, Vec<u8>, Limits, Result<(), Error>);
        let cases: Vec<Case> = vec![
            ("empty block", vec![], big, Err(Error::Compression)),
            ("literals only", vec![0x30, 1, 2, 3], big, Ok(())),
            ("no literals", vec![0x00], big, Ok(())),
            (
                "literals past end",
                vec![0x30, 1, 2],
                big,
                Err(Error::Compression),
            ),
            (
                "length byte missing",
                vec![0xF0],
                big,
                Err(Error::Compression),
            ),
            (
                "missing offset",
                vec![0x11, 1],
                big,
                Err(Error::Compression),
            ),
            (
                "half offset",
                vec![0x11, 1, 1],
                big,
                Err(Error::Compression),
            ),
            (
                "offset 0",
                vec![0x10, 1, 0, 0, 0x00],
                big,
                Err(Error::Compression),
            ),
            (
                "offset too far",
                vec![0x10, 1, 2, 0, 0x00],
                big,
                Err(Error::Compression),
            ),
            (
                "ends after match",
                vec![0x10, 1, 1, 0],
                big,
                Err(Error::Compression),
            ),
            ("good match", vec![0x10, 1, 1, 0, 0x10, 2], big, Ok(())),
            (
                "match length byte missing",
                vec![0x1F, 1, 1, 0],
                big,
                Err(Error::Compression),
            ),
            (
                "block max",
                vec![0x10, 1, 1, 0, 0x10, 2],
                lim(5, usize::MAX),
                Err(Error::Compression),
            ),
            (
                "payload limit",
                vec![0x10, 1, 1, 0, 0x10, 2],
                lim(usize::MAX, 5),
                Err(Error::TooLarge),
            ),
            (
                "block max before payload limit",
                vec![0x10, 1, 1, 0, 0x10, 2],
                lim(5, 5),
                Err(Error::Compression),
            ),
            (
                "exactly at both limits",
                vec![0x10, 1, 1, 0, 0x10, 2],
                lim(6, 6),
                Ok(()),
            ),
            (
                "bad offset before output limit",
                vec![0x10, 1, 9, 0, 0x00],
                lim(0, 0),
                Err(Error::Compression),
            ),
            (
                "literal limit before match limit",
                vec![0x20, 1, 2, 1, 0, 0x00],
                lim(usize::MAX, 1),
                Err(Error::TooLarge),
            ),
        ];
        for (name, src, lim, want) in cases {
            let mut out = Vec::new();
            assert_eq!(run(&src, &mut out, &lim), want, "{}", name);
        }
    }

    /// The block format and ABI.md's check order written as plainly as
    /// possible, one byte at a time: what `decompress` must agree with.
    fn reference(src: &[u8], out: &mut Vec<u8>, lim: &Limits) -> Result<(), Error> {
        let c = Error::Compression;
        let ext = |ip: &mut usize, mut n: usize| -> Result<usize, Error> {
            loop {
                let b = *src.get(*ip).ok_or(c)? as usize;
                *ip += 1;
                n += b;
                if b != 255 {
                    return Ok(n);
                }
            }
        };
        let mut ip = 0;
        loop {
            let token = *src.get(ip).ok_or(c)?;
            ip += 1;
            let mut lits = (token >> 4) as usize;
            if lits == 15 {
                lits = ext(&mut ip, lits)?;
            }
            let literals = src.get(ip..ip + lits).ok_or(c)?;
            ip += lits;
            if ip == src.len() {
                if token & 15 != 0 {
                    return Err(c);
                }
                lim.check(out.len() + lits)?;
                out.extend_from_slice(literals);
                return Ok(());
            }
            let dist = match src.get(ip..ip + 2) {
                Some(b) => b[0] as usize | (b[1] as usize) << 8,
                None => return Err(c),
            };
            ip += 2;
            if dist == 0 || dist > out.len() + lits || out.len() + lits - dist < lim.window {
                return Err(c);
            }
            let mut len = (token & 15) as usize;
            if len == 15 {
                len = ext(&mut ip, len)?;
            }
            len += MIN_MATCH;
            lim.check(out.len() + lits)?;
            lim.check(out.len() + lits + len)?;
            out.extend_from_slice(literals);
            for _ in 0..len {
                out.push(out[out.len() - dist]);
            }
        }
    }

    #[test]
    fn decompress_agrees_with_the_reference_decoder() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = |n: usize| -> usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        // (output before the block, block): independent blocks after no
        // output, and linked ones whose matches reach back into the output
        // of the block before.
        let mut blocks = Vec::new();
        for n in [20, 40, 100, 300, 1000, 3000] {
            let repeats: Vec<u8> = (0..n).map(|i| b"abcdefgh"[i % (1 + i / 97 % 8)]).collect();
            for data in [text(n), noise(n, n as u64), repeats, vec![b'z'; n]] {
                for start in [0, n / 3] {
                    let mut packed = Vec::new();
                    if Compressor::new(n)
                        .unwrap()
                        .compress(&data, 0, start, n, &mut packed)
                    {
                        blocks.push((data[..start].to_vec(), packed));
                    }
                }
            }
        }
        let (mut agreed_ok, mut agreed_err) = (0, 0);
        for round in 0..30_000 {
            let (before, mut block) = blocks[rnd(blocks.len())].clone();
            // Half the blocks stay valid; the others get 1-3 mutations:
            // a byte changed, the end cut, or a byte inserted.
            let mutations = if rnd(2) == 0 { 0 } else { 1 + rnd(3) };
            for _ in 0..mutations {
                match rnd(3) {
                    0 if !block.is_empty() => {
                        let i = rnd(block.len());
                        block[i] = rnd(256) as u8;
                    }
                    1 if !block.is_empty() => block.truncate(rnd(block.len())),
                    _ => {
                        let i = rnd(block.len() + 1);
                        block.insert(i, rnd(256) as u8);
                    }
                }
            }
            // The output before the block: what it was compressed after,
            // or (for independent blocks) sometimes some other bytes.
            let prefix = if before.is_empty() && round % 2 == 1 {
                vec![0xA5; rnd(40)]
            } else {
                before
            };
            let start = prefix.len();
            // Limits mostly inside the output the block would produce, so
            // that every limit check decides some rounds.
            let mut full = prefix.clone();
            let _ = reference(&block, &mut full, &unlimited(0));
            let span = full.len() - start + 8;
            let (block_end, payload_end) = match rnd(4) {
                0 => (start + rnd(span), start + rnd(span)),
                1 => (start + rnd(span), usize::MAX),
                2 => (usize::MAX, start + rnd(span)),
                _ => (start + span + rnd(100), start + span + rnd(100)),
            };
            let lim = Limits {
                window: if rnd(2) == 0 { 0 } else { start },
                block_end,
                payload_end,
            };
            let mut want = prefix.clone();
            let want_r = reference(&block, &mut want, &lim);
            let mut got = prefix.clone();
            let got_r = run(&block, &mut got, &lim);
            assert_eq!(got_r, want_r, "round {}: {:02x?} {:?}", round, block, lim);
            if want_r.is_ok() {
                assert_eq!(got, want, "round {}", round);
                agreed_ok += 1;
            } else {
                agreed_err += 1;
            }
            // The output never holds room past the payload limit.
            assert!(
                got.capacity() <= lim.payload_end.max(start),
                "round {}",
                round
            );
        }
        // Both outcomes are well represented.
        assert!(
            agreed_ok > 3000 && agreed_err > 3000,
            "{} {}",
            agreed_ok,
            agreed_err
        );
    }

    #[test]
    fn limits_never_grow_capacity_past_the_payload_limit() {
        // One literal byte then a 1 MiB run of it.
        let mut block = vec![0x1F, 0xAA, 1, 0];
        let mut n = (1usize << 20) - 20;
        while n >= 255 {
            block.push(255);
            n -= 255;
        }
        block.push(n as u8);
        block.push(0x00);
        let lim = Limits {
            window: 0,
            block_end: usize::MAX,
            payload_end: 1000,
        };
        let mut out = Vec::new();
        assert_eq!(run(&block, &mut out, &lim), Err(Error::TooLarge));
        assert!(out.capacity() <= 1000, "capacity {}", out.capacity());
        let mut out = Vec::new();
        run(&block, &mut out, &unlimited(0)).unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert!(out.iter().all(|&b| b == 0xAA));
    }
}
