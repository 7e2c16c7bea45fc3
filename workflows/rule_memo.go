package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"
)

// versionStatusMemo: the rule keeps the key figures that no search
// attribute holds in its memo (StatusMemo). A change id of
// workflow.GetVersion, kept here rather than in names.go's list so that
// this addition stands alone; never rename or remove it while a rule that
// recorded it may replay.
const versionStatusMemo = "status-memo"

// versionMemoSummary: the status memo has a Summary line.
const versionMemoSummary = "memo-summary"

// MemoKeyStatus is the memo field that holds a rule's StatusMemo.
const MemoKeyStatus = "status"

// StatusMemo is what a rule keeps in its memo so that `starter status`
// can show it when no worker answers the status query: the server holds
// the memo, and lists it with the workflow. Only figures that change
// rarely, so that an idle poll adds no event for it (the last poll's time
// would change every poll).
type StatusMemo struct {
	ManagedUsers     int           `json:"managedUsers"`
	ManagedGroups    int           `json:"managedGroups"`
	PollInterval     time.Duration `json:"pollInterval"`
	BreakerOpenUntil time.Time     `json:"breakerOpenUntil,omitzero"`
	LastError        string        `json:"lastError,omitempty"`
	LastErrorClass   string        `json:"lastErrorClass,omitempty"`
	// Summary says in a line what the rule is and how it is, for the Web
	// UI's Memo panel, which stays across continue-as-new where the
	// summary given at start does not (see metadata.go). Its state leaves
	// out the moments of a poll, which come and go every interval.
	Summary string `json:"summary,omitempty"`
}

// memoErrorLen bounds the last error in the memo, which every listing of
// rules carries; its end is kept, where the cause is.
const memoErrorLen = 500

func statusMemo(st RuleStatus, withSummary bool) StatusMemo {
	lastErr := st.LastError
	if r := []rune(lastErr); len(r) > memoErrorLen {
		lastErr = "…" + string(r[len(r)-memoErrorLen:])
	}
	m := StatusMemo{
		ManagedUsers: st.ManagedUsers, ManagedGroups: st.ManagedGroups, PollInterval: st.PollInterval,
		BreakerOpenUntil: st.BreakerOpenUntil, LastError: lastErr, LastErrorClass: st.LastErrorClass,
	}
	if withSummary {
		m.Summary = memoSummary(st)
	}
	return m
}

func memoSummary(st RuleStatus) string {
	state := st.State
	if state == StatePolling || state == StateApplying {
		state = StateIdle
		if st.ConsecutiveFailures > 0 {
			state = StateFailing
		}
	}
	if st.LastErrorClass != "" && state != StateIdle {
		state += " (" + st.LastErrorClass + ")"
	}
	return fmt.Sprintf("%s · %s (%s) → %s (%s) · managed %d users, %d groups", state,
		st.SourceConnection, st.SourceType, st.TargetConnection, st.TargetType, st.ManagedUsers, st.ManagedGroups)
}

// updateMemo writes the status memo when it changed. Rules that started
// before it existed go on without one until they continue as new.
func (r *rule) updateMemo(st RuleStatus) {
	if workflow.GetVersion(r.ctx, versionStatusMemo, workflow.DefaultVersion, 1) < 1 {
		return
	}
	m := statusMemo(st, workflow.GetVersion(r.ctx, versionMemoSummary, workflow.DefaultVersion, 1) >= 1)
	if p, ok := workflow.GetInfo(r.ctx).Memo.GetFields()[MemoKeyStatus]; ok && sameJSON(p.GetData(), m) {
		return
	}
	if err := workflow.UpsertMemo(r.ctx, map[string]any{MemoKeyStatus: m}); err != nil {
		r.logger.Warn("upsert status memo", "error", err)
	}
}

// sameJSON says whether data is m as JSON, as the memo holds it: compared
// so, since times decoded from it would not compare equal to the state's
// (location, monotonic reading). It is deterministic, though workflowcheck
// cannot tell: a struct of plain fields encodes the same every time.
//
//workflowcheck:ignore
func sameJSON(data []byte, m StatusMemo) bool {
	b, err := json.Marshal(m)
	return err == nil && bytes.Equal(bytes.TrimSpace(data), b)
}
