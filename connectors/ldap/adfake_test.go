package ldap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// adFake is an LDAP server on loopback that answers as an Active
// Directory domain controller does, from recorded data: searches are
// answered from the entries of the directory as it is (LDIF, binary
// values base64), filters evaluated the way AD evaluates them
// (objectCategory=person names the category's class; tombstones are
// hidden without the Show Deleted control); multi-valued attributes with
// more than maxValRange values come in ranges (member;range=0-1); and
// DirSync searches get the recorded answer for their cookie, or
// unwillingToPerform for a cookie it has no answer for. It implements
// bind, search, unbind and abandon; nothing else.
type adFake struct {
	ln          net.Listener
	nc          string
	bindDN      string
	password    string
	maxValRange int

	mu      sync.Mutex
	entries []*ldap.Entry
	dirSync map[string]adAnswer // by the request cookie, base64
	denied  bool                // DirSync gets insufficientAccessRights
	log     []string            // one line per search: base, filter, controls
}

// adAnswer is a recorded answer to a DirSync search: the entries, then the
// raw response controls of searchResultDone.
type adAnswer struct {
	entries  []*ldap.Entry
	controls []*ber.Packet
}

func newADFake(t *testing.T, nc, bindDN, password string) *adFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &adFake{ln: ln, nc: nc, bindDN: bindDN, password: password, maxValRange: 2, dirSync: map[string]adAnswer{}}
	go f.serve()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *adFake) url() string { return "ldap://" + f.ln.Addr().String() }

// setDirectory replaces the directory with the entries of an LDIF file.
func (f *adFake) setDirectory(t *testing.T, path string) {
	t.Helper()
	recs := readLDIFFile(t, path)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = nil
	for _, r := range recs {
		f.entries = append(f.entries, r.entry)
	}
}

// answerDirSync records the answer to a DirSync search with cookie: the
// LDIF file's entries, and its last record's controls.
func (f *adFake) answerDirSync(t *testing.T, cookie []byte, path string) {
	t.Helper()
	recs := readLDIFFile(t, path)
	var a adAnswer
	for _, r := range recs {
		if r.entry.DN == "" && len(r.controls) > 0 {
			a.controls = r.controls
			continue
		}
		a.entries = append(a.entries, r.entry)
	}
	f.mu.Lock()
	f.dirSync[base64.StdEncoding.EncodeToString(cookie)] = a
	f.mu.Unlock()
}

func (f *adFake) searches() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *adFake) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.handle(c)
	}
}

func (f *adFake) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		p, err := ber.ReadPacket(r)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id := p.Children[0].Value.(int64)
		op := p.Children[1]
		var ctls []*ber.Packet
		if len(p.Children) > 2 {
			ctls = p.Children[2].Children
		}
		var out []*ber.Packet
		switch op.Tag {
		case ldap.ApplicationBindRequest:
			code := uint16(ldap.LDAPResultSuccess)
			if op.Children[1].Data.String() != f.bindDN || op.Children[2].Data.String() != f.password {
				code = ldap.LDAPResultInvalidCredentials
			}
			out = append(out, envelope(id, result(ldap.ApplicationBindResponse, code, "")))
		case ldap.ApplicationSearchRequest:
			out = f.search(id, op, ctls)
		case ldap.ApplicationUnbindRequest:
			return
		case ldap.ApplicationAbandonRequest:
			continue
		default:
			out = append(out, envelope(id, result(ber.Tag(op.Tag+1), ldap.LDAPResultUnwillingToPerform, "not in this fake")))
		}
		for _, o := range out {
			if _, err := c.Write(o.Bytes()); err != nil {
				return
			}
		}
	}
}

// search answers a search request with its entries and searchResultDone.
func (f *adFake) search(id int64, op *ber.Packet, ctls []*ber.Packet) []*ber.Packet {
	base := op.Children[0].Data.String()
	scope := int(op.Children[1].Value.(int64))
	filter := op.Children[6]
	var attrs []string
	for _, a := range op.Children[7].Children {
		attrs = append(attrs, a.Data.String())
	}
	oids, dirSyncCookie := requestControls(ctls)
	fs, _ := ldap.DecompileFilter(filter)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf("base=%q filter=%s controls=%v", base, fs, oids))
	done := func(code uint16, msg string, resp ...*ber.Packet) *ber.Packet {
		return envelope(id, result(ldap.ApplicationSearchResultDone, code, msg), resp...)
	}

	if slices.Contains(oids, ldap.ControlTypeDirSync) {
		if f.denied {
			return []*ber.Packet{done(ldap.LDAPResultInsufficientAccessRights, "00002105: LdapErr: DSID-0C090F78, comment: Error processing control")}
		}
		if !strings.EqualFold(base, f.nc) || scope != ldap.ScopeWholeSubtree {
			return []*ber.Packet{done(ldap.LDAPResultUnwillingToPerform, "DirSync: the base must be a naming context, with subtree scope")}
		}
		a, ok := f.dirSync[base64.StdEncoding.EncodeToString(dirSyncCookie)]
		if !ok {
			return []*ber.Packet{done(ldap.LDAPResultUnwillingToPerform, "00000057: LdapErr: DSID-0C090A5C, comment: Error processing control")}
		}
		var out []*ber.Packet
		for _, e := range a.entries {
			out = append(out, envelope(id, entryPacket(e)))
		}
		return append(out, done(ldap.LDAPResultSuccess, "", a.controls...))
	}

	if base == "" && scope == ldap.ScopeBaseObject {
		root := ldap.NewEntry("", map[string][]string{
			"namingContexts":       {f.nc, "CN=Configuration," + f.nc, "CN=Schema,CN=Configuration," + f.nc},
			"defaultNamingContext": {f.nc},
			"supportedControl":     {ldap.ControlTypePaging, ldap.ControlTypeDirSync, ldap.ControlTypeMicrosoftShowDeleted},
		})
		return []*ber.Packet{envelope(id, entryPacket(selectAttrs(root, attrs, 0))), done(ldap.LDAPResultSuccess, "")}
	}
	baseDN, err := ldap.ParseDN(base)
	if err != nil {
		return []*ber.Packet{done(ldap.LDAPResultInvalidDNSyntax, err.Error())}
	}
	showDeleted := slices.Contains(oids, ldap.ControlTypeMicrosoftShowDeleted)
	var out []*ber.Packet
	found := false
	for _, e := range f.entries {
		dn, _ := ldap.ParseDN(e.DN)
		if dn.EqualFold(baseDN) {
			found = true
		}
		inScope := dn.EqualFold(baseDN) && scope == ldap.ScopeBaseObject ||
			baseDN.AncestorOfFold(dn) && scope == ldap.ScopeWholeSubtree || dn.EqualFold(baseDN) && scope == ldap.ScopeWholeSubtree ||
			scope == ldap.ScopeSingleLevel && len(dn.RDNs) == len(baseDN.RDNs)+1 && baseDN.AncestorOfFold(dn)
		if !inScope || (!showDeleted && strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE")) {
			continue
		}
		ok, err := adMatch(e, filter)
		if err != nil {
			return []*ber.Packet{done(ldap.LDAPResultUnwillingToPerform, err.Error())}
		}
		if ok {
			out = append(out, envelope(id, entryPacket(selectAttrs(e, attrs, f.maxValRange))))
		}
	}
	if !found {
		return []*ber.Packet{done(ldap.LDAPResultNoSuchObject, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)")}
	}
	var resp []*ber.Packet
	if slices.Contains(oids, ldap.ControlTypePaging) {
		resp = append(resp, ldap.NewControlPaging(0).Encode()) // everything in one page: an empty cookie
	}
	return append(out, done(ldap.LDAPResultSuccess, "", resp...))
}

// requestControls returns the OIDs of a request's controls and the
// cookie of its DirSync control.
func requestControls(ctls []*ber.Packet) (oids []string, dirSyncCookie []byte) {
	for _, c := range ctls {
		oid := c.Children[0].Data.String()
		oids = append(oids, oid)
		if oid != ldap.ControlTypeDirSync {
			continue
		}
		v := c.Children[len(c.Children)-1]
		if seq, err := ber.DecodePacketErr(v.Data.Bytes()); err == nil && len(seq.Children) == 3 {
			dirSyncCookie = seq.Children[2].Data.Bytes()
		}
	}
	return oids, dirSyncCookie
}

func envelope(id int64, op *ber.Packet, ctls ...*ber.Packet) *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "messageID"))
	p.AppendChild(op)
	if len(ctls) > 0 {
		c := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, ctl := range ctls {
			c.AppendChild(ctl)
		}
		p.AppendChild(c)
	}
	return p
}

func result(tag ber.Tag, code uint16, msg string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "LDAPResult")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(code), "resultCode"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, msg, "diagnosticMessage"))
	return op
}

func entryPacket(e *ldap.Entry) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "SearchResultEntry")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, e.DN, "objectName"))
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attributes")
	for _, a := range e.Attributes {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attribute")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.Name, "type"))
		vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
		for _, v := range a.ByteValues {
			vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(v), "value"))
		}
		pa.AppendChild(vals)
		attrs.AppendChild(pa)
	}
	op.AppendChild(attrs)
	return op
}

// selectAttrs returns e with the requested attributes only (all for none
// or *; none for 1.1), a multi-valued one above maxValRange values as its
// first range, and a requested range (member;range=2-*) as that range.
func selectAttrs(e *ldap.Entry, attrs []string, maxValRange int) *ldap.Entry {
	out := &ldap.Entry{DN: e.DN}
	all := len(attrs) == 0 || slices.Contains(attrs, "*")
	for _, a := range e.Attributes {
		low, asked := 0, all
		for _, r := range attrs {
			name, lo, _, ranged := parseRange(r)
			if ranged && strings.EqualFold(name, a.Name) {
				low, asked = lo, true
			} else if strings.EqualFold(r, a.Name) {
				asked = true
			}
		}
		if !asked {
			continue
		}
		vals := a.ByteValues
		if maxValRange > 0 && (len(vals) > maxValRange || low > 0) {
			high := min(low+maxValRange, len(vals))
			name := fmt.Sprintf("%s;range=%d-%d", a.Name, low, high-1)
			if high == len(vals) {
				name = fmt.Sprintf("%s;range=%d-*", a.Name, low)
			}
			out.Attributes = append(out.Attributes, &ldap.EntryAttribute{Name: name, ByteValues: vals[low:high]})
			continue
		}
		out.Attributes = append(out.Attributes, &ldap.EntryAttribute{Name: a.Name, ByteValues: vals})
	}
	return out
}

// adMatch evaluates a filter on e as AD does for the items idsync sends:
// and, or, not, equality, presence and substrings.
func adMatch(e *ldap.Entry, f *ber.Packet) (bool, error) {
	switch f.Tag {
	case ldap.FilterAnd, ldap.FilterOr:
		for _, ch := range f.Children {
			ok, err := adMatch(e, ch)
			if err != nil {
				return false, err
			}
			if ok == (f.Tag == ldap.FilterOr) {
				return ok, nil
			}
		}
		return f.Tag == ldap.FilterAnd, nil
	case ldap.FilterNot:
		ok, err := adMatch(e, f.Children[0])
		return !ok, err
	case ldap.FilterPresent:
		return len(e.GetEqualFoldRawAttributeValues(f.Data.String())) > 0, nil
	case ldap.FilterEqualityMatch:
		attr, want := f.Children[0].Data.String(), f.Children[1].Data.Bytes()
		for _, v := range e.GetEqualFoldRawAttributeValues(attr) {
			switch {
			case strings.EqualFold(attr, "objectGUID"):
				if bytes.Equal(v, want) {
					return true, nil
				}
			case strings.EqualFold(attr, "objectCategory"):
				// AD takes a class name for the category's DN.
				dn, err := ldap.ParseDN(string(v))
				if strings.EqualFold(string(v), string(want)) || err == nil && strings.EqualFold(dn.RDNs[0].Attributes[0].Value, string(want)) {
					return true, nil
				}
			default:
				if strings.EqualFold(string(v), string(want)) || dnKey(string(v)) == dnKey(string(want)) {
					return true, nil
				}
			}
		}
		return false, nil
	case ldap.FilterSubstrings:
		attr := f.Children[0].Data.String()
		for _, v := range e.GetEqualFoldAttributeValues(attr) {
			if substringsMatch(strings.ToLower(v), f.Children[1].Children) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("the fake does not evaluate filter item %d", f.Tag)
}

func substringsMatch(v string, parts []*ber.Packet) bool {
	for _, p := range parts {
		s := strings.ToLower(p.Data.String())
		switch p.Tag {
		case ldap.FilterSubstringsInitial:
			if !strings.HasPrefix(v, s) {
				return false
			}
			v = v[len(s):]
		case ldap.FilterSubstringsAny:
			i := strings.Index(v, s)
			if i < 0 {
				return false
			}
			v = v[i+len(s):]
		case ldap.FilterSubstringsFinal:
			if !strings.HasSuffix(v, s) {
				return false
			}
		}
	}
	return true
}

// ldifRecord is an entry read from LDIF, with the controls of its
// "control:" lines (RFC 2849: control: oid [true|false][:: base64]).
type ldifRecord struct {
	entry    *ldap.Entry
	controls []*ber.Packet
}

func readLDIFFile(t *testing.T, path string) []ldifRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readLDIF(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// readLDIF reads content records: comments, folded lines, "attr: value"
// and "attr:: base64", and control lines.
func readLDIF(r io.Reader) ([]ldifRecord, error) {
	var recs []ldifRecord
	var lines []string
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		rec := ldifRecord{entry: &ldap.Entry{}}
		for i, l := range lines {
			name, value, ok := strings.Cut(l, ":")
			if !ok {
				return fmt.Errorf("not an LDIF line: %q", l)
			}
			var raw []byte
			if b64, isB64 := strings.CutPrefix(value, ":"); isB64 {
				var err error
				if raw, err = base64.StdEncoding.DecodeString(strings.TrimSpace(b64)); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			} else {
				raw = []byte(strings.TrimPrefix(value, " "))
			}
			switch {
			case i == 0 && name == "dn":
				rec.entry.DN = string(raw)
			case name == "control":
				ctl, err := controlLine(value)
				if err != nil {
					return err
				}
				rec.controls = append(rec.controls, ctl)
			default:
				addValue(rec.entry, name, raw)
			}
		}
		recs, lines = append(recs, rec), nil
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#"):
		case l == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case strings.HasPrefix(l, " ") && len(lines) > 0:
			lines[len(lines)-1] += l[1:]
		default:
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return recs, flush()
}

func addValue(e *ldap.Entry, name string, raw []byte) {
	for _, a := range e.Attributes {
		if strings.EqualFold(a.Name, name) {
			a.Values, a.ByteValues = append(a.Values, string(raw)), append(a.ByteValues, raw)
			return
		}
	}
	e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: name, Values: []string{string(raw)}, ByteValues: [][]byte{raw}})
}

// controlLine parses " oid [true|false][:: base64 value]" into a control
// packet.
func controlLine(s string) (*ber.Packet, error) {
	spec, b64, hasValue := strings.Cut(s, "::")
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return nil, errors.New("control: no OID")
	}
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, fields[0], "controlType"))
	if len(fields) > 1 {
		crit, err := strconv.ParseBool(fields[1])
		if err != nil {
			return nil, fmt.Errorf("control %s: criticality: %w", fields[0], err)
		}
		p.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, crit, "criticality"))
	}
	if hasValue {
		v, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("control %s: value: %w", fields[0], err)
		}
		p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(v), "controlValue"))
	}
	return p, nil
}
