// Package bench holds idsync's benchmarks (make bench): a deterministic
// directory generator, the scenarios of issue 5 and the result table.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"

	"github.com/brianvoe/gofakeit/v7"
	"golang.org/x/sync/errgroup"

	"github.com/idsync/idsync/internal/peers"
)

// Seed makes every generated directory the same for the same N.
const Seed = 20261122

// User is one generated person.
type User struct {
	UID, GivenName, SN, CN, Mail, Department, Title, Manager string
}

// Group is one generated group; Members are indexes into Directory.Users.
type Group struct {
	CN      string
	Members []int
}

// Directory is a generated directory of users and groups.
type Directory struct {
	Users  []User
	Groups []Group
}

// accent gives some names non-ASCII letters, deterministically.
var accent = strings.NewReplacer("a", "á", "e", "é", "o", "ø", "u", "ü", "c", "ç", "n", "ñ")

// Generate returns n users and 2% as many groups of about 50 members each,
// the same for the same n.
func Generate(n int) Directory {
	f := gofakeit.New(Seed)
	rng := rand.New(rand.NewPCG(Seed, uint64(n)))
	d := Directory{Users: make([]User, n)}
	for i := range d.Users {
		p := f.Person()
		given, sn := p.FirstName, p.LastName
		if i%5 == 0 { // one in five has non-ASCII letters in the name
			given, sn = accent.Replace(given), accent.Replace(sn)
		}
		base := strings.ToLower(asciiOnly(p.FirstName) + "." + asciiOnly(p.LastName))
		uid := fmt.Sprintf("%s%d", base, i)
		switch i % 4 { // letter-case variety in the uids
		case 1:
			uid = strings.ToUpper(uid[:1]) + uid[1:]
		case 2:
			uid = strings.ToUpper(uid)
		case 3:
			uid = mixedCase(uid)
		}
		u := User{
			UID: uid, GivenName: given, SN: sn, CN: given + " " + sn,
			Mail:       strings.ToLower(uid) + "@" + "example.org",
			Department: f.JobDescriptor() + " " + f.JobLevel(),
			Title:      p.Job.Title,
		}
		if i > 0 && i%10 != 0 { // managers: an earlier user, one in ten has none
			u.Manager = d.Users[rng.IntN(i)].UID
		}
		d.Users[i] = u
	}
	groups := n * 2 / 100
	if groups == 0 && n > 0 {
		groups = 1
	}
	for g := range groups {
		size := 40 + rng.IntN(21) // 40..60, 50 on average
		if size > n {
			size = n
		}
		seen := map[int]bool{}
		grp := Group{CN: fmt.Sprintf("%s-%s-%d", strings.ToLower(asciiOnly(f.HackerNoun())), strings.ToLower(asciiOnly(f.Color())), g)}
		for len(grp.Members) < size {
			m := rng.IntN(n)
			if !seen[m] {
				seen[m] = true
				grp.Members = append(grp.Members, m)
			}
		}
		d.Groups = append(d.Groups, grp)
	}
	return d
}

func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

func mixedCase(s string) string {
	b := []rune(s)
	for i := range b {
		if i%2 == 0 {
			b[i] = unicode.ToUpper(b[i])
		}
	}
	return string(b)
}

// UserDN is a user's DN under base.
func UserDN(u User, base string) string { return "uid=" + u.UID + ",ou=people," + base }

// UserLDIF is the LDIF add record of users[i].
func (d Directory) UserLDIF(i int, base string) string {
	u := d.Users[i]
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\ngivenName: %s\nsn: %s\nmail: %s\ndepartmentNumber: %s\ntitle: %s\n",
		UserDN(u, base), u.UID, u.CN, u.GivenName, u.SN, u.Mail, u.Department, u.Title)
	if u.Manager != "" {
		fmt.Fprintf(&b, "manager: uid=%s,ou=people,%s\n", u.Manager, base)
	}
	b.WriteString("\n")
	return b.String()
}

// GroupLDIF is the LDIF add record of groups[i].
func (d Directory) GroupLDIF(i int, base string) string {
	g := d.Groups[i]
	var b strings.Builder
	fmt.Fprintf(&b, "dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n", g.CN, base, g.CN)
	for _, m := range g.Members {
		fmt.Fprintf(&b, "member: %s\n", UserDN(d.Users[m], base))
	}
	b.WriteString("\n")
	return b.String()
}

// Load writes the directory into slapd by batched LDIF adds, a few batches
// at a time: users first (managers are earlier users), then groups.
func (d Directory) Load(ctx context.Context, s *peers.Slapd) error {
	const batch = 500
	add := func(n int, rec func(int, string) string) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			var b strings.Builder
			for i := lo; i < hi; i++ {
				b.WriteString(rec(i, s.BaseDN))
			}
			g.Go(func() error { return s.Add(gctx, b.String()) })
		}
		return g.Wait()
	}
	if err := add(len(d.Users), d.UserLDIF); err != nil {
		return err
	}
	return add(len(d.Groups), d.GroupLDIF)
}
