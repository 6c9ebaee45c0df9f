package oidc

import (
	"fmt"
	"io"
	"net/http"
)

// maxProviderAnswer bounds every answer promgate reads from a provider
// (discovery document, keys, token endpoint): go-oidc reads the discovery
// document whole, so a provider (or whatever answers at its URL) sending
// without end would otherwise grow promgate's memory without end.
const maxProviderAnswer = 1 << 20

// errAnswerTooLarge is a provider answer past maxProviderAnswer.
var errAnswerTooLarge = fmt.Errorf("OpenID provider answer larger than %d bytes", maxProviderAnswer)

// boundedClient returns a copy of c whose response bodies fail with
// errAnswerTooLarge past limit bytes.
func boundedClient(c *http.Client, limit int64) *http.Client {
	bc := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	bc.Transport = boundedTransport{base: base, limit: limit}
	return &bc
}

type boundedTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{rc: resp.Body, left: t.limit}
	return resp, nil
}

// boundedBody reads at most left bytes, then fails rather than truncating
// silently (a cut JSON document must not parse as a shorter one).
type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, errAnswerTooLarge
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
