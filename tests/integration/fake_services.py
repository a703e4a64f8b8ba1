#!/usr/bin/env python3
"""A stand-in for agora-services in CLI tests: the Marathon v2 API shapes that
`agora app` uses, with deployments that progress one task per GET of the app.

  fake_services.py --http_port=PORT [--master=HOST:PORT] [--work_dir=DIR]

Behaviour:
  - an app whose cmd contains "fail" never gets a task running: each GET of it
    reports a new lastTaskFailure;
  - an app without "cmd" is refused with 422 and Marathon-style details;
  - PUT (partial update) or restart while a deployment runs is 409 unless ?force=true;
  - DELETE removes the app after two more GETs of it.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit, parse_qs

apps = {}
counter = [0]


def new_id(prefix):
    counter[0] += 1
    return "%s-%04d" % (prefix, counter[0])


def public(app):
    return {k: v for k, v in app.items() if not k.startswith("_")}


def start_deployment(app):
    app["deployments"] = [{"id": new_id("dep")}]
    app["version"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return app["deployments"][0]["id"]


def step(app):
    """One poll's worth of progress of the app's deployment."""
    if app.get("_deleting") is not None:
        app["_deleting"] -= 1
        app["tasksRunning"] = max(0, app["tasksRunning"] - 1)
        return
    if not app["deployments"]:
        return
    if "fail" in app.get("cmd", ""):
        tid = new_id(app["id"].strip("/") + ".task")
        app["lastTaskFailure"] = {
            "appId": app["id"], "taskId": tid, "state": "TASK_FAILED", "host": "a1",
            "message": "Command exited with status 1",
            "timestamp": "2025-01-01T00:00:%02d.000Z" % (counter[0] % 60),
            "version": app["version"]}
        app["tasksStaged"] = 1
        return
    n = app["instances"]
    if app["tasksRunning"] < n:
        app["tasksRunning"] += 1
    elif app["tasksRunning"] > n:
        app["tasksRunning"] -= 1
    app["tasksHealthy"] = app["tasksRunning"] if app.get("healthChecks") else 0
    app["tasks"] = [{"id": "%s.%d" % (app["id"].strip("/"), i), "appId": app["id"],
                     "host": "a1", "ports": [31000 + i], "state": "TASK_RUNNING",
                     "startedAt": "2025-01-01T00:00:00.000Z",
                     "healthCheckResults": [{"alive": True}] if app.get("healthChecks") else []}
                    for i in range(app["tasksRunning"])]
    if app["tasksRunning"] == n:
        app["deployments"] = []


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def route(self, method):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        force = q.get("force", ["false"])[0] == "true"
        path = u.path
        if path == "/ping" and method == "GET":
            data = b"pong\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path == "/v2/apps" and method == "GET":
            return self.reply(200, {"apps": [public(a) for a in apps.values()]})
        if path == "/v2/apps" and method == "POST":
            spec = self.body()
            app_id = "/" + spec.get("id", "").strip("/")
            if "cmd" not in spec:
                return self.reply(422, {"message": "Object is not valid", "details": [
                    {"path": "/cmd", "errors": ["cmd or container must be given"]}]})
            if app_id in apps:
                return self.reply(409, {"message": "An app with id [%s] already exists." % app_id})
            app = dict(spec)
            app.update({"id": app_id, "instances": spec.get("instances", 1),
                        "cpus": spec.get("cpus", 1), "mem": spec.get("mem", 128),
                        "disk": spec.get("disk", 0), "tasksRunning": 0, "tasksHealthy": 0,
                        "tasksStaged": 0, "tasksUnhealthy": 0, "tasks": []})
            start_deployment(app)
            apps[app_id] = app
            return self.reply(201, public(app))
        if path.startswith("/v2/apps/"):
            rest = path[len("/v2/apps"):]
            restart = rest.endswith("/restart")
            app_id = rest[: -len("/restart")] if restart else rest
            app = apps.get(app_id)
            if app is None:
                return self.reply(404, {"message": "App '%s' does not exist" % app_id})
            if method == "GET" and not restart:
                step(app)
                if app.get("_deleting") is not None and app["_deleting"] <= 0:
                    del apps[app_id]
                    return self.reply(404, {"message": "App '%s' does not exist" % app_id})
                return self.reply(200, {"app": public(app)})
            if app["deployments"] and not force and method in ("PUT", "POST"):
                return self.reply(409, {"message": "App is locked by one or more deployments.",
                                        "deployments": app["deployments"]})
            if method == "PUT" and not restart:
                app.update(self.body())
                app["id"] = app_id
                return self.reply(200, {"deploymentId": start_deployment(app),
                                        "version": app["version"]})
            if method == "POST" and restart:
                return self.reply(200, {"deploymentId": start_deployment(app),
                                        "version": app["version"]})
            if method == "DELETE" and not restart:
                app["_deleting"] = 2
                return self.reply(200, {"deploymentId": start_deployment(app),
                                        "version": app["version"]})
        return self.reply(404, {"message": "no route %s %s" % (method, path)})

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-services: " + (fmt % args) + "\n")


def main():
    port = 8080
    for a in sys.argv[1:]:
        if a.startswith("--http_port="):
            port = int(a.split("=", 1)[1])
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
