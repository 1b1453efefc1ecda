// @generated from the patchStrategy/patchMergeKey struct tags of k8s.io/api,
// k8s.io/apimachinery (meta/v1), k8s.io/apiextensions-apiserver and
// k8s.io/kube-aggregator at v0.33.13 (Kubernetes 1.33). Data only: each entry
// says how a JSON field of a built-in type is strategically merged.

use super::schema::{FieldDef, ValueShape};

/// `f!(json name, shape, patchStrategy, patchMergeKey, element type)`.
macro_rules! f {
    ($name:literal, $shape:ident, $strategy:literal, $key:literal, $elem:literal) => {
        FieldDef {
            name: $name,
            shape: ValueShape::$shape,
            strategy: $strategy,
            merge_key: $key,
            elem: $elem,
        }
    };
}

/// Fields, per Go type, that carry patch metadata or lead to a type that does.
pub(super) fn type_fields(type_name: &str) -> Option<&'static [FieldDef]> {
    Some(match type_name {
        "admissionregistration/v1.MutatingWebhook" => {
            &[f!("matchConditions", List, "merge", "name", "")]
        }
        "admissionregistration/v1.MutatingWebhookConfiguration" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "webhooks",
                List,
                "merge",
                "name",
                "admissionregistration/v1.MutatingWebhook"
            ),
        ],
        "admissionregistration/v1.ValidatingAdmissionPolicy" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "admissionregistration/v1.ValidatingAdmissionPolicySpec"
            ),
        ],
        "admissionregistration/v1.ValidatingAdmissionPolicyBinding" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "admissionregistration/v1.ValidatingAdmissionPolicySpec" => &[
            f!("matchConditions", List, "merge", "name", ""),
            f!("variables", List, "merge", "name", ""),
        ],
        "admissionregistration/v1.ValidatingWebhook" => {
            &[f!("matchConditions", List, "merge", "name", "")]
        }
        "admissionregistration/v1.ValidatingWebhookConfiguration" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "webhooks",
                List,
                "merge",
                "name",
                "admissionregistration/v1.ValidatingWebhook"
            ),
        ],
        "admissionregistration/v1alpha1.MutatingAdmissionPolicy" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "admissionregistration/v1alpha1.MutatingAdmissionPolicySpec"
            ),
        ],
        "admissionregistration/v1alpha1.MutatingAdmissionPolicyBinding" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "admissionregistration/v1alpha1.MutatingAdmissionPolicySpec" => {
            &[f!("matchConditions", List, "merge", "name", "")]
        }
        "admissionregistration/v1alpha1.ValidatingAdmissionPolicy" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "admissionregistration/v1alpha1.ValidatingAdmissionPolicySpec"
            ),
        ],
        "admissionregistration/v1alpha1.ValidatingAdmissionPolicyBinding" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "admissionregistration/v1alpha1.ValidatingAdmissionPolicySpec" => &[
            f!("matchConditions", List, "merge", "name", ""),
            f!("variables", List, "merge", "name", ""),
        ],
        "admissionregistration/v1beta1.MutatingWebhook" => {
            &[f!("matchConditions", List, "merge", "name", "")]
        }
        "admissionregistration/v1beta1.MutatingWebhookConfiguration" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "webhooks",
                List,
                "merge",
                "name",
                "admissionregistration/v1beta1.MutatingWebhook"
            ),
        ],
        "admissionregistration/v1beta1.ValidatingAdmissionPolicy" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "admissionregistration/v1beta1.ValidatingAdmissionPolicySpec"
            ),
        ],
        "admissionregistration/v1beta1.ValidatingAdmissionPolicyBinding" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "admissionregistration/v1beta1.ValidatingAdmissionPolicySpec" => &[
            f!("matchConditions", List, "merge", "name", ""),
            f!("variables", List, "merge", "name", ""),
        ],
        "admissionregistration/v1beta1.ValidatingWebhook" => {
            &[f!("matchConditions", List, "merge", "name", "")]
        }
        "admissionregistration/v1beta1.ValidatingWebhookConfiguration" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "webhooks",
                List,
                "merge",
                "name",
                "admissionregistration/v1beta1.ValidatingWebhook"
            ),
        ],
        "apidiscovery/v2.APIGroupDiscovery" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "apidiscovery/v2beta1.APIGroupDiscovery" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "apiextensions/v1.CustomResourceDefinition" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "apiextensions/v1.CustomResourceDefinitionSpec"
            ),
        ],
        "apiextensions/v1.CustomResourceDefinitionSpec" => &[f!(
            "versions",
            List,
            "",
            "",
            "apiextensions/v1.CustomResourceDefinitionVersion"
        )],
        "apiextensions/v1.CustomResourceDefinitionVersion" => &[f!(
            "schema",
            Object,
            "",
            "",
            "apiextensions/v1.CustomResourceValidation"
        )],
        "apiextensions/v1.CustomResourceValidation" => &[f!(
            "openAPIV3Schema",
            Object,
            "",
            "",
            "apiextensions/v1.JSONSchemaProps"
        )],
        "apiextensions/v1.JSONSchemaProps" => &[
            f!("items", Object, "", "", "apiextensions/v1.JSONSchemaProps"),
            f!("allOf", List, "", "", "apiextensions/v1.JSONSchemaProps"),
            f!("oneOf", List, "", "", "apiextensions/v1.JSONSchemaProps"),
            f!("anyOf", List, "", "", "apiextensions/v1.JSONSchemaProps"),
            f!("not", Object, "", "", "apiextensions/v1.JSONSchemaProps"),
            f!(
                "properties",
                Map,
                "",
                "",
                "apiextensions/v1.JSONSchemaProps"
            ),
            f!(
                "additionalProperties",
                Object,
                "",
                "",
                "apiextensions/v1.JSONSchemaProps"
            ),
            f!(
                "patternProperties",
                Map,
                "",
                "",
                "apiextensions/v1.JSONSchemaProps"
            ),
            f!(
                "dependencies",
                Map,
                "",
                "",
                "apiextensions/v1.JSONSchemaProps"
            ),
            f!(
                "additionalItems",
                Object,
                "",
                "",
                "apiextensions/v1.JSONSchemaProps"
            ),
            f!(
                "definitions",
                Map,
                "",
                "",
                "apiextensions/v1.JSONSchemaProps"
            ),
            f!("x-kubernetes-validations", List, "merge", "rule", ""),
        ],
        "apiextensions/v1beta1.CustomResourceDefinition" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "apiextensions/v1beta1.CustomResourceDefinitionSpec"
            ),
        ],
        "apiextensions/v1beta1.CustomResourceDefinitionSpec" => &[
            f!(
                "validation",
                Object,
                "",
                "",
                "apiextensions/v1beta1.CustomResourceValidation"
            ),
            f!(
                "versions",
                List,
                "",
                "",
                "apiextensions/v1beta1.CustomResourceDefinitionVersion"
            ),
        ],
        "apiextensions/v1beta1.CustomResourceDefinitionVersion" => &[f!(
            "schema",
            Object,
            "",
            "",
            "apiextensions/v1beta1.CustomResourceValidation"
        )],
        "apiextensions/v1beta1.CustomResourceValidation" => &[f!(
            "openAPIV3Schema",
            Object,
            "",
            "",
            "apiextensions/v1beta1.JSONSchemaProps"
        )],
        "apiextensions/v1beta1.JSONSchemaProps" => &[
            f!(
                "items",
                Object,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "allOf",
                List,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "oneOf",
                List,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "anyOf",
                List,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "not",
                Object,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "properties",
                Map,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "additionalProperties",
                Object,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "patternProperties",
                Map,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "dependencies",
                Map,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "additionalItems",
                Object,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!(
                "definitions",
                Map,
                "",
                "",
                "apiextensions/v1beta1.JSONSchemaProps"
            ),
            f!("x-kubernetes-validations", List, "merge", "rule", ""),
        ],
        "apiregistration/v1.APIService" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "apiregistration/v1.APIServiceStatus"
            ),
        ],
        "apiregistration/v1.APIServiceStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apiregistration/v1beta1.APIService" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "apiregistration/v1beta1.APIServiceStatus"
            ),
        ],
        "apiregistration/v1beta1.APIServiceStatus" => {
            &[f!("conditions", List, "merge", "type", "")]
        }
        "apiserverinternal/v1alpha1.StorageVersion" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "apps/v1.ControllerRevision" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "apps/v1.DaemonSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1.DaemonSetSpec"),
            f!("status", Object, "", "", "apps/v1.DaemonSetStatus"),
        ],
        "apps/v1.DaemonSetSpec" => &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")],
        "apps/v1.DaemonSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1.Deployment" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1.DeploymentSpec"),
            f!("status", Object, "", "", "apps/v1.DeploymentStatus"),
        ],
        "apps/v1.DeploymentSpec" => &[
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
            f!("strategy", Object, "retainKeys", "", ""),
        ],
        "apps/v1.DeploymentStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1.ReplicaSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1.ReplicaSetSpec"),
            f!("status", Object, "", "", "apps/v1.ReplicaSetStatus"),
        ],
        "apps/v1.ReplicaSetSpec" => &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")],
        "apps/v1.ReplicaSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1.StatefulSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1.StatefulSetSpec"),
            f!("status", Object, "", "", "apps/v1.StatefulSetStatus"),
        ],
        "apps/v1.StatefulSetSpec" => &[
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
            f!(
                "volumeClaimTemplates",
                List,
                "",
                "",
                "core/v1.PersistentVolumeClaim"
            ),
        ],
        "apps/v1.StatefulSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1beta1.ControllerRevision" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "apps/v1beta1.Deployment" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1beta1.DeploymentSpec"),
            f!("status", Object, "", "", "apps/v1beta1.DeploymentStatus"),
        ],
        "apps/v1beta1.DeploymentSpec" => &[
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
            f!("strategy", Object, "retainKeys", "", ""),
        ],
        "apps/v1beta1.DeploymentStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1beta1.Scale" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "apps/v1beta1.StatefulSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1beta1.StatefulSetSpec"),
            f!("status", Object, "", "", "apps/v1beta1.StatefulSetStatus"),
        ],
        "apps/v1beta1.StatefulSetSpec" => &[
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
            f!(
                "volumeClaimTemplates",
                List,
                "",
                "",
                "core/v1.PersistentVolumeClaim"
            ),
        ],
        "apps/v1beta1.StatefulSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1beta2.ControllerRevision" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "apps/v1beta2.DaemonSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1beta2.DaemonSetSpec"),
            f!("status", Object, "", "", "apps/v1beta2.DaemonSetStatus"),
        ],
        "apps/v1beta2.DaemonSetSpec" => {
            &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")]
        }
        "apps/v1beta2.DaemonSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1beta2.Deployment" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1beta2.DeploymentSpec"),
            f!("status", Object, "", "", "apps/v1beta2.DeploymentStatus"),
        ],
        "apps/v1beta2.DeploymentSpec" => &[
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
            f!("strategy", Object, "retainKeys", "", ""),
        ],
        "apps/v1beta2.DeploymentStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1beta2.ReplicaSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1beta2.ReplicaSetSpec"),
            f!("status", Object, "", "", "apps/v1beta2.ReplicaSetStatus"),
        ],
        "apps/v1beta2.ReplicaSetSpec" => {
            &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")]
        }
        "apps/v1beta2.ReplicaSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "apps/v1beta2.Scale" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "apps/v1beta2.StatefulSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "apps/v1beta2.StatefulSetSpec"),
            f!("status", Object, "", "", "apps/v1beta2.StatefulSetStatus"),
        ],
        "apps/v1beta2.StatefulSetSpec" => &[
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
            f!(
                "volumeClaimTemplates",
                List,
                "",
                "",
                "core/v1.PersistentVolumeClaim"
            ),
        ],
        "apps/v1beta2.StatefulSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "authentication/v1.SelfSubjectReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authentication/v1.TokenRequest" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "authentication/v1.TokenReview" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "authentication/v1alpha1.SelfSubjectReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authentication/v1beta1.SelfSubjectReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authentication/v1beta1.TokenReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1.LocalSubjectAccessReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1.SelfSubjectAccessReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1.SelfSubjectRulesReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1.SubjectAccessReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1beta1.LocalSubjectAccessReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1beta1.SelfSubjectAccessReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1beta1.SelfSubjectRulesReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "authorization/v1beta1.SubjectAccessReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "autoscaling/v1.HorizontalPodAutoscaler" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "autoscaling/v1.Scale" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "autoscaling/v2.HorizontalPodAutoscaler" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "autoscaling/v2.HorizontalPodAutoscalerStatus"
            ),
        ],
        "autoscaling/v2.HorizontalPodAutoscalerStatus" => {
            &[f!("conditions", List, "merge", "type", "")]
        }
        "autoscaling/v2beta1.HorizontalPodAutoscaler" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "autoscaling/v2beta2.HorizontalPodAutoscaler" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "batch/v1.CronJob" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "batch/v1.CronJobSpec"),
        ],
        "batch/v1.CronJobSpec" => &[f!(
            "jobTemplate",
            Object,
            "",
            "",
            "batch/v1.JobTemplateSpec"
        )],
        "batch/v1.Job" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "batch/v1.JobSpec"),
            f!("status", Object, "", "", "batch/v1.JobStatus"),
        ],
        "batch/v1.JobSpec" => &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")],
        "batch/v1.JobStatus" => &[f!("conditions", List, "merge", "type", "")],
        "batch/v1.JobTemplateSpec" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "batch/v1.JobSpec"),
        ],
        "batch/v1beta1.CronJob" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "batch/v1beta1.CronJobSpec"),
        ],
        "batch/v1beta1.CronJobSpec" => &[f!(
            "jobTemplate",
            Object,
            "",
            "",
            "batch/v1beta1.JobTemplateSpec"
        )],
        "batch/v1beta1.JobTemplateSpec" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "batch/v1.JobSpec"),
        ],
        "certificates/v1.CertificateSigningRequest" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "certificates/v1alpha1.ClusterTrustBundle" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "certificates/v1beta1.CertificateSigningRequest" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "certificates/v1beta1.ClusterTrustBundle" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "coordination/v1.Lease" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "coordination/v1alpha2.LeaseCandidate" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "coordination/v1beta1.Lease" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "coordination/v1beta1.LeaseCandidate" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "core/v1.Binding" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.ComponentStatus" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("conditions", List, "merge", "type", ""),
        ],
        "core/v1.ConfigMap" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.Container" => &[
            f!("ports", List, "merge", "containerPort", ""),
            f!("env", List, "merge", "name", ""),
            f!("volumeMounts", List, "merge", "mountPath", ""),
            f!("volumeDevices", List, "merge", "devicePath", ""),
        ],
        "core/v1.ContainerStatus" => &[
            f!("volumeMounts", List, "merge", "mountPath", ""),
            f!("allocatedResourcesStatus", List, "merge", "name", ""),
        ],
        "core/v1.Endpoints" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.EphemeralContainer" => &[
            f!("ports", List, "merge", "containerPort", ""),
            f!("env", List, "merge", "name", ""),
            f!("volumeMounts", List, "merge", "mountPath", ""),
            f!("volumeDevices", List, "merge", "devicePath", ""),
        ],
        "core/v1.EphemeralVolumeSource" => &[f!(
            "volumeClaimTemplate",
            Object,
            "",
            "",
            "core/v1.PersistentVolumeClaimTemplate"
        )],
        "core/v1.Event" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.LimitRange" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.Namespace" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("status", Object, "", "", "core/v1.NamespaceStatus"),
        ],
        "core/v1.NamespaceStatus" => &[f!("conditions", List, "merge", "type", "")],
        "core/v1.Node" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "core/v1.NodeSpec"),
            f!("status", Object, "", "", "core/v1.NodeStatus"),
        ],
        "core/v1.NodeSpec" => &[f!("podCIDRs", List, "merge", "", "")],
        "core/v1.NodeStatus" => &[
            f!("conditions", List, "merge", "type", ""),
            f!("addresses", List, "merge", "type", ""),
        ],
        "core/v1.PersistentVolume" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.PersistentVolumeClaim" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "core/v1.PersistentVolumeClaimStatus"
            ),
        ],
        "core/v1.PersistentVolumeClaimStatus" => &[f!("conditions", List, "merge", "type", "")],
        "core/v1.PersistentVolumeClaimTemplate" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "core/v1.Pod" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "core/v1.PodSpec"),
            f!("status", Object, "", "", "core/v1.PodStatus"),
        ],
        "core/v1.PodSpec" => &[
            f!(
                "volumes",
                List,
                "merge,retainKeys",
                "name",
                "core/v1.Volume"
            ),
            f!("initContainers", List, "merge", "name", "core/v1.Container"),
            f!("containers", List, "merge", "name", "core/v1.Container"),
            f!(
                "ephemeralContainers",
                List,
                "merge",
                "name",
                "core/v1.EphemeralContainer"
            ),
            f!("imagePullSecrets", List, "merge", "name", ""),
            f!("hostAliases", List, "merge", "ip", ""),
            f!(
                "topologySpreadConstraints",
                List,
                "merge",
                "topologyKey",
                ""
            ),
            f!("schedulingGates", List, "merge", "name", ""),
            f!("resourceClaims", List, "merge,retainKeys", "name", ""),
        ],
        "core/v1.PodStatus" => &[
            f!("conditions", List, "merge", "type", ""),
            f!("hostIPs", List, "merge", "ip", ""),
            f!("podIPs", List, "merge", "ip", ""),
            f!(
                "initContainerStatuses",
                List,
                "",
                "",
                "core/v1.ContainerStatus"
            ),
            f!("containerStatuses", List, "", "", "core/v1.ContainerStatus"),
            f!(
                "ephemeralContainerStatuses",
                List,
                "",
                "",
                "core/v1.ContainerStatus"
            ),
            f!(
                "resourceClaimStatuses",
                List,
                "merge,retainKeys",
                "name",
                ""
            ),
        ],
        "core/v1.PodStatusResult" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("status", Object, "", "", "core/v1.PodStatus"),
        ],
        "core/v1.PodTemplate" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
        ],
        "core/v1.PodTemplateSpec" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "core/v1.PodSpec"),
        ],
        "core/v1.RangeAllocation" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.ReplicationController" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "core/v1.ReplicationControllerSpec"),
            f!(
                "status",
                Object,
                "",
                "",
                "core/v1.ReplicationControllerStatus"
            ),
        ],
        "core/v1.ReplicationControllerSpec" => {
            &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")]
        }
        "core/v1.ReplicationControllerStatus" => &[f!("conditions", List, "merge", "type", "")],
        "core/v1.ResourceQuota" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.Secret" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "core/v1.Service" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "core/v1.ServiceSpec"),
            f!("status", Object, "", "", "core/v1.ServiceStatus"),
        ],
        "core/v1.ServiceAccount" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("secrets", List, "merge", "name", ""),
        ],
        "core/v1.ServiceSpec" => &[f!("ports", List, "merge", "port", "")],
        "core/v1.ServiceStatus" => &[f!("conditions", List, "merge", "type", "")],
        "core/v1.Volume" => &[f!(
            "ephemeral",
            Object,
            "",
            "",
            "core/v1.EphemeralVolumeSource"
        )],
        "discovery/v1.EndpointSlice" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "discovery/v1beta1.EndpointSlice" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "events/v1.Event" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "events/v1beta1.Event" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "extensions/v1beta1.DaemonSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "extensions/v1beta1.DaemonSetSpec"),
            f!(
                "status",
                Object,
                "",
                "",
                "extensions/v1beta1.DaemonSetStatus"
            ),
        ],
        "extensions/v1beta1.DaemonSetSpec" => {
            &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")]
        }
        "extensions/v1beta1.DaemonSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "extensions/v1beta1.Deployment" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "extensions/v1beta1.DeploymentSpec"),
            f!(
                "status",
                Object,
                "",
                "",
                "extensions/v1beta1.DeploymentStatus"
            ),
        ],
        "extensions/v1beta1.DeploymentSpec" => &[
            f!("template", Object, "", "", "core/v1.PodTemplateSpec"),
            f!("strategy", Object, "retainKeys", "", ""),
        ],
        "extensions/v1beta1.DeploymentStatus" => &[f!("conditions", List, "merge", "type", "")],
        "extensions/v1beta1.Ingress" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "extensions/v1beta1.NetworkPolicy" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "extensions/v1beta1.ReplicaSet" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "extensions/v1beta1.ReplicaSetSpec"),
            f!(
                "status",
                Object,
                "",
                "",
                "extensions/v1beta1.ReplicaSetStatus"
            ),
        ],
        "extensions/v1beta1.ReplicaSetSpec" => {
            &[f!("template", Object, "", "", "core/v1.PodTemplateSpec")]
        }
        "extensions/v1beta1.ReplicaSetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "extensions/v1beta1.Scale" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "flowcontrol/v1.FlowSchema" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("status", Object, "", "", "flowcontrol/v1.FlowSchemaStatus"),
        ],
        "flowcontrol/v1.FlowSchemaStatus" => &[f!("conditions", List, "merge", "type", "")],
        "flowcontrol/v1.PriorityLevelConfiguration" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "flowcontrol/v1.PriorityLevelConfigurationStatus"
            ),
        ],
        "flowcontrol/v1.PriorityLevelConfigurationStatus" => {
            &[f!("conditions", List, "merge", "type", "")]
        }
        "flowcontrol/v1beta1.FlowSchema" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "flowcontrol/v1beta1.PriorityLevelConfiguration" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "flowcontrol/v1beta2.FlowSchema" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "flowcontrol/v1beta2.PriorityLevelConfiguration" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "flowcontrol/v1beta3.FlowSchema" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "flowcontrol/v1beta3.FlowSchemaStatus"
            ),
        ],
        "flowcontrol/v1beta3.FlowSchemaStatus" => &[f!("conditions", List, "merge", "type", "")],
        "flowcontrol/v1beta3.PriorityLevelConfiguration" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "flowcontrol/v1beta3.PriorityLevelConfigurationStatus"
            ),
        ],
        "flowcontrol/v1beta3.PriorityLevelConfigurationStatus" => {
            &[f!("conditions", List, "merge", "type", "")]
        }
        "imagepolicy/v1alpha1.ImageReview" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "meta/v1.ObjectMeta" => &[
            f!("ownerReferences", List, "merge", "uid", ""),
            f!("finalizers", List, "merge", "", ""),
        ],
        "networking/v1.IPAddress" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "networking/v1.Ingress" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "networking/v1.IngressClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "networking/v1.NetworkPolicy" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "networking/v1.ServiceCIDR" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("status", Object, "", "", "networking/v1.ServiceCIDRStatus"),
        ],
        "networking/v1.ServiceCIDRStatus" => &[f!("conditions", List, "merge", "type", "")],
        "networking/v1alpha1.IPAddress" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "networking/v1alpha1.ServiceCIDR" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "networking/v1alpha1.ServiceCIDRStatus"
            ),
        ],
        "networking/v1alpha1.ServiceCIDRStatus" => &[f!("conditions", List, "merge", "type", "")],
        "networking/v1beta1.IPAddress" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "networking/v1beta1.Ingress" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "networking/v1beta1.IngressClass" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "networking/v1beta1.ServiceCIDR" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "networking/v1beta1.ServiceCIDRStatus"
            ),
        ],
        "networking/v1beta1.ServiceCIDRStatus" => &[f!("conditions", List, "merge", "type", "")],
        "node/v1.RuntimeClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "node/v1alpha1.RuntimeClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "node/v1beta1.RuntimeClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "policy/v1.Eviction" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "policy/v1.PodDisruptionBudget" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "policy/v1.PodDisruptionBudgetSpec"),
            f!(
                "status",
                Object,
                "",
                "",
                "policy/v1.PodDisruptionBudgetStatus"
            ),
        ],
        "policy/v1.PodDisruptionBudgetSpec" => &[f!("selector", Object, "replace", "", "")],
        "policy/v1.PodDisruptionBudgetStatus" => &[f!("conditions", List, "merge", "type", "")],
        "policy/v1beta1.Eviction" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "policy/v1beta1.PodDisruptionBudget" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "policy/v1beta1.PodDisruptionBudgetStatus"
            ),
        ],
        "policy/v1beta1.PodDisruptionBudgetStatus" => {
            &[f!("conditions", List, "merge", "type", "")]
        }
        "rbac/v1.ClusterRole" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1.ClusterRoleBinding" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1.Role" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1.RoleBinding" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1alpha1.ClusterRole" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1alpha1.ClusterRoleBinding" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "rbac/v1alpha1.Role" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1alpha1.RoleBinding" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1beta1.ClusterRole" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1beta1.ClusterRoleBinding" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "rbac/v1beta1.Role" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "rbac/v1beta1.RoleBinding" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "resource/v1alpha3.DeviceClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "resource/v1alpha3.DeviceTaintRule" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "resource/v1alpha3.ResourceClaim" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "resource/v1alpha3.ResourceClaimStatus"
            ),
        ],
        "resource/v1alpha3.ResourceClaimStatus" => &[f!("reservedFor", List, "merge", "uid", "")],
        "resource/v1alpha3.ResourceClaimTemplate" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "resource/v1alpha3.ResourceClaimTemplateSpec"
            ),
        ],
        "resource/v1alpha3.ResourceClaimTemplateSpec" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "resource/v1alpha3.ResourceSlice" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "resource/v1beta1.DeviceClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "resource/v1beta1.ResourceClaim" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "resource/v1beta1.ResourceClaimStatus"
            ),
        ],
        "resource/v1beta1.ResourceClaimStatus" => &[f!("reservedFor", List, "merge", "uid", "")],
        "resource/v1beta1.ResourceClaimTemplate" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "resource/v1beta1.ResourceClaimTemplateSpec"
            ),
        ],
        "resource/v1beta1.ResourceClaimTemplateSpec" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "resource/v1beta1.ResourceSlice" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "resource/v1beta2.DeviceClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "resource/v1beta2.ResourceClaim" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "resource/v1beta2.ResourceClaimStatus"
            ),
        ],
        "resource/v1beta2.ResourceClaimStatus" => &[f!("reservedFor", List, "merge", "uid", "")],
        "resource/v1beta2.ResourceClaimTemplate" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "spec",
                Object,
                "",
                "",
                "resource/v1beta2.ResourceClaimTemplateSpec"
            ),
        ],
        "resource/v1beta2.ResourceClaimTemplateSpec" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "resource/v1beta2.ResourceSlice" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "scheduling/v1.PriorityClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "scheduling/v1alpha1.PriorityClass" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "scheduling/v1beta1.PriorityClass" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "storage/v1.CSIDriver" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "storage/v1.CSINode" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "storage/v1.CSINodeSpec"),
        ],
        "storage/v1.CSINodeSpec" => &[f!("drivers", List, "merge", "name", "")],
        "storage/v1.CSIStorageCapacity" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "storage/v1.StorageClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "storage/v1.VolumeAttachment" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "storage/v1alpha1.CSIStorageCapacity" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "storage/v1alpha1.VolumeAttachment" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "storage/v1alpha1.VolumeAttributesClass" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "storage/v1beta1.CSIDriver" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "storage/v1beta1.CSINode" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!("spec", Object, "", "", "storage/v1beta1.CSINodeSpec"),
        ],
        "storage/v1beta1.CSINodeSpec" => &[f!("drivers", List, "merge", "name", "")],
        "storage/v1beta1.CSIStorageCapacity" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "storage/v1beta1.StorageClass" => &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")],
        "storage/v1beta1.VolumeAttachment" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "storage/v1beta1.VolumeAttributesClass" => {
            &[f!("metadata", Object, "", "", "meta/v1.ObjectMeta")]
        }
        "storagemigration/v1alpha1.StorageVersionMigration" => &[
            f!("metadata", Object, "", "", "meta/v1.ObjectMeta"),
            f!(
                "status",
                Object,
                "",
                "",
                "storagemigration/v1alpha1.StorageVersionMigrationStatus"
            ),
        ],
        "storagemigration/v1alpha1.StorageVersionMigrationStatus" => {
            &[f!("conditions", List, "merge", "type", "")]
        }
        _ => return None,
    })
}

/// Built-in kinds: (group, version, kind, root type).
pub(super) static KINDS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Binding", "core/v1.Binding"),
    ("", "v1", "ComponentStatus", "core/v1.ComponentStatus"),
    ("", "v1", "ConfigMap", "core/v1.ConfigMap"),
    ("", "v1", "Endpoints", "core/v1.Endpoints"),
    ("", "v1", "Event", "core/v1.Event"),
    ("", "v1", "LimitRange", "core/v1.LimitRange"),
    ("", "v1", "Namespace", "core/v1.Namespace"),
    ("", "v1", "Node", "core/v1.Node"),
    ("", "v1", "PersistentVolume", "core/v1.PersistentVolume"),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "core/v1.PersistentVolumeClaim",
    ),
    ("", "v1", "Pod", "core/v1.Pod"),
    ("", "v1", "PodStatusResult", "core/v1.PodStatusResult"),
    ("", "v1", "PodTemplate", "core/v1.PodTemplate"),
    ("", "v1", "RangeAllocation", "core/v1.RangeAllocation"),
    (
        "",
        "v1",
        "ReplicationController",
        "core/v1.ReplicationController",
    ),
    ("", "v1", "ResourceQuota", "core/v1.ResourceQuota"),
    ("", "v1", "Secret", "core/v1.Secret"),
    ("", "v1", "Service", "core/v1.Service"),
    ("", "v1", "ServiceAccount", "core/v1.ServiceAccount"),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "admissionregistration/v1.MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "admissionregistration/v1.ValidatingAdmissionPolicy",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration/v1.ValidatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "admissionregistration/v1.ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "v1alpha1",
        "MutatingAdmissionPolicy",
        "admissionregistration/v1alpha1.MutatingAdmissionPolicy",
    ),
    (
        "admissionregistration.k8s.io",
        "v1alpha1",
        "MutatingAdmissionPolicyBinding",
        "admissionregistration/v1alpha1.MutatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "v1alpha1",
        "ValidatingAdmissionPolicy",
        "admissionregistration/v1alpha1.ValidatingAdmissionPolicy",
    ),
    (
        "admissionregistration.k8s.io",
        "v1alpha1",
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration/v1alpha1.ValidatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "MutatingWebhookConfiguration",
        "admissionregistration/v1beta1.MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "ValidatingAdmissionPolicy",
        "admissionregistration/v1beta1.ValidatingAdmissionPolicy",
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "ValidatingAdmissionPolicyBinding",
        "admissionregistration/v1beta1.ValidatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "ValidatingWebhookConfiguration",
        "admissionregistration/v1beta1.ValidatingWebhookConfiguration",
    ),
    (
        "apidiscovery.k8s.io",
        "v2",
        "APIGroupDiscovery",
        "apidiscovery/v2.APIGroupDiscovery",
    ),
    (
        "apidiscovery.k8s.io",
        "v2beta1",
        "APIGroupDiscovery",
        "apidiscovery/v2beta1.APIGroupDiscovery",
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "apiextensions/v1.CustomResourceDefinition",
    ),
    (
        "apiextensions.k8s.io",
        "v1beta1",
        "CustomResourceDefinition",
        "apiextensions/v1beta1.CustomResourceDefinition",
    ),
    (
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiregistration/v1.APIService",
    ),
    (
        "apiregistration.k8s.io",
        "v1beta1",
        "APIService",
        "apiregistration/v1beta1.APIService",
    ),
    (
        "apps",
        "v1",
        "ControllerRevision",
        "apps/v1.ControllerRevision",
    ),
    ("apps", "v1", "DaemonSet", "apps/v1.DaemonSet"),
    ("apps", "v1", "Deployment", "apps/v1.Deployment"),
    ("apps", "v1", "ReplicaSet", "apps/v1.ReplicaSet"),
    ("apps", "v1", "StatefulSet", "apps/v1.StatefulSet"),
    (
        "apps",
        "v1beta1",
        "ControllerRevision",
        "apps/v1beta1.ControllerRevision",
    ),
    ("apps", "v1beta1", "Deployment", "apps/v1beta1.Deployment"),
    ("apps", "v1beta1", "Scale", "apps/v1beta1.Scale"),
    ("apps", "v1beta1", "StatefulSet", "apps/v1beta1.StatefulSet"),
    (
        "apps",
        "v1beta2",
        "ControllerRevision",
        "apps/v1beta2.ControllerRevision",
    ),
    ("apps", "v1beta2", "DaemonSet", "apps/v1beta2.DaemonSet"),
    ("apps", "v1beta2", "Deployment", "apps/v1beta2.Deployment"),
    ("apps", "v1beta2", "ReplicaSet", "apps/v1beta2.ReplicaSet"),
    ("apps", "v1beta2", "Scale", "apps/v1beta2.Scale"),
    ("apps", "v1beta2", "StatefulSet", "apps/v1beta2.StatefulSet"),
    (
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "authentication/v1.SelfSubjectReview",
    ),
    (
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
        "authentication/v1.TokenRequest",
    ),
    (
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "authentication/v1.TokenReview",
    ),
    (
        "authentication.k8s.io",
        "v1alpha1",
        "SelfSubjectReview",
        "authentication/v1alpha1.SelfSubjectReview",
    ),
    (
        "authentication.k8s.io",
        "v1beta1",
        "SelfSubjectReview",
        "authentication/v1beta1.SelfSubjectReview",
    ),
    (
        "authentication.k8s.io",
        "v1beta1",
        "TokenReview",
        "authentication/v1beta1.TokenReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "authorization/v1.LocalSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "authorization/v1.SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "authorization/v1.SelfSubjectRulesReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "authorization/v1.SubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1beta1",
        "LocalSubjectAccessReview",
        "authorization/v1beta1.LocalSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1beta1",
        "SelfSubjectAccessReview",
        "authorization/v1beta1.SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1beta1",
        "SelfSubjectRulesReview",
        "authorization/v1beta1.SelfSubjectRulesReview",
    ),
    (
        "authorization.k8s.io",
        "v1beta1",
        "SubjectAccessReview",
        "authorization/v1beta1.SubjectAccessReview",
    ),
    (
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "autoscaling/v1.HorizontalPodAutoscaler",
    ),
    ("autoscaling", "v1", "Scale", "autoscaling/v1.Scale"),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "autoscaling/v2.HorizontalPodAutoscaler",
    ),
    (
        "autoscaling",
        "v2beta1",
        "HorizontalPodAutoscaler",
        "autoscaling/v2beta1.HorizontalPodAutoscaler",
    ),
    (
        "autoscaling",
        "v2beta2",
        "HorizontalPodAutoscaler",
        "autoscaling/v2beta2.HorizontalPodAutoscaler",
    ),
    ("batch", "v1", "CronJob", "batch/v1.CronJob"),
    ("batch", "v1", "Job", "batch/v1.Job"),
    ("batch", "v1beta1", "CronJob", "batch/v1beta1.CronJob"),
    (
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificates/v1.CertificateSigningRequest",
    ),
    (
        "certificates.k8s.io",
        "v1alpha1",
        "ClusterTrustBundle",
        "certificates/v1alpha1.ClusterTrustBundle",
    ),
    (
        "certificates.k8s.io",
        "v1beta1",
        "CertificateSigningRequest",
        "certificates/v1beta1.CertificateSigningRequest",
    ),
    (
        "certificates.k8s.io",
        "v1beta1",
        "ClusterTrustBundle",
        "certificates/v1beta1.ClusterTrustBundle",
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "coordination/v1.Lease",
    ),
    (
        "coordination.k8s.io",
        "v1alpha2",
        "LeaseCandidate",
        "coordination/v1alpha2.LeaseCandidate",
    ),
    (
        "coordination.k8s.io",
        "v1beta1",
        "Lease",
        "coordination/v1beta1.Lease",
    ),
    (
        "coordination.k8s.io",
        "v1beta1",
        "LeaseCandidate",
        "coordination/v1beta1.LeaseCandidate",
    ),
    (
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "discovery/v1.EndpointSlice",
    ),
    (
        "discovery.k8s.io",
        "v1beta1",
        "EndpointSlice",
        "discovery/v1beta1.EndpointSlice",
    ),
    ("events.k8s.io", "v1", "Event", "events/v1.Event"),
    ("events.k8s.io", "v1beta1", "Event", "events/v1beta1.Event"),
    (
        "extensions",
        "v1beta1",
        "DaemonSet",
        "extensions/v1beta1.DaemonSet",
    ),
    (
        "extensions",
        "v1beta1",
        "Deployment",
        "extensions/v1beta1.Deployment",
    ),
    (
        "extensions",
        "v1beta1",
        "Ingress",
        "extensions/v1beta1.Ingress",
    ),
    (
        "extensions",
        "v1beta1",
        "NetworkPolicy",
        "extensions/v1beta1.NetworkPolicy",
    ),
    (
        "extensions",
        "v1beta1",
        "ReplicaSet",
        "extensions/v1beta1.ReplicaSet",
    ),
    ("extensions", "v1beta1", "Scale", "extensions/v1beta1.Scale"),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "FlowSchema",
        "flowcontrol/v1.FlowSchema",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1",
        "PriorityLevelConfiguration",
        "flowcontrol/v1.PriorityLevelConfiguration",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "FlowSchema",
        "flowcontrol/v1beta1.FlowSchema",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "PriorityLevelConfiguration",
        "flowcontrol/v1beta1.PriorityLevelConfiguration",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta2",
        "FlowSchema",
        "flowcontrol/v1beta2.FlowSchema",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta2",
        "PriorityLevelConfiguration",
        "flowcontrol/v1beta2.PriorityLevelConfiguration",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta3",
        "FlowSchema",
        "flowcontrol/v1beta3.FlowSchema",
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta3",
        "PriorityLevelConfiguration",
        "flowcontrol/v1beta3.PriorityLevelConfiguration",
    ),
    (
        "imagepolicy.k8s.io",
        "v1alpha1",
        "ImageReview",
        "imagepolicy/v1alpha1.ImageReview",
    ),
    (
        "internal.apiserver.k8s.io",
        "v1alpha1",
        "StorageVersion",
        "apiserverinternal/v1alpha1.StorageVersion",
    ),
    (
        "networking.k8s.io",
        "v1",
        "IPAddress",
        "networking/v1.IPAddress",
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "networking/v1.Ingress",
    ),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "networking/v1.IngressClass",
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networking/v1.NetworkPolicy",
    ),
    (
        "networking.k8s.io",
        "v1",
        "ServiceCIDR",
        "networking/v1.ServiceCIDR",
    ),
    (
        "networking.k8s.io",
        "v1alpha1",
        "IPAddress",
        "networking/v1alpha1.IPAddress",
    ),
    (
        "networking.k8s.io",
        "v1alpha1",
        "ServiceCIDR",
        "networking/v1alpha1.ServiceCIDR",
    ),
    (
        "networking.k8s.io",
        "v1beta1",
        "IPAddress",
        "networking/v1beta1.IPAddress",
    ),
    (
        "networking.k8s.io",
        "v1beta1",
        "Ingress",
        "networking/v1beta1.Ingress",
    ),
    (
        "networking.k8s.io",
        "v1beta1",
        "IngressClass",
        "networking/v1beta1.IngressClass",
    ),
    (
        "networking.k8s.io",
        "v1beta1",
        "ServiceCIDR",
        "networking/v1beta1.ServiceCIDR",
    ),
    ("node.k8s.io", "v1", "RuntimeClass", "node/v1.RuntimeClass"),
    (
        "node.k8s.io",
        "v1alpha1",
        "RuntimeClass",
        "node/v1alpha1.RuntimeClass",
    ),
    (
        "node.k8s.io",
        "v1beta1",
        "RuntimeClass",
        "node/v1beta1.RuntimeClass",
    ),
    ("policy", "v1", "Eviction", "policy/v1.Eviction"),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "policy/v1.PodDisruptionBudget",
    ),
    ("policy", "v1beta1", "Eviction", "policy/v1beta1.Eviction"),
    (
        "policy",
        "v1beta1",
        "PodDisruptionBudget",
        "policy/v1beta1.PodDisruptionBudget",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "rbac/v1.ClusterRole",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "rbac/v1.ClusterRoleBinding",
    ),
    ("rbac.authorization.k8s.io", "v1", "Role", "rbac/v1.Role"),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rbac/v1.RoleBinding",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1alpha1",
        "ClusterRole",
        "rbac/v1alpha1.ClusterRole",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1alpha1",
        "ClusterRoleBinding",
        "rbac/v1alpha1.ClusterRoleBinding",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1alpha1",
        "Role",
        "rbac/v1alpha1.Role",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1alpha1",
        "RoleBinding",
        "rbac/v1alpha1.RoleBinding",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1beta1",
        "ClusterRole",
        "rbac/v1beta1.ClusterRole",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1beta1",
        "ClusterRoleBinding",
        "rbac/v1beta1.ClusterRoleBinding",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1beta1",
        "Role",
        "rbac/v1beta1.Role",
    ),
    (
        "rbac.authorization.k8s.io",
        "v1beta1",
        "RoleBinding",
        "rbac/v1beta1.RoleBinding",
    ),
    (
        "resource.k8s.io",
        "v1alpha3",
        "DeviceClass",
        "resource/v1alpha3.DeviceClass",
    ),
    (
        "resource.k8s.io",
        "v1alpha3",
        "DeviceTaintRule",
        "resource/v1alpha3.DeviceTaintRule",
    ),
    (
        "resource.k8s.io",
        "v1alpha3",
        "ResourceClaim",
        "resource/v1alpha3.ResourceClaim",
    ),
    (
        "resource.k8s.io",
        "v1alpha3",
        "ResourceClaimTemplate",
        "resource/v1alpha3.ResourceClaimTemplate",
    ),
    (
        "resource.k8s.io",
        "v1alpha3",
        "ResourceSlice",
        "resource/v1alpha3.ResourceSlice",
    ),
    (
        "resource.k8s.io",
        "v1beta1",
        "DeviceClass",
        "resource/v1beta1.DeviceClass",
    ),
    (
        "resource.k8s.io",
        "v1beta1",
        "ResourceClaim",
        "resource/v1beta1.ResourceClaim",
    ),
    (
        "resource.k8s.io",
        "v1beta1",
        "ResourceClaimTemplate",
        "resource/v1beta1.ResourceClaimTemplate",
    ),
    (
        "resource.k8s.io",
        "v1beta1",
        "ResourceSlice",
        "resource/v1beta1.ResourceSlice",
    ),
    (
        "resource.k8s.io",
        "v1beta2",
        "DeviceClass",
        "resource/v1beta2.DeviceClass",
    ),
    (
        "resource.k8s.io",
        "v1beta2",
        "ResourceClaim",
        "resource/v1beta2.ResourceClaim",
    ),
    (
        "resource.k8s.io",
        "v1beta2",
        "ResourceClaimTemplate",
        "resource/v1beta2.ResourceClaimTemplate",
    ),
    (
        "resource.k8s.io",
        "v1beta2",
        "ResourceSlice",
        "resource/v1beta2.ResourceSlice",
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "scheduling/v1.PriorityClass",
    ),
    (
        "scheduling.k8s.io",
        "v1alpha1",
        "PriorityClass",
        "scheduling/v1alpha1.PriorityClass",
    ),
    (
        "scheduling.k8s.io",
        "v1beta1",
        "PriorityClass",
        "scheduling/v1beta1.PriorityClass",
    ),
    ("storage.k8s.io", "v1", "CSIDriver", "storage/v1.CSIDriver"),
    ("storage.k8s.io", "v1", "CSINode", "storage/v1.CSINode"),
    (
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        "storage/v1.CSIStorageCapacity",
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storage/v1.StorageClass",
    ),
    (
        "storage.k8s.io",
        "v1",
        "VolumeAttachment",
        "storage/v1.VolumeAttachment",
    ),
    (
        "storage.k8s.io",
        "v1alpha1",
        "CSIStorageCapacity",
        "storage/v1alpha1.CSIStorageCapacity",
    ),
    (
        "storage.k8s.io",
        "v1alpha1",
        "VolumeAttachment",
        "storage/v1alpha1.VolumeAttachment",
    ),
    (
        "storage.k8s.io",
        "v1alpha1",
        "VolumeAttributesClass",
        "storage/v1alpha1.VolumeAttributesClass",
    ),
    (
        "storage.k8s.io",
        "v1beta1",
        "CSIDriver",
        "storage/v1beta1.CSIDriver",
    ),
    (
        "storage.k8s.io",
        "v1beta1",
        "CSINode",
        "storage/v1beta1.CSINode",
    ),
    (
        "storage.k8s.io",
        "v1beta1",
        "CSIStorageCapacity",
        "storage/v1beta1.CSIStorageCapacity",
    ),
    (
        "storage.k8s.io",
        "v1beta1",
        "StorageClass",
        "storage/v1beta1.StorageClass",
    ),
    (
        "storage.k8s.io",
        "v1beta1",
        "VolumeAttachment",
        "storage/v1beta1.VolumeAttachment",
    ),
    (
        "storage.k8s.io",
        "v1beta1",
        "VolumeAttributesClass",
        "storage/v1beta1.VolumeAttributesClass",
    ),
    (
        "storagemigration.k8s.io",
        "v1alpha1",
        "StorageVersionMigration",
        "storagemigration/v1alpha1.StorageVersionMigration",
    ),
];
