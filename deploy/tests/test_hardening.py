"""What a stack keeps, where the backfill state lives, which parameter values CloudFormation
refuses before AWS would, and the hardening organizations require: each checked on the
rendered templates (cfn.py renders as CloudFormation does).
"""

import os
import re
import unittest

import cfn
from test_rendered import CODE, STACKSET, env, rendered

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READER = cfn.load(os.path.join(ROOT, "deploy", "reader-role.yaml"))
# The longest region names in every partition (the bucket is "<prefix>-<region>").
LONGEST_REGION = "ap-southeast-5"


def valid_bucket_name(name):
    """The S3 rules for a general purpose bucket name."""
    return (3 <= len(name) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name) is not None
            and ".." not in name and ".-" not in name and "-." not in name
            and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name)
            and not name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
            and not name.endswith(("-s3alias", "--ol-s3", "--x-s3", "--table-s3")))


class RetentionTest(unittest.TestCase):
    def test_every_queue_and_table_outlives_the_stack_and_a_replacement(self):
        for name in ("template.yaml", "stackset.yaml"):
            resources = cfn.load(os.path.join(ROOT, name))["Resources"]
            kept = [k for k, r in resources.items() if r["Type"] in ("AWS::SQS::Queue", "AWS::DynamoDB::Table")]
            self.assertEqual(sorted(kept), ["DeadLetterQueue", "FindingsQueue", "StateTable"], name)
            for logical in kept:
                res = resources[logical]
                self.assertEqual((res.get("DeletionPolicy"), res.get("UpdateReplacePolicy")), ("Retain", "Retain"),
                                 f"{name}: {logical}")

    def test_the_dead_letter_queue_takes_messages_as_large_as_the_findings_queue(self):
        resources = rendered(QueueMode="create")
        self.assertEqual(resources["DeadLetterQueue"]["Properties"]["MaximumMessageSize"], 1048576)
        self.assertEqual(resources["FindingsQueue"]["Properties"]["MaximumMessageSize"], 1048576)


class StateTableTest(unittest.TestCase):
    def state_statement(self, resources):
        policies = resources["FunctionRole"]["Properties"]["Policies"]
        statements = [p for p in policies if p["PolicyName"] == "backfill-state"][0]["PolicyDocument"]["Statement"]
        return {s["Sid"]: s for s in statements}

    def test_by_default_the_stack_creates_an_on_demand_table_keyed_on_pk_with_point_in_time_recovery(self):
        resources = rendered()
        table = resources["StateTable"]["Properties"]
        self.assertEqual(table["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(table["KeySchema"], [{"AttributeName": "pk", "KeyType": "HASH"}])
        self.assertEqual(table["AttributeDefinitions"], [{"AttributeName": "pk", "AttributeType": "S"}])
        self.assertEqual(table["PointInTimeRecoverySpecification"], {"PointInTimeRecoveryEnabled": True})
        variables = env(resources)
        self.assertEqual((variables["STATE_TABLE"], variables["STATE_PREFIX"]), ("<StateTable>", ""))
        statement = self.state_statement(resources)["StateTable"]
        self.assertEqual(statement["Action"], ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
        self.assertEqual(statement["Resource"], cfn.Renderer(STACKSET, CODE).get_att("StateTable", "Arn"))

    def test_a_named_table_is_used_instead_so_a_new_stack_resumes_from_the_same_position(self):
        resources = rendered(StateTableName="gdf-state-old", StatePrefix="tenant-a/")
        self.assertNotIn("StateTable", resources)
        variables = env(resources)
        self.assertEqual((variables["STATE_TABLE"], variables["STATE_PREFIX"]), ("gdf-state-old", "tenant-a/"))
        self.assertEqual(self.state_statement(resources)["StateTable"]["Resource"],
                         "arn:aws:dynamodb:us-east-1:123456789012:table/gdf-state-old")
        outputs = cfn.render(STACKSET, dict(CODE, StateTableName="gdf-state-old"))["Outputs"]
        self.assertEqual(outputs["StateTableName"]["Value"], "gdf-state-old")

    def test_the_state_location_does_not_depend_on_the_stack_name(self):
        a = rendered({"AWS::StackName": "guardduty-forwarder"}, StateTableName="gdf-state")
        b = rendered({"AWS::StackName": "StackSet-guardduty-forwarder-0f1e"}, StateTableName="gdf-state")
        for key in ("STATE_TABLE", "STATE_PREFIX"):
            self.assertEqual(env(a)[key], env(b)[key])
        self.assertEqual(self.state_statement(a)["StateTable"], self.state_statement(b)["StateTable"])

    def test_the_old_ssm_checkpoint_is_only_read_and_the_rescan_reaches_the_function(self):
        resources = rendered()
        ssm = self.state_statement(resources)["ReadsAnEarlierSsmCheckpointToMigrateIt"]
        self.assertEqual(ssm["Action"], "ssm:GetParameter")
        self.assertIn("CHECKPOINT_PARAMETER", env(resources))
        self.assertEqual(env(resources)["BACKFILL_RESCAN_MINUTES"], "60")
        self.assertEqual(env(rendered(BackfillRescanMinutes="15"))["BACKFILL_RESCAN_MINUTES"], "15")

    def test_a_table_name_dynamodb_refuses_is_refused(self):
        for bad in ("ab", "has space", "x" * 256):
            with self.subTest(bad=bad), self.assertRaises(cfn.InvalidParameter):
                rendered(StateTableName=bad)


class ParameterValidationTest(unittest.TestCase):
    def test_bucket_prefixes_are_accepted_exactly_when_every_regions_bucket_name_is_valid(self):
        accepted = ["gdf", "my-org.gdf-artifacts", "a1b", "x" * 41]
        refused = ["ab.", "ab-", "a..b", "xn--abc", "Gdf", "g", "sthree-gdf", "amzn-s3-demo-x", "x" * 42, "-gdf", ".gdf"]
        for prefix in accepted:
            with self.subTest(prefix=prefix):
                rendered(ArtifactBucketPrefix=prefix)
                self.assertTrue(valid_bucket_name(f"{prefix}-{LONGEST_REGION}"))
        for prefix in refused:
            with self.subTest(prefix=prefix), self.assertRaises(cfn.InvalidParameter):
                rendered(ArtifactBucketPrefix=prefix)

    def test_the_artifact_key_has_no_default_so_a_console_stack_set_cannot_name_a_missing_zip(self):
        self.assertNotIn("Default", STACKSET["Parameters"]["ArtifactKey"])
        with self.assertRaisesRegex(cfn.InvalidParameter, "ArtifactKey"):
            cfn.render(STACKSET, {"ArtifactBucketPrefix": "gdf", "LogRecords": "true"})


class HardeningTest(unittest.TestCase):
    def test_a_permissions_boundary_is_set_only_when_given(self):
        self.assertNotIn("PermissionsBoundary", rendered()["FunctionRole"]["Properties"])
        arn = "arn:aws:iam::123456789012:policy/org/boundary"
        self.assertEqual(rendered(PermissionsBoundaryArn=arn)["FunctionRole"]["Properties"]["PermissionsBoundary"], arn)
        with self.assertRaises(cfn.InvalidParameter):
            rendered(PermissionsBoundaryArn="arn:aws:iam::123456789012:role/not-a-policy")

    def test_a_vpc_takes_subnets_and_security_groups_together_with_the_interface_permissions(self):
        resources = rendered()
        self.assertNotIn("VpcConfig", resources["Function"]["Properties"])
        self.assertNotIn("VpcAccessPolicy", resources)
        resources = rendered(VpcSubnetIds="subnet-0123456789abcdef0,subnet-0fedcba9876543210",
                             VpcSecurityGroupIds="sg-0123456789abcdef0")
        self.assertEqual(resources["Function"]["Properties"]["VpcConfig"], {
            "SubnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
            "SecurityGroupIds": ["sg-0123456789abcdef0"]})
        actions = resources["VpcAccessPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"]
        self.assertIn("ec2:CreateNetworkInterface", actions)
        for half in ({"VpcSubnetIds": "subnet-0123456789abcdef0"}, {"VpcSecurityGroupIds": "sg-0123456789abcdef0"}):
            with self.subTest(half=half), self.assertRaisesRegex(cfn.RuleFailed, "VpcSubnetsAndSecurityGroups"):
                rendered(**half)

    def test_the_queue_key_may_be_used_through_sqs_only(self):
        key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        resources = rendered(QueueMode="existing", ExistingQueueArn="arn:aws:sqs:eu-west-1:111122223333:q",
                             ExistingQueueUrl="https://sqs.eu-west-1.amazonaws.com/111122223333/q", QueueKmsKeyArn=key)
        statement = resources["FindingsQueueKeyPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual(statement["Resource"], key)
        self.assertEqual(statement["Condition"], {"StringLike": {"kms:ViaService": "sqs.*.amazonaws.com"}})

    def test_the_findings_queue_refuses_every_request_without_tls(self):
        self.assertNotIn("FindingsQueuePolicy", rendered())
        statement = rendered(QueueMode="create")["FindingsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual((statement["Effect"], statement["Principal"], statement["Action"]), ("Deny", "*", "sqs:*"))
        self.assertEqual(statement["Condition"], {"Bool": {"aws:SecureTransport": "false"}})

    def test_cloudwatch_may_use_the_alarm_key_only_for_this_accounts_alarms(self):
        policy = rendered(AlarmEmail="sec@example.com")["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
        cloudwatch = [s for s in policy if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}][0]
        self.assertEqual(cloudwatch["Condition"], {
            "StringEquals": {"aws:SourceAccount": "123456789012"},
            "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"}})


class ReaderRoleTest(unittest.TestCase):
    PARAMS = {"OrganizationId": "o-abcdef1234", "ExternalId": "0123456789abcdef-gdf"}

    def test_the_reader_role_grants_only_the_three_guardduty_reads(self):
        role = cfn.render(READER, self.PARAMS)["Resources"]["ReaderRole"]["Properties"]
        actions = set()
        for policy in role["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                self.assertEqual(statement["Effect"], "Allow")
                acts = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                actions |= set(acts)
                if statement["Resource"] == "*":
                    self.assertEqual(acts, ["guardduty:ListDetectors"])
        self.assertEqual(actions, {"guardduty:ListDetectors", "guardduty:ListFindings", "guardduty:GetFindings"})

    def test_only_the_organizations_forwarder_roles_with_the_external_id_may_assume_it(self):
        role = cfn.render(READER, dict(self.PARAMS, ForwarderRolePattern="StackSet-guardduty-forwarder-*"))
        trust = role["Resources"]["ReaderRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual(len(trust), 1)
        self.assertEqual(trust[0]["Action"], "sts:AssumeRole")
        self.assertEqual(trust[0]["Condition"], {
            "StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234", "sts:ExternalId": "0123456789abcdef-gdf"},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/StackSet-guardduty-forwarder-*"}})

    def test_a_short_external_id_or_a_missing_organization_is_refused(self):
        with self.assertRaises(cfn.InvalidParameter):
            cfn.render(READER, dict(self.PARAMS, ExternalId="short"))
        with self.assertRaises(cfn.InvalidParameter):
            cfn.render(READER, {"ExternalId": self.PARAMS["ExternalId"]})

    def test_the_forwarder_stack_names_its_role_as_the_reader_role_expects(self):
        # The reader role's default pattern matches the role name CloudFormation generates.
        self.assertEqual(READER["Parameters"]["ForwarderRolePattern"]["Default"], "*-FunctionRole-*")
        self.assertIn("FunctionRole", STACKSET["Resources"])
        self.assertNotIn("RoleName", STACKSET["Resources"]["FunctionRole"]["Properties"])


if __name__ == "__main__":
    unittest.main()
