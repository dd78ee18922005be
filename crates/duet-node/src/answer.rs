//! Answering a request made over a oneshot channel. An asker that stopped
//! waiting (an HTTP request dropped, a task timed out) cannot be told; the
//! answer is logged as unread rather than ignored, and nothing else
//! depends on it: the change it reports is made or refused either way.

use tokio::sync::oneshot;

pub trait Answer<T> {
    /// Sends the answer; an asker gone is logged (debug).
    fn answer(self, value: T);
}

impl<T> Answer<T> for oneshot::Sender<T> {
    fn answer(self, value: T) {
        if self.send(value).is_err() {
            tracing::debug!(
                "an answer went unread: its asker ({}) stopped waiting",
                std::any::type_name::<T>()
            );
        }
    }
}
