// Package workflows holds idsync's Temporal workflows: one long-lived
// RuleWorkflow per rule, the FullResyncWorkflow it starts as a
// child, and one ConnectionWorkflow per connection, which is where a
// connection's non-secret settings live (Temporal is the system of record).
//
// Workflow code here is deterministic: time comes from workflow.Now, maps
// are iterated in sorted order, concurrency is workflow.Go only, and
// changes go behind workflow.GetVersion. `make lint` runs workflowcheck.
package workflows

// TaskQueue is the task queue of idsync's workflows and activities.
const TaskQueue = "idsync"

// Workflow ID prefixes: a rule named "hr" runs as "rule/hr".
const (
	RuleIDPrefix       = "rule/"
	ConnectionIDPrefix = "connection/"
)

// RuleWorkflowID is the workflow ID of a rule.
func RuleWorkflowID(name string) string { return RuleIDPrefix + name }

// ConnectionWorkflowID is the workflow ID of a connection.
func ConnectionWorkflowID(name string) string { return ConnectionIDPrefix + name }

// Kinds, as written to the IdsyncKind search attribute.
const (
	KindRule       = "rule"
	KindConnection = "connection"
	KindResync     = "resync"
	KindBudget     = "budget"
)

// Signals, queries and updates of the rule workflow.
const (
	// SignalNameChanges carries a ChangeBatch from a change webhook.
	SignalNameChanges = "changes"
	// SignalNamePollNow asks for a poll at once.
	SignalNamePollNow = "poll-now"
	// SignalNameDelete stops the rule for good.
	SignalNameDelete = "delete"

	QueryNameStatus = "status"
	// QueryNameManagedSet answers with the rule's record of the users it
	// manages (reconcile.ManagedSet), which activities read for
	// --on-missing report.
	QueryNameManagedSet = "managed-set"

	UpdateNameSync   = "sync"
	UpdateNamePause  = "pause"
	UpdateNameResume = "resume"
	// UpdateNameConfig changes the rule's settings without restarting it.
	UpdateNameConfig = "config"
	// UpdateNameApprove applies the deprovisions held for approval;
	// UpdateNameReject drops them.
	UpdateNameApprove = "approve"
	UpdateNameReject  = "reject"
)

// Queries, updates and signals of the connection workflow.
const (
	QueryNameConnection = "connection"
	// UpdateNameConnection replaces a connection's settings.
	UpdateNameConnection = "update"
	// SignalNameDeleteConnection ends the connection workflow.
	SignalNameDeleteConnection = "delete"
)

// Sync states, as written to the SyncState search attribute.
const (
	StateIdle        = "idle"
	StatePolling     = "polling"
	StateApplying    = "applying"
	StateResyncing   = "resyncing"
	StateCircuitOpen = "circuit_open"
	StatePaused      = "paused"
	// StateFailing: the last poll (or the first full resync) failed and
	// the breaker is not open yet; ConsecutiveFailures says how many in a
	// row, LastError and LastErrorClass why.
	StateFailing = "failing"
	// StateAwaitingApproval: deprovisions are held for `starter rule
	// approve` or `reject`; creates and updates go on.
	StateAwaitingApproval = "awaiting_approval"
)

// Classes of a rule's last error (RuleStatus.LastErrorClass), from how
// the activities classified it (activities.ErrType*).
const (
	// ErrorClassAuth: the source or target refused the credentials.
	ErrorClassAuth = "auth"
	// ErrorClassNetwork: a store did not answer (refused, reset, timed out).
	ErrorClassNetwork = "network"
	// ErrorClassRateLimit: a store asked to slow down (429).
	ErrorClassRateLimit = "rate_limit"
	// ErrorClassConfig: a connection is missing, or its settings invalid.
	ErrorClassConfig = "config"
	// ErrorClassOther: anything else (a store's 5xx, a refused object).
	ErrorClassOther = "other"
)

// Sync scopes of a full resync: "members" are the users, "groups" the
// groups with their memberships.
const (
	ScopeMembers = "members"
	ScopeGroups  = "groups"
	ScopeBoth    = "both"
)

// Reasons for a full resync (SyncRequest.Reason), as status and the Web
// UI show them.
const (
	// ReasonInitial: the rule's first sync.
	ReasonInitial = "initial"
	// ReasonBreaker: the circuit breaker's reset ran out.
	ReasonBreaker = "breaker"
	// ReasonSource: the source cannot say what changed since the cursor
	// (an expired cookie; a source without a change feed whose listing
	// changed).
	ReasonSource = "source"
	// ReasonManual: `starter sync`.
	ReasonManual = "manual"
	// ReasonScheduled: the drift repair of RuleConfig.ResyncInterval.
	ReasonScheduled = "scheduled"
	// ReasonApproved: an operator approved held deprovisions.
	ReasonApproved = "approved"
	// ReasonRetry: failed changes gave up retrying one by one.
	ReasonRetry = "retry"
	// ReasonOverflow: more real-time changes arrived than the rule can
	// keep; they were dropped, and the resync finds them.
	ReasonOverflow = "overflow"
)

// Change ids of workflow.GetVersion, oldest first. A history that
// recorded one replays only with the code that checks it: never rename or
// remove one while such a history may replay (its rule is still running).
const (
	// versionIdleCheck: check for changes in a local activity before
	// polling.
	versionIdleCheck = "idle-check-local-activity"
	// versionScheduledResync: a full resync on a schedule
	// (RuleConfig.ResyncInterval).
	versionScheduledResync = "scheduled-resync"
	// versionPendingOverflow: real-time changes past maxPendingBytes are
	// dropped for a full resync.
	versionPendingOverflow = "pending-overflow"
	// versionTruthfulState: a failed poll shows the rule failing (a
	// SyncState upsert the older code did not make), a rule without a
	// cursor runs its first resync again (reason initial), and resume
	// closes an open breaker at once.
	versionTruthfulState = "truthful-state"
	// versionSlowCheckSkip: a change check that ran out of checkTimeout
	// is skipped for the next slowCheckSkips polls (RuleState.CheckSkips).
	versionSlowCheckSkip = "slow-check-skip"
)
