//! Random secrets and their stored digests.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random secret with 256 bits of entropy, e.g. `grt_…`.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A short human-typable code (`XXXX-XXXX`, no look-alike characters, 40 bits).
pub fn pairing_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let pick = |rng: &mut rand::rngs::ThreadRng| {
        (0..4).map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char).collect::<String>()
    };
    format!("{}-{}", pick(&mut rng), pick(&mut rng))
}

/// The stored form of a high-entropy secret: SHA-256, hex.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A hint that identifies a secret without revealing it: its first 8 characters.
pub fn hint(secret: &str) -> String {
    format!("{}…", secret.chars().take(8).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_digests_stable() {
        let a = random_token("grt_");
        assert!(a.starts_with("grt_") && a.len() == 47);
        assert_ne!(a, random_token("grt_"));
        assert_eq!(digest("x"), digest("x"));
        assert_eq!(digest("x").len(), 64);
        let code = pairing_code();
        assert_eq!(code.len(), 9);
        assert_eq!(hint("abcdefghijk"), "abcdefgh…");
    }
}
