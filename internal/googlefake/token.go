package googlefake

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ClientEmail is the service account of ServiceAccountKey.
const ClientEmail = "idsync@fake-project.iam.gserviceaccount.com"

// ServiceAccountKey is a service account JSON key, as the Cloud console
// downloads it, whose private key the token endpoint trusts and whose
// token_uri is the fake's.
func (f *Fake) ServiceAccountKey() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(f.key)
	if err != nil {
		panic(err)
	}
	b, _ := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "fake-project", "private_key_id": "fakekey1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": ClientEmail, "client_id": "100000000000000000001",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": f.TokenURL(),
	}, "", "  ")
	return b
}

// Token issues an access token for subject directly, for tests that talk
// to the fake without the JWT flow; it has the Reports scope (the
// Directory API checks none).
func (f *Fake) Token(subject string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issue(subject, []string{ReportsScope})
}

func (f *Fake) issue(subject string, scopes []string) string {
	f.seq++
	tok := fmt.Sprintf("ya29.fake-%d", f.seq)
	f.tokens[tok] = subject
	f.scoped[tok] = scopes
	f.stats.Tokens++
	f.stats.Subjects = append(f.stats.Subjects, subject)
	return tok
}

// Client is an HTTP client that sends a token of Token("admin@<domain>").
func (f *Fake) Client(ctx context.Context) *http.Client {
	return oauth2.NewClient(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: f.Token("admin@" + f.Domain)}))
}

// token is the OAuth token endpoint: a JWT bearer grant (RFC 7523) whose
// assertion is signed (RS256) by the key of ServiceAccountKey, issued by
// its client_email, for the token URL, unexpired, gets an access token.
func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	refuse := func(code int, kind, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": kind, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		refuse(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	claims, err := f.verify(r.PostForm.Get("assertion"))
	if err != nil {
		refuse(http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	if claims.Scope == "" {
		refuse(http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		return
	}
	if claims.Sub == "" {
		refuse(http.StatusUnauthorized, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		return
	}
	scopes := strings.Fields(claims.Scope)
	f.mu.Lock()
	refused := slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(f.knobs.RefuseScopes, s) })
	f.mu.Unlock()
	if refused {
		refuse(http.StatusUnauthorized, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		return
	}
	f.mu.Lock()
	tok := f.issue(claims.Sub, scopes)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
}

func (f *Fake) verify(assertion string) (jwtClaims, error) {
	var c jwtClaims
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return c, refusal("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
	}
	var hdr struct{ Alg string }
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(pb, &c) != nil {
		return c, refusal("Invalid JWT: malformed")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if hdr.Alg != "RS256" || rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return c, refusal("Invalid JWT Signature.")
	}
	now := time.Now().Unix()
	switch {
	case c.Iss != ClientEmail:
		return c, refusal("Invalid JWT: unknown issuer")
	case c.Aud != f.TokenURL():
		return c, refusal("Invalid JWT: audience is not the token URL")
	case c.Exp < now-60 || c.Iat > now+300 || c.Exp-c.Iat > 3600:
		return c, refusal("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	return c, nil
}

// refusal is a token request refused with Google's own error_description,
// which is capitalised and punctuated as Google writes it.
type refusal string

func (r refusal) Error() string { return string(r) }
