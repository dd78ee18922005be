//! The bundle of handles the HTTP API is given (and the tasks at the top,
//! the driver, the link and the email intake, which use most of them).
//! It is only a bundle: each handle lives in the module that owns its
//! concern, and no module below these imports this one (docs/node.md
//! lists who may import whom).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::bootstrap::Bootstrap;
use crate::driver_inbox::DriverInbox;
use crate::events::Journal;
use crate::metrics::Metrics;
use crate::mirror::MirrorState;
use crate::replication::{Inboxes, MailQueues, Presences};
use crate::secrets::Secrets;
use crate::status::StatusView;
use crate::supervisor::Supervisor;
use crate::wire::Tls;

pub struct Shared {
    pub boot: Arc<Bootstrap>,
    pub tls: Tls,
    /// The status, the right to serve, replication's view.
    pub view: StatusView,
    pub events: Journal,
    pub supervisor: Supervisor,
    /// The monitored module's subsystem name (from Switchover Monitoring).
    pub monitored_module: &'static str,
    pub driver: DriverInbox,
    /// The replication task's inboxes.
    pub replication: Inboxes,
    /// The mirrored directories and the file monitor.
    pub mirror: Arc<MirrorState>,
    pub metrics: Arc<Metrics>,
    pub secrets: Arc<Secrets>,
    /// Email addresses (lower case) and the queue each is delivered to.
    pub mail_queues: MailQueues,
    /// Agents' desktops and chats' customers with sockets on this node.
    pub presences: Presences,
    /// Fault injection: configuration sync requests go unanswered.
    pub sync_requests_held: Arc<AtomicBool>,
    /// API requests waiting for replication's answer (bounded).
    pub answers_waiting: crate::replication::Waiting,
}

impl Shared {
    /// What the replication task is given.
    pub fn replication_handles(&self) -> crate::replication::Handles {
        crate::replication::Handles {
            boot: self.boot.clone(),
            view: self.view.clone(),
            events: self.events.clone(),
            metrics: self.metrics.clone(),
            driver: self.driver.clone(),
            replication: self.replication.clone(),
            secrets: self.secrets.clone(),
            mail_queues: self.mail_queues.clone(),
            presences: self.presences.clone(),
        }
    }

    /// What the mirror's tasks are given.
    pub fn mirror_handles(&self) -> crate::mirror::Handles {
        crate::mirror::Handles {
            peer: self.boot.peer().name.clone(),
            view: self.view.clone(),
            events: self.events.clone(),
            driver: self.driver.clone(),
            mirror: self.mirror.clone(),
        }
    }

    /// What the role arbiter is given.
    pub fn arbiter_handles(&self) -> crate::arbiter::Handles {
        crate::arbiter::Handles {
            boot: self.boot.clone(),
            tls: self.tls.clone(),
            view: self.view.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
