package peers

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// stopProcess ends a test server gracefully, killing it after grace.
func stopProcess(name string, cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) error {
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
		killProcess(cmd, exited)
		return fmt.Errorf("%s: did not stop within %s of SIGTERM; killed", name, grace)
	}
}

// killProcess ends a test server at once and waits for it.
func killProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// dialAndBind connects to a test server over plain LDAP and binds as its
// administrator; the caller closes the connection.
func dialAndBind(ctx context.Context, name, url, dn, password string) (*ldap.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(url, "ldap://"))
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", name, url, err)
	}
	conn := ldap.NewConn(raw, false)
	conn.Start()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.Bind(dn, password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: bind as %s: %w", name, dn, err)
	}
	return conn, nil
}
