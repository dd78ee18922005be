//! The backup's link connections to the active node, and the mirror that
//! runs while the main one is up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use duet_link::protocol::ToActive;
use duet_switchover::{Conn, State};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Driver;

impl Driver {
    /// The mirror roots for the parameters in effect and this node's state
    /// (fewer in an Upgrade state, the seed's Appendix C).
    pub(super) fn refresh_mirror_setup(&self) {
        use crate::mirror::{FileScope, MirrorSetup};
        let scope = match self.engine.state() {
            State::UpgradeHigher => FileScope::UpgradeHigher,
            State::UpgradeLower => FileScope::UpgradeLower,
            _ => FileScope::Full,
        };
        let setup = MirrorSetup::new(self.engine.params(), &self.shared.boot.data_dir, scope);
        if let Ok(mut current) = self.shared.mirror.setup.write() {
            *current = setup;
        }
    }

    /// Mirrors the active node's directories while the main link is up, and
    /// checks the health of its file monitor.
    pub(super) fn start_mirror(&mut self) {
        let Some(tx) = self.links.get(&Conn::Main).cloned() else {
            return;
        };
        self.refresh_mirror_setup();
        for old in self.mirror.drain(..) {
            old.abort();
        }
        let starting = std::mem::take(&mut self.startup_mirror_wanted);
        if starting && self.startup_deadline.is_some() {
            let limit = Duration::from_millis(self.engine.params().startup_mirror_timeout_ms);
            self.startup_mirror_deadline = Some(Instant::now() + limit);
        }
        let (answers_tx, answers) = mpsc::channel(64);
        if let Ok(mut slot) = self.shared.mirror.answers.lock() {
            *slot = Some(answers_tx);
        }
        let (checks_tx, checks) = mpsc::channel(8);
        if let Ok(mut slot) = self.shared.mirror.monitor_answers.lock() {
            *slot = Some(checks_tx);
        }
        // A new connection: nothing is known to be wrong yet.
        self.shared
            .mirror
            .monitor_healthy
            .store(true, Ordering::Relaxed);
        let wait = self.engine.params().ds_request_timeout_ms;
        let mirror = crate::mirror::BackupMirror::new(
            self.shared.mirror_handles(),
            tx.clone(),
            answers,
            wait,
        );
        self.mirror = vec![
            tokio::spawn(mirror.run()),
            tokio::spawn(crate::mirror::check_file_monitor(
                self.shared.mirror_handles(),
                tx,
                checks,
            )),
        ];
    }

    /// Closes a link connection: its writer sends what is queued, then ends.
    pub(super) fn drop_link(&mut self, conn: Conn) {
        if conn == Conn::Main {
            for task in self.mirror.drain(..) {
                task.abort();
            }
            if self.links.contains_key(&conn) {
                self.shared
                    .replication
                    .offer(crate::replication::ReplicationMsg::ActiveLinkDown);
            }
        }
        self.links.remove(&conn);
        if let Some(task) = self.link_tasks.remove(&conn) {
            task.abort();
        }
    }

    pub(super) fn drop_all_links(&mut self) {
        for conn in [Conn::Main, Conn::Aux] {
            self.drop_link(conn);
        }
    }

    pub(super) fn send(&self, conn: Conn, body: impl Into<ToActive>) {
        if let Some(tx) = self.links.get(&conn) {
            // A full outbox drops the ping; the engine times it out.
            tx.send(self.shared.view.envelope(body));
        }
    }
}
