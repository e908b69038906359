#!/usr/bin/python3
"""Redis fault tolerance, end to end: Redis crashed (SIGKILL) and restarted during the job, by
the coordinator on schedule and by this test at random moments, workers SIGKILLed too, BGSAVE
slowed and its child killed, BUSY provoked, connections cut mid-commit, Redis restarted empty
or not at all. Every run's full counts must equal `wordcount serial` byte for byte.

Every test runs in the MODE given by --mode (direct or shuffle; CTest runs the suite in both).

usage: chaos_test.py --wordcount BUILD/wordcount [--mode shuffle] [--seeds 1,2,3] [--aof-seeds 4] [-k NAME]
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import job_test as jt  # noqa: E402


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def embedded_redis(coordinator):
    return [p for p in children(coordinator) if cmdline(p).startswith(b"redis-server")]


def chaos_run(tmp, seed, persistence="rdb"):
    """One chaos run; returns the coordinator's stderr summary."""
    rng = random.Random(seed)
    # (shuffle is fast enough to finish 4000-row files before the first scheduled crash)
    data = jt.gen(tmp, 12, 4000 if jt.MODE != "shuffle" else 10000, seed=seed)
    cfg = jt.config(tmp, N_NORMAL_WORKERS=3, N_CRASHING_WORKERS=1, N_SLEEPING_WORKERS=0, CLAIM_IDLE_MS=400,
                    CHUNK_BYTES=100000, COMMIT_MAX_TASKS=3, CHECKPOINT_INTERVAL=0.2,
                    REDIS_RESTART_INTERVAL=rng.uniform(1.0, 1.5), REDIS_DOWNTIME=0.2, REDIS_RETRY_SECONDS=30,
                    PERSISTENCE=persistence, REDIS_ARGS=["--rdb-key-save-delay", "10000"])
    p, out = jt.start_run(tmp, cfg, data)
    kills = {"worker": 0, "redis": 0}
    deadline = time.time() + 90
    # One outside kill of Redis once work is committed, whatever the seed draws: a forced crash
    # waits until a checkpoint holds some of its window's work, and a short job may end first.
    while p.poll() is None and time.time() < deadline and not any(
            " commit " in l or " map task=" in l for l in jt.log_lines(tmp)):
        time.sleep(0.02)
    for pid in embedded_redis(p.pid):
        os.kill(pid, signal.SIGKILL)
        kills["redis"] += 1
    while p.poll() is None and time.time() < deadline:
        time.sleep(rng.uniform(0.05, 0.4))
        r = rng.random()
        if r < 0.5:
            pids = jt.worker_pids(p.pid)
            if pids:
                os.kill(rng.choice(pids), signal.SIGKILL)
                kills["worker"] += 1
        elif r < 0.7:
            for pid in embedded_redis(p.pid):  # an outside kill -9: supervision restarts it
                os.kill(pid, signal.SIGKILL)
                kills["redis"] += 1
    rc, _, stderr = jt.finish(p, timeout=120)
    jt.expect(rc == 0, f"seed {seed}: exit {rc}: {stderr[-3000:]}")
    jt.expect(jt.read(out) == jt.serial(tmp, data), f"seed {seed}: counts differ from serial; kills {kills}")
    jt.expect("survived" in stderr, stderr)
    return stderr, kills


def make_seed_test(seed, persistence="rdb"):
    def test(tmp):
        stderr, kills = chaos_run(tmp, seed, persistence)
        summary = [l for l in stderr.splitlines() if l.startswith("survived")][0]
        restarts = int(summary.split()[1])
        jt.expect(restarts >= 1, f"no Redis restart happened: {summary}")
        print(f"     seed {seed} {persistence} {jt.MODE}: {summary}; test kills {kills}")
    return test


def test_bgsave_child_killed_and_checkpoint_failure_logged(tmp):
    data = jt.gen(tmp, 8, 3000)
    cfg = jt.config(tmp, N_NORMAL_WORKERS=2, CHECKPOINT_INTERVAL=0.1, CHUNK_BYTES=100000, COMMIT_MAX_TASKS=2,
                    REDIS_ARGS=["--rdb-key-save-delay", "300000"])
    p, out = jt.start_run(tmp, cfg, data)
    killed = 0
    deadline = time.time() + 30
    while p.poll() is None and time.time() < deadline and killed < 3:
        for r in embedded_redis(p.pid):
            for child in children(r):  # the BGSAVE child (redis-rdb-bgsave)
                os.kill(child, signal.SIGKILL)
                killed += 1
        time.sleep(0.05)
    rc, _, stderr = jt.finish(p)
    jt.expect(rc == 0, f"exit {rc}: {stderr}")
    jt.expect(killed >= 1, "no BGSAVE child was caught")
    jt.expect(any("checkpoint_failed" in l for l in jt.log_lines(tmp)), "the failed checkpoint was not logged")
    jt.expect(jt.read(out) == jt.serial(tmp, data), "counts differ from serial")


def test_direct_busy_scripts_are_retried(tmp):
    # Direct mode only: its commits are the long scripts. Shuffle mode's functions touch a few
    # keys each and never come near a busy threshold; its big writes are plain pipelined ZADDs.
    data = jt.gen(tmp, 6, 4000)
    with jt.Redis(tmp) as r:
        r.cli("CONFIG", "SET", "busy-reply-threshold", "1")  # every commit longer than 1 ms: BUSY for others
        cfg = jt.config(tmp, N_NORMAL_WORKERS=3, CHUNK_BYTES=200000)
        # Whether another call comes while a commit runs is timing: up to three runs (each exact).
        for attempt in range(3):
            r.cli("FLUSHALL")
            p, out = jt.start_run(tmp, cfg, data, "--redis", r.url)
            rc, _, stderr = jt.finish(p)
            jt.expect(rc == 0, f"exit {rc}: {stderr}")
            jt.expect(jt.read(out) == jt.serial(tmp, data), "counts differ from serial")
            if any("BUSY" in l for l in jt.log_lines(tmp)):
                break
        jt.expect(any("BUSY" in l for l in jt.log_lines(tmp)), "no client ever met BUSY: the test proves nothing")


def test_connections_cut_mid_commit(tmp):
    data = jt.gen(tmp, 8, 3000)
    r = jt.Redis(tmp)
    stop = threading.Event()
    cuts = [0]

    def cutter():
        rng = random.Random(3)
        while not stop.is_set():
            out = r.cli("CLIENT", "KILL", "TYPE", "normal").strip()
            if out.isdigit():
                cuts[0] += int(out)
            time.sleep(rng.uniform(0.05, 0.3))

    t = threading.Thread(target=cutter)
    try:
        # Small commits, so that some finish between cuts and some are cut in the middle.
        cfg = jt.config(tmp, N_NORMAL_WORKERS=3, CHUNK_BYTES=80000, COMMIT_MAX_TASKS=2, COMMIT_MAX_WORDS=20000)
        t.start()
        # How many cuts land in one run is timing (a shuffle run can end in 0.6 s): up to four
        # runs, each exact, until enough connections were cut.
        for attempt in range(4):
            while r.cli("FLUSHALL").strip() != "OK":  # the cutter may cut this call too
                time.sleep(0.01)
            p, out = jt.start_run(tmp, cfg, data, "--redis", r.url)
            rc, _, stderr = jt.finish(p)
            jt.expect(rc == 0, f"exit {rc}: {stderr}")
            jt.expect(jt.read(out) == jt.serial(tmp, data), "counts differ from serial")
            if cuts[0] >= 5:
                break
        stop.set()
        t.join()
        jt.expect(cuts[0] >= 5, f"only {cuts[0]} connections cut")
        # Regression: reconnects went unnoticed, so workers never re-read their own history.
        jt.expect(any(" reconnect " in l for l in jt.log_lines(tmp)), "no reconnect was logged")
    finally:
        stop.set()
        r.stop()


def test_redis_restarted_empty_recreates_the_job(tmp):
    data = jt.gen(tmp, 10, 3000)
    with jt.Redis(tmp) as r:
        cfg = jt.config(tmp, N_NORMAL_WORKERS=1, N_SLEEPING_WORKERS=1, CHUNK_BYTES=100000, COMMIT_MAX_TASKS=2,
                        REDIS_RETRY_SECONDS=30)
        p, out = jt.start_run(tmp, cfg, data, "--redis", r.url)
        time.sleep(1.0)
        rc, stderr = wipe_redis_and_finish(tmp, p, r)
        jt.expect(rc == 0, f"exit {rc}: {stderr}")
        jt.expect(any("job_lost" in l for l in jt.log_lines(tmp)), "job re-creation not logged")
        jt.expect(jt.read(out) == jt.serial(tmp, data), "counts differ from serial")


def test_shuffle_redis_restarted_empty_in_the_reduce_phase(tmp):
    # One sleeping worker: every task takes a second, so the test can wipe Redis while the
    # reduce tasks run. The coordinator must create the job again and run both phases again.
    data = jt.gen(tmp, 2, 1000)
    with jt.Redis(tmp) as r:
        cfg = jt.config(tmp, PARTITIONS=3, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=1, REDIS_RETRY_SECONDS=30)
        p, out = jt.start_run(tmp, cfg, data, "--redis", r.url)
        deadline = time.time() + 20
        while p.poll() is None and time.time() < deadline and not any("reduce_phase" in l for l in jt.log_lines(tmp)):
            time.sleep(0.02)
        jt.expect(any("reduce_phase" in l for l in jt.log_lines(tmp)), "the reduce phase did not begin")
        time.sleep(0.3)
        rc, stderr = wipe_redis_and_finish(tmp, p, r)
        jt.expect(rc == 0, f"exit {rc}: {stderr}")
        lines = jt.log_lines(tmp)
        jt.expect(any("job_lost" in l for l in lines), "job re-creation not logged")
        jt.expect(sum("reduce_phase" in l for l in lines) == 2, "the reduce phase did not run again")
        jt.expect(jt.read(out) == jt.serial(tmp, data), "counts differ from serial")


def wipe_redis_and_finish(tmp, p, r):
    """SIGKILLs Redis and starts an empty one (another directory: no checkpoint) on the same
    port; returns the run's (exit code, stderr) once it ends. The empty server is stopped."""
    port = r.port
    r.stop()
    fresh = start_redis_on(tmp, port)
    try:
        rc, _, stderr = jt.finish(p)
    finally:
        fresh.kill()
        fresh.wait()
    return rc, stderr


def start_redis_on(tmp, port):
    d = os.path.join(tmp, "redis-empty")
    os.makedirs(d, exist_ok=True)
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", d, "--logfile", "redis.log"], stdout=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True).stdout.strip() == "PONG":
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def tcp_listeners(pid):
    """The TCP ports process `pid` listens on (its sockets in LISTEN state, IPv4 and IPv6)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as fh:
                for line in fh.readlines()[1:]:
                    f = line.split()
                    if f[3] == "0A" and f[9] in inodes:
                        ports.add(int(f[1].split(":")[1], 16))
        except OSError:
            pass
    return ports


def test_direct_no_local_user_can_take_the_embedded_redis_port(tmp):
    # Held-out pass: while the embedded Redis was down for a forced restart, another local user
    # bound its loopback port and received `AUTH <password>` from every reconnecting process.
    # The embedded Redis now listens on a unix socket in the job's 0700 state directory and on
    # no TCP port: no other user can connect to it, let alone stand in for it. Each embedded
    # redis-server is checked for TCP listeners while it runs; whenever the endpoint names a TCP
    # port and Redis is down, a listener of another user takes that port for 0.3 s. (Direct mode
    # only: the embedded Redis is the same in both modes.)
    # (long enough for two forced restarts, REDIS_RESTART_INTERVAL being at least 1 s)
    data = jt.gen(tmp, 30, 4000)
    cfg = jt.config(tmp, N_NORMAL_WORKERS=2, CHUNK_BYTES=100000, COMMIT_MAX_TASKS=2, CHECKPOINT_INTERVAL=0.1,
                    REDIS_RESTART_INTERVAL=1.0, REDIS_DOWNTIME=0.3, REDIS_RETRY_SECONDS=30)
    p, out = jt.start_run(tmp, cfg, data)
    listening, received, squats, seen = set(), b"", 0, set()
    state = os.path.join(tmp, "state")
    deadline = time.time() + 90
    while p.poll() is None and time.time() < deadline:
        servers = embedded_redis(p.pid)
        for pid in servers:
            seen.add(pid)
            listening |= tcp_listeners(pid)
        try:
            job = [d for d in os.listdir(state) if d.startswith("job-")][0]
            with open(os.path.join(state, job, "endpoint")) as fh:
                address = fh.read().split()[0]
        except (OSError, IndexError):
            address = ""
        if not servers and address.isdigit() and squats < 3:
            bound, got = jt.squat(int(address), 0.3)
            squats += bound
            received += got
        time.sleep(0.01)
    rc, _, stderr = jt.finish(p)
    jt.expect(rc == 0, f"exit {rc}: {stderr}")
    jt.expect(len(seen) >= 2, f"only {len(seen)} embedded redis-server seen: no restart to squat")
    jt.expect(b"AUTH" not in received.upper(), f"another user's listener received {received[:200]!r}")
    jt.expect(squats == 0, f"another user took the embedded Redis's port {squats} times")
    jt.expect(not listening, f"the embedded Redis listened on TCP ports {sorted(listening)}")
    jt.expect(jt.read(out) == jt.serial(tmp, data), "counts differ from serial")


def test_redis_down_longer_than_the_retry_limit(tmp):
    data = jt.gen(tmp, 6, 3000)
    with jt.Redis(tmp) as r:
        cfg = jt.config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=2, REDIS_RETRY_SECONDS=2)
        p, _ = jt.start_run(tmp, cfg, data, "--redis", r.url)
        time.sleep(1.0)
        r.stop()
        t0 = time.time()
        rc, _, stderr = jt.finish(p, timeout=60)
        jt.expect(rc == 4, f"exit {rc}, wanted 4: {stderr}")
        jt.expect("Redis unavailable" in stderr, stderr)
        jt.expect(time.time() - t0 < 20, f"took {time.time() - t0:.1f} s to give up")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordcount", required=True)
    ap.add_argument("--mode", choices=["direct", "shuffle"], default="direct")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--aof-seeds", default="4")
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    jt.WC = os.path.abspath(args.wordcount)
    jt.MODE = args.mode
    tests = [(n, f) for n, f in sorted(globals().items())
             if n.startswith("test_") and not n.startswith("test_direct_" if args.mode == "shuffle" else "test_shuffle_")]
    tests += [(f"test_chaos_rdb_seed_{s}", make_seed_test(int(s))) for s in args.seeds.split(",") if s]
    tests += [(f"test_chaos_aof_seed_{s}", make_seed_test(int(s), "aof")) for s in args.aof_seeds.split(",") if s]
    return jt.run_tests(tests, args.k, f"wc_chaos_{args.mode}_")

if __name__ == "__main__":
    sys.exit(main())
