#!/usr/bin/env python3
"""Randomized fault driver for tests/integration/test_faults.sh.

Runs a master, three agents (a1..a3, racks r1..r3), agora-services (role svc)
and the plugin host with the spread plugin (role spr) on loopback, keeps apps
under constant deploy/scale/restart/delete, and injects faults at random points:
kill -9 and restart of the master, of an agent, of agora-services and of the
plugin host, a paused agent (SIGSTOP for longer than the master's ping timeout,
then SIGCONT), and a teardown of the spread framework (sometimes while an agent
is paused). After every fault it checks the invariants of docs/reliability.md
from each component's own view, and prints the seed and the first broken one.

Environment:
  T                      scratch directory (from lib.sh)
  AGORA_BIN              the build's bin directory
  AGORA_FAULT_SEED       seed (default 1; in soak mode each run draws its own)
  AGORA_FAULT_ROUNDS     faults per run (default 12; 20 in soak mode)
  AGORA_FAULT_BUDGET     seconds after which a run injects no new fault (default 120;
                         a soak's runs stop at its end instead)
  AGORA_FAULT_SECONDS    soak: keep starting runs with random seeds for this long; a
                         broken invariant ends its run (its logs go to $T/failed-SEED)
                         and the soak goes on with another seed
  AGORA_FAULT_STOP       1: a soak stops at the first broken invariant
  AGORA_FAULT_CONVERGE   seconds a convergence check may wait (default 60)
  AGORA_FAULT_KINDS      comma-separated subset of the faults (default all)
  AGORA_FAULT_SUMMARY    file to write the figures to (JSON)
Exit status: 0 when no invariant broke, 1 otherwise, 2 for bad settings.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

T = os.environ["T"]
BIN = os.environ["AGORA_BIN"]
ROOT = os.geteuid() == 0
EPS = 1e-6

AGENTS = ["a1", "a2", "a3"]
AGENT_CPUS = 2.0
AGENT_MEM = 1024.0
APP_POOL = ["/w1", "/w2", "/w3", "/w4"]
CPU_BUDGET = 2.4  # most cpus the random apps may ask for (of 6), so they always fit
SPREAD = {"name": "sp", "command": "sleep 100000", "resources": "cpus:0.1;mem:16", "count": 3,
          "attribute": "rack"}
FAULTS = ["master", "agent", "services", "plugin", "pause", "teardown"]
KINDS = [k for k in (os.environ.get("AGORA_FAULT_KINDS") or ",".join(FAULTS)).split(",") if k]
if not KINDS or set(KINDS) - set(FAULTS):
    sys.stderr.write("AGORA_FAULT_KINDS: a comma-separated subset of %s\n" % ",".join(FAULTS))
    sys.exit(2)

# Intervals the cluster runs with; the convergence timeout derives from them.
PING_S, PING_MISSES = 1, 3
FLAGS_MASTER = ["--agent_ping_timeout=%dsecs" % PING_S,
                "--max_agent_ping_timeouts=%d" % PING_MISSES,
                "--agent_reregister_timeout=60secs", "--allocation_interval=500ms",
                "--offer_timeout=10secs"]
FLAGS_AGENT = ["--executor_shutdown_grace_period=1secs", "--registration_backoff_factor=200ms",
               "--status_update_retry_interval=1secs", "--status_update_retry_max=4secs",
               "--usage_report_interval=60secs"]
FLAGS_SERVICES = ["--role=svc", "--decline_offer_duration=2secs",
                  "--decline_unfit_duration=1secs", "--reconciliation_timeout=5secs"]


def now():
    return time.monotonic()


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def free_port():
    while True:
        p = random.SystemRandom().randint(20000, 30999)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", p)) != 0:
                return p


def http(method, url, body=None, timeout=5):
    """(status, parsed JSON or text); (0, error) when refused, (-1, error) when the
    request timed out (its outcome is unknown)."""
    data = None
    headers = {}
    if body is not None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read().decode()
            code = r.status
    except urllib.error.HTTPError as e:
        raw = e.read().decode(errors="replace")
        code = e.code
    except (OSError, urllib.error.URLError) as e:
        timed_out = isinstance(e, socket.timeout) or "timed out" in str(e)
        return (-1 if timed_out else 0), str(e)
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw


def get(url):
    code, body = http("GET", url)
    return body if code == 200 else None


def res(r):
    r = r or {}
    return (float(r.get("cpus", 0) or 0), float(r.get("mem", 0) or 0))


def add(a, b):
    return (a[0] + b[0], a[1] + b[1])


def le(a, b):
    return a[0] <= b[0] + EPS and a[1] <= b[1] + EPS


def eq(a, b):
    return abs(a[0] - b[0]) <= EPS and abs(a[1] - b[1]) <= EPS


def fmt(r):
    return "cpus:%g;mem:%g" % (round(r[0], 6), round(r[1], 6))


TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}


class Violation(Exception):
    def __init__(self, invariant, detail):
        super().__init__("%s: %s" % (invariant, detail))
        self.invariant = invariant
        self.detail = detail


class Proc:
    """A daemon the driver starts, kills and restarts; its log is $T/NAME.log."""

    def __init__(self, name, argv):
        self.name, self.argv, self.p, self.paused = name, argv, None, False

    def start(self):
        out = open(os.path.join(T, self.name + ".log"), "ab")
        # A session of its own: a process stopped with SIGSTOP in the test's process
        # group would get SIGHUP from the kernel if that group became orphaned.
        self.p = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        with open(os.path.join(T, "pids"), "a") as f:
            f.write("%d\n" % self.p.pid)

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill9(self):
        if self.p is None:
            return
        if self.paused:
            self.cont()
        try:
            self.p.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()

    def stop(self):
        self.p.send_signal(signal.SIGSTOP)
        self.paused = True

    def cont(self):
        if self.paused and self.alive():
            self.p.send_signal(signal.SIGCONT)
        self.paused = False


class Cluster:
    def __init__(self, rng, orng, converge_s):
        # rng draws the faults, their targets, delays and how many API calls come
        # where; orng draws what the API calls do. Two streams, so that the
        # answers (which depend on timing) do not change the faults of a seed.
        self.rng = rng
        self.orng = orng
        self.converge_s = converge_s
        self.mport = free_port()
        self.murl = "http://127.0.0.1:%d" % self.mport
        self.sport = free_port()
        self.surl = "http://127.0.0.1:%d" % self.sport
        self.master = Proc("master", [os.path.join(BIN, "agora-master"), "--ip=127.0.0.1",
                                      "--port=%d" % self.mport,
                                      "--work_dir=" + os.path.join(T, "master")] + FLAGS_MASTER)
        self.agents = {}
        self.aport = {}
        for i, name in enumerate(AGENTS):
            port = free_port()
            base = 10000 + (os.getpid() * 7 + i * 300) % 8700
            argv = [os.path.join(BIN, "agora-agent"), "--master=127.0.0.1:%d" % self.mport,
                    "--ip=127.0.0.1", "--port=%d" % port, "--hostname=" + name,
                    "--work_dir=" + os.path.join(T, "agent-" + name),
                    "--resources=cpus:%g;mem:%g;disk:10000;ports:[%d-%d]"
                    % (AGENT_CPUS, AGENT_MEM, base, base + 99),
                    "--attributes=rack:r%d" % (i + 1)] + FLAGS_AGENT
            if not ROOT:
                argv.append("--isolation=posix")
            self.agents[name] = Proc("agent-" + name, argv)
            self.aport[name] = port
        self.services = Proc("services", [os.path.join(BIN, "agora-services"),
                                          "--master=127.0.0.1:%d" % self.mport, "--ip=127.0.0.1",
                                          "--http_port=%d" % self.sport, "--hostname=127.0.0.1",
                                          "--work_dir=" + os.path.join(T, "services")]
                             + FLAGS_SERVICES)
        with open(os.path.join(T, "spread.json"), "w") as f:
            json.dump(SPREAD, f)
        self.plugin_gen = 0
        self.plugin = None
        self.new_plugin()
        # What the driver asked agora-services for: app id -> instances (None: unknown).
        self.apps = {}
        self.app_spec = {}
        self.pinned = {}
        self.torn_down = set()  # framework ids torn down
        self.untold = []  # teardowns the framework was not told of
        # Torn down since the master's last restart (completed_frameworks, as in Mesos, is
        # kept in memory only).
        self.recorded = set()
        self.stats = {"faults": {k: 0 for k in FAULTS}, "checks": 0, "invariant_checks": 0,
                      "ops": 0, "samples": 0}

    def new_plugin(self):
        self.plugin_gen += 1
        wd = os.path.join(T, "wd-spread-%d" % self.plugin_gen)
        self.plugin = Proc("plugin", [os.path.join(BIN, "agora-scheduler"), "--plugin=spread",
                                      "--master=127.0.0.1:%d" % self.mport, "--work_dir=" + wd,
                                      "--config=" + os.path.join(T, "spread.json"),
                                      "--role=spr", "--name=spread"])

    # ---- start and restart ----

    def wait(self, what, pred, secs, proc=None):
        end = now() + secs
        while now() < end:
            if proc is not None and not proc.alive():
                raise Violation("startup", "%s: the process exited" % what)
            try:
                if pred():
                    return
            except Exception:  # noqa: BLE001 - a component half up
                pass
            time.sleep(0.1)
        raise Violation("startup", "%s not within %d s" % (what, secs))

    def start_master(self):
        self.master.start()
        self.wait("master /health", lambda: http("GET", self.murl + "/health")[0] == 200, 20,
                  self.master)

    def start_agent(self, name):
        self.agents[name].start()
        self.wait("agent %s /health" % name,
                  lambda: http("GET", "http://127.0.0.1:%d/health" % self.aport[name])[0] == 200,
                  20, self.agents[name])

    def start_services(self):
        self.services.start()
        self.wait("agora-services subscribed",
                  lambda: (get(self.surl + "/v2/info") or {}).get("frameworkId"), 30,
                  self.services)

    def start_plugin(self):
        self.plugin.start()

    def first_start(self, proc, start, port_flag):
        """Starts a daemon the first time; when it exits at once (its port, free when
        drawn, was taken since), moves it to another port."""
        for attempt in range(3):
            try:
                start()
                return
            except Violation:
                if proc.alive() or attempt == 2:
                    raise
            old = [a for a in proc.argv if a.startswith(port_flag)][0]
            oldp, newp = int(old.split("=")[1]), free_port()
            log("  %s could not take port %d; moving it to %d" % (proc.name, oldp, newp))
            for p in self.procs():
                p.argv = [a.replace(":%d" % oldp, ":%d" % newp) if a.startswith("--master=")
                          else "%s%d" % (port_flag, newp) if a == old else a for a in p.argv]
            if proc is self.master:
                self.mport, self.murl = newp, "http://127.0.0.1:%d" % newp
            elif proc is self.services:
                self.sport, self.surl = newp, "http://127.0.0.1:%d" % newp
            else:
                self.aport[proc.name[len("agent-"):]] = newp

    def start_all(self):
        self.first_start(self.master, self.start_master, "--port=")
        for a in AGENTS:
            self.first_start(self.agents[a], lambda a=a: self.start_agent(a), "--port=")
        self.wait("3 active agents", lambda: len(
            [s for s in get(self.murl + "/state")["slaves"] if s["active"]]) == 3, 30)
        self.first_start(self.services, self.start_services, "--http_port=")
        self.start_plugin()
        for i, a in enumerate(AGENTS):
            app = "/pin-" + a
            spec = {"id": app, "cmd": "sleep 100000", "cpus": 0.1, "mem": 16, "instances": 1,
                    "constraints": [["hostname", "CLUSTER", a]]}
            code, body = http("POST", self.surl + "/v2/apps", spec)
            if code != 201:
                raise Violation("startup", "create %s: %s %s" % (app, code, body))
            self.apps[app] = 1
            self.pinned[app] = a

    def procs(self):
        return [self.master, self.services, self.plugin] + list(self.agents.values())

    def kill_all(self):
        for p in self.procs():
            try:
                p.kill9()
            except Exception:  # noqa: BLE001
                pass

    # ---- workload ----

    def demand(self, skip=None):
        total = 0.0
        for app, n in self.apps.items():
            if app in self.pinned or app == skip:
                continue
            total += (n or 4) * self.app_spec.get(app, {}).get("cpus", 0.3)
        return total

    def op(self):
        """One random deploy/scale/restart/delete through agora-services' API."""
        rng = self.orng
        app = rng.choice(APP_POOL)
        self.stats["ops"] += 1
        if app not in self.apps:
            spec = {"id": app, "cmd": "sleep 100000", "cpus": rng.choice([0.1, 0.2, 0.3]),
                    "mem": rng.choice([16, 32]), "instances": rng.randint(1, 4)}
            if self.demand() + spec["cpus"] * spec["instances"] > CPU_BUDGET:
                spec["instances"] = 1
                if self.demand() + spec["cpus"] > CPU_BUDGET:
                    return "skip"
            code, _ = http("POST", self.surl + "/v2/apps", spec)
            if code == 201:
                self.apps[app] = spec["instances"]
                self.app_spec[app] = spec
            elif unknown(code):
                self.apps[app] = None
                self.app_spec[app] = spec
            return "create %s x%d -> %s" % (app, spec["instances"], code)
        kind = rng.choice(["scale", "scale", "restart", "delete"])
        if kind == "scale":
            n = rng.randint(0, 5)
            cpus = self.app_spec.get(app, {}).get("cpus", 0.3)
            while n > 0 and self.demand(skip=app) + n * cpus > CPU_BUDGET:
                n -= 1
            code, _ = http("PUT", self.surl + "/v2/apps" + app, {"instances": n})
            if code == 200:
                self.apps[app] = n
            elif unknown(code):
                self.apps[app] = None
            return "scale %s to %d -> %s" % (app, n, code)
        if kind == "restart":
            code, _ = http("POST", self.surl + "/v2/apps%s/restart" % app)
            return "restart %s -> %s" % (app, code)
        code, _ = http("DELETE", self.surl + "/v2/apps" + app)
        if code in (200, 202, 404):
            del self.apps[app]
            self.app_spec.pop(app, None)
        elif unknown(code):
            self.apps[app] = None
        return "delete %s -> %s" % (app, code)

    def ops(self, n):
        for _ in range(n):
            log("  op: " + self.op())
            time.sleep(self.orng.uniform(0, 0.4))

    # ---- faults ----

    def spread_fwid(self):
        st = get(self.murl + "/state") or {}
        for f in st.get("frameworks", []):
            if f["name"] == "spread" and f["id"] not in self.torn_down:
                return f["id"]
        return None

    def fault(self, kind):
        rng = self.rng
        self.stats["faults"][kind] += 1
        if kind == "master":
            self.master.kill9()
            self.recorded.clear()
            self.ops(rng.randint(0, 2))
            time.sleep(rng.uniform(0, 2))
            self.start_master()
            return "kill -9 master, restarted"
        if kind == "agent":
            a = rng.choice(AGENTS)
            self.agents[a].kill9()
            self.ops(rng.randint(0, 2))
            time.sleep(rng.uniform(0, 3))
            self.start_agent(a)
            return "kill -9 agent %s, restarted" % a
        if kind == "services":
            self.services.kill9()
            time.sleep(rng.uniform(0, 2))
            self.start_services()
            return "kill -9 agora-services, restarted"
        if kind == "plugin":
            self.plugin.kill9()
            time.sleep(rng.uniform(0, 2))
            self.start_plugin()
            return "kill -9 plugin host, restarted"
        if kind == "pause":
            a = rng.choice(AGENTS)
            secs = rng.uniform(0.5, PING_S * PING_MISSES * 2.5)
            self.agents[a].stop()
            self.ops(rng.randint(0, 2))
            time.sleep(secs)
            self.agents[a].cont()
            return "agent %s paused (SIGSTOP) for %.1f s" % (a, secs)
        # teardown of the spread framework, sometimes while an agent is paused
        paused = rng.choice([None, rng.choice(AGENTS)])
        fwid = self.spread_fwid()
        if fwid is None:
            return "teardown: spread not subscribed, skipped"
        if paused:
            self.agents[paused].stop()
            time.sleep(PING_S * PING_MISSES + 1)
        logf = os.path.join(T, "plugin.log")
        mark = os.path.getsize(logf)
        code, body = http("POST", self.murl + "/teardown", "frameworkId=" + fwid)
        self.torn_down.add(fwid)
        self.recorded.add(fwid)
        if paused:
            time.sleep(rng.uniform(0, 2))
            self.agents[paused].cont()
        # The framework must be told: its host exits or says so in its log.
        told = False
        end = now() + 10
        while now() < end and not told:
            if not self.plugin.alive():
                told = True
            else:
                with open(logf, errors="replace") as f:
                    f.seek(mark)
                    txt = f.read().lower()
                told = any(w in txt for w in ("removed", "torn down", "teardown"))
            time.sleep(0.2)
        self.plugin.kill9()
        self.new_plugin()
        self.start_plugin()
        if code != 200:
            raise Violation("teardown", "POST /teardown of %s answered %s %s" % (fwid, code, body))
        if not told:  # checked after the others, which may show more of what went wrong
            self.untold.append("spread framework %s torn down%s; its host neither exited nor "
                               "logged the removal within 10 s" %
                               (fwid, " while agent %s was paused" % paused if paused else ""))
        return "teardown of spread %s%s" % (fwid, " while %s paused" % paused if paused else "")

    # ---- invariants ----

    def agent_view(self, name):
        st = get("http://127.0.0.1:%d/state" % self.aport[name])
        if st is None:
            raise Violation("agent-api", "agent %s /state unreachable" % name)
        tasks = {}
        for fw in st.get("frameworks", []):
            for ex in fw.get("executors", []):
                for t in ex.get("tasks", []):
                    if t["state"] not in TERMINAL:
                        tasks[t["id"]] = t
        return st, tasks

    def sample_safety(self, mst):
        """Invariants that must hold at every instant (one /state is one instant)."""
        self.stats["samples"] += 1
        for s in mst["slaves"]:
            total, used, offered = res(s["resources"]), res(s["used_resources"]), \
                res(s["offered_resources"])
            self.stats["invariant_checks"] += 2
            if not le(used, total):
                raise Violation("used<=total (master)", "agent %s: used %s of total %s" % (
                    s["hostname"], fmt(used), fmt(total)))
            if not le(add(used, offered), total):
                raise Violation("offers-exclude-used", "agent %s: offered %s while %s of %s "
                                "is used by tasks" % (s["hostname"], fmt(offered), fmt(used),
                                                      fmt(total)))

    def check_once(self):
        """Every invariant once; raises the first violation."""
        mst = get(self.murl + "/state")
        if mst is None:
            raise Violation("master-api", "master /state unreachable")
        self.sample_safety(mst)
        ic = 0
        by_host = {s["hostname"]: s for s in mst["slaves"]}
        fws = {f["id"]: f for f in mst["frameworks"]}
        mtasks = {}  # task id -> (framework id, task)
        for f in mst["frameworks"]:
            for t in f.get("tasks", []):
                if t["state"] not in TERMINAL:
                    mtasks[t["id"]] = (f["id"], t)
        for name in AGENTS:
            s = by_host.get(name)
            ic += 1
            if s is None or not s["active"]:
                raise Violation("agent-active", "agent %s not active in the master: %s" % (
                    name, s and {k: s[k] for k in ("state", "active")}))
            ast, atasks = self.agent_view(name)
            ic += 1
            if ast.get("connection") != "REGISTERED":
                raise Violation("agent-registered", "agent %s: connection %s in its own view" % (
                    name, ast.get("connection")))
            total = res(ast["resources"])
            aused = (0.0, 0.0)
            for t in atasks.values():
                aused = add(aused, res(t["resources"]))
            ic += 1
            if not le(aused, total):
                raise Violation("used<=total (agent)", "agent %s runs %d tasks using %s of %s" % (
                    name, len(atasks), fmt(aused), fmt(total)))
            ids_m = {tid for tid, (_, t) in mtasks.items() if t["slave_id"] == s["id"]}
            ic += 1
            if ids_m != set(atasks):
                raise Violation("master-books=agent-tasks", "agent %s: tasks only in the master "
                                "%s, only on the agent %s" % (name, sorted(ids_m - set(atasks)),
                                                              sorted(set(atasks) - ids_m)))
            ic += 1
            if not eq(res(s["used_resources"]), aused):
                raise Violation("master-books=agent-tasks", "agent %s: master books %s used, "
                                "the agent's tasks use %s" % (name, fmt(res(s["used_resources"])),
                                                              fmt(aused)))
            for tid, t in atasks.items():
                ic += 1
                if t["state"] != "TASK_RUNNING":
                    raise Violation("tasks-settle", "agent %s: task %s still %s" % (
                        name, tid, t["state"]))
                pid = t.get("pid") or 0
                if pid <= 0 or not os.path.exists("/proc/%d" % pid):
                    raise Violation("running-task-has-process", "agent %s: task %s RUNNING but "
                                    "its process %s is gone" % (name, tid, pid))
            ic += 1
            if ast.get("unacknowledged_updates", 0) != 0:
                raise Violation("updates-reach-framework", "agent %s holds %d unacknowledged "
                                "status updates" % (name, ast["unacknowledged_updates"]))
        # the allocator's books: per role, allocated = the role's tasks + outstanding offers
        roles = get(self.murl + "/roles") or {"roles": []}
        for role in ("svc", "spr"):
            want = (0.0, 0.0)
            for f in mst["frameworks"]:
                if f.get("role") == role:
                    want = add(want, add(res(f["used_resources"]), res(f["offered_resources"])))
            got = (0.0, 0.0)
            for r in roles["roles"]:
                if r["name"] == role:
                    got = res(r.get("allocated"))
            ic += 1
            if not eq(got, want):
                raise Violation("allocator-books", "role %s: the allocator has %s allocated, its "
                                "frameworks' tasks and offers hold %s" % (role, fmt(got), fmt(want)))
        # no process outlives its task
        procs = task_processes()
        self.last_counts = (len(mtasks), len(procs))
        for pid, agent, tid in procs:
            ic += 1
            if tid not in mtasks or mtasks[tid][1]["slave_id"] != by_host[agent]["id"]:
                raise Violation("no-orphan-process", "process %d (%s) of task %s on %s is alive; "
                                "the master has no such running task" % (pid, cmdline(pid), tid,
                                                                          agent))
        # torn-down frameworks are gone
        for fid in self.torn_down:
            ic += 1
            if fid in fws and fws[fid].get("tasks"):
                live = [t["id"] for t in fws[fid]["tasks"] if t["state"] not in TERMINAL]
                if live:
                    raise Violation("teardown-kills", "framework %s torn down, tasks %s live" % (
                        fid, live))
        ic += 1
        if self.untold:  # after the checks that show orphans, which say more
            raise Violation("framework-told", self.untold[0])
        for fid in self.recorded:
            ic += 1
            if fid not in {f.get("id") for f in mst.get("completed_frameworks", [])}:
                raise Violation("teardown-recorded", "framework %s torn down, not in the "
                                "master's completed_frameworks" % fid)
        # apps: exactly their instance count, in agora-services, the master and the agents
        info = get(self.surl + "/v2/info")
        if not info:
            raise Violation("services-api", "agora-services /v2/info unreachable")
        svc_fw = info.get("frameworkId")
        svc_tasks = {tid for tid, (fid, _) in mtasks.items() if fid == svc_fw}
        apps = get(self.surl + "/v2/apps?embed=apps.tasks")
        if apps is None:
            raise Violation("services-api", "agora-services /v2/apps unreachable")
        listed = {}
        seen_tasks = set()
        for a in apps.get("apps", []):
            listed[a["id"]] = a
        for app in [k for k, v in self.apps.items() if v is None]:
            # the request's outcome was unknown; take agora-services' word
            if app in listed:
                self.apps[app] = listed[app]["instances"]
            else:
                del self.apps[app]
        ic += 1
        if set(listed) != set(self.apps):
            raise Violation("apps-exact", "agora-services lists apps %s, the driver created %s" % (
                sorted(listed), sorted(self.apps)))
        for app, want in sorted(self.apps.items()):
            a = listed[app]
            ic += 1
            if a["instances"] != want:
                raise Violation("apps-exact", "%s: instances %d, asked for %d" % (
                    app, a["instances"], want))
            code, body = http("GET", self.surl + "/v2/apps%s/tasks" % app)
            tids = {t["id"] for t in (body.get("tasks", []) if code == 200 else [])}
            running = {t["id"] for t in (body.get("tasks", []) if code == 200 else [])
                       if t.get("state", "TASK_RUNNING") == "TASK_RUNNING"}
            ic += 1
            if len(running) != want or a.get("deployments"):
                raise Violation("apps-exact", "%s: %d of %d running (%d listed), deployments %s"
                                % (app, len(running), want, len(tids),
                                   [d.get("id") for d in a.get("deployments", [])]))
            ic += 1
            if not tids <= svc_tasks:
                raise Violation("apps-exact", "%s: tasks %s not running in the master" % (
                    app, sorted(tids - svc_tasks)))
            if app in self.pinned:
                for tid in tids:
                    host = mtasks[tid][1]["slave_id"]
                    if host != by_host[self.pinned[app]]["id"]:
                        raise Violation("apps-exact", "%s: task %s not on %s" % (
                            app, tid, self.pinned[app]))
            seen_tasks |= tids
        ic += 1
        if svc_tasks != seen_tasks:
            raise Violation("apps-exact", "master runs agora-services tasks %s that no app "
                            "lists" % sorted(svc_tasks - seen_tasks))
        # spread: exactly one copy per rack
        sp = self.spread_fwid()
        racks = {s["id"]: s.get("attributes", {}).get("rack") for s in mst["slaves"]}
        copies = sorted(racks.get(t["slave_id"]) or "?" for tid, (fid, t) in mtasks.items()
                        if fid == sp)
        ic += 1
        if sp is None or copies != ["r1", "r2", "r3"]:
            raise Violation("plugin-exact", "spread framework %s runs copies on racks %s, "
                            "want one on each of r1 r2 r3" % (sp, copies))
        self.stats["invariant_checks"] += ic

    def converge(self, label):
        """Waits until every invariant holds; safety ones must hold at every sample."""
        self.stats["checks"] += 1
        end = now() + self.converge_s
        last = None
        t0 = now()
        while True:
            try:
                self.check_once()
                log("  invariants hold (%s: %d live tasks, %d task processes; after %.1f s%s)"
                    % (label, self.last_counts[0], self.last_counts[1], now() - t0,
                       "; waited on " + str(last) if last else ""))
                return
            except Violation as v:
                if v.invariant in STICKY:
                    raise
                last = v
            if now() >= end:
                raise last
            time.sleep(0.5)


# Broken once, broken for good: raised at once, not waited on.
STICKY = ("used<=total (master)", "used<=total (agent)", "offers-exclude-used", "framework-told")


def unknown(code):
    """Whether a request's outcome is unknown: it timed out or failed inside the
    server. A refusal (connection refused, 4xx) changed nothing."""
    return code == -1 or code >= 500


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def task_processes():
    """(pid, agent, task id) of every live process started as a task of our agents:
    its MESOS_SANDBOX is under $T/agent-NAME/.../TASK_ID."""
    out = []
    prefix = (os.path.join(T, "agent-")).encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        for e in env:
            if e.startswith(b"MESOS_SANDBOX=" + prefix):
                path = e.split(b"=", 1)[1].decode(errors="replace").rstrip("/")
                agent = path[len(T) + len("/agent-"):].split("/", 1)[0]
                out.append((int(d), agent, os.path.basename(path)))
                break
    return out


def repro(seed, rounds):
    kinds = "" if KINDS == FAULTS else " AGORA_FAULT_KINDS=" + ",".join(KINDS)
    return "AGORA_FAULT_SEED=%d AGORA_FAULT_ROUNDS=%d%s ctest -R integration.faults" % (
        seed, rounds, kinds)


def run(seed, rounds, converge_s, deadline=None):
    rng = random.Random(seed)
    c = Cluster(rng, random.Random(seed + 1000003), converge_s)
    history = []
    log("seed %d: %d faults of %s (reproduce: %s)" % (seed, rounds, ",".join(KINDS),
                                                   repro(seed, rounds)))
    try:
        c.start_all()
        c.ops(rng.randint(1, 4))
        c.converge("start")
        # Every kind of fault early in the run, then random ones.
        plan = KINDS[:]
        rng.shuffle(plan)
        for i in range(rounds):
            if deadline is not None and now() >= deadline:
                log("time budget spent: %d of %d faults injected" % (i, rounds))
                break
            kind = plan[i] if i < len(plan) else rng.choice(KINDS)
            c.ops(rng.randint(1, 4))
            time.sleep(rng.uniform(0, 1.5))
            what = c.fault(kind)
            history.append(what)
            log("fault %d/%d: %s" % (i + 1, rounds, what))
            c.ops(rng.randint(0, 2))
            c.converge("after fault %d" % (i + 1))
        c.ops(rng.randint(1, 3))
        c.converge("end")
        return True, c.stats, None
    except Violation as v:
        log("SEED %d: INVARIANT BROKEN: %s" % (seed, v))
        log("faults so far: %s" % "; ".join(history) if history else "before the first fault")
        log("reproduce: " + repro(seed, rounds))
        return False, c.stats, {"seed": seed, "invariant": v.invariant, "detail": v.detail,
                                "faults": history}
    finally:
        c.kill_all()


def main():
    soak = float(os.environ.get("AGORA_FAULT_SECONDS", "0")) > 0
    rounds = int(os.environ.get("AGORA_FAULT_ROUNDS", "20" if soak else "12"))
    budget = float(os.environ.get("AGORA_FAULT_BUDGET", "120"))
    converge_s = float(os.environ.get("AGORA_FAULT_CONVERGE", "60"))
    soak_s = float(os.environ.get("AGORA_FAULT_SECONDS", "0"))
    summary = {"runs": 0, "seeds": [], "faults": {k: 0 for k in FAULTS}, "checks": 0,
               "invariant_checks": 0, "ops": 0, "samples": 0, "violations": [],
               "seconds": 0}
    t0 = now()
    if soak_s <= 0:
        seeds = [int(os.environ.get("AGORA_FAULT_SEED", "1"))]
    else:
        fixed = os.environ.get("AGORA_FAULT_SEED")
        sysrng = random.SystemRandom()
        seeds = iter(lambda: sysrng.randint(1, 2**31 - 1), None) if not fixed else \
            [int(fixed)]
    ok_all = True
    for seed in seeds:
        if soak_s > 0 and now() - t0 >= soak_s:
            break
        run_dir_reset()
        ok, stats, bad = run(seed, rounds, converge_s,
                             deadline=t0 + soak_s if soak_s > 0 else now() + budget)
        summary["runs"] += 1
        summary["seeds"].append(seed)
        for k, v in stats["faults"].items():
            summary["faults"][k] += v
        for k in ("checks", "invariant_checks", "ops", "samples"):
            summary[k] += stats[k]
        if not ok:
            summary["violations"].append(bad)
            ok_all = False
            if soak_s <= 0 or os.environ.get("AGORA_FAULT_STOP") == "1":
                break
            keep = os.path.join(T, "failed-%d" % seed)  # the next run clears $T
            os.makedirs(keep)
            for name in os.listdir(T):
                if name.endswith(".log") or name in ("services", "master"):
                    subprocess.call(["cp", "-r", os.path.join(T, name), keep])
            log("soak: the logs of seed %d are in %s; going on with another seed" % (seed, keep))
    summary["seconds"] = round(now() - t0, 1)
    text = json.dumps(summary, indent=1)
    log("figures: faults %s, %d ops, %d convergence checks, %d invariant evaluations, "
        "%d state samples, %d violations, %d runs in %.0f s" % (
            json.dumps(summary["faults"]), summary["ops"], summary["checks"],
            summary["invariant_checks"], summary["samples"], len(summary["violations"]),
            summary["runs"], summary["seconds"]))
    if os.environ.get("AGORA_FAULT_SUMMARY"):
        with open(os.environ["AGORA_FAULT_SUMMARY"], "w") as f:
            f.write(text + "\n")
    return 0 if ok_all else 1


def run_dir_reset():
    """Each run starts from empty state (soak runs share $T): kills what the last
    run's agents left (tasks, executors), removes their cgroups and the state."""
    for pid, _, _ in task_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    subprocess.call(["pkill", "-KILL", "-f", "agora-executor --meta=" + T])
    time.sleep(0.3)
    for a in AGENTS:
        try:
            with open(os.path.join(T, "agent-" + a, "meta", "cgroups")) as f:
                roots = [r.strip() for r in f if r.strip()]
        except OSError:
            continue
        for r in roots:
            for g in (os.listdir(r) if os.path.isdir(r) else []):
                if os.path.isdir(os.path.join(r, g)):
                    try:
                        os.rmdir(os.path.join(r, g))
                    except OSError:
                        pass
            try:
                os.rmdir(r)
            except OSError:
                pass
    for name in os.listdir(T):
        if name in ("master", "services") or name.startswith(("agent-", "wd-spread-")) or \
                name.endswith(".log"):
            subprocess.call(["rm", "-rf", os.path.join(T, name)])


if __name__ == "__main__":
    sys.exit(main())
