//! Following one object as client-go's `UntilWithSync` does for `rollout status` and
//! `wait`: list it by `metadata.name`, then watch from the list's resourceVersion,
//! re-listing after an expired watch and re-watching when the server ends the stream.

use std::collections::VecDeque;
use std::pin::Pin;

use futures::{AsyncBufReadExt, Stream, StreamExt};
use http::Method;
use serde_json::Value;

use crate::ctx::{query_escape, Ctx, JSON};
use crate::error::{Error, Result};
use crate::resource::ResourceType;

/// What happened to the object.
pub enum Event {
    /// Seen in the list, added or modified.
    Upsert(Value),
    Deleted,
}

type Lines = Pin<Box<dyn Stream<Item = std::io::Result<String>> + Send>>;

/// The events of one object, from its list and then its watch.
pub struct Follower<'a> {
    ctx: &'a Ctx,
    collection: String,
    field: String,
    name: String,
    queue: VecDeque<Event>,
    rv: Option<String>,
    lines: Option<Lines>,
}

impl<'a> Follower<'a> {
    pub fn new(ctx: &'a Ctx, rt: &ResourceType, ns: &str, name: &str) -> Self {
        Follower {
            ctx,
            collection: rt.collection_path(Some(ns)),
            field: format!(
                "fieldSelector={}",
                query_escape(&format!("metadata.name={name}"))
            ),
            name: name.to_string(),
            queue: VecDeque::new(),
            rv: None,
            lines: None,
        }
    }

    async fn relist(&mut self) -> Result<()> {
        let list = self
            .ctx
            .get_json(&format!(
                "{}?{}&limit=500&resourceVersion=0",
                self.collection, self.field
            ))
            .await?;
        for it in list["items"].as_array().into_iter().flatten() {
            self.queue.push_back(Event::Upsert(it.clone()));
        }
        self.rv = Some(
            list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        self.lines = None;
        Ok(())
    }

    async fn open(&mut self) -> Result<()> {
        let path = format!(
            "{}?allowWatchBookmarks=true&{}&resourceVersion={}&timeoutSeconds=300&watch=true",
            self.collection,
            self.field,
            self.rv.as_deref().unwrap_or_default()
        );
        let req = http::Request::builder()
            .method(Method::GET)
            .uri(&path)
            .header(http::header::ACCEPT, JSON)
            .body(Vec::new())
            .map_err(|e| Error::client(format!("building the watch of {}: {e}", self.name)))?;
        let stream = self
            .ctx
            .client()
            .request_stream(req)
            .await
            .map_err(|e| Error::client(format!("watching {}: {e}", self.name)))?;
        self.lines = Some(Box::pin(stream.lines()));
        Ok(())
    }

    /// The next event: the listed object first, then each change.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Ok(ev);
            }
            if self.rv.is_none() {
                self.relist().await?;
                continue;
            }
            if self.lines.is_none() {
                self.open().await?;
            }
            let Some(lines) = self.lines.as_mut() else {
                continue;
            };
            let Some(line) = lines.next().await else {
                // The server ended the watch (its timeout): watch again from where we are.
                self.lines = None;
                continue;
            };
            let line = line.map_err(|e| Error::client(format!("watching {}: {e}", self.name)))?;
            let Ok(ev) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let obj = ev["object"].clone();
            let kind = ev["type"].as_str().unwrap_or_default();
            if kind == "ERROR" {
                // Typically 410 Gone: the resourceVersion is too old; start over.
                self.rv = None;
                continue;
            }
            if let Some(v) = obj["metadata"]["resourceVersion"].as_str() {
                self.rv = Some(v.to_string());
            }
            match kind {
                "ADDED" | "MODIFIED" => return Ok(Event::Upsert(obj)),
                "DELETED" => return Ok(Event::Deleted),
                _ => {}
            }
        }
    }
}
