package resolver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Budget bounds the DNS messages one probe sends, every question of every
// lookup (a truncated answer asked again over TCP, a CNAME target asked
// after it, counted each): a mail domain's answers choose how many names
// it asks for (MX hosts, their addresses, PTR names, TLSA), and without a
// bound one probe could send thousands of questions to names a hostile
// zone chose. It is safe for concurrent use: the lookups of a probe run
// side by side.
type Budget struct {
	limit   int64
	sent    atomic.Int64
	refused atomic.Int64
}

// NewBudget returns a budget of limit messages; 0 or less counts them
// without a bound.
func NewBudget(limit int) *Budget { return &Budget{limit: int64(max(limit, 0))} }

// take spends one message, or says none is left.
func (b *Budget) take() bool {
	if b.limit > 0 && b.sent.Add(1) > b.limit {
		b.sent.Add(-1)
		b.refused.Add(1)
		return false
	}
	if b.limit <= 0 {
		b.sent.Add(1)
	}
	return true
}

// Sent is the number of messages sent.
func (b *Budget) Sent() int { return int(b.sent.Load()) }

// Refused is the number of messages not sent because the budget was spent.
func (b *Budget) Refused() int { return int(b.refused.Load()) }

// Limit is the budget's bound (0: none).
func (b *Budget) Limit() int { return int(b.limit) }

type budgetKey struct{}

// WithBudget returns a context whose lookups spend b: every Resolver
// question asked with it (or a context derived from it) counts.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// BudgetOf returns the budget of ctx, nil when it has none.
func BudgetOf(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// errBudget is the error of a question the budget did not allow.
type errBudget struct{ limit int }

func (e *errBudget) Error() string {
	return fmt.Sprintf("not asked: the probe's budget of %d DNS questions is spent", e.limit)
}

// spend takes one message of ctx's budget, if it has one.
func spend(ctx context.Context) error {
	b := BudgetOf(ctx)
	if b == nil || b.take() {
		return nil
	}
	return &errBudget{limit: b.Limit()}
}

// IsBudget says err is a question not asked for want of budget.
func IsBudget(err error) bool {
	_, ok := errors.AsType[*errBudget](err)
	return ok || KindOf(err) == KindBudget
}
