//! Injected identifier generation, so tests can control ids the way they control time.

use uuid::Uuid;

/// A source of unique ids.
pub trait IdSource: Send + Sync + 'static {
    /// A new unique id with no order.
    fn random(&self) -> Uuid;

    /// A new unique id that sorts after the ones this source made before it.
    fn ordered(&self) -> Uuid;
}

/// The real source: random UUIDv4s and time-ordered UUIDv7s.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemIds;

impl IdSource for SystemIds {
    fn random(&self) -> Uuid {
        Uuid::new_v4()
    }

    fn ordered(&self) -> Uuid {
        Uuid::now_v7()
    }
}
