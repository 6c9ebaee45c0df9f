package promtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority and the certificates a TLS test
// needs, made with crypto/x509 and written as PEM files into Dir.
type PKI struct {
	Dir string
	// CAFile is the CA certificate; it signs the server and client certificates.
	CAFile string
	// CertFile and KeyFile are a server certificate for 127.0.0.1, ::1 and localhost.
	CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are a client certificate from the same CA.
	ClientCertFile, ClientKeyFile string
	// Pool holds the CA certificate, for clients that verify the server.
	Pool *x509.CertPool
	// ClientCert is ClientCertFile/ClientKeyFile loaded; StrangerCert is a
	// client certificate from another CA, which a verifying server refuses.
	ClientCert, StrangerCert tls.Certificate
	// StrangerCAFile is that other CA: a client trusting only it refuses
	// the server.
	StrangerCAFile string
}

// NewPKI makes a CA and its certificates in a new temporary directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir(), Pool: x509.NewCertPool()}
	ca, caKey := newCA(t, "promgate test CA")
	p.Pool.AddCert(ca)
	p.CAFile = writePEM(t, p.Dir, "ca.pem", "CERTIFICATE", ca.Raw)

	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	p.CertFile, p.KeyFile = issue(t, p.Dir, "server", server, ca, caKey)

	client := &x509.Certificate{Subject: pkix.Name{CommonName: "promgate test client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	p.ClientCertFile, p.ClientKeyFile = issue(t, p.Dir, "client", client, ca, caKey)
	var err error
	if p.ClientCert, err = tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile); err != nil {
		t.Fatalf("load client certificate: %v", err)
	}

	other, otherKey := newCA(t, "some other CA")
	strangerDir := t.TempDir()
	p.StrangerCAFile = writePEM(t, strangerDir, "other-ca.pem", "CERTIFICATE", other.Raw)
	cert, key := issue(t, strangerDir, "stranger", &x509.Certificate{Subject: pkix.Name{CommonName: "stranger"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, other, otherKey)
	if p.StrangerCert, err = tls.LoadX509KeyPair(cert, key); err != nil {
		t.Fatalf("load stranger certificate: %v", err)
	}
	return p
}

// ClientTLS is a client configuration that trusts the CA and presents the
// given certificates (none, ClientCert or StrangerCert).
func (p *PKI) ClientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.Pool, Certificates: certs, MinVersion: tls.VersionTLS12}
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse CA: %v", err)
	}
	return ca, key
}

// issue signs tmpl with the CA and writes <name>.pem and <name>-key.pem.
func issue(t testing.TB, dir, name string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("create %s certificate: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal %s key: %v", name, err)
	}
	return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "PRIVATE KEY", keyDER)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("serial number: %v", err)
	}
	return n
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
