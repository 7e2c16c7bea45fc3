package peers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// scimGet sends GET path?filter=… to s and returns the status, the
// Retry-After header and the scimType of a SCIM error body.
func scimGet(t *testing.T, ctx context.Context, s *SCIM, path, filter string) (status int, retryAfter, scimType string) {
	t.Helper()
	u := s.URL + path
	if filter != "" {
		u += "?filter=" + url.QueryEscape(filter)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		ScimType string `json:"scimType"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), body.ScimType
}

// TestSCIMKnobs turns each knob on at run time and checks what the
// server answers, what it counts, and that turning the knobs off restores
// normal answers.
func TestSCIMKnobs(t *testing.T) {
	start := SCIMKnobs{RefuseFilters: []string{"userName"}, ListLatency: 100 * time.Millisecond, ListLatencyMax: 150 * time.Millisecond}
	s := startSCIMWithKnobs(t, start)
	ctx := t.Context()
	got, err := s.Knobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := start
	want.RefuseAs, want.RetryAfter = "invalidFilter", time.Second
	if !reflect.DeepEqual(got, want) {
		t.Errorf("knobs from the flags = %+v, want %+v", got, want)
	}
	tests := []struct {
		name          string
		knobs         SCIMKnobs
		path, filter  string
		status        int
		retryAfter    string
		scimType      string
		minDuration   time.Duration
		check         func(SCIMStats) bool
		whatIsCounted string
	}{
		{name: "refused as set by the flags", knobs: start, path: "/Users", filter: `userName eq "a"`, status: 400, scimType: "invalidFilter",
			minDuration: 100 * time.Millisecond, check: func(st SCIMStats) bool { return st.RefusedFilters["userName"] == 1 }, whatIsCounted: "refusedFilters[userName] 1"},
		{name: "value path names its sub-attribute", knobs: SCIMKnobs{RefuseFilters: []string{"emails.value"}, RefuseAs: "invalidValue"},
			path: "/Users", filter: `emails[value eq "a@b"]`, status: 400, scimType: "invalidValue",
			check: func(st SCIMStats) bool { return st.RefusedFilters["emails.value"] == 1 }, whatIsCounted: "refusedFilters[emails.value] 1"},
		{name: "other forms pass", knobs: SCIMKnobs{RefuseFilters: []string{"emails.value"}}, path: "/Users", filter: `emails eq "a@b"`, status: 200,
			check: func(st SCIMStats) bool { return len(st.RefusedFilters) == 0 }, whatIsCounted: "no refusal"},
		{name: "plain refusal", knobs: SCIMKnobs{RefuseFilters: []string{"displayName"}, RefuseAs: "plain"}, path: "/Groups", filter: `displayName eq "g"`, status: 400,
			check: func(st SCIMStats) bool { return st.RefusedFilters["displayName"] == 1 }, whatIsCounted: "refusedFilters[displayName] 1"},
		{name: "throttled", knobs: SCIMKnobs{ThrottleRate: 1, RetryAfter: 7 * time.Second}, path: "/Users", status: 429, retryAfter: "7",
			check: func(st SCIMStats) bool { return st.Throttled == 1 && st.ByStatus["429"] == 1 }, whatIsCounted: "throttled 1"},
		{name: "failed", knobs: SCIMKnobs{ErrorRate: 1}, path: "/ServiceProviderConfig", status: -5,
			check: func(st SCIMStats) bool { return st.Failed == 1 }, whatIsCounted: "failed 1"},
		{name: "latency on every request", knobs: SCIMKnobs{Latency: 150 * time.Millisecond}, path: "/ServiceProviderConfig", status: 200,
			minDuration: 150 * time.Millisecond, check: func(st SCIMStats) bool { return st.Total == 1 }, whatIsCounted: "one request"},
		{name: "list latency only on lists", knobs: SCIMKnobs{ListLatency: 10 * time.Second}, path: "/ServiceProviderConfig", status: 200,
			check: func(st SCIMStats) bool { return st.Total == 1 }, whatIsCounted: "one request"},
		{name: "all off", knobs: SCIMKnobs{}, path: "/Users", filter: `userName eq "a"`, status: 200,
			check: func(st SCIMStats) bool { return len(st.RefusedFilters) == 0 && st.Throttled == 0 && st.Failed == 0 }, whatIsCounted: "nothing injected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.SetKnobs(ctx, tt.knobs); err != nil {
				t.Fatal(err)
			}
			if err := s.ResetStats(ctx); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			status, retryAfter, scimType := scimGet(t, ctx, s, tt.path, tt.filter)
			took := time.Since(began)
			switch {
			case tt.status == -5 && status != 500 && status != 503:
				t.Errorf("status %d, want 500 or 503", status)
			case tt.status > 0 && status != tt.status:
				t.Errorf("status %d, want %d", status, tt.status)
			}
			if retryAfter != tt.retryAfter || scimType != tt.scimType {
				t.Errorf("Retry-After %q, scimType %q; want %q, %q", retryAfter, scimType, tt.retryAfter, tt.scimType)
			}
			if took < tt.minDuration {
				t.Errorf("answered in %v, want at least %v", took, tt.minDuration)
			}
			st, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(st) {
				t.Errorf("stats %+v, want %s", st, tt.whatIsCounted)
			}
		})
	}
}

// TestSCIMKnobsAbandoned: a client that gives up while the server waits
// out a latency gets nothing, and the server counts it as abandoned.
func TestSCIMKnobsAbandoned(t *testing.T) {
	s := startSCIMWithKnobs(t, SCIMKnobs{Latency: 2 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/Users", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %s within 200ms despite a 2s latency", resp.Status)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := s.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Abandoned == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want abandoned 1", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSCIMKnobsRefused: the server refuses knobs it does not understand,
// so that a typo does not silently leave a knob off.
func TestSCIMKnobsRefused(t *testing.T) {
	s := SCIMForTest(t)
	for _, k := range []SCIMKnobs{{ThrottleRate: 2}, {RefuseAs: "teapot"}, {Latency: 5 * time.Second, LatencyMax: time.Second}} {
		if err := s.SetKnobs(t.Context(), k); err == nil {
			t.Errorf("SetKnobs(%+v): no error", k)
		}
	}
	if err := s.adminJSON(t.Context(), http.MethodPut, "/_knobs", []byte(`{"latencyMS": 5}`), nil); err == nil {
		t.Error("a misspelt knob: no error")
	}
}

// startSCIMWithKnobs starts a SCIM server with knobs set by its flags.
func startSCIMWithKnobs(t *testing.T, k SCIMKnobs) *SCIM {
	t.Helper()
	s, err := StartSCIM(t.Context(), SCIMOptions{Knobs: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}
