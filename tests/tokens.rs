//! Asymmetric platform tokens (RS256, ES256, EdDSA) from a public key PEM or a JWKS file, with
//! the accepted algorithms pinned: the hub verifies without holding a key that can mint tokens,
//! and a token naming another algorithm — HS256 signed with the public key as the secret
//! (algorithm confusion) included — is refused with 4002. Keys: `tests/keys/` (test-only).

mod common;

use common::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use stagehand::client::{Auth, Client, ClientError};
use stagehand_protocol::types::Role;
use stagehand_protocol::{CloseCode, Wire};
use std::path::PathBuf;

fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys").join(name)
}

/// The private key of `name` (`rs256`, `es256`, `ed25519`), to sign as the platform would.
fn signing_key(name: &str) -> EncodingKey {
    let pem = std::fs::read(key_path(&format!("{name}.pem"))).unwrap();
    match name {
        "rs256" => EncodingKey::from_rsa_pem(&pem).unwrap(),
        "es256" => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_ed_pem(&pem).unwrap(),
    }
}

fn sign(header: Header, key: &EncodingKey, user: &str) -> String {
    jsonwebtoken::encode(&header, &claims(user, Role::Viewer, now_secs() + 3600), key).unwrap()
}

/// Connect with `token` in the header: the close code the hub answers with, or `None` if it
/// welcomed the connection.
async fn refusal(hub: &TestHub, token: String) -> Option<u16> {
    match Client::connect(&hub.ws_url, Wire::Json, Auth::Header(token)).await {
        Ok(_) => None,
        Err(ClientError::Closed(Some((code, _)))) => Some(code),
        Err(other) => panic!("{other:?}"),
    }
}

const INVALID: Option<u16> = Some(CloseCode::INVALID_TOKEN.0);

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_verify_with_a_public_key_pem_and_other_algorithms_are_refused() {
    for (name, alg) in [("rs256", Algorithm::RS256), ("es256", Algorithm::ES256), ("ed25519", Algorithm::EdDSA)] {
        let public = key_path(&format!("{name}.pub.pem"));
        let hub = start_with(|c| {
            c.jwt_algorithms = vec![format!("{alg:?}")];
            c.jwt_public_key_file = Some(public.clone());
        })
        .await;
        let key = signing_key(name);
        assert_eq!(refusal(&hub, sign(Header::new(alg), &key, "u")).await, None, "{alg:?}");
        // The shared secret is not accepted when HS256 is not pinned…
        assert_eq!(refusal(&hub, hub.token("u", Role::Viewer)).await, INVALID, "{alg:?}");
        // …nor is HS256 keyed with the public key's own bytes (algorithm confusion).
        let confused = EncodingKey::from_secret(&std::fs::read(&public).unwrap());
        assert_eq!(refusal(&hub, sign(Header::new(Algorithm::HS256), &confused, "u")).await, INVALID);
        // Another key of the same kind does not verify.
        if name == "es256" {
            let other = signing_key("rs256");
            assert_eq!(refusal(&hub, sign(Header::new(Algorithm::RS256), &other, "u")).await, INVALID);
        }
    }
}

#[tokio::test]
async fn a_jwks_file_gives_keys_by_kid() {
    let dir = tempfile::tempdir().unwrap();
    let mut es = Jwk::from_encoding_key(&signing_key("es256"), Algorithm::ES256).unwrap();
    es.common.key_id = Some("es-1".into());
    let mut rs = Jwk::from_encoding_key(&signing_key("rs256"), Algorithm::RS256).unwrap();
    rs.common.key_id = Some("rs-1".into());
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, serde_json::to_vec(&JwkSet { keys: vec![es, rs] }).unwrap()).unwrap();
    let hub = start_with(|c| {
        c.jwt_algorithms = vec!["ES256".into(), "RS256".into()];
        c.jwks_file = Some(jwks.clone());
    })
    .await;
    let with_kid = |alg, kid: &str| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        header
    };
    let es_key = signing_key("es256");
    let rs_key = signing_key("rs256");
    assert_eq!(refusal(&hub, sign(with_kid(Algorithm::ES256, "es-1"), &es_key, "a")).await, None);
    assert_eq!(refusal(&hub, sign(with_kid(Algorithm::RS256, "rs-1"), &rs_key, "b")).await, None);
    assert_eq!(refusal(&hub, sign(Header::new(Algorithm::RS256), &rs_key, "c")).await, None);
    assert_eq!(refusal(&hub, sign(with_kid(Algorithm::ES256, "unknown"), &es_key, "d")).await, INVALID);
    assert_eq!(refusal(&hub, sign(with_kid(Algorithm::RS256, "es-1"), &rs_key, "e")).await, INVALID);
    // EdDSA is not pinned here.
    let ed_key = signing_key("ed25519");
    assert_eq!(refusal(&hub, sign(Header::new(Algorithm::EdDSA), &ed_key, "f")).await, INVALID);
}

#[test]
fn asymmetric_algorithms_without_a_public_key_and_unknown_algorithms_are_configuration_errors() {
    let config = |algs: &[&str]| stagehand::Config {
        jwt_algorithms: algs.iter().map(|s| s.to_string()).collect(),
        ..stagehand::Config::default()
    };
    assert!(stagehand::auth::TokenKeys::from_config(&config(&["RS256"])).is_err());
    assert!(stagehand::auth::TokenKeys::from_config(&config(&["none"])).is_err());
    assert!(stagehand::auth::TokenKeys::from_config(&config(&[])).is_err());
    assert!(stagehand::auth::TokenKeys::from_config(&config(&["HS256"])).is_ok());
}
