//! Several nodes on one machine (`rkube cluster create`): agents join with the server's
//! token, pods reach pods on other nodes without NAT, Services and cluster DNS work across
//! nodes, a NodePort answers from outside the nodes, a wrong token is refused, and a node
//! may change only what is its own.

use std::process::{Command, Stdio};
use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::multinode::MultiNode;

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE1}
  containers:
  - name: httpd
    image: busybox:e2e
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE0}
  containers:
  - {name: c, image: busybox:e2e, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: hostport}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE1}
  containers:
  - name: httpd
    image: busybox:e2e
    command: ["sh", "-c", "mkdir -p /www && echo hostport > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, hostPort: 18080}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE1}
  hostNetwork: true
  containers:
  - name: httpd
    image: busybox:e2e
    command: ["sh", "-c", "mkdir -p /www && echo hostnet > /www/index.html && exec httpd -f -p 18081 -h /www"]
"#;

fn jsonpath(c: &MultiNode, args: &[&str]) -> String {
    c.kubectl(args).ok().stdout.trim().to_string()
}

fn internal_ip(c: &MultiNode, i: u8) -> String {
    jsonpath(
        c,
        &[
            "get",
            "node",
            &c.node(i),
            "-o",
            "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
        ],
    )
}

#[test]
fn agents_join_and_pods_talk_across_nodes() {
    let c = MultiNode::create(2);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    let nodes = c.kubectl(&["get", "nodes", "-o", "json"]).ok().json();
    let items = nodes["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{nodes}");
    let cidrs: Vec<&str> = items
        .iter()
        .filter_map(|n| n["spec"]["podCIDR"].as_str())
        .collect();
    assert_eq!(cidrs.len(), 2, "every node gets a podCIDR: {nodes}");
    assert_ne!(cidrs[0], cidrs[1]);
    let node1_ip = internal_ip(&c, 1);
    assert!(node1_ip.starts_with("172.30."), "{node1_ip}");

    c.apply(
        &WORKLOAD
            .replace("NODE1", &c.node(1))
            .replace("NODE0", &c.node(0)),
    );
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/web",
        "pod/client",
        "--timeout=90s",
    ])
    .ok();
    let web_ip = jsonpath(&c, &["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    assert_eq!(
        jsonpath(
            &c,
            &["get", "pod", "web", "-o", "jsonpath={.status.hostIP}"]
        ),
        node1_ip
    );
    // Pod to pod across nodes, no NAT: the backend sees the client's pod IP.
    let wget = |url: &str| {
        c.kubectl(&["exec", "client", "--", "wget", "-qO-", url])
            .ok()
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(wget(&format!("http://{web_ip}:8080/")), "web");
    // A Service and its DNS name, with the only backend on the other node: its
    // EndpointSlice and the nodes' rules follow the pod's readiness shortly.
    c.wait_until(Duration::from_secs(30), "the Service to answer", || {
        let r = c.kubectl(&[
            "exec",
            "client",
            "--",
            "wget",
            "-qO-",
            "http://web.default.svc.cluster.local/",
        ]);
        r.stdout.trim() == "web"
    });
    // In-cluster clients reach the API server through the `kubernetes` Service named by
    // the environment (busybox's wget cannot speak TLS to it, so a TCP connect shows the
    // path; `service_accounts.rs` shows the mounted token at work).
    let reach = c
        .kubectl(&[
            "exec",
            "client",
            "--",
            "sh",
            "-c",
            "nc -w 5 $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT </dev/null && echo connected",
        ])
        .ok()
        .stdout;
    assert_eq!(reach.trim(), "connected");
    // The NodePort from outside every node (the host), on the node without the backend.
    let port = jsonpath(
        &c,
        &[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ],
    );
    let node0_ip = internal_ip(&c, 0);
    let mut got = String::new();
    c.wait_until(Duration::from_secs(20), "the NodePort to answer", || {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "2"])
            .arg(format!("http://{node0_ip}:{port}/"))
            .output()
            .expect("curl");
        got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        got == "web"
    });
    // Logs and exec reach the kubelet of the other node.
    c.kubectl(&["logs", "web"]).ok();

    // hostPort: the pod answers on its node's address, from outside and from a pod on the
    // other node; a hostNetwork pod has the node's address and listens on it itself.
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "pod/hostport",
        "pod/hostnet",
        "--timeout=60s",
    ])
    .ok();
    let curl = |url: &str| {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "2", url])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    c.wait_until(Duration::from_secs(20), "the hostPort to answer", || {
        curl(&format!("http://{node1_ip}:18080/")) == "hostport"
    });
    assert_eq!(wget(&format!("http://{node1_ip}:18080/")), "hostport");
    assert_eq!(
        jsonpath(
            &c,
            &["get", "pod", "hostnet", "-o", "jsonpath={.status.podIP}"]
        ),
        node1_ip
    );
    c.wait_until(
        Duration::from_secs(20),
        "the hostNetwork pod to answer",
        || curl(&format!("http://{node1_ip}:18081/")) == "hostnet",
    );
    assert_eq!(wget(&format!("http://{node1_ip}:18081/")), "hostnet");

    // A LoadBalancer gets the nodes' addresses (ServiceLB) and answers on each of them.
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web-lb}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 8081, targetPort: http}]\n",
    );
    let mut ips = String::new();
    c.wait_until(Duration::from_secs(30), "load balancer addresses", || {
        ips = c
            .kubectl(&[
                "get",
                "svc",
                "web-lb",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[*].ip}",
            ])
            .stdout;
        ips.split_whitespace().count() == 2
    });
    for ip in ips.split_whitespace() {
        c.wait_until(
            Duration::from_secs(20),
            "the load balancer to answer",
            || {
                let out = Command::new("curl")
                    .args(["-s", "--max-time", "2"])
                    .arg(format!("http://{ip}:8081/"))
                    .output()
                    .expect("curl");
                String::from_utf8_lossy(&out.stdout).trim() == "web"
            },
        );
    }
    let external = c
        .kubectl(&["get", "svc", "web-lb", "--no-headers"])
        .ok()
        .stdout;
    assert!(
        external.contains(&node0_ip) && external.contains(&node1_ip),
        "{external}"
    );
}

#[test]
fn pods_of_a_lost_node_come_back_on_another() {
    let c = MultiNode::create(3);
    c.import_image(&busybox_image(c.dir.path(), "busybox:e2e"));
    c.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 3
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      terminationGracePeriodSeconds: 0
      # Soft: a hard constraint would keep the replacement for the lost node's domain
      # Pending, as upstream's scheduler does (tainted nodes still count as domains).
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: app}}}
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      containers:
      - {name: c, image: busybox:e2e, command: ["sleep", "3600"]}
"#,
    );
    c.kubectl(&["rollout", "status", "deployment/app", "--timeout=90s"])
        .ok();
    let lost = c.node(2);
    let on_lost = |c: &MultiNode| {
        c.kubectl(&[
            "get",
            "pods",
            "-l",
            "app=app",
            "--field-selector",
            &format!("spec.nodeName={lost}"),
            "-o",
            "name",
        ])
        .stdout
    };
    assert!(
        on_lost(&c).lines().count() >= 1,
        "a replica on the node to lose"
    );
    // The agent dies without a word.
    // SAFETY: signalling a pid recorded by `rkube cluster create`.
    unsafe { libc::kill(c.pid(2), libc::SIGKILL) };
    c.wait_until(Duration::from_secs(90), "the node to be NotReady", || {
        c.kubectl(&[
            "get",
            "node",
            &lost,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .stdout
            == "Unknown"
    });
    // The taint is a write of its own, after the condition's.
    c.wait_until(Duration::from_secs(30), "the unreachable taint", || {
        c.kubectl(&["get", "node", &lost, "-o", "jsonpath={.spec.taints[*].key}"])
            .stdout
            .contains("node.kubernetes.io/unreachable")
    });
    // Evicted after the pods' 5 s toleration, recreated on the live nodes.
    c.wait_until(Duration::from_secs(90), "pods back on live nodes", || {
        let ready = c
            .kubectl(&[
                "get",
                "deployment",
                "app",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ])
            .stdout;
        on_lost(&c).trim().is_empty() && ready == "3"
    });
    let events = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "reason=TaintManagerEviction",
        ])
        .ok()
        .stdout;
    assert!(events.contains("Marking for deletion Pod"), "{events}");
}

#[test]
fn a_wrong_token_is_refused_and_nodes_change_only_their_own() {
    let c = MultiNode::create(2);
    let token = std::fs::read_to_string(c.data_dir(0).join("server/token"))
        .expect("token")
        .trim()
        .to_string();
    let server_ip = internal_ip(&c, 0);
    let url = format!("https://{server_ip}:6443");
    let join = |token: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(rkube_e2e::rkube_bin())
            .args([
                "agent",
                "--server",
                &url,
                "--token",
                token,
                "--node-name",
                "intruder",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("rkube agent");
        // A refused agent keeps nothing: no keys, certificates or kubeconfig.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("data dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "a refused join left {left:?}");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Right CA, wrong secret.
    let (hash, _) = token.split_once("::").expect("token format");
    let (code, err) = join(&format!("{hash}::server:not-the-secret"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("refused the join token"), "{err}");
    // A token for another CA: the agent does not even send its secret.
    let (code, err) = join(&format!("K10{}::server:x", "0".repeat(64)));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does not match the token"), "{err}");
    // `rkube token create` makes more tokens (bootstrap tokens, kept as Secrets), which
    // expire: the join endpoint takes a fresh one (the empty request is then a 400) and
    // refuses an expired one (401).
    let post = |token: &str| {
        let secret = token.rsplit(':').next().unwrap_or("");
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args([
                "-H",
                &format!("Authorization: Bearer {secret}"),
                "--data",
                "{}",
            ])
            .arg(format!("{url}/v1-rkube/node-certificates"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let create = |ttl: &str| {
        let bin = rkube_e2e::rkube_bin();
        let dir = c.data_dir(0);
        let r = c.exec_on(
            0,
            &[
                bin.to_str().expect("path"),
                "token",
                "create",
                "--ttl",
                ttl,
                "--data-dir",
                dir.to_str().expect("path"),
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout.trim().to_string()
    };
    let fresh = create("1h");
    let (prefix, id_secret) = fresh.split_once("::").expect("token format");
    assert_eq!(prefix, hash, "{fresh}");
    let (id, _) = id_secret.split_once('.').expect("id.secret");
    assert_eq!(post(&fresh), "400");
    let stored = c
        .kubectl(&[
            "get",
            "secret",
            "-n",
            "kube-system",
            &format!("bootstrap-token-{id}"),
            "-o",
            "jsonpath={.type}",
        ])
        .ok()
        .stdout;
    assert_eq!(stored, "bootstrap.kubernetes.io/token");
    let short = create("1s");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(post(&short), "401");
    assert_eq!(post("K10x::server:wrong"), "401");
    // Deleting the Secret revokes the token.
    c.kubectl(&[
        "delete",
        "secret",
        "-n",
        "kube-system",
        &format!("bootstrap-token-{id}"),
    ])
    .ok();
    c.wait_until(Duration::from_secs(10), "the token revoked", || {
        post(&fresh) == "401"
    });
    // The server's own token still joins.
    assert_eq!(post(&token), "400");

    let r = c.kubectl(&["get", "node", "intruder"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("NotFound"), "{}", r.stderr);

    // The joined agent's own credentials: its Node yes, another's no.
    let node_kc = c.data_dir(1).join("agent/kubeconfig");
    let kubectl_as_node = |args: &[&str]| {
        let out = c
            .kubectl_cmd(&node_kc)
            .args(args)
            .output()
            .expect("kubectl");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = kubectl_as_node(&["label", "node", &c.node(1), "e2e=own"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = kubectl_as_node(&["label", "node", &c.node(0), "e2e=other"]);
    assert_eq!(code, Some(1));
    // NodeRestriction admission's refusal, as upstream words it.
    assert!(
        err.contains(&format!(
            "nodes \"{n0}\" is forbidden: node \"{n1}\" is not allowed to modify node \"{n0}\"",
            n0 = c.node(0),
            n1 = c.node(1)
        )),
        "{err}"
    );
    let (code, err) = kubectl_as_node(&["create", "configmap", "x"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "configmaps is forbidden: User \"system:node:{}\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\"",
            c.node(1)
        )),
        "{err}"
    );
    // Reads are allowed.
    let (code, err) = kubectl_as_node(&["get", "pods", "-A"]);
    assert_eq!(code, Some(0), "{err}");

    // Leases: its own yes, another node's no (the Node authorizer's reason).
    let lease_patch = r#"{"spec":{"holderIdentity":"x"}}"#;
    let (code, err) = kubectl_as_node(&[
        "patch",
        "lease",
        "-n",
        "kube-node-lease",
        &c.node(1),
        "--type=merge",
        "-p",
        lease_patch,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = kubectl_as_node(&[
        "patch",
        "lease",
        "-n",
        "kube-node-lease",
        &c.node(0),
        "--type=merge",
        "-p",
        lease_patch,
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "leases.coordination.k8s.io \"{n0}\" is forbidden: User \"system:node:{n1}\" cannot patch resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"kube-node-lease\": can only access node lease with the same name as the requesting node",
            n0 = c.node(0),
            n1 = c.node(1)
        )),
        "{err}"
    );

    // Pods: status, delete and eviction only of pods bound to the node itself. The pods are
    // bound by nodeName and never start (no such image): only their objects matter.
    for i in 0..2u8 {
        c.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: on-{i}}}\nspec:\n  nodeName: {}\n  containers:\n  - {{name: c, image: e2e/none:1, imagePullPolicy: Never}}\n",
            c.node(i)
        ));
    }
    let status_patch = r#"{"status":{"conditions":[{"type":"E2E","status":"True"}]}}"#;
    let patch_status = |pod: &str| {
        kubectl_as_node(&[
            "patch",
            "pod",
            pod,
            "--subresource=status",
            "--type=strategic",
            "-p",
            status_patch,
        ])
    };
    let evict = |pod: &str| {
        let body = format!(
            r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"default"}}}}"#
        );
        let file = c.dir.path().join(format!("eviction-{pod}.json"));
        std::fs::write(&file, body).expect("write");
        kubectl_as_node(&[
            "create",
            "--raw",
            &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
            "-f",
            file.to_str().expect("path"),
        ])
    };
    let n1 = c.node(1);
    let (code, err) = patch_status("on-0");
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "pods \"on-0\" is forbidden: node \"{n1}\" can only update pod status for pods with spec.nodeName set to itself"
        )),
        "{err}"
    );
    let (code, err) = evict("on-0");
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "node {n1} can only evict pods with spec.nodeName set to itself"
        )),
        "{err}"
    );
    let (code, err) = kubectl_as_node(&["delete", "pod", "on-0", "--wait=false"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "pods \"on-0\" is forbidden: node \"{n1}\" can only delete pods with spec.nodeName set to itself"
        )),
        "{err}"
    );
    c.kubectl(&["get", "pod", "on-0"]).ok();
    // Its own pod: all three are allowed.
    let (code, err) = patch_status("on-1");
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = evict("on-1");
    assert_eq!(code, Some(0), "{err}");
    c.apply(
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: on-1b}}\nspec:\n  nodeName: {n1}\n  containers:\n  - {{name: c, image: e2e/none:1, imagePullPolicy: Never}}\n"
        ),
    );
    // Tokens: only for the account of a pod bound to the node itself.
    let token_for = |pod: &str| {
        let uid = c
            .kubectl(&["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"])
            .ok()
            .stdout;
        kubectl_as_node(&[
            "create",
            "token",
            "default",
            "--bound-object-kind=Pod",
            &format!("--bound-object-name={pod}"),
            &format!("--bound-object-uid={uid}"),
        ])
    };
    let (code, err) = token_for("on-0");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("node requested token bound to a pod scheduled on a different node"),
        "{err}"
    );
    let (code, err) = kubectl_as_node(&["create", "token", "default"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("node requested token not bound to a pod"),
        "{err}"
    );
    let (code, err) = token_for("on-1b");
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = kubectl_as_node(&["delete", "pod", "on-1b", "--wait=false"]);
    assert_eq!(code, Some(0), "{err}");
}
