//! Bodies encoded with k8s-pb (prost types generated from the upstream .proto
//! files) decode to the JSON kubectl would have sent for the same object.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use rkube_apiserver::protobuf::{decode_body, decode_object, DecodeError, MAGIC};
use serde_json::{json, Value};

/// Wraps an object like the Go protobuf serializer: `k8s\0` + runtime.Unknown.
fn body(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

fn map<V: Clone>(pairs: &[(&str, V)]) -> BTreeMap<String, V> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn quantity(s: &str) -> Quantity {
    Quantity {
        string: Some(s.into()),
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
fn secret_with_data() {
    let secret = core::Secret {
        metadata: Some(meta::ObjectMeta {
            name: s("s"),
            namespace: s("default"),
            ..Default::default()
        }),
        data: map(&[("a", b"b".to_vec()), ("bin", vec![0u8, 255, 10])]),
        r#type: s("Opaque"),
        ..Default::default()
    };
    let got = decode_body(&body("v1", "Secret", &secret)).expect("decode");
    assert_eq!(
        got,
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "s", "namespace": "default", "creationTimestamp": null},
            "data": {"a": "Yg==", "bin": "AP8K"},
            "type": "Opaque"
        })
    );
}

#[test]
fn namespace() {
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            name: s("team-a"),
            labels: map(&[("env", "dev".to_owned())]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let got = decode_body(&body("v1", "Namespace", &ns)).expect("decode");
    assert_eq!(
        got,
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": "team-a", "labels": {"env": "dev"}, "creationTimestamp": null},
            "spec": {},
            "status": {}
        })
    );
}

fn deployment() -> apps::Deployment {
    let labels = map(&[("app", "web".to_owned())]);
    apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            labels: labels.clone(),
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_704_067_200),
                nanos: Some(0),
            }),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(3),
            selector: Some(meta::LabelSelector {
                match_labels: labels.clone(),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels,
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: s("nginx"),
                        image: s("nginx:1.27"),
                        args: vec!["-g".into(), "daemon off;".into()],
                        ports: vec![core::ContainerPort {
                            container_port: Some(80),
                            protocol: s("TCP"),
                            ..Default::default()
                        }],
                        resources: Some(core::ResourceRequirements {
                            limits: map(&[
                                ("cpu", quantity("500m")),
                                ("memory", quantity("128Mi")),
                            ]),
                            requests: map(&[("cpu", quantity("250m"))]),
                            ..Default::default()
                        }),
                        readiness_probe: Some(core::Probe {
                            handler: Some(core::ProbeHandler {
                                http_get: Some(core::HttpGetAction {
                                    path: s("/healthz"),
                                    port: Some(IntOrString {
                                        r#type: Some(1),
                                        int_val: Some(0),
                                        str_val: s("http"),
                                    }),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            }),
                            period_seconds: Some(5),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    termination_grace_period_seconds: Some(0),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s("RollingUpdate"),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(1),
                        str_val: None,
                    }),
                    max_surge: Some(IntOrString {
                        r#type: Some(1),
                        int_val: None,
                        str_val: s("25%"),
                    }),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn deployment_json() -> Value {
    json!({
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": "web",
            "labels": {"app": "web"},
            "creationTimestamp": "2024-01-01T00:00:00Z"
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {
                    "containers": [{
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "args": ["-g", "daemon off;"],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {
                            "limits": {"cpu": "500m", "memory": "128Mi"},
                            "requests": {"cpu": "250m"}
                        },
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http"},
                            "periodSeconds": 5
                        }
                    }],
                    "terminationGracePeriodSeconds": 0
                }
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}
            }
        },
        "status": {}
    })
}

#[test]
fn deployment_full() {
    let got = decode_body(&body("apps/v1", "Deployment", &deployment())).expect("decode");
    assert_eq!(got, deployment_json());
}

/// gogo-protobuf (what Go clients use) writes every value-typed field, zero or
/// not. Those zeros must vanish for `omitempty` fields, while explicit zeros
/// of pointer fields (`replicas: 0`) must survive.
#[test]
fn go_style_zero_values() {
    let mut d = deployment();
    let meta = d.metadata.as_mut().expect("metadata");
    for field in [
        &mut meta.generate_name,
        &mut meta.namespace,
        &mut meta.self_link,
        &mut meta.uid,
        &mut meta.resource_version,
    ] {
        *field = s("");
    }
    meta.generation = Some(0);
    let spec = d.spec.as_mut().expect("spec");
    spec.replicas = Some(0);
    spec.min_ready_seconds = Some(0);
    spec.paused = Some(false);
    let container = spec
        .template
        .as_mut()
        .and_then(|t| t.spec.as_mut())
        .and_then(|p| p.containers.first_mut())
        .expect("container");
    container.image_pull_policy = s("");
    container.stdin = Some(false);
    let port = container.ports.first_mut().expect("port");
    port.name = s("");
    port.host_port = Some(0);
    port.host_ip = s("");
    let probe = container.readiness_probe.as_mut().expect("probe");
    probe.timeout_seconds = Some(0);
    // Go writes a zero metav1.Time value as an empty message.
    let template_meta = spec
        .template
        .as_mut()
        .and_then(|t| t.metadata.as_mut())
        .expect("template metadata");
    template_meta.creation_timestamp = Some(meta::Time::default());
    d.status = Some(apps::DeploymentStatus {
        observed_generation: Some(0),
        replicas: Some(0),
        ..Default::default()
    });

    let mut want = deployment_json();
    want["spec"]["replicas"] = json!(0);
    let got = decode_body(&body("apps/v1", "Deployment", &d)).expect("decode");
    assert_eq!(got, want);
}

#[test]
fn delete_options_under_any_group_version() {
    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: s("Foreground"),
        ..Default::default()
    };
    let got = decode_body(&body("apps/v1", "DeleteOptions", &opts)).expect("decode");
    assert_eq!(
        got,
        json!({
            "kind": "DeleteOptions",
            "apiVersion": "apps/v1",
            "gracePeriodSeconds": 0,
            "propagationPolicy": "Foreground"
        })
    );
}

#[test]
fn decode_object_without_envelope() {
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            name: s("x"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let got = decode_object("v1", "Namespace", &ns.encode_to_vec()).expect("decode");
    assert_eq!(got["metadata"]["name"], "x");
    assert_eq!(got["kind"], "Namespace");
}

#[test]
fn inline_embedded_structs() {
    // SecretKeySelector embeds LocalObjectReference (`json:",inline"`).
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: s("p"),
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: s("c"),
                env: vec![core::EnvVar {
                    name: s("PASSWORD"),
                    value_from: Some(core::EnvVarSource {
                        secret_key_ref: Some(core::SecretKeySelector {
                            local_object_reference: Some(core::LocalObjectReference {
                                name: s("db"),
                            }),
                            key: s("password"),
                            optional: Some(false),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            volumes: vec![core::Volume {
                name: s("data"),
                volume_source: Some(core::VolumeSource {
                    empty_dir: Some(core::EmptyDirVolumeSource {
                        size_limit: Some(quantity("1Gi")),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            automount_service_account_token: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let got = decode_body(&body("v1", "Pod", &pod)).expect("decode");
    assert_eq!(
        got["spec"],
        json!({
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
            "containers": [{
                "name": "c",
                "env": [{
                    "name": "PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "password", "optional": false}}
                }],
                "resources": {}
            }],
            "automountServiceAccountToken": false
        })
    );
}

#[test]
fn special_types() {
    use k8s_pb::api::coordination::v1 as coord;
    let lease = coord::Lease {
        metadata: Some(meta::ObjectMeta {
            name: s("l"),
            deletion_timestamp: Some(meta::Time {
                seconds: Some(1_709_210_096),
                nanos: Some(999_999_999),
            }),
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kubectl"),
                operation: s("Update"),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(br#"{"f:spec":{"f:holderIdentity":{}}}"#.to_vec()),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        spec: Some(coord::LeaseSpec {
            holder_identity: s(""),
            renew_time: Some(meta::MicroTime {
                seconds: Some(1_704_067_200),
                nanos: Some(123_456_789),
            }),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let got = decode_body(&body("coordination.k8s.io/v1", "Lease", &lease)).expect("decode");
    assert_eq!(got["metadata"]["deletionTimestamp"], "2024-02-29T12:34:56Z");
    assert_eq!(
        got["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {"f:holderIdentity": {}}})
    );
    assert_eq!(
        got["spec"],
        json!({
            "holderIdentity": "",
            "leaseDurationSeconds": 15,
            "renewTime": "2024-01-01T00:00:00.123456Z"
        })
    );
}

#[test]
fn custom_resource_definition_schema() {
    use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    let props = |ty: &str| ext::JsonSchemaProps {
        r#type: s(ty),
        ..Default::default()
    };
    let schema = ext::JsonSchemaProps {
        r#type: s("object"),
        properties: map(&[
            (
                "size",
                ext::JsonSchemaProps {
                    maximum: Some(10.0),
                    minimum: Some(0.5),
                    default: Some(ext::Json {
                        raw: Some(b"3".to_vec()),
                    }),
                    ..props("integer")
                },
            ),
            (
                "tags",
                ext::JsonSchemaProps {
                    items: Some(Box::new(ext::JsonSchemaPropsOrArray {
                        schema: Some(Box::new(props("string"))),
                        j_son_schemas: vec![],
                    })),
                    ..props("array")
                },
            ),
        ]),
        additional_properties: Some(Box::new(ext::JsonSchemaPropsOrBool {
            allows: Some(false),
            schema: None,
        })),
        x_kubernetes_preserve_unknown_fields: Some(true),
        ..Default::default()
    };
    let crd = ext::CustomResourceDefinition {
        metadata: Some(meta::ObjectMeta {
            name: s("widgets.example.com"),
            ..Default::default()
        }),
        spec: Some(ext::CustomResourceDefinitionSpec {
            group: s("example.com"),
            names: Some(ext::CustomResourceDefinitionNames {
                plural: s("widgets"),
                kind: s("Widget"),
                ..Default::default()
            }),
            scope: s("Namespaced"),
            versions: vec![ext::CustomResourceDefinitionVersion {
                name: s("v1"),
                served: Some(true),
                storage: Some(true),
                schema: Some(ext::CustomResourceValidation {
                    open_apiv3_schema: Some(schema),
                }),
                subresources: Some(ext::CustomResourceSubresources {
                    status: Some(ext::CustomResourceSubresourceStatus {}),
                    scale: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let got = decode_body(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        &crd,
    ))
    .expect("decode");
    assert_eq!(
        got["spec"]["versions"][0],
        json!({
            "name": "v1",
            "served": true,
            "storage": true,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "default": 3, "maximum": 10, "minimum": 0.5},
                    "tags": {"type": "array", "items": {"type": "string"}}
                },
                "additionalProperties": false,
                "x-kubernetes-preserve-unknown-fields": true
            }},
            "subresources": {"status": {}}
        })
    );
    assert_eq!(
        got["spec"]["names"],
        json!({"plural": "widgets", "kind": "Widget"})
    );
    assert_eq!(
        got["status"],
        json!({"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": null})
    );
}

#[test]
fn errors_name_the_location() {
    let mut d = deployment();
    if let Some(c) = d
        .spec
        .as_mut()
        .and_then(|s| s.template.as_mut())
        .and_then(|t| t.spec.as_mut())
        .and_then(|p| p.containers.first_mut())
    {
        c.resources = Some(core::ResourceRequirements {
            limits: map(&[("cpu", quantity("lots"))]),
            ..Default::default()
        });
    }
    let err = decode_body(&body("apps/v1", "Deployment", &d)).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Malformed {
            path: "Deployment.spec.template.spec.containers[0].resources.limits[\"cpu\"]".into(),
            reason: "quantity \"lots\" does not match the Kubernetes quantity syntax".into(),
        }
    );
    // Truncating the object anywhere yields an error, never a panic.
    let full = body("apps/v1", "Deployment", &deployment());
    for cut in 0..full.len() {
        let _ = decode_body(&full[..cut]);
    }
}

#[test]
fn wrong_wire_type_is_reported() {
    // Deployment.spec (field 2) as a varint.
    let err = decode_object("apps/v1", "Deployment", &[0x10, 0x01]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed protobuf at Deployment: field 2 (spec) of Deployment has wire type 0, expected 2"
    );
}

/// Hitting the depth limit fits in 1 MiB of stack even in debug builds (< 256 KiB in release).
const STACK: usize = 1 << 20;

#[test]
fn depth_is_bounded() {
    use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    let mut schema = ext::JsonSchemaProps::default();
    for _ in 0..200 {
        schema = ext::JsonSchemaProps {
            not: Some(Box::new(schema)),
            ..Default::default()
        };
    }
    let crd = ext::CustomResourceDefinition {
        spec: Some(ext::CustomResourceDefinitionSpec {
            versions: vec![ext::CustomResourceDefinitionVersion {
                schema: Some(ext::CustomResourceValidation {
                    open_apiv3_schema: Some(schema),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let body = body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd);
    // Run on a deliberately small stack: hitting the limit must not need more.
    let handle = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || decode_body(&body).map(|_| ()))
        .expect("spawn");
    let err = handle.join().expect("no stack overflow").unwrap_err();
    assert!(
        err.to_string().contains("nested more than 100 levels"),
        "{err}"
    );
}
