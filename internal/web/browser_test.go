package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/promtest"
	"github.com/promgate/promgate/internal/testpeer"
)

// These tests drive a real headless Chromium against a real promgate on
// 127.0.0.1. They need the Debian package chromium (chromium-driver is
// installed beside it by .ci/run). Locally they skip without it; with
// CI=true they fail, so CI cannot pass without having run them.

const proxyQuery = "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query"

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testpeer.Missing(t, testpeer.Chromium, "install it with `apt-get install -y chromium chromium-driver` (bash .ci/run does) or set PROMGATE_CHROMIUM=/path/to/chrome")
	return ""
}

// screenshotDir is testout/screenshots at the repository root.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "testout", "screenshots")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatalf("create screenshot dir: %v", err)
	}
	return out
}

type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string

	mu      sync.Mutex
	console []string
}

// startBrowser starts Chromium with the tests' options and any extra ones.
func startBrowser(t *testing.T, base string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := chromiumPath(t)
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // as root in a container there is no sandbox to use
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the browser exits before its profile
	// directory is removed.
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	b := &browser{t: t, ctx: ctx, base: base, shots: screenshotDir(t)}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, fmt.Sprintf("%s %s (%s:%d)", m.Source, m, m.URL, m.Line+1))
			b.mu.Unlock()
		}
	}()
	return b
}

// problems lists console messages that mean a broken page: exceptions and
// anything the Content Security Policy refused.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if strings.Contains(m, "exception:") || strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused to") {
			out = append(out, m)
		}
	}
	return out
}

func (b *browser) consoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.console, "\n")
}

func (b *browser) fatal(what string, err error) {
	b.t.Helper()
	b.screenshot("failed-" + regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(b.t.Name()), "-"))
	b.t.Fatalf("%s: %v\nbrowser console:\n%s", what, err, b.consoleText())
}

// do runs steps with a time limit; the browser outlives the limit.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fatal(what, err)
	}
}

func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatal(what, err)
	}
	return v
}

func (b *browser) eval(js string) bool {
	b.t.Helper()
	return value(b, "evaluate "+js, chromedp.Evaluate[bool](js))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return value(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// open loads a page, waits until its script has filled it, and checks
// that every visible form field has a label.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"]`)))
	b.checkLabels(path)
}

func (b *browser) checkLabels(where string) {
	b.t.Helper()
	unlabelled := value(b, "label check", chromedp.Evaluate[[]string](`[...document.querySelectorAll('input, select, textarea')]
		.filter(e => e.type !== 'hidden' && !e.closest('[hidden]') && !e.classList.contains('offscreen'))
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
		.map(e => e.outerHTML.slice(0, 120))`))
	for _, u := range unlabelled {
		b.t.Errorf("%s: form field without a label: %s", where, u)
	}
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot: %s", file)
}

// screenshotViewport captures only what is on screen, for modal dialogs
// (a full-page capture stretches the page under their fixed backdrop).
func (b *browser) screenshotViewport(name string) {
	b.t.Helper()
	png := value(b, "screenshot "+name, chromedp.CaptureScreenshot())
	file := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
	}
}

// waitFor polls a JavaScript condition until it holds.
func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	b.do(what, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(40*time.Second)))
}

func (b *browser) login(user, password string) {
	b.t.Helper()
	b.do("log in as "+user,
		chromedp.Navigate(b.base+"/login"),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"]`)),
		chromedp.SendKeys(chromedp.CSS("#login"), user),
		// Enter in the password field submits: the form works by keyboard.
		chromedp.SendKeys(chromedp.CSS("#password"), password+kb.Enter),
		chromedp.WaitReady(chromedp.CSS(`body[data-page="explore"][data-ready="true"]`)),
	)
	if got := b.text("#user-name"); got != user {
		b.t.Fatalf("header shows user %q, want %q", got, user)
	}
}

// addDemoSeries writes an hour of two wavy series, so the graph has shape.
func addDemoSeries(t *testing.T, s *promtest.Server) {
	t.Helper()
	now := time.Now().UnixMilli()
	for i, inst := range []string{"api-1", "api-2"} {
		var ts []int64
		var vals []float64
		for k := 240; k >= 0; k-- {
			at := now - int64(k)*15_000
			ts = append(ts, at)
			vals = append(vals, 50+20*float64(i)+15*math.Sin(float64(at)/600_000+float64(i)))
		}
		s.Append(t, labels.FromStrings("__name__", "demo_requests_per_second", "job", "demo", "instance", inst), ts, vals)
	}
}

// queryWith runs `up` through the proxy with HTTP basic auth, as the
// reference's curl line does.
func queryWith(t *testing.T, base, key, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+proxyQuery+"?query=up", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("query with the new credential: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	chromiumPath(t) // skip or fail before starting anything
	s := promtest.Start(t)
	addDemoSeries(t, s)
	b := startBrowser(t, s.URL)

	steps := []struct {
		name string
		run  func(t *testing.T, b *browser)
	}{
		{"login page sends back to the page asked for", func(t *testing.T, b *browser) {
			b.do("open explore logged out", chromedp.Navigate(s.URL+"/explore"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			loc := value(b, "location", chromedp.Location())
			if !strings.HasSuffix(loc, "/login?next=%2Fexplore") {
				t.Errorf("logged-out Explore went to %s, want the login page with next=/explore", loc)
			}
			b.do("wrong password",
				chromedp.SendKeys(chromedp.CSS("#login"), "admin"),
				chromedp.SendKeys(chromedp.CSS("#password"), "not-the-password"),
				chromedp.Click(chromedp.CSS("#login-submit")),
				chromedp.WaitVisible(chromedp.CSS("#login-error")),
			)
			if msg := b.text("#login-error"); !strings.Contains(msg, "Invalid login or password") {
				t.Errorf("login error says %q", msg)
			}
			b.screenshot("login")
			b.login("admin", promtest.OwnerPassword)
			if role := b.text("#user-role"); role != "OWNER" {
				t.Errorf("header role %q, want OWNER", role)
			}
		}},
		{"explore instant query fills the table", func(t *testing.T, b *browser) {
			b.open("/explore")
			b.do("run up", chromedp.Click(chromedp.CSS("#q-run")), chromedp.WaitVisible(chromedp.CSS("#result-table tbody tr")))
			body := b.text("#result-table tbody")
			if !strings.Contains(body, "up") || !strings.Contains(body, "promgate") {
				t.Errorf("table rows %q lack the up series of job promgate", body)
			}
			href := value(b, "csv link", chromedp.AttributeValue(chromedp.CSS("#q-csv"), "href"))
			if !href.Exists || !strings.Contains(href.Value, proxyQuery+"?") || !strings.Contains(href.Value, "format=csv") || !strings.Contains(href.Value, "query=up") {
				t.Errorf("Download CSV link %q, want the proxy query with format=csv", href.Value)
			}
			// Follow the link as the browser would, with the session cookie.
			csv := value(b, "fetch csv", chromedp.Evaluate[string](`fetch(document.querySelector('#q-csv').href).then(async r => r.status + ' ' + r.headers.get('content-type') + '\n' + await r.text())`, chromedp.EvalAwaitPromise))
			if status, _, _ := strings.Cut(csv, " "); status != "200" {
				t.Errorf("Download CSV answered %.300s", csv)
			} else if strings.Contains(csv, "text/csv") {
				if !strings.Contains(csv, "\nname,timestamp,value,") || !strings.Contains(csv, "\nup,") {
					t.Errorf("CSV download %.300s lacks the header or the up row", csv)
				}
			} else {
				t.Logf("this build answers format=csv without CSV yet: %.100s", csv)
			}
			b.screenshot("explore-instant")
		}},
		{"explore range query draws a graph", func(t *testing.T, b *browser) {
			b.do("range mode", chromedp.Click(chromedp.CSS("#q-mode-range")))
			b.typeQuery("demo_requests_per_second")
			b.press("Enter", true)
			b.do("range query ran",
				chromedp.WaitVisible(chromedp.CSS("#graph canvas")),
				chromedp.WaitVisible(chromedp.CSS("#result-table tbody tr")),
			)
			if n := value(b, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#result-table tbody tr').length`)); n != 2 {
				t.Errorf("%d table rows for two series", n)
			}
			if summary := b.text("#q-summary"); !strings.Contains(summary, "matrix") {
				t.Errorf("summary %q", summary)
			}
			b.screenshot("explore-range")
		}},
		{"explore shows API errors in words", func(t *testing.T, b *browser) {
			// Typed, the editor would close the brackets: the link form
			// sends the query as it is.
			b.do("bad query",
				chromedp.Navigate(s.URL+"/explore?query="+url.QueryEscape("sum(rate(x[5m]")),
				chromedp.WaitVisible(chromedp.CSS("#q-error")),
			)
			if msg := b.text("#q-error"); !strings.Contains(msg, "bad_data") || !strings.Contains(msg, "parse error") {
				t.Errorf("error box says %q, want the API's bad_data parse error", msg)
			}
			b.screenshot("explore-error")
		}},
		{"data sources lists the embedded store", func(t *testing.T, b *browser) {
			b.open("/datasources")
			row := b.text(`#ds-table tr[data-id="1"]`)
			if !strings.Contains(row, "promgate") || !strings.Contains(row, "embedded") || !strings.Contains(row, "on, step-aligned") {
				t.Errorf("data source 1 row %q", row)
			}
			b.screenshot("datasources")
		}},
		{"data source: test, add, and its secret is never shown", func(t *testing.T, b *browser) {
			if !b.eval(`!document.querySelector('#ds-manage').hidden`) {
				t.Skip("this build has no data source management API; the page lists the embedded store only")
			}
			// promgate's own proxy is a Prometheus API behind basic auth:
			// a real remote data source for this test.
			b.do("fill the form",
				chromedp.Click(chromedp.CSS("#ds-add-open")),
				chromedp.SendKeys(chromedp.CSS("#ds-name"), "loopback"),
				chromedp.SendKeys(chromedp.CSS("#ds-url"), s.URL+"/api-server/v1/grafana/api/datasources/proxy/1"),
				// Writable through promgate's own embedded write path.
				chromedp.SendKeys(chromedp.CSS("#ds-write-url"), s.URL+"/api-server/v1/grafana/api/datasources/proxy/1/api/v1/write"),
				chromedp.SendKeys(chromedp.CSS("#ds-env"), "test"),
				chromedp.SetValue(chromedp.CSS("#ds-auth"), "basic"),
				chromedp.Evaluate[chromedp.Void](`document.querySelector('#ds-auth').dispatchEvent(new Event('change'))`),
				chromedp.SendKeys(chromedp.CSS("#ds-user"), s.Key),
				chromedp.SendKeys(chromedp.CSS("#ds-password"), s.Token),
				// A TLS setting, stored with the rest (unused over http).
				chromedp.Click(chromedp.CSS("#ds-tls summary")),
				chromedp.SendKeys(chromedp.CSS("#ds-tls-server-name"), "localhost"),
				chromedp.Click(chromedp.CSS("#ds-test")),
			)
			if got := b.text("#ds-submit"); got != "Save data source" {
				t.Errorf("the new data source form's submit button says %q; the header button already says Add data source", got)
			}
			if b.eval(`document.querySelector('#ds-add-open').offsetParent !== null`) {
				t.Error("“Add data source” stays visible above the open form")
			}
			b.waitFor("test result", `!document.querySelector('#ds-test').disabled && (!document.querySelector('#ds-form-error').hidden || !document.querySelector('#ds-form-status').hidden && document.querySelector('#ds-form-status').textContent !== 'Testing…')`)
			t.Logf("test connection: %q %q", b.text("#ds-form-status"), b.text("#ds-form-error"))
			b.screenshot("datasources-form")
			b.do("add", chromedp.Click(chromedp.CSS("#ds-submit")))
			b.waitFor("new row or error", `[...document.querySelectorAll('#ds-table tbody tr')].some(r => r.textContent.includes('loopback')) || !document.querySelector('#ds-form-error').hidden`)
			if msg := b.text("#ds-form-error"); msg != "" {
				t.Fatalf("adding the data source failed: %s", msg)
			}
			if b.eval(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || [...document.querySelectorAll('input,textarea')].some(e => e.value.includes(%q))`, s.Token, s.Token)) {
				t.Error("the data source password is still in the page after adding it")
			}
			b.open("/datasources")
			row := b.text(`#ds-table tbody tr:last-child`)
			if !strings.Contains(row, "loopback") || !strings.Contains(row, "password set") || !strings.Contains(row, "remote_write: "+s.URL+"/api-server/v1/grafana/api/datasources/proxy/1/api/v1/write") {
				t.Errorf("new data source row %q", row)
			}
			if b.eval(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, s.Token)) {
				t.Error("the data source password is in the reloaded page")
			}
			b.screenshot("datasources-added")
		}},
		{"data source: edit keeps the stored password and never shows it", func(t *testing.T, b *browser) {
			if !b.eval(`!document.querySelector('#ds-manage').hidden`) {
				t.Skip("this build has no data source management API")
			}
			secretInPage := fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || [...document.querySelectorAll('input,textarea')].some(e => e.value.includes(%q))`, s.Token, s.Token)
			b.open("/datasources")
			id := value(b, "loopback id", chromedp.Evaluate[string](`[...document.querySelectorAll('#ds-table tbody tr')].find(r => r.textContent.includes('loopback')).dataset.id`))
			row := fmt.Sprintf(`#ds-table tr[data-id=%q]`, id)
			edit := row + ` button[data-edit]`
			if label := value(b, "edit label", chromedp.AttributeValue(chromedp.CSS(edit), "aria-label")); label.Value != "Edit data source loopback" {
				t.Errorf("Edit button is labelled %q", label.Value)
			}
			// By keyboard: focus the row's Edit button and press Enter.
			b.do("open the edit form",
				chromedp.Focus(chromedp.CSS(edit)),
				chromedp.KeyEvent(kb.Enter),
				chromedp.WaitVisible(chromedp.CSS("#ds-form")),
			)
			b.waitFor("form filled", `document.querySelector('#ds-name').value === 'loopback'`)
			b.checkLabels("edit form")
			if !b.eval(`document.activeElement === document.querySelector('#ds-name')`) {
				t.Error("opening the edit form does not move focus to its first field")
			}
			if got := b.text("#ds-form-title"); !strings.Contains(got, "Edit data source") || !strings.Contains(got, "loopback") {
				t.Errorf("form title %q", got)
			}
			if got := b.text("#ds-submit"); got != "Save changes" {
				t.Errorf("submit button says %q", got)
			}
			if !b.eval(`document.querySelector('#ds-tls').open`) {
				t.Error("the TLS settings of a data source that has one are folded away in the edit form")
			}
			for sel, want := range map[string]string{"#ds-env": "test", "#ds-auth": "basic", "#ds-user": s.Key, "#ds-password": "", "#ds-tls-server-name": "localhost", "#ds-tls-key": ""} {
				if got := value(b, "value of "+sel, chromedp.Value(chromedp.CSS(sel))); got != want {
					t.Errorf("edit form %s = %q, want %q", sel, got, want)
				}
			}
			if hint := b.text("#ds-password-hint"); !strings.Contains(hint, "password is set") || !strings.Contains(hint, "leave empty to keep it") {
				t.Errorf("password hint %q", hint)
			}
			if !b.eval(`!document.querySelector('#ds-password-remove-label').hidden && !document.querySelector('#ds-password-remove').checked`) {
				t.Error("no unticked “Remove the stored password” box")
			}
			if b.eval(secretInPage) {
				t.Error("the edit form holds the stored password")
			}

			// Escape cancels and gives the focus back to the Edit button.
			b.do("escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS("#ds-form")))
			if !b.eval(fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, edit)) {
				t.Error("Escape in the edit form does not return focus to the Edit button")
			}
			b.do("open again", chromedp.Click(chromedp.CSS(edit)), chromedp.WaitVisible(chromedp.CSS("#ds-form")))
			b.waitFor("form filled again", `document.querySelector('#ds-name').value === 'loopback'`)

			// A value only the server refuses: its error is shown in words.
			b.do("too long a timeout",
				chromedp.SetValue(chromedp.CSS("#ds-timeout"), "999999"),
				chromedp.Click(chromedp.CSS("#ds-submit")),
				chromedp.WaitVisible(chromedp.CSS("#ds-form-error")),
			)
			if msg := b.text("#ds-form-error"); !strings.Contains(msg, "Could not save") || !strings.Contains(msg, "bad_data") || !strings.Contains(msg, "timeoutSeconds must be between") {
				t.Errorf("server error shown as %q", msg)
			}

			b.do("change env and site",
				chromedp.Evaluate[chromedp.Void](`document.querySelector('#ds-timeout').value = ''; document.querySelector('#ds-env').value = ''`),
				chromedp.SendKeys(chromedp.CSS("#ds-env"), "staging"),
				chromedp.SendKeys(chromedp.CSS("#ds-site"), "eu-west-1"),
				chromedp.Click(chromedp.CSS("#ds-cache-align")), // the query cache's step alignment off
				chromedp.Click(chromedp.CSS("#ds-test")),
			)
			// The password field is empty: the test uses the stored one.
			b.waitFor("test in the form", `!document.querySelector('#ds-test').disabled && (!document.querySelector('#ds-form-error').hidden || !document.querySelector('#ds-form-status').hidden && document.querySelector('#ds-form-status').textContent !== 'Testing…')`)
			if !b.eval(`document.querySelector('#ds-form-status').classList.contains('ok')`) {
				t.Errorf("testing the edited settings with the stored password: %q %q", b.text("#ds-form-status"), b.text("#ds-form-error"))
			}
			b.screenshot("datasources-edit")
			b.do("save", chromedp.Click(chromedp.CSS("#ds-submit")), chromedp.WaitNotVisible(chromedp.CSS("#ds-form")))
			b.waitFor("row shows the new env", fmt.Sprintf(`(document.querySelector(%q) || {}).textContent.includes('staging')`, row))
			if msg := b.text("#ds-status"); !strings.Contains(msg, "Saved data source “loopback”") {
				t.Errorf("status after saving %q", msg)
			}
			if !b.eval(fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, edit)) {
				t.Error("after saving, focus is not back on the row's Edit button")
			}
			if b.eval(secretInPage) {
				t.Error("the data source password is in the page after editing")
			}

			// Reloaded, the table has the new values and the password.
			b.open("/datasources")
			got := b.text(row)
			for _, want := range []string{"loopback", "staging", "eu-west-1", "password set", "on, not step-aligned"} {
				if !strings.Contains(got, want) {
					t.Errorf("edited row %q lacks %q", got, want)
				}
			}
			if strings.Contains(got, "test ") {
				t.Errorf("edited row %q still shows the old env", got)
			}
			b.do("test the saved data source", chromedp.Click(chromedp.CSS(row+` button[aria-label^="Test"]`)))
			b.waitFor("row test result", `!document.querySelector('#ds-status').hidden && !document.querySelector('#ds-table button[aria-busy="true"]')`)
			if !b.eval(`document.querySelector('#ds-status').classList.contains('ok')`) {
				t.Errorf("Test connection after an edit that left the password empty: %q", b.text("#ds-status"))
			}
			if b.eval(secretInPage) {
				t.Error("the data source password is in the reloaded page")
			}
			b.screenshot("datasources-edited")

			// Removing the password is a choice in the form, and the
			// table then says so.
			b.do("remove the password",
				chromedp.Click(chromedp.CSS(edit)),
				chromedp.WaitVisible(chromedp.CSS("#ds-password-remove")),
				chromedp.Click(chromedp.CSS("#ds-password-remove")),
			)
			if !b.eval(`document.querySelector('#ds-password').disabled`) {
				t.Error("ticking “Remove the stored password” leaves the password field open")
			}
			b.do("save without password", chromedp.Click(chromedp.CSS("#ds-submit")), chromedp.WaitNotVisible(chromedp.CSS("#ds-form")))
			b.waitFor("row without password", fmt.Sprintf(`(document.querySelector(%q) || {}).textContent.includes('no password')`, row))
		}},
		{"global credential: create, use, revoke", func(t *testing.T, b *browser) {
			b.open("/settings/global/api-credentials")
			b.screenshot("global-api-credentials")
			b.do("create",
				chromedp.Click(chromedp.CSS("#create-open")),
				chromedp.WaitVisible(chromedp.CSS("#cred-name")),
				chromedp.SendKeys(chromedp.CSS("#cred-name"), "nightly export"),
				chromedp.SetValue(chromedp.CSS("#cred-role"), "VIEWER"),
				chromedp.SetValue(chromedp.CSS("#cred-expiry"), "30d"),
			)
			if b.eval(`document.querySelector('#create-open').offsetParent !== null`) {
				t.Error("“Create new” stays visible above the open form with its own Create button")
			}
			b.screenshot("global-api-credentials-form")
			b.do("submit", chromedp.Click(chromedp.CSS("#create-submit")), chromedp.WaitVisible(chromedp.CSS("#new-token")))
			key := value(b, "key", chromedp.Value(chromedp.CSS("#new-key")))
			token := value(b, "token", chromedp.Value(chromedp.CSS("#new-token-value")))
			curl := value(b, "curl", chromedp.Value(chromedp.CSS("#new-curl")))
			if !strings.HasPrefix(key, "pgk_") || !strings.HasPrefix(token, "pgt_") {
				t.Fatalf("page shows key %q token %q", key, token)
			}
			wantCurl := fmt.Sprintf(`curl "http://%s:%s@%s%s?query=up"`, key, token, s.Addr, proxyQuery)
			if curl != wantCurl {
				t.Errorf("curl line\n got %s\nwant %s", curl, wantCurl)
			}
			b.screenshot("global-api-credentials-created")

			status, body := queryWith(t, s.URL, key, token)
			var res struct {
				Status string
				Data   struct {
					Result []struct{ Metric map[string]string }
				}
			}
			if err := json.Unmarshal([]byte(body), &res); err != nil || status != http.StatusOK || res.Status != "success" {
				t.Fatalf("query with the token from the page: %d %.300s (%v)", status, body, err)
			}
			if len(res.Data.Result) == 0 || res.Data.Result[0].Metric["__name__"] != "up" {
				t.Errorf("query result %.300s has no up series", body)
			}

			b.do("done", chromedp.Click(chromedp.CSS("#new-token-done")), chromedp.WaitNotVisible(chromedp.CSS("#new-token")))
			if !b.eval(`document.querySelector('#create-open').offsetParent !== null`) {
				t.Error("“Create new” does not come back once the form is closed")
			}
			if b.eval(fmt.Sprintf(`document.documentElement.outerHTML.includes(%q) || [...document.querySelectorAll('input,textarea')].some(e => e.value.includes(%q))`, token, token)) {
				t.Error("the token is still in the page after Done")
			}
			row := fmt.Sprintf(`#cred-table tr[data-key=%q]`, key)
			if got := b.text(row); !strings.Contains(got, "nightly export") || !strings.Contains(got, "VIEWER") {
				t.Errorf("credential row %q", got)
			}

			// Escape cancels the confirmation; the credential stays.
			b.do("revoke, then escape",
				chromedp.Click(chromedp.CSS(row+" button")),
				chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")),
				chromedp.KeyEvent(kb.Escape),
				chromedp.WaitNotVisible(chromedp.CSS("#confirm-dialog")),
				chromedp.WaitVisible(chromedp.CSS(row)),
			)
			b.do("revoke, confirm",
				chromedp.Click(chromedp.CSS(row+" button")),
				chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")),
			)
			b.screenshotViewport("global-api-credentials-revoke")
			b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitNotPresent(chromedp.CSS(row)))
			if status, body := queryWith(t, s.URL, key, token); status != http.StatusUnauthorized {
				t.Errorf("revoked credential: status %d %.200s, want 401", status, body)
			}
		}},
		{"own API credentials show the endpoints", func(t *testing.T, b *browser) {
			b.open("/settings/api-credentials")
			urls := b.text("#endpoints")
			// The embedded store takes remote_write: its write URL is shown too.
			for _, want := range []string{s.URL + proxyQuery, s.URL + proxyQuery + "_range", strings.TrimSuffix(s.URL+proxyQuery, "/query") + "/write"} {
				if !strings.Contains(urls, want) {
					t.Errorf("endpoints %q lack %s", urls, want)
				}
			}
			if !b.eval(`!document.querySelector('#cred-empty').hidden`) {
				t.Error(`no "No credentials added" for a user without credentials`)
			}
			b.do("open the form", chromedp.Click(chromedp.CSS("#create-open")), chromedp.WaitVisible(chromedp.CSS("#create-form")))
			if b.eval(`document.querySelector('#create-open').offsetParent !== null`) {
				t.Error("“Create new” stays visible above the open form with its own Create button")
			}
			b.do("cancel", chromedp.Click(chromedp.CSS("#create-cancel")), chromedp.WaitNotVisible(chromedp.CSS("#create-form")))
			if !b.eval(`document.activeElement === document.querySelector('#create-open')`) {
				t.Error("after Cancel, focus is not back on “Create new”")
			}
			b.screenshot("api-credentials")
		}},
		{"user directory adds a VIEWER", func(t *testing.T, b *browser) {
			b.open("/settings/users")
			b.do("add user",
				chromedp.Click(chromedp.CSS("#user-add-open")),
				chromedp.SendKeys(chromedp.CSS("#user-login"), "vera"),
				chromedp.SendKeys(chromedp.CSS("#user-password"), "vera-password-1"),
				chromedp.Click(chromedp.CSS("#user-submit")),
				chromedp.WaitVisible(chromedp.CSS(`#users-table tr[data-login="vera"]`)),
			)
			if got := b.text(`#users-table tr[data-login="vera"]`); !strings.Contains(got, "active") {
				t.Errorf("new user row %q", got)
			}
			if role := value(b, "role", chromedp.Value(chromedp.CSS(`#users-table tr[data-login="vera"] select`))); role != "VIEWER" {
				t.Errorf("new user has role %q, want VIEWER", role)
			}
			b.screenshot("user-directory")
		}},
		{"VIEWER sees no endpoints and no create button", func(t *testing.T, b *browser) {
			b.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			b.login("vera", "vera-password-1")
			if role := b.text("#user-role"); role != "VIEWER" {
				t.Errorf("header role %q, want VIEWER", role)
			}
			b.open("/settings/api-credentials")
			if note := b.text("#cred-viewer-note"); !strings.Contains(note, "EDITOR") {
				t.Errorf("viewer note %q", note)
			}
			for js, what := range map[string]string{
				`document.querySelector('#create-open') !== null`:                           "a Create button",
				`document.querySelector('#endpoints-card') !== null`:                        "the endpoints section",
				`document.documentElement.outerHTML.includes('/api/v1/query')`:              "a query endpoint URL",
				`document.querySelector('a[href="/settings/users"]').offsetParent !== null`: "the Global settings menu",
			} {
				if b.eval(js) {
					t.Errorf("a VIEWER sees %s", what)
				}
			}
			b.screenshot("api-credentials-viewer")
			b.open("/explore")
			b.do("viewer query", chromedp.Click(chromedp.CSS("#q-run")), chromedp.WaitVisible(chromedp.CSS("#result-table tbody tr")))
		}},
		{"OWNER makes the VIEWER an EDITOR; the EDITOR gets endpoints and a read-only directory", func(t *testing.T, b *browser) {
			b.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			b.login("admin", promtest.OwnerPassword)
			b.open("/settings/users")
			sel := `#users-table tr[data-login="vera"]`
			b.do("change role",
				chromedp.SetValue(chromedp.CSS(sel+" select"), "EDITOR"),
				chromedp.Click(chromedp.CSS(sel+" button")),
				chromedp.WaitVisible(chromedp.CSS("#page-status")),
			)
			if msg := b.text("#page-status"); !strings.Contains(msg, "EDITOR") {
				t.Errorf("status after role change %q", msg)
			}
			b.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			b.login("vera", "vera-password-1")
			b.open("/settings/api-credentials")
			if !b.eval(`document.querySelector('#create-open') !== null && document.querySelectorAll('#endpoints .ep-url').length > 0`) {
				t.Error("an EDITOR gets no Create button or no endpoint URLs")
			}
			b.screenshot("api-credentials-editor")
			b.open("/settings/users")
			if b.eval(`!document.querySelector('#users-manage').hidden || document.querySelector('#users-table select') !== null`) {
				t.Error("an EDITOR can manage users in the directory")
			}
			if !strings.Contains(b.text("#users-table"), "admin") {
				t.Error("an EDITOR cannot list users")
			}
			b.screenshot("user-directory-editor")
		}},
		{"unknown page", func(t *testing.T, b *browser) {
			b.do("open", chromedp.Navigate(s.URL+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS("#nf-title")))
			b.screenshot("not-found")
		}},
	}
	for _, st := range steps {
		if !t.Run(st.name, func(t *testing.T) {
			b.t = t
			st.run(t, b)
		}) {
			b.t = t
			t.Fatalf("stopping: later steps build on %q", st.name)
		}
	}
	b.t = t
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the browser reported script or CSP problems:\n%s", strings.Join(p, "\n"))
	}
	if errors.Is(b.ctx.Err(), context.Canceled) {
		t.Error("browser context ended early")
	}
}
