package graphfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestClientAssertion: the token endpoint takes a client assertion
// signed by the registered certificate's key, PS256 with x5t#S256 or
// RS256 with x5t, and refuses what Entra ID refuses.
func TestClientAssertion(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	srv := Start(Options{Tenant: "contoso", ClientID: "app", Certificate: cert})
	t.Cleanup(srv.Close)
	s256, s1 := sha256.Sum256(cert.Raw), sha1.Sum(cert.Raw)
	enc := base64.RawURLEncoding
	now := time.Now().Unix()
	jti := 0
	sign := func(alg string, header map[string]string, claims map[string]any) string {
		jti++
		header["alg"], header["typ"] = alg, "JWT"
		full := map[string]any{"aud": srv.TokenURL(), "iss": "app", "sub": "app", "jti": jti, "nbf": now, "exp": now + 300}
		for k, v := range claims {
			full[k] = v
		}
		full["jti"] = strings.Repeat("j", jti)
		h, _ := json.Marshal(header)
		c, _ := json.Marshal(full)
		in := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
		d := sha256.Sum256([]byte(in))
		var sig []byte
		if alg == "PS256" {
			sig, _ = rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], nil)
		} else {
			sig, _ = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
		}
		return in + "." + enc.EncodeToString(sig)
	}
	for _, tt := range []struct {
		name      string
		assertion string
		want      int
		wantDesc  string
	}{
		{"PS256, x5t#S256", sign("PS256", map[string]string{"x5t#S256": enc.EncodeToString(s256[:])}, nil), 200, ""},
		{"RS256, x5t", sign("RS256", map[string]string{"x5t": enc.EncodeToString(s1[:])}, nil), 200, ""},
		{"unknown thumbprint", sign("PS256", map[string]string{"x5t#S256": "AAAA"}, nil), 401, "AADSTS700027"},
		{"signature altered", tamper(sign("PS256", map[string]string{"x5t#S256": enc.EncodeToString(s256[:])}, nil)), 401, "AADSTS700027"},
		{"expired", sign("PS256", map[string]string{"x5t#S256": enc.EncodeToString(s256[:])}, map[string]any{"nbf": now - 900, "exp": now - 600}), 401, "AADSTS700024"},
		{"another audience", sign("PS256", map[string]string{"x5t#S256": enc.EncodeToString(s256[:])}, map[string]any{"aud": "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"}), 401, "AADSTS700212"},
		{"another issuer", sign("PS256", map[string]string{"x5t#S256": enc.EncodeToString(s256[:])}, map[string]any{"iss": "other"}), 401, "AADSTS700023"},
		{"not a JWT", "garbage", 400, "AADSTS50027"},
	} {
		resp, err := http.PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {tt.assertion},
			"scope": {"https://graph.microsoft.com/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		_ = resp.Body.Close()
		desc, _ := out["error_description"].(string)
		if resp.StatusCode != tt.want || !strings.HasPrefix(desc, tt.wantDesc) {
			t.Errorf("%s: %d %q, want %d %s", tt.name, resp.StatusCode, desc, tt.want, tt.wantDesc)
		}
	}
	// No credential at all is refused too, though the fake has no secret.
	resp, err := http.PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credential: %d, want 401", resp.StatusCode)
	}
}

// tamper changes the first character of a JWT's signature.
func tamper(jwt string) string {
	i := strings.LastIndex(jwt, ".") + 1
	c := byte('A')
	if jwt[i] == 'A' {
		c = 'B'
	}
	return jwt[:i] + string(c) + jwt[i+1:]
}
