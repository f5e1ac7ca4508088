"""Import weight and `mlrun-registry target` latency, against `import mlrun` measured in the same run.

Goals (issue: core): `import mlrun_registry_ext` pulls in none of mlrun, boto3, kubernetes, nuclio;
`mlrun-registry target` answers with no network in under 0.5 s.

    .venv/bin/python benchmarks/core_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("mlrun", "boto3", "kubernetes", "nuclio")


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(cmd: list[str], env: dict[str, str], runs: int) -> float:
    wall(cmd, env)  # warm the page cache
    return statistics.median(wall(cmd, env) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRUN_REGISTRY_EXT_") and k != "MLRUN_DBPATH"}
    env["MLRUN_IGNORE_ENV_FILE"] = "true"
    py = sys.executable

    probe = f"import sys, mlrun_registry_ext; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([py, "-c", probe], check=True, env=env, capture_output=True, text=True).stdout.strip()
    ours_import = median_of([py, "-c", "import mlrun_registry_ext"], env, runs)
    mlrun_import = median_of([py, "-c", "import mlrun"], env, max(3, runs // 2))
    target = median_of([py, "-m", "mlrun_registry_ext.cli", "target", "demo", "trainer", "--json"], env, runs)
    target_ext = median_of([py, "-m", "mlrun_registry_ext.cli", "target", "demo", "trainer", "--kind", "serving",
                            "--json"], {**env, "MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme"}, runs)
    baseline = median_of([py, "-c", "pass"], env, runs)

    print(f"heavy modules loaded by `import mlrun_registry_ext`: {loaded or 'none'} (goal: none)")
    print(f"python -c pass                         {baseline * 1000:8.1f} ms")
    print(f"import mlrun_registry_ext              {ours_import * 1000:8.1f} ms")
    print(f"import mlrun (peer)                    {mlrun_import * 1000:8.1f} ms")
    print(f"mlrun-registry target (default)        {target * 1000:8.1f} ms   (goal < 500 ms)")
    print(f"mlrun-registry target (ghcr, serving)  {target_ext * 1000:8.1f} ms   (goal < 500 ms)")
    print(f"ratio import mlrun / import mlrun_registry_ext: {mlrun_import / ours_import:6.1f}x")
    print(f"ratio import mlrun / mlrun-registry target:     {mlrun_import / target:6.1f}x")
    ok = not loaded and max(target, target_ext) < 0.5
    print("goals met" if ok else "goals NOT met")


if __name__ == "__main__":
    main()
