# The suite's own set-up: where its Redis is, and what a developer sees when there is none.
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_a_missing_redis_is_reported_once_before_any_test_runs() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_settings.py"],
        cwd=ROOT,
        env=os.environ | {"TEST_REDIS_URL": "redis://:hunter2@127.0.0.1:1/15"},
        capture_output=True,
        text=True,
        check=False,
    )

    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert output.count("Redis does not answer at redis://127.0.0.1:1/15") == 1
    assert "start one (redis-server --daemonize yes) or set TEST_REDIS_URL" in output
    assert "passed" not in output
    assert "failed" not in output
    assert "hunter2" not in output
