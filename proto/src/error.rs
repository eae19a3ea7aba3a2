//! Transport errors (RFC 9000 §20.1) and the error a peer is sent in CONNECTION_CLOSE.

use core::fmt;

use thiserror::Error;

use crate::shared::FrameType;

/// A transport error code (RFC 9000 §20.1; multipath codes from RFC 10069 §7).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransportErrorCode(pub u64);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        impl TransportErrorCode {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The RFC's name of the code, if it is a known one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    0x0100..=0x01ff => Some("CRYPTO_ERROR"),
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// The connection is closed abruptly in the absence of any error.
    NO_ERROR = 0x00,
    /// The endpoint hit an internal error.
    INTERNAL_ERROR = 0x01,
    /// The server refuses to accept a new connection.
    CONNECTION_REFUSED = 0x02,
    /// More data was received than flow control permitted.
    FLOW_CONTROL_ERROR = 0x03,
    /// A stream was opened beyond the advertised stream limit.
    STREAM_LIMIT_ERROR = 0x04,
    /// A frame was received for a stream in a state that does not permit it.
    STREAM_STATE_ERROR = 0x05,
    /// A final size changed or data was received past it.
    FINAL_SIZE_ERROR = 0x06,
    /// A frame was badly formatted.
    FRAME_ENCODING_ERROR = 0x07,
    /// Transport parameters were malformed, invalid, absent or repeated.
    TRANSPORT_PARAMETER_ERROR = 0x08,
    /// More connection IDs were provided than active_connection_id_limit allows.
    CONNECTION_ID_LIMIT_ERROR = 0x09,
    /// A generic protocol violation.
    PROTOCOL_VIOLATION = 0x0a,
    /// A Retry or NEW_TOKEN token was invalid.
    INVALID_TOKEN = 0x0b,
    /// The application or application protocol caused the connection to close.
    APPLICATION_ERROR = 0x0c,
    /// More data was received in CRYPTO frames than can be buffered.
    CRYPTO_BUFFER_EXCEEDED = 0x0d,
    /// A key update error was detected.
    KEY_UPDATE_ERROR = 0x0e,
    /// The AEAD confidentiality or integrity limit was reached.
    AEAD_LIMIT_REACHED = 0x0f,
    /// No viable network path exists.
    NO_VIABLE_PATH = 0x10,
    /// RFC 10069 §7: the peer abandoned a path for an application reason
    /// (a PATH_ABANDON error code).
    APPLICATION_ABANDON_PATH = 0x3e,
    /// RFC 10069 §7: a path exceeded a resource limit.
    PATH_RESOURCE_LIMIT_REACHED = 0x3e75,
    /// RFC 10069 §7: the path is unstable or of poor quality.
    PATH_UNSTABLE_OR_POOR = 0x3e76,
    /// RFC 10069 §7: no connection ID is available for the path.
    NO_CID_AVAILABLE_FOR_PATH = 0x3e77,
}

impl TransportErrorCode {
    /// RFC 9000 §20.1: a TLS alert `alert` maps to 0x0100 + alert.
    pub fn crypto(alert: u8) -> Self {
        Self(0x100 | u64::from(alert))
    }
}

impl fmt::Debug for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) if (0x100..=0x1ff).contains(&self.0) => write!(f, "{name}({:#x})", self.0 & 0xff),
            Some(name) => f.write_str(name),
            None => write!(f, "unknown error {:#x}", self.0),
        }
    }
}

impl fmt::Display for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Something the peer did wrong, reported to it in a CONNECTION_CLOSE of type 0x1c
/// (RFC 9000 §19.19): the code, the frame that caused it, and a reason for humans.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}{}: {reason}", frame.map(|f| format!(" in {f:?}")).unwrap_or_default())]
pub struct TransportError {
    /// The error code.
    pub code: TransportErrorCode,
    /// The type of the frame that triggered the error, if one did.
    pub frame: Option<FrameType>,
    /// Why, in words.
    pub reason: String,
}

impl TransportError {
    /// An error with `code` and `reason`.
    pub fn new(code: TransportErrorCode, reason: impl Into<String>) -> Self {
        Self { code, frame: None, reason: reason.into() }
    }

    /// The same error, attributed to `frame`.
    pub fn with_frame(mut self, frame: FrameType) -> Self {
        self.frame = Some(frame);
        self
    }
}

macro_rules! shorthand {
    ($($fn_name:ident => $code:ident,)*) => {
        #[allow(non_snake_case)]
        impl TransportError {
            $(
                #[doc = concat!("A `", stringify!($code), "` error.")]
                pub fn $fn_name(reason: impl Into<String>) -> Self {
                    Self::new(TransportErrorCode::$code, reason)
                }
            )*
        }
    };
}

shorthand! {
    INTERNAL_ERROR => INTERNAL_ERROR,
    CONNECTION_REFUSED => CONNECTION_REFUSED,
    FLOW_CONTROL_ERROR => FLOW_CONTROL_ERROR,
    STREAM_LIMIT_ERROR => STREAM_LIMIT_ERROR,
    STREAM_STATE_ERROR => STREAM_STATE_ERROR,
    FINAL_SIZE_ERROR => FINAL_SIZE_ERROR,
    FRAME_ENCODING_ERROR => FRAME_ENCODING_ERROR,
    TRANSPORT_PARAMETER_ERROR => TRANSPORT_PARAMETER_ERROR,
    CONNECTION_ID_LIMIT_ERROR => CONNECTION_ID_LIMIT_ERROR,
    PROTOCOL_VIOLATION => PROTOCOL_VIOLATION,
    INVALID_TOKEN => INVALID_TOKEN,
    CRYPTO_BUFFER_EXCEEDED => CRYPTO_BUFFER_EXCEEDED,
    KEY_UPDATE_ERROR => KEY_UPDATE_ERROR,
    AEAD_LIMIT_REACHED => AEAD_LIMIT_REACHED,
    NO_VIABLE_PATH => NO_VIABLE_PATH,
}

/// Why a connection ended, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectionError {
    /// The peer does not speak any version we offered (RFC 9000 §6).
    #[error("the peer does not support our QUIC version")]
    VersionMismatch,
    /// We detected a protocol error and closed the connection with it. (Not marked as the
    /// error's source: the message already contains it, and error chains would print it twice.)
    #[error("closed locally after a transport error: {0}")]
    TransportError(TransportError),
    /// The peer closed the connection with a transport error code.
    #[error("closed by peer: {code}{}", if reason.is_empty() { String::new() } else { format!(" ({reason})") })]
    ConnectionClosed {
        /// The peer's error code.
        code: TransportErrorCode,
        /// The peer's reason phrase.
        reason: String,
    },
    /// The peer's application closed the connection.
    #[error("closed by peer application: error {code}{}", if reason.is_empty() { String::new() } else { format!(" ({reason})") })]
    ApplicationClosed {
        /// The application error code.
        code: u64,
        /// The reason phrase.
        reason: String,
    },
    /// The peer sent a stateless reset (RFC 9000 §10.3).
    #[error("reset by peer")]
    Reset,
    /// No packet arrived within the idle timeout (RFC 9000 §10.1).
    #[error("timed out")]
    TimedOut,
    /// The local application closed the connection.
    #[error("closed locally")]
    LocallyClosed,
}

impl From<TransportError> for ConnectionError {
    fn from(e: TransportError) -> Self {
        Self::TransportError(e)
    }
}
