package peers

import (
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// dirsrvInstall is what to run when 389 Directory Server is missing.
const dirsrvInstall = "apt-get install 389-ds-base"

// Files of Debian's 389-ds-base package.
const (
	dirsrvTemplate  = "/usr/share/dirsrv/data/template-dse.ldif"
	dirsrvSchemaDir = "/etc/dirsrv/schema"
	dirsrvConfigDir = "/etc/dirsrv/config"
)

// dirsrvLogLevel is ns-slapd's -d level: the default error log level
// (SLAPD_DEFAULT_ERRORLOG_LEVEL, as dscontainer uses it), which -d sends
// to stderr while keeping the server in the foreground.
const dirsrvLogLevel = "266354688"

// DirsrvAdminDN is the root DN of every Dirsrv.
const DirsrvAdminDN = "cn=Directory Manager"

// DirsrvOptions configures StartDirsrv. The zero value is usable.
type DirsrvOptions struct {
	// Dir holds the instance: config (dse.ldif, schema), databases, logs.
	// Empty means a new temporary directory that Stop removes. A Dir that
	// a previous StartDirsrv used is reused as it is, entries and change
	// log included: pass the AdminPassword it was created with.
	Dir string
	// Suffix is the naming context; default dc=example,dc=org. Its first
	// RDN must be dc=, o= or ou=.
	Suffix string
	// AdminPassword is cn=Directory Manager's password; default a random
	// one.
	AdminPassword string
	// Port is the loopback port to listen on; 0 picks a free one.
	Port int
	// Log receives ns-slapd's error log; nil discards it (the tail of it
	// is kept for error messages either way).
	Log io.Writer
}

// Dirsrv is a running 389 Directory Server.
type Dirsrv struct {
	URL           string // ldap://127.0.0.1:PORT
	BaseDN        string // the suffix
	AdminDN       string // cn=Directory Manager
	AdminPassword string
	Dir           string

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	output   *tailBuffer
	removeIt bool
	stopOnce sync.Once
	stopErr  error
}

// StartDirsrv creates a 389 Directory Server instance in opts.Dir (unless
// one is there), runs ns-slapd on loopback as a child process, waits until
// a bind works, and creates the suffix's backend and the base entries
// (the suffix, ou=people, ou=groups) unless they exist. Stop ends it.
//
// The instance is rendered from the package's template-dse.ldif, as
// dscreate does, but with every path in Dir: dscontainer insists on /data
// and ports 3389/3636, and dscreate on /etc/dirsrv/slapd-NAME. Enabled
// beyond the defaults: the Retro Changelog (logging nsUniqueId as
// targetUniqueId) and Content Synchronization plugins, which give RFC 4533
// content sync with sync UUIDs taken from nsUniqueId, and referential
// integrity, which removes a deleted entry's DN from member and
// uniqueMember values.
func StartDirsrv(ctx context.Context, opts DirsrvOptions) (*Dirsrv, error) {
	bin, err := findDirsrv()
	if err != nil {
		return nil, err
	}
	d := &Dirsrv{AdminDN: DirsrvAdminDN, AdminPassword: opts.AdminPassword, BaseDN: opts.Suffix, Dir: opts.Dir}
	if d.BaseDN == "" {
		d.BaseDN = "dc=example,dc=org"
	}
	if _, err := suffixEntry(d.BaseDN); err != nil {
		return nil, err
	}
	if d.AdminPassword == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		d.AdminPassword = hex.EncodeToString(b)
	}
	if d.Dir == "" {
		if d.Dir, err = os.MkdirTemp("", "dirsrv-"); err != nil {
			return nil, fmt.Errorf("dirsrv: create dir: %w", err)
		}
		d.removeIt = true
	} else if d.Dir, err = filepath.Abs(d.Dir); err != nil {
		return nil, fmt.Errorf("dirsrv: dir: %w", err)
	}
	for attempt := 0; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				d.cleanup()
				return nil, err
			}
		}
		if err = d.prepare(port); err == nil {
			err = d.start(ctx, bin, port, opts.Log)
		}
		out := d.Output()
		if err == nil || opts.Port != 0 || attempt == 2 || !(strings.Contains(out, "already in use") || strings.Contains(out, "Address in use")) {
			break
		}
	}
	if err != nil {
		d.cleanup()
		return nil, err
	}
	if err := d.setupSuffix(ctx); err != nil {
		_ = d.Stop()
		return nil, err
	}
	return d, nil
}

// findDirsrv returns the ns-slapd binary and checks the template is there.
func findDirsrv() (string, error) {
	bin, err := exec.LookPath("ns-slapd")
	if err != nil {
		bin = "/usr/sbin/ns-slapd"
		if _, statErr := os.Stat(bin); statErr != nil {
			return "", fmt.Errorf("dirsrv: ns-slapd not found on PATH or in /usr/sbin (install it: %s)", dirsrvInstall)
		}
	}
	for _, f := range []string{dirsrvTemplate, dirsrvSchemaDir} {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("dirsrv: %s not found (install it: %s): %w", f, dirsrvInstall, err)
		}
	}
	return bin, nil
}

// prepare writes a new instance into Dir, or sets the port of the one
// that is there.
func (d *Dirsrv) prepare(port int) error {
	dse := filepath.Join(d.Dir, "config", "dse.ldif")
	b, err := os.ReadFile(dse)
	if err == nil {
		out := portLine.ReplaceAll(b, []byte("${1}"+strconv.Itoa(port)))
		if err := os.WriteFile(dse, out, 0o600); err != nil {
			return fmt.Errorf("dirsrv: write %s: %w", dse, err)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dirsrv: %w", err)
	}
	for _, sub := range []string{"config", "db", "dbhome", "bak", "ldif", "run", "lock", "logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o700); err != nil {
			return fmt.Errorf("dirsrv: create dir: %w", err)
		}
	}
	if err := os.CopyFS(filepath.Join(d.Dir, "config", "schema"), os.DirFS(dirsrvSchemaDir)); err != nil {
		return fmt.Errorf("dirsrv: copy the schema: %w", err)
	}
	for _, f := range []string{"certmap.conf", "slapd-collations.conf"} {
		if b, err := os.ReadFile(filepath.Join(dirsrvConfigDir, f)); err == nil {
			if err := os.WriteFile(filepath.Join(d.Dir, "config", f), b, 0o600); err != nil {
				return fmt.Errorf("dirsrv: %w", err)
			}
		}
	}
	tmpl, err := os.ReadFile(dirsrvTemplate)
	if err != nil {
		return fmt.Errorf("dirsrv: read the template (install it: %s): %w", dirsrvInstall, err)
	}
	conf, err := renderDSE(string(tmpl), d.Dir, d.BaseDN, d.AdminPassword, port)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dse, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("dirsrv: write %s: %w", dse, err)
	}
	return nil
}

// portLine is nsslapd-port in dse.ldif, which the server rewrites in its
// own letter case.
var portLine = regexp.MustCompile(`(?mi)^(nsslapd-port:\s*)\d+$`)

// renderDSE fills template-dse.ldif in for an instance in dir, and turns
// on what the tests need.
func renderDSE(tmpl, dir, suffix, password string, port int) (string, error) {
	userName := "root"
	if u, err := user.Current(); err == nil {
		userName = u.Username
	}
	vars := map[string]string{
		"schema_dir": filepath.Join(dir, "config", "schema"), "config_dir": filepath.Join(dir, "config"),
		"cert_dir": filepath.Join(dir, "config"), "lock_dir": filepath.Join(dir, "lock"),
		"tmp_dir": filepath.Join(dir, "tmp"), "ldif_dir": filepath.Join(dir, "ldif"),
		"bak_dir": filepath.Join(dir, "bak"), "run_dir": filepath.Join(dir, "run"),
		"inst_dir": dir, "log_dir": filepath.Join(dir, "logs"),
		"db_dir": filepath.Join(dir, "db"), "db_home_dir": filepath.Join(dir, "dbhome"), "db_lib": "bdb",
		"fqdn": "localhost", "ds_port": strconv.Itoa(port), "ds_user": userName,
		"rootdn": DirsrvAdminDN, "ds_passwd": ssha512(password), "ds_suffix": suffix,
		"ldapi_enabled": "off", "ldapi": filepath.Join(dir, "run", "slapd.socket"), "ldapi_autobind": "off",
	}
	var missing []string
	out := regexp.MustCompile(`%([a-z_]+)%`).ReplaceAllStringFunc(tmpl, func(m string) string {
		if v, ok := vars[m[1:len(m)-1]]; ok {
			return v
		}
		missing = append(missing, m)
		return m
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("dirsrv: the template has placeholders this version does not know: %v", missing)
	}
	extra := map[string][]string{
		"cn=config": {"nsslapd-listenhost: 127.0.0.1"},
		// A small database cache instead of a share of the host's memory.
		"cn=config,cn=ldbm database,cn=plugins,cn=config": {"nsslapd-cache-autosize: 0", "nsslapd-dbcachesize: 8000000"},
		"cn=Retro Changelog Plugin,cn=plugins,cn=config":  {"nsslapd-attribute: nsuniqueid:targetUniqueId"},
	}
	enable := map[string]bool{
		"cn=Retro Changelog Plugin,cn=plugins,cn=config":              true,
		"cn=Content Synchronization,cn=plugins,cn=config":             true,
		"cn=referential integrity postoperation,cn=plugins,cn=config": true,
	}
	blocks := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n\n")
	found := 0
	for i, b := range blocks {
		dn, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimLeft(b, "\n"), "dn: "), "\n")
		if enable[dn] {
			b = regexp.MustCompile(`(?mi)^nsslapd-pluginenabled:\s*off$`).ReplaceAllString(b, "nsslapd-pluginEnabled: on")
			found++
		}
		if lines, ok := extra[dn]; ok {
			b = strings.TrimRight(b, "\n") + "\n" + strings.Join(lines, "\n")
		}
		blocks[i] = b
	}
	if found != len(enable) {
		return "", fmt.Errorf("dirsrv: the template lacks some of the plugins %v", enable)
	}
	return strings.Join(blocks, "\n\n") + "\n", nil
}

// ssha512 hashes a password as {SSHA512}, which 389-ds takes for
// nsslapd-rootpw (it refuses a clear-text one).
func ssha512(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	sum := sha512.Sum512(append([]byte(password), salt...))
	return "{SSHA512}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
}

// start runs ns-slapd in the foreground and waits until a bind works.
func (d *Dirsrv) start(ctx context.Context, bin string, port int, log io.Writer) error {
	d.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	d.output = &tailBuffer{max: 32 << 10}
	var out io.Writer = d.output
	if log != nil {
		out = io.MultiWriter(d.output, log)
	}
	cmd := exec.Command(bin, "-D", filepath.Join(d.Dir, "config"), "-d", dirsrvLogLevel)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = slapdSysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dirsrv: start %s: %w", bin, err)
	}
	d.cmd = cmd
	d.exited = make(chan struct{})
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := d.Conn(rctx)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-d.exited:
			return fmt.Errorf("dirsrv: ns-slapd exited before it was ready (%v); its output:\n%s", d.waitErr, d.output.String())
		case <-rctx.Done():
			d.kill()
			return fmt.Errorf("dirsrv: not ready at %s: %w (last error: %v); its output:\n%s", d.URL, rctx.Err(), err, d.output.String())
		case <-tick.C:
		}
	}
}

// setupSuffix creates the suffix's backend (userRoot) and mapping tree
// entry, then the base entries, each unless it exists. Bound users may
// read and search the suffix.
func (d *Dirsrv) setupSuffix(ctx context.Context) error {
	top, err := suffixEntry(d.BaseDN)
	if err != nil {
		return err
	}
	entries := fmt.Sprintf(`dn: cn=userRoot,cn=ldbm database,cn=plugins,cn=config
objectClass: top
objectClass: extensibleObject
objectClass: nsBackendInstance
cn: userRoot
nsslapd-suffix: %[1]s

dn: cn="%[1]s",cn=mapping tree,cn=config
objectClass: top
objectClass: extensibleObject
objectClass: nsMappingTree
cn: %[1]s
nsslapd-state: backend
nsslapd-backend: userRoot

%[2]saci: (targetattr="*")(version 3.0; acl "bound users read"; allow (read, search, compare) userdn="ldap:///all";)

dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: ou=groups,%[1]s
objectClass: organizationalUnit
ou: groups
`, d.BaseDN, top)
	return d.dir().ensure(ctx, entries)
}

// Stop ends ns-slapd gracefully, killing it after 30 s, and removes the
// directory if StartDirsrv created it. Calling it again returns the first
// result.
func (d *Dirsrv) Stop() error {
	d.stopOnce.Do(func() {
		d.stopErr = stopProcess("dirsrv", d.cmd, d.exited, 30*time.Second)
		d.cleanup()
	})
	return d.stopErr
}

func (d *Dirsrv) kill() { killProcess(d.cmd, d.exited) }

func (d *Dirsrv) cleanup() {
	if d.removeIt {
		_ = os.RemoveAll(d.Dir)
	}
}

// Output returns the tail of ns-slapd's error log.
func (d *Dirsrv) Output() string {
	if d.output == nil {
		return ""
	}
	return d.output.String()
}

// Conn dials the server and binds as cn=Directory Manager; the caller
// closes it.
func (d *Dirsrv) Conn(ctx context.Context) (*ldap.Conn, error) {
	return dialAndBind(ctx, "dirsrv", d.URL, d.AdminDN, d.AdminPassword)
}

// Add adds the entries of an LDIF text, in order.
func (d *Dirsrv) Add(ctx context.Context, ldif string) error { return d.dir().add(ctx, ldif) }

// Modify applies LDIF change records in order (changetype modify, add,
// delete, modrdn or moddn).
func (d *Dirsrv) Modify(ctx context.Context, ldif string) error { return d.dir().modify(ctx, ldif) }

func (d *Dirsrv) dir() directory { return directory{name: "dirsrv", dial: d.Conn} }
