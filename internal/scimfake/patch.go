package scimfake

import (
	"encoding/json"
	"strconv"
	"strings"
)

// PATCH (RFC 7644 §3.5.2): operations "add", "remove" and "replace" in
// any letter case, with a path (attr, attr.sub, attr[filter],
// attr[filter].sub, optionally behind a schema URN) or, for add and
// replace, without one (the value is an object of attributes: what
// Microsoft Entra sends). A request applies all its operations or none.
//
// Users are patched as a JSON document and read back, so that every
// attribute behaves alike. Group members are patched in place through
// the member index, so that a membership change costs the same in a
// group of ten and of a hundred thousand.

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// attrInfo describes an attribute the PATCH engine accepts.
type attrInfo struct {
	name     string   // canonical spelling
	multi    bool     // multi-valued
	subs     []string // lower-cased sub-attributes of a complex attribute
	readOnly bool
}

var (
	mvSubs     = []string{"value", "display", "type", "primary"}
	memberSubs = []string{"value", "display", "type", "$ref"}
	metaSubs   = []string{"resourcetype", "created", "lastmodified", "location", "version"}
)

var userAttrs = map[string]attrInfo{
	"id":                {name: "id", readOnly: true},
	"schemas":           {name: "schemas", readOnly: true},
	"meta":              {name: "meta", subs: metaSubs, readOnly: true},
	"groups":            {name: "groups", multi: true, subs: memberSubs, readOnly: true},
	"externalid":        {name: "externalId"},
	"username":          {name: "userName"},
	"name":              {name: "name", subs: []string{"formatted", "familyname", "givenname", "middlename", "honorificprefix", "honorificsuffix"}},
	"displayname":       {name: "displayName"},
	"nickname":          {name: "nickName"},
	"profileurl":        {name: "profileUrl"},
	"title":             {name: "title"},
	"usertype":          {name: "userType"},
	"preferredlanguage": {name: "preferredLanguage"},
	"locale":            {name: "locale"},
	"timezone":          {name: "timezone"},
	"active":            {name: "active"},
	"password":          {name: "password"},
	"emails":            {name: "emails", multi: true, subs: mvSubs},
	"phonenumbers":      {name: "phoneNumbers", multi: true, subs: mvSubs},
	"roles":             {name: "roles", multi: true, subs: mvSubs},
}

var enterpriseAttrs = map[string]attrInfo{
	"employeenumber": {name: "employeeNumber"},
	"costcenter":     {name: "costCenter"},
	"organization":   {name: "organization"},
	"division":       {name: "division"},
	"department":     {name: "department"},
	"manager":        {name: "manager", subs: []string{"value", "$ref", "displayname"}},
}

var groupAttrs = map[string]attrInfo{
	"id":          {name: "id", readOnly: true},
	"schemas":     {name: "schemas", readOnly: true},
	"meta":        {name: "meta", subs: metaSubs, readOnly: true},
	"externalid":  {name: "externalId"},
	"displayname": {name: "displayName"},
	"members":     {name: "members", multi: true, subs: memberSubs},
}

// patchPath is a parsed PATCH path.
type patchPath struct {
	ext    bool // in the enterprise extension; attr "" is the whole of it
	info   attrInfo
	filter expr
	sub    string // lower case
}

// parsePatchPath parses a path against the attributes of a resource
// type; ext is true for users (core User URN prefix, enterprise
// extension) and false for groups (core Group URN prefix).
func parsePatchPath(raw string, attrs map[string]attrInfo, ext bool) (*patchPath, *apiError) {
	p := &patchPath{}
	rest, l := raw, strings.ToLower(raw)
	switch {
	case ext && l == strings.ToLower(SchemaEnterpriseUser):
		return &patchPath{ext: true}, nil
	case ext && strings.HasPrefix(l, enterprisePrefix):
		p.ext, rest, attrs = true, raw[len(enterprisePrefix):], enterpriseAttrs
	case ext && strings.HasPrefix(l, coreUserPrefix):
		rest = raw[len(coreUserPrefix):]
	case !ext && strings.HasPrefix(l, coreGroupPrefix):
		rest = raw[len(coreGroupPrefix):]
	}
	attr, filter, sub, err := splitPath(rest)
	if err != nil {
		return nil, errInvalidPath(err.Error() + " in path " + strconv.Quote(raw))
	}
	info, ok := attrs[strings.ToLower(attr)]
	if !ok {
		return nil, errInvalidPath("unknown attribute " + strconv.Quote(attr))
	}
	p.info, p.sub = info, strings.ToLower(sub)
	switch {
	case info.readOnly:
		return nil, errMutability(info.name + " is read-only")
	case sub != "" && !contains(info.subs, p.sub):
		return nil, errInvalidPath(strconv.Quote(sub) + " is not a sub-attribute of " + info.name)
	case filter != "" && !info.multi:
		return nil, errInvalidPath(info.name + " is not multi-valued")
	}
	if filter != "" {
		if p.filter, err = parseFilter(filter); err != nil || p.filter == nil {
			return nil, errInvalidFilter("bad filter in path " + strconv.Quote(raw))
		}
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type pathError string

func (e pathError) Error() string { return string(e) }

// splitPath splits attr[filter].sub (filter and sub optional) or
// attr.sub.
func splitPath(p string) (attr, filter, sub string, err error) {
	i := strings.IndexByte(p, '[')
	if i < 0 {
		attr, sub, _ = strings.Cut(p, ".")
		return attr, "", sub, nil
	}
	attr = p[:i]
	inString := false
	for j := i + 1; j < len(p); j++ {
		switch c := p[j]; {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case !inString && c == ']':
			filter, rest := p[i+1:j], p[j+1:]
			if rest == "" {
				return attr, filter, "", nil
			}
			if rest[0] != '.' || len(rest) == 1 {
				return "", "", "", pathError("unexpected " + strconv.Quote(rest))
			}
			return attr, filter, rest[1:], nil
		}
	}
	return "", "", "", pathError("unclosed [")
}

// findKey returns the key of m that names attr in any letter case, or
// attr itself when there is none.
func findKey(m map[string]any, attr string) string {
	if _, ok := m[attr]; ok {
		return attr
	}
	for k := range m {
		if strings.EqualFold(k, attr) {
			return k
		}
	}
	return attr
}

func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	}
	return []any{v}
}

// valueOf is the "value" of a multi-valued attribute's element.
func valueOf(el any) (string, bool) {
	m, ok := el.(map[string]any)
	if !ok {
		return "", false
	}
	v, ok := m[findKey(m, "value")].(string)
	return v, ok
}

// appendUnique adds elements whose value the list does not hold yet.
func appendUnique(list, add []any) []any {
	for _, a := range add {
		av, ok := valueOf(a)
		dup := false
		for _, el := range list {
			if ev, eok := valueOf(el); ok && eok && strings.EqualFold(av, ev) {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

// removeValues drops the elements whose value one of vals holds: the
// "remove" with a value that Microsoft Entra sends for members.
func removeValues(list, vals []any) []any {
	drop := map[string]bool{}
	for _, v := range vals {
		if s, ok := valueOf(v); ok {
			drop[strings.ToLower(s)] = true
		}
	}
	out := list[:0:0]
	for _, el := range list {
		if s, ok := valueOf(el); !ok || !drop[strings.ToLower(s)] {
			out = append(out, el)
		}
	}
	return out
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		dst[findKey(dst, k)] = v
	}
}

// applyOp applies one operation with a path to doc.
func applyOp(doc map[string]any, op string, p *patchPath, val any) *apiError {
	container := doc
	if p.ext {
		key := findKey(doc, SchemaEnterpriseUser)
		ext, _ := doc[key].(map[string]any)
		if p.info.name == "" { // the whole extension
			if op == "remove" {
				delete(doc, key)
				return nil
			}
			vm, ok := val.(map[string]any)
			if !ok {
				return errInvalidValue("the value for " + SchemaEnterpriseUser + " must be an object")
			}
			for k, v := range vm {
				sp, err := parsePatchPath(SchemaEnterpriseUser+":"+k, nil, true)
				if err != nil {
					return err
				}
				if err := applyOp(doc, op, sp, v); err != nil {
					return err
				}
			}
			return nil
		}
		if ext == nil {
			if op == "remove" {
				return nil
			}
			ext = map[string]any{}
			doc[key] = ext
		}
		container = ext
	}
	key := findKey(container, p.info.name)
	switch {
	case p.filter != nil:
		return applyFiltered(container, key, op, p, val)
	case p.sub != "":
		return applySub(container, key, op, p, val)
	}
	return applyWhole(container, key, op, p.info, val)
}

func applyWhole(container map[string]any, key, op string, info attrInfo, val any) *apiError {
	cur := container[key]
	switch {
	case op == "remove" && info.multi && val != nil:
		container[key] = removeValues(asList(cur), asList(val))
	case op == "remove":
		delete(container, key)
	case op == "add" && info.multi:
		container[key] = appendUnique(asList(cur), asList(val))
	case info.multi:
		container[key] = asList(val)
	case info.subs != nil: // complex: the given sub-attributes replace or add
		vm, ok := val.(map[string]any)
		if !ok {
			return errInvalidValue("the value for " + info.name + " must be an object")
		}
		cm, _ := cur.(map[string]any)
		if cm == nil {
			cm = map[string]any{}
		}
		merge(cm, vm)
		container[key] = cm
	default:
		container[key] = val
	}
	return nil
}

func applySub(container map[string]any, key, op string, p *patchPath, val any) *apiError {
	if p.info.multi { // emails.value: every element
		if op != "remove" {
			return errInvalidPath("set " + p.info.name + "." + p.sub + " through a filter, e.g. " + p.info.name + `[type eq "work"].` + p.sub)
		}
		for _, el := range asList(container[key]) {
			if m, ok := el.(map[string]any); ok {
				delete(m, findKey(m, p.sub))
			}
		}
		return nil
	}
	cm, _ := container[key].(map[string]any)
	if cm == nil {
		if op == "remove" {
			return nil
		}
		cm = map[string]any{}
		container[key] = cm
	}
	if op == "remove" {
		delete(cm, findKey(cm, p.sub))
	} else {
		cm[findKey(cm, p.sub)] = val
	}
	return nil
}

func applyFiltered(container map[string]any, key, op string, p *patchPath, val any) *apiError {
	list := asList(container[key])
	var hit []map[string]any
	keep := list[:0:0]
	for _, el := range list {
		m, ok := el.(map[string]any)
		if ok && matches(p.filter, mapSource(m)) {
			hit = append(hit, m)
			if op == "remove" && p.sub == "" {
				continue
			}
		}
		keep = append(keep, el)
	}
	switch {
	case op == "remove":
		for _, m := range hit {
			delete(m, findKey(m, p.sub))
		}
	case len(hit) == 0 && op == "replace":
		return errNoTarget("no " + p.info.name + " value matches " + p.filter.String())
	case len(hit) == 0 && p.sub == "":
		keep = appendUnique(keep, asList(val))
	case len(hit) == 0: // add emails[type eq "work"].value: a new element
		el := seedFromFilter(p.filter, map[string]any{})
		el[p.sub] = val
		keep = append(keep, el)
	default:
		for _, m := range hit {
			if p.sub != "" {
				m[findKey(m, p.sub)] = val
			} else if vm, ok := val.(map[string]any); ok {
				merge(m, vm)
			} else {
				return errInvalidValue("the value for " + p.info.name + "[...] must be an object")
			}
		}
	}
	if len(keep) == 0 {
		delete(container, key)
	} else {
		container[key] = keep
	}
	return nil
}

// seedFromFilter starts a new element from the "eq" terms of a filter.
func seedFromFilter(e expr, m map[string]any) map[string]any {
	switch e := e.(type) {
	case *cmpExpr:
		if e.op == "eq" && e.val != nil {
			m[e.attr] = e.val
		}
	case *logExpr:
		if !e.or {
			seedFromFilter(e.l, m)
			seedFromFilter(e.r, m)
		}
	}
	return m
}

// decodeOps reads and checks a PatchOp body.
func decodeOps(body []byte) ([]patchOp, *apiError) {
	var req patchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, errInvalidSyntax("body is not a PatchOp: " + err.Error())
	}
	if !hasSchema(req.Schemas, schemaPatchOp) {
		return nil, errInvalidSyntax("schemas must be [" + schemaPatchOp + "]")
	}
	if len(req.Operations) == 0 {
		return nil, errInvalidSyntax("Operations is empty")
	}
	for i := range req.Operations {
		op := &req.Operations[i]
		op.Op = strings.ToLower(op.Op)
		switch op.Op {
		case "add", "replace", "remove":
		default:
			return nil, errInvalidSyntax("unknown op " + strconv.Quote(op.Op))
		}
		if op.Path == "" && op.Op == "remove" {
			return nil, errNoTarget("remove needs a path")
		}
	}
	return req.Operations, nil
}

func opValue(op patchOp) (any, *apiError) {
	if len(op.Value) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(op.Value, &v); err != nil {
		return nil, errInvalidSyntax("bad value: " + err.Error())
	}
	return v, nil
}

// eachTarget calls fn with the path and value of every attribute an
// operation touches: one for an operation with a path, one per key for
// one without (read-only keys such as id and meta are skipped there).
func eachTarget(op patchOp, attrs map[string]attrInfo, ext bool, fn func(*patchPath, any) *apiError) *apiError {
	val, err := opValue(op)
	if err != nil {
		return err
	}
	if op.Path != "" {
		p, err := parsePatchPath(op.Path, attrs, ext)
		if err != nil {
			return err
		}
		return fn(p, val)
	}
	vm, ok := val.(map[string]any)
	if !ok {
		return errInvalidValue(op.Op + " without a path needs an object value")
	}
	for k, v := range vm {
		if info, ok := attrs[strings.ToLower(k)]; ok && info.readOnly {
			continue
		}
		p, err := parsePatchPath(k, attrs, ext)
		if err != nil {
			return err
		}
		if err := fn(p, v); err != nil {
			return err
		}
	}
	return nil
}

// patchUser applies ops to a copy of u and returns the result, checked.
// skipFiltered ignores operations whose path has a value filter: GitHub
// documents that such path selectors "will be ineffective".
func patchUser(u User, ops []patchOp, skipFiltered bool) (User, *apiError) {
	b, err := json.Marshal(u)
	if err != nil {
		return User{}, newError(500, "", err.Error())
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return User{}, newError(500, "", err.Error())
	}
	for _, op := range ops {
		if skipFiltered && strings.Contains(op.Path, "[") {
			continue
		}
		if e := eachTarget(op, userAttrs, true, func(p *patchPath, v any) *apiError {
			return applyOp(doc, op.Op, p, v)
		}); e != nil {
			return User{}, e
		}
	}
	if b, err = json.Marshal(doc); err != nil {
		return User{}, newError(500, "", err.Error())
	}
	var nu User
	if err := json.Unmarshal(b, &nu); err != nil {
		return User{}, errInvalidValue("patched user is not valid: " + err.Error())
	}
	nu.normalize()
	if e := nu.validate(); e != nil {
		return User{}, e
	}
	return nu, nil
}
