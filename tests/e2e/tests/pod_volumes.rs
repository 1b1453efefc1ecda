//! Volumes on a real node: ConfigMap and Secret updates reach mounted files, and the volume
//! kinds and mount options as upstream sets them up.

use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::Cluster;

const NODE: &str = "node-a";

/// A cluster whose kubelet syncs pods (and so refreshes volumes) every 2 s instead of 60 s.
fn cluster() -> Cluster {
    std::env::set_var("RKUBE_SYNC_FREQUENCY_SECONDS", "2");
    let c = Cluster::start(&["--node-name", NODE]);
    let archive = busybox_image(c.dir.path(), "busybox:e2e");
    c.import_image(&archive);
    c.wait_until(Duration::from_secs(30), "node registered", || {
        c.kubectl(&["get", "node", NODE]).code == 0
    });
    c
}

fn exec(c: &Cluster, pod: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", pod, "--"];
    args.extend_from_slice(cmd);
    c.kubectl(&args).stdout
}

fn ready(c: &Cluster, pod: &str) {
    c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        &format!("pod/{pod}"),
        "--timeout=60s",
    ])
    .ok();
}

#[test]
fn configmap_secret_and_label_updates_reach_mounted_files() {
    let c = cluster();
    c.apply(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: live-config}
data: {mode: one}
---
apiVersion: v1
kind: Secret
metadata: {name: live-secret}
stringData: {key: first}
---
apiVersion: v1
kind: Pod
metadata: {name: watcher, labels: {stage: a}}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: sec, mountPath: /etc/sec}
    - {name: info, mountPath: /etc/info}
  volumes:
  - {name: cfg, configMap: {name: live-config}}
  - {name: sec, secret: {secretName: live-secret}}
  - name: info
    downwardAPI:
      items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
"#,
    );
    ready(&c, "watcher");
    assert_eq!(exec(&c, "watcher", &["cat", "/etc/cfg/mode"]), "one");
    assert_eq!(exec(&c, "watcher", &["cat", "/etc/sec/key"]), "first");
    assert_eq!(
        exec(&c, "watcher", &["cat", "/etc/info/labels"]),
        "stage=\"a\""
    );
    c.kubectl(&[
        "patch",
        "configmap",
        "live-config",
        "-p",
        r#"{"data":{"mode":"two"}}"#,
    ])
    .ok();
    c.kubectl(&[
        "patch",
        "secret",
        "live-secret",
        "-p",
        r#"{"stringData":{"key":"second"}}"#,
    ])
    .ok();
    c.kubectl(&["label", "pod", "watcher", "stage=b", "--overwrite"])
        .ok();
    c.wait_until(
        Duration::from_secs(30),
        "configmap update in the file",
        || exec(&c, "watcher", &["cat", "/etc/cfg/mode"]) == "two",
    );
    c.wait_until(Duration::from_secs(30), "secret update in the file", || {
        exec(&c, "watcher", &["cat", "/etc/sec/key"]) == "second"
    });
    c.wait_until(Duration::from_secs(30), "label update in the file", || {
        exec(&c, "watcher", &["cat", "/etc/info/labels"]) == "stage=\"b\""
    });
    // The container was never restarted for any of it.
    assert_eq!(
        c.kubectl(&[
            "get",
            "pod",
            "watcher",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}"
        ])
        .stdout,
        "0"
    );
}

#[test]
fn every_volume_kind_and_mount_option() {
    let c = cluster();
    let hp = c.dir.path().join("hp-created/deeper");
    c.apply(&format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: vol-cm}}
data: {{app.conf: "setting=1", other: o}}
---
apiVersion: v1
kind: Secret
metadata: {{name: vol-secret}}
stringData: {{pass: p4ss, user: admin, extra: never-projected}}
---
apiVersion: v1
kind: Pod
metadata: {{name: volumes, labels: {{app: vols}}}}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: busybox:e2e
    command: ["sleep", "3600"]
    resources: {{limits: {{cpu: 250m}}}}
    volumeMounts:
    - {{name: sec, mountPath: /sec}}
    - {{name: optcm, mountPath: /optcm}}
    - {{name: hp, mountPath: /hp}}
    - {{name: dapi, mountPath: /dapi}}
    - {{name: proj, mountPath: /proj}}
    - {{name: cm, mountPath: /etc/single.conf, subPath: app.conf}}
    - {{name: scratch, mountPath: /scratch}}
    - {{name: scratch, mountPath: /inner, subPath: inner}}
    - {{name: scratch, mountPath: /ro, readOnly: true}}
    - {{name: mem, mountPath: /mem}}
  volumes:
  - name: sec
    secret:
      secretName: vol-secret
      defaultMode: 288
      items: [{{key: pass, path: creds/pass, mode: 256}}, {{key: user, path: user}}]
  - {{name: optcm, configMap: {{name: not-there, optional: true}}}}
  - {{name: hp, hostPath: {{path: "{hp}", type: DirectoryOrCreate}}}}
  - name: dapi
    downwardAPI:
      items:
      - {{path: name, fieldRef: {{fieldPath: metadata.name}}}}
      - {{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}
      - {{path: cpu, resourceFieldRef: {{containerName: app, resource: limits.cpu, divisor: 1m}}}}
  - name: proj
    projected:
      sources:
      - configMap: {{name: vol-cm, items: [{{key: other, path: cm-other}}]}}
      - secret: {{name: vol-secret, items: [{{key: user, path: sec-user}}]}}
      - downwardAPI: {{items: [{{path: ns, fieldRef: {{fieldPath: metadata.namespace}}}}]}}
  - {{name: cm, configMap: {{name: vol-cm}}}}
  - {{name: scratch, emptyDir: {{}}}}
  - {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 1Mi}}}}
"#,
        hp = hp.display()
    ));
    ready(&c, "volumes");
    let sh = |script: &str| {
        let r = c.kubectl(&["exec", "volumes", "--", "sh", "-c", script]);
        format!("{}{}", r.stdout, r.stderr)
    };
    // Secret: only the listed items, each with its mode (item mode, else defaultMode).
    assert_eq!(
        sh("cat /sec/creds/pass; echo; cat /sec/user"),
        "p4ss\nadmin"
    );
    assert_eq!(sh("stat -L -c %a /sec/creds/pass /sec/user"), "400\n440\n");
    assert_eq!(sh("ls /sec"), "creds\nuser\n");
    // An optional ConfigMap that does not exist: no files (only the writer's ..data).
    assert_eq!(sh("ls /optcm | wc -l"), "0\n");
    // hostPath DirectoryOrCreate made the directory; writes land on the host.
    sh("echo from-pod > /hp/f");
    assert_eq!(
        std::fs::read_to_string(hp.join("f")).unwrap_or_default(),
        "from-pod\n"
    );
    assert_eq!(
        sh("cat /dapi/name; echo; cat /dapi/labels; echo; cat /dapi/cpu"),
        "volumes\napp=\"vols\"\n250"
    );
    assert_eq!(
        sh("cat /proj/cm-other /proj/sec-user /proj/ns"),
        "oadmindefault"
    );
    // subPath of a ConfigMap volume: one file; of an emptyDir: a directory inside it.
    assert_eq!(sh("cat /etc/single.conf"), "setting=1");
    sh("echo in > /inner/x");
    assert_eq!(sh("cat /scratch/inner/x"), "in\n");
    // readOnly: the same emptyDir, not writable there.
    let ro = sh("touch /ro/y");
    assert!(ro.contains("Read-only file system"), "{ro}");
    assert_eq!(sh("ls /scratch/inner"), "x\n");
    // Medium Memory with a sizeLimit: a tmpfs of that size.
    let mount = sh("grep ' /mem ' /proc/mounts");
    assert!(
        mount.starts_with("tmpfs /mem tmpfs") && mount.contains("size=1024k"),
        "{mount}"
    );
    let big = sh("dd if=/dev/zero of=/mem/big bs=1024 count=2048 2>&1; echo rc=$?");
    assert!(big.contains("No space left on device"), "{big}");
}

#[test]
fn an_empty_dir_over_its_size_limit_evicts_the_pod() {
    let c = Cluster::with_node(NODE);
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: filler}}
spec:
  nodeName: {NODE}
  volumes: [{{name: cache, emptyDir: {{sizeLimit: 1Mi}}}}]
  containers:
  - name: c
    image: busybox:e2e
    command: [sh, -c, "dd if=/dev/zero of=/cache/fill bs=1024 count=4096; sleep 3600"]
    volumeMounts: [{{name: cache, mountPath: /cache}}]
"#
    ));
    c.wait_jsonpath("pod/filler", "{.status.reason}", "eviction", |r| {
        r == "Evicted"
    });
    assert_eq!(c.jsonpath("pod/filler", "{.status.phase}"), "Failed");
    assert_eq!(
        c.jsonpath("pod/filler", "{.status.message}"),
        "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "
    );
    // The container was killed and stays down.
    c.wait_jsonpath(
        "pod/filler",
        "{.status.containerStatuses[0].state.terminated.exitCode}",
        "the container terminated",
        |code| code == "137",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        c.jsonpath("pod/filler", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );
    let events = c
        .kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=filler,reason=Evicted",
            "-o",
            "name",
        ])
        .stdout;
    assert!(!events.trim().is_empty(), "no Evicted event");
}
