/* priority_queue: urgent jobs first, with a PriorityQueue and two workers.
 *
 * Mirrors the Python pattern of asyncio.PriorityQueue, whose items are
 * (priority, data) tuples taken lowest priority first:
 *
 *   q = asyncio.PriorityQueue()
 *   for job in jobs:                  # put in any order
 *       q.put_nowait((job.priority, job.seq, job.name))
 *   workers = [asyncio.create_task(worker(f"W{i}", q)) for i in (1, 2)]
 *   await q.join()                    # every job done
 *   for w in workers: w.cancel()
 *
 * The queue holds pointers; cio_priority_queue_new() takes the function
 * that orders them.  Jobs of equal priority keep the order they were put
 * in through a sequence number, as the tuple's second field does in
 * Python (a heap alone does not keep it).  Each job takes 0.1 s.
 *
 * Output:
 *
 *   queued 6 jobs: backup (3), alert (1), report (2), page (1), email (2),
 *     cleanup (3)
 *   W1 runs alert (priority 1)
 *   W2 runs page (priority 1)
 *   W1 runs report (priority 2)
 *   W2 runs email (priority 2)
 *   W1 runs backup (priority 3)
 *   W2 runs cleanup (priority 3)
 *   all jobs done
 */
#include <stdio.h>

#include "casyncio.h"

struct job {
  int priority, seq;
  const char *name;
};

/* Lowest priority first, then first put first. */
static int by_priority(const void *a, const void *b) {
  const struct job *x = a, *y = b;
  if (x->priority != y->priority)
    return x->priority < y->priority ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct worker {
  const char *name;
  cio_queue *q;
};

static int worker(void *arg, void **result) {
  (void)result;
  struct worker *w = arg;
  for (;;) {
    void *item;
    int rc = cio_queue_get(w->q, &item);
    if (rc < 0)
      return rc; /* CIO_ECANCELED once the jobs are done */
    struct job *j = item;
    printf("%s runs %s (priority %d)\n", w->name, j->name, j->priority);
    rc = cio_sleep(0.1);
    cio_queue_task_done(w->q);
    if (rc < 0)
      return rc;
  }
}

static int amain(void *arg, void **result) {
  (void)arg, (void)result;
  static struct job jobs[] = {
      {3, 0, "backup"}, {1, 1, "alert"}, {2, 2, "report"},
      {1, 3, "page"},   {2, 4, "email"}, {3, 5, "cleanup"},
  };
  cio_queue *q;
  int rc = cio_priority_queue_new(&q, 0, by_priority);
  if (rc < 0)
    return rc;
  printf("queued 6 jobs:");
  for (int i = 0; i < 6 && rc == 0; i++) {
    rc = cio_queue_put_nowait(q, &jobs[i]);
    printf(" %s (%d)%s", jobs[i].name, jobs[i].priority, i < 5 ? "," : "\n");
  }
  struct worker w[2] = {{"W1", q}, {"W2", q}};
  cio_task *t[2] = {NULL, NULL};
  for (int i = 0; i < 2 && rc == 0; i++)
    rc = cio_create_task(NULL, &t[i], worker, &w[i], NULL);
  if (rc == 0)
    rc = cio_queue_join(q); /* q.join(): every job marked done */
  if (rc == 0)
    printf("all jobs done\n");
  for (int i = 0; i < 2; i++) {
    if (t[i] != NULL) {
      cio_task_cancel(t[i]);
      (void)!cio_task_join(t[i], NULL); /* CIO_ECANCELED, as asked */
    }
  }
  cio_queue_free(q);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "priority_queue: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
