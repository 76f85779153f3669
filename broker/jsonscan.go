package broker

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner walks JSON text that json.Valid has already accepted, so it
// checks types but never syntax. It reads exactly as encoding/json would
// into the command struct, except that keys match case-sensitively.
type jsonScanner struct {
	data []byte
	pos  int
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the first byte of the next value.
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	return s.data[s.pos]
}

// next consumes the next structural byte (',' ':' '}' ']') and returns it.
func (s *jsonScanner) next() byte {
	c := s.peek()
	s.pos++
	return c
}

// skipValue steps over the next value and returns its raw text.
func (s *jsonScanner) skipValue() []byte {
	s.skipSpace()
	start := s.pos
	switch s.data[s.pos] {
	case '"':
		s.skipString()
	case '{', '[':
		depth := 0
		for {
			switch s.data[s.pos] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.pos++
			if depth == 0 {
				break
			}
		}
	default: // number, true, false, null
		for s.pos < len(s.data) && !isDelimiter(s.data[s.pos]) {
			s.pos++
		}
	}
	return s.data[start:s.pos]
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// skipString steps over a string starting at pos.
func (s *jsonScanner) skipString() {
	s.pos++ // opening quote
	for s.data[s.pos] != '"' {
		if s.data[s.pos] == '\\' {
			s.pos++
		}
		s.pos++
	}
	s.pos++
}

// stringInto reads the next value into dst and reports whether it is a
// string. A null leaves dst as it is, as encoding/json does.
func (s *jsonScanner) stringInto(dst *string) bool {
	raw := s.skipValue()
	switch raw[0] {
	case '"':
		*dst = unquote(raw)
		return true
	case 'n':
		return true
	}
	return false
}

// boolInto reads the next value into dst and reports whether it is true
// or false; a null leaves dst as it is.
func (s *jsonScanner) boolInto(dst *bool) bool {
	switch raw := s.skipValue(); raw[0] {
	case 't':
		*dst = true
	case 'f':
		*dst = false
	case 'n':
	default:
		return false
	}
	return true
}

// uintInto reads the next value into dst and reports whether it is a
// number whose value is a whole number that fits a uint64 (wholeNumber);
// a null leaves dst as it is.
func (s *jsonScanner) uintInto(dst *uint64) bool {
	raw := s.skipValue()
	if raw[0] == 'n' {
		return true
	}
	n, ok := wholeNumber(raw)
	if ok {
		*dst = n
	}
	return ok
}

// wholeNumber reads the JSON number raw by its value: 1000, 1000.0, 1e3
// and 10E+2 are all 1000, while 1.5, -1 and 1e20 are no uint64. JSON
// has no integer type (RFC 8259 section 6: a number is its value,
// however written), and a JSON Schema "integer" is any number whose
// fraction is zero, so a client whose library writes 1000.0 or 1e3 sent
// 1000. The value is found exactly, in decimal, never through a float.
// raw is neither a string nor a literal; json.Valid accepted it.
func wholeNumber(raw []byte) (uint64, bool) {
	if n, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
		return n, true // plain digits, as nearly every client writes a seq
	}
	negative := raw[0] == '-'
	if negative {
		raw = raw[1:]
	}
	mant, expText, _ := bytes.Cut(bytes.ToLower(raw), []byte{'e'})
	exp, err := 0, error(nil)
	if len(expText) > 0 {
		// An exponent beyond an int is no number we take, zero or not.
		if exp, err = strconv.Atoi(string(expText)); err != nil {
			return 0, false
		}
	}
	whole, frac, _ := bytes.Cut(mant, []byte{'.'})
	digits := strings.TrimLeft(string(whole)+string(frac), "0")
	if digits == "" {
		return 0, true // zero, however written, -0 too
	}
	// The value is digits times 10^(exp-len(frac)): under 1 when the
	// point falls before every digit, over 20 digits (2^64-1 has 20) past
	// them. The bounds are checked on exp, so nothing overflows.
	if negative || exp < len(frac)-len(digits)+1 || exp > len(frac)+20-len(digits) {
		return 0, false
	}
	if shift := exp - len(frac); shift < 0 {
		cut := len(digits) + shift
		if strings.Trim(digits[cut:], "0") != "" {
			return 0, false // a fraction
		}
		digits = digits[:cut]
	} else {
		digits += strings.Repeat("0", shift)
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// object calls field for each key of the object starting at pos; field
// must consume the value. It returns false, consuming the value, when the
// next value is not an object; a null is an empty object.
func (s *jsonScanner) object(field func(key []byte)) bool {
	switch s.peek() {
	case 'n':
		s.skipValue()
		return true
	case '{':
	default:
		s.skipValue()
		return false
	}
	s.pos++
	if s.peek() == '}' {
		s.pos++
		return true
	}
	for {
		s.skipSpace()
		start := s.pos
		s.skipString()
		key := s.data[start:s.pos]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(unquote(key))
		} else {
			key = key[1 : len(key)-1]
		}
		s.next() // ':'
		field(key)
		if s.next() == '}' {
			return true
		}
	}
}

// unquote decodes a JSON string literal as encoding/json does: invalid
// UTF-8 and lone surrogates become U+FFFD.
func unquote(raw []byte) string {
	body := raw[1 : len(raw)-1]
	simple := true
	for _, c := range body {
		if c == '\\' || c >= utf8.RuneSelf {
			simple = false
			break
		}
	}
	if simple {
		return string(body)
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			var n int
			out, n = unescape(out, body[i:])
			i += n
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			out = utf8.AppendRune(out, r) // RuneError for an invalid byte
			i += size
		}
	}
	return string(out)
}

// unescape appends the escape at the start of b and returns how many bytes
// it took.
func unescape(out, b []byte) ([]byte, int) {
	switch b[1] {
	case 'b':
		return append(out, '\b'), 2
	case 'f':
		return append(out, '\f'), 2
	case 'n':
		return append(out, '\n'), 2
	case 'r':
		return append(out, '\r'), 2
	case 't':
		return append(out, '\t'), 2
	case 'u':
		r := hex4(b[2:6])
		if utf16.IsSurrogate(r) {
			if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
				if pair := utf16.DecodeRune(r, hex4(b[8:12])); pair != utf8.RuneError {
					return utf8.AppendRune(out, pair), 12
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(out, r), 6
	}
	return append(out, b[1]), 2 // '"', '\\', '/'
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
