#!/usr/bin/env python3
"""firedrill against Chaos Toolkit (chaostoolkit-aws) on the same break and undo.

Run by scripts/bench, which installs what this needs and builds the release binaries.
Everything runs on loopback: the emulator (moto in server mode) and the test harness's
proxy (examples/bench_proxy.rs), which counts every call by action, measures how long
the emulator was busy, and in the "50ms" setting answers every call 50 ms later. The
"aws-limits" setting (--aws-limits) also throttles with AWS's documented token buckets
per API, firedrill pacing itself to them (FIREDRILL_LIMITS=aws, --api-share); its floor
is the least time those buckets allow for the calls the tool made (the proxy's floor_ms).

For each scenario (security groups: revoke a rule then restore it; instances: stop
them then start them), each N and each setting, each tool runs --runs times on a freshly
seeded emulator. Each run checks that the tool put everything back (the described state
equals the capture taken before) and that it broke what it should have.

Per tool and run: wall time, CPU time of the tool's own processes (user+sys, from
wait4), peak RSS, and the calls seen at the proxy. Printed as median and min-max.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
FIREDRILL = Path(os.environ.get("FIREDRILL_BIN", ROOT / "target/release/firedrill"))
PROXY = Path(os.environ.get("BENCH_PROXY", ROOT / "target/release/examples/bench_proxy"))
RUSAGE = PROXY.parent / "bench_rusage"
REGION = "us-east-1"
PORT = 443
CIDR = "10.0.0.0/8"
# Credentials for the emulator only; no call leaves loopback.
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "*",
}
MUTATING = ("Revoke", "Authorize", "Stop", "Start", "Reboot", "Terminate", "Modify", "Create", "Delete", "Replace")


# --- servers -----------------------------------------------------------------------------


class Server:
    """A child process that prints its endpoint on its first line and stops when its
    stdin closes (scripts/emulator.py, the bench proxy)."""

    def __init__(self, argv, scheme=""):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line:
            raise SystemExit(f"bench: {argv[0]} did not start")
        self.endpoint = scheme + line

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def start_emulator():
    py = ROOT / ".venv/bin/python"
    return Server([str(py), str(ROOT / "scripts/emulator.py"), "--stdin"], scheme="http://127.0.0.1:")


def start_proxy(upstream, delay_ms, aws_limits=False):
    proxy = Server([str(PROXY), "--upstream", upstream, "--delay-ms", str(delay_ms)] + (["--aws-limits"] if aws_limits else []))
    proxy.aws_limits = aws_limits
    proxy.delay_ms = delay_ms
    return proxy


def proxy_stats(proxy):
    with urllib.request.urlopen(proxy.endpoint + "/__proxy/counts", timeout=10) as r:
        return json.load(r)


def reset(moto):
    req = urllib.request.Request(moto + "/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def ec2(endpoint):
    return boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


# --- scenarios: seed, describe, and each tool's inputs -----------------------------------

TAGS = [{"Key": "bench", "Value": "1"}, {"Key": "firedrill", "Value": "allowed"}]


def rule():
    return {"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT, "IpRanges": [{"CidrIp": CIDR}]}


class SecurityGroups:
    name = "security groups: revoke one ingress rule, restore it"
    fault = f"""name: bench-revoke
action: security-group.revoke-ingress
target:
  tags: {{ bench: "1" }}
params:
  protocol: tcp
  ports: [{PORT}]
"""

    @staticmethod
    def seed(client, n):
        vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ids = []
        for i in range(n):
            g = client.create_security_group(
                GroupName=f"bench-{i}",
                Description="bench",
                VpcId=vpc,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": TAGS}],
            )["GroupId"]
            client.authorize_security_group_ingress(GroupId=g, IpPermissions=[rule()])
            ids.append(g)
        return ids

    @staticmethod
    def describe(client):
        out = {}
        pages = client.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": "tag:bench", "Values": ["1"]}]
        )
        for page in pages:
            for g in page["SecurityGroups"]:
                perms = [
                    (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), sorted(r["CidrIp"] for r in p.get("IpRanges", [])))
                    for p in g["IpPermissions"]
                ]
                out[g["GroupId"]] = sorted(perms)
        return out

    @staticmethod
    def broken(state, ids):
        return all(state[i] == [] for i in ids)

    @staticmethod
    def ctk(ids):
        def act(verb, g):
            return {
                "type": "action",
                "name": f"{verb}-{g}",
                "provider": {
                    "type": "python",
                    "module": "chaosaws.ec2.actions",
                    "func": f"{verb}_security_group_ingress",
                    "arguments": {
                        "requested_security_group_id": g,
                        "ip_protocol": "tcp",
                        "from_port": PORT,
                        "to_port": PORT,
                        "cidr_ip": CIDR,
                    },
                },
            }

        return [act("revoke", g) for g in ids], [act("authorize", g) for g in ids]


class Instances:
    name = "instances: stop them, start them"
    fault = """name: bench-stop
action: ec2.stop-instances
target:
  tags: { bench: "1" }
"""

    @staticmethod
    def seed(client, n, per=1000):
        ids = []
        while len(ids) < n:
            k = min(per, n - len(ids))
            r = client.run_instances(
                ImageId="ami-12c6146b",
                MinCount=k,
                MaxCount=k,
                InstanceType="t3.micro",
                TagSpecifications=[{"ResourceType": "instance", "Tags": TAGS}],
            )
            ids += [i["InstanceId"] for i in r["Instances"]]
        return ids

    @staticmethod
    def describe(client):
        out = {}
        for page in client.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "tag:bench", "Values": ["1"]}]
        ):
            for res in page["Reservations"]:
                for i in res["Instances"]:
                    out[i["InstanceId"]] = i["State"]["Name"]
        return out

    @staticmethod
    def broken(state, ids):
        return all(state[i] == "stopped" for i in ids)

    @staticmethod
    def ctk(ids):
        def act(verb):
            return {
                "type": "action",
                "name": f"{verb}-instances",
                "provider": {
                    "type": "python",
                    "module": "chaosaws.ec2.actions",
                    "func": f"{verb}_instances",
                    "arguments": {"instance_ids": ids},
                },
            }

        return [act("stop")], [act("start")]


# --- running a tool ----------------------------------------------------------------------


def measured(argv, env, cwd):
    """Run argv; return (wall s, cpu s, peak RSS MiB, stdout). Started through
    bench_rusage, so that the figures are the tool's own and not this driver's."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile() as fig:
        p = subprocess.run([RUSAGE, fig.name, "--", *argv], env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        if p.returncode != 0:
            raise SystemExit(f"bench: {' '.join(map(str, argv))} exited {p.returncode}\n{stdout}\n{stderr}")
        f = json.loads(Path(fig.name).read_text())
    return f["wall"], f["cpu"], f["max_rss_kib"] / 1024, stdout


class Sample:
    """One tool's figures over one run (possibly several processes)."""

    def __init__(self):
        self.wall = self.cpu = 0.0
        self.rss = 0.0

    def add(self, wall, cpu, rss):
        self.wall += wall
        self.cpu += cpu
        self.rss = max(self.rss, rss)


def tool_env(endpoint, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ENV, AWS_ENDPOINT_URL=endpoint)
    env.update(extra or {})
    return env


def run_firedrill(scenario, endpoint, work, concurrency, limits=None, state=None):
    fault = work / "fault.yaml"
    fault.write_text(scenario.fault)
    env = tool_env(endpoint, state or {"FIREDRILL_STATE": str(work / "state")})
    if limits:
        # Pace to AWS's documented buckets, as against AWS, with this share of each.
        env.update(FIREDRILL_LIMITS="aws", FIREDRILL_API_SHARE=str(limits))
    extra = ["--concurrency", str(concurrency)] if concurrency else []
    s = Sample()
    wall, cpu, rss, out = measured([FIREDRILL, *extra, "inject", "--yes", "--output", "json", fault], env, work)
    s.add(wall, cpu, rss)
    run_id = json.loads(out)["run_id"]
    wall, cpu, rss, out = measured([FIREDRILL, *extra, "revert", "--output", "json", run_id], env, work)
    s.add(wall, cpu, rss)
    return s


def run_ctk(scenario, ids, endpoint, work):
    method, rollbacks = scenario.ctk(ids)
    experiment = {
        "version": "1.0.0",
        "title": "bench",
        "description": scenario.name,
        "configuration": {"aws_region": REGION},
        "method": method,
        "rollbacks": rollbacks,
    }
    (work / "experiment.json").write_text(json.dumps(experiment))
    s = Sample()
    argv = [
        ROOT / ".venv/bin/chaos",
        "--no-version-check",
        "--no-log-file",
        "run",
        "--rollback-strategy",
        "always",
        "--journal-path",
        work / "journal.json",
        work / "experiment.json",
    ]
    s.add(*measured(argv, tool_env(endpoint), work)[:3])
    journal = json.loads((work / "journal.json").read_text())
    failed = [r["activity"]["name"] for r in journal["run"] + journal["rollbacks"] if r["status"] != "succeeded"]
    if journal["status"] != "completed" or failed or len(journal["rollbacks"]) != len(rollbacks):
        raise SystemExit(f"bench: chaos run did not complete: {journal['status']}, failed: {failed[:5]}")
    return s


# --- the benchmark -----------------------------------------------------------------------


def one_run(args, moto, proxy, scenario, n, tool):
    """Seed, capture, run the tool through `proxy`, check; returns (Sample, stats)."""
    reset(moto)
    client = ec2(moto)
    ids = scenario.seed(client, n)
    before = scenario.describe(client)
    limits = proxy.aws_limits
    if limits:
        # Each run in a fresh account: its own proxy, every bucket full (EC2's resource
        # tokens for starting instances take 500 s to refill after 1000).
        proxy = start_proxy(moto, proxy.delay_ms, aws_limits=True)
    try:
        proxy_stats(proxy)  # zero the counters
        with tempfile.TemporaryDirectory(prefix="firedrill-bench-") as work:
            work = Path(work)
            if tool == "firedrill":
                share = args.api_share if limits else None
                sample = run_firedrill(scenario, proxy.endpoint, work, args.concurrency, share)
            else:
                sample = run_ctk(scenario, ids, proxy.endpoint, work)
        stats = proxy_stats(proxy)
    finally:
        if limits:
            proxy.stop()
    after = scenario.describe(client)
    if after != before:
        bad = [k for k in before if before[k] != after.get(k)]
        raise SystemExit(f"bench: {tool} did not restore {len(bad)} of {n}: {bad[:3]}")
    mutating = sum(v for k, v in stats["calls"].items() if k.startswith(MUTATING))
    if mutating < 2 or (scenario is SecurityGroups and mutating < 2 * n):
        raise SystemExit(f"bench: {tool} made {mutating} mutating calls for {n} targets: {stats['calls']}")
    return sample, stats


def state_bench(args, moto, results):
    """Inject + revert of N security groups with the state store local, on S3 (the
    emulator, on loopback), and on S3 with --s3-delay-ms added to every S3 call only
    (AWS calls go straight to the emulator); S3 calls counted at the S3 proxy."""
    direct = start_proxy(moto, 0)
    s3_direct = start_proxy(moto, 0)
    s3_slow = start_proxy(moto, args.s3_delay_ms)
    settings = {"local": None, "s3": s3_direct, f"s3 +{args.s3_delay_ms}ms": s3_slow}
    s3 = boto3.client("s3", endpoint_url=moto, region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")
    print(f"\n## State store: inject + revert of N security groups (local, S3, S3 +{args.s3_delay_ms} ms)\n", flush=True)
    print("| N | store | wall | CPU | peak RSS | S3 calls | objects written (PUT) |")
    print("|---|---|---|---|---|---|---|")
    out = results.setdefault("state", {})
    try:
        for n in args.sizes:
            for name, proxy in settings.items():
                walls, cpus, rsss, calls, puts = [], [], [], [], []
                for run in range(args.runs):
                    reset(moto)
                    client = ec2(moto)
                    SecurityGroups.seed(client, n)
                    before = SecurityGroups.describe(client)
                    state = None
                    if proxy:
                        bucket = f"bench-state-{n}-{run}"
                        s3.create_bucket(Bucket=bucket)
                        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
                        state = {"FIREDRILL_STATE": f"s3://{bucket}/bench", "FIREDRILL_STATE_ENDPOINT_URL": proxy.endpoint}
                        proxy_stats(proxy)  # zero the counters
                    with tempfile.TemporaryDirectory(prefix="firedrill-bench-") as work:
                        sample = run_firedrill(SecurityGroups, direct.endpoint, Path(work), args.concurrency, state=state)
                    if SecurityGroups.describe(client) != before:
                        raise SystemExit(f"bench: firedrill ({name}) did not restore the {n} groups")
                    walls.append(sample.wall)
                    cpus.append(sample.cpu)
                    rsss.append(sample.rss)
                    if proxy:
                        c = proxy_stats(proxy)["calls"]
                        calls.append(sum(c.values()))
                        puts.append(sum(v for k, v in c.items() if k.startswith("PUT ")))
                row = {"wall": walls, "cpu": cpus, "rss": rsss, "s3_calls": calls, "puts": puts}
                out[f"{n} {name}"] = row
                count = lambda xs: spread(xs, lambda v: f"{v:.0f}") if xs else "—"
                print(f"| {n} | {name} | {spread(walls, secs)} | {spread(cpus, secs)} | {spread(rsss, mib)} | {count(calls)} | {count(puts)} |", flush=True)
    finally:
        for p in (s3_slow, s3_direct, direct):
            p.stop()


def spread(xs, fmt):
    med = statistics.median(xs)
    if len(xs) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(xs))}–{fmt(max(xs))})"


def secs(x):
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def mib(x):
    return f"{x:.0f} MiB"


def calls_line(stats):
    calls = stats["calls"]
    total = sum(calls.values())
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:4]
    return f"{total} ({', '.join(f'{k} {v}' for k, v in top)})"


def compare(args, moto, proxies, results):
    rows = []
    for scenario in (SecurityGroups, Instances):
        if args.only and args.only not in scenario.__name__.lower():
            continue
        for n in args.sizes:
            for setting, proxy in proxies.items():
                figures = {}
                for tool in args.tools:
                    try:
                        samples = [one_run(args, moto, proxy, scenario, n, tool) for _ in range(args.runs)]
                    except SystemExit as e:
                        if not proxy.aws_limits:
                            raise
                        # Against AWS's limits a tool may give up: that is a result.
                        print(f"{scenario.__name__:<15} N={n:<5} {setting:<6} {tool:<13} FAILED: {str(e)[:300]}", flush=True)
                        rows.append({"scenario": scenario.__name__, "n": n, "setting": setting, "tool": tool, "failed": str(e)[:2000]})
                        continue
                    figures[tool] = samples
                    w = [s.wall for s, _ in samples]
                    c = [s.cpu for s, _ in samples]
                    r = [s.rss for s, _ in samples]
                    busy = [st["busy_ms"] / 1000 for _, st in samples]
                    row = {
                        "scenario": scenario.__name__,
                        "n": n,
                        "setting": setting,
                        "tool": tool,
                        "wall": spread(w, secs),
                        "cpu": spread(c, secs),
                        "cpu_per_target_ms": statistics.median(c) / n * 1000,
                        "rss": spread(r, mib),
                        "calls": calls_line(samples[0][1]),
                        "emulator_busy": spread(busy, secs),
                        "wall_over_busy": statistics.median(w) / max(statistics.median(busy), 1e-9),
                        "wall_median": statistics.median(w),
                    }
                    answers = sum(samples[0][1]["calls"].values())
                    throttled = sum(samples[0][1].get("throttled", {}).values())
                    row["throttled"] = f"{throttled} of {answers} ({100 * throttled / max(answers, 1):.1f}%)"
                    if proxy.aws_limits:
                        # The least time the buckets allow for the calls this tool made (the
                        # proxy's floor_ms): for the groups, revokes and then authorizes, each
                        # through its own bucket of 50 at 5 a second, 2 x (N - 50) / 5 s.
                        floor = samples[0][1]["floor_ms"] / 1000
                        row["floor"] = floor
                        row["wall_over_floor"] = statistics.median(w) / floor if floor >= 1 else None
                    rows.append(row)
                    print(
                        f"{scenario.__name__:<15} N={n:<5} {setting:<6} {tool:<13} wall {row['wall']:<24} "
                        f"cpu {row['cpu']:<24} rss {row['rss']:<20} calls {row['calls']}  "
                        f"emulator busy {row['emulator_busy']} (wall/busy {row['wall_over_busy']:.2f}) throttled {row['throttled']}"
                        + (f" floor {row['floor']:.1f} s" if "floor" in row else "")
                        + (f" (wall/floor {row['wall_over_floor']:.2f})" if row.get("wall_over_floor") else ""),
                        flush=True,
                    )
                if len(figures) == 2:
                    fd = statistics.median(s.wall for s, _ in figures["firedrill"])
                    ck = statistics.median(s.wall for s, _ in figures["chaostoolkit"])
                    print(f"{'':<15} N={n:<5} {setting:<6} Chaos Toolkit / firedrill wall: {ck / fd:.1f}x", flush=True)
                    rows.append({"scenario": scenario.__name__, "n": n, "setting": setting, "speedup": ck / fd})
    results["compare"] = rows


def abort_bench(args, moto, proxy, results, setting="50ms"):
    """inject N broken security groups through `proxy`, then time `abort`."""
    if proxy.aws_limits:
        fresh = start_proxy(moto, proxy.delay_ms, aws_limits=True)  # a fresh account
        try:
            return abort_run(args, moto, fresh, results, setting)
        finally:
            fresh.stop()
    return abort_run(args, moto, proxy, results, setting)


def abort_run(args, moto, proxy, results, setting):
    n = max(args.sizes)
    reset(moto)
    client = ec2(moto)
    SecurityGroups.seed(client, n)
    before = SecurityGroups.describe(client)
    with tempfile.TemporaryDirectory(prefix="firedrill-bench-") as work:
        work = Path(work)
        (work / "fault.yaml").write_text(SecurityGroups.fault)
        env = tool_env(proxy.endpoint, {"FIREDRILL_STATE": str(work / "state")})
        if proxy.aws_limits:
            env.update(FIREDRILL_LIMITS="aws", FIREDRILL_API_SHARE=str(args.api_share))
        extra = ["--concurrency", str(args.concurrency)] if args.concurrency else []
        measured([FIREDRILL, *extra, "inject", "--yes", work / "fault.yaml"], env, work)
        assert SecurityGroups.broken(SecurityGroups.describe(client), list(before))
        proxy_stats(proxy)
        wall, cpu, rss, _ = measured([FIREDRILL, *extra, "abort", "--output", "json"], env, work)
    stats = proxy_stats(proxy)
    if SecurityGroups.describe(client) != before:
        raise SystemExit("bench: abort did not restore everything")
    calls = sum(stats["calls"].values())
    throttled = sum(stats.get("throttled", {}).values())
    serial = calls * args.delay_ms / 1000
    floor = stats["floor_ms"] / 1000
    line = (
        f"abort of {n} broken security groups, {setting}: wall {secs(wall)}, cpu {secs(cpu)}, "
        f"rss {mib(rss)}, {calls_line(stats)}, throttled {throttled}; one after another the latency alone would be {secs(serial)}"
        + (f"; floor {secs(floor)} (wall/floor {wall / floor:.2f})" if proxy.aws_limits else "")
    )
    print(line, flush=True)
    figures = {"n": n, "wall": wall, "cpu": cpu, "rss": rss, "calls": stats["calls"], "throttled": throttled, "serial": serial}
    if proxy.aws_limits:
        figures["floor"] = floor
    results[f"abort-{setting}"] = figures


def validate_bench(args, results):
    """`firedrill validate` of 100 fault files (copies of the catalogue, renamed)."""
    faults = sorted((ROOT / "faults").glob("*.yaml"))
    with tempfile.TemporaryDirectory(prefix="firedrill-bench-") as work:
        work = Path(work)
        (work / "runbooks").symlink_to(ROOT / "runbooks")
        d = work / "faults"
        d.mkdir()
        for i in range(100):
            src = faults[i % len(faults)]
            text = src.read_text().replace("name: ", f"name: n{i}-", 1)
            (d / f"{i:03}-{src.name}").write_text(text)
        runs = [measured([FIREDRILL, "validate", d], tool_env("http://127.0.0.1:9"), work) for _ in range(args.runs)]
    line = (
        f"validate 100 fault files: wall {spread([r[0] for r in runs], lambda x: f'{x * 1000:.0f} ms')}, "
        f"cpu {spread([r[1] for r in runs], lambda x: f'{x * 1000:.0f} ms')}, rss {spread([r[2] for r in runs], mib)}"
    )
    print(line, flush=True)
    results["validate"] = line


def resolve_bench(args, moto, proxy, results):
    """`firedrill plan` picking 10 of 10,000 tagged instances: peak RSS and calls."""
    n = args.fleet
    reset(moto)
    client = ec2(moto)
    t0 = time.monotonic()
    # One instance per reservation, as auto scaling launches them. The emulator pages
    # DescribeInstances by reservation: a fleet launched 1000 at a time would come back
    # as one page of all 10,000, where AWS pages by instance (1000 at most a page).
    Instances.seed(client, n, per=1)
    seeded = time.monotonic() - t0
    with tempfile.TemporaryDirectory(prefix="firedrill-bench-") as work:
        work = Path(work)
        (work / "fault.yaml").write_text(Instances.fault + "  count: 10\n  seed: 1\n")
        env = tool_env(proxy.endpoint, {"FIREDRILL_STATE": str(work / "state")})
        proxy_stats(proxy)
        runs = []
        for _ in range(args.runs):
            runs.append(measured([FIREDRILL, "plan", "--output", "json", work / "fault.yaml"], env, work))
            stats = proxy_stats(proxy)
        plan = json.loads(runs[-1][3])
    picked = len(plan["faults"][0]["targets"])
    matched = plan["faults"][0]["matched"]
    assert (picked, matched) == (10, n), (picked, matched)
    line = (
        f"plan: pick 10 of {n} instances (seeded in {secs(seeded)}): wall {spread([r[0] for r in runs], secs)}, "
        f"cpu {spread([r[1] for r in runs], secs)}, rss {spread([r[2] for r in runs], mib)}, calls {calls_line(stats)}, "
        f"emulator busy {secs(stats['busy_ms'] / 1000)}"
    )
    print(line, flush=True)
    results["resolve"] = line


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1,100,1000", help="numbers of targets (default 1,100,1000)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    p.add_argument("--delay-ms", type=int, default=50, help="latency the proxy adds (default 50)")
    p.add_argument("--fleet", type=int, default=10000, help="instances for target resolution (default 10000)")
    p.add_argument("--concurrency", type=int, default=0, help="firedrill --concurrency (default: its own)")
    p.add_argument("--tools", default="firedrill,chaostoolkit", help="which tools (default both)")
    p.add_argument("--only", choices=["securitygroups", "instances", "extras", "abort", "state"], help="one part only")
    p.add_argument("--s3-delay-ms", type=int, default=20, help="latency added to S3 calls in the state bench (default 20)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--aws-limits", action="store_true", help="also a setting with AWS's documented request limits per API (and --delay-ms)")
    p.add_argument("--settings", default="", help="only these settings (direct, <delay>ms, aws-limits; default all)")
    p.add_argument("--api-share", type=int, default=100, help="firedrill --api-share in the aws-limits setting (default 100)")
    args = p.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.tools = args.tools.split(",")

    print(f"machine: {machine()}", flush=True)
    version = subprocess.run([FIREDRILL, "--version"], capture_output=True, text=True).stdout.strip()
    ctk = "chaostoolkit not run"
    if "chaostoolkit" in args.tools:
        ctk = subprocess.run([ROOT / ".venv/bin/chaos", "--no-log-file", "--version"], capture_output=True, text=True, cwd=tempfile.gettempdir()).stdout.strip()
    print(f"tools: {version}; {ctk}", flush=True)
    results = {"machine": machine(), "args": vars(args) | {"json": str(args.json)}}
    moto = start_emulator()
    direct = start_proxy(moto.endpoint, 0)
    slow = start_proxy(moto.endpoint, args.delay_ms)
    extra_servers = []
    try:
        ec2(moto.endpoint).describe_regions()  # warm the emulator's EC2 backend
        proxies = {"direct": direct, f"{args.delay_ms}ms": slow}
        if args.aws_limits:
            limited = start_proxy(moto.endpoint, args.delay_ms, aws_limits=True)
            extra_servers.append(limited)
            proxies["aws-limits"] = limited
        if args.settings:
            proxies = {k: v for k, v in proxies.items() if k in args.settings.split(",")}
        if args.only == "state":
            state_bench(args, moto.endpoint, results)
        elif args.only not in ("extras", "abort"):
            compare(args, moto.endpoint, proxies, results)
        if args.only in (None, "extras", "abort"):
            for setting, proxy in proxies.items():
                if setting != "direct":
                    abort_bench(args, moto.endpoint, proxy, results, setting)
        if args.only in (None, "extras"):
            validate_bench(args, results)
            resolve_bench(args, moto.endpoint, direct, results)
    finally:
        for s in (*extra_servers, slow, direct, moto):
            s.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
