package workday

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
)

func TestConfig(t *testing.T) {
	reg := connectors.Registry{"workday": Type}
	ok := `"url":"https://wd2-impl-services1.workday.com","tenant":"acme","username":"ISU_IDSYNC","password":"env:WD_PASSWORD"`
	tests := []struct {
		name     string
		settings string
		errs     []string // each must appear; none: valid
		check    func(t *testing.T, c *Config)
	}{
		{name: "defaults", settings: "{" + ok + "}", check: func(t *testing.T, c *Config) {
			if c.Version != "v44.0" || c.TimeZone != "America/Los_Angeles" || c.PageSize != 100 || c.WindowOverlap != "1h0m0s" ||
				strings.Join(c.Groups, ",") != "SUPERVISORY" || !*c.IncludeInactive || c.PreHireDays != 0 {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "groups as a string, version without v", settings: "{" + ok + `,"groups":"SUPERVISORY, cost_center","version":"45.1"}`, check: func(t *testing.T, c *Config) {
			if strings.Join(c.Groups, ",") != "SUPERVISORY,COST_CENTER" || c.Version != "v45.1" {
				t.Errorf("groups %v version %s", c.Groups, c.Version)
			}
		}},
		{name: "no groups", settings: "{" + ok + `,"groups":[]}`, check: func(t *testing.T, c *Config) {
			if len(c.Groups) != 0 {
				t.Errorf("groups %v", c.Groups)
			}
		}},
		{name: "unknown key", settings: "{" + ok + `,"tennant":"x"}`, errs: []string{`unknown setting "tennant" for type workday; did you mean "tenant"?`}},
		{name: "every problem", settings: `{"url":"http://example.com/ccx","password":"hunter2","timeZone":"Mars/Olympus","pageSize":1000,"preHireDays":-1,"windowOverlap":"soon","groups":["DIVISION!"],"version":"44"}`,
			errs: []string{"url:", "tenant is required", "username is required", "password must be a secret reference", "timeZone", "pageSize", "preHireDays", "windowOverlap", "groups", "version"}},
		{name: "http only on loopback", settings: `{"url":"http://127.0.0.1:8080","tenant":"acme","username":"u","password":"env:X"}`},
		{name: "report needs its path", settings: "{" + ok + `,"report":"/ccx/service/customreport2/acme/ISU/r?format=json"}`, errs: []string{"report"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := reg.Parse("workday", json.RawMessage(tt.settings))
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.check != nil {
					tt.check(t, cfg.(*Config))
				}
				return
			}
			if err == nil || !errors.Is(err, connectors.ErrInvalidConfig) {
				t.Fatalf("Parse: %v; want an invalid configuration", err)
			}
			for _, s := range tt.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes the literal password", err)
			}
		})
	}
}
