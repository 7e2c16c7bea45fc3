package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/connectors"
)

// Store is one named, process-wide identity store. Its users and groups
// are kept as a target holds them: an id the store gives (or the source
// id a test put), the fields, and the ExternalID the engine writes to mark
// an object as managed. Read as a source, an object's ExternalID is its id,
// as an LDAP directory's is its entryUUID.
//
// Every method is safe for concurrent use.
type Store struct {
	name string
	// epoch tells this store from an earlier one of the same name (in an
	// earlier process, or dropped and made again), so that a cursor of
	// that one asks for a resync instead of skipping changes.
	epoch string

	mu     sync.Mutex
	users  map[string]connectors.TargetUser
	groups map[string]connectors.TargetGroup
	nextID uint64
	// seq numbers the changes; log holds the latest ones, oldest first,
	// at most logLimit; dropped is the newest seq no longer in the log.
	seq      uint64
	log      []change
	logLimit int
	dropped  uint64
	knobs    Knobs
	failNext []error
	calls    map[string]int
}

// change is one entry of the change log: an object that changed.
type change struct {
	seq   uint64
	group bool
	id    string
}

// DefaultLogLimit is how many changes a store retains for Changes; a
// cursor older than that gets ResyncRequired.
const DefaultLogLimit = 10_000

var (
	storesMu sync.Mutex
	stores   = map[string]*Store{}
	testSeq  atomic.Int64
)

// Named returns the store called name, made empty on first use. Every
// connection of this process naming it shares it.
func Named(name string) *Store {
	storesMu.Lock()
	defer storesMu.Unlock()
	s, ok := stores[name]
	if !ok {
		s = newStore(name)
		stores[name] = s
	}
	return s
}

// Drop forgets the store called name: a later Named makes a new, empty
// one, whose cursors the old one's connections cannot use.
func Drop(name string) {
	storesMu.Lock()
	defer storesMu.Unlock()
	delete(stores, name)
}

// ForTest returns a new store with a name of its own for t, dropped when
// t ends.
func ForTest(t testing.TB) *Store {
	t.Helper()
	name := fmt.Sprintf("%s#%d", t.Name(), testSeq.Add(1))
	Drop(name)
	t.Cleanup(func() { Drop(name) })
	return Named(name)
}

func newStore(name string) *Store {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &Store{
		name: name, epoch: hex.EncodeToString(b),
		users: map[string]connectors.TargetUser{}, groups: map[string]connectors.TargetGroup{},
		logLimit: DefaultLogLimit, calls: map[string]int{},
	}
}

// Name is the store's name, the "store" setting of its connections.
func (s *Store) Name() string { return s.name }

// --- the test API: the source side ---

// PutUser creates or replaces, as a source's administrator would, the
// user whose id is u.ExternalID (required). The ExternalID the engine
// may have written to it (its managed mark) is kept.
func (s *Store) PutUser(u connectors.User) {
	if u.ExternalID == "" {
		panic("memory: PutUser: the user has no ExternalID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := u.ExternalID
	u.ExternalID = s.users[id].ExternalID
	s.users[id] = connectors.TargetUser{ID: id, User: cloneUser(u)}
	s.logChange(false, id)
}

// DeleteUser deletes the user with that id, and its memberships; it
// reports whether there was one.
func (s *Store) DeleteUser(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteUser(id)
}

// PutGroup creates or replaces the group whose id is g.ExternalID
// (required), with g.Members, user ids, as its members. Its managed mark
// is kept.
func (s *Store) PutGroup(g connectors.Group) {
	if g.ExternalID == "" {
		panic("memory: PutGroup: the group has no ExternalID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := g.ExternalID
	s.groups[id] = connectors.TargetGroup{ID: id, ExternalID: s.groups[id].ExternalID, DisplayName: g.DisplayName,
		MemberIDs: dedupe(g.Members)}
	s.logChange(true, id)
}

// DeleteGroup deletes the group with that id; it reports whether there
// was one.
func (s *Store) DeleteGroup(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[id]; !ok {
		return false
	}
	delete(s.groups, id)
	s.logChange(true, id)
	return true
}

// --- the test API: what a target holds ---

// Users returns every user as a target holds it, by id.
func (s *Store) Users() []connectors.TargetUser {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedUsers()
}

// Groups returns every group as a target holds it, by id.
func (s *Store) Groups() []connectors.TargetGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedGroups()
}

// --- the test API: knobs ---

// SetKnobs makes every connection of the store slow and imperfect, on
// top of the knobs of its own settings.
func (s *Store) SetKnobs(k Knobs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.knobs = k.clone()
}

// FailNext makes the next n calls of any connection of the store fail
// with err, after their latency: a *connectors.RateLimitError, an error
// wrapping connectors.ErrRejected, or any other (a transient failure).
func (s *Store) FailNext(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, err)
	}
}

// Calls returns the calls the store's connections made, by method name
// ("CreateUser", "ListUsers", …), since it was made or ResetCalls.
func (s *Store) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls sets the call counts to zero.
func (s *Store) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// SetLogLimit makes the store retain only the latest n changes (at least
// 1): a cursor older than those gets ResyncRequired, as an LDAP server
// whose session log was trimmed answers.
func (s *Store) SetLogLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logLimit = max(n, 1)
	s.trimLog()
}

// --- internals; the caller holds mu ---

func (s *Store) logChange(group bool, id string) {
	s.seq++
	s.log = append(s.log, change{seq: s.seq, group: group, id: id})
	s.trimLog()
}

func (s *Store) trimLog() {
	if n := len(s.log) - s.logLimit; n > 0 {
		s.dropped = s.log[n-1].seq
		s.log = slices.Delete(s.log, 0, n)
	}
}

// newID returns an id no object has, with the prefix.
func (s *Store) newID(prefix string) string {
	for {
		s.nextID++
		id := fmt.Sprintf("%s-%06d", prefix, s.nextID)
		_, u := s.users[id]
		_, g := s.groups[id]
		if !u && !g {
			return id
		}
	}
}

func (s *Store) deleteUser(id string) bool {
	if _, ok := s.users[id]; !ok {
		return false
	}
	delete(s.users, id)
	s.logChange(false, id)
	// As a directory with referential integrity does: the user leaves
	// its groups, and each group changes.
	for gid, g := range s.groups {
		if i := slices.Index(g.MemberIDs, id); i >= 0 {
			g.MemberIDs = slices.Delete(slices.Clone(g.MemberIDs), i, i+1)
			s.groups[gid] = g
			s.logChange(true, gid)
		}
	}
	return true
}

// userNameTaken returns the id of a user other than except whose
// userName equals name, case-insensitively.
func (s *Store) userNameTaken(name, except string) (string, bool) {
	for id, u := range s.users {
		if id != except && strings.EqualFold(u.UserName, name) {
			return id, true
		}
	}
	return "", false
}

func (s *Store) sortedUsers() []connectors.TargetUser {
	out := make([]connectors.TargetUser, 0, len(s.users))
	for _, id := range slices.Sorted(maps.Keys(s.users)) {
		tu := s.users[id]
		tu.User = cloneUser(tu.User)
		out = append(out, tu)
	}
	return out
}

func (s *Store) sortedGroups() []connectors.TargetGroup {
	out := make([]connectors.TargetGroup, 0, len(s.groups))
	for _, id := range slices.Sorted(maps.Keys(s.groups)) {
		out = append(out, cloneGroup(s.groups[id]))
	}
	return out
}

// call counts a call of op and applies the store's knobs and injected
// failures, then those of the connection (k).
func (s *Store) call(ctx context.Context, k *Knobs, op string, write bool) error {
	s.mu.Lock()
	s.calls[op]++
	storeKnobs := s.knobs
	var injected error
	if len(s.failNext) > 0 {
		injected = s.failNext[0]
		s.failNext = s.failNext[1:]
	}
	s.mu.Unlock()
	if err := storeKnobs.apply(ctx, op, write); err != nil {
		return err
	}
	if err := k.apply(ctx, op, write); err != nil {
		return err
	}
	if injected != nil {
		return fmt.Errorf("memory: %s: %w", op, injected)
	}
	return nil
}

func cloneUser(u connectors.User) connectors.User {
	u.Attributes = maps.Clone(u.Attributes)
	for k, v := range u.Attributes {
		if v == "" {
			delete(u.Attributes, k)
		}
	}
	if len(u.Attributes) == 0 {
		u.Attributes = nil
	}
	return u
}

func cloneGroup(g connectors.TargetGroup) connectors.TargetGroup {
	g.MemberIDs = slices.Clone(g.MemberIDs)
	return g
}

// dedupe returns ids without repeats, in their first order.
func dedupe(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
