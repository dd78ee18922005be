//! Content kept as chunks: an email's MIME, its attachments, a shared
//! file. Each chunk is named by the SHA-256 of its bytes and travels as a
//! change of its own (`Change::Chunk`) ahead of the change that refers to
//! it, so no change is larger than a frame however large the content,
//! and a change that names a chunk is acknowledged only after the chunk
//! (earlier on the same stream) is held on both nodes.

pub use ::bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The most bytes one chunk carries: a change of its own well inside the
/// link's 1 MiB frame.
pub const CHUNK_BYTES_MAX: usize = 256 * 1024;

/// How long a chunk no live interaction refers to is kept after it was
/// stored, by default (the setting `unreferenced_chunk_keep_s`): long
/// enough for an upload cut off by a switchover to be sent again and find
/// what already arrived; then it goes (an interaction forgotten takes its
/// content with it).
pub const UNREFERENCED_CHUNK_KEEP_MS: u64 = 3_600_000;

/// Content as its chunks, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Blob {
    pub size_bytes: u64,
    /// Each chunk's name: the hex SHA-256 of its bytes.
    pub chunks: Vec<String>,
}

/// One stored chunk: its bytes, and when it was stored (unix ms, the
/// storing change's time), from which an unreferenced one is let go. The
/// bytes are shared (`bytes::Bytes`): the change that stored them, the
/// state, a heal's page and a snapshot hold one copy between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub stored_at_ms: u64,
    #[serde(with = "bytes")]
    pub bytes: Bytes,
}

/// Bytes written as bytes, not as a sequence of numbers one at a time:
/// in postcard the same encoding as a `Vec<u8>` (a length, then the
/// bytes), copied whole, and read into shared bytes.
pub mod bytes {
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<super::Bytes, D::Error> {
        read(d).map(super::Bytes::from)
    }

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> de::Visitor<'de> for Bytes {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }

            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }

            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// A chunk's name: the hex SHA-256 of its bytes.
pub fn chunk_name(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// `bytes` cut into chunks of at most [`CHUNK_BYTES_MAX`], each with its
/// name (each shares `bytes`, not a copy), and the blob that lists them.
pub fn split(bytes: &Bytes) -> (Blob, Vec<(String, Bytes)>) {
    let pieces: Vec<(String, Bytes)> = (0..bytes.len())
        .step_by(CHUNK_BYTES_MAX)
        .map(|start| bytes.slice(start..bytes.len().min(start + CHUNK_BYTES_MAX)))
        .map(|piece| (chunk_name(&piece), piece))
        .collect();
    let blob = Blob {
        size_bytes: bytes.len() as u64,
        chunks: pieces.iter().map(|(name, _)| name.clone()).collect(),
    };
    (blob, pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_cut_into_named_chunks_in_order() {
        let bytes: Bytes = (0..CHUNK_BYTES_MAX * 2 + 10).map(|i| i as u8).collect();
        let (blob, pieces) = split(&bytes);
        assert_eq!(blob.size_bytes, bytes.len() as u64);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[2].1.len(), 10);
        let joined: Vec<u8> = pieces.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        assert_eq!(joined, bytes);
        assert_eq!(blob.chunks[0], chunk_name(&bytes[..CHUNK_BYTES_MAX]));
        // The SHA-256 of "abc" (FIPS 180-2's example).
        assert_eq!(
            chunk_name(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(split(&Bytes::new()).1.len(), 0);
    }

    /// Written as bytes, a chunk is encoded as a vector of them was.
    #[test]
    fn a_chunk_is_encoded_as_a_vector_of_bytes_was() {
        #[derive(Serialize)]
        struct Plain {
            stored_at_ms: u64,
            bytes: Vec<u8>,
        }
        let chunk = Chunk {
            stored_at_ms: 7,
            bytes: (0..300u32).map(|i| i as u8).collect(),
        };
        let plain = Plain {
            stored_at_ms: 7,
            bytes: chunk.bytes.to_vec(),
        };
        let encoded = postcard::to_allocvec(&chunk).unwrap();
        assert_eq!(encoded, postcard::to_allocvec(&plain).unwrap());
        assert_eq!(postcard::from_bytes::<Chunk>(&encoded).unwrap(), chunk);
        let json = serde_json::to_string(&chunk).unwrap();
        assert_eq!(serde_json::from_str::<Chunk>(&json).unwrap(), chunk);
    }
}
