//! Tokens: verifying the platform's JWTs into an [`Identity`], and signing HS256 ones (for
//! `stagehand token` and tests).
//!
//! Besides HS256 (a secret shared with the platform, which could also mint tokens), the hub
//! accepts asymmetric tokens — RS256/384/512, PS256/384/512, ES256/384, EdDSA — verified with a
//! public key from `jwt_public_key_file` (PEM) or `jwks_file` (a JWKS; a token's `kid` picks the
//! key), so a hub need hold no key that can mint tokens. The accepted algorithms are pinned
//! (`jwt_algorithms`): a token whose header names another one is refused before any key is tried,
//! so a public key can never be used as an HMAC secret (algorithm confusion) and `none` never
//! passes.
//!
//! Expiry is checked here against the hub's clock (not jsonwebtoken's reading of the system
//! time), with one rule for connecting and for staying connected: a token is good until its
//! `exp` plus the leeway ([`Identity::valid_until`]). It is refused at or after that instant, and
//! a connection that presented it is closed at that instant.

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use stagehand_protocol::types::{Actor, Millis, Operator, Role};
use stagehand_protocol::{Claims, CloseCode};

/// Who a connection is, from its verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Actor,
    pub role: Role,
    /// Agency tokens: the agency and the creator whose rooms it may operate.
    pub agency: Option<AgencyClaim>,
    /// When the token stops being good: its `exp` plus the leeway, ms since the epoch. The
    /// connection is closed with 4003 at this instant.
    pub valid_until: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyClaim {
    pub agency_id: String,
    pub agency_name: String,
    pub creator_id: String,
}

impl Identity {
    /// The real actor behind agency actions, as creator and agency members see it.
    pub fn operator(&self) -> Option<Operator> {
        self.agency.as_ref().map(|agency| Operator {
            agency_id: agency.agency_id.clone(),
            staff_id: self.user.id.clone(),
            staff_name: self.user.name.clone(),
        })
    }
}

/// Why a token was refused, mapped to the close code the client receives.
///
/// `Invalid` carries a stable reason code, never the JWT library's text: that text can quote the
/// token's claim values (a serde error on a claim of the wrong type does), and it is logged and
/// sent in the close frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

/// The stable reason code for a jsonwebtoken error (see [`TokenError::Invalid`]).
fn reason(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => "malformed",
        ErrorKind::InvalidSignature => "bad_signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
            "algorithm_not_accepted"
        }
        ErrorKind::MissingRequiredClaim(_) => "missing_claim",
        ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => "bad_claims",
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => "not_valid_now",
        _ => "unverifiable",
    }
}

impl TokenError {
    pub fn close_code(&self) -> CloseCode {
        match self {
            TokenError::Expired => CloseCode::TOKEN_EXPIRED,
            TokenError::Invalid(_) => CloseCode::INVALID_TOKEN,
        }
    }
}

/// A public key and the key id (`kid`) it was published under, if any.
struct PublicKey {
    kid: Option<String>,
    key: DecodingKey,
}

/// The keys tokens are verified with, ready to verify (and to sign HS256 ones).
pub struct TokenKeys {
    secret: DecodingKey,
    encoding: EncodingKey,
    public: Vec<PublicKey>,
    /// The algorithms a token's header may name (`jwt_algorithms`).
    algorithms: Vec<Algorithm>,
    /// Clock skew tolerated past `exp`.
    leeway_ms: Millis,
}

impl TokenKeys {
    /// HS256 with `secret` only. `leeway_secs` tolerates clock skew between the platform backend
    /// and the hub.
    pub fn new(secret: &str, leeway_secs: u64) -> Self {
        TokenKeys {
            secret: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            public: Vec::new(),
            algorithms: vec![Algorithm::HS256],
            leeway_ms: leeway_secs.saturating_mul(1000),
        }
    }

    /// The keys and pinned algorithms `config` names: `jwt_secret` (used only if `HS256` is among
    /// `jwt_algorithms`), `jwt_public_key_file` and `jwks_file`.
    pub fn from_config(config: &crate::Config) -> Result<Self, String> {
        let mut keys = TokenKeys::new(&config.jwt_secret, config.jwt_leeway_secs);
        keys.algorithms = config
            .jwt_algorithms
            .iter()
            .map(|name| name.trim().parse::<Algorithm>().map_err(|_| format!("unknown JWT algorithm {name:?}")))
            .collect::<Result<_, _>>()?;
        if keys.algorithms.is_empty() {
            return Err("jwt_algorithms is empty".into());
        }
        if let Some(path) = &config.jwt_public_key_file {
            let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .or_else(|_| DecodingKey::from_ec_pem(&pem))
                .or_else(|_| DecodingKey::from_ed_pem(&pem))
                .map_err(|e| format!("{}: not an RSA, EC or Ed25519 public key: {e}", path.display()))?;
            keys.public.push(PublicKey { kid: None, key });
        }
        if let Some(path) = &config.jwks_file {
            let text = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let set: jsonwebtoken::jwk::JwkSet =
                serde_json::from_slice(&text).map_err(|e| format!("{}: not a JWKS: {e}", path.display()))?;
            for jwk in &set.keys {
                let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("{}: {e}", path.display()))?;
                keys.public.push(PublicKey { kid: jwk.common.key_id.clone(), key });
            }
        }
        let asymmetric = keys.algorithms.iter().any(|a| a.family() != AlgorithmFamily::Hmac);
        if asymmetric && keys.public.is_empty() {
            return Err("an asymmetric JWT algorithm needs jwt_public_key_file or jwks_file".into());
        }
        Ok(keys)
    }

    /// Check `token`'s algorithm (pinned), signature and claims, and that it is still good at
    /// `now_ms` (the hub's clock): before its `exp` plus the leeway.
    pub fn verify(&self, token: &str, now_ms: Millis) -> Result<Identity, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(reason(&e)))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError::Invalid("algorithm_not_accepted"));
        }
        let mut validation = Validation::new(header.alg);
        // `exp` must be there, but it is compared with the hub's clock below.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let candidates: Vec<&DecodingKey> = if header.alg.family() == AlgorithmFamily::Hmac {
            vec![&self.secret]
        } else {
            self.public
                .iter()
                .filter(|k| k.key.family() == header.alg.family())
                .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
                .map(|k| &k.key)
                .collect()
        };
        let mut last = TokenError::Invalid("no_key");
        let mut verified = None;
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    verified = Some(data);
                    break;
                }
                Err(e) => last = TokenError::Invalid(reason(&e)),
            }
        }
        let data = verified.ok_or(last)?;
        let identity = identity_from(data.claims, self.leeway_ms)?;
        if now_ms >= identity.valid_until {
            return Err(TokenError::Expired);
        }
        Ok(identity)
    }

    /// A `refresh`: `token` must verify at `now_ms` and name the same user, role and agency as
    /// `current`. Returns when the connection's token is now good until. Errors are stable:
    /// `unauthenticated` for a token that does not verify or has expired, `forbidden` for one
    /// about someone else.
    pub fn refresh(&self, current: &Identity, token: &str, now_ms: Millis) -> Result<Millis, crate::error::HubError> {
        use crate::error::HubError;
        let next = self.verify(token, now_ms).map_err(|e| match e {
            TokenError::Expired => HubError::unauthenticated("the new token has expired"),
            TokenError::Invalid(_) => HubError::unauthenticated("the new token is not valid"),
        })?;
        if next.user.id != current.user.id || next.role != current.role || next.agency != current.agency {
            return Err(HubError::forbidden("the new token is for another user, role or agency"));
        }
        Ok(next.valid_until)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }
}

fn identity_from(claims: Claims, leeway_ms: Millis) -> Result<Identity, TokenError> {
    if claims.sub.is_empty() {
        return Err(TokenError::Invalid("empty_sub"));
    }
    let agency = match claims.role {
        Role::Agency => match (claims.agency, claims.creator) {
            (Some(agency_id), Some(creator_id)) if !agency_id.is_empty() && !creator_id.is_empty() => {
                let agency_name = claims.agency_name.unwrap_or_else(|| agency_id.clone());
                Some(AgencyClaim { agency_id, agency_name, creator_id })
            }
            _ => return Err(TokenError::Invalid("agency_claims")),
        },
        _ => None,
    };
    Ok(Identity {
        user: Actor { id: claims.sub, name: claims.name },
        role: claims.role,
        agency,
        valid_until: claims.exp.saturating_mul(1000).saturating_add(leeway_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_good_until_exp_plus_the_leeway_on_the_given_clock() {
        let keys = TokenKeys::new("s", 30);
        let exp = 1_000_000;
        let claims = Claims {
            sub: "u".into(),
            name: "U".into(),
            role: Role::Viewer,
            exp,
            agency: None,
            agency_name: None,
            creator: None,
        };
        let token = keys.sign(&claims).unwrap();
        let end = exp * 1000 + 30_000;
        assert_eq!(keys.verify(&token, end - 1).unwrap().valid_until, end);
        assert_eq!(keys.verify(&token, end), Err(TokenError::Expired));
        assert!(matches!(TokenKeys::new("other", 30).verify(&token, 0), Err(TokenError::Invalid(_))));
    }
}
