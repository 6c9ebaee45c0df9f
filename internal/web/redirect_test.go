package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/promgate/promgate/internal/promtest"
)

// TestLoginNextStaysOnSite: the login page follows ?next= only to a page of
// its own origin. For every trick that makes a browser read a "path" as
// another host (tab, newline, backslash, //, /\, schemes, percent-encoding,
// dot segments) a real Chromium, after logging in and when already logged
// in, lands on a page of promgate's origin, and the attacker's host (mapped
// to a server on 127.0.0.1 that counts its visitors) sees nobody.
func TestLoginNextStaysOnSite(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	chromiumPath(t)
	s := promtest.Start(t)
	var visits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	evil := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			// Asked for after a visit, at a time of the browser's choosing.
			http.NotFound(w, r)
			return
		}
		visits.Add(1)
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<!doctype html><title>evil</title><p>phished")
	})}}
	evil.Start()
	t.Cleanup(evil.Close)
	b := startBrowser(t, s.URL, chromedp.Flag("host-resolver-rules", "MAP evil.example "+ln.Addr().String()))

	// The trap works: the browser reaches "evil.example".
	b.do("visit the trap", chromedp.Navigate("http://evil.example/"))
	if visits.Swap(0) != 1 {
		t.Fatal("evil.example does not reach the trap server")
	}

	q := func(next string) string { return "next=" + url.QueryEscape(next) }
	cases := []struct {
		name, query, want string // want: path (and query) landed on
	}{
		{"tab (the reported one)", "next=%2F%09%2Fevil.example%2F", "/explore"},
		{"tab, raw", q("/\t/evil.example/"), "/explore"},
		{"newline", q("/\n/evil.example/"), "/explore"},
		{"carriage return and newline", q("/\r\n/evil.example/"), "/explore"},
		{"backslash", q("/\\evil.example/"), "/explore"},
		{"two backslashes", q("\\\\evil.example/"), "/explore"},
		{"tab then backslash", q("/\t\\evil.example/"), "/explore"},
		{"protocol-relative", q("//evil.example/"), "/explore"},
		{"three slashes", q("///evil.example/"), "/explore"},
		{"leading space", q(" //evil.example/"), "/explore"},
		{"dot segment to //", q("/.//evil.example/"), "/explore"},
		{"https URL", q("https://evil.example/"), "/explore"},
		{"http URL", q("http://evil.example/"), "/explore"},
		{"scheme-relative http:", q("http:evil.example"), "/explore"},
		{"javascript URL", q("javascript:alert(document.domain)"), "/explore"},
		{"javascript after slash (a path here)", q("/\tjavascript:alert(1)"), "/javascript:alert(1)"},
		{"encoded slashes", q("/%2F%2Fevil.example/"), "/explore"},
		{"double-encoded slashes", "next=%252F%252Fevil.example%252F", "/explore"},
		{"encoded backslash", q("/%5Cevil.example/"), "/explore"},
		{"encoded tab", q("/%09/evil.example/"), "/%09/evil.example/"},
		{"userinfo", q("//evil.example@127.0.0.1/"), "/explore"},
		{"login loop", q("/login?next=//evil.example/"), "/explore"},
		{"empty", "next=", "/explore"},
		{"own page", q("/settings/users?x=1#top"), "/settings/users?x=1#top"},
		{"own page with dot segment", q("/settings/./users"), "/settings/users"},
	}
	for _, tc := range cases {
		for _, loggedIn := range []bool{false, true} {
			name := tc.name + "/after login"
			if loggedIn {
				name = tc.name + "/already logged in"
			}
			t.Run(name, func(t *testing.T) {
				b.t = t
				if !loggedIn {
					b.do("log out", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
						_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
						return err
					}))
					b.do("open login", chromedp.Navigate(s.URL+"/login?"+tc.query),
						chromedp.WaitReady(chromedp.CSS(`body[data-page="login"][data-ready="true"]`)), chromedp.WaitVisible(chromedp.CSS("#login-form")))
					b.do("log in",
						chromedp.SendKeys(chromedp.CSS("#login"), "admin"),
						chromedp.SendKeys(chromedp.CSS("#password"), promtest.OwnerPassword+kb.Enter),
					)
				} else {
					b.do("open login", chromedp.Navigate(s.URL+"/login?"+tc.query))
				}
				got := b.landing()
				if visits.Swap(0) != 0 {
					t.Fatalf("the attacker's host was visited; browser at %s", got)
				}
				if want := s.URL + tc.want; got != want {
					t.Fatalf("landed on %s, want %s", got, want)
				}
			})
		}
	}
	if p := b.problems(); len(p) > 0 {
		t.Errorf("browser console problems:\n%s", strings.Join(p, "\n"))
	}
}

// landing waits until the browser has left the login page and the page it
// went to has loaded, and returns its URL.
func (b *browser) landing() string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		var ready string
		if err == nil {
			ready, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`))
		}
		cancel()
		if err == nil {
			last = loc
			if u, perr := url.Parse(loc); perr == nil && !(u.Host != "evil.example" && u.Path == "/login") && ready == "complete" {
				// Stable: the page is not about to go elsewhere.
				time.Sleep(300 * time.Millisecond)
				if again, err := chromedp.Run(b.ctx, chromedp.Location()); err == nil && again == loc {
					return loc
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.fatal("wait to leave the login page", fmt.Errorf("still at %s", last))
	return ""
}
