//! Built-in merge facts for the common Kubernetes kinds.
//!
//! Upstream derives these from the generated OpenAPI (`+listType`, `+listMapKey`,
//! `+mapType`, `+structType` markers). We spell out the subset that differs from the
//! defaults — associative lists, sets, atomic structs and maps, map-typed fields — and
//! let [`TypeRef::Unknown`] cover everything else (granular structs with atomic lists),
//! which records the same ownership as upstream for those fields. Kinds without an
//! entry use a generic object type with standard ObjectMeta.

use crate::ssa::schema::{
    FieldDef, ListDef, ListType, MapDef, MapType, Rest, ScalarType, TypeDef, TypeRef, TypeSet,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Name of the ObjectMeta type, shared with CRD schemas.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LABEL_SELECTOR: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
const POD_TEMPLATE_SPEC: &str = "io.k8s.api.core.v1.PodTemplateSpec";
const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const CONTAINER: &str = "io.k8s.api.core.v1.Container";
const GENERIC_OBJECT: &str = "rkube.generic.Object";

fn named(n: &str) -> TypeRef {
    TypeRef::named(n)
}

/// A granular struct with the listed fields; other keys are lenient fields.
fn strukt(fields: Vec<(&str, TypeRef)>) -> TypeDef {
    strukt_with_defaults(fields.into_iter().map(|(n, t)| (n, t, None)).collect())
}

fn strukt_with_defaults(fields: Vec<(&str, TypeRef, Option<Value>)>) -> TypeDef {
    TypeDef {
        scalar: None,
        list: None,
        map: Some(MapDef {
            fields: fields
                .into_iter()
                .map(|(n, ty, default)| (n.to_string(), FieldDef { ty, default }))
                .collect(),
            rest: Some(Rest::Fields(TypeRef::Unknown)),
            map_type: MapType::Granular,
        }),
    }
}

/// `+structType=atomic` / `+mapType=atomic`: replaced and owned as a whole.
fn atomic_map() -> TypeRef {
    TypeRef::inline(TypeDef {
        scalar: None,
        list: None,
        map: Some(MapDef {
            fields: BTreeMap::new(),
            rest: Some(Rest::Elements(TypeRef::UntypedAtomic)),
            map_type: MapType::Atomic,
        }),
    })
}

/// `map[string]string`-like fields: every key is an owned entry.
fn string_map() -> TypeRef {
    TypeRef::inline(TypeDef {
        scalar: None,
        list: None,
        map: Some(MapDef {
            fields: BTreeMap::new(),
            rest: Some(Rest::Elements(TypeRef::inline(TypeDef {
                scalar: Some(ScalarType::Untyped),
                ..Default::default()
            }))),
            map_type: MapType::Granular,
        }),
    })
}

fn list(element: TypeRef, list_type: ListType) -> TypeRef {
    TypeRef::inline(TypeDef {
        scalar: None,
        list: Some(ListDef { element, list_type }),
        map: None,
    })
}

/// `+listType=map` keyed by `keys`.
fn keyed(element: TypeRef, keys: &[&str]) -> TypeRef {
    list(
        element,
        ListType::Map(keys.iter().map(|k| k.to_string()).collect()),
    )
}

/// `+listType=set` of scalars.
fn set() -> TypeRef {
    list(TypeRef::UntypedAtomic, ListType::Set)
}

/// `+listType=atomic`.
fn atomic_list() -> TypeRef {
    list(TypeRef::UntypedAtomic, ListType::Atomic)
}

/// A list of `metav1.Condition`-like items keyed by `type`.
fn conditions() -> TypeRef {
    keyed(TypeRef::Unknown, &["type"])
}

fn tcp() -> Option<Value> {
    Some(Value::String("TCP".into()))
}

impl TypeSet {
    /// The built-in table for core, apps and batch kinds. Unregistered kinds fall back
    /// to a generic object (ObjectMeta plus lenient fields), which is right for most
    /// built-in types; CRDs should be registered with [`TypeSet::add_crd`].
    pub fn builtin() -> TypeSet {
        let mut s = TypeSet::new(named(GENERIC_OBJECT));

        s.insert_type(
            OBJECT_META,
            strukt(vec![
                ("labels", string_map()),
                ("annotations", string_map()),
                ("finalizers", set()),
                ("ownerReferences", keyed(atomic_map(), &["uid"])),
                ("managedFields", atomic_list()),
            ]),
        );
        s.insert_type(LABEL_SELECTOR, resolve_inline(atomic_map()));
        s.insert_type(
            GENERIC_OBJECT,
            strukt(vec![("metadata", named(OBJECT_META))]),
        );

        // --- core/v1 pod machinery -------------------------------------------------
        let env_var_source = TypeRef::inline(strukt(vec![
            ("configMapKeyRef", atomic_map()),
            ("secretKeyRef", atomic_map()),
            ("fieldRef", atomic_map()),
            ("resourceFieldRef", atomic_map()),
            ("fileKeyRef", atomic_map()),
        ]));
        let env_var = TypeRef::inline(strukt(vec![("valueFrom", env_var_source)]));
        let container_port = TypeRef::inline(strukt_with_defaults(vec![(
            "protocol",
            TypeRef::Unknown,
            tcp(),
        )]));
        let resources = TypeRef::inline(strukt(vec![
            ("limits", string_map()),
            ("requests", string_map()),
            ("claims", keyed(TypeRef::Unknown, &["name"])),
        ]));
        s.insert_type(
            CONTAINER,
            strukt(vec![
                ("command", atomic_list()),
                ("args", atomic_list()),
                (
                    "ports",
                    keyed(container_port, &["containerPort", "protocol"]),
                ),
                ("env", keyed(env_var, &["name"])),
                ("envFrom", atomic_list()),
                ("volumeMounts", keyed(TypeRef::Unknown, &["mountPath"])),
                ("volumeDevices", keyed(TypeRef::Unknown, &["devicePath"])),
                ("resources", resources),
                ("resizePolicy", atomic_list()),
            ]),
        );
        let node_affinity = TypeRef::inline(strukt(vec![(
            "requiredDuringSchedulingIgnoredDuringExecution",
            atomic_map(),
        )]));
        let affinity = TypeRef::inline(strukt(vec![("nodeAffinity", node_affinity)]));
        let topology_spread = TypeRef::inline(strukt(vec![
            ("labelSelector", named(LABEL_SELECTOR)),
            ("matchLabelKeys", atomic_list()),
        ]));
        let host_alias = TypeRef::inline(strukt(vec![("hostnames", atomic_list())]));
        s.insert_type(
            POD_SPEC,
            strukt(vec![
                ("containers", keyed(named(CONTAINER), &["name"])),
                ("initContainers", keyed(named(CONTAINER), &["name"])),
                ("ephemeralContainers", keyed(named(CONTAINER), &["name"])),
                ("volumes", keyed(TypeRef::Unknown, &["name"])),
                ("imagePullSecrets", keyed(atomic_map(), &["name"])),
                ("tolerations", atomic_list()),
                ("hostAliases", keyed(host_alias, &["ip"])),
                (
                    "topologySpreadConstraints",
                    keyed(topology_spread, &["topologyKey", "whenUnsatisfiable"]),
                ),
                ("nodeSelector", atomic_map()),
                ("overhead", string_map()),
                ("readinessGates", atomic_list()),
                ("schedulingGates", keyed(TypeRef::Unknown, &["name"])),
                ("resourceClaims", keyed(TypeRef::Unknown, &["name"])),
                ("affinity", affinity),
            ]),
        );
        s.insert_type(
            POD_TEMPLATE_SPEC,
            strukt(vec![
                ("metadata", named(OBJECT_META)),
                ("spec", named(POD_SPEC)),
            ]),
        );
        let pod_status = TypeRef::inline(strukt(vec![
            ("conditions", conditions()),
            ("podIPs", keyed(TypeRef::Unknown, &["ip"])),
            ("containerStatuses", atomic_list()),
            ("initContainerStatuses", atomic_list()),
            ("ephemeralContainerStatuses", atomic_list()),
        ]));
        s.insert_root(
            "v1",
            "Pod",
            object(vec![("spec", named(POD_SPEC)), ("status", pod_status)]),
        );
        s.insert_root(
            "v1",
            "PodTemplate",
            object(vec![("template", named(POD_TEMPLATE_SPEC))]),
        );
        s.insert_root(
            "v1",
            "ReplicationController",
            object(vec![
                (
                    "spec",
                    TypeRef::inline(strukt(vec![
                        ("selector", atomic_map()),
                        ("template", named(POD_TEMPLATE_SPEC)),
                    ])),
                ),
                (
                    "status",
                    TypeRef::inline(strukt(vec![("conditions", conditions())])),
                ),
            ]),
        );

        // --- other core/v1 kinds ----------------------------------------------------
        let service_port = TypeRef::inline(strukt_with_defaults(vec![(
            "protocol",
            TypeRef::Unknown,
            tcp(),
        )]));
        let service_spec = TypeRef::inline(strukt(vec![
            ("ports", keyed(service_port, &["port", "protocol"])),
            ("selector", atomic_map()),
            ("clusterIPs", atomic_list()),
            ("externalIPs", atomic_list()),
            ("ipFamilies", atomic_list()),
            ("loadBalancerSourceRanges", atomic_list()),
        ]));
        let service_status = TypeRef::inline(strukt(vec![("conditions", conditions())]));
        s.insert_root(
            "v1",
            "Service",
            object(vec![("spec", service_spec), ("status", service_status)]),
        );
        s.insert_root(
            "v1",
            "ConfigMap",
            object(vec![("data", string_map()), ("binaryData", string_map())]),
        );
        s.insert_root(
            "v1",
            "Secret",
            object(vec![("data", string_map()), ("stringData", string_map())]),
        );
        s.insert_root(
            "v1",
            "Namespace",
            object(vec![
                (
                    "spec",
                    TypeRef::inline(strukt(vec![("finalizers", atomic_list())])),
                ),
                (
                    "status",
                    TypeRef::inline(strukt(vec![("conditions", conditions())])),
                ),
            ]),
        );
        s.insert_root(
            "v1",
            "Node",
            object(vec![
                (
                    "spec",
                    TypeRef::inline(strukt(vec![("podCIDRs", set()), ("taints", atomic_list())])),
                ),
                (
                    "status",
                    TypeRef::inline(strukt(vec![
                        ("conditions", conditions()),
                        ("addresses", keyed(TypeRef::Unknown, &["type"])),
                        ("capacity", string_map()),
                        ("allocatable", string_map()),
                    ])),
                ),
            ]),
        );
        s.insert_root(
            "v1",
            "PersistentVolumeClaim",
            object(vec![
                (
                    "spec",
                    TypeRef::inline(strukt(vec![
                        ("accessModes", atomic_list()),
                        ("selector", named(LABEL_SELECTOR)),
                        ("dataSource", atomic_map()),
                    ])),
                ),
                (
                    "status",
                    TypeRef::inline(strukt(vec![
                        ("conditions", conditions()),
                        ("capacity", string_map()),
                    ])),
                ),
            ]),
        );

        // --- apps/v1 and batch/v1 ---------------------------------------------------
        let workload_status = || TypeRef::inline(strukt(vec![("conditions", conditions())]));
        let workload_spec = |extra: Vec<(&'static str, TypeRef)>| {
            let mut fields = vec![
                ("selector", named(LABEL_SELECTOR)),
                ("template", named(POD_TEMPLATE_SPEC)),
            ];
            fields.extend(extra);
            TypeRef::inline(strukt(fields))
        };
        s.insert_root(
            "apps/v1",
            "Deployment",
            object(vec![
                ("spec", workload_spec(vec![])),
                ("status", workload_status()),
            ]),
        );
        s.insert_root(
            "apps/v1",
            "ReplicaSet",
            object(vec![
                ("spec", workload_spec(vec![])),
                ("status", workload_status()),
            ]),
        );
        s.insert_root(
            "apps/v1",
            "DaemonSet",
            object(vec![
                ("spec", workload_spec(vec![])),
                ("status", workload_status()),
            ]),
        );
        s.insert_root(
            "apps/v1",
            "StatefulSet",
            object(vec![
                (
                    "spec",
                    workload_spec(vec![("volumeClaimTemplates", atomic_list())]),
                ),
                ("status", workload_status()),
            ]),
        );
        let job_spec = workload_spec(vec![]);
        s.insert_root("batch/v1", "Job", object(vec![("spec", job_spec.clone())]));
        let job_template = TypeRef::inline(strukt(vec![
            ("metadata", named(OBJECT_META)),
            ("spec", job_spec),
        ]));
        s.insert_root(
            "batch/v1",
            "CronJob",
            object(vec![(
                "spec",
                TypeRef::inline(strukt(vec![("jobTemplate", job_template)])),
            )]),
        );
        for (av, kind, zero) in zero_objects() {
            s.insert_zero_object(av, kind, zero);
        }
        s
    }
}

/// Go zero values of the built-in kinds as structured-merge-diff reads them (structs
/// are never omitted, non-`omitempty` slices, maps and pointers are `null`).
fn zero_objects() -> Vec<(&'static str, &'static str, Value)> {
    let meta = json!({"creationTimestamp": null});
    let template = json!({"metadata": meta, "spec": {"containers": null}});
    vec![
        (
            "v1",
            "Pod",
            json!({"metadata": meta, "spec": {"containers": null}, "status": {}}),
        ),
        (
            "v1",
            "PodTemplate",
            json!({"metadata": meta, "template": template}),
        ),
        (
            "v1",
            "ReplicationController",
            json!({"metadata": meta, "spec": {}, "status": {"replicas": 0}}),
        ),
        (
            "v1",
            "Service",
            json!({"metadata": meta, "spec": {}, "status": {"loadBalancer": {}}}),
        ),
        ("v1", "ConfigMap", json!({"metadata": meta})),
        ("v1", "Secret", json!({"metadata": meta})),
        (
            "v1",
            "Namespace",
            json!({"metadata": meta, "spec": {}, "status": {}}),
        ),
        (
            "v1",
            "Node",
            json!({"metadata": meta, "spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}, "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "", "osImage": "",
            "containerRuntimeVersion": "", "kubeletVersion": "", "kubeProxyVersion": "", "operatingSystem": "", "architecture": ""}}}),
        ),
        (
            "v1",
            "PersistentVolumeClaim",
            json!({"metadata": meta, "spec": {"resources": {}}, "status": {}}),
        ),
        (
            "apps/v1",
            "Deployment",
            json!({"metadata": meta, "spec": {"selector": null, "template": template, "strategy": {}}, "status": {}}),
        ),
        (
            "apps/v1",
            "ReplicaSet",
            json!({"metadata": meta, "spec": {"selector": null, "template": template}, "status": {"replicas": 0}}),
        ),
        (
            "apps/v1",
            "StatefulSet",
            json!({"metadata": meta, "spec": {"selector": null, "template": template, "serviceName": "", "updateStrategy": {}},
                   "status": {"replicas": 0, "availableReplicas": 0}}),
        ),
        (
            "apps/v1",
            "DaemonSet",
            json!({"metadata": meta, "spec": {"selector": null, "template": template, "updateStrategy": {}},
                   "status": {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}}),
        ),
        (
            "batch/v1",
            "Job",
            json!({"metadata": meta, "spec": {"template": template}, "status": {}}),
        ),
        (
            "batch/v1",
            "CronJob",
            json!({"metadata": meta, "spec": {"schedule": "", "jobTemplate": {"metadata": meta, "spec": {"template": template}}}, "status": {}}),
        ),
    ]
}

/// A top-level object type: ObjectMeta plus the given fields.
fn object(fields: Vec<(&str, TypeRef)>) -> TypeRef {
    let mut all = vec![("metadata", named(OBJECT_META))];
    all.extend(fields);
    TypeRef::inline(strukt(all))
}

fn resolve_inline(t: TypeRef) -> TypeDef {
    match t {
        TypeRef::Inline(d) => (*d).clone(),
        _ => TypeDef::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssa::schema::{resolve, Schema};

    #[test]
    fn deployment_containers_are_keyed_by_name() {
        let s = TypeSet::builtin();
        let root = s.root_type("apps/v1", "Deployment");
        let d = resolve(&s, &root).unwrap().map.as_ref().unwrap();
        assert!(d.fields.contains_key("metadata"));
        let ps = s.named_type(POD_SPEC).unwrap().map.as_ref().unwrap();
        let containers = resolve(&s, &ps.fields["containers"].ty).unwrap();
        assert_eq!(
            containers.list.as_ref().unwrap().list_type,
            ListType::Map(vec!["name".into()])
        );
    }
}
