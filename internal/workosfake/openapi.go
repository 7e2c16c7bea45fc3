package workosfake

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// SpecPath is the WorkOS OpenAPI spec, as `npm ci --prefix
// testdata/workos-openapi` installs it, relative to the module root.
const SpecPath = "testdata/workos-openapi/node_modules/@workos/openapi-spec/open-api-spec.yaml"

var spec struct {
	once sync.Once
	v    validator.Validator
	err  error
}

// specFile is SpecPath from this source file's module root.
func specFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", filepath.FromSlash(SpecPath))
}

// loadSpec builds the validator once per process.
func loadSpec() (validator.Validator, error) {
	spec.once.Do(func() {
		b, err := os.ReadFile(specFile())
		if err != nil {
			spec.err = err
			return
		}
		doc, err := libopenapi.NewDocument(fixSpec(b))
		if err != nil {
			spec.err = fmt.Errorf("parse the WorkOS OpenAPI spec: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			spec.err = fmt.Errorf("build a validator of the WorkOS OpenAPI spec: %v", errs)
			return
		}
		spec.v = v
	})
	return spec.v, spec.err
}

// fixSpec mends what in @workos/openapi-spec 0.1.0 is no valid JSON
// Schema, so that the validator compiles it: DirectoryUserList and
// DirectoryGroupList name list_metadata twice in required, which the
// 2020-12 metaschema forbids (uniqueItems).
func fixSpec(b []byte) []byte {
	dup := regexp.MustCompile(`(?m)^(\s+)- list_metadata\n\s+- list_metadata\n`)
	return dup.ReplaceAll(b, []byte("$1- list_metadata\n"))
}

// SpecTransport wraps next (nil: http.DefaultTransport) so that every
// request that goes through it, and its answer, is validated against the
// WorkOS OpenAPI spec; a violation fails t. Test code points a client at
// the fake through it, so that neither the fake nor the client drifts from
// the real API. Without the spec installed it skips t, or fails t in CI
// (CI=true), where `make deps` must have installed it.
func SpecTransport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	t.Helper()
	v, err := loadSpec()
	if err != nil {
		if os.IsNotExist(err) && os.Getenv("CI") != "true" {
			t.Skipf("the WorkOS OpenAPI spec is not installed (%s); run `npm ci --prefix testdata/workos-openapi`", SpecPath)
		}
		t.Fatalf("the WorkOS OpenAPI spec: %v", err)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &specTransport{t: t, v: v, next: next}
}

type specTransport struct {
	t    testing.TB
	v    validator.Validator
	next http.RoundTripper
	mu   sync.Mutex // the validator is not documented as safe for concurrent use
}

// statusesOutsideSpec are answers the spec does not describe for these
// paths but the API gives (auth failures, throttling, server errors):
// their bodies are not validated.
var statusesOutsideSpec = map[int]bool{401: true, 429: true, 500: true, 502: true, 503: true}

func (s *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	defer s.mu.Unlock()
	var ok bool
	var errs []string
	if statusesOutsideSpec[resp.StatusCode] {
		good, verrs := s.v.ValidateHttpRequest(req)
		ok, errs = good, describe(verrs)
	} else {
		good, verrs := s.v.ValidateHttpRequestResponse(req, &check)
		ok, errs = good, describe(verrs)
	}
	if !ok {
		s.t.Errorf("%s %s (%d) does not follow the WorkOS OpenAPI spec:\n  %s\nbody: %.400s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, strings.Join(errs, "\n  "), body)
	}
	return resp, nil
}

func describe[E interface{ Error() string }](errs []E) []string {
	var out []string
	for _, e := range errs {
		// A oneOf failure lists every branch (over 100 event types):
		// the start says enough.
		msg := e.Error()
		if len(msg) > 1500 {
			msg = msg[:1500] + "…"
		}
		out = append(out, msg)
	}
	return out
}
