package lograte

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOneLinePerReasonPerInterval(t *testing.T) {
	l := New(time.Hour)
	allowed := map[string]int{}
	for range 100 {
		for _, r := range []string{"malformed request line", "invalid method"} {
			if ok, n := l.Allow(r); ok {
				allowed[r]++
				if n != 0 {
					t.Errorf("first line of %q reports %d suppressed", r, n)
				}
			}
		}
	}
	if allowed["malformed request line"] != 1 || allowed["invalid method"] != 1 {
		t.Fatalf("allowed %v, want one line per reason", allowed)
	}

	// Once the interval has passed, the next line tells how many were
	// suppressed.
	l = New(20 * time.Millisecond)
	for range 100 {
		l.Allow("r")
	}
	time.Sleep(30 * time.Millisecond)
	if ok, n := l.Allow("r"); !ok || n != 99 {
		t.Fatalf("after the interval: Allow = %v, %d; want true, 99", ok, n)
	}
	if ok, _ := l.Allow("r"); ok {
		t.Fatal("a second line within the new interval was allowed")
	}
}

// Concurrent callers: no suppressed line is lost from the counts.
func TestConcurrentCountsAddUp(t *testing.T) {
	l := New(time.Millisecond)
	const goroutines, calls = 8, 5000
	var lines, reported atomic.Uint64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				if ok, n := l.Allow("r"); ok {
					lines.Add(1)
					reported.Add(n)
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(2 * time.Millisecond)
	ok, n := l.Allow("r") // reports what is left
	if !ok {
		t.Fatal("line after the interval suppressed")
	}
	if got := lines.Load() + reported.Load() + n; got != goroutines*calls {
		t.Fatalf("lines + suppressed = %d, want %d calls", got, goroutines*calls)
	}
}

// Past maxReasons distinct reasons, the rest share one budget.
func TestManyReasonsShareABudget(t *testing.T) {
	l := New(time.Hour)
	allowed := 0
	for i := range 3 * maxReasons {
		if ok, _ := l.Allow(fmt.Sprintf("reason %d", i)); ok {
			allowed++
		}
	}
	if allowed != maxReasons+1 {
		t.Fatalf("%d lines allowed, want %d (one per tracked reason, one for the rest)", allowed, maxReasons+1)
	}
	if ok, _ := l.Allow("reason 0"); ok {
		t.Fatal("a tracked reason was allowed twice")
	}
}

func TestNilAllowsAll(t *testing.T) {
	var l *Limiter
	for range 3 {
		if ok, _ := l.Allow("r"); !ok {
			t.Fatal("nil Limiter suppressed a line")
		}
	}
}

func TestSuppressingDoesNotAllocate(t *testing.T) {
	l := New(time.Hour)
	l.Allow("bad request")
	reason := string([]byte("bad request")) // not the same pointer
	if n := testing.AllocsPerRun(1000, func() { l.Allow(reason) }); n != 0 {
		t.Fatalf("%v allocations per suppressed line, want 0", n)
	}
}

func BenchmarkAllowSuppressed(b *testing.B) {
	l := New(time.Hour)
	l.Allow("malformed request line")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("malformed request line")
		}
	})
}
