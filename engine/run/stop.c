/* First-error-wins stop of a multi-threaded run (see stop.h). */
#include "engine/run/stop.h"

#include <string.h>

void ribo_run_ctl_init(ribo_run_ctl *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->failed, false);
}

void ribo_run_ctl_destroy(ribo_run_ctl *c) { pthread_mutex_destroy(&c->lock); }

void ribo_run_ctl_add_queue(ribo_run_ctl *c, ribo_queue *q) {
    pthread_mutex_lock(&c->lock);
    if (c->n_queues < RIBO_RUN_CTL_MAX) c->queues[c->n_queues++] = q;
    pthread_mutex_unlock(&c->lock);
}

void ribo_run_ctl_add_waker(ribo_run_ctl *c, void (*fn)(void *arg), void *arg) {
    pthread_mutex_lock(&c->lock);
    if (c->n_wake < RIBO_RUN_CTL_MAX) {
        c->wake[c->n_wake] = fn;
        c->wake_arg[c->n_wake++] = arg;
    }
    pthread_mutex_unlock(&c->lock);
}

void ribo_run_ctl_fail(ribo_run_ctl *c, const ribo_error *err) {
    pthread_mutex_lock(&c->lock);
    bool first = !atomic_load(&c->failed);
    if (first) {
        c->first = *err;
        if (c->first.status == RIBO_OK) c->first.status = RIBO_ERR_INTERNAL;
        atomic_store(&c->failed, true);
    }
    int nq = c->n_queues, nw = c->n_wake;
    pthread_mutex_unlock(&c->lock);
    if (!first) return;
    for (int i = 0; i < nq; ++i) ribo_queue_abort(c->queues[i]);
    for (int i = 0; i < nw; ++i) c->wake[i](c->wake_arg[i]);
}

ribo_status ribo_run_ctl_status(ribo_run_ctl *c, ribo_error *err) {
    pthread_mutex_lock(&c->lock);
    ribo_status s = atomic_load(&c->failed) ? c->first.status : RIBO_OK;
    if (s != RIBO_OK && err) *err = c->first;
    pthread_mutex_unlock(&c->lock);
    return s;
}
