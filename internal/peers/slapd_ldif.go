package peers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ldifRecord is one LDIF record (RFC 2849): an entry, or a change.
type ldifRecord struct {
	dn         string
	changeType string     // "" for a content record
	attrs      []ldifLine // content and add records
	mods       []ldifMod  // modify records
	// modrdn and moddn records
	newRDN       string
	deleteOldRDN bool
	newSuperior  string
}

type ldifLine struct{ name, value string }

type ldifMod struct {
	op     string // add, replace, delete
	attr   string
	values []string
}

// parseLDIF parses the subset of LDIF the tests and the dev tool write:
// content records and change records (add, delete, modify, modrdn, moddn),
// "attr: value" and base64 "attr:: value" lines, continuation lines and
// comments. Values may be UTF-8 without base64.
func parseLDIF(text string) ([]ldifRecord, error) {
	var recs []ldifRecord
	for _, block := range ldifBlocks(text) {
		r, err := parseLDIFRecord(block)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil, errors.New("ldif: no records")
	}
	return recs, nil
}

// ldifBlocks splits text into records of unfolded lines, without comments.
func ldifBlocks(text string) [][]string {
	var blocks [][]string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, cur)
			cur = nil
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, " ") && len(cur) > 0:
			cur[len(cur)-1] += line[1:]
		default:
			cur = append(cur, line)
		}
	}
	flush()
	// Drop a leading "version: 1" record line.
	if len(blocks) > 0 && strings.HasPrefix(blocks[0][0], "version:") {
		blocks[0] = blocks[0][1:]
		if len(blocks[0]) == 0 {
			blocks = blocks[1:]
		}
	}
	return blocks
}

func parseLDIFLine(line string) (ldifLine, error) {
	if strings.TrimSpace(line) == "-" {
		return ldifLine{name: "-"}, nil
	}
	name, rest, ok := strings.Cut(line, ":")
	if !ok {
		return ldifLine{}, fmt.Errorf("ldif: line %q: want attr: value", line)
	}
	if strings.HasPrefix(rest, ":") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest[1:]))
		if err != nil {
			return ldifLine{}, fmt.Errorf("ldif: line %q: %w", line, err)
		}
		return ldifLine{name, string(b)}, nil
	}
	if strings.HasPrefix(rest, "<") {
		return ldifLine{}, fmt.Errorf("ldif: line %q: URL values are not supported", line)
	}
	return ldifLine{name, strings.TrimLeft(rest, " ")}, nil
}

func parseLDIFRecord(lines []string) (ldifRecord, error) {
	var r ldifRecord
	parsed := make([]ldifLine, 0, len(lines))
	for _, l := range lines {
		pl, err := parseLDIFLine(l)
		if err != nil {
			return r, err
		}
		parsed = append(parsed, pl)
	}
	if !strings.EqualFold(parsed[0].name, "dn") {
		return r, fmt.Errorf("ldif: record starts with %q, want dn", parsed[0].name)
	}
	r.dn = parsed[0].value
	rest := parsed[1:]
	if len(rest) > 0 && strings.EqualFold(rest[0].name, "changetype") {
		r.changeType = strings.ToLower(rest[0].value)
		rest = rest[1:]
	}
	switch r.changeType {
	case "", "add":
		r.attrs = rest
	case "delete":
	case "modify":
		mods, err := parseLDIFMods(rest)
		if err != nil {
			return r, fmt.Errorf("ldif: %s: %w", r.dn, err)
		}
		r.mods = mods
	case "modrdn", "moddn":
		for _, l := range rest {
			switch strings.ToLower(l.name) {
			case "newrdn":
				r.newRDN = l.value
			case "deleteoldrdn":
				r.deleteOldRDN = l.value == "1"
			case "newsuperior":
				r.newSuperior = l.value
			default:
				return r, fmt.Errorf("ldif: %s: unexpected %q in a modrdn", r.dn, l.name)
			}
		}
	default:
		return r, fmt.Errorf("ldif: %s: unknown changetype %q", r.dn, r.changeType)
	}
	return r, nil
}

func parseLDIFMods(lines []ldifLine) ([]ldifMod, error) {
	var mods []ldifMod
	var cur *ldifMod
	for _, l := range lines {
		switch {
		case l.name == "-":
			cur = nil
		case cur == nil:
			op := strings.ToLower(l.name)
			if op != "add" && op != "replace" && op != "delete" {
				return nil, fmt.Errorf("want add:, replace: or delete:, got %q", l.name)
			}
			mods = append(mods, ldifMod{op: op, attr: l.value})
			cur = &mods[len(mods)-1]
		case strings.EqualFold(l.name, cur.attr):
			cur.values = append(cur.values, l.value)
		default:
			return nil, fmt.Errorf("attribute %q inside a %s: %s block", l.name, cur.op, cur.attr)
		}
	}
	return mods, nil
}

func (r ldifRecord) addRequest() *ldap.AddRequest {
	req := ldap.NewAddRequest(r.dn, nil)
	var order []string
	vals := map[string][]string{}
	for _, a := range r.attrs {
		k := strings.ToLower(a.name)
		if _, ok := vals[k]; !ok {
			order = append(order, a.name)
		}
		vals[k] = append(vals[k], a.value)
	}
	for _, name := range order {
		req.Attribute(name, vals[strings.ToLower(name)])
	}
	return req
}

// apply performs a change record.
func (r ldifRecord) apply(conn *ldap.Conn) error {
	switch r.changeType {
	case "add":
		return conn.Add(r.addRequest())
	case "delete":
		return conn.Del(ldap.NewDelRequest(r.dn, nil))
	case "modrdn", "moddn":
		return conn.ModifyDN(ldap.NewModifyDNRequest(r.dn, r.newRDN, r.deleteOldRDN, r.newSuperior))
	case "modify":
		req := ldap.NewModifyRequest(r.dn, nil)
		for _, m := range r.mods {
			switch m.op {
			case "add":
				req.Add(m.attr, m.values)
			case "replace":
				req.Replace(m.attr, m.values)
			case "delete":
				req.Delete(m.attr, m.values)
			}
		}
		return conn.Modify(req)
	default:
		return errors.New("record has no changetype (use Add for entries)")
	}
}

// directory applies LDIF to a test server over connections from dial:
// the helpers slapd and 389-ds share.
type directory struct {
	name string // for errors
	dial func(ctx context.Context) (*ldap.Conn, error)
}

func (d directory) add(ctx context.Context, ldif string) error {
	recs, err := parseLDIF(ldif)
	if err != nil {
		return fmt.Errorf("%s: add: %w", d.name, err)
	}
	return d.withConn(ctx, func(conn *ldap.Conn) error {
		for _, r := range recs {
			if r.changeType != "" && r.changeType != "add" {
				return fmt.Errorf("%s: add: record %s has changetype %s; use Modify", d.name, r.dn, r.changeType)
			}
			if err := conn.Add(r.addRequest()); err != nil {
				return fmt.Errorf("%s: add %s: %w", d.name, r.dn, err)
			}
		}
		return nil
	})
}

// ensure adds the entries that do not exist yet.
func (d directory) ensure(ctx context.Context, ldif string) error {
	recs, err := parseLDIF(ldif)
	if err != nil {
		return fmt.Errorf("%s: base entries: %w", d.name, err)
	}
	return d.withConn(ctx, func(conn *ldap.Conn) error {
		for _, r := range recs {
			err := conn.Add(r.addRequest())
			if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
				return fmt.Errorf("%s: add %s: %w", d.name, r.dn, err)
			}
		}
		return nil
	})
}

func (d directory) modify(ctx context.Context, ldif string) error {
	recs, err := parseLDIF(ldif)
	if err != nil {
		return fmt.Errorf("%s: modify: %w", d.name, err)
	}
	return d.withConn(ctx, func(conn *ldap.Conn) error {
		for _, r := range recs {
			if err := r.apply(conn); err != nil {
				return fmt.Errorf("%s: %s %s: %w", d.name, r.changeType, r.dn, err)
			}
		}
		return nil
	})
}

func (d directory) delete(ctx context.Context, dns ...string) error {
	return d.withConn(ctx, func(conn *ldap.Conn) error {
		for _, dn := range dns {
			if err := conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
				return fmt.Errorf("%s: delete %s: %w", d.name, dn, err)
			}
		}
		return nil
	})
}

// attr reads one attribute of one entry.
func (d directory) attr(ctx context.Context, dn, attr string) (string, error) {
	var v string
	err := d.withConn(ctx, func(conn *ldap.Conn) error {
		res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{attr}, nil))
		if err != nil {
			return fmt.Errorf("%s: read %s of %s: %w", d.name, attr, dn, err)
		}
		v = res.Entries[0].GetAttributeValue(attr)
		return nil
	})
	return v, err
}

func (d directory) withConn(ctx context.Context, fn func(*ldap.Conn) error) error {
	conn, err := d.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	return fn(conn)
}
