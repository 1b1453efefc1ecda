//! Servers sharing a datastore share one cluster CA, as k3s's do: the first server stores
//! its CA in the datastore encrypted with a key derived from the join token; later servers
//! (started with the same `--token`) decrypt it and use it. Without the token the CA key
//! cannot be read from the datastore.

use std::path::Path;

use anyhow::{bail, Context};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use rkube_store::{Store, StoreError};
use serde_json::{json, Value};

const KEY: &str = "/rkube/bootstrap/ca";
const ITERATIONS: u32 = 100_000;

fn derive(secret: &str, salt: &[u8]) -> anyhow::Result<LessSafeKey> {
    let mut key = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(ITERATIONS).context("iterations")?,
        salt,
        secret.as_bytes(),
        &mut key,
    );
    let unbound = UnboundKey::new(&AES_256_GCM, &key)
        .map_err(|_| anyhow::anyhow!("derive the bootstrap key"))?;
    Ok(LessSafeKey::new(unbound))
}

fn seal(secret: &str, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rng.fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("random salt"))?;
    rng.fill(&mut nonce)
        .map_err(|_| anyhow::anyhow!("random nonce"))?;
    let key = derive(secret, &salt)?;
    let mut data = plain.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| anyhow::anyhow!("encrypt the bootstrap data"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(serde_json::to_vec(&json!({
        "salt": b64.encode(salt),
        "nonce": b64.encode(nonce),
        "data": b64.encode(data),
    }))?)
}

fn open(secret: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
    let v: Value = serde_json::from_slice(sealed).context("bootstrap data is not JSON")?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let field = |k: &str| -> anyhow::Result<Vec<u8>> {
        b64.decode(v[k].as_str().unwrap_or(""))
            .with_context(|| format!("bootstrap data: bad {k}"))
    };
    let (salt, nonce, mut data) = (field("salt")?, field("nonce")?, field("data")?);
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| anyhow::anyhow!("bootstrap data: bad nonce"))?;
    let key = derive(secret, &salt)?;
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| {
            anyhow::anyhow!(
                "the cluster's bootstrap data in the datastore cannot be decrypted with this --token \
                 (every server of a cluster needs the same token)"
            )
        })?;
    Ok(plain.to_vec())
}

/// Makes `tls_dir` hold the cluster's CA: the datastore's if another server stored one, or
/// this server's (stored for the others) if it is the first.
pub async fn share_ca(
    store: &dyn Store,
    tls_dir: &Path,
    token: Option<&str>,
) -> anyhow::Result<()> {
    let Some(token) = token else {
        bail!("--token is required with --datastore-endpoint: servers sharing a datastore share the cluster CA through it");
    };
    let (_, secret) =
        rkube_apiserver::join::parse_token(token).map_err(|e| anyhow::anyhow!("--token: {e}"))?;
    let stored = store.get(KEY).await.context("read bootstrap data")?;
    let (cert, key) = match stored {
        Some(kv) => from_store(&secret, &kv.value)?,
        None => {
            let (cert, key) = rkube_apiserver::pki::ensure_ca_files(tls_dir)?;
            let sealed = seal(
                &secret,
                &serde_json::to_vec(&json!({"cert": cert, "key": key}))?,
            )?;
            match store.create(KEY, sealed).await {
                Ok(_) => {
                    tracing::info!("stored the cluster CA in the datastore for other servers");
                    return Ok(());
                }
                // Another server got there first: use its CA.
                Err(StoreError::AlreadyExists { .. }) => {
                    let kv = store.get(KEY).await?.context("bootstrap data vanished")?;
                    from_store(&secret, &kv.value)?
                }
                Err(e) => return Err(e).context("store bootstrap data"),
            }
        }
    };
    let local = std::fs::read_to_string(tls_dir.join(rkube_apiserver::pki::CA_CERT_FILE)).ok();
    if local.as_deref() != Some(cert.as_str()) {
        if local.is_some() {
            tracing::warn!(dir = %tls_dir.display(), "replacing this server's CA with the cluster's");
        }
        rkube_apiserver::pki::adopt_ca_files(tls_dir, &cert, &key)?;
    }
    Ok(())
}

fn from_store(secret: &str, sealed: &[u8]) -> anyhow::Result<(String, String)> {
    let plain = open(secret, sealed)?;
    let v: Value = serde_json::from_slice(&plain).context("bootstrap data")?;
    match (v["cert"].as_str(), v["key"].as_str()) {
        (Some(c), Some(k)) => Ok((c.to_string(), k.to_string())),
        _ => bail!("bootstrap data lacks the CA"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sealed_data_opens_only_with_the_token() {
        let sealed = super::seal("s3cret", b"ca material").expect("seal");
        assert_eq!(
            super::open("s3cret", &sealed).expect("open"),
            b"ca material"
        );
        let err = super::open("other", &sealed).expect_err("wrong token");
        assert!(err.to_string().contains("cannot be decrypted"), "{err}");
        assert!(super::open("s3cret", b"{}").is_err());
    }
}
