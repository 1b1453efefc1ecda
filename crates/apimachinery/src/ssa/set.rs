//! Field sets: what a manager owns, what an operation changed.
//!
//! The representation mirrors upstream's trie: `members` are path elements that are in
//! the set at this level, `children` hold deeper paths. A node can be both a member and
//! have children (an associative-list item is owned as a whole *and* field by field),
//! which is exactly what the `"."` marker in FieldsV1 records.
//!
//! Invariant kept by every operation here: no child set is empty, so structural
//! equality is set equality and serialization never emits ambiguous `{}` children.

use crate::ssa::path::{Path, PathElement};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    pub(crate) members: BTreeSet<PathElement>,
    pub(crate) children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from paths.
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a [PathElement]>) -> Self {
        let mut s = Self::new();
        for p in paths {
            s.insert(p);
        }
        s
    }

    /// Adds a path. Parents are *not* added: owning `.spec.replicas` does not mean
    /// owning `.spec`. The empty path is ignored because nobody owns the whole object.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the exact path is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// True if no path is a member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Number of member paths.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// Paths present in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            match out.children.get_mut(pe) {
                Some(mine) => *mine = mine.union(child),
                None => {
                    if !child.is_empty() {
                        out.children.insert(pe.clone(), child.clone());
                    }
                }
            }
        }
        out
    }

    /// Paths present in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let i = child.intersection(theirs);
                if !i.is_empty() {
                    children.insert(pe.clone(), i);
                }
            }
        }
        FieldSet { members, children }
    }

    /// Paths of `self` that are not in `other`. This is a leaf-wise difference: removing
    /// a parent path does not remove its children (use
    /// [`FieldSet::recursive_difference`] for that).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            let d = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !d.is_empty() {
                children.insert(pe.clone(), d);
            }
        }
        FieldSet { members, children }
    }

    /// Like [`FieldSet::difference`], but a member of `other` also removes everything
    /// below it. Used to drop ignored subtrees such as `.status`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let d = match other.children.get(pe) {
                Some(theirs) => child.recursive_difference(theirs),
                None => child.clone(),
            };
            if !d.is_empty() {
                children.insert(pe.clone(), d);
            }
        }
        FieldSet { members, children }
    }

    /// Only the leaves: members that do not also have children.
    pub fn leaves(&self) -> FieldSet {
        let members = self
            .members
            .iter()
            .filter(|m| !self.children.contains_key(*m))
            .cloned()
            .collect();
        let children = self
            .children
            .iter()
            .map(|(pe, c)| (pe.clone(), c.leaves()))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        FieldSet { members, children }
    }

    /// The subset below `pe`, without the prefix.
    pub fn with_prefix(&self, pe: &PathElement) -> FieldSet {
        self.children.get(pe).cloned().unwrap_or_default()
    }

    /// Borrowing variant of [`FieldSet::with_prefix`].
    pub(crate) fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// All member paths in upstream's pre-order: this level's members first, then each
    /// child subtree in order. Conflict lists are reported in this order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(Path(p));
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }
}

/// One path per line, like upstream's `Set.String()`.
impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.paths().iter().map(Path::to_string).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(names: &[&str]) -> Vec<PathElement> {
        names.iter().map(|n| PathElement::field(*n)).collect()
    }

    #[test]
    fn set_algebra() {
        let a = FieldSet::from_paths([
            p(&["a", "b"]).as_slice(),
            p(&["a", "c"]).as_slice(),
            p(&["d"]).as_slice(),
        ]);
        let b = FieldSet::from_paths([p(&["a", "b"]).as_slice(), p(&["e"]).as_slice()]);
        let u = a.union(&b);
        assert_eq!(u.len(), 4);
        assert!(u.has(&p(&["e"])));
        let i = a.intersection(&b);
        assert_eq!(i.paths(), vec![Path(p(&["a", "b"]))]);
        let d = a.difference(&b);
        assert_eq!(d.len(), 2);
        assert!(!d.has(&p(&["a", "b"])));
        // A parent member does not remove children in a plain difference...
        let parent = FieldSet::from_paths([p(&["a"]).as_slice()]);
        assert_eq!(a.difference(&parent).len(), 3);
        // ...but does in a recursive one.
        assert_eq!(
            a.recursive_difference(&parent).paths(),
            vec![Path(p(&["d"]))]
        );
        assert!(a.difference(&a).is_empty());
        assert_eq!(a.difference(&a), FieldSet::new());
    }

    #[test]
    fn leaves_and_order() {
        let k = PathElement::key([("name", json!("x"))]);
        let mut s = FieldSet::new();
        s.insert(&[PathElement::field("c"), k.clone()]);
        s.insert(&[
            PathElement::field("c"),
            k.clone(),
            PathElement::field("image"),
        ]);
        s.insert(&[PathElement::field("a")]);
        let strs: Vec<String> = s.paths().iter().map(|p| p.to_string()).collect();
        assert_eq!(strs, vec![".a", r#".c[name="x"]"#, r#".c[name="x"].image"#]);
        assert_eq!(s.leaves().len(), 2);
    }
}
