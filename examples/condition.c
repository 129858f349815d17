/* condition: consumers wait on a Condition until a producer has work.
 *
 * Mirrors the Python pattern of asyncio.Condition:
 *
 *   async with cond:
 *       await cond.wait_for(lambda: items or done)
 *       ...take an item...
 *
 *   async with cond:                  # the producer
 *       items.append(item)
 *       cond.notify(1)                # wake one consumer
 *
 * Two consumers wait; the producer makes an item every 0.1 s and wakes
 * one consumer per item, the one that waited longest, then says there
 * will be no more and wakes everyone (notify_all).  A condition's wait
 * releases the lock while waiting and holds it again when it returns, so
 * the shared list is only touched under the lock.
 *
 * Output:
 *
 *   consumer 1: waiting
 *   consumer 2: waiting
 *   producer: item 1 ready
 *   consumer 1: got item 1
 *   producer: item 2 ready
 *   consumer 2: got item 2
 *   producer: item 3 ready
 *   consumer 1: got item 3
 *   producer: no more items
 *   consumer 2: done
 *   consumer 1: done
 */
#include <stdbool.h>
#include <stdio.h>

#include "casyncio.h"

struct shop {
  cio_condition *cond;
  int items[8], nitems; /* guarded by the condition's lock */
  bool done;
};

static bool work_or_done(void *arg) {
  struct shop *s = arg;
  return s->nitems > 0 || s->done;
}

struct consumer {
  struct shop *shop;
  int id;
};

/* Take items until the producer is done; the lock is held between
 * acquire and release, also while wait_for() is not waiting. */
static int consumer(void *arg, void **result) {
  (void)result;
  struct consumer *c = arg;
  struct shop *s = c->shop;
  int id = c->id;
  printf("consumer %d: waiting\n", id);
  for (;;) {
    int rc = cio_condition_acquire(s->cond);
    if (rc < 0)
      return rc;
    rc = cio_condition_wait_for(s->cond, work_or_done, s);
    if (rc < 0) {
      cio_condition_release(s->cond); /* held again, even when cancelled */
      return rc;
    }
    if (s->nitems == 0) { /* done */
      cio_condition_release(s->cond);
      printf("consumer %d: done\n", id);
      return 0;
    }
    int item = s->items[--s->nitems];
    cio_condition_release(s->cond);
    printf("consumer %d: got item %d\n", id, item);
  }
}

static int producer(struct shop *s) {
  for (int i = 1; i <= 3; i++) {
    int rc = cio_sleep(0.1);
    if (rc == 0)
      rc = cio_condition_acquire(s->cond);
    if (rc < 0)
      return rc;
    s->items[s->nitems++] = i;
    printf("producer: item %d ready\n", i);
    cio_condition_notify(s->cond, 1);
    cio_condition_release(s->cond);
  }
  int rc = cio_sleep(0.1);
  if (rc == 0)
    rc = cio_condition_acquire(s->cond);
  if (rc < 0)
    return rc;
  s->done = true;
  printf("producer: no more items\n");
  cio_condition_notify_all(s->cond);
  return cio_condition_release(s->cond);
}

static int amain(void *arg, void **result) {
  (void)arg, (void)result;
  struct shop s = {0};
  int rc = cio_condition_new(&s.cond, NULL); /* with a lock of its own */
  if (rc < 0)
    return rc;
  struct consumer c[2] = {{&s, 1}, {&s, 2}};
  cio_task *consumers[2] = {NULL, NULL};
  for (int i = 0; i < 2 && rc == 0; i++)
    rc = cio_create_task(NULL, &consumers[i], consumer, &c[i], NULL);
  if (rc == 0)
    rc = producer(&s);
  for (int i = 0; i < 2; i++) {
    if (consumers[i] == NULL)
      continue;
    if (rc < 0)
      cio_task_cancel(consumers[i]);
    int crc = cio_task_join(consumers[i], NULL);
    rc = rc < 0 ? rc : crc;
  }
  cio_condition_free(s.cond);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "condition: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
