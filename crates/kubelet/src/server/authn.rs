//! Who may call the kubelet. Upstream's kubelet asks the API server (SubjectAccessReview on
//! `nodes/proxy`, `nodes/stats`, …) and only the API server's kubelet-client identity and
//! cluster admins are granted that; here the same rule is applied locally to the verified
//! client certificate, so a node (or anyone else with a cluster-CA certificate) gets 403.

use rkube_apimachinery::user::UserInfo;
use rustls::pki_types::CertificateDer;

/// The API server's identity towards kubelets.
pub const APISERVER_KUBELET_CLIENT: &str = "kube-apiserver-kubelet-client";
const MASTERS: &str = "system:masters";

/// The caller of a verified TLS connection; `None` without a parseable certificate.
pub fn caller(certs: Option<&[CertificateDer<'_>]>) -> Option<UserInfo> {
    UserInfo::from_client_cert(certs?.first()?.as_ref())
}

/// Whether `caller` may use the kubelet API.
pub fn allowed(caller: &UserInfo) -> bool {
    caller.name == APISERVER_KUBELET_CLIENT || caller.in_group(MASTERS)
}

/// Upstream's refusal text: `Forbidden (user=…, verb=get, resource=nodes, subresource=proxy)`.
pub fn forbidden(user: &str, method: &http::Method, path: &str) -> String {
    let verb = match *method {
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "get",
    };
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let sub = match first {
        "stats" => "stats",
        "metrics" => "metrics",
        "logs" => "log",
        "spec" => "spec",
        _ => "proxy",
    };
    format!("Forbidden (user={user}, verb={verb}, resource=nodes, subresource={sub})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(user: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn only_the_api_server_and_admins_may_call() {
        assert!(allowed(&who(APISERVER_KUBELET_CLIENT, &[])));
        assert!(allowed(&who("admin", &["system:masters"])));
        assert!(!allowed(&who("system:node:node-a", &["system:nodes"])));
        assert!(!allowed(&who("alice", &["system:authenticated"])));
    }

    #[test]
    fn refusal_names_verb_and_subresource() {
        assert_eq!(
            forbidden("system:node:a", &http::Method::POST, "/exec/default/p/c"),
            "Forbidden (user=system:node:a, verb=create, resource=nodes, subresource=proxy)"
        );
        assert_eq!(
            forbidden("system:node:a", &http::Method::GET, "/stats/summary"),
            "Forbidden (user=system:node:a, verb=get, resource=nodes, subresource=stats)"
        );
    }

    #[test]
    fn caller_from_a_certificate() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "system:node:node-a");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "system:nodes");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let der = CertificateDer::from(cert.der().to_vec());
        assert_eq!(
            caller(Some(&[der])),
            Some(who("system:node:node-a", &["system:nodes"]))
        );
        assert_eq!(caller(None), None);
    }
}
