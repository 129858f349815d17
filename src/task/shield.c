/* shield: await without passing the caller's cancellation on. */
#include "internal.h"

int cio_shield(cio_future *f, void **result) {
  if (result != NULL)
    *result = NULL;
  if (f == NULL)
    return CIO_EINVAL;
  if (f->state != CIO__FUT_PENDING)
    return cio__future_outcome(f, result);
  int rc;
  cio_task *self = cio__task_for_suspend(&rc);
  if (self == NULL)
    return rc;
  if (&self->fut == f)
    return CIO_EDEADLK;
  rc = cio__future_wait(f, false);
  if (rc < 0)
    return rc;
  return cio__future_outcome(f, result);
}
