/* A small pool of threads that each take items from one queue and pass them to a function: the
 * writer's threads (writer.c), which convert and write finished batches in parallel. The function
 * runs on any worker, for any item, in no particular order; its busy time is counted per worker. */
#ifndef RIBO_ENGINE_WORKER_POOL_H
#define RIBO_ENGINE_WORKER_POOL_H

#include <stddef.h>

#include "engine/base/error.h"

typedef struct ribo_worker_pool ribo_worker_pool;

/* Called on worker `worker` (0-based) for every submitted item. */
typedef void (*ribo_worker_fn)(void *user, void *item, int worker);

/* Starts n >= 1 threads. */
ribo_status ribo_worker_pool_create(int n, ribo_worker_fn fn, void *user, ribo_worker_pool **out, ribo_error *err);

/* Hands an item to the next free worker (false once the pool is closed). */
bool ribo_worker_pool_submit(ribo_worker_pool *p, void *item);

/* No more items: the workers finish what was submitted, then stop; returns when they have. */
void ribo_worker_pool_join(ribo_worker_pool *p);

int ribo_worker_pool_size(const ribo_worker_pool *p);
/* Seconds worker i spent in fn (read after join). */
double ribo_worker_pool_busy(const ribo_worker_pool *p, int i);

/* Joins (if not yet) and frees. */
void ribo_worker_pool_free(ribo_worker_pool *p);

#endif
