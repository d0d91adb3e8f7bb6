package slots

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestTryAcquire(t *testing.T) {
	p := New(2)
	for range 2 {
		if !p.TryAcquire() {
			t.Fatal("a free slot was refused")
		}
	}
	if p.TryAcquire() {
		t.Fatal("a third slot of two was given")
	}
	if p.InUse() != 2 || p.Limit() != 2 {
		t.Errorf("in use %d of %d, want 2 of 2", p.InUse(), p.Limit())
	}
	p.Release()
	if !p.TryAcquire() {
		t.Fatal("a released slot was refused")
	}
}

func TestUnlimited(t *testing.T) {
	for _, p := range []*Pool{nil, New(0), New(-1)} {
		for range 10000 {
			if !p.TryAcquire() || p.Acquire(context.Background()) != nil {
				t.Fatal("an unlimited pool refused")
			}
		}
		p.Release()
		if p.Limit() != 0 || p.InUse() != 0 {
			t.Errorf("limit %d, in use %d", p.Limit(), p.InUse())
		}
		// Nothing starts after the deadline, limit or not.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Acquire(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Acquire after the end: %v", err)
		}
	}
}

// TestAcquireWaits: a waiter gets the slot a release frees; a waiter whose
// context ends takes nothing.
func TestAcquireWaits(t *testing.T) {
	p := New(1)
	p.TryAcquire()

	ctx, cancel := context.WithCancel(context.Background())
	gave := make(chan error)
	go func() { gave <- p.Acquire(ctx) }()
	cancel()
	if err := <-gave; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with its context cancelled: %v", err)
	}
	if p.InUse() != 1 {
		t.Fatalf("a cancelled waiter took a slot: %d in use", p.InUse())
	}

	go func() { gave <- p.Acquire(context.Background()) }()
	p.Release()
	if err := <-gave; err != nil {
		t.Fatalf("Acquire after a release: %v", err)
	}
	if p.InUse() != 1 {
		t.Errorf("%d in use, want the waiter's 1", p.InUse())
	}
}

// TestNeverBeyondLimit: many goroutines taking and freeing slots never hold
// more than the limit at once.
func TestNeverBeyondLimit(t *testing.T) {
	const limit = 3
	p := New(limit)
	var held, most atomic.Int64
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for range 200 {
				if i%2 == 0 {
					if err := p.Acquire(context.Background()); err != nil {
						t.Error(err)
						return
					}
				} else if !p.TryAcquire() {
					continue
				}
				n := held.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				held.Add(-1)
				p.Release()
			}
		})
	}
	wg.Wait()
	if most.Load() > limit || p.InUse() != 0 {
		t.Errorf("at most %d held at once (limit %d), %d still in use", most.Load(), limit, p.InUse())
	}
}
