"""Every endpoint of the pre-registered confirmatory experiment (docs/results.md), from its MLflow runs.

Reads, from one tracking store, the eval runs the recipe names `world-<suite>-<method>` (plain,
msvg, streaming) and the ceiling runs `ceiling-<suite>-ground-truth` / `-reconstruction` (`data
reconstruct` + `eval --videos`; from the `--ceiling-store`s if they were scored into other stores, with
the same encoders), compares them per suite with plain as the reference (paired
bootstrap, 2000 resamples, seed 0) and prints markdown: the metric table with the ceiling rows, the
primary endpoint, the non-inferiority and setting-recognition checks, the distance trends and the
far-pair differences; `--png` writes the world_long distance figure (a line per method).

Run: `python tests/perf/confirmatory_report.py --store sqlite:///exp5/mlflow.db --png docs/distance_world_long.png`
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

METHODS = ("plain", "msvg", "streaming")
CEILING = ("ground-truth", "reconstruction")
NON_INFERIORITY_MARGIN = 1.5  # prompt-alignment points (pre-registered)
RECOGNITION_FLOOR = 0.80
PRIMARY = "character_consistency_gap"


def _ci(pair: object) -> str:
    low, high = pair.ci_low, pair.ci_high  # type: ignore[attr-defined]
    return f"{pair.delta:+.3f} [{low:+.3f}, {high:+.3f}]"  # type: ignore[attr-defined]


def _find(stores: list[str], name: str) -> tuple[str, str]:
    """(store, run id) of the run called `name` in the first of `stores` that has a FINISHED one (the
    newest there: an eval stopped and resumed leaves several), or ('', '') where none has."""
    from msvg_bench.core.mlflow_store import make_client

    for store in stores:
        client = make_client(store)
        experiments = [exp.experiment_id for exp in client.search_experiments()]
        runs = client.search_runs(experiments, filter_string=f"attributes.run_name = '{name}' and attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            return store, runs[0].info.run_id
    print(f"<!-- {name}: no finished run in {', '.join(stores)} -->")
    return "", ""


def _load(found: list[tuple[str, str]]) -> list[object]:
    """The runs found, results loaded (those not found skipped)."""
    from msvg_bench.comparison.runs import load_run
    from msvg_bench.core.mlflow_store import make_client

    return [load_run(make_client(store), run_id) for store, run_id in found if run_id]


def print_distance_table(item: object, labels: list[str]) -> None:
    """Shared-pair mean per distance and method, with its 95 % interval over stories and the number of stories."""
    curves = item.curves  # type: ignore[attr-defined]
    distances = sorted({d for curve in curves for d in curve.shared})
    if not distances:
        return
    print(f"\n{item.metric} of shared pairs by scene distance (mean [95 % CI], stories):\n")  # type: ignore[attr-defined]
    print("| distance | " + " | ".join(labels) + " |")
    print("|---" * (1 + len(labels)) + "|")
    for d in distances:
        cells = []
        for curve in curves:
            p = curve.shared.get(d)
            cells.append("—" if p is None else f"{p.mean:.3f} [{p.ci_low:.3f}, {p.ci_high:.3f}] ({p.n_stories})")
        print(f"| {d} | " + " | ".join(cells) + " |")


def report_suite(store: str, ceiling_stores: list[str], suite: str, png: Path | None) -> None:
    """Print the suite's tables and endpoints (markdown); the ceiling rows come from `ceiling_stores`."""
    from msvg_bench.comparison.distance import FAR, band_means
    from msvg_bench.comparison.stats import compare_runs
    from msvg_bench.core.errors import MsvgError
    from msvg_bench.eval.stats import bootstrap_mean_ci

    methods = [_find([store], f"world-{suite}-{m}") for m in METHODS]
    ceiling = [_find(ceiling_stores, f"ceiling-{suite}-{c}") for c in CEILING]
    if not methods[0][1] or sum(bool(run_id) for _, run_id in methods + ceiling) < 2:
        print(f"## {suite}: not enough runs")
        return
    runs = _load(methods)
    for run in _load(ceiling):
        for key in ("encoders", "suite"):
            if run.results.get(key) != runs[0].results.get(key):
                raise MsvgError(f"ceiling run {run.run_id} has another {key} than {runs[0].run_id}")
        runs.append(run)
    comparison = compare_runs(runs, force=True)
    for problem in comparison.problems:  # compared anyway (e.g. a metric version): said, not hidden
        print(f"<!-- compared despite: {problem} -->")
    labels = [str(run.results.get("method")) for run in runs]
    print(f"\n### {suite} ({len(runs[0].results['stories'])} stories); run ids: "
          + ", ".join(f"{label} `{run.run_id}`" for label, run in zip(labels, runs, strict=True)))
    print("\n| metric | " + " | ".join(labels) + " | " + " | ".join(f"{o.run.results.get('method')} − plain [95 % CI] (n, MDE)" for o in comparison.others if o.run.results.get("method") in METHODS) + " |")
    print("|---" * (1 + len(labels) + sum(1 for o in comparison.others if o.run.results.get("method") in METHODS)) + "|")
    for info in comparison.metrics:
        row = [f"{info.reference_value:.3f}"] + [f"{o.metrics[info.key].value:.3f}" for o in comparison.others]
        diffs = [f"{_ci(o.metrics[info.key])} ({o.metrics[info.key].n_paired}, {o.metrics[info.key].mde:.3f})"
                 for o in comparison.others if o.run.results.get("method") in METHODS]
        print(f"| {info.key} {'↑' if info.higher_is_better else '↓'} | " + " | ".join(row) + " | " + " | ".join(diffs) + " |")
    by_method = {o.run.results.get("method"): o for o in comparison.others}
    if "msvg" in by_method and PRIMARY in by_method["msvg"].metrics:
        primary = by_method["msvg"].metrics[PRIMARY]
        verdict = "shown (lower bound > 0)" if primary.ci_low > 0 else "not shown"
        print(f"\n- primary, msvg − plain {PRIMARY}: {_ci(primary)}, n = {primary.n_paired}, MDE {primary.mde:.3f}: **{verdict}**")
    if "msvg" in by_method and "prompt_alignment" in by_method["msvg"].metrics:
        pa = by_method["msvg"].metrics["prompt_alignment"]
        ok = pa.ci_low > -NON_INFERIORITY_MARGIN
        print(f"- prompt alignment msvg − plain {_ci(pa)}: non-inferior at margin {NON_INFERIORITY_MARGIN}: **{'yes' if ok else 'no'}**")
    if "setting_recognition" in {m.key for m in comparison.metrics}:
        values = {label: run.results["aggregate"].get("setting_recognition", {}).get("mean", math.nan)
                  for label, run in zip(labels, runs, strict=True)}
        print("- setting recognition: " + ", ".join(f"{k} {v:.3f}{'' if v >= RECOGNITION_FLOOR else ' (< 0.80)'}" for k, v in values.items()))
    for item in comparison.distance:
        print_distance_table(item, labels)
    for item in comparison.distance:
        trends = ", ".join(f"{labels[i]} {_ci(c.trend)}" for i, c in enumerate(item.curves) if c.trend is not None)
        if not trends:
            continue
        print(f"- {item.metric}: far (distance ≥ {FAR}) − adjacent, per story: {trends}")
        if {"msvg", "streaming"} <= set(labels):
            far = {label: band_means(run, item.metric, FAR) for label, run in zip(labels, runs, strict=True)}
            diffs = [far["msvg"][s] - far["streaming"][s] for s in far["msvg"] if s in far["streaming"]]
            if diffs:
                low, high = bootstrap_mean_ci(diffs)
                print(f"  - msvg − streaming at distance ≥ {FAR}: {sum(diffs) / len(diffs):+.3f} [{low:+.3f}, {high:+.3f}] (n = {len(diffs)})")
    if png is not None and comparison.distance:
        from msvg_bench.comparison.plots import write_distance_png

        write_distance_png(comparison, png)
        print(f"\n(distance figure: {png})")


def main() -> int:
    """Print the endpoints of both confirmatory suites."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="MLflow tracking URI of the experiment")
    parser.add_argument("--ceiling-store", nargs="+", default=None,
                        help="tracking URIs searched in order for the ceiling runs (default: --store); "
                             "they must share the methods' encoders")
    parser.add_argument("--suites", nargs="+", default=["world_crossed", "world_long"])
    parser.add_argument("--png", type=Path, default=None, help="write world_long's distance figure here")
    args = parser.parse_args()
    for suite in args.suites:
        report_suite(args.store, args.ceiling_store or [args.store], suite, args.png if suite == "world_long" else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
