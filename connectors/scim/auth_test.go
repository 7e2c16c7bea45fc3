package scim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// tokenServer is an OAuth 2.0 token endpoint for the client credentials
// grant. It issues tok-1, tok-2, … and counts the requests.
type tokenServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	forms    []map[string]string // the form of each request, with "auth" the Basic credentials
	// answer, when set, answers request n (1-based) instead.
	answer func(w http.ResponseWriter, n int) bool
	// expiresIn gives the lifetime of token n in seconds.
	expiresIn func(n int) int
}

func newTokenServer(t *testing.T, setup func(ts *tokenServer)) *tokenServer {
	ts := &tokenServer{expiresIn: func(int) int { return 3600 }}
	if setup != nil {
		setup(ts)
	}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.requests++
		n := ts.requests
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		if u, p, ok := r.BasicAuth(); ok {
			form["auth"] = u + ":" + p
		}
		ts.forms = append(ts.forms, form)
		if ts.answer != nil && ts.answer(w, n) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": fmt.Sprint("tok-", n), "token_type": "bearer", "expires_in": ts.expiresIn(n),
		})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) count() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests
}

const clientSecret = "cl1ent-s3cret-value"

func oauthConfig(t *testing.T, baseURL, tokenURL string) *Config {
	return &Config{
		BaseURL: baseURL, Auth: AuthOAuth2, TokenURL: tokenURL, ClientID: "idsync-client",
		ClientSecret: secretFile(t, clientSecret), Scopes: StringList{"scim.read", "scim.write"},
	}
}

// acceptTokens makes the fake SCIM server accept the bearer tokens ok
// says are good, and count the requests by token.
func acceptTokens(f *fakeSCIM, ok func(tok string) bool) map[string]int {
	seen := map[string]int{}
	f.auth = func(r *http.Request) bool {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		seen[tok]++
		return found && ok(tok)
	}
	return seen
}

// TestOAuth2 gets a token by the client credentials grant, reuses it
// across requests, and gets a new one when it expires or is refused.
func TestOAuth2(t *testing.T) {
	t.Run("one token reused", func(t *testing.T) {
		for _, style := range []string{AuthStyleHeader, AuthStyleParams, ""} {
			t.Run("authStyle "+style, func(t *testing.T) {
				ts := newTokenServer(t, nil)
				f := newFakeSCIM(t, nil)
				seen := acceptTokens(f, func(tok string) bool { return tok == "tok-1" })
				cfg := oauthConfig(t, f.URL, ts.URL)
				cfg.AuthStyle, cfg.TokenParams = style, map[string]string{"audience": "scim"}
				c, _ := openConfig(t, cfg)
				ctx := t.Context()
				if ts.count() != 0 {
					t.Errorf("Open fetched %d tokens, want none", ts.count())
				}
				var wg sync.WaitGroup
				errs := make(chan error, 8)
				for i := range 8 {
					wg.Go(func() {
						_, err := c.CreateUser(ctx, connectors.User{ExternalID: fmt.Sprint("o-", i), UserName: fmt.Sprint("o", i)})
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				if _, err := c.LookupUsers(ctx, connectors.MatchUserName, "o1"); err != nil {
					t.Fatal(err)
				}
				if n := ts.count(); n != 1 {
					t.Errorf("%d token requests, want 1", n)
				}
				if seen["tok-1"] < 10 {
					t.Errorf("requests by token %v, want every one with tok-1", seen)
				}
				form := ts.forms[0]
				if form["grant_type"] != "client_credentials" || form["scope"] != "scim.read scim.write" || form["audience"] != "scim" {
					t.Errorf("token request form %v", form)
				}
				header := form["auth"] == "idsync-client:"+clientSecret
				params := form["client_id"] == "idsync-client" && form["client_secret"] == clientSecret
				if (style == AuthStyleHeader && !header) || (style == AuthStyleParams && !params) || (!header && !params) {
					t.Errorf("authStyle %q: client sent as header %v, params %v", style, header, params)
				}
				wantLines(t, describe(t, c), `auth: OAuth 2.0 client credentials, client "idsync-client", token endpoint `+ts.URL)
			})
		}
	})

	t.Run("expired token refreshed", func(t *testing.T) {
		// tok-1 expires at once (within oauth2's 10s margin), tok-2 lasts.
		ts := newTokenServer(t, func(ts *tokenServer) {
			ts.expiresIn = func(n int) int { return map[int]int{1: 1}[n] + 3600*(n-1) }
		})
		f := newFakeSCIM(t, nil)
		seen := acceptTokens(f, func(string) bool { return true })
		c, _ := openConfig(t, oauthConfig(t, f.URL, ts.URL))
		for i := range 3 {
			if _, err := c.CreateUser(t.Context(), connectors.User{ExternalID: fmt.Sprint(i), UserName: fmt.Sprint("e", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if n := ts.count(); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
		if seen["tok-1"] != 1 || seen["tok-2"] != 2 {
			t.Errorf("requests by token %v, want tok-1 once, then tok-2 twice", seen)
		}
	})

	t.Run("token refused by the server, refetched", func(t *testing.T) {
		ts := newTokenServer(t, nil)
		f := newFakeSCIM(t, nil)
		revoked := false
		seen := acceptTokens(f, func(tok string) bool { return !(revoked && tok == "tok-1") })
		c, _ := openConfig(t, oauthConfig(t, f.URL, ts.URL))
		ctx := t.Context()
		if _, err := c.CreateUser(ctx, connectors.User{ExternalID: "r1", UserName: "r1"}); err != nil {
			t.Fatal(err)
		}
		revoked = true
		if _, err := c.CreateUser(ctx, connectors.User{ExternalID: "r2", UserName: "r2"}); err != nil {
			t.Fatalf("create after the token was revoked: %v", err)
		}
		if _, err := c.LookupUsers(ctx, connectors.MatchExternalID, "r2"); err != nil {
			t.Fatal(err)
		}
		if n := ts.count(); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
		if f.count("POST /Users") != 3 || seen["tok-1"] != 2 {
			t.Errorf("POSTs %d (want 3: one refused, resent), requests by token %v", f.count("POST /Users"), seen)
		}
	})

	t.Run("every token refused", func(t *testing.T) {
		ts := newTokenServer(t, nil)
		f := newFakeSCIM(t, nil)
		acceptTokens(f, func(string) bool { return false })
		c, _ := openConfig(t, oauthConfig(t, f.URL, ts.URL))
		_, err := c.CreateUser(t.Context(), connectors.User{ExternalID: "x", UserName: "x"})
		if !errors.Is(err, connectors.ErrUnauthorized) {
			t.Errorf("err = %v, want ErrUnauthorized", err)
		}
		// Discovery (401, resent once) falls back; the POST is sent twice.
		if n := ts.count(); n > 4 {
			t.Errorf("%d token requests for 2 requests: a loop", n)
		}
		if n := f.count("POST /Users"); n != 2 {
			t.Errorf("POST /Users %d times, want 2 (sent once more with a new token)", n)
		}
	})

	tokenErrors := []struct {
		name     string
		status   int
		header   map[string]string
		body     string
		is       error
		limited  bool
		contains string
	}{
		{"invalid_client", 401, nil, `{"error":"invalid_client","error_description":"secret ` + clientSecret + ` is wrong"}`,
			connectors.ErrUnauthorized, false, "401 Unauthorized (invalid_client): secret [redacted] is wrong"},
		{"invalid_scope", 400, nil, `{"error":"invalid_scope"}`, connectors.ErrUnauthorized, false, "(invalid_scope)"},
		{"rate limited", 429, map[string]string{"Retry-After": "5"}, `{"error":"slow_down"}`, nil, true, "429"},
		{"server error", 500, nil, `<html>` + clientSecret + `</html>`, nil, false, "500 Internal Server Error"},
	}
	for _, tt := range tokenErrors {
		t.Run("token endpoint "+tt.name, func(t *testing.T) {
			ts := newTokenServer(t, func(ts *tokenServer) {
				ts.answer = func(w http.ResponseWriter, n int) bool {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tt.status)
					fmt.Fprint(w, tt.body)
					return true
				}
			})
			f := newFakeSCIM(t, nil)
			c, _ := openConfig(t, oauthConfig(t, f.URL, ts.URL))
			_, err := c.CreateUser(t.Context(), connectors.User{ExternalID: "x", UserName: "x"})
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *TokenError", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if tt.is == nil && errors.Is(err, connectors.ErrUnauthorized) {
				t.Errorf("err = %v: ErrUnauthorized for a failure that may pass", err)
			}
			var rl *connectors.RateLimitError
			if errors.As(err, &rl) != tt.limited || (tt.limited && rl.RetryAfter.Seconds() != 5) {
				t.Errorf("err = %v: rate limit %v, want %v (5s)", err, errors.As(err, &rl), tt.limited)
			}
			if !strings.Contains(err.Error(), tt.contains) || strings.Contains(err.Error(), clientSecret) {
				t.Errorf("err = %q, want it to contain %q and not the secret", err, tt.contains)
			}
			if f.count("") != 0 {
				t.Errorf("requests reached the SCIM server without a token: %q", f.log())
			}
			terr := c.Test(t.Context())
			var tst *connectors.TestError
			if !errors.As(terr, &tst) || tst.Stage != connectors.StageAuth {
				t.Errorf("Test: %v, want stage auth", terr)
			}
		})
	}

	t.Run("token endpoint unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		f := newFakeSCIM(t, nil)
		c, _ := openConfig(t, oauthConfig(t, f.URL, "http://"+addr+"/token"))
		terr := c.Test(t.Context())
		var tst *connectors.TestError
		if !errors.As(terr, &tst) || tst.Stage != connectors.StageAuth || errors.Is(terr, connectors.ErrUnauthorized) {
			t.Errorf("Test: %v, want stage auth, not ErrUnauthorized", terr)
		}
	})
}

// TestBasicAuth sends the user name and password, and refuses them as
// ErrUnauthorized.
func TestBasicAuth(t *testing.T) {
	f := newFakeSCIM(t, func(f *fakeSCIM) {
		f.auth = func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "idsync" && p == "pa55word"
		}
	})
	open := func(password string) *scimConnector {
		c, _ := openConfig(t, &Config{BaseURL: f.URL, Auth: AuthBasic, Username: "idsync", Password: secretFile(t, password)})
		return c
	}
	c := open("pa55word")
	if _, err := c.CreateUser(t.Context(), connectors.User{ExternalID: "b", UserName: "b"}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, describe(t, c), `auth: basic, user "idsync"`)
	if err := c.Test(t.Context()); err != nil {
		t.Errorf("Test: %v", err)
	}

	bad := open("wrong-password")
	_, err := bad.CreateUser(t.Context(), connectors.User{ExternalID: "b", UserName: "b"})
	if !errors.Is(err, connectors.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
	var te *connectors.TestError
	if terr := bad.Test(t.Context()); !errors.As(terr, &te) || te.Stage != connectors.StageAuth {
		t.Errorf("Test: %v, want stage auth", terr)
	}
}

// TestSecretsRedacted: a server that echoes the request's Authorization
// header in its error bodies does not get a secret into an error.
func TestSecretsRedacted(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		body := "refused: " + r.Header.Get("Authorization")
		if strings.HasPrefix(r.URL.Path, "/Users/") {
			// A malformed 200 that echoes it too.
			fmt.Fprint(w, "<html>"+body+"</html>")
			return
		}
		if r.Method == http.MethodPost {
			scimErr(w, http.StatusBadRequest, "invalidValue", body)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, body)
	}
	srv := httptest.NewServer(http.HandlerFunc(echo))
	defer srv.Close()
	ts := newTokenServer(t, func(ts *tokenServer) { ts.expiresIn = func(int) int { return 3600 } })
	const password, token = "basic-pa55word", "bearer-t0ken-value"
	configs := map[string]*Config{
		"bearer": {BaseURL: srv.URL, Token: secretFile(t, token)},
		"basic":  {BaseURL: srv.URL, Auth: AuthBasic, Username: "u", Password: secretFile(t, password)},
		"oauth2": oauthConfig(t, srv.URL, ts.URL),
	}
	secrets := []string{password, token, clientSecret, "tok-1", "tok-2", "tok-3", "tok-4",
		base64.StdEncoding.EncodeToString([]byte("u:" + password))}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			c, logs := openConfig(t, cfg)
			ctx := t.Context()
			_, err1 := c.LookupUsers(ctx, connectors.MatchUserName, "x")
			_, err2 := c.CreateUser(ctx, connectors.User{UserName: "x"})
			err3 := c.UpdateUser(ctx, "1", connectors.User{UserName: "x"})
			lines, err4 := c.Describe(ctx)
			err5 := c.Test(ctx)
			for i, err := range []error{err1, err2, err3, err5} {
				if err == nil {
					t.Errorf("request %d: no error", i+1)
					continue
				}
				if !strings.Contains(err.Error(), redacted) {
					t.Errorf("error %q: want the echoed credential redacted", err)
				}
			}
			all := fmt.Sprint(err1, err2, err3, err4, err5, lines, logs.String())
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("%q leaked into errors, Describe or logs:\n%s", s, all)
				}
			}
		})
	}
}

// TestConfigAuth validates the settings of each kind of authentication,
// collecting every problem and never echoing a literal secret.
func TestConfigAuth(t *testing.T) {
	const literal = "sup3r-s3cret-literal"
	base := "https://scim.example.com/v2"
	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the error; none: valid
	}{
		{"bearer default", Config{BaseURL: base, Token: "env:T"}, nil},
		{"oauth2", Config{BaseURL: base, Auth: "oauth2", TokenURL: "https://login.example.com/token?tenant=1", ClientID: "c",
			ClientSecret: "file:/s", Scopes: StringList{"a", "b"}, AuthStyle: "params", TokenParams: map[string]string{"audience": "x"}}, nil},
		{"basic", Config{BaseURL: base, Auth: "basic", Username: "u", Password: "env:P"}, nil},
		{"bearer without token", Config{BaseURL: base}, []string{"token is required"}},
		{"bearer literal token", Config{BaseURL: base, Token: literal}, []string{"token: must be a secret reference"}},
		{"oauth2 missing everything", Config{BaseURL: base, Auth: "oauth2"},
			[]string{"tokenUrl is required", "clientId is required", "clientSecret is required"}},
		{"oauth2 bad values", Config{BaseURL: base, Auth: "oauth2", TokenURL: "ftp://x/token", ClientID: "c", ClientSecret: literal,
			Scopes: StringList{"a b"}, AuthStyle: "cookie", TokenParams: map[string]string{"client_secret": literal}},
			[]string{"tokenUrl: scheme", "clientSecret: must be a secret reference", "scopes:", "authStyle:", "tokenParams: \"client_secret\""}},
		{"oauth2 token URL with credentials", Config{BaseURL: base, Auth: "oauth2", TokenURL: "https://c:" + literal + "@login/token", ClientID: "c", ClientSecret: "env:S"},
			[]string{"tokenUrl: must not hold credentials"}},
		{"oauth2 with a token", Config{BaseURL: base, Auth: "oauth2", TokenURL: "https://l/t", ClientID: "c", ClientSecret: "env:S", Token: "env:T"},
			[]string{"token: not used with auth oauth2"}},
		{"basic missing", Config{BaseURL: base, Auth: "basic"}, []string{"username is required", "password is required"}},
		{"basic literal, colon, stray", Config{BaseURL: base, Auth: "basic", Username: "a:b", Password: literal, ClientID: "c"},
			[]string{"username: must not contain a colon", "password: must be a secret reference", "clientId: not used with auth basic"}},
		{"unknown auth", Config{BaseURL: base, Auth: "ntlm", Token: "env:T"}, []string{`auth: "ntlm" is not`}},
		{"toggles and maxResults", Config{BaseURL: base, Token: "env:T", Patch: "maybe", Filter: "TRUE ", ETag: "yes", MaxResults: -1},
			[]string{`patch: "maybe"`, `filter: "TRUE "`, `etag: "yes"`, "maxResults: -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if cfg.Auth == "" || cfg.Patch != ToggleAuto || cfg.Filter != ToggleAuto || cfg.ETag != ToggleAuto {
					t.Errorf("defaults not filled: %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), literal) {
				t.Errorf("err %q echoes the literal secret", err)
			}
		})
	}
}

// TestConfigJSON reads settings as the CLI stores them: toggles as JSON
// booleans or strings, scopes as a list or one string.
func TestConfigJSON(t *testing.T) {
	var c Config
	err := json.Unmarshal([]byte(`{"baseUrl":"https://h/v2","auth":"oauth2","tokenUrl":"https://h/t","clientId":"c",
		"clientSecret":"env:S","scopes":"a b,c","patch":false,"filter":"Auto","etag":true,"maxResults":50}`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Patch != ToggleFalse || c.Filter != ToggleAuto || c.ETag != ToggleTrue || c.MaxResults != 50 ||
		strings.Join(c.Scopes, "|") != "a|b|c" {
		t.Errorf("read %+v", c)
	}
	if err := json.Unmarshal([]byte(`{"scopes":["x y"]}`), &c); err != nil || len(c.Scopes) != 1 {
		t.Errorf("scopes list: %v, %v", c.Scopes, err)
	}
	for _, bad := range []string{`{"patch":1}`, `{"scopes":1}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestOpenSecrets: Open resolves the secret of the chosen kind and says
// which reference failed, never a value.
func TestOpenSecrets(t *testing.T) {
	t.Setenv("SCIM_TEST_EMPTY", "")
	for _, cfg := range []*Config{
		{BaseURL: "http://h", Token: "env:SCIM_TEST_UNSET_VARIABLE"},
		{BaseURL: "http://h", Auth: AuthBasic, Username: "u", Password: "env:SCIM_TEST_EMPTY"},
		{BaseURL: "http://h", Auth: AuthOAuth2, TokenURL: "http://h/t", ClientID: "c", ClientSecret: "file:/nonexistent/secret"},
	} {
		_, err := cfg.Open(t.Context(), nil)
		if err == nil {
			t.Errorf("%+v: no error", cfg)
			continue
		}
		name := map[string]string{AuthBearer: "token", AuthBasic: "password", AuthOAuth2: "clientSecret"}[cfg.Auth]
		if !strings.HasPrefix(err.Error(), "scim: "+name+": ") {
			t.Errorf("err = %q, want it to name %s", err, name)
		}
	}
}
