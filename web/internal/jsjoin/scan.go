package jsjoin

import (
	"errors"
	"strings"
)

// scanned is one line of a source as far as Join needs to read it.
type scanned struct {
	// code is the line's code: comments dropped, the text of strings,
	// templates and regular expressions blanked, so that a word found in
	// it is code.
	code string
	// inCode says the line starts in code, not inside a comment or a
	// template literal, so that what it starts with is a statement's start.
	inCode bool
	// depth is how many brackets ((, [, {, or a template's ${) are open
	// where the line starts: 0 is the top level of the module.
	depth int
	// topComma says the line has a comma at the top level: a declaration
	// of several names (const a = 1, b = 2;), which Join would see as one.
	topComma bool
}

type lexMode int

const (
	inCodeMode lexMode = iota
	inBlockComment
	inTemplate
)

// lexer reads a source line by line, keeping what spans lines: a block
// comment, a template literal, the open brackets.
type lexer struct {
	mode lexMode
	open []byte // the open brackets; '`' for a template's ${
	// regexOK says a / here starts a regular expression, not a division:
	// the token before it cannot end an operand.
	regexOK bool
}

func newLexer() *lexer { return &lexer{regexOK: true} }

// regexAfter are the words after which a / starts a regular expression.
var regexAfter = map[string]bool{
	"return": true, "typeof": true, "case": true, "do": true, "else": true, "in": true, "of": true,
	"new": true, "delete": true, "void": true, "throw": true, "instanceof": true, "yield": true, "await": true,
}

// line reads one line; it fails on what it cannot read for sure: a string
// continued on the next line, an unterminated regular expression, a
// closing bracket with none open.
func (l *lexer) line(text string) (scanned, error) {
	s := scanned{inCode: l.mode == inCodeMode, depth: len(l.open)}
	var code strings.Builder
	for i := 0; i < len(text); {
		c := text[i]
		switch l.mode {
		case inBlockComment:
			if strings.HasPrefix(text[i:], "*/") {
				l.mode = inCodeMode
				code.WriteByte(' ')
				i += 2
			} else {
				i++
			}
			continue
		case inTemplate:
			switch {
			case c == '\\':
				i += 2
			case c == '`':
				l.mode, l.regexOK = inCodeMode, false
				code.WriteByte('`')
				i++
			case strings.HasPrefix(text[i:], "${"):
				l.open = append(l.open, '`')
				l.mode, l.regexOK = inCodeMode, true
				code.WriteString("${")
				i += 2
			default:
				i++
			}
			continue
		}
		switch {
		case c == ' ' || c == '\t':
			code.WriteByte(c)
			i++
		case strings.HasPrefix(text[i:], "//"):
			i = len(text)
		case strings.HasPrefix(text[i:], "/*"):
			l.mode = inBlockComment
			i += 2
		case c == '\'' || c == '"':
			end := endOfQuoted(text, i, c)
			if end < 0 {
				return s, errors.New("a string goes on past the line's end: write it on one line")
			}
			code.WriteString(string([]byte{c, c}))
			i, l.regexOK = end, false
		case c == '`':
			l.mode = inTemplate
			code.WriteByte('`')
			i++
		case c == '/' && l.regexOK:
			end := endOfRegex(text, i)
			if end < 0 {
				return s, errors.New("a regular expression goes on past the line's end")
			}
			code.WriteString("/ /")
			i, l.regexOK = end, false
		case c == '(' || c == '[' || c == '{':
			l.open = append(l.open, c)
			code.WriteByte(c)
			i, l.regexOK = i+1, true
		case c == ')' || c == ']' || c == '}':
			if len(l.open) == 0 {
				return s, errors.New("a closing bracket with none open")
			}
			top := l.open[len(l.open)-1]
			l.open = l.open[:len(l.open)-1]
			code.WriteByte(c)
			i++
			if c == '}' && top == '`' {
				l.mode = inTemplate
				continue
			}
			// After a block's }, a / starts a statement; after an
			// object's, it divides: taken as the first, the usual case.
			l.regexOK = c == '}'
		case isWordByte(c):
			end := i
			for end < len(text) && isWordByte(text[end]) {
				end++
			}
			word := text[i:end]
			code.WriteString(word)
			i, l.regexOK = end, regexAfter[word]
		default:
			if c == ',' && len(l.open) == 0 {
				s.topComma = true
			}
			code.WriteByte(c)
			i, l.regexOK = i+1, true
		}
	}
	s.code = code.String()
	return s, nil
}

// end fails when the source ends inside a comment, a template or brackets.
func (l *lexer) end() error {
	switch {
	case l.mode == inBlockComment:
		return errors.New("the file ends inside a /* comment")
	case l.mode == inTemplate:
		return errors.New("the file ends inside a template literal")
	case len(l.open) > 0:
		return errors.New("the file ends with a bracket open")
	}
	return nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// endOfQuoted returns the index after the string quoted by q at text[i],
// or -1 when the line ends first.
func endOfQuoted(text string, i int, q byte) int {
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case q:
			return j + 1
		}
	}
	return -1
}

// endOfRegex returns the index after the regular expression (and its
// flags) at text[i], or -1 when the line ends first.
func endOfRegex(text string, i int) int {
	inClass := false
	for j := i + 1; j < len(text); j++ {
		switch c := text[j]; {
		case c == '\\':
			j++
		case c == '[':
			inClass = true
		case c == ']':
			inClass = false
		case c == '/' && !inClass:
			j++
			for j < len(text) && isWordByte(text[j]) {
				j++
			}
			return j
		}
	}
	return -1
}
