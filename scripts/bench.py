#!/usr/bin/env python3
"""Medic's benchmarks against their baselines: one table, and bench-results.json.

Called by scripts/bench.sh, which builds Medic in release mode and installs the peers. Every figure is
paired with a baseline measured in the same run, interleaved where both are cheap, and reported as the
median of several repetitions. Traffic stays on 127.0.0.1; every loop is bounded.
"""
import argparse
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPAWN_LOOP_C = r"""
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
extern char **environ;
/* The physical limit for a step: posix_spawn /bin/true and wait for it, N times. */
int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 200;
    char *args[] = {"/bin/true", NULL};
    for (int i = 0; i < count; i++) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0) { perror("posix_spawn"); return 1; }
        int status;
        if (waitpid(pid, &status, 0) < 0) { perror("waitpid"); return 1; }
    }
    return 0;
}
"""

STAMP_C = r"""
#include <stdio.h>
#include <time.h>
/* Writes the wall-clock time in nanoseconds to the file named by argv[1]: "the first step started". */
int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (argc < 2) return 2;
    FILE *file = fopen(argv[1], "w");
    if (!file) return 1;
    fprintf(file, "%lld\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    return fclose(file) == 0 ? 0 : 1;
}
"""

WRK_POST_LUA = r"""
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"alerts":[{"status":"firing","labels":{"alertname":"BenchIntake","instance":"h-'
    .. counter .. '-' .. math.random(1, 1000000000) .. '"}}]}'
  return wrk.format("POST", "/v1/alerts/alertmanager", {["Content-Type"] = "application/json"}, body)
end
"""

EDA_SOURCE = r'''
"""An Alertmanager webhook source for ansible-rulebook, as ansible.eda.alertmanager behaves: one event per
alert in the payload, {"alert": ..., "meta": ...}. (The ansible.eda collection is not on PyPI.)"""
import asyncio
from aiohttp import web


async def main(queue, args):
    async def receive(request):
        payload = await request.json()
        for alert in payload.get("alerts", []):
            await queue.put({"alert": alert, "meta": {"endpoint": "alerts"}})
        return web.Response(status=202)

    app = web.Application()
    app.add_routes([web.post("/" + args.get("endpoint", "alerts"), receive)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, args.get("host", "127.0.0.1"), int(args.get("port", 5000)))
    await site.start()
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()
'''


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else None


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(command, **kwargs):
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        tail = result.stdout.decode(errors="replace")[-1500:]
        raise RuntimeError(f"{Path(command[0]).name} exited {result.returncode}: {tail}")
    return elapsed


def compile_c(work, name, source):
    binary = work / "bin" / name
    binary.parent.mkdir(parents=True, exist_ok=True)
    path = work / "bin" / f"{name}.c"
    path.write_text(source)
    subprocess.run(["cc", "-O2", "-o", str(binary), str(path)], check=True)
    return binary


def request(connection, method, path, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    return response.status, data


class Server:
    """`medic serve` as a child process on a free loopback port."""

    def __init__(self, medic, runbooks, audit, log_path, extra=()):
        self.port = free_port()
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [medic, "serve", "--listen", f"127.0.0.1:{self.port}", "--runbooks", str(runbooks), "--audit",
             str(audit), "--log-level", "warning", *extra],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"medic serve exited; see {log_path}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                if request(connection, "GET", "/healthz")[0] == 200:
                    connection.close()
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"medic serve did not become healthy; see {log_path}")

    def memory_kib(self, field):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return None

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def in_threads(work, threads):
    """Runs work(0) ... work(threads - 1) on threads of their own; returns the seconds until all are done."""
    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(worker,)) for worker in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def row(figure, medic, baseline, baseline_name, unit, ratio=None, target=None, met=None, note=""):
    if ratio is None and medic is not None and baseline:
        ratio = medic / baseline
    return {"figure": figure, "medic": medic, "baseline": baseline, "baseline_name": baseline_name,
            "unit": unit, "ratio": ratio, "target": target, "target_met": met, "note": note}


# MARK: step overhead

def bench_steps(args, work):
    steps = int(args.steps)
    runbook = work / "steps" / "bench.yaml"
    runbook.parent.mkdir(parents=True, exist_ok=True)
    runbook.write_text("runbook: bench-steps\nsteps:\n" + "".join(
        f"  - id: s{i}\n    run: [/bin/true]\n    timeout: 10s\n" for i in range(steps)))
    playbook = work / "steps" / "playbook.yml"
    playbook.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n" + "".join(
        f"    - name: t{i}\n      ansible.builtin.command: /bin/true\n" for i in range(steps)))
    spawn_loop = compile_c(work, "spawnloop", SPAWN_LOOP_C)
    ansible = Path(args.venv) / "bin" / "ansible-playbook"
    use_ansible = not args.quick and ansible.exists()
    ansible_env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                       ANSIBLE_NOCOLOR="1", PYTHONWARNINGS="ignore")
    spawn, medic, peer = [], [], []
    repetitions = 3 if args.quick else 7
    for repetition in range(repetitions):
        # Interleaved: drift on a shared machine hits every figure alike.
        spawn.append(timed([str(spawn_loop), str(steps)]))
        audit = work / "steps" / f"audit-{repetition}.db"
        for stale in work.glob(f"steps/audit-{repetition}.db*"):
            stale.unlink()
        medic.append(timed([args.medic, "run", str(runbook), "--audit", str(audit), "--format", "json"]))
        if use_ansible and repetition < 3:
            log(f"ansible-playbook, {steps} tasks, repetition {repetition + 1} of 3")
            peer.append(timed([str(ansible), "-i", "localhost,", str(playbook), "-e",
                               f"ansible_python_interpreter={Path(args.venv) / 'bin' / 'python'}"], env=ansible_env))
    per_step = median(medic) / steps * 1000
    spawn_step = median(spawn) / steps * 1000
    rows = [row(f"step overhead: {steps} x /bin/true through `medic run` (per step)", per_step, spawn_step,
                "posix_spawn+waitpid loop (C)", "ms", target="<= 1.5x the spawn loop",
                met=per_step / spawn_step <= 1.5,
                note=f"median of {repetitions}; includes medic's start and the durable audit log")]
    if peer:
        ansible_step = median(peer) / steps * 1000
        rows.append(row(f"step overhead vs Ansible: the same {steps} tasks, `ansible-playbook` on localhost",
                        per_step, ansible_step, "ansible-playbook (ansible-core)", "ms",
                        ratio=ansible_step / per_step, target=">= 50x faster",
                        met=ansible_step / per_step >= 50,
                        note=f"ratio = Ansible / Medic; median of {len(peer)}"))
    else:
        rows.append(row("step overhead vs Ansible", per_step, None, "ansible-playbook", "ms",
                        note="skipped: --quick or ansible-core could not be installed"))
    return rows


# MARK: alert-to-first-step latency

def latency_samples(post, wait_dir, count, prefix, timeout=5.0):
    samples = []
    for index in range(count):
        name = f"{prefix}-{index}"
        target = wait_dir / name
        body = json.dumps({"alerts": [{"status": "firing",
                                       "labels": {"alertname": "BenchLatency", "instance": name}}]})
        sent = time.time_ns()
        post(body)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                text = target.read_text()
                if text.endswith("\n"):
                    samples.append((int(text) - sent) / 1e6)
                    break
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.0002)
    return samples


def bench_latency(args, work):
    stamp = compile_c(work, "stamp", STAMP_C)
    base = work / "latency"
    shutil.rmtree(base, ignore_errors=True)
    (base / "runbooks").mkdir(parents=True)
    (base / "stamps").mkdir()
    (base / "runbooks" / "latency.yaml").write_text(f"""runbook: bench-latency
params:
  id: {{ type: string, from: alert.labels.instance, pattern: '[a-z0-9-]+' }}
triggers:
  - match: ['alertname="BenchLatency"']
steps:
  - id: stamp
    run: [{stamp}, '{base / "stamps"}/{{{{ params.id }}}}']
    timeout: 5s
""")
    server = Server(args.medic, base / "runbooks", base / "audit.db", base / "serve.log")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)

    def post(body):
        status, data = request(connection, "POST", "/v1/alerts/alertmanager", body)
        if status != 202:
            raise RuntimeError(f"intake answered {status}: {data[:200]!r}")

    count = 50 if args.quick else 200
    latency_samples(post, base / "stamps", 10, "warm")
    samples = latency_samples(post, base / "stamps", count, "m")
    server.stop()
    rows = []
    missing = count - len(samples)
    eda = bench_eda_latency(args, work, stamp)
    p50, p99 = median(samples), percentile(samples, 0.99)
    eda_p50 = median(eda["samples"]) if eda["samples"] else None
    eda_p99 = percentile(eda["samples"], 0.99) if eda["samples"] else None
    rows.append(row(f"alert-to-first-step latency, median of {len(samples)} alerts", p50, eda_p50,
                    "ansible-rulebook (EDA) + alertmanager source", "ms",
                    ratio=(eda_p50 / p50) if eda_p50 else None,
                    note=(eda["note"] or "ratio = EDA / Medic") + (f"; {missing} alerts never ran" if missing else "")))
    rows.append(row(f"alert-to-first-step latency, p99 of {len(samples)} alerts", p99, eda_p99,
                    "ansible-rulebook (EDA) + alertmanager source", "ms",
                    ratio=(eda_p99 / p99) if eda_p99 else None, target="p99 < 10 ms", met=p99 is not None and p99 < 10,
                    note="POST to Alertmanager intake until the step's process writes its clock"))
    return rows


def bench_eda_latency(args, work, stamp):
    rulebook_bin = Path(args.venv) / "bin" / "ansible-rulebook"
    if args.quick:
        return {"samples": [], "note": "EDA skipped (--quick)"}
    if not rulebook_bin.exists():
        return {"samples": [], "note": "EDA skipped: ansible-rulebook could not be installed"}
    if not os.environ.get("JAVA_HOME") or not Path(os.environ["JAVA_HOME"], "bin", "java").exists():
        return {"samples": [], "note": "EDA skipped: no Java 17 (set JAVA_HOME)"}
    base = work / "eda"
    shutil.rmtree(base, ignore_errors=True)
    (base / "sources").mkdir(parents=True)
    (base / "stamps").mkdir()
    (base / "sources" / "bench_alertmanager.py").write_text(EDA_SOURCE)
    port = free_port()
    (base / "inventory.yml").write_text(
        f"all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {Path(args.venv) / 'bin' / 'python'}\n")
    (base / "rulebook.yml").write_text(f"""- name: bench
  hosts: all
  sources:
    - bench_alertmanager:
        host: 127.0.0.1
        port: {port}
  rules:
    - name: stamp
      condition: event.alert.labels.alertname == "BenchLatency"
      action:
        run_module:
          name: ansible.builtin.command
          module_args:
            cmd: "{stamp} {base / 'stamps'}/{{{{ event.alert.labels.instance }}}}"
""")
    env = dict(os.environ, PATH=f"{Path(args.venv) / 'bin'}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", PYTHONWARNINGS="ignore")
    log_file = open(base / "rulebook.log", "w")
    process = subprocess.Popen(
        [str(rulebook_bin), "--rulebook", str(base / "rulebook.yml"), "-i", str(base / "inventory.yml"),
         "-S", str(base / "sources")], stdout=log_file, stderr=log_file, env=env, cwd=base)
    try:
        deadline = time.time() + 120
        connection = None
        while time.time() < deadline and process.poll() is None:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.connect()
                break
            except OSError:
                connection = None
                time.sleep(0.2)
        if connection is None:
            return {"samples": [], "note": f"EDA skipped: ansible-rulebook did not start (see {base}/rulebook.log)"}

        def post(body):
            status, _ = request(connection, "POST", "/alerts", body)
            if status >= 300:
                raise RuntimeError(f"EDA answered {status}")

        count = 20
        log(f"ansible-rulebook: {count} alerts (each runs ansible-runner; slow)")
        latency_samples(post, base / "stamps", 2, "warm", timeout=60)
        samples = latency_samples(post, base / "stamps", count, "e", timeout=60)
        if not samples:
            return {"samples": [], "note": f"EDA ran nothing (see {base}/rulebook.log)"}
        return {"samples": samples, "note": f"ratio = EDA / Medic; EDA over {len(samples)} alerts (each takes seconds)"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


# MARK: intake throughput, memory, responsiveness

def shipped_runbooks(count, directory):
    """`count` copies of the shipped runbooks, each with its own id."""
    directory.mkdir(parents=True, exist_ok=True)
    sources = sorted((ROOT / "runbooks").glob("*.yaml"))
    for index in range(count):
        source = sources[index % len(sources)]
        text = source.read_text()
        lines = []
        for line in text.splitlines():
            if line.startswith("runbook:"):
                line = f"{line.rstrip()}-{index}"
            lines.append(line)
        (directory / f"rb-{index}.yaml").write_text("\n".join(lines) + "\n")


def count_received(audit):
    with sqlite3.connect(f"file:{audit}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM audit_record WHERE kind = 'alert.received'").fetchone()[0]


def wrk(url, seconds, script=None):
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(command + [url], check=True, capture_output=True, text=True).stdout
    rate = float(next(line for line in output.splitlines() if line.startswith("Requests/sec:")).split()[1])
    total = int(next(line for line in output.splitlines() if " requests in " in line).split()[0])
    non2xx = 0
    for line in output.splitlines():
        if "Non-2xx or 3xx responses:" in line:
            non2xx = int(line.split(":")[1])
    return rate, total, non2xx


def bench_intake(args, work):
    base = work / "intake"
    shutil.rmtree(base, ignore_errors=True)
    (base / "runbooks").mkdir(parents=True)
    shutil.copy(ROOT / "runbooks" / sorted(p.name for p in (ROOT / "runbooks").glob("*.yaml"))[0],
                base / "runbooks")
    if not shutil.which("wrk"):
        return [row("intake throughput, recorded durably", None, None, "wrk GET /healthz", "alerts/s",
                    note="skipped: wrk is not installed")]
    script = base / "post.lua"
    script.write_text(WRK_POST_LUA)
    server = Server(args.medic, base / "runbooks", base / "audit.db", base / "serve.log")
    url = f"http://127.0.0.1:{server.port}"
    seconds = 3 if args.quick else 5
    intake, ceiling, accepted, refused = [], [], 0, 0
    for _ in range(2 if args.quick else 3):
        ceiling.append(wrk(url + "/healthz", seconds)[0])
        rate, total, non2xx = wrk(url + "/v1/alerts/alertmanager", seconds, script)
        intake.append(rate)
        accepted += total - non2xx
        refused += non2xx
    server.stop()
    recorded = count_received(base / "audit.db")
    rate, top = median(intake), median(ceiling)
    return [row("intake throughput, each alert durably recorded before 202", rate, top,
                "wrk GET /healthz, same server (HTTP ceiling)", "alerts/s", target=">= 25% of the ceiling",
                met=rate / top >= 0.25,
                note=f"wrk -t2 -c16; {accepted} answered 202, {recorded} recorded, {refused} refused"
                     + ("" if recorded >= accepted else "  LOST ALERTS"))]


def bench_memory(args, work):
    base = work / "memory"
    shutil.rmtree(base, ignore_errors=True)
    shipped_runbooks(1000, base / "runbooks")
    server = Server(args.medic, base / "runbooks", base / "audit.db", base / "serve.log")
    time.sleep(2)
    idle = server.memory_kib("VmRSS") / 1024
    total = 2_000 if args.quick else 20_000
    threads, answered, failures = 8, [0], [0]
    lock = threading.Lock()
    probes, probe_failures, done = [], [0], threading.Event()

    def poster(worker):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for index in range(worker, total, threads):
            body = json.dumps({"alerts": [{"status": "firing", "labels": {
                "alertname": "BenchLoad", "instance": f"load-{index}", "severity": "warning"}}]})
            status, _ = request(connection, "POST", "/v1/alerts/alertmanager", body)
            with lock:
                if status == 202:
                    answered[0] += 1
                else:
                    failures[0] += 1

    def prober():
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        while not done.is_set():
            start = time.perf_counter()
            try:
                status, _ = request(connection, "GET", "/healthz")
                if status == 200:
                    probes.append((time.perf_counter() - start) * 1000)
                else:
                    probe_failures[0] += 1
            except OSError:
                probe_failures[0] += 1
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            time.sleep(0.02)

    probe_thread = threading.Thread(target=prober)
    probe_thread.start()
    elapsed = in_threads(poster, threads)
    done.set()
    probe_thread.join()
    peak = server.memory_kib("VmHWM") / 1024
    server.stop()
    recorded = count_received(base / "audit.db")
    return [
        row("memory: medic serve idle, 1,000 runbooks loaded (RSS)", idle, None, "—", "MB",
            target="< 60 MB", met=idle < 60),
        row(f"memory: peak RSS after {total:,} alerts matched against 1,000 runbooks", peak, idle,
            "idle RSS", "MB",
            note=f"{recorded} of {total} recorded ({failures[0]} non-202), {total / elapsed:.0f} alerts/s "
                 f"from 8 Python clients" + ("" if recorded == total else "  LOST ALERTS")),
        row("GET /healthz during that burst, p99", percentile(probes, 0.99), median(probes),
            "median of the same probes", "ms",
            note=f"{len(probes)} probes on their own connection every 20 ms, {probe_failures[0]} failed; "
                 f"max {max(probes) if probes else float('nan'):.1f} ms"),
    ]


def bench_forgetting(args, work):
    """RSS of `medic serve` across many distinct alerts whose windows pass while they arrive: the engine must
    forget dedup entries, cooldowns and rate windows that no window can read any more."""
    base = work / "forgetting"
    shutil.rmtree(base, ignore_errors=True)
    (base / "runbooks").mkdir(parents=True)
    (base / "runbooks" / "forget.yaml").write_text(
        "runbook: forget\n"
        "triggers:\n"
        "  - match: ['alertname=\"BenchForget\"']\n"
        "    group_by: [instance]\n"
        "    cooldown: 1s\n"
        "policy:\n"
        "  mode: shadow\n"
        "  max_runs: { count: 1000000, per: 1s }\n"
        "steps:\n"
        "  - id: noop\n"
        "    run: ['true']\n"
        "    timeout: 5s\n")
    server = Server(args.medic, base / "runbooks", base / "audit.db", base / "serve.log",
                    extra=("--dedup-window", "1s"))
    total = int(args.forget_alerts) if args.forget_alerts else (20_000 if args.quick else 200_000)
    warm = total // 10
    threads, failures = 8, [0]
    lock = threading.Lock()
    sent = [0]
    warm_rss = [None]

    def poster(worker):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for index in range(worker, total, threads):
            body = json.dumps({"alerts": [{"status": "firing", "startsAt": "2026-11-29T00:00:00Z", "labels": {
                "alertname": "BenchForget", "instance": f"forget-{index}"}}]})
            status, _ = request(connection, "POST", "/v1/alerts/alertmanager", body)
            with lock:
                sent[0] += 1
                if status != 202:
                    failures[0] += 1
                if sent[0] == warm:
                    warm_rss[0] = server.memory_kib("VmRSS") / 1024

    elapsed = in_threads(poster, threads)
    time.sleep(2)  # windows of the last alerts pass; the next sweep runs on the next alert
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    request(connection, "POST", "/v1/alerts/alertmanager",
            json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "Other"}}]}))
    end_rss = server.memory_kib("VmRSS") / 1024
    server.stop()
    growth = end_rss / warm_rss[0] if warm_rss[0] else None
    return [row(f"memory: medic serve RSS after {total:,} distinct alerts whose windows passed", end_rss,
                warm_rss[0], f"RSS after the first {warm:,}", "MB", ratio=growth, target="<= 1.10x",
                met=growth is not None and growth <= 1.10,
                note=f"shadow runbook, cooldown 1s, --dedup-window 1s; {failures[0]} non-202; "
                     f"{total / elapsed:.0f} alerts/s from 8 Python clients")]


# MARK: Medic's own micro-benchmarks

def medic_json(args, *command):
    output = subprocess.run([args.medic, "bench", *command, "--format", "json"], check=True,
                            capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def bench_micro(args):
    match = medic_json(args, "match", "--runbooks", "10000", "--alerts", "100000" if not args.quick else "20000")
    validate = medic_json(args, "validate", "--count", "1000", "--repetitions", "3" if args.quick else "5")
    audit = medic_json(args, "audit", "--records", "5000" if args.quick else "20000", "--query-records", "0")
    hostile = medic_json(args, "match", "--hostile")
    indexed, scan = match["indexed_alerts_per_second"], match["scan_alerts_per_second"]
    words, regexes = match["word_alternation"], match["regexes"]
    worst = max(max(r["cold_ms"], r["warm_ms"]) for r in hostile["rows"])
    worst_icu = max(r["icu_24_bytes_ms"] for r in hostile["rows"])
    return [
        row("matcher: alerts matched per second, 10,000 runbooks loaded", indexed, scan,
            "scanning every trigger", "alerts/s", target="> 240,000/s", met=indexed > 240_000),
        row("matcher: same, against the ICU regex path of earlier releases", words["alerts_per_second"],
            words["icu_alerts_per_second"], "ICU (NSRegularExpression) path", "alerts/s"),
        row("matcher: triggers with real regexes (prefix, class, !~), 10,000 runbooks", regexes["alerts_per_second"],
            regexes["icu_alerts_per_second"], "ICU (NSRegularExpression) path", "alerts/s"),
        row("matcher: worst decision, (a+)+$ and 5 more against 100 KiB hostile values", worst, worst_icu,
            "ICU on a 24-byte value", "ms", target="< 10 ms", met=worst < 10,
            note="ICU grows exponentially with the value's length; 100 KiB would never finish"),
        row("matcher: worst decision, patterns whose DFA cannot fit (e.g. [ab]*a[ab]{30}), 100 KiB",
            max(r["ms"] for r in hostile["unfitting"]), None, "—", "ms",
            note="linear, at NFA speed (Go's matcher takes about 45 ms on the first)"),
        row("validation: 1,000 runbook files parsed and validated", validate["medic_seconds"],
            validate["yaml_compose_seconds"], "Yams.compose (YAML parsing alone)", "s",
            target="< 0.5 s", met=validate["medic_seconds"] < 0.5),
        row("audit append, one record per transaction (fsync each)", audit["single_records_per_second"],
            audit["batched_records_per_second"], f"batched, {audit['batch']} per transaction", "records/s"),
    ]


# MARK: report

def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def show(value):
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--medic", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--venv", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", default="200")
    parser.add_argument("--only", help="run only the benchmark whose name contains this text")
    parser.add_argument("--forget-alerts", help="alerts for the forgetting row (default 200,000; 20,000 quick)")
    args = parser.parse_args()
    # Absolute paths: some peers run in their own working directory.
    args.venv = str(Path(args.venv).resolve())
    args.medic = str(Path(args.medic).resolve())
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)

    rows = []
    for name, run in [("step overhead", lambda: bench_steps(args, work)),
                      ("alert-to-first-step latency", lambda: bench_latency(args, work)),
                      ("intake throughput", lambda: bench_intake(args, work)),
                      ("memory and responsiveness", lambda: bench_memory(args, work)),
                      ("memory while forgetting", lambda: bench_forgetting(args, work)),
                      ("matcher, validation, audit", lambda: bench_micro(args))]:
        if args.only and args.only not in name:
            continue
        log(name)
        try:
            rows += run()
        except Exception as error:  # a broken benchmark is reported, the others still run
            rows.append(row(name, None, None, "", "", note=f"FAILED: {error}"))
            log(f"{name} failed: {error}")

    print()
    header = f"{'figure':<78} {'medic':>11} {'baseline':>11} {'ratio':>8}  unit       target"
    print(header)
    print("-" * len(header))
    for entry in rows:
        ratio = f"{entry['ratio']:.2f}x" if entry["ratio"] is not None else "—"
        verdict = ""
        if entry["target"]:
            verdict = entry["target"] + ("  ok" if entry["target_met"] else "  MISSED")
        print(f"{entry['figure'][:78]:<78} {show(entry['medic']):>11} {show(entry['baseline']):>11} {ratio:>8}  "
              f"{entry['unit']:<10} {verdict}")
        detail = (f"baseline: {entry['baseline_name']}" if entry["baseline_name"] not in ("", "—") else "")
        if entry["note"]:
            detail = (detail + "; " if detail else "") + entry["note"]
        if detail:
            print(f"    {detail}")
    info = machine()
    print(f"\n{info['cpu']}, {info['cores']} cores, Linux {info['kernel']}, {info['date']}")
    if not args.only:  # a partial run does not replace the full table
        (ROOT / "bench-results.json").write_text(json.dumps({"machine": info, "quick": args.quick, "rows": rows},
                                                            indent=2) + "\n")
        log("wrote bench-results.json")


if __name__ == "__main__":
    main()
