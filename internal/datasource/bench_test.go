package datasource_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/promgate/promgate/internal/app"
	"github.com/promgate/promgate/internal/promtest"
)

// BenchmarkRemote is the proxy path's own cost: a promgate front and a
// fake backend answering a fixed result, 16 concurrent clients (the
// clients and the fake backend are in the same process).
func BenchmarkRemote(b *testing.B) {
	for _, bc := range []struct {
		name, answer string
	}{
		{"up", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"localhost:9090","job":"prometheus"},"value":[1700000000,"1"]}]}}`},
		{"1MB", bigJSON(1 << 20)},
	} {
		b.Run(bc.name, func(b *testing.B) { benchRemote(b, bc.answer) })
	}
}

func benchRemote(b *testing.B, answer string) {
	rec := promtest.NewRecorder(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})
	// One credential sends all 16 clients' load: give it room for them.
	front := promtest.Start(b, func(c *app.Config) { c.PerCaller.MaxConcurrency = 16 })
	ds := promtest.AddDataSource(b, front, map[string]any{"name": "fake", "url": rec.URL, "env": "bench"})
	target := fmt.Sprintf("%s%s%d/api/v1/query", front.URL, proxyPath, ds.ID)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader("query=up&time=1700000000"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(front.Key, front.Token)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("HTTP %d", resp.StatusCode)
				}
			}
		}()
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
}
