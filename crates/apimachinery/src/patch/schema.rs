//! Strategic-merge metadata (`patchStrategy` / `patchMergeKey`) for the built-in kinds.
//!
//! Upstream reads these from Go struct tags by reflection. We carry the same facts as a
//! data table (`schema_table.rs`, extracted from the 1.33 API types) that keeps only the
//! types on a path to a tagged field: every field not in the table has no strategy, which
//! is exactly what an untagged field means upstream (maps merge, lists are replaced).

use super::schema_table;

/// JSON shape of a field's value in the Go type, needed to know what a child key means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueShape {
    /// A struct: children are its fields.
    Object,
    /// A slice: children are the element type's fields.
    List,
    /// A `map[string]T`: children are arbitrary keys whose values are `T`.
    Map,
}

/// One field of a table type; built only by the generated table.
#[derive(Debug)]
pub(crate) struct FieldDef {
    pub(super) name: &'static str,
    pub(super) shape: ValueShape,
    pub(super) strategy: &'static str,
    pub(super) merge_key: &'static str,
    pub(super) elem: &'static str,
}

/// How a field is combined with the live value, from its `patchStrategy` tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PatchStrategy {
    /// No tag: objects are merged key by key, lists are replaced wholesale.
    #[default]
    Default,
    /// `merge`: lists are merged (by merge key for objects, by value for primitives).
    Merge,
    /// `replace`: the patch value replaces the live one, even for objects.
    Replace,
}

/// Patch metadata of one field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatchMeta {
    /// The list/object strategy.
    pub strategy: PatchStrategy,
    /// `retainKeys` is also declared (clients send `$retainKeys` for such fields; the
    /// server honours the directive wherever it appears).
    pub retain_keys: bool,
    /// `patchMergeKey`: the field identifying list items (`name`, `containerPort`, ...).
    pub merge_key: Option<&'static str>,
}

impl PatchMeta {
    fn from_tags(strategy: &'static str, merge_key: &'static str) -> Self {
        let mut meta = PatchMeta {
            merge_key: (!merge_key.is_empty()).then_some(merge_key),
            ..PatchMeta::default()
        };
        for part in strategy.split(',') {
            match part {
                "merge" => meta.strategy = PatchStrategy::Merge,
                "replace" => meta.strategy = PatchStrategy::Replace,
                "retainKeys" => meta.retain_keys = true,
                _ => {}
            }
        }
        meta
    }
}

/// A position in a kind's type tree, used to look up the metadata of child fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schema {
    type_name: Option<&'static str>,
    map_values: bool,
}

impl Schema {
    /// The root schema of a built-in kind, or `None` for kinds we have no metadata for
    /// (custom resources), for which upstream refuses strategic merge patches.
    pub fn for_kind(group: &str, version: &str, kind: &str) -> Option<Schema> {
        schema_table::KINDS
            .iter()
            .find(|(g, v, k, _)| *g == group && *v == version && *k == kind)
            .map(|(_, _, _, root)| Schema {
                type_name: Some(root),
                map_values: false,
            })
    }

    /// A schema that knows nothing: every field has default metadata.
    pub fn opaque() -> Schema {
        Schema {
            type_name: None,
            map_values: false,
        }
    }

    /// Go type (`core/v1.PodSpec`) this position refers to, if it has any metadata below.
    pub fn type_name(&self) -> Option<&'static str> {
        self.type_name
    }

    /// Metadata of field `name` and the schema of its value (of its elements for lists).
    pub fn field(&self, name: &str) -> (Schema, PatchMeta) {
        let Some(type_name) = self.type_name else {
            return (Schema::opaque(), PatchMeta::default());
        };
        if self.map_values {
            // Any key of a map[string]T holds a T, with no metadata of its own.
            let value = Schema {
                type_name: Some(type_name),
                map_values: false,
            };
            return (value, PatchMeta::default());
        }
        let Some(def) =
            fields_of(type_name).and_then(|fields| fields.iter().find(|f| f.name == name))
        else {
            return (Schema::opaque(), PatchMeta::default());
        };
        let child = Schema {
            type_name: (!def.elem.is_empty()).then_some(def.elem),
            map_values: def.shape == ValueShape::Map,
        };
        (child, PatchMeta::from_tags(def.strategy, def.merge_key))
    }

    /// Follows a path of field names (list elements are transparent, map keys are path
    /// elements) and returns the last field's schema and metadata.
    pub fn lookup(&self, path: &[&str]) -> (Schema, PatchMeta) {
        let mut current = (*self, PatchMeta::default());
        for name in path {
            current = current.0.field(name);
        }
        current
    }
}

fn fields_of(type_name: &str) -> Option<&'static [FieldDef]> {
    #[cfg(test)]
    if let Some(fields) = test_types::fields(type_name) {
        return Some(fields);
    }
    schema_table::type_fields(type_name)
}

/// A small synthetic type tree exercising every strategy, for unit tests.
#[cfg(test)]
pub(crate) mod test_types {
    use super::{FieldDef, Schema, ValueShape};

    const fn field(
        name: &'static str,
        shape: ValueShape,
        strategy: &'static str,
        merge_key: &'static str,
        elem: &'static str,
    ) -> FieldDef {
        FieldDef {
            name,
            shape,
            strategy,
            merge_key,
            elem,
        }
    }

    static ITEM: [FieldDef; 8] = [
        field(
            "mergingList",
            ValueShape::List,
            "merge",
            "name",
            "test.Item",
        ),
        field("nonMergingList", ValueShape::List, "", "", "test.Item"),
        field("mergingIntList", ValueShape::List, "merge", "", ""),
        field(
            "mergeItemPtr",
            ValueShape::Object,
            "merge",
            "name",
            "test.Item",
        ),
        field("replacingItem", ValueShape::Object, "replace", "", ""),
        field(
            "retainKeysMap",
            ValueShape::Object,
            "retainKeys",
            "",
            "test.RetainItem",
        ),
        field(
            "retainKeysMergingList",
            ValueShape::List,
            "merge,retainKeys",
            "name",
            "test.Item",
        ),
        field("simpleMap", ValueShape::Map, "", "", ""),
    ];

    static RETAIN_ITEM: [FieldDef; 3] = [
        field("mergingIntList", ValueShape::List, "merge", "", ""),
        field(
            "mergingList",
            ValueShape::List,
            "merge",
            "name",
            "test.Item",
        ),
        field("nonMergingList", ValueShape::List, "", "", "test.Item"),
    ];

    pub(super) fn fields(type_name: &str) -> Option<&'static [FieldDef]> {
        match type_name {
            "test.Item" => Some(&ITEM),
            "test.RetainItem" => Some(&RETAIN_ITEM),
            _ => None,
        }
    }

    /// Root schema of the synthetic item type.
    pub(crate) fn item() -> Schema {
        Schema {
            type_name: Some("test.Item"),
            map_values: false,
        }
    }
}

/// Whether strategic merge patch metadata exists for this kind (it does for every
/// built-in kind of Kubernetes 1.33, not for custom resources).
pub fn is_builtin_kind(group: &str, version: &str, kind: &str) -> bool {
    Schema::for_kind(group, version, kind).is_some()
}

/// Patch metadata of the field at `path` (e.g. `["spec", "template", "spec",
/// "containers"]`) in a built-in kind; `None` when the kind is unknown.
pub fn lookup_patch_meta(
    group: &str,
    version: &str,
    kind: &str,
    path: &[&str],
) -> Option<PatchMeta> {
    Schema::for_kind(group, version, kind).map(|root| root.lookup(path).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(g: &str, v: &str, k: &str, path: &str) -> PatchMeta {
        let parts: Vec<&str> = path.split('.').collect();
        lookup_patch_meta(g, v, k, &parts).unwrap_or_else(|| panic!("unknown kind {k}"))
    }

    fn merge(key: &'static str) -> PatchMeta {
        PatchMeta {
            strategy: PatchStrategy::Merge,
            retain_keys: false,
            merge_key: Some(key),
        }
    }

    #[test]
    fn pod_spec_lists() {
        for field in ["containers", "initContainers", "ephemeralContainers"] {
            assert_eq!(
                meta("", "v1", "Pod", &format!("spec.{field}")),
                merge("name")
            );
        }
        assert_eq!(
            meta("", "v1", "Pod", "spec.volumes"),
            PatchMeta {
                strategy: PatchStrategy::Merge,
                retain_keys: true,
                merge_key: Some("name")
            }
        );
        assert_eq!(
            meta("", "v1", "Pod", "spec.imagePullSecrets"),
            merge("name")
        );
        assert_eq!(meta("", "v1", "Pod", "spec.hostAliases"), merge("ip"));
        assert_eq!(
            meta("", "v1", "Pod", "spec.topologySpreadConstraints"),
            merge("topologyKey")
        );
        assert_eq!(
            meta("", "v1", "Pod", "spec.tolerations"),
            PatchMeta::default()
        );
    }

    #[test]
    fn container_lists() {
        let base = "spec.template.spec.containers";
        let m = |f: &str| meta("apps", "v1", "Deployment", &format!("{base}.{f}"));
        assert_eq!(m("ports"), merge("containerPort"));
        assert_eq!(m("env"), merge("name"));
        assert_eq!(m("volumeMounts"), merge("mountPath"));
        assert_eq!(m("volumeDevices"), merge("devicePath"));
        assert_eq!(m("envFrom"), PatchMeta::default());
        assert_eq!(m("resizePolicy"), PatchMeta::default());
    }

    #[test]
    fn templates_reach_pod_spec() {
        for (g, k, path) in [
            ("apps", "ReplicaSet", "spec.template.spec.containers"),
            ("apps", "StatefulSet", "spec.template.spec.containers"),
            ("apps", "DaemonSet", "spec.template.spec.containers"),
            ("batch", "Job", "spec.template.spec.containers"),
            (
                "batch",
                "CronJob",
                "spec.jobTemplate.spec.template.spec.containers",
            ),
            ("", "PodTemplate", "template.spec.containers"),
            ("", "ReplicationController", "spec.template.spec.containers"),
        ] {
            assert_eq!(meta(g, "v1", k, path), merge("name"), "{k}");
        }
    }

    #[test]
    fn object_meta_and_statuses() {
        let fin = meta("", "v1", "ConfigMap", "metadata.finalizers");
        assert_eq!(fin.strategy, PatchStrategy::Merge);
        assert_eq!(fin.merge_key, None);
        assert_eq!(
            meta("", "v1", "Secret", "metadata.ownerReferences"),
            merge("uid")
        );
        assert_eq!(
            meta("", "v1", "Pod", "metadata.labels"),
            PatchMeta::default()
        );
        assert_eq!(meta("", "v1", "Node", "status.conditions"), merge("type"));
        assert_eq!(meta("", "v1", "Node", "status.addresses"), merge("type"));
        assert_eq!(meta("", "v1", "Pod", "status.conditions"), merge("type"));
        assert_eq!(
            meta("", "v1", "Pod", "status.containerStatuses"),
            PatchMeta::default()
        );
        assert_eq!(
            meta("apps", "v1", "Deployment", "status.conditions"),
            merge("type")
        );
        assert_eq!(meta("", "v1", "Service", "spec.ports"), merge("port"));
        assert_eq!(meta("", "v1", "Endpoints", "subsets"), PatchMeta::default());
        assert_eq!(
            meta("networking.k8s.io", "v1", "Ingress", "spec.rules"),
            PatchMeta::default()
        );
        let strategy = meta("apps", "v1", "Deployment", "spec.strategy");
        assert!(strategy.retain_keys);
        assert_eq!(strategy.strategy, PatchStrategy::Default);
        assert_eq!(
            meta("policy", "v1", "PodDisruptionBudget", "spec.selector").strategy,
            PatchStrategy::Replace
        );
    }

    #[test]
    fn map_values_and_unknown_kinds() {
        let path = "spec.versions.schema.openAPIV3Schema.properties.spec.properties.x.x-kubernetes-validations";
        assert_eq!(
            meta(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                path
            ),
            merge("rule")
        );
        assert!(lookup_patch_meta("example.com", "v1", "Widget", &["spec"]).is_none());
        assert!(!is_builtin_kind("example.com", "v1", "Widget"));
        assert!(is_builtin_kind("", "v1", "Pod"));
    }
}
