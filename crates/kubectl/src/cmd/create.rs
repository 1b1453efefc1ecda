//! `kubectl create -f` and the generators (`create namespace|deployment|configmap|secret|
//! job|service`), which build an object from flags and POST it with the `kubectl-create`
//! field manager, or print it with `--dry-run=client`.

mod generators;
mod ordered;
mod sources;

use http::Method;

use crate::cmd::apply::{modified_configuration, LAST_APPLIED};
use crate::ctx::{Ctx, JSON};
use crate::error::{Error, Result};
use crate::manifest::{self, FileFlags};
use crate::printer::Output;
use crate::resource::Resolver;
use crate::write::{create_object, field_validation, report_errors, write_query, DryRun, Report};
use ordered::J;
use sources::{SourceFlags, Target};

/// Flags every form of `create` takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Common {
    /// Output format: json, yaml or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "unchanged")]
    pub dry_run: Option<String>,
    /// Must be one of: strict (or true), warn, ignore (or false).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "strict")]
    pub validate: Option<String>,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-create")]
    pub field_manager: String,
    /// If true, the configuration of current object will be saved in its annotation.
    #[arg(long)]
    pub save_config: bool,
    /// If true, keep the managedFields when printing objects in JSON or YAML format.
    #[arg(long)]
    pub show_managed_fields: bool,
}

#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub sub: Option<Sub>,
    #[command(flatten)]
    pub files: FileFlags,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Sub {
    /// Create a namespace with the specified name.
    #[command(visible_alias = "ns")]
    Namespace(NameArgs),
    /// Create a deployment with the specified name.
    #[command(visible_alias = "deploy")]
    Deployment(DeploymentArgs),
    /// Create a config map from a local file, directory or literal value.
    #[command(visible_alias = "cm")]
    Configmap(ConfigMapArgs),
    /// Create a secret using a specified subcommand.
    Secret {
        #[command(subcommand)]
        kind: SecretSub,
    },
    /// Create a job with the specified name.
    Job(JobArgs),
    /// Create a service using a specified subcommand.
    #[command(visible_alias = "svc")]
    Service {
        #[command(subcommand)]
        kind: ServiceSub,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct NameArgs {
    pub name: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DeploymentArgs {
    pub name: Vec<String>,
    /// Image names to run.
    #[arg(long)]
    pub image: Vec<String>,
    /// Number of replicas to create.
    #[arg(short = 'r', long, default_value_t = 1)]
    pub replicas: i64,
    /// The containerPort that this deployment exposes.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub port: i64,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConfigMapArgs {
    pub name: Vec<String>,
    #[command(flatten)]
    pub sources: SourceFlags,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum SecretSub {
    /// Create a secret from a local file, directory, or literal value.
    Generic {
        name: Vec<String>,
        #[command(flatten)]
        sources: SourceFlags,
        /// The type of secret to create.
        #[arg(long = "type", default_value = "")]
        secret_type: String,
        #[command(flatten)]
        common: Common,
    },
    /// Create a TLS secret.
    Tls {
        name: Vec<String>,
        /// Path to PEM encoded public key certificate.
        #[arg(long)]
        cert: Option<String>,
        /// Path to private key associated with given certificate.
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Create a secret for use with a Docker registry.
    DockerRegistry {
        name: Vec<String>,
        #[arg(long, default_value = "https://index.docker.io/v1/")]
        docker_server: String,
        #[arg(long, default_value = "")]
        docker_username: String,
        #[arg(long, default_value = "")]
        docker_password: String,
        #[arg(long, default_value = "")]
        docker_email: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    pub name: Vec<String>,
    /// Image name to run.
    #[arg(long)]
    pub image: Option<String>,
    /// The name of the resource to create a Job from (only cronjob is supported).
    #[arg(long)]
    pub from: Option<String>,
    #[arg(last = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    pub name: Vec<String>,
    /// Port pairs can be specified as '<port>:<targetPort>'.
    #[arg(long, value_delimiter = ',')]
    pub tcp: Vec<String>,
    /// Assign your own ClusterIP or set to 'None' for a 'headless' service (no loadbalancing).
    #[arg(long)]
    pub clusterip: Option<String>,
    /// Port used to expose the service on each node in a cluster.
    #[arg(long)]
    pub node_port: Option<i64>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ServiceSub {
    /// Create a ClusterIP service.
    Clusterip(ServiceArgs),
    /// Create a NodePort service.
    Nodeport(ServiceArgs),
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let Some(sub) = &a.sub else {
        return from_files(ctx, a).await;
    };
    // The namespace is written into generated objects only when given with -n.
    let ns = ctx.namespace_explicit().then_some(ctx.namespace.as_str());
    match sub {
        Sub::Namespace(n) => {
            let name = one_name("create namespace", &n.name)?;
            send(ctx, &n.common, generators::namespace(name), "").await
        }
        Sub::Deployment(d) => {
            if d.image.is_empty() {
                return Err(Error::client("required flag(s) \"image\" not set"));
            }
            let name = one_name("create deployment", &d.name)?;
            let port = (d.port >= 0).then_some(d.port);
            let j = generators::deployment(name, ns, &d.image, d.replicas, port);
            send(ctx, &d.common, j, "failed to create deployment: ").await
        }
        Sub::Configmap(c) => {
            let name = one_name("create configmap", &c.name)?;
            let t = Target {
                kind: "ConfigMap",
                name,
            };
            let data = sources::collect(&c.sources, &t)?;
            let j = generators::configmap(name, ns, &data);
            send(ctx, &c.common, j, "failed to create configmap: ").await
        }
        Sub::Secret { kind } => secret(ctx, ns, kind).await,
        Sub::Job(j) => job(ctx, ns, j).await,
        Sub::Service { kind } => {
            let (s, t, cmd, wrap) = match kind {
                ServiceSub::Clusterip(s) => (
                    s,
                    "ClusterIP",
                    "create service clusterip",
                    "failed to create ClusterIP service: ",
                ),
                ServiceSub::Nodeport(s) => (
                    s,
                    "NodePort",
                    "create service nodeport",
                    "failed to create NodePort service: ",
                ),
            };
            let name = one_name(cmd, &s.name)?;
            if s.tcp.is_empty() && s.clusterip.as_deref() != Some("None") {
                return Err(Error::client(
                    "at least one tcp port specifier must be provided",
                ));
            }
            let j = generators::service(name, ns, t, &s.tcp, s.clusterip.as_deref(), s.node_port)?;
            send(ctx, &s.common, j, wrap).await
        }
    }
}

fn one_name<'a>(command: &str, names: &'a [String]) -> Result<&'a str> {
    match names {
        [n] => Ok(n),
        _ => Err(Error::usage(
            command,
            format!("exactly one NAME is required, got {}", names.len()),
        )),
    }
}

async fn secret(ctx: &Ctx, ns: Option<&str>, kind: &SecretSub) -> Result<()> {
    match kind {
        SecretSub::Generic {
            name,
            sources: src,
            secret_type,
            common,
        } => {
            let name = one_name("create secret generic", name)?;
            let t = Target {
                kind: "Secret",
                name,
            };
            let data = sources::collect(src, &t)?;
            let j = generators::secret(name, ns, &data, secret_type);
            send(ctx, common, j, SECRET_WRAP).await
        }
        SecretSub::Tls {
            name,
            cert,
            key,
            common,
        } => {
            let name = one_name("create secret tls", name)?;
            let (Some(cert), Some(key)) = (cert, key) else {
                return Err(Error::client("key and cert must be specified"));
            };
            let cert_pem =
                std::fs::read(cert).map_err(|e| Error::client(format!("open {cert}: {e}")))?;
            let key_pem =
                std::fs::read(key).map_err(|e| Error::client(format!("open {key}: {e}")))?;
            if !String::from_utf8_lossy(&cert_pem).contains("-----BEGIN") {
                return Err(Error::client(
                    "tls: failed to find any PEM data in certificate input",
                ));
            }
            if !String::from_utf8_lossy(&key_pem).contains("-----BEGIN") {
                return Err(Error::client(
                    "tls: failed to find any PEM data in key input",
                ));
            }
            let mut data = sources::Data::new();
            data.insert("tls.crt".into(), cert_pem);
            data.insert("tls.key".into(), key_pem);
            let j = generators::secret(name, ns, &data, "kubernetes.io/tls");
            send(ctx, common, j, SECRET_WRAP).await
        }
        SecretSub::DockerRegistry {
            name,
            docker_server,
            docker_username,
            docker_password,
            docker_email,
            common,
        } => {
            let name = one_name("create secret docker-registry", name)?;
            if docker_username.is_empty() || docker_password.is_empty() {
                return Err(Error::client(
                    "missing required flag: docker-username and docker-password must be specified",
                ));
            }
            let mut data = sources::Data::new();
            data.insert(
                ".dockerconfigjson".into(),
                generators::docker_config(
                    docker_server,
                    docker_username,
                    docker_password,
                    docker_email,
                ),
            );
            let j = generators::secret(name, ns, &data, "kubernetes.io/dockerconfigjson");
            send(ctx, common, j, SECRET_WRAP).await
        }
    }
}

async fn job(ctx: &Ctx, ns: Option<&str>, a: &JobArgs) -> Result<()> {
    let name = one_name("create job", &a.name)?;
    let j = match (&a.image, &a.from) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Error::client("either --image or --from must be specified"))
        }
        (Some(image), None) => generators::job(name, ns, image, &a.command),
        (None, Some(from)) => {
            let (kind, from_name) = from.split_once('/').unwrap_or((from.as_str(), ""));
            let mut resolver = Resolver::new();
            let rt = resolver.resolve(ctx, kind).await?;
            let cronjob = ctx
                .get_json(&rt.object_path(&ctx.namespace, from_name))
                .await?;
            if rt.kind != "CronJob" {
                // kubectl names the Go type it decoded.
                return Err(Error::client(format!(
                    "unknown object type *{}.{}",
                    rt.version, rt.kind
                )));
            }
            generators::job_from_cronjob(name, ns, &cronjob)
        }
    };
    send(ctx, &a.common, j, "failed to create job: ").await
}

/// kubectl's prefix for a refused secret (without a colon, as it prints it).
const SECRET_WRAP: &str = "failed to create secret ";

/// Sends (or, with `--dry-run=client`, only prints) one generated object. A refusal is
/// printed as `error: <wrap><server message>` when the generator wraps it (all but
/// namespace do).
async fn send(ctx: &Ctx, c: &Common, mut j: J, wrap: &str) -> Result<()> {
    let dry_run = DryRun::parse(c.dry_run.as_deref())?;
    let validation = field_validation(c.validate.as_deref())?;
    if c.save_config {
        // The typed object's own JSON (field order, no empty annotations map).
        let text = format!("{}\n", j.to_json_compact());
        j.annotate(LAST_APPLIED, &text);
    }
    let obj = j.to_value();
    let mut report =
        Report::new(c.output.as_deref(), dry_run)?.show_managed_fields(c.show_managed_fields);
    if dry_run == DryRun::Client {
        // Generated objects print in their Go field order.
        if Output::parse(c.output.as_deref())? == Output::Json {
            print!("{}", j.to_json_pretty());
            return Ok(());
        }
        report.object(&obj, "created");
        return report.finish();
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let mut resolver = Resolver::new();
    let rt = resolver
        .resolve_kind(ctx, &api_version, &kind)
        .await?
        .ok_or_else(|| {
            Error::client(format!(
                "no matches for kind \"{kind}\" in version \"{api_version}\""
            ))
        })?;
    let query = write_query(&c.field_manager, Some(validation), dry_run, &[]);
    let created = ctx
        .send_json(
            Method::POST,
            &format!("{}{query}", rt.collection_path(Some(&ctx.namespace))),
            JSON,
            &obj,
        )
        .await
        .map_err(|e| match e {
            Error::Server(s) if !wrap.is_empty() => Error::client(format!("{wrap}{}", s.message)),
            other => other,
        })?;
    report.object(&created, "created");
    report.finish()
}

/// `create -f`: every object of the manifests, reporting each failure and going on.
async fn from_files(ctx: &Ctx, a: &Args) -> Result<()> {
    let c = &a.common;
    if a.files.filename.is_empty() {
        return Err(Error::client("must specify one of -f and -k"));
    }
    let dry_run = DryRun::parse(c.dry_run.as_deref())?;
    let validation = field_validation(c.validate.as_deref())?;
    let mut report =
        Report::new(c.output.as_deref(), dry_run)?.show_managed_fields(c.show_managed_fields);
    let (infos, mut errors) = manifest::read_lenient(ctx, &a.files, "create").await?;
    let query = write_query(&c.field_manager, Some(validation), dry_run, &[]);
    for info in infos {
        let mut obj = info.obj.clone();
        if c.save_config {
            obj = modified_configuration(&obj)?;
        }
        match create_object(ctx, &info, obj, dry_run, &query).await {
            Ok(created) => report.object(&created, "created"),
            Err(e) => errors.push(e),
        }
    }
    report.finish()?;
    report_errors(errors)
}

/// `kind.group/name` of a generated object, for tests.
#[cfg(test)]
fn generated_name(j: &J) -> String {
    crate::printer::name_of(&j.to_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_objects_are_named_like_kubectl() {
        assert_eq!(generated_name(&generators::namespace("x")), "namespace/x");
        let d = generators::deployment("web", None, &["nginx".into()], 1, None);
        assert_eq!(generated_name(&d), "deployment.apps/web");
        assert_eq!(
            generated_name(&generators::job("j", None, "busybox", &[])),
            "job.batch/j"
        );
        let v = d.to_value();
        assert_eq!(v["spec"]["strategy"], serde_json::json!({}));
    }
}
