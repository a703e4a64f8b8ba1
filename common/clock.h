/*
 * The one wall clock of the daemons and tools: seconds (with microseconds)
 * or milliseconds since the epoch, for timestamps that leave the process
 * (status updates, events, records, reports). Durations and timeouts use the
 * loop's monotonic time (uv_now) or metrics_now_ns() instead.
 */
#ifndef AGORA_CLOCK_H
#define AGORA_CLOCK_H

#include <stdint.h>

/* Seconds since the epoch, wall clock (CLOCK_REALTIME). */
double clock_wall(void);

/* Milliseconds since the epoch, wall clock. */
int64_t clock_wall_ms(void);

#endif
