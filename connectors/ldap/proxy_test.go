package ldap

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// ldapProxy forwards TCP to an LDAP server and counts what clients send,
// by operation, so that a test can say how many requests an operation
// costs the server. blip makes it forget the connections it has, as a NAT
// or a firewall that lost its state: nothing tells the client, and its next
// request on one of them is answered with a reset.
type ldapProxy struct {
	t        *testing.T
	l        net.Listener
	upstream string
	wg       sync.WaitGroup

	mu    sync.Mutex
	ops   map[string]int // by operation name
	conns int
	live  []*proxyConn // not forgotten
	all   []*proxyConn
}

type proxyConn struct {
	client, server net.Conn
	forgotten      atomic.Bool
}

// startProxy listens on a free loopback port in front of the server at
// url (ldap://host:port); it stops when the test ends.
func startProxy(t *testing.T, url string) *ldapProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ldapProxy{t: t, l: l, upstream: strings.TrimPrefix(url, "ldap://"), ops: map[string]int{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.all {
			c.client.Close()
			c.server.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// URL is the proxy's ldap:// URL.
func (p *ldapProxy) URL() string { return "ldap://" + p.l.Addr().String() }

// proxyCounts is what clients sent through the proxy so far.
type proxyCounts struct {
	Searches, Binds, Conns int
}

func (p *ldapProxy) counts() proxyCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return proxyCounts{Searches: p.ops["search"], Binds: p.ops["bind"], Conns: p.conns}
}

// during returns what clients sent through the proxy while fn ran.
func (p *ldapProxy) during(fn func()) proxyCounts {
	before := p.counts()
	fn()
	after := p.counts()
	return proxyCounts{Searches: after.Searches - before.Searches, Binds: after.Binds - before.Binds, Conns: after.Conns - before.Conns}
}

// blip forgets every connection open now: the server's side is closed,
// the client's is left open until the client sends something, which gets
// a reset.
func (p *ldapProxy) blip() {
	p.mu.Lock()
	live := p.live
	p.live = nil
	p.mu.Unlock()
	for _, c := range live {
		c.forgotten.Store(true)
		c.server.Close()
	}
}

func (p *ldapProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

func (p *ldapProxy) handle(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	pc := &proxyConn{client: client, server: server}
	p.mu.Lock()
	p.conns++
	p.live = append(p.live, pc)
	p.all = append(p.all, pc)
	p.mu.Unlock()
	p.wg.Go(func() {
		_, _ = io.Copy(client, server)
		if !pc.forgotten.Load() {
			client.Close()
		}
	})
	r := bufio.NewReader(client)
	for {
		msg, err := readBER(r)
		if err != nil {
			client.Close()
			server.Close()
			return
		}
		if pc.forgotten.Load() {
			// A reset, as a middlebox that no longer knows the
			// connection answers.
			if tc, ok := client.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			client.Close()
			return
		}
		p.mu.Lock()
		p.ops[opName(msg)]++
		p.mu.Unlock()
		if _, err := server.Write(msg); err != nil {
			client.Close()
			return
		}
	}
}

// readBER reads one whole BER element (tag, length, content).
func readBER(r *bufio.Reader) ([]byte, error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	l0, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	hdr := []byte{tag, l0}
	n := int(l0)
	if l0&0x80 != 0 {
		k := int(l0 & 0x7f)
		if k == 0 || k > 4 {
			return nil, errors.New("ldap proxy: unsupported BER length")
		}
		n = 0
		for range k {
			b, err := r.ReadByte()
			if err != nil {
				return nil, err
			}
			hdr = append(hdr, b)
			n = n<<8 | int(b)
		}
	}
	msg := make([]byte, len(hdr)+n)
	copy(msg, hdr)
	if _, err := io.ReadFull(r, msg[len(hdr):]); err != nil {
		return nil, err
	}
	return msg, nil
}

// opName names the operation of an LDAPMessage: the tag after the
// SEQUENCE header and the messageID INTEGER.
func opName(msg []byte) string {
	i := 1
	if i < len(msg) && msg[i]&0x80 != 0 {
		i += int(msg[i] & 0x7f)
	}
	i++ // the messageID's tag
	if i+1 >= len(msg) {
		return "malformed"
	}
	i += 2 + int(msg[i+1])
	if i >= len(msg) {
		return "malformed"
	}
	switch msg[i] {
	case 0x60:
		return "bind"
	case 0x42:
		return "unbind"
	case 0x63:
		return "search"
	case 0x50:
		return "abandon"
	case 0x77:
		return "extended"
	}
	return "other"
}
