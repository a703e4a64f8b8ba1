/*
 * rl: a token bucket, as a pure function of the time it is given (no clock
 * reads), so that tests can drive it. The scheduler driver uses one to limit
 * its outgoing calls: a call is sent when rl_take() grants a token, otherwise
 * it waits in the driver's queue.
 */
#ifndef AGORA_RATELIMIT_H
#define AGORA_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rl {
    double rate;   /* tokens per second; 0 = unlimited */
    double burst;  /* bucket size (at least 1) */
    double tokens; /* tokens now */
    uint64_t last_ms;
};

/* A full bucket of `burst` tokens refilled at `rate` per second from `now_ms`.
 * rate <= 0 means unlimited; burst < 1 counts as 1. */
void rl_init(struct rl *r, double rate, double burst, uint64_t now_ms);

/* Takes one token if one is available at `now_ms` and returns true. A clock
 * that goes backwards refills nothing. */
bool rl_take(struct rl *r, uint64_t now_ms);

/* Milliseconds from `now_ms` until a token is available (0 when one is). */
uint64_t rl_wait_ms(struct rl *r, uint64_t now_ms);

#endif
