"""samconfig.toml as the SAM CLI reads it (its own config provider and parameter parser, run in
the aws-sam-cli venv): the documented upgrade, `sam build && sam deploy` in each environment,
builds and deploys the same architecture; every deploy section tolerates an unchanged stack.
"""

import json
import os
import subprocess
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Resolves each command's options for each environment exactly as `sam <command>` does.
RESOLVE = """
import json, sys
from pathlib import Path
import click
from samcli.cli.cli_config_file import ConfigProvider
from samcli.cli.types import CfnParameterOverridesType
from samcli.commands.build.command import cli as build
from samcli.commands.deploy.command import cli as deploy

path = Path(sys.argv[1])
out = {}
for env in sys.argv[2:]:
    out[env] = {}
    for command, cli in (("build", build), ("deploy", deploy)):
        with click.Context(cli, info_name=command):
            options = ConfigProvider(section="parameters")(path, env, [command])
        overrides = options.get("parameter_overrides")
        if overrides is not None:
            overrides = CfnParameterOverridesType().convert(overrides, None, None)
        out[env][command] = {"options": options, "parameters": overrides}
print(json.dumps(out, default=str))
"""


def sam_python():
    path = os.environ.get("GDF_SAM_PYTHON") or os.path.join(
        os.environ.get("GDF_TOOLS", os.path.join(ROOT, ".tools")), "sam", "bin", "python")
    return path if os.path.exists(path) else None


def resolve(config_path):
    python = sam_python()
    if not python:
        raise unittest.SkipTest("no aws-sam-cli (scripts/test sets GDF_SAM_PYTHON)")
    import tomllib

    with open(config_path, "rb") as f:
        envs = [k for k, v in tomllib.load(f).items() if isinstance(v, dict)]
    proc = subprocess.run([python, "-c", RESOLVE, config_path, *envs], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(proc.stderr[-2000:])
    return json.loads(proc.stdout)


class SamConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.resolved = resolve(os.path.join(ROOT, "samconfig.toml"))

    def test_each_environment_builds_and_deploys_the_same_architecture_and_parameters(self):
        self.assertEqual(set(self.resolved), {"default", "prod"})
        for env, commands in self.resolved.items():
            with self.subTest(env=env):
                build, deploy = commands["build"]["parameters"], commands["deploy"]["parameters"]
                self.assertIsNotNone(build, "sam build must see the parameters")
                self.assertIn(build.get("Architecture"), ("arm64", "x86_64"))
                self.assertEqual(build, deploy)

    def test_no_deploy_section_keeps_parameters_of_its_own(self):
        # What `sam deploy --guided` writes, and what split the architecture before.
        with open(os.path.join(ROOT, "samconfig.toml")) as f:
            text = f.read()
        for env in self.resolved:
            section = text.split(f"[{env}.deploy.parameters]", 1)[1].split("\n[", 1)[0]
            self.assertNotIn("parameter_overrides", section, env)

    def test_a_deploy_section_with_its_own_architecture_is_what_splits_build_from_deploy(self):
        # The failure the layout prevents, reproduced with the SAM CLI's own reading.
        import tempfile

        with open(os.path.join(ROOT, "samconfig.toml")) as f:
            text = f.read()
        text = text.replace("[default.deploy.parameters]\n",
                            "[default.deploy.parameters]\nparameter_overrides = \"Architecture=\\\"x86_64\\\" LogRecords=\\\"true\\\"\"\n")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "samconfig.toml")
            with open(path, "w") as f:
                f.write(text)
            split = resolve(path)["default"]
        self.assertEqual((split["build"]["parameters"]["Architecture"], split["deploy"]["parameters"]["Architecture"]),
                         ("arm64", "x86_64"))

    def test_every_deploy_tolerates_an_unchanged_stack(self):
        for env, commands in self.resolved.items():
            with self.subTest(env=env):
                self.assertIs(commands["deploy"]["options"].get("fail_on_empty_changeset"), False)

    def test_the_parameters_are_ones_the_template_declares(self):
        import cfn

        declared = cfn.load(os.path.join(ROOT, "template.yaml"))["Parameters"]
        for env, commands in self.resolved.items():
            for key in commands["build"]["parameters"]:
                self.assertIn(key, declared, env)


if __name__ == "__main__":
    unittest.main()
