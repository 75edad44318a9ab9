//! `resources[]` and `remediation`: the affected resource (or, for an attack sequence, every
//! resource the sequence names), and the GuardDuty remediation guide for its type.

use std::borrow::Cow;

use serde_json::Value;

use super::model::{Account, Owner, Remediation, Resource, Str};
use super::values::{clamp, field, string};
use crate::normalize::{Record, get, path};

/// At most this many resources are listed.
const MAX_RESOURCES: usize = 32;

/// An AWS account, as OCSF types it.
pub fn aws_account(uid: Cow<'_, str>) -> Account<'_> {
    Account {
        uid: Some(uid),
        type_id: Some(10),
        ..Default::default()
    }
}

pub fn resources<'a>(r: &'a Record<'a>) -> Vec<Resource<'a>> {
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
    let mut main = Resource {
        uid: field(&r.resource_id),
        name: main_name(r),
        r#type: field(&r.resource_type),
        cloud_partition: field(&r.partition),
        region: field(&r.region),
        owner: owner(field(&r.account_id)),
        ..Default::default()
    };
    // OCSF needs a name or a uid: a resource known only by its type is named by it.
    if main.uid.is_none() && main.name.is_none() {
        main.name = main.r#type.clone();
    }
    if main.uid.is_some() || main.name.is_some() {
        out.insert(0, main);
    }
    out.retain(|res| res.uid.is_some() || res.name.is_some());
    out.truncate(MAX_RESOURCES);
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
        Some("RDSDBInstance") => string(path(
            resource,
            &["rdsDbInstanceDetails", "dbInstanceIdentifier"],
        )),
        Some("Lambda") => string(path(resource, &["lambdaDetails", "functionName"])),
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
