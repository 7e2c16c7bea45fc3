package googlefake

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReportsScope is the scope activities.list asks for; a token without it
// is answered 403, as Google answers a token of other scopes.
const ReportsScope = "https://www.googleapis.com/auth/admin.reports.audit.readonly"

// activity is one record of the admin activity report: one event, as the
// Admin console records one per change.
type activity struct {
	at      time.Time
	uq      int64 // id.uniqueQualifier
	actor   string
	typ     string // USER_SETTINGS, GROUP_SETTINGS
	name    string // CREATE_USER, ADD_GROUP_MEMBER, …
	params  [][2]string
	visible time.Time // at + the ReportLag knob when it was recorded
}

// record appends an admin activity, called with f.mu held. params are
// name, value pairs (USER_EMAIL, GROUP_EMAIL, NEW_VALUE…).
func (f *Fake) record(typ, name string, params ...string) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := activity{at: now, actor: f.actor, typ: typ, name: name, visible: now.Add(f.knobs.ReportLag)}
	if a.actor == "" {
		a.actor = "admin@" + f.Domain
	}
	for i := 0; i+1 < len(params); i += 2 {
		a.params = append(a.params, [2]string{params[i], params[i+1]})
	}
	f.seq++
	// Google's qualifiers are large signed numbers; these are distinct.
	a.uq = int64(f.seq)*7919 + 1_000_000_000_000_000
	f.activities = append(f.activities, a)
}

// RecordActivity records an admin activity as if an administrator had
// made a change in the Admin console (a change this fake's API did not
// see), e.g. RecordActivity("USER_SETTINGS", "CHANGE_FIRST_NAME",
// "USER_EMAIL", "ada@example.org"). The ReportLag knob applies.
func (f *Fake) RecordActivity(eventType, eventName string, params ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(eventType, eventName, params...)
}

// EditUser changes a user in place without recording an activity, as
// when users change their own profile (Google records no admin event),
// and reports whether userKey was found.
func (f *Fake) EditUser(userKey string, edit func(user map[string]any)) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.user(userKey)
	if u == nil {
		return false
	}
	edit(u)
	f.settle(u)
	return true
}

// Activities returns the names of the recorded activities, oldest first,
// visible or not.
func (f *Fake) Activities() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.activities))
	for i, a := range f.activities {
		out[i] = a.name
	}
	return out
}

// recordUserPatch records the activities of a change of user u (before,
// after): one event for each setting changed, as the console does.
func (f *Fake) recordUserPatch(before, after obj) {
	email := before["primaryEmail"].(string)
	if ne := after["primaryEmail"].(string); ne != email {
		f.record("USER_SETTINGS", "RENAME_USER", "USER_EMAIL", email, "NEW_VALUE", ne)
		email = ne
	}
	if (before["suspended"] == true) != (after["suspended"] == true) {
		name := "UNSUSPEND_USER"
		if after["suspended"] == true {
			name = "SUSPEND_USER"
		}
		f.record("USER_SETTINGS", name, "USER_EMAIL", email)
	}
	bn, _ := before["name"].(obj)
	an, _ := after["name"].(obj)
	if fmt.Sprint(bn["givenName"]) != fmt.Sprint(an["givenName"]) {
		f.record("USER_SETTINGS", "CHANGE_FIRST_NAME", "USER_EMAIL", email)
	}
	if fmt.Sprint(bn["familyName"]) != fmt.Sprint(an["familyName"]) {
		f.record("USER_SETTINGS", "CHANGE_LAST_NAME", "USER_EMAIL", email)
	}
	if fmt.Sprint(bn["displayName"]) != fmt.Sprint(an["displayName"]) {
		// [U] the event name of a display name change.
		f.record("USER_SETTINGS", "CHANGE_DISPLAY_NAME", "USER_EMAIL", email)
	}
	for _, k := range []struct{ field, event string }{
		{"externalIds", "CHANGE_USER_EXTERNAL_ID"},
		{"organizations", "CHANGE_USER_ORGANIZATION"},
		{"relations", "CHANGE_USER_RELATION"},
		// [U] the event of a change of secondary addresses; the
		// connector reads any USER_EMAIL event as a change of the user.
		{"emails", "CHANGE_USER_EMAIL"},
	} {
		if fmt.Sprint(before[k.field]) != fmt.Sprint(after[k.field]) {
			f.record("USER_SETTINGS", k.event, "USER_EMAIL", email)
		}
	}
}

// listActivities is activities.list: the admin application's activities
// of all users (or of one actor), newest first, from startTime to
// endTime, in pages whose token names the last activity given, so that
// activities recorded between two pages do not shift the next one.
func (f *Fake) listActivities(r *http.Request, _ obj) (int, any) {
	if !slices.Contains(f.scopes, ReportsScope) {
		return fail(http.StatusForbidden, "insufficientPermissions", "Request had insufficient authentication scopes.")
	}
	q := r.URL.Query()
	userKey := r.PathValue("userKey")
	if r.PathValue("applicationName") != "admin" {
		return badRequest("Invalid value for: applicationName; this fake serves admin only")
	}
	bound := func(name string) (time.Time, bool) {
		s := q.Get(name)
		if s == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	start, ok1 := bound("startTime")
	end, ok2 := bound("endTime")
	if !ok1 || !ok2 {
		return badRequest("Invalid value for: startTime/endTime is not a valid RFC 3339 date")
	}
	now := time.Now()
	if start.After(now) {
		return badRequest("Start time must be less than or equal to the current time")
	}
	size := 1000
	if s := q.Get("maxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("Invalid value for: maxResults")
		}
		size = n
	}
	var after *activity // the last activity of the previous page
	if tok := q.Get("pageToken"); tok != "" {
		ms, uq, ok := strings.Cut(strings.TrimPrefix(tok, "a"), ".")
		t, err1 := strconv.ParseInt(ms, 10, 64)
		u, err2 := strconv.ParseInt(uq, 10, 64)
		if !ok || err1 != nil || err2 != nil || !strings.HasPrefix(tok, "a") {
			return badRequest("Invalid value for: pageToken")
		}
		after = &activity{at: time.UnixMilli(t), uq: u}
	}
	var all []activity
	for _, a := range f.activities {
		switch {
		case a.visible.After(now),
			!start.IsZero() && a.at.Before(start),
			!end.IsZero() && !a.at.Before(end),
			userKey != "all" && !strings.EqualFold(userKey, a.actor),
			q.Get("eventName") != "" && q.Get("eventName") != a.name:
			continue
		}
		all = append(all, a)
	}
	// Newest first, by time, then by qualifier (times are milliseconds).
	older := func(a activity, ms, uq int64) bool {
		return a.at.UnixMilli() < ms || (a.at.UnixMilli() == ms && a.uq < uq)
	}
	slices.SortFunc(all, func(a, b activity) int {
		switch {
		case older(a, b.at.UnixMilli(), b.uq):
			return 1
		case older(b, a.at.UnixMilli(), a.uq):
			return -1
		}
		return 0
	})
	if after != nil {
		all = slices.DeleteFunc(all, func(a activity) bool { return !older(a, after.at.UnixMilli(), after.uq) })
	}
	res := obj{"kind": "admin#reports#activities", "etag": f.etag()}
	if len(all) > size {
		last := all[size-1]
		res["nextPageToken"] = fmt.Sprintf("a%d.%d", last.at.UnixMilli(), last.uq)
		all = all[:size]
	}
	if len(all) > 0 {
		items := make([]obj, len(all))
		for i, a := range all {
			items[i] = f.activityJSON(a)
		}
		res["items"] = items
	}
	return http.StatusOK, res
}

func (f *Fake) activityJSON(a activity) obj {
	params := make([]obj, len(a.params))
	for i, p := range a.params {
		params[i] = obj{"name": p[0], "value": p[1]}
	}
	return obj{
		"kind": "admin#reports#activity",
		"id": obj{"time": a.at.UTC().Format("2006-01-02T15:04:05.000Z"), "uniqueQualifier": strconv.FormatInt(a.uq, 10),
			"applicationName": "admin", "customerId": f.CustomerID},
		"etag":        fmt.Sprintf("%q", "fake-activity-"+strconv.FormatInt(a.uq, 10)),
		"actor":       obj{"callerType": "USER", "email": a.actor, "profileId": "100000000000000000042"},
		"ipAddress":   "203.0.113.7",
		"ownerDomain": f.Domain,
		"events":      []obj{{"type": a.typ, "name": a.name, "parameters": params}},
	}
}
