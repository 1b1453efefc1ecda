//! The resource types controllers act on, from API discovery (refreshed as CRDs come and go).

use kube::discovery::{verbs, ApiCapabilities, ApiResource, Discovery, Scope};
use kube::Client;

/// A resource type the cluster serves.
#[derive(Clone, Debug)]
pub struct Served {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub caps: ApiCapabilities,
}

impl Served {
    pub fn supports(&self, verb: &str) -> bool {
        self.caps.supports_operation(verb)
    }
}

/// Every listable resource type, preferred version only.
pub async fn served(client: &Client) -> Result<Vec<Served>, kube::Error> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::LIST) || !caps.supports_operation(verbs::WATCH) {
                continue;
            }
            out.push(Served {
                namespaced: caps.scope == Scope::Namespaced,
                resource: ar,
                caps,
            });
        }
    }
    Ok(out)
}
