//! The default ServiceAccount in every namespace.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DeleteParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_namespace_gets_a_default_service_account_back() -> anyhow::Result<()> {
    let cl = start().await?;
    let c = &cl.client;
    // Namespaces that exist at start (bootstrap's) get one too.
    let default: Api<ServiceAccount> = Api::namespaced(c.clone(), "default");
    wait_for(30, "default/default", || async {
        Ok(default.get_opt("default").await?.map(|_| ()))
    })
    .await?;

    namespace(c, "team-a").await?;
    let api: Api<ServiceAccount> = Api::namespaced(c.clone(), "team-a");
    let first = wait_for(30, "team-a/default", || async {
        Ok(api.get_opt("default").await?)
    })
    .await?;
    api.delete("default", &DeleteParams::default()).await?;
    let again = wait_for(30, "recreated", || async {
        Ok(api
            .get_opt("default")
            .await?
            .filter(|sa| sa.metadata.uid != first.metadata.uid))
    })
    .await?;
    assert_eq!(again.metadata.name.as_deref(), Some("default"));
    Ok(())
}
