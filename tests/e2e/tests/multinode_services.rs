//! Services and cluster DNS across three nodes (issue 7's end-to-end story): a Service in
//! `production` spreads over replicas on every node, a replica turning unready leaves the
//! rotation, headless and StatefulSet names and ExternalName resolve, and the `kubernetes`
//! Service answers /version from a pod.

use std::collections::BTreeSet;
use std::time::Duration;

use rkube_e2e::images::{busybox_curl_image, busybox_image};
use rkube_e2e::multinode::MultiNode;

const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: production}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: production}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      terminationGracePeriodSeconds: 0
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: api}}}
      containers:
      - name: httpd
        image: busybox:e2e
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          exec: {command: ["test", "-f", "/tmp/ready"]}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: api-service, namespace: production}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: production}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: production}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {name: c, image: busybox:e2e, command: ["sleep", "3600"], ports: [{name: http, containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: docs, namespace: production}
spec:
  type: ExternalName
  externalName: docs.example.org
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: production}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: busybox-curl:e2e, command: ["sleep", "3600"]}
"#;

#[test]
fn services_and_dns_work_across_three_nodes() {
    let c = MultiNode::create(3);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    c.import_image(&busybox_curl_image(c.dir.path(), "busybox-curl:e2e"));
    c.apply(APP);
    let ns = ["-n", "production"];
    let kubectl = |args: &[&str]| {
        let mut a: Vec<&str> = ns.to_vec();
        a.extend_from_slice(args);
        c.kubectl(&a)
    };
    kubectl(&["rollout", "status", "deployment/api", "--timeout=120s"]).ok();
    kubectl(&["rollout", "status", "statefulset/web", "--timeout=120s"]).ok();
    kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=60s",
    ])
    .ok();
    // One replica per node.
    let hosts = kubectl(&[
        "get",
        "pods",
        "-l",
        "app=api",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ])
    .ok()
    .stdout;
    let hosts: BTreeSet<&str> = hosts.split_whitespace().collect();
    assert_eq!(hosts.len(), 3, "{hosts:?}");

    let sh = |script: &str| {
        kubectl(&["exec", "client", "--", "sh", "-c", script])
            .stdout
            .trim()
            .to_string()
    };
    // The Service's full name spreads over all three replicas, on three nodes.
    let many =
        "for i in $(seq 1 30); do wget -qO- http://api-service.production.svc.cluster.local; done";
    let mut seen = BTreeSet::new();
    c.wait_until(Duration::from_secs(30), "every replica answering", || {
        seen.extend(sh(many).lines().map(String::from));
        seen.len() == 3
    });
    assert!(seen.iter().all(|h| h.starts_with("api-")), "{seen:?}");

    // A replica that turns unready leaves the rotation within its readiness period.
    let victim = seen.iter().next().cloned().expect("a replica");
    kubectl(&["exec", &victim, "--", "rm", "/tmp/ready"]).ok();
    c.wait_until(
        Duration::from_secs(15),
        "the unready replica to leave",
        || {
            kubectl(&[
                "get",
                "pod",
                &victim,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ])
            .stdout
                == "False"
        },
    );
    // Then its EndpointSlice and every node's rules drop it.
    c.wait_until(
        Duration::from_secs(20),
        "the others to answer alone",
        || {
            let after: BTreeSet<String> = sh(many).lines().map(String::from).collect();
            after.len() == 2 && !after.contains(&victim)
        },
    );

    // Headless Service: the ready pods' IPs; StatefulSet pods by stable names.
    let web0_ip = kubectl(&["get", "pod", "web-0", "-o", "jsonpath={.status.podIP}"])
        .ok()
        .stdout;
    let web1_ip = kubectl(&["get", "pod", "web-1", "-o", "jsonpath={.status.podIP}"])
        .ok()
        .stdout;
    let headless = sh("nslookup web.production.svc.cluster.local");
    assert!(
        headless.contains(&web0_ip) && headless.contains(&web1_ip),
        "{headless}"
    );
    let stable = sh("nslookup web-0.web.production.svc.cluster.local");
    assert!(stable.contains(&web0_ip), "{stable}");
    // ExternalName is a CNAME.
    let cname = sh("nslookup -type=CNAME docs.production.svc.cluster.local");
    assert!(cname.contains("docs.example.org"), "{cname}");

    // The `kubernetes` Service reaches the API server from a pod.
    let version = sh("/usr/bin/curl -sk https://kubernetes.default.svc/version");
    assert!(version.contains("\"gitVersion\""), "{version}");
}
