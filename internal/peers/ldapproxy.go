package peers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// LDAPProxy forwards TCP to an LDAP server and counts what clients send,
// each BER LDAPMessage by its operation, so that a test or a benchmark can
// say how many requests an operation costs the server. Blip makes it
// forget its connections, as a NAT or firewall that lost its state.
type LDAPProxy struct {
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

// StartLDAPProxy listens on a free loopback port in front of the server at
// upstream (host:port). Close stops it.
func StartLDAPProxy(upstream string) (*LDAPProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ldap proxy: %w", err)
	}
	p := &LDAPProxy{l: l, upstream: upstream, ops: map[string]int{}}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the proxy's host:port; URL its ldap:// URL.
func (p *LDAPProxy) Addr() string { return p.l.Addr().String() }
func (p *LDAPProxy) URL() string  { return "ldap://" + p.Addr() }

// Ops returns the count of each operation so far, by name (search, bind,
// modify, …).
func (p *LDAPProxy) Ops() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.ops))
	for k, v := range p.ops {
		out[k] = v
	}
	return out
}

// Counts returns the requests so far other than bind, unbind and abandon,
// and the connections.
func (p *LDAPProxy) Counts() (requests, conns int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for op, n := range p.ops {
		switch op {
		case "bind", "unbind", "abandon":
		default:
			requests += n
		}
	}
	return requests, p.conns
}

// Blip forgets every connection open now: the server's side is closed,
// the client's is left open until the client sends something, which gets
// a reset.
func (p *LDAPProxy) Blip() {
	p.mu.Lock()
	live := p.live
	p.live = nil
	p.mu.Unlock()
	for _, c := range live {
		c.forgotten.Store(true)
		c.server.Close()
	}
}

// Close stops the proxy and closes every connection through it.
func (p *LDAPProxy) Close() error {
	err := p.l.Close()
	p.mu.Lock()
	for _, c := range p.all {
		c.client.Close()
		c.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *LDAPProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

func (p *LDAPProxy) handle(client net.Conn) {
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

// opNames are the LDAPMessage protocolOp tags (RFC 4511 §4.2).
var opNames = map[byte]string{0x60: "bind", 0x42: "unbind", 0x63: "search", 0x66: "modify", 0x68: "add",
	0x4a: "delete", 0x6c: "modrdn", 0x6e: "compare", 0x50: "abandon", 0x77: "extended"}

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
	if name, ok := opNames[msg[i]]; ok {
		return name
	}
	return fmt.Sprintf("op-0x%02x", msg[i])
}
