/*
 * task_firewall: keeps tasks from connecting to the control plane (the master,
 * the agent's own API, and what --task_firewall_deny lists) while they keep
 * the rest of the network, with an nftables table the agent owns.
 *
 * The table, "inet agora_agent_<agent port>", holds a set of user ids and one
 * rule per denied destination on the output hook: a TCP connection from a
 * socket of a user in the set to that destination is refused with a reset. A
 * destination on this machine (a loopback or local address) is matched on
 * every local address ("fib daddr type local"), so another address of the
 * machine is no way around it. The agent adds a task's user before the task
 * starts and removes it once no task of that user runs; root is never added
 * (root could remove the table). The match is by user, not by task: while a
 * task runs as a user, every process of that user on the machine is denied
 * those destinations (run tasks as users of their own: the default `nobody`).
 *
 * The table is replaced as a whole, in one nftables transaction, when the agent
 * starts (with the users of the tasks it recovers), and kept when it stops, so
 * running tasks stay fenced while the agent restarts. An agent without
 * --task_firewall deletes a table left by an earlier run.
 *
 * libnftables exit()s the process when the kernel has no nftables netlink;
 * this module checks for it first and answers an error instead.
 *
 * tfw_ruleset() is the pure part (the nftables script); the rest talks to the
 * kernel through libnftables. Loop thread only.
 */
#ifndef AGORA_SLAVE_TASK_FIREWALL_H
#define AGORA_SLAVE_TASK_FIREWALL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TFW_MAX_DESTS 64

/* A denied destination: `addr` an IPv4 or IPv6 literal, or "local" for every
 * address of this machine; `port` 1-65535. */
struct tfw_dest {
    char addr[64];
    int port;
};

/*
 * Parses `host:port` ("[v6]:port" for IPv6; a host name is resolved now) into
 * destinations appended to `d` (at most TFW_MAX_DESTS in all): loopback,
 * unspecified (0.0.0.0, ::) and this machine's own addresses become "local".
 * Returns 0 or -AG_EINVAL with the reason in `err`.
 */
int tfw_parse_dest(const char *spec, struct tfw_dest *d, size_t *n, char *err, size_t errlen);

/*
 * Writes the nftables script that (re)creates table `table` with the
 * destinations and user ids given, as one transaction, into `buf`. Returns 0,
 * or -AG_ERANGE when `len` is too small.
 */
int tfw_ruleset(const char *table, const struct tfw_dest *d, size_t n, const uid_t *uids,
                size_t nuids, char *buf, size_t len);

struct tfw;

/* Installs (replaces) the table for agent port `port` with destinations `d`
 * (copied) and the users of the tasks running now, `uids` (one per task; root
 * ignored), in one transaction. Returns 0, -AG_ENOMEM, or -AG_EIO with
 * nftables' message in `err`. */
int tfw_open(struct tfw **out, int port, const struct tfw_dest *d, size_t n, const uid_t *uids,
             size_t nuids, char *err, size_t errlen);

/* Deletes the table of agent port `port` if there is one (an earlier run's). */
void tfw_remove_stale(int port);

/* A task of user `uid` starts: adds it to the set (counted; root is ignored).
 * Returns 0, or -AG_EIO with nftables' message in `err`. */
int tfw_user_add(struct tfw *t, uid_t uid, char *err, size_t errlen);

/* A task of user `uid` is gone: removes it from the set with its last task. */
void tfw_user_del(struct tfw *t, uid_t uid);

/* The table's name ("inet agora_agent_PORT"). */
const char *tfw_table(const struct tfw *t);

/* Frees the handle; the table stays (see above). Accepts NULL. */
void tfw_close(struct tfw *t);

#endif
