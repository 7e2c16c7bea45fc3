package graph

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/internal/graphfake"
)

// newCert makes a self-signed certificate for key, as
// `openssl req -x509` would for an application's certificate credential.
func newCert(t *testing.T, key any, pub any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pemFile writes blocks to a file and returns its secret reference.
func pemFile(t *testing.T, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	path := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return "file:" + path
}

func certBlock(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

func pkcs8Block(t *testing.T, k any) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

// TestCertificateCredential: a connection with clientCertificate signs
// a client assertion that the fake's token endpoint verifies against the
// registered certificate, a new one for each token; a certificate that
// is not registered, a key that is not the certificate's and PEMs that
// are not a credential are clear errors that quote no key material.
func TestCertificateCredential(t *testing.T) {
	key, other := rsaKey(t), rsaKey(t)
	cert := newCert(t, key, &key.PublicKey)
	unregistered := newCert(t, other, &other.PublicKey)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := graphfake.Start(graphfake.Options{Tenant: testTenant, ClientID: testClient, Certificate: cert})
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name     string
		ref      string
		openErr  string // Open fails saying this
		tokenErr string // the first request fails, ErrUnauthorized, saying this
	}{
		{name: "PKCS #8 key and certificate", ref: pemFile(t, pkcs8Block(t, key), certBlock(cert))},
		{name: "PKCS #1 key after the certificate", ref: pemFile(t, certBlock(cert), &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})},
		{name: "a certificate the application does not have", ref: pemFile(t, pkcs8Block(t, other), certBlock(unregistered)), tokenErr: "AADSTS700027"},
		{name: "a key that is not the certificate's", ref: pemFile(t, pkcs8Block(t, other), certBlock(cert)), openErr: "not the certificate's"},
		{name: "no certificate", ref: pemFile(t, pkcs8Block(t, key)), openErr: "no PEM CERTIFICATE"},
		{name: "an EC key", ref: pemFile(t, pkcs8Block(t, ec), certBlock(newCert(t, ec, &ec.PublicKey))), openErr: "RSA"},
		{name: "not PEM", ref: pemFile(t), openErr: "no PEM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := settings(t, srv, map[string]any{"clientSecret": nil, "clientCertificate": tt.ref})
			raw, _ := os.ReadFile(strings.TrimPrefix(tt.ref, "file:"))
			noKey := func(err error) {
				t.Helper()
				if err != nil && len(raw) > 0 && (strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), string(raw[40:80]))) {
					t.Errorf("the error quotes the PEM: %v", err)
				}
			}
			raw2, _ := json.Marshal(s)
			opened, err := connectors.Registry{"graph": Type}.Open(t.Context(), "cert", "graph", raw2, slog.New(slog.DiscardHandler))
			if tt.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openErr) {
					t.Fatalf("Open: %v, want it to say %q", err, tt.openErr)
				}
				noKey(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = opened.Close() })
			tgt, _ := connectors.AsTarget(opened)
			_, err = tgt.LookupUsers(t.Context(), connectors.MatchEmail, "a@example.org")
			if tt.tokenErr != "" {
				if !errors.Is(err, connectors.ErrUnauthorized) || !strings.Contains(err.Error(), tt.tokenErr) {
					t.Fatalf("with %s: %v, want ErrUnauthorized saying %s", tt.name, err, tt.tokenErr)
				}
				noKey(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			before := srv.Stats().Tokens
			srv.ExpireTokens() // the next request fetches a token again, with a new assertion (the fake refuses a used jti)
			if _, err := tgt.LookupUsers(t.Context(), connectors.MatchEmail, "a@example.org"); err != nil {
				t.Fatalf("after the token expired: %v", err)
			}
			if n := srv.Stats().Tokens - before; n != 1 {
				t.Errorf("%d tokens fetched after the expiry, want 1", n)
			}
		})
	}
}
