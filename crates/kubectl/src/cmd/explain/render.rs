//! kubectl 1.32's plaintext explain layout, rendered from an OpenAPI v3 document: the
//! schema of a kind, followed along a field path through `$ref`, `items`,
//! `additionalProperties` and `allOf`, with descriptions wrapped as go-wordwrap does.

use std::collections::BTreeSet;

use serde_json::Value;

/// Why rendering stopped; the text rendered so far is printed before the error.
pub struct Failed {
    pub partial: String,
    pub message: String,
}

/// `GROUP/KIND/VERSION` header plus the schema for `field_path`.
pub fn render(
    doc: &Value,
    gvk: &Value,
    field_path: &[String],
    recursive: bool,
) -> Result<String, Failed> {
    let mut out = String::new();
    if let Some(g) = gvk["group"].as_str().filter(|g| !g.is_empty()) {
        out.push_str(&format!("GROUP:      {g}\n"));
    }
    out.push_str(&format!(
        "KIND:       {}\nVERSION:    {}\n\n",
        gvk["kind"].as_str().unwrap_or_default(),
        gvk["version"].as_str().unwrap_or_default()
    ));
    let schemas = doc["components"]["schemas"].as_object();
    let found = schemas.into_iter().flatten().find(|(_, s)| {
        s["x-kubernetes-group-version-kind"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| same_gvk(x, gvk)))
    });
    let Some((_, schema)) = found else {
        return Err(Failed {
            partial: out,
            message: format!("GVK {} not found in OpenAPI schema", gvk_text(gvk)),
        });
    };
    let ctx = Ctx { doc, recursive };
    let body = ctx.output(schema, field_path, &BTreeSet::new());
    if body.is_empty() {
        let field = field_path.last().cloned().unwrap_or_default();
        return Err(Failed {
            partial: out,
            message: format!("field \"{field}\" does not exist"),
        });
    }
    out.push_str(&body);
    out.push('\n');
    Ok(out)
}

fn same_gvk(a: &Value, b: &Value) -> bool {
    ["group", "kind", "version"]
        .iter()
        .all(|k| a[k].as_str().unwrap_or_default() == b[k].as_str().unwrap_or_default())
}

fn gvk_text(gvk: &Value) -> String {
    format!(
        "{}/{}, Kind={}",
        gvk["group"].as_str().unwrap_or_default(),
        gvk["version"].as_str().unwrap_or_default(),
        gvk["kind"].as_str().unwrap_or_default()
    )
}

/// The operation's `x-kubernetes-group-version-kind` for the resource's paths.
pub fn find_gvk(doc: &Value, group: &str, version: &str, plural: &str) -> Option<Value> {
    let prefix = if group.is_empty() {
        "/api".to_string()
    } else {
        format!("/apis/{group}")
    };
    let candidates = [
        format!("{prefix}/{version}/{plural}"),
        format!("{prefix}/{version}/{plural}/{{name}}"),
        format!("{prefix}/{version}/namespaces/{{namespace}}/{plural}"),
        format!("{prefix}/{version}/namespaces/{{namespace}}/{plural}/{{name}}"),
    ];
    for p in &candidates {
        let Some(item) = doc["paths"].get(p.as_str()) else {
            continue;
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(g) = item[method].get("x-kubernetes-group-version-kind") {
                if !g.is_null() {
                    return Some(g.clone());
                }
            }
        }
    }
    None
}

struct Ctx<'a> {
    doc: &'a Value,
    recursive: bool,
}

fn ref_of(schema: &Value) -> &str {
    schema["$ref"].as_str().unwrap_or_default()
}

/// `additionalProperties` when it is a schema rather than a boolean.
fn additional(schema: &Value) -> Option<&Value> {
    schema
        .get("additionalProperties")
        .filter(|v| v.is_object() && v.as_object().is_some_and(|m| !m.is_empty()))
}

fn items(schema: &Value) -> Option<&Value> {
    schema
        .get("items")
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
}

fn all_of(schema: &Value) -> &[Value] {
    schema["allOf"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

impl<'a> Ctx<'a> {
    fn resolve(&self, r: &str) -> Option<&'a Value> {
        let name = r.strip_prefix("#/components/schemas/")?;
        self.doc["components"]["schemas"].get(name)
    }

    fn resolved(&self, schema: &'a Value) -> &'a Value {
        self.resolve(ref_of(schema)).unwrap_or(schema)
    }

    fn output(&self, schema: &'a Value, path: &[String], history: &BTreeSet<String>) -> String {
        let r = ref_of(schema);
        let mut next = history.clone();
        next.insert(r.to_string());
        let resolved = self.resolved(schema);
        let Some((first, rest)) = path.split_first() else {
            let mut out = String::from("DESCRIPTION:\n");
            let d = self.description(resolved);
            let d = if d.is_empty() {
                "<empty>".to_string()
            } else {
                d
            };
            out.push_str(&indent(4, &wrap(76, &d)));
            out.push('\n');
            let ext = external_docs(resolved, 0);
            if !ext.is_empty() {
                out.push('\n');
                out.push_str(&ext);
            }
            let fields = self.field_list(resolved, 1, &BTreeSet::new());
            if !fields.is_empty() {
                out.push_str("FIELDS:\n");
                out.push_str(&fields);
            }
            return out;
        };
        if !r.is_empty() && history.contains(r) {
            return String::new();
        }
        if let Some(sub) = resolved["properties"].get(first.as_str()) {
            let mut out = String::new();
            if rest.is_empty() {
                out.push_str(&format!("FIELD: {first} <{}>\n", self.type_guess(sub)));
                out.push_str(&self.enums(sub, true, -1, 0));
                out.push_str("\n\n");
            }
            out.push_str(&self.output(sub, rest, &BTreeSet::new()));
            return out;
        }
        if let Some(it) = items(resolved) {
            return self.output(it, path, &next);
        }
        if let Some(ap) = additional(resolved) {
            return self.output(ap, path, &next);
        }
        for sub in all_of(resolved) {
            let o = self.output(sub, path, &next);
            if !o.is_empty() {
                return o;
            }
        }
        String::new()
    }

    fn description(&self, schema: &'a Value) -> String {
        let s = self.resolved(schema);
        let mut out = String::new();
        if let Some(d) = s["description"].as_str().filter(|d| !d.is_empty()) {
            out.push_str(d);
            out.push('\n');
        }
        for sub in all_of(s) {
            out.push_str(&self.description(sub));
        }
        if let Some(it) = items(s) {
            out.push_str(&self.description(it));
        }
        if let Some(ap) = additional(s) {
            out.push_str(&self.description(ap));
        }
        out
    }

    fn field_list(&self, schema: &'a Value, level: usize, history: &BTreeSet<String>) -> String {
        let r = ref_of(schema);
        if !r.is_empty() && history.contains(r) {
            return String::new();
        }
        let mut next = history.clone();
        next.insert(r.to_string());
        let resolved = self.resolved(schema);
        let mut out = String::new();
        if let Some(props) = resolved["properties"].as_object() {
            let mut names: Vec<&String> = props.keys().collect();
            names.sort();
            for name in names {
                out.push_str(&self.field_detail(resolved, name, level));
                if self.recursive {
                    out.push_str(&self.field_list(&props[name.as_str()], level + 1, &next));
                }
            }
        }
        for sub in all_of(resolved) {
            out.push_str(&self.field_list(sub, level, &next));
        }
        if let Some(it) = items(resolved) {
            out.push_str(&self.field_list(it, level, &next));
        }
        if let Some(ap) = additional(resolved) {
            out.push_str(&self.field_list(ap, level, &next));
        }
        out
    }

    fn field_detail(&self, parent: &'a Value, name: &str, level: usize) -> String {
        let pad = level * 2;
        let field = &parent["properties"][name];
        let mut out = format!("{}\t<{}>", indent(pad, name), self.type_guess(field));
        let required = parent["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == name));
        if required {
            out.push_str(" -required-");
        }
        out.push_str(&self.enums(field, false, 4, pad));
        out.push('\n');
        if self.recursive {
            return out;
        }
        let d = field["description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .unwrap_or("<no description>");
        out.push_str(&indent(pad + 2, &wrap(78 - pad, d)));
        out.push('\n');
        if field["externalDocs"].is_object() {
            out.push('\n');
            out.push_str(&external_docs(field, pad + 2));
        }
        out.push('\n');
        out
    }

    fn type_guess(&self, schema: &'a Value) -> String {
        if let Some(it) = items(schema) {
            return format!("[]{}", self.type_guess(it));
        }
        if let Some(ap) = additional(schema) {
            return format!("map[string]{}", self.type_guess(ap));
        }
        let all = all_of(schema);
        if all.len() == 1
            && schema
                .get("properties")
                .is_none_or(|p| p.as_object().is_none_or(|m| m.is_empty()))
        {
            return self.type_guess(&all[0]);
        }
        let r = ref_of(schema);
        if !r.is_empty() {
            let target = self.resolve(r);
            let ty = target.and_then(|t| t["type"].as_str()).unwrap_or_default();
            if ty.is_empty() || ty == "object" {
                let name = r.rsplit('/').next().unwrap_or_default();
                let short = name.rsplit('.').next().unwrap_or_default();
                return if short.is_empty() {
                    "Object".into()
                } else {
                    short.into()
                };
            }
            return ty.to_string();
        }
        match schema["type"].as_str() {
            Some("object") | None | Some("") => "Object".into(),
            Some(t) => t.to_string(),
        }
    }

    /// `ENUM:` lines (long view) or an `enum: a, b, …` line under a field.
    fn enums(&self, schema: &Value, long: bool, limit: i64, pad: usize) -> String {
        let Some(values) = schema["enum"].as_array().filter(|e| !e.is_empty()) else {
            return String::new();
        };
        let mut out = if long {
            "ENUM:".to_string()
        } else {
            format!("\n{}enum: ", " ".repeat(pad))
        };
        for (i, v) in values.iter().enumerate() {
            if limit > -1 && i as i64 >= limit {
                out.push_str(", ....");
                break;
            }
            if i > 0 && !long {
                out.push_str(", ");
            } else if long {
                out.push_str("\n    ");
            }
            match v {
                Value::String(s) if s.is_empty() => out.push_str("\"\""),
                Value::String(s) => out.push_str(s),
                other => out.push_str(&crate::printer::columns::sprint(other)),
            }
        }
        out
    }
}

fn external_docs(schema: &Value, pad: usize) -> String {
    let Some(ext) = schema.get("externalDocs").filter(|e| e.is_object()) else {
        return String::new();
    };
    let mut out = format!("{}\n", indent(pad, "EXTERNAL DOCS:"));
    if let Some(d) = ext["description"].as_str().filter(|d| !d.is_empty()) {
        out.push_str(&indent(pad + 4, &wrap(76 - pad, d)));
        out.push('\n');
    }
    if let Some(u) = ext["url"].as_str().filter(|u| !u.is_empty()) {
        out.push_str(&indent(pad + 4, &format!("URL: {u}")));
        out.push('\n');
    }
    out
}

/// kubectl's `indent`: pads the first line and every line after a newline.
fn indent(amount: usize, s: &str) -> String {
    let pad = " ".repeat(amount);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// go-wordwrap's `WrapString`: breaks at blanks so lines stay within `lim` characters;
/// words longer than the limit stay whole, existing line breaks are kept.
pub fn wrap(lim: usize, s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut current = 0usize;
    let (mut word, mut space) = (String::new(), String::new());
    let (mut word_len, mut space_len) = (0usize, 0usize);
    for c in s.chars() {
        if c == '\n' {
            if word.is_empty() {
                if current + space_len <= lim {
                    out.push_str(&space);
                }
            } else {
                out.push_str(&space);
                out.push_str(&word);
                word.clear();
                word_len = 0;
            }
            space.clear();
            space_len = 0;
            out.push('\n');
            current = 0;
        } else if c.is_whitespace() && c != '\u{a0}' {
            if space.is_empty() || !word.is_empty() {
                current += space_len + word_len;
                out.push_str(&space);
                out.push_str(&word);
                space.clear();
                space_len = 0;
                word.clear();
                word_len = 0;
            }
            space.push(c);
            space_len += 1;
        } else {
            word.push(c);
            word_len += 1;
            if current + space_len + word_len > lim && word_len < lim {
                out.push('\n');
                current = 0;
                space.clear();
                space_len = 0;
            }
        }
    }
    if word.is_empty() {
        if current + space_len <= lim {
            out.push_str(&space);
        }
    } else {
        out.push_str(&space);
        out.push_str(&word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wraps_like_go_wordwrap() {
        assert_eq!(wrap(10, "aaa bbb ccc ddd"), "aaa bbb\nccc ddd");
        assert_eq!(wrap(5, "abcdefgh ij"), "abcdefgh\nij");
        assert_eq!(wrap(76, "x\n"), "x\n");
        assert_eq!(indent(4, "a\nb\n"), "    a\n    b\n    ");
    }

    #[test]
    fn renders_fields_and_paths() {
        let doc = json!({"components": {"schemas": {
            "io.k8s.api.core.v1.Thing": {
                "description": "A thing.",
                "type": "object",
                "required": ["spec"],
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "Thing", "version": "v1"}],
                "properties": {
                    "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.ThingSpec"}], "description": "The spec."},
                    "tags": {"type": "array", "items": {"type": "string"}, "enum": ["", "a"]}
                }
            },
            "io.k8s.api.core.v1.ThingSpec": {"description": "ThingSpec is.", "type": "object",
                "properties": {"size": {"type": "integer", "description": "How big."}}}
        }}});
        let gvk = json!({"group": "", "kind": "Thing", "version": "v1"});
        let top = render(&doc, &gvk, &[], false).unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(
            top,
            "KIND:       Thing\nVERSION:    v1\n\nDESCRIPTION:\n    A thing.\n    \nFIELDS:\n  spec\t<ThingSpec> -required-\n    The spec.\n\n  tags\t<[]string>\n  enum: \"\", a\n    <no description>\n\n\n"
        );
        let spec =
            render(&doc, &gvk, &["spec".into()], true).unwrap_or_else(|f| panic!("{}", f.message));
        assert!(spec.contains("FIELD: spec <ThingSpec>\n\n\nDESCRIPTION:\n    The spec.\n    ThingSpec is.\n    \nFIELDS:\n  size\t<integer>\n"));
        let missing = render(&doc, &gvk, &["nope".into()], false)
            .err()
            .map(|f| f.message);
        assert_eq!(missing.as_deref(), Some("field \"nope\" does not exist"));
    }
}
