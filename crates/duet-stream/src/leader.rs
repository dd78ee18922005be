//! The active node's side of the stream.

use std::collections::{BTreeMap, VecDeque};

use duet_rsm::Position;
use serde::{Deserialize, Serialize};

use crate::{ClientId, Entry};

/// Bounds on how far the backup may fall behind before the active node
/// stops waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Changes sent but not yet acknowledged by the backup.
    pub unacked_max: usize,
    /// How long the oldest unacknowledged change may wait.
    pub ack_wait_max_ms: u64,
    /// Changes kept for a returning backup to catch up from; an older gap
    /// needs a resynchronisation.
    pub retained_max: usize,
    /// The most bytes of content ([`Weight`]) those changes carry: chunks
    /// of a large upload push the oldest out rather than fill memory.
    pub retained_bytes_max: usize,
    /// Client ids remembered for idempotent retries.
    pub client_ids_max: usize,
    /// The most changes the backup is sent ahead of its acknowledgements,
    /// in sync or catching up: a window, so the link's outbox never
    /// overflows however fast changes come (a burst of thousands of
    /// desktops' presence changes closed the link) or however far behind
    /// the backup is. A backup behind the retained changes resynchronises
    /// instead.
    pub sent_ahead_max: usize,
    /// The most bytes of content ([`Weight`]) sent ahead of the backup's
    /// acknowledgements (at least one change goes): the link's pings do
    /// not wait behind megabytes of a large upload.
    pub sent_ahead_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            unacked_max: 10_000,
            ack_wait_max_ms: 1_000,
            retained_max: 100_000,
            retained_bytes_max: 256 * 1024 * 1024,
            client_ids_max: 100_000,
            sent_ahead_max: 200,
            sent_ahead_bytes_max: 4 * 1024 * 1024,
        }
    }
}

/// Where the backup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Replication {
    /// No backup connected: the active node carries on alone.
    Alone,
    /// Connected but behind (returning, resynchronising, or slower than the
    /// limits allow): changes still stream to it, clients are acknowledged
    /// without waiting for it.
    CatchingUp,
    /// In sync: client writes wait for the backup's acknowledgement.
    InSync,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderCommand<T> {
    /// Store this entry durably, then report `Persisted`.
    Persist(Entry<T>),
    /// Send this entry to the backup.
    Send(Entry<T>),
    /// Tell the client its write is done, at this sequence number.
    AckClient { client: ClientId, seq: u64 },
    /// The backup cannot catch up from the retained changes: it needs a
    /// resynchronisation up to this point, then the stream continues.
    Resync { upto: Position },
    /// Replication state changed (for status and alarms), with the reason.
    Replication { state: Replication, why: String },
}

struct Pending {
    client: ClientId,
    persisted: bool,
    replicated: bool,
    written_ms: u64,
}

pub struct Leader<T> {
    epoch: u64,
    last_seq: u64,
    limits: Limits,
    retained: VecDeque<Entry<T>>,
    /// The [`Weight`] of the retained changes.
    retained_bytes: usize,
    /// Writes not yet acknowledged to their client, by sequence number.
    pending: BTreeMap<u64, Pending>,
    /// Recent client ids and the sequence number each got.
    clients: BTreeMap<ClientId, u64>,
    client_order: VecDeque<ClientId>,
    state: Replication,
    /// The highest sequence number the backup has acknowledged.
    backup_acked: u64,
    /// Whether a backup is connected (changes stream to it), and whether
    /// it is resynchronising.
    backup: Backup,
    /// The backup has been sent every change up to this one, in order,
    /// over its connection: a new change goes at once only right after it
    /// and within the window (in sync, not in a burst); the others are
    /// sent from the retained changes as the backup acknowledges, a window
    /// at a time.
    sent_upto: u64,
    /// While the backup catches up: the last change when its previous
    /// acknowledgement came. Once it acknowledges that one it keeps pace
    /// within a round trip, and the pair is in sync from then on (waiting
    /// for an acknowledgement that covers every change would, under a
    /// steady stream of writes, never come).
    caught_up_to: u64,
}

/// The backup as the leader knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backup {
    Gone,
    /// Connected, and resynchronising: changes stream to it, but what it
    /// acknowledges says nothing of those up to the resync's position.
    Resynchronising,
    /// Connected, and holding this leader's history up to what it
    /// acknowledged.
    Following,
}

/// The bytes of content a change carries, bounding how many the leader
/// retains (the rest of a change is small, bounded by their count).
pub trait Weight {
    fn weight_bytes(&self) -> usize;
}

impl Weight for String {
    fn weight_bytes(&self) -> usize {
        self.len()
    }
}

impl<T: Clone + Weight> Leader<T> {
    /// A leader for `epoch`, continuing after `last_seq`.
    pub fn new(epoch: u64, last_seq: u64, limits: Limits) -> Leader<T> {
        Leader {
            epoch,
            last_seq,
            limits,
            retained: VecDeque::new(),
            retained_bytes: 0,
            pending: BTreeMap::new(),
            clients: BTreeMap::new(),
            client_order: VecDeque::new(),
            state: Replication::Alone,
            backup_acked: 0,
            backup: Backup::Gone,
            sent_upto: 0,
            caught_up_to: last_seq,
        }
    }

    pub fn state(&self) -> Replication {
        self.state
    }

    /// The highest sequence number the backup has acknowledged: changes up
    /// to it are on the backup.
    pub fn backup_acked(&self) -> u64 {
        self.backup_acked
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// A client's write. A retry with a known client id is not applied
    /// again: the client is acknowledged with the first write's number once
    /// that one is done.
    pub fn write(&mut self, now_ms: u64, client: ClientId, change: T) -> Vec<LeaderCommand<T>> {
        if let Some(&seq) = self.clients.get(&client) {
            if self.pending.contains_key(&seq) {
                return Vec::new(); // still under way; acknowledged when done
            }
            return vec![LeaderCommand::AckClient { client, seq }];
        }
        self.last_seq += 1;
        let seq = self.last_seq;
        let entry = Entry {
            epoch: self.epoch,
            seq,
            change,
        };
        self.remember(client.clone(), seq);
        self.retained_bytes += entry.change.weight_bytes();
        self.retained.push_back(entry.clone());
        while self.retained.len() > self.limits.retained_max
            || self.retained_bytes > self.limits.retained_bytes_max
        {
            let Some(old) = self.retained.pop_front() else {
                break;
            };
            self.retained_bytes -= old.change.weight_bytes();
        }
        let send = self.backup != Backup::Gone
            && self.sent_upto + 1 == seq
            && seq <= self.window_end()
            && self.room_ahead(self.sent_ahead_bytes(), entry.change.weight_bytes());
        if send {
            self.sent_upto = seq;
        }
        self.pending.insert(
            seq,
            Pending {
                client,
                persisted: false,
                replicated: self.state != Replication::InSync,
                written_ms: now_ms,
            },
        );
        let mut out = vec![LeaderCommand::Persist(entry.clone())];
        if send {
            out.push(LeaderCommand::Send(entry));
        }
        out
    }

    /// Client ids of changes made before this leader (from history), so a
    /// client's retry after a switchover is answered, not applied again.
    pub fn remember_clients(&mut self, clients: impl IntoIterator<Item = (ClientId, u64)>) {
        for (client, seq) in clients {
            if !self.clients.contains_key(&client) {
                self.remember(client, seq);
            }
        }
    }

    /// The sequence number a client id already got.
    pub fn known(&self, client: &str) -> Option<u64> {
        self.clients.get(client).copied()
    }

    fn remember(&mut self, client: ClientId, seq: u64) {
        self.clients.insert(client.clone(), seq);
        self.client_order.push_back(client);
        while self.client_order.len() > self.limits.client_ids_max {
            if let Some(old) = self.client_order.pop_front() {
                self.clients.remove(&old);
            }
        }
    }

    pub fn persisted(&mut self, seq: u64) -> Vec<LeaderCommand<T>> {
        if let Some(p) = self.pending.get_mut(&seq) {
            p.persisted = true;
        }
        self.ack_done()
    }

    /// The backup has applied everything up to `seq`.
    pub fn backup_ack(&mut self, seq: u64) -> Vec<LeaderCommand<T>> {
        self.backup_acked = self.backup_acked.max(seq);
        for (_, p) in self.pending.range_mut(..=seq) {
            p.replicated = true;
        }
        let mut out = self.send_window();
        let keeps_pace = self.backup_acked >= self.caught_up_to;
        self.caught_up_to = self.last_seq;
        // A resynchronising backup acknowledges changes streamed past the
        // resync's position before it holds those up to it: it is in sync
        // only from its hello after the resync.
        if self.state == Replication::CatchingUp && self.backup == Backup::Following && keeps_pace {
            // In sync, as new writes do, those the backup does not have
            // yet (in flight, or still to send) wait for it.
            for (_, p) in self.pending.range_mut(self.backup_acked + 1..) {
                p.replicated = false;
            }
            self.state = Replication::InSync;
            out.push(LeaderCommand::Replication {
                state: Replication::InSync,
                why: "the backup has caught up".into(),
            });
        }
        out.extend(self.ack_done());
        out
    }

    /// The backup connected (or asked to catch up), having applied
    /// everything up to `applied`. It is sent what it missed from the
    /// retained changes, a window at a time as it acknowledges them;
    /// behind the retained changes, it resynchronises and says hello again.
    pub fn backup_connected(&mut self, applied: Position) -> Vec<LeaderCommand<T>> {
        let applied_seq = applied.seq;
        self.backup = Backup::Following;
        self.backup_acked = applied_seq;
        self.caught_up_to = self.last_seq;
        if applied_seq + 1 < self.oldest_retained() {
            return self.backup_diverged();
        }
        // Its first window; it cannot need a resync (checked above).
        self.sent_upto = applied_seq;
        let mut out = self.send_window();
        self.state = if self.backup_acked >= self.last_seq {
            Replication::InSync
        } else {
            Replication::CatchingUp
        };
        out.push(LeaderCommand::Replication {
            state: self.state,
            why: "the backup connected".into(),
        });
        out
    }

    /// The first change still retained (one past the last when none is).
    fn oldest_retained(&self) -> u64 {
        self.retained.front().map_or(self.last_seq + 1, |e| e.seq)
    }

    /// The last change the backup may be sent now: `sent_ahead_max` past
    /// what it acknowledged.
    fn window_end(&self) -> u64 {
        self.backup_acked
            .saturating_add(self.limits.sent_ahead_max as u64)
    }

    /// The weight of the changes sent and not yet acknowledged.
    fn sent_ahead_bytes(&self) -> usize {
        let oldest = self.oldest_retained();
        let from = (self.backup_acked + 1).max(oldest);
        if self.sent_upto < from {
            return 0;
        }
        let skip = (from - oldest) as usize;
        let count = (self.sent_upto + 1 - from) as usize;
        (self.retained.iter().skip(skip).take(count))
            .map(|e| e.change.weight_bytes())
            .sum()
    }

    /// Whether a change of `weight` may go with `ahead` bytes sent ahead.
    fn room_ahead(&self, ahead: usize, weight: usize) -> bool {
        ahead == 0 || ahead + weight <= self.limits.sent_ahead_bytes_max
    }

    /// The backup is sent the retained changes after those it was sent, up
    /// to the window's end. Those it needs no longer retained: it
    /// resynchronises.
    fn send_window(&mut self) -> Vec<LeaderCommand<T>> {
        if self.backup == Backup::Gone {
            return Vec::new();
        }
        let window_end = self.window_end().min(self.last_seq);
        if self.sent_upto >= window_end {
            return Vec::new();
        }
        let oldest = self.oldest_retained();
        if self.sent_upto + 1 < oldest {
            return self.backup_diverged();
        }
        let skip = (self.sent_upto + 1 - oldest) as usize;
        let count = (window_end - self.sent_upto) as usize;
        let mut ahead = self.sent_ahead_bytes();
        let mut out = Vec::new();
        for e in self.retained.iter().skip(skip).take(count) {
            let weight = e.change.weight_bytes();
            if !self.room_ahead(ahead, weight) {
                break;
            }
            ahead += weight;
            out.push(LeaderCommand::Send(e.clone()));
        }
        self.sent_upto += out.len() as u64;
        out
    }

    /// The backup must resynchronise: it is behind until it says hello
    /// again at the resynchronised position and catches up.
    pub fn backup_diverged(&mut self) -> Vec<LeaderCommand<T>> {
        self.backup = Backup::Resynchronising;
        // Changes after the resynchronised position stream on, within the
        // window of what it last acknowledged; its hello after the resync
        // opens the window from there.
        self.sent_upto = self.last_seq;
        self.state = Replication::CatchingUp;
        for p in self.pending.values_mut() {
            p.replicated = true;
        }
        let mut out = vec![
            LeaderCommand::Resync {
                upto: Position::new(self.epoch, self.last_seq),
            },
            LeaderCommand::Replication {
                state: Replication::CatchingUp,
                why: "the backup is resynchronising".into(),
            },
        ];
        out.extend(self.ack_done());
        out
    }

    /// The backup went away: stop waiting for it.
    pub fn backup_lost(&mut self, why: &str) -> Vec<LeaderCommand<T>> {
        self.backup = Backup::Gone;
        self.stop_waiting(
            Replication::Alone,
            format!("the backup is gone ({why}); carrying on alone"),
        )
    }

    /// Acknowledges clients without the backup from now on, in `state`.
    fn stop_waiting(&mut self, state: Replication, why: String) -> Vec<LeaderCommand<T>> {
        if self.state == state {
            return Vec::new();
        }
        self.state = state;
        for p in self.pending.values_mut() {
            p.replicated = true;
        }
        let mut out = vec![LeaderCommand::Replication { state, why }];
        out.extend(self.ack_done());
        out
    }

    /// Checks the backup's lag against the limits.
    pub fn tick(&mut self, now_ms: u64) -> Vec<LeaderCommand<T>> {
        if self.state != Replication::InSync {
            return Vec::new();
        }
        let unacked = self.last_seq.saturating_sub(self.backup_acked) as usize;
        let oldest_wait = self
            .pending
            .values()
            .filter(|p| !p.replicated)
            .map(|p| now_ms.saturating_sub(p.written_ms))
            .max()
            .unwrap_or(0);
        if unacked > self.limits.unacked_max || oldest_wait > self.limits.ack_wait_max_ms {
            return self.stop_waiting(
                Replication::CatchingUp,
                format!(
                    "the backup fell behind ({unacked} changes unacknowledged, oldest {oldest_wait} ms); acknowledging without it until it catches up"
                ),
            );
        }
        Vec::new()
    }

    /// When the next tick matters (the oldest change waiting for the backup
    /// reaching its limit; at once, 0, when more changes wait than the
    /// limit allows).
    pub fn next_deadline(&self) -> Option<u64> {
        if self.state != Replication::InSync {
            return None;
        }
        let unacked = self.last_seq.saturating_sub(self.backup_acked) as usize;
        if unacked > self.limits.unacked_max {
            return Some(0);
        }
        self.pending
            .values()
            .filter(|p| !p.replicated)
            .map(|p| p.written_ms + self.limits.ack_wait_max_ms + 1)
            .min()
    }

    fn ack_done(&mut self) -> Vec<LeaderCommand<T>> {
        let done: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.persisted && p.replicated)
            .map(|(seq, _)| *seq)
            .collect();
        done.into_iter()
            .filter_map(|seq| self.pending.remove(&seq).map(|p| (seq, p)))
            .map(|(seq, p)| LeaderCommand::AckClient {
                client: p.client,
                seq,
            })
            .collect()
    }
}
