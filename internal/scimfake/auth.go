package scimfake

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// authRequired: Zoom always; the others when a Token or client
// credentials are configured.
func (s *Server) authRequired() bool {
	return s.opts.Flavor == Zoom || s.opts.Token != "" || s.opts.ClientID != ""
}

// authenticate checks the bearer token (RFC 6750) and answers 401 when it
// is missing, unknown or expired.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if !s.authRequired() {
		return true
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	detail, challenge := "", `Bearer realm="scimfake"`
	switch {
	case !strings.EqualFold(scheme, "Bearer") || tok == "":
		detail = "a bearer token is required"
	case s.opts.Flavor != Zoom && s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) == 1:
		return true
	default:
		s.authMu.Lock()
		exp, issued := s.tokens[tok]
		s.authMu.Unlock()
		switch {
		case issued && s.now().Before(exp):
			return true
		case issued:
			detail = "the access token has expired"
		default:
			detail = "the access token is not valid"
		}
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	s.writeError(w, newError(http.StatusUnauthorized, "", detail))
	return false
}

// acceptsSCIM reports whether the Accept header lists
// application/scim+json, which Zoom asks clients to send.
func acceptsSCIM(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/scim+json" {
			return true
		}
	}
	return false
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// serveToken issues access tokens. Zoom (Server-to-Server OAuth): POST
// with grant_type=account_credentials and account_id, in the form body or
// the query, and the client credentials in a Basic header. The others
// (RFC 6749 §4.4): grant_type=client_credentials, the client
// credentials in a Basic header or the form.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if s.opts.ClientID == "" {
		s.writeError(w, errNotFound("no token endpoint: the server has no client credentials"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	grant, zoom := r.Form.Get("grant_type"), s.opts.Flavor == Zoom
	switch {
	case id == "" || secret == "":
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", "client ID or client secret is missing")
	case subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1:
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", "invalid client_id or client_secret")
	case grant == "":
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "missing grant type")
	case zoom && grant != "account_credentials", !zoom && grant != "client_credentials":
		s.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant type")
	case zoom && r.Form.Get("account_id") == "":
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "missing account_id")
	case zoom && s.opts.AccountID != "" && r.Form.Get("account_id") != s.opts.AccountID:
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "invalid account_id")
	default:
		s.issueToken(w)
	}
}

func (s *Server) issueToken(w http.ResponseWriter) {
	tok := s.opts.Token
	if tok == "" {
		tok = rand.Text() + rand.Text()
	}
	s.authMu.Lock()
	s.tokens[tok] = s.now().Add(s.opts.TokenTTL)
	s.authMu.Unlock()
	resp := tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(s.opts.TokenTTL.Seconds())}
	if s.opts.Flavor == Zoom {
		resp.TokenType, resp.Scope = "bearer", "scim2"
	}
	b, _ := json.Marshal(resp)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// tokenError writes an OAuth error: RFC 6749 §5.2's shape, and Zoom's
// {"reason", "error"}.
func (s *Server) tokenError(w http.ResponseWriter, status int, code, msg string) {
	body := map[string]string{"error": code, "error_description": msg}
	if s.opts.Flavor == Zoom {
		body = map[string]string{"error": code, "reason": msg}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="scimfake"`)
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
