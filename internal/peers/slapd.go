// Package peers starts real identity stores on loopback for tests and for the
// development quickstart (go run ./dev/peers): OpenLDAP slapd, the SCIM
// server. Nothing here is a mock.
package peers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// slapdInstall is what to run when slapd or its overlays are missing.
const slapdInstall = "apt-get install slapd ldap-utils"

// slapdModuleDir holds the overlays of Debian's slapd package.
const slapdModuleDir = "/usr/lib/ldap"

// slapdSchemaDir holds the schema files of Debian's slapd package.
const slapdSchemaDir = "/etc/ldap/schema"

// SlapdOptions configures StartSlapd. The zero value is usable.
type SlapdOptions struct {
	// Dir holds slapd.conf, the databases and the pid file. Empty means a
	// new temporary directory that Stop removes. A Dir that a previous
	// StartSlapd used is reused as it is: its entries and its change log
	// survive, so sync cookies taken before a restart stay valid.
	Dir string
	// Suffix is the naming context; default dc=example,dc=org. Its first
	// RDN must be dc=, o= or ou=.
	Suffix string
	// AdminPassword is the rootdn's password; default a random one. The
	// rootdn is cn=admin,<suffix>.
	AdminPassword string
	// Port is the loopback port to listen on; 0 picks a free one.
	Port int
	// TLS also listens for ldaps:// on another port (Slapd.LDAPSURL) and
	// offers StartTLS on URL, with a certificate for 127.0.0.1 and
	// localhost signed by a CA made for the Dir (Slapd.CAFile).
	TLS bool
	// DatabaseConfig holds extra slapd.conf lines for the main database,
	// placed before its access lines and overlays (for example limits, or
	// access lines that take precedence over the defaults: userPassword
	// for self-write and auth, everything else read by any bound user).
	DatabaseConfig []string
	// SyncprovConfig holds extra lines for the main database's syncprov
	// overlay, e.g. "syncprov-reloadhint TRUE", with which a stale cookie
	// gets e-syncRefreshRequired instead of a present phase.
	SyncprovConfig []string
	// LogLevel is slapd's loglevel; default "none" (errors still show).
	LogLevel string
	// Log receives slapd's output; nil discards it (the tail of it is kept
	// for error messages either way).
	Log io.Writer
}

// Slapd is a running slapd.
type Slapd struct {
	URL           string // ldap://127.0.0.1:PORT
	LDAPSURL      string // ldaps://127.0.0.1:PORT2 with TLS, else empty
	CAFile        string // the CA of the server certificate, with TLS
	BaseDN        string // the suffix
	AdminDN       string // cn=admin,<suffix>
	AdminPassword string
	Dir           string

	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // set before exited is closed
	output   *tailBuffer
	removeIt bool // Dir is ours to remove
	stopOnce sync.Once
	stopErr  error
}

// StartSlapd writes a slapd.conf into opts.Dir, starts slapd on loopback as
// a child process, waits until a bind works and loads the base entries
// (the suffix, ou=people and ou=groups) unless they exist. Stop ends it.
//
// The configuration: an mdb database with the syncprov overlay (RFC 4533
// content sync) whose session log is an accesslog database, so that a
// refreshOnly sync with a cookie reports deletions as entryUUIDs even after
// a restart; memberof and refint maintain memberOf and remove a deleted
// entry's DN from member values.
func StartSlapd(ctx context.Context, opts SlapdOptions) (*Slapd, error) {
	bin, err := findSlapd()
	if err != nil {
		return nil, err
	}
	cfg, err := newSlapdConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Slapd{
		BaseDN:        cfg.Suffix,
		AdminDN:       cfg.AdminDN,
		AdminPassword: cfg.AdminPassword,
		Dir:           opts.Dir,
	}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "slapd-"); err != nil {
			return nil, fmt.Errorf("slapd: create dir: %w", err)
		}
		s.removeIt = true
	} else if s.Dir, err = filepath.Abs(s.Dir); err != nil {
		return nil, fmt.Errorf("slapd: dir: %w", err)
	}
	if err := s.prepareDir(&cfg); err != nil {
		s.cleanup()
		return nil, err
	}
	if opts.TLS {
		files, err := ensureTLSFiles(s.Dir)
		if err != nil {
			s.cleanup()
			return nil, err
		}
		cfg.TLS, s.CAFile = &files, files.CA
	}
	// A free port found by listening can be taken by someone else before
	// slapd binds it: retry with another one.
	for attempt := 0; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				s.cleanup()
				return nil, err
			}
		}
		err = s.start(ctx, bin, cfg, port, opts)
		if err == nil || opts.Port != 0 || attempt == 2 || !strings.Contains(s.Output(), "already in use") {
			break
		}
	}
	if err != nil {
		s.cleanup()
		return nil, err
	}
	if err := s.loadBase(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// findSlapd returns the slapd binary and checks the overlays are there.
func findSlapd() (string, error) {
	bin, err := exec.LookPath("slapd")
	if err != nil {
		// Debian installs it in /usr/sbin, which is not always on PATH.
		bin = "/usr/sbin/slapd"
		if _, statErr := os.Stat(bin); statErr != nil {
			return "", fmt.Errorf("slapd: binary not found on PATH or in /usr/sbin (install it: %s)", slapdInstall)
		}
	}
	for _, m := range []string{"back_mdb", "syncprov", "accesslog", "memberof", "refint"} {
		p := filepath.Join(slapdModuleDir, m+".so")
		if _, err := os.Stat(p); err != nil {
			// Some builds link back_mdb statically.
			if m == "back_mdb" {
				continue
			}
			return "", fmt.Errorf("slapd: overlay %s not found (install it: %s): %w", p, slapdInstall, err)
		}
	}
	return bin, nil
}

// prepareDir creates the database directories and refuses a Dir that a
// running slapd is using.
func (s *Slapd) prepareDir(cfg *slapdConfig) error {
	cfg.Dir = s.Dir
	pidFile := filepath.Join(s.Dir, "slapd.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && processAlive(pid) {
			return fmt.Errorf("slapd: %s is in use by a running slapd (pid %d)", s.Dir, pid)
		}
	}
	for _, d := range []string{"data", "accesslog"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o700); err != nil {
			return fmt.Errorf("slapd: create dir: %w", err)
		}
	}
	return nil
}

// start writes the config for port, runs slapd and waits until a bind works.
func (s *Slapd) start(ctx context.Context, bin string, cfg slapdConfig, port int, opts SlapdOptions) error {
	conf := filepath.Join(s.Dir, "slapd.conf")
	var b bytes.Buffer
	if err := slapdConfTemplate.Execute(&b, cfg); err != nil {
		return fmt.Errorf("slapd: render config: %w", err)
	}
	if err := os.WriteFile(conf, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("slapd: write config: %w", err)
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	listen := s.URL + "/"
	if cfg.TLS != nil {
		tlsPort, err := freePort()
		if err != nil {
			return err
		}
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort)
		listen += " " + s.LDAPSURL + "/"
	}
	s.output = &tailBuffer{max: 16 << 10}
	var out io.Writer = s.output
	if opts.Log != nil {
		out = io.MultiWriter(s.output, opts.Log)
	}
	// -d keeps slapd in the foreground, as our child; without -u/-g it
	// runs as the current user, root included.
	cmd := exec.Command(bin, "-f", conf, "-h", listen, "-d", "0")
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = slapdSysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("slapd: start %s: %w", bin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return err
	}
	return nil
}

// waitReady polls with a bind until slapd answers, it exits, or ctx ends.
func (s *Slapd) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := s.Conn(ctx)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-s.exited:
			return fmt.Errorf("slapd: exited before it was ready (%v); its output:\n%s", s.waitErr, s.output.String())
		case <-ctx.Done():
			return fmt.Errorf("slapd: not ready at %s: %w (last error: %v); its output:\n%s", s.URL, ctx.Err(), err, s.output.String())
		case <-tick.C:
		}
	}
}

// Stop ends slapd gracefully (so that it writes its contextCSN), killing
// it after 10 s, and removes the directory if StartSlapd created it.
// Calling it again returns the first result.
func (s *Slapd) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = stopProcess("slapd", s.cmd, s.exited, 10*time.Second)
		s.cleanup()
	})
	return s.stopErr
}

// kill ends the process at once and waits for it.
func (s *Slapd) kill() { killProcess(s.cmd, s.exited) }

func (s *Slapd) cleanup() {
	if s.removeIt {
		_ = os.RemoveAll(s.Dir)
	}
}

// Output returns the tail of slapd's output, for diagnosing a failed test.
func (s *Slapd) Output() string {
	if s.output == nil {
		return ""
	}
	return s.output.String()
}

// Conn dials slapd and binds as the admin; the caller closes it.
func (s *Slapd) Conn(ctx context.Context) (*ldap.Conn, error) {
	return dialAndBind(ctx, "slapd", s.URL, s.AdminDN, s.AdminPassword)
}

// loadBase adds the suffix, ou=people and ou=groups unless they exist.
func (s *Slapd) loadBase(ctx context.Context) error {
	top, err := suffixEntry(s.BaseDN)
	if err != nil {
		return err
	}
	entries := top + fmt.Sprintf(`
dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: ou=groups,%[1]s
objectClass: organizationalUnit
ou: groups
`, s.BaseDN)
	return s.dir().ensure(ctx, entries)
}

// suffixEntry returns the LDIF of the suffix entry, by its first RDN.
func suffixEntry(suffix string) (string, error) {
	dn, err := ldap.ParseDN(suffix)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) != 1 {
		return "", fmt.Errorf("slapd: suffix %q: want a DN like dc=example,dc=org", suffix)
	}
	atv := dn.RDNs[0].Attributes[0]
	switch strings.ToLower(atv.Type) {
	case "dc":
		return fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n", suffix, atv.Value, atv.Value), nil
	case "o":
		return fmt.Sprintf("dn: %s\nobjectClass: organization\no: %s\n", suffix, atv.Value), nil
	case "ou":
		return fmt.Sprintf("dn: %s\nobjectClass: organizationalUnit\nou: %s\n", suffix, atv.Value), nil
	default:
		return "", fmt.Errorf("slapd: suffix %q: first RDN must be dc=, o= or ou=", suffix)
	}
}

// Add adds the entries of an LDIF text (content records: dn, then
// attributes; records separated by a blank line), in order.
func (s *Slapd) Add(ctx context.Context, ldif string) error { return s.dir().add(ctx, ldif) }

// Modify applies LDIF change records in order. Each names its changetype:
// modify (add:/replace:/delete: blocks separated by "-"), add, delete,
// modrdn or moddn.
func (s *Slapd) Modify(ctx context.Context, ldif string) error { return s.dir().modify(ctx, ldif) }

// Delete deletes entries by DN, in order.
func (s *Slapd) Delete(ctx context.Context, dns ...string) error { return s.dir().delete(ctx, dns...) }

// EntryUUID reads an entry's entryUUID, the id an LDAP source gives it.
func (s *Slapd) EntryUUID(ctx context.Context, dn string) (string, error) {
	return s.dir().attr(ctx, dn, "entryUUID")
}

func (s *Slapd) dir() directory { return directory{name: "slapd", dial: s.Conn} }

// slapdConfig is what the slapd.conf template needs.
type slapdConfig struct {
	Dir            string
	Suffix         string
	AdminDN        string
	AdminPassword  string
	SchemaDir      string
	ModuleDir      string
	LogLevel       string
	DatabaseConfig []string
	SyncprovConfig []string
	TLS            *slapdTLSFiles
}

func newSlapdConfig(opts SlapdOptions) (slapdConfig, error) {
	cfg := slapdConfig{
		Suffix:         opts.Suffix,
		AdminPassword:  opts.AdminPassword,
		SchemaDir:      slapdSchemaDir,
		ModuleDir:      slapdModuleDir,
		LogLevel:       opts.LogLevel,
		DatabaseConfig: opts.DatabaseConfig,
		SyncprovConfig: opts.SyncprovConfig,
	}
	if cfg.Suffix == "" {
		cfg.Suffix = "dc=example,dc=org"
	}
	if _, err := suffixEntry(cfg.Suffix); err != nil {
		return cfg, err
	}
	cfg.AdminDN = "cn=admin," + cfg.Suffix
	if cfg.AdminPassword == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		cfg.AdminPassword = hex.EncodeToString(b)
	}
	if strings.ContainsAny(cfg.AdminPassword, "\n\r\"\\") {
		return cfg, errors.New("slapd: admin password must not hold quotes, backslashes or newlines")
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "none"
	}
	return cfg, nil
}

// slapdConfTemplate is the slapd.conf. Overlays run in reverse order of
// definition: refint and memberof act first, and syncprov, defined first,
// sees every write, including theirs. The accesslog database doubles as
// syncprov's session log (syncprov-sessionlog-source), which, unlike the
// in-memory syncprov-sessionlog, survives restarts: a cookie taken before a
// restart still yields deletions instead of a present phase. refint's own
// member removals do not change the group's entryCSN: a consumer learns of
// them from the deleted member's entryUUID.
var slapdConfTemplate = template.Must(template.New("slapd.conf").Parse(`# Written by idsync internal/peers; rewritten at each start.
include {{.SchemaDir}}/core.schema
include {{.SchemaDir}}/cosine.schema
include {{.SchemaDir}}/nis.schema
include {{.SchemaDir}}/inetorgperson.schema

modulepath {{.ModuleDir}}
moduleload back_mdb
moduleload syncprov
moduleload accesslog
moduleload memberof
moduleload refint

pidfile "{{.Dir}}/slapd.pid"
argsfile "{{.Dir}}/slapd.args"
loglevel {{.LogLevel}}
{{with .TLS}}
TLSCACertificateFile "{{.CA}}"
TLSCertificateFile "{{.Cert}}"
TLSCertificateKeyFile "{{.Key}}"
{{end}}
# The change log; syncprov reads it as its session log.
database mdb
suffix "cn=accesslog"
rootdn "{{.AdminDN}}"
directory "{{.Dir}}/accesslog"
maxsize 1073741824
index default eq
index entryCSN,objectClass,reqEnd,reqResult,reqStart,reqDN eq
access to * by * none
overlay syncprov
syncprov-nopresent TRUE
syncprov-reloadhint TRUE

database mdb
suffix "{{.Suffix}}"
rootdn "{{.AdminDN}}"
rootpw "{{.AdminPassword}}"
directory "{{.Dir}}/data"
maxsize 1073741824
index objectClass eq
index entryUUID,entryCSN eq
index uid,cn,mail,member eq
{{range .DatabaseConfig}}{{.}}
{{end}}
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by users read
  by * none
overlay syncprov
syncprov-checkpoint 100 10
syncprov-sessionlog-source cn=accesslog
{{range .SyncprovConfig}}{{.}}
{{end}}
overlay accesslog
logdb cn=accesslog
logops writes
logsuccess TRUE
logpurge 07+00:00 01+00:00

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

overlay refint
refint_attributes member
refint_nothing "{{.AdminDN}}"
`))

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("slapd: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
