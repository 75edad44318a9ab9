"""scripts/deploy-stackset: its pure parts, its handling of stack-set operations (with a fake
AWS CLI where moto cannot fail an operation or tell the caller is a delegated administrator),
and whole runs with the real AWS CLI against moto's Organizations, S3 and CloudFormation
(moto_server on a loopback port), through a shim that records every CLI call.
"""

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "deploy-stackset")


def load_script():
    loader = importlib.machinery.SourceFileLoader("deploy_stackset", SCRIPT)
    spec = importlib.util.spec_from_loader("deploy_stackset", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


ds = load_script()
with open(os.path.join(ROOT, "stackset.yaml")) as f:
    DECLARED = ds.template_parameters(f.read())


class ParametersTest(unittest.TestCase):
    def test_a_value_with_commas_stays_one_value(self):
        given = ds.parse_params(["GuardDutyRegions=us-east-1,eu-west-1", "DetectorIds=a,b"], None, DECLARED)
        self.assertEqual(given, {"GuardDutyRegions": "us-east-1,eu-west-1", "DetectorIds": "a,b"})
        params = ds.stack_set_parameters(given, None)
        self.assertIn({"ParameterKey": "GuardDutyRegions", "ParameterValue": "us-east-1,eu-west-1"}, params)

    def test_a_value_may_contain_an_equals_sign(self):
        self.assertEqual(ds.parse_params(["CollectorUrl=https://c.example.com/?a=b"], None, DECLARED),
                         {"CollectorUrl": "https://c.example.com/?a=b"})

    def test_a_params_file_takes_both_json_forms(self):
        with tempfile.TemporaryDirectory() as d:
            for data in ({"QueueMode": "create", "MemorySize": 256},
                         [{"ParameterKey": "QueueMode", "ParameterValue": "create"},
                          {"ParameterKey": "MemorySize", "ParameterValue": "256"}]):
                path = os.path.join(d, "p.json")
                with open(path, "w") as f:
                    json.dump(data, f)
                self.assertEqual(ds.parse_params([], path, DECLARED), {"QueueMode": "create", "MemorySize": "256"})

    def test_an_unknown_parameter_is_named(self):
        with self.assertRaisesRegex(ds.DeployError, "QueueMod\\b"):
            ds.parse_params(["QueueMod=create"], None, DECLARED)

    def test_a_param_without_an_equals_sign_is_refused(self):
        with self.assertRaisesRegex(ds.DeployError, "expected Key=Value"):
            ds.parse_params(["QueueMode"], None, DECLARED)

    def test_an_update_keeps_every_previous_value_not_given(self):
        params = ds.stack_set_parameters({"ArtifactKey": "k2"}, ["ArtifactKey", "QueueMode", "GuardDutyRegions"])
        self.assertEqual(params, [
            {"ParameterKey": "ArtifactKey", "ParameterValue": "k2"},
            {"ParameterKey": "GuardDutyRegions", "UsePreviousValue": True},
            {"ParameterKey": "QueueMode", "UsePreviousValue": True},
        ])

    def test_the_template_parameters_are_read_from_the_generated_template(self):
        self.assertIn("QueueMode", DECLARED)
        self.assertIn("ArtifactKey", DECLARED)
        self.assertNotIn("Type", DECLARED)


class CodeAndBucketTest(unittest.TestCase):
    def test_the_code_key_is_the_zips_content_hash(self):
        a, b = ds.code_key(b"one", "arm64"), ds.code_key(b"two", "arm64")
        self.assertNotEqual(a, b)
        self.assertEqual(a, ds.code_key(b"one", "arm64"))
        self.assertIn(hashlib.sha256(b"one").hexdigest()[:32], a)
        self.assertTrue(a.endswith("/bootstrap-arm64.zip"))

    def test_the_partition_comes_from_the_callers_arn(self):
        self.assertEqual(ds.partition_of("arn:aws-us-gov:iam::123456789012:user/x"), "aws-us-gov")
        self.assertEqual(ds.partition_of("arn:aws-cn:sts::123456789012:assumed-role/r/s"), "aws-cn")
        with self.assertRaises(ds.DeployError):
            ds.partition_of("not-an-arn")

    def test_the_bucket_policy_keeps_other_statements_and_replaces_its_own(self):
        existing = {"Version": "2012-10-17", "Id": "p", "Statement": [
            {"Sid": "KeepMe", "Effect": "Allow", "Principal": {"AWS": "arn:aws-us-gov:iam::111122223333:root"},
             "Action": "s3:ListBucket", "Resource": "arn:aws-us-gov:s3:::b"},
            {"Sid": ds.SID_READ, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "old"},
        ]}
        merged = ds.merged_bucket_policy(existing, "b", "aws-us-gov", "o-abc")
        self.assertEqual(merged["Id"], "p")
        sids = [s["Sid"] for s in merged["Statement"]]
        self.assertEqual(sids, ["KeepMe", ds.SID_READ, ds.SID_TLS])
        read = merged["Statement"][1]
        self.assertEqual(read["Resource"], "arn:aws-us-gov:s3:::b/guardduty-forwarder/*")
        self.assertEqual(read["Condition"], {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})
        tls = merged["Statement"][2]
        self.assertEqual((tls["Effect"], tls["Condition"]), ("Deny", {"Bool": {"aws:SecureTransport": "false"}}))
        self.assertEqual(ds.merged_bucket_policy(merged, "b", "aws-us-gov", "o-abc"), merged)

    def test_only_ou_and_region_pairs_without_instances_are_created(self):
        existing = [{"OrganizationalUnitId": "ou-a", "Region": "us-east-1", "Account": "1"},
                    {"OrganizationalUnitId": "ou-b", "Region": "us-east-1", "Account": "2"}]
        groups = ds.missing_targets(existing, ["ou-a", "ou-b", "ou-c"], ["us-east-1", "eu-west-1"])
        self.assertEqual(sorted((sorted(o), r) for o, r in groups),
                         [(["ou-a", "ou-b"], ["eu-west-1"]), (["ou-c"], ["us-east-1", "eu-west-1"])])
        self.assertEqual(ds.missing_targets(existing, ["ou-a"], ["us-east-1"]), [])


class TopologyTest(unittest.TestCase):
    def test_accounts_narrow_the_ous_and_excluded_accounts_are_taken_out(self):
        self.assertEqual(ds.deployment_targets(["ou-a"], None, None), {"OrganizationalUnitIds": ["ou-a"]})
        self.assertEqual(ds.deployment_targets(["ou-a"], ["111111111111"], None),
                         {"OrganizationalUnitIds": ["ou-a"], "Accounts": ["111111111111"], "AccountFilterType": "INTERSECTION"})
        self.assertEqual(ds.deployment_targets(["ou-a"], None, ["111111111111"]),
                         {"OrganizationalUnitIds": ["ou-a"], "Accounts": ["111111111111"], "AccountFilterType": "DIFFERENCE"})
        with self.assertRaises(ds.DeployError):
            ds.deployment_targets(["ou-a"], ["111111111111"], ["222222222222"])

    def test_accounts_and_excluded_accounts_cannot_be_given_together(self):
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            ds.parse_args(["--bucket-prefix", "gdf", "--regions", "us-east-1", "--ous", "ou-abcd-11111111",
                           "--accounts", "111111111111", "--exclude-accounts", "222222222222"])

    def test_guardduty_regions_that_the_stack_set_also_covers_are_warned_about(self):
        warnings = ds.double_forwarding_warnings({"GuardDutyRegions": "us-east-1,eu-west-1"},
                                                 ["us-east-1", "eu-west-1", "ap-southeast-2"], None)
        self.assertEqual(len(warnings), 1)
        self.assertIn("us-east-1, eu-west-1", warnings[0])
        self.assertIn("leave GuardDutyRegions empty", warnings[0])
        self.assertEqual(ds.double_forwarding_warnings({"GuardDutyRegions": ""}, ["us-east-1", "eu-west-1"], None), [])

    def test_a_reader_role_for_more_than_the_administrator_is_warned_about(self):
        role = {"AssumeRoleArn": "arn:aws:iam::111111111111:role/guardduty-forwarder-reader"}
        self.assertIn("whole organization", ds.double_forwarding_warnings(role, ["us-east-1"], None)[0])
        self.assertEqual(ds.double_forwarding_warnings(role, ["us-east-1"], ["111111111111"]), [])

    def test_the_bucket_prefix_rule_is_the_templates(self):
        with open(os.path.join(ROOT, "stackset.yaml")) as f:
            pattern = ds.bucket_prefix_pattern(f.read())
        for good in ("gdf", "my-org.gdf-artifacts"):
            self.assertTrue(pattern.match(good), good)
        for bad in ("gdf.", "gdf-", "a..b", "xn--gdf", "GDF"):
            self.assertFalse(pattern.match(bad), bad)

    def test_the_template_goes_by_url_from_the_home_regions_bucket_once_it_nears_the_limit(self):
        aws = FakeAws({("s3api", "put-object"): {}})
        template = os.path.join(ROOT, "stackset.yaml")
        self.assertEqual(ds.template_argument(aws, template, "gdf-us-east-1", "us-east-1", "aws", 10**6),
                         ["--template-body", f"file://{template}"])
        self.assertEqual(aws.calls, [])
        with contextlib.redirect_stdout(io.StringIO()):
            arg = ds.template_argument(aws, template, "gdf-cn-north-1", "cn-north-1", "aws-cn", 1000)
        self.assertEqual(arg[0], "--template-url")
        self.assertRegex(arg[1], r"^https://gdf-cn-north-1\.s3\.cn-north-1\.amazonaws\.com\.cn/guardduty-forwarder/[0-9a-f]{32}/stackset\.yaml$")
        self.assertEqual(aws.calls[0][:2], ("s3api", "put-object"))

    def test_the_generated_template_fits_the_body_limit_or_the_script_sends_it_by_url(self):
        size = os.path.getsize(os.path.join(ROOT, "stackset.yaml"))
        self.assertLess(size, 1024 * 1024, "TemplateURL takes up to 1 MB")


class FakeAws:
    """Answers the CLI calls the script makes from a table; records them."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, service, operation, *args, region=None):
        self.calls.append((service, operation, args))
        answer = self.answers[(service, operation)]
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class OperationsTest(unittest.TestCase):
    def setUp(self):
        os.environ["GDF_POLL_SECONDS"] = "0"
        quiet = contextlib.redirect_stdout(io.StringIO())
        quiet.__enter__()
        self.addCleanup(quiet.__exit__, None, None, None)

    def test_a_caller_that_is_not_the_management_account_calls_as_delegated_admin(self):
        aws = FakeAws({("organizations", "describe-organization"): {"Organization": {"Id": "o-1", "MasterAccountId": "111111111111"}}})
        self.assertEqual(ds.detect_call_as(aws, "222222222222")[1], "DELEGATED_ADMIN")
        self.assertEqual(ds.detect_call_as(aws, "111111111111")[1], "SELF")

    def test_waiting_polls_until_the_operation_succeeds(self):
        running = {"StackSetOperation": {"Status": "RUNNING"}}
        aws = FakeAws({("cloudformation", "describe-stack-set-operation"): [running, running, {"StackSetOperation": {"Status": "SUCCEEDED"}}]})
        ds.wait_for(aws, "gdf", "DELEGATED_ADMIN", "op-1", "update")
        self.assertEqual(len(aws.calls), 3)
        for _, _, args in aws.calls:
            self.assertIn("op-1", args)
            self.assertEqual(args[args.index("--call-as") + 1], "DELEGATED_ADMIN")

    def test_a_failed_operation_fails_the_run_naming_the_accounts_and_regions(self):
        aws = FakeAws({
            ("cloudformation", "describe-stack-set-operation"): {"StackSetOperation": {"Status": "FAILED"}},
            ("cloudformation", "list-stack-set-operation-results"): {"Summaries": [
                {"Account": "333333333333", "Region": "eu-west-1", "Status": "FAILED",
                 "StatusReason": "ResourceLogicalId:Function, Concurrency limit exceeded"},
                {"Account": "444444444444", "Region": "eu-west-1", "Status": "SUCCEEDED"}]},
        })
        with self.assertRaisesRegex(ds.DeployError, "failed: 333333333333/eu-west-1: .*Concurrency") as ctx:
            ds.wait_for(aws, "gdf", "SELF", "op-2", "instances")
        self.assertNotIn("444444444444", str(ctx.exception))

    def test_a_stack_set_that_cannot_be_described_for_another_reason_is_an_error(self):
        aws = FakeAws({("cloudformation", "describe-stack-set"): ds.AwsError("cloudformation describe-stack-set", "AccessDenied")})
        with self.assertRaises(ds.AwsError):
            ds.describe_stack_set(aws, "gdf", "SELF")
        aws = FakeAws({("cloudformation", "describe-stack-set"): ds.AwsError("cloudformation describe-stack-set", "An error occurred (StackSetNotFoundException)")})
        self.assertIsNone(ds.describe_stack_set(aws, "gdf", "SELF"))


def aws_cli():
    for candidate in (os.environ.get("GDF_AWS_CLI"),
                      os.path.join(os.environ.get("GDF_TOOLS", os.path.join(ROOT, ".tools")), "awscli", "bin", "aws"),
                      shutil.which("aws")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


# moto_server, except that S3 bucket policies are judged by their unconditioned statements only
# (moto ignores Conditions, so the TLS-only Deny (aws:SecureTransport false) would deny every
# request, TLS or not), and that it deploys the template's AWS::Lambda::Alias (test_templates).
MOTO_SERVER = """
import json, sys
sys.path.insert(0, sys.argv[2])
from moto.s3 import models
from moto.server import main
from test_templates import patch_moto_lambda_alias
patch_moto_lambda_alias()

def get_permission(self, action, resource):
    from moto.iam.access_control import IAMPolicy, PermissionResult
    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy)
    policy["Statement"] = [s for s in policy["Statement"] if "Condition" not in s]
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

models.FakeBucket.get_permission = get_permission
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""

SHIM = """#!{python}
import json, os, sys
args = sys.argv[1:]
record = [open(a[7:]).read() if a.startswith("file://") and a.endswith(".json") else a for a in args]
with open({log!r}, "a") as f:
    f.write(json.dumps(record) + "\\n")
os.execv({real!r}, [{real!r}] + args)
"""


def stand_in_zip(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", f"#!/bin/sh\n# {text}\nexit 1\n")
    return buf.getvalue()


class MotoRunTest(unittest.TestCase):
    """Two runs of the script, create then upgrade with one more region, against moto."""

    body_limit = "51200"

    @classmethod
    def setUpClass(cls):
        cli = aws_cli()
        if not cli:
            raise unittest.SkipTest("no AWS CLI (scripts/test installs one and sets GDF_AWS_CLI)")
        cls.tmp = tempfile.mkdtemp(prefix="gdf-deploy-test-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cls.endpoint = f"http://127.0.0.1:{port}"
        cls.server = subprocess.Popen([sys.executable, "-c", MOTO_SERVER, str(port), os.path.dirname(os.path.abspath(__file__))],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Runs even when the set-up below fails: no moto_server is left behind.
        cls.addClassCleanup(cls.server.wait)
        cls.addClassCleanup(cls.server.terminate)
        # Up to a minute: moto's import alone takes seconds on a loaded machine.
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{cls.endpoint}/moto-api/")
                break
            except OSError:
                if time.monotonic() > deadline or cls.server.poll() is not None:
                    raise AssertionError(f"moto_server did not answer on {cls.endpoint} within 60 s")
                time.sleep(0.1)
        cls.log = os.path.join(cls.tmp, "calls.log")
        shim = os.path.join(cls.tmp, "aws")
        with open(shim, "w") as f:
            f.write(SHIM.format(python=sys.executable, log=cls.log, real=cli))
        os.chmod(shim, 0o755)
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        cls.env.update(GDF_AWS_CLI=shim, AWS_ENDPOINT_URL=cls.endpoint, AWS_ACCESS_KEY_ID="testing",
                       AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                       AWS_CONFIG_FILE=os.path.join(cls.tmp, "none"),
                       AWS_SHARED_CREDENTIALS_FILE=os.path.join(cls.tmp, "none"), GDF_POLL_SECONDS="0.1")
        cls.setup_organization()

    @classmethod
    def client(cls, service, region="us-east-1"):
        import boto3

        return boto3.client(service, region_name=region, endpoint_url=cls.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    @classmethod
    def setup_organization(cls):
        org = cls.client("organizations")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        cls.ou = org.create_organizational_unit(ParentId=root, Name="security")["OrganizationalUnit"]["Id"]
        account = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=cls.ou)
        cls.member = account
        # An existing bucket in the second region: a policy of its own, no encryption or block.
        s3 = cls.client("s3", "eu-west-1")
        s3.create_bucket(Bucket="gdf-art-eu-west-1", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_policy(Bucket="gdf-art-eu-west-1", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "KeepMe", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::gdf-art-eu-west-1"}]}))

    def run_script(self, zip_text, *args):
        path = os.path.join(self.tmp, f"{zip_text}.zip")
        with open(path, "wb") as f:
            f.write(stand_in_zip(zip_text))
        open(self.log, "w").close()
        proc = subprocess.run([sys.executable, SCRIPT, "--bucket-prefix", "gdf-art", "--ous", self.ou,
                               "--arch", "x86_64", "--zip", path, *args],
                              env=dict(self.env, GDF_TEMPLATE_BODY_LIMIT=self.body_limit),
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.stderr = proc.stderr
        with open(self.log) as f:
            calls = [json.loads(line) for line in f]
        with open(path, "rb") as f:
            return calls, ds.code_key(f.read(), "x86_64")

    def stack_set_parameters(self):
        stack_set = self.client("cloudformation").describe_stack_set(StackSetName="guardduty-forwarder")["StackSet"]
        return {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}

    def check_bucket(self, region, key):
        s3 = self.client("s3", region)
        bucket = f"gdf-art-{region}"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        self.assertEqual(set(block.values()), {True}, bucket)
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        self.assertEqual(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        sids = [s["Sid"] for s in policy["Statement"]]
        self.assertIn(ds.SID_READ, sids)
        self.assertIn(ds.SID_TLS, sids)
        self.assertEqual(s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0, True)
        return sids

    def test_a_create_then_an_upgrade_that_adds_a_region_keeps_what_was_not_given(self):
        calls, key1 = self.run_script("v1", "--regions", "us-east-1",
                                      "--param", "QueueMode=create", "--param", "GuardDutyRegions=us-east-1,eu-west-1")
        params = self.stack_set_parameters()
        self.assertEqual(params["QueueMode"], "create")
        self.assertEqual(params["GuardDutyRegions"], "us-east-1,eu-west-1")
        self.assertEqual(params["ArtifactKey"], key1)
        self.check_bucket("us-east-1", key1)
        self.check_every_stack_set_call_is_made_as(calls, "SELF")
        self.assertIn(["cloudformation", "create-stack-set"], [c[:2] for c in calls])
        create = [c for c in calls if c[:2] == ["cloudformation", "create-stack-set"]][0]
        self.assertEqual(json.loads(create[create.index("--managed-execution") + 1]), {"Active": True})
        # CloudFormation takes a body up to 51,200 bytes; a larger template goes by URL.
        big = os.path.getsize(os.path.join(ROOT, "stackset.yaml")) > 51_200
        self.assertIn("--template-url" if big else "--template-body", create)
        # GuardDutyRegions names the stack set's own region: a copy per stack, said aloud.
        self.assertIn("WARNING: GuardDutyRegions names us-east-1", self.stderr)

        calls, key2 = self.run_script("v2", "--regions", "us-east-1,eu-west-1", "--param", "MinSeverity=low")
        self.assertNotEqual(key1, key2)
        params = self.stack_set_parameters()
        self.assertEqual((params["QueueMode"], params["GuardDutyRegions"], params["MinSeverity"], params["ArtifactKey"]),
                         ("create", "us-east-1,eu-west-1", "low", key2))
        update = [c for c in calls if c[:2] == ["cloudformation", "update-stack-set"]][0]
        sent = json.loads(update[update.index("--parameters") + 1])
        self.assertIn({"ParameterKey": "QueueMode", "UsePreviousValue": True}, sent)
        self.assertIn({"ParameterKey": "ArtifactKey", "ParameterValue": key2}, sent)
        operation_ids = [c[c.index("--operation-id") + 1] for c in calls if c[:2] == ["cloudformation", "describe-stack-set-operation"]]
        self.assertGreaterEqual(len(operation_ids), 2, "waits for the update and the new instances")
        self.check_every_stack_set_call_is_made_as(calls, "SELF")
        self.assertEqual(self.check_bucket("eu-west-1", key2)[0], "KeepMe")

        instances = self.client("cloudformation").list_stack_instances(StackSetName="guardduty-forwarder")["Summaries"]
        self.assertEqual(sorted(i["Region"] for i in instances if i["Account"] == self.member), ["eu-west-1", "us-east-1"])

        # A third region for every account of the OU but the GuardDuty administrator, the
        # template by URL (as once it nears the body limit) from the home region's bucket.
        self.body_limit = "1000"
        calls, key3 = self.run_script("v3", "--regions", "us-east-1,eu-west-1,eu-central-1",
                                      "--exclude-accounts", "210987654321", "--param", "GuardDutyRegions=")
        self.assertNotIn("WARNING", self.stderr)
        update = [c for c in calls if c[:2] == ["cloudformation", "update-stack-set"]][0]
        url = update[update.index("--template-url") + 1]
        self.assertTrue(url.startswith("https://gdf-art-us-east-1.s3.us-east-1.amazonaws.com/guardduty-forwarder/"), url)
        create = [c for c in calls if c[:2] == ["cloudformation", "create-stack-instances"]][0]
        self.assertEqual(json.loads(create[create.index("--deployment-targets") + 1]),
                         {"OrganizationalUnitIds": [self.ou], "Accounts": ["210987654321"], "AccountFilterType": "DIFFERENCE"})
        # (moto's instance summaries carry no OrganizationalUnitId, so every region looks new.)
        self.assertIn("eu-central-1", create[create.index("--regions") + 1:create.index("--call-as")])
        self.assertEqual(self.stack_set_parameters()["ArtifactKey"], key3)

    def check_every_stack_set_call_is_made_as(self, calls, who):
        for call in calls:
            if call[0] == "cloudformation":
                self.assertIn("--call-as", call, call[:2])
                self.assertEqual(call[call.index("--call-as") + 1], who, call[:2])


if __name__ == "__main__":
    unittest.main()
