// Go peers of the casyncio micro benchmarks, written the way a Go program
// would: goroutines, channels, sync.WaitGroup, sync.Mutex, time.Sleep.
//
//	micro WHICH [N]   WHICH: switch spawn sleepers queue lock executor
//	                  executor64
//
// Prints lines in the suite's format ("name ops/s ns/op [key=value]").
// Every figure but sleepers is the best of 3 runs, as in bench/bench_*.c.
// bench/run pins this process to one core (so GOMAXPROCS is 1), like the
// single-threaded casyncio loop, except for the executor benchmark.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

const reps = 3

func report(name string, ops float64, d time.Duration, extra string) {
	nsOp := float64(d.Nanoseconds()) / ops
	fmt.Printf("%s %.0f ops/s %.2f ns/op%s\n", name, 1e9/nsOp, nsOp, extra)
}

func bestOf(run func() time.Duration) time.Duration {
	best := time.Duration(1<<63 - 1)
	for r := 0; r < reps; r++ {
		if d := run(); d < best {
			best = d
		}
	}
	return best
}

// Two goroutines hand a token back and forth over unbuffered channels:
// 2n switches.
func benchSwitch(n int) {
	d := bestOf(func() time.Duration {
		ping, pong := make(chan struct{}), make(chan struct{})
		t0 := time.Now()
		go func() {
			for i := 0; i < n; i++ {
				<-ping
				pong <- struct{}{}
			}
		}()
		for i := 0; i < n; i++ {
			ping <- struct{}{}
			<-pong
		}
		return time.Since(t0)
	})
	report("switch/go", 2*float64(n), d, "")
}

// Start goroutines in batches of 1000 and wait for each batch.
func benchSpawn(n int) {
	const batch = 1000
	results := make([]int, batch)
	d := bestOf(func() time.Duration {
		t0 := time.Now()
		for done := 0; done < n; done += batch {
			k := min(batch, n-done)
			var wg sync.WaitGroup
			wg.Add(k)
			for i := 0; i < k; i++ {
				go func(i int) {
					results[i] = i
					wg.Done()
				}(i)
			}
			wg.Wait()
		}
		return time.Since(t0)
	})
	report("spawn/go", float64(n), d, "")
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// VmHWM (peak resident set) in KiB.
func peakKiB() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "VmHWM:") {
			v, _ := strconv.Atoi(strings.Fields(s.Text())[1])
			return v
		}
	}
	return -1
}

// n goroutines sleep one second at once.  A goroutine starts running as
// soon as it is created, so with a million of them the first would wake
// and exit before the last exists and the peak would count only some:
// each waits for all to be started, as the tasks of the other peers do
// (they start only when the spawning code yields).
func benchSleepers(n int) {
	base := peakKiB()
	var wg sync.WaitGroup
	wg.Add(n)
	start := make(chan struct{})
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			<-start
			time.Sleep(time.Second)
			wg.Done()
		}()
	}
	spawned := time.Since(t0)
	close(start)
	wg.Wait()
	d := time.Since(t0)
	kib := peakKiB() - base
	report("sleepers/go", float64(n), d, fmt.Sprintf(
		" tasks=%d wall_s=%.3f spawn_s=%.3f peak_kib=%d kib_per_task=%.2f",
		n, d.Seconds(), spawned.Seconds(), kib, float64(kib)/float64(n)))
}

// One producer, one consumer, a channel of capacity 100.
func benchQueue(n int) {
	d := bestOf(func() time.Duration {
		q := make(chan int, 100)
		t0 := time.Now()
		go func() {
			for i := 1; i <= n; i++ {
				q <- i
			}
		}()
		sum := 0
		for i := 0; i < n; i++ {
			sum += <-q
		}
		if sum != n*(n+1)/2 {
			panic("lost items")
		}
		return time.Since(t0)
	})
	report("queue/go", float64(n), d, "")
}

// Four goroutines: Lock, yield inside the critical section, Unlock.
func benchLock(n int) {
	const tasks = 4
	d := bestOf(func() time.Duration {
		var mu sync.Mutex
		var wg sync.WaitGroup
		counter := 0
		wg.Add(tasks)
		t0 := time.Now()
		for t := 0; t < tasks; t++ {
			go func() {
				for i := 0; i < n; i++ {
					mu.Lock()
					tmp := counter
					runtime.Gosched()
					counter = tmp + 1
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		if counter != tasks*n {
			panic("lost updates")
		}
		return time.Since(t0)
	})
	report("lock/go", tasks*float64(n), d, "")
}

// A job handed to a pool of worker goroutines and its answer awaited, one
// at a time: the round trip of run_in_executor.
func benchExecutor(n int) {
	jobs := make(chan chan int, 16)
	for w := 0; w < 4; w++ {
		go func() {
			for reply := range jobs {
				reply <- 1
			}
		}()
	}
	d := bestOf(func() time.Duration {
		reply := make(chan int)
		t0 := time.Now()
		for i := 0; i < n; i++ {
			jobs <- reply
			<-reply
		}
		return time.Since(t0)
	})
	report("executor/go", float64(n), d, "")
}

// The same pool with 64 jobs in flight: submit 64, wait for their 64
// answers, repeat (what bench_executor's executor/thread_pool does with
// cio_executor_submit and cio_gather).
func benchExecutor64(n int) {
	const inFlight = 64
	jobs := make(chan chan int, inFlight)
	for w := 0; w < 4; w++ {
		go func() {
			for reply := range jobs {
				reply <- 1
			}
		}()
	}
	rounds := (n + inFlight - 1) / inFlight
	d := bestOf(func() time.Duration {
		reply := make(chan int, inFlight)
		t0 := time.Now()
		for r := 0; r < rounds; r++ {
			for i := 0; i < inFlight; i++ {
				jobs <- reply
			}
			for i := 0; i < inFlight; i++ {
				<-reply
			}
		}
		return time.Since(t0)
	})
	report("executor64/go", float64(rounds*inFlight), d, "")
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: micro WHICH [N]")
		os.Exit(2)
	}
	n := 1000000
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	benches := map[string]func(int){
		"switch": benchSwitch, "spawn": benchSpawn, "sleepers": benchSleepers,
		"queue": benchQueue, "lock": benchLock, "executor": benchExecutor,
		"executor64": benchExecutor64,
	}
	b, ok := benches[os.Args[1]]
	if !ok || n <= 0 {
		fmt.Fprintln(os.Stderr, "micro: unknown benchmark or bad size")
		os.Exit(2)
	}
	b(n)
}
