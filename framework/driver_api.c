/*
 * The lifecycle of a driver, from any thread: ag_driver_new, the options,
 * start, stop, join and free, and the state a framework may read (framework
 * id, running, subscribed, pending reconciliation, suppression). Each takes
 * d->lock for what it reads or writes; the driver thread itself is in
 * scheduler.c (drv_main, drv_shutdown).
 */
#include "error.h"

#include "driver_int.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

AG_API int
ag_driver_new(struct ag_driver **out, const char *master, const struct ag_framework_info *info,
              const struct ag_scheduler_callbacks *callbacks, void *arg)
{
    struct ag_driver *d;
    char err[200];
    int rv;

    if (out == NULL)
        return sched_err(-AG_EINVAL, "NULL out");
    *out = NULL;
    if (callbacks != NULL && callbacks->size < sizeof(size_t))
        return sched_err(-AG_EINVAL,
                         "set callbacks->size to sizeof(struct ag_scheduler_callbacks)");
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    if (!detector_follows(master) &&
        (rv = detector_resolve(master, &d->master, err, sizeof(err))) != 0) {
        free(d);
        return sched_err(rv, "%s", err);
    }
    if ((d->master_spec = strdup(master)) == NULL) {
        free(d);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    if ((d->info = sched_framework_info_dup(info)) == NULL) {
        free(d->master_spec);
        free(d);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    if (d->info->tls)
        detector_set_tls(&d->master, 1);
    if (d->info->fi.hostname == NULL || d->info->fi.hostname[0] == '\0') {
        char host[256] = "";

        gethostname(host, sizeof(host) - 1);
        if (sched_set_str(&d->info->fi.hostname, host) != 0) {
            ag_framework_info_free(d->info);
            free(d->master_spec);
            free(d);
            return -AG_ENOMEM;
        }
    }
    if (info != NULL && info->fi.framework_id != NULL)
        snprintf(d->framework_id, sizeof(d->framework_id), "%s", info->fi.framework_id);
    if (callbacks != NULL)
        memcpy(&d->cb, callbacks,
               callbacks->size < sizeof(d->cb) ? callbacks->size : sizeof(d->cb));
    d->cb.size = sizeof(d->cb);
    d->arg = arg;
    d->auto_ack = true;
    d->rate = 1000;
    d->burst = 1000;
    d->hb_misses = 5;
    hmap_init(&d->offers);
    recon_init(&d->recon);
    if ((rv = pthread_mutex_init(&d->lock, NULL)) != 0) {
        ag_framework_info_free(d->info);
        free(d->master_spec);
        free(d);
        return sched_err(ag_from_errno(rv), "pthread_mutex_init failed");
    }
    if ((rv = pthread_cond_init(&d->cond, NULL)) != 0) {
        pthread_mutex_destroy(&d->lock);
        ag_framework_info_free(d->info);
        free(d->master_spec);
        free(d);
        return sched_err(ag_from_errno(rv), "pthread_cond_init failed");
    }
    d->state = DRV_NEW;
    *out = d;
    return 0;
}

/* 0 when options may still be set (the driver has not started), else -AG_ESTATE. */
static int
drv_option_ok(struct ag_driver *d)
{
    bool ok;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    pthread_mutex_lock(&d->lock);
    ok = d->state == DRV_NEW;
    pthread_mutex_unlock(&d->lock);
    return ok ? 0 : sched_err(-AG_ESTATE, "options must be set before ag_driver_start");
}

AG_API int
ag_driver_set_auto_ack(struct ag_driver *d, bool on)
{
    int rv = drv_option_ok(d);

    if (rv == 0)
        d->auto_ack = on;
    return rv;
}

AG_API int
ag_driver_set_rate_limit(struct ag_driver *d, double per_second, double burst)
{
    int rv = drv_option_ok(d);

    if (rv != 0)
        return rv;
    if (!(per_second >= 0) || !(burst >= 0) || per_second > 1e9 || burst > 1e9)
        return sched_err(-AG_EINVAL, "rate limit out of range");
    d->rate = per_second;
    d->burst = burst;
    return 0;
}

AG_API int
ag_driver_set_heartbeat_misses(struct ag_driver *d, int misses)
{
    int rv = drv_option_ok(d);

    if (rv != 0)
        return rv;
    if (misses < 0 || misses > 1000)
        return sched_err(-AG_EINVAL, "heartbeat misses must be 0..1000");
    d->hb_misses = misses;
    return 0;
}

AG_API int
ag_driver_set_force(struct ag_driver *d, bool force)
{
    int rv = drv_option_ok(d);

    if (rv == 0)
        d->force = force;
    return rv;
}

AG_API int
ag_driver_start(struct ag_driver *d)
{
    int rv;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    pthread_mutex_lock(&d->lock);
    if (d->state != DRV_NEW) {
        pthread_mutex_unlock(&d->lock);
        return sched_err(-AG_ESTATE, "driver already started");
    }
    d->state = DRV_STARTING;
    if ((rv = pthread_create(&d->thread, NULL, drv_main, d)) != 0) {
        d->state = DRV_NEW;
        pthread_mutex_unlock(&d->lock);
        return sched_err(ag_from_errno(rv), "cannot create the driver thread");
    }
    while (d->state == DRV_STARTING)
        pthread_cond_wait(&d->cond, &d->lock);
    rv = d->start_rv;
    pthread_mutex_unlock(&d->lock);
    if (rv != 0) {
        ag_driver_join(d);
        return sched_err(rv, "driver failed to start: %s", ag_strerror(rv));
    }
    return 0;
}

AG_API int
ag_driver_stop(struct ag_driver *d)
{
    int rv = 0;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if (drv_on_thread(d)) {
        pthread_mutex_lock(&d->lock);
        d->stop_requested = true;
        pthread_mutex_unlock(&d->lock);
        drv_shutdown(d, 0);
        return 0;
    }
    pthread_mutex_lock(&d->lock);
    switch (d->state) {
    case DRV_NEW:
        rv = sched_err(-AG_ESTATE, "driver not started");
        break;
    case DRV_STARTING:
        d->stop_requested = true;
        break;
    case DRV_RUNNING:
        d->stop_requested = true;
        uv_async_send(&d->stop_async);
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&d->lock);
    return rv;
}

AG_API int
ag_driver_join(struct ag_driver *d)
{
    int rv;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if (drv_on_thread(d))
        return sched_err(-AG_ESTATE, "ag_driver_join called on the driver thread");
    pthread_mutex_lock(&d->lock);
    if (d->state == DRV_NEW) {
        pthread_mutex_unlock(&d->lock);
        return sched_err(-AG_ESTATE, "driver not started");
    }
    if (!d->join_claimed) {
        d->join_claimed = true;
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
        pthread_mutex_lock(&d->lock);
        d->joined = true;
        pthread_cond_broadcast(&d->cond);
    }
    while (!d->joined)
        pthread_cond_wait(&d->cond, &d->lock);
    rv = d->exit_code;
    pthread_mutex_unlock(&d->lock);
    return rv;
}

AG_API int
ag_driver_run(struct ag_driver *d)
{
    int rv = ag_driver_start(d);

    return rv != 0 ? rv : ag_driver_join(d);
}

AG_API void
ag_driver_free(struct ag_driver *d)
{
    bool started;

    if (d == NULL)
        return;
    if (drv_on_thread(d)) {
        log_error("scheduler: ag_driver_free called on the driver thread; driver leaked");
        return;
    }
    pthread_mutex_lock(&d->lock);
    started = d->state != DRV_NEW;
    pthread_mutex_unlock(&d->lock);
    if (started) {
        ag_driver_stop(d);
        ag_driver_join(d);
    }
    hmap_clear_free(&d->offers);
    hmap_fini(&d->offers);
    recon_fini(&d->recon);
    ag_framework_info_free(d->info);
    free(d->master_spec);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

AG_API int
ag_driver_framework_id(struct ag_driver *d, char *buf, size_t len)
{
    int rv = 0;

    if (d == NULL || buf == NULL || len == 0)
        return sched_err(-AG_EINVAL, "NULL argument");
    pthread_mutex_lock(&d->lock);
    if (d->framework_id[0] == '\0') {
        buf[0] = '\0';
        rv = -AG_ENOENT;
    } else if (strlen(d->framework_id) >= len) {
        buf[0] = '\0';
        rv = -AG_ERANGE;
    } else {
        strcpy(buf, d->framework_id);
    }
    pthread_mutex_unlock(&d->lock);
    return rv;
}

AG_API bool
ag_driver_running(struct ag_driver *d)
{
    bool r;

    if (d == NULL)
        return false;
    pthread_mutex_lock(&d->lock);
    r = d->state == DRV_RUNNING;
    pthread_mutex_unlock(&d->lock);
    return r;
}

AG_API bool
ag_driver_subscribed(struct ag_driver *d)
{
    bool s;

    if (d == NULL)
        return false;
    pthread_mutex_lock(&d->lock);
    s = d->subscribed;
    pthread_mutex_unlock(&d->lock);
    return s;
}

AG_API size_t
ag_driver_reconcile_pending(struct ag_driver *d)
{
    size_t n;

    if (d == NULL)
        return 0;
    pthread_mutex_lock(&d->lock);
    n = d->recon_count;
    pthread_mutex_unlock(&d->lock);
    return n;
}

AG_API bool
ag_driver_offers_suppressed(struct ag_driver *d)
{
    bool s;

    if (d == NULL)
        return false;
    pthread_mutex_lock(&d->lock);
    s = d->suppressed;
    pthread_mutex_unlock(&d->lock);
    return s;
}
