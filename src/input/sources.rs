//! The reading thread's side of the input: sources (files, directories, stdin, S3
//! prefixes) opened in order, decompressed when gzip and framed ([`super::frames`]); the
//! frames go to the parsing thread in batches ([`super::batch`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::batch::{Entry, Framed, frames_of_stream};
use super::s3;

/// Where findings are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, a directory, or `-` (stdin).
    Path(PathBuf),
    S3(s3::Location),
}

impl Source {
    /// A command-line argument: an S3 URL, else a path.
    pub fn of_arg(arg: PathBuf) -> Result<Source, s3::S3Error> {
        match arg.to_str() {
            Some(url) if s3::Location::is_url(url) => s3::Location::parse(url).map(Source::S3),
            _ => Ok(Source::Path(arg)),
        }
    }
}

/// Reads and frames every source in order into `out`; the parsing thread does the rest.
pub fn read_all(sources: &[Source], s3: Option<&s3::Context>, out: &mut Framed) {
    let stdin = [Source::Path(PathBuf::from("-"))];
    let sources = if sources.is_empty() {
        &stdin[..]
    } else {
        sources
    };
    for source in sources {
        match source {
            Source::Path(path) if path.as_os_str() == "-" => {
                read_source(std::io::stdin().lock(), "<stdin>", out);
            }
            Source::Path(path) => read_path(path, out),
            Source::S3(location) => match s3 {
                Some(context) => read_s3(context, location, out),
                None => {
                    out.entry(Entry::Source(location.shown(&location.prefix).into()));
                    out.entry(Entry::Unreadable(std::io::Error::other(
                        "S3 is not configured for this command",
                    )));
                }
            },
        }
    }
    out.send();
}

/// A file, or the files under a directory.
fn read_path(path: &Path, out: &mut Framed) {
    for file in expand(path) {
        let opened = file.and_then(|p| match std::fs::File::open(&p) {
            Ok(f) => Ok((p, f)),
            Err(e) => Err((p, e)),
        });
        match opened {
            Ok((p, f)) => read_source(f, &p.display().to_string(), out),
            Err((p, e)) => {
                out.entry(Entry::Source(p.display().to_string().into()));
                out.entry(Entry::Unreadable(e));
            }
        }
    }
}

/// The objects under an S3 prefix, in key order, with a progress line on a terminal.
fn read_s3(context: &s3::Context, location: &s3::Location, out: &mut Framed) {
    let mut progress = Progress::new();
    let mut entries = s3::entries(context, location.clone());
    let mut objects = 0u64;
    while let Some(entry) = entries.blocking_recv() {
        match entry {
            s3::Entry::Object { key, body } => {
                objects += 1;
                progress.show(objects, &key);
                let shown = location.shown(&key);
                tracing::debug!(message = "Reading S3 object.", object = %shown);
                read_source(body, &shown, out);
            }
            s3::Entry::Failed { what, error } => out.entry(Entry::ListFailed { what, error }),
        }
    }
    progress.clear();
    let prefix = location.shown(&location.prefix);
    out.entry(Entry::Note(Box::new(move || {
        if objects == 0 {
            warn!(message = "No object to read under the S3 prefix.", prefix = %prefix);
        }
        tracing::info!(message = "S3 objects read.", prefix = %prefix, objects);
    })));
}

/// One line on stderr, rewritten, when stderr is a terminal.
struct Progress {
    shown: bool,
    on: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Progress {
            shown: false,
            on: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, objects: u64, key: &str) {
        if self.on {
            let tail: String = key
                .chars()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprint!("\r\x1b[Kobject {objects}: …{tail}");
            self.shown = true;
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

/// The files `path` stands for: itself, or the regular files under a directory.
fn expand(path: &Path) -> Vec<Result<PathBuf, (PathBuf, std::io::Error)>> {
    if !path.is_dir() {
        return vec![Ok(path.to_path_buf())];
    }
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return vec![Err((path.to_path_buf(), e))],
    };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) if e.file_name().to_string_lossy().starts_with('.') => {}
            Ok(e) => children.push(e.path()),
            Err(e) => found.push(Err((path.to_path_buf(), e))),
        }
    }
    children.sort();
    for child in children {
        found.extend(expand(&child));
    }
    found
}

/// Frames one source to its end.
fn read_source(reader: impl Read, shown: &str, out: &mut Framed) {
    out.entry(Entry::Source(shown.into()));
    let read = frames_of_stream(reader, |frame| match frame {
        Ok(frame) => out.frame(frame),
        Err(e) => out.entry(Entry::Invalid(e)),
    });
    if let Err(e) = read {
        out.entry(Entry::Unreadable(e));
    }
}
