//! xxHash32 (Yann Collet's XXH32), which the LZ4 frame format uses for its
//! header checksum, block checksums and content checksum
//! (lz4_Frame_format.md § Frame Descriptor, § Data Blocks, § Content Checksum).

const P1: u32 = 2_654_435_761;
const P2: u32 = 2_246_822_519;
const P3: u32 = 3_266_489_917;
const P4: u32 = 668_265_263;
const P5: u32 = 374_761_393;

/// One accumulator step over a 4-byte lane.
#[inline(always)]
fn round(acc: u32, lane: u32) -> u32 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(13)
        .wrapping_mul(P1)
}

#[inline(always)]
fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Returns XXH32 of `data` with `seed`.
pub fn hash(data: &[u8], seed: u32) -> u32 {
    let mut stripes = data.chunks_exact(16);
    let mut h = if data.len() >= 16 {
        let mut v1 = seed.wrapping_add(P1).wrapping_add(P2);
        let mut v2 = seed.wrapping_add(P2);
        let mut v3 = seed;
        let mut v4 = seed.wrapping_sub(P1);
        for s in &mut stripes {
            v1 = round(v1, le32(&s[0..4]));
            v2 = round(v2, le32(&s[4..8]));
            v3 = round(v3, le32(&s[8..12]));
            v4 = round(v4, le32(&s[12..16]));
        }
        v1.rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    // The spec adds the length modulo 2^32.
    h = h.wrapping_add(data.len() as u32);
    let tail = stripes.remainder();
    let mut words = tail.chunks_exact(4);
    for w in &mut words {
        h = h
            .wrapping_add(le32(w).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
    }
    for &b in words.remainder() {
        h = h
            .wrapping_add((b as u32).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, written index by index with no chunk iterators.
    fn slow(data: &[u8], seed: u32) -> u32 {
        let n = data.len();
        let lane = |i: usize| {
            (data[i] as u32)
                | (data[i + 1] as u32) << 8
                | (data[i + 2] as u32) << 16
                | (data[i + 3] as u32) << 24
        };
        let mut i = 0;
        let mut h;
        if n >= 16 {
            let mut v = [
                seed.wrapping_add(P1).wrapping_add(P2),
                seed.wrapping_add(P2),
                seed,
                seed.wrapping_sub(P1),
            ];
            while i + 16 <= n {
                for (j, acc) in v.iter_mut().enumerate() {
                    let x = acc.wrapping_add(lane(i + 4 * j).wrapping_mul(P2));
                    *acc = x.rotate_left(13).wrapping_mul(P1);
                }
                i += 16;
            }
            h = v[0].rotate_left(1);
            h = h.wrapping_add(v[1].rotate_left(7));
            h = h.wrapping_add(v[2].rotate_left(12));
            h = h.wrapping_add(v[3].rotate_left(18));
        } else {
            h = seed.wrapping_add(P5);
        }
        h = h.wrapping_add(n as u32);
        while i + 4 <= n {
            h = h.wrapping_add(lane(i).wrapping_mul(P3));
            h = h.rotate_left(17).wrapping_mul(P4);
            i += 4;
        }
        while i < n {
            h = h.wrapping_add((data[i] as u32).wrapping_mul(P5));
            h = h.rotate_left(11).wrapping_mul(P1);
            i += 1;
        }
        h ^= h >> 15;
        h = h.wrapping_mul(P2);
        h ^= h >> 13;
        h = h.wrapping_mul(P3);
        h ^= h >> 16;
        h
    }

    #[test]
    fn known_vectors() {
        let counting: Vec<u8> = (0..=255u8).collect();
        let cases: [(&[u8], u32, u32); 10] = [
            (b"", 0, 0x02CC_5D05),
            (b"", 1, 0x0B2C_B792),
            (b"a", 0, 0x550D_7456),
            (b"abc", 0, 0x32D1_53FF),
            (b"Nobody inspects the spammish repetition", 0, 0xE229_3B2F),
            (b"0123456789abcdef", 0, 0xC2C4_5B69),
            (b"0123456789abcdef0123", P1, 0x5AF2_E746),
            (&counting, 0, 0x5944_1253),
            // The descriptor upstream writes (FLG 0x60, BD 0x40): its header
            // checksum byte 0x82 is bits 8..16 of this.
            (&[0x60, 0x40], 0, 0x301A_8268),
            (&[0x60, 0x40][..0], 0, 0x02CC_5D05),
        ];
        for (input, seed, want) in cases {
            assert_eq!(hash(input, seed), want, "len {} seed {}", input.len(), seed);
        }
    }

    #[test]
    fn fast_equals_slow() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in (0..80).chain([127, 128, 129, 1000, 1997]) {
            for seed in [0, 1, P1, u32::MAX] {
                let s = &data[3..3 + len];
                assert_eq!(hash(s, seed), slow(s, seed), "len {} seed {}", len, seed);
            }
        }
    }
}
