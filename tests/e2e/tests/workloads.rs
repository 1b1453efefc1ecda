//! The seeds' workload story with real kubectl on a real node: a Deployment self-heals,
//! scales, rolls out a new image without dropping below its replica count, lists its
//! history with change-cause, rolls back and restarts; a Job and a CronJob run to completion;
//! an HPA scales a CPU-burning Deployment up and back down.

use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::Cluster;

fn cluster() -> Cluster {
    let c = Cluster::start(&["--node-name", "node-a"]);
    c.import_image(&busybox_image(c.dir.path(), "busybox:v1"));
    c.import_image(&busybox_image(c.dir.path(), "busybox:v2"));
    c
}

fn ready_pods(c: &Cluster) -> Vec<String> {
    let out = c.jsonpath("pods",
        "{range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    );
    out.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 2 && f[1] == "True"
        })
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {kubernetes.io/change-cause: "first release"}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:v1
        command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
"#;

#[test]
fn deployment_heals_scales_rolls_out_and_back() {
    let c = cluster();
    c.apply(DEPLOYMENT);
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"])
        .ok();
    c.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "--timeout=60s",
    ])
    .ok();
    assert_eq!(ready_pods(&c).len(), 3);

    // Self-healing: a deleted pod is replaced.
    let victim = ready_pods(&c)[0].clone();
    c.kubectl(&["delete", "pod", &victim, "--wait=false"]).ok();
    c.wait_until(Duration::from_secs(60), "replacement pod ready", || {
        let pods = ready_pods(&c);
        pods.len() == 3 && !pods.contains(&victim)
    });

    // Scale up and back.
    c.kubectl(&["scale", "deployment/web", "--replicas=5"]).ok();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"])
        .ok();
    c.wait_until(Duration::from_secs(30), "5 ready", || {
        ready_pods(&c).len() == 5
    });
    c.kubectl(&["scale", "deployment/web", "--replicas=3"]).ok();
    c.wait_until(Duration::from_secs(60), "3 ready", || {
        ready_pods(&c).len() == 3
    });

    // A rolling update with maxUnavailable 0 never has fewer than 3 ready pods.
    c.kubectl(&["set", "image", "deployment/web", "web=busybox:v2"])
        .ok();
    c.kubectl(&[
        "annotate",
        "deployment/web",
        "kubernetes.io/change-cause=upgrade to v2",
        "--overwrite",
    ])
    .ok();
    let mut min_ready = usize::MAX;
    c.wait_until(Duration::from_secs(120), "rollout to v2", || {
        min_ready = min_ready.min(ready_pods(&c).len());
        let updated = c.jsonpath("deployment/web", "{.status.updatedReplicas}");
        let available = c.jsonpath("deployment/web", "{.status.availableReplicas}");
        let total = c.jsonpath("deployment/web", "{.status.replicas}");
        updated == "3" && available == "3" && total == "3"
    });
    assert!(
        min_ready >= 3,
        "dropped to {min_ready} ready pods during the rollout"
    );
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .ok();
    // Old pods may still be terminating; once gone, every pod runs v2.
    c.wait_until(Duration::from_secs(30), "old pods gone", || {
        let images = c.jsonpath("pods", "{.items[*].spec.containers[0].image}");
        images.split_whitespace().all(|i| i == "busybox:v2")
    });

    let history = c
        .kubectl(&["rollout", "history", "deployment/web"])
        .ok()
        .stdout;
    assert!(
        history.contains("REVISION") && history.contains("upgrade to v2"),
        "{history}"
    );

    // Undo brings the previous template back.
    c.kubectl(&["rollout", "undo", "deployment/web"]).ok();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=120s"])
        .ok();
    assert_eq!(
        c.jsonpath(
            "deployment/web",
            "{.spec.template.spec.containers[0].image}"
        ),
        "busybox:v1"
    );
    let rs = c.jsonpath(
        "rs",
        "{.items[*].metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    );
    assert!(rs.split_whitespace().any(|r| r == "3"), "{rs}");

    // Restart replaces every pod.
    let before = ready_pods(&c);
    c.kubectl(&["rollout", "restart", "deployment/web"]).ok();
    c.kubectl(&["rollout", "status", "deployment/web", "--timeout=120s"])
        .ok();
    c.wait_until(Duration::from_secs(60), "all pods replaced", || {
        let now = ready_pods(&c);
        now.len() == 3 && now.iter().all(|p| !before.contains(p))
    });
}

#[test]
fn a_job_runs_to_completion() {
    let c = cluster();
    c.apply(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: pi, image: busybox:v1, command: ["sh", "-c", "echo computing; sleep 0.5"]}
"#,
    );
    c.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/pi",
        "--timeout=90s",
    ])
    .ok();
    assert_eq!(c.jsonpath("job/pi", "{.status.succeeded}"), "3");
    // The API server generated the selector from the Job's uid, and labelled the template.
    let uid = c.jsonpath("job/pi", "{.metadata.uid}");
    assert_eq!(
        c.jsonpath(
            "job/pi",
            "{.spec.selector.matchLabels.batch\\.kubernetes\\.io/controller-uid}"
        ),
        uid
    );
    assert_eq!(
        c.jsonpath("job/pi", "{.spec.template.metadata.labels.job-name}"),
        "pi"
    );
    // A pod of another owner in the namespace is not taken for one of the Job's.
    c.kubectl(&[
        "run",
        "other",
        "--image=busybox:v1",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo other",
    ])
    .ok();
    for _ in 0..3 {
        let logs = c.kubectl(&["logs", "job/pi"]).ok().stdout;
        assert_eq!(logs, "computing\n");
    }
}

#[test]
fn a_cronjob_runs_its_job_to_completion_on_schedule() {
    let c = cluster();
    c.apply(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: tick, image: busybox:v1, command: ["sh", "-c", "echo tick"]}
"#,
    );
    // The next minute boundary creates a Job, which completes; the CronJob records it.
    c.wait_until(Duration::from_secs(90), "the scheduled job to complete", || {
        let jobs = c
            .kubectl(&[
                "get",
                "jobs",
                "-o",
                "jsonpath={range .items[*]}{.metadata.ownerReferences[0].name} {.status.succeeded}{\"\\n\"}{end}",
            ])
            .stdout;
        jobs.lines().any(|l| l == "tick 1")
    });
    c.wait_until(Duration::from_secs(30), "lastSuccessfulTime", || {
        !c.jsonpath("cronjob/tick", "{.status.lastSuccessfulTime}")
            .is_empty()
    });
    let job = c
        .kubectl(&["get", "jobs", "-o", "jsonpath={.items[0].metadata.name}"])
        .ok()
        .stdout;
    assert!(job.starts_with("tick-"), "{job}");
    let logs = c.kubectl(&["logs", &format!("job/{job}")]).ok().stdout;
    assert_eq!(logs, "tick\n");
}

#[test]
fn an_hpa_scales_a_cpu_burning_deployment_up_and_back_down() {
    let c = cluster();
    c.apply(r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: c
        image: busybox:v1
        # Burns its CPU limit for 40 s after it starts, then idles.
        command: ["sh", "-c", "end=$(($(date +%s)+40)); while [ $(date +%s) -lt $end ]; do :; done; exec sleep 3600"]
        resources: {requests: {cpu: 100m}, limits: {cpu: 200m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 0
      policies: [{type: Percent, value: 100, periodSeconds: 15}]
"#,
    );
    let replicas = |c: &Cluster| c.jsonpath("deployment/burn", "{.spec.replicas}");
    c.wait_until(Duration::from_secs(120), "the HPA to scale up", || {
        replicas(&c).parse::<u32>().unwrap_or(0) > 1
    });
    // The status and the event are writes of their own, after the scale's.
    c.wait_until(Duration::from_secs(30), "the HPA's status", || {
        let hpa = c.kubectl(&["get", "hpa", "burn", "-o", "json"]).ok().json();
        hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
            .as_i64()
            .unwrap_or(0)
            > 50
    });
    c.wait_until(Duration::from_secs(30), "a SuccessfulRescale event", || {
        c.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "reason=SuccessfulRescale",
        ])
        .stdout
        .contains("New size:")
    });
    // Once the burning stops, back to one replica.
    c.wait_until(
        Duration::from_secs(180),
        "the HPA to scale back down",
        || replicas(&c) == "1",
    );
}
