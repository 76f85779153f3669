package broker

import "time"

// ResumeCommandBytes is how much history a resume sends for each command
// it counts as toward its connection's rate and its address's budget,
// past the first (docs/protocol.md section 6). Those rates bound what a
// command costs only while commands cost alike: at 2,000 a second an
// address takes about 16 % of a two-core node subscribing to new
// topics, but a resume that sends about 900 KB of history (nearly its
// bound) cost about 3.5 ms of node CPU on the memory engine and 6 ms on
// Redis, which sent 25 MB a second for one connection resuming in a
// loop, and at one command each an address's budget could ask for 1,000
// of them a second.
// Counted this way a resume at its budget is 16 commands, and an
// address's budget brings the node at most 2,000 × 64 KiB of history to
// send a second.
const ResumeCommandBytes = 64 << 10

// DeflatedCommandBytes is ResumeCommandBytes for a connection that
// negotiated compression (section 13 of docs/protocol.md): its history
// and presence pages are compressed for it alone, which took twice what
// the rest of a resume takes. A resume of 100 messages of 9 KB (random
// hex, near its bound) cost the node 2 to 2.6 ms of CPU sent plain and
// 7 to 7.4 ms compressed, so that counted by ResumeCommandBytes alike an
// address's budget brought three times the CPU it was set for.
const DeflatedCommandBytes = 20 << 10

// replyCommandBytes is how many bytes of history or of a presence page
// count as one command on s.
func (s *Session) replyCommandBytes() int {
	if s.framing == FramingWebSocketDeflate {
		return DeflatedCommandBytes
	}
	return ResumeCommandBytes
}

// ResumeCommandMessages is how many messages of history a resume reads
// for each command it counts as, past the first, when that is more than
// ResumeCommandBytes counts: reading a message costs Redis about the same
// whatever its size, so that a resume of the 100 messages of a topic's
// default history, some 60 KB, took Redis about 360 µs where a command
// to subscribe to or leave a new topic takes about 30 µs; counted by its
// bytes alone it was one command, and one address resuming it over and
// over through two nodes had Redis spend 0.27 s of CPU a second on 1,500
// commands a second (BENCHMARKS.md, Hardening). A history larger than the
// default widens the gap: a resume reads up to its bound in messages as
// small as a publish allows. Counted this way a resume of 100 messages is
// 7 commands.
const ResumeCommandMessages = 16

// ResumeCopiedBytes is how many bytes of history the engine's backend
// copied for a resume (HistoryResult.Scanned: store/redis's read script,
// returned or not) count as one command, past the first, when that is
// more than ResumeCommandBytes and ResumeCommandMessages count: copying
// a large message costs Redis more than a small one. Measured on this
// machine (BenchmarkResumeRedisTime, redis-server 7.0), one topic's share
// of a 32-topic stream's resume took Redis 114 µs to copy two messages
// of 30 KB and 139 µs for one of 60 KB, some 25 to 30 KB for the 57 µs a
// command is counted for (docs/protocol.md section 6), where counted by
// what it sent and by its messages a stream resuming 32 topics of 30 KB
// messages was 15 commands for some 3.6 ms of Redis.
const ResumeCopiedBytes = 32 << 10

// AddressSpender is an AddressPacer that can take several commands at
// once from its budget, owing what an empty budget cannot take (a
// bounded amount) until its rate has paid it, and give back commands it
// took for work that did not run. api/limits's is one.
type AddressSpender interface {
	SpendCommands(now int64, n int)
	// GiveBackCommands gives back n commands taken (what is owed first),
	// never filling the budget past its burst.
	GiveBackCommands(now int64, n int)
}

// noteRead counts what the engine read for a resume of r: h's messages,
// or what its backend says it copied when that is more.
func (r *resumeSends) noteRead(h HistoryResult) {
	if r != nil {
		r.read += max(len(h.Messages), h.Scanned.Entries)
		r.copied += h.Scanned.Bytes
	}
}

// owed returns the commands r's resumes count as and were not counted
// yet, and counts them: a stream's topics share one r, each resumed in
// turn.
func (r *resumeSends) owed() int {
	if r == nil {
		return 0
	}
	n := max(r.sent/r.perCommand, r.read/ResumeCommandMessages, r.copied/ResumeCopiedBytes) - r.charged
	r.charged += n
	return n
}

// chargeResume takes what since's resume sent and read from s's rates: the
// command that asked for it has been counted, so that a resume over
// them is not refused but makes the next commands wait.
func (s *Session) chargeResume(since *since) {
	if since == nil {
		return
	}
	s.chargeCommands(since.sends.owed())
}

// chargeCommands takes n commands more from s's rates, those of a reply
// that sent much (a resume's history, a presence page): the command that
// asked for it has been counted already.
func (s *Session) chargeCommands(n int) {
	if n <= 0 {
		return
	}
	now := time.Now().UnixNano()
	rate := s.b.cfg.RateLimit
	s.mu.Lock()
	NewRate(rate, RateBurst(rate)).Spend(&s.limiter.bucket, now, n)
	s.mu.Unlock()
	s.chargeAddress(now, n)
}

// chargeAddress takes n commands from the budget of s's address alone,
// owing what it cannot take: s's own rate is left alone.
func (s *Session) chargeAddress(now int64, n int) {
	if sp, ok := s.pacer.(AddressSpender); ok && n > 0 {
		sp.SpendCommands(now, n)
	}
}
