/* Stopping a run that has several threads: the first error wins, every queue is aborted and every
 * registered waiter woken, so that all threads return promptly; the caller joins them and reports
 * the first error. */
#ifndef RIBO_ENGINE_RUN_CTL_H
#define RIBO_ENGINE_RUN_CTL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/base/batch_queue.h"
#include "engine/base/error.h"

#define RIBO_RUN_CTL_MAX 64

typedef struct ribo_run_ctl {
    pthread_mutex_t lock;
    atomic_bool failed;
    ribo_error first;                          /* the first error reported */
    ribo_queue *queues[RIBO_RUN_CTL_MAX];      /* aborted on failure */
    int n_queues;
    void (*wake[RIBO_RUN_CTL_MAX])(void *arg); /* called on failure (e.g. a pipeline waiting for a slot) */
    void *wake_arg[RIBO_RUN_CTL_MAX];
    int n_wake;
} ribo_run_ctl;

void ribo_run_ctl_init(ribo_run_ctl *c);
void ribo_run_ctl_destroy(ribo_run_ctl *c);
/* Registration happens before the threads start. */
void ribo_run_ctl_add_queue(ribo_run_ctl *c, ribo_queue *q);
void ribo_run_ctl_add_waker(ribo_run_ctl *c, void (*fn)(void *arg), void *arg);
/* Records err (only the first one is kept), aborts the queues, calls the wakers. Thread-safe. */
void ribo_run_ctl_fail(ribo_run_ctl *c, const ribo_error *err);
static inline bool ribo_run_ctl_failed(ribo_run_ctl *c) { return atomic_load(&c->failed); }
/* The first error (copied into err); its status, RIBO_OK when none. */
ribo_status ribo_run_ctl_status(ribo_run_ctl *c, ribo_error *err);

#endif
