package scimfake

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const benchClients = 4

// runClients sends b.N requests over loopback from benchClients
// goroutines sharing one keep-alive transport; req builds request i.
func runClients(b *testing.B, want int, req func(i int64) *http.Request) {
	b.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	defer hc.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range benchClients {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				resp, err := hc.Do(req(i))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					b.Errorf("request %d: status %d", i, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkCreateUsers is the raw create rate of the fake: POST /Users
// over loopback from 4 concurrent clients (issue 5's baseline).
func BenchmarkCreateUsers(b *testing.B) {
	s := Start(Options{Token: "bench"})
	defer s.Close()
	runClients(b, http.StatusCreated, func(i int64) *http.Request {
		body := fmt.Sprintf(`{"schemas":["%s"],"userName":"user%d@example.com","externalId":"ext-%d",`+
			`"name":{"givenName":"Given%d","familyName":"Family"},"displayName":"Given%d Family",`+
			`"emails":[{"value":"user%d@example.com","type":"work","primary":true}],"active":true}`,
			SchemaUser, i, i, i, i, i)
		req, _ := http.NewRequest("POST", s.URL+"/Users", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench")
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("Accept", "application/scim+json")
		return req
	})
	s.store.mu.RLock()
	n := len(s.store.users)
	s.store.mu.RUnlock()
	if n != b.N {
		b.Errorf("%d users stored, want %d", n, b.N)
	}
}

// BenchmarkFilterUserName is GET /Users?filter=userName eq "…" against
// 100,000 users: the lookup a reconciler makes before adopting.
func BenchmarkFilterUserName(b *testing.B) {
	const n = 100_000
	s := Start(Options{Token: "bench"})
	defer s.Close()
	users := make([]User, n)
	for i := range users {
		users[i] = User{UserName: fmt.Sprintf("user%d@example.com", i), ExternalID: fmt.Sprintf("ext-%d", i), Active: true}
	}
	s.Seed(users, nil)
	runClients(b, http.StatusOK, func(i int64) *http.Request {
		q := url.QueryEscape(fmt.Sprintf(`userName eq "USER%d@example.com"`, i%n))
		req, _ := http.NewRequest("GET", s.URL+"/Users?filter="+q, nil)
		req.Header.Set("Authorization", "Bearer bench")
		return req
	})
	if s.store.scans.Load() != 0 {
		b.Error("userName eq scanned")
	}
}
