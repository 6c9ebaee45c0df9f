package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/promgate/promgate/internal/access"
	"github.com/promgate/promgate/internal/promtest"
)

// typeQuery replaces the editor's text by typing, as a person does: the
// editor's own bracket closing and completion see every key.
func (b *browser) typeQuery(text string) {
	b.t.Helper()
	b.do("type "+text,
		chromedp.Click(chromedp.CSS("#q-editor .cm-content")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.Backspace),
		chromedp.SendKeys(chromedp.CSS("#q-editor .cm-content"), text),
	)
}

// press presses a key as a keyboard does: one keyDown that carries the
// key's text, so a handler that takes the key (preventDefault) stops the
// text, unlike chromedp.KeyEvent's separate char event, which a real
// keyboard never sends.
func (b *browser) press(key string, ctrl bool) {
	b.t.Helper()
	keys := map[string]struct {
		code string
		vk   int64
		text string
	}{
		"Enter":  {"Enter", 13, "\r"},
		"Escape": {"Escape", 27, ""},
		" ":      {"Space", 32, " "},
	}
	k, ok := keys[key]
	if !ok {
		b.t.Fatalf("press: unknown key %q", key)
	}
	var mods int64
	if ctrl {
		mods = int64(chromedp.ModifierCtrl)
	}
	b.do("press "+k.code, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: key, Code: k.code, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk, Text: k.text, UnmodifiedText: k.text, Modifiers: mods}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	}))
}

// completions lists the labels of the open completion list.
func (b *browser) completions() []string {
	b.t.Helper()
	return value(b, "completions", chromedp.Evaluate[[]string](`[...document.querySelectorAll('.cm-tooltip-autocomplete li .cm-completionLabel')].map(e => e.textContent)`))
}

// waitCompletion waits until the completion list offers label.
func (b *browser) waitCompletion(label string) {
	b.t.Helper()
	b.waitFor("completion "+label, fmt.Sprintf(`[...document.querySelectorAll('.cm-tooltip-autocomplete li .cm-completionLabel')].some(e => e.textContent === %q)`, label))
}

func (b *browser) setZone(zone string) {
	b.t.Helper()
	b.do("time zone "+zone,
		chromedp.SetValue(chromedp.CSS("#q-tz"), zone),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#q-tz').dispatchEvent(new Event('change'))`),
	)
}

func (b *browser) strings(js string) []string {
	b.t.Helper()
	return value(b, js, chromedp.Evaluate[[]string](js))
}

// setHeaders sends these headers with every request of the tab (an empty
// map stops them).
func (b *browser) setHeaders(h map[string]any) {
	b.t.Helper()
	b.do("extra headers", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers(h)})
		return err
	}))
}

var (
	tick24     = regexp.MustCompile(`^\d{2}:\d{2}(:\d{2})?(\n\d{2}-\d{2})?$|^\d{2}-\d{2}$`)
	cursorTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (UTC|UTC\+05:30)$`)
	shownTime  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{3})?$`)
)

// shortNumber: a number shown with at most 6 significant digits, or an
// integer part alone (digits before the point are never rounded away).
func shortNumber(s string) bool {
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return false
	}
	return significant(s) <= 6 || !strings.ContainsAny(s, ".e")
}

// significant counts the significant digits of a decimal number as shown.
func significant(s string) int {
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0.")
	return len(strings.ReplaceAll(s, ".", ""))
}

func TestExploreBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	chromiumPath(t)
	s := promtest.Start(t)
	addDemoSeries(t, s)
	// A metric outside the limited credential's selector: it must never be
	// offered to that credential, and must be offered to the OWNER.
	now := time.Now().UnixMilli()
	s.Append(t, labels.FromStrings("__name__", "secret_jobs_total", "job", "other"), []int64{now - 60_000, now}, []float64{1, 2})
	limitedKey, limitedToken := s.Credential(t, access.RoleViewer, access.ScopeRead, `{job="demo"}`)
	b := startBrowser(t, s.URL)
	// A zone with a half-hour offset, so local and UTC times differ visibly.
	b.do("time zone override", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"})
		return err
	}))
	const rateExpr = "rate(demo_requests_per_second[5m])"

	steps := []struct {
		name string
		run  func(t *testing.T, b *browser)
	}{
		{"label-limited credential is offered only the metrics it may query", func(t *testing.T, b *browser) {
			// The pages work with a credential as they do with a session;
			// the editor's requests carry it like every other fetch.
			b.setHeaders(map[string]any{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(limitedKey+":"+limitedToken))})
			defer b.setHeaders(map[string]any{})
			b.open("/explore")
			if who := b.text("#user-name"); who != "promtest" {
				t.Errorf("header shows %q, want the credential's name promtest", who)
			}
			b.typeQuery("demo_req")
			b.waitCompletion("demo_requests_per_second")
			b.screenshot("explore-completion-limited")
			// The name list is cached now: typing on offers from it at once.
			b.typeQuery("secret_j")
			time.Sleep(time.Second)
			for _, c := range b.completions() {
				if strings.Contains(c, "secret_jobs_total") {
					t.Errorf("a credential limited to {job=\"demo\"} is offered %q", c)
				}
			}
			b.press("Escape", false)
		}},
		{"log in", func(t *testing.T, b *browser) {
			b.login("admin", promtest.OwnerPassword)
		}},
		{"before the first query the table is hidden and a hint is shown", func(t *testing.T, b *browser) {
			b.open("/explore")
			if !b.eval(`document.querySelector('#table-card').hidden`) {
				t.Error("the Table card shows before any query")
			}
			if note := b.text("#graph-note"); !strings.Contains(note, "Run a range query") {
				t.Errorf("graph hint %q", note)
			}
			if !b.eval(`!!document.querySelector('#q-editor .cm-content') && document.querySelector('#q-expr').hidden`) {
				t.Fatal("the PromQL editor did not replace the text box")
			}
			if label := value(b, "editor label", chromedp.AttributeValue(chromedp.CSS("#q-editor .cm-content"), "aria-labelledby")); label.Value != "q-expr-label" {
				t.Errorf("editor content is labelled by %q", label.Value)
			}
			b.screenshot("explore-empty")
		}},
		{"editor completes metric names fetched through the proxy", func(t *testing.T, b *browser) {
			b.typeQuery("demo_req")
			b.waitCompletion("demo_requests_per_second")
			fetched := b.strings(`performance.getEntriesByType('resource').map(e => new URL(e.name).pathname).filter(p => p.includes('/api/v1/label/'))`)
			if !containsString(fetched, "/api-server/v1/grafana/api/datasources/proxy/1/api/v1/label/__name__/values") {
				t.Errorf("metric names not fetched through data source 1's proxy path; label requests: %q", fetched)
			}
			b.screenshot("explore-completion")
			b.press("Enter", false) // takes the completion; does not run
			if got := value(b, "query", chromedp.Value(chromedp.CSS("#q-expr"))); got != "demo_requests_per_second" {
				t.Errorf("after accepting the completion the query is %q", got)
			}
			// The OWNER may see the metric the limited credential may not:
			// the check above could have failed.
			b.typeQuery("secret_j")
			b.waitCompletion("secret_jobs_total")
			// Label values come through the proxy too.
			b.typeQuery(`demo_requests_per_second{instance="`)
			b.press(" ", true)
			b.waitCompletion("api-1")
			b.screenshot("explore-completion-label-values")
			b.press("Escape", false)
		}},
		{"editor highlights and lints PromQL", func(t *testing.T, b *browser) {
			// rate() of an instant vector: a type error the parser finds.
			b.typeQuery("rate(demo_requests_per_second")
			b.press("Escape", false)
			if got := value(b, "query", chromedp.Value(chromedp.CSS("#q-expr"))); got != "rate(demo_requests_per_second)" {
				t.Errorf("the editor closed the bracket into %q", got)
			}
			b.waitFor("lint error", `document.querySelector('#q-editor .cm-lintRange-error') !== null`)
			b.do("hover the error", chromedp.Click(chromedp.CSS("#q-editor .cm-lintRange-error")))
			if !b.eval(`document.querySelectorAll('#q-editor .cm-line span[class]').length > 1`) {
				t.Error("no syntax highlighting spans in the editor")
			}
			b.screenshot("explore-lint")
		}},
		{"range query: compact legend, 24-hour ticks, time zone shown", func(t *testing.T, b *browser) {
			b.setZone("utc")
			b.do("range mode", chromedp.Click(chromedp.CSS("#q-mode-range")))
			b.typeQuery(rateExpr)
			if got := value(b, "query", chromedp.Value(chromedp.CSS("#q-expr"))); got != rateExpr {
				t.Fatalf("typed %q, editor holds %q", rateExpr, got)
			}
			b.press("Enter", true)
			b.do("graph drawn",
				chromedp.WaitVisible(chromedp.CSS("#graph canvas")),
				chromedp.WaitVisible(chromedp.CSS("#graph-legend li")),
			)
			legend := b.strings(`[...document.querySelectorAll('#graph-legend .legend-name')].map(e => e.textContent)`)
			if strings.Join(legend, "|") != `{instance="api-1"}|{instance="api-2"}` {
				t.Errorf("legend %q, want only the label that differs between the series", legend)
			}
			if b.eval(`document.querySelector('.u-legend') !== null || document.querySelector('main').textContent.includes('—')`) {
				t.Error("uPlot's default legend or a — placeholder is on the page")
			}
			ticks := b.strings(`document.querySelector('#graph').uplot.axes[0]._values`)
			if len(ticks) < 3 {
				t.Fatalf("time axis ticks %q", ticks)
			}
			seen := map[string]bool{}
			for _, tk := range ticks {
				if !tick24.MatchString(tk) {
					t.Errorf("time tick %q is not a 24-hour HH:MM", tk)
				}
				if seen[tk] {
					t.Errorf("time tick %q twice in %q", tk, ticks)
				}
				seen[tk] = true
			}
			if got := b.text("#graph-cursor"); !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}( – \d{4}-\d{2}-\d{2})? · UTC$`).MatchString(got) {
				t.Errorf("graph date and zone note %q", got)
			}
			// Hovering shows the time under the cursor and each series' value.
			b.do("scroll to the graph", chromedp.ScrollIntoView(chromedp.CSS("#graph")))
			box := value(b, "canvas box", chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector('#graph .u-over').getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()`))
			b.do("hover", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box[0]+box[2]*0.6, box[1]+box[3]/2))
			b.waitFor("cursor time", `/\d{2}:\d{2}:\d{2}/.test(document.querySelector('#graph-cursor').textContent)`)
			if got := b.text("#graph-cursor"); !cursorTime.MatchString(got) {
				t.Errorf("cursor time %q", got)
			}
			for _, v := range b.strings(`[...document.querySelectorAll('#graph-legend .legend-value')].map(e => e.textContent)`) {
				if !shortNumber(v) {
					t.Errorf("legend value %q is not a short number", v)
				}
			}
			b.screenshot("explore-range-utc")

			// The table names the rate() series by the expression and
			// shows short values, the exact one in the title.
			names := b.strings(`[...document.querySelectorAll('#result-table tbody tr td:first-child')].map(e => e.textContent)`)
			if len(names) != 2 || names[0] != rateExpr || names[1] != rateExpr {
				t.Errorf("name column %q, want the expression for series without a name", names)
			}
			header := b.strings(`[...document.querySelectorAll('#result-table thead th')].map(e => e.textContent)`)
			if len(header) < 3 || header[1] != "last timestamp (UTC)" {
				t.Errorf("table header %q", header)
			}
			cells := value(b, "values", chromedp.Evaluate[[][]string](`[...document.querySelectorAll('#result-table tbody tr')].map(r => [r.children[1].textContent, r.children[2].textContent, r.children[2].title])`))
			for _, c := range cells {
				if !shownTime.MatchString(c[0]) {
					t.Errorf("timestamp %q", c[0])
				}
				if !shortNumber(c[1]) {
					t.Errorf("last value %q has more than 6 significant digits (exact %q)", c[1], c[2])
				}
				exact, err1 := strconv.ParseFloat(c[2], 64)
				shown, err2 := strconv.ParseFloat(c[1], 64)
				if c[2] != "" && (err1 != nil || err2 != nil || shown != exact && (shown-exact)/exact > 1e-5) {
					t.Errorf("shown value %q does not round the exact %q", c[1], c[2])
				}
			}

			// The browser's zone: Asia/Kolkata, 5:30 ahead.
			utcCell := cells[0][0]
			b.setZone("local")
			// Chromium may name the zone by its older alias Asia/Calcutta.
			if got := b.text("#graph-cursor"); !regexp.MustCompile(`· Asia/(Kolkata|Calcutta) \(UTC\+05:30\)$`).MatchString(got) {
				t.Errorf("graph zone note %q", got)
			}
			header = b.strings(`[...document.querySelectorAll('#result-table thead th')].map(e => e.textContent)`)
			if len(header) < 2 || header[1] != "last timestamp (UTC+05:30)" {
				t.Errorf("table header in local time %q", header)
			}
			localCell := b.text("#result-table tbody tr td:nth-child(2)")
			u, err1 := time.Parse("2006-01-02 15:04:05", utcCell[:19])
			l, err2 := time.Parse("2006-01-02 15:04:05", localCell[:19])
			if err1 != nil || err2 != nil || l.Sub(u) != 5*time.Hour+30*time.Minute {
				t.Errorf("UTC %q and local %q are not 5:30 apart", utcCell, localCell)
			}
			localTicks := b.strings(`document.querySelector('#graph').uplot.axes[0]._values`)
			if strings.Join(localTicks, ",") == strings.Join(ticks, ",") {
				t.Errorf("time ticks did not move with the zone: %q", ticks)
			}
			b.screenshot("explore-range-local")
		}},
		{"y axis ticks use SI prefixes", func(t *testing.T, b *browser) {
			b.typeQuery("demo_requests_per_second * 1000000")
			b.do("run", chromedp.Click(chromedp.CSS("#q-run")))
			b.waitFor("graph of the scaled query", `document.querySelector('#q-summary').textContent.startsWith('matrix') && document.querySelector('#graph').uplot && document.querySelector('#graph').uplot.series[1].label.includes('instance')`)
			ticks := b.strings(`document.querySelector('#graph').uplot.axes[1]._values`)
			si := regexp.MustCompile(`^\d+(\.\d+)?M$`)
			for _, tk := range ticks {
				if tk != "0" && !si.MatchString(tk) {
					t.Errorf("y tick %q, want a value in M (all ticks %q)", tk, ticks)
				}
			}
			b.screenshot("explore-si-ticks")
		}},
		{"query history survives a reload and runs again", func(t *testing.T, b *browser) {
			b.open("/explore")
			b.do("open history", chromedp.Click(chromedp.CSS("#q-history summary")), chromedp.WaitVisible(chromedp.CSS("#q-history-list li")))
			items := b.strings(`[...document.querySelectorAll('#q-history-list .history-item code')].map(e => e.textContent)`)
			if len(items) < 2 || items[0] != "demo_requests_per_second * 1000000" || items[1] != rateExpr {
				t.Fatalf("history after reload %q, want the last two queries, newest first", items)
			}
			b.screenshot("explore-history")
			b.do("run from history", chromedp.Click(chromedp.CSS(`#q-history-list li:nth-child(2) button`)))
			b.waitFor("history query ran", fmt.Sprintf(`document.querySelector('#q-expr').value === %q && document.querySelector('#q-summary').textContent.startsWith('matrix')`, rateExpr))
			if !b.eval(`document.querySelector('#q-mode-range').checked`) {
				t.Error("a range query from the history ran as instant")
			}
		}},
		{"a shared link fills the form and runs", func(t *testing.T, b *browser) {
			// On the 30s step's grid: the page aligns a range to its step.
			end := time.Now().Add(-10 * time.Minute).UTC().Truncate(30 * time.Second)
			q := url.Values{"query": {"demo_requests_per_second"}, "ds": {"1"}, "mode": {"range"}, "range": {"900"}, "end": {end.Format(time.RFC3339)}, "step": {"30s"}}
			b.open("/explore?" + q.Encode())
			b.waitFor("shared query ran", `document.querySelector('#q-summary').textContent.startsWith('matrix') && document.querySelectorAll('#graph-legend li').length === 2`)
			if got := value(b, "query", chromedp.Value(chromedp.CSS("#q-expr"))); got != "demo_requests_per_second" {
				t.Errorf("editor holds %q", got)
			}
			if got := b.text("#q-editor .cm-content"); got != "demo_requests_per_second" {
				t.Errorf("editor shows %q", got)
			}
			if got := value(b, "range", chromedp.Value(chromedp.CSS("#q-range"))); got != "900" {
				t.Errorf("range %q, want 900", got)
			}
			// Local zone (Asia/Kolkata) is chosen: the end is shown there.
			if got, want := value(b, "end", chromedp.Value(chromedp.CSS("#q-end"))), end.In(time.FixedZone("IST", 5*3600+1800)).Format("2006-01-02 15:04:05"); got != want {
				t.Errorf("end field %q, want %q", got, want)
			}
			href := value(b, "csv", chromedp.AttributeValue(chromedp.CSS("#q-csv"), "href")).Value
			if !strings.Contains(href, "end="+strconv.FormatInt(end.Unix(), 10)) || !strings.Contains(href, "step=30") {
				t.Errorf("CSV link %q lacks the shared end and step", href)
			}
			b.screenshot("explore-shared-link")

			b.open("/explore?query=" + url.QueryEscape("sum(rate(x[5m]"))
			b.waitFor("error shown", `!document.querySelector('#q-error').hidden`)
			if msg := b.text("#q-error"); !strings.Contains(msg, "bad_data") || !strings.Contains(msg, "parse error") {
				t.Errorf("error box says %q", msg)
			}
			if !b.eval(`document.querySelector('#table-card').hidden`) {
				t.Error("the Table card shows after a failed query")
			}
		}},
		{"copy as curl and as Python give the reference's scripts, which work", func(t *testing.T, b *browser) {
			// Quotes of both kinds: the URL and the Python literal must
			// carry them.
			const expr = `demo_requests_per_second{job='demo'}`
			q := url.Values{"query": {expr}, "ds": {"1"}, "mode": {"range"}, "range": {"900"}, "step": {"60s"}}
			b.open("/explore?" + q.Encode())
			b.waitFor("query ran", `document.querySelector('#q-summary').textContent.startsWith('matrix')`)
			b.do("copy as curl", chromedp.Click(chromedp.CSS("#q-copy-curl")), chromedp.WaitVisible(chromedp.CSS("#q-snippet-text")))
			curl := value(b, "curl", chromedp.Value(chromedp.CSS("#q-snippet-text")))
			want := `curl "http://KEY:TOKEN@` + s.Addr + `/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query_range?query=demo_requests_per_second%7Bjob%3D%27demo%27%7D&start=`
			if !strings.HasPrefix(curl, want) || !strings.Contains(curl, "&step=60\"") {
				t.Errorf("curl snippet\n%s\nwant it to start %s", curl, want)
			}
			if strings.Contains(curl, "pgt_") || strings.Contains(curl, s.Token) {
				t.Error("the curl snippet holds a real token")
			}
			if note := b.text("#q-snippet-note"); note == "" {
				t.Error("no word on whether the copy worked")
			}
			fromCurl := runShell(t, strings.ReplaceAll(curl, "KEY:TOKEN", s.Key+":"+s.Token))
			var res struct {
				Status string
				Data   struct {
					ResultType string
					Result     []json.RawMessage
				}
			}
			if err := json.Unmarshal([]byte(fromCurl), &res); err != nil || res.Status != "success" || res.Data.ResultType != "matrix" || len(res.Data.Result) != 2 {
				t.Errorf("the curl snippet answered %.300s (%v)", fromCurl, err)
			}

			b.do("copy as Python", chromedp.Click(chromedp.CSS("#q-copy-python")))
			b.waitFor("python snippet", `document.querySelector('#q-snippet-text').value.startsWith('import csv')`)
			py := value(b, "python", chromedp.Value(chromedp.CSS("#q-snippet-text")))
			for _, want := range []string{"import requests", `URL = 'http://KEY:TOKEN@` + s.Addr + `/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query_range'`, `else 'demo_requests_per_second{job=\'demo\'}'`, `'step': '60'`, "writer.writerow(['name', 'timestamp', 'value'] + labelnames)"} {
				if !strings.Contains(py, want) {
					t.Errorf("Python snippet lacks %q:\n%s", want, py)
				}
			}
			b.screenshot("explore-copy-python")
			fromPython := runPython(t, strings.ReplaceAll(py, "KEY:TOKEN", s.Key+":"+s.Token))
			if fromPython != "" {
				lines := strings.Split(strings.TrimSpace(fromPython), "\n")
				if strings.TrimSpace(lines[0]) != "name,timestamp,value,instance,job" || len(lines) < 10 || !strings.HasPrefix(lines[1], "demo_requests_per_second,") {
					t.Errorf("the Python snippet printed %.400s", fromPython)
				}
			}

			// Instant: exactly the reference's curl shape.
			b.do("instant up", chromedp.Click(chromedp.CSS("#q-mode-instant")))
			b.typeQuery("up")
			b.do("copy as curl", chromedp.Click(chromedp.CSS("#q-copy-curl")))
			b.waitFor("instant curl", `document.querySelector('#q-snippet-text').value.includes('/api/v1/query?')`)
			if got, want := value(b, "curl", chromedp.Value(chromedp.CSS("#q-snippet-text"))), `curl "http://KEY:TOKEN@`+s.Addr+`/api-server/v1/grafana/api/datasources/proxy/1/api/v1/query?query=up"`; got != want {
				t.Errorf("instant curl\n got %s\nwant %s", got, want)
			}

			// Copy link gives the address of this view; opening it runs it.
			b.do("copy link", chromedp.Click(chromedp.CSS("#q-copy-link")))
			b.waitFor("link", `document.querySelector('#q-snippet-text').value.includes('/explore?')`)
			link := value(b, "link", chromedp.Value(chromedp.CSS("#q-snippet-text")))
			if !strings.HasPrefix(link, s.URL+"/explore?query=up&ds=1&mode=instant") {
				t.Errorf("link %q", link)
			}
			b.open(strings.TrimPrefix(link, s.URL))
			b.waitFor("linked query ran", `document.querySelector('#q-summary').textContent.startsWith('vector')`)
		}},
		{"time inputs are explicit and say their zone", func(t *testing.T, b *browser) {
			b.open("/explore")
			b.setZone("utc")
			if tag := b.text("#q-instant-fields .zone-tag"); tag != "UTC" {
				t.Errorf("zone tag %q", tag)
			}
			if typ := value(b, "type", chromedp.AttributeValue(chromedp.CSS("#q-time"), "type")); typ.Value != "text" {
				t.Errorf("time input type %q: a browser date widget shows mm/dd/yyyy without a zone", typ.Value)
			}
			b.do("type a time", chromedp.SendKeys(chromedp.CSS("#q-time"), "2026-01-02 03:04:05"))
			href := value(b, "csv", chromedp.AttributeValue(chromedp.CSS("#q-csv"), "href")).Value
			if !strings.Contains(href, "time=1767323045") {
				t.Errorf("CSV link %q, want time=1767323045 (2026-01-02 03:04:05 UTC)", href)
			}
			b.setZone("local")
			if got := value(b, "time", chromedp.Value(chromedp.CSS("#q-time"))); got != "2026-01-02 08:34:05" {
				t.Errorf("after switching to Asia/Kolkata the time field says %q, want the same instant 2026-01-02 08:34:05", got)
			}
			if tag := b.text("#q-instant-fields .zone-tag"); tag != "UTC+05:30" {
				t.Errorf("zone tag %q", tag)
			}
			if hint := b.text("#q-time-hint"); !strings.Contains(hint, "(UTC+05:30)") {
				t.Errorf("time hint %q", hint)
			}
			b.screenshot("explore-time-input")
			b.do("a US date", chromedp.SetValue(chromedp.CSS("#q-time"), "01/02/2026"), chromedp.Click(chromedp.CSS("#q-run")), chromedp.WaitVisible(chromedp.CSS("#q-error")))
			if msg := b.text("#q-error"); !strings.Contains(msg, "YYYY-MM-DD HH:MM:SS") {
				t.Errorf("error for 01/02/2026: %q", msg)
			}
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
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runShell runs a command line as a user pasting it would, with sh.
func runShell(t *testing.T, line string) string {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl to run the snippet with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", line+" --silent --show-error").Output()
	if err != nil {
		t.Fatalf("run %s: %v", line, err)
	}
	return string(out)
}

// runPython runs the script with Debian's python3 and its requests
// package (pyenv's python3 on PATH may lack it). Without them it says so
// and returns "", and under CI=true it fails.
func runPython(t *testing.T, script string) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import requests").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s cannot import requests: install python3-requests", py)
		}
		t.Logf("not running the Python snippet: %s cannot import requests (apt-get install python3-requests)", py)
		return ""
	}
	file := filepath.Join(t.TempDir(), "query.py")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, file).CombinedOutput()
	if err != nil {
		t.Fatalf("run the Python snippet: %v\n%s", err, out)
	}
	return string(out)
}
