"""`make bench`: latency, throughput, memory and startup over REST, action server in the path.

Starts its own servers on separate ports with a throw-away database, so it never disturbs a
running `make run`. Sends a fixed mix of real questions; each simulated user has its own
conversation. Prints a table (and writes var/bench.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from bot.run import Stack, wait_http
from bot.settings import ROOT, Settings

QUESTIONS = [
    "Hur lång tid har jag på mig att överklaga?",
    "hur överklagar jag mitt avslag",
    "får jag behålla min dagersättning?",
    "How do I appeal the decision?",
    "who pays for my flight home",
    "kan jag få pengar när jag återvänder till Irak?",
    "är det här anonymt?",
    "what is a re-entry ban?",
    "får mina barn gå i skolan?",
    "hej",
]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_cpu(url: str, users: int, per_user: int, pids: dict[str, int],
                questions: list[str] = QUESTIONS, conversation: int | None = None
                ) -> dict[str, float]:
    """``measure`` plus the CPU time each process spent per message: on a busy machine the
    latency is not the assistant's, its CPU time per message still is."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = asyncio.run(measure(url, users, per_user, questions, conversation))
    for name, pid in pids.items():
        # the warm-up's 3 messages are inside the window too
        result[f"{name}_cpu_ms"] = (
            1000 * (cpu_seconds(pid) - before[name]) / (result["messages"] + 3))
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


async def one_user(
    session: aiohttp.ClientSession, url: str, count: int, questions: list[str],
    conversation: int | None = None,
) -> list[float]:
    """``count`` messages one after the other; a new conversation every ``conversation``
    messages (None: all in one)."""
    sender = uuid.uuid4().hex
    latencies = []
    for i in range(count):
        if conversation and i and i % conversation == 0:
            sender = uuid.uuid4().hex
        started = time.perf_counter()
        async with session.post(
            url, json={"sender": sender, "message": questions[i % len(questions)]}
        ) as response:
            body = await response.json()
            if response.status != 200 or not body:
                raise RuntimeError(f"bad answer: {response.status} {body!r}")
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def measure(
    url: str, users: int, per_user: int, questions: list[str] = QUESTIONS,
    conversation: int | None = None,
) -> dict[str, float]:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await one_user(session, url, 3, questions)  # warm-up
        started = time.perf_counter()
        results = await asyncio.gather(
            *(one_user(session, url, per_user, questions, conversation) for _ in range(users))
        )
        elapsed = time.perf_counter() - started
    latencies = [x for r in results for x in r]
    return {
        "users": users,
        "messages": len(latencies),
        "throughput_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
    }


# Messages per conversation in the second 1-user run: a long conversation costs Rasa more per
# message (it loads and replays the whole session each time); real ones are short.
CONVERSATION = 20
INIT_QUESTIONS = ["hello", "I am sad", "yes", "are you a bot?", "great", "goodbye"]
INIT_DIR = ROOT / "var" / "bench" / "rasa_init"


def prepare_rasa_init() -> Path:
    """Rasa's own `rasa init` assistant, trained once into var/bench/rasa_init."""
    bin_dir = Path(sys.executable).parent
    if not list((INIT_DIR / "models").glob("*.tar.gz")):
        INIT_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(bin_dir / "rasa"), "init", "--no-prompt", "--init-dir", "."],
                       cwd=INIT_DIR, check=True, stdout=subprocess.DEVNULL)
    return sorted((INIT_DIR / "models").glob("*.tar.gz"))[-1]


def bench_rasa_init(args: argparse.Namespace) -> dict[str, float]:
    """The same measurements on `rasa init`'s assistant, in the same run."""
    bin_dir = Path(sys.executable).parent
    model = prepare_rasa_init()
    env = dict(os.environ, SANIC_HOST="127.0.0.1", TF_CPP_MIN_LOG_LEVEL="2")
    (INIT_DIR / "endpoints.yml").write_text(
        'action_endpoint:\n  url: "http://127.0.0.1:5965/webhook"\n')
    logs = open(INIT_DIR / "bench.log", "ab")  # noqa: SIM115
    started = time.monotonic()
    procs = [
        subprocess.Popen([str(bin_dir / "rasa"), "run", "actions", "--port", "5965"],
                         cwd=INIT_DIR, env=env, stdout=logs, stderr=logs, start_new_session=True),
        subprocess.Popen([str(bin_dir / "rasa"), "run", "--model", str(model), "--port", "5915",
                          "--interface", "127.0.0.1", "--endpoints", "endpoints.yml"],
                         cwd=INIT_DIR, env=env, stdout=logs, stderr=logs, start_new_session=True),
    ]
    try:
        if not wait_http("http://127.0.0.1:5915/", 300, procs[1]):
            raise RuntimeError("rasa init's server did not start")
        startup = time.monotonic() - started
        url = "http://127.0.0.1:5915/webhooks/rest/webhook"
        pids = {"rasa": procs[1].pid, "actions": procs[0].pid}
        single = measure_cpu(url, 1, args.messages, pids, INIT_QUESTIONS)
        short = measure_cpu(url, 1, args.messages, pids, INIT_QUESTIONS, CONVERSATION)
        many = measure_cpu(url, 20, args.per_user, pids, INIT_QUESTIONS)
        memory = rss_mb(procs[1].pid)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
    return {"startup_s": startup, "rss_mb": memory, "one_user": single,
            "one_user_short": short, "twenty_users": many}


def summarize_profile(collapsed: Path, top: int = 15) -> str:
    """Top entries of a py-spy collapsed-stack file: inclusive share per function (a function
    counted once per sample) and self share (the innermost frame)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return "no samples"
    lines = [f"{total} samples of the Rasa process's thread holding the GIL (py-spy --gil)",
             "inclusive (share of busy samples with the function on the stack):"]
    skip = ("<module>", "run (", "_run_once", "run_forever", "run_until_complete", "_run (",
            "main (", "serve_forever", "start (")
    ranked = [(n, f) for f, n in inclusive.items() if not f.startswith(skip)]
    for n, f in sorted(ranked, reverse=True)[:top]:
        lines.append(f"  {100 * n / total:5.1f} %  {f}")
    lines.append("self (innermost frame):")
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f} %  {f}")
    return "\n".join(lines)


def profile_during(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy on the Rasa process (collapsed stacks): only the thread holding the GIL, the one
    that limits the server. Without ``--gil``, a thread waiting inside C code (an idle executor
    thread, the event loop in uvloop) is sampled as busy under its last Python frame."""
    py_spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(py_spy), "record", "--pid", str(pid), "--duration", str(int(seconds)),
         "--rate", "100", "--gil", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200, help="messages for the 1-user run")
    parser.add_argument("--per-user", type=int, default=30, help="messages per concurrent user")
    parser.add_argument("--no-compare", action="store_true", help="skip rasa init's assistant")
    parser.add_argument("--profile", nargs="?", const="twenty", choices=["one", "twenty"],
                        help="py-spy the Rasa server during the 1- or 20-user run (default 20); "
                             "print its top entries")
    args = parser.parse_args(argv)
    # stopped with SIGTERM (timeout, kill): stop the servers it started too (`finally`)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    init = None if args.no_compare else bench_rasa_init(args)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            rasa_port=5905, action_port=5955, console_port=8905,
            database_url=f"sqlite:///{tmp}/bench.db", var_dir=Path(tmp),
        )  # fmt: skip
        # the servers' capacity: the abuse limits (bot/abuse.py) would refuse one user sending
        # 200 messages without a pause; `make bench-flood` measures the limits themselves
        os.environ["ABUSE_LIMITS"] = "off"
        stack = Stack(settings, log_dir=Path(tmp) / "logs", console=False)
        started = time.monotonic()
        stack.start(timeout=300)
        startup = time.monotonic() - started
        try:
            url = f"{settings.rasa_url}/webhooks/rest/webhook"
            rasa_pid = next(p.pid for name, p in stack.procs if name == "rasa")
            actions_pid = next(p.pid for name, p in stack.procs if name == "actions")
            pids = {"rasa": rasa_pid, "actions": actions_pid}
            collapsed = ROOT / "var" / "profile.txt"
            collapsed.parent.mkdir(exist_ok=True)
            spy = profile_during(rasa_pid, 20, collapsed) if args.profile == "one" else None
            single = measure_cpu(url, 1, args.messages, pids)
            short = measure_cpu(url, 1, args.messages, pids, conversation=CONVERSATION)
            if args.profile == "twenty":
                spy = profile_during(rasa_pid, 20, collapsed)
            many = measure_cpu(url, 20, args.per_user, pids)
            if spy is not None:
                spy.wait(timeout=120)
            memory = rss_mb(rasa_pid)
            actions_memory = rss_mb(actions_pid)
        finally:
            stack.stop()
    ours = {"startup_s": startup, "rss_mb": memory, "one_user": single,
            "one_user_short": short, "twenty_users": many}

    def cells(r: dict) -> list[str]:
        return [
            f"{r['startup_s']:.1f} s",
            f"{r['rss_mb']:.0f} MB",
            f"{r['one_user']['p50_ms']:.0f} / {r['one_user']['p95_ms']:.0f} ms",
            f"{r['one_user_short']['p50_ms']:.0f} / {r['one_user_short']['p95_ms']:.0f} ms",
            f"{r['twenty_users']['p50_ms']:.0f} / {r['twenty_users']['p95_ms']:.0f} ms",
            f"{r['twenty_users']['throughput_per_s']:.1f} msg/s",
            f"{r['one_user']['rasa_cpu_ms']:.1f} ms",
            f"{r['twenty_users']['rasa_cpu_ms']:.1f} ms",
            f"{r['twenty_users']['actions_cpu_ms']:.1f} ms",
        ]

    names = ["startup (server ready)", "Rasa server memory (RSS)",
             f"1 user p50 / p95, {args.messages} msgs in 1 conv.",
             f"1 user p50 / p95, conv. of {CONVERSATION}",
             "20 users p50 / p95", "20 users throughput", "Rasa CPU/msg, 1 user",
             "Rasa CPU/msg, 20 users", "actions CPU/msg, 20 users"]
    ours_cells = cells(ours)
    init_cells = cells(init) if init else ["-"] * len(names)
    print(f"{'measure':34} {'this assistant':>18} {'rasa init':>18}")
    for name, a, b in zip(names, ours_cells, init_cells, strict=True):
        print(f"{name:34} {a:>18} {b:>18}")
    print(f"{'action server memory':34} {actions_memory:>15.0f} MB")
    if init:
        ratio = ours["twenty_users"]["throughput_per_s"] / init["twenty_users"]["throughput_per_s"]
        print(f"throughput ratio (this / rasa init, 20 users): {ratio:.2f}")
    if args.profile:
        print(summarize_profile(ROOT / "var" / "profile.txt"))
    out = ROOT / "var" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"ours": ours, "actions_rss_mb": actions_memory,
                               "rasa_init": init}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
