/* retry: retry a failing call, sleeping between attempts.
 *
 * Mirrors the Python function _request_with_retry() of step 5 of
 * docs/tutorial.md, which retries an OpenAI request, made to run without
 * a network: openai.ChatCompletion.acreate() is replaced by a simulated
 * call that fails with a scripted sequence of errors, so the run is the
 * same every time.  The openai exceptions become error codes:
 *
 *   RateLimitError          CIO_EAGAIN        wait 40 s
 *   APIError                CIO_EIO           wait 1 s
 *   Timeout                 CIO_ETIMEDOUT     wait 1 s
 *   ServiceUnavailableError CIO_EBUSY         wait 3 s
 *   APIConnectionError      CIO_ECONNREFUSED  wait 3 s
 *
 * The first request fails with APIError and Timeout and succeeds on its
 * third attempt; the second fails with ServiceUnavailableError,
 * APIConnectionError and APIError, so after retry=3 attempts the function
 * gives up and returns None (NULL).  The Python program does not print what
 * it gets back; this program prints it as "ret: ...".  The rate-limit branch
 * (40 s) is not scripted, to keep the run short.
 *
 * Expected output (9 s in all):
 *
 *   # a request that succeeds on the third attempt (2 s)
 *   API error, waiting for 1 second...
 *   Timeout error, waiting for 1 second...
 *   ret: completion (attempt 3)
 *   # a request that fails three times (7 s)
 *   Service unavailable error, waiting for 3 second...
 *   API Connection error, waiting for 3 second...
 *   API error, waiting for 1 second...
 *   ret: None
 */
#include <stdio.h>

#include "casyncio.h"

/* A simulated API: the outcome of each attempt, 0 for success. */
struct api {
  const int *script;
  int nscript;
  int attempts;
  char response[48];
};

/* The simulated acreate(): suspends once, as a real request would, then
 * fails with the next scripted error or returns a response. */
static int acreate(struct api *api, const char **response) {
  int rc = cio_sleep(0);
  if (rc < 0)
    return rc;
  int attempt = api->attempts++;
  if (attempt < api->nscript && api->script[attempt] < 0)
    return api->script[attempt];
  snprintf(api->response, sizeof api->response, "completion (attempt %d)",
           attempt + 1);
  *response = api->response;
  return 0;
}

/* Try up to `retry` times.  `*response` is NULL (None) when every attempt
 * failed.  Returns 0, or CIO_ECANCELED if cancelled while waiting. */
static int request_with_retry(struct api *api, int retry,
                              const char **response) {
  *response = NULL;
  for (int i = 0; i < retry; i++) {
    int rc = acreate(api, response);
    double wait;
    switch (rc) {
    case 0:
      return 0;
    case CIO_EAGAIN:
      printf("Rate limit error, waiting for 40 second...\n");
      wait = 40;
      break;
    case CIO_EIO:
      printf("API error, waiting for 1 second...\n");
      wait = 1;
      break;
    case CIO_ETIMEDOUT:
      printf("Timeout error, waiting for 1 second...\n");
      wait = 1;
      break;
    case CIO_EBUSY:
      printf("Service unavailable error, waiting for 3 second...\n");
      wait = 3;
      break;
    case CIO_ECONNREFUSED:
      printf("API Connection error, waiting for 3 second...\n");
      wait = 3;
      break;
    default:
      return rc; /* not retried: CIO_ECANCELED and anything unexpected */
    }
    rc = cio_sleep(wait);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int main_task(void *arg, void **result) {
  (void)result;
  struct api *api = arg;
  const char *ret;
  int rc = request_with_retry(api, 3, &ret);
  if (rc < 0)
    return rc;
  printf("ret: %s\n", ret != NULL ? ret : "None");
  return 0;
}

int main(void) {
  /* Print each line as it happens, even into a pipe (python -u). */
  setvbuf(stdout, NULL, _IOLBF, 0);
  static const int flaky[] = {CIO_EIO, CIO_ETIMEDOUT, 0};
  static const int down[] = {CIO_EBUSY, CIO_ECONNREFUSED, CIO_EIO};
  struct {
    const char *title;
    struct api api;
  } parts[] = {
      {"a request that succeeds on the third attempt (2 s)",
       {.script = flaky, .nscript = 3}},
      {"a request that fails three times (7 s)",
       {.script = down, .nscript = 3}},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    printf("# %s\n", parts[i].title);
    int rc = cio_run(main_task, &parts[i].api);
    if (rc < 0) {
      fprintf(stderr, "retry: %s\n", cio_strerror(rc));
      return 1;
    }
  }
  return 0;
}
