// patterns.js: topic matching, what a client's patterns got of each
// topic (each message and lost seq once), and the close 1008 of too
// many matching patterns.

import { HeraldError } from './errors.js';
import { addMethods, Herald } from './client.js';

// At most this many of a connection's patterns may match one topic
// (docs/protocol.md section 6); past it the node closes with 1008.
const MAX_MATCHING_PATTERNS = 16;

// How many topics of the last messages are kept to find the one a close
// 1008 is about (_noteTopic).
const RECENT_TOPICS = 64;

// Of how many topics, and in how many runs of seqs each, what patterns got
// is kept (_newToPatterns).
const PATTERN_TOPICS = 1024;
const PATTERN_RUNS = 8;

// withRun adds seqs from..to to runs, the sorted [from, to] runs of seqs
// apart from one another: in place when they follow the newest run, as
// live messages do (once per message to a pattern, so without sorting or
// copying), otherwise as a new list of such runs.
function withRun(runs, from, to) {
  const newest = runs[runs.length - 1];
  if (newest && from === newest[1] + 1) {
    newest[1] = to;
    return runs;
  }
  const out = [];
  for (const [a, b] of [...runs, [from, to]].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

// unseenParts returns the [from, to] runs of seqs of from..to that none
// of runs (as withRun keeps them) holds, in order.
function unseenParts(runs, from, to) {
  const parts = [];
  let next = from;
  for (const [a, b] of runs) {
    if (b < next) continue;
    if (a > to) break;
    if (a > next) parts.push([next, a - 1]);
    next = b + 1;
    if (next > to) return parts;
  }
  if (next <= to) parts.push([next, to]);
  return parts;
}

// matches says whether a topic falls under a pattern (docs/protocol.md section 1).
export function matches(pattern, topic) {
  return matchTokens(pattern.split('.'), topic.split('.'));
}

export function matchTokens(want, have) {
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '>') return i === want.length - 1 && have.length > i;
    if (i >= have.length) return false;
    if (want[i] !== '*' && want[i] !== have[i]) return false;
  }
  return want.length === have.length;
}

class PatternMethods {
  // _dropOverlapping answers a close 1008 (docs/protocol.md section 6: more
  // than MAX_MATCHING_PATTERNS of a connection's patterns match one topic,
  // closed after that topic's message; the node's other 1008s, a message
  // not whole within 10 s or an address holding too many unfinished
  // ones, leave no such topic, and nothing is dropped). The topic is
  // found among those of the last messages, and the page's patterns that
  // match it past that many, the newest first, fail (onError), as the newest past
  // too_many_subscriptions would, so that the reconnect keeps the rest.
  // Those the server made are made again whatever the client does, and
  // are kept first. Returns the error emitted, or null.
  _dropOverlapping() {
    for (const topic of [...this._recentTopics].reverse()) {
      const have = topic.split('.');
      const matching = [...this._subs.values()].filter((sub) => !sub.exact && matchTokens(sub.tokens, have));
      if (matching.length <= MAX_MATCHING_PATTERNS) continue;
      const err = new HeraldError('too_many_patterns',
        `more than ${MAX_MATCHING_PATTERNS} of this client's patterns match ${topic}: the newest of them are dropped`);
      err.topic = topic;
      const kept = matching.filter((sub) => sub.server).length;
      const page = matching.filter((sub) => !sub.server);
      for (const sub of page.slice(Math.max(0, MAX_MATCHING_PATTERNS - kept))) this._subscribeFailed(null, sub, err);
      this._emitError(err);
      return err;
    }
    return null;
  }

  // _noteTopic keeps the topics of the last messages, newest last, for
  // _dropOverlapping: a message of another topic may come between the one
  // that matched too many patterns and the close.
  _noteTopic(topic) {
    this._recentTopics.delete(topic);
    this._recentTopics.add(topic);
    if (this._recentTopics.size > RECENT_TOPICS) this._recentTopics.delete(this._recentTopics.values().next().value);
  }

  // _newToPatterns says whether the client's patterns have yet to get msg,
  // and notes that they have. Patterns get a topic's messages live, but
  // when an exact subscription of that topic resumes behind them (held out
  // of a stream, or a resume retried), the history sent again for it
  // matches them too: what of it they got already is dropped to them, and
  // what they had not (sent while the connection was down) still comes.
  // Kept per topic, for one epoch, as the runs of seqs they got or were
  // told were lost (_newGapToPatterns), at most PATTERN_RUNS, the lowest
  // forgotten first, for the last PATTERN_TOPICS topics (the oldest
  // forgotten first): history sent again of what was forgotten so
  // reaches them again. A message without a seq is always new.
  _newToPatterns(msg) {
    if (typeof msg.seq !== 'number' || msg.epoch === undefined) return true;
    const seen = this._patternRuns(msg.topic, msg.epoch);
    if (seen.runs.some(([from, to]) => from <= msg.seq && msg.seq <= to)) return false;
    this._notePatterns(msg.topic, seen, msg.seq, msg.seq);
    return true;
  }

  // _newGapToPatterns returns what of gap the client's patterns have
  // neither got nor been told of, as gaps (none, one trimmed, or, around
  // seqs they have, several), and notes them told. A gap is the finding
  // of the node that sends it: after a reconnect another node may tell
  // of seqs told before, or of seqs the patterns got, and each is told to
  // a pattern once, as to an exact subscription (_deliverOne). One
  // without seqs is always new.
  _newGapToPatterns(gap) {
    if (typeof gap.from !== 'number' || typeof gap.to !== 'number' || gap.epoch === undefined) return [gap];
    const seen = this._patternRuns(gap.topic, gap.epoch);
    const parts = unseenParts(seen.runs, gap.from, gap.to);
    if (parts.length > 0) this._notePatterns(gap.topic, seen, gap.from, gap.to);
    return parts.map(([from, to]) => ({ ...gap, from, to }));
  }

  // _patternRuns is what the client's patterns got of topic in epoch
  // (_newToPatterns): nothing yet when it kept another epoch, or none.
  _patternRuns(topic, epoch) {
    const seen = this._patternSeen.get(topic);
    return seen && seen.epoch === epoch ? seen : { epoch, runs: [] };
  }

  // _notePatterns adds seqs from..to to seen, the runs of topic, and
  // keeps it as the newest topic.
  _notePatterns(topic, seen, from, to) {
    seen.runs = withRun(seen.runs, from, to);
    if (seen.runs.length > PATTERN_RUNS) seen.runs = seen.runs.slice(-PATTERN_RUNS);
    this._patternSeen.delete(topic);
    this._patternSeen.set(topic, seen);
    if (this._patternSeen.size > PATTERN_TOPICS) this._patternSeen.delete(this._patternSeen.keys().next().value);
  }
}

addMethods(Herald, PatternMethods);
