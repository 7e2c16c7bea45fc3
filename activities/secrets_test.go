package activities

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idsync/idsync/connectors"
	"github.com/idsync/idsync/connectors/all"
)

// ref is what TestCheckSecrets wants of one reference.
type ref struct {
	setting string
	ok      bool
	err     string // in the error; "" for none
}

func TestCheckSecrets(t *testing.T) {
	const value = "the-secret-value"
	t.Setenv("SECRETS_TEST_TOKEN", value)
	t.Setenv("SECRETS_TEST_EMPTY", "")
	file := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scim := func(token, hook string) connectors.Connection {
		return connectors.Connection{Name: "app", Type: "scim", WebhookSecret: hook,
			Settings: json.RawMessage(`{"baseUrl":"https://scim.invalid/v2","token":"` + token + `"}`)}
	}
	tests := []struct {
		name    string
		conn    connectors.Connection
		want    []ref
		wantErr string
	}{
		{name: "all resolve", conn: scim("env:SECRETS_TEST_TOKEN", "file:"+file),
			want: []ref{{"token", true, ""}, {"webhookSecret", true, ""}}},
		{name: "a variable not set", conn: scim("env:SECRETS_TEST_TOKN", ""),
			want: []ref{{"token", false, `secret reference "env:SECRETS_TEST_TOKN": environment variable SECRETS_TEST_TOKN is not set on the worker`}}},
		{name: "an empty variable", conn: scim("env:SECRETS_TEST_EMPTY", ""),
			want: []ref{{"token", false, "resolves to an empty value"}}},
		{name: "a missing file", conn: scim("env:SECRETS_TEST_TOKEN", "file:"+file+".nope"),
			want: []ref{{"token", true, ""}, {"webhookSecret", false, "no such file"}}},
		{name: "settings the worker refuses", conn: connectors.Connection{Name: "x", Type: "nope"}, wantErr: `unknown connection type "nope"`},
		{name: "no references", conn: connectors.Connection{Name: "m", Type: "memory", Settings: json.RawMessage(`{"store":"s"}`)}},
	}
	a := &Activities{Registry: all.Registry()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := a.CheckSecrets(context.Background(), tt.conn)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(res)
			if strings.Contains(string(b), value) {
				t.Fatalf("the result holds a secret's value: %s", b)
			}
			if tt.wantErr != "" {
				if !strings.Contains(res.Error, tt.wantErr) || len(res.Refs) != 0 {
					t.Fatalf("result %s, want the error %q", b, tt.wantErr)
				}
				return
			}
			var got []ref
			for _, r := range res.Refs {
				got = append(got, ref{r.Setting, r.OK, r.Error})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("refs %+v, want %+v", got, tt.want)
			}
			for i := range got {
				w := tt.want[i]
				if got[i].setting != w.setting || got[i].ok != w.ok || !strings.Contains(got[i].err, w.err) || (w.err == "") != (got[i].err == "") {
					t.Errorf("ref %d: %+v, want %+v", i, got[i], w)
				}
			}
			failed := 0
			for _, w := range tt.want {
				if !w.ok {
					failed++
				}
			}
			if n := len(res.Failed()); n != failed {
				t.Errorf("Failed: %d, want %d", n, failed)
			}
		})
	}
}
