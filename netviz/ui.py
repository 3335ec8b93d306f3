"""``make ui``: the MLflow UI on the project's store, opened where netviz's runs are.

MLflow 3 opens on its GenAI overview (traces, token usage: all "No data" for netviz); this prints
the link of each experiment's runs table first (``?workflowType=machine_learning``), then serves the
UI on the loopback address only. A port that is taken is one line saying how to choose another.

Usage: ``python -m netviz.ui [--store sqlite:///path/mlflow.db] [--port 5000]``
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from netviz.tracking import default_tracking_uri, experiment_link, sqlite_path

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def experiment_links(store: str, ui: str) -> list[str]:
    """``<experiment name>: <runs-table link>`` for every active experiment that has runs."""
    from mlflow import MlflowClient

    from netviz.mlflow_worker import quiet_mlflow

    quiet_mlflow()
    client = MlflowClient(store)
    lines = []
    for experiment in client.search_experiments():
        if client.search_runs([experiment.experiment_id], max_results=1):
            lines.append(f"  {experiment.name}: {experiment_link(experiment.experiment_id, ui)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netviz.ui", description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=default_tracking_uri(), help="the tracking store (default: ./mlflow.db)")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    if not port_is_free(args.port):
        print(f"netviz: error: port {args.port} is already in use; choose another with `make ui PORT={args.port + 1}`", file=sys.stderr)
        return 2
    database = sqlite_path(args.store)
    if database is not None and not database.is_file():
        print(f"netviz: error: no runs yet: {database} does not exist; run a job first (`make demo`)", file=sys.stderr)
        return 2
    ui = f"http://{HOST}:{args.port}"
    print(f"MLflow UI on {ui} (Ctrl-C stops it). Runs tables:")
    print("\n".join(experiment_links(args.store, ui)) or "  (no runs yet)", flush=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", args.store, "--host", HOST, "--port", str(args.port), "--workers", "1"]
    os.execv(sys.executable, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
