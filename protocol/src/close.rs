//! WebSocket close codes the hub sends. 1000–1011 are RFC 6455's; 4000–4999 are Stagehand's.
//! The close frame's reason text is the code's `reason()` (a stable snake_case word), optionally
//! followed by `: ` and a human explanation.

/// A close code with its meaning for the client: reconnect or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// Hub shutting down or restarting: reconnect with jittered exponential back-off and rejoin
    /// with `since`.
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// The client broke the WebSocket protocol (an unmasked frame, reserved bits, a bad opcode…).
    /// Fix the client; do not reconnect on your own.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// A text frame was not valid UTF-8. Fix the client; do not reconnect on your own.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// A frame exceeded the hard size cap; the hub could not keep the stream in step.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// No `connect` with a token arrived in time, or none was given.
    pub const UNAUTHENTICATED: CloseCode = CloseCode(4001);
    /// The token's signature, format or claims are not valid. Do not retry with the same token.
    pub const INVALID_TOKEN: CloseCode = CloseCode(4002);
    /// The token expired (at connect or while connected). Get a new token, then reconnect.
    pub const TOKEN_EXPIRED: CloseCode = CloseCode(4003);
    /// The client did not answer pings in time. Reconnect with jittered exponential back-off.
    pub const HEARTBEAT_TIMEOUT: CloseCode = CloseCode(4004);
    /// Too many undecodable frames in a row.
    pub const PROTOCOL_ABUSE: CloseCode = CloseCode(4005);
    /// The client did not read fast enough and an event that must not be lost could not be queued.
    /// Reconnect with jittered exponential back-off and rejoin with `since`.
    pub const SLOW_CONSUMER: CloseCode = CloseCode(4008);
    /// The agency's LIVE Manager access was revoked (the link was ended) or never existed.
    pub const ACCESS_REVOKED: CloseCode = CloseCode(4010);
    /// The linking agreement, and with it the access, has ended.
    pub const ACCESS_EXPIRED: CloseCode = CloseCode(4011);
    /// The creator reported the agency; access is suspended until the creator resumes it.
    pub const ACCESS_SUSPENDED: CloseCode = CloseCode(4012);
    /// The hub is at its connection limit: reconnect later.
    pub const OVERLOADED: CloseCode = CloseCode(4013);
    /// The user already has `max_connections_per_user` connections open. Close one first; do not
    /// reconnect on your own.
    pub const TOO_MANY_CONNECTIONS: CloseCode = CloseCode(4014);

    /// The stable word sent as the close reason.
    pub fn reason(self) -> &'static str {
        match self.0 {
            1001 => "going_away",
            1002 => "protocol_error",
            1007 => "invalid_payload",
            1009 => "message_too_big",
            4001 => "unauthenticated",
            4002 => "invalid_token",
            4003 => "token_expired",
            4004 => "heartbeat_timeout",
            4005 => "protocol_abuse",
            4008 => "slow_consumer",
            4010 => "access_revoked",
            4011 => "access_expired",
            4012 => "access_suspended",
            4013 => "overloaded",
            4014 => "too_many_connections",
            _ => "closed",
        }
    }

    /// Whether a client should reconnect on its own after this close (with jittered exponential
    /// back-off). False for every code that reports a client bug or a refused token.
    pub fn should_reconnect(self) -> bool {
        matches!(self.0, 1001 | 4004 | 4008 | 4013)
    }
}

#[cfg(test)]
mod tests {
    use super::CloseCode;

    #[test]
    fn client_bugs_and_refused_tokens_are_not_retried_and_the_rest_are() {
        let reconnect = [CloseCode::GOING_AWAY, CloseCode::HEARTBEAT_TIMEOUT, CloseCode::SLOW_CONSUMER];
        assert!(reconnect.iter().all(|code| code.should_reconnect()));
        let bugs = [
            CloseCode::PROTOCOL_ERROR,
            CloseCode::INVALID_PAYLOAD,
            CloseCode::MESSAGE_TOO_BIG,
            CloseCode::PROTOCOL_ABUSE,
            CloseCode::INVALID_TOKEN,
        ];
        assert!(bugs.iter().all(|code| !code.should_reconnect()));
        assert_eq!(CloseCode::PROTOCOL_ERROR.reason(), "protocol_error");
        assert_eq!(CloseCode::INVALID_PAYLOAD.reason(), "invalid_payload");
    }
}
