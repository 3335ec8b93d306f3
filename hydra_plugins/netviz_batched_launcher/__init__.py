"""``hydra/launcher=batched``: netviz's launcher that runs a sweep's batchable jobs as one batch
(:mod:`netviz.batched`). Hydra finds it in the ``hydra_plugins`` namespace package."""
