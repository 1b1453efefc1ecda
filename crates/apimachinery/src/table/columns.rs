//! Column definitions, transcribed from upstream `AddHandlers`
//! (pkg/printers/internalversion/printers.go, Kubernetes 1.33).
//!
//! Names are upstream's mixed-case names (kubectl upper-cases them for
//! display); `priority: 1` marks `-o wide` columns. The server always
//! generates every column (upstream's TableConvertor uses `Wide: true`) and
//! kubectl hides priority columns itself, so cells are produced for all of
//! them.

use serde_json::{json, Value};

use crate::table::docs::*;

/// One `metav1.TableColumnDefinition`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Col {
    pub name: &'static str,
    pub ty: &'static str,
    pub format: &'static str,
    pub desc: &'static str,
    pub priority: i32,
}

impl Col {
    /// Serializes like Go's `TableColumnDefinition` (all keys always present).
    pub(crate) fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.desc,
            "priority": self.priority,
        })
    }
}

const fn c(name: &'static str, ty: &'static str, desc: &'static str) -> Col {
    Col {
        name,
        ty,
        format: "",
        desc,
        priority: 0,
    }
}

const fn w(name: &'static str, ty: &'static str, desc: &'static str) -> Col {
    Col {
        name,
        ty,
        format: "",
        desc,
        priority: 1,
    }
}

const NAME: Col = Col {
    name: "Name",
    ty: "string",
    format: "name",
    desc: METAV1_OBJECT_META_NAME,
    priority: 0,
};
const AGE: Col = c("Age", "string", METAV1_OBJECT_META_CREATION_TIMESTAMP);
const CONTAINERS_W: Col = w(
    "Containers",
    "string",
    "Names of each container in the template.",
);
const IMAGES_W: Col = w(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

/// Default table convertor columns (`rest.NewDefaultTableConvertor`): used for
/// kinds without a printer (Role, ClusterRole, LimitRange, CRDs, ...).
pub(crate) const DEFAULT: &[Col] = &[
    NAME,
    c("Created At", "date", METAV1_OBJECT_META_CREATION_TIMESTAMP),
];

pub(crate) const POD: &[Col] = &[
    NAME,
    c(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    c(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    c(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    w("IP", "string", CORE_V1_POD_STATUS_POD_IP),
    w("Node", "string", CORE_V1_POD_SPEC_NODE_NAME),
    w(
        "Nominated Node",
        "string",
        CORE_V1_POD_STATUS_NOMINATED_NODE_NAME,
    ),
    w("Readiness Gates", "string", CORE_V1_POD_SPEC_READINESS_GATES),
];

pub(crate) const POD_TEMPLATE: &[Col] = &[
    NAME,
    c(
        "Containers",
        "string",
        "Names of each container in the template.",
    ),
    c(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ),
    c("Pod Labels", "string", "The labels for the pod template."),
];

pub(crate) const POD_DISRUPTION_BUDGET: &[Col] = &[
    NAME,
    c(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    c(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    c(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

pub(crate) const REPLICATION_CONTROLLER: &[Col] = &[
    NAME,
    c(
        "Desired",
        "integer",
        CORE_V1_REPLICATION_CONTROLLER_SPEC_REPLICAS,
    ),
    c(
        "Current",
        "integer",
        CORE_V1_REPLICATION_CONTROLLER_STATUS_REPLICAS,
    ),
    c(
        "Ready",
        "integer",
        CORE_V1_REPLICATION_CONTROLLER_STATUS_READY_REPLICAS,
    ),
    AGE,
    CONTAINERS_W,
    IMAGES_W,
    w(
        "Selector",
        "string",
        CORE_V1_REPLICATION_CONTROLLER_SPEC_SELECTOR,
    ),
];

pub(crate) const REPLICA_SET: &[Col] = &[
    NAME,
    c(
        "Desired",
        "integer",
        EXTENSIONS_V1BETA1_REPLICA_SET_SPEC_REPLICAS,
    ),
    c(
        "Current",
        "integer",
        EXTENSIONS_V1BETA1_REPLICA_SET_STATUS_REPLICAS,
    ),
    c(
        "Ready",
        "integer",
        EXTENSIONS_V1BETA1_REPLICA_SET_STATUS_READY_REPLICAS,
    ),
    AGE,
    CONTAINERS_W,
    IMAGES_W,
    w(
        "Selector",
        "string",
        EXTENSIONS_V1BETA1_REPLICA_SET_SPEC_SELECTOR,
    ),
];

pub(crate) const DAEMON_SET: &[Col] = &[
    NAME,
    c(
        "Desired",
        "integer",
        EXTENSIONS_V1BETA1_DAEMON_SET_STATUS_DESIRED_NUMBER_SCHEDULED,
    ),
    c(
        "Current",
        "integer",
        EXTENSIONS_V1BETA1_DAEMON_SET_STATUS_CURRENT_NUMBER_SCHEDULED,
    ),
    c(
        "Ready",
        "integer",
        EXTENSIONS_V1BETA1_DAEMON_SET_STATUS_NUMBER_READY,
    ),
    c(
        "Up-to-date",
        "integer",
        EXTENSIONS_V1BETA1_DAEMON_SET_STATUS_UPDATED_NUMBER_SCHEDULED,
    ),
    c(
        "Available",
        "integer",
        EXTENSIONS_V1BETA1_DAEMON_SET_STATUS_NUMBER_AVAILABLE,
    ),
    c("Node Selector", "string", CORE_V1_POD_SPEC_NODE_SELECTOR),
    AGE,
    CONTAINERS_W,
    IMAGES_W,
    w(
        "Selector",
        "string",
        EXTENSIONS_V1BETA1_DAEMON_SET_SPEC_SELECTOR,
    ),
];

pub(crate) const JOB: &[Col] = &[
    NAME,
    c("Status", "string", "Status of the job."),
    c("Completions", "string", BATCH_V1_JOB_STATUS_SUCCEEDED),
    c("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS_W,
    IMAGES_W,
    w("Selector", "string", BATCH_V1_JOB_SPEC_SELECTOR),
];

pub(crate) const CRON_JOB: &[Col] = &[
    NAME,
    c("Schedule", "string", BATCH_V1BETA1_CRON_JOB_SPEC_SCHEDULE),
    c("Timezone", "string", BATCH_V1BETA1_CRON_JOB_SPEC_TIME_ZONE),
    c("Suspend", "boolean", BATCH_V1BETA1_CRON_JOB_SPEC_SUSPEND),
    c("Active", "integer", BATCH_V1BETA1_CRON_JOB_STATUS_ACTIVE),
    c(
        "Last Schedule",
        "string",
        BATCH_V1BETA1_CRON_JOB_STATUS_LAST_SCHEDULE_TIME,
    ),
    AGE,
    CONTAINERS_W,
    IMAGES_W,
    w("Selector", "string", BATCH_V1_JOB_SPEC_SELECTOR),
];

pub(crate) const SERVICE: &[Col] = &[
    NAME,
    c("Type", "string", CORE_V1_SERVICE_SPEC_TYPE),
    c("Cluster-IP", "string", CORE_V1_SERVICE_SPEC_CLUSTER_IP),
    c("External-IP", "string", CORE_V1_SERVICE_SPEC_EXTERNAL_IPS),
    c("Port(s)", "string", CORE_V1_SERVICE_SPEC_PORTS),
    AGE,
    w("Selector", "string", CORE_V1_SERVICE_SPEC_SELECTOR),
];

pub(crate) const INGRESS: &[Col] = &[
    NAME,
    c(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    c(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    c(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    c("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

pub(crate) const INGRESS_CLASS: &[Col] = &[
    NAME,
    c(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    c(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

pub(crate) const STATEFUL_SET: &[Col] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS_W,
    IMAGES_W,
];

pub(crate) const ENDPOINTS: &[Col] = &[
    NAME,
    c("Endpoints", "string", CORE_V1_ENDPOINTS_SUBSETS),
    AGE,
];

pub(crate) const NODE: &[Col] = &[
    NAME,
    c("Status", "string", "The status of the node"),
    c("Roles", "string", "The roles of the node"),
    AGE,
    c(
        "Version",
        "string",
        CORE_V1_NODE_SYSTEM_INFO_KUBELET_VERSION,
    ),
    w("Internal-IP", "string", CORE_V1_NODE_STATUS_ADDRESSES),
    w("External-IP", "string", CORE_V1_NODE_STATUS_ADDRESSES),
    w("OS-Image", "string", CORE_V1_NODE_SYSTEM_INFO_OS_IMAGE),
    w(
        "Kernel-Version",
        "string",
        CORE_V1_NODE_SYSTEM_INFO_KERNEL_VERSION,
    ),
    w(
        "Container-Runtime",
        "string",
        CORE_V1_NODE_SYSTEM_INFO_CONTAINER_RUNTIME_VERSION,
    ),
];

pub(crate) const EVENT: &[Col] = &[
    c("Last Seen", "string", CORE_V1_EVENT_LAST_TIMESTAMP),
    c("Type", "string", CORE_V1_EVENT_TYPE),
    c("Reason", "string", CORE_V1_EVENT_REASON),
    c("Object", "string", CORE_V1_EVENT_INVOLVED_OBJECT),
    w("Subobject", "string", CORE_V1_OBJECT_REFERENCE_FIELD_PATH),
    w("Source", "string", CORE_V1_EVENT_SOURCE),
    c("Message", "string", CORE_V1_EVENT_MESSAGE),
    w("First Seen", "string", CORE_V1_EVENT_FIRST_TIMESTAMP),
    w("Count", "string", CORE_V1_EVENT_COUNT),
    Col {
        name: "Name",
        ty: "string",
        format: "name",
        desc: METAV1_OBJECT_META_NAME,
        priority: 1,
    },
];

pub(crate) const NAMESPACE: &[Col] = &[
    NAME,
    c("Status", "string", "The status of the namespace"),
    AGE,
];

pub(crate) const SECRET: &[Col] = &[
    NAME,
    c("Type", "string", CORE_V1_SECRET_TYPE),
    c("Data", "string", CORE_V1_SECRET_DATA),
    AGE,
];

pub(crate) const SERVICE_ACCOUNT: &[Col] = &[
    NAME,
    c("Secrets", "string", CORE_V1_SERVICE_ACCOUNT_SECRETS),
    AGE,
];

pub(crate) const PERSISTENT_VOLUME: &[Col] = &[
    NAME,
    c(
        "Capacity",
        "string",
        CORE_V1_PERSISTENT_VOLUME_SPEC_CAPACITY,
    ),
    c(
        "Access Modes",
        "string",
        CORE_V1_PERSISTENT_VOLUME_SPEC_ACCESS_MODES,
    ),
    c(
        "Reclaim Policy",
        "string",
        CORE_V1_PERSISTENT_VOLUME_SPEC_PERSISTENT_VOLUME_RECLAIM_POLICY,
    ),
    c("Status", "string", CORE_V1_PERSISTENT_VOLUME_STATUS_PHASE),
    c("Claim", "string", CORE_V1_PERSISTENT_VOLUME_SPEC_CLAIM_REF),
    c("StorageClass", "string", "StorageClass of the pv"),
    c(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    c("Reason", "string", CORE_V1_PERSISTENT_VOLUME_STATUS_REASON),
    AGE,
    w(
        "VolumeMode",
        "string",
        CORE_V1_PERSISTENT_VOLUME_SPEC_VOLUME_MODE,
    ),
];

pub(crate) const PERSISTENT_VOLUME_CLAIM: &[Col] = &[
    NAME,
    c(
        "Status",
        "string",
        CORE_V1_PERSISTENT_VOLUME_CLAIM_STATUS_PHASE,
    ),
    c(
        "Volume",
        "string",
        CORE_V1_PERSISTENT_VOLUME_CLAIM_SPEC_VOLUME_NAME,
    ),
    c(
        "Capacity",
        "string",
        CORE_V1_PERSISTENT_VOLUME_CLAIM_STATUS_CAPACITY,
    ),
    c(
        "Access Modes",
        "string",
        CORE_V1_PERSISTENT_VOLUME_CLAIM_STATUS_ACCESS_MODES,
    ),
    c("StorageClass", "string", "StorageClass of the pvc"),
    c(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    w(
        "VolumeMode",
        "string",
        CORE_V1_PERSISTENT_VOLUME_CLAIM_SPEC_VOLUME_MODE,
    ),
];

pub(crate) const COMPONENT_STATUS: &[Col] = &[
    NAME,
    c("Status", "string", "Status of the component conditions"),
    c("Message", "string", "Message of the component conditions"),
    c("Error", "string", "Error of the component conditions"),
];

pub(crate) const DEPLOYMENT: &[Col] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    c(
        "Up-to-date",
        "string",
        EXTENSIONS_V1BETA1_DEPLOYMENT_STATUS_UPDATED_REPLICAS,
    ),
    c(
        "Available",
        "string",
        EXTENSIONS_V1BETA1_DEPLOYMENT_STATUS_AVAILABLE_REPLICAS,
    ),
    AGE,
    CONTAINERS_W,
    IMAGES_W,
    w(
        "Selector",
        "string",
        EXTENSIONS_V1BETA1_DEPLOYMENT_SPEC_SELECTOR,
    ),
];

pub(crate) const HORIZONTAL_POD_AUTOSCALER: &[Col] = &[
    NAME,
    c(
        "Reference",
        "string",
        AUTOSCALING_V2BETA1_HORIZONTAL_POD_AUTOSCALER_SPEC_SCALE_TARGET_REF,
    ),
    c(
        "Targets",
        "string",
        AUTOSCALING_V2BETA1_HORIZONTAL_POD_AUTOSCALER_SPEC_METRICS,
    ),
    c(
        "MinPods",
        "string",
        AUTOSCALING_V2BETA1_HORIZONTAL_POD_AUTOSCALER_SPEC_MIN_REPLICAS,
    ),
    c(
        "MaxPods",
        "string",
        AUTOSCALING_V2BETA1_HORIZONTAL_POD_AUTOSCALER_SPEC_MAX_REPLICAS,
    ),
    c(
        "Replicas",
        "string",
        AUTOSCALING_V2BETA1_HORIZONTAL_POD_AUTOSCALER_STATUS_CURRENT_REPLICAS,
    ),
    AGE,
];

pub(crate) const CONFIG_MAP: &[Col] = &[NAME, c("Data", "string", CORE_V1_CONFIG_MAP_DATA), AGE];

pub(crate) const NETWORK_POLICY: &[Col] = &[
    NAME,
    c(
        "Pod-Selector",
        "string",
        EXTENSIONS_V1BETA1_NETWORK_POLICY_SPEC_POD_SELECTOR,
    ),
    AGE,
];

pub(crate) const ROLE_BINDING: &[Col] = &[
    NAME,
    c("Role", "string", RBAC_V1BETA1_ROLE_BINDING_ROLE_REF),
    AGE,
    w("Users", "string", "Users in the roleBinding"),
    w("Groups", "string", "Groups in the roleBinding"),
    w(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
    ),
];

pub(crate) const CLUSTER_ROLE_BINDING: &[Col] = &[
    NAME,
    c("Role", "string", RBAC_V1BETA1_CLUSTER_ROLE_BINDING_ROLE_REF),
    AGE,
    w("Users", "string", "Users in the clusterRoleBinding"),
    w("Groups", "string", "Groups in the clusterRoleBinding"),
    w(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];

pub(crate) const CERTIFICATE_SIGNING_REQUEST: &[Col] = &[
    NAME,
    AGE,
    c(
        "SignerName",
        "string",
        CERTIFICATES_V1BETA1_CERTIFICATE_SIGNING_REQUEST_SPEC_SIGNER_NAME,
    ),
    c(
        "Requestor",
        "string",
        CERTIFICATES_V1BETA1_CERTIFICATE_SIGNING_REQUEST_SPEC_REQUEST,
    ),
    c(
        "RequestedDuration",
        "string",
        CERTIFICATES_V1BETA1_CERTIFICATE_SIGNING_REQUEST_SPEC_EXPIRATION_SECONDS,
    ),
    c(
        "Condition",
        "string",
        CERTIFICATES_V1BETA1_CERTIFICATE_SIGNING_REQUEST_STATUS_CONDITIONS,
    ),
];

pub(crate) const CLUSTER_TRUST_BUNDLE: &[Col] = &[
    NAME,
    c(
        "SignerName",
        "string",
        CERTIFICATES_V1ALPHA1_CLUSTER_TRUST_BUNDLE_SPEC_SIGNER_NAME,
    ),
];

pub(crate) const LEASE: &[Col] = &[
    NAME,
    c(
        "Holder",
        "string",
        COORDINATION_V1_LEASE_SPEC_HOLDER_IDENTITY,
    ),
    AGE,
];

pub(crate) const LEASE_CANDIDATE: &[Col] = &[
    NAME,
    c(
        "LeaseName",
        "string",
        COORDINATION_V1ALPHA2_LEASE_CANDIDATE_SPEC_LEASE_NAME,
    ),
    // Upstream looks these up in ObjectMeta's swagger doc, where they do not
    // exist, so the description is empty.
    c("BinaryVersion", "string", ""),
    c("EmulationVersion", "string", ""),
    AGE,
];

pub(crate) const STORAGE_CLASS: &[Col] = &[
    NAME,
    c(
        "Provisioner",
        "string",
        STORAGE_V1_STORAGE_CLASS_PROVISIONER,
    ),
    c(
        "ReclaimPolicy",
        "string",
        STORAGE_V1_STORAGE_CLASS_RECLAIM_POLICY,
    ),
    c(
        "VolumeBindingMode",
        "string",
        STORAGE_V1_STORAGE_CLASS_VOLUME_BINDING_MODE,
    ),
    c(
        "AllowVolumeExpansion",
        "string",
        STORAGE_V1_STORAGE_CLASS_ALLOW_VOLUME_EXPANSION,
    ),
    AGE,
];

pub(crate) const VOLUME_ATTRIBUTES_CLASS: &[Col] = &[
    NAME,
    c(
        "DriverName",
        "string",
        STORAGE_V1BETA1_VOLUME_ATTRIBUTES_CLASS_DRIVER_NAME,
    ),
    AGE,
];

pub(crate) const CONTROLLER_REVISION: &[Col] = &[
    NAME,
    c("Controller", "string", "Controller of the object"),
    c(
        "Revision",
        "string",
        APPS_V1BETA1_CONTROLLER_REVISION_REVISION,
    ),
    AGE,
];

pub(crate) const RESOURCE_QUOTA: &[Col] = &[
    NAME,
    c(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    c(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

pub(crate) const PRIORITY_CLASS: &[Col] = &[
    NAME,
    c("Value", "integer", SCHEDULING_V1_PRIORITY_CLASS_VALUE),
    c(
        "Global-Default",
        "boolean",
        SCHEDULING_V1_PRIORITY_CLASS_GLOBAL_DEFAULT,
    ),
    AGE,
    c(
        "PreemptionPolicy",
        "string",
        SCHEDULING_V1_PRIORITY_CLASS_PREEMPTION_POLICY,
    ),
];

pub(crate) const RUNTIME_CLASS: &[Col] = &[
    NAME,
    // ObjectMeta has no "handler" doc upstream: empty description.
    c("Handler", "string", ""),
    AGE,
];

pub(crate) const VOLUME_ATTACHMENT: &[Col] = &[
    NAME,
    Col {
        name: "Attacher",
        ty: "string",
        format: "name",
        desc: STORAGE_V1_VOLUME_ATTACHMENT_SPEC_ATTACHER,
        priority: 0,
    },
    c(
        "PV",
        "string",
        STORAGE_V1_VOLUME_ATTACHMENT_SOURCE_PERSISTENT_VOLUME_NAME,
    ),
    c(
        "Node",
        "string",
        STORAGE_V1_VOLUME_ATTACHMENT_SPEC_NODE_NAME,
    ),
    c(
        "Attached",
        "boolean",
        STORAGE_V1_VOLUME_ATTACHMENT_STATUS_ATTACHED,
    ),
    AGE,
];

pub(crate) const ENDPOINT_SLICE: &[Col] = &[
    NAME,
    c(
        "AddressType",
        "string",
        DISCOVERY_V1BETA1_ENDPOINT_SLICE_ADDRESS_TYPE,
    ),
    c("Ports", "string", DISCOVERY_V1BETA1_ENDPOINT_SLICE_PORTS),
    c(
        "Endpoints",
        "string",
        DISCOVERY_V1BETA1_ENDPOINT_SLICE_ENDPOINTS,
    ),
    AGE,
];

pub(crate) const CSI_NODE: &[Col] = &[
    NAME,
    c(
        "Drivers",
        "integer",
        "Drivers indicates the number of CSI drivers registered on the node",
    ),
    AGE,
];

pub(crate) const CSI_DRIVER: &[Col] = &[
    NAME,
    c(
        "AttachRequired",
        "boolean",
        STORAGE_V1_CSIDRIVER_SPEC_ATTACH_REQUIRED,
    ),
    c(
        "PodInfoOnMount",
        "boolean",
        STORAGE_V1_CSIDRIVER_SPEC_POD_INFO_ON_MOUNT,
    ),
    c(
        "StorageCapacity",
        "boolean",
        STORAGE_V1_CSIDRIVER_SPEC_STORAGE_CAPACITY,
    ),
    c(
        "TokenRequests",
        "string",
        STORAGE_V1_CSIDRIVER_SPEC_TOKEN_REQUESTS,
    ),
    c(
        "RequiresRepublish",
        "boolean",
        STORAGE_V1_CSIDRIVER_SPEC_REQUIRES_REPUBLISH,
    ),
    c(
        "Modes",
        "string",
        STORAGE_V1_CSIDRIVER_SPEC_VOLUME_LIFECYCLE_MODES,
    ),
    AGE,
];

pub(crate) const CSI_STORAGE_CAPACITY: &[Col] = &[
    NAME,
    c(
        "StorageClassName",
        "string",
        STORAGE_V1_CSISTORAGE_CAPACITY_STORAGE_CLASS_NAME,
    ),
    c(
        "Capacity",
        "string",
        STORAGE_V1_CSISTORAGE_CAPACITY_CAPACITY,
    ),
];

pub(crate) const WEBHOOK_CONFIGURATION: &[Col] = &[
    NAME,
    c(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

pub(crate) const VALIDATING_ADMISSION_POLICY: &[Col] = &[
    NAME,
    c(
        "Validations",
        "integer",
        "Validations indicates the number of validation rules defined in this configuration",
    ),
    c(
        "ParamKind",
        "string",
        "ParamKind specifies the kind of resources used to parameterize this policy",
    ),
    AGE,
];

pub(crate) const MUTATING_ADMISSION_POLICY: &[Col] = &[
    NAME,
    c(
        "Mutations",
        "integer",
        "Mutation indicates the number of mutations rules defined in this configuration",
    ),
    c(
        "ParamKind",
        "string",
        "ParamKind specifies the kind of resources used to parameterize this policy",
    ),
    AGE,
];

pub(crate) const ADMISSION_POLICY_BINDING: &[Col] = &[
    NAME,
    c(
        "PolicyName",
        "string",
        "PolicyName indicates the policy definition which the policy binding binded to",
    ),
    c(
        "ParamRef",
        "string",
        "ParamRef indicates the param resource which sets the configration param",
    ),
    AGE,
];

pub(crate) const FLOW_SCHEMA: &[Col] = &[
    NAME,
    c(
        "PriorityLevel",
        "string",
        FLOWCONTROL_V1_PRIORITY_LEVEL_CONFIGURATION_REFERENCE_NAME,
    ),
    c(
        "MatchingPrecedence",
        "string",
        FLOWCONTROL_V1_FLOW_SCHEMA_SPEC_MATCHING_PRECEDENCE,
    ),
    c(
        "DistinguisherMethod",
        "string",
        FLOWCONTROL_V1_FLOW_SCHEMA_SPEC_DISTINGUISHER_METHOD,
    ),
    AGE,
    c(
        "MissingPL",
        "string",
        "references a broken or non-existent PriorityLevelConfiguration",
    ),
];

pub(crate) const PRIORITY_LEVEL_CONFIGURATION: &[Col] = &[
    NAME,
    c(
        "Type",
        "string",
        FLOWCONTROL_V1_PRIORITY_LEVEL_CONFIGURATION_SPEC_TYPE,
    ),
    c(
        "NominalConcurrencyShares",
        "string",
        FLOWCONTROL_V1_LIMITED_PRIORITY_LEVEL_CONFIGURATION_NOMINAL_CONCURRENCY_SHARES,
    ),
    c(
        "Queues",
        "string",
        FLOWCONTROL_V1_QUEUING_CONFIGURATION_QUEUES,
    ),
    c(
        "HandSize",
        "string",
        FLOWCONTROL_V1_QUEUING_CONFIGURATION_HAND_SIZE,
    ),
    c(
        "QueueLengthLimit",
        "string",
        FLOWCONTROL_V1_QUEUING_CONFIGURATION_QUEUE_LENGTH_LIMIT,
    ),
    AGE,
];

pub(crate) const STORAGE_VERSION: &[Col] = &[
    NAME,
    c(
        "CommonEncodingVersion",
        "string",
        APISERVERINTERNAL_V1ALPHA1_STORAGE_VERSION_STATUS_COMMON_ENCODING_VERSION,
    ),
    c(
        "StorageVersions",
        "string",
        APISERVERINTERNAL_V1ALPHA1_STORAGE_VERSION_STATUS_STORAGE_VERSIONS,
    ),
    AGE,
];

pub(crate) const SCALE: &[Col] = &[
    // Upstream omits the "name" format on this one.
    c("Name", "string", METAV1_OBJECT_META_NAME),
    c("Desired", "integer", AUTOSCALING_V1_SCALE_SPEC_REPLICAS),
    c("Available", "integer", AUTOSCALING_V1_SCALE_STATUS_REPLICAS),
    AGE,
];

pub(crate) const DEVICE_CLASS: &[Col] = &[NAME, AGE];

pub(crate) const RESOURCE_CLAIM: &[Col] = &[
    NAME,
    c(
        "State",
        "string",
        "A summary of the current state (allocated, pending, reserved, etc.).",
    ),
    AGE,
];

pub(crate) const RESOURCE_CLAIM_TEMPLATE: &[Col] = &[NAME, AGE];

pub(crate) const RESOURCE_SLICE: &[Col] = &[
    NAME,
    c(
        "Node",
        "string",
        RESOURCE_V1BETA1_RESOURCE_SLICE_SPEC_NODE_NAME,
    ),
    c(
        "Driver",
        "string",
        RESOURCE_V1BETA1_RESOURCE_SLICE_SPEC_DRIVER,
    ),
    c("Pool", "string", RESOURCE_V1BETA1_RESOURCE_POOL_NAME),
    AGE,
];

pub(crate) const SERVICE_CIDR: &[Col] = &[
    NAME,
    c("CIDRs", "string", NETWORKING_V1BETA1_SERVICE_CIDRSPEC_CIDRS),
    AGE,
];

pub(crate) const IP_ADDRESS: &[Col] = &[
    NAME,
    c(
        "ParentRef",
        "string",
        NETWORKING_V1BETA1_IPADDRESS_SPEC_PARENT_REF,
    ),
];

pub(crate) const STORAGE_VERSION_MIGRATION: &[Col] = &[
    c("Name", "string", METAV1_OBJECT_META_NAME),
    c("Resource", "string", "Fully qualified resource to migrate"),
];

/// `metav1.Status` (printed when a Status is returned as a table).
pub(crate) const STATUS: &[Col] = &[
    c("Status", "string", METAV1_STATUS_STATUS),
    c("Reason", "string", METAV1_STATUS_REASON),
    // Upstream indexes the swagger map with "Message" (capitalized), which
    // does not exist, so the description is empty.
    c("Message", "string", ""),
];

/// kube-aggregator's APIService table (its registry has its own convertor).
pub(crate) const API_SERVICE: &[Col] = &[
    NAME,
    c(
        "Service",
        "string",
        "The reference to the service that hosts this API endpoint.",
    ),
    c("Available", "string", "Whether this service is available."),
    AGE,
];
