"""netviz's command line: ``python run.py [overrides]``, ``python run.py -m <sweep>``.

See README.md for the options; ``python run.py --list-models`` lists the models.
"""

import sys

import hydra

from netviz.cli import check_command_line, run_job

check_command_line(sys.argv[1:])


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    run_job(cfg)


if __name__ == "__main__":
    main()
