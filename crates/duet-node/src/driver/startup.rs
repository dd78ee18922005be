//! Start-up: the role discovery, the initial synchronisation and first
//! mirror pass a starting backup waits for, and what the peer said.

use std::time::Duration;

use duet_link::protocol::Role;
use duet_params::ServerId;
use duet_role::{Discovered, Discovery, DiscoveryStep, PeerSaid};
use duet_rsm::Position;
use duet_switchover::{Event, Record, Release, ServiceMode, Topic};

use super::Driver;
use crate::arbiter::PeerAnswer;
use crate::arbiter::{self, QueryFailure};

impl Driver {
    /// The configuration is synchronised (or its wait is over); start-up is
    /// complete once the mirrored directories are copied too.
    pub(super) fn startup_done(&mut self, why: &str) {
        if self.startup_deadline.take().is_some() {
            self.note(format!("Start-up: {why}"));
            self.startup_complete_when_ready();
        }
    }

    pub(super) fn startup_complete_when_ready(&mut self) {
        if self.startup_deadline.is_none() && self.startup_mirror_deadline.is_none() {
            self.note("Start-up complete".into());
            self.apply(Event::StartupComplete);
        }
    }

    /// The backup's first mirror pass ended.
    pub(super) fn mirror_first_pass(&mut self, missing: Vec<String>) {
        if self.startup_mirror_deadline.take().is_none() {
            return;
        }
        if missing.is_empty() {
            self.note("Start-up: the mirrored directories are copied".into());
        } else {
            self.note(format!(
                "Start-up: these mirrored directories could not be copied and are tried again: {}",
                missing.join(", ")
            ));
        }
        self.startup_complete_when_ready();
    }

    /// The active node is gone or going while this node starts: there is
    /// nothing more to wait for, and a switchover scheduled for after
    /// start-up must not wait for copies that cannot come. A new link
    /// brings the copies up to date again.
    pub(super) fn startup_without_active(&mut self, why: &str) {
        if self.startup_deadline.is_none() && self.startup_mirror_deadline.is_none() {
            return;
        }
        self.startup_deadline = None;
        self.startup_mirror_deadline = None;
        self.startup_mirror_wanted = false;
        self.note(format!(
            "Start-up: {why} before the initial synchronisation with {} ended; continuing with what was copied",
            self.shared.boot.peer().name
        ));
        self.startup_complete_when_ready();
    }

    /// The seed: when the mirrored files are not all copied within the
    /// maximum start-up time, the backup does not start.
    pub(super) fn startup_mirror_overdue(&mut self) {
        self.startup_mirror_deadline = None;
        let limit_s = self.engine.params().startup_mirror_timeout_ms / 1_000;
        let progress = self
            .shared
            .mirror
            .progress
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let why = format!(
            "the mirrored directories were not all copied from {} within Duet Startup Mirror Timeout ({limit_s} s); {progress}. The files copied so far are kept, so the next start goes on from there; raise Duet Startup Mirror Timeout, or leave rarely needed large directories out of the mirrored ones",
            self.shared.boot.peer().name
        );
        self.record(Record {
            topic: Topic::Switchover,
            level: duet_switchover::Level::Error,
            message: format!("Start-up failed: {why}"),
        });
        self.startup_failure = Some(why);
    }

    /// The seed's start-up: ask the peer; a live active peer makes this node
    /// backup, an unreachable one makes it active (fail-safe); two nodes
    /// starting together agree that SwitchoverServer A is active.
    pub(super) async fn discover_role(&mut self) -> ServiceMode {
        let (history, history_id) = self.shared.view.history();
        let mut discovery = Discovery::new(
            self.shared.boot.server_id() == ServerId::B,
            history,
            history_id,
        );
        let mut waiting_reported = false;
        loop {
            let answer =
                arbiter::query(&self.shared.arbiter_handles(), arbiter::QUERY_TIMEOUT_MS).await;
            if let Err(QueryFailure::Failed(why)) = &answer {
                self.note(format!(
                    "The peer's role arbiter answered but the query failed: {why}"
                ));
            }
            let said = self.peer_said(&answer);
            let answer = answer.ok();
            if said != PeerSaid::SameLetter {
                self.note_peer(answer.as_ref());
                self.publish();
            }
            match discovery.answered(said) {
                DiscoveryStep::AskAgainAfterMs(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                DiscoveryStep::WaitForOlderActive {
                    peer_history:
                        Position {
                            epoch: peer_epoch,
                            seq: peer_seq,
                        },
                    after_ms,
                } => {
                    if !waiting_reported {
                        waiting_reported = true;
                        self.note(format!(
                            "{} serves with an older history (change {peer_seq} of epoch {peer_epoch}) than this node's (change {} of epoch {}): not joining it, which would resynchronise the newer history away; waiting for it to step down",
                            self.shared.boot.peer().name,
                            history.seq,
                            history.epoch
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                }
                DiscoveryStep::Decided(Discovered::PeerActive) => {
                    return ServiceMode::PeerActive {
                        release: Release(answer.map(|a| a.release).unwrap_or_default()),
                    };
                }
                DiscoveryStep::Decided(Discovered::ChosenActive) => {
                    return ServiceMode::ChosenActive;
                }
                DiscoveryStep::Decided(Discovered::PeerUnreachable) => {
                    return ServiceMode::PeerUnreachable;
                }
            }
        }
    }

    /// What a role query brought, for the role logic; a peer claiming this
    /// node's letter is reported (once) and ignored.
    pub(super) fn peer_said(&mut self, answer: &Result<PeerAnswer, QueryFailure>) -> PeerSaid {
        match answer {
            Ok(a) if self.mismatched(a) => PeerSaid::SameLetter,
            Ok(a) => {
                let (history, history_id) = (a.info.history, a.info.history_id);
                match a.info.role {
                    Role::Active => PeerSaid::Active {
                        epoch: a.epoch,
                        history,
                        history_id,
                    },
                    Role::Starting => PeerSaid::Starting {
                        history,
                        history_id,
                    },
                    _ => PeerSaid::Other {
                        history,
                        history_id,
                    },
                }
            }
            Err(_) => PeerSaid::Silent,
        }
    }

    /// The peer claims the same SwitchoverServer letter as this node.
    pub(super) fn mismatched(&mut self, answer: &PeerAnswer) -> bool {
        let mine = self.shared.boot.server_id();
        if answer.info.server != mine {
            self.mismatch_reported = false;
            return false;
        }
        if !self.mismatch_reported {
            self.mismatch_reported = true;
            self.record(Record {
                topic: Topic::Switchover,
                level: duet_switchover::Level::Error,
                message: format!(
                    "{} and {} both say they are SwitchoverServer {mine:?}: the bootstrap files disagree. Make server_a and server_b the same in both; until then this node ignores its peer",
                    answer.node, self.shared.boot.this
                ),
            });
        }
        true
    }

    /// Records what the peer said; the caller publishes the status.
    pub(super) fn note_peer(&mut self, answer: Option<&PeerAnswer>) {
        self.peer.reachable = answer.is_some();
        if answer.is_none() {
            self.peer.role = None;
            self.peer.state = None;
        }
        if let Some(a) = answer {
            self.saw_epoch(a.epoch);
            self.peer.role = Some(a.info.role);
            self.peer.state = Some(a.info.state);
            self.peer.epoch = Some(a.epoch);
            self.peer.release = Some(a.release.clone());
            self.peer.manual_switch_only = Some(a.info.manual_switch_only);
        }
    }
}
