//! The outputs a replica collects while it handles an input, and the
//! tickets of its store writes.

use crate::Event;
use duet_link::protocol::{StreamToActive, StreamToBackup};

use crate::WriteError;
use crate::io::{Metric, Output};
use crate::persist::StoreWrite;

/// What the replica decided so far, in order, and the ticket of its last
/// store write (the store gives tickets 1, 2, 3... in the order of the
/// writes).
pub(crate) struct Effects<P, A> {
    outputs: Vec<Output<P, A>>,
    last_ticket: u64,
}

impl<P, A> Default for Effects<P, A> {
    fn default() -> Self {
        Effects {
            outputs: Vec::new(),
            last_ticket: 0,
        }
    }
}

impl<P, A> Effects<P, A> {
    pub fn push(&mut self, output: Output<P, A>) {
        self.outputs.push(output);
    }

    /// A store write; returns its ticket.
    pub fn persist(&mut self, write: StoreWrite) -> u64 {
        self.last_ticket += 1;
        self.outputs.push(Output::Persist(write));
        self.last_ticket
    }

    /// The ticket of the last store write.
    pub fn last_ticket(&self) -> u64 {
        self.last_ticket
    }

    pub fn send(&mut self, to: P, message: StreamToBackup) {
        self.outputs.push(Output::Send { to, message });
    }

    pub fn send_to_active(&mut self, message: StreamToActive) {
        self.outputs.push(Output::ToActive(message));
    }

    pub fn answer(&mut self, to: A, result: Result<u64, WriteError>) {
        self.outputs.push(Output::Answer { to, result });
    }

    pub fn event(&mut self, event: Event) {
        self.outputs.push(Output::Event(event));
    }

    pub fn metric(&mut self, metric: Metric) {
        self.outputs.push(Output::Metric(metric));
    }

    pub fn take(&mut self) -> Vec<Output<P, A>> {
        std::mem::take(&mut self.outputs)
    }
}
