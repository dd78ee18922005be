//! The ACD router at scale, in process (no stream, no network): a
//! directory of `--queues` queues and `--agents` agents (each a member of
//! four queues, with a skill per queue), every agent logged in to chat
//! with capacity 3, and `--waiting` chats created and waiting. Then
//! `Router::decide` and applying each command it returns, again and again,
//! until it offers nothing more (every agent full): offers per second.
//! Then one `decide` with every agent full and `--waiting` chats still
//! waiting; a takeover of them all (offers go back to their place and
//! are made again) and the first decision after it; and the memory one
//! live interaction takes (its snapshot size,
//! and the process's resident memory before and after creating them).
//!
//! cargo bench -p duet-interactions --bench routing -- [--agents N] [--waiting N] [--queues Q] [--strategy S]
//!
//! S: longest_idle (default), round_robin, least_occupied, best_skilled,
//! or mixed (the queues take the four in turn).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use duet_interactions::model::{
    AgentConfig, Content, InteractionState, Party, QueueConfig, QueueMember, Strategy,
};
use duet_interactions::{
    Actor, Change, Command, DEFAULT_LIMITS, Directory, Interactions, MediaType, NewInteraction,
    Router, encode,
};
use duet_rsm::StateMachine;

const CAPACITY: u32 = 3;
/// Queues each agent is a member of.
const QUEUES_PER_AGENT: usize = 4;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn number(name: &str, default: usize) -> usize {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn strategy(name: &str, q: usize) -> Strategy {
    const ALL: [Strategy; 4] = [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::LeastOccupied,
        Strategy::BestSkilled,
    ];
    match name {
        "round_robin" => Strategy::RoundRobin,
        "least_occupied" => Strategy::LeastOccupied,
        "best_skilled" => Strategy::BestSkilled,
        "mixed" => ALL[q % ALL.len()],
        _ => Strategy::LongestIdle,
    }
}

/// The system allocator, counting the bytes in use, so the live state's
/// own size is told apart from what the allocator holds besides
/// (resident memory).
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn heap_bytes() -> u64 {
    ALLOCATOR.allocated() as u64
}

/// The process's resident memory, bytes (Linux).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn queue_name(q: usize) -> String {
    format!("q{q:02}")
}

fn agent_name(a: usize) -> String {
    format!("agent{a:05}")
}

/// Agent `a` is a member of queues a, a+s, a+2s, a+3s (mod Q), with skill
/// `topic-<queue>` at a level from 1 to 5.
fn directory(agents: usize, queues: usize, strategy_name: &str) -> Directory {
    let stride = (queues / QUEUES_PER_AGENT).max(1);
    let mut dir = Directory::default();
    for q in 0..queues {
        dir.queues.insert(
            queue_name(q),
            QueueConfig {
                strategy: strategy(strategy_name, q),
                ..QueueConfig::default()
            },
        );
    }
    for a in 0..agents {
        let name = agent_name(a);
        let mut skills = BTreeMap::new();
        for k in 0..QUEUES_PER_AGENT {
            let q = (a + k * stride) % queues;
            skills.insert(format!("topic-{q}"), (a % 5 + 1) as u32);
            dir.queues
                .get_mut(&queue_name(q))
                .expect("a queue")
                .members
                .insert(name.clone(), QueueMember::default());
        }
        skills.insert("english".into(), 5);
        dir.agents.insert(
            name.clone(),
            AgentConfig {
                skills,
                capacity: BTreeMap::from([(MediaType::Chat, CAPACITY), (MediaType::Email, 5)]),
                user_queue: format!("user:{name}"),
            },
        );
    }
    dir
}

struct Bench {
    state: Interactions,
    seq: u64,
    queues: usize,
    created: usize,
}

impl Bench {
    fn apply(&mut self, cmd: &Command) {
        self.seq += 1;
        self.state
            .apply(duet_rsm::Position::new(1, self.seq), cmd)
            .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.change));
    }

    /// A chat waiting in queue `n % Q`, wanting that queue's topic at
    /// level 1 or 2 and English.
    fn create_chat(&mut self, at_ms: u64) {
        let n = self.created;
        self.created += 1;
        let q = n % self.queues;
        let change = Change::Create(Box::new(NewInteraction {
            id: format!("chat-{n:07}"),
            media: MediaType::Chat,
            queue: queue_name(q),
            priority: (n % 3) as i32 - 1,
            skills: BTreeMap::from([
                (format!("topic-{q}"), (n % 2 + 1) as u32),
                ("english".into(), 1),
            ]),
            attributes: BTreeMap::from([("origin".to_string(), "web".to_string())]),
            customer: Party {
                address: format!("visitor-{n}").into(),
                name: format!("Visitor {n}").into(),
            },
            content: Content::Transcript(Default::default()),
        }));
        let cmd = Command::new(format!("chat-start-{n}"), at_ms, Actor::Customer, change);
        self.apply(&cmd);
    }
}

fn main() {
    let agents = number("--agents", 10_000);
    let waiting = number("--waiting", 100_000);
    let queues = number("--queues", 20).max(1);
    let strategy_name = arg("--strategy").unwrap_or_else(|| "longest_idle".into());
    let offers_max = agents * CAPACITY as usize;
    let mut directory = directory(agents, queues, &strategy_name);
    // Customers and intake may fill only a share of the limit (the rest
    // is kept for agents' own work): room for every chat twice over.
    directory.settings.live_interactions_max = 2 * (waiting + offers_max);
    println!(
        "{agents} agents (chat capacity {CAPACITY}, each in {QUEUES_PER_AGENT} of {queues} queues), {waiting} chats waiting, strategy {strategy_name}\n"
    );

    let rss_start = rss_bytes();
    let mut b = Bench {
        state: Interactions::new(directory, DEFAULT_LIMITS),
        seq: 0,
        queues,
        created: 0,
    };
    let t0 = 1_800_000_000_000u64;
    for a in 0..agents {
        let cmd = Command::new(
            format!("login-{a}"),
            t0 + a as u64,
            Actor::Agent(agent_name(a)),
            Change::AgentLogin {
                agent: agent_name(a),
                media: vec![MediaType::Chat],
            },
        );
        b.apply(&cmd);
    }
    let rss_before = rss_bytes();
    let heap_before = heap_bytes();
    let started = Instant::now();
    let t1 = t0 + agents as u64 + 1;
    for i in 0..waiting {
        b.create_chat(t1 + i as u64);
        // The node takes what changed for its store at every tick.
        if i % 256 == 255 {
            drop(b.state.take_rows());
        }
    }
    drop(b.state.take_rows());
    let create_time = started.elapsed();
    let rss_after = rss_bytes();
    let heap_after = heap_bytes();

    // Snapshot sizes while they all wait.
    let pages = b.state.snapshot_pages(512 * 1024);
    let mut interaction_bytes = 0usize;
    let mut total_bytes = 0usize;
    for item in pages.iter().flat_map(|p| &p.items) {
        let size = encode::size_of(item);
        total_bytes += size;
        if matches!(item, duet_interactions::PageItem::Interaction(_)) {
            interaction_bytes += size;
        }
    }
    drop(pages);

    // Route until nothing more can be offered.
    let router = Router::default();
    let now = t1 + waiting as u64 + 1;
    let (mut decide_time, mut apply_time) = (Duration::ZERO, Duration::ZERO);
    let (mut decides, mut offers, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let routing_started = Instant::now();
    loop {
        let t = Instant::now();
        let commands = router.decide(&b.state, now);
        let took = t.elapsed();
        decide_time += took;
        slowest = slowest.max(took);
        decides += 1;
        let new_offers = commands
            .iter()
            .filter(|c| matches!(c.change, Change::Offer { .. }))
            .count();
        let t = Instant::now();
        for cmd in &commands {
            b.apply(cmd);
        }
        apply_time += t.elapsed();
        offers += new_offers;
        eprintln!(
            "decide {decides}: {new_offers} offers in {:.0} ms ({offers} so far, {:.1} s)",
            took.as_secs_f64() * 1000.0,
            routing_started.elapsed().as_secs_f64()
        );
        if new_offers == 0 {
            break;
        }
    }
    let routing_time = routing_started.elapsed();
    let full = b
        .state
        .agents()
        .filter(|a| a.load(MediaType::Chat) >= CAPACITY as usize)
        .count();
    let still_waiting: usize = (0..queues)
        .map(|q| b.state.waiting(&queue_name(q)).count())
        .sum();
    assert_eq!(
        b.state
            .interactions()
            .filter(|ix| matches!(ix.state, InteractionState::Offered { .. }))
            .count(),
        offers
    );

    // Top up to `waiting` chats waiting, all agents full, and decide again.
    // (All at one instant: the offers made must not time out meanwhile.)
    for _ in 0..waiting - still_waiting {
        b.create_chat(now);
    }
    let mut idle_decides = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let commands = black_box(router.decide(&b.state, now));
        idle_decides.push(t.elapsed());
        assert!(
            commands.is_empty(),
            "nothing to decide: {:?}",
            commands.first()
        );
    }
    idle_decides.sort();

    // A takeover of everything live (every agent full, `waiting` waiting),
    // then the first decision of the new active node.
    let live = b.state.interactions().count();
    let takeover = Command::new(
        "takeover",
        now + 1,
        Actor::System,
        Change::Takeover {
            recovery: Default::default(),
        },
    );
    let t = Instant::now();
    b.apply(&takeover);
    let takeover_apply = t.elapsed();
    let t = Instant::now();
    let first = router.decide(&b.state, now + 1);
    let takeover_decide = t.elapsed();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| case | figure |");
    println!("|---|---|");
    println!(
        "| create {waiting} chats (apply) | {:.0} ms, {:.0} creates/s |",
        ms(create_time),
        waiting as f64 / create_time.as_secs_f64()
    );
    println!(
        "| offers until every agent is full | {offers} offers ({full} of {agents} agents full, {still_waiting} chats still waiting) in {decides} decide calls |"
    );
    println!(
        "| routing time (decide + apply) | {:.0} ms: decide {:.0} ms, apply {:.0} ms |",
        ms(routing_time),
        ms(decide_time),
        ms(apply_time)
    );
    println!(
        "| decisions (offers) per second | {:.0} (decide alone: {:.0}) |",
        offers as f64 / (decide_time + apply_time).as_secs_f64(),
        offers as f64 / decide_time.as_secs_f64()
    );
    println!(
        "| slowest decide call while offering | {:.1} ms |",
        ms(slowest)
    );
    println!(
        "| one decide, every agent full, {waiting} waiting | median {:.3} ms (min {:.3}, max {:.3}, 5 calls) |",
        ms(idle_decides[2]),
        ms(idle_decides[0]),
        ms(idle_decides[4])
    );
    println!(
        "| takeover of {live} live interactions | apply {:.0} ms, then the first decide {:.0} ms ({} offers) |",
        ms(takeover_apply),
        ms(takeover_decide),
        first.len()
    );
    println!(
        "| snapshot size per waiting chat | {:.0} bytes (interactions {:.1} MiB, whole snapshot {:.1} MiB) |",
        interaction_bytes as f64 / waiting as f64,
        mib(interaction_bytes as u64),
        mib(total_bytes as u64)
    );
    if let (Some(start), Some(before), Some(after)) = (rss_start, rss_before, rss_after) {
        println!(
            "| resident memory | {:.1} MiB at start, {:.1} MiB with {agents} agents logged in, {:.1} MiB with {waiting} chats: {:.0} bytes per chat |",
            mib(start),
            mib(before),
            mib(after),
            after.saturating_sub(before) as f64 / waiting as f64
        );
    }
    println!(
        "| heap in use (allocated, not yet freed) | {:.0} bytes per chat |",
        heap_after.saturating_sub(heap_before) as f64 / waiting as f64
    );
}
