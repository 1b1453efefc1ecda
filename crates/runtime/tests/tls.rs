//! HTTPS registries and `registries.yaml`'s TLS settings: a docker-registry serving TLS
//! with a certificate from a private CA (made by `openssl`) is refused by default, and
//! reachable with `insecure_skip_verify` or with the CA as `ca_file`.

mod common;

use std::process::Command;

use common::*;
use rkube_runtime::image::{ImageError, ImageService, ImageServiceConfig, Platform};

fn service(dir: &std::path::Path) -> ImageService {
    let mut cfg = ImageServiceConfig::new(dir);
    cfg.platform = Platform::linux_amd64();
    ImageService::with_config(cfg).unwrap()
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a certificate it issued for 127.0.0.1; returns (CA cert, server
/// cert, server key) paths.
fn certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=rkube test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        dir,
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
        dir,
    );
    (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_with_insecure_skip_verify_or_ca_file() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(certs.path());
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        cert.display(),
        key.display()
    );
    // Appended under `http:` (the last section of the generated configuration).
    let reg = Registry::start_https(&tls).await;
    let img = TestImage::oci(vec![busybox_layer()], "amd64");
    reg.push_image("secure/busybox", "1", &img).await;

    // The image's registry is a name that does not resolve; a mirror endpoint points at the
    // HTTPS registry (127.0.0.1 would default to plain HTTP).
    let mirror = |extra: &str| {
        format!(
            "mirrors:\n  registry.invalid:\n    endpoint: [\"https://{}\"]\n    rewrite:\n      \"^(.*)$\": \"secure/$1\"\n{extra}",
            reg.host()
        )
    };
    let reference = "registry.invalid/busybox:1";

    // Untrusted certificate: refused.
    let data = data_dir();
    std::fs::write(data.path().join("registries.yaml"), mirror("")).unwrap();
    let e = service(data.path())
        .pull_image(reference, None)
        .await
        .unwrap_err();
    eprintln!("untrusted: {e}");
    assert!(matches!(e, ImageError::Registry { .. }), "{e}");
    // The mirror's failure is the one reported, not the unreachable default endpoint's.
    assert!(e.to_string().contains("certificate"), "{e}");

    // insecure_skip_verify.
    let data = data_dir();
    std::fs::write(
        data.path().join("registries.yaml"),
        mirror(&format!(
            "configs:\n  \"{}\":\n    tls:\n      insecure_skip_verify: true\n",
            reg.host()
        )),
    )
    .unwrap();
    let svc = service(data.path());
    assert_eq!(svc.pull_image(reference, None).await.unwrap(), img.id());

    // The issuing CA as a trusted CA.
    let data = data_dir();
    std::fs::write(
        data.path().join("registries.yaml"),
        mirror(&format!(
            "configs:\n  \"{}\":\n    tls:\n      ca_file: {}\n",
            reg.host(),
            ca.display()
        )),
    )
    .unwrap();
    let svc = service(data.path());
    assert_eq!(svc.pull_image(reference, None).await.unwrap(), img.id());
    let i = svc.image_status(reference).await.unwrap().unwrap();
    assert_eq!(i.repo_tags, vec!["registry.invalid/busybox:1"]);
}
