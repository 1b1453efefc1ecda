//! Per-kind print functions: one row of cells per object, transcribed from
//! upstream `printXxx` functions (Kubernetes 1.33) so `kubectl get` output is
//! identical to a real cluster's.
//!
//! Upstream prints from the *internal* (version-independent) object, so a
//! printer here accepts any served JSON version of its kind and reads the
//! fields that the internal type would hold after conversion (e.g. a pod's
//! `status.podIP` takes precedence over `status.podIPs[0]`, events.k8s.io
//! Events map `regarding`/`note` onto core fields).

mod apps;
mod core_kinds;
mod misc;
mod network;
mod pod;
mod storage;

use serde_json::Value;
use time::OffsetDateTime;

use crate::table::columns::{self, Col};

/// Inputs shared by all print functions.
pub(crate) struct Ctx<'a> {
    /// Reference "now" for ages (upstream uses `time.Now()`; injected here so
    /// callers and tests are deterministic).
    pub now: OffsetDateTime,
    /// Normalized API group of the objects (`""` for core).
    pub group: &'a str,
}

/// One `metav1.TableRow` minus the object.
pub(crate) struct Row {
    pub cells: Vec<Value>,
    /// `conditions` (only pods set this: `Completed` for finished pods).
    pub conditions: Option<Value>,
}

impl Row {
    pub(crate) fn new(cells: Vec<Value>) -> Self {
        Row {
            cells,
            conditions: None,
        }
    }
}

type PrintFn = fn(&Value, &Ctx<'_>) -> Row;

/// A registered printer: its columns and its row function.
pub(crate) struct Printer {
    pub columns: &'static [Col],
    pub print: PrintFn,
}

/// Finds the upstream printer for `group`/`kind`, if upstream has one.
/// Kinds without one (Role, ClusterRole, LimitRange, CRDs, ...) use the
/// default table convertor.
pub(crate) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    let p = |columns: &'static [Col], print: PrintFn| Some(Printer { columns, print });
    match (group, kind) {
        ("", "Pod") => p(columns::POD, pod::print_pod),
        ("", "PodTemplate") => p(columns::POD_TEMPLATE, apps::print_pod_template),
        ("", "ReplicationController") => p(
            columns::REPLICATION_CONTROLLER,
            apps::print_replication_controller,
        ),
        ("apps", "ReplicaSet") => p(columns::REPLICA_SET, apps::print_replica_set),
        ("apps", "Deployment") => p(columns::DEPLOYMENT, apps::print_deployment),
        ("apps", "StatefulSet") => p(columns::STATEFUL_SET, apps::print_stateful_set),
        ("apps", "DaemonSet") => p(columns::DAEMON_SET, apps::print_daemon_set),
        ("apps", "ControllerRevision") => p(
            columns::CONTROLLER_REVISION,
            apps::print_controller_revision,
        ),
        ("batch", "Job") => p(columns::JOB, apps::print_job),
        ("batch", "CronJob") => p(columns::CRON_JOB, apps::print_cron_job),
        ("autoscaling", "HorizontalPodAutoscaler") => p(
            columns::HORIZONTAL_POD_AUTOSCALER,
            apps::print_horizontal_pod_autoscaler,
        ),
        ("autoscaling", "Scale") => p(columns::SCALE, apps::print_scale),
        ("policy", "PodDisruptionBudget") => p(
            columns::POD_DISRUPTION_BUDGET,
            apps::print_pod_disruption_budget,
        ),
        ("", "Service") => p(columns::SERVICE, network::print_service),
        ("", "Endpoints") => p(columns::ENDPOINTS, network::print_endpoints),
        ("discovery.k8s.io", "EndpointSlice") => {
            p(columns::ENDPOINT_SLICE, network::print_endpoint_slice)
        }
        ("networking.k8s.io", "Ingress") => p(columns::INGRESS, network::print_ingress),
        ("networking.k8s.io", "IngressClass") => {
            p(columns::INGRESS_CLASS, network::print_ingress_class)
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            p(columns::NETWORK_POLICY, network::print_network_policy)
        }
        ("networking.k8s.io", "ServiceCIDR") => {
            p(columns::SERVICE_CIDR, network::print_service_cidr)
        }
        ("networking.k8s.io", "IPAddress") => p(columns::IP_ADDRESS, network::print_ip_address),
        ("", "Node") => p(columns::NODE, core_kinds::print_node),
        ("", "Namespace") => p(columns::NAMESPACE, core_kinds::print_namespace),
        ("", "Event") | ("events.k8s.io", "Event") => p(columns::EVENT, core_kinds::print_event),
        ("", "ConfigMap") => p(columns::CONFIG_MAP, core_kinds::print_config_map),
        ("", "Secret") => p(columns::SECRET, core_kinds::print_secret),
        ("", "ServiceAccount") => p(columns::SERVICE_ACCOUNT, core_kinds::print_service_account),
        ("", "ResourceQuota") => p(columns::RESOURCE_QUOTA, core_kinds::print_resource_quota),
        ("", "ComponentStatus") => p(
            columns::COMPONENT_STATUS,
            core_kinds::print_component_status,
        ),
        ("", "PersistentVolume") => p(columns::PERSISTENT_VOLUME, storage::print_pv),
        ("", "PersistentVolumeClaim") => p(columns::PERSISTENT_VOLUME_CLAIM, storage::print_pvc),
        ("storage.k8s.io", "StorageClass") => {
            p(columns::STORAGE_CLASS, storage::print_storage_class)
        }
        ("storage.k8s.io", "VolumeAttributesClass") => p(
            columns::VOLUME_ATTRIBUTES_CLASS,
            storage::print_volume_attributes_class,
        ),
        ("storage.k8s.io", "VolumeAttachment") => {
            p(columns::VOLUME_ATTACHMENT, storage::print_volume_attachment)
        }
        ("storage.k8s.io", "CSINode") => p(columns::CSI_NODE, storage::print_csi_node),
        ("storage.k8s.io", "CSIDriver") => p(columns::CSI_DRIVER, storage::print_csi_driver),
        ("storage.k8s.io", "CSIStorageCapacity") => p(
            columns::CSI_STORAGE_CAPACITY,
            storage::print_csi_storage_capacity,
        ),
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            p(columns::ROLE_BINDING, misc::print_role_binding)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            p(columns::CLUSTER_ROLE_BINDING, misc::print_role_binding)
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => p(
            columns::CERTIFICATE_SIGNING_REQUEST,
            misc::print_certificate_signing_request,
        ),
        ("certificates.k8s.io", "ClusterTrustBundle") => p(
            columns::CLUSTER_TRUST_BUNDLE,
            misc::print_cluster_trust_bundle,
        ),
        ("coordination.k8s.io", "Lease") => p(columns::LEASE, misc::print_lease),
        ("coordination.k8s.io", "LeaseCandidate") => {
            p(columns::LEASE_CANDIDATE, misc::print_lease_candidate)
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            p(columns::PRIORITY_CLASS, misc::print_priority_class)
        }
        ("node.k8s.io", "RuntimeClass") => p(columns::RUNTIME_CLASS, misc::print_runtime_class),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => p(
            columns::WEBHOOK_CONFIGURATION,
            misc::print_webhook_configuration,
        ),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => p(
            columns::VALIDATING_ADMISSION_POLICY,
            misc::print_validating_admission_policy,
        ),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => p(
            columns::MUTATING_ADMISSION_POLICY,
            misc::print_mutating_admission_policy,
        ),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding")
        | ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding") => p(
            columns::ADMISSION_POLICY_BINDING,
            misc::print_admission_policy_binding,
        ),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => {
            p(columns::FLOW_SCHEMA, misc::print_flow_schema)
        }
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => p(
            columns::PRIORITY_LEVEL_CONFIGURATION,
            misc::print_priority_level_configuration,
        ),
        ("internal.apiserver.k8s.io", "StorageVersion") => {
            p(columns::STORAGE_VERSION, misc::print_storage_version)
        }
        ("storagemigration.k8s.io", "StorageVersionMigration") => p(
            columns::STORAGE_VERSION_MIGRATION,
            misc::print_storage_version_migration,
        ),
        ("resource.k8s.io", "DeviceClass") => p(columns::DEVICE_CLASS, misc::print_name_age),
        ("resource.k8s.io", "ResourceClaimTemplate") => {
            p(columns::RESOURCE_CLAIM_TEMPLATE, misc::print_name_age)
        }
        ("resource.k8s.io", "ResourceClaim") => {
            p(columns::RESOURCE_CLAIM, misc::print_resource_claim)
        }
        ("resource.k8s.io", "ResourceSlice") => {
            p(columns::RESOURCE_SLICE, misc::print_resource_slice)
        }
        ("meta.k8s.io", "Status") => p(columns::STATUS, misc::print_status),
        ("apiregistration.k8s.io", "APIService") => {
            p(columns::API_SERVICE, misc::print_api_service)
        }
        _ => None,
    }
}

/// Orders rows the way upstream's list printer does. Only FlowSchema lists
/// are re-sorted upstream (by matching precedence, then name); every other
/// list keeps storage order.
pub(crate) fn sort_objects(group: &str, kind: &str, objects: &mut [&Value]) {
    if group == "flowcontrol.apiserver.k8s.io" && kind == "FlowSchema" {
        objects.sort_by(|a, b| {
            let pa = misc::matching_precedence(a);
            let pb = misc::matching_precedence(b);
            pa.cmp(&pb)
                .then_with(|| crate::table::value::name(a).cmp(crate::table::value::name(b)))
        });
    }
}
