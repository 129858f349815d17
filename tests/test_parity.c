/* Behaviours where casyncio once differed from CPython 3.13's asyncio,
 * each named after the behaviour, with the CPython result it mirrors
 * (Lib/test/test_asyncio/test_tasks.py, test_timeouts.py,
 * test_taskgroups.py, test_base_events.py). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "casyncio.h"
#include "test.h"

/* ---- cancel messages -------------------------------------------------- */

static int sleep_forever_noting(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(3600);
  const char *m = cio_cancel_message();
  test_log("inner:%s:%s", cio_err_name(rc), m ? m : "-");
  return rc;
}

/* task.cancel("my message") before it starts: awaiting it raises
 * CancelledError('my message') (test_cancel_with_message_before_starting_task).
 */
static int main_msg_before_start(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, sleep_forever_noting, NULL, NULL), 0);
  CHECK_EQ(cio_task_cancel_msg(t, "my message"), 1);
  CHECK_EQ(cio_task_await(t, NULL), CIO_ECANCELED);
  CHECK_STR(cio_cancel_message(), "my message");
  CHECK_STR(cio_task_cancel_message(t), "my message");
  CHECK_STR(test_log_text(), ""); /* the body never ran */
  cio_task_release(t);
  return 0;
}

TEST(cancel_message_before_start_reaches_the_awaiter) {
  CHECK_EQ(test_run_virtual(main_msg_before_start, NULL), 0);
}

static int awaits_arg(void *arg, void **result) {
  (void)result;
  int rc = cio_task_await(arg, NULL);
  const char *m = cio_cancel_message();
  test_log("middle:%s:%s", cio_err_name(rc), m ? m : "-");
  return rc;
}

/* Cancelling the outer task of an await chain cancels the innermost wait
 * with the message; each level sees CancelledError('stop') and ends
 * cancelled with it (Task.cancel(msg) -> _fut_waiter.cancel(msg)). */
static int main_msg_chain(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *inner, *middle;
  CHECK_EQ(cio_create_task(NULL, &inner, sleep_forever_noting, NULL, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &middle, awaits_arg, inner, NULL), 0);
  CHECK_EQ(cio_sleep(1), 0);
  CHECK_EQ(cio_task_cancel_msg(middle, "stop"), 1);
  CHECK_EQ(cio_task_await(middle, NULL), CIO_ECANCELED);
  CHECK_STR(cio_cancel_message(), "stop");
  CHECK_STR(test_log_text(), "inner:ECANCELED:stop middle:ECANCELED:stop ");
  CHECK_STR(cio_task_cancel_message(inner), "stop");
  CHECK_STR(cio_task_cancel_message(middle), "stop");
  cio_task_release(inner);
  cio_task_release(middle);
  return 0;
}

TEST(cancel_message_travels_the_await_chain) {
  CHECK_EQ(test_run_virtual(main_msg_chain, NULL), 0);
}

static int gathers_two(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *a, *b;
  CHECK_EQ(cio_create_task(NULL, &a, sleep_forever_noting, NULL, NULL), 0);
  CHECK_EQ(cio_create_task(NULL, &b, sleep_forever_noting, NULL, NULL), 0);
  cio_future *fs[2] = {cio_task_future(a), cio_task_future(b)};
  int rc = cio_gather(fs, 2, NULL, NULL, false);
  const char *m = cio_cancel_message();
  test_log("gather:%s:%s", cio_err_name(rc), m ? m : "-");
  cio_task_release(a);
  cio_task_release(b);
  return rc;
}

/* Cancelling a task in gather cancels the children with the message and
 * gather raises CancelledError with it (_GatheringFuture.cancel(msg)). */
static int main_msg_gather(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *g;
  CHECK_EQ(cio_create_task(NULL, &g, gathers_two, NULL, NULL), 0);
  CHECK_EQ(cio_sleep(1), 0);
  CHECK_EQ(cio_task_cancel_msg(g, "enough"), 1);
  CHECK_EQ(cio_task_join(g, NULL), CIO_ECANCELED);
  CHECK_STR(test_log_text(), "inner:ECANCELED:enough "
                             "inner:ECANCELED:enough gather:ECANCELED:enough ");
  return 0;
}

TEST(cancel_message_reaches_gathered_children_and_gather) {
  CHECK_EQ(test_run_virtual(main_msg_gather, NULL), 0);
}

static int waits_for_inner(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *inner;
  CHECK_EQ(cio_create_task(NULL, &inner, sleep_forever_noting, NULL, NULL), 0);
  int rc = cio_wait_for(cio_task_future(inner), 100, NULL);
  const char *m = cio_cancel_message();
  test_log("wait_for:%s:%s", cio_err_name(rc), m ? m : "-");
  cio_task_release(inner);
  return rc;
}

/* wait_for (3.12: a timeout scope around await): a cancel of the caller
 * with a message reaches the inner task with it. */
static int main_msg_wait_for(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *w;
  CHECK_EQ(cio_create_task(NULL, &w, waits_for_inner, NULL, NULL), 0);
  CHECK_EQ(cio_sleep(1), 0);
  CHECK_EQ(cio_task_cancel_msg(w, "halt"), 1);
  CHECK_EQ(cio_task_join(w, NULL), CIO_ECANCELED);
  CHECK_STR(test_log_text(), "inner:ECANCELED:halt wait_for:ECANCELED:halt ");
  return 0;
}

TEST(cancel_message_reaches_the_task_in_wait_for) {
  CHECK_EQ(test_run_virtual(main_msg_wait_for, NULL), 0);
}

static int group_owner(void *arg, void **result) {
  (void)arg, (void)result;
  cio_taskgroup *tg;
  CHECK_EQ(cio_taskgroup_enter(&tg), 0);
  CHECK_EQ(
      cio_taskgroup_create_task(tg, NULL, sleep_forever_noting, NULL, NULL), 0);
  int rc = cio_taskgroup_exit(tg, 0);
  const char *m = cio_cancel_message();
  test_log("owner:%s:%s", cio_err_name(rc), m ? m : "-");
  cio_taskgroup_free(tg);
  return rc;
}

/* A TaskGroup's owner cancelled with a message while waiting in exit: the
 * children are cancelled plainly (_abort: t.cancel()), and the owner's
 * own CancelledError keeps its message. */
static int main_msg_taskgroup(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *o;
  CHECK_EQ(cio_create_task(NULL, &o, group_owner, NULL, NULL), 0);
  CHECK_EQ(cio_sleep(1), 0);
  CHECK_EQ(cio_task_cancel_msg(o, "closing"), 1);
  CHECK_EQ(cio_task_join(o, NULL), CIO_ECANCELED);
  CHECK_STR(test_log_text(), "inner:ECANCELED:- owner:ECANCELED:closing ");
  return 0;
}

TEST(cancel_message_stays_with_the_taskgroup_owner) {
  CHECK_EQ(test_run_virtual(main_msg_taskgroup, NULL), 0);
}

/* Future.cancel(msg): the message is read back from the future, and a
 * task awaiting it receives it. */
static int main_msg_future(void *arg, void **result) {
  (void)arg, (void)result;
  cio_future *f;
  CHECK_EQ(cio_future_new(NULL, &f), 0);
  CHECK(cio_future_cancel_message(f) == NULL);
  CHECK_EQ(cio_future_cancel_msg(f, "gone"), 1);
  CHECK_EQ(cio_future_cancel_msg(f, "again"), 0); /* done already */
  CHECK_STR(cio_future_cancel_message(f), "gone");
  CHECK_EQ(cio_await(f, NULL), CIO_ECANCELED);
  CHECK_STR(cio_cancel_message(), "gone");
  cio_future_release(f);
  return 0;
}

TEST(future_cancel_message_read_back) {
  CHECK_EQ(test_run_virtual(main_msg_future, NULL), 0);
}

/* ---- an error wins over a pending cancellation ------------------------ */

static int cancel_self_then_fail(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task_cancel(cio_current_task());
  return CIO_EIO; /* raised while the cancel is pending */
}

/* A coroutine raising while a cancellation is pending ends with its
 * exception (Task.__step: set_exception), not cancelled. */
static int main_error_wins(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, cancel_self_then_fail, NULL, NULL), 0);
  CHECK_EQ(cio_task_await(t, NULL), CIO_EIO);
  CHECK(!cio_task_is_cancelled(t));
  cio_task_release(t);
  return 0;
}

TEST(error_returned_with_cancel_pending_ends_with_the_error) {
  CHECK_EQ(test_run_virtual(main_error_wins, NULL), 0);
}

static int fails_during_cleanup(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(3600);
  CHECK_EQ(rc, CIO_ECANCELED);
  return CIO_EIO; /* cleanup failed */
}

static int owner_with_failing_children(void *arg, void **result) {
  (void)arg, (void)result;
  cio_taskgroup *tg;
  CHECK_EQ(cio_taskgroup_enter(&tg), 0);
  CHECK_EQ(
      cio_taskgroup_create_task(tg, NULL, fails_during_cleanup, NULL, NULL), 0);
  int rc = cio_taskgroup_exit(tg, 0);
  int codes[2];
  CHECK_EQ(cio_taskgroup_errors(tg, codes, 2), 1);
  CHECK_EQ(codes[0], CIO_EIO);
  cio_taskgroup_free(tg);
  return rc;
}

/* test_taskgroups: the owner cancelled from outside while a child fails
 * during its cleanup ends with the ExceptionGroup, not CancelledError. */
static int main_group_error_wins(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *o;
  CHECK_EQ(cio_create_task(NULL, &o, owner_with_failing_children, NULL, NULL),
           0);
  CHECK_EQ(cio_sleep(1), 0);
  CHECK_EQ(cio_task_cancel(o), 1);
  CHECK_EQ(cio_task_await(o, NULL), CIO_ECHILD);
  CHECK(!cio_task_is_cancelled(o));
  cio_task_release(o);
  return 0;
}

TEST(taskgroup_owner_cancelled_with_failing_children_ends_with_group_error) {
  CHECK_EQ(test_run_virtual(main_group_error_wins, NULL), 0);
}

/* ---- negative delays --------------------------------------------------- */

static void log_cb(void *arg) {
  test_log("%s", (const char *)arg);
}

/* call_later(delay) is call_at(now + delay): a call_later(-2) made after a
 * call_later(-1) runs first (test_base_events: negative delays). */
static int main_negative_delay(void *arg, void **result) {
  (void)arg, (void)result;
  cio_handle *h1, *h2;
  double now = cio_time();
  CHECK_EQ(cio_loop_call_later(NULL, -1, log_cb, "minus1", &h1), 0);
  CHECK_EQ(cio_loop_call_later(NULL, -2, log_cb, "minus2", &h2), 0);
  CHECK_NEAR(cio_handle_when(h1), now - 1, 1e-9);
  CHECK_NEAR(cio_handle_when(h2), now - 2, 1e-9);
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_STR(test_log_text(), "minus2 minus1 ");
  cio_handle_release(h1);
  cio_handle_release(h2);
  return 0;
}

TEST(call_later_negative_delay_is_a_deadline_in_the_past) {
  CHECK_EQ(test_run_virtual(main_negative_delay, NULL), 0);
}

/* async with timeout(-11) as cm: await sleep(0) -> TimeoutError;
 * cm.when() == loop.time() - 11; cm.expired()
 * (test_timeout_in_the_past_sleep_zero). */
static int main_timeout_past(void *arg, void **result) {
  (void)arg, (void)result;
  CHECK_EQ(cio_sleep(5), 0); /* a clock reading that is not 0 */
  double t0 = cio_time();
  cio_timeout to;
  CHECK_EQ(cio_timeout_enter(&to, -11), 0);
  CHECK_NEAR(cio_timeout_when(&to), t0 - 11, 1e-9);
  int rc = cio_sleep(0);
  CHECK_EQ(cio_timeout_exit(&to, rc), CIO_ETIMEDOUT);
  CHECK(cio_timeout_expired(&to));
  CHECK_NEAR(cio_timeout_when(&to), t0 - 11, 1e-9);
  return 0;
}

TEST(timeout_in_the_past_sleep_zero) {
  CHECK_EQ(test_run_virtual(main_timeout_past, NULL), 0);
}

/* ---- call_soon_threadsafe joins the ready queue at once --------------- */

/* From the loop's own thread: the same FIFO as call_soon. */
static int main_threadsafe_own_thread(void *arg, void **result) {
  (void)arg, (void)result;
  cio_loop *loop = cio_get_running_loop();
  CHECK_EQ(cio_loop_call_soon_threadsafe(loop, log_cb, "threadsafe"), 0);
  CHECK_EQ(cio_loop_call_soon(loop, log_cb, "soon", NULL), 0);
  CHECK_EQ(cio_sleep(0), 0);
  CHECK_STR(test_log_text(), "threadsafe soon ");
  return 0;
}

TEST(call_soon_threadsafe_from_the_loop_thread_is_fifo_with_call_soon) {
  CHECK_EQ(test_run_virtual(main_threadsafe_own_thread, NULL), 0);
}

struct poster {
  cio_loop *loop;
  atomic_int go;
  atomic_int posted_at; /* batch the poster saw when it had posted */
  atomic_int ran_at;    /* batch in which the callback ran */
  atomic_int batch;
};

static void note_ran(void *arg) {
  struct poster *p = arg;
  atomic_store(&p->ran_at, atomic_load(&p->batch));
}

static void *poster_thread(void *arg) {
  struct poster *p = arg;
  while (!atomic_load(&p->go))
    ;
  CHECK_EQ(cio_loop_call_soon_threadsafe(p->loop, note_ran, p), 0);
  atomic_store(&p->posted_at, atomic_load(&p->batch));
  return NULL;
}

/* From another thread while the loop is busy: the callback runs in the
 * next batch (asyncio appends to _ready), not after a thousand steps. */
static int main_threadsafe_other_thread(void *arg, void **result) {
  (void)arg, (void)result;
  struct poster p = {
      .loop = cio_get_running_loop(), .posted_at = -1, .ran_at = -1};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, poster_thread, &p), 0);
  atomic_store(&p.go, 1);
  for (int i = 0; atomic_load(&p.ran_at) < 0; i++) {
    CHECK(i < 100000000); /* the poster thread did not get to run */
    atomic_store(&p.batch, i);
    CHECK_EQ(cio_sleep(0), 0); /* one batch each: the loop never polls */
  }
  pthread_join(th, NULL);
  CHECK(atomic_load(&p.ran_at) >= 0);
  CHECK(atomic_load(&p.ran_at) - atomic_load(&p.posted_at) <= 2);
  return 0;
}

TEST(call_soon_threadsafe_from_another_thread_runs_in_the_next_batch) {
  CHECK_EQ(cio_run(main_threadsafe_other_thread, NULL), 0);
}

/* ---- the runner's last iteration ---------------------------------------- */

static int child_logs(void *arg, void **result) {
  (void)arg, (void)result;
  test_log("started");
  int rc = cio_sleep(10);
  test_log("cleanup:%s", cio_err_name(rc));
  return rc;
}

static int main_creates_and_returns(void *arg, void **result) {
  (void)arg, (void)result;
  return cio_create_task(NULL, NULL, child_logs, NULL, NULL);
}

/* asyncio.run(main()) where main() creates a task and returns at once:
 * run_until_complete stops one iteration after main is done, so the task
 * starts ("started 1"), then asyncio.run cancels it and its cleanup runs
 * ("cleanup 1"). */
TEST(run_starts_a_task_created_just_before_main_returns) {
  test_log_reset();
  CHECK_EQ(test_run_virtual(main_creates_and_returns, NULL), 0);
  CHECK_STR(test_log_text(), "started cleanup:ECANCELED ");
}

static void log_soon(void *arg) {
  test_log("%s", (const char *)arg);
}

static void log_soon_again(void *arg) {
  test_log("%s", (const char *)arg);
  (void)!cio_loop_call_soon(NULL, log_soon, "too late", NULL);
}

static int main_queues_callbacks(void *arg, void **result) {
  (void)arg, (void)result;
  TRY(cio_loop_call_soon(NULL, log_soon_again, "queued last", NULL));
  return 0;
}

/* What main queued in its last step runs once; what that queues runs
 * only if the loop runs again (run_until_complete's one iteration). */
TEST(run_until_complete_runs_one_iteration_after_the_task) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, NULL), 0);
  cio_task *t;
  CHECK_EQ(cio_create_task(loop, &t, main_queues_callbacks, NULL, NULL), 0);
  test_log_reset();
  CHECK_EQ(cio_loop_run_until_complete(loop, t, NULL), 0);
  CHECK_STR(test_log_text(), "queued last ");
  cio_task_release(t);
  CHECK_EQ(cio_loop_stop(loop), 0);
  CHECK_EQ(cio_loop_run_forever(loop), 0); /* one more iteration */
  CHECK_STR(test_log_text(), "queued last too late ");
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* ---- the exception handler ----------------------------------------------- */

struct seen {
  int calls;
  char message[512];
  char source[64];
  int error;
  bool had_task, had_stream;
};

static void record_exception(cio_loop *loop, const cio_exception_context *ctx,
                             void *arg) {
  (void)loop;
  struct seen *s = arg;
  s->calls++;
  snprintf(s->message, sizeof s->message, "%s", ctx->message);
  snprintf(s->source, sizeof s->source, "%s", ctx->source ? ctx->source : "");
  s->error = ctx->error;
  s->had_task = ctx->task != NULL;
  s->had_stream = ctx->stream != NULL;
}

static int fails_eio(void *arg, void **result) {
  (void)arg, (void)result;
  return CIO_EIO;
}

static int main_unread_error(void *arg, void **result) {
  (void)result;
  struct seen *seen = arg;
  TRY(cio_loop_set_exception_handler(NULL, record_exception, seen));
  void *got;
  CHECK(cio_loop_get_exception_handler(NULL, &got) == record_exception);
  CHECK(got == seen);
  cio_task *t;
  TRY(cio_create_task(NULL, &t, fails_eio, NULL,
                      &(cio_task_opts){.name = "unread"}));
  TRY(cio_sleep(0));
  TRY(cio_sleep(0));
  cio_task_release(t); /* its error was never read */
  return 0;
}

/* An error nobody read reaches the handler with the task and the code
 * (asyncio: "Task exception was never retrieved", context['task']). */
TEST(exception_handler_gets_errors_nobody_read) {
  struct seen seen = {0};
  CHECK_EQ(test_run_virtual(main_unread_error, &seen), 0);
  CHECK_EQ(seen.calls, 1);
  CHECK_STR(seen.source, "task");
  CHECK_EQ(seen.error, CIO_EIO);
  CHECK(seen.had_task);
  CHECK(strstr(seen.message, "exception was never retrieved: 'unread'") !=
        NULL);
}

static int failing_handler(cio_stream *s, void *arg) {
  (void)s, (void)arg;
  return CIO_EPROTO;
}

static int main_handler_error(void *arg, void **result) {
  (void)result;
  struct seen *seen = arg;
  TRY(cio_loop_set_exception_handler(NULL, record_exception, seen));
  cio_server *srv;
  TRY(cio_start_server(&srv, failing_handler, NULL, "127.0.0.1", 0, NULL));
  cio_stream *c;
  TRY(cio_open_connection(&c, "127.0.0.1", cio_server_port(srv), NULL));
  char b;
  CHECK_EQ(cio_stream_read(c, &b, 1), 0); /* the server closed it */
  TRY(cio_stream_close(c));
  TRY(cio_server_close(srv));
  return 0;
}

/* A connection handler's error goes to the handler with its stream
 * (asyncio: context['protocol'/'transport']). */
TEST(exception_handler_gets_connection_handler_errors) {
  struct seen seen = {0};
  CHECK_EQ(test_run(main_handler_error, &seen), 0);
  CHECK_EQ(seen.calls, 1);
  CHECK_STR(seen.source, "connection handler");
  CHECK_EQ(seen.error, CIO_EPROTO);
  CHECK(seen.had_stream && seen.had_task);
}

static void reentrant(cio_loop *loop, const cio_exception_context *ctx,
                      void *arg) {
  ++*(int *)arg;
  /* Reporting from inside the handler reaches the default handler. */
  cio_loop_call_exception_handler(loop, ctx);
}

static int main_call_handler(void *arg, void **result) {
  (void)arg, (void)result;
  int calls = 0;
  TRY(cio_loop_set_exception_handler(NULL, reentrant, &calls));
  cio_loop_call_exception_handler(
      NULL,
      &(cio_exception_context){.message = "from the program", .source = "app"});
  CHECK_EQ(calls, 1);
  TRY(cio_loop_set_exception_handler(NULL, NULL, NULL)); /* default */
  cio_loop_call_exception_handler(
      NULL, &(cio_exception_context){.message = "printed by default"});
  CHECK_EQ(calls, 1);
  return 0;
}

/* call_exception_handler from the program; the default prints it. */
TEST(call_exception_handler_and_the_default_handler) {
  test_stderr_begin();
  int rc = test_run_virtual(main_call_handler, NULL);
  const char *err = test_stderr_end();
  CHECK_EQ(rc, 0);
  CHECK(strstr(err, "casyncio: from the program\n") != NULL);
  CHECK(strstr(err, "casyncio: printed by default\n") != NULL);
}

/* ---- Ctrl-C under cio_run -------------------------------------------------
 */

static int helper_sleeps(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(30);
  printf("helper:%s\n", cio_err_name(rc));
  return rc;
}

static int main_waits_for_ctrl_c(void *arg, void **result) {
  (void)result;
  bool stubborn = *(bool *)arg;
  CHECK_EQ(cio_create_task(NULL, NULL, helper_sleeps, NULL, NULL), 0);
  printf("waiting\n");
  fflush(stdout);
  for (;;) {
    int rc = cio_sleep(30);
    if (rc == CIO_ECANCELED && stubborn) {
      cio_task_uncancel(cio_current_task());
      printf("ignored\n");
      fflush(stdout);
      continue;
    }
    printf("main cleanup:%s\n", cio_err_name(rc));
    return rc;
  }
}

/* Run main_waits_for_ctrl_c in a child, send it `n` SIGINTs once it
 * waits, and give back its output and wait status. */
static int run_with_sigints(bool stubborn, int n, char *out, size_t cap) {
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    signal(SIGINT, SIG_DFL);
    /* No stall watchdog: its thread, the first this forked child would
     * start, is refused by ThreadSanitizer and trips qemu-user. */
    setenv("CIO_STALL_MS", "0", 1);
    int rc = cio_run(main_waits_for_ctrl_c, &stubborn);
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    printf("cio_run:%s restored:%s\n", cio_err_name(rc),
           sa.sa_handler == SIG_DFL ? "yes" : "no");
    fflush(stdout);
    _exit(0);
  }
  close(fds[1]);
  size_t len = 0;
  for (int sent = 0;;) {
    ssize_t k = read(fds[0], out + len, cap - 1 - len);
    if (k <= 0)
      break;
    len += (size_t)k;
    out[len] = '\0';
    /* Once it waits (and once it ignored the first), interrupt it. */
    if (sent < n && strstr(out, sent == 0 ? "waiting\n" : "ignored\n")) {
      usleep(20 * 1000);
      kill(pid, SIGINT);
      sent++;
    }
  }
  out[len] = '\0';
  close(fds[0]);
  int status;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

/* asyncio.run: the first Ctrl-C cancels the main task, which cleans up;
 * the other tasks are cancelled at shutdown; KeyboardInterrupt (here
 * CIO_EINTR) is reported; the SIGINT handler is restored. */
TEST(first_ctrl_c_cancels_the_main_task_which_cleans_up) {
  char out[1024];
  int st = run_with_sigints(false, 1, out, sizeof out);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK_STR(out, "waiting\nmain cleanup:ECANCELED\nhelper:ECANCELED\n"
                 "cio_run:EINTR restored:yes\n");
}

/* A main task that ignores the first Ctrl-C: the second interrupts at
 * once (uncaught KeyboardInterrupt: the process ends by SIGINT). */
TEST(second_ctrl_c_interrupts_at_once) {
  char out[1024];
  int st = run_with_sigints(true, 2, out, sizeof out);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
  CHECK_STR(out, "waiting\nignored\n");
}

static int main_checks_disposition(void *arg, void **result) {
  (void)arg, (void)result;
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  CHECK(sa.sa_handler == SIG_IGN); /* the program's own choice stays */
  return 0;
}

TEST(ctrl_c_handling_keeps_a_disposition_the_program_chose) {
  signal(SIGINT, SIG_IGN);
  CHECK_EQ(cio_run(main_checks_disposition, NULL), 0);
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  CHECK(sa.sa_handler == SIG_IGN);
  signal(SIGINT, SIG_DFL);
}

static int main_reads_disposition(void *arg, void **result) {
  (void)arg, (void)result;
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  return sa.sa_handler == SIG_DFL ? 0 : CIO_EEXIST;
}

static void *run_on_a_thread(void *arg) {
  *(int *)arg = cio_run(main_reads_disposition, NULL);
  return NULL;
}

/* asyncio.Runner installs its SIGINT handler only in the main thread: a
 * cio_run on another thread leaves Ctrl-C to the program. */
TEST(ctrl_c_is_taken_only_by_cio_run_on_the_main_thread) {
  int rc = -1;
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, run_on_a_thread, &rc), 0);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_EQ(rc, 0);
  CHECK_EQ(cio_run(main_reads_disposition, NULL), CIO_EEXIST); /* here: taken */
}

static int nulls_seen;

static void counts_messages(cio_loop *loop, const cio_exception_context *ctx,
                            void *arg) {
  (void)loop, (void)arg;
  if (ctx->message != NULL &&
      strcmp(ctx->message, "Unhandled error in event loop") == 0)
    nulls_seen++;
}

static int main_calls_handler_without_message(void *arg, void **result) {
  (void)arg, (void)result;
  TRY(cio_loop_set_exception_handler(NULL, counts_messages, NULL));
  cio_loop_call_exception_handler(NULL, &(cio_exception_context){.error = CIO_EIO});
  CHECK_EQ(nulls_seen, 1);
  return 0;
}

/* The handler is promised a message: a context without one gets
 * asyncio's default words. */
TEST(exception_handler_gets_a_message_even_when_the_caller_gave_none) {
  nulls_seen = 0;
  CHECK_EQ(test_run(main_calls_handler_without_message, NULL), 0);
}

static char shutdown_seen[160];

static void notes_shutdown(cio_loop *loop, const cio_exception_context *ctx,
                           void *arg) {
  (void)loop, (void)arg;
  snprintf(shutdown_seen, sizeof shutdown_seen, "%s|%s|%s|%s",
           ctx->source ? ctx->source : "-", cio_err_name(ctx->error),
           ctx->task ? cio_task_get_name(ctx->task) : "-", ctx->message);
}

static int fails_when_cancelled(void *arg, void **result) {
  (void)arg, (void)result;
  int rc = cio_sleep(30);
  return rc == CIO_ECANCELED ? CIO_EIO : rc; /* its cleanup fails */
}

static int main_leaves_a_failing_task(void *arg, void **result) {
  (void)arg, (void)result;
  TRY(cio_loop_set_exception_handler(NULL, notes_shutdown, NULL));
  cio_task_opts o = {.name = "flusher"};
  TRY(cio_create_task(NULL, NULL, fails_when_cancelled, NULL, &o));
  return cio_sleep(0); /* it starts; then main returns */
}

/* asyncio.run cancels what is left and hands the errors of that cleanup
 * to the exception handler ('unhandled exception during asyncio.run()
 * shutdown'), with the task. */
TEST(errors_while_cio_run_shuts_down_reach_the_exception_handler) {
  shutdown_seen[0] = '\0';
  CHECK_EQ(cio_run(main_leaves_a_failing_task, NULL), 0);
  CHECK_STR(shutdown_seen,
            "cio_run shutdown|EIO|flusher|unhandled error during cio_run() "
            "shutdown: task 'flusher': EIO (i/o error)");
}

/* ---- context variables (contextvars) --------------------------------------
 */

static cio_contextvar *cv;

static void make_cv(void) {
  CHECK_EQ(cio_contextvar_new(&cv, "request_id", true, "none"), 0);
}

static int sets_and_checks(void *arg, void **result) {
  (void)result;
  TRY(cio_contextvar_set(cv, arg, NULL));
  TRY(cio_sleep(0.1)); /* the others set theirs meanwhile */
  CHECK_STR(cio_contextvar_value(cv, NULL), (const char *)arg);
  return 0;
}

static int main_tasks_isolated(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *a, *b;
  TRY(cio_create_task(NULL, &a, sets_and_checks, "a", NULL));
  TRY(cio_create_task(NULL, &b, sets_and_checks, "b", NULL));
  CHECK_EQ(cio_task_join(a, NULL), 0);
  CHECK_EQ(cio_task_join(b, NULL), 0);
  CHECK_STR(cio_contextvar_value(cv, NULL), "none"); /* main never set it */
  return 0;
}

/* test_tasks.test_context_1: each task sees its own value. */
TEST(contextvar_set_in_a_task_is_its_own) {
  make_cv();
  CHECK_EQ(test_run_virtual(main_tasks_isolated, NULL), 0);
  cio_contextvar_free(cv);
}

static int child_reads(void *arg, void **result) {
  (void)arg;
  TRY(cio_sleep(0.1));
  *result = cio_contextvar_value(cv, NULL);
  return 0;
}

static int main_copy_at_creation(void *arg, void **result) {
  (void)arg, (void)result;
  TRY(cio_contextvar_set(cv, "before", NULL));
  cio_task *t;
  TRY(cio_create_task(NULL, &t, child_reads, NULL, NULL));
  TRY(cio_contextvar_set(cv, "after", NULL)); /* not seen by the child */
  void *seen;
  CHECK_EQ(cio_task_join(t, &seen), 0);
  CHECK_STR(seen, "before");
  return 0;
}

/* create_task copies the creator's context at creation time
 * (test_context_3: later changes do not leak into the child). */
TEST(new_task_starts_with_a_copy_of_its_creators_context) {
  make_cv();
  CHECK_EQ(test_run_virtual(main_copy_at_creation, NULL), 0);
  cio_contextvar_free(cv);
}

static void log_cv(void *arg) {
  (void)arg;
  test_log("cb:%s", (const char *)cio_contextvar_value(cv, NULL));
}

static void log_cv_done(cio_future *f, void *arg) {
  (void)f;
  log_cv(arg);
}

static int main_callbacks_context(void *arg, void **result) {
  (void)arg, (void)result;
  TRY(cio_contextvar_set(cv, "x", NULL));
  TRY(cio_loop_call_soon(NULL, log_cv, NULL, NULL));
  TRY(cio_loop_call_later(NULL, 0.5, log_cv, NULL, NULL));
  cio_future *f;
  TRY(cio_future_new(NULL, &f));
  TRY(cio_future_add_done_callback(f, log_cv_done, NULL));
  TRY(cio_contextvar_set(cv, "y", NULL));
  (void)cio_future_set_result(f, NULL);
  TRY(cio_sleep(1));
  CHECK_STR(test_log_text(), "cb:x cb:x cb:x ");
  cio_future_release(f);
  return 0;
}

/* call_soon / call_later / add_done_callback run the callback in the
 * context current when it was scheduled (Handle._context). */
TEST(callbacks_run_in_the_context_they_were_scheduled_from) {
  make_cv();
  test_log_reset();
  CHECK_EQ(test_run_virtual(main_callbacks_context, NULL), 0);
  cio_contextvar_free(cv);
}

static int reader_fd = -1;
static int reader_calls;

static void reader_logs_and_sets(void *arg) {
  (void)arg;
  char c;
  if (read(reader_fd, &c, 1) != 1)
    return;
  test_log("rd:%s", (const char *)cio_contextvar_value(cv, NULL));
  (void)!cio_contextvar_set(cv, "set-in-cb", NULL); /* seen by its next call */
  if (++reader_calls == 2)
    (void)cio_loop_remove_reader(NULL, reader_fd);
}

static int greets_with_cv(cio_stream *s, void *arg) {
  (void)arg;
  const char *v = cio_contextvar_value(cv, NULL);
  TRY(cio_stream_write(s, v, strlen(v)));
  TRY(cio_stream_write(s, "\n", 1));
  return cio_stream_drain(s);
}

static int main_fd_and_server_context(void *arg, void **result) {
  (void)arg, (void)result;
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  reader_fd = fds[0];
  reader_calls = 0;
  TRY(cio_contextvar_set(cv, "reader", NULL));
  TRY(cio_loop_add_reader(NULL, fds[0], reader_logs_and_sets, NULL));
  cio_server *srv;
  TRY(cio_contextvar_set(cv, "server", NULL));
  TRY(cio_start_server(&srv, greets_with_cv, NULL, "127.0.0.1", 0, NULL));
  TRY(cio_contextvar_set(cv, "main", NULL)); /* later: seen by neither */
  CHECK_EQ(write(fds[1], "ab", 2), 2);
  while (reader_calls < 2)
    TRY(cio_sleep(0.01));
  CHECK_STR(test_log_text(), "rd:reader rd:set-in-cb ");
  CHECK_STR(cio_contextvar_value(cv, NULL), "main");
  cio_stream *c;
  TRY(cio_open_connection(&c, "127.0.0.1", cio_server_port(srv), NULL));
  char line[64];
  ssize_t n = cio_stream_readline(c, line, sizeof line);
  CHECK_EQ(n, 7);
  CHECK(memcmp(line, "server\n", 7) == 0);
  TRY(cio_stream_close(c));
  TRY(cio_server_close(srv));
  close(fds[0]);
  close(fds[1]);
  return 0;
}

/* asyncio's add_reader keeps a Handle that runs in a copy of the context
 * current at registration, the same one each time; a server started in
 * a context accepts in it, so its connection handlers' tasks start with
 * a copy of it (start_server's caller's request id follows them). */
TEST(fd_callbacks_and_connection_handlers_run_in_the_registering_context) {
  make_cv();
  test_log_reset();
  CHECK_EQ(test_run(main_fd_and_server_context, NULL), 0);
  cio_contextvar_free(cv);
}

static int blocking_reads(void *arg, void **result) {
  (void)arg;
  *result = cio_contextvar_value(cv, NULL);
  return 0;
}

static int main_threads_context(void *arg, void **result) {
  (void)arg, (void)result;
  TRY(cio_contextvar_set(cv, "caller", NULL));
  void *seen;
  TRY(cio_to_thread(blocking_reads, NULL, &seen));
  CHECK_STR(seen, "caller");
  TRY(cio_run_in_executor(NULL, blocking_reads, NULL, NULL, &seen));
  CHECK_STR(seen, "none");
  return 0;
}

/* asyncio.to_thread runs the function in a copy of the caller's context;
 * loop.run_in_executor does not. */
TEST(to_thread_carries_the_context_run_in_executor_does_not) {
  make_cv();
  CHECK_EQ(test_run(main_threads_context, NULL), 0);
  cio_contextvar_free(cv);
}

static int main_reads_thread_value(void *arg, void **result) {
  (void)arg;
  *result = cio_contextvar_value(cv, NULL);
  TRY(cio_contextvar_set(cv, "inside", NULL)); /* stays in the task */
  return 0;
}

/* asyncio.run's main task starts with a copy of the calling thread's
 * context; what it sets does not come back. */
TEST(run_starts_main_with_the_threads_context) {
  make_cv();
  cio_context_token tok;
  CHECK_EQ(cio_contextvar_set(cv, "outside", &tok), 0);
  void *seen;
  CHECK_EQ(cio_run_ex(main_reads_thread_value, NULL, NULL, &seen), 0);
  CHECK_STR(seen, "outside");
  CHECK_STR(cio_contextvar_value(cv, NULL), "outside");
  CHECK_EQ(cio_contextvar_reset(&tok), 0);
  CHECK_EQ(cio_contextvar_reset(&tok), CIO_EINVAL); /* used already */
  CHECK_STR(cio_contextvar_value(cv, NULL), "none");
  cio_contextvar_free(cv);
}

static int resets_in_another_task(void *arg, void **result) {
  (void)result;
  return cio_contextvar_reset(arg);
}

static int main_token_context(void *arg, void **result) {
  (void)arg, (void)result;
  cio_contextvar *nodef;
  TRY(cio_contextvar_new(&nodef, "nodef", false, NULL));
  void *v = (void *)1;
  CHECK_EQ(cio_contextvar_get(nodef, &v), CIO_ENOENT); /* LookupError */
  CHECK(v == NULL);
  cio_context_token tok;
  TRY(cio_contextvar_set(nodef, "v", &tok));
  cio_task *t;
  TRY(cio_create_task(NULL, &t, resets_in_another_task, &tok, NULL));
  CHECK_EQ(cio_task_join(t, NULL), CIO_EINVAL); /* another context */
  TRY(cio_contextvar_reset(&tok));
  CHECK_EQ(cio_contextvar_get(nodef, &v), CIO_ENOENT); /* unset again */
  cio_contextvar_free(nodef);
  return 0;
}

/* ContextVar.get() without default: LookupError; Token used in another
 * context: ValueError. */
TEST(contextvar_lookup_error_and_token_rules) {
  CHECK_EQ(test_run_virtual(main_token_context, NULL), 0);
}
