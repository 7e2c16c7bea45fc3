package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeSCIM is a small SCIM service provider for the edge cases the real
// test server (scimmy) cannot show: no discovery, no PATCH, no filters,
// ETags with If-Match. It serves /Users and /Groups from memory, pages by
// pageSize, and logs every request.
type fakeSCIM struct {
	*httptest.Server

	mu sync.Mutex
	// spc answers GET /ServiceProviderConfig; nil is a 404.
	spc http.HandlerFunc
	// noPatch answers every PATCH with 501.
	noPatch bool
	// filter is "" (filters work), "ignore" (the server returns every
	// resource), "refuse" (400 invalidFilter) or "unimplemented" (501).
	filter string
	// etag makes PUT honour If-Match (412 on a mismatch).
	etag bool
	// beforePut runs before a PUT is handled, e.g. to change the resource
	// behind the client's back.
	beforePut func(f *fakeSCIM, path string)
	// auth, when set, checks each request's Authorization header.
	auth func(r *http.Request) bool
	// pageSize caps a list page (default 3).
	pageSize int

	res      map[string]map[string]any // by path, "/Users/1"
	order    []string                  // paths in creation order
	versions map[string]int
	nextID   int
	requests []string // "METHOD /path?query", unescaped
	ifMatch  []string // the If-Match header of each PUT
}

func newFakeSCIM(t *testing.T, setup func(f *fakeSCIM)) *fakeSCIM {
	t.Helper()
	f := &fakeSCIM{res: map[string]map[string]any{}, versions: map[string]int{}, pageSize: 3}
	if setup != nil {
		setup(f)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// spcJSON answers with a ServiceProviderConfig.
func spcJSON(patch, filter, etag bool, maxResults int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
			"patch":   map[string]any{"supported": patch},
			"filter":  map[string]any{"supported": filter, "maxResults": maxResults},
			"etag":    map[string]any{"supported": etag},
			"bulk":    map[string]any{"supported": true, "maxOperations": 10, "maxPayloadSize": 1000},
		})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func scimErr(w http.ResponseWriter, status int, scimType, detail string) {
	writeJSON(w, status, map[string]any{"schemas": []string{schemaError}, "status": strconv.Itoa(status), "scimType": scimType, "detail": detail})
}

// count returns how many requests started with prefix ("PUT /Groups").
func (f *fakeSCIM) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeSCIM) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// bump changes the version of the resource at path, as another client's
// write would.
func (f *fakeSCIM) bump(path string) { f.versions[path]++ }

func (f *fakeSCIM) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+loggedQuery(r))
	if f.auth != nil && !f.auth(r) {
		scimErr(w, http.StatusUnauthorized, "", "bad credentials")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/ServiceProviderConfig" && f.spc != nil:
		f.spc(w, r)
	case len(parts) == 1 && (parts[0] == "Users" || parts[0] == "Groups"):
		switch r.Method {
		case http.MethodGet:
			f.list(w, r, "/"+parts[0])
		case http.MethodPost:
			f.create(w, r, "/"+parts[0])
		default:
			scimErr(w, http.StatusMethodNotAllowed, "", "no")
		}
	case len(parts) == 2 && (parts[0] == "Users" || parts[0] == "Groups") && f.res[r.URL.Path] != nil:
		f.one(w, r, r.URL.Path)
	default:
		scimErr(w, http.StatusNotFound, "", "no such resource")
	}
}

// loggedQuery is the request's query, unescaped, after a "?".
func loggedQuery(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	q, err := url.QueryUnescape(r.URL.RawQuery)
	if err != nil {
		q = r.URL.RawQuery
	}
	return "?" + q
}

func (f *fakeSCIM) list(w http.ResponseWriter, r *http.Request, kind string) {
	match := func(map[string]any) bool { return true }
	if fl := r.URL.Query().Get("filter"); fl != "" {
		switch f.filter {
		case "refuse":
			scimErr(w, http.StatusBadRequest, "invalidFilter", "filters are not supported")
			return
		case "unimplemented":
			scimErr(w, http.StatusNotImplemented, "", "filters are not implemented")
			return
		case "":
			attr, value, err := parseEqFilter(fl)
			if err != nil {
				scimErr(w, http.StatusBadRequest, "invalidFilter", err.Error())
				return
			}
			match = func(res map[string]any) bool { return attrEquals(res, attr, value) }
		}
	}
	var all []map[string]any
	for _, p := range f.order {
		if res := f.res[p]; res != nil && strings.HasPrefix(p, kind+"/") && match(res) {
			all = append(all, f.withMeta(p))
		}
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
	start = max(start, 1)
	count := f.pageSize
	if c, err := strconv.Atoi(r.URL.Query().Get("count")); err == nil && c < count {
		count = c
	}
	page := []map[string]any{}
	for i := start - 1; i >= 0 && i < len(all) && len(page) < count; i++ {
		page = append(page, all[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": len(all), "startIndex": start, "itemsPerPage": len(page), "Resources": page,
	})
}

// attrEquals compares as a SCIM server does: externalId exactly, the
// rest case-insensitively.
func attrEquals(res map[string]any, attr, value string) bool {
	eq := strings.EqualFold
	if attr == "externalId" {
		eq = func(a, b string) bool { return a == b }
	}
	if attr == "emails.value" {
		emails, _ := res["emails"].([]any)
		for _, e := range emails {
			if v, _ := e.(map[string]any)["value"].(string); eq(v, value) {
				return true
			}
		}
		return false
	}
	v, _ := res[attr].(string)
	return eq(v, value)
}

func (f *fakeSCIM) withMeta(path string) map[string]any {
	out := map[string]any{}
	for k, v := range f.res[path] {
		out[k] = v
	}
	out["meta"] = map[string]any{"version": f.etagOf(path), "location": path}
	return out
}

func (f *fakeSCIM) etagOf(path string) string { return fmt.Sprintf(`W/"%d"`, f.versions[path]) }

func (f *fakeSCIM) create(w http.ResponseWriter, r *http.Request, kind string) {
	var res map[string]any
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
		scimErr(w, http.StatusBadRequest, "invalidSyntax", err.Error())
		return
	}
	f.nextID++
	id := strconv.Itoa(f.nextID)
	res["id"] = id
	path := kind + "/" + id
	f.res[path], f.versions[path] = res, 1
	f.order = append(f.order, path)
	w.Header().Set("ETag", f.etagOf(path))
	writeJSON(w, http.StatusCreated, f.withMeta(path))
}

func (f *fakeSCIM) one(w http.ResponseWriter, r *http.Request, path string) {
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("ETag", f.etagOf(path))
		writeJSON(w, http.StatusOK, f.withMeta(path))
	case http.MethodDelete:
		delete(f.res, path)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		f.ifMatch = append(f.ifMatch, r.Header.Get("If-Match"))
		if f.beforePut != nil {
			f.beforePut(f, path)
		}
		if m := r.Header.Get("If-Match"); f.etag && m != "" && m != f.etagOf(path) {
			scimErr(w, http.StatusPreconditionFailed, "", "version mismatch")
			return
		}
		var res map[string]any
		if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
			scimErr(w, http.StatusBadRequest, "invalidSyntax", err.Error())
			return
		}
		delete(res, "meta")
		res["id"] = f.res[path]["id"]
		f.res[path] = res
		f.versions[path]++
		writeJSON(w, http.StatusOK, f.withMeta(path))
	case http.MethodPatch:
		if f.noPatch {
			scimErr(w, http.StatusNotImplemented, "", "PATCH is not implemented")
			return
		}
		f.patch(w, r, path)
	default:
		scimErr(w, http.StatusMethodNotAllowed, "", "no")
	}
}

// patch applies the operations the connector sends: add members, remove
// members[value eq "x"], replace or remove a top-level attribute.
func (f *fakeSCIM) patch(w http.ResponseWriter, r *http.Request, path string) {
	var msg struct {
		Operations []struct {
			Op, Path string
			Value    json.RawMessage
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		scimErr(w, http.StatusBadRequest, "invalidSyntax", err.Error())
		return
	}
	res := f.res[path]
	for _, op := range msg.Operations {
		switch {
		case op.Op == "add" && op.Path == "members":
			var add []any
			_ = json.Unmarshal(op.Value, &add)
			members, _ := res["members"].([]any)
			res["members"] = append(members, add...)
		case op.Op == "remove" && strings.HasPrefix(op.Path, "members["):
			_, id, err := parseEqFilter(strings.TrimSuffix(strings.TrimPrefix(op.Path, "members["), "]"))
			if err != nil {
				scimErr(w, http.StatusBadRequest, "invalidPath", err.Error())
				return
			}
			members, _ := res["members"].([]any)
			var kept []any
			for _, m := range members {
				if m.(map[string]any)["value"] != id {
					kept = append(kept, m)
				}
			}
			res["members"] = kept
		case op.Op == "replace":
			var v any
			_ = json.Unmarshal(op.Value, &v)
			res[op.Path] = v
		case op.Op == "remove":
			delete(res, op.Path)
		}
	}
	f.versions[path]++
	w.WriteHeader(http.StatusNoContent)
}
