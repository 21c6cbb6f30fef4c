package engine

import (
	"fmt"
	"maps"
	"time"
)

// ConnectionWait is how long a run (or poll) waiting on a paused
// connection or a held flow sleeps before it looks again, whatever pause
// the connection asked for: a re-login, add-token or reload is noticed
// within this time, and looking costs a database read, not a call to
// GoHighLevel.
const ConnectionWait = 30 * time.Second

// HeldRunWait is how long a run of a held flow waits before it looks again.
const HeldRunWait = ConnectionWait

// FlowHeldError says a flow is loaded but held: it takes no deliveries and
// its runs wait, without spending attempts, until what it lacks (a scope of
// its connection, for example) is fixed and the flows are reloaded. Like
// ConnectionPausedError, errors.Is(err, ErrConnectionUnavailable) is true.
type FlowHeldError struct {
	Flow   string
	Reason error
}

func (e *FlowHeldError) Error() string {
	return fmt.Sprintf("flow %q is held until fixed: %v", e.Flow, e.Reason)
}

// Unwrap returns the reason.
func (e *FlowHeldError) Unwrap() error { return e.Reason }

// Is makes errors.Is(err, ErrConnectionUnavailable) true.
func (e *FlowHeldError) Is(target error) bool { return target == ErrConnectionUnavailable }

// SetHeld replaces the set of held flows (flow name → why). A held flow
// stays loaded: web answers its deliveries 429 and shows the reason to the
// operator, and its runs (replays, events accepted before the hold) snooze
// instead of calling GoHighLevel. Call it after every SetFlows; nil or an
// empty map holds nothing.
func (e *Engine) SetHeld(held map[string]error) {
	next := map[string]error{}
	for name, err := range held {
		if err != nil {
			next[name] = err
		}
	}
	e.mu.Lock()
	e.held = next
	e.mu.Unlock()
}

// Held returns why a flow is held, or nil when it is not.
func (e *Engine) Held(name string) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.held[name]
}

// HeldFlows returns a copy of the held flows and their reasons.
func (e *Engine) HeldFlows() map[string]error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return maps.Clone(e.held)
}
