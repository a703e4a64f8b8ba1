/*
 * Real ZooKeeper servers for tests: a standalone server or an ensemble, each
 * a child process (java, Debian's /usr/share/java/zookeeper.jar, or $ZK_JAR)
 * on loopback ports, with its configuration, data and logs in one mkdtemp
 * directory under $TMPDIR (or /tmp).
 *
 * zk_server_start returns once every server answers "ruok" with "imok" and
 * "srvr" with its mode (standalone, leader or follower: the ensemble has a
 * quorum). zk_server_stop kills them and removes the directory; servers that
 * are still running when the test process exits (a failed CHECK) are stopped
 * the same way by an atexit handler, and die with the process anyway
 * (PR_SET_PDEATHSIG).
 *
 * Used from the test's main thread only.
 */
#ifndef AGORA_TESTS_ZK_SERVER_H
#define AGORA_TESTS_ZK_SERVER_H

#include <stddef.h>

struct zk_server;

/*
 * Starts `n` servers (1: standalone; 3 or 5: an ensemble) and waits up to
 * 60 s for them. Returns 0, -AG_ENOENT when java or the jar is missing (the
 * test skips, naming `why`), or another -AG_E* (a server did not come up: the
 * end of its log is printed to stderr). `why` (may be NULL) receives the
 * reason of a failure.
 */
int zk_server_start(struct zk_server **out, int n, char *why, size_t whylen);

/* The connection string of every server: "127.0.0.1:P1,127.0.0.1:P2,...". */
const char *zk_server_hosts(const struct zk_server *s);

/* The connection string of server `i` (0-based) alone. */
const char *zk_server_host(const struct zk_server *s, int i);

/* Whether server `i` is the ensemble's leader now ("srvr" says "Mode: leader"). */
int zk_server_leads(const struct zk_server *s, int i);

/* Kills server `i` (SIGKILL), as a crash; its data stays. */
void zk_server_kill(struct zk_server *s, int i);

/* Kills every server, removes the directory and frees `s`; NULL is a no-op. */
void zk_server_stop(struct zk_server *s);

#endif
