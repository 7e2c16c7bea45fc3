package scimfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filters (RFC 7644 §3.4.2.2): attribute expressions with eq, ne, co, sw,
// ew, gt, ge, lt, le and pr; "and", "or", "not( )", grouping and value
// paths (emails[type eq "work"]). Attribute names and operators are
// case-insensitive; string values are JSON strings, so `"` and `\` come
// escaped. Attribute names are normalized at parse time: lower case, the
// core schema URN prefix dropped and the enterprise extension URN prefix
// written "enterprise." (enterprise.department).

const (
	maxFilterLen   = 4096
	maxFilterDepth = 16
)

// expr is a parsed filter.
type expr interface{ String() string }

type cmpExpr struct {
	attr string // normalized path, e.g. "username", "emails.value"
	op   string // lower case
	val  any    // string, bool, float64 or nil (null); unused for pr
}

type logExpr struct {
	or   bool
	l, r expr
}

type notExpr struct{ x expr }

// valuePathExpr is attr[sub]: true when one element of the multi-valued
// attribute matches sub.
type valuePathExpr struct {
	attr string
	sub  expr
}

func (e *cmpExpr) String() string {
	if e.op == "pr" {
		return e.attr + " pr"
	}
	v, _ := json.Marshal(e.val)
	return e.attr + " " + e.op + " " + string(v)
}

func (e *logExpr) String() string {
	op := "and"
	if e.or {
		op = "or"
	}
	return "(" + e.l.String() + " " + op + " " + e.r.String() + ")"
}

func (e *notExpr) String() string       { return "not(" + e.x.String() + ")" }
func (e *valuePathExpr) String() string { return e.attr + "[" + e.sub.String() + "]" }

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokLParen
	tokRParen
	tokLBrack
	tokRBrack
)

var punct = map[byte]tokKind{'(': tokLParen, ')': tokRParen, '[': tokLBrack, ']': tokRBrack}

type token struct {
	kind tokKind
	text string // the word, or the decoded string
}

// lex splits a filter into tokens. Strings are decoded as JSON strings.
func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']':
			toks = append(toks, token{kind: punct[c], text: string(c)})
			i++
		case c == '"':
			j, err := stringEnd(s, i)
			if err != nil {
				return nil, err
			}
			var v string
			if err := json.Unmarshal([]byte(s[i:j]), &v); err != nil {
				return nil, fmt.Errorf("bad string %s: %w", s[i:j], err)
			}
			toks = append(toks, token{kind: tokString, text: v})
			i = j
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()[]\"", rune(s[j])) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}

// stringEnd returns the index just past the JSON string starting at s[i].
func stringEnd(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

type parser struct {
	toks  []token
	pos   int
	depth int
}

// parseFilter parses a filter; an empty filter is nil.
func parseFilter(s string) (expr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("filter longer than %d bytes", maxFilterLen)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return e, nil
}

func (p *parser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokWord && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *parser) expect(k tokKind, what string) error {
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != k {
		return fmt.Errorf("expected %s", what)
	}
	p.pos++
	return nil
}

func (p *parser) parseOr() (expr, error) {
	l, err := p.parseAnd()
	for err == nil && p.peekWord("or") {
		p.pos++
		var r expr
		if r, err = p.parseAnd(); err == nil {
			l = &logExpr{or: true, l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseAnd() (expr, error) {
	l, err := p.parseUnary()
	for err == nil && p.peekWord("and") {
		p.pos++
		var r expr
		if r, err = p.parseUnary(); err == nil {
			l = &logExpr{l: l, r: r}
		}
	}
	return l, err
}

func (p *parser) parseUnary() (expr, error) {
	if p.depth++; p.depth > maxFilterDepth {
		return nil, fmt.Errorf("filter nested deeper than %d", maxFilterDepth)
	}
	defer func() { p.depth-- }()
	if p.pos >= len(p.toks) {
		return nil, errors.New("unexpected end of filter")
	}
	switch t := p.toks[p.pos]; {
	case t.kind == tokWord && strings.EqualFold(t.text, "not"):
		p.pos++
		if err := p.expect(tokLParen, `"(" after not`); err != nil {
			return nil, err
		}
		x, err := p.group(tokRParen, `")"`)
		return &notExpr{x: x}, err
	case t.kind == tokLParen:
		p.pos++
		return p.group(tokRParen, `")"`)
	case t.kind != tokWord:
		return nil, fmt.Errorf("expected an attribute, got %q", t.text)
	}
	attr, err := normalizeAttr(p.toks[p.pos].text)
	if err != nil {
		return nil, err
	}
	p.pos++
	if p.pos < len(p.toks) && p.toks[p.pos].kind == tokLBrack {
		p.pos++
		sub, err := p.group(tokRBrack, `"]"`)
		return &valuePathExpr{attr: attr, sub: sub}, err
	}
	return p.comparison(attr)
}

// group parses a filter up to the closing token.
func (p *parser) group(closing tokKind, what string) (expr, error) {
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	return x, p.expect(closing, what)
}

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *parser) comparison(attr string) (expr, error) {
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokWord {
		return nil, fmt.Errorf("expected an operator after %s", attr)
	}
	op := strings.ToLower(p.toks[p.pos].text)
	p.pos++
	if op == "pr" {
		return &cmpExpr{attr: attr, op: op}, nil
	}
	if !compareOps[op] {
		return nil, fmt.Errorf("unknown operator %q", op)
	}
	if p.pos >= len(p.toks) {
		return nil, fmt.Errorf("expected a value after %s %s", attr, op)
	}
	t := p.toks[p.pos]
	p.pos++
	if t.kind == tokString {
		return &cmpExpr{attr: attr, op: op, val: t.text}, nil
	}
	if t.kind != tokWord {
		return nil, fmt.Errorf("expected a value after %s %s", attr, op)
	}
	switch strings.ToLower(t.text) {
	case "true":
		return &cmpExpr{attr: attr, op: op, val: true}, nil
	case "false":
		return &cmpExpr{attr: attr, op: op, val: false}, nil
	case "null":
		return &cmpExpr{attr: attr, op: op, val: nil}, nil
	}
	f, err := strconv.ParseFloat(t.text, 64)
	if err != nil {
		return nil, fmt.Errorf("value %q is not a JSON string, number, boolean or null", t.text)
	}
	return &cmpExpr{attr: attr, op: op, val: f}, nil
}

const (
	coreUserPrefix   = "urn:ietf:params:scim:schemas:core:2.0:user:"
	coreGroupPrefix  = "urn:ietf:params:scim:schemas:core:2.0:group:"
	enterprisePrefix = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:"
)

// normalizeAttr lower-cases an attribute path and resolves schema URN
// prefixes.
func normalizeAttr(a string) (string, error) {
	l := strings.ToLower(a)
	switch {
	case strings.HasPrefix(l, coreUserPrefix):
		l = l[len(coreUserPrefix):]
	case strings.HasPrefix(l, coreGroupPrefix):
		l = l[len(coreGroupPrefix):]
	case strings.HasPrefix(l, enterprisePrefix):
		l = "enterprise." + l[len(enterprisePrefix):]
	}
	if l == "" {
		return "", errors.New("empty attribute name")
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '$') {
			return "", fmt.Errorf("bad attribute name %q", a)
		}
	}
	return l, nil
}

// attrSource is what a filter is evaluated against: a stored resource,
// or one element of a multi-valued attribute.
type attrSource interface {
	values(attr string) []any
	elements(attr string) []attrSource
}

// matches evaluates e against r.
func matches(e expr, r attrSource) bool {
	switch e := e.(type) {
	case *cmpExpr:
		return e.test(r.values(e.attr))
	case *logExpr:
		if e.or {
			return matches(e.l, r) || matches(e.r, r)
		}
		return matches(e.l, r) && matches(e.r, r)
	case *notExpr:
		return !matches(e.x, r)
	case *valuePathExpr:
		for _, el := range r.elements(e.attr) {
			if matches(e.sub, el) {
				return true
			}
		}
	}
	return false
}

// caseExactAttrs are compared exactly (RFC 7643: ids, externalId and
// references are caseExact; userName, emails and names are not).
var caseExactAttrs = map[string]bool{
	"id": true, "externalid": true, "members": true, "members.value": true,
	"groups": true, "groups.value": true, "enterprise.manager": true,
	"enterprise.manager.value": true, "meta.version": true, "meta.location": true,
}

// test applies the comparison to an attribute's values (several for a
// multi-valued attribute: true when any matches).
func (e *cmpExpr) test(vals []any) bool {
	switch {
	case e.op == "pr":
		return len(vals) > 0
	case e.op == "ne":
		return !(&cmpExpr{attr: e.attr, op: "eq", val: e.val}).test(vals)
	case e.val == nil: // eq null: absent
		return e.op == "eq" && len(vals) == 0
	}
	exact := caseExactAttrs[e.attr]
	for _, v := range vals {
		if compareOne(e.op, v, e.val, exact) {
			return true
		}
	}
	return false
}

func compareOne(op string, have, want any, exact bool) bool {
	switch h := have.(type) {
	case string:
		w, ok := want.(string)
		if !ok {
			return false
		}
		if !exact {
			if op == "eq" {
				return strings.EqualFold(h, w)
			}
			h, w = strings.ToLower(h), strings.ToLower(w)
		}
		return compareStrings(op, h, w)
	case bool:
		w, ok := want.(bool)
		return ok && op == "eq" && h == w
	case time.Time:
		ws, ok := want.(string)
		if !ok {
			return false
		}
		w, err := time.Parse(time.RFC3339Nano, ws)
		if err != nil {
			return false
		}
		return compareInts(op, h.Compare(w))
	}
	return false
}

func compareStrings(op, h, w string) bool {
	switch op {
	case "eq":
		return h == w
	case "co":
		return strings.Contains(h, w)
	case "sw":
		return strings.HasPrefix(h, w)
	case "ew":
		return strings.HasSuffix(h, w)
	}
	return compareInts(op, strings.Compare(h, w))
}

func compareInts(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

// prefixAttrs returns e with prefix+"." put before every attribute: the
// filter of a value path, read as one on the resource (emails[value eq
// "x"] → emails.value eq "x"), for index lookups only.
func prefixAttrs(e expr, prefix string) expr {
	switch e := e.(type) {
	case *cmpExpr:
		c := *e
		c.attr = prefix + "." + e.attr
		return &c
	case *logExpr:
		return &logExpr{or: e.or, l: prefixAttrs(e.l, prefix), r: prefixAttrs(e.r, prefix)}
	case *notExpr:
		return &notExpr{x: prefixAttrs(e.x, prefix)}
	}
	return e
}

// hasLogic reports whether e combines expressions with and, or or not.
func hasLogic(e expr) bool {
	switch e := e.(type) {
	case *logExpr, *notExpr:
		return true
	case *valuePathExpr:
		return hasLogic(e.sub)
	}
	return false
}

// mapSource evaluates a filter against one element of a multi-valued
// attribute held as a JSON object (PATCH value paths), with attribute
// names case-insensitive.
type mapSource map[string]any

func (m mapSource) values(attr string) []any {
	for k, v := range m {
		if strings.EqualFold(k, attr) {
			switch v := v.(type) {
			case string:
				if v != "" {
					return []any{v}
				}
			case bool:
				return []any{v}
			}
		}
	}
	return nil
}

func (m mapSource) elements(string) []attrSource { return nil }
