//! The runtime's errors. Each maps onto the reason a kubelet reports (`CreateContainerError`,
//! `RunContainerError`, …) and says what was being done, so a pod event is enough to act on.

use crate::image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Image(#[from] ImageError),

    /// No such sandbox or container.
    #[error("{0} not found")]
    NotFound(String),

    /// The container is not running (it ended, or was never started).
    #[error("{0} is not running")]
    NotRunning(String),

    /// The container's configuration cannot be run (bad user, missing executable, …): the
    /// kubelet reports it as `CreateContainerError`.
    #[error("{0}")]
    InvalidConfig(String),

    /// The container process could not be started (`StartError`/`RunContainerError`).
    #[error("{0}")]
    Start(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },

    #[error("{0}")]
    Internal(String),
}

impl RuntimeError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            what: what.into(),
            source,
        }
    }
    pub fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        RuntimeError::Sys {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, RuntimeError>;
