// Command peers runs a local OpenLDAP directory and a local SCIM 2.0
// service with sample data, for the README's quickstart: an identity source
// and target to try idsync against. Ctrl-C stops both; the directory's data
// is kept in --dir for the next run, and the secrets in --dir.env, a file
// that the quickstart's shells source.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/peers"
)

func main() {
	dir := flag.String("dir", ".state/peers", "where the directory keeps its data")
	ldapPort := flag.Int("ldap-port", 3389, "LDAP port on 127.0.0.1")
	scimPort := flag.Int("scim-port", 8999, "SCIM port on 127.0.0.1")
	users := flag.Int("users", 12, "sample users to create in a new directory")
	envFile := flag.String("env-file", "", "where to write the secrets as a file to source (default: --dir plus .env)")
	flag.Parse()
	if *envFile == "" {
		*envFile = filepath.Clean(*dir) + ".env"
	}
	if err := run(*dir, *envFile, *ldapPort, *scimPort, *users); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// secret returns the value kept in dir/name, creating a random one the
// first time, so that restarts keep working with the same credentials.
func secret(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	v := hex.EncodeToString(b)
	return v, os.WriteFile(p, []byte(v+"\n"), 0o600)
}

// relative is path relative to the working directory when inside it: the
// form to paste in a shell there.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func run(dir, envFile string, ldapPort, scimPort, nUsers int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(filepath.Join(dir, "ldap"), 0o700); err != nil {
		return err
	}
	ldapPassword, err := secret(dir, "ldap-password")
	if err != nil {
		return err
	}
	scimToken, err := secret(dir, "scim-token")
	if err != nil {
		return err
	}
	hookKey, err := secret(dir, "hook-key")
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	slapd, err := peers.StartSlapd(sctx, peers.SlapdOptions{Dir: filepath.Join(dir, "ldap"), Port: ldapPort, AdminPassword: ldapPassword})
	if err != nil {
		return fmt.Errorf("start OpenLDAP: %w", err)
	}
	defer func() { _ = slapd.Stop() }()
	if err := seed(sctx, slapd, nUsers); err != nil {
		return err
	}
	scim, err := peers.StartSCIM(sctx, peers.SCIMOptions{Port: scimPort, Token: scimToken})
	if err != nil {
		return fmt.Errorf("start the SCIM server: %w", err)
	}
	defer func() { _ = scim.Stop() }()

	in := instructions{LDAPURL: slapd.URL, BaseDN: slapd.BaseDN, AdminDN: slapd.AdminDN,
		SCIMURL: scim.URL, LDAPPassword: ldapPassword, SCIMToken: scimToken, HookKey: hookKey,
		Dir: relative(dir), EnvFile: relative(envFile)}
	if err := writeEnvFile(envFile, in); err != nil {
		return err
	}
	printInstructions(os.Stdout, in)
	<-ctx.Done()
	return nil
}

// instructions is what the quickstart's next steps need to know.
type instructions struct {
	LDAPURL, BaseDN, AdminDN, SCIMURL string
	LDAPPassword, SCIMToken, HookKey  string
	Dir, EnvFile                      string
}

// writeEnvFile writes the secrets as a file a shell can source, readable
// by its owner only; it replaces the file whole, so a shell never sources
// half of it.
func writeEnvFile(path string, in instructions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by make peers: the secrets the quickstart's connections refer to.\n")
	fmt.Fprintf(&b, "# Load them in every shell of the quickstart:  source %s\n", in.EnvFile)
	for _, kv := range [][2]string{{"LDAP_PASSWORD", in.LDAPPassword}, {"SCIM_TOKEN", in.SCIMToken}, {"HOOK_KEY", in.HookKey}} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".peers-env-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// After the rename there is nothing left to remove, hence no error to
	// report; before it, a leftover temporary file is the lesser problem.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.WriteString(b.String()); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp makes it 0600 already; say so for who reads this.
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func printInstructions(w io.Writer, in instructions) {
	fmt.Fprintf(w, `OpenLDAP: %s  base %s  admin %s
SCIM 2.0: %s

The secrets the connections below refer to are in %s.
Load them in every shell of the quickstart with

  source %s

in the shell that runs `+"`make run`"+`, before starting it (the worker resolves
them; Temporal never sees them), and in those that run ./bin/starter,
ldapmodify and curl.

Then, in another shell:

  ./bin/starter connection create corp --type ldap --url %s --base-dn %s \
      --bind-dn %s --bind-password env:LDAP_PASSWORD --webhook-secret env:HOOK_KEY
  ./bin/starter connection create app --type scim --base-url %s --token env:SCIM_TOKEN
  ./bin/starter rule create corp-to-app --source corp --target app

Ctrl-C stops both servers (the directory's data stays in %s).
`, in.LDAPURL, in.BaseDN, in.AdminDN, in.SCIMURL, in.EnvFile, in.EnvFile,
		in.LDAPURL, in.BaseDN, in.AdminDN, in.SCIMURL, in.Dir)
}

var (
	given  = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus", "Radia", "Zoë"}
	family = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Wirth", "Perlman", "Müller"}
	teams  = []string{"engineering", "research", "operations"}
)

// seed fills a new directory with sample users and groups; an existing
// one is left as it is.
func seed(ctx context.Context, s *peers.Slapd, n int) error {
	conn, err := s.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := conn.Search(ldapSearchPeople(s.BaseDN))
	if err != nil {
		return fmt.Errorf("look for sample data: %w", err)
	}
	if len(res.Entries) > 0 {
		return nil
	}
	var b strings.Builder
	members := map[string][]string{}
	for i := range n {
		g, f := given[i%len(given)], family[i%len(family)]
		uid := strings.ToLower(g[:1] + f)
		if i >= len(given) {
			uid = fmt.Sprintf("%s%d", uid, i)
		}
		uid = strings.NewReplacer("ü", "u", "ë", "e").Replace(uid)
		dn := fmt.Sprintf("uid=%s,ou=people,%s", uid, s.BaseDN)
		fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s %s\ngivenName: %s\nsn: %s\nmail: %s@example.org\ntitle: Engineer\n\n",
			dn, uid, g, f, g, f, uid)
		team := teams[i%len(teams)]
		members[team] = append(members[team], dn)
	}
	for _, team := range teams {
		fmt.Fprintf(&b, "dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n", team, s.BaseDN, team)
		for _, m := range members[team] {
			fmt.Fprintf(&b, "member: %s\n", m)
		}
		b.WriteString("\n")
	}
	return s.Add(ctx, b.String())
}

func ldapSearchPeople(base string) *ldap.SearchRequest {
	return ldap.NewSearchRequest("ou=people,"+base, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"uid"}, nil)
}
