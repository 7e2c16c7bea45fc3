package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/idsync/idsync/connectors"
)

// parseEqFilter reads a filter of the form `attr eq "json string"`, as a
// SCIM server would (RFC 7644 §3.4.2.2): the value must be one JSON
// string, and nothing may follow it.
func parseEqFilter(f string) (attr, value string, err error) {
	attr, rest, ok := strings.Cut(f, " eq ")
	if !ok || attr == "" || strings.ContainsAny(attr, ` "`) {
		return "", "", fmt.Errorf("not attr eq value: %q", f)
	}
	dec := json.NewDecoder(strings.NewReader(rest))
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", "", fmt.Errorf("value: %w", err)
	}
	s, ok := v.(string)
	if !ok {
		return "", "", fmt.Errorf("value is %T, not a string", v)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", "", fmt.Errorf("text after the value in %q", rest)
	}
	if !strings.HasPrefix(rest, `"`) {
		return "", "", fmt.Errorf("value does not start with a quote: %q", rest)
	}
	return attr, s, nil
}

// unescapedQuote returns the index of the first `"` inside the quoted
// string q (between its first and last byte) that no backslash escapes,
// or -1.
func unescapedQuote(q string) int {
	for i := 1; i < len(q)-1; i++ {
		switch q[i] {
		case '\\':
			i++ // skip the escaped byte
		case '"':
			return i
		}
	}
	return -1
}

// jsonRoundTrip is s as a server holds it after a create that sent s in a
// JSON body.
func jsonRoundTrip(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back string
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

// swapASCIICase swaps the case of ASCII letters only: a change every
// case-insensitive comparison must ignore.
func swapASCIICase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// FuzzFilterValue checks the filter builder and the client-side matching
// on any string. Properties:
//   - filterValue is a JSON string without an unescaped quote or a raw
//     control character, that decodes to the value as a JSON body carries
//     it (the value itself when it is valid UTF-8);
//   - every lookup filter and member path parses back, as a server would
//     parse it, to its attribute and that value;
//   - the client-side match keeps the resource that a create with the value
//     made, keeps it in another ASCII letter case exactly where the
//     attribute is case-insensitive, and drops a longer value.
func FuzzFilterValue(f *testing.F) {
	for _, s := range []string{"", "plain", `O"Brien`, `back\slash`, `\"`, "Zoë", "tab\tnl\n", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		wire := jsonRoundTrip(t, v)
		if utf8.ValidString(v) && wire != v {
			t.Fatalf("JSON changed the valid string %q to %q", v, wire)
		}

		q := filterValue(v)
		if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
			t.Fatalf("filterValue(%q) = %s: not quoted", v, q)
		}
		if i := unescapedQuote(q); i >= 0 {
			t.Fatalf("filterValue(%q) = %s: unescaped quote at %d", v, q, i)
		}
		if strings.ContainsFunc(q, func(r rune) bool { return r < 0x20 }) {
			t.Fatalf("filterValue(%q) = %s: raw control character", v, q)
		}
		if !utf8.ValidString(q) {
			t.Fatalf("filterValue(%q) = %q: not UTF-8", v, q)
		}
		var back string
		if err := json.Unmarshal([]byte(q), &back); err != nil || back != wire {
			t.Fatalf("filterValue(%q) = %s decodes to %q, %v; want %q", v, q, back, err, wire)
		}

		user := scimUser{ID: "1", ExternalID: wire, UserName: wire, Emails: []multiValue{{Value: "x"}, {Value: wire}}}
		group := scimGroup{ID: "1", ExternalID: wire, DisplayName: wire}
		longer := scimUser{ID: "2", ExternalID: wire + "x", UserName: wire + "x", Emails: []multiValue{{Value: wire + "x"}}}
		swapped := swapASCIICase(wire)
		other := scimUser{ID: "3", ExternalID: swapped, UserName: swapped, Emails: []multiValue{{Value: swapped}}}
		for _, attr := range []string{connectors.MatchExternalID, connectors.MatchUserName, connectors.MatchEmail} {
			m, err := userMatcher(attr, v)
			if err != nil {
				t.Fatal(err)
			}
			checkForms(t, m.forms, attr, wire)
			if !m.keep(user) {
				t.Errorf("%s %q: does not keep the user created with it", attr, v)
			}
			if m.keep(longer) {
				t.Errorf("%s %q: keeps a user with a longer value", attr, v)
			}
			caseExact := attr == connectors.MatchExternalID
			if got, want := m.keep(other), !caseExact || swapped == wire; got != want {
				t.Errorf("%s %q: keeps the value in other ASCII case %q: %v, want %v", attr, v, swapped, got, want)
			}
		}
		for _, attr := range []string{"externalId", "displayName"} {
			m, err := groupMatcher(attr, v)
			if err != nil {
				t.Fatal(err)
			}
			checkForms(t, m.forms, attr, wire)
			if !m.keep(group) {
				t.Errorf("group %s %q: does not keep the group created with it", attr, v)
			}
		}

		p := memberPath(v)
		if !strings.HasPrefix(p, "members[") || !strings.HasSuffix(p, "]") {
			t.Fatalf("memberPath(%q) = %s", v, p)
		}
		checkFilter(t, p[len("members["):len(p)-1], "", "value", wire)
	})
}

// checkForms checks every filter form of a lookup by attr: each must ask
// for the value, by its own path.
func checkForms(t *testing.T, forms []filterForm, attr, value string) {
	t.Helper()
	if len(forms) == 0 {
		t.Fatalf("%s: no filter form", attr)
	}
	for _, f := range forms {
		filter, wantAttr := f.filter, strings.TrimSuffix(f.name, " eq")
		if inner, ok := strings.CutPrefix(filter, "emails["); ok && strings.HasSuffix(inner, "]") {
			filter, wantAttr = strings.TrimSuffix(inner, "]"), "value"
		}
		checkFilter(t, filter, wantAttr, attr, value)
	}
}

// checkFilter parses filter and checks its attribute (wantAttr, else
// attr) and value.
func checkFilter(t *testing.T, filter, wantAttr, attr, value string) {
	t.Helper()
	if wantAttr == "" {
		wantAttr = attr
	}
	gotAttr, gotValue, err := parseEqFilter(filter)
	if err != nil {
		t.Fatalf("filter %s: %v", filter, err)
	}
	if gotAttr != wantAttr || gotValue != value {
		t.Fatalf("filter %s parses to %s eq %q, want %s eq %q", filter, gotAttr, gotValue, wantAttr, value)
	}
}

func TestParseEqFilter(t *testing.T) {
	good := map[string][2]string{
		`userName eq "a"`:        {"userName", "a"},
		`userName eq "a\"b"`:     {"userName", `a"b`},
		`emails.value eq "\\"`:   {"emails.value", `\`},
		`userName eq "\u00e9"`:   {"userName", "é"},
		`userName eq ""`:         {"userName", ""},
		`displayName eq "x y z"`: {"displayName", "x y z"},
	}
	for f, want := range good {
		attr, v, err := parseEqFilter(f)
		if err != nil || attr != want[0] || v != want[1] {
			t.Errorf("parseEqFilter(%s) = %s, %q, %v; want %s, %q", f, attr, v, err, want[0], want[1])
		}
	}
	for _, f := range []string{`userName eq "a" or userName eq "b"`, `userName eq "a"b"`, `userName eq a`, `userName eq 1`, `eq "a"`, `userName eq "a`} {
		if _, _, err := parseEqFilter(f); err == nil {
			t.Errorf("parseEqFilter(%s): no error", f)
		}
	}
	if i := unescapedQuote(`"a\"b"`); i != -1 {
		t.Errorf("unescapedQuote: %d for an escaped quote", i)
	}
	if i := unescapedQuote(`"a\\"b"`); i != 4 {
		t.Errorf("unescapedQuote: %d, want 4", i)
	}
}

// TestFuzzSeedsExist guards the seed corpus, which `go test` runs.
func TestFuzzSeedsExist(t *testing.T) {
	entries, err := fuzzSeeds()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 5 {
		t.Errorf("%d seed files in testdata/fuzz/FuzzFilterValue, want the corpus", len(entries))
	}
	for name, b := range entries {
		if !bytes.HasPrefix(b, []byte("go test fuzz v1\nstring(")) {
			t.Errorf("%s: not a string seed", name)
		}
	}
}

// fuzzSeeds reads the seed corpus of FuzzFilterValue.
func fuzzSeeds() (map[string][]byte, error) {
	dir := filepath.Join("testdata", "fuzz", "FuzzFilterValue")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seeds := make(map[string][]byte, len(entries))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		seeds[e.Name()] = b
	}
	return seeds, nil
}
