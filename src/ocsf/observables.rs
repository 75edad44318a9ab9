//! `observables[]`: every IP address, domain, account, principal, access key id, resource
//! uid (instance id, bucket, …), process name and file hash of a record, each once, named by
//! the path where it appears — what an analyst pivots on across records.

use super::model::{Evidence, Observable, Process, Resource, Str, User};
use crate::normalize::OcsfVersion;

/// At most this many observables are listed.
const MAX_OBSERVABLES: usize = 64;

struct List<'a> {
    items: Vec<Observable<'a>>,
    version: OcsfVersion,
}

impl<'a> List<'a> {
    fn add(&mut self, name: &'static str, type_id: u8, value: &Str<'a>) {
        let Some(value) = value else { return };
        if self.items.len() >= MAX_OBSERVABLES
            || self
                .items
                .iter()
                .any(|o| o.type_id == type_id && o.value == *value)
        {
            return;
        }
        self.items.push(Observable {
            name,
            r#type: type_name(type_id),
            type_id,
            value: value.clone(),
            ..Default::default()
        });
    }

    fn user(&mut self, prefix: Prefix, u: &User<'a>) {
        self.add(prefix.user_name, 4, &u.name);
        // 1.8.0 has a type for a user's uid; 1.1.0 only `User`.
        let uid = match self.version {
            OcsfVersion::V1_1_0 => 21,
            OcsfVersion::V1_8_0 => 31,
        };
        self.add(prefix.user_uid, uid, &u.uid);
        // 1.1.0 counts an access key id as a resource uid; 1.8.0 has a type of its own, and
        // keeps the key in `programmatic_credentials`.
        self.add(prefix.credential, 10, &u.credential_uid);
        for c in &u.programmatic_credentials {
            self.add(prefix.programmatic, 19, &Some(c.uid.clone()));
        }
    }

    fn process(&mut self, prefix: ProcessPrefix, p: &Process<'a>) {
        self.add(prefix.name, 9, &p.name);
        if let Some(f) = &p.file {
            for h in &f.hashes {
                self.add(prefix.hash, 8, &Some(h.value.clone()));
            }
        }
        if let Some(u) = &p.user {
            self.add(prefix.user_name, 4, &u.name);
        }
    }

    fn evidence(&mut self, e: &Evidence<'a>) {
        if let Some(ep) = &e.src_endpoint {
            self.add("evidences[].src_endpoint.ip", 2, &ep.ip);
            self.add("evidences[].src_endpoint.domain", 1, &ep.domain);
        }
        if let Some(ep) = &e.dst_endpoint {
            self.add("evidences[].dst_endpoint.ip", 2, &ep.ip);
            self.add(
                "evidences[].dst_endpoint.instance_uid",
                10,
                &ep.instance_uid,
            );
        }
        if let Some(h) = &e.http_request {
            self.add("evidences[].http_request.user_agent", 16, &h.user_agent);
        }
        if let Some(q) = &e.query {
            self.add("evidences[].query.hostname", 1, &Some(q.hostname.clone()));
        }
        if let Some(u) = e.actor.as_ref().and_then(|a| a.user.as_ref()) {
            self.user(ACTOR, u);
        }
        if let Some(p) = e.actor.as_ref().and_then(|a| a.process.as_ref()) {
            self.process(ACTOR_PROCESS, p);
        }
        if let Some(p) = &e.process {
            self.process(PROCESS, p);
        }
        if let Some(f) = &e.file {
            for h in &f.hashes {
                self.add("evidences[].file.hashes[].value", 8, &Some(h.value.clone()));
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Prefix {
    user_name: &'static str,
    user_uid: &'static str,
    credential: &'static str,
    programmatic: &'static str,
}

const ACTOR: Prefix = Prefix {
    user_name: "evidences[].actor.user.name",
    user_uid: "evidences[].actor.user.uid",
    credential: "evidences[].actor.user.credential_uid",
    programmatic: "evidences[].actor.user.programmatic_credentials[].uid",
};

#[derive(Clone, Copy)]
struct ProcessPrefix {
    name: &'static str,
    hash: &'static str,
    user_name: &'static str,
}

const ACTOR_PROCESS: ProcessPrefix = ProcessPrefix {
    name: "evidences[].actor.process.name",
    hash: "evidences[].actor.process.file.hashes[].value",
    user_name: "evidences[].actor.process.user.name",
};

const PROCESS: ProcessPrefix = ProcessPrefix {
    name: "evidences[].process.name",
    hash: "evidences[].process.file.hashes[].value",
    user_name: "evidences[].process.user.name",
};

fn type_name(type_id: u8) -> &'static str {
    match type_id {
        1 => "Hostname",
        2 => "IP Address",
        4 => "User Name",
        8 => "Hash",
        9 => "Process Name",
        10 => "Resource UID",
        19 => "User Credential ID",
        16 => "HTTP User-Agent",
        21 => "User",
        31 => "User Object: uid",
        35 => "Account Object: uid",
        _ => "Other",
    }
}

pub fn observables<'a>(
    account: &Str<'a>,
    resources: &[Resource<'a>],
    evidences: &[Evidence<'a>],
    version: OcsfVersion,
) -> Vec<Observable<'a>> {
    let mut list = List {
        items: Vec::with_capacity(8),
        version,
    };
    // 1.8.0 has a type for an account's uid; 1.1.0 counts it as a resource uid.
    let account_type = match version {
        OcsfVersion::V1_1_0 => 10,
        OcsfVersion::V1_8_0 => 35,
    };
    list.add("cloud.account.uid", account_type, account);
    for r in resources {
        list.add("resources[].uid", 10, &r.uid);
    }
    for e in evidences {
        list.evidence(e);
    }
    list.items
}
