//! The pods a Job creates and the conditions it reports.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::ResourceExt;

use super::logic::INDEX_KEY;
use crate::util::{controller_ref, now};

pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
pub const LEGACY_JOB_NAME: &str = "job-name";
pub const LEGACY_CONTROLLER_UID: &str = "controller-uid";

/// The Job's selector. The API server normally generates `controller-uid=<uid>` at
/// creation (unless manualSelector); a Job without one gets that implied selector here.
pub fn selector(job: &Job) -> LabelSelector {
    match job.spec.as_ref().and_then(|s| s.selector.clone()) {
        Some(s) if s.match_labels.is_some() || s.match_expressions.is_some() => s,
        _ => LabelSelector {
            match_labels: Some(BTreeMap::from([(
                CONTROLLER_UID.to_string(),
                job.metadata.uid.clone().unwrap_or_default(),
            )])),
            match_expressions: None,
        },
    }
}

/// The pod for one attempt: the template with the Job's identifying labels (added as the API
/// server's Job defaulting would), `generateName: <job>-` (`<job>-<index>-` when Indexed),
/// and for Indexed Jobs the completion-index annotation and label, the `<job>-<index>`
/// hostname and `JOB_COMPLETION_INDEX` from the annotation (as upstream injects it).
pub fn pod_for(job: &Job, index: Option<i32>) -> Pod {
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let tm = template.metadata.unwrap_or_default();
    let name = job.name_any();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let mut labels = tm.labels.unwrap_or_default();
    let manual = job.spec.as_ref().and_then(|s| s.manual_selector) == Some(true);
    if !manual {
        for (k, v) in [
            (CONTROLLER_UID, &uid),
            (JOB_NAME, &name),
            (LEGACY_CONTROLLER_UID, &uid),
            (LEGACY_JOB_NAME, &name),
        ] {
            labels.entry(k.to_string()).or_insert_with(|| v.clone());
        }
    }
    let mut annotations = tm.annotations.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    let generate_name = match index {
        Some(i) => {
            annotations.insert(INDEX_KEY.into(), i.to_string());
            labels.insert(INDEX_KEY.into(), i.to_string());
            if spec.hostname.as_deref().unwrap_or_default().is_empty() {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!("metadata.annotations['{INDEX_KEY}']"),
                    }),
                    ..Default::default()
                }),
            };
            let containers = spec.containers.iter_mut();
            for c in containers.chain(spec.init_containers.iter_mut().flatten()) {
                let envs = c.env.get_or_insert_with(Vec::new);
                if !envs.iter().any(|e| e.name == env.name) {
                    envs.push(env.clone());
                }
            }
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: tm.finalizers,
            owner_references: Some(vec![controller_ref("batch/v1", "Job", &job.metadata)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

pub fn has_condition(conds: &[JobCondition], type_: &str) -> bool {
    conds.iter().any(|c| c.type_ == type_ && c.status == "True")
}

pub fn condition_of<'a>(conds: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    conds
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Sets a condition, keeping its transition time when the status did not change.
pub fn set_condition(
    conds: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) {
    let t = now();
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status {
            c.last_transition_time = Some(t.clone());
        }
        c.status = status.into();
        c.reason = Some(reason.into());
        c.message = Some(message.into());
        c.last_probe_time = Some(t);
        return;
    }
    conds.push(JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(t.clone()),
        last_transition_time: Some(t),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::logic::pod_index;

    #[test]
    fn indexed_pods_carry_index_hostname_and_env() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pi", "namespace": "d", "uid": "u1"},
            "spec": {"completionMode": "Indexed", "completions": 3, "template": {
                "metadata": {"labels": {"app": "pi"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .unwrap_or_default();
        let p = pod_for(&job, Some(2));
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-2-"));
        assert_eq!(pod_index(&p, 3), Some(2));
        assert_eq!(pod_index(&p, 2), None);
        let labels = p.metadata.labels.clone().unwrap_or_default();
        for k in [JOB_NAME, LEGACY_JOB_NAME] {
            assert_eq!(labels.get(k).map(String::as_str), Some("pi"));
        }
        assert_eq!(labels.get(CONTROLLER_UID).map(String::as_str), Some("u1"));
        assert_eq!(labels.get(INDEX_KEY).map(String::as_str), Some("2"));
        let spec = p.spec.unwrap_or_default();
        assert_eq!(spec.hostname.as_deref(), Some("pi-2"));
        assert!(spec.containers[0]
            .env
            .iter()
            .flatten()
            .any(|e| e.name == "JOB_COMPLETION_INDEX"));
        assert_eq!(
            pod_for(&job, None).metadata.generate_name.as_deref(),
            Some("pi-")
        );
    }
}
