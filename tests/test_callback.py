"""The driver-side callback's text: progress lines in a job's log, and the line that names an error."""

from __future__ import annotations

from orchestrator.tune.callback import ANSI, ResultsCallback, first_line


def test_without_a_terminal_progress_goes_to_the_log_with_the_planned_total():
    lines: list[str] = []
    callback = ResultsCallback("sqlite:///unused.db", total=2, echo=lines.append, epochs=3, progress=False)
    callback.LOG_EVERY_S = 0
    callback._advance("a/0", 1)  # members: "<Tune trial>/<index>"
    callback._advance("b/0", 3)
    assert lines[0].startswith("progress: 1/6 epochs, 0/2 trials, 0 failed")
    assert lines[-1].startswith("progress: 4/6 epochs") and "ETA" in lines[-1]
    assert callback.bar is None


def test_the_first_line_of_an_error_is_the_exception_line():
    traceback = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    load()\n"
                 "datasets.exceptions.DatasetGenerationError: An error occurred while generating the dataset\n")
    assert first_line(traceback) == ("datasets.exceptions.DatasetGenerationError: An error occurred while "
                                     "generating the dataset")
    assert first_line("just a message") == "just a message"
    said = "Invalid Ray address. To fix this, either:\n  1. Unset RAY_ADDRESS, or\n  2. Set RAY_ADDRESS to the GCS."
    assert first_line(said) == "Invalid Ray address. To fix this, either: 1. Unset RAY_ADDRESS, or 2. Set RAY_ADDRESS to the GCS."
    assert ANSI.sub("", "\x1b[36mray::Trainable\x1b[39m failed") == "ray::Trainable failed"


def test_a_lost_worker_is_said_in_plain_words_and_ordinary_errors_stay_as_they_are():
    from orchestrator.tune.faults import explain, what_next, worker_gone

    ray_text = ("The actor d8f8 is unavailable: The actor is temporarily unavailable: RpcError: RPC error: Socket "
                "closed rpc_code: 14. The task may or may not have been executed on the actor.")
    assert worker_gone(None, ray_text) and not worker_gone(ValueError("x"), "ValueError: x")
    said = explain(ray_text, None, "host Ray node 1234abcd at 127.0.0.1", None, what_next(False, 0, 7))
    last = said.splitlines()[-1]
    assert said.startswith(ray_text) and last.startswith("WorkerLostError: the worker process that ran this trial")
    assert "Ray node 1234abcd" in last and "`superpos sweep resume 7 --retry-failed` runs it again" in last
    assert "would have retried" in last
    assert "retries it from its last checkpoint" in what_next(True, 2, 7)
    assert "its 2 retries" in what_next(False, 2, 7)
    assert explain("Traceback ...\nValueError: x", ValueError("x"), None, None, "then") == "Traceback ...\nValueError: x"
