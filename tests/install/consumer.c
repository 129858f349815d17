/* A program that uses an installed casyncio, built by tests/install/run.sh
 * out of the tree in each way a user would link it.  Three tasks sleep at
 * once and are gathered; it prints their results and which batteries the
 * installed build has. */
#include <stdint.h>
#include <stdio.h>

#include <casyncio.h>
#include <casyncio/config.h>

static int job(void *arg, void **result) {
  int rc = cio_sleep(0.05);
  if (rc < 0)
    return rc;
  *result = arg;
  return 0;
}

static int amain(void *arg, void **result) {
  (void)arg, (void)result;
  cio_call calls[3] = {{job, (void *)(intptr_t)1},
                       {job, (void *)(intptr_t)2},
                       {job, (void *)(intptr_t)3}};
  void *got[3];
  int rc = cio_gather_calls(calls, 3, got, NULL, false);
  if (rc < 0)
    return rc;
  printf("gathered %d %d %d\n", (int)(intptr_t)got[0], (int)(intptr_t)got[1],
         (int)(intptr_t)got[2]);
  return 0;
}

int main(void) {
  int rc = cio_run(amain, NULL);
  if (rc < 0) {
    fprintf(stderr, "consumer: %s\n", cio_strerror(rc));
    return 1;
  }
  printf("casyncio %d.%d.%d, batteries: tls %d, http client %d, "
         "http server %d, postgres %d, sqlite %d\n",
         CIO_VERSION_MAJOR, CIO_VERSION_MINOR, CIO_VERSION_PATCH,
         CIO_HAVE_TLS, CIO_HAVE_HTTP_CLIENT, CIO_HAVE_HTTP_SERVER,
         CIO_HAVE_POSTGRES, CIO_HAVE_SQLITE);
  return 0;
}
