#!/usr/bin/python3
"""Multi-host scenarios of the distributed job on a network-namespace test bed (netbed.py):
Redis, the coordinator and two worker hosts on a private bridge; links cut and healed, Redis
SIGKILLed and restarted from its AOF, a slow lossy link, coordinators killed and rerun. Every
scenario compares the full `--out` counts with `wordcount serial --out` byte for byte.


usage: netbed_test.py --wordcount BUILD/wordcount [--mode direct|shuffle] [--only NAME[,NAME]]
                      [--keep]
Prints one line per scenario and `N passed, M failed`; exits 1 on any failure. Without
network namespaces (not root, no `ip netns add`) it prints a SKIP line and `0 passed, 0 failed`.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netbed  # noqa: E402
from netbed import BedError  # noqa: E402

WC = None
CLAIM_IDLE_MS = 1500
RETRY_SECONDS = 30
RUN_TIMEOUT = 90  # every run must end within this; a hung one is killed and the scenario fails
WORKER_EXIT_TIMEOUT = 30  # a remote worker must exit by itself within this after its job ended



class Failed(AssertionError):
    pass


def expect(cond, msg):
    if not cond:
        raise Failed(msg)


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def lines_of(path):
    try:
        with open(path, errors="replace") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


class Job:
    """One job of a scenario on a bed: its data (`wordcount gen`), the expected counts
    (`wordcount serial --out`), its config.json, the coordinator and the remote workers."""

    def __init__(self, bed, mode, name="job", seed=1, files=12, rows=3000, **config):
        self.bed, self.mode, self.name = bed, mode, name
        self.dir = os.path.join(bed.tmp, name)
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        subprocess.run([WC, "gen", "--files", str(files), "--rows", str(rows), "--seed", str(seed), self.data],
                       check=True, capture_output=True, timeout=60)
        serial = os.path.join(self.dir, "serial.txt")
        subprocess.run([WC, "serial", "-q", "--top", "0", "--out", serial, self.data], check=True,
                       capture_output=True, timeout=60)
        self.expected = read(serial)
        self.spill = os.path.join(bed.tmp, "spill")  # SPILL_DIR, shared by every host
        self.logfile = os.path.join(self.dir, "wc.log")  # the coordinator's LOGFILE
        self.config = {"LOGFILE": self.logfile, "MODE": mode, "CLAIM_IDLE_MS": CLAIM_IDLE_MS,
                       "REDIS_RETRY_SECONDS": RETRY_SECONDS, "SPILL_DIR": self.spill, "CHUNK_BYTES": 50000,
                       "COMMIT_MAX_TASKS": 4, "PARTITIONS": 6, "CHECKPOINT_INTERVAL": 1, "N_NORMAL_WORKERS": 1,
                       "N_CRASHING_WORKERS": 0, "N_SLEEPING_WORKERS": 0}
        self.config.update(config)
        self.cfg = os.path.join(self.dir, "config.json")
        with open(self.cfg, "w") as fh:
            json.dump(self.config, fh)
        self.workers = {}  # host name -> Popen
        self.runs = []

    # ---- processes

    def start_run(self, workers=1, out=None, label=None, cfg=None):
        """`wordcount run` on the coord host against the bed's Redis; workers=None: the
        config's N_* workers."""
        out = out or os.path.join(self.dir, "out.txt")
        label = label or f"{self.name}-run{len(self.runs) + 1}"
        argv = [WC, "run", "--config", cfg or self.cfg, "--redis", self.bed.redis_url(), "--mode", self.mode, "--data",
                os.path.join(self.data, "*.csv"), "--out", out]
        if workers is not None:
            argv += ["--workers", str(workers)]
        p = self.bed.host("coord").spawn(argv, env=self.bed.wc_env(), label=label)
        p.out = out
        self.runs.append(p)
        return p

    def consumer(self, host):
        return f"{host}-remote"  # never a name the coordinator gives its own workers (w1, w2, ...)

    def worker_log(self, host):
        return os.path.join(self.dir, f"{host}.events")

    def start_worker(self, host, slow=False, target_cli=False, via=None):
        """A remote worker on `host`: Redis, a name and the spill dir (the job's keys and settings
        come from Redis); `target_cli` workers keep every default, the others get the
        scenario's timing settings. `via`: (addr, port) of a proxy."""
        url = self.bed.redis_url(*via) if via else self.bed.redis_url()
        argv = [WC, "worker", "--redis", url, "--name", self.consumer(host), "--spill-dir", self.spill]
        if not target_cli:
            c = self.config
            argv += ["--stream", "files",
                     "--claim-idle-ms", c["CLAIM_IDLE_MS"], "--commit-max-tasks", c["COMMIT_MAX_TASKS"],
                     "--redis-retry-seconds", c["REDIS_RETRY_SECONDS"]]
        argv += ["--logfile", self.worker_log(host), "--quiet"]
        if slow:
            argv.append("--slow")
        p = self.bed.host(host).spawn(argv, env=self.bed.wc_env(), label=f"{self.name}-{host}")
        self.workers[host] = p
        return p

    def logs(self):
        """Every log of this job, for failure messages."""
        return ([self.logfile] + [p for p in self.runs] + [self.worker_log(h) for h in self.workers]
                + list(self.workers.values()))

    def log_lines(self):
        out = []
        for path in [self.logfile] + [self.worker_log(h) for h in self.workers]:
            out += lines_of(path)
        return out

    def any_log(self, needle):
        return any(needle in l for l in self.log_lines())

    # ---- waits and checks

    def alive(self, p):
        if p.poll() is not None:
            raise BedError(f"{p.label} exited early with {p.returncode}" + self.bed.tails(self.logs()))
        return True

    def wait_job_created(self, run):
        self.bed.wait_for(lambda: self.alive(run) and any("job_created" in l for l in lines_of(self.logfile)), 30,
                          "the job to be created", logs=self.logs())

    def finish(self, run, want_rc=0, exact=True):
        rc = self.bed.wait_exit(run, RUN_TIMEOUT, f"{run.label}", logs=self.logs())
        expect(rc == want_rc, f"{run.label} exited {rc}, wanted {want_rc}" + self.bed.tails(self.logs()))
        if exact:
            expect(os.path.exists(run.out), f"{run.label} wrote no --out file")
            expect(read(run.out) == self.expected, f"{run.label}: counts differ from serial"
                   + self.bed.tails(self.logs()))

    def workers_exit_by_themselves(self, hosts=None):
        for h in hosts or list(self.workers):
            p = self.workers[h]
            rc = self.bed.wait_exit(p, WORKER_EXIT_TIMEOUT, f"the worker on {h}", logs=[self.worker_log(h)])
            expect(rc == 0, f"the worker on {h} exited {rc}" + self.bed.tails([p, self.worker_log(h)]))
            expect(any("reason=done" in l for l in lines_of(self.worker_log(h))),
                   f"the worker on {h} did not end with reason=done" + self.bed.tails([self.worker_log(h)]))

    def phase(self):
        return self.bed.hget("files:job", "state")

    def held_kinds(self, host):
        """The kinds (map, reduce, or "" in direct mode) of the tasks `host`'s worker holds."""
        try:
            pend = self.bed.redis_cli("XPENDING", "files", "worker", "-", "+", "100", self.consumer(host))
        except BedError:
            return []
        kinds = []
        for entry in pend or []:
            try:
                rng = self.bed.redis_cli("XRANGE", "files", entry[0], entry[0])
                fields = rng[0][1]
                d = dict(zip(fields[0::2], fields[1::2]))
                # protocol v2 entries: task <n> (count or map, by the job's mode) or part <r>
                kinds.append("reduce" if "part" in d else ("map" if self.mode == "shuffle" else ""))
            except (BedError, IndexError, TypeError):
                pass
        return kinds

    def no_spill_left(self):
        left = os.listdir(self.spill) if os.path.isdir(self.spill) else []
        expect(not left, f"spill left behind in {self.spill}: {left}")


def cut_while_holding(bed, job, run, host, kind, down_for):
    """Cuts `host` off while its worker holds a task of `kind` ("" in direct mode), keeps it down
    `down_for` seconds, checks that its tasks were stolen meanwhile, heals it. Returns the
    number of tasks it held at the cut."""
    for _ in range(5):
        bed.wait_for(lambda: job.alive(run) and kind in job.held_kinds(host), 40,
                     f"the worker on {host} to hold a {kind or 'direct'} task", logs=job.logs(), interval=0.02)
        bed.link_down(host)
        t_cut = time.monotonic()
        held = job.held_kinds(host)  # it cannot commit now: what it holds stays held
        if kind in held:
            break
        bed.link_up(host)  # committed just before the cut: try again with its next task
    else:
        raise Failed(f"could not cut {host} while it held a {kind or 'direct'} task")
    try:
        stolen = bed.wait_for(lambda: job.bed.pending_of(job.consumer(host)) == 0 or None, down_for,
                              f"the tasks of the cut-off {host} to be stolen", logs=job.logs(), interval=0.1)
        remaining = down_for - (time.monotonic() - t_cut)
        if remaining > 0:
            time.sleep(remaining)  # the cut lasts `down_for` whatever happens meanwhile
    finally:
        bed.link_up(host)
    return len(held), stolen


# --------------------------------------------------------------------------------------------
# scenarios: fn(bed, mode) raises on failure; returns an optional note for the result line


def scenario_A(bed, mode):
    """remote workers only: `run --workers 0`, workers on w1/w2 started before the job exists."""
    bed.start_redis()
    job = Job(bed, mode)
    w1, w2 = job.start_worker("w1", target_cli=True), job.start_worker("w2", target_cli=True)
    # They must wait for a job, not exit because there is none.
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        for h, p in job.workers.items():
            expect(p.poll() is None, f"the worker on {h} exited ({p.returncode}) before any job existed"
                   + bed.tails([p, job.worker_log(h)]))
        time.sleep(0.05)
    run = job.start_run(workers=0)
    job.finish(run)
    job.workers_exit_by_themselves()
    job.no_spill_left()


def scenario_B(bed, mode):
    """a worker host cut off (link down) for 2 x CLAIM_IDLE_MS in the map phase, then healed."""
    bed.start_redis()
    job = Job(bed, mode)
    run = job.start_run(workers=0)
    job.wait_job_created(run)
    job.start_worker("w1", slow=True)  # slow: it holds each task for a second, long enough to cut
    job.start_worker("w2")
    held, _ = cut_while_holding(bed, job, run, "w1", "map" if mode == "shuffle" else "", 2 * CLAIM_IDLE_MS / 1000)
    job.finish(run)
    job.workers_exit_by_themselves()
    expect(job.any_log(" steal "), "no task was stolen from the cut-off worker")
    late = [l for l in lines_of(job.worker_log("w1")) if "result=duplicate" in l or "result=stale" in l]
    expect(late, "the cut-off worker's late acknowledgement was not rejected" + bed.tails([job.worker_log("w1")]))
    job.no_spill_left()
    return f"w1 held {held} task(s) at the cut"


def scenario_C(bed, mode):
    """the same cut during the reduce phase (shuffle only)."""
    bed.start_redis()
    job = Job(bed, mode)
    run = job.start_run(workers=0)
    job.wait_job_created(run)
    job.start_worker("w1", slow=True)
    job.start_worker("w2")
    bed.wait_for(lambda: job.alive(run) and job.phase() == "reduce", 40, "the reduce phase", logs=job.logs())
    held, _ = cut_while_holding(bed, job, run, "w1", "reduce", 2 * CLAIM_IDLE_MS / 1000)
    job.finish(run)
    job.workers_exit_by_themselves()
    expect(job.any_log(" steal "), "no task was stolen from the cut-off worker")
    late = [l for l in lines_of(job.worker_log("w1")) if " reduce " in l and "result=duplicate" in l]
    expect(late, "the cut-off reducer's late acknowledgement was not rejected" + bed.tails([job.worker_log("w1")]))
    job.no_spill_left()
    return f"w1 held {held} reduce task(s) at the cut"


def scenario_D(bed, mode):
    """the Redis host SIGKILLed mid-job and restarted from its own AOF."""
    bed.start_redis()
    job = Job(bed, mode)
    run = job.start_run(workers=0)
    job.wait_job_created(run)
    job.start_worker("w1", slow=True)  # keeps the job from ending before the crash
    job.start_worker("w2")
    bed.wait_for(lambda: job.alive(run) and job.any_log("result=accepted") and job.held_kinds("w1"), 40,
                 "accepted work while w1 holds a task", logs=job.logs(), interval=0.02)
    keys_before = bed.redis_cli("DBSIZE")
    bed.kill_redis(signal.SIGKILL)
    expect(not bed.redis_ping(), "Redis still answers after SIGKILL")
    time.sleep(1.0)  # downtime: everyone retries meanwhile
    bed.restart_redis()
    log = "\n".join(lines_of(bed.redis_log))
    expect("DB loaded from append only file" in log, "Redis did not restart from its AOF"
           + bed.tails([bed.redis_log]))
    try:
        job.finish(run)
    except Failed as e:
        raise Failed(str(e) + bed.tails([bed.redis_log])) from None
    job.workers_exit_by_themselves()
    job.no_spill_left()
    reconnects = sum(1 for l in job.log_lines() if " reconnect " in l)
    expect(reconnects >= 1, "nobody reconnected: the crash went unnoticed")
    return f"{keys_before} keys at the crash, {reconnects} reconnects"


def scenario_E(bed, mode):
    """a slow lossy link to w2 (tbf rate limit with a short queue + a delaying,
    connection-cutting proxy), which carries most of the job: the coordinator's own worker and
    w1 are sleeping workers (1 s per task)."""
    bed.start_redis()
    job = Job(bed, mode, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=1, CHUNK_BYTES=120000)
    w2 = bed.host("w2")
    px = bed.start_proxy("w2", 16379, delay_ms=20, jitter_ms=5, cut_prob=0.03, cut_window=20, max_cuts=4, seed=7)
    bed.slow("w2", rate="4mbit", latency="20ms")
    run = job.start_run(workers=None)
    job.wait_job_created(run)
    job.start_worker("w1", slow=True)
    job.start_worker("w2", via=(w2.addr, px.port))
    job.finish(run)
    job.workers_exit_by_themselves()
    job.no_spill_left()
    cuts, conns = px.count("cut"), px.count("open")
    expect(cuts >= 1, f"the proxy cut no connection ({conns} opened): the link was not lossy"
           + bed.tails([px.events_path]))
    w2_acks = sum(1 for l in lines_of(job.worker_log("w2")) if "result=accepted" in l)
    expect(w2_acks >= 1, "w2 got nothing acknowledged through the lossy link" + bed.tails([job.worker_log("w2")]))
    st = bed.link_stats("w2")
    return (f"proxy: {conns} connections, {cuts} cut; w2: {w2_acks} accepted acknowledgements; tbf: "
            f"{st['out'][0] // 1000} kB out ({st['out'][1]} dropped), {st['in'][0] // 1000} kB in "
            f"({st['in'][1]} dropped)")


def scenario_F(bed, mode):
    """a second `run` on the same keys is refused (exit 7, names the other job) while the first
    lives; the first then finishes exactly."""
    bed.start_redis()
    job = Job(bed, mode)
    first = job.start_run(workers=0)  # no workers yet: the first job waits, alive
    job.wait_job_created(first)
    cfg2 = os.path.join(job.dir, "config2.json")
    with open(cfg2, "w") as fh:
        json.dump(dict(job.config, LOGFILE=os.path.join(job.dir, "wc2.log")), fh)
    second = job.start_run(workers=0, out=os.path.join(job.dir, "out2.txt"), label="second-run", cfg=cfg2)
    rc = bed.wait_exit(second, 30, "the second run", logs=job.logs())
    text = "\n".join(lines_of(second.log))
    expect(rc == 7, f"the second run exited {rc}, wanted 7" + bed.tails([second]))
    meta = bed.redis_cli("HGETALL", "files:job") or []
    ids = [str(first.pid)] + [v for k, v in zip(meta[0::2], meta[1::2]) if k in ("id", "job", "job_id", "owner")]
    expect(any(i and i in text for i in ids), f"the refusal does not name the other job ({ids}): {text}")
    expect(first.poll() is None, "the first run died")
    job.start_worker("w1", target_cli=True)
    job.start_worker("w2", target_cli=True)
    job.finish(first)
    job.workers_exit_by_themselves()


def scenario_G(bed, mode):
    """the coordinator SIGKILLed mid-map: the remote workers finish the job alone; a rerun of
    the same `run` prints the result and leaves nothing behind."""
    bed.start_redis()
    job = Job(bed, mode, CHUNK_BYTES=16 << 20)  # 12 tasks, 1 s each on the slow workers
    job.start_worker("w1", slow=True, target_cli=True)
    job.start_worker("w2", slow=True, target_cli=True)
    run = job.start_run(workers=0)
    job.wait_job_created(run)
    bed.wait_for(lambda: job.alive(run) and (job.any_log(" counted ") or job.any_log(" map task=")), 40,
                 "the first counted task", logs=job.logs())
    expect(job.phase() in ("count", "map"), f"too late: state {job.phase()}")
    bed.kill(run, signal.SIGKILL)
    run.wait()
    bed.wait_for(lambda: bed.hget("files:job", "state") == "done", 60, "the workers to finish the job alone",
                 logs=job.logs(), interval=0.2)
    job.workers_exit_by_themselves()
    rerun = job.start_run(workers=0, out=os.path.join(job.dir, "out-rerun.txt"))
    job.finish(rerun)
    log = lines_of(job.logfile)
    expect(any("job_resumed" in l for l in log) or not any("job_created" in l for l in log),
           "the rerun created the job again instead of reading the result back" + bed.tails([job.logfile]))
    job.no_spill_left()


def scenario_H(bed, mode):
    """the coordinator SIGKILLed and rerun while work remains: the rerun resumes the job."""
    bed.start_redis()
    job = Job(bed, mode, CHUNK_BYTES=16 << 20)
    job.start_worker("w1", slow=True, target_cli=True)
    job.start_worker("w2", slow=True, target_cli=True)
    run = job.start_run(workers=0)
    job.wait_job_created(run)
    # The first task counted (or mapped): slow workers take 1 s per task, so most remain.
    bed.wait_for(lambda: job.alive(run) and (job.any_log(" counted ") or job.any_log(" map task=")), 40,
                 "the first counted task", logs=job.logs())
    bed.kill(run, signal.SIGKILL)
    run.wait()
    expect(bed.hget("files:job", "state") != "done", "the job was already done: nothing left to resume")
    rerun = job.start_run(workers=0, out=os.path.join(job.dir, "out-rerun.txt"))
    job.finish(rerun)
    expect(any("job_resumed" in l for l in lines_of(job.logfile)), "no job_resumed event in LOGFILE"
           + bed.tails([job.logfile]))
    job.workers_exit_by_themselves()
    job.no_spill_left()


def scenario_I(bed, mode):
    """a stalled reducer of job 1 must not touch job 2 (direct mode, other files, same Redis and
    keys) when it wakes up. The w1 host is paused in the middle of sending a reduce task's
    ZADDs: its worker SIGSTOPped and its link cut (a paused machine: neither the process nor
    its kernel sends anything; with SIGSTOP alone the kernel would still deliver what the
    worker had written to its socket). Job 1 finishes without it, job 2 runs to completion,
    then the host resumes (link up, SIGCONT)."""
    bed.start_redis()
    job1 = Job(bed, "shuffle", name="job1", seed=1)
    bed.slow("w1", rate="1mbit", latency="500ms")  # its ZADDs take seconds: time to pause it mid-way
    run1 = job1.start_run(workers=0)
    job1.wait_job_created(run1)
    w1 = job1.start_worker("w1", slow=True)  # slow: the last mapper, so it gets a reduce task
    job1.start_worker("w2")
    bed.wait_for(lambda: job1.alive(run1) and job1.phase() == "reduce" and "reduce" in job1.held_kinds("w1"), 40,
                 "w1 to hold a reduce task", logs=job1.logs(), interval=0.02)
    sent0 = bed.link_stats("w1")["out"][0]
    bed.wait_for(lambda: job1.alive(run1) and "reduce" in job1.held_kinds("w1")
                 and bed.link_stats("w1")["out"][0] - sent0 > 30000, 20, "w1 to be sending its reduce task's ZADDs",
                 logs=job1.logs(), interval=0.02)
    bed.link_down("w1")
    bed.kill(w1, signal.SIGSTOP)
    try:
        job1.finish(run1)
        job1.workers_exit_by_themselves(["w2"])
        job2 = Job(bed, "direct", name="job2", seed=2)
        run2 = job2.start_run(workers=1)
        job2.finish(run2)
    finally:
        bed.link_up("w1")
        if w1.poll() is None:
            bed.kill(w1, signal.SIGCONT)
    # The zombie runs on; whatever it does, job 2's counts in Redis must stay exact. Once it logs
    # job_changed, Redis has refused a write of its (STALEJOB/BADSTATE) on the connection that
    # carried the paused ZADDs, so those were all applied before; it then waits for a next job
    # (a worker without --job serves the jobs that come), so it is ended here.
    def changed():
        return w1.poll() is not None or any(" job_changed " in l for l in lines_of(job1.worker_log("w1")))
    bed.wait_for(changed, WORKER_EXIT_TIMEOUT, "the resumed reducer of job 1 to see its job replaced",
                 logs=[job1.worker_log("w1")], interval=0.1)
    late = [l for l in lines_of(job1.worker_log("w1")) if " late " in l]
    if w1.poll() is None:
        bed.kill(w1, signal.SIGTERM)
        bed.wait_exit(w1, WORKER_EXIT_TIMEOUT, "the resumed reducer of job 1", logs=[job1.worker_log("w1")])
    note = f"job 1's resumed reducer: {len(late)} late write(s) refused"
    dump = os.path.join(job2.dir, "redis-after.txt")
    bed.zdump("count", dump)
    got = read(dump)
    if got != job2.expected:
        a, b = set(got.splitlines()), set(job2.expected.splitlines())
        raise Failed(f"job 2's counts in Redis changed after job 1's stalled reducer resumed: {len(a - b)} "
                     f"lines differ ({note})" + bed.tails([job1.worker_log("w1")]))
    return note


SCENARIOS = [("A", "remote_workers_only", scenario_A, None),
             ("B", "worker_cut_in_map_phase", scenario_B, None),
             ("C", "worker_cut_in_reduce_phase", scenario_C, "shuffle"),
             ("D", "redis_sigkilled_restarted_from_aof", scenario_D, None),
             ("E", "slow_lossy_link", scenario_E, None),
             ("F", "second_run_refused", scenario_F, None),
             ("G", "coordinator_killed_workers_finish", scenario_G, None),
             ("H", "coordinator_killed_and_rerun", scenario_H, None),
             ("I", "stalled_reducer_vs_next_job", scenario_I, "shuffle")]


def main(scenarios=None, hosts=None):
    """Runs `scenarios` (default SCENARIOS: (letter, name, fn(bed, mode), only_mode)) on beds of
    `hosts` (default: netbed.Bed's)."""
    global WC
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordcount", required=True)
    ap.add_argument("--mode", choices=["direct", "shuffle"], default="direct")
    ap.add_argument("--only", default="", help="scenario letters or names, comma-separated")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir of failed scenarios")
    args = ap.parse_args()
    WC = os.path.abspath(args.wordcount)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    try:
        netbed.check_available()
    except netbed.Unavailable as e:
        print(f"SKIP netbed: network namespaces unavailable: {e}")
        print("0 passed, 0 failed")
        return 0
    passed, failed = 0, []
    t_all = time.time()
    try:
        passed = run_scenarios(args, only, failed, scenarios or SCENARIOS, hosts)
    except (KeyboardInterrupt, SystemExit) as e:  # SIGINT/SIGTERM: the bed is torn down already
        print(f"INTERRUPTED ({'SIGINT' if isinstance(e, KeyboardInterrupt) else e.code})", flush=True)
        print(f"{RESULTS['passed']} passed, {len(failed) + 1} failed")
        return 130 if isinstance(e, KeyboardInterrupt) else (e.code if isinstance(e.code, int) else 1)
    print(f"(total {time.time() - t_all:.1f} s)")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


RESULTS = {"passed": 0}


def run_scenarios(args, only, failed, scenarios, hosts=None):
    """Runs the selected scenarios, each on a bed of its own; returns how many passed."""
    passed = 0
    for letter, name, fn, only_mode in scenarios:
        label = f"{letter}_{name} ({args.mode})"
        if only and letter not in only and name not in only and f"{letter}_{name}" not in only:
            continue
        if only_mode and only_mode != args.mode:
            print(f"skip {label}: {only_mode} mode only", flush=True)
            continue
        t0 = time.time()
        bed = netbed.Bed(hosts=hosts, wordcount=WC) if hosts else netbed.Bed(wordcount=WC)
        try:
            with bed:
                try:
                    note = fn(bed, args.mode)
                except Exception as e:  # noqa: BLE001 - any failure of one scenario, the next runs
                    bed.keep_tmp = args.keep
                    failed.append(label)
                    detail = str(e) if isinstance(e, (Failed, BedError)) else traceback.format_exc()
                    print(f"FAIL {label} ({time.time() - t0:.1f} s)" + (f" [kept {bed.tmp}]" if args.keep else ""),
                          flush=True)
                    print("\n".join("     " + l for l in detail.splitlines()), flush=True)
                    continue
        except BedError as e:  # the bed itself could not be built or torn down
            failed.append(label)
            print(f"FAIL {label}: test bed: {e}", flush=True)
            continue
        passed += 1
        RESULTS["passed"] = passed
        print(f"ok   {label} ({time.time() - t0:.1f} s){': ' + note if note else ''}", flush=True)
    return passed


if __name__ == "__main__":
    sys.exit(main())
