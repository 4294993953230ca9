//! CRC-32/ISO-HDLC (the IEEE polynomial, reflected, init and final xor
//! 0xFFFFFFFF): the packet crc of protocol.md § Packet, field 7. It is zlib's
//! `crc32`, Go's `crc32.ChecksumIEEE` and crc32fast.
//!
//! Table-driven, eight bytes per step ("slicing-by-8", two steps per loop
//! turn), with the tables built at compile time. The bit-at-a-time
//! definition lives in the tests as the reference the tables are checked
//! against.

/// The reflected IEEE polynomial.
const POLY: u32 = 0xEDB8_8320;

/// `TABLES[0]` is the classic byte table; `TABLES[k][b]` is the crc of byte
/// `b` followed by `k` zero bytes, which lets eight bytes fold in one step.
static TABLES: [[u32; 256]; 8] = build_tables();

const fn build_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// Returns the CRC-32 of `data`.
pub fn checksum(data: &[u8]) -> u32 {
    update(0, data)
}

/// Folds the first 8 bytes of `c` into `crc` (the inverted register).
#[inline(always)]
fn step8(crc: u32, c: &[u8]) -> u32 {
    let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
    let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
    TABLES[7][(lo & 0xFF) as usize]
        ^ TABLES[6][((lo >> 8) & 0xFF) as usize]
        ^ TABLES[5][((lo >> 16) & 0xFF) as usize]
        ^ TABLES[4][(lo >> 24) as usize]
        ^ TABLES[3][(hi & 0xFF) as usize]
        ^ TABLES[2][((hi >> 8) & 0xFF) as usize]
        ^ TABLES[1][((hi >> 16) & 0xFF) as usize]
        ^ TABLES[0][(hi >> 24) as usize]
}

/// Continues a CRC-32 `crc` (a previous result, or 0 to start) over `data`.
pub fn update(crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    // Two 8-byte steps per loop iteration: in the host's instrumented
    // module every turn of a loop costs a countdown check, and 16 bytes per
    // turn made stored payloads 5% faster (slicing-by-16 was not).
    let mut pairs = data.chunks_exact(16);
    for c in &mut pairs {
        let (a, b) = c.split_at(8);
        crc = step8(step8(crc, a), b);
    }
    let mut chunks = pairs.remainder().chunks_exact(8);
    for c in &mut chunks {
        crc = step8(crc, c);
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ b as u32) & 0xFF) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::{checksum, update, POLY};

    /// The definition: one bit at a time, no tables.
    fn slow(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (POLY & mask);
            }
        }
        !crc
    }

    /// Deterministic test bytes (xorshift), so failures reproduce.
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn published_vectors() {
        let cases: [(&[u8], u32); 5] = [
            (b"", 0),
            (b"123456789", 0xCBF4_3926),
            (b"a", 0xE8B7_BE43),
            (b"The quick brown fox jumps over the lazy dog", 0x414F_A339),
            // The golden worked example's payload: the empty LZ4 frame
            // (protocol.md § Worked example, crc 0x5fbd7a36).
            (
                &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0, 0, 0, 0],
                0x5FBD_7A36,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(checksum(input), want, "{:?}", input);
        }
    }

    #[test]
    fn tables_equal_the_bitwise_definition() {
        let data = noise(4099, 7);
        for len in (0..64).chain([255, 256, 1000, 4096, 4099]) {
            for start in 0..8.min(data.len() - len + 1) {
                let s = &data[start..start + len];
                assert_eq!(checksum(s), slow(s), "len {} start {}", len, start);
            }
        }
    }

    #[test]
    fn update_is_incremental() {
        let data = noise(3000, 11);
        let whole = checksum(&data);
        for split in [0, 1, 7, 8, 9, 1500, 2999, 3000] {
            let (a, b) = data.split_at(split);
            assert_eq!(update(checksum(a), b), whole, "split {}", split);
        }
    }
}
