//! The dialect-neutral error every handler produces; each dialect renders it in its own
//! envelope with its own codes.

use axum::http::StatusCode;
use gantry_accounts::AccountsError;
use serde_json::{Value, json};

/// The kind of failure, which fixes the HTTP status and each dialect's default code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthenticated,
    TokenExpired,
    PaymentRequired,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMedia,
    Unprocessable,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// A failed request: what went wrong, for whom to read, and optionally a dialect's own
/// business code (`"E002"`, `1001`) and structured details.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// A dialect-specific code that replaces the kind's default.
    pub code: Option<Value>,
    pub details: Option<Value>,
}

impl ApiError {
    /// An error of `kind` with a message for the client.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), code: None, details: None }
    }

    /// A 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// A 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A 500 whose cause is logged, never shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(ErrorKind::Internal, "internal server error")
    }

    /// Sets a dialect-specific code.
    pub fn with_code(mut self, code: impl Into<Value>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl From<AccountsError> for ApiError {
    fn from(err: AccountsError) -> Self {
        let kind = match &err {
            AccountsError::InvalidCredentials
            | AccountsError::MissingToken
            | AccountsError::InvalidToken
            | AccountsError::ReplacedOnDevice(_) => ErrorKind::Unauthenticated,
            AccountsError::TokenExpired => ErrorKind::TokenExpired,
            AccountsError::Forbidden => ErrorKind::Forbidden,
            AccountsError::UserNotFound | AccountsError::NotFound(_) => ErrorKind::NotFound,
            AccountsError::UsernameTaken | AccountsError::Conflict(_) => ErrorKind::Conflict,
            AccountsError::Invalid(_) => ErrorKind::BadRequest,
            AccountsError::TooManyAttempts { retry_at_ms } => {
                return Self::new(ErrorKind::RateLimited, err.to_string())
                    .with_details(json!({ "resetAt": retry_at_ms }));
            }
            AccountsError::Busy => ErrorKind::Unavailable,
            AccountsError::Internal(cause) => return Self::internal(cause),
        };
        Self::new(kind, err.to_string())
    }
}

impl From<gantry_dispatch::DispatchError> for ApiError {
    fn from(err: gantry_dispatch::DispatchError) -> Self {
        use gantry_dispatch::DispatchError as E;
        let kind = match &err {
            E::InvalidWorkflow(_)
            | E::InvalidParams(_)
            | E::InvalidConfig(_)
            | E::FileNotFound(_)
            | E::ModelUnavailable(_) => ErrorKind::BadRequest,
            E::QueueFull(_) => ErrorKind::Unavailable,
            E::TooManyActive(_) => ErrorKind::RateLimited,
            E::TaskNotFound | E::InstanceNotFound | E::ServerNotFound => ErrorKind::NotFound,
            E::AlreadyFinished => ErrorKind::Conflict,
            E::PriorityNotAllowed => ErrorKind::Forbidden,
            E::Internal(cause) => return Self::internal(cause),
        };
        Self::new(kind, err.to_string())
    }
}

impl From<gantry_files::FilesError> for ApiError {
    fn from(err: gantry_files::FilesError) -> Self {
        use gantry_files::FilesError as E;
        let kind = match &err {
            E::NotFound => ErrorKind::NotFound,
            E::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            E::UnsupportedType => ErrorKind::UnsupportedMedia,
            E::Empty | E::BadEncoding(_) => ErrorKind::BadRequest,
            E::Io(cause) => return Self::internal(cause),
            E::Store(cause) => return Self::internal(cause),
        };
        Self::new(kind, err.to_string())
    }
}

impl From<gantry_generation::GenerationError> for ApiError {
    fn from(err: gantry_generation::GenerationError) -> Self {
        use gantry_generation::GenerationError as E;
        let kind = match &err {
            E::Invalid(_) => ErrorKind::BadRequest,
            E::ModelUnavailable(_) | E::Sensitive => ErrorKind::BadRequest,
            E::InsufficientBalance { .. } => ErrorKind::PaymentRequired,
            E::QueueFull | E::NoInstance => ErrorKind::Unavailable,
            E::ImageFormat => ErrorKind::UnsupportedMedia,
            E::ImageTooLarge(_) => ErrorKind::PayloadTooLarge,
            E::TaskNotFound => ErrorKind::NotFound,
            E::AlreadyFinished => ErrorKind::Conflict,
            E::Internal(cause) => return Self::internal(cause),
        };
        let error = Self::new(kind, err.to_string());
        match crate::dialects::star::codes::business_code(&err) {
            Some(code) => error.with_code(code),
            None => error,
        }
    }
}

impl From<gantry_generation::graphs::GraphRefused> for ApiError {
    fn from(err: gantry_generation::graphs::GraphRefused) -> Self {
        match err {
            gantry_generation::graphs::GraphRefused::Dispatch(e) => e.into(),
            // Graphs come through comfy-manager and vflow: no star-graph business code.
            gantry_generation::graphs::GraphRefused::Payment(e) => Self { code: None, ..e.into() },
        }
    }
}

impl From<gantry_ledger::LedgerError> for ApiError {
    fn from(err: gantry_ledger::LedgerError) -> Self {
        match err {
            gantry_ledger::LedgerError::InvalidAmount
            | gantry_ledger::LedgerError::BalanceTooLarge
            | gantry_ledger::LedgerError::InvalidText(_) => Self::bad_request(err.to_string()),
            other => gantry_generation::GenerationError::from(other).into(),
        }
    }
}
