//! Access tokens: short-lived HS256 JWTs naming their session. Only HS256 is accepted;
//! tokens with another algorithm (including `none`) or a bad signature are rejected.

use gantry_core::{Dialect, Role};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "gantry";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id, as a string.
    pub sub: String,
    /// Role at issue time (the database is authoritative).
    pub role: Role,
    /// Session id.
    pub sid: String,
    /// Dialect that issued it.
    pub dia: Dialect,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Expired,
    Invalid,
}

/// Signing and checking keys.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// Signs claims (the `iss` is set here).
    pub fn sign(&self, mut claims: Claims) -> Result<String, jsonwebtoken::errors::Error> {
        claims.iss = ISSUER.to_owned();
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => Rejection::Expired,
                _ => Rejection::Invalid,
            }
        })
    }
}

/// Whether a bearer string has the shape of a JWT (three dot-separated parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(exp: i64) -> Claims {
        let now = chrono_now();
        Claims {
            sub: "1001".into(),
            role: Role::User,
            sid: "s".into(),
            dia: Dialect::Vflow,
            iss: String::new(),
            iat: now,
            exp: now + exp,
            jti: "j".into(),
        }
    }

    fn chrono_now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    #[test]
    fn signed_tokens_verify_and_tampering_is_refused() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let token = keys.sign(claims(60)).unwrap();
        assert_eq!(keys.verify(&token).unwrap().sub, "1001");

        let other = JwtKeys::new(b"another-secret-another-secret-xx");
        assert_eq!(other.verify(&token).unwrap_err(), Rejection::Invalid);

        let expired = keys.sign(claims(-120)).unwrap();
        assert_eq!(keys.verify(&expired).unwrap_err(), Rejection::Expired);

        // alg: none with the same payload and no signature.
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(keys.verify(&format!("{header}.{payload}.")).unwrap_err(), Rejection::Invalid);
        assert!(looks_like_jwt(&token) && !looks_like_jwt("gat_abc"));
    }
}
