"""Doctor benchmark: how long the checks take on a healthy registry, and what one blackhole costs.

Goals: all checks against a healthy authenticated loopback registry (htpasswd + TLS) in < 0.3 s;
five registries at once, one of them blackholed, in about one timeout (not five).

    .venv/bin/python benchmarks/doctor_bench.py [--timeout 1.0] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support (the registry fixtures)

from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features.doctor import DoctorReport, doctor
from tests.support.registry import HTPASSWD_USERS, RunningRegistry, blackhole, start_registry


def timed(services: list[RegistryService], timeout: float) -> tuple[float, DoctorReport]:
    started = time.perf_counter()
    report = doctor(services, timeout=timeout)
    return time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1.0, help="doctor timeout per check (s)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        registries: list[RunningRegistry] = []
        try:
            registries = [
                start_registry(Path(tmp), auth="htpasswd", tls=True),
                start_registry(Path(tmp)),
                start_registry(Path(tmp), auth="token"),
                start_registry(Path(tmp), readonly=True),
            ]
            secure, anonymous, token, readonly = registries
            user, password = next(iter(HTPASSWD_USERS.items()))
            healthy = secure.service(user, password, path="team", name="healthy")

            doctor(healthy, timeout=args.timeout)  # warm-up: imports, system trust store
            runs = [timed([healthy], args.timeout) for _ in range(args.repeat)]
            single = statistics.median(t for t, _ in runs)
            print(f"== healthy registry (htpasswd + TLS, loopback), median of {args.repeat}: {single:.3f} s "
                  f"(goal < 0.300 s: {'met' if single < 0.3 else 'MISSED'})")
            print(runs[-1][1])

            with blackhole() as hole:
                dead = RegistryService(name="blackhole", url=hole)
                five = [healthy, anonymous.service(name="anonymous"),
                        token.service("pusher", token.users["pusher"], name="token"),
                        readonly.service(name="readonly"), dead]
                alone = statistics.median(timed([dead], args.timeout)[0] for _ in range(args.repeat))
                together = [timed(five, args.timeout) for _ in range(args.repeat)]
                both = statistics.median(t for t, _ in together)
            sequential = alone + 4 * single
            print(f"\n== five registries at once, one blackholed (timeout {args.timeout:g} s), "
                  f"median of {args.repeat}")
            print(f"blackhole alone:         {alone:.3f} s  = {alone / args.timeout:.2f} x timeout")
            print(f"five concurrently:       {both:.3f} s  = {both / args.timeout:.2f} x timeout "
                  f"(bound: timeout + 0.5 s = {args.timeout + 0.5:.1f} s: "
                  f"{'met' if both < args.timeout + 0.5 else 'MISSED'})")
            print(f"five one after another:  {sequential:.3f} s (estimate: blackhole + 4 x healthy); "
                  f"concurrent / sequential = {both / sequential:.2f}")
            print(f"worst of {args.repeat} concurrent runs: {max(t for t, _ in together):.3f} s")
            print(together[-1][1])
        finally:
            for registry in registries:
                registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
