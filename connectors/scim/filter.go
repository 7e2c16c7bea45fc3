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

// matcher is a lookup: the filter forms that ask the server for it, in
// the order they are tried, and the test of each resource the server
// returns. The test runs whether or not the server filtered: a server that
// filters loosely (or not at all, when the client pages through every
// resource) never makes idsync adopt the wrong object.
type matcher[T any] struct {
	attr  string       // the attribute looked up, as the caller named it
	value string       // the value looked up
	forms []filterForm // tried in order; at least one
	keep  func(T) bool
}

// filterForm is one way to ask the server for a lookup.
type filterForm struct {
	name   string // the form without the value, as logs and Describe show it
	filter string // the filter for the value
}

// eqForm is the form `path eq "value"`.
func eqForm(path, value string) filterForm {
	return filterForm{name: path + " eq", filter: path + " eq " + filterValue(value)}
}

// userMatcher builds the lookup of users whose attr (one of the
// connectors.Match constants) equals value: exactly for externalId,
// case-insensitively for userName and emails (caseExact false in RFC 7643
// §4.1).
//
// Email has three filter forms, because servers differ in which they
// take. emails.value eq comes first: RFC 7644 §3.4.2.2 asks for the
// sub-attribute of a complex attribute, most servers take it, and it is
// what idsync always sent, so a server that takes it costs no extra
// request. emails[value eq …] (a value path, in the same grammar) comes
// next: servers with a full filter parser take it even when their
// dotted-path shortcut is limited. emails eq comes last: it leans on the
// implicit "value" sub-attribute (RFC 7644's examples use it), and a
// server that does not know that rule may take it and match nothing, a
// silent miss the stricter forms cannot give.
func userMatcher(attr, value string) (matcher[scimUser], error) {
	want := wireString(value)
	m := matcher[scimUser]{attr: attr, value: value}
	switch attr {
	case connectors.MatchExternalID:
		m.forms = []filterForm{eqForm("externalId", value)}
		m.keep = func(su scimUser) bool { return su.ExternalID == want }
	case connectors.MatchUserName:
		m.forms = []filterForm{eqForm("userName", value)}
		m.keep = func(su scimUser) bool { return strings.EqualFold(su.UserName, want) }
	case connectors.MatchEmail:
		m.forms = []filterForm{
			eqForm("emails.value", value),
			{name: "emails[value eq]", filter: "emails[value eq " + filterValue(value) + "]"},
			eqForm("emails", value),
		}
		m.keep = func(su scimUser) bool {
			return slices.ContainsFunc(su.Emails, func(e multiValue) bool { return strings.EqualFold(e.Value, want) })
		}
	default:
		return matcher[scimUser]{}, fmt.Errorf("unknown match attribute %q", attr)
	}
	return m, nil
}

// groupMatcher builds the lookup of groups by externalId (exact) or
// displayName (case-insensitive, as RFC 7643 §4.2 defines it).
func groupMatcher(attr, value string) (matcher[scimGroup], error) {
	want := wireString(value)
	m := matcher[scimGroup]{attr: attr, value: value}
	switch attr {
	case "externalId":
		m.forms = []filterForm{eqForm("externalId", value)}
		m.keep = func(sg scimGroup) bool { return sg.ExternalID == want }
	case "displayName":
		m.forms = []filterForm{eqForm("displayName", value)}
		m.keep = func(sg scimGroup) bool { return strings.EqualFold(sg.DisplayName, want) }
	default:
		return matcher[scimGroup]{}, fmt.Errorf("unknown match attribute %q", attr)
	}
	return m, nil
}

// memberPath is the PATCH path that selects one member of a group.
func memberPath(id string) string {
	return "members[value eq " + filterValue(id) + "]"
}
