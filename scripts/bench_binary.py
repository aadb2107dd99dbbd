"""The release binary itself: its size on disk and its start-up time, for one or more
builds side by side (`scripts/bench --binary [BINARY...]`, default target/release/firedrill).

Start-up is the wall time of commands that touch no network, each run `--runs` times
(default 200) after 10 warm-ups, alternating between binaries so machine noise spreads
evenly: `--version` (process start, argument parsing), `actions --output json`
(the catalogue), `validate examples` (two drills with the faults they name, a schedule file, faults, firedrill.yaml). Prints the
median and the 10th–90th percentile range in milliseconds, and peak RSS of `validate`.
"""
import argparse
import os
import resource
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "--version": ["--version"],
    "actions": ["actions", "--output", "json"],
    "validate": ["validate", "examples"],
}


def once(binary, args):
    t = time.perf_counter()
    subprocess.run([binary, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t) * 1000


def rss_kib(binary, args):
    pid = os.fork()
    if pid == 0:
        os.chdir(ROOT)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(binary, [binary, *args])
    _, _, usage = os.wait4(pid, 0)
    return usage.ru_maxrss


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binaries", nargs="*", default=[str(ROOT / "target/release/firedrill")])
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args()
    bins = [str(Path(b).resolve()) for b in args.binaries]
    times = {(b, c): [] for b in bins for c in COMMANDS}
    for b in bins:
        for c, a in COMMANDS.items():
            for _ in range(10):
                once(b, a)
    for _ in range(args.runs):
        for b in bins:
            for c, a in COMMANDS.items():
                times[(b, c)].append(once(b, a))
    for b in bins:
        size = Path(b).stat().st_size
        print(f"{b}: {size / 1e6:.1f} MB, peak RSS of validate {rss_kib(b, COMMANDS['validate']) / 1024:.1f} MiB")
        for c in COMMANDS:
            t = sorted(times[(b, c)])
            q = statistics.quantiles(t, n=10)
            print(f"  {c:<10} median {statistics.median(t):6.2f} ms  (p10 {q[0]:.2f}, p90 {q[-1]:.2f})")


if __name__ == "__main__":
    main()
