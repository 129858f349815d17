/* libcurl alone: the floor under casyncio's HTTP client.  N GETs of a
 * small body, C easy handles reused, keep-alive, driven by libcurl's own
 * curl_multi_perform / curl_multi_poll loop (no event loop, no tasks),
 * with the request headers casyncio's session sends by default
 * (User-Agent, Accept-Encoding with automatic decompression).
 *
 *   http_client_multi URL [N [C]]      (N = 20000, C = 100)
 *
 * Prints bench/run's line with this process's user and system CPU
 * microseconds per request. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static size_t discard(char *p, size_t size, size_t n, void *ud) {
  (void)p, (void)ud;
  return size * n;
}

static double us(struct timeval tv) {
  return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: http_client_multi URL [N [C]]\n");
    return 2;
  }
  const char *url = argv[1];
  long n = argc > 2 ? atol(argv[2]) : 20000;
  long c = argc > 3 ? atol(argv[3]) : 100;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, c);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, c);
  struct curl_slist *hdrs =
      curl_slist_append(NULL, "User-Agent: libcurl-multi-bench");
  long started = 0, done = 0, failed = 0;
  struct rusage r0, r1;
  struct timespec t0, t1;
  getrusage(RUSAGE_SELF, &r0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < c && started < n; i++, started++) {
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_multi_add_handle(m, e);
  }
  while (done < n) {
    int running;
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result != CURLE_OK || status != 200)
        failed++;
      done++;
      CURL *e = msg->easy_handle;
      curl_multi_remove_handle(m, e);
      if (started < n) {
        started++;
        curl_multi_add_handle(m, e);
      } else {
        curl_easy_cleanup(e);
      }
    }
    if (done < n)
      curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  getrusage(RUSAGE_SELF, &r1);
  if (failed > 0) {
    fprintf(stderr, "http_client_multi: %ld of %ld requests failed\n", failed,
            n);
    return 1;
  }
  double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
               (double)(t1.tv_nsec - t0.tv_nsec)) /
              (double)n;
  printf("http_client/libcurl %.0f ops/s %.2f ns/op user_us=%.3f "
         "sys_us=%.3f\n",
         1e9 / ns, ns, (us(r1.ru_utime) - us(r0.ru_utime)) / (double)n,
         (us(r1.ru_stime) - us(r0.ru_stime)) / (double)n);
  curl_slist_free_all(hdrs);
  curl_multi_cleanup(m);
  curl_global_cleanup();
  return 0;
}
