//! API errors: a status code, a stable machine code and the text the CLI would print (without
//! the command hint the CLI adds).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shmbus::{CandleError, JournalError, ReadError, RegionError, SlotError, SlotReadError};

/// An error answered as `{"error": TEXT, "code": CODE}` with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`not_found`, `bad_query`, `wrong_kind`, ...).
    pub code: &'static str,
    /// What failed, on what, and what to do (the CLI's text for the same error, without its
    /// command hint).
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and text.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `bad_query`.
    pub fn bad_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_query", message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": self.message, "code": self.code })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

fn region_status(e: &RegionError) -> (StatusCode, &'static str) {
    match e {
        RegionError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        RegionError::InvalidName { .. } => (StatusCode::BAD_REQUEST, "invalid_name"),
        RegionError::KindMismatch { .. } | RegionError::LayoutMismatch { .. } => {
            (StatusCode::CONFLICT, "wrong_kind")
        }
        RegionError::BadMagic { .. } | RegionError::VersionMismatch { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "not_a_region")
        }
        RegionError::Truncated { .. }
        | RegionError::SizeMismatch { .. }
        | RegionError::Corrupt { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "corrupt"),
        RegionError::NotReady { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
        RegionError::ForeignOwner { .. } | RegionError::PermissionDenied { .. } => {
            (StatusCode::FORBIDDEN, "forbidden")
        }
        RegionError::Symlink { .. } | RegionError::NotRegularFile { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "not_a_region")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl From<RegionError> for ApiError {
    fn from(e: RegionError) -> Self {
        let (status, code) = region_status(&e);
        Self::new(status, code, e.to_string())
    }
}

impl From<SlotError> for ApiError {
    fn from(e: SlotError) -> Self {
        let (status, code) = match &e {
            SlotError::Region(r) => region_status(r),
            SlotError::UnknownKey { .. } => (StatusCode::NOT_FOUND, "unknown_symbol"),
            SlotError::InvalidKey { .. } => (StatusCode::BAD_REQUEST, "invalid_symbol"),
            SlotError::WriterDied { .. } | SlotError::Busy { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "busy")
            }
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "corrupt"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<SlotReadError> for ApiError {
    fn from(e: SlotReadError) -> Self {
        SlotError::from(e).into()
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        JournalError::from(e).into()
    }
}

impl From<JournalError> for ApiError {
    fn from(e: JournalError) -> Self {
        let (status, code) = match &e {
            JournalError::Region(r) => region_status(r),
            JournalError::NotYet { .. } => (StatusCode::BAD_REQUEST, "not_yet"),
            JournalError::TooOld { .. } => (StatusCode::GONE, "too_old"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "corrupt"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<CandleError> for ApiError {
    fn from(e: CandleError) -> Self {
        let (status, code) = match &e {
            CandleError::Region { error } => region_status(error),
            CandleError::InvalidName { .. } => (StatusCode::BAD_REQUEST, "invalid_series"),
            CandleError::NotFound { .. } => (StatusCode::NOT_FOUND, "unknown_series"),
            CandleError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "corrupt"),
        };
        Self::new(status, code, e.to_string())
    }
}
