//! Static table of the built-in resources rkube serves (Kubernetes 1.33 compatible).
//!
//! The table drives discovery (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`,
//! aggregated discovery `apidiscovery.k8s.io/v2` and `v2beta1`, and so `kubectl api-resources`),
//! request routing, and the etcd-style storage key layout.
//!
//! # Where the facts come from
//!
//! Every short name, category, singular name, scope, verb list and subresource below was checked
//! against upstream Kubernetes:
//!
//! * `api/discovery/api__v1.json` and `api/discovery/aggregated_v2.json` in kubernetes/kubernetes
//!   (the discovery documents generated from a real kube-apiserver), plus a captured `/api/v1`
//!   response from a live recent cluster;
//! * the REST storage sources (`ShortNames()`/`Categories()`), e.g.
//!   `pkg/registry/core/service/storage/storage.go`;
//! * `pkg/registry/core/rest/storage_core.go`: `pods/resize` is installed when the
//!   `InPlacePodVerticalScaling` feature gate is on, which is Beta and on by default since 1.33
//!   (`pkg/features/kube_features.go`), so it is listed here. `pods/checkpoint` (newer than
//!   1.33) and `componentstatuses` (deprecated) are not served by rkube.
//!
//! Verbs are listed exactly as upstream discovery prints them: sorted alphabetically (the
//! apiserver's installer sorts them). Namespaces have no `deletecollection`; connect-style
//! subresources (`exec`, `attach`, `portforward`) list `create` and `get`; proxy subresources list
//! `create, delete, get, patch, update`.
//!
//! Within a group-version the resources are listed in upstream discovery order, which is
//! alphabetical by resource name; subresources are alphabetical too.
//!
//! # Group order
//!
//! [`groups`] returns groups in the order kube-apiserver's aggregator lists them in `/apis`:
//! by descending group priority (`GroupPriorityMinimum`), and versions inside a group by
//! descending version priority (the first one is the preferred version). The priorities are
//! upstream's, from `DefaultGenericAPIServicePriorities()` in
//! `pkg/controlplane/apiserver/aggregator.go` and `apiVersionPriorities` in
//! `cmd/kube-apiserver/app/aggregator.go`. The core group (`""`, served under `/api`) comes first
//! with priority 18000. Upstream's `/apis` additionally starts with the aggregator's own
//! `apiregistration.k8s.io` group, which rkube does not serve. Groups created by
//! CustomResourceDefinitions get [`CRD_GROUP_PRIORITY`] and [`CRD_VERSION_PRIORITY`]
//! (from the CRD registration controller), so they sort after every built-in group.
//!
//! # Storage keys
//!
//! Persisted resources carry a `storage_prefix`, the segment upstream puts after `/registry/` in
//! its etcd keys: `/registry/<storage_prefix>/<namespace>/<name>` for namespaced resources and
//! `/registry/<storage_prefix>/<name>` for cluster-scoped ones (see [`ResourceInfo::storage_key`]).
//! Upstream's `DefaultStorageFactory.ResourcePrefix` uses the lowercased resource name unless
//! `SpecialDefaultResourcePrefixes` (`pkg/kubeapiserver/default_storage_factory_builder.go`)
//! overrides it: `replicationcontrollers` → `controllers`, `endpoints` → `services/endpoints`,
//! `nodes` → `minions`, `services` → `services/specs`, `ingresses` → `ingress`. Resources that
//! "cohabit" (core and `events.k8s.io` events; `autoscaling/v1` and `v2` horizontal pod
//! autoscalers) share one prefix. The apiextensions server uses `<group>/<resource>`, hence
//! `apiextensions.k8s.io/customresourcedefinitions`. Virtual resources that are never stored
//! (`bindings`, token and access reviews) have an empty `storage_prefix`.

/// Discovery priority upstream gives the groups of CustomResourceDefinitions.
pub const CRD_GROUP_PRIORITY: i32 = 1000;

/// Discovery version priority upstream gives every version of a CustomResourceDefinition group;
/// versions of equal priority are then ordered by Kubernetes version ordering.
pub const CRD_VERSION_PRIORITY: i32 = 100;

/// A subresource of a built-in resource, such as `pods/log` or `deployments/scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubresourceInfo {
    /// Subresource name without the parent, e.g. `"status"`.
    pub name: &'static str,
    /// Group of the object the subresource accepts and returns (`""` for core).
    pub group: &'static str,
    /// Version of the object the subresource accepts and returns.
    pub version: &'static str,
    /// Kind of the object the subresource accepts and returns.
    pub kind: &'static str,
    /// Verbs as upstream discovery lists them (sorted).
    pub verbs: &'static [&'static str],
}

/// A built-in resource in one group-version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// API version, e.g. `"v1"`.
    pub version: &'static str,
    /// Kind, e.g. `"Pod"`.
    pub kind: &'static str,
    /// Resource name (plural), e.g. `"pods"`.
    pub plural: &'static str,
    /// Singular resource name, e.g. `"pod"`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names, exactly as upstream.
    pub short_names: &'static [&'static str],
    /// Categories (e.g. `all`), exactly as upstream.
    pub categories: &'static [&'static str],
    /// Verbs as upstream discovery lists them (sorted).
    pub verbs: &'static [&'static str],
    /// Subresources, sorted by name.
    pub subresources: &'static [SubresourceInfo],
    /// Segment after `/registry/` in storage keys; empty for resources that are never stored.
    pub storage_prefix: &'static str,
}

impl SubresourceInfo {
    /// `apiVersion` of the object the subresource accepts and returns: `"v1"` or `"group/v1"`.
    pub fn api_version(&self) -> String {
        join_api_version(self.group, self.version)
    }

    /// Whether discovery must name this subresource's group and version explicitly.
    ///
    /// Upstream only fills `group`/`version` of a subresource in `APIResource` (discovery v1)
    /// and in `responseKind` (aggregated discovery) when the subresource's kind lives in another
    /// group-version than its parent, e.g. `pods/eviction` (`policy/v1` `Eviction`),
    /// `serviceaccounts/token` (`authentication.k8s.io/v1` `TokenRequest`) and every `scale`
    /// (`autoscaling/v1` `Scale`). Otherwise both are printed as empty strings (or omitted).
    pub fn differs_from(&self, parent: &ResourceInfo) -> bool {
        self.group != parent.group || self.version != parent.version
    }

    /// Whether this subresource supports `verb`.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

impl ResourceInfo {
    /// `apiVersion` of the resource's objects: `"v1"` for core, `"apps/v1"` otherwise.
    pub fn api_version(&self) -> String {
        join_api_version(self.group, self.version)
    }

    /// Aggregated discovery `scope`: `"Namespaced"` or `"Cluster"`.
    pub fn scope(&self) -> &'static str {
        if self.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }
    }

    /// `group/resource` as upstream prints it in errors and RBAC (`"pods"`, `"deployments.apps"`).
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether the resource supports `verb`.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The named subresource, e.g. `subresource("status")`.
    pub fn subresource(&self, name: &str) -> Option<&'static SubresourceInfo> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether objects of this resource are persisted (virtual resources such as `bindings`
    /// or `tokenreviews` are not).
    pub fn is_persisted(&self) -> bool {
        !self.storage_prefix.is_empty()
    }

    /// Whether this is the preferred version of its group.
    pub fn is_preferred_version(&self) -> bool {
        preferred_version(self.group) == Some(self.version)
    }

    /// Upstream's storage key prefix for listing: `/registry/<prefix>/` for every namespace, or
    /// `/registry/<prefix>/<namespace>/` for one namespace of a namespaced resource.
    /// `None` for resources that are never stored.
    pub fn storage_list_prefix(&self, namespace: Option<&str>) -> Option<String> {
        if !self.is_persisted() {
            return None;
        }
        Some(match namespace {
            Some(ns) if self.namespaced => format!("/registry/{}/{}/", self.storage_prefix, ns),
            _ => format!("/registry/{}/", self.storage_prefix),
        })
    }

    /// Upstream's storage key of one object: `/registry/<prefix>/<namespace>/<name>` or, for
    /// cluster-scoped resources, `/registry/<prefix>/<name>` (the namespace is then ignored).
    /// `None` for resources that are never stored, or when a namespaced resource gets no
    /// namespace.
    pub fn storage_key(&self, namespace: Option<&str>, name: &str) -> Option<String> {
        if !self.is_persisted() {
            return None;
        }
        if self.namespaced {
            let ns = namespace?;
            Some(format!("/registry/{}/{}/{}", self.storage_prefix, ns, name))
        } else {
            Some(format!("/registry/{}/{}", self.storage_prefix, name))
        }
    }
}

/// One API group with its served versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name, `""` for the core group.
    pub name: &'static str,
    /// Served versions, preferred first (descending version priority).
    pub versions: Vec<&'static str>,
    /// The preferred version (`versions[0]`).
    pub preferred_version: &'static str,
    /// Upstream group priority (`GroupPriorityMinimum`); higher sorts first.
    pub priority: i32,
    /// Upstream version priorities, parallel to `versions`.
    pub version_priorities: Vec<i32>,
}

struct GroupDef {
    name: &'static str,
    priority: i32,
    /// (version, version priority), preferred first.
    versions: &'static [(&'static str, i32)],
}

/// Served groups in `/apis` order (core first), with upstream priorities.
const GROUPS: &[GroupDef] = &[
    GroupDef {
        name: "",
        priority: 18000,
        versions: &[("v1", 1)],
    },
    GroupDef {
        name: "apps",
        priority: 17800,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "events.k8s.io",
        priority: 17750,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "authentication.k8s.io",
        priority: 17700,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "authorization.k8s.io",
        priority: 17600,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "autoscaling",
        priority: 17500,
        versions: &[("v2", 30), ("v1", 15)],
    },
    GroupDef {
        name: "batch",
        priority: 17400,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "certificates.k8s.io",
        priority: 17300,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "networking.k8s.io",
        priority: 17200,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "policy",
        priority: 17100,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "rbac.authorization.k8s.io",
        priority: 17000,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "storage.k8s.io",
        priority: 16800,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "apiextensions.k8s.io",
        priority: 16700,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "scheduling.k8s.io",
        priority: 16600,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "coordination.k8s.io",
        priority: 16500,
        versions: &[("v1", 15)],
    },
    GroupDef {
        name: "discovery.k8s.io",
        priority: 16200,
        versions: &[("v1", 15)],
    },
    // metrics-server's APIService priorities (groupPriorityMinimum 100).
    GroupDef {
        name: "metrics.k8s.io",
        priority: 100,
        versions: &[("v1beta1", 100)],
    },
];

// Verb sets, sorted as upstream discovery prints them.
const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const RW_NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const CREATE: &[&str] = &["create"];
const GET: &[&str] = &["get"];
const UPDATE: &[&str] = &["update"];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
const CONNECT: &[&str] = &["create", "get"];
const GET_LIST: &[&str] = &["get", "list"];
const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];

const NONE: &[&str] = &[];
const ALL: &[&str] = &["all"];
const API_EXTENSIONS: &[&str] = &["api-extensions"];

const fn sub(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> SubresourceInfo {
    SubresourceInfo {
        name,
        group,
        version,
        kind,
        verbs,
    }
}

const fn status(group: &'static str, version: &'static str, kind: &'static str) -> SubresourceInfo {
    sub("status", group, version, kind, GET_PATCH_UPDATE)
}

const SCALE: SubresourceInfo = sub("scale", "autoscaling", "v1", "Scale", GET_PATCH_UPDATE);

static BUILTIN: &[ResourceInfo] = &[
    // ---- core/v1 -----------------------------------------------------------------------
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Binding",
        plural: "bindings",
        singular: "binding",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: CREATE,
        subresources: &[],
        storage_prefix: "",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ConfigMap",
        plural: "configmaps",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "configmaps",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Endpoints",
        plural: "endpoints",
        singular: "endpoints",
        namespaced: true,
        short_names: &["ep"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "services/endpoints",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "events",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "LimitRange",
        plural: "limitranges",
        singular: "limitrange",
        namespaced: true,
        short_names: &["limits"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "limitranges",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: NONE,
        verbs: RW_NO_DELETECOLLECTION,
        subresources: &[
            sub("finalize", "", "v1", "Namespace", UPDATE),
            status("", "v1", "Namespace"),
        ],
        storage_prefix: "namespaces",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        categories: NONE,
        verbs: RW,
        subresources: &[
            sub("proxy", "", "v1", "NodeProxyOptions", PROXY),
            status("", "v1", "Node"),
        ],
        storage_prefix: "minions",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "PersistentVolumeClaim",
        plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        namespaced: true,
        short_names: &["pvc"],
        categories: NONE,
        verbs: RW,
        subresources: &[status("", "v1", "PersistentVolumeClaim")],
        storage_prefix: "persistentvolumeclaims",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "PersistentVolume",
        plural: "persistentvolumes",
        singular: "persistentvolume",
        namespaced: false,
        short_names: &["pv"],
        categories: NONE,
        verbs: RW,
        subresources: &[status("", "v1", "PersistentVolume")],
        storage_prefix: "persistentvolumes",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: ALL,
        verbs: RW,
        subresources: &[
            sub("attach", "", "v1", "PodAttachOptions", CONNECT),
            sub("binding", "", "v1", "Binding", CREATE),
            sub("ephemeralcontainers", "", "v1", "Pod", GET_PATCH_UPDATE),
            sub("eviction", "policy", "v1", "Eviction", CREATE),
            sub("exec", "", "v1", "PodExecOptions", CONNECT),
            sub("log", "", "v1", "Pod", GET),
            sub("portforward", "", "v1", "PodPortForwardOptions", CONNECT),
            sub("proxy", "", "v1", "PodProxyOptions", PROXY),
            sub("resize", "", "v1", "Pod", GET_PATCH_UPDATE),
            status("", "v1", "Pod"),
        ],
        storage_prefix: "pods",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "PodTemplate",
        plural: "podtemplates",
        singular: "podtemplate",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "podtemplates",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ReplicationController",
        plural: "replicationcontrollers",
        singular: "replicationcontroller",
        namespaced: true,
        short_names: &["rc"],
        categories: ALL,
        verbs: RW,
        subresources: &[SCALE, status("", "v1", "ReplicationController")],
        storage_prefix: "controllers",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ResourceQuota",
        plural: "resourcequotas",
        singular: "resourcequota",
        namespaced: true,
        short_names: &["quota"],
        categories: NONE,
        verbs: RW,
        subresources: &[status("", "v1", "ResourceQuota")],
        storage_prefix: "resourcequotas",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Secret",
        plural: "secrets",
        singular: "secret",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "secrets",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "ServiceAccount",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        namespaced: true,
        short_names: &["sa"],
        categories: NONE,
        verbs: RW,
        subresources: &[sub(
            "token",
            "authentication.k8s.io",
            "v1",
            "TokenRequest",
            CREATE,
        )],
        storage_prefix: "serviceaccounts",
    },
    ResourceInfo {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        categories: ALL,
        verbs: RW,
        subresources: &[
            sub("proxy", "", "v1", "ServiceProxyOptions", PROXY),
            status("", "v1", "Service"),
        ],
        storage_prefix: "services/specs",
    },
    // ---- apps/v1 -----------------------------------------------------------------------
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "ControllerRevision",
        plural: "controllerrevisions",
        singular: "controllerrevision",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "controllerrevisions",
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        plural: "daemonsets",
        singular: "daemonset",
        namespaced: true,
        short_names: &["ds"],
        categories: ALL,
        verbs: RW,
        subresources: &[status("apps", "v1", "DaemonSet")],
        storage_prefix: "daemonsets",
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: ALL,
        verbs: RW,
        subresources: &[SCALE, status("apps", "v1", "Deployment")],
        storage_prefix: "deployments",
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        plural: "replicasets",
        singular: "replicaset",
        namespaced: true,
        short_names: &["rs"],
        categories: ALL,
        verbs: RW,
        subresources: &[SCALE, status("apps", "v1", "ReplicaSet")],
        storage_prefix: "replicasets",
    },
    ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "StatefulSet",
        plural: "statefulsets",
        singular: "statefulset",
        namespaced: true,
        short_names: &["sts"],
        categories: ALL,
        verbs: RW,
        subresources: &[SCALE, status("apps", "v1", "StatefulSet")],
        storage_prefix: "statefulsets",
    },
    // ---- events.k8s.io/v1 --------------------------------------------------------------
    ResourceInfo {
        group: "events.k8s.io",
        version: "v1",
        kind: "Event",
        plural: "events",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "events",
    },
    // ---- authentication.k8s.io/v1 ------------------------------------------------------
    ResourceInfo {
        group: "authentication.k8s.io",
        version: "v1",
        kind: "SelfSubjectReview",
        plural: "selfsubjectreviews",
        singular: "selfsubjectreview",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: CREATE,
        subresources: &[],
        storage_prefix: "",
    },
    ResourceInfo {
        group: "authentication.k8s.io",
        version: "v1",
        kind: "TokenReview",
        plural: "tokenreviews",
        singular: "tokenreview",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: CREATE,
        subresources: &[],
        storage_prefix: "",
    },
    // ---- authorization.k8s.io/v1 -------------------------------------------------------
    ResourceInfo {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: CREATE,
        subresources: &[],
        storage_prefix: "",
    },
    ResourceInfo {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SubjectAccessReview",
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: CREATE,
        subresources: &[],
        storage_prefix: "",
    },
    // ---- autoscaling/v2 (preferred) ----------------------------------------------------
    ResourceInfo {
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        singular: "horizontalpodautoscaler",
        namespaced: true,
        short_names: &["hpa"],
        categories: ALL,
        verbs: RW,
        subresources: &[status("autoscaling", "v2", "HorizontalPodAutoscaler")],
        storage_prefix: "horizontalpodautoscalers",
    },
    // ---- autoscaling/v1 ----------------------------------------------------------------
    ResourceInfo {
        group: "autoscaling",
        version: "v1",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        singular: "horizontalpodautoscaler",
        namespaced: true,
        short_names: &["hpa"],
        categories: ALL,
        verbs: RW,
        subresources: &[status("autoscaling", "v1", "HorizontalPodAutoscaler")],
        storage_prefix: "horizontalpodautoscalers",
    },
    // ---- batch/v1 ----------------------------------------------------------------------
    ResourceInfo {
        group: "batch",
        version: "v1",
        kind: "CronJob",
        plural: "cronjobs",
        singular: "cronjob",
        namespaced: true,
        short_names: &["cj"],
        categories: ALL,
        verbs: RW,
        subresources: &[status("batch", "v1", "CronJob")],
        storage_prefix: "cronjobs",
    },
    ResourceInfo {
        group: "batch",
        version: "v1",
        kind: "Job",
        plural: "jobs",
        singular: "job",
        namespaced: true,
        short_names: NONE,
        categories: ALL,
        verbs: RW,
        subresources: &[status("batch", "v1", "Job")],
        storage_prefix: "jobs",
    },
    // ---- certificates.k8s.io/v1 --------------------------------------------------------
    ResourceInfo {
        group: "certificates.k8s.io",
        version: "v1",
        kind: "CertificateSigningRequest",
        plural: "certificatesigningrequests",
        singular: "certificatesigningrequest",
        namespaced: false,
        short_names: &["csr"],
        categories: NONE,
        verbs: RW,
        subresources: &[
            sub(
                "approval",
                "certificates.k8s.io",
                "v1",
                "CertificateSigningRequest",
                GET_PATCH_UPDATE,
            ),
            status("certificates.k8s.io", "v1", "CertificateSigningRequest"),
        ],
        storage_prefix: "certificatesigningrequests",
    },
    // ---- networking.k8s.io/v1 ----------------------------------------------------------
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "IngressClass",
        plural: "ingressclasses",
        singular: "ingressclass",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "ingressclasses",
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        singular: "ingress",
        namespaced: true,
        short_names: &["ing"],
        categories: NONE,
        verbs: RW,
        subresources: &[status("networking.k8s.io", "v1", "Ingress")],
        storage_prefix: "ingress",
    },
    ResourceInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        singular: "networkpolicy",
        namespaced: true,
        short_names: &["netpol"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "networkpolicies",
    },
    // ---- policy/v1 ---------------------------------------------------------------------
    ResourceInfo {
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        plural: "poddisruptionbudgets",
        singular: "poddisruptionbudget",
        namespaced: true,
        short_names: &["pdb"],
        categories: NONE,
        verbs: RW,
        subresources: &[status("policy", "v1", "PodDisruptionBudget")],
        storage_prefix: "poddisruptionbudgets",
    },
    // ---- rbac.authorization.k8s.io/v1 --------------------------------------------------
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRoleBinding",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "clusterrolebindings",
    },
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "ClusterRole",
        plural: "clusterroles",
        singular: "clusterrole",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "clusterroles",
    },
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        plural: "rolebindings",
        singular: "rolebinding",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "rolebindings",
    },
    ResourceInfo {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        plural: "roles",
        singular: "role",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "roles",
    },
    // ---- storage.k8s.io/v1 -------------------------------------------------------------
    ResourceInfo {
        group: "storage.k8s.io",
        version: "v1",
        kind: "StorageClass",
        plural: "storageclasses",
        singular: "storageclass",
        namespaced: false,
        short_names: &["sc"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "storageclasses",
    },
    // ---- apiextensions.k8s.io/v1 -------------------------------------------------------
    ResourceInfo {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: API_EXTENSIONS,
        verbs: RW,
        subresources: &[status(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        )],
        storage_prefix: "apiextensions.k8s.io/customresourcedefinitions",
    },
    // ---- scheduling.k8s.io/v1 ----------------------------------------------------------
    ResourceInfo {
        group: "scheduling.k8s.io",
        version: "v1",
        kind: "PriorityClass",
        plural: "priorityclasses",
        singular: "priorityclass",
        namespaced: false,
        short_names: &["pc"],
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "priorityclasses",
    },
    // ---- coordination.k8s.io/v1 --------------------------------------------------------
    ResourceInfo {
        group: "coordination.k8s.io",
        version: "v1",
        kind: "Lease",
        plural: "leases",
        singular: "lease",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "leases",
    },
    // ---- discovery.k8s.io/v1 -----------------------------------------------------------
    ResourceInfo {
        group: "discovery.k8s.io",
        version: "v1",
        kind: "EndpointSlice",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: RW,
        subresources: &[],
        storage_prefix: "endpointslices",
    },
    // ---- metrics.k8s.io/v1beta1 (metrics-server's API, served from kubelet stats) -------
    ResourceInfo {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind: "NodeMetrics",
        plural: "nodes",
        singular: "",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        verbs: GET_LIST,
        subresources: &[],
        storage_prefix: "",
    },
    ResourceInfo {
        group: "metrics.k8s.io",
        version: "v1beta1",
        kind: "PodMetrics",
        plural: "pods",
        singular: "",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        verbs: GET_LIST,
        subresources: &[],
        storage_prefix: "",
    },
];

fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Every built-in resource: groups in discovery order, each group's versions preferred first,
/// resources alphabetical within a group-version.
pub fn builtin() -> &'static [ResourceInfo] {
    BUILTIN
}

/// The resource `plural` in `group`/`version` (`group` is `""` for core).
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    BUILTIN
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource serving `kind` in `group`/`version`.
pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    BUILTIN
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// The resource `plural` of `group` in the group's preferred version.
pub fn find_preferred(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    let version = preferred_version(group)?;
    find(group, version, plural)
}

/// Resources of one group-version, in discovery order.
pub fn resources_in(group: &str, version: &str) -> Vec<&'static ResourceInfo> {
    BUILTIN
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

/// Preferred-version resources in `category` (e.g. `"all"`), in discovery order.
pub fn in_category(category: &str) -> Vec<&'static ResourceInfo> {
    BUILTIN
        .iter()
        .filter(|r| r.categories.contains(&category) && r.is_preferred_version())
        .collect()
}

/// The preferred version of a served group (`""` is core).
pub fn preferred_version(group: &str) -> Option<&'static str> {
    GROUPS
        .iter()
        .find(|g| g.name == group)
        .and_then(|g| g.versions.first())
        .map(|(v, _)| *v)
}

/// Served groups in upstream discovery order (core `""` first, then `/apis` order), each with
/// its versions preferred first.
pub fn groups() -> Vec<GroupInfo> {
    GROUPS
        .iter()
        .filter_map(|g| {
            let (preferred, _) = *g.versions.first()?;
            Some(GroupInfo {
                name: g.name,
                versions: g.versions.iter().map(|(v, _)| *v).collect(),
                preferred_version: preferred,
                priority: g.priority,
                version_priorities: g.versions.iter().map(|(_, p)| *p).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    #[test]
    fn every_kind_found_by_find_kind() {
        for r in builtin() {
            let found = find_kind(r.group, r.version, r.kind).expect("kind found");
            assert_eq!(found.plural, r.plural, "{} {}", r.api_version(), r.kind);
            let found = find(r.group, r.version, r.plural).expect("plural found");
            assert_eq!(found.kind, r.kind);
        }
    }

    #[test]
    fn no_duplicate_entries() {
        let mut seen = HashSet::new();
        for r in builtin() {
            assert!(
                seen.insert((r.group, r.version, r.plural)),
                "duplicate {}/{}",
                r.api_version(),
                r.plural
            );
        }
    }

    /// Short names are unique among preferred versions, except where upstream itself reuses a
    /// short name for two views of one stored resource (`ev` for core and `events.k8s.io`
    /// events, which share `/registry/events`).
    #[test]
    fn short_names_unique_across_preferred_versions() {
        let mut by_short: BTreeMap<&str, Vec<&ResourceInfo>> = BTreeMap::new();
        for r in builtin().iter().filter(|r| r.is_preferred_version()) {
            for s in r.short_names {
                by_short.entry(s).or_default().push(r);
            }
        }
        for (short, rs) in &by_short {
            let stores: BTreeSet<(&str, &str)> =
                rs.iter().map(|r| (r.plural, r.storage_prefix)).collect();
            assert_eq!(stores.len(), 1, "short name {short} is ambiguous: {rs:?}");
        }
        assert_eq!(by_short["ev"].len(), 2);
        // Short names never collide with a plural or singular of another resource.
        for r in builtin() {
            for other in builtin() {
                if r.plural == other.plural {
                    continue;
                }
                for s in r.short_names {
                    assert_ne!(*s, other.plural);
                    assert_ne!(*s, other.singular);
                }
            }
        }
    }

    #[test]
    fn all_category_is_exactly_upstream() {
        let got: BTreeSet<(&str, &str)> = builtin()
            .iter()
            .filter(|r| r.categories.contains(&"all"))
            .map(|r| (r.group, r.plural))
            .collect();
        let want: BTreeSet<(&str, &str)> = [
            ("", "pods"),
            ("", "services"),
            ("", "replicationcontrollers"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("batch", "jobs"),
            ("batch", "cronjobs"),
            ("autoscaling", "horizontalpodautoscalers"),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
        assert!(find("autoscaling", "v1", "horizontalpodautoscalers")
            .expect("hpa v1")
            .categories
            .contains(&"all"));
        assert!(find("autoscaling", "v2", "horizontalpodautoscalers")
            .expect("hpa v2")
            .categories
            .contains(&"all"));
        let preferred: Vec<String> = in_category("all")
            .iter()
            .map(|r| r.group_resource())
            .collect();
        assert_eq!(
            preferred,
            [
                "pods",
                "replicationcontrollers",
                "services",
                "daemonsets.apps",
                "deployments.apps",
                "replicasets.apps",
                "statefulsets.apps",
                "horizontalpodautoscalers.autoscaling",
                "cronjobs.batch",
                "jobs.batch",
            ]
        );
    }

    #[test]
    fn upstream_short_names_and_categories() {
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            ("", "pods", &["po"], &["all"]),
            ("", "services", &["svc"], &["all"]),
            ("", "replicationcontrollers", &["rc"], &["all"]),
            ("", "configmaps", &["cm"], &[]),
            ("", "namespaces", &["ns"], &[]),
            ("", "nodes", &["no"], &[]),
            ("", "endpoints", &["ep"], &[]),
            ("", "events", &["ev"], &[]),
            ("", "serviceaccounts", &["sa"], &[]),
            ("", "persistentvolumeclaims", &["pvc"], &[]),
            ("", "persistentvolumes", &["pv"], &[]),
            ("", "resourcequotas", &["quota"], &[]),
            ("", "limitranges", &["limits"], &[]),
            ("", "secrets", &[], &[]),
            ("apps", "deployments", &["deploy"], &["all"]),
            ("apps", "replicasets", &["rs"], &["all"]),
            ("apps", "statefulsets", &["sts"], &["all"]),
            ("apps", "daemonsets", &["ds"], &["all"]),
            ("batch", "jobs", &[], &["all"]),
            ("batch", "cronjobs", &["cj"], &["all"]),
            (
                "autoscaling",
                "horizontalpodautoscalers",
                &["hpa"],
                &["all"],
            ),
            ("networking.k8s.io", "ingresses", &["ing"], &[]),
            ("networking.k8s.io", "networkpolicies", &["netpol"], &[]),
            ("policy", "poddisruptionbudgets", &["pdb"], &[]),
            ("scheduling.k8s.io", "priorityclasses", &["pc"], &[]),
            (
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                &["crd", "crds"],
                &["api-extensions"],
            ),
            ("storage.k8s.io", "storageclasses", &["sc"], &[]),
            (
                "certificates.k8s.io",
                "certificatesigningrequests",
                &["csr"],
                &[],
            ),
            ("events.k8s.io", "events", &["ev"], &[]),
        ];
        for (group, plural, shorts, cats) in cases {
            let r = find_preferred(group, plural).expect("resource");
            assert_eq!(r.short_names, *shorts, "{plural}");
            assert_eq!(r.categories, *cats, "{plural}");
        }
    }

    #[test]
    fn verbs_sorted_and_upstream() {
        for r in builtin() {
            assert!(r.verbs.windows(2).all(|w| w[0] < w[1]), "{}", r.plural);
            for s in r.subresources {
                assert!(s.verbs.windows(2).all(|w| w[0] < w[1]));
            }
        }
        let pods = find("", "v1", "pods").expect("pods");
        assert_eq!(
            pods.verbs,
            [
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch"
            ]
        );
        assert!(!find("", "v1", "namespaces")
            .expect("ns")
            .has_verb("deletecollection"));
        assert_eq!(find("", "v1", "bindings").expect("b").verbs, ["create"]);
        assert_eq!(
            find("authentication.k8s.io", "v1", "tokenreviews")
                .expect("tr")
                .verbs,
            ["create"]
        );
        let exec = pods.subresource("exec").expect("exec");
        assert_eq!(exec.verbs, ["create", "get"]);
        assert_eq!(pods.subresource("log").expect("log").verbs, ["get"]);
        let scale = find("apps", "v1", "deployments")
            .expect("deploy")
            .subresource("scale")
            .expect("scale");
        assert_eq!(scale.verbs, ["get", "patch", "update"]);
        assert_eq!(scale.api_version(), "autoscaling/v1");
        assert_eq!(scale.kind, "Scale");
    }

    #[test]
    fn discovery_order_is_alphabetical_within_group_version() {
        for g in groups() {
            for v in &g.versions {
                let rs = resources_in(g.name, v);
                assert!(!rs.is_empty(), "{}/{v} empty", g.name);
                assert!(
                    rs.windows(2).all(|w| w[0].plural < w[1].plural),
                    "{}/{v} not sorted",
                    g.name
                );
                for r in rs {
                    assert!(r.subresources.windows(2).all(|w| w[0].name < w[1].name));
                }
            }
        }
        // builtin() follows groups() order, preferred version first.
        let order: Vec<(&str, &str)> = groups()
            .iter()
            .flat_map(|g| g.versions.iter().map(move |v| (g.name, *v)))
            .collect();
        let mut last = 0;
        for r in builtin() {
            let pos = order
                .iter()
                .position(|gv| *gv == (r.group, r.version))
                .expect("group-version listed in groups()");
            assert!(pos >= last, "{} out of order", r.api_version());
            last = pos;
        }
    }

    #[test]
    fn groups_in_upstream_order() {
        let gs = groups();
        let names: Vec<&str> = gs.iter().map(|g| g.name).collect();
        assert_eq!(
            names,
            [
                "",
                "apps",
                "events.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io",
                "autoscaling",
                "batch",
                "certificates.k8s.io",
                "networking.k8s.io",
                "policy",
                "rbac.authorization.k8s.io",
                "storage.k8s.io",
                "apiextensions.k8s.io",
                "scheduling.k8s.io",
                "coordination.k8s.io",
                "discovery.k8s.io",
                "metrics.k8s.io",
            ]
        );
        assert!(gs.windows(2).all(|w| w[0].priority > w[1].priority));
        for g in &gs {
            // metrics.k8s.io is an APIService group upstream (priority 100, below CRDs).
            assert!(g.priority > CRD_GROUP_PRIORITY || g.name == "metrics.k8s.io");
            assert_eq!(g.versions[0], g.preferred_version);
            assert!(g.version_priorities.windows(2).all(|w| w[0] > w[1]));
        }
        let autoscaling = gs.iter().find(|g| g.name == "autoscaling").expect("as");
        assert_eq!(autoscaling.versions, ["v2", "v1"]);
        assert_eq!(preferred_version("autoscaling"), Some("v2"));
        assert_eq!(preferred_version(""), Some("v1"));
        assert_eq!(preferred_version("example.com"), None);
    }

    #[test]
    fn api_version_and_keys() {
        let pods = find("", "v1", "pods").expect("pods");
        assert_eq!(pods.api_version(), "v1");
        assert_eq!(pods.scope(), "Namespaced");
        assert_eq!(
            pods.storage_key(Some("default"), "web").as_deref(),
            Some("/registry/pods/default/web")
        );
        assert_eq!(pods.storage_key(None, "web"), None);
        assert_eq!(
            pods.storage_list_prefix(Some("kube-system")).as_deref(),
            Some("/registry/pods/kube-system/")
        );
        let deploy = find_kind("apps", "v1", "Deployment").expect("deploy");
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.group_resource(), "deployments.apps");
        let svc = find("", "v1", "services").expect("svc");
        assert_eq!(
            svc.storage_key(Some("default"), "kubernetes").as_deref(),
            Some("/registry/services/specs/default/kubernetes")
        );
        let node = find("", "v1", "nodes").expect("node");
        assert_eq!(node.scope(), "Cluster");
        assert_eq!(
            node.storage_key(Some("ignored"), "n1").as_deref(),
            Some("/registry/minions/n1")
        );
        let crd = find("apiextensions.k8s.io", "v1", "customresourcedefinitions").expect("crd");
        assert_eq!(
            crd.storage_key(None, "foos.example.com").as_deref(),
            Some("/registry/apiextensions.k8s.io/customresourcedefinitions/foos.example.com")
        );
        assert_eq!(
            find("", "v1", "bindings")
                .expect("b")
                .storage_key(Some("a"), "b"),
            None
        );
        // Cohabiting resources share storage.
        assert_eq!(
            find("events.k8s.io", "v1", "events")
                .expect("ev")
                .storage_prefix,
            find("", "v1", "events").expect("ev").storage_prefix
        );
        assert_eq!(
            find("autoscaling", "v1", "horizontalpodautoscalers")
                .expect("hpa")
                .storage_prefix,
            find("autoscaling", "v2", "horizontalpodautoscalers")
                .expect("hpa")
                .storage_prefix
        );
    }

    #[test]
    fn foreign_subresource_kinds() {
        let pods = find("", "v1", "pods").expect("pods");
        let eviction = pods.subresource("eviction").expect("eviction");
        assert!(eviction.differs_from(pods));
        assert_eq!(eviction.api_version(), "policy/v1");
        assert!(!pods
            .subresource("status")
            .expect("status")
            .differs_from(pods));
        let sa = find("", "v1", "serviceaccounts").expect("sa");
        let token = sa.subresource("token").expect("token");
        assert_eq!(
            (token.group, token.version, token.kind),
            ("authentication.k8s.io", "v1", "TokenRequest")
        );
        assert!(pods.subresource("resize").is_some());
        assert!(pods.subresource("checkpoint").is_none());
        // Every subresource lists at least one verb.
        for r in builtin() {
            for s in r.subresources {
                assert!(!s.verbs.is_empty(), "{}/{}", r.plural, s.name);
            }
        }
    }
}
