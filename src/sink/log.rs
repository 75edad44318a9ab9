//! The log-stream destination (`LOG_RECORDS=true`, and the CLI's default): each record as
//! one JSON line on stdout, which in Lambda is the function's CloudWatch log stream.

use std::io::Write;

use super::{BoxFuture, Delivery, DeliveryError, Sink};
use crate::record::EncodedRecord;
use crate::retry::Deadline;

#[derive(Debug, Default)]
pub struct LogSink;

impl LogSink {
    fn write_all(records: &[EncodedRecord]) -> std::io::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        for r in records {
            out.write_all(r.json.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

impl Sink for LogSink {
    fn name(&self) -> &'static str {
        "log"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        _deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            match Self::write_all(records) {
                Ok(()) => Delivery::default(),
                Err(e) => Delivery::all_failed(records.len(), DeliveryError::Io(e.to_string())),
            }
        })
    }
}
