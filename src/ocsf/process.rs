//! Runtime Monitoring processes (`service.runtimeDetails`) and the files an EBS malware scan
//! found, as `evidences[].process` and `evidences[].file`.

use std::borrow::Cow;

use serde_json::Value;

use super::model::{Evidence, File, Fingerprint, Process, User};
use super::values::{epoch_ms, integer, string};
use crate::normalize::{first, get, path};

/// At most this many scanned files are listed.
const MAX_FILES: usize = 16;

/// A SHA-256 digest, only when it is one (OCSF's hash type holds at most 64 characters).
fn sha256(v: Option<&Value>) -> Vec<Fingerprint<'_>> {
    string(v)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|value| Fingerprint {
            algorithm_id: 3,
            algorithm: "SHA-256",
            value,
            ..Default::default()
        })
        .into_iter()
        .collect()
}

fn basename(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

/// A Runtime Monitoring process (`runtimeDetails.process`, `…context.targetProcess`).
fn process(p: &Value) -> Option<Process<'_>> {
    let exe = string(get(p, "executablePath"));
    let file = exe.clone().and_then(|path| {
        let name = match &path {
            Cow::Borrowed(b) => Cow::Borrowed(basename(b)),
            Cow::Owned(o) => Cow::Owned(basename(o).to_owned()),
        };
        (!name.is_empty()).then(|| File {
            name,
            type_id: 1,
            path: Some(path),
            hashes: sha256(get(p, "executableSha256")),
            ..Default::default()
        })
    });
    let user = User {
        name: string(get(p, "user")),
        uid: string(get(p, "userId")),
        ..Default::default()
    };
    let parent = string(get(p, "parentUuid")).map(|uid| {
        Box::new(Process {
            uid: Some(uid),
            ..Default::default()
        })
    });
    let out = Process {
        name: string(get(p, "name")),
        pid: integer(get(p, "pid")),
        uid: string(get(p, "uuid")),
        created_time: epoch_ms(get(p, "startTime")).map(|(ms, _)| ms),
        file,
        user: (user.name.is_some() || user.uid.is_some()).then_some(user),
        parent_process: parent,
        ..Default::default()
    };
    (out.pid.is_some() || out.uid.is_some()).then_some(out)
}

pub fn runtime_processes(runtime: &Value) -> Vec<Evidence<'_>> {
    let actor = get(runtime, "process").and_then(process);
    let target = path(runtime, &["context", "targetProcess"]).and_then(process);
    [actor, target]
        .into_iter()
        .flatten()
        .map(|p| Evidence {
            process: Some(p),
            ..Default::default()
        })
        .collect()
}

/// Files an EBS malware scan found (`scanDetections.threatDetectedByName.threatNames[].filePaths[]`).
pub fn scanned_files(scan: &Value) -> Vec<Evidence<'_>> {
    let names = path(
        scan,
        &["scanDetections", "threatDetectedByName", "threatNames"],
    );
    let names = names.and_then(Value::as_array).map(Vec::as_slice);
    names
        .unwrap_or_default()
        .iter()
        .flat_map(|t| {
            let paths = get(t, "filePaths").and_then(Value::as_array);
            paths.map(Vec::as_slice).unwrap_or_default().iter()
        })
        .take(MAX_FILES)
        .filter_map(|f| {
            let file_path = string(get(f, "filePath"));
            let name = string(get(f, "fileName")).or_else(|| file_path.clone())?;
            Some(Evidence {
                file: Some(File {
                    name,
                    type_id: 1,
                    path: file_path,
                    hashes: sha256(first(get(f, "hash"))),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
        .collect()
}
