#!/usr/bin/env python3
"""Whether notification receivers that hang or are down slow promotions or the shutdown.

Starts shipd (tests/data/pipelines/instant.yaml) twice on 127.0.0.1:0: without notifications, and
with three sinks that want every event: a receiver that accepts connections and never answers
(timeout 60s), and a webhook and a Slack sink whose port refuses connections (retrying without
end). Each run promotes BENCH_PROMOTIONS versions into dev one after the other, waits for each
rollout to finish, and prints the latencies, the notifier's metrics and how long SIGTERM took.
Talks only to 127.0.0.1; removes its files.   BENCH_BIN [build/bin]  BENCH_PROMOTIONS [200]
"""
import json, os, shutil, socket, statistics, subprocess, tempfile, threading, time
import urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("BENCH_BIN", "build/bin"), "shipd")
PIPELINES = os.path.join(ROOT, "tests/data/pipelines/instant.yaml")
N = int(os.environ.get("BENCH_PROMOTIONS", "200"))


def hanging_receiver():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []
    def run():
        while True:
            held.append(server.accept()[0])  # read nothing, answer nothing
    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


def refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(with_sinks):
    work = tempfile.mkdtemp()
    try:
        config = os.path.join(work, "shipd.yaml")
        with open(config, "w") as f:
            if with_sinks:
                hang, dead = hanging_receiver(), refused_port()
                retry = "max_attempts: 100000, backoff: 10ms, max_backoff: 50ms"
                f.write("notifications:\n")
                f.write(f"  hanging: {{type: webhook, url: 'http://127.0.0.1:{hang}/h', "
                        "secret_env: BENCH_SECRET, events: ['*'], timeout: 60s}\n")
                f.write(f"  dead: {{type: webhook, url: 'http://127.0.0.1:{dead}/h', "
                        f"secret_env: BENCH_SECRET, events: ['*'], {retry}}}\n")
                f.write(f"  chat: {{type: slack, url: 'http://127.0.0.1:{dead}/s', "
                        f"events: ['*'], {retry}}}\n")
        data = os.path.join(work, "data")
        token = subprocess.run([BIN, "--data", data, "token", "create", "bench", "--role", "admin"],
                               capture_output=True, text=True, check=True).stdout.strip()
        daemon = subprocess.Popen(
            [BIN, "--config", config, "--listen", "127.0.0.1:0", "--data", data,
             "--pipelines", PIPELINES], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=dict(os.environ, BENCH_SECRET="bench"))
        url = daemon.stdout.readline().split()[-1]
        headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

        def call(method, path, body=None):
            request = urllib.request.Request(url + path, method=method, headers=headers,
                                             data=None if body is None else json.dumps(body).encode())
            try:
                with urllib.request.urlopen(request) as answer:
                    return answer.status, answer.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        call("POST", "/v1/services", {"name": "orders"})
        for i in range(N):
            call("POST", "/v1/services/orders/versions", {"version": f"1.0.{i}", "artifact": "x"})
        latencies = []
        started = time.monotonic()
        for i in range(N):
            t = time.monotonic()
            status, body = call("POST", "/v1/promotions",
                                {"service": "orders", "version": f"1.0.{i}", "environment": "dev"})
            assert status == 201, body
            promotion, after = json.loads(body)["id"], 0
            while not json.loads(call("GET", f"/v1/promotions/{promotion}")[1]).get("finished_at"):
                events = json.loads(call("GET", f"/v1/events?after={after}&limit=1000&wait_ms=2000")[1])
                if events["events"]:
                    after = events["events"][-1]["id"]
            latencies.append((time.monotonic() - t) * 1000)
        total = time.monotonic() - started
        metrics = call("GET", "/metrics")[1].decode()
        stopping = time.monotonic()
        daemon.terminate()
        code = daemon.wait()
        stop = time.monotonic() - stopping
        latencies.sort()
        print(f"{'3 stuck sinks' if with_sinks else 'no sinks':>13}: {N} promotions in {total:.2f} s, "
              f"median {statistics.median(latencies):.1f} ms, p95 {latencies[int(N * 0.95)]:.1f} ms, "
              f"SIGTERM exit {code} after {stop:.2f} s")
        for line in metrics.splitlines():
            if line.startswith("shipd_notification"):
                print("    " + line)
    finally:
        shutil.rmtree(work, ignore_errors=True)


run(False)
run(True)
