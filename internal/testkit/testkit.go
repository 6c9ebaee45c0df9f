// Package testkit holds the small helpers tests of every package share: a
// log buffer, a free address, a bounded context and client. It imports
// nothing of promgate, so that tests inside auth or mgmtapi (which
// promtest's wiring imports) can use it too; tests that need a running
// promgate use promtest.
package testkit

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// HTTPClient returns a client with a bound on every request a test makes.
func HTTPClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// Context returns a context that ends with the test or after a minute.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// FreeAddr returns a 127.0.0.1 address nothing listens on (at the time).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
