/* The casyncio HTTP server that bench/suites/http_server.py drives with
 * wrk, side by side with the peers in bench/peers/ (hand-written libuv,
 * Go net/http, Node http, uvloop + httptools).
 *
 *   bench_http_server PORT [WORKERS] [cancel]
 *
 * Serves, on 127.0.0.1:PORT, the two routes of the comparison:
 *   GET /      "Hello, World!" as text/plain
 *   GET /json  {"message":"Hello, World!"}, a JSON object serialised by
 *              jansson for every request
 * with cio_web_run and WORKERS threads (default 1), until SIGTERM or
 * SIGINT.  "cancel" runs each handler in a task of its own, cancelled if
 * its client leaves (cancel_on_disconnect), instead of in the
 * connection's task.  Prints nothing:
 * the suite measures from outside (wrk, /proc/PID/stat). */
#include <jansson.h>
#include <string.h>

#include "bench.h"
#include "casyncio.h"
#include "casyncio/http_server.h"

static int hello(cio_web_request *req, cio_web_response *res, void *arg) {
  (void)req;
  (void)arg;
  return cio_web_response_set_text(res, 200, "Hello, World!");
}

static int json(cio_web_request *req, cio_web_response *res, void *arg) {
  (void)req;
  (void)arg;
  json_t *obj = json_pack("{s:s}", "message", "Hello, World!");
  int rc = cio_web_response_set_json(res, 200, obj);
  json_decref(obj);
  return rc;
}

int main(int argc, char **argv) {
  int port = (int)bench_arg(argc, argv, 1, 8080);
  int workers = (int)bench_arg(argc, argv, 2, 1);
  bool cancel = argc > 3 && strcmp(argv[3], "cancel") == 0;
  cio_web_app *app;
  if (cio_web_app_new(&app) < 0 ||
      cio_web_app_route(app, "GET", "/", hello, NULL) < 0 ||
      cio_web_app_route(app, "GET", "/json", json, NULL) < 0)
    return 1;
  cio_web_server_opts o = {.workers = workers,
                            .cancel_on_disconnect = cancel,
                            .backlog = 4096,
                            .shutdown_timeout = 1};
  int rc = cio_web_run(app, "127.0.0.1", port, &o);
  cio_web_app_free(app);
  if (rc < 0)
    fprintf(stderr, "bench_http_server: %s\n", cio_strerror(rc));
  return rc < 0;
}
