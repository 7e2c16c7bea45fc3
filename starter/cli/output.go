package cli

import (
	"encoding/json"
	"time"

	"github.com/idsync/idsync/reconcile"
	"github.com/idsync/idsync/workflows"
)

// The -o json output types. They wrap the workflows' types rather than
// change them: those are in workflow histories, which must stay readable.

// jsonDuration is a duration as -o json writes it: "2m0s", as the flags
// take it, not nanoseconds.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// ruleStatusJSON is a rule's status in -o json. Its fields shadow the
// embedded status's of the same JSON name.
type ruleStatusJSON struct {
	workflows.RuleStatus
	PollInterval jsonDuration `json:"pollInterval"`
	// Settings are the rule's settings in effect; nil when the worker did
	// not report them.
	Settings *ruleSettingsJSON `json:"settings,omitempty"`
	// HideConfig, always nil, hides the status's config, which Settings
	// says better (durations as strings, defaults filled in) and which
	// would not decode back into a RuleStatus in that form.
	HideConfig *struct{} `json:"config,omitempty"`
}

func ruleJSON(st workflows.RuleStatus) ruleStatusJSON {
	out := ruleStatusJSON{RuleStatus: st, PollInterval: jsonDuration(st.PollInterval)}
	if hasSettings(st) {
		s := settingsJSON(st.Config)
		out.Settings = &s
	}
	return out
}

// nonNil is s, or an empty list rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func rulesJSON(sts []workflows.RuleStatus) []ruleStatusJSON {
	out := make([]ruleStatusJSON, len(sts))
	for i, st := range sts {
		// A listing says how rules are; `status RULE` names objects.
		st.RecentObjects = nil
		out[i] = ruleJSON(st)
	}
	return out
}

// connectionStatusJSON is a connection's status in -o json.
type connectionStatusJSON struct {
	ConnectionStatus
	RuleStatuses []ruleStatusJSON `json:"ruleStatuses"`
}

func connectionJSON(cs ConnectionStatus) connectionStatusJSON {
	return connectionStatusJSON{ConnectionStatus: cs, RuleStatuses: rulesJSON(cs.RuleStatuses)}
}

// syncResultJSON is what `sync --wait -o json` prints: the resync's
// workflow, to find it in the Web UI, and not the cursor it hands the
// rule, which is the source's internal position.
type syncResultJSON struct {
	WorkflowID string           `json:"workflowId"`
	Scope      string           `json:"scope"`
	DryRun     bool             `json:"dryRun,omitempty"`
	Result     reconcile.Result `json:"result"`
}

func syncJSON(workflowID string, res workflows.ResyncResult) syncResultJSON {
	return syncResultJSON{WorkflowID: workflowID, Scope: res.Scope, DryRun: res.DryRun, Result: res.Result}
}

// scopeText says what a resync of a scope covers.
var scopeText = map[string]string{
	workflows.ScopeMembers: "users",
	workflows.ScopeGroups:  "groups and memberships",
	workflows.ScopeBoth:    "users, groups and memberships",
}

// startedText is the line `sync` prints when the resync has started.
func startedText(o *SyncOptions, id string) string {
	what := "a full resync"
	if o.Request.DryRun {
		what = "a dry run of a full resync"
	}
	return "started " + what + " of " + o.Rule + " (" + scopeText[o.Request.Scope] + "): " + id
}

// fmtWhen prints a time in UTC, with the zone, as the Web UI shows it.
func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
