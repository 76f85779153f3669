package broker

import "strings"

// MaxTopicBytes is the longest topic or pattern (docs/protocol.md section 1).
const MaxTopicBytes = 255

// tokenByte tells which bytes a topic token may hold: A-Z a-z 0-9 _ - : @ = +.
var tokenByte = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-:@=+" {
		t[c] = true
	}
	return t
}()

// ValidTopic reports whether s is a concrete topic: 1 to 255 bytes of
// non-empty tokens separated by '.', with no wildcard.
func ValidTopic(s string) bool {
	return validName(s, false)
}

// ValidPattern reports whether s is a topic or a pattern: a topic where a
// whole token may be '*' and the last token may be '>'.
func ValidPattern(s string) bool {
	return validName(s, true)
}

func validName(s string, wildcards bool) bool {
	if len(s) == 0 || len(s) > MaxTopicBytes {
		return false
	}
	for rest := s; ; {
		tok, more := nextToken(rest)
		if !validToken(tok, wildcards, !more) {
			return false
		}
		if !more {
			return true
		}
		rest = rest[len(tok)+1:]
	}
}

func validToken(tok string, wildcards, last bool) bool {
	if tok == "" {
		return false
	}
	if wildcards && (tok == "*" || (tok == ">" && last)) {
		return true
	}
	for i := 0; i < len(tok); i++ {
		if !tokenByte[tok[i]] {
			return false
		}
	}
	return true
}

// IsPattern reports whether a valid pattern holds a wildcard token.
func IsPattern(s string) bool {
	for rest := s; ; {
		tok, more := nextToken(rest)
		if tok == "*" || tok == ">" {
			return true
		}
		if !more {
			return false
		}
		rest = rest[len(tok)+1:]
	}
}

// nextToken returns the first token of s and whether more tokens follow.
// It slices s, so it never allocates.
func nextToken(s string) (tok string, more bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], true
	}
	return s, false
}

// Match reports whether topic is one of the topics pattern matches. Both are
// assumed valid; '*' matches one token, a last '>' one or more.
func Match(pattern, topic string) bool {
	p, t := pattern, topic
	for {
		ptok, pmore := nextToken(p)
		ttok, tmore := nextToken(t)
		switch {
		case ptok == ">":
			return true
		case ptok != "*" && ptok != ttok:
			return false
		case !pmore || !tmore:
			return pmore == tmore
		}
		p, t = p[len(ptok)+1:], t[len(ttok)+1:]
	}
}

// Covers reports whether every topic pattern can match is also matched by
// allowed: "chat.a", "chat.*" and "chat.*.>" fall under "chat.>", while ">"
// does not, and "*.x" does not fall under "chat.*". Invalid input is never
// covered.
func Covers(allowed, pattern string) bool {
	if !ValidPattern(allowed) || !ValidPattern(pattern) {
		return false
	}
	a, p := allowed, pattern
	for {
		atok, amore := nextToken(a)
		ptok, pmore := nextToken(p)
		switch {
		case atok == ">":
			return true // p has at least this one token left
		case ptok == ">":
			return false // p reaches any depth, a does not
		case atok != "*" && atok != ptok:
			return false // a literal covers only itself, never '*'
		case !amore || !pmore:
			return amore == pmore
		}
		a, p = a[len(atok)+1:], p[len(ptok)+1:]
	}
}
