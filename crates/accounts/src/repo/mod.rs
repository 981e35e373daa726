//! The accounts context's storage: one repository per aggregate, over the shared database handle.

pub mod api_tokens;
pub mod login_failures;
pub mod pairing;
pub mod sessions;
pub mod user_files;
pub mod users;
