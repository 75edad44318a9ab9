//! Objects under an S3 prefix as a source of findings: `forward s3://bucket/prefix/` and
//! `replay --from s3://…`, GuardDuty's export read in place.
//!
//! Invariants:
//! - Objects are handed over in key order, each exactly once, whole or with its failure:
//!   a listing runs ahead of the reading by at most [`AHEAD`] objects, each fetched by a task
//!   of its own into a channel of [`PIECES`] pieces of about [`PIECE_BYTES`]; so at most
//!   `(AHEAD + 2) × (PIECES + 1)` pieces (about 1.2 MB) wait in memory, whatever the objects'
//!   sizes (queued, being read, and the one whose hand-over waits).
//! - An object that cannot be read (denied, gone, not gzip or JSON, truncated) is named and
//!   counted by the caller, and the next one is read; a listing that fails is named once and
//!   ends this source.
//! - With a window, only the export's date partitions within it are listed ([`partition`]):
//!   the listing starts after the day before the window and stops past its last day, per
//!   region; above the region level it walks the layout's folders, never the objects.

pub mod partition;

use std::io::Read;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

pub use crate::aws::s3::S3Error;
use crate::aws::s3::{List, S3Client};
use partition::{Days, Level, Place};

/// Objects listed and being fetched ahead of the one being read.
pub const AHEAD: usize = 3;
/// Pieces of an object waiting to be read.
pub const PIECES: usize = 2;
/// An object's body is handed over in pieces of about this size.
pub const PIECE_BYTES: usize = 64 * 1024;
/// Folders above `AWSLogs/` walked at most this deep.
const MAX_DEPTH: usize = 4;

/// `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    pub prefix: String,
}

impl Location {
    /// Whether `arg` is meant as an S3 URL.
    pub fn is_url(arg: &str) -> bool {
        arg.starts_with("s3://")
    }

    pub fn parse(url: &str) -> Result<Location, S3Error> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| S3Error::BadUrl(url.to_string()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3Error::BadUrl(url.to_string()));
        }
        Ok(Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// How an object is named in errors and logs.
    pub fn shown(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// What reading S3 needs: the SDK's configuration, the window, the runtime to fetch on.
#[derive(Clone)]
pub struct Context {
    pub config: aws_config::SdkConfig,
    /// Epoch milliseconds: `since`, and `until` (exclusive, default now).
    pub window: Option<(i64, Option<i64>)>,
    pub runtime: tokio::runtime::Handle,
}

/// What the listing hands over, in key order.
pub enum Entry {
    Object {
        key: String,
        body: ObjectReader,
    },
    /// The listing failed (`what` names the prefix): nothing more comes.
    Failed {
        what: String,
        error: S3Error,
    },
}

/// Lists `location` on the runtime; the entries arrive in key order.
pub fn entries(context: &Context, location: Location) -> mpsc::Receiver<Entry> {
    let (tx, rx) = mpsc::channel(AHEAD);
    let days = context
        .window
        .map(|(since, until)| Days::of_window(since, until));
    let config = context.config.clone();
    context.runtime.spawn(async move {
        let what = location.shown(&location.prefix);
        let run = async {
            let client = S3Client::new(&config, &location.bucket)?;
            let lister = Lister {
                client: Arc::new(client),
                tx: tx.clone(),
            };
            lister.run(&location.prefix, days).await
        };
        if let Err(error) = run.await {
            let _ = tx.send(Entry::Failed { what, error }).await;
        }
    });
    rx
}

struct Lister {
    client: Arc<S3Client>,
    tx: mpsc::Sender<Entry>,
}

impl Lister {
    /// Everything under `prefix`, or the window's partitions; in a bucket of another region
    /// than the configuration's, over again there (nothing has been handed over yet then).
    async fn run(mut self, prefix: &str, days: Option<Days>) -> Result<(), S3Error> {
        let probe = List {
            prefix,
            max_keys: Some(1),
            ..List::default()
        };
        let probe = self.client.list(probe).await;
        if let Err(S3Error::WrongRegion { region }) = probe {
            tracing::info!(message = "The bucket is in another region.", region = %region, configured = %self.client.region());
            self.client = Arc::new(self.client.in_region(&region));
        }
        match days {
            None => self.objects(prefix, None, None).await.map(drop),
            Some(days) => {
                let prefix = match prefix {
                    "" => String::new(),
                    p if p.ends_with('/') => p.to_string(),
                    p => format!("{p}/"),
                };
                self.walk(prefix, days).await.map(drop)
            }
        }
    }

    /// Follows the export's layout down to the regions, in key order. `Ok(false)`: the reader
    /// is gone, stop.
    async fn walk(&self, prefix: String, days: Days) -> Result<bool, S3Error> {
        let level = partition::level(&prefix);
        match level {
            Level::Dates { base } => {
                let start = days.start_after(prefix.get(..base).unwrap_or_default());
                return self
                    .objects(&prefix, Some(&start), Some((days, base)))
                    .await;
            }
            Level::Elsewhere => return Ok(true),
            Level::Above { depth } if depth >= MAX_DEPTH => return Ok(true),
            _ => {}
        }
        for child in self.folders(&prefix).await? {
            let follow = level != Level::Service || child.ends_with("/GuardDuty/");
            if follow && !Box::pin(self.walk(child, days)).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The folders one level under `prefix`.
    async fn folders(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let list = List {
                prefix,
                token: token.as_deref(),
                delimited: true,
                ..List::default()
            };
            let page = self.client.list(list).await?;
            found.extend(page.prefixes);
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(found),
            }
        }
    }

    /// Hands over the objects under `prefix` in key order, from `start_after`, within `days`
    /// (keys under the region prefix of length `base`). `Ok(false)`: the reader is gone.
    async fn objects(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        days: Option<(Days, usize)>,
    ) -> Result<bool, S3Error> {
        let mut token = None;
        loop {
            let list = List {
                prefix,
                start_after,
                token: token.as_deref(),
                ..List::default()
            };
            let page = self.client.list(list).await?;
            for key in page.keys {
                match days.map(|(days, base)| days.place(&key, base)) {
                    Some(Place::Skip) => continue,
                    Some(Place::After) => return Ok(true),
                    Some(Place::In) | None => {}
                }
                let body = self.fetch(&key);
                if self.tx.send(Entry::Object { key, body }).await.is_err() {
                    return Ok(false);
                }
            }
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(true),
            }
        }
    }

    /// Starts fetching `key`; its body arrives through the reader.
    fn fetch(&self, key: &str) -> ObjectReader {
        let (tx, rx) = mpsc::channel(PIECES);
        let client = Arc::clone(&self.client);
        let key = key.to_string();
        tokio::spawn(async move {
            if let Err(e) = stream_object(&client, &key, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        ObjectReader {
            pieces: rx,
            current: Bytes::new(),
        }
    }
}

/// Sends the object's body in pieces of about [`PIECE_BYTES`].
async fn stream_object(
    client: &S3Client,
    key: &str,
    tx: &mpsc::Sender<Result<Bytes, S3Error>>,
) -> Result<(), S3Error> {
    let mut body = client.get(key).await?;
    let mut piece = BytesMut::new();
    let wait = std::time::Duration::from_secs(120);
    loop {
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => return Err(S3Error::Body(e.to_string())),
            Ok(None) => break,
            Err(_) => return Err(S3Error::Body(format!("no data for {}s", wait.as_secs()))),
        };
        if let Ok(data) = frame.into_data() {
            piece.extend_from_slice(&data);
        }
        if piece.len() >= PIECE_BYTES && tx.send(Ok(piece.split().freeze())).await.is_err() {
            // The reader stopped early.
            return Ok(());
        }
    }
    if !piece.is_empty() {
        let _ = tx.send(Ok(piece.freeze())).await;
    }
    Ok(())
}

/// An object's body as a blocking reader, for the input thread.
pub struct ObjectReader {
    pieces: mpsc::Receiver<Result<Bytes, S3Error>>,
    current: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.pieces.blocking_recv() {
                None => return Ok(0),
                Some(Ok(piece)) => self.current = piece,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(self.current.get(..n).unwrap_or_default());
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_s3_url_is_a_bucket_and_a_prefix() {
        assert_eq!(
            Location::parse("s3://b/AWSLogs/1/").unwrap(),
            Location {
                bucket: "b".into(),
                prefix: "AWSLogs/1/".into()
            }
        );
        assert_eq!(Location::parse("s3://b").unwrap().prefix, "");
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("/tmp/x").is_err());
    }
}
