package scim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/idsync/idsync/connectors"
)

// overrides are the settings that overrule what the server advertises.
type overrides struct {
	patch, filter, etag Toggle
	maxResults          int
}

// features is what the connector uses of the service provider: what
// /ServiceProviderConfig advertises, overridden by the settings.
type features struct {
	patch, filter, etag, bulk bool
	maxResults                int // 0: no limit known
	bulkMaxOperations         int
	bulkMaxPayloadSize        int
	// source says where each of patch, filter, etag, bulk and maxResults
	// came from: "advertised", "setting" or "default".
	source map[string]string
	// unusable is why /ServiceProviderConfig could not be used; nil when
	// it was read.
	unusable error
}

// serviceProviderConfig is the part of RFC 7643 §5 the connector uses.
// A feature the server leaves out is nil.
type serviceProviderConfig struct {
	Patch  *struct{ Supported flexBool } `json:"patch"`
	Filter *struct {
		Supported  flexBool
		MaxResults flexInt
	} `json:"filter"`
	ETag *struct{ Supported flexBool } `json:"etag"`
	Bulk *struct {
		Supported      flexBool
		MaxOperations  flexInt
		MaxPayloadSize flexInt
	} `json:"bulk"`
}

func (s *serviceProviderConfig) checkShape() error {
	if s.Patch == nil && s.Filter == nil && s.ETag == nil && s.Bulk == nil {
		return errors.New("not a ServiceProviderConfig: no patch, filter, etag or bulk")
	}
	return nil
}

// flexInt reads a JSON number, or a string holding one.
type flexInt int

func (n *flexInt) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(data), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer: %s", truncate(string(data), 40))
	}
	*n = flexInt(v)
	return nil
}

// features returns what the connector may use, reading
// /ServiceProviderConfig on first use. A missing or unreadable one gives
// the defaults, with one warning; only a failure that may pass (the
// network, a rate limit, no OAuth token) is an error, and the next call
// tries again.
//
// Only one request reads it; the others wait for it, but each no longer
// than its own ctx allows: a slow server must not hold a cancelled lookup.
func (c *scimConnector) features(ctx context.Context) (features, error) {
	if f, ok := c.cachedFeatures(); ok {
		return f, nil
	}
	select {
	case c.discovering <- struct{}{}:
		defer func() { <-c.discovering }()
	case <-ctx.Done():
		return features{}, fmt.Errorf("discover: %w", ctx.Err())
	}
	if f, ok := c.cachedFeatures(); ok { // read while this one waited
		return f, nil
	}
	var spc serviceProviderConfig
	const path = "/ServiceProviderConfig"
	resp, err := c.send(ctx, request{method: http.MethodGet, path: path})
	if err == nil {
		err = c.decode(http.MethodGet, path, resp, &spc)
	}
	if err != nil && !answered(err) {
		return features{}, fmt.Errorf("discover: %w", err)
	}
	if err != nil {
		c.logger.WarnContext(ctx, "no usable /ServiceProviderConfig: assuming PATCH and filters, no ETags; "+
			"the patch, filter and etag settings override this", "error", err)
		spc = serviceProviderConfig{}
	}
	f := resolveFeatures(spc, c.overrides)
	f.unusable = err
	stored := f
	c.discoverMu.Lock()
	c.discovered = &stored
	c.discoverMu.Unlock()
	f.source = maps.Clone(f.source)
	return f, nil
}

// cachedFeatures returns the features once discovery has run. The copy
// has its own source map, so that a later change (noPatch, noFilter)
// does not race with a reader.
func (c *scimConnector) cachedFeatures() (features, bool) {
	c.discoverMu.Lock()
	defer c.discoverMu.Unlock()
	if c.discovered == nil {
		return features{}, false
	}
	f := *c.discovered
	f.source = maps.Clone(f.source)
	return f, true
}

// answered reports whether err is the server's final answer about
// /ServiceProviderConfig (a 4xx or 5xx, or a body that is not one), as
// opposed to a failure that may pass.
func answered(err error) bool {
	var rl *connectors.RateLimitError
	var te *TokenError
	var e *Error
	var me *MalformedError
	switch {
	case errors.As(err, &rl), errors.As(err, &te):
		return false
	case errors.As(err, &e), errors.As(err, &me):
		return true
	}
	return false
}

// resolveFeatures applies the overrides to what spc advertises; what it
// leaves out is the safe default: PATCH and filters yes, ETags and bulk
// no.
func resolveFeatures(spc serviceProviderConfig, o overrides) features {
	f := features{source: map[string]string{}}
	decide := func(name string, t Toggle, advertised *flexBool, def bool) bool {
		switch {
		case t != ToggleAuto && t != "":
			f.source[name] = "setting"
			return t.decide(def)
		case advertised != nil:
			f.source[name] = "advertised"
			return bool(*advertised)
		}
		f.source[name] = "default"
		return def
	}
	var patch, filter, etag, bulk *flexBool
	if spc.Patch != nil {
		patch = &spc.Patch.Supported
	}
	if spc.Filter != nil {
		filter = &spc.Filter.Supported
	}
	if spc.ETag != nil {
		etag = &spc.ETag.Supported
	}
	if spc.Bulk != nil {
		bulk = &spc.Bulk.Supported
		f.bulkMaxOperations = int(spc.Bulk.MaxOperations)
		f.bulkMaxPayloadSize = int(spc.Bulk.MaxPayloadSize)
	}
	f.patch = decide("patch", o.patch, patch, true)
	f.filter = decide("filter", o.filter, filter, true)
	f.etag = decide("etag", o.etag, etag, false)
	f.bulk = decide("bulk", ToggleAuto, bulk, false)
	switch {
	case o.maxResults > 0:
		f.maxResults, f.source["maxResults"] = o.maxResults, "setting"
	case spc.Filter != nil && spc.Filter.MaxResults > 0:
		f.maxResults, f.source["maxResults"] = int(spc.Filter.MaxResults), "advertised"
	default:
		f.source["maxResults"] = "default"
	}
	return f
}

// noPatch records that the server refused a PATCH as a method it does not
// implement, although discovery said it would: the connector uses PUT
// from then on, unless the patch setting insists.
func (c *scimConnector) noPatch(ctx context.Context) {
	if c.overrides.patch == ToggleTrue {
		return
	}
	c.discoverMu.Lock()
	defer c.discoverMu.Unlock()
	if c.discovered != nil && c.discovered.patch {
		c.discovered.patch = false
		c.discovered.source["patch"] = "refused by the server"
		c.logger.WarnContext(ctx, "the server refused PATCH; using PUT from now on (set patch to false to skip the attempt)")
	}
}

// noFilter records that the server answered a filtered list with 501
// (not implemented), although discovery said it filters: lookups page
// through every resource from then on, unless the filter setting
// insists.
func (c *scimConnector) noFilter(ctx context.Context, err error) {
	if c.overrides.filter == ToggleTrue {
		return
	}
	c.discoverMu.Lock()
	defer c.discoverMu.Unlock()
	if c.discovered != nil && c.discovered.filter {
		c.discovered.filter = false
		c.discovered.source["filter"] = "refused by the server"
		c.logger.WarnContext(ctx, "the server does not implement filters; lookups page through at most maxScan resources from now on (set filter to false to skip the attempt)",
			"max_scan", c.maxScan, "error", err)
	}
}

// Describe implements connectors.Describer: what the connector found out
// about the service provider and will use, one line each.
func (c *scimConnector) Describe(ctx context.Context) ([]string, error) {
	f, err := c.features(ctx)
	if err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	lines := []string{c.auth.describe()}
	if f.unusable != nil {
		lines = append(lines, "discovery: /ServiceProviderConfig unusable, defaults assumed: "+truncate(f.unusable.Error(), 120))
	} else {
		lines = append(lines, "discovery: read /ServiceProviderConfig")
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	if f.patch {
		lines = append(lines, fmt.Sprintf("patch: yes (%s): memberships, group renames and disabling by PATCH", f.source["patch"]))
	} else {
		lines = append(lines, fmt.Sprintf("patch: no (%s): memberships, group renames and disabling by GET and PUT", f.source["patch"]))
	}
	if f.filter {
		lines = append(lines, fmt.Sprintf("filter: yes (%s): lookups by filter", f.source["filter"]))
		lines = append(lines, c.describeRefusals())
	} else {
		lines = append(lines, fmt.Sprintf("filter: no (%s): lookups page through every resource, at most maxScan %d", f.source["filter"], c.maxScan))
	}
	if f.etag {
		lines = append(lines, fmt.Sprintf("etag: yes (%s): updates send If-Match", f.source["etag"]))
	} else {
		lines = append(lines, fmt.Sprintf("etag: no (%s)", f.source["etag"]))
	}
	bulk := fmt.Sprintf("bulk: %s (%s)", yes(f.bulk), f.source["bulk"])
	if f.bulk {
		bulk += fmt.Sprintf(", maxOperations %d, maxPayloadSize %d; not used by idsync", f.bulkMaxOperations, f.bulkMaxPayloadSize)
	}
	lines = append(lines, bulk)
	count := c.pageSize
	if f.maxResults > 0 {
		count = min(count, f.maxResults)
		lines = append(lines, fmt.Sprintf("maxResults: %d (%s); pages of %d asked for", f.maxResults, f.source["maxResults"], count))
	} else {
		lines = append(lines, fmt.Sprintf("maxResults: not advertised; pages of %d asked for", count))
	}
	return lines, nil
}

// describeRefusals says which filter forms the server refused so far.
func (c *scimConnector) describeRefusals() string {
	refused := c.refusals.describe()
	if len(refused) == 0 {
		return "filter forms refused: none so far"
	}
	return fmt.Sprintf("filter forms refused: %s; lookups use the next form, else page through at most maxScan %d",
		strings.Join(refused, ", "), c.maxScan)
}
