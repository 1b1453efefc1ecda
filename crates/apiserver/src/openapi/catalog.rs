//! Generates every known definition once, in upstream's Swagger 2.0 form.
//!
//! k8s-openapi's `schemars` impls already use upstream definition names and
//! carry upstream descriptions; what they lack (list/patch/map extensions,
//! GVK tags, List kinds, and a few representation quirks) is patched here so
//! the result matches what kube-apiserver publishes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::openapi::extensions;
use crate::openapi::kinds::{self, KindDef, KINDS};

/// Prefix of `$ref`s inside the catalog (Swagger 2.0 style).
pub(crate) const V2_REF: &str = "#/definitions/";

/// All definitions plus the kind → definition-name mapping.
pub(crate) struct Catalog {
    /// Definition name → schema, with `#/definitions/` refs.
    pub defs: BTreeMap<String, Value>,
    /// The same definitions in OpenAPI 3 form (converted once, shared by
    /// every group-version document).
    pub defs_v3: BTreeMap<String, Value>,
    /// Definition name of each entry in [`KINDS`] (same index).
    pub kind_names: Vec<String>,
}

impl Catalog {
    /// The process-wide catalog; generation runs once.
    pub(crate) fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(build)
    }

    /// Definition name for a kind row.
    pub(crate) fn name_of(&self, kind: &KindDef) -> Option<&str> {
        KINDS
            .iter()
            .position(|k| std::ptr::eq(k, kind))
            .and_then(|i| self.kind_names.get(i))
            .map(String::as_str)
    }

    /// Definition name of the `<Kind>List` type, if the kind has one.
    pub(crate) fn list_name_of(&self, kind: &KindDef) -> Option<String> {
        if !kind.shape.has_list() {
            return None;
        }
        self.name_of(kind).map(|n| format!("{n}List"))
    }

    /// Names of all definitions reachable from `roots` through `$ref`s.
    pub(crate) fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = roots.into_iter().map(str::to_owned).collect();
        while let Some(name) = stack.pop() {
            if seen.contains(&name) {
                continue;
            }
            if let Some(def) = self.defs.get(&name) {
                collect_refs(def, &mut stack);
                seen.insert(name);
            }
        }
        seen
    }
}

/// Pushes the definition names referenced anywhere inside `v`.
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "$ref" {
                    if let Some(name) = child.as_str().and_then(|r| r.strip_prefix(V2_REF)) {
                        out.push(name.to_owned());
                    }
                } else {
                    collect_refs(child, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// k8s-openapi's schemas with only the representation fixes applied (no
/// upstream tables): the input `tools/gen_tables.py` diffs against upstream.
pub(crate) fn raw_definitions() -> BTreeMap<String, Value> {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "/definitions".into();
            s.transforms.clear();
            s.meta_schema = None;
        })
        .into_generator();
    for k in KINDS {
        let _ = (k.schema)(&mut generator);
    }
    kinds::meta_schemas(&mut generator);
    let mut defs: BTreeMap<String, Value> = generator.take_definitions(false).into_iter().collect();
    for (name, def) in defs.iter_mut() {
        normalize(def);
        fix_special(name, def);
    }
    defs
}

fn build() -> Catalog {
    let mut defs = raw_definitions();
    for (name, def) in defs.iter_mut() {
        fix_required(name, def);
    }
    extensions::apply(&mut defs);

    let kind_names: Vec<String> = KINDS.iter().map(|k| (k.name)().into_owned()).collect();
    for (k, name) in KINDS.iter().zip(&kind_names) {
        if let Some(def) = defs.get_mut(name) {
            set_gvk(def, &[(k.group, k.version, k.kind)]);
        }
    }
    set_gvk_named(&mut defs, kinds::STATUS, &[("", "v1", "Status")]);
    set_gvk_named(
        &mut defs,
        kinds::API_RESOURCE_LIST,
        &[("", "v1", "APIResourceList")],
    );

    let type_meta = type_meta_properties(&defs);
    for (k, name) in KINDS.iter().zip(&kind_names) {
        if k.shape.has_list() {
            let list = list_definition(k, name, &type_meta);
            defs.insert(format!("{name}List"), list);
        }
    }
    let defs_v3 = defs
        .iter()
        .map(|(name, def)| {
            let mut def = def.clone();
            crate::openapi::render::to_v3_schema(&mut def);
            (name.clone(), def)
        })
        .collect();
    Catalog {
        defs,
        defs_v3,
        kind_names,
    }
}

/// Removes JSON-Schema constructs Swagger 2.0 (and upstream) do not use.
///
/// k8s-openapi describes `JSONSchemaPropsOr*` with `oneOf`; upstream leaves
/// those untyped, and gnostic's v2 Schema cannot carry `oneOf` anyway. Only
/// schema positions are walked: `properties` maps may legitimately contain
/// fields named `oneOf`/`anyOf`/`$schema` (JSONSchemaProps does).
fn normalize(schema: &mut Value) {
    let Some(m) = schema.as_object_mut() else {
        return;
    };
    m.remove("oneOf");
    m.remove("anyOf");
    m.remove("$schema");
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        props.values_mut().for_each(normalize);
    }
    match m.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(normalize),
        Some(item) => normalize(item),
        None => {}
    }
    if let Some(extra) = m.get_mut("additionalProperties") {
        normalize(extra);
    }
    if let Some(Value::Array(all)) = m.get_mut("allOf") {
        all.iter_mut().for_each(normalize);
    }
}

/// Matches upstream's representation of the few hand-written apimachinery
/// types (kubectl's v2 validator only understands these forms).
fn fix_special(name: &str, def: &mut Value) {
    let Some(m) = def.as_object_mut() else {
        return;
    };
    match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            m.remove("x-kubernetes-int-or-string");
            m.insert("type".into(), json!("string"));
            m.insert("format".into(), json!("int-or-string"));
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            m.remove("x-kubernetes-int-or-string");
            m.insert("type".into(), json!("string"));
        }
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON" => {
            m.remove("type");
        }
        _ => {}
    }
}

/// k8s-openapi marks non-`Option` Rust fields as required; upstream does not
/// require `metadata` (except on core/v1 Event) and differs in a few more
/// places, recorded in [`extensions::REQUIRED`].
fn fix_required(name: &str, def: &mut Value) {
    let Some(m) = def.as_object_mut() else {
        return;
    };
    if let Some((_, upstream)) = extensions::REQUIRED.iter().find(|(n, _)| *n == name) {
        m.remove("required");
        if !upstream.is_empty() {
            m.insert("required".into(), json!(upstream));
        }
        return;
    }
    let Some(Value::Array(required)) = m.get_mut("required") else {
        return;
    };
    if name != "io.k8s.api.core.v1.Event" {
        required.retain(|r| r.as_str() != Some("metadata"));
    }
    if required.is_empty() {
        m.remove("required");
    }
}

fn gvk_value(gvks: &[(&str, &str, &str)]) -> Value {
    Value::Array(
        gvks.iter()
            .map(|(g, v, k)| json!({"group": g, "kind": k, "version": v}))
            .collect(),
    )
}

/// Tags a definition with `x-kubernetes-group-version-kind`.
pub(crate) fn set_gvk(def: &mut Value, gvks: &[(&str, &str, &str)]) {
    if let Some(m) = def.as_object_mut() {
        m.insert("x-kubernetes-group-version-kind".into(), gvk_value(gvks));
    }
}

fn set_gvk_named(defs: &mut BTreeMap<String, Value>, name: &str, gvks: &[(&str, &str, &str)]) {
    if let Some(def) = defs.get_mut(name) {
        set_gvk(def, gvks);
    }
}

/// The shared `apiVersion`/`kind` property schemas, borrowed from any kind
/// so their upstream descriptions are reused rather than duplicated.
fn type_meta_properties(defs: &BTreeMap<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let props = defs
        .get(kinds::STATUS)
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object);
    for key in ["apiVersion", "kind"] {
        let v = props
            .and_then(|p| p.get(key))
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}));
        out.insert(key.into(), v);
    }
    out
}

/// Builds `<Kind>List` like upstream (k8s-openapi models lists generically,
/// without a schema of their own).
fn list_definition(k: &KindDef, item: &str, type_meta: &Map<String, Value>) -> Value {
    let list_name = format!("{item}List");
    let (description, items_description, metadata_description) = extensions::LIST_DOCS
        .iter()
        .find(|(n, ..)| *n == list_name)
        .map(|(_, d, i, m)| ((*d).to_owned(), (*i).to_owned(), (*m).to_owned()))
        .unwrap_or_else(|| {
            let words = plural_words(k);
            (
                format!("{}List is a list of {words}.", k.kind),
                format!("Items is the list of {words}."),
                "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds".to_owned(),
            )
        });
    let mut props = type_meta.clone();
    props.insert(
        "items".into(),
        json!({
            "description": items_description,
            "type": "array",
            "items": {"$ref": format!("{V2_REF}{item}")},
        }),
    );
    let mut metadata = json!({"$ref": format!("{V2_REF}{}", kinds::LIST_META)});
    if !metadata_description.is_empty() {
        metadata["description"] = json!(metadata_description);
    }
    props.insert("metadata".into(), metadata);
    let mut def = json!({
        "description": description,
        "type": "object",
        "properties": Value::Object(props),
        "required": ["items"],
    });
    let list_kind = format!("{}List", k.kind);
    set_gvk(&mut def, &[(k.group, k.version, &list_kind)]);
    def
}

/// "Deployments", "Endpoints", "NetworkPolicies": the kind pluralised the
/// way upstream list descriptions read.
fn plural_words(k: &KindDef) -> String {
    let kind = k.kind;
    if kind.ends_with('s') {
        kind.to_owned()
    } else if let Some(stem) = kind.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{kind}s")
    }
}
