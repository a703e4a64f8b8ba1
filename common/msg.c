/*
 * The message codec. msg.def is expanded into one descriptor per nested type
 * and per message body (key, kind, offset, nested descriptor, default), and a
 * handful of generic functions walk those descriptors: init, fini, copy, equal,
 * encode (msgpack packer) and decode (our own bounds-checked reader over the
 * raw bytes, which never allocates more than the input can justify).
 */
#include "msg.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "text.h"

enum kind {
    K_STR,
    K_BIN,
    K_BOOL,
    K_TRI,
    K_U32,
    K_U64,
    K_I32,
    K_I64,
    K_DBL,
    K_STATE,
    K_RES,
    K_ATTR,
    K_STRS,
    K_KV,
    K_STRUCT,
    K_OPT,
    K_LIST,
};

/*
 * The integer kinds, one row each: kind, C type, the msgpack packer that
 * writes it, the range a decoder accepts, its name in docs/protocol.md.
 * init, copy, equal, encode, decode and the docs expand it.
 */
#define INT_KINDS(X)                                                                               \
    X(K_U32, uint32_t, uint64, 0, UINT32_MAX, "uint32")                                            \
    X(K_U64, uint64_t, uint64, 0, UINT64_MAX, "uint64")                                            \
    X(K_I32, int32_t, int64, INT32_MIN, INT32_MAX, "int32")                                        \
    X(K_I64, int64_t, int64, INT64_MIN, INT64_MAX, "int64")

struct desc;

struct field {
    const char *key;
    size_t keylen;
    enum kind kind;
    size_t off;             /* the member */
    size_t aux;             /* K_BIN: its _len; K_STRS, K_KV, K_LIST: its count; K_OPT: has_ */
    const struct desc *sub; /* K_STRUCT, K_OPT, K_LIST */
    double def;             /* default of numbers, bools and states */
    const char *doc;
};

struct desc {
    const char *name;
    const char *doc;
    const struct field *fields;
    size_t nfields;
    size_t size;
};

/* ---- descriptors, expanded from msg.def ---- */

/* clang-format off */
#define FD_(S, K, name, aux, sub, def, doc) \
    {#name, sizeof(#name) - 1, K, offsetof(S, name), aux, sub, def, doc}
#define FD_STR(S, name, a, doc) FD_(S, K_STR, name, 0, NULL, 0, doc)
#define FD_BIN(S, name, a, doc) FD_(S, K_BIN, name, offsetof(S, name##_len), NULL, 0, doc)
#define FD_BOOL(S, name, a, doc) FD_(S, K_BOOL, name, 0, NULL, a, doc)
#define FD_TRI(S, name, a, doc) FD_(S, K_TRI, name, 0, NULL, 0, doc)
#define FD_U32(S, name, a, doc) FD_(S, K_U32, name, 0, NULL, a, doc)
#define FD_U64(S, name, a, doc) FD_(S, K_U64, name, 0, NULL, a, doc)
#define FD_I32(S, name, a, doc) FD_(S, K_I32, name, 0, NULL, a, doc)
#define FD_I64(S, name, a, doc) FD_(S, K_I64, name, 0, NULL, a, doc)
#define FD_DBL(S, name, a, doc) FD_(S, K_DBL, name, 0, NULL, a, doc)
#define FD_STATE(S, name, a, doc) FD_(S, K_STATE, name, 0, NULL, a, doc)
#define FD_RES(S, name, a, doc) FD_(S, K_RES, name, 0, NULL, 0, doc)
#define FD_ATTR(S, name, a, doc) FD_(S, K_ATTR, name, 0, NULL, 0, doc)
#define FD_STRS(S, name, a, doc) FD_(S, K_STRS, name, offsetof(S, n##name), NULL, 0, doc)
#define FD_KV(S, name, a, doc) FD_(S, K_KV, name, offsetof(S, n##name), NULL, 0, doc)
#define FD_STRUCT(S, name, a, doc) FD_(S, K_STRUCT, name, 0, &d_##a, 0, doc)
#define FD_OPT(S, name, a, doc) FD_(S, K_OPT, name, offsetof(S, has_##name), &d_##a, 0, doc)
#define FD_LIST(S, name, a, doc) FD_(S, K_LIST, name, offsetof(S, n##name), &d_##a, 0, doc)
#define FIELD_(S, K, name, a, doc) FD_##K(S, name, a, doc),
/* clang-format on */

/* The decoder tracks seen keys in a 64-bit mask. */
#define DESC_(tag, doc_)                                                                           \
    static const struct field f_##tag[] = {                                                        \
        MSG_FIELDS_##tag(FIELD_, struct msg_##tag){.key = NULL}};                                  \
    _Static_assert(sizeof(f_##tag) / sizeof(f_##tag[0]) <= 65, "too many fields in " #tag);        \
    static const struct desc d_##tag = {                                                           \
        #tag, doc_, f_##tag, sizeof(f_##tag) / sizeof(f_##tag[0]) - 1, sizeof(struct msg_##tag)};
MSG_NESTED_TYPES(DESC_)
#define BODY_DESC_(num, NAME, tag, dir, doc) DESC_(tag, doc)
MSG_MESSAGES(BODY_DESC_)

struct mtype {
    const char *name;
    const char *dir;
    const struct desc *body;
};

static const struct mtype mtypes[MSG_TYPE_END] = {
#define MTYPE_(num, NAME, tag, dir, doc) [num] = {#NAME, dir, &d_##tag},
    MSG_MESSAGES(MTYPE_)
#undef MTYPE_
};

static const char *const state_names[MSG_TASK_STATE_COUNT] = {
#define STATE_NAME_(name, terminal) "TASK_" #name,
    MSG_TASK_STATES(STATE_NAME_)
#undef STATE_NAME_
};

static const bool state_terminal[MSG_TASK_STATE_COUNT] = {
#define STATE_TERM_(name, terminal) terminal,
    MSG_TASK_STATES(STATE_TERM_)
#undef STATE_TERM_
};

static const struct mtype *
mtype_of(int type)
{
    if (type <= 0 || type >= MSG_TYPE_END || mtypes[type].name == NULL)
        return NULL;
    return &mtypes[type];
}

#define AT(base, off) ((void *)((char *)(base) + (off)))
#define CAT(base, off) ((const void *)((const char *)(base) + (off)))

/* ---- names ---- */

const char *
msg_type_name(int type)
{
    const struct mtype *t = mtype_of(type);
    return t ? t->name : "UNKNOWN";
}

enum msg_type
msg_type_parse(const char *name)
{
    for (int i = 1; name && i < MSG_TYPE_END; i++)
        if (mtypes[i].name && strcmp(mtypes[i].name, name) == 0)
            return (enum msg_type)i;
    return MSG_NONE;
}

const char *
msg_task_state_name(int state)
{
    if (state < 0 || state >= MSG_TASK_STATE_COUNT)
        return "TASK_UNKNOWN";
    return state_names[state];
}

int
msg_task_state_parse(const char *name, enum msg_task_state *out)
{
    for (int i = 0; name && i < MSG_TASK_STATE_COUNT; i++) {
        if (strcmp(state_names[i], name) == 0) {
            *out = (enum msg_task_state)i;
            return 0;
        }
    }
    return -AG_EINVAL;
}

bool
msg_task_state_terminal(int state)
{
    return state >= 0 && state < MSG_TASK_STATE_COUNT && state_terminal[state];
}

/* ---- init, fini ---- */

static void
init_struct(const struct desc *d, void *base)
{
    memset(base, 0, d->size);
    for (const struct field *f = d->fields; f->key; f++) {
        void *p = AT(base, f->off);
        switch (f->kind) {
        case K_BOOL:
            *(bool *)p = f->def != 0;
            break;
#define INIT_INT_(K, T, pack, min, max, doc)                                                        \
    case K:                                                                                        \
        *(T *)p = (T)f->def;                                                                       \
        break;
            INT_KINDS(INIT_INT_)
#undef INIT_INT_
        case K_DBL:
            *(double *)p = f->def;
            break;
        case K_STATE:
            *(enum msg_task_state *)p = (enum msg_task_state)f->def;
            break;
        case K_RES:
            res_init(p);
            break;
        case K_ATTR:
            attr_init(p);
            break;
        case K_STRUCT:
        case K_OPT:
            init_struct(f->sub, p);
            break;
        default:
            break;
        }
    }
}

/* Frees what `base` owns; leaves it in no defined state (re-init to reuse). */
static void
fini_struct(const struct desc *d, void *base)
{
    for (const struct field *f = d->fields; f->key; f++) {
        void *p = AT(base, f->off);
        size_t n = f->aux ? *(size_t *)AT(base, f->aux) : 0;
        switch (f->kind) {
        case K_STR:
        case K_BIN:
            free(*(void **)p);
            break;
        case K_RES:
            res_fini(p);
            break;
        case K_ATTR:
            attr_fini(p);
            break;
        case K_STRS: {
            char **v = *(char ***)p;
            for (size_t i = 0; v && i < n; i++)
                free(v[i]);
            free(v);
            break;
        }
        case K_KV: {
            struct msg_kv *v = *(struct msg_kv **)p;
            for (size_t i = 0; v && i < n; i++) {
                free(v[i].key);
                free(v[i].value);
            }
            free(v);
            break;
        }
        case K_STRUCT:
        case K_OPT:
            fini_struct(f->sub, p);
            break;
        case K_LIST: {
            char *v = *(char **)p;
            for (size_t i = 0; v && i < n; i++)
                fini_struct(f->sub, v + i * f->sub->size);
            free(v);
            break;
        }
        default:
            break;
        }
    }
}

int
msg_init(struct msg *m, enum msg_type type)
{
    const struct mtype *t = mtype_of(type);
    memset(m, 0, sizeof(*m));
    if (!t)
        return -AG_EINVAL;
    m->version = MSG_VERSION;
    m->type = type;
    init_struct(t->body, &m->u);
    return 0;
}

void
msg_free(struct msg *m)
{
    if (!m)
        return;
    const struct mtype *t = mtype_of(m->type);
    if (t)
        fini_struct(t->body, &m->u);
    free(m->sender);
    memset(m, 0, sizeof(*m));
}

/* ---- copy, equal ---- */

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Gives the list field `f` of `base` a new zeroed array of `n` elements of
 * `size` bytes, in its pointer (whatever its type: stored with memcpy) and its
 * count, and returns it; NULL when out of memory (the field unchanged). */
static void *
new_seq(void *base, const struct field *f, size_t n, size_t size)
{
    void *v = calloc(n, size);
    if (!v)
        return NULL;
    memcpy(AT(base, f->off), &v, sizeof(v));
    *(size_t *)AT(base, f->aux) = n;
    return v;
}

/* Copies `src` into `dst`, which init_struct prepared. On failure `dst` holds a
 * partial copy for fini_struct. */
static int
copy_struct(const struct desc *d, void *dst, const void *src)
{
    for (const struct field *f = d->fields; f->key; f++) {
        void *p = AT(dst, f->off);
        const void *q = CAT(src, f->off);
        size_t n = f->aux ? *(const size_t *)CAT(src, f->aux) : 0;
        int rc;
        switch (f->kind) {
        case K_STR:
            if (*(char *const *)q && !(*(char **)p = strdup(*(char *const *)q)))
                return -AG_ENOMEM;
            break;
        case K_BIN:
            if (n && *(void *const *)q) {
                if (!(*(void **)p = malloc(n)))
                    return -AG_ENOMEM;
                memcpy(*(void **)p, *(void *const *)q, n);
                *(size_t *)AT(dst, f->aux) = n;
            }
            break;
        case K_BOOL:
            *(bool *)p = *(const bool *)q;
            break;
        case K_TRI:
            *(enum msg_tri *)p = *(const enum msg_tri *)q;
            break;
#define COPY_INT_(K, T, pack, min, max, doc)                                                        \
    case K:                                                                                        \
        *(T *)p = *(const T *)q;                                                                   \
        break;
            INT_KINDS(COPY_INT_)
#undef COPY_INT_
        case K_DBL:
            memcpy(p, q, 8);
            break;
        case K_STATE:
            *(enum msg_task_state *)p = *(const enum msg_task_state *)q;
            break;
        case K_RES:
            if ((rc = res_copy(p, q)) < 0)
                return rc;
            break;
        case K_ATTR:
            if ((rc = attr_copy(p, q)) < 0)
                return rc;
            break;
        case K_STRS: {
            char *const *s = *(char **const *)q;
            char **v;
            if (!n || !s)
                break;
            if (!(v = new_seq(dst, f, n, sizeof(*v))))
                return -AG_ENOMEM;
            for (size_t i = 0; i < n; i++)
                if (s[i] && !(v[i] = strdup(s[i])))
                    return -AG_ENOMEM;
            break;
        }
        case K_KV: {
            const struct msg_kv *s = *(struct msg_kv *const *)q;
            struct msg_kv *v;
            if (!n || !s)
                break;
            if (!(v = new_seq(dst, f, n, sizeof(*v))))
                return -AG_ENOMEM;
            for (size_t i = 0; i < n; i++) {
                v[i].key = dup_or_null(s[i].key);
                v[i].value = dup_or_null(s[i].value);
                if ((s[i].key && !v[i].key) || (s[i].value && !v[i].value))
                    return -AG_ENOMEM;
            }
            break;
        }
        case K_OPT:
            *(bool *)AT(dst, f->aux) = *(const bool *)CAT(src, f->aux);
            /* fall through */
        case K_STRUCT:
            if ((rc = copy_struct(f->sub, p, q)) < 0)
                return rc;
            break;
        case K_LIST: {
            const char *s = *(char *const *)q;
            size_t size = f->sub->size;
            char *v;
            if (!n || !s)
                break;
            if (!(v = new_seq(dst, f, n, size)))
                return -AG_ENOMEM;
            for (size_t i = 0; i < n; i++)
                init_struct(f->sub, v + i * size);
            for (size_t i = 0; i < n; i++)
                if ((rc = copy_struct(f->sub, v + i * size, s + i * size)) < 0)
                    return rc;
            break;
        }
        }
    }
    return 0;
}

/* Replaces the initialized `dst` with a copy of `src`; on failure `dst` is unchanged. */
static int
copy_replace(const struct desc *d, void *dst, const void *src)
{
    void *tmp = malloc(d->size);
    if (!tmp)
        return -AG_ENOMEM;
    init_struct(d, tmp);
    int rc = copy_struct(d, tmp, src);
    if (rc < 0) {
        fini_struct(d, tmp);
        free(tmp);
        return rc;
    }
    fini_struct(d, dst);
    memcpy(dst, tmp, d->size);
    free(tmp);
    return 0;
}

int
msg_copy(struct msg *dst, const struct msg *src)
{
    const struct mtype *t = mtype_of(src->type);
    struct msg tmp;
    if (!t)
        return -AG_EINVAL;
    memset(&tmp, 0, sizeof(tmp));
    tmp.version = src->version;
    tmp.type = src->type;
    tmp.corr = src->corr;
    tmp.epoch = src->epoch;
    init_struct(t->body, &tmp.u);
    int rc = src->sender && !(tmp.sender = strdup(src->sender)) ? -AG_ENOMEM : 0;
    if (rc == 0)
        rc = copy_struct(t->body, &tmp.u, &src->u);
    if (rc < 0) {
        msg_free(&tmp);
        return rc;
    }
    msg_free(dst);
    *dst = tmp;
    return 0;
}

static bool
str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool
attr_eq(const struct attributes *a, const struct attributes *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct attr *x = &a->v[i], *y = &b->v[i];
        if (strcmp(x->name, y->name) != 0 || x->type != y->type || strcmp(x->text, y->text) != 0 ||
            x->scalar != y->scalar)
            return false;
    }
    return true;
}

static bool
eq_struct(const struct desc *d, const void *a, const void *b)
{
    for (const struct field *f = d->fields; f->key; f++) {
        const void *p = CAT(a, f->off), *q = CAT(b, f->off);
        size_t n = f->aux ? *(const size_t *)CAT(a, f->aux) : 0;
        if (f->aux && f->kind != K_OPT && n != *(const size_t *)CAT(b, f->aux))
            return false;
        switch (f->kind) {
        case K_STR:
            if (!str_eq(*(char *const *)p, *(char *const *)q))
                return false;
            break;
        case K_BIN:
            if (n && memcmp(*(void *const *)p, *(void *const *)q, n) != 0)
                return false;
            break;
        case K_BOOL:
            if (*(const bool *)p != *(const bool *)q)
                return false;
            break;
        case K_TRI:
            if (*(const enum msg_tri *)p != *(const enum msg_tri *)q)
                return false;
            break;
#define EQ_INT_(K, T, pack, min, max, doc)                                                          \
    case K:                                                                                        \
        if (*(const T *)p != *(const T *)q)                                                        \
            return false;                                                                          \
        break;
            INT_KINDS(EQ_INT_)
#undef EQ_INT_
        case K_DBL: {
            double x = *(const double *)p, y = *(const double *)q;
            if (x != y && !(isnan(x) && isnan(y)))
                return false;
            break;
        }
        case K_STATE:
            if (*(const enum msg_task_state *)p != *(const enum msg_task_state *)q)
                return false;
            break;
        case K_RES:
            if (!res_equal(p, q))
                return false;
            break;
        case K_ATTR:
            if (!attr_eq(p, q))
                return false;
            break;
        case K_STRS:
            for (size_t i = 0; i < n; i++)
                if (!str_eq((*(char **const *)p)[i], (*(char **const *)q)[i]))
                    return false;
            break;
        case K_KV:
            for (size_t i = 0; i < n; i++) {
                const struct msg_kv *x = &(*(struct msg_kv *const *)p)[i];
                const struct msg_kv *y = &(*(struct msg_kv *const *)q)[i];
                if (!str_eq(x->key, y->key) || !str_eq(x->value, y->value))
                    return false;
            }
            break;
        case K_OPT: {
            bool ha = *(const bool *)CAT(a, f->aux), hb = *(const bool *)CAT(b, f->aux);
            if (ha != hb || (ha && !eq_struct(f->sub, p, q)))
                return false;
            break;
        }
        case K_STRUCT:
            if (!eq_struct(f->sub, p, q))
                return false;
            break;
        case K_LIST:
            for (size_t i = 0; i < n; i++) {
                size_t off = i * f->sub->size;
                if (!eq_struct(f->sub, *(char *const *)p + off, *(char *const *)q + off))
                    return false;
            }
            break;
        }
    }
    return true;
}

bool
msg_equal(const struct msg *a, const struct msg *b)
{
    const struct mtype *t = mtype_of(a->type);
    if (a->type != b->type || a->corr != b->corr || a->epoch != b->epoch ||
        !str_eq(a->sender, b->sender))
        return false;
    return t ? eq_struct(t->body, &a->u, &b->u) : true;
}

/* ---- per nested type API ---- */

#define TYPE_FUNCS_(tag, doc)                                                                      \
    void msg_##tag##_init(struct msg_##tag *x)                                                     \
    {                                                                                              \
        init_struct(&d_##tag, x);                                                                  \
    }                                                                                              \
    void msg_##tag##_fini(struct msg_##tag *x)                                                     \
    {                                                                                              \
        if (x) {                                                                                   \
            fini_struct(&d_##tag, x);                                                              \
            init_struct(&d_##tag, x);                                                              \
        }                                                                                          \
    }                                                                                              \
    int msg_##tag##_copy(struct msg_##tag *dst, const struct msg_##tag *src)                       \
    {                                                                                              \
        return copy_replace(&d_##tag, dst, src);                                                   \
    }                                                                                              \
    bool msg_##tag##_equal(const struct msg_##tag *a, const struct msg_##tag *b)                   \
    {                                                                                              \
        return eq_struct(&d_##tag, a, b);                                                          \
    }
MSG_NESTED_TYPES(TYPE_FUNCS_)

/* ---- strings ---- */

/* NULL when `s[0..n)` is a valid protocol string (UTF-8 without NUL bytes),
 * else what is wrong with it. */
static const char *
str_problem(const uint8_t *s, size_t n)
{
    return txt_utf8_problem((const char *)s, n);
}

/* ---- encoder ---- */

#define PK(call)                                                                                   \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            return -AG_ENOMEM;                                                                     \
    } while (0)

static int
enc_bytes_str(msgpack_packer *pk, const char *s, size_t len)
{
    PK(msgpack_pack_str(pk, len));
    PK(msgpack_pack_str_body(pk, s, len));
    return 0;
}

static int
enc_str(msgpack_packer *pk, const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen(s);
    if (len > MSG_MAX_STR)
        return -AG_ERANGE;
    if (str_problem((const uint8_t *)s, len))
        return -AG_EINVAL;
    return enc_bytes_str(pk, s, len);
}

static int
enc_attr(msgpack_packer *pk, const struct attributes *a)
{
    char small[512];
    size_t need = attr_format(a, small, sizeof(small));
    if (need < sizeof(small))
        return enc_str(pk, small);
    char *big = malloc(need + 1);
    if (!big)
        return -AG_ENOMEM;
    attr_format(a, big, need + 1);
    int rc = enc_str(pk, big);
    free(big);
    return rc;
}

/* Writes the header of an array (a map when `map`) of `n` elements stored at
 * `v`: within MSG_MAX_LIST, and with storage when not empty. */
static int
enc_seq(msgpack_packer *pk, size_t n, const void *v, bool map)
{
    if (n > MSG_MAX_LIST)
        return -AG_ERANGE;
    if (n && !v)
        return -AG_EINVAL;
    PK(map ? msgpack_pack_map(pk, n) : msgpack_pack_array(pk, n));
    return 0;
}

/* Writes the key `key` and the unsigned `v`. */
static int
enc_key_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    int rc = enc_bytes_str(pk, key, strlen(key));
    if (rc < 0)
        return rc;
    PK(msgpack_pack_uint64(pk, v));
    return 0;
}

static int enc_struct(msgpack_packer *pk, const struct desc *d, const void *base);

static int
enc_field(msgpack_packer *pk, const struct field *f, const void *base)
{
    const void *p = CAT(base, f->off);
    size_t n = f->aux ? *(const size_t *)CAT(base, f->aux) : 0;
    int rc;
    switch (f->kind) {
    case K_STR:
        return enc_str(pk, *(char *const *)p);
    case K_BIN:
        if (n > MSG_MAX_BIN)
            return -AG_ERANGE;
        if (n && !*(void *const *)p)
            return -AG_EINVAL;
        PK(msgpack_pack_bin(pk, n));
        PK(msgpack_pack_bin_body(pk, *(void *const *)p, n));
        return 0;
    case K_BOOL:
        PK(*(const bool *)p ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
        return 0;
    case K_TRI:
        PK(*(const enum msg_tri *)p == MSG_TRI_TRUE ? msgpack_pack_true(pk)
                                                    : msgpack_pack_false(pk));
        return 0;
#define ENC_INT_(K, T, pack, min, max, doc)                                                         \
    case K:                                                                                        \
        PK(msgpack_pack_##pack(pk, *(const T *)p));                                                \
        return 0;
        INT_KINDS(ENC_INT_)
#undef ENC_INT_
    case K_DBL:
        PK(msgpack_pack_double(pk, *(const double *)p));
        return 0;
    case K_STATE: {
        int s = (int)*(const enum msg_task_state *)p;
        if (s < 0 || s >= MSG_TASK_STATE_COUNT)
            return -AG_EINVAL;
        return enc_str(pk, state_names[s]);
    }
    case K_RES: {
        char *text = res_to_string(p);
        if (!text)
            return -AG_ENOMEM;
        rc = enc_str(pk, text);
        free(text);
        return rc;
    }
    case K_ATTR:
        return enc_attr(pk, p);
    case K_STRS: {
        char *const *v = *(char **const *)p;
        if ((rc = enc_seq(pk, n, v, false)) < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if ((rc = enc_str(pk, v[i])) < 0)
                return rc;
        return 0;
    }
    case K_KV: {
        const struct msg_kv *v = *(struct msg_kv *const *)p;
        if ((rc = enc_seq(pk, n, v, true)) < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if ((rc = enc_str(pk, v[i].key)) < 0 || (rc = enc_str(pk, v[i].value)) < 0)
                return rc;
        return 0;
    }
    case K_STRUCT:
    case K_OPT:
        return enc_struct(pk, f->sub, p);
    case K_LIST: {
        const char *v = *(char *const *)p;
        if ((rc = enc_seq(pk, n, v, false)) < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if ((rc = enc_struct(pk, f->sub, v + i * f->sub->size)) < 0)
                return rc;
        return 0;
    }
    }
    return -AG_EINVAL;
}

/* False for fields whose key is omitted: unset tri-states, absent optionals. */
static bool
field_present(const struct field *f, const void *base)
{
    if (f->kind == K_TRI)
        return *(const enum msg_tri *)CAT(base, f->off) != MSG_TRI_UNSET;
    if (f->kind == K_OPT)
        return *(const bool *)CAT(base, f->aux);
    return true;
}

static int
enc_struct(msgpack_packer *pk, const struct desc *d, const void *base)
{
    size_t count = 0;
    int rc;
    for (const struct field *f = d->fields; f->key; f++)
        count += field_present(f, base);
    PK(msgpack_pack_map(pk, count));
    for (const struct field *f = d->fields; f->key; f++) {
        if (!field_present(f, base))
            continue;
        if ((rc = enc_bytes_str(pk, f->key, f->keylen)) < 0 || (rc = enc_field(pk, f, base)) < 0)
            return rc;
    }
    return 0;
}

static int
enc_msg(msgpack_packer *pk, const struct msg *m)
{
    const struct mtype *t = mtype_of(m->type);
    uint32_t version = m->version ? m->version : MSG_VERSION;
    int rc;
    if (!t)
        return -AG_EINVAL;
    if (version < MSG_VERSION_MIN || version > MSG_VERSION)
        return -AG_EVERSION;
    PK(msgpack_pack_map(pk, m->epoch ? 6 : 5));
    if (m->epoch && (rc = enc_key_u64(pk, "e", m->epoch)) < 0)
        return rc;
    if ((rc = enc_key_u64(pk, "v", version)) < 0 ||
        (rc = enc_key_u64(pk, "t", (uint64_t)m->type)) < 0 ||
        (rc = enc_bytes_str(pk, "s", 1)) < 0 || (rc = enc_str(pk, m->sender)) < 0 ||
        (rc = enc_key_u64(pk, "c", m->corr)) < 0 || (rc = enc_bytes_str(pk, "b", 1)) < 0)
        return rc;
    return enc_struct(pk, t->body, &m->u);
}

int
msg_encode(const struct msg *m, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    size_t old = out->size;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = enc_msg(&pk, m);
    if (rc < 0)
        out->size = old;
    return rc;
}

int
msg_encode_alloc(const struct msg *m, void **buf, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    *buf = NULL;
    *len = 0;
    int rc = msg_encode(m, &sb);
    if (rc < 0) {
        msgpack_sbuffer_destroy(&sb);
        return rc;
    }
    *len = sb.size;
    *buf = msgpack_sbuffer_release(&sb);
    if (!*buf) {
        /* An empty buffer is never a valid encoding, but stay safe. */
        *len = 0;
        return -AG_ENOMEM;
    }
    return 0;
}

/* ---- decoder ---- */

enum mp { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP, MP_EXT };

static const char *const mp_names[] = {"nil",    "bool",   "int",   "int", "float",
                                       "string", "binary", "array", "map", "ext"};

/* One msgpack value header (plus the payload of strings, binaries and exts). */
struct val {
    enum mp t;
    bool b;
    uint64_t u;         /* MP_UINT; MP_ARRAY, MP_MAP: element count */
    int64_t i;          /* MP_INT (always negative) */
    double d;           /* MP_FLOAT */
    const uint8_t *ptr; /* MP_STR, MP_BIN, MP_EXT payload */
    size_t len;
};

#define PATH_MAX_ 80

struct rd {
    const uint8_t *p, *end;
    uint64_t budget; /* bytes of list storage still allowed */
    int depth;       /* maps and arrays we are inside */
    int npath;
    struct {
        const char *key; /* NULL: an index */
        size_t keylen;
        size_t idx;
    } path[PATH_MAX_];
    char *err;
    size_t errlen;
};

static void
push_key(struct rd *r, const char *key, size_t keylen)
{
    if (r->npath < PATH_MAX_) {
        r->path[r->npath].key = key;
        r->path[r->npath].keylen = keylen;
    }
    r->npath++;
}

static void
push_idx(struct rd *r, size_t idx)
{
    if (r->npath < PATH_MAX_) {
        r->path[r->npath].key = NULL;
        r->path[r->npath].idx = idx;
    }
    r->npath++;
}

static void
pop(struct rd *r)
{
    r->npath--;
}

static int fail(struct rd *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records "PATH: reason" in r->err and returns `code`. */
static int
fail(struct rd *r, int code, const char *fmt, ...)
{
    if (!r->err || r->errlen == 0)
        return code;
    char path[256];
    size_t o = 0;
    path[0] = '\0';
    for (int i = 0; i < r->npath && i < PATH_MAX_ && o < sizeof(path); i++) {
        if (!r->path[i].key) {
            o += (size_t)snprintf(path + o, sizeof(path) - o, "[%zu]", r->path[i].idx);
            continue;
        }
        /* Keys may come from the input: print at most 40 printable characters. */
        char key[41];
        size_t n = r->path[i].keylen < 40 ? r->path[i].keylen : 40;
        for (size_t k = 0; k < n; k++) {
            char c = r->path[i].key[k];
            key[k] = c >= 0x20 && c < 0x7f ? c : '?';
        }
        key[n] = '\0';
        o += (size_t)snprintf(path + o, sizeof(path) - o, "%s%s", i ? "." : "", key);
    }
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "%s%s%s", path, path[0] ? ": " : "", why);
    return code;
}

static uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads `n` big-endian bytes into *out. */
static int
take(struct rd *r, int n, uint64_t *out)
{
    if ((size_t)(r->end - r->p) < (size_t)n)
        return fail(r, -AG_EPROTO, "truncated");
    *out = be(r->p, n);
    r->p += n;
    return 0;
}

/* Consumes a payload of `len` bytes. */
static int
payload(struct rd *r, struct val *v, uint64_t len)
{
    if ((uint64_t)(r->end - r->p) < len)
        return fail(r, -AG_EPROTO, "truncated: %" PRIu64 " bytes announced, %zu left", len,
                    (size_t)(r->end - r->p));
    v->ptr = r->p;
    v->len = (size_t)len;
    r->p += len;
    return 0;
}

/* Checks that `count` elements (each at least one byte) can fit in what is left. */
static int
fits(struct rd *r, uint64_t count, int per)
{
    if (count * (uint64_t)per > (uint64_t)(r->end - r->p))
        return fail(r, -AG_EPROTO, "%" PRIu64 " elements announced, only %zu bytes left", count,
                    (size_t)(r->end - r->p));
    return 0;
}

/* Reads one value header. Never allocates. */
static int
rd_next(struct rd *r, struct val *v)
{
    uint64_t x = 0;
    int rc = 0;
    if (r->p >= r->end)
        return fail(r, -AG_EPROTO, "truncated");
    uint8_t c = *r->p++;
    memset(v, 0, sizeof(*v));
    if (c <= 0x7f) {
        v->t = MP_UINT, v->u = c;
    } else if (c <= 0x8f) {
        v->t = MP_MAP, v->u = c & 0x0f;
        rc = fits(r, v->u, 2);
    } else if (c <= 0x9f) {
        v->t = MP_ARRAY, v->u = c & 0x0f;
        rc = fits(r, v->u, 1);
    } else if (c <= 0xbf) {
        v->t = MP_STR;
        rc = payload(r, v, c & 0x1f);
    } else if (c >= 0xe0) {
        v->t = MP_INT, v->i = (int8_t)c;
    } else {
        switch (c) {
        case 0xc0:
            v->t = MP_NIL;
            break;
        case 0xc2:
        case 0xc3:
            v->t = MP_BOOL, v->b = c == 0xc3;
            break;
        case 0xc4:
        case 0xc5:
        case 0xc6:
            v->t = MP_BIN;
            if ((rc = take(r, 1 << (c - 0xc4), &x)) == 0)
                rc = payload(r, v, x);
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            v->t = MP_EXT;
            if ((rc = take(r, 1 << (c - 0xc7), &x)) == 0)
                rc = payload(r, v, x + 1); /* type byte + data */
            break;
        case 0xca: {
            float f;
            uint32_t bits;
            if ((rc = take(r, 4, &x)) == 0) {
                bits = (uint32_t)x;
                memcpy(&f, &bits, 4);
                v->t = MP_FLOAT, v->d = f;
            }
            break;
        }
        case 0xcb:
            if ((rc = take(r, 8, &x)) == 0) {
                v->t = MP_FLOAT;
                memcpy(&v->d, &x, 8);
            }
            break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            v->t = MP_UINT;
            rc = take(r, 1 << (c - 0xcc), &v->u);
            break;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3: {
            int n = 1 << (c - 0xd0);
            if ((rc = take(r, n, &x)) == 0) {
                int64_t s = n == 1   ? (int8_t)x
                            : n == 2 ? (int16_t)x
                            : n == 4 ? (int32_t)x
                                     : (int64_t)x;
                if (s >= 0)
                    v->t = MP_UINT, v->u = (uint64_t)s;
                else
                    v->t = MP_INT, v->i = s;
            }
            break;
        }
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            v->t = MP_EXT;
            rc = payload(r, v, 1 + (1u << (c - 0xd4)));
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            v->t = MP_STR;
            if ((rc = take(r, 1 << (c - 0xd9), &x)) == 0)
                rc = payload(r, v, x);
            break;
        case 0xdc:
        case 0xdd:
            v->t = MP_ARRAY;
            if ((rc = take(r, c == 0xdc ? 2 : 4, &v->u)) == 0)
                rc = fits(r, v->u, 1);
            break;
        case 0xde:
        case 0xdf:
            v->t = MP_MAP;
            if ((rc = take(r, c == 0xde ? 2 : 4, &v->u)) == 0)
                rc = fits(r, v->u, 2);
            break;
        default: /* 0xc1 */
            return fail(r, -AG_EPROTO, "invalid byte 0x%02x", c);
        }
    }
    return rc;
}

static int
enter(struct rd *r)
{
    if (++r->depth > MSG_MAX_DEPTH)
        return fail(r, -AG_ERANGE, "nested deeper than %d levels", MSG_MAX_DEPTH);
    return 0;
}

/* Skips one value (of any type), checking only its framing and depth. */
static int
skip(struct rd *r)
{
    struct val v;
    int rc = rd_next(r, &v);
    if (rc < 0 || (v.t != MP_ARRAY && v.t != MP_MAP))
        return rc;
    if ((rc = enter(r)) < 0)
        return rc;
    uint64_t n = v.t == MP_MAP ? 2 * v.u : v.u;
    for (uint64_t i = 0; i < n; i++)
        if ((rc = skip(r)) < 0)
            return rc;
    r->depth--;
    return 0;
}

static int
type_error(struct rd *r, const char *want, const struct val *v)
{
    return fail(r, -AG_EPROTO, "expected %s, got %s", want, mp_names[v->t]);
}

static int
charge(struct rd *r, uint64_t bytes)
{
    if (bytes > r->budget)
        return fail(r, -AG_ERANGE, "message needs more memory than its size allows");
    r->budget -= bytes;
    return 0;
}

/* Checks a string value and returns it as a new NUL-terminated string in *out. */
static int
dec_str(struct rd *r, const struct val *v, char **out)
{
    if (v->t != MP_STR)
        return type_error(r, "string", v);
    if (v->len > MSG_MAX_STR)
        return fail(r, -AG_ERANGE, "string of %zu bytes (limit %u)", v->len, MSG_MAX_STR);
    const char *why = str_problem(v->ptr, v->len);
    if (why)
        return fail(r, -AG_EPROTO, "string %s", why);
    char *s = malloc(v->len + 1);
    if (!s)
        return -AG_ENOMEM;
    memcpy(s, v->ptr, v->len);
    s[v->len] = '\0';
    *out = s;
    return 0;
}

static int
check_count(struct rd *r, const struct val *v, const char *want, enum mp t)
{
    if (v->t != t)
        return type_error(r, want, v);
    if (v->u > MSG_MAX_LIST)
        return fail(r, -AG_ERANGE, "%" PRIu64 " elements (limit %u)", v->u, MSG_MAX_LIST);
    return 0;
}

static int dec_struct(struct rd *r, const struct desc *d, void *base, uint64_t count);

/* Starts a list field `f` whose header is `v` (an array; a map for K_KV):
 * checks its count, charges and enters it, and when it is not empty gives
 * the field a new zeroed array of elements of `size` bytes (see new_seq).
 * The caller decodes the elements into the field, then leaves it. */
static int
dec_seq(struct rd *r, const struct val *v, const struct field *f, void *base, size_t size)
{
    bool map = f->kind == K_KV;
    int rc;
    if ((rc = check_count(r, v, map ? "map" : "array", map ? MP_MAP : MP_ARRAY)) < 0 ||
        (rc = charge(r, v->u * size)) < 0 || (rc = enter(r)) < 0)
        return rc;
    if (v->u && !new_seq(base, f, v->u, size))
        return -AG_ENOMEM;
    return 0;
}

static int
dec_int(struct rd *r, const struct val *v, int64_t min, uint64_t max, uint64_t *u, int64_t *i)
{
    if (v->t == MP_UINT && v->u <= max) {
        *u = v->u;
        *i = (int64_t)v->u;
        return 0;
    }
    if (v->t == MP_INT && min < 0 && v->i >= min) {
        *i = v->i;
        return 0;
    }
    if (v->t == MP_UINT || v->t == MP_INT)
        return fail(r, -AG_EPROTO, "integer out of range");
    return type_error(r, "int", v);
}

static int
dec_text_into(struct rd *r, const struct val *v, enum kind kind, void *p)
{
    char *text = NULL, why[200];
    int rc = dec_str(r, v, &text);
    if (rc < 0)
        return rc;
    why[0] = '\0';
    rc = kind == K_RES ? res_parse(p, text, why, sizeof(why))
                       : attr_parse(p, text, why, sizeof(why));
    free(text);
    if (rc == -AG_ENOMEM)
        return rc;
    if (rc < 0)
        return fail(r, -AG_EPROTO, "bad %s: %s", kind == K_RES ? "resources" : "attributes", why);
    return 0;
}

static int
dec_field(struct rd *r, const struct field *f, void *base)
{
    void *p = AT(base, f->off);
    struct val v;
    uint64_t u = 0;
    int64_t i = 0;
    int rc = rd_next(r, &v);
    if (rc < 0)
        return rc;
    if (v.t == MP_NIL) /* same as absent */
        return 0;
    switch (f->kind) {
    case K_STR:
        return dec_str(r, &v, (char **)p);
    case K_BIN:
        if (v.t != MP_BIN && v.t != MP_STR)
            return type_error(r, "binary", &v);
        if (v.len > MSG_MAX_BIN)
            return fail(r, -AG_ERANGE, "%zu bytes (limit %u)", v.len, MSG_MAX_BIN);
        if (v.len) {
            if (!(*(void **)p = malloc(v.len)))
                return -AG_ENOMEM;
            memcpy(*(void **)p, v.ptr, v.len);
            *(size_t *)AT(base, f->aux) = v.len;
        }
        return 0;
    case K_BOOL:
    case K_TRI:
        if (v.t != MP_BOOL)
            return type_error(r, "bool", &v);
        if (f->kind == K_BOOL)
            *(bool *)p = v.b;
        else
            *(enum msg_tri *)p = v.b ? MSG_TRI_TRUE : MSG_TRI_FALSE;
        return 0;
#define DEC_INT_(K, T, pack, min, max, doc)                                                         \
    case K:                                                                                        \
        if ((rc = dec_int(r, &v, min, max, &u, &i)) == 0)                                          \
            *(T *)p = (min) < 0 ? (T)i : (T)u;                                                     \
        return rc;
        INT_KINDS(DEC_INT_)
#undef DEC_INT_
    case K_DBL:
        if (v.t == MP_FLOAT)
            *(double *)p = v.d;
        else if (v.t == MP_UINT)
            *(double *)p = (double)v.u;
        else if (v.t == MP_INT)
            *(double *)p = (double)v.i;
        else
            return type_error(r, "float", &v);
        return 0;
    case K_STATE:
        if (v.t != MP_STR)
            return type_error(r, "string", &v);
        for (int s = 0; s < MSG_TASK_STATE_COUNT; s++) {
            if (strlen(state_names[s]) == v.len && memcmp(state_names[s], v.ptr, v.len) == 0) {
                *(enum msg_task_state *)p = (enum msg_task_state)s;
                return 0;
            }
        }
        return fail(r, -AG_EPROTO, "unknown task state");
    case K_RES:
    case K_ATTR:
        return dec_text_into(r, &v, f->kind, p);
    case K_STRS: {
        if ((rc = dec_seq(r, &v, f, base, sizeof(char *))) < 0)
            return rc;
        char **a = *(char ***)p;
        for (size_t k = 0; k < v.u; k++) {
            struct val e;
            push_idx(r, k);
            if ((rc = rd_next(r, &e)) < 0 || (rc = dec_str(r, &e, &a[k])) < 0)
                return rc;
            pop(r);
        }
        break;
    }
    case K_KV: {
        if ((rc = dec_seq(r, &v, f, base, sizeof(struct msg_kv))) < 0)
            return rc;
        struct msg_kv *a = *(struct msg_kv **)p;
        for (size_t k = 0; k < v.u; k++) {
            struct val e;
            push_idx(r, k);
            if ((rc = rd_next(r, &e)) < 0 || (rc = dec_str(r, &e, &a[k].key)) < 0 ||
                (rc = rd_next(r, &e)) < 0 || (rc = dec_str(r, &e, &a[k].value)) < 0)
                return rc;
            pop(r);
        }
        break;
    }
    case K_OPT:
        if (v.t != MP_MAP)
            return type_error(r, "map", &v);
        *(bool *)AT(base, f->aux) = true;
        return dec_struct(r, f->sub, p, v.u);
    case K_STRUCT:
        if (v.t != MP_MAP)
            return type_error(r, "map", &v);
        return dec_struct(r, f->sub, p, v.u);
    case K_LIST: {
        size_t size = f->sub->size;
        if ((rc = dec_seq(r, &v, f, base, size)) < 0)
            return rc;
        char *a = *(char **)p;
        for (size_t k = 0; k < v.u; k++)
            init_struct(f->sub, a + k * size);
        for (size_t k = 0; k < v.u; k++) {
            struct val e;
            push_idx(r, k);
            if ((rc = rd_next(r, &e)) < 0)
                return rc;
            if (e.t != MP_MAP)
                return type_error(r, "map", &e);
            if ((rc = dec_struct(r, f->sub, a + k * size, e.u)) < 0)
                return rc;
            pop(r);
        }
        break;
    }
    }
    r->depth--; /* the arrays and maps entered above */
    return 0;
}

/* Gives every NULL string of `base` (and its nested structs) the value "". */
static int
fill_strings(const struct desc *d, void *base)
{
    int rc;
    for (const struct field *f = d->fields; f->key; f++) {
        void *p = AT(base, f->off);
        if (f->kind == K_STR && !*(char **)p && !(*(char **)p = strdup("")))
            return -AG_ENOMEM;
        if ((f->kind == K_STRUCT || f->kind == K_OPT) && (rc = fill_strings(f->sub, p)) < 0)
            return rc;
    }
    return 0;
}

/* Decodes the `count` key/value pairs of a map (header already read) into the
 * initialized `base`. On failure `base` holds a partial result for fini_struct. */
static int
dec_struct(struct rd *r, const struct desc *d, void *base, uint64_t count)
{
    uint64_t seen = 0;
    int rc;
    if ((rc = enter(r)) < 0)
        return rc;
    for (uint64_t k = 0; k < count; k++) {
        struct val key;
        if ((rc = rd_next(r, &key)) < 0)
            return rc;
        if (key.t != MP_STR)
            return fail(r, -AG_EPROTO, "map key is a %s, not a string", mp_names[key.t]);
        const struct field *f = d->fields;
        while (f->key && !(f->keylen == key.len && memcmp(f->key, key.ptr, key.len) == 0))
            f++;
        push_key(r, (const char *)key.ptr, key.len);
        if (!f->key) {
            rc = skip(r); /* a field from a newer peer */
        } else if (seen & (UINT64_C(1) << (f - d->fields))) {
            rc = fail(r, -AG_EPROTO, "duplicate key");
        } else {
            seen |= UINT64_C(1) << (f - d->fields);
            rc = dec_field(r, f, base);
        }
        if (rc < 0)
            return rc;
        pop(r);
    }
    r->depth--;
    return fill_strings(d, base);
}

enum { ENV_V, ENV_T, ENV_S, ENV_C, ENV_B, ENV_E };

struct env {
    unsigned seen;                  /* ENV_* bits */
    uint64_t type;                  /* `t` */
    const uint8_t *body, *body_end; /* a body met before `v` and `t`, decoded last */
};

/* Sets out->type and initializes its body, once `t` is known. */
static int
set_type(struct rd *r, struct msg *out, uint64_t type)
{
    const struct mtype *t = type < MSG_TYPE_END ? mtype_of((int)type) : NULL;
    if (out->type)
        return 0;
    if (!t) {
        r->npath = 0;
        return fail(r, -AG_ENOENT, "unknown message type %" PRIu64, type);
    }
    out->type = (enum msg_type)type;
    init_struct(t->body, &out->u);
    return 0;
}

/* Decodes the body (a map, or nil for an empty one) at r->p into out->u. */
static int
dec_body(struct rd *r, struct msg *out)
{
    struct val v;
    int rc = rd_next(r, &v);
    if (rc < 0 || v.t == MP_NIL)
        return rc;
    if (v.t != MP_MAP)
        return type_error(r, "map", &v);
    return dec_struct(r, mtype_of(out->type)->body, &out->u, v.u);
}

/* Reads the envelope. The body is decoded in place when `v` and `t` came before
 * it (as our encoder writes them), otherwise skipped and its position kept. */
static int
dec_envelope(struct rd *r, struct msg *out, struct env *e)
{
    struct val v;
    int rc = rd_next(r, &v);
    if (rc < 0)
        return rc;
    if (v.t != MP_MAP)
        return fail(r, -AG_EPROTO, "message is a %s, not a map", mp_names[v.t]);
    if ((rc = enter(r)) < 0)
        return rc;
    for (uint64_t k = 0; k < v.u; k++) {
        struct val key, x;
        int which = -1;
        if ((rc = rd_next(r, &key)) < 0)
            return rc;
        if (key.t != MP_STR)
            return fail(r, -AG_EPROTO, "map key is a %s, not a string", mp_names[key.t]);
        if (key.len == 1 && key.ptr[0] && strchr("vtscbe", key.ptr[0]))
            which = (int)(strchr("vtscbe", key.ptr[0]) - "vtscbe");
        push_key(r, (const char *)key.ptr, key.len);
        if (which >= 0 && (e->seen & (1u << which)))
            return fail(r, -AG_EPROTO, "duplicate key");
        if (which >= 0)
            e->seen |= 1u << which;
        if (which < 0) {
            rc = skip(r);
        } else if (which == ENV_B && (e->seen & (1u << ENV_V)) && (e->seen & (1u << ENV_T))) {
            if ((rc = set_type(r, out, e->type)) == 0)
                rc = dec_body(r, out);
        } else if (which == ENV_B) {
            e->body = r->p;
            rc = skip(r);
            e->body_end = r->p;
        } else if ((rc = rd_next(r, &x)) < 0) {
            return rc;
        } else if (which == ENV_S) {
            if (x.t != MP_NIL)
                rc = dec_str(r, &x, &out->sender);
        } else if (x.t != MP_UINT) {
            rc = type_error(r, "unsigned int", &x);
        } else if (which == ENV_V) {
            if (x.u < MSG_VERSION_MIN || x.u > MSG_VERSION)
                return fail(r, -AG_EVERSION, "protocol version %" PRIu64 " not supported (%d..%d)",
                            x.u, MSG_VERSION_MIN, MSG_VERSION);
            out->version = (uint32_t)x.u;
        } else if (which == ENV_T) {
            e->type = x.u;
        } else if (which == ENV_E) {
            out->epoch = x.u;
        } else {
            out->corr = x.u;
        }
        if (rc < 0)
            return rc;
        pop(r);
    }
    r->depth--;
    if (r->p != r->end)
        return fail(r, -AG_EPROTO, "%zu bytes after the message", (size_t)(r->end - r->p));
    if (!(e->seen & (1u << ENV_V)))
        return fail(r, -AG_EVERSION, "no protocol version");
    if (!(e->seen & (1u << ENV_T)))
        return fail(r, -AG_EPROTO, "no message type");
    return set_type(r, out, e->type);
}

int
msg_decode(struct msg *out, const void *buf, size_t len, char *err, size_t errlen)
{
    struct rd r;
    struct env e;
    const struct mtype *t;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&r, 0, sizeof(r));
    memset(&e, 0, sizeof(e));
    r.p = buf ? buf : (const void *)"";
    r.end = r.p + (buf ? len : 0);
    r.budget = MSG_MEM_BASE + (uint64_t)MSG_MEM_PER_BYTE * len;
    r.err = err;
    r.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';

    if ((rc = dec_envelope(&r, out, &e)) < 0)
        goto fail;
    if (e.body) {
        r.p = e.body;
        r.end = e.body_end;
        r.depth = 1;
        r.npath = 0;
        push_key(&r, "b", 1);
        if ((rc = dec_body(&r, out)) < 0)
            goto fail;
    }
    /* an absent body, or a nil one */
    if ((rc = fill_strings(mtype_of(out->type)->body, &out->u)) < 0)
        goto fail;
    if (!out->sender && !(out->sender = strdup(""))) {
        rc = -AG_ENOMEM;
        goto fail;
    }
    return 0;

fail:
    if ((t = mtype_of(out->type)) != NULL)
        fini_struct(t->body, &out->u);
    free(out->sender);
    memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- documentation ---- */

static void
doc_type(FILE *f, const struct field *fl)
{
    static const char *const names[] = {
        [K_STR] = "string",
        [K_BIN] = "binary",
        [K_BOOL] = "bool",
        [K_TRI] = "bool, optional",
#define DOC_INT_(K, T, pack, min, max, doc) [K] = doc,
        INT_KINDS(DOC_INT_)
#undef DOC_INT_
        [K_DBL] = "float64",
        [K_STATE] = "task state (string)",
        [K_RES] = "resources (string)",
        [K_ATTR] = "attributes (string)",
        [K_STRS] = "array of string",
        [K_KV] = "map string -> string",
    };
    const char *tag = fl->sub ? fl->sub->name : NULL;
    if (fl->kind == K_STRUCT)
        fprintf(f, "[%s](#%s)", tag, tag);
    else if (fl->kind == K_OPT)
        fprintf(f, "[%s](#%s), optional", tag, tag);
    else if (fl->kind == K_LIST)
        fprintf(f, "array of [%s](#%s)", tag, tag);
    else
        fputs(names[fl->kind], f);
}

static void
doc_default(FILE *f, const struct field *fl)
{
    switch (fl->kind) {
    case K_STR:
    case K_RES:
    case K_ATTR:
        fputs("`\"\"`", f);
        break;
    case K_BIN:
    case K_STRS:
    case K_KV:
    case K_LIST:
        fputs("empty", f);
        break;
    case K_BOOL:
        fputs(fl->def != 0 ? "`true`" : "`false`", f);
        break;
    case K_TRI:
    case K_OPT:
        fputs("absent", f);
        break;
    case K_U32:
    case K_U64:
    case K_I32:
    case K_I64:
        fprintf(f, "`%lld`", (long long)fl->def);
        break;
    case K_DBL:
        fprintf(f, "`%g`", fl->def);
        break;
    case K_STATE:
        fprintf(f, "`\"%s\"`", msg_task_state_name((int)fl->def));
        break;
    case K_STRUCT:
        fputs("its defaults", f);
        break;
    }
}

static void
doc_fields(FILE *f, const struct desc *d)
{
    if (d->nfields == 0) {
        fputs("No fields: the body is an empty map.\n\n", f);
        return;
    }
    fputs("| key | type | absent means | meaning |\n|---|---|---|---|\n", f);
    for (const struct field *fl = d->fields; fl->key; fl++) {
        fprintf(f, "| `%s` | ", fl->key);
        doc_type(f, fl);
        fputs(" | ", f);
        doc_default(f, fl);
        fprintf(f, " | %s |\n", fl->doc);
    }
    fputs("\n", f);
}

int
msg_write_docs(FILE *f)
{
    static const struct desc *const nested[] = {
#define NESTED_PTR_(tag, doc) &d_##tag,
        MSG_NESTED_TYPES(NESTED_PTR_)
#undef NESTED_PTR_
    };

    fprintf(f, "## Messages\n\n| t | type | direction |\n|---|---|---|\n");
    for (int i = 1; i < MSG_TYPE_END; i++)
        if (mtypes[i].name)
            fprintf(f, "| %d | [%s](#%s) | %s |\n", i, mtypes[i].name, mtypes[i].body->name,
                    mtypes[i].dir);
    fputs("\n", f);
    for (int i = 1; i < MSG_TYPE_END; i++) {
        if (!mtypes[i].name)
            continue;
        fprintf(f, "### %s\n\n%s\n\n`t` = %d, %s.\n\n", mtypes[i].name, mtypes[i].body->doc, i,
                mtypes[i].dir);
        doc_fields(f, mtypes[i].body);
    }
    fputs("## Nested types\n\n", f);
    for (size_t i = 0; i < sizeof(nested) / sizeof(nested[0]); i++) {
        fprintf(f, "### %s\n\n%s\n\n", nested[i]->name, nested[i]->doc);
        doc_fields(f, nested[i]);
    }
    fputs("## Task states\n\n| state | terminal |\n|---|---|\n", f);
    for (int s = 0; s < MSG_TASK_STATE_COUNT; s++)
        fprintf(f, "| `%s` | %s |\n", state_names[s], state_terminal[s] ? "yes" : "no");
    return ferror(f) ? -AG_EIO : 0;
}
