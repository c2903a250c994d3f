"""What a sweep driver does before its first trial: Tune's callback usage tag, which imports every
logger integration Tune knows (MLflow's: ~1.2 s where mlflow is installed), is skipped where Ray's
usage stats are off (the driver's default), and kept where a user turned them on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

TAG = """
import os, sys
{env}
import orchestrator.tune.run  # sets the driver's defaults, as `superpos sweep run` does
from orchestrator.tune.quiet import skip_unsent_usage_tag
from ray.tune import tune
from ray.tune.logger import JsonLoggerCallback
skip_unsent_usage_tag()
tune.air_usage.tag_callbacks([JsonLoggerCallback()])  # the call Tune.run makes with the run's callbacks
print("mlflow" in sys.modules)
"""


@pytest.mark.parametrize(("env", "imported"), [("os.environ.pop('RAY_USAGE_STATS_ENABLED', None)", "False"),
                                               ("os.environ['RAY_USAGE_STATS_ENABLED'] = '1'", "True")],
                         ids=["usage stats off (the default)", "usage stats on"])
def test_the_usage_tag_imports_mlflow_only_where_usage_stats_are_on(env, imported):
    pytest.importorskip("mlflow")  # the test extra installs it, as the tracking extra does for users
    out = subprocess.run([sys.executable, "-c", TAG.format(env=env)], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == imported, out.stdout
