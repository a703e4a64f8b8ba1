/*
 * The master's operator HTTP API (http_api.c): a front end that sees the
 * master only through master.h. main.c opens it after master_start() and
 * before master_listen() (the agent/framework stream shares its port).
 */
#ifndef AGORA_MASTER_HTTP_API_H
#define AGORA_MASTER_HTTP_API_H

struct master;
struct master_flags;
struct mhttp;

/* Serves the endpoints (docs/master.md) and the dashboard on the master's
 * --ip:--port; closes itself when the master stops. 0 or -AG_E* (logged; *out
 * may be set: close and free it). */
int mhttp_open(struct mhttp **out, struct master *m);

/*
 * This master's info as Mesos's MasterInfo JSON (id, ip as a uint32 in network
 * order, port, pid "master@IP:PORT", hostname, version, address {hostname, ip,
 * port}), for ZooKeeper and /state's leader_info. The address is
 * --advertise_ip, else --ip unless it is 0.0.0.0, else what --hostname (or
 * the system's name) resolves to. A string the caller frees, NULL when out of
 * memory.
 */
char *mhttp_master_info(const char *id, const struct master_flags *f);

/* Stops serving (the loop must run on to finish closing). NULL is a no-op. */
void mhttp_close(struct mhttp *h);

/* Frees it once the loop has finished. NULL is a no-op. */
void mhttp_free(struct mhttp *h);

#endif
