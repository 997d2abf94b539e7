//! Tokens: verifying the platform's HS256 JWTs into an [`Identity`], and signing them (for
//! `stagehand token` and tests).
//!
//! Expiry is checked here against the hub's clock (not jsonwebtoken's reading of the system
//! time), with one rule for connecting and for staying connected: a token is good until its
//! `exp` plus the leeway ([`Identity::valid_until`]). It is refused at or after that instant, and
//! a connection that presented it is closed at that instant.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl TokenError {
    pub fn close_code(&self) -> CloseCode {
        match self {
            TokenError::Expired => CloseCode::TOKEN_EXPIRED,
            TokenError::Invalid(_) => CloseCode::INVALID_TOKEN,
        }
    }
}

/// The shared secret, ready to verify and sign.
pub struct TokenKeys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    /// Clock skew tolerated past `exp`.
    leeway_ms: Millis,
}

impl TokenKeys {
    /// `leeway_secs` tolerates clock skew between the platform backend and the hub.
    pub fn new(secret: &str, leeway_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` must be there, but it is compared with the hub's clock in `verify`.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            validation,
            leeway_ms: leeway_secs.saturating_mul(1000),
        }
    }

    /// Check `token`'s signature and claims, and that it is still good at `now_ms` (the hub's
    /// clock): before its `exp` plus the leeway.
    pub fn verify(&self, token: &str, now_ms: Millis) -> Result<Identity, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let identity = identity_from(data.claims, self.leeway_ms)?;
        if now_ms >= identity.valid_until {
            return Err(TokenError::Expired);
        }
        Ok(identity)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }
}

fn identity_from(claims: Claims, leeway_ms: Millis) -> Result<Identity, TokenError> {
    if claims.sub.is_empty() {
        return Err(TokenError::Invalid("empty sub".into()));
    }
    let agency = match claims.role {
        Role::Agency => match (claims.agency, claims.creator) {
            (Some(agency_id), Some(creator_id)) if !agency_id.is_empty() && !creator_id.is_empty() => {
                let agency_name = claims.agency_name.unwrap_or_else(|| agency_id.clone());
                Some(AgencyClaim { agency_id, agency_name, creator_id })
            }
            _ => return Err(TokenError::Invalid("agency tokens must name `agency` and `creator`".into())),
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
