//! The schema model: just enough type information to know how things merge.
//!
//! Server-side apply only needs to know, for every node, whether it is a scalar, a list
//! (atomic, set, or map keyed by some fields) or a map/struct (granular or atomic), and
//! for struct fields whether a key is a *declared* field (owned implicitly through its
//! children) or a map *entry* (owned explicitly). This mirrors structured-merge-diff's
//! `schema` package so that any OpenAPI document — the built-in Kubernetes types, or a
//! CRD's `openAPIV3Schema` — can be converted into it; see [`TypeSet::builtin`] and
//! [`TypeSet::add_crd`].

use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Reference to a type.
#[derive(Clone, Debug)]
pub enum TypeRef {
    /// A type defined in the schema under this name.
    Named(String),
    /// A type defined in place (what OpenAPI schemas without `$ref` turn into).
    Inline(Arc<TypeDef>),
    /// Upstream's `__untyped_deduced_`: maps are granular with every key a map entry,
    /// lists are atomic. Used for schemaless data such as CRDs without a schema or
    /// `x-kubernetes-preserve-unknown-fields`.
    Deduced,
    /// Upstream's `__untyped_atomic_`: anything, always replaced as a whole.
    UntypedAtomic,
    /// A lenient struct for partially described types: granular maps whose keys are all
    /// treated as declared fields of this same type, atomic lists. The built-in table
    /// uses it for the many fields it does not spell out, which gives the same FieldsV1
    /// as upstream's full schema for every field whose merge behaviour is default.
    Unknown,
}

impl TypeRef {
    /// Shorthand for [`TypeRef::Named`].
    pub fn named(name: impl Into<String>) -> Self {
        TypeRef::Named(name.into())
    }

    /// Shorthand for [`TypeRef::Inline`].
    pub fn inline(def: TypeDef) -> Self {
        TypeRef::Inline(Arc::new(def))
    }
}

/// The scalar kinds upstream validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarType {
    /// Integers and floats.
    Numeric,
    /// Strings.
    String,
    /// Booleans.
    Boolean,
    /// Any scalar.
    Untyped,
}

/// A type: which shapes a value may take. Several may be set at once (e.g. an untyped
/// field accepts scalars, lists and maps); the value's actual shape picks one.
#[derive(Clone, Debug, Default)]
pub struct TypeDef {
    /// Present if scalars are allowed.
    pub scalar: Option<ScalarType>,
    /// Present if lists are allowed.
    pub list: Option<ListDef>,
    /// Present if maps/structs are allowed.
    pub map: Option<MapDef>,
}

/// How the items of a list are identified, which decides how lists merge and how their
/// ownership is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// The whole list is one value (`x-kubernetes-list-type: atomic`, the default).
    Atomic,
    /// Items are scalars identified by value (`x-kubernetes-list-type: set`).
    Set,
    /// Items are maps identified by these key fields
    /// (`x-kubernetes-list-type: map` + `x-kubernetes-list-map-keys`).
    Map(Vec<String>),
}

/// A list type.
#[derive(Clone, Debug)]
pub struct ListDef {
    /// Type of the items.
    pub element: TypeRef,
    /// Item identity.
    pub list_type: ListType,
}

/// Whether a map is merged key by key or replaced as a whole
/// (`x-kubernetes-map-type`, or `+structType=atomic` for structs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    /// Each key is merged and owned separately (the default).
    Granular,
    /// The whole map is one value.
    Atomic,
}

/// A declared struct field.
#[derive(Clone, Debug)]
pub struct FieldDef {
    /// Field type.
    pub ty: TypeRef,
    /// Default value; only used for associative-list keys (e.g. `protocol: TCP` for
    /// container ports), as upstream does when building item keys.
    pub default: Option<Value>,
}

/// What keys that are not declared fields are.
#[derive(Clone, Debug)]
pub enum Rest {
    /// Entries of a map (labels, data, `additionalProperties`): each is owned explicitly.
    Elements(TypeRef),
    /// Fields of a partially described struct: treated like declared fields.
    Fields(TypeRef),
}

/// A map or struct type.
#[derive(Clone, Debug)]
pub struct MapDef {
    /// Declared fields.
    pub fields: BTreeMap<String, FieldDef>,
    /// Undeclared keys; `None` rejects them ("field not declared in schema").
    pub rest: Option<Rest>,
    /// Merge granularity.
    pub map_type: MapType,
}

impl MapDef {
    /// The type for `key` and whether it counts as a declared field.
    pub(crate) fn lookup(&self, key: &str) -> Option<(&TypeRef, bool)> {
        if let Some(f) = self.fields.get(key) {
            return Some((&f.ty, true));
        }
        match &self.rest {
            Some(Rest::Elements(t)) => Some((t, false)),
            Some(Rest::Fields(t)) => Some((t, true)),
            None => None,
        }
    }
}

/// Source of type information for the apply engine.
///
/// Implement this to plug in other schemas (e.g. generated from the full OpenAPI
/// document); [`TypeSet`] is the provided implementation.
pub trait Schema {
    /// Resolves a named type.
    fn named_type(&self, name: &str) -> Option<&TypeDef>;
    /// The type of a whole object of this `apiVersion`/`kind`.
    fn root_type(&self, api_version: &str, kind: &str) -> TypeRef;

    /// The kind's empty object as upstream sees it on create: the Go zero value
    /// serialized (non-`omitempty` fields as `null`/`0`/`""`, nested structs as
    /// objects). Creates are compared against it, so it decides which parents an
    /// `Update` entry records with `"."`; the default `{}` is right for unstructured
    /// kinds (CRDs).
    fn zero_object(&self, api_version: &str, kind: &str) -> Value {
        let _ = (api_version, kind);
        Value::Object(Map::new())
    }
}

static UNTYPED_ATOMIC: TypeDef = TypeDef {
    scalar: Some(ScalarType::Untyped),
    list: Some(ListDef {
        element: TypeRef::UntypedAtomic,
        list_type: ListType::Atomic,
    }),
    map: Some(MapDef {
        fields: BTreeMap::new(),
        rest: Some(Rest::Elements(TypeRef::UntypedAtomic)),
        map_type: MapType::Atomic,
    }),
};

static DEDUCED: TypeDef = TypeDef {
    scalar: Some(ScalarType::Untyped),
    list: Some(ListDef {
        element: TypeRef::UntypedAtomic,
        list_type: ListType::Atomic,
    }),
    map: Some(MapDef {
        fields: BTreeMap::new(),
        rest: Some(Rest::Elements(TypeRef::Deduced)),
        map_type: MapType::Granular,
    }),
};

static UNKNOWN: TypeDef = TypeDef {
    scalar: Some(ScalarType::Untyped),
    list: Some(ListDef {
        element: TypeRef::UntypedAtomic,
        list_type: ListType::Atomic,
    }),
    map: Some(MapDef {
        fields: BTreeMap::new(),
        rest: Some(Rest::Fields(TypeRef::Unknown)),
        map_type: MapType::Granular,
    }),
};

/// Resolves a reference against a schema.
pub fn resolve<'a>(schema: &'a dyn Schema, t: &'a TypeRef) -> Option<&'a TypeDef> {
    match t {
        TypeRef::Named(n) => schema.named_type(n),
        TypeRef::Inline(d) => Some(d),
        TypeRef::Deduced => Some(&DEDUCED),
        TypeRef::UntypedAtomic => Some(&UNTYPED_ATOMIC),
        TypeRef::Unknown => Some(&UNKNOWN),
    }
}

/// A collection of named types plus the root type for each `apiVersion`/`kind`.
#[derive(Clone, Debug)]
pub struct TypeSet {
    types: HashMap<String, TypeDef>,
    roots: HashMap<(String, String), TypeRef>,
    zeros: HashMap<(String, String), Value>,
    fallback: TypeRef,
}

impl Default for TypeSet {
    fn default() -> Self {
        Self::new(TypeRef::Deduced)
    }
}

impl TypeSet {
    /// An empty type set whose unknown kinds resolve to `fallback`.
    pub fn new(fallback: TypeRef) -> Self {
        TypeSet {
            types: HashMap::new(),
            roots: HashMap::new(),
            zeros: HashMap::new(),
            fallback,
        }
    }

    /// Adds or replaces a named type.
    pub fn insert_type(&mut self, name: impl Into<String>, def: TypeDef) {
        self.types.insert(name.into(), def);
    }

    /// Registers the root type of a kind.
    pub fn insert_root(&mut self, api_version: &str, kind: &str, ty: TypeRef) {
        self.roots
            .insert((api_version.to_string(), kind.to_string()), ty);
    }

    /// Registers the zero object of a kind (see [`Schema::zero_object`]).
    pub fn insert_zero_object(&mut self, api_version: &str, kind: &str, zero: Value) {
        self.zeros
            .insert((api_version.to_string(), kind.to_string()), zero);
    }

    /// Changes the type used for kinds that were not registered.
    pub fn set_fallback(&mut self, ty: TypeRef) {
        self.fallback = ty;
    }

    /// Registers a custom resource from its `openAPIV3Schema`, the way the CRD handler
    /// builds its apply schema: `metadata` is always the standard ObjectMeta (so
    /// labels, finalizers and ownerReferences merge like on built-in kinds) and
    /// `apiVersion`/`kind` are strings. Requires [`TypeSet::builtin`]'s `ObjectMeta`
    /// (name [`crate::ssa::builtin::OBJECT_META`]) or an equivalent to be present.
    pub fn add_crd(
        &mut self,
        api_version: &str,
        kind: &str,
        openapi_v3: &Value,
    ) -> Result<(), String> {
        let root = type_from_openapi(openapi_v3, false)?;
        let mut def = match root {
            TypeRef::Inline(d) => (*d).clone(),
            _ => TypeDef::default(),
        };
        let map = def.map.get_or_insert_with(|| MapDef {
            fields: BTreeMap::new(),
            rest: None,
            map_type: MapType::Granular,
        });
        map.fields.insert(
            "metadata".into(),
            FieldDef {
                ty: TypeRef::named(crate::ssa::builtin::OBJECT_META),
                default: None,
            },
        );
        for f in ["apiVersion", "kind"] {
            map.fields.insert(
                f.into(),
                FieldDef {
                    ty: TypeRef::inline(TypeDef {
                        scalar: Some(ScalarType::String),
                        ..Default::default()
                    }),
                    default: None,
                },
            );
        }
        self.insert_root(api_version, kind, TypeRef::inline(def));
        Ok(())
    }

    /// Adds every definition of an OpenAPI document (`definitions` of v2 or
    /// `components.schemas` of v3) as named types, registering roots from
    /// `x-kubernetes-group-version-kind`. This lets the complete upstream schema replace
    /// the built-in table when it is available.
    pub fn add_openapi_definitions(
        &mut self,
        definitions: &Map<String, Value>,
    ) -> Result<(), String> {
        for (name, schema) in definitions {
            let def = match name.as_str() {
                "io.k8s.apimachinery.pkg.api.resource.Quantity" => TypeDef {
                    scalar: Some(ScalarType::Untyped),
                    ..Default::default()
                },
                "io.k8s.apimachinery.pkg.runtime.RawExtension" => UNTYPED_ATOMIC.clone(),
                _ => match type_from_openapi(schema, false)? {
                    TypeRef::Inline(d) => (*d).clone(),
                    TypeRef::Named(_) => continue,
                    other => match resolve(self, &other) {
                        Some(d) => d.clone(),
                        None => continue,
                    },
                },
            };
            self.insert_type(name.clone(), def);
            if let Some(Value::Array(gvks)) = schema.get("x-kubernetes-group-version-kind") {
                for gvk in gvks {
                    let group = gvk.get("group").and_then(Value::as_str).unwrap_or("");
                    let version = gvk.get("version").and_then(Value::as_str).unwrap_or("");
                    let kind = gvk.get("kind").and_then(Value::as_str).unwrap_or("");
                    if kind.is_empty() {
                        continue;
                    }
                    let av = if group.is_empty() {
                        version.to_string()
                    } else {
                        format!("{group}/{version}")
                    };
                    self.insert_root(&av, kind, TypeRef::named(name.clone()));
                }
            }
        }
        Ok(())
    }
}

impl Schema for TypeSet {
    fn named_type(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    fn root_type(&self, api_version: &str, kind: &str) -> TypeRef {
        self.roots
            .get(&(api_version.to_string(), kind.to_string()))
            .cloned()
            .unwrap_or_else(|| self.fallback.clone())
    }

    fn zero_object(&self, api_version: &str, kind: &str) -> Value {
        self.zeros
            .get(&(api_version.to_string(), kind.to_string()))
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()))
    }
}

/// Converts an OpenAPI (v2 or v3 structural) schema into a type, following
/// kube-openapi's `schemaconv` rules so that CRDs merge exactly like upstream:
/// `properties` become declared fields, `additionalProperties` map entries, lists are
/// atomic unless `x-kubernetes-list-type` (or a strategic-merge patch strategy) says
/// otherwise, maps granular unless `x-kubernetes-map-type: atomic`, and
/// `x-kubernetes-preserve-unknown-fields` lets undeclared keys through as deduced
/// entries.
pub fn type_from_openapi(schema: &Value, preserve_unknown: bool) -> Result<TypeRef, String> {
    let obj = match schema {
        Value::Object(m) => m,
        Value::Bool(true) => return Ok(TypeRef::Deduced),
        _ => return Err("schema must be an object".into()),
    };
    if let Some(r) = ref_name(obj) {
        return Ok(TypeRef::Named(r));
    }
    let preserve = preserve_unknown
        || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let ty = match obj.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    let def = match ty {
        "" => TypeDef {
            scalar: Some(ScalarType::Untyped),
            list: Some(list_from_openapi(obj, preserve)?),
            map: Some(map_from_openapi(obj, preserve)?),
        },
        "object" => TypeDef {
            map: Some(map_from_openapi(obj, preserve)?),
            ..Default::default()
        },
        "array" => TypeDef {
            list: Some(list_from_openapi(obj, preserve)?),
            ..Default::default()
        },
        "integer" | "number" => TypeDef {
            scalar: Some(ScalarType::Numeric),
            ..Default::default()
        },
        "boolean" => TypeDef {
            scalar: Some(ScalarType::Boolean),
            ..Default::default()
        },
        "string" => {
            let format = obj.get("format").and_then(Value::as_str).unwrap_or("");
            let scalar = if format.is_empty() || format == "byte" {
                ScalarType::String
            } else {
                ScalarType::Untyped
            };
            TypeDef {
                scalar: Some(scalar),
                ..Default::default()
            }
        }
        other => return Err(format!("unrecognized type: '{other}'")),
    };
    Ok(TypeRef::inline(def))
}

fn ref_name(obj: &Map<String, Value>) -> Option<String> {
    let r = obj
        .get("$ref")
        .and_then(Value::as_str)
        .or_else(|| match obj.get("allOf") {
            Some(Value::Array(all)) if all.len() == 1 => all[0].get("$ref").and_then(Value::as_str),
            _ => None,
        })?;
    r.rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

fn field_type(member: &Value, preserve: bool) -> Result<TypeRef, String> {
    let t = type_from_openapi(member, preserve)?;
    // A `$ref` with `x-kubernetes-map-type` overrides the referenced type's granularity;
    // we cannot patch a named type in place, so such fields are treated as atomic maps.
    if let (TypeRef::Named(_), Some("atomic")) = (
        &t,
        member.get("x-kubernetes-map-type").and_then(Value::as_str),
    ) {
        return Ok(TypeRef::UntypedAtomic);
    }
    Ok(t)
}

fn map_from_openapi(obj: &Map<String, Value>, preserve: bool) -> Result<MapDef, String> {
    let mut fields = BTreeMap::new();
    let props = match obj.get("properties") {
        Some(Value::Object(p)) => Some(p),
        _ => None,
    };
    if let Some(props) = props {
        for (name, member) in props {
            fields.insert(
                name.clone(),
                FieldDef {
                    ty: field_type(member, preserve)?,
                    default: member.get("default").cloned(),
                },
            );
        }
    }
    let rest = match obj.get("additionalProperties") {
        None => {
            if preserve || props.is_none_or(|p| p.is_empty()) {
                Some(Rest::Elements(TypeRef::Deduced))
            } else {
                None
            }
        }
        Some(Value::Bool(true)) => Some(Rest::Elements(TypeRef::Deduced)),
        Some(Value::Bool(false)) => None,
        Some(s) => Some(Rest::Elements(field_type(s, preserve)?)),
    };
    let map_type = match obj.get("x-kubernetes-map-type").and_then(Value::as_str) {
        Some("atomic") => MapType::Atomic,
        None | Some("granular") => MapType::Granular,
        Some(other) => return Err(format!("unknown map type {other}")),
    };
    Ok(MapDef {
        fields,
        rest,
        map_type,
    })
}

fn list_from_openapi(obj: &Map<String, Value>, preserve: bool) -> Result<ListDef, String> {
    let list_type = match obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("atomic") => ListType::Atomic,
        Some("set") => ListType::Set,
        Some("map") => {
            let keys = match obj.get("x-kubernetes-list-map-keys") {
                Some(Value::Array(k)) => k
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("uninterpreted map keys")?,
                _ => return Err("missing map keys".into()),
            };
            ListType::Map(keys)
        }
        Some(other) => return Err(format!("unknown list type {other}")),
        None => match obj
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
        {
            Some("merge") | Some("merge,retainKeys") => {
                match obj
                    .get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str)
                {
                    Some(k) => ListType::Map(vec![k.to_string()]),
                    None => ListType::Set,
                }
            }
            _ => ListType::Atomic,
        },
    };
    let element = match obj.get("items") {
        Some(items @ Value::Object(_)) => type_from_openapi(items, preserve)?,
        Some(_) => {
            return Err("structural schema arrays must have exactly one member subtype".into())
        }
        None => TypeRef::UntypedAtomic,
    };
    Ok(ListDef { element, list_type })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_definitions_register_named_types_and_roots() {
        let defs = json!({
            "io.k8s.api.example.v1.Thing": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "example.io", "version": "v1", "kind": "Thing"}],
                "properties": {
                    "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.example.v1.ThingSpec"}], "default": {}}
                }
            },
            "io.k8s.api.example.v1.ThingSpec": {
                "type": "object",
                "properties": {"items": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}
            }
        });
        let mut set = TypeSet::default();
        set.add_openapi_definitions(defs.as_object().unwrap())
            .unwrap();
        let root = set.root_type("example.io/v1", "Thing");
        let m = resolve(&set, &root).unwrap().map.as_ref().unwrap();
        assert!(
            matches!(&m.fields["spec"].ty, TypeRef::Named(n) if n == "io.k8s.api.example.v1.ThingSpec")
        );
        let spec = resolve(&set, &m.fields["spec"].ty)
            .unwrap()
            .map
            .as_ref()
            .unwrap();
        let items = resolve(&set, &spec.fields["items"].ty).unwrap();
        assert_eq!(items.list.as_ref().unwrap().list_type, ListType::Set);
        assert!(matches!(
            set.root_type("example.io/v1", "Other"),
            TypeRef::Deduced
        ));
    }

    #[test]
    fn openapi_conversion_follows_schemaconv() {
        let t = type_from_openapi(
            &json!({
                "type": "object",
                "properties": {
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                        "items": {"type": "object", "properties": {
                            "port": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"}
                        }}
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "sel": {"type": "object", "x-kubernetes-map-type": "atomic"}
                }
            }),
            false,
        )
        .unwrap();
        let set = TypeSet::default();
        let def = resolve(&set, &t).unwrap();
        let m = def.map.as_ref().unwrap();
        assert!(m.rest.is_none());
        let ports = resolve(&set, &m.fields["ports"].ty)
            .unwrap()
            .list
            .as_ref()
            .unwrap();
        assert_eq!(
            ports.list_type,
            ListType::Map(vec!["port".into(), "protocol".into()])
        );
        let item = resolve(&set, &ports.element).unwrap().map.as_ref().unwrap();
        assert_eq!(item.fields["protocol"].default, Some(json!("TCP")));
        let tags = resolve(&set, &m.fields["tags"].ty).unwrap();
        assert_eq!(tags.list.as_ref().unwrap().list_type, ListType::Set);
        let labels = resolve(&set, &m.fields["labels"].ty)
            .unwrap()
            .map
            .as_ref()
            .unwrap();
        assert!(matches!(labels.rest, Some(Rest::Elements(_))));
        let sel = resolve(&set, &m.fields["sel"].ty)
            .unwrap()
            .map
            .as_ref()
            .unwrap();
        assert_eq!(sel.map_type, MapType::Atomic);
    }
}
