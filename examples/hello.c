/* hello: the README's example.  A task sleeps half a second and returns
 * 42; the main task, run by cio_run(), awaits it and prints the result. */
#include <stdint.h>
#include <stdio.h>

#include "casyncio.h"

static int answer(void *arg, void **result) {
  (void)arg;
  int rc = cio_sleep(0.5); /* suspends this task only */
  if (rc < 0)
    return rc; /* CIO_ECANCELED: pass it on */
  *result = (void *)(intptr_t)42;
  return 0;
}

static int main_task(void *arg, void **result) {
  (void)arg, (void)result;
  cio_task *t;
  void *value;
  int rc = cio_create_task(NULL, &t, answer, NULL, NULL);
  if (rc == 0 && (rc = cio_task_join(t, &value)) == 0)
    printf("answer: %d\n", (int)(intptr_t)value);
  return rc;
}

int main(void) {
  int rc = cio_run(main_task, NULL);
  if (rc < 0)
    fprintf(stderr, "hello: %s\n", cio_strerror(rc));
  return rc < 0;
}
