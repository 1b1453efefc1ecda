//! The decoder must never panic or overflow the stack, whatever the input:
//! request bodies are attacker-controlled. A deterministic xorshift fuzz loop
//! (no proptest dependency, reproducible failures) throws random and mutated
//! bodies at it.

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use prost::Message;
use rkube_apiserver::protobuf::{decode_body, MAGIC};

/// Kinds whose schemas reach every special type and deep recursion.
const KINDS: [(&str, &str); 12] = [
    ("v1", "Pod"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ControllerRevision"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("coordination.k8s.io/v1", "Lease"),
    ("events.k8s.io/v1", "Event"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("meta.k8s.io/v1", "Status"),
    ("authentication.k8s.io/v1", "TokenReview"),
    ("resource.k8s.io/v1", "ResourceClaim"),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        ..Default::default()
    };
    [&MAGIC[..], &unknown.encode_to_vec()].concat()
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/protobuf");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pb"))
                .filter_map(|p| std::fs::read(p).ok())
                .collect()
        })
        .unwrap_or_default();
    out.push(MAGIC.to_vec());
    out
}

#[test]
fn random_and_mutated_bodies_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0usize;
    for round in 0..40_000 {
        let body = match round % 3 {
            // Pure noise inside a valid envelope, so the schema walk is exercised.
            0 => {
                let (api_version, kind) = KINDS[rng.below(KINDS.len())];
                let raw = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
                envelope(api_version, kind, raw)
            }
            // A real body with a few bytes flipped, inserted or removed.
            1 => {
                let mut body = seeds[rng.below(seeds.len())].clone();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(body.len() + 1);
                    match rng.below(3) {
                        0 if at < body.len() => body[at] = rng.next() as u8,
                        1 => body.insert(at, rng.next() as u8),
                        _ if at < body.len() => {
                            body.remove(at);
                        }
                        _ => {}
                    }
                }
                body
            }
            // A real object re-wrapped as a different kind: valid protobuf, wrong schema.
            _ => {
                let seed = &seeds[rng.below(seeds.len())];
                let (api_version, kind) = KINDS[rng.below(KINDS.len())];
                envelope(
                    api_version,
                    kind,
                    seed.get(4..).unwrap_or_default().to_vec(),
                )
            }
        };
        if decode_body(&body).is_ok() {
            decoded += 1;
        }
    }
    // Sanity: the loop is not only producing envelope errors.
    assert!(decoded > 1_000, "only {decoded} inputs decoded");
}

/// Bodies nested through RawExtension (which may hold another `k8s\0` body)
/// share the depth limit, so nesting cannot exhaust the stack.
#[test]
fn nested_raw_extensions_are_bounded() {
    let mut body = envelope("v1", "Namespace", Vec::new());
    for _ in 0..300 {
        let revision = apps::ControllerRevision {
            data: Some(RawExtension { raw: Some(body) }),
            revision: Some(1),
            ..Default::default()
        };
        body = envelope("apps/v1", "ControllerRevision", revision.encode_to_vec());
    }
    // A small stack makes an unbounded recursion fail loudly here.
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || decode_body(&body).map(|_| ()))
        .expect("spawn");
    let err = handle.join().expect("no stack overflow").unwrap_err();
    assert!(err.to_string().contains("nested more than"), "{err}");
}
