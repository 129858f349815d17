/* A handler that awaits the HTTP client: both batteries' headers in one
 * file (the server's names are cio_web_*, the client's cio_http_*, so
 * their request and response types stay apart), and a proxy route that
 * fetches another route of the same server and answers with its body,
 * asserted end to end with curl. */
#include <stdlib.h>

#include "casyncio/config.h"
#include "http_server_test.h"

#if CIO_HAVE_HTTP_CLIENT
#include "casyncio/http_client.h"

/* The server's request is not the client's request, nor its response the
 * client's response. */
_Static_assert(_Generic((cio_web_request *)0, cio_http_request *: 0,
                        default: 1),
               "cio_web_request must not be cio_http_request");
_Static_assert(_Generic((cio_web_response *)0, cio_http_response *: 0,
                        default: 1),
               "cio_web_response must not be cio_http_response");

struct proxy {
  struct fx f;
  cio_http_session *session;
};

static int h_upstream(cio_web_request *req, cio_web_response *res,
                      void *a) {
  (void)a;
  char text[128];
  snprintf(text, sizeof text, "upstream item %s\n",
           cio_web_request_param(req, "id"));
  int rc = cio_web_response_add_header(res, "X-Upstream", "yes");
  return rc < 0 ? rc : cio_web_response_set_text(res, 203, text);
}

/* GET /proxy/{id}: fetch /upstream/{id} from this very server with the
 * HTTP client (the handler suspends meanwhile; the server answers the
 * inner request on the same loop) and answer with its status and body. */
static int h_proxy(cio_web_request *req, cio_web_response *res, void *a) {
  struct proxy *p = a;
  char url[128];
  snprintf(url, sizeof url, "%s/upstream/%s", p->f.base,
           cio_web_request_param(req, "id"));
  cio_http_response *up;
  int rc = cio_http_get(p->session, url, &up);
  if (rc < 0)
    return rc;
  int status = cio_http_response_status(up);
  const char *mark = cio_http_response_header(up, "x-upstream");
  void *body = NULL;
  size_t len = 0;
  rc = cio_http_response_read(up, &body, &len, 1 << 16);
  if (rc == 0 && mark != NULL)
    rc = cio_web_response_set_header(res, "X-Proxied-From", mark);
  if (rc == 0)
    rc = cio_web_response_set_status(res, status);
  if (rc == 0)
    rc = cio_web_response_set_body(res, body, len); /* copied */
  free(body);
  cio_http_response_close(up);
  return rc;
}

static int proxy_main(void *arg, void **result) {
  (void)arg;
  (void)result;
  struct proxy p = {0};
  CHECK_EQ(cio_http_session_open(&p.session, NULL), 0);
  CHECK_EQ(cio_web_app_new(&p.f.app), 0);
  CHECK_EQ(cio_web_app_route(p.f.app, "GET", "/upstream/{id}", h_upstream,
                             NULL),
           0);
  CHECK_EQ(cio_web_app_route(p.f.app, "GET", "/proxy/{id}", h_proxy, &p),
           0);
  fx_open(&p.f, NULL);
  need_program(CURL);
  char url[128];
  snprintf(url, sizeof url, "%s/proxy/42", p.f.base);
  const char *argv[] = {CURL, "-sS", "-i", "--max-time", "20", url, NULL};
  char *out;
  CHECK_EQ(client_run(argv, NULL, &out), 0);
  CHECK_PREFIX(out, "HTTP/1.1 203 ");
  CHECK_HAS(out, "X-Proxied-From: yes\r\n");
  CHECK_HAS(out, "\r\n\r\nupstream item 42\n");
  CHECK_LACKS(out, "--stderr--");
  free(out);
  /* Again, through the session's kept-alive connection. */
  snprintf(url, sizeof url, "%s/proxy/abc", p.f.base);
  const char *argv2[] = {CURL, "-sS", "--max-time", "20", url, NULL};
  CHECK_EQ(client_run(argv2, NULL, &out), 0);
  CHECK_STR(out, "upstream item abc\n");
  free(out);
  fx_close(&p.f);
  CHECK_EQ(cio_http_session_close(p.session), 0);
  return 0;
}
#endif

TEST(handler_awaits_the_http_client_as_a_proxy) {
#if CIO_HAVE_HTTP_CLIENT
  run_main(proxy_main, NULL);
#else
  test_skip("the HTTP client battery is not built (CIO_WITH_HTTP_CLIENT)");
#endif
}
