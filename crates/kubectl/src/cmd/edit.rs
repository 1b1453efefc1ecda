//! `kubectl edit`.

use crate::ctx::Ctx;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub async fn run(_ctx: &Ctx, _a: &Args) -> Result<()> {
    Err(Error::client(
        "kubectl edit is not implemented in rkube yet",
    ))
}
