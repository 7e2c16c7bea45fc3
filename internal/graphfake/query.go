package graphfake

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// clause is one "prop eq 'value'" of a $filter.
type clause struct{ prop, value string }

// parseFilter reads "prop eq 'value' [or prop eq 'value' …]", with ”
// for a quote inside a value, as OData string literals have it
// (https://learn.microsoft.com/en-us/graph/filter-query-parameter,
// "Escaping single quotes").
func parseFilter(f string) ([]clause, error) {
	var out []clause
	rest := strings.TrimSpace(f)
	for {
		prop, after, ok := strings.Cut(rest, " ")
		if !ok {
			return nil, errors.New("incomplete clause")
		}
		after = strings.TrimLeft(after, " ")
		op, after, ok := strings.Cut(after, " ")
		if !ok || !strings.EqualFold(op, "eq") {
			return nil, fmt.Errorf("operator %q", op)
		}
		after = strings.TrimLeft(after, " ")
		if !strings.HasPrefix(after, "'") {
			return nil, errors.New("a string literal must be quoted with '")
		}
		var v strings.Builder
		i := 1
		for {
			if i >= len(after) {
				return nil, errors.New("unterminated string literal")
			}
			if after[i] == '\'' {
				if i+1 < len(after) && after[i+1] == '\'' {
					v.WriteByte('\'')
					i += 2
					continue
				}
				i++
				break
			}
			v.WriteByte(after[i])
			i++
		}
		out = append(out, clause{prop, v.String()})
		rest = strings.TrimLeft(after[i:], " ")
		if rest == "" {
			return out, nil
		}
		conj, r, ok := strings.Cut(rest, " ")
		if !ok || !strings.EqualFold(conj, "or") {
			return nil, fmt.Errorf("unsupported %q", rest)
		}
		rest = strings.TrimLeft(r, " ")
	}
}

// filterable says whether a property may be filtered on without
// ConsistencyLevel: eventual (the "Supports $filter (eq …)" notes of
// https://learn.microsoft.com/en-us/graph/api/resources/user and group).
func filterable(group bool, prop string) bool {
	if strings.HasPrefix(prop, "extension_") || prop == "id" || prop == "displayName" || prop == "mailNickname" || prop == "mail" {
		return true
	}
	if group {
		return false
	}
	switch prop {
	case "userPrincipalName", "employeeId", "onPremisesImmutableId", "givenName", "surname", "jobTitle", "department":
		return true
	}
	return false
}

// matches reports whether o satisfies any clause; strings compare
// without regard to case, as Graph's eq does.
func matches(o *object, cs []clause) bool {
	for _, c := range cs {
		if v, ok := o.props[c.prop].(string); ok && strings.EqualFold(v, c.value) {
			return true
		}
	}
	return false
}

// listQuery is a list request's $filter, $select, $top and $skiptoken.
type listQuery struct {
	filter  []clause
	selects []string
	top     int
	after   int64 // the seq of the last object of the previous page
	// expand says $expand=manager, with the manager's $select in msel.
	expand bool
	msel   []string
}

const maxTop = 999

// parseList reads a list request's query; it writes the 400 and returns
// false when the query is refused, with the messages of
// https://learn.microsoft.com/en-us/graph/paging and
// https://learn.microsoft.com/en-us/graph/aad-advanced-queries.
func parseList(w http.ResponseWriter, r *http.Request, group bool, defaultTop int) (listQuery, bool) {
	q := r.URL.Query()
	lq := listQuery{top: defaultTop}
	kind := "User"
	if group {
		kind = "Group"
	}
	if f := q.Get("$filter"); f != "" {
		cs, err := parseFilter(f)
		if err != nil {
			graphError(w, http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
			return lq, false
		}
		for _, c := range cs {
			if !filterable(group, c.prop) {
				graphError(w, http.StatusBadRequest, "Request_UnsupportedQuery",
					fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", c.prop, kind))
				return lq, false
			}
		}
		lq.filter = cs
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxTop {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return lq, false
		}
		lq.top = n
	}
	if sel := q.Get("$select"); sel != "" {
		lq.selects = strings.Split(sel, ",")
	}
	var msg string
	if lq.expand, lq.msel, msg = expandManager(q.Get("$expand"), group); msg != "" {
		graphError(w, http.StatusBadRequest, "BadRequest", msg)
		return lq, false
	}
	if tok := q.Get("$skiptoken"); tok != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(tok, "X"), 16, 64)
		if err != nil {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")
			return lq, false
		}
		lq.after = n
	}
	return lq, true
}

// page returns the page of objects after lq.after, in creation order,
// and the skiptoken of the next page ("" for the last).
func page(objs map[string]*object, lq listQuery) ([]*object, string) {
	var out []*object
	for _, o := range sortedObjects(objs) {
		if o.seq <= lq.after || (lq.filter != nil && !matches(o, lq.filter)) {
			continue
		}
		if len(out) == lq.top {
			return out, "X" + strconv.FormatInt(out[len(out)-1].seq, 16)
		}
		out = append(out, o)
	}
	return out, ""
}

func sortedObjects(m map[string]*object) []*object {
	out := make([]*object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// nextLink is the request's URL with the next page's $skiptoken: Graph
// hands back an absolute URL to follow verbatim.
func nextLink(r *http.Request, base, token string) string {
	q := r.URL.Query()
	q.Set("$skiptoken", token)
	return base + strings.TrimPrefix(r.URL.Path, "/v1.0") + "?" + encodeQuery(q)
}

// encodeQuery is url.Values.Encode but keeps "$" and "," readable, as
// Graph's nextLinks do.
func encodeQuery(q url.Values) string {
	s := q.Encode()
	return strings.NewReplacer("%24", "$", "%2C", ",").Replace(s)
}

// project returns the selected properties of o (null for unset ones),
// or the default set.
func project(o *object, selects, defaults []string) map[string]any {
	if len(selects) == 0 {
		selects = defaults
	}
	out := make(map[string]any, len(selects))
	for _, p := range selects {
		p = strings.TrimSpace(p)
		if p == "passwordProfile" {
			out[p] = nil // write-only
			continue
		}
		v, ok := o.props[p]
		if !ok && collections[p] {
			v = []any{}
		}
		out[p] = v
	}
	return out
}
