/*
 * Internals of libagora-scheduler shared by its modules: the layout of the
 * opaque public types (thin wrappers around the wire structs of msg.def) and
 * the per-thread error detail behind ag_last_error().
 */
#ifndef AGORA_SCHED_INTERNAL_H
#define AGORA_SCHED_INTERNAL_H

#include "error.h"
#include "msg.h"
#include "tls.h"

#include <agora/scheduler.h>

#define SCHED_SOURCE_DRIVER "SOURCE_SCHEDULER_DRIVER"

struct ag_framework_info {
    struct msg_framework_info fi;
    char *secret;         /* NULL: no authentication */
    bool tls;             /* ag_framework_info_set_tls called: reach the master over TLS */
    struct tls_flags tls_files; /* its files (owned strings, NULL when not given) */
};

struct ag_offer {
    struct msg_offer o;
    char *res_text;  /* canonical text of o.resources */
    char *attr_text; /* text of o.attributes */
};

/* Must stay a single member: a struct msg_task_status inside a message is
 * passed to callbacks by casting its address. */
struct ag_task_status {
    struct msg_task_status s;
};

struct ag_task {
    struct msg_task_info t;
};

struct ag_operation {
    struct msg_operation op;
};

/* Records the detail returned by ag_last_error() in this thread; returns `err`
 * so that callers can write `return sched_err(-AG_EINVAL, "...")`. */
int sched_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "" for NULL. */
static inline const char *
sched_str(const char *s)
{
    return s != NULL ? s : "";
}

/* Replaces *dst with a copy of `src` (NULL means ""). 0 or -AG_ENOMEM (*dst kept). */
int sched_set_str(char **dst, const char *src);

/* A deep copy of `src` (NULL: a new empty info), or NULL when out of memory. */
struct ag_framework_info *sched_framework_info_dup(const struct ag_framework_info *src);

/* The operations behind ag_operation_launch/_reserve/_unreserve, returning
 * 0 or -AG_EINVAL / -AG_ENOMEM (with ag_last_error set) and *out. */
int sched_op_launch(struct ag_operation **out, struct ag_task *const *tasks, size_t n);
int sched_op_resources(struct ag_operation **out, const char *type, const char *text);

/* Fills the offer's text forms from o->o. 0 or -AG_ENOMEM. */
int sched_offer_texts(struct ag_offer *o);

/* Releases what `o` owns (not `o` itself). */
void sched_offer_fini(struct ag_offer *o);

#endif
