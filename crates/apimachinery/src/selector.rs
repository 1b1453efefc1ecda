//! TEMPORARY (replaced by the full selector module): equality-only selectors.
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct LabelSelector(Vec<(String, String, bool)>);
#[derive(Debug, Clone)]
pub struct FieldSelector(Vec<(String, String, bool)>);

fn parse(s: &str) -> Result<Vec<(String, String, bool)>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        if let Some((k, v)) = part.split_once("!=") {
            out.push((k.trim().into(), v.trim().into(), false));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            out.push((k.trim().into(), v.trim().into(), true));
        } else {
            return Err(format!("bad selector {part:?}"));
        }
    }
    Ok(out)
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse(s).map(LabelSelector)
    }
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0
            .iter()
            .all(|(k, v, eq)| (labels.get(k) == Some(v)) == *eq)
    }
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse(s).map(FieldSelector)
    }
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0
            .iter()
            .all(|(k, v, eq)| (get(k).as_deref() == Some(v.as_str())) == *eq)
    }
    pub fn fields(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _, _)| k.as_str()).collect()
    }
    pub fn and(mut self, other: FieldSelector) -> Self {
        self.0.extend(other.0);
        self
    }
}

impl LabelSelector {
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let mut out = Vec::new();
        if let Some(ml) = v.get("matchLabels").and_then(|m| m.as_object()) {
            for (k, val) in ml {
                out.push((k.clone(), val.as_str().unwrap_or("").to_string(), true));
            }
        }
        Ok(LabelSelector(out))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
