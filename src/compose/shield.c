/* shield: await without passing the caller's cancellation on. */
#include "internal.h"

int cio_shield(cio_future *f, void **result) {
  return cio__await(f, result, false);
}
