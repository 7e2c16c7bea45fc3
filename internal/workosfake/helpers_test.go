package workosfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/idsync/idsync/internal/workosfake"
)

// api is a client of a fake whose every request and answer is checked
// against the WorkOS OpenAPI spec.
type api struct {
	t    *testing.T
	srv  *workosfake.Server
	http *http.Client
	key  string
	// raw sends without the spec check, for requests that break the
	// spec on purpose.
	raw bool
}

func newAPI(t *testing.T, opts workosfake.Options) *api {
	srv := workosfake.ForTest(t, opts)
	return &api{t: t, srv: srv, key: srv.APIKey(),
		http: &http.Client{Transport: workosfake.SpecTransport(t, nil)}}
}

// get sends GET path?rawQuery and returns the status and decoded body.
func (a *api) get(path, rawQuery string) (int, map[string]any) {
	a.t.Helper()
	u := a.srv.URL() + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(a.t.Context(), http.MethodGet, u, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	client := a.http
	if a.raw {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// ids are the ids of a list body's data.
func ids(body map[string]any) []string {
	var out []string
	data, _ := body["data"].([]any)
	for _, d := range data {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

// meta is a list body's list_metadata value ("" for null).
func meta(body map[string]any, key string) string {
	m, _ := body["list_metadata"].(map[string]any)
	s, _ := m[key].(string)
	return s
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Add(kv[i], kv[i+1])
		}
	}
	return v.Encode()
}

func parseMillis(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
