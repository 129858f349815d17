// Go peer of bench_pg_select, with Debian's pgx v4
// (golang-github-jackc-pgx-v4-dev), built in GOPATH mode against
// /usr/share/gocode, without the network.
//
//	pgselect N pool|pipeline DSN
//
// pool      100 goroutines over a pgxpool of 10, N/100 QueryRow each;
// pipeline  one connection, the queries sent 100 at a time as pgx
//           batches (pgx pipelines a batch; a connection cannot be
//           shared by goroutines).
//
// Prints `pg-<mode>/go <q/s> ops/s <ns> ns/op user_us=<per query>`.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
)

const tasks = 100

func userSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pgselect:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: pgselect N pool|pipeline DSN")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[1])
	mode, dsn := os.Args[2], os.Args[3]
	ctx := context.Background()
	per := n / tasks
	done := per * tasks
	var u0 float64
	var t0 time.Time
	switch mode {
	case "pool":
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			fail(err)
		}
		cfg.MinConns, cfg.MaxConns = 10, 10
		pool, err := pgxpool.ConnectConfig(ctx, cfg)
		if err != nil {
			fail(err)
		}
		defer pool.Close()
		var wg sync.WaitGroup
		u0, t0 = userSeconds(), time.Now()
		for t := 0; t < tasks; t++ {
			wg.Add(1)
			go func(first int) {
				defer wg.Done()
				for i := first; i < first+per; i++ {
					var v int
					if err := pool.QueryRow(ctx, "SELECT $1::int", i).Scan(&v); err != nil || v != i {
						fail(fmt.Errorf("query %d: %v", i, err))
					}
				}
			}(t * per)
		}
		wg.Wait()
	case "pipeline":
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			fail(err)
		}
		defer conn.Close(ctx)
		u0, t0 = userSeconds(), time.Now()
		for first := 0; first < done; first += tasks {
			b := &pgx.Batch{}
			for i := first; i < first+tasks; i++ {
				b.Queue("SELECT $1::int", i)
			}
			br := conn.SendBatch(ctx, b)
			for i := first; i < first+tasks; i++ {
				var v int
				if err := br.QueryRow().Scan(&v); err != nil || v != i {
					fail(fmt.Errorf("query %d: %v", i, err))
				}
			}
			br.Close()
		}
	default:
		fail(fmt.Errorf("unknown mode %s", mode))
	}
	secs := time.Since(t0).Seconds()
	user := userSeconds() - u0
	fmt.Printf("pg-%s/go %.0f ops/s %.2f ns/op user_us=%.2f\n", mode,
		float64(done)/secs, secs*1e9/float64(done), user*1e6/float64(done))
}
