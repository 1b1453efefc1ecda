//! `kubectl run`: creates a single-container pod from flags (kubectl's `run-pod/v1`
//! generator), optionally attaches to it (`-i`, `--attach`), reports its exit code and
//! deletes it again (`--rm`).

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Map, Value};

use crate::ctx::{query_escape, Ctx, JSON};
use crate::error::{Error, Result};
use crate::printer::{self, Output};

mod image;
use image::valid_image_reference;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// NAME, then optional arguments for the container.
    pub args: Vec<String>,
    /// The command (with --command) or arguments, after `--`.
    #[arg(last = true)]
    pub rest: Vec<String>,
    /// The image for the container to run.
    #[arg(long)]
    pub image: Option<String>,
    /// The image pull policy for the container.
    #[arg(long)]
    pub image_pull_policy: Option<String>,
    /// If true, delete the pod after it exits (only with --attach or -i).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub rm: bool,
    /// Environment variables to set in the container.
    #[arg(long)]
    pub env: Vec<String>,
    /// The port that this container exposes.
    #[arg(long)]
    pub port: Option<String>,
    /// The dry run strategy: none, server or client.
    #[arg(long, default_value = "none", num_args = 0..=1, require_equals = true, default_missing_value = "unchanged")]
    pub dry_run: String,
    /// Comma separated labels to apply to the pod.
    #[arg(short = 'l', long)]
    pub labels: Option<String>,
    /// Keep stdin open on the container in the pod, even if nothing is attached.
    #[arg(short = 'i', long = "stdin", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub stdin: bool,
    /// Allocate a TTY for the container in the pod.
    #[arg(short = 't', long = "tty", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub tty: bool,
    /// Wait for the pod to start running, then attach to it (default with -i).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub attach: Option<bool>,
    /// Leave stdin open after the first attach completes.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub leave_stdin_open: bool,
    /// The restart policy for this pod: Always, OnFailure or Never.
    #[arg(long)]
    pub restart: Option<String>,
    /// Use the extra arguments as the container's command rather than its args.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub command: bool,
    /// Suppress prompt messages.
    #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub quiet: bool,
    /// Run the container in privileged mode.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub privileged: bool,
    /// Annotations to apply to the pod.
    #[arg(long)]
    pub annotations: Vec<String>,
    /// An inline JSON override for the generated object.
    #[arg(long)]
    pub overrides: Option<String>,
    /// The method used to override the generated object: json, merge, or strategic.
    #[arg(long, default_value = "merge")]
    pub override_type: String,
    /// Name of the manager used to track field ownership.
    #[arg(long, default_value = "kubectl-run")]
    pub field_manager: String,
    /// Create a ClusterIP service for the pod (needs --port).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value = "false")]
    pub expose: bool,
    /// Output format: json, yaml or name.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// The length of time to wait until the pod is running.
    #[arg(long, default_value = "1m0s")]
    pub pod_running_timeout: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DryRun {
    None,
    Client,
    Server,
}

pub async fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let Some(image) = a.image.clone() else {
        return Err(Error::client("required flag(s) \"image\" not set"));
    };
    let Some(name) = a.args.first().cloned() else {
        return Err(Error::usage("run", "NAME is required for run"));
    };
    let dry_run = match a.dry_run.as_str() {
        "none" => DryRun::None,
        "client" => DryRun::Client,
        "unchanged" => {
            eprintln!(
                "{}",
                deprecation_warning(
                    "--dry-run is deprecated and can be replaced with --dry-run=client."
                )
            );
            DryRun::Client
        }
        "server" => DryRun::Server,
        other => {
            return Err(Error::client(format!(
                "Invalid dry-run value ({other}). Must be \"none\", \"server\", or \"client\"."
            )))
        }
    };
    let output = printer::Output::parse(a.output.as_deref())?;
    if matches!(output, Output::Wide | Output::CustomColumns(_)) {
        return Err(Error::client(format!(
            "unable to match a printer suitable for the output format \"{}\", allowed formats are: go-template,go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,templatefile,yaml",
            a.output.as_deref().unwrap_or_default()
        )));
    }
    if image.is_empty() {
        return Err(Error::usage("run", "--image is required"));
    }
    if !valid_image_reference(&image) {
        return Err(Error::client(format!(
            "Invalid image name \"{image}\": invalid reference format"
        )));
    }
    if a.tty && !a.stdin {
        return Err(Error::usage(
            "run",
            "-i/--stdin is required for containers with -t/--tty=true",
        ));
    }
    if a.expose && a.port.as_deref().unwrap_or("").is_empty() {
        return Err(Error::usage(
            "run",
            "--port must be set when exposing a service",
        ));
    }
    // kubectl's flag defaults to Always, so `-i` alone keeps Always too.
    let restart = match a.restart.as_deref().unwrap_or("Always") {
        "" if a.stdin => "OnFailure",
        "" | "Always" => "Always",
        "OnFailure" => "OnFailure",
        "Never" => "Never",
        other => {
            return Err(Error::usage(
                "run",
                format!("invalid restart policy: {other}"),
            ))
        }
    };
    let attach = a.attach.unwrap_or(a.stdin);
    if !attach && a.rm {
        return Err(Error::usage(
            "run",
            "--rm should only be used for attached containers",
        ));
    }
    if attach && dry_run != DryRun::None {
        return Err(Error::usage(
            "run",
            "--dry-run=[server|client] can't be used with attached containers options (--attach, --stdin, or --tty)",
        ));
    }
    if let Some(p) = a.image_pull_policy.as_deref() {
        if !matches!(p, "" | "Always" | "IfNotPresent" | "Never") {
            return Err(Error::usage(
                "run",
                format!("invalid image pull policy: {p}"),
            ));
        }
    }
    let timeout = super::exec::pod_running_timeout(&a.pod_running_timeout, "run")?;

    let container_args: Vec<String> = a.args[1..].iter().chain(a.rest.iter()).cloned().collect();
    let mut pod = generate_pod(a, &name, &image, restart, &container_args)?;
    if let Some(o) = a.overrides.as_deref() {
        pod = apply_overrides(pod, o, &a.override_type)?;
        // kubectl decodes the result into a typed Pod, which always has `resources`.
        if let Some(cs) = pod["spec"]["containers"].as_array_mut() {
            for c in cs.iter_mut().filter(|c| c.get("resources").is_none()) {
                c["resources"] = json!({});
            }
        }
    }

    let created = create(ctx, a, "pods", pod, dry_run).await?;
    let mut service_error = None;
    if a.expose {
        let svc = generate_service(a, &name)?;
        match create(ctx, a, "services", svc, dry_run).await {
            Ok(svc) => {
                print_created(&svc, &output, dry_run, false)?;
                if matches!(output, Output::Yaml) {
                    println!("---");
                }
            }
            Err(e) => service_error = Some(e),
        }
    }
    if !attach {
        print_created(&created, &output, dry_run, a.expose)?;
        return service_error.map_or(Ok(()), Err);
    }
    let result = attach_and_wait(ctx, a, &created, restart, timeout).await;
    // --rm deletes before the outcome is reported, as kubectl's deferred cleanup does.
    if a.rm {
        delete_pod(ctx, &created, a.quiet).await?;
    }
    match result? {
        Some((msg, code)) => {
            eprintln!("{}", msg.strip_suffix('\n').unwrap_or(&msg));
            Err(Error::Silent(code))
        }
        None => Ok(()),
    }
}

/// A warning line in klog's format, as kubectl logs it (`W1121 09:09:34.459569   123 …]`).
fn deprecation_warning(msg: &str) -> String {
    let now = jiff::Zoned::now();
    format!(
        "W{} {:>7} helpers.go:703] {msg}",
        now.strftime("%m%d %H:%M:%S%.6f"),
        std::process::id()
    )
}

/// The `run-pod/v1` generator: one container named after the pod, `run=NAME` labels
/// unless `--labels`, and the flags' settings.
fn generate_pod(
    a: &Args,
    name: &str,
    image: &str,
    restart: &str,
    args: &[String],
) -> Result<Value> {
    let labels = match a.labels.as_deref().filter(|l| !l.is_empty()) {
        Some(l) => parse_pairs(l.split(','), "labels")?,
        None => Map::from_iter([("run".to_string(), json!(name))]),
    };
    let mut metadata = json!({"name": name, "creationTimestamp": null, "labels": labels});
    if !a.annotations.is_empty() {
        metadata["annotations"] = Value::Object(parse_pairs(
            a.annotations.iter().map(String::as_str),
            "annotations",
        )?);
    }
    let mut container = json!({"name": name, "image": image, "resources": {}});
    if !args.is_empty() {
        let key = if a.command { "command" } else { "args" };
        container[key] = json!(args);
    }
    if let Some(p) = a.port.as_deref().filter(|p| !p.is_empty()) {
        let port: i32 = p
            .parse()
            .map_err(|_| Error::client(format!("strconv.Atoi: parsing \"{p}\": invalid syntax")))?;
        if port > 0 {
            container["ports"] = json!([{"containerPort": port}]);
        }
    }
    if !a.env.is_empty() {
        let mut env = Vec::new();
        for e in &a.env {
            let Some((k, v)) = e.split_once('=') else {
                return Err(Error::client(format!("invalid env: {e}")));
            };
            env.push(json!({"name": k, "value": v}));
        }
        container["env"] = json!(env);
    }
    if let Some(p) = a.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
        container["imagePullPolicy"] = json!(p);
    }
    if a.privileged {
        container["securityContext"] = json!({"privileged": true});
    }
    if a.stdin {
        container["stdin"] = json!(true);
        if !a.leave_stdin_open {
            container["stdinOnce"] = json!(true);
        }
    }
    if a.tty {
        container["tty"] = json!(true);
    }
    Ok(json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": metadata,
        "spec": {
            "containers": [container],
            "restartPolicy": restart,
            "dnsPolicy": "ClusterFirst",
        },
        "status": {},
    }))
}

/// `key=value` pairs (labels, annotations) into a map.
fn parse_pairs<'a>(items: impl Iterator<Item = &'a str>, what: &str) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for item in items {
        let Some((k, v)) = item.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Error::client(if what == "labels" {
                format!("unexpected label spec: {item}")
            } else {
                format!("invalid {what} format: {item}")
            }));
        };
        m.insert(k.to_string(), json!(v));
    }
    Ok(m)
}

/// `--overrides` as a JSON merge patch (the default `--override-type=merge`).
fn apply_overrides(pod: Value, overrides: &str, kind: &str) -> Result<Value> {
    let patch: Value =
        serde_json::from_str(overrides).map_err(|_| Error::client("Invalid JSON Patch"))?;
    match kind {
        "merge" | "strategic" => Ok(merge_patch(pod, &patch)),
        other => Err(Error::client(format!(
            "--override-type={other} is not supported by rkube kubectl (use merge)"
        ))),
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(mut target: Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    if !target.is_object() {
        target = Value::Object(Map::new());
    }
    if let Value::Object(t) = &mut target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                let cur = t.remove(k).unwrap_or(Value::Null);
                t.insert(k.clone(), merge_patch(cur, v));
            }
        }
    }
    target
}

/// Creates `obj` (or only pretends to, for `--dry-run`).
async fn create(
    ctx: &Ctx,
    a: &Args,
    plural: &str,
    mut obj: Value,
    dry_run: DryRun,
) -> Result<Value> {
    if dry_run == DryRun::Client {
        if ctx.namespace_explicit() {
            obj["metadata"]["namespace"] = json!(ctx.namespace);
        }
        return Ok(obj);
    }
    let mut path = format!(
        "/api/v1/namespaces/{}/{plural}?fieldManager={}",
        ctx.namespace,
        query_escape(&a.field_manager)
    );
    if dry_run == DryRun::Server {
        path.push_str("&dryRun=All");
    }
    ctx.send_json(Method::POST, &path, JSON, &obj).await
}

/// `--expose`: the `service/v2` generator's ClusterIP service in front of the pod.
fn generate_service(a: &Args, name: &str) -> Result<Value> {
    let port_text = a.port.as_deref().unwrap_or_default();
    let port: i64 = port_text.parse().map_err(|_| {
        Error::client(format!(
            "strconv.Atoi: parsing \"{port_text}\": invalid syntax"
        ))
    })?;
    let mut metadata = json!({"name": name, "creationTimestamp": null});
    let selector = match a.labels.as_deref().filter(|l| !l.is_empty()) {
        Some(l) => {
            let labels = parse_pairs(l.split(','), "labels")?;
            metadata["labels"] = Value::Object(labels.clone());
            labels
        }
        None => Map::from_iter([("run".to_string(), json!(name))]),
    };
    Ok(json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": metadata,
        "spec": {
            "ports": [{"protocol": "TCP", "port": port, "targetPort": port}],
            "selector": selector,
        },
        "status": {"loadBalancer": {}},
    }))
}

/// Prints what was created; `after_another` gives YAML the document separator kubectl's
/// printer writes before every object but the first.
fn print_created(obj: &Value, output: &Output, dry_run: DryRun, after_another: bool) -> Result<()> {
    if after_another && matches!(output, Output::Yaml) {
        println!("---");
    }
    match output {
        Output::Table | Output::Wide => {
            let suffix = match dry_run {
                DryRun::None => "",
                DryRun::Client => " (dry run)",
                DryRun::Server => " (server dry run)",
            };
            println!("{} created{suffix}", printer::name_of(obj));
            Ok(())
        }
        _ => {
            let mut text = String::new();
            super::get::print_objects(output, vec![obj.clone()], true, &mut text)?;
            print!("{text}");
            Ok(())
        }
    }
}

/// Attaches once the pod runs (or prints its log if it finished first), then waits for
/// its end when the restart policy lets it end. A failed container comes back as the
/// message and exit code to report (after `--rm` has cleaned up).
async fn attach_and_wait(
    ctx: &Ctx,
    a: &Args,
    pod: &Value,
    restart: &str,
    timeout: Duration,
) -> Result<Option<(String, u8)>> {
    let ns = crate::pods::namespace(pod).to_string();
    let name = crate::pods::name(pod).to_string();
    let running = wait_for_pod(ctx, &ns, &name, timeout, |p| {
        let phase = crate::pods::pod_phase(p);
        phase == "Succeeded"
            || phase == "Failed"
            || (phase == "Running"
                && p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                }))
    })
    .await?;
    let phase = crate::pods::pod_phase(&running);
    if phase == "Succeeded" || phase == "Failed" {
        print_log(ctx, &ns, &name).await?;
    } else if let Err(e) =
        super::attach::attach_to(ctx, &running, None, a.stdin, a.tty, a.quiet).await
    {
        eprintln!(
            "warning: couldn't attach to pod/{name}, falling back to streaming logs: {}",
            e.to_string().trim_start_matches("error: ")
        );
        print_log(ctx, &ns, &name).await?;
    }
    let wait_for_exit = !a.leave_stdin_open && (restart == "Never" || restart == "OnFailure");
    if !wait_for_exit {
        return Ok(None);
    }
    let on_failure = restart == "OnFailure";
    let done = wait_for_pod(ctx, &ns, &name, timeout, |p| {
        let phase = crate::pods::pod_phase(p);
        phase == "Succeeded" || (!on_failure && phase == "Failed")
    })
    .await?;
    match crate::pods::pod_phase(&done) {
        "Succeeded" => Ok(None),
        "Failed" => {
            let terminated = &done["status"]["containerStatuses"][0]["state"]["terminated"];
            let code = terminated["exitCode"].as_i64().unwrap_or(0);
            if terminated.is_null() || code == 0 {
                return Err(Error::client(format!(
                    "pod {ns}/{name} failed with unknown exit code"
                )));
            }
            let msg = format!(
                "pod {ns}/{name} terminated ({})\n{}",
                terminated["reason"].as_str().unwrap_or_default(),
                terminated["message"].as_str().unwrap_or_default()
            );
            Ok(Some((msg, code.clamp(0, 255) as u8)))
        }
        other => Err(Error::client(format!(
            "pod {ns}/{name} left in phase {other}"
        ))),
    }
}

/// Polls the pod until `done` says so; a deleted pod or the timeout ends the wait.
async fn wait_for_pod(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
    let deadline = Instant::now() + timeout;
    loop {
        let pod = ctx.get_json(&path).await?;
        if done(&pod) {
            return Ok(pod);
        }
        if Instant::now() >= deadline {
            return Err(Error::client("timed out waiting for the condition"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The finished pod's log, as kubectl prints it when there is nothing left to attach to.
async fn print_log(ctx: &Ctx, ns: &str, name: &str) -> Result<()> {
    let path = format!(
        "/api/v1/namespaces/{ns}/pods/{name}/log?container={}",
        query_escape(name)
    );
    let body = ctx
        .request(Method::GET, &path, "application/json, */*", None)
        .await?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(&body)?;
    out.flush()?;
    Ok(())
}

/// `--rm`: deletes the pod and says so as `kubectl delete` does.
async fn delete_pod(ctx: &Ctx, pod: &Value, quiet: bool) -> Result<()> {
    let ns = crate::pods::namespace(pod);
    let name = crate::pods::name(pod);
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
    match ctx
        .send_json(
            Method::DELETE,
            &path,
            JSON,
            &json!({"propagationPolicy": "Background"}),
        )
        .await
    {
        Ok(_) => {
            if !quiet {
                println!("pod \"{name}\" deleted");
            }
            Ok(())
        }
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pod_matches_kubectl() {
        let a = Args {
            env: vec!["A=1".into()],
            port: Some("80".into()),
            command: true,
            stdin: true,
            ..Default::default()
        };
        let p = generate_pod(&a, "x", "busybox", "Never", &["sh".into()]).unwrap_or_default();
        assert_eq!(p["metadata"]["labels"], json!({"run": "x"}));
        let c = &p["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["sh"]));
        assert_eq!(c["ports"], json!([{"containerPort": 80}]));
        assert_eq!(c["stdinOnce"], json!(true));
        assert_eq!(p["spec"]["restartPolicy"], "Never");
        let merged = merge_patch(
            p,
            &json!({"spec": {"hostNetwork": true, "dnsPolicy": null}}),
        );
        assert_eq!(merged["spec"]["hostNetwork"], true);
        assert!(merged["spec"].get("dnsPolicy").is_none());
    }
}
