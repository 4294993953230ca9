//! The LZ4 frame format (lz4_Frame_format.md): magic, descriptor, data
//! blocks, EndMark, optional content checksum.
//!
//! `encode` writes upstream's frame shape by default (`Options::UPSTREAM`)
//! and the other shapes the format allows, which the tests use to exercise
//! the decoder. `decode` accepts any valid frame and checks it in the order
//! of wasm/ABI.md § Decoding order, step 4; every defect is `Compression`
//! except output past the caller's limit, which is `TooLarge`.

use super::block::{self, Compressor, Limits};
use super::Sink;
use crate::error::Error;
use crate::xxh32;

/// Frame magic number, little-endian 0x184D2204 (§ General Structure).
pub const MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
/// The 32-bit value that ends the block list (§ EndMark).
const END_MARK: u32 = 0;
/// High bit of a block size: the block is stored uncompressed (§ Data Blocks).
const STORED: u32 = 0x8000_0000;

// FLG bits (§ Frame Descriptor).
const FLG_VERSION_MASK: u8 = 0xC0;
const FLG_VERSION_01: u8 = 0x40;
const FLG_INDEPENDENT: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
const FLG_RESERVED: u8 = 0x02;
const FLG_DICT_ID: u8 = 0x01;
// BD: bit 7 and bits 0–3 are reserved; bits 4–6 hold the block size id.
const BD_RESERVED: u8 = 0x8F;

/// The block maximum for a BD block-size id: 4 → 64 KB, 5 → 256 KB,
/// 6 → 1 MB, 7 → 4 MB (§ Block Maximum Size).
const fn block_max_for(id: u8) -> usize {
    1 << (8 + 2 * id as usize)
}

/// What a frame encoder writes into the descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Block-size id, 4–7.
    pub block_size_id: u8,
    /// Independent blocks (matches stay inside their block) or linked ones.
    pub independent: bool,
    /// An xxh32 after each block.
    pub block_checksum: bool,
    /// The payload length in the descriptor.
    pub content_size: bool,
    /// An xxh32 of the payload after the EndMark.
    pub content_checksum: bool,
}

impl Options {
    /// Upstream's frame: FLG 0x60, BD 0x40 (protocol.md § Payload).
    pub const UPSTREAM: Options = Options {
        block_size_id: 4,
        independent: true,
        block_checksum: false,
        content_size: false,
        content_checksum: false,
    };

    fn flg(&self) -> u8 {
        let mut f = FLG_VERSION_01;
        if self.independent {
            f |= FLG_INDEPENDENT;
        }
        if self.block_checksum {
            f |= FLG_BLOCK_CHECKSUM;
        }
        if self.content_size {
            f |= FLG_CONTENT_SIZE;
        }
        if self.content_checksum {
            f |= FLG_CONTENT_CHECKSUM;
        }
        f
    }

    /// The largest block, in bytes, these options produce.
    pub fn block_max(&self) -> usize {
        block_max_for(self.block_size_id.clamp(4, 7))
    }
}

/// An upper bound on `encode`'s output for `n` payload bytes: blocks never
/// exceed their input (they are stored when they do not shrink).
pub fn max_encoded_len(n: usize, o: &Options) -> usize {
    let header = 4 + 2 + if o.content_size { 8 } else { 0 } + 1;
    let blocks = (n / o.block_max()).saturating_add(1);
    let per_block = 4 + if o.block_checksum { 4 } else { 0 };
    let trailer = 4 + if o.content_checksum { 4 } else { 0 };
    blocks
        .saturating_mul(per_block)
        .saturating_add(n)
        .saturating_add(header + trailer)
}

/// Appends `payload` as one LZ4 frame to `out`, compressing each block and
/// storing those that do not shrink.
pub fn encode(payload: &[u8], o: &Options, out: &mut Vec<u8>) -> Result<(), Error> {
    out.try_reserve(max_encoded_len(payload.len(), o))?;
    // FLG, BD and the optional content size: what the header checksum covers.
    let mut desc = [0u8; 10];
    desc[0] = o.flg();
    desc[1] = o.block_size_id.clamp(4, 7) << 4;
    let desc = if o.content_size {
        desc[2..].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        &desc[..]
    } else {
        &desc[..2]
    };
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(desc);
    out.push((xxh32::hash(desc, 0) >> 8) as u8);

    let bmax = o.block_max();
    // A payload too short to shrink (`block::MF_LIMIT`) is stored without
    // allocating and clearing a table for it (a third of the time of
    // encoding a short message). Positions in the table are u32; a larger
    // payload (not reachable on wasm32) is stored too. The choice is made
    // once, outside the block loop: made inside it, the compressing path
    // measured 2-3% slower in wazero.
    if payload.len() <= block::MF_LIMIT || payload.len() > u32::MAX as usize {
        put_blocks(payload, o, None, out);
    } else {
        let mut comp = Compressor::new(payload.len().min(bmax))?;
        put_blocks(payload, o, Some(&mut comp), out);
    }
    out.extend_from_slice(&END_MARK.to_le_bytes());
    if o.content_checksum {
        out.extend_from_slice(&xxh32::hash(payload, 0).to_le_bytes());
    }
    Ok(())
}

/// The data blocks of `encode`: each compressed with `comp`, or stored.
#[inline(always)]
fn put_blocks(payload: &[u8], o: &Options, mut comp: Option<&mut Compressor>, out: &mut Vec<u8>) {
    let bmax = o.block_max();
    let mut start = 0;
    while start < payload.len() {
        let end = payload.len().min(start + bmax);
        let size_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let window = if o.independent { start } else { 0 };
        let packed = match comp.as_mut() {
            Some(c) => c.compress(payload, window, start, end, out),
            None => false,
        };
        let word = if packed {
            (out.len() - size_at - 4) as u32
        } else {
            out.extend_from_slice(payload.get(start..end).unwrap_or_default());
            (end - start) as u32 | STORED
        };
        if let Some([a, b, c, d]) = out.get_mut(size_at..size_at + 4) {
            [*a, *b, *c, *d] = word.to_le_bytes();
        }
        if o.block_checksum {
            let sum = xxh32::hash(out.get(size_at + 4..).unwrap_or_default(), 0);
            out.extend_from_slice(&sum.to_le_bytes());
        }
        start = end;
    }
}

/// A parsed frame descriptor.
#[derive(Debug, Clone, Copy)]
struct Header {
    independent: bool,
    block_checksum: bool,
    content_size: Option<u64>,
    content_checksum: bool,
    block_max: usize,
}

/// Takes `n` bytes off the front of `rest`; running out is `Compression`.
#[inline]
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], Error> {
    match (rest.get(..n), rest.get(n..)) {
        (Some(head), Some(tail)) => {
            *rest = tail;
            Ok(head)
        }
        _ => Err(Error::Compression),
    }
}

#[inline]
fn take_u32(rest: &mut &[u8]) -> Result<u32, Error> {
    match *rest {
        [a, b, c, d, tail @ ..] => {
            *rest = tail;
            Ok(u32::from_le_bytes([*a, *b, *c, *d]))
        }
        _ => Err(Error::Compression),
    }
}

#[inline]
fn take_u8(rest: &mut &[u8]) -> Result<u8, Error> {
    match *rest {
        [a, tail @ ..] => {
            *rest = tail;
            Ok(*a)
        }
        _ => Err(Error::Compression),
    }
}

/// Steps 4.1 and 4.2: the magic and the descriptor. Returns the header and
/// the bytes after it.
fn parse_header(frame: &[u8]) -> Result<(Header, &[u8]), Error> {
    let mut rest = frame;
    if take(&mut rest, 4)? != MAGIC {
        return Err(Error::Compression);
    }
    let desc = rest;
    let flg = take_u8(&mut rest)?;
    let bd = take_u8(&mut rest)?;
    let id = (bd >> 4) & 0x07;
    if flg & FLG_VERSION_MASK != FLG_VERSION_01
        || flg & FLG_RESERVED != 0
        || flg & FLG_DICT_ID != 0
        || bd & BD_RESERVED != 0
        || id < 4
    {
        return Err(Error::Compression);
    }
    let content_size = if flg & FLG_CONTENT_SIZE != 0 {
        let lo = take_u32(&mut rest)? as u64;
        let hi = take_u32(&mut rest)? as u64;
        Some(hi << 32 | lo)
    } else {
        None
    };
    let desc_len = if content_size.is_some() { 10 } else { 2 };
    let hc = take_u8(&mut rest)?;
    let desc = desc.get(..desc_len).ok_or(Error::Compression)?;
    if hc != (xxh32::hash(desc, 0) >> 8) as u8 {
        return Err(Error::Compression);
    }
    let header = Header {
        independent: flg & FLG_INDEPENDENT != 0,
        block_checksum: flg & FLG_BLOCK_CHECKSUM != 0,
        content_size,
        content_checksum: flg & FLG_CONTENT_CHECKSUM != 0,
        block_max: block_max_for(id),
    };
    Ok((header, rest))
}

/// A frame whose magic and descriptor (steps 4.1 and 4.2) have been
/// checked: `size_hint` and `decode` work from it, so a caller that needs
/// both parses the header once.
#[derive(Debug, Clone, Copy)]
pub struct Parsed<'a> {
    h: Header,
    /// The bytes after the descriptor: blocks, EndMark, trailer.
    blocks: &'a [u8],
}

/// Steps 4.1 and 4.2 of `decode`: the magic and the descriptor.
pub fn parse(frame: &[u8]) -> Result<Parsed<'_>, Error> {
    let (h, blocks) = parse_header(frame)?;
    Ok(Parsed { h, blocks })
}

/// `Parsed::size_hint` of `frame`, or 0 if its header is bad.
pub fn size_hint(frame: &[u8], max_payload: usize) -> usize {
    parse(frame).map_or(0, |p| p.size_hint(max_payload))
}

/// Decodes the LZ4 frame `frame`: `parse`, then `Parsed::decode`.
pub fn decode(frame: &[u8], out: &mut Vec<u8>, max_payload: usize) -> Result<(), Error> {
    parse(frame)?.decode(out, max_payload)
}

impl Parsed<'_> {
    /// A guess at the decoded size of the frame, at most `max_payload`, so
    /// the caller can allocate once: stored blocks count exactly,
    /// compressed ones as four times their size (or the block maximum). It
    /// walks only the block headers and gives up quietly on anything
    /// malformed; `decode` reports it.
    pub fn size_hint(&self, max_payload: usize) -> usize {
        let h = &self.h;
        let mut rest = self.blocks;
        let mut total = 0usize;
        while total < max_payload {
            let word = match take_u32(&mut rest) {
                Ok(w) => w,
                Err(_) => break,
            };
            let size = (word & !STORED) as usize;
            if word == END_MARK || size > h.block_max {
                break;
            }
            let skip = size + if h.block_checksum { 4 } else { 0 };
            if take(&mut rest, skip).is_err() {
                break;
            }
            total += if word & STORED != 0 {
                size
            } else {
                size.saturating_mul(4).min(h.block_max)
            };
        }
        total.min(max_payload)
    }

    /// Decodes the frame, appending the payload to `out`, and fails with
    /// `TooLarge` as soon as the payload would pass `max_payload` bytes.
    /// `out`'s capacity never grows past its length on entry plus
    /// `max_payload`. Nothing is written past what a valid prefix of the
    /// frame produced; on error the caller discards `out`.
    ///
    /// The checks run in wasm/ABI.md § Decoding order step 4: magic and
    /// descriptor (already, by `parse`); per block its size word, block
    /// maximum, data and checksum presence, checksum value, then its
    /// contents; after the EndMark the content size, then the content
    /// checksum; then leftover bytes.
    ///
    /// A block-size word of exactly 0 is the EndMark; `0x80000000` is a
    /// stored block of length 0, as lz4_Frame_format.md words it.
    pub fn decode(&self, out: &mut Vec<u8>, max_payload: usize) -> Result<(), Error> {
        let (h, mut rest) = (self.h, self.blocks);
        let base = out.len();
        let mut out = Sink::new(out, max_payload);
        let payload_end = out.cap();
        loop {
            let word = take_u32(&mut rest)?;
            if word == END_MARK {
                break;
            }
            let size = (word & !STORED) as usize;
            if size > h.block_max {
                return Err(Error::Compression);
            }
            let data = take(&mut rest, size)?;
            if h.block_checksum {
                let sum = take_u32(&mut rest)?;
                if sum != xxh32::hash(data, 0) {
                    return Err(Error::Compression);
                }
            }
            let start = out.pos();
            if word & STORED != 0 {
                // size <= block_max was checked above.
                if start.saturating_add(size) > payload_end {
                    return Err(Error::TooLarge);
                }
                out.append(data)?;
            } else {
                let lim = Limits {
                    window: if h.independent { start } else { base },
                    block_end: start.saturating_add(h.block_max),
                    payload_end,
                };
                block::decompress(data, &mut out, &lim)?;
            }
        }
        if let Some(n) = h.content_size {
            if n != out.since(base).len() as u64 {
                return Err(Error::Compression);
            }
        }
        if h.content_checksum {
            let sum = take_u32(&mut rest)?;
            if sum != xxh32::hash(out.since(base), 0) {
                return Err(Error::Compression);
            }
        }
        if !rest.is_empty() {
            return Err(Error::Compression);
        }
        out.finish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Vec<u8> {
        let words = [
            "alpha ", "beta ", "gamma ", "delta ", "chat ", "room ", "42 ",
        ];
        let mut x = 99u64;
        let mut s = Vec::new();
        while s.len() < n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.extend_from_slice(words[(x >> 60) as usize % words.len()].as_bytes());
        }
        s.truncate(n);
        s
    }

    fn noise(n: usize) -> Vec<u8> {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as u8
            })
            .collect()
    }

    fn encode_vec(payload: &[u8], o: &Options) -> Vec<u8> {
        let mut out = Vec::new();
        encode(payload, o, &mut out).unwrap();
        assert!(out.len() <= max_encoded_len(payload.len(), o));
        out
    }

    fn decode_vec(frame: &[u8], max: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        decode(frame, &mut out, max).map(|_| out)
    }

    /// Recomputes the header checksum after a test edits the descriptor.
    fn fix_hc(frame: &mut [u8], desc_len: usize) {
        frame[4 + desc_len] = (xxh32::hash(&frame[4..4 + desc_len], 0) >> 8) as u8;
    }

    #[test]
    fn empty_payload_is_upstreams_11_byte_frame() {
        let f = encode_vec(b"", &Options::UPSTREAM);
        assert_eq!(f, [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0, 0, 0, 0]);
        assert_eq!(decode_vec(&f, 0), Ok(vec![]));
    }

    #[test]
    fn every_frame_shape_round_trips() {
        let small = [
            ("empty", vec![]),
            ("one byte", vec![0x25]),
            (
                "mixed",
                [noise(70_000), text(100_000), vec![9; 70_000]].concat(),
            ),
        ];
        // Large payloads span several blocks of every size; they run with
        // fewer flag combinations to keep the test fast.
        let large = [
            ("text 300000", text(300_000)),
            ("noise 200000", noise(200_000)),
            ("zeros 5 MiB", vec![0; 5 << 20]),
        ];
        for id in 4..=7u8 {
            for flags in 0..16u8 {
                let o = Options {
                    block_size_id: id,
                    independent: flags & 1 == 0,
                    block_checksum: flags & 2 != 0,
                    content_size: flags & 4 != 0,
                    content_checksum: flags & 8 != 0,
                };
                let with_large = flags == 0 || flags == 15 || flags == 1;
                let payloads = small.iter().chain(large.iter().filter(|_| with_large));
                for (name, p) in payloads {
                    let f = encode_vec(p, &o);
                    let got = decode_vec(&f, p.len());
                    assert!(got.as_ref() == Ok(p), "{} {:?}: {:?}", name, o, got.err());
                    if !p.is_empty() {
                        assert_eq!(decode_vec(&f, p.len() - 1), Err(Error::TooLarge));
                    }
                }
            }
        }
    }

    #[test]
    fn linked_blocks_compress_better_than_independent_ones() {
        let p = text(64 * 1024 * 4);
        let ind = encode_vec(&p, &Options::UPSTREAM);
        let linked = encode_vec(
            &p,
            &Options {
                independent: false,
                ..Options::UPSTREAM
            },
        );
        assert!(
            linked.len() < ind.len(),
            "{} vs {}",
            linked.len(),
            ind.len()
        );
        // A linked frame relabelled as independent must be rejected: its
        // matches reach into earlier blocks.
        let mut relabelled = linked.clone();
        relabelled[4] |= FLG_INDEPENDENT;
        fix_hc(&mut relabelled, 2);
        assert_eq!(decode_vec(&relabelled, usize::MAX), Err(Error::Compression));
        assert_eq!(decode_vec(&linked, usize::MAX).unwrap(), p);
    }

    #[test]
    fn descriptor_defects() {
        let good = encode_vec(b"hello hello hello hello", &Options::UPSTREAM);
        type Edit = fn(&mut Vec<u8>);
        let cases: [(&str, Edit, bool); 12] = [
            ("untouched", |_| {}, true),
            ("short magic", |f| f.truncate(3), false),
            ("skippable magic", |f| f[0] = 0x50, false),
            ("version 00", |f| f[4] &= 0x3F, false),
            ("version 10", |f| f[4] = (f[4] & 0x3F) | 0x80, false),
            ("reserved flag", |f| f[4] |= FLG_RESERVED, false),
            ("dict id", |f| f[4] |= FLG_DICT_ID, false),
            ("bd reserved high", |f| f[5] |= 0x80, false),
            ("bd reserved low", |f| f[5] |= 0x01, false),
            ("block id 3", |f| f[5] = 0x30, false),
            ("no bd", |f| f.truncate(5), false),
            ("no header checksum", |f| f.truncate(6), false),
        ];
        for (name, edit, ok) in cases {
            let mut f = good.clone();
            edit(&mut f);
            if f.len() > 6 {
                fix_hc(&mut f, 2);
            }
            let got = decode_vec(&f, 1000);
            assert_eq!(got.is_ok(), ok, "{}: {:?}", name, got);
            if !ok {
                assert_eq!(got, Err(Error::Compression), "{}", name);
            }
        }
        let mut bad_hc = good.clone();
        bad_hc[6] ^= 1;
        assert_eq!(decode_vec(&bad_hc, 1000), Err(Error::Compression));
    }

    #[test]
    fn block_and_trailer_defects() {
        let p = text(1000);
        let all = Options {
            block_checksum: true,
            content_size: true,
            content_checksum: true,
            ..Options::UPSTREAM
        };
        let f = encode_vec(&p, &all);
        // Layout: magic 4, FLG BD 2, size 8, HC 1, block word 4, data,
        // block sum 4, EndMark 4, content sum 4.
        let data_len = (u32::from_le_bytes([f[15], f[16], f[17], f[18]]) & !STORED) as usize;
        let sum_at = 19 + data_len;
        let end_at = sum_at + 4;
        let edits: Vec<(&str, Vec<u8>)> = vec![
            ("no block word", f[..17].to_vec()),
            ("block past end", f[..19 + data_len - 1].to_vec()),
            ("no block checksum", f[..sum_at + 2].to_vec()),
            ("bad block checksum", {
                let mut g = f.clone();
                g[sum_at] ^= 1;
                g
            }),
            ("bad block byte", {
                let mut g = f.clone();
                g[20] ^= 1;
                g
            }),
            ("no EndMark", f[..end_at + 2].to_vec()),
            ("no content checksum", f[..end_at + 4].to_vec()),
            ("bad content checksum", {
                let mut g = f.clone();
                let n = g.len();
                g[n - 1] ^= 1;
                g
            }),
            ("content size off by one", {
                let mut g = f.clone();
                g[6] ^= 1;
                fix_hc(&mut g, 10);
                g
            }),
            ("byte after frame", [f.clone(), vec![0]].concat()),
            ("block above block max", {
                let mut g = encode_vec(&[], &Options::UPSTREAM);
                g.truncate(7);
                g.extend_from_slice(&(65_537u32 | STORED).to_le_bytes());
                g.extend_from_slice(&vec![0; 65_537]);
                g.extend_from_slice(&[0; 4]);
                g
            }),
        ];
        assert_eq!(decode_vec(&f, p.len()), Ok(p.clone()));
        for (name, g) in edits {
            assert_eq!(decode_vec(&g, 1 << 20), Err(Error::Compression), "{}", name);
        }
    }

    #[test]
    fn too_large_comes_before_later_frame_defects() {
        // A payload over the limit, with a broken content checksum: the
        // limit is met first while decoding.
        let p = vec![7u8; 5000];
        let mut f = encode_vec(
            &p,
            &Options {
                content_checksum: true,
                ..Options::UPSTREAM
            },
        );
        let n = f.len();
        f[n - 1] ^= 1;
        assert_eq!(decode_vec(&f, 4999), Err(Error::TooLarge));
        assert_eq!(decode_vec(&f, 5000), Err(Error::Compression));
        // Content size disagreeing with a payload over the limit.
        let mut g = encode_vec(
            &p,
            &Options {
                content_size: true,
                ..Options::UPSTREAM
            },
        );
        g[5 + 1] ^= 0x10;
        fix_hc(&mut g, 10);
        assert_eq!(decode_vec(&g, 4999), Err(Error::TooLarge));
        assert_eq!(decode_vec(&g, 5000), Err(Error::Compression));
        // A stored block over the limit.
        let r = noise(3000);
        let s = encode_vec(&r, &Options::UPSTREAM);
        assert_eq!(decode_vec(&s, 2999), Err(Error::TooLarge));
    }

    #[test]
    fn stored_zero_length_block_is_not_an_end_mark() {
        let mut f = encode_vec(b"", &Options::UPSTREAM);
        f.truncate(7);
        f.extend_from_slice(&STORED.to_le_bytes());
        f.extend_from_slice(&(2u32 | STORED).to_le_bytes());
        f.extend_from_slice(b"hi");
        f.extend_from_slice(&[0; 4]);
        assert_eq!(decode_vec(&f, 10), Ok(b"hi".to_vec()));
    }

    #[test]
    fn size_hint_is_capped_and_exact_for_stored_blocks() {
        let r = noise(200_000);
        let f = encode_vec(&r, &Options::UPSTREAM);
        assert_eq!(size_hint(&f, usize::MAX), 200_000);
        assert_eq!(size_hint(&f, 1000), 1000);
        assert_eq!(size_hint(&f[..3], 1000), 0);
        let t = encode_vec(&vec![0; 1 << 20], &Options::UPSTREAM);
        assert!(size_hint(&t, usize::MAX) <= 1 << 20);
    }
}
