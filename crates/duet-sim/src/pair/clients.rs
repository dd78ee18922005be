//! The pair's clients: configuration changes and chats with their
//! customers' messages, each with a client id of its own, retried (with
//! that id) until answered, on the node the client last heard was active.
//! What was acknowledged is what must survive.

use std::collections::BTreeMap;

use duet_config::{Class, Object, TreePath};
use duet_interactions::model::{Content, FileRef, Party, Sender};
use duet_interactions::{Actor, Change, Command, MediaType, NewInteraction};
use duet_replica::{Input, WriteError};

use super::node::{Conn, OpId};

/// The queue every chat waits in.
pub const QUEUE: &str = "Sales";
/// The agent who works in it.
pub const AGENT: &str = "ann";
/// A large customer message's length: four of them are more than a frame
/// (`duet_link::protocol::MAX_FRAME_BYTES`), one fits in a stream entry.
pub const LARGE_MESSAGE_BYTES: usize = 300 * 1024;
/// A shared file's size: three chunks (`duet_interactions::model::blob`),
/// so a heal carries them in pages apart from the file, other changes
/// between.
pub const FILE_BYTES: usize = 600 * 1024;

/// The bytes of a shared file made from `seed`.
pub fn file_bytes(seed: u8) -> Vec<u8> {
    (0..FILE_BYTES)
        .map(|i| {
            (i as u8)
                .wrapping_mul(seed | 1)
                .wrapping_add((i >> 8) as u8)
                .wrapping_add((i >> 16) as u8)
        })
        .collect()
}

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets `/config/Sim/<name>` to `value`.
    Put { name: String, value: u64 },
    /// A customer starts chat `id`.
    Chat { id: String },
    /// The customer of chat `chat` says `message_id` (`large`: in
    /// [`LARGE_MESSAGE_BYTES`]).
    Say {
        chat: String,
        message_id: String,
        large: bool,
    },
    /// The customer of chat `chat` shares file `message_id` of
    /// [`FILE_BYTES`] (from `seed`): its chunks first, then the file once
    /// they are acknowledged (`Pending::chunks_stored`), as the node's
    /// HTTP API does.
    Share {
        chat: String,
        message_id: String,
        seed: u8,
    },
    /// The agent logs in (every media).
    Login,
    /// The agent accepts chat `chat`, offered to her.
    Accept { chat: String },
    /// The agent ends chat `chat`.
    Hangup { chat: String },
}

/// An operation and where it stands.
#[derive(Debug, Clone)]
pub struct Pending {
    pub op: Op,
    pub client: String,
    /// Sent and not answered, since this time.
    pub sent_at_ms: Option<u64>,
    /// Acknowledged: by which node, in which epoch, at which number.
    pub acked: Option<(usize, u64, u64)>,
    /// Refused for good (not a loss: never acknowledged).
    pub refused: Option<String>,
    /// A `Share`: how many of its chunks are acknowledged, in order
    /// (then the file goes), under the client ids of this try (chunks
    /// let go meanwhile are sent again under new ones).
    pub chunks_stored: usize,
    pub chunk_tries: u32,
}

/// A `Share`'s chunk is sent with this bit set in its answer's operation
/// number, and the chunk's place above it, so a late answer to it is
/// never taken for the file's or another chunk's.
pub const CHUNK_REPLY: OpId = 1 << 40;
const CHUNK_PLACE_SHIFT: u32 = 41;

/// Every operation the clients made, by number.
#[derive(Default)]
pub struct Clients {
    pub ops: Vec<Pending>,
    /// The node the clients send to.
    pub target: usize,
    /// Which node acknowledged in each epoch.
    pub ackers: BTreeMap<u64, usize>,
}

impl Clients {
    /// A new operation; returns its number.
    pub fn add(&mut self, op: Op) -> OpId {
        let n = self.ops.len();
        self.ops.push(Pending {
            op,
            client: format!("sim-{n}"),
            sent_at_ms: None,
            acked: None,
            refused: None,
            chunks_stored: 0,
            chunk_tries: 0,
        });
        n
    }

    /// Chats acknowledged as started, for their customers to talk in.
    pub fn chats(&self) -> Vec<String> {
        self.ops
            .iter()
            .filter(|p| p.acked.is_some())
            .filter_map(|p| match &p.op {
                Op::Chat { id } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Operations to send (again) now: not answered, and not sent in the
    /// last `retry_ms`.
    pub fn due(&self, now_ms: u64, retry_ms: u64) -> Vec<OpId> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(_, p)| p.acked.is_none() && p.refused.is_none())
            .filter(|(_, p)| p.sent_at_ms.is_none_or(|t| now_ms >= t + retry_ms))
            .map(|(n, _)| n)
            .collect()
    }

    /// The input that carries operation `n`, sent at `now_ms`.
    pub fn send(&mut self, n: OpId, now_ms: u64, unix_ms: u64) -> Input<Conn, OpId> {
        let pending = &mut self.ops[n];
        pending.sent_at_ms = Some(now_ms);
        let client = pending.client.clone();
        match &pending.op {
            Op::Put { name, value } => Input::ConfigWrite {
                client,
                who: "sim".into(),
                op: Op::put(name, *value),
                reply: n,
            },
            Op::Chat { id } => Input::InteractionWrite {
                command: Box::new(Command::new(
                    client,
                    unix_ms,
                    Actor::Customer,
                    Change::Create(Box::new(NewInteraction {
                        id: id.clone(),
                        media: MediaType::Chat,
                        queue: QUEUE.into(),
                        priority: 0,
                        skills: Default::default(),
                        attributes: Default::default(),
                        customer: Party {
                            name: format!("customer of {id}").into(),
                            address: Default::default(),
                        },
                        content: Content::Transcript(Default::default()),
                    })),
                )),
                reply: n,
            },
            Op::Say {
                chat,
                message_id,
                large,
            } => Input::InteractionWrite {
                command: Box::new(Command::new(
                    client,
                    unix_ms,
                    Actor::Customer,
                    Change::Message {
                        id: chat.clone(),
                        message_id: message_id.clone(),
                        sender: Sender::Customer,
                        body: if *large {
                            format!("{message_id} says ").repeat(LARGE_MESSAGE_BYTES / 16)
                        } else {
                            format!("{message_id} says hello")
                        },
                    },
                )),
                reply: n,
            },
            Op::Share {
                chat,
                message_id,
                seed,
            } => {
                let bytes = file_bytes(*seed);
                let (content, pieces) = duet_interactions::model::blob::split(&bytes.into());
                let (client, change, reply) =
                    if let Some((name, piece)) = pieces.get(pending.chunks_stored) {
                        let place = pending.chunks_stored;
                        let client = format!("{client}/chunk/{place}/{}", pending.chunk_tries);
                        let chunk = Change::Chunk {
                            name: name.clone(),
                            bytes: piece.clone(),
                        };
                        (
                            client,
                            chunk,
                            n | CHUNK_REPLY | (place << CHUNK_PLACE_SHIFT),
                        )
                    } else {
                        let change = Change::FileShared {
                            id: chat.clone(),
                            message_id: message_id.clone(),
                            sender: Sender::Customer,
                            file: FileRef {
                                file_id: format!("{chat}/{message_id}"),
                                name: "scan.pdf".into(),
                                size_bytes: content.size_bytes,
                                content_type: "application/pdf".into(),
                            },
                            content,
                        };
                        (client, change, n)
                    };
                Input::InteractionWrite {
                    command: Box::new(Command::new(client, unix_ms, Actor::Customer, change)),
                    reply,
                }
            }
            Op::Login => agent_does(
                client,
                unix_ms,
                Change::AgentLogin {
                    agent: AGENT.into(),
                    media: Vec::new(),
                },
                n,
            ),
            Op::Accept { chat } => agent_does(
                client,
                unix_ms,
                Change::Accept {
                    id: chat.clone(),
                    agent: AGENT.into(),
                },
                n,
            ),
            Op::Hangup { chat } => {
                agent_does(client, unix_ms, Change::Disconnect { id: chat.clone() }, n)
            }
        }
    }

    /// Node `node`, active in `epoch`, answered operation `n`. Returns
    /// what breaks the rules, if anything.
    pub fn answered(
        &mut self,
        n: OpId,
        node: usize,
        epoch: Option<u64>,
        result: Result<u64, WriteError>,
    ) -> Result<(), String> {
        let chunk = (n & CHUNK_REPLY != 0).then_some(n >> CHUNK_PLACE_SHIFT);
        let n = n & (CHUNK_REPLY - 1);
        let pending = &mut self.ops[n];
        pending.sent_at_ms = None;
        match result {
            Ok(seq) => {
                let Some(epoch) = epoch else {
                    return Err(format!(
                        "node {node} acknowledged operation {n} while not active"
                    ));
                };
                match self.ackers.insert(epoch, node) {
                    Some(other) if other != node => {
                        return Err(format!(
                            "two nodes acknowledged in epoch {epoch}: {other} and {node}"
                        ));
                    }
                    _ => {}
                }
                if let Some(place) = chunk {
                    // A `Share`'s chunk: the next goes, then the file.
                    if place == pending.chunks_stored {
                        pending.chunks_stored += 1;
                    }
                } else if pending.acked.is_none() {
                    pending.acked = Some((node, epoch, seq));
                }
            }
            Err(WriteError::Unavailable { .. }) => {
                // Retried, on the other node the next time.
                self.target = 1 - node;
            }
            // The chunk is not held there (it was acknowledged alone by a
            // node whose changes a heal did not carry): store it again,
            // as the node's HTTP API does.
            Err(WriteError::Interaction(duet_interactions::Error::ContentMissing { .. }))
                if chunk.is_none() =>
            {
                pending.chunks_stored = 0;
                pending.chunk_tries += 1;
            }
            Err(refused) => pending.refused = Some(refused.to_string()),
        }
        Ok(())
    }
}

/// The agent's change.
fn agent_does(client: String, unix_ms: u64, change: Change, n: OpId) -> Input<Conn, OpId> {
    Input::InteractionWrite {
        command: Box::new(Command::new(
            client,
            unix_ms,
            Actor::Agent(AGENT.into()),
            change,
        )),
        reply: n,
    }
}

impl Op {
    /// The configuration change of a `Put`.
    fn put(name: &str, value: u64) -> duet_config::Op {
        duet_config::Op::Put {
            path: sim_path(name),
            object: Object::new(Class::Folder).with("v", &value.to_string()),
        }
    }
}

/// Where a `Put` writes.
pub fn sim_path(name: &str) -> TreePath {
    TreePath::parse(&format!("/config/Sim/{name}")).expect("a valid path")
}
