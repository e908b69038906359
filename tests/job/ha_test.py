#!/usr/bin/python3
"""Replicated Redis (REDIS_HA "sentinel"), end to end: the embedded primary, its replicas and
three Sentinels are real redis-server processes. Both modes: a Sentinel and a replica SIGKILLed
(the coordinator restarts them), then the primary SIGKILLed mid-map and again mid-reduce
(direct mode: twice while counting), `status` showing the roles and the secrets private
meanwhile. Direct suite only (about the deployment, not the mode): the coordinator killing the
primary on schedule (REDIS_RESTART_INTERVAL); a failover Sentinel makes while the old primary
stays up (SENTINEL FAILOVER), then the coordinator SIGKILLed and rerun with AOF. Every run's
full counts must equal `wordcount serial` byte for byte, every failover must be logged and
counted in the summary, and the password must never be on a command line.

usage: ha_test.py --wordcount BUILD/wordcount [--mode shuffle] [-k NAME]
"""
import argparse
import glob
import json
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import job_test as jt  # noqa: E402


def ha_config(tmp, **keys):
    base = dict(REDIS_HA="sentinel", SENTINEL_DOWN_AFTER_MS=1000, REDIS_DOWNTIME=0.2, REDIS_RETRY_SECONDS=60,
                CLAIM_IDLE_MS=2000, CHECKPOINT_INTERVAL=1)
    base.update(keys)
    return jt.config(tmp, **base)


def state_dir(tmp):
    dirs = glob.glob(os.path.join(tmp, "state", "job-*"))
    return dirs[0] if dirs else None


def password(tmp):
    with open(os.path.join(state_dir(tmp), "password")) as fh:
        return fh.read().strip()


def role(port, pw):
    p = subprocess.run([jt.REDIS_CLI, "-p", str(port), "--no-auth-warning", "ROLE"], capture_output=True, text=True,
                       env=dict(os.environ, REDISCLI_AUTH=pw), timeout=5)
    return p.stdout.split("\n")[0].strip()


def primary(tmp, timeout=30):
    """(port, pid) of the embedded primary, from the endpoint file, confirmed with ROLE."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(os.path.join(state_dir(tmp), "endpoint")) as fh:
                port, pid = (int(x) for x in fh.read().split())
            if role(port, password(tmp)) == "master":
                return port, pid
        except (OSError, ValueError, TypeError, subprocess.TimeoutExpired):
            pass
        time.sleep(0.05)
    raise AssertionError("no primary found")


def replicas_online(tmp):
    try:
        port, _ = primary(tmp, timeout=5)
        info = subprocess.run([jt.REDIS_CLI, "-p", str(port), "--no-auth-warning", "INFO", "replication"],
                              capture_output=True, text=True, env=dict(os.environ, REDISCLI_AUTH=password(tmp)),
                              timeout=5).stdout
        return info.count("state=online")
    except (AssertionError, OSError, subprocess.TimeoutExpired):
        return 0


def children(p):
    """[(pid, cmdline)] of the run's child processes (data servers, Sentinels, workers)."""
    return jt.children(p.pid)


def servers(p):
    """{"data": [(pid, port)], "sentinel": [(pid, port)]}: redis-server retitles itself
    "redis-server 127.0.0.1:PORT" (a Sentinel adds " [sentinel]")."""
    out = {"data": [], "sentinel": []}
    for pid, cmd in children(p):
        title = cmd.split(b"\0")[0].decode(errors="replace")
        if title.startswith("redis-server "):
            port = int(title.split()[1].rsplit(":", 1)[1])
            out["sentinel" if title.endswith("[sentinel]") else "data"].append((pid, port))
    return out


def events(tmp, name):
    return [l for l in jt.log_lines(tmp) if f" {name} " in l or l.endswith(f" {name}")]


def wait_for(cond, p, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if p.poll() is not None:
            raise AssertionError(f"run ended (exit {p.returncode}) before {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def accepted_commits(tmp):
    return len([l for l in jt.log_lines(tmp) if (" commit " in l and "result=accepted" in l) or " map " in l])


def run_exact(tmp, cfg, data, during=lambda p: None):
    """Runs the job, calls during(p) while it runs, and requires exit 0 and serial's counts.
    Returns the run's stderr."""
    p, out = jt.start_run(tmp, cfg, data)
    try:
        during(p)
        rc, _, stderr = jt.finish(p, timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    jt.expect(rc == 0, f"exit {rc}: {stderr[-3000:]}")
    jt.expect(jt.read(out) == jt.serial(tmp, data), "counts differ from serial")
    return stderr


def summary_failovers(stderr):
    """The failovers the run's summary counted ("...; N failover(s))")."""
    line = [l for l in stderr.splitlines() if l.startswith("survived")]
    jt.expect(line and " failover(s))" in line[0], f"no failover count in the summary: {stderr[-800:]}")
    return int(line[0].split(" failover(s))")[0].rsplit(" ", 1)[1])


def check_private_and_status(tmp, p, cfg):
    """While the job runs: no password on any command line of its processes, 0700 directories
    and 0600 configs, and `status` (embedded, and through --sentinel) showing the roles."""
    pw = password(tmp)
    with open(f"/proc/{p.pid}/cmdline", "rb") as fh:
        mine = fh.read()
    for _, cmd in [(p.pid, mine)] + children(p):
        jt.expect(pw.encode() not in cmd, f"password on a command line: {cmd!r}")
    found = servers(p)
    jt.expect(len(found["data"]) == 3 and len(found["sentinel"]) == 3,
              f"expected 3 data servers and 3 Sentinels: {found}")
    for d in glob.glob(os.path.join(state_dir(tmp), "ha", "*")):
        if os.path.isdir(d):
            jt.expect(stat.S_IMODE(os.stat(d).st_mode) == 0o700, f"{d} is not 0700")
        for f in glob.glob(os.path.join(d, "*.conf")):
            jt.expect(stat.S_IMODE(os.stat(f).st_mode) == 0o600, f"{f} is not 0600")
    st = subprocess.run([jt.WC, "status", "--config", cfg], capture_output=True, text=True)
    ha = [l for l in st.stdout.splitlines() if l.startswith("ha:")]
    jt.expect(st.returncode == 0 and ha and "2 replica(s), 3 of 3 Sentinels reachable" in ha[0],
              f"status: {st.returncode} {st.stdout} {st.stderr}")
    sentinels = events(tmp, "redis_started")[0].split("sentinels=")[1].split()[0]
    st = subprocess.run([jt.WC, "status", "--json", "--config", cfg, "--sentinel", sentinels, "--master-name",
                         "wordcount"], capture_output=True, text=True, env=dict(os.environ, WC_REDIS_PASSWORD=pw))
    jt.expect(st.returncode == 0, f"status --sentinel: {st.returncode} {st.stderr}")
    j = json.loads(st.stdout)
    jt.expect("id" in j["job"] and len(j["ha"]["replicas"]) == 2 and all(s["reachable"] for s in j["ha"]["sentinels"]),
              f"status --sentinel: {st.stdout}")


# ---------------------------------------------------------------------------------------------


def test_primary_sigkilled_mid_map_and_mid_reduce(tmp):
    # Sleeping workers (1 s per task) stretch both phases. At the first task: the roles in
    # `status`, the secrets, then a Sentinel and a replica SIGKILLed (the supervisor restarts
    # both); then the primary SIGKILLed, and again in the reduce phase (direct: later while
    # counting).
    data = jt.gen(tmp, 4, 1500)
    cfg = ha_config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=2, PARTITIONS=4, CHUNK_BYTES=100000,
                    COMMIT_MAX_TASKS=1)
    ports = []

    def faults(p):
        wait_for(lambda: events(tmp, "claim"), p, 60, "the first task")
        check_private_and_status(tmp, p, cfg)
        port0, _ = primary(tmp)
        sentinel_pid = servers(p)["sentinel"][0][0]
        replica_pid = [pid for pid, port in servers(p)["data"] if port != port0][0]
        os.kill(sentinel_pid, 9)
        os.kill(replica_pid, 9)
        wait_for(lambda: events(tmp, "sentinel_restarted") and events(tmp, "redis_restarted"), p, 30,
                 "the Sentinel and the replica restarted")
        wait_for(lambda: replicas_online(tmp) >= 2, p, 30, "both replicas online")
        port1, pid1 = primary(tmp)
        jt.expect(not events(tmp, "reduce_phase"), "the map phase ended before the first kill")
        os.kill(pid1, 9)
        wait_for(lambda: events(tmp, "failover"), p, 30, "the first failover")
        if jt.MODE == "shuffle":
            wait_for(lambda: events(tmp, "reduce_phase"), p, 60, "the reduce phase")
        else:
            seen = accepted_commits(tmp)
            wait_for(lambda: accepted_commits(tmp) >= seen + 2, p, 60, "two commits after the failover")
        # The first victim back as a replica and every replica online: the second crash hits a
        # whole cluster (Sentinel promotes only replicas that are in sync).
        wait_for(lambda: replicas_online(tmp) >= 2, p, 30, "both replicas online")
        port2, pid2 = primary(tmp)
        # The first victim may be the primary again: on a loaded machine Sentinel may fail over
        # on its own (a primary silent for SENTINEL_DOWN_AFTER_MS while it forks for a full
        # sync). Then the supervisor logged a second failover back to it.
        fails = [l for l in events(tmp, "failover") if "coordinator" in l and "no_primary_s=" in l]
        jt.expect(port2 != port1 or (len(fails) >= 2 and f"new=127.0.0.1:{port2} " in fails[-1]),
                  f"the primary did not change ({port1}): "
                  + "\n".join(l for l in jt.log_lines(tmp) if any(f" {e} " in l for e in (
                      "failover", "redis_restarted", "redis_crashed", "sentinel_restarted")))[-3000:])
        jt.expect(not events(tmp, "publish"), "the reduce phase ended before the second kill")
        os.kill(pid2, 9)
        ports.extend([port1, port2])

    stderr = run_exact(tmp, cfg, data, faults)
    port1, port2 = ports
    fail = [l for l in events(tmp, "failover") if "coordinator" in l and "no_primary_s=" in l]
    jt.expect(len(fail) >= 2, f"failovers not logged by the supervisor: {fail}")
    olds = [l.split("old=")[1].split()[0] for l in fail]
    jt.expect(f"127.0.0.1:{port1}" in olds and f"127.0.0.1:{port2}" in olds, f"old primaries: {olds}")
    seen_by_workers = [l for l in events(tmp, "failover") if "refused_s=" in l and "coordinator" not in l]
    jt.expect(seen_by_workers, "no worker logged the failover it went through")
    jt.expect(summary_failovers(stderr) == len(fail), f"summary counts {summary_failovers(stderr)}, log {len(fail)}")
    jt.expect(any("role=replica" in l for l in events(tmp, "redis_died")), "the replica's death was not seen")
    jt.expect(state_dir(tmp) is None, "state directory kept after the job")
    print(f"     {fail[0].split('failover ')[1]}; {fail[1].split('failover ')[1]}")


def test_direct_coordinator_kills_the_primary_on_schedule(tmp):
    # Sleeping workers (1 s per task, ~24 tasks): the job outlasts several crash intervals. Each
    # commit WAITs for a replica (COMMIT_WAIT_REPLICAS).
    data = jt.gen(tmp, 4, 2400, seed=3)
    cfg = ha_config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=2, PARTITIONS=4, CHUNK_BYTES=80000,
                    COMMIT_MAX_TASKS=2, REDIS_RESTART_INTERVAL=1.5, COMMIT_WAIT_REPLICAS=1)
    stderr = run_exact(tmp, cfg, data)
    commits = [l for l in jt.log_lines(tmp) if " commit " in l and "result=accepted" in l]
    jt.expect(commits and all(" replicas_acked=" in l for l in commits), f"commits without a WAIT: {commits[:3]}")
    jt.expect(any(" replicas_acked=1 " in l for l in commits), "no commit was acknowledged by a replica")
    crashes = events(tmp, "redis_crash")
    fails = [l for l in events(tmp, "failover") if "no_primary_s=" in l]
    story = "\n".join(l for l in jt.log_lines(tmp) if "coordinator" in l and any(
        f" {e} " in l for e in ("redis_crash", "failover", "redis_restarted", "redis_died", "primary_lost")))
    jt.expect(len(crashes) >= 2 and len(fails) >= 2, f"crashes {len(crashes)}, failovers {len(fails)}:\n{story}")
    jt.expect(all("role=primary" in l for l in crashes), crashes)
    restarted = events(tmp, "redis_restarted")
    jt.expect(restarted and all("role=replica" in l for l in restarted), f"restarts: {restarted}")
    jt.expect(summary_failovers(stderr) == len(fails), f"summary: {summary_failovers(stderr)}, log: {len(fails)}")
    times = [float(l.split("no_primary_s=")[1].split()[0]) for l in fails]
    print(f"     {len(crashes)} primary kills, {len(fails)} failovers, no primary for "
          f"{min(times):.2f}-{max(times):.2f} s each")


def test_direct_failover_with_the_old_primary_up_then_coordinator_sigkilled_and_rerun(tmp):
    # SENTINEL FAILOVER: the old primary stays up; its clients find it refusing writes
    # (NOREPLICAS once its replicas follow the new one) until Sentinel turns it into a replica
    # and closes their connections. Then the coordinator is SIGKILLed: with AOF the newest state
    # is on another node than the first primary's, and a rerun (normal workers: the worker mix
    # is not part of the job) must start the primary from it and resume the job.
    data = jt.gen(tmp, 4, 1500)
    cfg = ha_config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=2, COMMIT_MAX_TASKS=1, PERSISTENCE="aof",
                    CHUNK_BYTES=100000)
    p, out = jt.start_run(tmp, cfg, data)
    try:
        wait_for(lambda: events(tmp, "claim"), p, 60, "the first task")
        old, _ = primary(tmp)
        sentinel = events(tmp, "redis_started")[0].split("sentinels=")[1].split()[0].split(",")[0]
        r = subprocess.run([jt.REDIS_CLI, "-p", sentinel.rsplit(":", 1)[1], "--no-auth-warning", "SENTINEL", "FAILOVER",
                            "wordcount"], capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, REDISCLI_AUTH=password(tmp)))
        jt.expect(r.stdout.strip() == "OK", f"SENTINEL FAILOVER: {r.stdout} {r.stderr}")
        wait_for(lambda: events(tmp, "failover"), p, 30, "the failover")
        seen = accepted_commits(tmp)
        wait_for(lambda: accepted_commits(tmp) >= seen + 3, p, 60, "commits after the failover")
        time.sleep(1.2)  # appendfsync everysec
    finally:
        p.kill()
        p.wait()
    time.sleep(0.3)  # its servers, Sentinels and workers go with it (PDEATHSIG)
    fail = [l for l in events(tmp, "failover") if "coordinator" in l and "no_primary_s=" in l]
    jt.expect(fail and f"old=127.0.0.1:{old}" in fail[0], f"the supervisor's failover: {fail}")
    moved = [l for l in events(tmp, "failover") if "refused_s=" in l and "coordinator" not in l]
    jt.expect(moved, "no worker logged the failover it went through")
    cfg = ha_config(tmp, N_NORMAL_WORKERS=2, N_SLEEPING_WORKERS=0, COMMIT_MAX_TASKS=1, PERSISTENCE="aof",
                    CHUNK_BYTES=100000)
    run_exact(tmp, cfg, data)  # LOGFILE starts anew
    rerun = jt.log_lines(tmp)
    jt.expect(any(" job_resumed " in l for l in rerun), "the rerun did not resume the job")
    jt.expect(not any(" job_created " in l for l in rerun), "the rerun created the job again")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordcount", required=True)
    ap.add_argument("--mode", choices=["direct", "shuffle"], default="direct")
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    jt.WC, jt.MODE = os.path.abspath(args.wordcount), args.mode
    # test_direct_* are about the deployment, not the mode: they run with the direct suite.
    tests = [(n, f) for n, f in sorted(globals().items())
             if n.startswith("test_") and (args.mode == "direct" or not n.startswith("test_direct_"))]
    return jt.run_tests(tests, args.k, f"wc_ha_{args.mode}_")


if __name__ == "__main__":
    sys.exit(main())
