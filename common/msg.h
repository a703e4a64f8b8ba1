/*
 * Messages between master, agents and frameworks. Every message and field is
 * defined once, in msg.def; this header turns that table into structs and
 * msg.c into one descriptor-driven encoder, decoder, copy, compare and free.
 * docs/protocol.md lists every message (generated from the same table).
 *
 * Wire format: one msgpack map per message (the envelope)
 *     {"v": version, "t": type, "s": sender id, "c": correlation id, "b": body}
 * where the body is a map with one string key per field. Decoding skips unknown
 * keys (newer peers may add fields), gives absent keys their default (zero,
 * "" or the default named in msg.def) and rejects a known key whose value has
 * the wrong type, a duplicate known key, or anything beyond the MSG_MAX_* limits.
 * A nil value counts as an absent key.
 *
 * Ownership: every pointer in a decoded message is malloc'd and owned by it
 * (msg_free releases them). A message you build only to encode may point at
 * borrowed strings and arrays as long as you never pass it to msg_free; the
 * encoder only reads and treats NULL strings as "". Decoded strings are never
 * NULL (absent = "").
 *
 * Field naming in C: a list field `x` is `x` plus its count `nx`; a binary field
 * `x` is `x` plus `x_len`; an optional nested field `x` is `x` plus `has_x`.
 */
#ifndef AGORA_MSG_H
#define AGORA_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

#include "attributes.h"
#include "msg.def"
#include "resources.h"

#define MSG_VERSION 1     /* the protocol version we speak */
#define MSG_VERSION_MIN 1 /* the oldest version we still accept */

/* Decode limits (the encoder refuses to produce what a decoder would reject). */
#define MSG_MAX_STR (1u << 20)  /* bytes in one string */
#define MSG_MAX_BIN (16u << 20) /* bytes in one binary field */
#define MSG_MAX_LIST 1000000u   /* elements in one list or key/value map */
#define MSG_MAX_DEPTH 32        /* nesting of maps and arrays, unknown values included */
/* List storage one decode may allocate: MSG_MEM_BASE + MSG_MEM_PER_BYTE * input size. */
#define MSG_MEM_BASE (1u << 20)
#define MSG_MEM_PER_BYTE 32u

#define MSG_AUTH_MECHANISM "AGORA-HMAC-SHA256"

enum msg_task_state {
#define MSG_X_STATE_(name, terminal) MSG_TASK_##name,
    MSG_TASK_STATES(MSG_X_STATE_)
#undef MSG_X_STATE_
        MSG_TASK_STATE_COUNT
};

/* A tri-state boolean; zero is "not set" (the key is omitted on the wire). */
enum msg_tri { MSG_TRI_UNSET = 0, MSG_TRI_FALSE = 1, MSG_TRI_TRUE = 2 };

struct msg_kv {
    char *key;
    char *value;
};

/* struct members of each field kind (see msg.def) */
#define MSG_M_STR(name, a) char *name;
#define MSG_M_BIN(name, a)                                                                         \
    uint8_t *name;                                                                                 \
    size_t name##_len;
#define MSG_M_BOOL(name, a) bool name;
#define MSG_M_TRI(name, a) enum msg_tri name;
#define MSG_M_U32(name, a) uint32_t name;
#define MSG_M_U64(name, a) uint64_t name;
#define MSG_M_I32(name, a) int32_t name;
#define MSG_M_I64(name, a) int64_t name;
#define MSG_M_DBL(name, a) double name;
#define MSG_M_STATE(name, a) enum msg_task_state name;
#define MSG_M_RES(name, a) struct resources name;
#define MSG_M_ATTR(name, a) struct attributes name;
#define MSG_M_STRS(name, a)                                                                        \
    char **name;                                                                                   \
    size_t n##name;
#define MSG_M_KV(name, a)                                                                          \
    struct msg_kv *name;                                                                           \
    size_t n##name;
#define MSG_M_STRUCT(name, a) struct msg_##a name;
#define MSG_M_OPT(name, a)                                                                         \
    bool has_##name;                                                                               \
    struct msg_##a name;
#define MSG_M_LIST(name, a)                                                                        \
    struct msg_##a *name;                                                                          \
    size_t n##name;
#define MSG_MEMBER_(S, kind, name, a, doc) MSG_M_##kind(name, a)
#define MSG_STRUCT_(tag, ...)                                                                      \
    struct msg_##tag {                                                                             \
        MSG_FIELDS_##tag(MSG_MEMBER_, _)                                                           \
    };

/* struct msg_command, msg_task_info, ... (the nested types) */
MSG_NESTED_TYPES(MSG_STRUCT_)

/* struct msg_agent_register, ... (the message bodies) */
#define MSG_BODY_(num, NAME, tag, dir, doc) MSG_STRUCT_(tag)
MSG_MESSAGES(MSG_BODY_)

enum msg_type {
    MSG_NONE = 0,
#define MSG_X_TYPE_(num, NAME, tag, dir, doc) MSG_##NAME = num,
    MSG_MESSAGES(MSG_X_TYPE_)
#undef MSG_X_TYPE_
        MSG_TYPE_END /* one past the highest type number */
};

struct msg {
    uint32_t version; /* protocol version (set by msg_init and msg_decode) */
    enum msg_type type;
    char *sender;  /* agent, framework or master id; "" when unknown */
    uint64_t corr; /* correlation id: an answer repeats its request's */
    uint64_t epoch; /* the sending master's leader epoch (high availability); 0: none */
    union {
#define MSG_X_UNION_(num, NAME, tag, dir, doc) struct msg_##tag tag;
        MSG_MESSAGES(MSG_X_UNION_)
#undef MSG_X_UNION_
    } u;
};

/*
 * Makes `m` an empty message of `type`: version MSG_VERSION, no sender, corr 0,
 * every body field at its default (e.g. DECLINE refuse_seconds = 5). Returns 0,
 * or -AG_EINVAL for an unknown type (m is then zeroed).
 */
int msg_init(struct msg *m, enum msg_type type);

/* Frees everything `m` owns and zeroes it. Accepts NULL and zeroed messages. */
void msg_free(struct msg *m);

/*
 * Appends the encoding of `m` to `out`. Returns 0; -AG_EINVAL for an unknown
 * type, an unknown task state, invalid UTF-8, or a list with a count but no
 * array; -AG_ERANGE when a value exceeds a MSG_MAX_* limit; -AG_EVERSION when
 * m->version is neither 0 (= MSG_VERSION) nor supported; -AG_ENOMEM. On failure
 * `out` is restored to its previous size.
 */
int msg_encode(const struct msg *m, msgpack_sbuffer *out);

/* Like msg_encode into a new malloc'd buffer stored in *buf (caller frees) with
 * its size in *len. On failure *buf is NULL and *len 0. */
int msg_encode_alloc(const struct msg *m, void **buf, size_t *len);

/*
 * Decodes one message, which must fill `buf` exactly. Returns 0 with `out`
 * owning the result, or on failure leaves `out` zeroed (nothing allocated) and
 * returns:
 *   -AG_EVERSION  `v` absent or outside [MSG_VERSION_MIN, MSG_VERSION];
 *   -AG_ENOENT    a type number this build does not know (a newer peer?);
 *   -AG_ERANGE    a MSG_MAX_* limit or the memory budget exceeded;
 *   -AG_EPROTO    anything malformed (truncated, wrong type, bad resources text...);
 *   -AG_ENOMEM.
 * When `err` is not NULL it receives a one-line reason naming the field, e.g.
 * `b.tasks[3].task.command.user: expected string, got int`.
 */
int msg_decode(struct msg *out, const void *buf, size_t len, char *err, size_t errlen);

/* Replaces `dst` (initialized or zeroed) with a deep copy of `src`. Returns 0 or
 * -AG_ENOMEM (or -AG_EINVAL for an unknown type); on failure `dst` is unchanged. */
int msg_copy(struct msg *dst, const struct msg *src);

/* True when `a` and `b` have the same type, sender, corr and body (the version is
 * ignored). NULL and "" strings are equal; doubles compare with ==, NaN equal to NaN. */
bool msg_equal(const struct msg *a, const struct msg *b);

/* "AGENT_REGISTER", ... or "UNKNOWN". */
const char *msg_type_name(int type);

/* The type called `name` (e.g. "OFFERS"), or MSG_NONE. */
enum msg_type msg_type_parse(const char *name);

/* "TASK_RUNNING", ... or "TASK_UNKNOWN" for values out of range. */
const char *msg_task_state_name(int state);

/* Parses a state name ("TASK_RUNNING"). Returns 0 or -AG_EINVAL. */
int msg_task_state_parse(const char *name, enum msg_task_state *out);

/* True for states a task never leaves: FINISHED, FAILED, KILLED, LOST, ERROR,
 * DROPPED, GONE. */
bool msg_task_state_terminal(int state);

/*
 * For each nested type T (msg_task_info, msg_task_status, msg_offer, ...):
 *   void msg_T_init(struct msg_T *x)   zeroes x and sets msg.def defaults.
 *   void msg_T_fini(struct msg_T *x)   frees what x owns and re-inits it. Accepts NULL.
 *   int  msg_T_copy(struct msg_T *dst, const struct msg_T *src)
 *        replaces dst (initialized) with a deep copy; 0 or -AG_ENOMEM (dst unchanged).
 *   bool msg_T_equal(const struct msg_T *a, const struct msg_T *b)   as msg_equal.
 * Use them to keep a piece of a message (or steal it: copy the struct out and
 * re-init the one in the message before msg_free).
 */
#define MSG_FUNCS_(tag, ...)                                                                       \
    void msg_##tag##_init(struct msg_##tag *x);                                                    \
    void msg_##tag##_fini(struct msg_##tag *x);                                                    \
    int msg_##tag##_copy(struct msg_##tag *dst, const struct msg_##tag *src);                      \
    bool msg_##tag##_equal(const struct msg_##tag *a, const struct msg_##tag *b);
MSG_NESTED_TYPES(MSG_FUNCS_)

/*
 * Writes the generated part of docs/protocol.md: one Markdown section per
 * nested type and per message, with each field's key, wire type, default and
 * meaning. Returns 0 or -AG_EIO.
 */
int msg_write_docs(FILE *f);

#endif
