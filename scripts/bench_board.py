#!/usr/bin/env python3
"""The live board's memory and update latency with many teams and viewers.

Writes a drill journal as a 20-team, 6-step, 45-minute game day leaves it (every probe
sample of two probes per team every 10 s, every break, hint, fix and recovery), serves it
with `firedrill board` (the release binary), opens one Server-Sent Events stream per
team page plus the room's and the instructor's, and reports:

- the board process's resident memory (VmRSS, and its peak VmHWM) with every stream open;
- how long an event appended to the journal takes to reach every open stream (median
  and worst over --rounds appends).

Nothing here talks to AWS or the emulator: the board only ever reads the journal.
Run by `scripts/bench --board`, which builds the release binary first.
"""

import argparse
import hashlib
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIREDRILL = Path(os.environ.get("FIREDRILL_BIN", ROOT / "target/release/firedrill"))
DRILL = "20261205T120000.000Z-bnch"


def journal(teams: int, steps: int, minutes: int, tokens: dict) -> list:
    names = [f"team-{i:02}" for i in range(teams)]
    ev = [{
        "event": "started", "at": "2026-12-05T12:00:00.000Z", "drill_id": DRILL, "name": "bench",
        "file": "bench.yaml", "by": "bench", "command": "firedrill run bench.yaml",
        "teams": [{"name": n, "run_id": f"run-{n}", "account": f"{100000000000 + i}", "region": "us-east-1"}
                  for i, n in enumerate(names)],
        "steps": [{"name": f"step-{s}", "action": "security-group.revoke-ingress", "start": f"at {s * 5}m",
                   "duration_s": 900.0, "runbook": "runbooks/security-groups.md", "source": "bench.yaml",
                   "detect": ["alarm web-5xx"], "hints": 2} for s in range(steps)],
        "scoring": "rule", "tokens": {who: hashlib.sha256(t.encode()).hexdigest() for who, t in tokens.items()},
    }]
    for t in range(0, minutes * 60, 10):
        for n in names:
            for probe in ("site", "targets"):
                ev.append({"event": "probe", "at": "x", "t": float(t), "team": n, "probe": probe,
                           "ok": (t // 60) % 7 != 3, "detail": f"{probe} answered in 12 ms"})
    for s in range(steps):
        for i, n in enumerate(names):
            t0 = s * 300.0
            step = f"step-{s}"
            ev.append({"event": "step-started", "at": "x", "t": t0, "team": n, "step": step, "fault": s,
                       "targets": [f"sg-{i:04}{s:02}"]})
            ev.append({"event": "hint", "at": "x", "t": t0 + 60, "team": n, "step": step,
                       "text": "Look at the web group's inbound rules.", "by": "schedule", "cost": 10})
            ev.append({"event": "detected", "at": "x", "t": t0 + 30, "team": n, "step": step, "by": "alarm web-5xx"})
            if (i + s) % 3:
                ev.append({"event": "target-fixed", "at": "x", "t": t0 + 100 + i, "team": n, "step": step,
                           "target": f"sg-{i:04}{s:02}", "live": "restored", "differences": [], "regressions": []})
                ev.append({"event": "step-recovered", "at": "x", "t": t0 + 110 + i, "team": n, "step": step,
                           "time_to_recover_s": 110.0 + i, "hints_before": 1, "targets": []})
    ev.sort(key=lambda e: e.get("t", -1.0))
    return ev


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stream(threading.Thread):
    """One browser's EventSource: counts the board events it receives."""

    def __init__(self, port: int, query: str):
        super().__init__(daemon=True)
        self.port, self.query = port, query
        self.seen = 0
        self.last = None
        self.cond = threading.Condition()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request("GET", "/api/events" + self.query, headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        data = b""
        while True:
            line = resp.readline()
            if not line:
                return
            if line.startswith(b"data:"):
                data += line[5:].strip()
            elif line in (b"\n", b"\r\n") and data:
                with self.cond:
                    self.seen += 1
                    self.last = data
                    self.cond.notify_all()
                data = b""

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.seen >= count, timeout)


def status(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teams", type=int, default=20)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--minutes", type=int, default=45)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args()

    tokens = {f"team-{i:02}": secrets.token_hex(16) for i in range(args.teams)}
    tokens["instructor"] = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as state:
        d = Path(state) / "drills" / DRILL
        d.mkdir(parents=True, mode=0o700)
        events = journal(args.teams, args.steps, args.minutes, tokens)
        path = d / "journal.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        size = path.stat().st_size
        port = free_port()
        board = subprocess.Popen([FIREDRILL, "--state", state, "board", DRILL, "--listen", f"127.0.0.1:{port}"],
                                 stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        sys.exit("the board did not start")
                    time.sleep(0.05)
            queries = [""] + [f"?token={t}" for t in tokens.values()]
            streams = [Stream(port, q) for q in queries]
            for s in streams:
                s.start()
            for s in streams:
                if not s.wait_for(1, 30):
                    sys.exit("a stream got no board")
            time.sleep(1)
            mem = status(board.pid)
            lat = []
            with path.open("a") as f:
                for r in range(args.rounds):
                    want = [s.seen + 1 for s in streams]
                    t0 = time.perf_counter()
                    f.write(json.dumps({"event": "hint", "at": "x", "t": args.minutes * 60 + r, "team": "team-00",
                                        "step": "step-0", "text": f"extra {r}", "by": "instructor", "cost": 10}) + "\n")
                    f.flush()
                    for s, w in zip(streams, want):
                        if not s.wait_for(w, 10):
                            sys.exit("an update did not arrive in 10 s")
                    lat.append(time.perf_counter() - t0)
                    time.sleep(0.25)
            peak = status(board.pid)
        finally:
            board.terminate()
            board.wait()
    print(f"board: {args.teams} teams, {args.steps} steps, {args.minutes} min: {len(events)} journal events "
          f"({size / 1024:.0f} KiB), {len(streams)} open streams (the room, each team, the instructor)")
    print(f"  memory: VmRSS {mem['VmRSS']:.1f} MiB with every stream open; peak VmHWM {peak['VmHWM']:.1f} MiB "
          f"after {args.rounds} updates")
    print(f"  an appended event reached all {len(streams)} streams in: median {statistics.median(lat) * 1000:.0f} ms, "
          f"worst {max(lat) * 1000:.0f} ms (the board reads the journal every 200 ms)")


if __name__ == "__main__":
    main()
