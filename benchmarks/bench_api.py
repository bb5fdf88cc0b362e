"""API speed: /predict latency over loopback at 1 and 32 concurrent clients, beside the model's
forward pass alone measured in the same run; /batch-predict decisions per second.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_api.py``). The server is started
here as ``python -m edge_rl.serve.api`` on a free loopback port (one process, one torch thread) with
the committed checkpoints; the clients are asyncio connections with keep-alive in this
process. Every request is the card's 17-node network for the hybrid. Client and server share
this machine's cores, so the latencies include the client's own time.

Targets, each a ratio of figures measured in this run against the same server: the p99 latency
at 32 concurrent clients is at most 10x the 1-client median (concurrent requests share forward
passes instead of queueing), with zero errors over 10,000 requests; /batch-predict answers at
least 2x as many decisions per second as /predict does requests at 32 clients (a batch is worth
sending). Milliseconds and requests per second are printed as context: they depend on the CPU
and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch

from edge_rl.serve import models as serving
from edge_rl.serve.conversions import example_request, to_observation
from edge_rl.serve.schemas import MAX_BATCH, PredictRequest

MAX_P99_RATIO = 10.0
"""Most p99 latency at TARGET_CLIENTS clients per 1-client median."""
TARGET_CLIENTS = 32
TARGET_REQUESTS = 10_000
MIN_BATCH_RATIO = 2.0
"""Fewest /batch-predict decisions/s per /predict requests/s at TARGET_CLIENTS clients."""
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, model_type: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "edge_rl.serve.api", "--port", str(port), "--no-access-log"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{server.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                health = json.load(response)
            if model_type not in health["models_loaded"]:
                server.terminate()
                raise SystemExit(f"{model_type} did not load: {health['models_unavailable']}")
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not answer /health within 120 s")


async def _client(port: int, path: str, body: bytes, remaining: list[int], latencies: list[float],
                  statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    request = head + body
    try:
        while remaining[0] > 0:
            remaining[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            header = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses.append(int(header[9:12]))
    finally:
        writer.close()


def server_cpu_s(server: subprocess.Popen) -> float:
    """CPU seconds the server process has used (user + system), from /proc."""
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, path: str, body: bytes, clients: int, requests: int) -> tuple[np.ndarray, int, float]:
    """``requests`` POSTs shared by ``clients`` keep-alive connections: latencies (ms), errors, wall s."""
    latencies: list[float] = []
    statuses: list[int] = []
    remaining = [requests]

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_client(port, path, body, remaining, latencies, statuses) for _ in range(clients)))
        return time.perf_counter() - start

    try:
        import uvloop

        wall = uvloop.run(run())
    except ImportError:
        wall = asyncio.run(run())
    errors = sum(status != 200 for status in statuses) + (requests - len(statuses))
    return np.array(latencies) * 1e3, errors, wall


def forward_latency_ms(model_type: str, request: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The model alone, in this process: ``agent.node_scores`` (the forward pass) and the full
    decision the server makes (conversion of the validated request + forward + formatting)."""
    predictor = serving.Predictor()
    policy = predictor.policy(model_type)
    parsed = PredictRequest.model_validate(request)
    obs = to_observation(parsed.network_state, parsed.task)
    for _ in range(200):
        policy.agent.node_scores(obs)
    forward, decision = np.empty(n), np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        policy.agent.node_scores(obs)
        forward[i] = time.perf_counter() - start
        start = time.perf_counter()
        predictor.predict(model_type, [to_observation(parsed.network_state, parsed.task)])
        decision[i] = time.perf_counter() - start
    return forward * 1e3, decision * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-type", default="hybrid")
    parser.add_argument("--single", type=int, default=2_000, help="requests from one client")
    parser.add_argument("--requests", type=int, default=TARGET_REQUESTS, help="requests from the concurrent clients")
    parser.add_argument("--clients", type=int, default=TARGET_CLIENTS)
    parser.add_argument("--batch", type=int, default=MAX_BATCH, help="requests per /batch-predict call")
    parser.add_argument("--batches", type=int, default=40, help="/batch-predict calls")
    parser.add_argument("--forwards", type=int, default=2_000, help="forward passes timed in-process")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"CPU cores: {os.cpu_count()}; load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    request = example_request(0, args.model_type)
    body = json.dumps(request).encode()
    forward, decision = forward_latency_ms(args.model_type, request, args.forwards)
    f50, f99 = np.percentile(forward, [50, 99])
    d50, d99 = np.percentile(decision, [50, 99])

    port = free_port()
    server = start_server(port, args.model_type)
    failures = 0
    try:
        load(port, "/predict", body, 4, 500)  # warm up
        print(f"\n/predict, {args.model_type}, card's 17-node network: latency in ms")
        print(f"{'':34s} {'p50':>7s} {'p99':>7s} {'req/s':>8s} {'errors':>7s} {'server CPU/req':>14s} {'p99 / forward p99':>17s}")
        print(f"{'forward pass alone (in-process)':34s} {f50:7.3f} {f99:7.3f}")
        print(f"{'decision alone (in-process)':34s} {d50:7.3f} {d99:7.3f}")
        measured: dict[int, tuple[float, float, float, int]] = {}
        for clients, n in ((1, args.single), (args.clients, args.requests)):
            cpu = server_cpu_s(server)
            latency, errors, wall = load(port, "/predict", body, clients, n)
            cpu = (server_cpu_s(server) - cpu) / n * 1e3
            p50, p99 = np.percentile(latency, [50, 99])
            measured[clients] = (p50, p99, n / wall, errors)
            label = f"HTTP, {clients} client{'s' if clients > 1 else ''}, {n} requests"
            print(f"{label:34s} {p50:7.3f} {p99:7.3f} {n / wall:8.0f} {errors:7d} {cpu:11.3f} ms {p99 / f99:17.1f}")
        alone_p50 = measured[1][0]
        _, busy_p99, busy_rate, busy_errors = measured[args.clients]
        ratio = busy_p99 / alone_p50
        graded = args.clients == TARGET_CLIENTS and args.requests >= TARGET_REQUESTS
        ok = ratio <= MAX_P99_RATIO and busy_errors == 0
        failures += graded and not ok
        print(f"target: p99 at {TARGET_CLIENTS} clients <= {MAX_P99_RATIO:g}x the 1-client p50, 0 errors over "
              f"{TARGET_REQUESTS:,} requests: {busy_p99:.2f} / {alone_p50:.2f} ms = {ratio:.1f}x, {busy_errors} errors: "
              + (("PASS" if ok else "MISS") if graded else f"not graded ({args.clients} clients, {args.requests} requests)"))

        batch_body = json.dumps({"requests": [request] * args.batch}).encode()
        load(port, "/batch-predict", batch_body, 1, 3)  # warm up
        cpu = server_cpu_s(server)
        latency, errors, wall = load(port, "/batch-predict", batch_body, 1, args.batches)
        cpu = server_cpu_s(server) - cpu
        rate = args.batch * args.batches / wall
        ok = rate / busy_rate >= MIN_BATCH_RATIO and errors == 0
        failures += not ok
        print(f"\n/batch-predict, {args.batch} requests per call, {args.batches} calls: {rate:,.0f} decisions/s "
              f"(call p50 {np.percentile(latency, 50):.1f} ms, {errors} errors; "
              f"{rate / (1e3 / f50):.1f}x the single forward pass's rate; server CPU "
              + (f"{args.batch * args.batches / cpu:,.0f} decisions per CPU second)" if cpu > 0
                 else "under one clock tick)"))
        print(f"target: /batch-predict decisions/s >= {MIN_BATCH_RATIO:g}x /predict requests/s at {args.clients} clients: "
              f"{rate:,.0f} / {busy_rate:,.0f} = {rate / busy_rate:.1f}x: {'PASS' if ok else 'MISS'}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (other jobs on these cores slow every figure)")
    print(f"{failures} target(s) missed" if failures else "all targets met")


if __name__ == "__main__":
    main()
