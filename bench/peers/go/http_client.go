// Go net/http client under load, the peer of bench/bench_http_client.c:
// N GETs of a small body, C goroutines at a time, keep-alive.
//
//	http_client URL [N [C]]      (N = 20000, C = 100)
//
// One http.Client whose Transport keeps up to C idle connections to the
// host (the default keeps 2, which would reconnect all the time); each
// request reads its body to the end.  Prints bench/run's line with this
// process's user and system CPU microseconds per request.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpu() (user, sys float64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec)*1e6 + float64(ru.Utime.Usec),
		float64(ru.Stime.Sec)*1e6 + float64(ru.Stime.Usec)
}

func arg(i int, dflt int64) int64 {
	if len(os.Args) <= i {
		return dflt
	}
	n, err := strconv.ParseInt(os.Args[i], 10, 64)
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "bad argument %q\n", os.Args[i])
		os.Exit(2)
	}
	return n
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: http_client URL [N [C]]")
		os.Exit(2)
	}
	url := os.Args[1]
	n := arg(2, 20000)
	c := int(arg(3, 100))
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c}}
	var left, failed int64 = n, 0
	var wg sync.WaitGroup
	u0, s0 := cpu()
	t0 := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&left, -1) >= 0 {
				resp, err := client.Get(url)
				if err != nil {
					atomic.AddInt64(&failed, 1)
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					atomic.AddInt64(&failed, 1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	u1, s1 := cpu()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "http_client: %d of %d requests failed\n",
			failed, n)
		os.Exit(1)
	}
	ns := float64(el.Nanoseconds()) / float64(n)
	fmt.Printf("http_client/go %.0f ops/s %.2f ns/op user_us=%.3f sys_us=%.3f\n",
		1e9/ns, ns, (u1-u0)/float64(n), (s1-s0)/float64(n))
}
