//! The `[workload]` table: what the application does, and how the table is read.
//!
//! A serde internally tagged enum (`kind = "bulk"`) buffers the table before it knows the variant,
//! and `toml` then reports every error inside it at the `[workload]` header. So the table is read
//! as one flat set of optional keys ([`WorkloadTable`]), where `toml` points type errors and
//! unknown keys at their own line, and then turned into a [`Workload`] of its `kind`: a key the
//! kind does not use, or a missing one, is a [`ValidationError`] naming the field
//! (`workload.interval_ms`), which [`Scenario::from_toml`](super::Scenario::from_toml) locates in
//! the text.

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// What the application does; the server sends, the client receives (downloads), except the
/// request side of request/response.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "WorkloadTable", tag = "kind", rename_all = "snake_case")]
pub enum Workload {
    /// One download of `bytes` on one stream.
    Bulk {
        /// Size of the download.
        bytes: u64,
    },
    /// `count` downloads of `bytes` each, `parallel` at a time.
    Files {
        /// Number of files.
        count: u32,
        /// Size of each.
        bytes: u64,
        /// Streams open at once (default 1).
        parallel: u32,
    },
    /// A request of `request_bytes` every `interval_ms`, answered with `response_bytes`.
    RequestResponse {
        /// Period between requests, ms.
        interval_ms: f64,
        /// Request size.
        request_bytes: u64,
        /// Response size.
        response_bytes: u64,
        /// Number of requests.
        count: u32,
    },
    /// Video-like chunks: one chunk of `bitrate_mbps x chunk_s` every `chunk_s`, each due
    /// `deadline_s` after its request.
    Video {
        /// Encoding bitrate, Mbit/s.
        bitrate_mbps: f64,
        /// Chunk duration, s.
        chunk_s: f64,
        /// Number of chunks.
        chunks: u32,
        /// Deadline after the request, s (default: `chunk_s`).
        deadline_s: Option<f64>,
    },
    /// Unreliable datagrams (RFC 9221) from server to client.
    Datagrams {
        /// Payload size.
        bytes: u64,
        /// Period, ms.
        interval_ms: f64,
        /// Number of datagrams.
        count: u32,
    },
}

/// The workload kinds, as written in `kind = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// [`Workload::Bulk`].
    Bulk,
    /// [`Workload::Files`].
    Files,
    /// [`Workload::RequestResponse`].
    RequestResponse,
    /// [`Workload::Video`].
    Video,
    /// [`Workload::Datagrams`].
    Datagrams,
}

impl WorkloadKind {
    fn name(self) -> &'static str {
        match self {
            Self::Bulk => "bulk",
            Self::Files => "files",
            Self::RequestResponse => "request_response",
            Self::Video => "video",
            Self::Datagrams => "datagrams",
        }
    }

    /// The keys a workload of this kind takes besides `kind`: (key, required).
    fn keys(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::Bulk => &[("bytes", true)],
            Self::Files => &[("count", true), ("bytes", true), ("parallel", false)],
            Self::RequestResponse => {
                &[("interval_ms", true), ("request_bytes", true), ("response_bytes", true), ("count", true)]
            }
            Self::Video => &[("bitrate_mbps", true), ("chunk_s", true), ("chunks", true), ("deadline_s", false)],
            Self::Datagrams => &[("bytes", true), ("interval_ms", true), ("count", true)],
        }
    }
}

/// Every key any workload kind takes, each optional: the form the `[workload]` table is read in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadTable {
    kind: Option<WorkloadKind>,
    bytes: Option<u64>,
    count: Option<u32>,
    parallel: Option<u32>,
    interval_ms: Option<f64>,
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
    bitrate_mbps: Option<f64>,
    chunk_s: Option<f64>,
    chunks: Option<u32>,
    deadline_s: Option<f64>,
}

impl WorkloadTable {
    fn present(&self) -> [(&'static str, bool); 10] {
        [
            ("bytes", self.bytes.is_some()),
            ("count", self.count.is_some()),
            ("parallel", self.parallel.is_some()),
            ("interval_ms", self.interval_ms.is_some()),
            ("request_bytes", self.request_bytes.is_some()),
            ("response_bytes", self.response_bytes.is_some()),
            ("bitrate_mbps", self.bitrate_mbps.is_some()),
            ("chunk_s", self.chunk_s.is_some()),
            ("chunks", self.chunks.is_some()),
            ("deadline_s", self.deadline_s.is_some()),
        ]
    }
}

fn field(key: &str) -> String {
    format!("workload.{key}")
}

impl TryFrom<WorkloadTable> for Workload {
    type Error = ValidationError;

    fn try_from(t: WorkloadTable) -> Result<Self, ValidationError> {
        let Some(kind) = t.kind else {
            return Err(ValidationError {
                field: field("kind"),
                problem: "missing: one of `bulk`, `files`, `request_response`, `video`, `datagrams`".into(),
            });
        };
        let keys = kind.keys();
        let listed = keys.iter().map(|(k, _)| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        for (key, present) in t.present() {
            if present && !keys.iter().any(|(k, _)| *k == key) {
                return Err(ValidationError {
                    field: field(key),
                    problem: format!("a `{}` workload does not take `{key}`; its keys: {listed}", kind.name()),
                });
            }
        }
        let present = t.present();
        if let Some((key, _)) = keys.iter().find(|(k, required)| *required && !present.iter().any(|p| p == &(*k, true)))
        {
            return Err(ValidationError {
                field: field(key),
                problem: format!("missing: a `{}` workload needs {listed}", kind.name()),
            });
        }
        // Every required key was checked present just above; `unwrap_or_default` only keeps the
        // conversion free of panics.
        Ok(match kind {
            WorkloadKind::Bulk => Workload::Bulk { bytes: t.bytes.unwrap_or_default() },
            WorkloadKind::Files => Workload::Files {
                count: t.count.unwrap_or_default(),
                bytes: t.bytes.unwrap_or_default(),
                parallel: t.parallel.unwrap_or(1),
            },
            WorkloadKind::RequestResponse => Workload::RequestResponse {
                interval_ms: t.interval_ms.unwrap_or_default(),
                request_bytes: t.request_bytes.unwrap_or_default(),
                response_bytes: t.response_bytes.unwrap_or_default(),
                count: t.count.unwrap_or_default(),
            },
            WorkloadKind::Video => Workload::Video {
                bitrate_mbps: t.bitrate_mbps.unwrap_or_default(),
                chunk_s: t.chunk_s.unwrap_or_default(),
                chunks: t.chunks.unwrap_or_default(),
                deadline_s: t.deadline_s,
            },
            WorkloadKind::Datagrams => Workload::Datagrams {
                bytes: t.bytes.unwrap_or_default(),
                interval_ms: t.interval_ms.unwrap_or_default(),
                count: t.count.unwrap_or_default(),
            },
        })
    }
}
