package workflows

import (
	"cmp"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/idsync/idsync/reconcile"
)

// syncState is the state shown in the SyncState search attribute.
func (r *rule) syncState() string {
	switch {
	case r.state.Paused:
		return StatePaused
	case r.child != nil:
		return StateResyncing
	case r.state.Hold != nil:
		return StateAwaitingApproval
	case r.breakerOpen():
		return StateCircuitOpen
	case r.activity != "":
		return r.activity
	case r.truthful && r.state.ConsecutiveFailures > 0:
		// Not healthy, though the breaker is not open yet.
		return StateFailing
	}
	return StateIdle
}

func (r *rule) status() RuleStatus {
	c := r.state.Config
	return RuleStatus{
		Name: c.Name, State: r.syncState(),
		SourceConnection: c.SourceConnection, TargetConnection: c.TargetConnection,
		SourceType: c.SourceType, TargetType: c.TargetType,
		PollInterval:        c.EffectivePollInterval(),
		LastPoll:            r.state.LastPoll,
		LastPollResult:      r.state.LastPollResult,
		LastSuccess:         r.state.LastSuccess,
		NextPoll:            r.nextPollShown(),
		NextResync:          r.state.NextResync,
		ConsecutiveFailures: r.state.ConsecutiveFailures,
		BreakerOpenUntil:    r.state.BreakerOpenUntil,
		LastError:           r.state.LastError,
		LastErrorClass:      r.state.LastErrorClass,
		PendingChanges:      len(r.state.Pending),
		ChangesOverflowed:   r.state.ChangesOverflowed,
		RetryingCount:       len(r.state.Retrying),
		Retrying:            r.state.Retrying[:min(len(r.state.Retrying), 20)],
		FailedForGood:       r.state.FailedForGood,
		Hold:                r.state.Hold,
		ManagedUsers:        r.state.ManagedUsers,
		ManagedGroups:       r.state.ManagedGroups,
		Totals:              r.state.Totals,
		ActiveResync:        r.childID,
		LastResync:          r.state.LastResync,
		RecentObjects:       r.state.Recent,
		RecordKept:          r.state.Managed != nil,
		RecordedUsers:       len(r.state.Managed),
		Config:              c,
	}
}

// updateStatus writes search attributes that changed, and the markdown
// summary the Web UI shows as the workflow's current details.
func (r *rule) updateStatus() {
	st := r.status()
	current := workflow.GetTypedSearchAttributes(r.ctx)
	var updates []temporal.SearchAttributeUpdate
	kw := func(k temporal.SearchAttributeKeyKeyword, v string) {
		if old, ok := current.GetKeyword(k); !ok || old != v {
			updates = append(updates, k.ValueSet(v))
		}
	}
	kw(SAKind, KindRule)
	kw(SASyncState, st.State)
	kw(SASourceConnection, st.SourceConnection)
	kw(SATargetConnection, st.TargetConnection)
	kw(SASourceType, st.SourceType)
	kw(SATargetType, st.TargetType)
	if old, ok := current.GetInt64(SAConsecutiveFailures); !ok || old != int64(st.ConsecutiveFailures) {
		updates = append(updates, SAConsecutiveFailures.ValueSet(int64(st.ConsecutiveFailures)))
	}
	failed := int64(st.Totals.Users.Failed + st.Totals.Groups.Failed)
	if old, ok := current.GetInt64(SAFailedObjects); !ok || old != failed {
		updates = append(updates, SAFailedObjects.ValueSet(failed))
	}
	if !st.LastSuccess.IsZero() {
		if old, ok := current.GetTime(SALastSyncTime); !ok || !old.Equal(st.LastSuccess) {
			updates = append(updates, SALastSyncTime.ValueSet(st.LastSuccess))
		}
	}
	if len(updates) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(r.ctx, updates...); err != nil {
			r.logger.Warn("upsert search attributes", "error", err)
		}
	}
	r.updateMemo(st)
	workflow.SetCurrentDetails(r.ctx, statusMarkdown(st))
}

// statusMarkdown is compact: the Web UI shows it in a small panel (see
// DESIGN.md, decision 6). Its first line says what the rule is and how
// it is at a glance; the counts table follows.
func statusMarkdown(st RuleStatus) string {
	var b strings.Builder
	b.WriteString(glance(st) + "\n\n")
	b.WriteString(countsTable(st.Totals.Users, st.Totals.Groups))
	b.WriteString(fmt.Sprintf("\nManaged: %d users, %d groups · totals since the rule was created\n", st.ManagedUsers, st.ManagedGroups))
	b.WriteString(fmt.Sprintf("\nLast poll: %s %s · next: %s", fmtTime(st.LastPoll), st.LastPollResult, fmtTime(st.NextPoll)))
	if !st.BreakerOpenUntil.IsZero() {
		b.WriteString(fmt.Sprintf(" · breaker open until %s", fmtTime(st.BreakerOpenUntil)))
	}
	if st.PendingChanges > 0 {
		b.WriteString(fmt.Sprintf(" · %d changes pending", st.PendingChanges))
	}
	if st.ChangesOverflowed > 0 {
		b.WriteString(fmt.Sprintf(" · %d real-time changes overflowed into full resyncs", st.ChangesOverflowed))
	}
	if h := st.Hold; h != nil {
		b.WriteString(fmt.Sprintf(" · **deprovisions held for approval**: %s (`starter rule approve|reject %s`)", holdSummary(h), st.Name))
	}
	if st.RetryingCount > 0 {
		b.WriteString(fmt.Sprintf(" · %d failed changes to retry", st.RetryingCount))
	}
	if n := len(st.FailedForGood); n > 0 {
		b.WriteString(fmt.Sprintf(" · %d failed for good", n))
	}
	if st.ActiveResync != "" {
		b.WriteString(fmt.Sprintf(" · resync running: %s", st.ActiveResync))
	}
	if st.LastError != "" {
		b.WriteString(fmt.Sprintf("\n\nLast error (%s): %s", cmp.Or(st.LastErrorClass, ErrorClassOther), st.LastError))
	}
	b.WriteString(objectsMarkdown(st))
	return b.String()
}

// detailsObjects is how many of the recent objects the Web UI's details
// show; `starter status NAME --objects` lists them all.
const detailsObjects = 10

// objectsMarkdown lists the newest objects the rule wrote.
func objectsMarkdown(st RuleStatus) string {
	if len(st.RecentObjects) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(fmt.Sprintf("\n\n**Last objects written** (newest first; all %d kept: `starter status %s --objects`)\n\n",
		len(st.RecentObjects), st.Name))
	b.WriteString("| time | run | action | name | source id |\n|---|---|---|---|---|\n")
	cell := strings.NewReplacer("|", "\\|", "\n", " ")
	shown := 0
	for i := len(st.RecentObjects) - 1; i >= 0 && shown < detailsObjects; i-- {
		o := st.RecentObjects[i]
		action, name := o.Action+" "+o.Kind, o.Name
		if o.More > 0 {
			action, name = fmt.Sprintf("%d more", o.More), "not named"
		}
		if o.Error != "" {
			name += ": " + o.Error
		}
		b.WriteString(fmt.Sprintf("| %s | %s | %s | %s | %s |\n", fmtTime(o.At), o.Run, action,
			cell.Replace(truncate(name, 120)), cell.Replace(o.ID)))
		shown++
	}
	return b.String()
}

// truncate cuts s to n runes.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// glance is a rule's state, what it syncs and its last result, in a line.
func glance(st RuleStatus) string {
	last := cmp.Or(st.LastPollResult, "not polled yet")
	if r := st.LastResync; r != nil && r.Started.After(st.LastPoll) {
		last = "full resync " + cmp.Or(r.Error, "started "+fmtTime(r.Started))
		if r.Error == "" && !r.Finished.IsZero() {
			last = "full resync done " + fmtTime(r.Finished)
		}
	}
	return fmt.Sprintf("**%s** · rule %s · %s (%s) → %s (%s) · last: %s", st.State, st.Name,
		st.SourceConnection, st.SourceType, st.TargetConnection, st.TargetType, truncate(last, 200))
}

func countsTable(users, groups reconcile.Counts) string {
	row := func(name string, c reconcile.Counts) string {
		return fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d |\n",
			name, c.Created, c.Updated, c.Adopted, c.Deprovisioned, c.Unchanged, c.Failed)
	}
	return "| | created | updated | adopted | deprovisioned | unchanged | failed |\n" +
		"|---|---|---|---|---|---|---|\n" + row("users", users) + row("groups", groups)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// maxErrorLen bounds an error a rule keeps: it goes into every status
// answer and continue-as-new input, so a store that answers with a whole
// HTML page must not fill them.
const maxErrorLen = 2048

// boundError keeps an error within maxErrorLen: its head (what was being
// done) and its tail (the cause, which wrapping puts last), never cutting
// a UTF-8 sequence.
func boundError(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	const gap = " … "
	keep := (maxErrorLen - len(gap)) / 2
	head := s[:keep]
	for len(head) > 0 && !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	tail := s[len(s)-keep:]
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return head + gap + tail
}

// nextPollShown is the next poll as status shows it: none while the
// breaker is open or the rule paused, when no poll is due on a timer.
func (r *rule) nextPollShown() time.Time {
	if r.breakerOpen() || r.state.Paused {
		return time.Time{}
	}
	return r.state.NextPoll
}

// holdSummary says in a line what a hold keeps back.
func holdSummary(h *Hold) string {
	var parts []string
	for _, held := range h.Resync {
		parts = append(parts, fmt.Sprintf("%d of %d %s by the last full resync (the guard allows %d)", held.Would, held.Managed, held.Kind, held.Allowed))
	}
	if n := len(h.Changes) + h.ChangesDropped; n > 0 {
		parts = append(parts, fmt.Sprintf("%d by polls and real-time changes", n))
	}
	return strings.Join(parts, "; ")
}
