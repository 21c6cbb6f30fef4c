package flow

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Position is a place in a flow file. Line and Column start at 1.
type Position struct {
	File   string
	Line   int
	Column int
}

// String formats the position as file:line:column.
func (p Position) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, max(p.Line, 1), max(p.Column, 1))
}

// Error is one problem found in a flow file, with the place it was found.
type Error struct {
	Pos Position
	Msg string
}

// Error formats the problem as "file:line:column: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList collects every problem of one or more flow files. A nil or empty
// list means no problem; use Err to turn it into a plain error.
type ErrorList []*Error

// Error joins the problems, one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns nil for an empty list and the list otherwise, so callers never
// hold a non-nil error interface wrapping an empty list.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Sort orders the problems by file, line and column.
func (l ErrorList) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
		)
	})
}

// ForFile returns the problems found in one file.
func (l ErrorList) ForFile(file string) ErrorList {
	var out ErrorList
	for _, e := range l {
		if e.Pos.File == file {
			out = append(out, e)
		}
	}
	return out
}

// EvalError is a problem met while evaluating a step at run time: an
// expression that failed, a value of the wrong type for a custom field, a
// missing path parameter. It names the step, the mapped field and the place
// in the flow file the value came from.
type EvalError struct {
	Flow  string
	Step  string // "" for a poll trigger
	Field string // "with.email", "when", "customFields.Deal Value"
	Pos   Position
	Err   error
}

func (e *EvalError) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Step != "" {
		fmt.Fprintf(&b, "step %q: ", e.Step)
	} else {
		b.WriteString("poll: ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *EvalError) Unwrap() error { return e.Err }
