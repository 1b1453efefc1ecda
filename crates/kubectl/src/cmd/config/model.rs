//! The kubeconfig as clientcmd's v1 types serialise it: field names, which fields are
//! left out when empty and which are written even then (`user: ""`, `args: null`), so
//! that files rkube rewrites and `config view` read exactly as kubectl writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

fn is_false(b: &bool) -> bool {
    !*b
}

/// Lists that Go leaves nil when empty are written as `null`.
fn null_if_empty<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedExtension {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub extension: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    #[serde(skip_serializing_if = "is_false")]
    pub colors: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Cluster {
    pub server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tls_server_name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub insecure_skip_tls_verify: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub certificate_authority: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub certificate_authority_data: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_url: String,
    #[serde(skip_serializing_if = "is_false")]
    pub disable_compression: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthProvider {
    pub name: String,
    pub config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecEnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Exec {
    pub command: String,
    pub args: Option<Vec<String>>,
    pub env: Option<Vec<ExecEnvVar>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub install_hint: String,
    pub provide_cluster_info: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interactive_mode: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthInfo {
    #[serde(
        rename = "client-certificate",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_certificate: String,
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_certificate_data: String,
    #[serde(rename = "client-key", skip_serializing_if = "String::is_empty")]
    pub client_key: String,
    #[serde(rename = "client-key-data", skip_serializing_if = "String::is_empty")]
    pub client_key_data: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
    #[serde(rename = "tokenFile", skip_serializing_if = "String::is_empty")]
    pub token_file: String,
    #[serde(rename = "as", skip_serializing_if = "String::is_empty")]
    pub impersonate: String,
    #[serde(rename = "as-uid", skip_serializing_if = "String::is_empty")]
    pub impersonate_uid: String,
    #[serde(rename = "as-groups", skip_serializing_if = "Vec::is_empty")]
    pub impersonate_groups: Vec<String>,
    #[serde(rename = "as-user-extra", skip_serializing_if = "BTreeMap::is_empty")]
    pub impersonate_user_extra: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(rename = "auth-provider", skip_serializing_if = "Option::is_none")]
    pub auth_provider: Option<AuthProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<Exec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    pub cluster: String,
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub cluster: Cluster,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedAuthInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub user: AuthInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub context: Context,
}

/// One kubeconfig document (`v1.Config`), in kubectl's field order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    pub preferences: Preferences,
    #[serde(serialize_with = "null_if_empty", deserialize_with = "nullable")]
    pub clusters: Vec<NamedCluster>,
    #[serde(serialize_with = "null_if_empty", deserialize_with = "nullable")]
    pub users: Vec<NamedAuthInfo>,
    #[serde(serialize_with = "null_if_empty", deserialize_with = "nullable")]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context")]
    pub current_context: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

/// `clusters: null` reads as an empty list.
fn nullable<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl Config {
    /// Applies clientcmd's defaults on load and puts every list in name order, as
    /// kubectl's conversion from its internal maps does.
    pub fn normalize(&mut self) {
        self.kind = "Config".into();
        self.api_version = "v1".into();
        self.clusters.sort_by(|a, b| a.name.cmp(&b.name));
        self.clusters.dedup_by(|b, a| a.name == b.name);
        self.users.sort_by(|a, b| a.name.cmp(&b.name));
        self.users.dedup_by(|b, a| a.name == b.name);
        self.contexts.sort_by(|a, b| a.name.cmp(&b.name));
        self.contexts.dedup_by(|b, a| a.name == b.name);
        for u in &mut self.users {
            if let Some(e) = &mut u.user.exec {
                if e.interactive_mode.is_empty()
                    && matches!(
                        e.api_version.as_str(),
                        "client.authentication.k8s.io/v1beta1"
                            | "client.authentication.k8s.io/v1alpha1"
                    )
                {
                    e.interactive_mode = "IfAvailable".into();
                }
            }
        }
    }

    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.context)
    }

    /// Hides credentials as `config view` does without `--raw`.
    pub fn redact(&mut self) {
        const OMITTED: &str = "DATA+OMITTED";
        const REDACTED: &str = "REDACTED";
        let omit = |s: &mut String| {
            if !s.is_empty() {
                *s = OMITTED.into();
            }
        };
        for c in &mut self.clusters {
            omit(&mut c.cluster.certificate_authority_data);
        }
        for u in &mut self.users {
            omit(&mut u.user.client_certificate_data);
            omit(&mut u.user.client_key_data);
            for s in [&mut u.user.token, &mut u.user.password] {
                if !s.is_empty() {
                    *s = REDACTED.into();
                }
            }
        }
    }
}
