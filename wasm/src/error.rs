//! The codec's error type: one variant per strict-decoding class of
//! protocol.md, plus the module-fault code of wasm/ABI.md.

use core::fmt;

/// Why a packet could not be encoded or decoded.
///
/// Variants 1–7 are the protocol's strict-decoding classes; `code` gives the
/// number the ABI returns for each (wasm/ABI.md § Error codes). The enum is
/// non-exhaustive so a later ABI version can add classes without breaking
/// matches in callers.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The input ends inside a field, or a declared length runs past it.
    Truncated,
    /// A kind, reaction, option tag, bool or varint marker is out of range.
    InvalidEnum,
    /// A message_id or user_id is not UTF-8.
    InvalidUtf8,
    /// The crc does not match the compressed payload bytes.
    Checksum,
    /// The payload is not a valid LZ4 frame.
    Compression,
    /// The decompressed payload would exceed the caller's limit.
    TooLarge,
    /// Bytes remain after the crc.
    TrailingBytes,
    /// The module could not allocate. Not a packet error: the host treats it
    /// as a fault of the module.
    OutOfMemory,
}

impl Error {
    /// The ABI error code (wasm/ABI.md § Error codes).
    pub const fn code(self) -> u32 {
        match self {
            Error::Truncated => 1,
            Error::InvalidEnum => 2,
            Error::InvalidUtf8 => 3,
            Error::Checksum => 4,
            Error::Compression => 5,
            Error::TooLarge => 6,
            Error::TrailingBytes => 7,
            Error::OutOfMemory => 100,
        }
    }

    /// The class name used by protocol.md and the golden vectors.
    pub const fn class(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::InvalidEnum => "invalid_enum",
            Error::InvalidUtf8 => "invalid_utf8",
            Error::Checksum => "checksum",
            Error::Compression => "compression",
            Error::TooLarge => "too_large",
            Error::TrailingBytes => "trailing_bytes",
            Error::OutOfMemory => "out_of_memory",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            Error::Truncated => "input ends inside a field",
            Error::InvalidEnum => "value out of range for its field",
            Error::InvalidUtf8 => "id is not valid UTF-8",
            Error::Checksum => "crc does not match the payload",
            Error::Compression => "payload is not a valid LZ4 frame",
            Error::TooLarge => "decompressed payload exceeds the limit",
            Error::TrailingBytes => "bytes after the crc",
            Error::OutOfMemory => "out of memory",
        };
        write!(f, "wasmchannel-codec: {} ({})", msg, self.class())
    }
}

impl std::error::Error for Error {}

impl From<std::collections::TryReserveError> for Error {
    fn from(_: std::collections::TryReserveError) -> Self {
        Error::OutOfMemory
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn codes_and_classes_follow_the_abi_table() {
        let table = [
            (Error::Truncated, 1, "truncated"),
            (Error::InvalidEnum, 2, "invalid_enum"),
            (Error::InvalidUtf8, 3, "invalid_utf8"),
            (Error::Checksum, 4, "checksum"),
            (Error::Compression, 5, "compression"),
            (Error::TooLarge, 6, "too_large"),
            (Error::TrailingBytes, 7, "trailing_bytes"),
            (Error::OutOfMemory, 100, "out_of_memory"),
        ];
        for (err, code, class) in table {
            assert_eq!(err.code(), code, "{:?}", err);
            assert_eq!(err.class(), class, "{:?}", err);
            let shown = err.to_string();
            assert!(shown.starts_with("wasmchannel-codec: "), "{}", shown);
            assert!(shown.ends_with(&format!("({})", class)), "{}", shown);
        }
    }
}
