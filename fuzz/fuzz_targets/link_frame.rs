//! Link frames as the peer sends them: any bytes go through the node's
//! `FrameCodec`, frame after frame, up to the first error (where the node
//! closes the connection). Beyond "no panic": every envelope that decodes
//! encodes again into a frame that decodes to the same envelope and is no
//! longer than the one that carried it. (Not always the same bytes:
//! postcard accepts a varint with redundant continuation bytes, which
//! carries the same value; bytes after the message are refused.)
#![no_main]

use bytes::BytesMut;
use duet_link::protocol::{FrameCodec, ToActive};

/// What the active node reads from a backup, written back the same way.
type Codec = FrameCodec<ToActive, ToActive>;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let mut codec = Codec::default();
    let mut input = BytesMut::from(data);
    loop {
        let before = input.len();
        let envelope = match codec.decode(&mut input) {
            Ok(Some(envelope)) => envelope,
            Ok(None) | Err(_) => return,
        };
        let frame_bytes = before - input.len();
        let mut encoded = BytesMut::new();
        Codec::default()
            .encode(envelope.clone(), &mut encoded)
            .expect("an envelope that came in a frame fits in one");
        assert!(encoded.len() <= frame_bytes, "re-encoded longer");
        let again = Codec::default()
            .decode(&mut encoded)
            .expect("a frame the node wrote decodes");
        assert_eq!(again, Some(envelope), "the same envelope once more");
        assert!(encoded.is_empty(), "one frame, read whole");
    }
});
