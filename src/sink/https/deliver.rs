//! Delivering through the collector: each record encoded once in the protocol's envelope,
//! the pending ones planned into requests within the size budget (halved after a 413), each
//! request's answer read per record by the protocol, acknowledgements awaited where the
//! product has them, and the attempts left to `crate::retry::drive`. A 401/403 with a
//! Secrets Manager credential fetches the secret once more before giving up.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use tracing::{debug, warn};

use super::protocol::Answer;
use super::{HttpsSink, Req};
use crate::record::EncodedRecord;
use crate::retry::{Deadline, Report, Verdict, drive};
use crate::sink::transport::ResponseBody;
use crate::sink::{BoxFuture, Delivery, Sink, oversize, plan_subset};

/// What one `deliver` call shares between its attempts.
struct Run<'a> {
    pieces: &'a [Vec<u8>],
    costs: Vec<usize>,
    overhead: usize,
    deadline: Deadline,
    /// The body size the next requests are planned within; halved after a 413.
    budget: AtomicUsize,
    /// Fetch the secret again before the next request.
    refresh: AtomicBool,
    /// The secret was fetched again once already.
    refreshed: AtomicBool,
}

impl Sink for HttpsSink {
    fn name(&self) -> &'static str {
        "https"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let mut pieces: Vec<Vec<u8>> =
                records.iter().map(|r| self.protocol.encode(r)).collect();
            let frame = self.protocol.frame();
            let overhead = frame.open.len() + frame.close.len();
            let mut delivery = Delivery::default();
            let mut pending = Vec::with_capacity(records.len());
            // The product's per-event limit, within one request's.
            let limit = self
                .limits
                .max_item
                .min(self.limits.max_body.saturating_sub(overhead));
            for (i, (piece, record)) in pieces.iter_mut().zip(records).enumerate() {
                if piece.len() <= limit {
                    pending.push(i);
                    continue;
                }
                match self.shrink(record, piece, limit) {
                    Ok(()) => {
                        delivery.shrunk += 1;
                        pending.push(i);
                    }
                    Err(e) => delivery.failed.push((i, e)),
                }
            }
            let run = Run {
                costs: pieces
                    .iter()
                    .map(|p| p.len() + frame.separator.len())
                    .collect(),
                pieces: &pieces,
                overhead,
                deadline,
                budget: AtomicUsize::new(self.limits.max_body),
                refresh: AtomicBool::new(false),
                refreshed: AtomicBool::new(false),
            };
            let driven = drive(&self.backoff, deadline, "https", pending, |p| {
                self.attempt(&run, p)
            })
            .await;
            delivery.absorb(driven);
            delivery
        })
    }
}

impl HttpsSink {
    /// Replaces an encoded piece over `limit` by the shrunk record's (see
    /// `crate::sink::oversize`), or says why it cannot fit.
    fn shrink(
        &self,
        record: &EncodedRecord,
        piece: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), crate::sink::DeliveryError> {
        let envelope = piece.len().saturating_sub(record.json.len());
        let too_big = crate::sink::DeliveryError::Oversize {
            size: piece.len(),
            limit,
        };
        let Some(small) = oversize::fit(record, limit, envelope)? else {
            return Err(too_big);
        };
        let encoded = self.protocol.encode(&small);
        if encoded.len() > limit {
            return Err(too_big);
        }
        warn!(message = "Record over the destination's per-event limit: the raw finding was replaced by a note to fit.",
              finding_id = %record.id, size = piece.len(), limit, shrunk_to = encoded.len());
        *piece = encoded;
        Ok(())
    }

    /// The body of one request: the records' encoded pieces in the protocol's frame.
    fn body(&self, pieces: &[Vec<u8>], request: &[usize]) -> std::io::Result<Bytes> {
        let frame = self.protocol.frame();
        let mut raw = Vec::with_capacity(
            request
                .iter()
                .filter_map(|&i| pieces.get(i))
                .map(|p| p.len() + frame.separator.len())
                .sum::<usize>()
                + frame.open.len()
                + frame.close.len(),
        );
        raw.extend_from_slice(frame.open);
        for (n, piece) in request.iter().filter_map(|&i| pieces.get(i)).enumerate() {
            if n > 0 {
                raw.extend_from_slice(frame.separator);
            }
            raw.extend_from_slice(piece);
        }
        raw.extend_from_slice(frame.close);
        if !self.cfg.gzip {
            return Ok(Bytes::from(raw));
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(&raw)?;
        Ok(Bytes::from(gz.finish()?))
    }

    /// One attempt of the retry driver: the pending records planned into requests within
    /// the current size budget, each sent and its answer read per record.
    async fn attempt(&self, run: &Run<'_>, pending: Vec<usize>) -> Report {
        let budget = run.budget.load(Ordering::Relaxed);
        let (mut requests, alone) = plan_subset(
            &pending,
            &run.costs,
            run.overhead,
            budget,
            self.limits.max_items,
        );
        // Records over a budget shrunk by a 413 go on their own.
        requests.extend(alone.into_iter().map(|i| vec![i]));
        let mut report = Report::default();
        for request in requests {
            let (verdicts, retry_after) = self.send_request(run, &request).await;
            report.verdicts.extend(verdicts);
            report.retry_after = report.retry_after.max(retry_after);
        }
        report
    }

    async fn send_request(
        &self,
        run: &Run<'_>,
        request: &[usize],
    ) -> (Vec<(usize, Verdict)>, Option<Duration>) {
        let all = |v: Verdict| Report::all(request, &v).verdicts;
        if run.deadline.expired() {
            return (
                all(Verdict::Retry("no time left in this invocation".into())),
                None,
            );
        }
        let body = match self.body(run.pieces, request) {
            Ok(b) => b,
            Err(e) => return (all(Verdict::Failed(format!("gzip: {e}"))), None),
        };
        let refresh = run.refresh.swap(false, Ordering::Relaxed);
        let ends = match self.endpoints(refresh, run.deadline).await {
            Ok(e) => e,
            Err(e) => return (all(Verdict::Retry(e.to_string())), None),
        };
        let auth = match self.auth_headers(refresh, run.deadline).await {
            Ok(a) => a,
            // A credential refused for good (an Entra ID app's secret) fails at once.
            Err(e) if e.is_permanent() => return (all(Verdict::Failed(e.to_string())), None),
            Err(e) => return (all(Verdict::Retry(e.to_string())), None),
        };
        // Uncompressed, as the budget counts it.
        let sent_bytes = run.overhead
            + request
                .iter()
                .filter_map(|&i| run.costs.get(i))
                .sum::<usize>();
        let req = Req {
            post: true,
            uri: ends.endpoint.clone(),
            body,
            gzip: self.cfg.gzip,
            auth: &auth,
            answer_limit: self.protocol.max_answer(request.len()),
        };
        let ex = match self.exchange(req, run.deadline).await {
            Ok(ex) => ex,
            Err(v) => return (all(v), None),
        };
        let why = format!(
            "HTTP {}: {}",
            ex.status,
            self.excerpt(&ex.body, &auth, &ends.endpoint)
        );
        if let Some((verdict, wait)) = self
            .whole_request(run, &ex, request.len(), sent_bytes)
            .await
        {
            let verdict = match verdict {
                Verdict::Failed(_) => Verdict::Failed(why),
                _ => Verdict::Retry(why),
            };
            return (all(verdict), wait);
        }
        // What the collector said (HEC's `text`, an item's error) is scrubbed like a body.
        let clean = |v: Verdict| match v {
            Verdict::Retry(s) => Verdict::Retry(super::scrub(&s, &auth, &ends.endpoint)),
            Verdict::Failed(s) => Verdict::Failed(super::scrub(&s, &auth, &ends.endpoint)),
            Verdict::Delivered => Verdict::Delivered,
        };
        let verdicts = match self
            .protocol
            .read(ex.status, ex.body.bytes(), request.len(), &why)
        {
            Answer::All(v) => all(clean(v)),
            Answer::Each(vs) => request
                .iter()
                .copied()
                .zip(vs.into_iter().map(clean))
                .collect(),
            Answer::Pending { ack_id } => all(self
                .await_ack(ack_id, &auth, &ends.base, run.deadline)
                .await),
        };
        (verdicts, ex.retry_after)
    }

    /// An answer about the request as a whole, before any per-record reading: a refused
    /// credential (fetched again once when it is a secret), or a request too large for the
    /// collector or for its answer to be read (the next attempt sends smaller requests).
    /// The verdict's text is replaced by the caller's description of the answer.
    async fn whole_request(
        &self,
        run: &Run<'_>,
        ex: &super::Exchange,
        items: usize,
        sent_bytes: usize,
    ) -> Option<(Verdict, Option<Duration>)> {
        let unreadable = (200..300).contains(&ex.status) && ex.body == ResponseBody::TooLarge;
        match ex.status {
            401 | 403 | 404
                if (ex.status != 404 || self.url_is_secret())
                    && self.has_secret()
                    && !run.refreshed.swap(true, Ordering::Relaxed) =>
            {
                // The secrets may have been rotated: fetch them once more and retry now.
                let url = self.shown_url().await;
                warn!(message = "Collector refused the request; fetching the secrets again.", %url);
                run.refresh.store(true, Ordering::Relaxed);
                Some((Verdict::Retry(String::new()), Some(Duration::ZERO)))
            }
            401 | 403 => Some((Verdict::Failed(String::new()), None)),
            status if items > 1 && (status == 413 || unreadable) => {
                let half = (sent_bytes.max(run.overhead + 2) / 2).max(1024);
                run.budget.fetch_min(half, Ordering::Relaxed);
                Some((Verdict::Retry(String::new()), ex.retry_after))
            }
            _ => None,
        }
    }

    /// Polls the acknowledgement endpoint until `ack_id` is confirmed, for at most six
    /// request timeouts and never past the deadline. Unconfirmed means sent again.
    async fn await_ack(
        &self,
        ack_id: u64,
        auth: &[(HeaderName, HeaderValue)],
        base: &str,
        deadline: Deadline,
    ) -> Verdict {
        let Some((path, body)) = self.protocol.ack_poll(ack_id) else {
            return Verdict::Delivered;
        };
        let Ok(uri) = format!("{base}{path}").parse::<hyper::Uri>() else {
            return Verdict::Failed("acknowledgement URL could not be built".into());
        };
        let budget = deadline.clamp(self.cfg.timeout.saturating_mul(6));
        let until = Instant::now() + budget;
        let mut wait = Duration::from_millis(100);
        loop {
            let req = Req {
                post: true,
                uri: uri.clone(),
                body: Bytes::from(body.clone()),
                gzip: false,
                auth,
                answer_limit: crate::sink::transport::MAX_RESPONSE_BYTES,
            };
            if let Ok(ex) = self.exchange(req, deadline).await {
                if (200..300).contains(&ex.status) && self.protocol.acked(ex.body.bytes(), ack_id) {
                    return Verdict::Delivered;
                }
                debug!(
                    message = "Acknowledgement pending.",
                    ack_id,
                    status = ex.status
                );
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Verdict::Retry(format!(
                    "the collector did not confirm ackId {ack_id} within {} ms",
                    budget.as_millis()
                ));
            }
            tokio::time::sleep(wait.min(left)).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests;
