"""The notebook API: one entry point to a results store, answering in pandas DataFrames.

    from db.notebook import Results
    results = Results("sqlite:///superpos.db")   # default: $SUPERPOS_DB, else ./superpos.db
    results.sweeps()                 # one row per sweep, newest first
    results.cells()                  # per cell: chosen rate, mean, std and n over seeds (newest sweep)
    results.table()                  # Table 1's numbers, as `superpos table` prints them
    results.curves()                 # per-epoch validation scores of the reported trials
    results.prompts()                # the learned encoder prompt of each reported trial (numpy)

It reads through the same modules as the CLI and the dashboard (db/queries.py, db/tables.py), opens
the store read-only and never writes. `sweep` defaults to the newest sweep everywhere.
"""

from __future__ import annotations

import pandas as pd

from db import artefacts, importance, queries, tables
from db.engine import open_store


class Results:
    def __init__(self, url: str | None = None):
        self.engine = open_store(url, readonly=True)

    def _sweep(self, sweep: int | None) -> int:
        sweep_id = queries.latest_sweep_id(self.engine) if sweep is None else int(sweep)
        if sweep_id is None:
            raise ValueError("this store holds no sweeps yet; run one with: superpos sweep run SPEC")
        queries.sweep_details(self.engine, sweep_id)  # an unknown id is a clear error
        return sweep_id

    def sweeps(self) -> pd.DataFrame:
        """Every sweep: id, name, state, times, commit, hardware, planned and stored trial counts."""
        return queries.list_sweeps(self.engine)

    def spec(self, sweep: int | None = None) -> str:
        """The spec (YAML) the sweep ran, as submitted."""
        return queries.sweep_details(self.engine, self._sweep(sweep))["spec_text"]

    def cells(self, sweep: int | None = None) -> pd.DataFrame:
        """One row per cell (model, method, m, options, dropout, task): the chosen learning rate and its
        objective, and the reported score over the chosen trial and its replicas as score_mean,
        score_std, n_seeds (fractions 0..1; peak epoch, and score_final_* at the last epoch)."""
        return queries.cell_results(self.engine, self._sweep(sweep))

    def trials(self, sweep: int | None = None) -> pd.DataFrame:
        """One row per trial: cell values, role, seed, lr, state, objective, scores, seconds."""
        return queries.trials_frame(self.engine, self._sweep(sweep))

    def curves(self, sweep: int | None = None, key: str = "val/score", every_trial: bool = False) -> pd.DataFrame:
        """Per epoch (`step`) the `value` of one metric key, with each trial's cell values and seed: the
        reported trials (the chosen one and its replicas), or `every_trial`."""
        return queries.learning_curves(self.engine, self._sweep(sweep), key, best_only=not every_trial)

    def table(self, sweep: int | str | None = None, selection: str = "peak") -> pd.DataFrame:
        """Table 1's numbers (percent; the mean over seeds; the average over tasks) of a sweep, or of the
        paper (`sweep="paper"`)."""
        return tables.scores(self.engine, sweep if sweep == "paper" else self._sweep(sweep), selection)

    def scores(self, sweep: int | None = None, selection: str = "peak") -> pd.DataFrame:
        """The same, long: a row per cell and task with score, std and n over seeds (percent)."""
        return tables.sweep_scores(self.engine, self._sweep(sweep), selection)

    def versus(self, sweep: int, against: int | None = None, selection: str = "peak") -> pd.DataFrame:
        """A sweep beside another (`against`: differences with their 95% interval and whether they are
        within the seeds' noise, db/noise.py) or beside the paper (`against=None`)."""
        other = None if against is None else self._sweep(against)
        return tables.build(self.engine, "versus", self._sweep(sweep), selection, against=other)[0]

    def paper(self) -> pd.DataFrame:
        """The imported published numbers (`superpos db import-reference`), one row per number."""
        return queries.reference_results(self.engine)

    def importance(self, sweep: int | None = None) -> pd.DataFrame:
        """Per task, how much each grid dimension (method, model, dropout, lr; a method's options within
        its own trials, scope = the method) explains of the reported score (db/importance.py)."""
        return importance.per_task(self.engine, self._sweep(sweep))

    def snapshots(self, sweep: int | None = None, name: str = "pprime") -> pd.DataFrame:
        """Learned tensors of each cell's reported trials as numpy arrays (column `array`; SuperPos's p'
        by default); `torch.from_numpy(row.array)` makes a tensor of one."""
        return queries.snapshots(self.engine, self._sweep(sweep), name)

    def prompts(self, sweep: int | None = None, selection: str = "peak") -> pd.DataFrame:
        """The (n, d_model) encoder prompt of each cell's reported trials (column `array`, numpy), at the
        peak epoch (or `selection="final"`), with the cell values, seed and the epoch it is from."""
        return artefacts.prompts(self.engine, self._sweep(sweep), selection)

    def artefacts(self, sweep: int | None = None) -> pd.DataFrame:
        """Every stored tensor of a sweep's trials (no data): selection, name, epoch, shape, bytes, sha256."""
        return artefacts.listing(self.engine, self._sweep(sweep))

    def tensors(self, trial: int, selection: str = "peak") -> dict:
        """{name: numpy array} of one trial: its `prompt` and, at the peak, its method's `state/...`."""
        return artefacts.tensors(self.engine, trial, selection)
