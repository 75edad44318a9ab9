//! The OCSF objects the mapping writes, as borrowed, serialize-only structs: the subset of
//! Detection Finding that OCSF 1.1.0 and 1.8.0 share, no profile attribute but `cloud`'s.
//! Absent values are left out, never written as `null`.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

pub type Str<'a> = Option<Cow<'a, str>>;

macro_rules! ocsf_object {
    ($(#[$m:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Default, Clone, Serialize)]
        pub struct $name<'a> {
            $(
                #[serde(skip_serializing_if = "Skip::skip")]
                pub $field: $ty,
            )*
            #[serde(skip)]
            pub _lifetime: std::marker::PhantomData<&'a ()>,
        }

        impl Skip for $name<'_> {
            fn skip(&self) -> bool {
                false
            }
        }
    };
}

/// Which values are left out of the output.
pub trait Skip {
    fn skip(&self) -> bool;
}

impl<T> Skip for Option<T> {
    fn skip(&self) -> bool {
        self.is_none()
    }
}

impl<T> Skip for &[T] {
    fn skip(&self) -> bool {
        self.is_empty()
    }
}

impl<T, const N: usize> Skip for [T; N] {
    fn skip(&self) -> bool {
        N == 0
    }
}

impl<T> Skip for Vec<T> {
    fn skip(&self) -> bool {
        self.is_empty()
    }
}

impl Skip for Value {
    fn skip(&self) -> bool {
        self.is_null()
    }
}

ocsf_object!(Account {
    uid: Str<'a>,
    name: Str<'a>,
    type_id: Option<u8>,
    tags: Vec<KeyValue<'a>>,
});

ocsf_object!(Organization {
    uid: Str<'a>,
    ou_uid: Str<'a>,
    ou_name: Str<'a>,
});

ocsf_object!(Cloud {
    provider: &'static str,
    account: Option<Account<'a>>,
    org: Option<Organization<'a>>,
    region: Str<'a>,
});

impl Skip for &str {
    fn skip(&self) -> bool {
        false
    }
}

impl Skip for u8 {
    fn skip(&self) -> bool {
        false
    }
}

impl Skip for f64 {
    fn skip(&self) -> bool {
        false
    }
}

impl Skip for i64 {
    fn skip(&self) -> bool {
        false
    }
}

ocsf_object!(Feature {
    uid: Str<'a>,
    name: Str<'a>,
});

ocsf_object!(Product {
    name: &'static str,
    vendor_name: &'static str,
    uid: Str<'a>,
    version: Str<'a>,
    feature: Option<Feature<'a>>,
});

ocsf_object!(Metadata {
    version: &'static str,
    profiles: &'static [&'static str],
    product: Product<'a>,
    uid: Str<'a>,
    event_code: Str<'a>,
    log_name: &'static str,
    log_provider: &'static str,
    tenant_uid: Str<'a>,
    original_time: Str<'a>,
    logged_time: Option<i64>,
    labels: &'static [&'static str],
});

ocsf_object!(Tactic {
    uid: Str<'a>,
    name: Str<'a>,
});

ocsf_object!(Attack {
    tactic: Option<Tactic<'a>>,
    technique: Option<Tactic<'a>>,
    sub_technique: Option<Tactic<'a>>,
    version: Option<&'static str>,
});

ocsf_object!(Analytic {
    uid: Str<'a>,
    name: Str<'a>,
    category: Str<'a>,
    type_id: u8,
    r#type: &'static str,
});

ocsf_object!(FindingInfo {
    uid: Cow<'a, str>,
    title: Cow<'a, str>,
    desc: Str<'a>,
    types: Vec<Cow<'a, str>>,
    analytic: Option<Analytic<'a>>,
    attacks: Vec<Attack<'a>>,
    src_url: Option<String>,
    created_time: Option<i64>,
    modified_time: Option<i64>,
    first_seen_time: Option<i64>,
    last_seen_time: Option<i64>,
    product_uid: Str<'a>,
    uid_alt: Str<'a>,
});

impl Skip for Cow<'_, str> {
    fn skip(&self) -> bool {
        false
    }
}

ocsf_object!(User {
    name: Str<'a>,
    uid: Str<'a>,
    r#type: Str<'a>,
    type_id: Option<u8>,
    credential_uid: Str<'a>,
    programmatic_credentials: Vec<ProgrammaticCredential<'a>>,
    groups: Vec<Group<'a>>,
});

ocsf_object!(ProgrammaticCredential {
    uid: Cow<'a, str>,
    r#type: Str<'a>,
});

ocsf_object!(Group { name: Str<'a> });

ocsf_object!(Location {
    country: Str<'a>,
    desc: Str<'a>,
    city: Str<'a>,
    isp: Str<'a>,
    coordinates: Vec<f64>,
    lat: Option<f64>,
    long: Option<f64>,
});

ocsf_object!(Endpoint {
    ip: Str<'a>,
    port: Option<i64>,
    domain: Str<'a>,
    name: Str<'a>,
    svc_name: Str<'a>,
    instance_uid: Str<'a>,
    location: Option<Location<'a>>,
    autonomous_system: Option<AutonomousSystem<'a>>,
    isp: Str<'a>,
    isp_org: Str<'a>,
});

ocsf_object!(AutonomousSystem {
    number: Option<i64>,
    name: Str<'a>,
});

impl Endpoint<'_> {
    /// OCSF requires one of these for a network endpoint to stand.
    pub fn is_identified(&self) -> bool {
        self.ip.is_some()
            || self.name.is_some()
            || self.svc_name.is_some()
            || self.instance_uid.is_some()
    }
}

ocsf_object!(Service { name: Str<'a> });

ocsf_object!(Response { error: Str<'a>, code: Option<i64> });

ocsf_object!(Api {
    operation: Cow<'a, str>,
    service: Option<Service<'a>>,
    response: Option<Response<'a>>,
});

ocsf_object!(ConnectionInfo {
    direction_id: u8,
    direction: Str<'a>,
    protocol_name: Str<'a>,
});

ocsf_object!(Fingerprint {
    algorithm_id: u8,
    algorithm: &'static str,
    value: Cow<'a, str>,
});

ocsf_object!(File {
    name: Cow<'a, str>,
    type_id: u8,
    path: Str<'a>,
    hashes: Vec<Fingerprint<'a>>,
});

ocsf_object!(Process {
    name: Str<'a>,
    pid: Option<i64>,
    uid: Str<'a>,
    cmd_line: Str<'a>,
    created_time: Option<i64>,
    file: Option<File<'a>>,
    user: Option<User<'a>>,
    parent_process: Option<Box<Process<'a>>>,
    lineage: Vec<Cow<'a, str>>,
    ancestry: Vec<ProcessEntity<'a>>,
});

ocsf_object!(ProcessEntity {
    name: Str<'a>,
    pid: Option<i64>,
    uid: Str<'a>,
    path: Str<'a>,
    created_time: Option<i64>,
});

ocsf_object!(Image {
    uid: Cow<'a, str>,
    name: Str<'a>,
});

ocsf_object!(Container {
    uid: Str<'a>,
    name: Str<'a>,
    image: Option<Image<'a>>,
    runtime: Str<'a>,
});

ocsf_object!(HttpRequest { user_agent: Str<'a> });

ocsf_object!(DnsQuery { hostname: Cow<'a, str> });

ocsf_object!(Actor {
    user: Option<User<'a>>,
    process: Option<Process<'a>>,
});

ocsf_object!(Evidence {
    actor: Option<Actor<'a>>,
    api: Option<Api<'a>>,
    connection_info: Option<ConnectionInfo<'a>>,
    src_endpoint: Option<Endpoint<'a>>,
    dst_endpoint: Option<Endpoint<'a>>,
    process: Option<Process<'a>>,
    query: Option<DnsQuery<'a>>,
    file: Option<File<'a>>,
    container: Option<Container<'a>>,
    http_request: Option<HttpRequest<'a>>,
    data: Option<Value>,
});

impl Evidence<'_> {
    /// OCSF requires at least one of these in an evidence (`container` and `http_request` do
    /// not count).
    pub fn is_empty(&self) -> bool {
        self.actor.is_none()
            && self.api.is_none()
            && self.connection_info.is_none()
            && self.src_endpoint.is_none()
            && self.dst_endpoint.is_none()
            && self.process.is_none()
            && self.query.is_none()
            && self.file.is_none()
            && self.data.is_none()
    }
}

ocsf_object!(Observable {
    name: &'static str,
    r#type: &'static str,
    type_id: u8,
    value: Cow<'a, str>,
});

ocsf_object!(Owner { account: Option<Account<'a>> });

ocsf_object!(KeyValue {
    name: Cow<'a, str>,
    value: Str<'a>,
});

ocsf_object!(Resource {
    uid: Str<'a>,
    uid_alt: Str<'a>,
    name: Str<'a>,
    r#type: Str<'a>,
    namespace: Str<'a>,
    cloud_partition: Str<'a>,
    region: Str<'a>,
    owner: Option<Owner<'a>>,
    labels: Vec<String>,
    tags: Vec<KeyValue<'a>>,
    data: Option<Value>,
});

ocsf_object!(Reputation {
    base_score: f64,
    score_id: u8,
    score: &'static str,
    provider: Str<'a>,
});

ocsf_object!(Enrichment {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
    r#type: &'static str,
    provider: Str<'a>,
    data: Value,
    reputation: Option<Reputation<'a>>,
});

ocsf_object!(Remediation {
    desc: &'static str,
    references: [&'static str; 1],
});

/// What has no OCSF attribute: kept as the forwarder knows it.
#[derive(Debug, Serialize)]
pub struct Unmapped<'a> {
    pub severity_score: Option<&'a serde_json::Number>,
    /// GuardDuty's `confidence` when it is not a whole number (`confidence_score` is an
    /// integer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<&'a serde_json::Number>,
    pub sample: bool,
    /// Where `time` came from when `updatedAt` could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_source: Option<&'static str>,
    /// `updatedAt` verbatim when it could not be read as a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unparsed_updated_at: Option<&'a Value>,
    /// The account's tags where the OCSF version has no `account.tags` (1.1.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_tags: Option<&'a std::collections::BTreeMap<String, String>>,
    /// The account's OU path when no organization id is known to write `cloud.org` with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_ou_path: Option<&'a str>,
    pub ingest: &'a crate::normalize::Ingest<'a>,
    pub raw_event: crate::normalize::RawEvent<'a>,
}
