//! Errors as kubectl prints them, with kubectl's exit codes.
//!
//! kubectl distinguishes three shapes: a `Status` from the server
//! (`Error from server (NotFound): pods "x" not found`), a client-side failure
//! (`error: …`), and a usage mistake, which adds the `See 'kubectl … -h'` hint. All exit 1;
//! `exec` passes the remote command's own exit code through.

use serde::Deserialize;

/// A `metav1.Status` as far as error printing needs it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct StatusError {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused: printed as `Error from server (Reason): message`.
    #[error("{}", server_line(.0))]
    Server(StatusError),
    /// A client-side failure: printed as `error: message`.
    #[error("error: {0}")]
    Client(String),
    /// A usage mistake: `error: message` plus the help hint for the command.
    #[error("error: {message}\nSee 'kubectl {command} -h' for help and examples")]
    Usage { message: String, command: String },
    /// Already printed (for example per-object errors of a multi-object command); only the
    /// exit code is left.
    #[error("")]
    Silent(u8),
}

fn server_line(s: &StatusError) -> String {
    if s.reason == "Invalid" {
        return invalid_lines(s);
    }
    if s.reason.is_empty() {
        format!("Error from server: {}", s.message)
    } else {
        format!("Error from server ({}): {}", s.reason, s.message)
    }
}

/// kubectl's wording for a 422 Invalid: `The Kind "name" is invalid: field: message`, one
/// `* field: message` line per cause when there are several.
fn invalid_lines(s: &StatusError) -> String {
    let Some(d) = s.details.as_ref().filter(|d| d.is_object()) else {
        return format!("The request is invalid: {}", s.message);
    };
    let kind = d["kind"].as_str().unwrap_or_default();
    let name = d["name"].as_str().unwrap_or_default();
    let causes: Vec<String> = d["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}: {}",
                c["field"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let head = if !kind.is_empty() || !name.is_empty() {
        format!("The {kind} \"{name}\" is invalid")
    } else {
        "The request is invalid".to_string()
    };
    match causes.as_slice() {
        [] => head,
        [one] => format!("{head}: {one}"),
        many => format!(
            "{head}: \n{}",
            many.iter()
                .map(|c| format!("* {c}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

impl Error {
    pub fn client(msg: impl Into<String>) -> Self {
        Error::Client(msg.into())
    }

    pub fn usage(command: &str, msg: impl Into<String>) -> Self {
        Error::Usage {
            message: msg.into(),
            command: command.to_string(),
        }
    }

    /// The process exit code kubectl uses for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Silent(code) => *code,
            _ => 1,
        }
    }

    /// Whether the server said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Server(s) if s.code == 404 || s.reason == "NotFound")
    }

    /// Whether the server said the object exists already.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::Server(s) if s.reason == "AlreadyExists")
    }

    /// Whether the write lost a race (409 Conflict).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Server(s) if s.code == 409 && s.reason == "Conflict")
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Client(format!("{e:#}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Client(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Client(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_print_as_kubectl() {
        let e = Error::Server(StatusError {
            reason: "NotFound".into(),
            message: "deployments.apps \"x\" not found".into(),
            code: 404,
            details: None,
        });
        assert_eq!(
            e.to_string(),
            "Error from server (NotFound): deployments.apps \"x\" not found"
        );
        assert!(e.is_not_found());
        let e = Error::Server(StatusError {
            message: "boom".into(),
            code: 500,
            ..Default::default()
        });
        assert_eq!(e.to_string(), "Error from server: boom");
        let invalid = |details| {
            Error::Server(StatusError {
                reason: "Invalid".into(),
                message: "Pod \"p\" is invalid: ...".into(),
                code: 422,
                details,
            })
            .to_string()
        };
        assert_eq!(
            invalid(Some(
                serde_json::json!({"kind": "Pod", "name": "p", "causes": [
                {"field": "spec.containers[0].image", "message": "Required value"}]})
            )),
            "The Pod \"p\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(
            invalid(Some(
                serde_json::json!({"kind": "Pod", "name": "p", "causes": [
                {"field": "a", "message": "x"}, {"field": "b", "message": "y"}]})
            )),
            "The Pod \"p\" is invalid: \n* a: x\n* b: y"
        );
        assert_eq!(
            invalid(None),
            "The request is invalid: Pod \"p\" is invalid: ..."
        );
        assert_eq!(
            Error::usage("get", "bad").to_string(),
            "error: bad\nSee 'kubectl get -h' for help and examples"
        );
    }
}
