//! Hostile input: deterministic mutation runs over the golden packets.
//! Frames are mutated *behind* a recomputed crc, so the bytes reach the LZ4
//! decoder instead of stopping at the checksum. The tests assert that
//! nothing panics (tests build with overflow checks on), that every accepted
//! packet yields a consistent record within the limit, and that a frame the
//! decoder accepts decodes identically under any larger limit.

mod common;

use common::{golden, hex};
use wasmchannel_codec::lz4::block::{self, Limits};
use wasmchannel_codec::lz4::{frame, Sink};
use wasmchannel_codec::{crc32, decode_record, envelope, Decoded};

/// xorshift64: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit: flip a bit, set a byte, cut, duplicate or drop a run.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) {
    let n = b.len();
    match rng.below(6) {
        0 if n > 0 => {
            let i = rng.below(n);
            b[i] ^= 1 << rng.below(8);
        }
        1 if n > 0 => {
            let i = rng.below(n);
            b[i] = [0, 0xff, 0x0f, 0xf0, 0x80, rng.next() as u8][rng.below(6)];
        }
        2 => b.truncate(rng.below(n + 1)),
        3 if n > 0 => {
            let i = rng.below(n);
            let len = rng.below(n - i).min(64);
            let run: Vec<u8> = b[i..i + len].to_vec();
            let at = rng.below(n + 1);
            b.splice(at..at, run);
        }
        4 if n > 0 => {
            let i = rng.below(n);
            let len = rng.below(n - i).min(16);
            b.drain(i..i + len);
        }
        _ => b.insert(rng.below(n + 1), rng.next() as u8),
    }
}

/// Rebuilds a packet around `frame` with a matching crc.
fn repack(head: &[u8], frame: &[u8]) -> Vec<u8> {
    let mut p = head.to_vec();
    envelope::put_varint(&mut p, frame.len() as u64);
    p.extend_from_slice(frame);
    p.push(1);
    envelope::put_varint(&mut p, crc32::checksum(frame) as u64);
    p
}

fn check(pkt: &[u8], max: u32) {
    if let Ok(rec) = decode_record(pkt, max) {
        let d = Decoded::from_record(&rec).expect("accepted packet gives a consistent record");
        assert!(d.payload.len() <= max as usize);
    }
}

#[test]
fn mutated_packets_and_frames_never_panic() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut accepted = 0;
    let lines = golden("packets.jsonl");
    for (n, l) in lines.iter().enumerate() {
        let pkt = hex(l["packet_hex"].str().unwrap());
        if pkt.len() > 40_000 && n % 4 != 0 {
            continue; // a few large ones are enough; keeps the test fast
        }
        let env = envelope::parse(&pkt).unwrap();
        let head_end = pkt.len()
            - env.frame.len()
            - 1
            - envelope::varint_len(env.crc)
            - envelope::varint_len(env.frame.len() as u64);
        let head = &pkt[..head_end];
        let rounds = if pkt.len() > 40_000 { 4 } else { 200 };
        for _ in 0..rounds {
            // Whole-packet mutations exercise the envelope order.
            let mut p = pkt.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut p);
            }
            check(&p, 1 << 20);
            // Frame mutations with a fixed-up crc reach the LZ4 decoder.
            let mut f = env.frame.to_vec();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut f);
            }
            let p = repack(head, &f);
            let max = [0, 100, 1000, 1 << 20][rng.below(4)];
            check(&p, max);
            // A frame accepted under a limit decodes the same under a
            // larger one (the limit only ever rejects).
            let (mut small, mut big) = (Vec::new(), Vec::new());
            if frame::decode(&f, &mut small, max as usize).is_ok() {
                accepted += 1;
                frame::decode(&f, &mut big, usize::MAX).expect("larger limit");
                assert_eq!(small, big);
            }
        }
    }
    // Some mutations leave a valid frame (e.g. a flipped literal byte).
    assert!(accepted > 100, "only {} mutated frames accepted", accepted);
}

#[test]
fn random_blocks_never_panic() {
    let mut rng = Rng(0xB10C_0000_0000_0007);
    for _ in 0..20_000 {
        let len = rng.below(64);
        let src: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut out = vec![7u8; rng.below(40)];
        let start = out.len();
        let lim = Limits {
            window: if rng.below(2) == 0 { 0 } else { start },
            block_end: start + rng.below(5000),
            payload_end: start + rng.below(5000),
        };
        let max = lim.payload_end - start;
        let mut sink = Sink::new(&mut out, max);
        let _ = block::decompress(&src, &mut sink, &lim);
        assert!(out.capacity() <= start + max.max(40));
    }
}
