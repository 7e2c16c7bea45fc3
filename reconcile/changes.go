package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/idsync/idsync/connectors"
)

// Kinds and operations of a change event.
const (
	KindUser       = "user"
	KindGroup      = "group"
	KindMembership = "membership"
	// KindAny is a user or a group, with OpDelete only: a source that
	// cannot say which kind an id was (LDAP syncrepl deletions).
	KindAny = "any"

	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Event is one change to apply in real time, as a change webhook delivers
// it. For a user or group, ID is its source ExternalID; for a membership,
// GroupID and UserID are. An upsert without User or Group is read from the
// source, which is the truth; one with them is applied as given.
type Event struct {
	Kind    string            `json:"kind"`
	Op      string            `json:"op"`
	ID      string            `json:"id,omitempty"`
	GroupID string            `json:"groupId,omitempty"`
	UserID  string            `json:"userId,omitempty"`
	User    *connectors.User  `json:"user,omitempty"`
	Group   *connectors.Group `json:"group,omitempty"`
	// SetMembers says that Group.Members is the group's whole membership;
	// otherwise a group upsert leaves members alone.
	SetMembers bool `json:"setMembers,omitempty"`
}

// Key identifies the object an event changes: events with the same key
// must be applied in order; a later one supersedes an earlier one.
func (e Event) Key() string {
	if e.Kind == KindMembership {
		return e.Kind + "/" + e.GroupID + "/" + e.UserID
	}
	return e.Kind + "/" + e.ID
}

// Validate checks an event's shape.
func (e Event) Validate() error {
	switch e.Op {
	case OpUpsert, OpDelete:
	default:
		return fmt.Errorf("op %q: want upsert or delete", e.Op)
	}
	switch e.Kind {
	case KindAny:
		if e.Op != OpDelete {
			return errors.New("kind any: only with op delete")
		}
		if e.ID == "" {
			return errors.New("any event without id")
		}
	case KindUser, KindGroup:
		if e.ID == "" {
			return fmt.Errorf("%s event without id", e.Kind)
		}
	case KindMembership:
		if e.GroupID == "" || e.UserID == "" {
			return errors.New("membership event needs groupId and userId")
		}
	default:
		return fmt.Errorf("kind %q: want user, group, membership or any", e.Kind)
	}
	return nil
}

// What incremental runs tally their users and groups as (Syncer.Tally).
const (
	TallyUsers  = "changes users"
	TallyGroups = "changes groups"
)

// ApplyChangeSet applies what a source reported since a cursor.
func (s *Syncer) ApplyChangeSet(ctx context.Context, cs connectors.ChangeSet) (Result, error) {
	s = s.owned()
	r := s.newIncremental()
	// Users are independent of one another: up to Concurrency at once.
	// Groups come after them, as they name them. A failed object is
	// retried by reading it from the source again: the source is the truth.
	r.concurrently(ctx, len(cs.Users), func(i int) {
		u := cs.Users[i]
		r.one(Event{Kind: KindUser, Op: OpUpsert, ID: u.ExternalID}, func(c *incremental) { c.upsertUser(ctx, u) })
	})
	if err := r.err(); err != nil {
		return Result{}, err
	}
	if s.groups() != nil {
		for _, g := range cs.Groups {
			r.one(Event{Kind: KindGroup, Op: OpUpsert, ID: g.ExternalID}, func(c *incremental) { c.upsertGroup(ctx, g, true) })
			if err := r.err(); err != nil {
				return Result{}, err
			}
		}
	}
	for _, id := range cs.DeletedIDs {
		r.one(Event{Kind: KindAny, Op: OpDelete, ID: id}, func(c *incremental) { c.deleteAny(ctx, id) })
		if err := r.err(); err != nil {
			return Result{}, err
		}
	}
	r.leaveGroups(ctx)
	if err := r.err(); err != nil {
		return Result{}, err
	}
	return r.result(), nil
}

// ApplyEvents applies change events in order. A run of user events for
// distinct users, which cannot depend on one another, is applied up to
// Concurrency at once; a group or membership event waits for every event
// before it, and the events after it wait for it.
func (s *Syncer) ApplyEvents(ctx context.Context, events []Event) (Result, error) {
	s = s.owned()
	r := s.newIncremental()
	for len(events) > 0 {
		run := userRun(events)
		r.concurrently(ctx, run, func(i int) {
			e := events[i]
			if err := e.Validate(); err != nil {
				r.users.fail("event "+e.Key(), permanentf("%v", err))
				return
			}
			r.one(e, func(c *incremental) { c.apply(ctx, e) })
		})
		r.leaveGroups(ctx)
		if err := r.err(); err != nil {
			return Result{}, err
		}
		events = events[run:]
	}
	return r.result(), nil
}

// userRun is the length of the run of user events for distinct users at
// the start of events; 1 when the first event is of another kind.
func userRun(events []Event) int {
	seen := map[string]bool{}
	for i, e := range events {
		if e.Kind != KindUser || seen[e.ID] {
			return max(i, 1)
		}
		seen[e.ID] = true
	}
	return len(events)
}

// concurrently calls fn(0) … fn(n-1), up to Concurrency at once, and
// starts no more after a fatal error.
func (r *incremental) concurrently(ctx context.Context, n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	sem := make(chan struct{}, max(r.o.Concurrency, 1))
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil || r.err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// incremental applies single changes, looking objects up one by one.
type incremental struct {
	s      *Syncer
	o      Options
	users  *tally
	groups *tally
	*runState
}

// runState is what the objects of one run share.
type runState struct {
	mu sync.Mutex // guards ids, left and retry: users apply concurrently
	// adoptMu serialises adoptions (see upsertUser).
	adoptMu sync.Mutex
	ids     map[string]string // user ExternalID → target id, cached per run
	// record is the rule's record of managed users, read when needed.
	record recordLoader
	// left holds the target ids of the users deprovisioned since the
	// last leaveGroups.
	left map[string]bool
	// retry holds what failed, as events that apply it again, in order.
	retry        []Retry
	retryDropped int
	budget       *budget // nil: deprovision without limit
}

func (s *Syncer) newIncremental() *incremental {
	return &incremental{s: s, o: s.opts(), users: s.newTally(KindUser), groups: s.newTally(KindGroup), runState: &runState{ids: map[string]string{}, budget: newBudget(s.Opts.DeprovisionBudget)}}
}

// maxRetry bounds the retry events a result carries (they go into
// workflow history); past it, the rule runs a full resync instead.
const maxRetry = 500

// one applies one object's change with tallies of its own, so that a
// failure is known per object: the object's retry event is kept, to be
// applied again by a later run (a failure that aborts the run is not the
// object's, and the whole run is retried). Conflicts are not retried: a
// collision stays one until either side changes, which brings a change.
func (r *incremental) one(retry Event, fn func(c *incremental)) {
	c := &incremental{s: r.s, o: r.o, users: r.s.newTally(KindUser), groups: r.s.newTally(KindGroup), runState: r.runState}
	fn(c)
	r.users.merge(c.users)
	r.groups.merge(c.groups)
	if r.s.Tally != nil {
		r.s.Tally(TallyUsers, r.users.snapshot())
		r.s.Tally(TallyGroups, r.groups.snapshot())
	}
	// A user reported missing (MissingError) is failed but not retried.
	if c.err() != nil || c.users.counts.Failed+c.groups.counts.Failed-c.users.missing-c.groups.missing == 0 {
		return
	}
	why := append(append([]string(nil), c.users.failures...), c.groups.failures...)
	item := Retry{Event: retry}
	if len(why) > 0 {
		item.Error = why[0]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.retry) < maxRetry {
		r.retry = append(r.retry, item)
	} else {
		r.retryDropped++
	}
}

func (r *incremental) knownID(ext string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.ids[ext]
	return id, ok
}

func (r *incremental) setID(ext, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[ext] = id
}

func (r *incremental) err() error {
	if err := r.users.err(); err != nil {
		return err
	}
	return r.groups.err()
}

func (r *incremental) result() Result {
	res := Result{Users: r.users.counts, Groups: r.groups.counts}
	res.Failures = append(append(res.Failures, r.users.failures...), r.groups.failures...)
	if len(res.Failures) > maxFailureSamples {
		res.Failures = res.Failures[:maxFailureSamples]
	}
	res.addObjects(r.users.objects, r.users.objectsDropped)
	res.ManagedAdded, res.ManagedRemoved = hashes(r.users.added), hashes(r.users.removed)
	res.addObjects(r.groups.objects, r.groups.objectsDropped)
	res.Retry, res.RetryDropped = r.retry, r.retryDropped
	if r.budget != nil {
		res.HeldChanges, res.HeldDropped = r.budget.held, r.budget.lost
	}
	return res
}

func (r *incremental) apply(ctx context.Context, e Event) {
	switch {
	case (e.Kind == KindGroup || e.Kind == KindMembership) && r.s.groups() == nil:
		// The source or the target has no groups: nothing to do.
	case e.Kind == KindUser && e.Op == OpDelete:
		r.deprovisionUser(ctx, e.ID)
	case e.Kind == KindUser:
		u, ok := r.eventUser(ctx, e)
		if ok {
			r.upsertUser(ctx, u)
		}
	case e.Kind == KindGroup && e.Op == OpDelete:
		r.deleteGroup(ctx, e.ID)
	case e.Kind == KindGroup:
		if g, setMembers, ok := r.eventGroup(ctx, e); ok {
			r.upsertGroup(ctx, g, setMembers)
		}
	case e.Kind == KindMembership:
		r.membership(ctx, e)
	case e.Kind == KindAny:
		r.deleteAny(ctx, e.ID)
	}
}

// eventUser is the user an upsert event describes: as given, or read from
// the source. A user the source no longer has is deprovisioned.
func (r *incremental) eventUser(ctx context.Context, e Event) (connectors.User, bool) {
	if e.User != nil {
		u := *e.User
		u.ExternalID = e.ID
		return u, true
	}
	u, found, err := r.s.Source.GetUser(ctx, e.ID)
	if err != nil {
		r.users.fail("read user "+e.ID+" from source", err)
		return u, false
	}
	if !found {
		r.deprovisionUser(ctx, e.ID)
		return u, false
	}
	return u, true
}

func (r *incremental) eventGroup(ctx context.Context, e Event) (connectors.Group, bool, bool) {
	if e.Group != nil {
		g := *e.Group
		g.ExternalID = e.ID
		return g, e.SetMembers, true
	}
	g, found, err := r.s.groupSource().GetGroup(ctx, e.ID)
	if err != nil {
		r.groups.fail("read group "+e.ID+" from source", err)
		return g, false, false
	}
	if !found {
		r.deleteGroup(ctx, e.ID)
		return g, false, false
	}
	return g, true, true
}

func (r *incremental) upsertUser(ctx context.Context, u connectors.User) {
	if uo, ok := r.s.updateOnly(); ok {
		r.writeBackUser(ctx, uo, u)
		return
	}
	cur, found, err := r.s.lookupUser(ctx, u, r.o)
	if err == nil && found && r.s.userRelation(cur) == unmanaged {
		// Adoptions one at a time, each looking again: two source users
		// applied at once that match one unmanaged account must not both
		// adopt it.
		r.adoptMu.Lock()
		defer r.adoptMu.Unlock()
		cur, found, err = r.s.lookupUser(ctx, u, r.o)
	}
	if err != nil {
		r.users.fail("user "+u.ExternalID, err)
		return
	}
	if !found && r.o.OnMissing == MissingReport {
		was, err := r.wasManaged(ctx, u.ExternalID)
		if err != nil {
			r.users.fail("user "+u.ExternalID, err)
			return
		}
		if was {
			r.users.keepManaged(u.ExternalID)
			r.users.fail("user "+u.UserName+" (source id "+u.ExternalID+")",
				missingf("it was deleted in the target behind idsync's back; not created again, as the rule's --on-missing is report"))
			return
		}
	}
	rel := r.s.userRelation(cur)
	switch {
	case !found || ((rel == own || rel == foreign || rel == legacy) && cur.ExternalID != u.ExternalID) || rel == foreign:
		// A match managed for another source id or by another rule (two
		// accounts with one email) is another user, as in a full resync:
		// create. Where the target refuses (a userName taken), createUser
		// says it conflicts.
		r.s.createUser(ctx, r.users, u, r.o)
	case rel == own:
		r.s.updateIfChanged(ctx, r.users, cur, u, r.o)
	default: // unmanaged, or legacy with this source id: adopt or claim
		r.s.adoptUser(ctx, r.users, cur, u, r.o)
	}
	if found && rel != foreign && cur.ExternalID == u.ExternalID {
		r.setID(u.ExternalID, cur.ID)
	}
}

// vanished says whether the target remembers a managed user with this
// source id (connectors.KnownUsers: it listed, created or found it) that
// a lookup by the id no longer finds: deleted in the target behind
// idsync's back, not new at the source. A target without that memory, or
// one opened since, cannot tell the two apart, and the user is created.
// wasManaged says whether a user the target does not have was the
// rule's: in the rule's record, or known to the target connector.
func (r *incremental) wasManaged(ctx context.Context, ext string) (bool, error) {
	if r.vanished(ext) {
		return true, nil
	}
	was, err := r.s.recorded(ctx, &r.record, ext)
	if err != nil {
		return false, fmt.Errorf("read the rule's record of managed users: %w", err)
	}
	return was, nil
}

func (r *incremental) vanished(ext string) bool {
	k, ok := r.s.Target.(connectors.KnownUsers)
	if !ok {
		return false
	}
	_, known := k.KnownUserID(ext)
	return known
}

// targetUserID finds the target id of a managed user; "" when there is none.
func (r *incremental) targetUserID(ctx context.Context, ext string) (string, error) {
	if id, ok := r.knownID(ext); ok {
		return id, nil
	}
	if k, ok := r.s.Target.(connectors.KnownUsers); ok {
		if id, ok := k.KnownUserID(ext); ok {
			r.setID(ext, id)
			return id, nil
		}
	}
	found, err := r.s.Target.LookupUsers(ctx, connectors.MatchExternalID, ext)
	if err != nil {
		return "", fmt.Errorf("look up user %s: %w", ext, err)
	}
	for _, tu := range found {
		if tu.ExternalID == ext {
			r.setID(ext, tu.ID)
			return tu.ID, nil
		}
	}
	return "", nil
}

func (r *incremental) managedGroup(ctx context.Context, ext string) (connectors.TargetGroup, bool, error) {
	found, err := r.s.groups().LookupGroups(ctx, connectors.MatchExternalID, ext)
	if err != nil {
		return connectors.TargetGroup{}, false, fmt.Errorf("look up group %s: %w", ext, err)
	}
	for _, tg := range found {
		if tg.ExternalID == ext {
			return tg, true, nil
		}
	}
	return connectors.TargetGroup{}, false, nil
}

func (r *incremental) upsertGroup(ctx context.Context, g connectors.Group, setMembers bool) {
	var want []string
	managedIDs := map[string]bool{}
	if setMembers {
		for _, m := range g.Members {
			id, err := r.targetUserID(ctx, m)
			if err != nil {
				r.groups.fail("group "+g.ExternalID, err)
				return
			}
			if id != "" {
				want = append(want, id)
			}
		}
		// Managed members are those idsync found by ExternalID: members of
		// the target group that are not managed users are never removed.
		r.mu.Lock()
		for _, id := range r.ids {
			managedIDs[id] = true
		}
		r.mu.Unlock()
	}
	cur, found, err := r.s.lookupGroup(ctx, g)
	if err != nil {
		r.groups.fail("group "+g.ExternalID, err)
		return
	}
	if rel := r.s.groupRelation(cur); found && (rel == foreign || (rel != unmanaged && cur.ExternalID != g.ExternalID)) {
		// A group of the same name managed for another source id is
		// another group, as in a full resync: create. Where the target
		// refuses (unique names), createGroup says it conflicts.
		cur, found = connectors.TargetGroup{}, false
	}
	if setMembers && found {
		// Current members may include managed users not in the source list:
		// learn which of them idsync manages so they can be removed.
		if err := r.learnManaged(ctx, without(cur.MemberIDs, want), managedIDs); err != nil {
			r.groups.fail("group "+g.ExternalID, err)
			return
		}
	}
	if !setMembers {
		want = cur.MemberIDs // leave membership as it is
	}
	switch {
	case !found:
		r.s.createGroup(ctx, r.groups, g, want, managedIDs, r.o)
	case r.s.groupRelation(cur) == own:
		r.s.updateGroup(ctx, r.groups, cur, g, want, managedIDs, r.o)
	default: // unmanaged, or legacy with this source id: adopt or claim
		r.s.adoptGroup(ctx, r.groups, cur, g, want, managedIDs, r.o)
	}
}

func without(ids, drop []string) []string {
	d := make(map[string]bool, len(drop))
	for _, id := range drop {
		d[id] = true
	}
	var out []string
	for _, id := range ids {
		if !d[id] {
			out = append(out, id)
		}
	}
	return out
}

// learnManaged marks which of the given target user ids are the rule's
// own users. It reads each unknown one by id when the target can (the
// cost is that of the members that may leave, not of the target), and
// lists the target's users otherwise.
func (r *incremental) learnManaged(ctx context.Context, ids []string, managed map[string]bool) error {
	if len(ids) == 0 {
		return nil
	}
	known := map[string]bool{}
	r.mu.Lock()
	for _, id := range r.ids {
		known[id] = true
	}
	r.mu.Unlock()
	var unknown []string
	for _, id := range ids {
		if known[id] {
			managed[id] = true
		} else {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	if ur, ok := r.s.userReader(); ok {
		for _, id := range unknown {
			tu, found, err := ur.GetUserByID(ctx, id)
			if err != nil {
				return fmt.Errorf("read member %s: %w", id, err)
			}
			if found && r.s.userRelation(tu) == own {
				r.setID(tu.ExternalID, tu.ID)
				managed[tu.ID] = true
			}
		}
		return nil
	}
	return r.s.Target.ListUsers(ctx, func(tu connectors.TargetUser) error {
		if r.s.userRelation(tu) == own {
			r.setID(tu.ExternalID, tu.ID)
			managed[tu.ID] = true
		}
		return nil
	})
}

func (r *incremental) membership(ctx context.Context, e Event) {
	what := "membership " + e.GroupID + "/" + e.UserID
	tg, found, err := r.managedGroup(ctx, e.GroupID)
	if err != nil {
		r.groups.fail(what, err)
		return
	}
	if !found {
		r.groups.fail(what, permanentf("group %s is not in the target", e.GroupID))
		return
	}
	uid, err := r.targetUserID(ctx, e.UserID)
	if err != nil {
		r.groups.fail(what, err)
		return
	}
	if uid == "" {
		r.groups.fail(what, permanentf("user %s is not in the target", e.UserID))
		return
	}
	var add, remove []string
	if e.Op == OpUpsert {
		add = []string{uid}
	} else {
		remove = []string{uid}
	}
	if !r.o.DryRun {
		if err := r.s.applyMembers(ctx, tg.ID, add, remove); err != nil {
			r.groups.fail(what, err)
			return
		}
	}
	r.groups.did(ActionUpdated, tg.DisplayName, tg.ExternalID)
}

func (r *incremental) deprovisionUser(ctx context.Context, ext string) bool {
	if _, ok := r.s.updateOnly(); ok {
		return false // its records are not idsync's to deprovision
	}
	found, err := r.s.Target.LookupUsers(ctx, connectors.MatchExternalID, ext)
	if err != nil {
		r.users.fail("deprovision user "+ext, err)
		return false
	}
	hit := false
	for _, tu := range found {
		if tu.ExternalID != ext {
			continue
		}
		hit = true
		if r.o.Deprovision == DeprovisionNone {
			r.users.add(func(c *Counts) { c.Kept++ })
			continue
		}
		if !tu.Active {
			r.users.add(func(c *Counts) { c.Unchanged++ })
		} else {
			if !r.budget.take(Event{Kind: KindUser, Op: OpDelete, ID: ext}, tu.UserName) {
				continue // held back for approval: it stays as it is
			}
			if !r.o.DryRun {
				if err := r.s.deprovision(ctx, tu.ID, r.o); err != nil && !errors.Is(err, connectors.ErrNotFound) {
					r.users.fail("deprovision user "+ext, err)
					continue
				}
			}
			r.users.did(ActionDeprovisioned, tu.UserName, ext)
		}
		// Also when it was inactive already: a retried run must finish
		// what a failed one started.
		r.mu.Lock()
		if r.left == nil {
			r.left = map[string]bool{}
		}
		r.left[tu.ID] = true
		r.mu.Unlock()
	}
	return hit
}

// leaveGroups removes the users deprovisioned since its last call from
// every managed target group that has them. A deleted user has left its
// groups, but no group change may say so: LDAP's refint removes a deleted
// entry from its groups without changing them, so Changes reports the
// user's id alone (see connectors/ldap), and a webhook need not send one
// membership event per group. A full resync removes such members by
// comparison; an incremental run must do it here, or it never converges
// with one. Groups idsync does not manage are left alone.
func (r *incremental) leaveGroups(ctx context.Context) {
	r.mu.Lock()
	left := r.left
	r.left = nil
	r.mu.Unlock()
	if len(left) == 0 || r.s.groups() == nil {
		return
	}
	groups, err := r.groupsHolding(ctx, left)
	if err != nil {
		r.groups.fail("find the groups of deprovisioned users", err)
		return
	}
	for _, gid := range slices.Sorted(maps.Keys(groups)) {
		g := groups[gid]
		slices.Sort(g.remove)
		if !r.o.DryRun {
			err := r.s.groups().RemoveMembers(ctx, gid, g.remove)
			if err != nil && !errors.Is(err, connectors.ErrNotFound) {
				r.groups.fail(fmt.Sprintf("remove %d deprovisioned users from group %s", len(g.remove), g.ExternalID), err)
				continue
			}
		}
		r.groups.did(ActionUpdated, g.DisplayName, g.ExternalID)
	}
}

// holding is one of the rule's groups and the users it must lose.
type holding struct {
	connectors.TargetGroup
	remove []string
}

// groupsHolding finds the rule's groups that hold users of left, by
// target group id: asking the target for each user's groups, when it can
// (the cost is that of the users who left), else listing every group.
func (r *incremental) groupsHolding(ctx context.Context, left map[string]bool) (map[string]*holding, error) {
	out := map[string]*holding{}
	note := func(tg connectors.TargetGroup, uid string) {
		if r.s.groupRelation(tg) != own {
			return
		}
		if out[tg.ID] == nil {
			out[tg.ID] = &holding{TargetGroup: tg}
		}
		out[tg.ID].remove = append(out[tg.ID].remove, uid)
	}
	if mo, ok := r.s.memberOf(); ok {
		supported := true
		for _, uid := range slices.Sorted(maps.Keys(left)) {
			groups, err := mo.GroupsOfUser(ctx, uid)
			if errors.Is(err, connectors.ErrLookupUnsupported) {
				supported = false // the target cannot say: list its groups
				break
			}
			if err != nil {
				return nil, err
			}
			for _, tg := range groups {
				note(tg, uid)
			}
		}
		if supported {
			return out, nil
		}
		clear(out)
	}
	err := r.s.groups().ListGroups(ctx, func(tg connectors.TargetGroup) error {
		for _, id := range tg.MemberIDs {
			if left[id] {
				note(tg, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *incremental) deleteGroup(ctx context.Context, ext string) bool {
	tg, found, err := r.managedGroup(ctx, ext)
	if err != nil {
		r.groups.fail("delete group "+ext, err)
		return false
	}
	if !found {
		return false
	}
	if !r.budget.take(Event{Kind: KindGroup, Op: OpDelete, ID: ext}, tg.DisplayName) {
		return true // held back for approval
	}
	if !r.o.DryRun {
		if err := r.s.groups().DeleteGroup(ctx, tg.ID); err != nil && !errors.Is(err, connectors.ErrNotFound) {
			r.groups.fail("delete group "+ext, err)
			return true
		}
	}
	r.groups.did(ActionDeprovisioned, tg.DisplayName, ext)
	return true
}

// deleteAny handles an id whose kind the source did not say.
func (r *incremental) deleteAny(ctx context.Context, ext string) {
	if r.deprovisionUser(ctx, ext) {
		return
	}
	// Not the target's (any more): not the rule's either, should the
	// record still hold it (a user reported missing, now gone at the
	// source too).
	r.users.forget(ext)
	if r.s.groups() != nil {
		r.deleteGroup(ctx, ext)
	}
}
