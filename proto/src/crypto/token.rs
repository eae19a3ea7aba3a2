//! Address-validation tokens (RFC 9000 §8.1.3, §8.1.4) and stateless reset tokens
//! (RFC 9000 §10.3.2).
//!
//! A server proves that a client owns its address by sending it a token the client must echo:
//! in a Retry packet (valid for one connection attempt, bound to the full socket address and to
//! the connection IDs of that attempt) or in a NEW_TOKEN frame (for a later connection, bound
//! only to the client's IP address since its port is likely to change). Both are sealed with an
//! AEAD key only the server holds, so they need no state on the server.
//!
//! Token layout: `kind (1) | nonce (12) | AES-256-GCM(plaintext) | tag (16)`, with the kind byte
//! as associated data so that a NEW_TOKEN token can never pass as a Retry token or the reverse.
//! Plaintext: `issued (u64 ns, the driver's clock) | family (1) | IP (4 or 16) | [port (2) |
//! odcid_len (1) | odcid | retry_scid_len (1) | retry_scid]` (the bracketed part for Retry only).
//!
//! All secrets and nonces come from a caller-provided RNG; nothing here reads the OS.

use core::fmt;
use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rand::RngCore;
use ring::{aead, hkdf, hmac};
use thiserror::Error;

use crate::shared::{ConnectionId, ResetToken, MAX_CID_SIZE, RESET_TOKEN_SIZE};
use crate::Instant;

/// The static key an endpoint derives its stateless reset tokens from (RFC 9000 §10.3.2).
///
/// The token of a connection ID is HMAC-SHA256(key, CID) truncated to 16 bytes, so an endpoint
/// that lost all connection state (a restart with the same key) still computes the token it
/// once advertised for a CID, and an observer cannot predict tokens without the key.
pub struct ResetKey(hmac::Key);

impl ResetKey {
    /// A key from a secret the endpoint keeps across restarts (at least 32 bytes recommended).
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// A fresh random key. Tokens then do not survive a restart of the endpoint.
    #[cfg(any(test, feature = "internals"))]
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::new(&secret)
    }

    /// The stateless reset token for connection ID `cid`.
    pub fn token(&self, cid: &ConnectionId) -> ResetToken {
        let tag = hmac::sign(&self.0, cid);
        let mut out = [0u8; RESET_TOKEN_SIZE];
        out.copy_from_slice(&tag.as_ref()[..RESET_TOKEN_SIZE]);
        ResetToken(out)
    }
}

impl fmt::Debug for ResetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetKey(..)")
    }
}

/// Which frame or packet a token was issued in (RFC 9000 §8.1.1: a server must tell them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Sent in a Retry packet; valid for the very next Initial.
    Retry,
    /// Sent in a NEW_TOKEN frame; valid for a future connection.
    NewToken,
}

impl TokenKind {
    fn byte(self) -> u8 {
        match self {
            TokenKind::Retry => 0x01,
            TokenKind::NewToken => 0x02,
        }
    }
}

/// What a valid token tells the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidToken {
    /// A Retry token: the client's address is validated, and the connection IDs of the attempt
    /// are to be checked against the client's transport parameters (RFC 9000 §7.3).
    Retry {
        /// The Destination Connection ID of the client's first Initial.
        original_dcid: ConnectionId,
        /// The Source Connection ID the server put in the Retry packet.
        retry_scid: ConnectionId,
    },
    /// A NEW_TOKEN token: the client's IP address is validated.
    NewToken,
}

/// Why a token was not accepted.
///
/// RFC 9000 §8.1.3: a server that receives an invalid NEW_TOKEN token should just proceed as if
/// there were none (possibly sending a Retry); an invalid Retry token in an otherwise valid
/// Initial may close the connection with INVALID_TOKEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Not a token of ours: wrong length, unknown kind, or authentication failed.
    #[error("token is not one this endpoint issued")]
    Invalid,
    /// A genuine token, too old (or dated in the future).
    #[error("token has expired")]
    Expired,
    /// A genuine token, issued to another address.
    #[error("token was issued to another client address")]
    AddressMismatch,
}

const TOKEN_NONCE_LEN: usize = 12;
const TOKEN_TAG_LEN: usize = 16;
/// Largest plaintext: issued + family + IPv6 + port + two CIDs with their lengths.
const MAX_PLAINTEXT_LEN: usize = 8 + 1 + 16 + 2 + 2 * (1 + MAX_CID_SIZE);

/// Issues and validates address-validation tokens with a key only this server knows.
pub struct TokenKey {
    key: aead::LessSafeKey,
    /// How long a Retry token stays valid (RFC 9000 §8.1.3: short, as the client answers a Retry
    /// within one round trip).
    pub retry_lifetime: Duration,
    /// How long a NEW_TOKEN token stays valid.
    pub new_token_lifetime: Duration,
}

impl TokenKey {
    /// Default Retry token lifetime.
    pub const DEFAULT_RETRY_LIFETIME: Duration = Duration::from_secs(15);
    /// Default NEW_TOKEN token lifetime.
    pub const DEFAULT_NEW_TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 24 * 60 * 60);

    /// A key derived (HKDF-SHA256) from `master_secret`, with the default lifetimes. Servers of
    /// one deployment that share the secret accept each other's tokens.
    pub fn new(master_secret: &[u8]) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"mpquic address validation token");
        let prk = salt.extract(master_secret);
        let mut key_bytes = [0u8; 32];
        // Expanding 32 bytes of SHA-256 output cannot fail.
        prk.expand(&[b"aes-256-gcm key"], &aead::AES_256_GCM)
            .and_then(|okm| okm.fill(&mut key_bytes))
            .expect("HKDF-SHA256 can produce 32 bytes");
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &key_bytes).expect("32-byte AES-256 key");
        Self {
            key: aead::LessSafeKey::new(unbound),
            retry_lifetime: Self::DEFAULT_RETRY_LIFETIME,
            new_token_lifetime: Self::DEFAULT_NEW_TOKEN_LIFETIME,
        }
    }

    /// A key from a fresh random secret.
    #[cfg(any(test, feature = "internals"))]
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Self::new(&secret)
    }

    /// A token for a Retry packet (RFC 9000 §8.1.2) sent to `client` at `now`, in answer to an
    /// Initial with Destination Connection ID `original_dcid`; `retry_scid` is the Source
    /// Connection ID of the Retry.
    pub fn seal_retry_token(
        &self,
        rng: &mut impl RngCore,
        client: SocketAddr,
        now: Instant,
        original_dcid: &ConnectionId,
        retry_scid: &ConnectionId,
    ) -> Vec<u8> {
        let mut plain = [0u8; MAX_PLAINTEXT_LEN];
        let mut w = Writer { buf: &mut plain, len: 0 };
        w.put(&now.as_nanos().to_be_bytes());
        w.put_ip(client.ip());
        w.put(&client.port().to_be_bytes());
        w.put(&[original_dcid.len() as u8]);
        w.put(original_dcid);
        w.put(&[retry_scid.len() as u8]);
        w.put(retry_scid);
        let len = w.len;
        self.seal(rng, TokenKind::Retry, &plain[..len])
    }

    /// A token for a NEW_TOKEN frame (RFC 9000 §8.1.3) for a client at `client_ip`, at `now`.
    pub fn seal_new_token(&self, rng: &mut impl RngCore, client_ip: IpAddr, now: Instant) -> Vec<u8> {
        let mut plain = [0u8; MAX_PLAINTEXT_LEN];
        let mut w = Writer { buf: &mut plain, len: 0 };
        w.put(&now.as_nanos().to_be_bytes());
        w.put_ip(client_ip);
        let len = w.len;
        self.seal(rng, TokenKind::NewToken, &plain[..len])
    }

    fn seal(&self, rng: &mut impl RngCore, kind: TokenKind, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; TOKEN_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(1 + TOKEN_NONCE_LEN + plain.len() + TOKEN_TAG_LEN);
        out.push(kind.byte());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let kind_byte = [kind.byte()];
        let tag = self
            .key
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&kind_byte[..]),
                &mut out[1 + TOKEN_NONCE_LEN..],
            )
            .expect("token plaintext is far below the AES-GCM length limit");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Checks a token received in a client Initial from `client` at `now`: that this server
    /// issued it, that it is not older than the lifetime of its kind, and that it was issued to
    /// this client (the full socket address for Retry tokens, the IP for NEW_TOKEN tokens).
    pub fn validate(&self, token: &[u8], client: SocketAddr, now: Instant) -> Result<ValidToken, TokenError> {
        if token.len() < 1 + TOKEN_NONCE_LEN + TOKEN_TAG_LEN
            || token.len() > 1 + TOKEN_NONCE_LEN + MAX_PLAINTEXT_LEN + TOKEN_TAG_LEN
        {
            return Err(TokenError::Invalid);
        }
        let kind = match token[0] {
            0x01 => TokenKind::Retry,
            0x02 => TokenKind::NewToken,
            _ => return Err(TokenError::Invalid),
        };
        let mut nonce = [0u8; TOKEN_NONCE_LEN];
        nonce.copy_from_slice(&token[1..1 + TOKEN_NONCE_LEN]);
        let mut sealed = [0u8; MAX_PLAINTEXT_LEN + TOKEN_TAG_LEN];
        let sealed_len = token.len() - 1 - TOKEN_NONCE_LEN;
        sealed[..sealed_len].copy_from_slice(&token[1 + TOKEN_NONCE_LEN..]);
        let plain = self
            .key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&token[..1]),
                &mut sealed[..sealed_len],
            )
            .map_err(|_| TokenError::Invalid)?;

        // Authenticated from here on, but still parsed defensively.
        let mut r = Reader(plain);
        let issued = Instant::from_nanos(u64::from_be_bytes(r.array::<8>()?));
        let ip = r.ip()?;
        let lifetime = match kind {
            TokenKind::Retry => self.retry_lifetime,
            TokenKind::NewToken => self.new_token_lifetime,
        };
        // RFC 9000 §8.1.3: tokens carry an expiry; one from the future is not trusted either.
        if issued > now || now - issued > lifetime {
            return Err(TokenError::Expired);
        }
        match kind {
            TokenKind::NewToken => {
                r.end()?;
                if ip != client.ip().to_canonical() {
                    return Err(TokenError::AddressMismatch);
                }
                Ok(ValidToken::NewToken)
            }
            TokenKind::Retry => {
                let port = u16::from_be_bytes(r.array::<2>()?);
                let original_dcid = r.cid()?;
                let retry_scid = r.cid()?;
                r.end()?;
                if SocketAddr::new(ip, port) != SocketAddr::new(client.ip().to_canonical(), client.port()) {
                    return Err(TokenError::AddressMismatch);
                }
                Ok(ValidToken::Retry { original_dcid, retry_scid })
            }
        }
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("retry_lifetime", &self.retry_lifetime)
            .field("new_token_lifetime", &self.new_token_lifetime)
            .finish_non_exhaustive()
    }
}

/// Appends to a fixed buffer sized for the largest plaintext.
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn put_ip(&mut self, ip: IpAddr) {
        // IPv4-mapped IPv6 addresses (dual-stack sockets) are stored as IPv4 so that a client
        // seen through either socket family matches.
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                self.put(&[4]);
                self.put(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.put(&[6]);
                self.put(&v6.octets());
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], TokenError> {
        if self.0.len() < n {
            return Err(TokenError::Invalid);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TokenError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn ip(&mut self) -> Result<IpAddr, TokenError> {
        match self.array::<1>()?[0] {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => Err(TokenError::Invalid),
        }
    }

    fn cid(&mut self) -> Result<ConnectionId, TokenError> {
        let len = usize::from(self.array::<1>()?[0]);
        let bytes = self.take(len)?;
        ConnectionId::new(bytes).ok_or(TokenError::Invalid)
    }

    fn end(&self) -> Result<(), TokenError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(TokenError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn cid(b: &[u8]) -> ConnectionId {
        ConnectionId::new(b).unwrap()
    }

    #[test]
    fn retry_token_round_trip_and_checks() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let key = TokenKey::random(&mut rng);
        let client = addr("192.0.2.1:4433");
        let t0 = Instant::from_nanos(1_000_000_000);
        let (odcid, rscid) = (cid(&[1, 2, 3, 4, 5, 6, 7, 8]), cid(&[9; 20]));
        let token = key.seal_retry_token(&mut rng, client, t0, &odcid, &rscid);
        let ok = key.validate(&token, client, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(ok, ValidToken::Retry { original_dcid: odcid, retry_scid: rscid });

        // Port matters for Retry tokens.
        assert_eq!(key.validate(&token, addr("192.0.2.1:4434"), t0), Err(TokenError::AddressMismatch));
        assert_eq!(key.validate(&token, addr("192.0.2.2:4433"), t0), Err(TokenError::AddressMismatch));
        assert_eq!(key.validate(&token, client, t0 + Duration::from_secs(16)), Err(TokenError::Expired));
        assert_eq!(key.validate(&token, client, t0 - Duration::from_secs(1)), Err(TokenError::Expired));
        // Another server's key, or any flipped bit, fails authentication.
        let other = TokenKey::random(&mut rng);
        assert_eq!(other.validate(&token, client, t0), Err(TokenError::Invalid));
        for i in 0..token.len() {
            let mut bad = token.clone();
            bad[i] ^= 0x80;
            assert_eq!(key.validate(&bad, client, t0), Err(TokenError::Invalid), "byte {i}");
        }
    }

    #[test]
    fn new_token_binds_ip_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let key = TokenKey::new(b"a shared deployment secret of enough length");
        let t0 = Instant::from_nanos(5);
        let token = key.seal_new_token(&mut rng, "2001:db8::1".parse().unwrap(), t0);
        assert_eq!(key.validate(&token, addr("[2001:db8::1]:1"), t0), Ok(ValidToken::NewToken));
        assert_eq!(key.validate(&token, addr("[2001:db8::1]:999"), t0), Ok(ValidToken::NewToken));
        assert_eq!(key.validate(&token, addr("[2001:db8::2]:1"), t0), Err(TokenError::AddressMismatch));
        let late = t0 + TokenKey::DEFAULT_NEW_TOKEN_LIFETIME + Duration::from_nanos(1);
        assert_eq!(key.validate(&token, addr("[2001:db8::1]:1"), late), Err(TokenError::Expired));
        // Same secret on another server instance accepts it.
        let twin = TokenKey::new(b"a shared deployment secret of enough length");
        assert_eq!(twin.validate(&token, addr("[2001:db8::1]:1"), t0), Ok(ValidToken::NewToken));
        // An IPv4-mapped address matches the IPv4 one.
        let token = key.seal_new_token(&mut rng, "198.51.100.7".parse().unwrap(), t0);
        assert_eq!(key.validate(&token, addr("[::ffff:198.51.100.7]:9"), t0), Ok(ValidToken::NewToken));
    }

    #[test]
    fn kinds_cannot_be_swapped() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let key = TokenKey::random(&mut rng);
        let client = addr("192.0.2.1:4433");
        let mut token = key.seal_new_token(&mut rng, client.ip(), Instant::ZERO);
        token[0] = 0x01;
        assert_eq!(key.validate(&token, client, Instant::ZERO), Err(TokenError::Invalid));
        assert_eq!(key.validate(&[], client, Instant::ZERO), Err(TokenError::Invalid));
        assert_eq!(key.validate(&[0x01; 29], client, Instant::ZERO), Err(TokenError::Invalid));
        assert_eq!(key.validate(&[0x02; 500], client, Instant::ZERO), Err(TokenError::Invalid));
    }

    #[test]
    fn tokens_use_fresh_nonces() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let key = TokenKey::random(&mut rng);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = key.seal_new_token(&mut rng, ip, Instant::ZERO);
        let b = key.seal_new_token(&mut rng, ip, Instant::ZERO);
        assert_ne!(a, b);
    }

    #[test]
    fn reset_tokens_are_deterministic_per_key_and_cid() {
        let key = ResetKey::new(&[7; 32]);
        let a = key.token(&cid(&[1, 2, 3]));
        assert_eq!(a, key.token(&cid(&[1, 2, 3])));
        assert_ne!(a, key.token(&cid(&[1, 2, 4])));
        assert_ne!(a, ResetKey::new(&[8; 32]).token(&cid(&[1, 2, 3])));
        // HMAC-SHA256 truncated to 16 bytes, checked against ring directly.
        let full = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]), &[1, 2, 3]);
        assert_eq!(&a.0[..], &full.as_ref()[..16]);
        assert!(a.constant_time_eq(&a.0));
        assert!(!a.constant_time_eq(&[0; 16]));
        assert!(!a.constant_time_eq(&a.0[..15]));
    }

    proptest::proptest! {
        #[test]
        fn validating_garbage_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
        ) {
            let key = TokenKey::new(b"k");
            let _ = key.validate(&bytes, addr("192.0.2.1:1"), Instant::from_nanos(1));
        }
    }
}
