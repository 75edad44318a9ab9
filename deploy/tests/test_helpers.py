"""The test helpers hold to what their module docs promise: cfn.py renders as CloudFormation
does, eventpattern.py refuses what EventBridge refuses. One line per case."""

import unittest

import cfn
import eventpattern

TEMPLATE = {
    "Parameters": {
        "Count": {"Type": "Number", "Default": 5, "MinValue": 1, "MaxValue": 9},
        "Mode": {"Type": "String", "Default": "a", "AllowedValues": ["a", "b"]},
        "Name": {"Type": "String", "Default": "", "AllowedPattern": "^[a-z]*$"},
        "Id": {"Type": "String", "Default": "abc", "MinLength": 2, "MaxLength": 4},
    },
    "Rules": {"NotBoth": {"Assertions": [{"Assert": {"Fn::Or": [{"Fn::Equals": [{"Ref": "Mode"}, "a"]},
                                                              {"Fn::Equals": [{"Ref": "Name"}, ""]}]},
                                          "AssertDescription": "Mode b takes no Name"}]}},
    "Conditions": {"IsB": {"Fn::Equals": [{"Ref": "Mode"}, "b"]}},
    "Resources": {
        "Thing": {"Type": "AWS::SQS::Queue", "Properties": {
            "Count": {"Ref": "Count"},
            "Literal": 7,
            "Picked": {"Fn::If": ["IsB", 2, 1]},
            "Maybe": {"Fn::If": ["IsB", "x", {"Ref": "AWS::NoValue"}]},
            "List": ["keep", {"Fn::If": ["IsB", "b", {"Ref": "AWS::NoValue"}]}],
            "Text": {"Fn::Sub": "${Count}-${AWS::Region}-${Thing.Arn}-${!Literal}"},
            "Parts": {"Fn::Split": [",", {"Fn::Join": [",", ["a", "b"]]}]},
        }},
        "OnlyB": {"Type": "AWS::SQS::Queue", "Condition": "IsB", "Properties": {}},
    },
}


class RendererTest(unittest.TestCase):
    def test_a_ref_to_a_number_parameter_is_a_string_and_literals_stay_numbers(self):
        props = cfn.render(TEMPLATE)["Resources"]["Thing"]["Properties"]
        self.assertEqual((props["Count"], props["Literal"], props["Picked"]), ("5", 7, 1))

    def test_no_value_removes_the_key_or_the_list_item(self):
        props = cfn.render(TEMPLATE)["Resources"]["Thing"]["Properties"]
        self.assertNotIn("Maybe", props)
        self.assertEqual(props["List"], ["keep"])

    def test_split_gives_the_list(self):
        self.assertEqual(cfn.render(TEMPLATE)["Resources"]["Thing"]["Properties"]["Parts"], ["a", "b"])

    def test_a_false_condition_removes_the_resource(self):
        self.assertNotIn("OnlyB", cfn.render(TEMPLATE)["Resources"])
        self.assertIn("OnlyB", cfn.render(TEMPLATE, {"Mode": "b"})["Resources"])

    def test_sub_renders_parameters_pseudo_parameters_attributes_and_escapes(self):
        text = cfn.render(TEMPLATE)["Resources"]["Thing"]["Properties"]["Text"]
        self.assertEqual(text, "5-us-east-1-arn:aws:sqs:us-east-1:123456789012:<Thing.Arn>-${Literal}")

    def test_parameter_values_are_checked_as_cloudformation_checks_them(self):
        for given in ({"Count": "0"}, {"Count": "10"}, {"Count": "x"}, {"Mode": "c"}, {"Name": "A"}, {"Nope": "1"},
                      {"Id": "a"}, {"Id": "abcde"}):
            with self.subTest(given=given), self.assertRaises(cfn.InvalidParameter):
                cfn.render(TEMPLATE, given)

    def test_a_failed_rule_refuses_the_stack_with_its_description(self):
        with self.assertRaisesRegex(cfn.RuleFailed, "Mode b takes no Name"):
            cfn.render(TEMPLATE, {"Mode": "b", "Name": "x"})


class EventPatternTest(unittest.TestCase):
    ACCEPTED = [
        {"source": ["aws.guardduty"]},
        {"detail": {"severity": [{"numeric": [">=", 4]}]}},
        {"detail": {"severity": [{"numeric": [">", 0, "<=", 5.5]}]}},
        {"detail": {"severity": [{"numeric": ["=", 8]}]}},
        {"detail": {"type": [{"prefix": "Recon:"}], "archived": [False], "x": [None, 3]}},
        {"$or": [{"source": ["a"]}, {"detail-type": ["b"]}]},
    ]
    REFUSED = [
        ({"detail": {"severity": [{"numeric": [">=", "4"]}]}}, "Value of >= must be numeric"),
        ({"detail": {"severity": [{"numeric": [">=", True]}]}}, "must be numeric"),
        ({"detail": {"severity": [{"numeric": ["<=", 5, ">", 1]}]}}, "lower bound then an upper bound"),
        ({"detail": {"severity": [{"numeric": [">", 5, "<", 1]}]}}, "bottom must be below its top"),
        ({"detail": {"severity": [{"numeric": [">=", 6e9]}]}}, "outside"),
        ({"detail": {"severity": [{"numeric": ["~", 4]}]}}, "unrecognized numeric range operator"),
        ({"detail": {"severity": [{"numeric": [">="]}]}}, "an operator and a number"),
        ({"source": []}, "empty arrays"),
        ({"source": "aws.guardduty"}, "object or an array"),
        ({"source": [{"regex": "x"}]}, "unrecognized match type"),
        ({"source": [{"prefix": "a", "suffix": "b"}]}, "exactly one operator"),
    ]

    def test_patterns_eventbridge_accepts_are_accepted(self):
        for pattern in self.ACCEPTED:
            with self.subTest(pattern=pattern):
                eventpattern.validate(pattern)

    def test_patterns_eventbridge_refuses_are_refused_with_the_reason(self):
        for pattern, reason in self.REFUSED:
            with self.subTest(pattern=pattern), self.assertRaisesRegex(eventpattern.InvalidPattern, reason):
                eventpattern.validate(pattern)


class EventBridgeDocumentedMatchingTest(unittest.TestCase):
    """The examples of EventBridge's "Content filtering in Amazon EventBridge event patterns"
    and "Comparison operators" pages (docs.aws.amazon.com/eventbridge/latest/userguide/),
    each with events the page says match and events it says do not. A matcher that goes its
    own way on any of them fails here, before the template's patterns are judged by it."""

    CASES = [
        # Exact values: case-sensitive; an event array matches when any element does.
        ({"source": ["aws.guardduty"]}, {"source": "aws.guardduty"}, True),
        ({"source": ["aws.guardduty"]}, {"source": "AWS.GuardDuty"}, False),
        ({"source": ["aws.guardduty"]}, {"detail-type": "GuardDuty Finding"}, False),
        ({"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]},
         {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:x"]}, True),
        ({"detail": {"state": ["running", "stopped"]}}, {"detail": {"state": "stopped"}}, True),
        ({"detail": {"state": ["running", "stopped"]}}, {"detail": {"state": "pending"}}, False),
        # Prefix (the page's "time" example).
        ({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-02T18:43:48Z"}, True),
        ({"time": [{"prefix": "2017-10-02"}]}, {"time": "2017-10-03T18:43:48Z"}, False),
        # Anything-but: a value, a list, a prefix; a missing field is not "anything".
        ({"detail": {"state": [{"anything-but": "initializing"}]}}, {"detail": {"state": "running"}}, True),
        ({"detail": {"state": [{"anything-but": "initializing"}]}}, {"detail": {"state": "initializing"}}, False),
        ({"detail": {"state": [{"anything-but": "initializing"}]}}, {"detail": {}}, False),
        ({"detail": {"x-limit": [{"anything-but": 123}]}}, {"detail": {"x-limit": 456}}, True),
        ({"detail": {"x-limit": [{"anything-but": 123}]}}, {"detail": {"x-limit": 123}}, False),
        ({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, {"detail": {"state": "overloaded"}}, False),
        ({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, {"detail": {"state": "running"}}, True),
        ({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, {"detail": {"state": "initializing"}}, False),
        ({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, {"detail": {"state": "running"}}, True),
        # Numeric (the page's c-count / d-count / x-limit example): JSON numbers only.
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}],
                     "x-limit": [{"numeric": ["=", 3.018e2]}]}},
         {"detail": {"c-count": 5, "d-count": 7, "x-limit": 301.8}}, True),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, {"detail": {"c-count": 0}}, False),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, {"detail": {"c-count": 5.5}}, False),
        ({"detail": {"severity": [{"numeric": [">=", 4]}]}}, {"detail": {"severity": 4}}, True),
        ({"detail": {"severity": [{"numeric": [">=", 4]}]}}, {"detail": {"severity": 3.9}}, False),
        ({"detail": {"severity": [{"numeric": [">=", 4]}]}}, {"detail": {"severity": "8"}}, False),
        ({"detail": {"severity": [{"numeric": [">=", 4]}]}}, {"detail": {}}, False),
        # Exists: on leaf fields, true when present, false when absent.
        ({"detail": {"state": [{"exists": True}]}}, {"detail": {"state": "running"}}, True),
        ({"detail": {"state": [{"exists": True}]}}, {"detail": {"other": 1}}, False),
        ({"detail": {"state": [{"exists": False}]}}, {"detail": {"other": 1}}, True),
        ({"detail": {"state": [{"exists": False}]}}, {"detail": {"state": "running"}}, False),
        # Wildcard: `*` stands for any run of characters, `/` included.
        ({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
         {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"}, True),
        ({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
         {"EventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/default"}, False),
        ({"FileName": [{"wildcard": "dir/*.png"}]}, {"FileName": "dir/sub/image.png"}, True),
        ({"FileName": [{"wildcard": "dir/*.png"}]}, {"FileName": "dir/image.jpg"}, False),
        # Several fields: all of them must match (and), values within one field: any (or).
        ({"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]},
         {"source": "aws.guardduty", "detail-type": "GuardDuty Runtime Protection Unhealthy"}, False),
        ({"$or": [{"source": ["aws.s3"]}, {"detail-type": ["GuardDuty Finding"]}]},
         {"source": "aws.guardduty", "detail-type": "GuardDuty Finding"}, True),
    ]

    def test_every_documented_example_matches_as_the_docs_say(self):
        for pattern, event, expected in self.CASES:
            with self.subTest(pattern=pattern, event=event):
                self.assertIs(bool(eventpattern.matches(pattern, event)), expected)

    def test_the_rule_the_template_renders_matches_findings_and_nothing_else(self):
        pattern = {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
                   "detail": {"severity": [{"numeric": [">=", 7]}]}}
        base = {"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": {"severity": 7}}
        self.assertTrue(eventpattern.matches(pattern, base))
        for change in ({"source": "aws.securityhub"}, {"detail-type": "GuardDuty Malware Protection Object Scan Result"},
                       {"detail": {"severity": 6.9}}, {"detail": {"severity": "7"}}, {"detail": {}}):
            with self.subTest(change=change):
                self.assertFalse(eventpattern.matches(pattern, dict(base, **change)))


if __name__ == "__main__":
    unittest.main()
