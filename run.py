"""netviz's command line: ``python run.py [overrides]``, ``python run.py -m <sweep>``.

The same program as the ``netviz run`` console script; see README.md for the options, and
``python run.py --list-models`` for the models.
"""

import sys

from netviz.cli import run_hydra

if __name__ == "__main__":
    run_hydra(sys.argv[1:])
