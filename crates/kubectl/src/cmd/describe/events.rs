//! The Events section: kubectl searches core/v1 events with a field selector on the
//! involved object and prints them oldest first with "Xs (xN over Ys)" ages.

use serde_json::Value;

use super::util::{age, i, s};
use super::writer::{wr, Out};
use crate::ctx::{query_escape, Ctx};
use crate::error::Result;

/// What an event must be about (`involvedObject`); `None` leaves the term out.
pub struct EventRef<'a> {
    pub kind: Option<&'a str>,
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: Option<&'a str>,
}

impl<'a> EventRef<'a> {
    /// The reference kubectl builds from an object (`reference.GetReference`).
    pub fn of(obj: &'a Value) -> Self {
        let uid = s(&obj["metadata"]["uid"]);
        let kind = s(&obj["kind"]);
        EventRef {
            kind: (!kind.is_empty()).then_some(kind),
            name: s(&obj["metadata"]["name"]),
            namespace: s(&obj["metadata"]["namespace"]),
            uid: (!uid.is_empty()).then_some(uid),
        }
    }

    /// The field selector as client-go's `GetFieldSelector` writes it (keys sorted).
    fn field_selector(&self) -> String {
        use rkube_apimachinery::selector::escape_field_value as esc;
        let mut terms = Vec::new();
        if let Some(k) = self.kind {
            terms.push(format!("involvedObject.kind={}", esc(k)));
        }
        terms.push(format!("involvedObject.name={}", esc(self.name)));
        terms.push(format!("involvedObject.namespace={}", esc(self.namespace)));
        if let Some(u) = self.uid {
            terms.push(format!("involvedObject.uid={}", esc(u)));
        }
        terms.join(",")
    }
}

/// Lists the events about `r`, following `continue` tokens in chunks of `chunk`.
pub async fn search(ctx: &Ctx, r: &EventRef<'_>, chunk: i64) -> Result<Vec<Value>> {
    let base = if r.namespace.is_empty() {
        "/api/v1/events".to_string()
    } else {
        format!("/api/v1/namespaces/{}/events", r.namespace)
    };
    list_all(
        ctx,
        &base,
        &format!("fieldSelector={}", query_escape(&r.field_selector())),
        chunk,
    )
    .await
}

/// GETs a collection with `query` (already escaped), following `continue` tokens.
pub async fn list_all(ctx: &Ctx, path: &str, query: &str, chunk: i64) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cont = String::new();
    loop {
        let mut q: Vec<String> = Vec::new();
        if !query.is_empty() {
            q.push(query.to_string());
        }
        if chunk > 0 {
            q.push(format!("limit={chunk}"));
        }
        if !cont.is_empty() {
            q.push(format!("continue={}", query_escape(&cont)));
        }
        let url = if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", q.join("&"))
        };
        let mut list = ctx.get_json(&url).await?;
        if let Some(Value::Array(a)) = list.get_mut("items").map(Value::take) {
            items.extend(a);
        }
        cont = s(&list["metadata"]["continue"]).to_string();
        if cont.is_empty() {
            return Ok(items);
        }
    }
}

fn timestamp(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str().and_then(|t| t.parse().ok())
}

/// `DescribeEvents`.
pub fn describe(events: &[Value], w: &mut Out) {
    if events.is_empty() {
        w.write(0, "Events:\t<none>\n");
        return;
    }
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|e| timestamp(&e["lastTimestamp"]));
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.write(1, "----\t------\t----\t----\t-------\n");
    for e in sorted {
        let first = if timestamp(&e["eventTime"]).is_some() {
            age(&e["eventTime"])
        } else {
            age(&e["firstTimestamp"])
        };
        let interval = if e["series"].is_object() {
            format!(
                "{} (x{} over {first})",
                age(&e["series"]["lastObservedTime"]),
                i(&e["series"]["count"])
            )
        } else if i(&e["count"]) > 1 {
            format!(
                "{} (x{} over {first})",
                age(&e["lastTimestamp"]),
                i(&e["count"])
            )
        } else {
            first
        };
        let mut source = s(&e["source"]["component"]);
        if source.is_empty() {
            source = s(&e["reportingComponent"]);
        }
        wr!(
            w,
            1,
            "{}\t{}\t{}\t{}\t{}\n",
            s(&e["type"]),
            s(&e["reason"]),
            interval,
            source,
            s(&e["message"]).trim()
        );
    }
}

/// Ends a description: the Events section when events are shown, then the text.
pub fn finish(mut w: Out, events: Option<&[Value]>) -> String {
    if let Some(evs) = events {
        describe(evs, &mut w);
    }
    w.finish()
}

/// Merges event lists (a node's events by uid and by name).
pub fn merged(mut a: Vec<Value>, b: Vec<Value>) -> Vec<Value> {
    a.extend(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_and_table() {
        let pod = json!({"metadata": {"name": "web", "namespace": "prod", "uid": "u1"}});
        let mut r = EventRef::of(&pod);
        assert_eq!(
            r.field_selector(),
            "involvedObject.name=web,involvedObject.namespace=prod,involvedObject.uid=u1"
        );
        r.kind = Some("Deployment");
        assert!(r
            .field_selector()
            .starts_with("involvedObject.kind=Deployment,"));
        let mut w = Out::new();
        describe(&[], &mut w);
        assert_eq!(w.finish(), "Events:  <none>\n");
        let now = jiff::Timestamp::now().to_string();
        let evs = vec![
            json!({"type": "Normal", "reason": "Pulled", "count": 3, "firstTimestamp": now, "lastTimestamp": now, "source": {"component": "kubelet"}, "message": " done \n"}),
        ];
        let mut w = Out::new();
        describe(&evs, &mut w);
        let out = w.finish();
        assert!(
            out.contains("Normal  Pulled  0s (x3 over 0s)  kubelet  done\n"),
            "{out}"
        );
        assert_eq!(merged(evs.clone(), evs).len(), 2);
    }
}
