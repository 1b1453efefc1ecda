//! OCI and Docker v2 manifests, indexes (manifest lists) and image configurations: the parts
//! of them the runtime uses, parsed leniently (unknown fields ignored) but checked for what
//! matters (schema version, digests, that layers match the configuration's diff ids).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::digest::{Digest, Hasher};
use super::error::{ImageError, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
#[cfg(test)]
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The manifest media types we ask registries for.
pub const ACCEPTED_MANIFEST_TYPES: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Manifests and configurations larger than this are refused rather than parsed.
pub const MAX_METADATA_SIZE: u64 = 16 << 20;

/// A content descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An OS/architecture pair (with optional variant).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// linux and the architecture this binary was built for, in OCI's spelling.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: None,
        }
    }

    /// linux/amd64.
    pub fn linux_amd64() -> Platform {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI, or Docker schema 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Either kind of top-level document.
#[derive(Debug, Clone)]
pub enum Parsed {
    Manifest(Manifest),
    Index(Index),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// Parses a manifest or index. `what` names it in errors; `content_type` is the type the
/// server or the referring descriptor announced, used when the document does not say.
pub fn parse(what: &str, content_type: Option<&str>, data: &[u8]) -> Result<Parsed> {
    let bad = |reason: String| ImageError::BadManifest {
        what: what.to_string(),
        reason,
    };
    let probe: Probe =
        serde_json::from_slice(data).map_err(|e| bad(format!("not a JSON manifest: {e}")))?;
    let media_type = probe
        .media_type
        .clone()
        .or_else(|| content_type.map(str::to_string))
        .filter(|m| !m.is_empty());
    if matches!(
        media_type.as_deref(),
        Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)
    ) || probe.schema_version == Some(1)
    {
        return Err(bad(
            "Docker schema 1 manifests are not supported (deprecated since 2017); \
             re-push the image with a current client"
                .into(),
        ));
    }
    if probe.schema_version != Some(2) {
        return Err(bad(format!(
            "unsupported schemaVersion {:?}",
            probe.schema_version
        )));
    }
    let is_index = match media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) if probe.manifests.is_none() && probe.config.is_none() => {
            return Err(bad(format!("unsupported media type {other}")))
        }
        _ => probe.manifests.is_some() && probe.config.is_none(),
    };
    if is_index {
        let index: Index = serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
        Ok(Parsed::Index(index))
    } else {
        let manifest: Manifest = serde_json::from_slice(data).map_err(|e| bad(e.to_string()))?;
        for l in &manifest.layers {
            if LayerKind::of(&l.media_type).is_none() {
                return Err(bad(format!(
                    "layer {} has unsupported media type {:?}",
                    l.digest, l.media_type
                )));
            }
        }
        Ok(Parsed::Manifest(manifest))
    }
}

/// What a layer's media type says about its compression (the unpacker also sniffs the
/// bytes, so a mislabelled layer still unpacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Tar,
    Gzip,
    Zstd,
}

impl LayerKind {
    /// `None` for media types that are not filesystem layers.
    pub fn of(media_type: &str) -> Option<LayerKind> {
        // The nondistributable/foreign variants are layers too; their blobs come from the
        // registry or the descriptor's urls like any other.
        let m = media_type
            .replace(".nondistributable", "")
            .replace(".foreign", "");
        match m.as_str() {
            "" => Some(LayerKind::Tar),
            OCI_LAYER | "application/vnd.docker.image.rootfs.diff.tar" => Some(LayerKind::Tar),
            OCI_LAYER_GZIP | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
                Some(LayerKind::Gzip)
            }
            OCI_LAYER_ZSTD | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
                Some(LayerKind::Zstd)
            }
            _ => None,
        }
    }

    pub fn oci_media_type(self) -> &'static str {
        match self {
            LayerKind::Tar => OCI_LAYER,
            LayerKind::Gzip => OCI_LAYER_GZIP,
            LayerKind::Zstd => OCI_LAYER_ZSTD,
        }
    }
}

/// Picks the manifest for `want` from an index: same OS and architecture, preferring the
/// same variant, then none, then any. Attestation and other non-image entries carry
/// `unknown/unknown` platforms and are never picked. An index with a single entry without a
/// platform is taken as is.
pub fn select_platform<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
        })
        .collect();
    let variant = |d: &Descriptor| d.platform.as_ref().and_then(|p| p.variant.clone());
    if let Some(v) = &want.variant {
        if let Some(d) = candidates.iter().find(|d| variant(d).as_ref() == Some(v)) {
            return Some(d);
        }
    }
    if let Some(d) = candidates.iter().find(|d| variant(d).is_none()) {
        return Some(d);
    }
    if let Some(d) = candidates.first() {
        return Some(d);
    }
    match index.manifests.as_slice() {
        [only] if only.platform.is_none() => Some(only),
        _ => None,
    }
}

/// The platforms an index offers, for error messages.
pub fn platforms(index: &Index) -> String {
    let v: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// An image configuration (the parts the runtime needs).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ImageConfig>,
    pub rootfs: RootFs,
}

/// The layers' uncompressed digests, bottom first.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// How to run the image: what a container inherits unless its spec says otherwise.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub entrypoint: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: BTreeMap<String, serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl ConfigFile {
    pub fn parse(what: &str, data: &[u8]) -> Result<ConfigFile> {
        serde_json::from_slice(data).map_err(|e| ImageError::BadManifest {
            what: what.to_string(),
            reason: format!("bad image configuration: {e}"),
        })
    }
}

/// The chain ids of a layer stack: `chain(0) = diff(0)`,
/// `chain(n) = sha256(chain(n-1) + " " + diff(n))`. A chain id names a layer together with
/// everything under it, so equal chain ids can share one unpacked snapshot.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => {
                let mut h = Hasher::new(super::digest::Algorithm::Sha256);
                h.update(format!("{parent} {d}").as_bytes());
                h.finish()
            }
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn parses_manifests_and_indexes() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{}","size":10}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{}","size":20}}]}}"#,
            d('a'),
            d('b')
        );
        match parse("m", None, m.as_bytes()).unwrap() {
            Parsed::Manifest(m) => assert_eq!(m.layers.len(), 1),
            other => panic!("{other:?}"),
        }
        // OCI manifests may omit mediaType.
        let m = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":1}},"layers":[]}}"#,
            d('a')
        );
        assert!(matches!(
            parse("m", None, m.as_bytes()).unwrap(),
            Parsed::Manifest(_)
        ));
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":3,
            "platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#,
            d('c')
        );
        assert!(matches!(
            parse("i", None, i.as_bytes()).unwrap(),
            Parsed::Index(_)
        ));
        // A Docker manifest list, typed in the document or only by the server.
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":3,
            "platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            d('c')
        );
        match parse("l", None, list.as_bytes()).unwrap() {
            Parsed::Index(i) => {
                assert_eq!(i.manifests.len(), 1);
                assert_eq!(i.manifests[0].media_type, DOCKER_MANIFEST);
            }
            other => panic!("{other:?}"),
        }
        let untyped = list.replacen(&format!(r#""mediaType":"{DOCKER_MANIFEST_LIST}","#), "", 1);
        assert!(!untyped.contains(DOCKER_MANIFEST_LIST));
        assert!(matches!(
            parse("l", Some(DOCKER_MANIFEST_LIST), untyped.as_bytes()).unwrap(),
            Parsed::Index(_)
        ));
        assert!(ACCEPTED_MANIFEST_TYPES.contains(&DOCKER_MANIFEST_LIST));
        let s1 = r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let e = parse("old", None, s1.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("schema 1"), "{e}");
        let bad_layer = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{}","size":1}},"layers":[{{"mediaType":"application/x-foo","digest":"{}","size":1}}]}}"#,
            d('a'),
            d('b')
        );
        assert!(parse("m", None, bad_layer.as_bytes()).is_err());
        assert!(parse("m", None, b"not json").is_err());
    }

    #[test]
    fn platform_selection() {
        let entry = |c, arch: &str, variant: Option<&str>| Descriptor {
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
            }),
            ..Descriptor::new(OCI_MANIFEST, Digest::parse(&d(c)).unwrap(), 1)
        };
        let mut attestation = Descriptor::new(OCI_MANIFEST, Digest::parse(&d('f')).unwrap(), 1);
        attestation.platform = Some(Platform {
            architecture: "unknown".into(),
            os: "unknown".into(),
            variant: None,
        });
        let index = Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                entry('a', "arm64", Some("v8")),
                entry('b', "amd64", None),
                entry('c', "arm", Some("v7")),
                attestation,
            ],
            annotations: BTreeMap::new(),
        };
        let pick = |p: Platform| select_platform(&index, &p).map(|d| d.digest.to_string());
        assert_eq!(pick(Platform::linux_amd64()), Some(d('b')));
        let arm = |v: Option<&str>| Platform {
            architecture: "arm".into(),
            os: "linux".into(),
            variant: v.map(Into::into),
        };
        assert_eq!(pick(arm(Some("v7"))), Some(d('c')));
        assert_eq!(pick(arm(None)), Some(d('c')));
        let s390 = Platform {
            architecture: "s390x".into(),
            os: "linux".into(),
            variant: None,
        };
        assert_eq!(pick(s390), None);
        assert!(platforms(&index).contains("linux/arm64/v8"));
    }

    #[test]
    fn config_nulls_and_chain_ids() {
        let c = ConfigFile::parse(
            "c",
            br#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":["sh"],"User":"1000"},
                "rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        let ic = c.config.unwrap();
        assert!(ic.env.is_empty());
        assert_eq!(ic.cmd, vec!["sh"]);
        assert_eq!(ic.user, "1000");

        // The definition of containerd's identity.ChainIDs.
        let a = Digest::parse(&d('a')).unwrap();
        let b = Digest::parse(&d('b')).unwrap();
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let mut h = Hasher::new(crate::image::digest::Algorithm::Sha256);
        h.update(format!("{a} {b}").as_bytes());
        assert_eq!(ids[1], h.finish());
    }
}
