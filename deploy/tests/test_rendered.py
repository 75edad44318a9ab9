"""The templates as a stack gets them: rendered with parameter values as CloudFormation renders
them (a `Ref` to a parameter is a string; see cfn.py), checked against what AWS accepts.

stackset.yaml is what aws-sam-translator makes of template.yaml (scripts/template-check fails
otherwise), so rendering it is rendering the SAM template after its transform; the schedule's
state is also checked straight through the translator.
"""

import copy
import json
import os
import re
import subprocess
import unittest

import cfn
import eventpattern

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACKSET = cfn.load(os.path.join(ROOT, "stackset.yaml"))
# Where the code is, and a destination (the template's rules refuse a stack without one).
CODE = {"ArtifactBucketPrefix": "gdf-artifacts", "ArtifactKey": "guardduty-forwarder/0123/bootstrap-arm64.zip",
        "LogRecords": "true"}
WHERE = {k: v for k, v in CODE.items() if k != "LogRecords"}
SECRET = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:gdf/collector-AbC123"
KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def rendered(pseudo=None, **params):
    return cfn.render(STACKSET, dict(CODE, **params), pseudo)["Resources"]


def finding_event(severity):
    with open(os.path.join(ROOT, "events", "guardduty-finding.json")) as f:
        event = json.load(f)
    event["detail"]["severity"] = severity
    return event


def env(resources):
    return resources["Function"]["Properties"]["Environment"]["Variables"]


class FindingRulePatternTest(unittest.TestCase):
    def pattern(self, threshold):
        return rendered(RuleMinimumSeverity=threshold)["FunctionFinding"]["Properties"]["EventPattern"]

    def test_every_allowed_threshold_renders_a_pattern_eventbridge_accepts_with_a_json_number(self):
        for threshold in STACKSET["Parameters"]["RuleMinimumSeverity"]["AllowedValues"]:
            with self.subTest(threshold=threshold):
                pattern = self.pattern(str(threshold))
                eventpattern.validate(pattern)
                if str(threshold) == "0":
                    self.assertNotIn("detail", pattern)
                else:
                    self.assertEqual(pattern["detail"]["severity"], [{"numeric": [">=", int(threshold)]}])
                    self.assertIsInstance(pattern["detail"]["severity"][0]["numeric"][1], int)

    def test_the_default_pattern_is_accepted_and_matches_every_finding(self):
        pattern = cfn.render(STACKSET, CODE)["Resources"]["FunctionFinding"]["Properties"]["EventPattern"]
        for severity in (0.5, 2, 5.5, 8.9, 9.5):
            self.assertTrue(eventpattern.matches(pattern, finding_event(severity)), severity)

    def test_a_threshold_lets_through_only_findings_at_or_above_it(self):
        pattern = self.pattern("7")
        self.assertTrue(eventpattern.matches(pattern, finding_event(7)))
        self.assertTrue(eventpattern.matches(pattern, finding_event(8.5)))
        self.assertFalse(eventpattern.matches(pattern, finding_event(6.9)))

    def test_a_parameter_reference_as_the_operand_is_refused_as_eventbridge_refuses_it(self):
        # What the template had: the Ref renders to the string "4".
        template = copy.deepcopy(STACKSET)
        props = template["Resources"]["FunctionFinding"]["Properties"]
        props["EventPattern"]["detail"] = {"severity": [{"numeric": [">=", {"Ref": "RuleMinimumSeverity"}]}]}
        pattern = cfn.render(template, dict(CODE, RuleMinimumSeverity="4"))["Resources"]["FunctionFinding"]
        with self.assertRaisesRegex(eventpattern.InvalidPattern, "Value of >= must be numeric"):
            eventpattern.validate(pattern["Properties"]["EventPattern"])

    def test_a_threshold_outside_the_allowed_values_is_refused_at_deploy_time(self):
        with self.assertRaises(cfn.InvalidParameter):
            rendered(RuleMinimumSeverity="4.5")


RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression):
    """The interval of a rate expression EventBridge accepts (the unit is singular for 1 and
    only for 1, the value a positive integer); ValueError for one it refuses."""
    m = RATE.match(expression)
    if not m or m.group(1).startswith("0"):
        raise ValueError(f"not a rate expression: {expression!r}")
    value, unit = int(m.group(1)), m.group(2)
    if (value == 1) != (not unit.endswith("s")):
        raise ValueError(f"{expression!r}: EventBridge wants the singular unit for 1 and only for 1")
    return value * UNIT_SECONDS[unit.rstrip("s")]


class BackfillScheduleTest(unittest.TestCase):
    def test_disabled_renders_a_disabled_schedule_and_no_stopped_alarm(self):
        resources = rendered(BackfillSchedule="disabled")
        self.assertEqual(resources["FunctionBackfill"]["Properties"]["State"], "DISABLED")
        self.assertNotIn("BackfillStoppedAlarm", resources)

    def test_a_schedule_renders_an_enabled_rule_with_its_expression_and_the_stopped_alarm(self):
        resources = rendered(BackfillSchedule="rate(10 minutes)")
        props = resources["FunctionBackfill"]["Properties"]
        self.assertEqual(props["State"], "ENABLED")
        self.assertEqual(props["ScheduleExpression"], "rate(10 minutes)")
        self.assertIn("BackfillStoppedAlarm", resources)

    def test_the_rate_check_refuses_what_eventbridge_refuses(self):
        for bad in ("rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(05 minutes)", "rate(5 weeks)"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                rate_seconds(bad)
        self.assertEqual(rate_seconds("rate(1 hour)"), 3600)

    def test_every_schedule_offered_is_an_expression_eventbridge_accepts_and_nothing_else_is_accepted(self):
        offered = STACKSET["Parameters"]["BackfillSchedule"]["AllowedValues"]
        for value in offered:
            if value != "disabled":
                rate_seconds(value)
        for refused in ("rate(1 minutes)", "rate(5 minute)", "cron(0/5 * * * ? *)", "rate(7 minutes)"):
            with self.subTest(refused=refused), self.assertRaises(cfn.InvalidParameter):
                rendered(BackfillSchedule=refused)

    def test_the_stopped_alarm_and_the_functions_interval_follow_the_schedule_for_every_schedule_offered(self):
        for value in STACKSET["Parameters"]["BackfillSchedule"]["AllowedValues"]:
            if value == "disabled":
                continue
            with self.subTest(schedule=value):
                interval = rate_seconds(value)
                resources = rendered(BackfillSchedule=value)
                # The function fails a run that ends more than settle + 3 intervals behind.
                self.assertEqual(env(resources)["BACKFILL_INTERVAL_SECONDS"], str(interval))
                props = resources["BackfillStoppedAlarm"]["Properties"]
                self.assertEqual(props["Period"], interval)
                self.assertEqual((props["Namespace"], props["MetricName"], props["Statistic"]),
                                 ("AWS/Lambda", "Invocations", "Sum"))
                alias = resources["BackfillAlias"]["Properties"]["Name"]
                self.assertEqual(props["Dimensions"], [{"Name": "FunctionName", "Value": "<Function>"},
                                                       {"Name": "Resource", "Value": f"<Function>:{alias}"}])
                # Lambda publishes Invocations only when not zero: no run in an interval is a
                # missing datapoint, a breaching period; three in a row page.
                self.assertEqual((props["Threshold"], props["ComparisonOperator"]), (1, "LessThanThreshold"))
                self.assertEqual((props["TreatMissingData"], props["EvaluationPeriods"], props["DatapointsToAlarm"]),
                                 ("breaching", 3, 3))
                self.assertLessEqual(props["EvaluationPeriods"] * props["Period"], 86400, "CloudWatch's evaluation range")

    def test_the_schedule_invokes_an_alias_whose_events_are_never_retried(self):
        resources = rendered()
        target = resources["FunctionBackfill"]["Properties"]["Targets"][0]
        self.assertEqual(target["Arn"], "<BackfillAlias>")
        self.assertEqual(target["RetryPolicy"], {"MaximumRetryAttempts": 0})
        alias = resources["BackfillAlias"]["Properties"]
        self.assertEqual((alias["Name"], alias["FunctionVersion"]), ("backfill", "$LATEST"))
        config = resources["BackfillInvokeConfig"]["Properties"]
        self.assertEqual((config["Qualifier"], config["MaximumRetryAttempts"]), ("backfill", 0))
        permission = resources["FunctionBackfillPermission"]["Properties"]
        self.assertEqual(permission["FunctionName"], "<BackfillAlias>")
        # Push events keep Lambda's retries on $LATEST.
        push = resources["FunctionEventInvokeConfig"]["Properties"]
        self.assertEqual((push["Qualifier"], push["MaximumRetryAttempts"]), ("$LATEST", 2))

    def test_the_sam_translator_keeps_the_disabled_state(self):
        sam_python = os.environ.get("GDF_SAM_PYTHON") or os.path.join(
            os.environ.get("GDF_TOOLS", os.path.join(ROOT, ".tools")), "sam", "bin", "python")
        if not os.path.exists(sam_python):
            self.skipTest("no aws-sam-translator (scripts/test sets GDF_SAM_PYTHON)")
        # As `sam deploy` does after `sam build`: the code is an S3 object by then.
        script = (
            "import json, os, sys\n"
            "os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1')\n"
            "sys.path.insert(0, sys.argv[2])\n"
            "from gen_stackset import NoManagedPolicies\n"
            "from samcli.yamlhelper import yaml_parse\n"
            "from samtranslator.translator.transform import transform\n"
            "t = yaml_parse(open(sys.argv[1]).read())\n"
            "t['Resources']['Function']['Properties']['CodeUri'] = 's3://bucket/code.zip'\n"
            "print(json.dumps(transform(t, {}, NoManagedPolicies())))\n"
        )
        proc = subprocess.run([sam_python, "-c", script, os.path.join(ROOT, "template.yaml"), os.path.join(ROOT, "deploy")],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        out = proc.stdout
        translated = json.loads(out)
        for schedule, state in (("disabled", "DISABLED"), ("rate(5 minutes)", "ENABLED")):
            with self.subTest(schedule=schedule):
                resources = cfn.render(translated, {"BackfillSchedule": schedule, "LogRecords": "true"})["Resources"]
                self.assertEqual(resources["FunctionBackfill"]["Properties"]["State"], state)


class DeadLetterQueuePolicyTest(unittest.TestCase):
    def test_only_the_stacks_own_rules_may_send_to_the_dlq(self):
        resources = rendered()
        statements = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        allow = [s for s in statements if s["Effect"] == "Allow"]
        self.assertEqual(len(allow), 1)
        self.assertEqual(allow[0]["Principal"], {"Service": "events.amazonaws.com"})
        self.assertEqual(allow[0]["Action"], "sqs:SendMessage")
        self.assertEqual(allow[0]["Condition"], {"ArnEquals": {"aws:SourceArn": [
            cfn.Renderer(STACKSET, CODE).get_att("FunctionFinding", "Arn"),
            cfn.Renderer(STACKSET, CODE).get_att("FunctionBackfill", "Arn"),
        ]}})
        for rule in ("FunctionFinding", "FunctionBackfill"):
            targets = resources[rule]["Properties"]["Targets"]
            self.assertEqual(targets[0]["DeadLetterConfig"]["Arn"], allow[0]["Resource"])

    def test_the_dlq_refuses_sends_without_tls(self):
        statements = rendered()["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        deny = [s for s in statements if s["Effect"] == "Deny"]
        self.assertEqual(deny[0]["Condition"], {"Bool": {"aws:SecureTransport": "false"}})


class FunctionSettingsTest(unittest.TestCase):
    def test_no_concurrency_is_reserved_unless_asked(self):
        self.assertNotIn("ReservedConcurrentExecutions", rendered()["Function"]["Properties"])
        self.assertEqual(rendered(ReservedConcurrency="5")["Function"]["Properties"]["ReservedConcurrentExecutions"], "5")

    def test_no_template_hard_codes_a_reserved_concurrency(self):
        for name in ("template.yaml", "stackset.yaml"):
            fn = cfn.load(os.path.join(ROOT, name))["Resources"]["Function"]["Properties"]
            self.assertIsInstance(fn["ReservedConcurrentExecutions"], dict, name)

    def test_the_log_level_reaches_the_function_as_log_level_and_lambda_filters_nothing(self):
        props = rendered(LogLevel="WARN")["Function"]["Properties"]
        self.assertEqual(props["Environment"]["Variables"]["LOG_LEVEL"], "WARN")
        self.assertNotIn("ApplicationLogLevel", props["LoggingConfig"])
        self.assertNotIn("SystemLogLevel", props["LoggingConfig"])
        self.assertEqual(props["LoggingConfig"]["LogFormat"], "JSON")

    def test_the_backfill_knobs_and_the_dlq_reach_the_function(self):
        variables = env(rendered())
        self.assertEqual(variables["BACKFILL_QUARANTINE_AFTER"], "3")
        self.assertEqual(variables["BACKFILL_SETTLE_SECONDS"], "300")
        self.assertEqual(variables["DLQ_URL"], "<DeadLetterQueue>")
        variables = env(rendered(BackfillQuarantineAfter="5", BackfillSettleSeconds="60"))
        self.assertEqual((variables["BACKFILL_QUARANTINE_AFTER"], variables["BACKFILL_SETTLE_SECONDS"]), ("5", "60"))

    def test_the_role_may_quarantine_to_the_dlq(self):
        policies = rendered()["FunctionRole"]["Properties"]["Policies"]
        dlq = [p for p in policies if p["PolicyName"] == "dead-letter"][0]["PolicyDocument"]["Statement"][0]
        self.assertEqual((dlq["Action"], dlq["Resource"]), ("sqs:SendMessage", cfn.Renderer(STACKSET, CODE).get_att("DeadLetterQueue", "Arn")))

    def test_the_log_permission_is_the_log_groups_arn_without_a_doubled_suffix(self):
        policies = rendered()["FunctionRole"]["Properties"]["Policies"]
        logs = [p for p in policies if p["PolicyName"] == "logs"][0]["PolicyDocument"]["Statement"][0]
        self.assertEqual(logs["Resource"], cfn.Renderer(STACKSET, CODE).get_att("LogGroup", "Arn"))


class RulesTest(unittest.TestCase):
    def test_a_stack_without_any_destination_is_refused_before_anything_is_created(self):
        with self.assertRaisesRegex(cfn.RuleFailed, "SomeDestination: Configure a destination"):
            cfn.render(STACKSET, WHERE)

    def test_each_destination_alone_is_enough(self):
        base = WHERE
        for extra in ({"LogRecords": "true"}, {"QueueMode": "create"}, {"CollectorUrl": "https://c.example.com"},
                      {"CollectorUrlSecretArn": SECRET}):
            with self.subTest(extra=extra):
                cfn.render(STACKSET, dict(base, **extra))

    def test_an_existing_queue_needs_its_arn_and_url(self):
        with self.assertRaisesRegex(cfn.RuleFailed, "ExistingQueueNamed"):
            rendered(QueueMode="existing", ExistingQueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/q")
        resources = rendered(QueueMode="existing", ExistingQueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/q",
                             ExistingQueueArn="arn:aws:sqs:us-east-1:123456789012:q")
        self.assertEqual(env(resources)["SQS_QUEUE_URL"], "https://sqs.us-east-1.amazonaws.com/123456789012/q")

    def test_a_collector_url_and_a_url_secret_together_are_refused(self):
        with self.assertRaisesRegex(cfn.RuleFailed, "OneCollectorUrl"):
            rendered(CollectorUrl="https://c.example.com", CollectorUrlSecretArn=SECRET)


class CollectorTest(unittest.TestCase):
    def test_a_url_secret_configures_the_collector_and_may_be_read(self):
        resources = rendered(CollectorUrlSecretArn=SECRET, CollectorFormat="sumo-http", CollectorSumoCategory="aws/guardduty")
        variables = env(resources)
        self.assertEqual(variables["COLLECTOR_URL_SECRET_ARN"], SECRET)
        self.assertNotIn("COLLECTOR_URL", variables)
        self.assertEqual((variables["COLLECTOR_FORMAT"], variables["COLLECTOR_SUMO_CATEGORY"]), ("sumo-http", "aws/guardduty"))
        statement = resources["CollectorSecretPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual((statement["Action"], statement["Resource"]), ("secretsmanager:GetSecretValue", [SECRET]))
        self.assertNotIn("CollectorSecretKeyPolicy", resources)

    def test_a_cross_account_secret_key_gets_decrypt_through_secrets_manager_only(self):
        resources = rendered(CollectorUrl="https://hec.example.com", CollectorSecretArn=SECRET, CollectorSecretKmsKeyArn=KEY)
        self.assertEqual(env(resources)["COLLECTOR_AUTH_SECRET_ARN"], SECRET)
        statement = resources["CollectorSecretKeyPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual((statement["Action"], statement["Resource"]), ("kms:Decrypt", KEY))
        self.assertEqual(statement["Condition"], {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}})

    def test_a_partial_secret_arn_is_refused_because_iam_would_deny_it(self):
        for param in ("CollectorSecretArn", "CollectorUrlSecretArn"):
            with self.subTest(param=param), self.assertRaises(cfn.InvalidParameter):
                rendered(**{param: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:gdf/collector"})

    def test_every_preset_is_offered_and_its_options_reach_the_function_by_their_names(self):
        formats = STACKSET["Parameters"]["CollectorFormat"]["AllowedValues"]
        self.assertEqual(formats, ["ndjson", "json", "splunk-hec", "elastic-bulk", "datadog-logs", "sumo-http", "secops-webhook", "sentinel"])
        options = {
            "CollectorHecIndex": ("COLLECTOR_HEC_INDEX", "security"),
            "CollectorHecAck": ("COLLECTOR_HEC_ACK", "true"),
            "CollectorElasticNamespace": ("COLLECTOR_ELASTIC_NAMESPACE", "prod"),
            "CollectorDatadogTags": ("COLLECTOR_DATADOG_TAGS", "env:prod,team:sec"),
            "CollectorDatadogService": ("COLLECTOR_DATADOG_SERVICE", "guardduty"),
            "CollectorSumoCategory": ("COLLECTOR_SUMO_CATEGORY", "aws/guardduty"),
            "CollectorHecSource": ("COLLECTOR_HEC_SOURCE", "aws:guardduty"),
            "CollectorDatadogSource": ("COLLECTOR_DATADOG_SOURCE", "guardduty"),
            "CollectorSumoName": ("COLLECTOR_SUMO_NAME", "guardduty-forwarder"),
            "OcsfVersion": ("OCSF_VERSION", "1.8.0"),
        }
        variables = env(rendered(CollectorUrl="https://c.example.com", **{p: v for p, (_, v) in options.items()}))
        for param, (name, value) in options.items():
            self.assertEqual(variables[name], value, param)
        defaults = env(rendered())
        for name, _ in options.values():
            if name != "OCSF_VERSION":
                self.assertEqual(defaults[name], "", f"{name} unset by default")
        self.assertEqual(defaults["OCSF_VERSION"], "1.1.0")


class FirehoseTest(unittest.TestCase):
    ARN = "arn:aws:firehose:eu-west-1:111122223333:deliverystream/gd-findings"

    def test_a_stream_reaches_the_function_and_only_put_record_batch_on_it_is_granted(self):
        resources = rendered(FirehoseStreamArn=self.ARN)
        self.assertEqual(env(resources)["FIREHOSE_STREAM_NAME"], self.ARN)
        statement = resources["FirehosePutPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(statement, [{"Effect": "Allow", "Action": "firehose:PutRecordBatch", "Resource": self.ARN}])

    def test_without_a_stream_there_is_neither_the_variable_nor_the_permission(self):
        resources = rendered()
        self.assertNotIn("FIREHOSE_STREAM_NAME", env(resources))
        self.assertNotIn("FirehosePutPolicy", resources)

    def test_a_stream_alone_is_a_destination_and_anything_but_a_stream_arn_is_refused(self):
        params = {k: v for k, v in WHERE.items()}
        cfn.render(STACKSET, dict(params, FirehoseStreamArn=self.ARN))
        for bad in ("gd-findings", "arn:aws:kinesis:eu-west-1:111122223333:stream/gd",
                    "arn:aws:firehose:eu-west-1:111122223333:deliverystream/has space"):
            with self.subTest(bad=bad), self.assertRaises(cfn.InvalidParameter):
                rendered(FirehoseStreamArn=bad)


class AccountContextTest(unittest.TestCase):
    def test_organizations_is_read_only_and_granted_only_when_chosen(self):
        self.assertNotIn("OrganizationsReadPolicy", rendered())
        resources = rendered(AccountContext="organizations")
        self.assertEqual(env(resources)["ACCOUNT_CONTEXT"], "organizations")
        statement = resources["OrganizationsReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(statement, [{"Effect": "Allow", "Resource": "*", "Action": [
            "organizations:DescribeAccount", "organizations:ListParents",
            "organizations:DescribeOrganizationalUnit", "organizations:ListTagsForResource"]}])

    def test_a_mapping_parameter_reaches_the_function_with_get_parameter_on_it_alone(self):
        resources = rendered()
        self.assertEqual(env(resources)["ACCOUNT_CONTEXT"], "auto")
        self.assertNotIn("ACCOUNT_NAMES_PARAMETER", env(resources))
        self.assertNotIn("AccountNamesParameterPolicy", resources)
        resources = rendered(AccountNamesParameter="/gdf/accounts")
        self.assertEqual(env(resources)["ACCOUNT_NAMES_PARAMETER"], "/gdf/accounts")
        statement = resources["AccountNamesParameterPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(statement, [{"Effect": "Allow", "Action": "ssm:GetParameter",
                                      "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/gdf/accounts"}])
        for bad in ("gdf/accounts", "/has space"):
            with self.subTest(bad=bad), self.assertRaises(cfn.InvalidParameter):
                rendered(AccountNamesParameter=bad)


class SentinelTest(unittest.TestCase):
    SETTINGS = {"CollectorFormat": "sentinel", "CollectorUrl": "https://gdf-abcd.eastus-1.ingest.monitor.azure.com",
                "SentinelDcrId": "dcr-0123456789abcdef0123456789abcdef",
                "AzureTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "AzureClientId": "00000000-1111-2222-3333-444444444444"}

    def test_the_preset_gets_its_settings_and_other_formats_none_of_them(self):
        variables = env(rendered(**self.SETTINGS))
        self.assertEqual(variables["SENTINEL_DCR_ID"], self.SETTINGS["SentinelDcrId"])
        self.assertEqual(variables["SENTINEL_STREAM"], "Custom-GuardDutyFindings")
        self.assertEqual(variables["AZURE_CLIENT_ID"], self.SETTINGS["AzureClientId"])
        self.assertNotIn("AZURE_AUTHORITY_HOST", variables)
        sovereign = env(rendered(AzureAuthorityHost="https://login.microsoftonline.us", **self.SETTINGS))
        self.assertEqual(sovereign["AZURE_AUTHORITY_HOST"], "https://login.microsoftonline.us")
        other = env(rendered(CollectorUrl="https://c.example.com", SentinelDcrId=self.SETTINGS["SentinelDcrId"]))
        for name in ("SENTINEL_DCR_ID", "SENTINEL_STREAM", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST"):
            self.assertNotIn(name, other, "the forwarder refuses a preset's setting for another format")


class S3DestinationTest(unittest.TestCase):
    KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def test_a_bucket_reaches_the_function_and_only_put_object_under_its_prefix_is_granted(self):
        resources = rendered(S3BucketName="gd-archive", S3Prefix="findings/gd")
        variables = env(resources)
        self.assertEqual((variables["S3_BUCKET"], variables["S3_PREFIX"]), ("gd-archive", "findings/gd"))
        self.assertNotIn("S3_KMS_KEY_ID", variables)
        statement = resources["S3PutPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(statement, [{"Effect": "Allow", "Action": "s3:PutObject",
                                      "Resource": "arn:aws:s3:::gd-archive/findings/gd/*"}])

    def test_an_sse_kms_key_is_passed_and_only_generate_data_key_through_s3_is_granted(self):
        resources = rendered(S3BucketName="gd-archive", S3Prefix="", S3KmsKeyArn=self.KEY)
        self.assertEqual(env(resources)["S3_KMS_KEY_ID"], self.KEY)
        self.assertNotIn("S3_PREFIX", env(resources))
        [put] = resources["S3PutPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        [key] = resources["S3KeyPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(put["Resource"], "arn:aws:s3:::gd-archive/*")
        self.assertEqual(key["Action"], "kms:GenerateDataKey")
        self.assertEqual(key["Resource"], self.KEY)
        self.assertTrue(key["Condition"]["StringEquals"]["kms:ViaService"].startswith("s3."))

    def test_without_a_bucket_there_is_neither_the_variable_nor_the_permission(self):
        resources = rendered(S3KmsKeyArn=self.KEY)
        self.assertNotIn("S3_BUCKET", env(resources))
        self.assertNotIn("S3_KMS_KEY_ID", env(resources))
        self.assertNotIn("S3PutPolicy", resources)
        self.assertNotIn("S3KeyPolicy", resources)

    def test_a_bucket_alone_is_a_destination_and_bad_names_and_prefixes_are_refused(self):
        cfn.render(STACKSET, dict(WHERE, S3BucketName="gd-archive"))
        for param, bad in (("S3BucketName", "s3://gd-archive"), ("S3BucketName", "GD"),
                           ("S3Prefix", "/findings"), ("S3Prefix", "findings/"), ("S3Prefix", "a/*")):
            with self.subTest(param=param, bad=bad), self.assertRaises(cfn.InvalidParameter):
                rendered(**dict({"S3BucketName": "gd-archive"}, **{param: bad}))


def metric_rows(widget):
    """A dashboard widget's metric rows with CloudWatch's "." (same as the row above) expanded."""
    rows, previous = [], []
    for row in widget["properties"]["metrics"]:
        fields = [f for f in row if not isinstance(f, dict)]
        expanded = [previous[i] if f == "." and i < len(previous) else f for i, f in enumerate(fields)]
        rows.append(expanded)
        previous = expanded
    return rows


def default_metrics():
    """The metrics the function publishes by default (src/metrics.rs, DEFAULT_METRICS)."""
    with open(os.path.join(ROOT, "src", "metrics.rs")) as f:
        block = re.search(r"pub const DEFAULT_METRICS: \[&str; \d+\] = \[(.*?)\];", f.read(), re.S).group(1)
    return set(re.findall(r'"(\w+)"', block))


def forwarder_metric_stats(props):
    return [stat for stat in [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
            if stat.get("Namespace") == "GuardDutyForwarder"]


class AlarmsAndDashboardTest(unittest.TestCase):
    def alarms(self, **params):
        return {k: r["Properties"] for k, r in rendered(**params).items() if r["Type"] == "AWS::CloudWatch::Alarm"}

    def test_no_alarm_needs_a_custom_metric_so_an_idle_stack_publishes_none(self):
        # Each sent only when not zero: an idle stack publishes none of them.
        self.assertEqual(len(default_metrics()), 8, default_metrics())
        for name, props in self.alarms().items():
            self.assertEqual(forwarder_metric_stats(props), [], name)
            self.assertIn(props["Namespace"], ("AWS/Lambda", "AWS/SQS"), name)

    def test_the_alarms_page_on_what_matters_with_three_alarms_at_most(self):
        alarms = self.alarms()
        self.assertEqual(set(alarms), {"ErrorsAlarm", "DeadLetterQueueAlarm", "BackfillStoppedAlarm"})
        self.assertEqual(set(self.alarms(BackfillSchedule="disabled")), {"ErrorsAlarm", "DeadLetterQueueAlarm"})
        errors = alarms["ErrorsAlarm"]
        self.assertEqual((errors["MetricName"], errors["Dimensions"]),
                         ("Errors", [{"Name": "FunctionName", "Value": "<Function>"}]),
                         "every invocation, push and backfill alias alike")
        self.assertEqual((errors["Threshold"], errors["ComparisonOperator"], errors["TreatMissingData"]),
                         (0, "GreaterThanThreshold", "notBreaching"))
        for what in ("behind", "never returned", "set a finding aside"):
            self.assertIn(what, errors["AlarmDescription"])

    def test_the_dlq_alarm_says_how_to_inspect_and_redrive(self):
        description = rendered()["DeadLetterQueueAlarm"]["Properties"]["AlarmDescription"]
        self.assertIn("guardduty-forwarder dlq list", description)
        self.assertIn("guardduty-forwarder redrive", description)

    def test_the_dashboard_is_made_only_when_asked(self):
        self.assertNotIn("Dashboard", rendered())
        self.assertNotIn("Dashboard", cfn.render(STACKSET, CODE)["Outputs"])
        self.assertIn("Dashboard", rendered(CreateDashboard="true"))

    def test_every_dashboard_metric_of_the_forwarder_is_published_for_this_function(self):
        body = json.loads(rendered(CreateDashboard="true")["Dashboard"]["Properties"]["DashboardBody"])
        names = set()
        for widget in body["widgets"]:
            for row in metric_rows(widget):
                if row[0] == "GuardDutyForwarder":
                    names.add(row[1])
                    self.assertEqual(dict(zip(row[2::2], row[3::2])), {"FunctionName": "<Function>"}, row)
        # The lag only with MetricsDetail=detailed, which the widget's title says.
        self.assertEqual(names, default_metrics() | {"BackfillLagSeconds"})

    def test_metrics_detail_reaches_the_function(self):
        self.assertEqual(env(rendered())["METRICS_DETAIL"], "default")
        self.assertEqual(env(rendered(MetricsDetail="detailed"))["METRICS_DETAIL"], "detailed")


class PartitionTest(unittest.TestCase):
    def test_no_arn_or_console_link_assumes_the_commercial_partition(self):
        for name in ("template.yaml", "stackset.yaml"):
            with open(os.path.join(ROOT, name)) as f:
                text = f.read()
            self.assertNotRegex(text, r"arn:aws:", name)
            self.assertNotIn("console.aws.amazon.com/", re.sub(r"Domain: console\.aws\.amazon\.com", "", text), name)

    def test_the_dashboard_link_uses_the_partitions_console(self):
        for partition, domain in (("aws", "console.aws.amazon.com"), ("aws-us-gov", "console.amazonaws-us-gov.com"),
                                  ("aws-cn", "console.amazonaws.cn")):
            outputs = cfn.render(STACKSET, dict(CODE, CreateDashboard="true"), {"AWS::Partition": partition})["Outputs"]
            self.assertTrue(outputs["Dashboard"]["Value"].startswith(f"https://{domain}/cloudwatch/"), partition)


if __name__ == "__main__":
    unittest.main()


class DestinationsTest(unittest.TestCase):
    QUEUES = "arn:aws:sqs:us-east-1:111122223333:siem-a,arn:aws:sqs:eu-west-1:111122223333:archive"
    SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:hec-AbCdEf"
    STREAM = "arn:aws:firehose:us-east-1:111122223333:deliverystream/lake"

    def test_a_destinations_document_reaches_the_function_with_iam_for_what_it_names(self):
        doc = '{"destinations": [{"name": "log", "type": "log"}]}'
        r = rendered(LogRecords="false", Destinations=doc, DestinationQueueArns=self.QUEUES,
                     DestinationSecretArns=self.SECRET, DestinationStreamArns=self.STREAM)
        e = env(r)
        self.assertEqual(e["DESTINATIONS"], doc)
        for shorthand in ("SQS_QUEUE_URL", "COLLECTOR_URL", "FIREHOSE_STREAM_NAME", "DESTINATIONS_PARAMETER"):
            self.assertNotIn(shorthand, e)
        statement = lambda logical: r[logical]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual(statement("DestinationQueuesPolicy")["Resource"], self.QUEUES.split(","))
        self.assertEqual(statement("DestinationStreamsPolicy")["Resource"], [self.STREAM])
        self.assertEqual(statement("CollectorSecretPolicy")["Resource"], [self.SECRET])
        self.assertEqual(e["REDRIVE_MAX_PER_RUN"], "50")
        self.assertNotIn("DestinationObjectsPolicy", r)
        objects = "arn:aws:s3:::gd-archive/findings/*"
        r = rendered(LogRecords="false", Destinations=doc, DestinationObjectArns=objects)
        self.assertEqual(statement("DestinationObjectsPolicy")["Resource"], [objects])
        self.assertEqual(statement("DestinationObjectsPolicy")["Action"], "s3:PutObject")

    def test_a_destinations_parameter_is_readable_by_the_function_and_nothing_else_is(self):
        r = rendered(LogRecords="false", DestinationsParameter="/gdf/destinations")
        self.assertEqual(env(r)["DESTINATIONS_PARAMETER"], "/gdf/destinations")
        st = r["DestinationsParameterPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        self.assertEqual((st["Action"], st["Resource"]),
                         ("ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/gdf/destinations"))
        for logical in ("DestinationQueuesPolicy", "DestinationStreamsPolicy", "CollectorSecretPolicy"):
            self.assertNotIn(logical, r)

    def test_a_document_beside_a_one_destination_parameter_is_refused(self):
        with self.assertRaisesRegex(cfn.RuleFailed, "DestinationsAlone"):
            rendered(LogRecords="false", Destinations='{"destinations": []}', QueueMode="create")
        with self.assertRaisesRegex(cfn.RuleFailed, "DestinationsAlone"):
            rendered(LogRecords="false", Destinations='{"destinations": []}', DestinationsParameter="/x")
        with self.assertRaisesRegex(cfn.RuleFailed, "DestinationsAlone"):
            rendered(Destinations='{"destinations": []}')

    def test_the_function_may_read_back_only_its_own_dead_letter_queue(self):
        r = rendered()
        role = r["FunctionRole"]["Properties"]["Policies"]
        dead = [p for p in role if p["PolicyName"] == "dead-letter"][0]["PolicyDocument"]["Statement"]
        receive = [s for s in dead if "sqs:ReceiveMessage" in s["Action"]]
        self.assertEqual(len(receive), 1)
        self.assertEqual(receive[0]["Resource"], "arn:aws:sqs:us-east-1:123456789012:<DeadLetterQueue.Arn>")
