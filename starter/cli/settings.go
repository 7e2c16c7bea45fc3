package cli

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// The engine's defaults, as `rule create --help` states them; the
// workflow applies them (workflows.RuleConfig, reconcile.Policy).
var (
	defaultMatch          = []string{"userName", "email"}
	defaultConcurrency    = 4
	defaultMaxDeprovision = 0.2
)

// setting is one of a rule's settings as `rule show` prints it: by the
// flag of `rule update` that changes it.
type setting struct {
	flag, key string
	text      string // the value in effect
	given     bool   // false: the default
}

// hasSettings says whether the worker reported the rule's settings (a
// worker older than RuleStatus.Config does not).
func hasSettings(st workflows.RuleStatus) bool { return st.Config.Name != "" }

// settingsOf lists every setting of c with the value in effect, in the
// order of the flags' help.
func settingsOf(c workflows.RuleConfig) []setting {
	resync := "off"
	if d := c.EffectiveResyncInterval(); d > 0 {
		resync = d.String()
	}
	batch := c.BatchWindow.String()
	if c.BatchWindow <= 0 {
		batch = "0s, at once"
	}
	match := strings.Join(c.MatchAttributes, ",")
	if len(c.MatchAttributes) == 0 {
		match = strings.Join(defaultMatch, ",")
	}
	perHour := "none: the --max-deprovision share"
	if c.MaxDeprovisionPerHour > 0 {
		perHour = strconv.Itoa(c.MaxDeprovisionPerHour)
	}
	deprovision := c.Deprovision
	if deprovision == reconcile.DeprovisionTarget {
		deprovision = "as the target connection is set"
	}
	return []setting{
		{"poll-interval", "pollInterval", c.EffectivePollInterval().String(), c.PollInterval > 0},
		{"resync-interval", "resyncInterval", resync, c.ResyncInterval != 0},
		{"failure-threshold", "failureThreshold", strconv.Itoa(c.EffectiveFailureThreshold()), c.FailureThreshold > 0},
		{"breaker-reset", "breakerReset", c.EffectiveBreakerReset().String(), c.BreakerReset > 0},
		{"batch-window", "batchWindow", batch, c.BatchWindow > 0},
		{"match", "matchAttributes", match, len(c.MatchAttributes) > 0},
		{"concurrency", "concurrency", strconv.Itoa(orDefault(c.Concurrency, defaultConcurrency)), c.Concurrency > 0},
		{"max-deprovision", "maxDeprovisionFraction", strconv.FormatFloat(orDefault(c.MaxDeprovisionFraction, defaultMaxDeprovision), 'g', -1, 64), c.MaxDeprovisionFraction > 0},
		{"max-deprovision-per-hour", "maxDeprovisionPerHour", perHour, c.MaxDeprovisionPerHour > 0},
		{"deprovision", "deprovision", deprovision, c.Deprovision != reconcile.DeprovisionTarget},
		{"on-missing", "onMissing", cmp.Or(c.OnMissing, reconcile.MissingRecreate), c.OnMissing != ""},
		// Given or not at creation; it has no default to speak of.
		{"skip-initial-sync", "skipInitialSync", strconv.FormatBool(c.SkipInitialSync), true},
	}
}

// orDefault is v, or def when v is not positive: a setting left out.
func orDefault[T int | float64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// printSettings prints the rule's settings, one flag a line.
func printSettings(w io.Writer, st workflows.RuleStatus) {
	if !hasSettings(st) {
		fmt.Fprintln(w, "Settings: not reported by the worker (one older than this starter); see `starter rule update --help` for the defaults")
		return
	}
	fmt.Fprintln(w, "Settings (change them with starter rule update NAME --FLAG VALUE):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range settingsOf(st.Config) {
		def := ""
		if !s.given {
			def = " (default)"
		}
		fmt.Fprintf(tw, "  --%s\t%s%s\n", s.flag, s.text, def)
	}
	_ = tw.Flush()
}

// ruleSettingsJSON is the rule's settings in effect, in -o json, by their
// RuleConfig keys.
type ruleSettingsJSON struct {
	PollInterval   jsonDuration `json:"pollInterval"`
	ResyncInterval string       `json:"resyncInterval"` // a duration, or "off"
	// Each of the rest as `rule update` takes it.
	FailureThreshold       int          `json:"failureThreshold"`
	BreakerReset           jsonDuration `json:"breakerReset"`
	BatchWindow            jsonDuration `json:"batchWindow"`
	MatchAttributes        []string     `json:"matchAttributes"`
	Concurrency            int          `json:"concurrency"`
	MaxDeprovisionFraction float64      `json:"maxDeprovisionFraction"`
	MaxDeprovisionPerHour  int          `json:"maxDeprovisionPerHour"` // 0: the fraction applies
	Deprovision            string       `json:"deprovision"`           // "": as the target connection is set
	OnMissing              string       `json:"onMissing"`
	SkipInitialSync        bool         `json:"skipInitialSync"`
	// Defaults are the keys of the settings not given, which have the
	// default values above.
	Defaults []string `json:"defaults"`
}

func settingsJSON(c workflows.RuleConfig) ruleSettingsJSON {
	out := ruleSettingsJSON{
		PollInterval:           jsonDuration(c.EffectivePollInterval()),
		ResyncInterval:         "off",
		FailureThreshold:       c.EffectiveFailureThreshold(),
		BreakerReset:           jsonDuration(c.EffectiveBreakerReset()),
		BatchWindow:            jsonDuration(max(c.BatchWindow, 0)),
		MatchAttributes:        c.MatchAttributes,
		Concurrency:            orDefault(c.Concurrency, defaultConcurrency),
		MaxDeprovisionFraction: orDefault(c.MaxDeprovisionFraction, defaultMaxDeprovision),
		MaxDeprovisionPerHour:  max(c.MaxDeprovisionPerHour, 0),
		Deprovision:            c.Deprovision,
		OnMissing:              cmp.Or(c.OnMissing, reconcile.MissingRecreate),
		SkipInitialSync:        c.SkipInitialSync,
		Defaults:               []string{},
	}
	if d := c.EffectiveResyncInterval(); d > 0 {
		out.ResyncInterval = d.String()
	}
	if len(out.MatchAttributes) == 0 {
		out.MatchAttributes = defaultMatch
	}
	for _, s := range settingsOf(c) {
		if !s.given {
			out.Defaults = append(out.Defaults, s.key)
		}
	}
	return out
}
