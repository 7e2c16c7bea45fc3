package connectors_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
)

// scimBase are the settings of a valid scim connection.
const scimBase = `"baseUrl": "https://scim.example.com/v2", "token": "env:SCIM_TOKEN"`

func TestParseStrictSettings(t *testing.T) {
	reg := all.Registry()
	tests := []struct {
		name     string
		connType string
		settings string
		wantErr  []string // each in the error; none: no error
		notInErr string
	}{
		{name: "valid", connType: "scim", settings: `{` + scimBase + `, "pageSize": 10}`},
		{name: "misspelt key: case", connType: "scim", settings: `{` + scimBase + `, "pagesize": 10}`,
			wantErr: []string{`unknown setting "pagesize" for type scim; did you mean "pageSize"?`}},
		{name: "misspelt key: a letter", connType: "ldap",
			settings: `{"url": "ldap://h", "baseDn": "dc=b", "bindDn": "cn=a,dc=b", "bindPasword": "env:P"}`,
			wantErr:  []string{`unknown setting "bindPasword" for type ldap; did you mean "bindPassword"?`}},
		{name: "misspelt key: snake case", connType: "workday",
			settings: `{"url": "https://wd.example.com", "tenant": "t", "username": "u", "password": "env:P", "time_zone": "UTC"}`,
			wantErr:  []string{`unknown setting "time_zone" for type workday; did you mean "timeZone"?`}},
		{name: "unknown key far from any", connType: "scim", settings: `{` + scimBase + `, "colour": "blue"}`,
			wantErr: []string{`unknown setting "colour" for type scim (its settings: `, "pageSize"}},
		{name: "every unknown key named", connType: "scim", settings: `{` + scimBase + `, "pagesize": 1, "timout": "1s"}`,
			wantErr: []string{`"pagesize"`, `did you mean "timeout"?`}},
		{name: "bad number", connType: "scim", settings: `{` + scimBase + `, "pageSize": "abc"}`,
			wantErr: []string{`setting pageSize: want a number, got "abc"`}, notInErr: "cannot unmarshal"},
		{name: "bad boolean", connType: "ldap",
			settings: `{"url": "ldap://h", "baseDn": "dc=b", "bindDn": "cn=a,dc=b", "bindPassword": "env:P", "startTls": "yes"}`,
			wantErr:  []string{`setting startTls: want true or false, got "yes"`}},
		{name: "bad secret type is not echoed", connType: "scim", settings: `{"baseUrl": "https://scim.example.com/v2", "token": 12345678}`,
			wantErr: []string{`setting token: want a string, got a number`}, notInErr: "12345678"},
		{name: "a vendor setting of the profile", connType: "github-emu", settings: `{` + scimBase + `, "enterprise": "octo"}`},
		{name: "a vendor setting misspelt", connType: "github-emu", settings: `{` + scimBase + `, "enterprize": "octo"}`,
			wantErr: []string{`unknown setting "enterprize" for type github-emu; did you mean "enterprise"?`}},
		{name: "a nested field", connType: "scim", settings: `{` + scimBase + `, "rateLimit": {"rpss": 1}}`,
			wantErr: []string{`setting rateLimit: unknown field "rpss"`}},
		{name: "another profile's setting", connType: "slack", settings: `{` + scimBase + `, "enterprise": "octo"}`,
			wantErr: []string{"enterprise is a github-emu setting"}},
		{name: "unknown type", connType: "scimm", settings: `{}`, wantErr: []string{`unknown connection type "scimm"`}},
		{name: "not an object", connType: "scim", settings: `[1]`, wantErr: []string{"settings must be a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.ParseStrict(tt.connType, json.RawMessage(tt.settings))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ParseStrict: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseStrict: no error, want %q", tt.wantErr)
			}
			if !errors.Is(err, connectors.ErrInvalidConfig) {
				t.Errorf("error %v is not ErrInvalidConfig", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if tt.notInErr != "" && strings.Contains(err.Error(), tt.notInErr) {
				t.Errorf("error %q contains %q", err, tt.notInErr)
			}
		})
	}
}

// TestParseKeepsStoredSettings: the worker still opens a connection
// whose stored key differs from the setting's only in case (stored
// before ParseStrict), as encoding/json always took it.
func TestParseKeepsStoredSettings(t *testing.T) {
	cfg, err := all.Registry().Parse("scim", json.RawMessage(`{`+scimBase+`, "pagesize": 7}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := reflect.ValueOf(cfg).Elem().FieldByName("PageSize").Int(); got != 7 {
		t.Errorf("PageSize = %d, want 7", got)
	}
	_, err = all.Registry().Parse("scim", json.RawMessage(`{`+scimBase+`, "pageSize": "abc"}`))
	if err == nil || !strings.Contains(err.Error(), `setting pageSize: want a number, got "abc"`) {
		t.Errorf("Parse: %v, want the setting named", err)
	}
}

func TestSecretRefs(t *testing.T) {
	reg := all.Registry()
	tests := []struct {
		connType, settings string
		want               []connectors.SecretRef
	}{
		{"scim", `{` + scimBase + `}`, []connectors.SecretRef{{Setting: "token", Ref: "env:SCIM_TOKEN"}}},
		{"ldap", `{"url": "ldap://h", "baseDn": "dc=b", "bindDn": "cn=a,dc=b", "bindPassword": "file:/run/pw"}`,
			[]connectors.SecretRef{{Setting: "bindPassword", Ref: "file:/run/pw"}}},
		{"workday", `{"url": "https://wd.example.com", "tenant": "t", "username": "u", "password": "env:P",
			"report": "/ccx/service/customreport2/t/o/r", "reportUsername": "r", "reportPassword": "env:RP"}`,
			[]connectors.SecretRef{{Setting: "password", Ref: "env:P"}, {Setting: "reportPassword", Ref: "env:RP"}}},
		{"memory", `{"store": "s"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.connType, func(t *testing.T) {
			cfg, err := reg.ParseStrict(tt.connType, json.RawMessage(tt.settings))
			if err != nil {
				t.Fatalf("ParseStrict: %v", err)
			}
			if got := connectors.SecretRefs(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SecretRefs = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSecretSettingsTagged: a setting named like a secret carries
// `secret:"ref"`, or the worker's check at create time would skip it.
func TestSecretSettingsTagged(t *testing.T) {
	reg := all.Registry()
	secretLike := func(key string) bool {
		k := strings.ToLower(key)
		return k == "token" || strings.HasSuffix(k, "password") || strings.HasSuffix(k, "secret") ||
			strings.HasSuffix(k, "apikey") || k == "credentials" || k == "clientcertificate"
	}
	for _, typ := range reg.Types() {
		cfg := reflect.TypeOf(reg[typ].New()).Elem()
		for i := range cfg.NumField() {
			f := cfg.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if secretLike(key) && f.Tag.Get(connectors.SecretTag) != "ref" {
				t.Errorf("%s: setting %s is not tagged secret:\"ref\"", typ, key)
			}
		}
	}
}
