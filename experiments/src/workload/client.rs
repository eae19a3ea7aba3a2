//! The client application: starts requests by plan, reads responses, records completion times
//! and datagram arrivals.

use std::collections::BTreeMap;

use mpquic_proto::{Connection, Dir, StreamId};
use serde::Serialize;

use super::gaps::DeliveryGaps;
use super::plan::{RequestPlan, Start};
use crate::sim::Nanos;

/// The outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Request number.
    pub id: u64,
    /// Start, ns since the run began.
    pub started_ns: Nanos,
    /// Last response byte read, ns since the run began; `None` if unfinished.
    pub completed_ns: Option<Nanos>,
    /// Response bytes received.
    pub bytes: u64,
    /// Response size asked for.
    pub expected_bytes: u64,
    /// Response bytes that differ from the pattern the server sends (must be 0).
    pub corrupt_bytes: u64,
    /// Deadline, ns since the run began (video).
    pub deadline_ns: Option<Nanos>,
}

impl RequestRecord {
    /// Request `id` of `plan`, started at `now`.
    pub fn started(id: u64, now: Nanos, plan: &RequestPlan) -> Self {
        Self {
            id,
            started_ns: now,
            completed_ns: None,
            bytes: 0,
            expected_bytes: plan.response_bytes,
            corrupt_bytes: 0,
            deadline_ns: plan.deadline.map(|d| now + d),
        }
    }
}

/// Datagrams received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DatagramRecord {
    /// Datagrams received (duplicates counted once are not distinguished).
    pub received: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Sum of one-way delays, ns.
    pub delay_sum_ns: u64,
    /// Largest one-way delay, ns.
    pub delay_max_ns: u64,
}

/// The client side of a workload.
#[derive(Debug)]
pub struct ClientApp {
    plan: Vec<RequestPlan>,
    next: usize,
    /// Time the connection became usable; plan times count from here.
    base: Option<Nanos>,
    /// The peer's stream limit stopped the last request from starting: the next one waits for
    /// MAX_STREAMS (an input to the connection, after which the driver calls `drive`), not for
    /// a time.
    blocked_on_streams: bool,
    open: BTreeMap<StreamId, usize>,
    /// Requests (record indexes) to issue again on a new connection.
    reissue: Vec<usize>,
    /// One record per started request, by request number.
    pub records: Vec<RequestRecord>,
    /// Datagram flow results.
    pub datagrams: DatagramRecord,
    /// The longest time without response bytes while a request was open.
    pub gaps: DeliveryGaps,
}

impl ClientApp {
    /// A client that will issue `plan`.
    pub fn new(plan: Vec<RequestPlan>) -> Self {
        Self {
            plan,
            next: 0,
            base: None,
            blocked_on_streams: false,
            open: BTreeMap::new(),
            reissue: Vec::new(),
            records: Vec::new(),
            datagrams: DatagramRecord::default(),
            gaps: DeliveryGaps::default(),
        }
    }

    /// Every planned request finished.
    pub fn all_done(&self) -> bool {
        self.next == self.plan.len() && self.reissue.is_empty() && self.records.iter().all(|r| r.completed_ns.is_some())
    }

    /// Response bytes received so far, over all requests.
    pub fn bytes_received(&self) -> u64 {
        self.records.iter().map(|r| r.bytes).sum()
    }

    /// Next time a request is due by its plan (the driver wakes the app then).
    pub fn next_wakeup(&self) -> Option<Nanos> {
        // A due request that found no stream would give a wake-up time in the past, on which
        // the simulator would spin (issue 18: found by the chaos scenario, where flapping makes
        // more than the 100 streams of the initial limit outstanding).
        if self.blocked_on_streams {
            return None;
        }
        let base = self.base?;
        match self.plan.get(self.next)?.start {
            Start::At(t) => Some(base + t),
            Start::Window(_) => None,
        }
    }

    /// The connection is gone and a new one replaces it: the open requests are issued again on
    /// the new connection from the start (their bytes so far do not count).
    pub fn reconnect(&mut self) {
        let open: Vec<usize> = core::mem::take(&mut self.open).into_values().collect();
        self.reissue.extend(open);
    }

    /// Starts due requests and reads what arrived. Call after every input to the connection.
    /// Before the handshake completes only a connection that can send 0-RTT is used.
    pub fn drive(&mut self, now: Nanos, conn: &mut Connection) {
        let early = matches!(conn.zero_rtt(), mpquic_proto::ZeroRttStatus::Pending { .. });
        if (conn.is_handshaking() && !early) || conn.is_closed() {
            return;
        }
        let base = *self.base.get_or_insert(now);
        while let Some(&rec) = self.reissue.first() {
            let Some(stream) = conn.open_stream(Dir::Bi) else { break };
            let r = &mut self.records[rec];
            let Some(p) = self.plan.get(r.id as usize).copied() else {
                self.reissue.remove(0);
                continue;
            };
            let req = super::encode_request(r.id, &p);
            let _ = conn.write(stream, &req);
            let _ = conn.finish(stream);
            r.bytes = 0;
            r.corrupt_bytes = 0;
            self.open.insert(stream, rec);
            self.reissue.remove(0);
        }
        while let Some(p) = self.plan.get(self.next).copied() {
            let due = match p.start {
                Start::At(t) => base + t <= now,
                Start::Window(n) => (self.open.len() as u32) < n,
            };
            if !due {
                break;
            }
            let Some(stream) = conn.open_stream(Dir::Bi) else {
                self.blocked_on_streams = true;
                break;
            };
            self.blocked_on_streams = false;
            let id = self.next as u64;
            let req = super::encode_request(id, &p);
            // The request is small next to the initial stream window: it fits at once.
            let _ = conn.write(stream, &req);
            let _ = conn.finish(stream);
            self.gaps.request_started(now, self.open.len());
            self.open.insert(stream, self.records.len());
            self.records.push(RequestRecord::started(id, now, &p));
            self.next += 1;
        }
        let mut finished = Vec::new();
        let mut progressed = false;
        for (&stream, &rec) in &self.open {
            loop {
                match conn.read(stream, usize::MAX) {
                    Ok(Some(chunk)) => {
                        progressed |= !chunk.bytes.is_empty();
                        let r = &mut self.records[rec];
                        r.bytes += chunk.bytes.len() as u64;
                        r.corrupt_bytes += super::pattern_mismatches(chunk.offset, &chunk.bytes);
                    }
                    Ok(None) => {
                        self.records[rec].completed_ns = Some(now);
                        finished.push(stream);
                        break;
                    }
                    Err(mpquic_proto::ReadError::Blocked) => break,
                    Err(_) => {
                        finished.push(stream);
                        break;
                    }
                }
            }
        }
        if progressed || !finished.is_empty() {
            self.gaps.progressed(now);
        }
        for s in finished {
            self.open.remove(&s);
        }
        if self.open.is_empty() {
            self.gaps.idle();
        }
        while let Some(d) = conn.recv_datagram() {
            self.datagrams.received += 1;
            self.datagrams.bytes += d.len() as u64;
            if d.len() >= 16 {
                let sent = u64::from_be_bytes(d[8..16].try_into().unwrap_or([0; 8]));
                let delay = now.saturating_sub(sent);
                self.datagrams.delay_sum_ns += delay;
                self.datagrams.delay_max_ns = self.datagrams.delay_max_ns.max(delay);
            }
        }
    }
}
