//! The in-memory response sender: keeps the bodies instead of sending them, after validating the
//! ResponseURL exactly as the live sender does (see [`eks_role_mapper::ResponseUrl::parse`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use eks_role_mapper::Result;
use eks_role_mapper::{Body, Respond, ResponseUrl};

/// A response sender that keeps what it was given. Like the live sender of the product, it takes
/// no loopback ResponseURL unless made with [`Answers::allowing_loopback`] (as a local run's
/// sender is made, `Connection::allow_loopback`).
#[derive(Clone, Default)]
pub struct Answers {
    sent: Arc<Mutex<Vec<Body>>>,
    loopback: bool,
}

impl Answers {
    /// A sender that also takes a ResponseURL on loopback, as a local run's does.
    pub fn allowing_loopback() -> Answers {
        Answers {
            loopback: true,
            ..Answers::default()
        }
    }

    /// The bodies sent, in order.
    pub fn sent(&self) -> Vec<Body> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Respond for Answers {
    async fn send(&self, _url: &ResponseUrl, body: &Body, _budget: Duration) -> Result<u32> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(body.clone());
        Ok(1)
    }

    fn allows_loopback(&self) -> bool {
        self.loopback
    }
}
