#!/usr/bin/python3
"""Replicated Redis (REDIS_HA "sentinel"), end to end: the embedded primary, its replicas and
three Sentinels are real redis-server processes; the primary is SIGKILLed mid-map and
mid-reduce (direct mode: twice while counting) by this test, and on schedule by the coordinator
(REDIS_RESTART_INTERVAL). Every run's full counts must equal `wordcount serial` byte for byte,
every failover must be logged, and the password must never be on a command line.

usage: ha_test.py --wordcount BUILD/wordcount [--mode shuffle] [-k NAME]
"""
import argparse
import glob
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
    """Runs the job, calls during(p) while it runs, and requires exit 0 and serial's counts."""
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


# ---------------------------------------------------------------------------------------------


def test_primary_sigkilled_mid_map_and_mid_reduce(tmp):
    # Sleeping workers (1 s per task) stretch both phases; the test kills whichever server is the
    # primary at the first task, and again in the reduce phase (direct: later while counting).
    data = jt.gen(tmp, 6, 1500)
    cfg = ha_config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=2, PARTITIONS=4, CHUNK_BYTES=100000,
                    COMMIT_MAX_TASKS=1)
    ports = []

    def kill_primary_twice(p):
        wait_for(lambda: events(tmp, "claim"), p, 60, "the first task")
        port1, pid1 = primary(tmp)
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
        jt.expect(port2 != port1, "the primary did not change")
        os.kill(pid2, 9)
        ports.extend([port1, port2])

    run_exact(tmp, cfg, data, kill_primary_twice)
    port1, port2 = ports
    fail = [l for l in events(tmp, "failover") if "coordinator" in l and "no_primary_s=" in l]
    jt.expect(len(fail) >= 2, f"failovers not logged by the supervisor: {fail}")
    olds = [l.split("old=")[1].split()[0] for l in fail]
    jt.expect(f"127.0.0.1:{port1}" in olds and f"127.0.0.1:{port2}" in olds, f"old primaries: {olds}")
    seen_by_workers = [l for l in events(tmp, "failover") if "refused_s=" in l and "coordinator" not in l]
    jt.expect(seen_by_workers, "no worker logged the failover it went through")
    print(f"     {fail[0].split('failover ')[1]}; {fail[1].split('failover ')[1]}")


def test_direct_coordinator_kills_the_primary_on_schedule(tmp):
    # Sleeping workers (1 s per task, ~30 tasks): the job outlasts several crash intervals.
    data = jt.gen(tmp, 4, 3000, seed=3)
    cfg = ha_config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=2, PARTITIONS=4, CHUNK_BYTES=80000,
                    COMMIT_MAX_TASKS=2, REDIS_RESTART_INTERVAL=1.5)
    run_exact(tmp, cfg, data)
    crashes = events(tmp, "redis_crash")
    fails = [l for l in events(tmp, "failover") if "no_primary_s=" in l]
    story = "\n".join(l for l in jt.log_lines(tmp) if "coordinator" in l and any(
        f" {e} " in l for e in ("redis_crash", "failover", "redis_restarted", "redis_died", "primary_lost")))
    jt.expect(len(crashes) >= 2 and len(fails) >= 2, f"crashes {len(crashes)}, failovers {len(fails)}:\n{story}")
    jt.expect(all("role=primary" in l for l in crashes), crashes)
    restarted = events(tmp, "redis_restarted")
    jt.expect(restarted and all("role=replica" in l for l in restarted), f"restarts: {restarted}")
    times = [float(l.split("no_primary_s=")[1].split()[0]) for l in fails]
    print(f"     {len(crashes)} primary kills, {len(fails)} failovers, no primary for "
          f"{min(times):.2f}-{max(times):.2f} s each")


def test_direct_coordinator_sigkilled_after_a_failover_then_rerun_resumes(tmp):
    # After a failover the newest checkpoint is on another node than the first primary's: a rerun
    # must start the primary from it and resume the job (nothing acknowledged is counted again).
    data = jt.gen(tmp, 6, 2000)
    cfg = ha_config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=2, COMMIT_MAX_TASKS=1, CHECKPOINT_INTERVAL=0.2)
    p, out = jt.start_run(tmp, cfg, data)
    try:
        wait_for(lambda: events(tmp, "claim"), p, 60, "the first task")
        os.kill(primary(tmp)[1], 9)
        wait_for(lambda: events(tmp, "failover"), p, 30, "the failover")
        wait_for(lambda: any(" checkpoint " in l for l in jt.log_lines(tmp)[-50:]) and accepted_commits(tmp) >= 3, p,
                 60, "commits and a checkpoint after the failover")
    finally:
        p.kill()
        p.wait()
    time.sleep(0.3)  # its servers, Sentinels and workers go with it (PDEATHSIG)
    run_exact(tmp, cfg, data)
    lines = jt.log_lines(tmp)
    jt.expect(any(" job_resumed " in l for l in lines), "the rerun did not resume the job")
    jt.expect(not any(" job_created " in l for l in lines), "the rerun created the job again")


def test_direct_secrets_stay_private_and_status_finds_the_primary_through_sentinel(tmp):
    data = jt.gen(tmp, 4, 1500)
    cfg = ha_config(tmp, N_NORMAL_WORKERS=0, N_SLEEPING_WORKERS=1, CHUNK_BYTES=100000, PARTITIONS=2)

    def look(p):
        wait_for(lambda: events(tmp, "claim"), p, 60, "the first task")
        pw = password(tmp)
        # Every process of the job: coordinator, data servers, Sentinels, workers.
        pids = [p.pid] + [int(x) for x in open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()]
        names = []
        for pid in pids:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
            jt.expect(pw.encode() not in cmd, f"password on a command line: {cmd!r}")
            names.append(cmd.split(b"\0")[0])
        servers = [n for n in names if n.startswith(b"redis-server")]
        jt.expect(len(servers) == 6 and sum(n.endswith(b"[sentinel]") for n in servers) == 3,
                  f"expected 3 data servers and 3 Sentinels: {names}")
        for d in glob.glob(os.path.join(state_dir(tmp), "ha", "*")):
            jt.expect(stat.S_IMODE(os.stat(d).st_mode) == 0o700, f"{d} is not 0700")
            for f in glob.glob(os.path.join(d, "*.conf")):
                jt.expect(stat.S_IMODE(os.stat(f).st_mode) == 0o600, f"{f} is not 0600")
        started = events(tmp, "redis_started")[0]
        sentinels = started.split("sentinels=")[1].split()[0]
        env = dict(os.environ, WC_REDIS_PASSWORD=pw)
        st = subprocess.run([jt.WC, "status", "--json", "--config", cfg, "--sentinel", sentinels,
                             "--master-name", "wordcount"], capture_output=True, text=True, env=env)
        jt.expect(st.returncode == 0 and '"job"' in st.stdout, f"status: {st.returncode} {st.stderr}")

    run_exact(tmp, cfg, data, look)
    jt.expect(state_dir(tmp) is None, "state directory kept after the job")


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
