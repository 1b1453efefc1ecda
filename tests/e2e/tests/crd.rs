//! CustomResourceDefinitions: established, served (CRUD, list, watch, status), validated
//! against their schema, printed with their columns, cleaned up with the CRD.

use rkube_e2e::{Cluster, KUBECTL_1_32};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              mode: {type: string, enum: [fast, safe], default: safe}
          status:
            type: object
            properties:
              ready: {type: boolean}
"#;

#[test]
fn custom_resources_end_to_end() {
    let c = Cluster::start(&[]);
    let f = c.file("crd.yaml", CRD);
    c.kubectl(&["apply", "-f", &f]).ok();
    c.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=20s",
    ])
    .ok();
    let w = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n";
    c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], w).ok();
    let got = c
        .kubectl(&["get", "widget", "w1", "-o", "json"])
        .ok()
        .json();
    assert_eq!(got["spec"]["mode"], "safe", "schema default applied");
    let table = c.kubectl(&["get", "wd"]).ok().stdout;
    assert!(
        table.starts_with("NAME") && table.contains("SIZE") && table.contains("w1"),
        "{table}"
    );
    // Schema validation.
    let bad = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: 0\n";
    let r = c.kubectl_stdin(KUBECTL_1_32, &["apply", "-f", "-"], bad);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("spec.size in body should be greater than or equal to 1"),
        "{}",
        r.stderr
    );
    // Merge patch; status only through /status.
    c.kubectl(&[
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        "{\"spec\":{\"size\":5},\"status\":{\"ready\":true}}",
    ])
    .ok();
    let got = c
        .kubectl(&["get", "widget", "w1", "-o", "json"])
        .ok()
        .json();
    assert_eq!(got["spec"]["size"], 5);
    assert!(
        got.get("status").is_none(),
        "status ignored on the main resource: {got}"
    );
    c.kubectl(&[
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        "{\"status\":{\"ready\":true}}",
    ])
    .ok();
    let got = c
        .kubectl(&["get", "widget", "w1", "-o", "json"])
        .ok()
        .json();
    assert_eq!(got["status"]["ready"], true);
    // Server-side apply of a custom resource, and a conflict between managers.
    let w3 = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w3\nspec:\n  size: 2\n";
    c.kubectl_stdin(
        KUBECTL_1_32,
        &["apply", "--server-side", "--field-manager=a", "-f", "-"],
        w3,
    )
    .ok();
    let w3b = w3.replace("size: 2", "size: 4");
    let r = c.kubectl_stdin(
        KUBECTL_1_32,
        &["apply", "--server-side", "--field-manager=b", "-f", "-"],
        &w3b,
    );
    assert!(
        r.stderr.contains("conflict with \"a\"") && r.stderr.contains(".spec.size"),
        "{}",
        r.stderr
    );
    // Watch a custom resource.
    let w = c
        .kubectl(&[
            "get",
            "--raw",
            "/apis/example.com/v1/namespaces/default/widgets?watch=true&timeoutSeconds=1",
        ])
        .ok();
    assert!(w.stdout.contains("\"w3\""), "{}", w.stdout);
    // Deleting the CRD removes its objects.
    c.kubectl(&["delete", "crd", "widgets.example.com", "--timeout=20s"])
        .ok();
    let r = c.kubectl(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets",
    ]);
    assert_ne!(r.code, 0);
}
