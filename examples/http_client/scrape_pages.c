/* Fetch several pages at once over one HTTP session: the crawler of the
 * tutorial ("웹 크롤링: API 여러 개 병렬 호출"), in C.
 *
 * The Python program, with its URLs pointing at the small site this
 * program starts on 127.0.0.1 so that it runs without a network:
 *
 *   async def fetch_url(session, url):
 *       async with session.get(url) as response:
 *           return await response.text()
 *
 *   async def scrape_multiple():
 *       urls = [f'{site}/1', f'{site}/2', f'{site}/3']
 *       async with aiohttp.ClientSession() as session:
 *           results = await asyncio.gather(*[
 *               fetch_url(session, url) for url in urls
 *           ])
 *       return results
 *
 *   print(asyncio.run(scrape_multiple()))
 *
 * (scrape_pages.py beside this file runs it, with the same site made
 * with aiohttp.web.)  Both print the list of the three pages:
 *
 *   ['Example page 1', 'Example page 2', 'Example page 3']
 *
 * Each page takes the site 0.5 s to answer; fetched at once the three
 * take 0.5 s in all, not 1.5 s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casyncio.h"
#include "casyncio/http_client.h"

/* ---- the site (a stand-in for example.com) ------------------------------ */

/* Answer "GET /N" with "Example page N" after 0.5 s, keeping the
 * connection open for more requests (HTTP/1.1 keep-alive). */
static int serve_page(cio_stream *s, void *arg) {
  (void)arg;
  char head[2048];
  while (cio_stream_readuntil(s, "\r\n\r\n", 4, head, sizeof head, NULL) > 0) {
    int page = 0;
    sscanf(head, "GET /%d", &page);
    int rc = cio_sleep(0.5); /* a slow site */
    if (rc < 0)
      return rc;
    char body[64], reply[256];
    int blen = snprintf(body, sizeof body, "Example page %d", page);
    int len = snprintf(reply, sizeof reply,
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                       "Content-Length: %d\r\n\r\n%s",
                       blen, body);
    if ((rc = cio_stream_write(s, reply, (size_t)len)) < 0)
      return rc;
  }
  return 0;
}

/* ---- the crawler ------------------------------------------------------- */

struct fetch {
  cio_http_session *session;
  char url[64];
};

/* fetch_url(): GET the page and return its text (malloc()ed). */
static int fetch_url(void *arg, void **result) {
  struct fetch *f = arg;
  cio_http_response *response;
  int rc = cio_http_get(f->session, f->url, &response);
  if (rc < 0)
    return rc;
  size_t len;
  rc = cio_http_response_read(response, result, &len, 1 << 20);
  cio_http_response_close(response);
  return rc;
}

/* scrape_multiple(): the three pages, fetched at once over one session. */
static int scrape_multiple(int port, char *results[3]) {
  cio_http_session *session;
  int rc = cio_http_session_open(&session, NULL);
  if (rc < 0)
    return rc;
  struct fetch fetches[3];
  cio_call calls[3];
  for (int i = 0; i < 3; i++) {
    fetches[i].session = session;
    snprintf(fetches[i].url, sizeof fetches[i].url, "http://127.0.0.1:%d/%d",
             port, i + 1);
    calls[i] = (cio_call){fetch_url, &fetches[i]};
  }
  rc = cio_gather_calls(calls, 3, (void **)results, NULL, false);
  cio_http_session_close(session);
  return rc;
}

static int main_task(void *arg, void **result) {
  (void)arg, (void)result;
  cio_server *site;
  int rc = cio_start_server(&site, serve_page, NULL, "127.0.0.1", 0, NULL);
  if (rc < 0)
    return rc;
  char *results[3] = {0};
  rc = scrape_multiple(cio_server_port(site), results);
  if (rc == 0)
    printf("['%s', '%s', '%s']\n", results[0], results[1], results[2]);
  for (int i = 0; i < 3; i++)
    free(results[i]);
  int crc = cio_server_close(site);
  return rc < 0 ? rc : crc;
}

int main(void) {
  int rc = cio_run(main_task, NULL);
  if (rc < 0) {
    fprintf(stderr, "scrape_pages: %s\n", cio_strerror(rc));
    return 1;
  }
  return 0;
}
