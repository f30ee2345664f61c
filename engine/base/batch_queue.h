/* A FIFO of pointers between threads (mutex + condition variables): bounded or unbounded, with
 * close (no more items: consumers drain, then stop) and abort (everyone stops at once). The queue
 * never owns its items. It also counts the time its consumers spent waiting for an item and its
 * producers for room, which the run report turns into "who waited on whom". */
#ifndef RIBO_ENGINE_BATCH_QUEUE_H
#define RIBO_ENGINE_BATCH_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/base/error.h"

typedef struct ribo_queue ribo_queue;

/* capacity 0 = unbounded (the ring grows). */
ribo_status ribo_queue_create(size_t capacity, ribo_queue **out, ribo_error *err);
void ribo_queue_free(ribo_queue *q);

/* Appends item, waiting while the queue is full. False when the queue was aborted or closed (or, for
 * an unbounded queue, when out of memory: the caller then aborts). */
bool ribo_queue_push(ribo_queue *q, void *item);

/* Takes the oldest item, waiting while the queue is empty and open. False once the queue is closed
 * and drained, or aborted. */
bool ribo_queue_pop(ribo_queue *q, void **item);

typedef enum ribo_queue_poll { RIBO_QUEUE_ITEM, RIBO_QUEUE_EMPTY, RIBO_QUEUE_DONE } ribo_queue_poll;

/* Never waits: ITEM (item set), EMPTY (open but nothing there), DONE (closed and drained, or aborted). */
ribo_queue_poll ribo_queue_try_pop(ribo_queue *q, void **item);

/* No more pushes; consumers take what is left, then pop returns false. */
void ribo_queue_close(ribo_queue *q);
/* Wakes every waiter; pushes and pops fail from now on. */
void ribo_queue_abort(ribo_queue *q);

size_t ribo_queue_length(ribo_queue *q);
/* Seconds consumers waited in pop, producers in push (summed over threads). */
void ribo_queue_wait_times(ribo_queue *q, double *pop_wait_s, double *push_wait_s);

/* Monotonic clock in seconds (shared by the pipeline's timing). */
double ribo_now_seconds(void);

#endif
