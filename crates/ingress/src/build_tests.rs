use super::*;
use serde_json::{json, Value};

fn obj<T: serde::de::DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).unwrap())
}

fn svc(name: &str, ports: Value) -> Arc<Service> {
    obj(json!({"metadata": {"name": name, "namespace": "ns"}, "spec": {"ports": ports}}))
}

fn slice(svc: &str, ports: Value, eps: Value) -> Arc<EndpointSlice> {
    obj(json!({
        "metadata": {"name": format!("{svc}-x"), "namespace": "ns",
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4", "ports": ports, "endpoints": eps,
    }))
}

fn ingress(name: &str, extra: Value, spec: Value) -> Arc<Ingress> {
    let mut meta = json!({"name": name, "namespace": "ns", "uid": format!("uid-{name}")});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            meta[k] = v;
        }
    }
    obj(json!({"metadata": meta, "spec": spec}))
}

fn base() -> Objects {
    Objects {
        services: vec![svc(
            "web",
            json!([{"name": "http", "port": 80, "targetPort": 8080},
                   {"name": "admin", "port": 81}]),
        )],
        slices: vec![slice(
            "web",
            json!([{"name": "http", "port": 8080}, {"name": "admin", "port": 9090}]),
            json!([
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"]},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
            ]),
        )],
        ..Default::default()
    }
}

fn endpoints(b: &Built, host: &str, path: &str) -> Option<Vec<String>> {
    b.table
        .lookup(host, path)
        .map(|r| r.backend.endpoints.iter().map(|e| e.to_string()).collect())
}

#[test]
fn resolves_ports_by_number_and_name_to_ready_endpoints() {
    let mut o = base();
    o.ingresses = vec![ingress(
        "i",
        json!({}),
        json!({"rules": [{"host": "a.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/admin", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"name": "admin"}}}},
            {"path": "/missing", "pathType": "Prefix",
             "backend": {"service": {"name": "web", "port": {"number": 99}}}},
        ]}}]}),
    )];
    let b = build(&o);
    assert_eq!(b.served, vec![("ns".into(), "i".into())]);
    assert_eq!(
        endpoints(&b, "a.com", "/x").unwrap(),
        ["10.0.0.1:8080", "10.0.0.2:8080"]
    );
    assert_eq!(
        endpoints(&b, "a.com", "/admin/y").unwrap(),
        ["10.0.0.1:9090", "10.0.0.2:9090"]
    );
    assert!(endpoints(&b, "a.com", "/missing").unwrap().is_empty());
    assert!(endpoints(&b, "b.com", "/").is_none());
}

#[test]
fn class_selection() {
    let classes = vec![obj::<IngressClass>(
        json!({"metadata": {"name": "mine"}, "spec": {"controller": CONTROLLER}}),
    )];
    let with_class = |c: &str| ingress("i", json!({}), json!({"ingressClassName": c}));
    assert!(is_ours(&ingress("i", json!({}), json!({})), &classes));
    assert!(is_ours(&with_class("rkube"), &classes));
    assert!(is_ours(&with_class("nginx"), &classes));
    assert!(is_ours(&with_class("mine"), &classes));
    assert!(!is_ours(&with_class("traefik"), &classes));
    let ann = |c: &str| {
        ingress(
            "i",
            json!({"annotations": {"kubernetes.io/ingress.class": c}}),
            json!({}),
        )
    };
    assert!(is_ours(&ann("nginx"), &classes));
    assert!(!is_ours(&ann("haproxy"), &classes));
}

#[test]
fn snippets_reject_and_others_still_served() {
    let mut o = base();
    let rule = json!({"rules": [{"host": "a.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]});
    o.ingresses = vec![
        ingress(
            "bad",
            json!({"annotations": {
                "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers x;"}}),
            rule.clone(),
        ),
        ingress("good", json!({}), rule),
    ];
    let b = build(&o);
    assert_eq!(b.served, vec![("ns".into(), "good".into())]);
    assert_eq!(b.rejected.len(), 1);
    assert_eq!(b.rejected[0].name, "bad");
    assert!(b.rejected[0].reason.contains("configuration-snippet"));
    assert_eq!(
        b.table.lookup("a.com", "/").unwrap().ingress.key.as_ref(),
        "ns/good"
    );
}

#[test]
fn oldest_ingress_wins_and_default_backend() {
    let mut o = base();
    let rule = |port: &str| {
        json!({"defaultBackend": {"service": {"name": "web", "port": {"name": "admin"}}},
               "rules": [{"host": "a.com", "http": {"paths": [
                   {"path": "/p", "pathType": "Exact",
                    "backend": {"service": {"name": "web", "port": {"name": port}}}}]}}]})
    };
    o.ingresses = vec![
        ingress(
            "young",
            json!({"creationTimestamp": "2024-02-01T00:00:00Z"}),
            rule("http"),
        ),
        ingress(
            "old",
            json!({"creationTimestamp": "2024-01-01T00:00:00Z"}),
            rule("admin"),
        ),
    ];
    let b = build(&o);
    let r = b.table.lookup("a.com", "/p").unwrap();
    assert_eq!(r.ingress.key.as_ref(), "ns/old");
    assert!(r.backend.name.ends_with(":admin"));
    // Exact does not match the subpath: the host's default backend does.
    assert!(b
        .table
        .lookup("a.com", "/p/q")
        .unwrap()
        .backend
        .name
        .ends_with(":admin"));
    assert!(b.table.lookup("other.com", "/zzz").is_some());
}

#[test]
fn tls_secrets_and_regex_paths() {
    let mut o = base();
    let (c, k) = crate::tls::self_signed_pem(&["a.com"]).unwrap();
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    o.secrets = vec![obj(json!({
        "metadata": {"name": "cert", "namespace": "ns"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(&c), "tls.key": b64(&k)},
    }))];
    o.ingresses = vec![ingress(
        "i",
        json!({"annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}}),
        json!({"tls": [{"hosts": ["a.com"], "secretName": "cert"},
                       {"hosts": ["b.com"], "secretName": "nope"}],
               "rules": [{"host": "a.com", "http": {"paths": [
                   {"path": "/api(/|$)(.*)", "pathType": "ImplementationSpecific",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}),
    )];
    let b = build(&o);
    assert!(b.certs.contains_key("a.com"));
    assert!(!b.certs.contains_key("b.com"));
    assert!(
        b.warnings.iter().any(|w| w.contains("ns/nope")),
        "{:?}",
        b.warnings
    );
    assert!(b.table.host_has_tls("b.com"));
    let r = b.table.lookup("a.com", "/api/v1").unwrap();
    assert_eq!(
        crate::model::rewrite(&r.path, "/$2", "/api/v1").as_deref(),
        Some("/v1")
    );
    o.ingresses = vec![ingress(
        "i",
        json!({"annotations": {"nginx.ingress.kubernetes.io/use-regex": "true"}}),
        json!({"rules": [{"http": {"paths": [{"path": "/(unclosed", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}),
    )];
    let b = build(&o);
    assert!(b.rejected[0].reason.contains("invalid regex"));
}
