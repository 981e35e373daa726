//! Who is calling and through which API.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Numeric user id (star-graph shows users as numbers, e.g. `1001`).
pub type UserId = i64;

/// A user's role. Admins manage the fleet, compute and other users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    /// The lowercase storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(format!("unknown role `{other}` (expected admin or user)")),
        }
    }
}

/// The public API dialects: the four upstream systems' and the virtual ComfyUI's. Tokens remember which one issued them, so that a
/// shared route such as `/api/v1/auth/refresh` answers in the issuer's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    ComfyManager,
    StarGraph,
    Openidcs,
    Vflow,
    /// ComfyUI's own protocol, served at `/comfy` in front of the whole fleet.
    #[serde(rename = "comfyui")]
    ComfyUi,
}

impl Dialect {
    /// The kebab-case storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::ComfyManager => "comfy-manager",
            Dialect::StarGraph => "star-graph",
            Dialect::Openidcs => "openidcs",
            Dialect::Vflow => "vflow",
            Dialect::ComfyUi => "comfyui",
        }
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "comfy-manager" => Ok(Dialect::ComfyManager),
            "star-graph" => Ok(Dialect::StarGraph),
            "openidcs" => Ok(Dialect::Openidcs),
            "vflow" => Ok(Dialect::Vflow),
            "comfyui" => Ok(Dialect::ComfyUi),
            other => Err(format!("unknown dialect `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_and_dialect_round_trip_through_strings() {
        for role in [Role::Admin, Role::User] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for d in [Dialect::ComfyManager, Dialect::StarGraph, Dialect::Openidcs, Dialect::Vflow, Dialect::ComfyUi] {
            assert_eq!(d.as_str().parse::<Dialect>(), Ok(d));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
