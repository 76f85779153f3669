package jsjoin

import (
	"fmt"
	"regexp"
	"strings"
)

// methodsClass is a top-level class of a source: when the source gives it
// to addMethods, its body is Herald's methods written in another file.
type methodsClass struct {
	name    string
	at      string // where it is declared
	extends bool
	lines   []classLine // its body
}

type classLine struct {
	at string
	scanned
}

var (
	// methodHead starts a method of a class body (a line at depth 1).
	methodHead   = regexp.MustCompile(`^(?:async\s+)?(?:\*\s*)?(?:(?:get|set)\s+)?([\w$]+)\s*\(`)
	superKeyword = regexp.MustCompile(`(?:^|[^\w$.])super\b`)
	privateName  = regexp.MustCompile(`#[\w$]`)
)

// check fails on what addMethods does not carry to Herald.prototype as
// written: it copies the methods of the class's prototype, and no more.
// A static member or a field would be dropped, a constructor or a class
// it extends ignored; super would look up the class's prototype chain,
// not Herald's, and a private name (#x) belongs to the class, which no
// client is an instance of.
func (c *methodsClass) check() error {
	if c.extends {
		return fmt.Errorf("%s: %s extends a class: addMethods copies only its own methods to Herald", c.at, c.name)
	}
	for _, l := range c.lines {
		if !l.inCode {
			continue
		}
		if superKeyword.MatchString(l.code) || privateName.MatchString(l.code) {
			return fmt.Errorf("%s: %s, whose methods addMethods puts on Herald, uses super or a private name (#x): in Herald's methods neither means what it does in %s", l.at, c.name, c.name)
		}
		stmt := strings.TrimSpace(l.code)
		if l.depth != 1 || stmt == "" || stmt == "}" {
			continue
		}
		m := methodHead.FindStringSubmatch(stmt)
		if m == nil || m[1] == "constructor" {
			return fmt.Errorf("%s: %s holds only methods (addMethods puts them on Herald); a static member, a field or a constructor here would not be the client's", l.at, c.name)
		}
	}
	return nil
}
