// stream-ids.js: a stream's URL beside /ws, and the event ids
// (docs/protocol.md section 10) that resume its topics.

// toStreamURL is the SSE URL beside a WebSocket URL: http(s), and /sse in
// place of a final /ws.
export function toStreamURL(url) {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = u.pathname.replace(/\/ws$/, '').replace(/\/$/, '') + '/sse';
  return u.toString();
}

// streamID is the event id (docs/protocol.md section 10) that resumes
// each of subs from the position the client has of it (sub.since), or
// null when none has one. The positions are the truth: the last id a
// stream sent names where that stream left its topics, which a WebSocket
// since, or a stream that left one out for a while, has moved past, and
// resumed from there a topic would read its history again, or hear that
// history no longer holds what it in fact has.
export function streamID(subs) {
  let id = '1';
  for (const sub of subs) {
    if (!sub.since || typeof sub.since.epoch !== 'string') continue;
    id += '.' + idDigits(idHash(sub.pattern), ID_HASH_DIGITS) + idDigits(idHash(sub.since.epoch), ID_HASH_DIGITS)
      + idDigits(BigInt(sub.since.seq), 1);
  }
  return id === '1' ? null : id;
}

// ownsIDs says whether the client may make the stream's last_event_id
// (streamID): only in the version the node's own ids are in, the first
// part of lastID, the last id a stream sent (none yet: a node of another
// version takes one of version 1 for no resume, as it would none). A
// node whose ids are of another version would start every topic afresh
// at every reopen; its own last id resumes them from where the last
// stream left them.
export function ownsIDs(lastID) {
  return !lastID || lastID.split('.')[0] === '1';
}

// An event id's hashes are ID_HASH_DIGITS base64url digits.
const ID_HASH_DIGITS = 6;
const ID_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// idHash is 36 bits of the 64-bit FNV-1a hash of s's UTF-8 bytes, as a
// BigInt.
function idHash(s) {
  let h = 14695981039346656037n;
  for (const b of new TextEncoder().encode(s)) h = ((h ^ BigInt(b)) * 1099511628211n) & 0xffffffffffffffffn;
  return h >> 28n;
}

// idDigits writes n (a BigInt) in base64url digits, most significant
// first, at least width of them.
function idDigits(n, width) {
  let out = '';
  while (n > 0n || out.length < width) {
    out = ID_DIGITS[Number(n & 63n)] + out;
    n >>= 6n;
  }
  return out;
}
