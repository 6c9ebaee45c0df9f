package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/promgate/promgate/internal/export"
)

// credentialHint names every way to give the CLI a credential.
const credentialHint = "set PROMGATE_KEY and PROMGATE_TOKEN, or pass --key and --token " +
	"(or put KEY:TOKEN@ in --url / PROMGATE_URL); create one with `promgate admin credential create` " +
	"or on the API Credentials page"

// errNoCredential is returned before any request when a promgate data source
// URL is given without a credential: promgate answers nothing without one.
func errNoCredential() error {
	return usageError{"no credential given: " + credentialHint}
}

// explainQueryError adds to err what a user can do about it: a base URL
// without the data source path, a missing or refused credential, a data
// source the credential may not use. It asks the server which data sources
// the credential can use, so the message can list the URLs to use instead.
func explainQueryError(ctx context.Context, c *export.Client, err error) error {
	if hint := connectionHint(c, err); hint != "" {
		return &explainedError{err: err, hint: hint}
	}
	var ce *export.ColumnsError
	if errors.As(err, &ce) {
		hint := "\npick the columns with --labels (e.g. --labels job,instance), or raise --max-columns"
		if ce.Fixed {
			hint = "\nask for fewer --labels, or raise --max-columns"
		}
		return &explainedError{err: err, hint: hint}
	}
	var ae *export.APIError
	if !errors.As(err, &ae) {
		return err
	}
	var b strings.Builder
	switch {
	case ae.StatusCode == http.StatusUnauthorized && !c.HasCredential():
		fmt.Fprintf(&b, "\nno credential given: %s", credentialHint)
	case ae.StatusCode == http.StatusUnauthorized:
		fmt.Fprintf(&b, "\nthe server refused the credential (wrong, revoked or expired): check PROMGATE_KEY and PROMGATE_TOKEN, or --key and --token")
	case !c.IsDataSourceURL() && (ae.HTML || ae.StatusCode == http.StatusNotFound):
		fmt.Fprintf(&b, "\nthe URL must end in %s (got %s): set --url or PROMGATE_URL to a data source's URL", export.DataSourcePathHint, c.BaseURL())
		listDataSources(ctx, c, &b)
	case ae.StatusCode == http.StatusNotFound || ae.StatusCode == http.StatusForbidden:
		listDataSources(ctx, c, &b)
	}
	if b.Len() == 0 {
		return err
	}
	return &explainedError{err: err, hint: b.String()}
}

// connectionHint says what to change when no API answer came back at all:
// nothing listening, the wrong scheme for the listener, a host that does not
// resolve, a certificate from a CA this machine does not trust.
func connectionHint(c *export.Client, err error) string {
	host := c.BaseURL()
	if u, perr := url.Parse(host); perr == nil {
		host = u.Host
	}
	const where = "--url or PROMGATE_URL"
	var (
		dnsErr  *net.DNSError
		unknown x509.UnknownAuthorityError
		ae      *export.APIError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("\nnothing answers at %s: start promgate there (`promgate serve` listens on :8030 unless --listen says otherwise), or set %s to where it runs", host, where)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("\nthe host in %s does not resolve: check it", where)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("\n%s serves plain HTTP: use http:// in %s (or serve TLS with --web.config.file; README \"TLS\")", host, where)
	case errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest && strings.Contains(ae.Message, "HTTP request to an HTTPS server"):
		return fmt.Sprintf("\n%s serves TLS: use https:// in %s", host, where)
	case errors.As(err, &unknown):
		return "\nthe server's certificate is not trusted here: name the CA that signed it (for a self-signed one, the certificate itself) with SSL_CERT_FILE=ca.crt, as in the README's \"TLS\" section"
	}
	return ""
}

// listDataSources writes the data sources the client's credential may use.
func listDataSources(ctx context.Context, c *export.Client, b *strings.Builder) {
	if !c.HasCredential() {
		fmt.Fprintf(b, "\nto list the data sources you may use, give a credential: %s", credentialHint)
		return
	}
	list, err := c.DataSources(ctx)
	if err != nil {
		fmt.Fprintf(b, "\n(could not list the data sources this credential can use: %v)", err)
		return
	}
	if len(list) == 0 {
		b.WriteString("\nthis credential may use no data source")
		return
	}
	b.WriteString("\ndata sources this credential can use:\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, ds := range list {
		where := ds.Env
		if ds.Site != "" {
			where = strings.TrimPrefix(where+"/"+ds.Site, "/")
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", ds.ID, ds.Name, where, ds.URL)
	}
	_ = tw.Flush()
	s := strings.TrimRight(b.String(), "\n")
	b.Reset()
	b.WriteString(s)
}

// explainedError is an error with advice after it; errors.Is/As see the cause.
type explainedError struct {
	err  error
	hint string
}

func (e *explainedError) Error() string { return e.err.Error() + e.hint }
func (e *explainedError) Unwrap() error { return e.err }
