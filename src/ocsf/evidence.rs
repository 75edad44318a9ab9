//! `evidences[]`: what GuardDuty saw, per action type — the API call and its caller, the
//! network connection or port probe and both endpoints, the DNS query, the Kubernetes or RDS
//! login and who made it, the Runtime Monitoring process and the malware scan's files.
//! Every evidence holds at least one of the attributes OCSF requires of it.

use std::borrow::Cow;

use serde_json::Value;

use super::model::{
    Actor, Api, AutonomousSystem, ConnectionInfo, DnsQuery, Endpoint, Evidence, Group, HttpRequest,
    Location, ProgrammaticCredential, Response, Service, Str, User,
};
use super::values::{float, integer, ip, port, string};
use super::{process, values};
use crate::normalize::{OcsfVersion, get, path};

/// At most this many port probes or Kubernetes groups are listed.
const MAX_EACH: usize = 16;

/// The evidences of one finding.
pub fn evidences(finding: &Value, version: OcsfVersion) -> Vec<Evidence<'_>> {
    let service = get(finding, "service");
    let action = service.and_then(|s| get(s, "action"));
    let resource = get(finding, "resource");
    let instance = resource.and_then(|r| string(path(r, &["instanceDetails", "instanceId"])));
    let profiled_agent =
        service.and_then(|s| path(s, &["additionalInfo", "userAgent", "fullUserAgent"]));
    let mut out = Vec::new();
    // One pass over the action's keys rather than a lookup for each kind it might hold.
    for (key, a) in action.and_then(Value::as_object).into_iter().flatten() {
        if a.is_null() {
            continue;
        }
        let kind = |camel: &str| named(key, camel);
        if kind("awsApiCallAction") {
            out.push(api_call(a, resource, profiled_agent, version));
        } else if kind("networkConnectionAction") {
            out.push(network_connection(a, instance.clone(), version));
        } else if kind("portProbeAction") {
            out.extend(port_probes(a, instance.clone(), version));
        } else if kind("dnsRequestAction") {
            out.extend(dns_request(a, instance.clone(), version));
        } else if kind("kubernetesApiCallAction") {
            out.push(kubernetes_call(a, resource, version));
        } else if kind("rdsLoginAttemptAction") {
            out.push(rds_login(a, resource, version));
        }
    }
    if let Some(runtime) = service.and_then(|s| get(s, "runtimeDetails")) {
        out.extend(process::runtime_processes(runtime, resource, version));
    }
    if let Some(scan) = service.and_then(|s| get(s, "ebsVolumeScanDetails")) {
        out.extend(process::scanned_files(scan));
    }
    out.retain(|e| !e.is_empty());
    out
}

/// `key` is `camel` or its PascalCase spelling (AWS CLI output).
fn named(key: &str, camel: &str) -> bool {
    let (k, c) = (key.as_bytes(), camel.as_bytes());
    k.len() == c.len()
        && k.split_first()
            .zip(c.split_first())
            .is_some_and(|((k0, kr), (c0, cr))| k0.eq_ignore_ascii_case(c0) && kr == cr)
}

fn some_endpoint(e: Endpoint<'_>) -> Option<Endpoint<'_>> {
    e.is_identified().then_some(e)
}

/// The remote side as GuardDuty describes it (`remoteIpDetails`). Coordinates are
/// `[lon, lat]` in 1.1.0; 1.8.0 deprecates them for `lat` and `long`. `country` is the ISO
/// 3166-1 alpha-2 `countryCode`; the country's name goes in `desc`. The network owner: the
/// ISP in `location.isp` (1.1.0), or `isp`, `isp_org` and `autonomous_system` (1.8.0; in 1.1.0
/// the ASN and organization are an enrichment, see `enrichments`).
pub fn remote(details: Option<&Value>, version: OcsfVersion) -> Endpoint<'_> {
    let Some(d) = details else {
        return Endpoint::default();
    };
    let lat = float(path(d, &["geoLocation", "lat"]));
    let long = float(path(d, &["geoLocation", "lon"]));
    let location = match (version, lat, long) {
        (OcsfVersion::V1_1_0, Some(lat), Some(long)) => Location {
            coordinates: vec![long, lat],
            ..Default::default()
        },
        (OcsfVersion::V1_8_0, _, _) => Location {
            lat,
            long,
            ..Default::default()
        },
        _ => Location::default(),
    };
    let org = get(d, "organization");
    let isp = org.and_then(|o| string(get(o, "isp")));
    let v11 = version == OcsfVersion::V1_1_0;
    let location = Location {
        country: country_code(path(d, &["country", "countryCode"])),
        desc: string(path(d, &["country", "countryName"])),
        city: string(path(d, &["city", "cityName"])),
        isp: isp.clone().filter(|_| v11),
        ..location
    };
    // OCSF requires one of these (1.8.0's `lat`/`long` do not count).
    let has_location =
        location.country.is_some() || location.city.is_some() || !location.coordinates.is_empty();
    let asn = AutonomousSystem {
        number: org.and_then(|o| integer(get(o, "asn"))).filter(|n| *n > 0),
        name: org.and_then(|o| string(get(o, "asnOrg"))),
        ..Default::default()
    };
    let has_asn = !v11 && (asn.number.is_some() || asn.name.is_some());
    Endpoint {
        ip: ip(get(d, "ipAddressV4")).or_else(|| ip(get(d, "ipAddressV6"))),
        location: has_location.then_some(location),
        autonomous_system: has_asn.then_some(asn),
        isp: isp.filter(|_| !v11),
        isp_org: org.and_then(|o| string(get(o, "org"))).filter(|_| !v11),
        ..Default::default()
    }
}

/// An ISO 3166-1 alpha-2 code, only when it is one (two ASCII letters), upper-cased.
fn country_code(v: Option<&Value>) -> Str<'_> {
    let s = v?.as_str()?.trim();
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| Cow::Owned(s.to_ascii_uppercase()))
}

/// GuardDuty's facts about an action that OCSF has no attribute for, as they are named in
/// the finding: `blocked`, `callerType`, and (in 1.1.0, which has no `http_request` in
/// evidence) `userAgent`.
fn action_data(action: &Value, user_agent: Str<'_>, version: OcsfVersion) -> Option<Value> {
    let mut data = serde_json::Map::new();
    for key in ["blocked", "callerType"] {
        if let Some(v) = get(action, key).and_then(values::data) {
            data.insert(key.to_owned(), v);
        }
    }
    if let Some(ua) = user_agent.filter(|_| version == OcsfVersion::V1_1_0) {
        data.insert("userAgent".to_owned(), Value::String(ua.into_owned()));
    }
    (!data.is_empty()).then_some(Value::Object(data))
}

/// The caller's user agent: the action's `userAgent`, else the one GuardDuty profiled
/// (`service.additionalInfo.userAgent.fullUserAgent`).
fn user_agent<'a>(action: &'a Value, profiled: Option<&'a Value>) -> Str<'a> {
    let some = |s: Cow<'a, str>| (!s.trim().is_empty()).then_some(s);
    string(get(action, "userAgent"))
        .and_then(some)
        .or_else(|| string(profiled).and_then(some))
}

/// `http_request.user_agent` (1.8.0).
fn http_request(user_agent: Str<'_>, version: OcsfVersion) -> Option<HttpRequest<'_>> {
    let ua = user_agent.filter(|_| version == OcsfVersion::V1_8_0)?;
    Some(HttpRequest {
        user_agent: Some(ua),
        ..Default::default()
    })
}

fn local<'a>(details: Option<&'a Value>, instance: Str<'a>) -> Endpoint<'a> {
    let ip = details.and_then(|d| ip(get(d, "ipAddressV4")).or_else(|| ip(get(d, "ipAddressV6"))));
    Endpoint {
        ip,
        instance_uid: instance,
        ..Default::default()
    }
}

/// The IAM identity behind an access key. The key's id is `credential_uid` in 1.1.0 and a
/// programmatic credential in 1.8.0, which deprecates `credential_uid`.
fn iam_user(resource: Option<&Value>, version: OcsfVersion) -> Option<User<'_>> {
    let d = get(resource?, "accessKeyDetails")?;
    let user_type = string(get(d, "userType"));
    let key = string(get(d, "accessKeyId"));
    // OCSF's captions where they say the same; the source's own word otherwise (`Root`,
    // `AssumedRole`, `FederatedUser` stay visible as type `Other`).
    let (type_id, user_type) = match user_type.as_deref() {
        None => (None, None),
        Some("IAMUser") => (Some(1), Some(Cow::Borrowed("User"))),
        Some("AWSService") => (Some(3), Some(Cow::Borrowed("System"))),
        Some(_) => (Some(99), user_type),
    };
    let user = User {
        name: string(get(d, "userName")),
        uid: string(get(d, "principalId")),
        credential_uid: key.clone().filter(|_| version == OcsfVersion::V1_1_0),
        programmatic_credentials: key
            .filter(|_| version == OcsfVersion::V1_8_0)
            .map(|uid| ProgrammaticCredential {
                uid,
                r#type: Some(Cow::Borrowed("AWS Access Key")),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        r#type: user_type,
        type_id,
        ..Default::default()
    };
    (user.name.is_some() || user.uid.is_some()).then_some(user)
}

fn actor_of(user: Option<User<'_>>) -> Option<Actor<'_>> {
    user.map(|u| Actor {
        user: Some(u),
        ..Default::default()
    })
}

fn api_call<'a>(
    call: &'a Value,
    resource: Option<&'a Value>,
    profiled_agent: Option<&'a Value>,
    version: OcsfVersion,
) -> Evidence<'a> {
    let ua = user_agent(call, profiled_agent);
    let api = string(get(call, "api")).map(|operation| Api {
        operation,
        service: string(get(call, "serviceName")).map(|name| Service {
            name: Some(name),
            ..Default::default()
        }),
        response: string(get(call, "errorCode")).map(|error| Response {
            error: Some(error),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut src = remote(get(call, "remoteIpDetails"), version);
    src.domain = string(path(call, &["domainDetails", "domain"]));
    if src.ip.is_none() {
        src.name = src.domain.clone();
    }
    Evidence {
        api,
        src_endpoint: some_endpoint(src),
        actor: actor_of(iam_user(resource, version)),
        http_request: http_request(ua.clone(), version),
        data: action_data(call, ua, version),
        ..Default::default()
    }
}

/// OCSF's direction and its caption (the source's own word for `Other`).
fn direction(d: Str<'_>) -> (u8, Str<'_>) {
    let (id, caption) = match d.as_deref() {
        Some("INBOUND") => (1, "Inbound"),
        Some("OUTBOUND") => (2, "Outbound"),
        None | Some("UNKNOWN") => (0, "Unknown"),
        Some(_) => return (99, d),
    };
    (id, Some(Cow::Borrowed(caption)))
}

fn network_connection<'a>(
    conn: &'a Value,
    instance: Str<'a>,
    version: OcsfVersion,
) -> Evidence<'a> {
    let (direction_id, dir) = direction(string(get(conn, "connectionDirection")));
    let mut far = remote(get(conn, "remoteIpDetails"), version);
    far.port = port(path(conn, &["remotePortDetails", "port"]));
    let mut near = local(get(conn, "localIpDetails"), instance);
    near.port = port(path(conn, &["localPortDetails", "port"]));
    let (src, dst) = if direction_id == 1 {
        (far, near)
    } else {
        (near, far)
    };
    Evidence {
        connection_info: Some(ConnectionInfo {
            direction_id,
            direction: dir,
            protocol_name: string(get(conn, "protocol")),
            ..Default::default()
        }),
        src_endpoint: some_endpoint(src),
        dst_endpoint: some_endpoint(dst),
        data: action_data(conn, None, version),
        ..Default::default()
    }
}

fn port_probes<'a>(probe: &'a Value, instance: Str<'a>, version: OcsfVersion) -> Vec<Evidence<'a>> {
    let details = get(probe, "portProbeDetails").and_then(Value::as_array);
    let details = details.map(Vec::as_slice).unwrap_or_default();
    details
        .iter()
        .take(MAX_EACH)
        .map(|d| {
            let mut dst = local(get(d, "localIpDetails"), instance.clone());
            dst.port = port(path(d, &["localPortDetails", "port"]));
            Evidence {
                connection_info: Some(ConnectionInfo {
                    direction_id: 1,
                    direction: Some(Cow::Borrowed("Inbound")),
                    ..Default::default()
                }),
                src_endpoint: some_endpoint(remote(get(d, "remoteIpDetails"), version)),
                dst_endpoint: some_endpoint(dst),
                data: action_data(probe, None, version),
                ..Default::default()
            }
        })
        .collect()
}

fn dns_request<'a>(
    dns: &'a Value,
    instance: Str<'a>,
    version: OcsfVersion,
) -> Option<Evidence<'a>> {
    let hostname = string(get(dns, "domain")).or_else(|| string(get(dns, "domainWithSuffix")))?;
    Some(Evidence {
        query: Some(DnsQuery {
            hostname,
            ..Default::default()
        }),
        connection_info: Some(ConnectionInfo {
            direction_id: 2,
            direction: Some(Cow::Borrowed("Outbound")),
            protocol_name: string(get(dns, "protocol")),
            ..Default::default()
        }),
        src_endpoint: some_endpoint(local(None, instance)),
        data: action_data(dns, None, version),
        ..Default::default()
    })
}

fn kubernetes_call<'a>(
    call: &'a Value,
    resource: Option<&'a Value>,
    version: OcsfVersion,
) -> Evidence<'a> {
    let user = resource
        .and_then(|r| path(r, &["kubernetesDetails", "kubernetesUserDetails"]))
        .map(|u| User {
            name: string(get(u, "username")),
            uid: string(get(u, "uid")),
            groups: get(u, "groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(MAX_EACH)
                .filter_map(|g| string(Some(g)))
                .map(|name| Group {
                    name: Some(name),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .filter(|u| u.name.is_some() || u.uid.is_some());
    let api = string(get(call, "verb")).map(|operation| Api {
        operation,
        service: Some(Service {
            name: Some(Cow::Borrowed("kubernetes")),
            ..Default::default()
        }),
        response: integer(get(call, "statusCode")).map(|code| Response {
            code: Some(code),
            ..Default::default()
        }),
        ..Default::default()
    });
    Evidence {
        api,
        src_endpoint: some_endpoint(remote(get(call, "remoteIpDetails"), version)),
        actor: actor_of(user),
        http_request: http_request(user_agent(call, None), version),
        data: action_data(call, user_agent(call, None), version),
        ..Default::default()
    }
}

fn rds_login<'a>(
    login: &'a Value,
    resource: Option<&'a Value>,
    version: OcsfVersion,
) -> Evidence<'a> {
    let user = resource
        .and_then(|r| string(path(r, &["rdsDbUserDetails", "user"])))
        .map(|name| User {
            name: Some(name),
            ..Default::default()
        });
    let db = resource.and_then(|r| get(r, "rdsDbInstanceDetails"));
    let dst = Endpoint {
        name: db.and_then(|d| string(get(d, "dbInstanceIdentifier"))),
        svc_name: db.and_then(|d| string(get(d, "engine"))),
        ..Default::default()
    };
    Evidence {
        src_endpoint: some_endpoint(remote(get(login, "remoteIpDetails"), version)),
        dst_endpoint: some_endpoint(dst),
        actor: actor_of(user),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(direction: &str) -> Value {
        json!({"resource": {"instanceDetails": {"instanceId": "i-1"}},
            "service": {"action": {"networkConnectionAction": {
                "connectionDirection": direction, "protocol": "TCP",
                "localIpDetails": {"ipAddressV4": "10.0.0.1"}, "localPortDetails": {"port": 22},
                "remoteIpDetails": {"ipAddressV4": "198.51.100.9"}, "remotePortDetails": {"port": "40000"}}}}})
    }

    #[test]
    fn an_inbound_connection_has_the_remote_side_as_its_source() {
        let f = conn("INBOUND");
        let e = evidences(&f, OcsfVersion::V1_1_0);
        let src = e[0].src_endpoint.as_ref().unwrap();
        let dst = e[0].dst_endpoint.as_ref().unwrap();
        assert_eq!(src.ip.as_deref(), Some("198.51.100.9"));
        assert_eq!(src.port, Some(40000));
        assert_eq!(
            (dst.instance_uid.as_deref(), dst.port),
            (Some("i-1"), Some(22))
        );
        assert_eq!(e[0].connection_info.as_ref().unwrap().direction_id, 1);
    }

    #[test]
    fn an_outbound_connection_has_the_instance_as_its_source() {
        let f = conn("OUTBOUND");
        let e = evidences(&f, OcsfVersion::V1_1_0);
        assert_eq!(
            e[0].src_endpoint.as_ref().unwrap().ip.as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(e[0].connection_info.as_ref().unwrap().direction_id, 2);
        let f = conn("SIDEWAYS");
        let e = evidences(&f, OcsfVersion::V1_1_0);
        let info = e[0].connection_info.as_ref().unwrap();
        assert_eq!(
            (info.direction_id, info.direction.as_deref()),
            (99, Some("SIDEWAYS"))
        );
    }

    #[test]
    fn port_probes_are_listed_up_to_the_bound() {
        let probe = json!({"localPortDetails": {"port": 3389}, "remoteIpDetails": {"ipAddressV4": "203.0.113.5"}});
        let f = json!({"service": {"action": {"portProbeAction": {"portProbeDetails": vec![probe; 100]}}}});
        assert_eq!(evidences(&f, OcsfVersion::V1_1_0).len(), MAX_EACH);
    }

    #[test]
    fn an_action_with_nothing_usable_gives_no_evidence() {
        let f = json!({"service": {"action": {"awsApiCallAction": {"api": [7], "remoteIpDetails": {"ipAddressV4": "nope"}},
            "dnsRequestAction": {"domain": {"x": 1}}, "networkConnectionAction": []}}});
        let e = evidences(&f, OcsfVersion::V1_1_0);
        assert!(e.iter().all(|e| !e.is_empty()));
        assert!(e.iter().all(|e| e.api.is_none() && e.query.is_none()));
    }
}
