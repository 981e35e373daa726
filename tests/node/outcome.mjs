// What a test client script reports: one JSON line on stdout when it finishes, and a
// failure (with `timedOut`) if it has not finished within `limitMs` (45 seconds).
export function startOutcome(fields = {}, limitMs = 45000) {
  const outcome = { ...fields, connected: false, replies: [], progress: [], results: [], errors: [] };
  const finish = (code) => {
    console.log(JSON.stringify(outcome));
    process.exit(code);
  };
  setTimeout(() => {
    outcome.timedOut = true;
    finish(1);
  }, limitMs);
  return { outcome, finish };
}
