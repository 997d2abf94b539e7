//! Tokens: verifying the platform's HS256 JWTs into an [`Identity`], and signing them (for
//! `stagehand token` and tests).

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
    /// When the token stops being valid.
    pub expires_at: Millis,
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
}

impl TokenKeys {
    /// `leeway_secs` tolerates clock skew between the platform backend and the hub.
    pub fn new(secret: &str, leeway_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_secs;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })?;
        identity_from(data.claims)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }
}

fn identity_from(claims: Claims) -> Result<Identity, TokenError> {
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
        expires_at: claims.exp.saturating_mul(1000),
    })
}
