//! LZ4 frames from other encoders: the reference lz4 CLI's frames in shapes
//! our encoder never writes (linked blocks, block and content checksums,
//! content size, 64 KB–4 MB blocks), the golden decompression bombs, and,
//! when the `lz4` CLI is installed, the reference decoder reading ours.

mod common;

use common::{golden, hex};
use std::path::PathBuf;
use wasmchannel_codec::lz4::frame::{self, Options};
use wasmchannel_codec::{envelope, Error};

/// The payload of testdata/frames/make.sh: `row NNNNN: ...` lines, cut to n.
fn fixture_payload(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(
            format!("row {:05}: wasmchannel codec fixture\n", i % 1000).as_bytes(),
        );
        i += 1;
    }
    out.truncate(n);
    out
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/frames")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {}", path.display(), e))
}

fn decode(frame: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    frame::decode(frame, &mut out, max).map(|_| out)
}

#[test]
fn reference_encoder_frames_decode() {
    // name, payload size, FLG, BD (checked so each file covers its feature)
    let cases = [
        ("b4-independent-contentsum.lz4", 300_000, 0x64, 0x40),
        ("b4-linked-blocksum-size.lz4", 300_000, 0x5c, 0x40),
        ("b5-linked-nocontentsum.lz4", 600_000, 0x40, 0x50),
        ("b6-blocksum.lz4", 2_500_000, 0x74, 0x60),
        ("b7-size-contentsum.lz4", 4_500_000, 0x6c, 0x70),
    ];
    for (name, size, flg, bd) in cases {
        let f = fixture(name);
        assert_eq!((f[4], f[5]), (flg, bd), "{}: descriptor", name);
        let want = fixture_payload(size);
        match decode(&f, size) {
            Ok(got) => assert!(got == want, "{}: payload differs", name),
            Err(e) => panic!("{}: {}", name, e),
        }
        assert_eq!(decode(&f, size - 1), Err(Error::TooLarge), "{}", name);
        // Damage in the last block: caught by a checksum where there is
        // one, and by the block parser or a changed payload otherwise.
        let mut bad = f.clone();
        let at = f.len() - 12;
        bad[at] ^= 0x01;
        match decode(&bad, size) {
            Err(Error::Compression) => {}
            Ok(got) => {
                assert!(flg & 0x14 == 0, "{}: damage undetected", name);
                assert!(got != want, "{}: damage ignored", name);
            }
            Err(e) => panic!("{}: {}", name, e),
        }
    }
}

#[test]
fn bombs_are_too_large_without_allocating_past_the_limit() {
    let mut seen = 0;
    for l in golden("malformed.jsonl") {
        let name = l["name"].str().unwrap();
        if !name.starts_with("bomb") {
            continue;
        }
        seen += 1;
        let pkt = hex(l["packet_hex"].str().unwrap());
        let env = envelope::parse(&pkt).unwrap();
        for max in [0, 1000, 1 << 20] {
            let mut out = Vec::new();
            assert_eq!(
                frame::decode(env.frame, &mut out, max),
                Err(Error::TooLarge),
                "{} max {}",
                name,
                max
            );
            assert!(
                out.capacity() <= max,
                "{}: capacity {} > {}",
                name,
                out.capacity(),
                max
            );
        }
        // With room enough they are ordinary valid frames.
        let mut out = Vec::new();
        frame::decode(env.frame, &mut out, 64 << 20).unwrap();
        assert!(out.len() >= 2 << 20, "{}: {} bytes", name, out.len());
    }
    assert_eq!(seen, 3);
}

/// Our frames, every shape, through the reference decoder (`lz4 -d`).
/// Runs only where the lz4 CLI is installed (apt package `lz4`).
#[test]
fn reference_decoder_reads_our_frames() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("lz4").arg("--version").output().is_err() {
        eprintln!("lz4 CLI not installed: reference decoder check skipped");
        return;
    }
    let mut payloads = vec![
        Vec::new(),
        b"x".to_vec(),
        fixture_payload(13),
        fixture_payload(70_000),
    ];
    let mut x = 7u32;
    payloads.push(
        (0..100_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect(),
    );
    payloads.push(fixture_payload(1_300_000));
    for p in &payloads {
        for flags in 0..16u8 {
            let o = Options {
                block_size_id: 4 + flags % 4,
                independent: flags & 4 == 0,
                block_checksum: flags & 8 != 0,
                content_size: flags & 1 != 0,
                content_checksum: flags & 2 != 0,
            };
            let mut f = Vec::new();
            frame::encode(p, &o, &mut f).unwrap();
            let mut child = Command::new("lz4")
                .args(["-d", "-c", "-q"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || stdin.write_all(&f));
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap().unwrap();
            assert!(out.status.success(), "lz4 -d failed for {:?}", o);
            assert!(out.stdout == *p, "lz4 -d output differs for {:?}", o);
        }
    }
}
