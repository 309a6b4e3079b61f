"""MAWE's OpenCV flow: the pairs of a clip on one thread against spread over the process's compute threads.

Run: `python tests/perf/bench_flow.py [--repeats 5 --clips 4 --algorithm dis]`

The clips are what the world preset's eval gives MAWE: 9 frames of 64 x 96, a textured pan, resized to
720 x 720 as the metric does. Each repeat times the same clips with `workers=1` and with the default
(torch's intra-op threads), back to back, so machine load touches both alike; the ratio of the medians
is the speed-up. The flows of the two must be equal (max |difference| printed, expected 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def clips(count: int, frames: int = 9) -> list[np.ndarray]:
    """`count` 9-frame pans of smoothed noise, 64 x 96, resized to 720 x 720 (MAWE's working size)."""
    import cv2
    from msvg_bench.eval.metrics.mawe import resize_square

    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        texture = cv2.GaussianBlur((rng.random((64, 160, 3)) * 255).astype(np.uint8), (5, 5), 0)
        pan = np.stack([texture[:, 2 * t : 2 * t + 96] for t in range(frames)])
        out.append(resize_square(np.ascontiguousarray(pan), 720))
    return out


def main() -> None:
    """Print the per-clip times of both settings, their ratio and the flows' largest difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--algorithm", default="dis", choices=["dis", "farneback"])
    args = parser.parse_args()
    from msvg_bench.eval.flow import OpenCVFlow, compute_threads

    data = clips(args.clips)
    one, many = OpenCVFlow(args.algorithm, workers=1), OpenCVFlow(args.algorithm)
    times: dict[str, list[float]] = {"1 thread": [], f"{many.workers} threads": []}
    diff = 0.0
    for _ in range(args.repeats):
        results = []
        for label, backend in zip(times, (one, many), strict=True):
            start = time.perf_counter()
            results.append([backend.flow(c[:-1], c[1:]) for c in data])
            times[label].append((time.perf_counter() - start) / len(data))
        diff = max(diff, max(float(np.abs(a - b).max()) for a, b in zip(*results, strict=True)))
    print(f"load average at end: {os.getloadavg()}; CPUs {os.cpu_count()}; torch threads {compute_threads()}")
    medians = {label: statistics.median(values) for label, values in times.items()}
    for label, value in medians.items():
        print(f"  {label:>10}: {value:.3f} s per 9-frame clip at 720 x 720 (runs: {', '.join(f'{v:.3f}' for v in times[label])})")
    first, second = medians.values()
    print(f"threaded / one thread: {second / first:.2f}; max |flow difference| {diff:g}")


if __name__ == "__main__":
    main()
