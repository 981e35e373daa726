//! Password hashing. Gantry stores `argon2id(md5_hex(password))`: star-graph clients
//! send the MD5 of the password instead of the password, so the MD5 is the secret every
//! dialect is checked against, and argon2 protects it at rest like any password.

use std::cell::RefCell;

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version, password_hash::rand_core::OsRng};
use md5::{Digest, Md5};

/// A password as a client sent it.
#[derive(Clone)]
pub enum PasswordInput {
    /// The password itself.
    Plain(String),
    /// Lowercase or uppercase hex MD5 of the password (star-graph's login form).
    Md5Hex(String),
}

impl std::fmt::Debug for PasswordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordInput(…)")
    }
}

impl PasswordInput {
    /// Star-graph's rule: a 32-hex-digit string is an MD5 digest, anything else the password.
    pub fn star_graph(value: String) -> Self {
        if value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Self::Md5Hex(value)
        } else {
            Self::Plain(value)
        }
    }

    fn verifier(&self) -> String {
        match self {
            Self::Plain(p) => hex::encode(Md5::digest(p.as_bytes())),
            Self::Md5Hex(h) => h.to_ascii_lowercase(),
        }
    }
}

/// Hashes a password for storage (CPU-heavy: call from a blocking thread).
pub fn hash(input: &PasswordInput) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(input.verifier().as_bytes(), &salt)?.to_string())
}

thread_local! {
    /// argon2's working memory, kept by each thread that verifies: allocating ~19 MiB per
    /// check left most of it resident after a burst of logins (the allocator holds freed
    /// big blocks), so a thread reuses its own.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Checks a password against a stored hash (CPU-heavy: call from a blocking thread).
pub fn verify(input: &PasswordInput, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = MEMORY.with_borrow_mut(|memory| {
        let blocks = argon2.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(input.verifier().as_bytes(), salt, &mut out, &mut memory[..blocks])
    });
    // `Output` compares in constant time.
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
}

/// A hash of a random password, verified against when a username is unknown so that
/// unknown and known usernames take the same time.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&PasswordInput::Plain(crate::secrets::random_token(""))).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_md5_forms_verify_against_the_same_hash() {
        let stored = hash(&PasswordInput::Plain("s3cret-pass".into())).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(&PasswordInput::Plain("s3cret-pass".into()), &stored));
        let md5 = hex::encode(Md5::digest(b"s3cret-pass"));
        assert!(verify(&PasswordInput::star_graph(md5.to_uppercase()), &stored));
        assert!(!verify(&PasswordInput::Plain("wrong".into()), &stored));
        assert!(!verify(&PasswordInput::Plain("s3cret-pass".into()), "not a hash"));
    }

    #[test]
    fn star_graph_form_takes_non_hex_as_plain() {
        assert!(matches!(PasswordInput::star_graph("hello".into()), PasswordInput::Plain(_)));
        assert!(matches!(PasswordInput::star_graph("a".repeat(32)), PasswordInput::Md5Hex(_)));
    }
}
