//! The table of built-in kinds whose schemas this crate can publish.
//!
//! Each row ties a group/version/kind to its k8s-openapi Rust type so the
//! schema can be generated through `schemars`, plus the REST shape upstream
//! serves it with (used by [`crate::openapi::builtin_resources`]).

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions_v1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta_v1;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration_v1;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// Which REST verbs/subresources upstream serves for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Full CRUD plus watch; has a List kind.
    Crud,
    /// Like `Crud` plus a `/status` subresource.
    CrudStatus,
    /// Like `CrudStatus` plus a `/scale` subresource.
    CrudStatusScale,
    /// `Namespace`: CRUD without deletecollection, plus `/status`.
    Namespace,
    /// Read-only list/get (ComponentStatus).
    ReadOnly,
    /// Create-only virtual resources (reviews, bindings).
    CreateOnly,
    /// Only used as a subresource body (Scale, Eviction, TokenRequest).
    SubresourceOnly,
}

impl Shape {
    /// Whether upstream publishes a `<Kind>List` type for this kind.
    pub(crate) fn has_list(self) -> bool {
        matches!(
            self,
            Shape::Crud
                | Shape::CrudStatus
                | Shape::CrudStatusScale
                | Shape::Namespace
                | Shape::ReadOnly
        )
    }

    /// Verbs of the main resource, in discovery order.
    pub(crate) fn verbs(self) -> &'static [&'static str] {
        const CRUD: &[&str] = &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        match self {
            Shape::Crud | Shape::CrudStatus | Shape::CrudStatusScale => CRUD,
            Shape::Namespace => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Shape::ReadOnly => &["get", "list"],
            Shape::CreateOnly => &["create"],
            Shape::SubresourceOnly => &[],
        }
    }
}

/// One built-in kind.
#[derive(Clone, Copy)]
pub(crate) struct KindDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Plural resource name; empty for subresource-only kinds.
    pub plural: &'static str,
    pub namespaced: bool,
    pub shape: Shape,
    /// Adds the schema (and its dependencies) to the generator.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// Upstream definition name, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub name: fn() -> std::borrow::Cow<'static, str>,
}

impl std::fmt::Debug for KindDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} {}", self.group, self.version, self.kind)
    }
}

/// Builds a row; the function pointers are monomorphised per type.
const fn def<T: JsonSchema>(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    shape: Shape,
) -> KindDef {
    KindDef {
        group,
        version,
        kind,
        plural,
        namespaced,
        shape,
        schema: SchemaGenerator::subschema_for::<T>,
        name: T::schema_name,
    }
}

use Shape::*;

/// Every built-in kind this crate knows about.
pub(crate) static KINDS: &[KindDef] = &[
    // core/v1
    def::<api::core::v1::Pod>("", "v1", "Pod", "pods", true, CrudStatus),
    def::<api::core::v1::Service>("", "v1", "Service", "services", true, CrudStatus),
    def::<api::core::v1::Endpoints>("", "v1", "Endpoints", "endpoints", true, Crud),
    def::<api::core::v1::ConfigMap>("", "v1", "ConfigMap", "configmaps", true, Crud),
    def::<api::core::v1::Secret>("", "v1", "Secret", "secrets", true, Crud),
    def::<api::core::v1::Namespace>("", "v1", "Namespace", "namespaces", false, Namespace),
    def::<api::core::v1::Node>("", "v1", "Node", "nodes", false, CrudStatus),
    def::<api::core::v1::Event>("", "v1", "Event", "events", true, Crud),
    def::<api::core::v1::ServiceAccount>("", "v1", "ServiceAccount", "serviceaccounts", true, Crud),
    def::<api::core::v1::ResourceQuota>(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        CrudStatus,
    ),
    def::<api::core::v1::LimitRange>("", "v1", "LimitRange", "limitranges", true, Crud),
    def::<api::core::v1::PersistentVolume>(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        CrudStatus,
    ),
    def::<api::core::v1::PersistentVolumeClaim>(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        CrudStatus,
    ),
    def::<api::core::v1::ReplicationController>(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
        CrudStatusScale,
    ),
    def::<api::core::v1::PodTemplate>("", "v1", "PodTemplate", "podtemplates", true, Crud),
    def::<api::core::v1::Binding>("", "v1", "Binding", "bindings", true, CreateOnly),
    def::<api::core::v1::ComponentStatus>(
        "",
        "v1",
        "ComponentStatus",
        "componentstatuses",
        false,
        ReadOnly,
    ),
    // admissionregistration.k8s.io/v1
    def::<api::admissionregistration::v1::MutatingWebhookConfiguration>(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        Crud,
    ),
    def::<api::admissionregistration::v1::ValidatingWebhookConfiguration>(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        Crud,
    ),
    def::<api::admissionregistration::v1::ValidatingAdmissionPolicy>(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
        CrudStatus,
    ),
    def::<api::admissionregistration::v1::ValidatingAdmissionPolicyBinding>(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
        Crud,
    ),
    // apiextensions.k8s.io/v1
    def::<apiextensions_v1::CustomResourceDefinition>(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        CrudStatus,
    ),
    // apiregistration.k8s.io/v1
    def::<apiregistration_v1::APIService>(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        false,
        CrudStatus,
    ),
    // apps/v1
    def::<api::apps::v1::ControllerRevision>(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        Crud,
    ),
    def::<api::apps::v1::DaemonSet>("apps", "v1", "DaemonSet", "daemonsets", true, CrudStatus),
    def::<api::apps::v1::Deployment>(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        CrudStatusScale,
    ),
    def::<api::apps::v1::ReplicaSet>(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        CrudStatusScale,
    ),
    def::<api::apps::v1::StatefulSet>(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        CrudStatusScale,
    ),
    // authentication.k8s.io/v1
    def::<api::authentication::v1::SelfSubjectReview>(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        false,
        CreateOnly,
    ),
    def::<api::authentication::v1::TokenReview>(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        false,
        CreateOnly,
    ),
    def::<api::authentication::v1::TokenRequest>(
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
        "",
        true,
        SubresourceOnly,
    ),
    // authorization.k8s.io/v1
    def::<api::authorization::v1::LocalSubjectAccessReview>(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        true,
        CreateOnly,
    ),
    def::<api::authorization::v1::SelfSubjectAccessReview>(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
        CreateOnly,
    ),
    def::<api::authorization::v1::SelfSubjectRulesReview>(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        false,
        CreateOnly,
    ),
    def::<api::authorization::v1::SubjectAccessReview>(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
        CreateOnly,
    ),
    // autoscaling/v1 and v2
    def::<api::autoscaling::v1::HorizontalPodAutoscaler>(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        CrudStatus,
    ),
    def::<api::autoscaling::v1::Scale>("autoscaling", "v1", "Scale", "", true, SubresourceOnly),
    def::<api::autoscaling::v2::HorizontalPodAutoscaler>(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        CrudStatus,
    ),
    // batch/v1
    def::<api::batch::v1::CronJob>("batch", "v1", "CronJob", "cronjobs", true, CrudStatus),
    def::<api::batch::v1::Job>("batch", "v1", "Job", "jobs", true, CrudStatus),
    // certificates.k8s.io/v1
    def::<api::certificates::v1::CertificateSigningRequest>(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        false,
        CrudStatus,
    ),
    // coordination.k8s.io/v1
    def::<api::coordination::v1::Lease>("coordination.k8s.io", "v1", "Lease", "leases", true, Crud),
    // discovery.k8s.io/v1
    def::<api::discovery::v1::EndpointSlice>(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        true,
        Crud,
    ),
    // events.k8s.io/v1
    def::<api::events::v1::Event>("events.k8s.io", "v1", "Event", "events", true, Crud),
    // flowcontrol.apiserver.k8s.io/v1
    def::<api::flowcontrol::v1::FlowSchema>(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "FlowSchema",
        "flowschemas",
        false,
        CrudStatus,
    ),
    def::<api::flowcontrol::v1::PriorityLevelConfiguration>(
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        false,
        CrudStatus,
    ),
    // networking.k8s.io/v1
    def::<api::networking::v1::IPAddress>(
        "networking.k8s.io",
        "v1",
        "IPAddress",
        "ipaddresses",
        false,
        Crud,
    ),
    def::<api::networking::v1::Ingress>(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        CrudStatus,
    ),
    def::<api::networking::v1::IngressClass>(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
        Crud,
    ),
    def::<api::networking::v1::NetworkPolicy>(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        Crud,
    ),
    def::<api::networking::v1::ServiceCIDR>(
        "networking.k8s.io",
        "v1",
        "ServiceCIDR",
        "servicecidrs",
        false,
        CrudStatus,
    ),
    // node.k8s.io/v1
    def::<api::node::v1::RuntimeClass>(
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        "runtimeclasses",
        false,
        Crud,
    ),
    // policy/v1
    def::<api::policy::v1::Eviction>("policy", "v1", "Eviction", "", true, SubresourceOnly),
    def::<api::policy::v1::PodDisruptionBudget>(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        CrudStatus,
    ),
    // rbac.authorization.k8s.io/v1
    def::<api::rbac::v1::ClusterRole>(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        Crud,
    ),
    def::<api::rbac::v1::ClusterRoleBinding>(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        Crud,
    ),
    def::<api::rbac::v1::Role>(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        Crud,
    ),
    def::<api::rbac::v1::RoleBinding>(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        Crud,
    ),
    // scheduling.k8s.io/v1
    def::<api::scheduling::v1::PriorityClass>(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        Crud,
    ),
    // storage.k8s.io/v1
    def::<api::storage::v1::CSIDriver>(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        false,
        Crud,
    ),
    def::<api::storage::v1::CSINode>("storage.k8s.io", "v1", "CSINode", "csinodes", false, Crud),
    def::<api::storage::v1::CSIStorageCapacity>(
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        true,
        Crud,
    ),
    def::<api::storage::v1::StorageClass>(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        Crud,
    ),
    def::<api::storage::v1::VolumeAttachment>(
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "volumeattachments",
        false,
        CrudStatus,
    ),
];

/// Extra subresources upstream serves beyond `/status` and `/scale`:
/// (group, parent plural, subresource, kind of the subresource body).
pub(crate) static EXTRA_SUBRESOURCES: &[(&str, &str, &str, &str, &[&str])] = &[
    ("", "pods", "binding", "Binding", &["create"]),
    ("", "pods", "eviction", "Eviction", &["create"]),
    ("", "serviceaccounts", "token", "TokenRequest", &["create"]),
    (
        "certificates.k8s.io",
        "certificatesigningrequests",
        "approval",
        "CertificateSigningRequest",
        &["get", "patch", "update"],
    ),
];

/// apimachinery types every document needs (operation bodies/responses).
pub(crate) fn meta_schemas(g: &mut SchemaGenerator) {
    let _ = g.subschema_for::<meta_v1::Status>();
    let _ = g.subschema_for::<meta_v1::DeleteOptions>();
    let _ = g.subschema_for::<meta_v1::Patch>();
    let _ = g.subschema_for::<meta_v1::WatchEvent<api::core::v1::Pod>>();
    let _ = g.subschema_for::<meta_v1::APIResourceList>();
}

/// Upstream names of the apimachinery definitions that carry a GVK.
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(crate) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub(crate) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// Finds a kind by exact group/version/kind.
pub(crate) fn find(group: &str, version: &str, kind: &str) -> Option<&'static KindDef> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
}

/// Finds a kind for a subresource whose registry entry may carry the
/// parent's group (e.g. `apps/v1 Scale`): exact match first, then a unique
/// match by kind name.
pub(crate) fn resolve(group: &str, version: &str, kind: &str) -> Option<&'static KindDef> {
    if let Some(k) = find(group, version, kind) {
        return Some(k);
    }
    let mut candidates = KINDS.iter().filter(|k| k.kind == kind);
    let first = candidates.next()?;
    if candidates.next().is_some() {
        return None;
    }
    Some(first)
}
