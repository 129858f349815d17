/* Debug mode and the HTTP client: a session left open when the loop
 * closes is named with where it was created (docs/debugging.md). */
#include "casyncio.h"
#include "casyncio/http_client.h"
#include "test.h"

static cio_http_session *make_session(void) {
  cio_http_session *s;
  CHECK_EQ(cio_http_session_open(
               &s, &(cio_http_session_opts){.base_url = "http://127.0.0.1:9"}),
           0);
  return s;
}

TEST(debug_mode_names_a_session_left_open) {
  cio_loop *loop;
  CHECK_EQ(cio_loop_open(&loop, &(cio_loop_opts){.debug = true}), 0);
  cio_http_session *s = make_session();
  /* Something the loop counts keeps it open, so the session can still be
   * closed after the report (a session left open for good leaks). */
  cio_future *f;
  CHECK_EQ(cio_future_new(loop, &f), 0);
  test_stderr_begin();
  int rc = cio_loop_close(loop);
  const char *err = test_stderr_end();
  fprintf(stderr, "%s", err);
  CHECK_EQ(rc, CIO_EBUSY);
  CHECK(strstr(err, "  HTTP session 0x") != NULL);
  CHECK(strstr(err, "(base http://127.0.0.1:9, 0 requests in flight), "
                    "created at make_session (test_http_client_debug.c:") !=
        NULL);
  CHECK_EQ(cio_http_session_close(s), 0);
  cio_future_release(f);
  CHECK_EQ(cio_loop_close(loop), 0);
}
