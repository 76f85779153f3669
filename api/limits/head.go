package limits

import "net/http"

// RequestHeadBytes is the size of r's request line and header section as
// the client sent them ("GET /ws?token=... HTTP/1.1\r\n", each
// "Name: value\r\n", the blank line), rebuilt from what net/http parsed,
// the Host, Transfer-Encoding and Trailer lines it moves out of r.Header
// included. It is exact but for optional whitespace around values and
// folded lines, which it cannot see: a lower bound, never more than the
// client sent.
func RequestHeadBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + len("\r\n")
	for name, values := range r.Header {
		for _, v := range values {
			n += fieldBytes(name, v)
		}
	}
	if r.Host != "" && r.Header["Host"] == nil {
		n += fieldBytes("Host", r.Host)
	}
	for _, te := range r.TransferEncoding {
		n += fieldBytes("Transfer-Encoding", te)
	}
	for name := range r.Trailer {
		n += fieldBytes("Trailer", name)
	}
	return n + len("\r\n")
}

func fieldBytes(name, value string) int {
	return len(name) + len(": ") + len(value) + len("\r\n")
}

// HeadTooLarge reports whether r's request line and headers exceed max
// bytes (RequestHeadBytes); max <= 0 never does. The server answers true
// with 431 Request Header Fields Too Large, on every route.
//
// It complements http.Server.MaxHeaderBytes, which must be set too: only
// net/http can stop reading a request that is too large, before it is
// buffered, but it allows 4096 bytes over its limit for bufio and answers
// a bare 431 of its own. This check runs on what was read and makes the
// limit exact.
func HeadTooLarge(r *http.Request, max int) bool {
	return max > 0 && RequestHeadBytes(r) > max
}
