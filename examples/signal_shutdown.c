/* signal_shutdown: a service that stops cleanly on SIGINT or SIGTERM.
 *
 *   signal_shutdown              runs until Ctrl-C (SIGINT) or SIGTERM
 *   signal_shutdown SECONDS      sends itself SIGTERM after SECONDS
 *
 * Mirrors the Python pattern of a graceful shutdown:
 *
 *   stop = asyncio.Event()
 *   loop.add_signal_handler(signal.SIGINT, stop.set)
 *   loop.add_signal_handler(signal.SIGTERM, stop.set)
 *   workers = [asyncio.create_task(worker(q)) for _ in range(3)]
 *   await stop.wait()                 # serve until told to stop
 *   q.shutdown()                      # no new jobs; finish queued ones
 *   await asyncio.gather(*workers)
 *
 * A producer queues a job every 0.1 s; three workers take 0.25 s per job.
 * The signal handler only sets an event (it runs on the loop as a plain
 * callback, not in signal context, so it may).  The main task then stops
 * the producer, shuts the queue down so the workers finish what is queued
 * and then see CIO_ESHUTDOWN, waits for them (giving up after 5 s), and
 * reports that no job was lost.
 *
 * Output (with SECONDS = 1; the counts depend on timing):
 *
 *   running; stop with Ctrl-C or SIGTERM
 *   SIGTERM received: finishing queued jobs
 *   jobs queued 10, done 10
 *   stopped cleanly
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "casyncio.h"

struct service {
  cio_event *stop;
  cio_queue *jobs;
  int stop_signal;
  int queued, done;
};

/* The handlers run on the loop's thread, as plain callbacks. */
static void on_sigterm(void *arg) {
  struct service *s = arg;
  s->stop_signal = SIGTERM;
  cio_event_set(s->stop);
}

static void on_sigint(void *arg) {
  struct service *s = arg;
  s->stop_signal = SIGINT;
  cio_event_set(s->stop);
}

static int producer(void *arg, void **result) {
  (void)result;
  struct service *s = arg;
  for (;;) {
    int rc = cio_sleep(0.1);
    if (rc == 0)
      rc = cio_queue_put(s->jobs, NULL);
    if (rc < 0)
      return rc; /* cancelled: the service is stopping */
    s->queued++;
  }
}

static int worker(void *arg, void **result) {
  (void)result;
  struct service *s = arg;
  for (;;) {
    void *job;
    int rc = cio_queue_get(s->jobs, &job);
    if (rc == CIO_ESHUTDOWN)
      return 0; /* shut down and drained: done */
    if (rc == 0)
      rc = cio_sleep(0.25); /* the work */
    if (rc < 0)
      return rc;
    s->done++;
  }
}

static void send_sigterm(void *arg) {
  (void)arg;
  kill(getpid(), SIGTERM);
}

static int amain(void *arg, void **result) {
  (void)result;
  double self_signal = *(double *)arg;
  struct service s = {0};
  cio_task *prod = NULL, *workers[3] = {NULL, NULL, NULL};
  int rc = cio_event_new(&s.stop);
  if (rc == 0)
    rc = cio_queue_new(&s.jobs, 0);
  if (rc == 0)
    rc = cio_loop_add_signal_handler(NULL, SIGTERM, on_sigterm, &s);
  if (rc == 0)
    rc = cio_loop_add_signal_handler(NULL, SIGINT, on_sigint, &s);
  if (rc == 0)
    rc = cio_create_task(NULL, &prod, producer, &s, NULL);
  for (int i = 0; i < 3 && rc == 0; i++)
    rc = cio_create_task(NULL, &workers[i], worker, &s, NULL);
  if (rc == 0 && self_signal > 0)
    rc = cio_loop_call_later(NULL, self_signal, send_sigterm, NULL, NULL);
  if (rc == 0) {
    printf("running; stop with Ctrl-C or SIGTERM\n");
    rc = cio_event_wait(s.stop); /* serve until a signal arrives */
  }
  if (rc == 0)
    printf("%s received: finishing queued jobs\n",
           s.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");

  /* Stop taking work, let the workers drain the queue. */
  if (prod != NULL) {
    cio_task_cancel(prod);
    (void)!cio_task_join(prod, NULL); /* CIO_ECANCELED, as asked */
  }
  (void)!cio_queue_shutdown(s.jobs, false); /* cannot fail on a queue */
  for (int i = 0; i < 3; i++) {
    if (workers[i] == NULL)
      continue;
    int wrc = cio_wait_for(cio_task_future(workers[i]), 5.0, NULL);
    cio_task_release(workers[i]);
    rc = rc < 0 ? rc : wrc;
  }
  cio_loop_remove_signal_handler(NULL, SIGTERM);
  cio_loop_remove_signal_handler(NULL, SIGINT);
  if (rc == 0) {
    printf("jobs queued %d, done %d\n", s.queued, s.done);
    printf("%s\n", s.queued == s.done ? "stopped cleanly" : "jobs lost");
  }
  cio_queue_free(s.jobs);
  cio_event_free(s.stop);
  return rc;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  double self_signal = argc > 1 ? atof(argv[1]) : 0;
  int rc = cio_run(amain, &self_signal);
  if (rc < 0) {
    fprintf(stderr, "signal_shutdown: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
