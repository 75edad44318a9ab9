"""Runs the deployment tests (deploy/tests) and fails when one is skipped.

A skipped test proves nothing, and `scripts/test` installs every tool these tests use (the SAM
translator and CLI, the AWS CLI, moto), so a skip means the set-up is broken: it fails the run
and is listed with its reason. A machine that knowingly lacks a tool names the tests it may
skip in GDF_ALLOW_SKIPS (comma-separated test ids as printed, e.g.
`test_rendered.BackfillScheduleTest.test_the_sam_translator_keeps_the_disabled_state`).

Usage: python deploy/tests/run.py   (what `scripts/test` runs)
"""

import os
import sys
import unittest


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    suite = unittest.defaultTestLoader.discover(here, top_level_dir=here)
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    allowed = {s.strip() for s in os.environ.get("GDF_ALLOW_SKIPS", "").split(",") if s.strip()}
    unexpected = 0
    for test, why in result.skipped:
        ok = test.id() in allowed
        unexpected += not ok
        note = " (allowed by GDF_ALLOW_SKIPS)" if ok else ""
        print(f"skipped: {test.id()}: {why}{note}", file=sys.stderr)
    print(
        f"deploy tests: {result.testsRun} run, {len(result.failures)} failed, "
        f"{len(result.errors)} errors, {len(result.skipped)} skipped",
        file=sys.stderr,
    )
    if unexpected:
        print(
            f"deploy tests: {unexpected} skipped test(s) fail the run: install what they name "
            "(scripts/test does) or list their ids in GDF_ALLOW_SKIPS",
            file=sys.stderr,
        )
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
