//! Whole packets: the envelope, the crc and the LZ4 frame put together, and
//! the decode record of wasm/ABI.md § Decode result.

use crate::crc32;
use crate::envelope::{self, Head, MAX_KIND, MAX_REACTION};
use crate::error::Error;
use crate::lz4::frame::{self, Options};

/// Size of the fixed part of a decode record (wasm/ABI.md § Decode result).
pub const RECORD_HEADER: usize = 24;

/// The fields of one packet to encode. Ids are bytes because the ABI hands
/// them over as bytes; `encode` checks they are UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// PacketKind, 0–5.
    pub kind: u32,
    pub message_id: Option<&'a [u8]>,
    pub user_id: Option<&'a [u8]>,
    /// ReactionKind, 0–4.
    pub reaction: Option<u32>,
    /// The decompressed payload.
    pub payload: &'a [u8],
}

fn utf8(id: Option<&[u8]>) -> Result<Option<&str>, Error> {
    match id {
        None => Ok(None),
        Some(b) => core::str::from_utf8(b)
            .map(Some)
            .map_err(|_| Error::InvalidUtf8),
    }
}

/// Encodes `p` as upstream did: serialized = 1, the payload as a 64 KB-block
/// LZ4 frame with FLG 0x60 and BD 0x40, then the crc of the frame.
///
/// Fields are checked in wire order: `InvalidEnum` for a kind above 5 or a
/// reaction above 4, `InvalidUtf8` for an id that is not UTF-8.
///
/// The packet is built in one buffer: the frame is compressed straight
/// after the head, behind room for its length, which is written last. Only
/// when the length turns out shorter than the room kept does the frame move.
pub fn encode(p: &Packet<'_>) -> Result<Vec<u8>, Error> {
    if p.kind > MAX_KIND {
        return Err(Error::InvalidEnum);
    }
    let head = Head {
        kind: p.kind,
        message_id: utf8(p.message_id)?,
        user_id: utf8(p.user_id)?,
        reaction: match p.reaction {
            Some(r) if r > MAX_REACTION => return Err(Error::InvalidEnum),
            r => r,
        },
    };
    let bound = frame::max_encoded_len(p.payload.len(), &Options::UPSTREAM);
    let room = envelope::varint_len(bound as u64);
    // head, frame length, frame, serialized, crc (at most 5 bytes for a u32)
    let total = head
        .encoded_len()
        .saturating_add(room)
        .saturating_add(bound)
        .saturating_add(1 + 5);
    let mut out = Vec::new();
    out.try_reserve_exact(total)?;
    envelope::put_head(&mut out, &head);
    let len_at = out.len();
    out.resize(len_at + room, 0);
    frame::encode(p.payload, &Options::UPSTREAM, &mut out)?;
    let frame_at = len_at + room;
    let frame = out.get(frame_at..).unwrap_or_default();
    let (frame_len, crc) = (frame.len(), crc32::checksum(frame));

    let (len_bytes, width) = envelope::varint_bytes(frame_len as u64);
    let frame_to = len_at + width;
    let end = out.len();
    if frame_to < frame_at && frame_at <= end {
        out.copy_within(frame_at..end, frame_to);
        out.truncate(frame_to + frame_len);
    }
    if let Some(dst) = out.get_mut(len_at..len_at + width) {
        for (d, s) in dst.iter_mut().zip(len_bytes) {
            *d = s;
        }
    }
    out.push(1);
    envelope::put_varint(&mut out, crc as u64);
    Ok(out)
}

/// Decodes one packet into the ABI's decode record: a 24-byte little-endian
/// header (kind, reaction or −1, message_id length or −1, user_id length or
/// −1, payload length, serialized), then message_id, user_id and the
/// decompressed payload back to back.
///
/// Checks follow wasm/ABI.md § Decoding order: the envelope field by field,
/// trailing bytes, the crc (nothing is decompressed before it matches),
/// then the LZ4 frame, with `TooLarge` once the payload would pass
/// `max_payload` bytes. The payload is decompressed straight into the
/// record, whose capacity never exceeds the record header, the ids and
/// `max_payload`.
pub fn decode_record(packet: &[u8], max_payload: u32) -> Result<Vec<u8>, Error> {
    let env = envelope::parse(packet)?;
    if env.crc != crc32::checksum(env.frame) as u64 {
        return Err(Error::Checksum);
    }
    let mid = env.message_id.unwrap_or("").as_bytes();
    let uid = env.user_id.unwrap_or("").as_bytes();
    let max = max_payload as usize;
    let fixed = RECORD_HEADER + mid.len() + uid.len();
    // The frame's header is parsed once, for the size hint and the decoder;
    // a bad one is reported after the allocation, as it always was.
    let parsed = frame::parse(env.frame);
    let hint = parsed.as_ref().map_or(0, |f| f.size_hint(max));
    let mut out = Vec::new();
    out.try_reserve_exact(fixed + hint)?;
    out.resize(RECORD_HEADER, 0);
    out.extend_from_slice(mid);
    out.extend_from_slice(uid);
    parsed?.decode(&mut out, max)?;

    let id_len = |s: Option<&str>| s.map_or(-1, |s| s.len() as i32);
    let fields: [u32; 6] = [
        env.kind,
        env.reaction.map_or(-1, |r| r as i32) as u32,
        id_len(env.message_id) as u32,
        id_len(env.user_id) as u32,
        out.len().saturating_sub(fixed) as u32,
        env.serialized as u32,
    ];
    // Six 4-byte stores (a byte-by-byte loop here was a quarter of the
    // time of decoding a short message).
    if let Some(head) = out.get_mut(..RECORD_HEADER) {
        for (dst, v) in head.chunks_exact_mut(4).zip(fields) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// A decode record read back, for callers of `decode_record` on the Rust
/// side (the tests) and as the executable description of its layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub kind: u32,
    pub message_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub reaction: Option<u32>,
    pub payload: &'a [u8],
    pub serialized: bool,
}

impl<'a> Decoded<'a> {
    /// Reads a record made by `decode_record`; None if it is inconsistent.
    pub fn from_record(rec: &'a [u8]) -> Option<Decoded<'a>> {
        let word = |i: usize| -> Option<u32> {
            let b = rec.get(i * 4..i * 4 + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let opt_len = |v: u32| -> Option<Option<usize>> {
            match v as i32 {
                -1 => Some(None),
                n if n >= 0 => Some(Some(n as usize)),
                _ => None,
            }
        };
        let kind = word(0)?;
        let reaction = match word(1)? as i32 {
            -1 => None,
            r if r >= 0 => Some(r as u32),
            _ => return None,
        };
        let mid_len = opt_len(word(2)?)?;
        let uid_len = opt_len(word(3)?)?;
        let payload_len = word(4)? as usize;
        let serialized = match word(5)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let mut rest = rec.get(RECORD_HEADER..)?;
        let mut id = |n: Option<usize>| -> Option<Option<&'a str>> {
            match n {
                None => Some(None),
                Some(n) => {
                    let b = rest.get(..n)?;
                    rest = rest.get(n..)?;
                    core::str::from_utf8(b).ok().map(Some)
                }
            }
        };
        let message_id = id(mid_len)?;
        let user_id = id(uid_len)?;
        if rest.len() != payload_len {
            return None;
        }
        Some(Decoded {
            kind,
            message_id,
            user_id,
            reaction,
            payload: rest,
            serialized,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn worked_example_encodes_byte_for_byte() {
        let p = Packet {
            kind: 3,
            message_id: None,
            user_id: Some(b"user-xxxx"),
            reaction: Some(1),
            payload: b"",
        };
        let want = hex("03000109757365722d7878787801010b04224d186040820000000001fc367abd5f");
        assert_eq!(encode(&p).unwrap(), want);
        let rec = decode_record(&want, 0).unwrap();
        let d = Decoded::from_record(&rec).unwrap();
        assert_eq!(d.kind, 3);
        assert_eq!(d.message_id, None);
        assert_eq!(d.user_id, Some("user-xxxx"));
        assert_eq!(d.reaction, Some(1));
        assert_eq!(d.payload, b"");
        assert!(d.serialized);
        // The raw layout: kind 3, reaction 1, no message_id, 9-byte user_id,
        // empty payload, serialized.
        assert_eq!(&rec[..8], &[3, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&rec[8..12], &[0xff; 4]);
        assert_eq!(&rec[12..24], &[9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&rec[24..], b"user-xxxx");
    }

    #[test]
    fn encode_rejects_bad_fields_in_wire_order() {
        let ok = Packet {
            kind: 0,
            message_id: Some(b"m"),
            user_id: Some(b"u"),
            reaction: None,
            payload: b"x",
        };
        let cases = [
            ("kind 6", Packet { kind: 6, ..ok }, Error::InvalidEnum),
            (
                "kind before utf8",
                Packet {
                    kind: u32::MAX,
                    message_id: Some(b"\xff"),
                    ..ok
                },
                Error::InvalidEnum,
            ),
            (
                "bad message_id",
                Packet {
                    message_id: Some(b"\xc3"),
                    ..ok
                },
                Error::InvalidUtf8,
            ),
            (
                "bad user_id before reaction",
                Packet {
                    user_id: Some(b"a\xffb"),
                    reaction: Some(9),
                    ..ok
                },
                Error::InvalidUtf8,
            ),
            (
                "reaction 5",
                Packet {
                    reaction: Some(5),
                    ..ok
                },
                Error::InvalidEnum,
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(encode(&p), Err(want), "{}", name);
        }
        assert!(encode(&ok).is_ok());
    }

    #[test]
    fn round_trips_across_length_field_widths() {
        // Payload sizes whose frames straddle the 1/3/5-byte varint widths,
        // compressible or not, so the frame-moving path runs.
        let mut x = 1u32;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect()
        };
        for n in [
            0, 1, 200, 230, 236, 237, 238, 239, 240, 241, 250, 251, 300, 65_000, 65_530, 65_536,
            70_000,
        ] {
            for payload in [noise(n), vec![b'z'; n]] {
                let p = Packet {
                    kind: 5,
                    message_id: Some("ünï".as_bytes()),
                    user_id: None,
                    reaction: Some(0),
                    payload: &payload,
                };
                let pkt = encode(&p).unwrap();
                let env = envelope::parse(&pkt).unwrap();
                assert_eq!(env.crc, crc32::checksum(env.frame) as u64);
                let rec = decode_record(&pkt, n as u32).unwrap();
                let d = Decoded::from_record(&rec).unwrap();
                assert_eq!(d.payload, &payload[..], "n {}", n);
                assert_eq!(d.message_id, Some("ünï"));
                assert_eq!(d.reaction, Some(0));
                assert_eq!(rec.len(), RECORD_HEADER + "ünï".len() + n);
                if n > 0 {
                    assert_eq!(decode_record(&pkt, n as u32 - 1), Err(Error::TooLarge));
                }
            }
        }
    }

    #[test]
    fn checksum_is_checked_before_the_frame() {
        let p = Packet {
            kind: 0,
            message_id: None,
            user_id: None,
            reaction: None,
            payload: &[1; 100],
        };
        let mut pkt = encode(&p).unwrap();
        // Break the frame magic: with the old crc it is a checksum error.
        assert_eq!(&pkt[5..9], &frame::MAGIC);
        pkt[5] ^= 0xff;
        assert_eq!(decode_record(&pkt, 1000), Err(Error::Checksum));
    }
}
