//! The workload applications of real mode, over `mpquic-io`'s async streams. They speak the
//! same wire format as the simulator's (`crate::workload`): a request is `[id][response_bytes]`
//! plus padding and FIN on a bidirectional stream, the answer is `response_bytes` of the byte
//! pattern and FIN; the client checks every byte, and keeps the same records (start, completion,
//! bytes, corrupt bytes, deadline) and the same delivery-gap measure.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use mpquic_io::{Connection, RecvStream, SendStream};
use mpquic_proto::VarInt;

use crate::sim::Nanos;
use crate::workload::{
    decode_request_header, encode_request, pattern_chunk, pattern_mismatches, DeliveryGaps, RequestPlan, RequestRecord,
    Start, REQUEST_HEADER_BYTES,
};

/// Application error code of a stream whose request was malformed.
const BAD_REQUEST: u32 = 1;

/// Nanoseconds since `t0` (the run's start).
pub(super) fn since(t0: Instant) -> Nanos {
    t0.elapsed().as_nanos() as Nanos
}

/// What the client application has done so far.
#[derive(Debug, Default)]
pub(super) struct ClientState {
    /// One record per started request, in plan order.
    pub(super) records: Vec<RequestRecord>,
    /// Requests started and not finished.
    pub(super) open: usize,
    /// Longest time without response bytes while a request was open.
    pub(super) gaps: DeliveryGaps,
    /// The first request that failed, and why.
    pub(super) error: Option<String>,
    planned: usize,
}

impl ClientState {
    /// Every planned request finished.
    pub(super) fn all_done(&self) -> bool {
        self.records.len() == self.planned && self.records.iter().all(|r| r.completed_ns.is_some())
    }
}

/// The client application's state, shared with its tasks.
pub(super) type SharedClient = Arc<Mutex<ClientState>>;

fn lock(state: &SharedClient) -> MutexGuard<'_, ClientState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the client side of `plan` on `conn`: requests start at their plan time after `base`
/// (ns since `t0`) or as the window allows, each on its own stream.
pub(super) fn start_client(conn: Connection, plan: Vec<RequestPlan>, t0: Instant, base: Nanos) -> SharedClient {
    let state = Arc::new(Mutex::new(ClientState { planned: plan.len(), ..ClientState::default() }));
    let window = plan.iter().find_map(|p| match p.start {
        Start::Window(n) => Some(n.max(1) as usize),
        Start::At(_) => None,
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(window.unwrap_or(0)));
    let dispatcher_state = state.clone();
    tokio::spawn(async move {
        for (id, p) in plan.into_iter().enumerate() {
            let permit = match p.start {
                Start::At(t) => {
                    let at = t0 + std::time::Duration::from_nanos(base + t);
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    None
                }
                Start::Window(_) => match permits.clone().acquire_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => return,
                },
            };
            let now = since(t0);
            let index = {
                let mut st = lock(&dispatcher_state);
                let open = st.open;
                st.gaps.request_started(now, open);
                st.open += 1;
                st.records.push(RequestRecord::started(id as u64, now, &p));
                st.records.len() - 1
            };
            let (conn, state) = (conn.clone(), dispatcher_state.clone());
            tokio::spawn(async move {
                let result = request(&conn, index, &p, &state, t0).await;
                let now = since(t0);
                let mut st = lock(&state);
                st.open -= 1;
                st.gaps.progressed(now);
                if st.open == 0 {
                    st.gaps.idle();
                }
                if let Err(e) = result {
                    st.error.get_or_insert(format!("request {id}: {e}"));
                }
                drop(permit);
            });
        }
    });
    state
}

/// One request: send it, read the answer, check its bytes.
async fn request(
    conn: &Connection,
    index: usize,
    plan: &RequestPlan,
    state: &SharedClient,
    t0: Instant,
) -> Result<(), String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| format!("opening a stream: {e}"))?;
    let req = encode_request(index as u64, plan);
    send.write_all(&req).await.map_err(|e| format!("sending: {e}"))?;
    send.finish().map_err(|e| format!("finishing the request: {e}"))?;
    let mut offset = 0u64;
    loop {
        let chunk = recv.read_chunk(usize::MAX).await.map_err(|e| format!("receiving: {e}"))?;
        let now = since(t0);
        let mut st = lock(state);
        match chunk {
            Some(bytes) => {
                let r = &mut st.records[index];
                r.bytes += bytes.len() as u64;
                r.corrupt_bytes += pattern_mismatches(offset, &bytes);
                offset += bytes.len() as u64;
                if !bytes.is_empty() {
                    st.gaps.progressed(now);
                }
            }
            None => {
                st.records[index].completed_ns = Some(now);
                return Ok(());
            }
        }
    }
}

/// Serves every request of `conn` until it closes.
pub(super) async fn serve(conn: Connection) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        tokio::spawn(answer(send, recv));
    }
}

/// Reads a request to its end, then writes the bytes it asks for.
async fn answer(mut send: SendStream, mut recv: RecvStream) {
    let mut header = Vec::with_capacity(REQUEST_HEADER_BYTES);
    loop {
        match recv.read_chunk(usize::MAX).await {
            Ok(Some(chunk)) => {
                let take = (REQUEST_HEADER_BYTES - header.len()).min(chunk.len());
                header.extend_from_slice(&chunk[..take]);
            }
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let Some((_id, response_bytes)) = decode_request_header(&header) else {
        let _ = send.reset(VarInt::from_u32(BAD_REQUEST));
        return;
    };
    let mut written = 0u64;
    while written < response_bytes {
        let chunk = pattern_chunk(written, response_bytes - written);
        let n = chunk.len() as u64;
        if send.write_chunk(chunk).await.is_err() {
            return;
        }
        written += n;
    }
    let _ = send.finish();
}
