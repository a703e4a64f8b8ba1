#!/usr/bin/env python3
"""Checks, from `strace -f -qq -yy -xx -s 1000000` logs, that state files are
durable before anyone acts on them (tests/integration/test_durability.sh).

  strace_durability.py store LOG DB MASTER_PORT TASK_ID...
      agora-services (DB services.db) or a plugin host (DB plugin.db): the
      first WAL write of each task (its launch record) is followed by a sync
      of DB-wal before the first message to the master naming the task (the
      launch); for every later message naming it (an acknowledgement, a kill),
      what the WAL got about the task since the last message from the master
      naming it (the status update answered) was synced before.
  strace_durability.py agent LOG MASTER_PORT TASK_ID...
      agora-agent: the first message to the master naming a task follows a
      sync of agent.db-wal and an fsync of its directory made after the WAL
      was first written (so the WAL's name is durable too).
  strace_durability.py executor LOG
      agora-executor (traced with the agent): status.json is fsynced before
      its rename, the directory after it, and the directory's parent too,
      all before the executor prints "exited" to the agent.

Prints the first violation and exits 1; exits 0 when every check passes.
Messages travel in WebSocket frames that the client masks: frames are
unmasked before they are searched.
"""
import re
import sys

LINE = re.compile(r'^(\d+) +(.*)$')
CALL = re.compile(r'^([a-z0-9_]+)\((\d+)<((?:\\x[0-9a-f]{2})+|[A-Za-z]+:\[[^\]]*\])')
RESUMED = re.compile(r'^<\.\.\. ([a-z0-9_]+) resumed>')
STR = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')


def unhex(s):
    return bytes.fromhex(s.replace('\\x', ''))


def fdpath(s):
    """The path strace shows for an fd (hex-escaped under -xx), or its TCP:[...] text."""
    return unhex(s).decode(errors='replace') if s.startswith('\\x') else s


def strings(text):
    return [unhex(m) for m in STR.findall(text)]


def unmask(data):
    """The payloads of the WebSocket frames at the start of `data` (masked
    frames unmasked); `data` itself when it does not parse as frames."""
    out, i = [], 0
    while i + 2 <= len(data):
        b1 = data[i + 1]
        n, j = b1 & 0x7f, i + 2
        if n == 126:
            n, j = int.from_bytes(data[j:j + 2], 'big'), j + 2
        elif n == 127:
            n, j = int.from_bytes(data[j:j + 8], 'big'), j + 8
        key = None
        if b1 & 0x80:
            key, j = data[j:j + 4], j + 4
        body = data[j:j + n]
        if key:
            body = bytes(c ^ key[k % 4] for k, c in enumerate(body))
        out.append(body)
        i = j + n
    return b''.join(out) + data


def events(path):
    """(index, pid, call, fd path, ok, data) for each completed system call,
    in the order strace saw them complete (entry order for the sends, whose
    data is known at entry)."""
    pending = {}
    ev = []
    with open(path, errors='replace') as f:
        for raw in f:
            m = LINE.match(raw.rstrip('\n'))
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(2)
            r = RESUMED.match(rest)
            if r:
                if pid not in pending:
                    continue
                call, fdp, data0 = pending.pop(pid)
                ok = re.search(r'\) += (\d+)', rest) is not None
                data = data0 + b''.join(strings(rest))
                ev.append((len(ev), pid, call, fdp, ok, data))
                continue
            c = CALL.match(rest)
            if not c:
                continue
            call, fdp = c.group(1), fdpath(c.group(3))
            data = b''.join(strings(rest))
            if rest.endswith('<unfinished ...>'):
                if call in ('sendmsg', 'sendto', 'write', 'writev'):
                    ev.append((len(ev), pid, call, fdp, True, data))  # data is known at entry
                else:
                    pending[pid] = (call, fdp, data)
                continue
            ok = re.search(r'\) += (\d+)', rest) is not None
            ev.append((len(ev), pid, call, fdp, ok, data))
    return ev


SEND = ('sendmsg', 'sendto', 'write', 'writev')
RECV = ('recvmsg', 'recvfrom', 'read', 'readv')
SYNC = ('fsync', 'fdatasync')


def fail(msg):
    print('durability check failed: ' + msg)
    sys.exit(1)


def to_master(e, port):
    return e[3].startswith('TCP:') and e[3].endswith('->127.0.0.1:%s]' % port)


def sends_naming(ev, port, tid):
    return [e for e in ev if e[2] in SEND and to_master(e, port) and tid in unmask(e[5])]


def check_store(log, db, port, tids):
    ev = events(log)
    wal = '/' + db + '-wal'
    wal_syncs = [e[0] for e in ev if e[2] in SYNC and e[4] and e[3].endswith(wal)]
    answers = 0
    for t in tids:
        tid = t.encode()
        writes = [e[0] for e in ev if e[2] == 'pwrite64' and e[3].endswith(wal) and tid in e[5]]
        sends = sends_naming(ev, port, tid)
        if not writes or not sends:
            fail('%s: no WAL write (%d) or no message to the master (%d) names the task'
                 % (t, len(writes), len(sends)))
        first = sends[0][0]
        if writes[0] > first:
            fail('%s: launched before its record was written' % t)
        if not any(writes[0] < s < first for s in wal_syncs):
            fail('%s: launched (strace event %d) without a sync of %s-wal after its record '
                 'was written (event %d)' % (t, first, db, writes[0]))
        for s in sends[1:]:
            recvs = [e[0] for e in ev if e[2] in RECV and to_master(e, port) and
                     e[0] < s[0] and tid in e[5]]
            since = recvs[-1] if recvs else first
            later = [w for w in writes if since < w < s[0]]
            if later and not any(later[0] < y < s[0] for y in wal_syncs):
                fail('%s: message %d to the master (an acknowledgement or a kill) sent before '
                     'the WAL write %d about the task was synced' % (t, s[0], later[0]))
            answers += 1 if later else 0
    if answers == 0:
        fail('no acknowledgement or kill followed a write about its task: nothing checked')
    print('%s: %d tasks; their launches and %d acknowledgements or kills each after a '
          'sync of the WAL (%d syncs)' % (db, len(tids), answers, len(wal_syncs)))


def check_agent(log, port, tids):
    ev = events(log)
    for t in tids:
        sends = sends_naming(ev, port, t.encode())
        if not sends:
            fail('%s: the agent never told the master about it' % t)
        first = sends[0][0]
        dbs = [e for e in ev if e[2] in SYNC and e[4] and e[3].endswith('/agent.db-wal')
               and e[0] < first]
        if not dbs:
            fail('%s: status update sent before any sync of agent.db-wal' % t)
        meta = dbs[0][3].rsplit('/', 1)[0]
        # The WAL exists once written: its name is durable only after a sync of
        # the directory made since then (SQLite makes it with its sync of the
        # header of a new WAL; its sync of meta/ for the database came before).
        wal_written = [e[0] for e in ev if e[2] == 'pwrite64' and e[3].endswith('/agent.db-wal')]
        if not any(e[2] in SYNC and e[4] and e[3] == meta and wal_written[0] < e[0] < first
                   for e in ev):
            fail('%s: status update sent before %s (which holds agent.db-wal) was fsynced '
                 'after the WAL was created' % (t, meta))
    print('agent: %d tasks, status updates after syncs of agent.db-wal and its directory'
          % len(tids))


def check_executor(log):
    ev = events(log)
    renames = []
    with open(log, errors='replace') as f:
        for raw in f:
            # (the result may come on a later "resumed" line: a failed rename
            # leaves no status.json and fails the checks below)
            m = re.match(r'^(\d+) +rename\("((?:\\x[0-9a-f]{2})*)", "((?:\\x[0-9a-f]{2})*)"',
                         raw)
            if m and unhex(m.group(3)).endswith(b'/status.json'):
                renames.append((int(m.group(1)), unhex(m.group(2)).decode(),
                                unhex(m.group(3)).decode()))
    if not renames:
        fail('no executor wrote status.json')
    for pid, tmp, final in renames:
        mine = [e for e in ev if e[1] == pid]
        # rename is not an fd call: find its place by the file syncs around it.
        tmp_syncs = [e[0] for e in mine if e[2] in SYNC and e[4] and e[3] == tmp]
        meta = final.rsplit('/', 1)[0]
        parent = meta.rsplit('/', 1)[0]
        dir_syncs = [e[0] for e in mine if e[2] in SYNC and e[4] and e[3] == meta]
        parent_syncs = [e[0] for e in mine if e[2] in SYNC and e[4] and e[3] == parent]
        exited = [e[0] for e in mine if e[2] == 'write' and e[3].startswith('pipe:')
                  and e[5].startswith(b'exited')]
        if not exited:
            fail('executor %d: no "exited" written to the agent' % pid)
        if not tmp_syncs or tmp_syncs[0] > exited[0]:
            fail('executor %d: %s not fsynced before it was renamed and reported' % (pid, tmp))
        if not dir_syncs or not tmp_syncs[0] < dir_syncs[-1] < exited[0]:
            fail('executor %d: %s not fsynced after the rename, before "exited"' % (pid, meta))
        if not parent_syncs or not parent_syncs[-1] < exited[0]:
            fail('executor %d: %s not fsynced before "exited"' % (pid, parent))
    # The order of the rename itself, in the log as strace wrote it.
    with open(log, errors='replace') as f:
        lines = f.readlines()
    for pid, tmp, final in renames:
        seq = []
        for raw in lines:
            m = LINE.match(raw)
            if not m or int(m.group(1)) != pid:
                continue
            rest = m.group(2)
            if rest.startswith('rename(') and final.encode().hex() in rest.replace('\\x', ''):
                seq.append('rename')
            c = CALL.match(rest)
            if c and c.group(1) in SYNC and fdpath(c.group(3)) == tmp:
                seq.append('fsync-file')
            if c and c.group(1) in SYNC and fdpath(c.group(3)) == final.rsplit('/', 1)[0]:
                seq.append('fsync-dir')
        if seq[:3] != ['fsync-file', 'rename', 'fsync-dir']:
            fail('executor %d: status.json written in the order %s, not fsync, rename, fsync '
                 'of the directory' % (pid, seq))
    print('executor: %d status.json writes, each fsync, rename, fsync of the directory and '
          'its parent, then "exited"' % len(renames))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    what, log, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    if what == 'store' and len(rest) >= 2:
        check_store(log, rest[0], rest[1], rest[2:])
    elif what == 'agent' and rest:
        check_agent(log, rest[0], rest[1:])
    elif what == 'executor':
        check_executor(log)
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == '__main__':
    main()
