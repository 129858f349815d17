/* Tasks: spawning, awaiting, results, errors, names, done-callbacks,
 * all_tasks/current_task, cancellation (CPython's Task semantics). */
#include "casyncio.h"
#include "test.h"

/* Run `fn` as the main task on a fresh virtual-clock loop; check that the
 * loop closes cleanly. */
static int return_42(void *arg, void **result) {
  (void)arg;
  *result = (void *)(intptr_t)42;
  return 0;
}

static int fail_with_eio(void *arg, void **result) {
  (void)arg;
  (void)result;
  return CIO_EIO;
}

static int main_await_result(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, return_42, NULL, NULL));
  CHECK(!cio_task_is_done(t));
  void *r = NULL;
  CHECK_EQ(cio_task_await(t, &r), 0);
  CHECK_EQ((intptr_t)r, 42);
  CHECK(cio_task_is_done(t));
  CHECK(!cio_task_is_cancelled(t));
  /* A done task is not waited for and keeps its result. */
  CHECK_EQ(cio_task_await(t, &r), 0);
  CHECK_EQ((intptr_t)r, 42);
  CHECK_EQ(cio_task_result(t, &r), 0);
  CHECK_EQ(cio_task_error(t), 0);
  cio_task_release(t);
  return 0;
}

TEST(await_gives_result) {
  CHECK_RUN(test_run_virtual(main_await_result, NULL), 0);
}

static int main_await_error(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, fail_with_eio, NULL, NULL));
  CHECK_EQ(cio_task_result(t, NULL), CIO_EINPROGRESS);
  CHECK_EQ(cio_task_error(t), CIO_EINPROGRESS);
  CHECK_EQ(cio_task_join(t, NULL), CIO_EIO);
  return 0;
}

TEST(await_gives_error) {
  CHECK_RUN(test_run_virtual(main_await_error, NULL), 0);
}

static int main_returns_error(void *arg, void **result) {
  (void)arg;
  (void)result;
  return CIO_ECONNRESET;
}

TEST(run_returns_main_status) {
  CHECK_RUN(test_run_virtual(main_returns_error, NULL), CIO_ECONNRESET);
  void *r = NULL;
  CHECK_RUN(cio_run_ex(return_42, NULL, NULL, &r), 0);
  CHECK_EQ((intptr_t)r, 42);
  CHECK_EQ(cio_run(NULL, NULL), CIO_EINVAL);
}

/* The body does not run inside cio_create_task, and tasks start in the
 * order they were created. */
static int log_self(void *arg, void **result) {
  (void)result;
  test_log("%s", (const char *)arg);
  return 0;
}

static int main_start_order(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *a, *b, *c;
  TRY(test_spawn(&a, log_self, "a"));
  TRY(test_spawn(&b, log_self, "b"));
  TRY(test_spawn(&c, log_self, "c"));
  test_log("spawned");
  CHECK_EQ(cio_task_await(c, NULL), 0);
  CHECK_EQ(cio_task_await(b, NULL), 0);
  CHECK_EQ(cio_task_await(a, NULL), 0);
  test_log("joined");
  return 0;
}

TEST(tasks_start_later_in_creation_order) {
  CHECK_RUN(test_run_virtual(main_start_order, NULL), 0);
  CHECK_STR(test_log_text(), "spawned a b c joined ");
}

/* sleep(0) yields exactly once: round-robin between three tasks. */
static int yielder(void *arg, void **result) {
  (void)result;
  for (int i = 0; i < 3; i++) {
    test_log("%s%d", (const char *)arg, i);
    TRY(cio_sleep(0));
  }
  return 0;
}

static int main_yield(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t[3];
  const char *names[] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++)
    TRY(test_spawn(&t[i], yielder, (void *)names[i]));
  for (int i = 0; i < 3; i++)
    TRY(cio_task_await(t[i], NULL));
  return 0;
}

TEST(sleep_zero_yields_once) {
  CHECK_RUN(test_run_virtual(main_yield, NULL), 0);
  CHECK_STR(test_log_text(), "a0 b0 c0 a1 b1 c1 a2 b2 c2 ");
}

static int main_names(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *a, *b;
  TRY(cio_create_task(NULL, &a, return_42, NULL,
                      &(cio_task_opts){.name = "fetcher"}));
  DEFER(a);
  TRY(test_spawn(&b, return_42, NULL));
  CHECK_STR(cio_task_get_name(a), "fetcher");
  CHECK(strncmp(cio_task_get_name(b), "Task-", 5) == 0);
  TRY(cio_task_set_name(b, "renamed"));
  CHECK_STR(cio_task_get_name(b), "renamed");
  CHECK_EQ(cio_task_set_name(b, NULL), CIO_EINVAL);
  CHECK_STR(cio_task_get_name(cio_current_task()), "main");
  CHECK_EQ(cio_task_await(a, NULL), 0);
  CHECK_EQ(cio_task_await(b, NULL), 0);
  return 0;
}

TEST(names) {
  CHECK_RUN(test_run_virtual(main_names, NULL), 0);
}

/* Default names count up across the process: Task-<n>, n increasing. */
static int main_default_names(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *a, *b;
  TRY(test_spawn(&a, return_42, NULL));
  TRY(test_spawn(&b, return_42, NULL));
  int na = atoi(cio_task_get_name(a) + 5), nb = atoi(cio_task_get_name(b) + 5);
  CHECK(na > 0);
  CHECK_EQ(nb, na + 1);
  CHECK_EQ(cio_task_await(a, NULL), 0);
  CHECK_EQ(cio_task_await(b, NULL), 0);
  return 0;
}

TEST(default_names_count_up) {
  CHECK_RUN(test_run_virtual(main_default_names, NULL), 0);
}

static int sleep_arg_seconds(void *arg, void **result) {
  (void)result;
  return cio_sleep((double)(intptr_t)arg);
}

static int main_all_tasks(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *mine = cio_current_task();
  CHECK(mine != NULL);
  cio_task *a, *b;
  TRY(test_spawn(&a, sleep_arg_seconds, (void *)1));
  TRY(test_spawn(&b, sleep_arg_seconds, (void *)2));
  cio_task *list[8];
  CHECK_EQ(cio_all_tasks(NULL, list, 8), 3);
  CHECK(list[0] == mine);
  CHECK(list[1] == a);
  CHECK(list[2] == b);
  CHECK_EQ(cio_all_tasks(NULL, list, 1), 3);
  CHECK_EQ(cio_task_await(a, NULL), 0);
  CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 2);
  CHECK_EQ(cio_task_await(b, NULL), 0);
  CHECK_EQ(cio_all_tasks(NULL, NULL, 0), 1);
  return 0;
}

TEST(all_tasks_and_current_task) {
  CHECK(cio_current_task() == NULL);
  CHECK_RUN(test_run_virtual(main_all_tasks, NULL), 0);
}

static void on_done(cio_future *f, void *arg) {
  cio_task *t = cio_future_task(f);
  CHECK(t != NULL);
  CHECK(cio_task_is_done(t));
  CHECK(cio_current_task() == NULL); /* a plain callback, not a task */
  test_log("cb%s", (const char *)arg);
}

static int main_done_callbacks(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(test_spawn(&t, return_42, NULL));
  TRY(cio_task_add_done_callback(t, on_done, "1"));
  TRY(cio_task_add_done_callback(t, on_done, "2"));
  TRY(cio_task_add_done_callback(t, on_done, "3"));
  CHECK_EQ(cio_task_remove_done_callback(t, on_done, "2"), 1);
  CHECK_EQ(cio_task_remove_done_callback(t, on_done, "2"), 0);
  CHECK_EQ(cio_task_await(t, NULL), 0);
  test_log("awaited");
  CHECK_EQ(cio_sleep(0), 0);
  /* Registered after completion: scheduled, never called inline. */
  TRY(cio_task_add_done_callback(t, on_done, "4"));
  test_log("added");
  CHECK_EQ(cio_sleep(0), 0);
  return 0;
}

TEST(done_callbacks_in_registration_order) {
  CHECK_RUN(test_run_virtual(main_done_callbacks, NULL), 0);
  /* main registered as waiter after cb1 and cb3, so it wakes after them */
  CHECK_STR(test_log_text(), "cb1 cb3 awaited added cb4 ");
}

static int await_self(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_EQ(cio_task_await(cio_current_task(), NULL), CIO_EDEADLK);
  return 0;
}

TEST(await_self_is_deadlock) {
  CHECK_RUN(test_run_virtual(await_self, NULL), 0);
}

TEST(suspending_outside_task_is_eperm) {
  CHECK_EQ(cio_sleep(0), CIO_EPERM);
  cio_loop *loop;
  CHECK_RUN(cio_loop_open(&loop, NULL), 0);
  CHECK_EQ(cio_sleep(1), CIO_EPERM);
  cio_future *f;
  int rc = cio_future_new(loop, &f);
  if (!test_tolerated(rc)) {
    CHECK_EQ(rc, 0);
    CHECK_EQ(cio_await(f, NULL), CIO_EPERM);
    cio_future_release(f);
  }
  CHECK_EQ(cio_loop_close(loop), 0);
}

TEST(invalid_arguments) {
  CHECK_EQ(cio_create_task(NULL, NULL, return_42, NULL, NULL), CIO_EINVAL);
  cio_loop *loop;
  CHECK_RUN(cio_loop_open(&loop, NULL), 0);
  cio_task *t = (cio_task *)1;
  CHECK_EQ(cio_create_task(loop, &t, NULL, NULL, NULL), CIO_EINVAL);
  CHECK(t == NULL);
  CHECK_EQ(cio_task_cancel(NULL), CIO_EINVAL);
  CHECK_EQ(cio_task_await(NULL, NULL), CIO_EINVAL);
  CHECK(cio_task_get_name(NULL) == NULL);
  cio_loop *second;
  CHECK_EQ(cio_loop_open(&second, NULL), CIO_EBUSY);
  CHECK(second == NULL);
  CHECK_EQ(cio_loop_close(loop), 0);
}

/* An error nobody reads is reported on stderr with the task's name. */
static int main_unread_error(void *arg, void **result) {
  (void)arg;
  (void)result;
  CHECK_EQ(cio_create_task(NULL, NULL, fail_with_eio, NULL,
                           &(cio_task_opts){.name = "forgotten"}),
           0);
  return cio_sleep(0.1);
}

TEST(unread_error_is_reported) {
  if (test_is_child()) {
    CHECK_EQ(test_run_virtual(main_unread_error, NULL), 0);
    return;
  }
  char out[4096];
  CHECK_EQ(test_run_child("unread_error_is_reported", out, sizeof out), 0);
  CHECK(strstr(out, "exception was never retrieved") != NULL);
  CHECK(strstr(out, "forgotten") != NULL);
  CHECK(strstr(out, "EIO") != NULL);
}

/* An error that was read is not reported. */
static int main_read_error(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  CHECK_EQ(cio_create_task(NULL, &t, fail_with_eio, NULL, NULL), 0);
  CHECK_EQ(cio_task_join(t, NULL), CIO_EIO);
  return 0;
}

TEST(read_error_is_not_reported) {
  if (test_is_child()) {
    CHECK_EQ(test_run_virtual(main_read_error, NULL), 0);
    return;
  }
  char out[4096];
  CHECK_EQ(test_run_child("read_error_is_not_reported", out, sizeof out), 0);
  CHECK_STR(out, "");
}

/* Many tasks: 10,000 concurrent sleepers all finish. */
static int sleep_then_count(void *arg, void **result) {
  (void)result;
  int rc = cio_sleep(0.5);
  if (rc == 0)
    ++*(int *)arg;
  return rc;
}

static int main_many(void *arg, void **result) {
  (void)result;
  enum { N = 10000 };
  static cio_task *tasks[N];
  for (int i = 0; i < N; i++) {
    int rc = cio_create_task(NULL, &tasks[i], sleep_then_count, arg, NULL);
    if (rc != 0)
      while (i > 0)
        cio_task_release(tasks[--i]);
    TRY(rc);
  }
  for (int i = 0; i < N; i++)
    CHECK_EQ(cio_task_join(tasks[i], NULL), 0);
  return 0;
}

TEST(ten_thousand_tasks) {
  int count = 0;
  CHECK_RUN(test_run_virtual(main_many, &count), 0);
  CHECK_EQ(count, 10000);
}

/* A task with a custom stack size runs and its deep frame fits. */
static int deep_frame(void *arg, void **result) {
  (void)arg;
  volatile char big[200 * 1024];
  big[0] = 1;
  big[sizeof big - 1] = 2;
  *result = (void *)(intptr_t)(big[0] + big[sizeof big - 1]);
  return 0;
}

static int main_stack_size(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, deep_frame, NULL,
                      &(cio_task_opts){.stack_size = 512 * 1024}));
  void *r;
  CHECK_EQ(cio_task_join(t, &r), 0);
  CHECK_EQ((intptr_t)r, 3);
  return 0;
}

TEST(custom_stack_size) {
  CHECK_RUN(test_run_virtual(main_stack_size, NULL), 0);
}

/* Asking a task for its error (0: it succeeded) does not take its
 * result: the caller never got the pointer, so it still goes to the
 * task's dispose function when the task is freed.  Found by the
 * cancellation sweep (a stopping case asked the error of a helper that
 * handled its cancellation and returned a heap result: leaked). */
static int disposed_results;

static void count_disposed(void *arg, void *result, int status) {
  (void)arg;
  CHECK_EQ(status, 0);
  disposed_results++;
  free(result);
}

static int heap_result(void *arg, void **result) {
  (void)arg;
  *result = malloc(8);
  CHECK(*result != NULL);
  return 0;
}

static int main_error_keeps_result(void *arg, void **result) {
  (void)arg;
  (void)result;
  cio_task *t;
  TRY(cio_create_task(NULL, &t, heap_result, NULL,
                      &(cio_task_opts){.dispose = count_disposed}));
  DEFER(t);
  TRY(test_yield_n(2));
  CHECK(cio_task_is_done(t));
  CHECK_EQ(cio_task_error(t), 0);
  CHECK_EQ(cio_future_error(cio_task_future(t)), 0);
  CHECK_EQ(disposed_results, 0);
  return 0;
}

TEST(error_of_a_task_leaves_its_result_to_dispose) {
  disposed_results = 0;
  CHECK_RUN(test_run_virtual(main_error_keeps_result, NULL), 0);
  CHECK_EQ(disposed_results, 1);
}
