//! `kubectl config`.

use crate::cli::GlobalFlags;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_flags: &GlobalFlags, _a: &Args) -> Result<()> {
    Err(Error::client(
        "kubectl config is not implemented in rkube yet",
    ))
}
