#!/usr/bin/env python3
"""Docs drift check: flags and HTTP routes against docs/.

usage: docs_check.py SOURCE_DIR BIN_DIR

Flags: every flag that agora-master, agora-agent, agora-services,
agora-scheduler and agora-simagents print in --help is in the flag table (header "| flag | ...")
of its doc page, every flag of each `agora CMD --help` is in docs/cli.md (or
docs/accounting.md for report), and every flag of those tables exists.
Routes: every route in the route tables of master/http_api.c,
slave/http_api.c and framework/services/api.c appears in the endpoint tables
of master.md, agent.md and services.md, and every documented endpoint is
served; for agora-services' prefix routes, the sub-resources their handlers
match (/restart, /tasks, /versions, /delay) both ways too. Query parameters:
those the handlers read are named in the endpoint sections, and back. Any
`GET http://AGENT:5051/path` (MASTER, SERVICES) in docs/ is a route of that
component. Prints one line per problem and exits 1 if there is any.
"""
import os
import re
import subprocess
import sys

SRC, BIN = sys.argv[1], sys.argv[2]
problems = []


def doc(name):
    with open(os.path.join(SRC, "docs", name), encoding="utf-8") as f:
        return f.read()


def source(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


def help_flags(argv):
    """Flag names printed by `argv --help` ("  --name=VALUE", "  --[no-]name")."""
    out = subprocess.run([os.path.join(BIN, argv[0])] + argv[1:] + ["--help"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=30).stdout
    names = set(re.findall(r"^\s+--(?:\[no-\])?([a-z][a-z0-9_]*)", out, re.M))
    names.discard("help")
    if not names:
        problems.append("%s --help printed no flags" % " ".join(argv))
    return names


def table_rows(text, header_first_cell):
    """First cells of the rows of every table whose header starts with
    `| header_first_cell |`."""
    cells, in_table = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        first = line.split("|")[1].strip()
        if not in_table:
            if first == header_first_cell:
                in_table = True
            continue
        if re.fullmatch(r"-+", first):
            continue
        cells.append(first)
    return cells


def doc_table_flags(text):
    flags = set()
    for cell in table_rows(text, "flag"):
        flags.update(re.findall(r"`--(?:\[no-\])?([a-z][a-z0-9_]*)", cell))
    return flags


def check_flags(what, names, text, page, table_text=None, table_names=None):
    """A daemon's flags must be in the page's flag tables; with table_text
    given (the CLI), a mention anywhere in `text` will do."""
    if table_text is None:
        mentioned = doc_table_flags(text)
    else:
        mentioned = set(re.findall(r"--(?:\[no-\]|no-)?([a-z][a-z0-9_]*)", text))
    for n in sorted(names - mentioned):
        problems.append("%s: --%s is in --help but not in the flag table of %s" % (what, n, page)
                        if table_text is None else
                        "%s: --%s is in --help but not in %s" % (what, n, page))
    documented = doc_table_flags(table_text if table_text is not None else text)
    for n in sorted(documented - (table_names if table_names is not None else names)):
        problems.append("%s: %s documents --%s, which --help does not list" % (what, page, n))


# ---- flags ----
master_md, agent_md, services_md = doc("master.md"), doc("agent.md"), doc("services.md")
plugin_md, cli_md, acct_md = doc("writing-a-scheduler.md"), doc("cli.md"), doc("accounting.md")

check_flags("agora-master", help_flags(["agora-master"]), master_md, "docs/master.md")
check_flags("agora-agent", help_flags(["agora-agent"]), agent_md, "docs/agent.md")
check_flags("agora-services", help_flags(["agora-services"]), services_md, "docs/services.md")
check_flags("agora-scheduler", help_flags(["agora-scheduler"]), plugin_md,
            "docs/writing-a-scheduler.md")
check_flags("agora-simagents", help_flags(["agora-simagents"]), doc("performance.md"),
            "docs/performance.md")

cli_all = set()
for cmd in ("cluster", "agents", "frameworks", "tasks", "task", "app", "version", "report"):
    names = help_flags(["agora", cmd])
    cli_all |= names
    # `agora report` is described in accounting.md, the rest in cli.md.
    text = cli_md + (acct_md if cmd == "report" else "")
    check_flags("agora " + cmd, names, text, "docs/cli.md", table_text="", table_names=set())
for n in sorted(doc_table_flags(cli_md) - cli_all):
    problems.append("agora: docs/cli.md documents --%s, which no command's --help lists" % n)


# ---- routes ----
def c_routes(path, pattern):
    """(method or None, path, is_prefix) from a C route table."""
    text = source(path)
    return [(m.group("method"), m.group("path"), "HTTP_ROUTE_PREFIX" in (m.group("flags") or ""))
            for m in re.finditer(pattern, text)]


def section(text, heading):
    """The text of `## heading` up to the next heading of the same level."""
    m = re.search(r"^(#+) " + re.escape(heading) + r"\s*$", text, re.M)
    if not m:
        problems.append("no section '%s'" % heading)
        return ""
    level = len(m.group(1))
    rest = text[m.end():]
    end = re.search(r"^#{1,%d} " % level, rest, re.M)
    return rest[:end.start()] if end else rest


def doc_routes(text, default_method):
    """(method, path) of every backticked endpoint in `text`: "`GET /x`, `/y`"
    (the method carries over within a table cell or line), query strings and
    [optional parts] dropped."""
    routes = set()
    for line in text.splitlines():
        if line.startswith("|"):
            # The first cell: up to the first | outside backticks.
            m = re.match(r"\|((?:[^|`]|`[^`]*`)*)", line)
            cell = m.group(1)
        else:
            cell = line
        method = default_method
        for tok in re.findall(r"`([^`]*)`", cell):
            m = re.fullmatch(r"(?:(GET|POST|PUT|PATCH|DELETE) )?(/[^\s?\[]*)((?:\[[^\]]*\])*)(\?.*)?",
                             tok)
            if not m:
                continue
            method = m.group(1) or method
            if not method:
                continue
            routes.add((method, m.group(2)))
            # An optional part: "/v2/groups[/{id}]" is also "/v2/groups/{id}".
            opt = re.sub(r"\?.*", "", m.group(3).replace("[", "").replace("]", ""))
            if opt:
                routes.add((method, m.group(2) + opt))
    return routes


def served(method, path, table, extra):
    for (m, p, prefix) in table + extra:
        if m is not None and m != method:
            continue
        if p == path or (prefix and path.startswith(p)):
            return True
        # "/files/*" in prose: some route under /files/.
        if path.endswith("/*") and p.startswith(path[:-1]):
            return True
    return False


def check_routes(what, table, documented, page, extra=()):
    extra = list(extra)
    for (m, p, prefix) in table:
        if prefix:
            ok = any((m is None or m == dm) and dp.startswith(p) and dp != p
                     for (dm, dp) in documented)
        else:
            ok = any((m is None or m == dm) and dp == p for (dm, dp) in documented)
        if not ok:
            problems.append("%s: route %s %s%s is not in %s" %
                            (what, m or "*", p, "..." if prefix else "", page))
    for (dm, dp) in sorted(documented):
        if not served(dm, dp, table, extra):
            problems.append("%s: %s documents %s %s, which is not served" % (what, page, dm, dp))


# The dashboard's pages come from assets_route (common/assets), not the tables.
ASSETS = [(None, "/", False), ("GET", "/static/", True)]

master_table = c_routes("master/http_api.c",
                        r'\{"(?P<method>[A-Z]+)", "(?P<path>/[^"]*)", h_\w+(?P<flags>)\}')
check_routes("agora-master", master_table,
             doc_routes(section(master_md, "HTTP endpoints"), None), "docs/master.md", ASSETS)

agent_src = source("slave/http_api.c")
agent_table = [("GET", m.group(1), False)
               for m in re.finditer(r'\{"(/[^"]*)", get_\w+\}', agent_src)]
agent_table += [(m.group(1), m.group(2), False)
                for m in re.finditer(r'http_route\(a->http, "([A-Z]+)", "(/[^"]*)"', agent_src)]
check_routes("agora-agent", agent_table,
             doc_routes(section(agent_md, "HTTP endpoints"), "GET"), "docs/agent.md")

services_table = c_routes(
    "framework/services/api.c",
    r'\{(?:"(?P<method>[A-Z]+)"|NULL), "(?P<path>/[^"]*)", \w+, (?P<flags>[A-Z_0-9]+)\}')
check_routes("agora-services", services_table,
             doc_routes(section(services_md, "REST API"), None), "docs/services.md", ASSETS)


# Below a prefix route agora-services dispatches in code: the sub-resources its
# handlers match (strstr(sub, "/tasks"), ... "/delay") must be documented under
# that prefix, and every documented sub-resource must be one of them.
def handler_body(text, name):
    m = re.search(r"^%s\(.*?^\}" % name, text, re.M | re.S)
    return m.group(0) if m else ""


services_src = source("framework/services/api.c")
services_doc = doc_routes(section(services_md, "REST API"), None)
for prefix, handler in (("/v2/apps/", "any_app"), ("/v2/queue/", "any_queue")):
    body = handler_body(services_src, handler)
    subs = set(re.findall(r'str(?:str|cmp)\([^;]*?"(/[a-z]+)"', body))
    if not subs:
        problems.append("agora-services: no sub-resources found in %s()" % handler)
    documented = set()
    for (dm, dp) in services_doc:
        m = re.fullmatch(re.escape(prefix) + r"\{id\}(/[a-z]+)(/.*)?", dp)
        if m:
            documented.add(m.group(1))
    for sub in sorted(subs - documented):
        problems.append("agora-services: %s{id}%s (handled in %s) is not in docs/services.md"
                        % (prefix, sub, handler))
    for sub in sorted(documented - subs):
        problems.append("agora-services: docs/services.md documents %s{id}%s, which %s does not "
                        "handle" % (prefix, sub, handler))


# Query parameters: each one a handler reads is named in the endpoint section
# (`?name=`, `&name=`), and each one named there is read.
QUERY_FN = r'(?:http_req_query|query_true|query_false|query_int)\(req, "([A-Za-z_]+)"'
for what, path, text, page in (
        ("agora-master", "master/http_api.c", section(master_md, "HTTP endpoints"), "docs/master.md"),
        ("agora-agent", "slave/http_api.c", section(agent_md, "HTTP endpoints"), "docs/agent.md"),
        ("agora-services", "framework/services/api.c", section(services_md, "REST API"),
         "docs/services.md")):
    read = set(re.findall(QUERY_FN, source(path)))
    named = set()
    for tok in re.findall(r"`([^`]*)`", text):
        named.update(re.findall(r"[?&]([A-Za-z_]+)=", tok))
    if not read:
        problems.append("%s: no query parameters found in %s" % (what, path))
    for q in sorted(read - named):
        problems.append("%s: query parameter %s (read in %s) is not in %s" % (what, q, path, page))
    for q in sorted(named - read):
        problems.append("%s: %s names query parameter %s, which %s does not read"
                        % (what, page, q, path))


# Anywhere in docs/: `GET http://AGENT:5051/path` and the like name a route of
# that component.
by_host = {"MASTER": (master_table, ASSETS), "AGENT": (agent_table, []),
           "SERVICES": (services_table, ASSETS)}
for name in sorted(os.listdir(os.path.join(SRC, "docs"))):
    if not name.endswith(".md"):
        continue
    for m in re.finditer(r"`(GET|POST|PUT|PATCH|DELETE) http://([A-Z]+)(?::\d+)?(/[^`?\s]*)",
                         doc(name)):
        method, host, path = m.groups()
        if host in by_host and not served(method, path, by_host[host][0], by_host[host][1]):
            problems.append("docs/%s: %s http://%s.../%s is not served by the %s"
                            % (name, method, host, path.lstrip("/"), host.lower()))

for what, table in (("master", master_table), ("agent", agent_table),
                    ("services", services_table)):
    if len(table) < 5:
        problems.append("%s: only %d routes found in its route table: "
                        "has the table's form changed?" % (what, len(table)))

for p in problems:
    print(p)
if problems:
    print("docs_check: %d problem(s)" % len(problems))
    sys.exit(1)
print("docs_check: flags of 5 binaries, %d master, %d agent and %d services routes match docs/"
      % (len(master_table), len(agent_table), len(services_table)))
