//! Air-gapped nodes: archives in `<data-dir>/agent/images/` are imported when the agent
//! starts, so pods with `imagePullPolicy: Never` run from them.

use std::time::Duration;

use rkube_e2e::images::busybox_image;
use rkube_e2e::Cluster;

#[test]
fn archives_in_the_agent_images_dir_are_imported_at_start() {
    let mut c = Cluster::start(&[]);
    let archive = busybox_image(c.dir.path(), "preloaded.example/tools:1");
    let dir = c.data_dir().join("agent/images");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&archive, dir.join("tools.tar")).unwrap();
    c.restart(&[]);
    c.kubectl(&[
        "run",
        "pre",
        "--image=preloaded.example/tools:1",
        "--image-pull-policy=Never",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "echo from-the-archive; sleep 3600",
    ])
    .ok();
    c.wait_until(Duration::from_secs(60), "the pod Running", || {
        c.kubectl(&["get", "pod", "pre", "-o", "jsonpath={.status.phase}"])
            .stdout
            == "Running"
    });
    c.wait_until(Duration::from_secs(30), "its log", || {
        c.kubectl(&["logs", "pre"]).stdout == "from-the-archive\n"
    });
    let image_id = c
        .kubectl(&[
            "get",
            "pod",
            "pre",
            "-o",
            "jsonpath={.status.containerStatuses[0].imageID}",
        ])
        .stdout;
    assert!(image_id.contains("sha256:"), "imageID {image_id:?}");
}
