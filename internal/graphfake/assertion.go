package graphfake

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// assertionType is the client_assertion_type of a JWT client assertion
// (RFC 7523).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// checkAssertion verifies a client assertion as Entra ID does for a
// certificate credential
// (https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials):
// a JWT whose header names the registered certificate by x5t#S256 (PS256,
// the current page) or x5t (RS256, the page before it), signed by its
// key, with aud the token URL, iss and sub the client id, a jti, and
// now between nbf and exp. It returns the status, error code and
// AADSTS description of a refusal, or status 0. The AADSTS numbers
// are those Entra ID sends for these faults; their texts are shortened.
func (s *Server) checkAssertion(r *http.Request, tokenURL string) (int, string, string) {
	if r.PostForm.Get("client_secret") != "" {
		return http.StatusBadRequest, "invalid_request", "AADSTS90015: Requested query string is too long or contains both a client secret and a client assertion."
	}
	if r.PostForm.Get("client_assertion_type") != assertionType {
		return http.StatusBadRequest, "invalid_request", "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."
	}
	parts := strings.Split(r.PostForm.Get("client_assertion"), ".")
	malformed := func() (int, string, string) {
		return http.StatusBadRequest, "invalid_request", "AADSTS50027: JWT token is invalid or malformed."
	}
	if len(parts) != 3 {
		return malformed()
	}
	var header struct {
		Alg, Typ string
		X5t      string `json:"x5t"`
		X5tS256  string `json:"x5t#S256"`
	}
	var claims struct {
		Aud, Iss, Sub, Jti string
		Nbf, Exp           int64
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return malformed()
	}
	cert := s.opts.Certificate
	if cert == nil {
		return http.StatusUnauthorized, "invalid_client", "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application."
	}
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw)
	known := header.X5tS256 == base64.RawURLEncoding.EncodeToString(s256[:]) ||
		header.X5tS256 == "" && header.X5t == base64.RawURLEncoding.EncodeToString(s1[:])
	if !known {
		return http.StatusUnauthorized, "invalid_client", "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application."
	}
	pub, _ := cert.PublicKey.(*rsa.PublicKey)
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	var err error
	switch {
	case pub == nil:
		err = rsa.ErrVerification
	case header.Alg == "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, nil)
	case header.Alg == "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	default:
		err = rsa.ErrVerification
	}
	if err != nil {
		return http.StatusUnauthorized, "invalid_client", "AADSTS700027: Client assertion contains an invalid signature."
	}
	now := s.now().Unix()
	switch {
	case claims.Aud != tokenURL:
		return http.StatusUnauthorized, "invalid_client", "AADSTS700212: The audience of the client assertion is not the token endpoint '" + tokenURL + "'."
	case claims.Iss != s.opts.ClientID || claims.Sub != s.opts.ClientID:
		return http.StatusUnauthorized, "invalid_client", "AADSTS700023: The issuer and subject of the client assertion must be the client id."
	case claims.Jti == "":
		return malformed()
	case s.seenJTI(claims.Jti):
		// RFC 7523 (section 3, item 7) lets a server refuse a jti it has
		// seen; the fake does, to catch a client that reuses an assertion.
		return http.StatusUnauthorized, "invalid_client", "The client assertion has been used already (jti " + claims.Jti + ")."
	case now < claims.Nbf-300 || now >= claims.Exp: // five minutes of clock skew, as Entra ID allows
		return http.StatusUnauthorized, "invalid_client", "AADSTS700024: Client assertion is not within its valid time range."
	}
	return 0, "", ""
}

func (s *Server) seenJTI(jti string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.jtis[jti]
	s.jtis[jti] = true
	return seen
}
