package oidc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promgate/promgate/internal/config"
)

// TestDiscoveryAnswerBounded: a discovery document past maxProviderAnswer
// is refused rather than read whole into memory (go-oidc reads it with
// io.ReadAll); one within the bound is used.
func TestDiscoveryAnswerBounded(t *testing.T) {
	cases := []struct {
		name    string
		padding int64 // spaces before the closing brace: still valid JSON
		wantErr bool
	}{
		{"small document", 1 << 10, false},
		{"just under the bound", maxProviderAnswer - 4096, false},
		{"64 MiB document", 64 << 20, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			issuer := "http://" + ln.Addr().String()
			pad := []byte(strings.Repeat(" ", 64<<10))
			srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"authorization_endpoint":%q,"token_endpoint":%q`,
					issuer, issuer+"/jwks", issuer+"/auth", issuer+"/token")
				for left := tc.padding; left > 0; left -= int64(len(pad)) {
					if _, err := w.Write(pad[:min(left, int64(len(pad)))]); err != nil {
						return // promgate stopped reading
					}
				}
				fmt.Fprint(w, "}")
			})}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })
			set, err := New(Options{Config: config.OIDC{Providers: []config.OIDCProvider{{
				Name: "Big", IssuerURL: issuer, ClientID: "promgate", Audience: "promgate",
				ReadScope: "read", WriteScope: "write", DefaultRole: "VIEWER",
			}}}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = set.providers[0].discover(context.Background())
			switch {
			case tc.wantErr && !errors.Is(err, errAnswerTooLarge) && !strings.Contains(fmt.Sprint(err), errAnswerTooLarge.Error()):
				t.Fatalf("discovery of an oversized document: %v, want %v", err, errAnswerTooLarge)
			case !tc.wantErr && err != nil:
				t.Fatalf("discovery: %v", err)
			}
		})
	}
}
