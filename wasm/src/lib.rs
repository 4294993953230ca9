//! wasmchannel-codec: the WasmChannel packet codec.
//!
//! Encodes and decodes the packets of protocol.md (shared spec): a bincode 2
//! envelope (`envelope`) around a payload carried as an LZ4 frame (`lz4`),
//! covered by a CRC-32 (`crc32`); LZ4 frames use xxHash32 (`xxh32`).
//! Compiled to `wasm32-unknown-unknown` it exports the plain C ABI of
//! wasm/ABI.md (`ffi`); natively it is an ordinary library for the tests.
//!
//! The crate has no dependencies, and `unsafe` lives only in `ffi`.

#![deny(unsafe_code)]

pub mod crc32;
pub mod envelope;
pub mod error;
pub mod lz4;
pub mod packet;
pub mod xxh32;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod ffi;

pub use error::Error;
pub use packet::{decode_record, encode, Decoded, Packet, RECORD_HEADER};
