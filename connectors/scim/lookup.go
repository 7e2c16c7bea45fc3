package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/idsync/idsync/connectors"
)

// DefaultMaxScan is how many resources a lookup pages through at most
// when the server will not filter by the attribute.
const DefaultMaxScan = 10_000

// lookup calls fn for each resource at path that the server returns for
// m: by the first filter form the server has not refused, else (no form
// left, or the server does not filter at all) for every resource, paged
// through up to maxScan. fn applies m.keep itself.
//
// A form the server refuses (400 invalidFilter or invalidValue, or a
// plain 400, to the filtered request) is remembered for the connector's
// life and never sent again; the next form is tried at once. A 501 turns
// filters off altogether.
func lookup[T any](ctx context.Context, c *scimConnector, path string, m matcher[T], fn func(T) error) error {
	feat, err := c.features(ctx)
	if err != nil {
		return err
	}
	var refused []string // the forms refused, now or before
	for _, form := range m.forms {
		if !feat.filter {
			break
		}
		if !c.refusals.refused(path, form.name) {
			done, err := tryForm(ctx, c, path, m, form, fn)
			if done {
				return err
			}
			if feat, err = c.features(ctx); err != nil { // a 501 turns filters off
				return err
			}
		}
		refused = append(refused, form.name)
	}
	return scan(ctx, c, path, m, scanReason(feat, refused), fn)
}

// tryForm sends one filter form; done is false when the server refused
// it, so that the caller goes on to the next.
func tryForm[T any](ctx context.Context, c *scimConnector, path string, m matcher[T], form filterForm, fn func(T) error) (done bool, err error) {
	delivered := false
	err = list(ctx, c, path, form.filter, func(r T) error { delivered = true; return fn(r) })
	if delivered || !filterRefused(err) {
		return true, err
	}
	if isStatus(err, http.StatusNotImplemented) {
		c.noFilter(ctx, err)
		return false, nil
	}
	if !plainValue(m.value) {
		// The refusal may be about the value rather than the form (a
		// server whose parser chokes on an escaped quote): this lookup
		// goes on without the form, the next one tries it again.
		c.logger.InfoContext(ctx, "the server refused a filter with an unusual value; not using that form for this lookup",
			"path", path, "form", form.name, "error", err)
		return false, nil
	}
	if c.refusals.add(path, form.name, err) {
		c.logger.WarnContext(ctx, "the server refused a filter form; using the next one, else paging through at most maxScan resources",
			"path", path, "form", form.name, "max_scan", c.maxScan, "error", err)
	}
	return false, nil
}

// scanReason says why a lookup pages through every resource.
func scanReason(feat features, refused []string) string {
	if !feat.filter {
		return fmt.Sprintf("the server does not filter (%s)", feat.source["filter"])
	}
	return "the server refused " + strings.Join(refused, ", ")
}

// scan calls fn for every resource at path, unless there are more than
// maxScan of them: then it fails, wrapping connectors.ErrLookupUnsupported,
// before it calls fn at all (or, should resources be added while it
// pages, as soon as it has seen more than maxScan).
func scan[T any](ctx context.Context, c *scimConnector, path string, m matcher[T], why string, fn func(T) error) error {
	c.logger.DebugContext(ctx, "lookup pages through every resource", "path", path, "attribute", m.attr, "reason", why)
	seen := 0
	return listPages(ctx, c, path, "", func(total int, page []T) error {
		seen += len(page)
		if n := max(total, seen); n > c.maxScan {
			return fmt.Errorf("%s, and the %d resources at %s are more than maxScan (%d) to page through for each lookup by %s: %w",
				why, n, path, c.maxScan, m.attr, connectors.ErrLookupUnsupported)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// filterRefused reports whether err says the server cannot filter, or
// not by this form: 501, or a 400 whose scimType is invalidFilter,
// invalidValue or missing (some servers answer a filter they do not
// support with a bare 400).
func filterRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Status == http.StatusNotImplemented {
		return true
	}
	return e.Status == http.StatusBadRequest &&
		(e.SCIMType == "" || strings.EqualFold(e.SCIMType, "invalidFilter") || strings.EqualFold(e.SCIMType, "invalidValue"))
}

// plainValue reports whether v is made of ASCII letters, digits and
// @ . _ - + only: a value no filter parser can stumble on, so that a
// refusal of a filter with it is about the form.
func plainValue(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("@._-+", r):
		default:
			return false
		}
	}
	return true
}

// refusals are the filter forms the server refused, by resource path and
// form name; safe for concurrent use. A connector (pooled up to 15
// minutes) never sends a refused form again.
type refusals struct {
	mu   sync.Mutex
	seen map[string]string // "path form" -> the refusal, for Describe
	keys []string          // in the order learnt
}

func refusalKey(path, form string) string { return path + " " + form }

// add records a refusal; it reports whether it is new.
func (r *refusals) add(path, form string, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := refusalKey(path, form)
	if _, ok := r.seen[k]; ok {
		return false
	}
	if r.seen == nil {
		r.seen = map[string]string{}
	}
	r.seen[k] = refusalSummary(err)
	r.keys = append(r.keys, k)
	return true
}

// refusalSummary is the status and scimType of a refusal, without the
// server's detail, which may quote the value looked up.
func refusalSummary(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return "refused"
	}
	if e.SCIMType != "" {
		return fmt.Sprintf("%d %s", e.Status, e.SCIMType)
	}
	return fmt.Sprintf("%d", e.Status)
}

func (r *refusals) refused(path, form string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.seen[refusalKey(path, form)]
	return ok
}

// describe returns one line per refused form, in the order learnt.
func (r *refusals) describe() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, fmt.Sprintf("%s (%s)", k, r.seen[k]))
	}
	return slices.Clip(out)
}
