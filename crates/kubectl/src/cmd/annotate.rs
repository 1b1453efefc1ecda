//! `kubectl annotate`: adds, changes or removes annotations (see [`super::meta_edit`]).

use super::meta_edit::{self, Field, Options};
use crate::ctx::Ctx;
use crate::error::Result;

#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    mut_arg("overwrite", |a| a.help("If true, allow annotations to be overwritten, otherwise reject updates that overwrite existing annotations")),
    mut_arg("list", |a| a.help("If true, display the annotations for a given resource")),
    mut_arg("resource_version", |a| a.help("If non-empty, the annotation update will only succeed if this is the current resource-version for the object")),
)]
pub struct Args {
    #[command(flatten)]
    pub options: Options,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    meta_edit::run(ctx, Field::Annotations, &a.options).await
}
