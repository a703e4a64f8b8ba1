/*
 * tls: TLS configurations for nng (mbedTLS) built from the daemons' and the
 * CLI's flags, the same everywhere:
 *
 *   --tls_cert=FILE     our certificate (PEM; a chain: ours first)
 *   --tls_key=FILE      its private key (PEM, unencrypted)
 *   --tls_ca=FILE       the CA certificates (PEM) peers are verified against
 *   --tls_verify_peer   servers: require and verify a client certificate
 *                       (mutual TLS); clients send --tls_cert/--tls_key
 *   --tls_required      servers: refuse to start without --tls_cert/--tls_key
 *                       (a port with TLS serves only TLS); clients: refuse to
 *                       talk to a master in clear text
 *
 * A server config (tls_server_config) serves our certificate; with
 * verify_peer it requires a client certificate signed by --tls_ca. A client
 * config (tls_client_config) always verifies the server's certificate against
 * --tls_ca (the system's CA bundle when none is given) and the server name
 * (the host the client dials), and presents our certificate when one is given.
 *
 * Errors name the flag, the file and why ("--tls_key /x: cannot read: No such
 * file or directory", "--tls_cert /x: not a PEM certificate"). Nothing is
 * allocated on failure. Files are read when a config is built, so a client
 * config built per connection sees renewed certificates.
 */
#ifndef AGORA_TLS_H
#define AGORA_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* The flags' storage; a program keeps one and lists TLS_FLAGS(&it) in its table. */
struct tls_flags {
    char *cert;       /* --tls_cert FILE, or NULL */
    char *key;        /* --tls_key FILE, or NULL */
    char *ca;         /* --tls_ca FILE, or NULL */
    bool verify_peer; /* --tls_verify_peer */
    bool required;    /* --tls_required */
};

/* Where a client looks for CAs when --tls_ca is not given. */
#define TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

/* The five flag table entries (struct flag, flags.h) over `tf`. */
#define TLS_FLAGS(tf)                                                                              \
    {"tls_cert", FLAG_STRING, &(tf)->cert, NULL,                                                   \
     "PEM certificate (chain) this program presents: a daemon serves https:// and wss:// with "    \
     "it (its port then serves only TLS); a client sends it for --tls_verify_peer."},              \
        {"tls_key", FLAG_STRING, &(tf)->key, NULL, "PEM private key of --tls_cert."},              \
        {"tls_ca", FLAG_STRING, &(tf)->ca, NULL,                                                   \
         "PEM CA certificates that peers' certificates are verified against (clients: the "        \
         "master's; with it a HOST:PORT master is reached over TLS)."},                            \
        {"tls_verify_peer", FLAG_BOOL, &(tf)->verify_peer, "false",                                \
         "Mutual TLS: require a client certificate signed by --tls_ca on the TLS port."},          \
    {                                                                                              \
        "tls_required", FLAG_BOOL, &(tf)->required, "false",                                       \
            "Refuse clear text: a daemon does not start without --tls_cert and --tls_key; a "      \
            "client refuses a master it would reach without TLS."                                  \
    }

/* Whether `f` (may be NULL) configures a TLS server: a certificate is given. */
bool tls_serving(const struct tls_flags *f);

/* Whether a client with `f` (may be NULL) reaches a HOST:PORT master over TLS:
 * --tls_ca or --tls_required is given. */
bool tls_client_wanted(const struct tls_flags *f);

/*
 * Checks the flags' shape (no file is read): a certificate without a key or
 * the reverse, --tls_verify_peer without --tls_ca, and, when `server`,
 * --tls_verify_peer or --tls_required without a certificate. Returns 0 or
 * -AG_EINVAL with the reason in `err`. `f` may be NULL (no TLS: 0).
 */
int tls_check(const struct tls_flags *f, bool server, char *err, size_t errlen);

/*
 * For a daemon's start: whether `f` asks for a TLS server (a certificate,
 * --tls_required or --tls_verify_peer given), then, if so, whether its config
 * builds. Returns 0 (nothing asked, or all good), or as tls_server_config.
 */
int tls_server_check(const struct tls_flags *f, char *err, size_t errlen);

/*
 * Builds the server config of `f` (tls_check first, then the files). Returns
 * 0 and *out (the caller owns one reference: nng_tls_config_free), or
 * -AG_EINVAL (the reason, with flag and file, in `err`) or -AG_ENOMEM.
 */
int tls_server_config(nng_tls_config **out, const struct tls_flags *f, char *err, size_t errlen);

/*
 * Builds a client config that verifies the server named `server_name` (the
 * host dialed; an IP address is matched against a DNS entry of the
 * certificate's subjectAltName, see tools/tls-init) against --tls_ca, or the
 * system bundle when `f` has none. With --tls_cert/--tls_key it presents
 * them. Returns as tls_server_config. `f` may be NULL.
 */
int tls_client_config(nng_tls_config **out, const struct tls_flags *f, const char *server_name,
                      char *err, size_t errlen);

#endif
