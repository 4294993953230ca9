//! The packet envelope: bincode 2 "standard" encoding of the seven packet
//! fields (protocol.md § Packet), parsed strictly in wire order so that the
//! first defect met decides the error class (wasm/ABI.md § Decoding order,
//! steps 1 and 2). The payload frame and crc are only located here; checking
//! them is the caller's job (steps 3 and 4).

use crate::error::Error;

/// Largest PacketKind discriminant (protocol.md § Packet: Typing = 5).
pub const MAX_KIND: u32 = 5;
/// Largest ReactionKind discriminant (protocol.md § Packet: Star = 4).
pub const MAX_REACTION: u32 = 4;

/// Varint markers (protocol.md § Packet, "varint"): a first byte below
/// `U16` is the value itself; the markers announce 2, 4 or 8 LE bytes.
const U16: u8 = 251;
const U32: u8 = 252;
const U64: u8 = 253;

/// The envelope of one packet, borrowing from the packet bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// PacketKind, 0–5.
    pub kind: u32,
    /// message_id, already checked to be UTF-8.
    pub message_id: Option<&'a str>,
    /// user_id, already checked to be UTF-8.
    pub user_id: Option<&'a str>,
    /// ReactionKind, 0–4.
    pub reaction: Option<u32>,
    /// Field 5: the LZ4 frame, not yet checked.
    pub frame: &'a [u8],
    /// The serialized flag as read.
    pub serialized: bool,
    /// The crc as read; a value above u32::MAX can never match.
    pub crc: u64,
}

/// A cursor over the packet bytes; every read that runs out is `Truncated`.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Error> {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                Ok(b)
            }
            None => Err(Error::Truncated),
        }
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| Error::Truncated)?;
        match (self.rest.get(..n), self.rest.get(n..)) {
            (Some(head), Some(rest)) => {
                self.rest = rest;
                Ok(head)
            }
            _ => Err(Error::Truncated),
        }
    }

    /// Reads `N` little-endian bytes as a u64.
    fn le<const N: usize>(&mut self) -> Result<u64, Error> {
        let b = self.take(N as u64)?;
        Ok(b.iter().rev().fold(0u64, |v, &x| (v << 8) | x as u64))
    }

    /// A bincode-2 standard varint. Non-minimal forms are accepted; the u128
    /// marker (254) and 255 are `InvalidEnum` (ABI.md § Decoding order).
    fn varint(&mut self) -> Result<u64, Error> {
        match self.byte()? {
            b if b < U16 => Ok(b as u64),
            U16 => self.le::<2>(),
            U32 => self.le::<4>(),
            U64 => self.le::<8>(),
            _ => Err(Error::InvalidEnum),
        }
    }

    /// An option tag: 0 absent, 1 present.
    fn tag(&mut self) -> Result<bool, Error> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::InvalidEnum),
        }
    }

    fn id(&mut self) -> Result<Option<&'a str>, Error> {
        if !self.tag()? {
            return Ok(None);
        }
        let len = self.varint()?;
        let bytes = self.take(len)?;
        match core::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s)),
            Err(_) => Err(Error::InvalidUtf8),
        }
    }

    /// A varint discriminant no larger than `max`.
    fn discriminant(&mut self, max: u32) -> Result<u32, Error> {
        let v = self.varint()?;
        if v > max as u64 {
            return Err(Error::InvalidEnum);
        }
        Ok(v as u32)
    }
}

/// Parses a whole packet's envelope: every field in wire order, then
/// `TrailingBytes` if anything follows the crc.
pub fn parse(packet: &[u8]) -> Result<Envelope<'_>, Error> {
    let mut r = Reader { rest: packet };
    let kind = r.discriminant(MAX_KIND)?;
    let message_id = r.id()?;
    let user_id = r.id()?;
    let reaction = if r.tag()? {
        Some(r.discriminant(MAX_REACTION)?)
    } else {
        None
    };
    let frame_len = r.varint()?;
    let frame = r.take(frame_len)?;
    let serialized = match r.byte()? {
        0 => false,
        1 => true,
        _ => return Err(Error::InvalidEnum),
    };
    let crc = r.varint()?;
    if !r.rest.is_empty() {
        return Err(Error::TrailingBytes);
    }
    Ok(Envelope {
        kind,
        message_id,
        user_id,
        reaction,
        frame,
        serialized,
        crc,
    })
}

/// The number of bytes `put_varint` writes for `v`.
pub const fn varint_len(v: u64) -> usize {
    if v < U16 as u64 {
        1
    } else if v <= u16::MAX as u64 {
        3
    } else if v <= u32::MAX as u64 {
        5
    } else {
        9
    }
}

/// The minimal bincode-2 standard varint of `v`, as `put_varint` writes
/// it: the bytes, of which the first `varint_len(v)` count, and that count.
pub fn varint_bytes(v: u64) -> ([u8; 9], usize) {
    let mut b = [0u8; 9];
    let le = v.to_le_bytes();
    let n = varint_len(v);
    let (marker, rest) = b.split_at_mut(1);
    match n {
        1 => marker[0] = v as u8,
        3 => {
            marker[0] = U16;
            rest[..2].copy_from_slice(&le[..2]);
        }
        5 => {
            marker[0] = U32;
            rest[..4].copy_from_slice(&le[..4]);
        }
        _ => {
            marker[0] = U64;
            rest.copy_from_slice(&le);
        }
    }
    (b, n)
}

/// Appends the minimal bincode-2 standard varint of `v`, as upstream writes.
/// The caller reserves the space (`varint_len`).
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    let le = v.to_le_bytes();
    match varint_len(v) {
        1 => out.push(v as u8),
        3 => {
            out.push(U16);
            out.extend_from_slice(&le[..2]);
        }
        5 => {
            out.push(U32);
            out.extend_from_slice(&le[..4]);
        }
        _ => {
            out.push(U64);
            out.extend_from_slice(&le);
        }
    }
}

/// The fields before the payload (1–4), as `put_head` writes them.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub kind: u32,
    pub message_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub reaction: Option<u32>,
}

impl Head<'_> {
    /// The encoded size of fields 1–4.
    pub fn encoded_len(&self) -> usize {
        let id = |s: Option<&str>| s.map_or(1, |s| 1 + varint_len(s.len() as u64) + s.len());
        varint_len(self.kind as u64)
            + id(self.message_id)
            + id(self.user_id)
            + self.reaction.map_or(1, |r| 1 + varint_len(r as u64))
    }
}

/// Appends fields 1–4. The caller has validated the enums.
pub fn put_head(out: &mut Vec<u8>, h: &Head<'_>) {
    put_varint(out, h.kind as u64);
    for id in [h.message_id, h.user_id] {
        match id {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                put_varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    match h.reaction {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            put_varint(out, r as u64);
        }
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

    /// protocol.md § Worked example.
    const EXAMPLE: &str = "03000109757365722d7878787801010b04224d186040820000000001fc367abd5f";

    #[test]
    fn parses_the_worked_example() {
        let pkt = hex(EXAMPLE);
        let env = parse(&pkt).unwrap();
        assert_eq!(env.kind, 3);
        assert_eq!(env.message_id, None);
        assert_eq!(env.user_id, Some("user-xxxx"));
        assert_eq!(env.reaction, Some(1));
        assert_eq!(env.frame, &hex("04224d186040820000000000")[..11]);
        assert!(env.serialized);
        assert_eq!(env.crc, 0x5fbd_7a36);
    }

    #[test]
    fn varints_round_trip_at_every_width_boundary() {
        for v in [
            0,
            250,
            251,
            252,
            65_535,
            65_536,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{}", v);
            let (bytes, n) = varint_bytes(v);
            assert_eq!(&bytes[..n], &out[..], "{}", v);
            let mut r = Reader { rest: &out };
            assert_eq!(r.varint(), Ok(v));
            assert!(r.rest.is_empty());
        }
    }

    #[test]
    fn varint_edge_forms() {
        let cases: [(&[u8], Result<u64, Error>); 9] = [
            (&[0xfb, 0x05, 0x00], Ok(5)), // non-minimal, accepted
            (&[0xfc, 1, 0, 0, 0], Ok(1)),
            (&[0xfd, 1, 0, 0, 0, 0, 0, 0, 0], Ok(1)),
            (&[0xfe, 0, 0], Err(Error::InvalidEnum)),
            (&[0xff], Err(Error::InvalidEnum)),
            (&[], Err(Error::Truncated)),
            (&[0xfb, 1], Err(Error::Truncated)),
            (&[0xfc, 1, 2, 3], Err(Error::Truncated)),
            (&[0xfd, 1, 2, 3, 4, 5, 6, 7], Err(Error::Truncated)),
        ];
        for (input, want) in cases {
            assert_eq!(Reader { rest: input }.varint(), want, "{:02x?}", input);
        }
    }

    #[test]
    fn first_defect_in_wire_order_wins() {
        let ok = hex(EXAMPLE);
        let mut cases: Vec<(&str, Vec<u8>, Error)> = vec![
            ("empty", vec![], Error::Truncated),
            ("kind 6", vec![6], Error::InvalidEnum),
            ("kind u128 marker", vec![0xfe], Error::InvalidEnum),
            ("kind only", vec![3], Error::Truncated),
            ("bad tag before truncation", vec![3, 2], Error::InvalidEnum),
            ("id runs past end", vec![3, 1, 9, b'u'], Error::Truncated),
            (
                "bad utf8 then bad tag",
                vec![3, 1, 1, 0xff, 7],
                Error::InvalidUtf8,
            ),
            ("reaction 5", vec![3, 0, 0, 1, 5, 0], Error::InvalidEnum),
            ("reaction tag 2", vec![3, 0, 0, 2], Error::InvalidEnum),
            (
                "payload runs past end",
                vec![3, 0, 0, 0, 5, 1, 2],
                Error::Truncated,
            ),
            (
                "serialized 2",
                vec![3, 0, 0, 0, 0, 2, 0],
                Error::InvalidEnum,
            ),
            ("no crc", vec![3, 0, 0, 0, 0, 1], Error::Truncated),
            (
                "crc marker 255",
                vec![3, 0, 0, 0, 0, 1, 0xff],
                Error::InvalidEnum,
            ),
        ];
        let mut trailing = ok.clone();
        trailing.push(0);
        cases.push(("trailing", trailing, Error::TrailingBytes));
        let mut short = ok.clone();
        short.pop();
        cases.push(("short crc", short, Error::Truncated));
        for (name, input, want) in cases {
            assert_eq!(parse(&input).err(), Some(want), "{}", name);
        }
    }

    #[test]
    fn head_len_matches_put_head() {
        let long = "x".repeat(300);
        let heads = [
            Head {
                kind: 0,
                message_id: None,
                user_id: None,
                reaction: None,
            },
            Head {
                kind: 5,
                message_id: Some(""),
                user_id: Some(&long),
                reaction: Some(4),
            },
        ];
        for h in heads {
            let mut out = Vec::new();
            put_head(&mut out, &h);
            assert_eq!(out.len(), h.encoded_len());
        }
    }
}
