//! Identifier generation.

/// A new time-ordered unique id (UUIDv7, hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new time-ordered unique id with a prefix, e.g. `exec-…`.
pub fn prefixed_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}
