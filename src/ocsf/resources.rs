//! `resources[]` and `remediation`: the affected resource (or, for an attack sequence, every
//! resource the sequence names), and the GuardDuty remediation guide for its type.

use std::borrow::Cow;

use serde_json::Value;

use super::model::{Account, KeyValue, Owner, Remediation, Resource, Str};
use super::values::{clamp, data, field, string};
use crate::normalize::{OcsfVersion, Record, first, get, path};

/// At most this many resources are listed.
const MAX_RESOURCES: usize = 32;

/// At most this many tags of one resource are listed.
const MAX_TAGS: usize = 50;

/// An AWS account, as OCSF types it.
pub fn aws_account(uid: Cow<'_, str>) -> Account<'_> {
    Account {
        uid: Some(uid),
        type_id: Some(10),
        ..Default::default()
    }
}

pub fn resources<'a>(r: &'a Record<'a>, version: OcsfVersion) -> Vec<Resource<'a>> {
    let mut out = Vec::new();
    let sequence = path(
        r.finding,
        &["service", "detection", "sequence", "resources"],
    );
    for res in sequence
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_RESOURCES)
    {
        out.push(Resource {
            uid: string(get(res, "arn")),
            name: string(get(res, "name")),
            r#type: string(get(res, "type")),
            cloud_partition: string(get(res, "cloudPartition")).or_else(|| field(&r.partition)),
            region: string(get(res, "region")).or_else(|| field(&r.region)),
            owner: owner(string(get(res, "accountId")).or_else(|| field(&r.account_id))),
            ..Default::default()
        });
    }
    // What an API call touched: `affectedResources` maps a CloudFormation type to an ARN.
    let affected = path(
        r.finding,
        &["service", "action", "awsApiCallAction", "affectedResources"],
    );
    for (kind, uid) in affected
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .take(MAX_RESOURCES)
    {
        out.push(Resource {
            uid: string(Some(uid)),
            r#type: Some(clamp(Cow::Borrowed(kind.as_str()))),
            cloud_partition: field(&r.partition),
            region: field(&r.region),
            ..Default::default()
        });
    }
    let resource = get(r.finding, "resource");
    let details = resource.and_then(|res| details(res, r.resource_type.as_deref()));
    let arn = details.and_then(arn);
    let mut main = Resource {
        uid: arn.clone().or_else(|| field(&r.resource_id)),
        uid_alt: field(&r.resource_id).filter(|_| arn.is_some() && version == OcsfVersion::V1_8_0),
        name: main_name(r).or_else(|| field(&r.resource_id).filter(|_| arn.is_some())),
        r#type: field(&r.resource_type),
        cloud_partition: field(&r.partition),
        region: field(&r.region),
        owner: owner(field(&r.account_id)),
        data: details.and_then(data),
        ..Default::default()
    };
    tag(&mut main, details, version);
    // OCSF needs a name or a uid: a resource known only by its type is named by it.
    if main.uid.is_none() && main.name.is_none() {
        main.name = main.r#type.clone();
    }
    if main.uid.is_some() || main.name.is_some() {
        out.insert(0, main);
    }
    if let Some(res) = resource {
        out.extend(secondary(r, res, version));
    }
    out.retain(|res| res.uid.is_some() || res.name.is_some());
    out.truncate(MAX_RESOURCES);
    out
}

/// The detail block `resourceType` names (the first bucket of `s3BucketDetails`).
fn details<'a>(resource: &'a Value, resource_type: Option<&str>) -> Option<&'a Value> {
    let key = match resource_type? {
        "Instance" => "instanceDetails",
        "AccessKey" => "accessKeyDetails",
        "S3Bucket" | "S3Object" => return first(get(resource, "s3BucketDetails")),
        "EKSCluster" => "eksClusterDetails",
        "ECSCluster" => "ecsClusterDetails",
        "RDSDBInstance" => "rdsDbInstanceDetails",
        "RDSLimitlessDB" => "rdsLimitlessDbDetails",
        "Lambda" => "lambdaDetails",
        "Container" => "containerDetails",
        "EBSVolume" => "ebsVolumeDetails",
        _ => return None,
    };
    get(resource, key).filter(|d| d.is_object())
}

/// The ARN a detail block carries.
fn arn(details: &Value) -> Str<'_> {
    ["arn", "functionArn", "dbInstanceArn", "dbClusterArn"]
        .into_iter()
        .find_map(|k| string(get(details, k)))
        .filter(|a| a.starts_with("arn:"))
}

/// A detail block's `tags` (`[{key, value}]`): `labels` as `key=value` in 1.1.0, `tags` in
/// 1.8.0.
fn tag<'a>(res: &mut Resource<'a>, details: Option<&'a Value>, version: OcsfVersion) {
    let tags = details
        .and_then(|d| get(d, "tags"))
        .and_then(Value::as_array);
    for t in tags.into_iter().flatten().take(MAX_TAGS) {
        let Some(key) = string(get(t, "key")) else {
            continue;
        };
        let value = string(get(t, "value"));
        match version {
            OcsfVersion::V1_1_0 => {
                let label = format!("{key}={}", value.as_deref().unwrap_or_default());
                res.labels.push(clamp(Cow::Owned(label)).into_owned());
            }
            // OCSF wants a value; an AWS tag may have an empty one.
            OcsfVersion::V1_8_0 => res.tags.push(KeyValue {
                name: key,
                value: value.or(Some(Cow::Borrowed(""))),
                ..Default::default()
            }),
        }
    }
}

/// Resources beside the affected one: the other buckets of `s3BucketDetails`, the Kubernetes
/// workload (`kubernetesDetails.kubernetesWorkloadDetails`: pod or deployment, namespace,
/// containers and their images, privileged flags), the container of a runtime finding
/// (`containerDetails`) and the ECS task.
fn secondary<'a>(
    r: &'a Record<'a>,
    resource: &'a Value,
    version: OcsfVersion,
) -> Vec<Resource<'a>> {
    let mut out = Vec::new();
    let base = || Resource {
        cloud_partition: field(&r.partition),
        region: field(&r.region),
        owner: owner(field(&r.account_id)),
        ..Default::default()
    };
    let buckets = get(resource, "s3BucketDetails").and_then(Value::as_array);
    for b in buckets.into_iter().flatten().skip(1).take(MAX_RESOURCES) {
        let mut res = Resource {
            uid: arn(b).or_else(|| string(get(b, "name"))),
            name: string(get(b, "name")),
            r#type: Some(Cow::Borrowed("S3Bucket")),
            data: data(b),
            ..base()
        };
        tag(&mut res, Some(b), version);
        out.push(res);
    }
    let workload = path(
        resource,
        &["kubernetesDetails", "kubernetesWorkloadDetails"],
    );
    if let Some(w) = workload.filter(|w| w.is_object()) {
        out.push(Resource {
            uid: string(get(w, "uid")),
            name: string(get(w, "name")),
            r#type: Some(
                string(get(w, "type")).map_or(Cow::Borrowed("KubernetesWorkload"), |t| {
                    Cow::Owned(format!("KubernetesWorkload/{t}"))
                }),
            ),
            namespace: string(get(w, "namespace")),
            data: data(w),
            ..base()
        });
    }
    let container = get(resource, "containerDetails").filter(|c| c.is_object());
    if let Some(c) = container.filter(|_| r.resource_type.as_deref() != Some("Container")) {
        out.push(Resource {
            uid: string(get(c, "id")),
            name: string(get(c, "name")),
            r#type: Some(Cow::Borrowed("Container")),
            data: data(c),
            ..base()
        });
    }
    let task = path(resource, &["ecsClusterDetails", "taskDetails"]);
    if let Some(t) = task.filter(|t| t.is_object()) {
        let mut res = Resource {
            uid: string(get(t, "arn")),
            name: string(get(t, "definitionArn")),
            r#type: Some(Cow::Borrowed("ECSTask")),
            data: data(t),
            ..base()
        };
        tag(&mut res, Some(t), version);
        out.push(res);
    }
    out
}

fn owner(uid: Str<'_>) -> Option<Owner<'_>> {
    uid.map(|uid| Owner {
        account: Some(aws_account(uid)),
        ..Default::default()
    })
}

/// A name beside the uid where GuardDuty gives one: the IAM user of an access key.
fn main_name<'a>(r: &'a Record<'a>) -> Str<'a> {
    let resource = get(r.finding, "resource")?;
    match r.resource_type.as_deref() {
        Some("AccessKey") => string(path(resource, &["accessKeyDetails", "userName"])),
        Some("EKSCluster") => string(path(resource, &["eksClusterDetails", "name"])),
        Some("ECSCluster") => string(path(resource, &["ecsClusterDetails", "name"])),
        Some("RDSDBInstance") => string(path(
            resource,
            &["rdsDbInstanceDetails", "dbInstanceIdentifier"],
        )),
        Some("Lambda") => string(path(resource, &["lambdaDetails", "functionName"])),
        Some("S3Bucket" | "S3Object") => {
            string(first(get(resource, "s3BucketDetails")).and_then(|b| get(b, "name")))
        }
        _ => None,
    }
}

/// Where GuardDuty's remediation guides live.
#[cfg(test)]
const GUIDE: &str = "https://docs.aws.amazon.com/guardduty/latest/ug/";

/// The remediation guide for a resource type.
pub fn remediation(resource_type: Option<&str>) -> Remediation<'static> {
    let (desc, page) = match resource_type.unwrap_or_default() {
        "Instance" => (
            "Follow GuardDuty's guide to remediating a potentially compromised Amazon EC2 instance.",
            "compromised-ec2.html",
        ),
        "AccessKey" => (
            "Follow GuardDuty's guide to remediating potentially compromised AWS credentials.",
            "compromised-creds.html",
        ),
        "S3Bucket" => (
            "Follow GuardDuty's guide to remediating a potentially compromised S3 bucket.",
            "compromised-s3.html",
        ),
        "S3Object" => (
            "Follow GuardDuty's guide to remediating a potentially malicious S3 object.",
            "compromised-s3object-malware-protection-gdu.html",
        ),
        "ECSCluster" => (
            "Follow GuardDuty's guide to remediating a potentially compromised ECS cluster.",
            "compromised-ecs.html",
        ),
        "EKSCluster" => (
            "Follow GuardDuty's guide to remediating Kubernetes protection findings.",
            "guardduty-remediate-kubernetes.html",
        ),
        _ => (
            "Follow GuardDuty's remediation guide for the affected resource type.",
            "guardduty_remediate.html",
        ),
    };
    Remediation {
        desc,
        references: [guide_url(page)],
        ..Default::default()
    }
}

/// The full address of a guide page (all pages live under one prefix).
fn guide_url(page: &'static str) -> &'static str {
    GUIDE_PAGES
        .iter()
        .find(|(p, _)| *p == page)
        .map(|(_, url)| *url)
        .unwrap_or(concat!(
            "https://docs.aws.amazon.com/guardduty/latest/ug/",
            "guardduty_remediate.html"
        ))
}

macro_rules! guide_pages {
    ($($page:literal),*) => {
        const GUIDE_PAGES: &[(&str, &str)] = &[$(($page, concat!("https://docs.aws.amazon.com/guardduty/latest/ug/", $page))),*];
    };
}

guide_pages!(
    "compromised-ec2.html",
    "compromised-creds.html",
    "compromised-s3.html",
    "compromised-s3object-malware-protection-gdu.html",
    "compromised-ecs.html",
    "guardduty-remediate-kubernetes.html",
    "guardduty_remediate.html"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_resource_type_points_at_its_remediation_guide() {
        assert!(GUIDE_PAGES.iter().all(|(_, url)| url.starts_with(GUIDE)));
        let r = remediation(Some("Instance"));
        assert_eq!(
            r.references,
            ["https://docs.aws.amazon.com/guardduty/latest/ug/compromised-ec2.html"]
        );
        let r = remediation(Some("SomethingNew"));
        assert_eq!(
            r.references,
            ["https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_remediate.html"]
        );
    }
}
