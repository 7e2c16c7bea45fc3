package scim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/peers"
)

// TestManagerCreatedLater: a user written before its manager exists (the
// source lists reports first) gets its manager as soon as this
// connection creates the manager, not only at the next full sync; an
// update that finds the manager also settles it.
func TestManagerCreatedLater(t *testing.T) {
	c, _ := startTarget(t, nil)
	ctx := t.Context()
	report := fullUser("rep-1", "ada")
	report.Attributes["manager"] = "boss-1"
	other := fullUser("rep-2", "alan")
	other.Attributes["manager"] = "boss-2"
	if _, err := c.CreateUser(ctx, report); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, c, "rep-1").Attributes["manager"]; got != "" {
		t.Fatalf("manager before it exists: %q", got)
	}

	if _, err := c.CreateUser(ctx, fullUser("boss-1", "grace")); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, c, "rep-1").Attributes["manager"]; got != "boss-1" {
		t.Errorf("ada's manager once grace is created: %q, want boss-1", got)
	}
	if got := getUser(t, c, "rep-2").Attributes["manager"]; got != "" {
		t.Errorf("alan waits for another manager, got %q", got)
	}

	// Written again without a manager: no longer waiting for one.
	other.Attributes["manager"] = ""
	if err := c.UpdateUser(ctx, getUser(t, c, "rep-2").ID, other); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, fullUser("boss-2", "edsger")); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, c, "rep-2").Attributes["manager"]; got != "" {
		t.Errorf("alan's manager after it was dropped: %q", got)
	}
}

// TestManagerCreatedDuringCreate: a report's create looked its manager up
// before the manager existed, and the manager was created (and the
// reports waiting for it settled) while the report's POST was still on
// its way: the report still gets its manager, as soon as its own create
// returns. (Against a slow target with several writers at once, one in
// a few hundred users of a Workday initial sync was left without its
// manager until the next full resync.)
func TestManagerCreatedDuringCreate(t *testing.T) {
	srv := peers.SCIMForTest(t)
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	arrived, gate := make(chan struct{}), make(chan struct{})
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Users") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"ada"`)) {
				close(arrived)
				<-gate // the manager is created meanwhile
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	c := openTarget(t, front.URL+target.Path, srv.Token, nil)
	ctx := t.Context()

	report := fullUser("rep-1", "ada")
	report.Attributes["manager"] = "boss-1"
	done := make(chan error, 1)
	go func() {
		_, err := c.CreateUser(ctx, report)
		done <- err
	}()
	<-arrived
	if _, err := c.CreateUser(ctx, fullUser("boss-1", "grace")); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, c, "rep-1").Attributes["manager"]; got != "boss-1" {
		t.Errorf("ada's manager, created while ada's create was under way: %q, want boss-1", got)
	}
}
