//! A local image registry for end-to-end tests: Debian's `docker-registry` on a free
//! loopback port with its own storage, and pushes done with `curl` (blob uploads and
//! manifests over the distribution API), so the tests need no HTTP client of their own.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `sha256:<hex>` of a file, by `sha256sum`.
pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split_whitespace().next().expect("sha256sum output");
    format!("sha256:{hex}")
}

/// A running registry, stopped on drop.
pub struct Registry {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    /// The network namespace it listens in (and that pushes go through), if not the host's.
    netns: Option<String>,
    /// Basic-auth credentials it demands.
    auth: Option<(String, String)>,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None, None)
    }

    /// A registry on 127.0.0.1 of network namespace `netns` (the host's when `None`),
    /// demanding `auth` (user, password) through an htpasswd file when given.
    pub fn start_with(netns: Option<&str>, auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("rkube-e2e-registry-")
            .tempdir()
            .expect("tempdir");
        // Inside a fresh namespace any port is free; on the host, ask the kernel.
        let port = match netns {
            Some(_) => 5000,
            None => TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port(),
        };
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: e2e\n",
            dir.path().join("storage").display()
        );
        if let Some((user, pass)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{}\n", bcrypt_hash(pass)))
                .expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: rkube-e2e\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = in_netns(netns, "/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            port,
            dir,
            child,
            netns: netns.map(String::from),
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready = if reg.auth.is_some() { "401" } else { "200" };
        while reg.status(&format!("{}/v2/", reg.url())) != ready {
            assert!(Instant::now() < deadline, "registry not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    /// curl in the registry's namespace, with its credentials.
    fn curl(&self) -> Command {
        let mut c = in_netns(self.netns.as_deref(), "curl");
        if let Some((user, pass)) = &self.auth {
            c.args(["-u", &format!("{user}:{pass}")]);
        }
        c
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, the domain of image references to this registry.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn status(&self, url: &str) -> String {
        let out = in_netns(self.netns.as_deref(), "curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Uploads `file` as a blob of `repo`; returns its digest.
    pub fn push_blob(&self, repo: &str, file: &Path) -> String {
        let digest = sha256_file(file);
        let out = self
            .curl()
            .args(["-s", "-f", "-D", "-", "-o", "/dev/null", "-X", "POST"])
            .arg(format!("{}/v2/{repo}/blobs/uploads/", self.url()))
            .output()
            .expect("run curl");
        assert!(out.status.success(), "start upload to {repo}");
        let headers = String::from_utf8_lossy(&out.stdout);
        let location = headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("location")
                    .then(|| v.trim().to_string())
            })
            .expect("upload location");
        let location = if location.starts_with('/') {
            format!("{}{location}", self.url())
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let out = self
            .curl()
            .args([
                "-s",
                "-f",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{location}{sep}digest={digest}"))
            .output()
            .expect("run curl");
        assert!(out.status.success(), "upload {}", file.display());
        digest
    }

    /// Uploads a manifest (`media_type`) under `reference` (a tag or digest).
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, file: &Path) {
        let out = self
            .curl()
            .args(["-s", "-f", "-X", "PUT", "-H"])
            .arg(format!("Content-Type: {media_type}"))
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{}/v2/{repo}/manifests/{reference}", self.url()))
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "put manifest: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// `program` run in network namespace `netns` (directly when `None`).
fn in_netns(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    }
}

/// An htpasswd bcrypt hash (the only kind docker-registry accepts); cost 4 keeps it quick.
fn bcrypt_hash(pass: &str) -> String {
    bcrypt::hash(pass, 4).expect("bcrypt")
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
