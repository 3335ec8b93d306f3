"""Composing a multirun into one figure: which runs, which values they varied, in what layout."""

import pytest

from netviz.compose import cell_title, describe, layout, main
from netviz.runs import RunRecord, latest_sweep, varied_params


def record(i: int, sweep: str | None, **params: str) -> RunRecord:
    tags = {"figure": "fig7"} | ({"sweep_id": sweep} if sweep else {})
    base = {"model.name": "m", "tracking.uri": f"sqlite:///{i}", "seed": "0"}
    return RunRecord(f"run{i}", f"name{i}", base | params, tags, start_time=1000 + i)


def sweep_of_fig7(sweep: str = "multirun/b", start: int = 0) -> list[RunRecord]:
    # Hydra's product order: iterations (first axis) changes slowest.
    values = [("200", "0.1"), ("200", "10"), ("1000", "0.1"), ("1000", "10")]
    return [record(start + i, sweep, iterations=it, lr=lr) for i, (it, lr) in enumerate(values)]


def test_varied_params_leave_out_bookkeeping_and_put_the_slowest_axis_first():
    runs = sweep_of_fig7()
    assert varied_params(runs) == ["iterations", "lr"]
    assert varied_params(runs[:1]) == []


def test_two_axes_make_a_grid_with_one_row_per_value_of_the_slow_axis():
    runs = sweep_of_fig7()
    rows = layout(runs, varied_params(runs))
    assert [[r.run_id for r in row] for row in rows] == [["run0", "run1"], ["run2", "run3"]]
    assert [describe(r, ["iterations", "lr"]) for r in rows[1]] == ["iterations=1000, lr=0.1", "iterations=1000, lr=10"]
    one_axis = [record(i, "s", **{"classviz.blur_every": v}) for i, v in enumerate(["2", "20", "None"])]
    assert layout(one_axis, varied_params(one_axis)) == [one_axis]
    assert describe(one_axis[2], ["classviz.blur_every"]) == "blur_every=none"


def test_a_cell_names_its_sample_and_gives_the_target_probability_where_logged():
    run = record(0, "s", lr="5.0")
    run.metrics["final_probability/Yorkshire_terrier"] = 0.8912
    assert cell_title(run, ["lr"], "Yorkshire_terrier") == "lr=5.0\nYorkshire terrier p=0.89"
    assert cell_title(run, ["lr"], "snail") == "lr=5.0\nsnail"


def test_latest_sweep_takes_only_the_newest_multirun():
    old, new = sweep_of_fig7("multirun/a"), sweep_of_fig7("multirun/b", start=10)
    assert latest_sweep(old + new) == new
    single = record(99, None, lr="5.0")
    assert latest_sweep(old + [single]) == [single]


def test_an_empty_store_is_a_one_line_error(tmp_path, capsys):
    assert main(["fig7", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", "model=ignored"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("netviz: error: no tracking store at") and "\n" not in error
    assert main([]) == 2
