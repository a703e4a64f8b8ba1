/*
 * The high-availability parts of `agora cluster up --ha` (tools/agora_cluster.c):
 * a ZooKeeper ensemble of CHA_ZKS java servers, and the probes that tell who
 * leads (ZooKeeper's `srvr`, a master's /state, agora-services' /v2/leader).
 *
 * Port scheme, from the cluster's base port PORT: ZooKeeper server I (1..3)
 * serves clients on PORT+100+I-1, its peers on PORT+110+I-1 and leader
 * election on PORT+120+I-1. The servers are Debian's `zookeeper` package
 * (CHA_ZK_JAR, main class QuorumPeerMain) run by the first `java` on PATH,
 * each from its directory ZKDIR holding zoo.cfg (tickTime 500 ms, so sessions
 * of 1 to 10 s), data/myid and log4j.properties (logging to the console, which
 * `agora cluster` appends to DIR/zkI.log).
 *
 * Probes block for at most about two seconds each, keep no state and print
 * nothing; they return -1 when the server does not answer as expected.
 */
#ifndef AGORA_CLUSTER_HA_H
#define AGORA_CLUSTER_HA_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define CHA_ZKS 3
#define CHA_MASTERS 3
#define CHA_SERVICES 2
#define CHA_ZK_JAR "/usr/share/java/zookeeper.jar"
/* Masters' and agora-services' --zk_session_timeout: a kill -9 of a leader costs about this. */
#define CHA_SESSION_TIMEOUT "2secs"
/* The ZooKeeper paths of the masters' group and of agora-services. */
#define CHA_MASTER_PATH "/agora"
#define CHA_SERVICES_PATH "/agora-services"

/* The ensemble's ports (index I-1 for server I). */
struct cha_zk {
    int client[CHA_ZKS], peer[CHA_ZKS], election[CHA_ZKS];
};

/* The command line of a ZooKeeper server. */
struct cha_cmd {
    char buf[4][PATH_MAX + 64];
    char *argv[12];
};

/* Fills `z` from the cluster's base port (see above). */
void cha_zk_ports(int port, struct cha_zk *z);

/* "zk://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3PATH" into buf. */
void cha_zk_url(const struct cha_zk *z, const char *path, char *buf, size_t len);

/* Finds `java` on PATH and checks CHA_ZK_JAR. Returns 0 with the path of java
 * in `java`, or prints what is missing (and that tools/deps installs it) and
 * returns CLI_FAIL. */
int cha_java(char *java, size_t len);

/* Creates ZKDIR/data and writes ZKDIR/zoo.cfg, ZKDIR/data/myid (`id`, 1..3)
 * and ZKDIR/log4j.properties. Returns 0, or prints the problem and returns
 * CLI_FAIL (files already written stay). */
int cha_zk_config(const char *zkdir, int id, const struct cha_zk *z);

/* The argument that identifies server ZKDIR's process: ZKDIR/zoo.cfg. */
void cha_zk_mark(const char *zkdir, char *buf, size_t len);

/* The command line (cmd->argv) that runs server ZKDIR with `java`. */
void cha_zk_cmd(const char *java, const char *zkdir, struct cha_cmd *cmd);

/* The server's mode from `srvr` on 127.0.0.1:PORT ("leader", "follower",
 * "standalone"): 0 once it serves (in an ensemble: has a quorum), else -1. */
int cha_zk_mode(int port, char *mode, size_t len);

/* GET SCHEME://127.0.0.1:PORT/state of a master: whether it leads and the port
 * of the leader it names (0 when none). Returns 0 or -1. */
int cha_master_state(const char *scheme, int port, bool *elected, int *leader_port);

/* The index in ports[0..n-1] of the master that says it leads, or -1. */
int cha_master_leader(const char *scheme, const int *ports, int n);

/* GET SCHEME://127.0.0.1:PORT/v2/leader of agora-services: whether the
 * instance leads (the leader it names is "127.0.0.1:PORT"). Returns 0 (also
 * when there is no leader: *leading false) or -1 when it does not answer. */
int cha_services_leading(const char *scheme, int port, bool *leading);

#endif
