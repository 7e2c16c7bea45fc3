package graph

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// assertionType is client_assertion_type of a JWT client assertion
// (RFC 7523, section 2.2).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid: Microsoft
// asks for a short one, "5-10 minutes after nbf at most".
const assertionLifetime = 5 * time.Minute

// certCredential is a certificate credential
// (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials):
// the private key that signs client assertions, and the SHA-256
// thumbprint of the certificate registered on the application, which
// names the key to Entra ID.
type certCredential struct {
	key        *rsa.PrivateKey
	thumbprint string // x5t#S256: base64url SHA-256 of the certificate's DER
}

// parseCertCredential reads a PEM holding the certificate (the first
// CERTIFICATE block) and its RSA private key (PRIVATE KEY in PKCS #8,
// or RSA PRIVATE KEY in PKCS #1), in either order, as
// `openssl req -x509 -newkey rsa:2048 -nodes` and a concatenation of
// its two files give. Its errors never quote the PEM.
func parseCertCredential(data []byte) (*certCredential, error) {
	var cert *x509.Certificate
	var key *rsa.PrivateKey
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			if cert != nil {
				continue // the chain after the leaf
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the certificate does not parse: %w", err)
			}
			cert = c
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("the PKCS #8 private key does not parse")
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("the private key is %T: Entra ID takes RSA certificate credentials only", k)
			}
			key = rk
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, errors.New("the PKCS #1 private key does not parse")
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted: give it unencrypted, kept as a secret (openssl pkcs8 -nocrypt)")
		}
	}
	switch {
	case cert == nil && key == nil:
		return nil, errors.New("no PEM CERTIFICATE and PRIVATE KEY blocks")
	case cert == nil:
		return nil, errors.New("no PEM CERTIFICATE block: give the certificate registered on the application with the key")
	case key == nil:
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("the private key is not the certificate's")
	}
	sum := sha256.Sum256(cert.Raw)
	return &certCredential{key: key, thumbprint: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// assertion is a new client assertion for clientID at the token
// endpoint tokenURL: a JWT (RFC 7523) signed PS256, with the
// certificate's x5t#S256, aud the token URL, iss and sub the client id,
// a random jti, and valid from now for assertionLifetime.
func (cc *certCredential) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("make a jti: %w", err)
	}
	header, _ := json.Marshal(map[string]string{"alg": "PS256", "typ": "JWT", "x5t#S256": cc.thumbprint})
	claims, _ := json.Marshal(map[string]any{
		"aud": tokenURL, "iss": clientID, "sub": clientID, "jti": hex.EncodeToString(jti[:]),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(assertionLifetime).Unix(),
	})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPSS(rand.Reader, cc.key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// assertionSource fetches tokens with a fresh client assertion each
// time: an assertion is short-lived, and a token endpoint may refuse
// one it has seen (jti). oauth2.ReuseTokenSource caches the tokens.
type assertionSource struct {
	ctx  context.Context // carries the token client
	cfg  clientcredentials.Config
	cred *certCredential
}

func (a *assertionSource) Token() (*oauth2.Token, error) {
	jwt, err := a.cred.assertion(a.cfg.ClientID, a.cfg.TokenURL, time.Now())
	if err != nil {
		return nil, err
	}
	cfg := a.cfg
	cfg.EndpointParams = url.Values{"client_assertion_type": {assertionType}, "client_assertion": {jwt}}
	return cfg.Token(a.ctx)
}
