/* futures: a plain future, the order token of a restaurant.
 *
 * Mirrors the Python explanation of futures that compares one to the
 * token a restaurant hands over with an order: not the meal, but the
 * promise of one, which tells whether the meal is ready.  In Python:
 *
 *   fut = loop.create_future()           # the token
 *   loop.create_task(cook(fut))          # the kitchen sets it later
 *   fut.add_done_callback(ring_bell)
 *   meal = await fut                     # wait for the meal
 *
 * cio_future_new() makes the token, the cook task completes it with
 * cio_future_set_result(), and cio_await() waits for it.  A second order
 * shows the other ending: the customer stops waiting after half a second
 * (wait_for cancels the future), and the cook, finding the order
 * cancelled, has nobody to serve.
 *
 * Output (the meal one second in, the cancellation at 1.5 s):
 *
 *   customer: ordered bibimbap, got a token
 *   customer: is it ready? no
 *   cook: cooking bibimbap
 *   bell: an order is ready
 *   customer: got bibimbap
 *   customer: ordered naengmyeon, will wait 0.5 s
 *   cook: cooking naengmyeon
 *   customer: gave up waiting: timed out (order cancelled: yes)
 *   cook: naengmyeon is ready, but the order was cancelled
 */
#include <stdbool.h>
#include <stdio.h>

#include "casyncio.h"

struct order {
  const char *meal;
  cio_future *token;
  double minutes; /* seconds, in this kitchen */
};

/* The kitchen: cook, then complete the token (unless it was cancelled). */
static int cook(void *arg, void **result) {
  (void)result;
  struct order *o = arg;
  printf("cook: cooking %s\n", o->meal);
  int rc = cio_sleep(o->minutes);
  if (rc < 0)
    return rc;
  if (cio_future_set_result(o->token, (void *)o->meal) == CIO_EALREADY)
    printf("cook: %s is ready, but the order was cancelled\n", o->meal);
  return 0;
}

/* A done-callback: runs on the loop once the token is done. */
static void ring_bell(cio_future *f, void *arg) {
  (void)arg;
  if (!cio_future_is_cancelled(f))
    printf("bell: an order is ready\n");
}

static int order(struct order *o, cio_task **kitchen) {
  int rc = cio_future_new(NULL, &o->token);
  if (rc == 0)
    rc = cio_future_add_done_callback(o->token, ring_bell, NULL);
  if (rc == 0)
    rc = cio_create_task(NULL, kitchen, cook, o, NULL);
  return rc;
}

static int amain(void *arg, void **result) {
  (void)arg, (void)result;
  struct order first = {"bibimbap", NULL, 1.0};
  struct order second = {"naengmyeon", NULL, 1.0};
  cio_task *kitchen = NULL;

  int rc = order(&first, &kitchen);
  if (rc == 0) {
    printf("customer: ordered %s, got a token\n", first.meal);
    printf("customer: is it ready? %s\n",
           cio_future_is_done(first.token) ? "yes" : "no");
    void *meal;
    rc = cio_await(first.token, &meal); /* the customer waits here */
    if (rc == 0)
      printf("customer: got %s\n", (const char *)meal);
    int krc = cio_task_join(kitchen, NULL);
    rc = rc < 0 ? rc : krc;
    kitchen = NULL;
  }

  if (rc == 0)
    rc = order(&second, &kitchen);
  if (rc == 0) {
    printf("customer: ordered %s, will wait 0.5 s\n", second.meal);
    rc = cio_wait_for(second.token, 0.5, NULL);
    bool cancelled = cio_future_is_cancelled(second.token);
    printf("customer: gave up waiting: %s (order cancelled: %s)\n",
           cio_strerror(rc), cancelled ? "yes" : "no");
    rc = cio_task_join(kitchen, NULL); /* the cook finishes anyway */
  }
  cio_future_release(first.token);
  cio_future_release(second.token);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "futures: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
