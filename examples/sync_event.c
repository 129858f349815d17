/* sync_event: two tasks wait for one signal.
 *
 * Mirrors the Python program in which two waiters block on an
 * asyncio.Event until a setter sets it a second later (step 3 of
 * docs/tutorial.md):
 *
 *   async def waiter(name):
 *       print(f"{name} is waiting for event")
 *       await event.wait()
 *       print(f"{name} resumed after event set")
 *
 *   async def setter():
 *       print("setter will sleep and then set the event")
 *       await asyncio.sleep(1)
 *       event.set()
 *       print("event set by setter")
 *
 * set() wakes every waiter; they resume on the next iteration, after the
 * setter has printed its line.
 *
 * Output (the last three lines one second after the first three):
 *
 *   W1 is waiting for event
 *   W2 is waiting for event
 *   setter will sleep and then set the event
 *   event set by setter
 *   W1 resumed after event set
 *   W2 resumed after event set
 */
#include <stdio.h>

#include "casyncio.h"

static cio_event *event;

static int waiter(void *arg, void **result) {
  (void)result;
  const char *name = arg;
  printf("%s is waiting for event\n", name);
  fflush(stdout);
  int rc = cio_event_wait(event);
  if (rc < 0)
    return rc;
  printf("%s resumed after event set\n", name);
  fflush(stdout);
  return 0;
}

static int setter(void *arg, void **result) {
  (void)arg;
  (void)result;
  printf("setter will sleep and then set the event\n");
  fflush(stdout);
  int rc = cio_sleep(1);
  if (rc < 0)
    return rc;
  cio_event_set(event);
  printf("event set by setter\n");
  fflush(stdout);
  return 0;
}

static int amain(void *arg, void **result) {
  (void)arg;
  (void)result;
  int rc = cio_event_new(&event);
  if (rc < 0)
    return rc;
  cio_task *w[2] = {NULL, NULL}, *s = NULL;
  const char *names[2] = {"W1", "W2"};
  for (int i = 0; i < 2 && rc == 0; i++)
    rc = cio_create_task(NULL, &w[i], waiter, (void *)names[i], NULL);
  if (rc == 0)
    rc = cio_create_task(NULL, &s, setter, NULL, NULL);
  if (rc == 0)
    rc = cio_task_join(s, NULL); /* await create_task(setter()) */
  for (int i = 0; i < 2; i++) {
    if (w[i] == NULL)
      continue;
    if (rc < 0)
      cio_task_cancel(w[i]);
    int wrc = cio_task_join(w[i], NULL);
    if (rc == 0)
      rc = wrc;
  }
  cio_event_free(event);
  return rc;
}

int main(void) {
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "sync_event: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
