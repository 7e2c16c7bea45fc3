package graphfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
)

// docExample is one response example of Microsoft's Graph or identity
// platform documentation, kept in testdata/docexamples.json as the page
// shows it (the values are the page's; only the shapes are compared).
type docExample struct {
	Page     string          `json:"page"`     // the learn.microsoft.com page, and its section
	Request  string          `json:"request"`  // what the fake is asked: "METHOD path" (a token request is "TOKEN ok" or "TOKEN bad-scope")
	Body     json.RawMessage `json:"body"`     // the request body, for a POST
	Status   int             `json:"status"`   // the page's status
	Response json.RawMessage `json:"response"` // the page's response body
}

// TestDocumentedExamples compares the fake's answers with the response
// examples of the pages that document them: the same status, and every
// property of the example present in the fake's answer with the same
// JSON kind (an array stays an array, an object an object, recursively
// through the first element of arrays; a string, number or bool may be
// null in the fake, as an unset property is, and a null in the example
// takes any kind). Microsoft publishes no machine-readable schema that
// the fake could be checked against without a download (the CSDL
// metadata is a live endpoint), so the pages' examples stand for it.
func TestDocumentedExamples(t *testing.T) {
	raw, err := os.ReadFile("testdata/docexamples.json")
	if err != nil {
		t.Fatal(err)
	}
	var examples []docExample
	if err := json.Unmarshal(raw, &examples); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	_, _, boss := c.do(http.MethodPost, "/users", userBody("boss@contoso.com"))
	_, _, rep := c.do(http.MethodPost, "/users", userBody("rep@contoso.com"))
	_, _, grp := c.do(http.MethodPost, "/groups", map[string]any{"displayName": "g", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true})
	ids := strings.NewReplacer("{boss}", boss["id"].(string), "{rep}", rep["id"].(string), "{group}", grp["id"].(string))
	if st, _, _ := c.do(http.MethodPost, "/groups/"+grp["id"].(string)+"/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + rep["id"].(string)}); st != 204 {
		t.Fatal("add member", st)
	}
	if st, _, _ := c.do(http.MethodPut, "/users/"+rep["id"].(string)+"/manager/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/users/" + boss["id"].(string)}); st != 204 {
		t.Fatal("set manager", st)
	}
	for _, ex := range examples {
		t.Run(ex.Request, func(t *testing.T) {
			method, path, _ := strings.Cut(ids.Replace(ex.Request), " ")
			var st int
			var got any
			if method == "TOKEN" {
				st, got = tokenRequest(t, c.srv, path)
			} else {
				var body any
				if len(ex.Body) > 0 {
					body = json.RawMessage(ids.Replace(string(ex.Body)))
				}
				var m map[string]any
				st, _, m = c.do(method, path, body)
				got = m
			}
			var want any
			if err := json.Unmarshal(ex.Response, &want); err != nil {
				t.Fatalf("%s: the example does not parse: %v", ex.Page, err)
			}
			if st != ex.Status {
				t.Errorf("status %d, the page shows %d (%s)", st, ex.Status, ex.Page)
			}
			for _, d := range sameShape("", want, got) {
				t.Errorf("%s (%s)", d, ex.Page)
			}
		})
	}
}

// sameShape lists where got lacks a property of want or has another
// JSON kind.
func sameShape(at string, want, got any) []string {
	kind := func(v any) string { return fmt.Sprintf("%T", v) }
	switch w := want.(type) {
	case nil:
		return nil
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: an object in the example, %s here", orRoot(at), kind(got))}
		}
		var out []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: in the example, missing here", orRoot(at), k))
				continue
			}
			out = append(out, sameShape(at+"."+k, w[k], gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: an array in the example, %s here", orRoot(at), kind(got))}
		}
		if len(w) > 0 && len(g) > 0 {
			return sameShape(at+"[0]", w[0], g[0])
		}
		return nil
	default:
		if got != nil && kind(got) != kind(want) {
			return []string{fmt.Sprintf("%s: %s in the example, %s here", orRoot(at), kind(want), kind(got))}
		}
		return nil
	}
}

func orRoot(at string) string {
	if at == "" {
		return "(body)"
	}
	return at
}

// tokenRequest asks the token endpoint for a token: "ok", or with a
// scope that is not /.default ("bad-scope").
func tokenRequest(t *testing.T, srv *Server, which string) (int, any) {
	t.Helper()
	scope := "https://graph.microsoft.com/.default"
	if which == "bad-scope" {
		scope = "https://graph.microsoft.com/User.Read"
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"}, "scope": {scope}}
	resp, err := http.Post(srv.TokenURL(), "application/x-www-form-urlencoded", bytes.NewBufferString(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}
