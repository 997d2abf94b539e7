//! The claims of the HS256 JWT a platform backend signs for each connection.

use crate::types::Role;
use serde::{Deserialize, Serialize};

/// Who holds the token. `exp` (seconds since the epoch) is required; agency tokens also name
/// their agency and the creator they work for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id of the holder (for agency tokens: the staff member).
    pub sub: String,
    /// Display name.
    pub name: String,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Agency tokens: the agency's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// Agency tokens: the agency's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_name: Option<String>,
    /// Agency tokens: the creator whose rooms this token may operate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
}
