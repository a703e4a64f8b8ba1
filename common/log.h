/*
 * Logging: one line per event on stderr (or a file), with a UTC timestamp, a
 * level, the component name and a message whose details are key=value fields:
 *
 *   2026-11-26T15:30:00.123Z INFO master: agent registered agent_id=... hostname=h1
 *
 * Thread-safe (each line is written with one fwrite under a lock), so nng
 * callbacks may log too.
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

#include <stdio.h>

enum ag_log_level { AG_LOG_DEBUG, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR };

/* Sets the component name printed on each line (e.g. "master"). Not copied. */
void log_set_component(const char *name);

/* Sets the minimum level. */
void log_set_level(enum ag_log_level level);

/* Parses "DEBUG", "INFO", "WARNING"/"WARN", "ERROR" (any case). Returns 0 or -AG_EINVAL. */
int log_parse_level(const char *text, enum ag_log_level *out);

/* Sends lines to `f` instead of stderr (NULL restores stderr). Not closed by log. */
void log_set_file(FILE *f);

void log_write(enum ag_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(AG_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(AG_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(AG_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(AG_LOG_ERROR, __VA_ARGS__)

#endif
