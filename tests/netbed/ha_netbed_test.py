#!/usr/bin/python3
"""Replicated Redis across hosts (netbed.py): a primary on r1, replicas on r2 and r3, a Sentinel
on each of them, the coordinator on coord and workers on w1, w2 and on r1 itself (on the
primary's side of a partition), all given only `--sentinel ... --master-name wc`. One run per
mode, its faults in turn:

  1. partition  mid-map (direct: mid-count), r1 (primary, its Sentinel, a worker) cut off from
                everyone for longer than the Sentinels' down-after and min-replicas-max-lag
                while its worker keeps trying to write: the majority side fails over, r1 refuses
                writes (NOREPLICAS); healed, r1 rejoins as a replica.
  2. kills      a Sentinel and a replica SIGKILLed (the replica restarted by hand, the Sentinel
                left dead); `status --sentinel` shows 1 replica and 2 of 3 Sentinels.
  3. kill       the primary SIGKILLed mid-reduce (direct: later while counting) with that
                Sentinel still dead: the other two fail over; the dead primary is restarted as
                a replica of the new one, the Sentinel restarted.

The full `--out` counts must equal `wordcount serial --out` byte for byte, the summary must
count the failovers, and nothing may hang (every run must end within RUN_TIMEOUT). The
Sentinels run with the embedded cluster's timers (redis/sentinel_cluster.h: SENTINEL DEBUG) and
failover-timeout 3 s.

usage: ha_netbed_test.py --wordcount BUILD/wordcount [--mode direct|shuffle] [--keep]
Without network namespaces (not root) it prints a SKIP line and `0 passed, 0 failed`.
"""
import json
import os
import secrets
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netbed import BedError  # noqa: E402
import netbed_test as nt  # noqa: E402  (its main runs these scenarios too; nt.WC is the binary)
from netbed_test import expect, lines_of, read  # noqa: E402

NAME = "wc"
DATA_PORT, SENTINEL_PORT = 6379, 26379
RUN_TIMEOUT = 150
HOSTS = ("r1", "r2", "r3", "coord", "w1", "w2")


def private_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


class Replicated:
    """Three data servers and three Sentinels on r1, r2, r3, one password (0600 config files)."""

    def __init__(self, bed, down_after_ms=1000, max_lag=3):
        self.bed, self.password = bed, secrets.token_hex(16)
        self.data, self.sentinel = {}, {}
        self.down_after_ms, self.max_lag = down_after_ms, max_lag
        primary = bed.host("r1").addr
        for h in ("r1", "r2", "r3"):
            d = os.path.join(bed.tmp, "ha", h)
            os.makedirs(d, mode=0o700)
            self.write_data_conf(h, None if h == "r1" else "r1")
            private_file(os.path.join(d, "sentinel.conf"), "\n".join([
                f"bind {bed.host(h).addr}", f"port {SENTINEL_PORT}", f"dir {d}", "logfile sentinel.log",
                f"requirepass {self.password}", f"sentinel monitor {NAME} {primary} {DATA_PORT} 2",
                f"sentinel auth-pass {NAME} {self.password}",
                f"sentinel down-after-milliseconds {NAME} {down_after_ms}",
                f"sentinel failover-timeout {NAME} 3000", f"sentinel parallel-syncs {NAME} 2"]) + "\n")
        for h in ("r1", "r2", "r3"):
            self.start_data(h)
        for h in ("r1", "r2", "r3"):
            self.start_sentinel(h)
        bed.wait_for(self.formed, 30, "the Sentinels to know every replica and each other", logs=self.logs())

    def dir(self, h):
        return os.path.join(self.bed.tmp, "ha", h)

    def write_data_conf(self, h, replica_of):
        conf = os.path.join(self.dir(h), "redis.conf")
        if os.path.exists(conf):
            os.unlink(conf)
        lines = [f"bind {self.bed.host(h).addr}", f"port {DATA_PORT}", "protected-mode yes", "daemonize no",
                 f"requirepass {self.password}", f"masterauth {self.password}", f"dir {self.dir(h)}",
                 "logfile redis.log", "appendonly no", 'save ""', "min-replicas-to-write 1",
                 f"min-replicas-max-lag {self.max_lag}", "repl-diskless-sync yes", "repl-diskless-sync-delay 0"]
        if replica_of:
            lines.append(f"replicaof {self.bed.host(replica_of).addr} {DATA_PORT}")
        private_file(conf, "\n".join(lines) + "\n")

    def start_data(self, h, replica_of=None):
        if replica_of:
            self.write_data_conf(h, replica_of)
        self.data[h] = self.bed.host(h).spawn(["redis-server", os.path.join(self.dir(h), "redis.conf")],
                                              label=f"redis-{h}")
        self.bed.wait_for(lambda: self.cli(h, DATA_PORT, "PING") == "PONG", 20, f"redis on {h}", logs=self.logs())

    def start_sentinel(self, h):
        self.sentinel[h] = self.bed.host(h).spawn(
            ["redis-server", os.path.join(self.dir(h), "sentinel.conf"), "--sentinel"], label=f"sentinel-{h}")
        self.bed.wait_for(lambda: self.cli(h, SENTINEL_PORT, "PING") == "PONG", 20, f"sentinel on {h}",
                          logs=self.logs())
        # The timers of the embedded cluster's Sentinels (redis/sentinel_cluster.h).
        self.cli(h, SENTINEL_PORT, "SENTINEL", "DEBUG", "publish-period", 1000, "info-period", 1000, "ask-period",
                 200, "tilt-period", 5000)

    def kill(self, proc):
        self.bed.kill(proc)
        proc.wait(timeout=10)

    def cli(self, h, port, *args, via="coord"):
        """One command to `h`:`port` from host `via` (default coord; "" replies on failure)."""
        try:
            p = self.bed.host(via if via else h).run(
                ["redis-cli", "-h", self.bed.host(h).addr, "-p", str(port)] + [str(a) for a in args],
                env={"REDISCLI_AUTH": self.password}, timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return p.stdout.strip()

    def named_primary(self, h, via="coord"):
        """The host the Sentinel on `h` names ("" if it does not answer)."""
        out = self.cli(h, SENTINEL_PORT, "SENTINEL", "get-master-addr-by-name", NAME, via=via).split("\n")
        addr = out[0] if out else ""
        return next((n for n in ("r1", "r2", "r3") if self.bed.host(n).addr == addr), "")

    def role(self, h, via="coord"):
        return self.cli(h, DATA_PORT, "ROLE", via=via).split("\n")[0]

    def primary(self):
        for h in ("r1", "r2", "r3"):
            p = self.named_primary(h)
            if p and self.role(p) == "master":
                return p
        return ""

    def formed(self):
        for h in ("r1", "r2", "r3"):
            info = self.cli(h, SENTINEL_PORT, "SENTINEL", "master", NAME).split("\n")
            d = dict(zip(info[0::2], info[1::2]))
            if d.get("num-slaves") != "2" or d.get("num-other-sentinels") != "2":
                return False
        return all(self.cli(h, DATA_PORT, "INFO", "replication").find("master_link_status:up") >= 0
                   for h in ("r2", "r3"))

    def replicas_online(self):
        """Replicas the primary counts as online (0 if there is none)."""
        p = self.primary()
        return self.cli(p, DATA_PORT, "INFO", "replication").count("state=online") if p else 0

    def sentinels(self):
        return ",".join(f"{self.bed.host(h).addr}:{SENTINEL_PORT}" for h in ("r1", "r2", "r3"))

    def logs(self):
        return [os.path.join(self.dir(h), f) for h in ("r1", "r2", "r3") for f in ("redis.log", "sentinel.log")]


class HaJob:
    """A job over the replicated Redis: data, expected counts, coordinator, remote workers."""

    def __init__(self, bed, ha, mode, files=6, rows=2000, partitions=4):
        self.bed, self.ha, self.mode = bed, ha, mode
        self.dir = os.path.join(bed.tmp, "job")
        os.makedirs(self.dir)
        self.data = os.path.join(self.dir, "data")
        subprocess.run([nt.WC, "gen", "--files", str(files), "--rows", str(rows), self.data], check=True,
                       capture_output=True, timeout=60)
        serial = os.path.join(self.dir, "serial.txt")
        subprocess.run([nt.WC, "serial", "-q", "--top", "0", "--out", serial, self.data], check=True,
                       capture_output=True, timeout=60)
        self.expected = read(serial)
        self.spill = os.path.join(bed.tmp, "spill")
        self.logfile = os.path.join(self.dir, "wc.log")
        self.cfg = os.path.join(self.dir, "config.json")
        with open(self.cfg, "w") as fh:
            json.dump({"LOGFILE": self.logfile, "MODE": mode, "CLAIM_IDLE_MS": 3000, "REDIS_RETRY_SECONDS": 60,
                       "SPILL_DIR": self.spill, "CHUNK_BYTES": 50000, "COMMIT_MAX_TASKS": 1, "PARTITIONS": partitions,
                       "CHECKPOINT_INTERVAL": 1}, fh)
        self.env = {"WC_REDIS_PASSWORD": ha.password}
        self.workers = {}
        self.out = os.path.join(self.dir, "out.txt")
        self.run = bed.host("coord").spawn(
            [nt.WC, "run", "--config", self.cfg, "--sentinel", ha.sentinels(), "--master-name", NAME, "--workers", "0",
             "--data", os.path.join(self.data, "*.csv"), "--out", self.out], env=self.env, label="run")

    def start_worker(self, host, slow=True):
        argv = [nt.WC, "worker", "--sentinel", self.ha.sentinels(), "--master-name", NAME, "--name", f"{host}-remote",
                "--spill-dir", self.spill, "--claim-idle-ms", "3000", "--redis-retry-seconds", "60",
                "--commit-max-tasks", "1", "--logfile", self.worker_log(host), "--quiet"]
        if slow:
            argv.append("--slow")
        self.workers[host] = self.bed.host(host).spawn(argv, env=self.env, label=f"worker-{host}")

    def worker_log(self, host):
        return os.path.join(self.dir, f"{host}.events")

    def logs(self):
        return [self.logfile, self.run] + [self.worker_log(h) for h in self.workers] + self.ha.logs()

    def lines(self):
        out = lines_of(self.logfile)
        for h in self.workers:
            out += lines_of(self.worker_log(h))
        return out

    def done_tasks(self):
        return sum(1 for l in self.lines() if "result=accepted" in l or " map task=" in l)

    def alive(self):
        if self.run.poll() is not None:
            raise BedError(f"run exited early with {self.run.returncode}" + self.bed.tails(self.logs()))
        return True

    def summary(self):
        """The run's summary line ("survived ...")."""
        return next((l for l in lines_of(self.run.log) if l.startswith("survived")), "")

    def finish(self):
        rc = self.bed.wait_exit(self.run, RUN_TIMEOUT, "the run", logs=self.logs())
        expect(rc == 0, f"run exited {rc}" + self.bed.tails(self.logs()))
        expect(read(self.out) == self.expected, "counts differ from serial" + self.bed.tails(self.logs()))
        for h, p in self.workers.items():
            wrc = self.bed.wait_exit(p, 60, f"the worker on {h}", logs=[self.worker_log(h)])
            expect(wrc == 0, f"the worker on {h} exited {wrc}" + self.bed.tails([p, self.worker_log(h)]))


def scenario_faults(bed, mode):
    ha = Replicated(bed)
    # Enough tasks (1 s each on 3 workers) for the map phase (direct: the counting) to outlast
    # the partition and the kills; 6 partitions make a reduce phase long enough to kill in.
    job = HaJob(bed, ha, mode, files=6, rows=1300, partitions=6)
    for h in ("w1", "w2", "r1"):
        job.start_worker(h)
    logs = job.logs
    bed.wait_for(lambda: job.alive() and job.done_tasks() >= 2, 60, "two tasks done", logs=logs())

    # 1. r1 (primary, Sentinel, worker) cut off past down-after and min-replicas-max-lag.
    expect(not any(" reduce_phase " in l for l in lines_of(job.logfile)), "the map phase ended before the cut")
    bed.link_down("r1")
    t_cut = time.monotonic()
    bed.wait_for(lambda: ha.named_primary("r2") in ("r2", "r3"), 30, "a failover on the majority side", logs=logs())
    failover_s = time.monotonic() - t_cut
    new = ha.named_primary("r2")
    bed.wait_for(lambda: "NOREPLICAS" in ha.cli("r1", DATA_PORT, "SET", "probe", "1", via="r1"), 20,
                 "the cut-off primary to refuse writes", logs=logs())
    time.sleep(1)  # its worker keeps trying meanwhile
    bed.link_up("r1")
    bed.wait_for(lambda: ha.role("r1") == "slave", 30, "r1 to rejoin as a replica", logs=logs())
    bed.wait_for(lambda: job.alive() and ha.replicas_online() == 2, 30, "both replicas online", logs=logs())

    # 2. A Sentinel and a replica SIGKILLed; the replica restarted, the Sentinel left dead.
    replica = next(h for h in ("r1", "r2", "r3") if h != new)
    dead_sentinel = next(h for h in ("r1", "r2", "r3") if h not in (new, replica))
    ha.kill(ha.sentinel[dead_sentinel])
    ha.kill(ha.data[replica])
    st = job.bed.host("coord").run([nt.WC, "status", "--sentinel", ha.sentinels(), "--master-name", NAME],
                                   env=job.env, timeout=30)
    roles = next((l for l in st.stdout.splitlines() if l.startswith("ha:")), "")
    expect(st.returncode == 0 and "1 replica(s), 2 of 3 Sentinels reachable" in roles,
           f"status: {st.returncode} {st.stdout} {st.stderr}")
    ha.start_data(replica, replica_of=new)

    # 3. The primary SIGKILLed mid-reduce (direct: two tasks later) with one Sentinel dead.
    if mode == "shuffle":
        bed.wait_for(lambda: job.alive() and any(" reduce_phase " in l for l in lines_of(job.logfile)), 60,
                     "the reduce phase", logs=logs())
    else:
        seen = job.done_tasks()
        bed.wait_for(lambda: job.alive() and job.done_tasks() >= seen + 2, 60, "two more tasks", logs=logs())
    bed.wait_for(lambda: job.alive() and ha.replicas_online() == 2, 30, "both replicas online", logs=logs())
    expect(ha.primary() == new, f"the primary moved on its own: {ha.primary()}")
    expect(not any(" publish " in l for l in job.lines()), "the reduce phase ended before the kill")
    ha.kill(ha.data[new])
    t_kill = time.monotonic()
    bed.wait_for(lambda: job.alive() and ha.primary() not in ("", new), 30, "the failover with a Sentinel dead",
                 logs=logs())
    kill_s = time.monotonic() - t_kill
    last = ha.primary()
    ha.start_data(new, replica_of=last)
    ha.start_sentinel(dead_sentinel)
    job.finish()

    r1_log = lines_of(job.worker_log("r1"))
    expect(any("NOREPLICAS" in l or "READONLY" in l or "timed out" in l for l in r1_log),
           "the worker on r1 never met the cut-off primary's refusal" + bed.tails([job.worker_log("r1")]))
    expect(any(" failover " in l for l in lines_of(job.worker_log("w1")) + lines_of(job.worker_log("w2"))),
           "no worker logged a failover")
    summary = job.summary()
    expect(" failover(s))" in summary and int(summary.split(" failover(s))")[0].rsplit(" ", 1)[1]) >= 2,
           f"the summary does not count both failovers: {summary!r}")
    return (f"r1 cut off: failover to {new} {failover_s:.1f} s after the cut, r1 refused writes and rejoined; "
            f"Sentinel on {dead_sentinel} and replica {replica} killed; primary {new} killed mid-"
            f"{'reduce' if mode == 'shuffle' else 'count'}: failover to {last} in {kill_s:.1f} s")


SCENARIOS = [("F", "faults", scenario_faults, None)]


def main():
    return nt.main(SCENARIOS, HOSTS)


if __name__ == "__main__":
    sys.exit(main())
