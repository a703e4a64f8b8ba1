#include "ratelimit.h"

#include <math.h>

void
rl_init(struct rl *r, double rate, double burst, uint64_t now_ms)
{
    r->rate = rate > 0 ? rate : 0;
    r->burst = burst >= 1 ? burst : 1;
    r->tokens = r->burst;
    r->last_ms = now_ms;
}

/* Adds the tokens earned since the last refill. */
static void
rl_refill(struct rl *r, uint64_t now_ms)
{
    if (now_ms <= r->last_ms)
        return;
    r->tokens += (double)(now_ms - r->last_ms) * r->rate / 1000.0;
    if (r->tokens > r->burst)
        r->tokens = r->burst;
    r->last_ms = now_ms;
}

bool
rl_take(struct rl *r, uint64_t now_ms)
{
    if (r->rate == 0)
        return true;
    rl_refill(r, now_ms);
    if (r->tokens < 1)
        return false;
    r->tokens -= 1;
    return true;
}

uint64_t
rl_wait_ms(struct rl *r, uint64_t now_ms)
{
    if (r->rate == 0)
        return 0;
    rl_refill(r, now_ms);
    if (r->tokens >= 1)
        return 0;
    return (uint64_t)ceil((1 - r->tokens) * 1000.0 / r->rate);
}
