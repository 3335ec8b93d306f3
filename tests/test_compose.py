"""Composing a multirun into one figure: which runs, which values they varied, in what layout, and
how its caption, titles and summary table read."""

import pytest

from netviz.compose import (
    caption,
    cell_title,
    describe,
    describe_samples,
    format_value,
    layout,
    main,
    metrics_table,
)
from netviz.naming import metric_name, pair_name
from netviz.runs import RunRecord, in_sweep_order, latest_sweep, varied_params


def record(i: int, sweep: str | None, tags: dict | None = None, **params: str) -> RunRecord:
    tags = {"figure": "fig7"} | ({"sweep_id": sweep} if sweep else {}) | (tags or {})
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
    assert [describe(r, ["iterations", "lr"]) for r in rows[1]] == ["iterations 1000, lr 0.1", "iterations 1000, lr 10"]
    one_axis = [record(i, "s", **{"classviz.blur_every": v}) for i, v in enumerate(["2", "20", "None"])]
    assert layout(one_axis, varied_params(one_axis)) == [one_axis]
    assert describe(one_axis[2], ["classviz.blur_every"]) == "no blur"


def test_a_cell_names_its_sample_and_gives_the_target_probability_under_its_metric_key():
    run = record(0, "s", lr="5.0")
    pair = pair_name("hay", "snail")
    run.metrics[f"final_probability/{metric_name(pair)}"] = 0.8912
    assert cell_title(run, pair) == f"{pair}, p=0.89"  # the name as it is, the metric under its key
    assert cell_title(run, pair, ["lr"]) == f"lr 5\n{pair}, p=0.89"
    assert cell_title(run, "snail") == "snail"  # no probability logged: none shown
    adversarial = record(1, "s")
    adversarial.metrics[f"target_prob_end/{metric_name('quail→stingray')}"] = 0.5
    assert cell_title(adversarial, "quail→stingray") == "quail→stingray, p=0.50"


@pytest.mark.parametrize("text", ["5.0", "0.001", "1e-05", "0.1", "10", "0.0015", "2.5", "-3.0", "123456.0"])
def test_values_are_written_short_and_read_back_the_same(text):
    written = format_value(text)
    assert float(written) == float(text) and len(written) <= len(text)


def test_values_that_are_not_numbers_are_kept_and_none_is_lowercase():
    assert [format_value(v) for v in ["None", "null", None, "pgd", "True"]] == ["none", "none", "none", "pgd", "True"]
    assert format_value("0.001") == "1e-3" and format_value("5.0") == "5"  # as the report writes them


def classviz_sweep(key: str, values: list[str], **fixed: str) -> list[RunRecord]:
    tags = {"technique": "classviz", "model": "efficientnet_lite0"}
    settings = {"iterations": "200", "lr": "5.0", "l2": "0.001", "classviz.blur_every": "10"} | fixed
    return [record(i, "s", tags, **(settings | {key: v})) for i, v in enumerate(values)]


def test_a_caption_says_what_is_shown_with_which_model_and_settings_and_the_swept_values():
    runs = classviz_sweep("classviz.blur_every", ["2", "20", "None"])
    assert caption(runs, ["Yorkshire terrier"]) == (
        "Class visualization of Yorkshire terrier with efficientnet_lite0: iterations 200, lr 5, L2 1e-3; "
        "blur every 2 | 20 | none"
    )
    grid = [r for it in ("200", "1000") for r in classviz_sweep("lr", ["0.1", "10"], iterations=it)]
    grid = [RunRecord(f"g{i}", r.run_name, r.params, r.tags, 1000 + i) for i, r in enumerate(grid)]
    text = caption(grid, ["Yorkshire terrier"])
    assert text.endswith("L2 1e-3, blur every 10; iterations 200 | 1000 (rows); lr 0.1 | 10 (columns)"), text
    assert "lr 5" not in text  # a swept setting is not also written as fixed


def test_a_caption_names_the_samples_as_the_report_does():
    assert describe_samples("classviz", [pair_name("hay", "snail")]) == "snail from hay"
    same = [pair_name("Tibetan mastiff", "Tibetan mastiff"), pair_name("Border terrier", "Border terrier")]
    assert describe_samples("classviz", same) == "Tibetan mastiff, Border terrier from images of the same class"
    assert describe_samples("adversarial", ["quail→stingray", "quail→stingray"]) == "quail→stingray"
    assert describe_samples("saliency", [f"image {i}" for i in range(25)]) == "25 samples"


def test_the_metrics_table_has_one_row_per_run_with_the_same_columns_and_only_summary_metrics():
    runs = classviz_sweep("classviz.blur_every", ["2", "20", "None"])
    runs[0].metrics.update({"mean_final_probability": 0.7, "final_probability/Yorkshire terrier": 0.7})
    runs[2].metrics.update({"mean_final_probability": 0.2, "target_top1_rate": 0.0})
    failed = RunRecord("f", "failed job", runs[1].params, runs[1].tags, runs[1].start_time, {}, "FAILED")
    table = metrics_table([runs[0], failed, runs[2]])
    assert [row["run"] for row in table] == ["name0", "failed job", "name2"]
    assert [row["status"] for row in table] == ["FINISHED", "FAILED", "FINISHED"]
    assert [row["classviz.blur_every"] for row in table] == ["2", "20", "None"]
    assert [row["mean_final_probability"] for row in table] == [0.7, None, 0.2]
    assert [row["target_top1_rate"] for row in table] == [None, None, 0.0]
    assert all(list(row) == list(table[0]) for row in table) and not any("/" in key for key in table[0])
    assert "lr" in metrics_table(runs, keys=["lr"])[0]  # the parent's swept keys, where given


def test_sweep_order_follows_hydras_job_numbers_when_every_run_has_one():
    runs = [record(i, "s", {"job_num": str(job)}, lr=str(job)) for i, job in enumerate([2, 0, 1])]
    assert [r.params["lr"] for r in in_sweep_order(runs)] == ["0", "1", "2"]
    runs[0].tags.pop("job_num")
    assert [r.run_id for r in in_sweep_order(runs)] == ["run0", "run1", "run2"]  # else by start time


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
