//! Test helpers: a small directory, commands by name, and a harness that
//! numbers applied changes like the stream does and runs the router.
#![allow(dead_code)]

use std::collections::BTreeMap;

use duet_interactions::model::{
    AgentConfig, Blob, Call, CallSignal, Callback, CallbackWindow, Content, Email, Party,
    QueueConfig, QueueMember, Strategy,
};
use duet_interactions::state::Applied;
use duet_interactions::{
    Actor, Change, Command, DEFAULT_LIMITS, Directory, Error, Interactions, MediaType,
    NewInteraction, Router,
};
use duet_rsm::{Position, StateMachine};

pub const AGENTS: [&str; 3] = ["ann", "bob", "cat"];

pub fn agent_config(name: &str) -> AgentConfig {
    AgentConfig {
        skills: BTreeMap::from([("english".into(), 5), ("billing".into(), 2)]),
        capacity: BTreeMap::from([
            (MediaType::Call, 1),
            (MediaType::Chat, 3),
            (MediaType::Email, 5),
            (MediaType::Callback, 1),
            (MediaType::Sms, 2),
        ]),
        user_queue: format!("user:{name}"),
    }
}

pub fn queue(strategy: Strategy, members: &[&str]) -> QueueConfig {
    QueueConfig {
        strategy,
        alerting_timeout_ms: 10_000,
        max_no_answer: 2,
        no_answer_reason: "missed offers".into(),
        acw_ms: 0,
        members: members
            .iter()
            .map(|m| (m.to_string(), QueueMember::default()))
            .collect(),
        ..QueueConfig::default()
    }
}

/// Queue "sales" (longest idle) with ann, bob and cat; "support" with
/// wrap-up codes and 30 s of after call work; a non-ACD status "Away".
pub fn directory() -> Directory {
    let mut support = queue(Strategy::LongestIdle, &AGENTS);
    support.acw_ms = 30_000;
    support.wrap_up_codes = ["resolved".to_string(), "escalated".to_string()].into();
    Directory {
        queues: BTreeMap::from([
            ("sales".into(), queue(Strategy::LongestIdle, &AGENTS)),
            ("support".into(), support),
        ]),
        agents: AGENTS
            .iter()
            .map(|a| (a.to_string(), agent_config(a)))
            .collect(),
        non_acd_statuses: ["Away".to_string(), "Lunch".to_string()].into(),
        ..Directory::default()
    }
}

pub fn content(media: MediaType) -> Content {
    match media {
        MediaType::Call => Content::Call(Box::new(Call {
            signal: CallSignal::Ringing,
            party: Party::default(),
        })),
        MediaType::Email => Content::Email(Box::new(Email {
            // Content is stored as chunks before it is referred to: an
            // empty MIME refers to none.
            mime: Blob::default(),
            subject: "hi".into(),
            from: "c@example.com".into(),
            to: vec!["help@example.com".into()],
            text: "hello".into(),
            html: "<p>hello</p>".into(),
            attachments: vec![],
            replies: vec![],
        })),
        MediaType::Callback => Content::Callback(Box::new(Callback {
            number: "+15550100".into(),
            window: CallbackWindow {
                from_ms: 0,
                to_ms: u64::MAX,
            },
            attempts: vec![],
        })),
        _ => Content::Transcript(Default::default()),
    }
}

pub fn create(id: &str, media: MediaType, queue: &str) -> Change {
    Change::Create(Box::new(NewInteraction {
        id: id.into(),
        media,
        queue: queue.into(),
        priority: 0,
        skills: BTreeMap::new(),
        attributes: BTreeMap::new(),
        customer: Party {
            address: "visitor-1".into(),
            name: "Visitor".into(),
        },
        content: content(media),
    }))
}

pub fn login(agent: &str) -> Change {
    Change::AgentLogin {
        agent: agent.into(),
        media: vec![],
    }
}

pub struct Harness {
    pub state: Interactions,
    pub seq: u64,
    pub router: Router,
    /// Every command applied, in order (for replay on a shadow).
    pub applied: Vec<(Position, Command)>,
}

impl Harness {
    pub fn new(directory: Directory) -> Self {
        Harness {
            state: Interactions::new(directory, DEFAULT_LIMITS),
            seq: 0,
            router: Router::default(),
            applied: Vec::new(),
        }
    }

    pub fn run(&mut self, at: u64, actor: Actor, change: Change) -> Result<Applied, Error> {
        let cmd = Command::new(format!("client-{}", self.seq + 1), at, actor, change);
        self.command(cmd)
    }

    pub fn command(&mut self, cmd: Command) -> Result<Applied, Error> {
        let checked = self.state.check(&cmd);
        let before = self.state.digest();
        let at = Position::new(1, self.seq + 1);
        let result = self.state.apply(at, &cmd);
        assert_eq!(checked.is_ok(), result.is_ok(), "check and apply disagree");
        match &result {
            Ok(_) => {
                self.seq += 1;
                self.applied.push((at, cmd));
            }
            Err(_) => assert_eq!(before, self.state.digest(), "a failed change changed state"),
        }
        result
    }

    pub fn sys(&mut self, at: u64, change: Change) -> Applied {
        self.run(at, Actor::System, change).expect("change applies")
    }

    /// Stores `bytes` as chunks (a change each), as a node does before
    /// the change that refers to them; the blob that names them.
    pub fn store(&mut self, at: u64, bytes: &[u8]) -> Blob {
        let bytes = duet_interactions::model::Bytes::copy_from_slice(bytes);
        let (blob, pieces) = duet_interactions::model::blob::split(&bytes);
        for (name, bytes) in pieces {
            self.sys(at, Change::Chunk { name, bytes });
        }
        blob
    }

    /// What the router proposes at `now`, without applying it.
    pub fn decide(&self, now: u64) -> Vec<Change> {
        self.router
            .decide(&self.state, now)
            .into_iter()
            .map(|c| c.change)
            .collect()
    }

    /// Applies the router's decisions until it has none; returns them.
    pub fn route(&mut self, now: u64) -> Vec<Change> {
        let mut all = Vec::new();
        for _ in 0..100 {
            let cmds = self.router.decide(&self.state, now);
            if cmds.is_empty() {
                break;
            }
            for cmd in cmds {
                all.push(cmd.change.clone());
                self.command(cmd).expect("router decisions apply");
            }
        }
        all
    }
}

pub fn offer(id: &str, agent: &str, deadline_ms: u64) -> Change {
    Change::Offer {
        id: id.into(),
        agent: agent.into(),
        deadline_ms,
    }
}
