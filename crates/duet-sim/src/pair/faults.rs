//! What happens to the simulated pair, one random event at a time: client
//! operations, messages, store flushes, ticks (the drivers' right to serve
//! among them), link cuts, crashes, restarts, a cut-off active node; and
//! the heal after them.

use rand::Rng;

use duet_replica::{FromBackup, Input};

use super::clients::{self, Op};
use super::network::CutOff;
use super::node::{Conn, Role};
use super::stalls::STALLS_ONE_IN;
use super::witness::SPLITS_ONE_IN;
use super::world::{RETRY_MS, SETTLE_STEPS, World};
use super::{Mutation, checks};

impl World {
    /// One random event.
    pub(super) fn random_step(&mut self) -> Result<(), String> {
        // Drawn only with stalls on, so the other modes' runs stay as they
        // were.
        if self.stalls && self.rng.random_ratio(1, STALLS_ONE_IN) {
            return self.pause_or_stall();
        }
        if self.witness.is_some() && self.rng.random_ratio(1, SPLITS_ONE_IN) {
            return self.split_apart();
        }
        match self.rng.random_range(0..100) {
            0..27 => self.client_sends(),
            27..30 => self.follow(),
            30..55 => self.deliver(),
            55..70 => {
                let n = self.rng.random_range(0..2);
                self.flush(n)
            }
            70..85 => self.tick(),
            85..89 => self.encode(),
            // Components fail instead of links and processes: the guard's
            // damping counts a node's switchovers since its process
            // started, and a backup is synchronised once it caught up.
            89..92 | 95..97 if self.component_failures => self.component_fails(),
            89..92 => self.cut(),
            92..95 => self.network_heals(),
            95..97 => {
                let n = self.rng.random_range(0..2);
                self.crash(n)
            }
            97..99 => self.restart_one(),
            _ => self.isolate_active(),
        }
    }

    /// A client sends a new operation or one not answered.
    pub(super) fn client_sends(&mut self) -> Result<(), String> {
        let due = self.clients.due(self.now_ms, RETRY_MS);
        let n = if !due.is_empty() && self.rng.random_bool(0.5) {
            due[self.rng.random_range(0..due.len())]
        } else {
            let op = match self.rng.random_range(0..5) {
                // A name of its own: each acknowledged value is checked.
                0 => Op::Put {
                    name: format!("k{}", self.clients.ops.len()),
                    value: self.rng.random_range(0..1_000),
                },
                1 => Op::Chat {
                    id: format!("chat-{}", self.clients.ops.len()),
                },
                // The agent at her desktop: what the node she uses shows.
                3 => match self.agent_would(self.clients.target) {
                    Some(op) => op,
                    None => return Ok(()),
                },
                _ => {
                    let chats = self.clients.chats();
                    if chats.is_empty() {
                        return Ok(());
                    }
                    let chat = chats[self.rng.random_range(0..chats.len())].clone();
                    // By its number, not a draw: a seed's run is the same
                    // with large messages or without, up to their size.
                    let n = self.clients.ops.len();
                    let large = self.large_messages && n.is_multiple_of(8);
                    if large && n.is_multiple_of(16) {
                        // Every other large one is a shared file.
                        Op::Share {
                            chat,
                            message_id: format!("f{n}"),
                            seed: n as u8,
                        }
                    } else {
                        Op::Say {
                            chat,
                            message_id: format!("m{n}"),
                            large,
                        }
                    }
                }
            };
            self.clients.add(op)
        };
        let target = self.clients.target;
        let unix_ms = self.ctx(target).unix_ms;
        let input = self.clients.send(n, self.now_ms, unix_ms);
        self.detail(format!(
            "op {n} ({:?}) to {}",
            self.clients.ops[n].op, self.nodes[target].name
        ));
        if self.nodes[target].up.is_none() {
            // No answer: the client tries the other node next time.
            self.clients.target = 1 - target;
            return Ok(());
        }
        self.input(target, input)
    }

    /// What the agent does next on node `n`, as its state shows her: log
    /// in, accept a chat offered to her, or end one she holds.
    fn agent_would(&mut self, n: usize) -> Option<Op> {
        use duet_interactions::model::InteractionState;
        let state = &self.nodes[n].up.as_ref()?.replica.interactions().state;
        let Some(agent) = state
            .agent(clients::AGENT)
            .filter(|a| !a.logged_in.is_empty())
        else {
            return Some(Op::Login);
        };
        let mine: Vec<(String, bool)> = agent
            .assigned
            .values()
            .flatten()
            .filter_map(|id| {
                let ix = state.get(id)?;
                match &ix.state {
                    InteractionState::Offered { .. } => Some((id.clone(), true)),
                    InteractionState::Connected { .. } => Some((id.clone(), false)),
                    _ => None,
                }
            })
            .collect();
        let (chat, offered) = mine
            .get(self.rng.random_range(0..mine.len().max(1)))?
            .clone();
        Some(if offered {
            Op::Accept { chat }
        } else {
            Op::Hangup { chat }
        })
    }

    /// A client that follows no feed (its node reset it, or went down)
    /// follows one again, on the node the clients use.
    pub(super) fn follow(&mut self) -> Result<(), String> {
        let target = self.clients.target;
        for i in 0..self.followers.len() {
            let on = self.followers[i].on;
            let following = on.is_some_and(|(n, generation)| {
                self.nodes[n]
                    .up
                    .as_ref()
                    .is_some_and(|up| up.feed_generation == generation)
            });
            if !following {
                self.followers[i].follow(target, &self.nodes[target])?;
                let at = self.followers[i].at;
                self.detail(format!(
                    "follower {i} follows {} from {at:?}",
                    self.nodes[target].name
                ));
                return Ok(());
            }
        }
        Ok(())
    }

    /// The next message in flight arrives (one way, picked at random).
    pub(super) fn deliver(&mut self) -> Result<(), String> {
        let Some(conn) = self.link.conn else {
            return Ok(());
        };
        let Some(active) = self.active() else {
            return Ok(());
        };
        let backup = 1 - active;
        // What goes to a paused node waits in the link, in order.
        let to_active_ready = !self.link.to_active.is_empty() && self.nodes[active].runs();
        let to_backup_ready = !self.link.to_backup.is_empty() && self.nodes[backup].runs();
        let to_active = match (to_active_ready, to_backup_ready) {
            (false, false) => return Ok(()),
            (true, false) => true,
            (false, true) => false,
            (true, true) => self.rng.random_bool(0.5),
        };
        if to_active {
            let Some(message) = self.link.to_active.pop_front() else {
                return Ok(());
            };
            self.detail(format!(
                "to {}: {}",
                self.nodes[active].name,
                message.kind()
            ));
            match FromBackup::from_stream(message, Conn(conn), Some(conn)) {
                Ok(message) => self.input(active, Input::FromBackup(message)),
                Err(e) => Err(format!("the backup sent {e}")),
            }
        } else {
            let Some(message) = self.link.to_backup.pop_front() else {
                return Ok(());
            };
            self.detail(format!(
                "to {}: {}",
                self.nodes[backup].name,
                message.kind()
            ));
            self.input(backup, Input::FromActive(message))
        }
    }

    /// Node `n`'s store makes what is queued durable.
    pub(super) fn flush(&mut self, n: usize) -> Result<(), String> {
        match self.nodes[n].flush().map_err(|e| e.to_string())? {
            Some(input) => self.input(n, input),
            None => Ok(()),
        }
    }

    /// Time passes: pauses and store stalls whose time is over end; every
    /// running node whose replica asked for a tick by now ticks (as a
    /// node's runtime does, so a deadline it failed to ask for is a failing
    /// seed); the active one also looks at its lease and routes. A paused
    /// node does none of it.
    pub(super) fn tick(&mut self) -> Result<(), String> {
        self.now_ms += 100;
        self.end_pauses_and_stalls(false)?;
        self.peers_meet_again(false)?;
        for n in 0..2 {
            if self.nodes[n].runs() {
                self.right_tick(n)?;
            }
        }
        for n in 0..2 {
            if !self.nodes[n].runs() {
                continue;
            }
            let ticked = self.nodes[n].tick_due(self.now_ms);
            if ticked {
                self.input(n, Input::Tick)?;
            }
            if self.nodes[n].epoch().is_some() {
                self.input(n, Input::ReleaseHeld)?;
                self.input(n, Input::Route)?;
            }
            // A deadline still due after its tick would keep a node's
            // runtime busy waking. (One the routing made due after a
            // quiet spell, with no tick in this step, is met at the next.)
            if ticked && self.nodes[n].tick_due(self.now_ms) {
                return Err(format!(
                    "{} still asks for a tick after one at {} ms",
                    self.nodes[n].name, self.now_ms
                ));
            }
        }
        self.one_serving()
    }

    /// A snapshot being encoded is done (not in a paused process).
    pub(super) fn encode(&mut self) -> Result<(), String> {
        for n in 0..2 {
            let Some(up) = self.nodes[n].up.as_mut() else {
                continue;
            };
            if up.encoding.is_empty() || up.pause.is_some() {
                continue;
            }
            let (at, items) = up.encoding.remove(0);
            let mut chunks = duet_replica::snapshot::encode(items);
            if self.mutation == Some(Mutation::SnapshotInOneMessage) {
                chunks = vec![chunks.concat()];
            }
            let chunks = std::sync::Arc::new(chunks);
            return self.input(n, Input::SnapshotEncoded { at, chunks });
        }
        Ok(())
    }

    /// The link's connections fail until it is healed (the role queries,
    /// on the arbiter's port, still get through).
    pub(super) fn cut(&mut self) -> Result<(), String> {
        self.link.cut = true;
        self.report.cuts += 1;
        self.disconnect()
    }

    /// Node `n` dies; when it was active, the other's driver finds its
    /// process gone (or, when cut off, silent) and takes over (a paused
    /// one after it resumes).
    pub(super) fn crash(&mut self, n: usize) -> Result<(), String> {
        if self.nodes[n].up.is_none() {
            return Ok(());
        }
        let was_active = self.active() == Some(n);
        self.disconnect()?;
        self.nodes[n].crash();
        self.report.crashes += 1;
        self.note(format!("{} crashes", self.nodes[n].name));
        if was_active && self.nodes[1 - n].runs() {
            self.play_out_takeover()?;
        }
        Ok(())
    }

    /// A node that is down starts again (with no active node, its role
    /// queries find the other's process gone, and it takes over: it serves
    /// alone).
    pub(super) fn restart_one(&mut self) -> Result<(), String> {
        let Some(n) = (0..2).find(|&n| self.nodes[n].up.is_none()) else {
            return Ok(());
        };
        self.start(n)?;
        self.connect()
    }

    /// After the heal, with the pair whole: both nodes stop, one gets a
    /// new disk (an empty store, no epoch file) and is started first, so
    /// it serves alone, knowing no epoch, and clients use it; then the
    /// other starts and they meet. (Only a whole pair: what one node alone
    /// acknowledged is lost with its disk, as no software can prevent.)
    pub(super) fn replace_a_disk(&mut self, steps: usize) -> Result<(), String> {
        let n = self.rng.random_range(0..2);
        self.crash(1 - n)?;
        self.crash(n)?;
        let history = 3 + self.report.replaced_disks as u64;
        self.nodes[n]
            .replace_disk(history)
            .map_err(|e| e.to_string())?;
        self.report.replaced_disks += 1;
        self.note(format!(
            "{}'s disk is replaced; it starts first",
            self.nodes[n].name
        ));
        // Its role queries find the other's process gone: it takes over.
        self.start(n)?;
        for _ in 0..steps {
            self.step += 1;
            match self.rng.random_range(0..4) {
                0 | 1 => self.client_sends()?,
                2 => self.flush(n)?,
                _ => self.tick()?,
            }
        }
        self.heal()
    }

    /// The active node is cut off, from its peer and its gateway: its
    /// own-network checks fail, its lease runs out, and the other, whose
    /// peer is silent while its own network answers, takes over. The old
    /// one keeps its role until it meets the other, holding and then
    /// refusing what clients still send it; then it stops serving.
    pub(super) fn isolate_active(&mut self) -> Result<(), String> {
        let Some(active) = self.active() else {
            return Ok(());
        };
        if !self.nodes[1 - active].runs() || self.cut_off.is_some() {
            return Ok(());
        }
        self.cut()?;
        self.cut_off = Some(CutOff {
            node: active,
            gateway_down: true,
            peer_back_at_ms: None,
        });
        self.note(format!(
            "{} is cut off from its peer and its gateway",
            self.nodes[active].name
        ));
        self.play_out_takeover()
    }

    /// Node `n` stops serving and follows.
    pub(super) fn step_down(&mut self, n: usize) -> Result<(), String> {
        let now = self.now_ms;
        if let Some(up) = self.nodes[n].up.as_mut() {
            up.role = Role::Backup;
            up.right.stopped_serving(now);
        }
        self.note(format!("{} stops serving", self.nodes[n].name));
        self.input(n, Input::StopServing)
    }

    /// Every fault ends: both nodes run, the link is up, and the pair is
    /// given time to become quiet (no message in flight, nothing queued,
    /// the backup in sync, every operation answered).
    pub(super) fn heal(&mut self) -> Result<(), String> {
        self.note("healing".into());
        self.end_pauses_and_stalls(true)?;
        self.peers_meet_again(true)?;
        for n in 0..2 {
            if self.nodes[n].up.is_none() {
                self.start(n)?;
            }
        }
        // With no active node, the drivers' role queries settle who takes
        // over as the pair settles.
        self.link.cut = false;
        self.connect()?;
        for _ in 0..SETTLE_STEPS {
            if self.quiet() {
                return Ok(());
            }
            self.step += 1;
            match self.rng.random_range(0..5) {
                0 => self.client_retries()?,
                1 | 2 => self.deliver()?,
                3 => {
                    let n = self.rng.random_range(0..2);
                    self.flush(n)?
                }
                _ => {
                    self.tick()?;
                    self.encode()?;
                }
            }
            checks::backup_prefix(self)?;
        }
        Err(format!(
            "the healed pair did not become quiet in {SETTLE_STEPS} steps"
        ))
    }

    /// While healing: clients send what was not answered, nothing new.
    pub(super) fn client_retries(&mut self) -> Result<(), String> {
        let due = self.clients.due(self.now_ms, RETRY_MS);
        let Some(&n) = due.first() else {
            return Ok(());
        };
        let target = self.active().unwrap_or(self.clients.target);
        self.clients.target = target;
        let unix_ms = self.ctx(target).unix_ms;
        let input = self.clients.send(n, self.now_ms, unix_ms);
        self.input(target, input)
    }

    pub(super) fn quiet(&self) -> bool {
        let Some(active) = self.active() else {
            return false;
        };
        let running = |n: usize| self.nodes[n].up.as_ref();
        let (Some(a), Some(b)) = (running(active), running(1 - active)) else {
            return false;
        };
        self.link.conn.is_some()
            && self.link.to_active.is_empty()
            && self.link.to_backup.is_empty()
            && a.queued.is_empty()
            && b.queued.is_empty()
            && a.encoding.is_empty()
            && a.replica.replication() == duet_stream::Replication::InSync
            && a.replica.held() == 0
            && a.replica.position() == b.replica.position()
            && self.clients.due(u64::MAX, 0).is_empty()
    }
}
