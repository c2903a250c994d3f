"""The Tune run: the driver (run.py) with its searcher (one Optuna study per cell), its scheduler
(early stopping per cell), its callback (the store's one writer), packing (several trials on one
frozen model) with the board through which a pack hears that a member leaves, what a lost worker or
node means (faults.py), and where the run ran (provenance.py)."""
