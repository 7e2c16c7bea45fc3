package workflows

import (
	"bytes"
	"encoding/json"
	"time"

	"go.temporal.io/sdk/workflow"
)

// versionStatusMemo: the rule keeps the key figures that no search
// attribute holds in its memo (StatusMemo). A change id of
// workflow.GetVersion, kept here rather than in names.go's list so that
// this addition stands alone; never rename or remove it while a rule that
// recorded it may replay.
const versionStatusMemo = "status-memo"

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
}

// memoErrorLen bounds the last error in the memo, which every listing of
// rules carries; its end is kept, where the cause is.
const memoErrorLen = 500

func statusMemo(st RuleStatus) StatusMemo {
	lastErr := st.LastError
	if r := []rune(lastErr); len(r) > memoErrorLen {
		lastErr = "…" + string(r[len(r)-memoErrorLen:])
	}
	return StatusMemo{
		ManagedUsers: st.ManagedUsers, ManagedGroups: st.ManagedGroups, PollInterval: st.PollInterval,
		BreakerOpenUntil: st.BreakerOpenUntil, LastError: lastErr, LastErrorClass: st.LastErrorClass,
	}
}

// updateMemo writes the status memo when it changed. Rules that started
// before it existed go on without one until they continue as new.
func (r *rule) updateMemo(st RuleStatus) {
	if workflow.GetVersion(r.ctx, versionStatusMemo, workflow.DefaultVersion, 1) < 1 {
		return
	}
	m := statusMemo(st)
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
