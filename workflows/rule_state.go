package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/idsync/idsync/activities"
	"github.com/idsync/idsync/reconcile"
)

// RuleState is all the durable state of a rule: the workflow's input and
// its continue-as-new argument. It holds a cursor, counters and buffered
// changes; never a directory.
type RuleState struct {
	Config RuleConfig `json:"config"`
	Paused bool       `json:"paused,omitempty"`
	Cursor string     `json:"cursor,omitempty"`

	ConsecutiveFailures int       `json:"consecutiveFailures,omitempty"`
	BreakerOpenUntil    time.Time `json:"breakerOpenUntil,omitzero"`

	LastPoll       time.Time `json:"lastPoll,omitzero"`
	LastPollResult string    `json:"lastPollResult,omitempty"`
	LastSuccess    time.Time `json:"lastSuccess,omitzero"`
	LastError      string    `json:"lastError,omitempty"`
	// LastErrorClass: see RuleStatus.
	LastErrorClass string    `json:"lastErrorClass,omitempty"`
	NextPoll       time.Time `json:"nextPoll,omitzero"`
	PollNow        bool      `json:"pollNow,omitempty"`
	// CheckSkips is how many more polls skip the change check (a slow
	// source: see rule.nothingChanged).
	CheckSkips int `json:"checkSkips,omitempty"`
	// NextResync is when the next scheduled full resync is due (zero:
	// off, or not yet scheduled).
	NextResync time.Time `json:"nextResync,omitzero"`

	// Totals since the rule was created.
	// (Left out while zero: a new rule's input, which the Web UI shows,
	// would otherwise read as current figures of nothing done.)
	Totals        reconcile.Result `json:"totals,omitzero"`
	ManagedUsers  int              `json:"managedUsers,omitempty"`
	ManagedGroups int              `json:"managedGroups,omitempty"`

	// Pending are real-time changes received and not yet applied, in order.
	Pending []reconcile.Event `json:"pending,omitempty"`
	// PendingBytes is Pending's encoded size (see maxPendingBytes).
	PendingBytes int `json:"pendingBytes,omitempty"`
	// ChangesOverflowed counts real-time changes dropped because more
	// arrived than the rule can keep; a full resync found them again.
	ChangesOverflowed int       `json:"changesOverflowed,omitempty"`
	PendingDue        time.Time `json:"pendingDue,omitzero"`

	// Retrying holds the objects that failed in a poll or a real-time
	// change, to be applied again (rule_retry.go); FailedForGood those
	// that failed every retry.
	Retrying      []RetryEntry `json:"retrying,omitempty"`
	FailedForGood []RetryEntry `json:"failedForGood,omitempty"`

	// Hold is what awaits approval (rule_approval.go); ApprovedHolds and
	// RejectedHolds the fingerprints of held resync sets decided on;
	// ApprovedChanges held changes approved and not yet applied;
	// DeprovisionLog the incremental deprovisions of the sliding window.
	Hold            *Hold             `json:"hold,omitempty"`
	ApprovedHolds   []string          `json:"approvedHolds,omitempty"`
	RejectedHolds   []string          `json:"rejectedHolds,omitempty"`
	ApprovedChanges []reconcile.Event `json:"approvedChanges,omitempty"`
	DeprovisionLog  []DeprovisionMark `json:"deprovisionLog,omitempty"`

	// LegacyClaimed: a complete full resync has claimed the target's
	// objects written before ownership that the source has.
	LegacyClaimed bool `json:"legacyClaimed,omitempty"`

	// SyncQueue holds resyncs asked for and not yet started.
	SyncQueue  []SyncRequest  `json:"syncQueue,omitempty"`
	ResyncSeq  int            `json:"resyncSeq,omitempty"`
	LastResync *ResyncSummary `json:"lastResync,omitempty"`

	// Recent are the objects the rule's last runs named, oldest first
	// (rule_objects.go).
	Recent []RecentObject `json:"recentObjects,omitempty"`

	// Managed is the rule's record of the users it manages in the target
	// (see reconcile.ManagedSet): set by each full users pass, changed by
	// each incremental run; nil until the first full resync that kept one.
	Managed reconcile.ManagedSet `json:"managed,omitzero"`
}

// SyncRequest asks for a full resync.
type SyncRequest struct {
	Scope  string `json:"scope"`
	DryRun bool   `json:"dryRun,omitempty"`
	// AllowMassDeprovision lifts the deprovisioning guard for this run.
	AllowMassDeprovision bool `json:"allowMassDeprovision,omitempty"`
	// Reason is why the resync runs: one of the Reason constants.
	Reason string `json:"reason,omitempty"`
}

// Validate checks a sync request.
func (r SyncRequest) Validate() error {
	switch r.Scope {
	case ScopeMembers, ScopeGroups, ScopeBoth:
		return nil
	}
	return fmt.Errorf("scope %q: want members, groups or both", r.Scope)
}

// SyncResponse answers a sync update.
type SyncResponse struct {
	WorkflowID string `json:"workflowId"`
}

// ResyncSummary is what the rule keeps of its last full resync.
type ResyncSummary struct {
	WorkflowID string           `json:"workflowId"`
	Scope      string           `json:"scope"`
	Reason     string           `json:"reason"`
	DryRun     bool             `json:"dryRun,omitempty"`
	Started    time.Time        `json:"started"`
	Finished   time.Time        `json:"finished,omitzero"`
	Error      string           `json:"error,omitempty"`
	Result     reconcile.Result `json:"result"`
}

// ChangeBatch is the payload of the changes signal.
type ChangeBatch struct {
	Events []reconcile.Event `json:"events"`
}

// ConfigPatch changes some of a rule's settings: a JSON object with the
// keys of RuleConfig to change, the others staying as they are. It is
// applied by decoding it onto the config, so every setting RuleConfig has
// can be patched without a list of fields here.
type ConfigPatch map[string]json.RawMessage

// fixedKeys are the RuleConfig keys a patch may not change: what the rule
// is (its name and connections) and what is decided at creation.
var fixedKeys = []string{"name", "sourceConnection", "targetConnection", "sourceType", "targetType", "cadence", "skipInitialSync"}

// Apply returns c with the patch applied, or an error naming an unknown
// or fixed key, or a value of the wrong type. It is deterministic, though
// workflowcheck cannot tell: the keys are sorted before use, and
// encoding/json writes a map's keys sorted.
//
//workflowcheck:ignore
func (p ConfigPatch) Apply(c RuleConfig) (RuleConfig, error) {
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if slices.Contains(fixedKeys, k) {
			return c, fmt.Errorf("%s cannot be changed; create another rule", k)
		}
		// encoding/json matches keys regardless of case: ask for exact.
		if !slices.Contains(settingKeys, k) {
			return c, fmt.Errorf("rule settings: unknown setting %q", k)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("rule settings: %w", err)
	}
	return c, nil
}

// settingKeys are RuleConfig's JSON keys.
var settingKeys = jsonKeys(reflect.TypeFor[RuleConfig]())

// jsonKeys lists the JSON keys of a struct type, embedded structs' too.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && name == "":
			keys = append(keys, jsonKeys(f.Type)...)
		case name != "" && name != "-" && f.IsExported():
			keys = append(keys, name)
		}
	}
	return keys
}

// Has says whether the patch changes key.
func (p ConfigPatch) Has(key string) bool { _, ok := p[key]; return ok }

// RuleStatus is the answer to the status query.
type RuleStatus struct {
	Name                string        `json:"name"`
	State               string        `json:"state"`
	SourceConnection    string        `json:"sourceConnection"`
	TargetConnection    string        `json:"targetConnection"`
	SourceType          string        `json:"sourceType"`
	TargetType          string        `json:"targetType"`
	PollInterval        time.Duration `json:"pollInterval"`
	LastPoll            time.Time     `json:"lastPoll,omitzero"`
	LastPollResult      string        `json:"lastPollResult,omitempty"`
	LastSuccess         time.Time     `json:"lastSuccess,omitzero"`
	NextPoll            time.Time     `json:"nextPoll,omitzero"`
	NextResync          time.Time     `json:"nextResync,omitzero"`
	ConsecutiveFailures int           `json:"consecutiveFailures"`
	BreakerOpenUntil    time.Time     `json:"breakerOpenUntil,omitzero"`
	LastError           string        `json:"lastError,omitempty"`
	// LastErrorClass is the class of LastError: one of the ErrorClass
	// constants.
	LastErrorClass string `json:"lastErrorClass,omitempty"`
	PendingChanges int    `json:"pendingChanges"`
	// ChangesOverflowed: see RuleState.
	ChangesOverflowed int `json:"changesOverflowed,omitempty"`
	// Retrying and FailedForGood: see RuleState (at most 20 of the
	// retried ones are shown; RetryingCount says how many there are).
	RetryingCount int          `json:"retryingCount,omitempty"`
	Retrying      []RetryEntry `json:"retrying,omitempty"`
	FailedForGood []RetryEntry `json:"failedForGood,omitempty"`
	// Hold is what awaits `starter rule approve` or `reject`.
	Hold          *Hold            `json:"hold,omitempty"`
	ManagedUsers  int              `json:"managedUsers"`
	ManagedGroups int              `json:"managedGroups"`
	Totals        reconcile.Result `json:"totals"`
	ActiveResync  string           `json:"activeResync,omitempty"`
	LastResync    *ResyncSummary   `json:"lastResync,omitempty"`
	// RecentObjects are what the last runs created, updated, adopted,
	// deprovisioned or failed, oldest first (see RuleState.Recent).
	RecentObjects []RecentObject `json:"recentObjects,omitempty"`
	// RecordKept says the rule keeps a record of the users it manages
	// (RuleState.Managed), RecordedUsers how many it holds.
	RecordKept    bool `json:"recordKept,omitempty"`
	RecordedUsers int  `json:"recordedUsers,omitempty"`
	// Config is the rule's settings as given (zero values take the
	// defaults), for `starter rule show`; empty from a worker older than
	// the field.
	Config RuleConfig `json:"config,omitzero"`
}

// UnmarshalJSON reads a status as the status query answers it
// (pollInterval in nanoseconds) and as `starter … -o json` prints it
// ("2m0s"), so that either decodes into RuleStatus. The status is encoded
// as before: update results in histories keep their form.
func (s *RuleStatus) UnmarshalJSON(b []byte) error {
	type plain RuleStatus // without this method
	v := struct {
		*plain
		PollInterval json.RawMessage `json:"pollInterval"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch {
	case len(v.PollInterval) == 0 || string(v.PollInterval) == "null":
		s.PollInterval = 0
	case v.PollInterval[0] == '"':
		var str string
		if err := json.Unmarshal(v.PollInterval, &str); err != nil {
			return fmt.Errorf("rule status: pollInterval: %w", err)
		}
		d, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("rule status: pollInterval: %w", err)
		}
		s.PollInterval = d
	default:
		if err := json.Unmarshal(v.PollInterval, &s.PollInterval); err != nil {
			return fmt.Errorf("rule status: pollInterval: %w", err)
		}
	}
	return nil
}

// spec is what activities need of the rule.
func (c RuleConfig) spec() activities.RuleSpec {
	return activities.RuleSpec{
		Name:             c.Name,
		SourceConnection: c.SourceConnection,
		TargetConnection: c.TargetConnection,
		Policy:           c.Policy,
		// A refused resync holds its deprovisions for approval.
		Decisions: reconcile.Decisions{HoldRefused: true},
	}
}

var errDeleted = errors.New("the rule is being deleted")
