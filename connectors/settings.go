package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// SecretTag marks a Config field that holds a secret reference
// (`secret:"ref"`): the registry finds the references by it, so that the
// worker can say whether each resolves (SecretRefs) without any connector
// keeping a list of its own.
const SecretTag = "secret"

// setting is one JSON field of a Config.
type setting struct {
	key    string
	typ    reflect.Type
	secret bool
}

// settingsOf lists the JSON fields of a Config struct, embedded structs'
// fields promoted as encoding/json promotes them.
func settingsOf(t reflect.Type) []setting {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []setting
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			out = append(out, settingsOf(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		out = append(out, setting{key: cmpOr(tag, f.Name), typ: f.Type, secret: f.Tag.Get(SecretTag) == "ref"})
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// MoreSettings is a Config whose settings are more than its JSON fields
// (a SCIM profile's vendor settings, which its UnmarshalJSON takes): the
// registry counts them as known and suggests them.
type MoreSettings interface {
	MoreSettings() []string
}

// keysOf are cfg's setting keys: its JSON fields, then MoreSettings.
func keysOf(cfg Config, fields []setting) []string {
	keys := make([]string, 0, len(fields))
	for _, f := range fields {
		keys = append(keys, f.key)
	}
	if m, ok := cfg.(MoreSettings); ok {
		keys = append(keys, m.MoreSettings()...)
	}
	return keys
}

// Settings returns the setting keys of connType, sorted; nil for an
// unknown type.
func (r Registry) Settings(connType string) []string {
	t, ok := r[connType]
	if !ok {
		return nil
	}
	cfg := t.New()
	return sorted(keysOf(cfg, settingsOf(reflect.TypeOf(cfg))))
}

// checkKeys refuses a key that is not one of the Config's settings.
// encoding/json matches keys case-insensitively, so without this
// "pagesize" would be stored as given and still work, until someone reads
// the stored settings and believes them. A key that is no JSON field may
// still be the connector's own (a SCIM profile's vendor settings): newCfg
// decodes it alone to ask, and the connector's own error wins over ours.
func checkKeys(connType string, fields []setting, obj map[string]json.RawMessage, newCfg func() Config) error {
	keys := keysOf(newCfg(), fields)
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if slices.Contains(keys, k) {
			continue
		}
		folded := slices.ContainsFunc(keys, func(f string) bool { return strings.EqualFold(f, k) })
		if !folded {
			err := decodeOne(newCfg(), k, obj[k])
			if err == nil {
				continue
			}
			if !isUnknownField(err) {
				errs = append(errs, err)
				continue
			}
		}
		errs = append(errs, unknownSetting(connType, k, keys))
	}
	return errors.Join(errs...)
}

// unknownSetting names key with the setting it probably meant, or else
// all of them.
func unknownSetting(connType, key string, keys []string) error {
	if s := suggest(key, keys); s != "" {
		return fmt.Errorf("unknown setting %q for type %s; did you mean %q?", key, connType, s)
	}
	return fmt.Errorf("unknown setting %q for type %s (its settings: %s)", key, connType, strings.Join(sorted(keys), ", "))
}

// decodeOne decodes the one setting k into cfg.
func decodeOne(cfg Config, k string, raw json.RawMessage) error {
	one, err := json.Marshal(map[string]json.RawMessage{k: raw})
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(one))
	dec.DisallowUnknownFields()
	return dec.Decode(cfg)
}

// isUnknownField says whether err is encoding/json's refusal of a key
// under DisallowUnknownFields, which has no type of its own.
func isUnknownField(err error) bool {
	return strings.HasPrefix(err.Error(), "json: unknown field ")
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// suggest is the key closest to k, if close enough to be the one meant:
// the same but for case, underscores and dashes, or within a few edits.
func suggest(k string, keys []string) string {
	fold := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 0
	for _, c := range keys {
		if fold(c) == fold(k) {
			return c
		}
		d := levenshtein(strings.ToLower(k), strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" && bestD <= max(1, min(3, len(k)/3)) {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// decodeSettings decodes settings into cfg one key at a time, so that a
// bad value is reported by its setting ("setting pageSize: want a number,
// got "abc"") rather than as encoding/json's Go-typed message. With
// strict, a key that is not exactly a field's is refused.
func decodeSettings(connType string, newCfg func() Config, cfg Config, settings json.RawMessage, strict bool) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(settings, &obj); err != nil {
		return fmt.Errorf("settings must be a JSON object: %w", err)
	}
	fields := settingsOf(reflect.TypeOf(cfg))
	if strict {
		if err := checkKeys(connType, fields, obj, newCfg); err != nil {
			return err
		}
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if err := decodeOne(cfg, k, obj[k]); err != nil {
			errs = append(errs, valueError(connType, k, obj[k], fields, err))
		}
	}
	return errors.Join(errs...)
}

// valueError words a decoding error of one setting for the person who
// typed it. A secret setting's value is never echoed: it may be a pasted
// secret.
func valueError(connType, key string, raw json.RawMessage, fields []setting, err error) error {
	if isUnknownField(err) {
		// The field may be one inside the setting's object.
		if name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field ")); name != "" && name != key {
			return fmt.Errorf("setting %s: unknown field %q", key, name)
		}
		return unknownSetting(connType, key, keysOf(nil, fields))
	}
	var f *setting
	for i := range fields {
		if strings.EqualFold(fields[i].key, key) {
			f = &fields[i]
			break
		}
	}
	if f == nil {
		// A connector's own setting (see checkKeys): its error says it.
		return fmt.Errorf("setting %s: %s", key, strings.TrimPrefix(err.Error(), "json: "))
	}
	got := truncate(string(raw), 60)
	if f.secret {
		got = "a " + jsonKind(raw)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" && te.Field != f.key && !strings.EqualFold(te.Field, f.key) {
			return fmt.Errorf("setting %s: want %s, got %s", te.Field, want(te.Type), got)
		}
		return fmt.Errorf("setting %s: want %s, got %s", f.key, want(f.typ), got)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return fmt.Errorf("setting %s: %s", f.key, msg)
}

// want says in words what JSON a Go type takes.
func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// jsonKind names a JSON value's kind, for a secret whose value is not shown.
func jsonKind(raw json.RawMessage) string {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 {
		return "nothing"
	}
	switch s[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "list"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// SecretRef is one secret reference of a connection's settings.
type SecretRef struct {
	// Setting is the settings key that holds it ("token"), or
	// "webhookSecret".
	Setting string `json:"setting"`
	Ref     string `json:"ref"`
}

// SecretRefs lists the secret references cfg holds, by the fields tagged
// `secret:"ref"`, in field order; empty ones are left out.
func SecretRefs(cfg Config) []SecretRef {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var out []SecretRef
	collectRefs(v, &out)
	return out
}

func collectRefs(v reflect.Value, out *[]SecretRef) {
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		fv := v.Field(i)
		if f.Anonymous && tag == "" {
			for fv.Kind() == reflect.Pointer && !fv.IsNil() {
				fv = fv.Elem()
			}
			collectRefs(fv, out)
			continue
		}
		if f.IsExported() && f.Tag.Get(SecretTag) == "ref" && fv.Kind() == reflect.String && fv.String() != "" {
			*out = append(*out, SecretRef{Setting: cmpOr(tag, f.Name), Ref: fv.String()})
		}
	}
}

// StringSetting says whether key of connType takes a JSON string, so
// that a command line can keep `--set timeout=30` or `--set token=1234`
// the string it must be rather than guess a number.
func (r Registry) StringSetting(connType, key string) bool {
	t, ok := r[connType]
	if !ok {
		return false
	}
	for _, s := range settingsOf(reflect.TypeOf(t.New())) {
		if s.key == key {
			return s.typ.Kind() == reflect.String
		}
	}
	return false
}
