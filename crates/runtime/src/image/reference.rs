//! Image references, parsed and normalised as Docker (`distribution/reference`'s
//! `ParseNormalizedNamed` + `TagNameOnly`) does: `busybox` is
//! `docker.io/library/busybox:latest`, `index.docker.io/x/y` is `docker.io/x/y:latest`,
//! `localhost:5000/a@sha256:…` keeps its domain and has no tag.

use std::fmt;
use std::str::FromStr;

use super::digest::Digest;
use super::error::{ImageError, Result};

/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised image reference: domain, repository path, and a tag and/or digest (a
/// reference without either gets the tag `latest`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference as Docker does.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |reason: &str| ImageError::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("cannot specify 64-byte hexadecimal strings"));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find([':', '@']) {
            Some(i) => &remainder[..i],
            None => &remainder[..],
        };
        if remote.to_lowercase() != remote {
            return Err(bad("repository name must be lowercase"));
        }

        let (name_tag, digest) = match remainder.split_once('@') {
            Some((n, d)) => {
                if !is_digest_syntax(d) {
                    return Err(bad("invalid digest"));
                }
                (n, Some(Digest::parse(d).map_err(|e| bad(&e.to_string()))?))
            }
            None => (&remainder[..], None),
        };
        let (path, tag) = match name_tag.rfind(':') {
            Some(i) if !name_tag[i..].contains('/') => {
                (&name_tag[..i], Some(name_tag[i + 1..].to_string()))
            }
            _ => (name_tag, None),
        };
        if !is_domain(&domain) {
            return Err(bad("invalid domain"));
        }
        if path.is_empty() || !path.split('/').all(is_path_component) {
            return Err(bad("invalid repository name"));
        }
        if let Some(t) = &tag {
            if !is_tag(t) {
                return Err(bad("invalid tag"));
            }
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(bad("repository name too long"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(Reference {
            domain,
            path: path.to_string(),
            tag,
            digest,
        })
    }

    /// Why `s` is not a valid reference, worded as Docker's reference parser
    /// (`ParseNormalizedNamed`) words it, which is what the kubelet reports; `None` when it
    /// parses.
    pub fn docker_parse_error(s: &str) -> Option<String> {
        let Err(ImageError::InvalidReference { reason, .. }) = Reference::parse(s) else {
            return None;
        };
        Some(match reason.as_str() {
            "empty reference" => "repository name must have at least one component".into(),
            "cannot specify 64-byte hexadecimal strings" => {
                format!("invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
            }
            "repository name must be lowercase" => {
                let (_, remainder) = split_docker_domain(s);
                let remote = remainder.split(':').next().unwrap_or_default();
                format!("invalid reference format: repository name ({remote}) must be lowercase")
            }
            "repository name too long" => {
                format!("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
            }
            _ => "invalid reference format".into(),
        })
    }

    /// The registry's domain (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `domain/path:tag` when there is a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// `domain/path@digest`: the name of this repository's manifest `digest`.
    pub fn digested_name(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.name())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Reference {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

/// `splitDockerDomain`: the first component is a domain when it contains `.` or `:`, is
/// `localhost`, or has upper-case letters.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            if !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
            {
                (DOCKER_HUB.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if domain == LEGACY_DOCKER_HUB {
        domain = DOCKER_HUB.to_string();
    }
    if domain == DOCKER_HUB && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__`, or a run of `-`.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !is_alnum_lower(b[i]) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// host (domain name, IPv4, or `[IPv6]`) with an optional `:port`.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if d.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
fn is_digest_syntax(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|p| {
        let b = p.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("rancher/k3s:v1"), "docker.io/rancher/k3s:v1");
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("quay.io/coreos/etcd"), "quay.io/coreos/etcd:latest");
        assert_eq!(norm("localhost/foo"), "localhost/foo:latest");
        assert_eq!(norm("localhost:5000/foo/bar:t"), "localhost:5000/foo/bar:t");
        assert_eq!(norm("127.0.0.1:5000/foo"), "127.0.0.1:5000/foo:latest");
        assert_eq!(norm("[::1]:5000/foo"), "[::1]:5000/foo:latest");
        assert_eq!(
            norm(&format!("busybox@{D}")),
            format!("docker.io/library/busybox@{D}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{D}")),
            format!("docker.io/library/busybox:1@{D}")
        );
        // A first component with upper case is a domain.
        assert_eq!(norm("Foo/bar"), "Foo/bar:latest");
        // `test.com:tag` on Docker Hub: `test.com` is a repository, `tag` a tag.
        assert_eq!(norm("test.com:tag"), "docker.io/library/test.com:tag");
        assert_eq!(
            norm("foo/foo_bar.com:8080"),
            "docker.io/foo/foo_bar.com:8080"
        );
        assert_eq!(
            norm("a/b__c/d-e---f.g"),
            "docker.io/a/b__c/d-e---f.g:latest"
        );
    }

    #[test]
    fn accessors() {
        let r = Reference::parse("localhost:5000/a/b:t").unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "a/b");
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.name(), "localhost:5000/a/b");
        assert_eq!(r.tagged_name().as_deref(), Some("localhost:5000/a/b:t"));
        let r = Reference::parse(&format!("a@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
    }

    #[test]
    fn rejects_invalid() {
        for s in [
            "",
            "Busybox",
            "busybox:",
            "busybox@",
            "busybox@sha256:abc",
            "-busybox",
            "busybox-",
            "a//b",
            "a/b/",
            "a___b",
            "a..b",
            "busybox:-tag",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "host:port:5000/a",
            "exa mple.com/a",
            "-example.com/a",
            "[zz]:5000/a",
        ] {
            assert!(Reference::parse(s).is_err(), "{s:?} should be invalid");
        }
        let long = format!("a/{}", "b".repeat(260));
        assert!(Reference::parse(&long).is_err());
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
    }

    #[test]
    fn parse_errors_in_dockers_words() {
        let e = |s: &str| Reference::docker_parse_error(s);
        assert_eq!(e("busybox:1"), None);
        assert_eq!(e("bad::ref").as_deref(), Some("invalid reference format"));
        assert_eq!(
            e("busyBOX").as_deref(),
            Some("invalid reference format: repository name (library/busyBOX) must be lowercase")
        );
        assert_eq!(
            e("hfhugs/Gemma-GGUF:Q4_K").as_deref(),
            Some("invalid reference format: repository name (hfhugs/Gemma-GGUF) must be lowercase")
        );
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            e(hex),
            Some(format!(
                "invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings"
            ))
        );
    }
}
