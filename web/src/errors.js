// errors.js: HeraldError, and callSafely, which keeps what a page's
// callback throws from stopping the client.

/** An error from the server (err.code is its code) or from the client. */
export class HeraldError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'HeraldError';
    this.code = code;
  }
}

// callSafely calls an app's callback (if any). What it throws is reported
// as an uncaught error, the way event listeners' errors are, and does not
// stop the client or the other callbacks.
export function callSafely(fn, ...args) {
  if (!fn) return;
  try {
    fn(...args);
  } catch (err) {
    if (typeof reportError === 'function') reportError(err);
    else setTimeout(() => { throw err; });
  }
}
