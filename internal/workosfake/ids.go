package workosfake

import "time"

// crockford is the ULID alphabet: ids in it sort as their bytes do.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Id prefixes, as WorkOS spells them.
const (
	prefixUser      = "directory_user_"
	prefixGroup     = "directory_group_"
	prefixEvent     = "event_"
	prefixDirectory = "directory_"
	prefixOrg       = "org_"
)

// ulid is a ULID-like id: 10 characters of milliseconds, then 16 of a
// counter instead of randomness, so that ids of one server sort in
// creation order even within a millisecond, as WorkOS's (monotonic ULIDs)
// do within a list [U: WorkOS documents no order of ids; the events list
// is ordered by (created_at, id)].
func ulid(at time.Time, seq uint64) string {
	var b [26]byte
	ms := uint64(at.UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	for i := 25; i >= 10; i-- {
		b[i] = crockford[seq&31]
		seq >>= 5
	}
	return string(b[:])
}

// stamp is the wire form of a time: RFC 3339 in UTC with milliseconds,
// as the spec's examples ("2026-01-15T12:00:00.000Z").
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
