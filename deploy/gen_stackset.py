"""Generates stackset.yaml from template.yaml: the same stack without the AWS::Serverless
transform (service-managed StackSets reject macros), its code taken from a per-region artifact
bucket `${ArtifactBucketPrefix}-${AWS::Region}`. Run by scripts/template-check, which fails
when the committed stackset.yaml differs from what this produces.

Usage: python deploy/gen_stackset.py template.yaml > stackset.yaml
(needs aws-sam-cli's Python environment: samtranslator and samcli.yamlhelper)
"""

import copy
import os
import sys

from samcli.yamlhelper import yaml_dump, yaml_parse
from samtranslator.translator.transform import transform


# The S3 rules for "<prefix>-<region>" (scripts/deploy-stackset checks the same pattern).
BUCKET_PREFIX_PATTERN = "^(?!xn--|sthree-|amzn-s3-demo-)(?!.*\\.\\.)[a-z0-9][a-z0-9.-]{1,39}[a-z0-9]$"


class NoManagedPolicies:
    """The template names no managed policies; fail loudly if that changes."""

    def load(self):
        raise RuntimeError("template.yaml must not use SAM managed policy names")


def for_stacksets(template: dict) -> dict:
    t = copy.deepcopy(template)
    t["Description"] = t["Description"] + " (StackSets edition, generated from template.yaml)"
    params = t["Parameters"]
    params["ArtifactBucketPrefix"] = {
        "Type": "String",
        # With "-<region>" appended it must be an S3 bucket name: lowercase letters, digits,
        # '.' and '-', starting and ending with a letter or digit, no '..', not a reserved
        # prefix; at most 41 characters leaves room for the longest region name.
        "AllowedPattern": BUCKET_PREFIX_PATTERN,
        "ConstraintDescription": "lowercase letters, digits, '.' and '-', 3-41 characters, starting and ending with a letter or digit, no '..'",
        "Description": "The code is read from the bucket named <prefix>-<region> in every target region.",
    }
    # No default: scripts/deploy-stackset uploads the zip under a key named by its content,
    # and a stack set made with a default key nobody uploaded would fail with NoSuchKey.
    params["ArtifactKey"] = {
        "Type": "String",
        "AllowedPattern": "^[\\w!.*'()/-]{1,1024}$",
        "Description": "Key of the function's zip in the artifact buckets (built for Architecture), as scripts/deploy-stackset uploaded it.",
    }
    fn = t["Resources"]["Function"]
    fn["Metadata"].pop("BuildMethod", None)
    fn["Properties"]["CodeUri"] = {
        "Bucket": {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"},
        "Key": {"Ref": "ArtifactKey"},
    }
    groups = t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    groups.insert(0, {"Label": {"default": "Code"}, "Parameters": ["ArtifactBucketPrefix", "ArtifactKey"]})
    return t


def main() -> None:
    # The translator wants a region for its pseudo-parameter defaults; the output keeps
    # ${AWS::Region} intrinsics, so any region gives the same template.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(sys.argv[1]) as f:
        template = yaml_parse(f.read())
    out = transform(for_stacksets(template), {}, NoManagedPolicies())
    sys.stdout.write("# GENERATED from template.yaml by deploy/gen_stackset.py - do not edit.\n")
    sys.stdout.write(yaml_dump(out))


if __name__ == "__main__":
    main()
