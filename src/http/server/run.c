/* cio_web_run: uvicorn's `--workers`.  Worker 0 runs on the calling
 * thread; once its server has bound the port, it starts the other
 * workers, each a thread with its own loop and server on the same port
 * (SO_REUSEPORT).  SIGINT or SIGTERM (caught on worker 0's loop) or a
 * failing worker stops them all: each shuts its server down gracefully.
 *
 * (1) A worker's `loop` is set, under the lock, from when its loop runs
 *     until just before its main task returns; stop_all() reaches every
 *     worker whose loop is set, and a worker that sets its loop after
 *     stop_all() sees `stopping` under the same lock.
 */
#include <signal.h>
#include <string.h>

#include "http/server/httpd.h"

#define DEFAULT_SHUTDOWN_TIMEOUT 10.0

struct run_shared;

struct run_worker {
  struct run_shared *sh;
  int index;
  uv_thread_t thread;
  bool thread_started;
  cio_loop *loop; /* see (1) */
  cio_event *stop;
  int rc;
};

struct run_shared {
  cio_web_app *app;
  const char *host;
  int port;
  cio_web_server_opts opts;
  uv_mutex_t lock;
  bool stopping;
  struct run_worker *workers;
  int nworkers;
};

static void set_stop(void *arg) {
  struct run_worker *w = arg;
  cio_event_set(w->stop);
}

/* Ask every worker to shut down.  Any thread. */
static void stop_all(struct run_shared *sh) {
  uv_mutex_lock(&sh->lock);
  sh->stopping = true;
  for (int i = 0; i < sh->nworkers; i++) {
    struct run_worker *w = &sh->workers[i];
    if (w->loop != NULL) /* a loop still running: it cannot refuse */
      (void)!cio_loop_call_soon_threadsafe(w->loop, set_stop, w);
  }
  uv_mutex_unlock(&sh->lock);
}

static void on_signal(void *arg) {
  stop_all(arg);
}

static void worker_thread(void *arg);

/* Worker 0, once bound: the others, on the port it got. */
static void start_others(struct run_shared *sh) {
  for (int i = 1; i < sh->nworkers; i++) {
    struct run_worker *w = &sh->workers[i];
    if (uv_thread_create(&w->thread, worker_thread, w) != 0) {
      w->rc = CIO_ENOMEM;
      stop_all(sh);
      return;
    }
    w->thread_started = true;
  }
}

/* Listen, run on_start, wait to be stopped, shut down. */
static int serve(struct run_worker *w, cio_web_server *srv) {
  struct run_shared *sh = w->sh;
  uv_mutex_lock(&sh->lock);
  w->loop = cio_get_running_loop();
  bool stopping = sh->stopping;
  uv_mutex_unlock(&sh->lock);
  int rc = 0;
  if (w->index == 0) {
    sh->port = cio_web_server_port(srv);
    rc = cio_loop_add_signal_handler(NULL, SIGINT, on_signal, sh);
    if (rc == 0)
      rc = cio_loop_add_signal_handler(NULL, SIGTERM, on_signal, sh);
    if (rc == 0)
      start_others(sh);
  }
  if (rc == 0 && sh->opts.on_start != NULL)
    rc = sh->opts.on_start(srv, w->index, sh->opts.on_start_arg);
  if (rc < 0)
    stop_all(sh);
  else if (!stopping) /* cancelled (the program ends): shut down too */
    (void)!cio_event_wait(w->stop);
  double grace = sh->opts.shutdown_timeout ? sh->opts.shutdown_timeout
                                           : DEFAULT_SHUTDOWN_TIMEOUT;
  (void)!cio_web_server_shutdown(srv, grace); /* done either way */
  if (w->index == 0) {
    cio_loop_remove_signal_handler(NULL, SIGINT);
    cio_loop_remove_signal_handler(NULL, SIGTERM);
  }
  uv_mutex_lock(&sh->lock);
  w->loop = NULL;
  uv_mutex_unlock(&sh->lock);
  return rc;
}

static int worker_main(void *arg, void **result) {
  (void)result;
  struct run_worker *w = arg;
  struct run_shared *sh = w->sh;
  int rc = cio_event_new(&w->stop);
  cio_web_server *srv = NULL;
  if (rc == 0)
    rc = cio_web_server_open(&srv, sh->app, sh->host,
                              sh->port, &sh->opts);
  if (rc == 0)
    rc = serve(w, srv);
  else
    stop_all(sh);
  (void)!cio_web_server_close(srv);
  cio_event_free(w->stop);
  w->rc = rc;
  return rc;
}

static void worker_thread(void *arg) {
  struct run_worker *w = arg;
  int rc = cio_run(worker_main, w);
  if (w->rc == 0 && rc < 0)
    w->rc = rc;
}

int cio_web_run(cio_web_app *app, const char *host, int port,
                 const cio_web_server_opts *opts) {
  struct cio__http_limits lim;
  if (app == NULL || cio__http_limits_init(&lim, opts) < 0)
    return CIO_EINVAL;
  if (cio_get_running_loop() != NULL)
    return CIO_EBUSY;
  struct run_shared sh = {.app = app, .host = host, .port = port};
  sh.opts = opts ? *opts : (cio_web_server_opts){0};
  sh.nworkers = sh.opts.workers > 0 ? sh.opts.workers : 1;
  if (sh.nworkers > 1)
    sh.opts.reuse_port = true;
  sh.workers = calloc((size_t)sh.nworkers, sizeof *sh.workers);
  if (sh.workers == NULL)
    return CIO_ENOMEM;
  if (uv_mutex_init(&sh.lock) != 0) {
    free(sh.workers);
    return CIO_ENOMEM;
  }
  for (int i = 0; i < sh.nworkers; i++)
    sh.workers[i] = (struct run_worker){.sh = &sh, .index = i};
  worker_thread(&sh.workers[0]);
  int rc = sh.workers[0].rc;
  for (int i = 1; i < sh.nworkers; i++) {
    if (sh.workers[i].thread_started)
      uv_thread_join(&sh.workers[i].thread);
    if (rc == 0)
      rc = sh.workers[i].rc;
  }
  uv_mutex_destroy(&sh.lock);
  free(sh.workers);
  return rc;
}
