package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idsync/idsync/internal/scimfake"
	"github.com/idsync/idsync/reconcile"
)

// watchedTarget is a scimfake server served from a listener of its own,
// through a handler that notices the moment a user write has been stored.
// scimfake has no change hook, and polling Users() (a sorted copy of all N
// users) every millisecond would take a core of this 2-core machine away
// from the engine being measured. The handler calls scimfake's ServeHTTP
// in-process: no extra hop, and every request still lands in Requests().
type watchedTarget struct {
	*scimfake.Server
	// URL is the SCIM base URL to give the engine (replaces Server.URL).
	URL string
	ts  *httptest.Server

	mu      sync.Mutex
	waits   map[string]*visible // by the user's externalId
	waiting atomic.Int64
}

// visible is one expected user state: a title.
type visible struct {
	title string
	at    chan time.Time // buffered: the time the target held it
}

func startWatchedTarget() *watchedTarget {
	w := &watchedTarget{Server: scimfake.Start(scimfake.Options{Flavor: scimfake.Generic, Token: scimToken}),
		waits: map[string]*visible{}}
	w.ts = httptest.NewServer(http.HandlerFunc(w.serve))
	// The fake routes by path alone, so its base path works on any listener.
	u, err := url.Parse(w.Server.URL)
	if err != nil {
		panic(err) // scimfake made it
	}
	w.URL = w.ts.URL + u.Path
	return w
}

func (w *watchedTarget) Close() {
	w.ts.Close()
	w.Server.Close()
}

// expect returns a channel that receives the time the target first holds
// the user with externalID with this title, after now.
func (w *watchedTarget) expect(externalID, title string) <-chan time.Time {
	v := &visible{title: title, at: make(chan time.Time, 1)}
	w.mu.Lock()
	if _, dup := w.waits[externalID]; !dup {
		w.waiting.Add(1)
	}
	w.waits[externalID] = v
	w.mu.Unlock()
	return v.at
}

// forget drops the expectations that were not met (after a timeout).
func (w *watchedTarget) forget() {
	w.mu.Lock()
	clear(w.waits)
	w.waiting.Store(0)
	w.mu.Unlock()
}

// capture keeps a copy of a response's status and body.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(p)
	return c.ResponseWriter.Write(p)
}

func (w *watchedTarget) serve(rw http.ResponseWriter, r *http.Request) {
	// Reads change nothing, and with nobody waiting there is nothing to
	// notice: serve them as they are (the full resyncs write N users).
	if w.waiting.Load() == 0 || r.Method == http.MethodGet || !strings.Contains(r.URL.Path, "/Users") {
		w.Server.ServeHTTP(rw, r)
		return
	}
	c := &capture{ResponseWriter: rw}
	w.Server.ServeHTTP(c, r)
	// The fake stored the write before it encoded the answer: by now the
	// user is visible to any reader. (PATCH and PUT answer with the
	// resource: scimfake.Options.PatchNoContent is off.)
	at := time.Now()
	if c.status/100 != 2 {
		return
	}
	var u struct {
		ExternalID string `json:"externalId"`
		Title      string `json:"title"`
	}
	if json.Unmarshal(c.body.Bytes(), &u) != nil || u.ExternalID == "" {
		return
	}
	// Rules write "<rule>/<source id>" (reconcile/owner.go).
	_, ext := reconcile.SplitExternalID(u.ExternalID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if v, ok := w.waits[ext]; ok && v.title == u.Title {
		v.at <- at
		delete(w.waits, ext)
		w.waiting.Add(-1)
	}
}
