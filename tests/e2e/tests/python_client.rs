//! The Python `kubernetes` client (PyPI) lists, creates, patches and watches.

use rkube_e2e::Cluster;

const SCRIPT: &str = r#"
import sys, threading
from kubernetes import client, config, watch

config.load_kube_config()
v1 = client.CoreV1Api()
names = [n.metadata.name for n in v1.list_namespace().items]
assert "kube-system" in names, names

seen = []
def watcher():
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_config_map, namespace="default", timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "MODIFIED":
            w.stop()
t = threading.Thread(target=watcher)
t.start()

import time
time.sleep(0.5)
cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py", labels={"from": "python"}), data={"a": "1"})
v1.create_namespaced_config_map("default", cm)
v1.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
got = v1.read_namespaced_config_map("py", "default")
assert got.data == {"a": "1", "b": "2"}, got.data
listed = v1.list_namespaced_config_map("default", label_selector="from=python").items
assert [c.metadata.name for c in listed] == ["py"]
t.join(15)
assert ("ADDED", "py") in seen and ("MODIFIED", "py") in seen, seen

apps = client.AppsV1Api()
dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "pyd"},
       "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
apps.create_namespaced_deployment("default", dep)
d = apps.read_namespaced_deployment("pyd", "default")
assert d.spec.strategy.type == "RollingUpdate"
try:
    v1.read_namespaced_config_map("missing", "default")
    raise SystemExit("expected 404")
except client.exceptions.ApiException as e:
    assert e.status == 404, e.status
print("ok")
"#;

#[test]
fn python_client_lists_creates_patches_watches() {
    let c = Cluster::start(&[]);
    let script = c.file("client.py", SCRIPT);
    let r = c
        .command("/opt/rkube-test/venv/bin/python")
        .arg(&script)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&r.stdout);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        r.status.success() && out.contains("ok"),
        "stdout: {out}\nstderr: {err}"
    );
}
