package workosfake

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// eventTypes reads the events filter in its three encodings: repeated
// (workos-go), comma-separated (workos-node; the spec's form, explode
// false) and events[] (the docs). Empty: every type [U: workos-node makes
// the filter required].
func eventTypes(q url.Values) []string {
	var out []string
	for _, key := range []string{"events", "events[]"} {
		for _, v := range q[key] {
			for t := range strings.SplitSeq(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// parseTime reads an ISO-8601 timestamp of a range parameter.
func parseTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// listEvents answers GET /events: oldest first by (created_at, id)
// whatever order asks (workos/workos-node#1610), after a cursor, within a
// range, of some types; list_metadata.after is null at the end of the
// stream.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	types := eventTypes(q)
	var start, end time.Time
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"range_start", &start}, {"range_end", &end}} {
		if v := q.Get(f.name); v != "" {
			if *f.t, ok = parseTime(v); !ok {
				writeInvalid(w, f.name, "invalid_date", f.name+" must be an ISO-8601 date")
				return
			}
		}
	}
	org := q.Get("organization_id")
	after := q.Get("after")
	if after == "" && p.order == "desc" && q.Get("order") == "normal" {
		after = p.before // normal swapped them; events ignore order
	}

	s.mu.Lock()
	s.expire()
	from := 0
	if after != "" {
		i := slices.IndexFunc(s.events, func(e Event) bool { return e.ID == after })
		if i < 0 {
			expired := s.expired[after]
			s.mu.Unlock()
			// [U] what the live API answers for a cursor it no longer
			// has, or never had: a 400 with the spec's {message} body.
			msg := "Event '" + after + "' not found."
			if expired {
				msg = "Event '" + after + "' is older than the retention period and can no longer be used as a cursor."
			}
			writeError(w, http.StatusBadRequest, "invalid_cursor", msg)
			return
		}
		from = i + 1
	}
	var data []any
	var next *string
	for _, e := range s.events[from:] {
		if len(types) > 0 && !slices.Contains(types, e.Event) ||
			org != "" && e.OrganizationID != org ||
			!start.IsZero() && e.CreatedAt.Before(start) ||
			!end.IsZero() && !e.CreatedAt.Before(end) {
			continue
		}
		if len(data) == p.limit {
			id := data[len(data)-1].(map[string]any)["id"].(string)
			next = &id
			break
		}
		data = append(data, e.wire())
	}
	s.mu.Unlock()
	if data == nil {
		data = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data,
		"list_metadata": map[string]any{"after": next}})
}
