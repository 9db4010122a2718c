#!/usr/bin/env python3
"""Intake on a shared PostgreSQL store, 1 and 3 replicas, next to SQLite and the HTTP ceiling of the same run.

    scripts/bench-replicas.py [--medic PATH] [--alerts N] [--concurrency C] [--json FILE]

Starts a private PostgreSQL cluster (initdb + pg_ctl in a temporary directory; as the postgres user when run as
root; fsync and synchronous_commit on, so a commit is durable) and real `medic serve` processes on 127.0.0.1, posts
N distinct alerts (C in flight, round-robin over the replicas) and prints alerts/s against GET /healthz on the same
servers with the same client (the HTTP ceiling). Every row checks that each alert was decided exactly once. Then
alert-to-first-step latency on PostgreSQL: the time from a run's `alert.received` record to its first
`attempt.started` (both written by the server), p50 and p99. Everything is stopped by pid at the end.
"""
import argparse
import glob
import http.client
import json
import os
import pwd
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

RUNBOOK = """runbook: bench-observe
triggers:
  - match: ['alertname="Bench"']
steps:
  - id: look
    run: ['true']
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            sys.exit("bench-replicas: PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="medic-bench-pg-", dir="/tmp")
        self.port = free_port()
        self.password = "bench-" + os.urandom(6).hex()
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        with open(os.path.join(self.dir, "pw"), "w") as f:
            f.write(self.password)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for root, dirs, files in os.walk(self.dir):
                os.chown(root, pw.pw_uid, pw.pw_gid)
                for name in files:
                    os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)
        self.tool("initdb", "-D", self.data, "-U", "medic", "--pwfile", os.path.join(self.dir, "pw"), "-E", "UTF8",
                  "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256")
        self.tool("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=200", "start")

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def tool(self, name, *args):
        subprocess.run(self.run_as + [os.path.join(self.bin, name), *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd="/tmp")

    def database(self, name):
        subprocess.run(self.run_as + [os.path.join(self.bin, "psql"), "-h", self.dir, "-p", str(self.port), "-U",
                                      "medic", "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
                       check=True, stdout=subprocess.DEVNULL, cwd="/tmp")
        return f"postgres://medic:{self.password}@127.0.0.1:{self.port}/{name}?sslmode=disable"

    def stop(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                os.kill(int(f.readline()), signal.SIGQUIT)
            time.sleep(1)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Replica:
    def __init__(self, medic, runbooks, audit, name, scratch, shadow=True):
        self.port = free_port()
        self.log = open(os.path.join(scratch, f"{name}.log"), "w")
        args = [medic, "serve", "--listen", f"127.0.0.1:{self.port}", "--runbooks", runbooks, "--audit", audit,
                "--replica-id", name, "--log-level", "warning", "--max-queued-runs", "100000"]
        if shadow:
            args.append("--shadow")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"bench-replicas: {name} did not start; see {self.log.name}")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def load(ports, requests, concurrency):
    """Sends `requests` ((method, path, body) tuples) with `concurrency` keep-alive connections spread over
    `ports`; returns (requests per second, non-2xx answers)."""
    work = queue.Queue()
    for index, request in enumerate(requests):
        work.put((index, request))
    failures = [0]
    lock = threading.Lock()

    def worker(port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            try:
                _, (method, path, body) = work.get_nowait()
            except queue.Empty:
                return
            try:
                connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status < 300
            except (OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            if not ok:
                with lock:
                    failures[0] += 1

    threads = [threading.Thread(target=worker, args=(ports[i % len(ports)],)) for i in range(concurrency)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(requests) / (time.monotonic() - start), failures[0]


def alert(index, tag):
    return json.dumps({"alerts": [{"status": "firing", "startsAt": "2026-11-29T10:00:00Z",
                                   "labels": {"alertname": "Bench", "instance": f"{tag}-{index}"}}]})


def export(medic, audit, kind):
    out = subprocess.run([medic, "audit", "export", "--audit", audit, "--kind", kind], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--medic", default=".build/release/medic")
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--json")
    options = parser.parse_args()
    medic = os.path.abspath(options.medic)
    scratch = tempfile.mkdtemp(prefix="medic-bench-replicas-")
    runbooks = os.path.join(scratch, "runbooks")
    os.makedirs(runbooks)
    with open(os.path.join(runbooks, "observe.yaml"), "w") as f:
        f.write(RUNBOOK)
    postgres = Postgres()
    rows = []
    try:
        setups = [("SQLite", lambda: os.path.join(scratch, "audit.db"), 1),
                  ("PostgreSQL, 1 replica", lambda: postgres.database("bench1"), 1),
                  ("PostgreSQL, 3 replicas", lambda: postgres.database("bench3"), 3)]
        for label, make_audit, count in setups:
            audit = make_audit()
            replicas = [Replica(medic, runbooks, audit, f"r{i}", scratch) for i in range(count)]
            ports = [r.port for r in replicas]
            try:
                ceiling, _ = load(ports, [("GET", "/healthz", None)] * options.alerts, options.concurrency)
                tag = label.split(",")[0].lower() + str(count)
                rate, failed = load(ports, [("POST", "/v1/alerts/alertmanager", alert(i, tag))
                                            for i in range(options.alerts)], options.concurrency)
            finally:
                for replica in replicas:
                    replica.stop()
            decided = export(medic, audit, "decision.shadowed")
            once = len(decided) == options.alerts and len({d["body"]["fingerprint"] for d in decided}) == options.alerts
            rows.append({"figure": f"intake alerts/s, durable, {label}", "medic": rate, "baseline": ceiling,
                         "ratio": rate / ceiling, "non_2xx": failed, "decided_once": once})
        # Alert to first step on PostgreSQL: real runs (no shadow), one alert at a time.
        audit = postgres.database("latency")
        replica = Replica(medic, runbooks, audit, "latency", scratch, shadow=False)
        try:
            load([replica.port], [("POST", "/v1/alerts/alertmanager", alert(i, "latency"))
                                  for i in range(options.latency_runs)], 1)
            time.sleep(2)
        finally:
            replica.stop()
        received = {}
        for record in export(medic, audit, "decision.run"):
            received[record["run_id"]] = record["time"]
        latencies = []
        seen = set()
        for record in export(medic, audit, "attempt.started"):
            run = record["run_id"]
            if run in received and run not in seen:
                seen.add(run)
                latencies.append(parse(record["time"]) - parse(received[run]))
        latencies.sort()

        def pct(p):
            return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else float("nan")

        rows.append({"figure": f"alert to first step on PostgreSQL ({len(latencies)} runs), ms",
                     "medic": pct(0.99), "baseline": pct(0.5), "ratio": None, "p50_ms": pct(0.5), "p99_ms": pct(0.99)})
    finally:
        postgres.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'figure':58} {'medic':>10} {'baseline':>10}  ratio")
    for row in rows:
        if row["ratio"] is None:
            print(f"{row['figure']:58} {row['medic']:9.1f}  {row['baseline']:9.1f}   p99 (medic) and p50 (baseline)")
        else:
            note = "" if row["decided_once"] and row["non_2xx"] == 0 else \
                f"  <-- {row['non_2xx']} non-2xx, decided once: {row['decided_once']}"
            print(f"{row['figure']:58} {row['medic']:8.0f}/s {row['baseline']:8.0f}/s  "
                  f"{row['ratio'] * 100:4.0f}% of the HTTP ceiling{note}")
    if options.json:
        with open(options.json, "w") as f:
            json.dump(rows, f, indent=2)
    if any(row.get("decided_once") is False for row in rows):
        sys.exit(1)


def parse(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
