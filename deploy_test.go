// Package idsync_test checks the deployment files against the code: the
// docker-compose file loads as Compose does and registers every search
// attribute, and the Makefile's dev server registers them too.
package idsync_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/idsync/idsync/workflows"
)

// wantSearchAttributes is "Name=Type" for every attribute the code writes,
// in the CLI's type names.
func wantSearchAttributes() []string {
	var out []string
	for _, sa := range workflows.SearchAttributes() {
		out = append(out, sa.Name+"="+sa.Type.String()) // the API names them as the CLI does
	}
	slices.Sort(out)
	return out
}

var saPair = regexp.MustCompile(`\b([A-Z][A-Za-z]+)=(Keyword|Datetime|Int|Text|Bool|Double|KeywordList)\b`)

func pairsIn(s string) []string {
	var out []string
	for _, m := range saPair.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+"="+m[2])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestComposeFile(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"}, cli.WithName("idsync"), cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	for _, name := range []string{"postgresql", "temporal", "temporal-admin-tools", "temporal-ui", "worker"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %q missing", name)
		}
	}
	if t.Failed() {
		return
	}
	if p.Services["worker"].Build == nil {
		t.Error("the worker must be built from the repository's Dockerfile")
	}
	if db := p.Services["temporal"].Environment["DB"]; db == nil || !strings.HasPrefix(*db, "postgres") {
		t.Errorf("temporal must persist to PostgreSQL, DB=%v", db)
	}
	if _, ok := p.Services["worker"].DependsOn["temporal-admin-tools"]; !ok {
		t.Error("the worker must wait for the search attributes to be registered")
	}
	admin := p.Services["temporal-admin-tools"]
	got := pairsIn(strings.Join(admin.Command, " "))
	if want := wantSearchAttributes(); !slices.Equal(got, want) {
		t.Errorf("temporal-admin-tools registers %v, the code writes %v", got, want)
	}
}

func TestMakefileRegistersSearchAttributes(t *testing.T) {
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)SEARCH_ATTRIBUTES := (.*?)\n\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no SEARCH_ATTRIBUTES in the Makefile")
	}
	if got, want := pairsIn(string(m[1])), wantSearchAttributes(); !slices.Equal(got, want) {
		t.Errorf("the Makefile registers %v, the code writes %v", got, want)
	}
}
