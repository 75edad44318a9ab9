"""Deployment tests, run by scripts/test with the moto venv's Python (unittest):

- the function role's permissions are exactly the least-privilege list, no `*` action;
- stackset.yaml deploys through CloudFormation StackSets (moto, in process) into two regions,
  each getting the function (no reserved concurrency, LOG_LEVEL and DLQ_URL set), both rules
  (the schedule through the `backfill` alias), the log group with its retention, the DLQ,
  the backfill state table and the role.
"""

import io
import json
import os
import re
import unittest
import uuid
import zipfile

import yaml

import cfn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "eu-west-1"]

# Every action the function's role may have, and why.
ALLOWED_ACTIONS = {
    "guardduty:ListDetectors", "guardduty:ListFindings", "guardduty:GetFindings",  # backfill
    "sqs:SendMessage", "sqs:GetQueueAttributes",  # findings queue; SendMessage also to the DLQ
    # the automatic redrive of findings parked in the DLQ (that queue only)
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "firehose:PutRecordBatch",  # the Firehose stream FirehoseStreamArn names, only it
    "s3:PutObject",  # new objects under S3BucketName/S3Prefix, only there
    "secretsmanager:GetSecretValue",  # collector credential
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",  # backfill state
    "ssm:GetParameter",  # an earlier version's SSM checkpoint, read once to migrate it
    "sts:AssumeRole",  # reading GuardDuty through another role
    "kms:GenerateDataKey", "kms:Decrypt",  # only for a queue (or S3 objects) encrypted with a given key
    "logs:CreateLogStream", "logs:PutLogEvents",  # the function's own log group
    # Account context (AccountContext=organizations): read-only, no resource-level scope exists.
    "organizations:DescribeAccount", "organizations:ListParents",
    "organizations:DescribeOrganizationalUnit", "organizations:ListTagsForResource",
}
ORGANIZATIONS_ACTIONS = {a for a in ALLOWED_ACTIONS if a.startswith("organizations:")}
# Lambda's network interfaces in a VPC (VpcSubnetIds): no resource-level permissions exist.
VPC_ACTIONS = {
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
}


def load(name):
    with open(os.path.join(ROOT, name)) as f:
        return yaml.safe_load(f)


def as_list(v):
    return v if isinstance(v, list) else [v]


def role_statements(template):
    """Statements of the function role's inline policies and of every AWS::IAM::Policy on it."""
    out = []
    for logical, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for p in props.get("Policies", []):
                out += [(logical, p["PolicyName"], s) for s in as_list(p["PolicyDocument"]["Statement"])]
        elif res["Type"] == "AWS::IAM::Policy":
            out += [(logical, props["PolicyName"], s) for s in as_list(props["PolicyDocument"]["Statement"])]
    return out


class RolePolicyTest(unittest.TestCase):
    def test_the_role_grants_only_the_listed_actions_and_no_wildcard_action(self):
        template = load("stackset.yaml")
        statements = role_statements(template)
        self.assertTrue(statements)
        for logical, name, st in statements:
            self.assertEqual(st["Effect"], "Allow", f"{logical}/{name}")
            for action in as_list(st["Action"]):
                self.assertNotIn("*", action, f"wildcard action {action} in {logical}/{name}")
                allowed = ALLOWED_ACTIONS | (VPC_ACTIONS if logical == "VpcAccessPolicy" else set())
                self.assertIn(action, allowed, f"unexpected action {action} in {logical}/{name}")

    def test_only_list_detectors_and_the_vpc_interface_actions_have_an_unscoped_resource(self):
        for logical, name, st in role_statements(load("stackset.yaml")):
            if st["Resource"] == "*":
                if logical == "VpcAccessPolicy":
                    self.assertEqual(set(as_list(st["Action"])), VPC_ACTIONS)
                elif logical == "OrganizationsReadPolicy":
                    self.assertEqual(set(as_list(st["Action"])), ORGANIZATIONS_ACTIONS)
                else:
                    self.assertEqual(as_list(st["Action"]), ["guardduty:ListDetectors"], f"{logical}/{name}")

    def test_optional_permissions_exist_only_under_their_condition(self):
        resources = load("stackset.yaml")["Resources"]
        for logical, res in resources.items():
            if res["Type"] == "AWS::IAM::Policy":
                self.assertIn("Condition", res, f"{logical} must be conditional")

    def test_the_sam_template_and_the_stackset_template_have_the_same_role(self):
        sam = load_sam()
        ss = load("stackset.yaml")["Resources"]
        self.assertEqual(sam["FunctionRole"]["Properties"]["Policies"], ss["FunctionRole"]["Properties"]["Policies"])


def load_sam():
    """template.yaml's resources (CloudFormation short tags read in their long form)."""
    return cfn.load(os.path.join(ROOT, "template.yaml"))["Resources"]


def patch_moto_stackset_names():
    """moto names stack-set stacks `StackSet:<name>` (AWS: `StackSet-<name>-<uuid>`) and does not
    shorten generated resource names as CloudFormation does; make both look like AWS's."""
    from moto.cloudformation import models, parsing

    generate = parsing.generate_resource_name

    def generate_resource_name(resource_type, stack_name, logical_id):
        return generate(resource_type, re.sub(r"[^A-Za-z0-9-]", "-", stack_name)[:40], logical_id)

    parsing.generate_resource_name = generate_resource_name
    create = models.CloudFormationBackend.create_stack

    def create_stack(self, name, *args, **kwargs):
        if name.startswith("StackSet:"):
            name = f"StackSet-{name[len('StackSet:'):]}-{uuid.uuid4().hex[:8]}"
        return create(self, name, *args, **kwargs)

    models.CloudFormationBackend.create_stack = create_stack


def patch_moto_lambda_alias():
    """moto deploys no AWS::Lambda::Alias from a template; create it through moto's Lambda, as
    CloudFormation would (its Ref is the alias ARN)."""
    from moto.awslambda import models as lambda_models
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    class Alias(CloudFormationModel):
        # moto's model registry reads the service from the module's name.
        __module__ = "moto.awslambda.models"

        def __init__(self, alias):
            self.alias = alias
            self.physical_resource_id = alias.arn

        @staticmethod
        def cloudformation_type():
            return "AWS::Lambda::Alias"

        @staticmethod
        def cloudformation_name_type():
            return "Name"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            props = cloudformation_json["Properties"]
            backend = lambda_models.lambda_backends[account_id][region_name]
            return cls(backend.create_alias(props["Name"], props["FunctionName"], props["FunctionVersion"],
                                            props.get("Description", ""), None))

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    return Alias


def function_zip():
    """The zip `cargo lambda build` made when CI built it, else a stand-in with a bootstrap."""
    path = os.environ.get("GDF_LAMBDA_ZIP")
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
    return buf.getvalue()


class StackSetDeploymentTest(unittest.TestCase):
    def test_the_stack_set_deploys_every_part_into_two_regions(self):
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        for k in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[k]
        import boto3
        from moto import mock_aws

        patch_moto_stackset_names()
        patch_moto_lambda_alias()
        params = [
            {"ParameterKey": "ArtifactBucketPrefix", "ParameterValue": "gdf-artifacts"},
            {"ParameterKey": "ArtifactKey", "ParameterValue": "guardduty-forwarder/bootstrap.zip"},
            {"ParameterKey": "LogRetentionInDays", "ParameterValue": "90"},
            {"ParameterKey": "QueueMode", "ParameterValue": "create"},
            # CI builds the x86_64 zip (arm64 needs a Rust target this machine may not have).
            {"ParameterKey": "Architecture", "ParameterValue": "x86_64"},
        ]
        with mock_aws():
            code = function_zip()
            for region in REGIONS:
                s3 = boto3.client("s3", region_name=region)
                bucket = f"gdf-artifacts-{region}"
                if region == "us-east-1":
                    s3.create_bucket(Bucket=bucket)
                else:
                    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
                s3.put_object(Bucket=bucket, Key="guardduty-forwarder/bootstrap.zip", Body=code)
            cf = boto3.client("cloudformation", region_name="us-east-1")
            with open(os.path.join(ROOT, "stackset.yaml")) as f:
                body = f.read()
            cf.create_stack_set(
                StackSetName="guardduty-forwarder",
                TemplateBody=body,
                Capabilities=["CAPABILITY_IAM"],
                Parameters=params,
                # moto deploys resources only for self-managed stack sets; the template is the same.
                PermissionModel="SELF_MANAGED",
            )
            cf.create_stack_instances(
                StackSetName="guardduty-forwarder", Accounts=[ACCOUNT], Regions=REGIONS, ParameterOverrides=params
            )
            instances = cf.list_stack_instances(StackSetName="guardduty-forwarder")["Summaries"]
            self.assertEqual(sorted(i["Region"] for i in instances), sorted(REGIONS))
            for region in REGIONS:
                with self.subTest(region=region):
                    self.check_region(boto3, region)

    def check_region(self, boto3, region):
        cf = boto3.client("cloudformation", region_name=region)
        stacks = [s for s in cf.list_stacks()["StackSummaries"] if s["StackName"].startswith("StackSet-")]
        self.assertEqual(len(stacks), 1)
        self.assertEqual(stacks[0]["StackStatus"], "CREATE_COMPLETE")
        resources = {
            r["LogicalResourceId"]: r
            for r in cf.list_stack_resources(StackName=stacks[0]["StackName"])["StackResourceSummaries"]
        }
        for logical in ["Function", "FunctionRole", "LogGroup", "DeadLetterQueue", "FindingsQueue",
                        "FunctionFinding", "FunctionBackfill", "BackfillAlias", "StateTable"]:
            self.assertIn(logical, resources)

        fn = boto3.client("lambda", region_name=region).get_function(
            FunctionName=resources["Function"]["PhysicalResourceId"]
        )["Configuration"]
        self.assertEqual(fn["Runtime"], "provided.al2023")
        self.assertEqual(fn["Handler"], "bootstrap")
        self.assertEqual(fn["Architectures"], ["x86_64"])
        self.assertEqual(fn["MemorySize"], 128)
        env = fn["Environment"]["Variables"]
        self.assertTrue(env["SQS_QUEUE_URL"].endswith(resources["FindingsQueue"]["PhysicalResourceId"].rsplit("/", 1)[-1]))
        self.assertIn("CHECKPOINT_PARAMETER", env)
        self.assertEqual(env["STATE_TABLE"], resources["StateTable"]["PhysicalResourceId"])
        # moto keeps a Number parameter's type where Lambda would hold the string "60".
        self.assertEqual((env["STATE_PREFIX"], str(env["BACKFILL_RESCAN_MINUTES"]), env["METRICS_DETAIL"]), ("", "60", "default"))
        table = boto3.client("dynamodb", region_name=region).describe_table(
            TableName=env["STATE_TABLE"])["Table"]
        self.assertEqual(table["KeySchema"], [{"AttributeName": "pk", "KeyType": "HASH"}])
        self.assertEqual(table["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(env["LOG_LEVEL"], "INFO")
        self.assertEqual(env["DLQ_URL"], resources["DeadLetterQueue"]["PhysicalResourceId"])
        function = boto3.client("lambda", region_name=region).get_function(
            FunctionName=resources["Function"]["PhysicalResourceId"])
        self.assertNotIn("Concurrency", function, "no reserved concurrency by default")

        rules = {r["Name"]: r for r in boto3.client("events", region_name=region).list_rules()["Rules"]}
        finding_rule = rules[resources["FunctionFinding"]["PhysicalResourceId"]]
        pattern = json.loads(finding_rule["EventPattern"])
        self.assertEqual(pattern["source"], ["aws.guardduty"])
        self.assertEqual(pattern["detail-type"], ["GuardDuty Finding"])
        schedule = rules[resources["FunctionBackfill"]["PhysicalResourceId"]]
        self.assertEqual(schedule["ScheduleExpression"], "rate(5 minutes)")
        self.assertEqual(schedule["State"], "ENABLED")
        targets = boto3.client("events", region_name=region).list_targets_by_rule(Rule=schedule["Name"])["Targets"]
        self.assertTrue(targets[0]["Arn"].endswith(":backfill"), targets[0]["Arn"])

        groups = boto3.client("logs", region_name=region).describe_log_groups()["logGroups"]
        group = [g for g in groups if g["logGroupName"] == resources["LogGroup"]["PhysicalResourceId"]]
        self.assertEqual(group[0]["retentionInDays"], 90)

        dlq_url = resources["DeadLetterQueue"]["PhysicalResourceId"]
        attrs = boto3.client("sqs", region_name=region).get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])
        self.assertEqual(attrs["Attributes"].get("SqsManagedSseEnabled"), "true")
        self.assertEqual(attrs["Attributes"].get("MaximumMessageSize"), "1048576")

        role = boto3.client("iam").get_role(RoleName=resources["FunctionRole"]["PhysicalResourceId"])["Role"]
        self.assertIn("lambda.amazonaws.com", json.dumps(role["AssumeRolePolicyDocument"]))


if __name__ == "__main__":
    unittest.main()
