//! Pulling from OCI and Docker registries, through `oci-client` (which does the
//! distribution API, Docker Hub's token flow and basic auth).
//!
//! For each endpoint (mirrors, then the registry itself; see [`super::registries`]) a pull
//! resolves the reference to a manifest (through an index, picking our platform), stores
//! manifests and configuration, downloads the layers it does not have yet (a few at a time,
//! streamed to disk, digests checked as the bytes arrive) and unpacks them in order into
//! snapshots shared by chain id. The first endpoint that gets all the way wins.

use std::io::Write;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;

use super::content::Committed;
use super::digest::{Digest, Hasher};
use super::error::{ImageError, Result};
use super::layers::{layer_records, unpack_one, NewImage};
use super::manifest::{self, ConfigFile, Descriptor, Manifest, Parsed, Platform};
use super::progress::{LayerStatus, PullEvent, PullProgress};
use super::reference::Reference;
use super::registries::{AuthConfig, Credentials, Endpoint, Registries, Scheme};
use super::store::{ImageRecord, Store};

/// How deep index → index → manifest nesting may go.
const MAX_INDEX_DEPTH: usize = 4;

/// What a pull needs from the service.
pub struct PullContext<'a> {
    pub store: &'a Arc<Store>,
    pub registries: &'a Registries,
    pub platform: &'a Platform,
    pub progress: &'a dyn PullProgress,
    pub concurrency: usize,
}

/// reqwest is built without a default TLS crypto provider; use ring, as the rest of rkube
/// does (a provider installed earlier by the process stays).
fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Runs a blocking closure on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ImageError::Internal(format!("blocking task failed: {e}")))?
}

/// Pulls `reference`, trying each endpoint in turn, and records the image.
pub async fn pull(
    ctx: &PullContext<'_>,
    reference: &Reference,
    auth: Option<&AuthConfig>,
) -> Result<ImageRecord> {
    ensure_crypto_provider();
    let store = ctx.store.clone();
    // Content staged before the image is recorded must survive a concurrent prune.
    let staging = blocking(move || store.staging_lock()).await?;
    let result = pull_staged(ctx, reference, auth).await;
    drop(staging);
    let store = ctx.store.clone();
    let failed = result.is_err();
    // Nothing half-made stays behind a failure.
    let _ = blocking(move || {
        store.staging_done(failed);
        Ok(())
    })
    .await;
    result
}

async fn pull_staged(
    ctx: &PullContext<'_>,
    reference: &Reference,
    auth: Option<&AuthConfig>,
) -> Result<ImageRecord> {
    let endpoints = ctx.registries.endpoints(reference, auth);
    let mut errors = Vec::new();
    for ep in &endpoints {
        match pull_from(ctx, reference, ep).await {
            Ok(r) => return Ok(r),
            Err(e) => {
                if endpoints.len() > 1 {
                    tracing::warn!(reference = %reference, endpoint = %ep.url(), error = %e, "pull from endpoint failed");
                }
                errors.push(e);
            }
        }
    }
    Err(most_telling(errors))
}

/// Of the errors from several endpoints, the one to report: an answer from a registry
/// (unauthorized, not found, bad content) over a failure to talk to one, and among equals
/// the earliest endpoint (mirrors are configured on purpose; the default endpoint is tried
/// last and is often simply unreachable where mirrors are used).
fn most_telling(errors: Vec<ImageError>) -> ImageError {
    let rank = |e: &ImageError| match e {
        ImageError::Registry { .. } | ImageError::Internal(_) => 1,
        ImageError::RegistryNotFound { .. } => 2,
        _ => 3,
    };
    let mut best: Option<ImageError> = None;
    for e in errors {
        if best.as_ref().is_none_or(|b| rank(&e) > rank(b)) {
            best = Some(e);
        }
    }
    best.unwrap_or_else(|| ImageError::Internal("no endpoint to pull from".into()))
}

async fn pull_from(
    ctx: &PullContext<'_>,
    reference: &Reference,
    ep: &Endpoint,
) -> Result<ImageRecord> {
    let f = Fetcher::new(reference, ep, ctx.concurrency)?;
    let what = reference.to_string();
    ctx.progress.event(PullEvent::Resolving {
        reference: what.clone(),
        endpoint: ep.url(),
    });

    // Resolve to a platform manifest, keeping every document on the way.
    let (mut bytes, top_digest) = f.manifest(&f.oref, reference.digest(), None).await?;
    let mut digest = top_digest.clone();
    let mut hint: Option<String> = None;
    let mut documents: Vec<(Digest, Vec<u8>)> = Vec::new();
    let mut index_digest = None;
    let mut depth = 0;
    let manifest: Manifest = loop {
        match manifest::parse(&format!("{what} ({digest})"), hint.as_deref(), &bytes)? {
            Parsed::Manifest(m) => break m,
            Parsed::Index(index) => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(ImageError::BadManifest {
                        what: what.clone(),
                        reason: "indexes nested too deeply".into(),
                    });
                }
                let entry = manifest::select_platform(&index, ctx.platform)
                    .ok_or_else(|| ImageError::NoMatchingPlatform {
                        reference: what.clone(),
                        platform: ctx.platform.to_string(),
                        available: manifest::platforms(&index),
                    })?
                    .clone();
                index_digest.get_or_insert_with(|| digest.clone());
                documents.push((digest.clone(), std::mem::take(&mut bytes)));
                let child = f.oref.clone_with_digest(entry.digest.to_string());
                let (b, d) = f
                    .manifest(&child, Some(&entry.digest), Some(entry.size))
                    .await?;
                bytes = b;
                digest = d;
                hint = Some(entry.media_type.clone());
            }
        }
    };
    let manifest_size = bytes.len() as u64;
    let manifest_media_type = manifest
        .media_type
        .clone()
        .or(hint)
        .unwrap_or_else(|| manifest::OCI_MANIFEST.to_string());
    documents.push((digest.clone(), bytes));
    ctx.progress.event(PullEvent::Resolved {
        reference: what.clone(),
        digest: digest.clone(),
        layers: manifest.layers.len(),
    });
    let store = ctx.store.clone();
    blocking(move || {
        for (d, b) in documents {
            store
                .content
                .write_bytes(&format!("manifest {d}"), &b, Some(&d))?;
        }
        Ok(())
    })
    .await?;

    // The configuration.
    if !ctx.store.content.exists(&manifest.config.digest) {
        f.blob(ctx.store, &manifest.config, None, ctx.progress)
            .await?;
    }
    let store = ctx.store.clone();
    let config_digest = manifest.config.digest.clone();
    let config_bytes = blocking(move || {
        store
            .content
            .read_small(&config_digest, manifest::MAX_METADATA_SIZE)
    })
    .await?;
    let config = ConfigFile::parse(&format!("{what} configuration"), &config_bytes)?;
    let layers = layer_records(&what, &manifest, &config)?;

    // Layers: fetch what is neither unpacked nor downloaded, a few at a time.
    let mut todo = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let have = ctx.store.snapshots.exists(&l.chain_id) || ctx.store.content.exists(&l.digest);
        ctx.progress.event(PullEvent::Layer {
            index: i,
            digest: l.digest.clone(),
            size: l.size,
            status: if have {
                LayerStatus::Exists
            } else {
                LayerStatus::Waiting
            },
        });
        if !have {
            todo.push(i);
        }
    }
    let f = &f;
    futures::stream::iter(todo.into_iter().map(|i| {
        let desc = &manifest.layers[i];
        async move {
            f.blob(ctx.store, desc, Some(i), ctx.progress)
                .await
                .map(|_| ())
        }
    }))
    .buffer_unordered(ctx.concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await?;

    // Unpack bottom-up.
    let layers = Arc::new(layers);
    for i in 0..layers.len() {
        let l = &layers[i];
        if !ctx.store.snapshots.exists(&l.chain_id) {
            ctx.progress.event(PullEvent::Layer {
                index: i,
                digest: l.digest.clone(),
                size: l.size,
                status: LayerStatus::Unpacking,
            });
            let store = ctx.store.clone();
            let ls = layers.clone();
            blocking(move || unpack_one(&store, &ls, i)).await?;
        }
        ctx.progress.event(PullEvent::Layer {
            index: i,
            digest: l.digest.clone(),
            size: l.size,
            status: LayerStatus::Done,
        });
    }

    let record = NewImage {
        manifest_digest: digest,
        manifest_media_type,
        manifest_size,
        index_digest,
        manifest: &manifest,
        config: &config,
        layers: layers.to_vec(),
        repo_tags: reference.tagged_name().into_iter().collect(),
        repo_digests: vec![reference.digested_name(&top_digest)],
    }
    .into_record();
    let store = ctx.store.clone();
    let record = blocking(move || store.commit_image(record)).await?;
    tracing::info!(reference = %what, id = %record.id, endpoint = %ep.url(), "pulled image");
    ctx.progress.event(PullEvent::Done {
        reference: what,
        id: record.id.clone(),
    });
    Ok(record)
}

/// One endpoint's client and the reference as that endpoint names it.
struct Fetcher {
    client: oci_client::Client,
    oref: oci_client::Reference,
    auth: RegistryAuth,
    endpoint: String,
    reference: String,
}

impl Fetcher {
    fn new(reference: &Reference, ep: &Endpoint, concurrency: usize) -> Result<Fetcher> {
        let mut config = ClientConfig {
            protocol: match ep.scheme {
                Scheme::Http => ClientProtocol::Http,
                Scheme::Https => ClientProtocol::Https,
            },
            accept_invalid_certificates: ep.settings.insecure_skip_verify,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("rkube/", env!("CARGO_PKG_VERSION")),
            max_concurrent_download: concurrency.max(1),
            ..ClientConfig::default()
        };
        if let Some(ca) = &ep.settings.ca_file {
            let data = std::fs::read(ca).map_err(|e| ImageError::io("read CA file", ca, e))?;
            config.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let client = oci_client::Client::try_from(config).map_err(|e| ImageError::Registry {
            reference: reference.to_string(),
            endpoint: ep.url(),
            message: format!("creating HTTP client: {}", error_chain(&e)),
        })?;
        let registry = ep.mirror_of.clone().unwrap_or_else(|| ep.host.clone());
        let mut oref = match (reference.digest(), reference.tag()) {
            (Some(d), _) => {
                oci_client::Reference::with_digest(registry, ep.repository.clone(), d.to_string())
            }
            (None, tag) => oci_client::Reference::with_tag(
                registry,
                ep.repository.clone(),
                tag.unwrap_or("latest").to_string(),
            ),
        };
        if ep.mirror_of.is_some() {
            oref.set_mirror_registry(ep.host.clone());
        }
        let auth = match &ep.settings.credentials {
            Some(Credentials::Basic(u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            Some(Credentials::Bearer(t)) => RegistryAuth::Bearer(t.clone()),
            None => RegistryAuth::Anonymous,
        };
        Ok(Fetcher {
            client,
            oref,
            auth,
            endpoint: ep.url(),
            reference: reference.to_string(),
        })
    }

    /// Fetches a manifest or index and checks it against `expected` (when pulling by
    /// digest) or the registry's `Docker-Content-Digest` (oci-client checks that one).
    async fn manifest(
        &self,
        oref: &oci_client::Reference,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Vec<u8>, Digest)> {
        let (bytes, _server_digest) = self
            .client
            .pull_manifest_raw(oref, &self.auth, manifest::ACCEPTED_MANIFEST_TYPES)
            .await
            .map_err(|e| self.map_err(e))?;
        if bytes.len() as u64 > manifest::MAX_METADATA_SIZE {
            return Err(ImageError::BadManifest {
                what: self.reference.clone(),
                reason: format!("manifest larger than {} bytes", manifest::MAX_METADATA_SIZE),
            });
        }
        let mut h =
            Hasher::new(expected.map_or(super::digest::Algorithm::Sha256, |d| d.algorithm()));
        h.update(&bytes);
        let actual = h.finish();
        if let Some(e) = expected {
            if &actual != e {
                return Err(ImageError::DigestMismatch {
                    what: format!("manifest of {} from {}", self.reference, self.endpoint),
                    expected: e.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        if let Some(s) = expected_size {
            if s != bytes.len() as u64 {
                return Err(ImageError::SizeMismatch {
                    what: format!("manifest {actual} of {}", self.reference),
                    expected: s,
                    actual: bytes.len() as u64,
                });
            }
        }
        Ok((bytes.to_vec(), actual))
    }

    /// Streams a blob into the content store, checking size and digest as it arrives.
    async fn blob(
        &self,
        store: &Arc<Store>,
        desc: &Descriptor,
        index: Option<usize>,
        progress: &dyn PullProgress,
    ) -> Result<Committed> {
        let od = oci_client::manifest::OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.to_string(),
            size: i64::try_from(desc.size).unwrap_or(i64::MAX),
            urls: (!desc.urls.is_empty()).then(|| desc.urls.clone()),
            ..Default::default()
        };
        let what = format!(
            "blob {} of {} from {}",
            desc.digest, self.reference, self.endpoint
        );
        let sized = self
            .client
            .pull_blob_stream(&self.oref, &od)
            .await
            .map_err(|e| self.map_err(e))?;
        if let Some(len) = sized.content_length {
            if len != desc.size {
                return Err(ImageError::SizeMismatch {
                    what,
                    expected: desc.size,
                    actual: len,
                });
            }
        }
        // A blocking thread writes; chunks reach it through a small bounded channel, so at
        // most a few chunks are in memory. `None` means "complete: commit".
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<bytes::Bytes>>(8);
        let writer = {
            let store = store.clone();
            let what = what.clone();
            let expected = desc.digest.clone();
            let size = desc.size;
            tokio::task::spawn_blocking(move || -> Result<Committed> {
                let mut w = store.content.writer(&what, Some((&expected, Some(size))))?;
                loop {
                    match rx.blocking_recv() {
                        Some(Some(chunk)) => w.write_all(&chunk).map_err(|e| {
                            if e.kind() == std::io::ErrorKind::InvalidData {
                                ImageError::SizeMismatch {
                                    what: what.clone(),
                                    expected: size,
                                    actual: w.written() + chunk.len() as u64,
                                }
                            } else {
                                ImageError::io("write blob", store.content.root(), e)
                            }
                        })?,
                        Some(None) => return w.commit(),
                        None => return Err(ImageError::Internal("download aborted".into())),
                    }
                }
            })
        };
        let mut stream = sized.stream;
        let mut done = 0u64;
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    done += chunk.len() as u64;
                    if let Some(i) = index {
                        progress.event(PullEvent::Layer {
                            index: i,
                            digest: desc.digest.clone(),
                            size: desc.size,
                            status: LayerStatus::Downloading { done },
                        });
                    }
                    if tx.send(Some(chunk)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    failure = Some(self.map_stream_err(&what, e));
                    break;
                }
            }
        }
        if failure.is_none() {
            let _ = tx.send(None).await;
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| ImageError::Internal(format!("blob writer failed: {e}")))?;
        if let Some(f) = failure {
            return Err(f);
        }
        let committed = written?;
        if let Some(i) = index {
            progress.event(PullEvent::Layer {
                index: i,
                digest: desc.digest.clone(),
                size: desc.size,
                status: LayerStatus::Downloaded,
            });
        }
        Ok(committed)
    }

    fn map_stream_err(&self, what: &str, e: std::io::Error) -> ImageError {
        if let Some(DigestError::VerificationError { expected, actual }) =
            e.get_ref().and_then(|i| i.downcast_ref::<DigestError>())
        {
            return ImageError::DigestMismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual: actual.clone(),
            };
        }
        ImageError::Registry {
            reference: self.reference.clone(),
            endpoint: self.endpoint.clone(),
            message: format!("reading {what}: {}", error_chain(&e)),
        }
    }

    fn map_err(&self, e: OciDistributionError) -> ImageError {
        let reference = self.reference.clone();
        let endpoint = self.endpoint.clone();
        let message = error_chain(&e);
        match &e {
            OciDistributionError::AuthenticationFailure(_)
            | OciDistributionError::UnauthorizedError { .. } => ImageError::Unauthorized {
                reference,
                endpoint,
                message,
            },
            OciDistributionError::ImageManifestNotFoundError(_) => ImageError::RegistryNotFound {
                reference,
                endpoint,
                message,
            },
            OciDistributionError::ServerError { code, .. } => match code {
                401 | 403 => ImageError::Unauthorized {
                    reference,
                    endpoint,
                    message,
                },
                404 => ImageError::RegistryNotFound {
                    reference,
                    endpoint,
                    message,
                },
                _ => ImageError::Registry {
                    reference,
                    endpoint,
                    message,
                },
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    ImageError::Unauthorized {
                        reference,
                        endpoint,
                        message,
                    }
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    ImageError::RegistryNotFound {
                        reference,
                        endpoint,
                        message,
                    }
                } else {
                    ImageError::Registry {
                        reference,
                        endpoint,
                        message,
                    }
                }
            }
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected,
                actual,
            }) => ImageError::DigestMismatch {
                what: format!("manifest of {reference} from {endpoint}"),
                expected: expected.clone(),
                actual: actual.clone(),
            },
            _ => ImageError::Registry {
                reference,
                endpoint,
                message,
            },
        }
    }
}

/// An error and its causes, `: `-separated (reqwest's top-level messages alone say little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
