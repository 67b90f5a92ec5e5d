//! What an accepted disk operation holds (reserved names, held disks) and
//! how it gives them back: with its catalog changes when it ends, and also
//! when its task is dropped or panics, so nothing stays reserved for ever.

use super::{Change, DiskError, DiskMsg, DiskServiceRef};
use corvus_protocol::Response;
use std::future::Future;

/// What an operation's task returns: the catalog's changes and the answer.
pub type Outcome = Result<(Vec<Change>, Response), DiskError>;

/// The names and disks an accepted operation holds.
pub struct Lease {
    service: DiskServiceRef,
    names: Vec<String>,
    holds: Vec<i64>,
    shared: Vec<i64>,
    changes: Vec<Change>,
}

impl Lease {
    pub fn new(service: &DiskServiceRef) -> Lease {
        Lease {
            service: service.clone(),
            names: Vec::new(),
            holds: Vec::new(),
            shared: Vec::new(),
            changes: Vec::new(),
        }
    }

    pub fn name(mut self, name: &str) -> Lease {
        self.names.push(name.to_owned());
        self
    }

    pub fn hold(mut self, id: i64) -> Lease {
        self.holds.push(id);
        self
    }

    pub fn share(mut self, id: i64) -> Lease {
        self.shared.push(id);
        self
    }

    pub fn run(mut self, work: impl Future<Output = Outcome> + Send + 'static) -> Accepted {
        Box::pin(async move {
            let (changes, result) = match work.await {
                Ok((changes, response)) => (changes, Ok(response)),
                Err(err) => (Vec::new(), Err(err)),
            };
            self.changes = changes;
            drop(self);
            result
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = self.service.cast(DiskMsg::Apply {
            changes: std::mem::take(&mut self.changes),
            names: std::mem::take(&mut self.names),
            holds: std::mem::take(&mut self.holds),
            shared: std::mem::take(&mut self.shared),
        });
    }
}

/// An accepted operation: its remaining work, which releases its lease.
pub type Accepted = std::pin::Pin<Box<dyn Future<Output = Result<Response, DiskError>> + Send>>;
