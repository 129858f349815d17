/* request_id: a value that follows a request through its tasks, as
 * Python's contextvars do under asyncio.
 *
 * Three requests are handled at once, one task each, the way a web
 * framework runs one handler per request.  Each handler sets the context
 * variable `request_id` once; a logging helper several calls below reads
 * it, without the id being passed down.  A task the handler starts (the
 * audit) sees the id of the request that started it, and so does a
 * blocking function run with cio_to_thread.  Concurrent requests never see
 * each other's id.
 *
 * Expected output (each line after the seconds shown):
 *
 *   0.0 [req-1] GET /items/1
 *   0.0 [req-2] GET /items/2
 *   0.0 [req-3] GET /items/3
 *   0.1 [req-2] row loaded
 *   0.1 [req-2] json built (in a thread)
 *   0.1 [req-2] audit written
 *   0.1 [req-2] 200 OK
 *   0.2 [req-3] row loaded ... 200 OK      (the same four lines)
 *   0.3 [req-1] row loaded ... 200 OK
 *   0.3 [-] all requests served
 */
#include <stdint.h>
#include <stdio.h>

#include "casyncio.h"

static cio_contextvar *request_id;

/* The logging helper: it knows nothing of requests. */
static void log_line(const char *what) {
  printf("[%s] %s\n", (const char *)cio_contextvar_value(request_id, "-"),
         what);
  fflush(stdout);
}

/* A "database" lookup that takes a while. */
static int load_row(double seconds) {
  int rc = cio_sleep(seconds);
  if (rc == 0)
    log_line("row loaded");
  return rc;
}

/* Blocking work in a thread: cio_to_thread carries the context along. */
static int build_json(void *arg, void **result) {
  (void)arg, (void)result;
  log_line("json built (in a thread)");
  return 0;
}

/* A task started by the handler: it starts with a copy of its context. */
static int write_audit(void *arg, void **result) {
  (void)arg, (void)result;
  log_line("audit written");
  return 0;
}

struct request {
  int number;
  double db_seconds;
  char id[16];
  char line[32];
};

static int handle_request(void *arg, void **result) {
  (void)result;
  struct request *r = arg;
  int rc = cio_contextvar_set(request_id, r->id, NULL);
  if (rc < 0)
    return rc;
  log_line(r->line);
  if ((rc = load_row(r->db_seconds)) < 0)
    return rc;
  if ((rc = cio_to_thread(build_json, NULL, NULL)) < 0)
    return rc;
  cio_task *audit;
  if ((rc = cio_create_task(NULL, &audit, write_audit, NULL, NULL)) < 0)
    return rc;
  if ((rc = cio_task_join(audit, NULL)) < 0)
    return rc;
  log_line("200 OK");
  return 0;
}

static int serve(void *arg, void **result) {
  (void)arg, (void)result;
  struct request reqs[3] = {
      {.number = 1, .db_seconds = 0.3},
      {.number = 2, .db_seconds = 0.1},
      {.number = 3, .db_seconds = 0.2},
  };
  cio_call calls[3];
  for (int i = 0; i < 3; i++) {
    snprintf(reqs[i].id, sizeof reqs[i].id, "req-%d", reqs[i].number);
    snprintf(reqs[i].line, sizeof reqs[i].line, "GET /items/%d",
             reqs[i].number);
    calls[i] = (cio_call){handle_request, &reqs[i]};
  }
  int rc = cio_gather_calls(calls, 3, NULL, NULL, false);
  log_line("all requests served"); /* outside any request: no id */
  return rc;
}

int main(void) {
  if (cio_contextvar_new(&request_id, "request_id", true, "-") < 0)
    return 1;
  int rc = cio_run(serve, NULL);
  cio_contextvar_free(request_id);
  if (rc < 0) {
    fprintf(stderr, "request_id: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
