"""CLI start-up: `show`, `target` and a `migrate` re-run, each against its floor, side by side in one run.

Goals:
- `mlrun-registry show` and `target`, configured through the environment and through a config file:
  median under 0.15 s (`python -c pass` is printed as the floor);
- `mlrun-registry migrate` re-run with nothing new, its target configured through the environment
  (the active service, no ``--to``): at most half of `skopeo sync`'s re-run of the same images;
- and, as before: `import mlrun_registry_ext` pulls in none of mlrun, boto3, kubernetes, nuclio.

    .venv/bin/python benchmarks/core_bench.py [--runs 9] [--images 6]

The migrate part reuses the registry and image set-up of ``benchmarks/migrate_bench.py`` (real
Debian ``docker-registry`` on loopback, htpasswd-protected target), with a few small images: a re-run
copies nothing, so its time is start-up, listing and comparing, not bytes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEAVY = ("mlrun", "boto3", "kubernetes", "nuclio")
GOAL_SECONDS = 0.15


def wall(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[-6:])} failed ({proc.returncode}): {proc.stderr.decode()[-800:]}")
    return elapsed


def median_of(cmd: list[str], env: dict[str, str], runs: int) -> float:
    wall(cmd, env)  # warm the page cache and the bytecode cache
    return statistics.median(wall(cmd, env) for _ in range(runs))


def interleaved(cases: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, float]:
    """Medians of every case, run in turns (a, b, c, a, b, c, ...) so that machine noise hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for cmd, env in cases.values():
        wall(cmd, env)
    for _ in range(runs):
        for name, (cmd, env) in cases.items():
            times[name].append(wall(cmd, env))
    return {name: statistics.median(values) for name, values in times.items()}


def cli_command() -> list[str]:
    """The console script users run (``mlrun-registry``), next to this interpreter; else ``-m``."""
    script = Path(sys.executable).with_name("mlrun-registry")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlrun_registry_ext.cli"]


def migrate_rerun(runs: int, count: int, base_env: dict[str, str], cli: list[str]) -> tuple[float, float] | None:
    """(migrate re-run, skopeo sync re-run) medians on the same filled target, or None without skopeo."""
    if not shutil.which("skopeo"):
        print("skopeo is not installed (apt-get install skopeo): migrate comparison skipped")
        return None
    from benchmarks.migrate_bench import NAMESPACE, PASSWORD, USER, bench_images, check_target
    from tests.support import images as im
    from tests.support.registry import start_registry

    workdir = Path(tempfile.mkdtemp(prefix="core-bench-"))
    started = []
    try:
        images = bench_images(count, 2024, 0.05, 0.2)
        source = start_registry(workdir)
        started.append(source)
        im.push_all(source.url, images)
        expected = im.expected_digests(images)
        repos = sorted({i.repository for i in images})
        migrate_target = start_registry(workdir, auth="htpasswd", htpasswd_users={USER: PASSWORD})
        skopeo_target = start_registry(workdir, auth="htpasswd", htpasswd_users={USER: PASSWORD})
        started += [migrate_target, skopeo_target]
        # the target is the active registry service, configured through the environment (no --to)
        env = dict(base_env, MLRUN_REGISTRY_EXT_URL=migrate_target.url, MLRUN_REGISTRY_EXT_USERNAME=USER,
                   MLRUN_REGISTRY_EXT_PASSWORD=PASSWORD)
        migrate = [*cli, "migrate", "--from", source.url, "--json", "--no-progress"]
        spec = workdir / "skopeo-sync.yaml"
        spec.write_text(f"{source.host}:\n  tls-verify: false\n  images:\n"
                        + "".join(f"    {repo}: []\n" for repo in repos))
        skopeo = ["skopeo", "sync", "--all", "--preserve-digests", "--src", "yaml", "--dest", "docker",
                  "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}", str(spec),
                  f"{skopeo_target.host}/{NAMESPACE}"]
        wall(migrate, env)  # the cold copies fill both targets
        wall(skopeo, base_env)
        check_target(migrate_target, expected, "migrate")
        check_target(skopeo_target, expected, "skopeo")
        medians = interleaved({"migrate": (migrate, env), "skopeo": (skopeo, base_env)}, runs)
        return medians["migrate"], medians["skopeo"]
    finally:
        for registry in started:
            registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--images", type=int, default=6, help="images for the migrate re-run comparison")
    args = parser.parse_args()
    runs = args.runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRUN_REGISTRY_EXT_")
           and k not in ("MLRUN_DBPATH", "NUCLIO_DASHBOARD_URL", "IGZ_NAMESPACE_DOMAIN")}
    env["MLRUN_IGNORE_ENV_FILE"] = "true"
    py = sys.executable
    cli = cli_command()

    probe = f"import sys, mlrun_registry_ext; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([py, "-c", probe], check=True, env=env, capture_output=True, text=True).stdout.strip()
    mlrun_import = median_of([py, "-c", "import mlrun"], env, max(3, runs // 3))

    with tempfile.TemporaryDirectory(prefix="core-bench-") as tmp:
        config = Path(tmp) / "registries.yaml"
        config.write_text("active: user\nservices:\n"
                          "  system:\n    url: 123456789012.dkr.ecr.us-east-1.amazonaws.com/system\n    role: system\n"
                          "  user:\n    url: ghcr.io/acme\n    image_prefix: team-a-\n"
                          "    resources:\n      requests: {cpu: 250m, memory: 512Mi}\n"
                          "      limits: {cpu: '1', memory: 1Gi}\n")
        by_env = dict(env, MLRUN_REGISTRY_EXT_URL="ghcr.io/acme", MLRUN_REGISTRY_EXT_USERNAME="bot",
                      MLRUN_REGISTRY_EXT_PASSWORD="bench-pw-1", MLRUN_REGISTRY_EXT_IMAGE_PREFIX="team-a-")
        by_file = dict(env, MLRUN_REGISTRY_EXT_CONFIG=str(config))
        cases = {
            "python -c pass (floor)": ([py, "-c", "pass"], env),
            "import mlrun_registry_ext": ([py, "-c", "import mlrun_registry_ext"], env),
            "show --json (env)": ([*cli, "show", "--json"], by_env),
            "show --json (config file)": ([*cli, "show", "--json"], by_file),
            "show (env, table)": ([*cli, "show"], by_env),
            "target --json (env)": ([*cli, "target", "demo", "trainer", "--json"], by_env),
            "target --json (config file)": ([*cli, "target", "demo", "trainer", "--json"], by_file),
            "target --kind serving (env)": ([*cli, "target", "demo", "srv", "--kind", "serving", "--json"], by_env),
        }
        medians = interleaved(cases, runs)

    print(f"command: {' '.join(cli)} ...; medians of {runs} runs, interleaved")
    print(f"heavy modules loaded by `import mlrun_registry_ext`: {loaded or 'none'} (goal: none)")
    print(f"{'import mlrun (peer)':34s} {mlrun_import * 1000:8.1f} ms")
    goals = []
    for name, value in medians.items():
        goal = ""
        if name.endswith("--json (env)") or name.endswith("(config file)"):
            met = value < GOAL_SECONDS
            goals.append(met)
            goal = f"   (goal < {GOAL_SECONDS * 1000:.0f} ms: {'met' if met else 'NOT met'})"
        print(f"{name:34s} {value * 1000:8.1f} ms{goal}")

    rerun = migrate_rerun(runs, args.images, env, cli)
    if rerun is not None:
        migrate, skopeo = rerun
        met = migrate <= skopeo / 2
        goals.append(met)
        print(f"{'migrate re-run, nothing new (env)':34s} {migrate * 1000:8.1f} ms")
        print(f"{'skopeo sync re-run, same images':34s} {skopeo * 1000:8.1f} ms")
        print(f"migrate / skopeo re-run: {migrate / skopeo:.2f}  (goal <= 0.5: {'met' if met else 'NOT met'})")
    print("goals met" if not loaded and all(goals) else "goals NOT met")


if __name__ == "__main__":
    main()
