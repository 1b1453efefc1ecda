//! The structured-merge-diff `Updater`: compares, merges and prunes typed objects while
//! moving field ownership between managers.

use crate::ssa::error::{ApplyError, Conflict};
use crate::ssa::managed::{Managed, ManagerId, VersionedSet};
use crate::ssa::schema::TypeRef;
use crate::ssa::set::FieldSet;
use crate::ssa::typed::Typed;
use crate::ssa::value::equals;
use serde_json::Value;

/// The structured-merge-diff `Updater`, bound to one request.
pub(crate) struct Engine<'a> {
    pub(crate) typed: Typed<'a>,
    pub(crate) ty: TypeRef,
    pub(crate) version: String,
    pub(crate) ignored: FieldSet,
}

impl Engine<'_> {
    /// Compares live and new, takes changed fields away from other managers (or reports
    /// them as conflicts), and drops removed fields from everybody.
    pub(crate) fn update(
        &self,
        live: &Value,
        new: &Value,
        managers: &mut Managed,
        workflow: &ManagerId,
        force: bool,
    ) -> Result<crate::ssa::typed::Comparison, ApplyError> {
        let mut cmp = self
            .typed
            .compare(&self.ty, live, new)
            .map_err(|e| ApplyError::Invalid(format!("failed to compare objects: {e}")))?;
        cmp.exclude(&self.ignored);
        let changed = cmp.modified.union(&cmp.added);
        let mut conflicts: Vec<(ManagerId, FieldSet)> = Vec::new();
        for (id, vs) in &managers.fields {
            if id == workflow {
                continue;
            }
            let c = vs.set.intersection(&changed);
            if !c.is_empty() {
                conflicts.push((id.clone(), c));
            }
        }
        if !force && !conflicts.is_empty() {
            let mut list = Vec::new();
            for (id, set) in &conflicts {
                for p in set.paths() {
                    list.push(Conflict::new(id, p));
                }
            }
            return Err(ApplyError::Conflicts(list));
        }
        for (id, c) in &conflicts {
            if let Some(vs) = managers.fields.get_mut(id) {
                vs.set = vs.set.difference(c);
            }
        }
        if !cmp.removed.is_empty() {
            for (id, vs) in managers.fields.iter_mut() {
                if id != workflow {
                    vs.set = vs.set.difference(&cmp.removed);
                }
            }
        }
        managers.fields.retain(|_, vs| !vs.set.is_empty());
        Ok(cmp)
    }

    /// Upstream `Updater.Update`: the workflow manager gains what changed.
    pub(crate) fn record(
        &self,
        live: &Value,
        new: &Value,
        managers: &mut Managed,
        workflow: &ManagerId,
    ) -> Result<(), ApplyError> {
        let cmp = self.update(live, new, managers, workflow, true)?;
        let prev = managers
            .fields
            .get(workflow)
            .map(|vs| vs.set.clone())
            .unwrap_or_default();
        let set = prev
            .difference(&cmp.removed)
            .union(&cmp.modified)
            .union(&cmp.added)
            .recursive_difference(&self.ignored);
        if set.is_empty() {
            managers.fields.remove(workflow);
        } else {
            managers.fields.insert(
                workflow.clone(),
                VersionedSet {
                    set,
                    api_version: self.version.clone(),
                    applied: false,
                },
            );
        }
        Ok(())
    }

    /// Upstream `Updater.Apply`: merge, record the applier's set, prune what it stopped
    /// applying, settle ownership. Returns `None` when the object is unchanged.
    pub(crate) fn apply(
        &self,
        live: &Value,
        config: &Value,
        managers: &mut Managed,
        id: &ManagerId,
        force: bool,
    ) -> Result<Option<Value>, ApplyError> {
        let merged = self
            .typed
            .merge(&self.ty, live, config)
            .map_err(|e| ApplyError::Invalid(format!("failed to merge config: {e}")))?;
        let last = managers.fields.get(id).map(|vs| vs.set.clone());
        let set = self
            .typed
            .to_field_set(&self.ty, config)
            .recursive_difference(&self.ignored);
        managers.fields.insert(
            id.clone(),
            VersionedSet {
                set,
                api_version: self.version.clone(),
                applied: true,
            },
        );
        let new = self.prune(merged, managers, last.as_ref());
        self.update(live, &new, managers, id, force)?;
        if equals(live, &new) {
            Ok(None)
        } else {
            Ok(Some(new))
        }
    }

    fn named(&self, s: &FieldSet) -> FieldSet {
        self.typed
            .ensure_named_fields_are_members(s, Some(&self.ty))
    }

    /// Removes what the applier owned last time, no longer applies, and nobody else
    /// owns.
    fn prune(&self, merged: Value, managers: &Managed, last: Option<&FieldSet>) -> Value {
        let Some(last) = last.filter(|l| !l.is_empty()) else {
            return merged;
        };
        let t = &self.typed;
        let pruned = t.remove_items(&self.ty, &merged, &self.named(last));
        // Add back everything someone (including the applier's new set) still owns.
        let mut owned = FieldSet::new();
        for vs in managers.fields.values() {
            owned = owned.union(&vs.set);
        }
        let merged_set = self.named(&t.to_field_set(&self.ty, &merged));
        let pruned_set = self.named(&t.to_field_set(&self.ty, &pruned));
        let pruned = t.remove_items(
            &self.ty,
            &merged,
            &merged_set.difference(&pruned_set.union(&self.named(&owned))),
        );
        // Only remove items the applier did own: unowned or updater-owned fields stay.
        let pruned_set = self.named(&t.to_field_set(&self.ty, &pruned));
        t.remove_items(
            &self.ty,
            &merged,
            &merged_set
                .difference(&pruned_set)
                .intersection(&self.named(last)),
        )
    }
}
