package resolver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestBudget: every message a lookup sends spends the budget of its
// context (a truncated answer asked again over TCP, a CNAME target asked
// after it); once spent, questions fail with KindBudget and reach no
// server.
func TestBudget(t *testing.T) {
	s := zone(t)
	s.Set(s.NoChase, "outside.test")
	r := newResolver(t, s)
	cases := []struct {
		name  string
		limit int
		ask   func(ctx context.Context) error
		sent  int // messages the server received
		want  Kind
	}{
		{"one question", 1, func(ctx context.Context) error { _, _, err := r.LookupMX(ctx, "example.test"); return err }, 1, ""},
		{"A and AAAA", 2, func(ctx context.Context) error { return r.LookupAddrs(ctx, "mx1.example.test").Err() }, 2, ""},
		{"one of A and AAAA", 1, func(ctx context.Context) error {
			a := r.LookupAddrs(ctx, "mx1.example.test")
			if !IsBudget(a.ErrA) && !IsBudget(a.ErrAAAA) {
				return errors.New("neither question was refused")
			}
			return nil
		}, 1, ""},
		{"truncated, then TCP", 2, func(ctx context.Context) error { _, err := r.Query(ctx, "tc.test", dns.TypeA); return err }, 2, ""},
		{"truncated, no budget for TCP", 1, func(ctx context.Context) error { _, err := r.Query(ctx, "tc.test", dns.TypeA); return err }, 1, KindBudget},
		{"CNAME target asked again", 2, func(ctx context.Context) error { _, err := r.Query(ctx, "outside.test", dns.TypeA); return err }, 2, ""},
		{"CNAME target beyond the budget", 1, func(ctx context.Context) error { _, err := r.Query(ctx, "outside.test", dns.TypeA); return err }, 1, KindBudget},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.Queries())
			b := NewBudget(tc.limit)
			ctx := WithBudget(context.Background(), b)
			err := tc.ask(ctx)
			if KindOf(err) != tc.want {
				t.Fatalf("error %v (kind %q), want kind %q", err, KindOf(err), tc.want)
			}
			if got := len(s.Queries()) - before; got != tc.sent || b.Sent() != tc.sent {
				t.Errorf("server received %d messages, the budget counted %d, want %d", got, b.Sent(), tc.sent)
			}
			// Once spent, nothing more is asked.
			_, err = r.Query(ctx, "mx0.example.test", dns.TypeA)
			if !IsBudget(err) || !strings.Contains(err.Error(), "budget of") {
				t.Errorf("a question after the budget: %v", err)
			}
			if got := len(s.Queries()) - before; got != tc.sent {
				t.Errorf("a question beyond the budget reached the server (%d messages)", got)
			}
			if b.Refused() == 0 {
				t.Error("no refusal counted")
			}
		})
	}
}

// TestBudgetCountsOnly: without a bound, a budget counts; shared by many
// lookups at once it counts each.
func TestBudgetCountsOnly(t *testing.T) {
	s := zone(t)
	r := newResolver(t, s)
	b := NewBudget(0)
	ctx := WithBudget(context.Background(), b)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { r.LookupAddrs(ctx, "mx1.example.test") })
	}
	wg.Wait()
	if b.Sent() != 20 || b.Refused() != 0 || len(s.Queries()) != 20 {
		t.Errorf("sent %d, refused %d, server saw %d; want 20, 0, 20", b.Sent(), b.Refused(), len(s.Queries()))
	}
	// A context without a budget is not counted nor bounded.
	if _, err := r.Query(context.Background(), "mx0.example.test", dns.TypeA); err != nil || b.Sent() != 20 {
		t.Errorf("a lookup without the budget: %v, sent %d", err, b.Sent())
	}
}

// TestIdleSockets: questions one after the other reuse one UDP socket; a
// socket whose question failed (no answer in time) is not kept.
func TestIdleSockets(t *testing.T) {
	s := zone(t)
	r := newResolver(t, s)
	for range 5 {
		if _, err := r.Query(context.Background(), "mx0.example.test", dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.idle); n != 1 {
		t.Errorf("%d idle sockets after 5 questions in a row, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.Query(ctx, "silent.test", dns.TypeA); KindOf(err) != KindTimeout {
		t.Fatalf("silent.test: %v", err)
	}
	if n := len(r.idle); n != 0 {
		t.Errorf("%d idle sockets after a question timed out on the only one, want 0", n)
	}
	// At once, each question has a socket of its own; at most maxIdleUDP stay.
	var wg sync.WaitGroup
	for range 2 * maxIdleUDP {
		wg.Go(func() { _, _ = r.Query(context.Background(), "mx0.example.test", dns.TypeA) })
	}
	wg.Wait()
	if n := len(r.idle); n < 1 || n > maxIdleUDP {
		t.Errorf("%d idle sockets, want 1 to %d", n, maxIdleUDP)
	}
}

// TestLostDatagram: a question whose first UDP datagram goes unanswered is
// asked once more, on another socket, after firstTryTimeout, and both
// messages count in the budget.
func TestLostDatagram(t *testing.T) {
	s := zone(t)
	r := newResolver(t, s)
	s.Set(s.DropFirst, "mx0.example.test")
	b := NewBudget(0)
	ans, err := r.Query(WithBudget(context.Background(), b), "mx0.example.test", dns.TypeA)
	if err != nil || len(ans.Records) != 1 {
		t.Fatalf("%v, %+v", err, ans)
	}
	if b.Sent() != 2 || len(s.Queries()) != 2 {
		t.Errorf("%d messages counted, %d received; want 2 of each", b.Sent(), len(s.Queries()))
	}
	// Without the time for a second try, the question fails.
	s.Set(s.DropFirst, "mx0.example.test")
	ctx, cancel := context.WithTimeout(context.Background(), firstTryTimeout/2)
	defer cancel()
	if _, err := r.Query(ctx, "mx0.example.test", dns.TypeA); KindOf(err) != KindTimeout {
		t.Errorf("with no time for a retry: %v", err)
	}
}
