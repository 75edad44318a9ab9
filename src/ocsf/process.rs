//! Runtime Monitoring evidence (`service.runtimeDetails`): the acting process as
//! `evidences[].actor.process`, the process it acted on as `evidences[].process`; and the files
//! an EBS malware scan found, as `evidences[].file`.

use std::borrow::Cow;

use serde_json::Value;

use super::model::{
    Actor, Container, Evidence, File, Fingerprint, Image, Process, ProcessEntity, User,
};
use super::values::{data, epoch_ms, integer, string};
use crate::normalize::{OcsfVersion, first, get, path};

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
    let file = string(get(p, "executablePath"))
        .and_then(|path| file_at(path, sha256(get(p, "executableSha256"))));
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

/// The runtime evidence: the acting process (`runtimeDetails.process`) as `actor.process`,
/// with its lineage (1.1.0: the ancestors' executable paths; 1.8.0: `ancestry`) and the context's example command line;
/// the container it ran in as `container` (1.8.0; `process.container` belongs to the
/// `container` profile, and 1.1.0 evidence has no `container`: there the container is one of
/// the `resources`); the process it acted on (`context.targetProcess`) as `process`;
/// the file the context names (`threatFilePath`, else `scriptPath`, `moduleFilePath`,
/// `libraryPath`) as `file`; and the whole `context` as `data`, since most of it (release
/// agent path, socket path, memory regions, tool name, …) has no OCSF attribute.
pub fn runtime_processes<'a>(
    runtime: &'a Value,
    resource: Option<&'a Value>,
    version: OcsfVersion,
) -> Vec<Evidence<'a>> {
    let context = get(runtime, "context").filter(|c| c.is_object());
    let container = resource
        .and_then(|r| get(r, "containerDetails"))
        .and_then(container);
    let actor = get(runtime, "process").and_then(process).map(|mut p| {
        let lineage = get(runtime, "process")
            .and_then(|a| get(a, "lineage"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let lineage = lineage.iter().take(MAX_FILES);
        match version {
            OcsfVersion::V1_1_0 => {
                p.lineage = lineage
                    .filter_map(|l| string(get(l, "executablePath")))
                    .collect();
            }
            OcsfVersion::V1_8_0 => p.ancestry = lineage.filter_map(ancestor).collect(),
        }
        p.cmd_line = context.and_then(|c| string(get(c, "commandLineExample")));
        p
    });
    let target = context
        .and_then(|c| get(c, "targetProcess"))
        .and_then(process);
    let file = context.and_then(context_file);
    let evidence = Evidence {
        actor: actor.map(|p| Actor {
            process: Some(p),
            ..Default::default()
        }),
        process: target,
        file,
        container: container.filter(|_| version == OcsfVersion::V1_8_0),
        data: context.and_then(data),
        ..Default::default()
    };
    if evidence.is_empty() {
        Vec::new()
    } else {
        vec![evidence]
    }
}

/// An ancestor of the acting process (1.8.0's `ancestry`, which replaces `lineage`).
fn ancestor(l: &Value) -> Option<ProcessEntity<'_>> {
    let out = ProcessEntity {
        name: string(get(l, "name")),
        pid: integer(get(l, "pid")),
        uid: string(get(l, "uuid")),
        path: string(get(l, "executablePath")),
        created_time: epoch_ms(get(l, "startTime")).map(|(ms, _)| ms),
        ..Default::default()
    };
    let any = out.name.is_some() || out.pid.is_some() || out.uid.is_some() || out.path.is_some();
    any.then_some(out)
}

/// The file a runtime context names.
fn context_file(context: &Value) -> Option<File<'_>> {
    let path = [
        "threatFilePath",
        "scriptPath",
        "moduleFilePath",
        "libraryPath",
    ]
    .into_iter()
    .find_map(|k| string(get(context, k)))?;
    file_at(path, Vec::new())
}

/// A regular file at `path`, named by its last component.
fn file_at<'a>(path: Cow<'a, str>, hashes: Vec<Fingerprint<'a>>) -> Option<File<'a>> {
    let name = match &path {
        Cow::Borrowed(b) => Cow::Borrowed(basename(b)),
        Cow::Owned(o) => Cow::Owned(basename(o).to_owned()),
    };
    (!name.is_empty()).then(|| File {
        name,
        type_id: 1,
        path: Some(path),
        hashes,
        ..Default::default()
    })
}

/// A container (`resource.containerDetails`, a Kubernetes workload's `containers[]`).
pub fn container(c: &Value) -> Option<Container<'_>> {
    let image_name = string(get(c, "image"));
    let image_uid = string(get(c, "imageUid")).or_else(|| image_name.clone());
    let out = Container {
        uid: string(get(c, "id")),
        name: string(get(c, "name")),
        image: image_uid.map(|uid| Image {
            uid,
            name: image_name,
            ..Default::default()
        }),
        runtime: string(get(c, "containerRuntime")),
        ..Default::default()
    };
    (out.uid.is_some() || out.name.is_some()).then_some(out)
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
