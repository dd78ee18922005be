//! Link frames as the peer sends them: any bytes go through the node's
//! `FrameCodec`. Beyond "no panic": every frame that decodes is canonical
//! (its envelope encodes back to exactly the bytes that carried it, so two
//! nodes never disagree on what a frame said), and decoding stops at the
//! first error, as the node closes the connection there.
#![no_main]

use bytes::BytesMut;
use duet_link::protocol::FrameCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let mut codec = FrameCodec::default();
    let mut input = BytesMut::from(data);
    loop {
        let before = input.len();
        let frame_start = data.len() - before;
        let envelope = match codec.decode(&mut input) {
            Ok(Some(envelope)) => envelope,
            Ok(None) | Err(_) => return,
        };
        let frame = &data[frame_start..frame_start + before - input.len()];
        let mut encoded = BytesMut::new();
        FrameCodec::default()
            .encode(envelope.clone(), &mut encoded)
            .expect("an envelope that came in a frame fits in one");
        assert_eq!(&encoded[..], frame, "a decoded frame is canonical");
    }
});
