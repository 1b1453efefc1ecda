//! The three PATCH flavours the API server accepts, plus the error type the handler maps
//! onto an HTTP status.
//!
//! * [`json_patch`] — `application/json-patch+json` (RFC 6902).
//! * [`merge_patch`] — `application/merge-patch+json` (RFC 7386).
//! * [`strategic`] — `application/strategic-merge-patch+json`, driven by [`schema`].

pub mod json_patch;
pub mod merge_patch;
pub mod schema;
mod schema_table;
pub mod strategic;

mod gofmt;

/// Why a patch could not be applied, classified the way the upstream API server answers.
///
/// Upstream sends different status codes depending on where a patch fails; keeping the
/// class here lets the handler build the same `Status` without re-parsing messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400: the patch body is not of the expected shape (not JSON of the right type, a
    /// malformed directive such as `$retainKeys`, ...).
    #[error("{0}")]
    BadRequest(String),
    /// 413: more JSON patch operations than the server allows.
    #[error("{0}")]
    TooLarge(String),
    /// 415: strategic merge patch on a kind without built-in patch metadata (custom
    /// resources); upstream rejects the content type itself.
    #[error("{message}")]
    UnsupportedMediaType {
        /// Upstream's text, listing the patch types that are accepted.
        message: String,
    },
    /// 422: the patch is well formed but does not apply to this object (a JSON patch
    /// `test` failed, a path is missing, ...).
    #[error("{0}")]
    Unprocessable(String),
    /// 500: upstream returns these strategic-merge failures as plain errors (e.g. a list
    /// item without its merge key), which the server reports as internal errors.
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    /// HTTP status code upstream answers with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::TooLarge(_) => 413,
            PatchError::UnsupportedMediaType { .. } => 415,
            PatchError::Unprocessable(_) => 422,
            PatchError::Internal(_) => 500,
        }
    }

    /// `Status.reason` upstream puts in the response (`""` is `StatusReasonUnknown`).
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::TooLarge(_) => "RequestEntityTooLarge",
            PatchError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            PatchError::Unprocessable(_) => "Invalid",
            PatchError::Internal(_) => "",
        }
    }

    /// `Status.message` exactly as upstream sends it.
    ///
    /// For 422 upstream builds a generic server response and drops the detail, so clients
    /// (kubectl) print "the server rejected our request due to an error in our request";
    /// [`Display`](std::fmt::Display) keeps the detailed text for logs.
    pub fn status_message(&self) -> String {
        match self {
            PatchError::Unprocessable(_) => {
                "the server rejected our request due to an error in our request".to_string()
            }
            other => other.to_string(),
        }
    }
}
