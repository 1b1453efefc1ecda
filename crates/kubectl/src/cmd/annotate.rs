//! `kubectl annotate`: adds, changes or removes annotations (see [`super::meta_edit`]).

use super::meta_edit::{self, Field, Options};
use crate::ctx::Ctx;
use crate::error::Result;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// TYPE NAME | TYPE/NAME, then KEY_1=VAL_1 ... KEY_N=VAL_N or KEY-.
    pub args: Vec<String>,
    /// If true, allow annotations to be overwritten, otherwise reject updates that overwrite existing annotations.
    #[arg(long)]
    pub overwrite: bool,
    /// If true, display the annotations for a given resource.
    #[arg(long)]
    pub list: bool,
    /// Select all resources, in the namespace of the specified resource types.
    #[arg(long)]
    pub all: bool,
    /// If true, check the specified action in all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Selector (field query) to filter on.
    #[arg(long)]
    pub field_selector: Option<String>,
    /// If non-empty, the annotation update will only succeed if this is the current resource-version for the object.
    #[arg(long)]
    pub resource_version: Option<String>,
    /// Output format: json, yaml, name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<String>,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let o = Options {
        args: a.args.clone(),
        overwrite: a.overwrite,
        list: a.list,
        all: a.all,
        all_namespaces: a.all_namespaces,
        selector: a.selector.clone(),
        field_selector: a.field_selector.clone(),
        resource_version: a.resource_version.clone(),
        output: a.output.clone(),
        dry_run: a.dry_run.clone(),
    };
    meta_edit::run(ctx, Field::Annotations, &o).await
}
