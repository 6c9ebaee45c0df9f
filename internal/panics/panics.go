// Package panics turns a panic in a goroutine started for a request into an
// error that the request's own handler can answer and report: an unrecovered
// panic outside net/http's handler goroutine would stop the whole process.
package panics

import (
	"fmt"
	"runtime/debug"
)

// Error is a recovered panic with the stack of the goroutine that panicked.
type Error struct {
	Value any
	Stack []byte
}

func (e *Error) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Capture recovers a panic into *errp as an *Error. Defer it directly (a
// recover only works in the deferred function itself):
//
//	defer panics.Capture(&err)
func Capture(errp *error) {
	if v := recover(); v != nil {
		*errp = &Error{Value: v, Stack: debug.Stack()}
	}
}
