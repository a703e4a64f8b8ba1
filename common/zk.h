/*
 * zk: ZooKeeper for Agora's daemons and tools, on libzookeeper-mt.
 *
 * URLs are Mesos's: "zk://HOST:PORT[,HOST:PORT...]/PATH" (--zk on masters,
 * --master=zk://... everywhere else). PATH is the group's znode.
 *
 * Groups (leader election, as Mesos does it): the members of a group are the
 * ephemeral sequential children "json.info_NNNNNNNNNN" of the group's znode,
 * each holding its member's info as JSON (Mesos's MasterInfo fields, so Mesos
 * tooling can read them). The member with the lowest sequence number leads; that
 * number is its epoch, which only grows, so a later leader always has a higher
 * one. A member's znode goes when its session ends (zk_close, a crash: once
 * the session times out), and the next member leads.
 *
 * Threads: libzookeeper-mt runs an I/O thread and a completion thread of its
 * own; this module hands everything they report to the loop given to zk_open
 * (an evq), so every callback below runs on that loop thread, and every
 * function except zk_parse_url and zk_leader_once must be called there.
 *
 * Sessions: zk_open connects in the background. The state callback hears
 * ZK_CONNECTED (each time the connection is up, the same session or a new
 * one), ZK_DISCONNECTED (the connection was lost: the session lives on in
 * the ensemble until its timeout, and the client is reconnecting) and
 * ZK_EXPIRED (the ensemble ended the session: its ephemeral znodes are gone).
 * After ZK_EXPIRED the module opens a new session by itself, unless the
 * callback closed it, and a group it follows is read again; a member's znode
 * is not created again (a contender that lost its session decides itself
 * what to do: the master starts over).
 */
#ifndef AGORA_ZK_H
#define AGORA_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define ZK_MEMBER_PREFIX "json.info_"

struct zk_url {
    char hosts[1024]; /* "HOST:PORT,HOST:PORT" as libzookeeper takes it */
    char path[512];   /* "/agora", never ending with '/' (except "/" itself) */
};

/* Parses a zk:// URL. Returns 0, or -AG_EINVAL with the reason in `err`. */
int zk_parse_url(const char *url, struct zk_url *out, char *err, size_t errlen);

enum zk_state { ZK_CONNECTED = 1, ZK_DISCONNECTED, ZK_EXPIRED };

/* The leader of a group: its sequence number, its epoch (the sequence + 1,
 * so that 0 can mean "no epoch"), its znode's name and its data (the JSON
 * info, NUL-terminated; `len` without the NUL). */
struct zk_leader {
    int64_t seq;
    uint64_t epoch;
    char node[64];
    char *data;
    size_t len;
};

struct zk;
typedef void (*zk_state_fn)(void *arg, enum zk_state state);
/* The group's leader changed: `leader` is NULL when the group has no member,
 * valid during the call only; `self` says whether the leader is this
 * session's own member. */
typedef void (*zk_leader_fn)(void *arg, const struct zk_leader *leader, bool self);

/*
 * Opens a session to `hosts` ("HOST:PORT,...") on `loop` with
 * `session_timeout_ms` (the ensemble may narrow it to its own bounds). The
 * connection is made in the background; `fn` (may be NULL) hears its states.
 * Returns 0 or -AG_E* (nothing to release).
 */
int zk_open(struct zk **out, uv_loop_t *loop, const char *hosts, int64_t session_timeout_ms,
            zk_state_fn fn, void *arg);

/* Follows the group at `path` (created if missing): `fn` is called with the
 * first leader seen, then at every change. With `data` not NULL, also joins
 * the group: creates this session's member znode holding `len` bytes of
 * `data`. One group per session. 0 or -AG_E*. */
int zk_group(struct zk *z, const char *path, const void *data, size_t len, zk_leader_fn fn,
             void *arg);

/* A ZooKeeper return code (ZOK, ZNONODE, ...) as 0 or a negative AG_E* code,
 * for modules that make synchronous calls on zk_handle(). */
int zk_error(int zrc);

/* This session's member: its sequence number (-1 until created) and full
 * path ("" until created). */
int64_t zk_member_seq(const struct zk *z);
const char *zk_member_path(const struct zk *z);

/* The session's handle, for synchronous calls (master/registry_zk.c); NULL
 * between a session's expiry and the next one. */
struct _zhandle *zk_handle(struct zk *z);

/* Ends the session (the ensemble deletes its ephemeral znodes at once when it
 * can be reached; this may block up to a few seconds when it cannot) and
 * frees `z` once the callbacks still queued were dropped. No callback runs
 * after it. NULL is a no-op. */
void zk_close(struct zk *z);

/*
 * For command-line tools: connects to the ensemble of `url` (waiting at most
 * `timeout_ms`), reads the group's leader and closes the session. Returns 0
 * with `out` filled (out->data is the caller's to free), -AG_ENOENT when the
 * group has no leader, or another -AG_E*; `err` says why.
 */
int zk_leader_once(const char *url, int64_t timeout_ms, struct zk_leader *out, char *err,
                   size_t errlen);

/* Reads the master address in a leader's JSON info (Mesos's MasterInfo:
 * "address": {"hostname", "ip", "port"}, else "hostname" and "port"), as
 * "HOST:PORT" into `out`. 0 or -AG_EINVAL. */
int zk_leader_address(const struct zk_leader *leader, char *out, size_t outlen);

#endif
