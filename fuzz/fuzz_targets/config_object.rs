//! Configuration objects as administrators write them (the body of
//! `PUT /api/config`: a path, a class, attributes), through the parsers and
//! checks the node runs before a change reaches the stream. Beyond "no
//! panic": a path prints as text that parses back to it, an object the
//! tree accepts is what the tree then holds, survives the link's encoding,
//! and goes again when removed.
#![no_main]

use std::collections::BTreeMap;

use duet_config::{Change, Class, Object, Op, Tree, TreePath};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

/// The request body, as the API reads it.
#[derive(Deserialize)]
struct PutBody {
    path: String,
    class: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

fn change(seq: u64, op: Op) -> Change {
    Change {
        epoch: 2,
        seq,
        at_unix_ms: 1,
        who: "admin".into(),
        client: format!("fuzz-{seq}"),
        op,
        healed_from: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<PutBody>(data) else {
        return;
    };
    let Ok(path) = TreePath::parse(&body.path) else {
        return;
    };
    assert_eq!(TreePath::parse(&path.to_string()).as_ref(), Ok(&path));
    let Ok(class) = Class::parse(&body.class) else {
        return;
    };
    assert_eq!(Class::parse(class.name()), Ok(class));
    let object = Object {
        class,
        attributes: body.attributes,
    };
    let put = Op::Put {
        path: path.clone(),
        object: object.clone(),
    };
    let mut tree = Tree::default();
    if tree.check(&put).is_err() {
        return;
    }
    let encoded = postcard::to_allocvec(&put).expect("an op encodes");
    assert_eq!(postcard::from_bytes::<Op>(&encoded).as_ref(), Ok(&put));
    tree.apply(&change(1, put))
        .expect("a checked change applies");
    assert_eq!(tree.get(&path), Some(&object));
    tree.apply(&change(2, Op::Remove { path: path.clone() }))
        .expect("what was put can be removed");
    assert_eq!(tree.get(&path), None);
    assert!(tree.is_empty());
});
