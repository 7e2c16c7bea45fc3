package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

func numCPU() int { return runtime.NumCPU() }

// LDAPProxy forwards TCP to an LDAP server and counts the requests clients
// send: each BER LDAPMessage, by its protocolOp, so that a benchmark can say
// how many requests a poll costs the source.
type LDAPProxy struct {
	l        net.Listener
	upstream string
	requests atomic.Int64 // every op but bind, unbind and abandon
	conns    atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	ops      map[byte]int // protocolOp tag → count
}

// startLDAPProxy listens on a free loopback port in front of upstream.
func startLDAPProxy(upstream string) (*LDAPProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LDAPProxy{l: l, upstream: upstream}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is host:port of the proxy.
func (p *LDAPProxy) Addr() string { return p.l.Addr().String() }

// Counts returns the requests (excluding bind, unbind and abandon) and the
// connections so far.
func (p *LDAPProxy) Counts() (requests, conns int) {
	return int(p.requests.Load()), int(p.conns.Load())
}

// Ops returns the count of each operation so far, by name.
func (p *LDAPProxy) Ops() map[string]int {
	names := map[byte]string{0x60: "bind", 0x42: "unbind", 0x63: "search", 0x66: "modify", 0x68: "add",
		0x4a: "delete", 0x6c: "modrdn", 0x6e: "compare", 0x50: "abandon", 0x77: "extended"}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for op, n := range p.ops {
		name, ok := names[op]
		if !ok {
			name = fmt.Sprintf("op-0x%02x", op)
		}
		out[name] += n
	}
	return out
}

// Close stops accepting; open connections end with their peers.
func (p *LDAPProxy) Close() error { return p.l.Close() }

func (p *LDAPProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		go p.handle(c)
	}
}

func (p *LDAPProxy) handle(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
	r := bufio.NewReader(c)
	for {
		msg, err := readBER(r)
		if err != nil {
			return
		}
		op := protocolOp(msg)
		if op != 0x60 && op != 0x42 && op != 0x50 {
			p.requests.Add(1)
		}
		p.mu.Lock()
		if p.ops == nil {
			p.ops = map[byte]int{}
		}
		p.ops[op]++
		p.mu.Unlock()
		if _, err := u.Write(msg); err != nil {
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

// protocolOp is the tag of an LDAPMessage's operation: after the SEQUENCE
// header and the messageID INTEGER.
func protocolOp(msg []byte) byte {
	i := 1
	if i >= len(msg) {
		return 0
	}
	if msg[i]&0x80 != 0 {
		i += int(msg[i] & 0x7f)
	}
	i++ // now at messageID tag
	if i+1 >= len(msg) {
		return 0
	}
	i += 2 + int(msg[i+1]) // INTEGER tag, length, value
	if i >= len(msg) {
		return 0
	}
	return msg[i]
}
