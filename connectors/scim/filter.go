package scim

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/idsync/idsync/connectors"
)

// filterValue quotes s as a SCIM filter string: a JSON string, so that
// `"` and `\` (and control characters) are escaped (RFC 7644 §3.4.2.2).
// Bytes that are not UTF-8 become U+FFFD, one per byte, as encoding/json
// writes them: the filter then asks for the value that a create with the
// same string stored.
func filterValue(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s { // an invalid byte ranges as utf8.RuneError
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// wireString returns s as it reaches the server in a JSON body: each byte
// that is not part of a valid UTF-8 sequence replaced by U+FFFD.
func wireString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// matcher is a lookup: the filter that asks the server for it, and the
// test of each resource the server returns. The test runs whether or not
// the server filtered: a server that filters loosely (or not at all, when
// the client pages through every resource) never makes idsync adopt the
// wrong object.
type matcher[T any] struct {
	filter string
	keep   func(T) bool
}

// userMatcher builds the lookup of users whose attr (one of the
// connectors.Match constants) equals value: exactly for externalId,
// case-insensitively for userName and emails (caseExact false in RFC 7643
// §4.1).
func userMatcher(attr, value string) (matcher[scimUser], error) {
	want := wireString(value)
	switch attr {
	case connectors.MatchExternalID:
		return matcher[scimUser]{
			filter: "externalId eq " + filterValue(value),
			keep:   func(su scimUser) bool { return su.ExternalID == want },
		}, nil
	case connectors.MatchUserName:
		return matcher[scimUser]{
			filter: "userName eq " + filterValue(value),
			keep:   func(su scimUser) bool { return strings.EqualFold(su.UserName, want) },
		}, nil
	case connectors.MatchEmail:
		return matcher[scimUser]{
			filter: "emails.value eq " + filterValue(value),
			keep: func(su scimUser) bool {
				return slices.ContainsFunc(su.Emails, func(e multiValue) bool { return strings.EqualFold(e.Value, want) })
			},
		}, nil
	}
	return matcher[scimUser]{}, fmt.Errorf("unknown match attribute %q", attr)
}

// groupMatcher builds the lookup of groups by externalId (exact) or
// displayName (case-insensitive, as RFC 7643 §4.2 defines it).
func groupMatcher(attr, value string) (matcher[scimGroup], error) {
	want := wireString(value)
	switch attr {
	case "externalId":
		return matcher[scimGroup]{
			filter: "externalId eq " + filterValue(value),
			keep:   func(sg scimGroup) bool { return sg.ExternalID == want },
		}, nil
	case "displayName":
		return matcher[scimGroup]{
			filter: "displayName eq " + filterValue(value),
			keep:   func(sg scimGroup) bool { return strings.EqualFold(sg.DisplayName, want) },
		}, nil
	}
	return matcher[scimGroup]{}, fmt.Errorf("unknown match attribute %q", attr)
}

// memberPath is the PATCH path that selects one member of a group.
func memberPath(id string) string {
	return "members[value eq " + filterValue(id) + "]"
}
